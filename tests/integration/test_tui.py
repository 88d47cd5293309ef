"""End-to-end tests of mtatui, the ncurses admin console, in a real terminal.

mtatui runs in tmux (a private server per test: `tmux -L NAME`, status line
off so the pane is the whole window, remain-on-exit so a dead pane keeps its
last screen; a wrapper records mtatui's pid and exit status) against a real mtad with real queued, deferred and bounced mail
(the `relay` and `sink` fixtures of test_mtactl.py: every domain goes to an
aiosmtpd sink that answers 451 or 550 as a test says, `retry 1h`).  Keys go
in with `tmux send-keys`; special keys as the terminfo entry of the pane's
TERM says (tmux's own Home, "\\e[1~", is no key to an xterm-256color ncurses).
Every check polls `tmux capture-pane -p` until the screen matches, against a
monotonic deadline; a timeout fails with the last screen.  What mtatui
did is checked from outside too: `mtactl --json queue`, the queue database,
the sink.

The UI contract is /tmp/tui/spec.md (LINES x COLS): line 0 the title,
line 1 the tabs, line 2 the column headers, rows from line 3, line LINES-2
the message line, line LINES-1 the function-key bar.

Run: make integration PYTEST_ARGS="-k tui"
  or MTAD_BIN=build/mtad MTACTL_BIN=build/mtactl [MTATUI_BIN=build/mtatui] \\
     /usr/bin/python3 -m pytest -q tests/integration/test_tui.py
"""
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from mtadtest import HOSTNAME, MTACTL_BIN, QID_RE, Client, wait_until
# the fixtures and helpers of the mtactl tests (fixtures by name: pytest finds them here)
from test_mtactl import (DEFER, T, ctl_json, rcpt_states, relay, sink,  # noqa: F401
                         sink_rcpt_count, submit, wait_deferred)

# mtatui: MTATUI_BIN, else the one built beside mtactl
MTATUI_BIN = os.environ.get("MTATUI_BIN") or (
    os.path.join(os.path.dirname(MTACTL_BIN), "mtatui") if MTACTL_BIN else "")
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
TUI_ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "ESCDELAY": "25"}
# what the environment of mtatui may keep from ours (sanitizer builds)
PASS_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
FKEY_RE = (r"F1\s*Help\s*F2\s*Queue\s*F3\s*Domains\s*F4\s*Bounces\s*F5\s*Stats\s*"
           r"F6\s*Log\s*F10\s*Quit")
TABS_RE = r"1 Queue\s+2 Domains\s+3 Bounces\s+4 Stats\s+5 Log"
QUEUE_HDR_RE = r"\bID\s+AGE\s+STATE\s+TRY\s+NEXT\s+SENDER\s+RECIPIENT\b"
TITLE_RE = (rf"^mtatui\s+{re.escape(HOSTNAME)}\s+up \S+\s+queued (\d+)\s+deferred (\d+)\s+"
            r"held (\d+)\s+sending (\d+)\b")
RATE_RE = r"\bsending \d+\s+\d+/min$"        # the title's end, when it fits
NOT_RUNNING = "mtad is not running"
# terminfo capabilities of the keys we send by name
KEY_CAPS = {"Up": "kcuu1", "Down": "kcud1", "Left": "kcub1", "Right": "kcuf1",
            "Home": "khome", "End": "kend", "PgUp": "kpp", "PgDn": "knp", "BTab": "kcbt",
            **{f"F{i}": f"kf{i}" for i in range(1, 13)}}
SGR_RE = re.compile(r"\x1b\[([0-9;:]*)m")

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")


@pytest.fixture(autouse=True, scope="module")
def _require_mtatui():
    """No silent skips: without mtatui and tmux every test here errors out."""
    if not (MTATUI_BIN and os.path.isfile(MTATUI_BIN) and os.access(MTATUI_BIN, os.X_OK)):
        pytest.fail(f"MTATUI_BIN={MTATUI_BIN!r} is not an executable file (make; or set "
                    "MTATUI_BIN)", pytrace=False)
    if not os.access(TMUX, os.X_OK):
        pytest.fail("tmux is not installed (apt-get install tmux)", pytrace=False)


# ---------------------------------------------------------------- the terminal

_keyseq_cache = {}


def keyseq(term, name):
    """The bytes a terminal of type `term` sends for key `name` (terminfo),
    or None when it has no such key."""
    k = (term, name)
    if k not in _keyseq_cache:
        r = subprocess.run(["tput", "-T", term, KEY_CAPS[name]], capture_output=True,
                           timeout=T)
        _keyseq_cache[k] = r.stdout if r.returncode == 0 and r.stdout else None
    return _keyseq_cache[k]


def tmux_env():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
           "LANG": "C.UTF-8", "SHELL": "/bin/sh"}
    if os.environ.get("TMUX_TMPDIR"):
        env["TMUX_TMPDIR"] = os.environ["TMUX_TMPDIR"]
    return env


