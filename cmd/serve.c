/*
 * serve - `mailpulse serve`, the daemon: one reader per source, batches committed with each
 * source's checkpoint, signals, locks, readiness, metrics, and the HTTP server beside it.
 *
 * The configuration is cmd/serve_conf.c's. Every source is opened through the collector's
 * one source interface (file, journald or syslog). Each file that a file source follows has
 * its own parser (queue ids are correlated within one log) and its own batch, committed
 * every BATCH_EVENTS events, after BATCH_MAX_AGE_US, when the reader is idle, and at each
 * segment end (a rotated file finished). A commit that fails is retried by the retry rules
 * (cmd/retry.c) while reading pauses; the rows come again from the checkpoint after a crash,
 * and the unique (source, position) key makes a replay harmless.
 *
 * A restart does not read a followed log again from its first byte: a commit also stores the
 * parser's state (its open queue ids and the rest, parser_state_save()) for the source at the
 * commit's checkpoint, in the same transaction. It does so at every commit that is not a full
 * batch (the reader caught up, a file ended, the daemon stops) and at least every
 * STATE_EVERY_US while a backlog is read. At start, a segment with a checkpoint loads that
 * state and reading goes on from its position (lines between it and the checkpoint are parsed,
 * not stored). A state that is missing, of another version or corrupt is logged and the
 * segment is read from byte 0 as before, which the unique key keeps exactly once.
 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "parser/provider.h"
#include "collector/collector.h"
#include "collector/sniff.h"
#include "util/util.h"
#include "web/web.h"

#define BATCH_EVENTS     5000
#define BATCH_MAX_AGE_US 1000000
#define SERVE_MAX_RUNS   256
#define SERVE_BURST      20000   /* lines read from one source before the next gets a turn */
#define STATE_EVERY_US   5000000 /* the parser state with a full batch at most this often */
#define GLOB_EVERY_US    5000000 /* how often a file source's patterns are matched again */

/* The daemon's state, shared with the web thread (under lock) for /healthz and /metrics. */
struct ingest {
    pthread_mutex_t lock;
    struct web_ingest_status st;
    struct alerts *alerts; /* NULL: [alerts] is off */
};

/* One reader: a file a file source follows, a journal, or a syslog listener. */
struct run {
    char name[80]; /* the source name */
    char path[4096];
    struct source *src;
    struct parser *p;
    struct db_batch *b;
    int64_t sid;       /* the database source the lines belong to; 0 before the first */
    int64_t next;      /* its checkpoint after the last line read */
    int64_t committed; /* the checkpoint last committed */
    int64_t batch_start;
    struct serve *s;
    struct buf state;       /* the parser state sent with a commit */
    int64_t state_at;       /* the checkpoint of the state last stored */
    int64_t line_us;        /* when its last line was read (wall clock) */
    int64_t state_saved_us; /* when */
    int state_warned;       /* a state left open queue ids out (logged once) */
    int matched;            /* the path came from a pattern: closed when the file is gone */
    int64_t gone_since;     /* when its path was first seen missing; 0 while it is there */
};

struct serve {
    struct serve_conf conf;
    struct db *db;
    struct ingest in;
    struct notify *notify;
    struct run *runs[SERVE_MAX_RUNS];
    int nruns;
    int64_t globbed_us;                      /* when the patterns were last matched */
    int full_warned;                         /* the table of runs was full (logged once) */
    struct maildir_src *mail[SERVE_MAX_SRC]; /* the type = maildir sources */
    char *mail_names[SERVE_MAX_SRC];
    int nmail;
    int locks[SERVE_MAX_SRC];
    char *lock_names[SERVE_MAX_SRC];
    int nlocks;
    struct retry retry; /* the commits' outage */
    int open_failing;   /* db_source_open failed: quiet until it works again */
    uint64_t batches, retries;
    uint64_t resumed;          /* segments that went on from a stored parser state */
    struct serve_sniff *sniff; /* the [sniff] capture, NULL when off */
    int64_t retention_due_us;  /* when retention runs next */
    int64_t roll_due_us;       /* when db_roll_tenmin() runs next */
    int64_t ping_due_us;       /* when an idle daemon checks the database next */
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
    alerts_stats(in->alerts, out);
}

