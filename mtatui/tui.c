/* tui.c -- the loop, the daemon connection and the drawing pass (tui.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "screen.h"
#include "str.h"
#include "ui.h"
#include "view.h"

#define TUI_TICK_MS 1000		/* refresh and reconnect */
#define TUI_KEY_WAIT_MS 100		/* the longest a monitor event waits */
#define TUI_REPLY_MS 10000		/* a request's reply */
#define TUI_REFUSED_RETRY 30		/* seconds: asking again, once refused */

volatile sig_atomic_t tui_stop;

void
tui_msg(struct tui *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(t->msg, sizeof t->msg, fmt, ap);
	va_end(ap);
}

static void
tui_down(struct tui *t, const char *why)
{
	t->up = 0;
	t->refused = 0;
	(void)str_copy(t->down_why, sizeof t->down_why, why);
	ctlclient_close(&t->cc);
	ctlclient_close(&t->mon);
}

json_t *
tui_call(struct tui *t, json_t *req)
{
	json_t *reply, *res;
	char why[300];

	if (!t->up || req == NULL) {
		json_decref(req);
		return NULL;
	}
	(void)ctlclient_send(&t->cc, req);	/* a refusal is still read */
	if ((reply = ctlclient_read(&t->cc, TUI_REPLY_MS)) == NULL) {
		(void)str_fmt(why, sizeof why, "no answer on %s", t->cc.path);
		tui_down(t, why);
		return NULL;
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		res = json_incref(json_object_get(reply, "result"));
		json_decref(reply);
		return res;
	}
	tui_msg(t, "mtad: %s", json_string_value(json_object_get(reply, "error")));
	if (strcmp(json_string_value(json_object_get(reply, "code")) ?
	    json_string_value(json_object_get(reply, "code")) : "", "denied") == 0) {
		tui_down(t, json_string_value(json_object_get(reply, "error")));
		t->refused = 1;
	}
	json_decref(reply);
	return NULL;
}

/* Connect both sockets and start the monitor; t->up tells. */
static void
tui_connect(struct tui *t)
{
	char why[300];
	json_t *r = NULL;

	if (ctlclient_connect(&t->cc, t->conf->state_dir) < 0 ||
	    ctlclient_connect(&t->mon, t->conf->state_dir) < 0) {
		(void)str_fmt(why, sizeof why, "no answer on %s: %s", t->cc.path,
		    strerror(errno));
		tui_down(t, why);
		return;
	}
	t->up = 1;
	/* a refusal may come before the request is written: read it anyway */
	(void)ctlclient_send(&t->mon, json_pack("{s:s}", "cmd", "monitor"));
	if ((r = ctlclient_read(&t->mon, TUI_REPLY_MS)) == NULL ||
	    !json_is_true(json_object_get(r, "ok"))) {
		(void)str_fmt(why, sizeof why, "%s", r && json_string_value(json_object_get(r,
		    "error")) ? json_string_value(json_object_get(r, "error")) :
		    "the monitor did not start");
		tui_down(t, why);
		t->refused = r != NULL && strcmp(json_string_value(json_object_get(r, "code")) ?
		    json_string_value(json_object_get(r, "code")) : "", "denied") == 0;
		json_decref(r);
		return;
	}
	json_decref(r);
	t->msg[0] = '\0';
}

int
tui_switch(struct tui *t, int screen)
{
	view_free(t->view);
	t->view = NULL;
	if (screen >= 0 && screen < SCREEN_N)
		t->cur = screen;
	return TR_DRAW | TR_FETCH;
}

/* The rows a screen's list shows at this terminal size. */
static void
tui_layout(struct tui *t)
{
	int i;

	for (i = 0; i < SCREEN_N; i++) {
		struct screen *s = t->screens[i];
		int h = LINES - 4 - s->nhead - 1;

		s->list.height = h > 0 ? h : 0;
	}
}

/* Status for the title, then the screen's rows. */
static void
tui_fetch(struct tui *t)
{
	json_t *st;

	t->now = time(NULL);
	if (!t->up && (!t->refused || t->now >= t->retry_at)) {
		tui_connect(t);
		t->retry_at = t->now + TUI_REFUSED_RETRY;
	}
	if (!t->up)
		return;
	if ((st = tui_call(t, json_pack("{s:s}", "cmd", "status"))) != NULL) {
		json_decref(t->status);
		t->status = st;
	}
	tui_layout(t);
	if (t->up && t->view == NULL)
		(void)t->screens[t->cur]->fetch(t, t->screens[t->cur]);
}

static void
tui_draw(struct tui *t)
{
	struct screen *s = t->screens[t->cur];
	char save[sizeof t->msg];
	int y = 2;

	erase();
	tui_layout(t);
	(void)str_copy(save, sizeof save, t->msg);
	if (t->msg[0] == '\0' && t->view == NULL && s->list.total > 0)
		tui_msg(t, "row %lld of %lld", s->list.cur + 1, s->list.total);
	ui_frame(t);
	(void)str_copy(t->msg, sizeof t->msg, save);
	if (t->view != NULL) {
		view_draw(t, t->view, y, LINES - 4);
	} else {
		if (s->head)
			y += s->head(t, s, y, COLS);
		list_draw(t, s, y, LINES - 2 - y, COLS);
		if (s->list.total == 0 && t->up)
			ui_put(t, y + 1, 1, COLS - 1, "(nothing here)", ui_attr(t, C_DIM));
	}
	if (!t->up)
		ui_banner(t);
	refresh();
}

