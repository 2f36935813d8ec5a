#!/usr/bin/env python3
"""sniff_baselines - `mailpulse sniff` against the expected results of Zeek, Suricata, Arkime
and nDPI for the SMTP captures in the corpora.

usage: sniff_baselines.py MAILPULSE_BIN CORPORA_DIR

For every capture that has a baseline, mailpulse must recover the same transactions: the
HELO, the MAIL FROM, every RCPT, the last reply, and TLS where the baseline says so. Prints
"ok - NAME" or "not ok - NAME: what differs" per capture (tests/run.sh counts them).
Only the Python standard library and python3-yaml (Debian) are used.
"""
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

BIN, CORPORA = sys.argv[1], sys.argv[2]
failures = 0


def report(name, problems):
    global failures
    if problems:
        failures += 1
        print("not ok - sniff baseline %s: %s" % (name, "; ".join(problems[:5])))
    else:
        print("ok - sniff baseline %s" % name)


def sniff(pcap, ports="25,465,587,2525"):
    """The events mailpulse prints for a capture (a .gz capture is unpacked first)."""
    path = pcap
    tmp = None
    if pcap.endswith(".gz"):
        tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
        with gzip.open(pcap) as f:
            tmp.write(f.read())
        tmp.close()
        path = tmp.name
    try:
        out = subprocess.run([BIN, "sniff", "-r", path, "--ports", ports],
                             capture_output=True, check=False, timeout=60).stdout
    finally:
        if tmp:
            os.unlink(tmp.name)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def last_line(reply):
    """The last line of a multi-line reply that mailpulse joined with spaces."""
    if not reply:
        return None
    code = reply[:3]
    parts = re.split(r" (?=%s(?:[ -]|$))" % re.escape(code), reply)
    return parts[-1].rstrip()


def sessions(events):
    """Per client endpoint: helo names, tls, and the transactions in order. A transaction
    starts at MAIL FROM and collects the RCPTs and the replies up to its data result."""
    out = {}
    for ev in events:
        s = out.setdefault(ev["client"], {"server": ev["server"], "helo": [], "tls": False,
                                          "txns": [], "events": []})
        s["events"].append(ev)
        if ev.get("helo") and ev["helo"] not in s["helo"]:
            s["helo"].append(ev["helo"])
        if ev["tls"]:
            s["tls"] = True
        st = ev["stage"]
        if st == "mail":
            s["txns"].append({"helo": ev.get("helo"), "sender": ev.get("sender") or "",
                              "rcpts": [], "last_reply": ev.get("reply"), "done": False})
        elif st in ("rcpt", "data") and s["txns"] and not s["txns"][-1]["done"]:
            t = s["txns"][-1]
            if st == "rcpt":
                t["rcpts"].append(ev.get("recipient") or "")
            else:
                t["done"] = True
            if ev.get("reply") is not None:
                t["last_reply"] = ev.get("reply")
    return out


# ---- Zeek: Baseline/<test>/smtp.log, one row per transaction ----

ZEEK_TRACES = {
    "basic": "smtp.pcap",
    "attachment": "smtp.pcap",
    "attachment-msg": "smtp-attachment-msg.pcap",
    "bdat": "smtp/rfc3030-bdat-example1.pcap",
    "bdat-0-last": "smtp/rfc3030-bdat-0-last.pcap",
    "bdat-multipart": "smtp/rfc3030-bdat-multipart.pcap",
    "bdat-multipart-chunked": "smtp/rfc3030-bdat-multipart-chunked.pcap",
    "bdat-chunk-size-overflow": "smtp/smtp-bdat-cmd-chunk-size-overflow.pcap",
    "bdat-chunk-size-overflow2": "smtp/smtp-bdat-cmd-chunk-size-overflow2.pcap",
    "bdat-negative-chunk-size": "smtp/smtp-bdat-cmd-negative-chunk-size.pcap",
    "bdat-cmd-invalid": "smtp/smtp-bdat-cmd-invalid.pcapng",
    "bdat-gap": "smtp/smtp-bdat-gap.pcap",
    "bdat-pipeline-8bitmime": "smtp/smtp-bdat-pipeline-8bitmime.pcap",
    "mail-transactions-invalid": "smtp-mail-transactions-invalid.pcap",
    "one-side": "smtp-one-side-only.pcap",
    "starttls": "tls/smtp-starttls.pcap",
    "address-limits": "smtp/smtp-many-addresses.pcap.gz",
}


