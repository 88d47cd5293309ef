/*
 * smtp_client.c -- the outbound SMTP state machine (contract in
 * smtp_client.h).  Replies are assembled line by line; each complete reply
 * goes to the handler of the current state.  A transaction is a sequence
 * MAIL, RCPT 1..n, DATA, DOT: `sent` and `acked` are positions in it, so
 * pipelined and lock-step sessions share the same code.
 */
#include "smtp_client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "str.h"
#include "xalloc.h"

enum c_state {
	C_GREETING, C_EHLO, C_HELO, C_STARTTLS, C_TLS, C_AUTH, C_AUTH_USER,
	C_AUTH_PASS, C_READY, C_TXN, C_RSET, C_QUIT, C_CLOSED,
};

/* Internal: a reply is not complete yet. */
#define SMTPC_MORE ((enum smtpc_event)-1)

struct smtp_client {
	struct smtpc_env env;
	enum c_state state;
	struct smtpc_caps caps;
	int tls_active;
	int ehlo_failed_once;
	struct buf out;
	/* the reply being read */
	char line[LIM_REPLY_LINE + 1];
	size_t linelen;
	int overflow;
	struct smtpc_reply cur;
	unsigned curlines;
	/* failure */
	int failed;
	struct smtpc_failure failure;
	/* the transaction: positions 0 MAIL, 1..n RCPT, n+1 DATA, n+2 DOT */
	struct smtpc_msg *msg;
	size_t sent, acked, accepted;
	int mail_ok, bogus_data;
};

/* ---- output ---- */

