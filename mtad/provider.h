/*
 * provider.h -- which mail provider an MX host belongs to.
 *
 * The provider is the host's registrable domain under the Public Suffix
 * List (libpsl): aspmx.l.google.com and alt1.aspmx.l.google.com are both
 * "google.com", example-com.mail.protection.outlook.com is "outlook.com",
 * mx.example.co.uk is "example.co.uk".  The scheduler makes the domains
 * whose MX hosts share a provider share that provider's limits, pauses and
 * warm-up cap, as the receiver sees one sender however many of its
 * customers' domains the mail is for.
 */
#ifndef MTAD_PROVIDER_H
#define MTAD_PROVIDER_H

#include <stddef.h>

/* The provider of MX host `host` (A-labels, any case) into out, lower
 * case: its registrable domain, or the host itself when it has none (a
 * public suffix, a single label).  0, or -1 when out is too small or the
 * host is empty.  Thread-safe; the list is loaded on first use (the
 * system's publicsuffix file when newer, else libpsl's built-in copy). */
int provider_of(const char *host, char *out, size_t outsize);

#endif
