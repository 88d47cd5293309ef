"""sinks.py -- a scriptable SMTP sink for the delivery tests (aiosmtpd).

    sink = Sink(port=free_port(), smtputf8=False, dsn=True, size=1000,
                tls=(cert, key), require_tls=True, auth=("user", "pw"),
                auth_mechs=("PLAIN",), data_delay=0.3).start()
    sink.on_rcpt("550 5.1.1 no such user", rcpts={"a@example.net"})
    sink.on_data("451 4.3.0 try later", times=1)
    sink.on_mail("421 4.7.0 too busy")        # and the connection is closed
    ...
    sink.wait_messages(2)                       # bounded wait, returns them
    sink.stop()

Rules are tried in the order they were added; the first one that matches
(stage, address filter, and still has `times` left; None = forever) gives
the reply and uses up one of its times.  No rule: the command is accepted.

Everything is recorded, under a lock:
  sink.open_now, sink.max_open  TCP connections open now, and the most at
                 once (set max_open = open_now to start counting afresh)
  sink.opened    TCP connections made in all
  sink.sessions  one Session per connection that said EHLO/HELO (tls, auth
                 user, helo) -- the Controller's own start-up probe says
                 neither and is not counted
  sink.mails     every MAIL: Command(session, address, params, reply)
  sink.rcpts     every RCPT: Command(...)
  sink.arrivals  every complete message body, before the DATA reply (with
                 data_delay, a client killed meanwhile leaves it unanswered)
  sink.messages  those of them answered 2xx: Message(sender, rcpts, data bytes,
                 mail/rcpt params, session, tls, auth_user)
  sink.data_replies  every DATA end: (rcpts, reply)

The sink listens on one address only (127.0.0.1 by default; any 127/8
address works on Linux), on a port chosen by the caller: aiosmtpd's
Controller cannot bind port 0 (use free_port(), or free_port_on()).
"""
import asyncio
import logging
import os
import socket
import ssl
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

DEFAULT_TIMEOUT = 10.0
# aiosmtpd sets the deprecated field itself on every successful AUTH
warnings.filterwarnings("ignore", "Session.login_data is deprecated")
logging.getLogger("mail.log").addFilter(
    lambda r: "Session.login_data is deprecated" not in r.getMessage())
DSN_MAIL_PARAMS = ("RET", "ENVID")
DSN_RCPT_PARAMS = ("NOTIFY", "ORCPT")


def free_port_on(hosts, tries=50):
    """A TCP port that is free on every address in `hosts` right now (for
    sinks on 127.0.0.1 and 127.0.0.3 sharing mtad's one `mx_port`)."""
    for _ in range(tries):
        socks = []
        try:
            s = socket.socket()
            s.bind((hosts[0], 0))
            socks.append(s)
            port = s.getsockname()[1]
            for h in hosts[1:]:
                t = socket.socket()
                socks.append(t)
                t.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no port free on all of {hosts}")


