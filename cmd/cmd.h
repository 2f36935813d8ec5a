/*
 * NAME
 *	cmd - the mailpulse command line: one file per command, and what they share
 *
 * SYNOPSIS
 *	#include "cmd/cmd.h"
 *
 *	int cmd_options(int argc, char **argv, const struct cmd_opt *opts, const char *usage,
 *	                int (*fn)(void *ctx, int key, const char *arg), void *ctx, int quiet);
 *	void cli_init(struct cli *cli);
 *	int cli_option(void *ctx, int key, const char *arg);
 *	void cli_dsn_resolve(struct cli *cli);
 *	int cli_mta(const char *s, enum event_mta *out);
 *
 *	struct db *cmd_open_db(const char *dsn, int need_schema);
 *	struct parser *cmd_parser(int year, enum event_mta mta);
 *	int cmd_each_event(struct parser *p, char **files, int nfiles,
 *	                   void (*fn)(void *arg, const struct event *ev), void *arg);
 *	void cmd_print_stats(const struct parser *p);
 *
 *	void retry_init(struct retry *r, int64_t give_up_us);
 *	int64_t retry_failed(struct retry *r, int64_t now_us);
 *	int64_t retry_ok(struct retry *r, int64_t now_us);
 *	int64_t retry_jitter(int64_t wait_us, uint64_t rnd);
 *	void retry_sleep(int64_t us, volatile sig_atomic_t *stop);
 *
 *	int conf_load(struct serve_conf *c, int argc, char **argv);
 *	const char *conf_dsn(const char *path);
 *	void conf_free(struct serve_conf *c);
 *	void conf_print(const struct serve_conf *c, FILE *fp);
 *
 *	struct alerts *alerts_start(const struct alerts_conf *c, const char *dsn,
 *	                            void (*ingest)(void *arg, struct web_ingest_status *out),
 *	                            void *ingest_arg);
 *	void alerts_stats(struct alerts *a, struct web_ingest_status *out);
 *	void alerts_stop(struct alerts *a);
 *
 *	struct maildir_src *maildir_open(const struct src_conf *sc);
 *	int maildir_step(struct maildir_src *m, struct db *db, int64_t now_us);
 *	void maildir_get_stats(const struct maildir_src *m, struct maildir_stats *out);
 *	void maildir_close(struct maildir_src *m);
 *
 *	struct hook *hook_start(const char *url, int timeout_s, int tries);
 *	int hook_post(struct hook *h, const char *body, size_t len);
 *	void hook_stats(struct hook *h, uint64_t *sent, uint64_t *failed, uint64_t *dropped);
 *	void hook_stop(struct hook *h);
 *
 *	int cmd_parse(int argc, char **argv);   (and cmd_report, cmd_import, cmd_serve,
 *	                                          cmd_db, cmd_sniff, cmd_bounce)
 *
 * DESCRIPTION
 *	Every command reads its options through cmd_options(): a table of the long options it
 *	accepts (names match exactly, or as an unambiguous abbreviation the way getopt_long
 *	does), each handed to fn with its key and argument. It returns the index of the first
 *	operand; CMD_HELP after printing usage to stdout for -h/--help; CMD_USAGE after
 *	printing what was wrong and the usage to stderr (an unknown option, a missing
 *	argument, or fn returning -1); usage NULL prints no usage. quiet skips unknown options
 *	and --help and prints nothing (a second pass over the same command line).
 *
 *	struct cli holds the options that parse, report, import and db share, and cli_option()
 *	is their fn; a value out of range is fatal, with a message that names the option.
 *	cli_dsn_resolve(), after the options, takes the database of --config FILE (serve's
 *	configuration, its [serve] db = line; fatal when it names none) unless --db was given.
 *
 *	cmd_open_db() connects (and, with need_schema, refuses a schema that is not current);
 *	failures are fatal. cmd_each_event() reads files ("-" is stdin, gzip transparently)
 *	through one parser in order and hands every event to fn; 0, or 1 when a file could
 *	not be opened or read. cmd_print_stats() prints a parser's line counts to stderr.
 *
 *	The retry rules, shared by import and serve: after a failure, wait RETRY_MIN_US, then
 *	twice as long each time up to RETRY_MAX_US, each wait jittered to between half and all
 *	of it; a success ends the outage. retry_failed() records a failure at now_us and
 *	returns the wait before the next try, or -1 when the outage has lasted longer than the
 *	give-up time (0: never give up). retry_ok() records a success and returns how long the
 *	outage that it ends lasted (0 when there was none). retry_sleep() sleeps, and returns
 *	early once *stop is set (stop may be NULL).
 *
 *	alerts_start() runs the alert rules (report/alert.c) in a thread of its own with a
 *	database connection of its own, every c->interval_s seconds, storing each alert's start,
 *	change and end (db/alerts.c) and posting fire and clear to the webhook; ingest tells it
 *	the daemon's own state (db_up, lag). alerts_stats() adds its figures to out.
 *	alerts_stop() ends the thread and frees it all.
 *
 *	maildir_open() starts a type = maildir source (bounce messages delivered to a Maildir;
 *	NULL, logged, when path is not one); maildir_step() reads and stores what its new/
 *	holds and marks it done (1), finds nothing (0), or could not store it (-1: nothing is
 *	marked, call again after a wait). See cmd/maildir.c.
 *
 *	hook_start() starts the webhook's sender thread: hook_post() copies a JSON body into a
 *	bounded queue (HOOK_QUEUE) and returns at once, -1 and a drop counted when the queue is
 *	full; the thread POSTs each body with timeout_s per attempt and up to tries attempts
 *	spaced by the retry rules below. hook_stop() gives the queue up to timeout_s more and
 *	frees it.
 *
 *	conf_load() builds the serve configuration: defaults, then the INI file (--config, or
 *	/etc/mailpulse.conf when it exists), then the rest of the command line on top. 0, or
 *	-1 after logging what is wrong. conf_dsn() reads only the database of a configuration
 *	file (its [serve] db =), for cli_dsn_resolve(); it is fatal when the file cannot say.
 *
 * OWNERSHIP
 *	cmd_options() keeps no pointer; fn's arg points into argv. conf_load() allocates every
 *	string of the configuration; conf_free() frees them and zeroes it.
 *
 * DIAGNOSTICS
 *	Usage errors print the command's usage and exit 2; start-up errors are fatal (exit 1).
 */
