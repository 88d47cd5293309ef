/*
 * sendmail.c -- sendmail for local programs (contract in sendmail.h and
 * mtactl(8)).
 *
 * The message is read from stdin (lines may end in LF or CR LF; without
 * -i a line holding only "." ends it, as sendmail's does), recipients come
 * from the arguments and, with -t, from To:, Cc: and Bcc: (the Bcc: lines
 * are then removed).  A From: is added when missing (with -F NAME).  The
 * message goes to mtad in SMTP over state_dir/submit.sock, a socket every
 * local user may write to: mtad learns the caller's uid from the kernel
 * (SO_PEERCRED), records it in Received:, rate-limits it, and sets the
 * envelope sender to user@hostname unless the user may choose (-f).
 *
 * Exit codes are sendmail's (sysexits.h): 0 sent to the queue, 64 usage,
 * 65 the message was refused, 67 a recipient was refused, 74 input
 * error, 75 try again later (mtad not running, or a temporary refusal),
 * 77 not allowed.
 */
#include "sendmail.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "b64.h"
#include "buf.h"
#include "conf.h"
#include "limits.h"
#include "log.h"
#include "policy.h"
#include "smtp_client.h"
#include "str.h"
#include "xalloc.h"

enum { SM_OK = 0, SM_USAGE = 64, SM_DATAERR = 65, SM_NOUSER = 67, SM_IOERR = 74,
	SM_TEMPFAIL = 75, SM_NOPERM = 77 };

#define SM_MAX_RCPTS 1000
#define SM_TIMEOUT_MS (5 * 60 * 1000)

struct sm {
	int t, i, bs;			/* -t, -i/-oi, -bs */
	const char *from, *fullname;	/* -f, -F */
	const char *conf;		/* -C FILE */
	char *rcpts[SM_MAX_RCPTS];
	size_t nrcpts;
	struct buf msg;			/* the message, CR LF lines */
	char sender[LIM_MAILBOX + 1];	/* "" for <> */
	char from_addr[LIM_MAILBOX + 1];	/* for an added From: */
};

static int sm_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
sm_error(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int
sm_add_rcpt(struct sm *s, const char *a, size_t n)
{
	while (n > 0 && strchr(" \t\r\n", *a))
		a++, n--;
	while (n > 0 && strchr(" \t\r\n", a[n - 1]))
		n--;
	if (n == 0)
		return 0;
	if (s->nrcpts == SM_MAX_RCPTS || n > LIM_MAILBOX)
		return -1;
	s->rcpts[s->nrcpts++] = xstrndup(a, n);
	return 0;
}

static int sm_header_rcpts(struct sm *s, const char *value, size_t len);

/* One option at argv[*k] (its value may be the next word). */
static int
sm_option(struct sm *s, int argc, char **argv, int *k)
{
	const char *o = argv[*k];

	if (strcmp(o, "-t") == 0)
		s->t = 1;
	else if (strcmp(o, "-i") == 0 || strcmp(o, "-oi") == 0)
		s->i = 1;
	else if (strcmp(o, "-bs") == 0)
		s->bs = 1;
	else if (o[1] == 'f' || o[1] == 'F' || o[1] == 'C') {
		const char *v = o[2] ? o + 2 : *k + 1 < argc ? argv[++*k] : NULL;

		if (v == NULL)
			return sm_error(SM_USAGE, "%s needs a value", o);
		*(o[1] == 'f' ? &s->from : o[1] == 'F' ? &s->fullname : &s->conf) = v;
	} else if (o[1] == 'o' || strcmp(o, "-bm") == 0 || strcmp(o, "-v") == 0)
		;	/* other -o options, the default mode: nothing to do */
	else
		return sm_error(SM_USAGE, "option %s is not supported", o);
	return SM_OK;
}

/* Options as sendmail's, anywhere before "--"; the other words are
 * recipients, each an address list ("a@b, Name <c@d>"). */
static int
sm_args(struct sm *s, int argc, char **argv)
{
	int k, opts = 1, rc;

	for (k = 1; k < argc; k++) {
		if (opts && strcmp(argv[k], "--") == 0)
			opts = 0;
		else if (opts && argv[k][0] == '-' && argv[k][1] != '\0') {
			if ((rc = sm_option(s, argc, argv, &k)) != SM_OK)
				return rc;
		} else if (sm_header_rcpts(s, argv[k], strlen(argv[k])) < 0)
			return sm_error(SM_USAGE, "too many or too long recipients");
	}
	return SM_OK;
}

/* stdin into s->msg as CR LF lines: LF or CR LF accepted, stray CRs
 * dropped (mtad refuses bare CRs); without -i a "." line ends it. */
static int
sm_read(struct sm *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = SM_OK;

	buf_init(&s->msg, LIM_MAX_MESSAGE_SIZE);
	while (rc == SM_OK && (n = getline(&line, &cap, stdin)) > 0) {
		size_t len = (size_t)n, i;

		if (line[len - 1] == '\n')
			len--;
		if (!s->i && (len == 1 || (len == 2 && line[1] == '\r')) && line[0] == '.')
			break;
		for (i = 0; i < len && rc == SM_OK; i++)
			if (line[i] != '\r' && buf_append(&s->msg, line + i, 1) < 0)
				rc = sm_error(SM_DATAERR, "message too large");
		if (rc == SM_OK && buf_append(&s->msg, "\r\n", 2) < 0)
			rc = sm_error(SM_DATAERR, "message too large");
	}
	if (rc == SM_OK && ferror(stdin))
		rc = sm_error(SM_IOERR, "cannot read the message: %s", strerror(errno));
	free(line);
	return rc;
}

/* v without its comments "(...)" (nested, outside quoted strings). */
static void
sm_uncomment(const char *v, size_t n, struct buf *out)
{
	int quoted = 0, depth = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = v[i];

		if (ch == '\\' && i + 1 < n && (quoted || depth)) {
			if (!depth)
				(void)buf_append(out, v + i, 2);
			i++;
			continue;
		}
		if (!depth && ch == '"')
			quoted = !quoted;
		else if (!quoted && ch == '(')
			depth++;
		else if (!quoted && ch == ')' && depth > 0) {
			depth--;
			continue;
		}
		if (!depth)
			(void)buf_append(out, &ch, 1);
	}
}

