/*
 * listen.h -- the listening sockets, one accept thread each.
 *
 * listen_apply() makes the running set match a configuration: listeners
 * that stay keep their socket (so no connection is refused during a
 * reload), new ones are bound first -- if any cannot be bound nothing
 * changes and -1 is returned -- and removed ones are stopped and closed.
 * Called from the main thread only.
 */
#ifndef MTAD_LISTEN_H
#define MTAD_LISTEN_H

#include <stddef.h>

#include "conf.h"

int listen_apply(const struct conf *c, char *err, size_t errsize);
/* The local submission socket (mode 0666, for sendmail): bound once at
 * start, kept across reloads, removed by listen_stop_all. */
int listen_local(const char *path, char *err, size_t errsize);
/* Stop accepting everywhere (SIGTERM). */
void listen_stop_all(void);
/* How many of the configured ones are accepting now. */
int listen_count(void);

#endif
