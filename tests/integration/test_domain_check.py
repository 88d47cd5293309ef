"""End-to-end tests of `mtactl domain check NAME` (mtad/check.c, the
domain.check control command, mtactl_domain_check): a real mtad whose
`resolver` is a real authoritative DNS server on loopback (dnsserver.py),
serving zones written from the keys that `mtactl --json domain dns`
printed, and real certificates made with certtool.

One DNS server, one mtad (`hostname mx.example.net`) and one set of
certificates serve the whole module: every record has TTL 0 (negative
answers too: the SOAs' minimum is 0), so each test rewrites the zone,
SIGHUPs the server, waits for its "RELOADED" and asks again.  What
unbound does keep: a SERVFAIL for a few seconds, and a TTL-0 CNAME for
the rest of the second -- so names made SERVFAIL, and the CNAME, belong
to one test each (its own domain or name).  TLS variants
switch `tls_cert` with `mtactl reload` and switch back afterwards.

The hostname's address is 198.18.0.5, not 127.0.0.5: unbound serves the
reverse zones of loopback, RFC 1918, 100.64/10 and the documentation
networks itself (its default local zones), so a PTR for 127.0.0.5 can
never come from the `resolver` -- see test_domain_check_ptr_of_a_loopback_address.

Each case changes one item of an otherwise correct zone and asserts that
item's verdict and reason, that every other item stays ok (each with a
reason), and the exit status (0 only when every item is ok).  Known bugs
and limitations are xfail(strict=True) tests whose reason names the
cause: they start failing (XPASS) when it is fixed -- drop the mark then
(the MX-order one is not strict: whether it shows depends on unbound's
rotation of the answer).

Run: make integration PYTEST_ARGS="-q -k domain_check"
"""
import ipaddress
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from mtadtest import Mtad
from test_mtactl import ctl, ctl_json

HERE = os.path.dirname(os.path.abspath(__file__))
CERTTOOL = "/usr/bin/certtool"
HOST = "mx.example.net"
ADDR = "198.18.0.5"                 # RFC 2544 benchmark net: no unbound local zone
ADDR6 = "2a01:4f8::5"               # 2001:db8::/32 is an unbound local zone too
DOMAIN = "example.org"
OTHER = "example.com"               # its keys are "another key"; SERVFAIL tests
T = 10.0

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")


# ---------------------------------------------------------------- certificates

def make_cert(d, name, cn, dns=(), dates=None, days=3650):
    """d/name.crt, d/name.key: a self-signed ECDSA server certificate."""
    key, tmpl, crt = d / f"{name}.key", d / f"{name}.tmpl", d / f"{name}.crt"
    subprocess.run([CERTTOOL, "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
                    "--outfile", str(key)], check=True, capture_output=True, timeout=30)
    text = f'cn = "{cn}"\n' + "".join(f'dns_name = "{n}"\n' for n in dns) + \
        "tls_www_server\nsigning_key\nencryption_key\n"
    if dates:
        text += f'activation_date = "{dates[0]}"\nexpiration_date = "{dates[1]}"\n'
    else:
        text += f"expiration_days = {days}\n"
    tmpl.write_text(text)
    subprocess.run([CERTTOOL, "--generate-self-signed", "--load-privkey", str(key),
                    "--template", str(tmpl), "--outfile", str(crt)],
                   check=True, capture_output=True, timeout=30)
    return crt, key


# ---------------------------------------------------------------- the DNS server

class DnsServer:
    """dnsserver.py on a zone file we rewrite; reload() waits for RELOADED."""

    def __init__(self, path):
        self.path = path
        self.lines = queue.Queue()
        path.write_text(soas())
        self.err = path.with_suffix(".stderr")
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "dnsserver.py"),
                                          str(path)], stdout=subprocess.PIPE, stderr=err,
                                         text=True)
        threading.Thread(target=self._read, daemon=True).start()
        line = self.next_line(10)
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError(f"dnsserver.py did not start: {line!r} "
                                 f"{self.err.read_text()!r}")
        self.port = int(line.split()[1])

    def _read(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")

    def next_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return ""

    def serve(self, text):
        self.path.write_text(text)
        self.proc.send_signal(signal.SIGHUP)
        line = self.next_line(T)
        assert line == "RELOADED", f"dnsserver.py reload: {line!r}\n{text}" \
            f"\n{self.err.read_text()}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def soas():
    return "".join(f"{d}. 0 IN SOA ns.{d}. hostmaster.{d}. 1 60 60 60 0\n"
                   for d in ("example.net", "example.org", "example.com"))


def txt(*values, size=255):
    """TXT rdata: each value cut into quoted strings of at most `size` bytes."""
    out = []
    for v in values:
        out += [v[i:i + size] for i in range(0, len(v), size)] or [""]
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in out)


def order(items):
    """Items in check order, the ptr ones (as many as the hostname has
    addresses, in the order of the DNS answer) sorted."""
    ptr = [i for i in items if i.split()[0] == "ptr"]
    first = next((k for k, i in enumerate(items) if i in ptr), len(items))
    rest = [i for i in items if i not in ptr]
    return rest[:first] + sorted(ptr) + rest[first:]


def ptr_name(addr):
    return ipaddress.ip_address(addr).reverse_pointer + "."


