/*
 * limits.h -- every limit mtad enforces, named once, with the RFC minimum it
 * honours.  Code never spells these numbers itself.  Limits that an admin may
 * change have a LIM_DEF_ default here and a directive in mtad.conf(5).
 */
#ifndef MTAD_LIMITS_H
#define MTAD_LIMITS_H

/* RFC 5321 4.5.3.1.4: a command line, verb to CRLF, is at most 512 octets. */
#define LIM_CMD_LINE 512
/*
 * MAIL and RCPT may carry ESMTP parameters, which extend the line
 * (RFC 5321 4.5.3.1.4 "SMTP extensions may be used to increase this limit";
 * RFC 1870 +26, RFC 6152 +16, RFC 6531 +10, RFC 3461 +1000 for ORCPT/ENVID),
 * and AUTH an initial response (RFC 4954 4: PLAIN of the longest user and
 * password fits).
 */
#define LIM_CMD_LINE_PARAMS (LIM_CMD_LINE + 1052)
/* RFC 5321 4.5.3.1.6: a text line of DATA, CRLF included. */
#define LIM_TEXT_LINE 1000
/* RFC 5321 4.5.3.1.1: local part of a mailbox. */
#define LIM_LOCAL_PART 64
/* RFC 5321 4.5.3.1.2: a domain name (in A-labels on the wire). */
#define LIM_DOMAIN 255
/* RFC 5321 4.5.3.1.3: a reverse or forward path, angle brackets included. */
#define LIM_PATH 256
/* A mailbox as we store it: local part, "@", domain (UTF-8 may be longer
 * than the A-label form, RFC 6531). */
#define LIM_MAILBOX (LIM_LOCAL_PART + 1 + LIM_DOMAIN)
/* RFC 5321 6.3: a relay SHOULD refuse a message with "a large number" of
 * Received: headers (at least 100 hops) as a mail loop. */
#define LIM_HOPS 100
/* An over-long line is discarded up to its LF; past this many bytes
 * without one, the session is closed (a client that never ends a line). */
#define LIM_LINE_DISCARD (64 * 1024)
/* Digits accepted in a number on the wire (SIZE=...): 2^64 fits in 20. */
#define LIM_NUMBER_DIGITS 20

/* RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients. */
#define LIM_DEF_MAX_RECIPIENTS 1000
#define LIM_MAX_RECIPIENTS 100000
/* max_message_size default (bytes of DATA after dot-unstuffing).
 * RFC 5321 4.5.3.1.7 asks for at least 64K octets. */
#define LIM_DEF_MAX_MESSAGE_SIZE (35ULL * 1024 * 1024)
#define LIM_MIN_MESSAGE_SIZE (64ULL * 1024)
#define LIM_MAX_MESSAGE_SIZE (1024ULL * 1024 * 1024)
/* Errors (4xx/5xx replies) a session may earn before 421 and close. */
#define LIM_DEF_MAX_ERRORS 20
/* Concurrent inbound sessions over all listeners; beyond: 421 and close. */
#define LIM_DEF_MAX_SESSIONS 100
#define LIM_MAX_SESSIONS 10000

/* RFC 5321 4.5.3.2.7: the server waits at least 5 minutes for a command;
 * 4.5.3.2.5 lets the client wait 3 minutes per data block, we wait 5. */
#define LIM_DEF_TIMEOUT_COMMAND 300
#define LIM_DEF_TIMEOUT_DATA 300
/* RFC 5321 4.5.3.2.1-6: the client (delivery) side. */
#define LIM_DEF_TIMEOUT_CONNECT 30
#define LIM_DEF_TIMEOUT_GREETING 300
#define LIM_DEF_TIMEOUT_MAIL 300
#define LIM_DEF_TIMEOUT_RCPT 300
#define LIM_DEF_TIMEOUT_DATA_INIT 120
#define LIM_DEF_TIMEOUT_DATA_BLOCK 180
#define LIM_DEF_TIMEOUT_DATA_END 600
/* Longest configurable duration (queue_lifetime, retry steps): 1 year. */
#define LIM_MAX_DURATION (366 * 86400)
/* SIGTERM: sessions inside DATA may finish for this long, then get 421. */
#define LIM_SHUTDOWN_GRACE 10
/* Time to send a reply before the peer is considered gone. */
#define LIM_SEND_TIMEOUT 60