/* ingest_state - the daemon's own state for the ingest-stalled alert rule */
static void ingest_state(void *arg, struct web_ingest_status *out)
{
    struct ingest *in = arg;

    pthread_mutex_lock(&in->lock);
    *out = in->st;
    pthread_mutex_unlock(&in->lock);
}

/*
 * serve_stored - after a store to the database (a batch, the bounces of a Maildir): the
 * figures /healthz shows, and the one warning of an outage and the one line of its end; the
 * caller waits (retry_failed) before it tries again
 */
static void serve_stored(struct serve *s, int ok, const char *what)
{
    int64_t now = time_now_us();

    pthread_mutex_lock(&s->in.lock);
    s->in.st.db_up = ok;
    if (ok) {
        s->in.st.last_commit_us = now;
        s->in.st.batches = ++s->batches;
    } else {
        s->in.st.retries = ++s->retries;
    }
    pthread_mutex_unlock(&s->in.lock);
    if (ok && retry_ok(&s->retry, now) > 0) {
        db_quiet(s->db, 0);
        log_info("database is back; ingest resumed");
    } else if (!ok && s->retry.since_us == 0) {
        log_warn("cannot store %s, retrying with backoff", what);
        db_quiet(s->db, 1); /* one warning per outage, not one per attempt */
    }
}

/* serve_commit - store a run's batch and checkpoint; on failure back off and retry */
static int serve_commit(struct serve *s, struct run *r)
{
    struct db_batch_result res;
    int64_t now = time_now_us();
    int with_state;

    if (r->sid == 0 || (db_batch_count(r->b) == 0 && r->next <= r->committed &&
                        (r->state_at == r->next || source_kind(r->src) != SOURCE_FILE)))
        return 0;
    /* A full batch is a backlog being read: the state (as big as the open queue) then goes
     * with a commit only every STATE_EVERY_US. Only a file goes on from a stored state: a
     * journal seeks to its checkpoint by itself, a syslog listener has none. */
    with_state = source_kind(r->src) == SOURCE_FILE &&
                 (db_batch_count(r->b) < BATCH_EVENTS || now - r->state_saved_us >= STATE_EVERY_US);
    if (with_state) {
        uint64_t dropped = parser_stats(r->p)->state_dropped;

        buf_reset(&r->state);
        parser_state_save(r->p, &r->state);
        db_batch_state(r->b, PARSER_STATE_VERSION, r->state.data, r->state.len);
        if (parser_stats(r->p)->state_dropped > dropped && !r->state_warned) {
            log_warn("source %s: %llu oldest open queue ids left out of the stored parser state "
                     "(over its cap); a restart will not know them (said once)",
                     r->name, (unsigned long long)(parser_stats(r->p)->state_dropped - dropped));
            r->state_warned = 1;
        }
    }
    memset(&res, 0, sizeof(res));
    for (;;) {
        int ok = db_batch_commit(r->b, r->sid, r->next, &res) == 0;

        serve_stored(s, ok, "events; reading paused");
        if (ok) {
            r->committed = r->next;
            if (with_state) {
                r->state_at = r->next;
                r->state_saved_us = now;
            }
            return 0;
        }
        if (stop_requested)
            return -1; /* the rows stay uncommitted; the checkpoint makes them come again */
        retry_sleep(retry_failed(&s->retry, time_now_us()), &stop_requested);
    }
}

