/*
 * test_smtp_client.c -- the outbound SMTP state machine against scripted
 * servers: what it sends, what it concludes, for every stage.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_client.h"
#include "test.h"

#define GREET "220 mx.example.net ESMTP\r\n"
#define EHLO_PIPE "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000\r\n" \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"

static struct smtpc_env env_plain = { "relay.test", ROUTE_TLS_NONE, NULL, NULL };

/* Take the client's output; check it equals `want`. */
#define OUT(c, want) out_is(c, want, __LINE__)
static void
out_is(struct smtp_client *c, const char *want, int line)
{
	struct buf *o = smtp_client_output(c);
	const char *got = o->data ? o->data : "";

	if (o->len != strlen(want) || memcmp(got, want, o->len) != 0)
		test_fail(__FILE__, line, "client sent \"%s\", want \"%s\"",
		    test_escape(got, o->len), test_escape(want, strlen(want)));
	buf_consume(o, o->len);
}

/* Feed the server's bytes; all must be used unless an event stops. */
static enum smtpc_event
feed(struct smtp_client *c, const char *s)
{
	size_t used = 0, len = strlen(s);
	enum smtpc_event ev = smtp_client_input(c, s, len, &used);

	if (ev == SMTPC_READ)
		CHECK_INT(used, len);
	return ev;
}

static struct smtp_client *
ready(const struct smtpc_env *env, const char *ehlo)
{
	struct smtp_client *c = smtp_client_new(env);

	CHECK_INT(feed(c, GREET), SMTPC_READ);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, ehlo), SMTPC_READY);
	return c;
}

static const char body[] = "Subject: t\r\n\r\n.leading dot\r\nline\r\n..two\r\n";
#define STUFFED "Subject: t\r\n\r\n..leading dot\r\nline\r\n...two\r\n.\r\n"

static void
msg_init(struct smtpc_msg *m, struct smtpc_rcpt *r, size_t n)
{
	size_t i;

	memset(m, 0, sizeof *m);
	memset(r, 0, n * sizeof *r);
	for (i = 0; i < n; i++)
		r[i].address = i == 0 ? "a@example.net" : i == 1 ? "b@example.net" : "c@example.net";
	m->sender = "s@example.org";
	m->rcpts = r;
	m->nrcpts = n;
	m->body = body;
	m->size = sizeof body - 1;
}

static void
test_pipelined(void)
{
	struct smtpc_rcpt r[2];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, EHLO_PIPE);

	CHECK(smtp_client_caps(c)->pipelining && smtp_client_caps(c)->size == 1000);
	msg_init(&m, r, 2);
	CHECK_INT(smtp_client_send(c, &m), SMTPC_READ);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\n"
	    "RCPT TO:<b@example.net>\r\nDATA\r\n");
	CHECK_INT(smtp_client_wait(c), SMTPC_W_MAIL);
	CHECK_INT(feed(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550-5.1.1 no such\r\n"
	    "550 5.1.1 user\r\n354 go\r\n"), SMTPC_READ);
	OUT(c, STUFFED);
	CHECK_INT(smtp_client_wait(c), SMTPC_W_DATA_END);
	CHECK_INT(feed(c, "250 2.0.0 queued as X\r\n"), SMTPC_DONE);
	CHECK(r[0].done && r[0].stage == TS_DOT && r[0].reply.code == 250);
	CHECK_STR(r[0].reply.text, "250 2.0.0 queued as X");
	CHECK(r[1].done && r[1].stage == TS_RCPT && r[1].reply.code == 550);
	CHECK_STR(r[1].reply.status, "5.1.1");
	CHECK_STR(r[1].reply.text, "550 5.1.1 no such user");
	/* the session is reusable */
	msg_init(&m, r, 1);
	CHECK_INT(smtp_client_send(c, &m), SMTPC_READ);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
	smtp_client_free(c);
}

