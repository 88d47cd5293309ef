/*
 * test_dsn.c -- delivery status notifications (dsn.h): NOTIFY and xtext,
 * table-driven, good and bad; reports for one and for two recipients,
 * RET=FULL under and over LIM_DSN_FULL_BODY, ENVID, UTF-8 recipients
 * (RFC 6533), a 2000-octet diagnostic, a boundary that occurs in the
 * original, hostile text, and an output maximum too small.
 *
 * Every report is checked line by line (CRLF, at most 998 octets), for
 * exact field lines, and by an independent parser: tests/unit/dsn_check.py
 * (Python's email package) must print OK for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dsn.h"
#include "limits.h"
#include "test.h"

#define T_NOW 1772533000		/* Tue, 3 Mar 2026 10:16:40 +0000 */
#define T_ARRIVAL 1772530000		/* Tue, 3 Mar 2026 09:26:40 +0000 */
#define T_ATTEMPT 1772532000		/* Tue, 3 Mar 2026 10:00:00 +0000 */
#define T_RETRY 1772932000		/* Sun, 8 Mar 2026 01:06:40 +0000 */

static const char orig_small[] =
    "Received: from client.example.org by mx.example.org\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.com>\r\n"
    "Subject: Lunch\r\n"
    "Message-ID: <lunch.1@example.org>\r\n"
    "\r\n"
    "Shall we meet at noon? BODY-MARKER\r\n";

/* ---- NOTIFY ---- */

static const struct {
	const char *in;
	int want;
} notify_cases[] = {
	{ "NEVER", DSN_NOTIFY_NEVER },
	{ "never", DSN_NOTIFY_NEVER },
	{ "SUCCESS", DSN_NOTIFY_SUCCESS },
	{ "FAILURE", DSN_NOTIFY_FAILURE },
	{ "DELAY", DSN_NOTIFY_DELAY },
	{ "Failure,Delay", DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY },
	{ "SUCCESS,FAILURE", DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE },
	{ "delay,success,failure", DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY },
	{ "", -1 },
	{ ",", -1 },
	{ "NEVER,SUCCESS", -1 },		/* NEVER stands alone */
	{ "FAILURE,NEVER", -1 },
	{ "NEVER,NEVER", -1 },
	{ "SUCCESS,SUCCESS", -1 },		/* no duplicates */
	{ "delay,DELAY", -1 },
	{ "SUCCESS,", -1 },
	{ ",SUCCESS", -1 },
	{ "SUCCESS,,DELAY", -1 },
	{ " SUCCESS", -1 },
	{ "SUCCESS ", -1 },
	{ "SUCCESS, DELAY", -1 },
	{ "SUCCES", -1 },
	{ "SUCCESSS", -1 },
	{ "NEVERX", -1 },
	{ "FAILURE;DELAY", -1 },
	{ "DELAY\n", -1 },
	{ "ALWAYS", -1 },
};

static void
test_notify(void)
{
	size_t i;

	for (i = 0; i < sizeof notify_cases / sizeof notify_cases[0]; i++) {
		int got = dsn_notify_parse(notify_cases[i].in);

		if (got != notify_cases[i].want)
			test_fail(__FILE__, __LINE__, "dsn_notify_parse(\"%s\") == %d, want %d",
			    test_escape(notify_cases[i].in, strlen(notify_cases[i].in)), got,
			    notify_cases[i].want);
	}
	CHECK_INT(dsn_notify_parse(NULL), -1);
}

/* ---- xtext ---- */

struct xtext_case {
	const char *in;
	size_t size;
	int want;
	const char *out;	/* on success */
};