static void smtpc_cmd(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
smtpc_cmd(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	(void)buf_append(&c->out, "\r\n", 2);
}

/* ---- results and failure ---- */

static void
smtpc_set_reply(struct smtpc_reply *dst, int code, const char *status, const char *text)
{
	dst->code = code;
	(void)str_copy(dst->status, sizeof dst->status, status ? status : "");
	(void)str_copy(dst->text, sizeof dst->text, text);
}

/* Give every open recipient of the message in flight this result. */
static void
smtpc_settle(struct smtp_client *c, enum trouble_stage stage, const struct smtpc_reply *r)
{
	size_t i;

	if (c->msg == NULL)
		return;
	for (i = 0; i < c->msg->nrcpts; i++) {
		struct smtpc_rcpt *rc = &c->msg->rcpts[i];

		if (rc->done)
			continue;
		rc->done = 1;
		rc->stage = stage;
		rc->reply = *r;
	}
}

/* The session fails at `stage` with reply r (code 0: r->text says why). */
static enum smtpc_event
smtpc_fail(struct smtp_client *c, enum trouble_stage stage, const struct smtpc_reply *r)
{
	c->failed = 1;
	c->failure.stage = stage;
	c->failure.reply = *r;
	smtpc_settle(c, stage, r);
	/* Still talking SMTP and not told to go: say goodbye. */
	if (r->code != 0 && r->code != 421 && c->state != C_TLS)
		smtpc_cmd(c, "QUIT");
	c->state = C_CLOSED;
	return SMTPC_CLOSED;
}

static enum smtpc_event
smtpc_fail_why(struct smtp_client *c, enum trouble_stage stage, const char *why)
{
	struct smtpc_reply r;

	smtpc_set_reply(&r, 0, "", why);
	return smtpc_fail(c, stage, &r);
}

/* ---- EHLO capabilities ---- */

static void
smtpc_auth_mechs(struct smtp_client *c, const char *p)
{
	char word[32];

	while (*p) {
		size_t n = strcspn(p, " ");

		if (n > 0 && n < sizeof word) {
			memcpy(word, p, n);
			word[n] = '\0';
			if (strcasecmp(word, "PLAIN") == 0)
				c->caps.auth_plain = 1;
			else if (strcasecmp(word, "LOGIN") == 0)
				c->caps.auth_login = 1;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
}

/* One EHLO line after the first: "KEYWORD [params]". */
static void
smtpc_capability(struct smtp_client *c, const char *kw)
{
	unsigned long long v;

	if (strcasecmp(kw, "PIPELINING") == 0)
		c->caps.pipelining = 1;
	else if (strcasecmp(kw, "STARTTLS") == 0)
		c->caps.starttls = 1;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		c->caps.smtputf8 = 1;
	else if (strcasecmp(kw, "DSN") == 0)
		c->caps.dsn = 1;
	else if (strcasecmp(kw, "8BITMIME") == 0)
		c->caps.eightbit = 1;
	else if (str_iprefix(kw, "SIZE") && (kw[4] == ' ' || kw[4] == '\0'))
		c->caps.size = kw[4] == ' ' && str_to_u64(kw + 5, ~0ULL, &v) == 0 ? v : 0;
	else if (str_iprefix(kw, "AUTH") && (kw[4] == ' ' || kw[4] == '='))
		smtpc_auth_mechs(c, kw + 5);
}

/* ---- session set-up: greeting, EHLO, STARTTLS, AUTH ---- */

static enum smtpc_event
smtpc_ready(struct smtp_client *c)
{
	c->state = C_READY;
	return SMTPC_READY;
}

static void
smtpc_ehlo(struct smtp_client *c)
{
	memset(&c->caps, 0, sizeof c->caps);
	smtpc_cmd(c, "EHLO %s", c->env.helo);
	c->state = C_EHLO;
}

/* AUTH PLAIN: base64 of "\0user\0password" (RFC 4616). */
static enum smtpc_event
smtpc_auth_plain(struct smtp_client *c)
{
	char raw[512], b64[700];
	size_t u = strlen(c->env.auth_user), p = strlen(c->env.auth_pass);

	if (u + p + 2 > sizeof raw)
		return smtpc_fail_why(c, TS_AUTH, "AUTH user or secret too long");
	raw[0] = '\0';
	memcpy(raw + 1, c->env.auth_user, u);
	raw[u + 1] = '\0';
	memcpy(raw + u + 2, c->env.auth_pass, p);
	if (b64_encode(raw, u + p + 2, b64, sizeof b64) < 0)
		return smtpc_fail_why(c, TS_AUTH, "AUTH encoding failed");
	explicit_bzero(raw, sizeof raw);
	smtpc_cmd(c, "AUTH PLAIN %s", b64);
	explicit_bzero(b64, sizeof b64);
	c->state = C_AUTH;
	return SMTPC_READ;
}

static enum smtpc_event
smtpc_auth_or_ready(struct smtp_client *c)
{
	if (c->env.auth_user == NULL)
		return smtpc_ready(c);
	if (!c->tls_active)
		return smtpc_fail_why(c, TS_AUTH, "AUTH is only sent over TLS, and TLS is not up");
	if (c->caps.auth_plain)
		return smtpc_auth_plain(c);
	if (c->caps.auth_login) {
		smtpc_cmd(c, "AUTH LOGIN");
		c->state = C_AUTH_USER;
		return SMTPC_READ;
	}
	return smtpc_fail_why(c, TS_AUTH, "server offers neither AUTH PLAIN nor AUTH LOGIN");
}

/* EHLO or HELO done: STARTTLS if wanted and possible, then AUTH. */
static enum smtpc_event
smtpc_after_hello(struct smtp_client *c)
{
	if (!c->tls_active && c->env.tls != ROUTE_TLS_NONE && c->caps.starttls) {
		smtpc_cmd(c, "STARTTLS");
		c->state = C_STARTTLS;
		return SMTPC_READ;
	}
	if (!c->tls_active && c->env.tls >= ROUTE_TLS_REQUIRE)
		return smtpc_fail_why(c, TS_STARTTLS, "TLS is required but the server "
		    "does not offer STARTTLS");
	return smtpc_auth_or_ready(c);
}

static enum smtpc_event
smtpc_on_hello(struct smtp_client *c)
{
	int code = c->cur.code;

	if (code == 250)
		return smtpc_after_hello(c);
	if (c->state == C_EHLO && code >= 500 && !c->tls_active && !c->ehlo_failed_once) {
		c->ehlo_failed_once = 1;	/* an old server: try HELO */
		memset(&c->caps, 0, sizeof c->caps);
		smtpc_cmd(c, "HELO %s", c->env.helo);
		c->state = C_HELO;
		return SMTPC_READ;
	}
	return smtpc_fail(c, TS_HELO, &c->cur);
}

static enum smtpc_event
smtpc_on_auth(struct smtp_client *c)
{
	char b64[700];
	const char *secret;

	if (c->state == C_AUTH && c->cur.code == 235)
		return smtpc_ready(c);
	if (c->state == C_AUTH || c->cur.code != 334)
		return smtpc_fail(c, TS_AUTH, &c->cur);
	secret = c->state == C_AUTH_USER ? c->env.auth_user : c->env.auth_pass;
	if (b64_encode(secret, strlen(secret), b64, sizeof b64) < 0)
		return smtpc_fail_why(c, TS_AUTH, "AUTH user or secret too long");
	smtpc_cmd(c, "%s", b64);
	explicit_bzero(b64, sizeof b64);
	c->state = c->state == C_AUTH_USER ? C_AUTH_PASS : C_AUTH;
	return SMTPC_READ;
}

/* ---- the transaction ---- */

/* NOTIFY bits as RFC 3461 words. */
static void
smtpc_notify_words(int notify, char *out, size_t size)
{
	static const struct { int bit; const char *word; } w[] = {
		{ DSN_NOTIFY_SUCCESS, "SUCCESS" }, { DSN_NOTIFY_FAILURE, "FAILURE" },
		{ DSN_NOTIFY_DELAY, "DELAY" },
	};
	size_t i;

	out[0] = '\0';
	if (notify & DSN_NOTIFY_NEVER) {
		(void)str_copy(out, size, "NEVER");
		return;
	}
	for (i = 0; i < sizeof w / sizeof w[0]; i++)
		if (notify & w[i].bit)
			(void)str_fmt(out + strlen(out), size - strlen(out), "%s%s",
			    out[0] ? "," : "", w[i].word);
}

static void
smtpc_mail_cmd(struct smtp_client *c)
{
	const struct smtpc_msg *m = c->msg;
	char envid[LIM_DSN_ENVID * 3 + 1];

	(void)buf_printf(&c->out, "MAIL FROM:<%s>", m->sender);
	if (c->caps.size)
		(void)buf_printf(&c->out, " SIZE=%zu", m->size);
	if (m->body_8bit && c->caps.eightbit)
		(void)buf_puts(&c->out, " BODY=8BITMIME");
	if (m->smtputf8)
		(void)buf_puts(&c->out, " SMTPUTF8");
	if (c->caps.dsn && m->ret != DSN_RET_UNSPEC)
		(void)buf_puts(&c->out, m->ret == DSN_RET_FULL ? " RET=FULL" : " RET=HDRS");
	if (c->caps.dsn && m->envid && dsn_xtext_encode(m->envid, envid, sizeof envid) == 0)
		(void)buf_printf(&c->out, " ENVID=%s", envid);
	smtpc_cmd(c, "%s", "");
}

static void
smtpc_rcpt_cmd(struct smtp_client *c, const struct smtpc_rcpt *r)
{
	char words[32], orcpt[LIM_DSN_ORCPT * 3 + 1];
	const char *semi;

	(void)buf_printf(&c->out, "RCPT TO:<%s>", r->address);
	if (c->caps.dsn && r->notify) {
		smtpc_notify_words(r->notify, words, sizeof words);
		(void)buf_printf(&c->out, " NOTIFY=%s", words);
	}
	if (c->caps.dsn && r->orcpt && (semi = strchr(r->orcpt, ';')) != NULL &&
	    dsn_xtext_encode(semi + 1, orcpt, sizeof orcpt) == 0)
		(void)buf_printf(&c->out, " ORCPT=%.*s;%s", (int)(semi - r->orcpt), r->orcpt, orcpt);
	smtpc_cmd(c, "%s", "");
}

/* Send what may go now: MAIL, RCPTs and DATA at once when pipelining
 * (RFC 2920: DATA ends the group), else one command per reply. */
static void
smtpc_pump(struct smtp_client *c)
{
	size_t n = c->msg->nrcpts;

	while (c->sent <= n + 1 && (c->caps.pipelining || c->sent == c->acked)) {
		if (c->sent == 0)
			smtpc_mail_cmd(c);
		else if (c->sent <= n)
			smtpc_rcpt_cmd(c, &c->msg->rcpts[c->sent - 1]);
		else
			smtpc_cmd(c, "DATA");
		c->sent++;
	}
}

/* The message text, dot-stuffed (RFC 5321 4.5.2), then the final dot. */
static void
smtpc_body(struct smtp_client *c)
{
	const char *p = c->msg->body, *end = p + c->msg->size;

	if (p < end && *p == '.')
		(void)buf_append(&c->out, ".", 1);
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), "\n.", 2);
		const char *stop = hit ? hit + 1 : end;

		(void)buf_append(&c->out, p, (size_t)(stop - p));
		if (hit)
			(void)buf_append(&c->out, ".", 1);	/* the next line's */
		p = stop;
	}
	if (c->msg->size < 2 || memcmp(end - 2, "\r\n", 2) != 0)
		(void)buf_append(&c->out, "\r\n", 2);
	(void)buf_append(&c->out, ".\r\n", 3);
}

