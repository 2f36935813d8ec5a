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
    assert_int_equal(tail_next(t, &line, &len, &pos), -2);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_gzip_same_positions_and_identity),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_tail_partial_and_growth),
        cmocka_unit_test(test_tail_truncated_and_replaced),
    };

    return cmocka_run_group_tests_name("collector", tests, setup, teardown);
}
