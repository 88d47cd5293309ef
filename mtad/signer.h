/*
 * signer.h -- the DKIM keys mtad signs with, in memory: loaded from the
 * database at start and after every change of the sender domains
 * (signer_reload), used by the sessions before a message is stored
 * (signer_sign).  A reload swaps the whole set; a session signing keeps
 * the set it took until it is done.
 */
#ifndef MTAD_SIGNER_H
#define MTAD_SIGNER_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "queue.h"

/* Load the active keys: 0, or -1 with a reason (the old set stays). */
int signer_reload(struct queue *q, char *err, size_t errsize);
/*
 * Put a DKIM-Signature field per active key of the message's From:
 * domain at the top of msg.  The From: domain (A-labels) goes into
 * domain ("" when there is none).  1 signed, 0 not a sender domain,
 * -1 a key failed or msg is full (msg is then as it was).
 */
int signer_sign(struct buf *msg, time_t now, char *domain, size_t size);
/* How many sender domains have keys (for the logs). */
size_t signer_domains(void);
void signer_shutdown(void);

#endif
