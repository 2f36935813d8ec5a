/*
 * mailpulse - mail deliverability statistics: the command line, wiring the modules together
 *
 * Subcommands: parse (log -> NDJSON), import (log -> PostgreSQL), serve (follow a log, ingest,
 * serve HTTP), db migrate|status. See DESIGN.md section 2 and `mailpulse --help`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <ini.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/sniff.h"
#include "db/db.h"
#include "parser/parser.h"
#include "parser/tally.h"
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
    "\n"
    "The database is a libpq connection string: --db DSN, else $MAILPULSE_DB, else the\n"
    "standard PG* variables. `mailpulse COMMAND --help` describes each command.\n";

static const char usage_parse[] =
    "usage: mailpulse parse [--format ndjson] [--mta auto|postfix|exim|sendmail] [--year Y]\n"
    "                       [--stats] [FILE...]\n"
    "\n"
    "Parse mail logs (gzip read transparently; stdin when no FILE or FILE is -) and print one\n"
    "JSON event per line on stdout. --year sets the year of RFC 3164 stamps (default: inferred\n"
    "from the clock). --stats prints line counts to stderr at the end. --mta auto (the\n"
    "default) tells Postfix, Exim and Sendmail lines apart line by line; naming one MTA\n"
    "reads only its lines.\n";

static const char usage_import[] =
    "usage: mailpulse import [--db DSN] [--year Y] [--mta M] FILE...\n"
    "\n"
    "Load the events of each log (gzip read transparently) into PostgreSQL. Rows are keyed by\n"
    "the file's content identity and the line's byte offset, so importing the same file again\n"
    "adds nothing, a grown file adds only its new lines, and an import that was interrupted\n"
    "continues where its last commit ended. On a terminal a progress line shows bytes,\n"
    "events/s and the time left. When the database goes away the import waits (up to 15\n"
    "minutes, retrying with backoff) and continues.\n";

static const char usage_db[] =
    "usage: mailpulse db migrate|status|rebuild-rollups [--db DSN]\n"
    "       mailpulse db retention --days N [--db DSN]\n"
    "\n"
    "migrate applies the schema migrations the database has not seen; status lists applied\n"
    "and pending versions. retention drops the monthly partitions of events that ended more\n"
    "than N days ago (the hourly rollups are kept). rebuild-rollups recomputes the hourly\n"
    "rollups from the stored events.\n";

enum opt_id {
    OPT_DB = 256,
    OPT_YEAR,
    OPT_FORMAT,
    OPT_MTA,
    OPT_STATS,
    OPT_LOG,
    OPT_LISTEN,
    OPT_DAYS,
    OPT_FROM,
    OPT_TO,
    OPT_TOP
};

static const struct option long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"year", required_argument, NULL, OPT_YEAR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"mta", required_argument, NULL, OPT_MTA},
    {"stats", no_argument, NULL, OPT_STATS},
    {"log", required_argument, NULL, OPT_LOG},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"days", required_argument, NULL, OPT_DAYS},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"top", required_argument, NULL, OPT_TOP},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct cli {
    const char *dsn;
    const char *log;
    const char *listen;
    int year;
    int stats;
    enum event_mta mta; /* --mta: MTA_UNKNOWN is auto */
    int days;           /* db retention --days */
    const char *format; /* --format as given; NULL when absent */
    const char *from;   /* report --from, --to: RFC 3339 or -24h, -7d */
    const char *to;
    int top; /* report --top: rows per table, 0 all */
};

/* mta_option - the --mta value: auto, postfix, exim or sendmail */
static enum event_mta mta_option(const char *s)
{
    static const struct {
        const char *name;
        enum event_mta mta;
    } names[] = {{"auto", MTA_UNKNOWN},
                 {"postfix", MTA_POSTFIX},
                 {"exim", MTA_EXIM},
                 {"sendmail", MTA_SENDMAIL}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0)
            return names[i].mta;
    }
    fatal("--mta wants auto, postfix, exim or sendmail, not \"%s\"", s);
}

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
            /* report takes text|json|csv (checked there); the rest write NDJSON */
            if (strstr(allowed, "top") == NULL && strcmp(optarg, "ndjson") != 0)
                fatal("--format: only ndjson is supported, not \"%s\"", optarg);
            cli->format = optarg;
            break;
        case OPT_FROM:
            cli->from = optarg;
            break;
        case OPT_TO:
            cli->to = optarg;
            break;
        case OPT_TOP: {
            char *end;
            long n = strtol(optarg, &end, 10);

            if (*end || n < 0 || n > 1000000)
                fatal("--top wants a number of rows (0: all), not \"%s\"", optarg);
            cli->top = (int)n;
            break;
        }
        case OPT_MTA:
            cli->mta = mta_option(optarg);
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
        case OPT_DAYS: {
            char *end;
            long d = strtol(optarg, &end, 10);

            if (*end || d < 1 || d > 100000)
                fatal("--days wants a number of days like 400, not \"%s\"", optarg);
            cli->days = (int)d;
            break;
        }
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
    opts.mta = cli->mta;
    return parser_create(&opts);
}

/* print_stats - what became of the lines: totals, then per program name with samples */
static void print_stats(const struct parser *p)
{
    const struct parser_stats *st = parser_stats(p);
    const struct parser_prog_stats *ps;
    size_t n = parser_prog_stats(p, &ps);

    fprintf(stderr, "lines %llu, events %llu, skipped %llu, not understood %llu, truncated %llu\n",
            (unsigned long long)st->lines, (unsigned long long)st->events,
            (unsigned long long)st->skipped, (unsigned long long)st->malformed,
            (unsigned long long)st->truncated);
    fprintf(stderr,
            "content-filter hops folded %llu, open queue ids dropped: table full %llu, "
            "too old %llu\n",
            (unsigned long long)st->reinjected, (unsigned long long)st->queue_evicted,
            (unsigned long long)st->queue_aged);
    fprintf(stderr, "%-40s %10s %10s %10s %10s\n", "program", "lines", "parsed", "skipped",
            "not-understood");
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "%-40s %10llu %10llu %10llu %10llu\n", ps[i].prog,
                (unsigned long long)ps[i].lines, (unsigned long long)ps[i].events,
                (unsigned long long)ps[i].skipped, (unsigned long long)ps[i].malformed);
        for (unsigned j = 0; j < ps[i].nsamples; j++)
            fprintf(stderr, "    not understood: %s\n", ps[i].samples[j]);
    }
}

/*
 * each_event - every event of the files (gzip read transparently, "-" stdin), in order,
 * through one parser, handed to fn; 0, or 1 when a file could not be opened or read
 */
static int each_event(struct parser *p, char **files, int nfiles,
                      void (*fn)(void *arg, const struct event *ev), void *arg)
{
    struct event ev;
    int rc = 0;

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
        while ((r = lr_next(lr, &line, &len, &pos)) == 1)
            if (parser_line(p, line, len, &ev) == PARSE_EVENT)
                fn(arg, &ev);
        if (r < 0)
            rc = 1;
        lr_close(lr);
    }
    return rc;
}

/* parse_emit - one event as an NDJSON line, written out in 64 KiB pieces */
static void parse_emit(void *arg, const struct event *ev)
{
    struct buf *out = arg;

    event_format_json(ev, out);
    buf_putc(out, '\n');
    if (out->len >= 65536) {
        fwrite(out->data, 1, out->len, stdout);
        buf_reset(out);
    }
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
    struct buf out;
    int rc;

    buf_init(&out);
    rc = each_event(p, files, nfiles, parse_emit, &out);
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

static const char usage_report[] =
    "usage: mailpulse report [--format text|json|csv] [--from T] [--to T] [--top N] [--year Y]\n"
    "                        [--mta auto|postfix|exim|sendmail] [FILE...]\n"
    "       mailpulse report --db DSN [--format text|json|csv] [--from T] [--to T] [--top N]\n"
    "\n"
    "A pflogsumm-style summary: received, delivered, deferred (messages and deferrals),\n"
    "bounced, expired, rejected, bytes; per hour, per recipient domain, per sender, and the\n"
    "reasons with DSN codes of what was not sent. With FILEs (gzip read transparently; - is\n"
    "stdin) the logs are counted in memory, no database needed; with --db and no FILE the\n"
    "numbers come from the database. T is RFC 3339 (2026-11-28T00:00:00Z) or relative to now\n"
    "(-24h, -7d, -30m). --top limits the rows per table (default 20, 0 for all).\n";

static struct db *open_db(const char *dsn, int need_schema);

/* report_time - an RFC 3339 time or "-24h" / "-7d" / "-30m" before now, in microseconds */
static int64_t report_time(const char *s, const char *what)
{
    int64_t us;

    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
        char *end;
        long long n = strtoll(s + 1, &end, 10);
        int64_t unit = *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;

        if (unit == 0 || end[1] != 0 || n > 100000)
            fatal("%s: want RFC 3339 or -Nm/-Nh/-Nd, not \"%s\"", what, s);
        return time_now_us() - (int64_t)n * unit * 1000000;
    }
    if (time_parse_rfc3339(s, strlen(s), &us) != 0)
        fatal("%s: want RFC 3339 or -Nm/-Nh/-Nd, not \"%s\"", what, s);
    return us;
}

/* What report_files counts into: the tally and the range kept. */
struct report_sink {
    struct tally *t;
    int64_t from_us, to_us; /* 0: open */
};

/* report_add - one event into the tally when it falls in the range */
static void report_add(void *arg, const struct event *ev)
{
    const struct report_sink *k = arg;

    if ((k->from_us && ev->time_us < k->from_us) || (k->to_us && ev->time_us >= k->to_us))
        return;
    tally_add(k->t, ev);
}

/* report_files - count the events of log files in memory */
static int report_files(const struct cli *cli, char **files, int nfiles, int64_t from_us,
                        int64_t to_us, struct tally *t)
{
    struct report_sink k = {t, from_us, to_us};
    struct parser *p = make_parser(cli);
    int rc = each_event(p, files, nfiles, report_add, &k);

    if (cli->stats)
        print_stats(p);
    parser_free(p);
    return rc;
}

/* What report --db gathers from the read side, in the shapes tally_format() prints. */
struct db_report {
    struct tally_hour *hours;
    size_t nhours, hcap;
    struct tally_domain *domains;
    size_t ndomains, dcap;
    struct tally_reason *reasons;
    size_t nreasons, rcap;
};

