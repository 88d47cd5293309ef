/*
 * test_smtp_server.c -- the SMTP state machine, table-driven: every command
 * in every state, pipelining groups, limits, framing (bare CR/LF, NUL,
 * smuggling sequences).  Each conversation runs twice: in one chunk and
 * one byte at a time, and both runs must give the same replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "smtp_server.h"
#include "test.h"

#define GREETING "220 mx.test ESMTP mtad\r\n"
#define EHLO_OK "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 2000\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
#define EHLO "EHLO client.test\r\n"
#define MAIL "MAIL FROM:<a@sender.test>\r\n"
#define RCPT "RCPT TO:<b@rcpt.test>\r\n"
#define TXN EHLO MAIL RCPT "DATA\r\n"
#define TXN_OK GREETING EHLO_OK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" \
	"354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED "250 2.0.0 Ok: queued as q00000000001\r\n"

/* A conversation with the engine and a fake store. */
struct conv {
	struct smtp_server *s;
	struct smtp_env env;
	struct buf out;
	int closed;
	int store_ok;
	int stored;
	unsigned ids;
	char sender[400];
	size_t nrcpts;
	char rcpt0[400], domain0[300];
	int smtputf8;
	enum smtp_body body;
	enum dsn_ret ret;
	/* STARTTLS and AUTH, as the driver would */
	int tls_events, auth_events;
	enum smtp_auth_verdict verdict;
	int auth_any;
	const char *auth_domains;
	char auth_user[300], auth_pass[600];
	char envid[128], orcpt0[600];
	int notify0;
	char msg[8192];
	size_t msglen;
};

static void
conv_id(void *ctx, char *out, size_t size)
{
	struct conv *c = ctx;

	snprintf(out, size, "q%011u", ++c->ids);
}

static time_t
conv_now(void *ctx)
{
	(void)ctx;
	return 1795687315;	/* Thu, 26 Nov 2026 10:01:55 +0000 */
}

static void
conv_init(struct conv *c)
{
	memset(c, 0, sizeof *c);
	c->env.hostname = "mx.test";
	c->env.session_id = "test";
	snprintf(c->env.client_addr, sizeof c->env.client_addr, "192.0.2.1");
	c->env.client_trusted = 1;
	c->env.listener = LISTEN_SMTP;
	c->env.max_message_size = 2000;
	c->env.max_recipients = 100;
	c->env.max_errors = 20;
	c->env.ctx = c;
	c->env.new_queue_id = conv_id;
	c->env.now = conv_now;
	c->store_ok = 1;
	c->auth_any = 1;
	buf_init(&c->out, 1 << 20);
}

static void
conv_start(struct conv *c)
{
	c->s = smtp_server_new(&c->env);
}

static void
conv_record(struct conv *c)
{
	const struct smtp_txn *t = smtp_server_txn(c->s);

	CHECK(t != NULL);
	if (t == NULL)
		return;
	c->stored++;
	snprintf(c->sender, sizeof c->sender, "%s", t->sender);
	c->nrcpts = t->nrcpts;
	if (t->nrcpts > 0) {
		snprintf(c->rcpt0, sizeof c->rcpt0, "%s", t->rcpts[0].mailbox);
		snprintf(c->domain0, sizeof c->domain0, "%s", t->rcpts[0].domain);
	}
	c->smtputf8 = t->smtputf8;
	c->body = t->body;
	c->ret = t->ret;
	snprintf(c->envid, sizeof c->envid, "%s", t->envid ? t->envid : "");
	if (t->nrcpts > 0) {
		c->notify0 = t->rcpts[0].notify;
		snprintf(c->orcpt0, sizeof c->orcpt0, "%s", t->rcpts[0].orcpt ? t->rcpts[0].orcpt : "");
	}
	c->msglen = t->msg.len < sizeof c->msg ? t->msg.len : sizeof c->msg - 1;
	memcpy(c->msg, t->msg.data, c->msglen);
	c->msg[c->msglen] = '\0';
	smtp_server_stored(c->s, c->store_ok);
}

/* STARTTLS: the handshake "succeeds" at once. */
static void
conv_starttls(struct conv *c)
{
	c->tls_events++;
	smtp_server_tls(c->s, "TLS1.3", "TLS_AES_256_GCM_SHA384");
}

/* AUTH: note the credentials, give the verdict the test chose. */
static void
conv_auth(struct conv *c)
{
	const char *u, *p;

	c->auth_events++;
	smtp_server_auth_creds(c->s, &u, &p);
	snprintf(c->auth_user, sizeof c->auth_user, "%s", u);
	snprintf(c->auth_pass, sizeof c->auth_pass, "%s", p);
	smtp_server_auth_result(c->s, c->verdict, c->auth_any, c->auth_domains);
}

/* The driver sends what the engine queued. */
static void
conv_send(struct conv *c)
{
	struct buf *o = smtp_server_output(c->s);

	(void)buf_append(&c->out, o->data, o->len);
	buf_consume(o, o->len);
}

/* Feed bytes as the driver would: STORE handled, FLUSH sends, CLOSE stops
 * input. */
static void
conv_feed(struct conv *c, const char *data, size_t len)
{
	size_t off = 0, used;

	while (off < len && !c->closed) {
		enum smtp_action a = smtp_server_input(c->s, data + off, len - off, &used);

		off += used;
		if (a == SMTP_ACT_STORE)
			conv_record(c);
		else if (a == SMTP_ACT_FLUSH)
			conv_send(c);
		else if (a == SMTP_ACT_STARTTLS)
			conv_starttls(c);
		else if (a == SMTP_ACT_AUTH)
			conv_auth(c);
		else if (a == SMTP_ACT_CLOSE)
			c->closed = 1;
		else
			CHECK(off == len);
	}
	if (smtp_server_state(c->s) == SMTP_S_CLOSED)
		c->closed = 1;	/* as the driver's loop sees it */
	conv_send(c);
}

