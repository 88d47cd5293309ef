/*
 * trouble.h -- the one place that decides what a delivery outcome means:
 * delivered, deferred (try again later) or bounced (permanent), and for
 * whom: one recipient, the whole message, the host we talk to (try the
 * next one), or the whole destination (everything queued for it waits).
 * Also the bounce class of a permanent failure, from its RFC 3463 code.
 *
 *   stage          2xx        4xx                 5xx
 *   CONNECT..AUTH  -          defer, HOST         defer, HOST (next MX;
 *                                                 all failed: defer)
 *   MAIL, DATA     -          defer, MESSAGE      bounce, MESSAGE
 *   RCPT           (ok)       defer, RCPT         bounce, RCPT
 *   DOT            delivered  defer, MESSAGE      bounce, MESSAGE
 *   any 421, or the connection lost in a transaction: defer, DESTINATION
 *
 * Our own decisions (remote SIZE too small, SMTPUTF8 not offered, DNS
 * says the domain takes no mail) come as LOCAL with the status we chose.
 */
#ifndef MTAD_TROUBLE_H
#define MTAD_TROUBLE_H

enum trouble_stage {
	TS_CONNECT, TS_GREETING, TS_HELO, TS_STARTTLS, TS_AUTH,
	TS_MAIL, TS_RCPT, TS_DATA, TS_DOT, TS_LOCAL,
};

enum trouble_verdict { TV_DELIVERED, TV_DEFER, TV_BOUNCE };

enum trouble_scope { TSC_RCPT, TSC_MESSAGE, TSC_HOST, TSC_DESTINATION };

enum bounce_class { BOUNCE_HARD, BOUNCE_SOFT, BOUNCE_POLICY, BOUNCE_EXPIRED };

struct trouble {
	enum trouble_verdict verdict;
	enum trouble_scope scope;
	char status[16];		/* RFC 3463 "5.1.1", given or derived */
	enum bounce_class class;	/* meaningful for TV_BOUNCE */
};

/*
 * An SMTP reply at a stage.  `code` 0 means no reply at all (connection
 * lost, timeout, TLS failure).  `enh` is the enhanced code the server gave
 * ("5.1.1"), or NULL/"" when it gave none.
 */
void trouble_reply(enum trouble_stage stage, int code, const char *enh,
    struct trouble *t);
/* A decision of ours: permanent (bounce) or not (defer), with a status. */
void trouble_local(int permanent, enum trouble_scope scope, const char *status,
    struct trouble *t);
/* The class of a permanent failure (code may be 0 when only a status). */
enum bounce_class trouble_class(int code, const char *status);
const char *trouble_class_name(enum bounce_class c);
/*
 * Does a reply ("421 4.7.0 try later") say the receiver is throttling us
 * -- rate, volume, reputation -- rather than failing this mail?  Any 421,
 * and a 4xx with a big provider's throttling code or words (Gmail 4.7.28,
 * Yahoo TSS04, Microsoft 4.7.650-4.7.652, "rate limit", "too many").  The
 * scheduler then pauses the whole destination, longer each time.
 */
int trouble_throttle(const char *reply);
/* Parse "X.Y.Z" at the start of s (RFC 3463); its length, or 0. */
int trouble_status_parse(const char *s, char *out, unsigned long size);

#endif
