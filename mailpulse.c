/*
 * mailpulse - mail deliverability statistics: the command line, wiring the modules together
 *
 * Subcommands: parse (log -> NDJSON), import (log -> PostgreSQL), serve (follow a log, ingest,
 * serve HTTP), db migrate|status. See DESIGN.md section 2 and `mailpulse --help`.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "db/db.h"
#include "parser/parser.h"
#include "util/util.h"
#include "web/web.h"

#define MAILPULSE_VERSION "0.1.0"
#define BATCH_EVENTS      5000
#define BATCH_MAX_AGE_US  1000000
#define BACKOFF_MIN_US    250000
#define BACKOFF_MAX_US    30000000

static const char usage_main[] =
    "usage: mailpulse COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Mail deliverability statistics from Postfix logs, kept in PostgreSQL.\n"
    "\n"
    "commands:\n"
    "  parse [FILE...]        print one JSON event per line (stdin when no FILE); no database\n"
    "  import FILE...         load logs into PostgreSQL; importing again changes nothing\n"
    "  serve                  follow a log, ingest it, and serve the HTTP API\n"
    "  db migrate|status      apply or list schema migrations\n"
    "\n"
    "The database is a libpq connection string: --db DSN, else $MAILPULSE_DB, else the\n"
    "standard PG* variables. `mailpulse COMMAND --help` describes each command.\n";

static const char usage_parse[] =
    "usage: mailpulse parse [--format ndjson] [--mta auto|postfix] [--year Y] [--stats] "
    "[FILE...]\n"
    "\n"
    "Parse mail logs (gzip read transparently; stdin when no FILE or FILE is -) and print one\n"
    "JSON event per line on stdout. --year sets the year of RFC 3164 stamps (default: inferred\n"
    "from the clock). --stats prints line counts to stderr at the end.\n";

static const char usage_import[] =
    "usage: mailpulse import [--db DSN] [--year Y] FILE...\n"
    "\n"
    "Load the events of each log into PostgreSQL. Rows are keyed by the file's content identity\n"
    "and the line's byte offset, so importing the same file again adds nothing, and a grown\n"
    "file adds only its new lines.\n";

static const char usage_serve[] =
    "usage: mailpulse serve [--db DSN] --log FILE [--listen ADDR:PORT] [--year Y]\n"
    "\n"
    "Follow FILE from its committed checkpoint, store its events in PostgreSQL, and serve\n"
    "the HTTP API on ADDR:PORT (default 127.0.0.1:8025): /api/v1/summary, /healthz.\n"
    "SIGTERM or SIGINT commits what was read and exits 0.\n";

static const char usage_db[] =
    "usage: mailpulse db migrate|status [--db DSN]\n"
    "\n"
    "migrate applies the schema migrations the database has not seen; status lists applied\n"
    "and pending versions.\n";

enum opt_id { OPT_DB = 256, OPT_YEAR, OPT_FORMAT, OPT_MTA, OPT_STATS, OPT_LOG, OPT_LISTEN };

static const struct option long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"year", required_argument, NULL, OPT_YEAR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"mta", required_argument, NULL, OPT_MTA},
    {"stats", no_argument, NULL, OPT_STATS},
    {"log", required_argument, NULL, OPT_LOG},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct cli {
    const char *dsn;
    const char *log;
    const char *listen;
    int year;
    int stats;
};

/* cli_parse - the options shared by all subcommands; returns the index of the first operand */
static int cli_parse(int argc, char **argv, const char *usage, const char *allowed, struct cli *cli)
{
    int c;

    memset(cli, 0, sizeof(*cli));
    cli->dsn = getenv("MAILPULSE_DB") ? getenv("MAILPULSE_DB") : "";
    cli->listen = "127.0.0.1:8025";
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        const char *name = NULL;

        if (c == 'h') {
            fputs(usage, stdout);
            exit(0);
        }
        if (c == '?') {
            fputs(usage, stderr);
            exit(2);
        }
        for (const struct option *o = long_opts; o->name; o++)
            if (o->val == c)
                name = o->name;
        if (name == NULL || strstr(allowed, name) == NULL) {
            fprintf(stderr, "mailpulse: option --%s does not apply here\n%s", name ? name : "?",
                    usage);
            exit(2);
        }
        switch (c) {
        case OPT_DB:
            cli->dsn = optarg;
            break;
        case OPT_YEAR: {
            char *end;
            long y = strtol(optarg, &end, 10);

            if (*end || y < 1970 || y > 9999)
                fatal("--year wants a year like 2026, not \"%s\"", optarg);
            cli->year = (int)y;
            break;
        }
        case OPT_FORMAT:
            if (strcmp(optarg, "ndjson") != 0)
                fatal("--format: only ndjson is supported, not \"%s\"", optarg);
            break;
        case OPT_MTA:
            if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "postfix") != 0)
                fatal("--mta: this version reads Postfix logs (auto or postfix), not \"%s\"",
                      optarg);
            break;
        case OPT_STATS:
            cli->stats = 1;
            break;
        case OPT_LOG:
            cli->log = optarg;
            break;
        case OPT_LISTEN:
            cli->listen = optarg;
            break;
        default:
            break;
        }
    }
    return optind;
}