class Tui:
    """One tmux server (private socket) with one pane: mtatui, or an
    interactive sh (shell=True) to run it from."""

    def __init__(self, base, m, cols=120, rows=40, env=None, shell=False):
        self.m = m
        self.cols, self.rows = cols, rows
        self.socket = f"mtatui-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.dir = base / self.socket
        self.dir.mkdir(parents=True)
        self.env = dict(TUI_ENV, **(env or {}))
        self.term = self.env["TERM"]
        self.shell = shell
        self.pid = None
        self.socket_path = None
        self.conf = self.dir / "tmux.conf"
        self.conf.write_text("set-option -g status off\n"
                             "set-option -wg remain-on-exit on\n"
                             "set-option -g history-limit 100\n")
        self.last = []

    # -- commands
    def tmux(self, *args, check=True):
        r = subprocess.run([TMUX, "-L", self.socket, "-f", str(self.conf), *args],
                           capture_output=True, timeout=T, env=tmux_env())
        if check:
            assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr!r}"
        return r.stdout.decode("utf-8", "replace")

    def mtatui_argv(self):
        env = dict(self.env)
        for k in PASS_ENV:
            if k in os.environ:
                env.setdefault(k, os.environ[k])
        env.setdefault("PATH", "/usr/bin:/bin")
        return (["env", "-i"] + [f"{k}={v}" for k, v in env.items()] +
                [MTATUI_BIN, "-f", self.m.conf_path])

    def start(self):
        # ./run-mtatui: mtatui with its pid in mtatui.pid; the pane runs it
        # and writes its exit status to mtatui.rc (tmux 3.3a's
        # #{pane_dead_status} stays empty now and then: not relied on)
        (self.dir / "run-mtatui").write_text(
            "echo $$ > mtatui.pid\nexec " + shlex.join(self.mtatui_argv()) + "\n")
        if self.shell:
            cmd = shlex.join(["env", "-i", "PATH=/usr/bin:/bin", f"HOME={self.dir}",
                              "LANG=C.UTF-8", "PS1=$ ", "TERM=xterm-256color", "sh", "-i"])
        else:
            cmd = "sh ./run-mtatui; echo $? > mtatui.rc"
        self.tmux("new-session", "-d", "-s", "main", "-x", str(self.cols), "-y",
                  str(self.rows), "-c", str(self.dir), cmd)
        # kill-server leaves the socket file behind (tmux 3.3a): close() removes it
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        info = self.info()
        assert (info["w"], info["h"]) == (self.cols, self.rows), info
        if not self.shell:
            self.mtatui_pid()
        return self

    def mtatui_pid(self):
        """mtatui's pid, once ./run-mtatui has started it."""
        f = self.dir / "mtatui.pid"
        wait_until(lambda: f.exists() and f.read_text().strip(), T, "mtatui.pid")
        self.pid = int(f.read_text())
        return self.pid

    def close(self):
        self.tmux("kill-server", check=False)
        if self.socket_path and os.path.basename(self.socket_path) == self.socket:
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
        # kill-server hangs up the pane; an mtatui that survives that is ours to end
        if self.pid:
            try:
                wait_until(lambda: not _alive_mtatui(self.pid), 3, "mtatui to exit")
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)

    def info(self):
        out = self.tmux("display-message", "-p", "-t", "main",
                        "#{pane_dead}|#{pane_width}|#{pane_height}|#{alternate_on}").strip()
        dead, w, h, alt = out.split("|")
        return {"dead": dead == "1", "w": int(w), "h": int(h), "alt": alt == "1"}

    # -- keys
    def keys(self, *names):
        """Named keys (Down, Home, F1, Escape, Enter, C-l ...): terminfo's
        sequence for those it knows, else tmux's."""
        for name in names:
            seq = keyseq(self.term, name) if name in KEY_CAPS else None
            if seq:
                self.tmux("send-keys", "-t", "main", "-H", *[f"{b:02x}" for b in seq])
            else:
                self.tmux("send-keys", "-t", "main", name)

    def type(self, text):
        self.tmux("send-keys", "-t", "main", "-l", text)

    # -- screen
    def screen(self, escapes=False):
        out = self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "main")
        lines = out.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines

    def dump(self, lines=None):
        lines = self.last if lines is None else lines
        w = max([self.cols] + [len(ln) for ln in lines])
        bar = "   +" + "-" * w + "+"
        return "\n".join([bar] + [f"{i:2d} |{ln.ljust(w)}|" for i, ln in enumerate(lines)]
                         + [bar])

    def line(self, n, lines=None):
        lines = self.last if lines is None else lines
        if n < 0:
            n += self.rows
        return lines[n] if n < len(lines) else ""

    def wait(self, check, timeout=T, what=None, dead_ok=False):
        """Poll the screen until check(lines) is true: its value.  check may
        be a regex (searched in the whole screen, multi-line).  A pane that
        died meanwhile fails at once (unless dead_ok)."""
        if isinstance(check, str):
            rx = re.compile(check, re.M)
            what = what or f"/{check}/"
            check = lambda lines: rx.search("\n".join(lines))  # noqa: E731
        deadline = time.monotonic() + timeout
        while True:
            self.last = self.screen()
            v = check(self.last)
            if v:
                return v
            if not dead_ok:
                info = self.info()
                if info["dead"]:
                    self.last = self.screen()
                    rc = self.dir / "mtatui.rc"
                    rc = rc.read_text().strip() if rc.exists() else "?"
                    raise AssertionError(
                        f"mtatui exited (status {rc}) while waiting for "
                        f"{what or 'a screen'}; last screen:\n" + self.dump())
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or 'a screen'}; last screen:\n" + self.dump())
            time.sleep(0.05)

    def wait_line(self, n, regex, timeout=T, what=None):
        rx = re.compile(regex)
        return self.wait(lambda lines: rx.search(self.line(n, lines)), timeout,
                         what or f"line {n} matching /{regex}/")

    def wait_gone(self, regex, timeout=T, what=None):
        rx = re.compile(regex, re.M)
        return self.wait(lambda lines: not rx.search("\n".join(lines)), timeout,
                         what or f"/{regex}/ to go away")

    def wait_exit(self, timeout=T):
        """mtatui (not in shell mode) exited: its exit status, as sh tells
        it (128 + N after signal N)."""
        rc = self.dir / "mtatui.rc"
        self.wait(lambda _lines: self.info()["dead"] and rc.exists() and rc.read_text(),
                  timeout, "mtatui to exit", dead_ok=True)
        return int(rc.read_text())

    # -- the queue screen
    def rows_of(self, lines, qids):
        """[(screen line number, qid)] of the list rows (line 3 to LINES-3)
        showing one of qids."""
        out = []
        for n in range(3, self.rows - 2):
            ln = self.line(n, lines)
            found = [q for q in qids if re.search(rf"(?<![0-9a-z]){q}(?![0-9a-z])", ln)]
            if found:
                assert len(found) == 1, f"two IDs on line {n}:\n" + self.dump(lines)
                out.append((n, found[0]))
        return out

    def wait_rows(self, qids, shown, timeout=T, what=None):
        """Wait until the rows showing one of qids show exactly the
        multiset `shown` (a list of qids); the rows."""
        want = sorted(shown)
        rows = []

        def ok(lines):
            rows[:] = self.rows_of(lines, qids)
            return sorted(q for _, q in rows) == want
        self.wait(ok, timeout, what or f"rows of exactly {want}")
        return list(rows)


