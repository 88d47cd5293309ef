/* text.c -- fitting text to columns, sparklines (see text.h). */
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* The next character of s: its bytes in *len, its columns in *cols;
 * '?' (1 column) for a control character or an invalid sequence. */
static const char *
text_next(const char *s, size_t *len, int *cols)
{
	mbstate_t st;
	wchar_t wc;
	size_t n;

	if (*s == '\t') {	/* a folded header's indent, say */
		*len = 1;
		*cols = 1;
		return " ";
	}
	memset(&st, 0, sizeof st);
	n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0 || (*cols = wcwidth(wc)) < 0 ||
	    (unsigned)wc < 0x20 || wc == 0x7f) {
		*len = 1;
		*cols = 1;
		return "?";
	}
	*len = n;
	return s;
}

int
text_fit(const char *s, int width, int utf8, char *out, size_t size)
{
	const char *ell = utf8 ? "\xe2\x80\xa6" : "...";
	int ell_cols = utf8 ? 1 : 3, used = 0;
	size_t o = 0;

	if (size == 0)
		return 0;
	if (s == NULL)
		s = "-";
	if (text_width(s) <= width)
		ell_cols = 0;		/* it fits whole: no mark */
	while (*s) {
		size_t len;
		int cols;
		const char *c = text_next(s, &len, &cols);

		if (used + cols > width - ell_cols || o + len + 4 >= size)
			break;
		memcpy(out + o, c, c == s ? len : 1);
		o += c == s ? len : 1;
		used += cols;
		s += len;
	}
	if (*s && ell_cols > 0 && used + ell_cols <= width && o + strlen(ell) < size) {
		memcpy(out + o, ell, strlen(ell));
		o += strlen(ell);
		used += ell_cols;
	}
	out[o] = '\0';
	return used;
}

size_t
text_cut(const char *s, int width)
{
	size_t n = 0;
	int used = 0;

	while (s[n]) {
		size_t len;
		int cols;

		(void)text_next(s + n, &len, &cols);
		if (used + cols > width && n > 0)
			break;
		used += cols;
		n += len;
	}
	return n;
}

int
text_width(const char *s)
{
	int w = 0;

	while (s && *s) {
		size_t len;
		int cols;

		(void)text_next(s, &len, &cols);
		w += cols;
		s += len;
	}
	return w;
}

void
text_spark(const long long *counts, size_t n, int width, int utf8, char *out, size_t size)
{
	static const char ascii[] = " .:-=+*#";
	long long max = 0;
	size_t i, from = n > (size_t)width ? n - (size_t)width : 0, o = 0;

	for (i = from; i < n; i++)
		if (counts[i] > max)
			max = counts[i];
	for (i = from; i < n && o + 4 < size; i++) {
		long long c = counts[i] > 0 ? counts[i] : 0;

		if (c == 0) {
			out[o++] = ' ';
		} else if (!utf8) {	/* 1..7 of ascii[] */
			long long k = (c * 7 + max - 1) / max;

			out[o++] = ascii[k < 1 ? 1 : k > 7 ? 7 : k];
		} else {		/* U+2581..U+2588: E2 96 81..88 */
			long long k = (c * 8 + max - 1) / max;

			out[o++] = '\xe2';
			out[o++] = '\x96';
			out[o++] = (char)(0x80 + (k < 1 ? 1 : k > 8 ? 8 : k));
		}
	}
	out[o] = '\0';
}
