/* ui_list.c -- the generic list widget (see screen.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "screen.h"

#include <curses.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "ui.h"

void
list_set(struct list *l, json_t *rows, long long offset, long long total)
{
	json_decref(l->rows);
	l->rows = json_incref(rows);
	l->offset = offset;
	l->total = total;
	if (l->cur >= total)
		l->cur = total > 0 ? total - 1 : 0;
	if (l->top > l->cur)
		l->top = l->cur;
}

json_t *
list_row(const struct list *l, long long i)
{
	if (l->rows == NULL || i < l->offset)
		return NULL;
	return json_array_get(l->rows, (size_t)(i - l->offset));
}

json_t *
list_cur(const struct list *l)
{
	return list_row(l, l->cur);
}

/* Keep the cursor in view; TR_FETCH when the first row shown is not the
 * one at `old`. */
static int
list_scroll(struct list *l, long long old)
{
	if (l->cur < 0)
		l->cur = 0;
	if (l->total > 0 && l->cur >= l->total)
		l->cur = l->total - 1;
	if (l->cur < l->top)
		l->top = l->cur;
	if (l->height > 0 && l->cur >= l->top + l->height)
		l->top = l->cur - l->height + 1;
	return TR_DRAW | (l->top != old ? TR_FETCH : 0);
}

int
list_nav(struct list *l, int key)
{
	long long page = l->height > 1 ? l->height - 1 : 1, old = l->top;

	switch (key) {
	case KEY_UP: case 'k':
		l->cur--;
		break;
	case KEY_DOWN: case 'j':
		l->cur++;
		break;
	case KEY_PPAGE:
		l->cur -= page;
		l->top = l->top > page ? l->top - page : 0;
		break;
	case KEY_NPAGE:
		if (l->top + page < l->total) {
			l->cur += page;
			l->top += page;
		} else {
			l->cur = l->total - 1;
		}
		break;
	case KEY_HOME: case 'g':
		l->cur = 0;
		break;
	case KEY_END: case 'G':
		l->cur = l->total - 1;
		break;
	default:
		return TR_NONE;
	}
	return list_scroll(l, old);
}

int
list_tagged(const struct list *l, long long key)
{
	size_t i;

	for (i = 0; i < l->ntags; i++)
		if (l->tags[i] == key)
			return 1;
	return 0;
}

int
list_tag(struct list *l, long long key)
{
	size_t i;

	for (i = 0; i < l->ntags; i++)
		if (l->tags[i] == key) {
			l->tags[i] = l->tags[--l->ntags];
			return 0;
		}
	if (l->ntags >= LIM_CONTROL_RCPTS)
		return -1;
	l->tags[l->ntags++] = key;
	return 0;
}

/* Column widths for the screen width: fixed ones as given, flex ones
 * share what is left (one blank between columns, one for the tag). */
static void
list_widths(const struct screen *s, int width, int *w)
{
	int fixed = 1, shares = 0, left;
	size_t i;

	for (i = 0; i < s->ncols; i++) {
		fixed += s->cols[i].width + 1;
		shares += s->cols[i].flex;
	}
	left = width - fixed > 0 ? width - fixed : 0;
	for (i = 0; i < s->ncols; i++) {
		w[i] = s->cols[i].width;
		if (shares > 0 && s->cols[i].flex > 0) {
			int extra = left * s->cols[i].flex / shares;

			w[i] += extra;
		}
	}
}

static void
list_line(struct tui *t, const struct screen *s, int y, const int *w,
    char cells[][LIST_CELL], int attr, int tagged)
{
	char pad[LIST_CELL + 64];
	size_t i;
	int x = 1;

	ui_put(t, y, 0, 1, tagged ? "*" : " ", attr | (tagged ? A_BOLD : 0));
	for (i = 0; i < s->ncols && x < COLS; i++) {
		const char *text = cells[i];
		int width = w[i] < COLS - x ? w[i] : COLS - x;

		if (s->cols[i].right && (int)strlen(text) < width &&
		    str_fmt(pad, sizeof pad, "%*s", width, text) == 0)
			text = pad;
		ui_put(t, y, x, width, text, attr);
		x += width;
		if (x < COLS)
			ui_put(t, y, x++, 1, "", attr);
	}
	if (x < COLS)
		ui_put(t, y, x, COLS - x, "", attr);
}

void
list_draw(struct tui *t, struct screen *s, int y, int height, int width)
{
	static char cells[LIST_COLS][LIST_CELL];
	struct list *l = &s->list;
	int w[LIST_COLS], i, color;
	size_t c;

	l->height = height - 1;
	list_widths(s, width, w);
	for (c = 0; c < s->ncols; c++)
		(void)str_copy(cells[c], LIST_CELL, s->cols[c].title);
	list_line(t, s, y, w, cells, A_BOLD | A_UNDERLINE, 0);
	for (i = 0; i < l->height; i++) {
		long long idx = l->top + i;
		json_t *row = list_row(l, idx), *key;
		int attr;

		if (row == NULL) {
			move(y + 1 + i, 0);
			clrtoeol();
			continue;
		}
		color = 0;
		for (c = 0; c < s->ncols; c++)
			cells[c][0] = '\0';
		s->cells(t, row, cells, &color);
		attr = idx == l->cur ? ui_attr(t, C_SEL) : ui_attr(t, (enum ui_color)color);
		key = s->tag_member ? json_object_get(row, s->tag_member) : NULL;
		list_line(t, s, y + 1 + i, w, cells, attr,
		    key != NULL && list_tagged(l, json_integer_value(key)));
	}
}

json_t *
list_find(json_t *rows, const char *member, const char *value)
{
	json_t *r;
	size_t i;

	json_array_foreach(rows, i, r) {
		const char *v = json_string_value(json_object_get(r, member));

		if (strcmp(v ? v : "", value) == 0)
			return r;
	}
	return NULL;
}

void
list_cell(char *cell, const char *s)
{
	(void)str_copy(cell, LIST_CELL, s ? s : "-");
}

void
list_summary(const struct screen *s, char *out, size_t size)
{
	const struct list *l = &s->list;
	struct buf b;

	buf_init(&b, size > 0 ? size - 1 : 0);
	if (s->filters && l->filter > 0)
		(void)buf_printf(&b, " %s:%s", s->filter_name, s->filters[l->filter]);
	if (s->has_domain && l->domain[0])
		(void)buf_printf(&b, " domain:%s", l->domain);
	if (s->has_search && l->search[0])
		(void)buf_printf(&b, " search:%s", l->search);
	if (s->windows && l->window > 0)
		(void)buf_printf(&b, " window:%s", s->windows[l->window]);
	if (s->sorts && (l->sort > 0 || l->desc))
		(void)buf_printf(&b, " sort:%s%s", s->sorts[l->sort], l->desc ? "(rev)" : "");
	if (l->ntags > 0)
		(void)buf_printf(&b, " tagged:%zu", l->ntags);
	(void)str_copy(out, size, b.data ? b.data : "");
	buf_free(&b);
}
