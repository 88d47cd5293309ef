"""End-to-end tests of the control socket (state_dir/control.sock) and of
`mtactl`, its command line: a real mtad with real queued mail, deferred
by a real SMTP sink (sinks.py) that answers 4xx, then listed, shown,
retried, held, released and purged through `mtactl`; bounces and stats
from a real 550; the monitor stream; who may connect (SO_PEERCRED: a run
as `nobody` through setpriv); malformed requests on the raw socket; exit
codes (0 ok, 1 error, 2 usage, 3 mtad not reachable); help and the bash
completion.

Every mtad routes every domain (`route *`) to its test's sink on a free
port on 127.0.0.1, with `retry 1h` so that deferred mail stays deferred
until the test says otherwise.  Waits poll the queue (read-only), the
log, the sink or mtactl against monotonic deadlines; a "nothing arrived"
check always follows a positive control that did arrive.

Run: make integration PYTEST_ARGS="-k test_mtactl"
  or MTAD_BIN=/work/main/build/mtad MTACTL_BIN=/work/main/build/mtactl \\
     /usr/bin/python3 -m pytest -q tests/integration/test_mtactl.py
"""
import calendar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mtadtest import MTACTL_BIN, QID_RE, Client, Mtad, free_port, wait_until
from sinks import Sink

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
LIMITS_H = os.path.join(ROOT, "mtad", "limits.h")
COMPLETION = os.path.join(ROOT, "contrib", "mtactl.bash")
SETPRIV = "/usr/bin/setpriv"
NOBODY = 65534
T = 10.0                                # default bound of a wait
DEFER = "451 4.3.0 try later"
STATES = {"queued", "deferred", "held", "sending"}
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ROW_KEYS = {"id", "rcpt_id", "sender", "recipient", "domain", "state", "attempts",
            "next_attempt", "received_at", "last_code", "last_reply", "last_mx", "size"}
# every command of mtactl's table (mtactl_cmds[] in mtad/mtactl.c)
COMMANDS = ["status", "queue", "show", "retry", "hold", "release", "purge", "bounces",
            "stats", "user add", "user passwd", "user remove", "user list", "domain add",
            "domain subdomains", "domain list", "domain dns", "domain check", "domain key",
            "domain activate",
            "domain remove", "reload", "monitor", "send", "help", "completion"]

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

_asan = os.environ.get("ASAN_OPTIONS", "")
ASAN_ENV = dict(os.environ, ASAN_OPTIONS=(_asan + ":" if _asan else "") +
                "detect_stack_use_after_return=1")


def limit(name):
    """A LIM_* number as mtad was built with it (plain or (a * b) form)."""
    with open(LIMITS_H) as f:
        m = re.search(rf"^#define {name} \(?(\d+)(?: \* (\d+))?\)?", f.read(), re.M)
    assert m, f"{name} not in {LIMITS_H}"
    return int(m.group(1)) * int(m.group(2) or 1)


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def sink():
    """A started Sink on a free port of 127.0.0.1 (stopped at teardown)."""
    s = None
    for attempt in range(3):            # a free port may be taken before we bind it
        s = Sink("127.0.0.1", free_port())
        try:
            s.start()
            break
        except Exception:
            s.stop()
            if attempt == 2:
                raise
    yield s
    s.stop()


def relay_extra(sink, extra=""):
    return f"route * 127.0.0.1:{sink.port} tls=none\nretry 1h\n" + extra


@pytest.fixture
def relay(make_mtad, sink):
    """Factory: relay(extra="", **kw) -> a started mtad that sends every
    domain to `sink` and retries deferred mail only after an hour."""
    made = []

    def make(extra="", **kw):
        m = make_mtad(extra=relay_extra(sink, extra), start=False, **kw)
        m.env = ASAN_ENV
        m.start()
        made.append(m)
        return m
    yield make
    for m in made:      # a crash after the test's last wait is a failure too
        if m.proc is not None and m.proc.returncode is None:
            assert m.running(), f"mtad exited {m.proc.returncode}:\n" + m.log_text()


@pytest.fixture
def open_base():
    """A base directory every user may traverse (pytest's are 0700), for a
    mtad whose config `nobody` must read; removed afterwards."""
    d = tempfile.mkdtemp(prefix="mtactl-test-")
    os.chmod(d, 0o711)
    made = []
    yield Path(d), made
    for m in made:
        m.cleanup()
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- helpers

_counter = [0]


def submit(m, sender="sender@example.org", rcpts=("rcpt@example.net",)):
    """One message into mtad over SMTP: its queue ID."""
    _counter[0] += 1
    n = _counter[0]
    body = (f"From: <{sender}>\r\nSubject: mtactl test {n}\r\n"
            f"Message-ID: <c{n}.{os.getpid()}@client.example>\r\n\r\nhello {n}\r\n")
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        return c.send_message(body=body.encode(), sender=sender, rcpts=tuple(rcpts))


def rcpt_states(m):
    """{recipient address: (state, attempts)} of the whole queue."""
    return {a: (s, n) for a, s, n in m.db_rows("SELECT address, state, attempts FROM recipients")}


def wait_deferred(m, rcpts, timeout=T):
    """Every address in rcpts is deferred after at least one attempt."""
    rcpts = list(rcpts)
    last = {}

    def ok():
        last.clear()
        last.update(rcpt_states(m))
        return all(a in last and last[a][0] == "deferred" and last[a][1] >= 1 for a in rcpts)
    try:
        wait_until(ok, timeout, f"{rcpts} deferred", interval=0.02)
    except AssertionError as e:
        raise AssertionError(f"{e}; queue: {last}\n" + m.log_text()) from None


def wait_queue_empty(m, timeout=T):
    wait_until(lambda: m.db_rows("SELECT (SELECT count(*) FROM messages) + "
                                 "(SELECT count(*) FROM recipients)")[0][0] == 0,
               timeout, "an empty queue", interval=0.02)


def ctl(m, *args, input="", rc=0):
    """mtactl -f <m's config> ARGS; asserts the exit code (None: any)."""
    r = m.mtactl(*args, input=input)
    if rc is not None:
        assert r.returncode == rc, \
            f"mtactl {' '.join(args)}: exit {r.returncode}, want {rc}\n" \
            f"stdout: {r.stdout!r}\nstderr: {r.stderr!r}"
    return r


def ctl_json(m, *args, input=""):
    """mtactl --json ARGS, exit 0, stdout parsed."""
    r = ctl(m, "--json", *args, input=input)
    assert r.stderr == "", r.stderr
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError(f"mtactl --json {' '.join(args)}: not JSON ({e}): "
                             f"{r.stdout!r}") from None


def rcpt_addrs(rows):
    return sorted(r["recipient"] for r in rows)


def sink_rcpt_count(sink, addr):
    """RCPT commands the sink saw for addr (every attempt makes one)."""
    with sink._cond:
        return sum(1 for c in sink.rcpts if c.address.lower() == addr.lower())


QUEUE_COLS = ["ID", "AGE", "STATE", "TRY", "NEXT", "SENDER", "RECIPIENT"]


def queue_table(out):
    """The rows of `mtactl queue`'s table as dicts, and the problems of its
    layout: every line at most 80 columns without trailing blanks, each
    row 7 fields, each field under its heading (TRY right-aligned)."""
    lines = out.splitlines()
    problems, rows = [], []
    assert lines and lines[0].split() == QUEUE_COLS, out
    hdr = lines[0]
    starts = [hdr.index(c) for c in QUEUE_COLS]
    for line in lines:
        if len(line) > 80:
            problems.append(f"line over 80 columns ({len(line)}): {line!r}")
        if line != line.rstrip():
            problems.append(f"trailing blanks: {line!r}")
    for line in lines[1:-1]:
        fields = [(x.start(), x.group()) for x in re.finditer(r"\S+", line)]
        if len(fields) != len(QUEUE_COLS):
            problems.append(f"not {len(QUEUE_COLS)} columns apart: {line!r}")
            continue
        for (at, text), col, start in zip(fields, QUEUE_COLS, starts):
            ok = at + len(text) == start + len(col) if col == "TRY" else at == start
            if not ok:
                problems.append(f"{col} {text!r} not under its heading: {line!r}")
        rows.append({c: t for c, (_, t) in zip(QUEUE_COLS, fields)})
    return rows, problems


def backdate(m, qid, seconds):
    """Make a queued message look older (received_at - seconds): the test's
    time machine, written into the queue while mtad is idle."""
    con = sqlite3.connect(m.db_path, timeout=10)
    try:
        with con:
            n = con.execute("UPDATE messages SET received_at = received_at - ? "
                            "WHERE queue_id = ?", (seconds, qid)).rowcount
    finally:
        con.close()
    assert n == 1, (qid, n)


class Raw:
    """A raw client of control.sock: bytes out, JSON lines in."""

    def __init__(self, m, timeout=T):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(m.state_dir, "control.sock"))
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        """The next line (bytes, without LF); None at EOF/reset."""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no reply line within {self.timeout}s; have {self.buf!r}"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        line = self.line()
        assert line is not None, f"connection closed with no reply; have {self.buf!r}"
        return json.loads(line)

    def call(self, req):
        """One request (dict or raw bytes without LF): the parsed reply."""
        data = req if isinstance(req, bytes) else json.dumps(req).encode()
        self.send(data + b"\n")
        return self.reply()

    def closed(self):
        """True once the daemon has closed the connection (bounded wait)."""
        return self.line() is None and self.buf == b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_error(reply, code, text=None, what=""):
    assert reply.get("v") == 1 and reply.get("ok") is False, (what, reply)
    assert reply.get("code") == code, (what, reply)
    assert isinstance(reply.get("error"), str) and reply["error"], (what, reply)
    if text is not None:
        assert text in reply["error"], (what, reply)


def status_ok(m):
    """A fresh connection gets a good status reply."""
    with Raw(m) as c:
        r = c.call({"v": 1, "cmd": "status"})
    assert r["ok"] is True and r["v"] == 1 and r["result"]["pid"] == m.pid, r
    return r["result"]


# ---------------------------------------------------------------- 1: queue, show, status

