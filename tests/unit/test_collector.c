/*
 * test_collector - collector/: whole-file line reading (plain, gzip) and following a file
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "collector/collector.h"
#include "util/util.h"

static char dir[] = "/tmp/mailpulse-collector.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *mode, const char *data, size_t len)
{
    FILE *f = fopen(path, mode);

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

struct want {
    const char *line;
    int64_t pos;
};

static void expect_lines(struct lineread *lr, const struct want *w, size_t n)
{
    const char *line;
    size_t len;
    int64_t pos;

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(lr_next(lr, &line, &len, &pos), 1);
        assert_int_equal(len, strlen(w[i].line));
        assert_memory_equal(line, w[i].line, len);
        assert_int_equal(pos, w[i].pos);
    }
    assert_int_equal(lr_next(lr, &line, &len, &pos), 0);
}

static const char text[] = "first line\n\nthird\r\nlast without newline";
static const struct want text_lines[] = {
    {"first line", 0}, {"", 11}, {"third\r", 12}, {"last without newline", 19}};

static void test_plain(void **state)
{
    char path[256], err[256];
    struct lineread *lr;

    (void)state;
    path_of(path, sizeof(path), "plain.log");
    write_file(path, "w", text, strlen(text));
    lr = lr_open(path, err, sizeof(err));
    assert_non_null(lr);
    expect_lines(lr, text_lines, ARRAY_LEN(text_lines));
    assert_true(strncmp(lr_identity(lr), "fnv1a64:", 8) == 0);
    lr_close(lr);
}

static void test_gzip_same_positions_and_identity(void **state)
{
    char path[256], plain[256], err[256], id[64];
    struct lineread *lr;
    gzFile gz;

    (void)state;
    path_of(plain, sizeof(plain), "plain.log");
    write_file(plain, "w", text, strlen(text));
    lr = lr_open(plain, err, sizeof(err));
    expect_lines(lr, text_lines, ARRAY_LEN(text_lines));
    snprintf(id, sizeof(id), "%s", lr_identity(lr));
    lr_close(lr);

    path_of(path, sizeof(path), "log.gz");
    gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(gz);
    lr = lr_open(path, err, sizeof(err));
    assert_non_null(lr);
    expect_lines(lr, text_lines, ARRAY_LEN(text_lines));
    assert_string_equal(lr_identity(lr), id);
    lr_close(lr);
}

static void test_missing_file(void **state)
{
    char err[256];

    (void)state;
    assert_null(lr_open("/nonexistent/mail.log", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/mail.log"));
    assert_null(tail_open("/nonexistent/mail.log", err, sizeof(err)));
}

static void test_overlong_line(void **state)
{
    char path[256], err[256];
    size_t big = COLLECT_MAX_LINE * 2 + 100;
    char *data = xmalloc(big + 16);
    struct lineread *lr;
    const char *line;
    size_t len;
    int64_t pos;

    (void)state;
    memset(data, 'x', big);
    memcpy(data + big, "\nnext\n", 6);
    path_of(path, sizeof(path), "long.log");
    write_file(path, "w", data, big + 6);
    lr = lr_open(path, err, sizeof(err));
    assert_int_equal(lr_next(lr, &line, &len, &pos), 1);
    assert_int_equal(len, COLLECT_MAX_LINE);
    assert_int_equal(pos, 0);
    assert_int_equal(lr_next(lr, &line, &len, &pos), 1);
    assert_int_equal(len, 4);
    assert_memory_equal(line, "next", 4);
    assert_int_equal(pos, (int64_t)big + 1);
    assert_int_equal(lr_next(lr, &line, &len, &pos), 0);
    lr_close(lr);
    x_free(data);
}

/* lr_nul_free() says which lines hold a NUL byte: several in a read, one in the cut part of
 * an overlong line (not handed out), one in the unterminated last line. */
static void test_nul_free(void **state)
{
    static const char head[] = "a\0b\nclean\n\0\nx\0\0y\nclean too\n";
    size_t big = COLLECT_MAX_LINE + 100, n = 0;
    char *data = xmalloc(sizeof(head) + big + 32);
    char path[256], err[256];
    struct lineread *lr;
    const char *line;
    size_t len;
    int64_t pos;
    static const int want[] = {0, 1, 0, 0, 1, 1, 1, 0};

    (void)state;
    memcpy(data, head, sizeof(head) - 1);
    n = sizeof(head) - 1;
    memset(data + n, 'z', big);
    data[n + COLLECT_MAX_LINE + 10] = 0; /* in the part cut off */
    n += big;
    memcpy(data + n, "\nnext\nlast\0", 12);
    n += 12;
    path_of(path, sizeof(path), "nul.log");
    write_file(path, "w", data, n);
    lr = lr_open(path, err, sizeof(err));
    assert_non_null(lr);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(lr_next(lr, &line, &len, &pos), 1);
        assert_int_equal(lr_nul_free(lr), want[i]);
        assert_int_equal(memchr(line, 0, len) == NULL, want[i]);
    }
    assert_int_equal(lr_next(lr, &line, &len, &pos), 0);
    lr_close(lr);
    x_free(data);
}

