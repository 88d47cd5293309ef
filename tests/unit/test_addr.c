/*
 * test_addr.c -- RFC 5321 paths and mailboxes (addr.h), table-driven:
 * dot-strings, quoted local parts, the null path and <Postmaster>, source
 * routes, every length limit at its edge, address literals, UTF-8 local
 * parts and IDNA2008 domains, malformed UTF-8.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "test.h"

/* ---- addr_parse_path ---- */

struct path_case {
	const char *in;
	int allow_null, allow_pm;
	enum addr_err want;
	/* on ADDR_OK only: */
	const char *mailbox;
	const char *domain;
	int utf8, null, pm;
	size_t end;
};

/* Run row `row` of path_cases[]. */
static void
path_check(const struct path_case *c, size_t row)
{
	struct addr a;
	size_t end = 9999;
	enum addr_err e = addr_parse_path(c->in, c->allow_null, c->allow_pm, &a, &end);

	if (e != c->want) {
		test_fail(__FILE__, __LINE__, "row %zu: addr_parse_path(\"%s\", %d, %d) == %d (%s), "
		    "want %d (%s)", row, test_escape(c->in, strlen(c->in)), c->allow_null, c->allow_pm,
		    (int)e, addr_strerror(e), (int)c->want, addr_strerror(c->want));
		return;
	}
	if (e != ADDR_OK)
		return;
	if (strcmp(a.mailbox, c->mailbox) != 0 || strcmp(a.domain_ascii, c->domain) != 0 ||
	    a.utf8 != c->utf8 || a.null != c->null || a.postmaster != c->pm || end != c->end)
		test_fail(__FILE__, __LINE__, "row %zu \"%s\": got mailbox=\"%s\" domain=\"%s\" utf8=%d "
		    "null=%d postmaster=%d end=%zu; want \"%s\" \"%s\" %d %d %d %zu", row,
		    test_escape(c->in, strlen(c->in)), test_escape(a.mailbox, strlen(a.mailbox)),
		    a.domain_ascii, a.utf8, a.null, a.postmaster, end, c->mailbox, c->domain,
		    c->utf8, c->null, c->pm, c->end);
}

#define OK(in, mb, dom, utf8, end) { in, 0, 0, ADDR_OK, mb, dom, utf8, 0, 0, end }
#define BAD(in, err) { in, 1, 1, err, NULL, NULL, 0, 0, 0, 0 }

