/*
 * screen_bounces.c -- the Bounces screen: the bounce log, newest first,
 * by class, recipient domain and time window; Enter shows a bounce whole
 * with the DSN that was sent for it.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <string.h>

#include "str.h"
#include "ui.h"
#include "view.h"

static const struct column bounce_cols[] = {
	{ "TIME", 14, 0, 0 }, { "CLASS", 7, 0, 0 }, { "CODE", 9, 0, 0 },
	{ "RECIPIENT", 16, 2, 0 }, { "REPLY", 16, 3, 0 },
};
static const char *const bounce_classes[] = { "all", "hard", "soft", "policy", "expired",
	NULL };
static const char *const bounce_windows[] = { "all", "1h", "1d", "7d", NULL };
static const long long bounce_secs[] = { 0, 3600, 86400, 7 * 86400 };

static int
bounces_fetch(struct tui *t, struct screen *s)
{
	struct list *l = &s->list;
	json_t *req = json_pack("{s:s, s:I, s:i}", "cmd", "bounces", "offset",
	    (json_int_t)l->top, "limit", l->height > 0 ? l->height : 1), *rows;
	long long n;

	if (l->filter > 0)
		json_object_set_new(req, "class", json_string(bounce_classes[l->filter]));
	if (l->domain[0])
		json_object_set_new(req, "domain", json_string(l->domain));
	if (l->window > 0)
		json_object_set_new(req, "since", json_integer(bounce_secs[l->window]));
	if ((rows = tui_call(t, req)) == NULL)
		return -1;
	/* no count: a full page means there may be more */
	n = l->top + (long long)json_array_size(rows);
	list_set(l, rows, l->top, (int)json_array_size(rows) == l->height ? n + 1 : n);
	json_decref(rows);
	return 0;
}

static void
bounces_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	time_t at = ctlclient_when(json_object_get(row, "at"));
	struct tm tm;
	const char *class = json_string_value(json_object_get(row, "class"));
	json_t *code = json_object_get(row, "code");

	(void)t;
	if (at && localtime_r(&at, &tm))
		(void)strftime(cells[0], LIST_CELL, "%m-%d %H:%M:%S", &tm);
	list_cell(cells[1], class);
	if (json_is_integer(code))
		(void)str_fmt(cells[2], LIST_CELL, "%lld %s", (long long)json_integer_value(code),
		    json_string_value(json_object_get(row, "enhanced")));
	else
		list_cell(cells[2], json_string_value(json_object_get(row,
		    "enhanced")));
	ctlclient_addr(json_string_value(json_object_get(row, "recipient")), cells[3],
	    LIST_CELL);
	list_cell(cells[4], json_string_value(json_object_get(row, "reply")));
	*color = class && strcmp(class, "hard") == 0 ? C_BAD : C_DEFERRED;
}

/* The DSN sent for the bounced message: "queued as ID", or "none". */
static void
bounces_dsn(struct tui *t, struct view *v, const char *id)
{
	json_t *m = tui_call(t, json_pack("{s:s, s:s}", "cmd", "queue.show", "id", id)), *e;
	const char *dsn = NULL;
	size_t i;

	json_array_foreach(json_object_get(m, "events"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "kind")) ?
		    json_string_value(json_object_get(e, "kind")) : "", "dsn") == 0)
			dsn = json_string_value(json_object_get(e, "reply"));
	if (dsn != NULL)
		view_add(v, "DSN:       queued as %s (to the sender)", dsn);
	else
		view_add(v, "DSN:       none");
	json_decref(m);
}

static int
bounces_open(struct tui *t, struct screen *s, json_t *row)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	struct view *v;
	char who[LIST_CELL], title[128];

	(void)s;
	(void)str_fmt(title, sizeof title, "Bounce of message %s", id ? id : "?");
	v = view_new(VIEW_TEXT, title);
	view_add(v, "Time:      %s", json_string_value(json_object_get(row, "at")));
	ctlclient_addr(json_string_value(json_object_get(row, "recipient")), who, sizeof who);
	view_add(v, "Recipient: %s", who);
	ctlclient_addr(json_string_value(json_object_get(row, "sender")), who, sizeof who);
	view_add(v, "Sender:    %s", who);
	view_add(v, "Class:     %s", json_string_value(json_object_get(row, "class")));
	view_add(v, "Status:    %s", json_string_value(json_object_get(row, "enhanced")));
	view_add(v, "Remote:    %s", json_string_value(json_object_get(row, "remote")) ?
	    json_string_value(json_object_get(row, "remote")) : "-");
	view_add(v, "Queue ID:  %s", id);
	if (id != NULL)
		bounces_dsn(t, v, id);
	view_add(v, "Reply:");
	view_text(v, "  ", json_string_value(json_object_get(row, "reply")));
	view_free(t->view);
	t->view = v;
	return TR_DRAW;
}

struct screen screen_bounces = {
	.name = "Bounces", .cols = bounce_cols, .ncols = 5, .filters = bounce_classes, .filter_name = "class",
	.windows = bounce_windows, .has_domain = 1, .fetch = bounces_fetch,
	.cells = bounces_cells, .open = bounces_open,
};
