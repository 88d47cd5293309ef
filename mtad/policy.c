/* policy.c -- relay decisions (see policy.h). */
#include "policy.h"

#include <netinet/in.h>
#include <string.h>

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

void
policy_mail(const struct policy_client *pc, const struct addr *sender,
    struct policy_verdict *v)
{
	(void)sender;
	if (pc->listener != LISTEN_SMTP && !pc->authenticated) {
		v->code = 530;
		(void)str_copy(v->reply, sizeof v->reply,
		    "530 5.7.0 Authentication required");
		return;
	}
	policy_accept(v);
}

void
policy_rcpt(const struct policy_client *pc, const struct addr *rcpt,
    struct policy_verdict *v)
{
	(void)rcpt;
	if (pc->trusted || pc->authenticated) {
		policy_accept(v);
		return;
	}
	v->code = 550;
	(void)str_copy(v->reply, sizeof v->reply, "550 5.7.1 Relay access denied");
}
