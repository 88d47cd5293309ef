/*
 * scheduler.c -- the scheduler thread and the job hand-out (contract in
 * scheduler.h).  One mutex guards everything here; the claim (a writer
 * transaction) runs with it released.
 *
 * Tables, all small chained hash tables: domains (name -> next due time,
 * claimed count, pause, MX provider), destinations (key -> pending units
 * FIFO, connections, own budget or the provider's), MX providers (name ->
 * shared budget, pause), and what MX lookups taught (domain -> provider,
 * for LIM_PROVIDER_TTL).  Destinations with pending units are also on a
 * ring for round-robin dispatch.
 */
#include "scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provider.h"
#include "queue.h"
#include "str.h"
#include "writer.h"
#include "xalloc.h"

#define SCHED_BUCKETS 4096	/* power of two */
#define SCHED_CLAIM_MAX 500	/* recipients per claim transaction */

/* A pause: throttled by the receiver (sched_throttle), or over the
 * day's warm-up cap.  Of a domain, or of its MX provider. */
struct sched_pause {
	time_t until;			/* no claims before; 0: none */
	unsigned count;			/* throttles in a row: the pause grows */
	char *why;			/* the reply that paused it */
};

/* What a destination may use: `limit ... connections= rate=`.  A route's
 * or an MX domain's own, or shared by an MX provider's domains. */
struct sched_budget {
	unsigned conns, max_conns;
	unsigned waiting;		/* connections kept for the next slot */
	/* `rate=`: one message every `interval` seconds, no burst (GCRA:
	 * the next may go at `tat`, wall-clock seconds); 0: none */
	double interval, tat;
};

/* An MX provider (provider.h): the domains whose MX hosts it runs share
 * its budget, its pauses and its warm-up count. */
struct sched_group {
	char name[LIM_DOMAIN + 1];	/* "google.com" */
	struct sched_budget b;
	struct sched_pause pause;
	unsigned refs;			/* domains, destinations and jobs */
	struct sched_group *hnext;
};

struct sched_domain {
	char name[LIM_DOMAIN + 1];
	time_t next_due;		/* 0: nothing known to be waiting */
	unsigned claimed;
	struct sched_pause pause;	/* its own (routed, or no provider yet) */
	struct sched_group *grp;	/* its MX provider, when known */
	int probe;			/* a warm-up probe is out: claim no more yet */
	struct sched_domain *hnext;
};

/* What the workers' MX lookups taught (sched_learn_provider): a domain's
 * provider, for LIM_PROVIDER_TTL seconds after its last lookup, whether
 * or not the domain has mail waiting. */
struct sched_known {
	char domain[LIM_DOMAIN + 1];
	struct sched_group *grp;	/* a reference */
	time_t at;
	struct sched_known *hnext;
};

struct sched_dest {
	char key[LIM_DOMAIN + 32];	/* "mx:domain" or "route:host:port" */
	struct sched_target target;
	unsigned conns;			/* this destination's connections */
	struct sched_budget own;
	struct sched_group *grp;	/* its budget is the provider's; NULL: own */
	struct sched_unit *head, *tail;
	size_t pending;
	int on_ring;
	struct sched_dest *ring_next, *hnext;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* the scheduler thread */
	pthread_cond_t work;		/* idle workers */
	pthread_cond_t slot;		/* sched_more waiting for a rate slot */
	struct sched_domain *domains[SCHED_BUCKETS];
	struct sched_dest *dests[SCHED_BUCKETS];
	struct sched_group *groups[SCHED_BUCKETS];
	struct sched_known *known[SCHED_BUCKETS];
	time_t known_swept;		/* the last sched_known_sweep */
	struct sched_dest *ring;	/* last dispatched; ring->ring_next is next */
	struct sched_job *ready;	/* jobs made, not taken: a stack */
	size_t nready;
	unsigned idle;			/* workers waiting in sched_take */
	unsigned claimed;		/* recipients held, in all */
	int stopping, running, kicked;
	pthread_t thread;
} sc = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER, .slot = PTHREAD_COND_INITIALIZER };

static unsigned
sched_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (SCHED_BUCKETS - 1);
}

static struct sched_group *sched_group_ref(struct sched_group *g);
static struct sched_known *sched_known(const char *domain, time_t now);

/* The domain entry, created when `create` (with its provider, if known). */
static struct sched_domain *
sched_domain(const char *name, int create)
{
	struct sched_domain **pp = &sc.domains[sched_hash(name)], *d;
	struct sched_known *k;

	for (d = *pp; d != NULL; d = d->hnext)
		if (strcmp(d->name, name) == 0)
			return d;
	if (!create)
		return NULL;
	d = xcalloc(1, sizeof *d);
	(void)str_copy(d->name, sizeof d->name, name);
	if ((k = sched_known(name, time(NULL))) != NULL)
		d->grp = sched_group_ref(k->grp);
	d->hnext = *pp;
	*pp = d;
	return d;
}

/* ---- MX providers ---- */

