/*
 * queue.h -- the SQLite queue (schema in schema.sql).  All SQL lives here.
 *
 * One struct queue is one SQLite connection.  Only the writer thread opens
 * one with QUEUE_WRITER and changes the database; readers open their own.
 * The database is WAL with synchronous=FULL: a COMMIT returns only after
 * the WAL is fsync'd (fdatasync), which is what makes "250" mean "on disk".
 */
#ifndef MTAD_QUEUE_H
#define MTAD_QUEUE_H

#include <stddef.h>
#include <time.h>

#include "limits.h"

struct queue;

enum { QUEUE_READER = 0, QUEUE_WRITER = 1 };
enum { QUEUE_OK = 0, QUEUE_ERR = -1, QUEUE_DUP = -2 };

struct queue_rcpt {
	const char *address;
	const char *domain;
	int notify;			/* RFC 3461 NOTIFY bits, 0 if not given */
	const char *orcpt;		/* ORCPT decoded, or NULL */
};

/* A message to insert; all pointers are borrowed for the call. */
struct queue_msg {
	const char *queue_id;
	const char *sender;		/* "" for <> */
	const char *client_addr;
	const char *helo;
	const char *auth_user;		/* NULL when not authenticated */
	const char *body_type;		/* "", "7BIT", "8BITMIME" */
	int smtputf8;
	const char *dsn_ret;		/* "", "FULL", "HDRS" */
	const char *dsn_envid;		/* ENVID decoded, or NULL */
	const char *tls;		/* "TLS1.3 CIPHER" it came over, or NULL */
	time_t received_at;
	const char *body;
	size_t size;
	const struct queue_rcpt *rcpts;
	size_t nrcpts;
};

/* Open (creating it 0600 if needed) and, for the writer, migrate the schema.
 * NULL with a reason in err on failure. */
struct queue *queue_open(const char *path, int mode, char *err, size_t errsize);
void queue_close(struct queue *q);
int queue_schema_version(struct queue *q);

/* Transactions (writer only).  Each returns QUEUE_OK or QUEUE_ERR. */
int queue_begin(struct queue *q);
int queue_commit(struct queue *q);
void queue_rollback(struct queue *q);
int queue_savepoint(struct queue *q);
int queue_release(struct queue *q);
void queue_rollback_savepoint(struct queue *q);

/* Insert a message, its recipients (state queued, due now) and its
 * "received" event.  QUEUE_OK, QUEUE_DUP (queue ID taken) or QUEUE_ERR. */
int queue_insert_message(struct queue *q, const struct queue_msg *m);

/* ---- delivery ---- */

/* Put every 'sending' recipient back to 'queued' (start-up: whatever was
 * in flight when the daemon stopped is tried again).  Count, or -1. */
int queue_recover(struct queue *q);
/* For every domain with queued or deferred recipients: cb(domain, the
 * earliest next_attempt).  0 or -1. */
int queue_domains(struct queue *q, void (*cb)(void *ctx, const char *domain, time_t next),
    void *ctx);

/* A claimed recipient (state 'sending'), as the scheduler holds it. */
struct queue_claim {
	long long id, message_id;
	char *address;
	int notify;			/* DSN NOTIFY bits */
	char *orcpt;			/* or NULL */
	int attempts;
	int delay_notified;
};

/* Claim (state 'sending') up to `limit` recipients of `domain` due at
 * `now`, oldest first.  *next: the earliest next_attempt of the rest of
 * the domain's queued/deferred recipients, 0 when none.  Returns the
 * number claimed (in *out, free with queue_claims_free), or -1.  Writer
 * only. */
int queue_claim(struct queue *q, const char *domain, time_t now, int limit,
    struct queue_claim **out, time_t *next);
void queue_claims_free(struct queue_claim *v, int n);
/* Warm-up accounting (schema migration 7): recipients handed to delivery
 * for the first time on UTC day `day` for `dest` (an MX provider's name,
 * "google.com"), 0 for a
 * new day, -1 on error; add n to it (writer: QUEUE_OK or QUEUE_ERR); the
 * day's rows, most first (reader). */
long long queue_warmup_sent(struct queue *q, const char *dest, long long day);
int queue_warmup_add(struct queue *q, const char *dest, long long day, long long n);
int queue_warmup_list(struct queue *q, long long day, int limit,
    void (*cb)(void *ctx, const char *dest, long long sent), void *ctx);

