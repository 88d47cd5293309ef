/*
 * mtactl.c -- the command line for mtad's admins and scripts, and the
 * `sendmail` of local programs.
 *
 *   mtactl [-f FILE] [--json] COMMAND [ARGS] [OPTIONS]
 *   sendmail [-t] [-f SENDER] [-F NAME] [-i|-oi] [RECIPIENT...]
 *
 * The grammar is the table mtactl_cmds[]: words, positional arguments,
 * options, help, one function each; `mtactl help` and the bash completion
 * (`mtactl completion`) are printed from it.  Commands talk to the daemon
 * over state_dir/control.sock (control.h); `send` over state_dir/submit.sock.
 * Data goes to stdout, diagnostics to stderr.  Exit codes: 0 ok, 1 error,
 * 2 usage, 3 the daemon is not reachable (sendmail: sysexits instead).
 */
#include <errno.h>
#include <getopt.h>
#include <idn2.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "buf.h"
#include "conf.h"
#include "ctlclient.h"
#include "domain.h"
#include "limits.h"
#include "log.h"
#include "sendmail.h"
#include "str.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2, EXIT_DOWN = 3 };

#define MTACTL_MAX_OPTS 8
#define MTACTL_TIMEOUT_MS (60 * 1000)

struct mtactl {
	const char *conf_path;
	int json;
	struct conf *conf;
	struct ctlclient cc;		/* control socket, fd -1 until used */
	const struct mtactl_cmd *cmd;	/* the command run */
	/* the command line, parsed against the command's entry */
	char *pos[4];
	int npos;
	const char *optname[MTACTL_MAX_OPTS], *optval[MTACTL_MAX_OPTS];
	int nopts;
};

struct mtactl_cmd {
	const char *words;		/* "queue", "user add" */
	const char *args;		/* positional, for help: "ID" */
	const char *opts;		/* "--state S --domain D --all" (S: takes a value) */
	const char *help;
	int min_pos, max_pos;
	int (*fn)(struct mtactl *m);
	const char *proto;		/* the request, for fns several commands share */
	const char *done;		/* queue changes: "held" in "3 recipients held" */
};

static int mtactl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mtactl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
mtactl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mtactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_ERR;
}

static int
mtactl_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("mtactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (mtactl help)\n", stderr);
	return EXIT_USAGE;
}

static const char *
mtactl_opt(const struct mtactl *m, const char *name)
{
	int i;

	for (i = 0; i < m->nopts; i++)
		if (strcmp(m->optname[i], name) == 0)
			return m->optval[i];
	return NULL;
}

/* "30s", "5m", "3h", "2d" (a bare number: seconds) -> seconds; -1 if bad. */
static long long
mtactl_duration(const char *s)
{
	unsigned long long v;
	char num[32];
	size_t n = strlen(s);
	long long mult = 1;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	if (strchr("smhd", num[n - 1])) {
		mult = num[n - 1] == 'm' ? 60 : num[n - 1] == 'h' ? 3600 : num[n - 1] == 'd' ?
		    86400 : 1;
		num[n - 1] = '\0';
	}
	if (str_to_u64(num, 100ULL * 365 * 86400, &v) < 0)
		return -1;
	return (long long)v * mult;
}

/* ---- talking to the daemon ---- */

