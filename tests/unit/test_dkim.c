/* test_dkim.c -- DKIM relaxed canonicalisation (RFC 6376 3.4), the From:
 * domain, and the signature field's shape (signed with a fake signer). */
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "test.h"

static void
hdr(const char *field, const char *want)
{
	struct buf out;

	buf_init(&out, 4096);
	CHECK_INT(dkim_canon_header(field, strlen(field), &out), 0);
	CHECK_STR(out.data ? out.data : "", want);
	buf_free(&out);
}

static void
body(const char *in, size_t n, const char *want)
{
	struct buf out;

	buf_init(&out, 4096);
	CHECK_INT(dkim_canon_body(in, n, &out), 0);
	CHECK_STR(out.data ? out.data : "", want);
	buf_free(&out);
}

#define BODY(in, want) body(in, sizeof in - 1, want)

static void
test_canon(void)
{
	/* RFC 6376 3.4.5 */
	hdr("A: X\r\n", "a:X\r\n");
	hdr("B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n");
	BODY(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	/* ours: folded, tabs, empty value, 8-bit kept */
	hdr("Subject:\r\n  folded\r\n\tthree  times\r\n", "subject:folded three times\r\n");
	hdr("X-Empty:   \r\n", "x-empty:\r\n");
	hdr("Subject: caf\xc3\xa9  au lait\r\n", "subject:caf\xc3\xa9 au lait\r\n");
	hdr("MIME-Version:1.0\r\n", "mime-version:1.0\r\n");
	/* bodies: empty, blank only, no final CRLF, inner empty lines kept */
	BODY("", "");
	BODY("\r\n\r\n", "");
	BODY("  \r\n\t\r\n", "");
	BODY("last line", "last line\r\n");
	BODY("a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n");
	BODY("trail \t \r\n", "trail\r\n");
	BODY("in  side\t\tx\r\n", "in side x\r\n");
	/* a very long line (998 octets, blanks inside) */
	{
		char in[1004], want[1004];
		size_t i;

		for (i = 0; i < 998; i++)
			in[i] = i % 10 == 9 ? ' ' : 'x';
		memcpy(in + 998, " \t\r\n", 5);	/* trailing blanks go */
		memcpy(want, in, 998);
		memcpy(want + 998, "\r\n", 3);
		body(in, strlen(in), want);
	}
}

static void
test_from_domain(void)
{
	static const struct { const char *msg, *want; } t[] = {
		{ "From: a@Example.ORG\r\n\r\nx", "example.org" },
		{ "Subject: s\r\nfrom: \"A @ B\" <a@b.example>\r\n\r\n", "b.example" },
		{ "From: Name\r\n <x@folded.example>\r\n\r\n", "folded.example" },
		{ "From: x@b\xc3\xbc" "cher.example\r\n\r\n", "xn--bcher-kva.example" },
		{ "To: a@b.example\r\n\r\nFrom: a@body.example\r\n", NULL },
		{ "From: no address\r\n\r\n", NULL },
		/* comments and quoted strings do not decide; the first mailbox does */
		{ "From: jane@signed.example (jane@other.example)\r\n\r\n", "signed.example" },
		{ "From: <jane@signed.example> (Jane <jane@other.example>)\r\n\r\n",
		  "signed.example" },
		{ "From: jane@signed.example, joe@other.example\r\n\r\n", "signed.example" },
		{ "From: jane@signed.example (Jane <the boss>)\r\n\r\n", "signed.example" },
		{ "From: \"x@other.example\" <jane@signed.example>\r\n\r\n", "signed.example" },
		{ "From: <jane@signed.example.>\r\n\r\n", "signed.example" },
		{ "From: (c@other.example) Jane <j@signed.example>\r\n\r\n", "signed.example" },
	};
	char d[256];
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		int rc = dkim_from_domain(t[i].msg, strlen(t[i].msg), d, sizeof d);

		if (t[i].want == NULL)
			CHECK_INT(rc, -1);
		else if (rc != 0 || strcmp(d, t[i].want) != 0)
			test_fail(__FILE__, __LINE__, "%zu: %d \"%s\", want \"%s\"", i, rc, d,
			    t[i].want);
	}
}

/* A fake signer that records what it was given. */
static struct buf signed_data;

static int
fake_sign(void *key, const unsigned char *data, size_t len, unsigned char *sig,
    size_t size, size_t *n)
{
	(void)key;
	(void)size;
	buf_reset(&signed_data, 0);
	(void)buf_append(&signed_data, data, len);
	memcpy(sig, "sig", 3);
	*n = 3;
	return 0;
}

static void
test_sign_shape(void)
{
	static const char msg[] = "Received: by mx\r\nFrom: a@d.example\r\nTo: b@e.example\r\n"
	    "Subject: hi\r\nTo: c@e.example\r\n\r\nbody\r\n";
	struct dkim_signer s = { "d.example", "sel", "ed25519-sha256", fake_sign, NULL };
	struct buf out;

	buf_init(&out, 8192);
	buf_init(&signed_data, 8192);
	CHECK_INT(dkim_sign(msg, sizeof msg - 1, &s, 1700000000, &out), 0);
	CHECK(strncmp(out.data, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; ",
	    58) == 0);
	CHECK(strstr(out.data, "d=d.example;") && strstr(out.data, "s=sel;") &&
	    strstr(out.data, "t=1700000000;"));
	/* both To: fields, the last first; From over-signed; no Received */
	CHECK(strstr(out.data, "h=from:from:to:to:subject;") != NULL);
	/* bh of "body\r\n" */
	CHECK(strstr(out.data, "bh=Ck5SoRNWUpSR4X0COv7R5ub2pUTtl6xz4dTFz++ji4M=;") != NULL);
	CHECK(strstr(out.data, "b=\r\n\tc2ln\r\n") != NULL);	/* base64("sig") */
	/* what was signed: the fields bottom-up, then our field with b= empty */
	{
		static const char want[] = "from:a@d.example\r\nto:c@e.example\r\n"
		    "to:b@e.example\r\nsubject:hi\r\ndkim-signature:v=1; a=ed25519-sha256;";

		CHECK(strncmp(signed_data.data, want, sizeof want - 1) == 0);
	}
	CHECK(signed_data.len > 2 && strcmp(signed_data.data + signed_data.len - 3, " b=") == 0);
	buf_free(&out);
	buf_free(&signed_data);
}

const struct test dkim_tests[] = {
	{ "canonicalisation", test_canon },
	{ "from domain", test_from_domain },
	{ "signature shape", test_sign_shape },
	{ NULL, NULL },
};
