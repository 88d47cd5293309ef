/* view.c -- scrollable text views (see view.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "view.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

struct view *
view_new(enum view_kind kind, const char *title)
{
	struct view *v = xcalloc(1, sizeof *v);

	v->kind = kind;
	(void)str_copy(v->title, sizeof v->title, title);
	return v;
}

void
view_free(struct view *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++)
		free(v->lines[i]);
	free(v->lines);
	free(v);
}

static void
view_push(struct view *v, const char *s, size_t n)
{
	v->lines = xgrow(v->lines, &v->cap, v->n + 1, sizeof *v->lines);
	v->lines[v->n] = xmemdup(s, n + 1);
	v->lines[v->n++][n] = '\0';
}

void
view_add(struct view *v, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	view_push(v, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void
view_text(struct view *v, const char *indent, const char *text)
{
	const char *p = text ? text : "", *nl;

	while (*p) {
		size_t n;

		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		view_add(v, "%s%.*s", indent, (int)(n > 0 && p[n - 1] == '\r' ? n - 1 : n), p);
		p += n + (nl != NULL);
	}
}

/*
 * Long lines wrap: a line takes as many rows as it needs at `width`
 * columns, each row after its first indented by VIEW_WRAP_INDENT.  Calls
 * row(ctx, n, text, bytes) for each row n in order; returns the rows.
 */
#define VIEW_WRAP_INDENT "    "

static long long
view_rows(const struct view *v, int width, void (*row)(void *ctx, long long n,
    const char *text, size_t len, int cont), void *ctx)
{
	int cont_w = width - (int)strlen(VIEW_WRAP_INDENT);
	long long n = 0;
	size_t i;

	for (i = 0; i < v->n; i++) {
		const char *p = v->lines[i];
		int cont = 0;

		do {
			size_t len = text_cut(p, cont && cont_w > 0 ? cont_w : width);

			if (row != NULL)
				row(ctx, n, p, len, cont);
			n++;
			p += len;
			cont = 1;
		} while (*p);
	}
	return n;
}

struct view_paint {
	struct tui *t;
	const struct view *v;
	int y;
};

static void
view_paint_row(void *ctx, long long n, const char *text, size_t len, int cont)
{
	struct view_paint *vp = ctx;
	char seg[4200];
	long long k = n - vp->v->top;

	if (k < 0 || k >= vp->v->height)
		return;
	(void)str_fmt(seg, sizeof seg, "%s%.*s", cont ? VIEW_WRAP_INDENT : "", (int)len, text);
	ui_put(vp->t, vp->y + 1 + (int)k, 0, COLS, seg, A_NORMAL);
}

void
view_draw(struct tui *t, struct view *v, int y, int height)
{
	struct view_paint vp = { t, v, y };
	char pos[64];
	int i;

	v->height = height - 1;
	v->rows = view_rows(v, COLS, NULL, NULL);
	if (v->top > v->rows - v->height)
		v->top = v->rows - v->height > 0 ? v->rows - v->height : 0;
	(void)str_fmt(pos, sizeof pos, "  (%lld-%lld of %lld, Esc: back)", v->rows ? v->top + 1 :
	    0, v->top + v->height < v->rows ? v->top + v->height : v->rows, v->rows);
	ui_put(t, y, 0, COLS, "", A_BOLD | A_UNDERLINE);
	ui_put(t, y, 0, COLS - (int)strlen(pos) > 0 ? COLS - (int)strlen(pos) : 0, v->title,
	    A_BOLD | A_UNDERLINE);
	if (COLS > (int)strlen(pos))
		ui_put(t, y, COLS - (int)strlen(pos), (int)strlen(pos), pos, A_UNDERLINE);
	for (i = 0; i < v->height; i++)
		ui_put(t, y + 1 + i, 0, COLS, "", A_NORMAL);
	(void)view_rows(v, COLS, view_paint_row, &vp);
}

int
view_nav(struct view *v, int key)
{
	long long page = v->height > 1 ? v->height - 1 : 1,
	    last = v->rows - v->height > 0 ? v->rows - v->height : 0;

	switch (key) {
	case KEY_UP: case 'k':
		v->top--;
		break;
	case KEY_DOWN: case 'j':
		v->top++;
		break;
	case KEY_PPAGE:
		v->top -= page;
		break;
	case KEY_NPAGE:
		v->top += page;
		break;
	case KEY_HOME: case 'g':
		v->top = 0;
		break;
	case KEY_END: case 'G':
		v->top = last;
		break;
	default:
		return TR_NONE;
	}
	if (v->top > last)
		v->top = last;
	if (v->top < 0)
		v->top = 0;
	return TR_DRAW;
}
