/*
 * queue.c -- the SQLite queue: open, migrate, insert (contract in queue.h,
 * schema in schema.sql).  Statements are prepared once per connection, on
 * first use.
 */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "log.h"
#include "str.h"
#include "xalloc.h"

extern const char queue_schema_sql[];

enum queue_stmt {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_INS_MSG, Q_INS_RCPT, Q_INS_EVENT,
	Q_RECOVER, Q_DOMAINS, Q_CLAIM_SEL, Q_CLAIM_UPD, Q_NEXT_DUE, Q_LOAD,
	Q_SET_RCPT, Q_DEL_RCPT, Q_INS_BOUNCE, Q_PENDING, Q_DEL_MSG,
	Q_USER_GET, Q_USER_ADD, Q_USER_PASSWD, Q_USER_DEL, Q_USERS,
	Q_WARMUP_GET, Q_WARMUP_ADD, Q_NSTMT
};

static const char *const queue_sql[Q_NSTMT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT job",
	[Q_RELEASE] = "RELEASE job",
	[Q_ROLLBACK_TO] = "ROLLBACK TO job",
	[Q_INS_MSG] = "INSERT INTO messages (queue_id, sender, size, received_at,"
	    " client_addr, helo, auth_user, body_type, smtputf8, body, dsn_ret, dsn_envid)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_INS_RCPT] = "INSERT INTO recipients (message_id, address, domain, state,"
	    " next_attempt, updated_at, dsn_notify, dsn_orcpt)"
	    " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
	[Q_INS_EVENT] = "INSERT INTO events (at, queue_id, recipient, kind, code,"
	    " reply, remote, tls) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_RECOVER] = "UPDATE recipients SET state = 'queued' WHERE state = 'sending'",
	[Q_DOMAINS] = "SELECT domain, min(next_attempt) FROM recipients"
	    " WHERE state IN ('queued', 'deferred') GROUP BY domain",
	[Q_CLAIM_SEL] = "SELECT id, message_id, address, dsn_notify, dsn_orcpt, attempts,"
	    " delay_notified FROM recipients WHERE domain = ?1"
	    " AND state IN ('queued', 'deferred') AND next_attempt <= ?2"
	    " ORDER BY next_attempt, id LIMIT ?3",
	[Q_CLAIM_UPD] = "UPDATE recipients SET state = 'sending' WHERE id = ?",
	[Q_NEXT_DUE] = "SELECT min(next_attempt) FROM recipients WHERE domain = ?"
	    " AND state IN ('queued', 'deferred')",
	[Q_LOAD] = "SELECT queue_id, sender, received_at, body, body_type, smtputf8,"
	    " dsn_ret, dsn_envid FROM messages WHERE id = ?",
	[Q_SET_RCPT] = "UPDATE recipients SET state = ?2, attempts = attempts + ?3,"
	    " next_attempt = ?4, last_code = ?5, last_reply = ?6, last_mx = ?7,"
	    " updated_at = ?8, delay_notified = max(delay_notified, ?9) WHERE id = ?1",
	[Q_INS_BOUNCE] = "INSERT INTO bounces (at, queue_id, sender, recipient, remote,"
	    " code, enhanced, reply, class) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_DEL_RCPT] = "DELETE FROM recipients WHERE id = ?",
	[Q_PENDING] = "SELECT EXISTS (SELECT 1 FROM recipients WHERE message_id = ?)",
	[Q_DEL_MSG] = "DELETE FROM messages WHERE id = ?",
	[Q_USER_GET] = "SELECT name, password_hash, domains, created_at, updated_at"
	    " FROM users WHERE name = ?",
	[Q_USER_ADD] = "INSERT INTO users (name, password_hash, domains, created_at,"
	    " updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
	[Q_USER_PASSWD] = "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE name = ?1",
	[Q_USER_DEL] = "DELETE FROM users WHERE name = ?",
	[Q_USERS] = "SELECT name, password_hash, domains, created_at, updated_at"
	    " FROM users ORDER BY name",
	[Q_WARMUP_GET] = "SELECT sent FROM warmup WHERE dest = ? AND day = ?",
	[Q_WARMUP_ADD] = "INSERT INTO warmup (dest, day, sent) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (dest) DO UPDATE SET sent = CASE WHEN day = ?2 THEN sent + ?3"
	    " ELSE ?3 END, day = ?2",
};

struct queue {
	sqlite3 *db;
	sqlite3_stmt *st[Q_NSTMT];
};

static sqlite3_stmt *
queue_stmt(struct queue *q, enum queue_stmt id)
{
	if (q->st[id] == NULL &&
	    sqlite3_prepare_v3(q->db, queue_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
	    &q->st[id], NULL) != SQLITE_OK)
		return NULL;
	return q->st[id];
}

/* Run a statement that returns no rows. */
static int
queue_exec_stmt(struct queue *q, enum queue_stmt id)
{
	sqlite3_stmt *st = queue_stmt(q, id);
	int rc;

	if (st == NULL)
		return QUEUE_ERR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? QUEUE_OK : QUEUE_ERR;
}

static int
queue_exec(struct queue *q, const char *sql, char *err, size_t errsize)
{
	char *msg = NULL;

	if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	(void)str_fmt(err, errsize, "%s", msg ? msg : sqlite3_errmsg(q->db));
	sqlite3_free(msg);
	return -1;
}

int
queue_schema_version(struct queue *q)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The text of "-- migration N" (up to the next marker), or NULL. */
static char *
queue_migration(int n)
{
	char mark[48];
	const char *p, *end;

	(void)str_fmt(mark, sizeof mark, "\n-- migration %d\n", n);
	if ((p = strstr(queue_schema_sql, mark)) == NULL)
		return NULL;
	p += strlen(mark);
	end = strstr(p, "\n-- migration ");
	return xstrndup(p, end ? (size_t)(end - p) : strlen(p));
}

static int
queue_migrate_known(void)
{
	char *sql;
	int want = 0;

	while ((sql = queue_migration(want + 1)) != NULL) {
		free(sql);
		want++;
	}
	return want;
}

/* Run migrations have+1..want inside the open transaction. */
static int
queue_migrate_steps(struct queue *q, int have, int want, char *err, size_t errsize)
{
	char setv[64];
	int n;

	for (n = have + 1; n <= want; n++) {
		char *sql = queue_migration(n);
		int rc = queue_exec(q, sql, err, errsize);

		free(sql);
		if (rc < 0)
			return -1;
	}
	(void)str_fmt(setv, sizeof setv, "PRAGMA user_version = %d", want);
	return queue_exec(q, setv, err, errsize);
}

/* Bring the schema to the newest version this mtad knows, in one
 * transaction; the version is read inside it, so two processes starting
 * at once (mtad, mtactl) cannot both migrate. */
static int
queue_migrate(struct queue *q, char *err, size_t errsize)
{
	int want = queue_migrate_known(), have;
	char ignored[64];

	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsize) < 0)
		return -1;
	have = queue_schema_version(q);
	if (have < 0 || have > want) {
		(void)str_fmt(err, errsize, "database schema version %d is not one this "
		    "mtad knows (1 to %d)", have, want);
	} else if (have == want) {
		return queue_exec(q, "COMMIT", err, errsize);
	} else if (queue_migrate_steps(q, have, want, err, errsize) == 0 &&
	    queue_exec(q, "COMMIT", err, errsize) == 0) {
		log_msg("mtad", "schema_migrated", "from version %d to %d", have, want);
		return 0;
	}
	(void)queue_exec(q, "ROLLBACK", ignored, sizeof ignored);
	return -1;
}

