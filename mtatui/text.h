/*
 * text.h -- pure text helpers of mtatui (no curses): fitting UTF-8 text
 * to terminal columns, and sparklines.  Unit-tested.
 */
#ifndef MTATUI_TEXT_H
#define MTATUI_TEXT_H

#include <stddef.h>

/*
 * Copy s into out (size bytes) so that it takes at most `width` terminal
 * columns (wcwidth; the locale's LC_CTYPE must be UTF-8 for non-ASCII):
 * a tab becomes a blank, other control characters and invalid bytes
 * become "?", and a cut is marked
 * with an ellipsis ("..." when !utf8).  Returns the columns used.  NULL
 * shows as "-".
 */
int text_fit(const char *s, int width, int utf8, char *out, size_t size);

/* How many bytes of s fit in `width` columns, whole characters only (at
 * least one character when s is not empty, so that a loop advances). */
size_t text_cut(const char *s, int width);

/* The columns s takes (as text_fit would show it whole). */
int text_width(const char *s);

/*
 * A sparkline of the last `width` of n counts, scaled to their maximum:
 * the eight block characters U+2581..U+2588 when utf8, else " .:-=+*#";
 * a zero count is a blank, any other at least the lowest mark.
 */
void text_spark(const long long *counts, size_t n, int width, int utf8, char *out,
    size_t size);

#endif
