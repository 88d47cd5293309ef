"""End-to-end tests of the delivery engine: mtad takes mail over SMTP and
delivers it to real SMTP sinks (sinks.py, aiosmtpd) found through a real
DNS server (dnsserver.py) on loopback, and reports failures with DSNs.

Every test runs its own mtad and sinks on free ports; the zone (one for the
module) sends every domain to mx.sink1.example.net (127.0.0.1) or
mx.sink3.example.net (127.0.0.3) -- on mtad's `mx_port`, which is the port
of that test's sink(s).  Waits poll the queue, the log or the sink against
monotonic deadlines.

Run: MTAD_BIN=/work/main/build/mtad /usr/bin/python3 -m pytest -q \
     tests/integration/test_delivery.py
"""
import email
import email.policy
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from mtadtest import (QUEUED_RE, Client, free_port, received_re, start_dnsserver,
                      stop_process, wait_until)
from sinks import Sink, free_port_on, port_is_closed

HERE = os.path.dirname(os.path.abspath(__file__))
CERTS_SH = os.path.join(HERE, "..", "unit", "certs.sh")
SENDER = "sender@example.org"          # example.org's MX is sink1: DSNs land there
T = 15.0                               # default bound of a wait

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")


# Outcomes are recorded on the writer thread from data the workers filled:
# under an ASan build, also catch stack frames read after they were left.
# (Ignored by binaries without ASan.)
_asan = os.environ.get("ASAN_OPTIONS", "")
ASAN_ENV = dict(os.environ, ASAN_OPTIONS=(_asan + ":" if _asan else "") +
                "detect_stack_use_after_return=1")

ZONE = """\
example.net.            60 IN SOA ns.example.net. hostmaster.example.net. 1 60 60 60 0
example.com.            60 IN SOA ns.example.com. hostmaster.example.com. 1 60 60 60 0
example.org.            60 IN SOA ns.example.org. hostmaster.example.org. 1 60 60 60 0
mx.sink1.example.net.   60 IN A 127.0.0.1
mx.sink3.example.net.   60 IN A 127.0.0.3
mx-dead.example.net.    60 IN A 127.0.0.2
example.org.            60 IN MX 10 mx.sink1.example.net.
; 2: MX 10 refuses connections, MX 20 is the sink
fallback.example.net.   60 IN MX 20 mx.sink1.example.net.
fallback.example.net.   60 IN MX 10 mx-dead.example.net.
; 3: no MX but an address; null MX; SERVFAIL (nosuch.example.net: NXDOMAIN)
implicit.example.net.   60 IN A 127.0.0.1
nullmx.example.net.     60 IN MX 0 .
servfail.example.net.   60 IN TXT "servfail"
; 11: the IDN domain bücher.example, by its A-label only
xn--bcher-kva.example.  60 IN MX 10 mx.sink1.example.net.
; the sink on 127.0.0.3 (same port as sink1)
busy.example.com.       60 IN MX 10 mx.sink3.example.net.
noutf8.example.com.     60 IN MX 10 mx.sink3.example.net.
small.example.com.      60 IN MX 10 mx.sink3.example.net.
withdsn.example.com.    60 IN MX 10 mx.sink3.example.net.
"""
SINK1_DOMAINS = ["direct", "retry", "partial", "expire", "delay", "calm", "utf8", "relayed",
                 "slow0", "slow1", "slow2", "smart"]


def zone_text():
    text = ZONE
    for d in SINK1_DOMAINS:
        text += f"{d}.example.net. 60 IN MX 10 mx.sink1.example.net.\n"
    for i in range(10):
        text += f"d{i}.example.com. 60 IN MX 10 mx.sink1.example.net.\n"
    return text


# ---------------------------------------------------------------- fixtures

class Dns:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    """dnsserver.py serving the module's zone on a free port."""
    zone = tmp_path_factory.mktemp("dns") / "zone.txt"
    zone.write_text(zone_text(), encoding="utf-8")
    proc, port = start_dnsserver(zone)
    yield Dns(proc, port)
    stop_process(proc)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """tests/unit/certs.sh: ca.crt, server.crt/.key (mx.example.net, 127.0.0.1,
    ::1), other-ca.crt (signed nothing)."""
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", CERTS_SH, str(d)], check=True, timeout=60)
    return d


@pytest.fixture
def sinks():
    """Factory: sinks(host="127.0.0.1", port=None, **Sink options) -> started Sink."""
    made = []

    def make(host="127.0.0.1", port=None, **kw):
        for attempt in range(3):        # a free port may be taken before we bind it
            s = Sink(host, port or free_port(host), **kw)
            try:
                s.start()
                break
            except Exception:
                s.stop()
                if port or attempt == 2:
                    raise
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def deliverer(make_mtad, dns):
    """Factory: deliverer(mx_port, extra="") -> a started mtad that resolves
    through the test DNS and delivers to MX hosts on mx_port."""
    made = []

    def make(mx_port, extra="", start=True, **kw):
        conf = f"resolver 127.0.0.1@{dns.port}\nmx_port {mx_port}\n" + extra
        m = make_mtad(extra=conf, start=False, **kw)
        m.env = ASAN_ENV
        made.append(m)
        if start:
            m.start()
        return m
    yield make
    for m in made:      # a crash after the test's last wait is a failure too
        if m.proc is not None:
            assert m.running(), f"mtad exited {m.proc.returncode}:\n" + m.log_text()


