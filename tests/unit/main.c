/* main.c -- the unit test runner (see test.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

extern const struct test addr_tests[];
extern const struct test auth_tests[];
extern const struct test buf_tests[];
extern const struct test check_tests[];
extern const struct test conf_tests[];
extern const struct test ctlproto_tests[];
extern const struct test dkim_tests[];
extern const struct test dsn_tests[];
extern const struct test dns_tests[];
extern const struct test policy_tests[];
extern const struct test provider_tests[];
extern const struct test queue_tests[];
extern const struct test rate_tests[];
extern const struct test smtp_client_tests[];
extern const struct test smtp_server_tests[];
extern const struct test text_tests[];
extern const struct test trouble_tests[];
extern const struct test tls_tests[];

static const struct {
	const char *name;
	const struct test *tests;
} suites[] = {
	{ "addr", addr_tests },
	{ "auth", auth_tests },
	{ "buf", buf_tests },
	{ "check", check_tests },
	{ "conf", conf_tests },
	{ "ctlproto", ctlproto_tests },
	{ "dkim", dkim_tests },
	{ "dsn", dsn_tests },
	{ "dns", dns_tests },
	{ "policy", policy_tests },
	{ "provider", provider_tests },
	{ "queue", queue_tests },
	{ "rate", rate_tests },
	{ "smtp_client", smtp_client_tests },
	{ "smtp_server", smtp_server_tests },
	{ "text", text_tests },
	{ "trouble", trouble_tests },
	{ "tls", tls_tests },
};

static int failed_now;
static const char *current;

void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (!failed_now)
		fprintf(stderr, "FAIL %s\n", current);
	failed_now = 1;
	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *
test_escape(const char *p, size_t n)
{
	static char out[4][2048];
	static int slot;
	char *o = out[slot = (slot + 1) % 4];
	size_t i, j = 0;

	for (i = 0; i < n && j + 5 < sizeof out[0]; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r' || c == '\n' || c == '\t' || c == '\\') {
			o[j++] = '\\';
			o[j++] = c == '\r' ? 'r' : c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
		} else if (c < 0x20 || c == 0x7f) {
			j += (size_t)snprintf(o + j, 5, "\\x%02x", c);
		} else {
			o[j++] = (char)c;
		}
	}
	o[j] = '\0';
	return o;
}

static char tmpdir[256];

static void
test_cleanup(void)
{
	char cmd[300];

	if (tmpdir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir) < (int)sizeof cmd &&
	    system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

const char *
test_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/mtad-unit.XXXXXX");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(test_cleanup);
	}
	return tmpdir;
}

int
main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	char name[256];
	int passed = 0, failed = 0;
	size_t s;
	const struct test *t;

	log_set_fd(-1);		/* engines log; tests look at replies */
	for (s = 0; s < sizeof suites / sizeof suites[0]; s++) {
		for (t = suites[s].tests; t->name != NULL; t++) {
			snprintf(name, sizeof name, "%s/%s", suites[s].name, t->name);
			if (filter && strstr(name, filter) == NULL)
				continue;
			current = name;
			failed_now = 0;
			t->fn();
			if (failed_now)
				failed++;
			else
				passed++;
		}
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
