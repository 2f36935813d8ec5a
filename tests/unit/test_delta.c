/*
 * test_delta - cmocka tests of db/delta.c: counters by key text against a plain array (and
 * found, or not, by delta_find()), the least example kept, the order of first addition, and a reset that keeps nothing
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/delta.h"

#define KEYS 5000

/* test_against_array - 40,000 additions over 5,000 keys sum as a plain array does; a key never
 * added is not found */
static void test_against_array(void **state)
{
    static int64_t want[KEYS][2];
    static int first[KEYS];
    struct delta d;
    char key[64];
    unsigned seed = 7;
    int order = 0;

    (void)state;
    memset(want, 0, sizeof(want));
    memset(first, -1, sizeof(first));
    delta_init(&d);
    for (int i = 0; i < 40000; i++) {
        int k;
        int64_t *c;

        seed = seed * 1103515245u + 12345u;
        k = (int)((seed >> 8) % KEYS);
        /* keys that share long prefixes, with a tab inside like a rollup key */
        snprintf(key, sizeof(key), "2026-11-01T00:00:00+00:00\tmx1\td%d.example", k);
        c = delta_add(&d, key, strlen(key), NULL, 0);
        c[i % 2]++;
        want[k][i % 2]++;
        if (first[k] < 0)
            first[k] = order++;
    }
    assert_int_equal(d.n, (size_t)order);
    for (int k = 0; k < KEYS; k++) {
        const char *kt, *ex;
        const struct delta_row *r;
        const int64_t *found;

        snprintf(key, sizeof(key), "2026-11-01T00:00:00+00:00\tmx1\td%d.example", k);
        found = delta_find(&d, key, strlen(key));
        if (first[k] < 0) {
            assert_null(found);
            continue;
        }
        assert_non_null(found);
        assert_int_equal(found[0], want[k][0]);
        r = delta_row(&d, (size_t)first[k], &kt, &ex);
        snprintf(key, sizeof(key), "2026-11-01T00:00:00+00:00\tmx1\td%d.example", k);
        assert_int_equal(r->key_len, strlen(key));
        assert_memory_equal(kt, key, r->key_len);
        assert_null(ex);
        assert_int_equal(r->c[0], want[k][0]);
        assert_int_equal(r->c[1], want[k][1]);
        assert_int_equal(r->c[2], 0);
    }
    delta_free(&d);
}

/* test_example - the least example by byte order, a prefix before what it starts */
static void test_example(void **state)
{
    struct delta d;
    const char *kt, *ex;
    const struct delta_row *r;

    (void)state;
    delta_init(&d);
    delta_add(&d, "k", 1, NULL, 0);
    r = delta_row(&d, 0, &kt, &ex);
    assert_null(ex);
    delta_add(&d, "k", 1, "550 user unknown", 16);
    delta_add(&d, "k", 1, "552 full", 8);
    delta_add(&d, "k", 1, "550 user", 8);
    delta_add(&d, "k", 1, "551 moved", 9);
    r = delta_row(&d, 0, &kt, &ex);
    assert_int_equal(r->ex_len, 8);
    assert_memory_equal(ex, "550 user", 8);
    delta_add(&d, "other", 5, "999", 3);
    r = delta_row(&d, 1, &kt, &ex);
    assert_memory_equal(ex, "999", 3);
    assert_int_equal(d.n, 2);
    delta_free(&d);
}

/* test_reset - a reset set is empty (finds nothing) and counts from zero again */
static void test_reset(void **state)
{
    struct delta d;
    int64_t *c;

    (void)state;
    delta_init(&d);
    assert_null(delta_find(&d, "999", 3));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3000; i++) {
            char key[16];

            snprintf(key, sizeof(key), "%d", i % 1000);
            c = delta_add(&d, key, strlen(key), NULL, 0);
            c[4]++;
        }
        assert_int_equal(d.n, 1000);
        c = delta_add(&d, "999", 3, NULL, 0);
        assert_int_equal(c[4], 3);
        assert_int_equal(delta_find(&d, "999", 3)[4], 3);
        assert_null(delta_find(&d, "1000", 4));
        delta_reset(&d);
        assert_int_equal(d.n, 0);
        assert_null(delta_find(&d, "999", 3));
    }
    delta_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_array),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