static struct sched_group *
sched_group(const char *name)
{
	struct sched_group **pp = &sc.groups[sched_hash(name)], *g;

	for (g = *pp; g != NULL; g = g->hnext)
		if (strcmp(g->name, name) == 0)
			return g;
	g = xcalloc(1, sizeof *g);
	(void)str_copy(g->name, sizeof g->name, name);
	g->hnext = *pp;
	*pp = g;
	return g;
}

static struct sched_group *
sched_group_ref(struct sched_group *g)
{
	if (g != NULL)
		g->refs++;
	return g;
}

/* Free g if nothing refers to it, no connection counts in it and no
 * pause of it runs (a pause outlives its domains; sched_known_sweep
 * comes back for it). */
static void
sched_group_drop_if_idle(struct sched_group *g, time_t now)
{
	struct sched_group **pp;

	if (g->refs > 0 || g->b.conns > 0 || g->pause.until > now)
		return;
	for (pp = &sc.groups[sched_hash(g->name)]; *pp != g; pp = &(*pp)->hnext)
		;
	*pp = g->hnext;
	free(g->pause.why);
	free(g);
}

static void
sched_group_unref(struct sched_group *g)
{
	if (g != NULL && --g->refs == 0)
		sched_group_drop_if_idle(g, time(NULL));
}

/* The provider learned for `domain`, unless forgotten by now. */
static struct sched_known *
sched_known(const char *domain, time_t now)
{
	struct sched_known *k;

	for (k = sc.known[sched_hash(domain)]; k != NULL; k = k->hnext)
		if (strcmp(k->domain, domain) == 0)
			return now - k->at < LIM_PROVIDER_TTL ? k : NULL;
	return NULL;
}

/* Remember that `domain` is at provider g (from now on). */
static void
sched_known_set(const char *domain, struct sched_group *g, time_t now)
{
	struct sched_known **pp = &sc.known[sched_hash(domain)], *k;

	for (k = *pp; k != NULL; k = k->hnext)
		if (strcmp(k->domain, domain) == 0)
			break;
	if (k == NULL) {
		k = xcalloc(1, sizeof *k);
		(void)str_copy(k->domain, sizeof k->domain, domain);
		k->hnext = *pp;
		*pp = k;
	}
	if (k->grp != g) {
		sched_group_unref(k->grp);
		k->grp = sched_group_ref(g);
	}
	k->at = now;
}

/* Forget what is older than LIM_PROVIDER_TTL, and providers whose last
 * pause ended with nothing left referring to them; at most once a minute. */
static void
sched_known_sweep(time_t now)
{
	size_t b;

	if (now - sc.known_swept < 60)
		return;
	sc.known_swept = now;
	for (b = 0; b < SCHED_BUCKETS; b++) {
		struct sched_known **pp = &sc.known[b], *k;
		struct sched_group *g, *gn;

		for (g = sc.groups[b]; g != NULL; g = gn) {
			gn = g->hnext;
			sched_group_drop_if_idle(g, now);
		}
		while ((k = *pp) != NULL) {
			if (now - k->at < LIM_PROVIDER_TTL) {
				pp = &k->hnext;
				continue;
			}
			*pp = k->hnext;
			sched_group_unref(k->grp);
			free(k);
		}
	}
}

/* The pause that holds `d`: its provider's when it has one, else its own. */
static struct sched_pause *
sched_pause_of(struct sched_domain *d)
{
	return d->grp != NULL ? &d->grp->pause : &d->pause;
}

/* Until when d may not be claimed (the later of its own pause and its
 * provider's), or 0. */
static time_t
sched_paused_at(const struct sched_domain *d, time_t now)
{
	time_t t = d->pause.until > now ? d->pause.until : 0;

	if (d->grp != NULL && d->grp->pause.until > now && d->grp->pause.until > t)
		t = d->grp->pause.until;
	return t;
}

static void
sched_pause_set(struct sched_pause *p, time_t until, const char *why)
{
	p->until = until;
	free(p->why);
	p->why = xstrdup(why);
}

static void
sched_domain_drop_if_idle(struct sched_domain *d, time_t now)
{
	struct sched_domain **pp = &sc.domains[sched_hash(d->name)];

	if (d->next_due != 0 || d->claimed != 0 || d->pause.count != 0 ||
	    d->pause.until > now || d->probe)
		return;
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	sched_group_unref(d->grp);
	free(d->pause.why);
	free(d);
}

/* A domain that a `route` sends (a reload may have added one since its
 * MX lookup) has no MX provider: not its limits, pauses or warm-up. */
static void
sched_routed_no_provider(struct sched_domain *d, const struct conf *c)
{
	if (d->grp != NULL && conf_route_for(c, d->name) != NULL) {
		sched_group_unref(d->grp);
		d->grp = NULL;
	}
}

/* ---- destinations ---- */

/* Where mail for domain d goes under configuration c, and the `limit`
 * that applies: an MX domain with a known provider and no `limit` line of
 * its own is limited as its provider (*shared set). */
