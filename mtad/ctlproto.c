/* ctlproto.c -- the control protocol's requests and events (see ctlproto.h). */
#include "ctlproto.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "str.h"
#include "xalloc.h"

static const char *const ctl_names[] = {
	[CTL_STATUS] = "status", [CTL_QUEUE_LIST] = "queue.list",
	[CTL_QUEUE_SHOW] = "queue.show", [CTL_RETRY] = "queue.retry",
	[CTL_HOLD] = "queue.hold", [CTL_RELEASE] = "queue.release",
	[CTL_PURGE] = "queue.purge", [CTL_BOUNCES] = "bounces", [CTL_STATS] = "stats",
	[CTL_USER_LIST] = "user.list", [CTL_USER_ADD] = "user.add",
	[CTL_USER_PASSWD] = "user.passwd", [CTL_USER_REMOVE] = "user.remove",
	[CTL_RELOAD] = "reload", [CTL_MONITOR] = "monitor",
	[CTL_QUEUE_COUNT] = "queue.count", [CTL_QUEUE_DOMAINS] = "queue.domains",
	[CTL_DOMAIN_ADD] = "domain.add", [CTL_DOMAIN_LIST] = "domain.list",
	[CTL_DOMAIN_REMOVE] = "domain.remove", [CTL_DOMAIN_DNS] = "domain.dns",
	[CTL_DOMAIN_KEY] = "domain.key", [CTL_DOMAIN_ACTIVATE] = "domain.activate",
	[CTL_DOMAIN_CHECK] = "domain.check", [CTL_DOMAIN_SUBDOMAINS] = "domain.subdomains",
};
#define CTL_NCMDS (sizeof ctl_names / sizeof ctl_names[0])

const char *
ctlproto_cmd_name(enum ctl_cmd cmd)
{
	return (size_t)cmd < CTL_NCMDS ? ctl_names[cmd] : "?";
}

json_t *
ctlproto_strn(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *copy;
	size_t i;

	if (j != NULL)
		return j;
	copy = xmemdup(s, n + 1);
	copy[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)copy[i] >= 0x80 || copy[i] == '\0')
			copy[i] = '?';
	j = json_stringn(copy, n);
	free(copy);
	return j ? j : json_string("");
}

/* ---- requests ---- */

static int
ctl_is_queue_id(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= LIM_QUEUE_ID && strspn(s, "0123456789abcdefghjkmnpqrstvwxyz") == n;
}

/* A member that must be a string of at most size - 1 bytes, into out;
 * absent: 0 and out untouched; wrong: -1. */
static int
ctl_string(json_t *req, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

/* A member that must be an integer in [lo, hi]; absent: 0; wrong: -1. */
static int
ctl_int(json_t *req, const char *key, long long lo, long long hi, long long *out)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 1;
}

/* id, domain, sender, state into r->sel; NULL or why not. */
static const char *
ctl_which(json_t *req, struct ctl_request *r)
{
	static const char *const states[] = { "queued", "deferred", "held", "sending" };
	char state[16] = "", domain[LIM_DOMAIN + 1];
	int rc;
	size_t i;

	if ((rc = ctl_string(req, "id", r->queue_id, sizeof r->queue_id)) < 0 ||
	    (rc > 0 && !ctl_is_queue_id(r->queue_id)))
		return "id: not a queue ID";
	r->sel.queue_id = rc > 0 ? r->queue_id : NULL;
	if ((rc = ctl_string(req, "domain", domain, sizeof domain)) < 0 ||
	    (rc > 0 && addr_domain_to_ascii(domain, r->domain, sizeof r->domain) != ADDR_OK))
		return "domain: not a domain name";
	r->sel.domain = rc > 0 ? r->domain : NULL;
	if ((rc = ctl_string(req, "sender", r->sender, sizeof r->sender)) < 0)
		return "sender: an address, or \"\" for <>";
	r->sel.sender = rc > 0 ? r->sender : NULL;
	if ((rc = ctl_string(req, "state", state, sizeof state)) < 0)
		return "state: one of queued, deferred, held, sending";
	for (i = 0; rc > 0 && i < 4; i++)
		if (strcmp(state, states[i]) == 0)
			r->sel.state = states[i];
	if (rc > 0 && r->sel.state == NULL)
		return "state: one of queued, deferred, held, sending";
	return NULL;
}

/* The other IDN form of a search: its part after the last "@" (or all of
 * it) in A-labels when it is Unicode, in U-labels when it holds "xn--";
 * 0, or -1 when there is none. */
