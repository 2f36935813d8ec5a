/*
 * test_hook - cmd/alert_hook.c: the webhook queue is bounded, a full queue drops and counts,
 * a receiver that is not there costs the tries and a "failed", and stopping does not wait
 * for the queue
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cmd/cmd.h"
#include "util/util.h"

/*
 * Port 1 on loopback refuses at once. Posting twice the queue's size in a burst: the sender
 * takes at most a few bodies off the queue meanwhile (each costs two refused attempts and a
 * backoff of at least 0.125 s between them), so most of the rest are dropped and counted,
 * and hook_post() never blocks.
 */
static void test_queue_bounded(void **state)
{
    struct hook *h = hook_start("http://127.0.0.1:1/hook", 1, 2);
    uint64_t sent, failed, dropped;
    int refused = 0;
    int64_t t0 = time_now_us();

    (void)state;
    assert_non_null(h);
    for (int i = 0; i < 2 * HOOK_QUEUE; i++)
        refused += hook_post(h, "{\"event\":\"fired\"}", 17) != 0;
    assert_true(time_now_us() - t0 < 1000000);
    hook_stats(h, &sent, &failed, &dropped);
    assert_int_equal(sent, 0);
    assert_int_equal(dropped, (uint64_t)refused);
    assert_true(dropped >= HOOK_QUEUE - 4);
    assert_true(dropped <= HOOK_QUEUE);
    hook_stop(h); /* frees what is still queued; under ASan, leaks would show */
}

/* One body against a closed port: both tries fail, counted once as failed. */
static void test_failed_after_tries(void **state)
{
    struct hook *h = hook_start("http://127.0.0.1:1/hook", 1, 2);
    uint64_t sent = 0, failed = 0, dropped = 0;

    (void)state;
    assert_int_equal(hook_post(h, "{}", 2), 0);
    for (int i = 0; i < 100 && failed == 0; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};

        nanosleep(&ts, NULL);
        hook_stats(h, &sent, &failed, &dropped);
    }
    assert_int_equal(failed, 1);
    assert_int_equal(sent, 0);
    assert_int_equal(dropped, 0);
    hook_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_bounded),
        cmocka_unit_test(test_failed_after_tries),
    };

    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
