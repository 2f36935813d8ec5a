/*
 * maildir - the daemon's Maildir source: bounce and complaint messages delivered to a Maildir
 *
 * A step lists new/ (at most once per MAILDIR_POLL_US), reads up to MAILDIR_STEP messages in
 * name order (Maildir names begin with the delivery time), hands each to bounce_message() and
 * stores every record in one transaction (db_reports_commit). Only after that commit is each
 * message marked done: with done = move it is renamed into cur/ with the Seen flag (":2,S"),
 * with done = keep it stays in new/ and its name is remembered for the life of the process.
 * A crash between the commit and the rename reads the message again at the next start; its
 * records are keyed by the message's hash and so stored once.
 *
 * A message that cannot be parsed (over a limit, not a message) is counted and moved to the
 * failed directory when one is configured, else left in new/ and skipped from then on; it
 * never stops the messages after it. A message that is not a bounce (an auto-reply, ordinary
 * mail) is counted and marked done like a bounce. When the commit fails, nothing is marked,
 * the step returns -1 and the caller retries later: the same messages are read again.
 *
 * A DSN stored before the log line of its delivery was (the sources run side by side) is
 * "unseen"; every RELINK_EVERY_US the unseen DSNs of the last week of DSNs are linked again
 * to the deliveries stored since (db_reports_relink).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce/bounce.h"
#include "cmd/cmd.h"
#include "util/util.h"

#define MAILDIR_POLL_US 1000000
#define MAILDIR_STEP    256
#define RELINK_EVERY_US (10 * 1000000LL)

/* A set of 64-bit name hashes: the messages kept in new/ (done = keep) or skipped. */
struct nameset {
    uint64_t *v; /* 0 is an empty slot */
    size_t cap, n;
};

enum done { DONE_OK, DONE_FAILED };

/* One message read in this step, marked after the commit. */
struct pending {
    char *name;
    enum done how;
};

struct maildir_src {
    char *name;            /* the source name */
    char *dir;             /* the Maildir */
    char *failed;          /* the failed directory, or NULL */
    int keep;              /* done = keep */
    int64_t sid;           /* its database source, 0 before the first step */
    int64_t due_us;        /* when new/ is listed next */
    int64_t relink_due_us; /* when DSNs stored unlinked are linked again */
    struct nameset seen;
    struct db_reports *b;
    struct maildir_stats st;
    struct bounce_stats bs;
    int64_t file_us;
};

/* set_has - is h in the set? */
static bool set_has(const struct nameset *s, uint64_t h)
{
    if (s->cap == 0)
        return false;
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->v[i] == 0)
            return false;
        if (s->v[i] == h)
            return true;
    }
}

/* set_add - put h in the set, growing it at half full */
static void set_add(struct nameset *s, uint64_t h)
{
    if (set_has(s, h))
        return;
    if (2 * (s->n + 1) > s->cap) {
        struct nameset g = {xcalloc(s->cap ? s->cap * 2 : 1024, sizeof(uint64_t)),
                            s->cap ? s->cap * 2 : 1024, 0};

        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i] != 0)
                set_add(&g, s->v[i]);
        x_free(s->v);
        *s = g;
    }
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->v[i] == 0) {
            s->v[i] = h;
            s->n++;
            return;
        }
    }
}

/* name_hash - the set key of a file name (never 0) */
static uint64_t name_hash(const char *name)
{
    uint64_t h = hash_fnv1a64(name, strlen(name));

    return h ? h : 1;
}

/* maildir_open - a Maildir source; NULL (logged) when its directory is not a Maildir */
struct maildir_src *maildir_open(const struct src_conf *sc)
{
    struct maildir_src *m;
    struct stat st;
    char sub[4096];

    snprintf(sub, sizeof(sub), "%s/new", sc->paths[0]);
    if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("source %s: %s is not a Maildir (no new/ directory)", sc->name, sc->paths[0]);
        return NULL;
    }
    snprintf(sub, sizeof(sub), "%s/cur", sc->paths[0]);
    if (!sc->keep && (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode)) && mkdir(sub, 0700) != 0) {
        log_error("source %s: cannot make %s: %s", sc->name, sub, strerror(errno));
        return NULL;
    }
    if (sc->failed_dir != NULL && (stat(sc->failed_dir, &st) != 0 || !S_ISDIR(st.st_mode)) &&
        mkdir(sc->failed_dir, 0700) != 0) {
        log_error("source %s: cannot make the failed directory %s: %s", sc->name, sc->failed_dir,
                  strerror(errno));
        return NULL;
    }
    m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(sc->name);
    m->dir = xstrdup(sc->paths[0]);
    m->failed = sc->failed_dir ? xstrdup(sc->failed_dir) : NULL;
    m->keep = sc->keep;
    log_info("source %s: reading bounces from the Maildir %s (done = %s)", sc->name, m->dir,
             m->keep ? "keep" : "move");
    return m;
}

/* maildir_close - release a Maildir source */
void maildir_close(struct maildir_src *m)
{
    if (m == NULL)
        return;
    db_reports_free(m->b);
    x_free(m->seen.v);
    x_free(m->name);
    x_free(m->dir);
    x_free(m->failed);
    x_free(m);
}

/* maildir_get_stats - the source's counters */
void maildir_get_stats(const struct maildir_src *m, struct maildir_stats *out)
{
    *out = m->st;
}

/* emit - one record of the message being read into the batch */
static void emit(const struct bounce_rec *rec, void *ctx)
{
    struct maildir_src *m = ctx;

    db_reports_add(m->b, m->sid, rec, m->file_us);
}

