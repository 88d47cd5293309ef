/*
 * rate.h -- per-key rate limits (the generic cell rate algorithm: a token
 * bucket of `limit` tokens refilled at limit/period per second, kept as one
 * "theoretical arrival time" per key).
 *
 * A table holds at most `nkeys` keys; when it is full, a key whose bucket
 * is full again (as good as new) is reused, else the one closest to full.
 * Thread-safe.  Time is the caller's (monotonic seconds), so the algorithm
 * is tested without a clock.
 */
#ifndef MTAD_RATE_H
#define MTAD_RATE_H

#include <stddef.h>

struct rate *rate_new(size_t nkeys);
void rate_free(struct rate *r);
/* Take one token for `key`: 0 if allowed, else how many seconds (>= 1)
 * until one is available.  `limit` >= 1 per `period` >= 1 seconds. */
unsigned rate_take(struct rate *r, unsigned long key, unsigned limit, unsigned period,
    double now);

#endif
