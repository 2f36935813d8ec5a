/*
 * exim - the lines of Exim's main log (prefix exim_)
 *
 * A mainlog line is "2026-11-28 17:30:17[.123][ +0100][ [pid]] text": local time unless the
 * offset is logged. Behind syslog the same text follows "host exim[pid]: " (or exim4). Most
 * text starts with the message id: 1rAbCd-000ABC-Xy (before 4.97) or 1rAbCd-00000000ABC-Xyzw,
 * which is the queue id of the events. What the markers after it mean:
 *
 *	ID <= sender H=name (helo) [ip]:port A=auth:user P=esmtp S=size id=msgid [for r1 r2]
 *						-> message, remembered for the deliveries
 *	ID <= <> R=PARENT U=Debian-exim P=local S=size	-> bounce_notice: Exim wrote a
 *						   DSN about PARENT (queue_id PARENT,
 *						   notice_queue_id ID)
 *	ID => rcpt [<orig>] R=router T=transport H=host [ip]:port X=tls C="250 ..."
 *	ID -> rcpt ...		(another address of the same delivery)
 *	ID >> rcpt ...		(cutthrough delivery)	-> delivery sent
 *	ID == rcpt R=.. T=.. defer (-44) H=..: SMTP error ... : 451 ...	-> delivery deferred
 *	ID ** rcpt ...: error text			-> delivery bounced; "retry timeout
 *						   exceeded" and the other forms of
 *						   giving up for time are expired, with
 *						   the recipient's last deferral
 *	ID *> rcpt ...			delivery suppressed (-N): nothing was delivered, no event
 *	ID Completed			-> forget ID
 *	[ID] H=... F=<s> [temporarily] rejected RCPT <r>: text	(also MAIL, after DATA,
 *	    EHLO/HELO, connection, by local_scan(), by non-SMTP ACL)	-> reject
 *	ID local_scan() function timed out - message temporarily rejected	-> reject
 *	SMTP protocol synchronization error (...): rejected ... H=...	-> reject
 *
 * Fields are "KEY=value" words; a value in double quotes runs to the closing quote, and H=
 * takes the "(helo)" and "[ip]:port" words that follow the name. Words that are neither
 * (flags such as K or PRDR, "defer (-44)") are stepped over. In == and ** lines the error
 * text starts after the first word that ends in ':' outside quotes. The SMTP code and the
 * enhanced status code come from the first ": NNN " of the text, or from C="...".
 *
 * Exim logs message-ids without angle brackets; they are stored with them, as Postfix
 * logs them, so one message has one id across a mixed fleet.
 */
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "parser/parser_int.h"
#include "parser/scan.h"

/* A host as H= logs it: name (helo) [ip]:port; absent parts are empty. */
struct ehost {
    const char *name, *helo, *ip, *port;
    size_t name_len, helo_len, ip_len, port_len;
};

/*
 * exim_head - a cleared event with the head of a line's event (scan_event_head()). The
 * event of a mainlog line comes to the reader uncleared (see parser_line()): most lines make
 * none, so it is cleared here, before any field of it is written or read.
 */
static inline void exim_head(struct event *ev, enum event_type type, const struct syslog_env *env,
                             const char *qid, size_t qid_len)
{
    event_clear(ev);
    scan_event_head(ev, MTA_EXIM, type, env, qid, qid_len);
}

/* digits_at - n decimal digits at s as a number, or -1 */
static int digits_at(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';

        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    return v;
}

/* word_end - the first space at or after s, or end; inline, sixteen bytes at a time: the
 * words are short, and a call of memchr() for each cost more than the search */
static inline const char *word_end(const char *s, const char *end)
{
#ifdef __SSE2__
    for (; end - s >= 16; s += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s), _mm_set1_epi8(' ')));

        if (m)
            return s + __builtin_ctz(m);
    }
#endif
    while (s < end && *s != ' ')
        s++;
    return s;
}

/*
 * pid_end - the "digits]" of a "[pid]" whose digits start at s: the byte after the ']', with
 * the pid in *pid (digits after it reached 10^8 are not added, as in the syslog reader), or
 * NULL (*pid untouched) when there are no digits or no ']' after them. The eight bytes at s
 * are checked and converted at once when there are eight: a pid has up to seven digits.
 */
static const char *pid_end(const char *s, const char *end, long *pid)
{
    const char *q;
    long v = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - s >= 8) {
        uint64_t x, bad;
        unsigned n;

        memcpy(&x, s, 8);
        x ^= 0x3030303030303030ULL; /* a digit is now 0..9 in its byte */
        /* a high nibble in x or in x + 6 marks a byte that is no digit; a carry out of a
         * byte comes from a byte that is no digit, and reaches only the bytes after it */
        bad = (x | (x + 0x0606060606060606ULL)) & 0xf0f0f0f0f0f0f0f0ULL;
        n = bad ? (unsigned)__builtin_ctzll(bad) / 8 : 8;
        if (n == 0)
            return NULL;
        if (n < 8) {
            if (s[n] != ']')
                return NULL;
            /* the n digits as the last of eight (leading zeros), then pairwise sums */
            x <<= 8 * (8 - n);
            x = (x * 10 + (x >> 8)) & 0x00ff00ff00ff00ffULL;
            x = (x * 100 + (x >> 16)) & 0x0000ffff0000ffffULL;
            x = x * 10000 + (x >> 32);
            *pid = (long)(x & 0xffffffffULL);
            return s + n + 1;
        }
    }