/*
 * read_message - the bytes of new/NAME, at most BOUNCE_MAX_MESSAGE + 1; NULL when unreadable
 * (also a symbolic link or anything but a regular file: never followed, never waited on)
 */
static char *read_message(const char *path, size_t *len, int64_t *mtime_us)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    size_t cap, n = 0;
    char *data;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    *mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
    cap = (size_t)st.st_size < BOUNCE_MAX_MESSAGE ? (size_t)st.st_size + 1 : BOUNCE_MAX_MESSAGE + 1;
    data = xmalloc(cap + 1);
    while (n < cap) {
        ssize_t r = read(fd, data + n, cap - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    data[n] = 0;
    *len = n;
    return data;
}

/* name_cmp - qsort order of file names */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_new - up to MAILDIR_STEP names in new/ not yet done or skipped, in name order */
static size_t list_new(struct maildir_src *m, char ***out)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    snprintf(path, sizeof(path), "%s/new", m->dir);
    d = opendir(path);
    if (d == NULL) {
        log_warn("source %s: cannot list %s: %s", m->name, path, strerror(errno));
        *out = NULL;
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || set_has(&m->seen, name_hash(de->d_name)))
            continue;
        names = xgrow(names, &cap, n, sizeof(*names), 64);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = MAILDIR_STEP; i < n; i++)
        x_free(names[i]);
    *out = names;
    return n < MAILDIR_STEP ? n : MAILDIR_STEP;
}

/* mark - after the commit: move a message to cur/ (or failed/), or remember it */
static void mark(struct maildir_src *m, const struct pending *p)
{
    char from[4096], to[4096];

    snprintf(from, sizeof(from), "%s/new/%s", m->dir, p->name);
    if (p->how == DONE_FAILED) {
        if (m->failed != NULL) {
            snprintf(to, sizeof(to), "%s/%s", m->failed, p->name);
            if (rename(from, to) == 0)
                return;
            log_warn("source %s: cannot move %s to %s: %s; left in place", m->name, from, to,
                     strerror(errno));
        } else {
            log_warn("source %s: %s is not a message that can be read; left in place", m->name,
                     from);
        }
        set_add(&m->seen, name_hash(p->name));
        return;
    }
    if (m->keep) {
        set_add(&m->seen, name_hash(p->name));
        return;
    }
    snprintf(to, sizeof(to), "%s/cur/%s%s", m->dir, p->name, strstr(p->name, ":2,") ? "" : ":2,S");
    if (rename(from, to) == 0) {
        m->st.moved++;
        return;
    }
    log_warn("source %s: cannot move %s to %s: %s; it is remembered until the next start", m->name,
             from, to, strerror(errno));
    set_add(&m->seen, name_hash(p->name));
}

/*
 * maildir_step - read and store what new/ holds: 1 when messages were read, 0 when there was
 * nothing to do, -1 when they could not be stored (nothing is marked; call again later)
 */
int maildir_step(struct maildir_src *m, struct db *db, int64_t now_us)
{
    struct bounce_sink sink = {emit, m, &m->bs, NULL};
    struct db_reports_result res;
    struct pending *p;
    char **names, path[4096];
    int64_t checkpoint;
    size_t n;

    if (now_us >= m->relink_due_us) {
        /* A log read after its bounces: link what was stored unlinked. */
        if (db_reports_relink(db, NULL) != 0)
            return -1;
        m->relink_due_us = now_us + RELINK_EVERY_US;
    }
    if (now_us < m->due_us)
        return 0;
    if (m->sid == 0) {
        char identity[4200];

        snprintf(identity, sizeof(identity), "maildir:%s", m->dir);
        if (db_source_open(db, m->name, identity, NULL, 0, &m->sid, &checkpoint) != 0)
            return -1;
    }
    n = list_new(m, &names);
    if (n == 0) {
        x_free(names);
        m->due_us = now_us + MAILDIR_POLL_US;
        return 0;
    }
    if (m->b == NULL)
        m->b = db_reports_create(db);
    p = xcalloc(n, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        uint64_t malformed = m->bs.malformed;
        size_t len = 0;
        char *data;

        p[i].name = names[i];
        snprintf(path, sizeof(path), "%s/new/%s", m->dir, names[i]);
        data = read_message(path, &len, &m->file_us);
        if (data == NULL) {
            p[i].how = DONE_FAILED;
            m->bs.messages++;
            m->bs.malformed++;
        } else {
            bounce_message(data, len, &sink);
            x_free(data);
            p[i].how = m->bs.malformed > malformed ? DONE_FAILED : DONE_OK;
        }
    }
    x_free(names);
    if (db_reports_commit(m->b, &res) != 0) {
        /* Read again from the files next time: drop what this step collected. */
        db_reports_free(m->b);
        m->b = NULL;
        for (size_t i = 0; i < n; i++)
            x_free(p[i].name);
        x_free(p);
        m->bs = (struct bounce_stats){0};
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        mark(m, &p[i]);
        x_free(p[i].name);
    }
    x_free(p);
    m->st.messages += m->bs.messages;
    m->st.bounces += m->bs.bounces;
    m->st.complaints += m->bs.complaints;
    m->st.not_bounce += m->bs.not_bounce;
    m->st.malformed += m->bs.malformed;
    m->st.records += res.dsn + res.complaints;
    m->st.duplicates += res.duplicates;
    m->bs = (struct bounce_stats){0};
    return 1;
}