static struct parser *make_parser(const struct cli *cli)
{
    struct parser_opts opts;

    memset(&opts, 0, sizeof(opts));
    opts.year = cli->year;
    return parser_create(&opts);
}

static void print_stats(const struct parser *p)
{
    const struct parser_stats *st = parser_stats(p);

    fprintf(stderr, "lines %llu, events %llu, skipped %llu, not understood %llu, truncated %llu\n",
            (unsigned long long)st->lines, (unsigned long long)st->events,
            (unsigned long long)st->skipped, (unsigned long long)st->malformed,
            (unsigned long long)st->truncated);
}

/* cmd_parse - logs to NDJSON on stdout */
static int cmd_parse(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_parse, "format mta year stats", &cli);
    char *stdin_only[] = {"-"};
    char **files = first < argc ? argv + first : stdin_only;
    int nfiles = first < argc ? argc - first : 1;
    struct parser *p = make_parser(&cli);
    struct event ev;
    struct buf out;
    int rc = 0;

    buf_init(&out);
    for (int i = 0; i < nfiles; i++) {
        char err[512];
        struct lineread *lr = lr_open(files[i], err, sizeof(err));
        const char *line;
        size_t len;
        int64_t pos;
        int r;

        if (lr == NULL) {
            log_error("%s", err);
            rc = 1;
            continue;
        }
        while ((r = lr_next(lr, &line, &len, &pos)) == 1) {
            if (parser_line(p, line, len, &ev) != PARSE_EVENT)
                continue;
            event_format_json(&ev, &out);
            buf_putc(&out, '\n');
            if (out.len >= 65536) {
                fwrite(out.data, 1, out.len, stdout);
                buf_reset(&out);
            }
        }
        if (r < 0)
            rc = 1;
        lr_close(lr);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    if (fflush(stdout) != 0) {
        log_error("writing output: %s", strerror(errno));
        rc = 1;
    }
    if (cli.stats)
        print_stats(p);
    buf_free(&out);
    parser_free(p);
    return rc;
}

/* open_db - connect, and refuse a schema that is not current */
static struct db *open_db(const char *dsn, int need_schema)
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

/* commit_or_die - one commit for import: a failure there ends the import with an error */
static void commit_or_die(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                          struct db_batch_result *total)
{
    struct db_batch_result res;

    memset(&res, 0, sizeof(res));
    if (db_batch_commit(b, source_id, checkpoint, &res) != 0)
        fatal("import stopped: the batch could not be stored (see the warning above); "
              "run the import again to continue from the last committed line");
    total->inserted += res.inserted;
    total->duplicates += res.duplicates;
    total->repaired += res.repaired;
}