/* db_report_hour - one timeseries bucket */
static int db_report_hour(void *arg, const struct db_point *pt)
{
    struct db_report *d = arg;
    struct tally_hour *h;

    d->hours = xgrow(d->hours, &d->hcap, d->nhours, sizeof(*d->hours), 256);
    h = &d->hours[d->nhours++];
    h->hour_us = pt->bucket_us;
    h->received = pt->received;
    h->delivered = pt->sent;
    h->deferred = pt->deferred;
    h->bounced = pt->bounced;
    h->expired = pt->expired;
    h->rejected = pt->rejected;
    return 0;
}

/* db_report_domain - one recipient domain row */
static int db_report_domain(void *arg, const struct db_domain_row *r)
{
    struct db_report *d = arg;
    struct tally_domain *x;

    d->domains = xgrow(d->domains, &d->dcap, d->ndomains, sizeof(*d->domains), 64);
    x = &d->domains[d->ndomains++];
    str_copy(x->domain, sizeof(x->domain), r->domain, strlen(r->domain));
    x->sent = r->sent;
    x->deferred = r->deferred;
    x->bounced = r->bounced;
    x->expired = r->expired;
    return 0;
}

/* db_report_reason - one (status, reason, dsn) row */
static int db_report_reason(void *arg, const struct db_reason_row *r)
{
    struct db_report *d = arg;
    struct tally_reason *x;

    d->reasons = xgrow(d->reasons, &d->rcap, d->nreasons, sizeof(*d->reasons), 64);
    x = &d->reasons[d->nreasons++];
    x->status = r->status;
    str_copy(x->reason, sizeof(x->reason), r->reason, strlen(r->reason));
    str_copy(x->dsn, sizeof(x->dsn), r->dsn, strlen(r->dsn));
    x->count = r->count;
    str_copy(x->example, sizeof(x->example), r->example, strlen(r->example));
    return 0;
}

/* report_db - fill a report from the database's read side */
static void report_db(const struct cli *cli, int64_t from_us, int64_t to_us, struct db_report *d,
                      struct tally_report *rep)
{
    struct db *db = open_db(cli->dsn, 1);
    struct db_summary sum;
    struct db_query q;
    int limit = cli->top ? cli->top : 1000000;

    memset(&q, 0, sizeof(q));
    q.range.from_us = from_us;
    q.range.to_us = to_us ? to_us : INT64_MAX;
    if (db_summary(db, &q.range, &sum) != 0 ||
        db_timeseries(db, &q, DB_BUCKET_HOUR, db_report_hour, d) != 0 ||
        db_domains(db, &q, DB_ORDER_VOLUME, limit, db_report_domain, d) != 0 ||
        db_reasons(db, &q, limit, db_report_reason, d) != 0) {
        db_close(db);
        fatal("report: a database query failed (see above)");
    }
    db_close(db);
    memset(rep, 0, sizeof(*rep));
    rep->totals.received = sum.received;
    rep->totals.delivered = sum.sent;
    rep->totals.forwarded = -1;
    rep->totals.deferrals = sum.deferred;
    rep->totals.deferred = -1; /* distinct deferred messages: not in the rollups */
    rep->totals.bounced = sum.bounced;
    rep->totals.expired = sum.expired;
    rep->totals.rejected = sum.rejected;
    rep->totals.notices = -1;
    rep->totals.bytes_received = -1;
    rep->hours = d->hours;
    rep->nhours = d->nhours;
    rep->domains = d->domains;
    rep->ndomains = d->ndomains;
    rep->reasons = d->reasons;
    rep->nreasons = d->nreasons;
    if (d->nhours) {
        rep->first_us = d->hours[0].hour_us;
        rep->last_us = d->hours[d->nhours - 1].hour_us;
    }
}

/* cmd_report - a pflogsumm-style summary, from log files or from the database */
static int cmd_report(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_report, "db format from to top year mta stats", &cli);
    enum tally_format fmt = TALLY_TEXT;
    int64_t from_us = cli.from ? report_time(cli.from, "--from") : 0;
    int64_t to_us = cli.to ? report_time(cli.to, "--to") : 0;
    size_t top = cli.top ? (size_t)cli.top : 20;
    struct db_report d;
    struct tally_report rep;
    struct tally *t = NULL;
    struct buf out;
    int rc = 0;

    if (cli.format == NULL || strcmp(cli.format, "text") == 0)
        fmt = TALLY_TEXT;
    else if (strcmp(cli.format, "json") == 0)
        fmt = TALLY_JSON;
    else if (strcmp(cli.format, "csv") == 0)
        fmt = TALLY_CSV;
    else
        fatal("--format: report writes text, json or csv, not \"%s\"", cli.format);
    for (int i = 1; i < first; i++)
        if (strcmp(argv[i], "--top") == 0 || strncmp(argv[i], "--top=", 6) == 0)
            top = (size_t)cli.top; /* an explicit --top 0 lists everything */
    memset(&d, 0, sizeof(d));
    if (first < argc) {
        t = tally_create(NULL);
        rc = report_files(&cli, argv + first, argc - first, from_us, to_us, t);
        tally_report(t, &rep);
    } else if (cli.dsn[0] || getenv("PGHOST") || getenv("PGDATABASE") || getenv("PGSERVICE")) {
        report_db(&cli, from_us, to_us, &d, &rep);
    } else {
        fprintf(stderr, "mailpulse report: give log FILEs, or --db DSN to read the database\n%s",
                usage_report);
        return 2;
    }
    buf_init(&out);
    tally_format(&rep, fmt, top, &out);
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    if (fflush(stdout) != 0) {
        log_error("writing output: %s", strerror(errno));
        rc = 1;
    }
    buf_free(&out);
    tally_free(t);
    x_free(d.hours);
    x_free(d.domains);
    x_free(d.reasons);
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

/*
 * import - logs into the database: several files, a progress bar on a terminal, and a
 * database outage waited out.
 *
 * Each file is one source (its identity is its content, so a renamed copy resumes too).
 * Events go in batches of IMPORT_BATCH, each committed with the file's checkpoint; lines
 * before the checkpoint are parsed only to rebuild the queue-id context. When a commit
 * fails and the server does not answer, the import logs one warning, stops reading (the
 * batch stays in memory, so memory stays flat), and retries the same batch with capped
 * exponential backoff and jitter for up to IMPORT_RETRY_S seconds; rows an interrupted
 * attempt did commit come back as duplicates. A commit that fails while the server answers
 * is an error in the data or the schema: the import stops at once.
 */
#define IMPORT_BATCH       5000 /* events; MAILPULSE_IMPORT_BATCH overrides (tests) */
#define IMPORT_RETRY_S     900
#define IMPORT_BACKOFF_MIN 200000LL   /* microseconds */
#define IMPORT_BACKOFF_MAX 10000000LL /* microseconds */
#define PROGRESS_EVERY_US  250000

static size_t import_batch = IMPORT_BATCH;

struct import_totals {
    struct db_batch_result res;
    uint64_t events;
};

struct progress {
    int on;           /* stderr is a terminal */
    const char *name; /* the file */
    int64_t size;     /* bytes, or -1 when unknown (gzip, a pipe) */
    int64_t start_us, last_us;
    int shown; /* a line is on screen */
};

