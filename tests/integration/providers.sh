#!/bin/sh
# providers.sh - mailbox providers and blocks end to end: tests/integration/providers.log (six
# delivery attempts to Google, Microsoft, Yahoo and a small domain, one reject) imported,
# the stored provider and block of each row, the two rollup tables and their rebuild,
# /api/v1/providers, /api/v1/blocks in JSON and CSV and /api/v1/timeseries?by=provider
# (numbers read off the log by hand);
# then provider_of() over every relay= host of the corpora and samples: the ones it cannot
# place are listed, and a relay of a well-known provider placed wrong fails.
set -u
. "$(dirname "$0")/lib.sh"

LOG=tests/integration/providers.log
DAY="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"
PROVIDER_OF=$(dirname "$BIN")/tools/provider_of

DSN=$(new_db providers) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
check "import the provider log" sh -c "'$BIN' import --db '$DSN' '$LOG' >/dev/null"

q() { psql "$DSN" -qAt -F' ' -c "$1"; }

check_eq "deliveries: provider and block of each attempt" \
    "ann@gmail.com google -|bob@corp.example google -|cat@outlook.com microsoft Microsoft S3140|dan@yahoo.com yahoo Yahoo TSS04|eve@small.example other Spamhaus ZEN|dan@yahoo.com yahoo -" \
    "$(q "SELECT recipient, provider, coalesce(block, '-') FROM deliveries ORDER BY pos" | paste -sd'|')"
check_eq "rejects: the Spamhaus reject" "other Spamhaus ZEN" "$(q "SELECT provider, block FROM rejects")"

PROV_ROWS="SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24'), host, provider, sent, deferred,
    bounced, expired FROM rollups_provider_hour ORDER BY 1, 3"
BLOCK_ROWS="SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24'), host, provider, block, n
    FROM rollups_block_hour ORDER BY 1, 4"
WANT_PROV="09 mx1 google 2 0 0 0|09 mx1 microsoft 0 0 1 0|09 mx1 other 0 0 1 0|09 mx1 yahoo 0 1 0 0|10 mx1 yahoo 1 0 0 0"
WANT_BLOCK="09 mx1 microsoft Microsoft S3140 1|09 mx1 other Spamhaus ZEN 1|09 mx1 yahoo Yahoo TSS04 1|10 mx1 other Spamhaus ZEN 1"
check_eq "rollups_provider_hour after the ingest" "$WANT_PROV" "$(q "$PROV_ROWS" | paste -sd'|')"
check_eq "rollups_block_hour after the ingest" "$WANT_BLOCK" "$(q "$BLOCK_ROWS" | paste -sd'|')"

"$BIN" import --db "$DSN" "$LOG" >/dev/null 2>&1
check_eq "a second import adds nothing to the rollups" "$WANT_PROV" "$(q "$PROV_ROWS" | paste -sd'|')"

q "SELECT mailpulse_rebuild_rollups()" >/dev/null
check_eq "rollups_provider_hour after mailpulse_rebuild_rollups()" "$WANT_PROV" \
    "$(q "$PROV_ROWS" | paste -sd'|')"
check_eq "rollups_block_hour after mailpulse_rebuild_rollups()" "$WANT_BLOCK" \
    "$(q "$BLOCK_ROWS" | paste -sd'|')"

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
    sys.stderr.write("body: %s\n" % json.dumps(j)[:800])
sys.exit(0 if ok else 1)
PY
}

P='[(p["provider"], p["attempts"], p["sent"], p["deferred"], p["bounced"], p["expired"]) for p in j["providers"]]'
jcheck "providers: the day, most attempts first" "/api/v1/providers?$DAY" \
    "$P"' == [("google",2,2,0,0,0), ("yahoo",2,1,1,0,0), ("microsoft",1,0,0,1,0), ("other",1,0,0,1,0)]'
jcheck "providers: rates" "/api/v1/providers?$DAY" \
    '[(p["bounce_rate"], p["deferral_rate"]) for p in j["providers"]] == [(0,0), (0,0.5), (1,0), (1,0)]'
