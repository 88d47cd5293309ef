/*
 * main.c -- mtatui, the live admin console of mtad.
 *
 *   mtatui [-f FILE] [-V]
 *
 * Finds the daemon's control socket through the configuration (as
 * mtactl does: -f, else $MTAD_CONF, else /etc/mtad/mtad.conf), then runs
 * the screens (tui.c) until q.  The terminal is restored on every way
 * out: q, SIGTERM, SIGINT, SIGHUP, and fatal signals.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tui.h"
#include "ui.h"
#include "version.h"


static void
main_stop(int sig)
{
	(void)sig;
	tui_stop = 1;
}

/* A fatal signal: give the terminal back, then die of it. */
static void
main_fatal(int sig)
{
	ui_end();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
main_signals(void)
{
	static const int stop[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = main_stop;
	for (i = 0; i < sizeof stop / sizeof stop[0]; i++)
		sigaction(stop[i], &sa, NULL);
	sa.sa_handler = main_fatal;
	sa.sa_flags = SA_RESETHAND;
	for (i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
		sigaction(fatal[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
main_usage(void)
{
	fprintf(stderr, "usage: mtatui [-f FILE] [-V]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct conf_errors errs = { { 0 }, 0, 0 };
	struct tui t;
	const char *path = getenv("MTAD_CONF");
	size_t i;
	int opt, rc;

	while ((opt = getopt(argc, argv, "f:Vh")) != -1) {
		if (opt == 'f')
			path = optarg;
		else if (opt == 'V')
			return printf("mtatui %s\n", MTAD_VERSION) < 0;
		else
			return main_usage();
	}
	if (optind != argc)
		return main_usage();
	if (path == NULL || *path == '\0')
		path = CONF_DEFAULT_PATH;
	memset(&t, 0, sizeof t);
	log_set_fd(-1);
	if ((t.conf = conf_load_client(path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "mtatui: %s\n", errs.msgs[i]);
		conf_errors_free(&errs);
		return 1;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "mtatui: needs a terminal (for scripts: mtactl)\n");
		return 1;
	}
	setlocale(LC_ALL, "");
	t.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	ctlclient_init(&t.cc);
	ctlclient_init(&t.mon);
	main_signals();
	atexit(ui_end);
	if (ui_init(&t) < 0) {
		fprintf(stderr, "mtatui: cannot start the terminal (TERM=%s)\n",
		    getenv("TERM") ? getenv("TERM") : "");
		return 1;
	}
	rc = tui_run(&t);
	ui_end();
	tui_free(&t);
	return rc;
}