/* The addresses of a To/Cc/Bcc value: comma-separated, each "<a@b>" or
 * "a@b", "Name <a@b>", or a group "name: a@b, c@d;"; comments dropped. */
static int
sm_header_rcpts(struct sm *s, const char *value, size_t len)
{
	struct buf b;
	const char *v;
	size_t n, i, start = 0, lt = 0, gt = 0;
	int quoted = 0, angle = 0, rc = 0;

	buf_init(&b, len + 1);
	sm_uncomment(value, len, &b);
	v = b.data ? b.data : "";
	n = b.len;
	for (i = 0; i <= n && rc == 0; i++) {
		char ch = i < n ? v[i] : ',';

		if (ch == '"' && (i == 0 || v[i - 1] != '\\'))
			quoted = !quoted;
		if (quoted)
			continue;
		if (ch == '<')
			angle = 1, lt = i;
		else if (ch == '>')
			angle = 0, gt = i;
		else if (ch == ':' && !angle)
			start = i + 1;	/* a group's name */
		if ((ch != ',' && ch != ';') || angle)
			continue;
		if (gt > lt && lt >= start)
			rc = sm_add_rcpt(s, v + lt + 1, gt - lt - 1);
		else
			rc = sm_add_rcpt(s, v + start, i - start);
		start = i + 1;
	}
	buf_free(&b);
	return rc;
}

/* Does the line at p start a header field ("Name:", RFC 5322 2.2)? */
static int
sm_is_field(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q > ' ' && *q < 127 && *q != ':')
		q++;
	return q > p && q < end && *q == ':';
}

/* A UTF-8 name as RFC 2047 encoded-words of at most 75 characters
 * (45 octets each, cut between characters), separated by spaces. */
static int
sm_encoded_words(const char *name, struct buf *out)
{
	size_t len = strlen(name), off = 0;
	char b64[128];

	while (off < len) {
		size_t n = len - off < 45 ? len - off : 45;

		while (n > 1 && off + n < len && ((unsigned char)name[off + n] & 0xc0) == 0x80)
			n--;
		if (b64_encode(name + off, n, b64, sizeof b64) < 0 ||
		    buf_printf(out, "%s=?UTF-8?B?%s?=", off ? " " : "", b64) < 0)
			return -1;
		off += n;
	}
	return 0;
}

/* -F NAME as a display name: atoms as they are, anything else quoted,
 * non-ASCII as RFC 2047 encoded-words.  -1 for control characters. */
