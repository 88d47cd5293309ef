/*
 * worker.h -- the delivery workers: threads that take jobs from the
 * scheduler, find the next hop (the `route`, or the domain's MX through
 * dns.h), talk SMTP to it (smtp_client.h over net.h), and record every
 * recipient's outcome -- delivered, deferred with the retry schedule,
 * bounced, expired -- as trouble.h decides, with the DSNs (dsn.h) the
 * senders asked for.  Each worker has its own read connection to the
 * queue; all writes go through the writer.
 *
 * Log, one line per recipient and attempt:
 *   QID event=delivery rcpt=ADDR relay=host[ip]:port
 *       tls="TLS1.3 CIPHER verified|unverified" dsn=2.0.0
 *       status=sent|deferred|bounced|expired attempts=N delay=S reply="..."
 */
#ifndef MTAD_WORKER_H
#define MTAD_WORKER_H

#include <stddef.h>

/* Start n workers on the queue at db_path.  0, or -1 with err. */
int worker_start(const char *db_path, unsigned n, char *err, size_t errsize);
/* Wait for every worker to end (after sched_stop(): each finishes the
 * message it is on).  Returns how many were still running after `seconds`
 * (they are left behind). */
int worker_stop(int seconds);

#endif