def _alive_mtatui(pid):
    """pid is a live mtatui (not a zombie, nor a process that got the pid since)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z" and os.readlink(f"/proc/{pid}/exe") == os.path.realpath(MTATUI_BIN)
    except (OSError, IndexError):
        return False


@pytest.fixture
def tui(tmp_path):
    """Factory: tui(m, cols=120, rows=40, env={}, shell=False) -> a started
    Tui on mtad m; every tmux server is killed at teardown."""
    made = []

    def start(m, **kw):
        t = Tui(tmp_path, m, **kw)
        made.append(t)
        return t.start()
    yield start
    for t in made:
        t.close()


@pytest.fixture
def short_state_dir():
    """A state_dir with a short path (the banner names its control.sock)."""
    d = tempfile.mkdtemp(prefix="tui")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- checks

def check_layout(t, lines):
    """The contract's layout, on a screen of t.rows x t.cols: problems found."""
    problems = []
    if len(lines) != t.rows:
        problems.append(f"{len(lines)} lines, not {t.rows}")
    for i, ln in enumerate(lines):
        if len(ln) > t.cols:
            problems.append(f"line {i} is {len(ln)} columns wide")
    if not t.line(0, lines).startswith("mtatui"):
        problems.append("line 0 is not the title")
    if not re.search(TABS_RE, t.line(1, lines)):
        problems.append("line 1 is not the tabs")
    if not re.search(QUEUE_HDR_RE, t.line(2, lines)):
        problems.append("line 2 is not the queue's column headers")
    if not re.search(FKEY_RE, t.line(t.rows - 1, lines)):
        problems.append(f"line {t.rows - 1} (the last) is not the function-key bar")
    for i in range(t.rows - 1):
        if re.search(r"F10\s*Quit", t.line(i, lines)):
            problems.append(f"the function-key bar (also) on line {i}")
    return problems


def wait_layout(t, ids):
    """Wait until the queue screen has the contract's layout and shows ids."""
    got = []

    def ok(lines):
        got[:] = check_layout(t, lines)
        shown = {q for _, q in t.rows_of(lines, ids)}
        if shown != set(ids):
            got.append(f"rows show {sorted(shown)}, want {sorted(ids)}")
        return not got
    try:
        t.wait(ok, what=f"the {t.cols}x{t.rows} queue layout")
    except AssertionError as e:
        raise AssertionError("\n".join(got) + "\n" + str(e)) from None


def queue_states(m):
    """{recipient: state} from `mtactl --json queue`."""
    return {r["recipient"]: r["state"] for r in ctl_json(m, "queue")}


