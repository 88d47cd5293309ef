/*
 * str.h -- checked string helpers.  Truncation is an error: every function
 * returns 0 on success and -1 when the result did not fit (the destination
 * is still NUL-terminated).  No strcpy/strcat/sprintf anywhere else.
 */
#ifndef MTAD_STR_H
#define MTAD_STR_H

#include <stdarg.h>
#include <stddef.h>

int str_copy(char *dst, size_t size, const char *src);
int str_fmt(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int str_vfmt(char *dst, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* ASCII lower-casing in place (domain names; never locale-dependent). */
void str_lower(char *s);
/* Case-insensitive (ASCII) prefix test: returns the length of `prefix` when
 * `s` starts with it, else 0. */
size_t str_iprefix(const char *s, const char *prefix);
/* Parse a decimal unsigned number that fills all of `s`; -1 on junk or
 * when it exceeds `max`. */
int str_to_u64(const char *s, unsigned long long max, unsigned long long *out);
/* Does [p, p+n) hold well-formed UTF-8 (RFC 3629) without NUL or C0/DEL
 * controls?  Returns 1 yes, 0 no; *nonascii is set when a byte >= 0x80 was
 * seen. */
int str_utf8_valid(const char *p, size_t n, int *nonascii);
/* Length of the one non-ASCII UTF-8 character at p (n bytes available),
 * or 0 when p does not start a well-formed one. */
size_t str_utf8_len(const char *p, size_t n);

#endif