#endif
    for (q = s; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v < 100000000L)
            v = v * 10 + (*q - '0');
    }
    if (q == s || q >= end || *q != ']')
        return NULL;
    *pid = v;
    return q + 1;
}

/* The fields of a mainlog stamp, "2026-11-28 17:30:17". */
struct stamp_fields {
    int year, mon, mday, hour, min, sec;
};

/*
 * exim_envelope - the stamp of a native mainlog line, and the syslog-like "host exim[pid]: "
 * that some setups write after it; 0, or -1 when the line does not start with such a stamp.
 * The program of a line read is always "exim" (parser_line() counts it so).
 */
int exim_envelope(const char *line, size_t len, struct syslog_env *env)
{
    /* The last valid stamp read, with its fields and local time: a busy log repeats each
     * second over many lines, and comparing 19 bytes is cheaper than reading them again.
     * Per thread, so no locking. */
    static _Thread_local struct {
        char text[19];
        bool valid;
        struct stamp_fields f;
        int64_t local_us;
    } last;
    const char *p = line + 19, *end = line + len, *q;
    struct stamp_fields st;
    int64_t frac = 0, scale = 1000000, us;
    bool same;

    if (len < 21)
        return -1;
    /* the same stamp: its fields are taken only where needed, below (most lines need none) */
    same = last.valid && memcmp(line, last.text, sizeof(last.text)) == 0;
    if (!same) {
        if (line[4] != '-' || line[7] != '-' || line[10] != ' ' || line[13] != ':' ||
            line[16] != ':')
            return -1;
        st.year = digits_at(line, 4);
        st.mon = digits_at(line + 5, 2);
        st.mday = digits_at(line + 8, 2);
        st.hour = digits_at(line + 11, 2);
        st.min = digits_at(line + 14, 2);
        st.sec = digits_at(line + 17, 2);
        if (st.year < 1970 || st.mon < 1 || st.mon > 12 || st.mday < 1 || st.mday > 31 ||
            st.hour < 0 || st.hour > 23 || st.min < 0 || st.min > 59 || st.sec < 0 || st.sec > 60)
            return -1;
        if (st.sec == 60)
            st.sec = 59;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    if (p >= end || *p != ' ')
        return -1;
    p++;
    if (end - p >= 6 && (p[0] == '+' || p[0] == '-') && digits_at(p + 1, 4) >= 0 &&
        (p + 5 == end || p[5] == ' ')) {
        /* log_timezone: the stamp is in the logged offset, not in TZ */
        int64_t off = digits_at(p + 1, 2) * 3600 + digits_at(p + 3, 2) * 60, naive;

        if (same)
            st = last.f;
        naive = time_days_from_civil(st.year, st.mon, st.mday) * 86400 + (int64_t)st.hour * 3600 +
                (int64_t)st.min * 60 + st.sec;
        us = (naive - (p[0] == '-' ? -off : off)) * 1000000;
        p = scan_skip_spaces(p + 5, end);
    } else if (same) {
        us = last.local_us;
    } else {
        us = time_local_to_utc_us(st.year, st.mon, st.mday, st.hour, st.min, st.sec);
        memcpy(last.text, line, sizeof(last.text));
        last.f = st;
        last.local_us = us;
        last.valid = true;
    }
    env->time_us = us + frac;
    env->host = "";
    env->host_len = 0;
    env->prog = "exim";
    env->prog_len = 4;
    env->pid = -1;
    if (p < end && *p == '[' && (q = pid_end(p + 1, end, &env->pid)) != NULL)
        p = scan_skip_spaces(q, end);
    /* "host exim[pid]: " after the stamp, as some syslog templates write it */
    q = word_end(p, end);
    if (q < end && scan_starts(q + 1, end, "exim")) {
        const char *r = q + 5, *host = p;

        if (r < end && *r == '4')
            r++;
        if (r < end && *r == '[') {
            const char *close = memchr(r, ']', (size_t)(end - r));

            r = close ? close + 1 : end;
        }
        if (r + 1 < end && r[0] == ':' && r[1] == ' ') {
            env->host = host;
            env->host_len = (size_t)(q - host);
            p = r + 2;
        }
    }
    env->msg = p;
    env->msg_len = (size_t)(end - p);
    return 0;
}

/* Byte classes of the hot loops: message-id characters and field-key characters. */
#define CC_ID  1 /* [0-9A-Za-z] */
#define CC_KEY 2 /* [A-Za-z_] */

static const unsigned char cclass[256] = {
    ['0'] = CC_ID,  ['1'] = CC_ID,  ['2'] = CC_ID,  ['3'] = CC_ID,  ['4'] = CC_ID,  ['5'] = CC_ID,
    ['6'] = CC_ID,  ['7'] = CC_ID,  ['8'] = CC_ID,  ['9'] = CC_ID,
#define CC_LETTER(c) [(c)] = CC_ID | CC_KEY, [(c) - 'a' + 'A'] = CC_ID | CC_KEY
    CC_LETTER('a'), CC_LETTER('b'), CC_LETTER('c'), CC_LETTER('d'), CC_LETTER('e'), CC_LETTER('f'),
    CC_LETTER('g'), CC_LETTER('h'), CC_LETTER('i'), CC_LETTER('j'), CC_LETTER('k'), CC_LETTER('l'),
    CC_LETTER('m'), CC_LETTER('n'), CC_LETTER('o'), CC_LETTER('p'), CC_LETTER('q'), CC_LETTER('r'),
    CC_LETTER('s'), CC_LETTER('t'), CC_LETTER('u'), CC_LETTER('v'), CC_LETTER('w'), CC_LETTER('x'),
    CC_LETTER('y'), CC_LETTER('z'), ['_'] = CC_KEY,
#undef CC_LETTER
};

#ifdef __SSE2__
/* id_lanes - one bit per byte of the sixteen at s that is a message-id character [0-9A-Za-z] */
static inline unsigned id_lanes(const char *s)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));

    return (unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter));
}
#endif

