/*
 * screen_domains.c -- the Domains screen: the sender domains mtad signs
 * for (their DKIM selector and key types), then the sender domains of
 * queued mail that have no keys ("not configured").  Enter on a sender
 * domain shows the DNS records to publish, ready to copy; on another, its
 * mail on the Queue screen.  a adds a domain (with its keys), k makes new
 * keys (rotation: they wait until activated with mtactl), d removes one.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "ui.h"
#include "view.h"

static const struct column domain_cols[] = {
	{ "DOMAIN", 16, 2, 0 }, { "MSGS", 5, 0, 1 }, { "DEFER", 5, 0, 1 }, { "HELD", 4, 0, 1 },
	{ "OLDEST", 6, 0, 0 }, { "DKIM", 12, 1, 0 }, { "DNS", 14, 2, 0 },
};

static int signing;			/* sender domains with keys exist */
static json_t *checks;			/* domain -> its last domain.check result */

static int
domains_head(struct tui *t, struct screen *s, int y, int width)
{
	(void)s;
	ui_put(t, y, 0, width, signing ?
	    "Sender domains. Enter: the DNS records to publish; a add, k new keys, d remove." :
	    "DKIM signing is not configured yet: these are the sender domains of queued mail.",
	    ui_attr(t, C_DIM));
	return 1;
}

/* "rsa+ed25519 SEL" for a domain of domain.list. */
static json_t *
domains_dkim(json_t *d)
{
	json_t *a;
	size_t i;
	char text[256] = "";
	int o = 0;

	json_array_foreach(json_object_get(d, "algorithms"), i, a) {
		const char *s = json_string_value(a);

		if (o < (int)sizeof text && str_fmt(text + o, sizeof text - (size_t)o, "%s%.*s",
		    o ? "+" : "", s ? (int)strcspn(s, "-") : 0, s ? s : "") == 0)
			o = (int)strlen(text);
	}
	if (o == 0)
		return json_string("no active key");
	(void)str_fmt(text + o, sizeof text - (size_t)o, " %s",
	    json_string_value(json_object_get(d, "selector")) ?
	    json_string_value(json_object_get(d, "selector")) : "");
	return json_string(text);
}

static int
domains_fetch(struct tui *t, struct screen *s)
{
	json_t *mine = tui_call(t, json_pack("{s:s}", "cmd", "domain.list")), *rows, *d, *q;
	size_t i;

	if (mine == NULL)
		return -1;
	rows = json_array();
	json_array_foreach(mine, i, d)
		json_array_append_new(rows, json_pack("{s:O, s:o}", "domain",
		    json_object_get(d, "name"), "dkim", domains_dkim(d)));
	signing = json_array_size(mine) > 0;
	json_decref(mine);
	if ((q = tui_call(t, json_pack("{s:s, s:s, s:i}", "cmd", "queue.domains", "by",
	    "sender", "limit", LIM_DOMAIN_ROWS))) == NULL) {
		json_decref(rows);
		return -1;
	}
	json_array_foreach(q, i, d) {
		json_t *r = list_find(rows, "domain", json_string_value(json_object_get(d,
		    "domain")) ? json_string_value(json_object_get(d, "domain")) : "");

		if (r != NULL)
			json_object_update_missing(r, d);
		else
			json_array_append(rows, d);
	}
	json_decref(q);
	list_set(&s->list, rows, 0, (long long)json_array_size(rows));
	json_decref(rows);
	return 0;
}

/* The DNS cell of a sender domain from its last check ("c: check" before
 * one), and the row's colour: green all ok, red something missing or
 * wrong, yellow the DNS could not tell. */
static int
domains_dns(const char *d, char *cell)
{
	json_t *c = d ? json_object_get(checks, d) : NULL, *it;
	struct buf b;
	size_t i;
	int color = C_OK;

	if (c == NULL) {
		list_cell(cell, "c: check");
		return C_NONE;
	}
	buf_init(&b, LIST_CELL - 1);
	json_array_foreach(json_object_get(c, "items"), i, it) {
		const char *v = json_string_value(json_object_get(it, "verdict"));

		const char *item = json_string_value(json_object_get(it, "item"));
		char kind[32];

		if (v == NULL || strcmp(v, "ok") == 0)
			continue;
		(void)str_fmt(kind, sizeof kind, " %.*s", item ? (int)strcspn(item, " ") : 0,
		    item ? item : "");
		if (b.len == 0)
			(void)buf_puts(&b, "not ok:");
		if (strstr(b.data, kind) == NULL)	/* each kind once: dkim of two keys */
			(void)buf_puts(&b, kind);
		color = strcmp(v, "unknown") == 0 && color != C_BAD ? C_DEFERRED : C_BAD;
	}
	list_cell(cell, b.len ? b.data : "all ok");
	buf_free(&b);
	return color;
}

static void
domains_cells(struct tui *t, json_t *row, char cells[][LIST_CELL], int *color)
{
	const char *d = json_string_value(json_object_get(row, "domain"));
	time_t oldest = ctlclient_when(json_object_get(row, "oldest"));
	static const char *const counts[] = { "messages", "deferred", "held" };
	json_t *dkim = json_object_get(row, "dkim");
	size_t i;

	if (d == NULL || *d == '\0')
		list_cell(cells[0], "<> (bounces)");
	else
		ctlclient_addr(d, cells[0], LIST_CELL);
	for (i = 0; i < 3; i++)
		(void)str_fmt(cells[1 + i], LIST_CELL, "%lld",
		    (long long)json_integer_value(json_object_get(row, counts[i])));
	if (oldest)
		ctlclient_dur(t->now - oldest, cells[4], LIST_CELL);
	list_cell(cells[5], dkim ? json_string_value(dkim) : "not configured");
	*color = dkim ? domains_dns(d, cells[6]) : C_NONE;
	if (!dkim)
		list_cell(cells[6], "");
}

