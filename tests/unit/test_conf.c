/*
 * test_conf.c -- mtad.conf(5) parsing (conf.h): every directive into its
 * struct field, the defaults, and each bad text giving exactly its
 * "FILE:LINE: message" errors, all of them in one parse.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "test.h"

static struct conf *
parse_len(const char *text, size_t len, struct conf_errors *errs)
{
	memset(errs, 0, sizeof *errs);
	return conf_parse("t.conf", text, len, "mx.default.test", errs);
}

static struct conf *
parse(const char *text, struct conf_errors *errs)
{
	return parse_len(text, strlen(text), errs);
}

/* Parse a text that must be good; report the errors if it is not. */
static struct conf *
parse_ok(const char *text, int line)
{
	struct conf_errors errs;
	struct conf *c = parse(text, &errs);
	size_t i;

	if (c == NULL)
		test_fail(__FILE__, line, "conf_parse(\"%s\") failed", test_escape(text, strlen(text)));
	for (i = 0; i < errs.n; i++)
		test_fail(__FILE__, line, "  error: %s", errs.msgs[i]);
	conf_errors_free(&errs);
	return c;
}

/* A NULL-terminated list of expected error messages. */
#define E(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The text (len bytes) must fail with exactly `want` (NULL-terminated). */
static void
expect_errors(const char *text, size_t len, const char *const *want, int line)
{
	struct conf_errors errs;
	struct conf *c = parse_len(text, len, &errs);
	size_t i, nwant = 0;

	while (want[nwant] != NULL)
		nwant++;
	if (c != NULL) {
		test_fail(__FILE__, line, "\"%s\": parsed, want errors", test_escape(text, len));
		conf_unref(c);
	}
	if (errs.n != nwant)
		test_fail(__FILE__, line, "\"%s\": %zu errors, want %zu", test_escape(text, len),
		    errs.n, nwant);
	for (i = 0; i < errs.n || i < nwant; i++) {
		const char *got = i < errs.n ? errs.msgs[i] : "(none)";
		const char *w = i < nwant ? want[i] : "(none)";

		if (strcmp(got, w) != 0)
			test_fail(__FILE__, line, "\"%s\" error %zu:\n    got  \"%s\"\n    want \"%s\"",
			    test_escape(text, len), i, got, w);
	}
	CHECK_INT(errs.dropped, 0);
	conf_errors_free(&errs);
}

/* IPv4 networks are stored IPv4-mapped; `prefix` as written. */
static int
cidr_is(const struct conf_cidr *n, const char *ip, unsigned prefix)
{
	unsigned char want[16] = { 0 };

	if (inet_pton(AF_INET, ip, want + 12) == 1) {
		want[10] = want[11] = 0xff;
		prefix += 96;
	} else if (inet_pton(AF_INET6, ip, want) != 1) {
		return 0;
	}
	return memcmp(n->net, want, 16) == 0 && n->prefix == prefix;
}

static int
listen_is(const struct conf_listen *l, const char *spec, int family, const char *ip,
    unsigned port, enum listen_kind kind, int line)
{
	unsigned char want[16];

	if (strcmp(l->spec, spec) != 0 || l->kind != kind || l->line != line ||
	    l->addr.ss_family != family || inet_pton(family, ip, want) != 1)
		return 0;
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;

		return l->addrlen == sizeof *sin && ntohs(sin->sin_port) == port &&
		    memcmp(&sin->sin_addr, want, 4) == 0;
	}
	{
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;

		return l->addrlen == sizeof *sin6 && ntohs(sin6->sin6_port) == port &&
		    memcmp(&sin6->sin6_addr, want, 16) == 0;
	}
}

/* ---- good texts ---- */

static const char full_conf[] =
    "# every directive\n"						/* 1 */
    "hostname Mail.Example.COM\n"					/* 2 */
    "state_dir /var/spool/mtad-test\n"					/* 3 */
    "listen 127.0.0.1:2525 smtp\n"					/* 4 */
    "listen [::1]:2587 submission\n"					/* 5 */
    "listen 0.0.0.0:465 submissions\n"					/* 6 */
    "trusted 10.0.0.0/8 192.168.1.0/24\n"				/* 7 */
    "\n"								/* 8 */
    "trusted 2001:db8::/32 203.0.113.7   # a host\n"			/* 9 */
    "\ttrusted ::ffff:198.51.100.0/120\n"				/* 10 */
    "tls_cert /etc/mtad/cert.pem\n"					/* 11 */
    "tls_key /etc/mtad/key.pem\n"					/* 12 */
    "tls_ca /etc/mtad/ca.pem\n"						/* 13 */
    "max_message_size 50M\n"						/* 14 */
    "max_recipients 500\n"						/* 15 */
    "max_errors 10\n"							/* 16 */
    "max_sessions 200\n"						/* 17 */
    "route example.net smarthost.example.net:587 tls=require auth=relay:/etc/mtad/secret\n" /* 18 */
    "route * [2001:db8::25]:25 tls=verify\n"				/* 19 */
    "route B\xc3\xbc" "cher.example 192.0.2.25:2525 tls=none\n"		/* 20 */
    "route example.org mx.example.org:25\n"				/* 21 */
    "mx_port 2525\n"							/* 22 */
    "resolver 127.0.0.1@5353\n"						/* 23 */
    "retry 1m 5m 30m 2h 1d 45s 90\n"					/* 24 */
    "queue_lifetime 3d\n"						/* 25 */
    "limit gmail.com connections=5 rate=100/h messages_per_connection=50\n" /* 26 */
    "limit * connections=10 rate=20/m\n"				/* 27 */
    "timeout command 10m\n"						/* 28 */
    "timeout data 2m\n"							/* 29 */
    "timeout connect 15s\n"						/* 30 */
    "timeout greeting 1m\n"						/* 31 */
    "timeout mail 90s\n"						/* 32 */
    "timeout rcpt 100\n"						/* 33 */
    "timeout data_init 3m\n"						/* 34 */
    "timeout data_block 4m\n"						/* 35 */
    "timeout data_end 1h\n";						/* 36 */

