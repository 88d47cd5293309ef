"""End-to-end tests of DKIM signing (mtad/dkim.c, dkimkey.c, domain.c,
signer.c; the domain.* control commands and `mtactl domain ...`).

A real mtad relays every domain (`route *`) to a real aiosmtpd sink on
loopback; what reaches the sink is checked by an independent verifier,
dkimpy (python3-dkim), whose DNS lookups are answered only from the TXT
records that `mtactl --json domain dns NAME` printed.  Both signatures of
a domain (rsa-sha256 and ed25519-sha256, RFC 8463) are verified one by one
(`dkim.DKIM(msg).verify(idx=...)`) over a corpus of varied messages, and
tampered copies must fail (so the checks can fail).  Rotation (`domain
key`, `domain activate`), removal, `--no-ed25519`, `--rsa-bits 3072`, IDN
sender domains, the error exits, `domain list --json`, that no private key
is ever printed or logged, the database's mode and mail from local
`mtactl send` are covered too.

Every wait polls against a deadline; only the processes the fixtures
start are stopped.

Run: make integration PYTEST_ARGS="-k dkim"
"""
import base64
import json
import os
import random
import re
import smtplib
import stat
import time

import dkim
import pytest

from mtadtest import QID_RE, Client
from test_mtactl import Raw, T, ctl, ctl_json, relay, sink  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

DOMAIN = "signed.example"
IDN_U = "bücher.example"
IDN_A = "xn--bcher-kva.example"
RSA, ED = "rsa-sha256", "ed25519-sha256"
SEL_RE = re.compile(r"^mtad\d{14}$")          # mtadYYYYMMDDHHMMSS, UTC
PRIVATE = "PRIVATE KEY"


# ---------------------------------------------------------------- DNS and the verifier

class Zone:
    """TXT records as `mtactl --json domain dns` printed them, answered to
    dkimpy (its names are bytes, with or without the trailing dot)."""

    def __init__(self):
        self.txt = {}
        self.asked = []

    def add(self, m, name):
        recs = ctl_json(m, "domain", "dns", name)
        assert isinstance(recs, list) and recs, recs
        for r in recs:
            assert set(r) == {"name", "type", "value", "note"}, r
            if r["type"] == "TXT":
                self.txt[r["name"].lower()] = r["value"]
        return recs

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        key = name.lower() if name.endswith(".") else name.lower() + "."
        self.asked.append(key)
        v = self.txt.get(key)
        return v.encode("ascii") if v is not None else None


def zone_txt(text):
    """{name: value} of the TXT lines of `mtactl domain dns` (zone-file form:
    NAME IN TXT ( "..." "..." )), each string at most 255 bytes."""
    out = {}
    for line in text.splitlines():
        mm = re.match(r'^(\S+) IN TXT \( ((?:"[^"]*" ?)+)\)$', line)
        if mm:
            parts = re.findall(r'"([^"]*)"', mm.group(2))
            assert all(len(p.encode()) <= 255 for p in parts), line
            out[mm.group(1).lower()] = "".join(parts)
    return out


def unfold_fields(data):
    """The header section of data (bytes) as [(name bytes, raw value bytes)]."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b"\r\n" + line
        elif b":" in line:
            name, value = line.split(b":", 1)
            fields.append([name, value])
    return fields


def sig_tags(data):
    """The tags of each DKIM-Signature field, top first: [{tag: value}]
    (values with their folding white space removed)."""
    sigs = []
    for name, value in unfold_fields(data):
        if name.strip().lower() != b"dkim-signature":
            continue
        tags = {}
        for part in value.split(b";"):
            if b"=" in part:
                k, v = part.split(b"=", 1)
                tags[k.strip().decode()] = re.sub(rb"\s+", b"", v).decode()
        sigs.append(tags)
    return sigs


def verify_one(data, zone, idx):
    """(ok, why) of dkimpy's verdict on signature idx of data."""
    d = dkim.DKIM(data)
    try:
        ok = d.verify(idx=idx, dnsfunc=zone.dnsfunc)
    except dkim.DKIMException as e:
        return False, f"{type(e).__name__}: {e}", d
    return bool(ok), "" if ok else "the signature does not verify", d


def assert_signed(data, zone, domain, selectors, what="", now=None):
    """data carries exactly one DKIM-Signature per entry of selectors
    ({algorithm: selector}), at the top, each verifying with dkimpy."""
    allsigs = sig_tags(data)
    sigs = allsigs[:len(selectors)]
    ours = [s for s in allsigs if s.get("d") == domain]
    assert len(ours) == len(selectors) and ours == sigs, \
        f"{what}: {len(ours)} signatures of {domain} (of {len(allsigs)}), want " \
        f"{len(selectors)} at the top: {allsigs}\n{data[:3000]!r}"
    top = unfold_fields(data)[:len(sigs)]
    assert all(n.lower() == b"dkim-signature" for n, _ in top), \
        f"{what}: the signatures are not the first fields: {[n for n, _ in top]}"
    got = {}
    for idx, tags in enumerate(sigs):
        assert tags.get("v") == "1", (what, tags)
        assert tags.get("c") == "relaxed/relaxed", (what, tags)
        assert tags.get("d") == domain, (what, tags)
        a = tags.get("a")
        assert a in selectors and a not in got, (what, idx, tags)
        assert tags.get("s") == selectors[a], (what, tags)
        h = tags["h"].lower().split(":")
        assert h.count("from") >= 2, f"{what}: From not over-signed: {tags['h']}"
        assert "dkim-signature" not in h and "received" not in h, (what, tags["h"])
        t = int(tags["t"])
        now = now or time.time()
        assert now - 300 <= t <= now + 5, (what, t, now)
        ok, why, d = verify_one(data, zone, idx)
        assert ok, f"{what}: signature {idx} (a={a} s={tags.get('s')}) fails: {why}\n" \
                   f"tags: {tags}\nmessage head: {data[:4000]!r}"
        assert d.domain == domain.encode() and d.selector == selectors[a].encode()
        siglen = len(base64.b64decode(tags["b"]))
        if a == ED:
            assert siglen == 64, (what, siglen)
        got[a] = (tags, d)
    # in the order the keys were made: RSA first (mtad(8), DKIM SIGNING)
    if set(selectors) == {RSA, ED}:
        assert [t["a"] for t in sigs] == [RSA, ED], (what, [t["a"] for t in sigs])
    return got