/* serve_open_source - the callback readers use: content identity -> source and checkpoint */
static int serve_open_source(void *arg, const char *name, const char *identity, const char *prefix,
                             size_t prefix_len, int64_t *source_id, int64_t *checkpoint)
{
    struct run *r = arg;
    struct serve *s = r->s;

    if (db_source_open(s->db, name, identity, prefix, prefix_len, source_id, checkpoint) == 0) {
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

/*
 * serve_resume - where a segment with a checkpoint starts: the position of its stored parser
 * state, loaded into the run's parser, or 0 (read from the start) when there is none that fits
 */
static int64_t serve_resume(void *arg, int64_t source_id, int64_t checkpoint)
{
    struct run *r = arg;
    struct buf blob;
    int64_t pos = 0, at = 0;
    int version = 0, rc;
    char why[200];

    /* A parser that has read lines (a later file of this run) goes on with what it knows. */
    if (parser_stats(r->p)->lines != 0)
        return 0;
    buf_init(&blob);
    rc = db_state_load(r->s->db, source_id, &pos, &version, &blob);
    if (rc <= 0)
        log_info("source %s: %s; reading %s from byte 0 to rebuild the parser's state", r->name,
                 rc == 0 ? "no stored parser state" : "the parser state cannot be read", r->path);
    else if (pos <= 0 || pos > checkpoint)
        log_warn("source %s: the stored parser state is of byte %lld, the checkpoint %lld; reading "
                 "%s from byte 0",
                 r->name, (long long)pos, (long long)checkpoint, r->path);
    else if (parser_state_load(r->p, blob.data, blob.len, why, sizeof(why)) != 0)
        log_warn("source %s: the stored parser state is not used (%s); reading %s from byte 0",
                 r->name, why, r->path);
    else
        at = pos;
    if (at > 0) {
        log_info("source %s: parser state of byte %lld loaded (%zu bytes)", r->name, (long long)at,
                 blob.len);
        r->state_at = at;
        /* Caught up already: held hops may be released before the next line arrives. */
        if (at == checkpoint) {
            r->sid = source_id;
            r->next = r->committed = checkpoint;
            r->line_us = time_now_us();
        }
        pthread_mutex_lock(&r->s->in.lock);
        r->s->in.st.resumed = ++r->s->resumed;
        pthread_mutex_unlock(&r->s->in.lock);
    }
    buf_free(&blob);
    return at;
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

/* run_state_path - the file that remembers which file was live at path, to finish it after a
 * rotation */
static void run_state_path(const struct serve *s, const char *name, const char *path, char *out,
                           size_t outlen)
{
    snprintf(out, outlen, "%s/%s.%016llx.state", s->conf.state_dir, name,
             (unsigned long long)hash_fnv1a64(path, strlen(path)));
}

/*
 * run_open - a reader for one followed file (or the journal, or a listener) of a source: 0,
 * also when that path is read already or the table is full (logged), -1 when it cannot start;
 * matched: the path came from a pattern
 */
static int run_open(struct serve *s, const struct src_conf *sc, const char *path, int matched)
{
    struct source_opts so;
    struct source *src;
    char state[4096], err[512];
    struct run *r;

    for (int i = 0; i < s->nruns; i++) {
        if (strcmp(s->runs[i]->path, path) != 0)
            continue;
        if (strcmp(s->runs[i]->name, sc->name) != 0)
            log_warn("source %s: %s is already followed by source %s; not twice", sc->name, path,
                     s->runs[i]->name);
        return 0; /* already read (or a reload) */
    }
    if (s->nruns == SERVE_MAX_RUNS) {
        if (!s->full_warned)
            log_warn("more than %d files to follow; %s is left out (said once until one closes)",
                     SERVE_MAX_RUNS, path);
        s->full_warned = 1;
        return 0;
    }
    r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->matched = matched;
    snprintf(r->name, sizeof(r->name), "%s", sc->name);
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->p = cmd_parser(s->conf.year, s->conf.mta);
    buf_init(&r->state);
    memset(&so, 0, sizeof(so));
    so.name = sc->name;
    so.notify = s->notify;
    so.open_source = serve_open_source;
    so.resume = serve_resume;
    so.arg = r;
    switch (sc->type) {
    case SRC_FILE:
        run_state_path(s, sc->name, path, state, sizeof(state));
        so.kind = SOURCE_FILE;
        so.path = path;
        so.state_path = state;
        so.backfill = sc->backfill;
        so.rotate_wait_us = (int64_t)s->conf.rotate_wait_ms * 1000;
        break;
    case SRC_JOURNALD:
        so.kind = SOURCE_JOURNAL;
        so.directory = sc->journal_dir;
        so.matches = sc->matches;
        so.nmatches = (size_t)sc->nmatches;
        break;
    case SRC_SYSLOG:
        so.kind = SOURCE_SYSLOG;
        so.listen = sc->listen;
        break;
    case SRC_MAILDIR:
        return -1; /* not a line source: serve_sources() starts it */
    }
    src = source_open(&so, err, sizeof(err));
    if (src == NULL) {
        log_error("source %s: %s", sc->name, err);
        parser_free(r->p);
        buf_free(&r->state);
        x_free(r);
        return -1;
    }
    r->src = src;
    r->b = db_batch_create(s->db);
    s->runs[s->nruns++] = r;
    if (sc->type == SRC_FILE)
        log_info("source %s: following %s%s", sc->name, path, sc->backfill ? " (backfill)" : "");
    else if (sc->type == SRC_JOURNALD)
        log_info("source %s: reading the journal%s%s", sc->name, sc->journal_dir ? " in " : "",
                 sc->journal_dir ? sc->journal_dir : "");
    return 0;
}

/* serve_files - a reader for every live file that a file source's paths name; quiet: no
 * warning about a pattern that matches nothing (the periodic look) */
static void serve_files(struct serve *s, const struct src_conf *sc, int quiet)
{
    for (int k = 0; k < sc->npaths; k++) {
        glob_t g;
        int found = 0;

        if (strpbrk(sc->paths[k], "*?[") == NULL) {
            run_open(s, sc, sc->paths[k], 0); /* may not exist yet: waited for */
            continue;
        }
        if (glob(sc->paths[k], 0, NULL, &g) == 0) {
            for (size_t m = 0; m < g.gl_pathc; m++)
                if (!follow_rotated_name(g.gl_pathv[m])) {
                    run_open(s, sc, g.gl_pathv[m], 1);
                    found = 1;
                }
            globfree(&g);
        }
        if (!found && !quiet)
            log_warn("source %s: nothing matches %s yet (looked for again every %d s)", sc->name,
                     sc->paths[k], GLOB_EVERY_US / 1000000);
    }
}

/* serve_maildir_open - start a Maildir source unless it runs already (a reload): 0 or -1 */
static int serve_maildir_open(struct serve *s, const struct src_conf *sc)
{
    struct maildir_src *m;

    for (int i = 0; i < s->nmail; i++)
        if (strcmp(s->mail_names[i], sc->name) == 0)
            return 0;
    if (s->nmail == SERVE_MAX_SRC || (m = maildir_open(sc)) == NULL)
        return -1;
    s->mail_names[s->nmail] = xstrdup(sc->name);
    s->mail[s->nmail++] = m;
    return 0;
}

/* serve_maildir_step - read the Maildirs; a store that fails is retried like a commit */
static int serve_maildir_step(struct serve *s)
{
    int any = 0;

    for (int i = 0; i < s->nmail && !stop_requested; i++) {
        int r = maildir_step(s->mail[i], s->db, time_now_us());

        if (r == 0)
            continue;
        serve_stored(s, r > 0, "bounce messages; they wait in the Maildir");
        if (r > 0)
            any = 1;
        else
            retry_sleep(retry_failed(&s->retry, time_now_us()), &stop_requested);
    }
    return any;
}

/* serve_sources - start a reader for every source (new ones only, after a reload) */
static int serve_sources(struct serve *s)
{
    int rc = 0;

    /* One source that cannot start does not keep the others from starting (a reload). */
    for (int i = 0; i < s->conf.nsrc; i++) {
        const struct src_conf *sc = &s->conf.src[i];

        if (serve_lock(s, sc->name) != 0) {
            rc = -1;
            continue;
        }
        if (sc->type == SRC_MAILDIR) {
            if (serve_maildir_open(s, sc) != 0)
                rc = -1;
            continue;
        }
        if (sc->type == SRC_FILE)
            serve_files(s, sc, 0);
        else if (run_open(s, sc,
                          sc->type == SRC_SYSLOG ? sc->listen
                          : sc->journal_dir      ? sc->journal_dir
                                                 : "journal",
                          0) != 0)
            rc = -1;
    }
    return rc;
}

/* run_add - one event into the run's batch, under its line's position (a held hop: the
 * position of the line it was read from) */
static void run_add(struct run *r, int64_t pos, const struct event *ev)
{
    if (db_batch_count(r->b) == 0)
        r->batch_start = time_now_us();
    db_batch_add(r->b, r->sid, ev->held_pos ? ev->held_pos - 1 : pos, ev);
}

/* run_release - a source quiet for hold_seconds (or, with now, one stopping that
 * keeps no parser state): the hops its parser holds are deliveries (no re-injection came) */
static void run_release(struct run *r, int now)
{
    struct event ev;

    if (r->sid == 0 || parser_held(r->p) == 0 ||
        (!now && time_now_us() - r->line_us < (int64_t)r->s->conf.hold_s * 1000000))
        return;
    while (parser_release(r->p) > 0)
        while (parser_next(r->p, &ev))
            run_add(r, 0, &ev);
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
        r->state_at = 0;
    }
    parser_set_pos(r->p, ln->pos);
    pr = parser_line(r->p, ln->line, ln->len, &ev);
    r->next = ln->next;
    db_batch_prefix(r->b, ln->prefix_len, ln->prefix_hash);
    r->line_us = time_now_us();
    if (pr == PARSE_EVENT && ln->store) {
        if (ln->cut)
            ev.flags |= EVF_TRUNCATED;
        run_add(r, ln->pos, &ev);
    }
    while (parser_next(r->p, &ev)) /* the line's further events, and released hops */
        if (ln->store)
            run_add(r, ln->pos, &ev);
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

        rc = source_next(r->src, &ln);
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
            db_batch_prefix(r->b, ln.prefix_len, ln.prefix_hash);
            serve_commit(s, r);
            r->sid = 0;
            any = 1;
            continue;
        }
        break; /* 0: nothing now; -1: retried at the next round */
    }
    if (!any)
        run_release(r, 0);
    /* Commit a batch when idle or old; when idle, lines without events still move the
     * checkpoint. */
    if ((db_batch_count(r->b) > 0 && (!any || time_now_us() - r->batch_start > BATCH_MAX_AGE_US)) ||
        (!any && (r->next > r->committed || r->state_at != r->next)))
        serve_commit(s, r);
    return any;
}