# Differences that are a matter of definition, each with its reason. Everything else fails.
ZEEK_KNOWN_LAST_REPLY = {
    ("mail-transactions-invalid", "500 unrecognized command"):
        "Zeek's last_reply also counts replies to message text that the client sent as "
        "commands after its DATA was refused; mailpulse reports the DATA refusal (503)",
}


def zeek_rows(path):
    fields, rows = None, []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def check_zeek():
    base = os.path.join(CORPORA, "zeek-smtp")
    for test, trace in sorted(ZEEK_TRACES.items()):
        log = os.path.join(base, "Baseline", "scripts.base.protocols.smtp." + test, "smtp.log")
        pcap = os.path.join(base, "Traces", trace)
        if not os.path.exists(log) or not os.path.exists(pcap):
            continue
        sess = sessions(sniff(pcap))
        problems = []
        known = set()
        used = set()
        for row in zeek_rows(log):
            client = "%s:%s" % (row["id.orig_h"], row["id.orig_p"])
            if ":" in row["id.orig_h"]:
                client = "[%s]:%s" % (row["id.orig_h"], row["id.orig_p"])
            s = sess.get(client)
            if s is None:
                problems.append("no session %s" % client)
                continue
            if row["helo"] != "-" and row["helo"] not in s["helo"]:
                problems.append("%s helo %r not in %r" % (client, row["helo"], s["helo"]))
            if (row["tls"] == "T") != s["tls"]:
                problems.append("%s tls %s vs %s" % (client, row["tls"], s["tls"]))
            if row["mailfrom"] == "-":
                continue
            want_rcpts = sorted(row["rcptto"].split(",")) if row["rcptto"] != "-" else []
            # the first unused transaction with this sender and these recipients
            cand = [i for i, t in enumerate(s["txns"])
                    if (client, i) not in used and t["sender"] == row["mailfrom"]
                    and sorted(t["rcpts"]) == want_rcpts]
            if not cand:
                problems.append("%s: no transaction from %s to %d rcpts (have %s)" % (
                    client, row["mailfrom"], len(want_rcpts),
                    [(t["sender"], len(t["rcpts"])) for t in s["txns"]]))
                continue
            # Zeek's last_reply answers the last command of the transaction, which may be
            # one mailpulse reports no event for; then any transaction reply may match.
            match = None
            for i in cand:
                got = last_line(s["txns"][i]["last_reply"])
                if row["last_reply"] == "-" or got == row["last_reply"]:
                    match = i
                    break
            if match is None and (test, row["last_reply"]) in ZEEK_KNOWN_LAST_REPLY:
                known.add(ZEEK_KNOWN_LAST_REPLY[(test, row["last_reply"])])
                match = cand[0]
            if match is None:
                problems.append("%s: last reply %r, got %r" % (
                    client, row["last_reply"], last_line(s["txns"][cand[0]]["last_reply"])))
                continue
            used.add((client, match))
        report("zeek/" + test + "".join(" (known difference: %s)" % k for k in known), problems)


# ---- Suricata: <test>/test.yaml checks on event_type smtp ----

def suricata_match(txn, helo, match):
    """Whether a transaction satisfies the smtp.* keys of a check (email.* is MIME content,
    which mailpulse does not read)."""
    for k, v in match.items():
        if k == "smtp.helo":
            if helo != v:
                return False
        elif k == "smtp.mail_from":
            if "<%s>" % txn["sender"] != v:
                return False
        else:
            m = re.fullmatch(r"smtp\.rcpt_to\[(\d+)\]", k)
            if m:
                i = int(m.group(1))
                if i >= len(txn["rcpts"]) or "<%s>" % txn["rcpts"][i] != v:
                    return False
    return True


def check_suricata():
    base = os.path.join(CORPORA, "suricata-verify-smtp")
    for test in sorted(os.listdir(base)):
        ty = os.path.join(base, test, "test.yaml")
        if not os.path.exists(ty):
            continue
        doc = yaml.safe_load(open(ty))
        checks = []
        for c in doc.get("checks") or []:
            f = c.get("filter") if isinstance(c, dict) else None
            if not f or (f.get("match") or {}).get("event_type") != "smtp":
                continue
            m = {k: v for k, v in f["match"].items() if k.startswith("smtp.")}
            if any(k.startswith("smtp.") and not re.fullmatch(
                    r"smtp\.(helo|mail_from|rcpt_to\[\d+\])", k) for k in m):
                continue
            if "smtp.mail_from" not in m and "smtp.rcpt_to[0]" not in m:
                continue  # not a transaction-level check
            nhk = [k for k in (f["match"].get("not-has-key") or []) if k.startswith("smtp.")]
            checks.append((f.get("count"), m, nhk))
        if not checks:
            continue
        pcaps = [p for p in os.listdir(os.path.join(base, test)) if p.endswith((".pcap", ".pcapng"))]
        if len(pcaps) != 1:
            continue
        sess = sessions(sniff(os.path.join(base, test, pcaps[0])))
        problems = []
        for count, m, nhk in checks:
            n = 0
            for s in sess.values():
                for t in s["txns"]:
                    ok = suricata_match(t, t["helo"], m)
                    for k in nhk:
                        mm = re.fullmatch(r"smtp\.rcpt_to\[(\d+)\]", k)
                        if mm and int(mm.group(1)) < len(t["rcpts"]):
                            ok = False
                    n += ok
            if count is None and n == 0 or count is not None and n != count:
                problems.append("%d transactions match %s, want %s" % (n, m, count))
        report("suricata/" + test, problems)


