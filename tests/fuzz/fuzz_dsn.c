/*
 * fuzz_dsn.c -- libFuzzer target for dsn.h.
 *
 * Input: one flags byte, then up to three NUL-separated strings, then the
 * rest as the original message (any bytes):
 *
 *   flags | param NUL diagnostic NUL address NUL original...
 *
 * flags: bits 0-1 RET (unspec, full, hdrs, full), bit 2 second recipient
 * (delayed), bit 3 address used as the sender too, bit 4 param as ENVID
 * and ORCPT, bit 5 a small output maximum, bit 6 no remote MTA.
 *
 * The param goes through dsn_notify_parse (a result is NEVER alone or a
 * non-empty subset of SUCCESS|FAILURE|DELAY), dsn_xtext_decode (a result is
 * printable ASCII; encoding it and decoding again gives it back, and the
 * encoding is canonical) and dsn_xtext_encode (decodes back to the param
 * when that is printable ASCII).  Then dsn_build, whose report must have:
 * CRLF at every line end and nowhere else, lines of at most 998 octets,
 * the boundary from its Content-Type as a delimiter line exactly four
 * times (three parts, one close) and nowhere else; *smtputf8 set when the
 * address is not ASCII.  On failure, the output is as it was.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dsn.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_dsn: invariant broken: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

/* Is s all printable ASCII (SP to "~")? */
static int
fuzz_printable(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			return 0;
	return 1;
}

/* Is s xtext as we write it: xchar, or "+" and two upper-case hex digits? */
static int
fuzz_xtext(const char *s)
{
	for (; *s; s++) {
		if (*s == '+') {
			if (strchr("0123456789ABCDEF", s[1]) == NULL || s[1] == '\0' ||
			    strchr("0123456789ABCDEF", s[2]) == NULL || s[2] == '\0')
				return 0;
			s += 2;
		} else if (*s < '!' || *s > '~' || *s == '=') {
			return 0;
		}
	}
	return 1;
}

static void
fuzz_params(const char *p)
{
	size_t n = strlen(p);
	char *dec = malloc(n + 1), *enc = malloc(3 * n + 1), *again = malloc(n + 1);
	char *enc2 = malloc(3 * n + 1);
	int m = dsn_notify_parse(p);

	FUZZ_ASSERT(dec != NULL && enc != NULL && again != NULL && enc2 != NULL);
	FUZZ_ASSERT(m == -1 || m == DSN_NOTIFY_NEVER || (m > 0 && (m & ~(DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY)) == 0));
	if (dsn_xtext_decode(p, dec, n + 1) == 0) {
		FUZZ_ASSERT(fuzz_printable(dec) && strlen(dec) <= n);
		FUZZ_ASSERT(dsn_xtext_encode(dec, enc, 3 * n + 1) == 0 && fuzz_xtext(enc));
		FUZZ_ASSERT(dsn_xtext_decode(enc, again, n + 1) == 0 && strcmp(again, dec) == 0);
		FUZZ_ASSERT(dsn_xtext_encode(again, enc2, 3 * n + 1) == 0 && strcmp(enc, enc2) == 0);
	} else {
		FUZZ_ASSERT(dec[0] == '\0');
	}
	if (dsn_xtext_encode(p, enc, 3 * n + 1) == 0) {
		FUZZ_ASSERT(fuzz_xtext(enc));
		if (fuzz_printable(p))
			FUZZ_ASSERT(dsn_xtext_decode(enc, again, n + 1) == 0 && strcmp(again, p) == 0);
	}
	free(dec);
	free(enc);
	free(again);
	free(enc2);
}

/* CRLF line ends only, lines of at most 998 octets. */
static void
fuzz_check_lines(const char *p, size_t n)
{
	size_t i, start = 0;

	FUZZ_ASSERT(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			FUZZ_ASSERT(i + 1 < n && p[i + 1] == '\n');
		if (p[i] == '\n') {
			FUZZ_ASSERT(i > 0 && p[i - 1] == '\r');
			FUZZ_ASSERT(i - 1 - start <= 998);
			start = i + 1;
		}
	}
}

/* The boundary: a delimiter line four times ("--b" thrice, "--b--" once),
 * nowhere else in the report past the header section. */