#ifndef MAILPULSE_CMD_H
#define MAILPULSE_CMD_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "db/db.h"
#include "parser/parser.h"
#include "report/alert.h"
#include "web/web.h"

#define CMD_HELP  (-2)
#define CMD_USAGE (-1)

#define CMD_ARG_NONE     0
#define CMD_ARG_REQUIRED 1

struct cmd_opt {
    const char *name; /* the long name, without "--" */
    int key;          /* a short option letter, or a number >= 256 */
    int arg;          /* CMD_ARG_NONE or CMD_ARG_REQUIRED */
};

int cmd_options(int argc, char **argv, const struct cmd_opt *opts, const char *usage,
                int (*fn)(void *ctx, int key, const char *arg), void *ctx, int quiet);

/* The keys of the shared options (struct cli). */
enum cli_key {
    CLI_DB = 256,
    CLI_YEAR,
    CLI_FORMAT,
    CLI_MTA,
    CLI_STATS,
    CLI_DAYS,
    CLI_FROM,
    CLI_TO,
    CLI_TOP,
    CLI_PROVIDERS,
    CLI_BOUNCES,
    CLI_CONFIG
};

struct cli {
    const char *dsn; /* --db, else $MAILPULSE_DB, else "" (the PG* variables) */
    int year;
    int stats;
    enum event_mta mta; /* --mta: MTA_UNKNOWN is auto */
    int days;           /* db retention --days */
    const char *format; /* --format as given; NULL when absent */
    const char *from;   /* report --from, --to: RFC 3339 or -24h, -7d */
    const char *to;
    int top;            /* report --top: rows per table, 0 all */
    int top_given;      /* --top was on the command line */
    int bounces;        /* import --bounces: the operands are bounce messages */
    const char *config; /* --config FILE: the database of serve's configuration */
    int dsn_given;      /* --db was on the command line */
};

void cli_init(struct cli *cli);
int cli_option(void *ctx, int key, const char *arg);
void cli_dsn_resolve(struct cli *cli);
int cli_mta(const char *s, enum event_mta *out);

struct db *cmd_open_db(const char *dsn, int need_schema);
struct parser *cmd_parser(int year, enum event_mta mta);
int cmd_each_event(struct parser *p, char **files, int nfiles,
                   void (*fn)(void *arg, const struct event *ev), void *arg);