static int
mtactl_conf(struct mtactl *m)
{
	struct conf_errors errs = { { 0 }, 0, 0 };
	size_t i;

	if (m->conf != NULL)
		return 0;
	if ((m->conf = conf_load_client(m->conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		conf_errors_free(&errs);
		return -1;
	}
	return 0;
}

/* Connect to control.sock: 0, or an exit code (3: not running). */
static int
mtactl_connect(struct mtactl *m)
{
	if (m->cc.fd >= 0)
		return 0;
	if (mtactl_conf(m) < 0)
		return EXIT_ERR;
	if (ctlclient_connect(&m->cc, m->conf->state_dir) == 0)
		return 0;
	if (errno == ENOENT || errno == ECONNREFUSED) {
		fprintf(stderr, "mtactl: mtad is not running (no answer on %s)\n", m->cc.path);
		return EXIT_DOWN;
	}
	if (errno == ENAMETOOLONG)
		return mtactl_error("state_dir path too long");
	return mtactl_error("%s: %s", m->cc.path, strerror(errno));
}

/* Send a request, take the reply's "result" (a new reference), or print
 * the daemon's error and set *rc.  The request is consumed. */
static json_t *
mtactl_call(struct mtactl *m, json_t *req, int *rc)
{
	json_t *reply, *result;
	const char *code;
	int werr = 0;

	if ((*rc = mtactl_connect(m)) != 0) {
		json_decref(req);
		return NULL;
	}
	/* A write may fail because mtad refused us and hung up: its one-line
	 * reason is still there to read. */
	if (ctlclient_send(&m->cc, req) < 0)
		werr = errno ? errno : ENOMEM;
	if ((reply = ctlclient_read(&m->cc, MTACTL_TIMEOUT_MS)) == NULL) {
		*rc = werr ? mtactl_error("cannot talk to mtad: %s", strerror(werr)) :
		    mtactl_error("no answer from mtad");
		return NULL;
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		result = json_incref(json_object_get(reply, "result"));
		json_decref(reply);
		return result;
	}
	code = json_string_value(json_object_get(reply, "code"));
	fprintf(stderr, "mtactl: %s\n", json_string_value(json_object_get(reply, "error")));
	*rc = code && strcmp(code, "usage") == 0 ? EXIT_USAGE : EXIT_ERR;
	json_decref(reply);
	return NULL;
}

/* ---- human output ---- */

/* Cut s to `width` display columns (UTF-8 aware), "…" marking a cut;
 * NULL shows as "-". */
static void
mtactl_fit(const char *s, size_t width, char *out, size_t size)
{
	size_t cols = 0, i = 0, o = 0;

	if (s == NULL)
		s = "-";
	while (s[i] && o + 5 < size) {
		size_t n = 1;

		while (((unsigned char)s[i + n] & 0xc0) == 0x80)
			n++;
		if (cols + 1 > width || (cols + 1 == width && s[i + n])) {
			memcpy(out + o, "\xe2\x80\xa6", 3);
			o += 3;
			break;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
		cols++;
	}
	out[o] = '\0';
}

/* Print a string padded to `width` columns (UTF-8 aware). */
static void
mtactl_col(const char *s, size_t width)
{
	char cut[256];
	size_t cols = 0, i;

	mtactl_fit(s, width, cut, sizeof cut);
	for (i = 0; cut[i]; i++)
		cols += ((unsigned char)cut[i] & 0xc0) != 0x80;
	fputs(cut, stdout);
	for (; cols < width + 1; cols++)
		putchar(' ');
}

/* The last column: cut, not padded (no trailing blanks). */
static void
mtactl_col_end(const char *s, size_t width)
{
	char cut[256];

	mtactl_fit(s, width, cut, sizeof cut);
	fputs(cut, stdout);
}

/* --json: the result as the daemon gave it (then freed). */
static int
mtactl_json_out(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(v);
	return EXIT_OK;
}

/* Members of a reply object: 0 or "" when absent. */
static long long
mtactl_int(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
mtactl_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* ---- commands ---- */

/* `mtactl help`: the width of the command column. */
#define MTACTL_HELP_LEFT 32

/* The selection options shared by queue commands, into a request. */
static int
mtactl_select(struct mtactl *m, json_t *req)
{
	const char *v;
	long long n;

	if (m->npos > 0)
		json_object_set_new(req, "id", json_string(m->pos[0]));
	if ((v = mtactl_opt(m, "domain")) != NULL)
		json_object_set_new(req, "domain", json_string(v));
	if ((v = mtactl_opt(m, "sender")) != NULL)
		json_object_set_new(req, "sender", json_string(strcmp(v, "<>") ? v : ""));
	if ((v = mtactl_opt(m, "state")) != NULL)
		json_object_set_new(req, "state", json_string(v));
	if ((v = mtactl_opt(m, "all")) != NULL)
		json_object_set_new(req, "all", json_true());
	if ((v = mtactl_opt(m, "limit")) != NULL) {
		if ((n = mtactl_duration(v)) <= 0 || strspn(v, "0123456789") != strlen(v))
			return mtactl_usage("--limit: a number");
		json_object_set_new(req, "limit", json_integer(n));
	}
	if ((v = mtactl_opt(m, "older-than")) != NULL || (v = mtactl_opt(m, "since")) != NULL) {
		if ((n = mtactl_duration(v)) < 0)
			return mtactl_usage("%s: a duration like 30m, 6h, 2d", v);
		json_object_set_new(req, mtactl_opt(m, "since") ? "since" : "older_than",
		    json_integer(n));
	}
	return EXIT_OK;
}

/* "warm-up: ..." when `warmup` is on: today's cap and the providers
 * (or domains) that got the most today. */
static void
mtactl_status_warmup(json_t *w)
{
	json_t *v;
	size_t i;

	if (w == NULL || json_is_null(w))
		return;
	printf("warm-up: day %lld, at most %lld recipients a day per MX provider",
	    (long long)json_integer_value(json_object_get(w, "day")),
	    (long long)json_integer_value(json_object_get(w, "cap")));
	json_array_foreach(json_object_get(w, "today"), i, v)
		printf("%s %s %lld", i ? "," : "; today:",
		    json_string_value(json_object_get(v, "dest")),
		    (long long)json_integer_value(json_object_get(v, "sent")));
	putchar('\n');
}

static int
mtactl_status(struct mtactl *m)
{
	json_t *r, *q, *l;
	int rc;
	size_t i;
	char up[32];

	if ((r = mtactl_call(m, json_pack("{s:s}", "cmd", "status"), &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	ctlclient_dur(json_integer_value(json_object_get(r, "uptime")), up, sizeof up);
	printf("mtad %s on %s, up %s (pid %lld), delivery %s\n",
	    json_string_value(json_object_get(r, "version")),
	    json_string_value(json_object_get(r, "hostname")), up,
	    (long long)json_integer_value(json_object_get(r, "pid")),
	    json_is_true(json_object_get(r, "delivery")) ? "on" : "off");
	json_array_foreach(json_object_get(r, "listeners"), i, l)
		printf("%s %s %s", i ? "," : "listening:",
		    json_string_value(json_object_get(l, "address")),
		    json_string_value(json_object_get(l, "kind")));
	q = json_object_get(r, "queue");
	printf("\nqueue: %lld queued, %lld deferred, %lld held, %lld sending\n",
	    (long long)json_integer_value(json_object_get(q, "queued")),
	    (long long)json_integer_value(json_object_get(q, "deferred")),
	    (long long)json_integer_value(json_object_get(q, "held")),
	    (long long)json_integer_value(json_object_get(q, "sending")));
	printf("in flight: %lld recipients on %lld connections, %lld workers\n",
	    (long long)json_integer_value(json_object_get(r, "in_flight")),
	    (long long)json_integer_value(json_object_get(r, "connections")),
	    (long long)json_integer_value(json_object_get(r, "workers")));
	mtactl_status_warmup(json_object_get(r, "warmup"));
	json_array_foreach(json_object_get(r, "paused"), i, l) {	/* throttled */
		char name[LIM_DOMAIN * 4 + 1], left[32];

		ctlclient_addr(json_string_value(json_object_get(l, "domain")), name, sizeof name);
		ctlclient_dur(ctlclient_when(json_object_get(l, "until")) - time(NULL), left,
		    sizeof left);
		printf("paused: %s%s for %s more (mtactl retry --domain lifts it): %s\n",
		    json_is_true(json_object_get(l, "provider")) ? "MX provider " : "", name, left,
		    json_string_value(json_object_get(l, "reply")) ?
		    json_string_value(json_object_get(l, "reply")) : "");
	}
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_queue(struct mtactl *m)
{
	json_t *req = json_pack("{s:s}", "cmd", "queue.list"), *r, *row;
	char age[32], next[32], who[LIM_MAILBOX * 2];
	time_t now = time(NULL);
	size_t i;
	int rc;

	if ((rc = mtactl_select(m, req)) != EXIT_OK) {
		json_decref(req);
		return rc;
	}
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	/* 80 columns: 12 ID, 6 AGE, 8 STATE, 3 TRY, 6 NEXT, 19 and 20 */
	printf("%-13s%-7s%-9s%-4s%-7s%-20s%s\n", "ID", "AGE", "STATE", "TRY", "NEXT",
	    "SENDER", "RECIPIENT");
	json_array_foreach(r, i, row) {
		time_t t = ctlclient_when(json_object_get(row, "next_attempt"));
		time_t paused = ctlclient_when(json_object_get(row, "paused_until"));

		if (paused > t)		/* throttled or warm-up capped: waits longer */
			t = paused;
		ctlclient_dur(now - ctlclient_when(json_object_get(row, "received_at")), age, sizeof age);
		ctlclient_dur(t - now, next, sizeof next);
		printf("%-13s%-7s%-9s%3lld ", json_string_value(json_object_get(row, "id")), age,
		    paused > 0 ? "paused" : json_string_value(json_object_get(row, "state")),
		    (long long)json_integer_value(json_object_get(row, "attempts")));
		mtactl_col(strcmp(mtactl_str(row, "state"), "held") == 0 ? "-" : t > now ? next :
		    "now", 6);
		ctlclient_addr(json_string_value(json_object_get(row, "sender")), who, sizeof who);
		mtactl_col(who, 19);
		ctlclient_addr(json_string_value(json_object_get(row, "recipient")), who, sizeof who);
		mtactl_col_end(who, 20);
		putchar('\n');
	}
	printf("%zu recipients%s\n", json_array_size(r), json_array_size(r) ==
	    (size_t)(mtactl_opt(m, "limit") ? atoi(mtactl_opt(m, "limit")) : 100) ?
	    " (more with --limit)" : "");
	json_decref(r);
	return EXIT_OK;
}

static void
mtactl_show_rcpt(json_t *row, time_t now)
{
	char who[LIM_MAILBOX * 2], next[32];
	time_t t = ctlclient_when(json_object_get(row, "next_attempt"));
	const char *reply = json_string_value(json_object_get(row, "last_reply"));

	ctlclient_addr(json_string_value(json_object_get(row, "recipient")), who, sizeof who);
	ctlclient_dur(t - now, next, sizeof next);
	printf("  %s  %s, %lld attempts, next %s\n", who,
	    json_string_value(json_object_get(row, "state")),
	    (long long)json_integer_value(json_object_get(row, "attempts")),
	    t > now ? next : "now");
	if (reply != NULL)
		printf("    last: %s\n", reply);
}

static int
mtactl_show(struct mtactl *m)
{
	json_t *r, *row;
	time_t now = time(NULL);
	size_t i;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s, s:s}", "cmd", "queue.show", "id", m->pos[0]),
	    &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	printf("queue ID:  %s%s\n", m->pos[0], json_is_true(json_object_get(r, "queued")) ? "" :
	    " (no longer queued: history only)");
	if (json_object_get(r, "sender") != NULL)
		printf("sender:    <%s>\nreceived:  %s\nsize:      %lld\n",
		    json_string_value(json_object_get(r, "sender")),
		    json_string_value(json_object_get(r, "received_at")),
		    (long long)json_integer_value(json_object_get(r, "size")));
	if (json_string_value(json_object_get(r, "client")) != NULL)
		printf("client:    %s (helo %s)%s%s\n",
		    json_string_value(json_object_get(r, "client")),
		    json_string_value(json_object_get(r, "helo")),
		    json_string_value(json_object_get(r, "user")) ? ", user " : "",
		    json_string_value(json_object_get(r, "user")) ?
		    json_string_value(json_object_get(r, "user")) : "");
	printf("recipients:\n");
	json_array_foreach(json_object_get(r, "recipients"), i, row)
		mtactl_show_rcpt(row, now);
	printf("history:\n");
	json_array_foreach(json_object_get(r, "events"), i, row)
		printf("  %s %-9s %s %s\n", json_string_value(json_object_get(row, "at")),
		    json_string_value(json_object_get(row, "kind")),
		    json_string_value(json_object_get(row, "recipient")) ?
		    json_string_value(json_object_get(row, "recipient")) : "",
		    json_string_value(json_object_get(row, "reply")) ?
		    json_string_value(json_object_get(row, "reply")) : "");
	if (json_object_get(r, "headers") != NULL)
		printf("headers:\n%s", json_string_value(json_object_get(r, "headers")));
	json_decref(r);
	return EXIT_OK;
}

/* retry, hold, release, purge: ID, or options saying which. */
static int
mtactl_change(struct mtactl *m)
{
	const char *cmd = m->cmd->proto, *done = m->cmd->done;
	json_t *req = json_pack("{s:s}", "cmd", cmd), *r;
	int rc;

	if ((rc = mtactl_select(m, req)) != EXIT_OK) {
		json_decref(req);
		return rc;
	}
	if (json_object_size(req) == 1) {
		json_decref(req);
		return mtactl_usage("say which: an ID or an option");
	}
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	printf("%lld recipients %s\n", (long long)json_integer_value(json_object_get(r, "count")),
	    done);
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_bounces(struct mtactl *m)
{
	json_t *req = json_pack("{s:s}", "cmd", "bounces"), *r, *b;
	char who[LIM_MAILBOX * 2], when[32];
	size_t i;
	int rc;

	if ((rc = mtactl_select(m, req)) != EXIT_OK) {
		json_decref(req);
		return rc;
	}
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	printf("%-12s%-27s%-8s%-7s%s\n", "WHEN (UTC)", "RECIPIENT", "CLASS", "CODE", "REPLY");
	json_array_foreach(r, i, b) {
		const char *at = json_string_value(json_object_get(b, "at"));

		(void)str_fmt(when, sizeof when, "%.5s %.5s", at ? at + 5 : "", at ? at + 11 : "");
		mtactl_col(when, 11);
		ctlclient_addr(json_string_value(json_object_get(b, "recipient")), who, sizeof who);
		mtactl_col(who, 26);
		mtactl_col(json_string_value(json_object_get(b, "class")), 7);
		mtactl_col(json_string_value(json_object_get(b, "enhanced")), 6);
		mtactl_col_end(json_string_value(json_object_get(b, "reply")), 25);
		putchar('\n');
	}
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_stats(struct mtactl *m)
{
	json_t *req = json_pack("{s:s}", "cmd", "stats"), *r, *d;
	const char *name;
	int rc;

	if ((rc = mtactl_select(m, req)) != EXIT_OK) {
		json_decref(req);
		return rc;
	}
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	printf("since %s: received %lld, delivered %lld, deferred %lld, bounced %lld; "
	    "queued now %lld\n", json_is_string(json_object_get(r, "since")) ?
	    json_string_value(json_object_get(r, "since")) : "the start", mtactl_int(r, "received"),
	    mtactl_int(r, "delivered"), mtactl_int(r, "deferred"), mtactl_int(r, "bounced"),
	    mtactl_int(r, "queued"));
	printf("%-36s%11s%11s%11s%11s\n", "DOMAIN", "DELIVERED", "DEFERRED", "BOUNCED", "QUEUED");
	json_object_foreach(json_object_get(r, "domains"), name, d) {
		char u[LIM_DOMAIN * 2];

		ctlclient_addr(name, u, sizeof u);
		mtactl_col(u, 35);
		printf("%11lld%11lld%11lld%11lld\n", mtactl_int(d, "delivered"),
		    mtactl_int(d, "deferred"), mtactl_int(d, "bounced"), mtactl_int(d, "queued"));
	}
	json_decref(r);
	return EXIT_OK;
}

/* ---- users (the password from a tty, asked twice, or one line of stdin;
 * never argv; hashed here, the daemon stores the hash) ---- */

static int
mtactl_read_line(FILE *in, char *out, size_t size)
{
	size_t n;

	if (fgets(out, (int)size, in) == NULL)
		return -1;
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == size - 1)
		return -1;	/* longer than the limit */
	out[n] = '\0';
	return 0;
}

static int
mtactl_ask(const char *prompt, char *out, size_t size)
{
	struct termios old, quiet;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	rc = mtactl_read_line(stdin, out, size);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

/* The password, hashed (yescrypt) into hash: 0, or an exit code. */
static int
mtactl_password(char *hash, size_t size)
{
	char pass[LIM_AUTH_PASSWORD + 2], again[LIM_AUTH_PASSWORD + 2];
	int rc = EXIT_OK;

	if (!isatty(STDIN_FILENO)) {
		if (mtactl_read_line(stdin, pass, sizeof pass) < 0)
			rc = mtactl_error("no password on standard input (one line, at most "
			    "%d octets)", LIM_AUTH_PASSWORD);
	} else if (mtactl_ask("Password: ", pass, sizeof pass) < 0 ||
	    mtactl_ask("Password again: ", again, sizeof again) < 0) {
		rc = mtactl_error("cannot read the password");
	} else if (strcmp(pass, again) != 0) {
		rc = mtactl_error("the passwords differ");
	}
	if (rc == EXIT_OK && pass[0] == '\0')
		rc = mtactl_error("empty password");
	if (rc == EXIT_OK && auth_hash(pass, hash, size) < 0)
		rc = mtactl_error("cannot hash the password (libxcrypt)");
	explicit_bzero(pass, sizeof pass);
	explicit_bzero(again, sizeof again);
	return rc;
}

/* Is there a user of that name?  1 yes, 0 no, -1 (exit code in *rc). */
static int
mtactl_user_exists(struct mtactl *m, const char *name, int *rc)
{
	json_t *r = mtactl_call(m, json_pack("{s:s}", "cmd", "user.list"), rc), *u;
	size_t i;
	int found = 0;

	if (r == NULL)
		return -1;
	json_array_foreach(r, i, u)
		found |= strcmp(json_string_value(json_object_get(u, "name")), name) == 0;
	json_decref(r);
	return found;
}

static int
mtactl_user_add(struct mtactl *m)
{
	char hash[LIM_AUTH_HASH + 1];
	const char *d = mtactl_opt(m, "domains");
	json_t *req, *list = json_null(), *r;
	int rc;

	if (d != NULL && *d == '\0')
		return mtactl_usage("--domains: give at least one domain (leave it out: any)");
	if (mtactl_user_exists(m, m->pos[0], &rc) != 0)
		return rc == 0 ? mtactl_error("user %s exists (mtactl user passwd %s)",
		    m->pos[0], m->pos[0]) : rc;
	if (d != NULL) {
		list = json_array();
		while (*d) {
			size_t n = strcspn(d, ",");

			json_array_append_new(list, json_stringn(d, n));
			d += n + (d[n] == ',');
		}
	}
	if ((rc = mtactl_password(hash, sizeof hash)) != EXIT_OK) {
		json_decref(list);
		return rc;
	}
	req = json_pack("{s:s, s:s, s:s, s:o}", "cmd", "user.add", "name", m->pos[0], "hash",
	    hash, "domains", list);
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_user_passwd(struct mtactl *m)
{
	char hash[LIM_AUTH_HASH + 1];
	json_t *r;
	int rc, exists = mtactl_user_exists(m, m->pos[0], &rc);

	if (exists <= 0)
		return exists == 0 ? mtactl_error("no user %s", m->pos[0]) : rc;
	if ((rc = mtactl_password(hash, sizeof hash)) != EXIT_OK)
		return rc;
	if ((r = mtactl_call(m, json_pack("{s:s, s:s, s:s}", "cmd", "user.passwd", "name",
	    m->pos[0], "hash", hash), &rc)) == NULL)
		return rc;
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_user_remove(struct mtactl *m)
{
	json_t *r;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s, s:s}", "cmd", "user.remove", "name",
	    m->pos[0]), &rc)) == NULL)
		return rc;
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_user_list(struct mtactl *m)
{
	json_t *r, *u, *d, *dom;
	size_t i, k;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s}", "cmd", "user.list"), &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	printf("%-24s %-20s %s\n", "USER", "CREATED", "SENDER DOMAINS");
	json_array_foreach(r, i, u) {
		printf("%-24s %-20s ", json_string_value(json_object_get(u, "name")),
		    json_string_value(json_object_get(u, "created_at")));
		if (!json_is_array(d = json_object_get(u, "domains")))
			fputs("(any)", stdout);
		json_array_foreach(d, k, dom) {
			char name[LIM_DOMAIN * 2];

			ctlclient_addr(json_string_value(dom), name, sizeof name);
			printf("%s%s", k ? "," : "", name);
		}
		putchar('\n');
	}
	json_decref(r);
	return EXIT_OK;
}

/* ---- sender domains ---- */

/* One domain's keys: "  SELECTOR  ALGO BITS  signs|waiting  CREATED". */
static void
mtactl_domain_keys(json_t *d)
{
	json_t *k;
	size_t i;

	json_array_foreach(json_object_get(d, "keys"), i, k)
		printf("  %-28s %-15s %4lld  %-8s %s\n",
		    json_string_value(json_object_get(k, "selector")),
		    json_string_value(json_object_get(k, "algorithm")),
		    (long long)json_integer_value(json_object_get(k, "bits")),
		    json_string_value(json_object_get(k, "state")),
		    json_string_value(json_object_get(k, "created_at")));
}

static int
mtactl_domain_print(struct mtactl *m, json_t *r, int list)
{
	char name[LIM_DOMAIN * 4 + 1];
	json_t *d;
	size_t i;

	if (m->json)
		return mtactl_json_out(r);
	if (!list) {
		json_t *one = json_array();

		json_array_append(one, r);
		json_decref(r);
		r = one;
	}
	json_array_foreach(r, i, d) {
		ctlclient_addr(json_string_value(json_object_get(d, "name")), name, sizeof name);
		printf("%s%s\n", name, json_is_true(json_object_get(d, "subdomains")) ?
		    " (and its subdomains)" : "");
		mtactl_domain_keys(d);
	}
	if (list && json_array_size(r) == 0)
		printf("no sender domains (mtactl domain add NAME)\n");
	json_decref(r);
	return EXIT_OK;
}

/* domain add|key|remove|activate|list: the request, and what to print. */
static int
mtactl_domain_cmd(struct mtactl *m)
{
	const char *cmd = m->cmd->proto;
	json_t *req = json_pack("{s:s}", "cmd", cmd), *r;
	const char *sel = mtactl_opt(m, "selector"), *bits = mtactl_opt(m, "rsa-bits");
	int rc;

	if (m->npos > 0)
		json_object_set_new(req, "domain", json_string(m->pos[0]));
	if (m->npos > 1)
		sel = m->pos[1];
	if (sel != NULL)
		json_object_set_new(req, "selector", json_string(sel));
	if (bits != NULL)
		json_object_set_new(req, "rsa_bits", json_integer(atoi(bits)));
	if (mtactl_opt(m, "no-ed25519") != NULL)
		json_object_set_new(req, "ed25519", json_false());
	if (mtactl_opt(m, "subdomains") != NULL)
		json_object_set_new(req, "subdomains", json_true());
	if ((r = mtactl_call(m, req, &rc)) == NULL)
		return rc;
	if (strcmp(cmd, "domain.remove") == 0) {
		if (m->json)
			return mtactl_json_out(r);
		printf("removed %s and its keys (unpublish its DKIM records)\n", m->pos[0]);
		json_decref(r);
		return EXIT_OK;
	}
	return mtactl_domain_print(m, r, strcmp(cmd, "domain.list") == 0);
}

/* domain subdomains NAME on|off */
static int
mtactl_domain_subdomains(struct mtactl *m)
{
	json_t *r;
	int rc, on = strcmp(m->pos[1], "on") == 0;

	if (!on && strcmp(m->pos[1], "off") != 0)
		return mtactl_usage("domain subdomains: on or off, not \"%s\"", m->pos[1]);
	if ((r = mtactl_call(m, json_pack("{s:s, s:s, s:b}", "cmd", "domain.subdomains",
	    "domain", m->pos[0], "subdomains", on), &rc)) == NULL)
		return rc;
	return mtactl_domain_print(m, r, 0);
}

/* domain check: ITEM VERDICT WHY; exit 1 unless every item is ok. */
static int
mtactl_domain_check(struct mtactl *m)
{
	json_t *r, *it;
	size_t i;
	int rc, ok;

	if ((r = mtactl_call(m, json_pack("{s:s, s:s}", "cmd", "domain.check", "domain",
	    m->pos[0]), &rc)) == NULL)
		return rc;
	ok = json_is_true(json_object_get(r, "ok"));
	if (m->json) {
		(void)mtactl_json_out(r);
		return ok ? EXIT_OK : EXIT_ERR;
	}
	printf("%-32s %-8s %s\n", "ITEM", "VERDICT", "WHY");
	json_array_foreach(json_object_get(r, "items"), i, it)
		printf("%-32s %-8s %s\n", json_string_value(json_object_get(it, "item")),
		    json_string_value(json_object_get(it, "verdict")),
		    json_string_value(json_object_get(it, "why")));
	json_decref(r);
	return ok ? EXIT_OK : EXIT_ERR;
}

/* domain dns: zone-file lines, TXT values in strings of <= 255 bytes. */
static int
mtactl_domain_dns(struct mtactl *m)
{
	json_t *r, *rec;
	struct buf txt;
	size_t i;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s, s:s}", "cmd", "domain.dns", "domain",
	    m->pos[0]), &rc)) == NULL)
		return rc;
	if (m->json)
		return mtactl_json_out(r);
	buf_init(&txt, 64 * 1024);
	json_array_foreach(r, i, rec) {
		const char *type = json_string_value(json_object_get(rec, "type"));

		printf("; %s\n", json_string_value(json_object_get(rec, "note")));
		buf_reset(&txt, 0);
		if (strcmp(type, "TXT") == 0 &&
		    domain_txt_strings(json_string_value(json_object_get(rec, "value")), &txt) == 0)
			printf("%s IN TXT ( %s )\n", json_string_value(json_object_get(rec, "name")),
			    txt.data);
		else
			printf("; %s IN %s %s\n", json_string_value(json_object_get(rec, "name")), type,
			    json_string_value(json_object_get(rec, "value")));
	}
	buf_free(&txt);
	json_decref(r);
	return EXIT_OK;
}

static int
mtactl_reload(struct mtactl *m)
{
	json_t *r;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s}", "cmd", "reload"), &rc)) == NULL) {
		/* the file names the socket: a new state_dir hides the running mtad */
		if (rc == EXIT_DOWN)
			fprintf(stderr, "mtactl: if state_dir was changed in %s, mtad still "
			    "runs on the old one: restart it (a reload cannot move it)\n",
			    m->conf_path);
		return rc;
	}
	if (m->json)
		return mtactl_json_out(r);
	printf("reloaded: %s\n", json_string_value(json_object_get(r, "message")));
	json_decref(r);
	return EXIT_OK;
}

