/*
 * dns.c -- where mail for a domain goes: MX, then AAAA and A, via
 * libunbound (contract in dns.h).  The only file that includes unbound.h.
 *
 * One ub_ctx is shared by every thread; ub_resolve() does the work in the
 * calling thread with the context's shared cache.  Status mapping of one
 * query:
 *   ub_resolve error, DNSSEC bogus, SERVFAIL, any other rcode -> TEMPFAIL
 *   NXDOMAIN                                                 -> NXDOMAIN
 *   NOERROR without records of the asked type                -> NODATA
 * MX rdata is decoded here (dns_mx_parse), not by libunbound.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unbound.h>

#include "log.h"
#include "str.h"
#include "xalloc.h"

#define DNS_T_A		1
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_C_IN	1
/* Wire form of a name: at most 255 octets, labels of at most 63. */
#define DNS_WIRE_NAME	255
#define DNS_WIRE_LABEL	63

/* Set by dns_init before any worker starts, cleared by dns_shutdown after
 * they all stopped; read-only in between. */
static struct ub_ctx *dns_ctx;

/* `why` is optional everywhere: a message that does not fit is cut. */
static void dns_why(char *why, size_t whysize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dns_why(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysize == 0)
		return;
	va_start(ap, fmt);
	(void)str_vfmt(why, whysize, fmt, ap);
	va_end(ap);
}

/* ---- the shared context ---- */

