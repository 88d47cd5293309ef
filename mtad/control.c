/*
 * control.c -- the control socket (control.h); requests are parsed and
 * monitor events made by ctlproto.c.
 *
 * One thread serves every client with poll(): sockets are non-blocking,
 * each client has a bounded input line and a bounded output buffer, so a
 * client that stops reading only ever hurts itself.  Reads go through the
 * thread's own queue connection, in pages; changes go through the writer,
 * then the scheduler is told.  The monitor is fed by a tap on the log
 * (log_set_tap): every log line goes into a ring of LIM_MONITOR_RING
 * lines, and the thread turns each into a JSON event for the monitors.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "check.h"
#include "conf.h"
#include "ctlproto.h"
#include "dkimkey.h"
#include "domain.h"
#include "limits.h"
#include "log.h"
#include "queue.h"
#include "scheduler.h"
#include "signer.h"
#include "str.h"
#include "version.h"
#include "writer.h"
#include "xalloc.h"

struct ctl_client {
	int fd;
	uid_t uid;
	int monitor;
	unsigned long long seen;	/* monitor: next ring sequence to send */
	struct buf in, out;
	int closing;			/* send what is queued, then close */
	/* a reload asked for: answered when main is done, or at the deadline;
	 * the client's next requests wait */
	int reloading;
	unsigned reload_gen;		/* ctl.reload_gen when asked */
	time_t reload_deadline;		/* monotonic */
};

