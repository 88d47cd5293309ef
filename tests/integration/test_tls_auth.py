"""End-to-end tests of inbound TLS, submission and SMTP AUTH: STARTTLS and
implicit TLS (`submissions`), AUTH PLAIN/LOGIN only under TLS, the
`submission` listener's 530, sender-domain limits (envelope and From:),
the failed-login limiter, the STARTTLS injection rule (RFC 3207 4.2),
certificate reload on SIGHUP, `mtactl user ...`, and outbound name
verification (`route ... tls=verify`).

Real clients: swaks, smtplib, gnutls-cli, python's ssl on the raw Client.
Certificates are made at run time by tests/unit/certs.sh (a CA, a server
cert for mx.example.net + 127.0.0.1 + ::1, an unrelated CA) plus certtool
for two more (another server cert for the same names, one for
other.example.net).  Free ports, loopback only, bounded waits.

Run: MTAD_BIN=/work/main/build/mtad MTACTL_BIN=/work/main/build/mtactl \\
     /usr/bin/python3 -m pytest -q tests/integration/test_tls_auth.py
"""
import base64
import calendar
import hashlib
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from mtadtest import (HOSTNAME, MTAD_BIN, QID_RE, QUEUED_RE, Client, free_port,
                      wait_until)
from sinks import Sink

HERE = os.path.dirname(os.path.abspath(__file__))
CERTS_SH = os.path.join(HERE, "..", "unit", "certs.sh")
LIMITS_H = os.path.join(HERE, "..", "..", "mtad", "limits.h")
SWAKS = "/usr/bin/swaks"
GNUTLS_CLI = "/usr/bin/gnutls-cli"
CERTTOOL = "/usr/bin/certtool"
SERVER_NAME = "mx.example.net"          # what server.crt (and server2.crt) are for
PW = "correct horse battery 9"       # a space: still one line on stdin
T = 15.0

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

_asan = os.environ.get("ASAN_OPTIONS", "")
ASAN_ENV = dict(os.environ, ASAN_OPTIONS=(_asan + ":" if _asan else "") +
                "detect_stack_use_after_return=1")


def limits():
    """The LIM_AUTH_* numbers as mtad was built with them."""
    with open(LIMITS_H) as f:
        text = f.read()
    got = {k: int(v) for k, v in re.findall(r"^#define (LIM_AUTH_\w+) (\d+)\b", text, re.M)}
    for k in ("LIM_AUTH_FAILURES", "LIM_AUTH_WINDOW", "LIM_AUTH_PENALTY", "LIM_AUTH_MAX_DELAY"):
        assert k in got, f"{k} not found in {LIMITS_H}"
    return got


# ---------------------------------------------------------------- certificates

def make_cert(d, name, cn, dns=(), ips=(), ca="ca"):
    """name.crt/name.key in d: a server certificate signed by d/ca.crt."""
    tmpl = d / f"{name}.tmpl"
    lines = [f'cn = "{cn}"'] + [f'dns_name = "{x}"' for x in dns] + \
            [f'ip_address = "{x}"' for x in ips] + \
            ["tls_www_server", "signing_key", "encryption_key", "expiration_days = 3650"]
    tmpl.write_text("\n".join(lines) + "\n")
    subprocess.run([CERTTOOL, "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
                    "--outfile", str(d / f"{name}.key")], check=True, timeout=30,
                   capture_output=True)
    subprocess.run([CERTTOOL, "--generate-certificate", "--load-privkey", str(d / f"{name}.key"),
                    "--load-ca-certificate", str(d / f"{ca}.crt"),
                    "--load-ca-privkey", str(d / f"{ca}.key"), "--template", str(tmpl),
                    "--outfile", str(d / f"{name}.crt")], check=True, timeout=30,
                   capture_output=True)
    tmpl.unlink()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """certs.sh's ca, server, other-ca; server2 (same names, CN mx2...);
    other (other.example.net only, no IP)."""
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", CERTS_SH, str(d)], check=True, timeout=60)
    make_cert(d, "server2", "mx2.example.net", dns=(SERVER_NAME,), ips=("127.0.0.1", "::1"))
    make_cert(d, "other", "other.example.net", dns=("other.example.net",))
    return d


def fingerprint_pem(path):
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def client_ctx(certs, ca="ca.crt"):
    """Trusts only the test CA; checks the name (TLS 1.2+)."""
    ctx = ssl.create_default_context(cafile=str(certs / ca))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


# ---------------------------------------------------------------- daemons

@pytest.fixture
def tls_mtad(make_mtad, certs):
    """Factory: an mtad with tls_cert/tls_key and, beside its smtp listener
    (m.port), one listener per kind in `kinds` (m.ports[kind])."""
    made = []

    def make(kinds=("submission",), trusted="127.0.0.0/8 ::1", extra="", cert="server",
             start=True, name="mtad"):
        ports = {}
        for k in kinds:
            while True:
                p = free_port()
                if p not in ports.values():
                    ports[k] = p
                    break
        conf = f"tls_cert {certs / (cert + '.crt')}\ntls_key {certs / (cert + '.key')}\n"
        m = make_mtad(name=name, start=False, trusted=trusted, extra=conf + extra)
        m.listens = [f"127.0.0.1:{p} {k}" for k, p in ports.items()]
        m.ports = ports
        m.env = ASAN_ENV
        made.append(m)
        if start:
            m.start()
        return m
    yield make
    # A crash or a sanitizer report after the test's last look is a failure
    # too; a clean SIGTERM stop (exit 0) lets LeakSanitizer look (SAN=1).
    for m in made:
        if m.proc is None:
            continue
        if m.running() and not getattr(m, "no_stop", False):
            m.stop()
        assert m.running() or m.proc.returncode == 0, \
            f"mtad exited {m.proc.returncode}:\n" + m.log_text()
        assert not m.find_log(r"Sanitizer|runtime error:", 0), m.log_text()