static void
conv_free(struct conv *c)
{
	smtp_server_free(c->s);
	buf_free(&c->out);
}

/* Feed as a client would: everything at once, except that after a DATA
 * command it waits for the 354 (a new chunk starts after "DATA\r\n"). */
static void
conv_feed_client(struct conv *c, const char *in, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i + 6 <= len; i++) {
		if ((i == 0 || in[i - 1] == '\n') && memcmp(in + i, "DATA\r\n", 6) == 0) {
			conv_feed(c, in + start, i + 6 - start);
			start = i + 6;
		}
	}
	conv_feed(c, in + start, len - start);
}

/* Run `in` as a client would, then byte by byte; both must answer `want`. */
static void
conv_expect(const struct smtp_env *tweak, const char *in, size_t inlen,
    const char *want, int want_stored, int want_closed)
{
	int bytewise;

	for (bytewise = 0; bytewise < 2; bytewise++) {
		struct conv c;
		size_t i;

		conv_init(&c);
		if (tweak != NULL) {
			c.env.client_trusted = tweak->client_trusted;
			c.env.listener = tweak->listener;
			if (tweak->max_errors)
				c.env.max_errors = tweak->max_errors;
			if (tweak->max_recipients)
				c.env.max_recipients = tweak->max_recipients;
		}
		conv_start(&c);
		if (bytewise)
			for (i = 0; i < inlen; i++)
				conv_feed(&c, in + i, 1);
		else
			conv_feed_client(&c, in, inlen);
		if (strcmp(c.out.data ? c.out.data : "", want) != 0)
			test_fail(__FILE__, __LINE__, "%s input \"%s\":\n    got  \"%s\"\n    want \"%s\"",
			    bytewise ? "bytewise" : "whole", test_escape(in, inlen),
			    test_escape(c.out.data, c.out.len), test_escape(want, strlen(want)));
		CHECK_INT(c.stored, want_stored);
		CHECK_INT(c.closed, want_closed);
		conv_free(&c);
	}
}

#define EXPECT(in, want, stored, closed) \
	conv_expect(NULL, in, sizeof(in) - 1, want, stored, closed)

/* ---- every command in every state ---- */

static void
test_state_matrix(void)
{
	static const char *prefix[] = {
		"", EHLO, EHLO MAIL, EHLO MAIL RCPT,
	};
	static const struct {
		const char *cmd;
		const char *code[4];	/* GREET IDLE MAIL RCPT */
	} rows[] = {
		{ "EHLO x.test\r\n", { "250", "250", "250", "250" } },
		{ "HELO x.test\r\n", { "250", "250", "250", "250" } },
		{ "MAIL FROM:<x@y.test>\r\n", { "503", "250", "503", "503" } },
		{ "RCPT TO:<x@y.test>\r\n", { "503", "503", "250", "250" } },
		{ "DATA\r\n", { "503", "503", "554", "354" } },
		{ "RSET\r\n", { "250", "250", "250", "250" } },
		{ "NOOP\r\n", { "250", "250", "250", "250" } },
		{ "NOOP anything\r\n", { "250", "250", "250", "250" } },
		{ "QUIT\r\n", { "221", "221", "221", "221" } },
		{ "VRFY x\r\n", { "252", "252", "252", "252" } },
		{ "EXPN x\r\n", { "502", "502", "502", "502" } },
		{ "HELP\r\n", { "214", "214", "214", "214" } },
		{ "STARTTLS\r\n", { "503", "502", "503", "503" } },
		{ "AUTH PLAIN\r\n", { "503", "538", "503", "503" } },
		{ "BDAT 10\r\n", { "500", "500", "500", "500" } },
		{ "FOO\r\n", { "500", "500", "500", "500" } },
		{ "\r\n", { "500", "500", "500", "500" } },
		{ "RSET x\r\n", { "501", "501", "501", "501" } },
		{ "QUIT x\r\n", { "501", "501", "501", "501" } },
		{ "EHLO\r\n", { "501", "501", "501", "501" } },
		{ "VRFY\r\n", { "501", "501", "501", "501" } },
		{ "mail from:<x@y.test>\r\n", { "503", "250", "503", "503" } },
	};
	size_t r, st;

	for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		for (st = 0; st < 4; st++) {
			struct conv base, c;

			conv_init(&base);
			conv_start(&base);
			conv_feed(&base, prefix[st], strlen(prefix[st]));
			conv_init(&c);
			conv_start(&c);
			conv_feed(&c, prefix[st], strlen(prefix[st]));
			conv_feed(&c, rows[r].cmd, strlen(rows[r].cmd));
			if (c.out.len < base.out.len + 3 ||
			    memcmp(c.out.data + base.out.len, rows[r].code[st], 3) != 0)
				test_fail(__FILE__, __LINE__, "state %zu cmd \"%s\": got \"%s\", want %s",
				    st, test_escape(rows[r].cmd, strlen(rows[r].cmd)),
				    test_escape(c.out.data + base.out.len, c.out.len - base.out.len),
				    rows[r].code[st]);
			CHECK_INT(c.closed, strncmp(rows[r].cmd, "QUIT\r", 5) == 0);
			conv_free(&base);
			conv_free(&c);
		}
	}
}

/* ---- whole transactions ---- */

