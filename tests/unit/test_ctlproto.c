/* test_ctlproto.c -- control requests and monitor events, without a socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "test.h"

#define NOW 1800000000

static int
parse(const char *line, struct ctl_request *r, const char **code, char *why, size_t size)
{
	return ctlproto_parse(line, strlen(line), NOW, r, code, why, size);
}

/* A refused request: its code, and a reason holding `part`. */
static void
refused(const char *line, const char *code, const char *part)
{
	struct ctl_request r;
	const char *c = NULL;
	char why[256] = "";

	if (parse(line, &r, &c, why, sizeof why) == 0) {
		test_fail(__FILE__, __LINE__, "accepted: %s", line);
		return;
	}
	CHECK_STR(c, code);
	if (strstr(why, part) == NULL)
		test_fail(__FILE__, __LINE__, "%s: reason \"%s\" lacks \"%s\"", line, why, part);
}

static void
test_selection(void)
{
	struct ctl_request r;
	const char *code;
	char why[256];

	CHECK_INT(parse("{\"v\":1,\"cmd\":\"queue.list\",\"state\":\"deferred\",\"domain\":"
	    "\"B\\u00fccher.example\",\"sender\":\"\",\"limit\":5,\"after\":42}", &r, &code,
	    why, sizeof why), 0);
	CHECK_INT(r.cmd, CTL_QUEUE_LIST);
	CHECK_STR(r.sel.state, "deferred");
	CHECK_STR(r.sel.domain, "xn--bcher-kva.example");
	CHECK_STR(r.sel.sender, "");
	CHECK_INT(r.sel.limit, 5);
	CHECK_INT(r.sel.after, 42);
	CHECK(r.sel.queue_id == NULL && r.sel.older_than == 0 && r.since == 0);
	/* "v" may be left out; the page defaults to 100 */
	CHECK_INT(parse("{\"cmd\":\"queue.list\"}", &r, &code, why, sizeof why), 0);
	CHECK_INT(r.sel.limit, 100);
	CHECK(r.sel.state == NULL && r.sel.domain == NULL && r.sel.sender == NULL);
	CHECK_INT(parse("{\"cmd\":\"queue.purge\",\"older_than\":3600}", &r, &code, why,
	    sizeof why), 0);
	CHECK_INT(r.sel.older_than, NOW - 3600);
	CHECK_INT(parse("{\"cmd\":\"stats\",\"since\":60}", &r, &code, why, sizeof why), 0);
	CHECK_INT(r.since, NOW - 60);
	CHECK_INT(parse("{\"cmd\":\"queue.retry\",\"all\":true}", &r, &code, why, sizeof why), 0);
	CHECK(r.all);
	CHECK_INT(parse("{\"cmd\":\"queue.show\",\"id\":\"1gm0wtvcc7rb\"}", &r, &code, why,
	    sizeof why), 0);
	CHECK_STR(r.sel.queue_id, "1gm0wtvcc7rb");
}

static void
test_refusals(void)
{
	refused("", "usage", "malformed request");
	refused("not json", "usage", "malformed request");
	refused("[1,2]", "usage", "not an object");
	refused("{\"cmd\":\"status\",\"cmd\":\"status\"}", "usage", "malformed");
	refused("{\"v\":2,\"cmd\":\"status\"}", "usage", "version 1");
	refused("{\"v\":\"1\",\"cmd\":\"status\"}", "usage", "version 1");
	refused("{\"v\":1}", "usage", "cmd");
	refused("{\"cmd\":7}", "usage", "cmd");
	refused("{\"cmd\":\"queue.explode\"}", "unknown", "queue.explode");
	refused("{\"cmd\":\"queue.list\",\"state\":\"delivered\"}", "usage", "state");
	refused("{\"cmd\":\"queue.list\",\"state\":1}", "usage", "state");
	refused("{\"cmd\":\"queue.list\",\"limit\":0}", "usage", "limit");
	refused("{\"cmd\":\"queue.list\",\"limit\":10001}", "usage", "limit");
	refused("{\"cmd\":\"queue.list\",\"limit\":\"5\"}", "usage", "limit");
	refused("{\"cmd\":\"queue.list\",\"domain\":\"no spaces.example\"}", "usage", "domain");
	refused("{\"cmd\":\"queue.list\",\"sender\":\"a\\u0000b\"}", "usage", "malformed");
	refused("{\"cmd\":\"queue.list\",\"sender\":7}", "usage", "sender");
	refused("{\"cmd\":\"queue.show\"}", "usage", "id");
	refused("{\"cmd\":\"queue.show\",\"id\":\"NOT-AN-ID\"}", "usage", "id");
	refused("{\"cmd\":\"queue.purge\"}", "usage", "say which");
	refused("{\"cmd\":\"queue.hold\",\"all\":false}", "usage", "say which");
	refused("{\"cmd\":\"queue.retry\",\"all\":1}", "usage", "all");
	refused("{\"cmd\":\"stats\",\"since\":-5}", "usage", "since");
	refused("{\"cmd\":\"queue.purge\",\"older_than\":\"1h\"}", "usage", "older_than");
}

