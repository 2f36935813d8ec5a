#!/bin/sh
# run.sh - every test of mailpulse: unit (cmocka), golden, integration, static checks.
#
# Starts a throwaway PostgreSQL in a temporary directory (never the `make run` data under
# ./var) and stops it at the end, also when a test fails or the run is interrupted.
# Ends with one line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
export MAILPULSE_BIN="$ROOT/$BUILD/mailpulse"
export MAILPULSE_CORPORA="${MAILPULSE_CORPORA:-$ROOT/tests/corpora}"
export TZ=UTC
TMP=$(mktemp -d /tmp/mailpulse-test.XXXXXX)
chmod 755 "$TMP"
export MAILPULSE_TEST_TMP="$TMP"
passed=0 failed=0 skipped=0
failures=""

cleanup() {
    sh scripts/pg.sh stop "$TMP/pg" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { # status name
    case "$1" in
    pass) passed=$((passed + 1)) ;;
    skip) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); failures="$failures
  $2" ;;
    esac
}

echo "== PostgreSQL (throwaway cluster in $TMP/pg)"
if DSN=$(sh scripts/pg.sh start "$TMP/pg"); then
    export MAILPULSE_TEST_DSN="$DSN"
    echo "   $DSN"
else
    echo "   could not start PostgreSQL; database tests will fail"
    export MAILPULSE_TEST_DSN="host=/nonexistent dbname=none"
fi

echo "== unit tests (cmocka)"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out="$TMP/$name.out"
    "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    # Sum cmocka's summaries (one per group in the binary).
    set -- $(awk '
        /^\[  PASSED  \] [0-9]+ test/ { p += $4 }
        /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
        /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
        END { print p + 0, f + 0, s + 0 }' "$out")
    p=$1 f=$2 s=$3
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # It died before its summary (a crash, a sanitizer report): one failure.
        f=1
        echo "   $name exited with status $rc before its summary"
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failures="$failures
  $name"
done

echo "== golden tests (tests/golden/*.log -> .ndjson)"
for log in tests/golden/*.log; do
    [ -f "$log" ] || continue
    want="${log%.log}.ndjson"
    got="$TMP/$(basename "$log").got"
    if "$MAILPULSE_BIN" parse --year 2026 "$log" >"$got" 2>"$got.err" &&
        diff -u "$want" "$got" >"$got.diff"; then
        echo "ok - golden $(basename "$log")"
        record pass
    else
        echo "not ok - golden $(basename "$log")"
        head -40 "$got.diff" "$got.err"
        record fail "golden $(basename "$log")"
    fi
done

echo "== fuzz seed replay (tests/fuzz/corpus_NAME through each target)"
for r in "$BUILD"/fuzz/replay_*; do
    [ -x "$r" ] || continue
    name=${r##*/replay_}
    if [ -d "tests/fuzz/corpus_$name" ] && "$r" "tests/fuzz/corpus_$name" >"$TMP/fuzz_$name.out" 2>&1; then
        echo "ok - fuzz replay $name ($(tail -1 "$TMP/fuzz_$name.out"))"
        record pass
    else
        tail -30 "$TMP/fuzz_$name.out"
        echo "not ok - fuzz replay $name"
        record fail "fuzz replay $name"
    fi
done

echo "== integration tests (tests/integration/*.sh)"
for s in tests/integration/*.sh; do
    [ -f "$s" ] || continue
    [ "$(basename "$s")" = lib.sh ] && continue # sourced by the others
    out="$TMP/$(basename "$s").out"
    t0=$(date +%s)
    sh "$s" >"$out" 2>&1
    rc=$?
    cat "$out"
    echo "   ($(basename "$s"): $(($(date +%s) - t0)) s)"
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $(basename "$s") exited with status $rc"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
    [ "$f" -gt 0 ] && failures="$failures
  $(basename "$s"): $(grep '^not ok - ' "$out" | sed 's/^not ok - //' | tr '\n' ';')"
done

echo "== static checks"
if sh scripts/check-deps.sh; then record pass; else record fail "check-deps"; fi
if make --no-print-directory format-check >"$TMP/format.out" 2>&1; then
    echo "ok - format"
    record pass
else
    head -20 "$TMP/format.out"
    echo "not ok - format (run make format)"
    record fail "format"
fi

[ -n "$failures" ] && printf '\nfailed:%s\n' "$failures"
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
