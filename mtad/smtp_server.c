/*
 * smtp_server.c -- the inbound ESMTP state machine (contract in
 * smtp_server.h).  Commands are rows of smtp_cmds[]: verb, the states it is
 * allowed in, flags, handler.  Input is split into lines here; DATA lines
 * go through smtp_data_line(), which owns the framing rules against SMTP
 * smuggling (RFC 5321 2.3.8, 4.1.1.4).
 */
#include "smtp_server.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "b64.h"
#include "log.h"
#include "policy.h"
#include "str.h"
#include "xalloc.h"

/* The longest line we keep, CR included, LF not: limits count CR LF. */
#define SMTP_LINE_MAX \
	((LIM_CMD_LINE_PARAMS > LIM_TEXT_LINE ? LIM_CMD_LINE_PARAMS : LIM_TEXT_LINE) - 1)

/* Why a message in DATA is refused; the first reason met wins. */
enum smtp_bad {
	SMTP_BAD_NONE,
	SMTP_BAD_BARE_LF,
	SMTP_BAD_BARE_CR,
	SMTP_BAD_NUL,
	SMTP_BAD_LONG_LINE,
	SMTP_BAD_TOO_BIG,
	SMTP_BAD_LOOP,
	SMTP_BAD_FROM,		/* From: domain not allowed (policy reply) */
};

enum smtp_sasl { SASL_PLAIN = 1, SASL_LOGIN };

struct smtp_server {
	struct smtp_env env;
	enum smtp_state state;
	int esmtp;			/* EHLO (not HELO) was used */
	char helo[LIM_DOMAIN + 1];
	struct buf out;
	struct smtp_txn txn;
	struct smtp_counts counts;
	/* the line being assembled across reads */
	char line[SMTP_LINE_MAX + 1];
	size_t linelen;
	int overflow;			/* line passed SMTP_LINE_MAX: discarding */
	size_t discarded;		/* bytes of it thrown away so far */
	/* DATA state */
	enum smtp_bad bad;
	int prev_crlf;			/* the previous data line ended in CRLF */
	int in_header;			/* still in the header section */
	unsigned hops;			/* Received: headers seen */
	int seen_date, seen_msgid;	/* Date:, Message-ID: in the header */
	size_t trace_len;		/* our Received: header's length */
	/* TLS and AUTH */
	int tls_active;
	char tls_info[128];		/* "TLS1.3 TLS_AES_256_GCM_SHA384" */
	char tls_cipher[96];
	int authenticated, any_domain;
	char auth_user[LIM_AUTH_USER + 1];
	char *domains;			/* a limited user's domains */
	enum smtp_sasl sasl;
	int sasl_step;			/* LOGIN: 0 user, 1 password */
	char sasl_user[LIM_AUTH_USER + 1];
	char sasl_pass[LIM_AUTH_PASSWORD + 1];
	/* a limited user's From: header field, unfolded */
	struct buf from;
	int in_from;
	char from_reply[LIM_REPLY_LINE];
};

/* ---- replies ---- */

