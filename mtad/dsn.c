/*
 * dsn.c -- delivery status notifications (see dsn.h): the RFC 3464 report
 * as a complete RFC 5322 message, and the RFC 3461 NOTIFY and xtext codecs.
 * Pure: no I/O, no clock, no randomness (the caller passes `now` and
 * `unique`).
 *
 * The report (every line ends in CRLF and holds at most 998 octets):
 *
 *   From: Mail Delivery System <MAILER-DAEMON@host>
 *   To: <sender>
 *   Subject: Undelivered Mail Returned to Sender    (any failed)
 *            Delayed Mail (still being retried)     (else any delayed)
 *            Successful Mail Delivery Report        (else)
 *   Date: Tue, 3 Mar 2026 10:00:00 +0000
 *   Message-ID: <queueid.unique@host>
 *   Auto-Submitted: auto-replied                    (RFC 3834 5)
 *   MIME-Version: 1.0
 *   Content-Type: multipart/report; report-type=delivery-status;
 *   	boundary="=_unique"                          (RFC 6522)
 *   Content-Transfer-Encoding: 8bit                 (only if a part is 8bit)
 *
 *   --=_unique
 *   Content-Type: text/plain; charset=utf-8
 *   Content-Transfer-Encoding: 7bit                 (8bit if not ASCII)
 *
 *   what happened, in words, grouped by action; the queue ID
 *   --=_unique
 *   Content-Type: message/delivery-status           (RFC 3464 2.1)
 *
 *   Original-Envelope-Id: envid                     (when given)
 *   Reporting-MTA: dns; host
 *   Arrival-Date: date                              (when known)
 *   X-Mtad-Queue-ID: queueid                        (extension field)
 *
 *   Original-Recipient: rfc822;x@y                  (ORCPT, as stored)
 *   Final-Recipient: rfc822; x@y
 *   Action: failed
 *   Status: 5.1.1
 *   Remote-MTA: dns; mx.example.com                 (when known)
 *   Diagnostic-Code: smtp; 550 5.1.1 ...            (when known)
 *   Last-Attempt-Date: date                         (when known)
 *   Will-Retry-Until: date                          (delayed only)
 *
 *   (one such block per recipient, in the caller's order)
 *   --=_unique
 *   Content-Type: text/rfc822-headers               (RET=HDRS or unspecified)
 *                 message/rfc822                    (RET=FULL, small enough)
 *
 *   the original's header section, or all of it
 *   --=_unique--
 *
 * The fields follow the order of the RFC 3464 2.2 and 2.3 ABNF.
 * Diagnostic-Code is "smtp;" when the text is an SMTP reply ("550 ...",
 * "421-..."), else our own text under "X-mtad;".
 *
 * Internationalized (RFC 6533), when the sender, a recipient, an ORCPT or
 * the original's header section is not ASCII: the report is SMTPUTF8,
 * part 2 is message/global-delivery-status (8bit), part 3 is
 * message/global-headers or message/global, and a non-ASCII
 * Final-Recipient is "utf-8; " in the utf-8-addr-unitext form (SP, "\",
 * "+", "=" and controls as "\x{HH}").  Otherwise every text we copy in
 * (diagnostics, host names) is cut down to ASCII, non-ASCII as "?".
 *
 * Text from outside never breaks the format: controls, CR and LF become
 * spaces; header fields are folded at blanks (RFC 5322 2.2.3: CRLF before
 * the blank), the diagnostic near 78 octets, the others only past 998; a
 * word too long for one line is broken by CRLF SP.  The original is copied
 * line by line: CRLF, LF and a bare CR each end a line, and a line over
 * 998 octets is broken (header lines by CRLF SP, body lines by CRLF).
 */
#include "dsn.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "limits.h"
#include "str.h"

/* RFC 5322 2.1.1: a line is at most 998 octets before CRLF (a text line of
 * LIM_TEXT_LINE with its CRLF), and SHOULD be at most 78. */
#define DSN_LINE_MAX (LIM_TEXT_LINE - 2)
#define DSN_LINE_SOFT 78
/* Characters of `unique` and of the queue ID we use in the boundary and
 * the Message-ID (RFC 2046 5.1.1: a boundary is at most 70 characters). */
