/*
 * follow - one log path followed across rotations, restarts and truncation
 *
 * A followed path is a sequence of segments, one per file that was ever at that path. Each
 * segment is a database source named by its content identity (the hash of its first line, the
 * same identity `mailpulse import` gives the file, so importing mail.log.1.gz later adds
 * nothing), with its own checkpoint. Inside the running process the live file is also known
 * by device and inode (tail.c notices the path naming another file) and by an offset marker
 * (the last bytes read, which tail.c compares with the file before every read, so a file
 * truncated and rewritten past the position is noticed).
 *
 * Rotations:
 *   rename + create     the old file is read to its end (and for rotate_wait longer) through
 *                       the open descriptor, then the new one from 0.
 *   delete + recreate   the same: the descriptor still reads the deleted file.
 *   copytruncate        the truncation is seen; the rotated copy with the same identity is
 *                       finished from the checkpoint, then the live file from 0. Lines
 *                       written between the copy and the truncation are lost for any tailer.
 *   while stopped       the state file names the identity of the last live file; at start
 *                       the rotated file with that identity (mail.log.1, .1.gz, -DATE) is
 *                       finished, then every rotated file newer than it, then the live one.
 *   first start         with backfill, every rotated file oldest first, then the live one.
 *   rotated meanwhile   the live file found when the rotated ones were looked for is not the
 *                       one at the path when their turn is over (rotated again while they
 *                       were read): the rotated files are looked for again, after the last
 *                       one read, so that the file that was live is read too.
 *
 * Lines before a segment's checkpoint are handed out with store = 0: the caller parses them
 * to rebuild the queue-id context and stores nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/ident.h"
#include "util/util.h"

#define IDENT_LEN 48

/* A file as far as follow tells files apart: the identity of its first line, and the hash of
 * its first len bytes (len 0: the identity alone, as in a state file of an older version). */
struct key {
    char ident[IDENT_LEN];
    size_t len;
    uint64_t hash;
};

struct seg {
    char *path;
    char ident[IDENT_LEN];
    char *prefix; /* the file's first bytes, as far as read */
    size_t prefix_len;
    int64_t mtime_ns;
};

enum cur_kind { CUR_NONE, CUR_LR, CUR_TAIL };

struct follow {
    char *name, *path, *state_path;
    int backfill;
    int64_t rotate_wait_us;
    open_source_fn open_source;
    int64_t (*resume)(void *, int64_t, int64_t);
    void *arg;

    struct seg *pending;
    size_t npending, ipending;
    int discovered;

    enum cur_kind cur;
    struct lineread *lr;
    struct tail *t;
    char *cur_path;
    char ident[IDENT_LEN];
    struct key expect; /* what a queued rotated file was when it was found */
    size_t pf_len;     /* the prefix of the open segment, as told with its lines */
    uint64_t pf_hash;
    int opened;
    int64_t source_id, checkpoint, next;
    int64_t skip_to; /* a rotated file's lines before this are passed over unparsed */
    int reopen;
    uint64_t bytes; /* read from files no longer open */

    int held; /* the first line of a rotated file, read to learn its identity */
    const char *held_line;
    size_t held_len;
    int64_t held_pos;

    uint64_t cut; /* cut lines of files no longer open */
    int warned_missing;
    struct key state; /* what the state file says */
    struct key live;  /* the live file when the rotated ones were looked for */
    int live_known;   /* live holds one, not yet compared with the file opened */
};

/* rotated_suffix - 1 when suffix is ".N", "-YYYYMMDD" or either with ".gz" */
static int rotated_suffix(const char *s)
{
    size_t digits = 0;

    if (*s != '.' && *s != '-')
        return 0;
    s++;
    while (s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0)
        return 0;
    s += digits;
    return *s == 0 || strcmp(s, ".gz") == 0;
}

