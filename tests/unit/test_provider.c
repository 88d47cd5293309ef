/* test_provider.c -- an MX host's provider by the Public Suffix List. */
#include <string.h>

#include "limits.h"
#include "provider.h"
#include "test.h"

static void
check_provider(const char *host, const char *want, int line)
{
	char out[LIM_DOMAIN + 1];

	if (provider_of(host, out, sizeof out) != 0)
		test_fail(__FILE__, line, "provider_of(\"%s\") failed", host);
	else if (strcmp(out, want) != 0)
		test_fail(__FILE__, line, "provider_of(\"%s\") = \"%s\", want \"%s\"", host,
		    out, want);
}

/* The providers people meet: one name for all of a provider's MX hosts,
 * whatever the public suffix looks like. */
static void
test_known(void)
{
	check_provider("gmail-smtp-in.l.google.com", "google.com", __LINE__);
	check_provider("alt4.aspmx.l.google.com", "google.com", __LINE__);
	check_provider("ASPMX.L.GOOGLE.COM.", "google.com", __LINE__);
	check_provider("example-com.mail.protection.outlook.com", "outlook.com", __LINE__);
	check_provider("mta7.am0.yahoodns.net", "yahoodns.net", __LINE__);
	check_provider("mx.example.co.uk", "example.co.uk", __LINE__);
	check_provider("mx1.mail.example.com.au", "example.com.au", __LINE__);
	check_provider("mx1.bigmail.test", "bigmail.test", __LINE__);
}

/* A host without a registrable domain is its own provider; bad input
 * is refused, never cut. */
static void
test_edges(void)
{
	char out[LIM_DOMAIN + 1], small[8];

	check_provider("localhost", "localhost", __LINE__);
	check_provider("co.uk", "co.uk", __LINE__);
	CHECK_INT(provider_of("", out, sizeof out), -1);
	CHECK_INT(provider_of(NULL, out, sizeof out), -1);
	CHECK_INT(provider_of("mx.example.org", small, sizeof small), -1);
}

const struct test provider_tests[] = {
	{ "known", test_known },
	{ "edges", test_edges },
	{ NULL, NULL },
};
