/*
 * test_conf - the command layer's option reader (cmd/options.c) and the serve configuration
 * (cmd/serve_conf.c): INI file, command line on top, and the errors each refuses
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmd/cmd.h"
#include "util/util.h"

/* A table whose names share prefixes, the way report's --to and --top do. */
enum { K_TO = 300, K_TOP, K_FROM, K_FLAG };
static const struct cmd_opt opts[] = {
    {"to", K_TO, CMD_ARG_REQUIRED},     {"top", K_TOP, CMD_ARG_REQUIRED},
    {"from", K_FROM, CMD_ARG_REQUIRED}, {"flag", K_FLAG, CMD_ARG_NONE},
    {"read", 'r', CMD_ARG_REQUIRED},    {NULL, 0, 0},
};

struct seen {
    char log[256];
};

/* record - cmd_options' fn: "key=arg;" for each option */
static int record(void *ctx, int key, const char *arg)
{
    struct seen *s = ctx;
    size_t n = strlen(s->log);

    if (key == K_FLAG && arg == NULL && strstr(s->log, "fail"))
        return -1;
    snprintf(s->log + n, sizeof(s->log) - n, "%d=%s;", key, arg ? arg : "");
    return 0;
}

/* run_opts - cmd_options over a NULL-terminated list; the log in s, the result returned */
static int run_opts(struct seen *s, int quiet, char **args)
{
    int argc = 0;

    while (args[argc])
        argc++;
    return cmd_options(argc, args, opts, NULL, record, s, quiet);
}

static void test_options_table(void **state)
{
    static const struct {
        const char *args[8];
        int quiet;
        int want_rc;
        const char *want_log;
    } rows[] = {
        {{"cmd", "--to", "-7d", NULL}, 0, 3, "300=-7d;"},
        {{"cmd", "--top", "5", NULL}, 0, 3, "301=5;"},
        {{"cmd", "--top=0", "--to=x", NULL}, 0, 3, "301=0;300=x;"},
        {{"cmd", "--fr", "2026-01-01T00:00:00Z", NULL}, 0, 3, "302=2026-01-01T00:00:00Z;"},
        {{"cmd", "-r", "f.pcap", "--flag", NULL}, 0, 4, "114=f.pcap;303=;"},
        {{"cmd", "a", "--flag", "b", NULL}, 0, 2, "303=;"}, /* operands after options */
        {{"cmd", "--t", "x", NULL}, 0, CMD_USAGE, ""},      /* ambiguous: to or top */
        {{"cmd", "--days", "3", NULL}, 0, CMD_USAGE, ""},   /* not this command's */
        {{"cmd", "--top", NULL}, 0, CMD_USAGE, ""},         /* argument missing */
        {{"cmd", "--help", "--top", "1", NULL}, 0, CMD_HELP, ""},
        {{"cmd", "--days", "3", "--flag", NULL}, 1, 3, "303=;"}, /* quiet skips strangers */
        {{"cmd", "--help", "--flag", NULL}, 1, 3, "303=;"},
        {{"cmd", NULL}, 0, 1, ""},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct seen s = {""};
        char *args[8];

        memcpy(args, rows[i].args, sizeof(args));
        assert_int_equal(run_opts(&s, rows[i].quiet, args), rows[i].want_rc);
        assert_string_equal(s.log, rows[i].want_log);
    }
}

/* fn failing makes the whole read a usage error */
static void test_options_fn_fails(void **state)
{
    struct seen s = {"fail"};
    char *args[] = {"cmd", "--flag", NULL};

    (void)state;
    assert_int_equal(run_opts(&s, 0, args), CMD_USAGE);
}

/* The shared options land in struct cli; --to never reads as --top. */
static void test_cli_shared(void **state)
{
    static const struct cmd_opt report_like[] = {
        {"db", CLI_DB, CMD_ARG_REQUIRED},
        {"to", CLI_TO, CMD_ARG_REQUIRED},
        {"top", CLI_TOP, CMD_ARG_REQUIRED},
        {"from", CLI_FROM, CMD_ARG_REQUIRED},
        {"mta", CLI_MTA, CMD_ARG_REQUIRED},
        {"year", CLI_YEAR, CMD_ARG_REQUIRED},
        {NULL, 0, 0},
    };
    char *args[] = {"report", "--to", "-7d",  "--mta",    "exim",  "--year", "2025",
                    "--top",  "0",    "--db", "dbname=x", "f.log", NULL};
    struct cli cli;
    int first;

    (void)state;
    unsetenv("MAILPULSE_DB");
    cli_init(&cli);
    assert_string_equal(cli.dsn, "");
    first = cmd_options(12, args, report_like, NULL, cli_option, &cli, 0);
    assert_int_equal(first, 11);
    assert_string_equal(cli.to, "-7d");
    assert_null(cli.from);
    assert_int_equal(cli.top, 0);
    assert_true(cli.top_given);
    assert_int_equal(cli.mta, MTA_EXIM);
    assert_int_equal(cli.year, 2025);
    assert_string_equal(cli.dsn, "dbname=x");
}