/* follow_rotated_name - 1 when the file name looks rotated (mail.log.1, .2.gz, -20261128) */
int follow_rotated_name(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);

    if (n > 3 && strcmp(base + n - 3, ".gz") == 0)
        return 1;
    while (n > 0 && base[n - 1] >= '0' && base[n - 1] <= '9')
        n--;
    return n > 1 && n < strlen(base) && (base[n - 1] == '.' || base[n - 1] == '-');
}

/* key_matches - 1 when the file with this identity and first bytes is the one k names */
static int key_matches(const struct key *k, const char *ident, const char *prefix, size_t len)
{
    return strcmp(k->ident, ident) == 0 &&
           (k->len == 0 || (len >= k->len && hash_fnv1a64(prefix, k->len) == k->hash));
}

/* key_set - the key of a file with this identity and first bytes */
static void key_set(struct key *k, const char *ident, const char *prefix, size_t len)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->ident, sizeof(k->ident), "%s", ident);
    k->len = len;
    k->hash = hash_fnv1a64(prefix, len);
}

/* segment_key - the key of the segment open, or of the last one */
static void segment_key(const struct follow *f, struct key *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->ident, sizeof(k->ident), "%s", f->ident);
    k->len = f->pf_len;
    k->hash = f->pf_hash;
}

/* seg_same - 1 when two files found are the same one: same first line, same first bytes as
 * far as both were read */
static int seg_same(const struct seg *a, const struct seg *b)
{
    size_t n = a->prefix_len < b->prefix_len ? a->prefix_len : b->prefix_len;

    return strcmp(a->ident, b->ident) == 0 && (n == 0 || memcmp(a->prefix, b->prefix, n) == 0);
}

/* file_identity - the content identity and first bytes of a file (plain or gzip); ident ""
 * when it has no line */
static void file_identity(const char *path, struct seg *out)
{
    char err[256];
    struct lineread *lr = lr_open(path, err, sizeof(err));
    const char *line, *prefix;
    size_t len;
    int64_t pos;

    out->ident[0] = 0;
    out->prefix = NULL;
    out->prefix_len = 0;
    if (lr == NULL)
        return;
    if (lr_next(lr, &line, &len, &pos) == 1) {
        snprintf(out->ident, IDENT_LEN, "%s", lr_identity(lr));
        prefix = lr_prefix(lr, &out->prefix_len);
        out->prefix = xmalloc(out->prefix_len + 1);
        memcpy(out->prefix, prefix, out->prefix_len);
    }
    lr_close(lr);
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;

    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(y->path, x->path); /* same time: mail.log.2 before mail.log.1 */
}

static void pending_free(struct follow *f)
{
    for (size_t i = 0; i < f->npending; i++) {
        x_free(f->pending[i].path);
        x_free(f->pending[i].prefix);
    }
    x_free(f->pending);
    f->pending = NULL;
    f->npending = f->ipending = 0;
}