/* What mtatui sends: sorted and offset pages, search, tagged rows,
 * bounce classes, stats series, domain groups. */
static void
test_view_members(void)
{
	struct ctl_request r;
	const char *code;
	char why[256];

	CHECK_INT(parse("{\"cmd\":\"queue.list\",\"sort\":\"recipient\",\"desc\":true,"
	    "\"offset\":300,\"search\":\"Bob@EXAMPLE\"}", &r, &code, why, sizeof why), 0);
	CHECK_INT(r.sel.sort, QS_RECIPIENT);
	CHECK(r.sel.desc);
	CHECK_INT(r.sel.offset, 300);
	CHECK_STR(r.sel.search, "bob@example");
	CHECK(r.sel.search_alt == NULL);
	/* IDN: the other form of the domain part, or of the whole text */
	CHECK_INT(parse("{\"cmd\":\"queue.list\",\"search\":\"Z@B\u00fccher\"}", &r, &code,
	    why, sizeof why), 0);
	CHECK_STR(r.sel.search, "z@b\xc3\xbc" "cher");
	CHECK_STR(r.sel.search_alt, "z@xn--bcher-kva");
	CHECK_INT(parse("{\"cmd\":\"queue.count\",\"search\":\"xn--bcher-kva.example\"}", &r,
	    &code, why, sizeof why), 0);
	CHECK_STR(r.sel.search_alt, "b\xc3\xbc" "cher.example");
	CHECK_INT(parse("{\"cmd\":\"queue.list\",\"search\":\"plain.example\"}", &r, &code,
	    why, sizeof why), 0);
	CHECK(r.sel.search_alt == NULL);
	CHECK_INT(parse("{\"cmd\":\"queue.list\",\"search\":\"\"}", &r, &code, why,
	    sizeof why), 0);
	CHECK(r.sel.search == NULL && r.sel.sort == QS_ID && !r.sel.desc);
	CHECK_INT(parse("{\"cmd\":\"queue.purge\",\"rcpt_ids\":[7,9,11]}", &r, &code, why,
	    sizeof why), 0);
	CHECK_INT(r.sel.nrcpt_ids, 3);
	CHECK(r.sel.rcpt_ids != NULL && r.sel.rcpt_ids[0] == 7 && r.sel.rcpt_ids[2] == 11);
	CHECK_INT(parse("{\"cmd\":\"queue.count\",\"domain\":\"a.example\"}", &r, &code,
	    why, sizeof why), 0);
	CHECK_INT(r.cmd, CTL_QUEUE_COUNT);
	CHECK_INT(parse("{\"cmd\":\"queue.domains\",\"by\":\"sender\"}", &r, &code, why,
	    sizeof why), 0);
	CHECK(r.cmd == CTL_QUEUE_DOMAINS && r.by_sender);
	CHECK_INT(parse("{\"cmd\":\"bounces\",\"class\":\"hard\",\"offset\":20}", &r,
	    &code, why, sizeof why), 0);
	CHECK_STR(r.bclass, "hard");
	CHECK_INT(r.sel.offset, 20);
	CHECK_INT(parse("{\"cmd\":\"stats\",\"since\":3600,\"step\":60}", &r, &code, why,
	    sizeof why), 0);
	CHECK_INT(r.step, 60);
	CHECK_INT(r.since, NOW - 3600);
	/* 1440 buckets at most: a day of minutes fits, a day and a minute not */
	CHECK_INT(parse("{\"cmd\":\"stats\",\"since\":86399,\"step\":60}", &r, &code, why,
	    sizeof why), 0);
	refused("{\"cmd\":\"stats\",\"since\":86400,\"step\":60}", "usage", "1440");
	refused("{\"cmd\":\"stats\",\"step\":60}", "usage", "needs since");
	refused("{\"cmd\":\"stats\",\"since\":60,\"step\":0}", "usage", "step");
	refused("{\"cmd\":\"queue.list\",\"sort\":\"size\"}", "usage", "sort:");
	refused("{\"cmd\":\"queue.list\",\"sort\":1}", "usage", "sort:");
	refused("{\"cmd\":\"queue.list\",\"desc\":1}", "usage", "desc:");
	refused("{\"cmd\":\"queue.list\",\"offset\":-1}", "usage", "offset:");
	refused("{\"cmd\":\"queue.list\",\"offset\":100000001}", "usage", "offset:");
	refused("{\"cmd\":\"queue.list\",\"search\":[\"a\"]}", "usage", "search:");
	refused("{\"cmd\":\"queue.purge\",\"rcpt_ids\":[]}", "usage", "rcpt_ids:");
	refused("{\"cmd\":\"queue.purge\",\"rcpt_ids\":[0]}", "usage", "rcpt_ids:");
	refused("{\"cmd\":\"queue.purge\",\"rcpt_ids\":[\"5\"]}", "usage", "rcpt_ids:");
	refused("{\"cmd\":\"queue.purge\",\"rcpt_ids\":5}", "usage", "rcpt_ids:");
	refused("{\"cmd\":\"bounces\",\"class\":\"firm\"}", "usage", "class:");
	refused("{\"cmd\":\"queue.domains\",\"by\":\"size\"}", "usage", "by:");
	/* a search alone does not say which mail to change */
	refused("{\"cmd\":\"queue.purge\",\"search\":\"x\"}", "usage", "say which");
}