static const struct xtext_case decode_cases[] = {
	{ "", 10, 0, "" },
	{ "abc", 10, 0, "abc" },
	{ "rfc822;user+2Btag@example.com", 100, 0, "rfc822;user+tag@example.com" },
	{ "+3D", 10, 0, "=" },
	{ "a+2B+3Db", 10, 0, "a+=b" },
	{ "+20lead", 10, 0, " lead" },
	{ "!~\"#$%&'()*,-./:;<>?@[\\]^_`{|}", 100, 0, "!~\"#$%&'()*,-./:;<>?@[\\]^_`{|}" },
	{ "+41+42+43", 10, 0, "ABC" },
	{ "+7E", 10, 0, "~" },
	{ "abc", 4, 0, "abc" },		/* just fits */
	{ "+41", 2, 0, "A" },
	{ "abc", 3, -1, NULL },		/* one short */
	{ "abc", 0, -1, NULL },
	{ "a=b", 10, -1, NULL },	/* "=" is not an xchar */
	{ "a b", 10, -1, NULL },
	{ "a\tb", 10, -1, NULL },
	{ "+2b", 10, -1, NULL },	/* hex digits are upper case */
	{ "+2", 10, -1, NULL },
	{ "+", 10, -1, NULL },
	{ "ab+", 10, -1, NULL },
	{ "+G0", 10, -1, NULL },
	{ "+0A", 10, -1, NULL },	/* decodes to a control */
	{ "+00", 10, -1, NULL },
	{ "+1F", 10, -1, NULL },
	{ "+7F", 10, -1, NULL },
	{ "+80", 10, -1, NULL },	/* not ASCII */
	{ "+C3+A9", 10, -1, NULL },
	{ "\xc3\xa9", 10, -1, NULL },
	{ "abc+0D+0A", 10, -1, NULL },	/* last hexchar bad: no partial success */
};

static const struct xtext_case encode_cases[] = {
	{ "", 10, 0, "" },
	{ "abc", 10, 0, "abc" },
	{ "a+b", 10, 0, "a+2Bb" },
	{ "a=b", 10, 0, "a+3Db" },
	{ "a b", 10, 0, "a+20b" },
	{ "rfc822;x@y", 20, 0, "rfc822;x@y" },
	{ "\x01\x7f", 10, 0, "+01+7F" },
	{ "\xc3\xa9", 10, 0, "+C3+A9" },
	{ "a+b", 6, 0, "a+2Bb" },	/* just fits */
	{ "a+b", 5, -1, NULL },		/* "+2B" does not */
	{ "abc", 3, -1, NULL },
	{ "abc", 0, -1, NULL },
};

/* Run a table of decode (dec = 1) or encode cases. */
static void
xtext_table(const struct xtext_case *cases, size_t n, int dec)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct xtext_case *c = &cases[i];
		char out[128] = "junk";
		int got = dec ? dsn_xtext_decode(c->in, out, c->size) :
		    dsn_xtext_encode(c->in, out, c->size);

		if (got != c->want)
			test_fail(__FILE__, __LINE__, "%s(\"%s\", %zu) == %d, want %d",
			    dec ? "decode" : "encode", test_escape(c->in, strlen(c->in)),
			    c->size, got, c->want);
		else if (got == 0 && strcmp(out, c->out) != 0)
			test_fail(__FILE__, __LINE__, "%s(\"%s\") gave \"%s\", want \"%s\"",
			    dec ? "decode" : "encode", test_escape(c->in, strlen(c->in)),
			    test_escape(out, strlen(out)), c->out);
		else if (got < 0 && c->size > 0 && out[0] != '\0')
			test_fail(__FILE__, __LINE__, "failed %s(\"%s\") left \"%s\"",
			    dec ? "decode" : "encode", test_escape(c->in, strlen(c->in)),
			    test_escape(out, strlen(out)));
	}
}

static void
test_xtext_decode(void)
{
	xtext_table(decode_cases, sizeof decode_cases / sizeof decode_cases[0], 1);
}

static void
test_xtext_encode(void)
{
	xtext_table(encode_cases, sizeof encode_cases / sizeof encode_cases[0], 0);
}

/* Every printable ASCII string comes back from encode then decode; the
 * longest ENVID and ORCPT fit their limits when encoded as needed. */
static void
test_xtext_roundtrip(void)
{
	char all[96], enc[3 * sizeof all], dec[sizeof all];
	char envid[LIM_DSN_ENVID + 1], envid_enc[3 * LIM_DSN_ENVID + 1];
	int i;

	for (i = 0; i < 95; i++)
		all[i] = (char)(' ' + i);
	all[95] = '\0';
	CHECK_INT(dsn_xtext_encode(all, enc, sizeof enc), 0);
	CHECK_INT(dsn_xtext_decode(enc, dec, sizeof dec), 0);
	CHECK_STR(dec, all);
	CHECK(strstr(enc, "+2B") != NULL && strstr(enc, "+3D") != NULL && strchr(enc, ' ') == NULL);
	memset(envid, '=', LIM_DSN_ENVID);
	envid[LIM_DSN_ENVID] = '\0';
	CHECK_INT(dsn_xtext_encode(envid, envid_enc, sizeof envid_enc), 0);
	CHECK_INT(strlen(envid_enc), 3 * LIM_DSN_ENVID);
	CHECK_INT(dsn_xtext_decode(envid_enc, dec, sizeof dec), -1);
	CHECK_INT(dsn_xtext_decode(envid_enc, envid, sizeof envid), 0);
	CHECK_INT(strlen(envid), LIM_DSN_ENVID);
	CHECK_INT(dsn_xtext_decode(envid_enc, envid, sizeof envid - 1), -1);
}

