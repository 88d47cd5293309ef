/* listen.c -- listening sockets and their accept threads (see listen.h). */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"
#include "session.h"
#include "str.h"
#include "xalloc.h"

struct listener {
	char spec[LIM_DOMAIN + 16];
	int fd;
	int kind;			/* enum listen_kind; atomic */
	int stop[2];			/* written to stop the thread */
	pthread_t thread;
	int running;
	int keep;			/* scratch for listen_apply */
	int local;			/* the submit socket: not in the config */
	struct listener *next;
};

static struct listener *listeners;	/* main thread only */

static void *
listen_main(void *arg)
{
	struct listener *l = arg;

	pthread_setname_np(pthread_self(), "mtad-listen");
	for (;;) {
		struct pollfd pfd[2] = { { l->fd, POLLIN, 0 }, { l->stop[0], POLLIN, 0 } };
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int fd;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			fatal("listen %s: poll", l->spec);
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if ((fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC)) < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_msg("mtad", "accept_failed", "%s: %s", l->spec, strerror(errno));
				usleep(100000);	/* let sessions end and free descriptors */
			}
			continue;
		}
		session_start(fd, (struct sockaddr *)&peer, len,
		    (enum listen_kind)__atomic_load_n(&l->kind, __ATOMIC_RELAXED), l->spec);
	}
	return NULL;
}

static int
listen_bind(const struct conf_listen *cl, struct listener *l, char *err, size_t errsize)
{
	int one = 1, fd;

	fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (cl->addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0)
		goto fail;
	memset(l, 0, sizeof *l);
	(void)str_copy(l->spec, sizeof l->spec, cl->spec);
	l->fd = fd;
	l->kind = (int)cl->kind;
	l->stop[0] = l->stop[1] = -1;
	return 0;
fail:
	(void)str_fmt(err, errsize, "listen %s: %s", cl->spec, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
listen_run(struct listener *l)
{
	pthread_attr_t attr;
	int rc;

	if (pipe2(l->stop, O_CLOEXEC) < 0)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LIM_THREAD_STACK);
	rc = pthread_create(&l->thread, &attr, listen_main, l);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -1;
	l->running = 1;
	log_msg("mtad", "listening", "%s %s", l->spec,
	    conf_listen_kind_name((enum listen_kind)l->kind));
	return 0;
}

static void
listen_close(struct listener *l)
{
	if (l->running) {
		if (write(l->stop[1], "x", 1) < 0)
			fatal("listen %s: cannot stop", l->spec);
		pthread_join(l->thread, NULL);
		log_msg("mtad", "listen_stopped", "%s", l->spec);
	}
	close(l->fd);
	if (l->local)
		(void)unlink(l->spec);
	if (l->stop[0] >= 0) {
		close(l->stop[0]);
		close(l->stop[1]);
	}
	free(l);
}

static struct listener *
listen_find(const char *spec)
{
	struct listener *l;

	for (l = listeners; l != NULL; l = l->next)
		if (strcmp(l->spec, spec) == 0)
			return l;
	return NULL;
}

static void
listen_discard(struct listener *fresh)
{
	while (fresh != NULL) {
		struct listener *next = fresh->next;

		close(fresh->fd);
		free(fresh);
		fresh = next;
	}
}

/* Bind what c has and we lack; NULL-terminated list in *fresh. */
static int
listen_bind_new(const struct conf *c, struct listener **fresh, char *err, size_t errsize)
{
	struct listener *l;
	size_t i;

	*fresh = NULL;
	for (i = 0; i < c->nlistens; i++) {
		const struct conf_listen *cl = &c->listens[i];

		if ((l = listen_find(cl->spec)) != NULL) {
			l->keep = 1;
			continue;
		}
		l = xmalloc(sizeof *l);
		if (listen_bind(cl, l, err, errsize) < 0) {
			free(l);
			listen_discard(*fresh);
			*fresh = NULL;
			return -1;
		}
		l->next = *fresh;
		*fresh = l;
	}
	return 0;
}

int
listen_apply(const struct conf *c, char *err, size_t errsize)
{
	struct listener *fresh, *l, **pp;
	size_t i;

	for (l = listeners; l != NULL; l = l->next)
		l->keep = l->local;
	if (listen_bind_new(c, &fresh, err, errsize) < 0)
		return -1;
	/* Past the last failure point: now the change happens. */
	for (i = 0; i < c->nlistens; i++)
		if ((l = listen_find(c->listens[i].spec)) != NULL)
			__atomic_store_n(&l->kind, (int)c->listens[i].kind, __ATOMIC_RELAXED);
	for (pp = &listeners; *pp != NULL;) {
		l = *pp;
		if (l->keep) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		listen_close(l);
	}
	while (fresh != NULL) {
		l = fresh;
		fresh = l->next;
		if (listen_run(l) < 0)
			fatal("listen %s: cannot start its thread", l->spec);
		l->next = listeners;
		listeners = l;
	}
	return 0;
}

int
listen_local(const char *path, char *err, size_t errsize)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct listener *l = xcalloc(1, sizeof *l);

	l->fd = -1;
	if (str_copy(sun.sun_path, sizeof sun.sun_path, path) < 0 ||
	    str_copy(l->spec, sizeof l->spec, path) < 0) {
		(void)str_fmt(err, errsize, "%s: path too long", path);
		free(l);
		return -1;
	}
	/* A socket left by a killed mtad; the pid file lock says it is ours. */
	(void)unlink(path);
	if ((l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    chmod(path, 0666) < 0 || listen(l->fd, SOMAXCONN) < 0) {
		(void)str_fmt(err, errsize, "%s: %s", path, strerror(errno));
		if (l->fd >= 0)
			close(l->fd);
		free(l);
		return -1;
	}
	l->kind = (int)LISTEN_LOCAL;
	l->local = 1;
	l->stop[0] = l->stop[1] = -1;
	if (listen_run(l) < 0)
		fatal("listen %s: cannot start its thread", l->spec);
	l->next = listeners;
	listeners = l;
	return 0;
}

void
listen_stop_all(void)
{
	while (listeners != NULL) {
		struct listener *l = listeners;

		listeners = l->next;
		listen_close(l);
	}
}

int
listen_count(void)
{
	struct listener *l;
	int n = 0;

	for (l = listeners; l != NULL; l = l->next)
		n += !l->local;
	return n;
}
