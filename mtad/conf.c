/*
 * conf.c -- the mtad.conf(5) parser and the daemon's current configuration.
 * Format and contracts in conf.h; every directive is one row of
 * conf_directives[] below, and the man page lists the same ones.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "str.h"
#include "xalloc.h"

#define CONF_MAX_ARGS 64

struct conf_parser {
	struct conf *c;
	const char *path;
	int line;
	struct conf_errors *errs;
	int seen[32];		/* line where a once-only directive was seen */
	const struct conf_directive *d;	/* the one being parsed */
};

/* One directive.  Generic handlers (conf_d_uint, conf_d_file) find the
 * field at `off` in struct conf; conf_d_uint takes [min, max]. */
struct conf_directive {
	const char *name;
	int min_args, max_args;	/* after the name; -1: no maximum */
	int once;		/* may appear only once */
	void (*fn)(struct conf_parser *, char **argv, int argc);
	size_t off;
	unsigned min, max;
};

static void conf_errorv(struct conf_errors *errs, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
conf_errorv(struct conf_errors *errs, const char *fmt, va_list ap)
{
	char msg[LIM_CONF_LINE];

	if (errs->n >= LIM_CONF_ERRORS) {
		errs->dropped++;
		return;
	}
	(void)str_vfmt(msg, sizeof msg, fmt, ap);
	errs->msgs[errs->n++] = xstrdup(msg);
}

static void conf_error(struct conf_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct conf_errors *errs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_errorv(errs, fmt, ap);
	va_end(ap);
}

/* "FILE:LINE: message" at the parser's current line. */
static void conf_err(struct conf_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conf_err(struct conf_parser *p, const char *fmt, ...)
{
	char msg[LIM_CONF_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conf_error(p->errs, "%s:%d: %s", p->path, p->line, msg);
}

void
conf_errors_free(struct conf_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	errs->n = 0;
	errs->dropped = 0;
}

/* ---- value parsers: return 0 or -1 (the caller reports) ---- */

/* N[s|m|h|d] -> seconds in [1, LIM_MAX_DURATION]. */
static int
conf_duration(const char *s, unsigned *out)
{
	char num[32];
	size_t n = strlen(s);
	unsigned long long v, mult = 1;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 's': mult = 1; num[n - 1] = '\0'; break;
	case 'm': mult = 60; num[n - 1] = '\0'; break;
	case 'h': mult = 3600; num[n - 1] = '\0'; break;
	case 'd': mult = 86400; num[n - 1] = '\0'; break;
	default: break;
	}
	if (str_to_u64(num, LIM_MAX_DURATION, &v) < 0 || v == 0 ||
	    v * mult > LIM_MAX_DURATION)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

/* rate=N/h or N/m */
static int
conf_rate(const char *s, unsigned *n, unsigned *period)
{
	char num[16];
	const char *slash = strchr(s, '/');
	unsigned long long v;
	size_t len;

	if (slash == NULL || (len = (size_t)(slash - s)) >= sizeof num)
		return -1;
	memcpy(num, s, len);
	num[len] = '\0';
	if (str_to_u64(num, 1000000, &v) < 0 || v == 0)
		return -1;
	if (strcmp(slash + 1, "h") == 0)
		*period = 3600;
	else if (strcmp(slash + 1, "m") == 0)
		*period = 60;
	else
		return -1;
	*n = (unsigned)v;
	return 0;
}

/* N[K|M|G] -> bytes (binary multiples). */
static int
conf_size(const char *s, unsigned long long *out)
{
	char num[32];
	size_t n = strlen(s);
	unsigned long long v, mult = 1;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k': mult = 1ULL << 10; num[n - 1] = '\0'; break;
	case 'M': case 'm': mult = 1ULL << 20; num[n - 1] = '\0'; break;
	case 'G': case 'g': mult = 1ULL << 30; num[n - 1] = '\0'; break;
	default: break;
	}
	if (str_to_u64(num, (1ULL << 40) / mult, &v) < 0)
		return -1;
	*out = v * mult;
	return 0;
}

static int
conf_uint(struct conf_parser *p, const char *what, const char *s,
    unsigned min, unsigned max, unsigned *out)
{
	unsigned long long v;

	if (str_to_u64(s, max, &v) < 0 || v < min) {
		conf_err(p, "%s: \"%s\" is not a number from %u to %u", what, s, min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int
conf_port(const char *s, unsigned *port)
{
	unsigned long long v;

	if (str_to_u64(s, 65535, &v) < 0 || v == 0)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/*
 * HOST:PORT with HOST a name, an IPv4 literal or a bracketed IPv6 literal.
 * `host` gets the name (A-labels) or the literal without brackets; *family
 * is AF_INET/AF_INET6 for literals, 0 for names.
 */
static int
conf_hostport(const char *s, char *host, size_t size, unsigned *port, int *family)
{
	const char *colon;
	char tmp[LIM_DOMAIN + 1];
	unsigned char bin[16];
	size_t n;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' || (n = (size_t)(close - s - 1)) >= size)
			return -1;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		*family = AF_INET6;
		return inet_pton(AF_INET6, host, bin) == 1 ? conf_port(close + 2, port) : -1;
	}
	if ((colon = strrchr(s, ':')) == NULL || (n = (size_t)(colon - s)) >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1) {
		*family = AF_INET;
		if (str_copy(host, size, tmp) < 0)
			return -1;
	} else {
		*family = 0;
		if (addr_domain_to_ascii(tmp, host, size) != ADDR_OK)
			return -1;
	}
	return conf_port(colon + 1, port);
}

/* DOMAIN or "*" (when star_ok) into A-labels. */
static int
conf_domain(struct conf_parser *p, const char *what, const char *s,
    int star_ok, char *out, size_t size)
{
	enum addr_err e;

	if (star_ok && strcmp(s, "*") == 0)
		return str_copy(out, size, s);
	if ((e = addr_domain_to_ascii(s, out, size)) != ADDR_OK) {
		conf_err(p, "%s: \"%s\": %s", what, s, addr_strerror(e));
		return -1;
	}
	return 0;
}

/* ---- directive handlers ---- */

static void
conf_d_hostname(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	(void)conf_domain(p, "hostname", av[0], 0, p->c->hostname, sizeof p->c->hostname);
}

static void
conf_d_state_dir(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	if (av[0][0] != '/' && strncmp(av[0], "./", 2) != 0 && strcmp(av[0], ".") != 0) {
		conf_err(p, "state_dir: \"%s\" must be an absolute path or start with ./", av[0]);
		return;
	}
	free(p->c->state_dir);
	p->c->state_dir = xstrdup(av[0]);
}

static int
conf_listen_kind(const char *s, enum listen_kind *k)
{
	if (strcmp(s, "smtp") == 0)
		*k = LISTEN_SMTP;
	else if (strcmp(s, "submission") == 0)
		*k = LISTEN_SUBMISSION;
	else if (strcmp(s, "submissions") == 0)
		*k = LISTEN_SUBMISSIONS;
	else
		return -1;
	return 0;
}

static int
conf_sockaddr(const char *host, int family, unsigned port, struct conf_listen *l)
{
	memset(&l->addr, 0, sizeof l->addr);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l->addrlen = sizeof *sin;
		return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof *sin6;
		return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
	return -1;
}

static void
conf_d_listen(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	struct conf_listen l;
	char host[LIM_DOMAIN + 1];
	unsigned port;
	int family;
	size_t i, cap = c->nlistens;

	memset(&l, 0, sizeof l);
	l.line = p->line;
	if (conf_hostport(av[0], host, sizeof host, &port, &family) < 0 || family == 0 ||
	    conf_sockaddr(host, family, port, &l) < 0) {
		conf_err(p, "listen: \"%s\" is not IPv4:PORT or [IPv6]:PORT", av[0]);
		return;
	}
	if (ac < 2 || conf_listen_kind(av[1], &l.kind) < 0) {
		conf_err(p, "listen: type must be smtp, submission or submissions");
		return;
	}
	/* The spec is written from the address, so one address has one spelling. */
	if (family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&l.addr)->sin6_addr, host, sizeof host);
	(void)str_fmt(l.spec, sizeof l.spec, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	for (i = 0; i < c->nlistens; i++) {
		if (strcmp(c->listens[i].spec, l.spec) == 0) {
			conf_err(p, "listen: %s already given at line %d", l.spec, c->listens[i].line);
			return;
		}
	}
	c->listens = xgrow(c->listens, &cap, c->nlistens + 1, sizeof *c->listens);
	c->listens[c->nlistens++] = l;
}

/* "ADDR[/PREFIX]" for IPv4 or IPv6; IPv4 is stored IPv4-mapped. */
static int
conf_cidr_parse(const char *s, struct conf_cidr *out, const char **why)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long long pfx;
	unsigned char v4[4];
	int is4, i;

	*why = "is not an IPv4 or IPv6 network";
	if (n >= sizeof ip)
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(out, 0, sizeof *out);
	if ((is4 = inet_pton(AF_INET, ip, v4)) == 1) {
		out->net[10] = out->net[11] = 0xff;
		memcpy(out->net + 12, v4, 4);
	} else if (inet_pton(AF_INET6, ip, out->net) != 1) {
		return -1;
	}
	pfx = is4 == 1 ? 32 : 128;
	if (slash && str_to_u64(slash + 1, pfx, &pfx) < 0) {
		*why = "has a bad prefix length";
		return -1;
	}
	out->prefix = (unsigned)pfx + (is4 == 1 ? 96 : 0);
	for (i = (int)out->prefix; i < 128; i++) {
		if (out->net[i / 8] & (0x80 >> (i % 8))) {
			*why = "has host bits set beyond its prefix";
			return -1;
		}
	}
	return 0;
}

static void
conf_d_trusted(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	size_t cap = c->ntrusted;
	const char *why;
	int i;

	for (i = 0; i < ac; i++) {
		struct conf_cidr cidr;

		if (conf_cidr_parse(av[i], &cidr, &why) < 0) {
			conf_err(p, "trusted: \"%s\" %s", av[i], why);
			continue;
		}
		if (c->ntrusted >= LIM_CONF_ITEMS) {
			conf_err(p, "trusted: more than %d networks", LIM_CONF_ITEMS);
			return;
		}
		c->trusted = xgrow(c->trusted, &cap, c->ntrusted + 1, sizeof *c->trusted);
		c->trusted[c->ntrusted++] = cidr;
	}
}

static void
conf_set_file(struct conf_parser *p, struct conf_file *f, const char *path)
{
	free(f->path);
	f->path = xstrdup(path);
	f->line = p->line;
}

/* A file name (checked to be readable by conf_check_files). */
static void
conf_d_file(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	conf_set_file(p, (struct conf_file *)((char *)p->c + p->d->off), av[0]);
}

/* A GnuTLS priority string (checked when the certificate is loaded). */
static void
conf_d_tls_priorities(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	free(p->c->tls_priorities);
	p->c->tls_priorities = xstrdup(av[0]);
	p->c->tls_priorities_line = p->line;
}

static void
conf_d_max_message_size(struct conf_parser *p, char **av, int ac)
{
	unsigned long long v;

	(void)ac;
	if (conf_size(av[0], &v) < 0 || v < LIM_MIN_MESSAGE_SIZE || v > LIM_MAX_MESSAGE_SIZE) {
		conf_err(p, "max_message_size: \"%s\" is not a size from 64K to 1G", av[0]);
		return;
	}
	p->c->max_message_size = v;
}

/* A number in the directive's [min, max]. */
static void
conf_d_uint(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	(void)conf_uint(p, p->d->name, av[0], p->d->min, p->d->max,
	    (unsigned *)((char *)p->c + p->d->off));
}

static void
conf_d_resolver(struct conf_parser *p, char **av, int ac)
{
	char ip[64];
	unsigned char bin[16];
	const char *at = strchr(av[0], '@');
	size_t n = at ? (size_t)(at - av[0]) : strlen(av[0]);
	unsigned port = 53;

	(void)ac;
	if (n >= sizeof ip)
		goto bad;
	memcpy(ip, av[0], n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1)
		goto bad;
	if (at && conf_port(at + 1, &port) < 0)
		goto bad;
	(void)str_fmt(p->c->resolver, sizeof p->c->resolver, "%s@%u", ip, port);
	return;
bad:
	conf_err(p, "resolver: \"%s\" is not IP or IP@PORT", av[0]);
}

static void
conf_d_retry(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	int i;

	free(c->retry);
	c->retry = xcalloc((size_t)ac, sizeof *c->retry);
	c->nretry = 0;
	for (i = 0; i < ac; i++) {
		if (conf_duration(av[i], &c->retry[c->nretry]) < 0)
			conf_err(p, "retry: \"%s\" is not a duration (like 30s, 5m, 4h, 1d)", av[i]);
		else
			c->nretry++;
	}
}

static void
conf_d_queue_lifetime(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	if (conf_duration(av[0], &p->c->queue_lifetime) < 0)
		conf_err(p, "queue_lifetime: \"%s\" is not a duration (like 5d)", av[0]);
}

/* Local users (names) who may set their envelope sender with sendmail -f. */
static void
conf_d_local_trusted(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	size_t cap = c->nlocal_trusted;
	int i;

	for (i = 0; i < ac; i++) {
		if (av[i][0] == '\0' || strlen(av[i]) > 64 || strchr(av[i], ',')) {
			conf_err(p, "local_trusted: \"%s\" is not a user name", av[i]);
			continue;
		}
		c->local_trusted = xgrow(c->local_trusted, &cap, c->nlocal_trusted + 1,
		    sizeof *c->local_trusted);
		c->local_trusted[c->nlocal_trusted++] = xstrdup(av[i]);
	}
}

/* local_rate N/m or N/h: messages per local user. */
static void
conf_d_local_rate(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	if (conf_rate(av[0], &p->c->local_rate, &p->c->local_rate_period) < 0)
		conf_err(p, "local_rate: \"%s\" must be N/m or N/h", av[0]);
}

/* on (the default) or off: off accepts and queues, and delivers nothing. */
static void
conf_d_delivery(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	if (strcmp(av[0], "on") == 0 || strcmp(av[0], "off") == 0)
		p->c->delivery = strcmp(av[0], "on") == 0;
	else
		conf_err(p, "delivery: \"%s\" must be on or off", av[0]);
}

/* DURATION, or "off" (the default): when to warn senders of a delay. */
static void
conf_d_delay_warning(struct conf_parser *p, char **av, int ac)
{
	(void)ac;
	if (strcmp(av[0], "off") == 0)
		p->c->delay_warning = 0;
	else if (conf_duration(av[0], &p->c->delay_warning) < 0)
		conf_err(p, "delay_warning: \"%s\" is not a duration or off", av[0]);
}

static int
conf_route_opt(struct conf_parser *p, struct conf_route *r, const char *opt)
{
	static const char *tls[] = { "none", "may", "require", "verify" };
	const char *colon;
	size_t i;

	if (strncmp(opt, "tls=", 4) == 0) {
		for (i = 0; i < 4; i++)
			if (strcmp(opt + 4, tls[i]) == 0) {
				r->tls = (enum route_tls)i;
				return 0;
			}
		conf_err(p, "route: tls= must be none, may, require or verify");
		return -1;
	}
	if (strncmp(opt, "auth=", 5) == 0) {
		colon = strchr(opt + 5, ':');
		if (colon == NULL || colon == opt + 5 || colon[1] == '\0') {
			conf_err(p, "route: auth= must be USER:SECRETFILE");
			return -1;
		}
		free(r->auth_user);
		free(r->auth_secret_file);
		r->auth_user = xstrndup(opt + 5, (size_t)(colon - opt - 5));
		r->auth_secret_file = xstrdup(colon + 1);
		return 0;
	}
	conf_err(p, "route: unknown option \"%s\"", opt);
	return -1;
}

static void
conf_route_free(struct conf_route *r)
{
	free(r->auth_user);
	free(r->auth_secret_file);
}

static void
conf_d_route(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	struct conf_route r;
	size_t i, cap = c->nroutes;
	int family, bad = 0;

	memset(&r, 0, sizeof r);
	r.tls = ROUTE_TLS_MAY;
	r.line = p->line;
	bad |= conf_domain(p, "route", av[0], 1, r.domain, sizeof r.domain);
	if (conf_hostport(av[1], r.host, sizeof r.host, &r.port, &family) < 0) {
		conf_err(p, "route: \"%s\" is not HOST:PORT", av[1]);
		bad = -1;
	}
	for (i = 2; i < (size_t)ac; i++)
		bad |= conf_route_opt(p, &r, av[i]);
	if (!bad && r.auth_user && r.tls == ROUTE_TLS_NONE) {
		conf_err(p, "route: auth= needs TLS (tls=may, require or verify)");
		bad = -1;
	}
	for (i = 0; !bad && i < c->nroutes; i++)
		if (strcmp(c->routes[i].domain, r.domain) == 0) {
			conf_err(p, "route: %s already has a route at line %d", r.domain, c->routes[i].line);
			bad = -1;
		}
	if (!bad && c->nroutes >= LIM_CONF_ITEMS) {
		conf_err(p, "route: more than %d routes", LIM_CONF_ITEMS);
		bad = -1;
	}
	if (bad) {
		conf_route_free(&r);
		return;
	}
	c->routes = xgrow(c->routes, &cap, c->nroutes + 1, sizeof *c->routes);
	c->routes[c->nroutes++] = r;
}

static int
conf_limit_opt(struct conf_parser *p, struct conf_limit *l, const char *opt)
{
	if (strncmp(opt, "connections=", 12) == 0)
		return conf_uint(p, "limit: connections", opt + 12, 1, 1000, &l->connections);
	if (strncmp(opt, "messages_per_connection=", 24) == 0)
		return conf_uint(p, "limit: messages_per_connection", opt + 24, 1, 1000000,
		    &l->messages_per_connection);
	if (strncmp(opt, "rate=", 5) == 0) {
		if (conf_rate(opt + 5, &l->rate, &l->rate_period) == 0)
			return 0;
		conf_err(p, "limit: rate= must be N/h or N/m");
		return -1;
	}
	conf_err(p, "limit: unknown option \"%s\"", opt);
	return -1;
}

static void
conf_d_limit(struct conf_parser *p, char **av, int ac)
{
	struct conf *c = p->c;
	struct conf_limit l;
	size_t i, cap = c->nlimits;
	int bad = 0;

	memset(&l, 0, sizeof l);
	l.line = p->line;
	bad |= conf_domain(p, "limit", av[0], 1, l.domain, sizeof l.domain);
	for (i = 1; i < (size_t)ac; i++)
		bad |= conf_limit_opt(p, &l, av[i]);
	for (i = 0; !bad && i < c->nlimits; i++)
		if (strcmp(c->limits[i].domain, l.domain) == 0) {
			conf_err(p, "limit: %s already limited at line %d", l.domain, c->limits[i].line);
			bad = -1;
		}
	if (!bad && c->nlimits >= LIM_CONF_ITEMS) {
		conf_err(p, "limit: more than %d limits", LIM_CONF_ITEMS);
		bad = -1;
	}
	if (bad)
		return;
	c->limits = xgrow(c->limits, &cap, c->nlimits + 1, sizeof *c->limits);
	c->limits[c->nlimits++] = l;
}

/* YYYY-MM-DD into days since 1970-01-01; -1 when it is not a date (a
 * day the month does not have, like 2026-02-30, included). */
static long long
conf_day(const char *s)
{
	struct tm tm, back;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof tm);
	if (strlen(s) != 10 || (end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end != '\0')
		return -1;
	tm.tm_hour = 12;	/* any time of that day */
	back = tm;		/* timegm normalises: 02-30 would become 03-02 */
	if ((t = timegm(&back)) < 0 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon || back.tm_year != tm.tm_year)
		return -1;
	return (long long)(t / 86400);
}

static int
conf_warmup_opt(struct conf_parser *p, struct conf_warmup *w, const char *opt)
{
	size_t n;

	if (strncmp(opt, "daily=", 6) == 0)
		return conf_uint(p, "warmup: daily", opt + 6, 1, LIM_WARMUP_END, &w->daily);
	if (strncmp(opt, "growth=", 7) == 0) {
		char num[16];

		if ((n = strlen(opt + 7)) < 2 || opt[7 + n - 1] != '%' || n > sizeof num) {
			conf_err(p, "warmup: growth= must be a percentage, like growth=50%%");
			return -1;
		}
		memcpy(num, opt + 7, n - 1);
		num[n - 1] = '\0';
		return conf_uint(p, "warmup: growth", num, 1, 1000, &w->growth);
	}
	if (strncmp(opt, "since=", 6) == 0) {
		if ((w->since_day = conf_day(opt + 6)) >= 0)
			return 0;
		conf_err(p, "warmup: since= must be a date, YYYY-MM-DD");
		return -1;
	}
	conf_err(p, "warmup: unknown option \"%s\"", opt);
	return -1;
}

static void
conf_d_warmup(struct conf_parser *p, char **av, int ac)
{
	struct conf_warmup w = { .growth = LIM_DEF_WARMUP_GROWTH, .since_day = -1,
	    .line = p->line };
	int i, bad = 0;

	for (i = 0; i < ac; i++)
		bad |= conf_warmup_opt(p, &w, av[i]);
	if (!bad && (w.daily == 0 || w.since_day < 0)) {
		conf_err(p, "warmup: needs daily=N and since=YYYY-MM-DD");
		bad = -1;
	}
	if (!bad && p->c->warmup.daily) {
		conf_err(p, "warmup: already set at line %d", p->c->warmup.line);
		bad = -1;
	}
	if (!bad)
		p->c->warmup = w;
}

static void
conf_d_timeout(struct conf_parser *p, char **av, int ac)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "command", offsetof(struct conf_timeouts, command) },
		{ "data", offsetof(struct conf_timeouts, data) },
		{ "connect", offsetof(struct conf_timeouts, connect) },
		{ "greeting", offsetof(struct conf_timeouts, greeting) },
		{ "mail", offsetof(struct conf_timeouts, mail) },
		{ "rcpt", offsetof(struct conf_timeouts, rcpt) },
		{ "data_init", offsetof(struct conf_timeouts, data_init) },
		{ "data_block", offsetof(struct conf_timeouts, data_block) },
		{ "data_end", offsetof(struct conf_timeouts, data_end) },
	};
	size_t i;

	(void)ac;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(av[0], names[i].name) != 0)
			continue;
		if (conf_duration(av[1], (unsigned *)((char *)&p->c->timeout + names[i].off)) < 0)
			conf_err(p, "timeout %s: \"%s\" is not a duration", av[0], av[1]);
		return;
	}
	conf_err(p, "timeout: unknown timeout \"%s\" (command, data, connect, greeting, "
	    "mail, rcpt, data_init, data_block, data_end)", av[0]);
}

