/* dkim.c -- DKIM signing, relaxed/relaxed (see dkim.h). */
#include "dkim.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "b64.h"
#include "limits.h"
#include "str.h"
#include "xalloc.h"

const char *const dkim_sign_fields[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "mime-version",
	"content-type", "content-transfer-encoding", "list-unsubscribe",
	"list-unsubscribe-post", "in-reply-to", "references", NULL,
};

#define DKIM_WSP(c) ((c) == ' ' || (c) == '\t')

/* One header field: where it starts in the message, its length with its
 * CRLF and folded lines, and its name's length (before any blank and the
 * colon). */
struct dkim_field {
	const char *p;
	size_t len, name;
};

int
dkim_canon_header(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t name, i;
	int blank = 0, any = 0;

	if (colon == NULL)
		return -1;
	for (name = (size_t)(colon - field); name > 0 && DKIM_WSP(field[name - 1]); name--)
		;
	for (i = 0; i < name; i++) {
		char c = field[i] >= 'A' && field[i] <= 'Z' ? (char)(field[i] + 32) : field[i];

		if (buf_append(out, &c, 1) < 0)
			return -1;
	}
	if (buf_append(out, ":", 1) < 0)
		return -1;
	for (i = (size_t)(colon - field) + 1; i < len; i++) {
		char c = field[i];

		if (c == '\r' || c == '\n')
			continue;			/* unfold */
		if (DKIM_WSP(c)) {
			blank = 1;
			continue;
		}
		if ((blank && any && buf_append(out, " ", 1) < 0) || buf_append(out, &c, 1) < 0)
			return -1;
		blank = 0;
		any = 1;
	}
	return buf_append(out, "\r\n", 2);
}

/* One body line (without its CRLF), relaxed: blank runs to one space,
 * none at the end.  Appended to out. */
static int
dkim_canon_line(const char *p, size_t n, struct buf *out)
{
	size_t i;
	int blank = 0;

	for (i = 0; i < n; i++) {
		if (DKIM_WSP(p[i])) {
			blank = 1;
			continue;
		}
		if ((blank && buf_append(out, " ", 1) < 0) || buf_append(out, p + i, 1) < 0)
			return -1;
		blank = 0;
	}
	return buf_append(out, "\r\n", 2);
}

int
dkim_canon_body(const char *body, size_t len, struct buf *out)
{
	size_t off = 0, empty = 0;

	while (off < len) {
		const char *nl = memchr(body + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (body + off)) : len - off, i, text = n;
		int blank_only = 1;

		if (text > 0 && body[off + text - 1] == '\r')
			text--;
		for (i = 0; i < text && blank_only; i++)
			blank_only = DKIM_WSP(body[off + i]);
		if (blank_only) {
			empty++;		/* kept only if text follows */
		} else {
			for (; empty > 0; empty--)
				if (buf_append(out, "\r\n", 2) < 0)
					return -1;
			if (dkim_canon_line(body + off, text, out) < 0)
				return -1;
		}
		off += n + (nl != NULL);
	}
	return 0;
}

/* The header fields of msg (up to the empty line) into *f (to free); how
 * many, and where the body starts in *body. */
static size_t
dkim_fields(const char *msg, size_t len, struct dkim_field **f, size_t *body)
{
	size_t n = 0, cap = 0, off = 0;

	*f = NULL;
	while (off < len && !(msg[off] == '\r' && off + 1 < len && msg[off + 1] == '\n')) {
		const char *start = msg + off, *colon;
		size_t end = off;

		do {			/* the line, and the folded ones after it */
			const char *nl = memchr(msg + end, '\n', len - end);

			end = nl ? (size_t)(nl - msg) + 1 : len;
		} while (end < len && DKIM_WSP(msg[end]));
		*f = xgrow(*f, &cap, n + 1, sizeof **f);
		colon = memchr(start, ':', end - off);
		(*f)[n].p = start;
		(*f)[n].len = end - off;
		(*f)[n].name = colon ? (size_t)(colon - start) : 0;
		while ((*f)[n].name > 0 && DKIM_WSP(start[(*f)[n].name - 1]))
			(*f)[n].name--;
		n++;
		off = end;
	}
	*body = off + 2 <= len ? off + 2 : len;
	return n;
}

