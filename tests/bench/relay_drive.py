#!/usr/bin/python3
"""relay_drive.py -- the measuring half of tests/bench/relay (stdlib only).

    relay_drive.py run  [options]     one bounded run against a relay that is up
    relay_drive.py report RESULTS...  markdown tables from the JSON lines
    relay_drive.py ports K            K free TCP ports on 127.0.0.1
    relay_drive.py greet PORT SECONDS wait (bounded) for a 220 greeting

A run (`run`):
  1. starts Postfix's smtp-sink on 127.0.0.1:SINK, dumping to tmpfs: one
     multi-message file (-D) for the smtp-source workloads, one file per
     transaction (-d) for --w4, whose transactions carry thousands of
     recipients (-D interleaves concurrent transactions in 4 KiB chunks, so
     only headers below 4 KiB are safe there);
  2. sends the load to the relay: smtp-source -d -N (N messages, S sessions,
     R recipients, B bytes) or, for --w4, one message to N recipients
     r{i}@d{i % 1000}.test in one SMTP transaction (smtplib);
  3. meanwhile reads the dump as it grows (every 20 ms; 50 ms for -d),
     collecting the X-Rcpt-Args recipients, and samples the relay: the sum
     of RSS over its processes every 0.2 s, the sum of PSS every 1 s, and
     VmHWM of the main process; CPU from its cgroup (cpuacct), which counts
     processes that fork and exit, or from /proc of the process tree;
  4. accept = N / (start of the load .. the source's exit, or for --w4 the
     250 after DATA); end to end = N / (start .. the sink has every expected
     recipient);
  5. after a 1 s grace (late arrivals would be duplicates) stops the sink
     and verifies: exactly N*R recipient records, all distinct, exactly the
     expected set.
Appends one JSON object per run to --results and prints one line.  Every
wait is bounded by --timeout.
"""
import argparse
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
RCPT_RE = re.compile(rb"\nX-Rcpt-Args: <([^>\n]*)>")