/* A message as delivery needs it. */
struct queue_message {
	long long id;
	char queue_id[LIM_QUEUE_ID + 1];
	char *sender;
	time_t received_at;
	char *body;
	size_t size;
	int body_8bit, smtputf8;
	char dsn_ret[8];		/* "", "FULL", "HDRS" */
	char *envid;			/* or NULL */
	/* only from queue_load_qid: where it came from (NULL: unknown) */
	char *client_addr, *helo, *auth_user;
};

/* Load message `id`: 0, 1 when it is gone, -1 on error. */
int queue_load(struct queue *q, long long id, struct queue_message *m);
void queue_message_free(struct queue_message *m);

enum queue_outcome_kind { QO_DELIVERED, QO_DEFERRED, QO_BOUNCED, QO_EXPIRED, QO_RELEASED };

/* What one attempt did for one recipient.  RELEASED: claimed but not
 * tried (shutdown): back to 'queued', not counted as an attempt. */
struct queue_outcome {
	long long rcpt_id;
	const char *address;
	enum queue_outcome_kind kind;
	int code;			/* remote reply code, 0 if none */
	const char *status;		/* "5.1.1" */
	const char *reply;		/* remote reply or our reason */
	const char *remote;		/* "host[ip]:port", or NULL */
	const char *tls;		/* "TLS1.3 cipher" or NULL */
	time_t next_attempt;		/* DEFERRED */
	const char *class;		/* BOUNCED/EXPIRED: "hard", ... */
	int delay_notified;		/* a delay DSN went out for it */
};

/* Record an outcome: the recipient's row, an events row, and for BOUNCED
 * and EXPIRED a bounces row.  Writer only.  QUEUE_OK or QUEUE_ERR. */
int queue_record(struct queue *q, const char *queue_id, const char *sender, time_t now,
    const struct queue_outcome *o);
/* Delete message `id` once none of its recipients waits any more: 1 when
 * deleted, 0 when some still wait, -1 on error.  Writer only. */
int queue_finish(struct queue *q, long long id);
/* An events row of our own (e.g. "dsn", "dsn_dropped"). */
int queue_event(struct queue *q, time_t at, const char *queue_id, const char *rcpt,
    const char *kind, const char *reply);

/* ---- users (SMTP AUTH) ---- */

struct queue_user {
	char name[LIM_AUTH_USER + 1];
	char hash[LIM_AUTH_HASH + 1];
	char domains[LIM_AUTH_DOMAINS + 1];	/* "" when any domain */
	int any_domain;
	time_t created_at, updated_at;
};

/* 0 found (in *u), 1 no such user, -1 error. */
int queue_user_get(struct queue *q, const char *name, struct queue_user *u);
/* Add a user: QUEUE_OK, QUEUE_DUP (exists) or QUEUE_ERR.  domains NULL:
 * any. */
int queue_user_add(struct queue *q, const char *name, const char *hash,
    const char *domains, time_t now);
/* New password hash: 0, 1 no such user, -1 error. */
int queue_user_passwd(struct queue *q, const char *name, const char *hash, time_t now);
/* 0, 1 no such user, -1 error. */
int queue_user_remove(struct queue *q, const char *name);
/* Every user, by name: cb(ctx, user).  0 or -1. */
int queue_users(struct queue *q, void (*cb)(void *ctx, const struct queue_user *u), void *ctx);

/* ---- the admin's view (control socket) ---- */

/* Which recipients a listing or a command is about; NULL/0 = any.  Only
 * recipients still waiting (queued, deferred, held, sending) are seen. */
enum queue_sort {
	QS_ID, QS_AGE, QS_NEXT, QS_ATTEMPTS, QS_STATE, QS_SENDER, QS_RECIPIENT, QS_DOMAIN,
};

struct queue_select {
	const char *queue_id;
	const char *domain;		/* A-labels */
	const char *sender;
	const char *state;		/* one of the waiting states */
	const char *search;		/* lower case; in queue ID, sender or recipient */
	const char *search_alt;		/* or this (its IDN other form), or NULL */
	const long long *rcpt_ids;	/* these recipients (rcpt_id) only */
	size_t nrcpt_ids;
	time_t older_than;		/* received before this time */
	long long after;		/* listing cursor: recipients.id */
	long long offset;		/* listing: rows skipped */
	enum queue_sort sort;		/* listing order (then by id) */
	int desc;
	int limit;			/* listing page size */
	int listing;			/* set by queue_list */
};

/* One waiting recipient with its message, for listings.  Strings belong
 * to the query and live during the callback only. */
