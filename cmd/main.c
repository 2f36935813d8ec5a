/*
 * main - mailpulse's entry point: the command table, and what every command opens the same way
 *
 * Each command lives in a file of its own (cmd/parse.c, report.c, import.c, serve.c, db.c,
 * sniff.c) and reads its options with cmd_options() (cmd/options.c). See cmd/cmd.h.
 *
 * This file makes two programs. mailpulse-full (built without MAILPULSE_FRONT) runs every
 * command and links every library: libpq, libmicrohttpd, libcurl, GMime and the rest, some
 * fifty shared objects whose loading takes about 8 ms of CPU before main() runs. mailpulse,
 * the program users call (built with MAILPULSE_FRONT), links only libc, zlib and libm:
 * it runs `parse`, --help and --version itself, and for every other command replaces
 * itself (execv, same pid and arguments) with mailpulse-full, found beside it (a build
 * tree) or in ../lib/mailpulse relative to its own directory (an installed tree).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef MAILPULSE_FRONT
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#endif

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

#ifdef MAILPULSE_FRONT
/* A command of mailpulse-full: the front execs it. */
#define FULL(fn) NULL

/*
 * exec_full - run the command with mailpulse-full, in place of this process; returns only
 * when no mailpulse-full could be started
 */
static int exec_full(char **argv)
{
    static const char *const where[] = {"/mailpulse-full", "/../lib/mailpulse/mailpulse-full"};
    char self[PATH_MAX], path[PATH_MAX + 64], tried[2 * (PATH_MAX + 64)] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;
    int err = ENOENT;

    if (n <= 0 || (slash = memrchr(self, '/', (size_t)n)) == NULL) {
        fprintf(stderr, "mailpulse: %s: cannot find this program's directory: %s\n", argv[1],
                n <= 0 ? strerror(errno) : "no slash in /proc/self/exe");
        return 1;
    }
    *slash = 0;
    for (size_t i = 0; i < ARRAY_LEN(where); i++) {
        snprintf(path, sizeof(path), "%s%s", self, where[i]);
        execv(path, argv);
        /* a file that is there but cannot run says more than one that is not there */
        if (err == ENOENT)
            err = errno;
        if (i > 0)
            strncat(tried, " or ", sizeof(tried) - strlen(tried) - 1);
        strncat(tried, path, sizeof(tried) - strlen(tried) - 1);
    }
    fprintf(stderr, "mailpulse: %s: cannot run mailpulse-full (%s): %s\n", argv[1], tried,
            strerror(err));
    return 1;
}
#else
#define FULL(fn) fn

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
#endif

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"parse", cmd_parse},         {"report", FULL(cmd_report)}, {"import", FULL(cmd_import)},
        {"serve", FULL(cmd_serve)},   {"db", FULL(cmd_db)},         {"sniff", FULL(cmd_sniff)},
        {"bounce", FULL(cmd_bounce)},
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
        if (strcmp(argv[1], cmds[i].name) == 0) {
#ifdef MAILPULSE_FRONT
            if (cmds[i].fn == NULL)
                return exec_full(argv);
#endif
            return cmds[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "mailpulse: unknown command \"%s\"\n%s", argv[1], usage_main);
    return 2;
}