#define DSN_UNIQUE_MAX 40
#define DSN_QID_MAX 64
#define DSN_BOUNDARY_MAX 70
/* Boundaries tried ("=_u", "=_u.1", ...) before giving up. */
#define DSN_BOUNDARY_TRIES 1000

/* RFC 3464 2.3.3 actions, in the order part 1 reports them. */
enum { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED, DSN_NACTIONS };

static const struct {
	const char *action;
	const char *dflt_status;	/* when the caller's is missing or bad */
	const char *intro;		/* part 1, before the recipients */
} dsn_actions[DSN_NACTIONS] = {
	{ "failed", "5.0.0", "Your message could not be delivered to the recipients "
	    "below. This is final: the mail system has stopped trying." },
	{ "delayed", "4.0.0", "Your message has not reached the recipients below yet. "
	    "The mail system is still trying; there is no need to send it again." },
	{ "delivered", "2.0.0", "Your message was delivered to the recipients below." },
	{ "relayed", "2.0.0", "Your message was passed on for the recipients below to a "
	    "mail system that does not send delivery reports." },
	{ "expanded", "2.0.0", "Your message was delivered to the recipients below, "
	    "which are lists or aliases, and sent on to their members." },
};

struct dsn_ctx {
	const struct dsn_report *r;
	int global;		/* RFC 6533: utf-8 addresses, global types */
	int full;		/* part 3 is the whole original */
	int too_big;		/* RET=FULL, but only the headers fit */
	size_t hdr_len;		/* octets of the original's header section */
	size_t ret_len;		/* octets of the original in part 3 */
	char host[LIM_DOMAIN + 1];
	char boundary[DSN_BOUNDARY_MAX + 1];
	struct buf text;	/* part 1 */
	struct buf status;	/* part 2 */
	struct buf tmp;		/* one value, cleaned, before folding */
};

/* ---- text helpers ---- */

static int
dsn_nonascii(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

static int
dsn_nonascii_str(const char *s)
{
	return s != NULL && dsn_nonascii(s, strlen(s));
}

/* Copy into dst the letters and digits of s and the characters in `extra`,
 * dropping the others, at most size - 1 of them; `dflt` if none remain. */
static void
dsn_token(char *dst, size_t size, const char *s, const char *extra, const char *dflt)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 1 < size; s++) {
		char c = *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(extra, c) != NULL)
			dst[o++] = c;
	}
	dst[o] = '\0';
	if (o == 0)
		(void)str_copy(dst, size, dflt);
}

/* RFC 5322 3.3 date-time in UTC, "Tue, 3 Mar 2026 10:00:00 +0000"
 * (day and month names never from the locale).  Years outside 1900-9999
 * cannot be written as 4DIGIT: such a time shows as the epoch. */
static void
dsn_date(char *dst, size_t size, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 9999 - 1900) {
		t = 0;
		(void)gmtime_r(&t, &tm);
	}
	(void)str_fmt(dst, size, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/* Append s to b as one line of text: printable ASCII as is; CRLF, and any
 * other control, as one space; well-formed UTF-8 as is when `utf8`, else
 * "?" per character; a malformed byte as "?". */
static int
dsn_clean(struct buf *b, const char *s, int utf8)
{
	size_t n = s != NULL ? strlen(s) : 0, i = 0, run, k;

	while (i < n) {
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x7f; run++)
			;
		if (run > i && buf_append(b, s + i, run - i) < 0)
			return -1;
		if ((i = run) == n)
			break;
		k = str_utf8_len(s + i, n - i);
		if (k > 0 && utf8) {
			if (buf_append(b, s + i, k) < 0)
				return -1;
		} else if (buf_puts(b, (unsigned char)s[i] < 0x80 ? " " : "?") < 0) {
			return -1;
		}
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			k = 2;
		i += k > 0 ? k : 1;
	}
	return 0;
}

/* Does the text look like an SMTP reply ("550 ...", "421-...", "250")? */
static int
dsn_is_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' || s[3] == '\0' ||
	    s[3] == '\r');
}

