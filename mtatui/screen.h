/*
 * screen.h -- the generic list widget and the screens over it (STYLE 18):
 * a screen is a small table {name, columns, fetch, cells, open} and the
 * widget owns the cursor, paging, tags, search, filter and sort.  Every
 * list pages through the daemon: a screen fetches only the rows in view
 * (offset = the first row shown, limit = the rows that fit) and a count.
 */
#ifndef MTATUI_SCREEN_H
#define MTATUI_SCREEN_H

#include <jansson.h>
#include <stddef.h>

#include "limits.h"
#include "tui.h"

#define LIST_CELL 512			/* bytes of one cell's text */
#define LIST_COLS 8

struct column {
	const char *title;
	int width;			/* columns (the minimum, for a flex one) */
	int flex;			/* share of what is left over, 0: fixed */
	int right;			/* right-aligned (numbers) */
};

struct list {
	json_t *rows;			/* rows[i] is row offset + i */
	long long offset, total;	/* total: all rows there are */
	long long cur, top;		/* cursor, first row shown */
	int height;			/* rows shown */
	/* what the user chose; the screen's fetch applies it */
	char search[LIM_MAILBOX + 1];
	char domain[LIM_DOMAIN + 1];
	int filter, sort, desc, window;
	long long tags[LIM_CONTROL_RCPTS];	/* tagged rows' tag_member */
	size_t ntags;
};

struct screen {
	const char *name;
	const struct column *cols;
	size_t ncols;
	const char *const *filters;	/* f cycles these (NULL-ended), or NULL */
	const char *filter_name;	/* what they filter, for the tab line */
	const char *const *sorts;	/* s cycles these, or NULL */
	const char *const *windows;	/* w cycles these, or NULL */
	const char *tag_member;		/* the rows' member t tags, or NULL */
	int has_search, has_domain;	/* / and F apply */
	/* nhead lines above the column titles (a note, the stats table) */
	int nhead;
	int (*head)(struct tui *t, struct screen *s, int y, int width);
	/* rows for s->list (offset list.top, limit list.height): 0 or -1 */
	int (*fetch)(struct tui *t, struct screen *s);
	/* the cells of a row, and its color (ui.h), or 0 */
	void (*cells)(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color);
	/* Enter on a row: open a view (or switch screens) */
	int (*open)(struct tui *t, struct screen *s, json_t *row);
	struct list list;
};

extern struct screen screen_queue, screen_domains, screen_bounces, screen_stats,
    screen_log;

/* ---- the widget (ui_list.c) ---- */
/* Take fetched rows (a new reference), the first one's index and the
 * total; the cursor stays on the same index, inside the total. */
void list_set(struct list *l, json_t *rows, long long offset, long long total);
/* The row at index i, or the cursor's; NULL when not fetched. */
json_t *list_row(const struct list *l, long long i);
json_t *list_cur(const struct list *l);
/* Move the cursor (navigation keys); TR_ flags. */
int list_nav(struct list *l, int key);
int list_tagged(const struct list *l, long long key);
/* Tag or untag; -1 when LIM_CONTROL_RCPTS are tagged already. */
int list_tag(struct list *l, long long key);
/* Draw the column titles at y and the rows below, in height lines. */
void list_draw(struct tui *t, struct screen *s, int y, int height, int width);
/* The row of rows whose string member is value, or NULL. */
json_t *list_find(json_t *rows, const char *member, const char *value);
/* A cell's text: s (cut to LIST_CELL), or "-" when NULL. */
void list_cell(char *cell, const char *s);
/* The filter/search/sort summary for the tab line. */
void list_summary(const struct screen *s, char *out, size_t size);

/* ---- screen actions the key table binds (screen_*.c) ---- */
int queue_act(struct tui *t, int key);		/* r h u d R H U D */
int queue_tag(struct tui *t, int key);		/* t T */
int queue_view_act(struct tui *t, int key);	/* r h u d in a message view */
int log_pause(struct tui *t, int key);		/* p */
int domains_act(struct tui *t, int key);	/* a k d c on Domains */
/* The monitor's events, as they come (screen_log.c). */
void log_event(struct tui *t, json_t *ev);

#endif
