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

#include "log.h"
#include "str.h"
#include "xalloc.h"

extern const char queue_schema_sql[];

enum queue_stmt {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_INS_MSG, Q_INS_RCPT, Q_INS_EVENT, Q_NSTMT
};

static const char *const queue_sql[Q_NSTMT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT job",
	[Q_RELEASE] = "RELEASE job",
	[Q_ROLLBACK_TO] = "ROLLBACK TO job",
	[Q_INS_MSG] = "INSERT INTO messages (queue_id, sender, size, received_at,"
	    " client_addr, helo, auth_user, body_type, smtputf8, body)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_INS_RCPT] = "INSERT INTO recipients (message_id, address, domain, state,"
	    " next_attempt, updated_at) VALUES (?, ?, ?, 'queued', ?, ?)",
	[Q_INS_EVENT] = "INSERT INTO events (at, queue_id, recipient, kind, code,"
	    " reply, remote) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
queue_migrate(struct queue *q, char *err, size_t errsize)
{
	int have = queue_schema_version(q), want = 0, n;
	char *sql, setv[64];

	while ((sql = queue_migration(want + 1)) != NULL) {
		free(sql);
		want++;
	}
	if (have < 0 || have > want) {
		(void)str_fmt(err, errsize, "database schema version %d is not one this "
		    "mtad knows (1 to %d)", have, want);
		return -1;
	}
	if (have == want)
		return 0;
	if (queue_exec(q, "BEGIN IMMEDIATE", err, errsize) < 0)
		return -1;
	for (n = have + 1; n <= want; n++) {
		sql = queue_migration(n);
		if (queue_exec(q, sql, err, errsize) < 0) {
			free(sql);
			(void)queue_exec(q, "ROLLBACK", setv, sizeof setv);
			return -1;
		}
		free(sql);
	}
	(void)str_fmt(setv, sizeof setv, "PRAGMA user_version = %d", want);
	if (queue_exec(q, setv, err, errsize) < 0 || queue_exec(q, "COMMIT", err, errsize) < 0) {
		(void)queue_exec(q, "ROLLBACK", setv, sizeof setv);
		return -1;
	}
	log_msg("mtad", "schema_migrated", "from version %d to %d", have, want);
	return 0;
}

static int
queue_setup(struct queue *q, int mode, char *err, size_t errsize)
{
	sqlite3_busy_timeout(q->db, 10000);
	if (queue_exec(q, "PRAGMA foreign_keys = ON", err, errsize) < 0)
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
		if (queue_step_done(st) != QUEUE_OK)
			return QUEUE_ERR;
	}
	return QUEUE_OK;
}

static int
queue_insert_event(struct queue *q, time_t at, const char *queue_id,
    const char *rcpt, const char *kind, int code, const char *reply, const char *remote)
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
	if ((rc = queue_step_done(st)) != QUEUE_OK)
		return rc;
	if (queue_insert_rcpts(q, m, sqlite3_last_insert_rowid(q->db)) != QUEUE_OK)
		return QUEUE_ERR;
	return queue_insert_event(q, m->received_at, m->queue_id, NULL, "received", 250,
	    NULL, m->client_addr);
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
