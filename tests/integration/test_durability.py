"""What a 250 promises: the message survives kill -9, exactly once; a message
cut by kill -9 leaves nothing; and the queue is synced before the 250."""
import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from mtadtest import QUEUED_RE, Client, Closed, tcp_rx_queue, wait_until


def all_counts(m):
    return tuple(m.db_rows(f"SELECT count(*) FROM {t}")[0][0]
                 for t in ("messages", "recipients", "events"))


def test_kill9_after_250_message_kept_exactly_once(mtad, connect):
    c = connect(mtad.port)
    c.ehlo()
    qids = [c.send_message(f"Subject: durable {i}\r\n\r\nbody {i}\r\n".encode(),
                           rcpts=(f"r{i}@example.net",)) for i in range(3)]
    mtad.kill9()          # right after the last 250, no QUIT, no clean close
    assert mtad.proc.returncode == -signal.SIGKILL
    c.close()
    mtad.restart()
    assert not mtad.find_log(r" event=schema_migrated "), "schema recreated on restart"
    rows = mtad.db_rows("SELECT m.queue_id, r.address, m.body FROM messages m"
                        " JOIN recipients r ON r.message_id = m.id ORDER BY m.id")
    assert [r[:2] for r in rows] == [(q, f"r{i}@example.net") for i, q in enumerate(qids)]
    for i, r in enumerate(rows):
        assert r[2].endswith(f"\r\n\r\nbody {i}\r\n".encode())
    assert all_counts(mtad) == (3, 3, 3)
    assert sorted(mtad.db_rows("SELECT queue_id FROM events WHERE kind = 'received'")) \
        == sorted((q,) for q in qids)
    # the restarted daemon takes mail and adds to the same queue
    c2 = connect(mtad.port)
    c2.ehlo()
    q4 = c2.send_message()
    mtad.stop()
    assert q4 not in qids
    assert all_counts(mtad) == (4, 4, 4)


@pytest.mark.parametrize("tail", [
    b"Subject: cut\r\n\r\nhalf of the body\r\n",
    b"Subject: cut\r\n\r\nalmost\r\n.",            # everything but the final CRLF
], ids=["mid-body", "before-final-CRLF"])
def test_kill9_mid_data_leaves_nothing(mtad, connect, tail):
    c = connect(mtad.port)
    c.ehlo()
    c.start_txn(rcpts=("a@example.net", "b@example.net"))
    c.send(tail)
    # make sure mtad has read it all before the kill (kernel receive queue
    # of its socket drained)
    wait_until(lambda: tcp_rx_queue(mtad.port, c.local_port) == 0, 5,
               "mtad to read the partial DATA")
    mtad.kill9()
    c.close()
    mtad.restart()
    assert all_counts(mtad) == (0, 0, 0)
    c2 = connect(mtad.port)
    c2.ehlo()
    c2.send_message()
    assert all_counts(mtad) == (1, 1, 1)


# ---------------------------------------------------------------- fsync proof

SYSCALL_RE = re.compile(r"^(\d+)\s+\d\d:\d\d:\d\d\.\d+\s+(.*)$")


def parse_strace(text):
    """(kind, tid, detail) events in trace order: ('sync', tid, fd) when an
    fsync/fdatasync returned 0, ('send', tid, data) when a write/sendto
    started."""
    events, pending_sync = [], {}
    for line in text.splitlines():
        m = SYSCALL_RE.match(line)
        if not m:
            continue
        tid, call = m.group(1), m.group(2)
        sm = re.match(r"^(fsync|fdatasync)\((\d+)", call)
        if sm:
            if "<unfinished ...>" in call:
                pending_sync[tid] = int(sm.group(2))
            elif re.search(r"\)\s+= 0$", call):
                events.append(("sync", tid, int(sm.group(2))))
            continue
        rm = re.match(r"^<\.\.\. (fsync|fdatasync) resumed>.*= 0$", call)
        if rm:
            events.append(("sync", tid, pending_sync.pop(tid, None)))
            continue
        wm = re.match(r'^(write|sendto)\(\d+, "(.*?)"', call)
        if wm:
            events.append(("send", tid, wm.group(2)))
    return events