static void
test_transaction(void)
{
	static const char in[] = TXN "Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
	struct conv c;

	EXPECT(in, TXN_OK QUEUED "221 2.0.0 Bye\r\n", 1, 1);
	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, in, sizeof in - 1);
	CHECK_STR(c.sender, "a@sender.test");
	CHECK_INT(c.nrcpts, 1);
	CHECK_STR(c.rcpt0, "b@rcpt.test");
	CHECK_STR(c.domain0, "rcpt.test");
	CHECK_STR(c.msg,
	    "Received: from client.test ([192.0.2.1])\r\n"
	    "\tby mx.test (mtad) with ESMTP id q00000000001\r\n"
	    "\tfor <b@rcpt.test>; Thu, 26 Nov 2026 10:01:55 +0000\r\n"
	    "Subject: hi\r\n\r\n.dot\r\n");
	CHECK_INT(smtp_server_state(c.s), SMTP_S_CLOSED);
	conv_free(&c);
}

static void
test_two_messages_one_session(void)
{
	EXPECT(TXN "a\r\n.\r\n" MAIL RCPT "DATA\r\nb\r\n.\r\n",
	    TXN_OK "250 2.0.0 Ok: queued as q00000000001\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as q00000000002\r\n", 2, 0);
}

static void
test_empty_message_and_helo(void)
{
	struct conv c;

	conv_init(&c);
	conv_start(&c);
	{ static const char in[] = "HELO old.test\r\n" MAIL RCPT "DATA\r\n.\r\n"; conv_feed_client(&c, in, sizeof in - 1); }
	CHECK_STR(c.out.data, GREETING "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n" QUEUED);
	CHECK(strstr(c.msg, " with SMTP id ") != NULL);
	CHECK(c.msglen > 0 && strcmp(c.msg + c.msglen - 2, "\r\n") == 0);
	conv_free(&c);
}

static void
test_store_failure(void)
{
	struct conv c;

	conv_init(&c);
	c.store_ok = 0;
	conv_start(&c);
	conv_feed_client(&c, TXN "x\r\n.\r\nNOOP\r\n", sizeof(TXN "x\r\n.\r\nNOOP\r\n") - 1);
	CHECK_STR(c.out.data, TXN_OK
	    "451 4.3.0 Error: queue write failed, try again later\r\n250 2.0.0 Ok\r\n");
	CHECK_INT(smtp_server_state(c.s), SMTP_S_IDLE);
	conv_free(&c);
}

/* ---- pipelining (RFC 2920) ---- */

static void
test_pipelining(void)
{
	/* A whole group: replies in order, one per command. */
	EXPECT(EHLO MAIL RCPT "RCPT TO:<c@rcpt.test>\r\nRCPT TO:<bad>\r\nDATA\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "501 5.1.3 Bad recipient address: bad address syntax\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n", 0, 0);
	/* After the final dot, the next commands may follow at once. */
	EXPECT(TXN "x\r\n.\r\nRSET\r\nQUIT\r\n",
	    TXN_OK QUEUED "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n", 1, 1);
	/* All recipients failed: DATA gets 554 (RFC 2920 3.1). */
	EXPECT(EHLO MAIL "RCPT TO:x@y.test\r\nDATA\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n", 0, 0);
}

/* A burst of pipelined commands larger than the output buffer: every one
 * is answered (the engine stops reading until its replies are sent). */
static void
test_pipelining_backpressure(void)
{
	enum { N = 10000 };
	struct buf in;
	struct conv c;
	size_t i, replies = 0, flushes = 0, off = 0, used;

	buf_init(&in, 1 << 20);
	for (i = 0; i < N; i++)
		(void)buf_puts(&in, "NOOP\r\n");
	conv_init(&c);
	conv_start(&c);
	conv_send(&c);
	while (off < in.len) {
		enum smtp_action a = smtp_server_input(c.s, in.data + off, in.len - off, &used);

		off += used;
		CHECK(smtp_server_output(c.s)->len <= LIM_OUT_HIGHWATER + LIM_REPLY_LINE);
		flushes += a == SMTP_ACT_FLUSH;
		conv_send(&c);
		if (a != SMTP_ACT_FLUSH)
			break;
	}
	CHECK_INT(off, in.len);
	CHECK(flushes > 0);
	for (i = 0; i < c.out.len; i++)
		replies += c.out.data[i] == '\n';
	CHECK_INT(replies, N + 1);
	CHECK(strstr(c.out.data, "250 2.0.0 Ok\r\n\r\n") == NULL);
	conv_free(&c);
	buf_free(&in);
}

static void
test_data_pipelined_before_354(void)
{
	/* Message text in the same packet as DATA: refused and closed.  Only
	 * the whole-chunk run sees it; so this is checked by hand. */
	static const char in[] = EHLO MAIL RCPT "DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n";
	struct conv c;

	conv_init(&c);
	conv_start(&c);
	conv_feed(&c, in, sizeof in - 1);
	CHECK_STR(c.out.data, GREETING EHLO_OK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "554 5.5.0 Error: improper use of SMTP command pipelining\r\n");
	CHECK_INT(c.closed, 1);
	CHECK_INT(c.stored, 0);
	conv_free(&c);
}

/* ---- framing: bare CR / LF / NUL, smuggling ---- */

static void
test_command_framing(void)
{
	EXPECT("EHLO a.test\nNOOP\r\n", GREETING "521 5.5.2 Error: bare <LF> received\r\n", 0, 1);
	EXPECT("EHLO a\r.test\r\n", GREETING "500 5.5.2 Error: bare <CR> received\r\n", 0, 0);
	EXPECT("NOOP\r\r\n", GREETING "500 5.5.2 Error: bare <CR> received\r\n", 0, 0);
	EXPECT("NO\0OP\r\n", GREETING "500 5.5.2 Error: NUL byte received\r\n", 0, 0);
	/* A command behind a bare LF is never executed: the session ends. */
	EXPECT(EHLO "MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\r\n",
	    GREETING EHLO_OK "521 5.5.2 Error: bare <LF> received\r\n", 0, 1);
}

/* Each smuggling terminator, followed by a "smuggled" transaction and then
 * the real end: one 554 for the whole thing, nothing stored. */
static void
test_smuggling(void)
{
	static const struct {
		const char *seq;
		size_t len;
		const char *reply;
	} rows[] = {
		{ "\n.\n", 3, "554 5.6.0 Error: bare <LF> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\r\n.\n", 4, "554 5.6.0 Error: bare <LF> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\n.\r\n", 4, "554 5.6.0 Error: bare <LF> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\r.\r", 3, "554 5.6.0 Error: bare <CR> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\r.\r\n", 4, "554 5.6.0 Error: bare <CR> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\r\n.\r\r\n", 6, "554 5.6.0 Error: bare <CR> in message data (RFC 5321 2.3.8)\r\n" },
		{ "\r\n\0.\r\n", 6, "554 5.6.0 Error: NUL byte in message data\r\n" },
	};
	static const char smuggled[] = "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\n"
	    "DATA\r\nsmuggled\r\n";
	char in[512], want[1024];
	size_t r, n;

	for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		n = (size_t)snprintf(in, sizeof in, TXN "Subject: x\r\n\r\nbody");
		memcpy(in + n, rows[r].seq, rows[r].len);
		n += rows[r].len;
		n += (size_t)snprintf(in + n, sizeof in - n, "%s\r\n.\r\nRSET\r\n", smuggled);
		snprintf(want, sizeof want, TXN_OK "%s250 2.0.0 Ok\r\n", rows[r].reply);
		conv_expect(NULL, in, n, want, 0, 0);
	}
}