static void
fuzz_check_boundary(const char *p, size_t n)
{
	const char *b = strstr(p, "\r\n\tboundary=\""), *q;
	char delim[128];
	size_t len, count = 0;

	FUZZ_ASSERT(b != NULL);
	b += 13;
	len = strcspn(b, "\"");
	FUZZ_ASSERT(len > 0 && len <= 70 && b[len] == '"');
	delim[0] = '-';
	delim[1] = '-';
	memcpy(delim + 2, b, len);
	delim[len + 2] = '\0';
	for (q = b + len; (q = memmem(q, (size_t)(p + n - q), delim + 2, len)) != NULL; q += len) {
		FUZZ_ASSERT(q[-1] == '-' && q[-2] == '-' && q[-3] == '\n');
		FUZZ_ASSERT(q[len] == '\r' || (q[len] == '-' && q[len + 1] == '-' &&
		    q[len + 2] == '\r' && q + len + 4 == p + n));
		count++;
	}
	FUZZ_ASSERT(count == 4);
}

static void
fuzz_build(uint8_t flags, const char *param, const char *diag, const char *addr,
    const char *orig, size_t orig_len)
{
	struct dsn_rcpt rc[2] = {
		{ addr, NULL, "failed", "5.1.1", "mx.example.com", diag, 1772532000, 0 },
		{ "carol@example.net", NULL, "delayed", "4.4.1", NULL, diag, 1772532000, 1772932000 },
	};
	struct dsn_report r = { "mx.example.org", "QID123", "alice@example.org", NULL,
	    (enum dsn_ret)(flags & 3 ? (flags & 3) == 2 ? DSN_RET_HDRS : DSN_RET_FULL :
	    DSN_RET_UNSPEC), 1772530000, 1772533000, "FUZZ", orig, orig_len, rc,
	    flags & 4 ? 2 : 1 };
	struct buf out;
	int u8 = -1, nonascii = 0;
	const char *s;

	if (flags & 8)
		r.sender = addr;
	if (flags & 16) {
		r.envid = param;
		rc[0].orcpt = param;
	}
	if (flags & 64)
		rc[0].remote_mta = NULL;
	for (s = addr; *s; s++)
		nonascii |= (unsigned char)*s >= 0x80;
	buf_init(&out, flags & 32 ? 2048 : 1 << 20);
	FUZZ_ASSERT(buf_puts(&out, "pre") == 0);
	if (dsn_build(&r, &out, &u8) == 0) {
		FUZZ_ASSERT(memcmp(out.data, "pre", 3) == 0);
		fuzz_check_lines(out.data + 3, out.len - 3);
		fuzz_check_boundary(out.data + 3, out.len - 3);
		FUZZ_ASSERT(u8 == 0 || u8 == 1);
		FUZZ_ASSERT(!nonascii || u8 == 1);
	} else {
		FUZZ_ASSERT(out.len == 3 && strcmp(out.data, "pre") == 0 && u8 == 0);
	}
	buf_free(&out);
}

/* The next NUL-terminated field at *p (n left), copied; the rest if none. */
static char *
fuzz_field(const uint8_t **p, size_t *n)
{
	const uint8_t *z = memchr(*p, 0, *n);
	size_t len = z != NULL ? (size_t)(z - *p) : *n;
	char *s = malloc(len + 1);

	FUZZ_ASSERT(s != NULL);
	memcpy(s, *p, len);
	s[len] = '\0';
	*p += z != NULL ? len + 1 : len;
	*n -= z != NULL ? len + 1 : len;
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n;
	char *param, *diag, *addr, *orig;

	if (size < 1)
		return 0;
	n = size - 1;
	param = fuzz_field(&p, &n);
	diag = fuzz_field(&p, &n);
	addr = fuzz_field(&p, &n);
	/* the original as its own allocation, so ASan sees reads past it */
	orig = malloc(n > 0 ? n : 1);
	FUZZ_ASSERT(orig != NULL);
	memcpy(orig, p, n);
	fuzz_params(param);
	fuzz_build(data[0], param, diag, *addr != '\0' ? addr : "bob@example.com", orig, n);
	free(param);
	free(diag);
	free(addr);
	free(orig);
	return 0;
}