# 09:00:03 to 10:16: Ann's delivery (09:00:02) is out; the edge hours come from the events.
jcheck "providers: a range with partial hours" \
    "/api/v1/providers?from=2026-11-27T09:00:03Z&to=2026-11-27T10:16:00Z" \
    "$P"' == [("yahoo",2,1,1,0,0), ("google",1,1,0,0,0), ("microsoft",1,0,0,1,0), ("other",1,0,0,1,0)]'
jcheck "providers: the whole hour 10:00 from the rollups" \
    "/api/v1/providers?from=2026-11-27T10:00:00Z&to=2026-11-27T11:00:00Z" \
    "$P"' == [("yahoo",1,1,0,0,0)]'
jcheck "providers: host=mx9 has none" "/api/v1/providers?$DAY&host=mx9" 'j["providers"] == []'
jcheck "providers: limit=1" "/api/v1/providers?$DAY&limit=1" \
    '[p["provider"] for p in j["providers"]] == ["google"]'
check_eq "providers: CSV" \
    "provider,attempts,sent,deferred,bounced,expired,bounce_rate,deferral_rate|google,2,2,0,0,0,0.000000,0.000000|yahoo,2,1,1,0,0,0.000000,0.500000|microsoft,1,0,0,1,0,1.000000,0.000000|other,1,0,0,1,0,1.000000,0.000000" \
    "$(curl -s "$URL/api/v1/providers?$DAY&format=csv" | tr -d '\r' | paste -sd'|')"
check_eq "providers: format=xml is a 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/providers?$DAY&format=xml")"

B='[(b["host"], b["block"], b["operator"], b["kind"], b["provider"], b["count"], b["first_seen"], b["last_seen"]) for b in j["blocks"]]'
jcheck "blocks: host x rule x provider, first and last seen" "/api/v1/blocks?$DAY" \
    "$B"' == [("mx1","Spamhaus ZEN","Spamhaus","list","other",2,"2026-11-27T09:00:06+00:00","2026-11-27T10:20:00+00:00"), ("mx1","Microsoft S3140","Microsoft","list","microsoft",1,"2026-11-27T09:00:04+00:00","2026-11-27T09:00:04+00:00"), ("mx1","Yahoo TSS04","Yahoo","rate","yahoo",1,"2026-11-27T09:00:05+00:00","2026-11-27T09:00:05+00:00")]'
jcheck "blocks: example replies, newest first" "/api/v1/blocks?$DAY" \
    '[len(b["examples"]) for b in j["blocks"]] == [2,1,1] and j["blocks"][0]["examples"][0].startswith("554 5.7.1 Service unavailable; Client host [203.0.113.66]") and "(S3140)" in j["blocks"][1]["examples"][0]'
jcheck "blocks: the range cuts the reject off" \
    "/api/v1/blocks?from=2026-11-27T09:00:00Z&to=2026-11-27T10:00:00Z" \
    '[(b["block"], b["count"]) for b in j["blocks"]] == [("Microsoft S3140",1), ("Spamhaus ZEN",1), ("Yahoo TSS04",1)]'
check_eq "blocks: CSV header and rows" \
    "host,block,operator,kind,provider,first_seen,last_seen,count,example|mx1,Spamhaus ZEN,Spamhaus,list,other,2026-11-27T09:00:06+00:00,2026-11-27T10:20:00+00:00,2" \
    "$(curl -s "$URL/api/v1/blocks?$DAY&format=csv" | tr -d '\r' | head -2 | sed '2s/,[^,]*$//' | paste -sd'|')"

jcheck "bounces: provider=microsoft is Cat's bounce" "/api/v1/bounces?$DAY&provider=microsoft" \
    '[b["recipient"] for b in j["bounces"]] == ["cat@outlook.com"]'
jcheck "bounces: provider=yahoo is Dan's deferral only" "/api/v1/bounces?$DAY&provider=yahoo" \
    '[(b["recipient"], b["status"]) for b in j["bounces"]] == [("dan@yahoo.com", "deferred")]'
check_eq "bounces: provider=nope is a 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/bounces?$DAY&provider=nope")"
check_eq "export: provider=other keeps Eve's bounce only" "eve@small.example" \
    "$(curl -s "$URL/api/v1/export?what=bounces&format=ndjson&$DAY&provider=other" |
        python3 -c 'import json,sys; print(",".join(json.loads(l)["recipient"] for l in sys.stdin))')"