static const struct conf_limit *
sched_target_for(const struct conf *c, struct sched_domain *d, struct sched_target *t,
    char *key, size_t keysize, int *shared)
{
	const struct conf_route *r = conf_route_for(c, d->name);
	const struct conf_limit *l;

	memset(t, 0, sizeof *t);
	*shared = 0;
	(void)str_copy(t->domain, sizeof t->domain, d->name);
	if (r != NULL) {
		t->routed = 1;
		(void)str_copy(t->host, sizeof t->host, r->host);
		t->port = r->port;
		t->tls = r->tls;
		if (r->auth_user) {
			(void)str_copy(t->auth_user, sizeof t->auth_user, r->auth_user);
			(void)str_copy(t->auth_secret_file, sizeof t->auth_secret_file,
			    r->auth_secret_file);
		}
		(void)str_fmt(key, keysize, "route:%s:%u", r->host, r->port);
		l = conf_limit_for(c, r->domain);
	} else {
		t->port = c->mx_port;
		t->tls = ROUTE_TLS_MAY;
		(void)str_fmt(key, keysize, "mx:%s", d->name);
		*shared = d->grp != NULL && (strcmp(d->name, d->grp->name) == 0 ||
		    conf_limit_named(c, d->name) == NULL);
		l = conf_limit_for(c, *shared ? d->grp->name : d->name);
	}
	t->msgs_per_conn = l && l->messages_per_connection ? l->messages_per_connection :
	    LIM_DEF_MSGS_PER_CONN;
	return l;
}

static void
sched_budget_set(struct sched_budget *b, const struct conf_limit *l)
{
	b->max_conns = l && l->connections ? l->connections : LIM_DEF_DEST_CONNECTIONS;
	b->interval = l && l->rate ? (double)l->rate_period / l->rate : 0;
}

static struct sched_budget *
sched_budget(struct sched_dest *d)
{
	return d->grp != NULL ? &d->grp->b : &d->own;
}

/* The destination for domain d, created if needed; its target and its
 * budget follow the current configuration and d's provider. */
static struct sched_dest *
sched_dest_for(const struct conf *c, struct sched_domain *dom)
{
	struct sched_target t;
	struct sched_dest **pp, *d;
	char key[LIM_DOMAIN + 32];
	const struct conf_limit *l;
	int shared;

	sched_routed_no_provider(dom, c);
	l = sched_target_for(c, dom, &t, key, sizeof key, &shared);
	pp = &sc.dests[sched_hash(key)];
	for (d = *pp; d != NULL; d = d->hnext)
		if (strcmp(d->key, key) == 0)
			break;
	if (d == NULL) {
		d = xcalloc(1, sizeof *d);
		(void)str_copy(d->key, sizeof d->key, key);
		d->hnext = *pp;
		*pp = d;
	}
	d->target = t;
	if (d->grp != (shared ? dom->grp : NULL)) {
		sched_group_unref(d->grp);
		d->grp = shared ? sched_group_ref(dom->grp) : NULL;
	}
	sched_budget_set(sched_budget(d), l);
	return d;
}

static void
sched_dest_drop_if_idle(struct sched_dest *d)
{
	struct sched_dest **pp = &sc.dests[sched_hash(d->key)];

	if (d->conns != 0 || d->pending != 0 || d->on_ring)
		return;
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	sched_group_unref(d->grp);
	free(d);
}

static void
sched_ring_add(struct sched_dest *d)
{
	if (d->on_ring)
		return;
	d->on_ring = 1;
	if (sc.ring == NULL) {
		d->ring_next = d;
		sc.ring = d;
	} else {
		d->ring_next = sc.ring->ring_next;
		sc.ring->ring_next = d;
	}
}

/* File claimed recipients as units (one per message) under dest. */
static void
sched_file(struct sched_dest *d, const char *domain, struct queue_claim *v, int n)
{
	int i = 0;

	while (i < n) {
		struct sched_unit *u = xcalloc(1, sizeof *u);
		int j = i, k;

		while (j < n && v[j].message_id == v[i].message_id)
			j++;
		u->message_id = v[i].message_id;
		(void)str_copy(u->domain, sizeof u->domain, domain);
		u->n = (size_t)(j - i);
		u->r = xcalloc(u->n, sizeof *u->r);
		for (k = i; k < j; k++) {
			struct sched_rcpt *r = &u->r[k - i];

			r->id = v[k].id;
			r->address = v[k].address, v[k].address = NULL;
			r->orcpt = v[k].orcpt, v[k].orcpt = NULL;
			r->notify = v[k].notify;
			r->attempts = v[k].attempts;
			r->delay_notified = v[k].delay_notified;
		}
		if (d->tail)
			d->tail->next = u;
		else
			d->head = u;
		d->tail = u;
		d->pending++;
		i = j;
	}
	sched_ring_add(d);
}

/* ---- claiming (in the writer's transaction) ---- */