def port_is_closed(host, port):
    """Nothing listens on host:port (a connect is refused at once)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


class Rule:
    def __init__(self, stage, reply, times=None, addresses=None):
        self.stage = stage
        self.reply = reply
        self.times = times
        self.addresses = {a.lower() for a in addresses} if addresses else None
        self.used = 0

    def matches(self, stage, addresses):
        if stage != self.stage or (self.times is not None and self.used >= self.times):
            return False
        if self.addresses is None:
            return True
        return any(a.lower() in self.addresses for a in addresses)


class Session:
    def __init__(self, n, peer):
        self.n = n
        self.peer = peer
        self.helo = None
        self.tls = None             # (cipher, protocol, bits) once STARTTLS is up
        self.auth_user = None       # str, once AUTH succeeded
        self.auth_failures = 0
        self.auth_mechanisms = []   # mechanisms the client tried

    def __repr__(self):
        return (f"Session(#{self.n} helo={self.helo!r} tls={self.tls!r} "
                f"auth={self.auth_user!r})")


class Command:
    def __init__(self, session, address, params, reply):
        self.session = session
        self.address = address
        self.params = params        # list of "KEY=VALUE"/"KEY" as sent
        self.reply = reply
        self.at = time.monotonic()

    def __repr__(self):
        return f"Command({self.address!r} {self.params!r} -> {self.reply!r})"


class Message:
    def __init__(self, session, envelope, reply):
        self.session = session
        self.sender = envelope.mail_from            # "<>" for the null sender
        self.rcpts = list(envelope.rcpt_tos)
        self.data = envelope.original_content       # bytes, as received
        self.mail_params = list(getattr(envelope, "sink_mail_params", []))
        self.rcpt_params = dict(getattr(envelope, "sink_rcpt_params", {}))
        self.smtputf8 = envelope.smtp_utf8
        self.tls = session.tls
        self.auth_user = session.auth_user
        self.reply = reply
        self.at = time.monotonic()
        self.acked = None           # the 2xx reached an open connection

    def __repr__(self):
        return (f"Message({self.sender!r} -> {self.rcpts!r}, {len(self.data)} octets, "
                f"tls={bool(self.tls)} auth={self.auth_user!r})")


def _split_params(arg, keys):
    """Cut ESMTP parameters named in keys out of a MAIL/RCPT argument:
    (the rest of the argument, [the parameters cut])."""
    close = arg.find(">")
    if close < 0:
        return arg, []
    head, rest = arg[:close + 1], arg[close + 1:].split()
    cut = [p for p in rest if p.split("=", 1)[0].upper() in keys]
    kept = [p for p in rest if p.split("=", 1)[0].upper() not in keys]
    return " ".join([head] + kept), cut


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with RFC 3461 parameters taken when DSN is on (aiosmtpd
    itself rejects every parameter it does not know with 555)."""

    def __init__(self, handler, sink, **kw):
        super().__init__(handler, **kw)
        self._sink = sink
        self.sink_session = None
        self.sink_cut = []

    def connection_made(self, transport):
        with self._sink._cond:              # connections open at once
            self._sink.open_now += 1
            self._sink.opened += 1
            self._sink.max_open = max(self._sink.max_open, self._sink.open_now)
        super().connection_made(transport)

    def connection_lost(self, exc):
        with self._sink._cond:
            self._sink.open_now -= 1
        super().connection_lost(exc)

    async def smtp_MAIL(self, arg):
        cut = []
        if self._sink.dsn and arg:
            arg, cut = _split_params(arg, DSN_MAIL_PARAMS)
        self.sink_cut = cut
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        cut = []
        if self._sink.dsn and arg:
            arg, cut = _split_params(arg, DSN_RCPT_PARAMS)
        self.sink_cut = cut
        await super().smtp_RCPT(arg)

    async def smtp_AUTH(self, arg):
        s = self._sink.session_of(self)
        if arg:
            s.auth_mechanisms.append(arg.split()[0].upper())
        await super().smtp_AUTH(arg)


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname        # the 5-argument hook must set it
        s = self.sink.session_of(server)
        s.helo = hostname
        if server._tls_protocol is not None and session.ssl:
            s.tls = session.ssl.get("cipher")
        if self.sink.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        if self.sink.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.sink.session_of(server).helo = hostname
        return f"250 {server.hostname}"

    def _maybe_close(self, server, reply):
        if reply.startswith("421"):
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, server.transport.close)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        sink = self.sink
        s = sink.session_of(server)
        if session.ssl and s.tls is None:
            s.tls = session.ssl.get("cipher")
        params = list(mail_options) + list(server.sink_cut)
        reply = sink._decide("mail", [address])
        with sink._cond:
            sink.mails.append(Command(s, address, params, reply or "250 2.1.0 Ok"))
            sink._cond.notify_all()
        if reply:
            self._maybe_close(server, reply)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.sink_mail_params = params
        envelope.sink_rcpt_params = {}
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        sink = self.sink
        s = sink.session_of(server)
        params = list(rcpt_options) + list(server.sink_cut)
        reply = sink._decide("rcpt", [address])
        with sink._cond:
            sink.rcpts.append(Command(s, address, params, reply or "250 2.1.5 Ok"))
            sink._cond.notify_all()
        if reply:
            self._maybe_close(server, reply)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.sink_rcpt_params[address] = params
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        s = sink.session_of(server)
        arrived = Message(s, envelope, None)
        with sink._cond:
            sink.arrivals.append(arrived)
            sink._cond.notify_all()
        if sink.data_delay:
            await asyncio.sleep(sink.data_delay)    # cancelled if the client goes
        reply = sink._decide("data", envelope.rcpt_tos) or "250 2.0.0 Ok: queued"
        with sink._cond:
            arrived.reply = reply
            sink.data_replies.append((list(envelope.rcpt_tos), reply))
            if reply.startswith("2"):
                arrived.acked = not server.transport.is_closing()
                sink.messages.append(arrived)
            sink._cond.notify_all()
        self._maybe_close(server, reply)
        return reply


class _Controller(Controller):
    def __init__(self, sink, handler, **kw):
        self._sink = sink
        super().__init__(handler, **kw)

    def factory(self):
        return _SinkSMTP(self.handler, self._sink, **self.SMTP_kwargs)