static void
test_data_lines(void)
{
	struct conv c;
	char big[3002];

	char in[4096], want[1024];
	size_t n;

	/* 998 characters + CRLF is the longest text line; one more is refused. */
	n = (size_t)snprintf(in, sizeof in, TXN);
	memset(in + n, 'x', 998);
	n += 998;
	n += (size_t)snprintf(in + n, sizeof in - n, "\r\n.\r\n");
	conv_expect(NULL, in, n, TXN_OK QUEUED, 1, 0);
	n = (size_t)snprintf(in, sizeof in, TXN);
	memset(in + n, 'x', 999);
	n += 999;
	n += (size_t)snprintf(in + n, sizeof in - n, "\r\n.\r\n");
	snprintf(want, sizeof want, TXN_OK "554 5.6.0 Error: text line longer than "
	    "1000 octets (RFC 5321 4.5.3.1.6)\r\n");
	conv_expect(NULL, in, n, want, 0, 0);
	/* ". " and ".." lines are data, not the end. */
	EXPECT(TXN ". \r\n..\r\n.\r\n", TXN_OK QUEUED, 1, 0);
	/* Commands inside DATA are data. */
	EXPECT(TXN "QUIT\r\nRSET\r\n.\r\n", TXN_OK QUEUED, 1, 0);
	/* A long line split across reads is refused for its length. */
	memset(big, 'x', 3000);
	memcpy(big + 3000, "\r\n", 2);
	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, TXN, sizeof TXN - 1);
	conv_feed(&c, big, 1500);
	conv_feed(&c, big + 1500, 1502);
	conv_feed(&c, ".\r\n", 3);
	CHECK_STR(c.out.data, TXN_OK "554 5.6.0 Error: text line longer than 1000 octets "
	    "(RFC 5321 4.5.3.1.6)\r\n");
	conv_free(&c);
}

/* ---- limits ---- */

/* "NOOP " + x * n + CRLF */
static size_t
noop_line(char *in, size_t size, size_t n)
{
	size_t len = (size_t)snprintf(in, size, "NOOP ");

	memset(in + len, 'x', n);
	len += n;
	return len + (size_t)snprintf(in + len, size - len, "\r\n");
}