struct sched_claim {
	const char *domain;
	time_t now;
	int limit;
	struct queue_claim *v;
	int n;
	time_t next;
	/* `warmup`: the day's cap for warm_key (0: none), and whether it
	 * was reached (capped: nothing claimed) */
	unsigned long long warm_cap;
	char warm_key[LIM_DOMAIN + 8];
	int want, capped, probe;
};

/* How many of the claimed recipients go for the first time (a retry does
 * not count against the warm-up cap again). */
static int
sched_claim_new(const struct queue_claim *v, int n)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		k += v[i].attempts == 0;
	return k;
}

static int
sched_claim_job(struct queue *q, void *arg)
{
	struct sched_claim *cl = arg;
	long long day = (long long)(cl->now / 86400), sent = 0;

	cl->want = cl->limit;
	if (cl->warm_cap > 0) {
		if ((sent = queue_warmup_sent(q, cl->warm_key, day)) < 0)
			return QUEUE_ERR;
		if ((unsigned long long)sent >= cl->warm_cap) {
			cl->capped = 1;
			return QUEUE_OK;
		}
		if (cl->warm_cap - (unsigned long long)sent < (unsigned long long)cl->want)
			cl->want = (int)(cl->warm_cap - (unsigned long long)sent);
	}
	cl->n = queue_claim(q, cl->domain, cl->now, cl->want, &cl->v, &cl->next);
	if (cl->n > 0 && cl->warm_cap > 0 &&
	    queue_warmup_add(q, cl->warm_key, day, sched_claim_new(cl->v, cl->n)) != QUEUE_OK) {
		queue_claims_free(cl->v, cl->n);
		cl->v = NULL;
		cl->n = -1;
	}
	return cl->n < 0 ? QUEUE_ERR : QUEUE_OK;
}

/* `warmup`: the cap for a claim of domain d and the provider it counts
 * for.  Only mail to MX hosts is capped (a route's next hop is ours).
 * While d's provider is unknown one recipient at a time is claimed (the
 * probe), counted for the provider when its MX lookup names it
 * (sched_learn_provider). */
static void
sched_claim_warmup(struct sched_claim *cl, struct sched_domain *d,
    const struct conf *c, time_t now)
{
	if (c->warmup.daily == 0 || conf_route_for(c, d->name) != NULL ||
	    (cl->warm_cap = conf_warmup_cap(c, now)) == 0)
		return;
	if (d->grp != NULL) {
		(void)str_copy(cl->warm_key, sizeof cl->warm_key, d->grp->name);
		return;
	}
	cl->warm_cap = 0;
	cl->limit = 1;
	cl->probe = d->probe = 1;
}

/* The day's warm-up cap is reached for d: pause it (with its provider)
 * until the next UTC day. */
static void
sched_capped(struct sched_domain *d, const struct sched_claim *cl, time_t now)
{
	time_t until = (now / 86400 + 1) * 86400;
	char why[LIM_REPLY_LINE];

	(void)str_fmt(why, sizeof why, "warm-up: daily cap of %llu reached for %s",
	    cl->warm_cap, cl->warm_key);
	sched_pause_set(sched_pause_of(d), until, why);
	log_msg(d->name, "warmup_cap", "%s; more at 00:00 UTC", why);
}

/* Claim what is due for domain d (lock held; released meanwhile). */
static void
sched_claim(struct sched_domain *d, time_t now, const struct conf *c)
{
	struct sched_claim cl;
	struct writer_job job = { .fn = sched_claim_job, .arg = &cl };
	char name[LIM_DOMAIN + 1];
	unsigned room = LIM_ACTIVE_PER_DOMAIN - d->claimed;

	if (LIM_ACTIVE_RCPTS - sc.claimed < room)
		room = LIM_ACTIVE_RCPTS - sc.claimed;
	(void)str_copy(name, sizeof name, d->name);
	memset(&cl, 0, sizeof cl);
	cl.domain = name;
	cl.now = now;
	cl.limit = room < SCHED_CLAIM_MAX ? (int)room : SCHED_CLAIM_MAX;
	if (cl.limit > 0)
		sched_claim_warmup(&cl, d, c, now);
	d->next_due = 0;	/* a notify meanwhile sets it again */
	d->claimed += (unsigned)cl.limit;	/* reserve while unlocked */
	sc.claimed += (unsigned)cl.limit;
	pthread_mutex_unlock(&sc.lock);
	if (writer_run(&job) != QUEUE_OK) {
		log_msg("mtad", "queue_error", "claim for %s failed; retrying in 10s", name);
		queue_claims_free(cl.v, cl.n > 0 ? cl.n : 0);	/* rolled back */
		cl.v = NULL;
		cl.n = 0, cl.next = now + 10, cl.capped = 0, cl.want = -1;
	}
	pthread_mutex_lock(&sc.lock);
	d = sched_domain(name, 1);
	d->claimed -= (unsigned)(cl.limit - cl.n);
	sc.claimed -= (unsigned)(cl.limit - cl.n);
	if (cl.probe && cl.n == 0)
		d->probe = 0;	/* nothing went out after all */
	if (cl.capped) {
		sched_capped(d, &cl, now);
		d->next_due = now;	/* still due: the pause holds it */
	} else if (cl.n == cl.want && d->next_due == 0) {
		d->next_due = now;	/* more may be due right away */
	} else if (cl.next && (d->next_due == 0 || cl.next < d->next_due)) {
		d->next_due = cl.next;
	}
	if (cl.n > 0)
		sched_file(sched_dest_for(c, d), name, cl.v, cl.n);
	queue_claims_free(cl.v, cl.n);
}

