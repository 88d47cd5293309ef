"""End-to-end tests of sendmail for local programs: `mtactl send` and the
same binary run under the name `sendmail`, talking SMTP to mtad over
state_dir/submit.sock.

A real mtad delivers (`route * 127.0.0.1:PORT tls=none`) to a real
aiosmtpd sink on loopback.  Unprivileged callers run as user nobody
(uid 65534) through setpriv, so everything they need -- the config, the
directories on the way to it and to state_dir -- lives in a directory under
/tmp that nobody can traverse (pytest's tmp_path is mode 0700).

Run: make integration PYTEST_ARGS="-k test_sendmail"
"""
import json
import os
import pathlib
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from mtadtest import HOSTNAME, MTACTL_BIN, QID_RE, Mtad, free_port
from sinks import Sink

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

NOBODY_UID = 65534
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NOBODY_SENDER = f"nobody@{HOSTNAME}"
T = 10.0                        # bound of every wait
PY = "/usr/bin/python3"


def received_local_re(uid):
    """Our Received: for a message from the local socket, first in the data."""
    date = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000"
    return re.compile(
        (rf"^Received: by {re.escape(HOSTNAME)} \(mtad, from uid {uid}\)\r\n"
         rf"\twith ESMTP id ({QID_RE})(\r\n\tfor <[^>]+>)?; {date}\r\n").encode())


def local_qid(data, uid):
    """The queue ID in our local Received: (first in data), or None."""
    mr = received_local_re(uid).match(data)
    return mr.group(1).decode() if mr else None


