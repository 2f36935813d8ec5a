/*
 * scan - what every log reader fills the same way: the head of an event and its reason
 * (see scan.h)
 */
#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "parser/parser_int.h"
#include "parser/scan.h"

/* scan_event_head - type, MTA, time, host and queue id of an event from a log line */
void scan_event_head(struct event *ev, enum event_mta mta, enum event_type type,
                     const struct syslog_env *env, const char *qid, size_t qid_len)
{
    ev->type = type;
    ev->mta = mta;
    ev->time_us = env->time_us;
    if (env->host_len)
        EVENT_SET(ev, host, env->host, env->host_len);
    else
        ev->host[0] = 0; /* a mainlog's lines name no host */
    if (qid_len)
        EVENT_SET(ev, queue_id, qid, qid_len);
}

/* scan_classify - reason and hardness of an outcome, through the parser's cache */
void scan_classify(struct parser *p, struct event *ev, enum event_status status)
{
    struct reason_result rr;

    parser_classify(p, ev->smtp_code, ev->dsn, FIELD_LEN(ev->dsn), ev->reply, FIELD_LEN(ev->reply),
                    status, &rr);
    EVENT_SET(ev, reason, rr.reason, strlen(rr.reason));
    ev->hard = rr.hard;
}

/*
 * The marks of one scan_unread() caller: their lengths and distinct first bytes, and the
 * distinct pairs of their first two bytes (npairs 0 when a mark is one byte long).
 */
struct mark_set {
    const char *const *marks;
    int n, nfirst, npairs;
    size_t len[16];
    char first[16], pair[4][2];
#ifdef __SSE2__
    __m128i firstv[16];             /* each first byte in all sixteen lanes */
    __m128i pair0v[16], pair1v[16]; /* each pair's first and second byte, likewise */
#endif
};

/*
 * mark_set_of - the lengths and first bytes of a static NULL-terminated list of marks,
 * worked out once per list: each reader passes one or two lists, the same on every line
 * (a few per thread are kept, so no locking)
 */
static const struct mark_set *mark_set_of(const char *const *marks)
{
    static _Thread_local struct mark_set sets[4];
    static _Thread_local unsigned next;
    struct mark_set *ms;

    for (unsigned i = 0; i < ARRAY_LEN(sets); i++)
        if (sets[i].marks == marks)
            return &sets[i];
    ms = &sets[next++ % ARRAY_LEN(sets)];
    ms->marks = marks;
    ms->nfirst = ms->npairs = 0;
    for (ms->n = 0; ms->n < 16 && marks[ms->n]; ms->n++) {
        const char *mk = marks[ms->n];
        int f = 0;

        ms->len[ms->n] = strlen(mk);
        while (f < ms->nfirst && ms->first[f] != mk[0])
            f++;
        if (f == ms->nfirst) {
#ifdef __SSE2__
            ms->firstv[ms->nfirst] = _mm_set1_epi8(mk[0]);
#endif
            ms->first[ms->nfirst++] = mk[0];
        }
    }
#ifdef __SSE2__
    /* fewer than four first bytes: the first again in the unused of the four vectors that
     * chunk_marks() always compares */
    for (int f = ms->nfirst; f > 0 && f < 4; f++)
        ms->firstv[f] = ms->firstv[0];
    /* the pairs, when every mark has two bytes or more and they are four at most */
    for (int k = 0; k < ms->n; k++) {
        const char *mk = marks[k];
        int q = 0;

        if (ms->len[k] < 2) {
            ms->npairs = 0;
            break;
        }
        while (q < ms->npairs && !(ms->pair[q][0] == mk[0] && ms->pair[q][1] == mk[1]))
            q++;
        if (q < ms->npairs)
            continue;
        if (ms->npairs == 4) {
            ms->npairs = 0;
            break;
        }
        ms->pair[ms->npairs][0] = mk[0];
        ms->pair[ms->npairs][1] = mk[1];
        ms->pair0v[ms->npairs] = _mm_set1_epi8(mk[0]);
        ms->pair1v[ms->npairs] = _mm_set1_epi8(mk[1]);
        ms->npairs++;
    }
    for (int q = ms->npairs; q > 0 && q < 4; q++) {
        ms->pair0v[q] = ms->pair0v[0];
        ms->pair1v[q] = ms->pair1v[0];
    }
#endif
    return ms;
}