/* Messages a local user may hand to sendmail per minute (`local_rate`). */
#define LIM_DEF_LOCAL_RATE 100
/* A local user's login name (useradd allows 32). */
#define LIM_LOCAL_USER 64
/* Local users whose rates are kept at once. */
#define LIM_RATE_KEYS 4096
/* Delivery threads (`workers`); each holds at most one connection. */
#define LIM_DEF_WORKERS 32
#define LIM_MAX_WORKERS 1000
/* Default connections per destination (`limit * connections=N`), as
 * Postfix's default_destination_concurrency_limit. */
#define LIM_DEF_DEST_CONNECTIONS 20
/* Messages delivered over one connection before QUIT (`limit ...
 * messages_per_connection=N` overrides). */
#define LIM_DEF_MSGS_PER_CONN 1000
/* Messages handed to a worker at once (one job); it asks for more of the
 * same destination while its connection is open. */
#define LIM_JOB_MESSAGES 64
/* Recipients the scheduler holds in memory (claimed, state 'sending'),
 * in all and per destination domain (a slow domain cannot take it all). */
#define LIM_ACTIVE_RCPTS 20000
#define LIM_ACTIVE_PER_DOMAIN 2000
/* Delivered units a worker may have on their way to the disk: a crash
 * can deliver at most this many messages per worker a second time. */
#define LIM_WORKER_UNRECORDED 8
/* Waiting for the reply to our QUIT: nothing depends on it. */
#define LIM_QUIT_TIMEOUT 10
/* Longest the scheduler sleeps without a reason to wake. */
#define LIM_SCHED_IDLE 60
/* A reply from a remote server: lines kept, octets kept per reply. */
#define LIM_REPLY_LINES 100
#define LIM_REPLY_TEXT 1024
/* Delivery: candidates from DNS (hosts x addresses), addresses per host
 * (Postfix's smtp_mx_address_limit is 5 in all). */
/* A throttling destination (trouble_throttle) pauses for 1 minute, then
 * twice as long each time it throttles again, at most an hour; a delivery
 * to it starts again from a minute. */
#define LIM_THROTTLE_PAUSE_MIN 60
#define LIM_THROTTLE_PAUSE_MAX 3600
/* `warmup`: the default daily growth of the cap (percent), and the cap
 * past which the warm-up is over (no cap at all). */
#define LIM_DEF_WARMUP_GROWTH 50
#define LIM_WARMUP_END 10000000
/* mtactl status: the warm-up counts shown (the largest). */
#define LIM_WARMUP_ROWS 10
/* What the scheduler remembers of a domain's MX provider (provider.h),
 * learned from its last MX lookup, for a domain that comes back after it
 * had nothing waiting: forgotten after this many seconds. */
#define LIM_PROVIDER_TTL 3600
/* A connection whose destination's `rate=` lets its next message go
 * within this many seconds waits for it instead of closing (QUIT, then a
 * new connection for the next message). */
#define LIM_RATE_HOLD 5
#define LIM_DNS_TARGETS 20
#define LIM_DNS_ADDRS_PER_HOST 4
/* domain check: a TXT record's text (its strings joined), TXT records of
 * one name, MX hosts and PTR names looked at, and SPF's DNS lookups
 * (RFC 7208 4.6.4: at most 10). */
#define LIM_DNS_TXT 4096
#define LIM_DNS_RECORDS 16
#define LIM_SPF_LOOKUPS 10
/* A DSN returns the whole original (RET=FULL) only up to this size;
 * beyond, its headers (Postfix: bounce_size_limit). */
