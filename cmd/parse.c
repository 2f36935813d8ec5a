/*
 * parse - `mailpulse parse`: logs to NDJSON on stdout; also the file loop and the line
 * statistics that report shares
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "collector/collector.h"
#include "util/util.h"

static const char usage_parse[] =
    "usage: mailpulse parse [--format ndjson] [--mta auto|postfix|exim|sendmail] [--year Y]\n"
    "                       [--stats] [FILE...]\n"
    "\n"
    "Parse mail logs (gzip read transparently; stdin when no FILE or FILE is -) and print one\n"
    "JSON event per line on stdout. --year sets the year of RFC 3164 stamps (default: inferred\n"
    "from the clock). --stats prints line counts to stderr at the end. --mta auto (the\n"
    "default) tells Postfix, Exim and Sendmail lines apart line by line; naming one MTA\n"
    "reads only its lines.\n";

static const struct cmd_opt parse_opts[] = {
    {"format", CLI_FORMAT, CMD_ARG_REQUIRED},
    {"mta", CLI_MTA, CMD_ARG_REQUIRED},
    {"year", CLI_YEAR, CMD_ARG_REQUIRED},
    {"stats", CLI_STATS, CMD_ARG_NONE},
    {NULL, 0, 0},
};

/* cmd_parser - a parser for one log */
struct parser *cmd_parser(int year, enum event_mta mta)
{
    struct parser_opts opts;

    memset(&opts, 0, sizeof(opts));
    opts.year = year;
    opts.mta = mta;
    return parser_create(&opts);
}

/* cmd_print_stats - what became of the lines: totals, then per program name with samples */
void cmd_print_stats(const struct parser *p)
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
            "too old %llu, lines with NUL bytes repaired %llu\n",
            (unsigned long long)st->reinjected, (unsigned long long)st->queue_evicted,
            (unsigned long long)st->queue_aged, (unsigned long long)st->repaired);
    fprintf(stderr,
            "loopback deliveries held until a re-injection showed %llu, of them released as "
            "deliveries %llu\n",
            (unsigned long long)st->held, (unsigned long long)st->held_released);
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

/* cmd_each_event - every event of the files, in order, through one parser, handed to fn */
int cmd_each_event(struct parser *p, char **files, int nfiles,
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
        while ((r = lr_next(lr, &line, &len, &pos)) == 1) {
            /* most lines hold no NUL, and the line reader knows it already */
            enum parse_result pr = lr_nul_free(lr) ? parser_line_nul_free(p, line, len, &ev)
                                                   : parser_line(p, line, len, &ev);

            if (pr == PARSE_EVENT)
                fn(arg, &ev);
            while (parser_next(p, &ev)) /* a line's further events, and released hops */
                fn(arg, &ev);
        }
        if (r < 0)
            rc = 1;
        lr_close(lr);
    }
    /* The end of the input: a hop whose re-injection never showed is a delivery. */
    while (parser_release(p) > 0)
        while (parser_next(p, &ev))
            fn(arg, &ev);
    return rc;
}

/* Bytes of output written at a time: 128 KiB, as the line reader reads. A write each 64 KiB
 * made 2,700 calls for the 500,000 lines of the eximstats bench, two fifths of the time
 * strace -c counts in its system calls; pieces of 1 MiB cost more CPU time in all. */
#define PARSE_OUT_CHUNK (1 << 17)

/* parse_emit - one event as an NDJSON line, written out in PARSE_OUT_CHUNK pieces */
static void parse_emit(void *arg, const struct event *ev)
{
    struct buf *out = arg;

    event_format_json(ev, out);
    buf_putc(out, '\n');
    if (out->len >= PARSE_OUT_CHUNK) {
        fwrite(out->data, 1, out->len, stdout);
        buf_reset(out);
    }
}

/* cmd_parse - logs to NDJSON on stdout */
int cmd_parse(int argc, char **argv)
{
    struct cli cli;
    char *stdin_only[] = {"-"};
    char **files;
    struct parser *p;
    struct buf out;
    int first, nfiles, rc;

    cli_init(&cli);
    first = cmd_options(argc, argv, parse_opts, usage_parse, cli_option, &cli, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    if (cli.format && strcmp(cli.format, "ndjson") != 0)
        fatal("--format: only ndjson is supported, not \"%s\"", cli.format);
    files = first < argc ? argv + first : stdin_only;
    nfiles = first < argc ? argc - first : 1;
    p = cmd_parser(cli.year, cli.mta);
    buf_init(&out);
    rc = cmd_each_event(p, files, nfiles, parse_emit, &out);
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    if (fflush(stdout) != 0) {
        log_error("writing output: %s", strerror(errno));
        rc = 1;
    }
    if (cli.stats)
        cmd_print_stats(p);
    buf_free(&out);
    parser_free(p);
    return rc;
}