static int
sm_display_name(const char *name, struct buf *out)
{
	const char *p;
	int plain = 1;

	for (p = name; *p; p++) {
		if ((unsigned char)*p < ' ' || *p == 127)
			return -1;
		if ((unsigned char)*p >= 0x80)
			return sm_encoded_words(name, out);
		plain &= isalnum((unsigned char)*p) || strchr(" !#$%&'*+-/=?^_`{|}~", *p) != NULL;
	}
	if (plain)
		return buf_puts(out, name);
	(void)buf_append(out, "\"", 1);
	for (p = name; *p; p++)
		if ((*p == '"' || *p == '\\') ? buf_printf(out, "\\%c", *p) : buf_append(out, p, 1))
			return -1;
	return buf_append(out, "\"", 1);
}

/* The From: sendmail adds when there is none: -F and the sender. */
static int
sm_add_from(const struct sm *s, struct buf *out)
{
	if (buf_puts(out, "From: ") < 0)
		return -1;
	if (s->fullname != NULL && s->fullname[0] != '\0' &&
	    (sm_display_name(s->fullname, out) < 0 || buf_puts(out, " ") < 0))
		return -1;
	return buf_printf(out, "<%s>\r\n", s->from_addr);
}

/*
 * The header: with -t, recipients from To/Cc/Bcc; Bcc removed; a From:
 * added when there is none.  The header ends at an empty line or at the
 * first line that is not a field (then text that was never a header --
 * "echo hi | sendmail x" -- becomes the body, after an empty line).
 */
static int
sm_headers(struct sm *s)
{
	struct buf out;
	const char *p = s->msg.data ? s->msg.data : "", *end = p + s->msg.len;
	int has_from = 0, rc = SM_OK;

	buf_init(&out, LIM_MAX_MESSAGE_SIZE);
	while (rc == SM_OK && p < end && sm_is_field(p, end)) {
		const char *f = p, *colon = memchr(p, ':', (size_t)(end - p));
		size_t n;

		do {	/* a field: its line and the folded ones after it */
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			p = nl ? nl + 1 : end;
		} while (p < end && (*p == ' ' || *p == '\t'));
		n = (size_t)(p - f);
		has_from |= str_iprefix(f, "From:") > 0;
		if (s->t && (str_iprefix(f, "To:") || str_iprefix(f, "Cc:") ||
		    str_iprefix(f, "Bcc:")) &&
		    sm_header_rcpts(s, colon + 1, n - (size_t)(colon + 1 - f)) < 0)
			rc = sm_error(SM_USAGE, "too many or too long recipients");
		if (!str_iprefix(f, "Bcc:"))
			(void)buf_append(&out, f, n);
	}
	if (rc == SM_OK && !has_from && sm_add_from(s, &out) < 0)
		rc = sm_error(SM_USAGE, "-F: not a name (control characters?)");
	if (rc == SM_OK && ((p < end && !(p[0] == '\r' && p + 1 < end && p[1] == '\n') &&
	    buf_append(&out, "\r\n", 2) < 0) || buf_append(&out, p, (size_t)(end - p)) < 0))
		rc = sm_error(SM_DATAERR, "message too large");
	if (rc != SM_OK) {
		buf_free(&out);
		return rc;
	}
	buf_free(&s->msg);
	s->msg = out;
	return SM_OK;
}

/* All of p to a blocking descriptor; -1 on error. */
static int
sm_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* SMTP to mtad over the connected socket; the engine does the protocol. */
static enum smtpc_event
sm_io(int fd, struct smtp_client *c, enum smtpc_event ev, char *in, size_t *inlen,
    size_t *inoff)
{
	for (;;) {
		struct buf *out = smtp_client_output(c);
		struct pollfd p = { fd, POLLIN, 0 };
		size_t used;
		ssize_t n;

		if (out->len > 0 && sm_write_all(fd, out->data, out->len) < 0 &&
		    ev != SMTPC_CLOSED)
			ev = smtp_client_lost(c, "cannot write to mtad");
		buf_consume(out, out->len);
		if (ev != SMTPC_READ)
			return ev;
		if (*inoff == *inlen) {
			if (poll(&p, 1, SM_TIMEOUT_MS) <= 0 || (n = read(fd, in, 4096)) <= 0) {
				ev = smtp_client_lost(c, "mtad went away");
				continue;
			}
			*inlen = (size_t)n;
			*inoff = 0;
		}
		ev = smtp_client_input(c, in + *inoff, *inlen - *inoff, &used);
		*inoff += used;
	}
}

