/* trouble.c -- delivered, deferred or bounced, and for whom (trouble.h). */
#include "trouble.h"

#include <string.h>

#include "str.h"

int
trouble_status_parse(const char *s, char *out, unsigned long size)
{
	unsigned long i = 0;
	int field;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (field = 0; field < 2; field++) {
		unsigned long start = i;

		while (s[i] >= '0' && s[i] <= '9' && i - start < 3)
			i++;
		if (i == start || (field == 0 && s[i] != '.'))
			return 0;
		if (field == 0)
			i++;
	}
	if (s[i] != '\0' && s[i] != ' ' && s[i] != '\t')
		return 0;
	if (i >= size)
		return 0;
	memcpy(out, s, i);
	out[i] = '\0';
	return (int)i;
}

/* The server's enhanced code when it agrees with the reply's class, else
 * the generic X.0.0 (RFC 3463 3.1); 0 (no reply) means 4.4.1/4.4.2. */
static void
trouble_status(int code, const char *enh, enum trouble_stage stage, char *out,
    unsigned long size)
{
	char cls = (char)('0' + code / 100);

	if (enh && enh[0] == cls && trouble_status_parse(enh, out, size) > 0)
		return;
	if (code == 0)
		(void)str_copy(out, size, stage == TS_CONNECT ? "4.4.1" : "4.4.2");
	else if (code == 421)
		(void)str_copy(out, size, "4.4.2");
	else
		(void)str_fmt(out, size, "%c.0.0", code >= 200 && code < 600 ? cls : '4');
}

void
trouble_reply(enum trouble_stage stage, int code, const char *enh, struct trouble *t)
{
	int temp = code < 500;	/* 0 (no reply) and 4xx are temporary */

	memset(t, 0, sizeof *t);
	trouble_status(code, enh, stage, t->status, sizeof t->status);
	if (code >= 200 && code < 300) {
		t->verdict = stage == TS_DOT ? TV_DELIVERED : TV_DEFER;
		t->scope = TSC_MESSAGE;
		return;
	}
	t->verdict = temp ? TV_DEFER : TV_BOUNCE;
	if (code == 421 || (code == 0 && stage >= TS_MAIL))
		t->scope = TSC_DESTINATION, t->verdict = TV_DEFER;
	else if (stage <= TS_AUTH)
		t->scope = TSC_HOST, t->verdict = TV_DEFER;
	else if (stage == TS_RCPT)
		t->scope = TSC_RCPT;
	else
		t->scope = TSC_MESSAGE;
	if (t->verdict == TV_BOUNCE)
		t->class = trouble_class(code, t->status);
}

void
trouble_local(int permanent, enum trouble_scope scope, const char *status,
    struct trouble *t)
{
	memset(t, 0, sizeof *t);
	t->verdict = permanent ? TV_BOUNCE : TV_DEFER;
	t->scope = scope;
	if (trouble_status_parse(status, t->status, sizeof t->status) == 0)
		(void)str_copy(t->status, sizeof t->status, permanent ? "5.0.0" : "4.0.0");
	t->class = trouble_class(0, t->status);
}

/*
 * RFC 3463 subjects: X.1 addressing and X.2.1 (disabled mailbox) or X.4.4
 * (unroutable) say the address is dead: hard.  X.7 is security or policy.
 * The rest (mailbox full, system, network, protocol, content) may pass:
 * soft.  Without detail, 550/551/553 read as hard and 554 as policy.
 */
enum bounce_class
trouble_class(int code, const char *status)
{
	const char *sub = status ? strchr(status, '.') : NULL;

	if (sub != NULL && strncmp(sub, ".0.0", 4) != 0) {
		if (sub[1] == '1' && sub[2] == '.')
			return BOUNCE_HARD;
		if (strncmp(sub, ".2.1", 4) == 0 && (sub[4] == '\0' || sub[4] == ' '))
			return BOUNCE_HARD;
		if (strncmp(sub, ".4.4", 4) == 0 && (sub[4] == '\0' || sub[4] == ' '))
			return BOUNCE_HARD;
		if (sub[1] == '7' && sub[2] == '.')
			return BOUNCE_POLICY;
		return BOUNCE_SOFT;
	}
	if (code == 550 || code == 551 || code == 553)
		return BOUNCE_HARD;
	return code == 554 ? BOUNCE_POLICY : BOUNCE_SOFT;
}

const char *
trouble_class_name(enum bounce_class c)
{
	switch (c) {
	case BOUNCE_HARD:
		return "hard";
	case BOUNCE_SOFT:
		return "soft";
	case BOUNCE_POLICY:
		return "policy";
	case BOUNCE_EXPIRED:
		return "expired";
	}
	return "soft";
}

int
trouble_throttle(const char *reply)
{
	static const char *const marks[] = {
		"4.7.28", "TSS04", "TS01", "4.7.650", "4.7.651", "4.7.652", "rate limit",
		"ratelimit", "rate-limit", "throttl", "too many messages", "too many connections",
		"unusual rate", "temporarily deferred due to",
	};
	size_t i;

	if (reply == NULL || reply[0] != '4' || reply[1] < '0' || reply[1] > '9' ||
	    reply[2] < '0' || reply[2] > '9')
		return 0;
	if (strncmp(reply, "421", 3) == 0)
		return 1;
	for (i = 0; i < sizeof marks / sizeof marks[0]; i++)
		if (strcasestr(reply, marks[i]) != NULL)
			return 1;
	return 0;
}