curl -s "$URL/?$DAY" >"$WORK/dash.html"
check_eq "dashboard: the provider panel, most attempts first" "google 2|yahoo 2|microsoft 1|other 1" \
    "$(grep -o 'data-provider="[a-z]*" data-attempts="[0-9]*"' "$WORK/dash.html" |
        sed 's/data-provider="\([a-z]*\)" data-attempts="\([0-9]*\)"/\1 \2/' | paste -sd'|')"
check "dashboard: a provider links to its failures" \
    grep -q 'href="/bounces?provider=yahoo&amp;from=2026-11-27T00%3A00%3A00Z' "$WORK/dash.html"
check "/bounces?provider=microsoft lists one row, the provider selected" sh -c \
    "curl -s '$URL/bounces?$DAY&provider=microsoft' >'$WORK/b.html' &&
     [ \$(grep -o 'data-status=' '$WORK/b.html' | wc -l) = 1 ] &&
     grep -q '<option selected>microsoft</option>' '$WORK/b.html'"

curl -s "$URL/metrics" >"$WORK/metrics.txt"
check_eq "/metrics: mailpulse_provider_deliveries_total by provider and status" \
    'google sent 2|microsoft bounced 1|yahoo sent 1|yahoo deferred 1|other bounced 1' \
    "$(sed -n 's/^mailpulse_provider_deliveries_total{provider="\([a-z]*\)",status="\([a-z]*\)"} \([0-9]*\)$/\1 \2 \3/p' \
        "$WORK/metrics.txt" | paste -sd'|')"
if command -v promtool >/dev/null 2>&1; then
    check "/metrics: promtool accepts the exposition" sh -c "promtool check metrics <'$WORK/metrics.txt'"
fi

curl -s "$URL/blocks?$DAY" >"$WORK/blocks.html"
check_eq "/blocks: one row per host x block x provider, most first" \
    "Spamhaus ZEN 2|Microsoft S3140 1|Yahoo TSS04 1" \
    "$(grep -o 'data-block="[^"]*" data-count="[0-9]*"' "$WORK/blocks.html" |
        sed 's/data-block="\([^"]*\)" data-count="\([0-9]*\)"/\1 \2/' | paste -sd'|')"
check_eq "/blocks: two example replies for Spamhaus ZEN, one for the others" 4 \
    "$(grep -o '<div class="ex">' "$WORK/blocks.html" | wc -l)"
check "/blocks: the reply's quote is escaped" grep -q "weren&#39;t sent\|weren&#x27;t sent" "$WORK/blocks.html"
check_eq "/blocks: a host with none says so" 1 \
    "$(curl -s "$URL/blocks?$DAY&host=mx9" | grep -c 'id="no-rows"')"

# --- /api/v1/timeseries?by=provider: every bucket, each with every provider of the range
# PS: the points as (hour or minute, provider, sent, deferred, bounced, expired), zeros left out
PS='[(p["time"][11:16], n, c["sent"], c["deferred"], c["bounced"], c["expired"]) for p in j["points"] for n, c in p["providers"].items() if any(c.values())]'
jcheck "timeseries by provider: the day by hour, the providers most attempts first" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider" \
    'j["by"] == "provider" and j["bucket"] == "hour" and len(j["points"]) == 24 and j["providers"] == ["google","yahoo","microsoft","other"]'
jcheck "timeseries by provider: the counts of each hour" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider" \
    "$PS"' == [("09:00","google",2,0,0,0), ("09:00","yahoo",0,1,0,0), ("09:00","microsoft",0,0,1,0), ("09:00","other",0,0,1,0), ("10:00","yahoo",1,0,0,0)]'
jcheck "timeseries by provider: every point names every provider of the range" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider" \
    'all(list(p["providers"]) == j["providers"] for p in j["points"])'
# The same attempts as the status timeseries, bucket by bucket.
curl -s "$URL/api/v1/timeseries?$DAY&bucket=hour" >"$WORK/ts_status.json"
jcheck "timeseries by provider: each hour's attempts equal the status timeseries'" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider" \
    '[sum(sum(c.values()) for c in p["providers"].values()) for p in j["points"]] == [q["sent"]+q["deferred"]+q["bounced"]+q["expired"] for q in json.load(open("'"$WORK"'/ts_status.json"))["points"]]'
