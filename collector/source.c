/*
 * source - one interface over the three kinds of log source: a file followed across
 * rotations (follow.c), the journal (journal.c) and a syslog listener (syslog.c)
 *
 * Each kind supplies its operations in a table; a kind that has no notion of one (the
 * journal has no bytes to lag behind) leaves it NULL, and the answer is the neutral one.
 */
#include <stdio.h>
#include <string.h>

#include "collector/collector.h"
#include "util/util.h"

struct source_ops {
    int (*next)(void *r, struct follow_line *out);
    void (*reopen)(void *r);
    int64_t (*lag)(void *r);
    uint64_t (*cut)(const void *r);
    uint64_t (*bytes)(const void *r);
    void (*close)(void *r);
};

struct source {
    enum source_kind kind;
    const struct source_ops *ops;
    void *r;          /* the kind's reader */
    int64_t position; /* the checkpoint after what was handed out last */
};

/* The file kind: follow.c, with its pointer types wrapped. */
static int file_next(void *r, struct follow_line *out)
{
    return follow_next(r, out);
}

static void file_reopen(void *r)
{
    follow_reopen(r);
}

static int64_t file_lag(void *r)
{
    return follow_lag(r);
}

static uint64_t file_cut(const void *r)
{
    return follow_cut(r);
}

static uint64_t file_bytes(const void *r)
{
    return follow_bytes(r);
}

static void file_close(void *r)
{
    follow_close(r);
}

static int journal_next_op(void *r, struct follow_line *out)
{
    return journal_next(r, out);
}

static void journal_close_op(void *r)
{
    journal_close(r);
}

static int syslog_next_op(void *r, struct follow_line *out)
{
    return syslog_next(r, out);
}

static void syslog_close_op(void *r)
{
    syslog_close(r);
}

static const struct source_ops file_ops = {file_next, file_reopen, file_lag,
                                           file_cut,  file_bytes,  file_close};
static const struct source_ops journal_ops = {journal_next_op, NULL, NULL, NULL, NULL,
                                              journal_close_op};
static const struct source_ops syslog_ops = {syslog_next_op, NULL, NULL,
                                             NULL,           NULL, syslog_close_op};

/* source_open - start reading a source of o->kind; NULL and a message in err on failure */
struct source *source_open(const struct source_opts *o, char *err, size_t errlen)
{
    struct source *s = xcalloc(1, sizeof(*s));

    s->kind = o->kind;
    switch (o->kind) {
    case SOURCE_FILE: {
        struct follow_opts fo;

        memset(&fo, 0, sizeof(fo));
        fo.name = o->path;
        fo.path = o->path;
        fo.state_path = o->state_path;
        fo.backfill = o->backfill;
        fo.rotate_wait_us = o->rotate_wait_us;
        fo.open_source = o->open_source;
        fo.resume = o->resume;
        fo.arg = o->arg;
        s->ops = &file_ops;
        s->r = follow_open(&fo);
        if (s->r && o->notify)
            notify_watch(o->notify, o->path);
        break;
    }
    case SOURCE_JOURNAL: {
        struct journal_opts jo;

        memset(&jo, 0, sizeof(jo));
        jo.name = o->name;
        jo.directory = o->directory;
        jo.matches = o->matches;
        jo.nmatches = o->nmatches;
        jo.open_source = o->open_source;
        jo.arg = o->arg;
        s->ops = &journal_ops;
        s->r = journal_open(&jo, err, errlen);
        if (s->r && o->notify)
            journal_watch(s->r, o->notify);
        break;
    }
    case SOURCE_SYSLOG: {
        struct syslog_opts so;

        memset(&so, 0, sizeof(so));
        so.name = o->name;
        so.listen = o->listen;
        so.open_source = o->open_source;
        so.arg = o->arg;
        s->ops = &syslog_ops;
        s->r = syslog_open(&so, err, errlen);
        if (s->r && o->notify)
            syslog_watch(s->r, o->notify);
        break;
    }
    }
    if (s->r == NULL) {
        if (o->kind == SOURCE_FILE)
            snprintf(err, errlen, "cannot follow %s", o->path);
        x_free(s);
        return NULL;
    }
    return s;
}

/* source_next - the next line (1), a segment's end (2), nothing now (0), or retry later (-1) */
int source_next(struct source *s, struct follow_line *out)
{
    int rc;

    out->prefix_len = 0; /* only a file's reader tells its first bytes */
    out->prefix_hash = 0;
    rc = s->ops->next(s->r, out);

    if (rc == 1 || rc == 2)
        s->position = out->next;
    return rc;
}

/* source_position - the checkpoint after the last line or segment handed out */
int64_t source_position(const struct source *s)
{
    return s->position;
}

/* source_kind - which kind of source this is */
enum source_kind source_kind(const struct source *s)
{
    return s->kind;
}

/* source_reopen - open the source's path again (SIGHUP); nothing for kinds without a path */
void source_reopen(struct source *s)
{
    if (s->ops->reopen)
        s->ops->reopen(s->r);
}

/* source_lag - bytes written and not yet read; 0 for kinds that cannot tell */
int64_t source_lag(struct source *s)
{
    int64_t lag = s->ops->lag ? s->ops->lag(s->r) : 0;

    return lag > 0 ? lag : 0;
}

/* source_cut - overlong lines cut so far */
uint64_t source_cut(const struct source *s)
{
    return s->ops->cut ? s->ops->cut(s->r) : 0;
}

/* source_bytes - bytes read from the logs since the source was opened; 0 for kinds without */
uint64_t source_bytes(const struct source *s)
{
    return s->ops->bytes ? s->ops->bytes(s->r) : 0;
}

/* source_syslog_stats - a syslog listener's counters: 0, or -1 for another kind */
int source_syslog_stats(const struct source *s, struct syslog_stats *out)
{
    if (s->kind != SOURCE_SYSLOG)
        return -1;
    syslog_get_stats(s->r, out);
    return 0;
}

/* source_close - stop reading and free; NULL is a no-op */
void source_close(struct source *s)
{
    if (s == NULL)
        return;
    s->ops->close(s->r);
    x_free(s);
}