class Zone:
    """Records as (owner, type, rdata); owners without the final dot."""

    def __init__(self, records):
        self.records = list(records)

    def copy(self):
        return Zone(self.records)

    def drop(self, owner, rtype=None):
        n = len(self.records)
        self.records = [r for r in self.records
                        if not (r[0] == owner and (rtype is None or r[1] == rtype))]
        assert len(self.records) < n, f"no {rtype or 'record'} at {owner} to drop"
        return self

    def add(self, owner, rtype, *rdatas):
        self.records += [(owner, rtype, r) for r in rdatas]
        return self

    def set(self, owner, rtype, *rdatas):
        self.records = [r for r in self.records if not (r[0] == owner and r[1] == rtype)]
        return self.add(owner, rtype, *rdatas)

    def servfail(self, owner):
        """dnsserver.py's marker: every query for owner gets SERVFAIL."""
        self.records = [r for r in self.records if r[0] != owner]
        return self.add(owner, "TXT", txt("servfail"))

    def text(self):
        return soas() + "".join(f"{o}. 0 IN {t} {r}\n" for o, t, r in self.records)


# ---------------------------------------------------------------- the module's daemon


class Env:
    def __init__(self, base, dns, certs):
        self.dns, self.certs = dns, certs
        self.m = Mtad(base, name="mtad", hostname=HOST, delivery=False,
                      extra=self.conf("ok"))
        self.m.start()
        self.keys = {}                      # domain -> [(selector, algo, TXT value)]
        self.add_domain(DOMAIN)
        self.add_domain(OTHER)
        assert [k[1] for k in self.keys[DOMAIN]] == ["rsa", "ed25519"], self.keys

    def conf(self, cert):
        extra = f"resolver 127.0.0.1@{self.dns.port}\n"
        if cert is not None:
            crt, key = self.certs[cert]
            extra += f"tls_cert {crt}\ntls_key {key}\n"
        return extra

    def add_domain(self, name, *opts):
        """`mtactl domain add name opts`; its keys as published."""
        r = ctl(self.m, "domain", "add", name, *opts)
        assert r.stdout.startswith(name + "\n"), r.stdout
        a_label = name.encode("idna").decode() if not name.isascii() else name
        self.keys[a_label] = self.published(a_label)
        return a_label

    def published(self, domain):
        """[(selector, "rsa"/"ed25519", TXT value)] as `domain dns` prints them."""
        out = []
        for r in ctl_json(self.m, "domain", "dns", domain):
            m = re.match(r"^([^.]+)\._domainkey\." + re.escape(domain) + r"\.$", r["name"])
            if m:
                assert r["type"] == "TXT", r
                k = re.search(r"\bk=(\w+);", r["value"])
                assert k and r["value"].startswith("v=DKIM1; "), r
                out.append((m.group(1), k.group(1), r["value"]))
        return out

    def sel(self, algo, domain=DOMAIN):
        return next(s for s, a, _ in self.keys[domain] if a == algo)

    def value(self, algo, domain=DOMAIN):
        return next(v for _, a, v in self.keys[domain] if a == algo)

    def pub(self, algo, domain=DOMAIN):
        return re.search(r"\bp=([^;]*)$", self.value(algo, domain)).group(1)

    def good(self, domain=DOMAIN):
        """A zone in which every item of `domain check domain` is ok."""
        z = Zone([(HOST, "A", ADDR), (PTR, "PTR", HOST + "."),
                  (domain, "MX", f"10 {HOST}."),
                  (domain, "TXT", txt("v=spf1 a:mx.example.net -all")),
                  (domain, "TXT", txt("google-site-verification=abc123")),
                  (f"_dmarc.{domain}", "TXT", txt("v=DMARC1; p=reject"))])
        for s, _, v in self.keys[domain]:
            z.add(f"{s}._domainkey.{domain}", "TXT", txt(v))
        return z

    def check(self, zone, domain=DOMAIN, arg=None):
        """Serve zone; `mtactl --json domain check`: (exit status, reply)."""
        self.dns.serve(zone.text())
        r = ctl(self.m, "--json", "domain", "check", arg or domain, rc=None)
        assert r.returncode in (0, 1) and r.stderr == "", (r.returncode, r.stderr)
        try:
            out = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"not JSON: {r.stdout!r}") from None
        assert set(out) == {"name", "ok", "items"} and out["name"] == domain, out
        assert out["ok"] is all(i["verdict"] == "ok" for i in out["items"]), out
        assert r.returncode == (0 if out["ok"] else 1), (r.returncode, out)
        for i in out["items"]:
            assert set(i) == {"item", "verdict", "why"}, i
            assert i["verdict"] in ("ok", "missing", "wrong", "unknown"), i
        return r.returncode, out

    def items(self, domain=DOMAIN, addrs=(ADDR,)):
        """The items a check of domain has, in order."""
        return [f"dkim {s}" for s, _, _ in self.keys[domain]] + ["spf", "dmarc", "mx"] + \
            ([f"ptr {a}" for a in addrs] or ["ptr"]) + ["tls"]

    def expect(self, zone, want, domain=DOMAIN, addrs=(ADDR,), arg=None):
        """Check zone: the items in want ({item: (verdict, why regex)}) as
        given, every other item ok, each with a reason; the exit status.
        Returns {item: (verdict, why)}."""
        rc, out = self.check(zone, domain, arg)
        got = {i["item"]: (i["verdict"], i["why"]) for i in out["items"]}
        assert len(got) == len(out["items"]), f"an item twice: {out}"
        assert order([i["item"] for i in out["items"]]) == order(self.items(domain, addrs)), out
        for item, (verdict, why) in got.items():
            if item in want:
                assert verdict == want[item][0] and re.search(want[item][1], why), \
                    f"{item}: got {verdict} {why!r}, want {want[item][0]} /{want[item][1]}/"
            else:
                assert verdict == "ok", f"{item}: got {verdict} {why!r}, want ok"
            assert why.strip(), f"{item}: {verdict} without a reason"
        assert rc == (0 if all(v[0] == "ok" for v in want.values()) else 1), (rc, out)
        return got

    def use_cert(self, cert):
        self.m.write_config(extra=self.conf(cert))
        ctl(self.m, "reload")