def colors_used(escaped_lines):
    """The SGR sequences of a `capture-pane -e` that set a colour."""
    found = []
    for ln in escaped_lines:
        for mt in SGR_RE.finditer(ln):
            ps = [p for p in re.split("[;:]", mt.group(1)) if p]
            for p in ps:
                n = int(p)
                if 30 <= n <= 38 or 40 <= n <= 48 or 90 <= n <= 97 or 100 <= n <= 107:
                    found.append(repr(mt.group(0)))
                    break
    return found


def deferred_queue(m, pairs):
    """Submit (sender, [rcpts]) pairs, wait until every recipient is
    deferred: the queue IDs in order."""
    qids = [submit(m, s, r) for s, r in pairs]
    wait_deferred(m, [a for _, r in pairs for a in r])
    return qids


def search(t, text):
    """/ TEXT Enter; the prompt may come with the current search in it:
    that is rubbed out first."""
    t.type("/")
    m = t.wait_line(-2, r"Search: ?(.*)$", what="the Search: prompt")
    old = m.group(1).rstrip()
    if old:
        t.keys(*["BSpace"] * len(old))
        t.wait_line(-2, r"Search:$", what="the prompt emptied with Backspace")
    t.type(text)
    t.wait_line(-2, rf"Search: {re.escape(text)}$", what="the typed text at the prompt")
    t.keys("Enter")
    t.wait_line(-2, r"^(?!.*Search:)", what="the prompt to go at Enter")


# ---------------------------------------------------------------- 1: the queue