# ---- Arkime: tests/pcap/X.test, a session list with email.smtpHello/src/dst ----

ARKIME_SKIP = {"socks5-smtp-503"}  # SMTP inside a SOCKS5 tunnel: not SMTP on a TCP port


def check_arkime():
    base = os.path.join(CORPORA, "arkime-smtp", "tests", "pcap")
    for name in sorted(os.listdir(base)):
        if not name.endswith(".test") or name[:-5] in ARKIME_SKIP:
            continue
        pcap = os.path.join(base, name[:-5] + ".pcap")
        if not os.path.exists(pcap):
            continue
        doc = json.load(open(os.path.join(base, name)))
        sess = sessions(sniff(pcap))
        problems = []
        for s3 in doc.get("sessions3", []):
            b = s3["body"]
            if "smtp" not in b.get("protocol", []):
                continue
            ip = b["source"]["ip"]
            client = ("[%s]:%s" if ":" in ip else "%s:%s") % (ip, b["source"]["port"])
            e = b.get("email", {})
            s = sess.get(client)
            if s is None:
                problems.append("no session %s" % client)
                continue
            for h in e.get("smtpHello", []):  # Arkime lower-cases the name
                if h.lower() not in [x.lower() for x in s["helo"]]:
                    problems.append("%s helo %r not in %r" % (client, h, s["helo"]))
            # A capture decrypted after the fact has clear-text commands after STARTTLS:
            # mailpulse marks it tls (the session was protected) where Arkime sees no TLS.
            stls = [i for i, ev in enumerate(s["events"]) if ev["stage"] == "starttls"]
            decrypted = bool(stls) and len(s["events"]) > stls[0] + 1
            if ("tls" in b.get("protocol", [])) != (s["tls"] and not decrypted):
                problems.append("%s tls %s" % (client, s["tls"]))
            # Arkime mixes the envelope with the From/To headers: every envelope address
            # mailpulse saw must be among Arkime's, and there must be one when Arkime has any.
            src = [a.lower() for a in e.get("src", [])]
            dst = [a.lower() for a in e.get("dst", [])]
            senders = [t["sender"].lower() for t in s["txns"]]
            rcpts = [r.lower() for t in s["txns"] for r in t["rcpts"]]
            if src and (not senders or any(x not in src for x in senders)):
                problems.append("%s senders %s vs %s" % (client, senders, src))
            if dst and (not rcpts or any(x not in dst for x in rcpts)):
                problems.append("%s rcpts %s vs %s" % (client, rcpts, dst))
        report("arkime/" + name[:-5], problems)


# ---- nDPI: result/X.out, one line per flow; SMTPS means the session is encrypted ----

def check_ndpi():
    base = os.path.join(CORPORA, "ndpi-smtp")
    for name in sorted(os.listdir(os.path.join(base, "result"))):
        pcap = os.path.join(base, "pcap", name[:-4])
        if not name.endswith(".out") or not os.path.exists(pcap):
            continue
        sess = sessions(sniff(pcap))
        problems = []
        for line in open(os.path.join(base, "result", name)):
            m = re.match(r"\s*\d+\s+TCP (\S+) <-> (\S+) .*\[proto: [\d.]+/(SMTPS?)\b", line)
            if not m:
                continue
            client, server, proto = m.groups()
            s = sess.get(client)
            if s is None or s["server"] != server:
                problems.append("no session %s -> %s" % (client, server))
                continue
            if s["tls"] != (proto == "SMTPS"):
                problems.append("%s tls %s, nDPI says %s" % (client, s["tls"], proto))
            if proto == "SMTP" and not s["txns"]:
                problems.append("%s: no transaction in a clear-text session" % client)
        report("ndpi/" + name[:-4], problems)


check_zeek()
check_suricata()
check_arkime()
check_ndpi()
sys.exit(1 if failures else 0)
