/*
 * test_buf.c -- the bounded buffer (buf.h) and the checked string helpers
 * (str.h): every operation at, and one past, its limit; failures leave
 * the destination unchanged (buf) or truncated and terminated (str).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "test.h"

/* The buffer holds exactly these n bytes, NUL-terminated after them. */
#define CHECK_BUF(b, s, n) do { \
	CHECK_INT((b)->len, (n)); \
	CHECK((b)->data != NULL && memcmp((b)->data, (s), (n)) == 0); \
	CHECK((b)->data != NULL && (b)->data[(b)->len] == '\0'); \
} while (0)

/* ---- buf ---- */

static void
test_buf_init_free(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(b.cap, 0);
	CHECK_INT(b.max, 100);
	CHECK_INT(buf_puts(&b, "abc"), 0);
	CHECK_BUF(&b, "abc", 3);
	CHECK(b.cap >= 4 && b.cap <= 101);
	buf_free(&b);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(b.cap, 0);
	CHECK_INT(b.max, 100);
	buf_free(&b);		/* twice is harmless */
}

static void
test_buf_append_max(void)
{
	struct buf b;

	buf_init(&b, 10);
	CHECK_INT(buf_append(&b, "hello", 5), 0);
	CHECK_BUF(&b, "hello", 5);
	CHECK_INT(buf_append(&b, "world", 5), 0);	/* exactly max */
	CHECK_BUF(&b, "helloworld", 10);
	CHECK_INT(buf_append(&b, "!", 1), -1);		/* one past */
	CHECK_BUF(&b, "helloworld", 10);
	CHECK_INT(buf_append(&b, "", 0), 0);		/* nothing still fits */
	CHECK_BUF(&b, "helloworld", 10);
	CHECK_INT(buf_puts(&b, "x"), -1);
	CHECK_BUF(&b, "helloworld", 10);
	CHECK(b.cap <= 11);
	buf_free(&b);

	/* a single append larger than max: refused whole, nothing written */
	buf_init(&b, 10);
	CHECK_INT(buf_append(&b, "0123456789A", 11), -1);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(buf_append(&b, "abc", 3), 0);
	CHECK_INT(buf_append(&b, "12345678", 8), -1);	/* 11 > 10 */
	CHECK_BUF(&b, "abc", 3);
	CHECK_INT(buf_append(&b, "1234567", 7), 0);	/* 10 */
	CHECK_BUF(&b, "abc1234567", 10);
	buf_free(&b);

	/* an absurd n cannot wrap around the check */
	buf_init(&b, 10);
	CHECK_INT(buf_append(&b, "ab", 2), 0);
	CHECK(buf_reserve(&b, (size_t)-1) == NULL);
	CHECK(buf_reserve(&b, (size_t)-1 - 1) == NULL);
	CHECK_BUF(&b, "ab", 2);
	buf_free(&b);

	/* max 0: only the empty string fits */
	buf_init(&b, 0);
	CHECK_INT(buf_append(&b, "", 0), 0);
	CHECK_INT(b.len, 0);
	CHECK_INT(buf_append(&b, "a", 1), -1);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

static void
test_buf_binary_and_growth(void)
{
	struct buf b;
	char big[5000];
	size_t i;

	buf_init(&b, 1 << 20);
	CHECK_INT(buf_append(&b, "a\0b", 3), 0);
	CHECK_BUF(&b, "a\0b", 3);
	buf_free(&b);

	for (i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	buf_init(&b, sizeof big);
	for (i = 0; i < sizeof big; i += 7)
		CHECK_INT(buf_append(&b, big + i, i + 7 <= sizeof big ? 7 : sizeof big - i), 0);
	CHECK_BUF(&b, big, sizeof big);
	CHECK(b.cap <= sizeof big + 1);
	CHECK_INT(buf_append(&b, "z", 1), -1);
	CHECK_BUF(&b, big, sizeof big);
	buf_free(&b);
}

static void
test_buf_printf(void)
{
	struct buf b;
	char want[400];

	buf_init(&b, 8);
	CHECK_INT(buf_printf(&b, "%d", 1234567), 0);
	CHECK_BUF(&b, "1234567", 7);
	CHECK_INT(buf_printf(&b, "%s", "ab"), -1);	/* 9 > 8 */
	CHECK_BUF(&b, "1234567", 7);
	CHECK_INT(buf_printf(&b, "%c", 'x'), 0);	/* exactly 8 */
	CHECK_BUF(&b, "1234567x", 8);
	CHECK_INT(buf_printf(&b, "%s", ""), 0);
	CHECK_INT(buf_printf(&b, "."), -1);
	CHECK_BUF(&b, "1234567x", 8);
	buf_free(&b);

	/* longer than the internal 256-byte scratch: the second path */
	buf_init(&b, 700);
	CHECK_INT(buf_printf(&b, "%0300d", 42), 0);
	snprintf(want, sizeof want, "%0300d", 42);
	CHECK_BUF(&b, want, 300);
	CHECK_INT(buf_printf(&b, "<%0300d>", 7), 0);	/* 602 */
	CHECK_INT(b.len, 602);
	CHECK(b.data[300] == '<' && b.data[601] == '>' && b.data[602] == '\0');
	CHECK_INT(buf_printf(&b, "%0299d", 1), -1);	/* 901 > 700 */
	CHECK_INT(b.len, 602);
	CHECK(b.data[601] == '>' && b.data[602] == '\0');
	CHECK_INT(buf_printf(&b, "%098d", 3), 0);	/* 700 */
	CHECK_INT(b.len, 700);
	CHECK(b.data[700] == '\0');
	buf_free(&b);

	/* exactly 256 and 255 bytes: the boundary of the scratch buffer */
	buf_init(&b, 256);
	CHECK_INT(buf_printf(&b, "%0255d", 0), 0);
	CHECK_INT(b.len, 255);
	buf_reset(&b, 0);
	CHECK_INT(buf_printf(&b, "%0256d", 0), 0);
	CHECK_INT(b.len, 256);
	buf_reset(&b, 0);
	CHECK_INT(buf_printf(&b, "%0257d", 0), -1);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

static void
test_buf_consume(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK_INT(buf_puts(&b, "abcdef"), 0);
	buf_consume(&b, 0);
	CHECK_BUF(&b, "abcdef", 6);
	buf_consume(&b, 2);
	CHECK_BUF(&b, "cdef", 4);
	buf_consume(&b, 3);
	CHECK_BUF(&b, "f", 1);
	buf_consume(&b, 1);
	CHECK_BUF(&b, "", 0);
	CHECK_INT(buf_puts(&b, "xyz"), 0);
	buf_consume(&b, 1000);		/* more than there is */
	CHECK_BUF(&b, "", 0);
	buf_free(&b);

	buf_init(&b, 100);
	buf_consume(&b, 5);		/* on a never-used buffer */
	CHECK_INT(b.len, 0);
	CHECK(b.data == NULL);
	buf_free(&b);

	/* consuming frees room under the maximum */
	buf_init(&b, 4);
	CHECK_INT(buf_puts(&b, "abcd"), 0);
	CHECK_INT(buf_puts(&b, "e"), -1);
	buf_consume(&b, 2);
	CHECK_INT(buf_puts(&b, "ef"), 0);
	CHECK_BUF(&b, "cdef", 4);
	buf_free(&b);
}

static void
test_buf_reserve_commit(void)
{
	struct buf b;
	char *p;

	buf_init(&b, 10);
	p = buf_reserve(&b, 4);
	CHECK(p != NULL);
	if (p != NULL)
		memcpy(p, "wxyz", 4);
	CHECK_INT(b.len, 0);		/* nothing counted before commit */
	buf_commit(&b, 4);
	CHECK_BUF(&b, "wxyz", 4);
	/* reserve more than is then written */
	p = buf_reserve(&b, 6);
	CHECK(p == b.data + 4);
	if (p != NULL)
		memcpy(p, "123", 3);
	buf_commit(&b, 3);
	CHECK_BUF(&b, "wxyz123", 7);
	CHECK(buf_reserve(&b, 4) == NULL);	/* 11 > 10 */
	CHECK_BUF(&b, "wxyz123", 7);
	p = buf_reserve(&b, 3);			/* exactly 10 */
	CHECK(p != NULL);
	buf_commit(&b, 0);
	CHECK_BUF(&b, "wxyz123", 7);
	CHECK(buf_reserve(&b, 0) != NULL);
	buf_free(&b);
}

static void
test_buf_reset(void)
{
	struct buf b;
	char big[300];

	memset(big, 'r', sizeof big);
	buf_init(&b, 1000);
	CHECK_INT(buf_append(&b, big, sizeof big), 0);
	CHECK(b.cap > 300);
	buf_reset(&b, 1024);		/* allocation kept */
	CHECK_INT(b.len, 0);
	CHECK(b.data != NULL && b.data[0] == '\0');
	CHECK(b.cap > 300);
	CHECK_INT(b.max, 1000);
	CHECK_INT(buf_puts(&b, "again"), 0);
	CHECK_BUF(&b, "again", 5);
	buf_reset(&b, 0);		/* allocation dropped */
	CHECK_INT(b.len, 0);
	CHECK(b.data == NULL);
	CHECK_INT(b.cap, 0);
	CHECK_INT(b.max, 1000);
	CHECK_INT(buf_puts(&b, "more"), 0);
	CHECK_BUF(&b, "more", 4);
	buf_free(&b);

	buf_init(&b, 10);
	buf_reset(&b, 0);		/* never used */
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

/* ---- str ---- */

static void
test_str_copy(void)
{
	char d[8];

	CHECK_INT(str_copy(d, 6, "hello"), 0);
	CHECK_STR(d, "hello");
	CHECK_INT(str_copy(d, 5, "hello"), -1);
	CHECK_STR(d, "hell");
	CHECK_INT(str_copy(d, 1, "hello"), -1);
	CHECK_STR(d, "");
	CHECK_INT(str_copy(d, 1, ""), 0);
	CHECK_STR(d, "");
	memcpy(d, "sentinel", 8);
	CHECK_INT(str_copy(d, 0, "x"), -1);
	CHECK(memcmp(d, "sentinel", 8) == 0);	/* size 0: nothing written */
	memset(d, 'z', sizeof d);
	CHECK_INT(str_copy(d, sizeof d, "exactly"), 0);	/* 7 + NUL */
	CHECK_STR(d, "exactly");
	CHECK_INT(str_copy(d, sizeof d, "exactly8"), -1);
	CHECK_STR(d, "exactly");
}

static void
test_str_fmt(void)
{
	char d[8];

	CHECK_INT(str_fmt(d, 4, "%s", "abc"), 0);
	CHECK_STR(d, "abc");
	CHECK_INT(str_fmt(d, 4, "%s", "abcd"), -1);
	CHECK_STR(d, "abc");
	CHECK_INT(str_fmt(d, 4, "%d-%d", 1, 22), -1);	/* "1-22" */
	CHECK_STR(d, "1-2");
	CHECK_INT(str_fmt(d, 1, "x"), -1);
	CHECK_STR(d, "");
	CHECK_INT(str_fmt(d, 1, "%s", ""), 0);
	CHECK_STR(d, "");
	memcpy(d, "sentinel", 8);
	CHECK_INT(str_fmt(d, 0, "x"), -1);
	CHECK(memcmp(d, "sentinel", 8) == 0);
	CHECK_INT(str_fmt(d, sizeof d, "%u", 1234567u), 0);
	CHECK_STR(d, "1234567");
	CHECK_INT(str_fmt(d, sizeof d, "%u", 12345678u), -1);
	CHECK_STR(d, "1234567");
}

static void
test_str_to_u64(void)
{
	static const struct {
		const char *s;
		unsigned long long max;
		int rc;
		unsigned long long v;
	} rows[] = {
		{ "0", 100, 0, 0 },
		{ "42", 100, 0, 42 },
		{ "007", 100, 0, 7 },
		{ "100", 100, 0, 100 },
		{ "101", 100, -1, 0 },
		{ "1000", 100, -1, 0 },
		{ "99", 99, 0, 99 },
		{ "", 100, -1, 0 },
		{ "-1", 100, -1, 0 },
		{ "+1", 100, -1, 0 },
		{ " 1", 100, -1, 0 },
		{ "1 ", 100, -1, 0 },
		{ "12a", 100, -1, 0 },
		{ "0x10", 100, -1, 0 },
		{ "1.5", 100, -1, 0 },
		{ "18446744073709551615", ~0ULL, 0, ~0ULL },
		{ "18446744073709551616", ~0ULL, -1, 0 },
		{ "99999999999999999999999", ~0ULL, -1, 0 },
		{ "000000000000000000000000000001", ~0ULL, 0, 1 },
		{ "65535", 65535, 0, 65535 },
		{ "65536", 65535, -1, 0 },
		{ "32", 32, 0, 32 },
		{ "33", 32, -1, 0 },
		{ "9", 9, 0, 9 },
		{ "10", 9, -1, 0 },
		/* a maximum below 9: a single digit over it must be refused */
		{ "5", 5, 0, 5 },
		{ "6", 5, -1, 0 },
		{ "7", 5, -1, 0 },
		{ "0", 0, 0, 0 },
		{ "1", 0, -1, 0 },
		{ "9", 1, -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned long long v = 12345;
		int rc = str_to_u64(rows[i].s, rows[i].max, &v);

		if (rc != rows[i].rc || v != (rc == 0 ? rows[i].v : 12345ULL))
			test_fail(__FILE__, __LINE__, "str_to_u64(\"%s\", %llu) == %d (%llu), want %d (%llu)",
			    rows[i].s, rows[i].max, rc, v, rows[i].rc,
			    rows[i].rc == 0 ? rows[i].v : 12345ULL);
	}
}

static void
test_str_iprefix(void)
{
	CHECK_INT(str_iprefix("EHLO x", "ehlo"), 4);
	CHECK_INT(str_iprefix("ehlo", "EHLO"), 4);
	CHECK_INT(str_iprefix("MaIl FrOm:<>", "mail from:"), 10);
	CHECK_INT(str_iprefix("MAI", "MAIL"), 0);
	CHECK_INT(str_iprefix("", "a"), 0);
	CHECK_INT(str_iprefix("ABC", "abd"), 0);
	CHECK_INT(str_iprefix("postmaster", "postmaster"), 10);
	CHECK_INT(str_iprefix("[ ", "{ "), 0);		/* '[' is not 'A'-'Z' folded */
	CHECK_INT(str_iprefix("@", "`"), 0);
	CHECK_INT(str_iprefix("\xc3\x84", "\xc3\xa4"), 0);	/* no folding beyond ASCII */
}

static void
test_str_lower(void)
{
	char s[32];

	snprintf(s, sizeof s, "AbC-XYZ.[@]\xc3\x9c");
	str_lower(s);
	CHECK_STR(s, "abc-xyz.[@]\xc3\x9c");
	s[0] = '\0';
	str_lower(s);
	CHECK_STR(s, "");
}

static void
test_str_utf8_valid(void)
{
	static const struct {
		const char *s;
		size_t n;
		int ok, nonascii;
	} rows[] = {
		{ "hello", 5, 1, 0 },
		{ "", 0, 1, 0 },
		{ "h\xc3\xa9", 3, 1, 1 },
		{ "\xc2\x80", 2, 1, 1 },		/* U+0080 */
		{ "\xdf\xbf", 2, 1, 1 },		/* U+07FF */
		{ "\xe0\xa0\x80", 3, 1, 1 },		/* U+0800 */
		{ "\xed\x9f\xbf", 3, 1, 1 },		/* U+D7FF */
		{ "\xee\x80\x80", 3, 1, 1 },		/* U+E000 */
		{ "\xef\xbf\xbf", 3, 1, 1 },		/* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, 1, 1 },	/* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, 1, 1 },	/* U+10FFFF */
		{ "\xe2\x82\xac" "1", 4, 1, 1 },
		{ "\xc0\xaf", 2, 0, 1 },		/* overlong */
		{ "\xc1\xbf", 2, 0, 1 },
		{ "\xe0\x80\xaf", 3, 0, 1 },
		{ "\xe0\x9f\xbf", 3, 0, 1 },
		{ "\xf0\x8f\xbf\xbf", 4, 0, 1 },
		{ "\xed\xa0\x80", 3, 0, 1 },		/* surrogates */
		{ "\xed\xbf\xbf", 3, 0, 1 },
		{ "\xf4\x90\x80\x80", 4, 0, 1 },	/* > U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0, 1 },
		{ "\xff", 1, 0, 1 },
		{ "\x80", 1, 0, 1 },			/* lone continuation */
		{ "\xc3", 1, 0, 1 },			/* truncated */
		{ "\xe2\x82", 2, 0, 1 },
		{ "\xf0\x9f\x98", 3, 0, 1 },
		{ "\xc3\xa9", 1, 0, 1 },		/* cut by n */
		{ "\xc3(", 2, 0, 1 },
		{ "a\tb", 3, 0, 0 },			/* C0 controls */
		{ "a\r\n", 3, 0, 0 },
		{ "a\x7f", 2, 0, 0 },			/* DEL */
		{ "a\0b", 3, 0, 0 },			/* NUL */
		{ "ab\0", 2, 1, 0 },			/* n stops before it */
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int nonascii = 7;
		int ok = str_utf8_valid(rows[i].s, rows[i].n, &nonascii);

		if (ok != rows[i].ok || nonascii != rows[i].nonascii)
			test_fail(__FILE__, __LINE__, "str_utf8_valid(\"%s\", %zu) == %d nonascii=%d, "
			    "want %d nonascii=%d", test_escape(rows[i].s, rows[i].n), rows[i].n,
			    ok, nonascii, rows[i].ok, rows[i].nonascii);
	}
}

static void
test_str_utf8_len(void)
{
	static const struct {
		const char *s;
		size_t n, want;
	} rows[] = {
		{ "\xc3\xa9", 2, 2 },
		{ "\xc3\xa9xyz", 5, 2 },
		{ "\xe2\x82\xac", 3, 3 },
		{ "\xf0\x9f\x98\x80", 4, 4 },
		{ "\xf0\x9f\x98\x80", 3, 0 },
		{ "\xc3\xa9", 1, 0 },
		{ "\xc3\xa9", 0, 0 },
		{ "a", 1, 0 },			/* ASCII is not a non-ASCII char */
		{ "\x80", 1, 0 },
		{ "\xed\xa0\x80", 3, 0 },
		{ "\xc0\x80", 2, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t got = str_utf8_len(rows[i].s, rows[i].n);

		if (got != rows[i].want)
			test_fail(__FILE__, __LINE__, "str_utf8_len(\"%s\", %zu) == %zu, want %zu",
			    test_escape(rows[i].s, strlen(rows[i].s)), rows[i].n, got, rows[i].want);
	}
}

const struct test buf_tests[] = {
	{ "init_free", test_buf_init_free },
	{ "append_max", test_buf_append_max },
	{ "binary_and_growth", test_buf_binary_and_growth },
	{ "printf", test_buf_printf },
	{ "consume", test_buf_consume },
	{ "reserve_commit", test_buf_reserve_commit },
	{ "reset", test_buf_reset },
	{ "str_copy", test_str_copy },
	{ "str_fmt", test_str_fmt },
	{ "str_to_u64", test_str_to_u64 },
	{ "str_iprefix", test_str_iprefix },
	{ "str_lower", test_str_lower },
	{ "str_utf8_valid", test_str_utf8_valid },
	{ "str_utf8_len", test_str_utf8_len },
	{ NULL, NULL },
};
