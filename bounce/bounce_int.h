/*
 * bounce_int - what bounce.c, family.c and source.c share inside the bounce module
 *
 * struct bounce_msg is one message being read: the bounce's own subject and sender, its
 * human-readable text (the first text part outside any returned message), and a template
 * record holding the fields every record of the message shares (reporting MTA, arrival date,
 * the returned message's Message-ID, sender and subject). The strings are owned by the
 * caller of family_scan() and live while the message is read.
 */
#ifndef MAILPULSE_BOUNCE_INT_H
#define MAILPULSE_BOUNCE_INT_H

#include "bounce/bounce.h"

struct bounce_msg {
    const char *subject; /* the bounce's Subject, decoded, "" when absent */
    const char *from;    /* the bounce's From header as written, "" when absent */
    const char *text;    /* the first text part, UTF-8, NUL-terminated, "" when none */
    size_t text_len;
    struct bounce_rec tmpl; /* fields shared by every record of the message */
    const struct bounce_sink *sink;
    int emitted;
    uint64_t key;              /* the message's msg_key */
    int64_t date_us;           /* its Date header */
    bool is_bounce;            /* family_scan() found a bounce, with recipients or not */
    const char *family;        /* and its family */
    char report[EV_REPLY_LEN]; /* the report's words up to the returned message, on one line */
    const char *context;       /* while a DSN record is emitted: the text's words about it */
};

/* Recognisers of non-standard bounce texts (family.c). */
int family_scan(struct bounce_msg *m, bool auto_replied, struct bounce_rec *out, int cap);
bool family_auto_reply(const char *subject, const char *text);

/* bounce.c */
void bounce_emit(struct bounce_msg *m, struct bounce_rec *rec);
void bounce_codes_from_text(struct bounce_rec *rec);
void bounce_returned_headers(struct bounce_msg *m, const char *text, size_t len);
void bounce_copy_addr(char *dst, size_t dstlen, const char *s, size_t len);

#endif
