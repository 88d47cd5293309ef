/*
 * test_dns.c -- dns.h: the pure MX helpers, table-driven (wire rdata good
 * and bad, sort order and the shuffle of equal preferences with a fixed
 * rnd, null MX), then the real thing: libunbound forwarding to
 * tests/integration/dnsserver.py on a free port of 127.0.0.1, serving
 * dns_zone[] below.  One server and one dns_init for the whole suite
 * (started by the first test that needs it, stopped by the last test or at
 * exit); the zone uses example.net/.org, since unbound answers .test,
 * .invalid and localhost itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "test.h"

/* ---- dns_mx_parse ---- */

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

struct parse_case {
	const unsigned char *rdata;
	size_t len;
	int want;		/* 0 or -1 */
	unsigned pref;		/* on 0 */
	const char *host;	/* on 0 */
};

/* Labels of 63, 63, 63 and `last` octets: a name of 193 + last + 1 wire
 * octets (255 at last = 61). */
static size_t
long_name(unsigned char *buf, size_t last)
{
	size_t p = 0, i, l;

	buf[p++] = 0;
	buf[p++] = 7;
	for (i = 0; i < 4; i++) {
		l = i < 3 ? 63 : last;
		buf[p++] = (unsigned char)l;
		memset(buf + p, 'a' + (int)i, l);
		p += l;
	}
	buf[p++] = 0;
	return p;
}

static const struct parse_case parse_cases[] = {
	{ RD("\x00\x0a\x03mx1\x07""example\x03net\x00"), 0, 10, "mx1.example.net" },
	{ RD("\x00\x00\x00"), 0, 0, "" },				/* null MX */
	{ RD("\xff\xff\x01m\x00"), 0, 65535, "m" },
	{ RD("\x01\x00\x02MX\x07""Example\x03NET\x00"), 0, 256, "mx.example.net" },
	{ RD("\x00\x05\x06mx-_01\x03net\x00"), 0, 5, "mx-_01.net" },
	{ RD(""), -1, 0, NULL },					/* empty */
	{ RD("\x00"), -1, 0, NULL },
	{ RD("\x00\x0a"), -1, 0, NULL },				/* no name */
	{ RD("\x00\x0a\x03mx1"), -1, 0, NULL },			/* no root label */
	{ RD("\x00\x0a\x05mx1\x00"), -1, 0, NULL },			/* label overruns */
	{ RD("\x00\x0a\x03mx1\x00\x00"), -1, 0, NULL },		/* trailing byte */
	{ RD("\x00\x00\x00\x00"), -1, 0, NULL },			/* "." + junk */
	{ RD("\x00\x0a\xc0\x0c"), -1, 0, NULL },			/* compression */
	{ RD("\x00\x0a\x02mx\xc0\x0c"), -1, 0, NULL },		/* pointer after a label */
	{ RD("\x00\x0a\x40" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x00"),
	    -1, 0, NULL },						/* 64-octet label */
	{ RD("\x00\x0a\x80\x00"), -1, 0, NULL },			/* reserved label type */
	{ RD("\x00\x0a\x03m.x\x03net\x00"), -1, 0, NULL },		/* dot inside a label */
	{ RD("\x00\x0a\x03m x\x00"), -1, 0, NULL },			/* space */
	{ RD("\x00\x0a\x03m\x00x\x00"), -1, 0, NULL },		/* NUL inside a label */
	{ RD("\x00\x0a\x03m\nx\x00"), -1, 0, NULL },			/* control */
	{ RD("\x00\x0a\x03m\xc3\xa9\x00"), -1, 0, NULL },		/* UTF-8, not A-label */
};

static void
test_mx_parse_table(void)
{
	size_t i;

	for (i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct dns_mx mx;
		int got = dns_mx_parse(c->rdata, c->len, &mx);

		if (got != c->want) {
			test_fail(__FILE__, __LINE__, "row %zu \"%s\": dns_mx_parse == %d, want %d",
			    i, test_escape((const char *)c->rdata, c->len), got, c->want);
			continue;
		}
		if (got == 0 && (mx.pref != c->pref || strcmp(mx.host, c->host) != 0))
			test_fail(__FILE__, __LINE__, "row %zu: got %u \"%s\", want %u \"%s\"", i,
			    mx.pref, mx.host, c->pref, c->host);
		if (got != 0 && mx.host[0] != '\0')
			test_fail(__FILE__, __LINE__, "row %zu: host left as \"%s\"", i, mx.host);
	}
}

/* Names at the 255-octet wire limit and one past it. */
static void
test_mx_parse_long(void)
{
	unsigned char buf[300];
	struct dns_mx mx;
	size_t n;

	n = long_name(buf, 61);
	CHECK_INT(n, 2 + 255);
	CHECK_INT(dns_mx_parse(buf, n, &mx), 0);
	CHECK_INT(strlen(mx.host), 253);
	CHECK_INT(mx.pref, 7);
	n = long_name(buf, 62);
	CHECK_INT(dns_mx_parse(buf, n, &mx), -1);
	CHECK_INT(dns_mx_parse(NULL, 0, &mx), -1);
}

/* ---- dns_mx_sort, dns_mx_is_null ---- */

/* A fixed pseudo-random sequence (an LCG) for the shuffle. */
static uint32_t
lcg(void *ctx)
{
	uint32_t *s = ctx;

	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
mx_set(struct dns_mx *v, const char *spec, size_t *n)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof buf, "%s", spec);
	*n = 0;
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(tok, ':');

		*colon = '\0';
		v[*n].pref = (unsigned)atoi(tok);
		snprintf(v[*n].host, sizeof v[*n].host, "%s", colon + 1);
		(*n)++;
	}
}

