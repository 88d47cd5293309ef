/*
 * tui.h -- mtatui's core: the state every screen shares, the calls to the
 * daemon, and the reaction flags key handlers return.
 *
 * The loop (tui.c): wait for a key or a monitor event at most until the
 * next tick (1 s); handle keys through the binding table (keys.c); on a
 * tick or when a handler asks, fetch the current screen's rows from the
 * daemon; redraw once per pass.  When the daemon cannot be reached, a
 * banner says so and every tick tries again.
 */
#ifndef MTATUI_TUI_H
#define MTATUI_TUI_H

#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "conf.h"
#include "ctlclient.h"

/* What a handler asks of the loop (OR-ed). */
enum { TR_NONE = 0, TR_DRAW = 1, TR_FETCH = 2, TR_QUIT = 4 };

enum { SCREEN_QUEUE, SCREEN_DOMAINS, SCREEN_BOUNCES, SCREEN_STATS, SCREEN_LOG, SCREEN_N };

struct screen;
struct view;

struct tui {
	struct conf *conf;
	struct ctlclient cc;		/* requests */
	struct ctlclient mon;		/* the monitor stream */
	int up;				/* the daemon answers */
	char down_why[256];		/* why not, for the banner */
	int refused;			/* it answers, but not to us (denied) */
	time_t retry_at;		/* refused: when to ask again */
	json_t *status;			/* the last "status" result */
	struct screen *screens[SCREEN_N];
	int cur;			/* the screen shown */
	struct view *view;		/* a detail or help view over it, or NULL */
	char msg[256];			/* the message line */
	int utf8, color;
	time_t now;
};

/*
 * Send a request (consumed) and wait for its reply: the result (a new
 * reference), or NULL with the daemon's error in the message line.  A
 * lost connection marks the daemon down (the loop reconnects).
 */
json_t *tui_call(struct tui *t, json_t *req);
/* Set the message line (printf-like). */
void tui_msg(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run the screens until q or tui_stop (set by a signal handler). */
int tui_run(struct tui *t);
/* Close the connections and free what t holds (not t). */
void tui_free(struct tui *t);
extern volatile sig_atomic_t tui_stop;

/* Switch to a screen (closing any view); returns TR_DRAW | TR_FETCH. */
int tui_switch(struct tui *t, int screen);

#endif
