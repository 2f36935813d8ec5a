/*
 * options - one option reader for every command, and the options that several share
 *
 * cmd_options() turns a command's table into getopt_long's, so that a name matches only a
 * name of that command's own table: exactly, or as an unambiguous abbreviation.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "parser/provider.h"
#include "util/util.h"

#define CMD_MAX_OPTS 48

/* cmd_options - read argv's options through opts; the first operand, CMD_HELP or CMD_USAGE */
int cmd_options(int argc, char **argv, const struct cmd_opt *opts, const char *usage,
                int (*fn)(void *ctx, int key, const char *arg), void *ctx, int quiet)
{
    struct option lo[CMD_MAX_OPTS + 2];
    char shorts[2 * CMD_MAX_OPTS + 4] = "h", *sp = shorts + 1;
    size_t n = 0;
    int c;

    for (const struct cmd_opt *o = opts; o->name; o++) {
        ASSERT(n < CMD_MAX_OPTS);
        lo[n].name = o->name;
        lo[n].has_arg = o->arg == CMD_ARG_REQUIRED ? required_argument : no_argument;
        lo[n].flag = NULL;
        lo[n].val = o->key;
        n++;
        if (o->key > 0 && o->key < 128 && o->key != 'h') {
            *sp++ = (char)o->key;
            if (o->arg == CMD_ARG_REQUIRED)
                *sp++ = ':';
        }
    }
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};
    *sp = 0;
    optind = 0; /* 0: a full reset of getopt's state, for a second pass */
    opterr = !quiet;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == 'h') {
            if (quiet)
                continue;
            if (usage)
                fputs(usage, stdout);
            return CMD_HELP;
        }
        if (c == '?' || c == ':') {
            if (quiet)
                continue;
            if (usage)
                fputs(usage, stderr);
            return CMD_USAGE;
        }
        if (fn(ctx, c, optarg) != 0) {
            if (!quiet && usage)
                fputs(usage, stderr);
            return CMD_USAGE;
        }
    }
    return optind;
}

/* cli_mta - an --mta value: auto, postfix, exim or sendmail; 0, or -1 (logged) */
int cli_mta(const char *s, enum event_mta *out)
{
    static const struct {
        const char *name;
        enum event_mta mta;
    } names[] = {{"auto", MTA_UNKNOWN},
                 {"postfix", MTA_POSTFIX},
                 {"exim", MTA_EXIM},
                 {"sendmail", MTA_SENDMAIL}};

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].mta;
            return 0;
        }
    }
    log_error("--mta wants auto, postfix, exim or sendmail, not \"%s\"", s);
    return -1;
}

/* cli_init - the defaults of the shared options */
void cli_init(struct cli *cli)
{
    const char *env = getenv("MAILPULSE_DB");

    memset(cli, 0, sizeof(*cli));
    cli->dsn = env ? env : "";
}

/*
 * cli_dsn_resolve - after the options: --config FILE names the database by its [serve] db =
 * line (fatal when it cannot), unless --db named one; either wins over $MAILPULSE_DB
 */
void cli_dsn_resolve(struct cli *cli)
{
    if (cli->config != NULL && !cli->dsn_given)
        cli->dsn = conf_dsn(cli->config);
}

/* cli_number - a whole number from lo to hi, or fatal with the option's own message */
static int cli_number(const char *arg, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end || v < lo || v > hi)
        fatal("%s, not \"%s\"", what, arg);
    return (int)v;
}

/* cli_option - cmd_options' fn for struct cli */
int cli_option(void *ctx, int key, const char *arg)
{
    struct cli *cli = ctx;

    switch (key) {
    case CLI_DB:
        cli->dsn = arg;
        cli->dsn_given = 1;
        break;
    case CLI_CONFIG:
        cli->config = arg;
        break;
    case CLI_YEAR:
        cli->year = cli_number(arg, 1970, 9999, "--year wants a year like 2026");
        break;
    case CLI_FORMAT:
        cli->format = arg;
        break;
    case CLI_FROM:
        cli->from = arg;
        break;
    case CLI_TO:
        cli->to = arg;
        break;
    case CLI_TOP:
        cli->top = cli_number(arg, 0, 1000000, "--top wants a number of rows (0: all)");
        cli->top_given = 1;
        break;
    case CLI_MTA:
        if (cli_mta(arg, &cli->mta) != 0)
            exit(1);
        break;
    case CLI_STATS:
        cli->stats = 1;
        break;
    case CLI_BOUNCES:
        cli->bounces = 1;
        break;
    case CLI_PROVIDERS: {
        char err[512];

        if (provider_load(arg, err, sizeof(err)) < 0)
            fatal("--providers: %s", err);
        break;
    }
    case CLI_DAYS:
        cli->days = cli_number(arg, 1, 100000, "--days wants a number of days like 400");
        break;
    default:
        return -1;
    }
    return 0;
}