PTR = ptr_name(ADDR)[:-1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("domain_check")
    certs_dir = base / "certs"
    certs_dir.mkdir()
    certs = {
        "ok": make_cert(certs_dir, "ok", HOST, dns=[HOST]),
        "other": make_cert(certs_dir, "other", "other.example.com", dns=["other.example.com"]),
        "wild": make_cert(certs_dir, "wild", "*.example.net", dns=["*.example.net"]),
        "expired": make_cert(certs_dir, "expired", HOST, dns=[HOST],
                             dates=("2019-01-01 00:00:00", "2020-01-01 00:00:00")),
        "future": make_cert(certs_dir, "future", HOST, dns=[HOST],
                            dates=("2090-01-01 00:00:00", "2091-01-01 00:00:00")),
    }
    dns = DnsServer(base / "zone.txt")
    e = None
    try:
        e = Env(base, dns, certs)
        yield e
        assert e.m.running(), "mtad died:\n" + e.m.log_text()
    finally:
        if e is not None:
            e.m.cleanup()
        dns.stop()


@pytest.fixture
def tls(env):
    """Switch tls_cert for one test (env.use_cert); back to "ok" afterwards."""
    yield env.use_cert
    env.use_cert("ok")


# ---------------------------------------------------------------- all correct, names

def test_domain_check_all_ok(env):
    """Every record right: every item ok with its reason, exit 0; the table
    has the same rows."""
    got = env.expect(env.good(), {})
    assert got[f"dkim {env.sel('rsa')}"][1] == "published, our key", got
    assert got[f"dkim {env.sel('ed25519')}"][1] == "published, our key", got
    assert got["spf"][1] == "passes for this host's 1 address", got
    assert got["dmarc"][1] == "p=reject; our d= is the From: domain, so it aligns", got
    assert got["mx"][1] == f"1 MX, preferred {HOST}", got
    assert got[f"ptr {ADDR}"][1] == f"{HOST}, which resolves back to {ADDR}", got
    assert re.fullmatch(rf"valid for {re.escape(HOST)} for 36\d\d more days", got["tls"][1]), got
    r = ctl(env.m, "domain", "check", DOMAIN, rc=0)
    assert r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"ITEM +VERDICT +WHY", lines[0]), lines
    assert len(lines) == 1 + len(got), lines
    for line, (item, (verdict, why)) in zip(lines[1:], got.items()):
        assert re.fullmatch(rf"{re.escape(item)} +{verdict} +{re.escape(why)}", line), line


def test_domain_check_case_of_the_name(env):
    """The domain given in capitals is the same domain."""
    env.expect(env.good(), {}, arg=DOMAIN.upper())


def test_domain_check_idn_name(env):
    """An IDN sender domain, asked for by its U-label: the lookups and the
    reply use the A-label."""
    d = env.add_domain("bücher.example.org")
    assert d == "xn--bcher-kva.example.org"
    env.expect(env.good(d), {}, domain=d, arg="bücher.example.org")


def test_domain_check_unknown_domain(env):
    for args in (["domain", "check", "nosuch.example.org"],
                 ["--json", "domain", "check", "nosuch.example.org"]):
        r = ctl(env.m, *args, rc=1)
        assert "no such domain" in r.stderr and r.stdout == "", r


def test_domain_check_nothing_published(env):
    """A bare zone: every DNS item missing, each saying what is absent;
    the table too, exit 1."""
    sr, se = env.sel("rsa"), env.sel("ed25519")
    want = {
        f"dkim {sr}": ("missing", rf"{re.escape(sr)}\._domainkey\.example\.org.*NXDOMAIN"),
        f"dkim {se}": ("missing", rf"{re.escape(se)}\._domainkey\.example\.org.*NXDOMAIN"),
        "spf": ("missing", r"^no v=spf1 TXT record at example\.org$"),
        "dmarc": ("missing", r"_dmarc\.example\.org"),
        "mx": ("missing", r"^no MX for example\.org"),
        f"ptr {ADDR}": ("missing", rf"^no PTR for {re.escape(ADDR)}"),
    }
    env.expect(Zone([(HOST, "A", ADDR)]), want)
    r = ctl(env.m, "domain", "check", DOMAIN, rc=1)
    rows = {line.split()[0] + ("" if line.startswith(("spf", "dmarc", "mx", "tls")) else
                               " " + line.split()[1]): line for line in r.stdout.splitlines()[1:]}
    for item, (verdict, _) in want.items():
        assert re.match(rf"^{re.escape(item)} +{verdict} ", rows[item]), r.stdout
    assert re.match(r"^tls +ok ", rows["tls"]), r.stdout


# ---------------------------------------------------------------- DKIM