static const struct path_case path_cases[] = {
	/* plain and dot-string */
	OK("<user@example.com>", "user@example.com", "example.com", 0, 18),
	OK("<User@Example.COM>", "User@Example.COM", "example.com", 0, 18),
	OK("<first.last@mail.example.com>", "first.last@mail.example.com",
	    "mail.example.com", 0, 29),
	OK("<a!#$%&'*+-/=?^_`{|}~b@example.com>", "a!#$%&'*+-/=?^_`{|}~b@example.com",
	    "example.com", 0, 35),
	OK("<a@b>", "a@b", "b", 0, 5),
	OK("<u@ex-ample.com>", "u@ex-ample.com", "ex-ample.com", 0, 16),
	OK("<u@ex--ample.com>", "u@ex--ample.com", "ex--ample.com", 0, 17),
	OK("<u@a-1.b-2.example>", "u@a-1.b-2.example", "a-1.b-2.example", 0, 19),
	OK("<u@3com.example>", "u@3com.example", "3com.example", 0, 16),
	/* quoted local parts */
	OK("<\"john doe\"@example.com>", "\"john doe\"@example.com", "example.com", 0, 24),
	OK("<\"a>b\"@example.com>", "\"a>b\"@example.com", "example.com", 0, 19),
	OK("<\"a\\\"b\"@example.com>", "\"a\\\"b\"@example.com", "example.com", 0, 20),
	OK("<\"a\\\\b\"@example.com>", "\"a\\\\b\"@example.com", "example.com", 0, 20),
	OK("<\"a\\xb\"@example.com>", "\"a\\xb\"@example.com", "example.com", 0, 20),
	OK("<\"a@b\"@example.com>", "\"a@b\"@example.com", "example.com", 0, 19),
	OK("<\"\"@example.com>", "\"\"@example.com", "example.com", 0, 16),
	OK("<\".a..b.\"@example.com>", "\".a..b.\"@example.com", "example.com", 0, 22),
	BAD("<\"abc@example.com>", ADDR_SYNTAX),		/* unterminated */
	BAD("<\"a\tb\"@example.com>", ADDR_SYNTAX),		/* HT is not qtextSMTP */
	BAD("<\"a\\\tb\"@example.com>", ADDR_SYNTAX),		/* nor in a quoted-pair */
	BAD("<\"a\\", ADDR_SYNTAX),
	BAD("<\"ab\"c@example.com>", ADDR_SYNTAX),
	BAD("<a\"b\"@example.com>", ADDR_SYNTAX),
	/* trailing parameters: *end is just past ">" */
	OK("<user@example.com> SIZE=1000 BODY=8BITMIME", "user@example.com", "example.com", 0, 18),
	OK("<\"x>y\"@example.com> BODY=7BIT", "\"x>y\"@example.com", "example.com", 0, 19),
	OK("<a@b.example>>", "a@b.example", "b.example", 0, 13),
	/* null path */
	{ "<>", 1, 0, ADDR_OK, "", "", 0, 1, 0, 2 },
	{ "<> SIZE=10", 1, 1, ADDR_OK, "", "", 0, 1, 0, 2 },
	{ "<>", 0, 0, ADDR_NULL, NULL, NULL, 0, 0, 0, 0 },
	{ "<>", 0, 1, ADDR_NULL, NULL, NULL, 0, 0, 0, 0 },
	BAD("< >", ADDR_SYNTAX),
	/* <Postmaster> without a domain, only when allowed */
	{ "<postmaster>", 0, 1, ADDR_OK, "postmaster", "", 0, 0, 1, 12 },
	{ "<Postmaster>", 0, 1, ADDR_OK, "Postmaster", "", 0, 0, 1, 12 },
	{ "<POSTMASTER> NOTIFY=NEVER", 1, 1, ADDR_OK, "POSTMASTER", "", 0, 0, 1, 12 },
	{ "<postmaster>", 0, 0, ADDR_SYNTAX, NULL, NULL, 0, 0, 0, 0 },
	{ "<Postmaster>", 1, 0, ADDR_SYNTAX, NULL, NULL, 0, 0, 0, 0 },
	{ "<postmasterx>", 0, 1, ADDR_SYNTAX, NULL, NULL, 0, 0, 0, 0 },
	{ "<postmaste>", 0, 1, ADDR_SYNTAX, NULL, NULL, 0, 0, 0, 0 },
	{ "<\"postmaster\">", 0, 1, ADDR_SYNTAX, NULL, NULL, 0, 0, 0, 0 },
	{ "<postmaster@example.com>", 0, 1, ADDR_OK, "postmaster@example.com",
	    "example.com", 0, 0, 0, 24 },
	/* source routes */
	BAD("<@relay.example:user@example.com>", ADDR_SOURCE_ROUTE),
	BAD("<@a.example,@b.example:user@example.com>", ADDR_SOURCE_ROUTE),
	/* brackets */
	BAD("user@example.com", ADDR_NO_BRACKETS),
	BAD("", ADDR_NO_BRACKETS),
	BAD(" <user@example.com>", ADDR_NO_BRACKETS),
	BAD("\"<user@example.com>\"", ADDR_NO_BRACKETS),
	BAD("<user@example.com", ADDR_SYNTAX),
	BAD("<user@example.com ", ADDR_SYNTAX),
	BAD("<user@example.com >", ADDR_SYNTAX),
	BAD("< user@example.com>", ADDR_SYNTAX),
	BAD("<", ADDR_SYNTAX),
	BAD("<user>", ADDR_SYNTAX),
	BAD("<user@>", ADDR_SYNTAX),
	BAD("<u ser@example.com>", ADDR_SYNTAX),
	BAD("<u@@example.com>", ADDR_SYNTAX),
	BAD("<u(comment)@example.com>", ADDR_SYNTAX),
	/* dots */
	BAD("<.user@example.com>", ADDR_SYNTAX),
	BAD("<user.@example.com>", ADDR_SYNTAX),
	BAD("<us..er@example.com>", ADDR_SYNTAX),
	BAD("<user@.example.com>", ADDR_SYNTAX),
	BAD("<user@example.com.>", ADDR_SYNTAX),
	BAD("<user@example..com>", ADDR_SYNTAX),
	BAD("<user@.>", ADDR_SYNTAX),
	/* hyphens and other characters in labels */
	BAD("<u@-example.com>", ADDR_SYNTAX),
	BAD("<u@example-.com>", ADDR_SYNTAX),
	BAD("<u@example.-com>", ADDR_SYNTAX),
	BAD("<u@example.com->", ADDR_SYNTAX),
	BAD("<u@->", ADDR_SYNTAX),
	BAD("<u@ex_ample.com>", ADDR_SYNTAX),
	BAD("<u@exa mple.com>", ADDR_SYNTAX),
	BAD("<u@example.com:25>", ADDR_SYNTAX),
	/* address literals */
	OK("<u@[192.0.2.1]>", "u@[192.0.2.1]", "[192.0.2.1]", 0, 15),
	OK("<u@[IPv6:2001:db8::1]>", "u@[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]", 0, 22),
	OK("<u@[ipv6:2001:db8::1]>", "u@[ipv6:2001:db8::1]", "[ipv6:2001:db8::1]", 0, 22),
	OK("<u@[IPv6:::ffff:192.0.2.1]> SIZE=1", "u@[IPv6:::ffff:192.0.2.1]",
	    "[IPv6:::ffff:192.0.2.1]", 0, 27),
	BAD("<u@[300.1.1.1]>", ADDR_BAD_LITERAL),
	BAD("<u@[foo]>", ADDR_BAD_LITERAL),
	BAD("<u@[IPv6:zz]>", ADDR_BAD_LITERAL),
	BAD("<u@[1.2.3]>", ADDR_BAD_LITERAL),
	BAD("<u@[2001:db8::1]>", ADDR_BAD_LITERAL),	/* IPv6 needs the tag */
	BAD("<u@[IPv6:192.0.2.1]>", ADDR_BAD_LITERAL),
	BAD("<u@[x400:c=us]>", ADDR_BAD_LITERAL),	/* general literals refused */
	BAD("<u@[]>", ADDR_BAD_LITERAL),
	BAD("<u@[192.0.2.1>", ADDR_BAD_LITERAL),
	BAD("<u@[192.0.2.1]x>", ADDR_SYNTAX),
	BAD("<u@[192.0.2.1].example>", ADDR_SYNTAX),
	BAD("<u@example.[192.0.2.1]>", ADDR_SYNTAX),
	/* UTF-8 local parts and IDN domains (RFC 6531, IDNA2008) */
	OK("<jöran@example.com>", "jöran@example.com", "example.com", 1, 20),
	OK("<user@bücher.example>", "user@bücher.example", "xn--bcher-kva.example", 1, 22),
	OK("<jöran@Bücher.EXAMPLE>", "jöran@Bücher.EXAMPLE", "xn--bcher-kva.example", 1, 24),
	OK("<u@BÜCHER.example>", "u@BÜCHER.example", "xn--bcher-kva.example", 1, 19),
	OK("<用户@例子.广告>", "用户@例子.广告", "xn--fsqu00a.xn--4rr70v", 1, 22),
	OK("<\"jö ran\"@example.com>", "\"jö ran\"@example.com", "example.com", 1, 23),
	OK("<u@xn--bcher-kva.example>", "u@xn--bcher-kva.example",
	    "xn--bcher-kva.example", 0, 25),
	OK("<u@straße.de>", "u@straße.de", "xn--strae-oqa.de", 1, 14),
	/* malformed UTF-8 */
	BAD("<\xc0\xafuser@example.com>", ADDR_BAD_UTF8),	/* overlong '/' */
	BAD("<\xc1\xbf@example.com>", ADDR_BAD_UTF8),		/* overlong */
	BAD("<\xe0\x80\xaf@example.com>", ADDR_BAD_UTF8),	/* overlong, 3 bytes */
	BAD("<\xf0\x80\x80\xaf@example.com>", ADDR_BAD_UTF8),	/* overlong, 4 bytes */
	BAD("<\xed\xa0\x80@example.com>", ADDR_BAD_UTF8),	/* surrogate D800 */
	BAD("<\xed\xbf\xbf@example.com>", ADDR_BAD_UTF8),	/* surrogate DFFF */
	BAD("<\xf4\x90\x80\x80@example.com>", ADDR_BAD_UTF8),	/* > U+10FFFF */
	BAD("<\xf5\x80\x80\x80@example.com>", ADDR_BAD_UTF8),
	BAD("<\xff@example.com>", ADDR_BAD_UTF8),
	BAD("<\x80user@example.com>", ADDR_BAD_UTF8),		/* lone continuation */
	BAD("<us\xc3@example.com>", ADDR_BAD_UTF8),		/* truncated */
	BAD("<us\xe2\x82@example.com>", ADDR_BAD_UTF8),
	BAD("<\"a\xc3\"@example.com>", ADDR_BAD_UTF8),		/* in a quoted string */
	BAD("<\"\xed\xa0\x80\"@example.com>", ADDR_BAD_UTF8),
	BAD("<u@b\xfc" "cher.example>", ADDR_BAD_UTF8),		/* Latin-1 */
	BAD("<u@example.com\xc3", ADDR_BAD_UTF8),		/* truncated at the end */
	BAD("<u@\xe0\x80\x80.example>", ADDR_BAD_UTF8),
	/* IDNA2008 refuses these */
	BAD("<u@\xe2\x98\x83.example>", ADDR_BAD_IDN),		/* U+2603 snowman */
	BAD("<u@\xf0\x9f\x98\x80.example>", ADDR_BAD_IDN),	/* emoji */
	BAD("<u@\xcc\x81" "a.example>", ADDR_BAD_IDN),		/* leading combining mark */
	BAD("<u@a\xe2\x80\x8d" "b.example>", ADDR_BAD_IDN),	/* ZWJ out of context */
	BAD("<u@\xd9\xa3.example>", ADDR_BAD_IDN),		/* bidi rule */
};