static struct {
	int fd;				/* listening */
	int wake[2];			/* the tap and control_stop */
	pthread_t thread;
	int running, stopping;
	struct queue *q;		/* reads */
	time_t started;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_client *clients[LIM_CONTROL_CLIENTS];
	/* the monitor ring: lines by sequence number */
	pthread_mutex_t ring_lock;
	char *ring[LIM_MONITOR_RING];
	unsigned long long next;	/* sequence of the next line */
	int monitors;			/* clients monitoring (atomic) */
	/* the last reload main finished (any cause: SIGHUP too) */
	pthread_mutex_t reload_lock;
	unsigned reload_gen;
	int reload_ok;
	char reload_msg[LIM_LOG_LINE];
} ctl = { .fd = -1, .wake = { -1, -1 }, .ring_lock = PTHREAD_MUTEX_INITIALIZER,
	.reload_lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the monitor's ring ---- */

/* The log tap: keep the line, wake the thread.  Cheap when no one watches. */
static void
ctl_tap(const char *line, size_t len)
{
	char **slot;

	if (__atomic_load_n(&ctl.monitors, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&ctl.ring_lock);
	slot = &ctl.ring[ctl.next % LIM_MONITOR_RING];
	free(*slot);
	*slot = xstrndup(line, len ? len - 1 : 0);	/* without the LF */
	ctl.next++;
	pthread_mutex_unlock(&ctl.ring_lock);
	if (write(ctl.wake[1], "m", 1) < 0 && errno != EAGAIN)
		return;	/* the thread will see the ring at its next wake anyway */
}

/* ---- replies ---- */

static void
ctl_send_json(struct ctl_client *c, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	char msg[200];
	size_t n = s ? strlen(s) : 0;

	if (s != NULL && c->out.len + n + 1 > LIM_CONTROL_OUTPUT) {
		/* too big to queue: say so instead (an error line is small) */
		free(s);
		(void)str_fmt(msg, sizeof msg, "{\"v\":1,\"ok\":false,\"code\":\"failed\","
		    "\"error\":\"reply too large (%zu bytes): ask for a smaller page\"}", n);
		s = xstrdup(msg);
	}
	if (s == NULL || buf_puts(&c->out, s) < 0 || buf_append(&c->out, "\n", 1) < 0)
		c->closing = 1;	/* it cannot take even an error line: let it go */
	free(s);
}

static void
ctl_reply_ok(struct ctl_client *c, json_t *result)
{
	json_t *o = json_pack("{s:i, s:b, s:o}", "v", 1, "ok", 1, "result",
	    result ? result : json_null());

	ctl_send_json(c, o);
	json_decref(o);
}

static void
ctl_reply_error(struct ctl_client *c, const char *code, const char *error)
{
	json_t *o = json_pack("{s:i, s:b, s:s, s:s}", "v", 1, "ok", 0, "error", error,
	    "code", code);

	ctl_send_json(c, o);
	json_decref(o);
}

/* ISO 8601 UTC, or null for 0. */
static json_t *
ctl_time(time_t t)
{
	char s[32];
	struct tm tm;

	if (t == 0)
		return json_null();
	gmtime_r(&t, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

static json_t *
ctl_str(const char *s)
{
	return s ? ctlproto_strn(s, strlen(s)) : json_null();
}

/* ---- reading commands ---- */

typedef void ctl_fn(struct ctl_client *c, const struct ctl_request *r);

/* A listing's reply: the rows the reader filled `list` with, or (rc < 0)
 * the database's error; takes `list` either way. */
static void
ctl_reply_rows(struct ctl_client *c, json_t *list, int rc)
{
	if (rc < 0) {
		json_decref(list);
		ctl_reply_error(c, "failed", queue_errmsg(ctl.q));
		return;
	}
	ctl_reply_ok(c, list);
}

/* A domain, or an MX provider (provider: true), paused for throttling
 * or its warm-up cap: {domain, provider, until, reply}. */
static void
ctl_paused_json(void *ctx, const char *name, int provider, time_t until, const char *why)
{
	json_array_append_new(ctx, json_pack("{s:s, s:b, s:o, s:o}", "domain", name,
	    "provider", provider, "until", ctl_time(until), "reply", ctl_str(why)));
}

static void
ctl_warmup_row(void *ctx, const char *dest, long long sent)
{
	json_array_append_new(ctx, json_pack("{s:o, s:I}", "dest", ctl_str(dest), "sent",
	    (json_int_t)sent));
}

/* `warmup`: {cap, day (1 on the `since` day), today: [{dest, sent}]},
 * or null when there is none or it is over. */
static json_t *
ctl_warmup(const struct conf *cf)
{
	time_t now = time(NULL);
	unsigned long long cap = conf_warmup_cap(cf, now);
	long long day = (long long)(now / 86400);
	json_t *today;

	if (cap == 0)
		return json_null();
	today = json_array();
	(void)queue_warmup_list(ctl.q, day, LIM_WARMUP_ROWS, ctl_warmup_row, today);
	return json_pack("{s:I, s:I, s:o}", "cap", (json_int_t)cap, "day",
	    (json_int_t)(day >= cf->warmup.since_day ? day - cf->warmup.since_day + 1 : 0),
	    "today", today);
}

static void
ctl_status(struct ctl_client *c, const struct ctl_request *r)
{
	static const char *const names[] = { "queued", "deferred", "held", "sending" };
	struct conf *cf = conf_current();
	json_t *res, *queue = json_object(), *ls = json_array();
	long long counts[4], last_minute = 0;
	json_t *paused = json_array();
	unsigned claimed, conns;
	size_t i;

	(void)r;
	if (queue_counts(ctl.q, counts) < 0) {
		json_decref(paused);
		json_decref(queue);
		json_decref(ls);
		conf_unref(cf);
		ctl_reply_error(c, "failed", queue_errmsg(ctl.q));
		return;
	}
	for (i = 0; i < 4; i++)
		json_object_set_new(queue, names[i], json_integer(counts[i]));
	for (i = 0; i < cf->nlistens; i++)
		json_array_append_new(ls, json_pack("{s:s, s:s}", "address", cf->listens[i].spec,
		    "kind", conf_listen_kind_name(cf->listens[i].kind)));
	sched_info(&claimed, &conns);
	(void)queue_series(ctl.q, time(NULL) - 59, 60, &last_minute, 1);
	sched_paused(ctl_paused_json, paused);
	res = json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:b, s:s}", "version",
	    MTAD_VERSION, "uptime", (json_int_t)(time(NULL) - ctl.started), "pid",
	    (json_int_t)getpid(), "listeners", ls, "queue", queue, "in_flight",
	    (json_int_t)claimed, "connections", (json_int_t)conns, "workers",
	    (json_int_t)cf->workers, "delivery", cf->delivery, "hostname", cf->hostname);
	json_object_set_new(res, "delivered_last_minute", json_integer(last_minute));
	json_object_set_new(res, "paused", paused);
	json_object_set_new(res, "warmup", ctl_warmup(cf));
	conf_unref(cf);
	ctl_reply_ok(c, res);
}

/* When a waiting recipient's domain is paused (sched_paused_until): the
 * end of the pause, else null. */
static json_t *
ctl_paused_until(const struct queue_row *r)
{
	time_t t;

	if (strcmp(r->state, "queued") != 0 && strcmp(r->state, "deferred") != 0)
		return json_null();
	return (t = sched_paused_until(r->domain)) ? ctl_time(t) : json_null();
}

static void
ctl_row_json(void *ctx, const struct queue_row *r)
{
	json_array_append_new(ctx, json_pack("{s:s, s:I, s:o, s:o, s:s, s:s, s:i, s:o, s:o,"
	    " s:o, s:o, s:o, s:I, s:o}", "id", r->queue_id, "rcpt_id", (json_int_t)r->rcpt_id,
	    "sender", ctl_str(r->sender), "recipient", ctl_str(r->recipient), "domain",
	    r->domain, "state", r->state, "attempts", r->attempts, "next_attempt",
	    ctl_time(r->next_attempt), "received_at", ctl_time(r->received_at), "last_code",
	    r->last_code ? json_integer(r->last_code) : json_null(), "last_reply",
	    ctl_str(r->last_reply), "last_mx", ctl_str(r->last_mx), "size",
	    (json_int_t)r->size, "paused_until", ctl_paused_until(r)));
}

static void
ctl_queue_list(struct ctl_client *c, const struct ctl_request *r)
{
	json_t *list = json_array();

	ctl_reply_rows(c, list, queue_list(ctl.q, &r->sel, ctl_row_json, list));
}

static void
ctl_queue_count(struct ctl_client *c, const struct ctl_request *r)
{
	long long n = queue_count(ctl.q, &r->sel);

	if (n < 0)
		ctl_reply_error(c, "failed", queue_errmsg(ctl.q));
	else
		ctl_reply_ok(c, json_pack("{s:I}", "count", (json_int_t)n));
}

static void
ctl_group_json(void *ctx, const struct queue_domain_row *d)
{
	json_array_append_new(ctx, json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
	    "domain", ctl_str(d->domain), "queued", (json_int_t)d->count[0], "deferred",
	    (json_int_t)d->count[1], "held", (json_int_t)d->count[2], "sending",
	    (json_int_t)d->count[3], "messages", (json_int_t)d->messages, "oldest",
	    ctl_time(d->oldest), "last_reply", ctl_str(d->last_reply)));
}

static void
ctl_queue_domains(struct ctl_client *c, const struct ctl_request *r)
{
	json_t *list = json_array();
	int limit = r->sel.limit < LIM_DOMAIN_ROWS ? r->sel.limit : LIM_DOMAIN_ROWS;

	ctl_reply_rows(c, list, queue_domain_groups(ctl.q, r->by_sender, limit,
	    ctl_group_json, list));
}

static void
ctl_event_json(void *ctx, const struct queue_event_row *e)
{
	json_array_append_new(ctx, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "at",
	    ctl_time(e->at), "recipient", ctl_str(e->recipient), "kind", ctl_str(e->kind),
	    "code", e->code ? json_integer(e->code) : json_null(), "reply", ctl_str(e->reply),
	    "remote", ctl_str(e->remote), "tls", ctl_str(e->tls)));
}

/* The header section of a stored message, or (body) the start of what
 * follows it: at most LIM_SHOW_TEXT each. */
static json_t *
ctl_text(const struct queue_message *m, int body)
{
	const char *end = memmem(m->body, m->size, "\r\n\r\n", 4);
	size_t n = end ? (size_t)(end - m->body) + 2 : m->size, from = 0;

	if (body) {
		from = end ? n + 2 : m->size;
		n = m->size - from;
	}
	return ctlproto_strn(m->body + from, n < LIM_SHOW_TEXT ? n : LIM_SHOW_TEXT);
}

