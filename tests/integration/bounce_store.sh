#!/bin/sh
# bounce_store.sh - `mailpulse import --bounces` stores DSN recipients and complaints once,
# links them to the deliveries of the same Message-ID, keeps the suppression list, and the
# API shows them (/api/v1/summary, /api/v1/complaints, /api/v1/suppressions, /metrics).
# The truth is in bounce_fixture.inc.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bounce_fixture.inc"

DSN=$(new_db bounce_store) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || not_ok "migrate"
fixture_log "$WORK/mail.log"
mkdir -p "$WORK/box/new" "$WORK/box/cur"
fixture_messages "$WORK/box/new"
q() { psql "$DSN" -qAt -c "$1"; }

"$BIN" import --db "$DSN" --year 2026 "$WORK/mail.log" >/dev/null || not_ok "import the log"
out=$("$BIN" import --db "$DSN" --bounces "$WORK/box" 2>&1)
check_eq "import --bounces: what it read and stored" \
    "bounces: 8 messages, 5 bounces, 1 complaint reports, 1 not a bounce, 1 malformed; stored 5 DSN recipients and 1 complaints, 0 already present" \
    "$out"
check_eq "each DSN linked to what the log said" \
    "alice@ms.example async|bob@ms.example delayed|carol@gm.example logged|erin@ms.example async|zed@unknown.example unseen" \
    "$(q "SELECT string_agg(recipient || ' ' || link, '|' ORDER BY recipient) FROM dsn_reports")"
check_eq "a DSN without a Message-ID, to a VERP address: matched by recipient and time" "async mx1 2B2B2B2B2B" \
    "$(q "SELECT link || ' ' || host || ' ' || queue_id FROM dsn_reports WHERE recipient = 'erin@ms.example'")"
check_eq "a matched DSN carries the delivery's host and queue id" "mx1 1A1A1A1A1A" \
    "$(q "SELECT host || ' ' || queue_id FROM dsn_reports WHERE recipient = 'alice@ms.example'")"
check_eq "the complaint: type, recipient, sender domain, host, queue id" \
    "abuse frank@other.example news.example mx1 2B2B2B2B2B" \
    "$(q "SELECT concat_ws(' ', feedback_type, recipient, sender_domain, host, queue_id) FROM complaints")"
check_eq "the DSN's time is its Date header" "2026-11-30 12:00:00+00" \
    "$(q "SET TIME ZONE 'UTC'; SELECT time FROM dsn_reports WHERE recipient = 'alice@ms.example'")"
check_eq "rollups_complaint_hour" "2026-11-30 15:00:00+00 news.example abuse mx1 1" \
    "$(q "SET TIME ZONE 'UTC'; SELECT concat_ws(' ', hour, sender_domain, feedback_type, host, n) FROM rollups_complaint_hour")"
check_eq "rollups_dsn_hour by link" "async 1|async 1|delayed 1|logged 1|unseen 1" \
    "$(q "SELECT string_agg(link || ' ' || n, '|' ORDER BY link) FROM rollups_dsn_hour")"
check_eq "suppressions: carol left when a later delivery was sent" \
    "alice@ms.example news.example dsn userunknown 5.1.1|erin@ms.example news.example dsn userunknown 5.1.1|frank@other.example news.example complaint abuse |zed@unknown.example news.example dsn userunknown 5.1.1" \
    "$(q "SELECT string_agg(concat_ws(' ', recipient, sender_domain, origin, reason, coalesce(dsn, '')), '|' ORDER BY recipient) FROM suppressions")"

