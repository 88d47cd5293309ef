/* dkimkey.c -- DKIM keys with GnuTLS (see dkimkey.h). */
#include "dkimkey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "b64.h"
#include "str.h"
#include "xalloc.h"

struct dkimkey {
	gnutls_privkey_t key;
	int ed25519;
};

static int
dkimkey_err(char *err, size_t size, const char *what, int rc)
{
	(void)str_fmt(err, size, "%s: %s", what, gnutls_strerror(rc));
	return -1;
}

/* The p= value of a private key: RSA's SubjectPublicKeyInfo (DER), or
 * Ed25519's raw public key, in base64. */
static int
dkimkey_public(gnutls_x509_privkey_t x, int ed25519, char *pub, size_t size, char *err,
    size_t errsize)
{
	gnutls_privkey_t pk = NULL;
	gnutls_pubkey_t pubkey = NULL;
	gnutls_datum_t d = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	int rc;

	if ((rc = gnutls_privkey_init(&pk)) < 0 || (rc = gnutls_pubkey_init(&pubkey)) < 0 ||
	    (rc = gnutls_privkey_import_x509(pk, x, 0)) < 0 ||
	    (rc = gnutls_pubkey_import_privkey(pubkey, pk, 0, 0)) < 0 ||
	    (rc = ed25519 ? gnutls_pubkey_export_ecc_raw(pubkey, &curve, &d, NULL) :
	    gnutls_pubkey_export2(pubkey, GNUTLS_X509_FMT_DER, &d)) < 0) {
		gnutls_privkey_deinit(pk);
		gnutls_pubkey_deinit(pubkey);
		return dkimkey_err(err, errsize, "public key", rc);
	}
	rc = b64_encode(d.data, d.size, pub, size) < 0 ? -1 : 0;
	gnutls_free(d.data);
	gnutls_privkey_deinit(pk);
	gnutls_pubkey_deinit(pubkey);
	if (rc < 0)
		(void)str_copy(err, errsize, "public key: too long");
	return rc;
}

int
dkimkey_generate(const char *algo, unsigned bits, char **pem, char *pub, size_t size,
    char *err, size_t errsize)
{
	int ed25519 = strcmp(algo, "ed25519-sha256") == 0, rc;
	gnutls_x509_privkey_t x;
	gnutls_datum_t d = { NULL, 0 };

	*pem = NULL;
	if (!ed25519 && (strcmp(algo, "rsa-sha256") != 0 ||
	    (bits != 2048 && bits != 3072 && bits != 4096))) {
		(void)str_fmt(err, errsize, "%s/%u: not a DKIM key type", algo, bits);
		return -1;
	}
	if ((rc = gnutls_x509_privkey_init(&x)) < 0)
		return dkimkey_err(err, errsize, "key", rc);
	if ((rc = gnutls_x509_privkey_generate(x, ed25519 ? GNUTLS_PK_EDDSA_ED25519 :
	    GNUTLS_PK_RSA, ed25519 ? 256 : bits, 0)) < 0 ||
	    (rc = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &d)) < 0) {
		gnutls_x509_privkey_deinit(x);
		return dkimkey_err(err, errsize, "generating the key", rc);
	}
	rc = dkimkey_public(x, ed25519, pub, size, err, errsize);
	gnutls_x509_privkey_deinit(x);
	if (rc == 0) {
		*pem = xmalloc((size_t)d.size + 1);
		memcpy(*pem, d.data, d.size);
		(*pem)[d.size] = '\0';
	}
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return rc;
}

struct dkimkey *
dkimkey_load(const char *algo, const char *pem, char *err, size_t errsize)
{
	struct dkimkey *k = xcalloc(1, sizeof *k);
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem) };
	int rc;

	k->ed25519 = strcmp(algo, "ed25519-sha256") == 0;
	if ((rc = gnutls_privkey_init(&k->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(k->key, &d, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN)) < 0) {
		(void)dkimkey_err(err, errsize, "loading the key", rc);
		dkimkey_free(k);
		return NULL;
	}
	if (gnutls_privkey_get_pk_algorithm(k->key, NULL) != (k->ed25519 ?
	    GNUTLS_PK_EDDSA_ED25519 : GNUTLS_PK_RSA)) {
		(void)str_fmt(err, errsize, "the key is not for %s", algo);
		dkimkey_free(k);
		return NULL;
	}
	return k;
}

void
dkimkey_free(struct dkimkey *k)
{
	if (k == NULL)
		return;
	if (k->key)
		gnutls_privkey_deinit(k->key);
	free(k);
}

int
dkimkey_sign(void *key, const unsigned char *data, size_t len, unsigned char *sig,
    size_t size, size_t *n)
{
	struct dkimkey *k = key;
	unsigned char hash[32];
	gnutls_datum_t in = { (unsigned char *)(uintptr_t)data, (unsigned)len }, out;
	int rc;

	if (k->ed25519) {	/* RFC 8463 3: Ed25519 over the SHA-256 of the data */
		if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, hash) < 0)
			return -1;
		in.data = hash;
		in.size = sizeof hash;
		rc = gnutls_privkey_sign_data2(k->key, GNUTLS_SIGN_EDDSA_ED25519, 0, &in, &out);
	} else {
		rc = gnutls_privkey_sign_data(k->key, GNUTLS_DIG_SHA256, 0, &in, &out);
	}
	if (rc < 0)
		return -1;
	if (out.size > size) {
		gnutls_free(out.data);
		return -1;
	}
	memcpy(sig, out.data, out.size);
	*n = out.size;
	gnutls_free(out.data);
	return 0;
}