void cmd_print_stats(const struct parser *p);

/* The retry rules (cmd/retry.c). */
#define RETRY_MIN_US 250000LL
#define RETRY_MAX_US 10000000LL

struct retry {
    int64_t give_up_us; /* how long an outage may last; 0: for ever */
    int64_t since_us;   /* when the outage began; 0: none */
    int64_t backoff_us; /* the next wait before jitter */
    uint64_t failures;  /* in this outage */
};

void retry_init(struct retry *r, int64_t give_up_us);
int64_t retry_failed(struct retry *r, int64_t now_us);
int64_t retry_ok(struct retry *r, int64_t now_us);
int64_t retry_jitter(int64_t wait_us, uint64_t rnd);
void retry_sleep(int64_t us, volatile sig_atomic_t *stop);

/* The [alerts] section (cmd/serve_conf.c), read by cmd/alerts.c. */
struct alerts_conf {
    int enabled;
    int interval_s;           /* between evaluations */
    int clock_log;            /* "now" is the newest stored event time, not the wall clock */
    int window_min;           /* the current window */
    int complaint_window_min; /* the complaint rule's current window (complaints lag sends) */
    int baseline_days;        /* the baseline before it */
    int stall_lag_s;          /* ingest behind with no commit this long counts as stalled */
    char *webhook;            /* NULL: none */
    int hook_timeout_s;       /* one POST */
    int hook_tries;           /* attempts per notification */
    struct alert_conf rules;
};

/* The serve configuration (cmd/serve_conf.c). */
#define SERVE_CONFIG    "/etc/mailpulse.conf"
#define SERVE_STATE_DIR "/var/lib/mailpulse"
#define SERVE_MAX_SRC   64
#define SERVE_MAX_PATHS 16

enum src_type { SRC_FILE, SRC_JOURNALD, SRC_SYSLOG, SRC_MAILDIR };

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
    int keep;          /* maildir: done = keep (leave messages in new/); else move to cur/ */
    char *failed_dir;  /* maildir: where unparseable messages go; NULL: left in new/ */
};

/* The daemon's Maildir source of bounce messages (cmd/maildir.c). */
struct maildir_src;
struct maildir_stats {
    uint64_t messages, bounces, complaints, not_bounce, malformed; /* messages read */
    uint64_t records;    /* DSN and complaint records stored */
    uint64_t duplicates; /* records already stored (a message read again) */
    uint64_t moved;      /* messages moved to cur/ */
};
struct maildir_src *maildir_open(const struct src_conf *sc);
int maildir_step(struct maildir_src *m, struct db *db, int64_t now_us);
void maildir_get_stats(const struct maildir_src *m, struct maildir_stats *out);
void maildir_close(struct maildir_src *m);

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
    int hold_s;         /* a quiet source's held content-filter hops are released after this */
    int retention_days; /* 0: keep everything */
    struct src_conf src[SERVE_MAX_SRC];
    int nsrc;
    char *sniff_iface, *sniff_ports; /* [sniff] interface=, ports= */
    int sniff_promisc;               /* [sniff] promisc= */
    struct alerts_conf alerts;       /* [alerts] */
    char *providers_file;            /* [providers] file=: site provider rules */
};

extern const char usage_serve[];

int conf_load(struct serve_conf *c, int argc, char **argv);
const char *conf_dsn(const char *path);
void conf_free(struct serve_conf *c);
void conf_set(char **dst, const char *value);
void conf_print(const struct serve_conf *c, FILE *fp);

/* The alert evaluator (cmd/alerts.c) and its webhook (cmd/alert_hook.c). */
#define HOOK_QUEUE 64

struct alerts;
struct hook;

struct alerts *alerts_start(const struct alerts_conf *c, const char *dsn,
                            void (*ingest)(void *arg, struct web_ingest_status *out),
                            void *ingest_arg);
void alerts_stats(struct alerts *a, struct web_ingest_status *out);
void alerts_stop(struct alerts *a);
struct hook *hook_start(const char *url, int timeout_s, int tries);
int hook_post(struct hook *h, const char *body, size_t len);
void hook_stats(struct hook *h, uint64_t *sent, uint64_t *failed, uint64_t *dropped);
void hook_stop(struct hook *h);

/* The commands. */
int cmd_parse(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_sniff(int argc, char **argv);
int cmd_bounce(int argc, char **argv);

#endif
