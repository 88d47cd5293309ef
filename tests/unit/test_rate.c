/* test_rate.c -- the per-key rate limit (GCRA token bucket). */
#include "rate.h"
#include "test.h"

/* A full bucket allows `limit` at once, then one per period/limit. */
static void
test_burst_then_refill(void)
{
	struct rate *r = rate_new(8);
	int i;

	for (i = 0; i < 10; i++)
		CHECK_INT(rate_take(r, 33, 10, 60, 1000.0), 0);
	CHECK_INT(rate_take(r, 33, 10, 60, 1000.0), 6);	/* one token every 6 s */
	CHECK_INT(rate_take(r, 33, 10, 60, 1003.0), 3);
	CHECK_INT(rate_take(r, 33, 10, 60, 1006.0), 0);
	CHECK_INT(rate_take(r, 33, 10, 60, 1006.0), 6);
	CHECK_INT(rate_take(r, 33, 10, 60, 1011.5), 1);	/* rounded up */
	/* other keys are independent */
	CHECK_INT(rate_take(r, 34, 10, 60, 1006.0), 0);
	/* after a full period the whole burst is back */
	for (i = 0; i < 10; i++)
		CHECK_INT(rate_take(r, 33, 10, 60, 1200.0), 0);
	CHECK(rate_take(r, 33, 10, 60, 1200.0) > 0);
	rate_free(r);
}

/* A full table reuses the slot nearest a full bucket, never a busy one
 * while an idle one exists. */
static void
test_table_full(void)
{
	struct rate *r = rate_new(2);

	CHECK_INT(rate_take(r, 1, 1, 3600, 0.0), 0);
	CHECK_INT(rate_take(r, 2, 1, 60, 0.0), 0);
	CHECK(rate_take(r, 1, 1, 3600, 1.0) > 0);
	/* key 3 takes key 2's slot (full again at 60), not key 1's (3600) */
	CHECK_INT(rate_take(r, 3, 1, 60, 100.0), 0);
	CHECK(rate_take(r, 1, 1, 3600, 100.0) > 0);
	CHECK_INT(rate_take(r, 1, 1, 3600, 100.0), 3500);
	rate_free(r);
}

const struct test rate_tests[] = {
	{ "burst_then_refill", test_burst_then_refill },
	{ "table_full", test_table_full },
	{ NULL, NULL },
};
