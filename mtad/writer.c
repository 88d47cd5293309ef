/*
 * writer.c -- group commit (contract in writer.h).  One queue of jobs,
 * one condition for new work, one for finished batches.
 */
#include "writer.h"

#include <pthread.h>
#include <stdlib.h>

#include "limits.h"
#include "log.h"
#include "str.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* jobs arrived, or stop */
	struct writer_job *head, *tail;
	int stopping, stopped, running;
	pthread_t thread;
	struct queue *q;
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER };

/* Detach up to LIM_WRITER_BATCH jobs from the queue (lock held). */
static struct writer_job *
writer_take(void)
{
	struct writer_job *batch = w.head, *last = w.head;
	int n = 1;

	while (last->next != NULL && n < LIM_WRITER_BATCH) {
		last = last->next;
		n++;
	}
	w.head = last->next;
	if (w.head == NULL)
		w.tail = NULL;
	last->next = NULL;
	return batch;
}

static void
writer_batch(struct writer_job *batch)
{
	struct writer_job *j;
	int ok = queue_begin(w.q) == QUEUE_OK;

	for (j = batch; j != NULL; j = j->next) {
		if (!ok || queue_savepoint(w.q) != QUEUE_OK) {
			j->rc = QUEUE_ERR;
			continue;
		}
		j->rc = j->fn(w.q, j->arg);
		if (j->rc != QUEUE_OK)
			queue_rollback_savepoint(w.q);
		else if (queue_release(w.q) != QUEUE_OK)
			j->rc = QUEUE_ERR;
	}
	if (ok && queue_commit(w.q) == QUEUE_OK)
		return;
	log_msg("mtad", "queue_error", "transaction failed: %s", queue_errmsg(w.q));
	queue_rollback(w.q);
	for (j = batch; j != NULL; j = j->next)
		j->rc = QUEUE_ERR;
}

/* Wake each waiter of the batch (its own condition: no herd), and run
 * the callbacks of posted jobs. */
static void
writer_finish(struct writer_job *batch)
{
	while (batch != NULL) {
		struct writer_job *j = batch;

		batch = j->next;
		if (j->done != NULL) {
			j->done(j);	/* may free j */
			continue;
		}
		pthread_mutex_lock(&w.lock);
		j->finished = 1;
		pthread_cond_signal(j->wake);
		pthread_mutex_unlock(&w.lock);
	}
}

static void *
writer_main(void *arg)
{
	struct writer_job *batch;

	(void)arg;
	pthread_setname_np(pthread_self(), "mtad-writer");
	pthread_mutex_lock(&w.lock);
	for (;;) {
		while (w.head == NULL && !w.stopping)
			pthread_cond_wait(&w.work, &w.lock);
		if (w.head == NULL)
			break;
		batch = writer_take();
		pthread_mutex_unlock(&w.lock);
		writer_batch(batch);
		writer_finish(batch);
		pthread_mutex_lock(&w.lock);
	}
	w.stopped = 1;
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

int
writer_start(const char *path, char *err, size_t errsize)
{
	if ((w.q = queue_open(path, QUEUE_WRITER, err, errsize)) == NULL)
		return -1;
	w.stopping = w.stopped = 0;
	if (pthread_create(&w.thread, NULL, writer_main, NULL) != 0) {
		(void)str_copy(err, errsize, "cannot start the writer thread");
		queue_close(w.q);
		w.q = NULL;
		return -1;
	}
	w.running = 1;
	return 0;
}

/* Append a job (lock held); 0, or -1 when the writer is stopping. */
static int
writer_enqueue(struct writer_job *job)
{
	job->finished = 0;
	job->next = NULL;
	if (!w.running || w.stopping)
		return -1;
	if (w.tail)
		w.tail->next = job;
	else
		w.head = job;
	w.tail = job;
	pthread_cond_signal(&w.work);
	return 0;
}

int
writer_run(struct writer_job *job)
{
	pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

	job->done = NULL;
	job->wake = &wake;
	pthread_mutex_lock(&w.lock);
	if (writer_enqueue(job) < 0) {
		pthread_mutex_unlock(&w.lock);
		return job->rc = QUEUE_ERR;
	}
	while (!job->finished)
		pthread_cond_wait(&wake, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&wake);
	return job->rc;
}

void
writer_post(struct writer_job *job)
{
	int rc;

	pthread_mutex_lock(&w.lock);
	rc = writer_enqueue(job);
	pthread_mutex_unlock(&w.lock);
	if (rc < 0) {
		job->rc = QUEUE_ERR;
		job->done(job);
	}
}

void
writer_stop(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stopping = 1;
	pthread_cond_signal(&w.work);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	queue_close(w.q);
	w.q = NULL;
	w.running = 0;
}
