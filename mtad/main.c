/*
 * main.c -- mtad: start-up, signals, reload, graceful stop.
 *
 *   mtad [-f FILE] [-n]
 *
 * The main thread loads the configuration, takes the state directory's
 * lock, starts the writer and the listeners, then only waits for signals:
 * SIGHUP reloads (a broken configuration is refused and the running one
 * stays), SIGTERM/SIGINT stop accepting, let sessions finish, drain the
 * writer and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "control.h"
#include "dns.h"
#include "limits.h"
#include "listen.h"
#include "log.h"
#include "scheduler.h"
#include "session.h"
#include "str.h"
#include "tls.h"
#include "version.h"
#include "worker.h"
#include "writer.h"


static void
usage(void)
{
	fprintf(stderr, "usage: mtad [-f FILE] [-n] [-V]\n"
	    "  -f FILE  configuration (default $MTAD_CONF or " CONF_DEFAULT_PATH ")\n"
	    "  -n       check the configuration and exit\n"
	    "  -V       print the version and exit\n");
	exit(2);
}

/* Load `path`; on errors print each as FILE:LINE: message and return NULL. */
static struct conf *
main_load(const char *path, int to_log)
{
	struct conf_errors errs = { { 0 }, 0, 0 };
	struct conf *c = conf_load(path, &errs);
	size_t i;

	for (i = 0; i < errs.n; i++) {
		if (to_log)
			log_msg("mtad", "config_error", "%s", errs.msgs[i]);
		else
			fprintf(stderr, "%s\n", errs.msgs[i]);
	}
	if (errs.dropped && to_log)
		log_msg("mtad", "config_error", "%s: %zu more errors", path, errs.dropped);
	else if (errs.dropped)
		fprintf(stderr, "%s: %zu more errors\n", path, errs.dropped);
	conf_errors_free(&errs);
	return c;
}

/* Create the state directory if needed and lock it for this process. */
static int
main_lock_state(const struct conf *c)
{
	char path[4096], pid[32];
	int fd;

	/* 0711: local users may reach the submission socket by name; the
	 * database (0600) and the listing stay private. */
	if (mkdir(c->state_dir, 0711) < 0 && errno != EEXIST)
		fatal("state_dir %s: cannot create", c->state_dir);
	if (chmod(c->state_dir, 0711) < 0)
		fatal("state_dir %s: cannot set its mode", c->state_dir);
	if (str_fmt(path, sizeof path, "%s/mtad.pid", c->state_dir) < 0)
		fatal("state_dir %s: path too long", c->state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		fatal("%s: cannot open", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof pid - 1);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		errno = 0;
		fatal("state_dir %s is in use by another mtad (pid %s)", c->state_dir, pid);
	}
	(void)str_fmt(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, pid, strlen(pid)) < 0)
		fatal("%s: cannot write", path);
	return fd;		/* held open: the lock lives as long as we do */
}

/* "FILE:LINE: tls_cert: why", naming the tls_priorities line when the
 * priority string is what GnuTLS refused. */
static void
main_tls_error(const struct conf *c, const char *why, char *err, size_t errsize)
{
	int prio = c->tls_priorities && strstr(why, "priorities") != NULL;

	(void)str_fmt(err, errsize, "%s:%d: %s: %s", c->path,
	    prio ? c->tls_priorities_line : c->tls_cert.line,
	    prio ? "tls_priorities" : "tls_cert", why);
}

/* Load the TLS credentials c asks for, without using them yet.  0, or
 * -1 with err (nothing loaded). */
static int
main_tls_load(const struct conf *c, struct tls_cred **trust, struct tls_cred **cert,
    char *err, size_t errsize)
{
	char why[400];

	*cert = NULL;
	if ((*trust = tls_trust_load(c->tls_ca.path, err, errsize)) == NULL)
		return -1;
	if (c->tls_cert.path == NULL ||
	    (*cert = tls_cert_load(c->tls_cert.path, c->tls_key.path, c->tls_priorities,
	    why, sizeof why)) != NULL)
		return 0;
	main_tls_error(c, why, err, errsize);
	tls_cred_drop(*trust);
	*trust = NULL;
	return -1;
}

/*
 * SIGHUP: all or nothing.  Everything that can fail (parsing, TLS files,
 * binding new listeners) happens before anything changes; then the new
 * credentials, listeners and configuration are used together.
 */
