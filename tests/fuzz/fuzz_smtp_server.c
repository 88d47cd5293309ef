/*
 * fuzz_smtp_server.c -- libFuzzer target for the SMTP state machine.
 *
 * The input is a client's byte stream.  It is fed to one session in chunks
 * whose sizes come from a small generator seeded with the first bytes of
 * the input (so the same bytes are also tried split at other places), the
 * way session.c would after each recv(); low bits of the first two bytes
 * also choose the client (IPv4/IPv6, trusted or not, smtp, submission or
 * a local user with or without a name, free to pick its sender or not,
 * rate-limited every third MAIL) and a short or long host name.
 * Invariants, any breach aborts:
 *
 *   - every reply line is "DDD" then " " or "-", text, CRLF; the output
 *     never holds a bare LF or CR and always ends at a line end;
 *   - SMTP_ACT_MORE consumed the whole chunk;
 *   - SMTP_ACT_FLUSH comes only with LIM_OUT_HIGHWATER bytes of replies
 *     waiting (back-pressure on pipelining clients);
 *   - SMTP_ACT_STORE comes with a transaction of >= 1 recipient and a
 *     non-empty message, in state STORE;
 *   - a local user not free to choose has its sender forced to
 *     user@hostname;
 *   - after SMTP_ACT_CLOSE the engine takes no more input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "smtp_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_smtp_server: invariant broken: %s (line %d)\n", \
		    #cond, __LINE__); \
		abort(); \
	} \
} while (0)

/* A 202-octet host name: three 63-octet labels. */
#define FUZZ_LABEL63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
#define FUZZ_LONG_HOSTNAME \
	"mx." FUZZ_LABEL63 "." FUZZ_LABEL63 "." FUZZ_LABEL63 ".example"

struct fuzz_ctx {
	unsigned ids;
	unsigned stores;
	unsigned auths;
	unsigned mails;
};

/* A rate limit that refuses every third MAIL. */
static int
fuzz_mail_allowed(void *ctx, char *reply, size_t size)
{
	struct fuzz_ctx *f = ctx;

	if (++f->mails % 3 != 0)
		return 0;
	snprintf(reply, size, "450 4.7.1 Error: too much mail from uid 33");
	return -1;
}

static void
fuzz_queue_id(void *ctx, char *out, size_t size)
{
	struct fuzz_ctx *f = ctx;

	snprintf(out, size, "F%011u", ++f->ids);
}

static time_t
fuzz_now(void *ctx)
{
	(void)ctx;
	return 1795687315;
}

/* Check and drop everything in the engine's output. */
static void
fuzz_drain(struct smtp_server *s)
{
	struct buf *o = smtp_server_output(s);
	size_t i = 0;

	while (i < o->len) {
		const char *line = o->data + i;
		const char *lf = memchr(line, '\n', o->len - i);
		size_t n;

		FUZZ_ASSERT(lf != NULL);		/* complete lines only */
		n = (size_t)(lf - line) + 1;
		FUZZ_ASSERT(n >= 6);			/* "DDD" [ -] ... CR LF */
		FUZZ_ASSERT(line[n - 2] == '\r');	/* no bare LF */
		FUZZ_ASSERT(memchr(line, '\r', n - 2) == NULL);	/* no bare CR */
		FUZZ_ASSERT(memchr(line, '\0', n) == NULL);
		FUZZ_ASSERT(line[0] >= '2' && line[0] <= '5');
		FUZZ_ASSERT(line[1] >= '0' && line[1] <= '9');
		FUZZ_ASSERT(line[2] >= '0' && line[2] <= '9');
		FUZZ_ASSERT(line[3] == ' ' || line[3] == '-');
		FUZZ_ASSERT(n <= LIM_REPLY_LINE);
		i += n;
	}
	buf_consume(o, o->len);
}

/* Chunk sizes: xorshift over a seed from the first input bytes; mostly
 * small pieces, sometimes everything at once. */
static uint32_t
fuzz_seed(const uint8_t *data, size_t size)
{
	uint32_t seed = 2166136261u;
	size_t i;

	for (i = 0; i < size && i < 4; i++)
		seed = (seed ^ data[i]) * 16777619u;
	return seed ? seed : 1;
}

