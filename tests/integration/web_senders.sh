#!/bin/sh
# web_senders.sh - who is sending what, end to end: tests/integration/web_senders.log (Postfix
# submissions by two SASL users from two clients, one unauthenticated client, a message
# re-injected by a content filter on loopback, a deferral that expires, one reject, and a
# message the next day; on hosts mx1 and mx2) imported; the client and SASL user stored with
# each attempt, the three sender rollups after the ingest and after their rebuild,
# /api/v1/senders for every axis in JSON and CSV over whole days, whole hours and edges, with
# host and order variants (numbers read off the log by hand), the sender_domain=, sasl_user=
# and client= filters of /api/v1/bounces and /bounces, and the /senders page with its links.
set -u
. "$(dirname "$0")/lib.sh"

LOG=tests/integration/web_senders.log
DAY="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"

DSN=$(new_db web_senders) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
check "import the senders log" sh -c "'$BIN' import --db '$DSN' '$LOG' >/dev/null"

q() { psql "$DSN" -qAt -F' ' -c "$1"; }

check_eq "deliveries: the submitting client and SASL user of each attempt" \
    "r1 app1.example[10.0.0.1] alice|r2 app1.example[10.0.0.1] alice|r3 app1.example[10.0.0.1] alice|r4 app2.example[10.0.0.2] bob|r5 app2.example[10.0.0.2] bob|r6 unknown[192.0.2.7] -|r7 app1.example[10.0.0.1] alice|r8 app2.example[10.0.0.2] bob|r3 app1.example[10.0.0.1] alice|r7 app1.example[10.0.0.1] alice|r9 app1.example[10.0.0.1] alice|r10 app1.example[10.0.0.1] alice" \
    "$(q "SELECT split_part(recipient, '@', 1), client, coalesce(sasl_username, '-') FROM deliveries
          ORDER BY time" | paste -sd'|')"
check_eq "content filter: the re-injected message's delivery names the original submitter" \
    "5BBB00000006 app2.example[10.0.0.2] bob" \
    "$(q "SELECT queue_id, client, sasl_username FROM deliveries WHERE recipient = 'r8@dest.example'")"

ROWS="SELECT to_char(hour AT TIME ZONE 'UTC', 'DD-HH24'), host, axis, key, kind, reason, n
    FROM rollups_sender_hour ORDER BY axis, key, 1, host, kind, reason"
DAYS="SELECT to_char(day AT TIME ZONE 'UTC', 'DD'), host, axis, key, sent, deferred, bounced,
    expired, rejected FROM rollups_sender_day ORDER BY axis, key, 1, host"
REASONS="SELECT to_char(day AT TIME ZONE 'UTC', 'DD'), host, axis, key, reason, n
    FROM rollups_sender_reason_day ORDER BY axis, key, 1, host, reason"
WANT_SASL="27-09 mx1 sasl_user  bounced mailboxfull 1|27-10 mx1 sasl_user  rejected norelaying 1|27-09 mx1 sasl_user alice bounced userunknown 1|27-09 mx1 sasl_user alice deferred mailboxfull 1|27-09 mx1 sasl_user alice sent  1|27-09 mx2 sasl_user alice deferred mailboxfull 1|27-10 mx1 sasl_user alice sent  1|27-10 mx2 sasl_user alice expired mailboxfull 1|28-00 mx1 sasl_user alice bounced userunknown 1|28-02 mx1 sasl_user alice sent  1|27-09 mx1 sasl_user bob bounced userunknown 1|27-09 mx1 sasl_user bob sent  2"
WANT_SASL_DAYS="27 mx1 sasl_user  0 0 1 0 1|27 mx1 sasl_user alice 2 1 1 0 0|27 mx2 sasl_user alice 0 1 0 1 0|28 mx1 sasl_user alice 1 0 1 0 0|27 mx1 sasl_user bob 2 0 1 0 0"
WANT_SASL_REASONS="27 mx1 sasl_user  mailboxfull 1|27 mx1 sasl_user  norelaying 1|27 mx1 sasl_user alice mailboxfull 1|27 mx1 sasl_user alice userunknown 1|27 mx2 sasl_user alice mailboxfull 2|28 mx1 sasl_user alice userunknown 1|27 mx1 sasl_user bob userunknown 1"
check_eq "rollups_sender_hour: the SASL user rows" "$WANT_SASL" \
    "$(q "$ROWS" | grep ' sasl_user ' | paste -sd'|')"
