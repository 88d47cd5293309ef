/* signer.c -- the keys mtad signs with (see signer.h). */
#include "signer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dkimkey.h"
#include "domain.h"
#include "limits.h"
#include "log.h"
#include "str.h"
#include "xalloc.h"

struct signer_key {
	char domain[LIM_DOMAIN + 1], selector[LIM_DKIM_SELECTOR + 1], algo[16];
	int subdomains;			/* signs for the domain's subdomains too */
	struct dkimkey *key;
};

struct signer_set {
	int refs;
	struct signer_key *keys;
	size_t n, cap, ndomains;
};

static struct {
	pthread_mutex_t lock;
	struct signer_set *cur;
} sg = { PTHREAD_MUTEX_INITIALIZER, NULL };

static void
signer_unref(struct signer_set *s)
{
	size_t i;
	int last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&sg.lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&sg.lock);
	if (!last)
		return;
	for (i = 0; i < s->n; i++)
		dkimkey_free(s->keys[i].key);
	free(s->keys);
	free(s);
}

static void
signer_add(void *ctx, const struct domain_key *k)
{
	struct signer_set *s = ctx;
	struct signer_key *sk;
	char why[256] = "";

	if (k->active != DOMAIN_SIGNS)
		return;
	s->keys = xgrow(s->keys, &s->cap, s->n + 1, sizeof *s->keys);
	sk = &s->keys[s->n];
	memset(sk, 0, sizeof *sk);
	if (str_copy(sk->domain, sizeof sk->domain, k->domain) < 0 ||
	    str_copy(sk->selector, sizeof sk->selector, k->selector) < 0 ||
	    str_copy(sk->algo, sizeof sk->algo, k->algo) < 0 ||
	    (sk->key = dkimkey_load(k->algo, k->private_key, why, sizeof why)) == NULL) {
		/* not fatal: that key does not sign, the others do */
		log_msg(k->domain, "dkim_key_error", "%s: %s", k->selector,
		    why[0] ? why : "too long");
		dkimkey_free(sk->key);
		return;
	}
	sk->subdomains = k->subdomains;
	if (s->n == 0 || strcmp(s->keys[s->n - 1].domain, sk->domain) != 0)
		s->ndomains++;		/* keys come sorted by domain */
	s->n++;
}

int
signer_reload(struct queue *q, char *err, size_t errsize)
{
	struct signer_set *s = xcalloc(1, sizeof *s), *old;

	s->refs = 1;
	if (domain_keys(q, NULL, 1, signer_add, s) < 0) {
		(void)str_copy(err, errsize, queue_errmsg(q));
		signer_unref(s);
		return -1;
	}
	pthread_mutex_lock(&sg.lock);
	old = sg.cur;
	sg.cur = s;
	pthread_mutex_unlock(&sg.lock);
	signer_unref(old);
	return 0;
}

static struct signer_set *
signer_take(void)
{
	struct signer_set *s;

	pthread_mutex_lock(&sg.lock);
	if ((s = sg.cur) != NULL)
		s->refs++;
	pthread_mutex_unlock(&sg.lock);
	return s;
}

size_t
signer_domains(void)
{
	struct signer_set *s = signer_take();
	size_t n = s ? s->ndomains : 0;

	signer_unref(s);
	return n;
}

/* The sender domain that signs for `from`: itself, else its nearest
 * parent that signs for subdomains; NULL when none. */
static const char *
signer_owner(const struct signer_set *s, const char *from)
{
	const char *d;
	size_t i;

	for (d = from; d != NULL; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL)
		for (i = 0; i < s->n; i++)
			if (strcmp(s->keys[i].domain, d) == 0 && (d == from || s->keys[i].subdomains))
				return s->keys[i].domain;
	return NULL;
}

/* Every active key of the domain that owns `from` signs msg; the fields
 * go into sigs; the signing domain (d=) into `from`. */
static int
signer_fields(struct signer_set *s, const struct buf *msg, char *from, size_t size,
    time_t now, struct buf *sigs)
{
	const char *domain = signer_owner(s, from);
	size_t i;
	int used = 0;

	if (domain == NULL)
		return 0;
	for (i = 0; i < s->n; i++) {
		struct signer_key *k = &s->keys[i];
		struct dkim_signer ds = { k->domain, k->selector, k->algo, dkimkey_sign, k->key };

		if (strcmp(k->domain, domain) != 0)
			continue;
		if (dkim_sign(msg->data, msg->len, &ds, now, sigs) < 0)
			return -1;
		used = 1;
	}
	if (domain != from)
		(void)str_copy(from, size, domain);	/* d= is the parent */
	return used;
}

int
signer_sign(struct buf *msg, time_t now, char *domain, size_t size)
{
	struct signer_set *s = signer_take();
	struct buf sigs;
	int rc = 0;

	domain[0] = '\0';
	if (s == NULL || s->n == 0 || msg->data == NULL ||	/* nothing to sign with */
	    dkim_from_domain(msg->data, msg->len, domain, size) < 0) {
		signer_unref(s);
		return 0;
	}
	buf_init(&sigs, 64 * 1024);
	rc = signer_fields(s, msg, domain, size, now, &sigs);
	if (rc > 0 && buf_insert(msg, 0, sigs.data, sigs.len) < 0)
		rc = -1;
	buf_free(&sigs);
	signer_unref(s);
	return rc;
}

void
signer_shutdown(void)
{
	struct signer_set *s;

	pthread_mutex_lock(&sg.lock);
	s = sg.cur;
	sg.cur = NULL;
	pthread_mutex_unlock(&sg.lock);
	signer_unref(s);
}