/* msgid_len - the length of an Exim message id at s followed by a space or the end; or 0 */
static size_t msgid_len(const char *s, const char *end)
{
    static const unsigned char min_len[3] = {6, 6, 2}, max_len[3] = {6, 11, 4};
    const char *p = s;
    int part;

    /* the common case first: most lines are not long enough to hold anything else */
    if (end - s < 16 || s[6] != '-')
        return 0;
#ifdef __SSE2__
    /* Exim 4.96's 6-6-2 form, the sixteen bytes checked at once */
    if (s[13] == '-' && (end - s == 16 || s[16] == ' '))
        return id_lanes(s) == (0xffffu & ~(1u << 6) & ~(1u << 13)) ? 16 : 0;
    /* Exim 4.97's 6-11-4 form, its 23 bytes as the sixteen at s and the sixteen at s + 7;
     * anything else in them is left to the loop below (it may hold a shorter id) */
    if (end - s >= 23 && s[18] == '-' && (end - s == 23 || s[23] == ' ') &&
        id_lanes(s) == (0xffffu & ~(1u << 6)) && id_lanes(s + 7) == (0xffffu & ~(1u << 11)))
        return 23;
#endif
    for (part = 0; part < 3; part++) {
        const char *b = p;

        while (p < end && (cclass[(unsigned char)*p] & CC_ID))
            p++;
        if (p - b < min_len[part] || p - b > max_len[part])
            return 0;
        if (part < 2) {
            if (p >= end || *p != '-')
                return 0;
            p++;
        }
    }
    if (p < end && *p != ' ')
        return 0;
    return (size_t)(p - s);
}

/*
 * quote_end - the '"' that closes a quoted value whose text starts at p, stepping over each
 * byte after a backslash; end when there is none. Sixteen bytes at a time up to the next
 * '"' or backslash: the quoted values are the long SMTP replies of C="...".
 */
static inline const char *quote_end(const char *p, const char *end)
{
    for (;;) {
#ifdef __SSE2__
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));

            if (m) {
                p += __builtin_ctz(m);
                break;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\')
            p++;
        if (p >= end || *p == '"')
            return p;
        p += p + 1 < end ? 2 : 1; /* a backslash and the byte it escapes */
    }
}

/*
 * host_words_end - the end of the "(helo)" and "[ip]:port" words that belong to an H= value
 * whose first word ends at p. Not inlined: field_next() runs for every field, and this only
 * for H=.
 */
static __attribute__((noinline)) const char *host_words_end(const char *p, const char *end)
{
    for (;;) {
        const char *w = scan_skip_spaces(p, end), *close;

        if (w == end || (*w != '(' && *w != '['))
            return p;
        if (*w == '(') {
            close = memchr(w, ')', (size_t)(end - w));
            if (close == NULL)
                return p;
            p = word_end(close, end);
        } else {
            p = word_end(w, end);
        }
    }
}

/*
 * field_next - read the "KEY=value" group at *pp (spaces before it skipped). Returns 1 with
 * *f filled and *pp after it, 0 when the word there is not a field (*pp at that word), -1 at
 * the end of the text. *colon_end tells whether the value ended in ':', which ends the field
 * list (the ':' is not part of the value).
 */
static inline __attribute__((always_inline)) int field_next(const char **pp, const char *end,
                                                            struct scan_kv *f, bool *colon_end)
{
    const char *p = scan_skip_spaces(*pp, end), *k = p, *v;

