/*
 * fuzz_ctlproto.c -- libFuzzer target for the control protocol (ctlproto.h).
 *
 * The input is one request line and, as a C string, one log line.  A
 * request either parses (a known command; every selection string within
 * its limit, the paging limit in range, the strings of sel pointing into
 * the request) or fails with a non-empty reason and the code "usage" or
 * "unknown".  A log line always becomes a JSON object whose every member
 * is a string, and that object always serialises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_ctlproto: invariant broken: %s (line %d)\n", #cond, \
		    __LINE__); \
		abort(); \
	} \
} while (0)

static void
fuzz_request(const char *line, size_t len)
{
	struct ctl_request r;
	const char *code = NULL;
	char why[256] = "";

	if (ctlproto_parse(line, len, 1000000000, &r, &code, why, sizeof why) < 0) {
		FUZZ_ASSERT(why[0] != '\0' && code != NULL);
		FUZZ_ASSERT(strcmp(code, "usage") == 0 || strcmp(code, "unknown") == 0);
		return;
	}
	FUZZ_ASSERT(strcmp(ctlproto_cmd_name(r.cmd), "?") != 0);
	FUZZ_ASSERT(r.sel.limit >= 1 && r.sel.limit <= LIM_LIST_PAGE);
	FUZZ_ASSERT(r.sel.queue_id == NULL || r.sel.queue_id == r.queue_id);
	FUZZ_ASSERT(r.sel.domain == NULL || r.sel.domain == r.domain);
	FUZZ_ASSERT(r.sel.sender == NULL || r.sel.sender == r.sender);
	FUZZ_ASSERT(strlen(r.queue_id) <= LIM_QUEUE_ID && strlen(r.domain) <= LIM_DOMAIN);
	FUZZ_ASSERT(r.cmd != CTL_QUEUE_SHOW || r.sel.queue_id != NULL);
	FUZZ_ASSERT(!(r.cmd == CTL_USER_ADD || r.cmd == CTL_USER_PASSWD) || r.hash[0] == '$');
}

static void
fuzz_event(const char *line)
{
	json_t *ev = ctlproto_event(line), *v;
	const char *key;
	char *s;

	FUZZ_ASSERT(json_is_object(ev));
	json_object_foreach(ev, key, v)
		FUZZ_ASSERT(json_is_string(v));
	s = json_dumps(ev, JSON_COMPACT);
	FUZZ_ASSERT(s != NULL);
	free(s);
	json_decref(ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_request(s, size);
	fuzz_event(s);
	free(s);
	return 0;
}