/* An overlong line that arrives whole in one read is cut as well, and the live reader and the
 * whole-file reader give a file with such a first line the same identity. */
static void test_overlong_whole(void **state)
{
    char path[256], err[256], id[64];
    size_t big = COLLECT_MAX_LINE + 5000;
    char *data = xmalloc(big + 16);
    struct tail *t;
    struct lineread *lr;
    const char *line;
    size_t len;
    int64_t pos;

    (void)state;
    memset(data, 'y', big);
    memcpy(data + big, "\nnext\n", 6);
    path_of(path, sizeof(path), "whole.log");
    write_file(path, "w", data, big + 6);
    t = tail_open(path, err, sizeof(err));
    snprintf(id, sizeof(id), "%s", tail_identity(t));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(len, COLLECT_MAX_LINE);
    assert_int_equal(tail_cut(t), 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_memory_equal(line, "next", 4);
    assert_int_equal(pos, (int64_t)big + 1);
    tail_close(t);
    lr = lr_open(path, err, sizeof(err));
    assert_int_equal(lr_next(lr, &line, &len, &pos), 1);
    assert_int_equal(len, COLLECT_MAX_LINE);
    assert_string_equal(lr_identity(lr), id);
    lr_close(lr);
    x_free(data);
}

static void test_tail_partial_and_growth(void **state)
{
    char path[256], err[256], id[64];
    struct tail *t;
    const char *line;
    size_t len;
    int64_t pos;

    (void)state;
    path_of(path, sizeof(path), "follow.log");
    write_file(path, "w", "", 0);
    t = tail_open(path, err, sizeof(err));
    assert_non_null(t);
    assert_string_equal(tail_identity(t), ""); /* no complete line yet */
    assert_int_equal(tail_next(t, &line, &len, &pos), 0);

    write_file(path, "a", "one\ntw", 6);
    assert_string_not_equal(tail_identity(t), "");
    snprintf(id, sizeof(id), "%s", tail_identity(t));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_memory_equal(line, "one", 3);
    assert_int_equal(pos, 0);
    assert_int_equal(tail_next(t, &line, &len, &pos), 0); /* "tw" waits */
    assert_int_equal(tail_lag(t), 2);
    write_file(path, "a", "o\nthree\n", 8);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "two", 3);
    assert_int_equal(pos, 4);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(pos, 8);
    assert_int_equal(tail_next(t, &line, &len, &pos), 0);
    assert_string_equal(tail_identity(t), id); /* growth keeps the identity */
    tail_close(t);

    /* Resume from a checkpoint. */
    t = tail_open(path, err, sizeof(err));
    assert_string_equal(tail_identity(t), id);
    tail_seek(t, 8);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_memory_equal(line, "three", 5);
    assert_int_equal(pos, 8);
    tail_close(t);
}

static void test_tail_truncated_and_replaced(void **state)
{
    char path[256], moved[256], err[256];
    struct tail *t;
    const char *line;
    size_t len;
    int64_t pos;

    (void)state;
    path_of(path, sizeof(path), "rot.log");
    path_of(moved, sizeof(moved), "rot.log.1");
    write_file(path, "w", "a\nb\n", 4);
    t = tail_open(path, err, sizeof(err));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 0);
    write_file(path, "w", "", 0); /* copytruncate */
    assert_int_equal(tail_next(t, &line, &len, &pos), -3);
    tail_close(t);

    write_file(path, "w", "a\nb\n", 4);
    t = tail_open(path, err, sizeof(err));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    /* Rename and create: the old file is read to its end before -2. */
    write_file(path, "a", "c\n", 2);
    assert_int_equal(rename(path, moved), 0);
    write_file(path, "w", "new\n", 4);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_memory_equal(line, "b", 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_memory_equal(line, "c", 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), -2);
    tail_close(t);
}

/* Truncated and rewritten past the position while the reader was idle: the offset marker
 * (the bytes before the position) notices, and no half line is handed out. */