/* run_free - a run's reader, parser and batch freed */
static void run_free(struct run *r)
{
    db_batch_free(r->b);
    source_close(r->src);
    parser_free(r->p);
    buf_free(&r->state);
    x_free(r);
}

/*
 * serve_globs - every GLOB_EVERY_US: a file source's patterns are matched again, so that a
 * new file (one named by its date, say) is followed without a SIGHUP; and a matched file that
 * is gone (deleted, not replaced: the path is still missing at the next look) and read nothing
 * for rotate_wait_ms is closed, its rows and checkpoint committed, so that its descriptor,
 * disk space and slot are given back
 */
static void serve_globs(struct serve *s)
{
    int64_t now = time_now_us(), quiet = (int64_t)s->conf.rotate_wait_ms * 1000;

    if (now - s->globbed_us < GLOB_EVERY_US)
        return;
    s->globbed_us = now;
    for (int i = 0; i < s->conf.nsrc; i++)
        if (s->conf.src[i].type == SRC_FILE)
            serve_files(s, &s->conf.src[i], 1);
    for (int i = 0; i < s->nruns; i++) {
        struct run *r = s->runs[i];
        struct stat st;
        char state[4096];

        if (!r->matched)
            continue;
        if (stat(r->path, &st) == 0 || errno != ENOENT) {
            r->gone_since = 0;
            continue;
        }
        if (r->gone_since == 0) {
            r->gone_since = now;
            continue;
        }
        if (now - r->line_us < quiet)
            continue;
        run_release(r, 1);
        if (serve_commit(s, r) != 0)
            return; /* stopping: the rows come again from the checkpoint */
        /* Closed before it is said: whoever reads the line finds the descriptor given back. */
        source_close(r->src);
        r->src = NULL;
        log_info("source %s: %s is gone and was read to its end; closed", r->name, r->path);
        run_state_path(s, r->name, r->path, state, sizeof(state));
        if (unlink(state) != 0 && errno != ENOENT)
            log_warn("cannot remove %s: %s", state, strerror(errno));
        run_free(r);
        s->runs[i] = s->runs[--s->nruns];
        s->full_warned = 0;
        i--;
    }
}

