/* ui.c -- drawing (see ui.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "ui.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "screen.h"
#include "str.h"
#include "text.h"

static int ui_started;

int
ui_init(struct tui *t)
{
	static const short pairs[C_N][2] = {
		[C_TITLE] = { COLOR_WHITE, COLOR_BLUE }, [C_SEL] = { COLOR_BLACK, COLOR_CYAN },
		[C_TAB] = { COLOR_BLACK, COLOR_WHITE }, [C_DEFERRED] = { COLOR_YELLOW, -1 },
		[C_HELD] = { COLOR_MAGENTA, -1 }, [C_SENDING] = { COLOR_GREEN, -1 },
		[C_BAD] = { COLOR_RED, -1 }, [C_OK] = { COLOR_GREEN, -1 },
		[C_BANNER] = { COLOR_WHITE, COLOR_RED }, [C_DIM] = { COLOR_BLUE, -1 },
	};
	short i;

	if (initscr() == NULL)
		return -1;
	ui_started = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(getenv("ESCDELAY") ? atoi(getenv("ESCDELAY")) : 25);
	t->color = has_colors() && (getenv("NO_COLOR") == NULL || *getenv("NO_COLOR") == '\0');
	if (t->color) {
		start_color();
		use_default_colors();
		for (i = 1; i < C_N; i++)
			init_pair(i, pairs[i][0], pairs[i][1]);
	}
	return 0;
}

void
ui_end(void)
{
	if (ui_started && !isendwin())
		endwin();
}

int
ui_attr(const struct tui *t, enum ui_color c)
{
	static const int mono[C_N] = {
		[C_TITLE] = A_REVERSE, [C_SEL] = A_REVERSE, [C_TAB] = A_REVERSE | A_BOLD,
		[C_DEFERRED] = A_BOLD, [C_HELD] = A_UNDERLINE, [C_BAD] = A_BOLD,
		[C_BANNER] = A_REVERSE | A_BOLD,
	};

	if (c == C_NONE)
		return A_NORMAL;
	if (!t->color)
		return mono[c];
	return COLOR_PAIR(c) | (c == C_TAB || c == C_BANNER ? A_BOLD : 0);
}

void
ui_put(const struct tui *t, int y, int x, int width, const char *s, int attr)
{
	char cut[1024];
	int used;

	if (width <= 0 || y < 0 || y >= LINES)
		return;
	used = text_fit(s, width, t->utf8, cut, sizeof cut);
	attrset(attr);
	mvaddstr(y, x, cut);
	for (; used < width; used++)
		addch(' ');
	attrset(A_NORMAL);
}

static void
ui_title(struct tui *t)
{
	char line[512], up[32];
	json_t *st = t->status, *q = json_object_get(st, "queue");

	if (!t->up || st == NULL) {
		(void)str_fmt(line, sizeof line, "mtatui  %s  %s",
		    t->conf->hostname,
		    t->refused ? "mtad refuses this user" : "mtad is not running");
	} else {
		ctlclient_dur(json_integer_value(json_object_get(st, "uptime")), up, sizeof up);
		(void)str_fmt(line, sizeof line, "mtatui  %s  up %s  queued %lld  deferred %lld"
		    "  held %lld  sending %lld  %lld/min%s",
		    json_string_value(json_object_get(st, "hostname")), up,
		    (long long)json_integer_value(json_object_get(q, "queued")),
		    (long long)json_integer_value(json_object_get(q, "deferred")),
		    (long long)json_integer_value(json_object_get(q, "held")),
		    (long long)json_integer_value(json_object_get(q, "sending")),
		    (long long)json_integer_value(json_object_get(st, "delivered_last_minute")),
		    json_array_size(json_object_get(st, "paused")) ? "  PAUSED (see Stats)" : "");
	}
	ui_put(t, 0, 0, COLS, line, ui_attr(t, C_TITLE));
}

static void
ui_tabs(struct tui *t)
{
	char tab[32], sum[512];
	int i, x = 0;

	for (i = 0; i < SCREEN_N; i++) {
		int w;

		(void)str_fmt(tab, sizeof tab, " %d %s ", i + 1, t->screens[i]->name);
		w = (int)strlen(tab);
		ui_put(t, 1, x, w, tab, i == t->cur ? ui_attr(t, C_TAB) : (int)A_NORMAL);
		x += w + 1;
	}
	list_summary(t->screens[t->cur], sum, sizeof sum);
	ui_put(t, 1, x, COLS - x, sum, ui_attr(t, C_DIM));
}

static void
ui_fkeys(struct tui *t)
{
	static const char *const keys[][2] = {
		{ "F1", "Help" }, { "F2", "Queue" }, { "F3", "Domains" }, { "F4", "Bounces" },
		{ "F5", "Stats" }, { "F6", "Log" }, { "F10", "Quit" },
	};
	size_t i;
	int x = 0;

	move(LINES - 1, 0);
	clrtoeol();
	for (i = 0; i < sizeof keys / sizeof keys[0] && x < COLS; i++) {
		int kw = (int)strlen(keys[i][0]), lw = (int)strlen(keys[i][1]) + 1;

		ui_put(t, LINES - 1, x, kw, keys[i][0], A_BOLD);
		ui_put(t, LINES - 1, x + kw, lw < COLS - x - kw ? lw : COLS - x - kw, keys[i][1],
		    ui_attr(t, C_TITLE));
		x += kw + lw;
	}
}

void
ui_frame(struct tui *t)
{
	ui_title(t);
	ui_tabs(t);
	ui_put(t, LINES - 2, 0, COLS, t->msg, A_NORMAL);
	ui_fkeys(t);
}

/* A box of lines centred on the screen. */
static void
ui_box(struct tui *t, const char *const *lines, size_t n, int attr)
{
	int w = 0, h = (int)n + 2, y0, x0;
	size_t i;

	for (i = 0; i < n; i++)
		if (text_width(lines[i]) > w)
			w = text_width(lines[i]);
	w += 4;
	if (w > COLS)
		w = COLS;
	y0 = (LINES - h) / 2;
	x0 = (COLS - w) / 2;
	ui_put(t, y0, x0, w, "", attr);
	for (i = 0; i < n; i++) {
		ui_put(t, y0 + 1 + (int)i, x0, 2, "", attr);
		ui_put(t, y0 + 1 + (int)i, x0 + 2, w - 2, lines[i], attr);
	}
	ui_put(t, y0 + h - 1, x0, w, "", attr);
}