/* An event as the log writes it: "at id event=... key=value ...". */
static void
mtactl_event_line(json_t *ev)
{
	struct buf line;

	buf_init(&line, LIM_CONTROL_LINE * 4);
	ctlclient_event(ev, &line);
	puts(line.data ? line.data : "");
	buf_free(&line);
}

/* Stream events until the daemon goes or we are stopped. */
static int
mtactl_monitor(struct mtactl *m)
{
	json_t *r, *ev;
	int rc;

	if ((r = mtactl_call(m, json_pack("{s:s}", "cmd", "monitor"), &rc)) == NULL)
		return rc;
	json_decref(r);
	while ((ev = ctlclient_read(&m->cc, -1)) != NULL) {
		if (m->json) {
			json_dumpf(ev, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
			putchar('\n');
		} else {
			mtactl_event_line(ev);
		}
		fflush(stdout);
		json_decref(ev);
	}
	fprintf(stderr, "mtactl: mtad went away\n");
	return EXIT_DOWN;
}

static int
mtactl_send(struct mtactl *m)
{
	(void)m;
	return EXIT_USAGE;	/* replaced in main(): `send` runs sendmail_main */
}

static int mtactl_help(struct mtactl *m);
static int mtactl_completion(struct mtactl *m);

/* The grammar.  `mtactl help` prints it; lines fit 80 columns. */
static const struct mtactl_cmd mtactl_cmds[] = {
	{ "status", "", "", "version, uptime, listeners, queue counts", 0, 0, mtactl_status, NULL, NULL },
	{ "queue", "", "--state S --domain D --sender A --limit N",
	    "waiting recipients", 0, 0, mtactl_queue, NULL, NULL },
	{ "show", "ID", "", "a message: envelope, headers, attempts", 1, 1, mtactl_show, NULL, NULL },
	{ "retry", "[ID]", "--domain D --all", "try now", 0, 1, mtactl_change, "queue.retry", "to be tried now" },
	{ "hold", "[ID]", "--domain D", "stop delivering", 0, 1, mtactl_change, "queue.hold", "held" },
	{ "release", "[ID]", "--domain D", "deliver held mail again", 0, 1, mtactl_change, "queue.release", "released" },
	{ "purge", "[ID]", "--domain D --state S --older-than T",
	    "delete, without a DSN", 0, 1, mtactl_change, "queue.purge", "purged (no DSN sent)" },
	{ "bounces", "", "--since T --domain D --limit N", "the bounce log", 0, 0,
	    mtactl_bounces, NULL, NULL },
	{ "stats", "", "--since T", "counts, per domain", 0, 0, mtactl_stats, NULL, NULL },
	{ "user add", "NAME", "--domains D,...", "add an AUTH user", 1, 1, mtactl_user_add, NULL, NULL },
	{ "user passwd", "NAME", "", "change a user's password", 1, 1, mtactl_user_passwd, NULL, NULL },
	{ "user remove", "NAME", "", "remove a user", 1, 1, mtactl_user_remove, NULL, NULL },
	{ "user list", "", "", "users and their sender domains", 0, 0, mtactl_user_list, NULL, NULL },
	{ "domain add", "NAME", "--selector S --rsa-bits N --no-ed25519 --subdomains",
	    "a sender domain and its DKIM keys", 1, 1, mtactl_domain_cmd, "domain.add", NULL },
	{ "domain subdomains", "NAME on|off", "", "sign for its subdomains too", 2, 2,
	    mtactl_domain_subdomains, NULL, NULL },
	{ "domain list", "", "", "sender domains and their keys", 0, 0, mtactl_domain_cmd, "domain.list", NULL },
	{ "domain dns", "NAME", "", "the DNS records to publish", 1, 1, mtactl_domain_dns, NULL, NULL },
	{ "domain check", "NAME", "", "are they published right? (exit 1: no)", 1, 1,
	    mtactl_domain_check, NULL, NULL },
	{ "domain key", "NAME", "--selector S --rsa-bits N --no-ed25519",
	    "new keys, waiting (rotation)", 1, 1, mtactl_domain_cmd, "domain.key", NULL },
	{ "domain activate", "NAME SELECTOR", "", "sign with these keys from now", 2, 2,
	    mtactl_domain_cmd, "domain.activate", NULL },
	{ "domain remove", "NAME", "", "stop signing, forget the keys", 1, 1,
	    mtactl_domain_cmd, "domain.remove", NULL },
	{ "reload", "", "", "reload the configuration", 0, 0, mtactl_reload, NULL, NULL },
	{ "monitor", "", "", "follow events live", 0, 0, mtactl_monitor, NULL, NULL },
	{ "send", "[RCPT...]", "-t -f A -F N -i", "sendmail for local programs", 0, 0,
	    mtactl_send, NULL, NULL },
	{ "help", "", "", "this list", 0, 0, mtactl_help, NULL, NULL },
	{ "completion", "", "", "bash completion script", 0, 0, mtactl_completion, NULL, NULL },
};

#define MTACTL_NCMDS (sizeof mtactl_cmds / sizeof mtactl_cmds[0])

static int
mtactl_help(struct mtactl *m)
{
	size_t i;

	(void)m;
	printf("usage: mtactl [-f FILE] [--json] COMMAND ...\n\n");
	for (i = 0; i < MTACTL_NCMDS; i++) {	/* fits 80 columns */
		const struct mtactl_cmd *c = &mtactl_cmds[i];
		char left[128];

		(void)str_fmt(left, sizeof left, "%s%s%s%s%s", c->words, c->args[0] ? " " : "",
		    c->args, c->opts[0] ? " " : "", c->opts);
		if (strlen(left) > MTACTL_HELP_LEFT)
			printf("  %s\n  %-*s %s\n", left, MTACTL_HELP_LEFT, "", c->help);
		else
			printf("  %-*s %s\n", MTACTL_HELP_LEFT, left, c->help);
	}
	printf("\nT: a duration (30m, 6h, 2d).  exit: 0 ok, 1 error, 2 usage, "
	    "3 mtad not reachable\n");
	return EXIT_OK;
}

/* The first word of a command, and whether `words` has a second. */
static size_t
mtactl_first(const char *words, char *out, size_t size)
{
	size_t n = strcspn(words, " ");

	(void)str_fmt(out, size, "%.*s", (int)n, words);
	return n;
}

/* The option names of an opts string ("--state S --all" -> "--state --all"). */
static void
mtactl_print_opts(const char *opts)
{
	const char *p = opts;
	int first = 1;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (*p == '-') {
			printf("%s%.*s", first ? "" : " ", (int)n, p);
			first = 0;
		}
		p += n + (p[n] == ' ');
	}
}

