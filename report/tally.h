/*
 * NAME
 *	tally - events in, pflogsumm-style counts out, in bounded memory
 *
 * SYNOPSIS
 *	#include "report/tally.h"
 *
 *	struct tally *tally_create(const struct tally_opts *opts);
 *	void tally_free(struct tally *t);
 *	void tally_add(struct tally *t, const struct event *ev);
 *	void tally_report(struct tally *t, struct tally_report *out);
 *	void tally_format(const struct tally_report *r, enum tally_format fmt, size_t top,
 *			  struct buf *out);
 *
 * DESCRIPTION
 *	tally_add() counts one event. What is counted, and how it lines up with pflogsumm:
 *	received: message events, except the notices Postfix makes itself (sender <> and no
 *	client); delivered: "sent" deliveries except "forwarded as" (counted as forwarded);
 *	deferrals: "deferred" deliveries, and deferred: distinct messages (host + queue id) with
 *	at least one; bounced, expired: those deliveries; rejected: reject events. A content
 *	filter's hop is not an event (see parser.h), so a filtered message counts once.
 *
 *	Per recipient domain, per sender, per (status, reason, DSN) and per hour (UTC) tables
 *	are capped (opts, 0 for the defaults); once a table is full, new keys count in one
 *	"(other)" row. The set that tells distinct deferred messages apart forgets a queue id
 *	7 days (log time) after its last deferral, and is capped too; report->approximate says
 *	when a cap was reached.
 *
 *	tally_report() sorts the tables (by volume, hours by time) and points *out into t; it
 *	stays valid until the next tally_add() or tally_free(). A report may also be filled by
 *	hand (mailpulse report --db does); a count of -1 means unknown and prints as "n/a".
 *
 *	tally_format() appends the report as TALLY_TEXT (a pflogsumm-like summary), TALLY_JSON
 *	(one object) or TALLY_CSV (rows of section,key,metric,value), listing at most top rows
 *	per table (0: all).
 *
 * OWNERSHIP
 *	tally_free() releases everything tally_create() made. The caller owns out.
 *
 * DIAGNOSTICS
 *	None: every event is counted somewhere.
 */
#ifndef MAILPULSE_TALLY_H
#define MAILPULSE_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/event.h"
#include "util/util.h"

struct tally_opts {
    size_t max_domains;  /* 0: 2000 */
    size_t max_senders;  /* 0: 2000 */
    size_t max_reasons;  /* 0: 500 */
    size_t max_hours;    /* 0: 24 * 400 */
    size_t max_deferred; /* distinct deferred messages remembered; 0: 262144 */
};

struct tally_totals {
    int64_t received;
    int64_t bytes_received;
    int64_t delivered;
    int64_t forwarded;
    int64_t deferrals;
    int64_t deferred; /* distinct messages */
    int64_t bounced;
    int64_t expired;
    int64_t rejected;
    int64_t notices; /* bounce/delay notices Postfix generated */
};

#define TALLY_KEY_LEN     128
#define TALLY_EXAMPLE_LEN 200

struct tally_domain {
    char domain[TALLY_KEY_LEN];
    int64_t sent, deferred, bounced, expired;
};

struct tally_sender {
    char sender[TALLY_KEY_LEN];
    int64_t messages, bytes, sent, deferred, bounced, expired;
};

struct tally_reason {
    enum event_status status; /* ST_NONE for rejects */
    char reason[EV_REASON_LEN];
    char dsn[EV_DSN_LEN];
    int64_t count;
    char example[TALLY_EXAMPLE_LEN];
};

struct tally_hour {
    int64_t hour_us; /* start of the hour, UTC */
    int64_t received, delivered, deferred, bounced, expired, rejected;
};

struct tally_report {
    struct tally_totals totals;
    int64_t first_us, last_us; /* time of the first and last event, 0 when none */
    const struct tally_domain *domains;
    size_t ndomains;
    const struct tally_sender *senders;
    size_t nsenders;
    const struct tally_reason *reasons;
    size_t nreasons;
    const struct tally_hour *hours;
    size_t nhours;
    bool approximate; /* a table reached its cap */
};

enum tally_format { TALLY_TEXT, TALLY_JSON, TALLY_CSV };

struct tally;

struct tally *tally_create(const struct tally_opts *opts);
void tally_free(struct tally *t);
void tally_add(struct tally *t, const struct event *ev);
void tally_report(struct tally *t, struct tally_report *out);
void tally_format(const struct tally_report *r, enum tally_format fmt, size_t top, struct buf *out);

#endif