static size_t
fuzz_chunk(uint32_t *state, size_t left)
{
	uint32_t x = *state;
	size_t n;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	switch (x & 7) {
	case 0:
		n = left;			/* the rest in one read */
		break;
	case 1:
	case 2:
		n = 1 + (x >> 8) % 3;		/* byte by byte */
		break;
	default:
		n = 1 + (x >> 8) % 64;
		break;
	}
	return n < left ? n : left;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct fuzz_ctx f = { 0, 0 };
	struct smtp_env env;
	struct smtp_server *s;
	uint32_t state = fuzz_seed(data, size);
	size_t off = 0;
	int closed = 0;

	if (!once) {
		log_set_fd(-1);
		once = 1;
	}
	/* The first two bytes also pick the client and our host name; a
	 * long name makes replies long, so 4 KB of input can ask for as much
	 * output as a 64 KB read (LIM_READ_CHUNK) would. */
	memset(&env, 0, sizeof env);
	env.hostname = size > 0 && (data[0] & 2) ? FUZZ_LONG_HOSTNAME : "mx.fuzz.test";
	env.session_id = "fuzz";
	snprintf(env.client_addr, sizeof env.client_addr, "%s",
	    size > 0 && (data[0] & 1) ? "2001:db8::1" : "192.0.2.1");
	env.client_trusted = size > 1 ? !(data[1] & 1) : 1;
	env.listener = size > 1 && (data[1] & 2) ? LISTEN_SUBMISSION : LISTEN_SMTP;
	if (size > 1 && (data[1] & 8)) {
		env.listener = LISTEN_LOCAL;
		env.local_uid = 33;
		env.local_user = data[1] & 16 ? NULL : "www-data";
		env.local_free = (data[1] & 32) != 0;
		env.mail_allowed = fuzz_mail_allowed;
	}
	env.tls_offer = size > 1 && (data[1] & 4);
	env.max_message_size = 65536;
	env.max_recipients = 100;
	env.max_errors = 1000000;
	env.ctx = &f;
	env.new_queue_id = fuzz_queue_id;
	env.now = fuzz_now;

	s = smtp_server_new(&env);
	FUZZ_ASSERT(smtp_server_state(s) == SMTP_S_GREET);
	fuzz_drain(s);
	while (off < size && !closed) {
		size_t len = fuzz_chunk(&state, size - off), pos = 0;

		/* One chunk, as session_feed() gives it: STORE may return
		 * early and the rest of the chunk follows the reply. */
		while (pos < len) {
			size_t used = (size_t)-1;
			enum smtp_action a = smtp_server_input(s, (const char *)data + off + pos,
			    len - pos, &used);

			FUZZ_ASSERT(used <= len - pos);
			pos += used;
			if (a == SMTP_ACT_MORE) {
				FUZZ_ASSERT(pos == len);
				FUZZ_ASSERT(smtp_server_state(s) < SMTP_S_STORE);
				FUZZ_ASSERT(smtp_server_txn(s) == NULL);
			} else if (a == SMTP_ACT_STARTTLS) {
				/* everything after STARTTLS was dropped */
				FUZZ_ASSERT(pos == len && env.tls_offer);
				smtp_server_tls(s, "TLS1.3", "TLS_AES_128_GCM_SHA256");
				FUZZ_ASSERT(smtp_server_state(s) == SMTP_S_GREET);
			} else if (a == SMTP_ACT_AUTH) {
				const char *u, *p;

				FUZZ_ASSERT(smtp_server_tls_info(s) != NULL);
				smtp_server_auth_creds(s, &u, &p);
				FUZZ_ASSERT(strlen(u) <= LIM_AUTH_USER && strlen(p) <= LIM_AUTH_PASSWORD);
				smtp_server_auth_result(s, (enum smtp_auth_verdict)(f.auths++ % 4),
				    f.auths % 2, "example.org");
			} else if (a == SMTP_ACT_FLUSH) {
				FUZZ_ASSERT(smtp_server_output(s)->len >= LIM_OUT_HIGHWATER);
				FUZZ_ASSERT(smtp_server_state(s) < SMTP_S_STORE);
				FUZZ_ASSERT(pos < len);
			} else if (a == SMTP_ACT_STORE) {
				const struct smtp_txn *t = smtp_server_txn(s);

				FUZZ_ASSERT(smtp_server_state(s) == SMTP_S_STORE);
				FUZZ_ASSERT(t != NULL);
				FUZZ_ASSERT(t->nrcpts >= 1 && t->nrcpts <= env.max_recipients);
				FUZZ_ASSERT(t->msg.len > 0 && t->msg.data != NULL);
				FUZZ_ASSERT(t->sender != NULL);
				FUZZ_ASSERT(t->size <= env.max_message_size);
				FUZZ_ASSERT(strlen(t->queue_id) == LIM_QUEUE_ID);
				FUZZ_ASSERT(env.listener != LISTEN_LOCAL || env.local_free ||
				    (strncmp(t->sender, "www-data@", 9) == 0 &&
				    strcmp(t->sender + 9, env.hostname) == 0));
				/* the engine waits: no input taken until stored */
				FUZZ_ASSERT(smtp_server_input(s, "x", 1, &used) == SMTP_ACT_STORE &&
				    used == 0);
				smtp_server_stored(s, f.stores++ % 2 == 0);
				FUZZ_ASSERT(smtp_server_state(s) == SMTP_S_IDLE);
			} else {
				FUZZ_ASSERT(a == SMTP_ACT_CLOSE);
				FUZZ_ASSERT(smtp_server_state(s) == SMTP_S_CLOSED);
				closed = 1;
				break;
			}
			fuzz_drain(s);
		}
		fuzz_drain(s);
		off += pos;
	}
	if (closed) {
		/* whatever comes next is neither read nor answered */
		const char *rest = off < size ? (const char *)data + off : "NOOP\r\n";
		size_t n = off < size ? size - off : 6, used = (size_t)-1;

		FUZZ_ASSERT(smtp_server_input(s, rest, n, &used) == SMTP_ACT_CLOSE);
		FUZZ_ASSERT(used == 0);
		FUZZ_ASSERT(smtp_server_output(s)->len == 0);
	}
	fuzz_drain(s);
	FUZZ_ASSERT(smtp_server_counts(s)->accepted == (f.stores + 1) / 2);
	smtp_server_free(s);
	return 0;
}