    *pp = p;
    if (p == end)
        return -1;
    if (!(cclass[(unsigned char)*p] & CC_KEY))
        return 0; /* "(-44)", "<orig@addr>", "[ip]": no key */
    /* most keys are one letter (H=, R=, T=, C=, S=, P=): tried before the loop */
    if (end - p >= 2 && p[1] == '=') {
        p++;
    } else {
        while (p < end && (cclass[(unsigned char)*p] & CC_KEY))
            p++;
        if (p == end || *p != '=')
            return 0;
    }
    f->key = k;
    f->key_len = (size_t)(p - k);
    v = ++p;
    if (p < end && *p == '"') {
        p = quote_end(p + 1, end);
        f->val = v + 1;
        f->val_len = (size_t)((p < end ? p : end) - f->val);
        p = p < end ? p + 1 : end;
    } else {
        p = word_end(p, end);
        if (f->key_len == 1 && *k == 'H')
            p = host_words_end(p, end);
        f->val = v;
        f->val_len = (size_t)(p - v);
    }
    *colon_end = f->val_len > 0 && f->val[f->val_len - 1] == ':' && v[0] != '"';
    if (*colon_end)
        f->val_len--;
    *pp = p;
    return 1;
}

/* host_split - an H= value into its name, (helo) and [ip]:port */
static void host_split(const char *s, size_t len, struct ehost *h)
{
    const char *end = s + len, *p = s;

    memset(h, 0, sizeof(*h));
    while (p < end) {
        const char *w = p, *we;

        if (*w == '(') {
            const char *close = memchr(w, ')', (size_t)(end - w));

            we = close ? close : end;
            h->helo = w + 1;
            h->helo_len = (size_t)(we - w - 1);
            we = word_end(we, end);
        } else if (*w == '[') {
            const char *close = memchr(w, ']', (size_t)(end - w));

            we = word_end(w, end);
            if (close && close < we) {
                h->ip = w + 1;
                h->ip_len = (size_t)(close - w - 1);
                if (close + 1 < we && close[1] == ':') {
                    h->port = close + 2;
                    h->port_len = (size_t)(we - close - 2);
                }
            }
        } else {
            we = word_end(w, end);
            if (h->name == NULL) {
                h->name = w;
                h->name_len = (size_t)(we - w);
            }
        }
        p = scan_skip_spaces(we, end);
    }
}

/* append - add len bytes of s at out[*n], cut to fit outlen with the NUL; *n moves on */
static void append(char *out, size_t outlen, size_t *n, const char *s, size_t len)
{
    if (*n + 1 >= outlen)
        return;
    if (len > outlen - 1 - *n)
        len = outlen - 1 - *n;
    memcpy(out + *n, s, len);
    *n += len;
    out[*n] = 0;
}

/* host_format - "name[ip]" (":port" too when with_port), as Postfix writes client and relay */
static void host_format(const struct ehost *h, bool with_port, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = 0;
    if (h->name_len)
        append(out, outlen, &n, h->name, h->name_len);
    else if (h->ip_len)
        append(out, outlen, &n, "unknown", 7);
    if (h->ip_len) {
        append(out, outlen, &n, "[", 1);
        append(out, outlen, &n, h->ip, h->ip_len);
        append(out, outlen, &n, "]", 1);
        if (with_port && h->port_len && h->port_len <= 5 &&
            digits_at(h->port, (int)h->port_len) >= 0) {
            append(out, outlen, &n, ":", 1);
            append(out, outlen, &n, h->port, h->port_len);
        }
    }
}

/* One H= value with what host_text() made of it. */
struct host_memo {
    uint8_t len; /* of val; 0: an empty slot */
    bool with_port;
    bool has_helo;
    uint8_t helo_off, helo_len; /* the (helo) as bytes of val */
    uint8_t out_len;
    char val[58];
    char out[128];
};

#define HOST_MEMO 64 /* slots, direct-mapped by a hash of the value */

/*
 * host_memo_slot - the slot of an H= value (len bytes, 1 to 58): of eight bytes or more, its
 * first and last eight (the head of the name, the tail of the address) and its length mixed,
 * a third of word_hash()'s cost over the whole value; a shorter one through word_hash(). Two
 * values that differ only between those bytes share a slot, and take turns in it: the slot
 * is compared whole before it is used.
 */
static inline unsigned host_memo_slot(const char *val, size_t len, bool with_port)
{
    uint64_t a, b, h;

    if (len < 8)
        return (unsigned)(word_hash(val, len, with_port) >> 58);
    memcpy(&a, val, 8);
    memcpy(&b, val + len - 8, 8);
    h = (a ^ (len << 1 | with_port)) * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29) ^ b) * 0xc4ceb9fe1a85ec53ULL;
    return (unsigned)(h >> 58);
}

/*
 * host_text - an H= value as an event's client or relay ("name[ip]", ":port" too when
 * with_port; host_format()) into out, and its (helo) in *helo, *helo_len (NULL, 0 when it has
 * none; a pointer into val). The text is a function of the value alone, and a log names the
 * same few hosts (its relays, its regular clients) over and over: the last value of each
 * slot of a small per-thread table is kept with its text, so a value seen again is not split
 * and formatted again.
 */