# ---------------------------------------------------------------- SMTP helpers

def b64(s):
    return base64.b64encode(s.encode("utf-8") if isinstance(s, str) else s).decode("ascii")


def starttls(c, certs, name=SERVER_NAME, ca="ca.crt"):
    """STARTTLS on the raw Client; the handshake with python's ssl on the
    same socket.  Returns the SSLSocket."""
    c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
    assert c.buf == b"", f"plain-text bytes after the 220: {c.buf!r}"
    c.sock = client_ctx(certs, ca).wrap_socket(c.sock, server_hostname=name)
    return c.sock


def implicit_tls(connect, port, certs, name=SERVER_NAME, source=None):
    """A Client on a `submissions` port: TLS first, then the greeting."""
    c = connect(port, greet=False, source=source)
    c.sock = client_ctx(certs).wrap_socket(c.sock, server_hostname=name)
    c.greeting()
    return c


def auth_plain(c, user, pw, timeout=None):
    return c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{pw}"), timeout)


def auth_login(c, user, pw, timeout=None):
    c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
    c.expect(b64(user), "334 UGFzc3dvcmQ6")
    return c.cmd(b64(pw), timeout)


def tls_session(connect, port, certs, user=None, pw=None, source=None, implicit=False):
    """EHLO, STARTTLS (or implicit TLS), EHLO, and AUTH PLAIN if user is given."""
    if implicit:
        c = implicit_tls(connect, port, certs, source=source)
    else:
        c = connect(port, source=source)
        c.ehlo()
        starttls(c, certs)
    c.ehlo()
    if user is not None:
        r = auth_plain(c, user, pw)
        assert r.line == "235 2.7.0 Authentication successful", r.lines
    return c


def ehlo_keywords(r):
    return [ln[4:].split()[0].upper() for ln in r.lines[1:]]


def queued(r):
    m = QUEUED_RE.match(r.line)
    assert m, f"not queued: {r.lines}"
    return m.group(1)


def send_body(c, body):
    c.send(body + b".\r\n")
    return c.reply()


def msg_body(frm="<x@example.org>", subject="tls auth test"):
    return (f"From: {frm}\r\nTo: <rcpt@example.net>\r\nSubject: {subject}\r\n\r\n"
            f"hello\r\n").encode("utf-8")


def message_row(m, qid):
    rows = m.db_rows("SELECT sender, auth_user, client_addr, body FROM messages "
                     "WHERE queue_id = ?", (qid,))
    assert len(rows) == 1, f"{qid}: {rows}"
    return rows[0]


def received_tls(m, qid):
    rows = m.db_rows("SELECT tls FROM events WHERE queue_id = ? AND kind = 'received'", (qid,))
    assert len(rows) == 1, rows
    return rows[0][0]


def received_header_re(qid, proto, rcpt="rcpt@example.net", ip="127.0.0.1",
                       helo="client.example"):
    """Our Received: with its RFC 8314 tls clause: groups cipher, version."""
    date = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000"
    return re.compile(
        (rf"^Received: from {re.escape(helo)} \(\[{re.escape(ip)}\]\)\r\n"
         rf"\tby {re.escape(HOSTNAME)} \(mtad\) with {proto} id {qid}\r\n"
         rf"\tfor <{re.escape(rcpt)}>\r\n"
         rf"\ttls (?P<cipher>[A-Z0-9_]+) \((?P<version>TLS1\.[23])\); {date}\r\n").encode())


def check_stored_with_auth(m, qid, user, proto="ESMTPSA", sender="x@example.org"):
    """The message is queued with auth_user, TLS in its events row, the
    Received: header and the log line agree."""
    snd, auth_user, client, body = message_row(m, qid)
    assert (snd, auth_user, client) == (sender, user, "127.0.0.1")
    tls = received_tls(m, qid)
    assert tls and tls.startswith("TLS1."), tls
    version, cipher = tls.split(" ", 1)
    hdr = received_header_re(qid, proto).match(body)
    assert hdr, body[:400]
    assert (hdr["version"].decode(), hdr["cipher"].decode()) == (version, cipher), (tls, body[:400])
    user_kv = f" user={user}" if user else ""
    line = m.wait_for_log(rf"^\S+ {qid} event=received .*{user_kv} tls=\"(TLS1\.\d [^\"]+)\"$")
    assert line.group(1) == tls, line.group(0)
    if not user:
        assert " user=" not in line.group(0), line.group(0)