def headers_of(data):
    """The header section of a message (bytes, CRLF) as a list of
    (lower-case name, raw value) with folded lines joined."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    fields = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + "\r\n" + line)
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.lower(), value))
    return fields


def header_values(data, name):
    return [v.strip() for n, v in headers_of(data) if n == name.lower()]


def body_of(data):
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


# ---------------------------------------------------------------- fixtures

class World:
    """A base directory nobody can traverse, a `sendmail` symlink to mtactl,
    and a factory of daemons that deliver to one sink."""

    def __init__(self):
        assert os.geteuid() == 0, "these tests run as root (they setpriv to nobody)"
        assert MTACTL_BIN and os.access(MTACTL_BIN, os.X_OK), \
            f"MTACTL_BIN={MTACTL_BIN!r} is not executable (run make)"
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="mtad-sendmail-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        bindir = self.base / "bin"
        bindir.mkdir()
        os.chmod(bindir, 0o755)
        self.sendmail_bin = str(bindir / "sendmail")
        os.symlink(os.path.abspath(MTACTL_BIN), self.sendmail_bin)
        self.sink = Sink(port=free_port()).start()
        self.mtads = []

    def mtad(self, name="mtad", extra="", start=True):
        m = Mtad(self.base, name=name,
                 extra=f"route * 127.0.0.1:{self.sink.port} tls=none\n" + extra)
        os.chmod(m.dir, 0o755)
        self.mtads.append(m)
        if start:
            m.start()
            os.chmod(m.conf_path, 0o644)
        return m

    def sendmail(self, m, args=(), input=b"", user="nobody", conf=True, env=None,
                 timeout=T):
        """Run `sendmail [-C CONF] ARGS` as user (nobody or root)."""
        argv = [self.sendmail_bin] + (["-C", m.conf_path] if conf else []) + list(args)
        if user == "nobody":
            argv = NOBODY + argv
        if isinstance(input, str):
            input = input.encode("utf-8")
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                              cwd=str(self.base), env=env)

    def as_nobody_py(self, script, *args, timeout=T):
        """A python script run as nobody; its stdout parsed as JSON."""
        r = subprocess.run(NOBODY + [PY, "-c", script, *args], capture_output=True,
                           timeout=timeout, cwd=str(self.base))
        assert r.returncode == 0, f"script as nobody failed: {r.stderr.decode()}"
        return json.loads(r.stdout)

    def close(self):
        for m in self.mtads:
            m.cleanup()
        self.sink.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


def ok(r):
    """A sendmail run exited 0 (with its stderr in the message if not)."""
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr.decode()!r}"
    return r


def wait_rcpts(sink, rcpts, timeout=T):
    """Wait until every address in rcpts was delivered; the messages."""
    want = {a.lower() for a in rcpts}

    def got(s):
        have = {r.lower() for msg in s.messages for r in msg.rcpts}
        return list(s.messages) if want <= have else None
    return sink.wait_for(got, timeout, f"deliveries to {sorted(want)}")


def one_message(sink, rcpt, timeout=T):
    ms = sink.wait_messages(1, timeout, rcpt=rcpt)
    assert len(ms) == 1, f"{rcpt}: {len(ms)} deliveries: {ms}"
    return ms[0]


# ---------------------------------------------------------------- 1. -t as nobody

def test_sendmail_t_as_nobody_bcc_removed_sender_forced(world):
    m = world.mtad()
    msg = ("From: Someone <someone@else.example>\n"
           "To: Alice <alice@example.net>\n"
           "Cc: \"Doe, Carol\" <carol@example.org>\n"
           "Bcc: bob@example.com\n"
           "Subject: -t test\n"
           "\n"
           "hello from nobody\n")
    r = ok(world.sendmail(m, ["-t", "-f", "someone@else.example"], msg))
    assert r.stdout == b""

    rcpts = ["alice@example.net", "carol@example.org", "bob@example.com"]
    ms = wait_rcpts(world.sink, rcpts)
    delivered = sorted(a.lower() for x in ms for a in x.rcpts)
    assert delivered == sorted(rcpts), f"each recipient exactly once: {delivered}"
    for x in ms:
        assert x.sender == NOBODY_SENDER, \
            f"nobody's envelope sender must be forced to {NOBODY_SENDER}, got {x.sender!r}"
        assert b"bcc:" not in x.data.lower(), f"Bcc: line delivered:\n{x.data.decode()}"
        mr = received_local_re(NOBODY_UID).match(x.data)
        assert mr, f"Received: header with from uid {NOBODY_UID} first:\n{x.data.decode()}"
        assert body_of(x.data) == b"hello from nobody\r\n"
        assert header_values(x.data, "To") == ["Alice <alice@example.net>"]
        assert header_values(x.data, "From") == ["Someone <someone@else.example>"]

    # the log
    qid = local_qid(ms[0].data, NOBODY_UID)
    ev = m.wait_for_log(rf"^\S+ {qid} event=received .*$").group(0)
    assert f"from={NOBODY_SENDER} " in ev, ev
    assert re.search(r"\buser=nobody\b", ev), ev
    assert re.search(r"\bclient=local:65534\b", ev), ev
    assert re.search(r"\bnrcpt=3\b", ev), ev
    assert m.find_log(r" event=connect .*\bkind=local\b.*\buid=65534 user=nobody\b"), m.log_text()


def test_sendmail_envelope_recipients_from_arguments(world):
    """Without -t the arguments are the recipients and To: is only a header
    (mtactl send, run as root, goes the same way)."""
    m = world.mtad()
    msg = "To: header-only@example.com\nSubject: args\n\nbody\n"
    ok(world.sendmail(m, ["arg1@example.net", "arg2@example.org"], msg))
    wait_rcpts(world.sink, ["arg1@example.net", "arg2@example.org"])

    r = m.mtactl("send", "ctl@example.net", input="Subject: via mtactl\n\nx\n")
    assert r.returncode == 0, r.stderr
    x = one_message(world.sink, "ctl@example.net")
    assert received_local_re(0).match(x.data), x.data.decode()
    assert not world.sink.messages_for("header-only@example.com"), \
        "a To: header became a recipient without -t"


def test_sendmail_options_after_recipients_and_address_lists(world):
    """Options may follow the recipients (as with sendmail's getopt); one
    argument may hold an address list; "--" ends the options."""
    m = world.mtad()
    ok(world.sendmail(m, ["list1@example.net, Two <list2@example.net>", "-i",
                          "-F", "After Recipients", "--", "list3@example.net"],
                      "Subject: l\n\nkept\n.\nstill kept\n"))
    msgs = wait_rcpts(world.sink, ["list1@example.net", "list2@example.net",
                                   "list3@example.net"])
    assert body_of(msgs[0].data) == b"kept\r\n.\r\nstill kept\r\n", msgs[0].data
    assert "After Recipients" in header_values(msgs[0].data, "From")[0]


def test_sendmail_works_when_secrets_are_private(world):
    """A config naming files only mtad may read (route auth= secrets,
    tls_key) still serves sendmail for every local user: clients do not
    check those files."""
    secret = os.path.join(world.base, "relay.secret")
    with open(secret, "w") as f:
        f.write("s3cret\n")
    os.chmod(secret, 0o600)
    m = world.mtad(extra=f"route private.example 127.0.0.1:{world.sink.port} tls=may "
                         f"auth=relay:{secret}\n")
    ok(world.sendmail(m, ["priv@example.net"], "Subject: p\n\nb\n"))
    one_message(world.sink, "priv@example.net")


def test_sendmail_t_folded_group_and_bcc_only(world):
    """-t reads folded fields and group syntax; a message whose only
    recipient is in Bcc: goes out with the Bcc: removed."""
    m = world.mtad()
    ok(world.sendmail(m, ["-t"], "To: f1@example.net,\n  F Two <f2@example.net>\n"
                      "Subject: fold\n\nx\n"))
    ok(world.sendmail(m, ["-t"], "To: undisclosed-recipients:;\nBcc: hidden@example.org,\n"
                      "\tother@example.org\nSubject: group\n\ny\n"))
    ms = wait_rcpts(world.sink, ["f1@example.net", "f2@example.net",
                                 "hidden@example.org", "other@example.org"])
    assert sorted(a for x in ms for a in x.rcpts) == sorted(
        ["f1@example.net", "f2@example.net", "hidden@example.org", "other@example.org"])
    x = one_message(world.sink, "hidden@example.org")
    assert b"bcc" not in x.data.lower() and b"\tother@" not in x.data, x.data.decode()
    assert header_values(x.data, "To") == ["undisclosed-recipients:;"], x.data.decode()


def test_sendmail_text_without_header_stays_body(world):
    """`echo hello | sendmail rcpt`: text that is not a header field must stay
    the body; the From: sendmail adds must not land after it (which would
    turn the text into broken header lines and leave no body)."""
    m = world.mtad()
    ok(world.sendmail(m, ["plain@example.net"], "hello world\nsecond line\n"))
    x = one_message(world.sink, "plain@example.net")
    bad = [line for line in x.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
           if line and not re.match(rb"^([!-9;-~]+:|[ \t])", line)]
    assert not bad, f"lines in the header section that are no header fields: {bad}\n" \
        + x.data.decode()
    assert b"hello world\r\nsecond line\r\n" in body_of(x.data), x.data.decode()


# ---------------------------------------------------------------- 2. who may choose -f

def test_sendmail_root_keeps_f_sender(world):
    m = world.mtad()
    ok(world.sendmail(m, ["-f", "boss@chosen.example", "r1@example.net"],
                      "Subject: root\n\nx\n", user="root"))
    x = one_message(world.sink, "r1@example.net")
    assert x.sender == "boss@chosen.example", "root's -f sender was not kept"
    assert header_values(x.data, "From") == ["<boss@chosen.example>"], x.data.decode()
    assert received_local_re(0).match(x.data), x.data.decode()
    # without -f root is root@hostname
    ok(world.sendmail(m, ["r2@example.net"], "Subject: root2\n\nx\n", user="root"))
    assert one_message(world.sink, "r2@example.net").sender == f"root@{HOSTNAME}"


def test_sendmail_local_trusted_after_reload(world):
    m = world.mtad()
    ok(world.sendmail(m, ["-f", "list@chosen.example", "before@example.net"], "S: 1\n\nx\n"))
    x = one_message(world.sink, "before@example.net")
    assert x.sender == NOBODY_SENDER
    # the From: sendmail adds names the sender mtad keeps, not the -f it ignored
    assert header_values(x.data, "From") == [f"<{NOBODY_SENDER}>"], x.data.decode()

    mark = m.mark()
    m.write_config(extra=m.extra + "local_trusted daemon nobody\n")
    m.signal(signal.SIGHUP)
    m.wait_for_log(r"^\S+ mtad event=reloaded ", since=mark)

    ok(world.sendmail(m, ["-f", "list@chosen.example", "after@example.net"], "S: 2\n\nx\n"))
    x = one_message(world.sink, "after@example.net")
    assert x.sender == "list@chosen.example", \
        f"nobody is in local_trusted: -f must be kept, got {x.sender!r}"
    assert header_values(x.data, "From") == ["<list@chosen.example>"], x.data.decode()
    assert received_local_re(NOBODY_UID).match(x.data), x.data.decode()

    # a second daemon where nobody is not trusted (another user is)
    m2 = world.mtad(name="other", extra="local_trusted daemon\n")
    ok(world.sendmail(m2, ["-f", "list@chosen.example", "m2@example.net"], "S: 3\n\nx\n"))
    x = one_message(world.sink, "m2@example.net")
    assert x.sender == NOBODY_SENDER
    assert header_values(x.data, "From") == [f"<{NOBODY_SENDER}>"], x.data.decode()


# ---------------------------------------------------------------- 3. added headers

def test_sendmail_adds_date_message_id_from(world):
    m = world.mtad()
    ok(world.sendmail(m, ["-F", "Jane Doe", "bare@example.net"], "Subject: bare\n\nbody\n"))
    x = one_message(world.sink, "bare@example.net")
    qid = local_qid(x.data, NOBODY_UID)
    assert qid, x.data.decode()
    dates = header_values(x.data, "Date")
    assert len(dates) == 1 and re.match(r"^[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} ", dates[0]), \
        f"one Date: expected: {dates}"
    assert header_values(x.data, "Message-ID") == [f"<{qid}@{HOSTNAME}>"], \
        x.data.decode()
    assert header_values(x.data, "From") == [f"Jane Doe <{NOBODY_SENDER}>"], x.data.decode()

    # without -F: just the address
    ok(world.sendmail(m, ["noname@example.net"], "Subject: noname\n\nbody\n"))
    x = one_message(world.sink, "noname@example.net")
    assert header_values(x.data, "From") == [f"<{NOBODY_SENDER}>"], x.data.decode()


def test_sendmail_keeps_present_date_message_id_from(world):
    m = world.mtad()
    msg = ("Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
           "Message-Id: <original.1@example.org>\n"
           "from: Me <me@example.org>\n"
           "Subject: complete\n\nbody\n")
    ok(world.sendmail(m, ["-F", "Not Used", "full@example.net"], msg))
    x = one_message(world.sink, "full@example.net")
    assert header_values(x.data, "Date") == ["Mon, 1 Jan 2024 10:00:00 +0000"], x.data.decode()
    assert header_values(x.data, "Message-ID") == ["<original.1@example.org>"], x.data.decode()
    assert header_values(x.data, "From") == ["Me <me@example.org>"], x.data.decode()
    assert b"Not Used" not in x.data


def test_sendmail_from_with_special_display_name_is_one_address(world):
    """-F with a comma: the added From: must still hold one mailbox (the
    display name quoted), or readers see two addresses."""
    import email.utils
    m = world.mtad()
    ok(world.sendmail(m, ["-F", "Doe, Jane", "comma@example.net"], "Subject: c\n\nb\n"))
    x = one_message(world.sink, "comma@example.net")
    froms = header_values(x.data, "From")
    assert len(froms) == 1, froms
    parsed = email.utils.getaddresses(froms)
    assert parsed == [("Doe, Jane", NOBODY_SENDER)], \
        f"From: {froms[0]!r} parses as {parsed} (display name not quoted)"


def test_sendmail_non_ascii_display_name_is_encoded(world):
    """-F with non-ASCII: RFC 2047 encoded-words that decode back to it; a
    name with a line break is refused (64), never written into a header."""
    import email.header
    import email.utils
    m = world.mtad()
    name = "Jürgen Müller-Lüdenscheidt, Geschäftsführer der Bücherstube"
    ok(world.sendmail(m, ["-F", name, "idn-name@example.net"], "Subject: n\n\nb\n"))
    x = one_message(world.sink, "idn-name@example.net")
    raw = header_values(x.data, "From")[0]
    assert raw.isascii() and "=?UTF-8?B?" in raw, raw
    assert all(len(w) <= 75 for w in raw.split() if w.startswith("=?")), raw
    encoded, addr = email.utils.parseaddr(raw)
    shown = str(email.header.make_header(email.header.decode_header(encoded)))
    assert (shown, addr) == (name, NOBODY_SENDER), (shown, addr, raw)
    r = world.sendmail(m, ["-F", "Evil\nBcc: x@example.org", "nl@example.net"], "S: x\n\nb\n")
    assert r.returncode == 64, (r.returncode, r.stderr)


def test_sendmail_t_comments_and_null_sender(world):
    """-t reads past RFC 5322 comments; root may send with the null sender
    (-f '<>'), which the sink sees as MAIL FROM:<>."""
    m = world.mtad()
    msg = ("To: alice@example.net (Alice (the first)), \"Bob (not a comment)\" "
           "<bob@example.net>\nSubject: c\n\nb\n")
    ok(world.sendmail(m, ["-t"], msg))
    wait_rcpts(world.sink, ["alice@example.net", "bob@example.net"])
    ok(world.sendmail(m, ["-f", "<>", "null@example.net"], "Subject: n\n\nb\n", user="root"))
    x = one_message(world.sink, "null@example.net")
    assert x.sender == "<>", f"null sender became {x.sender!r}"   # sinks.py: "<>"


# ---------------------------------------------------------------- 4. "." and -i

def test_sendmail_dot_line_ends_message_without_i(world):
    m = world.mtad()
    msg = "Subject: dot\n\nkept\n..two dots\n.\nnot delivered\n"
    ok(world.sendmail(m, ["nodash-i@example.net"], msg))
    x = one_message(world.sink, "nodash-i@example.net")
    assert body_of(x.data) == b"kept\r\n..two dots\r\n", x.data.decode()


@pytest.mark.parametrize("opt", ["-i", "-oi"])
def test_sendmail_i_keeps_dot_lines(world, opt):
    m = world.mtad()
    msg = "Subject: dot\n\nkept\n.\n..two\n.x\nstill here\n"
    ok(world.sendmail(m, [opt, "dash-i@example.net"], msg))
    x = one_message(world.sink, "dash-i@example.net")
    assert body_of(x.data) == b"kept\r\n.\r\n..two\r\n.x\r\nstill here\r\n", x.data.decode()


def test_sendmail_crlf_input_and_other_o_options(world):
    m = world.mtad()
    msg = b"Subject: crlf\r\n\r\nline1\r\nline2\n"
    ok(world.sendmail(m, ["-oem", "-odb", "-v", "crlf@example.net"], msg))
    x = one_message(world.sink, "crlf@example.net")
    assert body_of(x.data) == b"line1\r\nline2\r\n", x.data.decode()


# ---------------------------------------------------------------- 5. rate limit

def test_sendmail_local_rate_limit(world):
    m = world.mtad(extra="local_rate 2/m\n")
    for i in range(2):
        ok(world.sendmail(m, [f"rl{i}@example.net"], f"Subject: {i}\n\nx\n"))
    mark = m.mark()
    r = world.sendmail(m, ["rl2@example.net"], "Subject: 2\n\nx\n")
    err = r.stderr.decode()
    assert r.returncode == 75, f"third message in a minute: exit {r.returncode}, {err!r}"
    assert "4.7.1" in err and "too much mail from uid 65534" in err, err
    ev = m.wait_for_log(r" event=rate_limited .*$", since=mark).group(0)
    assert re.search(r"\buid=65534\b", ev) and re.search(r"\buser=nobody\b", ev), ev

    # root is not limited
    for i in range(3):
        ok(world.sendmail(m, [f"root{i}@example.net"], "Subject: r\n\nx\n", user="root"))
    wait_rcpts(world.sink, ["rl0@example.net", "rl1@example.net"] +
               [f"root{i}@example.net" for i in range(3)])
    assert not world.sink.messages_for("rl2@example.net"), "the refused message was delivered"
    assert len(m.find_all_log(r" event=rate_limited ", since=mark)) == 1, m.log_text(mark)


# ---------------------------------------------------------------- 6. exit codes

def test_sendmail_exit_codes(world):
    m = world.mtad()
    msg = "Subject: x\n\nbody\n"

    r = world.sendmail(m, [], msg)
    assert r.returncode == 64, f"no recipients: {r.returncode} {r.stderr!r}"
    r = world.sendmail(m, ["-t"], "Subject: no to\n\nx\n")
    assert r.returncode == 64, f"-t without To/Cc/Bcc: {r.returncode} {r.stderr!r}"
    r = world.sendmail(m, ["-X", "a@example.net"], msg)
    assert r.returncode == 64, f"unknown option: {r.returncode} {r.stderr!r}"
    assert b"-X" in r.stderr
    r = world.sendmail(m, ["-f"], msg)
    assert r.returncode == 64, f"-f without a value: {r.returncode} {r.stderr!r}"

    # a recipient mtad refuses (not an address): 67, nothing queued
    mark = m.mark()
    r = world.sendmail(m, ["not an address"], msg)
    assert r.returncode == 67, f"refused recipient: {r.returncode} {r.stderr!r}"
    # a message mtad refuses (a NUL byte): 65
    r = world.sendmail(m, ["nul@example.net"], b"Subject: nul\n\na\x00b\n")
    assert r.returncode == 65, f"refused message: {r.returncode} {r.stderr!r}"
    assert b"5.6.0" in r.stderr, r.stderr

    # a caller whose uid has no user name: mtad refuses MAIL with 5.7.1: 77
    r = subprocess.run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups",
                        world.sendmail_bin, "-C", m.conf_path, "a@example.net"],
                       input=msg.encode(), capture_output=True, timeout=T, cwd=str(world.base))
    assert r.returncode == 77, f"uid without a name: {r.returncode} {r.stderr!r}"
    assert b"uid 54321 has no user name" in r.stderr, r.stderr
    # stdin unreadable (a directory): 74
    fd = os.open(str(world.base), os.O_RDONLY)
    try:
        r = subprocess.run(NOBODY + [world.sendmail_bin, "-C", m.conf_path, "a@example.net"],
                           stdin=fd, capture_output=True, timeout=T, cwd=str(world.base))
    finally:
        os.close(fd)
    assert r.returncode == 74, f"stdin read error: {r.returncode} {r.stderr!r}"
    assert not m.find_log(r" event=received ", since=mark), m.log_text(mark)

    # config: missing -C file, unreadable -C file: 75 (EX_TEMPFAIL)
    r = world.sendmail(m, ["-C", str(world.base / "missing.conf"), "a@example.net"], msg,
                       conf=False)
    assert r.returncode == 75, f"missing config: {r.returncode} {r.stderr!r}"
    secret = world.base / "secret.conf"
    shutil.copy(m.conf_path, secret)
    os.chmod(secret, 0o600)
    r = world.sendmail(m, ["-C", str(secret), "a@example.net"], msg, conf=False)
    assert r.returncode == 75, f"unreadable config: {r.returncode} {r.stderr!r}"
    # $MTAD_CONF is used without -C, and -C wins over it
    env = dict(os.environ, MTAD_CONF=str(world.base / "missing.conf"))
    r = world.sendmail(m, ["a@example.net"], msg, conf=False, env=env)
    assert r.returncode == 75, f"$MTAD_CONF missing: {r.returncode} {r.stderr!r}"
    ok(world.sendmail(m, ["envconf@example.net"], msg, env=env))          # with -C
    if not os.path.exists("/etc/mtad/mtad.conf"):
        # neither -C nor $MTAD_CONF: the default path is read
        env0 = {k: v for k, v in os.environ.items() if k != "MTAD_CONF"}
        r = world.sendmail(m, ["a@example.net"], msg, conf=False, env=env0)
        assert r.returncode == 75 and b"/etc/mtad/mtad.conf" in r.stderr, \
            f"default config: {r.returncode} {r.stderr!r}"
    env = dict(os.environ, MTAD_CONF=m.conf_path)
    ok(world.sendmail(m, ["envconf2@example.net"], msg, conf=False, env=env))
    wait_rcpts(world.sink, ["envconf@example.net", "envconf2@example.net"])

    # mtad not running: 75
    m.stop()
    r = world.sendmail(m, ["a@example.net"], msg)
    assert r.returncode == 75, f"mtad stopped: {r.returncode} {r.stderr!r}"
    assert b"not running" in r.stderr, r.stderr
    never = world.mtad(name="never", start=False)
    never.port = free_port()
    never.write_config()
    os.chmod(never.conf_path, 0o644)
    r = world.sendmail(never, ["a@example.net"], msg)
    assert r.returncode == 75, f"mtad never started: {r.returncode} {r.stderr!r}"


# ---------------------------------------------------------------- 7. -bs

class Pipe:
    """Lines from a process's stdout, read against a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def line(self, timeout=T):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no reply line within {timeout}s; have {self.buf!r}"
            rl, _, _ = select.select([fd], [], [], left)
            if rl:
                chunk = os.read(fd, 65536)
                assert chunk, f"sendmail -bs closed stdout; have {self.buf!r}"
                self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()
        return self.reply()


def test_sendmail_bs_dialogue_as_nobody(world):
    m = world.mtad()
    p = subprocess.Popen(NOBODY + [world.sendmail_bin, "-C", m.conf_path, "-bs"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=str(world.base))
    try:
        io = Pipe(p)
        greet = io.reply()
        assert greet[-1].startswith(f"220 {HOSTNAME} "), greet
        r = io.cmd("EHLO local.example\n")
        assert r[0] == f"250-{HOSTNAME}" and r[-1].startswith("250 "), r
        assert io.cmd("MAIL FROM:<fake@else.example>\n") == ["250 2.1.0 Ok"]
        assert io.cmd("RCPT TO:<bs@example.net>\n") == ["250 2.1.5 Ok"]
        assert io.cmd("DATA\n") == ["354 End data with <CR><LF>.<CR><LF>"]
        r = io.cmd("Subject: -bs\n\nline one\n..dotted\n.\n")
        mq = re.match(rf"^250 2\.0\.0 Ok: queued as ({QID_RE})$", r[-1])
        assert mq, f"message over -bs not queued: {r}"
        assert io.cmd("QUIT\n") == ["221 2.0.0 Bye"]
        p.stdin.close()
        rc = p.wait(T)
        assert rc == 0, f"sendmail -bs exit {rc}: {p.stderr.read()!r}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        for f in (p.stdout, p.stderr):
            f.close()

    x = one_message(world.sink, "bs@example.net")
    assert local_qid(x.data, NOBODY_UID) == mq.group(1), x.data.decode()
    assert x.sender == NOBODY_SENDER, x.sender
    assert body_of(x.data) == b"line one\r\n.dotted\r\n", x.data.decode()
    assert m.find_log(rf" {mq.group(1)} event=received .*\buser=nobody\b"), m.log_text()


# ---------------------------------------------------------------- 8. raw SMTP on the socket

RAW_SMTP = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
buf = b""
def reply():
    global buf
    lines = []
    while True:
        while b"\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                lines.append("<closed>")
                return lines
            buf += c
        line, buf = buf.split(b"\r\n", 1)
        lines.append(line.decode())
        if line[3:4] != b"-":
            return lines
def cmd(data):
    s.sendall(data)
    return reply()
out = {"greeting": reply()}
out["ehlo"] = cmd(b"EHLO raw.example\r\n")
out["mail1"] = cmd(b"MAIL FROM:<forged@else.example>\r\n")
out["rcpt1"] = cmd(b"RCPT TO:<bare@example.net>\r\n")
out["data1"] = cmd(b"DATA\r\n")
out["end1"] = cmd(b"Subject: bare LF\r\n\r\nline with a bare LF\nnext\r\n.\r\n")
out["mail2"] = cmd(b"MAIL FROM:<forged@else.example>\r\n")
out["rcpt2"] = cmd(b"RCPT TO:<good@example.net>\r\n")
out["data2"] = cmd(b"DATA\r\n")
out["end2"] = cmd(b"Subject: good\r\n\r\nfine\r\n.\r\n")
out["quit"] = cmd(b"QUIT\r\n")
print(json.dumps(out))
"""


def test_sendmail_raw_smtp_on_submit_socket_strict_framing(world):
    m = world.mtad()
    sock = os.path.join(m.state_dir, "submit.sock")
    out = world.as_nobody_py(RAW_SMTP, sock)
    assert out["greeting"][-1].startswith(f"220 {HOSTNAME} "), out
    assert out["mail1"] == ["250 2.1.0 Ok"] and out["rcpt1"] == ["250 2.1.5 Ok"], out
    assert out["data1"] == ["354 End data with <CR><LF>.<CR><LF>"], out
    assert re.match(r"^(554|500) ", out["end1"][-1]), \
        f"a bare LF in DATA on the local socket must be refused: {out['end1']}"
    assert "bare <LF>" in out["end1"][-1], out["end1"]
    assert out["mail2"] == ["250 2.1.0 Ok"], out
    q = re.match(rf"^250 2\.0\.0 Ok: queued as ({QID_RE})$", out["end2"][-1])
    assert q, out
    assert out["quit"] == ["221 2.0.0 Bye"], out

    x = one_message(world.sink, "good@example.net")
    assert x.sender == NOBODY_SENDER, x.sender
    assert local_qid(x.data, NOBODY_UID) == q.group(1), x.data.decode()
    rej = m.wait_for_log(r" event=reject .*\bcmd=DATA\b.*$").group(0)
    assert "bare <LF>" in rej and "client=local:65534" in rej, rej
    assert len(m.find_all_log(r" event=received ")) == 1, m.log_text()
    assert not world.sink.messages_for("bare@example.net")


# ---------------------------------------------------------------- 9. permissions

PERMS = r"""
import json, os, socket, sys
state = sys.argv[1]
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = type(e).__name__
attempt("open_db", lambda: open(os.path.join(state, "mtad.db"), "rb").read(1))
attempt("open_pid", lambda: open(os.path.join(state, "mtad.pid"), "rb").read(1))
attempt("listdir", lambda: os.listdir(state))
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(state, "submit.sock"))
    out["greeting"] = s.recv(4096).decode()
    s.close()
attempt("connect", conn)
print(json.dumps(out))
"""


def test_sendmail_socket_and_state_permissions(world):
    m = world.mtad()
    st = os.stat(m.state_dir)
    assert stat.S_IMODE(st.st_mode) == 0o711, oct(st.st_mode)
    sk = os.stat(os.path.join(m.state_dir, "submit.sock"))
    assert stat.S_ISSOCK(sk.st_mode), oct(sk.st_mode)
    assert stat.S_IMODE(sk.st_mode) == 0o666, oct(sk.st_mode)
    for name in os.listdir(m.state_dir):
        if name.startswith("mtad.db"):
            mode = stat.S_IMODE(os.stat(os.path.join(m.state_dir, name)).st_mode)
            assert mode & 0o077 == 0, f"{name} is mode {oct(mode)}: others may read it"

    out = world.as_nobody_py(PERMS, m.state_dir)
    assert out["open_db"] == "PermissionError", f"nobody opened mtad.db: {out}"
    assert out["open_pid"] == "PermissionError", out
    assert out["listdir"] == "PermissionError", f"nobody listed state_dir: {out}"
    assert out["connect"] == "ok" and out["greeting"].startswith(f"220 {HOSTNAME} "), out

    # the control socket does not take orders from nobody
    r = subprocess.run(NOBODY + [MTACTL_BIN, "-f", m.conf_path, "reload"],
                       capture_output=True, timeout=T, cwd=str(world.base))
    assert r.returncode != 0, f"nobody could reload mtad: {r.stdout!r}"
    assert b"permission denied" in r.stderr, r.stderr
    assert not m.find_log(r" event=reloaded "), m.log_text()