static int
dkim_is(const struct dkim_field *f, const char *name)
{
	return f->name == strlen(name) && strncasecmp(f->p, name, f->name) == 0;
}

/*
 * The address of a From: value (RFC 5322 3.4): the first angle address,
 * else the first addr-spec, outside comments and quoted strings; its
 * domain (up to a blank, ',', ';', '>' or a comment), trailing dots cut,
 * into raw.  0, or -1 when there is none.
 */
static int
dkim_from_addr(const char *v, const char *end, char *raw, size_t size)
{
	const char *p, *at = NULL, *lt = NULL;
	int depth = 0, quoted = 0;
	size_t k = 0;

	for (p = v; p < end && lt == NULL; p++) {
		if (quoted)
			quoted = !(*p == '"' && p[-1] != '\\');
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *p == '"')
			quoted = 1;
		else if (depth == 0 && *p == '<')
			lt = p;
		else if (depth == 0 && *p == '@' && at == NULL)
			at = p;
		else if (depth == 0 && *p == ',' && at != NULL)
			break;		/* the first mailbox of a list */
	}
	if (lt != NULL) {
		for (at = NULL, p = lt + 1; p < end && *p != '>'; p++)
			if (*p == '@')
				at = p;
	}
	for (p = at ? at + 1 : end; p < end && k + 1 < size &&
	    strchr("<>\r\n\t ,;\"()", *p) == NULL; p++)
		raw[k++] = *p;
	while (k > 0 && raw[k - 1] == '.')
		k--;
	raw[k] = '\0';
	return k > 0 ? 0 : -1;
}

int
dkim_from_domain(const char *msg, size_t len, char *out, size_t size)
{
	struct dkim_field *f;
	size_t n, i, body;
	char raw[LIM_DOMAIN + 1];
	int rc = -1;

	n = dkim_fields(msg, len, &f, &body);
	for (i = 0; i < n && !dkim_is(&f[i], "from"); i++)
		;
	if (i < n && dkim_from_addr(f[i].p + f[i].name + 1, f[i].p + f[i].len, raw,
	    sizeof raw) == 0 && addr_domain_to_ascii(raw, out, size) == ADDR_OK) {
		str_lower(out);
		rc = 0;
	}
	free(f);
	return rc;
}

/* h=: each field of dkim_sign_fields once per instance in the message,
 * "from" once more; and the canonical fields, the last instance of a
 * name first (RFC 6376 5.4.2), into data. */
static int
dkim_headers(const struct dkim_field *f, size_t n, struct buf *h, struct buf *data)
{
	size_t k, i;

	for (k = 0; dkim_sign_fields[k] != NULL; k++) {
		const char *name = dkim_sign_fields[k];
		int extra = strcmp(name, "from") == 0;

		for (i = n; i-- > 0;) {
			if (!dkim_is(&f[i], name))
				continue;
			if (buf_printf(h, "%s%s", h->len ? ":" : "", name) < 0 ||
			    dkim_canon_header(f[i].p, f[i].len, data) < 0)
				return -1;
		}
		if (extra && buf_printf(h, "%s%s", h->len ? ":" : "", name) < 0)
			return -1;
	}
	return 0;
}

/* Append text after `sep`, or on a new line (CRLF TAB, no trailing blank)
 * when the line would pass 76 columns.  *col: the current line's length. */
static int
dkim_put(struct buf *out, size_t *col, const char *sep, const char *text)
{
	size_t n = strlen(text);

	if (*col + strlen(sep) + n > 76 && *col > 1) {
		if (buf_puts(out, "\r\n\t") < 0)
			return -1;
		*col = 1;
	} else if (buf_puts(out, sep) < 0) {
		return -1;
	} else {
		*col += strlen(sep);
	}
	*col += n;
	return buf_puts(out, text);
}