/* serve_activity - a figure that grows whenever a reader does anything with its input: bytes
 * read from files, connections taken and messages received or dropped by listeners (not a
 * connection refused for want of a descriptor) */
static uint64_t serve_activity(const struct serve *s)
{
    uint64_t sum = 0;

    for (int i = 0; i < s->nruns; i++) {
        struct syslog_stats ss;

        sum += source_bytes(s->runs[i]->src);
        if (source_syslog_stats(s->runs[i]->src, &ss) == 0) {
            sum += ss.messages + ss.connections;
            for (int k = 0; k < SYSLOG_NDROPS; k++)
                if (k != SYSLOG_REFUSED) /* a connection it could not take is no progress */
                    sum += ss.drops[k];
        }
    }
    return sum;
}

/* serve_syslog_status - a listener's counters into the web's figures (past the last slot:
 * added to it) */
static void serve_syslog_status(struct web_ingest_status *st, const char *name,
                                const struct syslog_stats *ss)
{
    struct web_syslog_status *w;

    _Static_assert(WEB_SYSLOG_DROPS == SYSLOG_NDROPS, "one web figure per kind of drop");
    if (st->nsyslog < WEB_SYSLOG_MAX)
        snprintf(st->syslog[st->nsyslog++].name, sizeof(st->syslog[0].name), "%s", name);
    w = &st->syslog[st->nsyslog - 1];
    w->messages += ss->messages;
    w->connections += ss->connections;
    w->open += ss->open;
    for (int k = 0; k < SYSLOG_NDROPS; k++)
        w->drops[k] += ss->drops[k];
}