# ---------------------------------------------------------------- helpers

_counter = [0]


def body_for(subject=None, size=0):
    """A message with a unique Message-ID (CRLF lines); padded to ~size."""
    _counter[0] += 1
    n = _counter[0]
    subject = subject or f"delivery test {n}"
    text = (f"From: <{SENDER}>\r\nTo: <someone@example.net>\r\nSubject: {subject}\r\n"
            f"Message-ID: <t{n}.{os.getpid()}@client.example>\r\n\r\nhello {n}\r\n")
    while len(text) < size:
        text += "x" * 76 + "\r\n"
    return text.encode("utf-8")


def submit(m, sender=SENDER, rcpts=("a@direct.example.net",), body=None, mail_params="",
           rcpt_params=None, client=None):
    """One message into mtad (a new session unless client is given): its queue ID."""
    c = client or Client(m.port)
    try:
        if client is None:
            c.greeting()
            c.ehlo()
        c.expect(f"MAIL FROM:<{sender}>{mail_params}", "250 2.1.0 Ok")
        for r in rcpts:
            c.expect(f"RCPT TO:<{r}>{(rcpt_params or {}).get(r, '')}", "250 2.1.5 Ok")
        c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
        c.send((body or body_for()) + b".\r\n")
        r = c.reply()
        q = QUEUED_RE.match(r.line)
        assert q, f"not queued: {r.lines}"
        return q.group(1)
    finally:
        if client is None:
            c.close()


def delivery_re(qid, rcpt=None, status=None):
    """The log line of one delivery attempt; groups rcpt relay tls dsn status
    attempts delay reply."""
    r = re.escape(rcpt) if rcpt else r"[^\s\"]+"
    st = status or r"\w+"
    return (rf"^\S+ {qid} event=delivery rcpt=(?P<rcpt>\"{r}\"|{r}) "
            rf"relay=(?P<relay>\S+) (?:tls=(?P<tls>\"[^\"]*\"|\S+) )?dsn=(?P<dsn>\S+) "
            rf"status=(?P<status>{st}) attempts=(?P<attempts>\d+) delay=(?P<delay>\d+) "
            rf"reply=(?P<reply>.*)$")


def wait_db(m, sql, params=(), pred=bool, timeout=T, what=None):
    """Poll a query until pred(rows) holds; returns the rows."""
    last = []

    def check():
        last[:] = m.db_rows(sql, params)
        return pred(last)
    try:
        wait_until(check, timeout, what or sql, interval=0.02)
    except AssertionError as e:
        raise AssertionError(f"{e}; last rows {last}\n" + m.log_text()) from None
    return list(last)


def wait_queue_empty(m, timeout=T):
    """Every message (DSNs included) is final and deleted."""
    wait_db(m, "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM recipients)",
            pred=lambda rows: rows[0][0] == 0, timeout=timeout, what="an empty queue")


def event_kinds(m, qid, rcpt=None):
    if rcpt is None:
        rows = m.db_rows("SELECT kind FROM events WHERE queue_id = ? ORDER BY id", (qid,))
    else:
        rows = m.db_rows("SELECT kind FROM events WHERE queue_id = ? AND recipient = ? "
                         "ORDER BY id", (qid, rcpt))
    return [r[0] for r in rows]


def rcpt_rows(m, where="1", params=()):
    return m.db_rows("SELECT address, state, attempts, last_code, last_reply FROM recipients "
                     f"WHERE {where} ORDER BY id", params)


def unfold(v):
    return re.sub(r"\s+", " ", v).strip()


class Dsn:
    """A delivery status notification as received: the parsed message, the
    per-message fields, the per-recipient field blocks, the parts."""

    def __init__(self, data):
        self.data = data
        self.msg = email.message_from_bytes(data, policy=email.policy.compat32)
        assert self.msg.get_content_type() == "multipart/report", self.msg["Content-Type"]
        assert self.msg.get_param("report-type") == "delivery-status", self.msg["Content-Type"]
        self.parts = self.msg.get_payload()
        assert len(self.parts) == 3, [p.get_content_type() for p in self.parts]
        self.text, self.status, self.original = self.parts
        assert self.text.get_content_type() == "text/plain"
        assert self.status.get_content_type() in ("message/delivery-status",
                                                  "message/global-delivery-status")
        blocks = self._status_blocks()
        self.per_message, self.recipients = blocks[0], blocks[1:]

    def _status_blocks(self):
        """Part 2's field blocks, read from the raw bytes (python's parser
        knows message/delivery-status but not the global variant)."""
        boundary = self.msg.get_boundary().encode()
        raw = self.data.split(b"--" + boundary)[2]
        body = raw.split(b"\r\n\r\n", 1)[1]
        blocks = []
        for chunk in re.split(rb"\r\n\r\n", body.strip(b"\r\n")):
            fields = {}
            for line in re.sub(rb"\r\n[ \t]", b" ", chunk).split(b"\r\n"):
                if not line.strip():
                    continue
                k, _, v = line.decode("utf-8").partition(":")
                fields[k.strip().lower()] = unfold(v)
            if fields:
                blocks.append(fields)
        assert len(blocks) >= 2, body
        return blocks

    def recipient(self, address):
        for b in self.recipients:
            if b.get("final-recipient", "").split(";", 1)[-1].strip().lower() == address.lower():
                return b
        raise AssertionError(f"no block for {address} in {self.recipients}")

    def original_text(self):
        p = self.original
        payload = p.get_payload(decode=False)
        if isinstance(payload, list):
            return "".join(x.as_string() for x in payload)
        return payload


