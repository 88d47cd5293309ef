#!/usr/bin/python3
"""dnsserver.py [--servfail NAME]... ZONEFILE -- authoritative DNS for tests.

Serves ZONEFILE (dnslib zone text, `mx.example.net. 60 IN A 127.0.0.1`) over
UDP and TCP on one free port of 127.0.0.1 and prints "PORT <n>" once ready.
NXDOMAIN only for names that do not exist; an existing name (or one with
names below it) lacking the type gets NOERROR/no data; negative answers
carry the zone's SOA or a synthetic one with TTL 0.  CNAMEs are followed in
the zone.  TXT "servfail" on a name (or --servfail NAME) makes it SERVFAIL;
TXT "timeout" makes it unanswered (unbound gives up after 3 to 20 s).  UDP
replies beyond the EDNS size (512 without) are truncated (TC).  SIGHUP
reloads the zone, printing "RELOADED" or "RELOAD-FAILED why" (resolvers
still cache old answers for their TTL, SERVFAIL for seconds: use small
TTLs); SIGTERM, or the parent's death, exits.  Use example.net/.org/.com:
unbound answers .test, .invalid and localhost itself.
"""
import argparse
import os
import signal
import socket
import socketserver
import sys
import threading
import time

from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, DNSRecord

MARKS = {b"servfail": "fail", b"timeout": "drop"}
NEG_SOA = RR(".", QTYPE.SOA, ttl=0,
             rdata=SOA("ns.example.net.", "ns.example.net.", (1, 60, 60, 60, 0)))
ZONE = None


def key(label):                             # owner names: lower case, no final dot
    return str(label).lower().rstrip(".")


def suffixes(name):                         # "a.b.c" -> "a.b.c", "b.c", "c"
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


class Zone:
    """Records by owner name; the names that exist (ENTs included); marks."""

    def __init__(self, path, servfail):
        with open(path, encoding="utf-8") as f:
            rrs = RR.fromZone(f.read())
        self.rrs, self.names, self.fail, self.drop = {}, set(), set(servfail), set()
        for rr in rrs:
            name = key(rr.rname)
            self.names.update(suffixes(name))
            mark = rr.rtype == QTYPE.TXT and len(rr.rdata.data) == 1 and \
                MARKS.get(rr.rdata.data[0].lower())
            if mark:
                getattr(self, mark).add(name)
            else:
                self.rrs.setdefault(name, []).append(rr)
        self.soas = {n: r for n, rs in self.rrs.items() for r in rs if r.rtype == QTYPE.SOA}

    def soa(self, name):
        return next((self.soas[s] for s in suffixes(name) if s in self.soas), NEG_SOA)


def answer(zone, request):
    """The reply to one request, or None to stay silent."""
    reply = request.reply()
    if request.header.opcode != 0 or len(request.questions) != 1:
        reply.header.rcode = RCODE.NOTIMP
        return reply
    qtype, name = request.q.qtype, key(request.q.qname)
    for _ in range(8):                      # CNAME chain
        if name in zone.drop:
            return None
        if name in zone.fail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        rrs = zone.rrs.get(name, [])
        hits = [r for r in rrs if r.rtype == qtype or qtype == QTYPE.ANY]
        cname = [r for r in rrs if r.rtype == QTYPE.CNAME]
        if hits or not cname:
            break
        reply.add_answer(cname[0])
        name = key(cname[0].rdata.label)
    for rr in hits:
        reply.add_answer(rr)
    if not hits:
        if name not in zone.names:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(zone.soa(name))
    return reply


def respond(data, udp):
    """Wire reply to the wire query `data`; None for no reply."""
    try:
        request = DNSRecord.parse(data)
    except Exception:                       # not DNS: ignore it
        return None
    reply = answer(ZONE, request)
    if reply is None:
        return None
    opt = [r for r in request.ar if r.rtype == QTYPE.OPT]
    if opt:
        reply.add_ar(EDNS0(udp_len=1232))
    wire = reply.pack()
    if udp and len(wire) > max(512, opt[0].rclass if opt else 0):
        short = request.reply()
        short.header.tc, short.header.rcode = 1, reply.header.rcode
        wire = short.pack()
    return wire


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        wire = respond(self.request[0], True)
        if wire is not None:
            self.request[1].sendto(wire, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):                       # until EOF, an error or 10 s idle
        self.request.settimeout(10)
        try:
            while len(head := self.request.recv(2, socket.MSG_WAITALL)) == 2:
                n = int.from_bytes(head, "big")
                data = self.request.recv(n, socket.MSG_WAITALL)
                wire = respond(data, False) if len(data) == n else None
                if wire is None:
                    return
                self.request.sendall(len(wire).to_bytes(2, "big") + wire)
        except OSError:
            return


def servers():
    """A UDP and a TCP server on the same free port."""
    attrs = {"daemon_threads": True, "allow_reuse_address": True}
    UDP = type("UDP", (socketserver.ThreadingUDPServer,), attrs)
    TCP = type("TCP", (socketserver.ThreadingTCPServer,), attrs)
    for _ in range(50):
        udp = UDP(("127.0.0.1", 0), UDPHandler)
        try:
            return udp, TCP(("127.0.0.1", udp.server_address[1]), TCPHandler)
        except OSError:
            udp.server_close()
    sys.exit("dnsserver: no free port for both UDP and TCP")


def main():
    global ZONE
    p = argparse.ArgumentParser(description="authoritative DNS server for tests")
    p.add_argument("zonefile")
    p.add_argument("--servfail", action="append", default=[], metavar="NAME")
    args = p.parse_args()
    servfail = [key(n) for n in args.servfail]
    try:
        ZONE = Zone(args.zonefile, servfail)
    except Exception as e:
        sys.exit("dnsserver: %s: %s" % (args.zonefile, e))

    def reload(*_):
        global ZONE
        try:
            ZONE = Zone(args.zonefile, servfail)
            print("RELOADED", flush=True)
        except Exception as e:              # keep serving the old zone
            print("RELOAD-FAILED %s" % e, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGHUP, reload)
    parent = os.getppid()
    udp, tcp = servers()
    for s in (udp, tcp):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("PORT %d" % udp.server_address[1], flush=True)
    while os.getppid() == parent:           # SIGTERM raises SystemExit here
        time.sleep(1)


if __name__ == "__main__":
    main()