/* Claim for every domain that has something due; returns the earliest
 * future due time among the others (0 when none). */
static time_t
sched_claim_due(time_t now, const struct conf *c)
{
	time_t next = 0;
	size_t b;
	int again = 1;

	while (again && !sc.stopping) {
		again = 0;
		for (b = 0; b < SCHED_BUCKETS && !sc.stopping; b++) {
			struct sched_domain *d, *dn;

			for (d = sc.domains[b]; d != NULL; d = dn) {
				dn = d->hnext;
				time_t paused;

				sched_routed_no_provider(d, c);
				paused = sched_paused_at(d, now);

				if (paused) {	/* throttled, or warm-up capped */
					if (d->next_due != 0 && (next == 0 || paused < next))
						next = paused;
					continue;
				}
				if (d->next_due != 0 && d->next_due <= now && !d->probe &&
				    d->claimed < LIM_ACTIVE_PER_DOMAIN &&
				    sc.claimed < LIM_ACTIVE_RCPTS) {
					sched_claim(d, now, c);
					again = 1;	/* the table may have changed */
					break;
				}
				if (d->next_due > now && (next == 0 || d->next_due < next))
					next = d->next_due;
				sched_domain_drop_if_idle(d, now);
			}
			if (again)
				break;
		}
	}
	return next;
}

/* ---- dispatching ---- */

static double
sched_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* May a message go now under budget b's rate?  Takes the slot when so. */
static int
sched_rate_take(struct sched_budget *b, double now)
{
	if (b->interval <= 0)
		return 1;
	if (b->tat > now)
		return 0;
	b->tat = now + b->interval;
	return 1;
}

/* Take units from d's FIFO onto the job's list: at most LIM_JOB_MESSAGES,
 * and no more than the connection may still carry. */
static void
sched_take_units(struct sched_dest *d, struct sched_job *job, int all)
{
	struct sched_unit **tail = &job->units;
	unsigned n = job->on_conn, max = job->target.msgs_per_conn;

	while (*tail != NULL) {
		tail = &(*tail)->next;
		n++;
	}
	if (max - n > LIM_JOB_MESSAGES && !all)
		max = n + LIM_JOB_MESSAGES;
	while (d->head != NULL && (all || (n++ < max &&
	    sched_rate_take(sched_budget(d), sched_now())))) {
		struct sched_unit *u = d->head;

		d->head = u->next;
		if (d->head == NULL)
			d->tail = NULL;
		u->next = NULL;
		*tail = u;
		tail = &u->next;
		d->pending--;
	}
}

/* Unlink the ring entry after `prev` (which is d). */
static void
sched_ring_remove(struct sched_dest *prev, struct sched_dest *d)
{
	d->on_ring = 0;
	if (d->ring_next == d) {
		sc.ring = NULL;
	} else {
		prev->ring_next = d->ring_next;
		if (sc.ring == d)
			sc.ring = prev;
	}
	sched_dest_drop_if_idle(d);
}

/* One job for the next destination on the ring that has units and may
 * open another connection; 0 when there is none. */
static int
sched_dispatch_one(void)
{
	struct sched_dest *prev, *d;
	struct sched_job *job;

	if (sc.ring == NULL)
		return 0;
	prev = sc.ring;
	d = sc.ring->ring_next;
	for (;;) {
		struct sched_dest *next = d->ring_next;
		int was_last = d == sc.ring;

		if (d->pending == 0) {
			sched_ring_remove(prev, d);
			if (sc.ring == NULL || was_last)
				return 0;
		} else if (sched_budget(d)->conns < sched_budget(d)->max_conns &&
		    (sched_budget(d)->interval <= 0 || (sched_budget(d)->waiting == 0 &&
		    sched_budget(d)->tat <= sched_now()))) {
			break;	/* (the next slot is a waiting connection's) */
		} else {
			prev = d;
			if (was_last)
				return 0;	/* all the way round */
		}
		d = next;
	}
	job = xcalloc(1, sizeof *job);
	job->dest = d;
	job->grp = sched_group_ref(d->grp);
	job->target = d->target;
	sched_take_units(d, job, 0);
	d->conns++;
	sched_budget(d)->conns++;
	job->next = sc.ready;
	sc.ready = job;
	sc.nready++;
	sc.ring = d;		/* the next round starts after d */
	return 1;
}

/* When the first destination held back only by its rate may send again
 * (wall-clock seconds), or 0. */