class Sink:
    def __init__(self, host="127.0.0.1", port=None, *, smtputf8=True, dsn=False,
                 size=None, tls=None, require_tls=False, auth=None,
                 auth_mechs=("PLAIN", "LOGIN"), data_delay=0.0, pipelining=False,
                 hostname=None):
        """size: the SIZE to advertise (None: aiosmtpd's 32 MiB; 0: none).
        tls: (certfile, keyfile) to offer STARTTLS.  auth: (user, password),
        then AUTH is required (over TLS when tls is given) and only
        auth_mechs are offered.  pipelining: advertise PIPELINING (aiosmtpd
        reads commands one at a time anyway, so it copes)."""
        self.host = host
        self.port = port
        self.smtputf8 = smtputf8
        self.dsn = dsn
        self.size = size
        self.tls = tls
        self.require_tls = require_tls
        self.auth = auth
        self.auth_mechs = tuple(m.upper() for m in auth_mechs)
        self.data_delay = data_delay
        self.pipelining = pipelining
        self.hostname = hostname or f"sink-{host}.example.net"
        self.rules = []
        self.sessions = []
        self.open_now = self.max_open = 0   # TCP connections (probe included)
        self.opened = 0                     # ... and in all
        self.mails = []
        self.rcpts = []
        self.messages = []
        self.arrivals = []
        self.data_replies = []
        self._cond = threading.Condition()
        self.controller = None

    # -- scripting
    def on_mail(self, reply, times=None, senders=None):
        return self._add(Rule("mail", reply, times, senders))

    def on_rcpt(self, reply, times=None, rcpts=None):
        return self._add(Rule("rcpt", reply, times, rcpts))

    def on_data(self, reply, times=None, rcpts=None):
        """DATA's final reply, for transactions with any of rcpts (None: all)."""
        return self._add(Rule("data", reply, times, rcpts))

    def clear_rules(self):
        with self._cond:
            self.rules = []

    def _add(self, rule):
        with self._cond:
            self.rules.append(rule)
        return rule

    def _decide(self, stage, addresses):
        with self._cond:
            for r in self.rules:
                if r.matches(stage, addresses):
                    r.used += 1
                    return r.reply
        return None

    # -- bookkeeping
    def session_of(self, server):
        """The Session record of one connection (made at its first use)."""
        with self._cond:
            s = getattr(server, "sink_session", None)
            if s is None:
                s = Session(len(self.sessions) + 1, server.session.peer)
                server.sink_session = s
                self.sessions.append(s)
            return s

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        s = self.session_of(server)
        if (login, password) == tuple(self.auth):
            s.auth_user = login
            return AuthResult(success=True, auth_data=auth_data)
        s.auth_failures += 1
        # handled=False: aiosmtpd answers 535 (handled=True would hang the client)
        return AuthResult(success=False, handled=False)

    # -- life
    def start(self):
        assert self.port, "Sink needs a port (aiosmtpd's Controller cannot bind 0)"
        kw = {"enable_SMTPUTF8": self.smtputf8, "server_hostname": self.hostname,
              "data_size_limit": self.size if self.size is not None else 2 ** 25,
              "timeout": 30}
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            kw["tls_context"] = ctx
            kw["require_starttls"] = self.require_tls
        if self.auth:
            kw["authenticator"] = self._authenticator
            kw["auth_required"] = True
            kw["auth_require_tls"] = bool(self.tls)
            kw["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN")
                                            if m not in self.auth_mechs]
        self.controller = _Controller(self, _Handler(self), hostname=self.host,
                                      port=self.port, ready_timeout=10, **kw)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception:
                pass
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- waiting
    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="a condition"):
        """Wait (bounded) until pred(sink) is true (called under the lock)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = pred(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"sink {self.host}:{self.port}: timed out after {timeout}s "
                        f"waiting for {what}; messages={self.messages} "
                        f"mails={self.mails} rcpts={self.rcpts}")
                self._cond.wait(min(left, 0.1))

    def wait_messages(self, n, timeout=DEFAULT_TIMEOUT, rcpt=None):
        """At least n received messages (for rcpt, if given); returns them."""
        def got(s):
            ms = s.messages_for(rcpt) if rcpt else list(s.messages)
            return ms if len(ms) >= n else None
        return self.wait_for(got, timeout, f"{n} message(s)" + (f" for {rcpt}" if rcpt else ""))

    def messages_for(self, rcpt):
        with self._cond:
            return [m for m in self.messages if rcpt.lower() in (r.lower() for r in m.rcpts)]

    def snapshot(self):
        with self._cond:
            return list(self.messages)


def main():
    """python3 sinks.py PORT: a plain sink printing what it gets (for poking)."""
    import sys
    sink = Sink(port=int(sys.argv[1])).start()
    print("PORT", sink.port, flush=True)
    seen = 0
    try:
        while True:
            ms = sink.wait_for(lambda s: len(s.messages) > seen and s.messages,
                               timeout=3600)
            for m in ms[seen:]:
                print(m, flush=True)
            seen = len(ms)
    except KeyboardInterrupt:
        sink.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