static const char *
mx_str(const struct dns_mx *v, size_t n)
{
	static char out[512];
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n && o < sizeof out; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%u:%s", i ? " " : "", v[i].pref,
		    v[i].host);
	return out;
}

/* Without rnd the sort is stable; n = 0 and 1 are fine. */
static void
test_mx_sort_stable(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "20:a 10:b 20:c 10:d 5:e", "5:e 10:b 10:d 20:a 20:c" },
		{ "65535:z 0:y", "0:y 65535:z" },
		{ "10:a", "10:a" },
		{ "1:a 2:b 3:c", "1:a 2:b 3:c" },
		{ "3:c 2:b 1:a", "1:a 2:b 3:c" },
	};
	struct dns_mx v[8];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mx_set(v, cases[i].in, &n);
		dns_mx_sort(v, n, NULL, NULL);
		CHECK_STR(mx_str(v, n), cases[i].want);
	}
	dns_mx_sort(v, 0, lcg, NULL);
}

/* With rnd: preference order always holds, equal preferences take every
 * order over many runs, and the same seed gives the same order. */
static void
test_mx_sort_shuffle(void)
{
	struct dns_mx v[8];
	int seen[6] = { 0 };
	char first[512];
	uint32_t seed = 1;
	size_t n, i;
	int run;

	for (run = 0; run < 300; run++) {
		mx_set(v, "20:x 10:a 30:y 10:b 10:c", &n);
		dns_mx_sort(v, n, lcg, &seed);
		CHECK(v[0].pref == 10 && v[1].pref == 10 && v[2].pref == 10);
		CHECK_STR(v[3].host, "x");
		CHECK_STR(v[4].host, "y");
		/* index of the permutation of a, b, c */
		i = (size_t)(v[0].host[0] - 'a') * 2 + (v[1].host[0] > v[2].host[0]);
		if (i < 6 && v[0].host[0] != v[1].host[0] && v[1].host[0] != v[2].host[0])
			seen[i]++;
		else
			test_fail(__FILE__, __LINE__, "not a permutation: %s", mx_str(v, n));
	}
	for (i = 0; i < 6; i++)
		if (seen[i] < 20)
			test_fail(__FILE__, __LINE__, "permutation %zu seen %d times in 300", i,
			    seen[i]);
	seed = 42;
	mx_set(v, "10:a 10:b 10:c 10:d", &n);
	dns_mx_sort(v, n, lcg, &seed);
	snprintf(first, sizeof first, "%s", mx_str(v, n));
	seed = 42;
	mx_set(v, "10:a 10:b 10:c 10:d", &n);
	dns_mx_sort(v, n, lcg, &seed);
	CHECK_STR(mx_str(v, n), first);
}