/* The last check's items at the top of the records view. */
static void
domains_view_check(struct view *v, const char *d)
{
	json_t *c = json_object_get(checks, d), *it;
	size_t i;

	if (c == NULL) {
		view_add(v, "; not checked yet (c on the list checks the DNS)");
		view_add(v, "%s", "");
		return;
	}
	view_add(v, "; the DNS now (c on the list checks again):");
	json_array_foreach(json_object_get(c, "items"), i, it)
		view_add(v, ";   %-32s %-8s %s", json_string_value(json_object_get(it, "item")),
		    json_string_value(json_object_get(it, "verdict")),
		    json_string_value(json_object_get(it, "why")));
	view_add(v, "%s", "");
}

/* The records to publish for a sender domain, as zone-file lines; a long
 * TXT value as several strings of DOMAINS_CHUNK bytes (a DNS TXT record
 * is their concatenation; each must stay under 255). */
#define DOMAINS_CHUNK 64

static int
domains_records(struct tui *t, const char *d)
{
	json_t *recs = tui_call(t, json_pack("{s:s, s:s}", "cmd", "domain.dns", "domain", d)), *r;
	char title[LIM_DOMAIN * 4 + 64], shown[LIM_DOMAIN * 4 + 1];
	struct view *v;
	size_t i;

	if (recs == NULL)
		return TR_DRAW;
	ctlclient_addr(d, shown, sizeof shown);
	(void)str_fmt(title, sizeof title, "DNS records for %s", shown);
	v = view_new(VIEW_TEXT, title);
	domains_view_check(v, d);
	json_array_foreach(recs, i, r) {
		const char *type = json_string_value(json_object_get(r, "type")),
		    *name = json_string_value(json_object_get(r, "name")),
		    *value = json_string_value(json_object_get(r, "value"));
		size_t n = value ? strlen(value) : 0, k;

		view_add(v, "; %s", json_string_value(json_object_get(r, "note")));
		if (strcmp(type, "TXT") != 0)
			view_add(v, "; %s IN %s %s", name, type, value);
		else if (n <= DOMAINS_CHUNK)
			view_add(v, "%s IN TXT \"%s\"", name, value);
		else {		/* strings a terminal shows whole: copied as they are */
			view_add(v, "%s IN TXT (", name);
			for (k = 0; k < n; k += DOMAINS_CHUNK)
				view_add(v, "  \"%.*s\"", (int)(n - k < DOMAINS_CHUNK ? n - k :
				    DOMAINS_CHUNK), value + k);
			view_add(v, "  )");
		}
		view_add(v, "%s", "");
	}
	json_decref(recs);
	view_free(t->view);
	t->view = v;
	return TR_DRAW;
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
	if (json_object_get(row, "dkim") != NULL)
		return domains_records(t, d);
	q->filter = 0;
	q->domain[0] = '\0';
	(void)str_fmt(q->search, sizeof q->search, "@%s", d);
	q->cur = q->top = 0;
	return tui_switch(t, SCREEN_QUEUE);
}

/* c: check the DNS of the domain under the cursor (the lookups take a
 * moment: the screen waits). */
static int
domains_check(struct tui *t, const char *d)
{
	json_t *res;

	tui_msg(t, "checking the DNS of %s...", d);
	ui_frame(t);
	refresh();
	if ((res = tui_call(t, json_pack("{s:s, s:s}", "cmd", "domain.check", "domain", d))) ==
	    NULL)
		return TR_DRAW;
	if (checks == NULL)
		checks = json_object();
	json_object_set_new(checks, d, res);
	tui_msg(t, "%s: %s", d, json_is_true(json_object_get(res, "ok")) ? "all ok" :
	    "not all ok (Enter shows why)");
	return TR_DRAW | TR_FETCH;
}

/* a, k, d: add a sender domain, new keys for one, remove one; c checks. */
int
domains_act(struct tui *t, int key)
{
	json_t *row = list_cur(&screen_domains.list), *res;
	char name[LIM_DOMAIN + 1] = "", q[LIM_DOMAIN * 4 + 128];
	const char *d = row ? json_string_value(json_object_get(row, "domain")) : NULL;

	if (key == 'a') {
		if (!ui_prompt(t, "Add sender domain: ", name, sizeof name) || name[0] == '\0')
			return TR_DRAW;
		d = name;
	} else if (d == NULL || *d == '\0' || json_object_get(row, "dkim") == NULL) {
		tui_msg(t, "not a sender domain: add it with a");
		return TR_DRAW;
	}
	if (key == 'c')
		return domains_check(t, d);
	(void)str_fmt(q, sizeof q, key == 'd' ? "Remove %s and its DKIM keys? Its mail goes "
	    "unsigned." : "New DKIM keys for %s? They wait until activated.", d);
	if (key != 'a' && !ui_confirm(t, q))
		return TR_DRAW;
	if ((res = tui_call(t, json_pack("{s:s, s:s}", "cmd", key == 'a' ? "domain.add" :
	    key == 'k' ? "domain.key" : "domain.remove", "domain", d))) == NULL)
		return TR_DRAW | TR_FETCH;
	tui_msg(t, key == 'a' ? "%s added: Enter shows its DNS records" : key == 'k' ?
	    "new keys for %s: publish them (Enter), then mtactl domain activate" :
	    "%s removed", json_string_value(json_object_get(res, "name")));
	json_decref(res);
	return TR_DRAW | TR_FETCH;
}

struct screen screen_domains = {
	.name = "Domains", .cols = domain_cols, .ncols = 7, .nhead = 1, .head = domains_head,
	.fetch = domains_fetch, .cells = domains_cells, .open = domains_open,
};
