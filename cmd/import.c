/*
 * import - `mailpulse import`: logs into the database, with a progress line on a terminal and
 * a database outage waited out.
 *
 * Each file is one source (its identity is its content, so a renamed copy resumes too).
 * Events go in batches of IMPORT_BATCH, each committed with the file's checkpoint; lines
 * before the checkpoint are parsed only to rebuild the queue-id context. When a commit
 * fails and the server does not answer, the import logs one warning, stops reading (the
 * batch stays in memory, so memory stays flat), and retries the same batch by the retry
 * rules (cmd/retry.c) for up to IMPORT_RETRY_S seconds; rows an interrupted attempt did
 * commit come back as duplicates. A commit that fails while the server answers is an error
 * in the data or the schema: the import stops at once (after a few tries when the server
 * calls the failure transient, a deadlock say).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce/bounce.h"
#include "cmd/cmd.h"
#include "collector/collector.h"
#include "util/util.h"

static const char usage_import[] =
    "usage: mailpulse import [--db DSN | --config FILE] [--year Y] [--mta M] [--providers FILE]\n"
    "                        FILE...\n"
    "       mailpulse import [--db DSN | --config FILE] --bounces FILE|DIR...\n"
    "\n"
    "Load the events of each log (gzip read transparently) into PostgreSQL. Rows are keyed by\n"
    "the file's content identity and the line's byte offset, so importing the same file again\n"
    "adds nothing, a grown file adds only its new lines, and an import that was interrupted\n"
    "continues where its last commit ended. On a terminal a progress line shows bytes,\n"
    "events/s and the time left. When the database goes away the import waits (up to 15\n"
    "minutes, retrying with backoff) and continues. --providers reads site rules that name\n"
    "mailbox providers (\"PATTERN PROVIDER\" per line) before the shipped ones.\n"
    "\n"
    "With --bounces the operands are bounce and complaint messages (a message file, an mbox, a\n"
    "Maildir or a directory of message files, as `mailpulse bounce` reads them): their DSN\n"
    "recipients and ARF reports are stored, each message once however often it is imported,\n"
    "and linked to the deliveries of the same Message-ID.\n";

static const struct cmd_opt import_opts[] = {
    {"db", CLI_DB, CMD_ARG_REQUIRED},
    {"year", CLI_YEAR, CMD_ARG_REQUIRED},
    {"mta", CLI_MTA, CMD_ARG_REQUIRED},
    {"providers", CLI_PROVIDERS, CMD_ARG_REQUIRED},
    {"bounces", CLI_BOUNCES, CMD_ARG_NONE},
    {"config", CLI_CONFIG, CMD_ARG_REQUIRED},
    {NULL, 0, 0},
};

/*
 * Events per commit; MAILPULSE_IMPORT_BATCH overrides (tests). Each commit pays a fixed cost
 * (staging, partition check, rollup upserts, checkpoint, COMMIT): at 5000 an import of 1M rows
 * took 1.6x a raw COPY, at 20000 1.1x, for about 110 MiB more peak RSS (copies of the events).
 */
#define IMPORT_BATCH 20000
/*
 * Batches per transaction, when the file can be read again: the rollups of a transaction's
 * events are written once, at its commit, so fewer commits update each rollup row (a day's
 * row of a recipient domain, say) fewer times. Over a long tail of recipient domains most of
 * a commit's rollup rows are new to the transaction, and the upserts cost about what the
 * events' COPY does: an import of 1M rows over 100,000 domains took 1.6x a raw COPY with 5
 * batches per transaction, 1.35x with 20, 1.25-1.3x with 50. The shared rows the others write too
 * (rollups, the suppression list) are locked only by the upserts at the commit, so a longer
 * transaction does not keep a live collector waiting longer. A failure loses the batches the
 * transaction had, and the file is read again from its last checkpoint.
 */
