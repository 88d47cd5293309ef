/*
 * addr.h -- RFC 5321 paths and mailboxes, with RFC 6531 (SMTPUTF8) and
 * IDNA2008 domains (libidn2).  Pure: a string in, a parsed address or an
 * error out.
 *
 *   Path    = "<" Mailbox ">"  (source routes "<@a,@b:x@y>" are refused)
 *   Mailbox = Local-part "@" ( Domain / address-literal )
 *
 * The mailbox is kept as the client wrote it (UTF-8 allowed when the
 * transaction uses SMTPUTF8); `domain_ascii` is its domain lower-cased in
 * A-labels (or the address literal), used for routing and DNS.
 */
#ifndef MTAD_ADDR_H
#define MTAD_ADDR_H

#include <stddef.h>

#include "limits.h"

enum addr_err {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not a Path/Mailbox */
	ADDR_NO_BRACKETS,	/* missing "<" ... ">" */
	ADDR_SOURCE_ROUTE,	/* "<@relay:user@domain>" */
	ADDR_NULL,		/* "<>" where a mailbox is needed */
	ADDR_LOCAL_TOO_LONG,	/* > LIM_LOCAL_PART */
	ADDR_DOMAIN_TOO_LONG,	/* > LIM_DOMAIN, or a label > 63 */
	ADDR_PATH_TOO_LONG,	/* > LIM_PATH */
	ADDR_BAD_UTF8,		/* malformed UTF-8 */
	ADDR_BAD_IDN,		/* a U-label that IDNA2008 refuses */
	ADDR_BAD_LITERAL,	/* "[...]" that is not IPv4 or IPv6 */
};

struct addr {
	char mailbox[LIM_MAILBOX + 1];	   /* as given; "" for <> */
	char domain_ascii[LIM_DOMAIN + 1]; /* A-labels, lower case */
	int null;			   /* the null path <> */
	int utf8;			   /* has non-ASCII: needs SMTPUTF8 */
	int postmaster;			   /* RCPT TO:<Postmaster>, no domain */
};

/*
 * Parse a Path at the start of `s`.  `allow_null` admits "<>" (MAIL FROM);
 * "<postmaster>" without a domain is admitted when `allow_postmaster`
 * (RCPT TO, RFC 5321 4.1.1.3).  On success *end is the offset just past
 * ">".  Returns ADDR_OK or the first error met.
 */
enum addr_err addr_parse_path(const char *s, int allow_null,
    int allow_postmaster, struct addr *out, size_t *end);

/* Parse a bare mailbox "local@domain" (config, tests); the whole string. */
enum addr_err addr_parse_mailbox(const char *s, struct addr *out);

/* Convert a domain (U-labels or A-labels, no literal) to lower-case
 * A-labels.  Returns ADDR_OK, ADDR_BAD_IDN, ADDR_BAD_UTF8, ADDR_SYNTAX or
 * ADDR_DOMAIN_TOO_LONG. */
enum addr_err addr_domain_to_ascii(const char *domain, char *out, size_t size);

/* The U-label form of an A-label domain ("xn--bcher-kva.example" ->
 * "bücher.example"); a domain without A-labels is copied.  ADDR_OK,
 * ADDR_BAD_IDN or ADDR_DOMAIN_TOO_LONG. */
enum addr_err addr_domain_to_unicode(const char *domain, char *out, size_t size);

/* A short English reason, for replies and config errors. */
const char *addr_strerror(enum addr_err e);

#endif