check_eq "rollups_sender_day: the SASL user rows" "$WANT_SASL_DAYS" \
    "$(q "$DAYS" | grep ' sasl_user ' | paste -sd'|')"
check_eq "rollups_sender_reason_day: the SASL user rows" "$WANT_SASL_REASONS" \
    "$(q "$REASONS" | grep ' sasl_user ' | paste -sd'|')"
check_eq "rollups_sender_hour: each axis adds up to the 12 attempts and 1 reject" \
    "client_ip 13|sasl_user 13|sender_domain 13" \
    "$(q "SELECT axis, sum(n) FROM rollups_sender_hour GROUP BY 1 ORDER BY 1" | paste -sd'|')"
check_eq "rollups_sender_day: each axis adds up to the same" \
    "client_ip 13|sasl_user 13|sender_domain 13" \
    "$(q "SELECT axis, sum(sent + deferred + bounced + expired + rejected) FROM rollups_sender_day
          GROUP BY 1 ORDER BY 1" | paste -sd'|')"
for t in ROWS DAYS REASONS; do
    eval "q \"\$$t\"" >"$WORK/$t.ingest"
done
q "SELECT mailpulse_rebuild_rollups()" >/dev/null
for t in ROWS DAYS REASONS; do
    eval "q \"\$$t\"" >"$WORK/$t.rebuilt"
    check "$t: mailpulse_rebuild_rollups() gives the same rows" \
        cmp -s "$WORK/$t.ingest" "$WORK/$t.rebuilt"
done
check_eq "rollups_sender_hour: 34 rows" 34 "$(wc -l <"$WORK/ROWS.rebuilt" | tr -d ' ')"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"

# jcheck NAME URL PYTHON-EXPRESSION: ok when the expression over the JSON body (j) is true
jcheck() {
    curl -s "$URL$2" >"$WORK/body.json"
    if python3 - "$WORK/body.json" "$3" <<'PY'; then ok "$1"; else not_ok "$1"; fi
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    sys.stderr.write("body: %s\n" % json.dumps(j)[:900])
sys.exit(0 if ok else 1)
PY
}

# (key, attempts, sent, deferred, bounced, expired, rejected)
S='[(s["key"], s["attempts"], s["sent"], s["deferred"], s["bounced"], s["expired"], s["rejected"]) for s in j["senders"]]'
R='[(s["key"], [(x["reason"], x["count"]) for x in s["top_reasons"]]) for s in j["senders"]]'
jcheck "senders: by=sender_domain is the default" "/api/v1/senders?$DAY" \
    'j["by"] == "sender_domain" and '"$S"' == [("shop.example",7,4,1,2,0,0), ("club.example",3,0,1,1,1,0), ("spam.example",0,0,0,0,0,1)]'
jcheck "senders: by=sender_domain top reasons" "/api/v1/senders?by=sender_domain&$DAY" \
    "$R"' == [("shop.example",[("userunknown",2),("mailboxfull",1)]), ("club.example",[("mailboxfull",3)]), ("spam.example",[("norelaying",1)])]'
jcheck "senders: by=sasl_user, the unauthenticated under \"\"" "/api/v1/senders?by=sasl_user&$DAY" \
    "$S"' == [("alice",6,2,2,1,1,0), ("bob",3,2,0,1,0,0), ("",1,0,0,1,0,1)]'
