/* policy.c -- relay decisions (see policy.h). */
#include "policy.h"

#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "str.h"

/* The client address as 16 bytes, IPv4 mapped into IPv6 (::ffff:a.b.c.d). */
static int
policy_addr16(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static int
policy_cidr_match(const struct conf_cidr *n, const unsigned char a[16])
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (memcmp(n->net, a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->net[full] ^ a[full]) & (0xff00 >> rest)) == 0;
}

int
policy_local_sender_free(const struct conf *c, uid_t uid, const char *user,
    uid_t daemon_uid)
{
	size_t i;

	if (uid == 0 || uid == daemon_uid)
		return 1;
	for (i = 0; user != NULL && i < c->nlocal_trusted; i++)
		if (strcmp(c->local_trusted[i], user) == 0)
			return 1;
	return 0;
}

int
policy_client_trusted(const struct conf *c, const struct sockaddr *sa)
{
	unsigned char a[16];
	size_t i;

	if (policy_addr16(sa, a) < 0)
		return 0;
	for (i = 0; i < c->ntrusted; i++)
		if (policy_cidr_match(&c->trusted[i], a))
			return 1;
	return 0;
}

static void
policy_accept(struct policy_verdict *v)
{
	v->code = 0;
	v->reply[0] = '\0';
}

/* Is `domain` (A-labels) one of the user's sender domains? */
static int
policy_domain_ok(const struct policy_client *pc, const char *domain)
{
	const char *p = pc->domains;
	size_t n = strlen(domain);

	if (!pc->authenticated || pc->any_domain)
		return 1;
	while (p != NULL && *p) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, domain, n) == 0)
			return 1;
		p += len + (p[len] == ',');
	}
	return 0;
}

static void
policy_refuse(struct policy_verdict *v, int code, const char *text)
{
	v->code = code;
	(void)str_copy(v->reply, sizeof v->reply, text);
}

void
policy_mail(const struct policy_client *pc, const struct addr *sender,
    struct policy_verdict *v)
{
	if ((pc->listener == LISTEN_SUBMISSION || pc->listener == LISTEN_SUBMISSIONS) &&
	    !pc->authenticated) {
		policy_refuse(v, 530, "530 5.7.0 Authentication required");
		return;
	}
	if (!policy_domain_ok(pc, sender->null ? "" : sender->domain_ascii)) {
		(void)str_fmt(v->reply, sizeof v->reply, "550 5.7.1 <%s>: sender address "
		    "not allowed for this user", sender->mailbox);
		v->code = 550;
		return;
	}
	policy_accept(v);
}

/* The domain after the '@' at p (ASCII or UTF-8 labels) into A-labels;
 * "" when none can be read. */
static void
policy_header_domain(const char *p, char *out, size_t size)
{
	char raw[LIM_DOMAIN + 1];
	size_t n = 0;

	while (n < LIM_DOMAIN && (((unsigned char)p[n] >= 0x80) || p[n] == '.' || p[n] == '-' ||
	    (p[n] >= '0' && p[n] <= '9') || ((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z')))
		n++;
	memcpy(raw, p, n);
	raw[n] = '\0';
	while (n > 0 && raw[n - 1] == '.')
		raw[--n] = '\0';
	if (n == 0 || addr_domain_to_ascii(raw, out, size) != ADDR_OK)
		out[0] = '\0';
}

/* Every "@domain" in the value must be allowed, and there must be one.
 * (Quoted or commented '@'s count too: a conservative reading.) */
void
policy_from_header(const struct policy_client *pc, const char *value,
    struct policy_verdict *v)
{
	char domain[LIM_DOMAIN + 1];
	const char *at;
	int seen = 0;

	if (!pc->authenticated || pc->any_domain) {
		policy_accept(v);
		return;
	}
	for (at = strchr(value, '@'); at != NULL; at = strchr(at + 1, '@')) {
		policy_header_domain(at + 1, domain, sizeof domain);
		if (domain[0] == '\0')
			continue;
		seen = 1;
		if (!policy_domain_ok(pc, domain)) {
			(void)str_fmt(v->reply, sizeof v->reply, "550 5.7.1 From: header "
			    "domain %s not allowed for this user", domain);
			v->code = 550;
			return;
		}
	}
	if (!seen)
		policy_refuse(v, 550, "550 5.7.1 From: header without an address");
	else
		policy_accept(v);
}

void
policy_rcpt(const struct policy_client *pc, const struct addr *rcpt,
    struct policy_verdict *v)
{
	(void)rcpt;
	if (pc->trusted || pc->authenticated || pc->listener == LISTEN_LOCAL) {
		policy_accept(v);
		return;
	}
	v->code = 550;
	(void)str_copy(v->reply, sizeof v->reply, "550 5.7.1 Relay access denied");
}
