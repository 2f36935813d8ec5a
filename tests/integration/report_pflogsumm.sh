#!/bin/sh
# report_pflogsumm.sh - `mailpulse report` against Debian's pflogsumm on the same logs.
#
# Equal on purpose: delivered, deferred (messages and deferrals), bounced, rejected, and
# received where no content filter is involved. Different on purpose, each shown here with
# counts taken straight from the log text (not from mailpulse):
#  - a content filter (amavis on 127.0.0.1:10024 -> 10025) makes pflogsumm count one message
#    twice: the hop to the filter is a "delivered" and the re-injection a "received". mailpulse
#    folds the hop into the message: delivered = pflogsumm's - hop lines, received =
#    pflogsumm's - re-injected queue ids;
#  - an smtpd session that got a queue id but never sent DATA ("client=" and nothing else for
#    that id) is "received" for pflogsumm; mailpulse counts messages that reached the queue.
. "$(dirname "$0")/lib.sh"

export TZ=UTC
if ! command -v pflogsumm >/dev/null 2>&1; then
    echo "ok - report_pflogsumm # SKIP pflogsumm is not installed (scripts/setup.sh installs it)"
    exit 0
fi
LM="$MAILPULSE_CORPORA/lightmeter-postfix/complete/logs_sample"

# pfl FILE... : "received delivered deferred deferrals bounced rejected" from pflogsumm
pfl() {
    pflogsumm "$@" 2>/dev/null | awk '
        /^Grand Totals/ { on = 1 }
        on && / received$/ { r = $1 }
        on && / delivered$/ { d = $1 }
        on && / deferred/ { df = $1; dfs = $3; sub(/\(/, "", dfs); if (dfs == "") dfs = 0 }
        on && / bounced$/ { b = $1 }
        on && / rejected / { j = $1; exit }
        END { print r, d, df, dfs, b, j }'
}

# mp FILE... : the same six numbers from mailpulse report --format csv
mp() {
    "$BIN" report --format csv "$@" | awk -F, '
        $1 == "totals" { v[$3] = $4 }
        END { print v["received"], v["delivered"], v["deferred"], v["deferrals"], v["bounced"],
                    v["rejected"] }'
}

# 1. A generated busy-server log (no content filter): every count equal.
"$GENLOG" --messages 20000 --seed 7 >"$WORK/gen.log"
check_eq "report equals pflogsumm on a generated log (received delivered deferred deferrals bounced rejected)" \
    "$(pfl "$WORK/gen.log")" "$(mp "$WORK/gen.log")"
"$GENLOG" --messages 3000 --seed 9 --rfc3339 >"$WORK/gen3339.log"
check_eq "report equals pflogsumm on RFC 3339 stamps" \
    "$(pfl "$WORK/gen3339.log")" "$(mp "$WORK/gen3339.log")"

# 2. The lightmeter complete log set (amavis content filter, postscreen, submission).
cat "$LM/mail.log.1" "$LM/mail.log" >"$WORK/lm.log"
set -- $(pfl "$WORK/lm.log")
p_rcv=$1 p_dlv=$2 p_dfr=$3 p_dfrs=$4 p_bnc=$5 p_rej=$6
set -- $(mp --year 2026 "$WORK/lm.log")
m_rcv=$1 m_dlv=$2 m_dfr=$3 m_dfrs=$4 m_bnc=$5 m_rej=$6

# Independent counts from the text: hop lines, re-injected ids, ids that never reached cleanup.
hops=$(grep -E 'postfix/[a-z]+\[[0-9]+\]: [0-9A-F]+: to=<.*, relay=[^,]*\[(127\.[0-9.]+|::1)\][^,]*, .*status=sent .*queued as [0-9A-Za-z]+\)$' "$WORK/lm.log" | wc -l)
grep -E 'status=sent .*queued as [0-9A-Za-z]+\)$' "$WORK/lm.log" | grep -E 'relay=[^,]*\[127\.' |
    sed -E 's/.*queued as ([0-9A-Za-z]+)\)$/\1/' | sort -u >"$WORK/reinjected.ids"
grep -oE '(smtpd|postscreen)\[[0-9]+\]: [0-9A-F]+: client=' "$WORK/lm.log" | awk '{print $2}' |
    tr -d : | sort -u >"$WORK/client.ids"
grep -oE 'cleanup\[[0-9]+\]: [0-9A-F]+: ' "$WORK/lm.log" | awk '{print $2}' | tr -d : |
    sort -u >"$WORK/cleanup.ids"
reinjected=$(comm -12 "$WORK/reinjected.ids" "$WORK/client.ids" | wc -l)
abandoned=$(comm -23 "$WORK/client.ids" "$WORK/cleanup.ids" | wc -l)

check_eq "lightmeter: deferred, deferrals, bounced, rejected equal pflogsumm" \
    "$p_dfr $p_dfrs $p_bnc $p_rej" "$m_dfr $m_dfrs $m_bnc $m_rej"
check "lightmeter: the log has content-filter hops to check (hops=$hops)" [ "$hops" -gt 0 ]
check_eq "lightmeter: delivered = pflogsumm's $p_dlv - $hops content-filter hops" \
    "$((p_dlv - hops))" "$m_dlv"
check_eq "lightmeter: received = pflogsumm's $p_rcv - $reinjected re-injections - $abandoned sessions without DATA" \
    "$((p_rcv - reinjected - abandoned))" "$m_rcv"

# 3. One message by hand (lightmeter 1_bounce_simple.log): user@sender.com sends one message
#    through amavis to an address that does not exist; the bounce goes back to the sender by
#    LMTP. One message received, one bounced, one notice delivered. pflogsumm says received 2,
#    delivered 2 (the amavis hop and the notice).
f="$MAILPULSE_CORPORA/lightmeter-postfix/individual_files/1_bounce_simple.log"
check_eq "1_bounce_simple: pflogsumm double counts the filtered message" "2 2 0 0 1 0" "$(pfl "$f")"
check_eq "1_bounce_simple: mailpulse counts it once" "1 1 0 0 1 0" "$(mp --year 2026 "$f")"

# 4. The three formats agree with each other.
"$BIN" report --year 2026 --format json "$WORK/lm.log" >"$WORK/lm.json"
"$BIN" report --year 2026 "$WORK/lm.log" >"$WORK/lm.txt"
check_eq "report --format json totals match csv" "$m_rcv $m_dlv $m_bnc $m_rej" \
    "$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print(t["received"], t["delivered"], t["bounced"], t["rejected"])' "$WORK/lm.json")"
check_eq "report text shows the received count" "$m_rcv" \
    "$(awk '/ received$/ {print $1; exit}' "$WORK/lm.txt")"
check "report --format json lists domains, senders, reasons and hours" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["domains"] and r["senders"] and r["hours"] and r["reasons"], r.keys()
assert sum(h["delivered"] for h in r["hours"]) == r["totals"]["delivered"]
' "$WORK/lm.json"

# 5. --from/--to cut by event time.
check_eq "report --from/--to keeps only that day" "$(grep -c '^Jan 28 .*status=bounced' "$WORK/lm.log")" \
    "$("$BIN" report --year 2026 --format csv --from 2026-01-28T00:00:00Z --to 2026-01-29T00:00:00Z "$WORK/lm.log" | awk -F, '$3 == "bounced" && $1 == "totals" {print $4}')"

# 6. Bad usage is one clear line and status 2.
"$BIN" report --format xml "$WORK/lm.log" >/dev/null 2>"$WORK/err"
check "report --format xml is refused" grep -q "text, json or csv" "$WORK/err"
env -u MAILPULSE_DB -u PGHOST -u PGDATABASE -u PGSERVICE "$BIN" report >/dev/null 2>&1
check_eq "report without files or --db exits 2" 2 $?