/* human_bytes - 123.4 MB style */
static void human_bytes(double v, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    size_t u = 0;

    while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1000;
        u++;
    }
    snprintf(out, outlen, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* progress_show - redraw the progress line (at most every PROGRESS_EVERY_US unless final) */
static void progress_show(struct progress *pg, int64_t done, uint64_t events, int final)
{
    int64_t now = time_now_us();
    double secs, rate;
    char d[32], t[32], eta[32] = "";

    if (!pg->on || (!final && now - pg->last_us < PROGRESS_EVERY_US))
        return;
    pg->last_us = now;
    secs = (double)(now - pg->start_us) / 1e6;
    rate = secs > 0 ? (double)events / secs : 0;
    human_bytes((double)done, d, sizeof(d));
    if (pg->size > 0) {
        double frac = (double)done / (double)pg->size;

        human_bytes((double)pg->size, t, sizeof(t));
        if (frac > 1)
            frac = 1;
        if (frac > 0 && !final) {
            long left = (long)(secs / frac - secs + 0.5);

            snprintf(eta, sizeof(eta), "  ETA %ld:%02ld", left / 60, left % 60);
        }
        fprintf(stderr, "\r\033[K%s  %3.0f%%  %s / %s  %.0f events/s%s", pg->name, frac * 100, d, t,
                rate, eta);
    } else {
        fprintf(stderr, "\r\033[K%s  %s  %.0f events/s", pg->name, d, rate);
    }
    pg->shown = 1;
}

/* progress_clear - take the progress line off the screen */
static void progress_clear(struct progress *pg)
{
    if (pg->on && pg->shown)
        fputs("\r\033[K", stderr);
    pg->shown = 0;
}

/* sleep_jitter - sleep between half and all of us microseconds */
static void sleep_jitter(int64_t us)
{
    int64_t half = us / 2;
    struct timespec ts;

    us = half + (int64_t)(random() % (half > 0 ? half : 1));
    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * The import's writer: a thread that commits one batch while the reader parses the next,
 * so that parsing and the server's work overlap. There are two batches; the reader hands a
 * full one over and waits while the writer is still busy with the other, so at most two
 * batches are in memory, also through an outage (the writer then retries, the reader waits).
 *
 * The import commits with synchronous_commit off: a server crash may then take back the
 * last commits, rows and checkpoint together. So after any outage the writer reads the
 * checkpoint again before it goes on; when it is behind the last commit the writer saw
 * succeed, the file is read again from that checkpoint (IMPORT_REWIND).
 */
#define IMPORT_REWIND 1

struct import_writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct db *db;
    const char *path, *identity;
    struct db_batch *pending; /* handed over, not yet committed */
    int64_t source_id, checkpoint;
    int64_t committed; /* the checkpoint of the last commit that succeeded */
    int result;        /* 0, -1 failed, IMPORT_REWIND */
    int quit;
    struct import_totals *tot;
    struct progress *pg;
};

/*
 * outage_wait - after a failed call: 1 to try again (the connection broke or the server is
 * away, and the wait is not over; this sleeps while the server is away), 0 to give up (the
 * server answers on an intact connection, so the failure was not an outage; or too long).
 * *since is 0 before the first failure of this call; the first outage logs the one warning.
 */
static int outage_wait(struct db *db, struct progress *pg, int64_t *since, int64_t *backoff,
                       int *up_failures)
{
    int64_t now = time_now_us();
    enum db_state st = db_state(db);

    /* The server answers: retry a transient failure (a deadlock...) a few times only. */
    if (st == DB_UP && (!db_transient(db) || ++*up_failures > 3))
        return 0;
    if (*since == 0) {
        if (st == DB_UP) {
            sleep_jitter(IMPORT_BACKOFF_MIN);
            return 1;
        }
        progress_clear(pg);
        log_warn("the database is unavailable (%s); reading paused, retrying for up to %d s",
                 db_error(db), IMPORT_RETRY_S);
        *since = now;
        *backoff = IMPORT_BACKOFF_MIN;
    } else if (now - *since > (int64_t)IMPORT_RETRY_S * 1000000) {
        return 0;
    }
    if (st == DB_DOWN) {
        *up_failures = 0;
        sleep_jitter(*backoff);
        *backoff = *backoff * 2 > IMPORT_BACKOFF_MAX ? IMPORT_BACKOFF_MAX : *backoff * 2;
    }
    return 1;
}

/* outage_over - after a success: say so once when there had been an outage */
static void outage_over(struct db *db, int64_t *since)
{
    (void)db;
    if (*since == 0)
        return;
    log_info("the database is back after %.1f s; import continues",
             (double)(time_now_us() - *since) / 1e6);
    *since = 0;
}

/* import_commit - commit b with its checkpoint, waiting out an outage; 0, -1, IMPORT_REWIND */
static int import_commit(struct import_writer *w, struct db_batch *b, int64_t checkpoint)
{
    struct db_batch_result res;
    int64_t since = 0, backoff = 0, id, cp = 0;
    int up_failures = 0, rewind = 0;

    for (;;) {
        if (since != 0) {
            /* Back after an outage: did the server keep what it acknowledged? */
            if (db_source_open(w->db, w->path, w->identity, &id, &cp) != 0) {
                if (outage_wait(w->db, w->pg, &since, &backoff, &up_failures))
                    continue;
                break;
            }
            if (cp < w->committed) {
                rewind = 1;
                break;
            }
        }
        if (db_batch_commit(b, w->source_id, checkpoint, &res) == 0) {
            outage_over(w->db, &since);
            w->committed = checkpoint;
            w->tot->res.inserted += res.inserted;
            w->tot->res.duplicates += res.duplicates;
            w->tot->res.repaired += res.repaired;
            return 0;
        }
        if (!outage_wait(w->db, w->pg, &since, &backoff, &up_failures))
            break;
    }
    progress_clear(w->pg);
    if (rewind) {
        outage_over(w->db, &since);
        log_info("%s: the server lost commits in the outage; reading again from byte %lld", w->path,
                 (long long)cp);
        return IMPORT_REWIND;
    }
    if (since != 0)
        log_error("import stopped: the database has been unavailable for %d s; run the import "
                  "again to continue from the last committed line",
                  IMPORT_RETRY_S);
    else
        log_error("import stopped: the batch could not be stored: %s; run the import again "
                  "to continue from the last committed line",
                  db_error(w->db));
    return -1;
}

/* import_source - register the file as a source, waiting out an outage; 0 or -1 */
static int import_source(struct db *db, const char *path, const char *identity, int64_t *id,
                         int64_t *checkpoint, struct progress *pg)
{
    int64_t since = 0, backoff = 0;
    int up_failures = 0;

    for (;;) {
        if (db_source_open(db, path, identity, id, checkpoint) == 0) {
            outage_over(db, &since);
            return 0;
        }
        if (!outage_wait(db, pg, &since, &backoff, &up_failures))
            break;
    }
    log_error("cannot register %s as a source in the database: %s", path, db_error(db));
    return -1;
}

/* writer_main - commit what is handed over until told to quit or a commit fails */
static void *writer_main(void *arg)
{
    struct import_writer *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->pending == NULL && !w->quit)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->pending == NULL)
            break;
        pthread_mutex_unlock(&w->lock);
        /* The db and the totals are the writer's while a batch is pending. */
        int rc = import_commit(w, w->pending, w->checkpoint);
        pthread_mutex_lock(&w->lock);
        w->result = rc;
        w->pending = NULL;
        pthread_cond_broadcast(&w->cond);
        if (rc != 0)
            break;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* writer_wait - until the writer is idle; its result (0, -1, IMPORT_REWIND) */
static int writer_wait(struct import_writer *w)
{
    int rc;

    pthread_mutex_lock(&w->lock);
    while (w->pending != NULL)
        pthread_cond_wait(&w->cond, &w->lock);
    rc = w->result;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* writer_hand - give the writer batch *b to commit; *b becomes the idle one */
static int writer_hand(struct import_writer *w, struct db_batch **b, struct db_batch **spare,
                       int64_t checkpoint)
{
    struct db_batch *t;
    int rc = writer_wait(w);

    if (rc != 0)
        return rc;
    pthread_mutex_lock(&w->lock);
    w->pending = *b;
    w->checkpoint = checkpoint;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    t = *b;
    *b = *spare;
    *spare = t;
    return 0;
}

/*
 * import_file - one file into the database, resuming after its checkpoint: 0, -1, or
 * IMPORT_REWIND when it must be read again (with a fresh parser) from the checkpoint
 */
static int import_file(struct db *db, struct parser *p, const char *path)
{
    char err[512];
    struct lineread *lr = lr_open(path, err, sizeof(err));
    struct db_batch *b, *spare;
    struct import_totals tot;
    struct import_writer w;
    struct progress pg;
    struct event ev;
    struct stat st;
    int64_t source_id = 0, checkpoint = 0, pos, next = 0;
    size_t plen = strlen(path);
    const char *line;
    size_t len;
    int r, opened = 0, rc = 0;

    if (lr == NULL) {
        log_error("%s", err);
        return -1;
    }
    memset(&tot, 0, sizeof(tot));
    memset(&pg, 0, sizeof(pg));
    pg.on = isatty(STDERR_FILENO) && log_get_level() > LOG_LEVEL_DEBUG;
    pg.name = path;
    pg.size = -1;
    /* Positions count decompressed bytes: a gzip file's size says nothing about them. */
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        !(plen > 3 && strcmp(path + plen - 3, ".gz") == 0))
        pg.size = (int64_t)st.st_size;
    pg.start_us = time_now_us();
    pg.last_us = pg.start_us; /* the first line after PROGRESS_EVERY_US, with a real rate */
    b = db_batch_create(db);
    spare = db_batch_create(db);
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    w.db = db;
    w.path = path;
    w.tot = &tot;
    w.pg = &pg;
    while ((r = lr_next(lr, &line, &len, &pos)) == 1) {
        if (!opened) {
            if (import_source(db, path, lr_identity(lr), &source_id, &checkpoint, &pg) != 0) {
                rc = -1;
                break;
            }
            opened = 1;
            w.identity = lr_identity(lr);
            w.source_id = source_id;
            w.committed = checkpoint;
            if (pthread_create(&w.thread, NULL, writer_main, &w) != 0)
                fatal("cannot start the writer thread");
        }
        next = pos + (int64_t)len + 1;
        progress_show(&pg, next, tot.events, 0);
        /* Lines before the checkpoint are parsed only to rebuild the queue-id context. */
        if (parser_line(p, line, len, &ev) != PARSE_EVENT || pos < checkpoint)
            continue;
        db_batch_add(b, source_id, pos, &ev);
        tot.events++;
        if (db_batch_count(b) >= import_batch) {
            rc = writer_hand(&w, &b, &spare, next);
            if (rc != 0)
                break;
        }
    }
    if (opened) {
        if (rc == 0 && next > checkpoint)
            rc = writer_hand(&w, &b, &spare, next);
        if (rc == 0)
            rc = writer_wait(&w);
        pthread_mutex_lock(&w.lock);
        w.quit = 1;
        pthread_cond_broadcast(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(w.thread, NULL);
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    progress_clear(&pg);
    db_batch_free(b);
    db_batch_free(spare);
    lr_close(lr);
    if (rc != 0)
        return rc;
    if (r < 0)
        return -1;
    printf("%s: %llu events read after the checkpoint, %llu stored, %llu already present, "
           "%llu strings repaired\n",
           path, (unsigned long long)tot.events, (unsigned long long)tot.res.inserted,
           (unsigned long long)tot.res.duplicates, (unsigned long long)tot.res.repaired);
    fflush(stdout);
    return 0;
}

/* cmd_import - load logs into the database */
static int cmd_import(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_import, "db year mta", &cli);
    const char *batch_env = getenv("MAILPULSE_IMPORT_BATCH");
    struct db *db;
    int rc = 0;

    if (first >= argc) {
        fputs(usage_import, stderr);
        return 2;
    }
    /* A missing file is reported before anything is stored. */
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-") != 0 && access(argv[i], R_OK) != 0)
            fatal("cannot read %s: %s", argv[i], strerror(errno));
    }
    if (batch_env != NULL) {
        long n = strtol(batch_env, NULL, 10);

        if (n >= 1 && n <= 1000000)
            import_batch = (size_t)n;
    }
    srandom((unsigned)(time_now_us() ^ getpid()));
    db = open_db(cli.dsn, 1);
    /* Safe here: after an outage the writer checks the checkpoint (see import_writer). */
    db_async_commit(db, 1);
    /* The import logs its own one line for an outage or a failure, with db_error()'s text. */
    db_quiet(db, 1);
    for (int i = first; i < argc && rc == 0; i++) {
        int r, rewinds = 0;

        do {
            /* Each file gets a fresh parser: queue ids are correlated within one log. */
            struct parser *p = make_parser(&cli);

            r = import_file(db, p, argv[i]);
            parser_free(p);
        } while (r == IMPORT_REWIND && strcmp(argv[i], "-") != 0 && ++rewinds < 10);
        if (r != 0)
            rc = 1;
    }
    db_close(db);
    return rc;
}

