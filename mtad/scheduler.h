/*
 * scheduler.h -- what is delivered when, and by whom.
 *
 * The scheduler thread knows, per recipient domain, when it next has due
 * recipients (new mail, a retry time, start-up).  It claims due
 * recipients through the writer (state 'sending'; at most
 * LIM_ACTIVE_PER_DOMAIN per domain and LIM_ACTIVE_RCPTS in all, so a slow
 * domain cannot hold everything), files them as units -- one message and
 * its recipients in one domain -- under their destination (a `route`'s
 * next hop, or the domain's own MX), and hands jobs (a destination and
 * up to LIM_JOB_MESSAGES units) to idle workers, round robin over the
 * destinations, never more at once per destination than its `limit ...
 * connections=` (default LIM_DEF_DEST_CONNECTIONS).  A worker keeps its
 * connection for more units of the same destination (sched_more) up to
 * messages_per_connection.
 *
 * Claimed recipients are 'sending' in the database; at start-up they are
 * put back to 'queued' (a crash can repeat at most the deliveries whose
 * outcomes were not yet committed: LIM_WORKER_UNRECORDED per worker).
 */
#ifndef MTAD_SCHEDULER_H
#define MTAD_SCHEDULER_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "limits.h"

struct sched_rcpt {
	long long id;
	char *address;
	int notify;
	char *orcpt;
	int attempts;
	int delay_notified;
};

struct sched_unit {
	long long message_id;
	char domain[LIM_DOMAIN + 1];
	struct sched_rcpt *r;
	size_t n;
	struct sched_unit *next;
};

/* Where a job goes, copied out of the configuration when it is made. */
struct sched_target {
	int routed;			/* a `route` next hop, else MX */
	char domain[LIM_DOMAIN + 1];	/* MX: the recipient domain */
	char host[LIM_DOMAIN + 1];	/* route: host name or IP literal */
	unsigned port;
	enum route_tls tls;
	char auth_user[256];		/* "" when none */
	char auth_secret_file[1024];
	unsigned msgs_per_conn;
};

struct sched_job {
	struct sched_target target;
	struct sched_unit *units;	/* the worker takes them in order */
	unsigned on_conn;		/* messages so far on this connection */
	struct sched_dest *dest;	/* private */
	struct sched_group *grp;	/* private: the budget it counts in */
	struct sched_job *next;		/* private: the ready list */
};

/* Recover 'sending' recipients, learn the pending domains, start the
 * thread.  0, or -1 with err. */
int sched_start(char *err, size_t errsize);
/* Stop handing out jobs (sched_take() returns NULL from now on) and end
 * the thread.  Then, once no worker runs any more, sched_free(). */
void sched_stop(void);
void sched_free(void);
/* New mail for `domain` was committed. */
void sched_notify(const char *domain);
/* Look again now (the configuration changed). */
void sched_wake(void);
/* The destination of `domain` throttles us (trouble_throttle): no new
 * attempt for it until a pause that grows with each throttle (replies to
 * mail already in flight during a pause do not count again). */
void sched_throttle(const char *domain, const char *reply);
/* Mail to `domain` was delivered: its next pause starts short again. */
void sched_delivered(const char *domain);
/* Lift the pause of `domain` (NULL: of all); retry asks for this. */
void sched_resume(const char *domain);
/* Each paused domain, then each paused MX provider (provider = 1):
 * cb(ctx, name, provider, until, the reply or reason that paused it). */
void sched_paused(void (*cb)(void *ctx, const char *name, int provider, time_t until,
    const char *why), void *ctx);
/* Until when mail for `domain` waits for a pause (its own or its MX
 * provider's), or 0. */
time_t sched_paused_until(const char *domain);
/* A worker found `mx_host` the first MX host of `domain`: from now on
 * the domain shares its provider's budget (unless a `limit` line names
 * the domain itself), pauses and warm-up count -- while its scheduler
 * entry lives, and for a new entry if the lookup is less than
 * LIM_PROVIDER_TTL old.  A routed domain has no provider. */
void sched_learn_provider(const char *domain, const char *mx_host);
/* What is in flight: recipients claimed, connections open. */
void sched_info(unsigned *claimed, unsigned *connections);

/* Workers: block until a job (NULL: stop).  Units are then theirs. */
struct sched_job *sched_take(void);
/* More units of the same destination for the open connection: 1 if some
 * were added to job->units, 0 if none (then QUIT). */
int sched_more(struct sched_job *job);
/* The destination failed as a whole (DNS, no host would talk, 421):
 * move every unit still waiting for it onto job->units, so the worker
 * defers them all now instead of trying each.  Returns how many. */
size_t sched_drain(struct sched_job *job);
/* A unit's outcomes are recorded; `retry_at` is the earliest retry time
 * among its deferred recipients (0 if none).  Frees the unit. */
void sched_unit_done(struct sched_unit *u, time_t retry_at);
/* The job's connection is closed; frees the job (its units must be done). */
void sched_job_done(struct sched_job *job);
/* Free a unit's storage (for units given back without delivery). */
void sched_unit_free(struct sched_unit *u);

#endif
