/*
 * net.h -- one TCP connection, plain or TLS, with every wait bounded:
 * connect, read and write take a timeout in milliseconds.  On failure the
 * calls return -1 and n->err says why ("connect to [192.0.2.1]:25:
 * Connection refused", "read: timeout").
 */
#ifndef MTAD_NET_H
#define MTAD_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tls.h"

struct net {
	int fd;
	struct tls *tls;	/* NULL: plain */
	char err[256];
};

void net_init(struct net *n);
/* Connect to sa; 0, or -1 with n->err. */
int net_connect(struct net *n, const struct sockaddr *sa, socklen_t len, int timeout_ms);
/* >0 bytes, 0 at end of stream, -1 on error or timeout. */
ssize_t net_read(struct net *n, void *buf, size_t size, int timeout_ms);
/* All of it: 0, or -1. */
int net_write(struct net *n, const void *buf, size_t size, int timeout_ms);
/* TLS handshake as a client over the connection: 0, or -1 with n->err. */
int net_starttls(struct net *n, const char *servername, int verify, int timeout_ms);
void net_close(struct net *n);

#endif