struct queue_row {
	long long rcpt_id;
	const char *queue_id, *sender, *recipient, *domain, *state;
	int attempts, last_code;
	time_t next_attempt, received_at;
	const char *last_reply, *last_mx;
	long long size;
};

/* Page through waiting recipients: in recipients.id order after `after`,
 * or in `sort` order skipping `offset` rows.  0 or -1. */
int queue_list(struct queue *q, const struct queue_select *s,
    void (*cb)(void *ctx, const struct queue_row *r), void *ctx);
/* Recipients of one message still waiting (a finished one leaves the
 * queue: its outcome is an event), then its events in order. */
int queue_rcpts_of(struct queue *q, const char *queue_id,
    void (*cb)(void *ctx, const struct queue_row *r), void *ctx);
struct queue_event_row {
	time_t at;
	const char *recipient, *kind, *reply, *remote, *tls;
	int code;
};
int queue_events_of(struct queue *q, const char *queue_id,
    void (*cb)(void *ctx, const struct queue_event_row *e), void *ctx);
/* The message with this queue ID: 0 (loaded), 1 gone, -1 error. */
int queue_load_qid(struct queue *q, const char *queue_id, struct queue_message *m);

/* Counts of waiting recipients by state (queued, deferred, held, sending). */
int queue_counts(struct queue *q, long long counts[4]);
/* How many waiting recipients a selection has; -1 on error. */
long long queue_count(struct queue *q, const struct queue_select *s);

/* Waiting recipients grouped by domain, the largest groups first, at most
 * `limit`: by recipient domain (A-labels), with the last deferral's reply,
 * or by the sender's domain (as written; "" for <>). */
struct queue_domain_row {
	const char *domain, *last_reply;
	long long count[4];		/* queued, deferred, held, sending */
	long long messages;
	time_t oldest;			/* the oldest message's arrival */
};
int queue_domain_groups(struct queue *q, int by_sender, int limit,
    void (*cb)(void *ctx, const struct queue_domain_row *d), void *ctx);

/* The writer's side of the admin commands, on the selected waiting
 * recipients ('sending' ones, in flight, are never touched).  Each
 * returns how many recipients changed, or -1; `domain_cb` hears each
 * domain that now has due recipients (tell the scheduler). */
long long queue_retry(struct queue *q, const struct queue_select *s, time_t now,
    void (*domain_cb)(void *ctx, const char *domain), void *ctx);
long long queue_hold(struct queue *q, const struct queue_select *s, time_t now);
long long queue_unhold(struct queue *q, const struct queue_select *s, time_t now,
    void (*domain_cb)(void *ctx, const char *domain), void *ctx);
/* Remove recipients without a DSN, and messages left with none; each
 * recipient gets a "purged" event saying who did it (`who`). */
long long queue_purge(struct queue *q, const struct queue_select *s, time_t now,
    const char *who);

struct queue_bounce_row {
	time_t at;
	const char *queue_id, *sender, *recipient, *remote, *enhanced, *reply, *class;
	int code;
};
/* Bounces since `since` (0: all), optionally of one recipient domain and
 * one class, newest first: `offset` skipped, then at most `limit`. */
struct queue_bounce_select {
	time_t since;
	const char *domain, *class;
	long long offset;
	int limit;
};
int queue_bounces(struct queue *q, const struct queue_bounce_select *s,
    void (*cb)(void *ctx, const struct queue_bounce_row *b), void *ctx);

/* Events since `since` (0: all) counted by kind (received, delivered,
 * deferred, bounced, expired, purged): cb(ctx, NULL, kind, n) for the totals,
 * then cb(ctx, domain, kind, n) per recipient domain; then the waiting
 * recipients now: cb(ctx, domain, "queued", n) per domain.  0 or -1. */
int queue_stats(struct queue *q, time_t since,
    void (*cb)(void *ctx, const char *domain, const char *kind, long long n), void *ctx);

/* Deliveries since `since` in buckets of `step` seconds, oldest first:
 * counts[i] for [since + i*step, since + (i+1)*step), n buckets. */
int queue_series(struct queue *q, time_t since, int step, long long *counts, size_t n);

/* This connection's database, for the modules that keep their own tables
 * in it (domain.c). */
struct sqlite3;
struct sqlite3 *queue_sqlite(struct queue *q);

/* The last SQLite error text of this connection. */
const char *queue_errmsg(struct queue *q);

/* A fresh random ID of size-1 characters (Crockford base32, lower case:
 * URL-safe, no i l o u). */
void queue_new_id(char *out, size_t size);

#endif
