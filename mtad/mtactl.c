/*
 * mtactl.c -- the command line for mtad's admins and scripts.
 *
 *   mtactl [-f FILE] [--json] COMMAND ...
 *
 * The grammar is the table mtactl_cmds[] below: words, arguments, help,
 * one function each; `mtactl help` is printed from it.  Exit codes: 0 ok,
 * 1 error (message on stderr), 2 usage, 3 daemon not reachable.
 *
 * This first version has the user commands of SMTP AUTH, which work on
 * the queue database directly (SQLite serialises them with the daemon's
 * writer; the daemon reads users at each AUTH).  Commands that need the
 * running daemon arrive with the control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "conf.h"
#include "log.h"
#include "queue.h"
#include "str.h"

enum { EX_MTACTL_OK = 0, EX_MTACTL_ERR = 1, EX_MTACTL_USAGE = 2, EX_MTACTL_DOWN = 3 };

struct mtactl {
	const char *conf_path;
	int json;
	struct conf *conf;
	struct queue *q;
};

struct mtactl_cmd {
	const char *words;		/* "user add" */
	const char *args;		/* for help: "NAME [--domains D,...]" */
	const char *help;
	int min_args, max_args;		/* after the words (options included) */
	int (*fn)(struct mtactl *m, int argc, char **argv);
};

static int mtactl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mtactl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
mtactl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mtactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EX_MTACTL_ERR;
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
	return EX_MTACTL_USAGE;
}

