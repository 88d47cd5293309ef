"""Helpers for the mtad end-to-end tests (fixtures are in conftest.py).

Everything here talks to a real mtad binary (MTAD_BIN) on 127.0.0.1 /
127.0.0.2 / ::1, on ports picked at run time.  Every wait is bounded by a
monotonic deadline; nothing sleeps a fixed time to "let things settle".
Each Mtad kills its own process (and only that PID) at teardown.
"""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

MTAD_BIN = os.environ.get("MTAD_BIN", "")
# mtactl: MTACTL_BIN, else the one built beside MTAD_BIN.
MTACTL_BIN = os.environ.get("MTACTL_BIN") or (
    os.path.join(os.path.dirname(MTAD_BIN), "mtactl") if MTAD_BIN else "")
HOSTNAME = "mx.test.example"
QID_RE = r"[0-9a-z]{12}"
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as (" + QID_RE + r")$")
DEFAULT_TIMEOUT = 10.0


# ---------------------------------------------------------------- basics

def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to 0, read it, close)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_ok():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_until(pred, timeout, what, interval=0.01):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_dnsserver(zone_path, *args):
    """dnsserver.py (beside this file) serving zone_path on a free port:
    (process, port).  Stop it with stop_process()."""
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, os.path.join(here, "dnsserver.py"), *args,
                             str(zone_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(10)
    if not got or not got[0].startswith("PORT "):
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"dnsserver.py did not start: {got!r} {proc.stderr.read()!r}")
    return proc, int(got[0].split()[1])