static void
test_path_table(void)
{
	size_t i;

	for (i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++)
		path_check(&path_cases[i], i);
}

/* ---- lengths at their limits ---- */

/* A domain of exactly `len` octets: labels of 63 `ch`, and a shorter last
 * one (never a 1-octet remainder after a dot). */
static void
make_domain(char *out, size_t len, char ch)
{
	size_t n = 0;

	while (n < len) {
		size_t left, label;

		if (n > 0)
			out[n++] = '.';
		left = len - n;
		label = left > 63 ? 63 : left;
		if (left - label == 1)
			label--;
		memset(out + n, ch, label);
		n += label;
	}
	out[n] = '\0';
}

/* "<" + local + "@" + domain + ">" with a local part of `local` octets. */
static enum addr_err
path_of(size_t local, const char *domain, struct addr *a, size_t *end)
{
	char in[1024];

	memset(in, 'l', local + 1);
	in[0] = '<';
	snprintf(in + 1 + local, sizeof in - 1 - local, "@%s>", domain);
	return addr_parse_path(in, 0, 0, a, end);
}

static void
test_make_domain(void)
{
	char d[400];
	size_t len;

	/* the helper itself: right length, every label 1..63, no empty label */
	for (len = 1; len <= 300; len++) {
		const char *p, *dot;

		make_domain(d, len, 'd');
		CHECK_INT(strlen(d), len);
		for (p = d; ; p = dot + 1) {
			size_t lab;

			dot = strchr(p, '.');
			lab = dot ? (size_t)(dot - p) : strlen(p);
			if (lab == 0 || lab > 63)
				test_fail(__FILE__, __LINE__, "make_domain(%zu): label of %zu", len, lab);
			if (dot == NULL)
				break;
		}
	}
}