/* ---- folding ---- */

/* Where to cut p (more than `room` octets) so that at most `room` stay on
 * this line: not inside a UTF-8 sequence. */
static size_t
dsn_utf8_cut(const char *p, size_t room)
{
	size_t k = room;

	while (k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80)
		k--;
	return k;
}

/* Append [p, p+n) to the current line, now *col octets long, breaking it
 * with `brk` (CRLF, then the continuation's indent) wherever it would pass
 * DSN_LINE_MAX; not inside a UTF-8 sequence unless one fills a line. */
static int
dsn_chunk(struct buf *out, size_t *col, const char *p, size_t n, const char *brk)
{
	size_t indent = strlen(brk) - 2;

	while (n > 0) {
		size_t room = *col < DSN_LINE_MAX ? DSN_LINE_MAX - *col : 0;
		size_t k = n <= room ? n : dsn_utf8_cut(p, room);

		if (k == 0 && *col <= indent)
			k = room;
		if (k == 0) {
			if (buf_puts(out, brk) < 0)
				return -1;
			*col = indent;
			continue;
		}
		if (buf_append(out, p, k) < 0)
			return -1;
		*col += k;
		p += k;
		n -= k;
	}
	return 0;
}

/*
 * Append the clean text s (no controls) to a line now `col` octets long,
 * breaking lines before a run of blanks where one would pass `soft`.
 * Header mode (indent NULL): RFC 5322 folding, the blanks start the next
 * line.  Body mode: the blanks become CRLF and `indent`, and the text
 * starts a line (its leading blanks are dropped).  Trailing blanks are
 * dropped in both; no CRLF is written at the end.
 */
static int
dsn_fold(struct buf *out, size_t col, const char *s, size_t soft, const char *indent)
{
	char brk[16];
	int first = 1;

	if (str_fmt(brk, sizeof brk, "\r\n%s", indent != NULL ? indent : " ") < 0)
		return -1;
	while (*s != '\0') {
		size_t ws = strspn(s, " "), wl = strcspn(s + ws, " ");

		if (wl == 0)
			break;
		if (ws > DSN_LINE_SOFT) {	/* a silly run of blanks: one */
			s += ws - 1;
			ws = 1;
		}
		if (indent != NULL && first) {
			s += ws;
			ws = 0;
		} else if (ws > 0 && col + ws + wl > soft) {
			if (buf_puts(out, indent != NULL ? brk : "\r\n") < 0)
				return -1;
			col = indent != NULL ? strlen(indent) : 0;
			if (indent != NULL) {
				s += ws;
				ws = 0;
			}
		}
		if (dsn_chunk(out, &col, s, ws + wl, brk) < 0)
			return -1;
		s += ws + wl;
		first = 0;
	}
	return 0;
}

/* "Name:" and the clean value v (starting with its blank), folded, CRLF. */
static int
dsn_put_field(struct buf *out, const char *name, const char *v, size_t soft)
{
	if (buf_puts(out, name) < 0 || buf_puts(out, ":") < 0 ||
	    dsn_fold(out, strlen(name) + 1, v, soft, NULL) < 0 || buf_puts(out, "\r\n") < 0)
		return -1;
	return 0;
}

/* A header field "Name: <pre><value, cleaned><post>", folded. */
static int
dsn_field(struct dsn_ctx *c, struct buf *out, const char *name, const char *pre,
    const char *value, const char *post, size_t soft)
{
	struct buf *t = &c->tmp;

	buf_reset(t, SIZE_MAX);
	if (buf_puts(t, " ") < 0 || buf_puts(t, pre) < 0 || dsn_clean(t, value, c->global) < 0 ||
	    buf_puts(t, post) < 0)
		return -1;
	return dsn_put_field(out, name, t->data, soft);
}

/* Part 1: the paragraph in c->tmp, wrapped near 78 octets, each line
 * starting with `indent`. */
static int
dsn_say(struct dsn_ctx *c, const char *indent)
{
	struct buf *b = &c->text;

	if (buf_puts(b, indent) < 0 ||
	    dsn_fold(b, strlen(indent), c->tmp.data != NULL ? c->tmp.data : "", DSN_LINE_SOFT,
	    indent) < 0 || buf_puts(b, "\r\n") < 0)
		return -1;
	return 0;
}

