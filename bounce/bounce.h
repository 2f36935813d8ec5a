/*
 * NAME
 *	bounce - read bounce messages (DSNs) and complaint reports (ARF) into records
 *
 * SYNOPSIS
 *	#include "bounce/bounce.h"
 *
 *	void bounce_init(void);
 *	int bounce_message(const char *data, size_t len, const struct bounce_sink *sink);
 *	int bounce_read_path(const char *path, const struct bounce_sink *sink);
 *	int bounce_read_stream(FILE *fp, const char *name, const struct bounce_sink *sink);
 *	void bounce_format_json(const struct bounce_rec *rec, struct buf *out);
 *	const char *bounce_kind_name(enum bounce_kind kind);
 *
 * DESCRIPTION
 *	A bounce is an RFC 5322 message. bounce_message() parses one with GMime and calls
 *	sink->emit once per record it finds: a BK_DSN record per failed, delayed (or, when the
 *	report says so, delivered/relayed/expanded) recipient, a BK_COMPLAINT record per ARF
 *	feedback report (RFC 5965). Standard DSNs (RFC 3464) are read from their
 *	message/delivery-status part; other forms (qmail, Exim, Gmail, Yahoo, Exchange, ...) by
 *	the recognisers of bounce/family.c. Auto-replies and ordinary mail give no record. It
 *	returns BOUNCE_FOUND, BOUNCE_NOT_BOUNCE, or BOUNCE_MALFORMED (not a parseable message,
 *	over the size, part or depth limits); every outcome is counted in sink->stats.
 *
 *	bounce_read_path() reads a file (one message, or an mbox when it starts with "From "),
 *	a Maildir (the files of its new/ and cur/) or any other directory (its regular files, in
 *	name order, not recursive). bounce_read_stream() reads one message or an mbox from fp.
 *	While a file is read, *sink->file_us (when given) is its modification time.
 *	Both return 0, or -1 when the path could not be opened or read.
 *
 *	Every record carries the message's key (below 2^63: a hash of its bytes without carriage
 *	returns and trailing white space) and its own
 *	number within the message, so a store can take the pair (with the message's date) as
 *	the record's identity: the same message read again, from any file or mailbox, gives the
 *	same keys.
 *
 *	bounce_format_json() appends one JSON object (no newline): "type" is "dsn" or
 *	"complaint"; absent strings are null, unknown times and codes are null.
 *
 *	bounce_init() initialises GMime once per process (later calls do nothing); the other
 *	functions call it themselves.
 *
 * LIMITS
 *	A message over BOUNCE_MAX_MESSAGE bytes is not parsed, nor one that mentions
 *	Content-Type more than 2 * BOUNCE_MAX_PARTS times (GMime would recurse that deep). MIME
 *	nesting deeper than BOUNCE_MAX_DEPTH, or more than BOUNCE_MAX_PARTS parts, makes the
 *	message malformed. At
 *	most BOUNCE_MAX_TEXT bytes of any one part are decoded (base64 and quoted-printable only
 *	shrink; nothing is decompressed), and at most BOUNCE_MAX_RCPTS records come from one
 *	message.
 *
 * OWNERSHIP
 *	A record passed to emit lives only during the call. bounce_message() does not keep data.
 *
 * DIAGNOSTICS
 *	Files that cannot be read are logged with log_warn; bad messages are only counted.
 */
#ifndef MAILPULSE_BOUNCE_H
#define MAILPULSE_BOUNCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "parser/event.h"
#include "util/util.h"

#define BOUNCE_MAX_MESSAGE  (8u << 20)
#define BOUNCE_MAX_DEPTH    16
#define BOUNCE_MAX_PARTS    256
#define BOUNCE_MAX_TEXT     (512u << 10)
#define BOUNCE_MAX_RCPTS    1000
#define BOUNCE_FAMILY_RCPTS 128 /* recipients read from one human-readable report */

enum bounce_kind { BK_DSN, BK_COMPLAINT };

enum bounce_result { BOUNCE_FOUND, BOUNCE_NOT_BOUNCE, BOUNCE_MALFORMED };

#define BR_TEXT_LEN 256

struct bounce_rec {
    enum bounce_kind kind;
    const char *family; /* the recogniser: "rfc3464", "arf", "qmail", ... (static) */
    /* dsn */
    char recipient[EV_ADDR_LEN];
    char orig_recipient[EV_ADDR_LEN]; /* complaint: Original-Rcpt-To */
    char action[16];
    char status[EV_DSN_LEN];
    char remote_mta[EV_RELAY_LEN];
    char diagnostic[EV_REPLY_LEN];
    char diagnostic_type[16]; /* "smtp", "x-unix", "x-postfix", ... or "" */
    int smtp_code;            /* -1 unknown */
    const char *reason;       /* static; "" for a complaint */
    bool hard;
    char reporting_mta[EV_RELAY_LEN];
    int64_t arrival_us;      /* 0 unknown */
    int64_t last_attempt_us; /* 0 unknown */
    /* the returned (original) message */
    char message_id[EV_MSGID_LEN];
    char sender[EV_ADDR_LEN]; /* complaint: Original-Mail-From */
    char subject[BR_TEXT_LEN];
    /* complaint */
    char feedback_type[32];
    char source_ip[64];
    char user_agent[BR_TEXT_LEN];
    /* the bounce or report message itself */
    int64_t date_us;  /* its Date header, 0 unknown */
    uint64_t msg_key; /* its identity (63 bits): the same message, the same key */
    int seq;          /* this record's number within the message, from 0 */
};

struct bounce_stats {
    uint64_t messages;   /* messages looked at */
    uint64_t bounces;    /* messages that gave at least one dsn record */
    uint64_t complaints; /* messages that gave at least one complaint record */
    uint64_t not_bounce; /* auto-replies, ordinary mail */
    uint64_t malformed;  /* unparseable, or over a limit */
    uint64_t too_big;    /* of malformed: over BOUNCE_MAX_MESSAGE */
    uint64_t records;    /* records emitted */
};

struct bounce_sink {
    void (*emit)(const struct bounce_rec *rec, void *ctx);
    void *ctx;
    struct bounce_stats *stats;
    int64_t *file_us; /* if not NULL: the modification time of the file being read */
};

void bounce_init(void);
int bounce_message(const char *data, size_t len, const struct bounce_sink *sink);
int bounce_read_path(const char *path, const struct bounce_sink *sink);
int bounce_read_stream(FILE *fp, const char *name, const struct bounce_sink *sink);
void bounce_format_json(const struct bounce_rec *rec, struct buf *out);
const char *bounce_kind_name(enum bounce_kind kind);

#endif
