/* log.c -- key=value event lines on stderr (format in log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "str.h"

static int log_fd = 2;
static void (*log_tap)(const char *line, size_t len);

void
log_set_fd(int fd)
{
	log_fd = fd;
}

void
log_set_tap(void (*tap)(const char *line, size_t len))
{
	__atomic_store_n(&log_tap, tap, __ATOMIC_RELEASE);
}

static void
log_raw(struct logline *l, const char *p, size_t n)
{
	/* Keep room for "...\n" so a cut line still ends cleanly. */
	size_t room = sizeof l->buf - 5 - l->len;

	if (l->len >= sizeof l->buf - 5)
		return;
	if (n > room) {
		memcpy(l->buf + l->len, p, room);
		l->len += room;
		memcpy(l->buf + l->len, "...", 3);
		l->len += 3;
		return;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

void
log_begin(struct logline *l, const char *id, const char *event)
{
	struct timespec ts;
	struct tm tm;
	char head[64];
	size_t n;

	l->len = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
	if (str_fmt(head + n, sizeof head - n, ".%03ldZ ", ts.tv_nsec / 1000000L) < 0)
		head[n] = '\0';
	log_raw(l, head, strlen(head));
	log_raw(l, id, strlen(id));
	log_str(l, "event", event);
}

static int
log_needs_quotes(const unsigned char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] == '"' || p[i] == '\\' || p[i] >= 0x7f)
			return 1;
	return 0;
}

void
log_strn(struct logline *l, const char *key, const char *value, size_t n)
{
	const unsigned char *p = (const unsigned char *)value;
	char esc[5];
	size_t i;

	log_raw(l, " ", 1);
	log_raw(l, key, strlen(key));
	log_raw(l, "=", 1);
	if (!log_needs_quotes(p, n)) {
		log_raw(l, value, n);
		return;
	}
	log_raw(l, "\"", 1);
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			log_raw(l, esc, 2);
		} else if (p[i] < ' ' || p[i] == 0x7f) {
			(void)str_fmt(esc, sizeof esc, "\\x%02x", p[i]);
			log_raw(l, esc, 4);
		} else {
			log_raw(l, value + i, 1);
		}
	}
	log_raw(l, "\"", 1);
}

void
log_str(struct logline *l, const char *key, const char *value)
{
	log_strn(l, key, value ? value : "", value ? strlen(value) : 0);
}

void
log_num(struct logline *l, const char *key, long long value)
{
	char num[32];

	(void)str_fmt(num, sizeof num, "%lld", value);
	log_str(l, key, num);
}

void
log_fmt(struct logline *l, const char *key, const char *fmt, ...)
{
	char tmp[LIM_LOG_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	log_str(l, key, tmp);
}

void
log_end(struct logline *l)
{
	void (*tap)(const char *, size_t) = __atomic_load_n(&log_tap, __ATOMIC_ACQUIRE);
	const char *p = l->buf;
	size_t n;

	l->buf[l->len++] = '\n';
	if (tap != NULL)
		tap(l->buf, l->len);
	if (log_fd < 0)
		return;
	for (n = l->len; n > 0;) {
		ssize_t w = write(log_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void
log_msg(const char *id, const char *event, const char *fmt, ...)
{
	struct logline l;
	char tmp[LIM_LOG_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	log_begin(&l, id, event);
	log_str(&l, "msg", tmp);
	log_end(&l);
}

void
fatal(const char *fmt, ...)
{
	struct logline l;
	char tmp[LIM_LOG_LINE];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	log_begin(&l, "mtad", "fatal");
	log_str(&l, "msg", tmp);
	if (saved)
		log_str(&l, "error", strerror(saved));
	log_end(&l);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	struct logline l;
	char tmp[LIM_LOG_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	log_begin(&l, "mtad", "bug");
	log_str(&l, "msg", tmp);
	log_end(&l);
	abort();
}