jcheck "timeseries by provider: minutes, read from the events" \
    "/api/v1/timeseries?from=2026-11-27T08:58:00Z&to=2026-11-27T09:02:00Z&bucket=minute&by=provider" \
    'len(j["points"]) == 4 and '"$PS"' == [("09:00","google",2,0,0,0), ("09:00","microsoft",0,0,1,0), ("09:00","other",0,0,1,0), ("09:00","yahoo",0,1,0,0)]'
# 09:00:03 to 10:16 by hour: the partial hours at both ends come from the events.
jcheck "timeseries by provider: a range with partial hours" \
    "/api/v1/timeseries?from=2026-11-27T09:00:03Z&to=2026-11-27T10:16:00Z&bucket=hour&by=provider" \
    "$PS"' == [("09:00","yahoo",0,1,0,0), ("09:00","google",1,0,0,0), ("09:00","microsoft",0,0,1,0), ("09:00","other",0,0,1,0), ("10:00","yahoo",1,0,0,0)]'
jcheck "timeseries by provider: by day" "/api/v1/timeseries?$DAY&bucket=day&by=provider" \
    'len(j["points"]) == 1 and '"$PS"' == [("00:00","google",2,0,0,0), ("00:00","yahoo",1,1,0,0), ("00:00","microsoft",0,0,1,0), ("00:00","other",0,0,1,0)]'
jcheck "timeseries by provider: host=mx9 has none, every bucket still there" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider&host=mx9" \
    'j["providers"] == [] and len(j["points"]) == 24 and all(p["providers"] == {} for p in j["points"])'
check_eq "timeseries: by=nope is a 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/timeseries?$DAY&by=nope")"
# Whole hours are read from rollups_provider_hour: a count put there by hand shows in the
# hour buckets and not in the minute ones (the events). A stored name that no rule gives
# counts under "other", so the providers stay the table's names.
q "UPDATE rollups_provider_hour SET sent = sent + 100 WHERE provider = 'google'" >/dev/null
q "UPDATE rollups_provider_hour SET provider = 'retired' WHERE provider = 'other'" >/dev/null
q "UPDATE deliveries SET provider = 'retired' WHERE provider = 'other'" >/dev/null
jcheck "timeseries by provider: whole hours from rollups_provider_hour" \
    "/api/v1/timeseries?$DAY&bucket=hour&by=provider&host=mx1" \
    "$PS"' == [("09:00","google",102,0,0,0), ("09:00","yahoo",0,1,0,0), ("09:00","microsoft",0,0,1,0), ("09:00","other",0,0,1,0), ("10:00","yahoo",1,0,0,0)]'
jcheck "timeseries by provider: minutes from the events, a retired name under other" \
    "/api/v1/timeseries?from=2026-11-27T09:00:00Z&to=2026-11-27T09:01:00Z&bucket=minute&by=provider&host=mx1" \
    'j["providers"] == ["google","microsoft","other","yahoo"] and '"$PS"' == [("09:00","google",2,0,0,0), ("09:00","microsoft",0,0,1,0), ("09:00","other",0,0,1,0), ("09:00","yahoo",0,1,0,0)]'
q "UPDATE deliveries SET provider = 'other' WHERE provider = 'retired'" >/dev/null
q "SELECT mailpulse_rebuild_rollups()" >/dev/null
check_eq "rollups_provider_hour rebuilt after the test's edits" "$WANT_PROV" "$(q "$PROV_ROWS" | paste -sd'|')"

# --- site rules: import --providers and [providers] file
printf '# a site rule\nsmall.example  smallco\n' >"$WORK/site.rules"
DSN2=$(new_db providers_site) || not_ok "create the second database"
"$BIN" db migrate --db "$DSN2" >/dev/null
check "import --providers FILE" sh -c \
    "'$BIN' import --db '$DSN2' --providers '$WORK/site.rules' '$LOG' >/dev/null"
check_eq "import --providers: the site rule names Eve's provider" "smallco Spamhaus ZEN" \
    "$(psql "$DSN2" -qAt -F' ' -c "SELECT provider, block FROM deliveries WHERE recipient = 'eve@small.example'")"
