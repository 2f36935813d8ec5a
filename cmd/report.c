/*
 * report - `mailpulse report`: a pflogsumm-style summary of log files (counted in memory)
 * or of the database's read side, as text, JSON or CSV
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "report/tally.h"
#include "util/util.h"

static const char usage_report[] =
    "usage: mailpulse report [--format text|json|csv] [--from T] [--to T] [--top N] [--year Y]\n"
    "                        [--mta auto|postfix|exim|sendmail] [FILE...]\n"
    "       mailpulse report --db DSN | --config FILE [--format text|json|csv] [--from T]\n"
    "                        [--to T] [--top N]\n"
    "\n"
    "A pflogsumm-style summary: received, delivered, deferred (messages and deferrals),\n"
    "bounced, expired, rejected, bytes; per hour, per recipient domain, per sender, and the\n"
    "reasons with DSN codes of what was not sent. With FILEs (gzip read transparently; - is\n"
    "stdin) the logs are counted in memory, no database needed; with --db and no FILE the\n"
    "numbers come from the database (--config FILE: the one serve's configuration names).\n"
    "T is RFC 3339 (2026-11-28T00:00:00Z), now, or relative to now (-30m, -24h, -7d, -2w).\n"
    "--top limits the rows per table (default 20, 0 for all).\n";

static const struct cmd_opt report_opts[] = {
    {"db", CLI_DB, CMD_ARG_REQUIRED},         {"config", CLI_CONFIG, CMD_ARG_REQUIRED},
    {"format", CLI_FORMAT, CMD_ARG_REQUIRED}, {"from", CLI_FROM, CMD_ARG_REQUIRED},
    {"to", CLI_TO, CMD_ARG_REQUIRED},         {"top", CLI_TOP, CMD_ARG_REQUIRED},
    {"year", CLI_YEAR, CMD_ARG_REQUIRED},     {"mta", CLI_MTA, CMD_ARG_REQUIRED},
    {"stats", CLI_STATS, CMD_ARG_NONE},       {NULL, 0, 0},
};

/* report_time - an RFC 3339 time, "now", or -30m / -24h / -7d before now; fatal otherwise */
static int64_t report_time(const char *s, const char *what)
{
    int64_t us;

    if (time_parse_relative(s, time_now_us(), &us) != 0)
        fatal("%s: want RFC 3339, now, or -N with s, m, h, d or w (-24h, -7d), not \"%s\"", what,
              s);
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
    struct parser *p = cmd_parser(cli->year, cli->mta);
    int rc = cmd_each_event(p, files, nfiles, report_add, &k);

    if (cli->stats)
        cmd_print_stats(p);
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
    struct db *db = cmd_open_db(cli->dsn, 1);
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
int cmd_report(int argc, char **argv)
{
    struct cli cli;
    enum tally_format fmt = TALLY_TEXT;
    int64_t from_us, to_us;
    size_t top;
    struct db_report d;
    struct tally_report rep;
    struct tally *t = NULL;
    struct buf out;
    int first, rc = 0;

    cli_init(&cli);
    first = cmd_options(argc, argv, report_opts, usage_report, cli_option, &cli, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    if (first >= argc) /* the database's report: files need none */
        cli_dsn_resolve(&cli);
    if (cli.format == NULL || strcmp(cli.format, "text") == 0)
        fmt = TALLY_TEXT;
    else if (strcmp(cli.format, "json") == 0)
        fmt = TALLY_JSON;
    else if (strcmp(cli.format, "csv") == 0)
        fmt = TALLY_CSV;
    else
        fatal("--format: report writes text, json or csv, not \"%s\"", cli.format);
    from_us = cli.from ? report_time(cli.from, "--from") : 0;
    to_us = cli.to ? report_time(cli.to, "--to") : 0;
    /* 20 rows by default; an explicit --top 0 lists everything */
    top = cli.top_given ? (size_t)cli.top : 20;
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