static const struct conf_directive conf_directives[] = {
	{ "hostname", 1, 1, 1, conf_d_hostname, 0, 0, 0 },
	{ "state_dir", 1, 1, 1, conf_d_state_dir, 0, 0, 0 },
	{ "listen", 2, 2, 0, conf_d_listen, 0, 0, 0 },
	{ "trusted", 1, -1, 0, conf_d_trusted, 0, 0, 0 },
	{ "tls_cert", 1, 1, 1, conf_d_file, offsetof(struct conf, tls_cert), 0, 0 },
	{ "tls_key", 1, 1, 1, conf_d_file, offsetof(struct conf, tls_key), 0, 0 },
	{ "tls_ca", 1, 1, 1, conf_d_file, offsetof(struct conf, tls_ca), 0, 0 },
	{ "tls_priorities", 1, 1, 1, conf_d_tls_priorities, 0, 0, 0 },
	{ "max_message_size", 1, 1, 1, conf_d_max_message_size, 0, 0, 0 },
	{ "max_recipients", 1, 1, 1, conf_d_uint, offsetof(struct conf, max_recipients),
	    100, LIM_MAX_RECIPIENTS },	/* RFC 5321 4.5.3.1.8: at least 100 */
	{ "max_errors", 1, 1, 1, conf_d_uint, offsetof(struct conf, max_errors), 1, 1000 },
	{ "max_sessions", 1, 1, 1, conf_d_uint, offsetof(struct conf, max_sessions),
	    1, LIM_MAX_SESSIONS },
	{ "route", 2, 4, 0, conf_d_route, 0, 0, 0 },
	{ "mx_port", 1, 1, 1, conf_d_uint, offsetof(struct conf, mx_port), 1, 65535 },
	{ "resolver", 1, 1, 1, conf_d_resolver, 0, 0, 0 },
	{ "retry", 1, 32, 1, conf_d_retry, 0, 0, 0 },
	{ "queue_lifetime", 1, 1, 1, conf_d_queue_lifetime, 0, 0, 0 },
	{ "delay_warning", 1, 1, 1, conf_d_delay_warning, 0, 0, 0 },
	{ "delivery", 1, 1, 1, conf_d_delivery, 0, 0, 0 },
	{ "local_trusted", 1, -1, 0, conf_d_local_trusted, 0, 0, 0 },
	{ "local_rate", 1, 1, 1, conf_d_local_rate, 0, 0, 0 },
	{ "workers", 1, 1, 1, conf_d_uint, offsetof(struct conf, workers), 1, LIM_MAX_WORKERS },
	{ "limit", 2, 4, 0, conf_d_limit, 0, 0, 0 },
	{ "warmup", 1, 3, 0, conf_d_warmup, 0, 0, 0 },
	{ "timeout", 2, 2, 0, conf_d_timeout, 0, 0, 0 },
};