printf 'not a rule line\n' >"$WORK/bad.rules"
check "import --providers with a malformed file fails" sh -c \
    "! '$BIN' import --db '$DSN2' --providers '$WORK/bad.rules' '$LOG' 2>/dev/null"
printf '[providers]\nfile = %s\n' "$WORK/site.rules" >"$WORK/good.conf"
check "serve --check-config reads [providers] file" sh -c \
    "'$BIN' serve --config '$WORK/good.conf' --check-config >/dev/null"
printf '[providers]\nfile = %s\n' "$WORK/bad.rules" >"$WORK/bad.conf"
"$BIN" serve --config "$WORK/bad.conf" --check-config >/dev/null 2>"$WORK/bad.err"
check_eq "serve stops (exit 2) on a malformed [providers] file" 2 $?
check "and names the file and line" grep -q "bad.rules line 1" "$WORK/bad.err"
PORT2=$(free_port)
cp "$LOG" "$WORK/site.log"
printf '[providers]\nfile = %s\n' "$WORK/site.rules" >"$WORK/serve.conf"
DSN3=$(new_db providers_serve) || not_ok "create the third database"
"$BIN" db migrate --db "$DSN3" >/dev/null
"$BIN" serve --config "$WORK/serve.conf" --db "$DSN3" --log "$WORK/site.log" \
    --listen "127.0.0.1:$PORT2" 2>"$WORK/serve2.err" &
SERVE_PIDS="$SERVE_PIDS $!"
site_ready() {
    curl -s "http://127.0.0.1:$PORT2/api/v1/providers?$DAY" | grep -q '"provider":"smallco","attempts":1'
}
check "serve with [providers] file: the site's provider in /api/v1/providers" wait_for 15 site_ready
jcheck_site() { URL="http://127.0.0.1:$PORT2" jcheck "$@"; }
jcheck_site "timeseries by provider: a site rule's provider is one of the names" \
    "/api/v1/timeseries?$DAY&bucket=day&by=provider" \
    'j["providers"] == ["google","yahoo","microsoft","smallco"] and j["points"][0]["providers"]["smallco"] == {"sent":0,"deferred":0,"bounced":1,"expired":0}'

# --- provider_of() over every relay= host the repository's logs name
find tests/corpora samples tests/golden tests/integration -type f \( -name '*.log*' -o -name '*.txt' \
    -o -name 'maillog*' -o -name 'mail.*' \) 2>/dev/null |
    xargs grep -ahoE 'relay=[^ ,]+' 2>/dev/null | sed 's/^relay=//; s/\[.*//; s/\.$//' | grep -v '^$' |
    sort -u >"$WORK/relays"
"$PROVIDER_OF" <"$WORK/relays" >"$WORK/placed"
check "provider_of: relays found in the logs" test "$(wc -l <"$WORK/relays")" -gt 20
echo "# relays provider_of() cannot place (provider 'other'):"
awk -F'\t' '$2 == "other" { print "#   " $1 }' "$WORK/placed"
awk -F'\t' '
    function want(re, p) { if (tolower($1) ~ re && $2 != p) { print "# misplaced: " $1 " -> " $2 " (want " p ")"; bad = 1 } }
    {
        want("(^|\\.)google\\.com$", "google"); want("(^|\\.)googlemail\\.com$", "google")
        want("(^|\\.)protection\\.outlook\\.com$", "microsoft")
        want("(^|\\.)yahoodns\\.net$", "yahoo"); want("(^|\\.)icloud\\.com$", "apple")
    }
    END { exit bad }' "$WORK/placed"
check_eq "provider_of: no relay of a well-known provider misplaced" 0 $?
check_eq "provider_of: the logs hold Google, Microsoft, Yahoo and Apple relays" 4 \
    "$(cut -f2 "$WORK/placed" | sort -u | grep -cxE 'google|microsoft|yahoo|apple')"
printf 'spool.mail.gandi.net gandi\n' >"$WORK/site.rules"
check_eq "provider_of: a site rule places a relay" "spool.mail.gandi.net	gandi" \
    "$(echo spool.mail.gandi.net | "$PROVIDER_OF" --providers "$WORK/site.rules")"