def test_domain_check_dkim_strings_split_anywhere(env):
    """The strings of a TXT record are joined: cut every 40 bytes (inside
    p=), with folding blanks inside p= and no k= on the RSA key (rsa is
    the default), it is still our key; another TXT beside it is ignored."""
    sr, se = env.sel("rsa"), env.sel("ed25519")
    p = env.pub("rsa")
    z = env.good().set(f"{sr}._domainkey.{DOMAIN}", "TXT",
                       txt(f"v=DKIM1; p={p[:100]} {p[100:200]}\t{p[200:]}", size=40))
    z.set(f"{se}._domainkey.{DOMAIN}", "TXT",
          txt("v=spf1 -all"), txt(f"v=DKIM1; k=ed25519; p={env.pub('ed25519')}", size=7))
    env.expect(z, {})


@pytest.mark.parametrize("algo", ["rsa", "ed25519"])
def test_domain_check_dkim_missing(env, algo):
    s = env.sel(algo)
    z = env.good().drop(f"{s}._domainkey.{DOMAIN}")
    env.expect(z, {f"dkim {s}": ("missing", rf"^{re.escape(s)}\._domainkey\.{DOMAIN}: "
                                 r"domain does not exist \(NXDOMAIN\)$")})


def test_domain_check_dkim_no_txt_at_the_name(env):
    """The name exists (an A record) but has no TXT: missing, saying so."""
    s = env.sel("rsa")
    z = env.good().drop(f"{s}._domainkey.{DOMAIN}").add(f"{s}._domainkey.{DOMAIN}", "A",
                                                         "192.0.2.1")
    env.expect(z, {f"dkim {s}": ("missing", r"no TXT record")})


def dkim_variants(env, algo):
    other, mine = env.pub(algo, OTHER), env.pub(algo)
    wrong_k = "ed25519" if algo == "rsa" else "rsa"
    return {
        "another-key": (f"v=DKIM1; k={algo}; p={other}",
                        r"^p= is not our key \(an old one\? see mtactl domain dns\)$"),
        "wrong-k": (f"v=DKIM1; k={wrong_k}; p={mine}", rf"^k={wrong_k}, our key is {algo}$"),
        "revoked": (f"v=DKIM1; k={algo}; p=", r"^p= is empty: the key is revoked$"),
        "v=DKIM2": (f"v=DKIM2; k={algo}; p={mine}", r"^v=DKIM2, not DKIM1$"),
    }


@pytest.mark.parametrize("algo", ["rsa", "ed25519"])
@pytest.mark.parametrize("case", ["another-key", "wrong-k", "revoked", "v=DKIM2"])
def test_domain_check_dkim_wrong(env, algo, case):
    s = env.sel(algo)
    value, why = dkim_variants(env, algo)[case]
    z = env.good().set(f"{s}._domainkey.{DOMAIN}", "TXT", txt(value))
    env.expect(z, {f"dkim {s}": ("wrong", why)})


def test_domain_check_dkim_ed25519_without_k(env):
    """No k= means k=rsa (RFC 6376 3.6.1): wrong for the Ed25519 key."""
    s = env.sel("ed25519")
    z = env.good().set(f"{s}._domainkey.{DOMAIN}", "TXT",
                       txt(f"v=DKIM1; p={env.pub('ed25519')}"))
    env.expect(z, {f"dkim {s}": ("wrong", r"^k=rsa, our key is ed25519$")})


def test_domain_check_dkim_without_p(env):
    """No p= at all is not the same as an empty one (revoked)."""
    s = env.sel("rsa")
    z = env.good().set(f"{s}._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; k=rsa"))
    env.expect(z, {f"dkim {s}": ("wrong", r"^no p=$")})


def test_domain_check_dkim_one_of_several_records(env):
    """A stale record beside ours at the selector: ours is found."""
    s = env.sel("rsa")
    z = env.good().add(f"{s}._domainkey.{DOMAIN}", "TXT",
                       txt(f"v=DKIM1; k=rsa; p={env.pub('rsa', OTHER)}"))
    env.expect(z, {})


def test_domain_check_dkim_through_a_cname(env):
    """A selector delegated by CNAME (hosted DNS does that): followed.
    (Its own domain: unbound keeps a TTL-0 CNAME for the rest of the second.)"""
    d = env.add_domain("cname.example.org")
    s = env.sel("rsa", d)
    z = env.good(d).drop(f"{s}._domainkey.{d}")
    z.add(f"{s}._domainkey.{d}", "CNAME", "keys.example.net.")
    z.add("keys.example.net", "TXT", txt(env.value("rsa", d)))
    env.expect(z, {}, domain=d)


def test_domain_check_dkim_servfail_is_unknown(env):
    """SERVFAIL on one selector's name (of example.com: a name no other
    test asks for -- unbound remembers a SERVFAIL for seconds): unknown,
    saying so; the rest still checked."""
    s = env.sel("rsa", OTHER)
    z = env.good(OTHER).servfail(f"{s}._domainkey.{OTHER}")
    env.expect(z, {f"dkim {s}": ("unknown", rf"^TXT lookup for {re.escape(s)}\._domainkey"
                                 r"\.example\.com: SERVFAIL$")}, domain=OTHER)