/* Events the monitor has sent, for the Log screen; TR_ flags. */
static int
tui_monitor(struct tui *t)
{
	json_t *ev;
	int n = 0;
	char why[300];

	if (!t->up || t->mon.fd < 0)
		return TR_NONE;
	if (ctlclient_fill(&t->mon) < 0) {
		(void)str_fmt(why, sizeof why, "no answer on %s", t->mon.path);
		tui_down(t, why);
		return TR_DRAW;
	}
	while ((ev = ctlclient_take(&t->mon)) != NULL) {
		log_event(t, ev);
		json_decref(ev);
		n++;
	}
	return n > 0 && t->cur == SCREEN_LOG && t->view == NULL ? TR_FETCH | TR_DRAW : 0;
}

/*
 * The next key, or ERR after TUI_KEY_WAIT_MS.  An escape sequence curses
 * did not know (tmux sends "\e[4~" for End, which TERM=xterm calls
 * "\eOF") is mapped when it is a common one, and otherwise swallowed
 * whole: its bytes must never act as keys of their own ("4": Stats).
 */
static int
tui_key(void)
{
	static const struct { const char *seq; int key; } known[] = {
		{ "[1~", KEY_HOME }, { "[7~", KEY_HOME }, { "[H", KEY_HOME }, { "OH", KEY_HOME },
		{ "[4~", KEY_END }, { "[8~", KEY_END }, { "[F", KEY_END }, { "OF", KEY_END },
		{ "[5~", KEY_PPAGE }, { "[6~", KEY_NPAGE }, { "[A", KEY_UP }, { "OA", KEY_UP },
		{ "[B", KEY_DOWN }, { "OB", KEY_DOWN }, { "[D", KEY_LEFT }, { "OD", KEY_LEFT },
		{ "[Z", KEY_BTAB }, { "OP", KEY_F(1) }, { "[11~", KEY_F(1) },
		{ "[12~", KEY_F(2) }, { "OQ", KEY_F(2) }, { "[13~", KEY_F(3) }, { "OR", KEY_F(3) },
		{ "[14~", KEY_F(4) }, { "OS", KEY_F(4) }, { "[15~", KEY_F(5) },
		{ "[17~", KEY_F(6) }, { "[21~", KEY_F(10) },
	};
	char seq[16];
	int c, n = 0;
	size_t i;

	timeout(TUI_KEY_WAIT_MS);
	if ((c = getch()) != 27)
		return c;
	timeout(0);		/* the rest of a sequence is here already */
	while (n < (int)sizeof seq - 1 && (c = getch()) != ERR) {
		seq[n++] = (char)c;
		if ((n == 1 && c != '[' && c != 'O') || (n > 1 && c >= 0x40 && c <= 0x7e))
			break;
	}
	seq[n] = '\0';
	timeout(TUI_KEY_WAIT_MS);
	if (n == 0)
		return 27;	/* Esc itself */
	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(seq, known[i].seq) == 0)
			return known[i].key;
	return ERR;		/* Alt+key, or a sequence we do not use */
}

static long long
tui_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tui_run(struct tui *t)
{
	int flags = TR_FETCH | TR_DRAW, c;
	long long tick = tui_ms() + TUI_TICK_MS;

	t->screens[SCREEN_QUEUE] = &screen_queue;
	t->screens[SCREEN_DOMAINS] = &screen_domains;
	t->screens[SCREEN_BOUNCES] = &screen_bounces;
	t->screens[SCREEN_STATS] = &screen_stats;
	t->screens[SCREEN_LOG] = &screen_log;
	while (!tui_stop) {
		if (flags & TR_FETCH)
			tui_fetch(t);
		if (flags & (TR_FETCH | TR_DRAW))
			tui_draw(t);
		flags = 0;
		if ((c = tui_key()) == KEY_RESIZE) {
			flags |= TR_FETCH | TR_DRAW;
		} else if (c != ERR) {
			t->msg[0] = '\0';
			flags |= keys_dispatch(t, c) | TR_DRAW;
			if (flags & TR_QUIT)
				break;
		}
		flags |= tui_monitor(t);
		if (tui_ms() >= tick) {
			tick = tui_ms() + TUI_TICK_MS;
			flags |= TR_FETCH | TR_DRAW;
		}
	}
	return 0;
}

void
tui_free(struct tui *t)
{
	ctlclient_close(&t->cc);
	ctlclient_close(&t->mon);
	buf_free(&t->cc.in);
	buf_free(&t->mon.in);
	json_decref(t->status);
	view_free(t->view);
	conf_unref(t->conf);
	memset(t, 0, sizeof *t);
}