static void
test_local_part_length(void)
{
	struct addr a;
	size_t end, i;
	char in[200], want[200];

	CHECK_INT(path_of(64, "example.com", &a, &end), ADDR_OK);
	CHECK_INT(end, 1 + 64 + 12 + 1);
	CHECK_INT(strlen(a.mailbox), 64 + 12);
	CHECK_INT(path_of(65, "example.com", &a, &end), ADDR_LOCAL_TOO_LONG);
	CHECK_INT(path_of(200, "example.com", &a, &end), ADDR_LOCAL_TOO_LONG);
	/* a quoted local part counts its quotes */
	memset(in, 'q', sizeof in);
	in[0] = '<';
	in[1] = '"';
	in[64] = '"';
	snprintf(in + 65, sizeof in - 65, "@example.com>");
	CHECK_INT(addr_parse_path(in, 0, 0, &a, &end), ADDR_OK);
	snprintf(want, sizeof want, "%.64s@example.com", in + 1);
	CHECK_STR(a.mailbox, want);
	in[64] = 'q';
	in[65] = '"';
	snprintf(in + 66, sizeof in - 66, "@example.com>");
	CHECK_INT(addr_parse_path(in, 0, 0, &a, &end), ADDR_LOCAL_TOO_LONG);
	/* UTF-8: octets, not characters (32 x U+00F6 = 64 octets) */
	in[0] = '<';
	for (i = 0; i < 32; i++)
		memcpy(in + 1 + 2 * i, "\xc3\xb6", 2);
	snprintf(in + 65, sizeof in - 65, "@example.com>");
	CHECK_INT(addr_parse_path(in, 0, 0, &a, &end), ADDR_OK);
	CHECK_INT(a.utf8, 1);
	memcpy(in + 65, "\xc3\xb6", 2);
	snprintf(in + 67, sizeof in - 67, "@example.com>");
	CHECK_INT(addr_parse_path(in, 0, 0, &a, &end), ADDR_LOCAL_TOO_LONG);
	/* bare mailboxes too */
	memset(in, 'm', 65);
	snprintf(in + 64, sizeof in - 64, "@example.com");
	CHECK_INT(addr_parse_mailbox(in, &a), ADDR_OK);
	memset(in, 'm', 65);
	snprintf(in + 65, sizeof in - 65, "@example.com");
	CHECK_INT(addr_parse_mailbox(in, &a), ADDR_LOCAL_TOO_LONG);
}