/* What a refusal means for sendmail's exit code. */
static int
sm_code(const struct smtpc_rcpt *r)
{
	if (r->reply.code >= 400 && r->reply.code < 500)
		return SM_TEMPFAIL;
	if (strncmp(r->reply.status, "5.7.", 4) == 0)
		return SM_NOPERM;
	return r->stage == TS_RCPT ? SM_NOUSER : r->reply.code == 0 && r->stage != TS_LOCAL ?
	    SM_TEMPFAIL : SM_DATAERR;
}

static int
sm_send(struct sm *s, int fd)
{
	struct smtpc_env env = { "localhost", ROUTE_TLS_NONE, NULL, NULL };
	struct smtp_client *c = smtp_client_new(&env);
	struct smtpc_rcpt *r = xcalloc(s->nrcpts, sizeof *r);
	struct smtpc_msg m = { s->sender, r, s->nrcpts, s->msg.data, s->msg.len, 1, 0,
		DSN_RET_UNSPEC, NULL };
	char in[4096];
	size_t inlen = 0, inoff = 0, i, k;
	enum smtpc_event ev;
	int rc = SM_OK;

	for (i = 0; i < s->nrcpts; i++)
		r[i].address = s->rcpts[i];
	for (i = 0, m.body_8bit = 0; i < s->msg.len && !m.body_8bit; i++)
		m.body_8bit = (unsigned char)s->msg.data[i] >= 0x80;
	for (k = 0; k <= s->nrcpts && !m.smtputf8; k++) {
		const char *a = k < s->nrcpts ? s->rcpts[k] : s->sender;

		for (i = 0; a[i]; i++)
			m.smtputf8 |= (unsigned char)a[i] >= 0x80;
	}
	ev = sm_io(fd, c, SMTPC_READ, in, &inlen, &inoff);
	if (ev == SMTPC_READY)
		ev = sm_io(fd, c, smtp_client_send(c, &m), in, &inlen, &inoff);
	if (ev == SMTPC_DONE) {
		smtp_client_quit(c);
		(void)sm_io(fd, c, SMTPC_READ, in, &inlen, &inoff);
	} else if (smtp_client_failure(c) != NULL && !r[0].done) {
		rc = sm_error(SM_TEMPFAIL, "mtad: %s", smtp_client_failure(c)->reply.text);
	}
	for (i = 0; i < s->nrcpts; i++)
		if (r[i].done && (r[i].reply.code < 200 || r[i].reply.code >= 300) &&
		    (rc = sm_code(&r[i])) != SM_OK)
			(void)sm_error(rc, "<%s>: %s", s->rcpts[i], r[i].reply.text);
	smtp_client_free(c);
	free(r);
	return rc;
}

