"""Sending at volume, end to end: domains that share an MX provider share
its limits and its pauses, and the warm-up caps what each provider gets a
day.  mtad resolves through a real DNS server (dnsserver.py) on loopback
and delivers to real SMTP sinks (sinks.py).

The zone: a.example, b.example and c.example all have their MX at
bigmail.example (mx1/mx2.bigmail.example, 127.0.0.1), the way thousands of
domains have theirs at Google; own.example runs its own MX
(mx.own.example, 127.0.0.1).  All on mtad's `mx_port`, the test sink's.

Run: MTAD_BIN=/work/main/build/mtad MTACTL_BIN=/work/main/build/mtactl \
     /usr/bin/python3 -m pytest -q tests/integration/test_volume.py
"""
import datetime
import json
import signal

import pytest

from mtadtest import QUEUED_RE, Client, free_port, start_dnsserver, stop_process, wait_until
from sinks import Sink

T = 15.0

ZONE = """\
example.              60 IN SOA ns.example. hostmaster.example. 1 60 60 60 0
mx1.bigmail.example.     60 IN A 127.0.0.1
mx2.bigmail.example.     60 IN A 127.0.0.1
a.example.            60 IN MX 10 mx1.bigmail.example.
b.example.            60 IN MX 10 mx2.bigmail.example.
c.example.            60 IN MX 10 mx1.bigmail.example.
own.example.          60 IN MX 10 mx.own.example.
mx.own.example.       60 IN A 127.0.0.1
"""


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    zone = tmp_path_factory.mktemp("dns") / "zone.txt"
    zone.write_text(ZONE, encoding="utf-8")
    proc, port = start_dnsserver(zone)
    yield port
    stop_process(proc)


@pytest.fixture
def sink():
    s = Sink("127.0.0.1", free_port(), data_delay=0.3).start()
    yield s
    s.stop()


@pytest.fixture
def mx_mtad(make_mtad, dns, sink):
    """Factory: an mtad delivering to MX hosts (the test DNS) on the sink's port."""
    def make(extra=""):
        return make_mtad(extra=f"resolver 127.0.0.1@{dns}\nmx_port {sink.port}\n"
                         f"retry 1h\n{extra}")
    return make


def submit(m, rcpts, n=1):
    """n messages, each to all of rcpts, over one session."""
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for i in range(n):
            c.expect("MAIL FROM:<s@example.org>", "250 2.1.0 Ok")
            for r in rcpts:
                c.expect(f"RCPT TO:<{r}>", "250 2.1.5 Ok")
            c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>")
            c.send(f"Subject: volume {i}\r\n\r\nhello\r\n.\r\n".encode())
            assert QUEUED_RE.match(c.reply().line)


def delivered(sink):
    """Every recipient the sink took a message for."""
    return [r for msg in sink.snapshot() for r in msg.rcpts]