static void
test_mx_is_null(void)
{
	static const struct {
		const char *set;
		int want;
	} cases[] = {
		{ "0:", 1 },
		{ "10:", 1 },		/* "." with any preference */
		{ "0:mx.example.net", 0 },
		{ "0: 10:mx.example.net", 0 },
		{ "", 0 },
	};
	struct dns_mx v[4];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mx_set(v, cases[i].set, &n);
		if (strcmp(cases[i].set, "0:") == 0 || strcmp(cases[i].set, "10:") == 0)
			v[0].host[0] = '\0';
		if (dns_mx_is_null(v, n) != cases[i].want)
			test_fail(__FILE__, __LINE__, "dns_mx_is_null(\"%s\") != %d", cases[i].set,
			    cases[i].want);
	}
}

/* ---- targets as text: "host/pref/addr:port ..." (IPv6 in brackets) ---- */

static const char *
targets_str(const struct dns_targets *t)
{
	static char out[4096];
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < t->n && o < sizeof out; i++) {
		const struct dns_target *d = &t->v[i];
		char ip[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;

		if (d->addr.ss_family == AF_INET6 && d->addrlen == sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&d->addr;

			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
			port = ntohs(s6->sin6_port);
		} else if (d->addr.ss_family == AF_INET &&
		    d->addrlen == sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&d->addr;

			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
			port = ntohs(s4->sin_port);
		}
		if (strcmp(ip, d->ip) != 0)
			test_fail(__FILE__, __LINE__, "target %zu: ip \"%s\" but sockaddr %s", i,
			    d->ip, ip);
		o += (size_t)snprintf(out + o, sizeof out - o,
		    d->addr.ss_family == AF_INET6 ? "%s%s/%u/[%s]:%u" : "%s%s/%u/%s:%u",
		    i ? " " : "", d->host, d->pref, ip, port);
	}
	return out;
}

/* ---- IP literals and bad names: no resolver needed ---- */

struct route_case {
	const char *name;
	int mx;			/* dns_route_mx, else dns_route_host */
	unsigned port;
	enum dns_status want;
	const char *want_str;	/* DNS_OK: targets_str(); else `why` */
};

static void
route_check(const struct route_case *c, size_t row)
{
	struct dns_targets t;
	char why[256] = "";
	enum dns_status st;

	t.n = 99;
	st = c->mx ? dns_route_mx(c->name, c->port, &t, why, sizeof why) :
	    dns_route_host(c->name, c->port, &t, why, sizeof why);
	if (st != c->want) {
		test_fail(__FILE__, __LINE__, "row %zu: %s(\"%s\") == %d (%s), want %d", row,
		    c->mx ? "dns_route_mx" : "dns_route_host", c->name, (int)st, why, (int)c->want);
		return;
	}
	if (st == DNS_OK && strcmp(targets_str(&t), c->want_str) != 0)
		test_fail(__FILE__, __LINE__, "row %zu \"%s\": targets\n    %s\n  want\n    %s",
		    row, c->name, targets_str(&t), c->want_str);
	if (st != DNS_OK && (strcmp(why, c->want_str) != 0 || t.n != 0))
		test_fail(__FILE__, __LINE__, "row %zu \"%s\": why \"%s\" (n=%zu), want \"%s\"",
		    row, c->name, why, t.n, c->want_str);
}