static void
test_full(void)
{
	static const unsigned retry[] = { 60, 300, 1800, 7200, 86400, 45, 90 };
	struct conf *c = parse_ok(full_conf, __LINE__);
	size_t i;

	if (c == NULL)
		return;
	CHECK_INT(c->refs, 1);
	CHECK_STR(c->path, "t.conf");
	CHECK_STR(c->hostname, "mail.example.com");
	CHECK_STR(c->state_dir, "/var/spool/mtad-test");
	CHECK_INT(c->nlistens, 3);
	if (c->nlistens == 3) {
		CHECK(listen_is(&c->listens[0], "127.0.0.1:2525", AF_INET, "127.0.0.1", 2525,
		    LISTEN_SMTP, 4));
		CHECK(listen_is(&c->listens[1], "[::1]:2587", AF_INET6, "::1", 2587,
		    LISTEN_SUBMISSION, 5));
		CHECK(listen_is(&c->listens[2], "0.0.0.0:465", AF_INET, "0.0.0.0", 465,
		    LISTEN_SUBMISSIONS, 6));
	}
	CHECK_INT(c->ntrusted, 5);
	if (c->ntrusted == 5) {
		CHECK(cidr_is(&c->trusted[0], "10.0.0.0", 8));
		CHECK(cidr_is(&c->trusted[1], "192.168.1.0", 24));
		CHECK(cidr_is(&c->trusted[2], "2001:db8::", 32));
		CHECK(cidr_is(&c->trusted[3], "203.0.113.7", 32));
		CHECK(cidr_is(&c->trusted[4], "198.51.100.0", 24));
	}
	CHECK_STR(c->tls_cert.path, "/etc/mtad/cert.pem");
	CHECK_INT(c->tls_cert.line, 11);
	CHECK_STR(c->tls_key.path, "/etc/mtad/key.pem");
	CHECK_INT(c->tls_key.line, 12);
	CHECK_STR(c->tls_ca.path, "/etc/mtad/ca.pem");
	CHECK_INT(c->tls_ca.line, 13);
	CHECK_INT(c->max_message_size, 50ULL << 20);
	CHECK_INT(c->max_recipients, 500);
	CHECK_INT(c->max_errors, 10);
	CHECK_INT(c->max_sessions, 200);
	CHECK_INT(c->nroutes, 4);
	if (c->nroutes == 4) {
		const struct conf_route *r = c->routes;

		CHECK_STR(r[0].domain, "example.net");
		CHECK_STR(r[0].host, "smarthost.example.net");
		CHECK_INT(r[0].port, 587);
		CHECK_INT(r[0].tls, ROUTE_TLS_REQUIRE);
		CHECK_STR(r[0].auth_user, "relay");
		CHECK_STR(r[0].auth_secret_file, "/etc/mtad/secret");
		CHECK_INT(r[0].line, 18);
		CHECK_STR(r[1].domain, "*");
		CHECK_STR(r[1].host, "2001:db8::25");
		CHECK_INT(r[1].port, 25);
		CHECK_INT(r[1].tls, ROUTE_TLS_VERIFY);
		CHECK(r[1].auth_user == NULL && r[1].auth_secret_file == NULL);
		CHECK_INT(r[1].line, 19);
		CHECK_STR(r[2].domain, "xn--bcher-kva.example");
		CHECK_STR(r[2].host, "192.0.2.25");
		CHECK_INT(r[2].port, 2525);
		CHECK_INT(r[2].tls, ROUTE_TLS_NONE);
		CHECK_INT(r[2].line, 20);
		CHECK_STR(r[3].domain, "example.org");
		CHECK_STR(r[3].host, "mx.example.org");
		CHECK_INT(r[3].tls, ROUTE_TLS_MAY);	/* the default */
		CHECK(r[3].auth_user == NULL);
	}
	CHECK_INT(c->mx_port, 2525);
	CHECK_STR(c->resolver, "127.0.0.1@5353");
	CHECK_INT(c->nretry, 7);
	for (i = 0; i < c->nretry && i < 7; i++)
		CHECK_INT(c->retry[i], retry[i]);
	CHECK_INT(c->queue_lifetime, 3 * 86400);
	CHECK_INT(c->nlimits, 2);
	if (c->nlimits == 2) {
		CHECK_STR(c->limits[0].domain, "gmail.com");
		CHECK_INT(c->limits[0].connections, 5);
		CHECK_INT(c->limits[0].rate, 100);
		CHECK_INT(c->limits[0].rate_period, 3600);
		CHECK_INT(c->limits[0].messages_per_connection, 50);
		CHECK_INT(c->limits[0].line, 26);
		CHECK_STR(c->limits[1].domain, "*");
		CHECK_INT(c->limits[1].connections, 10);
		CHECK_INT(c->limits[1].rate, 20);
		CHECK_INT(c->limits[1].rate_period, 60);
		CHECK_INT(c->limits[1].messages_per_connection, 0);
		CHECK_INT(c->limits[1].line, 27);
	}
	CHECK_INT(c->timeout.command, 600);
	CHECK_INT(c->timeout.data, 120);
	CHECK_INT(c->timeout.connect, 15);
	CHECK_INT(c->timeout.greeting, 60);
	CHECK_INT(c->timeout.mail, 90);
	CHECK_INT(c->timeout.rcpt, 100);
	CHECK_INT(c->timeout.data_init, 180);
	CHECK_INT(c->timeout.data_block, 240);
	CHECK_INT(c->timeout.data_end, 3600);
	conf_unref(c);
}

static void
check_defaults(const struct conf *c)
{
	static const unsigned retry[] = { 300, 600, 1800, 3600, 7200, 14400 };
	size_t i;

	CHECK_INT(c->refs, 1);
	CHECK_STR(c->path, "t.conf");
	CHECK_STR(c->hostname, "mx.default.test");
	CHECK_STR(c->state_dir, CONF_DEFAULT_STATE_DIR);
	CHECK_INT(c->nlistens, 1);
	if (c->nlistens == 1)
		CHECK(listen_is(&c->listens[0], "127.0.0.1:25", AF_INET, "127.0.0.1", 25,
		    LISTEN_SMTP, 0));
	CHECK_INT(c->ntrusted, 2);
	if (c->ntrusted == 2) {
		CHECK(cidr_is(&c->trusted[0], "127.0.0.1", 32));
		CHECK(cidr_is(&c->trusted[1], "::1", 128));
	}
	CHECK(c->tls_cert.path == NULL && c->tls_key.path == NULL && c->tls_ca.path == NULL);
	CHECK_INT(c->max_message_size, LIM_DEF_MAX_MESSAGE_SIZE);
	CHECK_INT(c->max_message_size, 35ULL << 20);
	CHECK_INT(c->max_recipients, 1000);
	CHECK_INT(c->max_errors, 20);
	CHECK_INT(c->max_sessions, 100);
	CHECK_INT(c->nroutes, 0);
	CHECK_INT(c->mx_port, 25);
	CHECK_STR(c->resolver, "");
	CHECK_INT(c->nretry, 6);
	for (i = 0; i < c->nretry && i < 6; i++)
		CHECK_INT(c->retry[i], retry[i]);
	CHECK_INT(c->queue_lifetime, 5 * 86400);
	CHECK_INT(c->nlimits, 0);
	CHECK_INT(c->timeout.command, 300);
	CHECK_INT(c->timeout.data, 300);
	CHECK_INT(c->timeout.connect, 30);
	CHECK_INT(c->timeout.greeting, 300);
	CHECK_INT(c->timeout.mail, 300);
	CHECK_INT(c->timeout.rcpt, 300);
	CHECK_INT(c->timeout.data_init, 120);
	CHECK_INT(c->timeout.data_block, 180);
	CHECK_INT(c->timeout.data_end, 600);
}

