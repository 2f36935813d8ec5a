/*
 * main - mailpulse's entry point: the command table, and what every command opens the same way
 *
 * Each command lives in a file of its own (cmd/parse.c, report.c, import.c, serve.c, db.c,
 * sniff.c) and reads its options with cmd_options() (cmd/options.c). See cmd/cmd.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

/* The Makefile passes the version (scripts/version.sh); a build without it says so. */
#ifndef MAILPULSE_VERSION
#define MAILPULSE_VERSION "unknown"
#endif

static const char usage_main[] =
    "usage: mailpulse COMMAND [OPTIONS] [ARGS]\n"
    "       mailpulse --help | -h | --version | -V\n"
    "\n"
    "Mail deliverability statistics from Postfix, Exim and Sendmail logs and SMTP captures,\n"
    "kept in PostgreSQL.\n"
    "\n"
    "commands:\n"
    "  parse [FILE...]        print one JSON event per line (stdin when no FILE); no database\n"
    "  report [FILE...]       pflogsumm-style summary of logs, or of the database (--db)\n"
    "  import FILE...         load logs into PostgreSQL; importing again changes nothing\n"
    "  serve                  follow a log, ingest it, and serve the HTTP API\n"
    "  db migrate|status      apply or list schema migrations\n"
    "  sniff -r FILE|-i IFACE print the SMTP dialogues of a capture as JSON events\n"
    "  bounce [FILE|DIR|-]... print bounce messages and complaint reports as JSON events\n"
    "\n"
    "The database is a libpq connection string: --db DSN, else $MAILPULSE_DB, else the\n"
    "standard PG* variables. `mailpulse COMMAND --help` describes each command.\n";

/* cmd_open_db - connect, and refuse a schema that is not current */
struct db *cmd_open_db(const char *dsn, int need_schema)
{
    char err[512];
    struct db *db = db_open(dsn, err, sizeof(err));

    if (db == NULL)
        fatal("cannot connect to the database: %s", err);
    if (need_schema && db_schema_ok(db, err, sizeof(err)) != 0) {
        db_close(db);
        fatal("%s", err);
    }
    return db;
}

/* cmd_parser - a parser for one log */
struct parser *cmd_parser(int year, enum event_mta mta)
{
    struct parser_opts opts;

    memset(&opts, 0, sizeof(opts));
    opts.year = year;
    opts.mta = mta;
    return parser_create(&opts);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"parse", cmd_parse}, {"report", cmd_report}, {"import", cmd_import}, {"serve", cmd_serve},
        {"db", cmd_db},       {"sniff", cmd_sniff},   {"bounce", cmd_bounce},
    };

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("mailpulse %s\n", MAILPULSE_VERSION);
        return 0;
    }
    if (getenv("MAILPULSE_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mailpulse: unknown command \"%s\"\n%s", argv[1], usage_main);
    return 2;
}