static void host_text(const char *val, size_t len, bool with_port, char *out, size_t outlen,
                      const char **helo, size_t *helo_len)
{
    static _Thread_local struct host_memo memo[HOST_MEMO];
    struct host_memo *m = NULL;
    struct ehost h;
    size_t n;

    if (len > 0 && len <= sizeof(memo[0].val)) {
        m = &memo[host_memo_slot(val, len, with_port)];
        if (m->len == len && m->with_port == with_port && m->out_len < outlen &&
            bytes_equal(m->val, val, len)) {
            event_copy(out, m->out, (size_t)m->out_len + 1); /* no "rep movs" */
            *helo = m->has_helo ? val + m->helo_off : NULL;
            *helo_len = m->helo_len;
            return;
        }
    }
    host_split(val, len, &h);
    host_format(&h, with_port, out, outlen);
    *helo = h.helo;
    *helo_len = h.helo_len;
    if (m == NULL || (n = strlen(out)) >= sizeof(m->out))
        return;
    m->len = (uint8_t)len;
    m->with_port = with_port;
    m->has_helo = h.helo != NULL;
    m->helo_off = (uint8_t)(h.helo ? h.helo - val : 0);
    m->helo_len = (uint8_t)h.helo_len;
    m->out_len = (uint8_t)n;
    memcpy(m->val, val, len);
    memcpy(m->out, out, n + 1);
}

/* take_reply - the SMTP code and enhanced code at s (a reply) into ev; true when found */
static bool take_reply(const char *s, const char *end, struct event *ev)
{
    int code = smtp_reply_code(s, end);
    size_t n;

    if (code < 0)
        return false;
    ev->smtp_code = code;
    s += 4;
    n = s < end ? event_dsn_len(s, end) : 0;
    if (n)
        EVENT_SET(ev, dsn, s, n);
    return true;
}

/* find_reply - the first ": NNN " of an error text gives the SMTP code and enhanced code */
static void find_reply(const char *s, const char *end, struct event *ev)
{
    const char *p = s;

    if (take_reply(s, end, ev))
        return;
    /* memchr() for the ':' beats memmem() for ": " on these short texts */
    while (p < end && (p = memchr(p, ':', (size_t)(end - p))) != NULL) {
        p++;
        if (p < end && *p == ' ' && take_reply(p + 1, end, ev))
            return;
    }
}

/*
 * lead_dsn - a text that begins with an enhanced code ("5.7.1 Relay access denied", an
 * ACL's or a :fail: redirect's message): Exim answers with that code, so it is the DSN
 */
static void lead_dsn(const char *s, const char *end, struct event *ev)
{
    size_t n;

    if (ev->dsn[0] || s >= end || (*s != '4' && *s != '5'))
        return;
    n = event_dsn_len(s, end);
    if (n && s + n < end && s[n] == ' ')
        EVENT_SET(ev, dsn, s, n);
}

/* set_msgid - "abc@x" as "<abc@x>" into a field of size outlen */
static void set_msgid(char *out, size_t outlen, const char *s, size_t len)
{
    size_t n = 0;

    out[0] = 0;
    if (len == 0)
        return;
    append(out, outlen, &n, "<", 1);
    append(out, outlen, &n, s, len);
    append(out, outlen, &n, ">", 1);
}

/* parse_arrival - "<= sender H=... S=... id=... [for r ...]" */
static enum parse_result parse_arrival(struct parser *p, const struct syslog_env *env,
                                       const char *qid, size_t qid_len, const char *s,
                                       const char *end, struct event *ev)
{
    const char *w = scan_skip_spaces(s, end), *we = word_end(w, end), *parent = NULL;
    size_t parent_len = 0;
    struct scan_kv f;
    bool colon_end;
    int r;

    if (w == end)
        return PARSE_MALFORMED;
    exim_head(ev, EV_MESSAGE, env, qid, qid_len);
    if (!(we - w == 2 && w[0] == '<' && w[1] == '>'))
        EVENT_SET(ev, sender, w, (size_t)(we - w));
    s = we;
    while ((r = field_next(&s, end, &f, &colon_end)) >= 0) {
        if (r == 0) {
            const char *e2 = word_end(s, end);

            if (e2 - s == 3 && memcmp(s, "for", 3) == 0) {
                int32_t n = 0;

                for (s = scan_skip_spaces(e2, end); s < end;
                     s = scan_skip_spaces(word_end(s, end), end))
                    n++;
                ev->nrcpt = n;
                break;
            }
            s = e2;
            continue;
        }
        if (scan_key_is(&f, "H")) {
            const char *helo;
            size_t helo_len;

            host_text(f.val, f.val_len, false, ev->client, sizeof(ev->client), &helo, &helo_len);
            EVENT_SET(ev, helo, helo ? helo : "", helo_len);
        } else if (scan_key_is(&f, "S")) {
            int64_t v = 0;
            size_t i;

            for (i = 0; i < f.val_len && f.val[i] >= '0' && f.val[i] <= '9' && v < INT64_MAX / 10;
                 i++)
                v = v * 10 + (f.val[i] - '0');
            ev->size = i == f.val_len && i > 0 ? v : -1;
        } else if (scan_key_is(&f, "id")) {
            set_msgid(ev->message_id, sizeof(ev->message_id), f.val, f.val_len);
        } else if (scan_key_is(&f, "A")) {
            const char *colon = memchr(f.val, ':', f.val_len);
            const char *u = colon ? colon + 1 : f.val;

            EVENT_SET(ev, sasl_username, u, (size_t)(f.val + f.val_len - u));
        } else if (scan_key_is(&f, "R") && msgid_len(f.val, f.val + f.val_len) == f.val_len) {
            parent = f.val;
            parent_len = f.val_len;
        }
    }
    /* The same message handed back by a content filter: counted once, by its first id. */
    if (parser_queue_arrival(p, env->host, env->host_len, qid, qid_len, ev))
        return PARSE_SKIP;
    if (ev->sender[0] == 0 && parent) {
        /* "<= <> R=parent": Exim wrote a bounce or delay notice about message parent */
        exim_head(ev, EV_BOUNCE_NOTICE, env, parent, parent_len);
        EVENT_SET(ev, notice_queue_id, qid, qid_len);
    }
    return PARSE_EVENT;
}