/* The field up to "b=" (folded), for its b= value after signing. */
static int
dkim_field(struct buf *out, const struct dkim_signer *s, time_t now, const char *h,
    const char *bh)
{
	char tag[512];
	size_t col = strlen("DKIM-Signature: v=1;");
	const char *p = h, *sep = " ";

	if (buf_puts(out, "DKIM-Signature: v=1;") < 0)
		return -1;
	(void)str_fmt(tag, sizeof tag, "a=%s;", s->algo);
	if (dkim_put(out, &col, " ", tag) < 0 || dkim_put(out, &col, " ", "c=relaxed/relaxed;") < 0)
		return -1;
	if (str_fmt(tag, sizeof tag, "d=%s;", s->domain) < 0 || dkim_put(out, &col, " ", tag) < 0 ||
	    str_fmt(tag, sizeof tag, "s=%s;", s->selector) < 0 || dkim_put(out, &col, " ", tag) < 0)
		return -1;
	(void)str_fmt(tag, sizeof tag, "t=%lld;", (long long)now);
	if (dkim_put(out, &col, " ", tag) < 0)
		return -1;
	while (*p) {			/* h= folds between names */
		size_t n = strcspn(p, ":");

		if (str_fmt(tag, sizeof tag, "%s%.*s%s", p == h ? "h=" : "", (int)n, p,
		    p[n] ? ":" : ";") < 0 || dkim_put(out, &col, sep, tag) < 0)
			return -1;
		sep = "";
		p += n + (p[n] != '\0');
	}
	if (str_fmt(tag, sizeof tag, "bh=%s;", bh) < 0 || dkim_put(out, &col, " ", tag) < 0)
		return -1;
	return dkim_put(out, &col, " ", "b=");
}

/* The b= value, folded in lines of 72. */
static int
dkim_b(struct buf *out, const unsigned char *sig, size_t n)
{
	char b64[2048];
	long len = b64_encode(sig, n, b64, sizeof b64), i;

	if (len < 0)
		return -1;
	for (i = 0; i < len; i += 72)
		if (buf_printf(out, "\r\n\t%.*s", (int)(len - i < 72 ? len - i : 72), b64 + i) < 0)
			return -1;
	return buf_puts(out, "\r\n");
}

int
dkim_sign(const char *msg, size_t len, const struct dkim_signer *s, time_t now,
    struct buf *out)
{
	struct dkim_field *f;
	struct buf body, h, data, field;
	unsigned char hash[32], sig[1024];
	char bh[64];
	size_t n, start, siglen = 0;
	int rc = -1;

	n = dkim_fields(msg, len, &f, &start);
	buf_init(&body, len + 64);
	buf_init(&h, 4096);
	buf_init(&data, len + 4096);
	buf_init(&field, 8192);
	if (dkim_canon_body(msg + start, len - start, &body) == 0 &&
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, body.data ? body.data : "", body.len, hash) == 0 &&
	    b64_encode(hash, sizeof hash, bh, sizeof bh) > 0 &&
	    dkim_headers(f, n, &h, &data) == 0 &&
	    dkim_field(&field, s, now, h.data ? h.data : "", bh) == 0 &&
	    dkim_canon_header(field.data, field.len, &data) == 0) {
		data.len -= 2;		/* the signature's own field: no CRLF */
		if (s->sign(s->key, (const unsigned char *)data.data, data.len, sig, sizeof sig,
		    &siglen) == 0 && buf_append(out, field.data, field.len) == 0 &&
		    dkim_b(out, sig, siglen) == 0)
			rc = 0;
	}
	free(f);
	buf_free(&body);
	buf_free(&h);
	buf_free(&data);
	buf_free(&field);
	return rc;
}