static void
main_reload(const char *path)
{
	struct conf *old = conf_current(), *c = main_load(path, 1);
	struct tls_cred *trust = NULL, *cert = NULL;
	char err[512];
	const char *why = NULL;

	if (c == NULL)
		why = "the file has errors";
	else if (strcmp(c->state_dir, old->state_dir) != 0)
		why = "state_dir cannot change without a restart";
	else if (main_tls_load(c, &trust, &cert, err, sizeof err) < 0 ||
	    listen_apply(c, err, sizeof err) < 0)
		why = err;
	if (why != NULL) {
		log_msg("mtad", "reload_failed", "%s; keeping the running configuration", why);
		control_reload_done(0, why);
		tls_cred_drop(trust);
		tls_cred_drop(cert);
		conf_unref(c);
		conf_unref(old);
		return;
	}
	if (c->workers != old->workers || strcmp(c->resolver, old->resolver) != 0)
		log_msg("mtad", "reload_partial", "workers and resolver change only "
		    "with a restart");
	tls_trust_use(trust);
	tls_cert_use(cert);
	conf_set_current(c);
	sched_wake();
	log_msg("mtad", "reloaded", "%s: %d listeners", path, listen_count());
	(void)str_fmt(err, sizeof err, "%s: %d listeners", path, listen_count());
	control_reload_done(1, err);
	conf_unref(old);
}

static void
main_stop(void)
{
	int left;

	log_msg("mtad", "stopping", "%d sessions open", session_count());
	listen_stop_all();
	control_stop();
	session_shutdown();
	/* Sessions inside DATA get LIM_SHUTDOWN_GRACE, then a bounded send. */
	if ((left = session_wait(LIM_SHUTDOWN_GRACE + 5)) > 0)
		log_msg("mtad", "stopping", "%d sessions still open; their transactions "
		    "are not committed", left);
	/* Deliveries in flight finish their message; the rest stays queued. */
	sched_stop();
	if (worker_stop(LIM_SHUTDOWN_GRACE) > 0)
		log_msg("mtad", "stopping", "deliveries still running are abandoned; they "
		    "are tried again at the next start");
	else
		sched_free();
	auth_shutdown();
	writer_stop();
	dns_shutdown();
	tls_shutdown();
	log_msg("mtad", "stopped", left ? "%d sessions abandoned" : "clean", left);
}

static void
main_signals(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	/* Blocked before any thread starts, so only sigwait sees them. */
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void
main_start(struct conf *c)
{
	struct tls_cred *trust, *cert;
	char db[4096], sock[4096], err[512] = "";

	if (session_init() < 0)
		fatal("cannot create the shutdown pipe");
	if (str_fmt(db, sizeof db, "%s/mtad.db", c->state_dir) < 0)
		fatal("state_dir %s: path too long", c->state_dir);
	if (main_tls_load(c, &trust, &cert, err, sizeof err) < 0 ||
	    dns_init(c->resolver, err, sizeof err) < 0) {
		errno = 0;
		fatal("%s", err);
	}
	tls_trust_use(trust);
	tls_cert_use(cert);
	if (writer_start(db, err, sizeof err) < 0 || auth_init(db, err, sizeof err) < 0) {
		errno = 0;
		fatal("queue %s", err);
	}
	conf_set_current(c);
	if (sched_start(err, sizeof err) < 0 || worker_start(db, c->workers, err, sizeof err) < 0 ||
	    control_start(c->state_dir, db, time(NULL), err, sizeof err) < 0) {
		errno = 0;
		fatal("%s", err);
	}
	if (str_fmt(sock, sizeof sock, "%s/submit.sock", c->state_dir) < 0 ||
	    listen_local(sock, err, sizeof err) < 0 || listen_apply(c, err, sizeof err) < 0) {
		errno = 0;
		fatal("%s", err[0] ? err : "state_dir: path too long");
	}
}

int
main(int argc, char **argv)
{
	const char *path = getenv("MTAD_CONF");
	int opt, check = 0, sig;
	struct conf *c;
	struct logline l;
	sigset_t set;

	while ((opt = getopt(argc, argv, "f:nhV")) != -1) {
		switch (opt) {
		case 'f': path = optarg; break;
		case 'n': check = 1; break;
		case 'V': printf("mtad %s\n", MTAD_VERSION); return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (path == NULL || *path == '\0')
		path = CONF_DEFAULT_PATH;
	if ((c = main_load(path, 0)) == NULL)
		return 1;
	if (check) {
		struct tls_cred *trust, *cert;
		char err[512];
		int bad = main_tls_load(c, &trust, &cert, err, sizeof err) < 0;

		if (bad) {
			fprintf(stderr, "%s\n", err);
		} else {
			fprintf(stderr, "%s: ok\n", path);
			tls_cred_drop(trust);
			tls_cred_drop(cert);
		}
		tls_shutdown();
		conf_unref(c);
		return bad;
	}
	main_signals(&set);
	(void)main_lock_state(c);
	main_start(c);
	log_begin(&l, "mtad", "ready");
	log_str(&l, "version", MTAD_VERSION);
	log_num(&l, "pid", (long long)getpid());
	log_str(&l, "config", path);
	log_str(&l, "state_dir", c->state_dir);
	log_num(&l, "listeners", listen_count());
	log_end(&l);
	for (;;) {
		if ((sig = sigwaitinfo(&set, NULL)) < 0)
			continue;
		if (sig != SIGHUP)
			break;
		main_reload(path);
	}
	main_stop();
	return 0;
}
