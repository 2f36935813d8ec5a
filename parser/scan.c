/*
 * scan - what every log reader fills the same way: the head of an event and its reason
 * (see scan.h)
 */
#include <ctype.h>

#include "parser/parser_int.h"
#include "parser/scan.h"

/* scan_event_head - type, MTA, time, host and queue id of an event from a log line */
void scan_event_head(struct event *ev, enum event_mta mta, enum event_type type,
                     const struct syslog_env *env, const char *qid, size_t qid_len)
{
    ev->type = type;
    ev->mta = mta;
    ev->time_us = env->time_us;
    EVENT_SET(ev, host, env->host, env->host_len);
    if (qid_len)
        EVENT_SET(ev, queue_id, qid, qid_len);
}

/* scan_classify - reason and hardness of an outcome, through the parser's cache */
void scan_classify(struct parser *p, struct event *ev, enum event_status status)
{
    struct reason_result rr;

    parser_classify(p, ev->smtp_code, ev->dsn, ev->reply, status, &rr);
    EVENT_SET(ev, reason, rr.reason, strlen(rr.reason));
    ev->hard = rr.hard;
}

/*
 * scan_unread - a line the reader does not read: not understood when it holds an outcome mark.
 * One pass over the line: most lines hold none of the marks' first bytes at a word start.
 */
enum parse_result scan_unread(const char *s, const char *end, const char *const *marks)
{
    unsigned char first[256] = {0};
    size_t len[16];
    int n = 0;

    for (; n < 16 && marks[n]; n++) {
        len[n] = strlen(marks[n]);
        first[(unsigned char)marks[n][0]] = 1;
    }
    for (const char *m = s; m < end; m++) {
        if (!first[(unsigned char)*m] || (m > s && (isalnum((unsigned char)m[-1]) || m[-1] == '_')))
            continue;
        for (int k = 0; k < n; k++)
            if (marks[k][0] == *m && (size_t)(end - m) >= len[k] &&
                memcmp(m, marks[k], len[k]) == 0)
                return PARSE_MALFORMED;
    }
    return PARSE_SKIP;
}

/* scan_is_loopback - does a relay or client "name[ip]:port" name a loopback address? */
bool scan_is_loopback(const char *s)
{
    const char *b = strchr(s, '[');

    return b != NULL && (strncmp(b + 1, "127.", 4) == 0 || strncmp(b + 1, "::1]", 4) == 0 ||
                         strncmp(b + 1, "ipv6:::1]", 9) == 0);
}
