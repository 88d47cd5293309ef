/*
 * keys.h -- mtatui's key bindings: one table (keys.c) that the loop
 * dispatches through and the help screen is printed from (STYLE 19).
 */
#ifndef MTATUI_KEYS_H
#define MTATUI_KEYS_H

#include "tui.h"

/* Handle a key in the current context (screen, or view): TR_ flags. */
int keys_dispatch(struct tui *t, int key);
/* Open the help view (every binding, by context). */
int keys_help(struct tui *t, int key);

#endif
