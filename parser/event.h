/*
 * NAME
 *	event - the value that flows from parser/ to db/ and web/
 *
 * SYNOPSIS
 *	#include "parser/event.h"
 *
 *	void event_clear(struct event *ev);
 *	void event_set(struct event *ev, char *field, size_t fieldlen, const char *s, size_t len);
 *	const char *event_type_name(enum event_type);
 *	const char *event_status_name(enum event_status);
 *	const char *event_mta_name(enum event_mta);
 *	int event_status_parse(const char *s, size_t len, enum event_status *out);
 *	const char *event_reason_name(enum event_reason);
 *	int event_reason_parse(const char *s, size_t len, enum event_reason *out);
 *	const char *event_stage_name(enum event_stage);
 *	int event_stage_parse(const char *s, size_t len, enum event_stage *out);
 *	size_t event_dsn_len(const char *s, const char *end);
 *	const char *event_recipient_domain(const struct event *ev);
 *	void event_format_json(const struct event *ev, struct buf *out);
 *
 * DESCRIPTION
 *	struct event is a self-contained value type: fixed-size fields, no pointers, safe to copy,
 *	zero and pass between threads. A string that is absent is empty, never NULL. A numeric
 *	field that is unknown holds -1 (size, nrcpt, smtp_code) or has its has_ flag clear.
 *
 *	event_set() copies len bytes of s into a field and flags the event EVF_TRUNCATED when
 *	they do not fit. Use the EVENT_SET(ev, field, s, len) macro.
 *
 *	event_format_json() appends the event as one JSON object (no newline) with the keys of
 *	docs/architecture.md (the NDJSON contract); those keys are a contract that outside tools read. Unknown values
 *	are written as null. Time is UTC.
 *
 *	The closed sets of an event (type, status, MTA, reason, SMTP stage) are enums named
 *	here once: *_name() gives the text that the NDJSON, the database and the web API use
 *	("" for the NONE/UNKNOWN value, "none" for EV_NONE), and *_parse() reads that text back
 *	(exactly, len bytes, case-sensitive) into *out, returning 0, or -1 when it names no value;
 *	the NONE value is not parsed from "". The reason and stage fields of struct event hold
 *	these names as text.
 *
 *	event_dsn_len() returns the length of an RFC 3463 enhanced status code "C.S.D" at s (class
 *	2, 4 or 5; subject and detail of one to three digits) that ends at a space or at end, or 0
 *	when there is none. A whole string s of len bytes is a code when
 *	len > 0 && event_dsn_len(s, s + len) == len.
 *
 *	event_recipient_domain() returns the part of the recipient after the last '@', lower
 *	case as logged, or "" when there is none; the pointer is into ev.
 *
 * OWNERSHIP
 *	Events own nothing. event_format_json() only appends to the caller's buffer.
 */
#ifndef MAILPULSE_EVENT_H
#define MAILPULSE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"

enum event_type { EV_NONE, EV_MESSAGE, EV_DELIVERY, EV_REJECT, EV_BOUNCE_NOTICE, EV_SMTP };

enum event_status { ST_NONE, ST_SENT, ST_DEFERRED, ST_BOUNCED, ST_EXPIRED };

enum event_mta { MTA_UNKNOWN, MTA_POSTFIX, MTA_EXIM, MTA_SENDMAIL };

/* The Sisimai reason names, in the order the web pages list them. */
enum event_reason {
    REASON_NONE, /* "": sent, or not classified */
    REASON_USERUNKNOWN,
    REASON_HOSTUNKNOWN,
    REASON_MAILBOXFULL,
    REASON_HASMOVED,
    REASON_SUSPEND,
    REASON_BLOCKED,
    REASON_BADREPUTATION,
    REASON_SPAMDETECTED,
    REASON_VIRUSDETECTED,
    REASON_POLICYVIOLATION,
    REASON_AUTHFAILURE,
    REASON_REJECTED,
    REASON_NORELAYING,
    REASON_NOTACCEPT,
    REASON_REQUIREPTR,
    REASON_SPEEDING,
    REASON_TOOMANYCONN,
    REASON_MESGTOOBIG,
    REASON_EXCEEDLIMIT,
    REASON_CONTENTERROR,
    REASON_NOTCOMPLIANTRFC,
    REASON_FILTERED,
    REASON_SECURITYERROR,
    REASON_FAILEDSTARTTLS,
    REASON_SYSTEMERROR,
    REASON_SYSTEMFULL,
    REASON_MAILERERROR,
    REASON_NETWORKERROR,
    REASON_SYNTAXERROR,
    REASON_EXPIRED,
    REASON_ONHOLD,
    REASON_UNDEFINED,
};
#define EVENT_REASON_COUNT (REASON_UNDEFINED + 1)

