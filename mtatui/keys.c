/* keys.c -- the key binding table, dispatch and help (see keys.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "keys.h"

#include <curses.h>
#include <string.h>

#include "screen.h"
#include "str.h"
#include "ui.h"
#include "view.h"

/* Where a binding applies: a screen (1 << SCREEN_x), any view, or a
 * message view. */
#define W_QUEUE (1u << SCREEN_QUEUE)
#define W_DOMAINS (1u << SCREEN_DOMAINS)
#define W_BOUNCES (1u << SCREEN_BOUNCES)
#define W_STATS (1u << SCREEN_STATS)
#define W_LOG (1u << SCREEN_LOG)
#define W_LISTS (W_QUEUE | W_DOMAINS | W_BOUNCES | W_STATS | W_LOG)
#define W_VIEW (1u << 5)
#define W_MSG (1u << 6)
#define W_ALL (W_LISTS | W_VIEW | W_MSG)

struct binding {
	int key;
	unsigned where;
	const char *name;		/* for help; NULL: an alias, not listed */
	const char *help;
	int (*fn)(struct tui *t, int key);
};

static int
k_quit(struct tui *t, int key)
{
	if (t->view != NULL && key == 'q') {
		view_free(t->view);
		t->view = NULL;
		return TR_DRAW | TR_FETCH;
	}
	return TR_QUIT;
}

static int
k_back(struct tui *t, int key)
{
	(void)key;
	view_free(t->view);
	t->view = NULL;
	return TR_DRAW | TR_FETCH;
}

static int
k_screen(struct tui *t, int key)
{
	int n = key >= '1' && key <= '5' ? key - '1' : key - KEY_F(2);

	return tui_switch(t, n);
}

static int
k_cycle(struct tui *t, int key)
{
	return tui_switch(t, (t->cur + (key == KEY_BTAB ? SCREEN_N - 1 : 1)) % SCREEN_N);
}

static int
k_redraw(struct tui *t, int key)
{
	(void)t;
	(void)key;
	clearok(curscr, TRUE);
	return TR_DRAW;
}

static int
k_nav(struct tui *t, int key)
{
	return t->view ? view_nav(t->view, key) : list_nav(&t->screens[t->cur]->list, key);
}

static int
k_open(struct tui *t, int key)
{
	struct screen *s = t->screens[t->cur];
	json_t *row = list_cur(&s->list);

	(void)key;
	return s->open && row ? s->open(t, s, row) : TR_NONE;
}

static struct list *
k_list(struct tui *t)
{
	return &t->screens[t->cur]->list;
}

/* / and F: read the search, or the domain filter, on the message line. */
static int
k_prompt(struct tui *t, int key)
{
	struct screen *s = t->screens[t->cur];
	struct list *l = &s->list;
	int search = key == '/';

	if (!(search ? s->has_search : s->has_domain) || !ui_prompt(t, search ? "Search: " :
	    "Domain: ", search ? l->search : l->domain, search ? sizeof l->search :
	    sizeof l->domain))
		return TR_DRAW;
	l->cur = l->top = 0;
	return TR_DRAW | TR_FETCH;
}

/* f, s, w: the next of the screen's filters, sorts, windows; S reverses. */
static int
k_cycle_opt(struct tui *t, int key)
{
	struct screen *s = t->screens[t->cur];
	struct list *l = &s->list;
	const char *const *opts = key == 'f' ? s->filters : key == 'w' ? s->windows : s->sorts;
	int *v = key == 'f' ? &l->filter : key == 'w' ? &l->window : &l->sort;

	if (opts == NULL)
		return TR_NONE;
	if (key == 'S')
		l->desc = !l->desc;
	else
		*v = opts[*v + 1] ? *v + 1 : 0;
	l->cur = l->top = 0;
	return TR_DRAW | TR_FETCH;
}

static int
k_clear(struct tui *t, int key)
{
	struct list *l = k_list(t);

	(void)key;
	l->search[0] = l->domain[0] = '\0';
	l->filter = l->window = l->sort = l->desc = 0;
	l->cur = l->top = 0;
	return TR_DRAW | TR_FETCH;
}

