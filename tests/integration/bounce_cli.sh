#!/bin/sh
# bounce_cli.sh - `mailpulse bounce`: files, a Maildir, an mbox, stdin as a pipe transport
# delivers it, --stats, the output as NDJSON, and the limits, on the seed messages of
# tests/fuzz/corpus_bounce and on Sisimai's set of bounces when the corpora are there.
set -u
. "$(dirname "$0")/lib.sh"

SEEDS=tests/fuzz/corpus_bounce
SISIMAI=${MAILPULSE_CORPORA:-tests/corpora}/sisimai-set-of-emails

# lines FILE: how many lines
lines() { wc -l <"$1" | tr -d ' '; }

# valid_ndjson FILE: every line is one JSON object with a known type
valid_ndjson() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["type"] in ("dsn", "complaint"), o
    assert o["recipient" if o["type"] == "dsn" else "feedback_type"], o
' "$1"
}

# stat_of FILE WORD: the number before WORD in a --stats line
stat_of() { sed -n "s/.* \([0-9]*\) $2.*/\1/p" "$1"; }

# --- one message on stdin, as Postfix's or Exim's pipe transport hands it over
"$BIN" bounce <"$SEEDS/msg01.eml" >"$WORK/one.ndjson"
check "stdin: a qmail bounce exits 0" [ $? -eq 0 ]
check_eq "stdin: one dsn record" 1 "$(lines "$WORK/one.ndjson")"
check_eq "stdin: its recipient and reason" "full@example.ne.jp mailboxfull" \
    "$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["recipient"], o["reason"])' "$WORK/one.ndjson")"
"$BIN" bounce - <"$SEEDS/msg02.eml" >"$WORK/dash.ndjson"
check_eq "'-' reads stdin too (Exim: two recipients)" 2 "$(lines "$WORK/dash.ndjson")"

# --- a Maildir: new/ and cur/, and an mbox of the same messages
mkdir -p "$WORK/md/new" "$WORK/md/cur" "$WORK/md/tmp"
n=0
for f in "$SEEDS"/msg*.eml; do
    n=$((n + 1))
    if [ $((n % 2)) -eq 0 ]; then cp "$f" "$WORK/md/new/$n.host"; else cp "$f" "$WORK/md/cur/$n.host:2,S"; fi
    printf 'From MAILER-DAEMON Thu Apr 29 23:34:45 2026\n' >>"$WORK/all.mbox"
    cat "$f" >>"$WORK/all.mbox"
    printf '\n' >>"$WORK/all.mbox"
done
"$BIN" bounce --stats "$WORK/md" >"$WORK/md.ndjson" 2>"$WORK/md.stats"
check "Maildir: exit 0" [ $? -eq 0 ]
check_eq "Maildir: every message looked at" "$n" "$(sed -n 's/^bounce: \([0-9]*\) messages.*/\1/p' "$WORK/md.stats")"
check "Maildir: the output is NDJSON" valid_ndjson "$WORK/md.ndjson"
check_eq "Maildir: --stats counts the records printed" "$(lines "$WORK/md.ndjson")" \
    "$(stat_of "$WORK/md.stats" records)"
"$BIN" bounce --stats "$WORK/all.mbox" >"$WORK/mbox.ndjson" 2>"$WORK/mbox.stats"
check_eq "mbox: the same messages" "$n" "$(sed -n 's/^bounce: \([0-9]*\) messages.*/\1/p' "$WORK/mbox.stats")"
check_eq "mbox: the same records as the Maildir" "$(sort "$WORK/md.ndjson" | md5sum)" \
    "$(sort "$WORK/mbox.ndjson" | md5sum)"
check_eq "a complaint among them" 1 "$(grep -c '"type":"complaint","family":"arf","feedback_type":"abuse"' "$WORK/md.ndjson")"

# --- not bounces, errors, limits
printf 'From: a@example.org\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nI am away.\n' |
    "$BIN" bounce --stats >"$WORK/vac.ndjson" 2>"$WORK/vac.stats"
check_eq "an auto-reply prints nothing" 0 "$(lines "$WORK/vac.ndjson")"
check_eq "  ... and counts as not a bounce" 1 "$(stat_of "$WORK/vac.stats" 'not a bounce')"
"$BIN" bounce /nonexistent/bounce.eml >/dev/null 2>&1
check "a missing file: exit 1" [ $? -eq 1 ]
"$BIN" bounce --format csv "$SEEDS/msg01.eml" >/dev/null 2>&1
check "--format csv is refused with exit 2" [ $? -eq 2 ]
check "--help" sh -c "'$BIN' bounce --help | grep -q 'mailpulse bounce'"
{ cat "$SEEDS/msg01.eml"; head -c 9000000 /dev/zero | tr '\0' 'a'; } >"$WORK/huge.eml"
"$BIN" bounce --stats "$WORK/huge.eml" >"$WORK/huge.ndjson" 2>"$WORK/huge.stats"
check "a 9 MB message: exit 0" [ $? -eq 0 ]
check_eq "  ... skipped as too big" "0 1" \
    "$(lines "$WORK/huge.ndjson") $(sed -n 's/.*(\([0-9]*\) too big).*/\1/p' "$WORK/huge.stats")"

# --- Sisimai's bounces: a record for nearly every expected row; its non-bounces give none
if [ -d "$SISIMAI" ]; then
    "$BIN" bounce --stats "$SISIMAI/maildir/bsd" >"$WORK/s.ndjson" 2>"$WORK/s.stats"
    check "sisimai: exit 0" [ $? -eq 0 ]
    check "sisimai: the output is NDJSON" valid_ndjson "$WORK/s.ndjson"
    want=$(($(lines "$SISIMAI/expected.tsv") - 1))
    got=$(lines "$WORK/s.ndjson")
    check "sisimai: $got records for $want expected rows (at least 97%)" [ $((got * 100)) -ge $((want * 97)) ]
    check_eq "sisimai: no message malformed" 0 "$(stat_of "$WORK/s.stats" malformed)"
    "$BIN" bounce --stats "$SISIMAI/maildir/not" >"$WORK/n.ndjson" 2>"$WORK/n.stats"
    check_eq "sisimai: its two non-bounces give nothing" "0 2" \
        "$(lines "$WORK/n.ndjson") $(stat_of "$WORK/n.stats" 'not a bounce')"
else
    echo "ok - sisimai corpus not found, skipped # SKIP"
fi
