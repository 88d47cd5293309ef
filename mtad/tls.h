/*
 * tls.h -- TLS over an already connected socket, with GnuTLS.  The only
 * file that includes gnutls.h is tls.c; everyone else sees this seam.
 *
 * Client side (delivery, STARTTLS): tls_client() runs the handshake on the
 * socket within a time limit.  With verify, the peer's chain must lead to
 * a trusted CA (tls_ca file, or the system store) and its certificate must
 * match `servername`; otherwise the handshake succeeds without checking.
 * Server side (intake STARTTLS and implicit TLS): tls_server_load() sets
 * our certificate (reloadable without disturbing sessions in flight),
 * tls_server() runs the handshake; the I/O calls are the same.
 *
 * All I/O is blocking with a timeout in milliseconds; on error or timeout
 * the calls return -1 with a reason available from tls_error().
 */
#ifndef MTAD_TLS_H
#define MTAD_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct tls;

struct tls_info {
	char version[16];	/* "TLS1.3" */
	char cipher[96];	/* "TLS_AES_256_GCM_SHA384" (IANA name) */
	int verified;		/* chain and name were checked and good */
};

/* GnuTLS and the trust store for tls_client: `cafile` (the tls_ca
 * directive) replaces the system store when not NULL.  May be called
 * again (reload): sessions running keep the anchors they started with.
 * 0, or -1 with err (the current anchors stay). */
int tls_init(const char *cafile, char *err, size_t errsize);

/*
 * The same in two steps, for a reload that must change all or nothing:
 * load candidates (NULL with err), then use them (taking them over) or
 * drop them.
 */
struct tls_cred;
struct tls_cred *tls_trust_load(const char *cafile, char *err, size_t errsize);
struct tls_cred *tls_cert_load(const char *cert, const char *key, const char *priorities,
    char *err, size_t errsize);
void tls_trust_use(struct tls_cred *c);
void tls_cert_use(struct tls_cred *c);	/* NULL: no certificate */
void tls_cred_drop(struct tls_cred *c);
void tls_shutdown(void);

/* Handshake as a client on `fd`.  NULL on failure, reason in err
 * ("certificate verification failed: signer not found", "handshake:
 * timeout", ...).  `servername` is sent as SNI and, with verify, checked. */
struct tls *tls_client(int fd, const char *servername, int verify, int timeout_ms,
    char *err, size_t errsize);

/* Server side: load (or reload, SIGHUP-safe) our certificate chain and
 * key with a GnuTLS priority string (NULL: TLS 1.2+ defaults); cert NULL
 * forgets them.  0, or -1 with err (the loaded pair stays). */
int tls_server_load(const char *cert, const char *key, const char *priorities,
    char *err, size_t errsize);
/* Is a certificate loaded (may STARTTLS be offered)? */
int tls_server_ready(void);
/* Handshake as a server on `fd`.  NULL on failure, reason in err. */
struct tls *tls_server(int fd, int timeout_ms, char *err, size_t errsize);

/* Read up to n bytes: >0 bytes, 0 on a clean close, -1 on error/timeout. */
ssize_t tls_read(struct tls *t, void *buf, size_t n, int timeout_ms);
/* Write all n bytes: 0, or -1 on error/timeout. */
int tls_write(struct tls *t, const void *buf, size_t n, int timeout_ms);
/* Bytes already decrypted and waiting (poll() on the fd does not see them). */
size_t tls_pending(struct tls *t);
void tls_get_info(struct tls *t, struct tls_info *info);
const char *tls_error(struct tls *t);
/* Send close_notify (best effort, short timeout) and free; the fd stays open. */
void tls_close(struct tls *t);

#endif