/* follow_discover - queue the rotated files to read before the live one, after `last` */
static void follow_discover(struct follow *f, const struct key *last, int include_last)
{
    char *dir = xstrdup(f->path), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : f->path;
    size_t blen = strlen(base), n = 0, cap = 8, keep = 0;
    struct seg *s = xcalloc(cap, sizeof(*s));
    struct seg live;
    struct dirent *de;
    DIR *d;
    size_t from = 0;
    int found = 0;

    pending_free(f);
    if (slash)
        *slash = 0;
    d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    file_identity(f->path, &live);
    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        char full[4096];

        if (strncmp(de->d_name, base, blen) != 0 || !rotated_suffix(de->d_name + blen))
            continue;
        snprintf(full, sizeof(full), "%s/%s", slash ? (dir[0] ? dir : "") : ".", de->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap *= 2;
            s = xrealloc(s, cap * sizeof(*s));
        }
        s[n].path = xstrdup(full);
        file_identity(full, &s[n]);
        s[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        n++;
    }
    if (d)
        closedir(d);
    qsort(s, n, sizeof(*s), seg_cmp);

    /* Which rotated files come before the live one. */
    if (last->ident[0] == 0) {
        from = f->backfill ? 0 : n;
    } else if (key_matches(last, live.ident, live.prefix, live.prefix_len) && include_last) {
        from = n; /* the live file is still the one we followed */
    } else {
        from = n;
        for (size_t i = 0; i < n; i++)
            if (key_matches(last, s[i].ident, s[i].prefix, s[i].prefix_len)) {
                from = include_last ? i : i + 1;
                found = 1;
                break;
            }
        if (!found && include_last && !f->discovered)
            log_warn("%s: the file last followed (%s) is gone; lines it had after the "
                     "checkpoint cannot be read",
                     f->name, last->ident);
    }
    for (size_t i = 0; i < n; i++) {
        int dup = s[i].ident[0] == 0 || seg_same(&s[i], &live);

        for (size_t j = 0; j < keep && !dup; j++)
            dup = seg_same(&s[j], &s[i]);
        if (i < from || dup) {
            x_free(s[i].path);
            x_free(s[i].prefix);
            continue;
        }
        s[keep++] = s[i];
    }
    f->live_known = live.ident[0] != 0;
    if (f->live_known)
        key_set(&f->live, live.ident, live.prefix, live.prefix_len);
    x_free(live.prefix);
    f->pending = s;
    f->npending = keep;
    for (size_t i = 0; i < keep; i++)
        log_info("%s: reading rotated file %s first", f->name, s[i].path);
    x_free(dir);
}

/*
 * state_read - the live file when the last run stopped: its identity on the first line, the
 * length and hash of its first bytes on the second (absent in older state files); "" unknown
 */
static void state_read(struct follow *f, struct key *out)
{
    char line[128], *end, *end2;
    unsigned long long len, hash;
    FILE *fp;

    memset(out, 0, sizeof(*out));
    if (f->state_path[0] == 0 || (fp = fopen(f->state_path, "r")) == NULL)
        return;
    if (fgets(out->ident, IDENT_LEN, fp) == NULL)
        out->ident[0] = 0;
    out->ident[strcspn(out->ident, "\n")] = 0;
    if (fgets(line, sizeof(line), fp)) {
        len = strtoull(line, &end, 10);
        hash = strtoull(end, &end2, 16);
        if (end != line && end2 != end && len <= IDENT_PREFIX) {
            out->len = (size_t)len;
            out->hash = (uint64_t)hash;
        }
    }
    fclose(fp);
}

/* state_write - remember the live file (write and rename: never half a file) */
static void state_write(struct follow *f)
{
    char tmp[4096];
    struct key now;
    FILE *fp;

    segment_key(f, &now);
    if (f->state_path[0] == 0 || (strcmp(now.ident, f->state.ident) == 0 &&
                                  now.len == f->state.len && now.hash == f->state.hash))
        return;
    f->state = now; /* tried once per change: a failure is warned of, not tried at every line */
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->state_path);
    fp = fopen(tmp, "w");
    if (fp == NULL ||
        fprintf(fp, "%s\n%zu %016llx\n", now.ident, now.len, (unsigned long long)now.hash) < 0 ||
        fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        log_warn("%s: cannot write %s: %s", f->name, tmp, strerror(errno));
        if (fp)
            fclose(fp);
        return;
    }
    fclose(fp);
    if (rename(tmp, f->state_path) != 0)
        log_warn("%s: cannot rename %s: %s", f->name, tmp, strerror(errno));
}

/* follow_open - set up following opts->path; nothing is opened before follow_next */
struct follow *follow_open(const struct follow_opts *opts)
{
    struct follow *f = xcalloc(1, sizeof(*f));

    f->name = xstrdup(opts->name ? opts->name : opts->path);
    f->path = xstrdup(opts->path);
    f->state_path = xstrdup(opts->state_path ? opts->state_path : "");
    f->backfill = opts->backfill;
    f->rotate_wait_us = opts->rotate_wait_us;
    f->open_source = opts->open_source;
    f->resume = opts->resume;
    f->arg = opts->arg;
    return f;
}