def assert_fails(data, zone, n, what, reason):
    """Each of the n signatures at the top of data fails, for `reason`."""
    for idx in range(n):
        ok, why, _ = verify_one(data, zone, idx)
        assert not ok, f"{what}: signature {idx} still verifies"
        assert reason in why, f"{what}: signature {idx} fails, but not for {reason!r}: {why}"


# ---------------------------------------------------------------- mtad helpers

def received_dkim(m, qid, timeout=T):
    """The dkim= of qid's event=received log line."""
    return m.wait_for_log(rf"^\S+ {qid} event=received .*\bdkim=(\S+)", timeout).group(1)


def domain_add(m, name, *opts):
    """`mtactl --json domain add NAME OPTS`: its result."""
    return ctl_json(m, "domain", "add", name, *opts)


def stuff(msg):
    """Dot-stuffing for the raw client (RFC 5321 4.5.2)."""
    return re.sub(rb"(?m)^\.", b"..", msg)


def send_raw(m, msg, rcpt, sender="sender@example.org", params=""):
    """msg (bytes, CRLF lines, ending in CRLF) over SMTP: its queue ID."""
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        return c.send_message(body=stuff(msg), sender=sender, rcpts=(rcpt,),
                              mail_params=params)


def simple(frm=f"Alice <alice@{DOMAIN}>", subject="hello", body=b"hello\r\n", extra=b""):
    return (f"From: {frm}\r\nTo: <bob@example.net>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            f"Message-ID: <{random.getrandbits(64):x}@client.example>\r\n").encode() \
        + extra + b"\r\n" + body


def one_for(sink, rcpt, timeout=T):
    ms = sink.wait_messages(1, timeout, rcpt=rcpt)
    assert len(ms) == 1, ms
    return ms[0].data


def signed_relay(relay, *opts, domain=DOMAIN):
    """A relay with `domain` added (default keys): (mtad, zone, {algo: selector})."""
    m = relay()
    r = domain_add(m, domain, *opts)
    zone = Zone()
    zone.add(m, domain)
    sels = {}
    for k in r["keys"]:
        if k["active"]:
            sels[k["algorithm"]] = k["selector"]
    return m, zone, sels


# ---------------------------------------------------------------- the corpus

def _b64_lines(raw):
    b = base64.b64encode(raw)
    return b"\r\n".join(b[i:i + 76] for i in range(0, len(b), 76)) + b"\r\n"


def corpus():
    """[(name, message bytes, how)]: how is "raw" (our client, dot-stuffed,
    MAIL params in a tuple), or ("smtplib", options) for smtplib.sendmail."""
    rnd = random.Random(6376)
    F = f"From: Alice <alice@{DOMAIN}>\r\n"
    base = (F + "To: Bob <bob@example.net>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            "Message-ID: <{n}@client.example>\r\n")
    cases = []

    def add(name, msg, how=("raw", "")):
        cases.append((name, msg, how))

    def std(subject, body, extra="", mime=""):
        return (base.format(n=len(cases)) + f"Subject: {subject}\r\n" + extra + mime
                ).encode() + b"\r\n" + body

    add("plain", std("plain", b"Hello, world.\r\nSecond line.\r\n"))
    alt = (b"--ALT\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain part\r\n"
           b"--ALT\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
           b"<html><body><p>html   part</p>\t</body></html>\r\n--ALT--\r\n")
    add("multipart/alternative", std("alt", alt, mime="MIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative; boundary=\"ALT\"\r\n"))
    att = bytes(rnd.getrandbits(8) for _ in range(5000))
    mixed = (b"This is a multi-part message in MIME format.\r\n\r\n--MIX\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
             b"\r\nsee the attachments\r\n\r\n--MIX\r\nContent-Type: application/octet-stream;"
             b"\r\n\tname=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n"
             + _b64_lines(att) + b"\r\n--MIX\r\nContent-Type: image/png\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64_lines(att[:777])
             + b"--MIX--\r\n\r\nepilogue\r\n")
    add("multipart/mixed, base64 attachments", std("mixed", mixed, mime=(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"MIX\"\r\n")))
    add("8-bit UTF-8 body (8BITMIME)", std("8bit", "Grüße aus Köln — ½ € ✓\r\n"
        "日本語のテキスト\r\n".encode(), mime="MIME-Version: 1.0\r\nContent-Type: text/plain;"
        " charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"), ("raw", " BODY=8BITMIME"))
    add("8-bit latin-1 body (8BITMIME)", std("latin1", "caf\xe9 na\xefve \xa9\r\n"
        .encode("latin-1") + bytes(range(0x80, 0x100)) + b"\r\n",
        mime="Content-Type: text/plain; charset=iso-8859-1\r\n"), ("raw", " BODY=8BITMIME"))
    add("quoted-printable", std("qp", b"caf=C3=A9 with a soft line break here =\r\n"
        b"and a trailing space kept=20\r\n=3D equals\r\nlast line=\r\n",
        mime="Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"))
    add("long Subject folded", std("a very long subject line " * 2 + "\r\n continued on "
        "a second line\r\n\tand a third with a tab\r\n   and a fourth", b"body\r\n"))
    many = ",\r\n ".join(f"Person {i} <person{i}@example{i % 7}.net>" for i in range(60))
    add("To with many addresses folded",
        (F + f"To: {many}\r\nSubject: many\r\n").encode() + b"\r\nbody\r\n")
    add("long lines (998 octets)", std("x" * (998 - len("Subject: ")), (b"y" * 998 + b"\r\n")
        + (b"z " * 499)[:998] + b"\r\n" + b"\t" * 998 + b"\r\nend\r\n"))
    add("header only, no empty line", (F + "Subject: header only\r\n").encode())
    add("header and the empty line, no body", std("empty", b""))
    add("body without a final CRLF (smtplib)",
        std("nofinal", b"line one\r\nno final newline"), ("smtplib", ()))
    add("LF line endings (smtplib)",
        std("lf", b"").replace(b"\r\n", b"\n") + b"one\ntwo  \n\n", ("smtplib", ()))
    add("trailing whitespace on lines", std("trailing", b"spaces   \r\ntab\t\r\nboth \t \t"
        b"\r\nnone\r\n"))
    add("runs of blanks and tabs", std("runs", b"a  b\t\tc \t d\r\n  leading two\r\n\t"
        b"leading tab\r\n \t \tx\r\n"))
    add("many trailing empty lines", std("trail", b"text\r\n" + b"\r\n" * 40))
    add("trailing lines of blanks only", std("blank", b"text\r\n \r\n\t\r\n  \t \r\n\r\n"))
    add("empty lines inside the body", std("inside", b"\r\n\r\na\r\n\r\n \r\n\r\nb\r\n"))
    add("lines starting with dots", std("dots", b".\r\n..\r\n.hidden\r\n...three\r\n"
        b" .not first\r\n.\r\nlast.\r\n"))
    add("only a dot line", std("dot", b".\r\n"))
    add("two To: and two Subject:", (F + "To: first@example.net\r\nSubject: first\r\n"
        "To: second@example.net\r\nSubject: second\r\nCc: c1@example.net\r\n"
        "Cc: c2@example.net\r\n").encode() + b"\r\nduplicates\r\n")
    add("RFC 2047 encoded subject", std("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= and "
        "=?ISO-8859-1?Q?caf=E9?=", b"encoded words\r\n"))
    add("From with display name and comments", (
        f"From: \"Doe, Jane (Sales)\" (the boss) <jane@{DOMAIN}> (office)\r\n"
        "Subject: comments\r\nTo: x@example.net\r\n").encode() + b"\r\nbody\r\n")
    add("From address first, comment after", (
        f"From: jane@{DOMAIN} (Jane Doe)\r\nSubject: bare\r\n").encode() + b"\r\nbody\r\n")
    add("lower-case field names", (f"from: alice@{DOMAIN}\r\nsubject: lower\r\n"
        "to: x@example.net\r\nmessage-id: <lc@client.example>\r\n").encode() + b"\r\nbody\r\n")
    add("upper-case field names and domain", (f"FROM: ALICE@{DOMAIN.upper()}\r\n"
        "SUBJECT: UPPER\r\nTO: X@EXAMPLE.NET\r\n").encode() + b"\r\nBODY\r\n")
    add("tabs after the colon", (f"From:\t<alice@{DOMAIN}>\r\nSubject:\t\tTabbed  "
        "\t subject\t\r\nTo:\t \tx@example.net\r\n").encode() + b"\r\nbody\r\n")
    add("From folded onto a second line", (f"From: \"A rather long display name\"\r\n"
        f"\t<alice@{DOMAIN}>\r\nSubject: folded from\r\n").encode() + b"\r\nbody\r\n")
    add("empty header values", (F + "Subject:\r\nCc: \r\nReply-To:\r\n").encode()
        + b"\r\nbody\r\n")
    add("CRLF-only body", std("crlf", b"\r\n\r\n\r\n"))
    add("every signed field, long folded References",
        std("all", b"body\r\n", extra="Cc: c@example.net\r\nReply-To: r@example.net\r\n"
            "In-Reply-To: <p@example.net>\r\nReferences: " + "\r\n ".join(
                f"<ref{i}.{'r' * 30}@example.net>" for i in range(20)) + "\r\n"
            "List-Unsubscribe: <mailto:unsub@example.net>,\r\n <https://example.net/u>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            + "".join(f"X-Extra-{i}: value {i}\r\n" for i in range(40)),
            mime="MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n\tcharset=\"us-ascii\";"
            "\r\n\tformat=flowed\r\nContent-Transfer-Encoding: 7bit\r\n"))
    add("an old DKIM-Signature and Received fields already there", (
        b"Received: from a.example by b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=other.example;\r\n"
        b"\ts=old; h=from:subject; bh=AAAA; b=AAAA\r\n") + std("forwarded", b"body\r\n"))
    big = bytes(rnd.getrandbits(8) for _ in range(780 * 1024))
    add("1 MiB message", std("big", b"--B\r\nContent-Type: text/plain\r\n\r\nbig\r\n"
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + _b64_lines(big) + b"--B--\r\n", mime="MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=B\r\n"))
    add("SMTPUTF8 with UTF-8 headers", (
        f"From: Jörg Müller <jörg@{DOMAIN}>\r\nTo: 用户 <用户@example.net>\r\n"
        "Subject: Grüße, 世界\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8"
        "\r\nContent-Transfer-Encoding: 8bit\r\n\r\nUnicode body ✓\r\n").encode(),
        ("raw", " SMTPUTF8 BODY=8BITMIME"))
    add("a continuation line of blanks only", (
        F + "Subject: before\r\n \t \r\n after\r\nX-Other: x\r\n").encode() + b"\r\nbody\r\n")
    add("header field with trailing blanks and folding white space", (
        F + "Subject: part one   \r\n\t  part two \t\r\n  \tpart three\r\n").encode()
        + b"\r\nbody\r\n")
    add("binary-looking 8-bit body with control characters", std("ctl", bytes(
        range(1, 9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f\xff\xfe\r\n",
        mime="Content-Type: application/octet-stream\r\n"), ("raw", " BODY=8BITMIME"))
    return cases


def expected_at_sink(msg, how):
    """What the sink must get after our fields: msg as it left the client."""
    if how[0] == "smtplib":
        msg = re.sub(rb"(?<!\r)\n", b"\r\n", msg)
        if not msg.endswith(b"\r\n"):
            msg += b"\r\n"
    return msg


def test_dkim_corpus_both_signatures_verify(relay, sink):
    """Over 30 varied messages, each reaches the sink with an rsa-sha256 and
    an ed25519-sha256 signature that dkimpy verifies with the published
    records; the message itself is unchanged after our header fields."""
    m, zone, sels = signed_relay(relay)
    assert set(sels) == {RSA, ED}, sels
    assert SEL_RE.match(sels[RSA]) and sels[ED] == sels[RSA] + "-ed25519", sels
    # the default selector is the UTC date the keys were made
    made = ctl_json(m, "domain", "list")[0]["keys"][0]["created_at"]
    assert sels[RSA] == "mtad" + re.sub(r"\D", "", made), (sels, made)   # its creation, UTC
    cases = corpus()
    assert len(cases) >= 30, len(cases)
    sent = {}
    with Client(m.port) as c:
        c.greeting()
        c.ehlo()
        for i, (name, msg, how) in enumerate(cases):
            rcpt = f"case{i}@example.net"
            if how[0] == "raw":
                qid = c.send_message(body=stuff(msg), sender="sender@example.org",
                                     rcpts=(rcpt,), mail_params=how[1])
                sent[rcpt] = (name, msg, how, qid)
    for i, (name, msg, how) in enumerate(cases):
        if how[0] != "smtplib":
            continue
        rcpt = f"case{i}@example.net"
        with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.example",
                          timeout=T) as s:
            # a str is sent with its line ends made CRLF (smtplib's _fix_eols)
            s.sendmail("sender@example.org", [rcpt], msg.decode("ascii") if b"\r" not in msg
                       else msg)
        sent[rcpt] = (name, msg, how, None)
    sink.wait_for(lambda s: len(s.messages) >= len(cases), 20, f"{len(cases)} messages")
    failures = []
    for rcpt, (name, msg, how, qid) in sent.items():
        data = one_for(sink, rcpt)
        try:
            assert_signed(data, zone, DOMAIN, sels, what=name)
            want = expected_at_sink(msg, how)
            assert data.endswith(want), f"{name}: the message changed in transit"
            prefix = data[:-len(want)] if want else data
            names = [n.lower() for n, _ in unfold_fields(prefix + b"\r\n")]
            assert names == [b"dkim-signature", b"dkim-signature", b"received"], \
                f"{name}: added fields {names}"
        except AssertionError as e:
            failures.append(f"[{name}] {e}")
        if qid is not None:
            assert received_dkim(m, qid) == DOMAIN, name
    assert not failures, f"{len(failures)} of {len(cases)} failed:\n" + "\n\n".join(failures)
    assert any(k.startswith(sels[RSA] + "._domainkey.") for k in zone.asked), zone.asked
    assert any(k.startswith(sels[ED] + "._domainkey.") for k in zone.asked), zone.asked
    assert not m.find_log(r"\bdkim=(none|failed)\b"), m.log_text()


# ---------------------------------------------------------------- tampering

def test_dkim_tampered_messages_fail(relay, sink):
    """The verifier is not a rubber stamp: a changed body, a changed Subject,
    an added From (over-signed) fail both signatures; a re-folded signed
    field and an added unsigned field still verify (relaxed)."""
    m, zone, sels = signed_relay(relay)
    msg = simple(subject="original subject", body=b"the body\r\nline two\r\n")
    send_raw(m, msg, "t@example.net")
    data = one_for(sink, "t@example.net")
    assert_signed(data, zone, DOMAIN, sels, "untouched")

    bad_body, bad_sig = "body hash mismatch", "the signature does not verify"
    assert_fails(data.replace(b"line two", b"line 2"), zone, 2, "a changed body", bad_body)
    assert_fails(data + b"appended\r\n", zone, 2, "an appended body line", bad_body)
    assert_fails(data.replace(b"Subject: original subject", b"Subject: changed subject"),
                 zone, 2, "a changed Subject", bad_sig)
    head, body = data.split(b"\r\n\r\n", 1)
    assert_fails(head + f"\r\nFrom: mallory@{DOMAIN}".encode() + b"\r\n\r\n" + body, zone, 2,
                 "an added From", bad_sig)
    assert_fails(head + b"\r\nSubject: second subject\r\n\r\n" + body, zone, 2,
                 "an added Subject", bad_sig)
    # a wrong key in DNS fails too
    other = Zone()
    other.txt = {k: v for k, v in zone.txt.items()}
    for k in other.txt:
        if "._domainkey." in k:
            other.txt[k] = re.sub(r"p=(.)", lambda mm: "p=" + ("A" if mm.group(1) != "A"
                                                               else "B"), other.txt[k])
    for idx in range(2):
        ok, _, _ = verify_one(data, other, idx)
        assert not ok, f"signature {idx} verifies with a damaged key"
    # relaxed: whitespace changes and unsigned fields do not matter
    loose = data.replace(b"Subject: original subject", b"Subject:   original\r\n\t subject  ")
    loose = loose.replace(b"the body\r\n", b"the   body \t\r\n")
    head, body = loose.split(b"\r\n\r\n", 1)
    loose = head + b"\r\nX-Added-Later: yes\r\n\r\n" + body + b"\r\n\r\n"
    assert_signed(loose, zone, DOMAIN, sels, "re-folded, unsigned field added")


# ---------------------------------------------------------------- unsigned mail

def test_dkim_mail_of_other_domains_is_unsigned(relay, sink):
    """From: a domain without keys, or no From: at all: no signature, and
    the received line says dkim=none; the signed domain's mail, sent in
    between, says dkim=DOMAIN (the positive control)."""
    m, zone, sels = signed_relay(relay)
    q1 = send_raw(m, simple(frm="x@unsigned.example"), "u1@example.net")
    q2 = send_raw(m, b"Subject: no from at all\r\n\r\nbody\r\n", "u2@example.net")
    q3 = send_raw(m, simple(frm=f"x@sub.{DOMAIN}"), "u3@example.net")
    q4 = send_raw(m, simple(), "s@example.net")
    q5 = send_raw(m, simple(frm=f"x@{DOMAIN}.evil.example"), "u4@example.net")
    assert received_dkim(m, q4) == DOMAIN
    assert_signed(one_for(sink, "s@example.net"), zone, DOMAIN, sels, "signed")
    for q, r in ((q1, "u1"), (q2, "u2"), (q3, "u3"), (q5, "u4")):
        assert received_dkim(m, q) == "none", (r, m.log_text())
        data = one_for(sink, f"{r}@example.net")
        assert sig_tags(data) == [], (r, data[:2000])


def test_dkim_subdomains_signed_by_the_parent(relay, sink):
    """`domain subdomains NAME on`: mail From: a subdomain without keys of
    its own is signed d=NAME with NAME's keys (verified by dkimpy); a
    look-alike is not; `off` stops it; a subdomain with keys of its own
    signs for itself."""
    m, zone, sels = signed_relay(relay)
    assert ctl_json(m, "domain", "subdomains", DOMAIN, "on")["subdomains"] is True
    assert "(and its subdomains)" in ctl(m, "domain", "list").stdout
    q1 = send_raw(m, simple(frm=f"x@news.{DOMAIN}"), "p1@example.net")
    q2 = send_raw(m, simple(frm=f"x@a.b.{DOMAIN}"), "p2@example.net")
    q3 = send_raw(m, simple(frm=f"x@evil{DOMAIN}"), "p3@example.net")
    assert received_dkim(m, q1) == DOMAIN and received_dkim(m, q2) == DOMAIN
    assert received_dkim(m, q3) == "none"
    assert_signed(one_for(sink, "p1@example.net"), zone, DOMAIN, sels, "subdomain")
    assert_signed(one_for(sink, "p2@example.net"), zone, DOMAIN, sels, "sub-subdomain")
    assert sig_tags(one_for(sink, "p3@example.net")) == []
    # a subdomain with its own keys signs as itself
    own = f"own.{DOMAIN}"
    domain_add(m, own)
    zone.add(m, own)
    q4 = send_raw(m, simple(frm=f"x@{own}"), "p4@example.net")
    assert received_dkim(m, q4) == own
    tags = sig_tags(one_for(sink, "p4@example.net"))
    assert tags and all(t["d"] == own for t in tags), tags
    # off: the parent no longer signs for them
    assert ctl_json(m, "domain", "subdomains", DOMAIN, "off")["subdomains"] is False
    q5 = send_raw(m, simple(frm=f"x@news.{DOMAIN}"), "p5@example.net")
    assert received_dkim(m, q5) == "none"
    r = ctl(m, "domain", "subdomains", DOMAIN, "maybe", rc=2)
    assert "on or off" in r.stderr, r.stderr


# ---------------------------------------------------------------- IDN

def test_dkim_idn_sender_domain(relay, sink):
    """`domain add bücher.example`: names, records and d= in A-labels; mail
    From: x@bücher.example (UTF-8, SMTPUTF8) and From: x@xn--bcher-kva.example
    both verify."""
    m = relay()
    r = domain_add(m, IDN_U)
    assert r["name"] == IDN_A, r
    lst = ctl_json(m, "domain", "list")
    assert [d["name"] for d in lst] == [IDN_A], lst
    human = ctl(m, "domain", "list").stdout
    assert human.splitlines()[0] == IDN_U, human          # printed in Unicode
    zone = Zone()
    recs = zone.add(m, IDN_U)
    dk = [x for x in recs if "._domainkey." in x["name"]]
    assert len(dk) == 2, recs
    for x in dk:
        assert x["name"].endswith(f"._domainkey.{IDN_A}."), x
        assert x["name"].isascii() and x["value"].isascii(), x
    # the A-label name is the same domain
    assert Zone().add(m, IDN_A) == recs
    sels = {k["algorithm"]: k["selector"] for k in r["keys"]}

    q1 = send_raw(m, simple(frm=f"Jürgen <x@{IDN_U}>"), "idn1@example.net",
                  params=" SMTPUTF8")
    q2 = send_raw(m, simple(frm=f"x@{IDN_A}"), "idn2@example.net")
    q3 = send_raw(m, simple(frm="x@XN--BCHER-KVA.example"), "idn3@example.net")
    for q, rc in ((q1, "idn1"), (q2, "idn2"), (q3, "idn3")):
        data = one_for(sink, f"{rc}@example.net")
        assert_signed(data, zone, IDN_A, sels, rc)
        assert received_dkim(m, q) == IDN_A, m.log_text()
    ctl(m, "domain", "remove", IDN_U)
    assert ctl_json(m, "domain", "list") == []


# ---------------------------------------------------------------- rotation

def test_dkim_rotation_key_activate_remove(relay, sink):
    """`domain key` makes a waiting pair (mail still signed with the old
    selectors only); `domain activate` switches to it (verified with the
    new records alone); the choice survives a restart; `domain remove`
    leaves mail unsigned and forgets the keys."""
    m, zone, old = signed_relay(relay)
    r = ctl_json(m, "domain", "key", DOMAIN, "--selector", "next2")
    keys = {k["selector"]: k for k in r["keys"]}
    assert set(keys) == {old[RSA], old[ED], "next2", "next2-ed25519"}, keys
    assert keys["next2"]["active"] is False and keys["next2-ed25519"]["active"] is False
    assert keys["next2"]["algorithm"] == RSA and keys["next2-ed25519"]["algorithm"] == ED
    assert keys[old[RSA]]["active"] and keys[old[ED]]["active"], keys
    assert r["selector"] == old[RSA] and sorted(r["algorithms"]) == sorted([RSA, ED]), r
    recs = zone.add(m, DOMAIN)
    notes = {x["name"]: x["note"] for x in recs}
    assert "activate" in notes[f"next2._domainkey.{DOMAIN}."], notes
    assert "activate" in notes[f"next2-ed25519._domainkey.{DOMAIN}."], notes
    assert "activate" not in notes[f"{old[RSA]}._domainkey.{DOMAIN}."], notes

    send_raw(m, simple(), "r1@example.net")
    assert_signed(one_for(sink, "r1@example.net"), zone, DOMAIN, old, "after domain key")

    r = ctl_json(m, "domain", "activate", DOMAIN, "next2")
    assert r["selector"] == "next2", r
    new = {RSA: "next2", ED: "next2-ed25519"}
    q = send_raw(m, simple(), "r2@example.net")
    data = one_for(sink, "r2@example.net")
    assert_signed(data, zone, DOMAIN, new, "after activate")
    # the new records, and only they, verify it
    only_new = Zone()
    only_new.txt = {k: v for k, v in zone.txt.items() if k.startswith("next2")}
    assert_signed(data, only_new, DOMAIN, new, "with only the new records")
    assert received_dkim(m, q) == DOMAIN
    notes = {x["name"]: x["note"] for x in Zone().add(m, DOMAIN)}
    assert "retired" in notes[f"{old[RSA]}._domainkey.{DOMAIN}."], notes
    assert "signs now" in notes[f"next2._domainkey.{DOMAIN}."], notes
    states = {k["selector"]: k["state"] for k in ctl_json(m, "domain", "list")[0]["keys"]}
    assert states[old[RSA]] == "retired" and states["next2"] == "signs", states

    # back to the old pair, and a restart keeps what was active
    ctl_json(m, "domain", "activate", DOMAIN, old[RSA])
    m.stop()
    m.restart()
    send_raw(m, simple(), "r3@example.net")
    assert_signed(one_for(sink, "r3@example.net"), zone, DOMAIN, old, "after a restart")

    out = ctl(m, "domain", "remove", DOMAIN).stdout
    assert DOMAIN in out, out
    q = send_raw(m, simple(), "r4@example.net")
    assert sig_tags(one_for(sink, "r4@example.net")) == []
    assert received_dkim(m, q) == "none"
    r = ctl(m, "domain", "dns", DOMAIN, rc=1)
    assert "no such domain" in r.stderr, r.stderr
    assert ctl_json(m, "domain", "list") == []
    assert m.db_rows("SELECT count(*) FROM dkim_keys")[0][0] == 0


def test_dkim_mtactl_sends_the_key_options(relay):
    """`domain add` and `domain key` pass --selector, --rsa-bits and
    --no-ed25519 on to the daemon."""
    m = relay()
    r = domain_add(m, "opt.example", "--selector", "chosen", "--rsa-bits", "3072",
                   "--no-ed25519")
    got = [(k["selector"], k["algorithm"], k["bits"]) for k in r["keys"]]
    assert got == [("chosen", RSA, 3072)], \
        f"mtactl domain add --selector chosen --rsa-bits 3072 --no-ed25519 made {got}"
    r = ctl_json(m, "domain", "key", "opt.example", "--selector", "second", "--no-ed25519")
    got = [(k["selector"], k["algorithm"], k["active"]) for k in r["keys"]]
    assert got == [("chosen", RSA, True), ("second", RSA, False)], got


def test_dkim_no_ed25519_and_rsa_3072(relay, sink):
    m = relay()
    r = domain_add(m, "rsaonly.example", "--no-ed25519", "--selector", "solo")
    assert [(k["selector"], k["algorithm"], k["bits"]) for k in r["keys"]] == \
        [("solo", RSA, 2048)], r
    assert r["algorithms"] == [RSA], r
    r = domain_add(m, "big.example", "--rsa-bits", "3072")
    assert sorted((k["algorithm"], k["bits"]) for k in r["keys"]) == \
        [(ED, 256), (RSA, 3072)], r
    zone = Zone()
    zone.add(m, "rsaonly.example")
    zone.add(m, "big.example")
    dns = [k for k in zone.txt if "._domainkey.rsaonly" in k]
    assert dns == ["solo._domainkey.rsaonly.example."], zone.txt
    assert zone.txt[dns[0]].startswith("v=DKIM1; k=rsa; p="), zone.txt

    send_raw(m, simple(frm="a@rsaonly.example"), "n1@example.net")
    send_raw(m, simple(frm="a@big.example"), "n2@example.net")
    got = assert_signed(one_for(sink, "n1@example.net"), zone, "rsaonly.example",
                        {RSA: "solo"}, "--no-ed25519")
    assert got[RSA][1].keysize == 2048
    sels = {k["algorithm"]: k["selector"] for k in r["keys"]}
    got = assert_signed(one_for(sink, "n2@example.net"), zone, "big.example", sels,
                        "--rsa-bits 3072")
    assert got[RSA][1].keysize == 3072
    assert len(base64.b64decode(got[RSA][0]["b"])) == 384


# ---------------------------------------------------------------- errors

def test_dkim_domain_command_errors(relay):
    m = relay()
    domain_add(m, DOMAIN)
    before = ctl_json(m, "domain", "list")

    r = ctl(m, "domain", "add", DOMAIN, rc=1)
    assert r.stdout == "" and f"domain {DOMAIN} exists" in r.stderr, r.stderr
    r = ctl(m, "domain", "add", DOMAIN.upper(), rc=1)       # the same name
    assert "exists" in r.stderr, r.stderr
    for bad in ("bad name.example", "-x-.example", "a..b.example", "ex@mple.com", ""):
        r = ctl(m, "domain", "add", bad, rc=None)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert r.stderr.startswith("mtactl: ") and "domain" in r.stderr, (bad, r.stderr)
    r = ctl(m, "domain", "remove", "unknown.example", rc=1)
    assert "no such domain: unknown.example" in r.stderr, r.stderr
    r = ctl(m, "domain", "key", "unknown.example", rc=1)
    assert "unknown.example" in r.stderr, r.stderr
    r = ctl(m, "domain", "dns", "unknown.example", rc=1)
    assert "no such domain" in r.stderr, r.stderr
    r = ctl(m, "domain", "activate", DOMAIN, "nosuchsel", rc=1)
    assert "no such selector" in r.stderr and "nosuchsel" in r.stderr, r.stderr
    r = ctl(m, "domain", "activate", "unknown.example", "nosuchsel", rc=1)
    for sel in ("Upper", "-lead", "trail-", "under_score", "dot.ted", "x" * 64):
        r = ctl(m, "domain", "key", DOMAIN, "--selector", sel, rc=2)
        assert "selector" in r.stderr, (sel, r.stderr)
    for bits in ("1024", "2047", "8192", "abc"):
        r = ctl(m, "domain", "add", "bits.example", "--rsa-bits", bits, rc=2)
        assert "rsa_bits" in r.stderr, (bits, r.stderr)
    ctl(m, "domain", "activate", DOMAIN, rc=2)             # a SELECTOR is needed
    ctl(m, "domain", "add", rc=2)
    # a selector that is taken
    sel = before[0]["selector"]
    r = ctl(m, "domain", "key", DOMAIN, "--selector", sel, rc=1)
    assert "selector" in r.stderr, r.stderr
    assert ctl_json(m, "domain", "list") == before, "a failed command changed the domains"
    assert m.running()


# ---------------------------------------------------------------- list, secrets, mode

def test_dkim_list_json_no_private_key_anywhere(relay, sink):
    m = relay()
    outs = []

    def run(*args, rc=0):
        r = ctl(m, *args, rc=rc)
        outs.append((args, r.stdout + r.stderr))
        return r

    run("domain", "list")
    assert "no sender domains" in outs[-1][1]
    run("domain", "add", DOMAIN)
    run("--json", "domain", "add", "b.example", "--no-ed25519", "--selector", "bsel")
    run("domain", "key", DOMAIN, "--selector", "rot")
    run("--json", "domain", "key", "b.example", "--selector", "rot2")
    run("domain", "dns", DOMAIN)
    run("--json", "domain", "dns", DOMAIN)
    run("domain", "list")
    r = run("--json", "domain", "list")
    run("domain", "activate", DOMAIN, "rot")
    run("--json", "domain", "activate", DOMAIN, "rot")
    run("domain", "add", DOMAIN, rc=1)
    run("status")
    run("--json", "status")

    lst = json.loads(r.stdout)
    assert [d["name"] for d in lst] == ["b.example", DOMAIN], lst
    for d in lst:
        assert {"name", "selector", "algorithms"} <= set(d), d
    bd, sd = lst
    assert bd["selector"] == "bsel" and bd["algorithms"] == [RSA], bd
    assert SEL_RE.match(sd["selector"]) and sorted(sd["algorithms"]) == sorted([RSA, ED]), sd
    assert len(sd["keys"]) == 4 and len(bd["keys"]) == 3, lst
    for k in sd["keys"] + bd["keys"]:
        assert set(k) >= {"selector", "algorithm", "bits", "active", "created_at"}, k
        assert not any("private" in f for f in k), k
    zone = Zone()
    zone.add(m, DOMAIN)
    assert zone_txt(outs[5][1]) == zone.txt, (outs[5][1], zone.txt)
    assert len([k for k in zone.txt if "._domainkey." in k]) == 4, zone.txt
    human = outs[7][1]
    assert DOMAIN in human and "signs" in human and "waiting" in human, human

    send_raw(m, simple(), "p@example.net")
    sink.wait_messages(1)
    # positive control: the database does hold PEM private keys
    pems = [p for (p,) in m.db_rows("SELECT private_key FROM dkim_keys")]
    assert len(pems) == 7 and all(PRIVATE in p for p in pems), len(pems)
    bodies = [b for p in pems for b in re.findall(r"^[A-Za-z0-9+/=]{40,}$", p, re.M)]
    assert bodies
    for args, out in outs:
        assert PRIVATE not in out, (args, out)
        for b in bodies:
            assert b not in out, f"mtactl {args} printed private key material"
    log = m.log_text(0)
    assert PRIVATE not in log and not any(b in log for b in bodies)
    assert "event=domain_keys" in log or "domain.add" in log, log

    st = os.stat(m.db_path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    for suffix in ("-wal", "-shm", "-journal"):
        p = m.db_path + suffix
        if os.path.exists(p):
            assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, (p, oct(os.stat(p).st_mode))


# ---------------------------------------------------------------- local sendmail

def test_dkim_local_sendmail_is_signed(relay, sink):
    """`mtactl send` (sendmail for local programs, over submit.sock) mail
    is signed too, with the Date: and Message-ID: mtad adds covered."""
    m, zone, sels = signed_relay(relay)
    r = m.mtactl("send", "-i", "local@example.net",
                 input=f"From: Local <root@{DOMAIN}>\nSubject: via sendmail\n\n"
                       "line one\n.dot line\n\n")
    assert r.returncode == 0, r.stderr
    data = one_for(sink, "local@example.net")
    got = assert_signed(data, zone, DOMAIN, sels, "mtactl send")
    h = got[RSA][0]["h"].split(":")
    assert "date" in h and "message-id" in h, h
    m.wait_for_log(rf"^\S+ {QID_RE} event=received .*\bdkim={re.escape(DOMAIN)}\b")


# ---------------------------------------------------------------- selectors at the label limit

def test_dkim_selector_at_the_label_limit(relay, sink):
    """A selector is one DNS label (at most 63 octets), and so must be
    SELECTOR-ed25519: a 56-character selector with the Ed25519 key is either
    refused as a usage error with nothing stored, or stored with labels that
    fit -- and in no case may it stop the other domains' keys from signing
    or mtad from starting again.  (Through the control socket, so that this
    checks the daemon whatever mtactl does with --selector.)"""
    m = relay()
    s55, s56, s63 = "s" * 55, "t" * 56, "u" * 63
    problems = []
    with Raw(m) as c:
        r = c.call({"v": 1, "cmd": "domain.add", "domain": "ok55.example", "selector": s55})
        assert r["ok"], r
        assert {k["selector"] for k in r["result"]["keys"]} == {s55, s55 + "-ed25519"}, r
        r = c.call({"v": 1, "cmd": "domain.add", "domain": "rsa63.example", "selector": s63,
                    "ed25519": False})
        assert r["ok"], r
        r = c.call({"v": 1, "cmd": "domain.add", "domain": "long56.example", "selector": s56})
        names = [d["name"] for d in c.call({"v": 1, "cmd": "domain.list"})["result"]]
        if r["ok"]:
            sels = [k["selector"] for k in r["result"]["keys"]]
            if any(len(x) > 63 for x in sels):
                problems.append(f"selectors that are not DNS labels: {sels}")
        else:
            if r["code"] != "usage":
                problems.append(f"domain.add with a 56-character selector: {r}")
            if "long56.example" in names:
                problems.append(f"domain.add failed ({r['code']}), yet the domain is stored")
        r = c.call({"v": 1, "cmd": "domain.add", "domain": "later.example"})
        if not r["ok"]:
            problems.append(f"domain.add of a domain afterwards: {r}")
    zone = Zone()
    for d in ("ok55.example", "rsa63.example"):
        zone.add(m, d)
    q1 = send_raw(m, simple(frm="x@later.example"), "l1@example.net")
    q2 = send_raw(m, simple(frm="x@ok55.example"), "l2@example.net")
    q3 = send_raw(m, simple(frm="x@rsa63.example"), "l3@example.net")
    got = [received_dkim(m, q) for q in (q1, q2, q3)]
    if got != ["later.example", "ok55.example", "rsa63.example"]:
        problems.append(f"dkim= of mail from later/ok55/rsa63.example afterwards: {got}")
    assert_signed(one_for(sink, "l2@example.net"), zone, "ok55.example",
                  {RSA: s55, ED: s55 + "-ed25519"}, "55-character selector")
    assert_signed(one_for(sink, "l3@example.net"), zone, "rsa63.example", {RSA: s63},
                  "63-character RSA selector")
    m.stop()
    try:
        m.restart()
    except AssertionError as e:
        problems.append(f"mtad does not start again: {str(e)[:600]}")
    assert not problems, "\n".join(problems)
    q4 = send_raw(m, simple(frm="x@ok55.example"), "l4@example.net")
    assert received_dkim(m, q4) == "ok55.example"
