/* xalloc.c -- allocators that never return NULL (see xalloc.h). */
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void *
xalloc_check(void *p, size_t n)
{
	if (p == NULL && n != 0)
		fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xmalloc(size_t n)
{
	return xalloc_check(malloc(n ? n : 1), n ? n : 1);
}

void *
xcalloc(size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		fatalx("xcalloc: %zu * %zu overflows", count, size);
	return xalloc_check(calloc(count ? count : 1, size ? size : 1), 1);
}

void *
xrealloc(void *p, size_t n)
{
	return xalloc_check(realloc(p, n ? n : 1), n ? n : 1);
}

void *
xgrow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			fatalx("xgrow: %zu elements of %zu bytes overflow", need, size);
		n *= 2;
	}
	p = xrealloc(p, n * size);
	*cap = n;
	return p;
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);

	memcpy(q, p, n);
	return q;
}