static void test_tail_marker(void **state)
{
    char path[256], err[256];
    struct tail *t;
    const char *line;
    size_t len;
    int64_t pos;

    (void)state;
    path_of(path, sizeof(path), "marker.log");
    write_file(path, "w", "line one\nline two\n", 18);
    t = tail_open(path, err, sizeof(err));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 1);
    assert_int_equal(tail_next(t, &line, &len, &pos), 0); /* idle at 18 */
    write_file(path, "w", "another first line\nand more text\n", 33);
    assert_int_equal(tail_next(t, &line, &len, &pos), -3);
    tail_close(t);
}

/* A file truncated and written again while the reader was busy (never idle) is noticed
 * before the reader takes any byte of the new file. */
static void test_tail_rewritten_while_busy(void **state)
{
    char path[256], err[256];
    static char body[200000];
    struct tail *t;
    const char *line;
    size_t len, n = 0;
    int64_t pos;
    int r, lines = 0;

    (void)state;
    path_of(path, sizeof(path), "busy.log");
    while (n + 12 < 100000)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "old %07zu\n", n);
    write_file(path, "w", body, n);
    t = tail_open(path, err, sizeof(err));
    assert_int_equal(tail_next(t, &line, &len, &pos), 1); /* one chunk read, more to come */
    n = 0;
    while (n + 12 < sizeof(body))
        n += (size_t)snprintf(body + n, sizeof(body) - n, "NEW %07zu\n", n);
    write_file(path, "w", body, n);
    while ((r = tail_next(t, &line, &len, &pos)) == 1) {
        assert_memory_equal(line, "old ", 4);
        lines++;
    }
    assert_int_equal(r, -3);
    assert_true(lines > 1000);
    tail_close(t);
}

/* A rewrite whose lines look like the old ones (the same length and ending, so the bytes
 * before the position are the same) is told by the file's first bytes. */
static void test_tail_rewritten_alike(void **state)
{
    char path[256], err[256];
    static char body[20000];
    struct tail *t;
    const char *line;
    size_t len, n = 0;
    int64_t pos;
    int lines = 0;

    (void)state;
    path_of(path, sizeof(path), "alike.log");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "o%07d %s\n", i,
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    write_file(path, "w", body, n);
    t = tail_open(path, err, sizeof(err));
    assert_non_null(t);
    assert_true(tail_identity(t)[0] != 0);
    while (tail_next(t, &line, &len, &pos) == 1)
        lines++;
    assert_int_equal(lines, 100);
    n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "N%07d %s\n", i,
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    write_file(path, "w", body, n);
    assert_int_equal(tail_next(t, &line, &len, &pos), -3);
    tail_close(t);
}

/* The test's source table: identity and first bytes -> (id, checkpoint), as the database
 * keeps it (db_source_open: a row matches when the file starts with the bytes it recorded). */
struct fake_db {
    char ident[8][64];
    int64_t ckpt[8];
    size_t plen[8];
    uint64_t phash[8];
    int n;
};

static int fake_open(void *arg, const char *path, const char *identity, const char *prefix,
                     size_t prefix_len, int64_t *id, int64_t *ckpt)
{
    struct fake_db *db = arg;

    (void)path;
    for (int i = 0; i < db->n; i++)
        if (strcmp(db->ident[i], identity) == 0 &&
            (prefix == NULL || db->plen[i] == 0 || /* 0: recorded none, as an older row */
             (db->plen[i] <= prefix_len && hash_fnv1a64(prefix, db->plen[i]) == db->phash[i]))) {
            *id = i + 1;
            *ckpt = db->ckpt[i];
            return 0;
        }
    assert_true(db->n < 8);
    snprintf(db->ident[db->n], sizeof(db->ident[0]), "%s", identity);
    db->ckpt[db->n] = 0;
    db->plen[db->n] = prefix_len;
    db->phash[db->n] = prefix ? hash_fnv1a64(prefix, prefix_len) : 0;
    *id = ++db->n;
    *ckpt = 0;
    return 0;
}

/* fake_commit - a checkpoint and a longer prefix stored, as db_batch_commit does */
static void fake_commit(struct fake_db *db, const struct follow_line *ln)
{
    db->ckpt[ln->source_id - 1] = ln->next;
    if (ln->prefix_len > db->plen[ln->source_id - 1]) {
        db->plen[ln->source_id - 1] = ln->prefix_len;
        db->phash[ln->source_id - 1] = ln->prefix_hash;
    }
}

/* drain - read what the follower has now; stored lines are appended to got (space
 * separated), segment ends commit their checkpoint to the fake db */
