/* rate.c -- per-key rate limits (see rate.h). */
#include "rate.h"

#include <pthread.h>
#include <stdlib.h>

#include "xalloc.h"

struct rate_key {
	unsigned long key;
	double tat;		/* when the bucket is full again; 0: unused */
};

struct rate {
	pthread_mutex_t lock;
	struct rate_key *keys;
	size_t n, cap;
};

struct rate *
rate_new(size_t nkeys)
{
	struct rate *r = xcalloc(1, sizeof *r);

	pthread_mutex_init(&r->lock, NULL);
	r->keys = xcalloc(nkeys ? nkeys : 1, sizeof *r->keys);
	r->cap = nkeys ? nkeys : 1;
	return r;
}

void
rate_free(struct rate *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->keys);
	free(r);
}

/* The key's slot: found, a free one, or the one nearest a full bucket. */
static struct rate_key *
rate_slot(struct rate *r, unsigned long key, double now)
{
	struct rate_key *best = NULL;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->keys[i].key == key)
			return &r->keys[i];
	if (r->n < r->cap) {
		best = &r->keys[r->n++];
	} else {
		for (i = 0; i < r->n; i++)
			if (best == NULL || r->keys[i].tat < best->tat)
				best = &r->keys[i];
	}
	best->key = key;
	best->tat = now;
	return best;
}

unsigned
rate_take(struct rate *r, unsigned long key, unsigned limit, unsigned period, double now)
{
	double t = (double)period / (limit ? limit : 1), tat, wait;
	struct rate_key *k;

	pthread_mutex_lock(&r->lock);
	k = rate_slot(r, key, now);
	tat = k->tat > now ? k->tat : now;
	wait = tat + t - now - (double)period;
	if (wait > 0) {
		unsigned secs = (unsigned)wait;

		pthread_mutex_unlock(&r->lock);
		return secs < wait ? secs + 1 : secs;	/* rounded up, >= 1 */
	}
	k->tat = tat + t;
	pthread_mutex_unlock(&r->lock);
	return 0;
}