# The same messages again, from an mbox this time: nothing new.
for f in "$WORK"/box/new/*; do
    printf 'From MAILER-DAEMON Mon Nov 30 12:00:00 2026\n'
    sed 's/^From />From /' "$f"
    printf '\n'
done >"$WORK/again.mbox"
out=$("$BIN" import --db "$DSN" --bounces "$WORK/again.mbox" "$WORK/box" 2>&1)
check_eq "the same messages again (mbox and Maildir): all already present" \
    "bounces: 16 messages, 10 bounces, 2 complaint reports, 2 not a bounce, 2 malformed; stored 0 DSN recipients and 0 complaints, 12 already present" \
    "$out"
check_eq "no row twice" "5 1 4 1" \
    "$(q "SELECT (SELECT count(*) FROM dsn_reports) || ' ' || (SELECT count(*) FROM complaints) || ' ' || (SELECT count(*) FROM suppressions) || ' ' || (SELECT sum(n) FROM rollups_complaint_hour)")"

# A rebuild links again and gives the same rollups and list.
before=$(q "SELECT string_agg(concat_ws(' ', hour, host, link, n, hard), '|' ORDER BY hour, link) FROM rollups_dsn_hour")
"$BIN" db rebuild-rollups --db "$DSN" >/dev/null 2>&1 || not_ok "db rebuild-rollups"
check_eq "rebuild: the DSN rollups are the same" "$before" \
    "$(q "SELECT string_agg(concat_ws(' ', hour, host, link, n, hard), '|' ORDER BY hour, link) FROM rollups_dsn_hour")"
check_eq "rebuild: the suppression list is the same" "alice@ms.example|erin@ms.example|frank@other.example|zed@unknown.example" \
    "$(q "SELECT string_agg(recipient, '|' ORDER BY recipient) FROM suppressions")"

# Bounces read before their log: "unseen" until a rebuild links them.
DSN2=$(new_db bounce_store2) || not_ok "create the second database"
"$BIN" db migrate --db "$DSN2" >/dev/null
"$BIN" import --db "$DSN2" --bounces "$WORK/box" >/dev/null
"$BIN" import --db "$DSN2" --year 2026 "$WORK/mail.log" >/dev/null
check_eq "bounces before the log: all unseen" "4" \
    "$(psql "$DSN2" -qAt -c "SELECT count(*) FROM dsn_reports WHERE link = 'unseen'")"
"$BIN" db rebuild-rollups --db "$DSN2" >/dev/null 2>&1
check_eq "after a rebuild: linked as when the log came first" \
    "alice@ms.example async|bob@ms.example delayed|carol@gm.example logged|erin@ms.example async|zed@unknown.example unseen" \
    "$(psql "$DSN2" -qAt -c "SELECT string_agg(recipient || ' ' || link, '|' ORDER BY recipient) FROM dsn_reports")"

# A Message-ID's attempts are found through its messages (sql/016): a queue id that a later
# message used again on the same host brings that message's attempts too, and only the
# attempts' own Message-ID tells them apart; a message received in one month finds its
# attempts of the next, in a window that starts after it.
DSN3=$(migrated_db bounce_store3) || exit 1
psql "$DSN3" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || not_ok "insert the reused queue id's rows"
SELECT mailpulse_ensure_partitions('2026-10-01', '2026-11-30');
INSERT INTO sources (name, identity) VALUES ('reuse', 'reuse');
INSERT INTO messages (time, host, queue_id, message_id, sender_domain, source_id, pos)
SELECT t::timestamptz, 'mx9', q, m, sd, (SELECT id FROM sources), p FROM (VALUES
    ('2026-11-20 10:00Z', 'R1', '<first@reuse.example>', 'first.example', 1),
    ('2026-11-21 10:00Z', 'R1', '<second@reuse.example>', 'second.example', 2),
    ('2026-10-31 23:59Z', 'R2', '<oct@reuse.example>', 'oct.example', 3)) v(t, q, m, sd, p);
INSERT INTO deliveries (time, host, queue_id, message_id, sender_domain, recipient, status,
    source_id, pos)
SELECT t::timestamptz, 'mx9', q, m, sd, 'ann@reuse.example', 'bounced', (SELECT id FROM sources), p
FROM (VALUES
    ('2026-11-20 10:01Z', 'R1', '<first@reuse.example>', 'first.example', 11),
    ('2026-11-21 10:01Z', 'R1', '<second@reuse.example>', 'second.example', 12),
    ('2026-11-01 00:05Z', 'R2', '<oct@reuse.example>', 'oct.example', 13)) v(t, q, m, sd, p);
EOF
check_eq "a DSN of the first message of a reused queue id: its own delivery, not the later one" \
    "bounced mx9 R1 first.example" \
    "$(psql "$DSN3" -qAt -F' ' -c "SELECT * FROM mailpulse_dsn_delivery('<first@reuse.example>', 'ann@reuse.example', 'ann@reuse.example', NULL, '2026-11-22Z')")"
check_eq "a message of October finds its attempt of November" "2026-11-01 00:05:00+00 oct.example" \
    "$(psql "$DSN3" -qAt -F' ' -c "SET TIME ZONE 'UTC'; SELECT time, sender_domain FROM mailpulse_message_deliveries('<oct@reuse.example>', '2026-11-01Z', '2026-11-30Z')")"

# The API over it (web-only serve).
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
R="from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z"
s=$(curl -s "$URL/api/v1/summary?$R")
check_eq "summary: sent" 5 "$(json_get "$s" sent)"
check_eq "summary: bounced (the log)" 1 "$(json_get "$s" bounced)"
check_eq "summary: async_bounced" 3 "$(json_get "$s" async_bounced)"
check_eq "summary: complaints" 1 "$(json_get "$s" complaints)"
check_eq "summary: complaint_rate" 0.2 "$(json_get "$s" complaint_rate)"
s=$(curl -s "$URL/api/v1/summary?$R&sender_domain=other.example")
check_eq "summary for another sender domain: no complaints" 0 "$(json_get "$s" complaints)"
c=$(curl -s "$URL/api/v1/complaints?$R")
check_eq "/api/v1/complaints" "abuse frank@other.example news.example 192.0.2.10 <m2@news.example> mx1" \
    "$(printf '%s' "$c" | python3 -c 'import json,sys; d=json.load(sys.stdin)["complaints"]; print(len(d)==1 and " ".join(d[0][k] for k in ("feedback_type","recipient","sender_domain","source_ip","message_id","host")))')"
check_eq "/api/v1/complaints?feedback_type=fraud: none" 0 \
    "$(curl -s "$URL/api/v1/complaints?$R&feedback_type=fraud" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["complaints"]))')"
check_eq "/api/v1/complaints?feedback_type=spam: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/complaints?feedback_type=spam")"
check_eq "/api/v1/complaints CSV" "time,feedback_type,recipient,sender_domain,source_ip,reporting_mta,user_agent,message_id,host,queue_id
2026-11-30T15:00:00+00:00,abuse,frank@other.example,news.example,192.0.2.10,,ExampleFBL/1.0,<m2@news.example>,mx1,2B2B2B2B2B" \
    "$(curl -s "$URL/api/v1/complaints?$R&format=csv" | tr -d '\r')"
sup=$(curl -s "$URL/api/v1/suppressions?$R")
check_eq "/api/v1/suppressions" "frank@other.example complaint|zed@unknown.example dsn|alice@ms.example dsn|erin@ms.example dsn" \
    "$(printf '%s' "$sup" | python3 -c 'import json,sys; print("|".join(x["recipient"]+" "+x["origin"] for x in json.load(sys.stdin)["suppressions"]))')"
check_eq "/api/v1/suppressions CSV has a header and 4 rows" 5 \
    "$(curl -s "$URL/api/v1/suppressions?$R&format=csv" | wc -l)"
check_eq "/api/v1/suppressions?sender_domain=other.example: none" 0 \
    "$(curl -s "$URL/api/v1/suppressions?$R&sender_domain=other.example" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["suppressions"]))')"
check_eq "/metrics: complaints_total" 'mailpulse_complaints_total{feedback_type="abuse",host="mx1"} 1' \
    "$(curl -s "$URL/metrics" | grep '^mailpulse_complaints_total')"
check_eq "/bounces lists the three asynchronous bounces" 'id="async-bounces" data-rows="3"' \
    "$(curl -s "$URL/bounces?$R" | grep -o 'id="async-bounces" data-rows="[0-9]*"')"
check_eq "/bounces?domain=ms.example: two" 'id="async-bounces" data-rows="2"' \
    "$(curl -s "$URL/bounces?$R&domain=ms.example" | grep -o 'id="async-bounces" data-rows="[0-9]*"')"
check_eq "/message shows the three bounce messages about m1" 'id="trail-dsns" data-rows="3"' \
    "$(curl -s "$URL/message?message_id=%3Cm1@news.example%3E" | grep -o 'id="trail-dsns" data-rows="[0-9]*"')"
check "/message escapes the Message-ID" sh -c "curl -s '$URL/message?message_id=%3Cm1@news.example%3E' | grep -q '&lt;m1@news.example&gt;'"
d=$(curl -s "$URL/api/v1/domains?$R&limit=10")
check_eq "/api/v1/domains: ms.example has two asynchronous bounces, counted in total_bounce_rate" "2 0.666667" \
    "$(printf '%s' "$d" | python3 -c 'import json,sys; x=[d for d in json.load(sys.stdin)["domains"] if d["domain"]=="ms.example"][0]; print(x["async_bounced"], "%.6f" % x["total_bounce_rate"])')"
check_eq "/api/v1/domains: gm.example's DSN was the log's own failure: not counted again" "0 1 0.500000" \
    "$(printf '%s' "$d" | python3 -c 'import json,sys; x=[d for d in json.load(sys.stdin)["domains"] if d["domain"]=="gm.example"][0]; print(x["async_bounced"], x["bounced"], "%.6f" % x["total_bounce_rate"])')"
check_eq "export what=suppressions CSV: the whole list" "recipient,sender_domain,last_time,origin,reason,dsn,reply,count
alice@ms.example,news.example,2026-11-30T12:00:00+00:00,dsn,userunknown,5.1.1,550 5.1.1 RESOLVER.ADR.RecipNotFound; not found,1
erin@ms.example,news.example,2026-11-30T11:30:00+00:00,dsn,userunknown,5.1.1,This is the mail system at host mx.ms.example. I'm sorry to have to inform you that your message could not be delivered to one or more recipients. The mail system said: 550 5.1.1 mailbox unavailable,1
frank@other.example,news.example,2026-11-30T15:00:00+00:00,complaint,abuse,,,1
zed@unknown.example,news.example,2026-11-30T14:30:00+00:00,dsn,userunknown,5.1.1,550 5.1.1 User unknown,1" \
    "$(curl -s "$URL/api/v1/export?what=suppressions&format=csv&$R" | tr -d '\r')"
check_eq "export what=complaints NDJSON" "abuse frank@other.example news.example@news.example mx1 2B2B2B2B2B" \
    "$(curl -s "$URL/api/v1/export?what=complaints&format=ndjson&$R" | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print(len(r)==1 and " ".join([r[0]["feedback_type"], r[0]["recipient"], r[0]["sender_domain"]+"@"+r[0]["mail_from"].split("@")[1], r[0]["host"], r[0]["queue_id"]]))')"
check_eq "export what=suppressions JSON: count is a number" "4 1" \
    "$(curl -s "$URL/api/v1/export?what=suppressions&$R" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), r[0]["count"])')"
check_eq "export what=nonsense: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/export?what=nonsense")"
check_eq "/api/v1/senders?by=sender_domain: complaints and their rate" "1 0.2" \
    "$(curl -s "$URL/api/v1/senders?by=sender_domain&$R" | python3 -c 'import json,sys; x=json.load(sys.stdin)["senders"][0]; print(x["complaints"], x["complaint_rate"])')"
check_eq "the dashboard's complaint panel: news.example, 1 complaint, over the 0.3 % line" \
    'data-sender="news.example" data-complaints="1"|cmeter crit' \
    "$(curl -s "$URL/?$R" | grep -o 'data-sender="news.example" data-complaints="1"\|cmeter crit' | paste -sd'|')"
check "the dashboard has no complaint panel for a range without complaints" sh -c \
    "! curl -s '$URL/?from=2026-11-29T00:00:00Z&to=2026-11-30T00:00:00Z' | grep -q complaint-rates"
