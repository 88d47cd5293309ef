/*
 * worker.c -- the delivery workers (contract in worker.h).  A job goes:
 * resolve the next hop, open a session with the first candidate host that
 * will talk (connect, greeting, EHLO, STARTTLS, AUTH), deliver the job's
 * units one by one, ask the scheduler for more of the same destination,
 * QUIT.  What every recipient's result means is trouble.c's call.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "net.h"
#include "queue.h"
#include "scheduler.h"
#include "smtp_client.h"
#include "str.h"
#include "tls.h"
#include "trouble.h"
#include "writer.h"
#include "xalloc.h"

/* One SMTP session to one host. */
struct conn {
	struct net net;
	struct smtp_client *c;
	int open;			/* the session can take a message */
	char host[LIM_DOMAIN + 1];	/* name for TLS and logs */
	char remote[LIM_DOMAIN + 80];	/* "host[ip]:port" */
	char tls[200];			/* "TLS1.3 CIPHER verified", or "" */
	char *in;			/* read, not yet fed */
	size_t inlen, inoff;
};

/* Why a whole job (or the rest of it) could not be tried. */
struct wfail {
	enum trouble_stage stage;	/* TS_LOCAL: our decision */
	int permanent;			/* TS_LOCAL only */
	struct smtpc_reply reply;
	char remote[LIM_DOMAIN + 80];
	char host[LIM_DOMAIN + 1];
};

struct worker {
	pthread_t thread;
	struct queue *q;		/* read connection */
	unsigned seed;			/* retry jitter */
	char *in;			/* LIM_READ_CHUNK */
	unsigned unrecorded;		/* outcomes posted, not yet committed */
	pthread_cond_t recorded;
};