#define CONF_NDIRECTIVES (sizeof conf_directives / sizeof conf_directives[0])

/* Split a line into words in place; '#' at a word start ends the line. */
static int
conf_split(char *line, char **argv, int max)
{
	int argc = 0;
	char *s = line;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0' || *s == '#')
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (*s)
			*s++ = '\0';
	}
}

static void
conf_directive(struct conf_parser *p, char **argv, int argc)
{
	size_t i;
	int nargs = argc - 1;

	for (i = 0; i < CONF_NDIRECTIVES; i++) {
		const struct conf_directive *d = &conf_directives[i];

		if (strcmp(argv[0], d->name) != 0)
			continue;
		if (nargs < d->min_args || (d->max_args >= 0 && nargs > d->max_args)) {
			if (d->min_args == d->max_args)
				conf_err(p, "%s takes %d argument%s", d->name,
				    d->min_args, d->min_args == 1 ? "" : "s");
			else if (d->max_args < 0)
				conf_err(p, "%s takes at least %d argument%s", d->name,
				    d->min_args, d->min_args == 1 ? "" : "s");
			else
				conf_err(p, "%s takes %d to %d arguments", d->name,
				    d->min_args, d->max_args);
			return;
		}
		if (d->once && p->seen[i]) {
			conf_err(p, "%s already given at line %d", d->name, p->seen[i]);
			return;
		}
		p->seen[i] = p->line;
		p->d = d;
		d->fn(p, argv + 1, nargs);
		return;
	}
	conf_err(p, "unknown directive \"%s\"", argv[0]);
}