/* The transaction is over; RSET first when it did not end at the dot. */
static enum smtpc_event
smtpc_finish(struct smtp_client *c, int rset)
{
	if (rset) {
		smtpc_cmd(c, "RSET");
		c->state = C_RSET;
		return SMTPC_READ;
	}
	c->msg = NULL;
	c->state = C_READY;
	return SMTPC_DONE;
}

static enum smtpc_event
smtpc_on_data(struct smtp_client *c)
{
	if (c->cur.code != 354) {
		if (c->mail_ok)
			smtpc_settle(c, TS_DATA, &c->cur);
		return smtpc_finish(c, 1);
	}
	if (c->mail_ok && c->accepted > 0)
		smtpc_body(c);
	else {
		c->bogus_data = 1;	/* RFC 2920 3.1: a lone dot */
		(void)buf_append(&c->out, ".\r\n", 3);
	}
	c->sent++;
	return SMTPC_READ;
}

static enum smtpc_event
smtpc_on_txn(struct smtp_client *c)
{
	size_t n = c->msg->nrcpts, pos = c->acked++;
	int ok = c->cur.code >= 200 && c->cur.code < 300;
	enum trouble_stage st = pos == 0 ? TS_MAIL : pos <= n ? TS_RCPT :
	    pos == n + 1 ? TS_DATA : TS_DOT;

	if (c->cur.code == 421)
		return smtpc_fail(c, st, &c->cur);
	if (st == TS_MAIL) {
		c->mail_ok = ok;
		if (!ok)
			smtpc_settle(c, TS_MAIL, &c->cur);
	} else if (st == TS_RCPT && c->mail_ok) {
		struct smtpc_rcpt *r = &c->msg->rcpts[pos - 1];

		if (ok)
			c->accepted++;
		else
			r->done = 1, r->stage = TS_RCPT, r->reply = c->cur;
	} else if (st == TS_DATA) {
		return smtpc_on_data(c);
	} else if (st == TS_DOT) {
		if (!c->bogus_data)
			smtpc_settle(c, TS_DOT, &c->cur);
		return smtpc_finish(c, 0);
	}
	/* Lock-step: stop when nothing can be sent any more. */
	if (!c->caps.pipelining && (!c->mail_ok || (pos == n && c->accepted == 0)))
		return smtpc_finish(c, 1);
	smtpc_pump(c);
	return SMTPC_READ;
}