#define IMPORT_TXN_BATCHES 50
/* Each batch takes a subtransaction; past 64 in one transaction, every other session's
 * snapshot looks the transaction's rows up in pg_subtrans while it runs (db/ingest.c). */
_Static_assert(IMPORT_TXN_BATCHES <= 64,
               "a transaction's batches must fit PostgreSQL's subxid cache");
#define IMPORT_RETRY_S    900
#define PROGRESS_EVERY_US 250000

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

/*
 * The import's writer: a thread that commits one batch while the reader parses the next,
 * so that parsing and the server's work overlap. There are two batches; the reader hands a
 * full one over and waits while the writer is still busy with the other, so at most two
 * batches are in memory, also through an outage (the writer then retries, the reader waits).
 * A transaction spans up to IMPORT_TXN_BATCHES batches (db_batch_send(), then the commit
 * with the checkpoint of the last), one only when the file is read from standard input.
 *
 * The import commits with synchronous_commit off: a server crash may then take back the
 * last commits, rows and checkpoint together. So after any outage the writer reads the
 * checkpoint again before it goes on; when it is behind the last commit the writer saw
 * succeed, or when the failed transaction held batches sent before, the file is read again
 * from that checkpoint (IMPORT_REWIND).
 */
#define IMPORT_REWIND 1

struct import_writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct db *db;
    const char *path, *identity;
    const char *prefix;       /* the file's first bytes (the reader's; they never change) */
    size_t prefix_len;        /* as many as were read when the pending batch was handed over */
    struct db_batch *pending; /* handed over, not yet committed */
    struct db_batch *empty;   /* no events: commits the open transaction alone */
    int final;                /* it is the last batch of the file */
    int64_t source_id, checkpoint;
    int64_t committed; /* the checkpoint of the last commit that succeeded */
    int rereadable;    /* the file can be read again: a transaction may span batches */
    int open;          /* batches sent in the open transaction, not committed yet */
    int64_t sent;      /* the checkpoint of the last of them */
    struct db_batch_result open_res; /* and their rows */
    int result;                      /* 0, -1 failed, IMPORT_REWIND */
    int quit;
    struct import_totals *tot;
    struct progress *pg;
};

/*
 * import_wait - after a failed call: 1 to try again (the connection broke or the server is
 * away, and the wait is not over; this sleeps while the server is away), 0 to give up (the
 * server answers on an intact connection, so the failure was not an outage; or too long).
 * The first failure of an outage logs its one warning.
 */
static int import_wait(struct db *db, struct progress *pg, struct retry *rt, int *up_failures)
{
    int64_t wait;

    if (db_state(db) == DB_UP) {
        /* The server answers: retry a transient failure (a deadlock...) a few times only. */
        if (!db_transient(db) || ++*up_failures > 3)
            return 0;
        if (rt->since_us == 0)
            retry_sleep(retry_jitter(RETRY_MIN_US, (uint64_t)random()), NULL);
        return 1;
    }
    *up_failures = 0;
    if (rt->since_us == 0) {
        progress_clear(pg);
        log_warn("the database is unavailable (%s); reading paused, retrying for up to %d s",
                 db_error(db), IMPORT_RETRY_S);
    }
    wait = retry_failed(rt, time_now_us());
    if (wait < 0)
        return 0;
    retry_sleep(wait, NULL);
    return 1;
}

/* import_over - after a success: say so once when there had been an outage */
static void import_over(struct retry *rt)
{
    int64_t lasted = retry_ok(rt, time_now_us());

    if (lasted > 0)
        log_info("the database is back after %.1f s; import continues", (double)lasted / 1e6);
}

/* res_add - add the rows of r to *to */
static void res_add(struct db_batch_result *to, const struct db_batch_result *r)
{
    to->inserted += r->inserted;
    to->duplicates += r->duplicates;
    to->repaired += r->repaired;
}

