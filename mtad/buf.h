/*
 * buf.h -- a growable byte buffer with a hard maximum.  Appending past the
 * maximum fails (returns -1) and leaves the buffer unchanged: truncation is
 * an error the caller must handle, never silent.  `data` is always
 * NUL-terminated after len bytes (not counted), so text buffers can be
 * used as C strings.
 */
#ifndef MTAD_BUF_H
#define MTAD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Forget the contents; keep at most `keep` bytes of allocation. */
void buf_reset(struct buf *b, size_t keep);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Put n bytes at offset `at` (<= len), moving the rest up. */
int buf_insert(struct buf *b, size_t at, const void *p, size_t n);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Make room for n more bytes and return where they go (buf_commit then
 * counts the ones written); NULL when that would pass the maximum. */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

#endif