static void
ctl_queue_show(struct ctl_client *c, const struct ctl_request *r)
{
	const char *id = r->sel.queue_id;
	struct queue_message m;
	json_t *res, *rcpts = json_array(), *events = json_array();
	int rc;

	if ((rc = queue_load_qid(ctl.q, id, &m)) < 0 ||
	    queue_rcpts_of(ctl.q, id, ctl_row_json, rcpts) < 0 ||
	    queue_events_of(ctl.q, id, ctl_event_json, events) < 0) {
		if (rc == 0)
			queue_message_free(&m);
		json_decref(rcpts);
		json_decref(events);
		ctl_reply_error(c, "failed", queue_errmsg(ctl.q));
		return;
	}
	if (rc == 1 && json_array_size(events) == 0) {
		json_decref(rcpts);
		json_decref(events);
		ctl_reply_error(c, "not_found", "no such message");
		return;
	}
	res = json_pack("{s:s, s:b, s:o, s:o}", "id", id, "queued", rc == 0,
	    "recipients", rcpts, "events", events);
	if (rc == 0) {
		json_object_set_new(res, "sender", ctl_str(m.sender));
		json_object_set_new(res, "received_at", ctl_time(m.received_at));
		json_object_set_new(res, "size", json_integer((json_int_t)m.size));
		json_object_set_new(res, "client", ctl_str(m.client_addr));
		json_object_set_new(res, "helo", ctl_str(m.helo));
		json_object_set_new(res, "user", ctl_str(m.auth_user));
		json_object_set_new(res, "headers", ctl_text(&m, 0));
		json_object_set_new(res, "body", ctl_text(&m, 1));
		queue_message_free(&m);
	}
	ctl_reply_ok(c, res);
}

static void
ctl_bounce_json(void *ctx, const struct queue_bounce_row *b)
{
	json_array_append_new(ctx, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "at", ctl_time(b->at), "id", b->queue_id, "sender", ctl_str(b->sender),
	    "recipient", ctl_str(b->recipient), "code", b->code ? json_integer(b->code) :
	    json_null(), "enhanced", ctl_str(b->enhanced), "reply", ctl_str(b->reply),
	    "class", ctl_str(b->class), "remote", ctl_str(b->remote)));
}

static void
ctl_bounces(struct ctl_client *c, const struct ctl_request *r)
{
	struct queue_bounce_select b = { r->since, r->sel.domain, r->bclass[0] ? r->bclass :
	    NULL, r->sel.offset, r->sel.limit };
	json_t *list = json_array();

	ctl_reply_rows(c, list, queue_bounces(ctl.q, &b, ctl_bounce_json, list));
}

static void
ctl_add(json_t *obj, const char *key, long long n)
{
	json_t *v = json_object_get(obj, key);

	if (v != NULL)
		json_integer_set(v, json_integer_value(v) + n);
	else
		json_object_set_new(obj, key, json_integer(n));
}

/* Stats rows into {totals..., "domains": {d: {delivered, deferred,
 * bounced, queued}}}: "bounced" counts expired too (both permanent);
 * the totals keep "expired" apart as well. */
static void
ctl_stats_row(void *ctx, const char *domain, const char *kind, long long n)
{
	json_t *r = ctx, *into = r;
	char a[LIM_DOMAIN + 1];

	/* event recipients are as clients wrote them: one key per domain */
	if (domain != NULL && addr_domain_to_ascii(domain, a, sizeof a) == ADDR_OK)
		domain = a;
	if (domain != NULL) {
		json_t *ds = json_object_get(r, "domains");

		if ((into = json_object_get(ds, domain)) == NULL) {
			into = json_pack("{s:I, s:I, s:I, s:I}", "delivered", (json_int_t)0,
			    "deferred", (json_int_t)0, "bounced", (json_int_t)0, "queued",
			    (json_int_t)0);
			json_object_set_new(ds, domain, into);
		}
	}
	if (strcmp(kind, "expired") == 0)
		ctl_add(into, "bounced", n);
	if (domain == NULL || strcmp(kind, "expired") != 0)
		ctl_add(into, kind, n);
	if (domain != NULL && strcmp(kind, "queued") == 0)
		ctl_add(r, "queued", n);
}

/* "step" and "series": deliveries per bucket since r->since, oldest first
 * (the last bucket is the one now is in). */
static int
ctl_series(json_t *res, const struct ctl_request *r)
{
	long long counts[LIM_STATS_BUCKETS];
	size_t n = (size_t)((time(NULL) - r->since) / r->step) + 1, i;
	json_t *a;

	if (n > LIM_STATS_BUCKETS)
		n = LIM_STATS_BUCKETS;
	if (queue_series(ctl.q, r->since, r->step, counts, n) < 0)
		return -1;
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer(counts[i]));
	json_object_set_new(res, "step", json_integer(r->step));
	json_object_set_new(res, "series", a);
	return 0;
}

static void
ctl_stats(struct ctl_client *c, const struct ctl_request *r)
{
	json_t *res = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "received",
	    (json_int_t)0, "delivered", (json_int_t)0, "deferred", (json_int_t)0, "bounced",
	    (json_int_t)0, "expired", (json_int_t)0, "queued", (json_int_t)0, "since",
	    ctl_time(r->since), "domains", json_object());

	if (queue_stats(ctl.q, r->since, ctl_stats_row, res) < 0 ||
	    (r->step > 0 && ctl_series(res, r) < 0)) {
		json_decref(res);
		ctl_reply_error(c, "failed", queue_errmsg(ctl.q));
		return;
	}
	ctl_reply_ok(c, res);
}

static void
ctl_user_json(void *ctx, const struct queue_user *u)
{
	json_t *d = json_null();
	const char *p = u->domains;

	if (!u->any_domain) {
		d = json_array();
		while (*p) {
			size_t n = strcspn(p, ",");

			json_array_append_new(d, ctlproto_strn(p, n));
			p += n + (p[n] == ',');
		}
	}
	json_array_append_new(ctx, json_pack("{s:o, s:o, s:o}", "name", ctl_str(u->name),
	    "domains", d, "created_at", ctl_time(u->created_at)));
}

static void
ctl_user_list(struct ctl_client *c, const struct ctl_request *r)
{
	json_t *list = json_array();

	(void)r;
	ctl_reply_rows(c, list, queue_users(ctl.q, ctl_user_json, list));
}

/* ---- changing commands (through the writer) ---- */

struct ctl_change {
	enum ctl_cmd op;		/* CTL_RETRY, _HOLD, _RELEASE or _PURGE */
	const struct queue_select *sel;
	time_t now;
	const char *who;
	long long n;
	char **domains;			/* to tell the scheduler afterwards */
	size_t ndomains, cap;
};

