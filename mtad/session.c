/*
 * session.c -- one thread per inbound connection (contract in session.h).
 * The protocol is smtp_server's; this file only moves bytes, keeps time and
 * stores messages.
 */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "limits.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "rate.h"
#include "scheduler.h"
#include "smtp_server.h"
#include "str.h"
#include "tls.h"
#include "signer.h"
#include "writer.h"
#include "xalloc.h"

struct session {
	int fd;
	char id[LIM_SESSION_ID + 1];
	char peer[64];			/* address only */
	unsigned port;
	char listener[LIM_DOMAIN + 16];
	enum listen_kind kind;
	struct conf *conf;
	int trusted;
	/* the local listener: the caller's uid and login name (SO_PEERCRED) */
	uid_t uid;
	char user[LIM_LOCAL_USER + 1];	/* "" when it has none we accept */
	int local_free;			/* may choose its envelope sender */
	int shutdown_seen;
	time_t grace_end;		/* when shutdown_seen inside DATA */
	struct tls *tls;		/* after STARTTLS, or implicit TLS */
	const char *end;		/* why the session ended, for the log */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t gone;
	int count;
	int shutdown_pipe[2];		/* readable once shutdown began */
	struct rate *local_rate;	/* messages per local uid */
} sess = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, { -1, -1 }, NULL };

int
session_init(void)
{
	sess.local_rate = rate_new(LIM_RATE_KEYS);
	return pipe2(sess.shutdown_pipe, O_CLOEXEC | O_NONBLOCK);
}

