#!/bin/sh
# run.sh LOG LISTEN - `make run`: private PostgreSQL under ./var, migrate, serve LOG.
# Ctrl-C stops the daemon cleanly, then the database.
set -eu
cd "$(dirname "$0")/.."
LOG=$1
LISTEN=$2
[ -r "$LOG" ] || { echo "run: cannot read log $LOG (make run LOG=/path/to/mail.log)" >&2; exit 1; }
mkdir -p var
DSN=$(sh scripts/pg.sh start "$(pwd)/var")
trap 'sh scripts/pg.sh stop "$(pwd)/var"' EXIT
trap ':' INT TERM
./build/mailpulse db migrate --db "$DSN" >/dev/null
echo
# The sample is from 2026-11-27: open the dashboard on the hours that hold it.
if [ "$LOG" = samples/mail.log ]; then
    RANGE="?from=2026-11-27T08:00:00Z&to=2026-11-27T16:00:00Z"
else
    RANGE="?from=-24h"
fi
echo "mailpulse is following $LOG. Open the dashboard:"
echo
echo "  http://$LISTEN/$RANGE"
echo
echo "  delivery errors  http://$LISTEN/bounces$RANGE"
echo "  JSON API         http://$LISTEN/api/v1/summary$RANGE"
echo "  Prometheus       http://$LISTEN/metrics"
echo "  health           http://$LISTEN/healthz"
echo "database: psql '$DSN'   (Ctrl-C stops mailpulse and the database)"
echo
./build/mailpulse serve --db "$DSN" --log "$LOG" --listen "$LISTEN" || true
