/* check.c -- is a sender domain's DNS right? (see check.h) */
#include "check.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "str.h"

const char *
check_verdict_name(enum check_verdict v)
{
	static const char *const n[] = { "ok", "missing", "wrong", "unknown" };

	return (unsigned)v < 4 ? n[v] : "unknown";
}

/* The value of `tag` in a "t=v; t=v" record, blanks removed; 1 found. */
static int
check_tag(const char *rec, const char *tag, char *out, size_t size)
{
	const char *p = rec;
	size_t tl = strlen(tag);

	while (*p) {
		const char *end = strchr(p, ';'), *eq;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) >= tl && strncasecmp(p, tag, tl) == 0 &&
		    strspn(p + tl, " \t") == (size_t)(eq - p - (long)tl)) {
			size_t o = 0;

			for (eq++; eq < end && o + 1 < size; eq++)
				if (*eq != ' ' && *eq != '\t' && *eq != '\r' && *eq != '\n')
					out[o++] = *eq;
			out[o] = '\0';
			return 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

enum check_verdict
check_dkim_txt(const char *txt, const char *algo, const char *pub, char *why, size_t size)
{
	char v[32], k[32], p[LIM_DNS_TXT + 1] = "";
	const char *want = strcmp(algo, "ed25519-sha256") == 0 ? "ed25519" : "rsa";

	if (check_tag(txt, "v", v, sizeof v) && strcmp(v, "DKIM1") != 0) {
		(void)str_fmt(why, size, "v=%s, not DKIM1", v);
		return CHECK_WRONG;
	}
	if (!check_tag(txt, "k", k, sizeof k))
		(void)str_copy(k, sizeof k, "rsa");	/* RFC 6376 3.6.1: the default */
	if (strcasecmp(k, want) != 0) {
		(void)str_fmt(why, size, "k=%s, our key is %s", k, want);
		return CHECK_WRONG;
	}
	if (!check_tag(txt, "p", p, sizeof p)) {
		(void)str_copy(why, size, "no p=");
		return CHECK_WRONG;
	}
	if (p[0] == '\0') {
		(void)str_copy(why, size, "p= is empty: the key is revoked");
		return CHECK_WRONG;
	}
	if (strcmp(p, pub) != 0) {
		(void)str_copy(why, size, "p= is not our key (an old one? see mtactl domain dns)");
		return CHECK_WRONG;
	}
	(void)str_copy(why, size, "published, our key");
	return CHECK_OK;
}

enum check_verdict
check_dmarc_txt(const char *txt, char *why, size_t size)
{
	char p[32];

	if (strncasecmp(txt, "v=DMARC1", 8) != 0 || (txt[8] && txt[8] != ';' && txt[8] != ' ')) {
		(void)str_copy(why, size, "does not begin with v=DMARC1");
		return CHECK_WRONG;
	}
	if (!check_tag(txt, "p", p, sizeof p)) {
		(void)str_copy(why, size, "no p= (none, quarantine or reject)");
		return CHECK_WRONG;
	}
	if (strcasecmp(p, "none") == 0)
		(void)str_copy(why, size, "p=none: reports only; move to quarantine, then reject");
	else if (strcasecmp(p, "quarantine") == 0 || strcasecmp(p, "reject") == 0)
		(void)str_fmt(why, size, "p=%s; our d= is the From: domain, so it aligns", p);
	else {
		(void)str_fmt(why, size, "p=%s: not none, quarantine or reject", p);
		return CHECK_WRONG;
	}
	return CHECK_OK;
}

/* ---- SPF (RFC 7208), as far as a check needs ---- */

/* Do the first `bits` bits of a and b agree? */
static int
check_prefix(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* SPF outcomes besides pass (1) and no pass (0): the DNS or a term we do
 * not evaluate leaves it open; the record itself is broken (RFC 7208
 * permerror). */
#define SPF_TEMP (-1)
#define SPF_PERM (-2)

/* The one "v=spf1" record of `domain`: 1, 0 none, SPF_TEMP, SPF_PERM. */
static int
check_spf_record(struct check_spf_env *env, const char *domain, char *out, size_t size,
    char *why, size_t whysize)
{
	char (*txt)[LIM_DNS_TXT + 1] = malloc(LIM_DNS_RECORDS * sizeof *txt);
	enum dns_status st;
	size_t n = 0, i;
	int found = 0;

	if (txt == NULL)
		return SPF_TEMP;
	if ((st = env->txt(env->ctx, domain, txt, &n)) == DNS_TEMPFAIL) {
		(void)str_fmt(why, whysize, "TXT lookup for %s failed", domain);
		found = SPF_TEMP;
	}
	for (i = 0; st == DNS_OK && i < n; i++)
		if (strncasecmp(txt[i], "v=spf1", 6) == 0 && (txt[i][6] == ' ' || !txt[i][6])) {
			(void)str_copy(out, size, txt[i]);
			found++;
		}
	if (found > 1) {
		(void)str_fmt(why, whysize, "%s has %d SPF records (a permanent error)", domain,
		    found);
		found = SPF_PERM;
	}
	free(txt);
	return found;
}

/* Does an address of `host` fall in addr's /c4 or /c6? 1, 0, SPF_TEMP. */
static int
check_spf_host(struct check_spf_env *env, const char *host, const struct check_addr *addr,
    int c4, int c6, char *why, size_t size)
{
	struct check_addr a[LIM_DNS_RECORDS];
	size_t n = 0, i;
	enum dns_status st = env->addrs(env->ctx, host, a, &n);

	if (st == DNS_TEMPFAIL) {
		(void)str_fmt(why, size, "address lookup for %s failed", host);
		return SPF_TEMP;
	}
	for (i = 0; st == DNS_OK && i < n; i++)
		if (a[i].family == addr->family && check_prefix(a[i].a, addr->a,
		    addr->family == AF_INET ? c4 : c6))
			return 1;
	return 0;
}

static int check_spf_eval(struct check_spf_env *env, const char *domain, const char *record,
    const struct check_addr *addr, int depth, char *why, size_t size);

/* One mechanism (qualifier stripped): 1 matches, 0 not, SPF_TEMP, SPF_PERM. */
static int
check_spf_mech(struct check_spf_env *env, const char *domain, char *m,
    const struct check_addr *addr, int depth, char *why, size_t size)
{
	char *arg = strchr(m, ':'), *slash, rec[LIM_DNS_TXT + 1];
	int c4 = 32, c6 = 128, rc = 0;

	if (arg != NULL)
		*arg++ = '\0';
	if ((slash = strchr(arg ? arg : m, '/')) != NULL) {
		*slash++ = '\0';
		if (strcasecmp(m, "ip6") == 0)		/* ip6:net/c6 */
			c6 = atoi(slash);
		else if (*slash != '/')			/* ip4:net/c4, a/c4//c6 */
			c4 = atoi(slash);
		if (strstr(slash, "//") != NULL)
			c6 = atoi(strstr(slash, "//") + 2);
	}
	if (c4 < 0 || c4 > 32 || c6 < 0 || c6 > 128)
		return 0;			/* malformed: no match */
	if (strcasecmp(m, "all") == 0)
		return 1;
	if (strcasecmp(m, "ip4") == 0 || strcasecmp(m, "ip6") == 0) {
		struct check_addr net = { m[2] == '4' ? AF_INET : AF_INET6, { 0 } };

		if (arg == NULL || inet_pton(net.family, arg, net.a) != 1)
			return 0;	/* malformed: no match */
		return net.family == addr->family && check_prefix(net.a, addr->a,
		    net.family == AF_INET ? c4 : c6);
	}
	if (strcasecmp(m, "a") != 0 && strcasecmp(m, "mx") != 0 && strcasecmp(m, "include") != 0) {
		(void)str_fmt(why, size, "SPF term \"%s\" is not evaluated here", m);
		return SPF_TEMP;	/* ptr, exists */
	}
	if (++env->lookups > LIM_SPF_LOOKUPS) {
		(void)str_copy(why, size, "more than 10 SPF DNS lookups (a permanent error)");
		return SPF_PERM;
	}
	if (strcasecmp(m, "a") == 0)
		return check_spf_host(env, arg ? arg : domain, addr, c4, c6, why, size);
	if (strcasecmp(m, "include") == 0) {
		if (arg == NULL || (rc = check_spf_record(env, arg, rec, sizeof rec, why, size)) <= 0) {
			if (rc == 0 || arg == NULL)
				(void)str_fmt(why, size, "include:%s has no SPF record (a permanent "
				    "error)", arg ? arg : "");
			return rc < 0 ? rc : SPF_PERM;
		}
		rc = check_spf_eval(env, arg, rec, addr, depth + 1, why, size);
		return rc < 0 ? rc : rc == 1;
	} else {
		char (*mx)[LIM_DOMAIN + 1] = malloc(LIM_DNS_RECORDS * sizeof *mx);
		size_t n = 0, i;
		enum dns_status st;

		if (mx == NULL)
			return SPF_TEMP;
		st = env->mx(env->ctx, arg ? arg : domain, mx, &n);
		if (st == DNS_TEMPFAIL)
			(void)str_fmt(why, size, "MX lookup for %s failed", arg ? arg : domain);
		for (rc = st == DNS_TEMPFAIL ? SPF_TEMP : 0, i = 0; rc == 0 && st == DNS_OK &&
		    i < n; i++)
			rc = check_spf_host(env, mx[i], addr, c4, c6, why, size);
		free(mx);
		return rc;
	}
}

/* Walk the terms of `record` for addr: 1 pass, 0 anything else,
 * SPF_TEMP, SPF_PERM. */
static int
check_spf_eval(struct check_spf_env *env, const char *domain, const char *record,
    const struct check_addr *addr, int depth, char *why, size_t size)
{
	char terms[LIM_DNS_TXT + 1], *save = NULL, *t, redirect[LIM_DOMAIN + 1] = "";
	char rec[LIM_DNS_TXT + 1], term[LIM_DNS_TXT + 1];
	int rc;

	if (depth > LIM_SPF_LOOKUPS) {
		(void)str_copy(why, size, "SPF includes nest too deep (a loop?)");
		return SPF_PERM;
	}
	(void)str_copy(terms, sizeof terms, record);
	for (t = strtok_r(terms, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		char q = strchr("+-~?", *t) ? *t++ : '+';

		if (strcasecmp(t, "v=spf1") == 0 || *t == '\0')
			continue;
		if (strncasecmp(t, "redirect=", 9) == 0) {
			(void)str_copy(redirect, sizeof redirect, t + 9);
			continue;
		}
		if (strchr(t, '=') != NULL)
			continue;		/* exp= and unknown modifiers */
		if (strchr(t, '%') != NULL) {
			(void)str_fmt(why, size, "SPF macro in \"%s\" is not evaluated here", t);
			return SPF_TEMP;
		}
		(void)str_copy(term, sizeof term, t);
		if ((rc = check_spf_mech(env, domain, term, addr, depth, why, size)) < 0)
			return rc;
		if (rc == 1) {
			if (q != '+')
				(void)str_fmt(why, size, "%s gives %c%s", domain, q, t);
			return q == '+';
		}
	}
	if (redirect[0] == '\0') {
		(void)str_fmt(why, size, "no term of %s's record matches (neutral)", domain);
		return 0;
	}
	if (++env->lookups > LIM_SPF_LOOKUPS) {
		(void)str_copy(why, size, "more than 10 SPF DNS lookups (a permanent error)");
		return SPF_PERM;
	}
	if ((rc = check_spf_record(env, redirect, rec, sizeof rec, why, size)) <= 0) {
		if (rc == 0)
			(void)str_fmt(why, size, "redirect=%s has no SPF record (a permanent error)",
			    redirect);
		return rc < 0 ? rc : SPF_PERM;
	}
	return check_spf_eval(env, redirect, rec, addr, depth + 1, why, size);
}

int
check_spf(struct check_spf_env *env, const char *domain, const char *record,
    const struct check_addr *addr, char *why, size_t size)
{
	env->lookups = 0;
	return check_spf_eval(env, domain, record, addr, 0, why, size);
}

/* ---- the checks, over dns.c ---- */

static enum dns_status
check_env_txt(void *ctx, const char *name, char (*out)[LIM_DNS_TXT + 1], size_t *n)
{
	char why[256];

	(void)ctx;
	return dns_txt(name, out, n, why, sizeof why);
}

static enum dns_status
check_env_addrs(void *ctx, const char *host, struct check_addr *out, size_t *n)
{
	struct dns_targets *t = malloc(sizeof *t);
	char why[256];
	enum dns_status st;
	size_t i;

	(void)ctx;
	*n = 0;
	if (t == NULL)
		return DNS_TEMPFAIL;
	st = dns_route_host(host, 25, t, why, sizeof why);
	for (i = 0; st == DNS_OK && i < t->n && *n < LIM_DNS_RECORDS; i++) {
		const struct sockaddr_storage *ss = &t->v[i].addr;

		out[*n].family = ss->ss_family;
		memcpy(out[*n].a, ss->ss_family == AF_INET6 ?
		    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
		    (const void *)&((const struct sockaddr_in *)ss)->sin_addr,
		    ss->ss_family == AF_INET6 ? 16 : 4);
		(*n)++;
	}
	free(t);
	return st;
}

static enum dns_status
check_env_mx(void *ctx, const char *domain, char (*out)[LIM_DOMAIN + 1], size_t *n)
{
	struct dns_mx mx[LIM_DNS_RECORDS];
	char why[256];
	enum dns_status st;
	size_t i, k = 0;

	(void)ctx;
	st = dns_mx(domain, mx, &k, why, sizeof why);
	for (*n = 0, i = 0; st == DNS_OK && i < k; i++)
		if (mx[i].host[0] != '\0')
			(void)str_copy(out[(*n)++], LIM_DOMAIN + 1, mx[i].host);
	return st;
}

static enum check_verdict
check_status(enum dns_status st)
{
	return st == DNS_TEMPFAIL ? CHECK_UNKNOWN : CHECK_MISSING;
}

static void
check_dkim(const char *domain, const struct domain_key *k, check_cb *cb, void *ctx)
{
	char (*txt)[LIM_DNS_TXT + 1] = malloc(LIM_DNS_RECORDS * sizeof *txt);
	char name[LIM_DOMAIN + LIM_DKIM_SELECTOR + 16], item[LIM_DKIM_SELECTOR + 16], why[512];
	enum check_verdict v = CHECK_MISSING;
	enum dns_status st;
	size_t n = 0, i;

	(void)str_fmt(item, sizeof item, "dkim %s", k->selector);
	(void)str_fmt(name, sizeof name, "%s._domainkey.%s", k->selector, domain);
	if (txt == NULL)
		return;
	if ((st = dns_txt(name, txt, &n, why, sizeof why)) != DNS_OK)
		v = check_status(st);
	for (i = 0; st == DNS_OK && i < n && v != CHECK_OK; i++)
		v = check_dkim_txt(txt[i], k->algo, k->public_key, why, sizeof why);
	if (st == DNS_OK && n == 0)
		(void)str_fmt(why, sizeof why, "no TXT record at %s", name);
	cb(ctx, item, v, why);
	free(txt);
}

/* SPF: one record, passing every address of hostname. */
static void
check_spf_item(const char *domain, const struct check_addr *a, size_t na, check_cb *cb,
    void *ctx)
{
	struct check_spf_env env = { check_env_txt, check_env_addrs, check_env_mx, NULL, 0 };
	char rec[LIM_DNS_TXT + 1], why[512] = "", ip[64];
	enum check_verdict v = CHECK_OK;
	size_t i;
	int rc = check_spf_record(&env, domain, rec, sizeof rec, why, sizeof why);

	if (rc <= 0) {
		if (rc == 0)
			(void)str_fmt(why, sizeof why, "no v=spf1 TXT record at %s", domain);
		cb(ctx, "spf", rc == 0 ? CHECK_MISSING : rc == SPF_TEMP ? CHECK_UNKNOWN :
		    CHECK_WRONG, why);
		return;
	}
	for (i = 0; i < na && v == CHECK_OK; i++) {
		(void)inet_ntop(a[i].family, a[i].a, ip, sizeof ip);
		rc = check_spf(&env, domain, rec, &a[i], why, sizeof why);
		if (rc == 0) {
			char more[600];

			(void)str_fmt(more, sizeof more, "%s is not authorised: %s", ip, why);
			(void)str_copy(why, sizeof why, more);
		}
		v = rc == 1 ? CHECK_OK : rc == 0 || rc == SPF_PERM ? CHECK_WRONG : CHECK_UNKNOWN;
	}
	if (v == CHECK_OK)
		(void)str_fmt(why, sizeof why, "passes for this host's %zu address%s", na,
		    na == 1 ? "" : "es");
	cb(ctx, "spf", na == 0 ? CHECK_UNKNOWN : v, na == 0 ? "this host has no address" : why);
}

static void
check_dmarc(const char *domain, check_cb *cb, void *ctx)
{
	char (*txt)[LIM_DNS_TXT + 1] = malloc(LIM_DNS_RECORDS * sizeof *txt);
	char name[LIM_DOMAIN + 16], why[512];
	enum check_verdict v = CHECK_MISSING;
	enum dns_status st;
	size_t n = 0, i, found = 0;

	if (txt == NULL)
		return;
	(void)str_fmt(name, sizeof name, "_dmarc.%s", domain);
	(void)str_fmt(why, sizeof why, "no v=DMARC1 TXT record at %s", name);
	if ((st = dns_txt(name, txt, &n, why, sizeof why)) != DNS_OK)
		v = check_status(st);
	for (i = 0; st == DNS_OK && i < n; i++)
		if (strncasecmp(txt[i], "v=DMARC1", 8) == 0 && ++found == 1)
			v = check_dmarc_txt(txt[i], why, sizeof why);
	if (found > 1) {
		v = CHECK_WRONG;
		(void)str_fmt(why, sizeof why, "%zu DMARC records: receivers ignore them all", found);
	}
	cb(ctx, "dmarc", v, why);
	free(txt);
}

/* MX order for the reason: by preference, ties as they came. */
static uint32_t
check_rnd(void *ctx)
{
	(void)ctx;
	return 0;
}

static void
check_mx(const char *domain, check_cb *cb, void *ctx)
{
	struct dns_mx mx[LIM_DNS_RECORDS];
	char why[512];
	size_t n = 0;
	enum dns_status st = dns_mx(domain, mx, &n, why, sizeof why);
	if (st == DNS_TEMPFAIL) {
		cb(ctx, "mx", CHECK_UNKNOWN, why);
	} else if (st != DNS_OK || n == 0) {
		(void)str_fmt(why, sizeof why, "no MX for %s: replies and bounces to it may not "
		    "be deliverable", domain);
		cb(ctx, "mx", st == DNS_TEMPFAIL ? CHECK_UNKNOWN : CHECK_MISSING, why);
	} else if (dns_mx_is_null(mx, n)) {
		cb(ctx, "mx", CHECK_WRONG, "null MX (RFC 7505): the domain takes no mail, so "
		    "replies and bounces to it fail");
	} else {
		dns_mx_sort(mx, n, check_rnd, NULL);
		(void)str_fmt(why, sizeof why, "%zu MX, preferred %s", n, mx[0].host);
		cb(ctx, "mx", CHECK_OK, why);
	}
}

/* PTR of each address of hostname: names hostname (whose address it is:
 * forward-confirmed). */
static void
check_ptr(const char *hostname, const struct check_addr *a, size_t na, check_cb *cb,
    void *ctx)
{
	char (*names)[LIM_DOMAIN + 1] = malloc(LIM_DNS_RECORDS * sizeof *names);
	char ip[64], item[80], why[512];
	enum check_verdict v;
	enum dns_status st;
	size_t i, k, n;

	if (names == NULL)
		return;
	for (i = 0; i < na; i++) {
		(void)inet_ntop(a[i].family, a[i].a, ip, sizeof ip);
		(void)str_fmt(item, sizeof item, "ptr %s", ip);
		st = dns_ptr(a[i].family, a[i].a, names, &n, why, sizeof why);
		v = st == DNS_OK ? CHECK_WRONG : check_status(st);
		if (st != DNS_OK && st != DNS_TEMPFAIL)
			(void)str_fmt(why, sizeof why, "no PTR for %s: mail from it looks like a home "
			    "connection", ip);
		for (k = 0; st == DNS_OK && k < n && v != CHECK_OK; k++)
			if (strcasecmp(names[k], hostname) == 0)
				v = CHECK_OK;
		if (st == DNS_OK)
			(void)str_fmt(why, sizeof why, v == CHECK_OK ? "%s, which resolves back to "
			    "%s" : "names %s, not %s (the hostname)", v == CHECK_OK ? hostname :
			    n ? names[0] : "nothing", v == CHECK_OK ? ip : hostname);
		cb(ctx, item, v, why);
	}
	if (na == 0)
		cb(ctx, "ptr", CHECK_MISSING, "the hostname has no address (A/AAAA) in the DNS");
	free(names);
}

/* tls_cert: valid now and for hostname. */
static void
check_tls(const char *hostname, const char *path, check_cb *cb, void *ctx)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char why[512];
	time_t now = time(NULL);
	enum check_verdict v = CHECK_WRONG;

	if (path == NULL || path[0] == '\0') {
		cb(ctx, "tls", CHECK_MISSING, "no tls_cert: STARTTLS is not offered to clients");
		return;
	}
	if (gnutls_load_file(path, &d) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
		(void)str_fmt(why, sizeof why, "%s: not a readable PEM certificate", path);
	else if (gnutls_x509_crt_get_expiration_time(crt) < now)
		(void)str_fmt(why, sizeof why, "%s has expired", path);
	else if (gnutls_x509_crt_get_activation_time(crt) > now)
		(void)str_fmt(why, sizeof why, "%s is not valid yet", path);
	else if (!gnutls_x509_crt_check_hostname(crt, hostname))
		(void)str_fmt(why, sizeof why, "%s does not name %s", path, hostname);
	else {
		v = CHECK_OK;
		(void)str_fmt(why, sizeof why, "valid for %s for %lld more days", hostname,
		    (long long)(gnutls_x509_crt_get_expiration_time(crt) - now) / 86400);
	}
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	gnutls_free(d.data);
	cb(ctx, "tls", v, why);
}

void
check_domain(const char *domain, const char *hostname, const char *tls_cert,
    const struct domain_key *keys, size_t nkeys, check_cb *cb, void *ctx)
{
	struct check_addr a[LIM_DNS_RECORDS];
	size_t i, na = 0;
	enum dns_status st;

	for (i = 0; i < nkeys; i++)
		check_dkim(domain, &keys[i], cb, ctx);
	st = check_env_addrs(NULL, hostname, a, &na);
	if (st == DNS_TEMPFAIL) {	/* SPF and PTR need the addresses */
		char why[LIM_DOMAIN + 64];

		(void)str_fmt(why, sizeof why, "address lookup for %s failed", hostname);
		cb(ctx, "spf", CHECK_UNKNOWN, why);
	} else {
		check_spf_item(domain, a, na, cb, ctx);
	}
	check_dmarc(domain, cb, ctx);
	check_mx(domain, cb, ctx);
	if (st == DNS_TEMPFAIL)
		cb(ctx, "ptr", CHECK_UNKNOWN, "the hostname's addresses could not be looked up");
	else
		check_ptr(hostname, a, na, cb, ctx);
	check_tls(hostname, tls_cert, cb, ctx);
}
