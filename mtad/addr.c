/*
 * addr.c -- RFC 5321 4.1.2 paths with RFC 6531 UTF-8, IDNA2008 via libidn2.
 * Grammar in addr.h; every limit from limits.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

static int
addr_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 5322 atext (ASCII part). */
static int
addr_is_atext(unsigned char c)
{
	return addr_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A UTF-8 character at p: its length, or 0 (and *err) when malformed. */
static size_t
addr_utf8(const char *p, int *utf8, enum addr_err *err)
{
	size_t n = str_utf8_len(p, strnlen(p, 4));

	if (n == 0)
		*err = ADDR_BAD_UTF8;
	else
		*utf8 = 1;
	return n;
}

/* Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE. */
static enum addr_err
addr_quoted(const char **pp, int *utf8)
{
	const unsigned char *p = (const unsigned char *)*pp + 1;
	enum addr_err err = ADDR_SYNTAX;
	size_t n;

	for (;;) {
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (p[1] < 32 || p[1] > 126)
				return ADDR_SYNTAX;
			p += 2;
		} else if (*p >= 32 && *p <= 126) {
			p++;
		} else if (*p >= 0x80) {
			if ((n = addr_utf8((const char *)p, utf8, &err)) == 0)
				return err;
			p += n;
		} else {
			return ADDR_SYNTAX;
		}
	}
	*pp = (const char *)p + 1;
	return ADDR_OK;
}

/* Dot-string: Atom *("." Atom). */
static enum addr_err
addr_dotstring(const char **pp, int *utf8)
{
	const char *p = *pp;
	enum addr_err err = ADDR_SYNTAX;
	size_t n, atom = 0;

	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (addr_is_atext(c)) {
			p++, atom++;
		} else if (c >= 0x80) {
			if ((n = addr_utf8(p, utf8, &err)) == 0)
				return err;
			p += n, atom++;
		} else if (c == '.' && atom > 0) {
			p++, atom = 0;
		} else {
			break;
		}
	}
	if (atom == 0)
		return ADDR_SYNTAX;
	*pp = p;
	return ADDR_OK;
}

/* "[IPv4]" or "[IPv6:...]"; general address literals are refused. */
static enum addr_err
addr_literal(const char **pp, char *out, size_t size)
{
	const char *p = *pp, *close = strchr(p, ']');
	char ip[64];
	unsigned char bin[16];
	size_t n;

	if (close == NULL || (n = (size_t)(close - p - 1)) >= sizeof ip)
		return ADDR_BAD_LITERAL;
	memcpy(ip, p + 1, n);
	ip[n] = '\0';
	if (str_iprefix(ip, "IPv6:")) {
		if (inet_pton(AF_INET6, ip + 5, bin) != 1)
			return ADDR_BAD_LITERAL;
	} else if (inet_pton(AF_INET, ip, bin) != 1) {
		return ADDR_BAD_LITERAL;
	}
	if (str_fmt(out, size, "[%s]", ip) < 0)
		return ADDR_DOMAIN_TOO_LONG;
	*pp = close + 1;
	return ADDR_OK;
}

/* Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]
 * or a U-label.  Only the shape is checked here; IDNA2008 comes after. */
static enum addr_err
addr_domain_shape(const char **pp, int *utf8)
{
	const char *p = *pp;
	enum addr_err err = ADDR_SYNTAX;
	size_t label = 0, n;
	char last = '.';
	int u_label = 0;	/* a U-label's length is checked as an A-label */

	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (addr_is_alnum(c) || (c == '-' && label > 0)) {
			p++, label++, last = (char)c;
		} else if (c >= 0x80) {
			if ((n = addr_utf8(p, utf8, &err)) == 0)
				return err;
			p += n, label += n, last = 'x', u_label = 1;
		} else if (c == '.' && label > 0 && last != '-') {
			p++, label = 0, last = '.', u_label = 0;
		} else {
			break;
		}
		if (label > 63 && !u_label)
			return ADDR_DOMAIN_TOO_LONG;
	}
	if (label == 0 || last == '-')
		return ADDR_SYNTAX;
	if ((size_t)(p - *pp) > LIM_DOMAIN)
		return ADDR_DOMAIN_TOO_LONG;
	*pp = p;
	return ADDR_OK;
}

enum addr_err
addr_domain_to_unicode(const char *domain, char *out, size_t size)
{
	char *u = NULL;
	enum addr_err err = ADDR_OK;

	if (idn2_to_unicode_8z8z(domain, &u, 0) != IDN2_OK)
		return ADDR_BAD_IDN;
	if (str_copy(out, size, u) < 0)
		err = ADDR_DOMAIN_TOO_LONG;
	idn2_free(u);
	return err;
}

