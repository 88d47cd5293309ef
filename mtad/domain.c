/* domain.c -- sender domains and DKIM keys in the database (domain.h). */
#include "domain.h"

#include <sqlite3.h>
#include <string.h>

#include "str.h"


static sqlite3_stmt *
domain_prep(struct queue *q, const char *sql)
{
	sqlite3_stmt *st;

	return sqlite3_prepare_v2(queue_sqlite(q), sql, -1, &st, NULL) == SQLITE_OK ? st : NULL;
}

/* Step a change: the rows changed, -2 for a constraint, -1 on error. */
static int
domain_done(struct queue *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -2;
	return rc == SQLITE_DONE ? sqlite3_changes(queue_sqlite(q)) : -1;
}

int
domain_exists(struct queue *q, const char *name)
{
	sqlite3_stmt *st = domain_prep(q, "SELECT 1 FROM domains WHERE name = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
domain_insert_key(struct queue *q, const struct domain_key *k, time_t now)
{
	sqlite3_stmt *st = domain_prep(q, "INSERT INTO dkim_keys (domain, selector, algorithm,"
	    " bits, private_key, public_key, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, k->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->selector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->algo, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, k->bits);
	sqlite3_bind_text(st, 5, k->private_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, k->public_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, k->active);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)now);
	switch (domain_done(q, st)) {
	case 1:
		return 0;
	case -2:
		return 1;	/* the selector is taken */
	default:
		return -1;
	}
}

static long long
domain_count_keys(struct queue *q, const char *name)
{
	/* pairs: each has one RSA key */
	sqlite3_stmt *st = domain_prep(q, "SELECT count(*) FROM dkim_keys WHERE domain = ?"
	    " AND algorithm = 'rsa-sha256'");
	long long n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int
domain_add(struct queue *q, const char *name, int new, const struct domain_key *keys,
    size_t n, time_t now)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	if ((rc = domain_exists(q, name)) < 0)
		return -1;
	if (rc == new)			/* exists when new, or missing when not */
		return 1;
	if (new) {
		if ((st = domain_prep(q, "INSERT INTO domains (name, created_at) VALUES (?, ?)"))
		    == NULL)
			return -1;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
		if (domain_done(q, st) != 1)
			return -1;
	}
	if (!new && domain_count_keys(q, name) >= LIM_DKIM_KEYS)
		return 2;
	for (i = 0; i < n; i++)
		if ((rc = domain_insert_key(q, &keys[i], now)) != 0)
			return rc;
	return 0;
}

int
domain_set_subdomains(struct queue *q, const char *name, int on)
{
	sqlite3_stmt *st = domain_prep(q, "UPDATE domains SET subdomains = ? WHERE name = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, on != 0);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = domain_done(q, st);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

int
domain_remove(struct queue *q, const char *name)
{
	sqlite3_stmt *st = domain_prep(q, "DELETE FROM domains WHERE name = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = domain_done(q, st);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

/* Is `selector` of `name` a key of that algorithm? */
static int
domain_algo_is(struct queue *q, const char *name, const char *selector, const char *algo)
{
	sqlite3_stmt *st = domain_prep(q, "SELECT 1 FROM dkim_keys WHERE domain = ? AND"
	    " selector = ? AND algorithm = ?");
	int rc;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, selector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, algo, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc;
}

int
domain_activate(struct queue *q, const char *name, const char *selector)
{
	/* the pair: "sel" and "sel-ed25519" */
	char base[LIM_DKIM_SELECTOR + 1];
	size_t n = strlen(selector);
	sqlite3_stmt *st;
	int rc;

	/* either key of a pair names it: "sel", or its Ed25519 key "sel-ed25519" */
	if (n > 8 && strcmp(selector + n - 8, "-ed25519") == 0 && n - 8 < sizeof base &&
	    domain_algo_is(q, name, selector, "ed25519-sha256")) {
		memcpy(base, selector, n - 8);
		base[n - 8] = '\0';
		selector = base;
	}
	st = domain_prep(q, "UPDATE dkim_keys SET active = CASE WHEN selector IN"
	    " (?2, ?2 || '-ed25519') THEN 1 WHEN active = 1 THEN 2 ELSE active END"
	    " WHERE domain = ?1 AND EXISTS (SELECT 1 FROM dkim_keys WHERE"
	    " domain = ?1 AND selector = ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, selector, -1, SQLITE_STATIC);
	rc = domain_done(q, st);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

const char *
domain_state_name(int active)
{
	return active == DOMAIN_SIGNS ? "signs" : active == DOMAIN_RETIRED ? "retired" :
	    "waiting";
}

int
domain_list(struct queue *q, void (*cb)(void *ctx, const char *name, time_t created),
    void *ctx)
{
	sqlite3_stmt *st = domain_prep(q, "SELECT name, created_at FROM domains ORDER BY name");
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0),
		    (time_t)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
domain_keys(struct queue *q, const char *name, int with_private,
    void (*cb)(void *ctx, const struct domain_key *k), void *ctx)
{
	sqlite3_stmt *st = domain_prep(q, "SELECT k.domain, k.selector, k.algorithm, k.bits,"
	    " k.public_key, k.private_key, k.active, k.created_at, d.subdomains FROM dkim_keys k"
	    " JOIN domains d ON d.name = k.domain WHERE ?1 IS NULL OR k.domain = ?1"
	    " ORDER BY k.domain, k.id");
	struct domain_key k;
	int rc;

	if (st == NULL)
		return -1;
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		k.domain = (const char *)sqlite3_column_text(st, 0);
		k.selector = (const char *)sqlite3_column_text(st, 1);
		k.algo = (const char *)sqlite3_column_text(st, 2);
		k.bits = sqlite3_column_int(st, 3);
		k.public_key = (const char *)sqlite3_column_text(st, 4);
		k.private_key = with_private ? (const char *)sqlite3_column_text(st, 5) : NULL;
		k.active = sqlite3_column_int(st, 6);
		k.created_at = (time_t)sqlite3_column_int64(st, 7);
		k.subdomains = sqlite3_column_int(st, 8);
		cb(ctx, &k);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
domain_dkim_txt(const struct domain_key *k, char *out, size_t size)
{
	return str_fmt(out, size, "v=DKIM1; k=%s; p=%s",
	    strcmp(k->algo, "ed25519-sha256") == 0 ? "ed25519" : "rsa", k->public_key);
}

int
domain_txt_strings(const char *value, struct buf *out)
{
	size_t n = strlen(value), i;

	for (i = 0; i < n || i == 0; i += 255)
		if (buf_printf(out, "%s\"%.*s\"", i ? " " : "", (int)(n - i < 255 ? n - i : 255),
		    value + i) < 0)
			return -1;
	return 0;
}