static void
test_command_line_limits(void)
{
	char in[4096], want[1024];
	size_t n;

	/* 512 octets with CRLF is the limit for a command without parameters. */
	n = noop_line(in, sizeof in, 505);
	conv_expect(NULL, in, n, GREETING "250 2.0.0 Ok\r\n", 0, 0);
	n = noop_line(in, sizeof in, 506);
	conv_expect(NULL, in, n, GREETING "500 5.5.2 Error: line too long\r\n", 0, 0);
	/* MAIL may be longer (ESMTP parameters), up to LIM_CMD_LINE_PARAMS. */
	n = (size_t)snprintf(in, sizeof in, EHLO "MAIL FROM:<a@b.test>%*s\r\n", 700, "");
	conv_expect(NULL, in, n, GREETING EHLO_OK "250 2.1.0 Ok\r\n", 0, 0);
	/* Far past any limit: refused, then the session goes on. */
	memset(in, 'y', 3000);
	n = 3000 + (size_t)snprintf(in + 3000, sizeof in - 3000, "\r\nNOOP\r\n");
	snprintf(want, sizeof want, GREETING "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	conv_expect(NULL, in, n, want, 0, 0);
}

static void
test_endless_line(void)
{
	char *junk = malloc(LIM_LINE_DISCARD + 8192);
	struct conv c;

	memset(junk, 'z', LIM_LINE_DISCARD + 8192);
	conv_init(&c);
	conv_start(&c);
	conv_feed(&c, junk, LIM_LINE_DISCARD + 8192);
	CHECK_STR(c.out.data, GREETING "521 5.5.2 Error: line too long\r\n");
	CHECK_INT(c.closed, 1);
	conv_free(&c);
	free(junk);
}

static void
test_size(void)
{
	char in[8192];
	size_t n, i;

	EXPECT(EHLO "MAIL FROM:<a@b.test> SIZE=2000\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> SIZE=2001\r\n",
	    GREETING EHLO_OK "552 5.3.4 Message size exceeds fixed limit\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> SIZE=99999999999999999999999\r\n",
	    GREETING EHLO_OK "501 5.5.4 Bad SIZE= value\r\n", 0, 0);
	/* Enforced while reading, whatever was declared. */
	n = (size_t)snprintf(in, sizeof in, TXN);
	for (i = 0; i < 30; i++)
		n += (size_t)snprintf(in + n, sizeof in - n, "%098d\r\n", 0);
	n += (size_t)snprintf(in + n, sizeof in - n, ".\r\n");
	conv_expect(NULL, in, n, TXN_OK "552 5.3.4 Error: message size exceeds fixed limit\r\n",
	    0, 0);
}

static void
test_hop_limit(void)
{
	struct buf in;
	unsigned i;
	int ok;

	for (ok = 1; ok >= 0; ok--) {
		struct conv c;

		buf_init(&in, 1 << 20);
		(void)buf_puts(&in, TXN);
		for (i = 0; i < LIM_HOPS + (ok ? 0 : 1); i++)
			(void)buf_puts(&in, "Received: x\r\n");
		(void)buf_puts(&in, "\r\nbody\r\n.\r\n");
		conv_init(&c);
		c.env.max_message_size = 1 << 20;
		conv_start(&c);
		conv_feed_client(&c, in.data, in.len);
		CHECK_INT(c.stored, ok);
		CHECK(ok || strstr(c.out.data, "554 5.4.6 ") != NULL);
		conv_free(&c);
		buf_free(&in);
	}
}

static void
test_max_recipients(void)
{
	struct smtp_env t = { .client_trusted = 1, .max_recipients = 2, .max_errors = 2 };

	conv_expect(&t, EHLO MAIL RCPT "RCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\n",
	    sizeof(EHLO MAIL RCPT "RCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\n") - 1,
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n", 0, 0);
	/* Not counted as errors: the accepted recipients stay (RFC 5321
	 * 4.5.3.1.10), even past max_errors refusals. */
	conv_expect(&t, EHLO MAIL RCPT "RCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\n"
	    "RCPT TO:<g@h.test>\r\nRCPT TO:<i@j.test>\r\nDATA\r\n.\r\n",
	    sizeof(EHLO MAIL RCPT "RCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\n"
	    "RCPT TO:<g@h.test>\r\nRCPT TO:<i@j.test>\r\nDATA\r\n.\r\n") - 1,
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n452 4.5.3 Error: too many recipients\r\n"
	    "452 4.5.3 Error: too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    QUEUED, 1, 0);
}

static void
test_error_budget(void)
{
	struct smtp_env t = { .client_trusted = 1, .max_errors = 3 };

	conv_expect(&t, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n", 20,
	    GREETING "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "421 4.7.0 mx.test Error: too many errors\r\n", 0, 1);
}

/* ---- envelope: parameters, addresses, policy ---- */

static void
test_mail_params(void)
{
	struct conv c;
	static const char in[] = EHLO "MAIL FROM:<a@b.test> BODY=8BITMIME SMTPUTF8 SIZE=10\r\n"
	    RCPT "DATA\r\n.\r\n";

	EXPECT(EHLO "MAIL FROM:<a@b.test> FOO=1\r\n",
	    GREETING EHLO_OK "555 5.5.4 Unsupported option: FOO\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n",
	    GREETING EHLO_OK "501 5.5.4 BODY= must be 7BIT or 8BITMIME\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\n",
	    GREETING EHLO_OK "555 5.5.4 Unsupported option: SIZE\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test>junk\r\n",
	    GREETING EHLO_OK "501 5.5.4 Syntax error after the address\r\n", 0, 0);
	EXPECT(EHLO MAIL "RCPT TO:<b@c.test> FOO=BAR\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n555 5.5.4 Unsupported option: FOO\r\n", 0, 0);
	/* Parameters are ESMTP: not after HELO. */
	EXPECT("HELO x.test\r\nMAIL FROM:<a@b.test> SIZE=10\r\n",
	    GREETING "250 mx.test\r\n555 5.5.4 Unsupported option: SIZE\r\n", 0, 0);
	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, in, sizeof in - 1);
	CHECK_INT(c.stored, 1);
	CHECK_INT(c.smtputf8, 1);
	CHECK_INT(c.body, SMTP_BODY_8BITMIME);
	CHECK(strstr(c.msg, " with UTF8SMTP id ") != NULL);
	conv_free(&c);
}

/* RFC 3461 parameters: accepted, checked, kept with the transaction. */
static void
test_dsn_params(void)
{
	static const char in[] = EHLO "MAIL FROM:<a@b.test> RET=HDRS ENVID=abc+2Bdef\r\n"
	    "RCPT TO:<b@rcpt.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+40x@rcpt.test\r\n"
	    "DATA\r\n.\r\n";
	struct conv c;

	EXPECT(EHLO MAIL "RCPT TO:<b@c.test> NOTIFY=NEVER,SUCCESS\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n501 5.5.4 Bad NOTIFY= value\r\n", 0, 0);
	EXPECT(EHLO MAIL "RCPT TO:<b@c.test> ORCPT=nosemicolon\r\n",
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n501 5.5.4 Bad ORCPT= value\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> RET=ALL\r\n",
	    GREETING EHLO_OK "501 5.5.4 RET= must be FULL or HDRS\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<a@b.test> ENVID=bad+ZZ\r\n",
	    GREETING EHLO_OK "501 5.5.4 Bad ENVID= value\r\n", 0, 0);
	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, in, sizeof in - 1);
	CHECK_INT(c.stored, 1);
	CHECK_INT(c.ret, DSN_RET_HDRS);
	CHECK_STR(c.envid, "abc+def");
	CHECK_INT(c.notify0, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	CHECK_STR(c.orcpt0, "rfc822;b@x@rcpt.test");
	conv_free(&c);
}

static void
test_addresses(void)
{
	struct conv c;
	static const char in[] = EHLO "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.test> SMTPUTF8\r\n"
	    "RCPT TO:<u@B\xc3\xbc" "CHER.test>\r\nRCPT TO:<u@xn--bcher-kva.test>\r\n"
	    "DATA\r\n.\r\n";

	EXPECT(EHLO "MAIL FROM:<>\r\n", GREETING EHLO_OK "250 2.1.0 Ok\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM: <a@b.test>\r\n", GREETING EHLO_OK "250 2.1.0 Ok\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:a@b.test\r\n",
	    GREETING EHLO_OK "501 5.5.4 Syntax: MAIL FROM:<address>\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<@relay.test:a@b.test>\r\n", GREETING EHLO_OK
	    "501 5.1.7 Bad sender address: source routes are not accepted\r\n", 0, 0);
	EXPECT(EHLO MAIL "RCPT TO:<>\r\n", GREETING EHLO_OK "250 2.1.0 Ok\r\n"
	    "501 5.1.3 Bad recipient address: null address not allowed here\r\n", 0, 0);
	EXPECT(EHLO "MAIL FROM:<j\xc3\xb6rg@b.test>\r\n", GREETING EHLO_OK
	    "553 5.6.7 Non-ASCII sender address needs SMTPUTF8\r\n", 0, 0);
	EXPECT(EHLO MAIL "RCPT TO:<j\xc3\xb6rg@b.test>\r\n", GREETING EHLO_OK
	    "250 2.1.0 Ok\r\n553 5.6.7 Non-ASCII recipient address needs SMTPUTF8\r\n", 0, 0);
	/* IDN: the domain becomes A-labels; duplicates fold together. */
	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, in, sizeof in - 1);
	CHECK_INT(c.stored, 1);
	CHECK_STR(c.sender, "j\xc3\xb6rg@b\xc3\xbc" "cher.test");
	CHECK_INT(c.nrcpts, 1);
	CHECK_STR(c.domain0, "xn--bcher-kva.test");
	conv_free(&c);
}

/* Many recipients: the duplicate check folds the same mailbox (domains
 * compared as A-labels, any case) and keeps local parts apart by case. */
static void
test_many_recipients_fold(void)
{
	struct conv c;
	struct buf in;
	int i;

	buf_init(&in, 1 << 20);
	(void)buf_puts(&in, EHLO MAIL);
	for (i = 0; i < 3000; i++)
		(void)buf_printf(&in, "RCPT TO:<r%d@d%d.test>\r\n", i, i % 97);
	for (i = 0; i < 3000; i += 7)	/* the same again, the domain upper case */
		(void)buf_printf(&in, "RCPT TO:<r%d@D%d.TEST>\r\n", i, i % 97);
	(void)buf_puts(&in, "RCPT TO:<R1@d1.test>\r\nDATA\r\n.\r\n");
	conv_init(&c);
	c.env.max_recipients = 5000;
	conv_start(&c);
	conv_feed_client(&c, in.data, in.len);
	CHECK_INT(c.stored, 1);
	CHECK_INT(c.nrcpts, 3001);
	conv_free(&c);
	buf_free(&in);
}

static void
test_postmaster(void)
{
	struct conv c;
	static const char in[] = EHLO MAIL "RCPT TO:<Postmaster>\r\nDATA\r\n.\r\n";

	conv_init(&c);
	conv_start(&c);
	conv_feed_client(&c, in, sizeof in - 1);
	CHECK_INT(c.stored, 1);
	CHECK_STR(c.rcpt0, "postmaster@mx.test");
	CHECK_STR(c.domain0, "mx.test");
	conv_free(&c);
}

static void
test_relay_policy(void)
{
	struct smtp_env untrusted = { .client_trusted = 0, .listener = LISTEN_SMTP };
	struct smtp_env submission = { .client_trusted = 1, .listener = LISTEN_SUBMISSION };

	conv_expect(&untrusted, EHLO MAIL RCPT "DATA\r\n", sizeof(EHLO MAIL RCPT "DATA\r\n") - 1,
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n550 5.7.1 Relay access denied\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n", 0, 0);
	conv_expect(&untrusted, EHLO "MAIL FROM:<>\r\n", sizeof(EHLO "MAIL FROM:<>\r\n") - 1,
	    GREETING EHLO_OK "250 2.1.0 Ok\r\n", 0, 0);
	conv_expect(&submission, EHLO MAIL, sizeof(EHLO MAIL) - 1,
	    GREETING EHLO_OK "530 5.7.0 Authentication required\r\n", 0, 0);
}

/* ---- the driver's calls ---- */

static void
test_driver_events(void)
{
	struct conv c;

	conv_init(&c);
	conv_start(&c);
	conv_feed(&c, EHLO, sizeof EHLO - 1);
	smtp_server_timeout(c.s);
	conv_feed(&c, "", 0);
	CHECK_STR(c.out.data, GREETING EHLO_OK "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	CHECK_INT(smtp_server_state(c.s), SMTP_S_CLOSED);
	CHECK_INT(smtp_server_counts(c.s)->errors, 0);
	conv_free(&c);
	conv_init(&c);
	conv_start(&c);
	smtp_server_shutdown(c.s);
	conv_feed(&c, "", 0);
	CHECK_STR(c.out.data, GREETING
	    "421 4.3.2 mx.test Service shutting down, try again later\r\n");
	conv_free(&c);
	EXPECT("GET / HTTP/1.1\r\nHost: x\r\n",
	    GREETING "221 2.7.0 Error: this is an SMTP server, not HTTP\r\n", 0, 1);
}

/* ---- STARTTLS and AUTH ---- */

#define EHLO_TLS_OFFER "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 2000\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
#define EHLO_AUTH "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 2000\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n" \
	"250 SMTPUTF8\r\n"
#define TLS_UP_OK GREETING EHLO_TLS_OFFER "220 2.0.0 Ready to start TLS\r\n" EHLO_AUTH
/* base64 of "\0alice\0secret" and of "alice", "secret" */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA=="
#define B64_ALICE "YWxpY2U="
#define B64_SECRET "c2VjcmV0"

/* Chunks as a client sends them, with TLS on offer; the driver's side is
 * conv_starttls/conv_auth (verdict chosen by the test). */
static void
tls_conv(struct conv *c, enum listen_kind kind, enum smtp_auth_verdict v,
    const char *domains, const char *const *chunks)
{
	conv_init(c);
	c->env.tls_offer = 1;
	c->env.listener = kind;
	c->verdict = v;
	c->auth_any = domains == NULL;
	c->auth_domains = domains;
	conv_start(c);
	for (; *chunks && !c->closed; chunks++)
		conv_feed(c, *chunks, strlen(*chunks));
}

static void
test_starttls(void)
{
	/* RSET pipelined behind STARTTLS is dropped, never answered; the
	 * session starts over: EHLO again, now with AUTH, without STARTTLS. */
	static const char *const in[] = { EHLO, "STARTTLS\r\nRSET\r\n", EHLO, NULL };
	static const char *const txn[] = { EHLO, "STARTTLS\r\n", EHLO, MAIL, RCPT,
		"DATA\r\n", ".\r\n", NULL };
	struct conv c;

	tls_conv(&c, LISTEN_SMTP, SMTP_AUTH_OK, NULL, in);
	CHECK_STR(c.out.data, TLS_UP_OK);
	CHECK_INT(c.tls_events, 1);
	CHECK_STR(smtp_server_tls_info(c.s), "TLS1.3 TLS_AES_256_GCM_SHA384");
	conv_free(&c);
	tls_conv(&c, LISTEN_SMTP, SMTP_AUTH_OK, NULL, txn);
	CHECK(strstr(c.msg, " with ESMTPS id ") != NULL);
	CHECK(strstr(c.msg, "\r\n\ttls TLS_AES_256_GCM_SHA384 (TLS1.3); ") != NULL);
	conv_free(&c);
	EXPECT(EHLO "STARTTLS\r\n", GREETING EHLO_OK
	    "502 5.5.1 Error: command not implemented\r\n", 0, 0);
	EXPECT(EHLO MAIL "STARTTLS\r\n", GREETING EHLO_OK "250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: bad sequence of commands\r\n", 0, 0);
	EXPECT("STARTTLS\r\n", GREETING "503 5.5.1 Error: send HELO/EHLO first\r\n", 0, 0);
	EXPECT(EHLO "STARTTLS now\r\n", GREETING EHLO_OK
	    "501 5.5.4 Syntax: STARTTLS takes no argument\r\n", 0, 0);
}

static void
test_auth_mechanisms(void)
{
	static const char *const plain_ir[] = { EHLO, "STARTTLS\r\n", EHLO,
		"AUTH PLAIN " PLAIN_ALICE "\r\n", NULL };
	static const char *const plain[] = { EHLO, "STARTTLS\r\n", EHLO, "AUTH PLAIN\r\n",
		PLAIN_ALICE "\r\n", NULL };
	static const char *const login[] = { EHLO, "STARTTLS\r\n", EHLO, "AUTH LOGIN\r\n",
		B64_ALICE "\r\n", B64_SECRET "\r\n", NULL };
	const char *const *ins[] = { plain_ir, plain, login };
	static const char *want[] = { "", "334 \r\n", "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" };
	char exp[1024];
	size_t i;

	for (i = 0; i < 3; i++) {
		struct conv c;

		tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, NULL, ins[i]);
		snprintf(exp, sizeof exp, TLS_UP_OK "%s235 2.7.0 Authentication successful\r\n",
		    want[i]);
		CHECK_STR(c.out.data, exp);
		CHECK_INT(c.auth_events, 1);
		CHECK_STR(c.auth_user, "alice");
		CHECK_STR(c.auth_pass, "secret");
		CHECK_STR(smtp_server_auth_user(c.s), "alice");
		conv_free(&c);
	}
}

static void
test_auth_refusals(void)
{
	static const struct {
		const char *line;	/* after STARTTLS and EHLO */
		enum smtp_auth_verdict v;
		const char *reply;
		int closed;
	} rows[] = {
		{ "AUTH PLAIN " PLAIN_ALICE "\r\n", SMTP_AUTH_FAIL,
		    "535 5.7.8 Error: authentication failed\r\n", 0 },
		{ "AUTH PLAIN " PLAIN_ALICE "\r\n", SMTP_AUTH_TEMPFAIL,
		    "454 4.7.0 Temporary authentication failure\r\n", 0 },
		{ "AUTH PLAIN " PLAIN_ALICE "\r\n", SMTP_AUTH_BLOCKED, "421 4.7.0 mx.test Error: "
		    "too many failed authentications, try again later\r\n", 1 },
		{ "AUTH PLAIN !!notbase64\r\n", SMTP_AUTH_OK, "501 5.5.2 Invalid base64 data\r\n", 0 },
		/* authzid "bob" acting as alice: the driver gets an empty
		 * password (test_auth_malformed), so it fails and counts */
		{ "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n", SMTP_AUTH_FAIL,
		    "535 5.7.8 Error: authentication failed\r\n", 0 },
		{ "AUTH LOGIN\r\n*\r\n", SMTP_AUTH_OK,
		    "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n", 0 },
		{ "AUTH CRAM-MD5\r\n", SMTP_AUTH_OK, "504 5.5.4 Unrecognized authentication type\r\n", 0 },
	};
	char exp[1024];
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *in[] = { EHLO, "STARTTLS\r\n", EHLO, rows[i].line, NULL };
		struct conv c;

		tls_conv(&c, LISTEN_SUBMISSION, rows[i].v, NULL, in);
		snprintf(exp, sizeof exp, TLS_UP_OK "%s", rows[i].reply);
		CHECK_STR(c.out.data, exp);
		CHECK_INT(c.closed, rows[i].closed);
		CHECK(smtp_server_auth_user(c.s) == NULL);
		conv_free(&c);
	}
	/* before TLS: never */
	{
		static const char *const in[] = { EHLO, "AUTH PLAIN " PLAIN_ALICE "\r\n", NULL };
		struct conv c;

		tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, NULL, in);
		CHECK_STR(c.out.data, GREETING EHLO_TLS_OFFER "538 5.7.11 Encryption required "
		    "for requested authentication mechanism\r\n");
		CHECK_INT(c.auth_events, 0);
		conv_free(&c);
	}
}

/* Malformed or over-long credentials are handed over with an empty
 * password (so they fail, logged and counted), never truncated. */
static void
test_auth_malformed(void)
{
	char longpw[700], line[1200], b64[1100];
	static const char *const plain_authzid[] = { EHLO, "STARTTLS\r\n", EHLO,
		"AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n", NULL };
	const char *login_long[] = { EHLO, "STARTTLS\r\n", EHLO, "AUTH LOGIN\r\n",
		B64_ALICE "\r\n", line, NULL };
	struct conv c;

	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_FAIL, NULL, plain_authzid);
	CHECK_INT(c.auth_events, 1);
	CHECK_STR(c.auth_user, "alice");
	CHECK_STR(c.auth_pass, "");
	conv_free(&c);
	memset(longpw, 'p', LIM_AUTH_PASSWORD + 1);
	longpw[LIM_AUTH_PASSWORD + 1] = '\0';
	CHECK(b64_encode(longpw, strlen(longpw), b64, sizeof b64) > 0);
	snprintf(line, sizeof line, "%s\r\n", b64);
	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_FAIL, NULL, login_long);
	CHECK_INT(c.auth_events, 1);
	CHECK_STR(c.auth_user, "alice");
	CHECK_STR(c.auth_pass, "");
	conv_free(&c);
}