def test_queue_synced_before_250(mtad, connect, tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    out, err = tmp_path / "strace.out", tmp_path / "strace.err"
    with open(err, "w") as errf:
        st = subprocess.Popen([strace, "-f", "-tt", "-s", "256",
                               "-e", "trace=fsync,fdatasync,write,sendto",
                               "-p", str(mtad.pid), "-o", str(out)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=errf)
    try:
        wait_until(lambda: "attached" in err.read_text() or st.poll() is not None, 10,
                   "strace to attach")
        assert st.poll() is None, "strace failed: " + err.read_text()
        # readiness: a NOOP session whose reply shows in the trace
        c0 = connect(mtad.port)
        c0.expect("NOOP", "250 2.0.0 Ok")
        c0.close()
        wait_until(lambda: out.exists() and 'sendto(' in out.read_text()
                   and '"250 2.0.0 Ok\\r\\n"' in out.read_text(), 10,
                   "strace to see the NOOP session")

        c = connect(mtad.port)
        c.ehlo()
        qid = c.send_message(b"Subject: sync\r\n\r\nsynced?\r\n")
        c.expect("QUIT", "221 2.0.0 Bye")
        c.wait_closed()
        # what the daemon's descriptors are, while it still runs
        fds = {}
        for fd in os.listdir(f"/proc/{mtad.pid}/fd"):
            try:
                fds[int(fd)] = os.readlink(f"/proc/{mtad.pid}/fd/{fd}")
            except OSError:
                pass
        wait_until(lambda: f"queued as {qid}" in out.read_text(), 10,
                   "strace to record the 250")
    finally:
        if st.poll() is None:
            st.send_signal(signal.SIGINT)
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
    text = out.read_text()
    events = parse_strace(text)
    i354 = next(i for i, e in enumerate(events)
                if e[0] == "send" and e[2].startswith("354 "))
    i250 = next(i for i, e in enumerate(events)
                if e[0] == "send" and e[2] == f"250 2.0.0 Ok: queued as {qid}\\r\\n")
    assert i354 < i250
    syncs = [e for e in events[i354:i250] if e[0] == "sync"]
    assert syncs, ("no fsync/fdatasync between 354 and '250 ... queued' "
                   "(PRAGMA synchronous must be FULL):\n" + text)
    wal = os.path.join(mtad.state_dir, "mtad.db-wal")
    assert any(fds.get(fd) == wal for _, _, fd in syncs), \
        f"no sync of {wal} before the 250: syncs {syncs}, fds {fds}\n{text}"
    mtad.stop()


def test_kill9_under_concurrent_load(mtad):
    """Several clients commit at once (group commit); kill -9 while they do.
    After a restart: every acknowledged message is there exactly once, and
    everything there is a message whose final dot was sent, intact."""
    nclients = 8
    lock = threading.Lock()
    sent = {}          # token -> body, once its final dot went out
    acked = {}         # token -> queue ID
    stop = threading.Event()
    killed = threading.Event()
    early_errors = []

    def client(n):
        try:
            c = Client(mtad.port, timeout=5)
            c.greeting()
            c.ehlo(f"load{n}.example")
            i = 0
            while not stop.is_set():
                token = f"c{n}m{i}"
                body = (f"Subject: {token}\r\n\r\n{token}\r\n".encode()
                        + b"y" * 70 + b"\r\n") * (1 + i % 40)
                c.start_txn(sender=f"{token}@example.org", rcpts=(f"{token}@example.net",))
                with lock:
                    sent[token] = body
                c.send(body + b".\r\n")
                r = c.reply()
                m = QUEUED_RE.match(r.line)
                assert m, f"{token}: {r.lines}"
                with lock:
                    acked[token] = m.group(1)
                i += 1
        except (OSError, Closed, AssertionError) as e:
            if not killed.is_set():     # the kill ends every client somewhere
                early_errors.append(f"client {n}: {e!r}")
        except Exception as e:          # a bug in this test
            early_errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(nclients)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 60 or early_errors, 20, "60 acknowledged messages")
    assert not early_errors, early_errors
    killed.set()
    mtad.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert not early_errors, early_errors
    mtad.restart()
    rows = mtad.db_rows("SELECT m.queue_id, m.sender, m.body, r.address FROM messages m"
                        " JOIN recipients r ON r.message_id = m.id")
    by_token = {}
    for qid, sender, body, rcpt in rows:
        token = sender.split("@")[0]
        assert token not in by_token, f"{token} stored twice"
        by_token[token] = (qid, body, rcpt)
    for token, qid in acked.items():
        assert token in by_token, f"acknowledged {token} ({qid}) lost"
        assert by_token[token][0] == qid
    for token, (qid, body, rcpt) in by_token.items():
        assert token in sent, f"stored {token} was never completed by its client"
        assert body.endswith(b"\r\n" + sent[token]) and rcpt == f"{token}@example.net"
    assert all_counts(mtad) == (len(rows), len(rows), len(rows))
