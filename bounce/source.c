/*
 * source - where bounce messages come from: a file, an mbox, a Maildir, a directory, stdin
 *
 * A file that starts with "From " is an mbox: it is cut at every line that starts with
 * "From " after a blank line (or at the top), and each piece is one message. Anything else is
 * one message. A message is read into memory up to BOUNCE_MAX_MESSAGE bytes; a longer one is
 * skipped to its end and counted as too big, so a huge file costs no more memory than that.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bounce/bounce_int.h"

/* One message being collected: its bytes, and whether it went over the limit. */
struct collect {
    struct buf b;
    bool too_big;
};

/* collect_add - append bytes unless the message is already over the limit */
static void collect_add(struct collect *c, const char *p, size_t n)
{
    if (c->too_big)
        return;
    if (c->b.len + n > BOUNCE_MAX_MESSAGE) {
        c->too_big = true;
        buf_reset(&c->b);
        return;
    }
    buf_append(&c->b, p, n);
}

/* collect_done - parse (or count) the collected message and start the next one */
static void collect_done(struct collect *c, const struct bounce_sink *sink)
{
    if (c->too_big) {
        if (sink->stats) {
            sink->stats->messages++;
            sink->stats->malformed++;
            sink->stats->too_big++;
        }
    } else if (c->b.len > 0) {
        bounce_message(c->b.data, c->b.len, sink);
    }
    buf_reset(&c->b);
    c->too_big = false;
}

/* bounce_read_stream - one message or an mbox from fp */
int bounce_read_stream(FILE *fp, const char *name, const struct bounce_sink *sink)
{
    struct collect c = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool mbox = false, first = true, prev_blank = true;
    int rc = 0;

    buf_init(&c.b);
    while ((n = getline(&line, &cap, fp)) > 0) {
        bool from_line = n >= 5 && memcmp(line, "From ", 5) == 0;

        if (first) {
            first = false;
            if (from_line) {
                mbox = true;
                continue; /* the envelope line is not part of the message */
            }
        } else if (mbox && from_line && prev_blank) {
            collect_done(&c, sink);
            prev_blank = true;
            continue;
        }
        prev_blank = (n == 1 && line[0] == '\n') || (n == 2 && line[0] == '\r');
        /* mboxrd quoting: ">From " in a body was "From " */
        if (mbox && n >= 6 && line[0] == '>' && strncmp(line + strspn(line, ">"), "From ", 5) == 0)
            collect_add(&c, line + 1, (size_t)n - 1);
        else
            collect_add(&c, line, (size_t)n);
    }
    if (ferror(fp)) {
        log_warn("bounce: %s: read error: %s", name, strerror(errno));
        rc = -1;
    }
    collect_done(&c, sink);
    free(line);
    buf_free(&c.b);
    return rc;
}

/* read_file - one regular file */
static int read_file(const char *path, const struct bounce_sink *sink)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    int rc;

    if (fp == NULL) {
        log_warn("bounce: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (sink->file_us != NULL)
        *sink->file_us = fstat(fileno(fp), &st) == 0
                             ? (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000
                             : 0;
    rc = bounce_read_stream(fp, path, sink);
    fclose(fp);
    return rc;
}

/* name_cmp - qsort order of file names */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* read_dir - the regular files of one directory in name order (dot files skipped) */
static int read_dir(const char *dir, const struct bounce_sink *sink)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL) {
        log_warn("bounce: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = xgrow(names, &cap, n, sizeof(*names), 64);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct buf path;
        struct stat st;

        buf_init(&path);
        buf_printf(&path, "%s/%s", dir, names[i]);
        if (stat(path.data, &st) == 0 && S_ISREG(st.st_mode) && read_file(path.data, sink) != 0)
            rc = -1;
        buf_free(&path);
        x_free(names[i]);
    }
    x_free(names);
    return rc;
}

/* is_dir - is path/sub a directory? */
static bool is_dir(const char *path, const char *sub)
{
    struct buf p;
    struct stat st;
    bool yes;

    buf_init(&p);
    buf_printf(&p, "%s/%s", path, sub);
    yes = stat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
    buf_free(&p);
    return yes;
}

/* bounce_read_path - a file, an mbox, a Maildir or a directory of message files */
int bounce_read_path(const char *path, const struct bounce_sink *sink)
{
    struct stat st;
    int rc = 0;

    if (stat(path, &st) != 0) {
        log_warn("bounce: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return read_file(path, sink);
    if (is_dir(path, "new") || is_dir(path, "cur")) { /* a Maildir: new/ first, then cur/ */
        const char *subs[] = {"new", "cur"};

        for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
            struct buf p;

            if (!is_dir(path, subs[i]))
                continue;
            buf_init(&p);
            buf_printf(&p, "%s/%s", path, subs[i]);
            if (read_dir(p.data, sink) != 0)
                rc = -1;
            buf_free(&p);
        }
        return rc;
    }
    return read_dir(path, sink);
}
