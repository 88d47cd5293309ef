/*
 * smtp_server.h -- the inbound ESMTP session as a pure state machine.
 *
 * On the local listener (sendmail, LISTEN_LOCAL) the client is a local
 * user: it may relay without AUTH, the envelope sender becomes
 * user@hostname unless local_free, and Received: names its uid.  Messages
 * from local and authenticated clients get a Date: and a Message-ID: when
 * they lack one (RFC 6409 8.2, 8.3).
 *
 * Bytes from the client go in (smtp_server_input); replies come out in the
 * output buffer; the engine never touches a socket, a clock or the disk.
 * The driver (session.c) reads the socket, feeds the engine, sends its
 * output and acts on the returned action:
 *
 *   SMTP_ACT_MORE   all input consumed: send the output, read more
 *   SMTP_ACT_STORE  a message is complete (smtp_server_txn): make it
 *                   durable, then call smtp_server_stored(); feed the rest
 *                   of the input (RFC 2920 pipelining) afterwards
 *   SMTP_ACT_FLUSH  the output reached LIM_OUT_HIGHWATER: send it, then
 *                   feed the rest of the input
 *   SMTP_ACT_STARTTLS  "220" is queued and every byte after STARTTLS was
 *                   dropped: drop any unread input too, send the output, run
 *                   the TLS handshake, then smtp_server_tls() (RFC 3207)
 *   SMTP_ACT_AUTH   AUTH credentials are complete (smtp_server_auth_creds):
 *                   check them, then smtp_server_auth_result()
 *   SMTP_ACT_CLOSE  send the output, then close the connection
 *
 * RFC 5321 with PIPELINING (2920), SIZE (1870), 8BITMIME (6152), SMTPUTF8
 * (6531), DSN (3461), STARTTLS (3207), AUTH PLAIN and LOGIN (4954, only
 * under TLS) and ENHANCEDSTATUSCODES (2034, codes from 3463).  Framing is strict:
 * a bare CR or LF, or a NUL, is refused in commands (500) and makes the whole
 * message refused in DATA (554), so <LF>.<LF>, <CR>.<CR> and <LF>.<CR><LF>
 * never end a message (no SMTP smuggling).  Limits come from limits.h and
 * from struct smtp_limits.
 */
#ifndef MTAD_SMTP_SERVER_H
#define MTAD_SMTP_SERVER_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "dsn.h"
#include "limits.h"

enum smtp_state {
	SMTP_S_GREET,	/* waiting for EHLO/HELO */
	SMTP_S_IDLE,	/* no transaction */
	SMTP_S_MAIL,	/* MAIL accepted, no recipient yet */
	SMTP_S_RCPT,	/* at least one recipient */
	SMTP_S_DATA,	/* reading message data */
	SMTP_S_SASL,	/* reading AUTH responses */
	SMTP_S_STORE,	/* message complete, waiting for smtp_server_stored() */
	SMTP_S_AUTHCHECK, /* waiting for smtp_server_auth_result() */
	SMTP_S_TLS,	/* waiting for smtp_server_tls() */
	SMTP_S_CLOSED,	/* no more input is read */
};

enum smtp_action {
	SMTP_ACT_MORE, SMTP_ACT_STORE, SMTP_ACT_FLUSH, SMTP_ACT_STARTTLS,
	SMTP_ACT_AUTH, SMTP_ACT_CLOSE,
};

enum smtp_auth_verdict { SMTP_AUTH_OK, SMTP_AUTH_FAIL, SMTP_AUTH_TEMPFAIL, SMTP_AUTH_BLOCKED };

struct smtp_rcpt {
	char *mailbox;		/* as the client wrote it (UTF-8 with SMTPUTF8) */
	char *domain;		/* A-labels, lower case, or "[literal]" */
	int notify;		/* RFC 3461 NOTIFY bits (dsn.h), 0 if not given */
	char *orcpt;		/* ORCPT "type;address" decoded, or NULL */
};