def test_domain_check_every_key_is_checked(env):
    """`domain key` adds a pair that waits to be published: the check
    covers it (missing until published, then ok); once it is activated the
    retired pair is skipped; a domain made with --no-ed25519 has one dkim
    item; a removed domain is no such domain."""
    d = env.add_domain("rotate.example.org")
    old = env.keys[d]
    ctl(env.m, "domain", "key", d, "--selector", "next")
    env.keys[d] = env.published(d)
    assert env.keys[d][:2] == old and [(s, a) for s, a, _ in env.keys[d][2:]] == \
        [("next", "rsa"), ("next-ed25519", "ed25519")], env.keys[d]
    z = env.good(d)
    for s, _, _ in env.keys[d][2:]:
        z.drop(f"{s}._domainkey.{d}")
    env.expect(z, {"dkim next": ("missing", r"^next\._domainkey"),
                   "dkim next-ed25519": ("missing", r"^next-ed25519\._domainkey")}, domain=d)
    env.expect(env.good(d), {}, domain=d)
    # activated: the old pair retires and is no longer checked (its
    # records may be gone); the new pair is
    ctl(env.m, "domain", "activate", d, "next")
    env.keys[d] = env.keys[d][2:]
    z = env.good(d)
    env.expect(z, {}, domain=d)
    z.drop(f"next-ed25519._domainkey.{d}")
    env.expect(z, {"dkim next-ed25519": ("missing", r"^next-ed25519\._domainkey")}, domain=d)
    ctl(env.m, "domain", "remove", d)
    r = ctl(env.m, "domain", "check", d, rc=1)
    assert "no such domain" in r.stderr, r

    d = env.add_domain("rsaonly.example.org", "--no-ed25519")
    assert [a for _, a, _ in env.keys[d]] == ["rsa"], env.keys[d]
    env.expect(env.good(d), {}, domain=d)


# ---------------------------------------------------------------- SPF

SPF_INC = "_spf.example.com"


@pytest.mark.parametrize("records,extra", [
    (["v=spf1 a:mx.example.net -all"], {}),
    (["v=spf1 ip4:198.18.0.5 -all"], {}),
    (["v=spf1 ip4:198.18.0.0/15 ~all"], {}),
    (["v=spf1 a:mx.example.net/24 -all"], {}),
    (["V=SPF1 +A:MX.EXAMPLE.NET -ALL"], {}),
    (["v=spf1 mx -all"], {}),
    (["v=spf1  ip4:192.0.2.1   ip4:198.18.0.5  -all "], {}),
    (["v=spf1 ip4:192.0.2.1 include:_spf.example.com -all"],
     {SPF_INC: ["v=spf1 ip4:198.18.0.5 -all"]}),
    (["v=spf1 include:_spf.example.com -all"],
     {SPF_INC: ["v=spf1 include:_spf2.example.com -all"],
      "_spf2.example.com": ["v=spf1 a:mx.example.net -all"]}),
    (["v=spf1 redirect=_spf.example.com"], {SPF_INC: ["v=spf1 ip4:198.18.0.5 -all"]}),
    (["v=spf1 ip4:192.0.2.1 redirect=_spf.example.com"],
     {SPF_INC: ["v=spf1 mx:example.org -all"]}),
    (["v=spf1 exp=explain.example.org a:mx.example.net -all"], {}),
], ids=["a", "ip4", "ip4-prefix", "a-prefix", "upper-case", "mx", "extra-blanks", "include",
        "nested-include", "redirect", "redirect-after-miss", "exp-modifier"])
def test_domain_check_spf_ok(env, records, extra):
    z = env.good().set(DOMAIN, "TXT", *[txt(r) for r in records],
                       txt("google-site-verification=abc123"))
    for name, recs in extra.items():
        z.add(name, "TXT", *[txt(r) for r in recs])
    got = env.expect(z, {})
    assert got["spf"][1] == "passes for this host's 1 address", got


def test_domain_check_spf_record_in_several_strings(env):
    """RFC 7208 3.3: the strings are joined without anything between."""
    z = env.good().set(DOMAIN, "TXT", '"v=spf1 ip4:198.18.0.5" " -all"')
    env.expect(z, {})


def test_domain_check_spf_missing(env):
    """No TXT that is "v=spf1" (a "v=spf10" is not one)."""
    z = env.good().set(DOMAIN, "TXT", txt("google-site-verification=x"), txt("v=spf10 a -all"))
    env.expect(z, {"spf": ("missing", r"^no v=spf1 TXT record at example\.org$")})
    z = env.good().drop(DOMAIN, "TXT")
    env.expect(z, {"spf": ("missing", r"^no v=spf1 TXT record at example\.org$")})


NOT_AUTH = r"^198\.18\.0\.5 is not authori[sz]ed: "


@pytest.mark.parametrize("records,extra,why", [
    (["v=spf1 a:mx.example.net -all", "v=spf1 ip4:198.18.0.5 -all"], {},
     r"^example\.org has 2 SPF records \(a permanent error\)$"),
    (["v=spf1 ip4:192.0.2.1 -all"], {}, NOT_AUTH + r"example\.org gives -all$"),
    (["v=spf1 ip4:192.0.2.1 ~all"], {}, NOT_AUTH + r"example\.org gives ~all$"),
    (["v=spf1 ip4:192.0.2.1 ?all"], {}, NOT_AUTH + r"example\.org gives \?all$"),
    (["v=spf1 ip4:192.0.2.1"], {}, NOT_AUTH + r"no term of example\.org's record matches "
     r"\(neutral\)$"),
    (["v=spf1 -all"], {}, NOT_AUTH + r"example\.org gives -all$"),
    (["v=spf1 ip4:198.18.0.6/31 -all"], {}, NOT_AUTH + r"example\.org gives -all$"),
    (["v=spf1 -a:mx.example.net +all"], {}, NOT_AUTH + r"example\.org gives -a:mx\.example\.net$"),
    (["v=spf1 a:other.example.net -all"], {"other.example.net": ("A", "192.0.2.7")},
     NOT_AUTH + r"example\.org gives -all$"),
    (["v=spf1 include:_spf.example.com -all"],
     {SPF_INC: ("TXT", txt("v=spf1 ip4:192.0.2.1 -all"))},
     NOT_AUTH + r"example\.org gives -all$"),
    (["v=spf1 redirect=_spf.example.com"],
     {SPF_INC: ("TXT", txt("v=spf1 ip4:192.0.2.1 ~all"))},
     NOT_AUTH + r"_spf\.example\.com gives ~all$"),
    (["v=spf1 -all redirect=_spf.example.com"],
     {SPF_INC: ("TXT", txt("v=spf1 ip4:198.18.0.5 -all"))},
     NOT_AUTH + r"example\.org gives -all$"),
], ids=["two-records", "fail", "softfail", "neutral-all", "no-all", "only-all", "ip4-prefix",
        "minus-a", "a-of-another-host", "include-not-covering", "redirect-not-covering",
        "all-before-redirect"])
