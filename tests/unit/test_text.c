/* test_text.c -- mtatui's text helpers: columns of UTF-8 text, sparklines. */
#include <locale.h>
#include <string.h>

#include "test.h"
#include "text.h"

static void
fit(const char *s, int width, int utf8, const char *want, int want_cols)
{
	char out[256];
	int cols = text_fit(s, width, utf8, out, sizeof out);

	if (strcmp(out, want) != 0 || cols != want_cols)
		test_fail(__FILE__, __LINE__, "fit(\"%s\", %d) = \"%s\" (%d), want \"%s\" (%d)",
		    s ? s : "(null)", width, out, cols, want, want_cols);
}

static void
test_fit(void)
{
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
		test_fail(__FILE__, __LINE__, "no C.UTF-8 locale");
		return;
	}
	fit("abc", 5, 1, "abc", 3);
	fit("abcde", 5, 1, "abcde", 5);			/* exactly: no mark */
	fit("abcdef", 5, 1, "abcd\xe2\x80\xa6", 5);	/* cut: an ellipsis */
	fit("abcdef", 5, 0, "ab...", 5);		/* ASCII terminals */
	fit(NULL, 5, 1, "-", 1);
	fit("", 5, 1, "", 0);
	fit("abc", 0, 1, "", 0);
	/* U-labels: one column each; CJK: two */
	fit("b\xc3\xbc" "cher.example", 7, 1, "b\xc3\xbc" "cher\xe2\x80\xa6", 7);
	fit("\xe4\xbe\x8b\xe3\x81\x88", 4, 1, "\xe4\xbe\x8b\xe3\x81\x88", 4);
	fit("\xe4\xbe\x8b\xe3\x81\x88\xe3\x81\x88", 4, 1, "\xe4\xbe\x8b\xe2\x80\xa6", 3);
	/* control characters and bytes that are not UTF-8 never reach the terminal */
	fit("a\x1b[2Jb", 10, 1, "a?[2Jb", 6);
	fit("a\tb", 10, 1, "a b", 3);
	fit("x\xff\xfey", 10, 1, "x??y", 4);
	fit("\xc3", 10, 1, "?", 1);
	CHECK_INT(text_width("b\xc3\xbc" "cher"), 6);
	CHECK_INT(text_width("\xe4\xbe\x8b"), 2);
	CHECK_INT(text_width(NULL), 0);
	/* wrapping: whole characters, at least one */
	CHECK_INT(text_cut("abcdef", 4), 4);
	CHECK_INT(text_cut("abc", 4), 3);
	CHECK_INT(text_cut("b\xc3\xbc" "cher", 2), 3);
	CHECK_INT(text_cut("\xe4\xbe\x8b\xe3\x81\x88", 3), 3);	/* not half of え */
	CHECK_INT(text_cut("\xe4\xbe\x8b", 1), 3);		/* one, though too wide */
	CHECK_INT(text_cut("", 5), 0);
}

static void
test_spark(void)
{
	static const long long c[] = { 0, 1, 2, 4, 8 };
	char out[64];

	text_spark(c, 5, 60, 0, out, sizeof out);
	CHECK_STR(out, " .:=#");
	text_spark(c, 5, 3, 0, out, sizeof out);	/* the last 3, scaled to them */
	CHECK_STR(out, ":=#");
	text_spark(c, 5, 60, 1, out, sizeof out);
	CHECK_STR(out, " \xe2\x96\x81\xe2\x96\x82\xe2\x96\x84\xe2\x96\x88");
	text_spark(c, 0, 60, 1, out, sizeof out);
	CHECK_STR(out, "");
	/* all zero: blanks, no division by zero */
	text_spark((const long long[]){ 0, 0 }, 2, 60, 1, out, sizeof out);
	CHECK_STR(out, "  ");
	/* a small buffer is never overrun */
	text_spark(c, 5, 60, 1, out, 6);
	CHECK(strlen(out) < 6);
}

const struct test text_tests[] = {
	{ "fit", test_fit },
	{ "spark", test_spark },
	{ NULL, NULL },
};