static void
test_lockstep(void)
{
	struct smtpc_rcpt r[2];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, "250 mx.example.net\r\n");

	msg_init(&m, r, 2);
	CHECK_INT(smtp_client_send(c, &m), SMTPC_READ);
	OUT(c, "MAIL FROM:<s@example.org>\r\n");
	CHECK_INT(feed(c, "250 ok\r\n"), SMTPC_READ);
	OUT(c, "RCPT TO:<a@example.net>\r\n");
	CHECK_INT(smtp_client_wait(c), SMTPC_W_RCPT);
	CHECK_INT(feed(c, "450 4.2.1 try later\r\n"), SMTPC_READ);
	OUT(c, "RCPT TO:<b@example.net>\r\n");
	CHECK_INT(feed(c, "250 ok\r\n"), SMTPC_READ);
	OUT(c, "DATA\r\n");
	CHECK_INT(smtp_client_wait(c), SMTPC_W_DATA_INIT);
	CHECK_INT(feed(c, "354 go\r\n"), SMTPC_READ);
	OUT(c, STUFFED);
	CHECK_INT(feed(c, "554 5.7.1 spam\r\n"), SMTPC_DONE);
	CHECK(r[0].stage == TS_RCPT && r[0].reply.code == 450);
	CHECK(r[1].stage == TS_DOT && r[1].reply.code == 554);
	smtp_client_quit(c);
	OUT(c, "QUIT\r\n");
	CHECK_INT(feed(c, "221 bye\r\n"), SMTPC_CLOSED);
	CHECK(smtp_client_failure(c) == NULL);
	smtp_client_free(c);
}

static void
test_helo_fallback(void)
{
	struct smtp_client *c = smtp_client_new(&env_plain);

	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "502 5.5.1 what\r\n"), SMTPC_READ);
	OUT(c, "HELO relay.test\r\n");
	CHECK_INT(feed(c, "250 mx\r\n"), SMTPC_READY);
	CHECK_INT(smtp_client_caps(c)->esmtp + smtp_client_caps(c)->pipelining, 0);
	smtp_client_free(c);
}

static void
test_mail_refused_pipelined(void)
{
	struct smtpc_rcpt r[2];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, EHLO_PIPE);

	msg_init(&m, r, 2);
	smtp_client_send(c, &m);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\n"
	    "RCPT TO:<b@example.net>\r\nDATA\r\n");
	CHECK_INT(feed(c, "553 5.1.8 bad sender\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"
	    "503 5.5.1 no\r\n"), SMTPC_READ);
	OUT(c, "RSET\r\n");
	CHECK_INT(feed(c, "250 ok\r\n"), SMTPC_DONE);
	CHECK(r[0].stage == TS_MAIL && r[0].reply.code == 553);
	CHECK(r[1].stage == TS_MAIL && r[1].reply.code == 553);
	smtp_client_free(c);
}

static void
test_no_valid_rcpt(void)
{
	struct smtpc_rcpt r[1];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, EHLO_PIPE);

	/* DATA refused after the only recipient was. */
	msg_init(&m, r, 1);
	smtp_client_send(c, &m);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
	CHECK_INT(feed(c, "250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid\r\n"), SMTPC_READ);
	OUT(c, "RSET\r\n");
	CHECK_INT(feed(c, "250 ok\r\n"), SMTPC_DONE);
	CHECK(r[0].stage == TS_RCPT && r[0].reply.code == 550);
	/* A server that says 354 anyway gets a lone dot (RFC 2920 3.1). */
	msg_init(&m, r, 1);
	smtp_client_send(c, &m);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
	CHECK_INT(feed(c, "250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"), SMTPC_READ);
	OUT(c, ".\r\n");
	CHECK_INT(feed(c, "554 5.5.1 nothing\r\n"), SMTPC_DONE);
	CHECK(r[0].stage == TS_RCPT && r[0].reply.code == 550);
	smtp_client_free(c);
}