/* import_file - one file into the database, resuming after its checkpoint */
static int import_file(struct db *db, struct parser *p, const char *path)
{
    char err[512];
    struct lineread *lr = lr_open(path, err, sizeof(err));
    struct db_batch *b;
    struct db_batch_result total;
    struct event ev;
    int64_t source_id = 0, checkpoint = 0, pos, next = 0;
    uint64_t events = 0;
    const char *line;
    size_t len;
    int r, opened = 0;

    if (lr == NULL) {
        log_error("%s", err);
        return -1;
    }
    memset(&total, 0, sizeof(total));
    b = db_batch_create(db);
    while ((r = lr_next(lr, &line, &len, &pos)) == 1) {
        if (!opened) {
            if (db_source_open(db, path, lr_identity(lr), &source_id, &checkpoint) != 0)
                fatal("cannot register source %s in the database", path);
            opened = 1;
        }
        next = pos + (int64_t)len + 1;
        /* Lines before the checkpoint are parsed only to rebuild the queue-id context. */
        if (parser_line(p, line, len, &ev) != PARSE_EVENT || pos < checkpoint)
            continue;
        db_batch_add(b, source_id, pos, &ev);
        events++;
        if (db_batch_count(b) >= BATCH_EVENTS)
            commit_or_die(b, source_id, next, &total);
    }
    if (opened && next > checkpoint)
        commit_or_die(b, source_id, next, &total);
    db_batch_free(b);
    lr_close(lr);
    if (r < 0)
        return -1;
    printf("%s: %llu events read after the checkpoint, %llu stored, %llu already present, "
           "%llu strings repaired\n",
           path, (unsigned long long)events, (unsigned long long)total.inserted,
           (unsigned long long)total.duplicates, (unsigned long long)total.repaired);
    return 0;
}

/* cmd_import - load logs into the database */
static int cmd_import(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_import, "db year", &cli);
    struct db *db;
    int rc = 0;

    if (first >= argc) {
        fputs(usage_import, stderr);
        return 2;
    }
    db = open_db(cli.dsn, 1);
    for (int i = first; i < argc; i++) {
        /* Each file gets a fresh parser: queue ids are correlated within one log. */
        struct parser *p = make_parser(&cli);

        if (import_file(db, p, argv[i]) != 0)
            rc = 1;
        parser_free(p);
    }
    db_close(db);
    return rc;
}

/* cmd_db - migrate or status */
static int cmd_db(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_db, "db", &cli);
    struct db *db;
    int rc;

    if (first >= argc ||
        (strcmp(argv[first], "migrate") != 0 && strcmp(argv[first], "status") != 0)) {
        fputs(usage_db, stderr);
        return 2;
    }
    db = open_db(cli.dsn, 0);
    rc = strcmp(argv[first], "migrate") == 0 ? db_migrate(db, stdout) : db_status(db, stdout);
    db_close(db);
    return rc == 0 ? 0 : 1;
}

/* The daemon's ingest state, read by the web thread for /healthz. */
struct ingest {
    pthread_mutex_t lock;
    struct web_ingest_status st;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void ingest_status(void *arg, struct web_ingest_status *out)
{
    struct ingest *in = arg;

    pthread_mutex_lock(&in->lock);
    *out = in->st;
    pthread_mutex_unlock(&in->lock);
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
        ;
}

/* serve_commit - store the batch; on failure back off (capped, with jitter) and retry */
static void serve_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                         struct ingest *in, int64_t *backoff_us)
{
    struct db_batch_result res;

    memset(&res, 0, sizeof(res));
    for (;;) {
        int ok = db_batch_commit(b, source_id, checkpoint, &res) == 0;

        pthread_mutex_lock(&in->lock);
        in->st.db_up = ok;
        if (ok)
            in->st.last_commit_us = time_now_us();
        pthread_mutex_unlock(&in->lock);
        if (ok) {
            if (*backoff_us > BACKOFF_MIN_US)
                log_info("database is back; ingest resumed");
            *backoff_us = BACKOFF_MIN_US;
            return;
        }
        if (stop_requested)
            return; /* the rows stay uncommitted; the checkpoint makes them come again */
        if (*backoff_us == BACKOFF_MIN_US)
            log_warn("cannot store events; reading paused, retrying with backoff");
        sleep_us(*backoff_us + random() % (*backoff_us / 2 + 1));
        *backoff_us = *backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : *backoff_us * 2;
    }
}