static void drain(struct follow *f, struct fake_db *db, char *got, size_t gotlen)
{
    struct follow_line ln;
    int r;

    while ((r = follow_next(f, &ln)) != 0) {
        assert_true(r == 1 || r == 2);
        if (r == 1 && ln.store) {
            snprintf(got + strlen(got), gotlen - strlen(got), "%s%.*s", got[0] ? " " : "",
                     (int)ln.len, ln.line);
        }
        fake_commit(db, &ln); /* at once */
    }
}

/* drain_is - what the follower has now is want (stored lines, space separated) */
static void drain_is(struct follow *f, struct fake_db *db, const char *want)
{
    char got[512];

    got[0] = 0;
    drain(f, db, got, sizeof(got));
    assert_string_equal(got, want);
}

static void follow_setup(struct follow_opts *fo, struct fake_db *db, const char *log,
                         const char *st, int backfill)
{
    memset(fo, 0, sizeof(*fo));
    fo->name = "test";
    fo->path = log;
    fo->state_path = st;
    fo->backfill = backfill;
    fo->open_source = fake_open;
    fo->arg = db;
}

/* Table: what a follower stores through each kind of rotation. */
static void test_follow_rotations(void **state)
{
    char log[256], rot[256], rot2[256], st[256];
    struct fake_db db;
    struct follow_opts fo;
    struct follow *f;
    FILE *fp;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "f.log");
    path_of(rot, sizeof(rot), "f.log.1");
    path_of(rot2, sizeof(rot2), "f.log.2");
    path_of(st, sizeof(st), "f.state");
    unlink(st);
    write_file(log, "w", "a1\na2\n", 6);
    follow_setup(&fo, &db, log, st, 0);
    f = follow_open(&fo);
    drain_is(f, &db, "a1 a2");

    /* rename + create, with a line written to the old file after the rename */
    assert_int_equal(rename(log, rot), 0);
    write_file(rot, "a", "a3\n", 3);
    write_file(log, "w", "b1\n", 3);
    drain_is(f, &db, "a3 b1");

    /* copytruncate: a line the reader had not read is in the copy only */
    write_file(log, "a", "b2\n", 3);
    fp = fopen(log, "r");
    {
        char buf[64];
        size_t n = fread(buf, 1, sizeof(buf), fp);

        fclose(fp);
        assert_int_equal(rename(rot, rot2), 0);
        write_file(rot, "w", buf, n);
    }
    write_file(log, "w", "", 0);
    drain_is(f, &db, "b2");
    write_file(log, "a", "c1\n", 3);
    drain_is(f, &db, "c1");
    follow_close(f);

    /* rotation while stopped: finish the old file from its checkpoint, then the new one */
    write_file(log, "a", "c2\n", 3);
    unlink(rot2);
    assert_int_equal(rename(rot, rot2), 0);
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "d1\n", 3);
    f = follow_open(&fo);
    drain_is(f, &db, "c2 d1");

    /* delete + recreate while running */
    write_file(log, "a", "d2\n", 3);
    drain_is(f, &db, "d2");
    unlink(log);
    write_file(log, "w", "e1\n", 3);
    drain_is(f, &db, "e1");
    follow_close(f);
}

static int64_t resume_at_checkpoint(void *arg, int64_t source_id, int64_t checkpoint)
{
    (void)arg;
    (void)source_id;
    return checkpoint;
}

/* A segment resumed at its checkpoint that ends (the file is replaced) before a new line
 * ends at that checkpoint, not at 0: the parser state stored with it is of that byte. */
static void test_follow_resumed_segment_ends_at_checkpoint(void **state)
{
    char log[256], rot[256], st[256], err[256];
    struct fake_db db;
    struct follow_opts fo;
    struct follow_line ln;
    struct follow *f;
    struct tail *t;
    int r, ended = 0, b1 = 0;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "res.log");
    path_of(rot, sizeof(rot), "res.log.1");
    path_of(st, sizeof(st), "res.state");
    unlink(st);
    unlink(rot);
    write_file(log, "w", "a1\na2\n", 6);
    t = tail_open(log, err, sizeof(err));
    snprintf(db.ident[0], sizeof(db.ident[0]), "%s", tail_identity(t));
    tail_close(t);
    db.ckpt[0] = 6;
    db.n = 1;
    follow_setup(&fo, &db, log, st, 0);
    fo.resume = resume_at_checkpoint;
    f = follow_open(&fo);
    assert_int_equal(follow_next(f, &ln), 0); /* caught up */
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "b1\n", 3);
    while ((r = follow_next(f, &ln)) != 0) {
        if (r == 2 && ln.source_id == 1) {
            assert_int_equal(ln.next, 6);
            ended = 1;
        }
        if (r == 1)
            b1 = ln.len == 2 && memcmp(ln.line, "b1", 2) == 0 && ln.store;
    }
    assert_true(ended);
    assert_true(b1);
    follow_close(f);
}