/* ---- what each recipient gets ---- */

/* The RFC 3464 action of a recipient (unknown or missing: failed). */
static int
dsn_action(const struct dsn_rcpt *rc)
{
	int a;
	size_t n = rc->action != NULL ? strlen(rc->action) : 0;

	for (a = 0; a < DSN_NACTIONS && n > 0; a++)
		if (str_iprefix(rc->action, dsn_actions[a].action) == n)
			return a;
	return DSN_FAILED;
}

/* RFC 3463 status-code = class "." subject "." detail, class 2, 4 or 5,
 * 1-3 digits each after; a missing or bad one gets the action's default. */
static const char *
dsn_status(const struct dsn_rcpt *rc)
{
	const char *s = rc->status;
	int part, digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return dsn_actions[dsn_action(rc)].dflt_status;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3 || *s != (part == 0 ? '.' : '\0'))
			return dsn_actions[dsn_action(rc)].dflt_status;
		s++;
	}
	return rc->status;
}

/* ---- part 1: in words ---- */

/* "  <address> (status 5.1.1)", then what the server said, or why. */
static int
dsn_text_rcpt(struct dsn_ctx *c, const struct dsn_rcpt *rc)
{
	struct buf *t = &c->tmp;
	const char *diag = rc->diagnostic, *mta = rc->remote_mta;
	char date[64];

	if (mta != NULL && *mta == '\0')
		mta = NULL;
	buf_reset(t, SIZE_MAX);
	if (buf_puts(t, "<") < 0 || dsn_clean(t, rc->address, c->global) < 0 ||
	    buf_printf(t, "> (status %s)", dsn_status(rc)) < 0 || dsn_say(c, "  ") < 0)
		return -1;
	buf_reset(t, SIZE_MAX);
	if (diag != NULL && *diag != '\0') {
		int reply = dsn_is_reply(diag);

		if (mta != NULL && (buf_puts(t, reply ? "The server " : "Reason (") < 0 ||
		    dsn_clean(t, mta, c->global) < 0 || buf_puts(t, reply ? " replied: " : "): ") < 0))
			return -1;
		if (mta == NULL && buf_puts(t, reply ? "The reply was: " : "Reason: ") < 0)
			return -1;
		if (dsn_clean(t, diag, c->global) < 0 || dsn_say(c, "    ") < 0)
			return -1;
	} else if (mta != NULL) {
		if (buf_puts(t, "Remote server: ") < 0 || dsn_clean(t, mta, c->global) < 0 ||
		    dsn_say(c, "    ") < 0)
			return -1;
	}
	if (dsn_action(rc) == DSN_DELAYED && rc->retry_until != 0) {
		dsn_date(date, sizeof date, rc->retry_until);
		buf_reset(t, SIZE_MAX);
		if (buf_printf(t, "The mail system will keep trying until %s.", date) < 0 ||
		    dsn_say(c, "    ") < 0)
			return -1;
	}
	return 0;
}

/* How much of the original comes back, and the queue ID. */
static int
dsn_text_footer(struct dsn_ctx *c)
{
	struct buf *t = &c->tmp;

	buf_reset(t, SIZE_MAX);
	if (c->full) {
		if (buf_puts(t, "Your message is attached.") < 0)
			return -1;
	} else if (c->too_big) {
		if (buf_printf(t, "Your message is larger than %d octets, so only its headers "
		    "are attached.", LIM_DSN_FULL_BODY) < 0)
			return -1;
	} else if (buf_puts(t, "The headers of your message are attached.") < 0) {
		return -1;
	}
	if (buf_puts(t, " If you contact the postmaster about it, please quote queue ID ") < 0 ||
	    dsn_clean(t, c->r->queue_id != NULL ? c->r->queue_id : "-", 0) < 0 ||
	    buf_puts(t, ".") < 0)
		return -1;
	return dsn_say(c, "");
}

