#!/bin/sh
# web_security.sh - `mailpulse serve` as an attacker sees it: binds that need a token, 401s,
# Bearer and basic access, TLS with a throwaway certificate, path tricks, huge and
# SQL-looking parameters, and hostile strings from a log coming back escaped.
# (Slow-header connections being cut off while others are served: tests/unit/test_web.c.)
set -u
. "$(dirname "$0")/lib.sh"

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"

DSN=$(new_db websec) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }

# A log whose sender, message-id and reply carry markup.
cat >"$WORK/mail.log" <<'EOF'
2026-11-27T09:00:01.311021+00:00 mx1 postfix/smtpd[2101]: 5XsS1Q2w3e4r: client=evil.example[192.0.2.66]
2026-11-27T09:00:01.402115+00:00 mx1 postfix/cleanup[2104]: 5XsS1Q2w3e4r: message-id=<"><script>alert(3)</script>@evil.example>
2026-11-27T09:00:01.420873+00:00 mx1 postfix/qmgr[1022]: 5XsS1Q2w3e4r: from=<"<script>alert(1)</script>"@evil.example>, size=1000, nrcpt=1 (queue active)
2026-11-27T09:00:02.911348+00:00 mx1 postfix/smtp[2110]: 5XsS1Q2w3e4r: to=<victim@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.26]:25, delay=1.5, delays=0.1/0/0.5/0.9, dsn=5.1.1, status=bounced (host gmail-smtp-in.l.google.com[142.250.1.26] said: 550 5.1.1 <img src=x onerror=alert(2)> no such user (in reply to RCPT TO command))
EOF

serve() { # serve LISTEN [options...]: start in the background, pid in SPID
    listen=$1
    shift
    "$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "$listen" "$@" \
        2>>"$WORK/serve.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
}
stop() { kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; }

# --- binds that need a token
for addr in 127.0.0.2 0.0.0.0 "[::]"; do
    out=$(timeout 5 "$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "$addr:$(free_port)" 2>&1)
    rc=$?
    check "serve on $addr without a token refuses to start (status $rc)" \
        sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && printf '%s' \"\$1\" | grep -q 'without an access token'" _ "$out"
done

PORT=$(free_port)
URL="http://127.0.0.2:$PORT"
serve "127.0.0.2:$PORT" --token-file "$WORK/token"
code() { curl -s -o "$WORK/out" -w '%{http_code}' "$@"; }
check "serve on 127.0.0.2 with a token starts" wait_http "$URL/healthz"
check_eq "no token: 401" 401 "$(code "$URL/api/v1/summary")"
check "  ... with WWW-Authenticate: Basic" sh -c \
    "curl -s -D - -o /dev/null \"\$1\" | grep -qi '^WWW-Authenticate: Basic realm=\"mailpulse\"'" _ "$URL/"
check_eq "no token on the dashboard: 401" 401 "$(code "$URL/")"
check_eq "no token on /metrics: 401" 401 "$(code "$URL/metrics")"
check_eq "no token on the stylesheet: 401" 401 "$(code "$URL/static/style.css")"
check_eq "wrong Bearer token: 401" 401 "$(code -H "Authorization: Bearer x$TOKEN" "$URL/api/v1/summary")"
check_eq "token prefix only: 401" 401 \
    "$(code -H "Authorization: Bearer $(printf '%s' "$TOKEN" | cut -c1-20)" "$URL/api/v1/summary")"
check_eq "wrong basic password: 401" 401 "$(code -u "admin:nope" "$URL/")"
check_eq "token as basic user name: 401" 401 "$(code -u "$TOKEN:" "$URL/")"
check_eq "Bearer token: 200" 200 "$(code -H "Authorization: Bearer $TOKEN" "$URL/api/v1/summary")"
check_eq "basic with the token as password (a browser): 200" 200 "$(code -u "admin:$TOKEN" "$URL/")"
check "401 bodies hold nothing but the error" sh -c \
    "curl -s \"\$1\" | grep -qx '{\"error\":\"access token required\"}'" _ "$URL/api/v1/bounces"
stop

# --- TLS
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    >/dev/null 2>&1; then
    PORT=$(free_port)
    serve "127.0.0.1:$PORT" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
    check "serve with TLS answers HTTPS (certificate verified)" \
        wait_for 10 curl -s -o /dev/null --cacert "$WORK/cert.pem" "https://127.0.0.1:$PORT/healthz"
    check_eq "HTTPS dashboard: 200" 200 \
        "$(code --cacert "$WORK/cert.pem" "https://127.0.0.1:$PORT/?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z")"
    check "plain HTTP on the TLS port gets no HTTP answer" sh -c \
        "! curl -s -m 5 -o /dev/null \"http://127.0.0.1:\$1/healthz\"" _ "$PORT"
    stop
else
    not_ok "openssl could not make a throwaway certificate"
fi
PORT=$(free_port)
"$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "127.0.0.1:$PORT" \
    --tls-cert "$WORK/cert.pem" 2>"$WORK/tls.err"
check "a certificate without a key is refused" grep -q "both a certificate and a key" "$WORK/tls.err"

# --- the loopback server, no token
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
serve "127.0.0.1:$PORT"
check "serve on 127.0.0.1 without a token" wait_http "$URL/healthz"
ready() { curl -s "$URL/api/v1/summary?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" | grep -q '"bounced":1'; }
check "the hostile log is ingested" wait_for 15 ready

# path tricks: nothing but 400/404, nothing from the file system
for p in "/../../../../etc/passwd" "/static/../../../etc/passwd" "/static/..%2f..%2f..%2fetc%2fpasswd" \
    "/%2e%2e/%2e%2e/etc/passwd" "/static/%2e%2e/%2e%2e/web/web.c" "/..%5c..%5cetc%5cpasswd" \
    "/static/style.css%00.html" "/api/v1/summary%00" "/%00/etc/passwd" "/static//style.css" \
    "/static/./style.css" "/.git/config" "/web/web.c" "/mailpulse" "/%c0%ae%c0%ae/etc/passwd"; do
    c=$(curl -s --path-as-is -o "$WORK/out" -w '%{http_code}' "$URL$p")
    case "$c" in
    400 | 404) leak=$(grep -lE 'root:|#include|\[core\]|ELF' "$WORK/out") ;;
    *) leak="status $c" ;;
    esac
    check "path $p: $c, nothing leaked" [ -z "$leak" ]