/* bash completion, from the table (contrib/mtactl.bash is its output). */
static int
mtactl_completion(struct mtactl *m)
{
	char first[32], seen[512] = "";
	size_t i, j;

	(void)m;
	printf("# bash completion for mtactl -- generated by `mtactl completion` from its\n"
	    "# command table; do not edit (make completion).\n_mtactl()\n{\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n"
	    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n\t\tcase ${COMP_WORDS[i]} in\n"
	    "\t\t-f) ((i++)) ;;\n\t\t-*) ;;\n\t\t*) cmd=\"$cmd ${COMP_WORDS[i]}\" ;;\n"
	    "\t\tesac\n\tdone\n\tcmd=${cmd# }\n\tcase $prev in\n"
	    "\t--state) COMPREPLY=($(compgen -W \"queued deferred held sending\" -- \"$cur\"));"
	    " return ;;\n\t-f) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n\tesac\n"
	    "\tcase $cmd in\n\t\"\") COMPREPLY=($(compgen -W \"-f --json");
	for (i = 0; i < MTACTL_NCMDS; i++) {
		mtactl_first(mtactl_cmds[i].words, first, sizeof first);
		if (strstr(seen, first) == NULL) {
			printf(" %s", first);
			(void)str_fmt(seen + strlen(seen), sizeof seen - strlen(seen), " %s ", first);
		}
	}
	printf("\" -- \"$cur\")) ;;\n");
	for (i = 0; i < MTACTL_NCMDS; i++) {	/* second words: "user" -> add ... */
		size_t n = mtactl_first(mtactl_cmds[i].words, first, sizeof first);

		if (mtactl_cmds[i].words[n] == '\0' || (i > 0 &&
		    strncmp(mtactl_cmds[i - 1].words, first, n) == 0))
			continue;
		printf("\t%s) COMPREPLY=($(compgen -W \"", first);
		for (j = i; j < MTACTL_NCMDS && strncmp(mtactl_cmds[j].words, first, n) == 0; j++)
			printf("%s%s", j > i ? " " : "", mtactl_cmds[j].words + n + 1);
		printf("\" -- \"$cur\")) ;;\n");
	}
	for (i = 0; i < MTACTL_NCMDS; i++)
		if (mtactl_cmds[i].opts[0] != '\0') {
			printf("\t\"%s\"*) COMPREPLY=($(compgen -W \"", mtactl_cmds[i].words);
			mtactl_print_opts(mtactl_cmds[i].opts);
			printf("\" -- \"$cur\")) ;;\n");
		}
	printf("\tesac\n}\ncomplete -F _mtactl mtactl\n");
	return EXIT_OK;
}

