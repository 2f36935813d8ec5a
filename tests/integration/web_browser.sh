#!/bin/sh
# web_browser.sh - the pages in a real browser: headless Chromium loads /, /bounces and
# /message from `mailpulse serve` over samples/mail.log, saves a screenshot of each under
# $BROWSER_OUT (build/test-output/browser by default, kept after the run), and the DOM it
# built is checked for the numbers of the sample.
set -u
. "$(dirname "$0")/lib.sh"

BROWSER_OUT=${BROWSER_OUT:-$(dirname "$BIN")/test-output/browser}
RANGE="from=2026-11-27T09:00:00Z&to=2026-11-27T15:00:00Z"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    not_ok "chromium is not installed (scripts/setup.sh installs it)"
    exit 0
fi
mkdir -p "$BROWSER_OUT"
rm -f "$BROWSER_OUT"/*.png "$BROWSER_OUT"/*.html

DSN=$(new_db webbrowser) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
cp samples/mail.log "$WORK/mail.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
ready() { curl -s "$URL/api/v1/summary?$RANGE" | grep -q '"expired":1'; }
check "serve ingested the sample" wait_for 15 ready

# chrome ACTION URL: one headless run with a fresh profile and nothing from the network
chrome() {
    prof=$(mktemp -d "$WORK/chrome.XXXXXX")
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-quic \
        --disable-dev-shm-usage --user-data-dir="$prof" --window-size=1280,1300 \
        --hide-scrollbars "$@" 2>>"$WORK/chrome.err"
    rc=$?
    rm -rf "$prof"
    return $rc
}

# page NAME PATH: screenshot and DOM of one page
page() {
    chrome --screenshot="$BROWSER_OUT/$1.png" "$URL$2" >/dev/null
    check "$1: screenshot saved" [ -s "$BROWSER_OUT/$1.png" ]
    chrome --dump-dom "$URL$2" >"$BROWSER_OUT/$1.html"
    check "$1: DOM dumped" grep -q '</html>' "$BROWSER_OUT/$1.html"
}

# dom NAME FILE PYTHON-EXPRESSION: the expression holds over the parsed DOM (see below)
dom() {
    if python3 - "$2" "$3" <<'EOF'; then ok "$1"; else not_ok "$1"; fi
import sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    """Elements as (tag, attrs, text); text is what the element and its children hold."""
    def __init__(self):
        super().__init__()
        self.els, self.stack = [], []
    def handle_starttag(self, tag, attrs):
        for el in self.stack:
            el[2] += " "  # cells and spans read as separate words
        el = [tag, dict(attrs), ""]
        self.els.append(el)
        if tag not in ("input", "meta", "link", "br", "rect", "line", "img"):
            self.stack.append(el)
    def handle_startendtag(self, tag, attrs):
        self.els.append([tag, dict(attrs), ""])
    def handle_endtag(self, tag):
        if any(e[0] == tag for e in self.stack):
            while self.stack.pop()[0] != tag:
                pass
    def handle_data(self, data):
        for el in self.stack:
            el[2] += data

d = Dom()
d.feed(open(sys.argv[1], encoding="utf-8").read())
els = d.els
def byid(i): return [e for e in els if e[1].get("id") == i][0]
def text(i): return " ".join(byid(i)[2].split())
def rows(attr): return [e for e in els if e[0] == "tr" and attr in e[1]]
ok = eval(sys.argv[2])
if not ok:
    sys.stderr.write("DOM check failed: %s\n" % sys.argv[2])
sys.exit(0 if ok else 1)
EOF
}

page dashboard "/?$RANGE"
D="$BROWSER_OUT/dashboard.html"
dom "dashboard: KPIs hold the sample's numbers" "$D" \
    '[text("kpi-" + k).split()[-1] for k in ("received","attempts","sent","deferred","bounced","expired","rejected")] == ["4","11","5","3","2","1","1"]'
dom "dashboard: bounce rate 18.2%, deferral rate 27.3%" "$D" \
    'text("kpi-bounce-rate").endswith("18.2%") and text("kpi-deferral-rate").endswith("27.3%")'
dom "dashboard: chart has 6 hourly buckets holding 11 attempts" "$D" \
    'byid("volume-chart")[1]["data-total"] == "11" and len([e for e in els if e[0] == "g" and e[1].get("class") == "bucket"]) == 6'
dom "dashboard: hover title of the 09:00 bar" "$D" \
    'any(e[0] == "title" and e[2] == "2026-11-27 09:00 UTC — 4 sent, 3 deferred, 1 bounced, 0 expired" for e in els)'
dom "dashboard: 6 recipient domains, gmail.com 50.0% bounced" "$D" \
    'len(rows("data-domain")) == 6 and [" ".join(r[2].split()) for r in rows("data-domain") if r[1]["data-domain"] == "gmail.com"][0].startswith("gmail.com 2 1 1 50.0%")'
dom "dashboard: top reason networkerror 4.4.1 x2" "$D" \
    'rows("data-reason")[0][1]["data-reason"] == "networkerror" and rows("data-reason")[0][1]["data-dsn"] == "4.4.1" and rows("data-reason")[0][1]["data-count"] == "2"'
dom "dashboard: outcome table" "$D" \
    '[" ".join(r[2].split()) for r in rows("data-status")] == ["sent 5 45.5%", "deferred 3 27.3%", "bounced 2 18.2%", "expired 1 9.1%", "rejected at SMTP 1 —"]'
dom "dashboard: range form keeps the range" "$D" \
    '[e[1].get("value") for e in els if e[0] == "input" and e[1].get("name") == "from"] == ["2026-11-27T09:00:00Z"]'

page bounces "/bounces?$RANGE"
D="$BROWSER_OUT/bounces.html"
dom "bounces: 6 failed attempts" "$D" 'byid("bounces")[1]["data-rows"] == "6" and len(rows("data-status")) == 6'
dom "bounces: statuses newest first" "$D" \
    '[r[1]["data-status"] for r in rows("data-status")] == ["expired","bounced","deferred","deferred","deferred","bounced"]'
dom "bounces: the gmail bounce with its DSN and reason" "$D" \
    'any("nosuch.user@gmail.com" in r[2] and "5.1.1" in r[2] and "userunknown" in r[2] for r in rows("data-status"))'
dom "bounces: CSV link" "$D" 'byid("csv-link")[1]["href"].startswith("/api/v1/export?what=bounces&format=csv&from=")'

page bounces_filtered "/bounces?$RANGE&status=deferred&domain=example.net"
dom "bounces filtered: status=deferred domain=example.net gives 2" "$BROWSER_OUT/bounces_filtered.html" \
    'byid("bounces")[1]["data-rows"] == "2" and all("team@example.net" in r[2] for r in rows("data-status"))'

page message "/message?queue_id=4ZxY2l3Xr9z1"
D="$BROWSER_OUT/message.html"
dom "message: 5 events, oldest first" "$D" \
    '[r[1]["data-type"] for r in rows("data-type")] == ["message","delivery","delivery","delivery","bounce_notice"]'
dom "message: facts of the message" "$D" \
    '"news@example.org" in text("message-facts") and "18231 bytes" in text("message-facts")'

# What the screenshots show cannot be read by a script, but a blank page can: each PNG
# must have many distinct colours (a chart, badges, text), not a plain background.
check "screenshots are not blank" python3 -c '
import sys, zlib, struct
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    w, h = struct.unpack(">II", data[16:24])
    assert w >= 1000 and h >= 800, (path, w, h)
    idat = b""
    pos = 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(set(raw[i:i + 3] for i in range(0, min(len(raw), 3000000), 997))) > 40, path
' "$BROWSER_OUT"/dashboard.png "$BROWSER_OUT"/bounces.png "$BROWSER_OUT"/message.png
echo "# screenshots: $BROWSER_OUT"