static void
conf_defaults(struct conf *c, const char *hostname)
{
	static const unsigned retry[] = { 300, 600, 1800, 3600, 7200, 14400 };

	c->refs = 1;
	(void)str_copy(c->hostname, sizeof c->hostname, hostname);
	c->max_message_size = LIM_DEF_MAX_MESSAGE_SIZE;
	c->max_recipients = LIM_DEF_MAX_RECIPIENTS;
	c->max_errors = LIM_DEF_MAX_ERRORS;
	c->max_sessions = LIM_DEF_MAX_SESSIONS;
	c->mx_port = 25;
	c->queue_lifetime = 5 * 86400;
	c->workers = LIM_DEF_WORKERS;
	c->delivery = 1;
	c->local_rate = LIM_DEF_LOCAL_RATE;
	c->local_rate_period = 60;
	c->retry = xmemdup(retry, sizeof retry);
	c->nretry = sizeof retry / sizeof retry[0];
	c->timeout = (struct conf_timeouts){
		.command = LIM_DEF_TIMEOUT_COMMAND, .data = LIM_DEF_TIMEOUT_DATA,
		.connect = LIM_DEF_TIMEOUT_CONNECT, .greeting = LIM_DEF_TIMEOUT_GREETING,
		.mail = LIM_DEF_TIMEOUT_MAIL, .rcpt = LIM_DEF_TIMEOUT_RCPT,
		.data_init = LIM_DEF_TIMEOUT_DATA_INIT,
		.data_block = LIM_DEF_TIMEOUT_DATA_BLOCK,
		.data_end = LIM_DEF_TIMEOUT_DATA_END,
	};
}