jcheck "senders: by=sasl_user rates" "/api/v1/senders?by=sasl_user&$DAY" \
    '[(round(s["bounce_rate"], 6), round(s["deferral_rate"], 6)) for s in j["senders"]] == [(0.166667,0.333333), (0.333333,0), (1,0)]'
jcheck "senders: by=client_ip" "/api/v1/senders?by=client_ip&$DAY" \
    "$S"' == [("10.0.0.1",6,2,2,1,1,0), ("10.0.0.2",3,2,0,1,0,0), ("192.0.2.7",1,0,0,1,0,0), ("203.0.113.66",0,0,0,0,0,1)]'
jcheck "senders: by=host" "/api/v1/senders?by=host&$DAY" \
    "$S"' == [("mx1",8,4,1,3,0,1), ("mx2",2,0,1,0,1,0)]'
jcheck "senders: by=host top reasons" "/api/v1/senders?by=host&$DAY" \
    "$R"' == [("mx1",[("mailboxfull",2),("userunknown",2),("norelaying",1)]), ("mx2",[("mailboxfull",2)])]'
# 08:59:59 to 10:35: the hour 09 from the rollups, 10:00 to 10:35 (r3 sent) from the events.
jcheck "senders: whole hour plus an edge" \
    "/api/v1/senders?by=sasl_user&from=2026-11-27T08:59:59Z&to=2026-11-27T10:35:00Z" \
    "$S"' == [("alice",5,2,2,1,0,0), ("bob",3,2,0,1,0,0), ("",1,0,0,1,0,0)]'
# 26 23:30 to 28 02:20: day 27 from the day tables, 28 00:00 to 02:00 (r9 bounced) from the
# hours, 02:00 to 02:20 (r10 sent) from the events.
jcheck "senders: a whole day, whole hours and an edge" \
    "/api/v1/senders?by=sasl_user&from=2026-11-26T23:30:00Z&to=2026-11-28T02:20:00Z" \
    "$S"' == [("alice",8,3,2,2,1,0), ("bob",3,2,0,1,0,0), ("",1,0,0,1,0,1)]'
jcheck "senders: the reasons of a whole day, whole hours and an edge" \
    "/api/v1/senders?by=sasl_user&from=2026-11-26T23:30:00Z&to=2026-11-28T02:20:00Z" \
    "$R"' == [("alice",[("mailboxfull",3),("userunknown",2)]), ("bob",[("userunknown",1)]), ("",[("mailboxfull",1),("norelaying",1)])]'
jcheck "senders: by=host over two days" \
    "/api/v1/senders?by=host&from=2026-11-26T23:30:00Z&to=2026-11-28T02:20:00Z" \
    "$S"' == [("mx1",10,5,1,4,0,1), ("mx2",2,0,1,0,1,0)]'
# 09:15 to 10:35 holds no whole hour: the events answer it all.
jcheck "senders: a range with no whole hour" \
    "/api/v1/senders?by=sasl_user&from=2026-11-27T09:15:00Z&to=2026-11-27T10:35:00Z" \
    "$S"' == [("alice",2,1,1,0,0,0), ("",1,0,0,1,0,0), ("bob",1,1,0,0,0,0)]'
jcheck "senders: host=mx2" "/api/v1/senders?by=client_ip&$DAY&host=mx2" \
    "$S"' == [("10.0.0.1",2,0,1,0,1,0)]'
jcheck "senders: order=bounce_rate leaves out keys without attempts" \
    "/api/v1/senders?by=client_ip&order=bounce_rate&$DAY" \
    '[s["key"] for s in j["senders"]] == ["192.0.2.7", "10.0.0.2", "10.0.0.1"]'
jcheck "senders: order=deferral_rate" "/api/v1/senders?by=sender_domain&order=deferral_rate&$DAY" \
    '[s["key"] for s in j["senders"]] == ["club.example", "shop.example"]'