static void
test_defaults(void)
{
	static const char *texts[] = {
		"",
		"\n",
		"# only a comment",
		"# comment\n\n   \n\t\n  # indented comment\n",
		"\r\n# crlf\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct conf *c = parse_ok(texts[i], __LINE__);

		if (c == NULL)
			continue;
		check_defaults(c);
		conf_unref(c);
	}
}

static void
test_values(void)
{
	static const struct {
		const char *text;
		unsigned long long size;	/* max_message_size */
		unsigned lifetime;		/* queue_lifetime */
		const char *resolver;
	} rows[] = {
		{ "max_message_size 64K\n", 65536, 432000, "" },
		{ "max_message_size 64k\n", 65536, 432000, "" },
		{ "max_message_size 65536\n", 65536, 432000, "" },
		{ "max_message_size 1G\n", 1ULL << 30, 432000, "" },
		{ "max_message_size 1024M\n", 1ULL << 30, 432000, "" },
		{ "max_message_size 1048576K\n", 1ULL << 30, 432000, "" },
		{ "max_message_size 10m\n", 10ULL << 20, 432000, "" },
		{ "queue_lifetime 1\n", 35ULL << 20, 1, "" },
		{ "queue_lifetime 30s\n", 35ULL << 20, 30, "" },
		{ "queue_lifetime 90m\n", 35ULL << 20, 5400, "" },
		{ "queue_lifetime 12h\n", 35ULL << 20, 43200, "" },
		{ "queue_lifetime 366d\n", 35ULL << 20, 366 * 86400, "" },
		{ "queue_lifetime 31622400\n", 35ULL << 20, 31622400, "" },
		{ "resolver 192.0.2.53\n", 35ULL << 20, 432000, "192.0.2.53@53" },
		{ "resolver 192.0.2.53@5300\n", 35ULL << 20, 432000, "192.0.2.53@5300" },
		{ "resolver ::1\n", 35ULL << 20, 432000, "::1@53" },
		{ "resolver 2001:db8::53@5353\n", 35ULL << 20, 432000, "2001:db8::53@5353" },
		{ "resolver 127.0.0.1@65535\n", 35ULL << 20, 432000, "127.0.0.1@65535" },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct conf *c = parse_ok(rows[i].text, __LINE__);

		if (c == NULL)
			continue;
		if (c->max_message_size != rows[i].size || c->queue_lifetime != rows[i].lifetime ||
		    strcmp(c->resolver, rows[i].resolver) != 0)
			test_fail(__FILE__, __LINE__, "\"%s\": size=%llu lifetime=%u resolver=\"%s\"",
			    test_escape(rows[i].text, strlen(rows[i].text)), c->max_message_size,
			    c->queue_lifetime, c->resolver);
		conf_unref(c);
	}
}

static void
test_lists(void)
{
	struct conf *c;

	/* one retry step; state_dir relative forms */
	c = parse_ok("retry 30s\nstate_dir ./run\n", __LINE__);
	if (c != NULL) {
		CHECK_INT(c->nretry, 1);
		CHECK_INT(c->retry[0], 30);
		CHECK_STR(c->state_dir, "./run");
		conf_unref(c);
	}
	c = parse_ok("state_dir .\n", __LINE__);
	if (c != NULL) {
		CHECK_STR(c->state_dir, ".");
		conf_unref(c);
	}
	/* trusted across lines accumulates; /0 networks; IPv6 listen with TLS */
	c = parse_ok("trusted 0.0.0.0/0\ntrusted ::/0 fe80::/10\ntrusted 192.0.2.1/32 ::1/128\n"
	    "tls_cert /c\ntls_key /k\nlisten [::]:465 submissions\nlisten [2001:db8::1]:25 smtp\n",
	    __LINE__);
	if (c != NULL) {
		CHECK_INT(c->ntrusted, 5);
		if (c->ntrusted == 5) {
			CHECK(cidr_is(&c->trusted[0], "0.0.0.0", 0));
			CHECK_INT(c->trusted[0].prefix, 96);
			CHECK(cidr_is(&c->trusted[1], "::", 0));
			CHECK_INT(c->trusted[1].prefix, 0);
			CHECK(cidr_is(&c->trusted[2], "fe80::", 10));
			CHECK(cidr_is(&c->trusted[3], "192.0.2.1", 32));
			CHECK(cidr_is(&c->trusted[4], "::1", 128));
		}
		CHECK_INT(c->nlistens, 2);
		if (c->nlistens == 2) {
			CHECK(listen_is(&c->listens[0], "[::]:465", AF_INET6, "::", 465,
			    LISTEN_SUBMISSIONS, 6));
			CHECK(listen_is(&c->listens[1], "[2001:db8::1]:25", AF_INET6, "2001:db8::1",
			    25, LISTEN_SMTP, 7));
		}
		conf_unref(c);
	}
	/* the same port on two addresses is two listeners */
	c = parse_ok("listen 127.0.0.1:25 smtp\nlisten 127.0.0.2:25 smtp\nlisten [::1]:25 smtp\n",
	    __LINE__);
	if (c != NULL) {
		CHECK_INT(c->nlistens, 3);
		conf_unref(c);
	}
	/* route options in any order; auth with tls=may (the default) */
	c = parse_ok("route a.example [::1]:2525 auth=u:/s tls=may\nroute b.example h:1 auth=x:y\n",
	    __LINE__);
	if (c != NULL && c->nroutes == 2) {
		CHECK_STR(c->routes[0].host, "::1");
		CHECK_INT(c->routes[0].port, 2525);
		CHECK_INT(c->routes[0].tls, ROUTE_TLS_MAY);
		CHECK_STR(c->routes[0].auth_user, "u");
		CHECK_STR(c->routes[0].auth_secret_file, "/s");
		CHECK_STR(c->routes[1].host, "h");
		CHECK_INT(c->routes[1].port, 1);
		CHECK_STR(c->routes[1].auth_secret_file, "y");
	}
	if (c != NULL) {
		CHECK_INT(c->nroutes, 2);
		conf_unref(c);
	}
	/* a word that merely contains '#' is not a comment */
	c = parse_ok("route a.example h:25 auth=u#1:/s#2\n", __LINE__);
	if (c != NULL && c->nroutes == 1) {
		CHECK_STR(c->routes[0].auth_user, "u#1");
		CHECK_STR(c->routes[0].auth_secret_file, "/s#2");
	}
	conf_unref(c);
	/* sixteen words is the most a line may have */
	c = parse_ok("trusted 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 "
	    "10.0.0.8 10.0.0.9 10.0.0.10 10.0.0.11 10.0.0.12 10.0.0.13 10.0.0.14 10.0.0.15\n",
	    __LINE__);
	if (c != NULL) {
		CHECK_INT(c->ntrusted, 15);
		conf_unref(c);
	}
}