/* Defaults for lists left empty, and checks across directives. */
static void
conf_finish(struct conf_parser *p)
{
	struct conf *c = p->c;
	const char *why;
	size_t i;

	if (c->state_dir == NULL)
		c->state_dir = xstrdup(CONF_DEFAULT_STATE_DIR);
	if (c->ntrusted == 0) {
		c->trusted = xcalloc(2, sizeof *c->trusted);
		(void)conf_cidr_parse("127.0.0.1", &c->trusted[0], &why);
		(void)conf_cidr_parse("::1", &c->trusted[1], &why);
		c->ntrusted = 2;
	}
	if (c->nlistens == 0) {
		c->listens = xcalloc(1, sizeof *c->listens);
		(void)str_copy(c->listens[0].spec, sizeof c->listens[0].spec, "127.0.0.1:25");
		(void)conf_sockaddr("127.0.0.1", AF_INET, 25, &c->listens[0]);
		c->nlistens = 1;
	}
	if (c->tls_priorities != NULL && c->tls_cert.path == NULL) {
		p->line = c->tls_priorities_line;
		conf_err(p, "tls_priorities without tls_cert: there is no TLS to tune");
	}
	if ((c->tls_cert.path == NULL) != (c->tls_key.path == NULL)) {
		p->line = c->tls_cert.path ? c->tls_cert.line : c->tls_key.line;
		conf_err(p, "tls_cert and tls_key go together");
	}
	for (i = 0; i < c->nlistens; i++) {
		if (c->listens[i].kind != LISTEN_SMTP && c->tls_cert.path == NULL) {
			p->line = c->listens[i].line;
			conf_err(p, "listen: a %s listener needs tls_cert and tls_key "
			    "(AUTH is only offered over TLS)",
			    conf_listen_kind_name(c->listens[i].kind));
		}
	}
}