jcheck "senders: limit=1" "/api/v1/senders?by=client_ip&limit=1&$DAY" \
    '[s["key"] for s in j["senders"]] == ["10.0.0.1"]'
jcheck "senders: an empty range" "/api/v1/senders?from=2026-11-29T00:00:00Z&to=2026-11-30T00:00:00Z" \
    'j["senders"] == []'

csv() { curl -s "$URL/api/v1/senders?$1&$DAY&format=csv" | tr -d '\r' | paste -sd'|'; }
check_eq "senders: CSV by=sender_domain" \
    "sender_domain,attempts,sent,deferred,bounced,expired,rejected,bounce_rate,deferral_rate,top_reasons,complaints,complaint_rate|shop.example,7,4,1,2,0,0,0.285714,0.142857,userunknown:2 mailboxfull:1,0,0.000000|club.example,3,0,1,1,1,0,0.333333,0.333333,mailboxfull:3,0,0.000000|spam.example,0,0,0,0,0,1,0.000000,0.000000,norelaying:1,0,0.000000" \
    "$(csv by=sender_domain)"
check_eq "senders: CSV by=sasl_user" \
    "sasl_user,attempts,sent,deferred,bounced,expired,rejected,bounce_rate,deferral_rate,top_reasons|alice,6,2,2,1,1,0,0.166667,0.333333,mailboxfull:3 userunknown:1|bob,3,2,0,1,0,0,0.333333,0.000000,userunknown:1|,1,0,0,1,0,1,1.000000,0.000000,mailboxfull:1 norelaying:1" \
    "$(csv by=sasl_user)"
check_eq "senders: CSV by=client_ip" \
    "client_ip,attempts,sent,deferred,bounced,expired,rejected,bounce_rate,deferral_rate,top_reasons|10.0.0.1,6,2,2,1,1,0,0.166667,0.333333,mailboxfull:3 userunknown:1|10.0.0.2,3,2,0,1,0,0,0.333333,0.000000,userunknown:1|192.0.2.7,1,0,0,1,0,0,1.000000,0.000000,mailboxfull:1|203.0.113.66,0,0,0,0,0,1,0.000000,0.000000,norelaying:1" \
    "$(csv by=client_ip)"
check_eq "senders: CSV by=host" \
    "host,attempts,sent,deferred,bounced,expired,rejected,bounce_rate,deferral_rate,top_reasons|mx1,8,4,1,3,0,1,0.375000,0.125000,mailboxfull:2 userunknown:2 norelaying:1|mx2,2,0,1,0,1,0,0.000000,0.500000,mailboxfull:2" \
    "$(csv by=host)"
code() { curl -s -o /dev/null -w '%{http_code}' "$URL$1"; }
check_eq "senders: by=nope is a 400" 400 "$(code "/api/v1/senders?by=nope&$DAY")"
check_eq "senders: order=nope is a 400" 400 "$(code "/api/v1/senders?order=nope&$DAY")"
check_eq "senders: format=xml is a 400" 400 "$(code "/api/v1/senders?format=xml&$DAY")"
check_eq "senders: an unknown parameter is a 400" 400 "$(code "/api/v1/senders?domain=x&$DAY")"

B='[(b["recipient"], b["status"]) for b in j["bounces"]]'
jcheck "bounces: sender_domain=club.example" "/api/v1/bounces?sender_domain=club.example&$DAY" \
    "$B"' == [("r7@slow.example","expired"), ("r7@slow.example","deferred"), ("r6@full.example","bounced")]'
jcheck "bounces: sasl_user=bob" "/api/v1/bounces?sasl_user=bob&$DAY" \
    "$B"' == [("r5@dest.example","bounced")]'
jcheck "bounces: client=10.0.0.1" "/api/v1/bounces?client=10.0.0.1&$DAY" \
    "$B"' == [("r7@slow.example","expired"), ("r7@slow.example","deferred"), ("r3@slow.example","deferred"), ("r2@dest.example","bounced")]'
