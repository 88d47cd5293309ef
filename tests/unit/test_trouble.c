/* test_trouble.c -- the delivery verdict table and bounce classes. */
#include <string.h>

#include "test.h"
#include "trouble.h"

static void
test_verdicts(void)
{
	static const struct {
		enum trouble_stage stage;
		int code;
		const char *enh;
		enum trouble_verdict verdict;
		enum trouble_scope scope;
		const char *status;
	} rows[] = {
		{ TS_DOT, 250, "2.0.0", TV_DELIVERED, TSC_MESSAGE, "2.0.0" },
		{ TS_DOT, 250, NULL, TV_DELIVERED, TSC_MESSAGE, "2.0.0" },
		{ TS_DOT, 451, "4.3.0", TV_DEFER, TSC_MESSAGE, "4.3.0" },
		{ TS_DOT, 554, "5.7.1", TV_BOUNCE, TSC_MESSAGE, "5.7.1" },
		{ TS_DOT, 0, NULL, TV_DEFER, TSC_DESTINATION, "4.4.2" },
		{ TS_RCPT, 550, "5.1.1", TV_BOUNCE, TSC_RCPT, "5.1.1" },
		{ TS_RCPT, 450, "4.2.1", TV_DEFER, TSC_RCPT, "4.2.1" },
		{ TS_RCPT, 550, "4.1.1", TV_BOUNCE, TSC_RCPT, "5.0.0" }, /* class mismatch */
		{ TS_RCPT, 421, "4.7.0", TV_DEFER, TSC_DESTINATION, "4.7.0" },
		{ TS_MAIL, 553, NULL, TV_BOUNCE, TSC_MESSAGE, "5.0.0" },
		{ TS_DATA, 452, NULL, TV_DEFER, TSC_MESSAGE, "4.0.0" },
		{ TS_CONNECT, 0, NULL, TV_DEFER, TSC_HOST, "4.4.1" },
		{ TS_GREETING, 554, "5.7.1", TV_DEFER, TSC_HOST, "5.7.1" },
		{ TS_STARTTLS, 0, NULL, TV_DEFER, TSC_HOST, "4.4.2" },
		{ TS_AUTH, 535, "5.7.8", TV_DEFER, TSC_HOST, "5.7.8" },
		{ TS_HELO, 421, NULL, TV_DEFER, TSC_DESTINATION, "4.4.2" },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct trouble t;

		trouble_reply(rows[i].stage, rows[i].code, rows[i].enh, &t);
		CHECK_INT(t.verdict, rows[i].verdict);
		CHECK_INT(t.scope, rows[i].scope);
		CHECK_STR(t.status, rows[i].status);
	}
}

static void
test_classes(void)
{
	static const struct {
		int code;
		const char *status;
		enum bounce_class class;
	} rows[] = {
		{ 550, "5.1.1", BOUNCE_HARD }, { 550, "5.1.10", BOUNCE_HARD },
		{ 550, "5.2.1", BOUNCE_HARD }, { 552, "5.2.2", BOUNCE_SOFT },
		{ 552, "5.3.4", BOUNCE_SOFT }, { 554, "5.4.4", BOUNCE_HARD },
		{ 550, "5.7.1", BOUNCE_POLICY }, { 550, "5.7.26", BOUNCE_POLICY },
		{ 550, "5.0.0", BOUNCE_HARD }, { 554, "5.0.0", BOUNCE_POLICY },
		{ 552, "5.0.0", BOUNCE_SOFT }, { 0, "5.6.7", BOUNCE_SOFT },
		{ 551, NULL, BOUNCE_HARD },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		CHECK_INT(trouble_class(rows[i].code, rows[i].status), rows[i].class);
	CHECK_STR(trouble_class_name(BOUNCE_EXPIRED), "expired");
}

static void
test_local_and_parse(void)
{
	struct trouble t;
	char s[16];

	trouble_local(1, TSC_MESSAGE, "5.3.4", &t);
	CHECK(t.verdict == TV_BOUNCE && t.scope == TSC_MESSAGE && t.class == BOUNCE_SOFT);
	CHECK_STR(t.status, "5.3.4");
	trouble_local(0, TSC_DESTINATION, "junk", &t);
	CHECK(t.verdict == TV_DEFER);
	CHECK_STR(t.status, "4.0.0");
	CHECK_INT(trouble_status_parse("5.1.1 user unknown", s, sizeof s), 5);
	CHECK_STR(s, "5.1.1");
	CHECK_INT(trouble_status_parse("4.123.456", s, sizeof s), 9);
	CHECK_INT(trouble_status_parse("3.1.1 x", s, sizeof s), 0);
	CHECK_INT(trouble_status_parse("5.1 x", s, sizeof s), 0);
	CHECK_INT(trouble_status_parse("5.1.1x", s, sizeof s), 0);
	CHECK_INT(trouble_status_parse("5.1234.1", s, sizeof s), 0);
}

static void
test_throttle(void)
{
	static const struct { const char *reply; int want; } t[] = {
		{ "421 4.7.0 try later", 1 },
		{ "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail", 1 },
		{ "451 4.7.28 unusual rate", 1 },
		{ "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", 1 },
		{ "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited", 1 },
		{ "452 4.2.2 too many messages from you", 1 },
		{ "450 4.7.1 Rate limit exceeded", 1 },
		{ "451 4.3.0 Try later", 0 },
		{ "450 4.2.0 mailbox busy", 0 },
		{ "452 4.5.3 Too many recipients", 0 },
		{ "550 5.7.1 rate limit", 0 },		/* permanent: not a pause */
		{ "250 2.0.0 ok", 0 },
		{ "", 0 },
		{ "4", 0 },
		{ "4x1 rate limit", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (trouble_throttle(t[i].reply) != t[i].want)
			test_fail(__FILE__, __LINE__, "\"%s\": %d, want %d", t[i].reply,
			    trouble_throttle(t[i].reply), t[i].want);
	CHECK_INT(trouble_throttle(NULL), 0);
}

const struct test trouble_tests[] = {
	{ "throttle", test_throttle },
	{ "verdicts", test_verdicts },
	{ "classes", test_classes },
	{ "local_and_parse", test_local_and_parse },
	{ NULL, NULL },
};
