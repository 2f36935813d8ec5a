# agree.sh - the matrix's logs against the field's own tools and against the daemon; sourced
# by tests/integration/mta_matrix.sh after tests/integration/lib.sh (check, check_eq, new_db,
# free_port, wait_http, wait_for, BIN, WORK, SERVE_PIDS).
#
# agree_pflogsumm LOG       `mailpulse report` totals equal Debian pflogsumm's on a Postfix log,
#                           but for the differences the test computes from the log's text:
#                           - a content filter's hop ("status=sent ... queued as X" to a
#                             loopback relay, X then received from a loopback client) is a
#                             "delivered" for pflogsumm; mailpulse folds it into the message:
#                             delivered = pflogsumm's - hop lines (a smarthost on loopback
#                             whose X never comes back is a delivery for both);
#                           - the re-injected queue ids are a second "received" for pflogsumm:
#                             received = pflogsumm's - re-injected ids - sessions that got a
#                             queue id but never reached cleanup;
#                           - a message refused after DATA (a milter or a header check) is a
#                             "received" for pflogsumm (it counts cleanup's queue ids) and a
#                             reject for both: received = pflogsumm's - such queue ids.
# agree_eximstats LOG EXIMSTATS
#                           tests/mta/eximstats_compare.py on an Exim log
# agree_summary MTA LOG     serve's /api/v1/summary equals `mailpulse report` on LOG, fed in
#                           one go, and fed line by line with three restarts of serve on the way

