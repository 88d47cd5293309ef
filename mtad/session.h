/*
 * session.h -- the driver of one inbound SMTP connection: a thread that
 * reads the socket with poll() timeouts, feeds smtp_server, sends its
 * replies and stores complete messages through the writer.
 *
 * Sessions are counted; over the configured max_sessions a connection
 * gets "421" and is closed by session_start itself.  On shutdown, idle
 * sessions get 421 at once; sessions inside DATA have LIM_SHUTDOWN_GRACE
 * seconds to finish their message.
 */
#ifndef MTAD_SESSION_H
#define MTAD_SESSION_H

#include <sys/socket.h>

#include "conf.h"

/* Must be called once before any session starts. */
int session_init(void);
/* Hand over an accepted socket (ownership passes); `listener` names the
 * listen spec for the log. */
void session_start(int fd, const struct sockaddr *peer, socklen_t peerlen,
    enum listen_kind kind, const char *listener);
/* Begin the graceful stop of all sessions (SIGTERM). */
void session_shutdown(void);
/* Wait up to `seconds` for all sessions to end; returns how many remain. */
int session_wait(int seconds);
int session_count(void);

#endif