/* cur_prefix - the first bytes of the file being read, as far as read */
static const char *cur_prefix(const struct follow *f, size_t *len)
{
    return f->cur == CUR_TAIL ? tail_prefix(f->t, len) : lr_prefix(f->lr, len);
}

/* prefix_update - 1 when more of the open file's first bytes are known than were told */
static int prefix_update(struct follow *f)
{
    size_t len;
    const char *p = cur_prefix(f, &len);

    if (len == f->pf_len)
        return 0;
    f->pf_len = len;
    f->pf_hash = hash_fnv1a64(p, len);
    return 1;
}

/* follow_finish - close the current file; 2 and the segment's end when it has one */
static int follow_finish(struct follow *f, struct follow_line *out)
{
    int had = f->opened;

    if (had && f->pf_len < IDENT_PREFIX)
        prefix_update(f);
    if (f->t)
        f->cut += tail_cut(f->t);
    f->bytes += (f->t ? tail_bytes(f->t) : 0) + (f->lr ? lr_bytes(f->lr) : 0);
    lr_close(f->lr);
    tail_close(f->t);
    f->lr = NULL;
    f->t = NULL;
    x_free(f->cur_path);
    f->cur_path = NULL;
    f->cur = CUR_NONE;
    f->opened = 0;
    f->held = 0;
    if (!had)
        return 0;
    out->source_id = f->source_id;
    out->next = f->next;
    out->line = NULL;
    out->len = 0;
    out->prefix_len = f->pf_len;
    out->prefix_hash = f->pf_hash;
    return 2;
}

/* follow_start - open the next file: a queued rotated one, else the live path */
static int follow_start(struct follow *f)
{
    char err[512];

    if (f->ipending < f->npending) {
        const char *p = f->pending[f->ipending].path;

        const struct seg *g = &f->pending[f->ipending++];

        key_set(&f->expect, g->ident, g->prefix, g->prefix_len);
        f->lr = lr_open(p, err, sizeof(err));
        if (f->lr == NULL) {
            log_warn("%s: %s; skipped", f->name, err);
            return -1;
        }
        f->cur = CUR_LR;
        f->cur_path = xstrdup(p);
        return 0;
    }
    pending_free(f);
    f->t = tail_open(f->path, err, sizeof(err));
    if (f->t == NULL) {
        if (!f->warned_missing)
            log_warn("%s: %s; waiting for it", f->name, err);
        f->warned_missing = 1;
        return -1;
    }
    f->warned_missing = 0;
    tail_set_rotate_wait(f->t, f->rotate_wait_us);
    f->cur = CUR_TAIL;
    f->cur_path = xstrdup(f->path);
    return 0;
}

/* follow_source - learn the segment's source and checkpoint; 0, or -1 to retry later */
static int follow_source(struct follow *f, const char *ident)
{
    size_t plen;
    const char *prefix = cur_prefix(f, &plen);

    if (f->open_source(f->arg, f->cur_path, ident, prefix, plen, &f->source_id, &f->checkpoint) !=
        0)
        return -1;
    snprintf(f->ident, sizeof(f->ident), "%s", ident);
    f->pf_len = (size_t)-1;
    prefix_update(f);
    f->opened = 1;
    f->next = 0;
    f->skip_to = 0;
    if (f->checkpoint > 0 && f->resume) {
        int64_t at = f->resume(f->arg, f->source_id, f->checkpoint);

        if (at > 0 && at <= f->checkpoint) {
            f->skip_to = at;
            f->next = at; /* a segment that ends before a line ends where it resumed */
            if (f->cur == CUR_TAIL)
                tail_seek(f->t, at);
            log_info("%s: reading %s (%s) from byte %lld, parsing only up to the checkpoint %lld",
                     f->name, f->cur_path, ident, (long long)at, (long long)f->checkpoint);
            return 0;
        }
    }
    log_info("%s: reading %s (%s) from byte %lld", f->name, f->cur_path, ident,
             (long long)f->checkpoint);
    return 0;
}

