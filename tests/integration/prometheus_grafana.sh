#!/bin/sh
# prometheus_grafana.sh - what contrib/ gives Prometheus and Grafana holds against the live
# server: promtool accepts the /metrics of a `mailpulse serve` that ingested the sample, the
# alerting rules pass `promtool check rules` and their own `promtool test rules`, and every
# metric and label that the dashboard and the rules name is one /metrics exposes (the
# dashboard's queries must also parse as PromQL).
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RULES=$ROOT/contrib/prometheus/alerts.yml
DASH=$ROOT/contrib/grafana/mailpulse.json

if ! command -v promtool >/dev/null 2>&1; then
    not_ok "promtool is installed (Debian package prometheus; make setup installs it)"
    exit 0
fi

DSN=$(new_db promgraf) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
cp "$ROOT/samples/mail.log" "$WORK/mail.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "127.0.0.1:$PORT" \
    --state-dir "$WORK/state" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
ingested() {
    curl -s "$URL/metrics" >"$WORK/metrics.txt" &&
        grep -q '^mailpulse_delivery_attempts_total{.*status="sent".*} 5$' "$WORK/metrics.txt"
}
check "serve ingested the sample (5 sent in /metrics)" wait_for 15 ingested

# --- /metrics
if promtool check metrics <"$WORK/metrics.txt" >"$WORK/pt.out" 2>&1; then
    ok "promtool check metrics accepts /metrics"
else
    not_ok "promtool check metrics: $(head -5 "$WORK/pt.out" | tr '\n' ' ')"
fi
awk '/^# TYPE / { print $3 }' "$WORK/metrics.txt" | sort -u >"$WORK/exposed"
n=$(wc -l <"$WORK/exposed")
if [ "$n" -ge 10 ]; then ok "/metrics exposes $n metrics"; else
    not_ok "/metrics exposes only $n metrics"; fi
# label names of the exposed samples, and the ones Prometheus adds at scrape time
{
    sed -n 's/^[a-z_]*{\(.*\)} .*/\1/p' "$WORK/metrics.txt" | tr ',' '\n' | sed 's/=.*//'
    printf 'instance\njob\n'
} | sort -u >"$WORK/labels"

# --- rules
if promtool check rules "$RULES" >"$WORK/cr.out" 2>&1; then
    ok "promtool check rules: $(grep -o '[0-9]* rules found' "$WORK/cr.out")"
else
    not_ok "promtool check rules: $(tr '\n' ' ' <"$WORK/cr.out" | head -c 400)"
fi
if (cd "$ROOT/contrib/prometheus" && promtool test rules alerts_test.yml) >"$WORK/tr.out" 2>&1; then
    ok "promtool test rules alerts_test.yml"
else
    not_ok "promtool test rules: $(tr '\n' ' ' <"$WORK/tr.out" | head -c 600)"
fi
for a in MailpulseBounceRateJump MailpulseDeferralSurge MailpulseIngestStalled \
    MailpulseDatabaseUnreachable MailpulseUnparsedLinesRising; do
    if grep -q "alert: $a\$" "$RULES" && grep -q "alertname: $a\$" "$ROOT/contrib/prometheus/alerts_test.yml"; then
        ok "alert $a is defined and tested"
    else
        not_ok "alert $a is defined and tested"
    fi
done

# --- names: every mailpulse_* metric the dashboard and the rules use is exposed
python3 - "$DASH" "$RULES" "$WORK/exposed" "$WORK/labels" "$WORK/dash_rules.yml" <<'PY' >"$WORK/names.out"
import json, re, sys
dash_path, rules_path, exposed_path, labels_path, out_path = sys.argv[1:]
exposed = set(open(exposed_path).read().split())
labels = set(open(labels_path).read().split())
dash = json.load(open(dash_path))
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("expr", "definition") and isinstance(v, str):
                exprs.append(v)
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(dash)
rules_text = open(rules_path).read()
def metrics(text):
    # not the parts of recording rule names (host:mailpulse_attempts:rate15m)
    return set(re.findall(r'(?<![\w:])mailpulse_[a-z0-9_]+(?![\w:])', text))
used_dash = set().union(*(metrics(e) for e in exprs)) if exprs else set()
used_rules = metrics(rules_text)
bad = 0
print("ok - the dashboard has %d queries over %d metrics" % (len(exprs), len(used_dash))
      if len(exprs) >= 10 and len(used_dash) >= 5 else
      "not ok - the dashboard has only %d queries over %d metrics" % (len(exprs), len(used_dash)))
for what, used in (("dashboard", used_dash), ("alert rules", used_rules)):
    missing = sorted(used - exposed)
    print(("ok - every metric that the %s name is in /metrics (%d)" % (what, len(used))) if not missing
          else "not ok - metrics that the %s name and /metrics lacks: %s" % (what, " ".join(missing)))
# labels in by (...) clauses and in selectors of the dashboard and the rules
text = "\n".join(exprs) + "\n" + rules_text
used_labels = set()
for m in re.finditer(r'\bby \(([^)]*)\)', text):
    used_labels |= {x.strip() for x in m.group(1).split(",") if x.strip()}
for m in re.finditer(r'\{([^}]*)\}', text):
    for x in re.findall(r'([a-z_]+)\s*(?:=~|!=|!~|=)\s*"', m.group(1)):
        used_labels.add(x)
missing = sorted(used_labels - labels)
print("ok - every label the dashboard and rules use is on /metrics (%s)" % " ".join(sorted(used_labels))
      if not missing else "not ok - labels /metrics lacks: %s" % " ".join(missing))
# the dashboard's queries as recording rules, with Grafana's variables filled in, for promtool
with open(out_path, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = (e.replace("$__rate_interval", "5m").replace("$__range", "1h")
              .replace('"$host"', '".*"'))
        if e.startswith("label_values("):
            e = re.sub(r'label_values\((\w+), *\w+\)', r'\1', e)
        f.write("      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(e)))
PY
cat "$WORK/names.out"
if promtool check rules "$WORK/dash_rules.yml" >"$WORK/dq.out" 2>&1; then
    ok "every dashboard query parses as PromQL (promtool)"
else
    not_ok "dashboard queries: $(tr '\n' ' ' <"$WORK/dq.out" | head -c 600)"
fi