def dsns(sink, to=SENDER):
    """The DSNs (MAIL FROM:<>) the sink got for `to`."""
    return [m for m in sink.snapshot() if m.sender == "<>" and
            [r.lower() for r in m.rcpts] == [to.lower()]]


def wait_dsns(sink, n, to=SENDER, timeout=T):
    sink.wait_for(lambda s: len(dsns(s, to)) >= n, timeout, f"{n} DSN(s) to {to}")
    return [Dsn(m.data) for m in dsns(sink, to)]


# ---------------------------------------------------------------- 1-3: routing

def test_delivered_through_mx(sinks, deliverer):
    sink = sinks()
    m = deliverer(sink.port)
    body = body_for("through the MX")
    qid = submit(m, rcpts=["alice@direct.example.net"], body=body)
    line = m.wait_for_log(delivery_re(qid, "alice@direct.example.net"), T)
    assert line["status"] == "sent", line.group(0)
    assert line["relay"] == f"mx.sink1.example.net[127.0.0.1]:{sink.port}", line.group(0)
    assert line["dsn"] == "2.0.0" and line["attempts"] == "1", line.group(0)
    wait_queue_empty(m)
    got = sink.messages_for("alice@direct.example.net")
    assert len(got) == 1, sink.messages
    msg = got[0]
    assert msg.sender == SENDER and msg.rcpts == ["alice@direct.example.net"]
    assert received_re(qid, rcpt="alice@direct.example.net").match(msg.data), msg.data[:300]
    assert msg.data.endswith(body), msg.data[-200:]
    assert event_kinds(m, qid) == ["received", "delivered"]
    remote = m.db_rows("SELECT remote, code FROM events WHERE queue_id = ? AND kind = "
                       "'delivered'", (qid,))
    assert remote == [(f"mx.sink1.example.net[127.0.0.1]:{sink.port}", 250)]
    assert len(sink.sessions) == 1 and sink.sessions[0].helo == m.hostname


def test_second_mx_when_first_refuses(sinks, deliverer):
    sink = sinks()
    assert port_is_closed("127.0.0.2", sink.port)
    m = deliverer(sink.port)
    qid = submit(m, rcpts=["bob@fallback.example.net"])
    line = m.wait_for_log(delivery_re(qid, "bob@fallback.example.net"), T)
    assert line["status"] == "sent", line.group(0)
    assert line["relay"] == f"mx.sink1.example.net[127.0.0.1]:{sink.port}", line.group(0)
    assert line["attempts"] == "1"
    assert len(sink.messages_for("bob@fallback.example.net")) == 1
    wait_queue_empty(m)


def test_implicit_mx(sinks, deliverer):
    sink = sinks()
    m = deliverer(sink.port)
    qid = submit(m, rcpts=["carol@implicit.example.net"])
    line = m.wait_for_log(delivery_re(qid, "carol@implicit.example.net"), T)
    assert line["status"] == "sent", line.group(0)
    assert line["relay"] == f"implicit.example.net[127.0.0.1]:{sink.port}", line.group(0)
    assert len(sink.messages_for("carol@implicit.example.net")) == 1
    wait_queue_empty(m)


@pytest.mark.parametrize("rcpt,status,why", [
    ("dave@nullmx.example.net", "5.1.10", "null MX"),
    ("erin@nosuch.example.net", "5.1.2", "NXDOMAIN"),
])
def test_dns_says_no_mail(sinks, deliverer, rcpt, status, why):
    sink = sinks()
    m = deliverer(sink.port)
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "bounced" and line["dsn"] == status, line.group(0)
    assert line["relay"] == "none" and line["attempts"] == "1", line.group(0)
    assert why in line["reply"], line.group(0)
    [dsn] = wait_dsns(sink, 1)
    b = dsn.recipient(rcpt)
    assert b["action"] == "failed" and b["status"] == status, b
    assert why in b.get("diagnostic-code", ""), b
    assert "remote-mta" not in b, b
    assert sink.messages_for(rcpt) == [] and not [x for x in sink.mails if x.address == SENDER]
    wait_queue_empty(m)
    rows = m.db_rows("SELECT recipient, enhanced FROM bounces WHERE queue_id = ?", (qid,))
    assert rows == [(rcpt, status)]


def test_servfail_defers(sinks, deliverer):
    sink = sinks()
    m = deliverer(sink.port, "retry 1h\n")
    qid = submit(m, rcpts=["frank@servfail.example.net"])
    line = m.wait_for_log(delivery_re(qid, "frank@servfail.example.net"), T)
    assert line["status"] == "deferred", line.group(0)
    rows = wait_db(m, "SELECT state, attempts, last_reply FROM recipients",
                   pred=lambda r: r and r[0][0] == "deferred")
    assert rows[0][1] == 1 and "SERVFAIL" in rows[0][2], rows
    assert event_kinds(m, qid) == ["received", "deferred"]
    assert m.message_count() == 1
    assert sink.mails == [] and "dsn_queued" not in m.log_text()


# ---------------------------------------------------------------- 4-7: retries, DSNs