/* ---- report helpers ---- */

/* Every line ends in CRLF and holds at most 998 octets before it. */
static void
check_lines(const struct buf *b, int line)
{
	size_t i, start = 0;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r')) {
			test_fail(__FILE__, line, "bare LF at %zu", i);
			return;
		}
		if (b->data[i] == '\r' && (i + 1 == b->len || b->data[i + 1] != '\n')) {
			test_fail(__FILE__, line, "bare CR at %zu", i);
			return;
		}
		if (b->data[i] == '\n') {
			if (i - 1 - start > 998)
				test_fail(__FILE__, line, "line at %zu: %zu octets", start,
				    i - 1 - start);
			start = i + 1;
		}
	}
	if (start != b->len)
		test_fail(__FILE__, line, "the report does not end in CRLF");
}

/* Where the whole line `l` is in b, or NULL. */
static const char *
find_line(const struct buf *b, const char *l)
{
	size_t n = strlen(l);
	const char *p = b->data;

	while ((p = strstr(p, l)) != NULL) {
		if ((p == b->data || p[-1] == '\n') && p[n] == '\r' && p[n + 1] == '\n')
			return p;
		p++;
	}
	return NULL;
}

#define CHECK_LINE(b, l) do { \
	if (find_line((b), (l)) == NULL) \
		test_fail(__FILE__, __LINE__, "no line \"%s\"", (l)); \
} while (0)
#define CHECK_NO_LINE(b, l) do { \
	if (find_line((b), (l)) != NULL) \
		test_fail(__FILE__, __LINE__, "unexpected line \"%s\"", (l)); \
} while (0)
/* Line a comes before line b. */
#define CHECK_ORDER(buf, a, b) do { \
	const char *pa_ = find_line((buf), (a)), *pb_ = find_line((buf), (b)); \
	if (pa_ == NULL || pb_ == NULL || pa_ >= pb_) \
		test_fail(__FILE__, __LINE__, "want \"%s\" before \"%s\"", (a), (b)); \
} while (0)

/* The value of the first header field `name` (after "name:"), unfolded:
 * each CRLF before a blank taken out.  Static storage. */
static const char *
field_value(const struct buf *b, const char *name)
{
	static char v[8192];
	char key[64];
	const char *p;
	size_t o = 0;

	snprintf(key, sizeof key, "\n%s:", name);
	if ((p = strstr(b->data, key)) == NULL)
		return "(none)";
	for (p += strlen(key); *p && o + 1 < sizeof v; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p++;
			continue;
		}
		v[o++] = *p;
	}
	v[o] = '\0';
	return v;
}

/* Run tests/unit/dsn_check.py on the report; it must print OK. */
static void
py_check(const struct buf *b, const char *args, int line)
{
	static int seq;
	char path[512], cmd[1024];
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%s/dsn-%d.eml", test_tmpdir(), ++seq);
	if ((f = fopen(path, "wb")) == NULL || fwrite(b->data, 1, b->len, f) != b->len) {
		test_fail(__FILE__, line, "cannot write %s", path);
		if (f != NULL)
			fclose(f);
		return;
	}
	fclose(f);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/dsn_check.py '%s' %s >/dev/null",
	    path, args);
	if ((rc = system(cmd)) != 0)
		test_fail(__FILE__, line, "dsn_check.py %s %s: exit %d", path, args, rc);
}

static void
report_init(struct dsn_report *r, const struct dsn_rcpt *rc, size_t n)
{
	memset(r, 0, sizeof *r);
	r->reporting_mta = "mx.example.org";
	r->queue_id = "QID123";
	r->sender = "alice@example.org";
	r->ret = DSN_RET_UNSPEC;
	r->arrival = T_ARRIVAL;
	r->now = T_NOW;
	r->unique = "u1XYZ";
	r->original = orig_small;
	r->original_len = strlen(orig_small);
	r->rcpts = rc;
	r->nrcpts = n;
}