def find_bin(name):
    for d in ("/usr/sbin", "/usr/bin", "/usr/lib/postfix/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    sys.exit("relay_drive: %s not found (apt-get install postfix)" % name)


def greet(port, deadline):
    """Bounded wait for a 220 greeting on 127.0.0.1:port."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    try:
                        s.recv(512)
                    except OSError:
                        pass
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# ------------------------------------------------------------ /proc and cgroups
def proc_stat(pid):
    """(ppid, utime+stime+cutime+cstime ticks) or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rfind(b")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])


def proc_tree(roots):
    """{pid: cpu ticks} of the live process trees under roots."""
    info, kids = {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                info[int(name)] = st
                kids.setdefault(st[0], []).append(int(name))
    out, todo = {}, [p for p in roots if p in info]
    while todo:
        p = todo.pop()
        if p not in out:
            out[p] = info[p][1]
            todo.extend(kids.get(p, ()))
    return out


def cg_procs(cg):
    try:
        with open(os.path.join(cg, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def cg_cpu_s(cg):
    try:
        with open(os.path.join(cg, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(cg, "cpu.stat")) as f:
            for line in f:
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
    except (OSError, ValueError):
        pass
    return None


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def host_cpu():
    """(total, busy, irq+softirq) jiffies over all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq
    return busy + idle + iowait + steal, busy, irq + softirq


# ------------------------------------------------------------ the sink's dump
class Tailer:
    """Reads one growing dump file, collecting X-Rcpt-Args addresses."""

    def __init__(self, path):
        self.path, self.pos, self.tail, self.f = path, 0, b"", None

    def poll(self, out):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except OSError:
                return
        self.f.seek(self.pos)
        chunk = self.f.read()
        if not chunk:
            return
        self.pos += len(chunk)
        data = self.tail + chunk
        cut = data.rfind(b"\n")       # only whole lines; the rest waits
        if cut < 0:
            self.tail = data
            return
        out.extend(RCPT_RE.findall(data, 0, cut))
        self.tail = data[cut:]

    def close(self):
        if self.f:
            self.f.close()


class Dump:
    """The sink's output: one -D file, or a directory of -d files."""

    def __init__(self, path, per_transaction):
        self.path, self.per_tx = path, per_transaction
        self.files = {}
        self.rcpts = []
        self.distinct = set()

    def poll(self):
        new = []
        if self.per_tx:
            try:
                with os.scandir(self.path) as it:
                    for e in it:
                        t = self.files.get(e.name)
                        if t is None:
                            t = self.files[e.name] = Tailer(e.path)
                            t.size = -1
                        try:
                            size = e.stat().st_size
                        except OSError:
                            continue
                        if size != t.size:
                            t.size = size
                            t.poll(new)
            except OSError:
                pass
        else:
            t = self.files.get("")
            if t is None:
                t = self.files[""] = Tailer(self.path)
            t.poll(new)
        self.rcpts.extend(new)
        self.distinct.update(new)

    def close(self):
        for t in self.files.values():
            t.close()


# ------------------------------------------------------------ W4: one big message
def send_w4(port, n, domains, result):
    """One message to n recipients in one transaction; fills result."""
    rcpts = ["r%d@d%d.test" % (i, i % domains) for i in range(n)]
    body = ("From: bench@source.test\r\nTo: undisclosed-recipients:;\r\n"
            "Subject: W4 bench\r\nMessage-ID: <w4.%d@source.test>\r\n"
            "Date: %s\r\n\r\n" % (os.getpid(), time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
            + ("0123456789" * 7 + "\r\n") * 14)          # ~1 KiB body
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="source.test", timeout=300)
        s.ehlo()
        c, m = s.mail("bench@source.test")
        if c != 250:
            raise RuntimeError("MAIL: %d %s" % (c, m[:200]))
        refused = 0
        first_refusal = None
        for r in rcpts:
            c, m = s.rcpt(r)
            if c != 250 and c != 251:
                refused += 1
                if first_refusal is None:
                    first_refusal = "%s: %d %s" % (r, c, m.decode(errors="replace")[:200])
        result["t_rcpts"] = time.monotonic()
        if refused:
            result["refused"] = refused
            result["first_refusal"] = first_refusal
        c, m = s.data(body.encode())
        result["t_data"] = time.monotonic()
        result["data_reply"] = "%d %s" % (c, m.decode(errors="replace")[:200])
        if c != 250:
            raise RuntimeError("DATA: " + result["data_reply"])
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        result["rc"] = 0 if not refused else 1
    except Exception as e:  # noqa: BLE001 -- any failure is the run's result
        result["rc"] = 1
        result["out"] = "%s: %s" % (type(e).__name__, e)
    result["t"] = time.monotonic()


# ------------------------------------------------------------ run
def cmd_run(argv):
    ap = argparse.ArgumentParser(prog="relay_drive.py run")
    ap.add_argument("--label", required=True)
    ap.add_argument("--relay", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--port", type=int, required=True, help="the relay's port")
    ap.add_argument("--sink-port", type=int, required=True)
    ap.add_argument("-n", type=int, required=True, help="messages (W4: recipients)")
    ap.add_argument("-r", type=int, default=1, help="recipients per message")
    ap.add_argument("-b", type=int, default=1024, help="body bytes")
    ap.add_argument("-s", type=int, default=10, help="sessions")
    ap.add_argument("--w4", action="store_true", help="one message to N recipients")
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--pid", type=int, help="the relay's main process")
    ap.add_argument("--cgroup", help="the relay's cgroup (CPU, members)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--workdir", required=True, help="tmpfs dir for the sink's dump")
    ap.add_argument("--results", required=True)
    ap.add_argument("--sink-user")
    a = ap.parse_args(argv)

    if a.w4:
        msgs, expect_n = 1, a.n
        want = set(b"r%d@d%d.test" % (i, i % a.domains) for i in range(a.n))
    else:
        msgs, expect_n = a.n, a.n * a.r
        want = set(b"%drcpt@sink.test" % i for i in range(1, expect_n + 1))
    res = {"label": a.label, "relay": a.relay, "workload": a.workload, "w4": a.w4,
           "n": a.n, "rcpts": a.r, "body": a.b, "sessions": a.s, "expected_rcpts": expect_n,
           "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "ok": False}
    if a.w4:
        res.update(rcpts=a.n, domains=a.domains, body=1024, sessions=1)

    os.makedirs(a.workdir, exist_ok=True)
    os.chmod(a.workdir, 0o1777)
    sink_cmd = [find_bin("smtp-sink"), "-c", "-m", "1000"]
    if a.sink_user:
        sink_cmd += ["-u", a.sink_user]
    if a.w4:
        dumpdir = os.path.join(a.workdir, "tx")
        os.makedirs(dumpdir, exist_ok=True)
        os.chmod(dumpdir, 0o1777)
        sink_cmd += ["-d", os.path.join(dumpdir, "%H%M%S.")]
        dump = Dump(dumpdir, True)
    else:
        path = os.path.join(a.workdir, "sink.dump")
        sink_cmd += ["-D", path]
        dump = Dump(path, False)
    sink_cmd += ["127.0.0.1:%d" % a.sink_port, "1024"]
    sink = subprocess.Popen(sink_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    src = None
    src_done = {}
    try:
        if not greet(a.sink_port, time.monotonic() + 10):
            res["error"] = "smtp-sink did not start"
            return finish(res, a)

        def members():
            if a.cgroup:
                return cg_procs(a.cgroup)
            return list(proc_tree([a.pid])) if a.pid else []

        def relay_cpu():
            if a.cgroup:
                v = cg_cpu_s(a.cgroup)
                if v is not None:
                    return v
            return sum(proc_tree([a.pid]).values()) / TICK if a.pid else 0.0
        res["cpu_from"] = "cgroup cpuacct" if a.cgroup and cg_cpu_s(a.cgroup) is not None else "/proc process tree"
        cpu0 = relay_cpu()
        hc0 = host_cpu()
        ru0 = os.times()

        t0 = time.monotonic()
        if a.w4:
            th = threading.Thread(target=send_w4, args=(a.port, a.n, a.domains, src_done), daemon=True)
            th.start()
        else:
            cmd = [find_bin("smtp-source"), "-d", "-N", "-s", str(a.s), "-m", str(a.n),
                   "-r", str(a.r), "-l", str(a.b), "-f", "bench@source.test",
                   "-t", "rcpt@sink.test", "-M", "source.test", "127.0.0.1:%d" % a.port]
            res["source_cmd"] = " ".join(cmd)
            src = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)

            def waiter():
                out = src.stdout.read()
                rc = src.wait()
                src_done["t"] = time.monotonic()
                src_done["rc"] = rc
                src_done["out"] = out.decode(errors="replace")[-500:]
            th = threading.Thread(target=waiter, daemon=True)
            th.start()

        deadline = t0 + a.timeout
        t_all = None
        peak_rss = peak_pss = peak_procs = hwm = 0
        next_rss = next_pss = 0.0
        relay_died = False
        step = 0.05 if a.w4 else 0.02
        while True:
            now = time.monotonic()
            dump.poll()
            if t_all is None and len(dump.distinct) >= expect_n:
                t_all = time.monotonic()
            if now >= next_rss:
                pids = members()
                peak_procs = max(peak_procs, len(pids))
                peak_rss = max(peak_rss, sum(status_kb(p, b"VmRSS:") for p in pids))
                if now >= next_pss:
                    peak_pss = max(peak_pss, sum(pss_kb(p) for p in pids))
                    if a.pid:
                        hwm = max(hwm, status_kb(a.pid, b"VmHWM:"))
                    next_pss = now + 1.0
                next_rss = now + 0.2
                if a.pid and not os.path.exists("/proc/%d" % a.pid):
                    relay_died = True
            if "t" in src_done and (t_all is not None or src_done.get("rc")):
                break
            if relay_died or now > deadline:
                break
            time.sleep(step)
        pids = members()                 # a last sample: short runs end between two
        peak_rss = max(peak_rss, sum(status_kb(p, b"VmRSS:") for p in pids))
        peak_pss = max(peak_pss, sum(pss_kb(p) for p in pids))
        if a.pid:
            hwm = max(hwm, status_kb(a.pid, b"VmHWM:"))
        if relay_died:
            res["error"] = "the relay (pid %d) died during the run" % a.pid
        finished = "t" in src_done       # by itself: only then is there an accept time
        if not finished:
            res.setdefault("error", "the load did not finish within %.0f s" % a.timeout)
            if src is not None:
                kill(src)
        th.join(5)
        if src_done.get("rc"):
            res.setdefault("error", "load failed (exit %s): %s" % (
                src_done["rc"], (src_done.get("out") or src_done.get("first_refusal") or "")[-300:]))
        for k in ("refused", "first_refusal", "data_reply"):
            if k in src_done:
                res[k] = src_done[k]
        if finished and not src_done.get("rc"):
            t1 = src_done["t"] if not a.w4 else src_done.get("t_data", src_done["t"])
            res["accept_s"] = round(t1 - t0, 3)
            res["accept_rate"] = round(msgs / (t1 - t0), 4)
            if a.w4:
                res["accept_rcpt_rate"] = round(a.n / (t1 - t0), 1)
                if "t_rcpts" in src_done:
                    res["rcpt_phase_s"] = round(src_done["t_rcpts"] - t0, 3)
        if t_all is not None:
            res["e2e_s"] = round(t_all - t0, 3)
            res["e2e_rate"] = round(msgs / (t_all - t0), 4)
            if a.w4:
                res["e2e_rcpt_rate"] = round(a.n / (t_all - t0), 1)
            time.sleep(1.0)              # grace: anything later is a duplicate
            dump.poll()
        else:
            res.setdefault("error", "the sink got %d of %d recipients within %.0f s" % (
                len(dump.distinct), expect_n, a.timeout))

        cpu1 = relay_cpu()
        hc1 = host_cpu()
        res["relay_cpu_s"] = round(cpu1 - cpu0, 3)
        res["cpu_per_1000"] = round((cpu1 - cpu0) * 1000.0 / a.n, 3)   # W4: per 1000 rcpts
        res["peak_rss_sum_kb"] = peak_rss
        res["peak_pss_sum_kb"] = peak_pss
        res["peak_procs"] = peak_procs
        if a.pid and a.relay == "mtad":
            res["vmhwm_kb"] = hwm
        # the relay's memory figure: VmHWM for one process, PSS sum for many
        res["mem_kb"] = hwm if a.relay == "mtad" and hwm else peak_pss
        res["mem_kind"] = "VmHWM" if a.relay == "mtad" and hwm else "PSS sum"
        dt, db = hc1[0] - hc0[0], hc1[1] - hc0[1]
        res["host_busy_pct"] = round(100.0 * db / dt, 1) if dt else None
        res["window_s"] = round(time.monotonic() - t0, 3)
        busy_s, irq_s = db / TICK, (hc1[2] - hc0[2]) / TICK
        stop(sink)
        if src is not None and src.poll() is None:
            kill(src)
        ru1 = os.times()
        loadgen = (ru1.children_user + ru1.children_system) - (ru0.children_user + ru0.children_system)
        driver = (ru1.user + ru1.system) - (ru0.user + ru0.system)
        res["loadgen_cpu_s"] = round(loadgen, 2)
        res["driver_cpu_s"] = round(driver, 2)
        res["foreign_cpu_s"] = round(busy_s - irq_s - loadgen - driver - (cpu1 - cpu0), 2)
    finally:
        stop(sink)
        if src is not None and src.poll() is None:
            kill(src)

    # ---- verification: exactly once, exactly the expected set
    dump.poll()
    dump.close()
    got = dump.rcpts
    res["sink_rcpt_records"] = len(got)
    res["sink_files"] = len(dump.files) if a.w4 else None
    res["rcpt_distinct"] = len(dump.distinct)
    res["rcpt_missing"] = len(want - dump.distinct)
    res["rcpt_unexpected"] = len(dump.distinct - want)
    res["rcpt_duplicates"] = len(got) - len(dump.distinct)
    res["ok"] = ("error" not in res and res["rcpt_missing"] == 0 and res["rcpt_duplicates"] == 0
                 and res["rcpt_unexpected"] == 0 and len(got) == expect_n)
    if not res["ok"] and "error" not in res:
        res["error"] = "verification failed: %d records, missing=%d duplicates=%d unexpected=%d" % (
            len(got), res["rcpt_missing"], res["rcpt_duplicates"], res["rcpt_unexpected"])
    return finish(res, a)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            kill(p)


def kill(p):
    try:
        p.kill()
        p.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        pass


def fmt(v, f="%.0f"):
    if v is None:
        return "-"
    return f.format(v) if "{" in f else f % v


def finish(res, a):
    with open(a.results, "a") as f:
        f.write(json.dumps(res, sort_keys=True) + "\n")
    if res.get("w4"):
        rates = "enqueue=%s s (%s rcpt/s)  e2e=%s s (%s rcpt/s)" % (
            fmt(res.get("accept_s"), "%.2f"), fmt(res.get("accept_rcpt_rate")),
            fmt(res.get("e2e_s"), "%.2f"), fmt(res.get("e2e_rcpt_rate")))
    else:
        rates = "accept=%s msg/s  e2e=%s msg/s" % (fmt(res.get("accept_rate")), fmt(res.get("e2e_rate")))
    print("%-7s %-10s %s  mem=%s MiB (%s)  cpu=%s s/1000 %s  host_busy=%s%%  foreign_cpu=%s s  %s" % (
        res["relay"], res["workload"], rates,
        fmt((res.get("mem_kb") or 0) / 1024.0, "%.1f"), res.get("mem_kind", "-"),
        fmt(res.get("cpu_per_1000"), "%.3f"), "rcpt" if res.get("w4") else "msg",
        fmt(res.get("host_busy_pct")), fmt(res.get("foreign_cpu_s"), "%.1f"),
        "OK (%d rcpts exactly once)" % res["expected_rcpts"] if res["ok"] else "FAIL: " + res.get("error", "?")))
    sys.stdout.flush()
    return 0 if res["ok"] else 1


# ------------------------------------------------------------ report
def cmd_report(paths):
    runs, notes = [], []
    for p in paths:
        with open(p) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    (notes if r.get("kind") else runs).append(r)
    for r in notes:
        print("- %s: %s" % (r.get("relay"), r.get("version")))
    if notes:
        print()
    groups = {}
    order = []
    for r in runs:
        k = (r["workload"], r["relay"])
        if k not in groups:
            order.append(k)
        groups.setdefault(k, []).append(r)
    wls = []
    for wl, _ in order:
        if wl not in wls:
            wls.append(wl)

    def cells(rs, f):
        return " / ".join(f(r) for r in rs)

    def desc(r):
        if r.get("w4"):
            return "%s: 1 msg × %d rcpts (%d domains), 1 session" % (r["workload"], r["n"], r["domains"])
        b = r["body"]
        bs = "%d KiB" % (b // 1024) if b % 1024 == 0 else "%d B" % b
        return "%s: %d × %s, %d rcpt, %d sess" % (r["workload"], r["n"], bs, r["rcpts"], r["sessions"])

    print("| workload | relay | accept /s | end to end /s | accept s | end to end s "
          "| peak memory MiB | CPU s per 1000 msg | verified |")
    print("|---|---|---|---|---|---|---|---|---|")
    for wl in wls:
        for relay in ("mtad", "postfix"):
            rs = groups.get((wl, relay))
            if not rs:
                continue
            w4 = rs[0].get("w4")
            unit = " rcpt/s" if w4 else " msg/s"
            kinds = sorted(set(r.get("mem_kind", "?") for r in rs))
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                desc(rs[0]), relay,
                cells(rs, lambda r: fmt(r.get("accept_rcpt_rate" if w4 else "accept_rate"), "{:,.0f}")
                      if r.get("accept_rate") else "-") + unit,
                cells(rs, lambda r: fmt(r.get("e2e_rcpt_rate" if w4 else "e2e_rate"), "{:,.0f}")
                      if r.get("e2e_rate") else "-") + unit,
                cells(rs, lambda r: fmt(r.get("accept_s"), "%.2f")),
                cells(rs, lambda r: fmt(r.get("e2e_s"), "%.2f")),
                cells(rs, lambda r: fmt((r.get("mem_kb") or 0) / 1024.0, "%.1f")) + " (%s)" % "/".join(kinds),
                cells(rs, lambda r: fmt(r.get("cpu_per_1000"), "%.2f")) + (" (per 1000 rcpt)" if w4 else ""),
                cells(rs, lambda r: "ok" if r.get("ok") else "FAIL")))
    print("\naccept: messages / time from starting the load until smtp-source exits (W4: recipients /"
          " time until the 250 after DATA); end to end: until the sink has every recipient, each"
          " verified exactly once; memory: mtad VmHWM, Postfix peak sum of PSS over its processes;"
          " CPU: the relay's cgroup (all its processes).")
    rows = []
    for wl in wls:
        m, p = groups.get((wl, "mtad")), groups.get((wl, "postfix"))
        if not m or not p:
            continue

        def med(rs, k):
            v = sorted(r[k] for r in rs if r.get("ok") and r.get(k))
            if not v:
                return None
            return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

        def ratio(k):
            a, b = med(m, k), med(p, k)
            return "-" if not a or not b else "%.2f×" % (a / b)
        w4 = m[0].get("w4")           # W4: rates in recipients/s (one message)
        rows.append("| %s | %s | %s | %s | %s |" % (wl, ratio("e2e_rcpt_rate" if w4 else "e2e_rate"),
                                                   ratio("accept_rcpt_rate" if w4 else "accept_rate"),
                                                   ratio("mem_kb"), ratio("cpu_per_1000")))
    if rows:
        print("\nRatios mtad / Postfix (median of the verified runs; end to end and accept: "
              "higher is better; memory and CPU: lower is better)\n")
        print("| workload | end to end | accept | peak memory | CPU |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
    fails = [r for r in runs if not r.get("ok")]
    if fails:
        print("\nFailed runs:\n")
        for r in fails:
            print("- %s: %s" % (r["label"], r.get("error")))
    return 1 if fails else 0


def main():
    # TERM or INT (the script interrupted): unwind, so that the sink and source are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    c, rest = sys.argv[1], sys.argv[2:]
    if c == "run":
        return cmd_run(rest)
    if c == "report":
        return cmd_report(rest)
    if c == "ports":
        socks = []
        for _ in range(int(rest[0]) if rest else 1):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in socks))
        return 0
    if c == "greet":
        return 0 if greet(int(rest[0]), time.monotonic() + float(rest[1])) else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