/* word_byte - is c an ASCII letter, digit or '_' (a byte after which no word starts)? */
static inline bool word_byte(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26 || (unsigned)(c - '0') < 10 || c == '_';
}

/* mark_at - does a mark start at m, at a word start (not after an ASCII letter, digit, '_')?
 * The marks are a few bytes long: they are compared byte by byte, without a call. */
static inline bool mark_at(const char *s, const char *end, const char *m, const struct mark_set *ms)
{
    if (m > s && word_byte((unsigned char)m[-1]))
        return false;
    for (int k = 0; k < ms->n; k++) {
        const char *mk = ms->marks[k];
        size_t i;

        if (mk[0] != *m || (size_t)(end - m) < ms->len[k])
            continue;
        for (i = 1; i < ms->len[k] && m[i] == mk[i]; i++)
            ;
        if (i == ms->len[k])
            return true;
    }
    return false;
}

#ifdef __SSE2__
/* in_range - the lanes of x whose byte is in [lo, hi] (unsigned), as 0xff */
static inline __m128i in_range(__m128i x, unsigned char lo, unsigned char hi)
{
    /* lo moves to -128: the range is then the (signed) bytes below -128 + (hi - lo + 1) */
    __m128i t = _mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - lo)));

    return _mm_cmplt_epi8(t, _mm_set1_epi8((char)(-128 + (hi - lo + 1))));
}

/* word_lanes - one bit per lane of x whose byte is a letter, digit or '_' (word_byte()) */
static inline unsigned word_lanes(__m128i x)
{
    __m128i w =
        _mm_or_si128(in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'),
                     _mm_or_si128(in_range(x, '0', '9'), _mm_cmpeq_epi8(x, _mm_set1_epi8('_'))));

    return (unsigned)_mm_movemask_epi8(w);
}
#endif

#ifdef __SSE2__
/* pair_at - the lanes where x holds the first byte of pair q and y (the bytes one on) its
 * second */
static inline __m128i pair_at(__m128i x, __m128i y, const struct mark_set *ms, int q)
{
    return _mm_and_si128(_mm_cmpeq_epi8(x, ms->pair0v[q]), _mm_cmpeq_epi8(y, ms->pair1v[q]));
}

/*
 * chunk_marks - does a mark start a word at one of the sixteen bytes x loaded from at (of the
 * text [s, end)), the first seen of them left out? y holds the sixteen bytes from at + 1,
 * zero past end. The first two bytes of the marks are compared in all lanes at once when
 * they make four pairs at most (see mark_set_of()), else their first bytes, four vectors or
 * more: a mark's first byte alone is common in words ("r" of "reject"), a pair much less.
 * A hit after a word byte is dropped before any byte-wise look.
 */
static inline __attribute__((always_inline)) bool chunk_marks(const char *s, const char *end,
                                                              const char *at, __m128i x, __m128i y,
                                                              unsigned seen,
                                                              const struct mark_set *ms)
{
    __m128i hit;
    unsigned bits;

    if (ms->npairs) {
        hit = _mm_or_si128(_mm_or_si128(pair_at(x, y, ms, 0), pair_at(x, y, ms, 1)),
                           _mm_or_si128(pair_at(x, y, ms, 2), pair_at(x, y, ms, 3)));
    } else {
        hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, ms->firstv[0]), _mm_cmpeq_epi8(x, ms->firstv[1])),
            _mm_or_si128(_mm_cmpeq_epi8(x, ms->firstv[2]), _mm_cmpeq_epi8(x, ms->firstv[3])));
        for (int f = 4; f < ms->nfirst; f++)
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, ms->firstv[f]));
    }
    bits = (unsigned)_mm_movemask_epi8(hit) & ~((1u << seen) - 1);
    if (bits == 0)
        return false;
    /* a first byte after a word byte starts no mark: most hits are inside words */
    bits &= ~((word_lanes(x) << 1) | (at > s && word_byte((unsigned char)at[-1]) ? 1u : 0u));
    for (; bits; bits &= bits - 1)
        if (mark_at(s, end, at + __builtin_ctz(bits), ms))
            return true;
    return false;
}
#endif