static void
test_auth_policy(void)
{
	static const char *const bad_from[] = { EHLO, "STARTTLS\r\n", EHLO,
		"AUTH PLAIN " PLAIN_ALICE "\r\n", "MAIL FROM:<a@b\xc3\xbc" "cher.example> SMTPUTF8\r\n",
		RCPT, "DATA\r\n", "From: Alice <a@other.example>\r\n\r\nx\r\n.\r\n", NULL };
	static const char *const good[] = { EHLO, "STARTTLS\r\n", EHLO,
		"AUTH PLAIN " PLAIN_ALICE "\r\n", "MAIL FROM:<a@b\xc3\xbc" "cher.example> SMTPUTF8\r\n",
		RCPT, "DATA\r\n", "From: Alice\r\n <a@xn--bcher-kva.example>\r\n\r\nx\r\n.\r\n", NULL };
	static const char *const bad_mail[] = { EHLO, "STARTTLS\r\n", EHLO,
		"AUTH PLAIN " PLAIN_ALICE "\r\n", "MAIL FROM:<a@other.example>\r\n", NULL };
	static const char *const noauth[] = { EHLO, "STARTTLS\r\n", EHLO, MAIL, NULL };
	struct conv c;

	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, "xn--bcher-kva.example", bad_from);
	CHECK(strstr(c.out.data, "550 5.7.1 From: header domain other.example not allowed") != NULL);
	CHECK_INT(c.stored, 0);
	conv_free(&c);
	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, "xn--bcher-kva.example", good);
	CHECK_INT(c.stored, 1);
	CHECK(strstr(c.msg, " with UTF8SMTPSA id ") != NULL);
	conv_free(&c);
	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, "example.org", bad_mail);
	CHECK(strstr(c.out.data, "550 5.7.1 <a@other.example>: sender address not allowed") != NULL);
	conv_free(&c);
	tls_conv(&c, LISTEN_SUBMISSION, SMTP_AUTH_OK, NULL, noauth);
	CHECK(strstr(c.out.data, "530 5.7.0 Authentication required") != NULL);
	conv_free(&c);
}

