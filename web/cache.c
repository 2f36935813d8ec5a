/*
 * cache - a short-lived cache of report replies, so that a dashboard on many screens (or a
 * script polling in a loop) costs one database query per WEB_CACHE_TTL_US, not one per request
 *
 * The key is the route and its query parameters as libmicrohttpd decoded them, in the order
 * given. Only routes marked cacheable in web.c's table use it (aggregates: summary,
 * timeseries, domains, reasons, the dashboard), and only their 200 replies are kept. So a
 * reply can be up to WEB_CACHE_TTL_US old, or, while one thread queries afresh for an
 * expired entry, as old as that query takes (at most WEB_CACHE_STALE_US): the other
 * threads answer from the old entry instead of all running the same slow query. For a
 * relative range ("-24h") the range itself is then that much older too, which the reply's
 * own from/to show.
 *
 * The server threads share the cache under one mutex, held only to find or store an entry
 * (never while a query runs). web_reply_buf() hands each reply to web_cache_capture(),
 * which keeps it only while web_handler() has armed a capture for the request being
 * answered on this thread (a thread-local pointer, set and cleared around the route call).
 * Memory is bounded: WEB_CACHE_SLOTS entries of at most WEB_CACHE_MAX_BODY bytes.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "util/util.h"
#include "web/web_int.h"

#define WEB_CACHE_MAX_KEY 2048

struct web_cache_entry {
    uint64_t hash;
    char *key;
    char *body;
    size_t len;
    const char *ctype; /* a string literal of the reply functions */
    int64_t expires_us;
    int64_t refresh_us; /* a thread is querying afresh since then; 0: none */
};

struct web_cache {
    pthread_mutex_t lock; /* the server threads share the entries */
    struct web_cache_entry e[WEB_CACHE_SLOTS];
};

/* The capture armed for the request this thread is answering, or NULL. */
static _Thread_local struct web_capture *web_capture_now;

/* The key being built from a request's parameters. */
struct web_key {
    struct buf *b;
    int bad; /* a NUL byte, or too long: not cacheable */
};

/*
 * web_key_iter - append one query parameter to the key. A name or value with a NUL byte
 * would read like a shorter one, so such a request is not cacheable: its handler answers
 * (and refuses) it.
 */
static enum MHD_Result web_key_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct web_key *k = cls;

    (void)kind;
    if (strlen(key) != key_size || (value != NULL && strlen(value) != value_size)) {
        k->bad = 1;
        return MHD_NO;
    }
    buf_putc(k->b, '\x01');
    buf_puts(k->b, key);
    buf_putc(k->b, value != NULL ? '\x02' : '\x03');
    if (value != NULL)
        buf_puts(k->b, value);
    if (k->b->len > WEB_CACHE_MAX_KEY) {
        k->bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* web_cache_create - an empty cache */
struct web_cache *web_cache_create(void)
{
    struct web_cache *c = xcalloc(1, sizeof(struct web_cache));

    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/* web_cache_free - free every entry and the cache */
void web_cache_free(struct web_cache *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < WEB_CACHE_SLOTS; i++) {
        x_free(c->e[i].key);
        x_free(c->e[i].body);
    }
    pthread_mutex_destroy(&c->lock);
    x_free(c);
}

/*
 * web_cache_lookup - the request's key into cap; 1 and the cached reply queued when there
 * is a fresh one, 0 when the handler must run (with cap armed), -1 when the request cannot
 * be cached (a key too long, a NUL byte): run the handler without capture.
 */
int web_cache_lookup(struct web_cache *c, struct MHD_Connection *conn, const char *url,
                     int64_t now_us, struct web_capture *cap, enum MHD_Result *ret)
{
    size_t i;

    struct web_key k;

    memset(cap, 0, sizeof(*cap));
    buf_init(&cap->key);
    buf_puts(&cap->key, url);
    k.b = &cap->key;
    k.bad = 0;
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, web_key_iter, &k);
    if (k.bad) {
        buf_free(&cap->key);
        return -1;
    }
    buf_putc(&cap->key, 0);
    cap->key.len--;
    cap->hash = hash_fnv1a64(cap->key.data, cap->key.len);
    cap->cache = c;
    cap->now_us = now_us;
    pthread_mutex_lock(&c->lock);
    for (i = 0; i < WEB_CACHE_SLOTS; i++) {
        struct web_cache_entry *e = &c->e[i];

        if (e->key == NULL || e->hash != cap->hash || strcmp(e->key, cap->key.data) != 0)
            continue;
        /*
         * Fresh, or stale while another thread queries afresh (for at most
         * WEB_CACHE_STALE_US): answer from the entry. Otherwise this thread queries, and
         * the others wait for it instead of running the same slow query too.
         */
        if (e->expires_us > now_us ||
            (e->refresh_us > 0 && now_us - e->refresh_us < WEB_CACHE_STALE_US)) {
            /* the reply copies the body, so the entry may change once the lock is gone */
            *ret = web_reply_buf(conn, MHD_HTTP_OK, e->ctype, e->body, e->len);
            pthread_mutex_unlock(&c->lock);
            buf_free(&cap->key);
            return 1;
        }
        e->refresh_us = now_us;
        cap->refreshing = 1;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* web_cache_arm - from now on this thread's 200 replies go into cap (NULL: stop) */
void web_cache_arm(struct web_capture *cap)
{
    web_capture_now = cap;
}

/* web_cache_capture - called by web_reply_buf(): keep a 200 reply when a capture is armed */
void web_cache_capture(unsigned int status, const char *ctype, const char *data, size_t len)
{
    struct web_capture *cap = web_capture_now;
    struct web_cache_entry *e, *victim;
    size_t i;

    if (cap == NULL || status != MHD_HTTP_OK || len > WEB_CACHE_MAX_BODY)
        return;
    web_capture_now = NULL; /* one reply per request */
    pthread_mutex_lock(&cap->cache->lock);
    victim = &cap->cache->e[0];
    for (i = 0; i < WEB_CACHE_SLOTS; i++) {
        e = &cap->cache->e[i];
        if (e->key != NULL && e->hash == cap->hash && strcmp(e->key, cap->key.data) == 0) {
            victim = e;
            break;
        }
        if (e->expires_us < victim->expires_us)
            victim = e; /* empty slots have 0 and go first, then the stalest */
    }
    x_free(victim->key);
    x_free(victim->body);
    victim->hash = cap->hash;
    victim->key = xstrdup(cap->key.data);
    victim->body = xmalloc(len ? len : 1);
    memcpy(victim->body, data, len);
    victim->len = len;
    victim->ctype = ctype;
    victim->expires_us = cap->now_us + WEB_CACHE_TTL_US;
    victim->refresh_us = 0;
    cap->refreshing = 0;
    pthread_mutex_unlock(&cap->cache->lock);
}

/* web_cache_done - the request is answered: disarm and free the key */
void web_cache_done(struct web_capture *cap)
{
    size_t i;

    web_capture_now = NULL;
    if (cap->refreshing) {
        /* the query failed (no 200 reply): the next request tries again */
        pthread_mutex_lock(&cap->cache->lock);
        for (i = 0; i < WEB_CACHE_SLOTS; i++) {
            struct web_cache_entry *e = &cap->cache->e[i];

            if (e->key != NULL && e->hash == cap->hash && strcmp(e->key, cap->key.data) == 0)
                e->refresh_us = 0;
        }
        pthread_mutex_unlock(&cap->cache->lock);
    }
    buf_free(&cap->key);
}