static int
ctl_search_alt(const char *s, char *out, size_t size)
{
	const char *at = strrchr(s, '@'), *dom = at ? at + 1 : s;
	char conv[LIM_MAILBOX * 4 + 1];
	int ascii = 1;
	size_t i;

	for (i = 0; dom[i]; i++)
		ascii &= (unsigned char)dom[i] < 0x80;
	if (*dom == '\0' || (ascii && strstr(dom, "xn--") == NULL) ||
	    (ascii ? addr_domain_to_unicode(dom, conv, sizeof conv) :
	    addr_domain_to_ascii(dom, conv, sizeof conv)) != ADDR_OK ||
	    strcmp(conv, dom) == 0)
		return -1;
	return str_fmt(out, size, "%.*s%s", (int)(dom - s), s, conv);
}

/* search, rcpt_ids: the rest of the selection; NULL or why not. */
static const char *
ctl_narrow(json_t *req, struct ctl_request *r)
{
	json_t *ids = json_object_get(req, "rcpt_ids");
	size_t i;
	int rc;

	if ((rc = ctl_string(req, "search", r->search, sizeof r->search)) < 0)
		return "search: a string of at most 320 bytes";
	str_lower(r->search);
	r->sel.search = rc > 0 && r->search[0] ? r->search : NULL;
	if (r->sel.search != NULL && ctl_search_alt(r->search, r->search_alt,
	    sizeof r->search_alt) == 0)
		r->sel.search_alt = r->search_alt;
	if (ids == NULL)
		return NULL;
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > LIM_CONTROL_RCPTS)
		return "rcpt_ids: a list of 1 to 1000 rcpt_ids";
	for (i = 0; i < json_array_size(ids); i++) {
		json_t *v = json_array_get(ids, i);

		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return "rcpt_ids: a list of 1 to 1000 rcpt_ids";
		r->rcpt_ids[i] = json_integer_value(v);
	}
	r->sel.rcpt_ids = r->rcpt_ids;
	r->sel.nrcpt_ids = json_array_size(ids);
	return NULL;
}

/* The index of word in words[n], or n. */
static size_t
ctl_word(const char *word, const char *const *words, size_t n)
{
	size_t i;

	for (i = 0; i < n && strcmp(word, words[i]) != 0; i++)
		;
	return i;
}

/* sort, desc, offset (listings), class, by, step; NULL or why not. */
static const char *
ctl_view(json_t *req, struct ctl_request *r)
{
	static const char *const sorts[] = { "id", "age", "next", "attempts", "state",
		"sender", "recipient", "domain" };
	static const char *const classes[] = { "hard", "soft", "policy", "expired", "async" };
	char word[16] = "";
	long long n = 0;
	json_t *desc = json_object_get(req, "desc");
	size_t i;
	int rc;

	if ((rc = ctl_string(req, "sort", word, sizeof word)) < 0 ||
	    (rc > 0 && (i = ctl_word(word, sorts, 8)) >= 8))
		return "sort: id, age, next, attempts, state, sender, recipient or domain";
	r->sel.sort = rc > 0 ? (enum queue_sort)i : QS_ID;
	if (desc != NULL && !json_is_boolean(desc))
		return "desc: true or false";
	r->sel.desc = json_is_true(desc);
	if (ctl_int(req, "offset", 0, LIM_LIST_OFFSET, &n) < 0)
		return "offset: 0 to 100000000";
	r->sel.offset = n;
	if ((rc = ctl_string(req, "class", r->bclass, sizeof r->bclass)) < 0 ||
	    (rc > 0 && ctl_word(r->bclass, classes, 5) >= 5))
		return "class: hard, soft, policy, expired or async";
	if ((rc = ctl_string(req, "by", word, sizeof word)) < 0 || (rc > 0 &&
	    strcmp(word, "sender") != 0 && strcmp(word, "recipient") != 0))
		return "by: recipient or sender";
	r->by_sender = rc > 0 && strcmp(word, "sender") == 0;
	if ((n = 0, ctl_int(req, "step", 1, 100LL * 365 * 86400, &n)) < 0)
		return "step: seconds";
	r->step = (int)(n > INT_MAX ? INT_MAX : n);
	return NULL;
}