/* cmd_db - migrate, status, retention, rebuild-rollups */
static int cmd_db(int argc, char **argv)
{
    struct cli cli;
    int first = cli_parse(argc, argv, usage_db, "db days", &cli);
    const char *what = first < argc ? argv[first] : "";
    struct db *db;
    int rc;

    if (first + 1 != argc ||
        (strcmp(what, "migrate") != 0 && strcmp(what, "status") != 0 &&
         strcmp(what, "retention") != 0 && strcmp(what, "rebuild-rollups") != 0)) {
        fputs(usage_db, stderr);
        return 2;
    }
    if (strcmp(what, "retention") == 0 && cli.days < 1)
        fatal("db retention wants --days N (N >= 1)");
    db = open_db(cli.dsn, strcmp(what, "retention") == 0 || strcmp(what, "rebuild-rollups") == 0);
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
    } else {
        int64_t rows = 0;

        rc = db_rebuild_rollups(db, &rows);
        if (rc == 0)
            printf("rebuilt the rollups: %lld rows\n", (long long)rows);
    }
    db_close(db);
    return rc == 0 ? 0 : 1;
}

/*
 * serve - the daemon: configuration (INI file, then the command line on top), one reader per
 * source, batches committed with each source's checkpoint, signals, lock, readiness, metrics.
 *
 * A source is a [source NAME] section: type=file (path= globs, backfill=), type=journald
 * (match=, journal_directory=) or type=syslog (listen=). Each file that a file source follows
 * has its own parser (queue ids are correlated within one log) and its own batch, committed
 * every BATCH_EVENTS events, after BATCH_MAX_AGE_US, when the reader is idle, and at each
 * segment end (a rotated file finished). A commit that fails is retried with capped backoff
 * while reading pauses; the rows come again from the checkpoint after a crash, and the unique
 * (source, position) key makes a replay harmless.
 */

#define SERVE_CONFIG    "/etc/mailpulse.conf"
#define SERVE_STATE_DIR "/var/lib/mailpulse"
#define SERVE_MAX_SRC   64
#define SERVE_MAX_PATHS 16
#define SERVE_MAX_RUNS  256
#define SERVE_BURST     20000 /* lines read from one source before the next gets a turn */

enum src_type { SRC_FILE, SRC_JOURNALD, SRC_SYSLOG };

struct src_conf {
    char *name;
    enum src_type type;
    char *paths[SERVE_MAX_PATHS]; /* file: globs */
    int npaths;
    int backfill;
    char *matches[SERVE_MAX_PATHS]; /* journald: FIELD=value, OR-ed */
    int nmatches;
    char *journal_dir; /* journald: a directory of journal files; NULL: the local journal */
    char *listen;      /* syslog: "udp://127.0.0.1:5514 tcp://127.0.0.1:5514" */
};

struct serve_conf {
    char *config_path;
    int config_given;    /* --config named it: it must exist */
    int check_only;      /* --check-config */
    int state_dir_given; /* state_dir= or --state-dir: no fallback */
    char *dsn, *listen, *state_dir;
    char *token_file, *tls_cert, *tls_key;
    int year;
    enum event_mta mta;
    int level;
    int poll_ms, rotate_wait_ms, stop_timeout_s;
    int retention_days; /* 0: keep everything */
    struct src_conf src[SERVE_MAX_SRC];
    int nsrc;
    char *sniff_iface, *sniff_ports; /* [sniff] interface=, ports= (issue 8) */
    int sniff_promisc;               /* [sniff] promisc= */
};

static const char usage_serve[] =
    "usage: mailpulse serve [--config FILE] [--db DSN] [--listen ADDR:PORT] [--log FILE]...\n"
    "                       [--backfill] [--journal] [--journal-directory DIR]\n"
    "                       [--journal-match FIELD=VALUE]... [--syslog-listen URL...]\n"
    "                       [--state-dir DIR] [--year Y] [--mta M] [--log-level LEVEL]\n"
    "                       [--poll-interval MS] [--rotate-wait MS] [--stop-timeout S]\n"
    "                       [--retention-days N]\n"
    "                       [--token-file FILE] [--tls-cert FILE --tls-key FILE] [--foreground]\n"
    "                       [--check-config]\n"
    "                       [--sniff IFACE] [--sniff-ports 25,465,587,2525]\n"
    "\n"
    "Follow the configured sources, store their events in PostgreSQL, and serve the HTTP API\n"
    "on ADDR:PORT (default 127.0.0.1:8025). The configuration is read from FILE (default\n"
    "/etc/mailpulse.conf, when it exists); options on the command line override it, and\n"
    "--log, --journal* and --syslog-listen add sources to the configured ones.\n"
    "SIGTERM or SIGINT commits what was read and exits 0 (within --stop-timeout seconds);\n"
    "SIGHUP reopens the log files and reloads the configuration. mailpulse never forks:\n"
    "--foreground is the only mode (run it from systemd, Type=notify). --check-config reads\n"
    "the configuration, prints the sources and exits (0 when it is valid).\n";

enum serve_opt {
    SO_CONFIG = 512,
    SO_DB,
    SO_LISTEN,
    SO_LOG,
    SO_BACKFILL,
    SO_JOURNAL,
    SO_JDIR,
    SO_JMATCH,
    SO_SYSLOG,
    SO_STATE,
    SO_YEAR,
    SO_MTA,
    SO_LEVEL,
    SO_POLL,
    SO_RWAIT,
    SO_STOPT,
    SO_RETENTION,
    SO_TOKEN,
    SO_CERT,
    SO_KEY,
    SO_FG,
    SO_SNIFF,
    SO_SNIFF_PORTS,
    SO_CHECK
};