# agree_pfl FILE: "received delivered deferred deferrals bounced rejected" from pflogsumm
agree_pfl() {
    pflogsumm "$@" 2>/dev/null | awk '
        /^Grand Totals/ { on = 1 }
        on && / received$/ { r = $1 }
        on && / delivered$/ { d = $1 }
        on && / deferred/ { df = $1; dfs = $3; sub(/\(/, "", dfs); if (dfs == "") dfs = 0 }
        on && / bounced$/ { b = $1 }
        on && / rejected / { j = $1; exit }
        END { print r, d, df, dfs, b, j }'
}

# agree_mp FILE: the same six numbers from mailpulse report --format csv; expiries are
# bounces for pflogsumm ("status=expired" is logged with the bounce to the sender)
agree_mp() {
    "$BIN" report --format csv "$@" | awk -F, '
        $1 == "totals" { v[$3] = $4 }
        END { print v["received"], v["delivered"], v["deferred"], v["deferrals"], v["bounced"],
                    v["rejected"] }'
}

agree_pflogsumm() {
    if ! command -v pflogsumm >/dev/null 2>&1; then
        echo "ok - agree: pflogsumm # SKIP pflogsumm is not installed (scripts/setup.sh)"
        return 0
    fi
    set -- "$1" $(agree_pfl "$1")
    a_log=$1 p_rcv=$2 p_dlv=$3 p_dfr=$4 p_dfrs=$5 p_bnc=$6 p_rej=$7
    set -- $(agree_mp "$a_log")
    m_rcv=$1 m_dlv=$2 m_dfr=$3 m_dfrs=$4 m_bnc=$5 m_rej=$6
    grep -E 'status=sent .*queued as [0-9A-Za-z]+\)$' "$a_log" | grep -E 'relay=[^,]*\[127\.' |
        sed -E 's/.*queued as ([0-9A-Za-z]+)\)$/\1/' | sort >"$WORK/agree.hops"
    sort -u "$WORK/agree.hops" >"$WORK/agree.reinjected"
    grep -oE 'smtpd\[[0-9]+\]: [0-9A-F]+: client=' "$a_log" | awk '{print $2}' | tr -d : |
        sort -u >"$WORK/agree.client"
    hops=$(join "$WORK/agree.hops" "$WORK/agree.client" | wc -l)
    grep -oE 'cleanup\[[0-9]+\]: [0-9A-F]+: ' "$a_log" | awk '{print $2}' | tr -d : |
        sort -u >"$WORK/agree.cleanup"
    grep -oE 'cleanup\[[0-9]+\]: [0-9A-F]+: (milter-)?reject: ' "$a_log" | awk '{print $2}' |
        tr -d : | sort -u >"$WORK/agree.refused"
    reinjected=$(comm -12 "$WORK/agree.reinjected" "$WORK/agree.client" | wc -l)
    abandoned=$(comm -23 "$WORK/agree.client" "$WORK/agree.cleanup" | wc -l)
    refused=$(wc -l <"$WORK/agree.refused")
    echo "# agree: pflogsumm received $p_rcv delivered $p_dlv; hops $hops, re-injected $reinjected, without DATA $abandoned, refused after DATA $refused"
    check_eq "agree: postfix deferred, deferrals, bounced, rejected equal pflogsumm's" \
        "$p_dfr $p_dfrs $p_bnc $p_rej" "$m_dfr $m_dfrs $m_bnc $m_rej"
    check "agree: the postfix log has a content filter's hops to set aside ($hops)" [ "$hops" -gt 0 ]
    check_eq "agree: postfix delivered = pflogsumm's $p_dlv - $hops hops" "$((p_dlv - hops))" "$m_dlv"
    check_eq "agree: postfix received = pflogsumm's $p_rcv - $reinjected re-injected - $abandoned without DATA - $refused refused after DATA" \
        "$((p_rcv - reinjected - abandoned - refused))" "$m_rcv"
}

agree_eximstats() {
    tap_run "agree: eximstats_compare.py" python3 "$MTA_DIR/eximstats_compare.py" "$BIN" "$2" "$1"
}

# agree_report LOG: "received sent deferred bounced expired rejected" from mailpulse report,
# deferred being deferral attempts as in the summary
agree_report() {
    "$BIN" report --format json "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["totals"]
print(t["received"], t["delivered"], t["deferrals"], t["bounced"], t["expired"], t["rejected"])'
}

# agree_api PORT: the same six numbers from /api/v1/summary over the matrix's day
agree_api() {
    curl -s "http://127.0.0.1:$1/api/v1/summary?from=$AGREE_FROM&to=$AGREE_TO" | python3 -c '
import json, sys
t = json.load(sys.stdin)
print(t["received"], t["sent"], t["deferred"], t["bounced"], t["expired"], t["rejected"])' 2>/dev/null
}

# agree_serve DB LOG PORT: serve following LOG into DB; its pid in AGREE_PID. A delivery to a
# loopback smarthost is held until the log has been quiet for 2 s (report: to its end).
agree_serve() {
    "$BIN" serve --db "$1" --log "$2" --listen "127.0.0.1:$3" --hold-seconds 2 \
        2>>"$WORK/agree.serve.err" &
    AGREE_PID=$!
    SERVE_PIDS="$SERVE_PIDS $AGREE_PID"
    wait_http "http://127.0.0.1:$3/healthz"
}

# agree_stop: SIGTERM to serve, and its exit
agree_stop() {
    kill -TERM "$AGREE_PID" 2>/dev/null
    wait "$AGREE_PID"
}

# agree_is PORT WANT: does the summary say WANT?
agree_is() {
    [ "$(agree_api "$1")" = "$2" ]
}

agree_summary() {
    a_mta=$1 a_log=$2
    if [ -z "${MAILPULSE_TEST_DSN:-}" ]; then
        echo "ok - agree: $a_mta summary # SKIP no MAILPULSE_TEST_DSN"
        return 0
    fi
    AGREE_FROM=$(date -u -d '-2 days' +%Y-%m-%dT00:00:00Z)
    AGREE_TO=$(date -u -d '+2 days' +%Y-%m-%dT00:00:00Z)
    want=$(agree_report "$a_log")
    port=$(free_port)
    # In one go: the whole log there before serve starts.
    db=$(new_db "agree_${a_mta}_once") || { not_ok "agree: create a database"; return 1; }
    "$BIN" db migrate --db "$db" >/dev/null
    cp "$a_log" "$WORK/agree.$a_mta.once"
    agree_serve "$db" "$WORK/agree.$a_mta.once" "$port"
    wait_for 30 agree_is "$port" "$want"
    check_eq "agree: $a_mta summary equals report, the log read in one go (received sent deferred bounced expired rejected)" \
        "$want" "$(agree_api "$port")"
    agree_stop
    check_eq "agree: $a_mta serve exits 0 on SIGTERM" 0 "$?"
    # Line by line: appended one line per write, serve restarted after each quarter.
    db=$(new_db "agree_${a_mta}_lines") || { not_ok "agree: create a database"; return 1; }
    "$BIN" db migrate --db "$db" >/dev/null
    f=$WORK/agree.$a_mta.lines
    : >"$f"
    a_n=$(wc -l <"$a_log")
    agree_serve "$db" "$f" "$port"
    restarts=0 a_from=1
    for part in 1 2 3 4; do
        a_to=$((a_n * part / 4))
        sed -n "${a_from},${a_to}p" "$a_log" | python3 -c '
import sys, time
with open(sys.argv[1], "ab", buffering=0) as out:
    for i, line in enumerate(sys.stdin.buffer):
        out.write(line)
        if i % 50 == 49:
            time.sleep(0.05)' "$f"
        a_from=$((a_to + 1))
        if [ "$part" -lt 4 ]; then
            agree_stop || echo "# agree: serve exited non-zero at a restart"
            agree_serve "$db" "$f" "$port"
            restarts=$((restarts + 1))
        fi
    done
    wait_for 30 agree_is "$port" "$want"
    check_eq "agree: $a_mta summary equals report, the log fed line by line with $restarts restarts" \
        "$want" "$(agree_api "$port")"
    agree_stop
}
