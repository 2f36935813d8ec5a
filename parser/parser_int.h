/*
 * parser_int - what the files of parser/ share and no other module sees
 *
 * parser_queue_get() finds, and with create set makes, the open-queue entry of (host,
 * queue id); parser_queue_remove() drops it. pfx_parse_line() reads the message text of one
 * Postfix line (prefix pfx_, postfix.c).
 */
#ifndef MAILPULSE_PARSER_INT_H
#define MAILPULSE_PARSER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "parser/parser.h"
#include "util/util.h"

/*
 * copy_field - a string from one array into another of the same size (an open queue id's
 * entry, an event, a deferral), sixteen bytes at a time up to the chunk that holds its NUL:
 * no strlen() first (the bytes after the NUL that come along are never read as text). A
 * string with no NUL in the whole chunks is cut to size - 1 bytes.
 */
static inline void copy_field(char *dst, const char *src, size_t size)
{
#ifdef __SSE2__
    for (size_t i = 0; i + 16 <= size; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(src + i));

        _mm_storeu_si128((__m128i *)(void *)(dst + i), x);
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_setzero_si128())))
            return;
    }
#endif
    {
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = 0;
    }
}

/* COPY_FIELD - copy_field() for two arrays of one size */
#define COPY_FIELD(dst, src)                                                                       \
    do {                                                                                           \
        _Static_assert(sizeof(dst) == sizeof(src), "field sizes");                                 \
        copy_field((dst), (src), sizeof(dst));                                                     \
    } while (0)

/*
 * field_len - strlen() of a string held in an array of size bytes (an event's, an open queue
 * id's): sixteen bytes at a time up to the chunk that holds its NUL, inline. Every byte read
 * is within the array; a string with no NUL in it counts as size - 1 bytes, as copy_field()
 * cuts it.
 */
static inline size_t field_len(const char *s, size_t size)
{
    size_t i = 0;

#ifdef __SSE2__
    for (; i + 16 <= size; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
            _mm_loadu_si128((const __m128i *)(const void *)(s + i)), _mm_setzero_si128()));

        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    return i < size ? i + strnlen(s + i, size - 1 - i) : size - 1;
}

/*
 * bytes_equal - memcmp(a, b, n) == 0 for the short keys of the tables (queue ids, hosts), eight
 * bytes at a time with the last eight again, inline: a call of memcmp() cost more than the
 * comparison. Nothing is read from a + n or b + n on.
 */
static inline bool bytes_equal(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    size_t i;

    if (n < 8) {
        for (i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    for (i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* FIELD_LEN - field_len() of an array */
#define FIELD_LEN(a) field_len((a), sizeof(a))

/*
 * The open-queue table that parser.c owns and the per-MTA readers use.
 * A pointer returned by parser_queue_get() is valid until the next call that may create or
 * remove an entry.
 */
struct pq_entry {
    uint64_t hash;
    uint32_t older, newer; /* insertion order, as index + 1; 0 ends the list */
    bool live;
    bool message_done; /* the message event has been emitted */
    char host[EV_HOST_LEN];
    char queue_id[EV_QID_LEN];
    char sender[EV_ADDR_LEN];
    bool has_sender; /* "" is a real sender (bounces): tell it from unknown */
    char message_id[EV_MSGID_LEN];
    char client[EV_CLIENT_LEN];
    char sasl_username[EV_SASL_LEN];
    int64_t size;
    int32_t nrcpt;
    int64_t created_us;  /* log time of the first line about it */
    uint64_t msgid_hash; /* of message_id, 0 when none: finds a content filter's re-injection */
    bool msgid_seen;     /* another open entry of this host had the same message-id before */
    /* Sendmail: the message was refused after its recipients (a milter at end of data, a
     * header check) with this DSN and SMTP code; its to= lines are the refusal's recipients */
    bool refused;
    int smtp_refusal_code;
    char refusal_dsn[EV_DSN_LEN];
};

struct pq_entry *parser_queue_get(struct parser *p, const char *host, size_t host_len,
                                  const char *qid, size_t qid_len, bool create);
void parser_queue_remove(struct parser *p, const char *host, size_t host_len, const char *qid,
                         size_t qid_len);
/* Is (host, queue id) open, or among the last 1024 removed (by hash)? */
bool parser_queue_seen(struct parser *p, const char *host, size_t host_len, const char *qid,
                       size_t qid_len);
enum parse_result pfx_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev);
bool parser_queue_note_msgid(struct parser *p, struct pq_entry *e);
void parser_queue_take_submitter(struct pq_entry *to, const char *client,
                                 const char *sasl_username);
/*
 * parser_queue_arrival() records a received message (Exim's "<=", Sendmail's "from=") in its
 * entry and tells whether it is a content filter's copy of a message counted already: a hop
 * held for its queue id (claimed), or the same message-id from loopback while the first copy
 * is open. The copy is then no received message of its own.
 */
bool parser_queue_arrival(struct parser *p, const char *host, size_t host_len, const char *qid,
                          size_t qid_len, const struct event *ev);
/*
 * A delivery to loopback whose reply names another queue id of this host is a content
 * filter's hop when that message is (or gets) logged here. parser_hop() folds it at once
 * when the id was logged already (or the reader has other evidence, known), else holds it
 * (parser_hold(), true) until parser_hold_claim() finds it when that message arrives (true:
 * a hop, counted as re-injected; e takes the submitter), or it is released as a delivery
 * (see parser.h).
 */
bool parser_hop(struct parser *p, const struct event *ev, const char *qid, size_t qid_len,
                const char *id, size_t id_len, bool known);
void parser_hold(struct parser *p, const struct event *ev, const char *host, size_t host_len,
                 const char *qid, size_t qid_len);
bool parser_hold_claim(struct parser *p, struct pq_entry *e);
/*
 * Further events of one line: parser_push() hands out a cleared event that parser_next()
 * gives the caller after the line's first (NULL when the line has too many). The parser
 * remembers each deferred recipient's last failure per (host, queue id) until it has a
 * final outcome; parser_defer_expire() turns the event ev of a message's expiry into one
 * expiry per recipient still deferred (ev itself the first, the others pushed), each with
 * that recipient's last DSN, SMTP code, reply and reason, and returns how many (0: none
 * known, ev unchanged); parser_defer_last() does so for the expiry of one recipient.
 */
struct event *parser_push(struct parser *p);
size_t parser_defer_expire(struct parser *p, struct event *ev);
bool parser_defer_last(struct parser *p, struct event *ev);
/* dsn and text are dsn_len and text_len bytes (C strings: reason_classify() reads them so) */
void parser_classify(struct parser *p, int smtp_code, const char *dsn, size_t dsn_len,
                     const char *text, size_t text_len, enum event_status status,
                     struct reason_result *out);

/* SMTP replies (smtpcode.c): the code at s, or -1. */
int smtp_reply_code(const char *s, const char *end);

/* Exim (exim.c): the stamp of a native mainlog line; the text after a stamp or envelope. */
int exim_envelope(const char *line, size_t len, struct syslog_env *env);
enum parse_result exim_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev);
/* Sendmail (sendmail.c): the message text of a sendmail/sm-mta line. */
enum parse_result sm_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev);

#endif
