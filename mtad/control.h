/*
 * control.h -- the control socket, state_dir/control.sock: what mtactl
 * and mtatui stand on.
 *
 * Protocol version 1, one JSON object per line each way:
 *
 *   request  {"v":1, "cmd":"queue.list", "state":"deferred", ...}
 *   reply    {"v":1, "ok":true, "result":...}
 *            {"v":1, "ok":false, "error":"text", "code":"usage|not_found|
 *             denied|failed|unknown"}
 *   monitor  after {"v":1,"cmd":"monitor"}: one {"ok":true,...} reply, then
 *            one event per line ({"at":..., "id":..., "event":..., and the
 *            log line's other fields}) until the client leaves; a client
 *            too slow to read gets {"event":"lost","count":N} for what it
 *            missed, never holds the daemon back.
 *
 * Commands and their arguments are checked by ctlproto.c (ctlproto.h) and
 * documented in mtactl(8).  Peers are checked with SO_PEERCRED: root or the daemon's own
 * uid; anyone else gets one error line and is closed.  Requests longer
 * than LIM_CONTROL_LINE, malformed JSON, unknown commands: an error
 * reply, and the connection goes on (an over-long line closes it).
 * Listings are paged ("after" a recipient id, "limit").  Every change goes
 * through the writer and the scheduler hears of it at once.
 */
#ifndef MTAD_CONTROL_H
#define MTAD_CONTROL_H

#include <stddef.h>
#include <time.h>

/* Listen on state_dir/control.sock and start the thread.  0 or -1. */
int control_start(const char *state_dir, const char *db_path, time_t started,
    char *err, size_t errsize);
void control_stop(void);
/* main: a reload finished (ok, and its message), for a control "reload". */
void control_reload_done(int ok, const char *msg);

#endif