static int
queue_setup(struct queue *q, int mode, char *err, size_t errsize)
{
	sqlite3_busy_timeout(q->db, 10000);
	/* Statement journals and sorters in memory: a file created and
	 * unlinked in /var/tmp for each cascading DELETE was five system
	 * calls a message. */
	if (queue_exec(q, "PRAGMA foreign_keys = ON", err, errsize) < 0 ||
	    queue_exec(q, "PRAGMA temp_store = MEMORY", err, errsize) < 0)
		return -1;
	if (mode != QUEUE_WRITER)
		return queue_exec(q, "PRAGMA query_only = ON", err, errsize);
	/* WAL + FULL: every COMMIT fsyncs the WAL before it returns. */
	if (queue_exec(q, "PRAGMA journal_mode = WAL", err, errsize) < 0 ||
	    queue_exec(q, "PRAGMA synchronous = FULL", err, errsize) < 0)
		return -1;
	return queue_migrate(q, err, errsize);
}

struct queue *
queue_open(const char *path, int mode, char *err, size_t errsize)
{
	struct queue *q = xcalloc(1, sizeof *q);
	int fd, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	if (mode == QUEUE_WRITER) {
		/* Create it private before SQLite does (its -wal/-shm follow). */
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			(void)str_fmt(err, errsize, "%s: %s", path, strerror(errno));
			free(q);
			return NULL;
		}
		close(fd);
	}
	if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
		(void)str_fmt(err, errsize, "%s: %s", path,
		    q->db ? sqlite3_errmsg(q->db) : "cannot open");
		queue_close(q);
		return NULL;
	}
	if (queue_setup(q, mode, err, errsize) < 0) {
		queue_close(q);
		return NULL;
	}
	return q;
}

void
queue_close(struct queue *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < Q_NSTMT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

int
queue_begin(struct queue *q)
{
	return queue_exec_stmt(q, Q_BEGIN);
}

int
queue_commit(struct queue *q)
{
	return queue_exec_stmt(q, Q_COMMIT);
}

void
queue_rollback(struct queue *q)
{
	(void)queue_exec_stmt(q, Q_ROLLBACK);
}

int
queue_savepoint(struct queue *q)
{
	return queue_exec_stmt(q, Q_SAVEPOINT);
}

int
queue_release(struct queue *q)
{
	return queue_exec_stmt(q, Q_RELEASE);
}


void
queue_rollback_savepoint(struct queue *q)
{
	(void)queue_exec_stmt(q, Q_ROLLBACK_TO);
	(void)queue_exec_stmt(q, Q_RELEASE);
}

struct sqlite3 *
queue_sqlite(struct queue *q)
{
	return q->db;
}

const char *
queue_errmsg(struct queue *q)
{
	return sqlite3_errmsg(q->db);
}

/* Bind helpers: SQLITE_STATIC, the caller keeps the memory alive until the
 * statement is reset. */
static void
queue_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int
queue_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return QUEUE_OK;
	return rc == SQLITE_CONSTRAINT ? QUEUE_DUP : QUEUE_ERR;
}

static int
queue_insert_rcpts(struct queue *q, const struct queue_msg *m, sqlite3_int64 mid)
{
	sqlite3_stmt *st = queue_stmt(q, Q_INS_RCPT);
	size_t i;

	if (st == NULL)
		return QUEUE_ERR;
	for (i = 0; i < m->nrcpts; i++) {
		sqlite3_bind_int64(st, 1, mid);
		queue_bind_text(st, 2, m->rcpts[i].address);
		queue_bind_text(st, 3, m->rcpts[i].domain);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)m->received_at);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)m->received_at);
		sqlite3_bind_int(st, 6, m->rcpts[i].notify);
		queue_bind_text(st, 7, m->rcpts[i].orcpt);
		if (queue_step_done(st) != QUEUE_OK)
			return QUEUE_ERR;
	}
	return QUEUE_OK;
}

