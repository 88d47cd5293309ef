/*
 * screen_stats.c -- the Stats screen: received, delivered, deferred and
 * bounced over the last hour, day and week; a sparkline of deliveries per
 * minute over the last hour; then the destination domains, largest queue
 * first, with their last error and the day's deliveries and bounces.
 * The daemon counts (stats, queue.domains); refreshed every 5 seconds.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <string.h>

#include "str.h"
#include "text.h"
#include "ui.h"

#define STATS_EVERY 5			/* seconds between fetches */

static const struct column stats_cols[] = {
	{ "DOMAIN", 14, 2, 0 }, { "WAITING", 7, 0, 1 }, { "DEFERRED", 8, 0, 1 },
	{ "HELD", 5, 0, 1 }, { "DELIV/24h", 9, 0, 1 }, { "BOUNCE/24h", 10, 0, 1 },
	{ "LAST ERROR", 10, 3, 0 },
};

static struct {
	json_t *win[3];			/* stats for the last hour, day, week */
	time_t fetched;
} st;

static int
stats_head(struct tui *t, struct screen *s, int y, int width)
{
	static const char *const names[] = { "last hour", "last day", "last week" };
	static const char *const kinds[] = { "received", "delivered", "deferred", "bounced" };
	long long counts[60], max = 0;
	char line[256], spark[256];
	size_t i, k;
	json_t *series = json_object_get(st.win[0], "series");

	(void)s;
	ui_put(t, y, 0, width, "             received   delivered    deferred     bounced",
	    A_BOLD);
	for (i = 0; i < 3; i++) {
		int o = str_fmt(line, sizeof line, "%-11s", names[i]) == 0 ? 11 : 0;

		for (k = 0; k < 4 && o >= 0; k++)
			o = str_fmt(line + o, sizeof line - (size_t)o, " %11lld",
			    (long long)json_integer_value(json_object_get(st.win[i], kinds[k]))) ==
			    0 ? (int)strlen(line) : -1;
		ui_put(t, y + 1 + (int)i, 0, width, line, A_NORMAL);
	}
	memset(counts, 0, sizeof counts);
	for (i = 0; i < 60 && i < json_array_size(series); i++) {
		size_t from = json_array_size(series) > 60 ? json_array_size(series) - 60 : 0;

		counts[i] = json_integer_value(json_array_get(series, from + i));
		if (counts[i] > max)
			max = counts[i];
	}
	text_spark(counts, 60, 60, t->utf8, spark, sizeof spark);
	(void)str_fmt(line, sizeof line, "deliveries per minute, last hour (max %lld):", max);
	ui_put(t, y + 4, 0, width, line, A_BOLD);
	ui_put(t, y + 5, 0, width, spark, ui_attr(t, C_OK));
	ui_put(t, y + 6, 0, width, "", A_NORMAL);
	return 7;
}

/* The row of domain d in rows, or a new one. */
static json_t *
stats_row(json_t *rows, const char *d)
{
	json_t *r = list_find(rows, "domain", d);

	if (r != NULL)
		return r;
	r = json_pack("{s:s}", "domain", d);
	json_array_append_new(rows, r);
	return r;
}

static int
stats_fetch(struct tui *t, struct screen *s)
{
	static const long long secs[3] = { 3600, 86400, 7 * 86400 };
	json_t *win[3] = { NULL, NULL, NULL }, *q, *rows, *v;
	const char *d;
	size_t i;

	if (st.fetched && t->now - st.fetched < STATS_EVERY && s->list.rows)
		return 0;
	for (i = 0; i < 3; i++)
		if ((win[i] = tui_call(t, i == 0 ? json_pack("{s:s, s:I, s:i}", "cmd", "stats",
		    "since", (json_int_t)secs[i], "step", 60) : json_pack("{s:s, s:I}", "cmd",
		    "stats", "since", (json_int_t)secs[i]))) == NULL)
			break;
	q = i == 3 ? tui_call(t, json_pack("{s:s, s:i}", "cmd", "queue.domains", "limit",
	    LIM_DOMAIN_ROWS)) : NULL;
	if (q == NULL) {
		for (i = 0; i < 3; i++)
			json_decref(win[i]);
		return -1;
	}
	rows = json_array();
	json_array_foreach(q, i, v)
		json_array_append(rows, v);
	json_object_foreach(json_object_get(win[1], "domains"), d, v) {
		json_t *r = stats_row(rows, d);

		json_object_set(r, "delivered24", json_object_get(v, "delivered"));
		json_object_set(r, "bounced24", json_object_get(v, "bounced"));
	}
	json_array_foreach(json_object_get(t->status, "paused"), i, v) {	/* throttled */
		json_t *r = stats_row(rows, json_string_value(json_object_get(v, "domain")) ?
		    json_string_value(json_object_get(v, "domain")) : "");

		json_object_set(r, "paused", json_object_get(v, "until"));
		json_object_set(r, "provider", json_object_get(v, "provider"));
		json_object_set(r, "last_reply", json_object_get(v, "reply"));
	}
	for (i = 0; i < 3; i++) {
		json_decref(st.win[i]);
		st.win[i] = win[i];
	}
	st.fetched = t->now;
	list_set(&s->list, rows, 0, (long long)json_array_size(rows));
	json_decref(rows);
	json_decref(q);
	return 0;
}

static void
stats_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	static const char *const keys[] = { "deferred", "held", "delivered24", "bounced24" };
	long long waiting = 0;
	size_t i;

	ctlclient_addr(json_string_value(json_object_get(row, "domain")), cells[0], LIST_CELL);
	for (i = 0; i < 4; i++)
		waiting += json_integer_value(json_object_get(row, (const char *[]){ "queued",
		    "deferred", "held", "sending" }[i]));
	(void)str_fmt(cells[1], LIST_CELL, "%lld", waiting);
	for (i = 0; i < 4; i++)
		(void)str_fmt(cells[2 + i], LIST_CELL, "%lld",
		    (long long)json_integer_value(json_object_get(row, keys[i])));
	list_cell(cells[6], json_string_value(json_object_get(row,
	    "last_reply")) ? json_string_value(json_object_get(row, "last_reply")) : "-");
	*color = json_string_value(json_object_get(row, "last_reply")) ? C_DEFERRED : C_NONE;
	if (json_object_get(row, "paused") != NULL) {	/* throttled: say so first */
		char left[32], text[LIST_CELL];

		ctlclient_dur(ctlclient_when(json_object_get(row, "paused")) - t->now, left,
		    sizeof left);
		(void)str_fmt(text, sizeof text, "PAUSED %s%s: %s", left,
		    json_is_true(json_object_get(row, "provider")) ? " (MX provider)" : "",
		    cells[6]);
		list_cell(cells[6], text);
		*color = C_BAD;
	}
}

static int
stats_open(struct tui *t, struct screen *s, json_t *row)
{
	struct list *q = &screen_queue.list;

	(void)s;
	q->filter = 0;
	q->search[0] = '\0';
	if (json_string_value(json_object_get(row, "domain")) == NULL)
		return TR_NONE;
	(void)str_copy(q->domain, sizeof q->domain,
	    json_string_value(json_object_get(row, "domain")));
	q->cur = q->top = 0;
	return tui_switch(t, SCREEN_QUEUE);
}

struct screen screen_stats = {
	.name = "Stats", .cols = stats_cols, .ncols = 7, .nhead = 7, .head = stats_head,
	.fetch = stats_fetch, .cells = stats_cells, .open = stats_open,
};
