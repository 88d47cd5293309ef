/* test_check.c -- domain check's record verdicts and SPF evaluation, with
 * the DNS as tables. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "str.h"
#include "test.h"

static void
test_dkim_txt(void)
{
	char why[256];

	CHECK_INT(check_dkim_txt("v=DKIM1; k=rsa; p=QUJD", "rsa-sha256", "QUJD", why,
	    sizeof why), CHECK_OK);
	CHECK_INT(check_dkim_txt("p=QU JD", "rsa-sha256", "QUJD", why, sizeof why), CHECK_OK);
	CHECK_INT(check_dkim_txt("v=DKIM1;k=ed25519;p=QUJD", "ed25519-sha256", "QUJD", why,
	    sizeof why), CHECK_OK);
	CHECK_INT(check_dkim_txt("v=DKIM1; p=QUJD", "ed25519-sha256", "QUJD", why, sizeof why),
	    CHECK_WRONG);			/* k= defaults to rsa */
	CHECK(strstr(why, "k=rsa") != NULL);
	CHECK_INT(check_dkim_txt("v=DKIM1; k=rsa; p=", "rsa-sha256", "QUJD", why, sizeof why),
	    CHECK_WRONG);
	CHECK(strstr(why, "revoked") != NULL);
	CHECK_INT(check_dkim_txt("v=DKIM1; k=rsa; p=WFla", "rsa-sha256", "QUJD", why,
	    sizeof why), CHECK_WRONG);
	CHECK_INT(check_dkim_txt("v=DKIM2; p=QUJD", "rsa-sha256", "QUJD", why, sizeof why),
	    CHECK_WRONG);
	CHECK_INT(check_dkim_txt("v=DKIM1; k=rsa", "rsa-sha256", "QUJD", why, sizeof why),
	    CHECK_WRONG);
	/* "kp=" is not "p=" */
	CHECK_INT(check_dkim_txt("kp=QUJD", "rsa-sha256", "QUJD", why, sizeof why), CHECK_WRONG);
}

static void
test_dmarc_txt(void)
{
	char why[256];

	CHECK_INT(check_dmarc_txt("v=DMARC1; p=reject; rua=mailto:a@b", why, sizeof why),
	    CHECK_OK);
	CHECK_INT(check_dmarc_txt("v=DMARC1;p=none", why, sizeof why), CHECK_OK);
	CHECK(strstr(why, "quarantine") != NULL);
	CHECK_INT(check_dmarc_txt("v=DMARC1; rua=mailto:a@b", why, sizeof why), CHECK_WRONG);
	CHECK_INT(check_dmarc_txt("v=DMARC1; p=maybe", why, sizeof why), CHECK_WRONG);
	CHECK_INT(check_dmarc_txt("p=reject; v=DMARC1", why, sizeof why), CHECK_WRONG);
	CHECK_INT(check_dmarc_txt("v=DMARC10; p=reject", why, sizeof why), CHECK_WRONG);
}

/* ---- SPF over a table of records ---- */

static const struct { const char *name, *txt; } spf_txt[] = {
	{ "inc.example", "v=spf1 ip4:192.0.2.0/24 -all" },
	{ "inc2.example", "v=spf1 include:inc.example -all" },
	{ "redir.example", "v=spf1 ip6:2001:db8::/32 -all" },
	{ "two.example", "v=spf1 -all" }, { "two.example", "v=spf1 +all" },
	{ "loop.example", "v=spf1 include:loop.example -all" },
	{ "fail.example", "servfail" },
};

static enum dns_status
t_txt(void *ctx, const char *name, char (*out)[LIM_DNS_TXT + 1], size_t *n)
{
	size_t i;

	(void)ctx;
	*n = 0;
	for (i = 0; i < sizeof spf_txt / sizeof spf_txt[0]; i++)
		if (strcmp(spf_txt[i].name, name) == 0) {
			if (strcmp(spf_txt[i].txt, "servfail") == 0)
				return DNS_TEMPFAIL;
			(void)str_copy(out[(*n)++], LIM_DNS_TXT + 1, spf_txt[i].txt);
		}
	return *n ? DNS_OK : DNS_NXDOMAIN;
}