def test_4xx_then_success_on_retry(sinks, deliverer):
    sink = sinks()
    rcpt = "gina@retry.example.net"
    sink.on_data("451 4.3.0 try again later", times=1, rcpts=[rcpt])
    m = deliverer(sink.port, "retry 2s\n")
    qid = submit(m, rcpts=[rcpt])
    first = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert first["status"] == "deferred" and first["attempts"] == "1", first.group(0)
    assert first["dsn"] == "4.3.0" and "451 4.3.0" in first["reply"], first.group(0)
    # inside the 2 s before the retry
    rows = rcpt_rows(m)
    assert rows and rows[0][1] in ("deferred", "sending") and rows[0][2] >= 1, rows
    line = m.wait_for_log(delivery_re(qid, rcpt, "sent"), T)
    assert line["attempts"] == "2", line.group(0)
    wait_queue_empty(m)
    assert event_kinds(m, qid) == ["received", "deferred", "delivered"]
    at = m.db_rows("SELECT kind, at, code FROM events WHERE queue_id = ? AND kind != "
                   "'received' ORDER BY id", (qid,))
    assert at[0][2] == 451 and at[1][2] == 250, at
    assert at[1][1] - at[0][1] >= 1, at           # the retry waited
    assert [r for _, r in sink.data_replies] == ["451 4.3.0 try again later",
                                                 "250 2.0.0 Ok: queued"]
    assert len(sink.messages_for(rcpt)) == 1


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_5xx_for_one_rcpt_dsn(sinks, deliverer, pipelining):
    sink = sinks(pipelining=pipelining)
    good, bad = "hank@partial.example.net", "ivan@partial.example.net"
    sink.on_rcpt(f"550 5.1.1 <{bad}>: Recipient address rejected: no such user",
                 rcpts=[bad])
    m = deliverer(sink.port)
    body = body_for("partial failure")
    qid = submit(m, rcpts=[good, bad], body=body)
    bline = m.wait_for_log(delivery_re(qid, bad), T)
    assert bline["status"] == "bounced" and bline["dsn"] == "5.1.1", bline.group(0)
    gline = m.wait_for_log(delivery_re(qid, good), T)
    assert gline["status"] == "sent", gline.group(0)
    [dsn] = wait_dsns(sink, 1)
    wait_queue_empty(m)
    # the good one, once, alone
    got = [x for x in sink.messages if x.sender == SENDER]
    assert len(got) == 1 and got[0].rcpts == [good], sink.messages
    # the DSN: from <> to the sender, RFC 3464
    raw = dsns(sink)[0]
    assert raw.sender == "<>" and raw.rcpts == [SENDER]
    assert dsn.msg["To"].strip() in (f"<{SENDER}>", SENDER), dsn.msg["To"]
    assert dsn.msg["Auto-Submitted"] == "auto-replied"
    assert "MAILER-DAEMON@" + m.hostname in dsn.msg["From"]
    assert dsn.per_message["reporting-mta"] == f"dns; {m.hostname}", dsn.per_message
    assert len(dsn.recipients) == 1, dsn.recipients
    b = dsn.recipient(bad)
    assert b["final-recipient"] == f"rfc822; {bad}", b
    assert b["action"] == "failed" and b["status"] == "5.1.1", b
    assert b["diagnostic-code"].startswith("smtp; 550"), b
    assert "Recipient address rejected: no such user" in b["diagnostic-code"], b
    assert b["remote-mta"].startswith("dns; mx.sink1.example.net"), b
    assert dsn.original.get_content_type() == "text/rfc822-headers"
    orig = dsn.original_text()
    assert "Subject: partial failure" in orig and f"id {qid}" in orig, orig
    assert "hello" not in orig                # headers only (RET unspecified)
    rows = m.db_rows("SELECT sender, recipient, code, enhanced, class, remote, reply "
                     "FROM bounces WHERE queue_id = ?", (qid,))
    assert len(rows) == 1, rows
    sender, rcpt, code, enh, cls, remote, reply = rows[0]
    assert (sender, rcpt, code, enh, cls) == (SENDER, bad, 550, "5.1.1", "hard"), rows
    assert remote == f"mx.sink1.example.net[127.0.0.1]:{sink.port}" and "550" in reply
    kinds = event_kinds(m, qid)
    assert sorted(kinds) == sorted(["received", "delivered", "bounced", "dsn"]), kinds


def test_dsn_remote_mta_is_a_host_name(sinks, deliverer):
    sink = sinks()
    rcpt = "ike@partial.example.net"
    sink.on_rcpt("550 5.1.1 no such user", rcpts=[rcpt])
    m = deliverer(sink.port)
    submit(m, rcpts=[rcpt])
    [dsn] = wait_dsns(sink, 1)
    assert dsn.recipient(rcpt)["remote-mta"] == "dns; mx.sink1.example.net"


