/*
 * fuzz_conf.c -- libFuzzer target for the mtad.conf(5) parser.
 *
 * The input is a configuration text.  conf_parse must return either a conf
 * (no errors) or NULL with at least one "FILE:LINE: message" error, never
 * both; a returned conf has the lists the daemon relies on (a listener,
 * trusted networks, retry steps) and every value within its limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_conf: invariant broken: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

#define FUZZ_PATH "fuzz.conf"

static void
fuzz_check_conf(const struct conf *c)
{
	size_t i;

	FUZZ_ASSERT(c->refs == 1);
	FUZZ_ASSERT(strcmp(c->path, FUZZ_PATH) == 0);
	FUZZ_ASSERT(c->state_dir != NULL);
	FUZZ_ASSERT(c->nlistens >= 1 && c->ntrusted >= 1 && c->nretry >= 1);
	FUZZ_ASSERT(c->nlistens <= LIM_CONF_ITEMS && c->ntrusted <= LIM_CONF_ITEMS);
	FUZZ_ASSERT(c->nroutes <= LIM_CONF_ITEMS && c->nlimits <= LIM_CONF_ITEMS);
	FUZZ_ASSERT(c->max_message_size >= LIM_MIN_MESSAGE_SIZE &&
	    c->max_message_size <= LIM_MAX_MESSAGE_SIZE);
	FUZZ_ASSERT(c->max_recipients >= 100 && c->max_recipients <= LIM_MAX_RECIPIENTS);
	FUZZ_ASSERT(c->max_errors >= 1 && c->max_sessions >= 1 &&
	    c->max_sessions <= LIM_MAX_SESSIONS);
	FUZZ_ASSERT(c->mx_port >= 1 && c->mx_port <= 65535);
	FUZZ_ASSERT(c->queue_lifetime >= 1 && c->queue_lifetime <= LIM_MAX_DURATION);
	FUZZ_ASSERT((c->tls_cert.path == NULL) == (c->tls_key.path == NULL));
	for (i = 0; i < c->nretry; i++)
		FUZZ_ASSERT(c->retry[i] >= 1 && c->retry[i] <= LIM_MAX_DURATION);
	for (i = 0; i < c->ntrusted; i++)
		FUZZ_ASSERT(c->trusted[i].prefix <= 128);
	for (i = 0; i < c->nlistens; i++) {
		FUZZ_ASSERT(c->listens[i].addr.ss_family == AF_INET ||
		    c->listens[i].addr.ss_family == AF_INET6);
		FUZZ_ASSERT(c->listens[i].kind == LISTEN_SMTP || c->tls_cert.path != NULL);
	}
	for (i = 0; i < c->nroutes; i++) {
		FUZZ_ASSERT(c->routes[i].port >= 1 && c->routes[i].port <= 65535);
		FUZZ_ASSERT(c->routes[i].auth_user == NULL ||
		    c->routes[i].tls != ROUTE_TLS_NONE);
		FUZZ_ASSERT((c->routes[i].auth_user == NULL) ==
		    (c->routes[i].auth_secret_file == NULL));
	}
	for (i = 0; i < c->nlimits; i++)
		FUZZ_ASSERT(c->limits[i].rate == 0 || c->limits[i].rate_period == 60 ||
		    c->limits[i].rate_period == 3600);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct conf_errors errs;
	struct conf *c;
	size_t i;

	if (!once) {
		log_set_fd(-1);
		once = 1;
	}
	memset(&errs, 0, sizeof errs);
	c = conf_parse(FUZZ_PATH, (const char *)data, size, "mx.fuzz.test", &errs);
	if (c != NULL) {
		FUZZ_ASSERT(errs.n == 0 && errs.dropped == 0);
		fuzz_check_conf(c);
		conf_ref(c);
		conf_unref(c);
		conf_unref(c);
	} else {
		FUZZ_ASSERT(errs.n >= 1);
		for (i = 0; i < errs.n; i++)
			FUZZ_ASSERT(strncmp(errs.msgs[i], FUZZ_PATH ":", sizeof FUZZ_PATH) == 0);
	}
	conf_errors_free(&errs);
	return 0;
}