/* Generations of a log that start with the same line (a banner) are different files: through
 * a rename while running, a rotation while stopped, and a copytruncate rewritten past the
 * position, each one's lines are stored, from its own start. */
static void test_follow_same_first_line(void **state)
{
    char log[256], rot[256], rot2[256], st[256];
    struct fake_db db;
    struct follow_opts fo;
    struct follow *f;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "s.log");
    path_of(rot, sizeof(rot), "s.log.1");
    path_of(rot2, sizeof(rot2), "s.log.2");
    path_of(st, sizeof(st), "s.state");
    unlink(st);
    unlink(rot);
    unlink(rot2);
    write_file(log, "w", "HDR\na1\n", 7);
    follow_setup(&fo, &db, log, st, 0);
    f = follow_open(&fo);
    drain_is(f, &db, "HDR a1");

    /* rename + create while running: the new file is a source of its own */
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "HDR\nb1\n", 7);
    drain_is(f, &db, "HDR b1");
    assert_int_equal(db.n, 2);
    follow_close(f);

    /* while stopped: a line for the old file, then a rotation to a file with the same start */
    write_file(log, "a", "b2\n", 3);
    assert_int_equal(rename(rot, rot2), 0);
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "HDR\nc1\n", 7);
    f = follow_open(&fo);
    drain_is(f, &db, "b2 HDR c1");
    assert_int_equal(db.n, 3);

    /* copytruncate, the live file written again past the position, same first line */
    unlink(rot2);
    write_file(rot, "w", "HDR\nc1\n", 7);
    write_file(log, "w", "HDR\nd1\nd2\n", 10);
    drain_is(f, &db, "HDR d1 d2");
    assert_int_equal(db.n, 4);
    follow_close(f);
}

/* A line cut for its length does not move the checkpoint past its start, so a restart never
 * reads the rest of it as a line of its own; the line after it moves it on. */
static void test_follow_cut_line_checkpoint(void **state)
{
    char log[256], st[256], *big;
    size_t n = COLLECT_MAX_LINE + 5000;
    struct fake_db db;
    struct follow_opts fo;
    struct follow_line ln;
    struct follow *f;
    int r, cut = 0, b1 = 0;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "cut.log");
    path_of(st, sizeof(st), "cut.state");
    unlink(st);
    big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    write_file(log, "w", "a1\n", 3);
    write_file(log, "a", big, n); /* no newline yet */
    follow_setup(&fo, &db, log, st, 0);
    f = follow_open(&fo);
    while ((r = follow_next(f, &ln)) != 0) {
        if (r == 1 && ln.cut) {
            assert_int_equal(ln.pos, 3);
            assert_int_equal(ln.next, 3);
            cut = 1;
        }
        if (r == 1 && !ln.cut)
            assert_int_equal(ln.next, 3);
    }
    assert_true(cut);
    write_file(log, "a", big, 100);
    write_file(log, "a", "\nb1\n", 4);
    while ((r = follow_next(f, &ln)) != 0)
        if (r == 1) {
            assert_memory_equal(ln.line, "b1", 2);
            assert_int_equal(ln.next, (int64_t)(3 + n + 100 + 4));
            b1 = 1;
        }
    assert_true(b1);
    follow_close(f);
    free(big);
}

/* Rotated again while the rotated files found at start are read: the file that was live when
 * they were looked for is a rotated one by the time it is its turn, and is read all the same. */
static void test_follow_rotated_while_finishing(void **state)
{
    char log[256], rot[256], rot2[256], st[256], got[512];
    struct fake_db db;
    struct follow_opts fo;
    struct follow_line ln;
    struct follow *f;
    int r;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "w.log");
    path_of(rot, sizeof(rot), "w.log.1");
    path_of(rot2, sizeof(rot2), "w.log.2");
    path_of(st, sizeof(st), "w.state");
    unlink(st);
    unlink(rot);
    unlink(rot2);
    write_file(log, "w", "a1\n", 3);
    follow_setup(&fo, &db, log, st, 0);
    f = follow_open(&fo);
    drain_is(f, &db, "a1");
    follow_close(f);

    /* Stopped: a line for the old file, a rotation, a new live file. */
    write_file(log, "a", "a2\n", 3);
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "b1\nb2\n", 6);
    f = follow_open(&fo);
    got[0] = 0;
    while ((r = follow_next(f, &ln)) == 1 && !ln.store)
        ;
    assert_int_equal(r, 1);
    assert_memory_equal(ln.line, "a2", 2);
    /* The next rotation comes before the old file is finished. */
    assert_int_equal(rename(rot, rot2), 0);
    assert_int_equal(rename(log, rot), 0);
    write_file(log, "w", "c1\n", 3);
    fake_commit(&db, &ln);
    drain(f, &db, got, sizeof(got));
    assert_string_equal(got, "b1 b2 c1");
    follow_close(f);
}

