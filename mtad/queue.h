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

/* The last SQLite error text of this connection. */
const char *queue_errmsg(struct queue *q);

/* A fresh random ID of size-1 characters (Crockford base32, lower case:
 * URL-safe, no i l o u). */
void queue_new_id(char *out, size_t size);

#endif
