#!/bin/sh
# web_big_numbers.sh - the dashboard at a sending platform's volume: figure cards and the
# chart's axis labels keep every digit they show (compact forms such as 10.0M, the exact count
# in the card's title), and small counts stay exact.
set -u
. "$(dirname "$0")/lib.sh"

DSN=$(new_db webbig) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
# Hourly host rollups as a busy day leaves them: 9,999,999 sent in one hour, 412,345 deferred,
# 99,999 bounced, 7 expired.
psql "$DSN" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || { not_ok "load rollups"; exit 1; }
INSERT INTO rollups_host (hour, host, kind, reason, dsn, n) VALUES
    ('2026-11-27T10:00:00Z', 'mx1', 'sent', '', '2.0.0', 9999999),
    ('2026-11-27T11:00:00Z', 'mx1', 'deferred', 'blocked', '4.7.0', 412345),
    ('2026-11-27T12:00:00Z', 'mx1', 'bounced', 'userunknown', '5.1.1', 99999),
    ('2026-11-27T13:00:00Z', 'mx1', 'expired', 'expired', '4.4.7', 7);
EOF
: >"$WORK/empty.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/empty.log" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
curl -s "$URL/?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" >"$WORK/dash.html"

# card NAME SHOWN [TITLE]: the card's visible figure, and its title when it is compact
card() {
    if python3 - "$WORK/dash.html" "$1" "$2" "${3:-}" <<'EOF'; then ok "card $1 shows $2"; else not_ok "card $1 shows $2"; fi
import re, sys
h, name, shown, title = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], sys.argv[4]
m = re.search(r'id="kpi-%s"><span class="label">[^<]*</span><span class="value" '
              r'data-value="(-?\d+)"( title="([^"]*)")?>([^<]*)<' % name, h)
if not m:
    sys.exit("no card kpi-%s" % name)
got = (m.group(4), m.group(3) or "")
if got != (shown, title):
    sys.exit("kpi-%s: shows %r title %r, want %r %r" % (name, got[0], got[1], shown, title))
EOF
}
card sent 10.0M 9,999,999
card attempts 10.5M 10,512,350
card deferred 412k 412,345
card bounced 99,999
card expired 7

# The y-axis: five labels in one unit, none longer than five characters.
if python3 - "$WORK/dash.html" <<'EOF'; then ok "chart axis labels fit"; else not_ok "chart axis labels fit"; fi
import re, sys
h = open(sys.argv[1]).read()
svg = re.search(r'<svg class="chart" id="volume-chart".*?</svg>', h, re.S).group(0)
labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)
labels = [l for l in labels if not re.match(r'\d{4}-', l)]
if labels != ["0", "5M", "10M", "15M", "20M"]:
    sys.exit("labels %r" % labels)
EOF
