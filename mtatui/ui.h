/*
 * ui.h -- drawing for mtatui over ncursesw: colors (or, in monochrome
 * and with NO_COLOR, bold and reverse), the title, tab, message and
 * function-key lines, the banner, and the modal confirm and prompt.
 */
#ifndef MTATUI_UI_H
#define MTATUI_UI_H

#include "tui.h"

enum ui_color {
	C_NONE, C_TITLE, C_SEL, C_TAB, C_DEFERRED, C_HELD, C_SENDING, C_BAD, C_OK,
	C_BANNER, C_DIM, C_N
};

/* Start curses (the caller has set the locale); 0 or -1. */
int ui_init(struct tui *t);
/* End curses; safe to call twice, and from a fatal signal's handler. */
void ui_end(void);
int ui_attr(const struct tui *t, enum ui_color c);
/* Put s at (y, x) in exactly `width` columns (cut, or padded). */
void ui_put(const struct tui *t, int y, int x, int width, const char *s, int attr);
/* The frame: title (line 0), tabs (1), message (LINES-2), keys (LINES-1). */
void ui_frame(struct tui *t);
/* The "mtad is not running" box over the middle of the screen. */
void ui_banner(struct tui *t);
/* Ask a yes/no question in a box: 1 for y, 0 for n or Esc. */
int ui_confirm(struct tui *t, const char *question);
/* Read a line on the message line after `label`, starting from out:
 * 1 on Enter (out holds it), 0 on Esc (out unchanged). */
int ui_prompt(struct tui *t, const char *label, char *out, size_t size);

#endif