/* Build into b (fresh, 1 MB maximum); the line checks on success. */
static int
build(const struct dsn_report *r, struct buf *b, int *u8, int line)
{
	int rc;

	buf_init(b, 1024 * 1024);
	*u8 = -1;
	rc = dsn_build(r, b, u8);
	if (rc != 0)
		test_fail(__FILE__, line, "dsn_build == %d", rc);
	else
		check_lines(b, line);
	return rc;
}

static const struct dsn_rcpt rcpt_bob = {
	"bob@example.com", NULL, "failed", "5.1.1", "mx.example.com",
	"550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
	T_ATTEMPT, 0,
};
static const struct dsn_rcpt rcpt_carol = {
	"carol@example.net", "rfc822;Carol@Example.NET", "delayed", "4.4.1", NULL,
	"connect to mx.example.net[192.0.2.7]:25: Connection timed out",
	T_ATTEMPT, T_RETRY,
};

/* ---- reports ---- */

static void
test_build_failed(void)
{
	struct dsn_report r;
	struct buf b;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_INT(u8, 0);
	CHECK(strncmp(b.data, "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n",
	    59) == 0);
	CHECK_LINE(&b, "To: <alice@example.org>");
	CHECK_LINE(&b, "Subject: Undelivered Mail Returned to Sender");
	CHECK_LINE(&b, "Date: Tue, 3 Mar 2026 10:16:40 +0000");
	CHECK_LINE(&b, "Message-ID: <QID123.u1XYZ@mx.example.org>");
	CHECK_LINE(&b, "Auto-Submitted: auto-replied");
	CHECK_LINE(&b, "MIME-Version: 1.0");
	CHECK_LINE(&b, "Content-Type: multipart/report; report-type=delivery-status;");
	CHECK_LINE(&b, "\tboundary=\"=_u1XYZ\"");
	CHECK_LINE(&b, "Content-Type: text/plain; charset=utf-8");
	CHECK_LINE(&b, "Content-Transfer-Encoding: 7bit");
	CHECK_LINE(&b, "Content-Type: message/delivery-status");
	CHECK_LINE(&b, "Reporting-MTA: dns; mx.example.org");
	CHECK_LINE(&b, "X-Mtad-Queue-ID: QID123");
	CHECK_LINE(&b, "Arrival-Date: Tue, 3 Mar 2026 09:26:40 +0000");
	CHECK_LINE(&b, "Final-Recipient: rfc822; bob@example.com");
	CHECK_LINE(&b, "Action: failed");
	CHECK_LINE(&b, "Status: 5.1.1");
	CHECK_LINE(&b, "Remote-MTA: dns; mx.example.com");
	CHECK_LINE(&b, "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address");
	CHECK_LINE(&b, " rejected: User unknown");
	CHECK_STR(field_value(&b, "Diagnostic-Code"), " smtp; 550 5.1.1 <bob@example.com>: "
	    "Recipient address rejected: User unknown");
	CHECK_LINE(&b, "Last-Attempt-Date: Tue, 3 Mar 2026 10:00:00 +0000");
	CHECK_LINE(&b, "Content-Type: text/rfc822-headers");
	CHECK_LINE(&b, "--=_u1XYZ--");
	CHECK(strstr(b.data, "Will-Retry-Until") == NULL);
	CHECK(strstr(b.data, "Original-Envelope-Id") == NULL);
	CHECK(strstr(b.data, "Original-Recipient") == NULL);
	CHECK(strstr(b.data, "Content-Transfer-Encoding: 8bit") == NULL);
	/* RFC 3464 2.2 order, then 2.3 order */
	CHECK_ORDER(&b, "Reporting-MTA: dns; mx.example.org", "X-Mtad-Queue-ID: QID123");
	CHECK_ORDER(&b, "Final-Recipient: rfc822; bob@example.com", "Action: failed");
	CHECK_ORDER(&b, "Action: failed", "Status: 5.1.1");
	CHECK_ORDER(&b, "Status: 5.1.1", "Remote-MTA: dns; mx.example.com");
	CHECK_ORDER(&b, "Remote-MTA: dns; mx.example.com",
	    "Last-Attempt-Date: Tue, 3 Mar 2026 10:00:00 +0000");
	/* part 1, in words; part 3, the headers and not the body */
	CHECK_LINE(&b, "  <bob@example.com> (status 5.1.1)");
	CHECK(strstr(b.data, "The server mx.example.com replied: 550 5.1.1") != NULL);
	CHECK(strstr(b.data, "queue ID QID123.") != NULL);
	CHECK(strstr(b.data, "The headers of your message are attached.") != NULL);
	CHECK_LINE(&b, "Subject: Lunch");
	CHECK(strstr(b.data, "BODY-MARKER") == NULL);
	py_check(&b, "--rcpts 1 --part3 text/rfc822-headers", __LINE__);
	buf_free(&b);
}