static void
conf_free(struct conf *c)
{
	size_t i;

	free(c->path);
	free(c->state_dir);
	free(c->listens);
	free(c->trusted);
	free(c->tls_cert.path);
	free(c->tls_key.path);
	free(c->tls_ca.path);
	free(c->tls_priorities);
	for (i = 0; i < c->nlocal_trusted; i++)
		free(c->local_trusted[i]);
	free(c->local_trusted);
	for (i = 0; i < c->nroutes; i++)
		conf_route_free(&c->routes[i]);
	free(c->routes);
	free(c->retry);
	free(c->limits);
	free(c);
}

/* Parse into a conf, whatever the errors; returns it, errors in errs. */
static struct conf *
conf_parse_all(const char *path, const char *text, size_t len, const char *hostname,
    struct conf_errors *errs)
{
	struct conf_parser p;
	char line[LIM_CONF_LINE + 1], *argv[CONF_MAX_ARGS + 1];
	size_t pos = 0;
	int argc;

	memset(&p, 0, sizeof p);
	p.c = xcalloc(1, sizeof *p.c);
	p.path = path;
	p.errs = errs;
	conf_defaults(p.c, hostname);
	p.c->path = xstrdup(path);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text - pos) : len - pos;

		p.line++;
		if (n > LIM_CONF_LINE || memchr(text + pos, '\0', n) != NULL) {
			conf_err(&p, n > LIM_CONF_LINE ? "line longer than %d bytes" :
			    "NUL byte in line", LIM_CONF_LINE);
		} else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			if ((argc = conf_split(line, argv, CONF_MAX_ARGS)) < 0)
				conf_err(&p, "more than %d words", CONF_MAX_ARGS);
			else if (argc > 0)
				conf_directive(&p, argv, argc);
		}
		pos += n + 1;
	}
	conf_finish(&p);
	return p.c;
}