/*
 * scan_unread - a line the reader does not read: not understood when it holds an outcome mark.
 * One pass over the line, sixteen bytes at a time for the marks' first bytes (the last bytes
 * as the sixteen that end the line): most lines hold few of them, and fewer at a word start.
 */
enum parse_result scan_unread(const char *s, const char *end, const char *const *marks)
{
    const struct mark_set *ms = mark_set_of(marks);
    const char *m = s;

    if (ms->nfirst == 0)
        return PARSE_SKIP;

#ifdef __SSE2__
    /* whole chunks while the sixteen bytes one on are in the text too */
    for (; end - m > 16; m += 16)
        if (chunk_marks(s, end, m, _mm_loadu_si128((const __m128i *)(const void *)m),
                        _mm_loadu_si128((const __m128i *)(const void *)(m + 1)), 0, ms))
            return PARSE_MALFORMED;
    if (m < end) {
        size_t rem = (size_t)(end - m);
        __m128i x;

        if (end - s >= 16) {
            /* the sixteen bytes that end the text; those before m were looked at already */
            x = _mm_loadu_si128((const __m128i *)(const void *)(end - 16));
            if (chunk_marks(s, end, end - 16, x, _mm_srli_si128(x, 1), 16 - (unsigned)rem, ms))
                return PARSE_MALFORMED;
        } else {
            char tmp[16] = {0};

            memcpy(tmp, m, rem); /* the marks' bytes are never NUL */
            x = _mm_loadu_si128((const __m128i *)(const void *)tmp);
            if (chunk_marks(s, end, m, x, _mm_srli_si128(x, 1), 0, ms))
                return PARSE_MALFORMED;
        }
    }
#else
    for (; m < end; m++) {
        for (int f = 0; f < ms->nfirst; f++) {
            if (*m == ms->first[f]) {
                if (mark_at(s, end, m, ms))
                    return PARSE_MALFORMED;
                break;
            }
        }
    }
#endif
    return PARSE_SKIP;
}

/*
 * scan_find - the first n-byte needle w in [s, end), or NULL. Sixteen starting places at a
 * time are kept when their first byte is w's first and the byte n - 1 on is w's last; those
 * are compared whole. For the short phrases the readers look for in an error text, where
 * memmem() spent more on its set-up than on the search.
 */
const char *scan_find(const char *s, const char *end, const char *w, size_t n)
{
    const char *last;

    if (n == 0)
        return s;
    if (end - s < (ptrdiff_t)n)
        return NULL;
    last = end - n; /* the last place the needle can start */
#ifdef __SSE2__
    {
        const __m128i first = _mm_set1_epi8(w[0]), final = _mm_set1_epi8(w[n - 1]);

        for (; last - s >= 15; s += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 1));
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, final)));

            for (; m; m &= m - 1) {
                const char *c = s + __builtin_ctz(m);

                if (memcmp(c, w, n) == 0)
                    return c;
            }
        }
    }
#endif
    for (; s <= last; s++)
        if (*s == w[0] && memcmp(s, w, n) == 0)
            return s;
    return NULL;
}

/* scan_is_loopback - does a relay or client "name[ip]:port" name a loopback address? */
bool scan_is_loopback(const char *s)
{
    const char *b = strchr(s, '[');

    return b != NULL && (strncmp(b + 1, "127.", 4) == 0 || strncmp(b + 1, "::1]", 4) == 0 ||
                         strncmp(b + 1, "ipv6:::1]", 9) == 0);
}