/* serve_metrics - the figures /healthz and /metrics show */
static void serve_metrics(struct serve *s)
{
    struct web_ingest_status st;

    memset(&st, 0, sizeof(st));
    for (int i = 0; i < s->nruns; i++) {
        const struct parser_stats *ps = parser_stats(s->runs[i]->p);
        struct syslog_stats ss;

        st.lines += ps->lines;
        st.events += ps->events;
        st.malformed += ps->malformed;
        st.lag_bytes += source_lag(s->runs[i]->src);
        st.cut_lines += source_cut(s->runs[i]->src);
        st.read_bytes += source_bytes(s->runs[i]->src);
        if (source_syslog_stats(s->runs[i]->src, &ss) == 0)
            serve_syslog_status(&st, s->runs[i]->name, &ss);
    }
    for (int i = 0; i < s->nmail; i++) {
        struct maildir_stats ms;

        maildir_get_stats(s->mail[i], &ms);
        st.bounce_messages += ms.messages;
        st.bounce_not_bounce += ms.not_bounce;
        st.bounce_malformed += ms.malformed;
        st.bounce_records += ms.records;
        st.bounce_duplicates += ms.duplicates;
    }
    pthread_mutex_lock(&s->in.lock);
    s->in.st.bounce_messages = st.bounce_messages;
    s->in.st.bounce_not_bounce = st.bounce_not_bounce;
    s->in.st.bounce_malformed = st.bounce_malformed;
    s->in.st.bounce_records = st.bounce_records;
    s->in.st.bounce_duplicates = st.bounce_duplicates;
    s->in.st.lines = st.lines;
    s->in.st.events = st.events;
    s->in.st.malformed = st.malformed;
    s->in.st.lag_bytes = st.lag_bytes;
    s->in.st.cut_lines = st.cut_lines;
    s->in.st.read_bytes = st.read_bytes;
    s->in.st.sources = (uint64_t)s->nruns + (uint64_t)s->nmail;
    memcpy(s->in.st.syslog, st.syslog, sizeof(st.syslog));
    s->in.st.nsyslog = st.nsyslog;
    pthread_mutex_unlock(&s->in.lock);
}

/* serve_reload - SIGHUP: reopen the files, read the configuration again, add new sources */
static void serve_reload(struct serve *s, int argc, char **argv)
{
    struct serve_conf nc;

    sd_notify(0, "RELOADING=1");
    log_info("SIGHUP: reopening files and reloading %s", s->conf.config_path);
    for (int i = 0; i < s->nruns; i++)
        source_reopen(s->runs[i]->src);
    if (conf_load(&nc, argc, argv) != 0) { /* --help cannot reach a running daemon */
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
            log_warn("a source could not start (see above); the others run, and the next "
                     "SIGHUP tries it again");
    }
    sd_notify(0, "READY=1");
}

