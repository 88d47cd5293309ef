/*
 * fuzz_dkim.c -- libFuzzer target for dkim.h and check.h's record parsers.
 *
 * Input: one flags byte, then the rest as a message (any bytes).  The
 * message is signed with a fake signer (it records what it signs), and
 * must give: a field that begins "DKIM-Signature: v=1;" and ends in CRLF,
 * with CRLF nowhere else but before a TAB (folding), lines of at most 78
 * octets; signed data ending in " b=".  Relaxed body canonicalisation is
 * idempotent and its output has no blank before a CRLF and no empty line
 * at the end; header canonicalisation of each line gives "name:value\r\n"
 * with a lower-case name.  Bits of flags pick what else runs: bit 0 the
 * input as a DKIM key record, bit 1 as a DMARC record, bit 2 as an SPF
 * record (with a DNS that has nothing: a result of check.h's), bit 3 From: domain extraction.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_dkim: invariant broken: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

static struct buf signed_data;

static int
fake_sign(void *key, const unsigned char *d, size_t len, unsigned char *sig, size_t size,
    size_t *n)
{
	(void)key;
	(void)size;
	buf_reset(&signed_data, 0);
	(void)buf_append(&signed_data, d, len);
	memcpy(sig, "signature", 9);
	*n = 9;
	return 0;
}

static void
fuzz_field(const struct buf *f)
{
	size_t i, col = 0;

	FUZZ_ASSERT(f->len > 22 && strncmp(f->data, "DKIM-Signature: v=1;", 20) == 0);
	FUZZ_ASSERT(f->data[f->len - 2] == '\r' && f->data[f->len - 1] == '\n');
	for (i = 0; i < f->len; i++) {
		if (f->data[i] == '\r') {
			FUZZ_ASSERT(i + 1 < f->len && f->data[i + 1] == '\n');
			FUZZ_ASSERT(i + 2 == f->len || f->data[i + 2] == '\t');
			FUZZ_ASSERT(i == 0 || f->data[i - 1] != ' ');
			col = 0;
			i++;
			continue;
		}
		FUZZ_ASSERT(f->data[i] != '\n');
		FUZZ_ASSERT(++col <= 78 || signed_data.len == 0);
	}
	FUZZ_ASSERT(signed_data.len >= 3 &&
	    memcmp(signed_data.data + signed_data.len - 3, " b=", 3) == 0);
}

static void
fuzz_body(const char *msg, size_t len)
{
	struct buf a, b;

	buf_init(&a, 2 * len + 16);
	buf_init(&b, 2 * len + 16);
	FUZZ_ASSERT(dkim_canon_body(msg, len, &a) == 0);
	FUZZ_ASSERT(dkim_canon_body(a.data ? a.data : "", a.len, &b) == 0);
	FUZZ_ASSERT(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	FUZZ_ASSERT(a.len == 0 || (a.len >= 2 && memcmp(a.data + a.len - 2, "\r\n", 2) == 0));
	FUZZ_ASSERT(a.len < 4 || memcmp(a.data + a.len - 4, "\r\n\r\n", 4) != 0);
	FUZZ_ASSERT(a.data == NULL || strstr(a.data, " \r\n") == NULL);
	buf_free(&a);
	buf_free(&b);
}

static enum dns_status
no_txt(void *ctx, const char *name, char (*out)[LIM_DNS_TXT + 1], size_t *n)
{
	(void)ctx, (void)name, (void)out;
	*n = 0;
	return DNS_NXDOMAIN;
}

static enum dns_status
no_addrs(void *ctx, const char *host, struct check_addr *out, size_t *n)
{
	(void)ctx, (void)host, (void)out;
	*n = 0;
	return DNS_NXDOMAIN;
}

static enum dns_status
no_mx(void *ctx, const char *domain, char (*out)[LIM_DOMAIN + 1], size_t *n)
{
	(void)ctx, (void)domain, (void)out;
	*n = 0;
	return DNS_OK;
}

static void
fuzz_records(unsigned flags, const char *text)
{
	struct check_spf_env env = { no_txt, no_addrs, no_mx, NULL, 0 };
	struct check_addr a = { 2, { 192, 0, 2, 1 } };	/* AF_INET */
	char why[512];
	int rc;

	if (flags & 1)
		FUZZ_ASSERT(check_dkim_txt(text, flags & 16 ? "ed25519-sha256" : "rsa-sha256",
		    "QUJD", why, sizeof why) <= CHECK_UNKNOWN);
	if (flags & 2)
		FUZZ_ASSERT(check_dmarc_txt(text, why, sizeof why) <= CHECK_UNKNOWN);
	if (flags & 4) {
		rc = check_spf(&env, "fuzz.example", text, &a, why, sizeof why);
		FUZZ_ASSERT(rc >= -2 && rc <= 1);	/* check.h: -2 broken, -1 open */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_signer s = { "d.example", "sel", "rsa-sha256", fake_sign, NULL };
	char *msg, dom[256], *text;
	struct buf out;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0];
	msg = malloc(size);
	memcpy(msg, data + 1, size - 1);
	msg[size - 1] = '\0';
	buf_init(&out, 1 << 20);
	buf_init(&signed_data, 1 << 22);
	if (dkim_sign(msg, size - 1, &s, 1700000000, &out) == 0)
		fuzz_field(&out);
	fuzz_body(msg, size - 1);
	if (flags & 8 && dkim_from_domain(msg, size - 1, dom, sizeof dom) == 0)
		FUZZ_ASSERT(dom[0] != '\0' && strlen(dom) < sizeof dom);
	text = strndup(msg, size - 1 < LIM_DNS_TXT ? size - 1 : LIM_DNS_TXT);
	fuzz_records(flags, text);
	free(text);
	buf_free(&out);
	buf_free(&signed_data);
	free(msg);
	return 0;
}
