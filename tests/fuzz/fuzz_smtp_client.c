/*
 * fuzz_smtp_client.c -- libFuzzer target for the outbound SMTP state
 * machine: the input is what a (hostile) server says, fed in chunks whose
 * sizes come from the first input byte.  The client offers two messages
 * when READY.  Invariants, any breach aborts:
 *
 *   - input is consumed, or an event stops it;
 *   - SMTPC_DONE: every recipient of the message has a result;
 *   - SMTPC_CLOSED: so does the message in flight, if any, and the engine
 *     takes no more input;
 *   - the output never holds a bare LF (each command ends in CR LF).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_smtp_client: invariant broken: %s (line %d)\n", \
		    #cond, __LINE__); \
		abort(); \
	} \
} while (0)

static const char body[] = "Subject: x\r\n\r\n.dot\r\nline\r\n";

static void
fuzz_drain(struct smtp_client *c)
{
	struct buf *o = smtp_client_output(c);
	size_t i;

	for (i = 0; i < o->len; i++)
		FUZZ_ASSERT(o->data[i] != '\n' || (i > 0 && o->data[i - 1] == '\r'));
	buf_consume(o, o->len);
}

static int
fuzz_all_done(const struct smtpc_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		if (!m->rcpts[i].done)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpc_env env = { "relay.test", ROUTE_TLS_MAY, "user", "secret" };
	struct smtpc_rcpt r[3];
	struct smtpc_msg m = { "s@example.org", r, 3, body, sizeof body - 1, 1, 0,
		DSN_RET_FULL, "env" };
	struct smtp_client *c;
	size_t off = 1, chunk = size ? (size_t)(data[0] % 17) + 1 : 1, used;
	int sent = 0, inflight = 0, closed = 0;

	memset(r, 0, sizeof r);
	r[0].address = "a@example.net";
	r[1].address = "b@example.net";
	r[1].notify = 6;
	r[1].orcpt = "rfc822;b@example.net";
	r[2].address = "c@example.net";
	env.tls = size && (data[0] & 0x80) ? ROUTE_TLS_REQUIRE : ROUTE_TLS_MAY;
	c = smtp_client_new(&env);
	while (off < size && !closed) {
		size_t len = size - off < chunk ? size - off : chunk;
		enum smtpc_event ev = smtp_client_input(c, (const char *)data + off, len, &used);

		FUZZ_ASSERT(used <= len);
		/* READ asks for more: everything given was taken (the other
		 * events stop input; the rest is fed again below) */
		FUZZ_ASSERT(ev != SMTPC_READ || used == len);
		off += used;
		if (ev == SMTPC_STARTTLS)
			ev = smtp_client_tls_done(c, data[off - 1] & 1, "fuzz says no");
		if (ev == SMTPC_READY && sent < 2) {
			sent++;
			inflight = 1;
			ev = smtp_client_send(c, &m);
		}
		if (ev == SMTPC_DONE) {
			FUZZ_ASSERT(inflight && fuzz_all_done(&m));
			inflight = 0;
		} else if (ev == SMTPC_CLOSED) {
			FUZZ_ASSERT(!inflight || fuzz_all_done(&m));
			closed = 1;
		}
		fuzz_drain(c);
	}
	if (!closed) {
		(void)smtp_client_lost(c, "end of input");
		FUZZ_ASSERT(!inflight || fuzz_all_done(&m));
	}
	FUZZ_ASSERT(smtp_client_input(c, "250 x\r\n", 7, &used) == SMTPC_CLOSED || !closed);
	fuzz_drain(c);
	smtp_client_free(c);
	return 0;
}