static const struct binding keys[] = {
	{ '?', W_ALL, "? F1", "this help", keys_help },
	{ KEY_F(1), W_ALL, NULL, NULL, keys_help },
	{ 'q', W_ALL, "q F10", "quit (q: close the view first)", k_quit },
	{ KEY_F(10), W_ALL, NULL, NULL, k_quit },
	{ 27, W_VIEW, "Esc Left", "back to the list", k_back },
	{ KEY_LEFT, W_VIEW, NULL, NULL, k_back },
	{ '1', W_ALL, "1-5 F2-F6", "Queue, Domains, Bounces, Stats, Log", k_screen },
	{ '2', W_ALL, NULL, NULL, k_screen }, { '3', W_ALL, NULL, NULL, k_screen },
	{ '4', W_ALL, NULL, NULL, k_screen }, { '5', W_ALL, NULL, NULL, k_screen },
	{ KEY_F(2), W_ALL, NULL, NULL, k_screen }, { KEY_F(3), W_ALL, NULL, NULL, k_screen },
	{ KEY_F(4), W_ALL, NULL, NULL, k_screen }, { KEY_F(5), W_ALL, NULL, NULL, k_screen },
	{ KEY_F(6), W_ALL, NULL, NULL, k_screen },
	{ '\t', W_ALL, "Tab S-Tab", "next, previous screen", k_cycle },
	{ KEY_BTAB, W_ALL, NULL, NULL, k_cycle },
	{ 12, W_ALL, "^L", "redraw the screen", k_redraw },
	{ KEY_UP, W_LISTS | W_VIEW, "Up Down j k", "move", k_nav },
	{ KEY_DOWN, W_LISTS | W_VIEW, NULL, NULL, k_nav },
	{ 'k', (W_LISTS & ~W_DOMAINS) | W_VIEW, NULL, NULL, k_nav },
	{ 'j', W_LISTS | W_VIEW, NULL, NULL, k_nav },
	{ KEY_PPAGE, W_LISTS | W_VIEW, "PgUp PgDn", "a page up, down", k_nav },
	{ KEY_NPAGE, W_LISTS | W_VIEW, NULL, NULL, k_nav },
	{ KEY_HOME, W_LISTS | W_VIEW, "Home End g G", "first, last", k_nav },
	{ KEY_END, W_LISTS | W_VIEW, NULL, NULL, k_nav },
	{ 'g', W_LISTS | W_VIEW, NULL, NULL, k_nav }, { 'G', W_LISTS | W_VIEW, NULL, NULL, k_nav },
	{ '\r', W_LISTS, "Enter",
	  "details (Domains, Stats: that domain's queue)", k_open },
	{ '\n', W_LISTS, NULL, NULL, k_open },
	{ KEY_ENTER, W_LISTS, NULL, NULL, k_open },
	{ 'r', W_QUEUE, "r", "retry now: the tagged rows, or the row", queue_act },
	{ 'h', W_QUEUE, "h", "hold: the tagged rows, or the row", queue_act },
	{ 'u', W_QUEUE, "u", "release held: the tagged rows, or the row", queue_act },
	{ 'd', W_QUEUE, "d", "purge, no DSN (asks first): the tagged rows, or the row",
	  queue_act },
	{ 'R', W_QUEUE, "R H U D", "the same for every recipient of the row's domain",
	  queue_act },
	{ 'H', W_QUEUE, NULL, NULL, queue_act }, { 'U', W_QUEUE, NULL, NULL, queue_act },
	{ 'D', W_QUEUE, NULL, NULL, queue_act },
	{ 't', W_QUEUE, "t", "tag or untag the row", queue_tag },
	{ 'T', W_QUEUE, "T", "untag every row", queue_tag },
	{ 'r', W_MSG, "r h u d", "retry, hold, release, purge the whole message",
	  queue_view_act },
	{ 'h', W_MSG, NULL, NULL, queue_view_act }, { 'u', W_MSG, NULL, NULL, queue_view_act },
	{ 'd', W_MSG, NULL, NULL, queue_view_act },
	{ '/', W_QUEUE | W_LOG, "/", "search (Queue: ID, sender, recipient; Log: any text)",
	  k_prompt },
	{ 'f', W_QUEUE | W_BOUNCES, "f", "next filter (Queue: state; Bounces: class)",
	  k_cycle_opt },
	{ 'F', W_QUEUE | W_BOUNCES, "F", "filter by recipient domain", k_prompt },
	{ 's', W_QUEUE, "s S", "next sort column, reverse the order", k_cycle_opt },
	{ 'S', W_QUEUE, NULL, NULL, k_cycle_opt },
	{ 'w', W_BOUNCES, "w", "next time window (all, 1h, 1d, 7d)", k_cycle_opt },
	{ 'c', W_QUEUE | W_BOUNCES | W_LOG, "c", "clear search, filters and sort", k_clear },
	{ 'p', W_LOG, "p", "pause or follow", log_pause },
	{ 'a', W_DOMAINS, "a", "add a sender domain, with its DKIM keys", domains_act },
	{ 'k', W_DOMAINS, "k", "new DKIM keys for the domain (they wait; asks first)",
	  domains_act },
	{ 'd', W_DOMAINS, "d", "remove the sender domain and its keys (asks first)",
	  domains_act },
	{ 'c', W_DOMAINS, "c", "check the domain's DNS records (and the TLS certificate)",
	  domains_act },
};

int
keys_dispatch(struct tui *t, int key)
{
	unsigned where = t->view == NULL ? 1u << t->cur :
	    W_VIEW | (t->view->kind == VIEW_MESSAGE ? W_MSG : 0);
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].key == key && (keys[i].where & where))
			return keys[i].fn(t, key);
	return TR_NONE;
}

/* Where a binding applies, for the help: "" everywhere, else names. */
static void
keys_where(unsigned where, char *out, size_t size)
{
	static const char *const names[] = { "Queue", "Domains", "Bounces", "Stats", "Log",
		"views", "message" };
	size_t i, o = 0;

	out[0] = '\0';
	if ((where & W_LISTS) == W_LISTS)
		return;
	for (i = 0; i < 7; i++)
		if ((where & (1u << i)) && str_fmt(out + o, size - o, "%s%s", o ? "," : "",
		    names[i]) == 0)
			o = strlen(out);
}

int
keys_help(struct tui *t, int key)
{
	struct view *v = view_new(VIEW_TEXT, "mtatui keys");
	char where[64];
	size_t i;

	(void)key;
	view_add(v, "  %-14s %-16s %s", "KEY", "WHERE", "WHAT");
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (keys[i].name == NULL)
			continue;
		keys_where(keys[i].where, where, sizeof where);
		view_add(v, "  %-14s %-16s %s", keys[i].name, where, keys[i].help);
	}
	view_free(t->view);
	t->view = v;
	return TR_DRAW;
}
