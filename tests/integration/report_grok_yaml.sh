#!/bin/sh
# report_grok_yaml.sh - the postfix-grok-patterns fixtures, read from their YAML files and
# checked field by field against `mailpulse parse`.
#
# Each fixture holds one Postfix message text (no syslog prefix), the grok pattern it belongs
# to (which names the daemon) and the fields grok extracts. The line is given a syslog
# envelope of that daemon and parsed alone; then:
#  - delivery lines (status sent/deferred/bounced): one delivery event whose queue id, status,
#    recipient, relay, dsn and reply equal the fixture's fields. Two kinds give no event on
#    purpose: a content filter's hop (sent to a loopback relay whose reply shows amavis handing
#    the message back, "from MTA(...): ... queued as" a new id; counted as folded) and
#    address-verification probes (status=deliverable / undeliverable...);
#  - smtpd/postscreen/cleanup rejects: one reject event with the client, code, enhanced code,
#    sender, recipient and helo of the fixture (a reject event has no queue id key, per the
#    NDJSON contract); discard/filter/reject_warning are not rejects;
#  - qmgr from= and expired, bounce notices: the message / expired delivery / bounce_notice;
#  - every other fixture: no event, and the line is counted as understood (never "not
#    understood").
. "$(dirname "$0")/lib.sh"

export TZ=UTC
DIR="$MAILPULSE_CORPORA/postfix-grok-patterns/test"
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "ok - grok yaml fixtures # SKIP python3-yaml is not installed (scripts/setup.sh installs it)"
    exit 0
fi

python3 - "$BIN" "$DIR" <<'EOF'
import glob, json, os, re, subprocess, sys, yaml

binary, folder = sys.argv[1], sys.argv[2]
# grok pattern name -> the program name a log would carry
progs = {
    "SMTP": "postfix/smtp", "LMTP": "postfix/lmtp", "LOCAL": "postfix/local",
    "PIPE": "postfix/pipe", "VIRTUAL": "postfix/virtual", "ERROR": "postfix/error",
    "DISCARD": "postfix/discard", "SMTPD": "postfix/smtpd", "POSTSCREEN": "postfix/postscreen",
    "QMGR": "postfix/qmgr", "CLEANUP": "postfix/cleanup", "BOUNCE": "postfix/bounce",
    "PICKUP": "postfix/pickup", "POSTSUPER": "postfix/postsuper", "ANVIL": "postfix/anvil",
    "SCACHE": "postfix/scache", "MASTER": "postfix/master", "DNSBLOG": "postfix/dnsblog",
    "TLSMGR": "postfix/tlsmgr", "TLSPROXY": "postfix/tlsproxy", "POSTDROP": "postfix/postdrop",
    "POSTMAP": "postfix/postmap", "SCRIPT": "postfix/postfix-script",
    "SENDMAIL": "postfix/sendmail", "TRIVIAL_REWRITE": "postfix/trivial-rewrite",
    "VERIFY": "postfix/verify", "TLS_FEATURES": "postfix/smtp",
    "COMMAND_COUNTER_DATA": "postfix/smtpd",
}
delivery_agents = {"SMTP", "LMTP", "LOCAL", "PIPE", "VIRTUAL", "ERROR", "DISCARD"}
passed = failed = 0

