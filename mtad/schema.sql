-- mtad queue schema (DESIGN.md section 4), compiled into mtad.
--
-- Each "-- migration N" section turns schema version N-1 into N.  At start-up
-- queue_open() runs the missing sections in one transaction and records the
-- version in PRAGMA user_version.  A released migration is never edited:
-- changes go into a new section.  Times are Unix seconds (UTC).

-- migration 1
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    queue_id    TEXT NOT NULL UNIQUE,      -- what 250 ... queued as ID said
    sender      TEXT NOT NULL,             -- envelope sender; '' for <>
    size        INTEGER NOT NULL,          -- octets of body
    received_at INTEGER NOT NULL,
    client_addr TEXT NOT NULL,
    helo        TEXT NOT NULL,
    auth_user   TEXT,
    body_type   TEXT NOT NULL DEFAULT '',  -- '', '7BIT' or '8BITMIME' (RFC 6152)
    smtputf8    INTEGER NOT NULL DEFAULT 0,-- MAIL had SMTPUTF8 (RFC 6531)
    body        BLOB NOT NULL              -- CRLF lines, our Received: first
);

CREATE TABLE recipients (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,            -- as the client gave it
    domain       TEXT NOT NULL,            -- A-labels, lower case
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'deferred', 'held', 'sending',
                                  'delivered', 'bounced', 'expired')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_code    INTEGER,
    last_reply   TEXT,
    last_mx      TEXT,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX recipients_due ON recipients (state, next_attempt);
CREATE INDEX recipients_domain ON recipients (domain, state);
CREATE INDEX recipients_message ON recipients (message_id);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    queue_id  TEXT,
    recipient TEXT,
    kind      TEXT NOT NULL,               -- received, delivered, deferred, ...
    code      INTEGER,
    reply     TEXT,
    remote    TEXT,                        -- client or server address
    tls       TEXT
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_queue_id ON events (queue_id);

-- migration 2
-- Delivery: RFC 3461 DSN parameters, delay warnings, the bounce log.
ALTER TABLE messages ADD COLUMN dsn_ret TEXT NOT NULL DEFAULT '';  -- '', 'FULL', 'HDRS'
ALTER TABLE messages ADD COLUMN dsn_envid TEXT;                    -- ENVID, decoded
ALTER TABLE recipients ADD COLUMN dsn_notify INTEGER NOT NULL DEFAULT 0; -- dsn.h bits
ALTER TABLE recipients ADD COLUMN dsn_orcpt TEXT;                  -- "rfc822;x@y", decoded
ALTER TABLE recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
DROP INDEX recipients_domain;
CREATE INDEX recipients_domain ON recipients (domain, state, next_attempt);

-- Every permanent failure: one row (mtactl bounces, the TUI's bounce log,
-- and later the suppression list).  class from the enhanced status code.
CREATE TABLE bounces (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    queue_id  TEXT NOT NULL,
    sender    TEXT NOT NULL,
    recipient TEXT NOT NULL,
    remote    TEXT,                        -- "host[ip]:port", or NULL
    code      INTEGER,                     -- SMTP reply code, NULL if none
    enhanced  TEXT NOT NULL,               -- RFC 3463 "5.1.1"
    reply     TEXT NOT NULL,
    class     TEXT NOT NULL CHECK (class IN ('hard', 'soft', 'policy', 'expired', 'async'))
);
CREATE INDEX bounces_at ON bounces (at);
CREATE INDEX bounces_recipient ON bounces (recipient);

-- migration 3
-- SMTP AUTH users (mtactl user add|passwd|remove|list).
CREATE TABLE users (
    name          TEXT PRIMARY KEY,        -- the AUTH identity
    password_hash TEXT NOT NULL,           -- libxcrypt crypt(3) string, $y$ yescrypt
    domains       TEXT,                    -- sender domains (A-labels), comma-separated;
                                           -- NULL: any domain
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- migration 4
-- mtactl queue --sender, and per-message history for mtactl show.
CREATE INDEX messages_sender ON messages (sender);
CREATE INDEX messages_received ON messages (received_at);

-- migration 5
-- Sender domains and their DKIM keys (mtactl domain ...): mail whose From:
-- domain is here is signed at intake with every active key of it.
CREATE TABLE domains (
    name       TEXT PRIMARY KEY,           -- A-labels, lower case
    created_at INTEGER NOT NULL
);
CREATE TABLE dkim_keys (
    id          INTEGER PRIMARY KEY,
    domain      TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    selector    TEXT NOT NULL,
    algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    bits        INTEGER NOT NULL,
    private_key TEXT NOT NULL,             -- PKCS#8 PEM: never printed or sent
    public_key  TEXT NOT NULL,             -- base64, the p= of its TXT record
    active      INTEGER NOT NULL DEFAULT 1,-- 1: signs; 0: published, waiting
    created_at  INTEGER NOT NULL,
    UNIQUE (domain, selector)
);

-- migration 6
-- A sender domain may sign for its subdomains too (mtactl domain add
-- --subdomains): mail From: news.example.org is then signed d=example.org
-- when news.example.org has no keys of its own.
ALTER TABLE domains ADD COLUMN subdomains INTEGER NOT NULL DEFAULT 0;

-- migration 7
-- Warm-up (mtad.conf `warmup`): recipients handed to delivery on the
-- current UTC day per MX provider ("mxp:google.com"), or per domain while
-- its provider is not known yet ("mx:example.com").  A new day starts
-- again from 0.
CREATE TABLE warmup (
    dest TEXT PRIMARY KEY,
    day  INTEGER NOT NULL,          -- days since 1970-01-01, UTC
    sent INTEGER NOT NULL
) WITHOUT ROWID;

-- migration 8
-- "Is anything of this message still waiting?" after each delivery: one
-- index seek, not a walk over all of a big message's recipients.
DROP INDEX recipients_message;
CREATE INDEX recipients_message ON recipients (message_id, state);

-- migration 9
-- A recipient's row goes when it is finished (delivered, bounced, expired;
-- its outcome is in events and bounces), so "is anything of this message
-- still waiting" is one seek on (message_id) and a state change touches
-- one index fewer.  The states stay allowed for older rows' sake, which
-- this removes.
-- (And a correction to migration 7's comment: warmup.dest is an MX
-- provider's name, "google.com"; no row is kept per domain.)
DELETE FROM recipients WHERE state IN ('delivered', 'bounced', 'expired');
DROP INDEX recipients_message;
CREATE INDEX recipients_message ON recipients (message_id);