void
ui_banner(struct tui *t)
{
	char why[512];
	const char *lines[3] = { t->refused ? "mtad refuses this user" : "mtad is not running",
		why, "" };

	(void)str_fmt(why, sizeof why, "(%s; trying again%s)", t->down_why,
	    t->refused ? " every 30s" : "");
	ui_box(t, lines, 2, ui_attr(t, C_BANNER));
}

int
ui_confirm(struct tui *t, const char *question)
{
	const char *lines[3] = { question, "", "y: yes   n, Esc: no" };
	int c;

	ui_box(t, lines, 3, ui_attr(t, C_BANNER));
	refresh();
	timeout(-1);
	while ((c = getch()) != 'y' && c != 'Y' && c != 'n' && c != 'N' && c != 27 &&
	    c != 'q')
		;
	return c == 'y' || c == 'Y';
}

int
ui_prompt(struct tui *t, const char *label, char *out, size_t size)
{
	char line[LIM_MAILBOX + 64], show[LIM_MAILBOX + 80];
	size_t n;
	int c;

	(void)str_copy(line, sizeof line < size ? sizeof line : size, out);
	n = strlen(line);
	curs_set(1);
	timeout(-1);
	for (;;) {
		(void)str_fmt(show, sizeof show, "%s%s", label, line);
		ui_put(t, LINES - 2, 0, COLS, show, A_BOLD);
		move(LINES - 2, text_width(show) < COLS ? text_width(show) : COLS - 1);
		refresh();
		c = getch();
		if (c == 27 || c == '\r' || c == '\n' || c == KEY_ENTER)
			break;
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n > 0) {
			while (n > 0 && ((unsigned char)line[--n] & 0xc0) == 0x80)
				;	/* a whole UTF-8 character */
			line[n] = '\0';
		} else if (c == 21) {	/* ^U */
			line[n = 0] = '\0';
		} else if (c >= 0x20 && c < 0x100 && c != 127 && n + 1 < sizeof line &&
		    n + 1 < size) {
			line[n++] = (char)c;
			line[n] = '\0';
		}
	}
	curs_set(0);
	if (c == 27)
		return 0;
	(void)str_copy(out, size, line);
	return 1;
}