static void
test_421_and_lost(void)
{
	struct smtpc_rcpt r[2];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, EHLO_PIPE);
	const struct smtpc_failure *f;

	msg_init(&m, r, 2);
	smtp_client_send(c, &m);
	OUT(c, "MAIL FROM:<s@example.org> SIZE=41\r\nRCPT TO:<a@example.net>\r\n"
	    "RCPT TO:<b@example.net>\r\nDATA\r\n");
	CHECK_INT(feed(c, "250 ok\r\n421 4.7.0 too fast\r\n"), SMTPC_CLOSED);
	OUT(c, "");	/* no QUIT after 421 */
	f = smtp_client_failure(c);
	CHECK(f != NULL && f->stage == TS_RCPT && f->reply.code == 421);
	CHECK(r[0].done && r[1].done && r[0].reply.code == 421 && r[1].reply.code == 421);
	smtp_client_free(c);
	/* the connection drops after the body */
	c = ready(&env_plain, EHLO_PIPE);
	msg_init(&m, r, 1);
	smtp_client_send(c, &m);
	feed(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	CHECK_INT(smtp_client_lost(c, "connection closed"), SMTPC_CLOSED);
	CHECK(r[0].done && r[0].stage == TS_DOT && r[0].reply.code == 0);
	CHECK_STR(r[0].reply.text, "connection closed");
	smtp_client_free(c);
}

static void
test_local_refusals(void)
{
	static char big[1200];
	struct smtpc_rcpt r[1];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, EHLO_PIPE);

	memset(big, 'x', sizeof big);
	msg_init(&m, r, 1);
	m.body = big;
	m.size = sizeof big;
	CHECK_INT(smtp_client_send(c, &m), SMTPC_DONE);
	OUT(c, "");
	CHECK(r[0].done && r[0].stage == TS_LOCAL && r[0].reply.code == 0);
	CHECK_STR(r[0].reply.status, "5.3.4");
	msg_init(&m, r, 1);
	m.smtputf8 = 1;
	CHECK_INT(smtp_client_send(c, &m), SMTPC_DONE);
	CHECK_STR(r[0].reply.status, "5.6.7");
	smtp_client_free(c);
}

static void
test_starttls(void)
{
	struct smtpc_env may = { "relay.test", ROUTE_TLS_MAY, NULL, NULL };
	struct smtpc_env req = { "relay.test", ROUTE_TLS_REQUIRE, NULL, NULL };
	struct smtp_client *c = smtp_client_new(&may);
	size_t used;

	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "250-mx\r\n250 STARTTLS\r\n"), SMTPC_READ);
	OUT(c, "STARTTLS\r\n");
	/* bytes after the 220 (injected in plain text) are dropped */
	CHECK_INT(smtp_client_input(c, "220 go\r\n250 fake\r\n", 18, &used), SMTPC_STARTTLS);
	CHECK_INT(used, 18);
	CHECK_INT(smtp_client_tls_done(c, 1, NULL), SMTPC_READ);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "250 mx\r\n"), SMTPC_READY);
	CHECK_INT(smtp_client_tls_active(c), 1);
	smtp_client_free(c);
	/* may: STARTTLS refused, go on in plain text */
	c = smtp_client_new(&may);
	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	feed(c, "250-mx\r\n250 STARTTLS\r\n");
	OUT(c, "STARTTLS\r\n");
	CHECK_INT(feed(c, "454 4.7.0 TLS not available\r\n"), SMTPC_READY);
	smtp_client_free(c);
	/* require: not offered is a failure at STARTTLS (try the next host) */
	c = smtp_client_new(&req);
	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "250 mx\r\n"), SMTPC_CLOSED);
	CHECK(smtp_client_failure(c)->stage == TS_STARTTLS);
	OUT(c, "");
	smtp_client_free(c);
}