static void
ctl_note_domain(void *ctx, const char *domain)
{
	struct ctl_change *ch = ctx;

	ch->domains = xgrow(ch->domains, &ch->cap, ch->ndomains + 1, sizeof *ch->domains);
	ch->domains[ch->ndomains++] = xstrdup(domain);
}

static int
ctl_change_job(struct queue *q, void *arg)
{
	struct ctl_change *ch = arg;

	switch (ch->op) {
	case CTL_RETRY:
		ch->n = queue_retry(q, ch->sel, ch->now, ctl_note_domain, ch);
		break;
	case CTL_HOLD:
		ch->n = queue_hold(q, ch->sel, ch->now);
		break;
	case CTL_RELEASE:
		ch->n = queue_unhold(q, ch->sel, ch->now, ctl_note_domain, ch);
		break;
	case CTL_PURGE:
		ch->n = queue_purge(q, ch->sel, ch->now, ch->who);
		break;
	default:
		ch->n = -1;
	}
	return ch->n < 0 ? QUEUE_ERR : QUEUE_OK;
}

/* "uid 0 (root)": who asked, for the log and the purge event. */
static void
ctl_who(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL)
		(void)str_fmt(out, size, "uid %u (%s)", (unsigned)uid, res->pw_name);
	else
		(void)str_fmt(out, size, "uid %u", (unsigned)uid);
}

/* retry, hold, release, purge: the request says which mail (ctlproto). */
static void
ctl_queue_change(struct ctl_client *c, const struct ctl_request *r)
{
	struct ctl_change ch = { r->cmd, &r->sel, time(NULL), NULL, 0, NULL, 0, 0 };
	struct writer_job job = { .fn = ctl_change_job, .arg = &ch };
	char who[300];
	size_t i;

	ctl_who(c->uid, who, sizeof who);
	ch.who = who;
	if (writer_run(&job) != QUEUE_OK) {
		ctl_reply_error(c, "failed", "the queue could not be changed");
	} else {
		log_msg(r->sel.queue_id ? r->sel.queue_id : "mtad",
		    ctlproto_cmd_name(r->cmd) + 6, "%lld recipients, by %s", ch.n, who);
		ctl_reply_ok(c, json_pack("{s:I}", "count", (json_int_t)ch.n));
	}
	/* retry lifts a throttling pause: of the domain named, of every
	 * domain for --all, else of the domains of the mail retried */
	if (r->cmd == CTL_RETRY && (r->all || r->sel.domain))
		sched_resume(r->all ? NULL : r->sel.domain);
	for (i = 0; i < ch.ndomains; i++) {
		if (r->cmd == CTL_RETRY)
			sched_resume(ch.domains[i]);
		sched_notify(ch.domains[i]);
		free(ch.domains[i]);
	}
	free(ch.domains);
}

/* ---- users ---- */

struct ctl_user {
	const struct ctl_request *r;
	int rc;
};

static int
ctl_user_job(struct queue *q, void *arg)
{
	struct ctl_user *u = arg;
	const struct ctl_request *r = u->r;
	time_t now = time(NULL);

	if (r->cmd == CTL_USER_ADD)
		u->rc = queue_user_add(q, r->name, r->hash, r->any_domain ? NULL : r->domains,
		    now);
	else if (r->cmd == CTL_USER_PASSWD)
		u->rc = queue_user_passwd(q, r->name, r->hash, now);
	else
		u->rc = queue_user_remove(q, r->name);
	return u->rc < 0 && u->rc != QUEUE_DUP ? QUEUE_ERR : QUEUE_OK;
}

/* user.add, user.passwd, user.remove (checked by ctlproto). */
static void
ctl_user(struct ctl_client *c, const struct ctl_request *r)
{
	struct ctl_user u = { r, 0 };
	struct writer_job job = { .fn = ctl_user_job, .arg = &u };
	char msg[LIM_AUTH_USER + 64];

	if (writer_run(&job) != QUEUE_OK) {
		ctl_reply_error(c, "failed", "the users table could not be changed");
	} else if (u.rc == QUEUE_DUP) {
		(void)str_fmt(msg, sizeof msg, "user %s exists (user passwd to change it)", r->name);
		ctl_reply_error(c, "exists", msg);
	} else if (u.rc == 1) {
		(void)str_fmt(msg, sizeof msg, "no such user: %s", r->name);
		ctl_reply_error(c, "not_found", msg);
	} else {
		ctl_reply_ok(c, json_pack("{s:s}", "name", r->name));
	}
}

/* ---- sender domains and DKIM keys ---- */

/* A pair of new keys (RSA as `selector`, Ed25519 as selector-ed25519)
 * for the domain.*: their private PEMs are freed by ctl_keys_free. */
struct ctl_keys {
	const struct ctl_request *r;
	struct domain_key k[2];
	char *pem[2];
	char pub[2][1024], sel[2][LIM_DKIM_SELECTOR + 16];
	size_t n;
	int rc;
};

static void
ctl_keys_free(struct ctl_keys *ks)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (ks->pem[i] != NULL) {
			explicit_bzero(ks->pem[i], strlen(ks->pem[i]));
			free(ks->pem[i]);
		}
}

static int
ctl_keys_make(struct ctl_keys *ks, int active, char *err, size_t errsize)
{
	const struct ctl_request *r = ks->r;
	time_t now = time(NULL);
	struct tm tm;
	char base[LIM_DKIM_SELECTOR + 1];
	size_t i;

	gmtime_r(&now, &tm);
	if (r->selector[0])
		(void)str_copy(base, sizeof base, r->selector);
	else
		(void)strftime(base, sizeof base, "mtad%Y%m%d%H%M%S", &tm);
	ks->n = r->ed25519 ? 2 : 1;
	for (i = 0; i < ks->n; i++) {
		const char *algo = i == 0 ? "rsa-sha256" : "ed25519-sha256";

		(void)str_fmt(ks->sel[i], sizeof ks->sel[i], "%s%s", base, i ? "-ed25519" : "");
		if (dkimkey_generate(algo, (unsigned)r->rsa_bits, &ks->pem[i], ks->pub[i],
		    sizeof ks->pub[i], err, errsize) < 0)
			return -1;
		ks->k[i] = (struct domain_key){ .domain = r->domain, .selector = ks->sel[i],
		    .algo = algo, .public_key = ks->pub[i], .private_key = ks->pem[i],
		    .bits = i ? 256 : r->rsa_bits, .active = active, .created_at = now,
		    .subdomains = r->subdomains };
	}
	return 0;
}