#define LIM_DSN_FULL_BODY 50000
/* RFC 3461 4.4: ENVID at most 100 octets; ORCPT at most 500. */
#define LIM_DSN_ENVID 100
#define LIM_DSN_ORCPT 500

/* SMTP AUTH (RFC 4954): a user name, a password, a crypt(3) hash, the
 * sender domains a user may be limited to. */
#define LIM_AUTH_USER 255
/* libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE (512) counts the final NUL. */
#define LIM_AUTH_PASSWORD 511
#define LIM_AUTH_HASH 256
#define LIM_AUTH_DOMAINS 4096
/* Failed AUTH per client address: this many within the window, and the
 * address gets 421 for the penalty; each failure's 535 is held back one
 * second per failure so far, at most LIM_AUTH_MAX_DELAY. */
#define LIM_AUTH_FAILURES 5
#define LIM_AUTH_WINDOW 600
#define LIM_AUTH_PENALTY 900
#define LIM_AUTH_MAX_DELAY 5
#define LIM_AUTH_CLIENTS 4096
/* The TLS handshake of an inbound session. */
#define LIM_TLS_HANDSHAKE 30

/* The control socket: clients at once, one request line, what may wait
 * unsent for one client (a full page of the longest rows fits; a bigger
 * reply is refused with an error), how much of that a monitor may have
 * waiting before it loses events (it never holds the daemon back), and
 * the monitor's backlog of log lines. */
#define LIM_CONTROL_CLIENTS 64
#define LIM_CONTROL_LINE (64 * 1024)
#define LIM_CONTROL_OUTPUT (32 * 1024 * 1024)
#define LIM_MONITOR_OUTPUT (1024 * 1024)
#define LIM_MONITOR_RING 4096
/* A listing page, and the most a `show` returns of headers and body. */
#define LIM_LIST_PAGE 10000
#define LIM_SHOW_TEXT (16 * 1024)
/* DKIM: a selector we make or take (one DNS label, RFC 1035 2.3.4), and
 * the pairs of keys a sender domain may have (each `domain key` adds one). */
#define LIM_DKIM_SELECTOR 63
#define LIM_DKIM_KEYS 20

/* Recipients named one by one in a request ("rcpt_ids": mtatui's tagged
 * rows; 1000 ids fit in a request line), rows a listing may skip
 * ("offset"), buckets of a stats series, domains in queue.domains. */
#define LIM_CONTROL_RCPTS 1000
#define LIM_LIST_OFFSET 100000000
#define LIM_STATS_BUCKETS 1440
#define LIM_DOMAIN_ROWS 1000
/* Waiting for a reload asked over the control socket. */
#define LIM_CONTROL_RELOAD 10

/* Config file: size of the whole file, one line, entries of a list. */
#define LIM_CONF_FILE (1024 * 1024)
#define LIM_CONF_LINE 4096
#define LIM_CONF_ITEMS 1024
#define LIM_CONF_ERRORS 100

/* Queue IDs: characters of the random, URL-safe ID (5 bits each). */
#define LIM_QUEUE_ID 12
/* Session IDs in the log. */
#define LIM_SESSION_ID 10
/* A reply line we generate (RFC 5321 4.5.3.1.5: 512 octets with CRLF). */
#define LIM_REPLY_LINE 512
/* Replies queued for a client before the engine stops reading its input
 * until they are sent (a pipelining client cannot make us buffer more);
 * the output buffer's hard maximum leaves room for one more reply. */
#define LIM_OUT_HIGHWATER (16 * 1024)
#define LIM_OUT_BUFFER (64 * 1024)
/* Bytes read from a client socket at once. */
#define LIM_READ_CHUNK (64 * 1024)
/* One log line, all fields included; longer values are cut with "...". */
#define LIM_LOG_LINE 2048
/* Jobs the writer commits in one transaction (group commit). */
#define LIM_WRITER_BATCH 512
/* Stack of a session or listener thread. */
#define LIM_THREAD_STACK (256 * 1024)

#endif
