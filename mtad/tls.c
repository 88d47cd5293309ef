/*
 * tls.c -- the GnuTLS seam (see tls.h); the only file that includes
 * gnutls.h.
 *
 * Credentials.  A struct tls_cred (certificate credentials + priority
 * cache) is built whole, then never changed, and is reference-counted.
 * The current one sits in a slot (client_cred: trust anchors for
 * delivery; a server_cred slot with our certificate and key comes with
 * tls_server).  A session takes a reference when it starts and drops it
 * in tls_close, so replacing a slot -- tls_init called again, or a
 * certificate reload on SIGHUP -- never disturbs sessions in flight: they
 * end on the credentials they began with, and the last one out frees
 * them.  Worker threads share credentials read-only, as GnuTLS allows.
 * The server side needs no more than that: a loader that builds a
 * tls_cred with the certificate/key pair and cred_put()s it into
 * server_cred only when the whole load worked (a bad file on SIGHUP keeps
 * the old pair), and tls_server() = cred_get + session_new(GNUTLS_SERVER)
 * + handshake, sharing the I/O calls below.
 *
 * Time.  While a struct tls lives, its fd is non-blocking (the flags it
 * had are restored by tls_close).  Each tls_* call computes one deadline
 * on CLOCK_MONOTONIC; whenever GnuTLS answers GNUTLS_E_AGAIN the call
 * waits in poll() for the direction GnuTLS needs, until that deadline.
 * No signals, no alarm().
 *
 * Errors.  A call that fails leaves a reason in t->err (tls_error);
 * after -1 from tls_read or tls_write the caller only calls tls_close.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "limits.h"
#include "log.h"
#include "str.h"
#include "xalloc.h"

/* TLS 1.2 and 1.3 only, GnuTLS's defaults otherwise; as a server, our
 * order of preference wins (the client ignores that flag). */