/* ---- replies ---- */

static enum trouble_stage
smtpc_stage(const struct smtp_client *c)
{
	size_t n = c->msg ? c->msg->nrcpts : 0;

	switch (c->state) {
	case C_GREETING:
		return TS_GREETING;
	case C_EHLO: case C_HELO:
		return TS_HELO;
	case C_STARTTLS: case C_TLS:
		return TS_STARTTLS;
	case C_AUTH: case C_AUTH_USER: case C_AUTH_PASS:
		return TS_AUTH;
	case C_TXN:
		return c->acked == 0 ? TS_MAIL : c->acked <= n ? TS_RCPT :
		    c->acked == n + 1 ? TS_DATA : TS_DOT;
	default:
		return TS_MAIL;
	}
}

/* A complete reply, to the handler of the state. */
static enum smtpc_event
smtpc_on_reply(struct smtp_client *c)
{
	switch (c->state) {
	case C_GREETING:
		if (c->cur.code != 220)
			return smtpc_fail(c, TS_GREETING, &c->cur);
		smtpc_ehlo(c);
		return SMTPC_READ;
	case C_EHLO: case C_HELO:
		return smtpc_on_hello(c);
	case C_STARTTLS:
		if (c->cur.code == 220) {
			c->state = C_TLS;
			return SMTPC_STARTTLS;
		}
		if (c->env.tls == ROUTE_TLS_MAY && c->cur.code != 421)
			return smtpc_auth_or_ready(c);	/* may: go on in plain */
		return smtpc_fail(c, TS_STARTTLS, &c->cur);
	case C_AUTH: case C_AUTH_USER: case C_AUTH_PASS:
		return smtpc_on_auth(c);
	case C_TXN:
		return smtpc_on_txn(c);
	case C_RSET:
		if (c->cur.code < 200 || c->cur.code >= 300)
			return smtpc_fail(c, TS_MAIL, &c->cur);
		return smtpc_finish(c, 0);
	case C_QUIT:
		c->state = C_CLOSED;
		return SMTPC_CLOSED;
	default:	/* unasked: the server is going away, or confused */
		return smtpc_fail(c, TS_MAIL, &c->cur);
	}
}

