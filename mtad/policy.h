/*
 * policy.h -- who may send what through this relay.  Pure decisions:
 *
 *   - clients in `trusted` networks may relay to any domain, and so may
 *     local users on the sendmail socket (LISTEN_LOCAL: the kernel vouches
 *     for who they are; smtp_server fixes their envelope sender);
 *   - on submission listeners, MAIL needs AUTH first (530);
 *   - anyone else gets "550 5.7.1 Relay access denied" at RCPT, because
 *     this relay has no local domains of its own.
 *
 *   - an authenticated client may relay; a user limited to sender domains
 *     may use only those in MAIL FROM and in the From: header (550 5.7.1).
 *
 * Later: the suppression list.
 */
#ifndef MTAD_POLICY_H
#define MTAD_POLICY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"
#include "conf.h"

struct policy_client {
	int trusted;
	int authenticated;
	enum listen_kind listener;
	const char *user;		/* AUTH identity, or NULL */
	int any_domain;			/* the user may use any sender domain */
	const char *domains;		/* else these: A-labels, comma-separated */
};

/* A verdict: code 0 means accept; otherwise the full reply text
 * ("550 5.7.1 ...") is in reply. */
struct policy_verdict {
	int code;
	char reply[LIM_REPLY_LINE];
};

/* May a local user (on the sendmail socket) choose its envelope sender?
 * root, the daemon's own user (daemon_uid) and the `local_trusted` users
 * may; everyone else sends as user@hostname.  mtad decides with it, and
 * sendmail with the same rule, for the From: field it adds. */
int policy_local_sender_free(const struct conf *c, uid_t uid, const char *user,
    uid_t daemon_uid);

/* Is the client address (AF_INET or AF_INET6) inside a `trusted` network? */
int policy_client_trusted(const struct conf *c, const struct sockaddr *sa);

void policy_mail(const struct policy_client *pc, const struct addr *sender,
    struct policy_verdict *v);
void policy_rcpt(const struct policy_client *pc, const struct addr *rcpt,
    struct policy_verdict *v);
/* The From: header field's value (unfolded), for a user limited to sender
 * domains: every address in it must be in one of them. */
void policy_from_header(const struct policy_client *pc, const char *value,
    struct policy_verdict *v);

#endif
