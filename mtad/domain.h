/*
 * domain.h -- sender domains and their DKIM keys, in the queue's database
 * (tables domains and dkim_keys, schema.sql migration 5), and the DNS
 * records to publish for them.
 *
 * A domain has keys in pairs made together (RSA, and Ed25519 unless
 * refused), each with its own selector: SEL for RSA, SEL-ed25519 for
 * Ed25519 (RFC 8463 needs distinct selectors).  The first pair signs at
 * once; `domain key` adds a pair that waits (published, not signing)
 * until `domain activate` makes it the one that signs.
 */
#ifndef MTAD_DOMAIN_H
#define MTAD_DOMAIN_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "limits.h"
#include "queue.h"

/* A key's state: signs now; made by `domain key`, waiting for `domain
 * activate`; replaced by an activation (keep it published while mail
 * signed with it may still be delivered). */
enum { DOMAIN_WAITING = 0, DOMAIN_SIGNS = 1, DOMAIN_RETIRED = 2 };
const char *domain_state_name(int active);

struct domain_key {
	const char *domain, *selector, *algo;	/* algo: rsa-sha256, ed25519-sha256 */
	const char *public_key;			/* base64 */
	const char *private_key;		/* PEM; NULL unless asked for */
	int bits, active;		/* DOMAIN_SIGNS, _WAITING, _RETIRED */
	int subdomains;			/* its domain signs for its subdomains */
	time_t created_at;
};

/* Add a domain with its keys, or (new == 0) keys to an existing one.
 * 0, 1 (the domain exists / does not exist; or a selector is taken), 2
 * (it has LIM_DKIM_KEYS pairs already), -1. */
int domain_add(struct queue *q, const char *name, int new, const struct domain_key *keys,
    size_t n, time_t now);
/* Sign, or stop signing, for the subdomains too: 0, 1 no such domain, -1. */
int domain_set_subdomains(struct queue *q, const char *name, int on);
/* 0, 1 no such domain, -1. */
int domain_remove(struct queue *q, const char *name);
/* Make `selector`'s pair the one that signs (the pair that signed
 * retires): 0, 1 no such selector, -1. */
int domain_activate(struct queue *q, const char *name, const char *selector);
/* Each domain: cb(ctx, name, created_at).  0 or -1. */
int domain_list(struct queue *q, void (*cb)(void *ctx, const char *name, time_t created),
    void *ctx);
/* 1 when the domain exists, 0 when not, -1 on error. */
int domain_exists(struct queue *q, const char *name);
/* The keys of one domain (NULL: of all), oldest first; private keys only
 * with_private (for signing).  0 or -1. */
int domain_keys(struct queue *q, const char *name, int with_private,
    void (*cb)(void *ctx, const struct domain_key *k), void *ctx);

/* The TXT value of a key's record: "v=DKIM1; k=rsa; p=...". */
int domain_dkim_txt(const struct domain_key *k, char *out, size_t size);
/* A TXT value as zone-file character-strings of at most 255 bytes each:
 * "\"...\" \"...\"" appended to out. */
int domain_txt_strings(const char *value, struct buf *out);

#endif
