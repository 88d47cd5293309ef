/*
 * ctlclient.h -- the client side of state_dir/control.sock, shared by
 * mtactl and mtatui: connect, send one request (ctlproto.h), read reply
 * lines (each one JSON object), and the human forms of what comes back.
 */
#ifndef MTAD_CTLCLIENT_H
#define MTAD_CTLCLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/un.h>
#include <time.h>

#include "buf.h"

struct ctlclient {
	int fd;				/* -1 when not connected */
	struct buf in;			/* read, not yet taken */
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
};

void ctlclient_init(struct ctlclient *c);
/* 0, or -1 with errno (ENOENT, ECONNREFUSED: mtad is not running;
 * ENAMETOOLONG: state_dir too long).  c->path names the socket. */
int ctlclient_connect(struct ctlclient *c, const char *state_dir);
void ctlclient_close(struct ctlclient *c);
/* Send one request, with "v":1 added; the request is consumed.  0, or -1
 * with errno (the daemon may have refused us: a line may still be read). */
int ctlclient_send(struct ctlclient *c, json_t *req);
/* The next reply line, waiting at most timeout_ms (-1: forever); NULL on
 * end of file, error or timeout, or a line that is not JSON. */
json_t *ctlclient_read(struct ctlclient *c, int timeout_ms);
/* Without waiting: read what has arrived (-1 when the daemon is gone),
 * then take lines with ctlclient_take (NULL when no full line is left). */
int ctlclient_fill(struct ctlclient *c);
json_t *ctlclient_take(struct ctlclient *c);

/* "3h12m", "45s", "2d4h": the two largest units (negative: 0s). */
void ctlclient_dur(long long s, char *out, size_t size);
/* An ISO 8601 UTC time ("2026-11-26T12:39:38Z") as a time_t; 0 if not one. */
time_t ctlclient_when(json_t *v);
/* An address (or a bare domain) with its domain in Unicode (IDN U-labels);
 * "<>" for the null sender (NULL or ""). */
void ctlclient_addr(const char *a, char *out, size_t size);

/* A monitor event as a log line: "AT ID event=EVENT key=value ...",
 * values quoted (with \" and \\) when empty or holding blanks, quotes
 * or backslashes; appended to out (no newline). */
void ctlclient_event(json_t *ev, struct buf *out);

#endif
