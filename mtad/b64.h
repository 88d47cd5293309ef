/*
 * b64.h -- base64 (RFC 4648), through GnuTLS's encoder: for AUTH PLAIN and
 * LOGIN now, DKIM keys and signatures later.  Both return the length
 * written (out is NUL-terminated), or -1 if it does not fit or is bad.
 */
#ifndef MTAD_B64_H
#define MTAD_B64_H

#include <stddef.h>

long b64_encode(const void *in, size_t n, char *out, size_t size);
long b64_decode(const char *in, size_t n, void *out, size_t size);

#endif
