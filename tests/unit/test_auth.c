/* test_auth.c -- yescrypt users in a real queue database, and the
 * failed-login limiter. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "limits.h"
#include "queue.h"
#include "test.h"

static void
test_hash(void)
{
	char a[LIM_AUTH_HASH + 1], b[LIM_AUTH_HASH + 1], tiny[8];

	CHECK_INT(auth_hash("secret", a, sizeof a), 0);
	CHECK_INT(auth_hash("secret", b, sizeof b), 0);
	CHECK(strncmp(a, "$y$", 3) == 0);
	CHECK(strcmp(a, b) != 0);		/* fresh salt each time */
	CHECK(strstr(a, "secret") == NULL);
	CHECK_INT(auth_hash("secret", tiny, sizeof tiny), -1);
}

static void
test_check(void)
{
	char path[512], err[256], hash[LIM_AUTH_HASH + 1], domains[256];
	struct queue *q;
	int any = -1;

	snprintf(path, sizeof path, "%s/auth.db", test_tmpdir());
	q = queue_open(path, QUEUE_WRITER, err, sizeof err);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	CHECK_INT(auth_hash("right horse", hash, sizeof hash), 0);
	CHECK_INT(queue_user_add(q, "alice", hash, "example.org,example.com", 1), QUEUE_OK);
	CHECK_INT(queue_user_add(q, "alice", hash, NULL, 1), QUEUE_DUP);
	CHECK_INT(queue_user_add(q, "bob", hash, NULL, 1), QUEUE_OK);
	CHECK_INT(auth_init(path, err, sizeof err), 0);
	CHECK_INT(auth_check("alice", "right horse", domains, sizeof domains, &any), AUTH_OK);
	CHECK_INT(any, 0);
	CHECK_STR(domains, "example.org,example.com");
	CHECK_INT(auth_check("bob", "right horse", domains, sizeof domains, &any), AUTH_OK);
	CHECK_INT(any, 1);
	CHECK_INT(auth_check("alice", "wrong horse", domains, sizeof domains, &any), AUTH_FAIL);
	CHECK_INT(auth_check("carol", "right horse", domains, sizeof domains, &any), AUTH_FAIL);
	CHECK_INT(auth_check("alice", "", domains, sizeof domains, &any), AUTH_FAIL);
	/* a new password, and a removed user, take effect at once */
	CHECK_INT(auth_hash("new one", hash, sizeof hash), 0);
	CHECK_INT(queue_user_passwd(q, "alice", hash, 2), 0);
	CHECK_INT(queue_user_passwd(q, "nobody", hash, 2), 1);
	CHECK_INT(auth_check("alice", "right horse", domains, sizeof domains, &any), AUTH_FAIL);
	CHECK_INT(auth_check("alice", "new one", domains, sizeof domains, &any), AUTH_OK);
	CHECK_INT(queue_user_remove(q, "bob"), 0);
	CHECK_INT(queue_user_remove(q, "bob"), 1);
	CHECK_INT(auth_check("bob", "right horse", domains, sizeof domains, &any), AUTH_FAIL);
	auth_shutdown();
	CHECK_INT(auth_check("alice", "new one", domains, sizeof domains, &any), AUTH_TEMPFAIL);
	queue_close(q);
}

static void
test_limiter(void)
{
	const char *ip = "192.0.2.77";
	unsigned i, delay = 0;
	time_t t = 1000000;

	CHECK_INT(auth_blocked(ip, t), 0);
	for (i = 1; i < LIM_AUTH_FAILURES; i++) {
		delay = auth_failure(ip, t);
		CHECK_INT(delay, i < LIM_AUTH_MAX_DELAY ? i : LIM_AUTH_MAX_DELAY);
		CHECK_INT(auth_blocked(ip, t), 0);
	}
	(void)auth_failure(ip, t);
	CHECK_INT(auth_blocked(ip, t), 1);
	CHECK_INT(auth_blocked("192.0.2.78", t), 0);	/* per address */
	CHECK_INT(auth_blocked(ip, t + LIM_AUTH_PENALTY - 1), 1);
	CHECK_INT(auth_blocked(ip, t + LIM_AUTH_PENALTY), 0);
	/* failures spread beyond the window do not add up */
	for (i = 0; i < 2 * LIM_AUTH_FAILURES; i++)
		(void)auth_failure("192.0.2.79", t + (time_t)i * (LIM_AUTH_WINDOW + 1));
	CHECK_INT(auth_blocked("192.0.2.79", t + (time_t)i * (LIM_AUTH_WINDOW + 1)), 0);
	/* failures age out with the window, not with a success */
	(void)auth_failure("192.0.2.80", t);
	CHECK_INT(auth_failure("192.0.2.80", t + 1), 2);
	CHECK_INT(auth_failure("192.0.2.80", t + 2 + LIM_AUTH_WINDOW), 1);
}

const struct test auth_tests[] = {
	{ "hash", test_hash },
	{ "check", test_check },
	{ "limiter", test_limiter },
	{ NULL, NULL },
};