/* `retry` takes up to 32 steps (its table row): 32 are read, 33 refused
 * by the argument count, and a line of very many words by the splitter. */
static void
test_retry_many(void)
{
	struct conf_errors errs;
	struct conf *c;
	struct buf b;
	int i;

	buf_init(&b, 1 << 16);
	(void)buf_puts(&b, "retry");
	for (i = 1; i <= 32; i++)
		(void)buf_printf(&b, " %dm", i);
	c = parse_ok(b.data, __LINE__);
	if (c != NULL) {
		CHECK_INT(c->nretry, 32);
		CHECK_INT(c->retry[0], 60);
		CHECK_INT(c->retry[31], 32 * 60);
		conf_unref(c);
	}
	(void)buf_puts(&b, " 33m\n");
	expect_errors(b.data, b.len, E("t.conf:1: retry takes 1 to 32 arguments"), __LINE__);
	buf_reset(&b, 0);
	(void)buf_puts(&b, "# words\ntrusted");
	for (i = 0; i < 500; i++)
		(void)buf_puts(&b, " ::1");
	(void)buf_puts(&b, "\n");
	c = parse(b.data, &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1) {
		size_t n = strlen(errs.msgs[0]);

		CHECK(strncmp(errs.msgs[0], "t.conf:2: more than ", 20) == 0);
		CHECK(n > 6 && strcmp(errs.msgs[0] + n - 6, " words") == 0);
	}
	conf_errors_free(&errs);
	conf_unref(c);
	buf_free(&b);
}

/* ---- bad texts ---- */