const struct test smtp_server_tests[] = {
	{ "state_matrix", test_state_matrix },
	{ "transaction", test_transaction },
	{ "two_messages_one_session", test_two_messages_one_session },
	{ "empty_message_and_helo", test_empty_message_and_helo },
	{ "store_failure", test_store_failure },
	{ "pipelining", test_pipelining },
	{ "pipelining_backpressure", test_pipelining_backpressure },
	{ "data_pipelined_before_354", test_data_pipelined_before_354 },
	{ "command_framing", test_command_framing },
	{ "smuggling", test_smuggling },
	{ "data_lines", test_data_lines },
	{ "command_line_limits", test_command_line_limits },
	{ "endless_line", test_endless_line },
	{ "size", test_size },
	{ "hop_limit", test_hop_limit },
	{ "max_recipients", test_max_recipients },
	{ "error_budget", test_error_budget },
	{ "mail_params", test_mail_params },
	{ "dsn_params", test_dsn_params },
	{ "addresses", test_addresses },
	{ "postmaster", test_postmaster },
	{ "many_recipients_fold", test_many_recipients_fold },
	{ "relay_policy", test_relay_policy },
	{ "driver_events", test_driver_events },
	{ "starttls", test_starttls },
	{ "auth_mechanisms", test_auth_mechanisms },
	{ "auth_refusals", test_auth_refusals },
	{ "auth_malformed", test_auth_malformed },
	{ "auth_policy", test_auth_policy },
	{ NULL, NULL },
};