/* What an SMTP event (sniffed from the wire) reports on: the command and its reply. */
enum event_stage {
    STAGE_NONE,
    STAGE_CONNECT,
    STAGE_HELO,
    STAGE_MAIL,
    STAGE_RCPT,
    STAGE_DATA,
    STAGE_STARTTLS,
};

/* event.flags */
#define EVF_TRUNCATED 0x01 /* a field did not fit its array and was cut */
#define EVF_BAD_BYTES 0x02 /* the line held NUL or invalid UTF-8; they were replaced */

#define EV_HOST_LEN   64
#define EV_QID_LEN    32
#define EV_ADDR_LEN   320 /* RFC 5321: 64 local + @ + 255 domain */
#define EV_MSGID_LEN  256
#define EV_RELAY_LEN  256
#define EV_CLIENT_LEN 256
#define EV_HELO_LEN   256
#define EV_SASL_LEN   128
#define EV_DSN_LEN    16
#define EV_REPLY_LEN  1024
#define EV_REASON_LEN 24
#define EV_STAGE_LEN  16

struct event {
    enum event_type type;
    enum event_mta mta;
    enum event_status status; /* delivery only */
    unsigned flags;
    int64_t time_us; /* UTC, microseconds since the epoch; 0 when unknown */
    char host[EV_HOST_LEN];
    char queue_id[EV_QID_LEN];
    char notice_queue_id[EV_QID_LEN]; /* bounce_notice: the DSN's own queue id */
    char message_id[EV_MSGID_LEN];
    char sender[EV_ADDR_LEN];
    char recipient[EV_ADDR_LEN];
    char orig_recipient[EV_ADDR_LEN];
    char relay[EV_RELAY_LEN];
    char client[EV_CLIENT_LEN];
    char server[EV_CLIENT_LEN]; /* smtp only: server ip:port */
    char helo[EV_HELO_LEN];
    char sasl_username[EV_SASL_LEN];
    char dsn[EV_DSN_LEN];       /* "5.1.1", or "" */
    char reply[EV_REPLY_LEN];   /* the text in parentheses / the server's reply */
    char reason[EV_REASON_LEN]; /* Sisimai reason name for non-sent outcomes, or "" */
    char stage[EV_STAGE_LEN];   /* smtp only */
    int smtp_code;              /* -1 unknown */
    bool hard;                  /* retrying cannot help */
    bool tls;                   /* smtp only */
    bool has_delay;
    bool has_delays;
    double delay;
    double delays[4];
    int64_t size;  /* -1 unknown */
    int32_t nrcpt; /* -1 unknown */
    /* 1 + the position of the line the event was read from, when the parser held it back
     * and hands it out with a later line (parser_set_pos()); 0: the line just read */
    int64_t held_pos;
};

void event_clear(struct event *ev);

/*
 * event_copy - n bytes of s to d: the strings of an event are short, and a memcpy() whose
 * length the compiler knows to be bounded became "rep movs", whose start costs more than
 * such a copy. Here fixed-size pieces (sixteen, eight or four bytes, the last one again
 * overlapping) move them; nothing is read before s or from s + n on.
 */
static inline void event_copy(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16)
            memcpy(d + i, s + i, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* event_set - bounded copy into a field; a cut sets EVF_TRUNCATED (inline: several per line) */
static inline void event_set(struct event *ev, char *field, size_t fieldlen, const char *s,
                             size_t len)
{
    size_t n = len < fieldlen - 1 ? len : fieldlen - 1;

    event_copy(field, s, n);
    field[n] = 0;
    if (n < len)
        ev->flags |= EVF_TRUNCATED;
}
#define EVENT_SET(ev, field, s, len) event_set((ev), (ev)->field, sizeof((ev)->field), (s), (len))

const char *event_type_name(enum event_type type);
const char *event_status_name(enum event_status status);
const char *event_mta_name(enum event_mta mta);
int event_status_parse(const char *s, size_t len, enum event_status *out);
const char *event_reason_name(enum event_reason reason);
int event_reason_parse(const char *s, size_t len, enum event_reason *out);
const char *event_stage_name(enum event_stage stage);
int event_stage_parse(const char *s, size_t len, enum event_stage *out);
size_t event_dsn_len(const char *s, const char *end);
const char *event_recipient_domain(const struct event *ev);
void event_format_json(const struct event *ev, struct buf *out);

#endif
