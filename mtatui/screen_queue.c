/*
 * screen_queue.c -- the Queue screen: one row per waiting recipient, the
 * message detail view, and the actions (retry, hold, release, purge) on
 * the row, the tagged rows, the row's domain or a whole message.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <string.h>

#include "str.h"
#include "ui.h"
#include "view.h"

static const struct column queue_cols[] = {
	{ "ID", 12, 0, 0 }, { "AGE", 6, 0, 0 }, { "STATE", 8, 0, 0 }, { "TRY", 3, 0, 1 },
	{ "NEXT", 6, 0, 0 }, { "SENDER", 10, 2, 0 }, { "RECIPIENT", 12, 3, 0 },
	{ "LAST REPLY", 8, 3, 0 },
};
static const char *const queue_states[] = { "all", "queued", "deferred", "held", "sending",
	NULL };
static const char *const queue_sorts[] = { "id", "age", "next", "attempts", "state",
	"sender", "recipient", "domain", NULL };

/* The list's selection as request members. */
static json_t *
queue_request(const char *cmd, const struct list *l)
{
	json_t *r = json_pack("{s:s}", "cmd", cmd);

	if (l->filter > 0)
		json_object_set_new(r, "state", json_string(queue_states[l->filter]));
	if (l->domain[0])
		json_object_set_new(r, "domain", json_string(l->domain));
	if (l->search[0])
		json_object_set_new(r, "search", json_string(l->search));
	return r;
}

static int
queue_fetch(struct tui *t, struct screen *s)
{
	struct list *l = &s->list;
	json_t *req = queue_request("queue.list", l), *rows, *n;
	long long top = l->top;

	json_object_set_new(req, "offset", json_integer(top));
	json_object_set_new(req, "limit", json_integer(l->height > 0 ? l->height : 1));
	json_object_set_new(req, "sort", json_string(queue_sorts[l->sort]));
	json_object_set_new(req, "desc", json_boolean(l->desc));
	if ((rows = tui_call(t, req)) == NULL)
		return -1;
	if ((n = tui_call(t, queue_request("queue.count", l))) == NULL) {
		json_decref(rows);
		return -1;
	}
	list_set(l, rows, top, json_integer_value(json_object_get(n, "count")));
	json_decref(rows);
	json_decref(n);
	return 0;
}

/* "5m12s" from now until t (or since, when ago), "now", "-". */
static void
queue_span(struct tui *t, json_t *when, int ago, char *out, size_t size)
{
	time_t w = ctlclient_when(when);

	if (w == 0)
		(void)str_copy(out, size, "-");
	else if (!ago && w <= t->now)
		(void)str_copy(out, size, "now");
	else
		ctlclient_dur(ago ? t->now - w : w - t->now, out, size);
}

static void
queue_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	const char *state = json_string_value(json_object_get(row, "state"));
	json_t *paused = json_object_get(row, "paused_until");	/* throttled, capped */
	json_t *next = json_object_get(row, "next_attempt");

	if (json_is_string(paused) && ctlclient_when(paused) > ctlclient_when(next))
		next = paused;
	list_cell(cells[0], json_string_value(json_object_get(row, "id")));
	queue_span(t, json_object_get(row, "received_at"), 1, cells[1], LIST_CELL);
	list_cell(cells[2], json_is_string(paused) ? "paused" : state);
	(void)str_fmt(cells[3], LIST_CELL, "%lld",
	    (long long)json_integer_value(json_object_get(row, "attempts")));
	if (state && strcmp(state, "held") == 0)
		list_cell(cells[4], "-");
	else
		queue_span(t, next, 0, cells[4], LIST_CELL);
	ctlclient_addr(json_string_value(json_object_get(row, "sender")), cells[5], LIST_CELL);
	ctlclient_addr(json_string_value(json_object_get(row, "recipient")), cells[6],
	    LIST_CELL);
	list_cell(cells[7], json_string_value(json_object_get(row, "last_reply")));
	*color = !state ? C_NONE : json_is_string(paused) || !strcmp(state, "deferred") ? C_DEFERRED :
	    !strcmp(state, "held") ? C_HELD : !strcmp(state, "sending") ? C_SENDING : C_NONE;
}

/* ---- the message view ---- */