/*
 * gave_up_for_time - does a "**" line's text say Exim stopped retrying for time: its retry
 * rules' cutoff passed ("retry timeout exceeded"), or every host has failed for longer than
 * that and none is due ("all hosts for 'd' have been failing for a long time (and retry
 * time not reached)", "retry time not reached for any host after a long failure period")?
 */
static bool gave_up_for_time(const char *text, const char *end)
{
    static const char timeout[] = "retry timeout exceeded";
    static const char *const longs[] = {
        "have been failing for a long time",
        "after a long failure period",
    };
    size_t i;

    if (scan_find(text, end, timeout, sizeof(timeout) - 1) != NULL)
        return true;
    /* both other forms hold "a long ": most texts hold neither, and are read once more */
    if (scan_find(text, end, "a long ", 7) == NULL)
        return false;
    for (i = 0; i < ARRAY_LEN(longs); i++)
        if (scan_find(text, end, longs[i], strlen(longs[i])) != NULL)
            return true;
    return false;
}

/*
 * local_user_of - the recipient of a local delivery logged as "=> word <a>" (a..end, no
 * brackets): a, unless word is a user name other than a's local part (a's alias), then
 * word@domain-of-a with a as the original recipient
 */
static void local_user_of(struct event *ev, const char *a, const char *end)
{
    const char *at = memchr(a, '@', (size_t)(end - a));
    size_t n = strlen(ev->recipient);
    char user[EV_ADDR_LEN];

    if (at == NULL || n == 0 || ev->recipient[0] == '|' || ev->recipient[0] == '/' ||
        (n == (size_t)(at - a) && strncasecmp(ev->recipient, a, n) == 0) ||
        n + (size_t)(end - at) >= sizeof(user)) {
        EVENT_SET(ev, recipient, a, (size_t)(end - a));
        return;
    }
    memcpy(user, ev->recipient, n);
    memcpy(user + n, at, (size_t)(end - at));
    EVENT_SET(ev, recipient, user, n + (size_t)(end - at));
    EVENT_SET(ev, orig_recipient, a, (size_t)(end - a));
}

/* reply_id - the Exim message id a reply names as "id=ID" (Exim's own answer to DATA), or
 * NULL; *n its length */
static const char *reply_id(const char *reply, size_t *n)
{
    const char *end = reply + strlen(reply);

    for (const char *q = reply; (q = strstr(q, "id=")) != NULL; q += 3) {
        if (q > reply && q[-1] != ' ')
            continue;
        if ((*n = msgid_len(q + 3, end)) != 0)
            return q + 3;
    }
    return NULL;
}

/*
 * parse_delivery - "=> rcpt [<orig>] fields [C="..."]", "== rcpt fields: text" or
 * "** rcpt fields: text"; status is what the marker says
 */
