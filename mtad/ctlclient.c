/* ctlclient.c -- the client side of the control socket (see ctlclient.h). */
#include "ctlclient.h"

#include <errno.h>
#include <idn2.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "limits.h"
#include "str.h"

void
ctlclient_init(struct ctlclient *c)
{
	c->fd = -1;
	buf_init(&c->in, 2 * LIM_CONTROL_OUTPUT);	/* a reply, and more */
	c->path[0] = '\0';
}

int
ctlclient_connect(struct ctlclient *c, const char *state_dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	ctlclient_close(c);
	if (str_fmt(c->path, sizeof c->path, "%s/control.sock", state_dir) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return 0;
	ctlclient_close(c);
	return -1;
}

void
ctlclient_close(struct ctlclient *c)
{
	int e = errno;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->in, 0);
	errno = e;
}

int
ctlclient_send(struct ctlclient *c, json_t *req)
{
	char *s;
	size_t n, off = 0;

	json_object_set_new(req, "v", json_integer(1));
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (s == NULL) {
		errno = ENOMEM;
		return -1;
	}
	n = strlen(s);
	s[n++] = '\n';		/* json_dumps' NUL: the line's end */
	while (off < n) {
		ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			free(s);
			return -1;
		}
		off += (size_t)w;
	}
	free(s);
	return 0;
}

json_t *
ctlclient_take(struct ctlclient *c)
{
	char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
	json_t *o;

	if (nl == NULL)
		return NULL;
	o = json_loadb(c->in.data, (size_t)(nl - c->in.data), 0, NULL);
	buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
	return o ? o : json_object();	/* a broken line is an empty event */
}

int
ctlclient_fill(struct ctlclient *c)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT);

		if (n > 0 && buf_append(&c->in, chunk, (size_t)n) == 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
}

json_t *
ctlclient_read(struct ctlclient *c, int timeout_ms)
{
	struct pollfd p = { c->fd, POLLIN, 0 };
	char chunk[65536];

	while (c->in.len == 0 || memchr(c->in.data, '\n', c->in.len) == NULL) {
		ssize_t n;

		if (c->fd < 0 || poll(&p, 1, timeout_ms) <= 0 ||
		    (n = read(c->fd, chunk, sizeof chunk)) <= 0 ||
		    buf_append(&c->in, chunk, (size_t)n) < 0)
			return NULL;
	}
	return ctlclient_take(c);
}

void
ctlclient_dur(long long s, char *out, size_t size)
{
	static const struct { long long sec; char unit; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i;

	if (s < 0)
		s = 0;
	for (i = 0; i < 3 && s < u[i].sec; i++)
		;
	if (i < 3 && s % u[i].sec >= u[i + 1].sec)
		(void)str_fmt(out, size, "%lld%c%lld%c", s / u[i].sec, u[i].unit,
		    s % u[i].sec / u[i + 1].sec, u[i + 1].unit);
	else
		(void)str_fmt(out, size, "%lld%c", s / u[i].sec, u[i].unit);
}

time_t
ctlclient_when(json_t *v)
{
	struct tm tm;
	const char *s = json_string_value(v);

	memset(&tm, 0, sizeof tm);
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

void
ctlclient_addr(const char *a, char *out, size_t size)
{
	const char *at = a ? strrchr(a, '@') : NULL, *dom = at ? at + 1 : a;
	char *u = NULL;

	if (dom != NULL && *dom && idn2_to_unicode_8z8z(dom, &u, 0) == IDN2_OK) {
		(void)str_fmt(out, size, "%.*s%s%s", at ? (int)(at - a) : 0, a, at ? "@" : "", u);
		idn2_free(u);
		return;
	}
	(void)str_copy(out, size, a && *a ? a : "<>");
}

void
ctlclient_event(json_t *ev, struct buf *out)
{
	const char *key, *at = json_string_value(json_object_get(ev, "at")),
	    *id = json_string_value(json_object_get(ev, "id"));
	json_t *v;

	(void)buf_printf(out, "%s %s event=%s", at ? at : "-", id ? id : "-",
	    json_string_value(json_object_get(ev, "event")) ?
	    json_string_value(json_object_get(ev, "event")) : "-");
	json_object_foreach(ev, key, v) {
		const char *s = json_string_value(v);

		if (!strcmp(key, "at") || !strcmp(key, "id") || !strcmp(key, "event"))
			continue;
		if (json_is_integer(v))		/* "lost": count */
			(void)buf_printf(out, " %s=%lld", key, (long long)json_integer_value(v));
		if (s == NULL)
			continue;
		if (*s && strpbrk(s, " \"\\") == NULL) {
			(void)buf_printf(out, " %s=%s", key, s);
			continue;
		}
		(void)buf_printf(out, " %s=\"", key);
		for (; *s; s++)
			(void)buf_printf(out, "%s%c", *s == '"' || *s == '\\' ? "\\" : "", *s);
		(void)buf_puts(out, "\"");
	}
}