def ctl_json(m, *args):
    r = m.mtactl("--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def learn(m, sink, domains):
    """One message to each domain, delivered: mtad has looked up their MX."""
    for d in domains:
        submit(m, [f"first@{d}"])
    for d in domains:
        try:
            sink.wait_messages(1, T, rcpt=f"first@{d}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{m.log_text()}") from None
    wait_until(lambda: sink.open_now == 0, T, "the first connections closed")
    with sink._cond:
        sink.max_open = 0


def test_domains_on_one_provider_share_its_connections(mx_mtad, sink):
    """`limit bigmail.example connections=2`: once mtad knows a.example,
    b.example and c.example have their MX there, the three together never
    hold more than 2 connections, though each alone could have 2."""
    m = mx_mtad("limit bigmail.example connections=2 messages_per_connection=1\n"
                "limit * connections=2 messages_per_connection=1\n")
    learn(m, sink, ["a.example", "b.example", "c.example"])
    before = len(sink.messages)
    for d in ("a.example", "b.example", "c.example"):
        submit(m, [f"r{i}@{d}" for i in range(4)], n=1)
        submit(m, [f"s@{d}"], n=3)
    sink.wait_messages(before + 12, 30)
    assert sink.max_open <= 2, f"{sink.max_open} connections to one provider, limit 2"
    assert sink.max_open == 2, "the provider's limit was not used"


def test_own_limit_line_keeps_a_domain_apart(mx_mtad, sink):
    """A domain with its own `limit` line is limited on its own: with
    `limit a.example connections=1` and the provider at 1 too, a.example
    and b.example together use 2 connections."""
    m = mx_mtad("limit a.example connections=1 messages_per_connection=1\n"
                "limit bigmail.example connections=1 messages_per_connection=1\n")
    learn(m, sink, ["a.example", "b.example"])
    before = len(sink.messages)
    for d in ("a.example", "b.example"):
        submit(m, [f"s@{d}"], n=4)
    sink.wait_messages(before + 8, 30)
    assert sink.max_open == 2, sink.max_open


def test_throttle_pauses_the_whole_provider(mx_mtad, sink):
    """A 421 while delivering to a.example pauses bigmail.example: b.example's
    mail waits too (shown paused in `mtactl queue`), own.example's flows;
    `mtactl retry --domain b.example` lifts the provider's pause (x@a.example
    waits for its retry time: only the pause was lifted)."""
    m = mx_mtad()
    learn(m, sink, ["a.example", "b.example", "own.example"])
    sink.on_rcpt("421 4.7.28 rate limited, try later", rcpts=["x@a.example"])
    mark = m.mark()
    submit(m, ["x@a.example"])
    m.wait_for_log(r"^\S+ a\.example event=throttled msg=\"paused 60s with MX provider "
                   r"bigmail\.example: 421 4\.7\.28 rate limited, try later\"", since=mark)
    st = ctl_json(m, "status")
    assert [(p["domain"], p["provider"]) for p in st["paused"]] == [("bigmail.example", True)]
    assert "paused: MX provider bigmail.example for " in m.mtactl("status").stdout
    submit(m, ["y@b.example"])
    submit(m, ["z@own.example"])
    sink.wait_messages(1, T, rcpt="z@own.example")
    rows = {r["recipient"]: r for r in ctl_json(m, "queue")}
    assert rows["y@b.example"]["paused_until"] is not None, rows
    assert rows["y@b.example"]["attempts"] == 0, rows
    listing = m.mtactl("queue").stdout
    assert any(" paused " in line and "y@b.example" in line for line in listing.splitlines()), \
        listing
    assert not sink.messages_for("y@b.example")
    sink.clear_rules()
    assert m.mtactl("retry", "--domain", "b.example").returncode == 0
    sink.wait_messages(1, T, rcpt="y@b.example")
    assert ctl_json(m, "status")["paused"] == []


def test_a_routed_domain_leaves_its_provider(mx_mtad, sink):
    """a.example was delivered by MX (provider bigmail.example); a reload
    routes it to a smarthost: the provider's throttling pause no longer
    holds its mail."""
    relay = Sink("127.0.0.1", free_port()).start()
    try:
        m = mx_mtad()
        learn(m, sink, ["a.example", "b.example"])
        sink.on_rcpt("421 4.7.0 try later", rcpts=["x@b.example"])
        mark = m.mark()
        submit(m, ["x@b.example"])
        m.wait_for_log(r"^\S+ b\.example event=throttled msg=\"paused 60s with MX "
                       r"provider bigmail\.example", since=mark)
        m.write_config(m.extra + f"route a.example 127.0.0.1:{relay.port} tls=none\n")
        mark = m.mark()
        m.signal(signal.SIGHUP)
        m.wait_for_log(r" event=reloaded ", since=mark)
        submit(m, ["y@a.example"])
        relay.wait_messages(1, T, rcpt="y@a.example")
        assert [p["domain"] for p in ctl_json(m, "status")["paused"]] == ["bigmail.example"]
    finally:
        relay.stop()


def test_warmup_caps_each_provider_a_day(mx_mtad, sink):
    """`warmup daily=5 since=today`: the provider bigmail.example gets 5
    recipients today however its domains share them; the rest waits,
    paused until midnight UTC (status, queue); own.example has its own
    cap; mail over a `route` is not capped."""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    relay = Sink("127.0.0.1", free_port()).start()
    try:
        m = mx_mtad(f"warmup daily=5 since={today}\n"
                    f"route routed.example 127.0.0.1:{relay.port} tls=none\n")
        mark = m.mark()
        submit(m, [f"a{i}@a.example" for i in range(4)])
        submit(m, [f"b{i}@b.example" for i in range(4)])
        submit(m, [f"o{i}@own.example" for i in range(3)])
        submit(m, [f"r{i}@routed.example" for i in range(8)])
        relay.wait_messages(1, T)
        wait_until(lambda: len(delivered(relay)) == 8, T, "8 routed recipients")
        m.wait_for_log(r"^\S+ [ab]\.example event=warmup_cap msg=\"warm-up: daily cap of 5 "
                       r"reached for bigmail\.example; more at 00:00 UTC\"", since=mark)
        wait_until(lambda: sum(1 for r in delivered(sink) if r.endswith("@own.example")) == 3,
                   T, "own.example's 3")
        st = ctl_json(m, "status")
        big = [r for r in delivered(sink) if r.endswith(("@a.example", "@b.example"))]
        assert len(big) == 5, big
        assert st["warmup"]["cap"] == 5 and st["warmup"]["day"] == 1, st["warmup"]
        assert {"dest": "bigmail.example", "sent": 5} in st["warmup"]["today"], st["warmup"]
        paused = [p for p in st["paused"] if p["domain"] == "bigmail.example"]
        assert paused and paused[0]["reply"].startswith("warm-up: daily cap of 5"), st
        midnight = (datetime.datetime.now(datetime.timezone.utc).date() +
                    datetime.timedelta(days=1)).isoformat() + "T00:00:00Z"
        assert paused[0]["until"] == midnight, paused
        waiting = [r for r in ctl_json(m, "queue") if r["domain"] in ("a.example", "b.example")]
        assert len(waiting) == 3 and all(r["paused_until"] == midnight for r in waiting), \
            waiting
        assert "warm-up: day 1, at most 5 recipients a day per MX provider" in \
            m.mtactl("status").stdout
    finally:
        relay.stop()