static const struct route_case literal_cases[] = {
	{ "192.0.2.1", 0, 25, DNS_OK, "192.0.2.1/0/192.0.2.1:25" },
	{ "2001:db8::1", 0, 2525, DNS_OK, "2001:db8::1/0/[2001:db8::1]:2525" },
	{ "::1", 0, 65535, DNS_OK, "::1/0/[::1]:65535" },
	{ "[192.0.2.1]", 0, 25, DNS_OK, "192.0.2.1/0/192.0.2.1:25" },
	{ "[IPv6:2001:DB8::1]", 0, 25, DNS_OK, "2001:DB8::1/0/[2001:db8::1]:25" },
	{ "[192.0.2.7]", 1, 587, DNS_OK, "192.0.2.7/0/192.0.2.7:587" },
	{ "[IPv6:::1]", 1, 25, DNS_OK, "::1/0/[::1]:25" },
	{ "0.0.0.0", 0, 25, DNS_NODATA, "0.0.0.0: not a usable address" },
	{ "[IPv6:192.0.2.1]", 0, 25, DNS_NXDOMAIN,
	    "\"[IPv6:192.0.2.1]\": not a valid host name or address" },
	{ "[300.0.0.1]", 1, 25, DNS_NXDOMAIN,
	    "\"[300.0.0.1]\": not a valid host name or address" },
	{ "", 0, 25, DNS_NXDOMAIN, "\"\": not a valid host name or address" },
	{ "", 1, 25, DNS_NXDOMAIN, "\"\": not a valid domain name" },
	{ "a..example.net", 1, 25, DNS_NXDOMAIN, "\"a..example.net\": not a valid domain name" },
	{ ".", 0, 25, DNS_NXDOMAIN, "\".\": not a valid host name or address" },
	{ "bad name.example.net", 0, 25, DNS_NXDOMAIN,
	    "\"bad name.example.net\": not a valid host name or address" },
};

static void
test_route_literals(void)
{
	size_t i;

	for (i = 0; i < sizeof literal_cases / sizeof literal_cases[0]; i++)
		route_check(&literal_cases[i], i);
}

/* ---- the test server ---- */

#define SERVER_SCRIPT "tests/integration/dnsserver.py"
#define SERVER_WAIT_MS 10000

static pid_t server_pid = -1;
static int server_port;
static int dns_up;		/* dns_init done against the server */

static void
server_stop(void)
{
	int status, i;

	if (dns_up)
		dns_shutdown();
	dns_up = 0;
	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	for (i = 0; i < 500; i++) {	/* 5 s, then SIGKILL */
		if (waitpid(server_pid, &status, WNOHANG) == server_pid)
			break;
		if (i == 499) {
			kill(server_pid, SIGKILL);
			waitpid(server_pid, &status, 0);
		}
		usleep(10000);
	}
	server_pid = -1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read "PORT n\n" from fd within SERVER_WAIT_MS.  The port, or -1. */
static int
server_read_port(int fd)
{
	char line[64];
	size_t n = 0;
	long deadline = now_ms() + SERVER_WAIT_MS;
	int port;

	while (n < sizeof line - 1 && memchr(line, '\n', n) == NULL) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		if ((r = read(fd, line + n, sizeof line - 1 - n)) <= 0)
			return -1;
		n += (size_t)r;
	}
	line[n] = '\0';
	return sscanf(line, "PORT %d", &port) == 1 ? port : -1;
}

