/*
 * screen_domains.c -- the Domains screen.  Until sender domains with DKIM
 * keys exist in mtad, it lists the sender domains of the mail in the
 * queue, says that DKIM is not configured, and Enter shows that domain's
 * mail on the Queue screen.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>

#include "str.h"
#include "ui.h"

static const struct column domain_cols[] = {
	{ "DOMAIN", 16, 3, 0 }, { "MESSAGES", 8, 0, 1 }, { "QUEUED", 7, 0, 1 },
	{ "DEFERRED", 8, 0, 1 }, { "HELD", 6, 0, 1 }, { "OLDEST", 6, 0, 0 },
	{ "DKIM", 14, 1, 0 },
};

static int
domains_head(struct tui *t, struct screen *s, int y, int width)
{
	(void)s;
	ui_put(t, y, 0, width,
	    "DKIM signing is not configured yet: these are the sender domains of queued mail.",
	    ui_attr(t, C_DIM));
	return 1;
}

static int
domains_fetch(struct tui *t, struct screen *s)
{
	json_t *rows = tui_call(t, json_pack("{s:s, s:s, s:i}", "cmd", "queue.domains", "by",
	    "sender", "limit", LIM_DOMAIN_ROWS));

	if (rows == NULL)
		return -1;
	list_set(&s->list, rows, 0, (long long)json_array_size(rows));
	json_decref(rows);
	return 0;
}

static void
domains_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	const char *d = json_string_value(json_object_get(row, "domain"));
	time_t oldest = ctlclient_when(json_object_get(row, "oldest"));
	static const char *const counts[] = { "messages", "queued", "deferred", "held" };
	size_t i;

	if (d == NULL || *d == '\0')
		list_cell(cells[0], "<> (bounces)");
	else
		ctlclient_addr(d, cells[0], LIST_CELL);
	for (i = 0; i < 4; i++)
		(void)str_fmt(cells[1 + i], LIST_CELL, "%lld",
		    (long long)json_integer_value(json_object_get(row, counts[i])));
	if (oldest)
		ctlclient_dur(t->now - oldest, cells[5], LIST_CELL);
	list_cell(cells[6], "not configured");
	*color = C_NONE;
}

static int
domains_open(struct tui *t, struct screen *s, json_t *row)
{
	const char *d = json_string_value(json_object_get(row, "domain"));
	struct list *q = &screen_queue.list;

	(void)s;
	if (d == NULL || *d == '\0') {
		tui_msg(t, "the null sender: its mail is in the Queue as <>");
		return TR_DRAW;
	}
	q->filter = 0;
	q->domain[0] = '\0';
	(void)str_fmt(q->search, sizeof q->search, "@%s", d);
	q->cur = q->top = 0;
	return tui_switch(t, SCREEN_QUEUE);
}

struct screen screen_domains = {
	.name = "Domains", .cols = domain_cols, .ncols = 7, .nhead = 1, .head = domains_head,
	.fetch = domains_fetch, .cells = domains_cells, .open = domains_open,
};
