/*
 * conf.h -- mtad.conf(5): parsed, validated, reference-counted.
 *
 * File format: one directive per line, words separated by blanks, `#` starts
 * a comment.  Durations take s m h d (`30s`, `5m`, `5d`; a bare number is
 * seconds); sizes take K M G (`50M`; a bare number is bytes).  Hosts are
 * names, IPv4 literals or bracketed IPv6 literals, with `:PORT`.
 *
 * Parsing is pure (conf_parse: text in, struct conf or errors out); only
 * conf_load reads the file and conf_check_files looks at the filesystem.
 * Every error is reported as "FILE:LINE: message" and parsing goes on, so
 * one run lists all of them.
 *
 * A running daemon holds the current configuration behind conf_current();
 * sessions take a reference for their lifetime, so SIGHUP swaps in a new
 * one without disturbing them.
 */
#ifndef MTAD_CONF_H
#define MTAD_CONF_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "limits.h"

enum listen_kind {
	LISTEN_SMTP,		/* port 25: relay for trusted networks */
	LISTEN_SUBMISSION,	/* port 587: STARTTLS + AUTH */
	LISTEN_SUBMISSIONS,	/* port 465: implicit TLS + AUTH */
	LISTEN_LOCAL,		/* state_dir/submit.sock: local programs (sendmail) */
};

enum route_tls { ROUTE_TLS_NONE, ROUTE_TLS_MAY, ROUTE_TLS_REQUIRE, ROUTE_TLS_VERIFY };

struct conf_listen {
	char spec[LIM_DOMAIN + 16];	/* "127.0.0.1:2525", "[::1]:25" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum listen_kind kind;
	int line;
};

/* An IPv4 or IPv6 network; IPv4 is kept as IPv4-mapped IPv6. */
struct conf_cidr {
	unsigned char net[16];
	unsigned prefix;	/* 0..128 over the mapped form */
};

struct conf_route {
	char domain[LIM_DOMAIN + 1];	/* A-labels, lower case; "*" = any */
	char host[LIM_DOMAIN + 1];	/* name or IP literal, no brackets */
	unsigned port;
	enum route_tls tls;
	char *auth_user;		/* NULL: no AUTH */
	char *auth_secret_file;
	int line;
};

struct conf_limit {
	char domain[LIM_DOMAIN + 1];	/* A-labels, lower case; "*" = default */
	unsigned connections;		/* 0: not set */
	unsigned rate;			/* messages per rate_period; 0: not set */
	unsigned rate_period;		/* seconds: 60 or 3600 */
	unsigned messages_per_connection; /* 0: not set */
	int line;
};

/* `warmup daily=N [growth=P%] since=YYYY-MM-DD`: a new sending address
 * may send at most `daily` recipients a day to each MX provider on the day
 * `since`, growing by P percent a day after it (conf_warmup_cap). */
struct conf_warmup {
	unsigned daily;			/* 0: no warm-up */
	unsigned growth;		/* percent a day */
	long long since_day;		/* days since 1970-01-01 (UTC) */
	int line;
};

/* Timeouts (seconds), `timeout NAME DURATION`; RFC 5321 4.5.3.2 defaults. */
struct conf_timeouts {
	unsigned command, data;				/* server side */
	unsigned connect, greeting, mail, rcpt;		/* client side */
	unsigned data_init, data_block, data_end;
};

struct conf_file {
	char *path;
	int line;
};

struct conf {
	int refs;
	char *path;
	char hostname[LIM_DOMAIN + 1];
	char *state_dir;
	struct conf_listen *listens;
	size_t nlistens;
	struct conf_cidr *trusted;
	size_t ntrusted;
	struct conf_file tls_cert, tls_key, tls_ca;
	char *tls_priorities;		/* GnuTLS priority string, or NULL */
	int tls_priorities_line;
	unsigned long long max_message_size;
	unsigned max_recipients;
	unsigned max_errors;
	unsigned max_sessions;
	struct conf_route *routes;
	size_t nroutes;
	unsigned mx_port;
	char resolver[64];		/* "" = system resolv.conf; "IP@PORT" */
	unsigned *retry;		/* seconds; the last one repeats */
	size_t nretry;
	unsigned queue_lifetime;
	unsigned delay_warning;		/* seconds; 0: no delay DSNs */
	unsigned workers;		/* delivery threads */
	int delivery;			/* 0: accept and queue only */
	char **local_trusted;		/* users who may choose their envelope sender */
	size_t nlocal_trusted;
	unsigned local_rate;		/* messages per local_rate_period per uid */
	unsigned local_rate_period;
	struct conf_limit *limits;
	size_t nlimits;
	struct conf_warmup warmup;
	struct conf_timeouts timeout;
};

/* Errors collected while parsing: "FILE:LINE: message" each. */
struct conf_errors {
	char *msgs[LIM_CONF_ERRORS];
	size_t n;
	size_t dropped;		/* past LIM_CONF_ERRORS */
};

#define CONF_DEFAULT_PATH "/etc/mtad/mtad.conf"
#define CONF_DEFAULT_STATE_DIR "/var/lib/mtad"

/*
 * Parse `text` (len bytes) read from `path`.  `hostname` is the default for
 * the `hostname` directive.  Returns a conf with refs = 1, or NULL with
 * errs filled in (never both a conf and errors).
 */
struct conf *conf_parse(const char *path, const char *text, size_t len,
    const char *hostname, struct conf_errors *errs);
/* Read and parse `path`, then check the files it names exist.  Uses the
 * system host name as default.  NULL with errs on any error. */
struct conf *conf_load(const char *path, struct conf_errors *errs);
/* The same without the file checks: for mtactl and sendmail, which need
 * state_dir and hostname and may run as users who cannot read the keys. */
struct conf *conf_load_client(const char *path, struct conf_errors *errs);
/* Check that the files named (tls_cert, tls_key, tls_ca, auth secrets) are
 * readable; errors are appended to errs.  Returns the number added. */
size_t conf_check_files(const struct conf *c, struct conf_errors *errs);

void conf_errors_free(struct conf_errors *errs);

void conf_ref(struct conf *c);
void conf_unref(struct conf *c);

/* The daemon's current configuration (a new reference), and its swap. */
struct conf *conf_current(void);
void conf_set_current(struct conf *c);	/* takes over the caller's reference */

const char *conf_listen_kind_name(enum listen_kind k);

/* The `route` / `limit` for a domain (A-labels): its own line, else the
 * `*` line, else NULL. */
const struct conf_route *conf_route_for(const struct conf *c, const char *domain);
const struct conf_limit *conf_limit_for(const struct conf *c, const char *domain);
/* The `limit` line naming exactly `name` (no `*` fallback), or NULL. */
const struct conf_limit *conf_limit_named(const struct conf *c, const char *name);
/* The warm-up cap (recipients a day per MX provider) on the UTC day of
 * `now`: daily x (1 + growth/100)^days since `since` (the first cap
 * before it), 0 when there is no warm-up or the cap has grown past
 * LIM_WARMUP_END (the warm-up is over). */
unsigned long long conf_warmup_cap(const struct conf *c, time_t now);

#endif
