/*
 * serve_conf - the configuration of `mailpulse serve`: defaults, then the INI file (libinih),
 * then the command line on top.
 *
 * The file has a [serve] section (also [web], and keys before any section), a [source NAME]
 * section per source (type = file, journald or syslog), a [sniff] section, an [alerts]
 * section (the alert evaluator, its rules and its webhook; docs/configuration.md) and a
 * [providers] section (file = site rules naming mailbox providers, read once at start). --log,
 * --journal* and --syslog-listen add sources to the configured ones. No source at all is
 * valid: the web-only mode, serving a database that collectors elsewhere fill.
 */
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "collector/sniff.h"
#include "util/util.h"

const char usage_serve[] =
    "usage: mailpulse serve [--config FILE] [--db DSN] [--listen ADDR:PORT] [--log FILE]...\n"
    "                       [--backfill] [--journal] [--journal-directory DIR]\n"
    "                       [--journal-match FIELD=VALUE]... [--syslog-listen URL...]\n"
    "                       [--state-dir DIR] [--year Y] [--mta M] [--log-level LEVEL]\n"
    "                       [--poll-interval MS] [--hold-seconds S] [--rotate-wait MS]\n"
    "                       [--stop-timeout S]\n"
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
    "the configuration, prints the sources and exits (0 when it is valid).\n"
    "With no source at all, serve only serves the database (web-only mode: the dashboard of\n"
    "a fleet whose hosts each run their own collector into the same PostgreSQL).\n";

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
    SO_HOLD,
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

static const struct cmd_opt serve_opts[] = {
    {"config", SO_CONFIG, CMD_ARG_REQUIRED},
    {"db", SO_DB, CMD_ARG_REQUIRED},
    {"listen", SO_LISTEN, CMD_ARG_REQUIRED},
    {"log", SO_LOG, CMD_ARG_REQUIRED},
    {"backfill", SO_BACKFILL, CMD_ARG_NONE},
    {"journal", SO_JOURNAL, CMD_ARG_NONE},
    {"journal-directory", SO_JDIR, CMD_ARG_REQUIRED},
    {"journal-match", SO_JMATCH, CMD_ARG_REQUIRED},
    {"syslog-listen", SO_SYSLOG, CMD_ARG_REQUIRED},
    {"state-dir", SO_STATE, CMD_ARG_REQUIRED},
    {"year", SO_YEAR, CMD_ARG_REQUIRED},
    {"mta", SO_MTA, CMD_ARG_REQUIRED},
    {"log-level", SO_LEVEL, CMD_ARG_REQUIRED},
    {"poll-interval", SO_POLL, CMD_ARG_REQUIRED},
    {"hold-seconds", SO_HOLD, CMD_ARG_REQUIRED},
    {"rotate-wait", SO_RWAIT, CMD_ARG_REQUIRED},
    {"stop-timeout", SO_STOPT, CMD_ARG_REQUIRED},
    {"retention-days", SO_RETENTION, CMD_ARG_REQUIRED},
    {"token-file", SO_TOKEN, CMD_ARG_REQUIRED},
    {"tls-cert", SO_CERT, CMD_ARG_REQUIRED},
    {"tls-key", SO_KEY, CMD_ARG_REQUIRED},
    {"foreground", SO_FG, CMD_ARG_NONE},
    {"check-config", SO_CHECK, CMD_ARG_NONE},
    {"sniff", SO_SNIFF, CMD_ARG_REQUIRED},
    {"sniff-ports", SO_SNIFF_PORTS, CMD_ARG_REQUIRED},
    {NULL, 0, 0},
};