def test_domain_check_spf_wrong(env, records, extra, why):
    z = env.good().set(DOMAIN, "TXT", *[txt(r) for r in records])
    for name, (rtype, rdata) in extra.items():
        z.add(name, rtype, rdata)
    env.expect(z, {"spf": ("wrong", why)})


# Permanent errors (RFC 7208 4.6.4, 5.2, 6.1) met below the domain's own
# record: nothing to "try again" about, so `wrong`, like two records at
# the top.  mtad says `unknown` (check_spf returns -1 for them as for a
# DNS failure, and check_spf_item maps -1 to unknown).


@pytest.mark.parametrize("records,extra,why", [
    (["v=spf1 include:_spf-none.example.com -all"], {},
     r"^include:_spf-none\.example\.com has no SPF record \(a permanent error\)$"),
    (["v=spf1 include:_spf-two.example.com -all"],
     {"_spf-two.example.com": ["v=spf1 -all", "v=spf1 +all"]},
     r"^_spf-two\.example\.com has 2 SPF records"),
    (["v=spf1 include:example.org -all"], {}, r"^more than 10 SPF DNS lookups"),
], ids=["include-without-record", "include-two-records", "include-loop"])
def test_domain_check_spf_permanent_error(env, records, extra, why):
    z = env.good().set(DOMAIN, "TXT", *[txt(r) for r in records])
    for name, recs in extra.items():
        z.add(name, "TXT", *[txt(r) for r in recs])
    env.expect(z, {"spf": ("wrong", why)})


def test_domain_check_spf_redirect_without_record(env):
    z = env.good().set(DOMAIN, "TXT", txt("v=spf1 redirect=_spf-none.example.com"))
    env.expect(z, {"spf": ("wrong", r"_spf-none\.example\.com")})


def test_domain_check_spf_two_records_at_a_failed_name(env):
    d = env.add_domain("failed.example.org")
    z = env.good(d).add(d, "TXT", txt("v=spf1 -all"))
    env.expect(z, {"spf": ("wrong", r"has 2 SPF records")}, domain=d)


def test_domain_check_spf_include_servfail_is_unknown(env):
    """SERVFAIL on the included name: unknown, and the reason says so."""
    z = env.good().set(DOMAIN, "TXT", txt("v=spf1 include:_spf-sf.example.com -all"))
    z.servfail("_spf-sf.example.com")
    env.expect(z, {"spf": ("unknown", r"^TXT lookup for _spf-sf\.example\.com failed$")})


def test_domain_check_spf_a_servfail_says_why(env):
    z = env.good().set(DOMAIN, "TXT", txt("v=spf1 a:sf-a.example.net -all"))
    z.servfail("sf-a.example.net")
    env.expect(z, {"spf": ("unknown", r"sf-a\.example\.net")})


def test_domain_check_spf_unevaluated_term_is_unknown(env):
    z = env.good().set(DOMAIN, "TXT", txt("v=spf1 ptr -all"))
    env.expect(z, {"spf": ("unknown", r'^SPF term "ptr" is not evaluated here$')})
    z = env.good().set(DOMAIN, "TXT", txt("v=spf1 a:%{d}.example.net -all"))
    env.expect(z, {"spf": ("unknown", r"^SPF macro in .* is not evaluated here$")})


def test_domain_check_domain_servfail(env):
    """SERVFAIL for every query of the domain itself and of its _dmarc
    name (a domain of this test only): spf, dmarc and mx unknown."""
    d = env.add_domain("broken.example.com")
    z = env.good(d).servfail(d).servfail(f"_dmarc.{d}")
    env.expect(z, {"spf": ("unknown", r"^TXT lookup for broken\.example\.com failed$"),
                   "dmarc": ("unknown", r"^TXT lookup for _dmarc\.broken\.example\.com: "
                             r"SERVFAIL$"),
                   "mx": ("unknown", r"broken\.example\.com")}, domain=d)


def test_domain_check_servfail_reasons_say_the_lookup_failed(env):
    d = env.add_domain("broken2.example.com")
    z = env.good(d).servfail(d)
    z.add(HOST, "A", "198.18.0.7").servfail(ptr_name("198.18.0.7")[:-1])
    got = env.expect(z, {"spf": ("unknown", r"failed"), "mx": ("unknown", r""),
                         "ptr 198.18.0.7": ("unknown", r"")},
                     domain=d, addrs=(ADDR, "198.18.0.7"))
    bad = {i: got[i] for i in ("mx", "ptr 198.18.0.7")
           if not re.search(r"SERVFAIL|fail", got[i][1])}
    assert not bad, f"reasons that do not say the lookup failed: {bad}"