static const struct option serve_opts[] = {
    {"config", required_argument, NULL, SO_CONFIG},
    {"db", required_argument, NULL, SO_DB},
    {"listen", required_argument, NULL, SO_LISTEN},
    {"log", required_argument, NULL, SO_LOG},
    {"backfill", no_argument, NULL, SO_BACKFILL},
    {"journal", no_argument, NULL, SO_JOURNAL},
    {"journal-directory", required_argument, NULL, SO_JDIR},
    {"journal-match", required_argument, NULL, SO_JMATCH},
    {"syslog-listen", required_argument, NULL, SO_SYSLOG},
    {"state-dir", required_argument, NULL, SO_STATE},
    {"year", required_argument, NULL, SO_YEAR},
    {"mta", required_argument, NULL, SO_MTA},
    {"log-level", required_argument, NULL, SO_LEVEL},
    {"poll-interval", required_argument, NULL, SO_POLL},
    {"rotate-wait", required_argument, NULL, SO_RWAIT},
    {"stop-timeout", required_argument, NULL, SO_STOPT},
    {"retention-days", required_argument, NULL, SO_RETENTION},
    {"token-file", required_argument, NULL, SO_TOKEN},
    {"tls-cert", required_argument, NULL, SO_CERT},
    {"tls-key", required_argument, NULL, SO_KEY},
    {"foreground", no_argument, NULL, SO_FG},
    {"check-config", no_argument, NULL, SO_CHECK},
    {"sniff", required_argument, NULL, SO_SNIFF},
    {"sniff-ports", required_argument, NULL, SO_SNIFF_PORTS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* conf_set - replace a configured string */
static void conf_set(char **dst, const char *value)
{
    x_free(*dst);
    *dst = xstrdup(value);
}

/* conf_int - a bounded integer option; -1 and a message in err when it is not one */
static int conf_int(const char *what, const char *value, long lo, long hi, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi) {
        log_error("%s wants a whole number from %ld to %ld, not \"%s\"", what, lo, hi, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* conf_bool - yes/no, true/false, on/off, 1/0 */
static int conf_bool(const char *what, const char *value, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};

    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(value, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(value, no[i]) == 0)
            return *out = 0, 0;
    }
    log_error("%s wants yes or no, not \"%s\"", what, value);
    return -1;
}

/* conf_level - a log level name */
static int conf_level(const char *value, int *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcasecmp(value, names[i]) == 0)
            return *out = (int)i, 0;
    log_error("log_level wants debug, info, warn or error, not \"%s\"", value);
    return -1;
}

/* conf_source - the source named name, made when new; NULL (logged) when the name is bad */
static struct src_conf *conf_source(struct serve_conf *c, const char *name, enum src_type type)
{
    if (name[0] == 0 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") != strlen(name) ||
        name[0] == '.') {
        log_error("a source name is letters, digits, '_', '.' and '-', not \"%s\"", name);
        return NULL;
    }
    for (int i = 0; i < c->nsrc; i++)
        if (strcmp(c->src[i].name, name) == 0)
            return &c->src[i];
    if (c->nsrc == SERVE_MAX_SRC) {
        log_error("more than %d sources", SERVE_MAX_SRC);
        return NULL;
    }
    c->src[c->nsrc].name = xstrdup(name);
    c->src[c->nsrc].type = type;
    return &c->src[c->nsrc++];
}

/* conf_add - append a value to a list option */
static int conf_add(char **list, int *n, const char *value)
{
    if (*n == SERVE_MAX_PATHS) {
        log_error("more than %d values for one list option", SERVE_MAX_PATHS);
        return -1;
    }
    list[(*n)++] = xstrdup(value);
    return 0;
}

/* conf_global - a key of [serve] (and of [web]) */
static int conf_global(struct serve_conf *c, const char *key, const char *value)
{
    if (strcmp(key, "db") == 0)
        conf_set(&c->dsn, value);
    else if (strcmp(key, "listen") == 0)
        conf_set(&c->listen, value);
    else if (strcmp(key, "state_dir") == 0) {
        conf_set(&c->state_dir, value);
        c->state_dir_given = 1;
    } else if (strcmp(key, "token_file") == 0)
        conf_set(&c->token_file, value);
    else if (strcmp(key, "tls_cert") == 0)
        conf_set(&c->tls_cert, value);
    else if (strcmp(key, "tls_key") == 0)
        conf_set(&c->tls_key, value);
    else if (strcmp(key, "year") == 0)
        return conf_int("year", value, 1970, 9999, &c->year);
    else if (strcmp(key, "mta") == 0)
        c->mta = mta_option(value);
    else if (strcmp(key, "log_level") == 0)
        return conf_level(value, &c->level);
    else if (strcmp(key, "poll_interval_ms") == 0)
        return conf_int("poll_interval_ms", value, 10, 60000, &c->poll_ms);
    else if (strcmp(key, "retention_days") == 0)
        return conf_int("retention_days", value, 0, 36500, &c->retention_days);
    else if (strcmp(key, "rotate_wait_ms") == 0)
        return conf_int("rotate_wait_ms", value, 0, 3600000, &c->rotate_wait_ms);
    else if (strcmp(key, "stop_timeout") == 0)
        return conf_int("stop_timeout", value, 1, 3600, &c->stop_timeout_s);
    else {
        log_error("unknown option \"%s\"", key);
        return -1;
    }
    return 0;
}

/* conf_src_key - a key of a [source NAME] section */
static int conf_src_key(struct src_conf *s, const char *key, const char *value)
{
    if (strcmp(key, "type") == 0) {
        if (strcmp(value, "file") == 0)
            s->type = SRC_FILE;
        else if (strcmp(value, "journald") == 0)
            s->type = SRC_JOURNALD;
        else if (strcmp(value, "syslog") == 0)
            s->type = SRC_SYSLOG;
        else {
            log_error("type wants file, journald or syslog, not \"%s\"", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "path") == 0)
        return conf_add(s->paths, &s->npaths, value);
    if (strcmp(key, "backfill") == 0)
        return conf_bool("backfill", value, &s->backfill);
    if (strcmp(key, "match") == 0)
        return conf_add(s->matches, &s->nmatches, value);
    if (strcmp(key, "journal_directory") == 0) {
        conf_set(&s->journal_dir, value);
        return 0;
    }
    if (strcmp(key, "listen") == 0) {
        conf_set(&s->listen, value);
        return 0;
    }
    log_error("unknown source option \"%s\"", key);
    return -1;
}

/* conf_sniff - a key of the [sniff] section (also --sniff-ports) */
static int conf_sniff(struct serve_conf *c, const char *key, const char *value)
{
    uint16_t ports[SNIFF_MAX_PORTS];

    if (strcmp(key, "interface") == 0) {
        conf_set(&c->sniff_iface, value);
        return 0;
    }
    if (strcmp(key, "ports") == 0) {
        if (sniff_parse_ports(value, ports, SNIFF_MAX_PORTS) < 0) {
            log_error("[sniff] ports wants a list like 25,465,587, not \"%s\"", value);
            return -1;
        }
        conf_set(&c->sniff_ports, value);
        return 0;
    }
    if (strcmp(key, "promisc") == 0)
        return conf_bool("[sniff] promisc", value, &c->sniff_promisc);
    log_error("unknown [sniff] option \"%s\"", key);
    return -1;
}

/* conf_handler - libinih's callback: 1 to go on, 0 on an error (logged) */
static int conf_handler(void *user, const char *section, const char *key, const char *value)
{
    struct serve_conf *c = user;

    if (section[0] == 0 || strcmp(section, "serve") == 0 || strcmp(section, "web") == 0)
        return conf_global(c, key, value) == 0;
    if (strncmp(section, "source ", 7) == 0) {
        struct src_conf *s = conf_source(c, section + 7, SRC_FILE);

        return s != NULL && conf_src_key(s, key, value) == 0;
    }
    if (strcmp(section, "sniff") == 0)
        return conf_sniff(c, key, value) == 0;
    log_error("unknown section [%s]", section);
    return 0;
}

/* conf_free - free every string */
static void conf_free(struct serve_conf *c)
{
    x_free(c->config_path);
    x_free(c->dsn);
    x_free(c->listen);
    x_free(c->state_dir);
    x_free(c->token_file);
    x_free(c->tls_cert);
    x_free(c->tls_key);
    x_free(c->sniff_iface);
    x_free(c->sniff_ports);
    for (int i = 0; i < c->nsrc; i++) {
        struct src_conf *s = &c->src[i];

        x_free(s->name);
        for (int j = 0; j < s->npaths; j++)
            x_free(s->paths[j]);
        for (int j = 0; j < s->nmatches; j++)
            x_free(s->matches[j]);
        x_free(s->journal_dir);
        x_free(s->listen);
    }
    memset(c, 0, sizeof(*c));
}

/* conf_cli - apply the command line (pass 0: only --config; pass 1: everything else) */
static int conf_cli(struct serve_conf *c, int argc, char **argv, int pass)
{
    int ch, logs = 0, rc = 0, backfill = 0;
    struct src_conf *s;

    optind = 1;
    opterr = pass == 0;
    while ((ch = getopt_long(argc, argv, "h", serve_opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage_serve, stdout);
            exit(0);
        }
        if (ch == '?') {
            fputs(usage_serve, stderr);
            exit(2);
        }
        if ((pass == 0) != (ch == SO_CONFIG))
            continue;
        switch (ch) {
        case SO_CONFIG:
            conf_set(&c->config_path, optarg);
            c->config_given = 1;
            break;
        case SO_DB:
            conf_set(&c->dsn, optarg);
            break;
        case SO_LISTEN:
            conf_set(&c->listen, optarg);
            break;
        case SO_LOG: {
            /* Named by the path, so two daemons following two files never share a lock. */
            char name[64];

            snprintf(name, sizeof(name), "log-%016llx",
                     (unsigned long long)hash_fnv1a64(optarg, strlen(optarg)));
            s = conf_source(c, name, SRC_FILE);
            if (s == NULL || conf_add(s->paths, &s->npaths, optarg) != 0)
                rc = -1;
            logs++;
            break;
        }
        case SO_BACKFILL:
            backfill = 1;
            break;
        case SO_JOURNAL:
            if (conf_source(c, "journal", SRC_JOURNALD) == NULL)
                rc = -1;
            break;
        case SO_JDIR:
            s = conf_source(c, "journal", SRC_JOURNALD);
            if (s == NULL)
                rc = -1;
            else
                conf_set(&s->journal_dir, optarg);
            break;
        case SO_JMATCH:
            s = conf_source(c, "journal", SRC_JOURNALD);
            if (s == NULL || conf_add(s->matches, &s->nmatches, optarg) != 0)
                rc = -1;
            break;
        case SO_SYSLOG:
            s = conf_source(c, "syslog", SRC_SYSLOG);
            if (s == NULL)
                rc = -1;
            else
                conf_set(&s->listen, optarg);
            break;
        case SO_STATE:
            conf_set(&c->state_dir, optarg);
            c->state_dir_given = 1;
            break;
        case SO_YEAR:
            rc |= conf_int("--year", optarg, 1970, 9999, &c->year);
            break;
        case SO_MTA:
            c->mta = mta_option(optarg);
            break;
        case SO_LEVEL:
            rc |= conf_level(optarg, &c->level);
            break;
        case SO_POLL:
            rc |= conf_int("--poll-interval", optarg, 10, 60000, &c->poll_ms);
            break;
        case SO_RWAIT:
            rc |= conf_int("--rotate-wait", optarg, 0, 3600000, &c->rotate_wait_ms);
            break;
        case SO_STOPT:
            rc |= conf_int("--stop-timeout", optarg, 1, 3600, &c->stop_timeout_s);
            break;
        case SO_RETENTION:
            rc |= conf_int("--retention-days", optarg, 0, 36500, &c->retention_days);
            break;
        case SO_TOKEN:
            conf_set(&c->token_file, optarg);
            break;
        case SO_CERT:
            conf_set(&c->tls_cert, optarg);
            break;
        case SO_KEY:
            conf_set(&c->tls_key, optarg);
            break;
        case SO_SNIFF:
            conf_set(&c->sniff_iface, optarg);
            break;
        case SO_SNIFF_PORTS:
            rc |= conf_sniff(c, "ports", optarg);
            break;
        case SO_CHECK:
            c->check_only = 1;
            break;
        default: /* SO_FG: the only mode */
            break;
        }
    }
    if (pass == 1 && optind < argc) {
        log_error("serve takes no operands (\"%s\"); use --log FILE", argv[optind]);
        rc = -1;
    }
    if (backfill)
        for (int i = 0; i < c->nsrc; i++)
            if (strncmp(c->src[i].name, "log-", 4) == 0)
                c->src[i].backfill = 1;
    (void)logs;
    return rc;
}

/* conf_load - defaults, then the config file, then the command line; -1 (logged) on error */
static int conf_load(struct serve_conf *c, int argc, char **argv)
{
    const char *env_dsn = getenv("MAILPULSE_DB"), *env_state = getenv("STATE_DIRECTORY");
    int line;

    memset(c, 0, sizeof(*c));
    c->dsn = xstrdup(env_dsn ? env_dsn : "");
    c->listen = xstrdup("127.0.0.1:8025");
    /* systemd's StateDirectory= sets $STATE_DIRECTORY (a list; the first one is ours). */
    c->state_dir = xstrdup(env_state && env_state[0] ? env_state : SERVE_STATE_DIR);
    c->state_dir[strcspn(c->state_dir, ":")] = 0;
    c->level = getenv("MAILPULSE_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    c->poll_ms = 250;
    c->rotate_wait_ms = 1000;
    c->stop_timeout_s = 10;
    c->config_path = xstrdup(SERVE_CONFIG);
    if (conf_cli(c, argc, argv, 0) != 0)
        return -1;
    if (c->config_given || access(c->config_path, F_OK) == 0) {
        line = ini_parse(c->config_path, conf_handler, c);
        if (line < 0) {
            log_error("cannot read the configuration %s: %s", c->config_path,
                      line == -1 ? strerror(errno) : "out of memory");
            return -1;
        }
        if (line > 0) {
            log_error("%s line %d: the line above is wrong", c->config_path, line);
            return -1;
        }
    }
    if (conf_cli(c, argc, argv, 1) != 0)
        return -1;
    for (int i = 0; i < c->nsrc; i++) {
        struct src_conf *s = &c->src[i];

        if (s->type == SRC_FILE && s->npaths == 0) {
            log_error("source %s: type=file needs path=", s->name);
            return -1;
        }
        if (s->type == SRC_SYSLOG && s->listen == NULL)
            s->listen = xstrdup("udp://127.0.0.1:514 tcp://127.0.0.1:514");
    }
    if (c->nsrc == 0 && (c->sniff_iface == NULL || c->sniff_iface[0] == 0)) {
        log_error("no source to read: give --log FILE, or [source NAME] sections in %s",
                  c->config_path);
        return -1;
    }
    return 0;
}

/* The daemon's state, shared with the web thread (under lock) for /healthz and /metrics. */
struct ingest {
    pthread_mutex_t lock;
    struct web_ingest_status st;
};

/* One reader: a file a file source follows, a journal, or a syslog listener. */
struct run {
    char name[80]; /* the source name */
    char path[4096];
    enum src_type type;
    struct follow *f;
    struct journal_in *j;
    struct syslog_in *sl;
    struct parser *p;
    struct db_batch *b;
    int64_t sid;       /* the database source the lines belong to; 0 before the first */
    int64_t next;      /* its checkpoint after the last line read */
    int64_t committed; /* the checkpoint last committed */
    int64_t batch_start;
};

struct serve {
    struct serve_conf conf;
    struct db *db;
    struct ingest in;
    struct notify *notify;
    struct run *runs[SERVE_MAX_RUNS];
    int nruns;
    int locks[SERVE_MAX_SRC];
    char *lock_names[SERVE_MAX_SRC];
    int nlocks;
    int64_t backoff_us;
    int open_failing; /* db_source_open failed: quiet until it works again */
    uint64_t batches, retries;
    struct serve_sniff *sniff; /* the [sniff] capture, NULL when off (issue 8) */
    int64_t retention_due_us;  /* when retention runs next */
};

static volatile sig_atomic_t stop_requested, reload_requested, stop_timeout_s = 10;

/* on_stop - SIGTERM, SIGINT: stop reading, commit; the deadline covers a hung commit too */
static void on_stop(int sig)
{
    (void)sig;
    if (!stop_requested)
        alarm((unsigned)stop_timeout_s);
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

/* on_deadline - the stop took longer than --stop-timeout: leave; the checkpoint is safe */
static void on_deadline(int sig)
{
    static const char msg[] = "mailpulse: warning: stop deadline passed; uncommitted lines are "
                              "read again at the next start\n";

    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(0);
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

/* serve_commit - store a run's batch and checkpoint; on failure back off and retry */
static int serve_commit(struct serve *s, struct run *r)
{
    struct db_batch_result res;

    if (r->sid == 0 || (db_batch_count(r->b) == 0 && r->next <= r->committed))
        return 0;
    memset(&res, 0, sizeof(res));
    for (;;) {
        int ok = db_batch_commit(r->b, r->sid, r->next, &res) == 0;

        pthread_mutex_lock(&s->in.lock);
        s->in.st.db_up = ok;
        if (ok) {
            s->in.st.last_commit_us = time_now_us();
            s->in.st.batches = ++s->batches;
        } else {
            s->in.st.retries = ++s->retries;
        }
        pthread_mutex_unlock(&s->in.lock);
        if (ok) {
            if (s->backoff_us > BACKOFF_MIN_US) {
                db_quiet(s->db, 0);
                log_info("database is back; ingest resumed");
            }
            s->backoff_us = BACKOFF_MIN_US;
            r->committed = r->next;
            return 0;
        }
        if (stop_requested)
            return -1; /* the rows stay uncommitted; the checkpoint makes them come again */
        if (s->backoff_us == BACKOFF_MIN_US) {
            log_warn("cannot store events; reading paused, retrying with backoff");
            db_quiet(s->db, 1); /* one warning per outage, not one per attempt */
        }
        sleep_us(s->backoff_us + random() % (s->backoff_us / 2 + 1));
        s->backoff_us = s->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : s->backoff_us * 2;
    }
}

/* serve_open_source - the callback readers use: content identity -> source and checkpoint */
static int serve_open_source(void *arg, const char *name, const char *identity, int64_t *source_id,
                             int64_t *checkpoint)
{
    struct serve *s = arg;

    if (db_source_open(s->db, name, identity, source_id, checkpoint) == 0) {
        if (s->open_failing) {
            db_quiet(s->db, 0);
            s->open_failing = 0;
        }
        return 0;
    }
    if (!s->open_failing) {
        log_warn("cannot look up the source of %s; retrying", name);
        db_quiet(s->db, 1);
        s->open_failing = 1;
    }
    pthread_mutex_lock(&s->in.lock);
    s->in.st.db_up = 0;
    pthread_mutex_unlock(&s->in.lock);
    return -1;
}

/* serve_lock - the advisory lock of one source: a second daemon on it refuses to start */
static int serve_lock(struct serve *s, const char *name)
{
    char path[4096], pid[32];
    int fd;
    ssize_t n;

    for (int i = 0; i < s->nlocks; i++)
        if (strcmp(s->lock_names[i], name) == 0)
            return 0;
    snprintf(path, sizeof(path), "%s/%s.lock", s->conf.state_dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot open the lock %s: %s (set state_dir or --state-dir)", path,
                  strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        log_error("source %s is already being read by another mailpulse (pid %s, lock %s); "
                  "refusing to read it twice",
                  name, pid[0] ? pid : "unknown", path);
        close(fd);
        return -1;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("cannot write the pid into %s: %s", path, strerror(errno));
    s->locks[s->nlocks] = fd;
    s->lock_names[s->nlocks++] = xstrdup(name);
    return 0;
}

/* run_add - a reader for one followed file (or journal, or listener) of a source */
static struct run *run_add(struct serve *s, const struct src_conf *sc, const char *path)
{
    struct cli pc;
    struct run *r;

    for (int i = 0; i < s->nruns; i++) {
        if (strcmp(s->runs[i]->path, path) != 0)
            continue;
        if (strcmp(s->runs[i]->name, sc->name) != 0)
            log_warn("source %s: %s is already followed by source %s; not twice", sc->name, path,
                     s->runs[i]->name);
        return NULL; /* already read */
    }
    if (s->nruns == SERVE_MAX_RUNS) {
        log_warn("more than %d files to follow; %s is left out", SERVE_MAX_RUNS, path);
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", sc->name);
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->type = sc->type;
    memset(&pc, 0, sizeof(pc));
    pc.year = s->conf.year;
    pc.mta = s->conf.mta;
    r->p = make_parser(&pc);
    r->b = db_batch_create(s->db);
    s->runs[s->nruns++] = r;
    return r;
}

/* run_file - follow one file of a file source */
static void run_file(struct serve *s, const struct src_conf *sc, const char *path)
{
    struct follow_opts fo;
    char state[4096];
    struct run *r = run_add(s, sc, path);

    if (r == NULL)
        return;
    /* The state file remembers which file was live, to finish it after a rotation. */
    snprintf(state, sizeof(state), "%s/%s.%016llx.state", s->conf.state_dir, sc->name,
             (unsigned long long)hash_fnv1a64(path, strlen(path)));
    memset(&fo, 0, sizeof(fo));
    fo.name = path;
    fo.path = path;
    fo.state_path = state;
    fo.backfill = sc->backfill;
    fo.rotate_wait_us = (int64_t)s->conf.rotate_wait_ms * 1000;
    fo.open_source = serve_open_source;
    fo.arg = s;
    r->f = follow_open(&fo);
    notify_watch(s->notify, path);
    log_info("source %s: following %s%s", sc->name, path, sc->backfill ? " (backfill)" : "");
}

/* serve_journal - a journald source */
static int serve_journal(struct serve *s, const struct src_conf *sc)
{
    struct journal_opts jo;
    struct run *r;
    char err[512];

    for (int i = 0; i < s->nruns; i++)
        if (strcmp(s->runs[i]->name, sc->name) == 0)
            return 0; /* running (a reload) */
    memset(&jo, 0, sizeof(jo));
    jo.name = sc->name;
    jo.directory = sc->journal_dir;
    jo.matches = sc->matches;
    jo.nmatches = (size_t)sc->nmatches;
    jo.open_source = serve_open_source;
    jo.arg = s;
    r = run_add(s, sc, sc->journal_dir ? sc->journal_dir : "journal");
    if (r == NULL)
        return 0;
    r->j = journal_open(&jo, err, sizeof(err));
    if (r->j == NULL) {
        log_error("source %s: %s", sc->name, err);
        return -1;
    }
    log_info("source %s: reading the journal%s%s", sc->name, sc->journal_dir ? " in " : "",
             sc->journal_dir ? sc->journal_dir : "");
    return 0;
}

/* serve_syslog - a syslog listener source */
static int serve_syslog(struct serve *s, const struct src_conf *sc)
{
    struct syslog_opts so;
    struct run *r;
    char err[512];

    for (int i = 0; i < s->nruns; i++)
        if (strcmp(s->runs[i]->name, sc->name) == 0)
            return 0;
    memset(&so, 0, sizeof(so));
    so.name = sc->name;
    so.listen = sc->listen;
    so.open_source = serve_open_source;
    so.arg = s;
    r = run_add(s, sc, sc->listen);
    if (r == NULL)
        return 0;
    r->sl = syslog_open(&so, err, sizeof(err));
    if (r->sl == NULL) {
        log_error("source %s: %s", sc->name, err);
        return -1;
    }
    syslog_watch(r->sl, s->notify);
    return 0;
}

/* serve_sources - start a reader for every source (new ones only, after a reload) */
static int serve_sources(struct serve *s)
{
    for (int i = 0; i < s->conf.nsrc; i++) {
        const struct src_conf *sc = &s->conf.src[i];

        if (serve_lock(s, sc->name) != 0)
            return -1;
        switch (sc->type) {
        case SRC_FILE:
            for (int k = 0; k < sc->npaths; k++) {
                glob_t g;
                int found = 0;

                if (strpbrk(sc->paths[k], "*?[") == NULL) {
                    run_file(s, sc, sc->paths[k]); /* may not exist yet: waited for */
                    continue;
                }
                if (glob(sc->paths[k], 0, NULL, &g) == 0) {
                    for (size_t m = 0; m < g.gl_pathc; m++)
                        if (!follow_rotated_name(g.gl_pathv[m])) {
                            run_file(s, sc, g.gl_pathv[m]);
                            found = 1;
                        }
                    globfree(&g);
                }
                if (!found)
                    log_warn("source %s: nothing matches %s yet (looked again on SIGHUP)", sc->name,
                             sc->paths[k]);
            }
            break;
        case SRC_JOURNALD:
            if (serve_journal(s, sc) != 0)
                return -1;
            break;
        case SRC_SYSLOG:
            if (serve_syslog(s, sc) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* run_line - one line read: parse, add its events, commit when the batch is full */
static void run_line(struct serve *s, struct run *r, const struct follow_line *ln)
{
    struct event ev;
    enum parse_result pr;

    if (ln->source_id != r->sid) {
        serve_commit(s, r); /* the rows of the previous source first */
        r->sid = ln->source_id;
        r->committed = 0;
    }
    pr = parser_line(r->p, ln->line, ln->len, &ev);
    r->next = ln->next;
    if (pr == PARSE_EVENT && ln->store) {
        if (ln->cut)
            ev.flags |= EVF_TRUNCATED;
        if (db_batch_count(r->b) == 0)
            r->batch_start = time_now_us();
        db_batch_add(r->b, r->sid, ln->pos, &ev);
    }
    if (db_batch_count(r->b) >= BATCH_EVENTS)
        serve_commit(s, r);
}

/* run_step - read what a source has now; 1 when it read something */
static int run_step(struct serve *s, struct run *r)
{
    struct follow_line ln;
    int any = 0;

    for (int k = 0; k < SERVE_BURST && !stop_requested; k++) {
        int rc;

        if (r->f)
            rc = follow_next(r->f, &ln);
        else if (r->j)
            rc = journal_next(r->j, &ln);
        else
            rc = syslog_next(r->sl, &ln);
        if (rc == 1) {
            run_line(s, r, &ln);
            any = 1;
            continue;
        }
        if (rc == 2) { /* a segment ended: commit it with its final checkpoint */
            if (ln.source_id != r->sid) {
                serve_commit(s, r);
                r->sid = ln.source_id;
            }
            r->next = ln.next;
            serve_commit(s, r);
            r->sid = 0;
            any = 1;
            continue;
        }
        break; /* 0: nothing now; -1: retried at the next round */
    }
    /* Commit a batch when idle or old; when idle, lines without events still move the
     * checkpoint. */
    if ((db_batch_count(r->b) > 0 && (!any || time_now_us() - r->batch_start > BATCH_MAX_AGE_US)) ||
        (!any && r->next > r->committed))
        serve_commit(s, r);
    return any;
}

/* serve_metrics - the figures /healthz and /metrics show */
static void serve_metrics(struct serve *s)
{
    struct web_ingest_status st;

    memset(&st, 0, sizeof(st));
    for (int i = 0; i < s->nruns; i++) {
        const struct parser_stats *ps = parser_stats(s->runs[i]->p);

        st.lines += ps->lines;
        st.events += ps->events;
        st.malformed += ps->malformed;
        if (s->runs[i]->f) {
            int64_t lag = follow_lag(s->runs[i]->f);

            st.lag_bytes += lag > 0 ? lag : 0;
            st.cut_lines += follow_cut(s->runs[i]->f);
        }
    }
    pthread_mutex_lock(&s->in.lock);
    s->in.st.lines = st.lines;
    s->in.st.events = st.events;
    s->in.st.malformed = st.malformed;
    s->in.st.lag_bytes = st.lag_bytes;
    s->in.st.cut_lines = st.cut_lines;
    s->in.st.sources = (uint64_t)s->nruns;
    pthread_mutex_unlock(&s->in.lock);
}

/* serve_reload - SIGHUP: reopen the files, read the configuration again, add new sources */
static void serve_reload(struct serve *s, int argc, char **argv)
{
    struct serve_conf nc;

    sd_notify(0, "RELOADING=1");
    log_info("SIGHUP: reopening files and reloading %s", s->conf.config_path);
    for (int i = 0; i < s->nruns; i++)
        if (s->runs[i]->f)
            follow_reopen(s->runs[i]->f);
    if (conf_load(&nc, argc, argv) != 0) {
        log_warn("the new configuration is wrong (see above); keeping the old one");
        conf_free(&nc);
    } else {
        if (strcmp(nc.dsn, s->conf.dsn) != 0 || strcmp(nc.listen, s->conf.listen) != 0 ||
            strcmp(nc.state_dir, s->conf.state_dir) != 0)
            log_warn("db, listen and state_dir change only at a restart");
        log_set_level((enum log_level)nc.level);
        s->conf.level = nc.level;
        s->conf.poll_ms = nc.poll_ms;
        s->conf.rotate_wait_ms = nc.rotate_wait_ms;
        s->conf.stop_timeout_s = nc.stop_timeout_s;
        stop_timeout_s = nc.stop_timeout_s;
        /* New sources (and new glob matches) start; a removed one needs a restart. */
        for (int i = 0; i < nc.nsrc; i++) {
            int known = 0;

            for (int k = 0; k < s->conf.nsrc && !known; k++)
                known = strcmp(s->conf.src[k].name, nc.src[i].name) == 0;
            if (!known && s->conf.nsrc < SERVE_MAX_SRC) {
                s->conf.src[s->conf.nsrc++] = nc.src[i];
                memset(&nc.src[i], 0, sizeof(nc.src[i]));
            }
        }
        conf_free(&nc);
        if (serve_sources(s) != 0)
            log_warn("a new source could not start (see above)");
    }
    sd_notify(0, "READY=1");
}

/*
 * serve_sniff - the [sniff] section in the daemon (issue 8): a live capture, non-blocking,
 * polled in the main loop. Its smtp events are stored under the source "sniff:IFACE"; the
 * position of an event is its time in microseconds, made strictly increasing, and the
 * checkpoint is the last position stored, so a restart never reuses a key. A capture that
 * cannot be opened, or fails later, turns sniffing off with one warning and the rest of the
 * daemon carries on. While the database refuses a batch, no packets are read (the kernel
 * buffer then drops, counted in pcap_drops) and the commit is tried again with backoff.
 */
struct serve_sniff {
    struct sniff *cap;
    struct db_batch *b;
    char name[96];
    int64_t sid, pos, batch_start, retry_at, backoff_us;
};

/* serve_sniff_commit - store the batch; 0, or -1 when it is kept for a later try */
static int serve_sniff_commit(struct serve *s, struct serve_sniff *z)
{
    struct db_batch_result res;

    if (db_batch_count(z->b) == 0)
        return 0;
    memset(&res, 0, sizeof(res));
    if (db_batch_commit(z->b, z->sid, z->pos, &res) == 0) {
        z->retry_at = 0;
        z->backoff_us = 0;
        return 0;
    }
    z->backoff_us = z->backoff_us == 0                   ? BACKOFF_MIN_US
                    : z->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US
                                                         : z->backoff_us * 2;
    z->retry_at = time_now_us() + z->backoff_us;
    (void)s;
    return -1;
}

/* serve_sniff_close - flush the open flows, store what is left, end the capture */
static void serve_sniff_close(struct serve *s)
{
    struct serve_sniff *z = s->sniff;
    struct event ev;

    if (z == NULL)
        return;
    sniff_flush(z->cap);
    while (sniff_next(z->cap, &ev) == 1) {
        z->pos = ev.time_us > z->pos ? ev.time_us : z->pos + 1;
        db_batch_add(z->b, z->sid, z->pos, &ev);
    }
    if (serve_sniff_commit(s, z) != 0)
        log_warn("sniff: %zu events could not be stored", db_batch_count(z->b));
    {
        const struct sniff_stats *st = sniff_stats(z->cap);

        log_info("sniff: %llu packets, %llu sessions, %llu events, %llu gaps, %llu dropped",
                 (unsigned long long)st->packets, (unsigned long long)st->sessions,
                 (unsigned long long)st->events, (unsigned long long)st->tcp.gaps,
                 (unsigned long long)(st->pcap_drop + st->pcap_ifdrop));
    }
    db_batch_free(z->b);
    sniff_close(z->cap);
    x_free(z);
    s->sniff = NULL;
}

/* serve_sniff_open - start the configured capture; a failure only turns sniffing off */
static void serve_sniff_open(struct serve *s)
{
    struct sniff_opts o;
    struct serve_sniff *z;
    char err[512];
    int64_t checkpoint = 0;

    if (s->conf.sniff_iface == NULL || s->conf.sniff_iface[0] == 0)
        return;
    memset(&o, 0, sizeof(o));
    o.ports = s->conf.sniff_ports;
    o.promisc = s->conf.sniff_promisc;
    z = xcalloc(1, sizeof(*z));
    z->cap = sniff_open_live(s->conf.sniff_iface, &o, err, sizeof(err));
    if (z->cap == NULL) {
        log_warn("sniff: %s; sniffing is off, the rest goes on", err);
        x_free(z);
        return;
    }
    if (sniff_drop_privileges() != 0)
        log_warn("sniff: could not drop CAP_NET_RAW after opening %s", s->conf.sniff_iface);
    snprintf(z->name, sizeof(z->name), "sniff:%s", s->conf.sniff_iface);
    if (db_source_open(s->db, z->name, z->name, &z->sid, &checkpoint) != 0) {
        log_warn("sniff: cannot register the source %s; sniffing is off", z->name);
        sniff_close(z->cap);
        x_free(z);
        return;
    }
    z->pos = checkpoint;
    z->b = db_batch_create(s->db);
    s->sniff = z;
    pthread_mutex_lock(&s->in.lock);
    s->in.st.pcap_drops = 0;
    pthread_mutex_unlock(&s->in.lock);
    log_info("sniff: capturing SMTP on %s (ports %s)", s->conf.sniff_iface,
             s->conf.sniff_ports ? s->conf.sniff_ports : SNIFF_DEFAULT_PORTS);
}

/* serve_sniff_step - take the events the capture has now; 1 when there were any */
static int serve_sniff_step(struct serve *s)
{
    struct serve_sniff *z = s->sniff;
    const struct sniff_stats *st;
    struct event ev;
    int r = 0, any = 0;

    if (z == NULL || (z->retry_at && time_now_us() < z->retry_at))
        return 0;
    if (z->retry_at && serve_sniff_commit(s, z) != 0)
        return 0;
    while (db_batch_count(z->b) < BATCH_EVENTS && (r = sniff_next(z->cap, &ev)) == 1) {
        z->pos = ev.time_us > z->pos ? ev.time_us : z->pos + 1;
        if (db_batch_count(z->b) == 0)
            z->batch_start = time_now_us();
        db_batch_add(z->b, z->sid, z->pos, &ev);
        any = 1;
    }
    st = sniff_stats(z->cap);
    pthread_mutex_lock(&s->in.lock);
    s->in.st.pcap_drops = (int64_t)(st->pcap_drop + st->pcap_ifdrop);
    pthread_mutex_unlock(&s->in.lock);
    if (r < 0) {
        log_warn("sniff: capture failed: %s; sniffing is off, the rest goes on",
                 sniff_error(z->cap));
        serve_sniff_close(s);
        return any;
    }
    if (db_batch_count(z->b) >= BATCH_EVENTS ||
        (db_batch_count(z->b) > 0 && (!any || time_now_us() - z->batch_start > BATCH_MAX_AGE_US)))
        serve_sniff_commit(s, z);
    return any;
}

/* serve_state_dir - make the state directory; a user who cannot write the default one (a
 * development run, not as root) gets ~/.local/state/mailpulse instead. 0 or -1 (errno). */
static int serve_state_dir(struct serve_conf *c)
{
    const char *home = getenv("HOME");
    char alt[4096];

    if ((mkdir(c->state_dir, 0750) == 0 || errno == EEXIST) && access(c->state_dir, W_OK) == 0)
        return 0;
    if (c->state_dir_given || home == NULL || home[0] != '/')
        return -1;
    snprintf(alt, sizeof(alt), "%s/.local/state/mailpulse", home);
    for (char *p = alt + strlen(home) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        mkdir(alt, 0755); /* .local, .local/state: fails harmlessly when present */
        *p = '/';
    }
    if ((mkdir(alt, 0750) != 0 && errno != EEXIST) || access(alt, W_OK) != 0)
        return -1;
    log_info("%s is not writable; keeping state in %s", c->state_dir, alt);
    conf_set(&c->state_dir, alt);
    return 0;
}

/* cmd_serve - the daemon */
/*
 * serve_retention - with retention_days set, drop the months that ended longer ago than that,
 * at start and then daily. A failure (the database away) is retried at the next round.
 */
static void serve_retention(struct serve *s)
{
    int64_t now = time_now_us();
    int dropped = 0;

    if (s->conf.retention_days <= 0 || now < s->retention_due_us)
        return;
    s->retention_due_us = now + (int64_t)86400 * 1000000;
    if (db_retention(s->db, s->conf.retention_days, &dropped) != 0)
        return;
    if (dropped > 0)
        log_info("retention: dropped %d monthly partition%s older than %d days", dropped,
                 dropped == 1 ? "" : "s", s->conf.retention_days);
}

static int cmd_serve(int argc, char **argv)
{
    struct serve s;
    struct web_opts wopts;
    struct web *web;
    struct sigaction sa;
    char err[512];

    memset(&s, 0, sizeof(s));
    if (conf_load(&s.conf, argc, argv) != 0) {
        fputs(usage_serve, stderr);
        conf_free(&s.conf);
        return 2;
    }
    log_set_level((enum log_level)s.conf.level);
    stop_timeout_s = s.conf.stop_timeout_s;
    if (s.conf.check_only) {
        static const char *const kinds[] = {"file", "journald", "syslog"};

        printf("configuration %s: valid, %d source%s\n", s.conf.config_path, s.conf.nsrc,
               s.conf.nsrc == 1 ? "" : "s");
        for (int i = 0; i < s.conf.nsrc; i++) {
            const struct src_conf *sc = &s.conf.src[i];

            printf("  %s: %s", sc->name, kinds[sc->type]);
            for (int k = 0; k < sc->npaths; k++)
                printf(" %s", sc->paths[k]);
            if (sc->journal_dir)
                printf(" directory=%s", sc->journal_dir);
            if (sc->listen)
                printf(" listen=%s", sc->listen);
            printf("%s\n", sc->backfill ? " (backfill)" : "");
        }
        conf_free(&s.conf);
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_deadline;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time_now_us());

    if (serve_state_dir(&s.conf) != 0)
        fatal("cannot make the state directory %s: %s (set state_dir or --state-dir)",
              s.conf.state_dir, strerror(errno));
    s.db = open_db(s.conf.dsn, 1);
    if (db_ensure_partitions(s.db) != 0)
        log_warn("cannot create this month's partitions now; the first commit will");
    s.backoff_us = BACKOFF_MIN_US;
    s.notify = notify_open();
    pthread_mutex_init(&s.in.lock, NULL);
    s.in.st.db_up = 1;
    s.in.st.lag_bytes = -1;
    s.in.st.pcap_drops = -1;
    if (serve_sources(&s) != 0)
        fatal("cannot start the sources (see above)");
    serve_sniff_open(&s);

    memset(&wopts, 0, sizeof(wopts));
    wopts.listen = s.conf.listen;
    wopts.dsn = s.conf.dsn;
    wopts.ingest = ingest_status;
    wopts.ingest_arg = &s.in;
    wopts.token_file = s.conf.token_file;
    wopts.tls_cert = s.conf.tls_cert;
    wopts.tls_key = s.conf.tls_key;
    web = web_start(&wopts, err, sizeof(err));
    if (web == NULL)
        fatal("%s", err);
    log_info("serving http://%s/ (API: /api/v1/summary, /healthz, /metrics)", s.conf.listen);
    sd_notify(0, "READY=1");

    while (!stop_requested) {
        int any = 0;

        if (reload_requested) {
            reload_requested = 0;
            serve_reload(&s, argc, argv);
        }
        for (int i = 0; i < s.nruns && !stop_requested; i++)
            any |= run_step(&s, s.runs[i]);
        any |= serve_sniff_step(&s);
        serve_metrics(&s);
        serve_retention(&s);
        if (!any)
            notify_wait(s.notify, s.conf.poll_ms);
    }

    log_info("stopping");
    sd_notify(0, "STOPPING=1");
    for (int i = 0; i < s.nruns; i++)
        serve_commit(&s, s.runs[i]);
    serve_sniff_close(&s);
    web_stop(web);
    for (int i = 0; i < s.nruns; i++) {
        struct run *r = s.runs[i];

        db_batch_free(r->b);
        follow_close(r->f);
        journal_close(r->j);
        syslog_close(r->sl);
        parser_free(r->p);
        x_free(r);
    }
    for (int i = 0; i < s.nlocks; i++) {
        close(s.locks[i]);
        x_free(s.lock_names[i]);
    }
    notify_close(s.notify);
    db_close(s.db);
    pthread_mutex_destroy(&s.in.lock);
    conf_free(&s.conf);
    return 0;
}

static const char usage_sniff[] =
    "usage: mailpulse sniff (-r FILE | -i IFACE) [--ports 25,465,587,2525] [--promisc]\n"
    "                       [--stats]\n"
    "\n"
    "Follow SMTP dialogues in a capture file (pcap or pcapng, -r) or live on an interface\n"
    "(-i; needs CAP_NET_RAW, which is dropped once the capture is open) and print one JSON\n"
    "event of type smtp per transaction step: the greeting, HELO, MAIL, each RCPT with its\n"
    "reply, the data result with the queue id, STARTTLS. Live capture runs until SIGINT or\n"
    "SIGTERM. --stats prints packet, flow and gap counts to stderr at the end.\n";

static volatile sig_atomic_t sniff_stop;

/* sniff_on_signal - end a live capture */
static void sniff_on_signal(int sig)
{
    (void)sig;
    sniff_stop = 1;
}

/* sniff_print_stats - the capture's counters on stderr */
static void sniff_print_stats(struct sniff *s)
{
    const struct sniff_stats *st = sniff_stats(s);

    fprintf(stderr,
            "packets %llu, bytes %llu, sessions %llu, events %llu, tls %llu, gaps %llu, "
            "retransmitted bytes %llu, out-of-order %llu, flows evicted %llu, timed out %llu, "
            "queue limit %llu, undecodable %llu, snaplen-cut %llu, other %llu, "
            "pcap received %llu, dropped %llu, ifdropped %llu\n",
            (unsigned long long)st->packets, (unsigned long long)st->bytes,
            (unsigned long long)st->sessions, (unsigned long long)st->events,
            (unsigned long long)st->tls_sessions, (unsigned long long)st->tcp.gaps,
            (unsigned long long)st->tcp.retrans_bytes, (unsigned long long)st->tcp.ooo_segments,
            (unsigned long long)st->tcp.flows_evicted, (unsigned long long)st->tcp.flows_timed_out,
            (unsigned long long)st->tcp.queue_limit_hits, (unsigned long long)st->undecodable,
            (unsigned long long)st->snap_cut, (unsigned long long)st->not_tcp,
            (unsigned long long)st->pcap_recv, (unsigned long long)st->pcap_drop,
            (unsigned long long)st->pcap_ifdrop);
}

/* sniff_drain - print the events that are ready; 0, or -1 after a capture error */
static int sniff_drain(struct sniff *s, struct buf *out)
{
    struct event ev;
    int r;

    while ((r = sniff_next(s, &ev)) == 1) {
        event_format_json(&ev, out);
        buf_putc(out, '\n');
        if (out->len >= 65536) {
            fwrite(out->data, 1, out->len, stdout);
            buf_reset(out);
        }
    }
    if (out->len > 0) {
        fwrite(out->data, 1, out->len, stdout);
        buf_reset(out);
    }
    fflush(stdout);
    if (r < 0) {
        log_warn("capture: %s", sniff_error(s));
        return -1;
    }
    return 0;
}

/* cmd_sniff - SMTP on the wire to NDJSON on stdout */
static int cmd_sniff(int argc, char **argv)
{
    static const struct option opts[] = {
        {"read", required_argument, NULL, 'r'},
        {"interface", required_argument, NULL, 'i'},
        {"ports", required_argument, NULL, 'p'},
        {"promisc", no_argument, NULL, 'P'},
        {"stats", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sniff_opts so;
    const char *file = NULL, *iface = NULL;
    char err[512];
    struct sniff *s;
    struct buf out;
    int c, stats = 0, rc = 0;

    memset(&so, 0, sizeof(so));
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            file = optarg;
            break;
        case 'i':
            iface = optarg;
            break;
        case 'p':
            so.ports = optarg;
            break;
        case 'P':
            so.promisc = 1;
            break;
        case 's':
            stats = 1;
            break;
        case 'h':
            fputs(usage_sniff, stdout);
            return 0;
        default:
            fputs(usage_sniff, stderr);
            return 2;
        }
    }
    if ((file == NULL) == (iface == NULL) || optind < argc) {
        fputs(usage_sniff, stderr);
        return 2;
    }
    s = file ? sniff_open_file(file, &so, err, sizeof(err))
             : sniff_open_live(iface, &so, err, sizeof(err));
    if (s == NULL) {
        log_error("%s", err);
        return 1;
    }
    buf_init(&out);
    if (file) {
        rc = sniff_drain(s, &out) == 0 ? 0 : 1;
    } else {
        struct sigaction sa;

        if (sniff_drop_privileges() != 0)
            log_warn("capture: could not drop CAP_NET_RAW after opening %s", iface);
        log_info("capturing SMTP on %s", iface);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sniff_on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        while (!sniff_stop && rc == 0) {
            struct pollfd pfd = {sniff_fd(s), POLLIN, 0};

            poll(&pfd, 1, 200);
            rc = sniff_drain(s, &out) == 0 ? 0 : 1;
        }
        sniff_flush(s);
        if (sniff_drain(s, &out) != 0)
            rc = 1;
    }
    if (stats)
        sniff_print_stats(s);
    buf_free(&out);
    sniff_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"parse", cmd_parse}, {"report", cmd_report}, {"import", cmd_import},
        {"serve", cmd_serve}, {"db", cmd_db},         {"sniff", cmd_sniff},
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