/*
 * import_store - send b in the open transaction, or commit it with its checkpoint, waiting
 * out an outage; 0, -1, IMPORT_REWIND. A failure after earlier batches went into the
 * transaction loses them too: then the file is read again from the last checkpoint.
 */
static int import_store(struct import_writer *w, struct db_batch *b, int64_t checkpoint, int commit)
{
    struct db_batch_result res;
    struct retry rt;
    int64_t id, cp = 0;
    int up_failures = 0, rewind = 0, lost = 0, rc;

    retry_init(&rt, (int64_t)IMPORT_RETRY_S * 1000000);
    for (;;) {
        if (rt.since_us != 0) {
            /* Back after an outage: did the server keep what it acknowledged? */
            if (db_source_open(w->db, w->path, w->identity, w->prefix, w->prefix_len, &id, &cp) !=
                0) {
                if (import_wait(w->db, w->pg, &rt, &up_failures))
                    continue;
                break;
            }
            if (cp < w->committed) {
                rewind = 1;
                break;
            }
        }
        if (lost) {
            cp = w->committed;
            rewind = 1;
            break;
        }
        rc = commit ? db_batch_commit(b, w->source_id, checkpoint, &res) : db_batch_send(b, &res);
        if (rc == 0) {
            import_over(&rt);
            res_add(&w->open_res, &res);
            if (!commit) {
                w->open++;
                w->sent = checkpoint;
                return 0;
            }
            w->committed = checkpoint;
            res_add(&w->tot->res, &w->open_res);
            w->open = 0;
            memset(&w->open_res, 0, sizeof(w->open_res));
            return 0;
        }
        if (w->open > 0) {
            /* The rolled back transaction held earlier batches: read them again. */
            lost = 1;
            w->open = 0;
            memset(&w->open_res, 0, sizeof(w->open_res));
        }
        if (!import_wait(w->db, w->pg, &rt, &up_failures))
            break;
    }
    progress_clear(w->pg);
    if (rewind) {
        import_over(&rt);
        log_info("%s: the database does not have the last batches sent; reading again from "
                 "byte %lld, its checkpoint",
                 w->path, (long long)cp);
        return IMPORT_REWIND;
    }
    if (rt.since_us != 0)
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
static int import_source(struct db *db, const char *path, const char *identity, const char *prefix,
                         size_t plen, int64_t *id, int64_t *checkpoint, struct progress *pg)
{
    struct retry rt;
    int up_failures = 0;

    retry_init(&rt, (int64_t)IMPORT_RETRY_S * 1000000);
    for (;;) {
        if (db_source_open(db, path, identity, prefix, plen, id, checkpoint) == 0) {
            import_over(&rt);
            return 0;
        }
        if (!import_wait(db, pg, &rt, &up_failures))
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
        int rc = 0;

        /* A batch that reaches a month without partitions yet starts a transaction: the open
         * one commits first, with the checkpoint of its last batch, so that the partitions are
         * made before BEGIN and no reader waits on them. */
        if (w->open > 0 && db_batch_new_months(w->pending))
            rc = import_store(w, w->empty, w->sent, 1);
        if (rc == 0) {
            int commit = w->final || !w->rereadable || w->open + 1 >= IMPORT_TXN_BATCHES;

            rc = import_store(w, w->pending, w->checkpoint, commit);
        }
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

/* writer_hand - give the writer batch *b to commit with the file's first prefix_len bytes
 * known; *b becomes the idle one */
static int writer_hand(struct import_writer *w, struct db_batch **b, struct db_batch **spare,
                       int64_t checkpoint, size_t prefix_len, int final)
{
    struct db_batch *t;
    int rc = writer_wait(w);

    if (rc != 0)
        return rc;
    db_batch_prefix(*b, prefix_len, hash_fnv1a64(w->prefix, prefix_len));
    pthread_mutex_lock(&w->lock);
    w->pending = *b;
    w->final = final;
    w->checkpoint = checkpoint;
    w->prefix_len = prefix_len;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    t = *b;
    *b = *spare;
    *spare = t;
    return 0;
}

/* prefix_len - how many of the file's first bytes were read */
static size_t prefix_len(const struct lineread *lr)
{
    size_t len;

    lr_prefix(lr, &len);
    return len;
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
    w.rereadable = strcmp(path, "-") != 0;
    w.empty = db_batch_create(db);
    while ((r = lr_next(lr, &line, &len, &pos)) == 1) {
        if (!opened) {
            w.identity = lr_identity(lr);
            w.prefix = lr_prefix(lr, &w.prefix_len);
            if (import_source(db, path, w.identity, w.prefix, w.prefix_len, &source_id, &checkpoint,
                              &pg) != 0) {
                rc = -1;
                break;
            }
            opened = 1;
            w.source_id = source_id;
            w.committed = checkpoint;
            if (pthread_create(&w.thread, NULL, writer_main, &w) != 0)
                fatal("cannot start the writer thread");
        }
        next = pos + (int64_t)len + 1;
        progress_show(&pg, next, tot.events, 0);
        /* Lines before the checkpoint are parsed only to rebuild the queue-id context. */
        parser_set_pos(p, pos);
        if (parser_line(p, line, len, &ev) == PARSE_EVENT && pos >= checkpoint) {
            db_batch_add(b, source_id, pos, &ev);
            tot.events++;
        }
        while (parser_next(p, &ev)) {
            if (pos < checkpoint)
                continue;
            db_batch_add(b, source_id, ev.held_pos ? ev.held_pos - 1 : pos, &ev);
            tot.events++;
        }
        if (db_batch_count(b) >= import_batch) {
            rc = writer_hand(&w, &b, &spare, next, prefix_len(lr), 0);
            if (rc != 0)
                break;
        }
    }
    /* The end of the file: a hop whose re-injection never showed is a delivery, stored under
     * its own line's key (a repeated import finds it there). */
    if (opened && rc == 0 && r == 0) {
        while (parser_release(p) > 0)
            while (parser_next(p, &ev)) {
                db_batch_add(b, source_id, ev.held_pos ? ev.held_pos - 1 : next, &ev);
                tot.events++;
            }
    }
    if (opened) {
        if (rc == 0 && (next > checkpoint || db_batch_count(b) > 0))
            rc = writer_hand(&w, &b, &spare, next > checkpoint ? next : checkpoint, prefix_len(lr),
                             1);
        if (rc == 0)
            rc = writer_wait(&w);
        pthread_mutex_lock(&w.lock);
        w.quit = 1;
        pthread_cond_broadcast(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(w.thread, NULL);
        /* The ranges of the BRIN indexes the last minute filled, summarized now, so that the
         * reports right after the import read none of them in full. */
        if (rc == 0)
            (void)db_summarize(db, NULL);
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    progress_clear(&pg);
    db_batch_free(b);
    db_batch_free(spare);
    db_batch_free(w.empty);
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

/* Bounce records per commit. */
#define BOUNCE_BATCH 500

/* What the bounce import's sink collects. */
struct bounce_import {
    struct db *db;
    struct db_reports *b;
    int64_t source_id;
    int64_t file_us; /* the modification time of the file being read */
    struct db_reports_result tot;
    int failed;
};

/* bounce_commit - commit the collected records, waiting out an outage; 0 or -1 */
static int bounce_commit(struct bounce_import *bi)
{
    struct db_reports_result res;
    struct progress pg = {0};
    struct retry rt;
    int up_failures = 0;

    retry_init(&rt, (int64_t)IMPORT_RETRY_S * 1000000);
    for (;;) {
        if (db_reports_commit(bi->b, &res) == 0) {
            import_over(&rt);
            bi->tot.dsn += res.dsn;
            bi->tot.complaints += res.complaints;
            bi->tot.duplicates += res.duplicates;
            return 0;
        }
        if (!import_wait(bi->db, &pg, &rt, &up_failures))
            break;
    }
    log_error("import stopped: the bounce records could not be stored: %s; run the import "
              "again (messages already stored are not stored twice)",
              db_error(bi->db));
    return -1;
}

/* bounce_emit - one record into the batch; commit when it is full */
static void bounce_emit(const struct bounce_rec *rec, void *ctx)
{
    struct bounce_import *bi = ctx;

    if (bi->failed)
        return;
    db_reports_add(bi->b, bi->source_id, rec, bi->file_us ? bi->file_us : time_now_us());
    if (db_reports_count(bi->b) >= BOUNCE_BATCH && bounce_commit(bi) != 0)
        bi->failed = 1;
}

/* import_bounces - bounce and complaint messages into the database; the exit code */
static int import_bounces(struct db *db, char **paths, int n)
{
    struct bounce_stats st = {0};
    struct bounce_import bi = {0};
    struct bounce_sink sink = {bounce_emit, &bi, &st, &bi.file_us};
    int64_t checkpoint;
    struct progress pg = {0};
    int rc = 0;

    bi.db = db;
    if (import_source(db, "bounces", "bounces:import", NULL, 0, &bi.source_id, &checkpoint, &pg) !=
        0)
        return 1;
    bi.b = db_reports_create(db);
    bounce_init();
    for (int i = 0; i < n && !bi.failed; i++) {
        bi.file_us = 0;
        if ((strcmp(paths[i], "-") == 0 ? bounce_read_stream(stdin, "stdin", &sink)
                                        : bounce_read_path(paths[i], &sink)) != 0)
            rc = 1;
    }
    if (!bi.failed && bounce_commit(&bi) != 0)
        bi.failed = 1;
    db_reports_free(bi.b);
    if (bi.failed)
        return 1;
    printf("bounces: %llu messages, %llu bounces, %llu complaint reports, %llu not a bounce, "
           "%llu malformed; stored %llu DSN recipients and %llu complaints, %llu already "
           "present\n",
           (unsigned long long)st.messages, (unsigned long long)st.bounces,
           (unsigned long long)st.complaints, (unsigned long long)st.not_bounce,
           (unsigned long long)st.malformed, (unsigned long long)bi.tot.dsn,
           (unsigned long long)bi.tot.complaints, (unsigned long long)bi.tot.duplicates);
    fflush(stdout);
    return rc;
}

/* cmd_import - load logs into the database */
int cmd_import(int argc, char **argv)
{
    struct cli cli;
    const char *batch_env = getenv("MAILPULSE_IMPORT_BATCH");
    struct db *db;
    int first, rc = 0;

    cli_init(&cli);
    first = cmd_options(argc, argv, import_opts, usage_import, cli_option, &cli, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    cli_dsn_resolve(&cli);
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
    db = cmd_open_db(cli.dsn, 1);
    /* Safe here: after an outage the writer checks the checkpoint (see import_writer). */
    db_async_commit(db, 1);
    /* Old events: the partitions of their own months are enough. */
    db_partitions_ahead(db, 0);
    /* The import logs its own one line for an outage or a failure, with db_error()'s text. */
    db_quiet(db, 1);
    if (cli.bounces) {
        rc = import_bounces(db, argv + first, argc - first);
        db_close(db);
        return rc;
    }
    for (int i = first; i < argc && rc == 0; i++) {
        int r, rewinds = 0;

        do {
            /* Each file gets a fresh parser: queue ids are correlated within one log. */
            struct parser *p = cmd_parser(cli.year, cli.mta);

            r = import_file(db, p, argv[i]);
            parser_free(p);
        } while (r == IMPORT_REWIND && strcmp(argv[i], "-") != 0 && ++rewinds < 10);
        if (r != 0)
            rc = 1;
    }
    db_close(db);
    return rc;
}