static void
queue_view_rcpts(struct view *v, json_t *rcpts, struct tui *t)
{
	size_t i;
	json_t *r;

	view_add(v, "Recipients:");
	json_array_foreach(rcpts, i, r) {
		char a[LIST_CELL], next[32];

		ctlclient_addr(json_string_value(json_object_get(r, "recipient")), a, sizeof a);
		if (strcmp(json_string_value(json_object_get(r, "state")) ?
		    json_string_value(json_object_get(r, "state")) : "", "held") == 0)
			(void)str_copy(next, sizeof next, "-");
		else
			queue_span(t, json_object_get(r, "next_attempt"), 0, next, sizeof next);
		view_add(v, "  %s  %s, %lld attempts, next %s", a,
		    json_string_value(json_object_get(r, "state")),
		    (long long)json_integer_value(json_object_get(r, "attempts")), next);
		if (json_string_value(json_object_get(r, "last_reply")))
			view_add(v, "    last: %s%s%s", json_string_value(json_object_get(r,
			    "last_reply")), json_string_value(json_object_get(r, "last_mx")) ?
			    "  from " : "", json_string_value(json_object_get(r, "last_mx")) ?
			    json_string_value(json_object_get(r, "last_mx")) : "");
	}
}

static void
queue_view_events(struct view *v, json_t *events)
{
	size_t i;
	json_t *e;

	view_add(v, "History:");
	json_array_foreach(events, i, e) {
		const char *rc = json_string_value(json_object_get(e, "recipient")),
		    *reply = json_string_value(json_object_get(e, "reply")),
		    *remote = json_string_value(json_object_get(e, "remote")),
		    *tls = json_string_value(json_object_get(e, "tls"));

		view_add(v, "  %s %-9s %s%s%s%s%s%s%s",
		    json_string_value(json_object_get(e, "at")),
		    json_string_value(json_object_get(e, "kind")), rc ? rc : "", rc ? " " : "",
		    reply ? reply : "", remote ? "  remote " : "", remote ? remote : "",
		    tls ? "  tls " : "", tls ? tls : "");
	}
}

/* A new view of message `id` (NULL and a message when it is gone). */
static struct view *
queue_view(struct tui *t, const char *id)
{
	json_t *m = tui_call(t, json_pack("{s:s, s:s}", "cmd", "queue.show", "id", id));
	struct view *v;
	char title[128], sender[LIST_CELL];

	if (m == NULL)
		return NULL;
	(void)str_fmt(title, sizeof title, "Message %s%s", id,
	    json_is_true(json_object_get(m, "queued")) ? "" : " (no longer queued)");
	v = view_new(VIEW_MESSAGE, title);
	(void)str_copy(v->id, sizeof v->id, id);
	if (json_is_true(json_object_get(m, "queued"))) {
		ctlclient_addr(json_string_value(json_object_get(m, "sender")), sender,
		    sizeof sender);
		view_add(v, "From:     %s", sender);
		view_add(v, "Size:     %lld", (long long)json_integer_value(json_object_get(m,
		    "size")));
		view_add(v, "Received: %s from %s (helo %s)%s%s",
		    json_string_value(json_object_get(m, "received_at")),
		    json_string_value(json_object_get(m, "client")),
		    json_string_value(json_object_get(m, "helo")),
		    json_string_value(json_object_get(m, "user")) ? ", user " : "",
		    json_string_value(json_object_get(m, "user")) ?
		    json_string_value(json_object_get(m, "user")) : "");
	}
	queue_view_rcpts(v, json_object_get(m, "recipients"), t);
	queue_view_events(v, json_object_get(m, "events"));
	if (json_is_true(json_object_get(m, "queued"))) {
		view_add(v, "Headers:");
		view_text(v, "  ", json_string_value(json_object_get(m, "headers")));
		view_add(v, "Body:");
		view_text(v, "  ", json_string_value(json_object_get(m, "body")));
	}
	json_decref(m);
	return v;
}

static int
queue_open(struct tui *t, struct screen *s, json_t *row)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	struct view *v;

	(void)s;
	if (id == NULL || (v = queue_view(t, id)) == NULL)
		return TR_DRAW;
	view_free(t->view);
	t->view = v;
	return TR_DRAW;
}

/* ---- actions ---- */

static const struct {
	int key;
	const char *cmd, *done;
} queue_acts[] = {
	{ 'r', "queue.retry", "to be tried now" }, { 'h', "queue.hold", "held" },
	{ 'u', "queue.release", "released" }, { 'd', "queue.purge", "purged (no DSN sent)" },
};