static void
test_auth(void)
{
	struct smtpc_env plain = { "relay.test", ROUTE_TLS_REQUIRE, "user", "sec ret" };
	struct smtp_client *c = smtp_client_new(&plain);

	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	feed(c, "250-mx\r\n250 STARTTLS\r\n");
	OUT(c, "STARTTLS\r\n");
	CHECK_INT(feed(c, "220 go\r\n"), SMTPC_STARTTLS);
	smtp_client_tls_done(c, 1, NULL);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n"), SMTPC_READ);
	OUT(c, "AUTH PLAIN AHVzZXIAc2VjIHJldA==\r\n");	/* \0user\0sec ret */
	CHECK_INT(feed(c, "235 2.7.0 ok\r\n"), SMTPC_READY);
	smtp_client_free(c);
	c = smtp_client_new(&plain);
	feed(c, GREET);
	OUT(c, "EHLO relay.test\r\n");
	feed(c, "250-mx\r\n250 STARTTLS\r\n");
	OUT(c, "STARTTLS\r\n");
	feed(c, "220 go\r\n");
	smtp_client_tls_done(c, 1, NULL);
	OUT(c, "EHLO relay.test\r\n");
	CHECK_INT(feed(c, "250-mx\r\n250 AUTH=LOGIN\r\n"), SMTPC_READ);
	OUT(c, "AUTH LOGIN\r\n");
	CHECK_INT(feed(c, "334 VXNlcm5hbWU6\r\n"), SMTPC_READ);
	OUT(c, "dXNlcg==\r\n");
	CHECK_INT(feed(c, "334 UGFzc3dvcmQ6\r\n"), SMTPC_READ);
	OUT(c, "c2VjIHJldA==\r\n");
	CHECK_INT(feed(c, "535 5.7.8 bad credentials\r\n"), SMTPC_CLOSED);
	CHECK(smtp_client_failure(c)->stage == TS_AUTH &&
	    smtp_client_failure(c)->reply.code == 535);
	OUT(c, "QUIT\r\n");
	smtp_client_free(c);
}

static void
test_bad_replies(void)
{
	struct smtp_client *c = smtp_client_new(&env_plain);

	CHECK_INT(feed(c, "554 5.7.1 go away\r\n"), SMTPC_CLOSED);
	CHECK(smtp_client_failure(c)->stage == TS_GREETING);
	OUT(c, "QUIT\r\n");
	smtp_client_free(c);
	c = smtp_client_new(&env_plain);
	CHECK_INT(feed(c, "hello there\r\n"), SMTPC_CLOSED);
	CHECK(smtp_client_failure(c)->reply.code == 0);
	smtp_client_free(c);
	c = smtp_client_new(&env_plain);
	CHECK_INT(feed(c, "220-a\r\n230 b\r\n"), SMTPC_CLOSED);
	smtp_client_free(c);
	/* bare LF replies are accepted; one byte at a time too */
	c = smtp_client_new(&env_plain);
	{
		const char *g = "220-x\n220 y\n";
		size_t i, used;

		for (i = 0; g[i]; i++)
			smtp_client_input(c, g + i, 1, &used);
	}
	OUT(c, "EHLO relay.test\r\n");
	smtp_client_free(c);
}

static void
test_dsn_passed_on(void)
{
	struct smtpc_rcpt r[1];
	struct smtpc_msg m;
	struct smtp_client *c = ready(&env_plain, "250-mx\r\n250-DSN\r\n250 PIPELINING\r\n");

	msg_init(&m, r, 1);
	m.ret = DSN_RET_HDRS;
	m.envid = "id+1";
	r[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	r[0].orcpt = "rfc822;a=b@example.net";
	smtp_client_send(c, &m);
	OUT(c, "MAIL FROM:<s@example.org> RET=HDRS ENVID=id+2B1\r\n"
	    "RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+3Db@example.net\r\n"
	    "DATA\r\n");
	smtp_client_free(c);
}

const struct test smtp_client_tests[] = {
	{ "pipelined", test_pipelined },
	{ "lockstep", test_lockstep },
	{ "helo_fallback", test_helo_fallback },
	{ "mail_refused_pipelined", test_mail_refused_pipelined },
	{ "no_valid_rcpt", test_no_valid_rcpt },
	{ "421_and_lost", test_421_and_lost },
	{ "local_refusals", test_local_refusals },
	{ "starttls", test_starttls },
	{ "auth", test_auth },
	{ "bad_replies", test_bad_replies },
	{ "dsn_passed_on", test_dsn_passed_on },
	{ NULL, NULL },
};