/* The command whose words begin argv; *nwords: how many it took. */
static const struct mtactl_cmd *
mtactl_find(int argc, char **argv, int *nwords)
{
	size_t i;

	for (i = 0; i < MTACTL_NCMDS; i++) {
		const char *w = mtactl_cmds[i].words;
		int k = 0;

		while (*w && k < argc) {
			size_t n = strcspn(w, " ");

			if (strlen(argv[k]) != n || strncmp(argv[k], w, n) != 0)
				break;
			w += n + (w[n] == ' ');
			k++;
		}
		if (*w == '\0') {
			*nwords = k;
			return &mtactl_cmds[i];
		}
	}
	return NULL;
}

/* Positional arguments and the options the entry allows ("--x V": one
 * that takes a value is followed by an upper-case word in c->opts). */
static int
mtactl_parse(struct mtactl *m, const struct mtactl_cmd *c, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *at;
		size_t n;

		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
			if (m->npos == (int)(sizeof m->pos / sizeof m->pos[0]))
				return mtactl_usage("too many arguments");
			m->pos[m->npos++] = argv[i];
			continue;
		}
		n = strlen(argv[i]);
		for (at = strstr(c->opts, argv[i]); at && at[n] != ' ' && at[n] != '\0';
		    at = strstr(at + 1, argv[i]))
			;
		if (at == NULL || m->nopts == MTACTL_MAX_OPTS)
			return mtactl_usage("%s: no option %s", c->words, argv[i]);
		m->optname[m->nopts] = argv[i] + 2;
		m->optval[m->nopts] = "";
		if (at[n] == ' ' && at[n + 1] >= 'A' && at[n + 1] <= 'Z') {
			if (++i == argc)
				return mtactl_usage("%s needs a value", argv[i - 1]);
			m->optval[m->nopts] = argv[i];
		}
		m->nopts++;
	}
	if (m->npos < c->min_pos || m->npos > c->max_pos)
		return mtactl_usage("%s %s %s", c->words, c->args, c->opts);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mtactl m = { .conf_path = getenv("MTAD_CONF") };
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const struct mtactl_cmd *c;
	int opt, nwords, rc;

	if (strcmp(base, "sendmail") == 0)
		return sendmail_main(argc, argv, NULL);
	log_set_fd(-1);
	signal(SIGPIPE, SIG_IGN);	/* writes to a gone mtad fail with EPIPE */
	ctlclient_init(&m.cc);
	while ((opt = getopt_long(argc, argv, "+f:jh", opts, NULL)) != -1) {
		if (opt == 'f')
			m.conf_path = optarg;
		else if (opt == 'j')
			m.json = 1;
		else
			return opt == 'h' ? mtactl_help(&m) : EXIT_USAGE;
	}
	if (m.conf_path == NULL || *m.conf_path == '\0')
		m.conf_path = CONF_DEFAULT_PATH;
	if (optind == argc)
		return mtactl_usage("no command");
	if (strcmp(argv[optind], "send") == 0)
		return sendmail_main(argc - optind, argv + optind, m.conf_path);
	if ((c = mtactl_find(argc - optind, argv + optind, &nwords)) == NULL)
		return mtactl_usage("unknown command \"%s\"", argv[optind]);
	rc = mtactl_parse(&m, c, argc - optind - nwords, argv + optind + nwords);
	if (rc == EXIT_OK)
		m.cmd = c, rc = c->fn(&m);
	ctlclient_close(&m.cc);
	buf_free(&m.cc.in);
	conf_unref(m.conf);
	return rc;
}