static enum dns_status
t_addrs(void *ctx, const char *host, struct check_addr *out, size_t *n)
{
	(void)ctx;
	*n = 0;
	if (strcmp(host, "mx.example") == 0 || strcmp(host, "self.example") == 0) {
		out[0].family = AF_INET;
		inet_pton(AF_INET, "198.51.100.7", out[0].a);
		*n = 1;
	}
	return *n ? DNS_OK : DNS_NXDOMAIN;
}

static enum dns_status
t_mx(void *ctx, const char *domain, char (*out)[LIM_DOMAIN + 1], size_t *n)
{
	(void)ctx;
	*n = 0;
	if (strcmp(domain, "self.example") == 0)
		(void)str_copy(out[(*n)++], LIM_DOMAIN + 1, "mx.example");
	return DNS_OK;
}

static int
spf(const char *record, const char *ip, char *why, size_t size)
{
	struct check_spf_env env = { t_txt, t_addrs, t_mx, NULL, 0 };
	struct check_addr a;

	memset(&a, 0, sizeof a);
	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	inet_pton(a.family, ip, a.a);
	return check_spf(&env, "self.example", record, &a, why, size);
}

static void
test_spf(void)
{
	char why[512];

	CHECK_INT(spf("v=spf1 ip4:198.51.100.7 -all", "198.51.100.7", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 ip4:198.51.100.0/24 -all", "198.51.100.7", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 ip4:198.51.100.0/30 -all", "198.51.100.7", why, sizeof why), 0);
	CHECK(strstr(why, "-all") != NULL);
	CHECK_INT(spf("v=spf1 a:mx.example ~all", "198.51.100.7", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 a -all", "198.51.100.7", why, sizeof why), 1);	/* self */
	CHECK_INT(spf("v=spf1 mx -all", "198.51.100.7", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 mx -all", "192.0.2.9", why, sizeof why), 0);
	CHECK_INT(spf("v=spf1 include:inc2.example -all", "192.0.2.9", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 redirect=redir.example", "2001:db8::5", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 redirect=redir.example", "192.0.2.9", why, sizeof why), 0);
	CHECK_INT(spf("v=spf1 -ip4:198.51.100.7 +all", "198.51.100.7", why, sizeof why), 0);
	CHECK_INT(spf("v=spf1 ?all", "198.51.100.7", why, sizeof why), 0);
	CHECK_INT(spf("v=spf1 ip4:10.0.0.1", "198.51.100.7", why, sizeof why), 0);
	CHECK(strstr(why, "neutral") != NULL);
	/* broken records (permerror): two records, a loop, a missing include */
	CHECK_INT(spf("v=spf1 include:two.example -all", "198.51.100.7", why, sizeof why), -2);
	CHECK_INT(spf("v=spf1 include:loop.example -all", "198.51.100.7", why, sizeof why), -2);
	CHECK_INT(spf("v=spf1 include:none.example -all", "198.51.100.7", why, sizeof why), -2);
	CHECK(strstr(why, "none.example") != NULL);
	CHECK_INT(spf("v=spf1 redirect=none.example", "198.51.100.7", why, sizeof why), -2);
	/* cannot tell: SERVFAIL, macros, exists */
	CHECK_INT(spf("v=spf1 include:fail.example -all", "198.51.100.7", why, sizeof why), -1);
	CHECK(strstr(why, "failed") != NULL);
	CHECK_INT(spf("v=spf1 ip6:2001:db8::/64 -all", "2001:db8::9", why, sizeof why), 1);
	CHECK_INT(spf("v=spf1 exists:%{i}.x.example -all", "198.51.100.7", why, sizeof why), -1);
	/* ip6 against an IPv4 address: no match */
	CHECK_INT(spf("v=spf1 ip6:::/0 -all", "198.51.100.7", why, sizeof why), 0);
	/* a malformed ip4 does not match (and does not crash) */
	CHECK_INT(spf("v=spf1 ip4:300.1.1.1/99 ip4:/ a:/ -all", "198.51.100.7", why,
	    sizeof why), 0);
}

const struct test check_tests[] = {
	{ "dkim record", test_dkim_txt },
	{ "dmarc record", test_dmarc_txt },
	{ "spf", test_spf },
	{ NULL, NULL },
};
