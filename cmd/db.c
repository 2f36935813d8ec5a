/*
 * db - `mailpulse db`: schema migrations and status, retention, rebuilding the rollups,
 * compacting the indexes of ended months
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

static const char usage_db[] =
    "usage: mailpulse db migrate|status|rebuild-rollups|roll [--db DSN | --config FILE]\n"
    "       mailpulse db retention --days N [--db DSN | --config FILE]\n"
    "       mailpulse db compact [--days N] [--db DSN | --config FILE]\n"
    "\n"
    "migrate applies the schema migrations the database has not seen; status lists applied\n"
    "and pending versions. retention drops the monthly partitions of events that ended more\n"
    "than N days ago (the hourly rollups are kept). rebuild-rollups recomputes the hourly\n"
    "rollups from the stored events. compact rebuilds, once, the indexes of the monthly\n"
    "partitions that ended more than N days ago (default 7), which packs them; ingest and\n"
    "reports go on meanwhile. roll adds up the per-key ten-minute rollups of the buckets that\n"
    "ended ten minutes ago or more and were not added up yet (serve does it every minute;\n"
    "import leaves it to them), so that reports read less of the events at a range's ends.\n"
    "\n"
    "--config FILE takes the database from the [serve] section's db = of serve's configuration\n"
    "(as the shipped timer that runs compact does); --db wins over it.\n";

/* A month is left this many days after its end before its indexes are packed. */
#define COMPACT_DAYS 7

static const struct cmd_opt db_opts[] = {
    {"db", CLI_DB, CMD_ARG_REQUIRED},
    {"days", CLI_DAYS, CMD_ARG_REQUIRED},
    {"config", CLI_CONFIG, CMD_ARG_REQUIRED},
    {NULL, 0, 0},
};

/* cmd_db - migrate, status, retention, rebuild-rollups, compact, roll */
int cmd_db(int argc, char **argv)
{
    struct cli cli;
    const char *what;
    struct db *db;
    int first, rc;

    cli_init(&cli);
    first = cmd_options(argc, argv, db_opts, usage_db, cli_option, &cli, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    cli_dsn_resolve(&cli);
    what = first < argc ? argv[first] : "";

    if (first + 1 != argc ||
        (strcmp(what, "migrate") != 0 && strcmp(what, "status") != 0 &&
         strcmp(what, "retention") != 0 && strcmp(what, "rebuild-rollups") != 0 &&
         strcmp(what, "compact") != 0 && strcmp(what, "roll") != 0)) {
        fputs(usage_db, stderr);
        return 2;
    }
    if (strcmp(what, "retention") == 0 && cli.days < 1)
        fatal("db retention wants --days N (N >= 1)");
    db = cmd_open_db(cli.dsn, strcmp(what, "retention") == 0 ||
                                  strcmp(what, "rebuild-rollups") == 0 ||
                                  strcmp(what, "compact") == 0 || strcmp(what, "roll") == 0);
    if (strcmp(what, "migrate") == 0) {
        rc = db_migrate(db, stdout);
    } else if (strcmp(what, "status") == 0) {
        rc = db_status(db, stdout);
    } else if (strcmp(what, "retention") == 0) {
        int dropped = 0;

        rc = db_retention(db, cli.days, &dropped);
        if (rc == 0)
            printf("dropped %d partition%s older than %d days\n", dropped, dropped == 1 ? "" : "s",
                   cli.days);
    } else if (strcmp(what, "compact") == 0) {
        struct db_compaction c;
        int days = cli.days > 0 ? cli.days : COMPACT_DAYS;

        rc = db_compact(db, days, &c);
        if (rc == 0 && c.busy)
            printf("another process is compacting; nothing done\n");
        else if (rc == 0 && c.partitions == 0)
            printf("nothing to compact: every month that ended more than %d day%s ago is"
                   " compacted already\n",
                   days, days == 1 ? "" : "s");
        else if (rc == 0)
            printf("compacted %d partition%s: indexes %.1f MB -> %.1f MB\n", c.partitions,
                   c.partitions == 1 ? "" : "s", (double)c.bytes_before / 1e6,
                   (double)c.bytes_after / 1e6);
        if (c.leftovers > 0)
            printf("dropped %d index%s an interrupted rebuild had left\n", c.leftovers,
                   c.leftovers == 1 ? "" : "es");
    } else if (strcmp(what, "roll") == 0) {
        int64_t t0 = time_now_us(), through = 0;
        char when[48];

        rc = db_roll_tenmin(db, 0, &through);
        if (rc == 0) {
            time_format_rfc3339(through, when, sizeof(when));
            printf("ten-minute rollups added up to %s (%.1f s)\n", when,
                   (double)(time_now_us() - t0) / 1e6);
        }
    } else {
        int64_t rows = 0;

        rc = db_rebuild_rollups(db, &rows);
        if (rc == 0)
            printf("rebuilt the rollups: %lld rows\n", (long long)rows);
    }
    db_close(db);
    return rc == 0 ? 0 : 1;
}