static struct {
	struct worker *w;
	unsigned n;
	pthread_mutex_t lock;
	pthread_cond_t gone;
	unsigned running;
} wk = { NULL, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static int
worker_timeout_ms(const struct conf *c, enum smtpc_wait w)
{
	unsigned s;

	switch (w) {
	case SMTPC_W_GREETING: s = c->timeout.greeting; break;
	case SMTPC_W_RCPT: s = c->timeout.rcpt; break;
	case SMTPC_W_DATA_INIT: s = c->timeout.data_init; break;
	case SMTPC_W_DATA_END: s = c->timeout.data_end; break;
	case SMTPC_W_QUIT: s = LIM_QUIT_TIMEOUT; break;
	default: s = c->timeout.mail; break;
	}
	return (int)s * 1000;
}

/* The STARTTLS handshake; the outcome goes to the engine. */
static enum smtpc_event
worker_starttls(struct conn *cn, const struct conf *c, enum route_tls mode)
{
	struct tls_info info;

	if (net_starttls(&cn->net, cn->host, mode == ROUTE_TLS_VERIFY,
	    (int)c->timeout.greeting * 1000) < 0)
		return smtp_client_tls_done(cn->c, 0, cn->net.err);
	tls_get_info(cn->net.tls, &info);
	(void)str_fmt(cn->tls, sizeof cn->tls, "%s %s %s", info.version, info.cipher,
	    info.verified ? "verified" : "unverified");
	cn->inlen = cn->inoff = 0;	/* nothing read before TLS counts */
	return smtp_client_tls_done(cn->c, 1, NULL);
}

/* Drive the engine until it has something to say (READY, DONE, CLOSED). */
static enum smtpc_event
worker_io(struct conn *cn, const struct conf *c, enum route_tls mode, enum smtpc_event ev)
{
	for (;;) {
		struct buf *out = smtp_client_output(cn->c);
		ssize_t n;
		size_t used, off, chunk;

		for (off = 0; off < out->len; off += chunk) {	/* data_block: per block */
			chunk = out->len - off < LIM_READ_CHUNK ? out->len - off : LIM_READ_CHUNK;
			if (net_write(&cn->net, out->data + off, chunk,
			    (int)c->timeout.data_block * 1000) < 0) {
				if (ev != SMTPC_CLOSED)
					ev = smtp_client_lost(cn->c, cn->net.err);
				break;
			}
		}
		buf_consume(out, out->len);
		if (ev == SMTPC_STARTTLS) {
			ev = worker_starttls(cn, c, mode);
			continue;
		}
		if (ev != SMTPC_READ)
			return ev;
		if (cn->inoff == cn->inlen) {
			n = net_read(&cn->net, cn->in, LIM_READ_CHUNK,
			    worker_timeout_ms(c, smtp_client_wait(cn->c)));
			if (n <= 0) {
				ev = smtp_client_lost(cn->c, n == 0 ?
				    "connection closed by the server" : cn->net.err);
				continue;
			}
			cn->inlen = (size_t)n;
			cn->inoff = 0;
		}
		ev = smtp_client_input(cn->c, cn->in + cn->inoff, cn->inlen - cn->inoff, &used);
		cn->inoff += used;
	}
}

static void
worker_close(struct conn *cn, const struct conf *c, enum route_tls mode)
{
	if (cn->c != NULL && cn->open) {
		smtp_client_quit(cn->c);
		(void)worker_io(cn, c, mode, SMTPC_READ);
	}
	smtp_client_free(cn->c);
	cn->c = NULL;
	cn->open = 0;
	net_close(&cn->net);
	cn->tls[0] = '\0';
	cn->inlen = cn->inoff = 0;
}

/* ---- opening a session ---- */

static void
worker_fail_set(struct wfail *f, enum trouble_stage stage, int permanent,
    const struct smtpc_reply *r, const struct conn *cn)
{
	f->stage = stage;
	f->permanent = permanent;
	f->reply = *r;
	(void)str_copy(f->remote, sizeof f->remote, cn ? cn->remote : "");
	(void)str_copy(f->host, sizeof f->host, cn ? cn->host : "");
}

static void
worker_fail_why(struct wfail *f, enum trouble_stage stage, int permanent,
    const char *status, const char *why, const struct conn *cn)
{
	struct smtpc_reply r;

	memset(&r, 0, sizeof r);
	(void)str_copy(r.status, sizeof r.status, status);
	(void)str_copy(r.text, sizeof r.text, why);
	worker_fail_set(f, stage, permanent, &r, cn);
}

/* The AUTH secret: the first line of the route's file. */
static int
worker_secret(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Connect to one candidate and bring the session to READY: 0, or -1 with
 * the reason in f. */
static int
worker_try_host(struct conn *cn, const struct conf *c, const struct sched_target *t,
    enum route_tls mode, const struct dns_target *dt, struct wfail *f)
{
	struct smtpc_env env = { c->hostname, mode, NULL, NULL };
	char secret[256];
	enum smtpc_event ev;

	(void)str_copy(cn->host, sizeof cn->host, dt->host);
	(void)str_fmt(cn->remote, sizeof cn->remote, "%s[%s]:%u", dt->host, dt->ip, t->port);
	if (net_connect(&cn->net, (const struct sockaddr *)&dt->addr, dt->addrlen,
	    (int)c->timeout.connect * 1000) < 0) {
		char why[400];

		(void)str_fmt(why, sizeof why, "connect to %s: %s", cn->remote, cn->net.err);
		worker_fail_why(f, TS_CONNECT, 0, "4.4.1", why, cn);
		return -1;
	}
	if (t->auth_user[0]) {
		if (worker_secret(t->auth_secret_file, secret, sizeof secret) < 0) {
			worker_fail_why(f, TS_AUTH, 0, "4.7.0", "cannot read the route's AUTH "
			    "secret file", cn);
			net_close(&cn->net);
			return -1;
		}
		env.auth_user = t->auth_user;
		env.auth_pass = secret;
	}
	cn->c = smtp_client_new(&env);
	ev = worker_io(cn, c, mode, SMTPC_READ);
	explicit_bzero(secret, sizeof secret);
	if (ev == SMTPC_READY) {
		cn->open = 1;
		return 0;
	}
	worker_fail_set(f, smtp_client_failure(cn->c)->stage, 0,
	    &smtp_client_failure(cn->c)->reply, cn);
	worker_close(cn, c, t->tls);
	return -1;
}

/* The candidates for the job's target. */
static int
worker_resolve(const struct sched_target *t, struct dns_targets *out, struct wfail *f)
{
	char why[512], lit[LIM_DOMAIN + 1];
	enum dns_status st;
	const char *status = "4.4.3";

	if (t->routed) {
		st = dns_route_host(t->host, t->port, out, why, sizeof why);
	} else if (t->domain[0] == '[') {
		const char *ip = t->domain + 1 + (str_iprefix(t->domain + 1, "IPv6:") ? 5 : 0);

		(void)str_copy(lit, sizeof lit, ip);
		lit[strcspn(lit, "]")] = '\0';
		st = dns_route_host(lit, t->port, out, why, sizeof why);
	} else {
		st = dns_route_mx(t->domain, t->port, out, why, sizeof why);
	}
	if (st == DNS_OK)
		return 0;
	if (st == DNS_NXDOMAIN)
		status = "5.1.2";
	else if (st == DNS_NULLMX)
		status = "5.1.10";
	else if (st == DNS_NODATA)
		status = "5.4.4";
	/* A route's host is ours to fix: its DNS trouble never bounces mail. */
	if (t->routed)
		status = "4.4.3";
	worker_fail_why(f, TS_LOCAL, st != DNS_TEMPFAIL && !t->routed, status, why, NULL);
	return -1;
}

/* A session with the first candidate that will talk; -1 with the last
 * reason when none would. */
static int
worker_open(struct conn *cn, const struct conf *c, const struct sched_target *t,
    struct wfail *f)
{
	struct dns_targets *targets = xmalloc(sizeof *targets);
	size_t i;
	int rc = -1;

	if (worker_resolve(t, targets, f) == 0) {
		if (!t->routed && t->domain[0] != '[' && targets->n > 0)
			sched_learn_provider(t->domain, targets->v[0].host);
		for (i = 0; i < targets->n && rc < 0; i++) {
			rc = worker_try_host(cn, c, t, t->tls, &targets->v[i], f);
			/* tls=may: a handshake that failed is not a reason to
			 * keep the mail; go again in plain text (as Postfix). */
			if (rc < 0 && t->tls == ROUTE_TLS_MAY && f->stage == TS_STARTTLS &&
			    f->reply.code == 0) {
				log_msg("mtad", "tls_fallback", "%s: %s; trying again without TLS",
				    f->remote, f->reply.text);
				rc = worker_try_host(cn, c, t, ROUTE_TLS_NONE, &targets->v[i], f);
			}
		}
	}
	free(targets);
	return rc;
}

/* ---- outcomes ---- */

/* One recipient's outcome, its DSN entry, and the text both point to. */
struct wresult {
	struct queue_outcome o;
	struct dsn_rcpt d;
	int dsn;			/* goes into this attempt's DSN */
	char status[16];
	char reply[LIM_REPLY_TEXT + 96];
	char remote[LIM_DOMAIN + 80];	/* "host[ip]:port", or "" */
	char host[LIM_DOMAIN + 1];	/* the remote host's name, or "" */
	char tls[200];
};

/* Where the attempt went: copied, since the outcome outlives the
 * connection (it is recorded after the worker has moved on). */
static void
worker_where(struct wresult *res, const char *remote, const char *host, const char *tls)
{
	(void)str_copy(res->remote, sizeof res->remote, remote ? remote : "");
	(void)str_copy(res->host, sizeof res->host, host ? host : "");
	(void)str_copy(res->tls, sizeof res->tls, tls ? tls : "");
	res->o.remote = res->remote[0] ? res->remote : NULL;
	res->o.tls = res->tls[0] ? res->tls : NULL;
}

/* Retry schedule: retry[attempts] (the last one repeats), +-10% jitter. */
static time_t
worker_retry_at(struct worker *w, const struct conf *c, int attempts, time_t now)
{
	size_t i = (size_t)attempts < c->nretry ? (size_t)attempts : c->nretry - 1;
	long d = (long)c->retry[i], j = d / 10;

	if (j > 0)
		d += (long)(rand_r(&w->seed) % (unsigned)(2 * j + 1)) - j;
	return now + (d > 0 ? d : 1);
}

/* Should the sender hear of this (RFC 3461 NOTIFY; none given: failures,
 * and delays when delay_warning is on)? */
static int
worker_notify(int notify, int bit)
{
	if (notify & DSN_NOTIFY_NEVER)
		return 0;
	return notify == 0 ? bit != DSN_NOTIFY_SUCCESS : (notify & bit) != 0;
}

/* Turn a trouble verdict into the recipient's outcome. */
static void
worker_judge(struct worker *w, const struct conf *c, const struct queue_message *m,
    const struct sched_rcpt *sr, const struct trouble *t, struct wresult *res, time_t now)
{
	struct queue_outcome *o = &res->o;

	o->rcpt_id = sr->id;
	o->address = sr->address;
	o->status = res->status;
	o->reply = res->reply;
	(void)str_copy(res->status, sizeof res->status, t->status);
	if (t->verdict == TV_DELIVERED) {
		o->kind = QO_DELIVERED;
	} else if (t->verdict == TV_BOUNCE) {
		o->kind = QO_BOUNCED;
		o->class = trouble_class_name(t->class);
	} else if (now >= m->received_at + (time_t)c->queue_lifetime) {
		char last[sizeof res->reply];

		(void)str_copy(last, sizeof last, res->reply);
		(void)str_fmt(res->reply, sizeof res->reply, "delivery time expired "
		    "(queue_lifetime); last error: %s", last);
		(void)str_copy(res->status, sizeof res->status, "4.4.7");
		o->kind = QO_EXPIRED;
		o->class = trouble_class_name(BOUNCE_EXPIRED);
	} else {
		o->kind = QO_DEFERRED;
		o->next_attempt = worker_retry_at(w, c, sr->attempts, now);
	}
}

/* Does this outcome go into a DSN, and as what? */
static void
worker_dsn_rcpt(const struct conf *c, const struct queue_message *m,
    const struct sched_rcpt *sr, int remote_dsn, struct wresult *res, time_t now)
{
	struct queue_outcome *o = &res->o;
	struct dsn_rcpt *d = &res->d;

	d->address = sr->address;
	d->orcpt = sr->orcpt;
	d->status = res->status;
	d->remote_mta = res->host[0] ? res->host : NULL;	/* RFC 3464 2.3.5: a name */
	d->diagnostic = res->reply;
	d->last_attempt = now;
	if (o->kind == QO_BOUNCED || o->kind == QO_EXPIRED) {
		d->action = "failed";
		res->dsn = worker_notify(sr->notify, DSN_NOTIFY_FAILURE);
	} else if (o->kind == QO_DEFERRED && c->delay_warning && !sr->delay_notified &&
	    now - m->received_at >= (time_t)c->delay_warning) {
		d->action = "delayed";
		d->retry_until = m->received_at + (time_t)c->queue_lifetime;
		res->dsn = worker_notify(sr->notify, DSN_NOTIFY_DELAY);
		o->delay_notified = res->dsn;
	} else if (o->kind == QO_DELIVERED && !remote_dsn) {
		d->action = "relayed";	/* RFC 3461 5.2.2.1: next hop has no DSN */
		res->dsn = worker_notify(sr->notify, DSN_NOTIFY_SUCCESS);
	}
}

/* ---- DSNs and recording ---- */

/* The DSN this attempt owes, as a message ready to queue. */
struct wdsn {
	struct buf body;
	struct queue_msg msg;
	struct queue_rcpt rcpt;
	struct addr to;
	char queue_id[LIM_QUEUE_ID + 1];
	int due;
};

static enum dsn_ret
worker_ret(const char *s)
{
	return strcmp(s, "FULL") == 0 ? DSN_RET_FULL : strcmp(s, "HDRS") == 0 ?
	    DSN_RET_HDRS : DSN_RET_UNSPEC;
}

static void
worker_dsn(const struct conf *c, const struct queue_message *m, struct wresult *res,
    size_t n, time_t now, struct wdsn *out)
{
	struct dsn_rcpt *v = xcalloc(n, sizeof *v);
	struct dsn_report r;
	char unique[LIM_QUEUE_ID + 1];
	size_t i, k = 0;
	int utf8 = 0;

	for (i = 0; i < n; i++)
		if (res[i].dsn)
			v[k++] = res[i].d;
	if (k > 0 && m->sender[0] == '\0') {
		log_msg(m->queue_id, "dsn_dropped", "no DSN for a message from <> (a bounce "
		    "of a bounce), %zu recipients", k);
	} else if (k > 0 && addr_parse_mailbox(m->sender, &out->to) != ADDR_OK) {
		log_msg(m->queue_id, "dsn_dropped", "sender <%s> cannot be written to", m->sender);
	} else if (k > 0) {
		queue_new_id(unique, sizeof unique);
		queue_new_id(out->queue_id, sizeof out->queue_id);
		r = (struct dsn_report){ c->hostname, m->queue_id, m->sender, m->envid,
		    worker_ret(m->dsn_ret), m->received_at, now, unique, m->body, m->size, v, k };
		buf_init(&out->body, LIM_MAX_MESSAGE_SIZE);
		if (dsn_build(&r, &out->body, &utf8) == 0) {
			out->rcpt = (struct queue_rcpt){ m->sender, out->to.domain_ascii, 0, NULL };
			out->msg = (struct queue_msg){ .queue_id = out->queue_id, .sender = "",
			    .client_addr = "", .helo = c->hostname, .body_type = "8BITMIME",
			    .smtputf8 = utf8, .received_at = now, .body = out->body.data,
			    .size = out->body.len, .rcpts = &out->rcpt, .nrcpts = 1 };
			out->due = 1;
		}
	}
	free(v);
}

/* A unit's outcomes on their way to the writer: owns everything. */
struct wrecord {
	struct writer_job job;
	struct worker *w;
	struct queue_message m;
	struct sched_unit *u;
	struct wresult *res;
	struct wdsn dsn;
	time_t now;
};

static int
worker_record_job(struct queue *q, void *arg)
{
	struct wrecord *r = arg;
	size_t i;

	for (i = 0; i < r->u->n; i++)
		if (queue_record(q, r->m.queue_id, r->m.sender, r->now, &r->res[i].o) != QUEUE_OK)
			return QUEUE_ERR;
	if (r->dsn.due) {
		if (queue_insert_message(q, &r->dsn.msg) != QUEUE_OK ||
		    queue_event(q, r->now, r->m.queue_id, r->m.sender, "dsn",
		    r->dsn.queue_id) != QUEUE_OK)
			return QUEUE_ERR;
	}
	return queue_finish(q, r->m.id) < 0 ? QUEUE_ERR : QUEUE_OK;
}

static const char *
worker_status_word(enum queue_outcome_kind k)
{
	static const char *w[] = { "sent", "deferred", "bounced", "expired", "released" };

	return w[k];
}

static void
worker_log(const struct queue_message *m, const struct sched_rcpt *sr,
    const struct wresult *res, time_t now)
{
	struct logline l;

	log_begin(&l, m->queue_id, "delivery");
	log_str(&l, "rcpt", sr->address);
	log_str(&l, "relay", res->o.remote && res->o.remote[0] ? res->o.remote : "none");
	if (res->o.tls && res->o.tls[0])
		log_str(&l, "tls", res->o.tls);
	log_str(&l, "dsn", res->status);
	log_str(&l, "status", worker_status_word(res->o.kind));
	log_num(&l, "attempts", sr->attempts + 1);
	log_num(&l, "delay", (long long)(now - m->received_at));
	log_str(&l, "reply", res->reply);
	log_end(&l);
}

/* After the commit (on the writer thread): log, tell the scheduler, free. */
static void
worker_record_done(struct writer_job *job)
{
	struct wrecord *r = job->arg;
	struct worker *w = r->w;
	time_t retry = 0;
	size_t i;
	int throttled = 0, delivered = 0;

	if (job->rc != QUEUE_OK)
		log_msg(r->m.queue_id, "queue_error", "outcomes not recorded; the recipients "
		    "are tried again at the next start");
	for (i = 0; i < r->u->n; i++) {
		worker_log(&r->m, &r->u->r[i], &r->res[i], r->now);
		if (r->res[i].o.kind == QO_DEFERRED &&
		    (retry == 0 || r->res[i].o.next_attempt < retry))
			retry = r->res[i].o.next_attempt;
		if (r->res[i].o.kind == QO_DEFERRED && !throttled &&
		    trouble_throttle(r->res[i].reply)) {
			sched_throttle(r->u->domain, r->res[i].reply);
			throttled = 1;
		}
		if (r->res[i].o.kind == QO_DELIVERED && !delivered) {
			sched_delivered(r->u->domain);
			delivered = 1;
		}
	}
	if (r->dsn.due && job->rc == QUEUE_OK) {
		log_msg(r->dsn.queue_id, "dsn_queued", "for %s to <%s>", r->m.queue_id, r->m.sender);
		sched_notify(r->dsn.to.domain_ascii);
	}
	sched_unit_done(r->u, retry);
	buf_free(&r->dsn.body);
	queue_message_free(&r->m);
	free(r->res);
	free(r);
	pthread_mutex_lock(&wk.lock);
	w->unrecorded--;
	pthread_cond_signal(&w->recorded);
	pthread_mutex_unlock(&wk.lock);
}

/*
 * Hand the unit's outcomes (and its DSN) to the writer and go on: a worker
 * keeps at most LIM_WORKER_UNRECORDED units uncommitted (worker_room()
 * waits before each delivery), which bounds what a crash can make us
 * deliver twice.  Takes over m and res.
 */
static void
worker_record(struct worker *w, const struct conf *c, struct queue_message *m,
    struct sched_unit *u, struct wresult *res, int remote_dsn, time_t now)
{
	struct wrecord *r = xcalloc(1, sizeof *r);
	size_t i;

	r->w = w;
	r->m = *m;
	r->u = u;
	r->res = res;
	r->now = now;
	for (i = 0; i < u->n; i++)
		worker_dsn_rcpt(c, &r->m, &u->r[i], remote_dsn, &res[i], now);
	worker_dsn(c, &r->m, res, u->n, now, &r->dsn);
	r->job.fn = worker_record_job;
	r->job.arg = r;
	r->job.done = worker_record_done;
	pthread_mutex_lock(&wk.lock);
	w->unrecorded++;	/* worker_room() made sure it fits */
	pthread_mutex_unlock(&wk.lock);
	writer_post(&r->job);
}

/* Wait, before a delivery, until its outcome will fit under the bound. */
static void
worker_room(struct worker *w)
{
	pthread_mutex_lock(&wk.lock);
	while (w->unrecorded >= LIM_WORKER_UNRECORDED)
		pthread_cond_wait(&w->recorded, &wk.lock);
	pthread_mutex_unlock(&wk.lock);
}

/* ---- units and jobs ---- */

static int wk_stopping;

/* Every recipient of the unit gets the failure f (nothing was tried). */
static void
worker_fail_unit(struct worker *w, const struct conf *c, struct sched_unit *u,
    const struct wfail *f, time_t now)
{
	struct queue_message m;
	struct wresult *res;
	struct trouble t;
	size_t i;
	int rc;

	worker_room(w);
	if ((rc = queue_load(w->q, u->message_id, &m)) != 0) {
		if (rc < 0)
			log_msg("mtad", "queue_error", "cannot load message %lld", u->message_id);
		sched_unit_done(u, 0);
		return;
	}
	if (f->stage == TS_LOCAL)
		trouble_local(f->permanent, TSC_DESTINATION, f->reply.status, &t);
	else
		trouble_reply(f->stage, f->reply.code, f->reply.status, &t);
	res = xcalloc(u->n, sizeof *res);
	for (i = 0; i < u->n; i++) {
		(void)str_copy(res[i].reply, sizeof res[i].reply, f->reply.text);
		worker_where(&res[i], f->remote, f->host, NULL);
		res[i].o.code = f->reply.code;
		worker_judge(w, c, &m, &u->r[i], &t, &res[i], now);
	}
	worker_record(w, c, &m, u, res, 0, now);
}

/* Did a reused connection die before the server said anything to this
 * message (an idle timeout on its side)?  Then try again on a new one. */
static int
worker_stale(const struct smtp_client *c, unsigned on_conn)
{
	const struct smtpc_failure *f = smtp_client_failure(c);

	return on_conn > 1 && f != NULL && f->reply.code == 0 && f->stage == TS_MAIL;
}

/* One message over the open session.  Returns 0; 1 when the connection
 * was stale and nothing was recorded (retry the unit on a new one); -1
 * when the session failed (f says why, the unit is recorded). */
static int
worker_deliver(struct worker *w, const struct conf *c, const struct sched_target *tg,
    struct conn *cn, struct sched_unit *u, unsigned on_conn, struct wfail *f)
{
	struct queue_message m;
	struct smtpc_rcpt *rc;
	struct wresult *res;
	struct smtpc_msg msg;
	struct trouble t;
	enum smtpc_event ev;
	size_t i;
	int lr, remote_dsn;

	worker_room(w);
	if ((lr = queue_load(w->q, u->message_id, &m)) != 0) {
		sched_unit_done(u, 0);
		return 0;
	}
	rc = xcalloc(u->n, sizeof *rc);
	res = xcalloc(u->n, sizeof *res);
	for (i = 0; i < u->n; i++)
		rc[i] = (struct smtpc_rcpt){ .address = u->r[i].address,
		    .notify = u->r[i].notify, .orcpt = u->r[i].orcpt };
	msg = (struct smtpc_msg){ m.sender, rc, u->n, m.body, m.size, m.body_8bit,
	    m.smtputf8, worker_ret(m.dsn_ret), m.envid };
	ev = worker_io(cn, c, tg->tls, smtp_client_send(cn->c, &msg));
	if (ev == SMTPC_CLOSED && worker_stale(cn->c, on_conn)) {
		free(rc);
		free(res);
		queue_message_free(&m);
		cn->open = 0;
		return 1;
	}
	remote_dsn = smtp_client_caps(cn->c)->dsn;
	for (i = 0; i < u->n; i++) {
		if (rc[i].stage == TS_LOCAL)
			trouble_local(1, TSC_MESSAGE, rc[i].reply.status, &t);
		else
			trouble_reply(rc[i].stage, rc[i].reply.code, rc[i].reply.status, &t);
		(void)str_copy(res[i].reply, sizeof res[i].reply, rc[i].reply.text);
		res[i].o.code = rc[i].reply.code;
		worker_where(&res[i], cn->remote, cn->host, cn->tls);
		worker_judge(w, c, &m, &u->r[i], &t, &res[i], time(NULL));
	}
	worker_record(w, c, &m, u, res, remote_dsn, time(NULL));
	free(rc);
	if (ev == SMTPC_DONE)
		return 0;
	worker_fail_set(f, smtp_client_failure(cn->c)->stage, 0,
	    &smtp_client_failure(cn->c)->reply, cn);
	cn->open = 0;
	return -1;
}

/* The destination failed: everything queued for it waits with reason f. */
static void
worker_fail_rest(struct worker *w, const struct conf *c, struct sched_job *job,
    const struct wfail *f)
{
	struct sched_unit *u;

	(void)sched_drain(job);
	while ((u = job->units) != NULL) {
		job->units = u->next;
		u->next = NULL;
		worker_fail_unit(w, c, u, f, time(NULL));
	}
}

/* The session ended under a message: does the whole destination wait
 * (421, connection lost in a transaction), or only this connection? */
static int
worker_dest_down(const struct wfail *f)
{
	struct trouble t;

	trouble_reply(f->stage, f->reply.code, f->reply.status, &t);
	return t.scope == TSC_DESTINATION;
}

/* Deliver one unit, opening (or re-opening) the connection as needed.
 * -1 when the destination is down (the unit and the rest are recorded). */
static int
worker_unit(struct worker *w, const struct conf *c, struct sched_job *job,
    struct conn *cn, struct sched_unit *u)
{
	struct wfail f;
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		if (!cn->open) {
			worker_close(cn, c, job->target.tls);
			job->on_conn = 0;
			if (worker_open(cn, c, &job->target, &f) < 0) {
				worker_fail_unit(w, c, u, &f, time(NULL));
				worker_fail_rest(w, c, job, &f);
				return -1;
			}
		}
		if ((rc = worker_deliver(w, c, &job->target, cn, u, ++job->on_conn, &f)) != 1)
			break;
	}
	if (rc == 1) {		/* stale twice: count it as the server's failure */
		worker_fail_why(&f, TS_MAIL, 0, "4.4.2", "connection lost twice", cn);
		worker_fail_unit(w, c, u, &f, time(NULL));
	}
	if (rc < 0 && worker_dest_down(&f)) {
		worker_fail_rest(w, c, job, &f);
		return -1;
	}
	return 0;
}

static void
worker_job(struct worker *w, struct sched_job *job)
{
	struct conf *c = conf_current();
	struct conn cn;
	struct sched_unit *u;
	int down = 0;

	memset(&cn, 0, sizeof cn);
	net_init(&cn.net);
	cn.in = w->in;
	do {
		while (!down && (u = job->units) != NULL &&
		    !__atomic_load_n(&wk_stopping, __ATOMIC_RELAXED)) {
			job->units = u->next;
			u->next = NULL;
			down = worker_unit(w, c, job, &cn, u) < 0;
		}
	} while (!down && cn.open && !__atomic_load_n(&wk_stopping, __ATOMIC_RELAXED) &&
	    sched_more(job));
	worker_close(&cn, c, job->target.tls);
	conf_unref(c);
	sched_job_done(job);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct sched_job *job;

	pthread_setname_np(pthread_self(), "mtad-deliver");
	while ((job = sched_take()) != NULL)
		worker_job(w, job);
	pthread_mutex_lock(&wk.lock);
	while (w->unrecorded > 0)	/* the writer outlives us */
		pthread_cond_wait(&w->recorded, &wk.lock);
	wk.running--;
	pthread_cond_broadcast(&wk.gone);
	pthread_mutex_unlock(&wk.lock);
	return NULL;
}

int
worker_start(const char *db_path, unsigned n, char *err, size_t errsize)
{
	pthread_attr_t attr;
	unsigned i;

	wk.w = xcalloc(n, sizeof *wk.w);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 4 * LIM_THREAD_STACK);
	for (i = 0; i < n; i++) {
		struct worker *w = &wk.w[i];

		if ((w->q = queue_open(db_path, QUEUE_READER, err, errsize)) == NULL)
			break;
		if (getrandom(&w->seed, sizeof w->seed, 0) < 0)
			w->seed = (unsigned)time(NULL) ^ i;
		w->in = xmalloc(LIM_READ_CHUNK);
		pthread_cond_init(&w->recorded, NULL);
		pthread_mutex_lock(&wk.lock);
		wk.running++;
		pthread_mutex_unlock(&wk.lock);
		if (pthread_create(&w->thread, &attr, worker_main, w) != 0) {
			(void)str_copy(err, errsize, "cannot start a delivery worker");
			wk.running--;
			break;
		}
		wk.n++;
	}
	pthread_attr_destroy(&attr);
	return wk.n == n ? 0 : -1;
}

int
worker_stop(int seconds)
{
	struct timespec until;
	unsigned i, left;

	__atomic_store_n(&wk_stopping, 1, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&wk.lock);
	while (wk.running > 0 && pthread_cond_timedwait(&wk.gone, &wk.lock, &until) != ETIMEDOUT)
		;
	left = wk.running;
	pthread_mutex_unlock(&wk.lock);
	if (left > 0)
		return (int)left;
	for (i = 0; i < wk.n; i++) {
		pthread_join(wk.w[i].thread, NULL);
		queue_close(wk.w[i].q);
		free(wk.w[i].in);
	}
	free(wk.w);
	wk.w = NULL;
	wk.n = 0;
	return 0;
}