/* serve_source - open the log as a source: identity, checkpoint; 0 or -1 (retry later) */
static int serve_source(struct db *db, const char *path, struct tail **tp, int64_t *source_id,
                        int64_t *checkpoint)
{
    char err[512];
    struct tail *t = tail_open(path, err, sizeof(err));
    const char *id;

    if (t == NULL) {
        log_warn("%s; waiting for it", err);
        return -1;
    }
    id = tail_identity(t);
    if (id[0] == 0 || db_source_open(db, path, id, source_id, checkpoint) != 0) {
        tail_close(t);
        return -1;
    }
    log_info("following %s from byte %lld", path, (long long)*checkpoint);
    *tp = t;
    return 0;
}

/* cmd_serve - the daemon */
static int cmd_serve(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_serve, "db log listen year", &cli);
    struct web_opts wopts;
    struct web *web;
    struct db *db;
    struct db_batch *b;
    struct parser *p = NULL;
    struct tail *t = NULL;
    struct ingest in;
    struct event ev;
    struct sigaction sa;
    int64_t source_id = 0, checkpoint = 0, next = 0, batch_start = 0;
    int64_t backoff = BACKOFF_MIN_US;
    char err[512];

    if (first < argc || cli.log == NULL) {
        fputs(usage_serve, stderr);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time_now_us());

    db = open_db(cli.dsn, 1);
    memset(&in, 0, sizeof(in));
    pthread_mutex_init(&in.lock, NULL);
    in.st.db_up = 1;
    in.st.lag_bytes = -1;
    memset(&wopts, 0, sizeof(wopts));
    wopts.listen = cli.listen;
    wopts.dsn = cli.dsn;
    wopts.ingest = ingest_status;
    wopts.ingest_arg = &in;
    web = web_start(&wopts, err, sizeof(err));
    if (web == NULL)
        fatal("%s", err);
    log_info("serving http://%s/ (API: /api/v1/summary, /healthz)", cli.listen);

    b = db_batch_create(db);
    while (!stop_requested) {
        const char *line;
        size_t len;
        int64_t pos;
        int r;

        if (t == NULL) {
            if (serve_source(db, cli.log, &t, &source_id, &checkpoint) != 0) {
                sleep_us(1000000);
                continue;
            }
            /* Read from the start: lines before the checkpoint rebuild the queue-id context. */
            parser_free(p);
            p = make_parser(&cli);
            next = 0;
        }
        r = tail_next(t, &line, &len, &pos);
        if (r == 1) {
            enum parse_result pr = parser_line(p, line, len, &ev);

            next = pos + (int64_t)len + 1;
            if (pr == PARSE_EVENT && pos >= checkpoint) {
                if (db_batch_count(b) == 0)
                    batch_start = time_now_us();
                db_batch_add(b, source_id, pos, &ev);
            }
            if (db_batch_count(b) >= BATCH_EVENTS)
                serve_commit(b, source_id, next, &in, &backoff);
        } else {
            /* Idle, replaced or failed: store what is pending first. */
            if (db_batch_count(b) > 0 || next > checkpoint) {
                serve_commit(b, source_id, next, &in, &backoff);
                if (db_batch_count(b) == 0 && next > checkpoint)
                    checkpoint = next;
            }
            if (r < 0) {
                tail_close(t);
                t = NULL;
                continue;
            }
            sleep_us(200000);
        }
        if (db_batch_count(b) > 0 && time_now_us() - batch_start > BATCH_MAX_AGE_US)
            serve_commit(b, source_id, next, &in, &backoff);
        if (t != NULL) {
            const struct parser_stats *st = parser_stats(p);

            pthread_mutex_lock(&in.lock);
            in.st.lines = st->lines;
            in.st.events = st->events;
            in.st.malformed = st->malformed;
            in.st.lag_bytes = tail_lag(t);
            pthread_mutex_unlock(&in.lock);
        }
    }
    log_info("stopping");
    if (db_batch_count(b) > 0)
        serve_commit(b, source_id, next, &in, &backoff);
    web_stop(web);
    db_batch_free(b);
    tail_close(t);
    parser_free(p);
    db_close(db);
    pthread_mutex_destroy(&in.lock);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"parse", cmd_parse},
        {"import", cmd_import},
        {"serve", cmd_serve},
        {"db", cmd_db},
    };

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
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
