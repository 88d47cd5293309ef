/*
 * test_policy.c -- relay decisions (policy.h): which peers are trusted
 * (IPv4, IPv6 and IPv4-mapped IPv6 against networks of every prefix
 * shape), MAIL on submission without AUTH, RCPT from untrusted peers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "conf.h"
#include "policy.h"
#include "test.h"

/* A sockaddr for an IPv4 or IPv6 literal. */
static void
peer(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(ip, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		CHECK_INT(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
		CHECK_INT(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	}
}

static struct conf *
conf_of(const char *text)
{
	struct conf_errors errs;
	struct conf *c;
	size_t i;

	memset(&errs, 0, sizeof errs);
	c = conf_parse("p.conf", text, strlen(text), "mx.test", &errs);
	if (c == NULL)
		test_fail(__FILE__, __LINE__, "conf \"%s\" refused", test_escape(text, strlen(text)));
	for (i = 0; i < errs.n; i++)
		test_fail(__FILE__, __LINE__, "  %s", errs.msgs[i]);
	conf_errors_free(&errs);
	return c;
}

static void
test_trusted(void)
{
	static const struct {
		const char *conf;
		const char *peer;
		int want;
	} rows[] = {
		/* IPv4 /8 */
		{ "trusted 10.0.0.0/8", "10.0.0.0", 1 },
		{ "trusted 10.0.0.0/8", "10.1.2.3", 1 },
		{ "trusted 10.0.0.0/8", "10.255.255.255", 1 },
		{ "trusted 10.0.0.0/8", "11.0.0.0", 0 },
		{ "trusted 10.0.0.0/8", "9.255.255.255", 0 },
		{ "trusted 10.0.0.0/8", "::ffff:10.1.2.3", 1 },	/* IPv4-mapped */
		{ "trusted 10.0.0.0/8", "::ffff:11.1.2.3", 0 },
		{ "trusted 10.0.0.0/8", "::10.1.2.3", 0 },		/* IPv4-compatible */
		{ "trusted 10.0.0.0/8", "a01:203::", 0 },
		{ "trusted 10.0.0.0/8", "2001:db8::1", 0 },
		/* /32 */
		{ "trusted 192.0.2.1/32", "192.0.2.1", 1 },
		{ "trusted 192.0.2.1", "192.0.2.1", 1 },
		{ "trusted 192.0.2.1/32", "192.0.2.0", 0 },
		{ "trusted 192.0.2.1/32", "192.0.2.2", 0 },
		{ "trusted 192.0.2.1/32", "::ffff:192.0.2.1", 1 },
		{ "trusted 192.0.2.1/32", "::ffff:192.0.2.3", 0 },
		/* prefixes that end inside a byte */
		{ "trusted 10.128.0.0/9", "10.128.0.1", 1 },
		{ "trusted 10.128.0.0/9", "10.255.0.1", 1 },
		{ "trusted 10.128.0.0/9", "10.127.255.255", 0 },
		{ "trusted 172.16.0.0/12", "172.31.255.255", 1 },
		{ "trusted 172.16.0.0/12", "172.32.0.0", 0 },
		{ "trusted 172.16.0.0/12", "172.15.255.255", 0 },
		{ "trusted 192.0.2.128/25", "192.0.2.200", 1 },
		{ "trusted 192.0.2.128/25", "192.0.2.127", 0 },
		{ "trusted 192.0.2.4/31", "192.0.2.5", 1 },
		{ "trusted 192.0.2.4/31", "192.0.2.6", 0 },
		{ "trusted 2001:db8::/33", "2001:db8:7fff:ffff::1", 1 },
		{ "trusted 2001:db8::/33", "2001:db8:8000::", 0 },
		{ "trusted 2001:db8::/127", "2001:db8::1", 1 },
		{ "trusted 2001:db8::/127", "2001:db8::2", 0 },
		/* /0 */
		{ "trusted 0.0.0.0/0", "203.0.113.5", 1 },
		{ "trusted 0.0.0.0/0", "0.0.0.0", 1 },
		{ "trusted 0.0.0.0/0", "255.255.255.255", 1 },
		{ "trusted 0.0.0.0/0", "::ffff:1.2.3.4", 1 },
		{ "trusted 0.0.0.0/0", "2001:db8::1", 0 },
		{ "trusted 0.0.0.0/0", "::1", 0 },
		{ "trusted ::/0", "2001:db8::1", 1 },
		{ "trusted ::/0", "::", 1 },
		{ "trusted ::/0", "1.2.3.4", 1 },
		/* /128 */
		{ "trusted ::1/128", "::1", 1 },
		{ "trusted ::1", "::1", 1 },
		{ "trusted ::1/128", "::2", 0 },
		{ "trusted ::1/128", "::", 0 },
		{ "trusted ::1/128", "127.0.0.1", 0 },
		{ "trusted 2001:db8::25/128", "2001:db8::25", 1 },
		{ "trusted 2001:db8::25/128", "2001:db8::24", 0 },
		/* /64 */
		{ "trusted 2001:db8:1:2::/64", "2001:db8:1:2::", 1 },
		{ "trusted 2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", 1 },
		{ "trusted 2001:db8:1:2::/64", "2001:db8:1:3::", 0 },
		{ "trusted 2001:db8:1:2::/64", "2001:db8:1:1:ffff:ffff:ffff:ffff", 0 },
		{ "trusted 2001:db8:1:2::/64", "2001:db9:1:2::1", 0 },
		/* an IPv4 network written in mapped form */
		{ "trusted ::ffff:10.0.0.0/104", "10.9.8.7", 1 },
		{ "trusted ::ffff:10.0.0.0/104", "11.9.8.7", 0 },
		/* several networks, over several lines */
		{ "trusted 10.0.0.0/8 2001:db8::/32\ntrusted 192.0.2.0/24", "192.0.2.9", 1 },
		{ "trusted 10.0.0.0/8 2001:db8::/32\ntrusted 192.0.2.0/24", "2001:db8:ff::1", 1 },
		{ "trusted 10.0.0.0/8 2001:db8::/32\ntrusted 192.0.2.0/24", "192.0.3.9", 0 },
		/* the defaults: 127.0.0.1 and ::1 only */
		{ "", "127.0.0.1", 1 },
		{ "", "::1", 1 },
		{ "", "::ffff:127.0.0.1", 1 },
		{ "", "127.0.0.2", 0 },
		{ "", "10.0.0.1", 0 },
		{ "", "::2", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct conf *c = conf_of(rows[i].conf);
		struct sockaddr_storage ss;
		int got;

		if (c == NULL)
			continue;
		peer(rows[i].peer, &ss);
		got = policy_client_trusted(c, (const struct sockaddr *)&ss);
		if (got != rows[i].want)
			test_fail(__FILE__, __LINE__, "\"%s\" peer %s: trusted %d, want %d",
			    test_escape(rows[i].conf, strlen(rows[i].conf)), rows[i].peer, got,
			    rows[i].want);
		conf_unref(c);
	}
}

static void
test_trusted_other_family(void)
{
	struct conf *c = conf_of("trusted ::/0 0.0.0.0/0\n");
	struct sockaddr_un sun;

	if (c == NULL)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	CHECK_INT(policy_client_trusted(c, (const struct sockaddr *)&sun), 0);
	conf_unref(c);
}

static void
test_mail(void)
{
	static const struct {
		enum listen_kind listener;
		int trusted, authenticated;
		int code;
		const char *reply;
	} rows[] = {
		{ LISTEN_SMTP, 0, 0, 0, "" },
		{ LISTEN_SMTP, 1, 0, 0, "" },
		{ LISTEN_SMTP, 0, 1, 0, "" },
		{ LISTEN_SUBMISSION, 0, 0, 530, "530 5.7.0 Authentication required" },
		{ LISTEN_SUBMISSION, 1, 0, 530, "530 5.7.0 Authentication required" },
		{ LISTEN_SUBMISSIONS, 0, 0, 530, "530 5.7.0 Authentication required" },
		{ LISTEN_SUBMISSION, 0, 1, 0, "" },
		{ LISTEN_SUBMISSIONS, 1, 1, 0, "" },
	};
	struct addr sender;
	size_t i;

	CHECK_INT(addr_parse_mailbox("a@sender.example", &sender), ADDR_OK);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct policy_client pc = { .trusted = rows[i].trusted,
		    .authenticated = rows[i].authenticated, .listener = rows[i].listener, .any_domain = 1 };
		struct policy_verdict v;

		v.code = -1;
		snprintf(v.reply, sizeof v.reply, "stale");
		policy_mail(&pc, &sender, &v);
		if (v.code != rows[i].code || strcmp(v.reply, rows[i].reply) != 0)
			test_fail(__FILE__, __LINE__, "row %zu: %d \"%s\", want %d \"%s\"", i, v.code,
			    v.reply, rows[i].code, rows[i].reply);
	}
}

static void
test_rcpt(void)
{
	static const struct {
		enum listen_kind listener;
		int trusted, authenticated;
		int code;
		const char *reply;
	} rows[] = {
		{ LISTEN_SMTP, 1, 0, 0, "" },
		{ LISTEN_SMTP, 0, 0, 550, "550 5.7.1 Relay access denied" },
		{ LISTEN_SMTP, 0, 1, 0, "" },
		{ LISTEN_SUBMISSION, 0, 1, 0, "" },
		{ LISTEN_SUBMISSION, 0, 0, 550, "550 5.7.1 Relay access denied" },
		{ LISTEN_SUBMISSIONS, 1, 0, 0, "" },
		{ LISTEN_SUBMISSIONS, 0, 0, 550, "550 5.7.1 Relay access denied" },
	};
	static const char *rcpts[] = { "b@rcpt.example", "u@[192.0.2.1]" };
	size_t i, r;

	for (r = 0; r < sizeof rcpts / sizeof rcpts[0]; r++) {
		struct addr rcpt;

		CHECK_INT(addr_parse_mailbox(rcpts[r], &rcpt), ADDR_OK);
		for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			struct policy_client pc = { .trusted = rows[i].trusted,
			    .authenticated = rows[i].authenticated, .listener = rows[i].listener,
			    .any_domain = 1 };
			struct policy_verdict v;

			v.code = -1;
			snprintf(v.reply, sizeof v.reply, "stale");
			policy_rcpt(&pc, &rcpt, &v);
			if (v.code != rows[i].code || strcmp(v.reply, rows[i].reply) != 0)
				test_fail(__FILE__, __LINE__, "%s row %zu: %d \"%s\", want %d \"%s\"",
				    rcpts[r], i, v.code, v.reply, rows[i].code, rows[i].reply);
		}
	}
}

/* From a peer address to a verdict, as the session does it. */
static void
test_peer_to_verdict(void)
{
	struct conf *c = conf_of("trusted 192.0.2.0/24 2001:db8::/64\n");
	static const struct {
		const char *peer;
		int code;
	} rows[] = {
		{ "192.0.2.10", 0 },
		{ "::ffff:192.0.2.10", 0 },
		{ "2001:db8::10", 0 },
		{ "198.51.100.10", 550 },
		{ "2001:db8:0:1::10", 550 },
	};
	struct addr rcpt;
	size_t i;

	if (c == NULL)
		return;
	CHECK_INT(addr_parse_mailbox("x@y.example", &rcpt), ADDR_OK);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct sockaddr_storage ss;
		struct policy_client pc = { .listener = LISTEN_SMTP, .any_domain = 1 };
		struct policy_verdict v;

		peer(rows[i].peer, &ss);
		pc.trusted = policy_client_trusted(c, (const struct sockaddr *)&ss);
		policy_rcpt(&pc, &rcpt, &v);
		if (v.code != rows[i].code)
			test_fail(__FILE__, __LINE__, "peer %s: %d, want %d", rows[i].peer, v.code,
			    rows[i].code);
	}
	conf_unref(c);
}