def test_tui_queue_shows_deferred_ids(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    q1, q2 = deferred_queue(m, [("alice@example.org", ["a1@one.example", "a2@two.example"]),
                                ("bob@example.com", ["b1@three.example",
                                                     "z@xn--bcher-kva.example"])])
    t = tui(m)
    rows = t.wait_rows([q1, q2], [q1, q1, q2, q2], what="a row per deferred recipient")
    wait_layout(t, [q1, q2])
    lines = t.last
    title = re.search(TITLE_RE, t.line(0, lines))
    assert title and title.groups() == ("0", "4", "0", "0"), \
        "title: want queued 0 deferred 4 held 0 sending 0\n" + t.dump(lines)
    assert re.search(RATE_RE, t.line(0, lines)), "title: no R/min at the end\n" + t.dump(lines)
    assert re.search(QUEUE_HDR_RE + r"\s+LAST REPLY", t.line(2, lines)), t.dump(lines)
    for n, q in rows:
        ln = t.line(n, lines)
        assert re.search(r"\bdeferred\b", ln) and re.search(r"\b451 4\.3\.0\b", ln), \
            f"line {n}: no state / last reply:\n" + t.dump(lines)
    # (the IDN in U-labels: LANG=C.UTF-8)
    for addr in ("a1@one.example", "a2@two.example", "b1@three.example", "z@b\u00fccher.example"):
        assert any(addr in t.line(n, lines) for n, _ in rows), (addr, t.dump(lines))


# ---------------------------------------------------------------- 2: r

def test_tui_retry_key(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    q1, q2 = deferred_queue(m, [("s1@example.org", ["r1@one.example"]),
                                ("s2@example.org", ["r2@two.example"])])
    t = tui(m)
    t.wait_rows([q1, q2], [q1, q2])
    t.keys("Home")
    rows = t.wait_rows([q1, q2], [q1, q2])
    first = rows[0][1]
    rcpt, other = ("r1@one.example", "r2@two.example") if first == q1 else \
        ("r2@two.example", "r1@one.example")
    sink.clear_rules()                  # the sink takes mail from now on
    t.type("r")
    t.wait_line(-2, r"\b1 recipients to be tried now\b", what="the retry's message line")
    sink.wait_messages(1, T, rcpt=rcpt)
    m.wait_for_log(rf"^\S+ {first} event=delivery rcpt={re.escape(rcpt)} .* status=sent ")
    # the row under the cursor only: the other one keeps its hour
    assert sink_rcpt_count(sink, other) == 1, f"{other} was tried again"
    assert sink.messages_for(other) == []
    assert rcpt_states(m)[other] == ("deferred", 1), rcpt_states(m)
    # and the list follows: the delivered row goes away
    t.wait_rows([q1, q2], [q1 if first == q2 else q2], what="the delivered row to go")


# ---------------------------------------------------------------- 3: d

def test_tui_purge_key_confirms(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    q1, q2 = deferred_queue(m, [("p1s@purge.example", ["p1@one.example"]),
                                ("p2s@purge.example", ["p2@two.example"])])
    t = tui(m)
    t.wait_rows([q1, q2], [q1, q2])
    t.keys("Home")
    first = t.wait_rows([q1, q2], [q1, q2])[0][1]
    gone, kept = ("p1@one.example", "p2@two.example") if first == q1 else \
        ("p2@two.example", "p1@one.example")
    kept_q = q2 if first == q1 else q1
    dialog = r"Purge 1 recipients\? No DSN is sent\."
    # n: the dialog goes, nothing purged
    t.type("d")
    t.wait(dialog, what="the purge dialog")
    t.wait(r"y: yes\s+n, Esc: no", what="the dialog's y/n line")
    t.type("n")
    t.wait_gone(dialog)
    assert sorted(queue_states(m)) == ["p1@one.example", "p2@two.example"], \
        "n in the purge dialog purged:\n" + t.dump()
    t.wait_rows([q1, q2], [q1, q2])
    # Esc: no as well
    t.type("d")
    t.wait(dialog)
    t.keys("Escape")
    t.wait_gone(dialog, what="Esc to close the dialog")
    # y: purged (1, so nothing went at the n or the Esc)
    t.type("d")
    t.wait(dialog)
    t.type("y")
    t.wait_line(-2, r"\b1 recipients purged \(no DSN sent\)", what="the purge's message line")
    t.wait_gone(dialog)
    assert queue_states(m) == {kept: "deferred"}, queue_states(m)
    assert m.db_rows("SELECT count(*) FROM messages WHERE queue_id = ?", (first,)) == [(0,)]
    t.wait_rows([q1, q2], [kept_q], what="the purged row to go")
    # the sink takes mail now: the kept one arrives, the purged one and a DSN never
    sink.clear_rules()
    assert ctl_json(m, "retry", "--all") == {"count": 1}
    sink.wait_messages(1, T, rcpt=kept)
    m.wait_for_log(rf"^\S+ {kept_q} event=delivery .* status=sent ")
    wait_until(lambda: m.message_count() == 0, T, "an empty queue")
    assert sink_rcpt_count(sink, gone) == 1, "the purged recipient was tried again"
    assert [x.rcpts for x in sink.snapshot()] == [[kept]], sink.snapshot()
    assert m.db_rows("SELECT count(*) FROM bounces") == [(0,)]


# ---------------------------------------------------------------- 4: /

def test_tui_search_narrows_and_c_clears(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    qa, qb, qc = deferred_queue(m, [("alice@example.org", ["needle1@a.example"]),
                                    ("needle-s@example.org", ["b@b.example"]),
                                    ("carol@example.org", ["c@c.example"])])
    ids = [qa, qb, qc]
    t = tui(m, cols=120, rows=40)
    t.wait_rows(ids, ids)
    # by recipient or sender
    search(t, "needle")
    t.wait_rows(ids, [qa, qb], what="only the rows matching 'needle'")
    t.wait_line(1, r"search:needle\b", what="the filter summary")
    # by queue ID (a new search replaces the old one)
    search(t, qc)
    t.wait_rows(ids, [qc], what=f"only the row of {qc}")
    t.wait_line(1, rf"search:{qc}\b", what="the filter summary")
    # nothing matches: no rows
    search(t, "no-such-thing")
    t.wait_rows(ids, [], what="no rows")
    # c clears
    t.type("c")
    t.wait_rows(ids, ids, what="every row after c")
    t.wait_line(1, r"^(?!.*search:)", what="no search in the filter summary")
    # Esc cancels a search being typed
    t.type("/")
    t.wait_line(-2, r"Search:")
    t.type("needle")
    t.keys("Escape")
    t.wait_line(-2, r"^(?!.*Search:)", what="the prompt to go at Esc")
    t.wait_rows(ids, ids, what="every row after a cancelled search")


def test_tui_search_finds_what_it_shows(relay, sink, tui):
    """The queue shows IDN domains in U-labels (z@b\u00fccher.example) and
    mixed-case addresses as they came: a search for what is on the screen
    finds the row."""
    sink.on_rcpt(DEFER)
    m = relay()
    qi, qm, qo = deferred_queue(m, [("x@example.org", ["z@xn--bcher-kva.example"]),
                                    ("Mixed.Case@Example.org", ["m@m.example"]),
                                    ("o@example.org", ["o@other.example"])])
    ids = [qi, qm, qo]
    t = tui(m)
    t.wait_rows(ids, ids)
    t.wait("z@b\u00fccher\\.example", what="the IDN in U-labels")
    search(t, "Mixed.Case")
    t.wait_rows(ids, [qm], what="the row of Mixed.Case@Example.org")
    search(t, "xn--bcher-kva")
    t.wait_rows(ids, [qi], what="the IDN row, searched in A-labels")
    search(t, "b\u00fccher")
    t.wait_rows(ids, [qi], what="the IDN row, searched as shown (U-labels)")


# ---------------------------------------------------------------- 5: t, h

def test_tui_tag_two_rows_and_hold(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    rcpts = {}
    ids = []
    for i, dom in enumerate(("one", "two", "three")):
        addr = f"t{i}@{dom}.example"
        q = submit(m, f"s{i}@example.org", [addr])
        rcpts[q] = addr
        ids.append(q)
    wait_deferred(m, rcpts.values())
    t = tui(m)
    t.wait_rows(ids, ids)
    t.keys("Home")
    rows = t.wait_rows(ids, ids)
    tagged = [rows[0][1], rows[1][1]]
    untouched = rows[2][1]
    t.type("t")
    t.type("t")

    def marks(lines):
        return [q for n, q in t.rows_of(lines, ids) if t.line(n, lines).lstrip().startswith("*")]
    t.wait(lambda lines: sorted(marks(lines)) == sorted(tagged),
           what=f"* on the rows of {tagged}")
    t.type("h")
    t.wait_line(-2, r"\b2 recipients held\b", what="the hold's message line")
    st = queue_states(m)
    assert st == {rcpts[tagged[0]]: "held", rcpts[tagged[1]]: "held",
                  rcpts[untouched]: "deferred"}, st
    status = ctl_json(m, "status")["queue"]
    assert (status["held"], status["deferred"]) == (2, 1), status
    # the rows say so
    rx = re.compile(r"\bheld\b")
    t.wait(lambda lines: sorted(q for n, q in t.rows_of(lines, ids)
                                if rx.search(t.line(n, lines))) == sorted(tagged),
           what="STATE held on the two tagged rows only")


# ---------------------------------------------------------------- 6: bounces

def test_tui_bounces_screen_and_detail(relay, sink, tui):
    sender = "bsender@example.org"
    # a reply as long as real ones are: wider than the screen
    reply = ("550 5.1.1 <gone@hard.example>: Recipient address rejected: the email account "
             "that you tried to reach does not exist; please check the address for typos "
             "(https://support.example/NoSuchUser)")
    assert len(reply) > 120
    sink.on_rcpt(reply, rcpts=["gone@hard.example"])
    m = relay()
    qid = submit(m, sender, ["gone@hard.example"])
    dsn = m.wait_for_log(rf"^\S+ ({QID_RE}) event=dsn_queued msg=\"for {qid} ").group(1)
    sink.wait_messages(1, T, rcpt=sender)               # the DSN arrived
    t = tui(m)
    t.wait_line(0, r"^mtatui\b")
    t.type("3")
    t.wait_line(2, r"\bTIME\s+CLASS\s+CODE\s+RECIPIENT\s+REPLY\b", what="the bounces headers")
    row = t.wait(lambda lines: next((n for n in range(3, t.rows - 2)
                                     if "gone@hard.example" in t.line(n, lines)), None),
                 what="the bounce row")
    ln = t.line(row)
    assert re.search(r"\bhard\b", ln) and re.search(r"\b550 5\.1\.1\b", ln), \
        f"line {row}: class hard and code 550 5.1.1:\n" + t.dump()
    # mtad has the whole reply
    assert [b["reply"] for b in ctl_json(m, "bounces")] == [reply]
    t.keys("Enter")
    t.wait(rf"\b{qid}\b", what="the queue ID in the detail")
    t.wait(re.escape(sender), what="the sender in the detail")
    t.wait(re.escape(f"127.0.0.1[127.0.0.1]:{sink.port}"), what="the remote in the detail")
    t.wait(rf"DSN:\s+queued as {dsn}\b", what=f"'DSN: queued as {dsn}'")
    # q goes back to the list
    t.type("q")
    t.wait_line(2, r"\bTIME\s+CLASS\s+CODE\s+RECIPIENT\s+REPLY\b", what="back in the list")
    t.wait_gone(r"DSN:\s+queued as")
    # the detail has the full reply, wrapped over lines or not
    t.keys("Enter")
    t.wait(rf"DSN:\s+queued as {dsn}\b")
    squeezed = "".join(reply.split())
    t.wait(lambda lines: squeezed in "".join("".join(lines[3:t.rows - 2]).split()),
           what=f"the full reply ({len(reply)} characters) in the detail")


# ---------------------------------------------------------------- 7: daemon gone and back

def test_tui_daemon_killed_and_restarted(short_state_dir, relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay(state_dir=short_state_dir)
    ids = deferred_queue(m, [("k1@example.org", ["k1@one.example"]),
                             ("k2@example.org", ["k2@two.example"])])
    t = tui(m)
    t.wait_rows(ids, ids)
    t.wait_line(0, TITLE_RE)
    m.kill9()                           # SIGKILL, by its PID
    assert not m.running()
    t.wait(lambda lines: any(NOT_RUNNING in t.line(n, lines) for n in range(3, t.rows - 2)),
           what="the banner (in the middle of the screen)")
    # (after the first retry the line says why too: "...control.sock: Connection
    # refused; trying again)", which the contract does not have; let that be)
    banner = (rf"\(no answer on {re.escape(short_state_dir)}/control\.sock(?:: [^;)]*)?; "
              r"trying again\)")
    t.wait(banner, what="the banner's socket line")
    t.wait_line(0, rf"^mtatui\b.*{re.escape(NOT_RUNNING)}", what="the title saying so")
    assert not re.search(r"\bdeferred \d", t.line(0)), "counts in the title:\n" + t.dump()
    # back, on the same state_dir: mtatui finds it by itself
    m.restart()
    t.wait_gone(re.escape("(no answer on "), what="the banner to go")
    t.wait(lambda lines: NOT_RUNNING not in "\n".join(lines), what="no 'not running' anywhere")
    t.wait_rows(ids, ids, what="the IDs again")
    title = t.wait_line(0, TITLE_RE, what="the title's counts again")
    assert title.groups() == ("0", "2", "0", "0"), t.dump()
    # the list is the new daemon's (it was left as it was while mtad was away)
    q3 = submit(m, "k3@example.org", ["k3@three.example"])
    wait_deferred(m, ["k3@three.example"])
    t.wait_rows(ids + [q3], ids + [q3], what="mail queued after the restart")

    # an mtatui started while mtad is down waits for it too
    m.kill9()
    t2 = tui(m)
    t2.wait(banner, what="the banner of an mtatui started without mtad")
    t2.wait_line(0, rf"^mtatui\b.*{re.escape(NOT_RUNNING)}")
    t.wait(banner)
    m.restart()
    for x in (t, t2):
        x.wait_rows(ids + [q3], ids + [q3], what="the IDs once mtad is up")
        x.wait_gone(re.escape(NOT_RUNNING), what="the banner to go")


# ---------------------------------------------------------------- 8: 80x24

def test_tui_resize_to_80x24_keeps_layout(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("r1@example.org", ["r1@one.example"]),
                             ("r2@example.org", ["r2@two.example"])])
    t = tui(m, cols=120, rows=40)
    wait_layout(t, ids)
    t.tmux("resize-window", "-t", "main", "-x", "80", "-y", "24")
    t.cols, t.rows = 80, 24
    info = t.info()
    assert (info["w"], info["h"]) == (80, 24), info
    wait_layout(t, ids)
    # still answers keys, and the message line (22) gives the position
    t.keys("Home")
    t.keys("Down")
    t.wait_line(22, r"\brow 2 of 2\b", what="'row 2 of 2' on the message line")
    # back to the big size: the bar follows to the new last line
    t.tmux("resize-window", "-t", "main", "-x", "120", "-y", "40")
    t.cols, t.rows = 120, 40
    wait_layout(t, ids)


def test_tui_starts_at_80x24(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("small@example.org", ["s1@one.example", "s2@two.example"])])
    t = tui(m, cols=80, rows=24)
    t.wait_rows(ids, ids * 2)
    wait_layout(t, ids)
    title = re.search(TITLE_RE, t.line(0))
    assert title and title.groups() == ("0", "2", "0", "0"), t.dump()


# ---------------------------------------------------------------- 9: help, q

def test_tui_help_and_quit_exit_status(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("h@example.org", ["h1@one.example"])])
    t = tui(m)
    t.wait_rows(ids, ids)
    # F1: help, Esc: back
    t.keys("F1")
    t.wait("mtatui keys", what="help at F1")
    t.keys("Escape")
    t.wait_gone("mtatui keys", what="Esc to close the help")
    t.wait_line(2, QUEUE_HDR_RE)
    # ?: help, listing retry; q closes it and does not quit
    t.type("?")
    t.wait("mtatui keys", what="help at ?")
    t.wait(r"\bretry\b", what="'retry' in the help")
    t.type("q")
    t.wait_gone("mtatui keys", what="q to close the help")
    t.wait_rows(ids, ids, what="the queue after the help")
    assert not t.info()["dead"], "q in the help quit mtatui"
    # q: quit, status 0
    t.type("q")
    rc = t.wait_exit()
    assert rc == 0, f"mtatui's exit status {rc}; last screen:\n" + t.dump(t.screen())


# ---------------------------------------------------------------- 10: SIGTERM

def test_tui_sigterm_restores_the_terminal(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("term@example.org", ["t1@one.example"])])
    t = tui(m, shell=True)
    t.wait(r"^\$ ?$", what="the shell's prompt")
    t.type("stty -g > stty.before; sh ./run-mtatui; echo \"rc=$?\"; stty -g > stty.after")
    t.keys("Enter")
    t.wait_rows(ids, ids, what="mtatui's queue")
    pid = t.mtatui_pid()
    assert _alive_mtatui(pid)
    assert t.info()["alt"], "mtatui does not use the alternate screen (smcup)"
    os.kill(pid, signal.SIGTERM)
    rc = t.wait(r"^rc=(\d+)$", what="mtatui to end at SIGTERM and the shell to go on")
    assert not _alive_mtatui(pid)
    t.wait(lambda lines: not t.info()["alt"], what="the alternate screen to be left")
    # the normal screen is back: the command line, no mtatui
    lines = t.wait(lambda lines: "stty.after" in "\n".join(lines) and lines)
    assert not any(re.search(FKEY_RE, ln) or ln.startswith("mtatui ") for ln in lines), \
        "mtatui's screen left on the normal screen:\n" + t.dump(lines)
    t.wait(lambda lines: (t.dir / "stty.after").exists() and
           (t.dir / "stty.after").read_text().strip(), what="stty -g after mtatui")
    before = (t.dir / "stty.before").read_text().strip()
    after = (t.dir / "stty.after").read_text().strip()
    assert before == after, f"terminal modes not restored: {before} -> {after}"
    # what is typed is echoed (sh has no line editor: the tty echoes) and runs
    t.type("echo typed-$((6*7))")
    t.keys("Enter")
    t.wait(r"^\$ echo typed-\$\(\(6\*7\)\)$", what="the typed command echoed")
    t.wait(r"^typed-42$", what="its output")
    print(f"mtatui's exit status at SIGTERM: {rc.group(1)}")


# ---------------------------------------------------------------- 11: screens 2, 4, 5

def test_tui_domains_stats_log_screens(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("carol@sender-dom.example", ["x@dest-dom.example"])])
    t = tui(m)
    t.wait_rows(ids, ids)
    # 2: Domains
    t.type("2")
    # (the headers come after the note line: on line 3, not 2 as the contract has it)
    t.wait(r"^ ?DOMAIN\s+MSGS\s+DEFER\s+HELD\s+OLDEST\s+DKIM\s+DNS\b",
           what="the domains headers")
    row = t.wait(lambda lines: next((n for n in range(3, t.rows - 2)
                                     if "sender-dom.example" in t.line(n, lines)), None),
                 what="the sender domain's row")
    assert "not configured" in t.line(row), t.dump()
    assert "dest-dom.example" not in "\n".join(t.last), \
        "a recipient domain on the (sender) domains screen:\n" + t.dump()
    t.wait(re.escape("DKIM signing is not configured yet: these are the sender domains of "
                     "queued mail."), what="the DKIM note")
    # Enter: the queue, searched for @DOMAIN
    t.keys("Enter")
    t.wait_line(1, r"search:@sender-dom\.example\b", what="the queue searched for @domain")
    t.wait_rows(ids, ids)
    t.type("c")
    # 4: Stats
    t.type("4")
    for what in ("last hour", "last day", "last week"):
        t.wait(rf"\b{what}\b", what=what)
    t.wait(r"\breceived\s+delivered\s+deferred\s+bounced\b", what="the stats table's headers")
    t.wait(r"deliveries per minute, last hour", what="the sparkline's title")
    t.wait(r"^.*\bdest-dom\.example\b", what="the destination domain in the list")
    # 5: Log, live
    t.type("5")
    t.wait_line(1, r"5 Log")

    def any_event(lines):
        return any(" event=" in t.line(n, lines) for n in range(2, t.rows - 2))

    def prime():
        # SMTP sessions make log lines; once one shows, the screen is live
        if any_event(t.screen()):
            return True
        with Client(m.port) as c:
            c.greeting()
            c.cmd("QUIT")
        try:
            t.wait(any_event, 0.5)
            return True
        except AssertionError:
            return False
    wait_until(prime, T, "a first event on the Log screen", interval=0.05)
    qid = submit(m, "live@sender-dom.example", ["y@dest-dom.example"])
    t.wait(rf"^\s*\S+ {qid} event=received\b", what=f"the live event=received of {qid}")


# ---------------------------------------------------------------- 12: NO_COLOR, vt100

def test_tui_no_color_and_vt100(relay, sink, tui):
    sink.on_rcpt(DEFER)
    m = relay()
    ids = deferred_queue(m, [("nc@example.org", ["n1@one.example"]),
                             ("nc@example.org", ["n2@two.example"])])
    plain = tui(m, env={"NO_COLOR": "1"})
    vt = tui(m, cols=80, rows=24, env={"TERM": "vt100"})
    for t in (plain, vt):
        t.wait_rows(ids, ids, what=f"the queue with {t.env}")
        wait_layout(t, ids)
    # NO_COLOR: no colour at all
    colours = colors_used(plain.screen(escapes=True))
    assert not colours, f"NO_COLOR=1, yet colours: {colours[:5]}\n" + plain.dump()
    # keys work under vt100 too
    vt.keys("Down")
    vt.wait_line(22, r"\brow 2 of 2\b", what="'row 2 of 2' under TERM=vt100")


def test_tui_queue_marks_a_paused_destination(relay, sink, tui):
    """A 421 pauses slow.example: its waiting recipient shows `paused` in
    the Queue screen (NEXT: the pause's end), the title says PAUSED, and
    after `mtactl retry --domain` the mark goes."""
    sink.on_rcpt("421 4.7.0 try later", rcpts=["a1@slow.example"])
    m = relay()
    mark = m.mark()
    submit(m, "s@example.org", ["a1@slow.example"])
    m.wait_for_log(r"^\S+ slow\.example event=throttled ", since=mark)
    q2 = submit(m, "s@example.org", ["a2@slow.example"])
    t = tui(m)
    rows = t.wait_rows([q2], [q2], what="the paused recipient's row")
    n = rows[0][0]
    t.wait_line(n, r"\bpaused\s+0\s+(\d+s|1m\d*s?)\s", what="paused, 0 tries, NEXT ~1m")
    t.wait_line(0, r"PAUSED \(see Stats\)")
    sink.clear_rules()
    assert m.mtactl("retry", "--domain", "slow.example").returncode == 0
    sink.wait_messages(1, T, rcpt="a2@slow.example")
    t.wait_gone(r"PAUSED \(see Stats\)")