def stop_process(proc, timeout=5):
    """TERM, then KILL after timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def db_query(path, sql, params=()):
    """Rows of sql on the queue at path, opened read-only."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def tcp_rx_queue(local_port, remote_port):
    """Bytes waiting unread in the kernel on the server side of a loopback
    connection (from /proc/net/tcp{,6}), or None if it is not found."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    lport = int(fields[1].rsplit(":", 1)[1], 16)
                    rport = int(fields[2].rsplit(":", 1)[1], 16)
                    if lport == local_port and rport == remote_port:
                        return int(fields[4].split(":")[1], 16)
        except FileNotFoundError:
            continue
    return None


# ---------------------------------------------------------------- the daemon

class Mtad:
    """One mtad process on its own config and state directory.

    The stderr log is collected by a thread into self.lines (all runs of
    this instance, in order); wait_for_log() searches from a mark (by
    default the start of the current run).
    """

    def __init__(self, base_dir, name="mtad", hostname=HOSTNAME,
                 trusted="127.0.0.0/8 ::1", extra="", state_dir=None, delivery=None):
        self.dir = base_dir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf_path = str(self.dir / "mtad.conf")
        self.state_dir = str(state_dir or (self.dir / "state"))
        self.db_path = os.path.join(self.state_dir, "mtad.db")
        self.hostname = hostname
        self.trusted = trusted
        self.extra = extra
        # Deliveries need a next hop the test controls (a `route`, or a
        # `resolver` on loopback); without one the host's DNS would decide,
        # so by default such a daemon only queues ("delivery off").
        self.delivery = delivery
        self.listens = []           # more "ADDR:PORT" smtp listeners
        self.port = None
        self.custom_conf = None     # full text, set by write_config_text
        self.env = None             # environment for the process (None: ours)
        self.proc = None
        self.pid = None
        self.lines = []
        self.run_start = 0
        self._cond = threading.Condition()
        self._reader = None

    # -- config
    def config_text(self, extra=None, listens=None):
        extra = self.extra if extra is None else extra
        listens = self.listens if listens is None else listens
        text = (f"# written by tests/integration/mtadtest.py\n"
                f"hostname {self.hostname}\n"
                f"state_dir {self.state_dir}\n"
                f"listen 127.0.0.1:{self.port} smtp\n")
        for spec in listens:
            # "ADDR:PORT" is an smtp listener; "ADDR:PORT KIND" names its kind
            text += f"listen {spec}\n" if " " in spec.strip() else f"listen {spec} smtp\n"
        if self.trusted:
            text += f"trusted {self.trusted}\n"
        if extra:
            text += extra.rstrip("\n") + "\n"
        deliver = self.delivery
        if deliver is None:
            deliver = any(w in (extra or "") for w in ("route ", "resolver "))
        if not deliver and "delivery " not in (extra or ""):
            text += "delivery off\n"
        return text

    def write_config(self, extra=None, listens=None):
        """(Re)write the standard config: our port plus extra listens/lines
        (both remembered for later restarts)."""
        if extra is not None:
            self.extra = extra
        if listens is not None:
            self.listens = list(listens)
        self.custom_conf = None
        with open(self.conf_path, "w") as f:
            f.write(self.config_text(extra, listens))

    def write_config_text(self, text):
        """Write the config verbatim (for reload tests)."""
        self.custom_conf = text
        with open(self.conf_path, "w") as f:
            f.write(text)

    # -- process
    def _read_stderr(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._cond.notify_all()

    def start(self, timeout=DEFAULT_TIMEOUT):
        auto_port = self.custom_conf is None
        for attempt in range(4):
            if auto_port:
                if self.port is None or attempt > 0:
                    self.port = free_port()
                self.write_config()
            if self._start_once(timeout):
                return self
            if not (auto_port and "Address already in use" in self.log_text(self.run_start)):
                break
        raise AssertionError("mtad did not become ready:\n" + self.log_text(self.run_start))

    def _start_once(self, timeout):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self._cond:
            self.run_start = len(self.lines)
        self.proc = subprocess.Popen(
            [MTAD_BIN, "-f", self.conf_path], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(self.dir),
            env=self.env)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read_stderr,
                                        args=(self.proc.stderr,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        pat = re.compile(r"^\S+ mtad event=ready .*\bpid=(\d+)\b")
        with self._cond:
            while True:
                for line in self.lines[self.run_start:]:
                    m = pat.search(line)
                    if m:
                        assert int(m.group(1)) == self.proc.pid, line
                        return True
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill9()
                    raise AssertionError(f"no event=ready within {timeout}s:\n"
                                         + self.log_text(self.run_start))
                self._cond.wait(min(left, 0.1))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        assert self.running(), "mtad is not running:\n" + self.log_text()
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=DEFAULT_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mtad pid {self.pid} did not exit within {timeout}s:\n"
                                 + self.log_text(self.run_start)) from None
        if self._reader:
            self._reader.join(5)
        return rc

    def stop(self, timeout=25):
        """SIGTERM, bounded wait, assert a clean exit 0."""
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        assert rc == 0, f"mtad exited {rc}:\n" + self.log_text(self.run_start)
        assert self.find_log(r"^\S+ mtad event=stopped\b", self.run_start), \
            self.log_text(self.run_start)
        return rc

    def kill9(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            if self._reader:
                self._reader.join(5)

    def restart(self, timeout=DEFAULT_TIMEOUT):
        assert not self.running(), "restart() of a running mtad"
        return self.start(timeout)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    # -- log
    @property
    def log(self):
        """A copy of the stderr lines collected so far (all runs)."""
        with self._cond:
            return list(self.lines)

    def mark(self):
        with self._cond:
            return len(self.lines)

    def log_text(self, since=0):
        with self._cond:
            return "\n".join(self.lines[since:])

    def find_log(self, regex, since=None):
        pat = re.compile(regex)
        since = self.run_start if since is None else since
        with self._cond:
            for line in self.lines[since:]:
                m = pat.search(line)
                if m:
                    return m
        return None

    def find_all_log(self, regex, since=None):
        pat = re.compile(regex)
        since = self.run_start if since is None else since
        with self._cond:
            return [m for m in map(pat.search, self.lines[since:]) if m]

    def wait_for_log(self, regex, timeout=DEFAULT_TIMEOUT, since=None):
        """The first log line (from `since`, default: this run) matching regex."""
        pat = re.compile(regex)
        since = self.run_start if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[since:]:
                    m = pat.search(line)
                    if m:
                        return m
                reader_done = self._reader is None or not self._reader.is_alive()
                left = deadline - time.monotonic()
                if left <= 0 or reader_done:
                    why = "mtad's stderr closed" if reader_done else f"{timeout}s passed"
                    raise AssertionError(f"log line /{regex}/ not seen ({why}):\n"
                                         + "\n".join(self.lines[since:]))
                self._cond.wait(min(left, 0.1))

    # -- queue
    def db_rows(self, sql, params=()):
        return db_query(self.db_path, sql, params)

    def message_count(self):
        return self.db_rows("SELECT count(*) FROM messages")[0][0]

    # -- mtactl
    def mtactl(self, *args, input="", timeout=DEFAULT_TIMEOUT):
        """MTACTL_BIN -f <this config> ARGS, `input` (str) on its stdin (never
        a tty): the CompletedProcess, text mode."""
        assert MTACTL_BIN and os.access(MTACTL_BIN, os.X_OK), \
            f"MTACTL_BIN={MTACTL_BIN!r} is not executable (make; or set MTACTL_BIN)"
        return subprocess.run([MTACTL_BIN, "-f", self.conf_path, *args], input=input,
                              capture_output=True, encoding="utf-8", timeout=timeout,
                              cwd=str(self.dir), env=self.env)

    def add_user(self, name, password, domains=None):
        """`mtactl user add NAME [--domains D,...]`, the password on stdin."""
        args = ["user", "add", name] + (["--domains", domains] if domains else [])
        r = self.mtactl(*args, input=password + "\n")
        assert r.returncode == 0, f"mtactl {args}: exit {r.returncode}: {r.stderr}"
        return r


# ---------------------------------------------------------------- SMTP client

class Closed(Exception):
    """The server closed the connection while we waited for a reply."""


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])

    @property
    def line(self):
        """The last (or only) line, e.g. '250 2.1.0 Ok'."""
        return self.lines[-1]

    def __repr__(self):
        return f"Reply({self.lines!r})"


class Client:
    """A raw SMTP client: exact bytes out, replies parsed strictly (CRLF)."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=DEFAULT_TIMEOUT):
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=src)
        self.buf = b""
        self.timeout = timeout

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply line; have {self.buf!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no complete reply line; have {self.buf!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(f"connection closed; unparsed {self.buf!r}")
        self.buf += chunk

    def read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        assert b"\n" not in line and b"\r" not in line, f"bad reply framing: {line!r}"
        return line.decode("utf-8")

    def reply(self, timeout=None):
        """One complete (possibly multi-line) reply."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            line = self.read_line(max(deadline - time.monotonic(), 0.001))
            assert re.match(r"^[2-5]\d\d[ -]", line), f"not a reply line: {line!r}"
            if lines:
                assert line[:3] == lines[0][:3], f"code changed inside a reply: {lines + [line]}"
            lines.append(line)
            if line[3] == " ":
                return Reply(lines)

    def replies(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        return [self.reply(max(deadline - time.monotonic(), 0.001)) for _ in range(n)]

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply(timeout)

    def expect(self, line, expected, timeout=None):
        """Send one command; assert the whole last reply line."""
        r = self.cmd(line, timeout)
        assert r.line == expected, f"{line!r}: got {r.lines}, want {expected!r}"
        return r

    def greeting(self):
        r = self.reply()
        assert r.line == f"220 {HOSTNAME} ESMTP mtad", r.lines
        return r

    def ehlo(self, name="client.example"):
        r = self.cmd(f"EHLO {name}")
        assert r.code == 250, r.lines
        assert r.lines[0] == f"250-{HOSTNAME}", r.lines
        return r

    def start_txn(self, sender="sender@example.org", rcpts=("rcpt@example.net",),
                  mail_params=""):
        self.expect(f"MAIL FROM:<{sender}>{mail_params}", "250 2.1.0 Ok")
        for r in rcpts:
            self.expect(f"RCPT TO:<{r}>", "250 2.1.5 Ok")
        self.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")

    def send_message(self, body=b"Subject: test\r\n\r\nhello\r\n", **kw):
        """MAIL/RCPT/DATA, body (must end in CRLF), '.'; returns the queue ID."""
        self.start_txn(**kw)
        self.send(body + b".\r\n")
        r = self.reply()
        m = QUEUED_RE.match(r.line)
        assert m, f"message not queued: {r.lines}"
        return m.group(1)

    def wait_closed(self, timeout=None):
        """Assert the server closes the connection with nothing more to say."""
        deadline = time.monotonic() + (timeout or self.timeout)
        extra = self.buf
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection still open; got {extra!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                assert extra == b"", f"unexpected data before close: {extra!r}"
                return
            extra += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def received_re(qid, helo="client.example", ip="127.0.0.1", rcpt=None, proto="ESMTP"):
    """Regex for our Received: header, anchored at the start of the body."""
    date = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000"
    for_ = rf"\r\n\tfor <{re.escape(rcpt)}>" if rcpt else ""
    return re.compile(
        (rf"^Received: from {re.escape(helo)} \(\[{re.escape(ip)}\]\)\r\n"
         rf"\tby {re.escape(HOSTNAME)} \(mtad\) with {proto} id {qid}{for_}; {date}\r\n")
        .encode("utf-8"))
