#!/bin/sh
# 20_postfix.sh - `make bench`: the Postfix reader beside pflogsumm on one generated log.
#
# build/tools/genlog writes a busy relay's log (BENCH_MESSAGES messages, default 1M, ~2.4
# recipients each, sent / deferred-then-sent / bounced / expired / rejects, interleaved).
# Side by side on that file: `mailpulse parse` to NDJSON, `mailpulse report`, and pflogsumm:
# lines per second (wall clock and CPU), peak RSS. Then peak RSS of mailpulse on a log a
# tenth the size, to show that memory does not grow with the log.
#
# The machine is shared and noisy: the CPU-time figures (user+sys) are the steadier ones.
set -eu
cd "$(dirname "$0")/../.."
BIN=./build/mailpulse
GENLOG=./build/tools/genlog
MESSAGES=${BENCH_MESSAGES:-1000000}
TMP=$(mktemp -d /tmp/mailpulse-bench20.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC

for p in pflogsumm time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        apt-get install -y -qq "$p" >/dev/null
done

"$GENLOG" --messages "$MESSAGES" --seed 1 >"$TMP/big.log"
"$GENLOG" --messages $((MESSAGES / 10)) --seed 1 >"$TMP/small.log"
lines=$(wc -l <"$TMP/big.log")
bytes=$(wc -c <"$TMP/big.log")
echo "input: genlog --messages $MESSAGES: $lines lines, $bytes bytes (RFC 3164 stamps)"

# run NAME OUT CMD... : one run with stdout to OUT; prints "wall cpu peak_kib"
run() {
    name=$1 out=$2
    shift 2
    /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" "$@" >"$out" 2>"$TMP/$name.err" || {
        cat "$TMP/$name.err" >&2
        return 1
    }
    read -r wall user sys kib <"$TMP/time"
    echo "$wall $(echo "$user + $sys" | bc -l) $kib"
}

# NDJSON goes to /dev/null: the figure is the parser's, not the disk's (2 GB of output).
set -- $(run parse /dev/null "$BIN" parse --year 2026 "$TMP/big.log")
p_wall=$1 p_cpu=$2 p_kib=$3
set -- $(run report "$TMP/report.out" "$BIN" report --year 2026 --format csv "$TMP/big.log")
r_wall=$1 r_cpu=$2 r_kib=$3
set -- $(run pflogsumm "$TMP/pflogsumm.out" pflogsumm "$TMP/big.log")
f_wall=$1 f_cpu=$2 f_kib=$3
set -- $(run small /dev/null "$BIN" report --year 2026 --format csv "$TMP/small.log")
s_kib=$3
set -- $(run smallparse /dev/null "$BIN" parse --year 2026 "$TMP/small.log")
sp_kib=$3

# Both read the same thing (pflogsumm writes large counts as 2292k).
pf_dlv=$(awk '/ delivered$/ {print $1; exit}' "$TMP/pflogsumm.out")
mp_dlv=$(awk -F, '$1 == "totals" && $3 == "delivered" {print $4}' "$TMP/report.out")
echo "sanity: delivered: pflogsumm $pf_dlv, mailpulse report $mp_dlv"

rate() { echo "$lines / ($1 + 0.001)" | bc -l; }
printf '%-28s %9s %9s %14s %14s %10s\n' "" "wall s" "cpu s" "lines/s wall" "lines/s cpu" "peak MiB"
for row in "mailpulse parse -> NDJSON:$p_wall:$p_cpu:$p_kib" \
    "mailpulse report:$r_wall:$r_cpu:$r_kib" "pflogsumm:$f_wall:$f_cpu:$f_kib"; do
    IFS=: read -r n w c k <<EOF
$row
EOF
    printf '%-28s %9s %9.2f %14.0f %14.0f %10.1f\n' "$n" "$w" "$c" "$(rate "$w")" "$(rate "$c")" \
        "$(echo "$k / 1024" | bc -l)"
done
printf 'ratio parse/pflogsumm:  %.1fx (wall), %.1fx (cpu)   goal >= 20x\n' \
    "$(echo "$f_wall / ($p_wall + 0.001)" | bc -l)" "$(echo "$f_cpu / ($p_cpu + 0.001)" | bc -l)"
printf 'ratio report/pflogsumm: %.1fx (wall), %.1fx (cpu)\n' \
    "$(echo "$f_wall / ($r_wall + 0.001)" | bc -l)" "$(echo "$f_cpu / ($r_cpu + 0.001)" | bc -l)"
printf 'peak RSS, log 1/10 the size: parse %.1f MiB, report %.1f MiB (full size: %.1f, %.1f)\n' \
    "$(echo "$sp_kib / 1024" | bc -l)" "$(echo "$s_kib / 1024" | bc -l)" \
    "$(echo "$p_kib / 1024" | bc -l)" "$(echo "$r_kib / 1024" | bc -l)"
