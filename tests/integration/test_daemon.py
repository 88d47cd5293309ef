"""The daemon around the protocol: -n, SIGHUP reloads, SIGTERM, the state lock."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from mtadtest import HOSTNAME, MTAD_BIN, QUEUED_RE, free_port

SHUTDOWN_421 = f"421 4.3.2 {HOSTNAME} Service shutting down, try again later"


def check(conf_path):
    p = subprocess.run([MTAD_BIN, "-n", "-f", str(conf_path)], capture_output=True,
                       text=True, timeout=10)
    assert p.stdout == ""
    return p.returncode, p.stderr.splitlines()


def write(path, text):
    path.write_text(text)
    return str(path)


CERTS_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "certs.sh")


def make_certs(dirpath):
    """A real certificate and key (tests/unit/certs.sh, certtool): mtad -n
    and start-up load them."""
    subprocess.run(["sh", CERTS_SH, str(dirpath)], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return str(dirpath / "server.crt"), str(dirpath / "server.key")


# ---------------------------------------------------------------- mtad -n

def test_check_good_config(tmp_path):
    cert, key = make_certs(tmp_path / "certs")
    conf = write(tmp_path / "good.conf",
                 "# a comment\n"
                 "hostname mx.example.org\n"
                 f"state_dir {tmp_path}/state\n"
                 "listen 127.0.0.1:2525 smtp   # trailing comment\n"
                 "listen [::1]:2525 smtp\n"
                 "trusted 127.0.0.0/8 ::1 192.0.2.0/24\n"
                 f"tls_cert {cert}\n"
                 f"tls_key {key}\n"
                 "max_message_size 10M\n"
                 "max_recipients 100\n"
                 "max_errors 5\n"
                 "max_sessions 50\n"
                 "timeout command 5m\n"
                 "timeout data 10m\n"
                 "retry 5m 10m 1h\n"
                 "queue_lifetime 5d\n"
                 "route example.net 127.0.0.1:25 tls=none\n"
                 "limit * connections=10 rate=100/h\n")
    assert check(conf) == (0, [f"{conf}: ok"])
    assert not (tmp_path / "state").exists(), "-n must not touch the state directory"


def test_check_reports_each_error_with_file_and_line(tmp_path):
    key = write(tmp_path / "key.pem", "x\n")
    cases = [
        ("frobnicate yes\n", 'unknown directive "frobnicate"'),
        ("max_errors lots\n", 'max_errors: "lots" is not a number from 1 to 1000'),
        ("max_recipients 99\n", 'max_recipients: "99" is not a number from 100 to 100000'),
        ("max_message_size 2G\n", 'max_message_size: "2G" is not a size from 64K to 1G'),
        ("timeout command soon\n", 'timeout command: "soon" is not a duration'),
        ("trusted 10.0.0.1/8\n", 'trusted: "10.0.0.1/8" has host bits set beyond its prefix'),
        ("listen 127.0.0.1 smtp\n", 'listen: "127.0.0.1" is not IPv4:PORT or [IPv6]:PORT'),
        ("hostname other.example\n", "hostname already given at line 1"),
        ("listen 127.0.0.1:2525 smtp\n", "listen: 127.0.0.1:2525 already given at line 2"),
        ("max_errors\n", "max_errors takes 1 argument"),
        (f"tls_cert {tmp_path}/missing.pem\ntls_key {key}\n",
         f'tls_cert: cannot read "{tmp_path}/missing.pem": No such file or directory'),
    ]
    for i, (line, msg) in enumerate(cases):
        conf = write(tmp_path / f"bad{i}.conf",
                     "hostname mx.example.org\nlisten 127.0.0.1:2525 smtp\n" + line)
        rc, err = check(conf)
        assert (rc, err) == (1, [f"{conf}:3: {msg}"]), line


def test_check_lists_all_parse_errors_in_one_run(tmp_path):
    conf = write(tmp_path / "bad.conf",
                 "hostname mx.example.org\n"       # 1
                 "\n"                              # 2
                 "frobnicate yes\n"                # 3
                 "max_errors lots\n"               # 4
                 "# comment\n"                     # 5
                 "hostname other.example\n"        # 6
                 "listen 127.0.0.1:99999 smtp\n"   # 7
                 "max_sessions 0\n")               # 8
    rc, err = check(conf)
    assert rc == 1
    assert err == [
        f'{conf}:3: unknown directive "frobnicate"',
        f'{conf}:4: max_errors: "lots" is not a number from 1 to 1000',
        f"{conf}:6: hostname already given at line 1",
        f'{conf}:7: listen: "127.0.0.1:99999" is not IPv4:PORT or [IPv6]:PORT',
        f'{conf}:8: max_sessions: "0" is not a number from 1 to 10000',
    ]


def test_check_lists_parse_and_file_errors_in_one_run(tmp_path):
    key = write(tmp_path / "key.pem", "x\n")
    conf = write(tmp_path / "bad.conf",
                 "hostname mx.example.org\n"                    # 1
                 "frobnicate yes\n"                             # 2
                 "max_errors lots\n"                            # 3
                 "hostname other.example\n"                     # 4
                 f"tls_cert {tmp_path}/missing.pem\n"           # 5
                 f"tls_key {key}\n")                            # 6
    rc, err = check(conf)
    assert rc == 1
    assert err == [
        f'{conf}:2: unknown directive "frobnicate"',
        f'{conf}:3: max_errors: "lots" is not a number from 1 to 1000',
        f"{conf}:4: hostname already given at line 1",
        f'{conf}:5: tls_cert: cannot read "{tmp_path}/missing.pem": No such file or directory',
    ]


def test_check_size_overflow_refused(tmp_path):
    """(2^34+1) * 2^30 wraps to exactly 1G in 64 bits: must be refused,
    not accepted (regression: conf_size() had no overflow check)."""
    conf = write(tmp_path / "big.conf", "max_message_size 17179869185G\n")
    assert check(conf) == (1, [f'{conf}:1: max_message_size: "17179869185G" '
                               "is not a size from 64K to 1G"])


def test_check_missing_file(tmp_path):
    conf = str(tmp_path / "nope.conf")
    assert check(conf) == (1, [f"{conf}: cannot open: No such file or directory"])


# ---------------------------------------------------------------- SIGHUP

def reload(m, expect="reloaded", timeout=10):
    mark = m.mark()
    m.signal(signal.SIGHUP)
    return m.wait_for_log(rf"^\S+ mtad event={expect} ", timeout, since=mark), mark


def refused(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sighup_adds_and_removes_listener_sessions_survive(mtad, connect):
    c1 = connect(mtad.port)
    c1.ehlo()
    c1.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    c1.expect("RCPT TO:<one@example.net>", "250 2.1.5 Ok")

    p2 = free_port()
    mtad.write_config(listens=[f"127.0.0.1:{p2}"])
    m, mark = reload(mtad)
    assert m.string.endswith(f'msg="{mtad.conf_path}: 2 listeners"'), m.string
    assert mtad.find_log(rf' event=listening msg="127\.0\.0\.1:{p2} smtp"$', mark)
    c2 = connect(p2)
    c2.ehlo()
    c2.expect("MAIL FROM:<b@example.org>", "250 2.1.0 Ok")
    c2.expect("RCPT TO:<two@example.net>", "250 2.1.5 Ok")

    # the session opened before the reload finishes its transaction
    c1.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
    c1.send(b"Subject: across a reload\r\n\r\nbody\r\n.\r\n")
    q1 = QUEUED_RE.match(c1.reply().line).group(1)

    # remove the second listener again; its open session survives
    mtad.write_config(listens=[])
    m, mark = reload(mtad)
    assert m.string.endswith(f'msg="{mtad.conf_path}: 1 listeners"'), m.string
    mtad.wait_for_log(rf" event=listen_stopped msg=127\.0\.0\.1:{p2}$", since=mark)
    assert refused(p2), f"port {p2} still accepts after its listener was removed"
    c2.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
    c2.send(b"Subject: listener gone\r\n\r\nbody\r\n.\r\n")
    q2 = QUEUED_RE.match(c2.reply().line).group(1)
    c1.expect("NOOP", "250 2.0.0 Ok")
    # the first listener was kept throughout
    c3 = connect(mtad.port)
    c3.ehlo()
    rows = mtad.db_rows("SELECT m.queue_id, r.address FROM messages m"
                        " JOIN recipients r ON r.message_id = m.id ORDER BY m.id")
    assert rows == [(q1, "one@example.net"), (q2, "two@example.net")]
    mtad.stop()


def test_sighup_new_settings_apply_to_new_sessions_only(mtad, connect):
    old = connect(mtad.port)
    old.ehlo()
    mtad.write_config(extra="max_errors 1")
    reload(mtad)
    new = connect(mtad.port)
    new.ehlo()
    new.send("FOO\r\n")
    r1, r2 = new.replies(2)
    assert r1.line == "500 5.5.2 Error: command not recognized"
    assert r2.line == f"421 4.7.0 {HOSTNAME} Error: too many errors"
    new.wait_closed()
    # the old session keeps the configuration it started with (20 errors)
    for _ in range(3):
        old.expect("FOO", "500 5.5.2 Error: command not recognized")
    old.expect("NOOP", "250 2.0.0 Ok")


def test_sighup_broken_config_keeps_running_one(mtad, connect):
    good = open(mtad.conf_path).read()
    c = connect(mtad.port)
    c.ehlo()
    p2 = free_port()
    mtad.write_config_text(good + f"listen 127.0.0.1:{p2} smtp\nbogus directive\n")
    m, mark = reload(mtad, expect="reload_failed")
    assert "keeping the running configuration" in m.string
    nlines = len(good.splitlines())
    mtad.wait_for_log(rf'^\S+ mtad event=config_error msg="{re.escape(mtad.conf_path)}:'
                      rf'{nlines + 2}: unknown directive \\"bogus\\""$', since=mark)
    assert not mtad.find_log(r" event=reloaded ", mark)
    assert refused(p2), "a listener from the refused config was started"
    # old listener and the open session still work
    c.send_message()
    c2 = connect(mtad.port)
    c2.ehlo()
    c2.send_message()

    # a state_dir change is refused too
    mtad.write_config_text(good.replace(mtad.state_dir, mtad.state_dir + "-other"))
    m, _ = reload(mtad, expect="reload_failed")
    assert "state_dir cannot change without a restart" in m.string

    # and a fixed config reloads fine afterwards
    mtad.write_config_text(good)
    reload(mtad)
    c3 = connect(mtad.port)
    c3.ehlo()
    c3.send_message()
    assert mtad.message_count() == 3
    mtad.stop()


def test_sighup_listener_that_cannot_bind_changes_nothing(mtad, connect):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    p2 = free_port()
    try:
        mtad.write_config(listens=[f"127.0.0.1:{p2}", f"127.0.0.1:{bport}"],
                          extra="max_errors 1")
        m, mark = reload(mtad, expect="reload_failed")
        assert f"listen 127.0.0.1:{bport}: Address already in use" in m.string, m.string
        assert refused(p2), "half of a refused reload was applied"
        # max_errors 1 was not applied either
        c = connect(mtad.port)
        c.ehlo()
        c.expect("FOO", "500 5.5.2 Error: command not recognized")
        c.expect("NOOP", "250 2.0.0 Ok")
    finally:
        busy.close()
    # once the port is free, the same config loads
    reload(mtad)
    c = connect(p2)
    c.ehlo()


def test_failed_reload_does_not_change_listener_kind(make_mtad, connect, tmp_path):
    """A refused reload changes nothing, not even the kind of a kept listener
    (regression: listen_bind_new() switched it before a later bind failed)."""
    cert, key = make_certs(tmp_path / "certs")
    tls = f"tls_cert {cert}\ntls_key {key}"
    m = make_mtad(extra=tls)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        text = m.config_text().replace(f"listen 127.0.0.1:{m.port} smtp",
                                       f"listen 127.0.0.1:{m.port} submission\n"
                                       f"listen 127.0.0.1:{busy.getsockname()[1]} smtp")
        m.write_config_text(text)
        reload(m, expect="reload_failed")
    finally:
        busy.close()
    c = connect(m.port)
    c.ehlo()
    m.wait_for_log(r" event=connect .* kind=smtp ")
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_lets_transaction_in_data_finish(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    idle = connect(mtad.port)
    idle.ehlo()
    mark = mtad.mark()
    mtad.signal(signal.SIGTERM)
    mtad.wait_for_log(r"^\S+ mtad event=stopping msg=\"2 sessions open\"$", since=mark)
    # the idle session is told at once
    assert idle.reply(timeout=5).line == SHUTDOWN_421
    idle.wait_closed()
    # the one inside DATA is not: nothing arrives while it is in its grace
    with pytest.raises(TimeoutError):
        c.reply(timeout=0.5)
    t0 = time.monotonic()
    c.send(b"second half\r\n.\r\n")
    r = c.reply(timeout=2)
    assert time.monotonic() - t0 < 2
    m = QUEUED_RE.match(r.line)
    assert m, r.lines
    # after its message, the session is shut down like an idle one
    assert c.reply(timeout=5).line == SHUTDOWN_421
    c.wait_closed()
    assert mtad.wait_exit(15) == 0
    assert mtad.find_log(r"^\S+ mtad event=stopped msg=clean$")
    rows = mtad.db_rows("SELECT queue_id, body FROM messages")
    assert len(rows) == 1 and rows[0][0] == m.group(1)
    assert rows[0][1].endswith(b"\r\nfirst half\r\nsecond half\r\n")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_sigterm_idle_session_gets_421(mtad, connect, sig):
    c = connect(mtad.port)
    c.ehlo()
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")   # in a transaction, not DATA
    t0 = time.monotonic()
    mtad.signal(sig)
    assert c.reply(timeout=5).line == SHUTDOWN_421
    c.wait_closed()
    assert mtad.wait_exit(10) == 0
    assert time.monotonic() - t0 < 5, "stopping with only idle sessions took too long"
    assert mtad.find_log(r"^\S+ mtad event=stopped msg=clean$")
    assert refused(mtad.port)
    assert mtad.message_count() == 0


def test_sigterm_grace_ends_unfinished_data(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn()
    c.send(b"Subject: never finished\r\n\r\nhalf\r\n")
    t0 = time.monotonic()
    mtad.signal(signal.SIGTERM)
    r = c.reply(timeout=20)
    waited = time.monotonic() - t0
    assert r.line == SHUTDOWN_421
    assert 8 <= waited <= 13, f"grace was {waited:.1f}s, want about 10s"
    c.wait_closed()
    assert mtad.wait_exit(15) == 0
    assert mtad.find_log(r"^\S+ mtad event=stopped msg=clean$")
    assert mtad.message_count() == 0


# ---------------------------------------------------------------- the state lock

def test_second_instance_on_same_state_dir_refused(make_mtad, connect):
    first = make_mtad("first")
    second = make_mtad("second", start=False, state_dir=first.state_dir)
    second.port = free_port()
    second.write_config()
    p = subprocess.run([MTAD_BIN, "-f", second.conf_path], capture_output=True,
                       text=True, timeout=15)
    assert p.returncode != 0
    assert re.search(rf'^\S+ mtad event=fatal msg="state_dir {re.escape(first.state_dir)} '
                     rf'is in use by another mtad \(pid {first.pid}\)"$', p.stderr, re.M), p.stderr
    assert "event=ready" not in p.stderr
    assert refused(second.port)
    with open(os.path.join(first.state_dir, "mtad.pid")) as f:
        assert f.read() == f"{first.pid}\n"
    c = connect(first.port)
    c.ehlo()
    c.send_message()
    first.stop()


def test_listen_port_in_use_at_start_fails(make_mtad):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        m = make_mtad(start=False)
        m.write_config_text(f"hostname {HOSTNAME}\nstate_dir {m.state_dir}\n"
                            f"listen 127.0.0.1:{busy.getsockname()[1]} smtp\n")
        p = subprocess.run([MTAD_BIN, "-f", m.conf_path], capture_output=True,
                           text=True, timeout=15)
    finally:
        busy.close()
    assert p.returncode == 1, p.stderr
    assert re.search(r'event=fatal msg="listen 127\.0\.0\.1:\d+: Address already in use"',
                     p.stderr), p.stderr


# ---------------------------------------------------------------- the log

LOG_LINE = re.compile(
    r'^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<id>mtad|[0-9a-z]{10}|[0-9a-z]{12})'
    r' event=(?P<event>[a-z_]+)(?P<rest>(?: [a-z_]+=(?:[^\s"\\]+|"(?:[^"\\]|\\.)*"))*)$')
FIELD = re.compile(r' ([a-z_]+)=([^\s"\\]+|"(?:[^"\\]|\\.)*")')


def log_fields(line):
    m = LOG_LINE.match(line)
    assert m, f"not a key=value log line: {line!r}"
    fields = {"event": m.group("event")}
    for k, v in FIELD.findall(m.group("rest")):
        if v.startswith('"'):
            v = re.sub(r'\\x([0-9a-f]{2})', lambda x: chr(int(x.group(1), 16)), v[1:-1])
            v = re.sub(r'\\(["\\])', r"\1", v)
        assert k not in fields, f"duplicate key {k}: {line!r}"
        fields[k] = v
    return m.group("id"), fields


def test_log_lines_are_key_value(make_mtad, connect):
    m = make_mtad(trusted="127.0.0.2/32")
    c = connect(m.port)
    c.ehlo()
    c.expect("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
    nasty = r'"we \"quote\" \\ and sp ace"@example.net'
    c.expect(f"RCPT TO:<{nasty}>", "550 5.7.1 Relay access denied")
    c.expect("QUIT", "221 2.0.0 Bye")
    c2 = connect(m.port, source="127.0.0.2")
    c2.ehlo()
    qid = c2.send_message()
    c2.expect("QUIT", "221 2.0.0 Bye")
    m.wait_for_log(r" event=disconnect .*accepted=1$")
    m.stop()
    parsed = [log_fields(line) for line in m.lines]
    events = [f["event"] for _, f in parsed]
    assert events[-1] == "stopped" and "ready" in events
    rej = [f for _, f in parsed if f["event"] == "reject"]
    assert rej == [{"event": "reject", "cmd": "RCPT", "arg": nasty,
                    "client": "127.0.0.1",
                    "reply": "550 5.7.1 Relay access denied"}]
    rec = [(i, f) for i, f in parsed if f["event"] == "received"]
    assert len(rec) == 1 and rec[0][0] == qid
    assert rec[0][1]["client"] == "127.0.0.2" and rec[0][1]["nrcpt"] == "1"
    # every session line carries the session's ID, connect to disconnect
    sessions = {i for i, f in parsed if f["event"] == "connect"}
    assert len(sessions) == 2
    assert {i for i, f in parsed if f["event"] == "disconnect"} == sessions
    assert rec[0][1]["session"] in sessions