static const char TLS_PRIORITIES[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE";
/* poll() waits at most this long at a time (an int of milliseconds). */
#define TLS_POLL_SLICE_MS (3600 * 1000)
/* tls_close: the most close_notify may take to leave. */
#define TLS_CLOSE_TIMEOUT_MS 1000
/* A reason: "certificate verification failed: " + GnuTLS's status text. */
#define TLS_ERR_SIZE 384

struct tls_cred {
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
	unsigned refs;		/* under cred_lock: the slot's and one per session */
};

struct tls {
	gnutls_session_t s;
	struct tls_cred *cred;	/* one reference, dropped by tls_close */
	int fd;
	int fd_flags;		/* F_GETFL as found; restored by tls_close */
	int up;			/* handshake done */
	int dead;		/* record layer broken: no close_notify */
	int verified;
	char name[LIM_DOMAIN + 1];	/* peer's name as checked; "" none */
	char err[TLS_ERR_SIZE];
};

static pthread_mutex_t cred_lock = PTHREAD_MUTEX_INITIALIZER;
static int global_up;			/* gnutls_global_init done (cred_lock) */
static struct tls_cred *client_cred;	/* current, for tls_client (cred_lock) */
static struct tls_cred *server_cred;	/* our certificate, for tls_server */

static void seterr(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tls_fail(struct tls *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reason for the caller's buffer (may be NULL); a cut reason is kept. */
static void
seterr(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || size == 0)
		return;
	va_start(ap, fmt);
	(void)str_vfmt(err, size, fmt, ap);
	va_end(ap);
}

/* t->err := reason; returns -1. */
static int
tls_fail(struct tls *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)str_vfmt(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- credentials ---- */

static void
cred_free(struct tls_cred *c)
{
	if (c->prio != NULL)
		gnutls_priority_deinit(c->prio);
	if (c->x509 != NULL)
		gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* Drop one reference; the last one frees. */
static void
cred_unref(struct tls_cred *c)
{
	int last;

	pthread_mutex_lock(&cred_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&cred_lock);
	if (last)
		cred_free(c);
}

/* A new reference to what *slot holds now, or NULL when it is empty. */
static struct tls_cred *
cred_get(struct tls_cred **slot)
{
	struct tls_cred *c;

	pthread_mutex_lock(&cred_lock);
	if ((c = *slot) != NULL)
		c->refs++;
	pthread_mutex_unlock(&cred_lock);
	return c;
}

/* Make c (or NULL) current in *slot: c's reference moves into the slot,
 * the slot's reference to the previous one is dropped. */
static void
cred_put(struct tls_cred **slot, struct tls_cred *c)
{
	struct tls_cred *old;

	pthread_mutex_lock(&cred_lock);
	old = *slot;
	*slot = c;
	pthread_mutex_unlock(&cred_lock);
	if (old != NULL)
		cred_unref(old);
}

/* Empty credentials with the priority cache (`prio`, or TLS_PRIORITIES
 * when NULL), one reference; NULL with a reason on failure. */
static struct tls_cred *
cred_new_prio(const char *prio, char *err, size_t errsize)
{
	struct tls_cred *c = xcalloc(1, sizeof *c);
	const char *pos = NULL;
	int rc;

	c->refs = 1;
	if ((rc = gnutls_certificate_allocate_credentials(&c->x509)) < 0) {
		c->x509 = NULL;
		seterr(err, errsize, "credentials: %s", gnutls_strerror(rc));
	} else if ((rc = gnutls_priority_init(&c->prio, prio ? prio : TLS_PRIORITIES, &pos)) < 0) {
		c->prio = NULL;
		seterr(err, errsize, "priorities at \"%s\": %s", pos ? pos : "",
		    gnutls_strerror(rc));
	} else {
		return c;
	}
	cred_free(c);
	return NULL;
}

static struct tls_cred *
cred_new(char *err, size_t errsize)
{
	return cred_new_prio(NULL, err, errsize);
}

/* gnutls_global_init, once until tls_shutdown.  0 or -1. */
static int
global_init(char *err, size_t errsize)
{
	int rc = 0;

	pthread_mutex_lock(&cred_lock);
	if (!global_up && (rc = gnutls_global_init()) == 0)
		global_up = 1;
	pthread_mutex_unlock(&cred_lock);
	if (rc < 0) {
		seterr(err, errsize, "gnutls_global_init: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Trust anchors for tls_client: the PEM file `cafile`, or the system store
 * when NULL.  Loaded, not yet used (tls_trust_use); NULL with a reason.
 * An empty store or file is an error: nothing could ever verify.
 */
struct tls_cred *
tls_trust_load(const char *cafile, char *err, size_t errsize)
{
	struct tls_cred *c;
	int rc;

	if (global_init(err, errsize) < 0 || (c = cred_new(err, errsize)) == NULL)
		return NULL;
	if (cafile != NULL)
		rc = gnutls_certificate_set_x509_trust_file(c->x509, cafile,
		    GNUTLS_X509_FMT_PEM);
	else
		rc = gnutls_certificate_set_x509_system_trust(c->x509);
	if (rc <= 0) {
		seterr(err, errsize, "%s: %s", cafile ? cafile : "system trust store",
		    rc < 0 ? gnutls_strerror(rc) : "no CA certificate found");
		cred_unref(c);
		return NULL;
	}
	return c;
}

/* Make loaded anchors current for new tls_client calls (sessions already
 * running keep theirs); takes over the reference. */
void
tls_trust_use(struct tls_cred *c)
{
	cred_put(&client_cred, c);
}

void
tls_cred_drop(struct tls_cred *c)
{
	if (c != NULL)
		cred_unref(c);
}

int
tls_init(const char *cafile, char *err, size_t errsize)
{
	struct tls_cred *c = tls_trust_load(cafile, err, errsize);

	if (c == NULL)
		return -1;
	tls_trust_use(c);
	return 0;
}

/* Forget the credentials and deinit GnuTLS; call once every struct tls is
 * closed.  tls_init may follow. */
void
tls_shutdown(void)
{
	cred_put(&client_cred, NULL);
	cred_put(&server_cred, NULL);
	pthread_mutex_lock(&cred_lock);
	if (global_up)
		gnutls_global_deinit();
	global_up = 0;
	pthread_mutex_unlock(&cred_lock);
}

/* ---- waiting ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline for a call given timeout_ms (<= 0: try once, never wait). */
static long long
deadline_in(int timeout_ms)
{
	return now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

/* After GNUTLS_E_AGAIN: wait until the fd is ready in the direction GnuTLS
 * needs.  0 ready (or hung up: GnuTLS reports that), -1 with "WHAT:
 * timeout" or a poll error in t->err. */
static int
wait_io(struct tls *t, long long deadline, const char *what)
{
	struct pollfd pfd;
	long long left;
	int rc;

	pfd.fd = t->fd;
	pfd.events = gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN;
	pfd.revents = 0;
	while ((left = deadline - now_ms()) > 0) {
		rc = poll(&pfd, 1, left > TLS_POLL_SLICE_MS ? TLS_POLL_SLICE_MS : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return tls_fail(t, "%s: poll: %s", what, strerror(errno));
	}
	return tls_fail(t, "%s: timeout", what);
}

/* t->err := why certificate verification gave `status`; returns -1.
 * Format: "certificate verification failed: GnuTLS's status text". */
static int
verify_fail(struct tls *t, unsigned status)
{
	gnutls_datum_t out = { NULL, 0 };
	char *text = NULL;
	size_t n;

	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
	    0) == 0 && out.data != NULL) {
		text = (char *)out.data;
		for (n = strlen(text); n > 0 && text[n - 1] == ' '; n--)
			text[n - 1] = '\0';
	}
	(void)tls_fail(t, "certificate verification failed: %s%s%s%s",
	    text ? text : "status unknown",
	    status & GNUTLS_CERT_UNEXPECTED_OWNER ? " (server name " : "",
	    status & GNUTLS_CERT_UNEXPECTED_OWNER ? t->name : "",
	    status & GNUTLS_CERT_UNEXPECTED_OWNER ? ")" : "");
	gnutls_free(out.data);
	return -1;
}

/* t->err := "WHAT: reason" for GnuTLS error code rc; returns -1. */
static int
gnutls_fail(struct tls *t, const char *what, int rc)
{
	const char *alert;

	switch (rc) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		return verify_fail(t, gnutls_session_get_verify_cert_status(t->s));
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
	case GNUTLS_E_WARNING_ALERT_RECEIVED:
		alert = gnutls_alert_get_name(gnutls_alert_get(t->s));
		return tls_fail(t, "%s: peer sent alert: %s", what, alert ? alert : "unknown");
	case GNUTLS_E_TIMEDOUT:
		return tls_fail(t, "%s: timeout", what);
	default:
		return tls_fail(t, "%s: %s", what, gnutls_strerror(rc));
	}
}

/* ---- sessions ---- */

/*
 * Free t: GnuTLS state, the credentials reference, t itself; the fd gets
 * its flags back and stays open.
 */
static void
session_free(struct tls *t)
{
	if (t->s != NULL)
		gnutls_deinit(t->s);
	(void)fcntl(t->fd, F_SETFL, t->fd_flags);
	cred_unref(t->cred);
	free(t);
}

/*
 * A session (GNUTLS_CLIENT or GNUTLS_SERVER in `flags`) on fd with the
 * credentials `cred` (whose reference it takes over, even on failure);
 * the fd is made non-blocking.  NULL with a reason on failure.
 */
static struct tls *
session_new(int fd, unsigned flags, struct tls_cred *cred, int timeout_ms, char *err,
    size_t errsize)
{
	struct tls *t = xcalloc(1, sizeof *t);
	int rc;

	t->fd = fd;
	t->cred = cred;
	if ((t->fd_flags = fcntl(fd, F_GETFL)) < 0) {
		seterr(err, errsize, "socket: %s", strerror(errno));
		cred_unref(cred);
		free(t);
		return NULL;
	}
	if (fcntl(fd, F_SETFL, t->fd_flags | O_NONBLOCK) < 0) {
		seterr(err, errsize, "socket: %s", strerror(errno));
	} else if ((rc = gnutls_init(&t->s, flags | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		t->s = NULL;
		seterr(err, errsize, "session: %s", gnutls_strerror(rc));
	} else if ((rc = gnutls_priority_set(t->s, cred->prio)) < 0 ||
	    (rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cred->x509)) < 0) {
		seterr(err, errsize, "session: %s", gnutls_strerror(rc));
	} else {
		gnutls_transport_set_int(t->s, fd);
		/* Our deadline rules; GnuTLS's own clock only backs it up. */
		gnutls_handshake_set_timeout(t->s, timeout_ms > 0 ? (unsigned)timeout_ms : 1);
		return t;
	}
	session_free(t);
	return NULL;
}

/* Run the handshake to its end before the deadline.  0, or -1 with a
 * reason in t->err. */
static int
handshake(struct tls *t, long long deadline)
{
	int rc;

	for (;;) {
		rc = gnutls_handshake(t->s);
		if (rc == GNUTLS_E_SUCCESS) {
			t->up = 1;
			return 0;
		}
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (wait_io(t, deadline, "handshake") < 0)
				return -1;
		} else if (gnutls_error_is_fatal(rc)) {
			t->dead = 1;
			return gnutls_fail(t, "handshake", rc);
		}
		/* else a warning alert: the handshake goes on */
	}
}

/* Is s an IP address (then never sent as SNI, RFC 6066 3)? */
static int
is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/*
 * t->name := the name to send and check: servername without a trailing
 * dot; an address literal loses its brackets and tag ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]", RFC 5321 4.1.3).  0, or -1 when too long.
 */
static int
set_name(struct tls *t, const char *servername)
{
	size_t n;

	if (servername == NULL)
		servername = "";
	if (servername[0] == '[') {
		servername += 1 + str_iprefix(servername + 1, "IPv6:");
		if (str_copy(t->name, sizeof t->name, servername) < 0)
			return -1;
		if ((n = strlen(t->name)) > 0 && t->name[n - 1] == ']')
			t->name[n - 1] = '\0';
		return 0;
	}
	if (str_copy(t->name, sizeof t->name, servername) < 0)
		return -1;
	if ((n = strlen(t->name)) > 0 && t->name[n - 1] == '.')
		t->name[n - 1] = '\0';
	return 0;
}

/* Non-verify mode: would the chain and t->name have passed?  Never fails
 * the session; the answer goes to tls_info.verified. */
static int
peer_verified(struct tls *t)
{
	unsigned status;

	if (t->name[0] == '\0' ||
	    gnutls_certificate_verify_peers3(t->s, t->name, &status) < 0)
		return 0;
	return status == 0;
}

/* Name, SNI and (with verify) the in-handshake check.  0 or -1. */
static int
client_setup(struct tls *t, const char *servername, int verify)
{
	int rc;

	if (set_name(t, servername) < 0)
		return tls_fail(t, "server name too long");
	if (verify && t->name[0] == '\0')
		return tls_fail(t, "certificate verification needs a server name");
	if (t->name[0] != '\0' && !is_ip(t->name) &&
	    (rc = gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, t->name,
	    strlen(t->name))) < 0)
		return tls_fail(t, "server name: %s", gnutls_strerror(rc));
	/* GnuTLS checks chain and name before it sends Finished, and on
	 * failure sends the alert itself. */
	if (verify)
		gnutls_session_set_verify_cert(t->s, t->name, 0);
	return 0;
}

/*
 * Client handshake (see tls.h).  `servername` is a DNS name in A-labels
 * or an IP address (literal); only a DNS name goes out as SNI.  Without
 * verify the chain and name are still checked after the handshake and
 * only reported, in tls_info.verified.
 */
struct tls *
tls_client(int fd, const char *servername, int verify, int timeout_ms, char *err,
    size_t errsize)
{
	long long deadline = deadline_in(timeout_ms);
	struct tls_cred *cred;
	struct tls *t;

	if ((cred = cred_get(&client_cred)) == NULL)
		fatalx("tls_client without tls_init");
	if ((t = session_new(fd, GNUTLS_CLIENT, cred, timeout_ms, err, errsize)) == NULL)
		return NULL;
	if (client_setup(t, servername, verify) == 0 && handshake(t, deadline) == 0) {
		t->verified = verify || peer_verified(t);
		return t;
	}
	seterr(err, errsize, "%s", t->err);
	session_free(t);
	return NULL;
}

/* ---- server side ---- */

/*
 * Our certificate chain and key (PEM, the chain in one file) with the
 * priorities (NULL: the default), for tls_server.  Loaded, not yet used
 * (tls_cert_use); NULL with a reason.
 */
struct tls_cred *
tls_cert_load(const char *cert, const char *key, const char *priorities,
    char *err, size_t errsize)
{
	struct tls_cred *c;
	int rc;

	if (global_init(err, errsize) < 0 ||
	    (c = cred_new_prio(priorities, err, errsize)) == NULL)
		return NULL;
	if ((rc = gnutls_certificate_set_x509_key_file(c->x509, cert, key,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		seterr(err, errsize, "%s, %s: %s", cert, key, gnutls_strerror(rc));
		cred_unref(c);
		return NULL;
	}
	return c;
}

/* Make a loaded certificate current for new tls_server calls (NULL: none,
 * STARTTLS is no longer offered); sessions in flight keep theirs. */
void
tls_cert_use(struct tls_cred *c)
{
	cred_put(&server_cred, c);
}

int
tls_server_load(const char *cert, const char *key, const char *priorities,
    char *err, size_t errsize)
{
	struct tls_cred *c = NULL;

	if (cert != NULL && (c = tls_cert_load(cert, key, priorities, err, errsize)) == NULL)
		return -1;
	tls_cert_use(c);
	return 0;
}

int
tls_server_ready(void)
{
	int up;

	pthread_mutex_lock(&cred_lock);
	up = server_cred != NULL;
	pthread_mutex_unlock(&cred_lock);
	return up;
}

/* Handshake as a server on fd (after STARTTLS, or at once for implicit
 * TLS).  NULL with a reason when it fails or no certificate is loaded. */
struct tls *
tls_server(int fd, int timeout_ms, char *err, size_t errsize)
{
	struct tls_cred *c = cred_get(&server_cred);
	struct tls *t;

	if (c == NULL) {
		seterr(err, errsize, "no certificate loaded");
		return NULL;
	}
	if ((t = session_new(fd, GNUTLS_SERVER, c, timeout_ms, err, errsize)) == NULL)
		return NULL;
	if (handshake(t, deadline_in(timeout_ms)) == 0)
		return t;
	seterr(err, errsize, "%s", t->err);
	session_free(t);
	return NULL;
}

/* Read one record's worth (at most n bytes) before the deadline. */
ssize_t
tls_read(struct tls *t, void *buf, size_t n, int timeout_ms)
{
	long long deadline = deadline_in(timeout_ms);
	ssize_t rc;

	if (t->dead)
		return tls_fail(t, "read: session already failed");
	for (;;) {
		rc = gnutls_record_recv(t->s, buf, n);
		if (rc >= 0)
			return rc;
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
			/* rehandshake requests and warning alerts end it too */
			t->dead |= gnutls_error_is_fatal((int)rc);
			return gnutls_fail(t, "read", (int)rc);
		}
		if (wait_io(t, deadline, "read") < 0)
			return -1;
	}
}

/* Write all n bytes before the deadline.  A timeout leaves a record half
 * sent: the session is dead then. */
int
tls_write(struct tls *t, const void *buf, size_t n, int timeout_ms)
{
	long long deadline = deadline_in(timeout_ms);
	const char *p = buf;
	ssize_t rc;

	if (t->dead)
		return tls_fail(t, "write: session already failed");
	while (n > 0) {
		rc = gnutls_record_send(t->s, p, n);
		if (rc > 0) {
			p += rc;
			n -= (size_t)rc;
		} else if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			/* GnuTLS wants the same p, n again */
			if (wait_io(t, deadline, "write") < 0) {
				t->dead = 1;
				return -1;
			}
		} else {
			t->dead = 1;
			return gnutls_fail(t, "write", rc == 0 ? GNUTLS_E_INTERNAL_ERROR : (int)rc);
		}
	}
	return 0;
}

size_t
tls_pending(struct tls *t)
{
	return t->dead ? 0 : gnutls_record_check_pending(t->s);
}

/* Version as GnuTLS names it ("TLS1.3", "TLS1.2"), the suite's IANA name. */
void
tls_get_info(struct tls *t, struct tls_info *info)
{
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(t->s));
	const char *c = gnutls_ciphersuite_get(t->s);

	memset(info, 0, sizeof *info);
	(void)str_copy(info->version, sizeof info->version, v ? v : "unknown");
	(void)str_copy(info->cipher, sizeof info->cipher, c ? c : "unknown");
	info->verified = t->verified;
}

/* The last failure's reason, "" when none. */
const char *
tls_error(struct tls *t)
{
	return t->err;
}

/* close_notify (when the session is sound), then free; NULL is a no-op.
 * The fd stays open with its original flags: close it after this. */
void
tls_close(struct tls *t)
{
	long long deadline;
	int rc;

	if (t == NULL)
		return;
	if (t->up && !t->dead) {
		deadline = deadline_in(TLS_CLOSE_TIMEOUT_MS);
		while ((rc = gnutls_bye(t->s, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
		    rc == GNUTLS_E_INTERRUPTED)
			if (wait_io(t, deadline, "close") < 0)
				break;
	}
	session_free(t);
}
