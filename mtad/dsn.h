/*
 * dsn.h -- delivery status notifications: RFC 3464 reports built from a
 * failed (or delayed, or relayed) delivery, and the RFC 3461 parameters
 * (NOTIFY, ORCPT, RET, ENVID) as they arrive with MAIL and RCPT.  Pure.
 *
 * The report is a complete message to put in the queue, from <> to the
 * original envelope sender:
 *
 *   From: Mail Delivery System <MAILER-DAEMON@reporting-host>
 *   To: <sender>  Subject: ...  Date: ...  Message-ID: <...>
 *   Auto-Submitted: auto-replied  (RFC 3834)
 *   MIME-Version: 1.0
 *   Content-Type: multipart/report; report-type=delivery-status; boundary=...
 *
 *   1. text/plain; charset=utf-8: what happened, in words
 *   2. message/delivery-status: per-message fields (Reporting-MTA,
 *      Original-Envelope-Id, Arrival-Date), then per-recipient fields
 *      (Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 *      Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until)
 *   3. the original: text/rfc822-headers (RET=HDRS, the default), or
 *      message/rfc822 (RET=FULL) when the original is at most
 *      LIM_DSN_FULL_BODY octets, headers only otherwise.
 *
 * Addresses that are not ASCII use the RFC 6533 "utf-8" type and the report
 * becomes message/global-delivery-status (the DSN is then SMTPUTF8).
 * Every line ends in CRLF and is at most 998 octets (folded or cut).
 */
#ifndef MTAD_DSN_H
#define MTAD_DSN_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* RFC 3461 NOTIFY, as a bit set; 0 means "not given" (the MTA's default:
 * failures, and delays when delay warnings are on). */
enum {
	DSN_NOTIFY_NEVER = 1,
	DSN_NOTIFY_SUCCESS = 2,
	DSN_NOTIFY_FAILURE = 4,
	DSN_NOTIFY_DELAY = 8,
};

enum dsn_ret { DSN_RET_UNSPEC, DSN_RET_FULL, DSN_RET_HDRS };

struct dsn_rcpt {
	const char *address;	/* the recipient as it was given (UTF-8 ok) */
	const char *orcpt;	/* ORCPT value "rfc822;x@y" as stored, or NULL */
	const char *action;	/* "failed", "delayed", "relayed", "delivered" */
	const char *status;	/* "5.1.1" */
	const char *remote_mta;	/* remote host name, or NULL */
	const char *diagnostic;	/* the remote reply "550 5.1.1 ...", or our own
				 * text, or NULL */
	time_t last_attempt;	/* 0: none */
	time_t retry_until;	/* for "delayed": when we give up; else 0 */
};

struct dsn_report {
	const char *reporting_mta;	/* our host name */
	const char *queue_id;		/* of the original message */
	const char *sender;		/* original envelope sender: the DSN's recipient */
	const char *envid;		/* ENVID (decoded), or NULL */
	enum dsn_ret ret;
	time_t arrival;			/* when we received the original */
	time_t now;
	const char *unique;		/* a fresh random token: boundary, Message-ID */
	const char *original;		/* the stored message, CRLF lines */
	size_t original_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* Build the report into `out` (appended).  Returns 0, or -1 if it does not
 * fit in out->max.  *smtputf8 is set when the report needs SMTPUTF8. */
int dsn_build(const struct dsn_report *r, struct buf *out, int *smtputf8);

/* NOTIFY=... ("NEVER" alone, or any of SUCCESS,FAILURE,DELAY); -1 if bad. */
int dsn_notify_parse(const char *value);
/* Decode RFC 3461 xtext ("+2B" = '+') into out; -1 if malformed, not
 * printable ASCII after decoding, or too long for out. */
int dsn_xtext_decode(const char *in, char *out, size_t size);
/* Encode printable text as xtext (for passing ORCPT/ENVID on). -1 if it
 * does not fit. */
int dsn_xtext_encode(const char *in, char *out, size_t size);

#endif
