"""SMTP smuggling and framing (RFC 5321 2.3.8, 4.1.1.4) over raw sockets.

Only <CR><LF>.<CR><LF> ends a message.  Any bare LF, bare CR or NUL in the
data makes the whole message refused when the real end arrives, and
nothing inside it (in particular a "smuggled" MAIL/RCPT/DATA) is executed.
"""
import pytest

from mtadtest import QUEUED_RE, Closed

BARE_LF = "554 5.6.0 Error: bare <LF> in message data (RFC 5321 2.3.8)"
BARE_CR = "554 5.6.0 Error: bare <CR> in message data (RFC 5321 2.3.8)"
NUL = "554 5.6.0 Error: NUL byte in message data"

SMUGGLED = (b"MAIL FROM:<evil@x.example>\r\n"
            b"RCPT TO:<victim@y.example>\r\n"
            b"DATA\r\n"
            b"From: evil@x.example\r\n\r\nsmuggled\r\n")


def assert_clean_after(m, c):
    """Exactly the one refusal came back: the very next reply is NOOP's,
    nothing was stored, and the session still takes a clean message."""
    c.expect("NOOP", "250 2.0.0 Ok")
    assert m.message_count() == 0
    c.expect("RSET", "250 2.0.0 Ok")
    qid = c.send_message(b"Subject: clean\r\n\r\nclean\r\n")
    rows = m.db_rows("SELECT queue_id, sender, body FROM messages")
    assert len(rows) == 1 and rows[0][:2] == (qid, "sender@example.org"), rows
    assert b"smuggled" not in rows[0][2] and b"evil" not in rows[0][2]
    assert m.db_rows("SELECT address FROM recipients") == [("rcpt@example.net",)]
    assert m.db_rows("SELECT count(*) FROM events") == [(1,)]


@pytest.mark.parametrize("fake_end,why", [
    (b"\n.\n", BARE_LF),
    (b"\r.\r", BARE_CR),
    (b"\n.\r\n", BARE_LF),
    (b"\r\n.\n", BARE_LF),
    (b"\r\n.\r\r\n", BARE_CR),
    (b"\r\n.\r", BARE_CR),
    (b"\r.\r\n", BARE_CR),
], ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF", "CRLF.CRCRLF", "CRLF.CR", "CR.CRLF"])
def test_fake_end_of_data_is_not_an_end(mtad, connect, fake_end, why):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send(b"Subject: smuggle\r\n\r\nhello" + fake_end + SMUGGLED + b"\r\n.\r\n")
    r = c.reply()
    assert r.line == why, r.lines
    mtad.wait_for_log(r" event=reject cmd=DATA arg=[0-9a-z]{12} client=127\.0\.0\.1 "
                      r"reply=\"554 5\.6\.0 ")
    assert_clean_after(mtad, c)


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n"],
                         ids=["LF.LF", "CRLF.LF", "LF.CRLF"])
def test_fake_end_split_across_writes(mtad, connect, fake_end):
    """The same, with the bytes trickling in one write each (the engine's
    slow path that assembles lines across reads)."""
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    for b in b"Subject: s\r\n\r\nhi" + fake_end + SMUGGLED:
        c.send(bytes([b]))
    c.send(b"\r\n.\r\n")
    assert c.reply().line == BARE_LF
    assert_clean_after(mtad, c)


def test_bare_lf_in_command_ends_session(mtad, connect):
    """After a bare LF nobody knows where the client's lines end: the reply
    is 521 and the session closes, so nothing after it can run."""
    c = connect(mtad.port)
    c.send("EHLO client.example\n")
    assert c.reply().line == "521 5.5.2 Error: bare <LF> received"
    c.wait_closed()
    c = connect(mtad.port)
    c.ehlo()
    c.send("MAIL FROM:<a@example.org>\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert c.reply().line == "521 5.5.2 Error: bare <LF> received"
    c.wait_closed()
    assert mtad.message_count() == 0
    # the daemon itself is fine
    c = connect(mtad.port)
    c.ehlo()
    c.send_message()
    assert mtad.message_count() == 1


def test_bare_cr_and_nul_in_commands(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.send("MAIL FROM:<a@example.org>\rRCPT TO:<b@example.net>\r\n")
    assert c.reply().line == "500 5.5.2 Error: bare <CR> received"
    c.send("NOOP\0\r\n")
    assert c.reply().line == "500 5.5.2 Error: NUL byte received"
    # none of that started a transaction; the session goes on
    c.expect("RCPT TO:<b@example.net>", "503 5.5.1 Error: bad sequence of commands")
    c.send_message()
    assert mtad.message_count() == 1


def test_nul_in_data_refused(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send(b"Subject: nul\r\n\r\nbefore\0after\r\nmore\r\n.\r\n")
    assert c.reply().line == NUL
    assert_clean_after(mtad, c)


def test_long_line_in_data_refused(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    # 998 octets + CRLF is the longest legal line
    qid = c.send_message(b"Subject: l\r\n\r\n" + b"a" * 998 + b"\r\n")
    assert qid
    c.start_txn()
    c.send(b"Subject: l\r\n\r\n" + b"a" * 999 + b"\r\n.\r\n")
    assert c.reply().line == \
        "554 5.6.0 Error: text line longer than 1000 octets (RFC 5321 4.5.3.1.6)"
    c.expect("NOOP", "250 2.0.0 Ok")
    assert mtad.message_count() == 1


def test_data_pipelined_before_354_refused(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
           b"Subject: early\r\n\r\nbody\r\n.\r\n")
    got = [r.line for r in c.replies(3)]
    assert got == ["250 2.1.0 Ok", "250 2.1.5 Ok",
                   "554 5.5.0 Error: improper use of SMTP command pipelining"]
    c.wait_closed()
    assert mtad.message_count() == 0


def test_dot_stuffed_lone_dot_is_not_an_end(mtad, connect):
    """<CRLF>..<CRLF> is a data line holding '.', not the end."""
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send(b"Subject: d\r\n\r\nx\r\n..\r\nMAIL FROM:<evil@x.example>\r\n")
    c.send(b".\r\n")
    r = c.reply()
    assert QUEUED_RE.match(r.line), r.lines
    body = mtad.db_rows("SELECT body FROM messages")[0][0]
    assert body.endswith(b"\r\n\r\nx\r\n.\r\nMAIL FROM:<evil@x.example>\r\n")