static void
test_label_length(void)
{
	struct addr a;
	size_t end;
	char dom[300], out[300];

	memset(dom, 'a', 63);
	snprintf(dom + 63, sizeof dom - 63, ".example");
	CHECK_INT(path_of(1, dom, &a, &end), ADDR_OK);
	CHECK_STR(a.domain_ascii, dom);
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_OK);
	memset(dom, 'a', 64);
	snprintf(dom + 64, sizeof dom - 64, ".example");
	CHECK_INT(path_of(1, dom, &a, &end), ADDR_DOMAIN_TOO_LONG);
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_DOMAIN_TOO_LONG);
	/* the last label too */
	memset(dom, 'b', 66);
	memcpy(dom, "x.", 2);
	dom[66] = '\0';
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_DOMAIN_TOO_LONG);
	dom[65] = '\0';
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_OK);
}

/*
 * A U-label's limit is its A-label form on the wire (limits.h: LIM_DOMAIN
 * "in A-labels on the wire"): 32 x U+00FC is 64 octets of UTF-8 but a
 * 38-octet A-label, so it is a valid label.
 */
static void
test_idn_label_length(void)
{
	struct addr a;
	char dom[200], out[300] = "";
	size_t i, n = 0;

	for (i = 0; i < 32; i++, n += 2)
		memcpy(dom + n, "\xc3\xbc", 2);
	snprintf(dom + n, sizeof dom - n, ".example");
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_OK);
	CHECK_STR(out, "xn--tdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example");
	snprintf(out, sizeof out, "u@%s", dom);
	CHECK_INT(addr_parse_mailbox(out, &a), ADDR_OK);
	CHECK_STR(a.domain_ascii, "xn--tdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example");
	/* but an A-label over 63 octets is refused */
	for (i = 0, n = 0; i < 60; i++, n += 2)
		memcpy(dom + n, "\xc3\xbc", 2);
	memcpy(dom + n, "x.example", 10);
	CHECK(addr_domain_to_ascii(dom, out, sizeof out) != ADDR_OK);
}