/* Part 1 into c->text: one paragraph per action, its recipients below. */
static int
dsn_text(struct dsn_ctx *c)
{
	const struct dsn_report *r = c->r;
	size_t i;
	int a, any;

	if (buf_printf(&c->text, "This is the mail system at %s.\r\n\r\n", c->host) < 0)
		return -1;
	for (a = 0; a < DSN_NACTIONS; a++) {
		any = 0;
		for (i = 0; i < r->nrcpts; i++) {
			if (dsn_action(&r->rcpts[i]) != a)
				continue;
			if (!any) {
				buf_reset(&c->tmp, SIZE_MAX);
				if (buf_puts(&c->tmp, dsn_actions[a].intro) < 0 || dsn_say(c, "") < 0 ||
				    buf_puts(&c->text, "\r\n") < 0)
					return -1;
				any = 1;
			}
			if (dsn_text_rcpt(c, &r->rcpts[i]) < 0)
				return -1;
		}
		if (any && buf_puts(&c->text, "\r\n") < 0)
			return -1;
	}
	return dsn_text_footer(c);
}

/* ---- part 2: RFC 3464 fields ---- */

/* RFC 6533 3 utf-8-addr-unitext: UTF-8 as is; SP, "\", "+", "=" and the
 * controls as "\x{HH}"; a malformed byte as "\x{FFFD}". */
static int
dsn_unitext(struct buf *b, const char *s)
{
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x80) {
			k = str_utf8_len(s + i, n - i);
			if (k == 0 ? buf_puts(b, "\\x{FFFD}") : buf_append(b, s + i, k))
				return -1;
			i += k > 0 ? k : 1;
			continue;
		}
		if (ch <= 0x20 || ch == 0x7f || ch == '\\' || ch == '+' || ch == '=') {
			if (buf_printf(b, "\\x{%02X}", ch) < 0)
				return -1;
		} else if (buf_append(b, s + i, 1) < 0) {
			return -1;
		}
		i++;
	}
	return 0;
}

/* Final-Recipient: rfc822; x@y, or utf-8; (unitext) when not ASCII. */
static int
dsn_final_recipient(struct dsn_ctx *c, const char *addr)
{
	struct buf *t = &c->tmp;

	if (addr == NULL)
		addr = "";
	buf_reset(t, SIZE_MAX);
	if (dsn_nonascii_str(addr)) {
		if (buf_puts(t, " utf-8; ") < 0 || dsn_unitext(t, addr) < 0)
			return -1;
	} else if (buf_puts(t, " rfc822; ") < 0 || dsn_clean(t, addr, 0) < 0) {
		return -1;
	}
	return dsn_put_field(&c->status, "Final-Recipient", t->data, DSN_LINE_MAX);
}

/* One per-recipient block, after its blank line. */
static int
dsn_status_rcpt(struct dsn_ctx *c, const struct dsn_rcpt *rc)
{
	struct buf *b = &c->status;
	const char *diag = rc->diagnostic, *orcpt = rc->orcpt;
	char date[64];
	int a = dsn_action(rc);

	if (buf_puts(b, "\r\n") < 0)
		return -1;
	if (orcpt != NULL && *orcpt != '\0' && dsn_field(c, b, "Original-Recipient",
	    strchr(orcpt, ';') != NULL ? "" : "rfc822;", orcpt, "", DSN_LINE_MAX) < 0)
		return -1;
	if (dsn_final_recipient(c, rc->address) < 0 ||
	    buf_printf(b, "Action: %s\r\nStatus: %s\r\n", dsn_actions[a].action,
	    dsn_status(rc)) < 0)
		return -1;
	if (rc->remote_mta != NULL && *rc->remote_mta != '\0' &&
	    dsn_field(c, b, "Remote-MTA", "dns; ", rc->remote_mta, "", DSN_LINE_MAX) < 0)
		return -1;
	if (diag != NULL && *diag != '\0' && dsn_field(c, b, "Diagnostic-Code",
	    dsn_is_reply(diag) ? "smtp; " : "X-mtad; ", diag, "", DSN_LINE_SOFT) < 0)
		return -1;
	if (rc->last_attempt != 0) {
		dsn_date(date, sizeof date, rc->last_attempt);
		if (buf_printf(b, "Last-Attempt-Date: %s\r\n", date) < 0)
			return -1;
	}
	if (a == DSN_DELAYED && rc->retry_until != 0) {
		dsn_date(date, sizeof date, rc->retry_until);
		if (buf_printf(b, "Will-Retry-Until: %s\r\n", date) < 0)
			return -1;
	}
	return 0;
}

