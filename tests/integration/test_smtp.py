"""The ESMTP dialogue as real clients see it: replies, and what gets queued."""
import re
import smtplib
import subprocess
import time

import pytest

from mtadtest import (HOSTNAME, QID_RE, QUEUED_RE, Closed, free_port,
                      ipv6_loopback_ok, received_re)

SWAKS = "/usr/bin/swaks"


def stored(m, qid):
    rows = m.db_rows("SELECT sender, size, body, smtputf8, body_type, client_addr, helo"
                     " FROM messages WHERE queue_id = ?", (qid,))
    assert len(rows) == 1, f"queue ID {qid}: {len(rows)} rows"
    return rows[0]


# ---------------------------------------------------------------- normal mail

def test_smtplib_message_is_queued_exactly(mtad):
    body = (b"From: Sender <sender@example.org>\r\n"
            b"To: <Rcpt@Example.NET>\r\n"
            b"Subject: integration\r\n"
            b"\r\n"
            b"first line\r\n"
            b".starts with a dot\r\n"
            b"..starts with two dots\r\n"
            b".\r\n"
            b"..\r\n"
            b"last line\r\n")
    with smtplib.SMTP("127.0.0.1", mtad.port, local_hostname="client.example",
                      timeout=10) as s:
        code, msg = s.ehlo()
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("smtputf8")
        assert s.has_extn("enhancedstatuscodes") and s.has_extn("8bitmime")
        assert s.esmtp_features["size"] == str(35 * 1024 * 1024)
        assert s.mail("sender@example.org") == (250, b"2.1.0 Ok")
        assert s.rcpt("Rcpt@Example.NET") == (250, b"2.1.5 Ok")
        # smtplib dot-stuffs: every line starting with "." goes out with one
        # more; mtad must take exactly one off again.
        code, resp = s.data(body)
    assert code == 250, resp
    m = re.fullmatch(rb"2\.0\.0 Ok: queued as (" + QID_RE.encode() + rb")", resp)
    assert m, resp
    qid = m.group(1).decode()

    sender, size, stored_body, utf8, body_type, client, helo = stored(mtad, qid)
    assert (sender, utf8, body_type, client, helo) == \
        ("sender@example.org", 0, "", "127.0.0.1", "client.example")
    hdr = received_re(qid, rcpt="Rcpt@Example.NET").match(stored_body)
    assert hdr, stored_body[:300]
    assert stored_body[hdr.end():] == body
    assert size == len(stored_body)

    rcpts = mtad.db_rows("SELECT r.address, r.domain, r.state, r.attempts FROM recipients r"
                         " JOIN messages m ON m.id = r.message_id WHERE m.queue_id = ?", (qid,))
    assert rcpts == [("Rcpt@Example.NET", "example.net", "queued", 0)]
    events = mtad.db_rows("SELECT kind, code, remote FROM events WHERE queue_id = ?", (qid,))
    assert events == [("received", 250, "127.0.0.1")]
    assert mtad.db_rows("SELECT count(*) FROM messages") == [(1,)]
    mtad.wait_for_log(rf"^\S+ {qid} event=received session=[0-9a-z]{{10}} "
                      rf"from=sender@example\.org nrcpt=1 size={size} client=127\.0\.0\.1"
                      r" dkim=none$")