done

# huge, NUL and SQL-looking parameters
big=$(head -c 100000 /dev/zero | tr '\0' a)
c=$(curl -s -o "$WORK/out" -w '%{http_code}' "$URL/api/v1/summary?from=$big")
check "a 100 kB parameter is refused ($c)" sh -c "[ \"\$1\" -ge 400 ] && [ \"\$1\" -lt 500 ]" _ "$c"
mid=$(head -c 4000 /dev/zero | tr '\0' a)
check_eq "a 4 kB message_id: 400" 400 "$(code "$URL/api/v1/messages?message_id=$mid")"
check_eq "NUL in a value: 400" 400 "$(code "$URL/api/v1/bounces?domain=gmail.com%00.evil")"
for q in "domain=gmail.com%27%20OR%20%271%27%3D%271" "reason=userunknown%27%3B%20DROP%20TABLE%20deliveries%3B--" \
    "dsn=5.1.1%27--" "status=bounced%20OR%201%3D1" "cursor=1.1.1.1%20UNION%20SELECT%201" \
    "host=mx1%27%20OR%20%271%27%3D%271"; do
    c=$(code "$URL/api/v1/bounces?$q")
    case "$q" in
    host=*) want=200 ;; # a host is free text: it must match nothing, as a bind parameter
    *) want=400 ;;
    esac
    check_eq "SQL-looking $q: $want" $want "$c"
    check "  ... and no database text in the reply" sh -c '! grep -qiE "syntax|select|relation|postgres|pq_" "$1"' _ "$WORK/out"
done
check_eq "host with SQL matched nothing" 0 "$(curl -s "$URL/api/v1/bounces?host=mx1%27%20OR%20%271%27%3D%271" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
check_eq "the tables are intact" 1 "$(psql "$DSN" -qAt -c 'select count(*) from deliveries')"

# hostile strings from the log come back escaped
R="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"
curl -s "$URL/bounces?$R" >"$WORK/b.html"
curl -s "$URL/message?queue_id=5XsS1Q2w3e4r" >"$WORK/m.html"
curl -s "$URL/?$R" >"$WORK/d.html"
for f in b m d; do
    check "page $f: no <script> or <img> from the log" sh -c '! grep -qiE "<script|<img" "$1"' _ "$WORK/$f.html"
done
check "bounces page shows the sender escaped" grep -qF '&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;@evil.example' "$WORK/b.html"
check "bounces page shows the reply escaped" grep -qF '&lt;img src=x onerror=alert(2)&gt;' "$WORK/b.html"
check "message page shows the message-id escaped" grep -qF '&lt;&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;@evil.example&gt;' "$WORK/m.html"
check "pages send nosniff and no-store" sh -c \
    "curl -s -D - -o /dev/null \"\$1\" | tr -d '\r' | grep -qx 'X-Content-Type-Options: nosniff'" _ "$URL/bounces"
check "a hostile parameter is echoed escaped into the form" sh -c \
    "curl -s \"\$1/message?recipient=%22%3E%3Cscript%3Ealert(4)%3C/script%3E\" | grep -qF 'value=\"&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;\"'" _ "$URL"
CHROMIUM=$(command -v chromium || true)
if [ -n "$CHROMIUM" ]; then
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-quic \
        --disable-dev-shm-usage --user-data-dir="$(mktemp -d "$WORK/chrome.XXXXXX")" \
        --dump-dom "$URL/bounces?$R" >"$WORK/dom.html" 2>/dev/null
    check "in Chromium's DOM: no script element, the sender as text" sh -c \
        '! grep -qi "<script" "$1" && grep -qF "&lt;script&gt;alert(1)&lt;/script&gt;" "$1"' _ "$WORK/dom.html"
fi