jcheck "bounces: sasl_user=alice and host=mx1" "/api/v1/bounces?sasl_user=alice&host=mx1&$DAY" \
    "$B"' == [("r3@slow.example","deferred"), ("r2@dest.example","bounced")]'
jcheck "bounces: sasl_user=nobody has none" "/api/v1/bounces?sasl_user=nobody&$DAY" 'j["bounces"] == []'

curl -s "$URL/senders?by=sasl_user&$DAY" >"$WORK/senders.html"
check_eq "/senders?by=sasl_user: rows and attempts" "alice 6|bob 3| 1" \
    "$(grep -o 'data-key="[^"]*" data-attempts="[0-9]*"' "$WORK/senders.html" |
        sed 's/data-key="\([^"]*\)" data-attempts="\([0-9]*\)"/\1 \2/' | paste -sd'|')"
check "/senders: a SASL user links to its failures with the range" \
    grep -q 'href="/bounces?sasl_user=alice&amp;from=2026-11-27T00%3A00%3A00Z' "$WORK/senders.html"
check_eq "/senders: the unauthenticated row has no link" 0 \
    "$(grep -c 'href="/bounces?sasl_user=&' "$WORK/senders.html")"
check "/senders: the tab of the axis is marked" \
    grep -q 'href="/senders?by=sasl_user&amp;from=[^"]*" class="on">SASL user' "$WORK/senders.html"
curl -s "$URL/senders?by=client_ip&$DAY" >"$WORK/clients.html"
check "/senders?by=client_ip: a client links to /bounces?client=" \
    grep -q 'href="/bounces?client=10.0.0.1&amp;' "$WORK/clients.html"
curl -s "$URL/senders?$DAY" >"$WORK/domains.html"
check "/senders: a sender domain links to /bounces?sender_domain=" \
    grep -q 'href="/bounces?sender_domain=shop.example&amp;' "$WORK/domains.html"
check_eq "/senders: by=nope is a 400 page" 400 "$(code "/senders?by=nope")"
curl -s "$URL/?$DAY" >"$WORK/dash.html"
check "dashboard: the navigation links to /senders with the range" \
    grep -q 'href="/senders?from=2026-11-27T00%3A00%3A00Z' "$WORK/dash.html"
curl -s "$URL/bounces?sasl_user=alice&$DAY" >"$WORK/b.html"
check_eq "/bounces?sasl_user=alice: alice's four failures" 4 \
    "$(grep -o 'data-status=' "$WORK/b.html" | wc -l | tr -d ' ')"
check "/bounces: the SASL user filter is kept in the form" \
    grep -q 'name="sasl_user" value="alice"' "$WORK/b.html"
check_eq "/bounces?client=192.0.2.7: one failure" 1 \
    "$(curl -s "$URL/bounces?client=192.0.2.7&$DAY" | grep -o 'data-status=' | wc -l | tr -d ' ')"
check_eq "export: bounces of sasl_user=alice on mx1, oldest first" "r2@dest.example,r3@slow.example" \
    "$(curl -s "$URL/api/v1/export?what=bounces&format=ndjson&$DAY&sasl_user=alice&host=mx1" |
        python3 -c 'import json,sys; print(",".join(json.loads(l)["recipient"] for l in sys.stdin))')"
check_eq "export: deliveries of client=10.0.0.2 and sender_domain=shop.example" \
    "r4@dest.example,r5@dest.example,r8@dest.example" \
    "$(curl -s "$URL/api/v1/export?what=deliveries&format=ndjson&$DAY&client=10.0.0.2&sender_domain=shop.example" |
        python3 -c 'import json,sys; print(",".join(json.loads(l)["recipient"] for l in sys.stdin))')"
check_eq "/bounces?sasl_user=alice: its CSV link answers" 200 \
    "$(code "$(sed -n 's/.*id="csv-link" href="\([^"]*\)".*/\1/p' "$WORK/b.html" | sed 's/&amp;/\&/g')")"