enum addr_err
addr_domain_to_ascii(const char *domain, char *out, size_t size)
{
	char *ascii = NULL;
	const char *p = domain;
	int utf8 = 0, rc;
	enum addr_err err;

	if ((err = addr_domain_shape(&p, &utf8)) != ADDR_OK)
		return err;
	if (*p != '\0')
		return ADDR_SYNTAX;
	if (!utf8) {
		if (str_copy(out, size, domain) < 0)
			return ADDR_DOMAIN_TOO_LONG;
		str_lower(out);
		return ADDR_OK;
	}
	rc = idn2_to_ascii_8z(domain, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		return ADDR_BAD_IDN;
	/* UTS #46 mapping may change the shape (U+3002 becomes "."): the
	 * result must be a domain in its own right. */
	p = ascii;
	utf8 = 0;
	if ((err = addr_domain_shape(&p, &utf8)) == ADDR_OK && (*p != '\0' || utf8))
		err = ADDR_BAD_IDN;
	else if (err == ADDR_OK && str_copy(out, size, ascii) < 0)
		err = ADDR_DOMAIN_TOO_LONG;
	else if (err == ADDR_SYNTAX)
		err = ADDR_BAD_IDN;
	idn2_free(ascii);
	if (err == ADDR_OK)
		str_lower(out);
	return err;
}

/* Mailbox at *pp, ending at `stop` ('>' in a path, NUL when bare). */
static enum addr_err
addr_mailbox(const char **pp, char stop, int allow_postmaster, struct addr *a)
{
	const char *p = *pp, *local = p, *dom;
	char domain[LIM_DOMAIN + 1];
	enum addr_err err;
	size_t n;

	err = *p == '"' ? addr_quoted(&p, &a->utf8) : addr_dotstring(&p, &a->utf8);
	if (err != ADDR_OK)
		return err;
	if ((n = (size_t)(p - local)) > LIM_LOCAL_PART)
		return ADDR_LOCAL_TOO_LONG;
	if (*p == stop && allow_postmaster && n == 10 &&
	    str_iprefix(local, "postmaster")) {
		memcpy(a->mailbox, local, n);
		a->mailbox[n] = '\0';
		a->postmaster = 1;
		*pp = p;
		return ADDR_OK;
	}
	if (*p++ != '@')
		return ADDR_SYNTAX;
	dom = p;
	if (*p == '[') {
		if ((err = addr_literal(&p, a->domain_ascii, sizeof a->domain_ascii)) != ADDR_OK)
			return err;
	} else {
		if ((err = addr_domain_shape(&p, &a->utf8)) != ADDR_OK)
			return err;
		memcpy(domain, dom, (size_t)(p - dom));
		domain[p - dom] = '\0';
		err = addr_domain_to_ascii(domain, a->domain_ascii, sizeof a->domain_ascii);
		if (err != ADDR_OK)
			return err;
	}
	if (*p != stop)
		return ADDR_SYNTAX;
	memcpy(a->mailbox, local, (size_t)(p - local));
	a->mailbox[p - local] = '\0';
	*pp = p;
	return ADDR_OK;
}

enum addr_err
addr_parse_path(const char *s, int allow_null, int allow_postmaster,
    struct addr *out, size_t *end)
{
	const char *p = s;
	enum addr_err err;

	memset(out, 0, sizeof *out);
	if (*p != '<')
		return ADDR_NO_BRACKETS;
	p++;
	if (*p == '>') {
		if (!allow_null)
			return ADDR_NULL;
		out->null = 1;
		*end = 2;
		return ADDR_OK;
	}
	if (*p == '@')
		return ADDR_SOURCE_ROUTE;
	if ((err = addr_mailbox(&p, '>', allow_postmaster, out)) != ADDR_OK)
		return err;
	if ((size_t)(p + 1 - s) > LIM_PATH)
		return ADDR_PATH_TOO_LONG;
	*end = (size_t)(p + 1 - s);
	return ADDR_OK;
}

enum addr_err
addr_parse_mailbox(const char *s, struct addr *out)
{
	const char *p = s;

	memset(out, 0, sizeof *out);
	return addr_mailbox(&p, '\0', 0, out);
}

const char *
addr_strerror(enum addr_err e)
{
	switch (e) {
	case ADDR_OK:
		return "ok";
	case ADDR_SYNTAX:
		return "bad address syntax";
	case ADDR_NO_BRACKETS:
		return "address must be enclosed in <>";
	case ADDR_SOURCE_ROUTE:
		return "source routes are not accepted";
	case ADDR_NULL:
		return "null address not allowed here";
	case ADDR_LOCAL_TOO_LONG:
		return "local part longer than 64 octets";
	case ADDR_DOMAIN_TOO_LONG:
		return "domain name too long";
	case ADDR_PATH_TOO_LONG:
		return "address longer than 256 octets";
	case ADDR_BAD_UTF8:
		return "malformed UTF-8 in address";
	case ADDR_BAD_IDN:
		return "domain is not a valid IDNA2008 name";
	case ADDR_BAD_LITERAL:
		return "bad address literal";
	}
	return "bad address";
}