def result(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("not ok - grok %s %s" % (name, why))

def kv(data, key):
    m = re.search(r"(?:^|[ ,])" + key + r"=<([^>]*)>", data) or \
        re.search(r"(?:^|[ ,])" + key + r"=([^<, ][^, ]*)", data)
    return m.group(1) if m else None

for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
    name = os.path.basename(path)
    fx = yaml.safe_load(open(path))
    m = re.search(r"POSTFIX_([A-Z_]+)", str(fx.get("pattern", "")))
    kind = m.group(1) if m else ""
    res = fx.get("results") or {}
    data = str(fx["data"])
    if kind in ("DELAYS", "RELAY", "COMMAND_COUNTER_DATA") or \
            (kind == "TLS_FEATURES" and "to=" not in data):
        continue  # fragments of a line, not a line
    if kind == "TLS_FEATURES":
        kind = "SMTP"  # whole smtp delivery lines with tls= fields
    line = "Nov  1 12:00:00 mx %s[4242]: %s\n" % (progs[kind], data)
    p = subprocess.run([binary, "parse", "--year", "2026", "--stats"], input=line.encode(),
                       capture_output=True)
    events = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    stats = p.stderr.decode()
    not_understood = re.search(r"not understood (\d+)", stats)
    not_understood = int(not_understood.group(1)) if not_understood else -1
    folded = re.search(r"content-filter hops folded (\d+)", stats)
    folded = int(folded.group(1)) if folded else -1
    status = res.get("postfix_status")
    if status is None and re.search(r"status=([a-z-]+)", data):
        status = re.search(r"status=([a-z-]+)", data).group(1)
    action = res.get("postfix_action")
    checks = []  # (field, want, got)

    if kind in delivery_agents and status in ("sent", "deferred", "bounced"):
        relay = re.search(r"relay=([^,]*)", data).group(1)
        response = (res.get("postfix_smtp_response") or res.get("postfix_local_response") or
                    res.get("postfix_pipe_response") or res.get("postfix_error_response"))
        # A loopback "queued as" is a filter's hop only on evidence (the amavis form, or the
        # re-injected id logged before): a lone line without it is a delivery.
        hop = status == "sent" and re.search(r"\[(127\.|::1\])", relay) and \
            "queued as" in str(response) and "from MTA(" in str(response)
        if hop:
            result(events == [] and folded == 1, name, "(content-filter hop: want no event, folded 1; got %d events, folded %d)" % (len(events), folded))
            continue
        if len(events) != 1 or events[0]["type"] != "delivery":
            result(False, name, "(want one delivery event, got %r)" % events)
            continue
        ev = events[0]
        checks += [("queue_id", res.get("postfix_queueid"), ev["queue_id"]),
                   ("status", status, ev["status"]),
                   ("recipient", kv(data, "to"), ev["recipient"]),
                   ("relay", relay, ev["relay"]),
                   ("dsn", (re.search(r"dsn=([^,]*)", data) or [None, None])[1], ev["dsn"])]
        if response is not None:
            checks.append(("reply", str(response), ev["reply"]))
        if res.get("postfix_relay_hostname") and res.get("postfix_relay_ip"):
            checks.append(("relay host[ip]", "%s[%s]" % (res["postfix_relay_hostname"], res["postfix_relay_ip"]),
                           ev["relay"].split("]")[0] + "]"))
    elif kind in ("SMTPD", "POSTSCREEN", "CLEANUP") and re.match(r"(NOQUEUE|\w+): (milter-)?reject: ", data):
        if len(events) != 1 or events[0]["type"] != "reject":
            result(False, name, "(want one reject event, got %r)" % events)
            continue
        ev = events[0]
        if res.get("postfix_client_hostname") and res.get("postfix_client_ip"):
            checks.append(("client", "%s[%s]" % (res["postfix_client_hostname"], res["postfix_client_ip"]),
                           ev["client"]))
        elif res.get("postfix_client_ip"):
            checks.append(("client ip", res["postfix_client_ip"], ev["client"].split("]")[0].lstrip("[")))
        if res.get("postfix_status_code") is not None:
            checks.append(("smtp_code", int(res["postfix_status_code"]), ev["smtp_code"]))
        if res.get("postfix_status_code_enhanced"):
            checks.append(("dsn", str(res["postfix_status_code_enhanced"]), ev["dsn"]))
        for key, field in (("from", "sender"), ("to", "recipient"), ("helo", "helo")):
            want = kv(data, key)
            if want is not None:
                checks.append((field, want or None, ev[field]))
    elif kind == "QMGR" and kv(data, "from") is not None and status in (None, "expired", "force-expired"):
        want_type = "delivery" if status else "message"
        if "size=" not in data and not status:
            result(events == [] and not_understood == 0, name, "(qmgr from= without size)")
            continue
        if len(events) != 1 or events[0]["type"] != want_type:
            result(False, name, "(want one %s event, got %r)" % (want_type, events))
            continue
        ev = events[0]
        checks += [("queue_id", res.get("postfix_queueid"), ev["queue_id"]),
                   ("sender", kv(data, "from") or None, ev["sender"])]
        if status:
            checks.append(("status", "expired", ev["status"]))
    elif kind == "BOUNCE" and res.get("postfix_bounce_queueid"):
        if len(events) != 1 or events[0]["type"] != "bounce_notice":
            result(False, name, "(want one bounce_notice, got %r)" % events)
            continue
        ev = events[0]
        checks += [("queue_id", res.get("postfix_queueid"), ev["queue_id"]),
                   ("notice_queue_id", res["postfix_bounce_queueid"], ev["notice_queue_id"])]
    else:
        result(events == [] and not_understood == 0, name,
               "(want no event and the line understood; got %d events, not understood %d)" % (len(events), not_understood))
        continue
    bad = [(f, w, g) for f, w, g in checks if w != g]
    result(not bad, name, "".join("\n    %s: want %r, got %r" % b for b in bad))

print("ok - grok yaml fixtures: %d checked field by field or as no-event" % passed if failed == 0
      else "not ok - grok yaml fixtures: %d failed, %d passed" % (failed, passed))
EOF