/* The queue database, opened on first use. */
static int
mtactl_queue(struct mtactl *m)
{
	struct conf_errors errs = { { 0 }, 0, 0 };
	char path[4096], err[512];
	size_t i;

	if (m->q != NULL)
		return 0;
	if ((m->conf = conf_load(m->conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		conf_errors_free(&errs);
		return -1;
	}
	if (str_fmt(path, sizeof path, "%s/mtad.db", m->conf->state_dir) < 0) {
		mtactl_error("state_dir %s: path too long", m->conf->state_dir);
		return -1;
	}
	/* The daemon creates its queue (with its owner); mtactl never does. */
	if (access(path, F_OK) < 0) {
		mtactl_error("%s: %s (start mtad once to create the queue)", path, strerror(errno));
		return -1;
	}
	if ((m->q = queue_open(path, QUEUE_WRITER, err, sizeof err)) == NULL) {
		mtactl_error("%s", err);
		return -1;
	}
	return 0;
}

/* ---- passwords: a tty (asked twice, no echo) or one line of stdin ---- */

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

static int
mtactl_password(char *out, size_t size)
{
	char again[LIM_AUTH_PASSWORD + 2];
	int rc = 0;

	if (!isatty(STDIN_FILENO)) {
		if (mtactl_read_line(stdin, out, size) < 0)
			return mtactl_error("no password on standard input (one line, at most "
			    "%d octets)", LIM_AUTH_PASSWORD);
	} else if (mtactl_ask("Password: ", out, size) < 0 ||
	    mtactl_ask("Password again: ", again, sizeof again) < 0) {
		rc = mtactl_error("cannot read the password");
	} else if (strcmp(out, again) != 0) {
		rc = mtactl_error("the passwords differ");
	}
	explicit_bzero(again, sizeof again);
	if (rc == 0 && out[0] == '\0')
		rc = mtactl_error("empty password");
	return rc;
}

/* "--domains a.example,b.example" into lower-case A-labels, or NULL (any). */
static int
mtactl_domains(const char *list, char *out, size_t size)
{
	char one[LIM_DOMAIN + 1], ascii[LIM_DOMAIN + 1];
	size_t used = 0;

	out[0] = '\0';
	if (*list == '\0')
		return mtactl_error("--domains: give at least one domain (leave it out: any)");
	while (*list) {
		size_t n = strcspn(list, ",");
		enum addr_err e;

		if (n == 0 || n >= sizeof one)
			return mtactl_error("--domains: empty or too long a domain");
		memcpy(one, list, n);
		one[n] = '\0';
		if ((e = addr_domain_to_ascii(one, ascii, sizeof ascii)) != ADDR_OK)
			return mtactl_error("--domains: %s: %s", one, addr_strerror(e));
		if (str_fmt(out + used, size - used, "%s%s", used ? "," : "", ascii) < 0)
			return mtactl_error("--domains: too many");
		used = strlen(out);
		list += n + (list[n] == ',');
	}
	return 0;
}

/* ---- user commands ---- */

static int
mtactl_user_add(struct mtactl *m, int argc, char **argv)
{
	char pass[LIM_AUTH_PASSWORD + 2], hash[LIM_AUTH_HASH + 1], domains[LIM_AUTH_DOMAINS + 1];
	const char *name = argv[0];
	int rc, have_domains = 0;

	if (argc == 3 && strcmp(argv[1], "--domains") == 0) {
		if (mtactl_domains(argv[2], domains, sizeof domains) != 0)
			return EX_MTACTL_ERR;
		have_domains = 1;
	} else if (argc != 1) {
		return mtactl_usage("user add NAME [--domains D,...]");
	}
	if (strlen(name) > LIM_AUTH_USER || strchr(name, ',') || name[0] == '\0')
		return mtactl_error("%s: not a user name", name);
	if (mtactl_queue(m) < 0 || mtactl_password(pass, sizeof pass) != 0)
		return EX_MTACTL_ERR;
	rc = auth_hash(pass, hash, sizeof hash);
	explicit_bzero(pass, sizeof pass);
	if (rc < 0)
		return mtactl_error("cannot hash the password (libxcrypt)");
	rc = queue_user_add(m->q, name, hash, have_domains ? domains : NULL, time(NULL));
	if (rc == QUEUE_DUP)
		return mtactl_error("user %s exists (mtactl user passwd %s)", name, name);
	return rc == QUEUE_OK ? EX_MTACTL_OK : mtactl_error("%s", queue_errmsg(m->q));
}

static int
mtactl_user_passwd(struct mtactl *m, int argc, char **argv)
{
	char pass[LIM_AUTH_PASSWORD + 2], hash[LIM_AUTH_HASH + 1];
	int rc;

	struct queue_user u;

	(void)argc;
	if (mtactl_queue(m) < 0)
		return EX_MTACTL_ERR;
	if ((rc = queue_user_get(m->q, argv[0], &u)) != 0)
		return rc == 1 ? mtactl_error("no user %s", argv[0]) :
		    mtactl_error("%s", queue_errmsg(m->q));
	explicit_bzero(&u, sizeof u);
	if (mtactl_password(pass, sizeof pass) != 0)
		return EX_MTACTL_ERR;
	rc = auth_hash(pass, hash, sizeof hash);
	explicit_bzero(pass, sizeof pass);
	if (rc < 0)
		return mtactl_error("cannot hash the password (libxcrypt)");
	rc = queue_user_passwd(m->q, argv[0], hash, time(NULL));
	if (rc == 1)
		return mtactl_error("no user %s", argv[0]);
	return rc == 0 ? EX_MTACTL_OK : mtactl_error("%s", queue_errmsg(m->q));
}

static int
mtactl_user_remove(struct mtactl *m, int argc, char **argv)
{
	int rc;

	(void)argc;
	if (mtactl_queue(m) < 0)
		return EX_MTACTL_ERR;
	rc = queue_user_remove(m->q, argv[0]);
	if (rc == 1)
		return mtactl_error("no user %s", argv[0]);
	return rc == 0 ? EX_MTACTL_OK : mtactl_error("%s", queue_errmsg(m->q));
}

/* ISO 8601 UTC, as every time in mtactl's output. */
static void
mtactl_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

static void
mtactl_user_json(void *ctx, const struct queue_user *u)
{
	json_t *list = ctx, *o = json_object(), *d;
	char when[32];
	const char *p = u->domains;

	mtactl_time(u->created_at, when, sizeof when);
	json_object_set_new(o, "name", json_string(u->name));
	if (u->any_domain) {
		d = json_null();
	} else {
		d = json_array();
		while (*p) {
			size_t n = strcspn(p, ",");

			json_array_append_new(d, json_stringn(p, n));
			p += n + (p[n] == ',');
		}
	}
	json_object_set_new(o, "domains", d);
	json_object_set_new(o, "created_at", json_string(when));
	json_array_append_new(list, o);
}

static void
mtactl_user_row(void *ctx, const struct queue_user *u)
{
	char when[32];

	(void)ctx;
	mtactl_time(u->created_at, when, sizeof when);
	printf("%-24s %-20s %s\n", u->name, when, u->any_domain ? "(any)" : u->domains);
}

static int
mtactl_user_list(struct mtactl *m, int argc, char **argv)
{
	json_t *list;
	int rc;

	(void)argc;
	(void)argv;
	if (mtactl_queue(m) < 0)
		return EX_MTACTL_ERR;
	if (!m->json) {
		printf("%-24s %-20s %s\n", "USER", "CREATED", "SENDER DOMAINS");
		rc = queue_users(m->q, mtactl_user_row, NULL);
	} else {
		list = json_array();
		if ((rc = queue_users(m->q, mtactl_user_json, list)) == 0)
			json_dumpf(list, stdout, JSON_INDENT(2));
		json_decref(list);
		if (rc == 0)
			putchar('\n');
	}
	return rc == 0 ? EX_MTACTL_OK : mtactl_error("%s", queue_errmsg(m->q));
}

static int mtactl_help(struct mtactl *m, int argc, char **argv);

/* The grammar: `mtactl help` prints it (lines fit 80 columns). */
static const struct mtactl_cmd mtactl_cmds[] = {
	{ "user add", "NAME [--domains D,...]", "add an AUTH user (password: tty or stdin)",
	    1, 3, mtactl_user_add },
	{ "user passwd", "NAME", "change a user's password (tty or stdin)", 1, 1,
	    mtactl_user_passwd },
	{ "user remove", "NAME", "remove a user", 1, 1, mtactl_user_remove },
	{ "user list", "", "users and their sender domains", 0, 0, mtactl_user_list },
	{ "help", "", "this list", 0, 0, mtactl_help },
};

#define MTACTL_NCMDS (sizeof mtactl_cmds / sizeof mtactl_cmds[0])

static int
mtactl_help(struct mtactl *m, int argc, char **argv)
{
	size_t i;

	(void)m;
	(void)argc;
	(void)argv;
	printf("usage: mtactl [-f FILE] [--json] COMMAND\n\n");
	for (i = 0; i < MTACTL_NCMDS; i++) {
		char left[64];

		(void)str_fmt(left, sizeof left, "%s %s", mtactl_cmds[i].words, mtactl_cmds[i].args);
		printf("  %-32s %s\n", left, mtactl_cmds[i].help);
	}
	printf("\nexit: 0 ok, 1 error, 2 usage, 3 daemon not reachable\n");
	return EX_MTACTL_OK;
}

/* The command whose words begin argv; *nwords gets how many it took. */
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mtactl m = { getenv("MTAD_CONF"), 0, NULL, NULL };
	const struct mtactl_cmd *c;
	int opt, nwords, rc;

	log_set_fd(-1);		/* queue.c's notices are the daemon's business */
	while ((opt = getopt_long(argc, argv, "+f:jh", opts, NULL)) != -1) {
		if (opt == 'f')
			m.conf_path = optarg;
		else if (opt == 'j')
			m.json = 1;
		else
			return opt == 'h' ? mtactl_help(&m, 0, NULL) : EX_MTACTL_USAGE;
	}
	if (m.conf_path == NULL || *m.conf_path == '\0')
		m.conf_path = CONF_DEFAULT_PATH;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return mtactl_usage("no command");
	if ((c = mtactl_find(argc, argv, &nwords)) == NULL)
		return mtactl_usage("unknown command \"%s\"", argv[0]);
	if (argc - nwords < c->min_args || argc - nwords > c->max_args)
		return mtactl_usage("%s %s", c->words, c->args);
	rc = c->fn(&m, argc - nwords, argv + nwords);
	queue_close(m.q);
	conf_unref(m.conf);
	return rc;
}
