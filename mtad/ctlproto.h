/*
 * ctlproto.h -- the control protocol, version 1, as pure functions (no
 * socket, no clock, no database): a request line in, a checked request
 * out; a log line in, a monitor event out.  control.c serves them; the
 * fuzzer and the unit tests drive them directly.
 *
 * A request is one JSON object on one line:
 *
 *   {"v":1, "cmd":"queue.list", "state":"deferred", "limit":50}
 *
 * "v" may be left out (it means 1); any other version is refused.  Members
 * a command does not use are ignored; members it uses are checked:
 *
 *   id          a queue ID (queue.show needs one)
 *   domain      a domain name, U-labels or A-labels (kept as A-labels)
 *   sender      an envelope sender ("" for <>)
 *   state       queued | deferred | held | sending
 *   older_than  seconds (received longer ago than that)
 *   since       seconds back from now (bounces, stats)
 *   after       a listing cursor: the last "rcpt_id" seen
 *   limit       1 .. LIM_LIST_PAGE (default 100)
 *   offset      rows to skip first (queue.list, bounces)
 *   sort, desc  queue.list order: id (default), age, next, attempts, state,
 *               sender, recipient, domain; desc true for the reverse
 *   search      text in the queue ID, sender or recipient (ASCII letters in
 *               any case; the part after an "@", or the whole text, also
 *               in its other IDN form: "bücher" finds "xn--bcher-kva")
 *   rcpt_ids    a list of "rcpt_id"s: those recipients only
 *   class       bounces: hard, soft, policy, expired or async
 *   by          queue.domains: "recipient" (default) or "sender"
 *   step        stats: also a "series" of deliveries in buckets of step
 *               seconds since "since" (which it needs)
 *   selector    domain.add, domain.key, domain.activate: a DKIM selector
 *               (one label: letters, digits, '-'); the Ed25519 key of a
 *               pair is "SELECTOR-ed25519"
 *   rsa_bits    domain.add, domain.key: 2048 (default), 3072 or 4096
 *   ed25519     domain.add, domain.key: false for an RSA key only
 *   subdomains  domain.add (default false), domain.subdomains (needed):
 *               sign the mail of its subdomains too
 *
 * domain.add, .remove, .dns, .key, .activate, .check and .subdomains
 * need "domain";
 * domain.activate a "selector" too.
 *   all         true: everything (retry, hold, release, purge)
 *   name, hash, domains   user.add / user.passwd / user.remove: a user
 *               name, a crypt(3) hash made by the client, and null or a
 *               list of sender domains
 *
 * retry, hold, release and purge must say which mail: an id, a domain, a
 * sender, a state, older_than, rcpt_ids, or all.
 */
#ifndef MTAD_CTLPROTO_H
#define MTAD_CTLPROTO_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "limits.h"
#include "queue.h"

enum ctl_cmd {
	CTL_STATUS, CTL_QUEUE_LIST, CTL_QUEUE_SHOW, CTL_RETRY, CTL_HOLD, CTL_RELEASE,
	CTL_PURGE, CTL_BOUNCES, CTL_STATS, CTL_USER_LIST, CTL_USER_ADD, CTL_USER_PASSWD,
	CTL_USER_REMOVE, CTL_RELOAD, CTL_MONITOR, CTL_QUEUE_COUNT, CTL_QUEUE_DOMAINS,
	CTL_DOMAIN_ADD, CTL_DOMAIN_LIST, CTL_DOMAIN_REMOVE, CTL_DOMAIN_DNS, CTL_DOMAIN_KEY,
	CTL_DOMAIN_ACTIVATE, CTL_DOMAIN_CHECK, CTL_DOMAIN_SUBDOMAINS,
};

struct ctl_request {
	enum ctl_cmd cmd;
	struct queue_select sel;	/* its strings point into this struct */
	int all;
	time_t since;			/* a time; 0: not given (everything) */
	char queue_id[LIM_QUEUE_ID + 1];
	char domain[LIM_DOMAIN + 1];
	char sender[LIM_MAILBOX + 1];
	char name[LIM_AUTH_USER + 1];
	char hash[LIM_AUTH_HASH + 1];
	char domains[LIM_AUTH_DOMAINS + 1];	/* A-labels, comma-separated */
	int any_domain;			/* user.add without "domains" */
	char search[LIM_MAILBOX + 1];	/* lower case */
	char search_alt[LIM_MAILBOX * 4 + 1];	/* its domain in the other IDN form */
	long long rcpt_ids[LIM_CONTROL_RCPTS];
	char bclass[16];		/* bounces: a class, or "" */
	int by_sender;			/* queue.domains */
	int step;			/* stats: series bucket, 0: none */
	char selector[LIM_DKIM_SELECTOR + 1];	/* domain.*: "" for the default */
	int rsa_bits;			/* domain.add, domain.key: 2048 (default), 3072, 4096 */
	int ed25519;			/* and an Ed25519 key (default true) */
	int subdomains;			/* domain.add, domain.subdomains */
};

/*
 * One request line (without its LF); `now` turns older_than and since into
 * times.  0, or -1 with the reply's error code ("usage" or "unknown") in
 * *code and its text in why.
 */
int ctlproto_parse(const char *line, size_t len, time_t now, struct ctl_request *r,
    const char **code, char *why, size_t whysize);
/* "queue.list" for CTL_QUEUE_LIST, ... */
const char *ctlproto_cmd_name(enum ctl_cmd cmd);
/* A log line (log.h's format: "TIME ID key=value ...") as a monitor
 * event {"at", "id", "event", ...}; never NULL. */
json_t *ctlproto_event(const char *line);
/* A JSON string of n bytes; bytes that are not UTF-8 become '?'. */
json_t *ctlproto_strn(const char *s, size_t n);

#endif