/* conf_set - replace a configured string */
void conf_set(char **dst, const char *value)
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
        return cli_mta(value, &c->mta);
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
    else if (strcmp(key, "hold_seconds") == 0)
        return conf_int("hold_seconds", value, 1, 3600, &c->hold_s);
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
        else if (strcmp(value, "maildir") == 0)
            s->type = SRC_MAILDIR;
        else {
            log_error("type wants file, journald, syslog or maildir, not \"%s\"", value);
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
    if (strcmp(key, "done") == 0) {
        if (strcmp(value, "move") != 0 && strcmp(value, "keep") != 0) {
            log_error("done wants move or keep, not \"%s\"", value);
            return -1;
        }
        s->keep = strcmp(value, "keep") == 0;
        return 0;
    }
    if (strcmp(key, "failed") == 0) {
        conf_set(&s->failed_dir, value);
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

/* conf_alerts - a key of the [alerts] section */
static int conf_alerts(struct serve_conf *c, const char *key, const char *value)
{
    struct alerts_conf *a = &c->alerts;

    if (strcmp(key, "enabled") == 0)
        return conf_bool("[alerts] enabled", value, &a->enabled);
    if (strcmp(key, "interval") == 0)
        return conf_int("[alerts] interval", value, 1, 86400, &a->interval_s);
    if (strcmp(key, "window") == 0)
        return conf_int("[alerts] window", value, 1, 1440, &a->window_min);
    if (strcmp(key, "complaint_window") == 0)
        return conf_int("[alerts] complaint_window", value, 1, 1440, &a->complaint_window_min);
    if (strcmp(key, "baseline_days") == 0)
        return conf_int("[alerts] baseline_days", value, 1, 90, &a->baseline_days);
    if (strcmp(key, "stall_seconds") == 0)
        return conf_int("[alerts] stall_seconds", value, 1, 86400, &a->stall_lag_s);
    if (strcmp(key, "webhook_timeout") == 0)
        return conf_int("[alerts] webhook_timeout", value, 1, 300, &a->hook_timeout_s);
    if (strcmp(key, "webhook_tries") == 0)
        return conf_int("[alerts] webhook_tries", value, 1, 100, &a->hook_tries);
    if (strcmp(key, "clock") == 0) {
        if (strcmp(value, "wall") != 0 && strcmp(value, "log") != 0) {
            log_error("[alerts] clock wants wall or log, not \"%s\"", value);
            return -1;
        }
        a->clock_log = strcmp(value, "log") == 0;
        return 0;
    }
    if (strcmp(key, "webhook") == 0) {
        if (value[0] && strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            log_error("[alerts] webhook wants an http:// or https:// URL, not \"%s\"", value);
            return -1;
        }
        conf_set(&a->webhook, value);
        return 0;
    }
    if (alert_conf_set(&a->rules, key, value) == 0)
        return 0;
    log_error("[alerts] %s = \"%s\": unknown option or a value out of range "
              "(see docs/configuration.md)",
              key, value);
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
    if (strcmp(section, "alerts") == 0)
        return conf_alerts(c, key, value) == 0;
    if (strcmp(section, "providers") == 0 && strcmp(key, "file") == 0) {
        conf_set(&c->providers_file, value);
        return 1;
    }
    if (strcmp(section, "providers") == 0) {
        log_error("[providers] %s: unknown option (see docs/configuration.md)", key);
        return 0;
    }
    log_error("unknown section [%s]", section);
    return 0;
}

/* conf_free - free every string */
void conf_free(struct serve_conf *c)
{
    x_free(c->config_path);
    x_free(c->providers_file);
    x_free(c->dsn);
    x_free(c->listen);
    x_free(c->state_dir);
    x_free(c->token_file);
    x_free(c->tls_cert);
    x_free(c->tls_key);
    x_free(c->sniff_iface);
    x_free(c->sniff_ports);
    x_free(c->alerts.webhook);
    for (int i = 0; i < c->nsrc; i++) {
        struct src_conf *s = &c->src[i];

        x_free(s->name);
        for (int j = 0; j < s->npaths; j++)
            x_free(s->paths[j]);
        for (int j = 0; j < s->nmatches; j++)
            x_free(s->matches[j]);
        x_free(s->journal_dir);
        x_free(s->listen);
        x_free(s->failed_dir);
    }
    memset(c, 0, sizeof(*c));
}

/* What one pass over the command line works with. */
struct conf_pass {
    struct serve_conf *c;
    int pass; /* 0: only --config; 1: everything else */
    int backfill;
    int rc;
};

/* conf_option - cmd_options' fn for serve; errors are collected in rc, so all are told */
static int conf_option(void *ctx, int key, const char *arg)
{
    struct conf_pass *cp = ctx;
    struct serve_conf *c = cp->c;
    struct src_conf *s;
    int rc = 0;

    if ((cp->pass == 0) != (key == SO_CONFIG))
        return 0;
    switch (key) {
    case SO_CONFIG:
        conf_set(&c->config_path, arg);
        c->config_given = 1;
        break;
    case SO_DB:
        conf_set(&c->dsn, arg);
        break;
    case SO_LISTEN:
        conf_set(&c->listen, arg);
        break;
    case SO_LOG: {
        /* Named by the path, so two daemons following two files never share a lock. */
        char name[64];

        snprintf(name, sizeof(name), "log-%016llx",
                 (unsigned long long)hash_fnv1a64(arg, strlen(arg)));
        s = conf_source(c, name, SRC_FILE);
        if (s == NULL || conf_add(s->paths, &s->npaths, arg) != 0)
            rc = -1;
        break;
    }
    case SO_BACKFILL:
        cp->backfill = 1;
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
            conf_set(&s->journal_dir, arg);
        break;
    case SO_JMATCH:
        s = conf_source(c, "journal", SRC_JOURNALD);
        if (s == NULL || conf_add(s->matches, &s->nmatches, arg) != 0)
            rc = -1;
        break;
    case SO_SYSLOG:
        s = conf_source(c, "syslog", SRC_SYSLOG);
        if (s == NULL)
            rc = -1;
        else
            conf_set(&s->listen, arg);
        break;
    case SO_STATE:
        conf_set(&c->state_dir, arg);
        c->state_dir_given = 1;
        break;
    case SO_YEAR:
        rc = conf_int("--year", arg, 1970, 9999, &c->year);
        break;
    case SO_MTA:
        rc = cli_mta(arg, &c->mta);
        break;
    case SO_LEVEL:
        rc = conf_level(arg, &c->level);
        break;
    case SO_POLL:
        rc = conf_int("--poll-interval", arg, 10, 60000, &c->poll_ms);
        break;
    case SO_HOLD:
        rc = conf_int("--hold-seconds", arg, 1, 3600, &c->hold_s);
        break;
    case SO_RWAIT:
        rc = conf_int("--rotate-wait", arg, 0, 3600000, &c->rotate_wait_ms);
        break;
    case SO_STOPT:
        rc = conf_int("--stop-timeout", arg, 1, 3600, &c->stop_timeout_s);
        break;
    case SO_RETENTION:
        rc = conf_int("--retention-days", arg, 0, 36500, &c->retention_days);
        break;
    case SO_TOKEN:
        conf_set(&c->token_file, arg);
        break;
    case SO_CERT:
        conf_set(&c->tls_cert, arg);
        break;
    case SO_KEY:
        conf_set(&c->tls_key, arg);
        break;
    case SO_SNIFF:
        conf_set(&c->sniff_iface, arg);
        break;
    case SO_SNIFF_PORTS:
        rc = conf_sniff(c, "ports", arg);
        break;
    case SO_CHECK:
        c->check_only = 1;
        break;
    default: /* SO_FG: the only mode */
        break;
    }
    if (rc != 0)
        cp->rc = -1;
    return 0;
}

/*
 * conf_cli - apply the command line (pass 0: only --config, and --help or an unknown
 * option end it; pass 1: everything else); 0, CMD_HELP, or -1
 */
static int conf_cli(struct serve_conf *c, int argc, char **argv, int pass)
{
    struct conf_pass cp = {c, pass, 0, 0};
    int first = cmd_options(argc, argv, serve_opts, NULL, conf_option, &cp, pass == 1);

    if (first == CMD_HELP) {
        fputs(usage_serve, stdout);
        return CMD_HELP;
    }
    if (first < 0)
        return -1;
    if (pass == 1 && first < argc) {
        log_error("serve takes no operands (\"%s\"); use --log FILE", argv[first]);
        cp.rc = -1;
    }
    if (cp.backfill)
        for (int i = 0; i < c->nsrc; i++)
            if (strncmp(c->src[i].name, "log-", 4) == 0)
                c->src[i].backfill = 1;
    return cp.rc;
}

/* dsn_handler - ini_parse's handler for conf_dsn(): keep [serve] db =, pass over the rest */
static int dsn_handler(void *user, const char *section, const char *name, const char *value)
{
    char **dsn = user;

    if (strcmp(section, "serve") == 0 && strcmp(name, "db") == 0) {
        x_free(*dsn);
        *dsn = xstrdup(value);
    }
    return 1;
}

/* conf_dsn - the database the configuration file names ([serve] db =); fatal when it cannot */
const char *conf_dsn(const char *path)
{
    static char *dsn;
    int line = ini_parse(path, dsn_handler, &dsn);

    if (line < 0)
        fatal("cannot read the configuration %s: %s", path,
              line == -1 ? strerror(errno) : "out of memory");
    if (line > 0)
        fatal("%s line %d: the line above is wrong", path, line);
    if (dsn == NULL)
        fatal("%s names no database: its [serve] section has no db = line", path);
    return dsn;
}

/* conf_load - defaults, then the config file, then the command line; 0, CMD_HELP, -1 */
int conf_load(struct serve_conf *c, int argc, char **argv)
{
    const char *env_dsn = getenv("MAILPULSE_DB"), *env_state = getenv("STATE_DIRECTORY");
    int line, rc;

    memset(c, 0, sizeof(*c));
    c->dsn = xstrdup(env_dsn ? env_dsn : "");
    c->listen = xstrdup("127.0.0.1:8025");
    /* systemd's StateDirectory= sets $STATE_DIRECTORY (a list; the first one is ours). */
    c->state_dir = xstrdup(env_state && env_state[0] ? env_state : SERVE_STATE_DIR);
    c->state_dir[strcspn(c->state_dir, ":")] = 0;
    c->level = getenv("MAILPULSE_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    c->poll_ms = 250;
    c->hold_s = PARSER_HOLD_WALL_S;
    c->rotate_wait_ms = 1000;
    c->stop_timeout_s = 10;
    c->config_path = xstrdup(SERVE_CONFIG);
    c->alerts.enabled = 1;
    c->alerts.interval_s = 60;
    c->alerts.window_min = 60;
    c->alerts.complaint_window_min = 1440;
    c->alerts.baseline_days = 7;
    c->alerts.stall_lag_s = 60;
    c->alerts.hook_timeout_s = 5;
    c->alerts.hook_tries = 5;
    alert_defaults(&c->alerts.rules);
    if ((rc = conf_cli(c, argc, argv, 0)) != 0)
        return rc;
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
        if (s->type == SRC_MAILDIR && s->npaths != 1) {
            log_error("source %s: type=maildir needs one path= (the Maildir)", s->name);
            return -1;
        }
        if (s->type == SRC_SYSLOG && s->listen == NULL)
            s->listen = xstrdup("udp://127.0.0.1:514 tcp://127.0.0.1:514");
    }
    return 0;
}

/* conf_print - what --check-config prints: the file and each source */
void conf_print(const struct serve_conf *c, FILE *fp)
{
    static const char *const kinds[] = {"file", "journald", "syslog", "maildir"};

    fprintf(fp, "configuration %s: valid, %d source%s%s\n", c->config_path, c->nsrc,
            c->nsrc == 1 ? "" : "s",
            c->nsrc == 0 && (c->sniff_iface == NULL || c->sniff_iface[0] == 0)
                ? " (web only: serving what other collectors store)"
                : "");
    for (int i = 0; i < c->nsrc; i++) {
        const struct src_conf *sc = &c->src[i];

        fprintf(fp, "  %s: %s", sc->name, kinds[sc->type]);
        for (int k = 0; k < sc->npaths; k++)
            fprintf(fp, " %s", sc->paths[k]);
        if (sc->journal_dir)
            fprintf(fp, " directory=%s", sc->journal_dir);
        if (sc->listen)
            fprintf(fp, " listen=%s", sc->listen);
        if (sc->type == SRC_MAILDIR)
            fprintf(fp, " done=%s%s%s", sc->keep ? "keep" : "move",
                    sc->failed_dir ? " failed=" : "", sc->failed_dir ? sc->failed_dir : "");
        fprintf(fp, "%s\n", sc->backfill ? " (backfill)" : "");
    }
}
