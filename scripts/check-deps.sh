#!/bin/sh
# check-deps.sh - each library header is included by exactly one module, and the modules
# depend on each other one way: util <- parser <- {report, bounce, collector, db, web} <- cmd.
# Prints every violation and exits 1 when there is any.
set -u
cd "$(dirname "$0")/.." || exit 2
rc=0
check() { # header, allowed directories...
    header=$1
    shift
    files=$(grep -rlE "#[[:space:]]*include[[:space:]]*[<\"]$header[>\"]" util parser report bounce collector db web cmd 2>/dev/null)
    for f in $files; do
        ok=0
        for dir in "$@"; do
            case "$f" in "$dir" | "$dir"/*) ok=1 ;; esac # a module or a single file
        done
        if [ $ok -eq 0 ]; then
            echo "check-deps: $f includes <$header>, which belongs to $*" >&2
            rc=1
        fi
    done
}
check 'libpq-fe\.h' db
check 'microhttpd\.h' web
check 'cjson/cJSON\.h' web
check 'cJSON\.h' web
check 'pcap\.h' collector
check 'pcap/pcap\.h' collector
check 'systemd/sd-journal\.h' collector
check 'systemd/sd-daemon\.h' collector cmd
check 'zlib\.h' collector
check 'ini\.h' cmd/serve_conf.c
check 'gmime/gmime\.h' bounce
check 'curl/curl\.h' cmd/alert_hook.c

# Dependencies point one way: util <- parser <- {report, bounce, collector, db, web}.
for f in $(grep -lE '#include "(parser|report|bounce|collector|db|web)/' util/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (util) includes a higher module" >&2; rc=1
done
for f in $(grep -lE '#include "(report|bounce|collector|db|web)/' parser/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (parser) includes report, bounce, collector, db or web" >&2; rc=1
done
for f in $(grep -lE '#include "(report|collector|db|web|cmd)/' bounce/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (bounce) includes report, collector, db, web or cmd" >&2; rc=1
done
for f in $(grep -lE '#include "(collector|db|web)/' report/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (report) includes collector, db or web" >&2; rc=1
done
for f in $(grep -lE '#include "(report|db|web)/' collector/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (collector) includes report, db or web" >&2; rc=1
done
for f in $(grep -lE '#include "(report|collector|web)/' db/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (db) includes report, collector or web" >&2; rc=1
done
for f in $(grep -lE '#include "(report|collector)/' web/*.[ch] 2>/dev/null); do
    echo "check-deps: $f (web) includes report or collector" >&2; rc=1
done
# cmd is the top: no module includes it.
for f in $(grep -lE '#include "cmd/' util/*.[ch] parser/*.[ch] report/*.[ch] bounce/*.[ch] collector/*.[ch] db/*.[ch] web/*.[ch] 2>/dev/null); do
    echo "check-deps: $f includes cmd (the command layer is above every module)" >&2; rc=1
done
[ $rc -eq 0 ] && echo "check-deps: every library header stays in its module"
exit $rc