/* First start with backfill: rotated files oldest first (by time), .gz included. */
static void test_follow_backfill(void **state)
{
    char log[256], r1[256], r2[256], st[256], cmd[1024];
    struct fake_db db;
    struct follow_opts fo;
    struct follow *f;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "bf.log");
    path_of(r1, sizeof(r1), "bf.log-20261127");
    path_of(r2, sizeof(r2), "bf.log-20261126.gz");
    path_of(st, sizeof(st), "bf.state");
    write_file(log, "w", "new\n", 4);
    write_file(r1, "w", "mid\n", 4);
    snprintf(cmd, sizeof(cmd),
             "printf 'old\\n' | gzip -c > %s && touch -d '2026-11-26' %s && "
             "touch -d '2026-11-27' %s",
             r2, r2, r1);
    assert_int_equal(system(cmd), 0);
    follow_setup(&fo, &db, log, st, 1);
    f = follow_open(&fo);
    drain_is(f, &db, "old mid new");
    follow_close(f);
    /* Again: everything is behind its checkpoint. */
    f = follow_open(&fo);
    drain_is(f, &db, "");
    follow_close(f);
}

static void test_rotated_names(void **state)
{
    static const struct {
        const char *name;
        int rotated;
    } rows[] = {
        {"/var/log/mail.log", 0},      {"/var/log/mail.log.1", 1},
        {"/var/log/mail.log.2.gz", 1}, {"/var/log/maillog-20261128", 1},
        {"/var/log/maillog", 0},       {"/var/log/mail.err", 0},
        {"/var/log/mail.log.gz", 1},   {"/var/log/2026", 0},
        {"/var/log/mail-x.log", 0},    {"mail.log.10", 1},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        if (follow_rotated_name(rows[i].name) != rows[i].rotated)
            fail_msg("%s: want %d", rows[i].name, rows[i].rotated);
    }
}

static void test_syslog_convert(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } rows[] = {
        {"<22>Nov 28 10:00:00 mx postfix/smtp[9]: A1: to=<a@b>",
         "Nov 28 10:00:00 mx postfix/smtp[9]: A1: to=<a@b>"},
        {"<22>1 2026-11-28T10:00:00Z mx postfix/smtp 9 - - A1: x",
         "2026-11-28T10:00:00Z mx postfix/smtp[9]: A1: x"},
        {"<22>1 2026-11-28T10:00:00Z mx postfix/smtp - ID1 [a b=\"c\\]\"][d] msg\n",
         "2026-11-28T10:00:00Z mx postfix/smtp: msg"},
        {"<22>1 2026-11-28T10:00:00Z mx app 1 - - \xef\xbb\xbf"
         "bom",
         "2026-11-28T10:00:00Z mx app[1]: bom"},
        {"<13>no header at all", "no header at all"},
        {"", ""},
    };
    struct buf b;

    (void)state;
    buf_init(&b);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        syslog_convert(&b, rows[i].in, strlen(rows[i].in));
        if (b.len != strlen(rows[i].out) || memcmp(b.data ? b.data : "", rows[i].out, b.len))
            fail_msg("row %zu: got \"%.*s\"", i, (int)b.len, b.data ? b.data : "");
    }
    buf_free(&b);
}

/* The one source interface: a file through it reads as follow does, and positions advance. */
static void test_source_file(void **state)
{
    char log[256], st[256], err[256] = "";
    struct fake_db db;
    struct source_opts so;
    struct follow_line ln;
    struct source *src;
    int r, lines = 0, ends = 0;

    (void)state;
    memset(&db, 0, sizeof(db));
    path_of(log, sizeof(log), "s.log");
    path_of(st, sizeof(st), "s.state");
    write_file(log, "w", "one\ntwo\n", 8);
    memset(&so, 0, sizeof(so));
    so.kind = SOURCE_FILE;
    so.name = "s";
    so.path = log;
    so.state_path = st;
    so.open_source = fake_open;
    so.arg = &db;
    src = source_open(&so, err, sizeof(err));
    assert_non_null(src);
    assert_int_equal(source_kind(src), SOURCE_FILE);
    assert_int_equal(source_position(src), 0);
    while ((r = source_next(src, &ln)) != 0) {
        assert_int_equal(r, 1);
        lines++;
        assert_int_equal(source_position(src), ln.next);
    }
    assert_int_equal(lines, 2);
    assert_int_equal(source_position(src), 8);
    write_file(log, "a", "three\n", 6);
    assert_int_equal(source_lag(src), 6);
    source_reopen(src); /* SIGHUP: the same file again, nothing lost */
    while ((r = source_next(src, &ln)) != 0) {
        if (r == 1 && ln.store)
            lines++;
        else if (r == 2)
            ends++;
    }
    assert_int_equal(lines, 3);
    assert_int_equal(source_position(src), 14);
    assert_int_equal(source_lag(src), 0);
    assert_int_equal(source_cut(src), 0);
    (void)ends;
    source_close(src);
    source_close(NULL);
}

