/*
 * xalloc.h -- allocators that never return NULL.  Running out of memory is
 * an environment failure: it is logged and the process exits (a supervisor
 * restarts it; every accepted message is already on disk).
 */
#ifndef MTAD_XALLOC_H
#define MTAD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array of *cap elements of size `size` so it can hold `need`. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
