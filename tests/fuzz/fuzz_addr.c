/*
 * fuzz_addr.c -- libFuzzer target for addr.h.
 *
 * The input, as a C string, goes through addr_parse_path with every
 * allow_null/allow_postmaster combination, through addr_parse_mailbox and
 * addr_domain_to_ascii.  On success the result must respect every limit:
 * local part, domain and path lengths; *end inside the input, just past a
 * ">"; an ASCII lower-case domain (A-labels) unless it is an address
 * literal; the utf8 flag set exactly when the mailbox has a non-ASCII
 * byte; and the mailbox, put back in brackets, must parse to the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_addr: invariant broken: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

static int
fuzz_has_nonascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* A-labels: letters, digits, '-' and '.', no upper case. */
static void
fuzz_check_domain(const char *d)
{
	size_t n = strlen(d);

	FUZZ_ASSERT(n > 0 && n <= LIM_DOMAIN);
	if (d[0] == '[') {
		FUZZ_ASSERT(d[n - 1] == ']');
		return;
	}
	for (; *d; d++)
		FUZZ_ASSERT((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') ||
		    *d == '-' || *d == '.');
}

/* A parsed mailbox: lengths, domain form, utf8 flag. */
static void
fuzz_check_mailbox(const struct addr *a)
{
	const char *at = strrchr(a->mailbox, '@');
	size_t n = strlen(a->mailbox);

	FUZZ_ASSERT(n <= LIM_MAILBOX);
	FUZZ_ASSERT(a->utf8 == fuzz_has_nonascii(a->mailbox));
	if (a->null) {
		FUZZ_ASSERT(n == 0 && a->domain_ascii[0] == '\0' && !a->postmaster);
		return;
	}
	if (a->postmaster) {
		FUZZ_ASSERT(n == 10 && strcasecmp(a->mailbox, "postmaster") == 0);
		FUZZ_ASSERT(a->domain_ascii[0] == '\0');
		return;
	}
	/* a quoted local part may hold '@', the domain never does */
	FUZZ_ASSERT(at != NULL && at > a->mailbox);
	FUZZ_ASSERT((size_t)(at - a->mailbox) <= LIM_LOCAL_PART);
	FUZZ_ASSERT(strlen(at + 1) <= LIM_DOMAIN);
	fuzz_check_domain(a->domain_ascii);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct addr a, again;
	size_t end, again_end;
	int fl;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	for (fl = 0; fl < 4; fl++) {
		int allow_null = fl & 1, allow_pm = (fl >> 1) & 1;
		enum addr_err e;

		end = (size_t)-1;
		e = addr_parse_path(s, allow_null, allow_pm, &a, &end);
		FUZZ_ASSERT(addr_strerror(e) != NULL);
		if (e != ADDR_OK)
			continue;
		FUZZ_ASSERT(end >= 2 && end <= strlen(s) && end <= LIM_PATH);
		FUZZ_ASSERT(s[0] == '<' && s[end - 1] == '>');
		FUZZ_ASSERT(!a.null || allow_null);
		FUZZ_ASSERT(!a.postmaster || allow_pm);
		fuzz_check_mailbox(&a);
		if (a.null) {
			FUZZ_ASSERT(end == 2);
			continue;
		}
		/* the mailbox is exactly what stood between the brackets */
		FUZZ_ASSERT(strlen(a.mailbox) == end - 2 &&
		    memcmp(a.mailbox, s + 1, end - 2) == 0);
		/* and parses again to the same */
		{
			char path[LIM_MAILBOX + 3];

			snprintf(path, sizeof path, "<%s>", a.mailbox);
			FUZZ_ASSERT(addr_parse_path(path, allow_null, allow_pm, &again,
			    &again_end) == ADDR_OK);
			FUZZ_ASSERT(again_end == end);
			FUZZ_ASSERT(strcmp(again.domain_ascii, a.domain_ascii) == 0);
			FUZZ_ASSERT(again.utf8 == a.utf8 && again.postmaster == a.postmaster);
		}
		if (!a.postmaster) {
			FUZZ_ASSERT(addr_parse_mailbox(a.mailbox, &again) == ADDR_OK);
			FUZZ_ASSERT(strcmp(again.domain_ascii, a.domain_ascii) == 0);
		}
	}

	if (addr_parse_mailbox(s, &a) == ADDR_OK) {
		FUZZ_ASSERT(strcmp(a.mailbox, s) == 0);
		FUZZ_ASSERT(!a.null && !a.postmaster);
		fuzz_check_mailbox(&a);
	}

	{
		char out[LIM_DOMAIN + 1], out2[LIM_DOMAIN + 1];
		enum addr_err e = addr_domain_to_ascii(s, out, sizeof out);

		FUZZ_ASSERT(e == ADDR_OK || e == ADDR_SYNTAX || e == ADDR_BAD_IDN ||
		    e == ADDR_DOMAIN_TOO_LONG || e == ADDR_BAD_UTF8);
		if (e == ADDR_OK) {
			FUZZ_ASSERT(out[0] != '[');
			fuzz_check_domain(out);
			/* A-labels are a fixed point */
			FUZZ_ASSERT(addr_domain_to_ascii(out, out2, sizeof out2) == ADDR_OK);
			FUZZ_ASSERT(strcmp(out, out2) == 0);
		}
	}
	free(s);
	return 0;
}