static double
sched_rate_next(void)
{
	struct sched_dest *d;
	double next = 0;

	if (sc.ring == NULL)
		return 0;
	d = sc.ring;
	do {
		const struct sched_budget *b = sched_budget(d);

		if (d->pending > 0 && b->interval > 0 && b->conns < b->max_conns &&
		    b->waiting == 0 && (next == 0 || b->tat < next))
			next = b->tat;
		d = d->ring_next;
	} while (d != sc.ring);
	return next;
}

/* Jobs for the workers that wait for one. */
static void
sched_dispatch(void)
{
	while (sc.idle > sc.nready && sched_dispatch_one())
		pthread_cond_signal(&sc.work);
}

/* ---- the thread ---- */

static void
sched_kick(void)
{
	sc.kicked = 1;
	pthread_cond_signal(&sc.wake);
}

static void *
sched_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "mtad-sched");
	pthread_mutex_lock(&sc.lock);
	while (!sc.stopping) {
		struct conf *c = conf_current();
		time_t now = time(NULL), next;
		struct timespec until;

		double rate_next;

		sc.kicked = 0;
		sched_known_sweep(now);
		next = c->delivery ? sched_claim_due(now, c) : 0;
		sched_dispatch();
		conf_unref(c);
		if (sc.kicked || sc.stopping)
			continue;
		if (next == 0 || next > now + LIM_SCHED_IDLE)
			next = now + LIM_SCHED_IDLE;
		until.tv_sec = next;
		until.tv_nsec = 0;
		if ((rate_next = sched_rate_next()) > 0 && rate_next < (double)next) {
			until.tv_sec = (time_t)rate_next;	/* a rate slot opens first */
			until.tv_nsec = (long)((rate_next - (double)until.tv_sec) * 1e9);
		}
		while (!sc.kicked && !sc.stopping &&
		    pthread_cond_timedwait(&sc.wake, &sc.lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&sc.lock);
	return NULL;
}

static int
sched_recover_job(struct queue *q, void *arg)
{
	int *n = arg;

	return (*n = queue_recover(q)) < 0 ? QUEUE_ERR : QUEUE_OK;
}

static void
sched_learn_domain(void *ctx, const char *domain, time_t next)
{
	struct sched_domain *d = sched_domain(domain, 1);

	(void)ctx;
	d->next_due = next ? next : 1;
}

static int
sched_domains_job(struct queue *q, void *arg)
{
	(void)arg;
	return queue_domains(q, sched_learn_domain, NULL) < 0 ? QUEUE_ERR : QUEUE_OK;
}

int
sched_start(char *err, size_t errsize)
{
	int recovered = 0;
	struct writer_job rec = { .fn = sched_recover_job, .arg = &recovered };
	struct writer_job dom = { .fn = sched_domains_job };

	if (writer_run(&rec) != QUEUE_OK || writer_run(&dom) != QUEUE_OK) {
		(void)str_copy(err, errsize, "cannot read the queue at start-up");
		return -1;
	}
	if (recovered > 0)
		log_msg("mtad", "recovered", "%d recipients in flight at the last stop "
		    "are queued again", recovered);
	sc.stopping = 0;
	if (pthread_create(&sc.thread, NULL, sched_main, NULL) != 0) {
		(void)str_copy(err, errsize, "cannot start the scheduler thread");
		return -1;
	}
	sc.running = 1;
	return 0;
}

void
sched_stop(void)
{
	pthread_mutex_lock(&sc.lock);
	sc.stopping = 1;
	pthread_cond_broadcast(&sc.work);
	pthread_cond_broadcast(&sc.slot);
	pthread_cond_signal(&sc.wake);
	pthread_mutex_unlock(&sc.lock);
	if (sc.running)
		pthread_join(sc.thread, NULL);
	sc.running = 0;
}

void
sched_unit_free(struct sched_unit *u)
{
	size_t i;

	for (i = 0; i < u->n; i++) {
		free(u->r[i].address);
		free(u->r[i].orcpt);
	}
	free(u->r);
	free(u);
}

static void
sched_units_free(struct sched_unit *u)
{
	while (u != NULL) {
		struct sched_unit *next = u->next;

		sched_unit_free(u);
		u = next;
	}
}

/* What is left once nobody runs: claimed recipients stay 'sending' and
 * are queued again at the next start. */
void
sched_free(void)
{
	size_t b;

	while (sc.ready != NULL) {
		struct sched_job *j = sc.ready;

		sc.ready = j->next;
		sched_units_free(j->units);
		free(j);
	}
	for (b = 0; b < SCHED_BUCKETS; b++) {
		while (sc.dests[b] != NULL) {
			struct sched_dest *d = sc.dests[b];

			sc.dests[b] = d->hnext;
			sched_units_free(d->head);
			free(d);
		}
		while (sc.domains[b] != NULL) {
			struct sched_domain *d = sc.domains[b];

			sc.domains[b] = d->hnext;
			free(d->pause.why);
			free(d);
		}
		while (sc.known[b] != NULL) {
			struct sched_known *k = sc.known[b];

			sc.known[b] = k->hnext;
			free(k);
		}
		while (sc.groups[b] != NULL) {
			struct sched_group *g = sc.groups[b];

			sc.groups[b] = g->hnext;
			free(g->pause.why);
			free(g);
		}
	}
	sc.ring = NULL;
	sc.nready = sc.claimed = 0;
}

/* ---- the workers' and sessions' calls ---- */

void
sched_notify(const char *domain)
{
	struct sched_domain *d;
	time_t now = time(NULL);

	pthread_mutex_lock(&sc.lock);
	d = sched_domain(domain, 1);
	if (d->next_due == 0 || d->next_due > now) {
		d->next_due = now;
		sched_kick();	/* else it is already known to be due */
	}
	pthread_mutex_unlock(&sc.lock);
}

void
sched_throttle(const char *domain, const char *reply)
{
	struct sched_domain *d;
	struct sched_pause *p;
	time_t now = time(NULL), pause = LIM_THROTTLE_PAUSE_MIN;
	char whose[LIM_DOMAIN + 32] = "";
	unsigned i;

	pthread_mutex_lock(&sc.lock);
	d = sched_domain(domain, 1);
	p = sched_pause_of(d);
	if (p->until > now) {	/* the same episode: the mail in flight */
		pthread_mutex_unlock(&sc.lock);
		return;
	}
	for (i = 0; i < p->count && pause < LIM_THROTTLE_PAUSE_MAX; i++)
		pause *= 2;
	if (pause > LIM_THROTTLE_PAUSE_MAX)
		pause = LIM_THROTTLE_PAUSE_MAX;
	p->count++;
	sched_pause_set(p, now + pause, reply);
	if (d->grp != NULL)
		(void)str_fmt(whose, sizeof whose, " with MX provider %s", d->grp->name);
	pthread_mutex_unlock(&sc.lock);
	log_msg(domain, "throttled", "paused %llds%s: %s", (long long)pause, whose, reply);
}

void
sched_delivered(const char *domain)
{
	struct sched_domain *d;
	struct sched_pause *p;

	pthread_mutex_lock(&sc.lock);
	if ((d = sched_domain(domain, 0)) != NULL && (p = sched_pause_of(d))->until <= time(NULL))
		p->count = 0;
	pthread_mutex_unlock(&sc.lock);
}

static void
sched_pause_clear(struct sched_pause *p)
{
	p->until = 0;
	p->count = 0;
}

void
sched_resume(const char *domain)
{
	struct sched_domain *d;
	struct sched_group *g;
	size_t b;

	pthread_mutex_lock(&sc.lock);
	for (b = 0; b < SCHED_BUCKETS; b++) {
		for (d = sc.domains[b]; d != NULL; d = d->hnext)
			if (domain == NULL || strcmp(d->name, domain) == 0) {
				sched_pause_clear(&d->pause);
				if (d->grp != NULL)
					sched_pause_clear(&d->grp->pause);
			}
		for (g = sc.groups[b]; g != NULL; g = g->hnext)
			if (domain == NULL || strcmp(g->name, domain) == 0)
				sched_pause_clear(&g->pause);
	}
	sched_kick();
	pthread_mutex_unlock(&sc.lock);
}

void
sched_paused(void (*cb)(void *ctx, const char *name, int provider, time_t until,
    const char *why), void *ctx)
{
	struct sched_domain *d;
	struct sched_group *g;
	time_t now = time(NULL);
	size_t b;

	pthread_mutex_lock(&sc.lock);
	for (b = 0; b < SCHED_BUCKETS; b++) {
		for (d = sc.domains[b]; d != NULL; d = d->hnext)
			if (d->pause.until > now)
				cb(ctx, d->name, 0, d->pause.until, d->pause.why);
		for (g = sc.groups[b]; g != NULL; g = g->hnext)
			if (g->pause.until > now)
				cb(ctx, g->name, 1, g->pause.until, g->pause.why);
	}
	pthread_mutex_unlock(&sc.lock);
}

time_t
sched_paused_until(const char *domain)
{
	struct sched_domain *d;
	time_t t = 0;

	pthread_mutex_lock(&sc.lock);
	if ((d = sched_domain(domain, 0)) != NULL)
		t = sched_paused_at(d, time(NULL));
	pthread_mutex_unlock(&sc.lock);
	return t;
}

/* The probe's recipient counts for the provider its lookup named. */
static int
sched_probe_job(struct queue *q, void *arg)
{
	return queue_warmup_add(q, arg, (long long)(time(NULL) / 86400), 1);
}

void
sched_learn_provider(const char *domain, const char *mx_host)
{
	char name[LIM_DOMAIN + 1];
	struct sched_domain *d;
	struct sched_group *g;
	struct writer_job probe = { .fn = sched_probe_job, .arg = name };
	int counted, changed;

	if (provider_of(mx_host, name, sizeof name) < 0)
		return;
	pthread_mutex_lock(&sc.lock);
	counted = sched_domain(domain, 1)->probe;
	pthread_mutex_unlock(&sc.lock);
	/* The probe counts before the domain can be claimed again (it is not
	 * while the probe is out): no claim reads the day's count without it. */
	if (counted && writer_run(&probe) != QUEUE_OK)
		log_msg("mtad", "queue_error", "warm-up count for %s not recorded", name);
	pthread_mutex_lock(&sc.lock);
	g = sched_group_ref(sched_group(name));	/* held while it changes hands */
	sched_known_set(domain, g, time(NULL));
	d = sched_domain(domain, 1);
	if ((changed = d->grp != g) != 0) {
		sched_group_unref(d->grp);
		d->grp = sched_group_ref(g);
	}
	sched_group_unref(g);
	if (counted)
		d->probe = 0;
	if (counted || changed)
		sched_kick();	/* the claim loop has something new to go by */
	pthread_mutex_unlock(&sc.lock);
}

void
sched_info(unsigned *claimed, unsigned *connections)
{
	size_t b;
	struct sched_dest *d;

	pthread_mutex_lock(&sc.lock);
	*claimed = sc.claimed;
	*connections = 0;
	for (b = 0; b < SCHED_BUCKETS; b++)
		for (d = sc.dests[b]; d != NULL; d = d->hnext)
			*connections += d->conns;
	pthread_mutex_unlock(&sc.lock);
}

void
sched_wake(void)
{
	pthread_mutex_lock(&sc.lock);
	sched_kick();
	pthread_mutex_unlock(&sc.lock);
}

struct sched_job *
sched_take(void)
{
	struct sched_job *job = NULL;

	pthread_mutex_lock(&sc.lock);
	sc.idle++;
	sched_kick();
	while (sc.ready == NULL && !sc.stopping)
		pthread_cond_wait(&sc.work, &sc.lock);
	sc.idle--;
	if (!sc.stopping && sc.ready != NULL) {
		job = sc.ready;
		sc.ready = job->next;
		job->next = NULL;
		sc.nready--;
	}
	pthread_mutex_unlock(&sc.lock);
	return job;
}


/* How long sched_more waits for the destination's next rate slot: until
 * it opens, when that is within LIM_RATE_HOLD seconds; else 0. */
static double
sched_more_wait(struct sched_job *job)
{
	const struct sched_budget *b = sched_budget(job->dest);
	double wait = b->interval > 0 ? b->tat - sched_now() : 0;

	return wait > 0 && wait <= LIM_RATE_HOLD ? wait : 0;
}

int
sched_more(struct sched_job *job)
{
	double wait;

	pthread_mutex_lock(&sc.lock);
	while (!sc.stopping && job->dest->pending > 0 &&
	    job->on_conn < job->target.msgs_per_conn) {
		struct sched_budget *b;
		struct sched_group *g;
		struct timespec until;
		double at;

		sched_take_units(job->dest, job, 0);
		if (job->units != NULL || (wait = sched_more_wait(job)) <= 0)
			break;
		at = sched_now() + wait;	/* keep the connection for the slot */
		until.tv_sec = (time_t)at;
		until.tv_nsec = (long)((at - (double)until.tv_sec) * 1e9);
		g = sched_group_ref(job->dest->grp);	/* kept while we wait */
		b = g != NULL ? &g->b : &job->dest->own;
		b->waiting++;
		(void)pthread_cond_timedwait(&sc.slot, &sc.lock, &until);
		b->waiting--;
		sched_group_unref(g);
	}
	pthread_mutex_unlock(&sc.lock);
	return job->units != NULL;
}

size_t
sched_drain(struct sched_job *job)
{
	size_t n;

	pthread_mutex_lock(&sc.lock);
	n = job->dest->pending;
	sched_take_units(job->dest, job, 1);
	pthread_mutex_unlock(&sc.lock);
	return n;
}

void
sched_unit_done(struct sched_unit *u, time_t retry_at)
{
	struct sched_domain *d;

	pthread_mutex_lock(&sc.lock);
	d = sched_domain(u->domain, 1);
	d->probe = 0;		/* learned or not, the probe is over */
	d->claimed -= (unsigned)u->n;
	sc.claimed -= (unsigned)u->n;
	if (retry_at && (d->next_due == 0 || retry_at < d->next_due))
		d->next_due = retry_at;
	sched_kick();
	pthread_mutex_unlock(&sc.lock);
	sched_unit_free(u);
}

void
sched_job_done(struct sched_job *job)
{
	pthread_mutex_lock(&sc.lock);
	job->dest->conns--;
	(job->grp != NULL ? &job->grp->b : &job->dest->own)->conns--;
	sched_group_unref(job->grp);
	if (!job->dest->on_ring)
		sched_dest_drop_if_idle(job->dest);
	sched_kick();
	pthread_mutex_unlock(&sc.lock);
	sched_units_free(job->units);
	free(job);
}