/*
 * serve_sniff - the [sniff] section in the daemon: a live capture, non-blocking,
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
    int64_t sid, pos, batch_start, retry_at;
    struct retry retry;
};

/* serve_sniff_commit - store the batch; 0, or -1 when it is kept for a later try */
static int serve_sniff_commit(struct serve_sniff *z)
{
    struct db_batch_result res;
    int64_t now = time_now_us();

    if (db_batch_count(z->b) == 0)
        return 0;
    memset(&res, 0, sizeof(res));
    if (db_batch_commit(z->b, z->sid, z->pos, &res) == 0) {
        retry_ok(&z->retry, now);
        z->retry_at = 0;
        return 0;
    }
    z->retry_at = now + retry_failed(&z->retry, now);
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
    if (serve_sniff_commit(z) != 0)
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
    if (db_source_open(s->db, z->name, z->name, NULL, 0, &z->sid, &checkpoint) != 0) {
        log_warn("sniff: cannot register the source %s; sniffing is off", z->name);
        sniff_close(z->cap);
        x_free(z);
        return;
    }
    z->pos = checkpoint;
    z->b = db_batch_create(s->db);
    retry_init(&z->retry, 0);
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
    if (z->retry_at && serve_sniff_commit(z) != 0)
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
        serve_sniff_commit(z);
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

/*
 * serve_roll - every minute, the ten-minute buckets that have passed added up from their
 * events (db_roll_tenmin()), for a second at most: web-only too, so that a fleet's database
 * gets them whoever writes it. A failure is retried the next minute; a database this server
 * may not write (a read-only role, a standby) is left to the others.
 */
#define SERVE_ROLL_US        (60 * 1000000LL)
#define SERVE_ROLL_BUDGET_US (1000000LL)

static void serve_roll(struct serve *s)
{
    int64_t now = time_now_us();
    int up;

    if (now < s->roll_due_us)
        return;
    s->roll_due_us = now + SERVE_ROLL_US;
    pthread_mutex_lock(&s->in.lock);
    up = s->in.st.db_up;
    pthread_mutex_unlock(&s->in.lock);
    if (up && db_roll_tenmin(s->db, SERVE_ROLL_BUDGET_US, NULL) == -2) {
        log_info("this server may not write the database: the ten-minute rollups are left to"
                 " the collectors or `mailpulse db roll`");
        s->roll_due_us = INT64_MAX;
    }
}

/*
 * serve_ping - an idle daemon commits nothing, so nothing would tell it the database went
 * away: every SERVE_PING_US without a commit it asks the server, so that /healthz and
 * /metrics say the truth about db_up.
 */
#define SERVE_PING_US 5000000

static void serve_ping(struct serve *s)
{
    int64_t now = time_now_us();
    int up, was;

    pthread_mutex_lock(&s->in.lock);
    was = s->in.st.db_up;
    if (s->in.st.last_commit_us > now - SERVE_PING_US)
        s->ping_due_us = s->in.st.last_commit_us + SERVE_PING_US;
    pthread_mutex_unlock(&s->in.lock);
    if (now < s->ping_due_us)
        return;
    s->ping_due_us = now + SERVE_PING_US;
    if (was)
        db_quiet(s->db, 1); /* the warning below is the one line of this outage */
    up = db_ping(s->db) == 0;
    if (!up && was)
        log_warn("the database does not answer: %s", db_error(s->db));
    else if (up && !was)
        log_info("the database answers again");
    if (up)
        db_quiet(s->db, 0);
    pthread_mutex_lock(&s->in.lock);
    s->in.st.db_up = up;
    pthread_mutex_unlock(&s->in.lock);
}

/* cmd_serve - the daemon */
int cmd_serve(int argc, char **argv)
{
    struct serve s;
    struct web_opts wopts;
    struct web *web;
    struct sigaction sa;
    char err[512];
    int rc, woke = 0; /* what ended the last wait (notify_wait) */
    int64_t pause_us = 0;

    /*
     * Each thread that allocates would get a malloc arena of its own, and each reserves
     * 64 MB of address space and keeps what was freed in it. The daemon's threads (web,
     * ingest, alerts, webhook) mostly wait; two arenas keep its address space near 250 MB
     * instead of 500 MB, which matters under a memory limit (systemd MemoryMax, ulimit -v).
     */
    mallopt(M_ARENA_MAX, 2);
    memset(&s, 0, sizeof(s));
    rc = conf_load(&s.conf, argc, argv);
    if (rc != 0) {
        if (rc != CMD_HELP)
            fputs(usage_serve, stderr);
        conf_free(&s.conf);
        return rc == CMD_HELP ? 0 : 2;
    }
    log_set_level((enum log_level)s.conf.level);
    stop_timeout_s = s.conf.stop_timeout_s;
    /* Read once, before any thread names a provider; a reload keeps these rules. */
    if (s.conf.providers_file != NULL &&
        provider_load(s.conf.providers_file, err, sizeof(err)) < 0) {
        log_error("%s", err);
        conf_free(&s.conf);
        return 2;
    }
    if (s.conf.check_only) {
        conf_print(&s.conf, stdout);
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
    s.db = cmd_open_db(s.conf.dsn, 1);
    if (db_ensure_partitions(s.db) != 0)
        log_warn("cannot create this month's partitions now; the first commit will");
    retry_init(&s.retry, 0);
    s.notify = notify_open();
    pthread_mutex_init(&s.in.lock, NULL);
    s.in.st.db_up = 1;
    s.in.st.lag_bytes = -1;
    s.in.st.pcap_drops = -1;
    if (serve_sources(&s) != 0)
        fatal("cannot start the sources (see above)");
    serve_sniff_open(&s);
    if (s.nruns == 0 && s.nmail == 0 && s.sniff == NULL)
        log_info("no source to read: web-only mode, serving what other collectors store in the "
                 "database");

    memset(&wopts, 0, sizeof(wopts));
    wopts.listen = s.conf.listen;
    wopts.dsn = s.conf.dsn;
    wopts.ingest = ingest_status;
    wopts.ingest_arg = &s.in;
    wopts.token_file = s.conf.token_file;
    wopts.tls_cert = s.conf.tls_cert;
    wopts.tls_key = s.conf.tls_key;
    s.in.alerts = alerts_start(&s.conf.alerts, s.conf.dsn, ingest_state, &s.in);
    web = web_start(&wopts, err, sizeof(err));
    if (web == NULL)
        fatal("%s", err);
    log_info("serving %s://%s/ (API: /api/v1/summary, /healthz, /metrics)",
             s.conf.tls_cert != NULL && s.conf.tls_cert[0] ? "https" : "http", s.conf.listen);
    sd_notify(0, "READY=1");

    while (!stop_requested) {
        int any = 0;
        uint64_t activity = serve_activity(&s);

        if (reload_requested) {
            reload_requested = 0;
            serve_reload(&s, argc, argv);
        }
        for (int i = 0; i < s.nruns && !stop_requested; i++)
            any |= run_step(&s, s.runs[i]);
        any |= serve_sniff_step(&s);
        any |= serve_maildir_step(&s);
        serve_globs(&s);
        serve_metrics(&s);
        serve_retention(&s);
        serve_roll(&s);
        if (!any)
            serve_ping(&s);
        if (any || serve_activity(&s) != activity) {
            woke = 0;
            pause_us = 0;
        }
        if (!any) {
            if (woke == 2) {
                /* A readable socket or journal woke us and nothing came of it, not even a
                 * connection taken: its reader cannot go on now (the database away, no
                 * descriptor left to accept with). It stays readable, so waiting on it
                 * again would spin: pause first, longer each time, up to a second. */
                pause_us = pause_us ? pause_us * 2 : 50000;
                if (pause_us > 1000000)
                    pause_us = 1000000;
                retry_sleep(pause_us, &stop_requested);
            }
            woke = notify_wait(s.notify, s.conf.poll_ms);
        }
    }

    log_info("stopping");
    sd_notify(0, "STOPPING=1");
    for (int i = 0; i < s.nruns; i++) {
        /* A file's held hops go with its stored parser state; other sources keep none. */
        if (source_kind(s.runs[i]->src) != SOURCE_FILE)
            run_release(s.runs[i], 1);
        serve_commit(&s, s.runs[i]);
    }
    serve_sniff_close(&s);
    web_stop(web);
    alerts_stop(s.in.alerts);
    for (int i = 0; i < s.nruns; i++)
        run_free(s.runs[i]);
    for (int i = 0; i < s.nmail; i++) {
        maildir_close(s.mail[i]);
        x_free(s.mail_names[i]);
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
