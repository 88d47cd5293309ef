/*
 * check.h -- `mtactl domain check`: does the DNS say what mail from a
 * sender domain needs (the Gmail/Yahoo bulk-sender checklist)?  Items:
 *
 *   dkim SEL   SEL._domainkey.DOMAIN TXT holds our key (k= and p=)
 *   spf        one "v=spf1" TXT at DOMAIN, passing this host's addresses
 *   dmarc      a "v=DMARC1" TXT at _dmarc.DOMAIN with a valid p=
 *   mx         DOMAIN has MX records (replies and bounces come back)
 *   ptr ADDR   each address of `hostname` has a PTR naming hostname,
 *              which resolves back to it (forward-confirmed)
 *   tls        tls_cert is valid now and names hostname
 *
 * Each gets ok, missing, wrong or unknown (a DNS failure: try again), and
 * a reason.  The record checks are pure functions of the record text (and,
 * for SPF, of lookups the caller provides), unit-tested.
 */
#ifndef MTAD_CHECK_H
#define MTAD_CHECK_H

#include <stddef.h>

#include "dns.h"
#include "domain.h"
#include "limits.h"

enum check_verdict { CHECK_OK, CHECK_MISSING, CHECK_WRONG, CHECK_UNKNOWN };

typedef void check_cb(void *ctx, const char *item, enum check_verdict v, const char *why);

const char *check_verdict_name(enum check_verdict v);

/* Run every check for `domain` (A-labels) with its keys; cb per item. */
void check_domain(const char *domain, const char *hostname, const char *tls_cert,
    const struct domain_key *keys, size_t nkeys, check_cb *cb, void *ctx);

/* ---- pure parts ---- */

/* A DKIM key record against our key (algo, base64 p=). */
enum check_verdict check_dkim_txt(const char *txt, const char *algo, const char *pub,
    char *why, size_t size);
/* A DMARC record: v=DMARC1 first, a valid p=. */
enum check_verdict check_dmarc_txt(const char *txt, char *why, size_t size);

struct check_addr {
	int family;			/* AF_INET, AF_INET6 */
	unsigned char a[16];
};

/* What SPF evaluation looks up (dns.c in mtad; tables in the tests). */
struct check_spf_env {
	enum dns_status (*txt)(void *ctx, const char *name, char (*out)[LIM_DNS_TXT + 1],
	    size_t *n);
	enum dns_status (*addrs)(void *ctx, const char *host, struct check_addr *out,
	    size_t *n);			/* at most LIM_DNS_RECORDS */
	enum dns_status (*mx)(void *ctx, const char *domain, char (*out)[LIM_DOMAIN + 1],
	    size_t *n);
	void *ctx;
	int lookups;			/* counted against LIM_SPF_LOOKUPS */
};
/* Does `domain`'s SPF record give "pass" for addr?  1 yes, 0 no (why
 * says what it gives), -1 it cannot tell (a lookup failed, or a term we
 * do not evaluate: ptr, exists, macros), -2 the record is broken (RFC
 * 7208 permerror: two records, a missing include or redirect, more than
 * 10 lookups, a loop). */
int check_spf(struct check_spf_env *env, const char *domain, const char *record,
    const struct check_addr *addr, char *why, size_t size);

#endif