/* A listener through the interface: no path to reopen, no lag; a bad address is refused. */
static void test_source_syslog(void **state)
{
    char err[256] = "";
    struct fake_db db;
    struct source_opts so;
    struct follow_line ln;
    struct source *src;

    (void)state;
    memset(&db, 0, sizeof(db));
    memset(&so, 0, sizeof(so));
    so.arg = &db;
    so.kind = SOURCE_SYSLOG;
    so.name = "net";
    so.listen = "udp://127.0.0.1:0";
    so.open_source = fake_open;
    src = source_open(&so, err, sizeof(err));
    assert_non_null(src);
    assert_int_equal(source_kind(src), SOURCE_SYSLOG);
    assert_int_equal(source_next(src, &ln), 0);
    source_reopen(src);
    assert_int_equal(source_lag(src), 0);
    assert_int_equal(source_cut(src), 0);
    assert_int_equal(source_position(src), 0);
    source_close(src);

    so.listen = "carrier-pigeon://nowhere";
    assert_null(source_open(&so, err, sizeof(err)));
    assert_true(err[0] != 0);
}

/* tcp_port - a loopback TCP port nothing listens on now */
static int tcp_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* tcp_connect - a connection to the listener on port, with a receive timeout of 2 s */
static int tcp_connect(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* closed_by_peer - 1 when the listener has closed the connection (EOF or reset) */
static int closed_by_peer(int fd)
{
    char c;

    return recv(fd, &c, 1, 0) <= 0;
}

/* next_line - call syslog_next until a line comes, for at most 2 s; its text */
static const char *next_line(struct syslog_in *s, char *out, size_t outlen)
{
    struct follow_line ln;

    for (int i = 0; i < 200; i++) {
        if (syslog_next(s, &ln) == 1) {
            snprintf(out, outlen, "%.*s", (int)ln.len, ln.line);
            return out;
        }
        usleep(10000);
    }
    return "(none)";
}

/* pump - call syslog_next for ms milliseconds (accepts, reads, sweeps) */
static void pump(struct syslog_in *s, int ms)
{
    struct follow_line ln;

    for (int i = 0; i < ms / 10; i++) {
        (void)syslog_next(s, &ln);
        usleep(10000);
    }
}

/* tcp_listener - a syslog listener named "net" on the loopback TCP port, with its limits */
static struct syslog_in *tcp_listener(struct fake_db *db, int port, int64_t first_us,
                                      int64_t idle_us)
{
    char err[256] = "", url[64];
    struct syslog_opts o;
    struct syslog_in *s;

    memset(db, 0, sizeof(*db));
    memset(&o, 0, sizeof(o));
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    o.name = "net";
    o.listen = url;
    o.first_us = first_us;
    o.idle_us = idle_us;
    o.open_source = fake_open;
    o.arg = db;
    s = syslog_open(&o, err, sizeof(err));
    assert_non_null(s);
    return s;
}

/* A silent connection times out, then one past its last message; a full table evicts the
 * idlest connection that never sent a message, and every drop is counted. */
static void test_syslog_idle_and_evict(void **state)
{
    char line[256];
    struct fake_db db;
    struct syslog_stats st;
    int port = tcp_port(), sender, quiet[2], crowd[64];
    struct syslog_in *s = tcp_listener(&db, port, 500000, 2000000);

    (void)state;

    sender = tcp_connect(port);
    quiet[0] = tcp_connect(port);
    quiet[1] = tcp_connect(port);
    assert_int_equal(write(sender, "<13>hello\n", 10), 10);
    assert_string_equal(next_line(s, line, sizeof(line)), "hello");
    syslog_get_stats(s, &st);
    assert_int_equal(st.open, 3);
    pump(s, 800); /* past first_us: the two silent ones go, the sender stays */
    assert_true(closed_by_peer(quiet[0]));
    assert_true(closed_by_peer(quiet[1]));
    syslog_get_stats(s, &st);
    assert_int_equal(st.drops[SYSLOG_TIMED_OUT], 2);
    assert_int_equal(st.open, 1);

    /* 64 silent connections more than fill the table: the sender keeps its place, the
     * first silent one is evicted. */
    for (int i = 0; i < 64; i++)
        crowd[i] = tcp_connect(port); /* waiting in the backlog, accepted in order */
    pump(s, 100);
    syslog_get_stats(s, &st);
    assert_int_equal(st.drops[SYSLOG_EVICTED], 1);
    assert_int_equal(st.open, 64);
    assert_int_equal(st.connections, 67);
    assert_true(closed_by_peer(crowd[0]));
    assert_int_equal(write(sender, "<13>still here\n", 15), 15);
    assert_string_equal(next_line(s, line, sizeof(line)), "still here");

    /* Past idle_us after its last message, the sender goes too. */
    pump(s, 2500);
    assert_true(closed_by_peer(sender));
    syslog_get_stats(s, &st);
    assert_int_equal(st.drops[SYSLOG_TIMED_OUT], 2 + 63 + 1);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.messages, 2);
    assert_string_equal(syslog_drop_name(SYSLOG_BAD_COUNT), "bad_count");

    close(sender);
    close(quiet[0]);
    close(quiet[1]);
    for (int i = 0; i < 64; i++)
        close(crowd[i]);
    syslog_close(s);
}