def run_swaks(*args, timeout=30):
    r = subprocess.run([SWAKS, "--helo", "client.example", *args], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------- 1: STARTTLS + AUTH relays

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_relays(tls_mtad, certs, mech):
    m = tls_mtad()
    m.add_user("alice", PW)
    rc, out = run_swaks("--server", f"127.0.0.1:{m.ports['submission']}", "--tls",
                        "--tls-verify", "--tls-ca-path", str(certs / "ca.crt"),
                        "--auth", mech, "--auth-user", "alice", "--auth-password", PW,
                        "--from", "x@example.org", "--to", "rcpt@example.net",
                        "--header", "Subject: swaks " + mech)
    assert rc == 0, out
    assert "=== TLS started with cipher TLSv1." in out, out
    assert "235 2.7.0 Authentication successful" in out, out
    qid = re.search(r"<~  250 2\.0\.0 Ok: queued as (" + QID_RE + ")", out).group(1)
    check_stored_with_auth(m, qid, "alice")
    m.wait_for_log(r" event=tls client=127\.0\.0\.1 version=TLS1\.[23] cipher=\S+$")
    m.wait_for_log(r" event=auth client=127\.0\.0\.1 user=alice result=ok$")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtplib_starttls_auth_relays(tls_mtad, certs, mech):
    m = tls_mtad()
    m.add_user("alice", PW)
    s = smtplib.SMTP(local_hostname="client.example", timeout=10)
    s._host = SERVER_NAME          # the name starttls() checks the certificate for
    try:
        s.connect("127.0.0.1", m.ports["submission"])
        s.ehlo()
        assert s.has_extn("starttls") and not s.has_extn("auth")
        code, _ = s.starttls(context=client_ctx(certs))
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        if mech == "PLAIN":
            code, resp = s.login("alice", PW)       # picks PLAIN (initial response)
        else:
            s.user, s.password = "alice", PW
            # AUTH LOGIN with the user name as initial response, then 334 Password:
            code, resp = s.auth("LOGIN", s.auth_login)
        assert (code, resp) == (235, b"2.7.0 Authentication successful")
        assert s.mail("x@example.org") == (250, b"2.1.0 Ok")
        assert s.rcpt("rcpt@example.net") == (250, b"2.1.5 Ok")
        code, resp = s.data(msg_body(subject="smtplib " + mech))
        assert code == 250, resp
        qid = re.fullmatch(rb"2\.0\.0 Ok: queued as (" + QID_RE.encode() + rb")", resp)
        assert qid, resp
        s.quit()
    finally:
        s.close()
    check_stored_with_auth(m, qid.group(1).decode(), "alice")


# ---------------------------------------------------------------- 2: implicit TLS

def test_swaks_implicit_tls_submissions(tls_mtad, certs):
    m = tls_mtad(kinds=("submissions",))
    m.add_user("alice", PW)
    rc, out = run_swaks("--server", f"127.0.0.1:{m.ports['submissions']}", "--tlsc",
                        "--tls-verify", "--tls-ca-path", str(certs / "ca.crt"),
                        "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", PW,
                        "--from", "x@example.org", "--to", "rcpt@example.net")
    assert rc == 0, out
    assert "STARTTLS" not in out.split("=== TLS started", 1)[1], out   # not offered again
    qid = re.search(r"<~  250 2\.0\.0 Ok: queued as (" + QID_RE + ")", out).group(1)
    check_stored_with_auth(m, qid, "alice")
    m.wait_for_log(r" event=connect .* kind=submissions trusted=yes$")


def test_smtplib_ssl_implicit_tls_checks_name(tls_mtad, certs):
    m = tls_mtad(kinds=("submissions",))
    m.add_user("alice", PW)
    port = m.ports["submissions"]

    def connect_ssl(name, ca="ca.crt"):
        s = smtplib.SMTP_SSL(local_hostname="client.example", timeout=10,
                             context=client_ctx(certs, ca))
        s._host = name           # the name the certificate is checked for
        try:
            s.connect("127.0.0.1", port)
        except Exception:
            s.close()
            raise
        return s

    # the name and the CA are really checked
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|match"):
        connect_ssl("wrong.example.net")
    with pytest.raises(ssl.SSLCertVerificationError):
        connect_ssl(SERVER_NAME, ca="other-ca.crt")

    s = connect_ssl(SERVER_NAME)
    try:
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        # submissions needs AUTH as much as submission does
        assert s.mail("x@example.org") == (530, b"5.7.0 Authentication required")
        assert s.docmd("STARTTLS") == (554, b"5.5.1 Error: TLS already active")
        s.login("alice", PW)
        assert s.mail("x@example.org") == (250, b"2.1.0 Ok")
        assert s.rcpt("rcpt@example.net") == (250, b"2.1.5 Ok")
        code, resp = s.data(msg_body())
        assert code == 250, resp
        qid = resp.decode().rsplit(" ", 1)[1]
        s.quit()
    finally:
        s.close()
    check_stored_with_auth(m, qid, "alice")


def test_plain_text_on_submissions_port_gets_no_greeting(tls_mtad, connect):
    m = tls_mtad(kinds=("submissions",))
    c = connect(m.ports["submissions"], greet=False)
    c.send("EHLO client.example\r\n")
    got = b""
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        c.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = c.sock.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    assert b"220" not in got and b"250" not in got, got
    m.wait_for_log(r" event=tls_failed client=127\.0\.0\.1 error=")


# ---------------------------------------------------------------- 3: AUTH only under TLS

def test_auth_offered_only_after_starttls(tls_mtad, connect, certs):
    m = tls_mtad()
    m.add_user("alice", PW)
    c = connect(m.ports["submission"])
    kw = ehlo_keywords(c.ehlo())
    assert "STARTTLS" in kw and "AUTH" not in kw, kw
    c.expect("AUTH PLAIN " + b64(f"\0alice\0{PW}"),
             "538 5.7.11 Encryption required for requested authentication mechanism")
    c.expect("AUTH LOGIN", "538 5.7.11 Encryption required for requested authentication "
             "mechanism")
    starttls(c, certs)
    # RFC 3207 4.2: the session starts over; EHLO first
    c.expect("AUTH PLAIN " + b64(f"\0alice\0{PW}"), "503 5.5.1 Error: send HELO/EHLO first")
    r = c.ehlo()
    kw = ehlo_keywords(r)
    assert "STARTTLS" not in kw, kw
    assert "250-AUTH PLAIN LOGIN" in r.lines, r.lines
    c.expect("STARTTLS", "554 5.5.1 Error: TLS already active")
    # errors in the exchange that are not failed logins
    c.expect("AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type")
    c.expect("AUTH PLAIN !!notbase64!!", "501 5.5.2 Invalid base64 data")
    c.expect("AUTH PLAIN", "334 ")
    c.expect("*", "501 5.7.0 Authentication cancelled")
    r = auth_plain(c, "alice", PW)
    assert r.line == "235 2.7.0 Authentication successful", r.lines
    c.expect("AUTH PLAIN " + b64(f"\0alice\0{PW}"), "503 5.5.1 Error: already authenticated")
    kw = ehlo_keywords(c.ehlo())
    assert "AUTH" not in kw and "STARTTLS" not in kw, kw
    assert not m.find_log(r" event=auth .*result=failed")


# ---------------------------------------------------------------- 4: who may relay

def test_submission_needs_auth_smtp_trusted_does_not(tls_mtad, connect, certs):
    # 127.0.0.2 is trusted; 127.0.0.1 is not
    m = tls_mtad(trusted="127.0.0.2/32")
    m.add_user("alice", PW)
    sub = m.ports["submission"]

    # submission: 530 before AUTH, in plain text and under TLS, trusted or not
    for source in ("127.0.0.1", "127.0.0.2"):
        c = connect(sub, source=source)
        c.ehlo()
        c.expect("MAIL FROM:<x@example.org>", "530 5.7.0 Authentication required")
        starttls(c, certs)
        c.ehlo()
        c.expect("MAIL FROM:<x@example.org>", "530 5.7.0 Authentication required")
        assert auth_plain(c, "alice", PW).code == 235
        c.expect("MAIL FROM:<x@example.org>", "250 2.1.0 Ok")
        c.expect("RCPT TO:<rcpt@example.net>", "250 2.1.5 Ok")

    # smtp listener, trusted client: relays without TLS or AUTH
    c = connect(m.port, source="127.0.0.2")
    c.ehlo()
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    q_trusted = queued(send_body(c, msg_body()))
    assert message_row(m, q_trusted)[1] is None
    assert received_tls(m, q_trusted) is None

    # smtp listener, untrusted client: relay denied until it authenticates
    c = connect(m.port, source="127.0.0.1")
    c.ehlo()
    c.expect("MAIL FROM:<x@example.org>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<rcpt@example.net>", "550 5.7.1 Relay access denied")
    c.expect("RSET", "250 2.0.0 Ok")
    starttls(c, certs)
    c.ehlo()
    c.expect("MAIL FROM:<x@example.org>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<rcpt@example.net>", "550 5.7.1 Relay access denied")
    c.expect("RSET", "250 2.0.0 Ok")
    assert auth_plain(c, "alice", PW).code == 235
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    qid = queued(send_body(c, msg_body()))
    check_stored_with_auth(m, qid, "alice")
    m.wait_for_log(r" event=connect .* kind=smtp trusted=no$")

    # a trusted client under TLS without AUTH: ESMTPS, no user
    c = connect(m.port, source="127.0.0.2")
    c.ehlo()
    starttls(c, certs)
    c.ehlo()
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    q_tls = queued(send_body(c, msg_body()))
    snd, user, client, body = m.db_rows("SELECT sender, auth_user, client_addr, body "
                                        "FROM messages WHERE queue_id = ?", (q_tls,))[0]
    assert user is None and client == "127.0.0.2"
    assert received_header_re(q_tls, "ESMTPS", ip="127.0.0.2").match(body), body[:400]


# ---------------------------------------------------------------- 5: failures and the limiter

def test_wrong_password_slowed_then_blocked(tls_mtad, connect, certs):
    lim = limits()
    n, max_delay = lim["LIM_AUTH_FAILURES"], lim["LIM_AUTH_MAX_DELAY"]
    assert n <= 10 and max_delay <= 10, "limits too large for a quick test"
    m = tls_mtad()
    m.add_user("alice", PW)
    sub = m.ports["submission"]
    # N failures at once from 127.0.0.1, each on its own session: a wrong
    # password, an unknown user, LOGIN as well as PLAIN.  Each 535 is held
    # back (one second per failure so far, at most LIM_AUTH_MAX_DELAY).
    sessions = [tls_session(connect, sub, certs) for _ in range(n)]
    results = [None] * n

    def fail(i):
        c = sessions[i]
        user = "nobody" if i == 1 else "alice"
        t0 = time.monotonic()
        try:
            if i == 2:
                r = auth_login(c, user, "wrong " + PW, timeout=max_delay + T)
            else:
                r = auth_plain(c, user, "wrong " + PW, timeout=max_delay + T)
            results[i] = (r.line, time.monotonic() - t0)
        except Exception as e:          # reported below
            results[i] = (repr(e), time.monotonic() - t0)

    threads = [threading.Thread(target=fail, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    # the Nth failure puts 127.0.0.1 in the penalty at once (before its 535)
    m.wait_for_log(rf"^\S+ mtad event=auth_blocked msg=\"127\.0\.0\.1: {n} failed logins; "
                   rf"AUTH refused for {lim['LIM_AUTH_PENALTY']}s\"$", timeout=T)
    # now even the right password gets 421 4.7.0, and the connection closes
    c = tls_session(connect, sub, certs)
    r = auth_plain(c, "alice", PW)
    assert r.line == (f"421 4.7.0 {HOSTNAME} Error: too many failed authentications, "
                      f"try again later"), r.lines
    c.wait_closed()
    m.wait_for_log(r" event=auth client=127\.0\.0\.1 user=alice result=blocked$")
    # another address is not blocked
    c = tls_session(connect, sub, certs, source="127.0.0.2")
    assert auth_plain(c, "alice", PW).code == 235

    for t in threads:
        t.join(max_delay + T)
    assert all(r is not None for r in results), results
    assert [r[0] for r in results] == ["535 5.7.8 Error: authentication failed"] * n, results
    delays = sorted(r[1] for r in results)
    # the k-th failure (1-based) waited at least min(k, max_delay) seconds
    for k, d in enumerate(delays, 1):
        assert d >= min(k, max_delay) - 0.05, (k, delays)
    assert delays[1] >= 1.0, delays      # the second failure is slowed by a second or more
    # (each is logged just before its 535 is sent: the log reader may lag)
    fails = wait_until(lambda: (lambda f: len(f) >= n and f)(m.find_all_log(
        r" event=auth client=127\.0\.0\.1 user=(\S+) result=failed$")), T, "n failures logged")
    assert sorted(x.group(1) for x in fails) == sorted(["nobody"] + ["alice"] * (n - 1))
    assert not m.find_log(r" event=auth client=127\.0\.0\.1 user=alice result=ok")
    m.wait_for_log(r" event=disconnect client=127\.0\.0\.1 reason=closed ")


def test_auth_plain_initial_response_long_password(tls_mtad, connect, certs):
    pw = "p" * 500            # base64 of "\0longpw\0" + pw: 680 octets; < LIM_AUTH_PASSWORD
    m = tls_mtad()
    m.add_user("longpw", pw)              # mtactl takes it
    c = tls_session(connect, m.ports["submission"], certs)
    # without an initial response (334, then the response line) it works
    c.expect("AUTH PLAIN", "334 ")
    c.expect(b64(f"\0longpw\0{pw}"), "235 2.7.0 Authentication successful")
    # as most clients send it: in the AUTH line (smtplib, swaks, MUAs)
    c = tls_session(connect, m.ports["submission"], certs)
    r = auth_plain(c, "longpw", pw)
    assert r.line == "235 2.7.0 Authentication successful", r.lines


# ---------------------------------------------------------------- 6: sender domains

def test_sender_domain_limits(tls_mtad, connect, certs):
    m = tls_mtad()
    m.add_user("limited", PW, domains="example.org")
    m.add_user("free", PW)
    sub = m.ports["submission"]

    c = tls_session(connect, sub, certs, "limited", PW)
    c.expect("MAIL FROM:<x@example.org>", "250 2.1.0 Ok")
    c.expect("RSET", "250 2.0.0 Ok")
    c.expect("MAIL FROM:<X@Example.ORG>", "250 2.1.0 Ok")      # domains ignore case
    c.expect("RSET", "250 2.0.0 Ok")
    for bad in ("x@other.example", "x@sub.example.org", "x@example.org.other.example"):
        c.expect(f"MAIL FROM:<{bad}>",
                 f"550 5.7.1 <{bad}>: sender address not allowed for this user")
    m.wait_for_log(r" event=reject cmd=MAIL arg=x@other\.example client=127\.0\.0\.1 ")

    # allowed envelope, From: header of another domain: refused after DATA
    before = m.message_count()
    for frm, dom in [("x@other.example", "other.example"),
                     ('"x@example.org" <boss@other.example>', "other.example"),
                     ("x@example.org,\r\n boss@other.example", "other.example")]:
        c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
        r = send_body(c, msg_body(frm=frm))
        assert r.line == f"550 5.7.1 From: header domain {dom} not allowed for this user", \
            (frm, r.lines)
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    r = send_body(c, b"Subject: no From at all\r\n\r\nhello\r\n")
    assert r.line == "550 5.7.1 From: header without an address", r.lines
    assert m.message_count() == before
    assert not m.find_log(r" event=received ")
    # the session goes on: an allowed From: (any case, display name) is stored
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    qid = queued(send_body(c, msg_body(frm='"X" <x@EXAMPLE.org>')))
    check_stored_with_auth(m, qid, "limited")

    # a user without --domains may use any domain, envelope and header
    c = tls_session(connect, sub, certs, "free", PW)
    c.start_txn(sender="x@other.example", rcpts=("rcpt@example.net",))
    qid = queued(send_body(c, msg_body(frm="boss@another.example")))
    check_stored_with_auth(m, qid, "free", sender="x@other.example")


@pytest.mark.parametrize("header", [
    b"From: x@example.org\r\n.From: boss@other.example\r\n",
    b"From: x@example.org,\r\n. boss@other.example\r\n",
], ids=["dot-From", "dot-continuation"])
def test_dot_stuffed_from_header_checked_too(tls_mtad, connect, certs, header):
    m = tls_mtad()
    m.add_user("limited", PW, domains="example.org")
    c = tls_session(connect, m.ports["submission"], certs, "limited", PW)
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    r = send_body(c, header + b"Subject: dot\r\n\r\nhello\r\n")
    stored = m.db_rows("SELECT body FROM messages")
    assert r.line == "550 5.7.1 From: header domain other.example not allowed for this user", \
        (r.lines, stored)
    assert stored == []


# ---------------------------------------------------------------- 7: STARTTLS injection

def test_pipelined_starttls_rset_dropped(tls_mtad, connect, certs):
    m = tls_mtad(kinds=())
    c = connect(m.port)
    c.ehlo()
    c.send(b"STARTTLS\r\nRSET\r\n")
    assert c.read_line() == "220 2.0.0 Ready to start TLS"
    assert c.buf == b"", c.buf
    # nothing more comes in plain text (the server waits for our ClientHello)
    c.sock.settimeout(0.3)
    try:
        extra = c.sock.recv(4096)
    except socket.timeout:
        extra = b""
    assert extra == b"", f"plain text after the 220: {extra!r}"
    c.sock = client_ctx(certs).wrap_socket(c.sock, server_hostname=SERVER_NAME)
    c.send("EHLO client.example\r\n")
    r = c.reply()
    assert r.lines[0] == f"250-{HOSTNAME}", f"first reply after TLS is not EHLO's: {r.lines}"
    assert "250-AUTH PLAIN LOGIN" in r.lines, r.lines
    c.expect("NOOP", "250 2.0.0 Ok")
    assert c.buf == b""
    c.expect("QUIT", "221 2.0.0 Bye")
    line = m.wait_for_log(r" event=disconnect client=127\.0\.0\.1 reason=quit .*")
    assert " errors=0 " in line.group(0), line.group(0)


# ---------------------------------------------------------------- 8: gnutls-cli

def test_gnutls_cli_sees_tls13(tls_mtad, certs):
    m = tls_mtad(kinds=())
    helptext = subprocess.run([GNUTLS_CLI, "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    args = [GNUTLS_CLI, "--starttls-proto=smtp", "--x509cafile", str(certs / "ca.crt"),
            "-p", str(m.port), "127.0.0.1"]
    if "--verify-hostname" in helptext:
        args[1:1] = ["--verify-hostname", SERVER_NAME]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "The certificate is trusted" in out, out
    assert re.search(r"- Description: \(TLS1\.3[-)]", out), out
    assert f"subject `CN={SERVER_NAME}'" in out, out
    m.wait_for_log(r" event=tls client=127\.0\.0\.1 version=TLS1\.3 ")


def test_tls_priorities(tls_mtad, connect, certs, tmp_path):
    m = tls_mtad(kinds=(), extra="tls_priorities NORMAL:-VERS-ALL:+VERS-TLS1.2\n")
    c = tls_session(connect, m.port, certs)
    assert c.sock.version() == "TLSv1.2", c.sock.version()
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    qid = queued(send_body(c, msg_body()))
    tls = received_tls(m, qid)
    assert tls.startswith("TLS1.2 "), tls
    hdr = received_header_re(qid, "ESMTPS").match(message_row(m, qid)[3])
    assert hdr and hdr["version"] == b"TLS1.2", message_row(m, qid)[3][:400]
    # a string GnuTLS refuses: mtad -n names the file and line
    bad = tmp_path / "bad.conf"
    text = open(m.conf_path).read().replace("+VERS-TLS1.2", "+VERS-BOGUS")
    bad.write_text(text)
    r = subprocess.run([MTAD_BIN, "-n", "-f", str(bad)], capture_output=True, text=True,
                       timeout=10, env=ASAN_ENV)
    lineno = text.splitlines().index("tls_priorities NORMAL:-VERS-ALL:+VERS-BOGUS") + 1
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"{bad}:{lineno}: ") and "VERS-BOGUS" in r.stderr, r.stderr


# ---------------------------------------------------------------- 9: SIGHUP and certificates

def peer_fingerprint(port, certs, implicit=False):
    """sha256 of the certificate a new connection to port gets."""
    c = Client(port)
    try:
        if implicit:
            c.sock = client_ctx(certs).wrap_socket(c.sock, server_hostname=SERVER_NAME)
            c.greeting()
        else:
            c.greeting()
            c.ehlo()
            starttls(c, certs)
        der = c.sock.getpeercert(binary_form=True)
        c.ehlo()
        return hashlib.sha256(der).hexdigest()
    finally:
        c.close()


def reload(m, expect="reloaded"):
    mark = m.mark()
    m.signal(signal.SIGHUP)
    line = m.wait_for_log(r"^\S+ mtad event=(reloaded|reload_failed) .*$", since=mark)
    assert f"event={expect} " in line.group(0), m.log_text(mark)
    return line


def replace_file(dst, src=None, text=None):
    tmp = str(dst) + ".new"
    if src is not None:
        shutil.copyfile(src, tmp)
    else:
        with open(tmp, "w") as f:
            f.write(text)
    os.replace(tmp, dst)


def test_sighup_reloads_certificate(tls_mtad, connect, certs, tmp_path):
    live_crt, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copyfile(certs / "server.crt", live_crt)
    shutil.copyfile(certs / "server.key", live_key)
    m = tls_mtad(kinds=("submissions",), start=False)
    m.extra = m.extra.replace(str(certs / "server.crt"), str(live_crt)) \
        .replace(str(certs / "server.key"), str(live_key))
    m.start()
    fp1, fp2 = fingerprint_pem(certs / "server.crt"), fingerprint_pem(certs / "server2.crt")
    assert fp1 != fp2
    sport = m.ports["submissions"]
    assert peer_fingerprint(m.port, certs) == fp1
    assert peer_fingerprint(sport, certs, implicit=True) == fp1

    # sessions open across the reload: STARTTLS (trusted) and implicit TLS
    old = tls_session(connect, m.port, certs)
    old_ss = implicit_tls(connect, sport, certs)
    old_ss.ehlo()

    replace_file(live_crt, certs / "server2.crt")
    replace_file(live_key, certs / "server2.key")
    reload(m)
    assert peer_fingerprint(m.port, certs) == fp2
    assert peer_fingerprint(sport, certs, implicit=True) == fp2
    # the old sessions still work on their old certificate
    assert hashlib.sha256(old.sock.getpeercert(binary_form=True)).hexdigest() == fp1
    old.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    queued(send_body(old, msg_body()))
    old_ss.expect("NOOP", "250 2.0.0 Ok")
    old_ss.expect("MAIL FROM:<x@example.org>", "530 5.7.0 Authentication required")

    # a broken certificate file: refused, the running one stays
    replace_file(live_crt, text="this is not a certificate\n")
    line = reload(m, expect="reload_failed")
    assert "tls_cert" in line.group(0) and "keeping the running configuration" in \
        line.group(0), line.group(0)
    assert peer_fingerprint(m.port, certs) == fp2
    assert peer_fingerprint(sport, certs, implicit=True) == fp2

    # a certificate that does not match its key: refused too
    replace_file(live_crt, certs / "server.crt")        # live.key is server2's
    reload(m, expect="reload_failed")
    assert peer_fingerprint(m.port, certs) == fp2
    old.expect("NOOP", "250 2.0.0 Ok")

    # fixed: reloads, and the first certificate is back
    replace_file(live_key, certs / "server.key")
    reload(m)
    assert peer_fingerprint(m.port, certs) == fp1
    old.close()
    old_ss.close()


def test_sighup_half_written_certificate_refused(tls_mtad, connect, certs, tmp_path):
    """A PEM file cut short (as while it is being copied in).  No graceful
    stop here: GnuTLS 3.7.9 itself leaks (~9.6 KB, found by LeakSanitizer)
    in gnutls_certificate_set_x509_key_file() on such a file, whoever calls
    it; the other reload tests stop mtad and let LeakSanitizer look."""
    live_crt = tmp_path / "live.crt"
    shutil.copyfile(certs / "server.crt", live_crt)
    m = tls_mtad(kinds=(), start=False)
    m.no_stop = True        # see above
    m.extra = m.extra.replace(str(certs / "server.crt"), str(live_crt))
    m.start()
    fp1 = fingerprint_pem(certs / "server.crt")
    pem = (certs / "server2.crt").read_text()
    replace_file(live_crt, text=pem[:len(pem) // 2])
    line = reload(m, expect="reload_failed")
    assert f"{live_crt}" in line.group(0) and "keeping the running configuration" in \
        line.group(0), line.group(0)
    assert peer_fingerprint(m.port, certs) == fp1
    c = tls_session(connect, m.port, certs)
    c.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    queued(send_body(c, msg_body()))


def test_sighup_without_tls_cert_stops_starttls(tls_mtad, connect, certs):
    m = tls_mtad(kinds=())
    old = tls_session(connect, m.port, certs)
    text = open(m.conf_path).read()
    m.write_config_text("".join(ln for ln in text.splitlines(True)
                                if not ln.startswith(("tls_cert ", "tls_key "))))
    reload(m)
    c = connect(m.port)
    assert "STARTTLS" not in ehlo_keywords(c.ehlo())
    c.expect("STARTTLS", "502 5.5.1 Error: command not implemented")
    # the session under TLS from before goes on
    old.start_txn(sender="x@example.org", rcpts=("rcpt@example.net",))
    qid = queued(send_body(old, msg_body()))
    assert received_tls(m, qid).startswith("TLS1.")


def test_refused_reload_keeps_certificate(tls_mtad, certs):
    m = tls_mtad(kinds=())
    fp1 = fingerprint_pem(certs / "server.crt")
    assert peer_fingerprint(m.port, certs) == fp1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        text = open(m.conf_path).read().replace("server.crt", "server2.crt") \
            .replace("server.key", "server2.key")
        m.write_config_text(text + f"listen 127.0.0.1:{busy.getsockname()[1]} smtp\n")
        line = reload(m, expect="reload_failed")
        assert "Address already in use" in line.group(0), line.group(0)
    finally:
        busy.close()
    assert peer_fingerprint(m.port, certs) == fp1, "a refused reload changed the certificate"


def test_refused_reload_keeps_tls_ca(tls_mtad, certs, tmp_path):
    sink = start_sink(tls=(str(certs / "server.crt"), str(certs / "server.key")),
                      require_tls=True)
    try:
        m = tls_mtad(kinds=(), extra=f"route * 127.0.0.1:{sink.port} tls=verify\n"
                     f"tls_ca {certs / 'ca.crt'}\nretry 1h\n")
        qid = submit_trusted(m, "a@smart.example.net")
        line = m.wait_for_log(rf"^\S+ {qid} event=delivery .* status=(\w+) .*$", timeout=T)
        assert line.group(1) == "sent", line.group(0)       # the CA is right
        broken = tmp_path / "broken.crt"
        broken.write_text("this is not a certificate\n")
        text = open(m.conf_path).read()
        # a new tls_ca that could not verify the sink, and a broken tls_cert
        m.write_config_text(text.replace(str(certs / "ca.crt"), str(certs / "other-ca.crt"))
                            .replace(str(certs / "server.crt"), str(broken)))
        reload(m, expect="reload_failed")
        qid = submit_trusted(m, "b@smart.example.net")
        line = m.wait_for_log(rf"^\S+ {qid} event=delivery .* status=(\w+) .*$", timeout=T)
        assert line.group(1) == "sent", (line.group(0), "the refused reload's tls_ca was used")
    finally:
        sink.stop()


# ---------------------------------------------------------------- 10: mtactl

def test_mtactl_users(tls_mtad, connect, certs):
    m = tls_mtad()
    sub = m.ports["submission"]
    pw1, pw2 = "first-Pa55 word", "second-Pa55 w\u00f6rd"   # UTF-8 too

    def auth(user, pw):
        c = tls_session(connect, sub, certs)
        r = auth_plain(c, user, pw, timeout=T)
        c.close()
        return r.line[:3]

    # the password is one line of stdin, never an argument
    r = m.mtactl("user", "add", "bob", pw1)
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = m.mtactl("user", "add", "bob", input="")
    assert r.returncode == 1 and "password" in r.stderr, (r.returncode, r.stderr)
    r = m.mtactl("user", "add", "bob", input=pw1 + "\n")
    assert (r.returncode, r.stdout) == (0, ""), (r.returncode, r.stdout, r.stderr)
    r = m.mtactl("user", "add", "carol", "--domains", "Example.ORG,b\u00fccher.example",
                 input=pw2 + "\n")
    assert r.returncode == 0, r.stderr
    # duplicate
    r = m.mtactl("user", "add", "bob", input="whatever\n")
    assert r.returncode == 1 and "bob" in r.stderr and "exists" in r.stderr, \
        (r.returncode, r.stderr)
    assert auth("bob", pw1) == "235"

    # passwd: the old password fails, the new one works
    r = m.mtactl("user", "passwd", "bob", input=pw2 + "\n")
    assert r.returncode == 0, r.stderr
    assert auth("bob", pw1) == "535"
    assert auth("bob", pw2) == "235"
    r = m.mtactl("user", "passwd", "nosuch", input=pw2 + "\n")
    assert r.returncode == 1 and "nosuch" in r.stderr, (r.returncode, r.stderr)

    # list --json
    r = m.mtactl("--json", "user", "list")
    assert r.returncode == 0, r.stderr
    users = json.loads(r.stdout)
    assert isinstance(users, list) and len(users) == 2, users
    by = {u["name"]: u for u in users}
    assert by["bob"]["domains"] is None
    assert by["carol"]["domains"] == ["example.org", "xn--bcher-kva.example"], by["carol"]
    now = time.time()
    for u in users:
        assert set(u) >= {"name", "domains", "created_at"}, u
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", u["created_at"]), u
        t = calendar.timegm(time.strptime(u["created_at"], "%Y-%m-%dT%H:%M:%SZ"))
        assert abs(t - now) < 120, (u, now)
    r = m.mtactl("user", "list")
    assert r.returncode == 0 and "bob" in r.stdout and "carol" in r.stdout, r

    # remove
    r = m.mtactl("user", "remove", "bob")
    assert r.returncode == 0, r.stderr
    assert auth("bob", pw2) == "535"
    r = m.mtactl("user", "remove", "bob")
    assert r.returncode == 1 and "bob" in r.stderr, (r.returncode, r.stderr)
    r = m.mtactl("--json", "user", "list")
    assert [u["name"] for u in json.loads(r.stdout)] == ["carol"], r.stdout

    # usage errors: exit 2
    for args in (["user"], ["user", "add"], ["user", "frobnicate", "x"], ["nosuch"],
                 ["user", "remove"], ["user", "add", "x", "--domains"],
                 ["user", "list", "extra"], []):
        r = m.mtactl(*args, input="pw\n")
        assert r.returncode == 2, (args, r.returncode, r.stderr)

    # no password in the log (or the queue) in any form
    log = m.log_text(0)
    for pw in (pw1, pw2):
        assert pw not in log
        assert b64(f"\0bob\0{pw}") not in log
    hashes = [h for (h,) in m.db_rows("SELECT password_hash FROM users")]
    assert hashes and all(h.startswith("$y$") and pw2 not in h for h in hashes), hashes
    m.wait_for_log(r" event=auth client=127\.0\.0\.1 user=bob result=failed$")


def test_mtactl_password_too_long_refused(tls_mtad):
    m = tls_mtad(kinds=())
    lim = limits()["LIM_AUTH_PASSWORD"]
    r = m.mtactl("user", "add", "toolong", input="p" * (lim + 1) + "\n")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"at most {lim} octets" in r.stderr, r.stderr
    assert m.db_rows("SELECT name FROM users") == []


def test_mtactl_password_of_max_length(tls_mtad, connect, certs):
    m = tls_mtad()
    pw = "p" * limits()["LIM_AUTH_PASSWORD"]
    r = m.mtactl("user", "add", "maxpw", input=pw + "\n")
    assert r.returncode == 0, (r.returncode, r.stderr)
    c = tls_session(connect, m.ports["submission"], certs)
    c.expect("AUTH PLAIN", "334 ")
    c.expect(b64(f"\0maxpw\0{pw}"), "235 2.7.0 Authentication successful")


# ---------------------------------------------------------------- 11: outbound verification

def start_sink(**kw):
    for attempt in range(3):
        s = Sink("127.0.0.1", free_port(), **kw)
        try:
            return s.start()
        except Exception:
            s.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def submit_trusted(m, rcpt):
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        c.start_txn(sender="x@example.org", rcpts=(rcpt,))
        return queued(send_body(c, msg_body()))


@pytest.mark.parametrize("cert,ok", [("other", False), ("server", True)],
                         ids=["wrong-name", "right-name"])
def test_outbound_verify_checks_name(tls_mtad, certs, cert, ok):
    sink = start_sink(tls=(str(certs / f"{cert}.crt"), str(certs / f"{cert}.key")),
                      require_tls=True)
    try:
        m = tls_mtad(kinds=(), extra=f"route * 127.0.0.1:{sink.port} tls=verify\n"
                     f"tls_ca {certs / 'ca.crt'}\nretry 1h\n")
        rcpt = "ann@smart.example.net"
        qid = submit_trusted(m, rcpt)
        line = m.wait_for_log(rf"^\S+ {qid} event=delivery rcpt={re.escape(rcpt)} "
                              r"relay=\S+ (?:tls=(?P<tls>\"[^\"]*\"|\S+) )?dsn=\S+ "
                              r"status=(?P<status>\w+) .*reply=(?P<reply>.*)$", timeout=T)
        if ok:
            assert line["status"] == "sent", line.group(0)
            [msg] = sink.wait_messages(1)
            assert msg.tls and msg.tls[1].startswith("TLSv1."), msg.tls
            [(tls_col,)] = m.db_rows("SELECT tls FROM events WHERE queue_id = ? AND "
                                     "kind = 'delivered'", (qid,))
            assert tls_col.startswith("TLS1.") and tls_col.split()[-1] == "verified", tls_col
        else:
            assert line["status"] == "deferred", line.group(0)
            rows = wait_until(lambda: [r for r in m.db_rows(
                "SELECT state, last_reply FROM recipients") if r[0] == "deferred"], T,
                "a deferred recipient")
            reply = rows[0][1]
            assert "certificate verification failed" in reply, reply
            assert re.search(r"name|host", reply, re.I), reply
            assert sink.mails == [] and sink.messages == []
            assert not m.db_rows("SELECT 1 FROM events WHERE queue_id = ? AND "
                                 "kind = 'delivered'", (qid,))
    finally:
        sink.stop()