static int emit(struct follow *f, struct follow_line *out, const char *line, size_t len,
                int64_t pos)
{
    out->line = line;
    out->len = len;
    out->pos = pos;
    out->source_id = f->source_id;
    out->store = pos >= f->checkpoint;
    out->cut = len >= COLLECT_MAX_LINE;
    /* The end of a cut line may not even be written yet: a checkpoint inside it would make
     * a restart read its rest as a line of its own. Its row is keyed by its start, so the
     * checkpoint stays there until the next line; reading it again stores nothing twice. */
    out->next = f->next = out->cut ? pos : pos + (int64_t)len + 1;
    if (f->pf_len < IDENT_PREFIX)
        prefix_update(f);
    out->prefix_len = f->pf_len;
    out->prefix_hash = f->pf_hash;
    if (out->cut && f->cur == CUR_LR)
        f->cut++;
    return 1;
}

/* follow_next_lr - the next line of a rotated file being finished */
static int follow_next_lr(struct follow *f, struct follow_line *out)
{
    const char *line, *prefix;
    size_t len, plen;
    int64_t pos;
    int r;

    if (!f->opened) {
        if (!f->held) {
            r = lr_next(f->lr, &f->held_line, &f->held_len, &f->held_pos);
            if (r != 1)
                return follow_finish(f, out); /* empty or unreadable: nothing to do */
            f->held = 1;
            prefix = lr_prefix(f->lr, &plen);
            if (!key_matches(&f->expect, lr_identity(f->lr), prefix, plen)) {
                struct key expect = f->expect;

                /* Rotated again since it was found (mail.log.1 became mail.log.2). */
                log_info("%s: %s was renamed meanwhile; looking again", f->name, f->cur_path);
                follow_finish(f, out);
                follow_discover(f, &expect, 1);
                return 0;
            }
        }
        if (follow_source(f, lr_identity(f->lr)) != 0)
            return -1;
    }
    if (f->held) {
        f->held = 0;
        if (f->held_pos >= f->skip_to)
            return emit(f, out, f->held_line, f->held_len, f->held_pos);
    }
    /* A gzip file cannot seek: the lines before the saved state are read, not parsed. */
    while ((r = lr_next(f->lr, &line, &len, &pos)) == 1 && pos < f->skip_to)
        f->next = pos + (int64_t)len + 1;
    if (r == 1)
        return emit(f, out, line, len, pos);
    log_info("%s: finished %s", f->name, f->cur_path);
    return follow_finish(f, out);
}

/* follow_hup - after SIGHUP: the path opened again; the same file continues where it was */
static void follow_hup(struct follow *f)
{
    char err[512];
    struct tail *t2 = tail_open(f->path, err, sizeof(err));
    struct key k;
    const char *prefix, *ident;
    size_t plen;

    f->reopen = 0;
    if (t2 == NULL)
        return;
    prefix = tail_prefix(f->t, &plen);
    key_set(&k, f->ident, prefix, plen);
    ident = tail_identity(t2); /* reads its first bytes too */
    prefix = tail_prefix(t2, &plen);
    if (!key_matches(&k, ident, prefix, plen)) {
        tail_close(t2); /* another file: tail_next reports the replacement */
        return;
    }
    tail_set_rotate_wait(t2, f->rotate_wait_us);
    tail_seek(t2, tail_position(f->t));
    f->cut += tail_cut(f->t);
    f->bytes += tail_bytes(f->t);
    tail_close(f->t);
    f->t = t2;
}