enum smtp_body { SMTP_BODY_UNSPEC, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

/* One mail transaction: the envelope and the message as it will be stored. */
struct smtp_txn {
	char queue_id[LIM_QUEUE_ID + 1];
	char *sender;		/* "" for the null path <> */
	struct smtp_rcpt *rcpts;
	size_t nrcpts, rcpts_cap;
	/* The duplicate check: open addressing, index + 1 of a recipient in
	 * each used slot (0: empty); nslots a power of two > 2 x nrcpts. */
	unsigned *slots;
	size_t nslots;
	enum smtp_body body;
	int smtputf8;		/* SMTPUTF8 given with MAIL */
	unsigned long long declared_size;	/* SIZE=, 0 if none */
	enum dsn_ret ret;	/* RET= (RFC 3461) */
	char *envid;		/* ENVID=, decoded, or NULL */
	unsigned long long size;	/* DATA octets after unstuffing */
	struct buf msg;		/* our Received: header, then the data */
	time_t received_at;
};

/* What the driver knows about the client and its own configuration. */
struct smtp_env {
	const char *hostname;		/* ours, for the greeting and Received: */
	const char *session_id;		/* for log lines */
	char client_addr[64];		/* "192.0.2.1", "2001:db8::1" */
	int client_trusted;		/* in `trusted`: may relay */
	enum listen_kind listener;
	int tls_offer;			/* STARTTLS may be offered (a certificate) */
	unsigned long long max_message_size;
	unsigned max_recipients;
	unsigned max_errors;
	/* LISTEN_LOCAL: the caller as the kernel names it (SO_PEERCRED). */
	unsigned long local_uid;
	const char *local_user;		/* its login name (<= LIM_LOCAL_USER); NULL: refused */
	int local_free;			/* may choose its envelope sender */
	void *ctx;
	/* May the client start another transaction (a rate limit)?  0, or
	 * -1 with the whole refusal ("450 4.7.1 ...") in reply.  NULL: yes. */
	int (*mail_allowed)(void *ctx, char *reply, size_t size);
	/* A new random queue ID (LIM_QUEUE_ID chars) into out. */
	void (*new_queue_id)(void *ctx, char *out, size_t size);
	time_t (*now)(void *ctx);
};

/* Counters for the disconnect log line and stats. */
struct smtp_counts {
	unsigned ehlo, helo, mail, rcpt, data, rset, quit, other, errors, accepted;
	unsigned starttls, auth, auth_failed;
};

/* A new session; the 220 greeting is already in the output. */
struct smtp_server *smtp_server_new(const struct smtp_env *env);
void smtp_server_free(struct smtp_server *s);

/* Feed `len` bytes; *used says how many were consumed (all of them unless
 * the action is STORE, FLUSH or CLOSE). */
enum smtp_action smtp_server_input(struct smtp_server *s, const char *data,
    size_t len, size_t *used);

/* The transaction waiting in SMTP_S_STORE (NULL in other states). */
const struct smtp_txn *smtp_server_txn(const struct smtp_server *s);
/* The stored message itself, for the driver to sign before storing it
 * (signer.h); NULL outside SMTP_ACT_STORE. */
struct buf *smtp_server_msg(struct smtp_server *s);
/* The store finished: ok -> "250 2.0.0 Ok: queued as ID", else 451. */
void smtp_server_stored(struct smtp_server *s, int ok);

/* Replies waiting to be sent; the driver sends and buf_consume()s them. */
struct buf *smtp_server_output(struct smtp_server *s);
enum smtp_state smtp_server_state(const struct smtp_server *s);
const char *smtp_server_helo(const struct smtp_server *s);
const struct smtp_counts *smtp_server_counts(const struct smtp_server *s);

/* The TLS handshake succeeded (after STARTTLS, or before the greeting of
 * an implicit-TLS listener: then call it before any input).  The session
 * starts over: EHLO again (RFC 3207 4.2). */
void smtp_server_tls(struct smtp_server *s, const char *version, const char *cipher);
/* The credentials of SMTP_ACT_AUTH (valid until smtp_server_auth_result). */
void smtp_server_auth_creds(const struct smtp_server *s, const char **user,
    const char **password);
/* The verdict on them; for OK, what the user may send as (any_domain, or
 * the comma-separated A-label `domains`).  The password is wiped. */
void smtp_server_auth_result(struct smtp_server *s, enum smtp_auth_verdict v,
    int any_domain, const char *domains);
/* The authenticated user, or NULL. */
const char *smtp_server_auth_user(const struct smtp_server *s);
/* "TLS1.3 TLS_AES_256_GCM_SHA384", or NULL without TLS. */
const char *smtp_server_tls_info(const struct smtp_server *s);

/* The driver's reasons to end a session: each queues a 421 and closes. */
void smtp_server_timeout(struct smtp_server *s);
void smtp_server_shutdown(struct smtp_server *s);

#endif