# ---------------------------------------------------------------- the hostname's addresses

V6_ZONE_ADDRS = (ADDR6, ADDR)


def v6_zone(env):
    return env.good().add(HOST, "AAAA", ADDR6).add(ptr_name(ADDR6)[:-1], "PTR", HOST + ".")


def test_domain_check_ipv6_and_ipv4_addresses(env):
    """The hostname has AAAA and A: SPF must pass for both; one ptr item
    each, the IPv6 one first (dns.c asks AAAA first)."""
    z = v6_zone(env)
    rc, out = env.check(z)
    assert [i["item"] for i in out["items"]][-3:] == [f"ptr {ADDR6}", f"ptr {ADDR}", "tls"], out
    got = env.expect(z, {}, addrs=V6_ZONE_ADDRS)
    assert got["spf"][1] == "passes for this host's 2 addresses", got
    z.set(DOMAIN, "TXT", txt("v=spf1 ip4:198.18.0.5 -all"))
    env.expect(z, {"spf": ("wrong", r"^2a01:4f8::5 is not authori[sz]ed: example\.org "
                           r"gives -all$")}, addrs=V6_ZONE_ADDRS)
    z.set(DOMAIN, "TXT", txt("v=spf1 a:mx.example.net -all")).drop(ptr_name(ADDR6)[:-1])
    env.expect(z, {f"ptr {ADDR6}": ("missing", r"^no PTR for 2a01:4f8::5")},
               addrs=V6_ZONE_ADDRS)




@pytest.mark.parametrize("term", [
    "ip6:2a01:4f8::5", "ip6:2a01:4f8::/32", "a//64", "a:mx.example.net/24//64",
    "ip6:2a01:4f8::/48",
    "ip6:2a01:4f8::/64",
])
def test_domain_check_spf_ip6(env, term):
    z = v6_zone(env).set(DOMAIN, "TXT", txt(f"v=spf1 ip4:198.18.0.5 {term} -all"))
    if term.startswith("a"):
        z.set(DOMAIN, "TXT", txt(f"v=spf1 {term.replace('a//', 'a:mx.example.net//')} -all"))
    env.expect(z, {}, addrs=V6_ZONE_ADDRS)


def test_domain_check_two_addresses_one_ptr(env):
    z = env.good().add(HOST, "A", "198.18.0.6")
    got = env.expect(z, {"ptr 198.18.0.6": ("missing", r"^no PTR for 198\.18\.0\.6")},
                     addrs=(ADDR, "198.18.0.6"))
    assert got["spf"][1] == "passes for this host's 2 addresses", got


def test_domain_check_hostname_without_address(env):
    """No A/AAAA for the hostname: one `ptr` item, missing; SPF cannot be
    evaluated for no address."""
    z = env.good().drop(HOST, "A")
    env.expect(z, {"ptr": ("missing", r"^the hostname has no address"),
                   "spf": ("unknown", r"^this host has no address$")}, addrs=())


# ---------------------------------------------------------------- DMARC

@pytest.mark.parametrize("records,why", [
    (["v=DMARC1; p=none; rua=mailto:postmaster@example.org"],
     r"^p=none: reports only; move to quarantine, then reject$"),
    (["v=DMARC1;p=quarantine"], r"^p=quarantine; "),
    (["v=DMARC1; sp=none; pct=100; p = reject"], r"^p=reject; "),
    (["v=DMARC1; p=reject", "something else"], r"^p=reject; "),
], ids=["none", "quarantine-no-blanks", "other-tags-first", "beside-another-txt"])
def test_domain_check_dmarc_ok(env, records, why):
    z = env.good().set(f"_dmarc.{DOMAIN}", "TXT", *[txt(r, size=9) for r in records])
    got = env.expect(z, {})
    assert re.search(why, got["dmarc"][1]), got


@pytest.mark.parametrize("records,verdict,why", [
    ([], "missing", r"^_dmarc\.example\.org: domain does not exist \(NXDOMAIN\)$"),
    (["hello"], "missing", r"^no v=DMARC1 TXT record at _dmarc\.example\.org$"),
    (["v=DMARC1"], "wrong", r"^no p= \(none, quarantine or reject\)$"),
    (["v=DMARC1; rua=mailto:d@example.org"], "wrong", r"^no p= "),
    (["v=DMARC1; p=bogus"], "wrong", r"^p=bogus: not none, quarantine or reject$"),
    (["v=DMARC1; p="], "wrong", r"^p=: not none, quarantine or reject$"),
    (["v=DMARC1; p=reject", "v=DMARC1; p=none"], "wrong",
     r"^2 DMARC records: receivers ignore them all$"),
], ids=["absent", "not-dmarc", "no-p", "no-p-other-tags", "bogus-p", "empty-p", "two-records"])
def test_domain_check_dmarc_bad(env, records, verdict, why):
    z = env.good().drop(f"_dmarc.{DOMAIN}")
    if records:
        z.add(f"_dmarc.{DOMAIN}", "TXT", *[txt(r) for r in records])
    env.expect(z, {"dmarc": (verdict, why)})