def test_expiry_dsn(sinks, deliverer):
    sink = sinks()
    rcpt = "judy@expire.example.net"
    sink.on_rcpt("451 4.2.1 mailbox busy", rcpts=[rcpt])
    m = deliverer(sink.port, "queue_lifetime 4s\nretry 1s\n")
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt, "expired"), T)
    assert line["dsn"] == "4.4.7" and int(line["attempts"]) >= 3, line.group(0)
    assert "451 4.2.1 mailbox busy" in line["reply"], line.group(0)
    deferred = m.find_all_log(delivery_re(qid, rcpt, "deferred"))
    assert len(deferred) == int(line["attempts"]) - 1
    [dsn] = wait_dsns(sink, 1)
    b = dsn.recipient(rcpt)
    assert b["action"] == "failed" and b["status"] == "4.4.7", b
    assert "451 4.2.1" in b.get("diagnostic-code", ""), b
    wait_queue_empty(m)
    rows = m.db_rows("SELECT class, enhanced FROM bounces WHERE queue_id = ?", (qid,))
    assert rows == [("expired", "4.4.7")]
    assert sink.messages_for(rcpt) == []


def test_delay_warning_then_delivered(sinks, deliverer):
    sink = sinks()
    rcpt = "kim@delay.example.net"
    sink.on_rcpt("451 4.2.1 mailbox busy", times=3, rcpts=[rcpt])
    m = deliverer(sink.port, "delay_warning 2s\nretry 1s\n")
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt, "sent"), T)
    assert line["attempts"] == "4", line.group(0)
    wait_queue_empty(m)
    [dsn] = wait_dsns(sink, 1)
    b = dsn.recipient(rcpt)
    assert b["action"] == "delayed" and b["status"].startswith("4."), b
    assert "will-retry-until" in b, b
    assert "Delayed" in dsn.msg["Subject"], dsn.msg["Subject"]
    assert len(sink.messages_for(rcpt)) == 1
    assert len(m.find_all_log(r"event=dsn_queued")) == 1
    # the warning came before the delivery
    dsn_at = [x.at for x in dsns(sink)][0]
    assert dsn_at < sink.messages_for(rcpt)[0].at


# ---------------------------------------------------------------- 8: smarthost

@pytest.mark.parametrize("mech,tls", [("PLAIN", "verify"), ("LOGIN", "verify"),
                                      ("PLAIN", "require"), ("LOGIN", "require")])
def test_smarthost_starttls_auth(sinks, deliverer, certs, tmp_path, mech, tls):
    sink = sinks(tls=(str(certs / "server.crt"), str(certs / "server.key")),
                 require_tls=True, auth=("relayuser", "s3cret-pw"), auth_mechs=(mech,))
    secret = tmp_path / "secret"
    secret.write_text("s3cret-pw\n")
    m = deliverer(sink.port, f"route * 127.0.0.1:{sink.port} tls={tls} "
                  f"auth=relayuser:{secret}\ntls_ca {certs / 'ca.crt'}\nretry 1h\n")
    rcpt = "leo@smart.example.net"
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "sent", line.group(0)
    assert line["relay"] == f"127.0.0.1[127.0.0.1]:{sink.port}", line.group(0)
    wait_queue_empty(m)
    [msg] = sink.messages_for(rcpt)
    assert msg.tls and msg.tls[1].startswith("TLSv1."), msg.tls
    assert msg.auth_user == "relayuser"
    sess = msg.session
    assert sess.auth_mechanisms == [mech] and sess.auth_failures == 0, sess
    [(tls_col,)] = m.db_rows("SELECT tls FROM events WHERE queue_id = ? AND kind = "
                             "'delivered'", (qid,))
    assert tls_col.startswith("TLS1."), tls_col
    if tls == "verify":
        assert tls_col.split()[-1] == "verified", tls_col
    assert line["tls"] == f'"{tls_col}"', line.group(0)
    assert "s3cret-pw" not in m.log_text()


def test_tls_named_in_delivery_log(sinks, deliverer, certs):
    sink = sinks(tls=(str(certs / "server.crt"), str(certs / "server.key")), require_tls=True)
    m = deliverer(sink.port, f"route * 127.0.0.1:{sink.port} tls=verify\n"
                  f"tls_ca {certs / 'ca.crt'}\n")
    rcpt = "lou@smart.example.net"
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "sent", line.group(0)
    wait_queue_empty(m)
    [(tls_col,)] = m.db_rows("SELECT tls FROM events WHERE queue_id = ? AND kind = "
                             "'delivered'", (qid,))
    assert tls_col.startswith("TLS1."), tls_col
    assert line["tls"] == f'"{tls_col}"', line.group(0)


def test_smarthost_wrong_password_defers(sinks, deliverer, certs, tmp_path):
    sink = sinks(tls=(str(certs / "server.crt"), str(certs / "server.key")),
                 require_tls=True, auth=("relayuser", "s3cret-pw"))
    secret = tmp_path / "secret"
    secret.write_text("not-the-password\n")
    m = deliverer(sink.port, f"route * 127.0.0.1:{sink.port} tls=verify "
                  f"auth=relayuser:{secret}\ntls_ca {certs / 'ca.crt'}\nretry 1h\n")
    rcpt = "mia@smart.example.net"
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "deferred", line.group(0)
    rows = wait_db(m, "SELECT state, attempts, last_code, last_reply FROM recipients",
                   pred=lambda r: r and r[0][0] == "deferred")
    state, attempts, code, reply = rows[0]
    assert attempts == 1 and code == 535 and "535" in reply, rows
    assert sink.messages == [] and sink.mails == []
    assert any(s.auth_failures == 1 and s.tls for s in sink.sessions), sink.sessions
    assert "not-the-password" not in m.log_text()


