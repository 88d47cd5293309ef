/*
 * test_queue.c -- the SQLite queue and the group-commit writer against a
 * real database in a temporary directory.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "queue.h"
#include "str.h"
#include "test.h"
#include "writer.h"

static void
db_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", test_tmpdir(), name);
}

/* One integer from a query on a separate, plain SQLite connection. */
static long long
db_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static void
test_open_migrate(void)
{
	char path[512], err[256];
	struct queue *q;
	struct stat sb;

	db_path(path, sizeof path, "open.db");
	q = queue_open(path, QUEUE_WRITER, err, sizeof err);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	CHECK_INT(queue_schema_version(q), 9);
	queue_close(q);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_INT(db_int(path, "PRAGMA user_version"), 9);
	CHECK_INT(db_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('messages', 'recipients', 'events', 'recipients_due', 'bounces')"), 5);
	/* Opening again migrates nothing and keeps the version. */
	q = queue_open(path, QUEUE_WRITER, err, sizeof err);
	CHECK(q != NULL && queue_schema_version(q) == 9);
	queue_close(q);
}

static void
test_refuses_newer_schema(void)
{
	char path[512], err[256] = "";
	sqlite3 *db;
	struct queue *q;

	db_path(path, sizeof path, "newer.db");
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	q = queue_open(path, QUEUE_WRITER, err, sizeof err);
	CHECK(q == NULL);
	CHECK(strstr(err, "schema version 99") != NULL);
	queue_close(q);
}

static struct queue_msg
msg(const char *id, const struct queue_rcpt *r, size_t n)
{
	static const char body[] = "Subject: t\r\n\r\nhello\r\n";
	struct queue_msg m = {
		.queue_id = id, .sender = "a@b.test", .client_addr = "192.0.2.1",
		.helo = "c.test", .body_type = "", .received_at = 1795687315,
		.body = body, .size = sizeof body - 1, .rcpts = r, .nrcpts = n,
	};
	return m;
}

static int
job_insert(struct queue *q, void *arg)
{
	return queue_insert_message(q, arg);
}

static void
test_insert_and_duplicate(void)
{
	static const struct queue_rcpt r[] = { { "x@d.test", "d.test", 0, NULL }, { "y@e.test", "e.test", 0, NULL } };
	char path[512], err[256];
	struct queue_msg m = msg("aaaaaaaaaaaa", r, 2);
	struct writer_job job = { .fn = job_insert, .arg = &m };

	db_path(path, sizeof path, "insert.db");
	CHECK(writer_start(path, err, sizeof err) == 0);
	CHECK_INT(writer_run(&job), QUEUE_OK);
	CHECK_INT(writer_run(&job), QUEUE_DUP);
	writer_stop();
	CHECK_INT(writer_run(&job), QUEUE_ERR);
	CHECK_INT(db_int(path, "SELECT count(*) FROM messages"), 1);
	CHECK_INT(db_int(path, "SELECT count(*) FROM recipients WHERE state = 'queued' "
	    "AND next_attempt = 1795687315"), 2);
	CHECK_INT(db_int(path, "SELECT length(body) FROM messages"), (long long)m.size);
	CHECK_INT(db_int(path, "SELECT count(*) FROM events WHERE kind = 'received' "
	    "AND queue_id = 'aaaaaaaaaaaa' AND code = 250"), 1);
}

/* Many threads at once: every job lands, in few transactions. */
#define GC_THREADS 8
#define GC_EACH 50

static void *
gc_thread(void *arg)
{
	static const struct queue_rcpt r[] = { { "x@d.test", "d.test", 0, NULL } };
	long t = (long)arg;
	int i, bad = 0;

	for (i = 0; i < GC_EACH; i++) {
		char id[16];
		struct queue_msg m;
		struct writer_job job = { .fn = job_insert, .arg = &m };

		snprintf(id, sizeof id, "t%02ldm%04d", t, i);
		m = msg(id, r, 1);
		if (writer_run(&job) != QUEUE_OK)
			bad++;
	}
	return (void *)(long)bad;
}

static void
test_group_commit(void)
{
	char path[512], err[256];
	pthread_t th[GC_THREADS];
	long t;
	void *bad;

	db_path(path, sizeof path, "group.db");
	CHECK(writer_start(path, err, sizeof err) == 0);
	for (t = 0; t < GC_THREADS; t++)
		pthread_create(&th[t], NULL, gc_thread, (void *)t);
	for (t = 0; t < GC_THREADS; t++) {
		pthread_join(th[t], &bad);
		CHECK_INT((long)bad, 0);
	}
	writer_stop();
	CHECK_INT(db_int(path, "SELECT count(*) FROM messages"), GC_THREADS * GC_EACH);
	CHECK_INT(db_int(path, "SELECT count(DISTINCT message_id) FROM recipients"),
	    GC_THREADS * GC_EACH);
	CHECK_INT(db_int(path, "SELECT count(*) FROM pragma_journal_mode "
	    "WHERE journal_mode = 'wal'"), 1);
}

static void
test_new_id(void)
{
	char a[LIM_QUEUE_ID + 1], b[LIM_QUEUE_ID + 1];
	size_t i;

	queue_new_id(a, sizeof a);
	queue_new_id(b, sizeof b);
	CHECK_INT(strlen(a), LIM_QUEUE_ID);
	CHECK(strcmp(a, b) != 0);
	for (i = 0; i < LIM_QUEUE_ID; i++)
		CHECK(strchr("0123456789abcdefghjkmnpqrstvwxyz", a[i]) != NULL);
}

static void
warmup_row(void *ctx, const char *dest, long long sent)
{
	char *out = ctx;
	size_t n = strlen(out);

	(void)str_fmt(out + n, 256 - n, "%s=%lld;", dest, sent);
}

/* Warm-up counts: per destination and UTC day; a new day starts at 0 and
 * replaces the old count. */
static void
test_warmup_counts(void)
{
	char path[512], err[256], list[256] = "";
	struct queue *q;

	db_path(path, sizeof path, "warmup.db");
	q = queue_open(path, QUEUE_WRITER, err, sizeof err);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	CHECK_INT(queue_warmup_sent(q, "mxp:google.com", 20777), 0);
	CHECK_INT(queue_warmup_add(q, "mxp:google.com", 20777, 30), QUEUE_OK);
	CHECK_INT(queue_warmup_add(q, "mxp:google.com", 20777, 12), QUEUE_OK);
	CHECK_INT(queue_warmup_add(q, "mx:example.net", 20777, 5), QUEUE_OK);
	CHECK_INT(queue_warmup_sent(q, "mxp:google.com", 20777), 42);
	CHECK_INT(queue_warmup_sent(q, "mxp:google.com", 20778), 0);
	CHECK_INT(queue_warmup_list(q, 20777, 10, warmup_row, list), 0);
	CHECK_STR(list, "mxp:google.com=42;mx:example.net=5;");
	CHECK_INT(queue_warmup_add(q, "mxp:google.com", 20778, 7), QUEUE_OK);
	CHECK_INT(queue_warmup_sent(q, "mxp:google.com", 20778), 7);
	CHECK_INT(queue_warmup_sent(q, "mxp:google.com", 20777), 0);
	queue_close(q);
}

const struct test queue_tests[] = {
	{ "open_migrate", test_open_migrate },
	{ "warmup_counts", test_warmup_counts },
	{ "refuses_newer_schema", test_refuses_newer_schema },
	{ "insert_and_duplicate", test_insert_and_duplicate },
	{ "group_commit", test_group_commit },
	{ "new_id", test_new_id },
	{ NULL, NULL },
};