/* Run the action of key (lower case) on the selection in req (consumed):
 * purge asks first, naming n recipients (and `what`).  The tags go once
 * the action is done, not when it is declined. */
static int
queue_run(struct tui *t, int key, json_t *req, long long n, const char *what,
    struct list *tagged)
{
	char q[512];
	json_t *res;
	size_t i;

	for (i = 0; i < 4 && queue_acts[i].key != key; i++)
		;
	json_object_set_new(req, "cmd", json_string(queue_acts[i].cmd));
	(void)str_fmt(q, sizeof q, "Purge %lld recipients%s%s? No DSN is sent.", n,
	    what ? " of " : "", what ? what : "");
	if (key == 'd' && !ui_confirm(t, q)) {
		json_decref(req);
		tui_msg(t, "nothing purged");
		return TR_DRAW;
	}
	if ((res = tui_call(t, req)) == NULL)
		return TR_DRAW | TR_FETCH;
	if (tagged != NULL)
		tagged->ntags = 0;
	tui_msg(t, "%lld recipients %s", (long long)json_integer_value(json_object_get(res,
	    "count")), queue_acts[i].done);
	json_decref(res);
	return TR_DRAW | TR_FETCH;
}

int
queue_act(struct tui *t, int key)
{
	struct list *l = &screen_queue.list;
	json_t *row = list_cur(l), *ids, *req, *n;
	const char *dom;
	char shown[LIM_DOMAIN * 4 + 1];
	long long count;
	size_t i;
	int k = key | 0x20;	/* R H U D: the same on the row's domain */

	if (key != k) {
		if (row == NULL || (dom = json_string_value(json_object_get(row, "domain"))) == NULL)
			return TR_NONE;
		if ((n = tui_call(t, json_pack("{s:s, s:s}", "cmd", "queue.count", "domain",
		    dom))) == NULL)
			return TR_DRAW;
		count = json_integer_value(json_object_get(n, "count"));
		json_decref(n);
		ctlclient_addr(dom, shown, sizeof shown);
		return queue_run(t, k, json_pack("{s:s}", "domain", dom), count, shown, NULL);
	}
	ids = json_array();
	for (i = 0; i < l->ntags; i++)
		json_array_append_new(ids, json_integer(l->tags[i]));
	if (l->ntags == 0 && row != NULL)
		json_array_append_new(ids, json_incref(json_object_get(row, "rcpt_id")));
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return TR_NONE;
	}
	count = (long long)json_array_size(ids);
	req = json_pack("{s:o}", "rcpt_ids", ids);
	return queue_run(t, k, req, count, NULL, l);
}

int
queue_tag(struct tui *t, int key)
{
	struct list *l = &screen_queue.list;
	json_t *row = list_cur(l);

	if (key == 'T') {
		l->ntags = 0;
		return TR_DRAW;
	}
	if (row == NULL)
		return TR_NONE;
	if (list_tag(l, json_integer_value(json_object_get(row, "rcpt_id"))) < 0)
		tui_msg(t, "at most %d rows can be tagged", LIM_CONTROL_RCPTS);
	return list_nav(l, KEY_DOWN) | TR_DRAW;
}

int
queue_view_act(struct tui *t, int key)
{
	struct view *v = t->view, *nv;
	json_t *n;
	long long count;
	int rc;

	if (v == NULL || v->kind != VIEW_MESSAGE)
		return TR_NONE;
	if ((n = tui_call(t, json_pack("{s:s, s:s}", "cmd", "queue.count", "id", v->id))) ==
	    NULL)
		return TR_DRAW;
	count = json_integer_value(json_object_get(n, "count"));
	json_decref(n);
	rc = queue_run(t, key, json_pack("{s:s}", "id", v->id), count, v->id, NULL);
	if ((nv = queue_view(t, v->id)) != NULL) {
		nv->top = v->top;
		view_free(t->view);
		t->view = nv;
	}
	return rc;
}

struct screen screen_queue = {
	.name = "Queue", .cols = queue_cols, .ncols = 8, .filters = queue_states, .filter_name = "state",
	.sorts = queue_sorts, .tag_member = "rcpt_id", .has_search = 1, .has_domain = 1,
	.fetch = queue_fetch, .cells = queue_cells, .open = queue_open,
};
