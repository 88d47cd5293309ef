/*
 * test.h -- the unit test harness: table-driven suites, no framework.
 *
 * A suite is an array of { name, fn } ending in { NULL, NULL }, listed in
 * main.c.  CHECK* record a failure and go on (the test keeps running);
 * the runner prints every failure and, last, "N passed, N failed".
 *
 *   build/unit-tests [SUBSTRING]   runs the tests whose "suite/name" has it
 */
#ifndef MTAD_TEST_H
#define MTAD_TEST_H

#include <stddef.h>
#include <string.h>

struct test {
	const char *name;
	void (*fn)(void);
};

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Bytes shown with C escapes, for messages ("a\r\n" -> "a\\r\\n"). */
const char *test_escape(const char *p, size_t n);

#define CHECK(cond) do { \
	if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond); \
} while (0)

#define CHECK_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ != w_) test_fail(__FILE__, __LINE__, "%s == %lld, want %lld", #got, g_, w_); \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (g_ == NULL || strcmp(g_, w_) != 0) \
		test_fail(__FILE__, __LINE__, "%s == \"%s\", want \"%s\"", #got, \
		    g_ ? test_escape(g_, strlen(g_)) : "(null)", w_); \
} while (0)

/* A temporary directory for this test run (created on first use). */
const char *test_tmpdir(void);

#endif