@pytest.mark.xfail(strict=True, reason="LIMITATION check.c check_dmarc: only "
                   "_dmarc.DOMAIN is read; RFC 7489 6.6.3 applies the organizational "
                   "domain's policy (sp=, else p=) to a subdomain without its own record")
def test_domain_check_dmarc_of_the_organizational_domain(env):
    d = env.add_domain("news.example.org")
    z = env.good(d).drop(f"_dmarc.{d}").add(f"_dmarc.{DOMAIN}", "TXT",
                                            txt("v=DMARC1; p=reject"))
    env.expect(z, {}, domain=d)


# ---------------------------------------------------------------- MX

def test_domain_check_mx_missing(env):
    z = env.good().drop(DOMAIN, "MX")
    env.expect(z, {"mx": ("missing", r"^no MX for example\.org: replies and bounces to it "
                          r"may not be deliverable$")})


def test_domain_check_null_mx(env):
    z = env.good().set(DOMAIN, "MX", "0 .")
    env.expect(z, {"mx": ("wrong", r"^null MX \(RFC 7505\): the domain takes no mail")})


def test_domain_check_mx_first_is_the_preferred(env):
    """Two MX: counted; "first" is the most preferred one, whatever the
    order of the answer (unbound rotates it now and then: asked for up to
    3 s, both zone orders)."""
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for mxs in (["20 backup.example.net.", f"10 {HOST}."],
                    [f"10 {HOST}.", "20 backup.example.net."]):
            got = env.expect(env.good().set(DOMAIN, "MX", *mxs), {})
            assert got["mx"][1] == f"2 MX, preferred {HOST}", got
        time.sleep(0.1)


# ---------------------------------------------------------------- PTR

def test_domain_check_ptr_missing(env):
    env.expect(env.good().drop(PTR), {
        f"ptr {ADDR}": ("missing", r"^no PTR for 198\.18\.0\.5: mail from it looks like a "
                        r"home connection$")})


def test_domain_check_ptr_names_another_host(env):
    z = env.good().set(PTR, "PTR", "other.example.com.")
    env.expect(z, {f"ptr {ADDR}": (
        "wrong", r"^names other\.example\.com, not mx\.example\.net \(the hostname\)$")})


def test_domain_check_ptr_one_of_two_names_and_case(env):
    z = env.good().set(PTR, "PTR", "other.example.com.", "MX.Example.NET.")
    got = env.expect(z, {})
    assert got[f"ptr {ADDR}"][1] == f"{HOST}, which resolves back to {ADDR}", got


@pytest.mark.xfail(strict=True, reason="LIMITATION dns.c dns_init: with `resolver`, unbound "
                   "still answers its default local zones itself (reverse of 127/8, 10/8, "
                   "172.16/12, 192.168/16, 100.64/10, the documentation nets, fd00::/8, "
                   "2001:db8::/32), so their PTRs are never asked of the resolver")
def test_domain_check_ptr_of_a_loopback_address(env):
    """Why the module uses 198.18.0.5 and not 127.0.0.5."""
    z = env.good().set(HOST, "A", "127.0.0.5")
    z.add("5.0.0.127.in-addr.arpa", "PTR", HOST + ".")
    z.set(DOMAIN, "TXT", txt("v=spf1 ip4:127.0.0.5 -all"))
    env.expect(z, {}, addrs=("127.0.0.5",))


# ---------------------------------------------------------------- TLS

@pytest.mark.parametrize("cert,verdict,why", [
    ("wild", "ok", r"^valid for mx\.example\.net for 36\d\d more days$"),
    ("other", "wrong", r"/other\.crt does not name mx\.example\.net$"),
    ("expired", "wrong", r"/expired\.crt has expired$"),
    ("future", "wrong", r"/future\.crt is not valid yet$"),
    (None, "missing", r"^no tls_cert: STARTTLS is not offered to clients$"),
])
def test_domain_check_tls(env, tls, cert, verdict, why):
    tls(cert)
    env.expect(env.good(), {"tls": (verdict, why)})


def test_domain_check_tls_file_replaced(env, tls):
    """The check reads tls_cert as it is on disk now (mtad serves the one
    it loaded): replaced by something that is no certificate, wrong."""
    crt, key = env.certs["ok"]
    swap = crt.parent / "swap.crt"
    swap.write_bytes(crt.read_bytes())
    env.certs["swap"] = (swap, key)
    tls("swap")
    env.expect(env.good(), {})
    swap.write_text("not a certificate\n")
    env.expect(env.good(), {"tls": ("wrong", r"/swap\.crt: not a readable PEM certificate$")})


# ---------------------------------------------------------------- output, timing

def test_domain_check_table_has_no_control_characters(env):
    """Record text in a reason (an include: target, a p= value) is shown
    without its control characters."""
    z = env.good().set(DOMAIN, "TXT", r'"v=spf1 include:\033]0;owned\007\033[2J -all"')
    z.set(f"_dmarc.{DOMAIN}", "TXT", r'"v=DMARC1; p=\033[31mred\015"')
    env.dns.serve(z.text())
    r = ctl(env.m, "domain", "check", DOMAIN, rc=1)
    assert "include:" in r.stdout and "p=" in r.stdout, r.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", r.stdout), repr(r.stdout)


def test_domain_check_is_quick(env):
    """Every lookup answered: a check takes well under a second or two."""
    env.dns.serve(env.good().text())
    t0 = time.monotonic()
    ctl(env.m, "domain", "check", DOMAIN, rc=0)
    assert time.monotonic() - t0 < 2.0