static int
queue_insert_event(struct queue *q, time_t at, const char *queue_id,
    const char *rcpt, const char *kind, int code, const char *reply, const char *remote,
    const char *tls)
{
	sqlite3_stmt *st = queue_stmt(q, Q_INS_EVENT);

	if (st == NULL)
		return QUEUE_ERR;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)at);
	queue_bind_text(st, 2, queue_id);
	queue_bind_text(st, 3, rcpt);
	queue_bind_text(st, 4, kind);
	if (code)
		sqlite3_bind_int(st, 5, code);
	queue_bind_text(st, 6, reply);
	queue_bind_text(st, 7, remote);
	queue_bind_text(st, 8, tls);
	return queue_step_done(st);
}

int
queue_insert_message(struct queue *q, const struct queue_msg *m)
{
	sqlite3_stmt *st = queue_stmt(q, Q_INS_MSG);
	int rc;

	if (st == NULL)
		return QUEUE_ERR;
	queue_bind_text(st, 1, m->queue_id);
	queue_bind_text(st, 2, m->sender);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)m->size);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)m->received_at);
	queue_bind_text(st, 5, m->client_addr);
	queue_bind_text(st, 6, m->helo);
	queue_bind_text(st, 7, m->auth_user);
	queue_bind_text(st, 8, m->body_type);
	sqlite3_bind_int(st, 9, m->smtputf8);
	sqlite3_bind_blob64(st, 10, m->body, m->size, SQLITE_STATIC);
	queue_bind_text(st, 11, m->dsn_ret ? m->dsn_ret : "");
	queue_bind_text(st, 12, m->dsn_envid);
	if ((rc = queue_step_done(st)) != QUEUE_OK)
		return rc;
	if (queue_insert_rcpts(q, m, sqlite3_last_insert_rowid(q->db)) != QUEUE_OK)
		return QUEUE_ERR;
	return queue_insert_event(q, m->received_at, m->queue_id, NULL, "received", 250,
	    NULL, m->client_addr, m->tls);
}

void
queue_new_id(char *out, size_t size)
{
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	unsigned char rnd[64];
	size_t n = size - 1, got = 0, i;

	if (size == 0 || n > sizeof rnd)
		fatalx("queue_new_id: bad size %zu", size);
	while (got < n) {
		ssize_t r = getrandom(rnd + got, n - got, 0);

		if (r < 0 && errno != EINTR)
			fatal("getrandom");
		if (r > 0)
			got += (size_t)r;
	}
	for (i = 0; i < n; i++)
		out[i] = alphabet[rnd[i] & 31];
	out[n] = '\0';
}

/* ---- delivery ---- */

int
queue_recover(struct queue *q)
{
	if (queue_exec_stmt(q, Q_RECOVER) != QUEUE_OK)
		return -1;
	return sqlite3_changes(q->db);
}

int
queue_domains(struct queue *q, void (*cb)(void *ctx, const char *domain, time_t next),
    void *ctx)
{
	sqlite3_stmt *st = queue_stmt(q, Q_DOMAINS);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0),
		    (time_t)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static char *
queue_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

/* Read the due rows of a domain (Q_CLAIM_SEL) into a new array. */
static int
queue_claim_rows(struct queue *q, const char *domain, time_t now, int limit,
    struct queue_claim **out)
{
	sqlite3_stmt *st = queue_stmt(q, Q_CLAIM_SEL);
	size_t cap = 0;
	int n = 0, rc;

	*out = NULL;
	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_claim *c;

		*out = xgrow(*out, &cap, (size_t)n + 1, sizeof **out);
		c = &(*out)[n++];
		c->id = sqlite3_column_int64(st, 0);
		c->message_id = sqlite3_column_int64(st, 1);
		c->address = queue_col_strdup(st, 2);
		c->notify = sqlite3_column_int(st, 3);
		c->orcpt = queue_col_strdup(st, 4);
		c->attempts = sqlite3_column_int(st, 5);
		c->delay_notified = sqlite3_column_int(st, 6);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? n : -1;
}

static time_t
queue_next_due(struct queue *q, const char *domain)
{
	sqlite3_stmt *st = queue_stmt(q, Q_NEXT_DUE);
	time_t t = 0;

	if (st == NULL)
		return 0;
	queue_bind_text(st, 1, domain);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		t = (time_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return t;
}

int
queue_claim(struct queue *q, const char *domain, time_t now, int limit,
    struct queue_claim **out, time_t *next)
{
	sqlite3_stmt *st = queue_stmt(q, Q_CLAIM_UPD);
	int n = queue_claim_rows(q, domain, now, limit, out), i;

	if (n < 0 || st == NULL) {
		queue_claims_free(*out, n < 0 ? 0 : n);
		*out = NULL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (*out)[i].id);
		if (queue_step_done(st) != QUEUE_OK) {
			queue_claims_free(*out, n);
			*out = NULL;
			return -1;
		}
	}
	*next = queue_next_due(q, domain);
	return n;
}

long long
queue_warmup_sent(struct queue *q, const char *dest, long long day)
{
	sqlite3_stmt *st = queue_stmt(q, Q_WARMUP_GET);
	long long n = 0;
	int rc;

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, dest);
	sqlite3_bind_int64(st, 2, day);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

int
queue_warmup_add(struct queue *q, const char *dest, long long day, long long n)
{
	sqlite3_stmt *st = queue_stmt(q, Q_WARMUP_ADD);

	if (st == NULL)
		return QUEUE_ERR;
	queue_bind_text(st, 1, dest);
	sqlite3_bind_int64(st, 2, day);
	sqlite3_bind_int64(st, 3, n);
	return queue_step_done(st);
}