static void test_cli_mta(void **state)
{
    enum event_mta m = MTA_POSTFIX;

    (void)state;
    assert_int_equal(cli_mta("auto", &m), 0);
    assert_int_equal(m, MTA_UNKNOWN);
    assert_int_equal(cli_mta("sendmail", &m), 0);
    assert_int_equal(m, MTA_SENDMAIL);
    assert_int_equal(cli_mta("qmail", &m), -1);
    assert_int_equal(m, MTA_SENDMAIL); /* unchanged */
}

static char conf_dir[64];

/* write_conf - a configuration file with text; its path */
static const char *write_conf(const char *name, const char *text)
{
    static char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", conf_dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* load - conf_load over a NULL-terminated argument list */
static int load(struct serve_conf *c, char **args)
{
    int argc = 0;

    while (args[argc])
        argc++;
    return conf_load(c, argc, args);
}

static int setup(void **state)
{
    (void)state;
    snprintf(conf_dir, sizeof(conf_dir), "/tmp/mailpulse-test-conf.XXXXXX");
    if (mkdtemp(conf_dir) == NULL)
        return -1;
    unsetenv("MAILPULSE_DB");
    unsetenv("STATE_DIRECTORY");
    unsetenv("MAILPULSE_DEBUG");
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", conf_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A whole file: every section, lists, defaults filled in. */
static void test_conf_file(void **state)
{
    const char *path = write_conf("full.conf", "; a comment\n"
                                               "[serve]\n"
                                               "db = dbname=mail\n"
                                               "listen = 127.0.0.1:9100\n"
                                               "poll_interval_ms = 500\n"
                                               "retention_days = 400\n"
                                               "log_level = warn\n"
                                               "mta = postfix\n"
                                               "[web]\n"
                                               "token_file = /etc/mailpulse.token\n"
                                               "[source mail]\n"
                                               "type = file\n"
                                               "path = /var/log/mail.log\n"
                                               "path = /var/log/mail-*.log\n"
                                               "backfill = yes\n"
                                               "[source journal]\n"
                                               "type = journald\n"
                                               "match = SYSLOG_IDENTIFIER=postfix/smtp\n"
                                               "[source net]\n"
                                               "type = syslog\n"
                                               "[sniff]\n"
                                               "interface = lo\n"
                                               "ports = 25,587\n"
                                               "promisc = off\n");
    char *args[] = {"serve", "--config", (char *)path, NULL};
    struct serve_conf c;

    (void)state;
    assert_int_equal(load(&c, args), 0);
    assert_string_equal(c.dsn, "dbname=mail");
    assert_string_equal(c.listen, "127.0.0.1:9100");
    assert_int_equal(c.poll_ms, 500);
    assert_int_equal(c.retention_days, 400);
    assert_int_equal(c.level, LOG_LEVEL_WARN);
    assert_int_equal(c.mta, MTA_POSTFIX);
    assert_string_equal(c.token_file, "/etc/mailpulse.token");
    assert_int_equal(c.rotate_wait_ms, 1000); /* defaults stay */
    assert_int_equal(c.stop_timeout_s, 10);
    assert_string_equal(c.state_dir, SERVE_STATE_DIR);
    assert_int_equal(c.nsrc, 3);
    assert_string_equal(c.src[0].name, "mail");
    assert_int_equal(c.src[0].type, SRC_FILE);
    assert_int_equal(c.src[0].npaths, 2);
    assert_string_equal(c.src[0].paths[1], "/var/log/mail-*.log");
    assert_true(c.src[0].backfill);
    assert_int_equal(c.src[1].type, SRC_JOURNALD);
    assert_int_equal(c.src[1].nmatches, 1);
    assert_int_equal(c.src[2].type, SRC_SYSLOG);
    assert_string_equal(c.src[2].listen, "udp://127.0.0.1:514 tcp://127.0.0.1:514");
    assert_string_equal(c.sniff_iface, "lo");
    assert_string_equal(c.sniff_ports, "25,587");
    assert_false(c.sniff_promisc);
    conf_free(&c);
    assert_null(c.dsn);
    assert_int_equal(c.nsrc, 0);
}

/* The command line wins over the file, adds sources, and --backfill marks only its own. */
static void test_conf_cli_on_top(void **state)
{
    const char *path = write_conf("top.conf", "[serve]\nlisten = 127.0.0.1:9100\n"
                                              "[source mail]\npath = /var/log/mail.log\n");
    char *args[] = {"serve",
                    "--listen",
                    "127.0.0.1:9200",
                    "--log",
                    "/tmp/x.log",
                    "--backfill",
                    "--poll-interval",
                    "20",
                    "--config",
                    (char *)path,
                    "--mta",
                    "exim",
                    "--retention-days",
                    "0",
                    NULL};
    struct serve_conf c;

    (void)state;
    assert_int_equal(load(&c, args), 0);
    assert_string_equal(c.config_path, path);
    assert_string_equal(c.listen, "127.0.0.1:9200");
    assert_int_equal(c.poll_ms, 20);
    assert_int_equal(c.mta, MTA_EXIM);
    assert_int_equal(c.nsrc, 2);
    assert_string_equal(c.src[0].name, "mail");
    assert_false(c.src[0].backfill);
    assert_memory_equal(c.src[1].name, "log-", 4);
    assert_string_equal(c.src[1].paths[0], "/tmp/x.log");
    assert_true(c.src[1].backfill);
    conf_free(&c);
    /* The same command line twice (a reload) gives the same configuration. */
    assert_int_equal(load(&c, args), 0);
    assert_int_equal(c.nsrc, 2);
    conf_free(&c);
}

/* The environment supplies the database and systemd's state directory. */
static void test_conf_environment(void **state)
{
    const char *path = write_conf("env.conf", "[source s]\ntype = syslog\n"
                                              "listen = udp://127.0.0.1:5514\n");
    char *args[] = {"serve", "--config", (char *)path, NULL};
    struct serve_conf c;

    (void)state;
    setenv("MAILPULSE_DB", "dbname=fromenv", 1);
    setenv("STATE_DIRECTORY", "/var/lib/mp:/var/lib/other", 1);
    assert_int_equal(load(&c, args), 0);
    assert_string_equal(c.dsn, "dbname=fromenv");
    assert_string_equal(c.state_dir, "/var/lib/mp");
    assert_string_equal(c.src[0].listen, "udp://127.0.0.1:5514");
    conf_free(&c);
    unsetenv("MAILPULSE_DB");
    unsetenv("STATE_DIRECTORY");
}

/* What is refused, each on its own. */
static void test_conf_errors(void **state)
{
    static const struct {
        const char *file; /* NULL: no --config */
        const char *extra[4];
    } rows[] = {
        {"[serve]\nno_such_key = 1\n[source a]\npath = /x\n", {NULL}},
        {"[serve]\npoll_interval_ms = 5\n[source a]\npath = /x\n", {NULL}},
        {"[serve]\npoll_interval_ms = 10ms\n[source a]\npath = /x\n", {NULL}},
        {"[serve]\nmta = qmail\n[source a]\npath = /x\n", {NULL}},
        {"[serve]\nlog_level = loud\n[source a]\npath = /x\n", {NULL}},
        {"[source a]\ntype = file\n", {NULL}},            /* file without path */
        {"[source a]\ntype = pipe\npath = /x\n", {NULL}}, /* unknown type */
        {"[source a b]\npath = /x\n", {NULL}},            /* bad source name */
        {"[source a]\npath = /x\nbackfill = maybe\n", {NULL}},
        {"[elsewhere]\nx = 1\n", {NULL}},
        {"[sniff]\ninterface = lo\nports = 25,http\n", {NULL}},
        {"[source a]\npath = /x\n", {"stray-operand", NULL}},
        {"[source a]\npath = /x\n", {"--stop-timeout", "0", NULL}},
        {"[source a]\npath = /x\n", {"--year", "1969", NULL}},
        {"[source a]\npath = /x\n", {"--no-such-option", NULL}},
        {"[source a]\npath = /x\n", {"--sniff-ports", "0", NULL}},
        {"[alerts]\nclock = sundial\n", {NULL}},
        {"[alerts]\ninterval = 0\n", {NULL}},
        {"[alerts]\nwebhook = ftp://x/\n", {NULL}},
        {"[alerts]\ndeferral_domain_warning = 150\n", {NULL}},
        {"[alerts]\nno_such_rule_warning = 1\n", {NULL}},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const char *path = write_conf("bad.conf", rows[i].file);
        char *args[8] = {"serve", "--config", (char *)path};
        int n = 3;
        struct serve_conf c;

        for (int k = 0; rows[i].extra[k]; k++)
            args[n++] = (char *)rows[i].extra[k];
        args[n] = NULL;
        if (load(&c, args) != -1)
            fail_msg("row %zu was not refused", i);
        conf_free(&c);
    }
}

/* [alerts]: the defaults, then the file's keys, rules by name, rates in percent. */
static void test_conf_alerts(void **state)
{
    const char *path;
    char *args[] = {"serve", "--config", NULL, NULL};
    struct serve_conf c;

    (void)state;
    path = write_conf("alerts0.conf", "[serve]\nlisten = 127.0.0.1:9400\n");
    args[2] = (char *)path;
    assert_int_equal(load(&c, args), 0);
    assert_int_equal(c.alerts.enabled, 1);
    assert_int_equal(c.alerts.interval_s, 60);
    assert_int_equal(c.alerts.clock_log, 0);
    assert_int_equal(c.alerts.baseline_days, 7);
    assert_int_equal(c.alerts.complaint_window_min, 1440); /* a day: complaints lag */
    assert_null(c.alerts.webhook);
    assert_true(c.alerts.rules.rule[ALERT_COMPLAINT].warning == 0.001);
    conf_free(&c);

    path = write_conf("alerts1.conf", "[alerts]\ninterval = 2\nclock = log\nwindow = 30\n"
                                      "complaint_window = 120\n"
                                      "baseline_days = 14\nwebhook = http://127.0.0.1:9/h\n"
                                      "webhook_timeout = 3\nwebhook_tries = 2\n"
                                      "deferral_domain_min_volume = 20\n"
                                      "deferral_domain_warning = 12.5\n"
                                      "volume_zero_enabled = no\n");
    args[2] = (char *)path;
    assert_int_equal(load(&c, args), 0);
    assert_int_equal(c.alerts.interval_s, 2);
    assert_int_equal(c.alerts.clock_log, 1);
    assert_int_equal(c.alerts.window_min, 30);
    assert_int_equal(c.alerts.complaint_window_min, 120);
    assert_int_equal(c.alerts.baseline_days, 14);
    assert_string_equal(c.alerts.webhook, "http://127.0.0.1:9/h");
    assert_int_equal(c.alerts.hook_timeout_s, 3);
    assert_int_equal(c.alerts.hook_tries, 2);
    assert_int_equal(c.alerts.rules.rule[ALERT_DEFERRAL_DOMAIN].min_volume, 20);
    assert_true(c.alerts.rules.rule[ALERT_DEFERRAL_DOMAIN].warning > 0.1249 &&
                c.alerts.rules.rule[ALERT_DEFERRAL_DOMAIN].warning < 0.1251);
    assert_int_equal(c.alerts.rules.rule[ALERT_VOLUME_ZERO].enabled, 0);
    assert_int_equal(c.alerts.rules.rule[ALERT_BLOCK_NEW].enabled, 1);
    conf_free(&c);
}

/* No source at all is the web-only mode: valid, and --check-config says so. */
static void test_conf_web_only(void **state)
{
    const char *path = write_conf("web.conf", "[serve]\nlisten = 127.0.0.1:9300\n");
    char *args[] = {"serve", "--config", (char *)path, NULL};
    struct serve_conf c;
    char out[512] = "";
    FILE *fp = fmemopen(out, sizeof(out) - 1, "w");

    (void)state;
    assert_int_equal(load(&c, args), 0);
    assert_int_equal(c.nsrc, 0);
    conf_print(&c, fp);
    fclose(fp);
    assert_non_null(strstr(out, "valid, 0 sources (web only"));
    conf_free(&c);
}

/* A named configuration that does not exist is an error, not an empty file. */
static void test_conf_missing_file(void **state)
{
    char path[128];
    char *args[] = {"serve", "--config", path, "--log", "/x", NULL};
    struct serve_conf c;

    (void)state;
    snprintf(path, sizeof(path), "%s/absent.conf", conf_dir);
    assert_int_equal(load(&c, args), -1);
    conf_free(&c);
}

/* --check-config's listing names every source with what it reads. */
static void test_conf_print(void **state)
{
    const char *path = write_conf("print.conf", "[source mail]\npath = /var/log/mail.log\n"
                                                "backfill = true\n"
                                                "[source j]\ntype = journald\n"
                                                "journal_directory = /var/log/journal\n");
    char *args[] = {"serve", "--config", (char *)path, NULL};
    struct serve_conf c;
    char out[1024] = "";
    FILE *fp = fmemopen(out, sizeof(out) - 1, "w");

    (void)state;
    assert_int_equal(load(&c, args), 0);
    conf_print(&c, fp);
    fclose(fp);
    assert_non_null(strstr(out, "valid, 2 sources\n"));
    assert_non_null(strstr(out, "  mail: file /var/log/mail.log (backfill)\n"));
    assert_non_null(strstr(out, "  j: journald directory=/var/log/journal\n"));
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_table),     cmocka_unit_test(test_options_fn_fails),
        cmocka_unit_test(test_cli_shared),        cmocka_unit_test(test_cli_mta),
        cmocka_unit_test(test_conf_file),         cmocka_unit_test(test_conf_cli_on_top),
        cmocka_unit_test(test_conf_environment),  cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_conf_missing_file), cmocka_unit_test(test_conf_web_only),
        cmocka_unit_test(test_conf_print),        cmocka_unit_test(test_conf_alerts),
    };

    return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