int
dns_init(const char *resolver, char *err, size_t errsize)
{
	struct ub_ctx *ctx;
	int r;

	if (dns_ctx != NULL) {
		dns_why(err, errsize, "resolver already initialised");
		return -1;
	}
	if ((ctx = ub_ctx_create()) == NULL) {
		dns_why(err, errsize, "cannot create the resolver context");
		return -1;
	}
	/* A forwarder on 127.0.0.1 (test server, local cache, systemd's
	 * 127.0.0.53 in resolv.conf) is refused unless this is off. */
	if ((r = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0) {
		dns_why(err, errsize, "resolver option: %s", ub_strerror(r));
	} else if (resolver != NULL && resolver[0] != '\0') {
		if ((r = ub_ctx_set_fwd(ctx, resolver)) != 0)
			dns_why(err, errsize, "resolver %s: %s", resolver, ub_strerror(r));
	} else if ((r = ub_ctx_resolvconf(ctx, NULL)) != 0) {
		dns_why(err, errsize, "/etc/resolv.conf: %s", ub_strerror(r));
	} else if ((r = ub_ctx_hosts(ctx, NULL)) != 0) {
		dns_why(err, errsize, "/etc/hosts: %s", ub_strerror(r));
	}
	if (r != 0) {
		ub_ctx_delete(ctx);
		return -1;
	}
	dns_ctx = ctx;
	return 0;
}

void
dns_shutdown(void)
{
	if (dns_ctx != NULL)
		ub_ctx_delete(dns_ctx);
	dns_ctx = NULL;
}

/* ---- pure helpers ---- */

/* Host name octets we accept in an MX target: LDH, and '_' seen in the
 * wild.  Anything else ('.', NUL, controls, spaces) is a malformed name. */
static int
dns_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * MX rdata (RFC 1035 3.3.9), as libunbound hands it over:
 *   PREFERENCE  2 octets, network order
 *   EXCHANGE    labels: 1 length octet (1..63) + that many octets, ending
 *               with the root label (one zero octet); 255 octets at most.
 * Length octets with the top bits set (compression pointers 0xC0, the
 * obsolete 0x40/0x80 label types) are rejected, and so are bytes after the
 * root label.  The host comes out in lower case, dotted, without the final
 * dot ("" for the root, i.e. a null MX).
 */
int
dns_mx_parse(const unsigned char *rdata, size_t len, struct dns_mx *out)
{
	size_t p = 2, o = 0, l, i;

	out->pref = 0;
	out->host[0] = '\0';
	if (rdata == NULL || len < 3 || len - 2 > DNS_WIRE_NAME)
		return -1;
	while ((l = rdata[p++]) != 0) {
		if (l > DNS_WIRE_LABEL || p + l >= len || o + l + 1 >= sizeof out->host)
			goto bad;
		if (o > 0)
			out->host[o++] = '.';
		for (i = 0; i < l; i++) {
			unsigned char c = rdata[p + i];

			if (!dns_host_char(c))
				goto bad;
			out->host[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		p += l;
	}
	if (p != len)
		goto bad;
	out->host[o] = '\0';
	out->pref = (unsigned)rdata[0] << 8 | rdata[1];
	return 0;
bad:
	out->host[0] = '\0';
	return -1;
}

struct dns_sortkey {
	unsigned pref;
	size_t idx;
};

static int
dns_sortkey_cmp(const void *a, const void *b)
{
	const struct dns_sortkey *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Stable sort by preference (qsort on (pref, position)), then a
 * Fisher-Yates shuffle of each run of equal preferences with rnd(ctx);
 * rnd NULL keeps the stable order. */
void
dns_mx_sort(struct dns_mx *v, size_t n, uint32_t (*rnd)(void *), void *ctx)
{
	struct dns_sortkey *key;
	struct dns_mx *copy, tmp;
	size_t i, j, k, run;

	if (n < 2)
		return;
	key = xcalloc(n, sizeof *key);
	copy = xmemdup(v, n * sizeof *v);
	for (i = 0; i < n; i++) {
		key[i].pref = v[i].pref;
		key[i].idx = i;
	}
	qsort(key, n, sizeof *key, dns_sortkey_cmp);
	for (i = 0; i < n; i++)
		v[i] = copy[key[i].idx];
	free(copy);
	free(key);
	for (i = 0; rnd != NULL && i < n; i += run) {
		for (run = 1; i + run < n && v[i + run].pref == v[i].pref; run++)
			;
		for (k = run - 1; k > 0; k--) {
			j = rnd(ctx) % (k + 1);
			tmp = v[i + k];
			v[i + k] = v[i + j];
			v[i + j] = tmp;
		}
	}
}

/* RFC 7505: one MX whose exchange is the root.  The RFC writes it with
 * preference 0; any preference is taken as the same statement, since "."
 * can never be delivered to. */
int
dns_mx_is_null(const struct dns_mx *v, size_t n)
{
	return n == 1 && v[0].host[0] == '\0';
}

/* Production rnd for dns_mx_sort: per-thread xorshift64*, seeded from
 * getrandom(2) (time and address when that fails). */
static uint32_t
dns_rnd(void *unused)
{
	static _Thread_local uint64_t s;

	(void)unused;
	if (s == 0) {
		if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
			s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
		s |= 1;
	}
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (uint32_t)((s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ---- names and literals ---- */

/* A query name: lower case, without the final dot, 1..253 octets of
 * letters, digits, '-', '_' in non-empty labels.  0, or -1 when it cannot
 * be a host or domain name. */
static int
dns_name(const char *in, char *out, size_t outsize)
{
	size_t n, i;

	if (str_copy(out, outsize, in) != 0)
		return -1;
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[--n] = '\0';
	if (n == 0 || n > DNS_WIRE_NAME - 2 || out[0] == '.' || strstr(out, "..") != NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (out[i] != '.' && !dns_host_char((unsigned char)out[i]))
			return -1;
	str_lower(out);
	return 0;
}

/* An IP literal: "192.0.2.1", "2001:db8::1", or the same in brackets, with
 * or without the RFC 5321 "IPv6:" tag.  Fills family, addr and the bare
 * text; returns 1, or 0 when `s` is not one. */
static int
dns_literal(const char *s, int *family, unsigned char addr[16], char *text, size_t textsize)
{
	char buf[LIM_DOMAIN + 1];
	size_t n = strlen(s);
	const char *p = buf;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof buf)
			return 0;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		p += str_iprefix(buf, "IPv6:");
	} else if (str_copy(buf, sizeof buf, s) != 0) {
		return 0;
	}
	if (p == buf && inet_pton(AF_INET, p, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, p, addr) == 1)
		*family = AF_INET6;
	else
		return 0;
	return str_copy(text, textsize, p) == 0;
}

/* ---- targets ---- */

/* The address bytes inside a target's sockaddr (4 or 16 of them). */
static const void *
dns_target_addr(const struct dns_target *t)
{
	if (t->addr.ss_family == AF_INET6)
		return &((const struct sockaddr_in6 *)&t->addr)->sin6_addr;
	return &((const struct sockaddr_in *)&t->addr)->sin_addr;
}

/* Append one address unless it is a duplicate, unspecified (0.0.0.0, ::
 * mean "this host"), or the list is full.  1 when added, else 0. */
static int
dns_add(struct dns_targets *out, const char *host, unsigned pref, int family,
    const void *addr, unsigned port)
{
	size_t alen = family == AF_INET6 ? 16 : 4, i;
	static const unsigned char zero[16];
	struct dns_target *t;

	if (out->n >= LIM_DNS_TARGETS || memcmp(addr, zero, alen) == 0)
		return 0;
	for (i = 0; i < out->n; i++)
		if (out->v[i].addr.ss_family == family &&
		    memcmp(dns_target_addr(&out->v[i]), addr, alen) == 0)
			return 0;
	t = &out->v[out->n];
	memset(t, 0, sizeof *t);
	(void)str_copy(t->host, sizeof t->host, host);
	t->pref = pref;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addr;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, addr, 16);
		t->addrlen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addr;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, addr, 4);
		t->addrlen = sizeof *s4;
	}
	if (inet_ntop(family, addr, t->ip, sizeof t->ip) == NULL)
		(void)str_copy(t->ip, sizeof t->ip, "?");
	out->n++;
	return 1;
}

/* ---- queries ---- */

/* "SERVFAIL", or "rcode N" in buf for the rare ones. */
static const char *
dns_rcode_name(int rcode, char *buf, size_t size)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	};

	if (rcode >= 0 && (size_t)rcode < sizeof names / sizeof names[0])
		return names[rcode];
	(void)str_fmt(buf, size, "rcode %d", rcode);
	return buf;
}

/*
 * One lookup of `name` (already checked by dns_name).  DNS_OK leaves the
 * answer (at least one record) in *res for the caller to ub_resolve_free;
 * every other status sets why and leaves *res NULL.
 */
static enum dns_status
dns_query(const char *name, int type, const char *tname, struct ub_result **res,
    char *why, size_t whysize)
{
	struct ub_result *r = NULL;
	enum dns_status st = DNS_TEMPFAIL;
	char rbuf[32];
	int e;

	*res = NULL;
	if (dns_ctx == NULL) {
		dns_why(why, whysize, "%s lookup for %s: resolver not initialised", tname, name);
		return DNS_TEMPFAIL;
	}
	if ((e = ub_resolve(dns_ctx, name, type, DNS_C_IN, &r)) != 0) {
		dns_why(why, whysize, "%s lookup for %s: %s", tname, name, ub_strerror(e));
		return e == UB_SYNTAX ? DNS_NXDOMAIN : DNS_TEMPFAIL;
	}
	if (r->bogus) {
		dns_why(why, whysize, "%s lookup for %s: DNSSEC validation failed (%s)", tname,
		    name, r->why_bogus ? r->why_bogus : "bogus");
	} else if (r->rcode == 3 || r->nxdomain) {
		st = DNS_NXDOMAIN;
		dns_why(why, whysize, "%s: domain does not exist (NXDOMAIN)", name);
	} else if (r->rcode != 0) {
		dns_why(why, whysize, "%s lookup for %s: %s", tname, name,
		    dns_rcode_name(r->rcode, rbuf, sizeof rbuf));
	} else if (!r->havedata || r->data == NULL || r->data[0] == NULL) {
		st = DNS_NODATA;
		dns_why(why, whysize, "%s lookup for %s: no %s record", tname, name, tname);
	} else {
		st = DNS_OK;
	}
	if (st == DNS_OK)
		*res = r;
	else
		ub_resolve_free(r);
	return st;
}

/* Add up to LIM_DNS_ADDRS_PER_HOST addresses of one family for `host`;
 * *added counts them. */
static enum dns_status
dns_host_family(const char *host, unsigned pref, unsigned port, int family,
    struct dns_targets *out, size_t *added, char *why, size_t whysize)
{
	int type = family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
	int alen = family == AF_INET6 ? 16 : 4;
	struct ub_result *r;
	enum dns_status st;
	size_t i, got = 0;

	st = dns_query(host, type, family == AF_INET6 ? "AAAA" : "A", &r, why, whysize);
	if (st != DNS_OK)
		return st;
	for (i = 0; r->data[i] != NULL && got < LIM_DNS_ADDRS_PER_HOST; i++)
		if (r->len[i] == alen)
			got += (size_t)dns_add(out, host, pref, family, r->data[i], port);
	ub_resolve_free(r);
	*added += got;
	return DNS_OK;
}

/*
 * The addresses of one host (an MX host, or the domain as implicit MX):
 * IPv6 first, then IPv4, LIM_DNS_ADDRS_PER_HOST of each family (so a host
 * with many AAAA still offers IPv4 to an IPv4-only sender).  DNS_OK when
 * at least one was added; else the most telling failure: TEMPFAIL before
 * NXDOMAIN before NODATA.
 */
static enum dns_status
dns_host(const char *host, unsigned pref, unsigned port, struct dns_targets *out,
    char *why, size_t whysize)
{
	char why4[256];
	enum dns_status s6, s4;
	size_t added = 0;

	s6 = dns_host_family(host, pref, port, AF_INET6, out, &added, why, whysize);
	if (s6 == DNS_NXDOMAIN)		/* no such name: no A either */
		return DNS_NXDOMAIN;
	if (out->n >= LIM_DNS_TARGETS)
		return DNS_OK;
	s4 = dns_host_family(host, pref, port, AF_INET, out, &added, why4, sizeof why4);
	if (added > 0)
		return DNS_OK;
	if (s4 == DNS_TEMPFAIL || s4 == DNS_NXDOMAIN) {
		dns_why(why, whysize, "%s", why4);
		return s4;
	}
	if (s6 == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	dns_why(why, whysize, "%s: no address (AAAA or A)", host);
	return DNS_NODATA;
}

static void
dns_check_port(unsigned port)
{
	if (port == 0 || port > 65535)
		fatalx("dns: port %u out of range", port);
}

enum dns_status
dns_route_host(const char *host, unsigned port, struct dns_targets *out, char *why,
    size_t whysize)
{
	char name[LIM_DOMAIN + 1];
	unsigned char addr[16];
	int family;

	dns_check_port(port);
	out->n = 0;
	if (dns_literal(host, &family, addr, name, sizeof name)) {
		if (dns_add(out, name, 0, family, addr, port))
			return DNS_OK;
		dns_why(why, whysize, "%s: not a usable address", name);
		return DNS_NODATA;
	}
	if (host[0] == '[' || dns_name(host, name, sizeof name) != 0) {
		dns_why(why, whysize, "\"%.64s\": not a valid host name or address", host);
		return DNS_NXDOMAIN;
	}
	return dns_host(name, 0, port, out, why, whysize);
}

/* The usable MX records of an answer, sorted; malformed ones are skipped.
 * Returns the count; *vp is the caller's to free. */
static size_t
dns_mx_collect(const struct ub_result *r, struct dns_mx **vp)
{
	struct dns_mx *v;
	size_t i, n = 0, count = 0;

	while (r->data[count] != NULL)
		count++;
	v = xcalloc(count, sizeof *v);
	for (i = 0; i < count; i++)
		if (r->len[i] >= 0 &&
		    dns_mx_parse((const unsigned char *)r->data[i], (size_t)r->len[i], &v[n]) == 0)
			n++;
	dns_mx_sort(v, n, dns_rnd, NULL);
	*vp = v;
	return n;
}

/*
 * Resolve the sorted MX hosts in turn until the targets are full, trying
 * at most LIM_DNS_TARGETS hosts.  Exchanges "." among real hosts break
 * RFC 7505 and are skipped; if nothing else is there, it is a null MX.
 */
static enum dns_status
dns_mx_hosts(const char *domain, const struct dns_mx *mx, size_t n, unsigned port,
    struct dns_targets *out, char *why, size_t whysize)
{
	char last[256] = "";
	size_t i, tried = 0;

	for (i = 0; i < n && tried < LIM_DNS_TARGETS && out->n < LIM_DNS_TARGETS; i++) {
		if (mx[i].host[0] == '\0')
			continue;
		tried++;
		(void)dns_host(mx[i].host, mx[i].pref, port, out, last, sizeof last);
	}
	if (out->n > 0)
		return DNS_OK;
	if (tried == 0) {
		dns_why(why, whysize, "%s: null MX (RFC 7505): accepts no mail", domain);
		return DNS_NULLMX;
	}
	dns_why(why, whysize, "%s: no MX host has an address (%s)", domain, last);
	return DNS_TEMPFAIL;
}

enum dns_status
dns_route_mx(const char *domain, unsigned port, struct dns_targets *out, char *why,
    size_t whysize)
{
	char name[LIM_DOMAIN + 1];
	struct ub_result *r;
	struct dns_mx *mx;
	enum dns_status st;
	size_t n;

	dns_check_port(port);
	out->n = 0;
	if (domain[0] == '[')		/* address literal: no DNS */
		return dns_route_host(domain, port, out, why, whysize);
	if (dns_name(domain, name, sizeof name) != 0) {
		dns_why(why, whysize, "\"%.64s\": not a valid domain name", domain);
		return DNS_NXDOMAIN;
	}
	st = dns_query(name, DNS_T_MX, "MX", &r, why, whysize);
	if (st == DNS_NODATA) {		/* RFC 5321 5.1: implicit MX */
		st = dns_host(name, 0, port, out, why, whysize);
		if (st == DNS_NODATA)
			dns_why(why, whysize, "%s: no MX and no address (A/AAAA) record", name);
		return st;
	}
	if (st != DNS_OK)
		return st;
	n = dns_mx_collect(r, &mx);
	ub_resolve_free(r);
	if (n == 0) {
		dns_why(why, whysize, "MX lookup for %s: no well-formed MX record", name);
		st = DNS_TEMPFAIL;
	} else if (dns_mx_is_null(mx, n)) {
		dns_why(why, whysize, "%s: null MX (RFC 7505): accepts no mail", name);
		st = DNS_NULLMX;
	} else {
		st = dns_mx_hosts(name, mx, n, port, out, why, whysize);
	}
	free(mx);
	return st;
}

/* ---- lookups for domain check ---- */

/* dns_query of a name that dns_name must accept first. */
static enum dns_status
dns_lookup(const char *name, int type, const char *tname, struct ub_result **r, char *why,
    size_t whysize)
{
	char q[LIM_DOMAIN + 1];

	*r = NULL;
	if (dns_name(name, q, sizeof q) != 0) {
		dns_why(why, whysize, "\"%.64s\": not a valid domain name", name);
		return DNS_NXDOMAIN;
	}
	return dns_query(q, type, tname, r, why, whysize);
}

enum dns_status
dns_txt(const char *name, char (*out)[LIM_DNS_TXT + 1], size_t *n, char *why,
    size_t whysize)
{
	struct ub_result *r;
	enum dns_status st;
	size_t i;

	*n = 0;
	if ((st = dns_lookup(name, DNS_T_TXT, "TXT", &r, why, whysize)) != DNS_OK)
		return st;
	for (i = 0; r->data[i] != NULL && *n < LIM_DNS_RECORDS; i++) {
		const unsigned char *d = (const unsigned char *)r->data[i];
		size_t len = (size_t)r->len[i], p = 0, o = 0;

		while (p < len) {	/* <length><octets>, joined */
			size_t l = d[p++];

			if (l > len - p)
				l = len - p;
			if (o + l > LIM_DNS_TXT)
				l = LIM_DNS_TXT - o;
			memcpy(out[*n] + o, d + p, l);
			o += l;
			p += l;
		}
		out[(*n)++][o] = '\0';
	}
	ub_resolve_free(r);
	return DNS_OK;
}

enum dns_status
dns_mx(const char *domain, struct dns_mx *out, size_t *n, char *why, size_t whysize)
{
	struct ub_result *r;
	enum dns_status st;
	size_t i;

	*n = 0;
	if ((st = dns_lookup(domain, DNS_T_MX, "MX", &r, why, whysize)) != DNS_OK)
		return st;
	for (i = 0; r->data[i] != NULL && *n < LIM_DNS_RECORDS; i++)
		if (dns_mx_parse((const unsigned char *)r->data[i], (size_t)r->len[i],
		    &out[*n]) == 0)
			(*n)++;
	ub_resolve_free(r);
	return DNS_OK;
}

/* "4.3.2.1.in-addr.arpa", or the nibbles of ip6.arpa. */
static void
dns_reverse_name(int family, const unsigned char *a, char *out, size_t size)
{
	size_t o = 0;
	int i;

	out[0] = '\0';
	if (family == AF_INET) {
		(void)str_fmt(out, size, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return;
	}
	for (i = 15; i >= 0 && o + 4 < size; i--) {
		(void)str_fmt(out + o, size - o, "%x.%x.", a[i] & 0xf, a[i] >> 4);
		o += 4;
	}
	(void)str_fmt(out + o, size - o, "ip6.arpa");
}

enum dns_status
dns_ptr(int family, const unsigned char *addr, char (*out)[LIM_DOMAIN + 1], size_t *n,
    char *why, size_t whysize)
{
	char q[128];
	unsigned char rd[DNS_WIRE_NAME + 3];
	struct ub_result *r;
	struct dns_mx name;
	enum dns_status st;
	size_t i;

	*n = 0;
	dns_reverse_name(family, addr, q, sizeof q);
	if ((st = dns_query(q, DNS_T_PTR, "PTR", &r, why, whysize)) != DNS_OK)
		return st;
	for (i = 0; r->data[i] != NULL && *n < LIM_DNS_RECORDS; i++) {
		size_t len = (size_t)r->len[i];

		if (len > DNS_WIRE_NAME)	/* a name, parsed as an MX without its preference */
			continue;
		rd[0] = rd[1] = 0;
		memcpy(rd + 2, r->data[i], len);
		if (dns_mx_parse(rd, len + 2, &name) == 0 &&
		    str_copy(out[*n], LIM_DOMAIN + 1, name.host) == 0)
			(*n)++;
	}
	ub_resolve_free(r);
	return DNS_OK;
}