static void
test_domain_length(void)
{
	struct addr a;
	char dom[300], in[400], out[400];

	make_domain(dom, 255, 'd');
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_OK);
	CHECK_STR(out, dom);
	snprintf(in, sizeof in, "u@%s", dom);
	CHECK_INT(addr_parse_mailbox(in, &a), ADDR_OK);
	CHECK_STR(a.domain_ascii, dom);
	CHECK_STR(a.mailbox, in);
	make_domain(dom, 256, 'd');
	CHECK_INT(addr_domain_to_ascii(dom, out, sizeof out), ADDR_DOMAIN_TOO_LONG);
	snprintf(in, sizeof in, "u@%s", dom);
	CHECK_INT(addr_parse_mailbox(in, &a), ADDR_DOMAIN_TOO_LONG);
	/* in a path the domain limit comes first, then the path limit */
	{
		size_t end;

		CHECK_INT(path_of(1, dom, &a, &end), ADDR_DOMAIN_TOO_LONG);
		make_domain(dom, 255, 'd');
		CHECK_INT(path_of(1, dom, &a, &end), ADDR_PATH_TOO_LONG);
	}
	/* the output buffer is a limit too */
	CHECK_INT(addr_domain_to_ascii("example.com", out, 12), ADDR_OK);
	CHECK_INT(addr_domain_to_ascii("example.com", out, 11), ADDR_DOMAIN_TOO_LONG);
	CHECK_INT(addr_domain_to_ascii("b\xc3\xbc" "cher.example", out, 22), ADDR_OK);
	CHECK_STR(out, "xn--bcher-kva.example");
	CHECK_INT(addr_domain_to_ascii("b\xc3\xbc" "cher.example", out, 21), ADDR_DOMAIN_TOO_LONG);
}

static void
test_path_length(void)
{
	struct addr a;
	char dom[300];
	size_t end;

	/* "<" + 64 + "@" + 189 + ">" = 256 octets: the longest path */
	make_domain(dom, 189, 'p');
	CHECK_INT(path_of(64, dom, &a, &end), ADDR_OK);
	CHECK_INT(end, 256);
	CHECK_INT(strlen(a.mailbox), 254);
	make_domain(dom, 190, 'p');
	CHECK_INT(path_of(64, dom, &a, &end), ADDR_PATH_TOO_LONG);
	CHECK_INT(path_of(63, dom, &a, &end), ADDR_OK);
	CHECK_INT(end, 256);
	make_domain(dom, 250, 'p');
	CHECK_INT(path_of(10, dom, &a, &end), ADDR_PATH_TOO_LONG);
}

/* ---- addr_parse_mailbox ---- */