static int
ctl_domain_job(struct queue *q, void *arg)
{
	struct ctl_keys *ks = arg;
	const struct ctl_request *r = ks->r;
	/* the keys' time: the one their default selector is named after */
	time_t now = ks->n ? ks->k[0].created_at : time(NULL);

	switch (r->cmd) {
	case CTL_DOMAIN_ADD:
	case CTL_DOMAIN_KEY:
		ks->rc = domain_add(q, r->domain, r->cmd == CTL_DOMAIN_ADD, ks->k, ks->n, now);
		if (ks->rc == 0 && r->cmd == CTL_DOMAIN_ADD && r->subdomains)
			ks->rc = domain_set_subdomains(q, r->domain, 1);
		break;
	case CTL_DOMAIN_SUBDOMAINS:
		ks->rc = domain_set_subdomains(q, r->domain, r->subdomains);
		break;
	case CTL_DOMAIN_REMOVE:
		ks->rc = domain_remove(q, r->domain);
		break;
	default:
		ks->rc = domain_activate(q, r->domain, r->selector);
	}
	return ks->rc < 0 ? QUEUE_ERR : ks->rc > 0 ? QUEUE_DUP : QUEUE_OK;	/* DUP: undone */
}

struct ctl_sub {
	json_t *keys;
	int subdomains;
};

static void ctl_key_json(void *ctx, const struct domain_key *k);

static void
ctl_key_sub(void *ctx, const struct domain_key *k)
{
	struct ctl_sub *sub = ctx;

	sub->subdomains = k->subdomains;
	ctl_key_json(sub->keys, k);
}

static void
ctl_key_json(void *ctx, const struct domain_key *k)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:i, s:b, s:s, s:o}", "selector",
	    k->selector, "algorithm", k->algo, "bits", k->bits, "active",
	    k->active == DOMAIN_SIGNS, "state", domain_state_name(k->active), "created_at",
	    ctl_time(k->created_at)));
}

/* {name, selector, algorithms, subdomains, keys}: selector the active
 * RSA one. */
static json_t *
ctl_domain_json(const char *name)
{
	json_t *keys = json_array(), *algos = json_array(), *k, *sel = json_null();
	struct ctl_sub sub = { keys, 0 };
	size_t i;

	(void)domain_keys(ctl.q, name, 0, ctl_key_sub, &sub);
	json_array_foreach(keys, i, k) {
		if (!json_is_true(json_object_get(k, "active")))
			continue;
		json_array_append(algos, json_object_get(k, "algorithm"));
		if (json_is_null(sel))
			sel = json_incref(json_object_get(k, "selector"));
	}
	return json_pack("{s:s, s:o, s:o, s:b, s:o}", "name", name, "selector", sel,
	    "algorithms", algos, "subdomains", sub.subdomains, "keys", keys);
}

static const char *
ctl_domain_err(const struct ctl_request *r, int rc, char *msg, size_t size)
{
	if (r->cmd == CTL_DOMAIN_ADD)
		(void)str_fmt(msg, size, "domain %s exists", r->domain);
	else if (r->cmd == CTL_DOMAIN_KEY && rc == 2)
		(void)str_fmt(msg, size, "%s has %d key pairs already (remove the domain to start"
		    " again)", r->domain, LIM_DKIM_KEYS);
	else if (r->cmd == CTL_DOMAIN_KEY)
		(void)str_fmt(msg, size, "no such domain, or the selector is taken: %s",
		    r->domain);
	else if (r->cmd == CTL_DOMAIN_ACTIVATE)
		(void)str_fmt(msg, size, "no such selector for %s: %s", r->domain, r->selector);
	else
		(void)str_fmt(msg, size, "no such domain: %s", r->domain);
	return r->cmd == CTL_DOMAIN_ADD ? "exists" : rc == 2 ? "failed" : "not_found";
}

/* domain.add, .key, .remove, .activate: through the writer, then the
 * signer learns the new keys. */
static void
ctl_domain_change(struct ctl_client *c, const struct ctl_request *r)
{
	struct ctl_keys ks = { .r = r };
	struct writer_job job = { .fn = ctl_domain_job, .arg = &ks };
	char err[512], msg[LIM_DOMAIN + 128];
	int rc;

	if ((r->cmd == CTL_DOMAIN_ADD || r->cmd == CTL_DOMAIN_KEY) &&
	    ctl_keys_make(&ks, r->cmd == CTL_DOMAIN_ADD, err, sizeof err) < 0) {
		ctl_keys_free(&ks);
		ctl_reply_error(c, "failed", err);
		return;
	}
	rc = writer_run(&job);
	ctl_keys_free(&ks);
	if (ks.rc > 0) {
		const char *code = ctl_domain_err(r, ks.rc, msg, sizeof msg);

		ctl_reply_error(c, code, msg);
	} else if (rc != QUEUE_OK) {
		ctl_reply_error(c, "failed", "the domains could not be changed");
	} else if (signer_reload(ctl.q, err, sizeof err) < 0) {
		ctl_reply_error(c, "failed", err);
	} else {
		char who[300];

		ctl_who(c->uid, who, sizeof who);
		log_msg(r->domain, r->cmd == CTL_DOMAIN_REMOVE ? "domain_removed" : "domain_keys",
		    "%s%s%s, by %s", ctlproto_cmd_name(r->cmd), ks.n || r->selector[0] ?
		    " selector " : "", ks.n ? ks.sel[0] : r->selector, who);
		ctl_reply_ok(c, r->cmd == CTL_DOMAIN_REMOVE ? json_pack("{s:s}", "name", r->domain) :
		    ctl_domain_json(r->domain));
	}
}