static void
test_build_two(void)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct buf b;
	int u8;

	rc[0] = rcpt_bob;
	rc[1] = rcpt_carol;
	report_init(&r, rc, 2);
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_INT(u8, 0);
	CHECK_LINE(&b, "Subject: Undelivered Mail Returned to Sender");
	CHECK_ORDER(&b, "Final-Recipient: rfc822; bob@example.com", "Action: failed");
	CHECK_ORDER(&b, "Action: failed", "Original-Recipient: rfc822;Carol@Example.NET");
	CHECK_ORDER(&b, "Original-Recipient: rfc822;Carol@Example.NET",
	    "Final-Recipient: rfc822; carol@example.net");
	CHECK_ORDER(&b, "Final-Recipient: rfc822; carol@example.net", "Action: delayed");
	CHECK_LINE(&b, "Status: 4.4.1");
	CHECK_LINE(&b, "Diagnostic-Code: X-mtad; connect to mx.example.net[192.0.2.7]:25: Connection");
	CHECK_LINE(&b, " timed out");
	CHECK_ORDER(&b, "Action: delayed", "Will-Retry-Until: Sun, 8 Mar 2026 01:06:40 +0000");
	/* one blank line between the recipients' blocks */
	CHECK(strstr(b.data, "Last-Attempt-Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n"
	    "Original-Recipient: rfc822;Carol@Example.NET\r\n") != NULL);
	CHECK(strstr(b.data, "could not be delivered") != NULL);
	CHECK(strstr(b.data, "has not reached the recipients below yet") != NULL);
	CHECK_LINE(&b, "  <carol@example.net> (status 4.4.1)");
	CHECK(strstr(b.data, "keep trying until Sun, 8 Mar 2026 01:06:40 +0000.") != NULL);
	py_check(&b, "--rcpts 2", __LINE__);
	buf_free(&b);
}

/* Subject by the worst action; actions the caller spells oddly. */
static void
test_build_subjects(void)
{
	static const struct {
		const char *action, *subject, *field;
	} cases[] = {
		{ "delayed", "Subject: Delayed Mail (still being retried)", "Action: delayed" },
		{ "delivered", "Subject: Successful Mail Delivery Report", "Action: delivered" },
		{ "RELAYED", "Subject: Successful Mail Delivery Report", "Action: relayed" },
		{ "expanded", "Subject: Successful Mail Delivery Report", "Action: expanded" },
		{ "bounced", "Subject: Undelivered Mail Returned to Sender", "Action: failed" },
		{ NULL, "Subject: Undelivered Mail Returned to Sender", "Action: failed" },
	};
	struct dsn_rcpt rc = rcpt_bob;
	struct dsn_report r;
	struct buf b;
	size_t i;
	int u8;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rc.action = cases[i].action;
		rc.status = NULL;		/* the action's default */
		report_init(&r, &rc, 1);
		if (build(&r, &b, &u8, __LINE__) != 0)
			continue;
		CHECK_LINE(&b, cases[i].subject);
		CHECK_LINE(&b, cases[i].field);
		CHECK(strstr(b.data, "Will-Retry-Until") == NULL);
		py_check(&b, "--rcpts 1", __LINE__);
		buf_free(&b);
	}
}

