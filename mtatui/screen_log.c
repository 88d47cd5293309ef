/*
 * screen_log.c -- the Log screen: the daemon's events as they happen (the
 * control socket's monitor), the last LOG_KEEP of them, newest at the
 * bottom.  The view follows the newest line unless paused (p) or moved
 * off the last line; / keeps only the lines holding a text.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "ui.h"
#include "xalloc.h"

#define LOG_KEEP 5000			/* lines kept */

static const struct column log_cols[] = { { "EVENT", 20, 1, 0 } };

static struct {
	char *lines[LOG_KEEP];		/* a ring */
	size_t next, n;			/* where the next goes, how many */
	int paused;
	long long shown;		/* rows last shown (to follow new ones) */
	char search[LIM_MAILBOX + 1];	/* the search they were chosen by */
} lg;

void
log_event(struct tui *t, json_t *ev)
{
	struct buf line;

	(void)t;
	buf_init(&line, LIM_LOG_LINE * 2);
	ctlclient_event(ev, &line);
	free(lg.lines[lg.next]);
	lg.lines[lg.next] = xstrdup(line.data ? line.data : "");
	lg.next = (lg.next + 1) % LOG_KEEP;
	if (lg.n < LOG_KEEP)
		lg.n++;
	buf_free(&line);
}

int
log_pause(struct tui *t, int key)
{
	(void)key;
	lg.paused = !lg.paused;
	tui_msg(t, "%s", lg.paused ? "log paused (p: resume)" : "log following");
	return TR_DRAW | TR_FETCH;
}

static int
log_head(struct tui *t, struct screen *s, int y, int width)
{
	(void)s;
	ui_put(t, y, 0, width, lg.paused ? "paused: new events are kept, not shown (p: resume)" :
	    "live: newest at the bottom (p: pause)", ui_attr(t, C_DIM));
	return 1;
}

static int
log_fetch(struct tui *t, struct screen *s)
{
	struct list *l = &s->list;
	int follow = !lg.paused && (lg.shown == 0 || l->cur >= lg.shown - 1);
	json_t *rows;
	size_t i;

	(void)t;
	if (lg.paused && l->rows != NULL && strcmp(lg.search, l->search) == 0)
		return 0;	/* frozen, unless the search changed */
	(void)str_copy(lg.search, sizeof lg.search, l->search);
	rows = json_array();
	for (i = 0; i < lg.n; i++) {
		const char *line = lg.lines[(lg.next + LOG_KEEP - lg.n + i) % LOG_KEEP];

		if (l->search[0] == '\0' || strstr(line, l->search) != NULL)
			json_array_append_new(rows, json_string(line));
	}
	lg.shown = (long long)json_array_size(rows);
	list_set(l, rows, 0, lg.shown);
	json_decref(rows);
	if (follow && lg.shown > 0) {
		l->cur = lg.shown - 1;
		l->top = l->height > 0 && l->cur >= l->height ? l->cur - l->height + 1 : 0;
	}
	return 0;
}

static void
log_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	const char *s = json_string_value(row);

	(void)t;
	list_cell(cells[0], s ? s : "");
	*color = s && (strstr(s, "status=bounced") || strstr(s, "event=lost")) ? C_BAD :
	    s && strstr(s, "status=deferred") ? C_DEFERRED : C_NONE;
}

struct screen screen_log = {
	.name = "Log", .cols = log_cols, .ncols = 1, .has_search = 1, .nhead = 1, .head = log_head,
	.fetch = log_fetch, .cells = log_cells,
};