/* 1001 rcpt_ids: one too many. */
static void
test_rcpt_ids_limit(void)
{
	char line[16384];
	size_t o;
	int i;
	struct ctl_request r;
	const char *code;
	char why[256];

	o = (size_t)snprintf(line, sizeof line, "{\"cmd\":\"queue.hold\",\"rcpt_ids\":[");
	for (i = 1; i <= LIM_CONTROL_RCPTS; i++)
		o += (size_t)snprintf(line + o, sizeof line - o, "%s%d", i > 1 ? "," : "", i);
	(void)snprintf(line + o, sizeof line - o, "]}");
	CHECK_INT(parse(line, &r, &code, why, sizeof why), 0);
	CHECK_INT(r.sel.nrcpt_ids, LIM_CONTROL_RCPTS);
	(void)snprintf(line + o, sizeof line - o, ",%d]}", LIM_CONTROL_RCPTS + 1);
	refused(line, "usage", "rcpt_ids:");
}

static void
test_users(void)
{
	struct ctl_request r;
	const char *code;
	char why[256];

	CHECK_INT(parse("{\"cmd\":\"user.add\",\"name\":\"ann\",\"hash\":\"$y$j9T$x\","
	    "\"domains\":[\"example.org\",\"B\\u00fccher.example\"]}", &r, &code, why,
	    sizeof why), 0);
	CHECK_STR(r.name, "ann");
	CHECK_STR(r.hash, "$y$j9T$x");
	CHECK_STR(r.domains, "example.org,xn--bcher-kva.example");
	CHECK(!r.any_domain);
	CHECK_INT(parse("{\"cmd\":\"user.add\",\"name\":\"bob\",\"hash\":\"$y$j9T$x\"}", &r,
	    &code, why, sizeof why), 0);
	CHECK(r.any_domain);
	CHECK_INT(parse("{\"cmd\":\"user.remove\",\"name\":\"bob\"}", &r, &code, why,
	    sizeof why), 0);
	refused("{\"cmd\":\"user.add\",\"name\":\"bob\"}", "usage", "hash");
	refused("{\"cmd\":\"user.passwd\",\"name\":\"bob\",\"hash\":\"plain\"}", "usage", "hash");
	refused("{\"cmd\":\"user.add\",\"name\":\"\",\"hash\":\"$1\"}", "usage", "name");
	refused("{\"cmd\":\"user.add\",\"name\":\"a,b\",\"hash\":\"$1\"}", "usage", "name");
	refused("{\"cmd\":\"user.add\",\"name\":\"a\",\"hash\":\"$1\",\"domains\":[]}", "usage",
	    "domains");
	refused("{\"cmd\":\"user.add\",\"name\":\"a\",\"hash\":\"$1\",\"domains\":[\"x y\"]}",
	    "usage", "domains");
}

static void
test_events(void)
{
	json_t *ev = ctlproto_event("2026-11-26T12:32:52.693Z 1gm0wtvcc7rb event=received "
	    "from=a@b.example msg=\"say \\\"hi\\\" \\x41\\\\\" nrcpt=3");

	CHECK_STR(json_string_value(json_object_get(ev, "at")), "2026-11-26T12:32:52.693Z");
	CHECK_STR(json_string_value(json_object_get(ev, "id")), "1gm0wtvcc7rb");
	CHECK_STR(json_string_value(json_object_get(ev, "event")), "received");
	CHECK_STR(json_string_value(json_object_get(ev, "from")), "a@b.example");
	CHECK_STR(json_string_value(json_object_get(ev, "msg")), "say \"hi\" A\\");
	CHECK_STR(json_string_value(json_object_get(ev, "nrcpt")), "3");
	json_decref(ev);
	/* broken lines give what could be read, never more */
	ev = ctlproto_event("nospace");
	CHECK_INT(json_object_size(ev), 0);
	json_decref(ev);
	ev = ctlproto_event("t id event=x msg=\"unterminated more=1");
	CHECK_STR(json_string_value(json_object_get(ev, "event")), "x");
	CHECK(json_object_get(ev, "more") == NULL);
	json_decref(ev);
	ev = ctlproto_event("t id bad\xff=x reply=\xff\xfe");
	CHECK(json_object_get(ev, "reply") == NULL || json_is_string(json_object_get(ev,
	    "reply")));
	json_decref(ev);
}

const struct test ctlproto_tests[] = {
	{ "selection", test_selection },
	{ "refusals", test_refusals },
	{ "view members", test_view_members },
	{ "rcpt_ids limit", test_rcpt_ids_limit },
	{ "users", test_users },
	{ "events", test_events },
	{ NULL, NULL },
};