int
queue_warmup_list(struct queue *q, long long day, int limit,
    void (*cb)(void *ctx, const char *dest, long long sent), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, "SELECT dest, sent FROM warmup WHERE day = ?"
	    " ORDER BY sent DESC, dest LIMIT ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, day);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void
queue_claims_free(struct queue_claim *v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(v[i].address);
		free(v[i].orcpt);
	}
	free(v);
}

int
queue_load(struct queue *q, long long id, struct queue_message *m)
{
	sqlite3_stmt *st = queue_stmt(q, Q_LOAD);
	const char *type;
	int rc;

	memset(m, 0, sizeof *m);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		m->id = id;
		(void)str_copy(m->queue_id, sizeof m->queue_id, (const char *)sqlite3_column_text(st, 0));
		m->sender = queue_col_strdup(st, 1);
		m->received_at = (time_t)sqlite3_column_int64(st, 2);
		m->size = (size_t)sqlite3_column_bytes(st, 3);
		m->body = xmalloc(m->size + 1);
		if (m->size > 0)
			memcpy(m->body, sqlite3_column_blob(st, 3), m->size);
		m->body[m->size] = '\0';
		type = (const char *)sqlite3_column_text(st, 4);
		m->body_8bit = type && strcmp(type, "8BITMIME") == 0;
		m->smtputf8 = sqlite3_column_int(st, 5);
		(void)str_copy(m->dsn_ret, sizeof m->dsn_ret, (const char *)sqlite3_column_text(st, 6));
		m->envid = queue_col_strdup(st, 7);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

void
queue_message_free(struct queue_message *m)
{
	free(m->sender);
	free(m->body);
	free(m->envid);
	free(m->client_addr);
	free(m->helo);
	free(m->auth_user);
	memset(m, 0, sizeof *m);
}

static const char *
queue_outcome_state(enum queue_outcome_kind k)
{
	static const char *names[] = { "delivered", "deferred", "bounced", "expired", "queued" };

	return names[k];
}

/* A recipient waits on with its new state and last reply, or, finished
 * (delivered, bounced, expired), leaves the queue: its outcome is the
 * event (and the bounce) recorded with it. */
static int
queue_set_rcpt(struct queue *q, time_t now, const struct queue_outcome *o)
{
	int done = o->kind == QO_DELIVERED || o->kind == QO_BOUNCED || o->kind == QO_EXPIRED;
	sqlite3_stmt *st = queue_stmt(q, done ? Q_DEL_RCPT : Q_SET_RCPT);

	if (st == NULL)
		return QUEUE_ERR;
	if (done) {
		sqlite3_bind_int64(st, 1, o->rcpt_id);
		return queue_step_done(st);
	}
	sqlite3_bind_int64(st, 1, o->rcpt_id);
	queue_bind_text(st, 2, queue_outcome_state(o->kind));
	sqlite3_bind_int(st, 3, o->kind != QO_RELEASED);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)(o->kind == QO_DEFERRED ? o->next_attempt : now));
	if (o->code)
		sqlite3_bind_int(st, 5, o->code);
	queue_bind_text(st, 6, o->reply);
	queue_bind_text(st, 7, o->remote);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)now);
	sqlite3_bind_int(st, 9, o->delay_notified);
	return queue_step_done(st);
}

static int
queue_insert_bounce(struct queue *q, const char *queue_id, const char *sender, time_t now,
    const struct queue_outcome *o)
{
	sqlite3_stmt *st = queue_stmt(q, Q_INS_BOUNCE);

	if (st == NULL)
		return QUEUE_ERR;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	queue_bind_text(st, 2, queue_id);
	queue_bind_text(st, 3, sender);
	queue_bind_text(st, 4, o->address);
	queue_bind_text(st, 5, o->remote);
	if (o->code)
		sqlite3_bind_int(st, 6, o->code);
	queue_bind_text(st, 7, o->status ? o->status : "5.0.0");
	queue_bind_text(st, 8, o->reply ? o->reply : "");
	queue_bind_text(st, 9, o->class ? o->class : "soft");
	return queue_step_done(st);
}

int
queue_record(struct queue *q, const char *queue_id, const char *sender, time_t now,
    const struct queue_outcome *o)
{
	if (queue_set_rcpt(q, now, o) != QUEUE_OK)
		return QUEUE_ERR;
	if (o->kind == QO_RELEASED)
		return QUEUE_OK;
	if ((o->kind == QO_BOUNCED || o->kind == QO_EXPIRED) &&
	    queue_insert_bounce(q, queue_id, sender, now, o) != QUEUE_OK)
		return QUEUE_ERR;
	return queue_insert_event(q, now, queue_id, o->address, queue_outcome_state(o->kind),
	    o->code, o->reply, o->remote, o->tls);
}

