/*
 * view.h -- a scrollable text view over the current screen: a message's
 * or a bounce's detail, the help screen.  Lines are kept as given (UTF-8)
 * and wrapped to the width when drawn.
 */
#ifndef MTATUI_VIEW_H
#define MTATUI_VIEW_H

#include <stddef.h>

#include "limits.h"
#include "tui.h"

enum view_kind { VIEW_TEXT, VIEW_MESSAGE };

struct view {
	enum view_kind kind;
	char title[256];
	char id[LIM_QUEUE_ID + 1];	/* VIEW_MESSAGE: the queue ID */
	char **lines;
	size_t n, cap;
	long long top, rows;		/* first row shown; rows, wrapped */
	int height;
};

struct view *view_new(enum view_kind kind, const char *title);
void view_free(struct view *v);
/* Add one line (printf-like; a line longer than 4 KiB is cut). */
void view_add(struct view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add a text of CRLF or LF lines, each after `indent`. */
void view_text(struct view *v, const char *indent, const char *text);
void view_draw(struct tui *t, struct view *v, int y, int height);
/* Scroll keys: TR_DRAW, or TR_NONE when the key is not one. */
int view_nav(struct view *v, int key);

#endif
