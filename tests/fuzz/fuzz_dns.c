/*
 * fuzz_dns.c -- libFuzzer target for the pure MX helpers of dns.h.
 *
 * The whole input is first one MX rdata for dns_mx_parse.  Then it is read
 * as a list of rdatas, each one length octet followed by that many octets
 * (a short last one is cut), as libunbound would hand them over.
 * Every accepted rdata must give a host of at most 253 octets in lower
 * case, of non-empty labels of letters, digits, '-' and '_', that encodes
 * back to exactly the input; a rejected one leaves the host empty.  The
 * accepted set, sorted with a fixed rnd, must keep its records, be in
 * preference order, and be a null MX exactly when it is one record ".".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_dns: invariant broken: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

#define FUZZ_MAX_MX 512

/* Wire form of a parsed MX (pref + labels + root) into buf; its length. */
static size_t
fuzz_encode(const struct dns_mx *mx, unsigned char *buf, size_t size)
{
	const char *p = mx->host;
	size_t o = 2;

	buf[0] = (unsigned char)(mx->pref >> 8);
	buf[1] = (unsigned char)(mx->pref & 0xff);
	while (*p != '\0') {
		size_t l = strcspn(p, ".");

		FUZZ_ASSERT(l >= 1 && l <= 63 && o + 1 + l < size);
		buf[o++] = (unsigned char)l;
		memcpy(buf + o, p, l);
		o += l;
		p += l;
		if (*p == '.') {
			p++;
			FUZZ_ASSERT(*p != '\0');	/* no final dot */
		}
	}
	buf[o++] = 0;
	return o;
}

/* Parse one rdata and check the result against it. */
static int
fuzz_parse(const uint8_t *rdata, size_t len, struct dns_mx *mx)
{
	unsigned char again[300];
	const char *c;
	size_t n;

	if (dns_mx_parse(rdata, len, mx) != 0) {
		FUZZ_ASSERT(mx->host[0] == '\0');
		return -1;
	}
	FUZZ_ASSERT(strlen(mx->host) <= LIM_DOMAIN - 2);
	FUZZ_ASSERT(mx->pref <= 0xffff);
	for (c = mx->host; *c; c++)
		FUZZ_ASSERT((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    *c == '-' || *c == '_' || *c == '.');
	n = fuzz_encode(mx, again, sizeof again);
	/* the input up to case */
	FUZZ_ASSERT(n == len);
	for (n = 0; n < len; n++)
		FUZZ_ASSERT(again[n] == rdata[n] ||
		    (rdata[n] >= 'A' && rdata[n] <= 'Z' && again[n] == rdata[n] - 'A' + 'a'));
	return 0;
}

static uint32_t
fuzz_rnd(void *ctx)
{
	uint32_t *s = ctx;

	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int
fuzz_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->host, y->host);
}

/* Sort a parsed set; it must be a permutation, ordered by preference. */
static void
fuzz_sort(struct dns_mx *v, size_t n, uint32_t seed)
{
	struct dns_mx *before = malloc(n * sizeof *v + 1), *after = malloc(n * sizeof *v + 1);
	size_t i;

	FUZZ_ASSERT(before != NULL && after != NULL);
	memcpy(before, v, n * sizeof *v);
	dns_mx_sort(v, n, fuzz_rnd, &seed);
	for (i = 1; i < n; i++)
		FUZZ_ASSERT(v[i - 1].pref <= v[i].pref);
	memcpy(after, v, n * sizeof *v);
	qsort(before, n, sizeof *v, fuzz_mx_cmp);
	qsort(after, n, sizeof *v, fuzz_mx_cmp);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(fuzz_mx_cmp(&before[i], &after[i]) == 0);
	free(before);
	free(after);
	FUZZ_ASSERT(dns_mx_is_null(v, n) == (n == 1 && v[0].host[0] == '\0'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_mx v[FUZZ_MAX_MX];
	struct dns_mx one;
	size_t p = 0, n = 0, l;

	(void)fuzz_parse(data, size, &one);
	while (p < size && n < FUZZ_MAX_MX) {
		l = data[p++];
		if (l > size - p)
			l = size - p;
		if (fuzz_parse(data + p, l, &v[n]) == 0)
			n++;
		p += l;
	}
	fuzz_sort(v, n, size > 0 ? (uint32_t)data[0] << 8 | 1 : 1);
	return 0;
}