/* The selection and paging members; NULL or why they are wrong. */
static const char *
ctl_select(json_t *req, time_t now, struct ctl_request *r)
{
	const char *why = ctl_which(req, r);
	long long n = 100;
	json_t *all;

	if (why != NULL || (why = ctl_narrow(req, r)) != NULL || (why = ctl_view(req, r)) != NULL)
		return why;
	if (ctl_int(req, "limit", 1, LIM_LIST_PAGE, &n) < 0)
		return "limit: 1 to 10000";
	r->sel.limit = (int)n;
	n = 0;
	if (ctl_int(req, "after", 0, LLONG_MAX, &n) < 0)
		return "after: a rcpt_id";
	r->sel.after = n;
	if ((n = 0, ctl_int(req, "older_than", 0, 100LL * 365 * 86400, &n)) < 0)
		return "older_than: seconds";
	r->sel.older_than = json_object_get(req, "older_than") ? now - (time_t)n : 0;
	if ((n = 0, ctl_int(req, "since", 0, 100LL * 365 * 86400, &n)) < 0)
		return "since: seconds";
	r->since = json_object_get(req, "since") ? now - (time_t)n : 0;
	if (r->step > 0 && (r->since == 0 || n / r->step >= LIM_STATS_BUCKETS))
		return "step: needs since, and at most 1440 buckets in it";
	if ((all = json_object_get(req, "all")) != NULL && !json_is_boolean(all))
		return "all: true or false";
	r->all = json_is_true(all);
	return NULL;
}

/* "domains": null or a list of names, into comma-separated A-labels. */
static const char *
ctl_user_domains(json_t *v, struct ctl_request *r)
{
	char one[LIM_DOMAIN + 1];
	size_t i, used = 0;

	r->any_domain = v == NULL || json_is_null(v);
	if (r->any_domain)
		return NULL;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return "domains: null or a list of domain names";
	for (i = 0; i < json_array_size(v); i++) {
		json_t *d = json_array_get(v, i);

		if (!json_is_string(d) || addr_domain_to_ascii(json_string_value(d), one,
		    sizeof one) != ADDR_OK)
			return "domains: not a domain name";
		if (str_fmt(r->domains + used, sizeof r->domains - used, "%s%s",
		    used ? "," : "", one) < 0)
			return "domains: too many";
		used = strlen(r->domains);
	}
	return NULL;
}

/* user.add, user.passwd, user.remove: the members they need. */
static const char *
ctl_user(json_t *req, struct ctl_request *r)
{
	if (ctl_string(req, "name", r->name, sizeof r->name) <= 0 || r->name[0] == '\0' ||
	    strchr(r->name, ',') || strspn(r->name, " \t\r\n") > 0)
		return "name: a user name";
	if (r->cmd == CTL_USER_REMOVE)
		return NULL;
	if (ctl_string(req, "hash", r->hash, sizeof r->hash) <= 0 || r->hash[0] != '$')
		return "hash: a crypt(3) hash (mtactl makes it)";
	return r->cmd == CTL_USER_ADD ? ctl_user_domains(json_object_get(req, "domains"), r) :
	    NULL;
}

/* domain.*: the domain, and the key members. */
static const char *
ctl_domain(json_t *req, struct ctl_request *r)
{
	json_t *ed = json_object_get(req, "ed25519"), *sub;
	long long bits = 2048;
	size_t n;
	int rc;

	if (r->cmd == CTL_DOMAIN_LIST)
		return NULL;
	if (r->sel.domain == NULL)
		return "domain: a domain name is needed";
	if (r->cmd == CTL_DOMAIN_ADD && (strchr(r->domain, '.') == NULL ||
	    strspn(strrchr(r->domain, '.') + 1, "0123456789") ==
	    strlen(strrchr(r->domain, '.') + 1)))
		return "domain: a sender domain has a dot and a top-level label that is not a "
		    "number";
	if ((rc = ctl_string(req, "selector", r->selector, sizeof r->selector)) < 0 ||
	    (n = strlen(r->selector), rc > 0 && (n == 0 || strspn(r->selector,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") != n || r->selector[0] == '-' ||
	    r->selector[n - 1] == '-')))
		return "selector: one DNS label (a-z, 0-9, '-'), at most 63";
	if (r->cmd == CTL_DOMAIN_ACTIVATE && rc == 0)
		return "selector: the selector to activate is needed";
	if (ctl_int(req, "rsa_bits", 2048, 4096, &bits) < 0 ||
	    (bits != 2048 && bits != 3072 && bits != 4096))
		return "rsa_bits: 2048, 3072 or 4096";
	r->rsa_bits = (int)bits;
	if (ed != NULL && !json_is_boolean(ed))
		return "ed25519: true or false";
	r->ed25519 = ed == NULL || json_is_true(ed);
	if ((sub = json_object_get(req, "subdomains")) != NULL && !json_is_boolean(sub))
		return "subdomains: true or false";
	if (r->cmd == CTL_DOMAIN_SUBDOMAINS && sub == NULL)
		return "subdomains: true or false is needed";
	r->subdomains = json_is_true(sub);
	if (r->cmd != CTL_DOMAIN_ACTIVATE && r->ed25519 &&
	    strlen(r->selector) > LIM_DKIM_SELECTOR - strlen("-ed25519"))
		return "selector: at most 55 characters (the Ed25519 key adds \"-ed25519\")";
	return NULL;
}

/* What the command needs beyond the common members. */
static const char *
ctl_needs(json_t *req, struct ctl_request *r)
{
	const struct queue_select *s = &r->sel;

	switch (r->cmd) {
	case CTL_QUEUE_SHOW:
		return s->queue_id ? NULL : "id: a queue ID is needed";
	case CTL_RETRY: case CTL_HOLD: case CTL_RELEASE: case CTL_PURGE:
		return r->all || s->queue_id || s->domain || s->sender || s->state ||
		    s->older_than || s->nrcpt_ids ? NULL : "say which: an id, a domain, a"
		    " sender, a state, older_than, rcpt_ids, or all";

	case CTL_USER_ADD: case CTL_USER_PASSWD: case CTL_USER_REMOVE:
		return ctl_user(req, r);
	case CTL_DOMAIN_ADD: case CTL_DOMAIN_LIST: case CTL_DOMAIN_REMOVE: case CTL_DOMAIN_DNS:
	case CTL_DOMAIN_KEY: case CTL_DOMAIN_ACTIVATE: case CTL_DOMAIN_CHECK:
	case CTL_DOMAIN_SUBDOMAINS:
		return ctl_domain(req, r);
	default:
		return NULL;
	}
}

/* The command of a request object: 0, or -1 with *code and why. */
static int
ctl_command(json_t *req, struct ctl_request *r, const char **code, char *why, size_t size)
{
	json_t *v = json_object_get(req, "v");
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	size_t i;

	*code = "usage";
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) != 1)) {
		(void)str_copy(why, size, "protocol version 1 only");
		return -1;
	}
	if (cmd == NULL) {
		(void)str_copy(why, size, "no \"cmd\"");
		return -1;
	}
	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(cmd, ctl_names[i]) == 0) {
			r->cmd = (enum ctl_cmd)i;
			return 0;
		}
	*code = "unknown";
	(void)str_fmt(why, size, "unknown command \"%.64s\"", cmd);
	return -1;
}

