/*
 * bounce - the `mailpulse bounce` command: bounce messages and complaint reports to NDJSON
 *
 * Each operand is a message file, an mbox, a Maildir or a directory of messages; "-" or no
 * operand reads one message (or an mbox) from stdin, the way an MTA's pipe transport
 * delivers it. One JSON object per line on stdout: a "dsn" per failed or delayed recipient,
 * a "complaint" per feedback report. --stats prints the counts on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "bounce/bounce.h"
#include "cmd/cmd.h"

static const char usage_bounce[] =
    "usage: mailpulse bounce [--format ndjson] [--stats] [FILE|DIR|-]...\n"
    "\n"
    "Read bounce messages (RFC 3464 DSNs and the non-standard forms of qmail, Exim, Gmail,\n"
    "Yahoo, Exchange, ...) and complaint reports (RFC 5965 ARF) and print one JSON object per\n"
    "line: \"dsn\" per failed or delayed recipient, \"complaint\" per report. An operand is a\n"
    "message file, an mbox, a Maildir (new/ and cur/) or a directory of message files; - or\n"
    "no operand reads one message or an mbox from stdin. Auto-replies and ordinary mail\n"
    "print nothing and count as \"not a bounce\".\n"
    "\n"
    "  --format ndjson   the output format (the only one)\n"
    "  --stats           print message, bounce, complaint and not-a-bounce counts on stderr\n";

static const struct cmd_opt bounce_opts[] = {
    {"format", CLI_FORMAT, CMD_ARG_REQUIRED},
    {"stats", CLI_STATS, CMD_ARG_NONE},
    {NULL, 0, 0},
};

/* The output of the command: one buffer, written out when it grows past 64 KiB. */
struct bounce_out {
    struct buf b;
    bool failed;
};

/* flush_out - write the buffer to stdout */
static void flush_out(struct bounce_out *o)
{
    if (o->b.len && fwrite(o->b.data, 1, o->b.len, stdout) != o->b.len)
        o->failed = true;
    buf_reset(&o->b);
}

/* emit_json - one record as a line of NDJSON */
static void emit_json(const struct bounce_rec *rec, void *ctx)
{
    struct bounce_out *o = ctx;

    bounce_format_json(rec, &o->b);
    buf_putc(&o->b, '\n');
    if (o->b.len > 65536)
        flush_out(o);
}

/* cmd_bounce - bounce messages to NDJSON on stdout */
int cmd_bounce(int argc, char **argv)
{
    struct bounce_stats st = {0};
    struct bounce_out out = {0};
    struct bounce_sink sink = {emit_json, &out, &st, NULL};
    struct cli cli;
    int first, rc = 0;

    cli_init(&cli);
    first = cmd_options(argc, argv, bounce_opts, usage_bounce, cli_option, &cli, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    if (cli.format && strcmp(cli.format, "ndjson") != 0) {
        fprintf(stderr, "mailpulse: --format: only ndjson is supported, not \"%s\"\n%s", cli.format,
                usage_bounce);
        return 2;
    }
    buf_init(&out.b);
    bounce_init();
    if (first >= argc) {
        rc = bounce_read_stream(stdin, "stdin", &sink) == 0 ? 0 : 1;
    } else {
        for (int i = first; i < argc; i++) {
            int r = strcmp(argv[i], "-") == 0 ? bounce_read_stream(stdin, "stdin", &sink)
                                              : bounce_read_path(argv[i], &sink);

            if (r != 0)
                rc = 1;
        }
    }
    flush_out(&out);
    buf_free(&out.b);
    if (fflush(stdout) != 0 || out.failed) {
        fprintf(stderr, "mailpulse: bounce: cannot write the output\n");
        rc = 1;
    }
    if (cli.stats)
        fprintf(stderr,
                "bounce: %llu messages: %llu bounces, %llu complaints, %llu not a bounce, "
                "%llu malformed (%llu too big); %llu records\n",
                (unsigned long long)st.messages, (unsigned long long)st.bounces,
                (unsigned long long)st.complaints, (unsigned long long)st.not_bounce,
                (unsigned long long)st.malformed, (unsigned long long)st.too_big,
                (unsigned long long)st.records);
    return rc;
}
