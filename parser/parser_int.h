/*
 * parser_int - what the files of parser/ share and no other module sees
 *
 * parser_queue_get() finds, and with create set makes, the open-queue entry of (host,
 * queue id); parser_queue_remove() drops it. pfx_parse_line() reads the message text of one
 * Postfix line (prefix pfx_, postfix.c).
 */
#ifndef MAILPULSE_PARSER_INT_H
#define MAILPULSE_PARSER_INT_H

#include "parser/parser.h"

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
};

struct pq_entry *parser_queue_get(struct parser *p, const char *host, size_t host_len,
                                  const char *qid, size_t qid_len, bool create);
void parser_queue_remove(struct parser *p, const char *host, size_t host_len, const char *qid,
                         size_t qid_len);
enum parse_result pfx_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev);

#endif