static void
test_build_full_small(void)
{
	struct dsn_report r;
	struct buf b;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	r.ret = DSN_RET_FULL;
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_LINE(&b, "Content-Type: message/rfc822");
	CHECK(strstr(b.data, "Content-Type: message/rfc822\r\n\r\n" "Received: from") != NULL);
	CHECK(strstr(b.data, orig_small) != NULL);
	CHECK(strstr(b.data, "Your message is attached.") != NULL);
	py_check(&b, "--rcpts 1 --part3 message/rfc822", __LINE__);
	buf_free(&b);
}

static void
test_build_full_big(void)
{
	struct dsn_report r;
	struct buf b, big;
	int u8;

	buf_init(&big, 2 * LIM_DSN_FULL_BODY);
	CHECK_INT(buf_puts(&big, orig_small), 0);
	while (big.len <= LIM_DSN_FULL_BODY)
		CHECK_INT(buf_puts(&big, "more body text, line after line, BODY-MARKER\r\n"), 0);
	report_init(&r, &rcpt_bob, 1);
	r.ret = DSN_RET_FULL;
	r.original = big.data;
	r.original_len = big.len;
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_LINE(&b, "Content-Type: text/rfc822-headers");
		CHECK(strstr(b.data, "message/rfc822") == NULL);
		CHECK(strstr(b.data, "BODY-MARKER") == NULL);
		CHECK(strstr(b.data, "Message-ID: <lunch.1@example.org>\r\n") != NULL);
		CHECK(strstr(b.data, "larger than 50000 octets, so only its") != NULL);
		py_check(&b, "--rcpts 1 --part3 text/rfc822-headers", __LINE__);
		buf_free(&b);
	}
	/* at the limit exactly, all of it */
	r.original_len = LIM_DSN_FULL_BODY;
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_LINE(&b, "Content-Type: message/rfc822");
		buf_free(&b);
	}
	buf_free(&big);
}

static void
test_build_hdrs(void)
{
	struct dsn_report r;
	struct buf b;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	r.ret = DSN_RET_HDRS;
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_LINE(&b, "Content-Type: text/rfc822-headers");
	CHECK(strstr(b.data, "Message-ID: <lunch.1@example.org>\r\n\r\n--=_u1XYZ--\r\n") != NULL);
	CHECK(strstr(b.data, "BODY-MARKER") == NULL);
	py_check(&b, "--rcpts 1 --part3 text/rfc822-headers", __LINE__);
	buf_free(&b);
}

static void
test_build_envid(void)
{
	struct dsn_report r;
	struct buf b;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	r.envid = "QQ314159 a+b=c";
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_LINE(&b, "Original-Envelope-Id: QQ314159 a+b=c");
	CHECK_ORDER(&b, "Original-Envelope-Id: QQ314159 a+b=c",
	    "Reporting-MTA: dns; mx.example.org");
	py_check(&b, "--rcpts 1 --envid 'QQ314159 a+b=c'", __LINE__);
	buf_free(&b);
	r.envid = "";			/* empty: left out */
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK(strstr(b.data, "Original-Envelope-Id") == NULL);
		buf_free(&b);
	}
}

static void
test_build_utf8(void)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct buf b;
	int u8;

	rc[0] = rcpt_bob;
	rc[1] = rcpt_carol;
	rc[1].address = "\xe7\x94\xa8\xe6\x88\xb7+t=1@\xe4\xbe\x8b\xe5\xad\x90.example";
	rc[1].orcpt = "utf-8;\xe7\x94\xa8\xe6\x88\xb7\\x{2B}t\\x{3D}1@\xe4\xbe\x8b\xe5\xad\x90.example";
	report_init(&r, rc, 2);
	r.ret = DSN_RET_FULL;
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_INT(u8, 1);
	CHECK_LINE(&b, "Content-Type: message/global-delivery-status");
	CHECK_LINE(&b, "Content-Type: message/global");
	CHECK_LINE(&b, "Final-Recipient: rfc822; bob@example.com");
	CHECK_LINE(&b, "Final-Recipient: utf-8; \xe7\x94\xa8\xe6\x88\xb7\\x{2B}t\\x{3D}1@"
	    "\xe4\xbe\x8b\xe5\xad\x90.example");
	CHECK_LINE(&b, "Original-Recipient: utf-8;\xe7\x94\xa8\xe6\x88\xb7\\x{2B}t\\x{3D}1@"
	    "\xe4\xbe\x8b\xe5\xad\x90.example");
	CHECK_LINE(&b, "  <\xe7\x94\xa8\xe6\x88\xb7+t=1@\xe4\xbe\x8b\xe5\xad\x90.example> "
	    "(status 4.4.1)");
	CHECK_LINE(&b, "Content-Transfer-Encoding: 8bit");
	CHECK(strstr(b.data, "Content-Type: message/global-delivery-status\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n") != NULL);
	CHECK(strstr(b.data, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n") != NULL);
	py_check(&b, "--rcpts 2 --global --part3 message/global", __LINE__);
	buf_free(&b);
	/* RET=HDRS: message/global-headers; a UTF-8 sender alone is enough */
	report_init(&r, &rcpt_bob, 1);
	r.sender = "j\xc3\xb6rg@example.org";
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_INT(u8, 1);
		CHECK_LINE(&b, "To: <j\xc3\xb6rg@example.org>");
		CHECK_LINE(&b, "Content-Type: message/global-headers");
		py_check(&b, "--rcpts 1 --global --part3 message/global-headers", __LINE__);
		buf_free(&b);
	}
}

