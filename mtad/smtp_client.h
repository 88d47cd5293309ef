/*
 * smtp_client.h -- the outbound SMTP session as a pure state machine.
 *
 * The driver (worker.c) connects, then loops: send smtp_client_output(),
 * read bytes, feed smtp_client_input(), and act on the event returned:
 *
 *   SMTPC_READ      send the output, read more
 *   SMTPC_STARTTLS  the server said 220 to STARTTLS (any bytes after it
 *                   were discarded): run the handshake, then
 *                   smtp_client_tls_done()
 *   SMTPC_READY     the session is open and idle: smtp_client_send() a
 *                   message, or smtp_client_quit()
 *   SMTPC_DONE      every recipient of the message given to
 *                   smtp_client_send() has its result (done = 1)
 *   SMTPC_CLOSED    the session is over: smtp_client_failure() says why,
 *                   or is NULL after a clean QUIT.  A message in flight
 *                   has then been given the failure as every open
 *                   recipient's result.  Send the output (a QUIT, maybe)
 *                   before closing.
 *
 * EHLO with a HELO fallback; STARTTLS as the env's tls mode asks (may:
 * when offered; require/verify: or fail); AUTH PLAIN or LOGIN, only once
 * TLS is up; PIPELINING (RFC 2920) when offered; SIZE checked before MAIL
 * (5.3.4) and sent; SMTPUTF8 required by the message but not offered:
 * 5.6.7 (RFC 6531 3.2); BODY=8BITMIME and the DSN parameters passed on
 * when offered.  Replies are read leniently (bare LF accepted) but
 * bounded (LIM_REPLY_LINE octets a line, LIM_REPLY_LINES a reply).  The
 * body goes out dot-stuffed.  Secrets given for AUTH appear only in the
 * output, never in a result or a failure.
 */
#ifndef MTAD_SMTP_CLIENT_H
#define MTAD_SMTP_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "dsn.h"
#include "limits.h"
#include "trouble.h"

enum smtpc_event { SMTPC_READ, SMTPC_STARTTLS, SMTPC_READY, SMTPC_DONE, SMTPC_CLOSED };

/* Which RFC 5321 4.5.3.2 timeout applies to the wait for input now. */
enum smtpc_wait { SMTPC_W_GREETING, SMTPC_W_MAIL, SMTPC_W_RCPT, SMTPC_W_DATA_INIT,
	SMTPC_W_DATA_END, SMTPC_W_QUIT };

struct smtpc_reply {
	int code;			/* 0: no reply (lost, timeout, local) */
	char status[16];		/* RFC 3463 code the server gave, or "" */
	char text[LIM_REPLY_TEXT];	/* "550 5.1.1 ..." lines joined by " ",
					 * or our own words when code is 0 */
};

struct smtpc_rcpt {
	const char *address;
	int notify;			/* DSN bits to pass on, 0: none */
	const char *orcpt;		/* decoded "type;addr", or NULL */
	/* results */
	int done;
	enum trouble_stage stage;	/* where it was decided */
	struct smtpc_reply reply;
};

struct smtpc_msg {
	const char *sender;		/* "" for <> */
	struct smtpc_rcpt *rcpts;
	size_t nrcpts;
	const char *body;		/* CRLF lines */
	size_t size;
	int body_8bit;			/* BODY=8BITMIME was given to us */
	int smtputf8;			/* SMTPUTF8 was given to us */
	enum dsn_ret ret;
	const char *envid;		/* decoded, or NULL */
};

struct smtpc_env {
	const char *helo;		/* our host name */
	enum route_tls tls;
	const char *auth_user;		/* NULL: no AUTH */
	const char *auth_pass;
};

struct smtpc_caps {
	int esmtp, pipelining, starttls, smtputf8, dsn, eightbit;
	int auth_plain, auth_login;
	unsigned long long size;	/* 0: not announced */
};

struct smtpc_failure {
	enum trouble_stage stage;
	struct smtpc_reply reply;	/* code 0: no SMTP reply; text says why */
};

struct smtp_client *smtp_client_new(const struct smtpc_env *env);
void smtp_client_free(struct smtp_client *c);

enum smtpc_event smtp_client_input(struct smtp_client *c, const char *data, size_t len,
    size_t *used);
/* The STARTTLS handshake ended: ok, or failed for `why`. */
enum smtpc_event smtp_client_tls_done(struct smtp_client *c, int ok, const char *why);
/* Start a transaction (only when READY); m stays the caller's until DONE. */
enum smtpc_event smtp_client_send(struct smtp_client *c, struct smtpc_msg *m);
void smtp_client_quit(struct smtp_client *c);
/* The connection ended or timed out (`why`): the session fails. */
enum smtpc_event smtp_client_lost(struct smtp_client *c, const char *why);

struct buf *smtp_client_output(struct smtp_client *c);
enum smtpc_wait smtp_client_wait(const struct smtp_client *c);
const struct smtpc_caps *smtp_client_caps(const struct smtp_client *c);
const struct smtpc_failure *smtp_client_failure(const struct smtp_client *c);
int smtp_client_tls_active(const struct smtp_client *c);

#endif