struct conf *
conf_parse(const char *path, const char *text, size_t len, const char *hostname,
    struct conf_errors *errs)
{
	size_t before = errs->n + errs->dropped;
	struct conf *c = conf_parse_all(path, text, len, hostname, errs);

	if (errs->n + errs->dropped > before) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static char *
conf_read_file(const char *path, size_t *len, struct conf_errors *errs)
{
	struct buf b;
	char chunk[8192];
	const char *why = NULL;
	int fd;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		conf_error(errs, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, LIM_CONF_FILE);
	while (why == NULL && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno != EINTR)
			why = strerror(errno);
		else if (n > 0 && buf_append(&b, chunk, (size_t)n) < 0)
			why = "larger than 1 MiB";
	}
	close(fd);
	if (why != NULL) {
		conf_error(errs, "%s: cannot read: %s", path, why);
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data ? b.data : xstrdup("");
}

static struct conf *conf_load_opt(const char *path, int check_files,
    struct conf_errors *errs);

struct conf *
conf_load(const char *path, struct conf_errors *errs)
{
	return conf_load_opt(path, 1, errs);
}

struct conf *
conf_load_client(const char *path, struct conf_errors *errs)
{
	return conf_load_opt(path, 0, errs);
}

static struct conf *
conf_load_opt(const char *path, int check_files, struct conf_errors *errs)
{
	char host[LIM_DOMAIN + 1], *text;
	struct conf *c;
	size_t len = 0, before;

	if (gethostname(host, sizeof host) < 0 || host[0] == '\0')
		(void)str_copy(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	str_lower(host);
	if ((text = conf_read_file(path, &len, errs)) == NULL)
		return NULL;
	/* Parse errors and missing files, all in one run. */
	before = errs->n + errs->dropped;
	c = conf_parse_all(path, text, len, host, errs);
	free(text);
	if (c != NULL && check_files)
		(void)conf_check_files(c, errs);
	if (errs->n + errs->dropped > before) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static size_t
conf_check_file(const struct conf *c, const char *what, const char *file, int line,
    struct conf_errors *errs)
{
	if (file == NULL || access(file, R_OK) == 0)
		return 0;
	conf_error(errs, "%s:%d: %s: cannot read \"%s\": %s", c->path, line, what, file,
	    strerror(errno));
	return 1;
}

size_t
conf_check_files(const struct conf *c, struct conf_errors *errs)
{
	size_t i, n = 0;

	n += conf_check_file(c, "tls_cert", c->tls_cert.path, c->tls_cert.line, errs);
	n += conf_check_file(c, "tls_key", c->tls_key.path, c->tls_key.line, errs);
	n += conf_check_file(c, "tls_ca", c->tls_ca.path, c->tls_ca.line, errs);
	for (i = 0; i < c->nroutes; i++)
		n += conf_check_file(c, "route auth", c->routes[i].auth_secret_file,
		    c->routes[i].line, errs);
	return n;
}

void
conf_ref(struct conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void
conf_unref(struct conf *c)
{
	if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *conf_cur;

struct conf *
conf_current(void)
{
	struct conf *c;

	pthread_mutex_lock(&conf_lock);
	if ((c = conf_cur) != NULL)
		conf_ref(c);
	pthread_mutex_unlock(&conf_lock);
	return c;
}

void
conf_set_current(struct conf *c)
{
	struct conf *old;

	pthread_mutex_lock(&conf_lock);
	old = conf_cur;
	conf_cur = c;
	pthread_mutex_unlock(&conf_lock);
	conf_unref(old);
}

/* The rule of `route` and `limit`: an exact domain wins over "*".  The
 * entries are `n` structs of `size` bytes with the domain at `off`. */
static const void *
conf_lookup(const void *v, size_t n, size_t size, size_t off, const char *domain)
{
	const char *star = NULL, *p = v;
	size_t i;

	for (i = 0; i < n; i++, p += size) {
		if (strcmp(p + off, domain) == 0)
			return p;
		if (strcmp(p + off, "*") == 0)
			star = p;
	}
	return star;
}

const struct conf_route *
conf_route_for(const struct conf *c, const char *domain)
{
	return conf_lookup(c->routes, c->nroutes, sizeof *c->routes,
	    offsetof(struct conf_route, domain), domain);
}

const struct conf_limit *
conf_limit_for(const struct conf *c, const char *domain)
{
	return conf_lookup(c->limits, c->nlimits, sizeof *c->limits,
	    offsetof(struct conf_limit, domain), domain);
}

const struct conf_limit *
conf_limit_named(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nlimits; i++)
		if (strcmp(c->limits[i].domain, name) == 0)
			return &c->limits[i];
	return NULL;
}

unsigned long long
conf_warmup_cap(const struct conf *c, time_t now)
{
	long long days = (long long)(now / 86400) - c->warmup.since_day;
	double cap = c->warmup.daily;

	if (c->warmup.daily == 0)
		return 0;
	while (days-- > 0 && cap <= LIM_WARMUP_END)
		cap *= 1.0 + c->warmup.growth / 100.0;
	return cap > LIM_WARMUP_END ? 0 : (unsigned long long)cap;
}

const char *
conf_listen_kind_name(enum listen_kind k)
{
	switch (k) {
	case LISTEN_SMTP:
		return "smtp";
	case LISTEN_SUBMISSION:
		return "submission";
	case LISTEN_SUBMISSIONS:
		return "submissions";
	case LISTEN_LOCAL:
		return "local";
	}
	return "?";
}
