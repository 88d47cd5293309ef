#!/usr/bin/python3
"""dsn_check.py -- check a delivery status notification with a parser that
is not ours: Python's stdlib `email` package.  Used by tests/unit/test_dsn.c.

    dsn_check.py FILE [--rcpts N] [--part3 TYPE] [--global] [--envid TEXT]

Checks: every line ends in CRLF and holds at most 998 octets; the top-level
header fields (From, To, Subject, Date, Message-ID, Auto-Submitted,
MIME-Version); multipart/report with report-type=delivery-status and exactly
three parts: text/plain, message/delivery-status (message/global-delivery-
status with --global) and the original (TYPE, if given).  In the status part,
the per-message block has Reporting-MTA (and Original-Envelope-Id TEXT with
--envid), and each per-recipient block (N of them, if given) has a
Final-Recipient, an RFC 3464 Action, an RFC 3463 Status and well-formed dates,
Will-Retry-Until only when the action is "delayed".  Prints OK and exits 0,
or prints what is wrong and exits 1.
"""

import argparse
import email
import email.parser
import email.utils
import re
import sys

ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
TYPED = re.compile(r"^[A-Za-z0-9-]+;\s*\S")
DATE_FIELDS = ("Arrival-Date", "Last-Attempt-Date", "Will-Retry-Until")


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def unfold(value):
    """RFC 5322 2.2.3: unfolding removes each CRLF before a blank."""
    return re.sub(r"\r?\n(?=[ \t])", "", str(value)).strip()


def check_lines(data):
    need(data.endswith(b"\r\n"), "the message does not end in CRLF")
    for n, line in enumerate(data[:-2].split(b"\r\n"), 1):
        need(b"\n" not in line and b"\r" not in line, "line %d: bare CR or LF" % n)
        need(len(line) <= 998, "line %d: %d octets" % (n, len(line)))


def check_date(value, what):
    try:
        d = email.utils.parsedate_to_datetime(unfold(value))
    except (TypeError, ValueError) as e:
        raise Bad("%s: bad date %r (%s)" % (what, value, e))
    need(d.utcoffset() is not None and d.utcoffset().total_seconds() == 0,
         "%s: not UTC: %r" % (what, value))


def check_top(msg):
    for name in ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                 "MIME-Version"):
        need(len(msg.get_all(name, [])) == 1, "header %s: not exactly once" % name)
    need(unfold(msg["From"]).startswith("Mail Delivery System <MAILER-DAEMON@"),
         "From: %r" % msg["From"])
    need(re.match(r"^<[^<>]*>$", unfold(msg["To"])), "To: %r" % msg["To"])
    need(re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", unfold(msg["Message-ID"])),
         "Message-ID: %r" % msg["Message-ID"])
    need(unfold(msg["Auto-Submitted"]) == "auto-replied", "Auto-Submitted")
    need(unfold(msg["MIME-Version"]) == "1.0", "MIME-Version")
    check_date(msg["Date"], "Date")
    need(msg.get_content_type() == "multipart/report",
         "top type %s" % msg.get_content_type())
    need(msg.get_param("report-type") == "delivery-status", "report-type")
    need(not msg.defects, "top-level defects: %r" % msg.defects)


def status_blocks(part):
    """The header blocks of a (global-)delivery-status part."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status":
        # the email package splits these blocks itself
        return [dict((k, unfold(v)) for k, v in b.items()) for b in payload]
    # message/global-delivery-status is parsed as a message: its headers are
    # the first block, its body the others
    need(isinstance(payload, list) and len(payload) == 1, "global status payload")
    first = payload[0]
    blocks = [dict((k, unfold(v)) for k, v in first.items())]
    rest = first.get_payload()
    for chunk in re.split(r"\r?\n(?:[ \t]*\r?\n)+", rest):
        if chunk.strip():
            b = email.parser.HeaderParser().parsestr(chunk + "\n")
            blocks.append(dict((k, unfold(v)) for k, v in b.items()))
    return blocks


def check_rcpt(i, b):
    need("Final-Recipient" in b, "recipient %d: no Final-Recipient" % i)
    need(TYPED.match(b["Final-Recipient"]), "recipient %d: Final-Recipient %r"
         % (i, b["Final-Recipient"]))
    need(b.get("Action") in ACTIONS, "recipient %d: Action %r" % (i, b.get("Action")))
    need(STATUS.match(b.get("Status", "")), "recipient %d: Status %r" % (i, b.get("Status")))
    for name in ("Original-Recipient", "Remote-MTA", "Diagnostic-Code"):
        if name in b:
            need(TYPED.match(b[name]), "recipient %d: %s %r" % (i, name, b[name]))
    for name in DATE_FIELDS[1:]:
        if name in b:
            check_date(b[name], "recipient %d: %s" % (i, name))
    if "Will-Retry-Until" in b:
        need(b["Action"] == "delayed", "recipient %d: Will-Retry-Until but %s"
             % (i, b["Action"]))


def check_status(part, args):
    blocks = status_blocks(part)
    need(len(blocks) >= 2, "status part: %d blocks" % len(blocks))
    msg_block, rcpts = blocks[0], blocks[1:]
    need(re.match(r"^dns;\s*\S+$", msg_block.get("Reporting-MTA", "")),
         "Reporting-MTA %r" % msg_block.get("Reporting-MTA"))
    need("Final-Recipient" not in msg_block, "per-recipient field in the per-message block")
    if "Arrival-Date" in msg_block:
        check_date(msg_block["Arrival-Date"], "Arrival-Date")
    if args.envid is not None:
        need(msg_block.get("Original-Envelope-Id") == args.envid,
             "Original-Envelope-Id %r" % msg_block.get("Original-Envelope-Id"))
    if args.rcpts is not None:
        need(len(rcpts) == args.rcpts, "%d recipient blocks, want %d"
             % (len(rcpts), args.rcpts))
    for i, b in enumerate(rcpts, 1):
        check_rcpt(i, b)


def check_original(part, args):
    t = part.get_content_type()
    want = ("message/global-headers", "message/global") if args.glob else \
        ("text/rfc822-headers", "message/rfc822")
    need(t in want, "part 3 type %s" % t)
    if args.part3 is not None:
        need(t == args.part3, "part 3 type %s, want %s" % (t, args.part3))
    if t in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        need(isinstance(inner, list) and len(inner) == 1, "part 3: not one message")


def check(data, args):
    check_lines(data)
    msg = email.message_from_string(data.decode("utf-8", "surrogateescape"))
    check_top(msg)
    parts = msg.get_payload()
    need(isinstance(parts, list) and len(parts) == 3, "not three parts")
    need(parts[0].get_content_type() == "text/plain", "part 1 type")
    need(parts[0].get_param("charset") == "utf-8", "part 1 charset")
    text = parts[0].get_payload()
    cte = parts[0].get("Content-Transfer-Encoding", "7bit")
    need(cte == ("8bit" if any(ord(ch) > 127 for ch in text) else "7bit"),
         "part 1 Content-Transfer-Encoding %s" % cte)
    want = "message/global-delivery-status" if args.glob else "message/delivery-status"
    need(parts[1].get_content_type() == want, "part 2 type %s" % parts[1].get_content_type())
    check_status(parts[1], args)
    check_original(parts[2], args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--rcpts", type=int)
    ap.add_argument("--part3")
    ap.add_argument("--global", dest="glob", action="store_true")
    ap.add_argument("--envid")
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    try:
        check(data, args)
    except Bad as e:
        print("dsn_check: %s: %s" % (args.file, e), file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
