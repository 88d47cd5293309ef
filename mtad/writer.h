/*
 * writer.h -- the only thread that writes the queue database.
 *
 * Any thread hands it a job and blocks until the job's transaction is
 * durable.  The writer takes every job waiting (up to LIM_WRITER_BATCH),
 * runs them in one transaction, each inside its own savepoint (a failing
 * job is rolled back alone), commits once -- one fsync for the whole batch
 * (group commit) -- and only then wakes the waiters.  A job's rc is what
 * its function returned, or QUEUE_ERR when the commit failed.
 *
 * writer_run() waits for the commit; writer_post() does not: the job (on
 * the heap) gets its `done` callback, on the writer thread, after the
 * commit -- it must be quick and must not wait for the writer.
 */
#include <pthread.h>
#ifndef MTAD_WRITER_H
#define MTAD_WRITER_H

#include <stddef.h>

#include "queue.h"

struct writer_job {
	int (*fn)(struct queue *q, void *arg);	/* runs in the batch txn */
	void *arg;
	int rc;
	/* writer_post(): called after the commit, with rc set */
	void (*done)(struct writer_job *job);
	/* private to writer.c */
	int finished;
	pthread_cond_t *wake;
	struct writer_job *next;
};

/* Open the database at `path` (migrating it) and start the thread.
 * Returns 0, or -1 with a reason in err. */
int writer_start(const char *path, char *err, size_t errsize);
/* Run the job and wait until it is committed; returns job->rc.  After
 * writer_stop() it fails at once with QUEUE_ERR. */
int writer_run(struct writer_job *job);
/* Queue the job and return at once; job->done(job) follows the commit.
 * After writer_stop() the job is not run: done() gets QUEUE_ERR at once. */
void writer_post(struct writer_job *job);
/* Finish every job already submitted, then stop and close the database. */
void writer_stop(void);

#endif