static int
sm_connect(const char *state_dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (str_fmt(sun.sun_path, sizeof sun.sun_path, "%s/submit.sock", state_dir) < 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The envelope sender: -f ("<>" or "" for the null sender), or the caller
 * as user@hostname; mtad decides which it keeps.  An added From: names the
 * -f address when mtad will keep it (policy_local_sender_free(), with the
 * daemon's uid from the owner of its socket), else the caller. */
static int
sm_sender(struct sm *s, const struct conf *c)
{
	struct passwd pw, *res = NULL;
	struct stat st;
	char buf[1024], path[sizeof ((struct sockaddr_un *)0)->sun_path];
	uid_t daemon_uid = (uid_t)-1;
	size_t n;

	if (str_fmt(path, sizeof path, "%s/submit.sock", c->state_dir) == 0 &&
	    stat(path, &st) == 0)
		daemon_uid = st.st_uid;
	if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) != 0 || res == NULL)
		(void)str_fmt(s->from_addr, sizeof s->from_addr, "uid%u@%s",
		    (unsigned)getuid(), c->hostname);
	else if (str_fmt(s->from_addr, sizeof s->from_addr, "%s@%s", res->pw_name,
	    c->hostname) < 0)
		return -1;
	if (s->from == NULL)
		return str_copy(s->sender, sizeof s->sender, s->from_addr);
	n = strlen(s->from);
	if ((n >= 2 && s->from[0] == '<' && s->from[n - 1] == '>' ?	/* -f '<a@b>' */
	    str_fmt(s->sender, sizeof s->sender, "%.*s", (int)(n - 2), s->from + 1) :
	    str_copy(s->sender, sizeof s->sender, s->from)) < 0)
		return -1;
	if (s->sender[0] == '\0' || !policy_local_sender_free(c, getuid(),
	    res != NULL ? res->pw_name : NULL, daemon_uid))
		return 0;
	return str_copy(s->from_addr, sizeof s->from_addr, s->sender);
}

/*
 * -bs: SMTP on stdin and stdout, relayed to mtad as it is (lines ending in
 * a bare LF get their CR, as local programs expect) until mtad closes.
 */
static int
sm_bs(int fd)
{
	char in[LIM_READ_CHUNK], out[2 * LIM_READ_CHUNK];
	struct pollfd p[2] = { { STDIN_FILENO, POLLIN, 0 }, { fd, POLLIN, 0 } };
	int prev_cr = 0;

	for (;;) {
		ssize_t n;
		size_t i, o = 0;

		if (poll(p, 2, SM_TIMEOUT_MS) <= 0)
			return sm_error(SM_TEMPFAIL, "timed out");
		if (p[1].revents) {
			if ((n = read(fd, in, sizeof in)) <= 0)
				return SM_OK;	/* mtad closed: after QUIT, or a 421 */
			if (sm_write_all(STDOUT_FILENO, in, (size_t)n) < 0)
				return sm_error(SM_IOERR, "cannot write: %s", strerror(errno));
		}
		if (!p[0].revents)
			continue;
		if ((n = read(STDIN_FILENO, in, sizeof in)) <= 0) {
			p[0].fd = -1;	/* the client is done; mtad's reply may follow */
			(void)shutdown(fd, SHUT_WR);
			continue;
		}
		for (i = 0; i < (size_t)n; prev_cr = in[i++] == '\r') {
			if (in[i] == '\n' && !prev_cr)
				out[o++] = '\r';
			out[o++] = in[i];
		}
		if (sm_write_all(fd, out, o) < 0)
			return sm_error(SM_TEMPFAIL, "mtad went away: %s", strerror(errno));
	}
}

/* Read the configuration: -C, the caller's path, $MTAD_CONF or the
 * default, in that order. */
static struct conf *
sm_conf(const struct sm *s, const char *conf_path)
{
	struct conf_errors errs = { { 0 }, 0, 0 };
	struct conf *c;
	size_t i;

	if (s->conf != NULL)
		conf_path = s->conf;
	if (conf_path == NULL && (conf_path = getenv("MTAD_CONF")) == NULL)
		conf_path = CONF_DEFAULT_PATH;
	if ((c = conf_load_client(conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "sendmail: %s\n", errs.msgs[i]);
		conf_errors_free(&errs);
	}
	return c;
}

int
sendmail_main(int argc, char **argv, const char *conf_path)
{
	struct conf *c = NULL;
	struct sm s;
	size_t i;
	int rc, fd;

	memset(&s, 0, sizeof s);
	log_set_fd(-1);
	signal(SIGPIPE, SIG_IGN);	/* a write to a closed mtad is an error */
	if ((rc = sm_args(&s, argc, argv)) == SM_OK && (c = sm_conf(&s, conf_path)) == NULL)
		rc = SM_TEMPFAIL;
	if (rc == SM_OK && s.bs) {
		if ((fd = sm_connect(c->state_dir)) < 0)
			rc = sm_error(SM_TEMPFAIL, "mtad is not running (%s/submit.sock: %s)",
			    c->state_dir, strerror(errno));
		else
			rc = sm_bs(fd), close(fd);
		conf_unref(c);
		return rc;
	}
	if (rc == SM_OK && sm_sender(&s, c) < 0)
		rc = sm_error(SM_USAGE, "sender too long");
	if (rc == SM_OK && (rc = sm_read(&s)) == SM_OK)
		rc = sm_headers(&s);
	if (rc == SM_OK && s.nrcpts == 0)
		rc = sm_error(SM_USAGE, "no recipients (give them, or use -t)");
	if (rc == SM_OK && (fd = sm_connect(c->state_dir)) < 0)
		rc = sm_error(SM_TEMPFAIL, "mtad is not running (%s/submit.sock: %s)",
		    c->state_dir, strerror(errno));
	else if (rc == SM_OK) {
		rc = sm_send(&s, fd);
		close(fd);
	}
	for (i = 0; i < s.nrcpts; i++)
		free(s.rcpts[i]);
	buf_free(&s.msg);
	if (c != NULL)
		conf_unref(c);
	return rc;
}