/* One reply line (no CR LF).  Returns an event, or SMTPC_MORE inside a
 * multi-line reply. */
static enum smtpc_event
smtpc_line(struct smtp_client *c, const char *line, size_t len)
{
	char sep = len > 3 ? line[3] : ' ';
	const char *text = len > 4 ? line + 4 : "";
	int code;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (sep != ' ' && sep != '-'))
		return smtpc_fail_why(c, smtpc_stage(c), "malformed reply from the server");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (c->curlines == 0) {
		c->cur.code = code;
		if (trouble_status_parse(text, c->cur.status, sizeof c->cur.status) == 0)
			c->cur.status[0] = '\0';
		(void)str_fmt(c->cur.text, sizeof c->cur.text, "%d %s", code, text);
	} else if (code != c->cur.code) {
		return smtpc_fail_why(c, smtpc_stage(c), "reply code changed within a reply");
	} else {
		size_t sl = strlen(c->cur.status);

		if (sl && strncmp(text, c->cur.status, sl) == 0 && text[sl] == ' ')
			text += sl + 1;
		(void)str_fmt(c->cur.text + strlen(c->cur.text),
		    sizeof c->cur.text - strlen(c->cur.text), " %s", text);
		if (c->state == C_EHLO)
			smtpc_capability(c, line + 4);
	}
	if (sep == '-') {
		if (++c->curlines >= LIM_REPLY_LINES)
			return smtpc_fail_why(c, smtpc_stage(c), "reply with too many lines");
		return SMTPC_MORE;
	}
	c->curlines = 0;
	return smtpc_on_reply(c);
}

enum smtpc_event
smtp_client_input(struct smtp_client *c, const char *data, size_t len, size_t *used)
{
	size_t off = 0;

	while (off < len && c->state != C_CLOSED && c->state != C_TLS) {
		const char *nl = memchr(data + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - data - off) : len - off;
		enum smtpc_event ev;

		if (c->linelen + n > LIM_REPLY_LINE)
			c->overflow = 1;	/* keep the start, drop the rest */
		if (!c->overflow || c->linelen < LIM_REPLY_LINE) {
			size_t room = LIM_REPLY_LINE - c->linelen;

			memcpy(c->line + c->linelen, data + off, n < room ? n : room);
			c->linelen += n < room ? n : room;
		}
		off += n + (nl != NULL);
		if (nl == NULL)
			break;
		if (c->linelen > 0 && c->line[c->linelen - 1] == '\r')
			c->linelen--;
		c->line[c->linelen] = '\0';
		ev = smtpc_line(c, c->line, c->linelen);
		c->linelen = 0;
		c->overflow = 0;
		if (ev == SMTPC_STARTTLS)
			off = len;	/* nothing sent before TLS may count after */
		if (ev != SMTPC_MORE && ev != SMTPC_READ) {
			*used = off;
			return ev;
		}
	}
	*used = c->state == C_CLOSED ? len : off;
	return c->state == C_CLOSED ? SMTPC_CLOSED : SMTPC_READ;
}

/* ---- the driver's calls ---- */