int
ctlproto_parse(const char *line, size_t len, time_t now, struct ctl_request *r,
    const char **code, char *why, size_t whysize)
{
	json_error_t e;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
	const char *bad = NULL;
	int rc = -1;

	memset(r, 0, sizeof *r);
	*code = "usage";
	if (req == NULL || !json_is_object(req))
		(void)str_fmt(why, whysize, "malformed request: %s", req ? "not an object" :
		    e.text);
	else if (ctl_command(req, r, code, why, whysize) == 0 &&
	    (bad = ctl_select(req, now, r)) == NULL && (bad = ctl_needs(req, r)) == NULL)
		rc = 0;
	if (bad != NULL)
		(void)str_copy(why, whysize, bad);
	json_decref(req);
	return rc;
}

/* ---- monitor events ---- */

/* A quoted log value (log.h: \" \\ \xHH escapes) at p (after the quote)
 * into val; returns where it ends (after the closing quote), or NULL. */
static const char *
ctl_unquote(const char *p, char *val, size_t size, size_t *n)
{
	*n = 0;
	for (; *p && *p != '"' && *n < size - 1; p++) {
		if (p[0] == '\\' && p[1] == 'x' && p[2] && p[3]) {
			char hex[3] = { p[2], p[3], 0 };

			val[(*n)++] = (char)strtol(hex, NULL, 16);
			p += 3;
		} else {
			val[(*n)++] = p[0] == '\\' && p[1] ? *++p : *p;
		}
	}
	return *p == '"' ? p + 1 : NULL;
}

json_t *
ctlproto_event(const char *line)
{
	json_t *o = json_object();
	const char *p = line, *sp;
	char key[64], val[LIM_LOG_LINE];
	size_t k, n;

	if ((sp = strchr(p, ' ')) == NULL)
		return o;
	json_object_set_new(o, "at", ctlproto_strn(p, (size_t)(sp - p)));
	p = sp + 1;
	sp = strchr(p, ' ');
	json_object_set_new(o, "id", ctlproto_strn(p, sp ? (size_t)(sp - p) : strlen(p)));
	while (sp != NULL && *(p = sp + 1) != '\0') {
		if (p[k = strcspn(p, "= ")] != '=' || k == 0 || k >= sizeof key)
			break;
		memcpy(key, p, k);
		key[k] = '\0';
		p += k + 1;
		if (*p == '"') {
			if ((sp = ctl_unquote(p + 1, val, sizeof val, &n)) != NULL && *sp != ' ')
				sp = NULL;
		} else {
			sp = strchr(p, ' ');
			n = sp ? (size_t)(sp - p) : strlen(p);
			n = n < sizeof val ? n : sizeof val - 1;
			memcpy(val, p, n);
		}
		json_object_set_new(o, key, ctlproto_strn(val, n));
	}
	return o;
}
