/*
 * dkim.h -- DKIM signatures (RFC 6376), relaxed/relaxed, for rsa-sha256
 * and ed25519-sha256 (RFC 8463).  Pure: a message in, a DKIM-Signature
 * header field out; the private-key operation is the signer's callback
 * (dkimkey.c), so canonicalisation and assembly are tested on their own.
 *
 * Messages are as mtad stores them: CRLF lines, the header section, an
 * empty line, the body.
 */
#ifndef MTAD_DKIM_H
#define MTAD_DKIM_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct dkim_signer {
	const char *domain;		/* d=, A-labels */
	const char *selector;		/* s= */
	const char *algo;		/* "rsa-sha256" or "ed25519-sha256" */
	/* Sign the canonical header data (for ed25519-sha256 the callback
	 * signs its SHA-256, RFC 8463 3): the signature's bytes into sig
	 * (size bytes), their number in *n.  0 or -1. */
	int (*sign)(void *key, const unsigned char *data, size_t len, unsigned char *sig,
	    size_t size, size_t *n);
	void *key;
};

/* The header fields signed when present (lower case), From over-signed
 * (one more "from" in h= than there are From fields). */
extern const char *const dkim_sign_fields[];

/* Relaxed header canonicalisation (RFC 6376 3.4.2) of one field as it is
 * in the message ("Name: value\r\n", with its folded lines): appended to
 * out as "name:value\r\n". */
int dkim_canon_header(const char *field, size_t len, struct buf *out);
/* Relaxed body canonicalisation (3.4.4), appended to out. */
int dkim_canon_body(const char *body, size_t len, struct buf *out);
/* The domain of the (first) From: field's address, A-labels in lower
 * case, into out: 0, or -1 when there is no such field or address. */
int dkim_from_domain(const char *msg, size_t len, char *out, size_t size);
/* A DKIM-Signature field for msg, with its CRLF, appended to out (t= is
 * now).  0, or -1 (the signer failed, or out is full). */
int dkim_sign(const char *msg, size_t len, const struct dkim_signer *s, time_t now,
    struct buf *out);

#endif
