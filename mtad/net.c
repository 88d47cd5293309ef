/* net.c -- TCP with bounded waits, plain or through tls.h (see net.h). */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "str.h"

void
net_init(struct net *n)
{
	n->fd = -1;
	n->tls = NULL;
	n->err[0] = '\0';
}

/* Wait for `events` on the fd; 1 ready, 0 timeout, -1 error. */
static int
net_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { fd, events, 0 };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int
net_connect(struct net *n, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int err = 0, one = 1, rc;
	socklen_t elen = sizeof err;

	n->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		(void)str_fmt(n->err, sizeof n->err, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(n->fd, sa, len) < 0 && errno != EINPROGRESS) {
		err = errno;
	} else if ((rc = net_wait(n->fd, POLLOUT, timeout_ms)) <= 0) {
		err = rc == 0 ? ETIMEDOUT : errno;
	} else if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
		err = errno;
	}
	if (err != 0) {
		(void)str_copy(n->err, sizeof n->err, strerror(err));
		close(n->fd);
		n->fd = -1;
		return -1;
	}
	return 0;
}

ssize_t
net_read(struct net *n, void *buf, size_t size, int timeout_ms)
{
	ssize_t r;
	int rc;

	if (n->tls != NULL) {
		if ((r = tls_read(n->tls, buf, size, timeout_ms)) < 0)
			(void)str_copy(n->err, sizeof n->err, tls_error(n->tls));
		return r;
	}
	for (;;) {
		if ((rc = net_wait(n->fd, POLLIN, timeout_ms)) <= 0) {
			(void)str_copy(n->err, sizeof n->err, rc == 0 ? "timeout" : strerror(errno));
			return -1;
		}
		if ((r = recv(n->fd, buf, size, 0)) >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN) {
			(void)str_copy(n->err, sizeof n->err, strerror(errno));
			return -1;
		}
	}
}

int
net_write(struct net *n, const void *buf, size_t size, int timeout_ms)
{
	const char *p = buf;
	ssize_t w;
	int rc;

	if (n->tls != NULL) {
		if (tls_write(n->tls, buf, size, timeout_ms) == 0)
			return 0;
		(void)str_copy(n->err, sizeof n->err, tls_error(n->tls));
		return -1;
	}
	while (size > 0) {
		if ((w = send(n->fd, p, size, MSG_NOSIGNAL)) > 0) {
			p += w;
			size -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && (rc = net_wait(n->fd, POLLOUT, timeout_ms)) > 0)
			continue;
		(void)str_copy(n->err, sizeof n->err, w < 0 && errno != EAGAIN ?
		    strerror(errno) : "timeout");
		return -1;
	}
	return 0;
}

int
net_starttls(struct net *n, const char *servername, int verify, int timeout_ms)
{
	n->tls = tls_client(n->fd, servername, verify, timeout_ms, n->err, sizeof n->err);
	return n->tls != NULL ? 0 : -1;
}

void
net_close(struct net *n)
{
	if (n->tls != NULL)
		tls_close(n->tls);
	if (n->fd >= 0)
		close(n->fd);
	net_init(n);
}