/* follow_next_tail - the next line of the live file */
static int follow_next_tail(struct follow *f, struct follow_line *out)
{
    const char *line;
    size_t len;
    int64_t pos;
    int r;

    if (!f->opened) {
        const char *id = tail_identity(f->t);

        if (id[0] == 0) {
            r = tail_next(f->t, &line, &len, &pos); /* only to notice a replacement */
            if (r == -2 || r == -3)
                return follow_finish(f, out);
            if (r == 1)
                tail_seek(f->t, 0); /* the first line just completed: read it as a segment */
            return 0;
        }
        if (f->live_known) {
            size_t plen;
            const char *prefix = tail_prefix(f->t, &plen);

            f->live_known = 0;
            if (!key_matches(&f->live, id, prefix, plen)) {
                struct key last;

                /* Rotated again while the rotated files were read: the file that was live
                 * then is a rotated one now, and comes first. */
                segment_key(f, &last);
                log_info("%s: rotated again meanwhile; looking again", f->name);
                follow_finish(f, out);
                follow_discover(f, &last, 0);
                f->live_known = f->npending > 0; /* nothing new found: take the file as it is */
                return 0;
            }
        }
        if (follow_source(f, id) != 0)
            return -1;
        state_write(f);
    }
    if (f->reopen)
        follow_hup(f);
    r = tail_next(f->t, &line, &len, &pos);
    if (r == 1) {
        r = emit(f, out, line, len, pos);
        if (f->pf_len != f->state.len)
            state_write(f); /* more of the file's first bytes are known */
        return r;
    }
    if (r == 0)
        return 0;
    {
        struct key last;

        segment_key(f, &last);
        r = r == -1 ? -1 : r == -2 ? 0 : 1; /* error, replaced, truncated */
        if (r >= 0)
            follow_discover(f, &last, r);
    }
    return follow_finish(f, out);
}

/* follow_next - 1 a line, 0 nothing now, 2 a segment finished (commit it), -1 retry later */
int follow_next(struct follow *f, struct follow_line *out)
{
    for (;;) {
        int r;

        if (!f->discovered) {
            state_read(f, &f->state);
            follow_discover(f, &f->state, 1);
            f->discovered = 1;
        }
        if (f->cur == CUR_NONE) {
            if (follow_start(f) != 0) {
                if (f->ipending < f->npending)
                    continue;
                return 0;
            }
        }
        r = f->cur == CUR_LR ? follow_next_lr(f, out) : follow_next_tail(f, out);
        if (r == 0 && f->cur == CUR_NONE)
            continue; /* a file ended without a segment: go on with the next one */
        return r;
    }
}

/* follow_reopen - SIGHUP: open the path again at the next call */
void follow_reopen(struct follow *f)
{
    f->reopen = f->cur == CUR_TAIL && f->opened;
}

/* follow_lag - bytes not yet read: of the live file, and of a plain rotated one in progress */
int64_t follow_lag(struct follow *f)
{
    struct stat st;
    int64_t lag = 0;

    if (f->cur == CUR_TAIL)
        return tail_lag(f->t);
    if (stat(f->path, &st) == 0)
        lag += st.st_size;
    if (f->cur == CUR_LR && stat(f->cur_path, &st) == 0 && st.st_size > f->next)
        lag += st.st_size - f->next; /* for a .gz file this is only an estimate */
    return lag;
}

/* follow_cut - overlong lines cut so far */
uint64_t follow_cut(const struct follow *f)
{
    return f->cut + (f->t ? tail_cut(f->t) : 0);
}

/* follow_bytes - bytes read from the files to find lines since follow_open */
uint64_t follow_bytes(const struct follow *f)
{
    return f->bytes + (f->t ? tail_bytes(f->t) : 0) + (f->lr ? lr_bytes(f->lr) : 0);
}

/* follow_close - close and free */
void follow_close(struct follow *f)
{
    if (f == NULL)
        return;
    lr_close(f->lr);
    tail_close(f->t);
    pending_free(f);
    x_free(f->cur_path);
    x_free(f->name);
    x_free(f->path);
    x_free(f->state_path);
    x_free(f);
}
