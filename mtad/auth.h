/*
 * auth.h -- SMTP AUTH users and the failed-login limiter.
 *
 * Users live in the queue database (table users); passwords are stored as
 * libxcrypt crypt(3) strings with yescrypt ("$y$").  A check looks the
 * user up on a private read connection and compares the hash in constant
 * time; an unknown user costs the same as a wrong password.  Passwords
 * and hashes are never logged and are wiped from memory after use.
 *
 * Limiter, per client address: LIM_AUTH_FAILURES failures within
 * LIM_AUTH_WINDOW seconds put the address in a LIM_AUTH_PENALTY during
 * which AUTH is answered 421; each failure's reply is held back
 * auth_failure() seconds.  A success does not forget the failures (one
 * valid account must not reset the count of guesses at others); they
 * age out with the window.
 */
#ifndef MTAD_AUTH_H
#define MTAD_AUTH_H

#include <stddef.h>
#include <time.h>

enum auth_result { AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL };

/* Open the read connection on the queue at db_path.  0 or -1 with err. */
int auth_init(const char *db_path, char *err, size_t errsize);
void auth_shutdown(void);

/* Check a user's password.  On AUTH_OK, *any is 1 when the user may send
 * from any domain, else `domains` holds the comma-separated list. */
enum auth_result auth_check(const char *user, const char *password, char *domains,
    size_t dsize, int *any);

/* A new yescrypt hash of `password` into out: 0, or -1. */
int auth_hash(const char *password, char *out, size_t size);

/* The limiter (see above). */
int auth_blocked(const char *addr, time_t now);
/* Count a failure; returns the seconds to hold the 535 back. */
unsigned auth_failure(const char *addr, time_t now);

#endif
