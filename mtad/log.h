/*
 * log.h -- one line per event, key=value, on stderr.
 *
 * Format (one write(2) per line, so lines from threads never interleave):
 *
 *   2026-11-26T09:48:18.123Z ID event=NAME key=value key="a value" ...
 *
 * ID is the queue ID, the session ID, or "mtad" for the daemon itself.
 * Values are written bare when they are printable ASCII without space,
 * quote or backslash; otherwise in double quotes with \" \\ and \xHH for
 * control bytes (a client cannot forge a log line).  UTF-8 passes through.
 * Secrets (passwords, AUTH data) are never passed to these functions.
 */
#ifndef MTAD_LOG_H
#define MTAD_LOG_H

#include <stddef.h>

#include "limits.h"

struct logline {
	char buf[LIM_LOG_LINE];
	size_t len;
};

/* Where lines go (default 2, stderr); -1 discards (unit tests, fuzzers). */
void log_set_fd(int fd);
/* Also hand every line (with its LF) to `tap`, from whatever thread logs
 * it: it must be quick and must not log.  NULL removes it. */
void log_set_tap(void (*tap)(const char *line, size_t len));

void log_begin(struct logline *l, const char *id, const char *event);
void log_str(struct logline *l, const char *key, const char *value);
void log_strn(struct logline *l, const char *key, const char *value, size_t n);
void log_num(struct logline *l, const char *key, long long value);
void log_fmt(struct logline *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_end(struct logline *l);

/* Shorthand: "ID event=EVENT msg=..." */
void log_msg(const char *id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Environment failure: logs the message and errno text, exits 1. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* A bug: logs and aborts. */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
