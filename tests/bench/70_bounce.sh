#!/bin/sh
# 70_bounce.sh - `make bench`: messages per second of `mailpulse bounce` on Sisimai's set of
# bounce messages (MAILPULSE_CORPORA, default tests/corpora), and of `mailpulse import
# --bounces` storing them (each copy made distinct by a header, so every record is new).
#
# The 200 messages are read as a directory and, to time more than a blink, as one mbox of
# COPIES copies of them (default 50, ~10,000 messages, ~45 MB). Best of 3 wall-clock runs,
# with the CPU time (user+sys) beside it, output to /dev/null.
set -eu
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/mailpulse
CORPORA=${MAILPULSE_CORPORA:-$(pwd)/tests/corpora}
DIR=$CORPORA/sisimai-set-of-emails/maildir/bsd
COPIES=${COPIES:-50}
TMP=$(mktemp -d /tmp/mailpulse-bench-bounce.XXXXXX)
chmod 755 "$TMP"
trap 'sh scripts/pg.sh stop "$TMP/pg" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

if [ ! -d "$DIR" ]; then
    echo "bounce: $DIR not found (set MAILPULSE_CORPORA); skipped"
    exit 0
fi
dpkg-query -W -f='${Status}' time 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null

# one mbox of COPIES copies of every message, each after its own "From " line
for f in "$DIR"/*.eml; do
    printf 'From MAILER-DAEMON Thu Apr 29 23:34:45 2026\n'
    grep -av '^From ' "$f" | sed 's/^>*From />&/'
    printf '\n'
done >"$TMP/one.mbox"
i=0
while [ $i -lt "$COPIES" ]; do
    cat "$TMP/one.mbox"
    i=$((i + 1))
done >"$TMP/all.mbox"
messages=$("$BIN" bounce --stats "$TMP/all.mbox" 2>&1 >/dev/null | sed -n 's/^bounce: \([0-9]*\) messages.*/\1/p')
mb=$(echo "scale=1; $(wc -c <"$TMP/all.mbox") / 1000000" | bc)

# best CMD...: "wall cpu" of the fastest of 3 runs
best() {
    b="" c=""
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %U %S' -o "$TMP/time" "$@" >/dev/null 2>&1
        read -r wall user sys <"$TMP/time"
        if [ -z "$b" ] || [ "$(echo "$wall < $b" | bc)" = 1 ]; then
            b=$wall c=$(echo "$user + $sys" | bc)
        fi
    done
    echo "$b $c"
}

set -- $(best "$BIN" bounce "$DIR")
dir_wall=$1 dir_cpu=$2
set -- $(best "$BIN" bounce "$TMP/all.mbox")
mbox_wall=$1 mbox_cpu=$2
n_dir=$(ls "$DIR" | wc -l)
rate() { echo "scale=0; $1 / ($2 + 0.005)" | bc; }
echo "bounce: Sisimai's $n_dir messages, and an mbox of $COPIES copies ($messages messages, $mb MB)"
printf '  directory  %6.2f s wall %6.2f s cpu  %8s messages/s\n' "$dir_wall" "$dir_cpu" \
    "$(rate "$n_dir" "$dir_wall")"
printf '  mbox       %6.2f s wall %6.2f s cpu  %8s messages/s (%s by cpu)\n' "$mbox_wall" \
    "$mbox_cpu" "$(rate "$messages" "$mbox_wall")" "$(rate "$messages" "$mbox_cpu")"

# Storing: the same messages, each copy with an X-Copy header of its own (distinct messages,
# so every record is stored), into a fresh database; the parse alone of the same mbox beside.
i=0
while [ $i -lt "$COPIES" ]; do
    sed "s/^From MAILER-DAEMON .*/&\nX-Copy: $i/" "$TMP/one.mbox"
    i=$((i + 1))
done >"$TMP/distinct.mbox"
DSN=$(sh scripts/pg.sh start "$TMP/pg")
"$BIN" db migrate --db "$DSN" >/dev/null
/usr/bin/time -f '%e' -o "$TMP/time" "$BIN" bounce "$TMP/distinct.mbox" >/dev/null 2>&1
parse_wall=$(cat "$TMP/time")
/usr/bin/time -f '%e' -o "$TMP/time" "$BIN" import --db "$DSN" --bounces "$TMP/distinct.mbox" \
    >"$TMP/import.out" 2>&1
store_wall=$(cat "$TMP/time")
stored=$(sed -n 's/.*stored \([0-9]*\) DSN recipients and \([0-9]*\) complaints.*/\1 \2/p' "$TMP/import.out")
records=$(echo "$stored" | awk '{print $1 + $2}')
printf '  stored     %6.2f s wall  %8s messages/s, %s records (parse alone %.2f s: %.1fx)\n' \
    "$store_wall" "$(rate "$messages" "$store_wall")" "$records" "$parse_wall" \
    "$(echo "scale=2; $store_wall / ($parse_wall + 0.005)" | bc)"
