/*
 * dns.h -- where mail for a domain goes: MX, then A/AAAA, via libunbound.
 *
 * One resolver context is shared by all delivery workers (libunbound locks
 * it; ub_resolve blocks the calling thread).  `resolver IP@PORT` forwards
 * every query there; otherwise the system's /etc/resolv.conf is used.
 *
 * dns_route_mx() gives the delivery candidates for a domain, in order:
 *   - MX hosts by preference, equal preferences shuffled (RFC 5321 5.1);
 *   - no MX at all (NOERROR/NODATA): the domain itself (implicit MX);
 *   - null MX, a single "0 ." (RFC 7505): DNS_NULLMX, a permanent failure;
 *   - NXDOMAIN for the domain: DNS_NXDOMAIN, permanent;
 *   - no address at all for an existing domain with no MX: DNS_NODATA,
 *     permanent;
 *   - SERVFAIL, timeout, or MX hosts none of which resolves: DNS_TEMPFAIL.
 * Each host contributes its IPv6 addresses, then its IPv4 addresses, at
 * most LIM_DNS_ADDRS_PER_HOST each; at most LIM_DNS_TARGETS in all.
 * Names are A-labels (the caller converts IDN with addr_domain_to_ascii).
 */
#ifndef MTAD_DNS_H
#define MTAD_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "limits.h"

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,	/* the domain does not exist: permanent */
	DNS_NODATA,	/* exists, but no MX and no address: permanent */
	DNS_NULLMX,	/* RFC 7505 "MX 0 .": accepts no mail: permanent */
	DNS_TEMPFAIL,	/* SERVFAIL, timeout, network: try again later */
};

/* One address to try: the MX host name it came from and where to connect. */
struct dns_target {
	char host[LIM_DOMAIN + 1];	/* MX host (or the domain), A-labels */
	unsigned pref;			/* MX preference (0 for implicit/route) */
	struct sockaddr_storage addr;	/* with the port set */
	socklen_t addrlen;
	char ip[64];			/* printable address, for logs */
};

struct dns_targets {
	struct dns_target v[LIM_DNS_TARGETS];
	size_t n;
};

/* Create the shared context.  `resolver` is "" (system resolv.conf) or
 * "IP@PORT" as conf.c stores it.  Options are set before the first query.
 * Returns 0, or -1 with a reason in err. */
int dns_init(const char *resolver, char *err, size_t errsize);
void dns_shutdown(void);

/* Candidates for mail to `domain` via its MX hosts on `port`.  On any
 * status but DNS_OK, `why` says what failed ("MX lookup for x: SERVFAIL"). */
enum dns_status dns_route_mx(const char *domain, unsigned port,
    struct dns_targets *out, char *why, size_t whysize);

/* Candidates for a named host or an IP literal (a `route` next hop). */
enum dns_status dns_route_host(const char *host, unsigned port,
    struct dns_targets *out, char *why, size_t whysize);

/* ---- lookups for `domain check` ---- */

struct dns_mx;

/* The TXT records of `name`, each record's strings joined (cut at
 * LIM_DNS_TXT), at most LIM_DNS_RECORDS; *n of them. */
enum dns_status dns_txt(const char *name, char (*out)[LIM_DNS_TXT + 1], size_t *n,
    char *why, size_t whysize);
/* The MX records of `domain` (not resolved), at most LIM_DNS_RECORDS. */
enum dns_status dns_mx(const char *domain, struct dns_mx *out, size_t *n, char *why,
    size_t whysize);
/* The names of an address (AF_INET 4 bytes, AF_INET6 16): PTR records. */
enum dns_status dns_ptr(int family, const unsigned char *addr,
    char (*out)[LIM_DOMAIN + 1], size_t *n, char *why, size_t whysize);

/* ---- pure helpers, exposed for unit tests ---- */

struct dns_mx {
	unsigned pref;
	char host[LIM_DOMAIN + 1];	/* without the final dot; "" for "." */
};

/* Decode one MX rdata (wire format: 16-bit preference, then an
 * uncompressed domain name, as libunbound returns it).  0 or -1. */
int dns_mx_parse(const unsigned char *rdata, size_t len, struct dns_mx *out);
/* Sort by preference; equal preferences in random order from rnd(). */
void dns_mx_sort(struct dns_mx *v, size_t n, uint32_t (*rnd)(void *), void *ctx);
/* Is this MX set a null MX (exactly one record, host "")? */
int dns_mx_is_null(const struct dns_mx *v, size_t n);

#endif
