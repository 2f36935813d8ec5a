/*
 * retry - the backoff rules that import and serve follow while the database is away
 *
 * One outage is the time from the first failure to the next success. The waits grow from
 * RETRY_MIN_US by doubling to RETRY_MAX_US, and each is jittered to between half and all of
 * itself, so that many writers that lost the server together do not come back together.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cmd/cmd.h"

/* retry_init - no outage yet; give_up_us 0 retries for ever */
void retry_init(struct retry *r, int64_t give_up_us)
{
    r->give_up_us = give_up_us;
    r->since_us = 0;
    r->backoff_us = RETRY_MIN_US;
    r->failures = 0;
}

/* retry_jitter - between half and all of wait_us, chosen by rnd */
int64_t retry_jitter(int64_t wait_us, uint64_t rnd)
{
    int64_t half = wait_us / 2;

    return half + (int64_t)(rnd % (uint64_t)(wait_us - half + 1));
}

/* retry_failed - a failure at now_us: the wait before the next try, or -1 to give up */
int64_t retry_failed(struct retry *r, int64_t now_us)
{
    int64_t wait;

    if (r->since_us == 0) {
        r->since_us = now_us;
        r->backoff_us = RETRY_MIN_US;
        r->failures = 0;
    } else if (r->give_up_us > 0 && now_us - r->since_us > r->give_up_us) {
        return -1;
    }
    r->failures++;
    wait = r->backoff_us;
    r->backoff_us = wait * 2 > RETRY_MAX_US ? RETRY_MAX_US : wait * 2;
    return retry_jitter(wait, (uint64_t)random());
}

/* retry_ok - a success at now_us: how long the outage it ends lasted (at least 1), or 0 */
int64_t retry_ok(struct retry *r, int64_t now_us)
{
    int64_t lasted = 0;

    if (r->since_us != 0)
        lasted = now_us - r->since_us > 0 ? now_us - r->since_us : 1;
    r->since_us = 0;
    r->backoff_us = RETRY_MIN_US;
    r->failures = 0;
    return lasted;
}

/* retry_sleep - sleep us microseconds, or less once *stop is set */
void retry_sleep(int64_t us, volatile sig_atomic_t *stop)
{
    struct timespec ts;

    if (us <= 0)
        return;
    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && (stop == NULL || !*stop))
        ;
}