static const struct {
	const char *text;
	const char *const *errs;
} bad_texts[] = {
	/* directives and argument counts */
	{ "frobnicate 1\n", E("t.conf:1: unknown directive \"frobnicate\"") },
	{ "Hostname a.example\n", E("t.conf:1: unknown directive \"Hostname\"") },
	{ "hostname\n", E("t.conf:1: hostname takes 1 argument") },
	{ "hostname a.example b.example\n", E("t.conf:1: hostname takes 1 argument") },
	{ "listen 127.0.0.1:25\n", E("t.conf:1: listen takes 2 arguments") },
	{ "listen 127.0.0.1:25 smtp x\n", E("t.conf:1: listen takes 2 arguments") },
	{ "route a.example\n", E("t.conf:1: route takes 2 to 4 arguments") },
	{ "route a.example h:25 tls=may auth=a:b x\n", E("t.conf:1: route takes 2 to 4 arguments") },
	{ "limit *\n", E("t.conf:1: limit takes 2 to 4 arguments") },
	{ "timeout command\n", E("t.conf:1: timeout takes 2 arguments") },
	{ "tls_ca\n", E("t.conf:1: tls_ca takes 1 argument") },
	/* once-only directives */
	{ "hostname a.example\nhostname b.example\n",
	  E("t.conf:2: hostname already given at line 1") },
	{ "max_errors 5\n# c\n\nmax_errors 6\n", E("t.conf:4: max_errors already given at line 1") },
	{ "retry 1m\nretry 2m\n", E("t.conf:2: retry already given at line 1") },
	{ "tls_cert /a\ntls_key /b\ntls_cert /c\n", E("t.conf:3: tls_cert already given at line 1") },
	/* values */
	{ "hostname -bad-.example\n", E("t.conf:1: hostname: \"-bad-.example\": bad address syntax") },
	{ "hostname \xe2\x98\x83.example\n",
	  E("t.conf:1: hostname: \"\xe2\x98\x83.example\": domain is not a valid IDNA2008 name") },
	{ "state_dir var/lib/mtad\n",
	  E("t.conf:1: state_dir: \"var/lib/mtad\" must be an absolute path or start with ./") },
	{ "queue_lifetime 5x\n", E("t.conf:1: queue_lifetime: \"5x\" is not a duration (like 5d)") },
	{ "queue_lifetime 0\n", E("t.conf:1: queue_lifetime: \"0\" is not a duration (like 5d)") },
	{ "queue_lifetime 0d\n", E("t.conf:1: queue_lifetime: \"0d\" is not a duration (like 5d)") },
	{ "queue_lifetime d\n", E("t.conf:1: queue_lifetime: \"d\" is not a duration (like 5d)") },
	{ "queue_lifetime 367d\n", E("t.conf:1: queue_lifetime: \"367d\" is not a duration (like 5d)") },
	{ "queue_lifetime 31622401\n",
	  E("t.conf:1: queue_lifetime: \"31622401\" is not a duration (like 5d)") },
	{ "queue_lifetime -5m\n", E("t.conf:1: queue_lifetime: \"-5m\" is not a duration (like 5d)") },
	{ "queue_lifetime 5M\n", E("t.conf:1: queue_lifetime: \"5M\" is not a duration (like 5d)") },
	{ "retry 5m bogus 1h 0s\n",
	  E("t.conf:1: retry: \"bogus\" is not a duration (like 30s, 5m, 4h, 1d)",
	    "t.conf:1: retry: \"0s\" is not a duration (like 30s, 5m, 4h, 1d)") },
	{ "timeout data 0\n", E("t.conf:1: timeout data: \"0\" is not a duration") },
	{ "timeout connect 1w\n", E("t.conf:1: timeout connect: \"1w\" is not a duration") },
	{ "timeout banner 5m\n", E("t.conf:1: timeout: unknown timeout \"banner\" (command, data, "
	    "connect, greeting, mail, rcpt, data_init, data_block, data_end)") },
	{ "timeout Command 5m\n", E("t.conf:1: timeout: unknown timeout \"Command\" (command, data, "
	    "connect, greeting, mail, rcpt, data_init, data_block, data_end)") },
	{ "max_message_size 10\n",
	  E("t.conf:1: max_message_size: \"10\" is not a size from 64K to 1G") },
	{ "max_message_size 63K\n",
	  E("t.conf:1: max_message_size: \"63K\" is not a size from 64K to 1G") },
	{ "max_message_size 2G\n",
	  E("t.conf:1: max_message_size: \"2G\" is not a size from 64K to 1G") },
	{ "max_message_size 1025M\n",
	  E("t.conf:1: max_message_size: \"1025M\" is not a size from 64K to 1G") },
	{ "max_message_size 1T\n",
	  E("t.conf:1: max_message_size: \"1T\" is not a size from 64K to 1G") },
	{ "max_message_size M\n",
	  E("t.conf:1: max_message_size: \"M\" is not a size from 64K to 1G") },
	{ "max_message_size 5.5M\n",
	  E("t.conf:1: max_message_size: \"5.5M\" is not a size from 64K to 1G") },
	/* 2^34 + 1 G wraps to exactly 1G in 64 bits: must still be refused */
	{ "max_message_size 17179869185G\n",
	  E("t.conf:1: max_message_size: \"17179869185G\" is not a size from 64K to 1G") },
	{ "max_recipients 99\n",
	  E("t.conf:1: max_recipients: \"99\" is not a number from 100 to 100000") },
	{ "max_recipients 100001\n",
	  E("t.conf:1: max_recipients: \"100001\" is not a number from 100 to 100000") },
	{ "max_errors abc\n", E("t.conf:1: max_errors: \"abc\" is not a number from 1 to 1000") },
	{ "max_errors 0\n", E("t.conf:1: max_errors: \"0\" is not a number from 1 to 1000") },
	{ "max_sessions 10001\n",
	  E("t.conf:1: max_sessions: \"10001\" is not a number from 1 to 10000") },
	{ "mx_port 0\n", E("t.conf:1: mx_port: \"0\" is not a number from 1 to 65535") },
	{ "mx_port 65536\n", E("t.conf:1: mx_port: \"65536\" is not a number from 1 to 65535") },
	{ "resolver localhost\n", E("t.conf:1: resolver: \"localhost\" is not IP or IP@PORT") },
	{ "resolver 1.2.3.4@0\n", E("t.conf:1: resolver: \"1.2.3.4@0\" is not IP or IP@PORT") },
	{ "resolver 1.2.3.4@65536\n",
	  E("t.conf:1: resolver: \"1.2.3.4@65536\" is not IP or IP@PORT") },
	{ "resolver 1.2.3.4@\n", E("t.conf:1: resolver: \"1.2.3.4@\" is not IP or IP@PORT") },
	{ "resolver [::1]:53\n", E("t.conf:1: resolver: \"[::1]:53\" is not IP or IP@PORT") },
	{ "resolver 1.2.3.4:53\n", E("t.conf:1: resolver: \"1.2.3.4:53\" is not IP or IP@PORT") },
	/* networks */
	{ "trusted 10.0.0.1/8\n",
	  E("t.conf:1: trusted: \"10.0.0.1/8\" has host bits set beyond its prefix") },
	{ "trusted 192.168.1.128/24\n",
	  E("t.conf:1: trusted: \"192.168.1.128/24\" has host bits set beyond its prefix") },
	{ "trusted 2001:db8::1/64\n",
	  E("t.conf:1: trusted: \"2001:db8::1/64\" has host bits set beyond its prefix") },
	{ "trusted 0.0.0.1/0\n",
	  E("t.conf:1: trusted: \"0.0.0.1/0\" has host bits set beyond its prefix") },
	{ "trusted 10.0.0.0/33\n", E("t.conf:1: trusted: \"10.0.0.0/33\" has a bad prefix length") },
	{ "trusted ::/129\n", E("t.conf:1: trusted: \"::/129\" has a bad prefix length") },
	{ "trusted 10.0.0.0/\n", E("t.conf:1: trusted: \"10.0.0.0/\" has a bad prefix length") },
	{ "trusted 10.0.0.0/-8\n", E("t.conf:1: trusted: \"10.0.0.0/-8\" has a bad prefix length") },
	{ "trusted 10.0.0.0/8/8\n", E("t.conf:1: trusted: \"10.0.0.0/8/8\" has a bad prefix length") },
	{ "trusted example.com\n",
	  E("t.conf:1: trusted: \"example.com\" is not an IPv4 or IPv6 network") },
	{ "trusted 10.0.0/8\n", E("t.conf:1: trusted: \"10.0.0/8\" is not an IPv4 or IPv6 network") },
	{ "trusted 10.0.0.0/8 bogus 192.168.0.0/16 ::1/200\n",
	  E("t.conf:1: trusted: \"bogus\" is not an IPv4 or IPv6 network",
	    "t.conf:1: trusted: \"::1/200\" has a bad prefix length") },
	/* listeners */
	{ "listen 127.0.0.1:25 smtp\nlisten 127.0.0.1:25 submission\n",
	  E("t.conf:2: listen: 127.0.0.1:25 already given at line 1") },
	{ "listen [::1]:25 smtp\n\nlisten [::1]:25 smtp\n",
	  E("t.conf:3: listen: [::1]:25 already given at line 1") },
	/* the same address spelled differently is the same listener */
	{ "listen [::1]:25 smtp\nlisten [0:0::1]:25 smtp\n",
	  E("t.conf:2: listen: [::1]:25 already given at line 1") },
	{ "listen localhost:25 smtp\n",
	  E("t.conf:1: listen: \"localhost:25\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen 127.0.0.1 smtp\n",
	  E("t.conf:1: listen: \"127.0.0.1\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen 127.0.0.1:0 smtp\n",
	  E("t.conf:1: listen: \"127.0.0.1:0\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen 127.0.0.1:65536 smtp\n",
	  E("t.conf:1: listen: \"127.0.0.1:65536\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen ::1:25 smtp\n",
	  E("t.conf:1: listen: \"::1:25\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen [::1]25 smtp\n",
	  E("t.conf:1: listen: \"[::1]25\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen [127.0.0.1]:25 smtp\n",
	  E("t.conf:1: listen: \"[127.0.0.1]:25\" is not IPv4:PORT or [IPv6]:PORT") },
	{ "listen 127.0.0.1:25 lmtp\n",
	  E("t.conf:1: listen: type must be smtp, submission or submissions") },
	{ "listen 127.0.0.1:25 SMTP\n",
	  E("t.conf:1: listen: type must be smtp, submission or submissions") },
	{ "listen [::1]:587 submission\n",
	  E("t.conf:1: listen: a submission listener needs tls_cert and tls_key "
	    "(AUTH is only offered over TLS)") },
	{ "listen 0.0.0.0:587 submission\n# x\nlisten [::]:465 submissions\n",
	  E("t.conf:1: listen: a submission listener needs tls_cert and tls_key "
	    "(AUTH is only offered over TLS)",
	    "t.conf:3: listen: a submissions listener needs tls_cert and tls_key "
	    "(AUTH is only offered over TLS)") },
	{ "tls_cert /etc/c.pem\n", E("t.conf:1: tls_cert and tls_key go together") },
	{ "\n\ntls_key /etc/k.pem\n", E("t.conf:3: tls_cert and tls_key go together") },
	/* routes */
	{ "route example.net mx.example.net:25 tls=none auth=u:/f\n",
	  E("t.conf:1: route: auth= needs TLS (tls=may, require or verify)") },
	{ "route example.net mx.example.net:25 auth=u:/f tls=none\n",
	  E("t.conf:1: route: auth= needs TLS (tls=may, require or verify)") },
	{ "route example.net mx.example.net:25 tls=maybe\n",
	  E("t.conf:1: route: tls= must be none, may, require or verify") },
	{ "route example.net mx.example.net:25 auth=nofile\n",
	  E("t.conf:1: route: auth= must be USER:SECRETFILE") },
	{ "route example.net mx.example.net:25 auth=:/f\n",
	  E("t.conf:1: route: auth= must be USER:SECRETFILE") },
	{ "route example.net mx.example.net:25 auth=u:\n",
	  E("t.conf:1: route: auth= must be USER:SECRETFILE") },
	{ "route example.net mx.example.net:25 via=x\n",
	  E("t.conf:1: route: unknown option \"via=x\"") },
	{ "route example.net mx.example.net\n",
	  E("t.conf:1: route: \"mx.example.net\" is not HOST:PORT") },
	{ "route example.net mx.example.net:0\n",
	  E("t.conf:1: route: \"mx.example.net:0\" is not HOST:PORT") },
	{ "route -x.example h:25\n", E("t.conf:1: route: \"-x.example\": bad address syntax") },
	{ "route ** h:25\n", E("t.conf:1: route: \"**\": bad address syntax") },
	{ "route example.net a:25\nroute Example.NET b:25\n",
	  E("t.conf:2: route: example.net already has a route at line 1") },
	{ "route * a:25\nroute * b:25\n", E("t.conf:2: route: * already has a route at line 1") },
	{ "route x.example bad_host:25 tls=bogus\n",
	  E("t.conf:1: route: \"bad_host:25\" is not HOST:PORT",
	    "t.conf:1: route: tls= must be none, may, require or verify") },
	/* limits */
	{ "limit * rate=10/d\n", E("t.conf:1: limit: rate= must be N/h or N/m") },
	{ "limit * rate=0/h\n", E("t.conf:1: limit: rate= must be N/h or N/m") },
	{ "limit * rate=10\n", E("t.conf:1: limit: rate= must be N/h or N/m") },
	{ "limit * rate=/h\n", E("t.conf:1: limit: rate= must be N/h or N/m") },
	{ "limit * rate=1000001/h\n", E("t.conf:1: limit: rate= must be N/h or N/m") },
	{ "limit * connections=0\n",
	  E("t.conf:1: limit: connections: \"0\" is not a number from 1 to 1000") },
	{ "limit * connections=1001\n",
	  E("t.conf:1: limit: connections: \"1001\" is not a number from 1 to 1000") },
	{ "limit * messages_per_connection=x\n",
	  E("t.conf:1: limit: messages_per_connection: \"x\" is not a number from 1 to 1000000") },
	{ "limit * speed=1\n", E("t.conf:1: limit: unknown option \"speed=1\"") },
	{ "limit a.example connections=1\nlimit A.example rate=1/m\n",
	  E("t.conf:2: limit: a.example already limited at line 1") },
	{ "limit b\xc3\xbc" "cher.example connections=1\nlimit xn--bcher-kva.example rate=1/m\n",
	  E("t.conf:2: limit: xn--bcher-kva.example already limited at line 1") },
	/* warmup */
	{ "warmup daily=100\n", E("t.conf:1: warmup: needs daily=N and since=YYYY-MM-DD") },
	{ "warmup since=2026-11-01\n", E("t.conf:1: warmup: needs daily=N and since=YYYY-MM-DD") },
	{ "warmup\n", E("t.conf:1: warmup takes 1 to 3 arguments") },
	{ "warmup daily=0 since=2026-11-01\n",
	  E("t.conf:1: warmup: daily: \"0\" is not a number from 1 to 10000000") },
	{ "warmup daily=10 since=2026-13-01\n",
	  E("t.conf:1: warmup: since= must be a date, YYYY-MM-DD") },
	{ "warmup daily=10 since=2026-1-01\n",
	  E("t.conf:1: warmup: since= must be a date, YYYY-MM-DD") },
	{ "warmup daily=10 since=2026-02-30\n",
	  E("t.conf:1: warmup: since= must be a date, YYYY-MM-DD") },
	{ "warmup daily=10 since=2026-11-01x\n",
	  E("t.conf:1: warmup: since= must be a date, YYYY-MM-DD") },
	{ "warmup daily=10 since=2026-11-01 growth=50\n",
	  E("t.conf:1: warmup: growth= must be a percentage, like growth=50%") },
	{ "warmup daily=10 since=2026-11-01 growth=0%\n",
	  E("t.conf:1: warmup: growth: \"0\" is not a number from 1 to 1000") },
	{ "warmup daily=10 since=2026-11-01 growth=12345678901234567%\n",
	  E("t.conf:1: warmup: growth= must be a percentage, like growth=50%") },
	{ "warmup daily=10 since=2026-11-01 speed=2\n",
	  E("t.conf:1: warmup: unknown option \"speed=2\"") },
	{ "warmup daily=10 since=2026-11-01\nwarmup daily=20 since=2026-11-02\n",
	  E("t.conf:2: warmup: already set at line 1") },
	/* comments, blank lines, CRLF and a last line without LF all count */
	{ "# comment\n\nhostname\n   # indented comment\nbogus x\n\r\nmax_errors 0\n",
	  E("t.conf:3: hostname takes 1 argument", "t.conf:5: unknown directive \"bogus\"",
	    "t.conf:7: max_errors: \"0\" is not a number from 1 to 1000") },
	{ "hostname a.example\r\nfoo\r\n", E("t.conf:2: unknown directive \"foo\"") },
	{ "hostname a.example\nfoo", E("t.conf:2: unknown directive \"foo\"") },
	{ "\n\n\n\n\n\n\n\n\n\nfoo # bar\n", E("t.conf:11: unknown directive \"foo\"") },
	{ "#hostname\nhostname#x a\n", E("t.conf:2: unknown directive \"hostname#x\"") },
	/* several errors, with cross-directive checks reported last */
	{ "tls_cert /c\nlisten 127.0.0.1:587 submission\nmax_recipients 1\nmx_port x\n",
	  E("t.conf:3: max_recipients: \"1\" is not a number from 100 to 100000",
	    "t.conf:4: mx_port: \"x\" is not a number from 1 to 65535",
	    "t.conf:1: tls_cert and tls_key go together") },
};

static void
test_bad_texts(void)
{
	size_t i;

	for (i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++)
		expect_errors(bad_texts[i].text, strlen(bad_texts[i].text), bad_texts[i].errs,
		    __LINE__);
}

/* A directive with no maximum argument count ("trusted") given none. */
static void
test_trusted_no_args(void)
{
	struct conf_errors errs;
	struct conf *c = parse("trusted\n", &errs);

	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1) {
		CHECK(strncmp(errs.msgs[0], "t.conf:1: trusted takes ", 24) == 0);
		if (strstr(errs.msgs[0], "-1") != NULL)
			test_fail(__FILE__, __LINE__, "message shows the table's -1: \"%s\"",
			    errs.msgs[0]);
	}
	conf_errors_free(&errs);
	conf_unref(c);
}

static void
test_line_limits(void)
{
	char *text = malloc(LIM_CONF_LINE + 64);
	size_t n;

	/* a line of exactly LIM_CONF_LINE bytes (LF not counted) is read */
	memset(text, ' ', LIM_CONF_LINE);
	memcpy(text, "hostname a.example", 18);
	text[LIM_CONF_LINE] = '\n';
	text[LIM_CONF_LINE + 1] = '\0';
	{
		struct conf *c = parse_ok(text, __LINE__);

		if (c != NULL)
			CHECK_STR(c->hostname, "a.example");
		conf_unref(c);
	}
	/* one byte more is refused, and the next line still counts as 2 */
	memset(text, '#', LIM_CONF_LINE + 1);
	n = LIM_CONF_LINE + 1;
	n += (size_t)snprintf(text + n, LIM_CONF_LINE + 64 - n, "\nbogus\n");
	expect_errors(text, n, E("t.conf:1: line longer than 4096 bytes",
	    "t.conf:2: unknown directive \"bogus\""), __LINE__);
	free(text);

	/* a NUL byte inside a line */
	expect_errors("hostname a\0b\nfoo\n", 17, E("t.conf:1: NUL byte in line",
	    "t.conf:2: unknown directive \"foo\""), __LINE__);
	expect_errors("\0", 1, E("t.conf:1: NUL byte in line"), __LINE__);
}

static void
test_error_cap(void)
{
	struct buf b;
	struct conf_errors errs;
	struct conf *c;
	int i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < LIM_CONF_ERRORS + 5; i++)
		(void)buf_puts(&b, "bogus\n");
	c = parse_len(b.data, b.len, &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, LIM_CONF_ERRORS);
	CHECK_INT(errs.dropped, 5);
	CHECK_STR(errs.msgs[LIM_CONF_ERRORS - 1], "t.conf:100: unknown directive \"bogus\"");
	conf_errors_free(&errs);
	CHECK_INT(errs.n, 0);
	CHECK_INT(errs.dropped, 0);
	buf_free(&b);
}

/* More list entries than LIM_CONF_ITEMS: an error at the line, never a
 * silently shorter list. */
static void
test_item_cap(void)
{
	struct buf b;
	struct conf_errors errs;
	struct conf *c;
	char want[128];
	int i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < LIM_CONF_ITEMS + 1; i++)
		(void)buf_puts(&b, "trusted 10.0.0.0/8\n");
	snprintf(want, sizeof want, "t.conf:%d: trusted: more than %d networks",
	    LIM_CONF_ITEMS + 1, LIM_CONF_ITEMS);
	expect_errors(b.data, b.len, E(want), __LINE__);
	buf_free(&b);

	buf_init(&b, 1 << 20);
	for (i = 0; i < LIM_CONF_ITEMS + 1; i++)
		(void)buf_printf(&b, "route d%d.example h:25\n", i);
	c = parse_len(b.data, b.len, &errs);
	if (c != NULL)
		test_fail(__FILE__, __LINE__, "%d routes accepted, kept %zu", LIM_CONF_ITEMS + 1,
		    c->nroutes);
	CHECK_INT(errs.n, 1);
	snprintf(want, sizeof want, "t.conf:%d: ", LIM_CONF_ITEMS + 1);
	CHECK(errs.n == 1 && strncmp(errs.msgs[0], want, strlen(want)) == 0);
	conf_unref(c);
	conf_errors_free(&errs);
	buf_free(&b);

	buf_init(&b, 1 << 20);
	for (i = 0; i < LIM_CONF_ITEMS + 1; i++)
		(void)buf_printf(&b, "limit d%d.example connections=1\n", i);
	c = parse_len(b.data, b.len, &errs);
	if (c != NULL)
		test_fail(__FILE__, __LINE__, "%d limits accepted, kept %zu", LIM_CONF_ITEMS + 1,
		    c->nlimits);
	CHECK_INT(errs.n, 1);
	CHECK(errs.n == 1 && strncmp(errs.msgs[0], want, strlen(want)) == 0);
	conf_unref(c);
	conf_errors_free(&errs);
	buf_free(&b);
}

/* Errors already in errs (another file) do not make a good text fail. */
static void
test_errors_appended(void)
{
	struct conf_errors errs;
	struct conf *c;

	memset(&errs, 0, sizeof errs);
	c = conf_parse("a.conf", "bogus\n", 6, "h", &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	c = conf_parse("b.conf", "hostname b.example\n", 19, "h", &errs);
	CHECK(c != NULL);
	CHECK_INT(errs.n, 1);
	conf_unref(c);
	c = conf_parse("c.conf", "x\n", 2, "h", &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 2);
	if (errs.n == 2) {
		CHECK_STR(errs.msgs[0], "a.conf:1: unknown directive \"bogus\"");
		CHECK_STR(errs.msgs[1], "c.conf:1: unknown directive \"x\"");
	}
	conf_errors_free(&errs);
}

static void
write_file(const char *path)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs("x\n", f);
		fclose(f);
	}
}

static void
test_check_files(void)
{
	char cert[300], key[300], secret[300], text[2048], want[2][700];
	struct conf_errors errs;
	struct conf *c;

	snprintf(cert, sizeof cert, "%s/cert.pem", test_tmpdir());
	snprintf(key, sizeof key, "%s/missing-key.pem", test_tmpdir());
	snprintf(secret, sizeof secret, "%s/missing-secret", test_tmpdir());
	write_file(cert);
	snprintf(text, sizeof text, "# files\ntls_cert %s\ntls_key %s\n\n"
	    "route example.net h:587 auth=u:%s\nroute * h:25\n", cert, key, secret);
	c = parse_ok(text, __LINE__);
	if (c == NULL)
		return;
	memset(&errs, 0, sizeof errs);
	CHECK_INT(conf_check_files(c, &errs), 2);
	CHECK_INT(errs.n, 2);
	snprintf(want[0], sizeof want[0],
	    "t.conf:3: tls_key: cannot read \"%s\": No such file or directory", key);
	snprintf(want[1], sizeof want[1],
	    "t.conf:5: route auth: cannot read \"%s\": No such file or directory", secret);
	if (errs.n == 2) {
		CHECK_STR(errs.msgs[0], want[0]);
		CHECK_STR(errs.msgs[1], want[1]);
	}
	conf_errors_free(&errs);
	/* all present: nothing added */
	write_file(key);
	write_file(secret);
	CHECK_INT(conf_check_files(c, &errs), 0);
	CHECK_INT(errs.n, 0);
	conf_unref(c);
	/* no files named at all */
	c = parse_ok("", __LINE__);
	if (c != NULL) {
		CHECK_INT(conf_check_files(c, &errs), 0);
		conf_unref(c);
	}
}

static void
test_load(void)
{
	char path[300], want[400];
	struct conf_errors errs;
	struct conf *c;
	FILE *f;

	snprintf(path, sizeof path, "%s/mtad.conf", test_tmpdir());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs("hostname load.example\nmax_errors 7\n", f);
	fclose(f);
	memset(&errs, 0, sizeof errs);
	c = conf_load(path, &errs);
	CHECK(c != NULL);
	CHECK_INT(errs.n, 0);
	if (c != NULL) {
		CHECK_STR(c->path, path);
		CHECK_STR(c->hostname, "load.example");
		CHECK_INT(c->max_errors, 7);
		conf_unref(c);
	}
	snprintf(path, sizeof path, "%s/nonexistent.conf", test_tmpdir());
	c = conf_load(path, &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	if (errs.n == 1)
		CHECK_STR(errs.msgs[0], want);
	conf_errors_free(&errs);
}

static void
test_refs(void)
{
	struct conf *c = parse_ok("max_errors 3\n", __LINE__), *cur;

	if (c == NULL)
		return;
	CHECK_INT(c->refs, 1);
	conf_ref(c);
	CHECK_INT(c->refs, 2);
	conf_ref(c);
	CHECK_INT(c->refs, 3);
	conf_unref(c);
	conf_unref(c);
	CHECK_INT(c->refs, 1);
	conf_unref(NULL);		/* harmless */

	/* the current configuration holds its own reference */
	conf_set_current(c);		/* takes ours */
	cur = conf_current();
	CHECK(cur == c);
	CHECK_INT(c->refs, 2);
	conf_unref(cur);
	CHECK_INT(c->refs, 1);
	conf_set_current(NULL);		/* frees it (ASan/LSan would tell) */
	CHECK(conf_current() == NULL);
}

static void
test_kind_names(void)
{
	CHECK_STR(conf_listen_kind_name(LISTEN_SMTP), "smtp");
	CHECK_STR(conf_listen_kind_name(LISTEN_SUBMISSION), "submission");
	CHECK_STR(conf_listen_kind_name(LISTEN_SUBMISSIONS), "submissions");
	CHECK_STR(conf_listen_kind_name((enum listen_kind)42), "?");
}

/* route and limit: the domain's own line wins over "*". */
static void
test_lookup(void)
{
	struct conf *c = parse_ok("route example.net 127.0.0.1:2526\n"
	    "route * smart.example.org:587 tls=require\n"
	    "limit example.org connections=3\n", __LINE__);

	if (c == NULL)
		return;
	CHECK_STR(conf_route_for(c, "example.net")->host, "127.0.0.1");
	CHECK_STR(conf_route_for(c, "other.example")->host, "smart.example.org");
	CHECK_INT(conf_limit_for(c, "example.org")->connections, 3);
	CHECK(conf_limit_for(c, "example.net") == NULL);
	conf_unref(c);
	c = parse_ok("", __LINE__);
	CHECK(c != NULL && conf_route_for(c, "example.net") == NULL);
	conf_unref(c);
}

/* conf_limit_named has no "*" fallback (MX providers' own lines). */
static void
test_limit_named(void)
{
	struct conf *c = parse_ok("limit google.com connections=4\nlimit * connections=9\n",
	    __LINE__);

	if (c == NULL)
		return;
	CHECK_INT(conf_limit_named(c, "google.com")->connections, 4);
	CHECK(conf_limit_named(c, "gmail.com") == NULL);
	CHECK_INT(conf_limit_for(c, "gmail.com")->connections, 9);
	conf_unref(c);
}

/* The warm-up cap: `daily` on the `since` day (and before it), growing
 * by growth% a day, none once past LIM_WARMUP_END. */
static void
test_warmup_cap(void)
{
	struct conf *c = parse_ok("warmup daily=100 since=2026-11-20 growth=100%\n", __LINE__);
	time_t day0 = (time_t)20777 * 86400;	/* 2026-11-20 00:00 UTC */

	if (c == NULL)
		return;
	CHECK_INT(c->warmup.since_day, 20777);
	CHECK_INT(conf_warmup_cap(c, day0), 100);
	CHECK_INT(conf_warmup_cap(c, day0 + 86399), 100);
	CHECK_INT(conf_warmup_cap(c, day0 - 86400 * 3), 100);
	CHECK_INT(conf_warmup_cap(c, day0 + 86400), 200);
	CHECK_INT(conf_warmup_cap(c, day0 + 86400 * 6), 6400);
	CHECK_INT(conf_warmup_cap(c, day0 + 86400 * 16), 6553600);
	CHECK_INT(conf_warmup_cap(c, day0 + 86400 * 17), 0);	/* over: no cap */
	CHECK_INT(conf_warmup_cap(c, day0 + 86400 * 4000), 0);
	conf_unref(c);
	c = parse_ok("warmup daily=50 since=2026-11-20\n", __LINE__);	/* 50% a day */
	if (c == NULL)
		return;
	CHECK_INT(c->warmup.growth, LIM_DEF_WARMUP_GROWTH);
	CHECK_INT(conf_warmup_cap(c, day0 + 86400 * 2), 112);
	conf_unref(c);
	c = parse_ok("", __LINE__);
	CHECK(c != NULL && conf_warmup_cap(c, day0) == 0);
	conf_unref(c);
}

const struct test conf_tests[] = {
	{ "lookup", test_lookup },
	{ "limit_named", test_limit_named },
	{ "warmup_cap", test_warmup_cap },
	{ "full", test_full },
	{ "defaults", test_defaults },
	{ "values", test_values },
	{ "lists", test_lists },
	{ "retry_many", test_retry_many },
	{ "bad_texts", test_bad_texts },
	{ "trusted_no_args", test_trusted_no_args },
	{ "line_limits", test_line_limits },
	{ "error_cap", test_error_cap },
	{ "item_cap", test_item_cap },
	{ "errors_appended", test_errors_appended },
	{ "check_files", test_check_files },
	{ "load", test_load },
	{ "refs", test_refs },
	{ "kind_names", test_kind_names },
	{ NULL, NULL },
};