def test_raw_dot_unstuffing(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    wire = b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n. \r\n"
    qid = c.send_message(wire)
    body = stored(mtad, qid)[2]
    hdr = received_re(qid, rcpt="rcpt@example.net").match(body)
    assert body[hdr.end():] == b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nx.\r\n \r\n"


def test_fifty_recipients_one_message(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    rcpts = [f"user{i:02d}@d{i % 7}.example" for i in range(50)]
    qid = c.send_message(rcpts=rcpts)
    assert mtad.db_rows("SELECT count(*) FROM messages") == [(1,)]
    got = mtad.db_rows("SELECT r.address, r.domain, r.state FROM recipients r"
                       " JOIN messages m ON m.id = r.message_id WHERE m.queue_id = ?"
                       " ORDER BY r.id", (qid,))
    # stored by domain, in RCPT order within one (a delivery's rows are neighbours)
    by_domain = sorted(rcpts, key=lambda r: r.split("@")[1])
    assert got == [(r, r.split("@")[1], "queued") for r in by_domain]
    assert mtad.db_rows("SELECT count(*) FROM recipients") == [(50,)]
    body = stored(mtad, qid)[2]
    # several recipients: no "for <...>" clause in the trace header
    assert received_re(qid, rcpt=None).match(body), body[:300]
    mtad.wait_for_log(rf"^\S+ {qid} event=received .* nrcpt=50 ")


def test_duplicate_recipient_stored_once(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    qid = c.send_message(rcpts=("a@example.net", "a@EXAMPLE.net", "b@example.net"))
    got = mtad.db_rows("SELECT address FROM recipients ORDER BY id")
    assert got == [("a@example.net",), ("b@example.net",)]
    assert qid


# ---------------------------------------------------------------- pipelining

def test_swaks_pipeline(mtad):
    out = subprocess.run(
        [SWAKS, "--server", f"127.0.0.1:{mtad.port}", "--pipeline",
         "--helo", "client.example", "--from", "pipe@example.org",
         "--to", "one@example.net,two@example.net",
         "--header", "Subject: pipelined", "--body", "pipelined body"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    log = out.stdout
    m = re.search(r"^<-  250 2\.0\.0 Ok: queued as (" + QID_RE + r")$", log, re.M)
    assert m, log
    # really pipelined: DATA went out before the reply to MAIL came back
    assert log.index(" -> DATA") < log.index("<-  250 2.1.0 Ok"), log
    assert mtad.db_rows("SELECT m.queue_id, count(r.id) FROM messages m"
                        " JOIN recipients r ON r.message_id = m.id GROUP BY m.id") \
        == [(m.group(1), 2)]


def test_raw_pipelined_group_replies_in_order(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.send("MAIL FROM:<p@example.org>\r\n"
           "RCPT TO:<a@example.net>\r\n"
           "RCPT TO:<bad address>\r\n"
           "RCPT TO:<b@example.net>\r\n"
           "DATA\r\n")
    got = [r.line for r in c.replies(5)]
    assert got == ["250 2.1.0 Ok",
                   "250 2.1.5 Ok",
                   "501 5.1.3 Bad recipient address: bad address syntax",
                   "250 2.1.5 Ok",
                   "354 End data with <CR><LF>.<CR><LF>"]
    # body, end of data and the next transaction's group in one write
    c.send("Subject: p\r\n\r\none\r\n.\r\n"
           "MAIL FROM:<p2@example.org>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
    got = [r.line for r in c.replies(4)]
    assert QUEUED_RE.match(got[0]), got
    assert got[1:] == ["250 2.1.0 Ok", "250 2.1.5 Ok",
                       "354 End data with <CR><LF>.<CR><LF>"]
    c.send("Subject: p2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    r1, r2 = c.replies(2)
    assert QUEUED_RE.match(r1.line), r1
    assert r2.line == "221 2.0.0 Bye"
    c.wait_closed()
    ids = [QUEUED_RE.match(got[0]).group(1), QUEUED_RE.match(r1.line).group(1)]
    rows = mtad.db_rows("SELECT m.queue_id, group_concat(r.address) FROM messages m"
                        " JOIN recipients r ON r.message_id = m.id GROUP BY m.id ORDER BY m.id")
    assert rows == [(ids[0], "a@example.net,b@example.net"), (ids[1], "c@example.net")]


# ---------------------------------------------------------------- SIZE

LIMIT = 64 * 1024


def body_of(size):
    """A message of exactly `size` DATA octets (CRLFs included)."""
    head = b"Subject: size\r\n\r\n"
    left = size - len(head)
    lines = []
    while left > 0:
        n = min(left, 78)
        if n < 2:   # cannot make a 1-octet line; widen the previous one
            lines[-1] = b"y" + lines[-1]
            left -= 1
            continue
        lines.append(b"x" * (n - 2) + b"\r\n")
        left -= n
    body = head + b"".join(lines)
    assert len(body) == size
    return body


@pytest.fixture
def small(make_mtad):
    return make_mtad(extra="max_message_size 64K")


def test_size_declared_too_big(small, connect):
    c = connect(small.port)
    r = c.ehlo()
    assert f"250-SIZE {LIMIT}" in r.lines
    c.expect(f"MAIL FROM:<a@example.org> SIZE={LIMIT + 1}",
             "552 5.3.4 Message size exceeds fixed limit")
    c.expect("MAIL FROM:<a@example.org> SIZE=abc", "501 5.5.4 Bad SIZE= value")
    c.expect(f"MAIL FROM:<a@example.org> SIZE={LIMIT}", "250 2.1.0 Ok")
    c.expect("RSET", "250 2.0.0 Ok")
    assert small.message_count() == 0


def test_size_real_too_big_then_session_goes_on(small, connect):
    c = connect(small.port)
    c.ehlo()
    # exactly at the limit: accepted
    qid = c.send_message(body_of(LIMIT))
    assert len(stored(small, qid)[2]) > LIMIT      # our Received: is on top
    # one octet more, and no SIZE= declared: refused after the final dot
    c.start_txn()
    c.send(body_of(LIMIT + 1) + b".\r\n")
    assert c.reply().line == "552 5.3.4 Error: message size exceeds fixed limit"
    # the session is still usable
    c.expect("NOOP", "250 2.0.0 Ok")
    qid2 = c.send_message()
    assert small.db_rows("SELECT queue_id FROM messages ORDER BY id") == [(qid,), (qid2,)]


# ---------------------------------------------------------------- relay policy

def test_untrusted_client_refused(make_mtad, connect):
    m = make_mtad(trusted="127.0.0.2/32")
    c = connect(m.port)
    c.ehlo()
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<b@example.net>", "550 5.7.1 Relay access denied")
    c.expect("DATA", "554 5.5.1 Error: no valid recipients")
    c.expect("QUIT", "221 2.0.0 Bye")
    assert m.message_count() == 0
    m.wait_for_log(r" event=connect client=127\.0\.0\.1:\d+ .* trusted=no$")
    m.wait_for_log(r" event=reject cmd=RCPT arg=b@example\.net client=127\.0\.0\.1 "
                   r"reply=\"550 5\.7\.1 Relay access denied\"$")
    # the trusted address itself may relay (positive control)
    c2 = connect(m.port, source="127.0.0.2")
    c2.ehlo()
    qid = c2.send_message()
    assert stored(m, qid)[5] == "127.0.0.2"


def test_null_sender_accepted(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    qid = c.send_message(sender="")
    assert stored(mtad, qid)[0] == ""
    c.expect("RCPT TO:<>", "503 5.5.1 Error: bad sequence of commands")
    c.expect("MAIL FROM:<>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<>", "501 5.1.3 Bad recipient address: null address not allowed here")


# ---------------------------------------------------------------- addresses

def test_idn_recipient_with_smtputf8(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    qid = c.send_message(sender="sender@example.org", rcpts=("user@bücher.example",),
                         mail_params=" SMTPUTF8 BODY=8BITMIME",
                         body="Subject: ü\r\n\r\nGrüße\r\n".encode())
    row = stored(mtad, qid)
    assert row[3] == 1 and row[4] == "8BITMIME"
    assert received_re(qid, rcpt="user@bücher.example", proto="UTF8SMTP").match(row[2]), row[2]
    assert mtad.db_rows("SELECT address, domain FROM recipients") == \
        [("user@bücher.example", "xn--bcher-kva.example")]


def test_utf8_address_needs_smtputf8(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.expect("MAIL FROM:<jörg@example.org>",
             "553 5.6.7 Non-ASCII sender address needs SMTPUTF8")
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<user@bücher.example>",
             "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8")
    c.expect("RCPT TO:<jörg@example.net>",
             "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8")
    c.expect("DATA", "554 5.5.1 Error: no valid recipients")
    assert mtad.message_count() == 0


def test_source_route_refused(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.expect("MAIL FROM:<@a.example:u@b.example>",
             "501 5.1.7 Bad sender address: source routes are not accepted")
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c.expect("RCPT TO:<@a.example:u@b.example>",
             "501 5.1.3 Bad recipient address: source routes are not accepted")
    c.expect("RCPT TO:<@a.example,@c.example:u@b.example>",
             "501 5.1.3 Bad recipient address: source routes are not accepted")
    assert mtad.message_count() == 0


def test_command_sequence_errors(mtad, connect):
    c = connect(mtad.port)
    c.expect("MAIL FROM:<a@example.org>", "503 5.5.1 Error: send HELO/EHLO first")
    c.expect("HELO", "501 5.5.4 Syntax: HELO requires an argument")
    c.expect("HELO client.example", f"250 {HOSTNAME}")
    c.expect("DATA", "503 5.5.1 Error: need MAIL command")
    r = c.cmd("MAIL FROM:<a@example.org> SIZE=10")     # no ESMTP after HELO
    assert r.line.startswith("555 5.5.4 Unsupported option: SIZE"), r.lines
    c.expect("FOO", "500 5.5.2 Error: command not recognized")
    c.expect("VRFY x", "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery")
    c.expect("QUIT", "221 2.0.0 Bye")
    c.wait_closed()


# ---------------------------------------------------------------- limits

def test_max_errors_closes_session(make_mtad, connect):
    m = make_mtad(extra="max_errors 3")
    c = connect(m.port)
    c.ehlo()
    c.expect("FOO", "500 5.5.2 Error: command not recognized")
    c.expect("BAR", "500 5.5.2 Error: command not recognized")
    c.send("BAZ\r\nNOOP\r\n")
    r1, r2 = c.replies(2)
    assert r1.line == "500 5.5.2 Error: command not recognized"
    assert r2.line == f"421 4.7.0 {HOSTNAME} Error: too many errors"
    c.wait_closed()        # and NOOP was never answered
    m.wait_for_log(r" event=too_many_errors errors=3$")


def test_max_sessions(make_mtad, connect):
    m = make_mtad(extra="max_sessions 2")
    c1 = connect(m.port)
    c2 = connect(m.port)
    c3 = connect(m.port, greet=False)
    assert c3.reply().line == \
        f"421 4.7.0 {HOSTNAME} Error: too many connections, try again later"
    c3.wait_closed()
    m.wait_for_log(r"^\S+ mtad event=refused client=127\.0\.0\.1 reason=max_sessions$")
    # the two admitted sessions work
    c1.ehlo()
    c2.ehlo()
    c1.expect("QUIT", "221 2.0.0 Bye")
    c1.wait_closed()
    # once one has gone, a new client is admitted again (the slot frees
    # when the session thread ends: poll, bounded)
    deadline = time.monotonic() + 10
    while True:
        c4 = connect(m.port, greet=False)
        r = c4.reply()
        if r.code == 220:
            break
        assert r.code == 421, r.lines
        c4.close()
        assert time.monotonic() < deadline, "no session slot freed after QUIT"
        time.sleep(0.02)
    c4.ehlo()
    c2.ehlo()


def test_command_timeout(make_mtad, connect):
    m = make_mtad(extra="timeout command 2s")
    c = connect(m.port)
    t0 = time.monotonic()
    c.ehlo()
    r = c.reply(timeout=8)
    waited = time.monotonic() - t0
    assert r.line == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded"
    assert 1.5 <= waited < 6, waited
    c.wait_closed()
    m.wait_for_log(r" event=disconnect client=127\.0\.0\.1 reason=timeout ")


def test_swaks_basic_delivery(mtad):
    out = subprocess.run(
        [SWAKS, "--server", f"127.0.0.1:{mtad.port}", "--helo", "swaks.example",
         "--from", "swaks@example.org", "--to", "dest@example.net",
         "--header", "Subject: from swaks", "--body", "hello from swaks"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"^<-  250 2\.0\.0 Ok: queued as (" + QID_RE + r")$", out.stdout, re.M)
    assert m, out.stdout
    qid = m.group(1)
    sender, _, body, *_ = stored(mtad, qid)
    assert sender == "swaks@example.org"
    assert received_re(qid, helo="swaks.example", rcpt="dest@example.net").match(body)
    assert b"\r\nSubject: from swaks\r\n" in body
    assert b"\r\n\r\nhello from swaks\r\n" in body
    assert mtad.db_rows("SELECT address FROM recipients") == [("dest@example.net",)]


def test_ipv6_client(make_mtad, connect):
    if not ipv6_loopback_ok():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    m = make_mtad(start=False)
    p6 = free_port("::1")
    m.port = free_port()
    m.write_config(listens=[f"[::1]:{p6}"])
    m.start()
    c = connect(p6, host="::1")
    c.ehlo()
    qid = c.send_message()
    body = stored(m, qid)[2]
    assert received_re(qid, ip="IPv6:::1", rcpt="rcpt@example.net").match(body), body[:200]
    assert stored(m, qid)[5] == "::1"


def test_connection_closed_mid_session_leaves_nothing(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send("Subject: cut\r\n\r\nhalf a mess")
    c.close()
    mtad.wait_for_log(r" event=disconnect client=127\.0\.0\.1 reason=eof ")
    assert mtad.message_count() == 0
    with pytest.raises((Closed, ConnectionError, OSError)):
        c.cmd("NOOP", timeout=1)


def test_max_recipients(make_mtad, connect):
    m = make_mtad(extra="max_recipients 100")
    c = connect(m.port)
    c.ehlo()
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c.send("".join(f"RCPT TO:<u{i}@example.net>\r\n" for i in range(101)))
    got = [r.line for r in c.replies(101)]
    assert got == ["250 2.1.5 Ok"] * 100 + ["452 4.5.3 Error: too many recipients"]
    c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
    c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
    assert QUEUED_RE.match(c.reply().line)
    assert m.db_rows("SELECT count(*) FROM recipients") == [(100,)]


def test_mail_loop_refused(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    hops = lambda n: b"".join(b"Received: from h%d by h%d; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
                              % (i, i + 1) for i in range(n))
    qid = c.send_message(hops(100) + b"Subject: 100 hops\r\n\r\nok\r\n")
    assert qid
    c.start_txn()
    c.send(hops(101) + b"Subject: 101 hops\r\n\r\nloop\r\n.\r\n")
    assert c.reply().line == "554 5.4.6 Error: too many Received: headers, mail loop?"
    # "Received:" lines in the body do not count
    qid2 = c.send_message(b"Subject: body\r\n\r\n" + hops(150))
    assert [r[0] for r in mtad.db_rows("SELECT queue_id FROM messages ORDER BY id")] == [qid, qid2]


def test_postmaster_without_domain(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    qid = c.send_message(rcpts=("Postmaster",))
    assert mtad.db_rows("SELECT address, domain FROM recipients") == \
        [(f"postmaster@{HOSTNAME}", HOSTNAME)]
    assert qid


def test_http_request_on_smtp_port(mtad, connect):
    c = connect(mtad.port)
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.reply().line == "221 2.7.0 Error: this is an SMTP server, not HTTP"
    c.wait_closed()


def test_data_timeout(make_mtad, connect):
    m = make_mtad(extra="timeout data 2s")
    c = connect(m.port)
    c.ehlo()
    c.start_txn()
    t0 = time.monotonic()
    c.send(b"Subject: slow\r\n\r\nand then nothing")
    r = c.reply(timeout=8)
    assert r.line == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded"
    assert 1.5 <= time.monotonic() - t0 < 6
    c.wait_closed()
    assert m.message_count() == 0


def test_recipient_overshoot_does_not_kill_transaction(make_mtad, connect):
    m = make_mtad(extra="max_recipients 100")
    c = connect(m.port)
    c.ehlo()
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c.send("".join(f"RCPT TO:<u{i}@example.net>\r\n" for i in range(150)))
    got = [r.line for r in c.replies(150)]
    assert got == ["250 2.1.5 Ok"] * 100 + ["452 4.5.3 Error: too many recipients"] * 50
    c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
    c.send(b"Subject: first chunk\r\n\r\nx\r\n.\r\n")
    assert QUEUED_RE.match(c.reply().line)
    assert m.db_rows("SELECT count(*) FROM recipients") == [(100,)]