int
queue_finish(struct queue *q, long long id)
{
	sqlite3_stmt *st = queue_stmt(q, Q_PENDING), *del = queue_stmt(q, Q_DEL_MSG);
	int rc, pending = -1;

	if (st == NULL || del == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		pending = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (pending != 0)
		return pending > 0 ? 0 : -1;
	sqlite3_bind_int64(del, 1, id);
	return queue_step_done(del) == QUEUE_OK ? 1 : -1;
}

int
queue_event(struct queue *q, time_t at, const char *queue_id, const char *rcpt,
    const char *kind, const char *reply)
{
	return queue_insert_event(q, at, queue_id, rcpt, kind, 0, reply, NULL, NULL);
}

/* ---- users ---- */

static void
queue_user_row(sqlite3_stmt *st, struct queue_user *u)
{
	const char *d = (const char *)sqlite3_column_text(st, 2);

	memset(u, 0, sizeof *u);
	(void)str_copy(u->name, sizeof u->name, (const char *)sqlite3_column_text(st, 0));
	(void)str_copy(u->hash, sizeof u->hash, (const char *)sqlite3_column_text(st, 1));
	u->any_domain = d == NULL;
	(void)str_copy(u->domains, sizeof u->domains, d ? d : "");
	u->created_at = (time_t)sqlite3_column_int64(st, 3);
	u->updated_at = (time_t)sqlite3_column_int64(st, 4);
}

int
queue_user_get(struct queue *q, const char *name, struct queue_user *u)
{
	sqlite3_stmt *st = queue_stmt(q, Q_USER_GET);
	int rc;

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		queue_user_row(st, u);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
queue_user_add(struct queue *q, const char *name, const char *hash, const char *domains,
    time_t now)
{
	sqlite3_stmt *st = queue_stmt(q, Q_USER_ADD);

	if (st == NULL)
		return QUEUE_ERR;
	queue_bind_text(st, 1, name);
	queue_bind_text(st, 2, hash);
	queue_bind_text(st, 3, domains);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	return queue_step_done(st);
}

/* Run a one-user statement; 0 when it changed a row, 1 when none. */
static int
queue_user_change(struct queue *q, sqlite3_stmt *st)
{
	if (queue_step_done(st) != QUEUE_OK)
		return -1;
	return sqlite3_changes(q->db) > 0 ? 0 : 1;
}

int
queue_user_passwd(struct queue *q, const char *name, const char *hash, time_t now)
{
	sqlite3_stmt *st = queue_stmt(q, Q_USER_PASSWD);

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, name);
	queue_bind_text(st, 2, hash);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	return queue_user_change(q, st);
}

int
queue_user_remove(struct queue *q, const char *name)
{
	sqlite3_stmt *st = queue_stmt(q, Q_USER_DEL);

	if (st == NULL)
		return -1;
	queue_bind_text(st, 1, name);
	return queue_user_change(q, st);
}

int
queue_users(struct queue *q, void (*cb)(void *ctx, const struct queue_user *u), void *ctx)
{
	sqlite3_stmt *st = queue_stmt(q, Q_USERS);
	struct queue_user u;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		queue_user_row(st, &u);
		cb(ctx, &u);
	}
	sqlite3_reset(st);
	explicit_bzero(&u, sizeof u);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the admin's view ---- */

/* The WHERE clause of a selection (recipients r JOIN messages m); binds
 * follow in the same order (queue_select_bind). */
static void
queue_select_where(const struct queue_select *s, struct buf *sql)
{
	/* A listing walks recipients in id order (its pages are "after" an
	 * id): without a domain, sender or message to look up, scanning the
	 * table is the fast way ("+" keeps SQLite off the state index, which
	 * would have it sort the whole state first: 0.2-0.5 s for a million
	 * recipients, against under 1 ms -- 0.1 s when nothing matches). */
	const char *scan = s->listing && s->sort == QS_ID && !s->domain && !s->sender &&
	    !s->queue_id ? "+" : "";
	size_t i;

	(void)buf_printf(sql, " WHERE %sr.state IN ('queued', 'deferred', 'held', 'sending')",
	    scan);
	if (s->state)
		(void)buf_printf(sql, " AND %sr.state = ?", scan);
	if (s->domain)
		(void)buf_puts(sql, " AND r.domain = ?");
	if (s->queue_id)
		(void)buf_puts(sql, " AND m.queue_id = ?");
	if (s->sender)
		(void)buf_puts(sql, " AND m.sender = ?");
	if (s->older_than)
		(void)buf_puts(sql, " AND m.received_at < ?");
	if (s->search)
		(void)buf_puts(sql, " AND (instr(m.queue_id, ?) OR instr(lower(m.sender), ?)"
		    " OR instr(lower(r.address), ?) OR instr(lower(m.sender), ?)"
		    " OR instr(lower(r.address), ?))");
	for (i = 0; i < s->nrcpt_ids; i++)
		(void)buf_puts(sql, i == 0 ? " AND r.id IN (?" : ", ?");
	if (s->nrcpt_ids > 0)
		(void)buf_puts(sql, ")");
}

static int
queue_select_bind(sqlite3_stmt *st, const struct queue_select *s, int i)
{
	size_t k;

	if (s->state)
		queue_bind_text(st, i++, s->state);
	if (s->domain)
		queue_bind_text(st, i++, s->domain);
	if (s->queue_id)
		queue_bind_text(st, i++, s->queue_id);
	if (s->sender)
		queue_bind_text(st, i++, s->sender);
	if (s->older_than)
		sqlite3_bind_int64(st, i++, (sqlite3_int64)s->older_than);
	for (k = 0; s->search && k < 5; k++)
		queue_bind_text(st, i++, k < 3 || !s->search_alt ? s->search : s->search_alt);
	for (k = 0; k < s->nrcpt_ids; k++)
		sqlite3_bind_int64(st, i++, (sqlite3_int64)s->rcpt_ids[k]);
	return i;
}

/* Prepare a one-off statement: `head` + the selection's WHERE + `tail`;
 * the selection's values are bound from index `first` (head's own "?"s
 * come before them); *next_bind is the index after them. */
static sqlite3_stmt *
queue_select_prepare(struct queue *q, const char *head, const struct queue_select *s,
    const char *tail, int first, int *next_bind)
{
	struct buf sql;
	sqlite3_stmt *st = NULL;

	buf_init(&sql, 8192);
	(void)buf_puts(&sql, head);
	queue_select_where(s, &sql);
	(void)buf_puts(&sql, tail);
	if (sqlite3_prepare_v2(q->db, sql.data, -1, &st, NULL) != SQLITE_OK)
		st = NULL;
	buf_free(&sql);
	if (st != NULL)
		*next_bind = queue_select_bind(st, s, first);
	return st;
}

#define QUEUE_ROW_COLS "SELECT r.id, m.queue_id, m.sender, r.address, r.domain, r.state," \
	" r.attempts, r.next_attempt, m.received_at, r.last_code, r.last_reply, r.last_mx," \
	" m.size FROM recipients r JOIN messages m ON m.id = r.message_id"

static void
queue_row_read(sqlite3_stmt *st, struct queue_row *r)
{
	r->rcpt_id = sqlite3_column_int64(st, 0);
	r->queue_id = (const char *)sqlite3_column_text(st, 1);
	r->sender = (const char *)sqlite3_column_text(st, 2);
	r->recipient = (const char *)sqlite3_column_text(st, 3);
	r->domain = (const char *)sqlite3_column_text(st, 4);
	r->state = (const char *)sqlite3_column_text(st, 5);
	r->attempts = sqlite3_column_int(st, 6);
	r->next_attempt = (time_t)sqlite3_column_int64(st, 7);
	r->received_at = (time_t)sqlite3_column_int64(st, 8);
	r->last_code = sqlite3_column_int(st, 9);
	r->last_reply = (const char *)sqlite3_column_text(st, 10);
	r->last_mx = (const char *)sqlite3_column_text(st, 11);
	r->size = sqlite3_column_int64(st, 12);
}

static int
queue_rows(sqlite3_stmt *st, void (*cb)(void *ctx, const struct queue_row *r), void *ctx)
{
	struct queue_row r;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		queue_row_read(st, &r);
		cb(ctx, &r);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
queue_list(struct queue *q, const struct queue_select *s,
    void (*cb)(void *ctx, const struct queue_row *r), void *ctx)
{
	static const char *const keys[] = {
		[QS_ID] = "r.id", [QS_AGE] = "m.received_at", [QS_NEXT] = "r.next_attempt",
		[QS_ATTEMPTS] = "r.attempts", [QS_STATE] = "r.state", [QS_SENDER] = "m.sender",
		[QS_RECIPIENT] = "r.address", [QS_DOMAIN] = "r.domain",
	};
	struct queue_select l = *s;
	sqlite3_stmt *st;
	char tail[128];
	int i;

	l.listing = 1;
	if ((size_t)s->sort >= sizeof keys / sizeof keys[0] ||
	    str_fmt(tail, sizeof tail, " AND r.id > ? ORDER BY %s%s%s LIMIT ? OFFSET ?",
	    keys[s->sort], s->desc ? " DESC" : "", s->sort == QS_ID ? "" :
	    s->desc ? ", r.id DESC" : ", r.id") < 0 ||
	    (st = queue_select_prepare(q, QUEUE_ROW_COLS, &l, tail, 1, &i)) == NULL)
		return -1;
	sqlite3_bind_int64(st, i++, s->after);
	sqlite3_bind_int(st, i++, s->limit > 0 ? s->limit : 100);
	sqlite3_bind_int64(st, i, s->offset);
	return queue_rows(st, cb, ctx);
}

long long
queue_count(struct queue *q, const struct queue_select *s)
{
	/* without a member of the message, the join is not needed */
	int msg = s->queue_id || s->sender || s->older_than || s->search;
	sqlite3_stmt *st;
	long long n = -1;
	int i;

	if ((st = queue_select_prepare(q, msg ? "SELECT count(*) FROM recipients r JOIN"
	    " messages m ON m.id = r.message_id" : "SELECT count(*) FROM recipients r", s, "",
	    1, &i)) == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The reply of the domain's most recent deferral, into out ("" if none). */
static void
queue_domain_last(struct queue *q, const char *domain, char *out, size_t size)
{
	sqlite3_stmt *st;

	out[0] = '\0';
	if (sqlite3_prepare_v2(q->db, "SELECT last_reply FROM recipients WHERE domain = ? AND"
	    " state = 'deferred' AND last_reply IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
	    -1, &st, NULL) != SQLITE_OK)
		return;
	queue_bind_text(st, 1, domain);
	if (sqlite3_step(st) == SQLITE_ROW)
		(void)str_copy(out, size, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

int
queue_domain_groups(struct queue *q, int by_sender, int limit,
    void (*cb)(void *ctx, const struct queue_domain_row *d), void *ctx)
{
	char sql[768], last[LIM_REPLY_LINE * 2];
	struct queue_domain_row d;
	sqlite3_stmt *st;
	int rc, k;

	if (str_fmt(sql, sizeof sql, "SELECT %s AS d, sum(r.state = 'queued'),"
	    " sum(r.state = 'deferred'), sum(r.state = 'held'), sum(r.state = 'sending'),"
	    " count(DISTINCT r.message_id), min(m.received_at) FROM recipients r JOIN messages m"
	    " ON m.id = r.message_id WHERE r.state IN ('queued', 'deferred', 'held', 'sending')"
	    " GROUP BY d ORDER BY count(*) DESC, d LIMIT ?", by_sender ?
	    "lower(substr(m.sender, instr(m.sender, '@') + 1))" : "r.domain") < 0 ||
	    sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : 100);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof d);
		d.domain = (const char *)sqlite3_column_text(st, 0);
		for (k = 0; k < 4; k++)
			d.count[k] = sqlite3_column_int64(st, 1 + k);
		d.messages = sqlite3_column_int64(st, 5);
		d.oldest = (time_t)sqlite3_column_int64(st, 6);
		if (!by_sender) {
			queue_domain_last(q, d.domain, last, sizeof last);
			d.last_reply = last[0] ? last : NULL;
		}
		cb(ctx, &d);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
queue_series(struct queue *q, time_t since, int step, long long *counts, size_t n)
{
	sqlite3_stmt *st;
	int rc;

	memset(counts, 0, n * sizeof *counts);
	if (step <= 0 || sqlite3_prepare_v2(q->db, "SELECT (at - ?1) / ?2, count(*) FROM events"
	    " WHERE at >= ?1 AND kind = 'delivered' GROUP BY 1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	sqlite3_bind_int(st, 2, step);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long b = sqlite3_column_int64(st, 0);

		if (b >= 0 && (size_t)b < n)
			counts[b] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
queue_rcpts_of(struct queue *q, const char *queue_id,
    void (*cb)(void *ctx, const struct queue_row *r), void *ctx)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(q->db, QUEUE_ROW_COLS " WHERE m.queue_id = ? ORDER BY r.id",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	queue_bind_text(st, 1, queue_id);
	return queue_rows(st, cb, ctx);
}

int
queue_events_of(struct queue *q, const char *queue_id,
    void (*cb)(void *ctx, const struct queue_event_row *e), void *ctx)
{
	sqlite3_stmt *st;
	struct queue_event_row e;
	int rc;

	if (sqlite3_prepare_v2(q->db, "SELECT at, recipient, kind, code, reply, remote, tls"
	    " FROM events WHERE queue_id = ? ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return -1;
	queue_bind_text(st, 1, queue_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e.at = (time_t)sqlite3_column_int64(st, 0);
		e.recipient = (const char *)sqlite3_column_text(st, 1);
		e.kind = (const char *)sqlite3_column_text(st, 2);
		e.code = sqlite3_column_int(st, 3);
		e.reply = (const char *)sqlite3_column_text(st, 4);
		e.remote = (const char *)sqlite3_column_text(st, 5);
		e.tls = (const char *)sqlite3_column_text(st, 6);
		cb(ctx, &e);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
queue_load_qid(struct queue *q, const char *queue_id, struct queue_message *m)
{
	sqlite3_stmt *st;
	long long id = -1;
	int rc;

	char *client = NULL, *helo = NULL, *user = NULL;

	memset(m, 0, sizeof *m);
	if (sqlite3_prepare_v2(q->db, "SELECT id, client_addr, helo, auth_user FROM messages "
	    "WHERE queue_id = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	queue_bind_text(st, 1, queue_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		client = queue_col_strdup(st, 1);
		helo = queue_col_strdup(st, 2);
		user = queue_col_strdup(st, 3);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW && (rc = queue_load(q, id, m)) == 0) {
		m->client_addr = client;
		m->helo = helo;
		m->auth_user = user;
		return 0;
	}
	free(client);
	free(helo);
	free(user);
	return rc == SQLITE_DONE || rc == 1 ? 1 : -1;
}

int
queue_counts(struct queue *q, long long counts[4])
{
	static const char *names[] = { "queued", "deferred", "held", "sending" };
	sqlite3_stmt *st;
	int rc, i;

	memset(counts, 0, 4 * sizeof *counts);
	if (sqlite3_prepare_v2(q->db, "SELECT state, count(*) FROM recipients GROUP BY state",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (i = 0; i < 4; i++)
			if (strcmp((const char *)sqlite3_column_text(st, 0), names[i]) == 0)
				counts[i] = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the admin's commands (writer) ---- */

/* Run a one-off UPDATE/DELETE of selected recipients: `head` ... WHERE id
 * IN (the selection, restricted by `extra`).  Each "?" of head is `now`.
 * Rows changed, or -1. */
static long long
queue_select_change(struct queue *q, const char *head, const struct queue_select *s,
    const char *extra, time_t now)
{
	char tail[256];
	sqlite3_stmt *st;
	int i, k, nnow = 0, rc;
	const char *p;

	for (p = head; (p = strchr(p, '?')) != NULL; p++)
		nnow++;
	if (str_fmt(tail, sizeof tail, "%s)", extra) < 0 ||
	    (st = queue_select_prepare(q, head, s, tail, nnow + 1, &i)) == NULL)
		return -1;
	for (k = 1; k <= nnow; k++)
		sqlite3_bind_int64(st, k, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? (long long)sqlite3_changes(q->db) : -1;
}

/* The distinct domains of the selection, restricted by `extra`. */
static int
queue_select_domains(struct queue *q, const struct queue_select *s, const char *extra,
    void (*cb)(void *ctx, const char *domain), void *ctx)
{
	sqlite3_stmt *st;
	int i, rc;

	st = queue_select_prepare(q, "SELECT DISTINCT r.domain FROM recipients r JOIN messages m"
	    " ON m.id = r.message_id", s, extra, 1, &i);
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

#define QUEUE_SEL_IDS " WHERE id IN (SELECT r.id FROM recipients r JOIN messages m" \
	" ON m.id = r.message_id"

long long
queue_retry(struct queue *q, const struct queue_select *s, time_t now,
    void (*domain_cb)(void *ctx, const char *domain), void *ctx)
{
	const char *which = " AND r.state IN ('queued', 'deferred')";

	if (queue_select_domains(q, s, which, domain_cb, ctx) < 0)
		return -1;
	return queue_select_change(q, "UPDATE recipients SET next_attempt = ?,"
	    " updated_at = ?" QUEUE_SEL_IDS, s, which, now);
}

long long
queue_hold(struct queue *q, const struct queue_select *s, time_t now)
{
	return queue_select_change(q, "UPDATE recipients SET state = 'held', updated_at = ?"
	    QUEUE_SEL_IDS, s, " AND r.state IN ('queued', 'deferred')", now);
}

long long
queue_unhold(struct queue *q, const struct queue_select *s, time_t now,
    void (*domain_cb)(void *ctx, const char *domain), void *ctx)
{
	const char *which = " AND r.state = 'held'";

	if (queue_select_domains(q, s, which, domain_cb, ctx) < 0)
		return -1;
	return queue_select_change(q, "UPDATE recipients SET state = 'queued',"
	    " next_attempt = ?, updated_at = ?" QUEUE_SEL_IDS, s, which, now);
}

/* A "purged" event for every recipient about to go, naming who did it
 * (so that `show` keeps the message's history). */
static int
queue_purge_events(struct queue *q, const struct queue_select *s, time_t now,
    const char *who)
{
	char *head = sqlite3_mprintf("INSERT INTO events (at, queue_id, recipient, kind, reply)"
	    " SELECT ?, m.queue_id, r.address, 'purged', 'purged by ' || %Q FROM recipients r"
	    " JOIN messages m ON m.id = r.message_id", who);
	sqlite3_stmt *st;
	int i, rc;

	if (head == NULL)
		return -1;
	st = queue_select_prepare(q, head, s, " AND r.state <> 'sending'", 2, &i);
	sqlite3_free(head);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Remember which messages the purge touches, so that those left with no
 * waiting recipient can go afterwards, as queue_finish() does after a
 * delivery (their delivered and bounced rows go with them). */
static int
queue_purge_note_messages(struct queue *q, const struct queue_select *s)
{
	char why[256];
	sqlite3_stmt *st;
	int i, rc;

	if (queue_exec(q, "CREATE TEMP TABLE IF NOT EXISTS purge_msgs (id INTEGER PRIMARY KEY);"
	    " DELETE FROM temp.purge_msgs", why, sizeof why) < 0)
		return -1;
	st = queue_select_prepare(q, "INSERT OR IGNORE INTO temp.purge_msgs SELECT"
	    " r.message_id FROM recipients r JOIN messages m ON m.id = r.message_id", s,
	    " AND r.state <> 'sending'", 1, &i);
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

long long
queue_purge(struct queue *q, const struct queue_select *s, time_t now, const char *who)
{
	char why[256];
	long long n;

	if (queue_purge_note_messages(q, s) < 0 || queue_purge_events(q, s, now, who) < 0 ||
	    (n = queue_select_change(q, "DELETE FROM recipients" QUEUE_SEL_IDS, s,
	    " AND r.state <> 'sending'", now)) < 0 ||
	    queue_exec(q, "DELETE FROM messages WHERE id IN (SELECT id FROM temp.purge_msgs)"
	    " AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = messages.id AND"
	    " state IN ('queued', 'deferred', 'held', 'sending')); DELETE FROM temp.purge_msgs",
	    why, sizeof why) < 0)
		return -1;
	return n;
}

int
queue_bounces(struct queue *q, const struct queue_bounce_select *s,
    void (*cb)(void *ctx, const struct queue_bounce_row *b), void *ctx)
{
	sqlite3_stmt *st;
	struct queue_bounce_row b;
	char u[LIM_DOMAIN * 4 + 1];
	int rc;

	/* Recipients are kept as the client wrote them: match both forms. */
	if (s->domain != NULL && addr_domain_to_unicode(s->domain, u, sizeof u) != ADDR_OK)
		(void)str_copy(u, sizeof u, s->domain);
	if (sqlite3_prepare_v2(q->db, "SELECT at, queue_id, sender, recipient, remote, code,"
	    " enhanced, reply, class FROM bounces WHERE at >= ?1 AND (?2 IS NULL OR"
	    " lower(substr(recipient, instr(recipient, '@') + 1)) IN (?2, ?4))"
	    " AND (?5 IS NULL OR class = ?5) ORDER BY id DESC LIMIT ?3 OFFSET ?6", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->since);
	queue_bind_text(st, 2, s->domain);
	queue_bind_text(st, 4, s->domain ? u : NULL);
	queue_bind_text(st, 5, s->class);
	sqlite3_bind_int(st, 3, s->limit > 0 ? s->limit : 100);
	sqlite3_bind_int64(st, 6, s->offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		b.at = (time_t)sqlite3_column_int64(st, 0);
		b.queue_id = (const char *)sqlite3_column_text(st, 1);
		b.sender = (const char *)sqlite3_column_text(st, 2);
		b.recipient = (const char *)sqlite3_column_text(st, 3);
		b.remote = (const char *)sqlite3_column_text(st, 4);
		b.code = sqlite3_column_int(st, 5);
		b.enhanced = (const char *)sqlite3_column_text(st, 6);
		b.reply = (const char *)sqlite3_column_text(st, 7);
		b.class = (const char *)sqlite3_column_text(st, 8);
		cb(ctx, &b);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One statement of queue_stats: rows of (domain or NULL, kind, count). */
static int
queue_stats_query(struct queue *q, const char *sql, time_t since,
    void (*cb)(void *ctx, const char *domain, const char *kind, long long n), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
queue_stats(struct queue *q, time_t since,
    void (*cb)(void *ctx, const char *domain, const char *kind, long long n), void *ctx)
{
	static const char *const sql[] = {
		"SELECT NULL, kind, count(*) FROM events WHERE at >= ? AND kind IN ('received',"
		    " 'delivered', 'deferred', 'bounced', 'expired', 'purged') GROUP BY kind",
		"SELECT lower(substr(recipient, instr(recipient, '@') + 1)), kind, count(*)"
		    " FROM events WHERE at >= ? AND recipient IS NOT NULL AND kind IN"
		    " ('delivered', 'deferred', 'bounced', 'expired') GROUP BY 1, 2",
		"SELECT domain, 'queued', count(*) FROM recipients WHERE state IN"
		    " ('queued', 'deferred', 'held', 'sending') GROUP BY domain",
	};
	size_t i;

	for (i = 0; i < sizeof sql / sizeof sql[0]; i++)
		if (queue_stats_query(q, sql[i], since, cb, ctx) < 0)
			return -1;
	return 0;
}
