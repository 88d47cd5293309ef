/*
 * test_tls.c -- tls.c against an independent peer: gnutls-serv (echo mode)
 * with certificates from certs.sh, plus sockets of our own that accept and
 * stay silent or speak plain text.
 *
 * Peers listen on free ports chosen at run time; each start waits at most
 * PEER_START_MS for the port to answer.  Every gnutls-serv is killed by
 * PID at exit (and dies with us: PR_SET_PDEATHSIG).  tls_init runs once
 * with the test CA; tests that need other trust anchors re-init and put
 * the test CA back (tls_init may be called again: see tls.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "tls.h"

#define PEER_START_MS 5000
#define IO_MS 5000		/* generous: a live peer answers in ms */
#define MAX_PEERS 8
#define SERVER_NAME "mx.example.net"

enum peer_kind { PEER_MAIN, PEER_TLS12, PEER_TLS11, PEER_SNI, PEER_KINDS };

static const char *const peer_priority[PEER_KINDS] = {
	[PEER_TLS12] = "NORMAL:-VERS-ALL:+VERS-TLS1.2",
	[PEER_TLS11] = "NORMAL:-VERS-ALL:+VERS-TLS1.1",
};

static struct {
	pid_t pid;
	int port;
} peers[MAX_PEERS];
static int shared_port[PEER_KINDS];	/* started on first use; 0 not yet */
static char certs[512];			/* "" until certs.sh has run */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DIR/name of the test certificates, made on first use. */
static const char *
cert(const char *name)
{
	static char out[4][600];
	static int slot;
	char script[512], *p;
	pid_t pid;
	int status;

	if (certs[0] == '\0') {
		/* certs.sh lies beside this file (run from the tree's top). */
		snprintf(script, sizeof script, "%s", __FILE__);
		p = strrchr(script, '/');
		snprintf(p ? p + 1 : script, sizeof script - (size_t)(p ? p + 1 - script : 0),
		    "certs.sh");
		snprintf(certs, sizeof certs, "%s/certs", test_tmpdir());
		if ((pid = fork()) == 0) {
			execl("/bin/sh", "sh", script, certs, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "test_tls: %s %s failed\n", script, certs);
			exit(1);
		}
	}
	slot = (slot + 1) % 4;
	snprintf(out[slot], sizeof out[slot], "%s/%s", certs, name);
	return out[slot];
}

static void
init_ca(const char *ca)
{
	char err[256];

	if (tls_init(cert(ca), err, sizeof err) < 0) {
		fprintf(stderr, "test_tls: tls_init %s: %s\n", ca, err);
		exit(1);
	}
}