def test_queue_lists_deferred_mail(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    long_sender = "a.really.long.sender.address@example.org"
    q1 = submit(m, "alice@example.org", ["a1@one.example", "a2@two.example"])
    long_rcpt = "b1.with.a.very.long.local.part@three.example"
    q2 = submit(m, "bob@example.com", [long_rcpt])
    q3 = submit(m, long_sender, ["z@xn--bcher-kva.example"])
    all_rcpts = ["a1@one.example", "a2@two.example", long_rcpt, "z@xn--bcher-kva.example"]
    wait_deferred(m, all_rcpts)
    now = time.time()

    # --json: one object per recipient, in rcpt id order
    rows = ctl_json(m, "queue")
    assert isinstance(rows, list) and len(rows) == 4, rows
    assert [(r["id"], r["recipient"]) for r in rows] == [
        (q1, "a1@one.example"), (q1, "a2@two.example"), (q2, long_rcpt),
        (q3, "z@xn--bcher-kva.example")], rows
    for r in rows:
        assert set(r) >= ROW_KEYS, r
        assert re.fullmatch(QID_RE, r["id"]), r
        assert r["state"] in STATES and r["state"] == "deferred", r
        assert type(r["attempts"]) is int and r["attempts"] == 1, r
        assert r["last_code"] == 451 and r["last_reply"] == DEFER, r
        assert ISO_RE.match(r["next_attempt"]) and ISO_RE.match(r["received_at"]), r
        nxt = calendar.timegm(time.strptime(r["next_attempt"], "%Y-%m-%dT%H:%M:%SZ"))
        # retry 1h, +-10% jitter
        assert now + 3000 <= nxt <= now + 4100, (r, now)
        assert r["last_mx"] == f"127.0.0.1[127.0.0.1]:{sink.port}", r
        assert type(r["size"]) is int and r["size"] > 0, r
        assert r["domain"] == r["recipient"].rsplit("@", 1)[1], r
    assert {r["sender"] for r in rows} == {"alice@example.org", "bob@example.com", long_sender}

    # the human table
    out = ctl(m, "queue").stdout
    rows, problems = queue_table(out)
    assert not problems, "\n".join(problems) + "\n" + out
    assert out.splitlines()[-1] == "4 recipients", out
    assert [r["ID"] for r in rows] == [q1, q1, q2, q3], out
    for r in rows:
        assert (r["STATE"], r["TRY"]) == ("deferred", "1"), r
        assert re.fullmatch(r"\d+s", r["AGE"]), r
        assert re.fullmatch(r"(\d+[hms]){1,2}", r["NEXT"]), r
    assert (rows[0]["SENDER"], rows[0]["RECIPIENT"]) == ("alice@example.org",
                                                         "a1@one.example"), rows[0]
    # long addresses cut with an ellipsis; the IDN domain in U-labels
    for got, full in ((rows[2]["RECIPIENT"], long_rcpt), (rows[3]["SENDER"], long_sender)):
        assert got.endswith("\u2026") and len(got) >= 10 and full.startswith(got[:-1]), \
            (got, full)
    assert rows[3]["RECIPIENT"] == "z@b\u00fccher.example", rows[3]

    # filters
    assert rcpt_addrs(ctl_json(m, "queue", "--state", "deferred")) == sorted(all_rcpts)
    for st in ("queued", "held", "sending"):
        assert ctl_json(m, "queue", "--state", st) == [], st
    assert rcpt_addrs(ctl_json(m, "queue", "--domain", "two.example")) == ["a2@two.example"]
    assert rcpt_addrs(ctl_json(m, "queue", "--domain", "TWO.Example")) == ["a2@two.example"]
    assert rcpt_addrs(ctl_json(m, "queue", "--domain", "b\u00fccher.example")) == \
        ["z@xn--bcher-kva.example"]
    assert ctl_json(m, "queue", "--domain", "nowhere.example") == []
    assert rcpt_addrs(ctl_json(m, "queue", "--sender", "bob@example.com")) == [long_rcpt]
    assert rcpt_addrs(ctl_json(m, "queue", "--sender", "alice@example.org")) == \
        ["a1@one.example", "a2@two.example"]
    assert rcpt_addrs(ctl_json(m, "queue", "--sender", "alice@example.org",
                               "--domain", "one.example")) == ["a1@one.example"]
    assert ctl_json(m, "queue", "--sender", "<>") == []
    one = ctl_json(m, "queue", "--limit", "1")
    assert [(r["id"], r["recipient"]) for r in one] == [(q1, "a1@one.example")], one
    out = ctl(m, "queue", "--limit", "1").stdout
    assert out.splitlines()[-1] == "1 recipients (more with --limit)", out
    assert len(ctl_json(m, "queue", "--limit", "4")) == 4
    # bad filter values: usage (2), from mtactl or from the daemon
    for args, why in ((["--state", "bogus"], "state:"), (["--limit", "0"], "--limit"),
                      (["--limit", "x"], "--limit"), (["--domain", "bad domain!"], "domain")):
        r = ctl(m, "queue", *args, rc=2)
        assert why in r.stderr and r.stdout == "", (args, r.stderr)


def test_queue_table_columns_stay_apart_for_old_mail(relay, sink):
    """AGE and NEXT are at most 6 characters ("12m34s", "23h53m", "54m10s"):
    the table must still show them whole and apart from the next column."""
    sink.on_rcpt(DEFER)
    m = relay()
    q1 = submit(m, "alice@example.org", ["a1@one.example"])
    q2 = submit(m, "bob@example.com", ["b1@two.example"])
    wait_deferred(m, ["a1@one.example", "b1@two.example"])
    backdate(m, q1, 12 * 60 + 34)          # AGE "12m34s"
    backdate(m, q2, 23 * 3600 + 53 * 60)   # AGE "23h53m"
    con = sqlite3.connect(m.db_path, timeout=10)
    with con:                              # NEXT "50m10s"-ish: still 50 minutes away
        con.execute("UPDATE recipients SET next_attempt = strftime('%s','now') + 3011")
    con.close()
    out = ctl(m, "queue").stdout
    rows, problems = queue_table(out)
    for r in rows:
        if not re.fullmatch(r"(\d+[dhms]){1,2}", r["AGE"]):
            problems.append(f"AGE not a whole duration: {r}")
        if not re.fullmatch(r"(\d+[dhms]){1,2}|now", r["NEXT"]):
            problems.append(f"NEXT not a whole duration: {r}")
    ages = [r["AGE"] for r in rows]
    assert problems or (len(ages) == 2 and re.fullmatch(r"12m3\ds", ages[0]) and
                        re.fullmatch(r"23h5[34]m", ages[1])), rows
    assert not problems, "`mtactl queue`'s table cannot show 6-character durations " \
        "(AGE, NEXT):\n" + "\n".join(problems) + "\n" + out


def test_show_message(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    qid = submit(m, "alice@example.org", ["a1@one.example", "a2@two.example"])
    wait_deferred(m, ["a1@one.example", "a2@two.example"])

    r = ctl_json(m, "show", qid)
    assert r["id"] == qid and r["queued"] is True, r
    assert r["sender"] == "alice@example.org" and r["client"] == "127.0.0.1", r
    assert r["helo"] == "client.example" and r["user"] is None, r
    assert type(r["size"]) is int and r["size"] > 0 and ISO_RE.match(r["received_at"]), r
    assert [(x["recipient"], x["state"], x["attempts"], x["last_code"], x["last_reply"])
            for x in r["recipients"]] == [
        ("a1@one.example", "deferred", 1, 451, DEFER),
        ("a2@two.example", "deferred", 1, 451, DEFER)], r["recipients"]
    ev = r["events"]
    assert [e["kind"] for e in ev] == ["received", "deferred", "deferred"], ev
    assert ev[0]["recipient"] is None and ev[0]["remote"] == "127.0.0.1", ev
    assert sorted(e["recipient"] for e in ev[1:]) == ["a1@one.example", "a2@two.example"]
    for e in ev:
        assert set(e) >= {"at", "recipient", "kind", "code", "reply", "remote", "tls"}, e
        assert ISO_RE.match(e["at"]), e
    assert all(e["code"] == 451 and e["reply"] == DEFER for e in ev[1:]), ev
    hdr = r["headers"]
    assert hdr.startswith("Received: from client.example ([127.0.0.1])\r\n"), hdr
    assert re.search(rf"\r\n\tby mx\.test\.example \(mtad\) with ESMTP id {qid}\b", hdr), hdr
    assert "Subject: mtactl test" in hdr and hdr.endswith("\r\n"), hdr
    assert "\r\n\r\n" not in hdr and "hello" not in hdr, "the body is not a header: " + hdr

    out = ctl(m, "show", qid).stdout
    assert out.startswith(f"queue ID:  {qid}\nsender:    <alice@example.org>\n"), out
    assert "client:    127.0.0.1 (helo client.example)\n" in out, out
    assert "  a1@one.example  deferred, 1 attempts, next " in out, out
    assert "  a2@two.example  deferred, 1 attempts, next " in out, out
    assert out.count(f"    last: {DEFER}\n") == 2, out
    assert re.search(r"^  \S+Z received ", out, re.M), out
    assert len(re.findall(rf"^  \S+Z deferred  a\d@\w+\.example {DEFER}$", out, re.M)) == 2, out
    assert re.search(rf"^\tby mx\.test\.example \(mtad\) with ESMTP id {qid}\b", out, re.M), out

    # the null sender: "" in JSON, <> for people, --sender '<>' selects it
    qn = submit(m, "", ["n@null.example"])
    wait_deferred(m, ["n@null.example"])
    rows = ctl_json(m, "queue", "--sender", "<>")
    assert [(r["id"], r["sender"]) for r in rows] == [(qn, "")], rows
    assert ctl_json(m, "show", qn)["sender"] == ""
    trows, problems = queue_table(ctl(m, "queue", "--sender", "<>").stdout)
    assert not problems and [(r["ID"], r["SENDER"]) for r in trows] == [(qn, "<>")], trows
    assert "\nsender:    <>\n" in ctl(m, "show", qn).stdout
    assert [r["id"] for r in ctl_json(m, "queue", "--sender", "alice@example.org")] == [qid] * 2

    # no such message: 1; not an ID: 2 (the daemon's usage)
    r = ctl(m, "show", "zzzzzzzzzzzz", rc=1)
    assert "no such message" in r.stderr and r.stdout == "", r.stderr
    r = ctl(m, "--json", "show", "zzzzzzzzzzzz", rc=1)
    assert "no such message" in r.stderr and r.stdout == "", r.stderr
    r = ctl(m, "show", "Not-An-ID", rc=2)
    assert "id:" in r.stderr, r.stderr


def test_status(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    submit(m, "alice@example.org", ["a1@one.example", "a2@two.example"])
    wait_deferred(m, ["a1@one.example", "a2@two.example"])
    version = m.wait_for_log(r" mtad event=ready version=(\S+) ").group(1)

    s = ctl_json(m, "status")
    assert s["version"] == version, s
    assert type(s["uptime"]) is int and 0 <= s["uptime"] < 60, s
    assert s["pid"] == m.pid and s["hostname"] == "mx.test.example", s
    assert s["queue"] == {"queued": 0, "deferred": 2, "held": 0, "sending": 0}, s
    assert s["listeners"] == [{"address": f"127.0.0.1:{m.port}", "kind": "smtp"}], s
    assert s["delivery"] is True and type(s["workers"]) is int and s["workers"] > 0, s
    assert type(s["in_flight"]) is int and type(s["connections"]) is int, s

    out = ctl(m, "status").stdout
    lines = out.splitlines()
    assert re.fullmatch(rf"mtad {re.escape(version)} on mx\.test\.example, up \d+s "
                        rf"\(pid {m.pid}\), delivery on", lines[0]), out
    assert f"listening: 127.0.0.1:{m.port} smtp" in lines, out
    assert "queue: 0 queued, 2 deferred, 0 held, 0 sending" in lines, out
    j = json.loads(ctl(m, "-j", "status").stdout)        # -j is --json
    assert (j["pid"], j["queue"], j["listeners"]) == (m.pid, s["queue"], s["listeners"]), j
    # without -f: $MTAD_CONF
    r = subprocess.run([MTACTL_BIN, "--json", "status"], capture_output=True, text=True,
                       timeout=T, env=dict(os.environ, MTAD_CONF=m.conf_path))
    assert r.returncode == 0 and json.loads(r.stdout)["pid"] == m.pid, r


# ---------------------------------------------------------------- 2: retry

def test_retry_id_domain_all(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    q1 = submit(m, "s1@example.org", ["r1@one.example"])
    q2 = submit(m, "s2@example.org", ["r2@two.example"])
    q3 = submit(m, "s3@example.org", ["r3@three.example"])
    q4 = submit(m, "s4@example.org", ["r4@four.example"])
    wait_deferred(m, ["r1@one.example", "r2@two.example", "r3@three.example",
                      "r4@four.example"])
    sink.clear_rules()
    mark = m.mark()

    # by ID: that one now, the others keep their hour
    out = ctl(m, "retry", q1).stdout
    assert out == "1 recipients to be tried now\n", out
    sink.wait_messages(1, T, rcpt="r1@one.example")
    m.wait_for_log(rf"^\S+ {q1} event=retry msg=\"1 recipients, by uid 0 \(root\)\"$", since=mark)
    m.wait_for_log(rf"^\S+ {q1} event=delivery rcpt=r1@one\.example .* status=sent ", since=mark)
    assert [x.rcpts for x in sink.snapshot()] == [["r1@one.example"]], sink.snapshot()
    assert rcpt_states(m)["r2@two.example"] == ("deferred", 1)

    # by domain (--json: the count)
    assert ctl_json(m, "retry", "--domain", "two.example") == {"count": 1}
    sink.wait_messages(1, T, rcpt="r2@two.example")
    m.wait_for_log(rf"^\S+ {q2} event=delivery rcpt=r2@two\.example .* status=sent ", since=mark)
    assert len(sink.snapshot()) == 2 and sink.messages_for("r3@three.example") == []

    # a retry of what is not there changes nothing
    assert ctl(m, "retry", "--domain", "nowhere.example").stdout == \
        "0 recipients to be tried now\n"

    # all
    out = ctl(m, "retry", "--all").stdout
    assert out == "2 recipients to be tried now\n", out
    sink.wait_messages(1, T, rcpt="r3@three.example")
    sink.wait_messages(1, T, rcpt="r4@four.example")
    m.wait_for_log(r"^\S+ mtad event=retry msg=\"2 recipients, by uid 0 \(root\)\"$", since=mark)
    wait_queue_empty(m)
    assert ctl_json(m, "queue") == []
    assert sorted(r for x in sink.snapshot() for r in x.rcpts) == \
        ["r1@one.example", "r2@two.example", "r3@three.example", "r4@four.example"]
    for qid in (q1, q2, q3, q4):
        ev = ctl_json(m, "show", qid)
        assert ev["queued"] is False and [e["kind"] for e in ev["events"]] == \
            ["received", "deferred", "delivered"], ev


# ---------------------------------------------------------------- 3: hold, release

def test_hold_and_release(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    qh = submit(m, "s@example.org", ["held@hold.example"])
    qc = submit(m, "s@example.org", ["control@ctl.example"])
    qd1 = submit(m, "s@example.org", ["x@dom.example"])
    qd2 = submit(m, "t@example.org", ["y@dom.example", "z@other.example"])
    wait_deferred(m, ["held@hold.example", "control@ctl.example", "x@dom.example",
                      "y@dom.example", "z@other.example"])
    mark = m.mark()

    assert ctl(m, "hold", qh).stdout == "1 recipients held\n"
    assert ctl_json(m, "hold", "--domain", "dom.example") == {"count": 2}
    assert ctl_json(m, "hold", qh) == {"count": 0}, "held twice"
    m.wait_for_log(rf"^\S+ {qh} event=hold msg=\"1 recipients, by uid 0 \(root\)\"$", since=mark)
    held = ctl_json(m, "queue", "--state", "held")
    assert rcpt_addrs(held) == ["held@hold.example", "x@dom.example", "y@dom.example"], held
    assert all(r["state"] == "held" for r in held), held
    assert ctl_json(m, "status")["queue"] == {"queued": 0, "deferred": 2, "held": 3,
                                              "sending": 0}
    out = ctl(m, "queue", "--state", "held").stdout
    assert len([ln for ln in out.splitlines() if " held " in ln]) == 3, out
    # a held recipient has no next attempt: NEXT shows "-"
    assert all(re.search(r" held +\d+ -  ", ln) for ln in out.splitlines()
               if " held " in ln), out
    assert "  held@hold.example  held, 1 attempts" in ctl(m, "show", qh).stdout

    # retry --all: not the held ones (positive control: the others arrive)
    sink.clear_rules()
    assert ctl_json(m, "retry", "--all") == {"count": 2}
    sink.wait_messages(1, T, rcpt="control@ctl.example")
    sink.wait_messages(1, T, rcpt="z@other.example")
    m.wait_for_log(rf"^\S+ {qc} event=delivery .* status=sent ", since=mark)
    m.wait_for_log(rf"^\S+ {qd2} event=delivery rcpt=z@other\.example .* status=sent ",
                   since=mark)
    for a in ("held@hold.example", "x@dom.example", "y@dom.example"):
        assert sink_rcpt_count(sink, a) == 1, f"{a} was tried while held"
        assert sink.messages_for(a) == [], a
        assert rcpt_states(m)[a] == ("held", 1), rcpt_states(m)
    assert not m.find_log(rf"^\S+ ({qh}|{qd1}) event=delivery ", since=mark)

    # release: back in the queue, tried at once
    assert ctl(m, "release", qh).stdout == "1 recipients released\n"
    sink.wait_messages(1, T, rcpt="held@hold.example")
    m.wait_for_log(rf"^\S+ {qh} event=release msg=\"1 recipients, by uid 0 \(root\)\"$",
                   since=mark)
    assert sink.messages_for("x@dom.example") == []
    assert ctl_json(m, "release", "--domain", "dom.example") == {"count": 2}
    sink.wait_messages(1, T, rcpt="x@dom.example")
    sink.wait_messages(1, T, rcpt="y@dom.example")
    wait_queue_empty(m)
    assert ctl_json(m, "release", qh) == {"count": 0}
    # each delivered once
    assert sorted(r for x in sink.snapshot() for r in x.rcpts) == sorted(
        ["held@hold.example", "control@ctl.example", "x@dom.example", "y@dom.example",
         "z@other.example"])


# ---------------------------------------------------------------- 4: purge

def test_purge_id_sends_no_dsn(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    qp = submit(m, "psender@purge.example", ["p1@purge.example", "p2@purge2.example"])
    qc = submit(m, "csender@ctl.example", ["control@ctl.example"])
    wait_deferred(m, ["p1@purge.example", "p2@purge2.example", "control@ctl.example"])
    mark = m.mark()

    r = ctl(m, "purge", qp)
    assert r.stdout == "2 recipients purged (no DSN sent)\n", r.stdout
    m.wait_for_log(rf"^\S+ {qp} event=purge msg=\"2 recipients, by uid 0 \(root\)\"$",
                   since=mark)
    assert [x["id"] for x in ctl_json(m, "queue")] == [qc]
    assert qp not in ctl(m, "queue").stdout
    assert m.db_rows("SELECT count(*) FROM messages WHERE queue_id = ?", (qp,)) == [(0,)]
    shown = ctl_json(m, "show", qp)
    assert shown["queued"] is False and shown["recipients"] == [], shown
    assert shown["events"][-1]["kind"] == "purged", shown
    assert "purged by uid 0 (root)" in shown["events"][-1]["reply"], shown
    assert "(no longer queued: history only)" in ctl(m, "show", qp).stdout
    assert ctl_json(m, "purge", qp) == {"count": 0}

    # retry --all: the control arrives, the purged mail never does, no DSN
    sink.clear_rules()
    assert ctl_json(m, "retry", "--all") == {"count": 1}
    sink.wait_messages(1, T, rcpt="control@ctl.example")
    m.wait_for_log(rf"^\S+ {qc} event=delivery .* status=sent ", since=mark)
    wait_queue_empty(m)
    assert sink_rcpt_count(sink, "p1@purge.example") == 1, "tried after the purge"
    assert sink_rcpt_count(sink, "p2@purge2.example") == 1, "tried after the purge"
    assert sink.messages_for("psender@purge.example") == [], "a DSN for purged mail"
    assert [x.rcpts for x in sink.snapshot()] == [["control@ctl.example"]], sink.snapshot()
    assert m.db_rows("SELECT count(*) FROM bounces") == [(0,)]
    assert not m.find_log(r"event=dsn", since=0), m.log_text()


def test_purge_partly_delivered_message(relay, sink):
    """Purging the last waiting recipient of a message whose other
    recipients were delivered removes the message, as a delivery would."""
    sink.on_rcpt(DEFER, rcpts=["late@slow.example"])
    m = relay()
    q = submit(m, "s@example.org", ["ok@fast.example", "late@slow.example"])
    sink.wait_messages(1, T, rcpt="ok@fast.example")
    wait_deferred(m, ["late@slow.example"])
    assert ctl_json(m, "show", q)["queued"] is True
    assert ctl_json(m, "purge", q) == {"count": 1}
    assert m.db_rows("SELECT count(*) FROM messages WHERE queue_id = ?", (q,)) == [(0,)]
    assert m.db_rows("SELECT count(*) FROM recipients") == [(0,)]
    shown = ctl_json(m, "show", q)
    assert shown["queued"] is False and shown["recipients"] == [], shown
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "received" and "delivered" in kinds and kinds[-1] == "purged", kinds
    assert ctl_json(m, "queue") == []


def test_purge_selectors(relay, sink):
    sink.on_rcpt(DEFER)
    m = relay()
    q_old = submit(m, "a@example.org", ["old@age.example"])
    q_new = submit(m, "a@example.org", ["new@age.example"])
    q_held = submit(m, "a@example.org", ["h@held.example"])
    q_dom = submit(m, "b@example.org", ["d1@gone.example", "keep@stay.example"])
    wait_deferred(m, ["old@age.example", "new@age.example", "h@held.example",
                      "d1@gone.example", "keep@stay.example"])
    backdate(m, q_old, 2 * 3600)
    mark = m.mark()

    # no selector: usage, from mtactl and from the daemon; nothing purged
    r = ctl(m, "purge", rc=2)
    assert "say which" in r.stderr and r.stdout == "", r.stderr
    with Raw(m) as c:
        assert_error(c.call({"v": 1, "cmd": "queue.purge"}), "usage", "say which")
        assert_error(c.call({"v": 1, "cmd": "queue.purge", "all": False}), "usage",
                     "say which")
    r = ctl(m, "purge", "--older-than", "soon", rc=2)
    assert "duration" in r.stderr, r.stderr
    ctl(m, "purge", "--all", rc=2)      # purge has no --all
    assert len(ctl_json(m, "queue")) == 5

    # --state
    assert ctl_json(m, "hold", q_held) == {"count": 1}
    assert ctl_json(m, "purge", "--state", "held") == {"count": 1}
    assert "h@held.example" not in rcpt_addrs(ctl_json(m, "queue"))
    # --older-than: the two-hour-old one only
    assert ctl_json(m, "purge", "--older-than", "3h") == {"count": 0}
    assert ctl(m, "purge", "--older-than", "1h").stdout == "1 recipients purged (no DSN sent)\n"
    left = ctl_json(m, "queue")
    assert rcpt_addrs(left) == ["d1@gone.example", "keep@stay.example", "new@age.example"], left
    assert q_old not in {r["id"] for r in left} and q_new in {r["id"] for r in left}, left
    # --domain: that domain's recipients only
    assert ctl_json(m, "purge", "--domain", "gone.example") == {"count": 1}
    left = ctl_json(m, "queue")
    assert rcpt_addrs(left) == ["keep@stay.example", "new@age.example"], left
    assert m.find_all_log(r" event=purge msg=\"1 recipients, by uid 0 \(root\)\"$",
                          since=mark).__len__() == 3, m.log_text(mark)

    # the message history keeps every purge, whatever selected it
    missing = []
    for qid in (q_held, q_old, q_dom):
        kinds = [e["kind"] for e in ctl_json(m, "show", qid)["events"]]
        if "purged" not in kinds:
            missing.append(f"{qid}: {kinds}")
    assert not missing, ("purge by --state/--older-than/--domain left no 'purged' event "
                         "in the message's history (`show ID`):\n" + "\n".join(missing))

    # nothing purged is sent, nor any DSN; the rest is
    sink.clear_rules()
    assert ctl_json(m, "retry", "--all") == {"count": 2}
    sink.wait_messages(1, T, rcpt="keep@stay.example")
    sink.wait_messages(1, T, rcpt="new@age.example")
    wait_queue_empty(m)
    assert sorted(r for x in sink.snapshot() for r in x.rcpts) == \
        ["keep@stay.example", "new@age.example"], sink.snapshot()
    for a in ("old@age.example", "h@held.example", "d1@gone.example"):
        assert sink_rcpt_count(sink, a) == 1, a
    assert ctl_json(m, "show", q_new)["events"][-1]["kind"] == "delivered"


# ---------------------------------------------------------------- 5: bounces, stats

def test_bounces_and_stats(relay, sink):
    sender = "bsender@example.org"
    sink.on_rcpt("550 5.1.1 no such user", rcpts=["gone@hard.example"])
    sink.on_rcpt(DEFER, rcpts=["later@slow.example"])
    m = relay()
    qid = submit(m, sender, ["gone@hard.example", "ok@fine.example", "later@slow.example"])
    dsn = sink.wait_messages(1, T, rcpt=sender)         # the failure DSN, to the sender
    assert dsn[0].sender in ("", "<>"), dsn
    sink.wait_messages(1, T, rcpt="ok@fine.example")
    wait_deferred(m, ["later@slow.example"])
    m.wait_for_log(r" event=delivery rcpt=bsender@example\.org .* status=sent ")

    b = ctl_json(m, "bounces")
    assert isinstance(b, list) and len(b) == 1, b
    b = b[0]
    assert set(b) >= {"at", "id", "sender", "recipient", "code", "reply", "class"}, b
    assert (b["id"], b["sender"], b["recipient"], b["code"], b["reply"], b["class"]) == \
        (qid, sender, "gone@hard.example", 550, "550 5.1.1 no such user", "hard"), b
    assert b["enhanced"] == "5.1.1" and ISO_RE.match(b["at"]), b
    assert ctl_json(m, "bounces", "--domain", "hard.example") == [b]
    assert ctl_json(m, "bounces", "--domain", "fine.example") == []
    assert ctl_json(m, "bounces", "--since", "1h") == [b]
    assert ctl_json(m, "bounces", "--limit", "1") == [b]
    out = ctl(m, "bounces").stdout.splitlines()
    assert all(len(ln) <= 80 for ln in out), out
    assert out[0].split() == ["WHEN", "(UTC)", "RECIPIENT", "CLASS", "CODE", "REPLY"], out
    assert len(out) == 2 and re.match(r"^\d\d-\d\d \d\d:\d\d +gone@hard\.example +hard +"
                                      r"5\.1\.1 +550 5\.1\.1 no such user$", out[1]), out
    # the message's history has the bounce
    ev = ctl_json(m, "show", qid)["events"]
    assert [(e["recipient"], e["code"], e["reply"]) for e in ev if e["kind"] == "bounced"] == \
        [("gone@hard.example", 550, "550 5.1.1 no such user")], ev
    assert [e["recipient"] for e in ev if e["kind"] == "delivered"] == ["ok@fine.example"], ev
    r = ctl(m, "bounces", "--since", "yesterday", rc=2)
    assert "duration" in r.stderr, r.stderr

    s = ctl_json(m, "stats")
    for k in ("received", "delivered", "deferred", "bounced", "queued"):
        assert type(s[k]) is int, (k, s)
    # the message and its DSN received; ok@ and the DSN delivered; later@
    # deferred and still queued; gone@ bounced
    assert (s["received"], s["delivered"], s["deferred"], s["bounced"], s["queued"]) == \
        (2, 2, 1, 1, 1), s
    d = s["domains"]
    assert d["hard.example"] == {"delivered": 0, "deferred": 0, "bounced": 1, "queued": 0}, d
    assert d["fine.example"] == {"delivered": 1, "deferred": 0, "bounced": 0, "queued": 0}, d
    assert d["slow.example"] == {"delivered": 0, "deferred": 1, "bounced": 0, "queued": 1}, d
    assert d["example.org"]["delivered"] == 1, d
    assert s["since"] is None, s
    s2 = ctl_json(m, "stats", "--since", "1h")
    assert ISO_RE.match(s2["since"]) and {k: s2[k] for k in ("received", "delivered")} == \
        {"received": 2, "delivered": 2}, s2
    out = ctl(m, "stats").stdout.splitlines()
    assert all(len(ln) <= 80 for ln in out[1:]), out
    assert out[0] == "since the start: received 2, delivered 2, deferred 1, bounced 1; " \
        "queued now 1", out
    assert out[1].split() == ["DOMAIN", "DELIVERED", "DEFERRED", "BOUNCED", "QUEUED"], out
    assert re.search(r"^hard\.example +0 +0 +1 +0$", "\n".join(out), re.M), out
    assert re.search(r"^slow\.example +0 +1 +0 +1$", "\n".join(out), re.M), out
    ctl(m, "stats", "--since", "-1", rc=2)


def test_idn_domains_match_in_both_forms(relay, sink):
    """A recipient domain written in Unicode (SMTPUTF8) or in A-labels is
    one domain for queue --domain, bounces --domain and stats."""
    u, a = "b\u00fccher.example", "xn--bcher-kva.example"
    sink.on_rcpt("550 5.1.1 no such user", rcpts=[f"gone@{u}", f"gone@{a}"])
    sink.on_rcpt(DEFER, rcpts=[f"wait@{u}", f"wait@{a}", f"wait2@{u}", f"wait2@{a}"])
    m = relay()
    _counter[0] += 1
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        qid = c.send_message(body=f"Subject: idn {_counter[0]}\r\n\r\nhi\r\n".encode(),
                             sender="s@example.org", mail_params=" SMTPUTF8",
                             rcpts=(f"gone@{u}", f"wait@{u}", f"wait2@{a}"))
    sink.wait_messages(1, T, rcpt="s@example.org")          # the DSN for gone@
    wait_deferred(m, [f"wait@{u}", f"wait2@{a}"])
    for d in (u, a, "B\u00dcCHER.example"):
        rows = ctl_json(m, "queue", "--domain", d)
        assert sorted(r["recipient"] for r in rows) == [f"wait2@{a}", f"wait@{u}"], (d, rows)
        assert {r["domain"] for r in rows} == {a}, rows
        b = ctl_json(m, "bounces", "--domain", d)
        assert [(x["id"], x["recipient"]) for x in b] == [(qid, f"gone@{u}")], (d, b)
    st = ctl_json(m, "stats")
    keys = [k for k in st["domains"] if "bcher" in k]
    assert keys == [a], ("one stats key per domain", st["domains"])
    assert st["domains"][a] == {"delivered": 0, "deferred": 2, "bounced": 1, "queued": 2}, st


# ---------------------------------------------------------------- 6: not running

def test_exit_3_when_mtad_is_not_running(make_mtad, tmp_path):
    m = make_mtad()
    sock = os.path.join(m.state_dir, "control.sock")
    assert ctl_json(m, "status")["pid"] == m.pid
    m.stop()
    assert not os.path.exists(sock), "control.sock left behind by a clean stop"
    for args in (["status"], ["--json", "queue"], ["retry", "--all"], ["monitor"]):
        r = ctl(m, *args, rc=3)
        assert r.stderr == f"mtactl: mtad is not running (no answer on {sock})\n", \
            (args, r.stderr)
        assert r.stdout == "", r.stdout

    # a stale socket (mtad killed): refused, still 3
    m.restart()
    assert os.path.exists(sock)
    m.kill9()
    assert os.path.exists(sock)
    r = ctl(m, "status", rc=3)
    assert "mtad is not running" in r.stderr, r.stderr

    # a config whose state_dir never had a daemon
    other = Mtad(tmp_path, name="never")
    other.port = free_port()
    other.write_config()
    os.makedirs(other.state_dir, exist_ok=True)
    r = ctl(other, "status", rc=3)
    assert "mtad is not running" in r.stderr and other.state_dir in r.stderr, r.stderr
    # no config at all: an error (1), not "not running"
    r = subprocess.run([MTACTL_BIN, "-f", str(tmp_path / "nosuch.conf"), "status"],
                       capture_output=True, text=True, timeout=T)
    assert r.returncode == 1 and r.stderr, (r.returncode, r.stderr)


# ---------------------------------------------------------------- 7: who may connect

def test_other_uid_refused(open_base):
    base, made = open_base
    # the config names a secret only root may read: mtactl (and sendmail)
    # run by anyone else must still get as far as asking the daemon
    secret = base / "relay.secret"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)
    m = Mtad(base, name="mtad", extra=f"route secret.example 127.0.0.1:9 tls=require "
             f"auth=relay:{secret}\ndelivery off\n")
    made.append(m)
    m.start()
    os.chmod(m.dir, 0o755)
    os.chmod(m.conf_path, 0o644)
    st = os.stat(m.state_dir)
    assert st.st_mode & 0o111 == 0o111, oct(st.st_mode)
    mark = m.mark()

    def as_nobody(*argv):
        return subprocess.run([SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}",
                               "--clear-groups", *argv], capture_output=True, text=True,
                              timeout=T)

    r = as_nobody(MTACTL_BIN, "-f", m.conf_path, "status")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("mtactl: permission denied: ") and r.stdout == "", \
        "as nobody, mtactl must get as far as mtad and be refused by it: " + r.stderr
    m.wait_for_log(rf"^\S+ mtad event=control_refused msg=\"uid {NOBODY}: permission denied\b",
                   since=mark)
    r = as_nobody(MTACTL_BIN, "-f", m.conf_path, "retry", "--all")
    assert r.returncode == 1 and "permission denied" in r.stderr, r
    # the raw refusal: one "denied" line, then the connection is closed
    probe = ("import socket,sys\n"
             "s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
             "b=b''\n"
             "while True:\n"
             "    c=s.recv(4096)\n"
             "    if not c: break\n"
             "    b+=c\n"
             "sys.stdout.write(b.decode())\n")
    r = as_nobody(sys.executable, "-c", probe, os.path.join(m.state_dir, "control.sock"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    assert_error(json.loads(lines[0]), "denied", "permission denied")
    assert len(m.find_all_log(r" event=control_refused ", since=mark)) == 3, m.log_text(mark)
    # root is still served
    assert ctl_json(m, "status")["pid"] == m.pid
    assert status_ok(m)["pid"] == m.pid
    m.stop()


# ---------------------------------------------------------------- 8: malformed requests

BAD_REQUESTS = [
    (b"this is not json", "usage", "malformed request"),
    (b"[1, 2, 3]", "usage", "malformed request: not an object"),
    (b'"status"', "usage", "malformed request"),
    (b"", "usage", "malformed request"),
    (b'{"v":1,"cmd":"st\xffatus"}', "usage", "malformed request"),
    (b'{"v":1,"cmd":"status","cmd":"status"}', "usage", "malformed request"),
    (b'{"v":1}', "usage", 'no "cmd"'),
    (b'{"v":1,"cmd":7}', "usage", 'no "cmd"'),
    (b'{"v":1,"cmd":"nosuch.command"}', "unknown", 'unknown command "nosuch.command"'),
    (b'{"v":2,"cmd":"status"}', "usage", "protocol version 1 only"),
    (b'{"v":"1","cmd":"status"}', "usage", "protocol version 1 only"),
    (b'{"v":1,"cmd":"queue.list","state":"bogus"}', "usage", "state: one of"),
    (b'{"v":1,"cmd":"queue.list","state":3}', "usage", "state: one of"),
    (b'{"v":1,"cmd":"queue.list","limit":0}', "usage", "limit:"),
    (b'{"v":1,"cmd":"queue.list","limit":100000}', "usage", "limit:"),
    (b'{"v":1,"cmd":"queue.list","domain":"a b"}', "usage", "domain:"),
    (b'{"v":1,"cmd":"queue.purge","older_than":-5}', "usage", "older_than:"),
    (b'{"v":1,"cmd":"queue.purge","older_than":"1h"}', "usage", "older_than:"),
    (b'{"v":1,"cmd":"queue.purge","all":false}', "usage", "say which"),
    (b'{"v":1,"cmd":"status"} trailing', "usage", "malformed request"),
    (b'{"v":1,"cmd":"queue.list","sender":7}', "usage", "sender:"),
    (b'{"v":1,"cmd":"queue.show"}', "usage", "id: a queue ID is needed"),
    (b'{"v":1,"cmd":"queue.show","id":"../../etc"}', "usage", "id: not a queue ID"),
    (b'{"v":1,"cmd":"queue.show","id":"zzzzzzzzzzzz"}', "not_found", "no such message"),
    (b'{"v":1,"cmd":"queue.retry"}', "usage", "say which"),
    (b'{"v":1,"cmd":"user.add","name":"x","hash":"plaintext"}', "usage", "hash:"),
    (b'{"v":1,"cmd":"user.add","name":"a,b","hash":"$y$x"}', "usage", "name:"),
    (b'{"v":1,"cmd":"user.remove","name":"nosuch"}', "not_found", "nosuch"),
]


def test_malformed_requests_answered(make_mtad):
    m = make_mtad()
    with Raw(m) as c:
        for req, code, text in BAD_REQUESTS:
            assert_error(c.call(req), code, text, what=req)
        # the same connection still works, and two requests in one write
        # get two replies, in order
        r = c.call({"v": 1, "cmd": "status"})
        assert r["ok"] is True and r["result"]["pid"] == m.pid, r
        r = c.call(b' { "v" : 1 , "cmd" : "status" }\r')      # blanks and a CR: fine
        assert r["ok"] is True and r["result"]["pid"] == m.pid, r
        c.send(b'{"v":1,"cmd":"nosuch"}\n{"cmd":"queue.list"}\n')
        assert_error(c.reply(), "unknown", "nosuch")
        r = c.reply()
        assert r == {"v": 1, "ok": True, "result": []}, r
    assert status_ok(m)["pid"] == m.pid
    assert m.running()


# members of the wrong type or range: refused, never ignored (ctlproto.h:
# "members it uses are checked")
BAD_MEMBERS = [
    b'{"v":1,"cmd":"queue.purge","all":"yes"}',
    b'{"v":1,"cmd":"queue.retry","all":1}',
    b'{"v":1,"cmd":"queue.list","after":-1}',
    b'{"v":1,"cmd":"queue.list","after":"5"}',
    b'{"v":1,"cmd":"stats","since":"1h"}',
    b'{"v":1,"cmd":"bounces","since":-60}',
    b'{"v":1,"cmd":"queue.list","id":5}',
    b'{"v":1,"cmd":"queue.list","domain":["a.example"]}',
]


def test_request_members_are_checked(make_mtad):
    m = make_mtad()
    wrong = []
    with Raw(m) as c:
        for req in BAD_MEMBERS:
            r = c.call(req)
            if r.get("ok") is not False or r.get("code") != "usage":
                wrong.append(f"{req.decode()} -> {r}")
        assert c.call({"v": 1, "cmd": "status"})["ok"] is True
    assert not wrong, "requests with bad members were not refused:\n" + "\n".join(wrong)


def test_over_long_request_line(make_mtad):
    m = make_mtad()
    lim = limit("LIM_CONTROL_LINE")
    assert lim == 64 * 1024
    # just under the limit (with its LF): answered
    head = b'{"v":1,"cmd":"status","pad":"'
    pad = lim - 1 - len(head) - 2
    with Raw(m) as c:
        r = c.call(head + b"x" * pad + b'"}')
        assert r["ok"] is True and r["result"]["pid"] == m.pid, r
    # several lines just under the limit, pipelined in one write: each is
    # answered, in order (the daemon must not count the lines before it)
    with Raw(m) as c:
        line = head + b"x" * pad + b'"}\n'
        short = b'{"v":1,"cmd":"status"}\n'
        c.send(short + line + short + line + line)
        for i in range(5):
            r = c.reply()
            assert r["ok"] is True and r["result"]["pid"] == m.pid, (i, r)
    # over it: one error line, then the connection is closed
    for data in (b'{"v":1,"cmd":"status","pad":"' + b"x" * lim + b'"}\n',
                 b"{" * (lim + 4096)):          # and one with no LF at all
        with Raw(m) as c:
            try:
                c.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass                # it may hang up before taking it all
            assert_error(c.reply(), "usage", "request line too long", what=len(data))
            assert c.closed(), "the connection stays open after an over-long line"
        assert status_ok(m)["pid"] == m.pid
    assert m.running()


def test_too_many_clients_refused_politely(make_mtad):
    m = make_mtad()
    n = limit("LIM_CONTROL_CLIENTS")
    mark = m.mark()
    conns = []
    try:
        for i in range(n):
            c = Raw(m)
            conns.append(c)
            r = c.call({"v": 1, "cmd": "status"})
            assert r["ok"] is True, (i, r)
        with Raw(m) as extra:
            assert_error(extra.reply(), "denied", "too many control clients")
            assert extra.closed()
        m.wait_for_log(r" mtad event=control_refused msg=\"uid 0: too many control clients",
                       since=mark)
        r = ctl(m, "status", rc=1)
        assert "too many control clients" in r.stderr, r.stderr
        # the ones inside still work; one leaves, a new one gets in
        assert conns[0].call({"v": 1, "cmd": "queue.list"})["ok"] is True
        conns.pop().close()
        wait_until(lambda: ctl(m, "status", rc=None).returncode == 0, T,
                   "a free control slot", interval=0.02)
    finally:
        for c in conns:
            c.close()
    # the daemon frees the slots as it sees the hang-ups: not at once
    wait_until(lambda: ctl(m, "status", rc=None).returncode == 0, T,
               "the slots freed", interval=0.02)
    assert status_ok(m)["pid"] == m.pid


def test_big_listing_answered_or_refused(make_mtad):
    """A listing bigger than one reply may hold (LIM_CONTROL_OUTPUT) must get
    an answer: all of it, or an error saying so -- never a silent hang-up
    ("no answer from mtad").  10000 recipients of long addresses, within
    the limits (max_recipients, --limit 10000)."""
    m = make_mtad(extra="max_recipients 10000\n")
    n = 10000
    dom = ("e" * 60 + ".") * 2 + "e" * 50 + ".example"
    sender = "s" * 64 + "@" + dom
    with Client(m.port, timeout=60) as c:
        c.greeting()
        c.ehlo()
        c.expect(f"MAIL FROM:<{sender}>", "250 2.1.0 Ok")
        c.send("".join(f"RCPT TO:<r{i:05d}{'x' * 58}@{dom}>\r\n" for i in range(n)))
        assert all(r.code == 250 for r in c.replies(n, timeout=60))
        c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
        c.send(b"Subject: many\r\n\r\nhi\r\n.\r\n")
        qid = re.match(rf"^250 2\.0\.0 Ok: queued as ({QID_RE})$", c.reply(60).line).group(1)
    assert ctl_json(m, "status")["queue"]["queued"] == n
    problems = []
    for args in (["queue", "--limit", "10000"], ["queue", "--limit", "6000"], ["show", qid]):
        r = m.mtactl("--json", *args, timeout=60)
        if r.returncode == 0:
            got = json.loads(r.stdout)
            rows = got["recipients"] if args[0] == "show" else got
            want = n if args[0] == "show" else int(args[2])
            if len(rows) != want:
                problems.append(f"{args}: {len(rows)} rows, want {want}")
        elif r.returncode != 1 or "no answer from mtad" in r.stderr or not r.stderr:
            problems.append(f"mtactl --json {' '.join(args)}: exit {r.returncode}, "
                            f"stderr {r.stderr.strip()!r}")
    assert status_ok(m)["queue"]["queued"] == n
    assert not problems, ("a listing too big for one reply got neither the listing nor an "
                          "error reply:\n" + "\n".join(problems))


# ---------------------------------------------------------------- 9: monitor

class Follower:
    """A background `mtactl monitor`: its stdout lines, collected."""

    def __init__(self, m, *args):
        self.proc = subprocess.Popen([MTACTL_BIN, "-f", m.conf_path, *args, "monitor"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait(self, pred, timeout=T, what="a line"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    if pred(ln):
                        return ln
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"monitor: no {what} within {timeout}s: "
                                         f"{self.lines}")
                self.cond.wait(min(left, 0.1))

    def count(self):
        with self.cond:
            return len(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.reader.join(5)


def prime(m, follower):
    """Make log lines (SMTP connections) until the monitor shows one: it
    is subscribed from then on (bounded)."""
    def seen():
        if follower.count():
            return True
        with Client(m.port) as c:
            c.greeting()
            c.cmd("QUIT")
        return follower.count() > 0
    wait_until(seen, T, "the monitor's first event", interval=0.05)


def test_monitor_streams_events(relay, sink):
    odd = '451 4.3.0 try "later" \\ ok'     # quotes and a backslash: escaped in the log
    sink.on_rcpt(odd)
    m = relay()
    fj = Follower(m, "--json")
    fh = Follower(m)
    try:
        prime(m, fj)
        prime(m, fh)
        qid = submit(m, "mon@example.org", ["watch@mon.example"])

        def ev(ln):
            try:
                return json.loads(ln)
            except ValueError:
                raise AssertionError(f"monitor --json: not JSON: {ln!r}") from None
        line = fj.wait(lambda ln: ev(ln).get("id") == qid and ev(ln).get("event") == "received",
                       what=f"event=received for {qid}")
        e = json.loads(line)
        assert ISO_RE.match(e["at"][:19] + "Z") and e["from"] == "mon@example.org", e
        assert e["nrcpt"] == "1" and e["client"] == "127.0.0.1", e
        line = fj.wait(lambda ln: ev(ln).get("id") == qid and ev(ln).get("event") == "delivery",
                       what=f"event=delivery for {qid}")
        e = json.loads(line)
        assert (e["rcpt"], e["status"], e["dsn"], e["reply"]) == \
            ("watch@mon.example", "deferred", "4.3.0", odd), e
        # the human form: the log line again
        fh.wait(lambda ln: re.match(rf"^\S+ {qid} event=received .*\bfrom=mon@example\.org\b",
                                    ln), what="a human received line")
        line = fh.wait(lambda ln: f" {qid} event=delivery " in ln, what="a human delivery line")
        # the human form quotes and escapes like the log does
        assert line.endswith(' reply="451 4.3.0 try \\"later\\" \\\\ ok"'), line
        assert "status=deferred" in line, line
        logged = m.wait_for_log(rf"^\S+ {qid} event=delivery .*$").group(0)
        assert line == logged, (line, logged)
        # a control action shows up too
        ctl(m, "hold", qid)
        fj.wait(lambda ln: ev(ln).get("id") == qid and ev(ln).get("event") == "hold",
                what="event=hold")
        # when mtad stops, the monitor says so and exits 3
        m.stop()
        for f in (fj, fh):
            rc = f.proc.wait(T)
            assert rc == 3, rc
            assert "mtad went away" in f.proc.stderr.read(), f.lines
    finally:
        fj.stop()
        fh.stop()


def test_monitor_raw_socket(make_mtad):
    m = make_mtad()
    with Raw(m) as c:
        r = c.call({"v": 1, "cmd": "monitor"})
        assert r == {"v": 1, "ok": True, "result": {"monitoring": True}}, r
        qid = submit(m, "raw@example.org", ["r@raw.example"])
        deadline = time.monotonic() + T
        while True:
            assert time.monotonic() < deadline, "no event=received on the raw monitor"
            line = c.line()
            assert line is not None, "monitor closed"
            e = json.loads(line)
            if e.get("event") == "received" and e.get("id") == qid:
                break
        # still answers requests on the same connection
        c.send(b'{"v":1,"cmd":"queue.list"}\n')
        while True:
            e = json.loads(c.line())
            if "ok" in e:
                assert e["ok"] is True and [x["id"] for x in e["result"]] == [qid], e
                break


def test_monitor_that_does_not_read_loses_events_not_the_daemon(make_mtad):
    """A monitor that stops reading never holds mtad back: it is told
    {"event":"lost","count":N} for what it missed, and every log line is
    either sent to it or counted as lost.  10000 recipients deferred at
    once (their next hop refuses connections) make 10000+ log lines."""
    closed = free_port()                 # nothing listens there
    m = make_mtad(extra=f"route * 127.0.0.1:{closed} tls=none\nretry 1h\n"
                        "max_recipients 10000\n")
    n = 10000
    with Raw(m) as mon:
        r = mon.call({"v": 1, "cmd": "monitor"})
        assert r["ok"] is True, r
        mark = m.mark()                   # mtad is idle: every line from here is for us
        with Client(m.port, timeout=60) as c:
            c.greeting()
            c.ehlo()
            c.expect("MAIL FROM:<flood@example.org>", "250 2.1.0 Ok")
            c.send("".join(f"RCPT TO:<r{i:05d}@d{i % 7}.example>\r\n" for i in range(n)))
            assert all(x.code == 250 for x in c.replies(n, timeout=60))
            c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
            c.send(b"Subject: flood\r\n\r\nhi\r\n.\r\n")
            qid = re.match(rf"^250 2\.0\.0 Ok: queued as ({QID_RE})$", c.reply(60).line)[1]
        # while the monitor is not read: still served
        assert status_ok(m)["pid"] == m.pid
        wait_until(lambda: m.db_rows("SELECT count(*) FROM recipients WHERE state = "
                                     "'deferred'")[0][0] == n, 60, "10000 deferred",
                   interval=0.05)
        assert submit(m, "after@example.org", ["x@after.example"])
        # mtad quiet again: both sessions closed, every recipient tried
        wait_until(lambda: len(m.find_all_log(r" event=delivery ", since=mark)) == n + 1 and
                   len(m.find_all_log(r" event=disconnect ", since=mark)) == 2, 30,
                   "every delivery and disconnect line", interval=0.05)
        total = m.mark() - mark
        # now read: events and "lost" counts add up to every line logged
        seen, lost, counts = 0, 0, []
        deadline = time.monotonic() + 30
        while seen + lost < total:
            assert time.monotonic() < deadline, (seen, lost, total)
            line = mon.line()
            assert line is not None, "the monitor was closed"
            e = json.loads(line)
            if e.get("event") == "lost":
                assert type(e["count"]) is int and e["count"] > 0, e
                lost += e["count"]
                counts.append(e["count"])
            else:
                assert e.get("event") and e.get("at") and e.get("id"), e
                seen += 1
        assert counts, f"no 'lost' event though {total} lines were not read"
        assert seen + lost == total, (seen, lost, total)
        assert seen > 0
        # and the connection still answers
        mon.send(b'{"v":1,"cmd":"queue.list","limit":1}\n')
        while True:
            e = json.loads(mon.line())
            if "ok" in e:
                assert e["ok"] is True and e["result"][0]["id"] == qid, e
                break


# ---------------------------------------------------------------- 10: users

def test_user_commands_extra(make_mtad):
    m = make_mtad()
    assert ctl_json(m, "user", "list") == []
    out = ctl(m, "user", "list").stdout
    assert out.split() == ["USER", "CREATED", "SENDER", "DOMAINS"], out
    r = ctl(m, "--json", "user", "add", "dora", input="pw-1 x\n")
    assert (r.stdout, r.stderr) == ("", ""), r
    ctl(m, "user", "add", "emil", "--domains", "xn--bcher-kva.example,Example.COM",
        input="pw-2 y\n")
    users = ctl_json(m, "user", "list")
    assert [(u["name"], u["domains"]) for u in users] == [
        ("dora", None), ("emil", ["xn--bcher-kva.example", "example.com"])], users
    out = ctl(m, "user", "list").stdout.splitlines()
    assert re.match(r"^dora +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\(any\)$", out[1]), out
    assert re.match(r"^emil +\S+ +b\u00fccher\.example,example\.com$", out[2]), out
    # a bad sender domain: the daemon's usage error, nothing added
    r = ctl(m, "user", "add", "fritz", "--domains", "not a domain", input="pw\n", rc=2)
    assert "domains" in r.stderr, r.stderr
    assert [u["name"] for u in ctl_json(m, "user", "list")] == ["dora", "emil"]
    # a trailing comma is ignored
    ctl(m, "user", "add", "gus", "--domains", "example.net,", input="pw\n")
    assert ctl_json(m, "user", "list")[-1]["domains"] == ["example.net"]
    ctl(m, "user", "remove", "gus")
    # the protocol's own codes
    with Raw(m) as c:
        h = m.db_rows("SELECT password_hash FROM users WHERE name = 'dora'")[0][0]
        assert_error(c.call({"v": 1, "cmd": "user.add", "name": "dora", "hash": h}), "exists",
                     "dora")
        assert_error(c.call({"v": 1, "cmd": "user.passwd", "name": "nobody", "hash": h}),
                     "not_found", "nobody")
        r = c.call({"v": 1, "cmd": "user.remove", "name": "dora"})
        assert r == {"v": 1, "ok": True, "result": {"name": "dora"}}, r
    assert [u["name"] for u in ctl_json(m, "user", "list")] == ["emil"]


# ---------------------------------------------------------------- 11: reload, help, completion

def test_reload(make_mtad):
    m = make_mtad()
    mark = m.mark()
    r = ctl(m, "reload")
    assert r.stdout == f"reloaded: {m.conf_path}: 1 listeners\n", r.stdout
    m.wait_for_log(r" mtad event=reloaded ", since=mark)
    # a new listener, through a reload
    p2 = free_port()
    m.write_config(listens=[f"127.0.0.1:{p2}"])
    assert ctl_json(m, "reload") == {"message": f"{m.conf_path}: 2 listeners"}
    assert [x["address"] for x in ctl_json(m, "status")["listeners"]] == \
        [f"127.0.0.1:{m.port}", f"127.0.0.1:{p2}"]
    with Client(p2) as c:
        c.greeting()
    # the daemon reloads the file it was started with, not mtactl's -f
    other = m.dir / "other.conf"
    other.write_text(f"hostname other.example\nstate_dir {m.state_dir}\n"
                     "listen 127.0.0.1:1 smtp\ndelivery off\n")
    r = subprocess.run([MTACTL_BIN, "-f", str(other), "reload"], capture_output=True,
                       text=True, timeout=T)
    assert (r.returncode, r.stdout) == (0, f"reloaded: {m.conf_path}: 2 listeners\n"), r
    assert ctl_json(m, "status")["hostname"] == "mx.test.example"
    # a request sent behind a reload on the same connection is answered
    # after it, in order
    with Raw(m) as c:
        c.send(b'{"v":1,"cmd":"reload"}\n{"v":1,"cmd":"status"}\n')
        r1, r2 = c.reply(), c.reply()
    assert r1 == {"v": 1, "ok": True, "result": {"message": f"{m.conf_path}: 2 listeners"}}, r1
    assert r2["ok"] is True and r2["result"]["pid"] == m.pid, r2
    good = open(m.conf_path).read()
    # a listener mtad cannot bind: the daemon refuses the reload (1) and
    # keeps the running configuration
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        p3 = busy.getsockname()[1]
        m.write_config_text(good + f"listen 127.0.0.1:{p3} smtp\n")
        r = ctl(m, "reload", rc=1)
        assert r.stdout == "" and f"127.0.0.1:{p3}" in r.stderr, r.stderr
        m.wait_for_log(r" mtad event=reload_failed ", since=mark)
    assert len(ctl_json(m, "status")["listeners"]) == 2
    # a file with errors: mtactl reads it too (for state_dir), so it stops
    # there with the error (1); mtad is not asked
    m.write_config_text(good + "no_such_directive 1\n")
    n = len(m.find_all_log(r" mtad event=reload", since=mark))
    r = ctl(m, "reload", rc=1)
    assert 'unknown directive "no_such_directive"' in r.stderr and r.stdout == "", r.stderr
    assert len(m.find_all_log(r" mtad event=reload", since=mark)) == n
    m.write_config_text(good)
    assert ctl_json(m, "status")["listeners"][1]["address"] == f"127.0.0.1:{p2}"
    assert m.running()


def test_reload_refused_for_a_new_state_dir(make_mtad, tmp_path):
    """A state_dir changed in the file: mtad refuses such a reload (SIGHUP)
    and keeps running; `mtactl reload` finds the socket through the file,
    so it cannot reach that mtad: exit 3, saying why and what to do."""
    m = make_mtad()
    good = open(m.conf_path).read()
    new_state = tmp_path / "new-state"
    new_state.mkdir()
    m.write_config_text(good.replace(f"state_dir {m.state_dir}\n",
                                     f"state_dir {new_state}\n"))
    r = ctl(m, "reload", rc=None)
    # mtad itself refuses such a reload (SIGHUP shows it) and keeps running
    mark = m.mark()
    m.signal(signal.SIGHUP)
    m.wait_for_log(r" mtad event=reload_failed .*state_dir cannot change", since=mark)
    m.write_config_text(good)
    assert ctl_json(m, "status")["pid"] == m.pid
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "if state_dir was changed" in r.stderr and "restart" in r.stderr, r.stderr


def test_help_lists_every_command(tmp_path):
    r = subprocess.run([MTACTL_BIN, "-f", str(tmp_path / "none.conf"), "help"],
                       capture_output=True, text=True, timeout=T)
    assert r.returncode == 0 and r.stderr == "", r
    out = r.stdout
    assert out.startswith("usage: mtactl [-f FILE] [--json] COMMAND ...\n"), out
    listed = [ln[2:] for ln in out.splitlines() if ln.startswith("  ") and ln[2:3] != " "]
    for cmd in COMMANDS:
        assert any(ln == cmd or ln.startswith(cmd + " ") for ln in listed), (cmd, out)
    assert len(listed) == len(COMMANDS), listed
    assert "3 mtad not reachable" in out
    r2 = subprocess.run([MTACTL_BIN, "--help"], capture_output=True, text=True, timeout=T)
    assert (r2.returncode, r2.stdout) == (0, out), r2
    wide = [f"{len(ln)}: {ln!r}" for ln in out.splitlines() if len(ln) > 80]
    assert not wide, "`mtactl help` lines over 80 columns (mtactl.c promises they " \
        "fit):\n" + "\n".join(wide)


def complete(words, cword=None):
    """COMPREPLY of _mtactl (contrib/mtactl.bash) for COMP_WORDS=words."""
    cword = len(words) - 1 if cword is None else cword
    arr = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = (f"source '{COMPLETION}' || exit 9\n"
              f"COMP_WORDS=({arr}); COMP_CWORD={cword}; COMPREPLY=()\n"
              "_mtactl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, timeout=T, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r
    return [w for w in r.stdout.split("\n") if w]


def test_completion_script():
    r = subprocess.run([MTACTL_BIN, "completion"], capture_output=True, timeout=T)
    assert r.returncode == 0, r
    with open(COMPLETION, "rb") as f:
        assert r.stdout == f.read(), "contrib/mtactl.bash is not `mtactl completion` (make " \
            "completion)"
    assert complete(["mtactl", "qu"]) == ["queue"]
    assert complete(["mtactl", "queue", "--st"]) == ["--state"]
    assert complete(["mtactl", "queue", "--state", "d"]) == ["deferred"]
    assert complete(["mtactl", "--json", "st"]) == ["status", "stats"]
    assert complete(["mtactl", "-f", "/etc/mtad.conf", "re"]) == ["retry", "release",
                                                                   "reload"]
    assert complete(["mtactl", "user", "p"]) == ["passwd"]
    assert complete(["mtactl", "user", "add", "bob", "--d"]) == ["--domains"]
    assert complete(["mtactl", "purge", "--"]) == ["--domain", "--state", "--older-than"]
    # every command of the help is offered as a first word
    firsts = complete(["mtactl", ""])
    for cmd in COMMANDS:
        assert cmd.split()[0] in firsts, (cmd, firsts)


# ---------------------------------------------------------------- 12: usage errors

def test_usage_errors_exit_2(make_mtad):
    m = make_mtad()
    cases = [
        (["frobnicate"], 'unknown command "frobnicate"'),
        (["queue", "--bogus"], "queue: no option --bogus"),
        (["queue", "--state"], "--state needs a value"),
        (["queue", "extra"], "queue"),
        (["show"], "show ID"),
        (["show", "a", "b"], "show ID"),
        (["status", "now"], "status"),
        (["retry"], "say which"),
        (["retry", "--state", "deferred"], "retry: no option --state"),
        (["hold", "--all"], "hold: no option --all"),
        (["release"], "say which"),
        (["bounces", "--limit", "-3"], "--limit"),
        (["--bogus", "status"], ""),
        (["status", "--json"], "status: no option --json"),
        (["user", "add", "x", "--domains", ""], "--domains"),
        ([], "no command"),
    ]
    for args, text in cases:
        r = ctl(m, *args, rc=2)
        assert text in r.stderr and r.stdout == "", (args, r.stderr)
        assert r.stderr.startswith("mtactl: ") or args[0] == "--bogus", (args, r.stderr)
    # mtactl's own usage errors do not need the daemon
    m.stop()
    for args, _ in cases:
        ctl(m, *args, rc=2)


# ---------------------------------------------------------------- what mtatui asks

def test_console_requests(relay, sink):
    """The protocol members mtatui pages and acts with: sort, offset, search,
    queue.count, rcpt_ids, queue.domains, bounce class and offset, stats series."""
    sink.on_rcpt("550 5.1.1 no such user", rcpts=["gone@hard.example"])
    sink.on_rcpt(DEFER, rcpts=["zed@a.example", "amy@b.example", "Mia@a.example",
                               "kim@c.example"])
    m = relay()
    q1 = submit(m, "alice@one.example", ["zed@a.example", "amy@b.example"])
    q2 = submit(m, "bob@two.example", ["Mia@a.example"])
    q3 = submit(m, "carol@one.example", ["gone@hard.example", "kim@c.example"])
    wait_deferred(m, ["zed@a.example", "amy@b.example", "Mia@a.example", "kim@c.example"])
    with Raw(m) as c:
        def ok(req):
            r = c.call(dict(req, v=1))
            assert r.get("ok") is True, (req, r)
            return r["result"]

        rows = ok({"cmd": "queue.list", "sort": "recipient"})
        assert [r["recipient"] for r in rows] == [
            "Mia@a.example", "amy@b.example", "kim@c.example", "zed@a.example"], rows
        rows = ok({"cmd": "queue.list", "sort": "recipient", "desc": True, "offset": 1,
                   "limit": 2})
        assert [r["recipient"] for r in rows] == ["kim@c.example", "amy@b.example"], rows
        rows = ok({"cmd": "queue.list", "offset": 3})          # id order, paged
        assert [r["recipient"] for r in rows] == ["kim@c.example"], rows
        # search: any case, in the queue ID, the sender or the recipient
        assert {r["id"] for r in ok({"cmd": "queue.list", "search": "MIA@"})} == {q2}
        assert {r["id"] for r in ok({"cmd": "queue.list", "search": "@one.EX"})} == {q1, q3}
        assert {r["id"] for r in ok({"cmd": "queue.list", "search": q3[2:9]})} == {q3}
        assert ok({"cmd": "queue.list", "search": "nowhere"}) == []
        assert ok({"cmd": "queue.count"}) == {"count": 4}
        assert ok({"cmd": "queue.count", "domain": "a.example"}) == {"count": 2}
        assert ok({"cmd": "queue.count", "search": "one.example"}) == {"count": 3}
        assert ok({"cmd": "queue.count", "state": "held"}) == {"count": 0}

        # rcpt_ids: exactly those recipients (one of q1's two)
        rid = {r["recipient"]: r["rcpt_id"] for r in ok({"cmd": "queue.list"})}
        assert ok({"cmd": "queue.hold", "rcpt_ids": [rid["zed@a.example"]]}) == {"count": 1}
        assert rcpt_states(m)["zed@a.example"][0] == "held"
        assert rcpt_states(m)["amy@b.example"][0] == "deferred"
        assert ok({"cmd": "queue.count", "state": "held"}) == {"count": 1}

        # domains: by recipient (A-labels, last deferral) and by sender
        doms = ok({"cmd": "queue.domains"})
        assert [d["domain"] for d in doms][0] == "a.example", doms
        a = doms[0]
        assert (a["deferred"], a["held"], a["messages"]) == (1, 1, 2), a
        assert "451" in (a["last_reply"] or ""), a
        by_sender = {d["domain"]: d for d in ok({"cmd": "queue.domains", "by": "sender"})}
        assert set(by_sender) == {"one.example", "two.example"}, by_sender
        assert by_sender["one.example"]["messages"] == 2, by_sender

        # bounces: class filter and offset
        assert [b["recipient"] for b in ok({"cmd": "bounces", "class": "hard"})] == \
            ["gone@hard.example"]
        assert ok({"cmd": "bounces", "class": "soft"}) == []
        assert ok({"cmd": "bounces", "offset": 1}) == []

        # stats series: one bucket per minute of the hour, the last one now
        st = ok({"cmd": "stats", "since": 3600, "step": 60})
        assert st["step"] == 60 and len(st["series"]) == 61, st
        assert all(isinstance(n, int) for n in st["series"]), st
        assert sum(st["series"]) == st["delivered"] >= 1, st     # the DSN went out
        s = ok({"cmd": "status"})
        assert s["delivered_last_minute"] >= 1, s

        # show: the body's start
        shown = ok({"cmd": "queue.show", "id": q2})
        assert shown["body"].startswith("hello "), shown


# ---------------------------------------------------------------- throttling

def test_throttled_destination_pauses_and_retry_lifts_it(relay, sink):
    """A 421 (the receiver throttles) pauses that destination: new mail for
    it waits, another domain keeps flowing, status shows the pause, and
    `mtactl retry --domain` lifts it."""
    sink.on_rcpt("421 4.7.0 try later", rcpts=["a1@slow.example"])
    m = relay()
    mark = m.mark()
    submit(m, "s@example.org", ["a1@slow.example"])
    m.wait_for_log(r"^\S+ slow\.example event=throttled msg=\"paused 60s: 421 4\.7\.0 try "
                   r"later\"", since=mark)
    st = ctl_json(m, "status")
    assert [(p["domain"], p["reply"]) for p in st["paused"]] == \
        [("slow.example", "421 4.7.0 try later")], st
    assert "paused: slow.example for " in ctl(m, "status").stdout
    # new mail for the paused domain is not tried; another domain's is
    submit(m, "s@example.org", ["a2@slow.example"])
    submit(m, "s@example.org", ["b@fast.example"])
    sink.wait_messages(1, T, rcpt="b@fast.example")
    m.wait_for_log(r" event=received .*", since=mark)
    assert rcpt_states(m)["a2@slow.example"] == ("queued", 0), rcpt_states(m)
    assert sink_rcpt_count(sink, "a2@slow.example") == 0
    # retry --domain: the pause goes, both are delivered
    sink.clear_rules()
    ctl(m, "retry", "--domain", "slow.example")
    sink.wait_messages(1, T, rcpt="a1@slow.example")
    sink.wait_messages(1, T, rcpt="a2@slow.example")
    assert ctl_json(m, "status")["paused"] == []
    assert "paused:" not in ctl(m, "status").stdout


def test_limit_rate_is_honoured(make_mtad, sink):
    """`limit * rate=600/m`: the sink sees at most 10 messages in any one
    second, and the 40 arrive at 10 a second (within 10 %), over a few
    connections that wait for their next slot (not one per message)."""
    m = make_mtad(extra=relay_extra(sink, "limit * rate=600/m connections=4\n"), start=False)
    m.env = ASAN_ENV
    m.start()
    n = 40
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for i in range(n):
            c.send_message(body=f"Subject: r{i}\r\n\r\nx\r\n".encode(),
                           sender="s@example.org", rcpts=(f"r{i}@rate.example",))
    got = sink.wait_messages(n, 30)
    at = sorted(x.at for x in got)
    worst = max(sum(1 for t in at if a <= t < a + 1.0) for a in at)
    assert worst <= 10 + 1, f"{worst} messages within one second (rate=600/m)"
    rate = (n - 1) / (at[-1] - at[0])
    assert 9.0 <= rate <= 11.0, f"{rate:.2f} messages/s, want 10 within 10 %"
    assert sink.opened <= 1 + 8, f"{sink.opened} connections for {n} messages"


def test_limit_connections_never_exceeded(make_mtad):
    """`limit * connections=3`: with a slow sink and one message per
    connection, the sink never sees more than 3 connections at once (and
    does see more than one: the limit is used, not just obeyed)."""
    s = Sink("127.0.0.1", free_port(), data_delay=0.2).start()
    try:
        with s._cond:
            s.max_open = s.open_now         # forget the start-up probe
        m = make_mtad(extra=f"route * 127.0.0.1:{s.port} tls=none\nretry 1h\n"
                      "limit * connections=3 messages_per_connection=1\n", start=False)
        m.env = ASAN_ENV
        m.start()
        with Client(m.port) as c:
            c.greeting()
            c.ehlo()
            for i in range(20):
                c.send_message(body=f"Subject: c{i}\r\n\r\nx\r\n".encode(),
                               sender="s@example.org", rcpts=(f"c{i}@conn.example",))
        s.wait_messages(20, 30)
        assert 2 <= s.max_open <= 3, f"{s.max_open} connections at once (connections=3)"
    finally:
        s.stop()