/* Part 2 into c->status: the per-message fields, then each recipient. */
static int
dsn_status_all(struct dsn_ctx *c)
{
	const struct dsn_report *r = c->r;
	struct buf *b = &c->status;
	char date[64];
	size_t i;

	if (r->envid != NULL && *r->envid != '\0' &&
	    dsn_field(c, b, "Original-Envelope-Id", "", r->envid, "", DSN_LINE_MAX) < 0)
		return -1;
	if (buf_printf(b, "Reporting-MTA: dns; %s\r\n", c->host) < 0)
		return -1;
	if (r->arrival != 0) {
		dsn_date(date, sizeof date, r->arrival);
		if (buf_printf(b, "Arrival-Date: %s\r\n", date) < 0)
			return -1;
	}
	if (r->queue_id != NULL && *r->queue_id != '\0' &&
	    dsn_field(c, b, "X-Mtad-Queue-ID", "", r->queue_id, "", DSN_LINE_MAX) < 0)
		return -1;
	for (i = 0; i < r->nrcpts; i++)
		if (dsn_status_rcpt(c, &r->rcpts[i]) < 0)
			return -1;
	return 0;
}

/* ---- part 3: the original ---- */

/* The line at p (n octets left): its length without its end; *next is
 * where the next starts.  CRLF, LF and a bare CR each end a line. */
static size_t
dsn_line(const char *p, size_t n, size_t *next)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\r' && p[i] != '\n'; i++)
		;
	if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
		*next = i + 2;
	else
		*next = i < n ? i + 1 : n;
	return i;
}

/* Octets of the header section: up to the first empty line (all of it if
 * there is none). */
static size_t
dsn_header_len(const char *p, size_t n)
{
	size_t off = 0, next;

	while (off < n) {
		if (dsn_line(p + off, n - off, &next) == 0)
			return off;
		off += next;
	}
	return n;
}

/* Append [p, p+n) as CRLF lines; lines before hdr_len are header lines. */
static int
dsn_put_original(struct buf *out, const char *p, size_t n, size_t hdr_len)
{
	size_t off = 0, next, len, col;

	while (off < n) {
		len = dsn_line(p + off, n - off, &next);
		col = 0;
		if (dsn_chunk(out, &col, p + off, len, off < hdr_len ? "\r\n " : "\r\n") < 0 ||
		    buf_puts(out, "\r\n") < 0)
			return -1;
		off += next;
	}
	return 0;
}

/* ---- the message ---- */