static void
test_parse_mailbox(void)
{
	static const struct {
		const char *in;
		enum addr_err want;
		const char *domain;
		int utf8;
	} rows[] = {
		{ "user@example.com", ADDR_OK, "example.com", 0 },
		{ "User.Name@Example.COM", ADDR_OK, "example.com", 0 },
		{ "\"a b\"@example.com", ADDR_OK, "example.com", 0 },
		{ "u@[192.0.2.1]", ADDR_OK, "[192.0.2.1]", 0 },
		{ "u@[IPv6:2001:db8::1]", ADDR_OK, "[IPv6:2001:db8::1]", 0 },
		{ "j\xc3\xb6ran@b\xc3\xbc" "cher.example", ADDR_OK, "xn--bcher-kva.example", 1 },
		{ "<user@example.com>", ADDR_SYNTAX, NULL, 0 },
		{ "user@example.com ", ADDR_SYNTAX, NULL, 0 },
		{ "user@example.com>", ADDR_SYNTAX, NULL, 0 },
		{ " user@example.com", ADDR_SYNTAX, NULL, 0 },
		{ "postmaster", ADDR_SYNTAX, NULL, 0 },
		{ "user", ADDR_SYNTAX, NULL, 0 },
		{ "", ADDR_SYNTAX, NULL, 0 },
		{ "@example.com", ADDR_SYNTAX, NULL, 0 },
		{ "user@", ADDR_SYNTAX, NULL, 0 },
		{ "a@b@c", ADDR_SYNTAX, NULL, 0 },
		{ "u@[300.1.1.1]", ADDR_BAD_LITERAL, NULL, 0 },
		{ "u@\xe2\x98\x83.example", ADDR_BAD_IDN, NULL, 0 },
		{ "\xed\xa0\x80@example.com", ADDR_BAD_UTF8, NULL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct addr a;
		enum addr_err e = addr_parse_mailbox(rows[i].in, &a);

		if (e != rows[i].want) {
			test_fail(__FILE__, __LINE__, "addr_parse_mailbox(\"%s\") == %d, want %d",
			    test_escape(rows[i].in, strlen(rows[i].in)), (int)e, (int)rows[i].want);
			continue;
		}
		if (e != ADDR_OK)
			continue;
		CHECK_STR(a.mailbox, rows[i].in);
		CHECK_STR(a.domain_ascii, rows[i].domain);
		CHECK_INT(a.utf8, rows[i].utf8);
		CHECK_INT(a.null, 0);
		CHECK_INT(a.postmaster, 0);
	}
}

/* ---- addr_domain_to_ascii ---- */

static void
test_domain_to_ascii(void)
{
	static const struct {
		const char *in;
		enum addr_err want;
		const char *out;
	} rows[] = {
		{ "example.com", ADDR_OK, "example.com" },
		{ "Example.COM", ADDR_OK, "example.com" },
		{ "MX-1.EXAMPLE.NET", ADDR_OK, "mx-1.example.net" },
		{ "localhost", ADDR_OK, "localhost" },
		{ "b\xc3\xbc" "cher.example", ADDR_OK, "xn--bcher-kva.example" },
		{ "B\xc3\x9c" "CHER.Example", ADDR_OK, "xn--bcher-kva.example" },
		{ "xn--bcher-kva.example", ADDR_OK, "xn--bcher-kva.example" },
		{ "XN--BCHER-KVA.EXAMPLE", ADDR_OK, "xn--bcher-kva.example" },
		{ "stra\xc3\x9f" "e.de", ADDR_OK, "xn--strae-oqa.de" },	/* no transitional ss */
		{ "\xc3\x84\xc3\x96\xc3\x9c.de", ADDR_OK, "xn--4ca0bs.de" },
		{ "\xc3\xbc.\xc3\xbc", ADDR_OK, "xn--tda.xn--tda" },
		{ "", ADDR_SYNTAX, NULL },
		{ ".", ADDR_SYNTAX, NULL },
		{ "example.com.", ADDR_SYNTAX, NULL },
		{ ".example.com", ADDR_SYNTAX, NULL },
		{ "a..b", ADDR_SYNTAX, NULL },
		{ "-a.example", ADDR_SYNTAX, NULL },
		{ "a-.example", ADDR_SYNTAX, NULL },
		{ "a b", ADDR_SYNTAX, NULL },
		{ "a_b.example", ADDR_SYNTAX, NULL },
		{ "[192.0.2.1]", ADDR_SYNTAX, NULL },
		{ "example.com:25", ADDR_SYNTAX, NULL },
		{ "\xe2\x98\x83.example", ADDR_BAD_IDN, NULL },
		{ "\xcc\x81" "a.example", ADDR_BAD_IDN, NULL },
		{ "\xc0\xaf.example", ADDR_BAD_UTF8, NULL },
		{ "b\xfc" "cher.example", ADDR_BAD_UTF8, NULL },
		{ "\xed\xa0\x80.example", ADDR_BAD_UTF8, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[300] = "";
		enum addr_err e = addr_domain_to_ascii(rows[i].in, out, sizeof out);

		if (e != rows[i].want)
			test_fail(__FILE__, __LINE__, "addr_domain_to_ascii(\"%s\") == %d, want %d",
			    test_escape(rows[i].in, strlen(rows[i].in)), (int)e, (int)rows[i].want);
		else if (e == ADDR_OK)
			CHECK_STR(out, rows[i].out);
	}
}

/*
 * UTS #46 mapping turns some non-ASCII characters into ASCII; the result
 * must still be a host name (letters, digits, hyphens, non-empty labels),
 * never "a/c.example" or "a..b" through the back door.
 */
static void
test_idn_maps_to_ascii(void)
{
	static const char *rows[] = {
		"\xe2\x84\x80.example",		/* U+2100 ACCOUNT OF -> "a/c" */
		"a\xef\xbc\xbf" "b.example",		/* U+FF3F fullwidth "_" */
		"x\xef\xbc\x9a" "25.example",		/* U+FF1A fullwidth ":" */
		"a\xef\xbc\x8e\xef\xbc\x8e" "b.example",	/* two U+FF0E: empty label */
		"example\xef\xbc\x8e",		/* trailing U+FF0E: empty label */
		"a\xe3\x80\x80" "b.example",		/* U+3000 ideographic space -> " " */
		"\xe2\x92\x9e.example",		/* U+249E -> "(c)" */
		"\xc2\xad",				/* U+00AD soft hyphen -> "": no domain */
		"\xc2\xad.example",			/* -> ".example" */
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[300] = "", path[300];
		struct addr a;
		size_t end;
		enum addr_err e = addr_domain_to_ascii(rows[i], out, sizeof out);

		if (e == ADDR_OK)
			test_fail(__FILE__, __LINE__, "addr_domain_to_ascii(\"%s\") accepted as \"%s\"",
			    test_escape(rows[i], strlen(rows[i])), out);
		snprintf(path, sizeof path, "<u@%s>", rows[i]);
		e = addr_parse_path(path, 0, 0, &a, &end);
		if (e == ADDR_OK)
			test_fail(__FILE__, __LINE__, "addr_parse_path(\"%s\") accepted, domain \"%s\"",
			    test_escape(path, strlen(path)), a.domain_ascii);
	}
}

static void
test_strerror(void)
{
	CHECK_STR(addr_strerror(ADDR_OK), "ok");
	CHECK_STR(addr_strerror(ADDR_SOURCE_ROUTE), "source routes are not accepted");
	CHECK_STR(addr_strerror(ADDR_LOCAL_TOO_LONG), "local part longer than 64 octets");
	CHECK_STR(addr_strerror(ADDR_PATH_TOO_LONG), "address longer than 256 octets");
	CHECK_STR(addr_strerror(ADDR_BAD_UTF8), "malformed UTF-8 in address");
	CHECK_STR(addr_strerror(ADDR_BAD_IDN), "domain is not a valid IDNA2008 name");
	CHECK_STR(addr_strerror((enum addr_err)99), "bad address");
}

const struct test addr_tests[] = {
	{ "path_table", test_path_table },
	{ "make_domain", test_make_domain },
	{ "local_part_length", test_local_part_length },
	{ "label_length", test_label_length },
	{ "idn_label_length", test_idn_label_length },
	{ "domain_length", test_domain_length },
	{ "path_length", test_path_length },
	{ "parse_mailbox", test_parse_mailbox },
	{ "domain_to_ascii", test_domain_to_ascii },
	{ "idn_maps_to_ascii", test_idn_maps_to_ascii },
	{ "strerror", test_strerror },
	{ NULL, NULL },
};