/* A diagnostic too long for a line: folded near 78, nothing lost. */
static void
test_build_long_diag(void)
{
	struct dsn_rcpt rc = rcpt_bob;
	struct dsn_report r;
	struct buf b, diag;
	char want[2100];
	int u8, i;

	buf_init(&diag, 4096);
	CHECK_INT(buf_puts(&diag, "550 5.7.1"), 0);
	for (i = 0; diag.len < 2000; i++)
		CHECK_INT(buf_printf(&diag, " word%d%s", i, i % 7 == 0 ? "-longer-than-most" : ""), 0);
	rc.diagnostic = diag.data;
	report_init(&r, &rc, 1);
	if (build(&r, &b, &u8, __LINE__) == 0) {
		snprintf(want, sizeof want, " smtp; %s", diag.data);
		CHECK_STR(field_value(&b, "Diagnostic-Code"), want);
		CHECK(strstr(strstr(b.data, "Diagnostic-Code:"), "\r\n ") != NULL);
		py_check(&b, "--rcpts 1", __LINE__);
		buf_free(&b);
	}
	/* 2000 octets without a blank: broken into lines of at most 998 */
	buf_reset(&diag, 4096);
	CHECK_INT(buf_puts(&diag, "550"), 0);
	CHECK_INT(buf_puts(&diag, " "), 0);
	while (diag.len < 2000)
		CHECK_INT(buf_puts(&diag, "x"), 0);
	rc.diagnostic = diag.data;
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK(strstr(b.data, "\r\n xxx") != NULL);
		py_check(&b, "--rcpts 1", __LINE__);
		buf_free(&b);
	}
	buf_free(&diag);
}

/* The original holds "=_u1XYZ", then also "=_u1XYZ.1": the boundary moves. */
static void
test_build_boundary(void)
{
	static const char o1[] = "Subject: x\r\n\r\n--=_u1XYZ\r\n";
	static const char o2[] = "Subject: =_u1XYZ.1\r\nX: =_u1XYZ\r\n\r\nbody\r\n";
	struct dsn_report r;
	struct buf b;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	r.ret = DSN_RET_FULL;
	r.original = o1;
	r.original_len = strlen(o1);
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_LINE(&b, "\tboundary=\"=_u1XYZ.1\"");
		CHECK_LINE(&b, "--=_u1XYZ.1--");
		py_check(&b, "--rcpts 1 --part3 message/rfc822", __LINE__);
		buf_free(&b);
	}
	r.ret = DSN_RET_HDRS;
	r.original = o2;
	r.original_len = strlen(o2);
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_LINE(&b, "\tboundary=\"=_u1XYZ.2\"");
		py_check(&b, "--rcpts 1 --part3 text/rfc822-headers", __LINE__);
		buf_free(&b);
	}
	/* in the body but not returned (headers only): no need to move */
	r.original = o1;
	r.original_len = strlen(o1);
	if (build(&r, &b, &u8, __LINE__) == 0) {
		CHECK_LINE(&b, "\tboundary=\"=_u1XYZ\"");
		buf_free(&b);
	}
}