static void
ctl_dns_key(void *ctx, const struct domain_key *k)
{
	char name[LIM_DOMAIN + LIM_DKIM_SELECTOR + 32], txt[1200];

	(void)str_fmt(name, sizeof name, "%s._domainkey.%s.", k->selector, k->domain);
	(void)domain_dkim_txt(k, txt, sizeof txt);
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "type", "TXT",
	    "value", txt, "note", k->active == DOMAIN_SIGNS ? "DKIM key: signs now" :
	    k->active == DOMAIN_RETIRED ? "DKIM key, retired: keep it published until mail "
	    "signed with it is delivered (queue_lifetime), then remove it" :
	    "DKIM key, waiting: publish it, then mtactl domain activate"));
}

/* domain.dns: the records to publish, [{name, type, value, note}]. */
static void
ctl_domain_dns(struct ctl_client *c, const struct ctl_request *r)
{
	struct conf *cf = conf_current();
	json_t *list = json_array();
	char name[LIM_DOMAIN + 16], value[LIM_DOMAIN * 2 + 64];
	int rc = domain_exists(ctl.q, r->domain);

	if (rc <= 0 || domain_keys(ctl.q, r->domain, 0, ctl_dns_key, list) < 0) {
		(void)str_fmt(value, sizeof value, "no such domain: %s", r->domain);
		ctl_reply_error(c, rc == 0 ? "not_found" : "failed", rc == 0 ? value :
		    queue_errmsg(ctl.q));
		json_decref(list);
		conf_unref(cf);
		return;
	}
	(void)str_fmt(name, sizeof name, "%s.", r->domain);
	(void)str_fmt(value, sizeof value, "v=spf1 a:%s ~all", cf->hostname);
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "type",
	    "TXT", "value", value, "note", "SPF: this host may send for the domain (add the "
	    "others that do; -all once all are listed)"));
	(void)str_fmt(name, sizeof name, "_dmarc.%s.", r->domain);
	(void)str_fmt(value, sizeof value, "v=DMARC1; p=none; rua=mailto:postmaster@%s",
	    r->domain);
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "type",
	    "TXT", "value", value, "note", "DMARC: start with p=none and read the reports; then "
	    "p=quarantine, then p=reject"));
	(void)str_fmt(value, sizeof value, "%s.", cf->hostname);
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name",
	    "(each address mtad sends from)", "type", "PTR", "value", value, "note",
	    "PTR: the reverse DNS of each sending address must name this host, and the host "
	    "must resolve back to that address"));
	conf_unref(cf);
	ctl_reply_ok(c, list);
}

struct ctl_check {
	struct domain_key *keys;
	size_t n, cap;
};

static void
ctl_check_key(void *ctx, const struct domain_key *k)
{
	struct ctl_check *cc = ctx;
	struct domain_key *c;

	if (k->active == DOMAIN_RETIRED)
		return;		/* its record may be gone: not checked */
	cc->keys = xgrow(cc->keys, &cc->cap, cc->n + 1, sizeof *cc->keys);
	c = &cc->keys[cc->n++];
	*c = *k;
	c->domain = xstrdup(k->domain);
	c->selector = xstrdup(k->selector);
	c->algo = xstrdup(k->algo);
	c->public_key = xstrdup(k->public_key);
}

/* An item of domain.check; its reason may quote DNS text: control
 * characters become '?' (they would reach the admin's terminal). */
static void
ctl_check_item(void *ctx, const char *item, enum check_verdict v, const char *why)
{
	char clean[1024];
	size_t i;

	(void)str_copy(clean, sizeof clean, why);
	for (i = 0; clean[i]; i++)
		if ((unsigned char)clean[i] < 0x20 || clean[i] == 0x7f)
			clean[i] = '?';
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:o}", "item", item, "verdict",
	    check_verdict_name(v), "why", ctlproto_strn(clean, strlen(clean))));
}

/* domain.check: the DNS and TLS checklist (blocks this thread while the
 * lookups run: seconds at worst). */
static void
ctl_domain_check(struct ctl_client *c, const struct ctl_request *r)
{
	struct ctl_check cc = { NULL, 0, 0 };
	struct conf *cf = conf_current();
	json_t *items = json_array(), *it;
	size_t i;
	int ok = 1, rc = domain_exists(ctl.q, r->domain);

	if (rc <= 0 || domain_keys(ctl.q, r->domain, 0, ctl_check_key, &cc) < 0) {
		ctl_reply_error(c, rc == 0 ? "not_found" : "failed", rc == 0 ? "no such domain" :
		    queue_errmsg(ctl.q));
	} else {
		check_domain(r->domain, cf->hostname, cf->tls_cert.path, cc.keys, cc.n,
		    ctl_check_item, items);
		json_array_foreach(items, i, it)
			ok &= strcmp(json_string_value(json_object_get(it, "verdict")), "ok") == 0;
		ctl_reply_ok(c, json_pack("{s:s, s:b, s:O}", "name", r->domain, "ok", ok, "items",
		    items));
	}
	for (i = 0; i < cc.n; i++) {
		free((char *)(uintptr_t)cc.keys[i].domain);
		free((char *)(uintptr_t)cc.keys[i].selector);
		free((char *)(uintptr_t)cc.keys[i].algo);
		free((char *)(uintptr_t)cc.keys[i].public_key);
	}
	free(cc.keys);
	json_decref(items);
	conf_unref(cf);
}

static void
ctl_domain_name(void *ctx, const char *name, time_t created)
{
	(void)created;
	json_array_append_new(ctx, ctl_domain_json(name));
}

static void
ctl_domain_list(struct ctl_client *c, const struct ctl_request *r)
{
	json_t *list = json_array();

	(void)r;
	ctl_reply_rows(c, list, domain_list(ctl.q, ctl_domain_name, list));
}

/* ---- reload and monitor ---- */

static time_t
ctl_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void
control_reload_done(int ok, const char *msg)
{
	pthread_mutex_lock(&ctl.reload_lock);
	ctl.reload_gen++;
	ctl.reload_ok = ok;
	(void)str_copy(ctl.reload_msg, sizeof ctl.reload_msg, msg);
	pthread_mutex_unlock(&ctl.reload_lock);
	if (ctl.running && write(ctl.wake[1], "r", 1) < 0 && errno != EAGAIN)
		return;	/* the thread also looks at every poll timeout */
}

/* The main thread reloads (SIGHUP); the verdict is sent by
 * ctl_reload_check, so no other client waits meanwhile. */
