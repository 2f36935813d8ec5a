/*
 * test_retry - cmd/retry.c: the backoff that import and serve follow through a database outage
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "cmd/cmd.h"
#include "util/util.h"

/* Jitter keeps between half and all of the wait, whatever the random number. */
static void test_jitter(void **state)
{
    static const struct {
        int64_t wait;
        uint64_t rnd;
        int64_t want;
    } rows[] = {
        {1000, 0, 500},
        {1000, 500, 1000},
        {1000, 501, 500},
        {1000, 250, 750},
        {1, 0, 0},
        {1, 1, 1},
        {0, 12345, 0},
        {RETRY_MAX_US, UINT64_MAX,
         RETRY_MAX_US / 2 + (int64_t)(UINT64_MAX % (RETRY_MAX_US / 2 + 1))},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        assert_int_equal(retry_jitter(rows[i].wait, rows[i].rnd), rows[i].want);
}

/* The waits double from RETRY_MIN_US and stop growing at RETRY_MAX_US. */
static void test_backoff_doubles_to_cap(void **state)
{
    struct retry r;
    int64_t now = 1000000000, base = RETRY_MIN_US;

    (void)state;
    retry_init(&r, 0);
    for (int i = 0; i < 20; i++) {
        int64_t w = retry_failed(&r, now);

        assert_true(w >= base / 2);
        assert_true(w <= base);
        now += w;
        base = base * 2 > RETRY_MAX_US ? RETRY_MAX_US : base * 2;
    }
    assert_int_equal(r.backoff_us, RETRY_MAX_US);
    assert_int_equal(r.failures, 20);
}

/* With a give-up time, a failure after it says -1; without one, never. */
static void test_give_up(void **state)
{
    struct retry r;
    int64_t t0 = 5000000;

    (void)state;
    retry_init(&r, 60 * 1000000LL);
    assert_true(retry_failed(&r, t0) > 0);
    assert_int_equal(r.since_us, t0);
    assert_true(retry_failed(&r, t0 + 60 * 1000000LL) > 0); /* exactly at the limit: once more */
    assert_int_equal(retry_failed(&r, t0 + 60 * 1000000LL + 1), -1);

    retry_init(&r, 0);
    assert_true(retry_failed(&r, t0) > 0);
    assert_true(retry_failed(&r, t0 + 365LL * 86400 * 1000000) > 0);
}

/* A success ends the outage, says how long it was, and the next outage starts afresh. */
static void test_success_resets(void **state)
{
    struct retry r;

    (void)state;
    retry_init(&r, 100 * 1000000LL);
    assert_int_equal(retry_ok(&r, 10), 0); /* no outage: nothing to report */
    for (int i = 0; i < 5; i++)
        retry_failed(&r, 1000000 + i);
    assert_true(r.backoff_us > RETRY_MIN_US);
    assert_int_equal(retry_ok(&r, 4000000), 3000000);
    assert_int_equal(r.since_us, 0);
    assert_int_equal(r.backoff_us, RETRY_MIN_US);
    assert_int_equal(r.failures, 0);
    /* A failure and a success in the same microsecond still count as an outage. */
    retry_failed(&r, 7000000);
    assert_int_equal(retry_ok(&r, 7000000), 1);
    /* The give-up clock starts again with the new outage. */
    assert_true(retry_failed(&r, 200000000) > 0);
    assert_true(retry_failed(&r, 250000000) > 0);
    assert_int_equal(retry_failed(&r, 300000001), -1);
}

/* retry_sleep waits about as long as asked; zero and negative waits return at once. */
static void test_sleep(void **state)
{
    volatile sig_atomic_t stop = 1;
    int64_t t0 = time_now_us();

    (void)state;
    retry_sleep(0, NULL);
    retry_sleep(-5, NULL);
    retry_sleep(20000, &stop); /* no signal arrives: stop matters only after an EINTR */
    assert_true(time_now_us() - t0 >= 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jitter),  cmocka_unit_test(test_backoff_doubles_to_cap),
        cmocka_unit_test(test_give_up), cmocka_unit_test(test_success_resets),
        cmocka_unit_test(test_sleep),
    };

    return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
