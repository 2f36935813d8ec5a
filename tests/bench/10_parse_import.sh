#!/bin/sh
# bench.sh - `make bench`: mailpulse beside the peer tool on the same input, as ratios
# (this machine is shared and noisy; absolute figures move, ratios much less).
#
#   parse:  `mailpulse parse` vs pflogsumm over the same Postfix log (the FgForrest corpus,
#           repeated to about 1M lines), wall time (best of 3) and peak memory.
#   (import vs psql \copy: tests/bench/40_storage.sh)
set -eu
cd "$(dirname "$0")/../.."
BIN=./build/mailpulse
CORPORA=${MAILPULSE_CORPORA:-$(pwd)/tests/corpora}
TMP=$(mktemp -d /tmp/mailpulse-bench.XXXXXX)
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC

for p in pflogsumm time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        apt-get install -y -qq "$p" >/dev/null
done

src="$CORPORA/fgforrest-postfix-pda/real/mail.log.2.gz"
# pflogsumm reads only RFC 3164 stamps, and skips the corpus's "2013 Jun 10 06:27:30.123"
# lines without a word: turn them into "Jun 10 06:27:30" so both tools read every line.
zcat "$src" | sed -E 's/^[0-9]{4} ([A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8})\.[0-9]+/\1/' >"$TMP/one.log"
: >"$TMP/mail.log"
for _ in 1 2 3 4 5 6 7 8 9 10 11; do cat "$TMP/one.log" >>"$TMP/mail.log"; done
lines=$(wc -l <"$TMP/mail.log")
bytes=$(wc -c <"$TMP/mail.log")

# best_of3 CMD...: prints "seconds peak_kib" of the fastest of three runs
best_of3() {
    best=""
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/stderr" || {
            cat "$TMP/stderr" >&2
            return 1
        }
        read -r s kib <"$TMP/time"
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s bestkib=$kib; fi
    done
    echo "$best $bestkib"
}

echo "input: $lines lines, $bytes bytes (FgForrest Postfix log x11, RFC 3164 stamps)"
# Both must have read the log: pflogsumm's delivered count against mailpulse's sent events.
pf_sent=$(pflogsumm "$TMP/one.log" | awk '/ delivered$/ {print $1; exit}')
mp_sent=$("$BIN" parse --year 2013 "$TMP/one.log" | grep -c '"status":"sent"')
echo "sanity: one copy, pflogsumm delivered $pf_sent, mailpulse sent events $mp_sent"
set -- $(best_of3 "$BIN" parse --year 2013 "$TMP/mail.log")
mp_s=$1 mp_kib=$2
set -- $(best_of3 pflogsumm "$TMP/mail.log")
pf_s=$1 pf_kib=$2
printf '%-34s %10s %12s %10s\n' "parse" "seconds" "lines/s" "peak MiB"
printf '%-34s %10s %12.0f %10.1f\n' "mailpulse parse" "$mp_s" "$(echo "$lines / ($mp_s + 0.001)" | bc -l)" "$(echo "$mp_kib / 1024" | bc -l)"
printf '%-34s %10s %12.0f %10.1f\n' "pflogsumm" "$pf_s" "$(echo "$lines / ($pf_s + 0.001)" | bc -l)" "$(echo "$pf_kib / 1024" | bc -l)"
printf 'ratio: mailpulse is %.1fx faster than pflogsumm, with %.2fx its peak memory\n' \
    "$(echo "$pf_s / ($mp_s + 0.001)" | bc -l)" "$(echo "$mp_kib / $pf_kib" | bc -l)"

# The import half (mailpulse import against psql \copy) is in 40_storage.sh.