static int
dsn_occurs(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* "=_" and the letters and digits of `unique`; ".1", ".2", ... appended
 * while it occurs in part 1, part 2 or the returned original. */
static int
dsn_boundary(struct dsn_ctx *c)
{
	char base[DSN_UNIQUE_MAX + 1];
	unsigned n;

	dsn_token(base, sizeof base, c->r->unique, "", "mtad");
	for (n = 0; n < DSN_BOUNDARY_TRIES; n++) {
		if ((n == 0 ? str_fmt(c->boundary, sizeof c->boundary, "=_%s", base) :
		    str_fmt(c->boundary, sizeof c->boundary, "=_%s.%u", base, n)) < 0)
			return -1;
		if (!dsn_occurs(&c->text, c->boundary) && !dsn_occurs(&c->status, c->boundary) &&
		    (c->ret_len == 0 || memmem(c->r->original, c->ret_len, c->boundary,
		    strlen(c->boundary)) == NULL))
			return 0;
	}
	return -1;
}

static const char *
dsn_subject(const struct dsn_report *r)
{
	size_t i;
	int delayed = 0;

	for (i = 0; i < r->nrcpts; i++) {
		if (dsn_action(&r->rcpts[i]) == DSN_FAILED)
			return "Undelivered Mail Returned to Sender";
		if (dsn_action(&r->rcpts[i]) == DSN_DELAYED)
			delayed = 1;
	}
	return delayed ? "Delayed Mail (still being retried)" : "Successful Mail Delivery Report";
}

/* The top-level header section and its empty line. */
static int
dsn_put_header(struct dsn_ctx *c, struct buf *out, int eightbit)
{
	const struct dsn_report *r = c->r;
	char date[64], qid[DSN_QID_MAX + 1], uniq[DSN_UNIQUE_MAX + 1];

	dsn_date(date, sizeof date, r->now);
	dsn_token(qid, sizeof qid, r->queue_id, "-_", "dsn");
	dsn_token(uniq, sizeof uniq, r->unique, "", "dsn");
	if (buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", c->host) < 0 ||
	    dsn_field(c, out, "To", "<", r->sender, ">", DSN_LINE_MAX) < 0 ||
	    buf_printf(out, "Subject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@%s>\r\n",
	    dsn_subject(r), date, qid, uniq, c->host) < 0 ||
	    buf_puts(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n") < 0 ||
	    buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", c->boundary) < 0 ||
	    (eightbit && buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n") < 0) ||
	    buf_puts(out, "\r\n") < 0)
		return -1;
	return 0;
}

/* One body part: delimiter, Content-Type, the encoding when 8bit, the
 * content (which ends in CRLF, the delimiter's CRLF follows). */
static int
dsn_put_part(struct dsn_ctx *c, struct buf *out, const char *type, const char *cte)
{
	if (buf_printf(out, "--%s\r\nContent-Type: %s\r\n", c->boundary, type) < 0 ||
	    (cte != NULL && buf_printf(out, "Content-Transfer-Encoding: %s\r\n", cte) < 0) ||
	    buf_puts(out, "\r\n") < 0)
		return -1;
	return 0;
}

/* The three parts, after the header section. */
static int
dsn_put_body(struct dsn_ctx *c, struct buf *out, int text8, int status8, int orig8)
{
	const char *type3;

	if (c->full)
		type3 = c->global ? "message/global" : "message/rfc822";
	else
		type3 = c->global ? "message/global-headers" : "text/rfc822-headers";
	if (dsn_put_part(c, out, "text/plain; charset=utf-8", text8 ? "8bit" : "7bit") < 0 ||
	    buf_append(out, c->text.data, c->text.len) < 0 || buf_puts(out, "\r\n") < 0 ||
	    dsn_put_part(c, out, c->global ? "message/global-delivery-status" :
	    "message/delivery-status", status8 ? "8bit" : NULL) < 0 ||
	    buf_append(out, c->status.data, c->status.len) < 0 || buf_puts(out, "\r\n") < 0 ||
	    dsn_put_part(c, out, type3, orig8 ? "8bit" : NULL) < 0 ||
	    dsn_put_original(out, c->r->original, c->ret_len, c->hdr_len) < 0 ||
	    buf_printf(out, "\r\n--%s--\r\n", c->boundary) < 0)
		return -1;
	return 0;
}

/* Which of the original goes back, and whether the report is RFC 6533. */
static void
dsn_plan(struct dsn_ctx *c)
{
	const struct dsn_report *r = c->r;
	size_t n = r->original != NULL ? r->original_len : 0, i;

	c->hdr_len = n > 0 ? dsn_header_len(r->original, n) : 0;
	c->full = r->ret == DSN_RET_FULL && n <= LIM_DSN_FULL_BODY;
	c->too_big = r->ret == DSN_RET_FULL && !c->full;
	c->ret_len = c->full ? n : c->hdr_len;
	c->global = dsn_nonascii_str(r->sender) || (c->hdr_len > 0 &&
	    dsn_nonascii(r->original, c->hdr_len));
	for (i = 0; i < r->nrcpts; i++)
		if (dsn_nonascii_str(r->rcpts[i].address) || dsn_nonascii_str(r->rcpts[i].orcpt))
			c->global = 1;
	dsn_token(c->host, sizeof c->host, r->reporting_mta, "-.[]:", "localhost");
}

/*
 * Build the report; on failure `out` is left as it was.  Returns -1 also
 * when there is no recipient to report on (RFC 3464 wants at least one).
 */
int
dsn_build(const struct dsn_report *r, struct buf *out, int *smtputf8)
{
	struct dsn_ctx c;
	size_t start = out->len;
	int rc = -1;

	if (smtputf8 != NULL)
		*smtputf8 = 0;
	if (r == NULL || r->nrcpts == 0 || r->rcpts == NULL)
		return -1;
	memset(&c, 0, sizeof c);
	c.r = r;
	buf_init(&c.text, out->max);
	buf_init(&c.status, out->max);
	buf_init(&c.tmp, out->max);
	dsn_plan(&c);
	if (dsn_text(&c) == 0 && dsn_status_all(&c) == 0 && dsn_boundary(&c) == 0) {
		int text8 = dsn_nonascii(c.text.data, c.text.len);
		int status8 = dsn_nonascii(c.status.data, c.status.len);
		int orig8 = c.ret_len > 0 && dsn_nonascii(r->original, c.ret_len);

		if (dsn_put_header(&c, out, text8 || status8 || orig8) == 0 &&
		    dsn_put_body(&c, out, text8, status8, orig8) == 0)
			rc = 0;
	}
	buf_free(&c.text);
	buf_free(&c.status);
	buf_free(&c.tmp);
	if (rc < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	} else if (smtputf8 != NULL) {
		*smtputf8 = c.global;
	}
	return rc;
}

/* ---- RFC 3461 parameters ---- */

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ), any case. */
int
dsn_notify_parse(const char *value)
{
	static const struct {
		const char *word;
		int bit;
	} words[] = {
		{ "NEVER", DSN_NOTIFY_NEVER },
		{ "SUCCESS", DSN_NOTIFY_SUCCESS },
		{ "FAILURE", DSN_NOTIFY_FAILURE },
		{ "DELAY", DSN_NOTIFY_DELAY },
	};
	const char *p = value;
	int mask = 0;
	size_t i, n;

	if (value == NULL)
		return -1;
	for (;;) {
		n = strcspn(p, ",");
		for (i = 0; i < sizeof words / sizeof words[0]; i++)
			if (n == strlen(words[i].word) && str_iprefix(p, words[i].word) == n)
				break;
		if (i == sizeof words / sizeof words[0] || (mask & words[i].bit) != 0)
			return -1;
		mask |= words[i].bit;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if ((mask & DSN_NOTIFY_NEVER) != 0 && mask != DSN_NOTIFY_NEVER)
		return -1;
	return mask;
}

/* An upper-case hex digit's value, or -1 (RFC 3461 4: hexchar). */
static int
dsn_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
dsn_xtext_fail(char *out)
{
	out[0] = '\0';
	return -1;
}

/*
 * RFC 3461 4: xtext = *( xchar / hexchar ), xchar = "!".."~" but "+" and
 * "=", hexchar = "+" 2(upper-case HEXDIG).  The decoded text must be
 * printable ASCII (SP to "~").  On failure out is "".
 */
int
dsn_xtext_decode(const char *in, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return -1;
	out[0] = '\0';
	while (*in != '\0') {
		int ch = (unsigned char)*in, hi, lo;

		if (ch == '+') {
			hi = dsn_hex(in[1]);
			lo = hi < 0 ? -1 : dsn_hex(in[2]);
			if (lo < 0)
				return dsn_xtext_fail(out);
			ch = hi * 16 + lo;
			in += 3;
		} else if (ch < '!' || ch > '~' || ch == '=') {
			return dsn_xtext_fail(out);
		} else {
			in++;
		}
		if (ch < ' ' || ch > '~' || o + 1 >= size)
			return dsn_xtext_fail(out);
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

/* Every octet but xchar as "+HH" (RFC 3461 4).  On failure out is "". */
int
dsn_xtext_encode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (size == 0)
		return -1;
	for (; *in != '\0'; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch >= '!' && ch <= '~' && ch != '+' && ch != '=') {
			if (o + 1 >= size)
				break;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= size)
				break;
			out[o++] = '+';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[*in == '\0' ? o : 0] = '\0';
	return *in == '\0' ? 0 : -1;
}