def test_smarthost_unknown_ca_defers(sinks, deliverer, certs, tmp_path):
    sink = sinks(tls=(str(certs / "server.crt"), str(certs / "server.key")),
                 require_tls=True, auth=("relayuser", "s3cret-pw"))
    secret = tmp_path / "secret"
    secret.write_text("s3cret-pw\n")
    m = deliverer(sink.port, f"route * 127.0.0.1:{sink.port} tls=verify "
                  f"auth=relayuser:{secret}\ntls_ca {certs / 'other-ca.crt'}\nretry 1h\n")
    rcpt = "ned@smart.example.net"
    qid = submit(m, rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "deferred", line.group(0)
    rows = wait_db(m, "SELECT state, attempts, last_reply FROM recipients",
                   pred=lambda r: r and r[0][0] == "deferred")
    assert rows[0][1] == 1 and "certificate verification failed" in rows[0][2], rows
    assert sink.messages == [] and sink.mails == []
    assert all(s.auth_user is None for s in sink.sessions)


# ---------------------------------------------------------------- 9-10: volume, crash

@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_100_rcpts_10_domains_one_transaction_each(sinks, deliverer, pipelining):
    sink = sinks(pipelining=pipelining)
    m = deliverer(sink.port)
    rcpts = [f"u{j}@d{i}.example.com" for i in range(10) for j in range(10)]
    qid = submit(m, rcpts=rcpts)
    wait_queue_empty(m, timeout=30)
    got = sink.snapshot()
    assert len(got) == 10, got
    seen = [r for x in got for r in x.rcpts]
    assert sorted(seen) == sorted(rcpts)          # each exactly once
    for x in got:
        assert len({r.split("@")[1] for r in x.rcpts}) == 1, x.rcpts
        assert len(x.rcpts) == 10
    assert len(sink.mails) == 10
    assert event_kinds(m, qid).count("delivered") == 100


def test_kill9_during_delivery_then_restart(sinks, deliverer, record_property):
    workers = 4
    sink = sinks(data_delay=0.3)
    m = deliverer(sink.port, f"workers {workers}\n")
    rcpts = [f"r{i}@slow{i % 3}.example.net" for i in range(30)]
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for r in rcpts:
            submit(m, rcpts=[r], client=c)
    sink.wait_for(lambda s: len(s.arrivals) >= 8, T, "8 arrivals")
    m.kill9()
    at_kill = len(sink.arrivals)
    assert at_kill < 30, "everything was delivered before the kill"
    m.restart()
    wait_queue_empty(m, timeout=30)
    counts = {r: 0 for r in rcpts}
    for x in sink.arrivals:
        for r in x.rcpts:
            counts[r] += 1
    acked = {r for x in sink.messages for r in x.rcpts}
    missing = [r for r in rcpts if r not in acked]
    assert not missing, (missing, sink.arrivals)
    dups = sum(n - 1 for n in counts.values())
    twice = sorted(r for r, n in counts.items() if n > 1)
    first_acked = {r: next(x.acked for x in sink.arrivals if r in x.rcpts) for r in twice}
    record_property("duplicates", dups)
    print(f"\nkill -9 test: {at_kill} arrived before the kill, {dups} duplicate(s), "
          f"{len(sink.arrivals)} arrivals for 30 recipients, workers {workers}; "
          f"repeated (first copy acked?): {first_acked}")
    # scheduler.h: a crash repeats at most the deliveries whose outcomes were
    # not committed, LIM_WORKER_UNRECORDED per worker (one connection each)
    bound = lim("LIM_WORKER_UNRECORDED")
    per_conn = repeats_per_connection(sink, counts)
    assert max(per_conn.values(), default=0) <= bound, (per_conn, first_acked)
    assert dups <= workers * bound, (first_acked, m.log_text())
    assert m.db_rows("SELECT count(*) FROM recipients") == [(0,)]


def repeats_per_connection(sink, counts):
    """Sink connection number -> how many of its arrivals were repeated."""
    per = {}
    with sink._cond:
        firsts = {}
        for x in sink.arrivals:
            for r in x.rcpts:
                firsts.setdefault(r, x)
        for r, x in firsts.items():
            if counts.get(r, 0) > 1:
                per[x.session.n] = per.get(x.session.n, 0) + 1
    return per


def lim(name):
    """A limit from mtad/limits.h (the tests live in the same tree)."""
    with open(os.path.join(HERE, "..", "..", "mtad", "limits.h")) as f:
        m = re.search(rf"^#define {name} (\d+)$", f.read(), re.M)
    assert m, name
    return int(m.group(1))


def test_kill9_while_the_queue_cannot_commit(sinks, deliverer):
    """The queue's writer is stalled (the test holds the write lock), so no
    outcome becomes durable: a worker may run ahead of the queue only as far
    as scheduler.h allows (LIM_WORKER_UNRECORDED deliveries per worker whose
    outcomes are not committed), then must wait.  kill -9 at that point,
    restart: every recipient arrives, repeats stay within that bound."""
    bound = lim("LIM_WORKER_UNRECORDED")
    sink = sinks(data_delay=0.05)
    m = deliverer(sink.port, "workers 1\n")
    rcpts = [f"s{i}@slow0.example.net" for i in range(bound + 8)]
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for r in rcpts:
            submit(m, rcpts=[r], client=c)
    sink.wait_for(lambda s: len(s.arrivals) >= 2, T, "2 arrivals")
    con = sqlite3.connect(m.db_path, timeout=10, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        at_lock = len(sink.arrivals)
        # wait for the worker to stop: no arrival for 0.5 s (bounded)
        deadline, last, seen = time.monotonic() + 5, time.monotonic(), at_lock
        while time.monotonic() < deadline and time.monotonic() - last < 0.5:
            n = len(sink.arrivals)
            if n != seen:
                seen, last = n, time.monotonic()
            time.sleep(0.02)
        ran_ahead = len(sink.arrivals) - at_lock
        m.kill9()
    finally:
        con.rollback()
        con.close()
    assert at_lock + ran_ahead < len(rcpts), "the worker never stopped"
    m.restart()
    wait_queue_empty(m, timeout=30)
    counts = {r: 0 for r in rcpts}
    for x in sink.arrivals:
        for r in x.rcpts:
            counts[r] += 1
    assert all(n >= 1 for n in counts.values()), counts
    dups = sum(n - 1 for n in counts.values())
    print(f"\nstalled writer: {ran_ahead} delivered after the lock, {dups} repeated "
          f"(LIM_WORKER_UNRECORDED {bound})")
    assert dups <= bound, (ran_ahead, dups, counts)


# ---------------------------------------------------------------- 11-12: capabilities

def test_smtputf8(sinks, deliverer):
    port = free_port_on(["127.0.0.1", "127.0.0.3"])
    utf8 = sinks("127.0.0.1", port, smtputf8=True)
    ascii_only = sinks("127.0.0.3", port, smtputf8=False)
    m = deliverer(port)
    sender = "pépé@example.org"
    ok_rcpt, bad_rcpt, idn_rcpt = "jörg@utf8.example.net", "jörg@noutf8.example.com", \
        "otto@bücher.example"
    q_ok = submit(m, sender=sender, rcpts=[ok_rcpt], mail_params=" SMTPUTF8")
    q_bad = submit(m, sender=sender, rcpts=[bad_rcpt], mail_params=" SMTPUTF8")
    q_idn = submit(m, sender=SENDER, rcpts=[idn_rcpt], mail_params=" SMTPUTF8")
    ok = m.wait_for_log(delivery_re(q_ok, ok_rcpt), T)
    assert ok["status"] == "sent", ok.group(0)
    bad = m.wait_for_log(delivery_re(q_bad, bad_rcpt), T)
    assert bad["status"] == "bounced" and bad["dsn"] == "5.6.7", bad.group(0)
    idn = m.wait_for_log(delivery_re(q_idn, idn_rcpt), T)
    assert idn["status"] == "sent", idn.group(0)
    # found through the A-label name (the only one in the zone)
    assert idn["relay"] == f"mx.sink1.example.net[127.0.0.1]:{port}", idn.group(0)
    [dsn] = wait_dsns(utf8, 1, to=sender)
    wait_queue_empty(m)
    [x] = utf8.messages_for(ok_rcpt)
    assert x.sender == sender and x.rcpts == [ok_rcpt] and x.smtputf8, x
    assert any("SMTPUTF8" in c.params for c in utf8.mails if c.address == sender)
    [y] = utf8.messages_for(idn_rcpt)
    assert y.rcpts == [idn_rcpt], y.rcpts
    # never offered to the server without SMTPUTF8
    assert ascii_only.mails == [] and ascii_only.messages == []
    assert len(ascii_only.sessions) >= 1
    b = dsn.recipient(bad_rcpt)
    assert b["action"] == "failed" and b["status"] == "5.6.7", b
    assert b["final-recipient"].startswith("utf-8;"), b
    raw = dsns(utf8, sender)[0]
    assert raw.smtputf8, "a DSN with UTF-8 addresses must go out with SMTPUTF8"
    assert m.db_rows("SELECT enhanced FROM bounces WHERE queue_id = ?", (q_bad,)) == [("5.6.7",)]


def test_remote_size_too_small(sinks, deliverer):
    port = free_port_on(["127.0.0.1", "127.0.0.3"])
    home = sinks("127.0.0.1", port)
    small = sinks("127.0.0.3", port, size=1000)
    m = deliverer(port)
    rcpt = "pat@small.example.com"
    qid = submit(m, rcpts=[rcpt], body=body_for("too big", size=5000))
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "bounced" and line["dsn"] == "5.3.4", line.group(0)
    assert "1000" in line["reply"], line.group(0)
    [dsn] = wait_dsns(home, 1)
    assert dsn.recipient(rcpt)["status"] == "5.3.4"
    wait_queue_empty(m)
    assert small.mails == [] and small.messages == []
    assert len(small.sessions) == 1              # it did connect and EHLO


# ---------------------------------------------------------------- 13-15

def test_no_dsn_for_a_bounce(sinks, deliverer):
    sink = sinks()
    rcpt = "quinn@partial.example.net"
    sink.on_rcpt("550 5.1.1 no such user", rcpts=[rcpt])
    m = deliverer(sink.port)
    qid = submit(m, sender="", rcpts=[rcpt])
    line = m.wait_for_log(delivery_re(qid, rcpt), T)
    assert line["status"] == "bounced", line.group(0)
    m.wait_for_log(rf"^\S+ {qid} event=dsn_dropped\b", T)
    wait_queue_empty(m)
    assert "event=dsn_queued" not in m.log_text()
    assert "dsn" not in event_kinds(m, qid)
    assert m.db_rows("SELECT sender, class FROM bounces WHERE queue_id = ?", (qid,)) == \
        [("", "hard")]
    assert sink.messages == []


def test_notify_never_and_success(sinks, deliverer):
    port = free_port_on(["127.0.0.1", "127.0.0.3"])
    plain = sinks("127.0.0.1", port)                 # no DSN extension
    withdsn = sinks("127.0.0.3", port, dsn=True)
    never = "rita@partial.example.net"
    plain.on_rcpt("550 5.1.1 no such user", rcpts=[never])
    m = deliverer(port)
    # NOTIFY=NEVER: a failure, and nobody hears of it
    q1 = submit(m, rcpts=[never], rcpt_params={never: " NOTIFY=NEVER"})
    line = m.wait_for_log(delivery_re(q1, never), T)
    assert line["status"] == "bounced", line.group(0)
    # NOTIFY=SUCCESS to a server without DSN: we say "relayed"
    relayed = "sam@relayed.example.net"
    q2 = submit(m, rcpts=[relayed], rcpt_params={relayed: " NOTIFY=SUCCESS"})
    # NOTIFY=SUCCESS to a server with DSN: passed on, no report from us
    passed = "tom@withdsn.example.com"
    q3 = submit(m, rcpts=[passed], mail_params=" RET=HDRS ENVID=env+2Bid",
                rcpt_params={passed: " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;tom+2Bx@example.com"})
    for q, r in ((q2, relayed), (q3, passed)):
        line = m.wait_for_log(delivery_re(q, r), T)
        assert line["status"] == "sent", line.group(0)
    [dsn] = wait_dsns(plain, 1)
    wait_queue_empty(m)
    b = dsn.recipient(relayed)
    assert b["action"] == "relayed" and b["status"].startswith("2."), b
    assert "Successful" in dsn.msg["Subject"], dsn.msg["Subject"]
    assert "dsn" not in event_kinds(m, q1) and "dsn" not in event_kinds(m, q3)
    assert "dsn" in event_kinds(m, q2)
    assert not m.find_all_log(rf"^\S+ {q1} event=dsn_dropped")
    assert len(dsns(plain)) == 1 and dsns(withdsn) == []
    # what the DSN-capable server was told
    [x] = withdsn.messages_for(passed)
    assert "NOTIFY=SUCCESS,FAILURE" in x.rcpt_params[passed], x.rcpt_params
    assert "ORCPT=rfc822;tom+2Bx@example.com" in x.rcpt_params[passed], x.rcpt_params
    assert "RET=HDRS" in x.mail_params and "ENVID=env+2Bid" in x.mail_params, x.mail_params
    # and the one without never saw a DSN parameter
    [y] = plain.messages_for(relayed)
    assert not any("NOTIFY" in p for p in y.rcpt_params[relayed]), y.rcpt_params


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_421_at_mail_defers_destination(sinks, deliverer, pipelining):
    port = free_port_on(["127.0.0.1", "127.0.0.3"])
    calm = sinks("127.0.0.1", port)
    busy = sinks("127.0.0.3", port, pipelining=pipelining)
    busy.on_mail("421 4.7.0 mx.busy too busy, try later")
    m = deliverer(port, "retry 1h\n")
    busy_rcpts = [f"v{i}@busy.example.com" for i in range(5)]
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for r in busy_rcpts:
            submit(m, rcpts=[r], client=c)
        q_calm = submit(m, rcpts=["walt@calm.example.net"], client=c)
    # Each busy recipient was tried once and deferred by the 421, or, when
    # it was queued after the 421 paused the destination, waits untried
    # for the pause to end (a throttling reply: see test_volume.py).
    def busy_rows():
        r = m.mtactl("--json", "queue", "--domain", "busy.example.com")
        return sorted(json.loads(r.stdout), key=lambda x: x["recipient"]) \
            if r.returncode == 0 else []

    def settled(rows):
        return len(rows) == 5 and all(
            (x["state"] == "deferred" and x["attempts"] == 1 and x["last_code"] == 421) or
            (x["state"] == "queued" and x["attempts"] == 0 and x["paused_until"])
            for x in rows)
    wait_until(lambda: settled(busy_rows()), T, "5 busy recipients deferred or paused")
    rows = busy_rows()
    assert [x["recipient"] for x in rows] == busy_rcpts
    deferred = [x for x in rows if x["state"] == "deferred"]
    assert deferred and len({x["last_reply"] for x in deferred}) == 1 and \
        "421 4.7.0" in deferred[0]["last_reply"], rows
    line = m.wait_for_log(delivery_re(q_calm, "walt@calm.example.net"), T)
    assert line["status"] == "sent", line.group(0)
    assert len(calm.messages_for("walt@calm.example.net")) == 1
    assert busy.messages == [] and busy.rcpts == []
    assert 1 <= len(busy.mails) <= len(deferred), busy.mails
    assert m.message_count() == 5
    ev = m.db_rows("SELECT recipient, remote, code, reply FROM events WHERE kind = 'deferred' "
                   "ORDER BY id")
    assert sorted(x[0] for x in ev) == [x["recipient"] for x in deferred], ev
    assert {x[1:] for x in ev} == {(f"mx.sink3.example.net[127.0.0.3]:{port}", 421,
                                    deferred[0]["last_reply"])}, ev