static void
ctl_reload(struct ctl_client *c, const struct ctl_request *r)
{
	(void)r;
	pthread_mutex_lock(&ctl.reload_lock);
	c->reload_gen = ctl.reload_gen;
	pthread_mutex_unlock(&ctl.reload_lock);
	c->reloading = 1;
	c->reload_deadline = ctl_mono() + LIM_CONTROL_RELOAD;
	kill(getpid(), SIGHUP);
}

/* Answer a client whose reload finished or timed out; 1 if answered. */
static int
ctl_reload_check(struct ctl_client *c)
{
	int done;

	if (!c->reloading)
		return 0;
	pthread_mutex_lock(&ctl.reload_lock);
	done = ctl.reload_gen != c->reload_gen;
	if (done && ctl.reload_ok)
		ctl_reply_ok(c, json_pack("{s:s}", "message", ctl.reload_msg));
	else if (done)
		ctl_reply_error(c, "failed", ctl.reload_msg);
	pthread_mutex_unlock(&ctl.reload_lock);
	if (!done && ctl_mono() < c->reload_deadline)
		return 0;
	if (!done)
		ctl_reply_error(c, "failed", "the reload did not finish");
	c->reloading = 0;
	return 1;
}

static void
ctl_monitor(struct ctl_client *c, const struct ctl_request *r)
{
	(void)r;
	if (!c->monitor) {
		pthread_mutex_lock(&ctl.ring_lock);
		c->seen = ctl.next;
		pthread_mutex_unlock(&ctl.ring_lock);
		c->monitor = 1;
		__atomic_add_fetch(&ctl.monitors, 1, __ATOMIC_RELAXED);
	}
	ctl_reply_ok(c, json_pack("{s:b}", "monitoring", 1));
}

/* The handler of each command, in enum ctl_cmd's order. */
static ctl_fn *const ctl_cmds[] = {
	[CTL_STATUS] = ctl_status, [CTL_QUEUE_LIST] = ctl_queue_list,
	[CTL_QUEUE_SHOW] = ctl_queue_show, [CTL_RETRY] = ctl_queue_change,
	[CTL_HOLD] = ctl_queue_change, [CTL_RELEASE] = ctl_queue_change,
	[CTL_PURGE] = ctl_queue_change, [CTL_BOUNCES] = ctl_bounces, [CTL_STATS] = ctl_stats,
	[CTL_USER_LIST] = ctl_user_list, [CTL_USER_ADD] = ctl_user,
	[CTL_USER_PASSWD] = ctl_user, [CTL_USER_REMOVE] = ctl_user,
	[CTL_RELOAD] = ctl_reload, [CTL_MONITOR] = ctl_monitor,
	[CTL_QUEUE_COUNT] = ctl_queue_count, [CTL_QUEUE_DOMAINS] = ctl_queue_domains,
	[CTL_DOMAIN_ADD] = ctl_domain_change, [CTL_DOMAIN_LIST] = ctl_domain_list,
	[CTL_DOMAIN_REMOVE] = ctl_domain_change, [CTL_DOMAIN_DNS] = ctl_domain_dns,
	[CTL_DOMAIN_KEY] = ctl_domain_change, [CTL_DOMAIN_ACTIVATE] = ctl_domain_change,
	[CTL_DOMAIN_CHECK] = ctl_domain_check, [CTL_DOMAIN_SUBDOMAINS] = ctl_domain_change,
};

/* ---- clients ---- */

static void
ctl_handle(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_request *r = xmalloc(sizeof *r);
	const char *code;
	char why[256];

	if (ctlproto_parse(line, len, time(NULL), r, &code, why, sizeof why) < 0)
		ctl_reply_error(c, code, why);
	else
		ctl_cmds[r->cmd](c, r);
	free(r);
}

static void
ctl_close(struct ctl_client **slot)
{
	struct ctl_client *c = *slot;

	if (c->monitor)
		__atomic_sub_fetch(&ctl.monitors, 1, __ATOMIC_RELAXED);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	*slot = NULL;
}

/* Send what waits; 0, or -1 when the client is gone. */
static int
ctl_write(struct ctl_client *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
	return c->closing ? -1 : 0;
}

/* Answer the complete lines read, in order; a reload holds the rest
 * back until it is answered. */