/* The test CA is current for tls_client (tls_init on first use). */
static void
need_init(void)
{
	static int done;

	if (!done)
		init_ca("ca.crt");
	done = 1;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A listening socket on 127.0.0.1 and a free port; *port set. */
static int
tcp_listen(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("test_tls: listen");
		exit(1);
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
peers_stop(void)
{
	int i;

	for (i = 0; i < MAX_PEERS; i++) {
		if (peers[i].pid <= 0)
			continue;
		kill(peers[i].pid, SIGTERM);
		kill(peers[i].pid, SIGCONT);	/* a stopped one must see it */
		waitpid(peers[i].pid, NULL, 0);
		peers[i].pid = 0;
	}
}

/* Fork gnutls-serv on `port`; its output goes to DIR/gnutls-serv.log. */
static pid_t
peer_spawn(enum peer_kind kind, int port)
{
	char sport[16], log[600];
	const char *argv[20];
	int n = 0, fd;
	pid_t pid;

	snprintf(sport, sizeof sport, "%d", port);
	snprintf(log, sizeof log, "%s/gnutls-serv.log", test_tmpdir());
	argv[n++] = "gnutls-serv";
	argv[n++] = "--echo";
	argv[n++] = "--crlf";
	argv[n++] = "--disable-client-cert";
	argv[n++] = "--x509certfile";
	argv[n++] = cert("server.crt");
	argv[n++] = "--x509keyfile";
	argv[n++] = cert("server.key");
	argv[n++] = "-p";
	argv[n++] = sport;
	if (peer_priority[kind] != NULL) {
		argv[n++] = "--priority";
		argv[n++] = peer_priority[kind];
	}
	if (kind == PEER_SNI) {
		argv[n++] = "--sni-hostname=" SERVER_NAME;
		argv[n++] = "--sni-hostname-fatal";
	}
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Start a gnutls-serv of this kind; its port, or -1.  A port taken
 * between our probe and its bind makes it exit: then try another. */
static int
peer_start(enum peer_kind kind)
{
	static int registered;
	int slot, attempt, fd, port;
	long long end;

	if (!registered)
		atexit(peers_stop);	/* runs before test_tmpdir's cleanup */
	registered = 1;
	for (slot = 0; slot < MAX_PEERS && peers[slot].pid > 0; slot++)
		;
	if (slot == MAX_PEERS)
		return -1;
	for (attempt = 0; attempt < 3; attempt++) {
		close(tcp_listen(&port));
		if ((peers[slot].pid = peer_spawn(kind, port)) < 0)
			return -1;
		peers[slot].port = port;
		for (end = now_ms() + PEER_START_MS; now_ms() < end; usleep(10000)) {
			if ((fd = tcp_connect(port)) >= 0) {
				close(fd);
				return port;
			}
			if (waitpid(peers[slot].pid, NULL, WNOHANG) != 0)
				break;
		}
		kill(peers[slot].pid, SIGKILL);
		waitpid(peers[slot].pid, NULL, 0);
		peers[slot].pid = 0;
	}
	return -1;
}

/* Stop the peer listening on port (a test's own). */
static void
peer_kill(int port, int sig)
{
	int i;

	for (i = 0; i < MAX_PEERS; i++)
		if (peers[i].pid > 0 && peers[i].port == port)
			kill(peers[i].pid, sig);
}

/* The shared peer of this kind, started on first use. */
static int
peer(enum peer_kind kind)
{
	need_init();
	if (shared_port[kind] == 0)
		shared_port[kind] = peer_start(kind);
	if (shared_port[kind] < 0) {
		fprintf(stderr, "test_tls: cannot start gnutls-serv (see %s)\n", test_tmpdir());
		exit(1);
	}
	return shared_port[kind];
}

/* Connect to port and run tls_client; NULL (reason in err) on failure,
 * *fdp is the socket either way (-1 when connect failed). */
static struct tls *
dial(int port, const char *name, int verify, int timeout_ms, int *fdp, char *err,
    size_t errsize)
{
	err[0] = '\0';
	if ((*fdp = tcp_connect(port)) < 0) {
		snprintf(err, errsize, "connect: %s", strerror(errno));
		return NULL;
	}
	return tls_client(*fdp, name, verify, timeout_ms, err, errsize);
}

/* Send s, expect it back from the echo peer (gnutls-serv --echo answers
 * each line when its LF arrives: s ends in one).  1 when it came back. */
static int
echo_ok(struct tls *t, const char *s, size_t n)
{
	char *back = malloc(n);
	size_t got = 0;
	ssize_t r = 0;
	int ok;

	if (back == NULL || tls_write(t, s, n, IO_MS) < 0) {
		free(back);
		return 0;
	}
	while (got < n && (r = tls_read(t, back + got, n - got, IO_MS)) > 0)
		got += (size_t)r;
	ok = got == n && memcmp(back, s, n) == 0;
	free(back);
	return ok;
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static int
fd_nonblocking(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

/* ---- verify mode ---- */

static void
test_verify_ok(void)
{
	struct tls_info info;
	struct tls *t;
	char err[256];
	int fd;

	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	CHECK(t != NULL);
	if (t != NULL) {
		tls_get_info(t, &info);
		CHECK_STR(info.version, "TLS1.3");
		CHECK(strncmp(info.cipher, "TLS_AES_", 8) == 0 ||
		    strncmp(info.cipher, "TLS_CHACHA20_", 13) == 0);
		CHECK_INT(info.verified, 1);
		CHECK_STR(tls_error(t), "");
		CHECK(echo_ok(t, "EHLO a\r\n", 8));
		tls_close(t);
	}
	CHECK(fd_open(fd));
	close(fd);
}

/* IP literals (checked against the IP SAN, not sent as SNI), a trailing
 * dot and address-literal brackets. */
static void
test_verify_name_forms(void)
{
	static const char *const names[] = { "127.0.0.1", "[127.0.0.1]", "mx.example.net.",
	    "MX.Example.NET" };
	struct tls_info info;
	struct tls *t;
	char err[256];
	size_t i;
	int fd;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		t = dial(peer(PEER_MAIN), names[i], 1, IO_MS, &fd, err, sizeof err);
		if (t == NULL)
			test_fail(__FILE__, __LINE__, "%s: %s", names[i], err);
		else {
			tls_get_info(t, &info);
			CHECK_INT(info.verified, 1);
			tls_close(t);
		}
		close(fd);
	}
}

static void
test_verify_wrong_name(void)
{
	struct tls *t;
	char err[256];
	int fd;

	t = dial(peer(PEER_MAIN), "other.example.net", 1, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strncmp(err, "certificate verification failed: ", 33) == 0);
	CHECK(strstr(err, "name") != NULL);
	CHECK(strstr(err, "other.example.net") != NULL);
	tls_close(t);		/* NULL: a no-op */
	CHECK(fd_open(fd));
	CHECK(!fd_nonblocking(fd));
	close(fd);

	/* 127.0.0.2 is not in the certificate */
	t = dial(peer(PEER_MAIN), "127.0.0.2", 1, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strstr(err, "certificate verification failed: ") != NULL);
	close(fd);

	t = dial(peer(PEER_MAIN), NULL, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK_STR(err, "certificate verification needs a server name");
	close(fd);
}

/* Trust anchors that did not sign the peer's certificate. */
static void
test_verify_wrong_ca(void)
{
	struct tls_info info;
	struct tls *t;
	char err[256];
	int fd;

	peer(PEER_MAIN);
	init_ca("other-ca.crt");
	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strncmp(err, "certificate verification failed: ", 33) == 0);
	CHECK(strstr(err, "issuer") != NULL || strstr(err, "signer") != NULL);
	close(fd);

	/* without verify: up, and reported as not verified */
	t = dial(peer(PEER_MAIN), SERVER_NAME, 0, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t != NULL) {
		tls_get_info(t, &info);
		CHECK_INT(info.verified, 0);
		tls_close(t);
	}
	close(fd);
	init_ca("ca.crt");
}

/* The system store (cafile NULL) does not know our test CA. */
static void
test_verify_system_store(void)
{
	struct tls *t;
	char err[256];
	int fd;

	peer(PEER_MAIN);
	if (tls_init(NULL, err, sizeof err) < 0) {
		test_fail(__FILE__, __LINE__, "tls_init(NULL): %s", err);
		return;
	}
	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strstr(err, "certificate verification failed: ") != NULL);
	tls_close(t);
	close(fd);
	init_ca("ca.crt");
}

/* Bad cafile: -1 with a reason, and the current anchors stay. */
static void
test_init_errors(void)
{
	struct tls *t;
	char err[256], missing[600];
	int fd;

	peer(PEER_MAIN);
	snprintf(missing, sizeof missing, "%s/missing.crt", test_tmpdir());
	CHECK_INT(tls_init(missing, err, sizeof err), -1);
	CHECK(strstr(err, "missing.crt: ") != NULL);
	CHECK_INT(tls_init(cert("server.key"), err, sizeof err), -1);
	CHECK(strstr(err, "server.key: ") != NULL);
	CHECK_INT(tls_init(missing, NULL, 0), -1);	/* no buffer: fine */

	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	tls_close(t);
	close(fd);
}

/* ---- opportunistic mode, data ---- */

static void
test_noverify_echo(void)
{
	struct tls_info info;
	struct tls *t;
	char err[256], c, rest[16], *big;
	size_t i, n = 1000 * 80;
	int fd;

	t = dial(peer(PEER_MAIN), SERVER_NAME, 0, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t == NULL)
		return;
	tls_get_info(t, &info);
	CHECK_INT(info.verified, 1);	/* checked and good, though not required */

	/* one record back: the rest waits decrypted, unseen by poll() */
	CHECK_INT(tls_write(t, "hello\r\n", 7, IO_MS), 0);
	CHECK_INT(tls_read(t, &c, 1, IO_MS), 1);
	CHECK_INT(c, 'h');
	CHECK_INT(tls_pending(t), 6);
	CHECK_INT(tls_read(t, rest, sizeof rest, 0), 6);	/* no wait needed */
	CHECK(memcmp(rest, "ello\r\n", 6) == 0);
	CHECK_INT(tls_pending(t), 0);

	/* many records each way (the peer echoes whole lines) */
	big = malloc(n);
	for (i = 0; big != NULL && i < n; i++)
		big[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : (char)('a' + i % 26);
	CHECK(big != NULL && echo_ok(t, big, n));
	free(big);
	tls_close(t);
	close(fd);
}

/* Wrong name without verify: the session is up, verified stays 0. */
static void
test_noverify_wrong_name(void)
{
	struct tls_info info;
	struct tls *t;
	char err[256];
	int fd;

	t = dial(peer(PEER_MAIN), "other.example.net", 0, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t != NULL) {
		tls_get_info(t, &info);
		CHECK_INT(info.verified, 0);
		CHECK(echo_ok(t, "x\r\n", 3));
		tls_close(t);
	}
	close(fd);

	t = dial(peer(PEER_MAIN), NULL, 0, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t != NULL) {
		tls_get_info(t, &info);
		CHECK_INT(info.verified, 0);	/* no name: nothing to check it against */
		tls_close(t);
	}
	close(fd);
}

/* SNI: sent for DNS names (without the trailing dot), never for IPs.  The
 * peer answers a name other than mx.example.net with a fatal alert. */
static void
test_sni(void)
{
	struct tls *t;
	char err[256];
	int fd;

	t = dial(peer(PEER_SNI), "mx.example.net.", 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	tls_close(t);
	close(fd);
	t = dial(peer(PEER_SNI), "127.0.0.1", 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	tls_close(t);
	close(fd);
	t = dial(peer(PEER_SNI), "other.example.net", 0, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strncmp(err, "handshake: peer sent alert: ", 28) == 0);
	close(fd);
}

static void
test_versions(void)
{
	struct tls_info info;
	struct tls *t;
	char err[256];
	int fd;

	t = dial(peer(PEER_TLS12), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	if (t != NULL) {
		tls_get_info(t, &info);
		CHECK_STR(info.version, "TLS1.2");
		CHECK(strncmp(info.cipher, "TLS_ECDHE_ECDSA_WITH_", 21) == 0);
		CHECK_INT(info.verified, 1);
		CHECK(echo_ok(t, "x\r\n", 3));
		tls_close(t);
	}
	close(fd);

	/* a peer that speaks at most TLS 1.1 is refused */
	t = dial(peer(PEER_TLS11), SERVER_NAME, 0, IO_MS, &fd, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strncmp(err, "handshake: ", 11) == 0);
	close(fd);
}

/* ---- time limits and broken peers ---- */

/* A peer that accepts the connection and never says a thing. */
static void
test_handshake_timeout(void)
{
	struct tls *t;
	long long start, took;
	char err[256];
	int lfd, port, fd, afd;

	need_init();
	lfd = tcp_listen(&port);
	fd = tcp_connect(port);
	afd = accept(lfd, NULL, NULL);
	start = now_ms();
	t = tls_client(fd, SERVER_NAME, 1, 300, err, sizeof err);
	took = now_ms() - start;
	CHECK(t == NULL);
	CHECK_STR(err, "handshake: timeout");
	if (took < 290 || took > 1500)
		test_fail(__FILE__, __LINE__, "took %lld ms for a 300 ms timeout", took);
	CHECK(fd_open(fd));
	CHECK(!fd_nonblocking(fd));
	close(fd);
	close(afd);
	close(lfd);
}

/* A peer that speaks plain SMTP instead of TLS: fails at once. */
static void
test_not_tls(void)
{
	static const char greeting[] = "220 mx.example.net ESMTP\r\n";
	struct tls *t;
	long long start;
	char err[256];
	int lfd, port, fd, afd;

	need_init();
	lfd = tcp_listen(&port);
	fd = tcp_connect(port);
	afd = accept(lfd, NULL, NULL);
	CHECK(write(afd, greeting, sizeof greeting - 1) == (ssize_t)sizeof greeting - 1);
	start = now_ms();
	t = tls_client(fd, SERVER_NAME, 0, IO_MS, err, sizeof err);
	CHECK(t == NULL);
	CHECK(strncmp(err, "handshake: ", 11) == 0 && strcmp(err, "handshake: timeout") != 0);
	CHECK(now_ms() - start < 1000);
	close(fd);
	close(afd);
	close(lfd);
}

static void
test_read_timeout(void)
{
	struct tls *t;
	long long start, took;
	char err[256], buf[64];
	int fd;

	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t == NULL)
		return;
	start = now_ms();
	CHECK_INT(tls_read(t, buf, sizeof buf, 200), -1);
	took = now_ms() - start;
	CHECK_STR(tls_error(t), "read: timeout");
	if (took < 190 || took > 1500)
		test_fail(__FILE__, __LINE__, "took %lld ms for a 200 ms timeout", took);
	tls_close(t);
	CHECK(fd_open(fd));
	close(fd);
}

/* The peer stops reading (SIGSTOP): writing fills the socket buffers and
 * must end at the deadline. */
static void
test_write_timeout(void)
{
	size_t n = 64 * 1024 * 1024;
	struct tls *t;
	long long start, took;
	char err[256], *big;
	int port, fd;

	need_init();
	if ((port = peer_start(PEER_MAIN)) < 0) {
		test_fail(__FILE__, __LINE__, "cannot start gnutls-serv");
		return;
	}
	t = dial(port, SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	big = calloc(1, n);
	if (t != NULL && big != NULL) {
		peer_kill(port, SIGSTOP);
		start = now_ms();
		CHECK_INT(tls_write(t, big, n, 500), -1);
		took = now_ms() - start;
		CHECK_STR(tls_error(t), "write: timeout");
		if (took > 2500)
			test_fail(__FILE__, __LINE__, "took %lld ms for a 500 ms timeout", took);
		CHECK_INT(tls_write(t, "x", 1, 500), -1);	/* dead now */
		start = now_ms();
		tls_close(t);		/* no close_notify into a full pipe */
		CHECK(now_ms() - start < 200);
	}
	free(big);
	close(fd);
	peer_kill(port, SIGKILL);
}

/* The peer goes away without close_notify: -1, not a clean 0. */
static void
test_peer_gone(void)
{
	struct tls *t;
	char err[256], buf[16];
	int port, fd;

	need_init();
	if ((port = peer_start(PEER_MAIN)) < 0) {
		test_fail(__FILE__, __LINE__, "cannot start gnutls-serv");
		return;
	}
	t = dial(port, SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	if (t != NULL) {
		CHECK(echo_ok(t, "x\r\n", 3));
		peer_kill(port, SIGKILL);
		CHECK_INT(tls_read(t, buf, sizeof buf, IO_MS), -1);
		CHECK(strncmp(tls_error(t), "read: ", 6) == 0);
		CHECK(strcmp(tls_error(t), "read: timeout") != 0);
		tls_close(t);
	}
	close(fd);
}

/* tls_close: the fd stays open and gets its original flags back. */
static void
test_close_keeps_fd(void)
{
	struct tls *t;
	char err[256];
	int fd, nonblock;

	for (nonblock = 0; nonblock <= 1; nonblock++) {
		if ((fd = tcp_connect(peer(PEER_MAIN))) < 0) {
			test_fail(__FILE__, __LINE__, "connect: %s", strerror(errno));
			return;
		}
		if (nonblock)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		t = tls_client(fd, SERVER_NAME, 1, IO_MS, err, sizeof err);
		CHECK(t != NULL);
		CHECK(fd_nonblocking(fd));
		tls_close(t);
		CHECK(fd_open(fd));
		CHECK_INT(fd_nonblocking(fd), nonblock);
		close(fd);
	}
}

/* ---- threads and reloads ---- */

#define THREADS 8
#define ROUNDS 4

static void *
worker(void *arg)
{
	int port = *(int *)arg, i, fd, ok = 0;
	struct tls_info info;
	struct tls *t;
	char err[256], line[32];

	for (i = 0; i < ROUNDS; i++) {
		t = dial(port, SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
		snprintf(line, sizeof line, "round %d\r\n", i);
		if (t != NULL) {
			tls_get_info(t, &info);
			ok += info.verified && echo_ok(t, line, strlen(line));
		}
		tls_close(t);
		if (fd >= 0)
			close(fd);
	}
	return (void *)(long)ok;
}

/* Handshakes from many threads at once while the main thread reloads the
 * trust anchors (same CA) under them. */
static void
test_threads(void)
{
	pthread_t th[THREADS];
	int port = peer(PEER_MAIN), i, started = 0;
	long total = 0;
	void *ok;

	for (i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, worker, &port) == 0)
			started++;
	CHECK_INT(started, THREADS);
	for (i = 0; i < 5; i++)
		init_ca("ca.crt");
	for (i = 0; i < started; i++) {
		pthread_join(th[i], &ok);
		total += (long)ok;
	}
	CHECK_INT(total, (long)started * ROUNDS);
}

/* A reload does not disturb a session in flight: it keeps its own
 * credentials, freed when it closes (ASan checks that part). */
static void
test_reload_in_flight(void)
{
	struct tls *t, *t2;
	char err[256];
	int fd, fd2;

	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK(t != NULL);
	init_ca("other-ca.crt");
	t2 = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd2, err, sizeof err);
	CHECK(t2 == NULL);
	close(fd2);
	if (t != NULL) {
		CHECK(echo_ok(t, "still here\r\n", 12));
		tls_close(t);
	}
	close(fd);
	init_ca("ca.crt");
}

/* tls_shutdown, then tls_init again: works as the first time. */
static void
test_shutdown_reinit(void)
{
	struct tls *t;
	char err[256];
	int fd;

	peer(PEER_MAIN);
	tls_shutdown();
	init_ca("ca.crt");
	t = dial(peer(PEER_MAIN), SERVER_NAME, 1, IO_MS, &fd, err, sizeof err);
	CHECK_STR(err, "");
	CHECK(t != NULL && echo_ok(t, "x\r\n", 3));
	tls_close(t);
	close(fd);
}

const struct test tls_tests[] = {
	{ "verify_ok", test_verify_ok },
	{ "verify_name_forms", test_verify_name_forms },
	{ "verify_wrong_name", test_verify_wrong_name },
	{ "verify_wrong_ca", test_verify_wrong_ca },
	{ "verify_system_store", test_verify_system_store },
	{ "init_errors", test_init_errors },
	{ "noverify_echo", test_noverify_echo },
	{ "noverify_wrong_name", test_noverify_wrong_name },
	{ "sni", test_sni },
	{ "versions", test_versions },
	{ "handshake_timeout", test_handshake_timeout },
	{ "not_tls", test_not_tls },
	{ "read_timeout", test_read_timeout },
	{ "write_timeout", test_write_timeout },
	{ "peer_gone", test_peer_gone },
	{ "close_keeps_fd", test_close_keeps_fd },
	{ "threads", test_threads },
	{ "reload_in_flight", test_reload_in_flight },
	{ "shutdown_reinit", test_shutdown_reinit },
	{ NULL, NULL },
};