struct smtp_client *
smtp_client_new(const struct smtpc_env *env)
{
	struct smtp_client *c = xcalloc(1, sizeof *c);

	c->env = *env;
	c->state = C_GREETING;
	/* A whole dot-stuffed message may wait here (twice its size at worst). */
	buf_init(&c->out, 2 * LIM_MAX_MESSAGE_SIZE + 65536);
	return c;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	/* AUTH went out near the start of the buffer's life. */
	if (c->out.data != NULL)
		explicit_bzero(c->out.data, c->out.cap < 4096 ? c->out.cap : 4096);
	buf_free(&c->out);
	free(c);
}

enum smtpc_event
smtp_client_tls_done(struct smtp_client *c, int ok, const char *why)
{
	if (c->state != C_TLS)
		return smtpc_fail_why(c, TS_STARTTLS, "TLS handshake out of sequence");
	if (!ok)
		return smtpc_fail_why(c, TS_STARTTLS, why ? why : "TLS handshake failed");
	c->tls_active = 1;
	smtpc_ehlo(c);		/* RFC 3207 4.2: forget all we knew */
	return SMTPC_READ;
}

/* Refuse the whole message before MAIL, for a reason of our own. */
static enum smtpc_event
smtpc_refuse(struct smtp_client *c, struct smtpc_msg *m, const char *status,
    const char *text)
{
	struct smtpc_reply r;

	smtpc_set_reply(&r, 0, status, text);
	c->msg = m;
	smtpc_settle(c, TS_LOCAL, &r);
	c->msg = NULL;
	return SMTPC_DONE;
}

enum smtpc_event
smtp_client_send(struct smtp_client *c, struct smtpc_msg *m)
{
	char why[160];
	size_t i;

	if (c->state != C_READY)
		return smtpc_fail_why(c, TS_MAIL, "message offered to a session not ready");
	for (i = 0; i < m->nrcpts; i++)
		m->rcpts[i].done = 0;
	if (c->caps.size && m->size > c->caps.size) {
		(void)str_fmt(why, sizeof why, "message of %zu octets is larger than the "
		    "server's limit of %llu", m->size, c->caps.size);
		return smtpc_refuse(c, m, "5.3.4", why);
	}
	if (m->smtputf8 && !c->caps.smtputf8)
		return smtpc_refuse(c, m, "5.6.7", "message needs SMTPUTF8 (RFC 6531) "
		    "and the server does not offer it");
	c->msg = m;
	c->sent = c->acked = c->accepted = 0;
	c->mail_ok = c->bogus_data = 0;
	c->state = C_TXN;
	smtpc_pump(c);
	return SMTPC_READ;
}

void
smtp_client_quit(struct smtp_client *c)
{
	if (c->state == C_CLOSED || c->state == C_QUIT)
		return;
	smtpc_cmd(c, "QUIT");
	c->state = C_QUIT;
}

enum smtpc_event
smtp_client_lost(struct smtp_client *c, const char *why)
{
	if (c->state == C_QUIT || c->state == C_CLOSED) {
		c->state = C_CLOSED;
		return SMTPC_CLOSED;
	}
	return smtpc_fail_why(c, smtpc_stage(c), why);
}

struct buf *
smtp_client_output(struct smtp_client *c)
{
	return &c->out;
}

enum smtpc_wait
smtp_client_wait(const struct smtp_client *c)
{
	size_t n = c->msg ? c->msg->nrcpts : 0;

	if (c->state == C_GREETING)
		return SMTPC_W_GREETING;
	if (c->state == C_QUIT)
		return SMTPC_W_QUIT;
	if (c->state != C_TXN || c->acked == 0)
		return SMTPC_W_MAIL;
	if (c->acked <= n)
		return SMTPC_W_RCPT;
	return c->acked == n + 1 ? SMTPC_W_DATA_INIT : SMTPC_W_DATA_END;
}

const struct smtpc_caps *
smtp_client_caps(const struct smtp_client *c)
{
	return &c->caps;
}

const struct smtpc_failure *
smtp_client_failure(const struct smtp_client *c)
{
	return c->failed ? &c->failure : NULL;
}

int
smtp_client_tls_active(const struct smtp_client *c)
{
	return c->tls_active;
}