static time_t
session_now(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static void
session_new_id(void *ctx, char *out, size_t size)
{
	(void)ctx;
	queue_new_id(out, size);
}

static time_t
session_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A local user's message rate (`local_rate`); root is not limited. */
static int
session_mail_allowed(void *ctx, char *reply, size_t size)
{
	struct session *ss = ctx;
	struct timespec ts;
	struct logline l;
	unsigned wait;

	if (ss->uid == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wait = rate_take(sess.local_rate, (unsigned long)ss->uid, ss->conf->local_rate,
	    ss->conf->local_rate_period, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	if (wait == 0)
		return 0;
	(void)str_fmt(reply, size, "450 4.7.1 Error: too much mail from uid %lu (%u/%s), try "
	    "again in %us", (unsigned long)ss->uid, ss->conf->local_rate,
	    ss->conf->local_rate_period == 60 ? "m" : "h", wait);
	log_begin(&l, ss->id, "rate_limited");
	log_num(&l, "uid", (long long)ss->uid);
	log_str(&l, "user", ss->user);
	log_num(&l, "wait", wait);
	log_end(&l);
	return -1;
}

/* Send everything queued in the engine's output; -1 if the peer is gone. */
static int
session_flush(struct session *ss, struct smtp_server *srv)
{
	struct buf *out = smtp_server_output(srv);
	struct pollfd pfd = { ss->fd, POLLOUT, 0 };

	if (ss->tls != NULL && out->len > 0) {
		if (tls_write(ss->tls, out->data, out->len, LIM_SEND_TIMEOUT * 1000) < 0) {
			ss->end = "send_failed";
			return -1;
		}
		buf_consume(out, out->len);
	}
	while (out->len > 0) {
		ssize_t n = send(ss->fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf_consume(out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    poll(&pfd, 1, LIM_SEND_TIMEOUT * 1000) > 0)
			continue;
		ss->end = "send_failed";
		return -1;
	}
	return 0;
}

/* Read through TLS (a record may need more bytes: bounded by timeout). */
static ssize_t
session_recv(struct session *ss, char *in, size_t size, int timeout_ms)
{
	ssize_t n = tls_read(ss->tls, in, size, timeout_ms);

	if (n <= 0)
		ss->end = n == 0 ? "eof" : "tls_read_failed";
	return n > 0 ? n : 0;
}

/* Wait for input.  Returns bytes read, or 0 when the session must end;
 * the engine has then been given its 421 where one is due. */
static ssize_t
session_read(struct session *ss, struct smtp_server *srv, char *in, size_t size)
{
	for (;;) {
		struct pollfd pfd[2] = { { ss->fd, POLLIN, 0 }, { sess.shutdown_pipe[0], POLLIN, 0 } };
		int in_data = smtp_server_state(srv) == SMTP_S_DATA;
		long timeout = (long)(in_data ? ss->conf->timeout.data : ss->conf->timeout.command) * 1000;
		int nfds = 2, rc;
		ssize_t n;

		if (ss->tls != NULL && tls_pending(ss->tls) > 0)
			return session_recv(ss, in, size, (int)timeout);
		if (ss->shutdown_seen) {
			long left = (long)(ss->grace_end - session_mono()) * 1000;

			if (!in_data || left <= 0) {
				smtp_server_shutdown(srv);
				ss->end = "shutdown";
				return 0;
			}
			timeout = left < timeout ? left : timeout;
			nfds = 1;
		}
		rc = poll(pfd, (nfds_t)nfds, (int)timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			ss->end = "poll_failed";
			return 0;
		}
		if (rc == 0) {
			if (ss->shutdown_seen)
				continue;	/* grace over: handled above */
			smtp_server_timeout(srv);
			ss->end = "timeout";
			return 0;
		}
		if (nfds == 2 && pfd[1].revents) {
			ss->shutdown_seen = 1;
			ss->grace_end = session_mono() + LIM_SHUTDOWN_GRACE;
			continue;
		}
		if (ss->tls != NULL)
			return session_recv(ss, in, size, (int)timeout);
		if ((n = recv(ss->fd, in, size, 0)) > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		ss->end = n == 0 ? "eof" : "recv_failed";
		return 0;
	}
}

static int
session_insert(struct queue *q, void *msg)
{
	return queue_insert_message(q, msg);
}

/* Recipients in the order they are stored: by domain (A-labels), in RCPT
 * order within one.  A domain's recipients are then neighbours in the
 * queue's table and indexes, so recording one delivery (one domain's
 * recipients of a message) writes a few pages, not one per recipient. */
static int
session_rcpt_cmp(const void *a, const void *b, void *ctx)
{
	const struct smtp_rcpt *v = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(v[x].domain, v[y].domain);

	return c != 0 ? c : x < y ? -1 : x > y;
}

static struct queue_rcpt *
session_rcpts(const struct smtp_txn *t)
{
	struct queue_rcpt *rcpts = xcalloc(t->nrcpts, sizeof *rcpts);
	size_t *order = xcalloc(t->nrcpts, sizeof *order), i;

	for (i = 0; i < t->nrcpts; i++)
		order[i] = i;
	qsort_r(order, t->nrcpts, sizeof *order, session_rcpt_cmp, t->rcpts);
	for (i = 0; i < t->nrcpts; i++) {
		const struct smtp_rcpt *r = &t->rcpts[order[i]];

		rcpts[i].address = r->mailbox;
		rcpts[i].domain = r->domain;
		rcpts[i].notify = r->notify;
		rcpts[i].orcpt = r->orcpt;
	}
	free(order);
	return rcpts;
}

/* Make the complete message durable, then let the engine answer. */
static void
session_store(struct session *ss, struct smtp_server *srv)
{
	static const char *body_type[] = { "", "7BIT", "8BITMIME" };
	static const char *ret[] = { "", "FULL", "HDRS" };
	char from_domain[LIM_DOMAIN + 1];
	int dkim = signer_sign(smtp_server_msg(srv), time(NULL), from_domain,
	    sizeof from_domain);
	const struct smtp_txn *t = smtp_server_txn(srv);
	struct queue_rcpt *rcpts = session_rcpts(t);
	struct queue_msg m = {
		.queue_id = t->queue_id, .sender = t->sender,
		.client_addr = ss->peer, .helo = smtp_server_helo(srv),
		.body_type = body_type[t->body], .smtputf8 = t->smtputf8,
		.dsn_ret = ret[t->ret], .dsn_envid = t->envid,
		.auth_user = smtp_server_auth_user(srv), .tls = smtp_server_tls_info(srv),
		.received_at = t->received_at, .body = t->msg.data, .size = t->msg.len,
		.rcpts = rcpts, .nrcpts = t->nrcpts,
	};
	struct writer_job job = { .fn = session_insert, .arg = &m };
	struct logline l;
	size_t i;
	int rc;

	rc = writer_run(&job);
	log_begin(&l, t->queue_id, rc == QUEUE_OK ? "received" : "store_failed");
	log_str(&l, "session", ss->id);
	log_str(&l, "from", t->sender);
	log_num(&l, "nrcpt", (long long)t->nrcpts);
	log_num(&l, "size", (long long)t->msg.len);
	log_str(&l, "client", ss->peer);
	log_str(&l, "dkim", dkim > 0 ? from_domain : dkim < 0 ? "failed" : "none");
	if (m.auth_user)
		log_str(&l, "user", m.auth_user);
	else if (ss->kind == LISTEN_LOCAL)
		log_str(&l, "user", ss->user);
	if (m.tls)
		log_str(&l, "tls", m.tls);
	if (rc != QUEUE_OK)
		log_str(&l, "error", rc == QUEUE_DUP ? "queue ID taken" : "database");
	log_end(&l);
	for (i = 0; rc == QUEUE_OK && i < t->nrcpts; i++)
		if (i == 0 || strcmp(rcpts[i].domain, rcpts[i - 1].domain) != 0)
			sched_notify(rcpts[i].domain);
	free(rcpts);
	smtp_server_stored(srv, rc == QUEUE_OK);
}

/* The handshake after "220 Ready to start TLS" (or, for an implicit-TLS
 * listener, before the greeting).  0, or -1: the session ends. */
static int
session_tls(struct session *ss, struct smtp_server *srv)
{
	struct tls_info info;
	struct logline l;
	char err[256];

	if ((ss->tls = tls_server(ss->fd, LIM_TLS_HANDSHAKE * 1000, err, sizeof err)) == NULL) {
		log_begin(&l, ss->id, "tls_failed");
		log_str(&l, "client", ss->peer);
		log_str(&l, "error", err);
		log_end(&l);
		ss->end = "tls_failed";
		return -1;
	}
	tls_get_info(ss->tls, &info);
	smtp_server_tls(srv, info.version, info.cipher);
	log_begin(&l, ss->id, "tls");
	log_str(&l, "client", ss->peer);
	log_str(&l, "version", info.version);
	log_str(&l, "cipher", info.cipher);
	log_end(&l);
	return 0;
}

/* Check AUTH credentials (never logged); a failure's reply is held back
 * and counted for the client's address (auth.h). */
static void
session_auth(struct session *ss, struct smtp_server *srv)
{
	const char *user, *pass;
	char domains[LIM_AUTH_DOMAINS + 1] = "";
	enum smtp_auth_verdict v = SMTP_AUTH_BLOCKED;
	struct logline l;
	int any = 0;

	smtp_server_auth_creds(srv, &user, &pass);
	if (!auth_blocked(ss->peer, time(NULL))) {
		enum auth_result r = auth_check(user, pass, domains, sizeof domains, &any);

		v = r == AUTH_OK ? SMTP_AUTH_OK : r == AUTH_TEMPFAIL ? SMTP_AUTH_TEMPFAIL :
		    SMTP_AUTH_FAIL;
		if (v == SMTP_AUTH_FAIL)
			sleep(auth_failure(ss->peer, time(NULL)));
	}
	log_begin(&l, ss->id, "auth");
	log_str(&l, "client", ss->peer);
	log_str(&l, "user", user);
	log_str(&l, "result", v == SMTP_AUTH_OK ? "ok" : v == SMTP_AUTH_FAIL ? "failed" :
	    v == SMTP_AUTH_TEMPFAIL ? "tempfail" : "blocked");
	log_end(&l);
	smtp_server_auth_result(srv, v, any, domains);
}

/* Give the engine what was read; -1 when the peer cannot take replies. */
static int
session_feed(struct session *ss, struct smtp_server *srv, const char *in, size_t n)
{
	size_t off = 0, used;

	while (off < n) {
		enum smtp_action a = smtp_server_input(srv, in + off, n - off, &used);

		off += used;
		if (a == SMTP_ACT_STORE)
			session_store(ss, srv);
		else if (a == SMTP_ACT_AUTH)
			session_auth(ss, srv);
		else if (a == SMTP_ACT_FLUSH && session_flush(ss, srv) < 0)
			return -1;
		else if (a == SMTP_ACT_STARTTLS)	/* the rest was dropped */
			return session_flush(ss, srv) < 0 ? -1 : session_tls(ss, srv);
		else if (a == SMTP_ACT_MORE || a == SMTP_ACT_CLOSE)
			break;		/* MORE: all used; CLOSE: the rest is dropped */
	}
	return 0;
}

static void
session_loop(struct session *ss, struct smtp_server *srv)
{
	char *in = xmalloc(LIM_READ_CHUNK);
	ssize_t n;

	if (ss->kind == LISTEN_SUBMISSIONS && session_tls(ss, srv) < 0) {
		free(in);
		return;		/* RFC 8314: TLS first, then the greeting */
	}
	while (session_flush(ss, srv) == 0 && smtp_server_state(srv) != SMTP_S_CLOSED) {
		if ((n = session_read(ss, srv, in, LIM_READ_CHUNK)) == 0) {
			(void)session_flush(ss, srv);
			break;
		}
		if (session_feed(ss, srv, in, (size_t)n) < 0)
			break;
	}
	free(in);
}

static void
session_log_end(struct session *ss, struct smtp_server *srv)
{
	const struct smtp_counts *c = smtp_server_counts(srv);
	struct logline l;

	if (ss->end == NULL)
		ss->end = c->quit ? "quit" : "closed";
	log_begin(&l, ss->id, "disconnect");
	log_str(&l, "client", ss->peer);
	log_str(&l, "reason", ss->end);
	log_str(&l, "helo", smtp_server_helo(srv));
	log_num(&l, "ehlo", c->ehlo + c->helo);
	log_num(&l, "mail", c->mail);
	log_num(&l, "rcpt", c->rcpt);
	log_num(&l, "data", c->data);
	log_num(&l, "errors", c->errors);
	log_num(&l, "accepted", c->accepted);
	log_end(&l);
}

static void *
session_main(void *arg)
{
	struct session *ss = arg;
	struct smtp_env env = {
		.hostname = ss->conf->hostname, .session_id = ss->id,
		.client_trusted = ss->trusted, .listener = ss->kind,
		.tls_offer = ss->kind != LISTEN_SUBMISSIONS && tls_server_ready(),
		.max_message_size = ss->conf->max_message_size,
		.max_recipients = ss->conf->max_recipients,
		.max_errors = ss->conf->max_errors,
		.local_uid = (unsigned long)ss->uid, .local_user = ss->user[0] ? ss->user : NULL,
		.local_free = ss->local_free,
		.ctx = ss, .mail_allowed = ss->kind == LISTEN_LOCAL ? session_mail_allowed : NULL,
		.new_queue_id = session_new_id, .now = session_now,
	};
	struct smtp_server *srv;
	struct logline l;

	pthread_setname_np(pthread_self(), "mtad-smtpd");
	(void)str_copy(env.client_addr, sizeof env.client_addr, ss->peer);
	srv = smtp_server_new(&env);
	log_begin(&l, ss->id, "connect");
	if (ss->kind == LISTEN_LOCAL)
		log_str(&l, "client", ss->peer);
	else
		log_fmt(&l, "client", "%s%s%s:%u", strchr(ss->peer, ':') ? "[" : "", ss->peer,
		    strchr(ss->peer, ':') ? "]" : "", ss->port);
	log_str(&l, "listener", ss->listener);
	log_str(&l, "kind", conf_listen_kind_name(ss->kind));
	log_str(&l, "trusted", ss->kind == LISTEN_LOCAL ? "local" : ss->trusted ? "yes" : "no");
	if (ss->kind == LISTEN_LOCAL) {
		log_num(&l, "uid", (long long)ss->uid);
		log_str(&l, "user", ss->user);
	}
	log_end(&l);
	session_loop(ss, srv);
	session_log_end(ss, srv);
	smtp_server_free(srv);
	tls_close(ss->tls);
	close(ss->fd);
	conf_unref(ss->conf);
	free(ss);
	pthread_mutex_lock(&sess.lock);
	sess.count--;
	pthread_cond_broadcast(&sess.gone);
	pthread_mutex_unlock(&sess.lock);
	return NULL;
}

/* Over the cap, or no thread to be had: one line, then hang up. */
static void
session_refuse(int fd, const char *host, const char *peer, const char *why)
{
	char line[LIM_REPLY_LINE];
	struct logline l;

	(void)str_fmt(line, sizeof line, "421 4.7.0 %s Error: too many connections, "
	    "try again later\r\n", host);
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	log_begin(&l, "mtad", "refused");
	log_str(&l, "client", peer);
	log_str(&l, "reason", why);
	log_end(&l);
}

static void
session_peer(struct session *ss, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		ss->port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ss->peer, sizeof ss->peer);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, ss->peer, sizeof ss->peer);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		ss->port = ntohs(sin->sin_port);
		inet_ntop(AF_INET, &sin->sin_addr, ss->peer, sizeof ss->peer);
	} else {
		(void)str_copy(ss->peer, sizeof ss->peer, "unknown");
	}
}

/* A login name we can put in front of "@hostname": letters, digits and
 * ._- (what useradd allows, less '$'). */
static int
session_user_ok(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-");

	return n > 0 && name[n] == '\0' && n <= LIM_LOCAL_USER && name[0] != '.' &&
	    name[n - 1] != '.' && strstr(name, "..") == NULL;
}

/* Who is on the other end of the local socket: the kernel says (the
 * peer's uid at connect time), the password database names it. */
static void
session_local_peer(struct session *ss)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	ss->uid = (uid_t)-1;
	if (getsockopt(ss->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		ss->uid = cred.uid;
	(void)str_fmt(ss->peer, sizeof ss->peer, "local:%lu", (unsigned long)ss->uid);
	if (ss->uid == (uid_t)-1 ||
	    getpwuid_r(ss->uid, &pw, pwbuf, sizeof pwbuf, &res) != 0 || res == NULL ||
	    !session_user_ok(pw.pw_name))
		return;		/* user stays "": the engine refuses MAIL */
	(void)str_copy(ss->user, sizeof ss->user, pw.pw_name);
	ss->local_free = policy_local_sender_free(ss->conf, ss->uid, ss->user, geteuid());
}

static int
session_spawn(struct session *ss)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LIM_THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, session_main, ss);
	pthread_attr_destroy(&attr);
	return rc;
}

void
session_start(int fd, const struct sockaddr *peer, socklen_t peerlen,
    enum listen_kind kind, const char *listener)
{
	struct session *ss = xcalloc(1, sizeof *ss);
	int one = 1, full;

	(void)peerlen;
	ss->fd = fd;
	ss->kind = kind;
	ss->conf = conf_current();
	if (kind == LISTEN_LOCAL)
		session_local_peer(ss);
	else
		session_peer(ss, peer);
	(void)str_copy(ss->listener, sizeof ss->listener, listener);
	pthread_mutex_lock(&sess.lock);
	if (!(full = sess.count >= (int)ss->conf->max_sessions))
		sess.count++;
	pthread_mutex_unlock(&sess.lock);
	if (full) {
		session_refuse(fd, ss->conf->hostname, ss->peer, "max_sessions");
		goto fail;
	}
	queue_new_id(ss->id, sizeof ss->id);
	ss->trusted = policy_client_trusted(ss->conf, peer);
	if (kind != LISTEN_LOCAL)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (session_spawn(ss) == 0)
		return;
	pthread_mutex_lock(&sess.lock);
	sess.count--;
	pthread_mutex_unlock(&sess.lock);
	session_refuse(fd, ss->conf->hostname, ss->peer, "no thread");
fail:
	conf_unref(ss->conf);
	free(ss);
}

void
session_shutdown(void)
{
	/* The pipe stays readable: every session's poll sees it. */
	if (write(sess.shutdown_pipe[1], "x", 1) < 0)
		log_msg("mtad", "bug", "shutdown pipe: write failed");
}

int
session_wait(int seconds)
{
	struct timespec until;
	int left;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&sess.lock);
	while (sess.count > 0 &&
	    pthread_cond_timedwait(&sess.gone, &sess.lock, &until) != ETIMEDOUT)
		;
	left = sess.count;
	pthread_mutex_unlock(&sess.lock);
	return left;
}

int
session_count(void)
{
	int n;

	pthread_mutex_lock(&sess.lock);
	n = sess.count;
	pthread_mutex_unlock(&sess.lock);
	return n;
}