/* out->max too small at every size short of the report: -1, out as it was. */
static void
test_build_too_small(void)
{
	struct dsn_report r;
	struct buf b, small;
	size_t need, max;
	int u8;

	report_init(&r, &rcpt_bob, 1);
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	need = b.len;
	for (max = 0; max <= need + 2; max += max < 64 || max + 64 > need ? 1 : 61) {
		buf_init(&small, max + 3);
		CHECK_INT(buf_puts(&small, "pre"), 0);
		u8 = -1;
		if (dsn_build(&r, &small, &u8) != (max >= need ? 0 : -1))
			test_fail(__FILE__, __LINE__, "max %zu (need %zu): wrong result", max, need);
		if (max < need && (small.len != 3 || strcmp(small.data, "pre") != 0))
			test_fail(__FILE__, __LINE__, "max %zu: output changed", max);
		if (max >= need && (small.len != need + 3 || memcmp(small.data + 3, b.data, need)))
			test_fail(__FILE__, __LINE__, "max %zu: different report", max);
		CHECK_INT(u8, 0);
		buf_free(&small);
	}
	buf_free(&b);
	r.nrcpts = 0;			/* nothing to report */
	buf_init(&b, 1 << 20);
	CHECK_INT(dsn_build(&r, &b, &u8), -1);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

/* Text from outside that would break the format, if copied as is. */
static void
test_build_hostile(void)
{
	static char orig[6000];
	struct dsn_rcpt rc = rcpt_bob;
	struct dsn_report r;
	struct buf b;
	size_t o;
	int u8;

	o = (size_t)snprintf(orig, sizeof orig, "Subject: bare LF\nX-CR: bare CR\rX-Long: ");
	memset(orig + o, 'h', 3000);
	o += 3000;
	o += (size_t)snprintf(orig + o, sizeof orig - o, "\r\n\nbody ");
	memset(orig + o, 'b', 2500);
	o += 2500;
	o += (size_t)snprintf(orig + o, sizeof orig - o, "\nno final newline");
	rc.diagnostic = "550 bad\r\nX-Injected: yes\r\n\r\n--=_u1XYZ caf\xc3\xa9 \x01\xff";
	rc.remote_mta = "mx.example.com\r\nX-Injected-Too: yes";
	rc.status = "5.1.1\r\nX: y";
	rc.orcpt = "no-type@example.com";
	rc.last_attempt = (time_t)1 << 50;	/* beyond year 9999 */
	report_init(&r, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.original = orig;
	r.original_len = o;
	if (build(&r, &b, &u8, __LINE__) != 0)
		return;
	CHECK_INT(u8, 0);
	CHECK(strstr(b.data, "\r\nX-Injected") == NULL);
	CHECK(strstr(b.data, "\r\nX: y") == NULL);
	CHECK_LINE(&b, "Status: 5.0.0");
	CHECK_LINE(&b, "Original-Recipient: rfc822;no-type@example.com");
	CHECK_LINE(&b, "Last-Attempt-Date: Thu, 1 Jan 1970 00:00:00 +0000");
	CHECK(strstr(b.data, "caf? ") != NULL);		/* ASCII report: no UTF-8 */
	CHECK_LINE(&b, "\tboundary=\"=_u1XYZ.1\"");
	CHECK_LINE(&b, "Subject: bare LF");
	CHECK_LINE(&b, "X-CR: bare CR");
	CHECK_LINE(&b, "no final newline");
	CHECK(strstr(b.data, "\r\n hhh") != NULL);	/* header line folded */
	CHECK(strstr(b.data, "\r\nbbb") != NULL);	/* body line broken */
	py_check(&b, "--rcpts 1 --part3 message/rfc822", __LINE__);
	buf_free(&b);
}

const struct test dsn_tests[] = {
	{ "notify", test_notify },
	{ "xtext_decode", test_xtext_decode },
	{ "xtext_encode", test_xtext_encode },
	{ "xtext_roundtrip", test_xtext_roundtrip },
	{ "build_failed", test_build_failed },
	{ "build_two", test_build_two },
	{ "build_subjects", test_build_subjects },
	{ "build_full_small", test_build_full_small },
	{ "build_full_big", test_build_full_big },
	{ "build_hdrs", test_build_hdrs },
	{ "build_envid", test_build_envid },
	{ "build_utf8", test_build_utf8 },
	{ "build_long_diag", test_build_long_diag },
	{ "build_boundary", test_build_boundary },
	{ "build_too_small", test_build_too_small },
	{ "build_hostile", test_build_hostile },
	{ NULL, NULL },
};