static void
ctl_lines(struct ctl_client *c)
{
	char *nl;

	while (!c->closing && !c->reloading &&
	    (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
		size_t len = (size_t)(nl - c->in.data);

		ctl_handle(c, c->in.data, len);
		buf_consume(&c->in, len + 1);
	}
}

/* Read and answer complete lines; -1 when the client is gone.  The
 * answered lines are gone from c->in before each read, so reading at most
 * what is left of it refuses only a line that is itself too long. */
static int
ctl_read(struct ctl_client *c)
{
	size_t room = c->in.max - c->in.len;
	char *dst;
	ssize_t n;

	if (room > 16384)
		room = 16384;
	if (room == 0 || (dst = buf_reserve(&c->in, room)) == NULL) {
		ctl_reply_error(c, "usage", "request line too long");
		c->closing = 1;
		return 0;
	}
	n = recv(c->fd, dst, room, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		buf_commit(&c->in, (size_t)n);
	ctl_lines(c);
	return 0;
}

/* New log lines for every monitor; one that lags the ring gets a "lost"
 * event instead of what it missed, one whose output is full skips. */
static void
ctl_feed_monitors(void)
{
	size_t i;

	pthread_mutex_lock(&ctl.ring_lock);
	for (i = 0; i < LIM_CONTROL_CLIENTS; i++) {
		struct ctl_client *c = ctl.clients[i];
		unsigned long long lost = 0;

		if (c == NULL || !c->monitor)
			continue;
		if (ctl.next - c->seen > LIM_MONITOR_RING) {
			lost = ctl.next - LIM_MONITOR_RING - c->seen;
			c->seen = ctl.next - LIM_MONITOR_RING;
		}
		for (; c->seen < ctl.next; c->seen++) {
			json_t *ev;

			if (c->out.len > LIM_MONITOR_OUTPUT) {
				lost++;
				continue;
			}
			ev = ctlproto_event(ctl.ring[c->seen % LIM_MONITOR_RING]);
			ctl_send_json(c, ev);
			json_decref(ev);
		}
		if (lost > 0) {
			json_t *ev = json_pack("{s:s, s:I}", "event", "lost", "count",
			    (json_int_t)lost);

			ctl_send_json(c, ev);
			json_decref(ev);
		}
	}
	pthread_mutex_unlock(&ctl.ring_lock);
}

/* Accept one: root or our own uid, and a free slot; else one line, close. */
static void
ctl_accept(void)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	const char *refuse = NULL;
	char msg[256];
	int fd = accept4(ctl.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		refuse = "cannot tell who you are";
	else if (cred.uid != 0 && cred.uid != geteuid())
		refuse = "permission denied: only root and the mtad user may use the control socket";
	for (i = 0; refuse == NULL && i < LIM_CONTROL_CLIENTS && ctl.clients[i]; i++)
		;
	if (refuse == NULL && i == LIM_CONTROL_CLIENTS)
		refuse = "too many control clients, try again";
	if (refuse != NULL) {
		(void)str_fmt(msg, sizeof msg, "{\"v\":1,\"ok\":false,\"code\":\"denied\","
		    "\"error\":\"%s\"}\n", refuse);
		(void)send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		log_msg("mtad", "control_refused", "uid %d: %s", refuse[0] == 'c' ? -1 :
		    (int)cred.uid, refuse);
		close(fd);
		return;
	}
	ctl.clients[i] = xcalloc(1, sizeof *ctl.clients[i]);
	ctl.clients[i]->fd = fd;
	ctl.clients[i]->uid = cred.uid;
	buf_init(&ctl.clients[i]->in, LIM_CONTROL_LINE + 1);	/* and its LF */
	buf_init(&ctl.clients[i]->out, LIM_CONTROL_OUTPUT);
}

/* ---- the thread ---- */

/* One client after poll: read, answer a finished reload, write. */
static void
ctl_serve(struct ctl_client **slot, short revents)
{
	struct ctl_client *c = *slot;

	if (c->reloading && (revents & (POLLHUP | POLLERR))) {
		ctl_close(slot);	/* gone while its reload runs */
		return;
	}
	if (!c->reloading && (revents & (POLLIN | POLLHUP | POLLERR)) && ctl_read(c) < 0) {
		ctl_close(slot);
		return;
	}
	if (ctl_reload_check(c))
		ctl_lines(c);		/* what it sent meanwhile */
	if (ctl_write(c) < 0)		/* answers go out at once */
		ctl_close(slot);
}

static void
ctl_poll_once(void)
{
	struct pollfd p[2 + LIM_CONTROL_CLIENTS];
	size_t map[LIM_CONTROL_CLIENTS], n = 2, i, k;
	char drain[256];
	int waiting = 0;

	p[0] = (struct pollfd){ ctl.fd, POLLIN, 0 };
	p[1] = (struct pollfd){ ctl.wake[0], POLLIN, 0 };
	for (i = 0; i < LIM_CONTROL_CLIENTS; i++) {
		struct ctl_client *c = ctl.clients[i];

		if (c == NULL)
			continue;
		p[n] = (struct pollfd){ c->fd, (short)((c->closing || c->reloading ? 0 : POLLIN) |
		    (c->out.len ? POLLOUT : 0)), 0 };
		waiting |= c->reloading;
		map[n - 2] = i;
		n++;
	}
	if (poll(p, (nfds_t)n, waiting ? 1000 : -1) < 0)
		return;
	if (p[1].revents & POLLIN) {
		while (read(ctl.wake[0], drain, sizeof drain) > 0)
			;
		ctl_feed_monitors();
	}
	if (p[0].revents & POLLIN)
		ctl_accept();
	for (k = 2; k < n; k++)
		if (ctl.clients[map[k - 2]] != NULL)
			ctl_serve(&ctl.clients[map[k - 2]], p[k].revents);
}

static void *
ctl_main(void *arg)
{
	size_t i;

	(void)arg;
	pthread_setname_np(pthread_self(), "mtad-control");
	while (!__atomic_load_n(&ctl.stopping, __ATOMIC_ACQUIRE))
		ctl_poll_once();
	for (i = 0; i < LIM_CONTROL_CLIENTS; i++)
		if (ctl.clients[i] != NULL)
			ctl_close(&ctl.clients[i]);
	return NULL;
}

/* The socket: our own (any stale one is removed: we hold the state
 * directory's lock), mode 0666 -- who may talk is decided by SO_PEERCRED. */
static int
ctl_listen(const char *state_dir, char *err, size_t errsize)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (str_fmt(sun.sun_path, sizeof sun.sun_path, "%s/control.sock", state_dir) < 0) {
		(void)str_copy(err, errsize, "control socket: state_dir path too long");
		return -1;
	}
	(void)str_copy(ctl.path, sizeof ctl.path, sun.sun_path);
	(void)unlink(sun.sun_path);
	if ((ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(ctl.fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    chmod(sun.sun_path, 0666) < 0 || listen(ctl.fd, 16) < 0) {
		(void)str_fmt(err, errsize, "control socket %s: %s", sun.sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

int
control_start(const char *state_dir, const char *db_path, time_t started,
    char *err, size_t errsize)
{
	ctl.started = started;
	if (ctl_listen(state_dir, err, errsize) < 0 ||
	    pipe2(ctl.wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    (ctl.q = queue_open(db_path, QUEUE_READER, err, errsize)) == NULL ||
	    signer_reload(ctl.q, err, errsize) < 0)
		return -1;
	log_set_tap(ctl_tap);
	if (pthread_create(&ctl.thread, NULL, ctl_main, NULL) != 0) {
		(void)str_copy(err, errsize, "cannot start the control thread");
		return -1;
	}
	ctl.running = 1;
	return 0;
}

void
control_stop(void)
{
	size_t i;

	if (!ctl.running)
		return;
	log_set_tap(NULL);
	__atomic_store_n(&ctl.stopping, 1, __ATOMIC_RELEASE);
	if (write(ctl.wake[1], "x", 1) < 0)
		log_msg("mtad", "bug", "control: cannot wake the thread");
	pthread_join(ctl.thread, NULL);
	ctl.running = 0;
	close(ctl.fd);
	(void)unlink(ctl.path);
	close(ctl.wake[0]);
	close(ctl.wake[1]);
	queue_close(ctl.q);
	for (i = 0; i < LIM_MONITOR_RING; i++) {
		free(ctl.ring[i]);
		ctl.ring[i] = NULL;
	}
}