/* A message on an open connection wakes the daemon's wait at once; one that arrives after
 * the connection's time is up but before the sweep that would close it is still read. */
static void test_syslog_wakes_and_reads_late_bytes(void **state)
{
    char line[256];
    struct fake_db db;
    struct syslog_stats st;
    struct notify *n = notify_open();
    int port = tcp_port(), c, woke;
    struct syslog_in *s = tcp_listener(&db, port, 300000, 500000);
    int64_t t0;

    (void)state;
    syslog_watch(s, n);

    c = tcp_connect(port);
    pump(s, 50); /* accepted */
    syslog_get_stats(s, &st);
    assert_int_equal(st.open, 1);
    while (notify_wait(n, 0) > 0) /* what the accept left ready */
        pump(s, 10);
    assert_int_equal(write(c, "<13>now\n", 8), 8);
    t0 = time_now_us();
    woke = notify_wait(n, 5000);
    assert_int_equal(woke, 2); /* the connection's socket */
    assert_true(time_now_us() - t0 < 2000000);
    assert_string_equal(next_line(s, line, sizeof(line)), "now");

    /* A second connection sends its first message after first_us has passed, while
     * nothing called syslog_next: the next call reads it rather than closing it. */
    close(c);
    c = tcp_connect(port);
    pump(s, 50);
    usleep(400000);
    assert_int_equal(write(c, "<13>late\n", 9), 9);
    usleep(50000);
    assert_string_equal(next_line(s, line, sizeof(line)), "late");
    syslog_get_stats(s, &st);
    assert_int_equal(st.drops[SYSLOG_TIMED_OUT], 0);
    assert_int_equal(st.messages, 2);

    /* Bytes that do not complete a message do not keep a connection open past idle_us. */
    assert_int_equal(write(c, "<13>no end", 10), 10);
    pump(s, 1000);
    assert_true(closed_by_peer(c));
    syslog_get_stats(s, &st);
    assert_int_equal(st.drops[SYSLOG_TIMED_OUT], 1);

    close(c);
    syslog_close(s);
    notify_close(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_gzip_same_positions_and_identity),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_nul_free),
        cmocka_unit_test(test_tail_partial_and_growth),
        cmocka_unit_test(test_tail_truncated_and_replaced),
        cmocka_unit_test(test_tail_marker),
        cmocka_unit_test(test_tail_rewritten_while_busy),
        cmocka_unit_test(test_tail_rewritten_alike),
        cmocka_unit_test(test_overlong_whole),
        cmocka_unit_test(test_follow_rotations),
        cmocka_unit_test(test_follow_resumed_segment_ends_at_checkpoint),
        cmocka_unit_test(test_follow_same_first_line),
        cmocka_unit_test(test_follow_cut_line_checkpoint),
        cmocka_unit_test(test_follow_rotated_while_finishing),
        cmocka_unit_test(test_follow_backfill),
        cmocka_unit_test(test_rotated_names),
        cmocka_unit_test(test_syslog_convert),
        cmocka_unit_test(test_source_file),
        cmocka_unit_test(test_source_syslog),
        cmocka_unit_test(test_syslog_idle_and_evict),
        cmocka_unit_test(test_syslog_wakes_and_reads_late_bytes),
    };

    return cmocka_run_group_tests_name("collector", tests, setup, teardown);
}