static void smtp_vreply(struct smtp_server *s, int counts, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void smtp_reply(struct smtp_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void smtp_reply_nocount(struct smtp_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Queue one reply line (fmt has no CRLF).  4xx/5xx count as errors when
 * `counts`; past max_errors the session ends with 421. */
static void
smtp_vreply(struct smtp_server *s, int counts, const char *fmt, va_list ap)
{
	char line[LIM_REPLY_LINE];

	if (str_vfmt(line, sizeof line - 2, fmt, ap) < 0)
		line[sizeof line - 3] = '\0';	/* cut, never overflow */
	/* Input stops at LIM_OUT_HIGHWATER, so this always fits. */
	if (buf_puts(&s->out, line) < 0 || buf_append(&s->out, "\r\n", 2) < 0)
		fatalx("smtp_server: output buffer full");
	if (!counts || (line[0] != '4' && line[0] != '5') || s->state == SMTP_S_CLOSED)
		return;
	s->counts.errors++;
	if (s->counts.errors >= s->env.max_errors) {
		struct logline l;

		log_begin(&l, s->env.session_id, "too_many_errors");
		log_num(&l, "errors", s->counts.errors);
		log_end(&l);
		s->state = SMTP_S_CLOSED;
		smtp_reply(s, "421 4.7.0 %s Error: too many errors", s->env.hostname);
	}
}

static void
smtp_reply(struct smtp_server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, 1, fmt, ap);
	va_end(ap);
}

/* A refusal the client is entitled to (RFC 5321 4.5.3.1.10: recipients
 * over our limit), not a sign of a broken or hostile client. */
static void
smtp_reply_nocount(struct smtp_server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, 0, fmt, ap);
	va_end(ap);
}

static void
smtp_close(struct smtp_server *s)
{
	s->state = SMTP_S_CLOSED;
}

static void
smtp_log_reject(struct smtp_server *s, const char *cmd, const char *arg,
    const char *reply)
{
	struct logline l;

	log_begin(&l, s->env.session_id, "reject");
	log_str(&l, "cmd", cmd);
	log_str(&l, "arg", arg);
	log_str(&l, "client", s->env.client_addr);
	log_str(&l, "reply", reply);
	log_end(&l);
}

/* Who is talking, for policy.c. */
static struct policy_client
smtp_pc(const struct smtp_server *s)
{
	struct policy_client pc = { s->env.client_trusted, s->authenticated, s->env.listener,
		s->authenticated ? s->auth_user : NULL, s->any_domain, s->domains };

	return pc;
}

/* ---- transactions ---- */

static void
smtp_txn_reset(struct smtp_server *s)
{
	struct smtp_txn *t = &s->txn;
	size_t i;

	free(t->sender);
	for (i = 0; i < t->nrcpts; i++) {
		free(t->rcpts[i].mailbox);
		free(t->rcpts[i].domain);
		free(t->rcpts[i].orcpt);
	}
	free(t->rcpts);
	free(t->slots);
	t->slots = NULL;
	t->nslots = 0;
	free(t->envid);
	t->envid = NULL;
	t->ret = DSN_RET_UNSPEC;
	buf_reset(&t->msg, 64 * 1024);
	t->msg.max = (size_t)s->env.max_message_size + 4096;
	buf_reset(&s->from, 1024);
	s->in_from = 0;
	t->sender = NULL;
	t->rcpts = NULL;
	t->nrcpts = t->rcpts_cap = 0;
	t->body = SMTP_BODY_UNSPEC;
	t->smtputf8 = 0;
	t->declared_size = t->size = 0;
	t->queue_id[0] = '\0';
	t->received_at = 0;
	if (s->state != SMTP_S_GREET && s->state != SMTP_S_CLOSED)
		s->state = SMTP_S_IDLE;
}

/* ---- EHLO / HELO ---- */

/* The EHLO/HELO argument: a domain or address literal; we accept any
 * printable ASCII word of at most LIM_DOMAIN octets. */
static int
smtp_helo_ok(const char *arg)
{
	size_t n = strlen(arg), i;

	if (n == 0 || n > LIM_DOMAIN)
		return 0;
	for (i = 0; i < n; i++)
		if (arg[i] < 0x21 || arg[i] > 0x7e)
			return 0;
	return 1;
}

static int
smtp_greet(struct smtp_server *s, const char *verb, const char *arg)
{
	if (!smtp_helo_ok(arg)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		return -1;
	}
	(void)str_copy(s->helo, sizeof s->helo, arg);
	s->state = SMTP_S_IDLE;
	smtp_txn_reset(s);
	return 0;
}

static void
smtp_cmd_ehlo(struct smtp_server *s, char *arg, int pending)
{
	(void)pending;
	s->counts.ehlo++;
	if (smtp_greet(s, "EHLO", arg) < 0)
		return;
	s->esmtp = 1;
	smtp_reply(s, "250-%s", s->env.hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", s->env.max_message_size);
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-DSN");
	if (s->env.tls_offer && !s->tls_active)
		smtp_reply(s, "250-STARTTLS");
	if (s->tls_active && !s->authenticated)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");	/* RFC 4954 4: only under TLS */
	smtp_reply(s, "250 SMTPUTF8");
}

static void
smtp_cmd_helo(struct smtp_server *s, char *arg, int pending)
{
	(void)pending;
	s->counts.helo++;
	if (smtp_greet(s, "HELO", arg) < 0)
		return;
	s->esmtp = 0;
	smtp_reply(s, "250 %s", s->env.hostname);
}

/* ---- MAIL ---- */

struct smtp_mail_params {
	enum smtp_body body;
	int smtputf8;
	unsigned long long size;
	int seen_body, seen_size;
	enum dsn_ret ret;
	char envid[LIM_DSN_ENVID + 1];
	int seen_envid;
};

struct smtp_rcpt_params {
	int notify;
	char orcpt[LIM_DSN_ORCPT + 1];
	int seen_orcpt;
};

/* One ESMTP parameter of MAIL; on error the reply is queued, -1. */
static int
smtp_mail_param(struct smtp_server *s, char *kw, char *val,
    struct smtp_mail_params *mp)
{
	if (strcasecmp(kw, "SIZE") == 0 && val && !mp->seen_size) {
		mp->seen_size = 1;
		if (strlen(val) > LIM_NUMBER_DIGITS ||
		    str_to_u64(val, ~0ULL, &mp->size) < 0) {
			smtp_reply(s, "501 5.5.4 Bad SIZE= value");
			return -1;
		}
		if (mp->size > s->env.max_message_size) {
			smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
			return -1;
		}
		return 0;
	}
	if (strcasecmp(kw, "BODY") == 0 && val && !mp->seen_body) {
		mp->seen_body = 1;
		if (strcasecmp(val, "7BIT") == 0)
			mp->body = SMTP_BODY_7BIT;
		else if (strcasecmp(val, "8BITMIME") == 0)
			mp->body = SMTP_BODY_8BITMIME;
		else {
			smtp_reply(s, "501 5.5.4 BODY= must be 7BIT or 8BITMIME");
			return -1;
		}
		return 0;
	}
	if (strcasecmp(kw, "SMTPUTF8") == 0 && !val && !mp->smtputf8) {
		mp->smtputf8 = 1;
		return 0;
	}
	if (strcasecmp(kw, "RET") == 0 && val && mp->ret == DSN_RET_UNSPEC) {
		mp->ret = strcasecmp(val, "FULL") == 0 ? DSN_RET_FULL :
		    strcasecmp(val, "HDRS") == 0 ? DSN_RET_HDRS : DSN_RET_UNSPEC;
		if (mp->ret != DSN_RET_UNSPEC)
			return 0;
		smtp_reply(s, "501 5.5.4 RET= must be FULL or HDRS");
		return -1;
	}
	if (strcasecmp(kw, "ENVID") == 0 && val && !mp->seen_envid) {
		mp->seen_envid = 1;
		if (strlen(val) <= LIM_DSN_ENVID &&
		    dsn_xtext_decode(val, mp->envid, sizeof mp->envid) == 0)
			return 0;
		smtp_reply(s, "501 5.5.4 Bad ENVID= value");
		return -1;
	}
	smtp_reply(s, "555 5.5.4 Unsupported option: %s", kw);
	return -1;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 4.2): stored decoded. */
static int
smtp_orcpt(const char *val, char *out, size_t size)
{
	const char *semi = strchr(val, ';');
	size_t n;

	if (semi == NULL || semi == val || strlen(val) > LIM_DSN_ORCPT)
		return -1;
	n = (size_t)(semi - val) + 1;
	if (n >= size)
		return -1;
	memcpy(out, val, n);
	return dsn_xtext_decode(semi + 1, out + n, size - n);
}

/* One ESMTP parameter of RCPT: NOTIFY, ORCPT (RFC 3461). */
static int
smtp_rcpt_param(struct smtp_server *s, char *kw, char *val, struct smtp_rcpt_params *rp)
{
	if (strcasecmp(kw, "NOTIFY") == 0 && val && rp->notify == 0) {
		if ((rp->notify = dsn_notify_parse(val)) > 0)
			return 0;
		smtp_reply(s, "501 5.5.4 Bad NOTIFY= value");
		return -1;
	}
	if (strcasecmp(kw, "ORCPT") == 0 && val && !rp->seen_orcpt) {
		rp->seen_orcpt = 1;
		if (smtp_orcpt(val, rp->orcpt, sizeof rp->orcpt) == 0)
			return 0;
		smtp_reply(s, "501 5.5.4 Bad ORCPT= value");
		return -1;
	}
	smtp_reply(s, "555 5.5.4 Unsupported option: %s", kw);
	return -1;
}

/* "KEY[=VALUE] KEY[=VALUE] ..." after a path, for MAIL (mp) or RCPT (rp). */
static int
smtp_params(struct smtp_server *s, char *p, struct smtp_mail_params *mp,
    struct smtp_rcpt_params *rp)
{
	char *kw, *val, *save = NULL;

	if (*p != '\0' && *p != ' ') {
		smtp_reply(s, "501 5.5.4 Syntax error after the address");
		return -1;
	}
	for (kw = strtok_r(p, " ", &save); kw; kw = strtok_r(NULL, " ", &save)) {
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		if (!s->esmtp) {
			smtp_reply(s, "555 5.5.4 Unsupported option: %s", kw);
			return -1;
		}
		if (mp ? smtp_mail_param(s, kw, val, mp) < 0 : smtp_rcpt_param(s, kw, val, rp) < 0)
			return -1;
	}
	return 0;
}

/* Skip "FROM:"/"TO:" and optional blanks (a common RFC 821 leniency). */
static char *
smtp_path_start(char *arg, const char *prefix)
{
	size_t n = str_iprefix(arg, prefix);

	if (n == 0)
		return NULL;
	for (arg += n; *arg == ' '; arg++)
		;
	return arg;
}

/* A local caller without a login name is refused (its mail could not be
 * answered or traced to anyone). */
static void
smtp_mail_local(const struct smtp_server *s, struct policy_verdict *v)
{
	if (s->env.local_user != NULL)
		return;
	v->code = 550;
	(void)str_fmt(v->reply, sizeof v->reply, "550 5.7.1 Error: uid %lu has no user "
	    "name", s->env.local_uid);
}

/* The envelope sender to keep: a local user not free to choose gets
 * user@hostname whatever it asked for. */
static char *
smtp_mail_sender(const struct smtp_server *s, const struct addr *a)
{
	char m[LIM_LOCAL_USER + LIM_DOMAIN + 2];

	if (s->env.listener == LISTEN_LOCAL && !s->env.local_free &&
	    str_fmt(m, sizeof m, "%s@%s", s->env.local_user, s->env.hostname) == 0)
		return xstrdup(m);
	return xstrdup(a->mailbox);
}

static void
smtp_cmd_mail(struct smtp_server *s, char *arg, int pending)
{
	struct smtp_mail_params mp;
	struct policy_client pc = smtp_pc(s);
	struct policy_verdict v;
	struct addr a;
	enum addr_err e;
	char *p;
	size_t end;

	(void)pending;
	memset(&mp, 0, sizeof mp);
	s->counts.mail++;
	if ((p = smtp_path_start(arg, "FROM:")) == NULL ||
	    (e = addr_parse_path(p, 1, 0, &a, &end)) == ADDR_NO_BRACKETS) {
		smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (e != ADDR_OK) {
		smtp_reply(s, "501 5.1.7 Bad sender address: %s", addr_strerror(e));
		return;
	}
	if (smtp_params(s, p + end, &mp, NULL) < 0)
		return;
	if (a.utf8 && !mp.smtputf8) {
		smtp_reply(s, "553 5.6.7 Non-ASCII sender address needs SMTPUTF8");
		return;
	}
	policy_mail(&pc, &a, &v);
	if (v.code == 0 && s->env.listener == LISTEN_LOCAL)
		smtp_mail_local(s, &v);
	if (v.code == 0 && s->env.mail_allowed != NULL &&
	    s->env.mail_allowed(s->env.ctx, v.reply, sizeof v.reply) < 0)
		v.code = 450;
	if (v.code != 0) {
		smtp_reply(s, "%s", v.reply);
		smtp_log_reject(s, "MAIL", a.mailbox, v.reply);
		return;
	}
	s->txn.sender = smtp_mail_sender(s, &a);
	s->txn.body = mp.body;
	s->txn.smtputf8 = mp.smtputf8;
	s->txn.declared_size = mp.size;
	s->txn.ret = mp.ret;
	s->txn.envid = mp.seen_envid ? xstrdup(mp.envid) : NULL;
	s->state = SMTP_S_MAIL;
	smtp_reply(s, "250 2.1.0 Ok");
}

/* ---- RCPT ---- */

/* The duplicate check's key: the local part (exact) and the domain (its
 * A-label form, as stored); FNV-1a. */
static unsigned
smtp_rcpt_hash(const char *mailbox, size_t local, const char *domain)
{
	unsigned h = 2166136261u;
	size_t i;

	for (i = 0; i < local; i++)
		h = (h ^ (unsigned char)mailbox[i]) * 16777619u;
	h = (h ^ '@') * 16777619u;
	while (*domain)
		h = (h ^ (unsigned char)*domain++) * 16777619u;
	return h;
}

static size_t
smtp_rcpt_local(const char *mailbox)
{
	const char *at = strrchr(mailbox, '@');

	return at ? (size_t)(at - mailbox) : strlen(mailbox);
}

/* The slot holding mailbox@domain, or the empty one where it would go. */
static unsigned *
smtp_rcpt_slot(const struct smtp_txn *t, const char *mailbox, const char *domain)
{
	size_t local = smtp_rcpt_local(mailbox), mask = t->nslots - 1;
	size_t i = smtp_rcpt_hash(mailbox, local, domain) & mask;

	for (;; i = (i + 1) & mask) {
		const struct smtp_rcpt *r;

		if (t->slots[i] == 0)
			return &t->slots[i];
		r = &t->rcpts[t->slots[i] - 1];
		if (smtp_rcpt_local(r->mailbox) == local &&
		    memcmp(r->mailbox, mailbox, local) == 0 && strcmp(r->domain, domain) == 0)
			return &t->slots[i];
	}
}

/* Room for one more recipient in the table (rebuilt at twice the size
 * when it would be half full). */
static void
smtp_rcpt_slots_grow(struct smtp_txn *t)
{
	size_t i;

	if (2 * (t->nrcpts + 1) < t->nslots)
		return;
	free(t->slots);
	t->nslots = t->nslots ? 2 * t->nslots : 64;
	t->slots = xcalloc(t->nslots, sizeof *t->slots);
	for (i = 0; i < t->nrcpts; i++)
		*smtp_rcpt_slot(t, t->rcpts[i].mailbox, t->rcpts[i].domain) = (unsigned)i + 1;
}

/* Add a recipient unless the same mailbox is in the transaction already
 * (then nothing: one delivery each). */
static void
smtp_rcpt_add(struct smtp_server *s, const char *mailbox, const char *domain,
    const struct smtp_rcpt_params *rp)
{
	struct smtp_txn *t = &s->txn;
	struct smtp_rcpt *r;
	unsigned *slot;

	smtp_rcpt_slots_grow(t);
	if (*(slot = smtp_rcpt_slot(t, mailbox, domain)) != 0)
		return;
	t->rcpts = xgrow(t->rcpts, &t->rcpts_cap, t->nrcpts + 1, sizeof *t->rcpts);
	r = &t->rcpts[t->nrcpts++];
	*slot = (unsigned)t->nrcpts;
	r->mailbox = xstrdup(mailbox);
	r->domain = xstrdup(domain);
	r->notify = rp->notify;
	r->orcpt = rp->seen_orcpt ? xstrdup(rp->orcpt) : NULL;
}

/* <Postmaster> without a domain is ours (RFC 5321 4.1.1.3). */
static void
smtp_rcpt_postmaster(struct smtp_server *s, struct addr *a)
{
	(void)str_fmt(a->mailbox, sizeof a->mailbox, "postmaster@%s", s->env.hostname);
	(void)str_copy(a->domain_ascii, sizeof a->domain_ascii, s->env.hostname);
	str_lower(a->domain_ascii);
}

static void
smtp_cmd_rcpt(struct smtp_server *s, char *arg, int pending)
{
	struct policy_client pc = smtp_pc(s);
	struct smtp_rcpt_params rp;
	struct policy_verdict v;
	struct addr a;
	enum addr_err e;
	char *p;
	size_t end;

	(void)pending;
	memset(&rp, 0, sizeof rp);
	s->counts.rcpt++;
	if ((p = smtp_path_start(arg, "TO:")) == NULL ||
	    (e = addr_parse_path(p, 0, 1, &a, &end)) == ADDR_NO_BRACKETS) {
		smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (e != ADDR_OK) {
		smtp_reply(s, "501 5.1.3 Bad recipient address: %s", addr_strerror(e));
		return;
	}
	if (smtp_params(s, p + end, NULL, &rp) < 0)
		return;
	if (a.utf8 && !s->txn.smtputf8) {
		smtp_reply(s, "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8");
		return;
	}
	if (s->txn.nrcpts >= s->env.max_recipients) {
		smtp_reply_nocount(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (a.postmaster)
		smtp_rcpt_postmaster(s, &a);
	policy_rcpt(&pc, &a, &v);
	if (v.code != 0) {
		smtp_reply(s, "%s", v.reply);
		smtp_log_reject(s, "RCPT", a.mailbox, v.reply);
		return;
	}
	smtp_rcpt_add(s, a.mailbox, a.domain_ascii, &rp);
	s->state = SMTP_S_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}

/* ---- DATA ---- */

/* RFC 5322 date: "Thu, 26 Nov 2026 09:48:18 +0000" (always UTC). */
static void
smtp_date(time_t t, char *out, size_t size)
{
	static const char *wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	(void)str_fmt(out, size, "%s, %d %s %d %02d:%02d:%02d +0000", wd[tm.tm_wday],
	    tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * RFC 5321 4.4 trace header, first line of the stored message.  The
 * protocol is RFC 3848/6531's (ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP..),
 * the TLS cipher goes in RFC 8314 4.3's "tls" clause with the version in a
 * comment.
 */
static void
smtp_received(struct smtp_server *s)
{
	struct smtp_txn *t = &s->txn;
	char date[64], proto[16], *sp;
	int v6 = strchr(s->env.client_addr, ':') != NULL;

	/* RFC 3848 registers the S/A forms for ESMTP only. */
	(void)str_fmt(proto, sizeof proto, "%s%s%s",
	    t->smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP",
	    s->esmtp && s->tls_active ? "S" : "", s->esmtp && s->authenticated ? "A" : "");
	smtp_date(t->received_at, date, sizeof date);
	if (s->env.listener == LISTEN_LOCAL)	/* no network peer to name */
		(void)buf_printf(&t->msg, "Received: by %s (mtad, from uid %lu)\r\n\twith %s "
		    "id %s", s->env.hostname, s->env.local_uid, proto, t->queue_id);
	else
		(void)buf_printf(&t->msg, "Received: from %s ([%s%s])\r\n\tby %s (mtad) with "
		    "%s id %s", s->helo, v6 ? "IPv6:" : "", s->env.client_addr,
		    s->env.hostname, proto, t->queue_id);
	if (t->nrcpts == 1)
		(void)buf_printf(&t->msg, "\r\n\tfor <%s>", t->rcpts[0].mailbox);
	if (s->tls_active) {
		char version[32];

		(void)str_copy(version, sizeof version, s->tls_info);
		if ((sp = strchr(version, ' ')) != NULL)
			*sp = '\0';
		(void)buf_printf(&t->msg, "\r\n\ttls %s (%s)", s->tls_cipher, version);
	}
	(void)buf_printf(&t->msg, "; %s\r\n", date);
}

static void
smtp_cmd_data(struct smtp_server *s, char *arg, int pending)
{
	s->counts.data++;
	if (*arg != '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->state == SMTP_S_IDLE) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->state == SMTP_S_MAIL) {
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (pending) {
		/* RFC 2920 3.1: DATA ends a group; data sent before our 354
		 * is a broken or hostile client. */
		smtp_log_reject(s, "DATA", "", "improper pipelining");
		smtp_close(s);
		smtp_reply(s, "554 5.5.0 Error: improper use of SMTP command pipelining");
		return;
	}
	s->env.new_queue_id(s->env.ctx, s->txn.queue_id, sizeof s->txn.queue_id);
	s->txn.received_at = s->env.now(s->env.ctx);
	smtp_received(s);
	s->trace_len = s->txn.msg.len;
	s->state = SMTP_S_DATA;
	s->bad = SMTP_BAD_NONE;
	s->prev_crlf = 1;
	s->in_header = 1;
	s->hops = 0;
	s->seen_date = s->seen_msgid = 0;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
smtp_data_bad(struct smtp_server *s, enum smtp_bad why)
{
	if (s->bad == SMTP_BAD_NONE)
		s->bad = why;
}

static const char *
smtp_bad_reply(enum smtp_bad why)
{
	switch (why) {
	case SMTP_BAD_BARE_LF:
		return "554 5.6.0 Error: bare <LF> in message data (RFC 5321 2.3.8)";
	case SMTP_BAD_BARE_CR:
		return "554 5.6.0 Error: bare <CR> in message data (RFC 5321 2.3.8)";
	case SMTP_BAD_NUL:
		return "554 5.6.0 Error: NUL byte in message data";
	case SMTP_BAD_LONG_LINE:
		return "554 5.6.0 Error: text line longer than 1000 octets (RFC 5321 4.5.3.1.6)";
	case SMTP_BAD_TOO_BIG:
		return "552 5.3.4 Error: message size exceeds fixed limit";
	case SMTP_BAD_LOOP:
		return "554 5.4.6 Error: too many Received: headers, mail loop?";
	case SMTP_BAD_FROM:
		return "550 5.7.1 From: header not allowed for this user";
	case SMTP_BAD_NONE:
		break;
	}
	return "554 5.6.0 Error: message refused";
}

/* A message submitted by a local or authenticated client gets the Date:
 * and Message-ID: it lacks (RFC 6409 8.2, 8.3), right after our
 * Received:.  -1 if that passes the size limit. */
static int
smtp_add_missing(struct smtp_server *s)
{
	struct smtp_txn *t = &s->txn;
	char date[64], hdr[LIM_DOMAIN + LIM_QUEUE_ID + 96] = "";
	size_t n = 0;

	if (s->env.listener != LISTEN_LOCAL && !s->authenticated)
		return 0;
	if (!s->seen_date) {
		smtp_date(t->received_at, date, sizeof date);
		if (str_fmt(hdr, sizeof hdr, "Date: %s\r\n", date) < 0)
			return -1;
		n = strlen(hdr);
	}
	if (!s->seen_msgid && str_fmt(hdr + n, sizeof hdr - n, "Message-ID: <%s@%s>\r\n",
	    t->queue_id, s->env.hostname) < 0)
		return -1;
	n = strlen(hdr);
	return n == 0 ? 0 : buf_insert(&t->msg, s->trace_len, hdr, n);
}

/* The "." line: refuse a bad message, or hand a good one to the driver. */
static void
smtp_data_end(struct smtp_server *s)
{
	struct policy_client pc = smtp_pc(s);
	struct policy_verdict v;
	const char *reply;

	if (s->bad == SMTP_BAD_NONE && s->authenticated && !s->any_domain) {
		policy_from_header(&pc, s->from.data && s->from.len ? s->from.data : "", &v);
		if (v.code != 0) {
			s->bad = SMTP_BAD_FROM;
			(void)str_copy(s->from_reply, sizeof s->from_reply, v.reply);
		}
	}
	if (s->bad == SMTP_BAD_NONE && smtp_add_missing(s) < 0)
		s->bad = SMTP_BAD_TOO_BIG;
	if (s->bad == SMTP_BAD_NONE) {
		s->state = SMTP_S_STORE;
		return;
	}
	reply = s->bad == SMTP_BAD_FROM ? s->from_reply : smtp_bad_reply(s->bad);
	smtp_log_reject(s, "DATA", s->txn.queue_id, reply);
	smtp_txn_reset(s);
	smtp_reply(s, "%s", reply);
}

/* A limited user's From: field, unfolded (continuation lines start with
 * a blank); past its buffer the message is refused. */
static void
smtp_from_capture(struct smtp_server *s, const char *line, size_t text)
{
	size_t skip = 0;

	if (str_iprefix(line, "From:"))
		s->in_from = 1, skip = 5;
	else if (line[0] != ' ' && line[0] != '\t')
		s->in_from = 0;
	if (s->in_from && (buf_append(&s->from, line + skip, text - skip) < 0 ||
	    buf_append(&s->from, " ", 1) < 0)) {
		(void)str_copy(s->from_reply, sizeof s->from_reply,
		    "550 5.7.1 From: header too long to check");
		smtp_data_bad(s, SMTP_BAD_FROM);
	}
}

/*
 * One line of message data, `len` bytes without its LF.  A line ends the
 * message only when it is exactly "." CR LF and the line before it also
 * ended in CR LF; any line ending in a bare LF, or holding a bare CR or a
 * NUL, marks the whole message refused.
 */
static void
smtp_data_line(struct smtp_server *s, const char *line, size_t len, int overflow)
{
	struct smtp_txn *t = &s->txn;
	int crlf = len > 0 && line[len - 1] == '\r';
	size_t text = crlf ? len - 1 : len, dot;

	if (crlf && s->prev_crlf && text == 1 && line[0] == '.' && !overflow) {
		smtp_data_end(s);
		return;
	}
	if (!crlf)
		smtp_data_bad(s, SMTP_BAD_BARE_LF);
	if (overflow || len + 1 > LIM_TEXT_LINE)
		smtp_data_bad(s, SMTP_BAD_LONG_LINE);	/* (content only partly kept) */
	if (memchr(line, '\r', text) != NULL)
		smtp_data_bad(s, SMTP_BAD_BARE_CR);
	if (memchr(line, '\0', len) != NULL)
		smtp_data_bad(s, SMTP_BAD_NUL);
	s->prev_crlf = crlf;
	/* Header checks see the line as it will be stored: unstuffed. */
	dot = len > 0 && line[0] == '.';
	if (s->in_header) {
		if (text == 0)
			s->in_header = 0;
		else if (str_iprefix(line + dot, "Received:") && ++s->hops > LIM_HOPS)
			smtp_data_bad(s, SMTP_BAD_LOOP);
		else if (str_iprefix(line + dot, "Date:"))
			s->seen_date = 1;
		else if (str_iprefix(line + dot, "Message-ID:"))
			s->seen_msgid = 1;
		if (text > dot && s->authenticated && !s->any_domain)
			smtp_from_capture(s, line + dot, text - dot);
	}
	t->size += len + 1 - dot;
	if (t->size > s->env.max_message_size)
		smtp_data_bad(s, SMTP_BAD_TOO_BIG);
	if (s->bad != SMTP_BAD_NONE)
		return;
	if (buf_append(&t->msg, line + dot, len - dot) < 0 ||
	    buf_append(&t->msg, "\n", 1) < 0)
		smtp_data_bad(s, SMTP_BAD_TOO_BIG);
}

/* ---- the other commands ---- */

static void
smtp_cmd_rset(struct smtp_server *s, char *arg, int pending)
{
	(void)arg;
	(void)pending;
	s->counts.rset++;
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_quit(struct smtp_server *s, char *arg, int pending)
{
	(void)arg;
	(void)pending;
	s->counts.quit++;
	smtp_close(s);
	smtp_reply(s, "221 2.0.0 Bye");
}

/* ---- STARTTLS (RFC 3207) and AUTH (RFC 4954) ---- */

static int smtp_framing_ok(struct smtp_server *s, const char *line, size_t len,
    int overflow);

static void
smtp_cmd_starttls(struct smtp_server *s, char *arg, int pending)
{
	(void)arg;
	(void)pending;
	s->counts.starttls++;
	if (s->tls_active) {
		smtp_reply(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (!s->env.tls_offer) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->state = SMTP_S_TLS;	/* smtp_server_input drops what follows */
}

static void
smtp_sasl_end(struct smtp_server *s)
{
	explicit_bzero(s->sasl_pass, sizeof s->sasl_pass);
	s->sasl = 0;
	s->state = SMTP_S_IDLE;
}

/* PLAIN (RFC 4616): authzid NUL authcid NUL passwd; an authzid other
 * than the authcid (acting for someone else) is refused. */
static int
smtp_sasl_plain(struct smtp_server *s, const char *raw, size_t n)
{
	const char *authcid = memchr(raw, '\0', n), *pass;
	size_t zlen, clen, plen;

	if (authcid == NULL || (pass = memchr(authcid + 1, '\0', n - (size_t)(authcid + 1 - raw))) == NULL)
		return -1;
	zlen = (size_t)(authcid - raw);
	authcid++;
	clen = (size_t)(pass - authcid);
	pass++;
	plen = n - (size_t)(pass - raw);
	if (clen == 0 || clen > LIM_AUTH_USER)
		return -1;
	memcpy(s->sasl_user, authcid, clen);	/* named in the log when it fails */
	s->sasl_user[clen] = '\0';
	if (plen > LIM_AUTH_PASSWORD || (zlen > 0 && (zlen != clen || memcmp(raw, authcid, clen) != 0)))
		return -1;
	memcpy(s->sasl_pass, pass, plen);
	s->sasl_pass[plen] = '\0';
	return 0;
}

/* One client response (base64, or "*" to give up). */
static void
smtp_sasl_response(struct smtp_server *s, const char *text)
{
	char raw[LIM_AUTH_USER + LIM_AUTH_PASSWORD + 8];
	long n = 0;

	if (strcmp(text, "*") == 0) {
		smtp_sasl_end(s);
		smtp_reply(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (strcmp(text, "=") != 0 && (n = b64_decode(text, strlen(text), raw, sizeof raw)) < 0) {
		smtp_sasl_end(s);
		smtp_reply(s, "501 5.5.2 Invalid base64 data");
		return;
	}
	if (s->sasl == SASL_LOGIN && s->sasl_step == 0) {
		/* Too long (or with a NUL): an empty name, which fails. */
		if (n <= 0 || (size_t)n > LIM_AUTH_USER || memchr(raw, '\0', (size_t)n) ||
		    str_copy(s->sasl_user, sizeof s->sasl_user, raw) < 0)
			s->sasl_user[0] = '\0';
		s->sasl_step = 1;
		s->state = SMTP_S_SASL;
		smtp_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
	} else {
		/* LOGIN's password, or PLAIN's whole message.  Malformed ones
		 * reach the driver with an empty password: they fail like a
		 * wrong one, logged and counted (never a silent truncation). */
		if (s->sasl == SASL_LOGIN ? (n <= 0 || (size_t)n > LIM_AUTH_PASSWORD ||
		    memchr(raw, '\0', (size_t)n) || s->sasl_user[0] == '\0' ||
		    str_copy(s->sasl_pass, sizeof s->sasl_pass, raw) < 0) :
		    smtp_sasl_plain(s, raw, (size_t)n) < 0)
			s->sasl_pass[0] = '\0';
		s->state = SMTP_S_AUTHCHECK;
	}
	explicit_bzero(raw, sizeof raw);
}

static void
smtp_cmd_auth(struct smtp_server *s, char *arg, int pending)
{
	char *ir = strchr(arg, ' ');

	(void)pending;
	s->counts.auth++;
	if (!s->tls_active) {
		smtp_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (s->authenticated) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (ir != NULL)
		for (*ir++ = '\0'; *ir == ' '; ir++)
			;
	if (strcasecmp(arg, "PLAIN") == 0)
		s->sasl = SASL_PLAIN;
	else if (strcasecmp(arg, "LOGIN") == 0)
		s->sasl = SASL_LOGIN;
	else {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	s->sasl_step = 0;
	s->sasl_user[0] = '\0';
	s->sasl_pass[0] = '\0';
	if (ir != NULL && *ir != '\0') {
		smtp_sasl_response(s, ir);
		return;
	}
	s->state = SMTP_S_SASL;
	smtp_reply(s, s->sasl == SASL_PLAIN ? "334 " : "334 VXNlcm5hbWU6");	/* "Username:" */
}

/* A line while AUTH waits for a response (len with CR, no LF). */
static void
smtp_sasl_line(struct smtp_server *s, char *line, size_t len, int overflow)
{
	if (!smtp_framing_ok(s, line, len, overflow)) {
		if (s->state != SMTP_S_CLOSED)
			smtp_sasl_end(s);
		return;
	}
	line[len - 1] = '\0';
	smtp_sasl_response(s, line);
}

/* A web client talking to an SMTP port: not an SMTP error, just goodbye. */
static void
smtp_cmd_http(struct smtp_server *s, char *arg, int pending)
{
	(void)arg;
	(void)pending;
	smtp_log_reject(s, "HTTP", "", "HTTP request on an SMTP port");
	smtp_close(s);
	smtp_reply(s, "221 2.7.0 Error: this is an SMTP server, not HTTP");
}

#define ST(x) (1u << SMTP_S_##x)
#define ST_ANY (ST(GREET) | ST(IDLE) | ST(MAIL) | ST(RCPT))
#define ST_TXN (ST(IDLE) | ST(MAIL) | ST(RCPT))

enum {
	CMD_ARG = 1,	/* an argument is required */
	CMD_NOARG = 2,	/* no argument allowed */
	CMD_PARAMS = 4,	/* line may exceed 512 octets (ESMTP parameters) */
};

/* A command: its handler, or (fn NULL) the one fixed reply it gets. */
struct smtp_cmd {
	const char *verb;
	unsigned states;
	unsigned flags;
	void (*fn)(struct smtp_server *, char *arg, int pending);
	const char *reply;
};

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO", ST_ANY, CMD_ARG, smtp_cmd_ehlo, NULL },
	{ "HELO", ST_ANY, CMD_ARG, smtp_cmd_helo, NULL },
	{ "MAIL", ST(IDLE), CMD_ARG | CMD_PARAMS, smtp_cmd_mail, NULL },
	{ "RCPT", ST(MAIL) | ST(RCPT), CMD_ARG | CMD_PARAMS, smtp_cmd_rcpt, NULL },
	{ "DATA", ST_TXN, 0, smtp_cmd_data, NULL },
	{ "RSET", ST_ANY, CMD_NOARG, smtp_cmd_rset, NULL },
	{ "QUIT", ST_ANY, CMD_NOARG, smtp_cmd_quit, NULL },
	{ "STARTTLS", ST(IDLE), CMD_NOARG, smtp_cmd_starttls, NULL },
	/* RFC 4954 4: an initial response may make the line long. */
	{ "AUTH", ST(IDLE), CMD_ARG | CMD_PARAMS, smtp_cmd_auth, NULL },
	{ "NOOP", ST_ANY, 0, NULL, "250 2.0.0 Ok" },
	/* RFC 5321 3.5.3: VRFY may answer 252 without verifying. */
	{ "VRFY", ST_ANY, CMD_ARG, NULL,
	    "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery" },
	{ "EXPN", ST_ANY, 0, NULL, "502 5.5.1 Error: EXPN not supported" },
	{ "HELP", ST_ANY, 0, NULL,
	    "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP" },
	{ "GET", ST_ANY, 0, smtp_cmd_http, NULL },
	{ "POST", ST_ANY, 0, smtp_cmd_http, NULL },
	{ "HEAD", ST_ANY, 0, smtp_cmd_http, NULL },
	{ "CONNECT", ST_ANY, 0, smtp_cmd_http, NULL },
};

static const struct smtp_cmd *
smtp_cmd_find(const char *verb, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof smtp_cmds / sizeof smtp_cmds[0]; i++)
		if (strlen(smtp_cmds[i].verb) == n && str_iprefix(verb, smtp_cmds[i].verb))
			return &smtp_cmds[i];
	return NULL;
}

/* ---- dispatch ---- */

/*
 * A command line must end in CR LF and hold no other CR, LF or NUL.  After
 * a bare LF we cannot know where the client thinks its lines end (that is
 * what SMTP smuggling plays on), so the session ends there, with 521 (we
 * close: RFC 7504) as Postfix's smtpd_forbid_bare_newline does.
 */
static int
smtp_framing_ok(struct smtp_server *s, const char *line, size_t len, int overflow)
{
	const char *why = NULL;

	if (overflow) {
		why = "500 5.5.2 Error: line too long";
	} else if (len == 0 || line[len - 1] != '\r') {
		smtp_log_reject(s, "?", "", "bare <LF>");
		smtp_close(s);
		smtp_reply(s, "521 5.5.2 Error: bare <LF> received");
		return 0;
	} else if (memchr(line, '\r', len - 1) != NULL)
		why = "500 5.5.2 Error: bare <CR> received";
	else if (memchr(line, '\0', len) != NULL)
		why = "500 5.5.2 Error: NUL byte received";
	if (why == NULL)
		return 1;
	smtp_log_reject(s, "?", "", why);
	smtp_reply(s, "%s", why);
	return 0;
}

/* One command line (`len` bytes with its CR, without LF); `pending` says
 * more input follows it in the same read (RFC 2920 groups). */
static void
smtp_command(struct smtp_server *s, char *line, size_t len, int overflow, int pending)
{
	const struct smtp_cmd *c;
	size_t vlen, alen;
	char *arg;

	if (!smtp_framing_ok(s, line, len, overflow))
		return;
	line[--len] = '\0';
	vlen = strcspn(line, " ");
	if ((c = smtp_cmd_find(line, vlen)) == NULL) {
		s->counts.other++;
		smtp_reply(s, vlen ? "500 5.5.2 Error: command not recognized" :
		    "500 5.5.2 Error: empty command");
		return;
	}
	if (len + 2 > LIM_CMD_LINE && !(c->flags & CMD_PARAMS)) {
		smtp_reply(s, "500 5.5.2 Error: line too long");
		return;
	}
	for (arg = line + vlen; *arg == ' '; arg++)
		;
	for (alen = strlen(arg); alen > 0 && arg[alen - 1] == ' '; alen--)
		arg[alen - 1] = '\0';
	if ((c->flags & CMD_ARG) && alen == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: %s requires an argument", c->verb);
		return;
	}
	if ((c->flags & CMD_NOARG) && alen != 0) {
		smtp_reply(s, "501 5.5.4 Syntax: %s takes no argument", c->verb);
		return;
	}
	if (!(c->states & (1u << s->state))) {
		smtp_reply(s, s->state == SMTP_S_GREET ? "503 5.5.1 Error: send HELO/EHLO first" :
		    "503 5.5.1 Error: bad sequence of commands");
		return;
	}
	if (c->fn != NULL) {
		c->fn(s, arg, pending);
	} else {
		s->counts.other++;
		smtp_reply(s, "%s", c->reply);
	}
}

/* Add n bytes to the line being assembled; past SMTP_LINE_MAX only the
 * last byte is kept (in the last slot), so CR-LF framing stays known. */
static void
smtp_line_append(struct smtp_server *s, const char *data, size_t n)
{
	if (s->overflow || s->linelen + n > SMTP_LINE_MAX) {
		s->overflow = 1;
		s->discarded += n;
		if (n > 0) {
			s->linelen = SMTP_LINE_MAX;
			s->line[SMTP_LINE_MAX - 1] = data[n - 1];
		}
		return;
	}
	memcpy(s->line + s->linelen, data, n);
	s->linelen += n;
}

/* Consume one line, or the start of one, from data; returns bytes used. */
static size_t
smtp_take(struct smtp_server *s, const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);
	size_t n = nl ? (size_t)(nl - data) : len;
	int secret;

	if (s->state == SMTP_S_DATA && nl && s->linelen == 0 && !s->overflow) {
		smtp_data_line(s, data, n, 0);	/* whole line in the input */
		return n + 1;
	}
	smtp_line_append(s, data, n);
	if (nl == NULL)
		return len;
	s->line[s->linelen] = '\0';
	secret = s->state == SMTP_S_SASL || str_iprefix(s->line, "AUTH ");
	if (s->state == SMTP_S_DATA)
		smtp_data_line(s, s->line, s->linelen, s->overflow);
	else if (s->state == SMTP_S_SASL)
		smtp_sasl_line(s, s->line, s->linelen, s->overflow);
	else
		smtp_command(s, s->line, s->linelen, s->overflow, n + 1 < len);
	if (secret)
		explicit_bzero(s->line, sizeof s->line);
	s->linelen = 0;
	s->overflow = 0;
	s->discarded = 0;
	return n + 1;
}

enum smtp_action
smtp_server_input(struct smtp_server *s, const char *data, size_t len, size_t *used)
{
	size_t off = 0;

	while (off < len && s->state < SMTP_S_STORE && s->out.len < LIM_OUT_HIGHWATER)
		off += smtp_take(s, data + off, len - off);
	*used = off;
	/* Bound what a client that never ends a line or a message costs us. */
	if (s->discarded > LIM_LINE_DISCARD) {
		smtp_log_reject(s, "?", "", "line without end");
		smtp_close(s);
		smtp_reply(s, "521 5.5.2 Error: line too long");
	} else if (s->state == SMTP_S_DATA && s->txn.size > 2 * s->env.max_message_size) {
		smtp_log_reject(s, "DATA", s->txn.queue_id, "message without end");
		smtp_close(s);
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed limit");
	}
	if (s->state == SMTP_S_TLS) {
		/* RFC 3207 4.2 (CVE-2011-0411): nothing sent before the
		 * handshake may count after it. */
		explicit_bzero(s->line, sizeof s->line);
		s->linelen = 0;
		s->overflow = 0;
		*used = len;
		return SMTP_ACT_STARTTLS;
	}
	if (s->state == SMTP_S_CLOSED)
		return SMTP_ACT_CLOSE;
	if (s->state == SMTP_S_STORE)
		return SMTP_ACT_STORE;
	if (s->state == SMTP_S_AUTHCHECK)
		return SMTP_ACT_AUTH;
	return off < len ? SMTP_ACT_FLUSH : SMTP_ACT_MORE;
}

/* ---- life cycle and the driver's calls ---- */

struct smtp_server *
smtp_server_new(const struct smtp_env *env)
{
	struct smtp_server *s = xcalloc(1, sizeof *s);

	s->env = *env;
	s->state = SMTP_S_GREET;
	buf_init(&s->out, LIM_OUT_BUFFER);
	buf_init(&s->txn.msg, (size_t)env->max_message_size + 4096);
	buf_init(&s->from, 4096);
	smtp_reply(s, "220 %s ESMTP mtad", env->hostname);
	return s;
}

void
smtp_server_free(struct smtp_server *s)
{
	if (s == NULL)
		return;
	s->state = SMTP_S_CLOSED;
	smtp_txn_reset(s);
	buf_free(&s->txn.msg);
	buf_free(&s->out);
	buf_free(&s->from);
	free(s->domains);
	explicit_bzero(s->sasl_pass, sizeof s->sasl_pass);
	explicit_bzero(s->line, sizeof s->line);
	free(s);
}

const struct smtp_txn *
smtp_server_txn(const struct smtp_server *s)
{
	return s->state == SMTP_S_STORE ? &s->txn : NULL;
}

struct buf *
smtp_server_msg(struct smtp_server *s)
{
	return s->state == SMTP_S_STORE ? &s->txn.msg : NULL;
}

void
smtp_server_stored(struct smtp_server *s, int ok)
{
	char id[LIM_QUEUE_ID + 1];

	if (s->state != SMTP_S_STORE)
		fatalx("smtp_server_stored in state %d", s->state);
	(void)str_copy(id, sizeof id, s->txn.queue_id);
	smtp_txn_reset(s);
	if (ok) {
		s->counts.accepted++;
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", id);
	} else {
		smtp_reply(s, "451 4.3.0 Error: queue write failed, try again later");
	}
}

struct buf *
smtp_server_output(struct smtp_server *s)
{
	return &s->out;
}

enum smtp_state
smtp_server_state(const struct smtp_server *s)
{
	return s->state;
}

const char *
smtp_server_helo(const struct smtp_server *s)
{
	return s->helo;
}

const struct smtp_counts *
smtp_server_counts(const struct smtp_server *s)
{
	return &s->counts;
}

void
smtp_server_timeout(struct smtp_server *s)
{
	smtp_close(s);
	smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->env.hostname);
}

void
smtp_server_shutdown(struct smtp_server *s)
{
	smtp_close(s);
	smtp_reply(s, "421 4.3.2 %s Service shutting down, try again later", s->env.hostname);
}

void
smtp_server_tls(struct smtp_server *s, const char *version, const char *cipher)
{
	s->tls_active = 1;
	(void)str_fmt(s->tls_info, sizeof s->tls_info, "%s %s", version, cipher);
	(void)str_copy(s->tls_cipher, sizeof s->tls_cipher, cipher);
	/* RFC 3207 4.2: forget everything the client said before. */
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->state = SMTP_S_GREET;
	smtp_txn_reset(s);
	s->linelen = 0;
	s->overflow = 0;
}

void
smtp_server_auth_creds(const struct smtp_server *s, const char **user, const char **password)
{
	*user = s->sasl_user;
	*password = s->sasl_pass;
}

void
smtp_server_auth_result(struct smtp_server *s, enum smtp_auth_verdict v, int any_domain,
    const char *domains)
{
	if (s->state != SMTP_S_AUTHCHECK)
		fatalx("smtp_server_auth_result in state %d", s->state);
	smtp_sasl_end(s);
	switch (v) {
	case SMTP_AUTH_OK:
		s->authenticated = 1;
		s->any_domain = any_domain;
		free(s->domains);
		s->domains = any_domain ? NULL : xstrdup(domains ? domains : "");
		(void)str_copy(s->auth_user, sizeof s->auth_user, s->sasl_user);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case SMTP_AUTH_FAIL:
		s->counts.auth_failed++;
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		break;
	case SMTP_AUTH_TEMPFAIL:
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	case SMTP_AUTH_BLOCKED:
		smtp_close(s);
		smtp_reply(s, "421 4.7.0 %s Error: too many failed authentications, "
		    "try again later", s->env.hostname);
		break;
	}
}

const char *
smtp_server_auth_user(const struct smtp_server *s)
{
	return s->authenticated ? s->auth_user : NULL;
}

const char *
smtp_server_tls_info(const struct smtp_server *s)
{
	return s->tls_active ? s->tls_info : NULL;
}