static enum parse_result parse_delivery(struct parser *p, const struct syslog_env *env,
                                        const char *qid, size_t qid_len, const char *s,
                                        const char *end, enum event_status status, struct event *ev)
{
    const char *w = scan_skip_spaces(s, end), *we = word_end(w, end), *text = NULL;
    const struct pq_entry *e;
    struct scan_kv f;
    bool colon_end;
    int r;

    if (w == end)
        return PARSE_MALFORMED;
    exim_head(ev, EV_DELIVERY, env, qid, qid_len);
    if (we[-1] == ':' && we - w > 1) {
        EVENT_SET(ev, recipient, w, (size_t)(we - w - 1));
        text = we;
    } else {
        EVENT_SET(ev, recipient, w, (size_t)(we - w));
    }
    for (s = we; text == NULL && (r = field_next(&s, end, &f, &colon_end)) >= 0;) {
        if (r == 0) {
            const char *e2 = word_end(s, end);

            if (*s == '<' && e2[-1] == '>' && e2 - s > 2) {
                /*
                 * The address as it was before routing. A local delivery logs only the local
                 * part ("=> bob <bob@example.org>"), a pipe or file its command or path: then
                 * the bracketed address is the recipient. A local user reached through an
                 * alias ("=> bob <team@example.org>") is that user in the alias's domain,
                 * reached from the alias.
                 */
                if (memchr(ev->recipient, '@', strlen(ev->recipient)) == NULL) {
                    local_user_of(ev, s + 1, e2 - 1);
                } else if (ev->orig_recipient[0] == 0) {
                    EVENT_SET(ev, orig_recipient, s + 1, (size_t)(e2 - s - 2));
                }
            } else if (*s == '(') {
                const char *close = memchr(s, ')', (size_t)(end - s));

                e2 = close ? word_end(close, end) : e2;
            }
            if (e2[-1] == ':')
                text = e2;
            s = e2;
            continue;
        }
        if (scan_key_is(&f, "H")) {
            const char *helo;
            size_t helo_len;

            host_text(f.val, f.val_len, true, ev->relay, sizeof(ev->relay), &helo, &helo_len);
        } else if (scan_key_is(&f, "C")) {
            EVENT_SET(ev, reply, f.val, f.val_len);
            take_reply(f.val, f.val + f.val_len, ev);
        } else if (scan_key_is(&f, "T") && ev->relay[0] == 0) {
            EVENT_SET(ev, relay, f.val, f.val_len); /* a local transport: no host */
        }
        if (colon_end)
            text = s;
    }
    if (text) {
        text = scan_skip_spaces(text, end);
        EVENT_SET(ev, reply, text, (size_t)(end - text));
        find_reply(text, end, ev);
        lead_dsn(text, end, ev);
        if (status == ST_BOUNCED && gave_up_for_time(text, end))
            status = ST_EXPIRED;
    }
    ev->status = status;
    e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, false);
    if (e) {
        if (e->has_sender)
            COPY_FIELD(ev->sender, e->sender);
        COPY_FIELD(ev->message_id, e->message_id);
        COPY_FIELD(ev->client, e->client);
        COPY_FIELD(ev->sasl_username, e->sasl_username);
    }
    /* A content filter's hop: the filter handed the message back to this Exim, whose reply
     * it passed on ("250 OK id=ID2"). Folded when ID2 was logged here already, held until
     * it is (or is not) otherwise; a loopback smarthost's own id is never logged here. */
    if (status == ST_SENT && scan_is_loopback(ev->relay)) {
        size_t n;
        const char *id = reply_id(ev->reply, &n);

        if (id != NULL && !(n == qid_len && memcmp(id, qid, n) == 0)) {
            (void)parser_hop(p, ev, qid, qid_len, id, n, false);
            return PARSE_SKIP;
        }
    }
    /* An expiry says why it never arrived by the recipient's last temporary failure. */
    if (status != ST_SENT && !(status == ST_EXPIRED && parser_defer_last(p, ev)))
        scan_classify(p, ev, status);
    return PARSE_EVENT;
}

/*
 * parse_sync_error - "SMTP protocol synchronization error (why): rejected connection from
 * H=... I=..." or "...: rejected "CMD" H=...": the client talked before its turn and Exim
 * dropped the connection with a 554; a reject of the connection, without a recipient
 */
static enum parse_result parse_sync_error(struct parser *p, const struct syslog_env *env,
                                          const char *s, const char *end, struct event *ev)
{
    static const char *const marks[] = {"reject", NULL};
    const char *rej = scan_find(s, end, ": rejected ", 11), *h;
    struct scan_kv f;
    struct ehost host = {0};
    bool colon_end;

    h = rej ? scan_find(rej, end, " H=", 3) : NULL;
    if (h == NULL)
        return scan_unread(s, end, marks);
    h++;
    while (field_next(&h, end, &f, &colon_end) == 1)
        if (scan_key_is(&f, "H"))
            host_split(f.val, f.val_len, &host);
    if (host.ip == NULL && host.name == NULL)
        return scan_unread(s, end, marks);
    exim_head(ev, EV_REJECT, env, "", 0);
    host_format(&host, false, ev->client, sizeof(ev->client));
    EVENT_SET(ev, helo, host.helo ? host.helo : "", host.helo_len);
    EVENT_SET(ev, reply, s, (size_t)(rej - s));
    ev->smtp_code = 554; /* what Exim answers to it: "554 SMTP synchronization error" */
    scan_classify(p, ev, ST_NONE);
    return PARSE_EVENT;
}

/*
 * parse_reject - "H=... F=<s> [temporarily] rejected RCPT <r>: text" and its kin; for
 * anything else PARSE_SKIP, or not understood when it carries an outcome mark
 */
