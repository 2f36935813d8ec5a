#!/bin/sh
# 60_sniff.sh - `make bench`: `mailpulse sniff -r` throughput (MB/s and SMTP sessions/s) on a
# large capture, next to `tshark -r FILE -Y smtp` on the same file.
#
# The capture is made by tests/pcap/gen_bench.py: the clear-text SMTP flows of the corpora,
# repeated with a new client address and port per copy (SESSIONS, default 5000). mailpulse
# is timed best of 3, tshark once (it is much slower); both write to /dev/null.
set -eu
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/mailpulse
CORPORA=${MAILPULSE_CORPORA:-$(pwd)/tests/corpora}
SESSIONS=${SESSIONS:-5000}
TMP=$(mktemp -d /tmp/mailpulse-bench-sniff.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

for p in tshark time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done

python3 tests/pcap/gen_bench.py "$CORPORA" "$TMP/big.pcap" "$SESSIONS" >/dev/null
bytes=$(wc -c <"$TMP/big.pcap")
mb=$(echo "scale=1; $bytes / 1000000" | bc)

# seconds CMD...: wall seconds of one run (output discarded)
seconds() {
    /usr/bin/time -f '%e' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/stderr" || {
        cat "$TMP/stderr" >&2
        return 1
    }
    cat "$TMP/time"
}

best=""
for _ in 1 2 3; do
    s=$(seconds "$BIN" sniff -r "$TMP/big.pcap")
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
done
"$BIN" sniff -r "$TMP/big.pcap" --stats 2>"$TMP/stats" >/dev/null
sessions=$(sed -n 's/.*sessions \([0-9]*\),.*/\1/p' "$TMP/stats")
ts=$(seconds tshark -r "$TMP/big.pcap" -Y smtp)

# rate X SECONDS: X per second, guarding against a 0.00 s reading
rate() { echo "scale=0; $1 / ($2 + 0.005)" | bc; }
echo "sniff: capture of $mb MB, $sessions SMTP sessions"
printf '  mailpulse sniff -r      %6.2f s  %6s MB/s  %8s sessions/s\n' "$best" \
    "$(rate "$mb" "$best")" "$(rate "$sessions" "$best")"
printf '  tshark -r FILE -Y smtp  %6.2f s  %6s MB/s  %8s sessions/s\n' "$ts" \
    "$(rate "$mb" "$ts")" "$(rate "$sessions" "$ts")"
echo "  mailpulse is $(echo "scale=1; ($ts + 0.005) / ($best + 0.005)" | bc)x tshark's speed"