/* Start dnsserver.py on `zonefile`; 0 or -1 (a failure is recorded). */
static int
server_start(const char *zonefile)
{
	int fds[2];

	if (pipe(fds) != 0) {
		test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((server_pid = fork()) == 0) {
		/* the server dies with us, even on a crash */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", SERVER_SCRIPT, zonefile, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	server_port = server_pid > 0 ? server_read_port(fds[0]) : -1;
	close(fds[0]);
	if (server_port <= 0) {
		test_fail(__FILE__, __LINE__, "%s did not print PORT within %d ms", SERVER_SCRIPT,
		    SERVER_WAIT_MS);
		server_stop();
		return -1;
	}
	return 0;
}

/*
 * The zone.  big1..big4.example.net (written by zone_write) each own six
 * AAAA 2001:db8:N::1..6 and six A 127.0.N.1..6, to hit the limits.
 */
static const char dns_zone[] =
	"$TTL 300\n"
	"two.example.net.      IN MX 20 mx2.example.net.\n"
	"two.example.net.      IN MX 10 mx1.example.net.\n"
	"mx1.example.net.      IN A 127.0.0.11\n"
	"mx2.example.net.      IN A 127.0.0.12\n"
	"eq.example.net.       IN MX 10 mxa.example.net.\n"
	"eq.example.net.       IN MX 20 mxc.example.net.\n"
	"eq.example.net.       IN MX 10 mxb.example.net.\n"
	"mxa.example.net.      IN A 127.0.0.21\n"
	"mxb.example.net.      IN A 127.0.0.22\n"
	"mxc.example.net.      IN A 127.0.0.23\n"
	"implicit.example.net. IN A 127.0.0.31\n"
	"implicit.example.net. IN AAAA ::1\n"
	"implicit4.example.org. IN A 127.0.0.32\n"
	"null.example.net.     IN MX 0 .\n"
	"nodata.example.net.   IN TXT \"v=spf1 -all\"\n"
	"sf.example.net.       IN TXT \"servfail\"\n"
	"partial.example.net.  IN MX 10 missing.example.net.\n"
	"partial.example.net.  IN MX 20 mx2.example.net.\n"
	"sfhost.example.net.   IN MX 10 sf.example.net.\n"
	"sfhost.example.net.   IN MX 20 mx1.example.net.\n"
	"dead.example.net.     IN MX 10 missing.example.net.\n"
	"dead.example.net.     IN MX 20 sf.example.net.\n"
	"dead.example.net.     IN MX 30 nodata.example.net.\n"
	"dual.example.net.     IN MX 10 mxdual.example.net.\n"
	"mxdual.example.net.   IN A 127.0.0.41\n"
	"mxdual.example.net.   IN AAAA 2001:db8::41\n"
	"dup.example.net.      IN MX 10 mx1.example.net.\n"
	"dup.example.net.      IN MX 20 alias.example.net.\n"
	"alias.example.net.    IN CNAME mx1.example.net.\n"
	"many.example.net.     IN MX 10 big1.example.net.\n"
	"wide.example.net.     IN MX 10 big1.example.net.\n"
	"wide.example.net.     IN MX 20 big2.example.net.\n"
	"wide.example.net.     IN MX 30 big3.example.net.\n"
	"wide.example.net.     IN MX 40 big4.example.net.\n";

static int
zone_write(char *path, size_t size)
{
	FILE *f;
	int h, i;

	snprintf(path, size, "%s/dns.zone", test_tmpdir());
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(dns_zone, f);
	for (h = 1; h <= 4; h++)
		for (i = 1; i <= 6; i++)
			fprintf(f, "big%d.example.net. IN AAAA 2001:db8:%d::%d\n"
			    "big%d.example.net. IN A 127.0.%d.%d\n", h, h, i, h, h, i);
	return fclose(f);
}

/* The server and the resolver, started once.  1 when usable. */
static int
dns_live(void)
{
	static int tried;
	char zone[512], resolver[64], err[256];

	if (dns_up || tried)
		return dns_up;
	tried = 1;
	atexit(server_stop);
	if (zone_write(zone, sizeof zone) != 0) {
		test_fail(__FILE__, __LINE__, "cannot write %s", zone);
		return 0;
	}
	if (server_start(zone) != 0)
		return 0;
	snprintf(resolver, sizeof resolver, "127.0.0.1@%d", server_port);
	if (dns_init(resolver, err, sizeof err) != 0) {
		test_fail(__FILE__, __LINE__, "dns_init(%s): %s", resolver, err);
		server_stop();
		return 0;
	}
	dns_up = 1;
	return 1;
}

/* ---- dns_init ---- */

static void
test_init_errors(void)
{
	char err[256] = "";

	if (dns_up)		/* run alone or first: the context must be free */
		return;
	CHECK_INT(dns_init("not-an-address@53", err, sizeof err), -1);
	CHECK(strstr(err, "not-an-address@53") != NULL);
	CHECK_INT(dns_init("127.0.0.1@53", err, sizeof err), 0);
	CHECK_INT(dns_init("127.0.0.1@53", err, sizeof err), -1);
	CHECK_STR(err, "resolver already initialised");
	dns_shutdown();
	dns_shutdown();		/* twice is harmless */
}

/* ---- routes through the server ---- */

static const struct route_case live_cases[] = {
	/* two preferences, listed in the wrong order in the zone */
	{ "two.example.net", 1, 25, DNS_OK,
	    "mx1.example.net/10/127.0.0.11:25 mx2.example.net/20/127.0.0.12:25" },
	{ "TWO.Example.NET.", 1, 2525, DNS_OK,
	    "mx1.example.net/10/127.0.0.11:2525 mx2.example.net/20/127.0.0.12:2525" },
	/* implicit MX: IPv6 first */
	{ "implicit.example.net", 1, 25, DNS_OK,
	    "implicit.example.net/0/[::1]:25 implicit.example.net/0/127.0.0.31:25" },
	{ "implicit4.example.org", 1, 25, DNS_OK, "implicit4.example.org/0/127.0.0.32:25" },
	/* an MX host per address family, IPv6 first */
	{ "dual.example.net", 1, 25, DNS_OK,
	    "mxdual.example.net/10/[2001:db8::41]:25 mxdual.example.net/10/127.0.0.41:25" },
	/* a host that does not exist or fails is skipped */
	{ "partial.example.net", 1, 25, DNS_OK, "mx2.example.net/20/127.0.0.12:25" },
	{ "sfhost.example.net", 1, 25, DNS_OK, "mx1.example.net/20/127.0.0.11:25" },
	/* the same address under two hosts once */
	{ "dup.example.net", 1, 25, DNS_OK, "mx1.example.net/10/127.0.0.11:25" },
	{ "[127.0.0.1]", 1, 25, DNS_OK, "127.0.0.1/0/127.0.0.1:25" },
	/* failures */
	{ "null.example.net", 1, 25, DNS_NULLMX,
	    "null.example.net: null MX (RFC 7505): accepts no mail" },
	{ "nx.example.org", 1, 25, DNS_NXDOMAIN,
	    "nx.example.org: domain does not exist (NXDOMAIN)" },
	{ "nodata.example.net", 1, 25, DNS_NODATA,
	    "nodata.example.net: no MX and no address (A/AAAA) record" },
	{ "example.net", 1, 25, DNS_NODATA,	/* exists only as a parent */
	    "example.net: no MX and no address (A/AAAA) record" },
	{ "sf.example.net", 1, 25, DNS_TEMPFAIL, "MX lookup for sf.example.net: SERVFAIL" },
	{ "dead.example.net", 1, 25, DNS_TEMPFAIL,
	    "dead.example.net: no MX host has an address "
	    "(nodata.example.net: no address (AAAA or A))" },
	/* dns_route_host */
	{ "mx1.example.net", 0, 587, DNS_OK, "mx1.example.net/0/127.0.0.11:587" },
	{ "Alias.Example.Net", 0, 25, DNS_OK, "alias.example.net/0/127.0.0.11:25" },
	{ "implicit.example.net", 0, 25, DNS_OK,
	    "implicit.example.net/0/[::1]:25 implicit.example.net/0/127.0.0.31:25" },
	{ "127.0.0.9", 0, 25, DNS_OK, "127.0.0.9/0/127.0.0.9:25" },
	{ "missing.example.net", 0, 25, DNS_NXDOMAIN,
	    "missing.example.net: domain does not exist (NXDOMAIN)" },
	{ "nodata.example.net", 0, 25, DNS_NODATA, "nodata.example.net: no address (AAAA or A)" },
	{ "sf.example.net", 0, 25, DNS_TEMPFAIL, "A lookup for sf.example.net: SERVFAIL" },
	{ "two.example.net", 0, 25, DNS_NODATA, "two.example.net: no address (AAAA or A)" },
};

static void
test_route_table(void)
{
	size_t i;

	if (!dns_live())
		return;
	for (i = 0; i < sizeof live_cases / sizeof live_cases[0]; i++)
		route_check(&live_cases[i], i);
}

/* Equal preferences: both hosts first, in both orders over the runs. */
static void
test_route_equal_prefs(void)
{
	struct dns_targets t;
	char why[256];
	int run, ab = 0, ba = 0;

	if (!dns_live())
		return;
	for (run = 0; run < 40; run++) {
		if (dns_route_mx("eq.example.net", 25, &t, why, sizeof why) != DNS_OK || t.n != 3) {
			test_fail(__FILE__, __LINE__, "eq.example.net: %s", why);
			return;
		}
		if (strcmp(t.v[0].host, "mxa.example.net") == 0 &&
		    strcmp(t.v[1].host, "mxb.example.net") == 0)
			ab++;
		else if (strcmp(t.v[0].host, "mxb.example.net") == 0 &&
		    strcmp(t.v[1].host, "mxa.example.net") == 0)
			ba++;
		else
			test_fail(__FILE__, __LINE__, "eq.example.net: %s", targets_str(&t));
		CHECK_STR(t.v[2].host, "mxc.example.net");
		CHECK_INT(t.v[0].pref, 10);
		CHECK_INT(t.v[2].pref, 20);
	}
	CHECK(ab > 0 && ba > 0);
}

/* LIM_DNS_ADDRS_PER_HOST per family and host; LIM_DNS_TARGETS in all. */
static void
test_route_limits(void)
{
	struct dns_targets t;
	char why[256];
	size_t i;

	if (!dns_live())
		return;
	CHECK_INT(dns_route_mx("many.example.net", 25, &t, why, sizeof why), DNS_OK);
	CHECK_INT(t.n, 2 * LIM_DNS_ADDRS_PER_HOST);
	for (i = 0; i < t.n; i++) {
		CHECK_STR(t.v[i].host, "big1.example.net");
		CHECK_INT(t.v[i].addr.ss_family, i < LIM_DNS_ADDRS_PER_HOST ? AF_INET6 : AF_INET);
	}
	CHECK_INT(dns_route_mx("wide.example.net", 25, &t, why, sizeof why), DNS_OK);
	CHECK_INT(t.n, LIM_DNS_TARGETS);
	CHECK_STR(t.v[0].host, "big1.example.net");
	CHECK_STR(t.v[2 * LIM_DNS_ADDRS_PER_HOST].host, "big2.example.net");
	CHECK_STR(t.v[LIM_DNS_TARGETS - 1].host, "big3.example.net");
	CHECK_INT(t.v[LIM_DNS_TARGETS - 1].pref, 30);
}

/* Worker threads share the context. */
#define THREADS 8

static void *
route_thread(void *arg)
{
	static const char *const names[] = { "two.example.net", "implicit.example.net",
	    "eq.example.net", "dual.example.net", "wide.example.net" };
	struct dns_targets t;
	char why[256];
	int i, *bad = arg;

	for (i = 0; i < 25; i++)
		if (dns_route_mx(names[i % 5], 25, &t, why, sizeof why) != DNS_OK || t.n == 0)
			(*bad)++;
	return NULL;
}

static void
test_route_threads(void)
{
	pthread_t th[THREADS];
	int bad[THREADS] = { 0 }, i;

	if (!dns_live())
		return;
	for (i = 0; i < THREADS; i++)
		CHECK_INT(pthread_create(&th[i], NULL, route_thread, &bad[i]), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(bad[i], 0);
	}
}

/* After dns_shutdown: TEMPFAIL; dns_init again works; then stop all. */
static void
test_shutdown(void)
{
	struct dns_targets t;
	char why[256], resolver[64], err[256];

	if (!dns_live())
		return;
	dns_shutdown();
	dns_up = 0;
	CHECK_INT(dns_route_mx("two.example.net", 25, &t, why, sizeof why), DNS_TEMPFAIL);
	CHECK_STR(why, "MX lookup for two.example.net: resolver not initialised");
	CHECK_INT(t.n, 0);
	snprintf(resolver, sizeof resolver, "127.0.0.1@%d", server_port);
	CHECK_INT(dns_init(resolver, err, sizeof err), 0);
	dns_up = 1;
	CHECK_INT(dns_route_mx("two.example.net", 25, &t, why, sizeof why), DNS_OK);
	CHECK_INT(t.n, 2);
	server_stop();
}

const struct test dns_tests[] = {
	{ "mx_parse_table", test_mx_parse_table },
	{ "mx_parse_long", test_mx_parse_long },
	{ "mx_sort_stable", test_mx_sort_stable },
	{ "mx_sort_shuffle", test_mx_sort_shuffle },
	{ "mx_is_null", test_mx_is_null },
	{ "route_literals", test_route_literals },
	{ "init_errors", test_init_errors },
	{ "route_table", test_route_table },
	{ "route_equal_prefs", test_route_equal_prefs },
	{ "route_limits", test_route_limits },
	{ "route_threads", test_route_threads },
	{ "shutdown", test_shutdown },
	{ NULL, NULL },
};