/* A user limited to sender domains: MAIL FROM and the From: header. */
static void
test_user_domains(void)
{
	static const struct {
		const char *from;	/* From: header value */
		int code;
	} rows[] = {
		{ " Alice <alice@example.org>", 0 },
		{ " alice@EXAMPLE.ORG", 0 },
		{ " \"A\" <a@example.org>, b@sub.example.com", 0 },
		{ " <a@other.example>", 550 },
		{ " a@example.org, b@other.example", 550 },
		{ " \"evil@example.org\" <me@other.example>", 550 },
		{ " undisclosed", 550 },
		{ " =?utf-8?q?x?= <a@b\xc3\xbc" "cher.example>", 0 },
	};
	struct policy_client pc = { .authenticated = 1, .listener = LISTEN_SUBMISSION,
		.user = "alice", .domains = "example.org,sub.example.com,xn--bcher-kva.example" };
	struct policy_verdict v;
	struct addr a;
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		policy_from_header(&pc, rows[i].from, &v);
		if (v.code != rows[i].code)
			test_fail(__FILE__, __LINE__, "From:%s: code %d, want %d (%s)", rows[i].from,
			    v.code, rows[i].code, v.reply);
	}
	CHECK_INT(addr_parse_mailbox("x@sub.example.com", &a), ADDR_OK);
	policy_mail(&pc, &a, &v);
	CHECK_INT(v.code, 0);
	CHECK_INT(addr_parse_mailbox("x@example.net", &a), ADDR_OK);
	policy_mail(&pc, &a, &v);
	CHECK_INT(v.code, 550);
	CHECK_STR(v.reply, "550 5.7.1 <x@example.net>: sender address not allowed for this user");
	pc.any_domain = 1;
	policy_mail(&pc, &a, &v);
	CHECK_INT(v.code, 0);
	policy_from_header(&pc, " nobody", &v);
	CHECK_INT(v.code, 0);
}

const struct test policy_tests[] = {
	{ "user_domains", test_user_domains },
	{ "trusted", test_trusted },
	{ "trusted_other_family", test_trusted_other_family },
	{ "mail", test_mail },
	{ "rcpt", test_rcpt },
	{ "peer_to_verdict", test_peer_to_verdict },
	{ NULL, NULL },
};
