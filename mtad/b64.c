/* b64.c -- base64 through GnuTLS (see b64.h). */
#include "b64.h"

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <string.h>

long
b64_encode(const void *in, size_t n, char *out, size_t size)
{
	gnutls_datum_t src = { (unsigned char *)(uintptr_t)in, (unsigned)n }, dst = { NULL, 0 };
	long len = -1;

	if (n > 0xffffff || gnutls_base64_encode2(&src, &dst) < 0)
		return -1;
	if (dst.size < size) {
		memcpy(out, dst.data, dst.size);
		out[dst.size] = '\0';
		len = (long)dst.size;
	}
	gnutls_free(dst.data);
	return len;
}

long
b64_decode(const char *in, size_t n, void *out, size_t size)
{
	gnutls_datum_t src = { (unsigned char *)(uintptr_t)in, (unsigned)n }, dst = { NULL, 0 };
	long len = -1;

	if (n > 0xffffff || gnutls_base64_decode2(&src, &dst) < 0)
		return -1;
	if (dst.size < size) {
		memcpy(out, dst.data, dst.size);
		((char *)out)[dst.size] = '\0';
		len = (long)dst.size;
	}
	gnutls_free(dst.data);
	return len;
}
