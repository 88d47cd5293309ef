/* str.c -- checked string helpers (see str.h). */
#include "str.h"

#include <stdio.h>
#include <string.h>

int
str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (size == 0)
		return -1;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
str_vfmt(char *dst, size_t size, const char *fmt, va_list ap)
{
	int n;

	if (size == 0)
		return -1;
	n = vsnprintf(dst, size, fmt, ap);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int
str_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = str_vfmt(dst, size, fmt, ap);
	va_end(ap);
	return rc;
}

void
str_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

size_t
str_iprefix(const char *s, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i]; i++) {
		char a = s[i], b = prefix[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return i;
}

int
str_to_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > max / 10 || (v == max / 10 && d > max % 10))
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Length of the UTF-8 sequence starting at p (n bytes left), 0 if invalid. */
static size_t
str_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0], need, min, cp, i;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
	min = need == 3 ? 0x10000 : need == 2 ? 0x800 : 0x80;
	if (n < need + 1)
		return 0;
	cp = c & (0x3f >> need);
	for (i = 1; i <= need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

size_t
str_utf8_len(const char *p, size_t n)
{
	return n ? str_utf8_seq((const unsigned char *)p, n) : 0;
}

int
str_utf8_valid(const char *s, size_t n, int *nonascii)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	*nonascii = 0;
	while (i < n) {
		size_t len;

		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		*nonascii = 1;
		if ((len = str_utf8_seq(p + i, n - i)) == 0)
			return 0;
		i += len;
	}
	return 1;
}