static enum parse_result parse_reject(struct parser *p, const struct syslog_env *env,
                                      const char *qid, size_t qid_len, const char *s,
                                      const char *end, struct event *ev)
{
    static const char *const kinds[] = {
        "RCPT ",      "MAIL ",      "after DATA", "EHLO ",         "HELO ",           "connection",
        "after MAIL", "after RCPT", "non-SMTP ",  "by local_scan", "by non-SMTP ACL",
    };
    static const char *const outcome_marks[] = {"** ", "== ", "=> ", "reject", NULL};
    const char *colon, *text = s;
    struct scan_kv f;
    bool colon_end;
    const char *sender = NULL, *host = NULL, *helo;
    size_t sender_len = 0, host_len = 0, helo_len, i;
    bool temp = false;
    int r;

    while ((r = field_next(&s, end, &f, &colon_end)) == 1) {
        if (scan_key_is(&f, "H")) {
            host = f.val; /* split once it is a reject: most such lines are not */
            host_len = f.val_len;
        } else if (scan_key_is(&f, "F")) {
            /* F=<s> in SMTP-time lines, F=s in local_scan() ones */
            bool br = f.val_len >= 2 && f.val[0] == '<' && f.val[f.val_len - 1] == '>';

            sender = br ? f.val + 1 : f.val;
            sender_len = br ? f.val_len - 2 : f.val_len;
        }
    }
    if (r < 0)
        return scan_unread(text, end, outcome_marks);
    if (scan_starts(s, end, "local_scan() function ") &&
        scan_find(s, end, " - message temporarily rejected", 31) != NULL) {
        /* "local_scan() function timed out - message temporarily rejected (size 29)" */
        exim_head(ev, EV_REJECT, env, qid, qid_len);
        EVENT_SET(ev, reply, s, (size_t)(end - s));
        scan_classify(p, ev, ST_DEFERRED);
        ev->hard = false;
        return PARSE_EVENT;
    }
    if (scan_starts(s, end, "temporarily ")) {
        temp = true;
        s += 12;
    }
    if (!scan_starts(s, end, "rejected "))
        return scan_unread(text, end, outcome_marks);
    s += 9;
    for (i = 0; i < ARRAY_LEN(kinds); i++) {
        if (scan_starts(s, end, kinds[i]))
            break;
    }
    if (i == ARRAY_LEN(kinds))
        return scan_unread(text, end, outcome_marks);
    exim_head(ev, EV_REJECT, env, qid, qid_len);
    host_text(host ? host : "", host_len, false, ev->client, sizeof(ev->client), &helo, &helo_len);
    EVENT_SET(ev, helo, helo ? helo : "", helo_len);
    if (sender)
        EVENT_SET(ev, sender, sender, sender_len);
    if (i <= 1 && s + 5 < end && s[5] == '<') {
        const char *a = s + 6, *close = memchr(a, '>', (size_t)(end - a));

        if (close) {
            if (i == 0)
                EVENT_SET(ev, recipient, a, (size_t)(close - a));
            else
                EVENT_SET(ev, sender, a, (size_t)(close - a));
            s = close + 1;
        }
    }
    colon = scan_find(s, end, ": ", 2);
    if (colon) {
        const char *t = colon + 2;

        if (t < end && *t == '"' && end[-1] == '"' && end - t >= 2) {
            t++;
            end--;
        }
        EVENT_SET(ev, reply, t, (size_t)(end - t));
        find_reply(t, end, ev);
        lead_dsn(t, end, ev);
    }
    scan_classify(p, ev, temp ? ST_DEFERRED : ST_NONE);
    if (temp)
        ev->hard = false;
    return PARSE_EVENT;
}

/* exim_parse_line - the text of one Exim line, after its stamp or syslog envelope */
enum parse_result exim_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev)
{
    const char *s = env->msg, *end = scan_trim_end(env->msg, env->msg + env->msg_len), *m;
    size_t qid_len = msgid_len(s, end);

    if (qid_len == 0) {
        if (scan_starts(s, end, "SMTP protocol synchronization error "))
            return parse_sync_error(p, env, s, end, ev);
        return parse_reject(p, env, "", 0, s, end, ev);
    }
    m = scan_skip_spaces(s + qid_len, end);
    if (end - m >= 3 && m[2] == ' ') {
        if (m[0] == '<' && m[1] == '=')
            return parse_arrival(p, env, s, qid_len, m + 3, end, ev);
        if ((m[0] == '=' || m[0] == '-' || m[0] == '>') && m[1] == '>')
            return parse_delivery(p, env, s, qid_len, m + 3, end, ST_SENT, ev);
        if (m[0] == '=' && m[1] == '=')
            return parse_delivery(p, env, s, qid_len, m + 3, end, ST_DEFERRED, ev);
        if (m[0] == '*' && m[1] == '*')
            return parse_delivery(p, env, s, qid_len, m + 3, end, ST_BOUNCED, ev);
        if (m[0] == '*' && m[1] == '>')
            return PARSE_SKIP;
    }
    if (scan_starts(m, end, "Completed")) {
        parser_queue_remove(p, env->host, env->host_len, s, qid_len);
        return PARSE_SKIP;
    }
    return parse_reject(p, env, s, qid_len, m, end, ev);
}
