/*
 * dkimkey.h -- DKIM keys with GnuTLS: made (RSA 2048/3072/4096, Ed25519),
 * kept as PKCS#8 PEM, published as the p= of a DKIM TXT record (RSA: the
 * SubjectPublicKeyInfo; Ed25519: the raw 32-byte key, RFC 8463 4.2), and
 * used to sign (the dkim_signer callback).
 */
#ifndef MTAD_DKIMKEY_H
#define MTAD_DKIMKEY_H

#include <stddef.h>

#include "dkim.h"

struct dkimkey;

/* A new key: algo "rsa-sha256" (bits 2048, 3072 or 4096) or
 * "ed25519-sha256".  Its private PEM (malloc'd) in *pem and p= value in
 * pub (size bytes).  0, or -1 with a reason in err. */
int dkimkey_generate(const char *algo, unsigned bits, char **pem, char *pub, size_t size,
    char *err, size_t errsize);
/* A key from its PEM, to sign with; NULL with a reason in err. */
struct dkimkey *dkimkey_load(const char *algo, const char *pem, char *err, size_t errsize);
void dkimkey_free(struct dkimkey *k);
/* The dkim_signer callback (key: a struct dkimkey). */
int dkimkey_sign(void *key, const unsigned char *data, size_t len, unsigned char *sig,
    size_t size, size_t *n);

#endif
