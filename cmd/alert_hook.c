/*
 * alert_hook - the alert webhook: a bounded queue of JSON bodies and one sender thread
 *
 * The evaluator never waits for the network: hook_post() copies the body into a ring of
 * HOOK_QUEUE slots under a mutex and signals the sender; a full ring drops the body and
 * counts it. The sender POSTs with libcurl (Content-Type: application/json), each attempt
 * bounded by the timeout, and retries a failure (no answer, or a status other than 2xx)
 * after the waits of cmd/retry.c, up to the configured number of attempts; then the body
 * is counted as failed and the next one goes. The waits end early when the hook stops.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cmd/cmd.h"
#include "util/util.h"

struct hook {
    char *url;
    int timeout_s, tries;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *queue[HOOK_QUEUE];
    size_t len[HOOK_QUEUE];
    size_t head, count;
    int stopping;
    uint64_t sent, failed, dropped;
};

/* hook_discard - libcurl's write callback: the receiver's answer is not needed */
static size_t hook_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* hook_once - one POST; 0 when the receiver answered 2xx */
static int hook_once(struct hook *h, CURL *c, const char *body, size_t len)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    CURLcode rc;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)h->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mailpulse-alerts");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        log_warn("alert webhook: %s", curl_easy_strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        log_warn("alert webhook: the receiver answered %ld", status);
        return -1;
    }
    return 0;
}

/* hook_wait - sleep us, or less when the hook stops; 1 when it stops */
static int hook_wait(struct hook *h, int64_t us)
{
    struct timespec ts;
    int stopping;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->lock, &ts) == 0)
        ;
    stopping = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return stopping;
}

/* hook_main - the sender thread: take a body, send it with retries, count the outcome */
static void *hook_main(void *arg)
{
    struct hook *h = arg;
    CURL *c = curl_easy_init();

    for (;;) {
        struct retry r;
        char *body;
        size_t len;
        int ok = 0, stopping;

        pthread_mutex_lock(&h->lock);
        while (h->count == 0 && !h->stopping)
            pthread_cond_wait(&h->wake, &h->lock);
        if (h->count == 0 || h->stopping) { /* what is left is freed by hook_stop() */
            pthread_mutex_unlock(&h->lock);
            break;
        }
        body = h->queue[h->head];
        len = h->len[h->head];
        h->head = (h->head + 1) % HOOK_QUEUE;
        h->count--;
        pthread_mutex_unlock(&h->lock);

        retry_init(&r, 0);
        for (int t = 0; t < h->tries && c != NULL; t++) {
            if (hook_once(h, c, body, len) == 0) {
                ok = 1;
                break;
            }
            pthread_mutex_lock(&h->lock);
            stopping = h->stopping;
            pthread_mutex_unlock(&h->lock);
            if (stopping || t + 1 == h->tries)
                break;
            if (hook_wait(h, retry_failed(&r, time_now_us())))
                break;
        }
        x_free(body);
        pthread_mutex_lock(&h->lock);
        if (ok)
            h->sent++;
        else
            h->failed++;
        pthread_mutex_unlock(&h->lock);
    }
    if (c != NULL)
        curl_easy_cleanup(c);
    return NULL;
}

/* hook_start - the queue and its sender; NULL when the thread cannot start (logged) */
struct hook *hook_start(const char *url, int timeout_s, int tries)
{
    struct hook *h = xcalloc(1, sizeof(*h));

    curl_global_init(CURL_GLOBAL_DEFAULT);
    h->url = xstrdup(url);
    h->timeout_s = timeout_s > 0 ? timeout_s : 5;
    h->tries = tries > 0 ? tries : 1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    if (pthread_create(&h->thread, NULL, hook_main, h) != 0) {
        log_warn("alert webhook: cannot start its thread; no webhook");
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        x_free(h->url);
        x_free(h);
        return NULL;
    }
    return h;
}

/* hook_post - queue a copy of body; -1 (counted as dropped) when the queue is full */
int hook_post(struct hook *h, const char *body, size_t len)
{
    int rc = 0;

    pthread_mutex_lock(&h->lock);
    if (h->count == HOOK_QUEUE) {
        h->dropped++;
        rc = -1;
    } else {
        size_t slot = (h->head + h->count) % HOOK_QUEUE;

        h->queue[slot] = xmalloc(len + 1);
        memcpy(h->queue[slot], body, len);
        h->queue[slot][len] = 0;
        h->len[slot] = len;
        h->count++;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
    if (rc != 0)
        log_warn("alert webhook: the queue is full; a notification is dropped");
    return rc;
}

/* hook_stats - bodies delivered, given up on, and dropped for a full queue */
void hook_stats(struct hook *h, uint64_t *sent, uint64_t *failed, uint64_t *dropped)
{
    pthread_mutex_lock(&h->lock);
    *sent = h->sent;
    *failed = h->failed;
    *dropped = h->dropped;
    pthread_mutex_unlock(&h->lock);
}

/* hook_stop - end the sender (the body in flight gets its attempt) and free the queue */
void hook_stop(struct hook *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    for (size_t i = 0; i < h->count; i++)
        x_free(h->queue[(h->head + i) % HOOK_QUEUE]);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    x_free(h->url);
    x_free(h);
    curl_global_cleanup();
}
