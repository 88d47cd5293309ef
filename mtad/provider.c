/* provider.c -- an MX host's provider by the Public Suffix List (see provider.h). */
#include "provider.h"

#include <libpsl.h>
#include <pthread.h>
#include <string.h>

#include "limits.h"
#include "str.h"

static const psl_ctx_t *provider_psl;
static pthread_once_t provider_once = PTHREAD_ONCE_INIT;

/* Loaded once and kept for the life of the process (libpsl's contexts are
 * read-only after loading). */
static void
provider_load(void)
{
	const psl_ctx_t *p = psl_latest(NULL);

	provider_psl = p != NULL ? p : psl_builtin();
}

int
provider_of(const char *host, char *out, size_t outsize)
{
	char lower[LIM_DOMAIN + 1];
	const char *reg = NULL;
	size_t n;

	if (host == NULL || host[0] == '\0' || str_copy(lower, sizeof lower, host) < 0)
		return -1;
	str_lower(lower);
	if ((n = strlen(lower)) > 0 && lower[n - 1] == '.')
		lower[n - 1] = '\0';
	(void)pthread_once(&provider_once, provider_load);
	if (provider_psl != NULL)
		reg = psl_registrable_domain(provider_psl, lower);
	return str_copy(out, outsize, reg != NULL ? reg : lower);
}
