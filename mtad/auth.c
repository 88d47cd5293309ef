/* auth.c -- users with yescrypt hashes, and the limiter (see auth.h). */
#include "auth.h"

#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "log.h"
#include "queue.h"
#include "str.h"
#include "xalloc.h"

static struct {
	pthread_mutex_t lock;		/* the connection, the limiter table */
	struct queue *q;
	/* A yescrypt setting ("$y$j9T$salt"): a password checked for an
	 * unknown user is hashed with it, as long as for a real one. */
	char dummy[LIM_AUTH_HASH + 1];
} au = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct auth_client {
	char addr[64];
	unsigned failures;
	time_t window_start, blocked_until, seen;
};

static struct auth_client auth_clients[LIM_AUTH_CLIENTS];

int
auth_hash(const char *password, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *h;
	int rc = -1;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) != NULL &&
	    (h = crypt_r(password, setting, cd)) != NULL && h[0] == '$')
		rc = str_copy(out, size, h);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

int
auth_init(const char *db_path, char *err, size_t errsize)
{
	if ((au.q = queue_open(db_path, QUEUE_READER, err, errsize)) == NULL)
		return -1;
	/* Only the setting: a hash would cost yescrypt's 16 MiB and a
	 * twentieth of a second at every start. */
	_Static_assert(sizeof au.dummy >= CRYPT_GENSALT_OUTPUT_SIZE, "dummy too small");
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, au.dummy, (int)sizeof au.dummy) == NULL) {
		(void)str_copy(err, errsize, "libxcrypt cannot make yescrypt hashes");
		queue_close(au.q);
		au.q = NULL;
		return -1;
	}
	return 0;
}

void
auth_shutdown(void)
{
	queue_close(au.q);
	au.q = NULL;
}

/* Does `password` hash to `hash`?  The comparison takes the same time
 * wherever the strings differ. */
static int
auth_verify(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *h = crypt_r(password, hash, cd);
	size_t n = strlen(hash), i;
	unsigned char diff = 0;

	if (h == NULL || h[0] != '$' || strlen(h) != n)
		diff = 1;
	for (i = 0; h != NULL && i < n && h[i]; i++)
		diff |= (unsigned char)(h[i] ^ hash[i]);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return diff == 0;
}

enum auth_result
auth_check(const char *user, const char *password, char *domains, size_t dsize, int *any)
{
	struct queue_user u;
	int rc, ok;

	pthread_mutex_lock(&au.lock);
	rc = au.q ? queue_user_get(au.q, user, &u) : -1;
	pthread_mutex_unlock(&au.lock);
	if (rc < 0)
		return AUTH_TEMPFAIL;
	/* An unknown user costs the same work as a known one. */
	ok = auth_verify(password, rc == 0 ? u.hash : au.dummy) && rc == 0;
	if (ok) {
		*any = u.any_domain;
		(void)str_copy(domains, dsize, u.domains);
	}
	explicit_bzero(&u, sizeof u);
	return ok ? AUTH_OK : AUTH_FAIL;
}

/* ---- limiter (au.lock held) ---- */

static struct auth_client *
auth_client(const char *addr, time_t now, int create)
{
	struct auth_client *oldest = &auth_clients[0];
	size_t i;

	for (i = 0; i < LIM_AUTH_CLIENTS; i++) {
		if (strcmp(auth_clients[i].addr, addr) == 0)
			return &auth_clients[i];
		if (auth_clients[i].seen < oldest->seen)
			oldest = &auth_clients[i];
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof *oldest);
	(void)str_copy(oldest->addr, sizeof oldest->addr, addr);
	oldest->seen = now;
	return oldest;
}

int
auth_blocked(const char *addr, time_t now)
{
	struct auth_client *c;
	int blocked;

	pthread_mutex_lock(&au.lock);
	c = auth_client(addr, now, 0);
	blocked = c != NULL && c->blocked_until > now;
	pthread_mutex_unlock(&au.lock);
	return blocked;
}

unsigned
auth_failure(const char *addr, time_t now)
{
	struct auth_client *c;
	unsigned n;

	pthread_mutex_lock(&au.lock);
	c = auth_client(addr, now, 1);
	c->seen = now;
	if (now - c->window_start > LIM_AUTH_WINDOW) {
		c->window_start = now;
		c->failures = 0;
	}
	n = ++c->failures;
	if (n >= LIM_AUTH_FAILURES) {
		c->blocked_until = now + LIM_AUTH_PENALTY;
		log_msg("mtad", "auth_blocked", "%s: %u failed logins; AUTH refused for %ds",
		    addr, n, LIM_AUTH_PENALTY);
	}
	pthread_mutex_unlock(&au.lock);
	return n < LIM_AUTH_MAX_DELAY ? n : LIM_AUTH_MAX_DELAY;
}
