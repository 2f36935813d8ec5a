/*
 * NAME
 *	parser - mail log lines in, struct event out
 *
 * SYNOPSIS
 *	#include "parser/parser.h"
 *
 *	struct parser *parser_create(const struct parser_opts *opts);
 *	void parser_free(struct parser *p);
 *	enum parse_result parser_line(struct parser *p, const char *line, size_t len,
 *				      struct event *ev);
 *	enum parse_result parser_line_nul_free(struct parser *p, const char *line, size_t len,
 *					       struct event *ev);
 *	bool parser_next(struct parser *p, struct event *ev);
 *	void parser_set_pos(struct parser *p, int64_t pos);
 *	size_t parser_held(const struct parser *p);
 *	size_t parser_release(struct parser *p);
 *	const struct parser_stats *parser_stats(const struct parser *p);
 *	size_t parser_prog_stats(const struct parser *p, const struct parser_prog_stats **out);
 *	size_t parser_state_save(struct parser *p, struct buf *out);
 *	int parser_state_load(struct parser *p, const void *blob, size_t len, char *why,
 *			      size_t whylen);
size_t parser_state_save(struct parser *p, struct buf *out);
int parser_state_load(struct parser *p, const void *blob, size_t len, char *why, size_t whylen);
 *
 *	int syslog_envelope(const char *line, size_t len, struct syslog_env *env,
 *			    struct year_infer *yi);
 *	void reason_classify(int smtp_code, const char *dsn, const char *text,
 *			    enum event_status status, struct reason_result *out);
 *
 * DESCRIPTION
 *	parser_line() reads one log line (without its newline; it need not be NUL-terminated)
 *	and returns PARSE_EVENT when it filled *ev with an event, PARSE_SKIP when the line was
 *	understood but produces no event (or is not from a mail program), and PARSE_MALFORMED
 *	when it looked like a line of a known program but could not be read. One line may stand
 *	for several events (a Sendmail to= line naming several recipients, a message's expiry
 *	with several recipients still deferred): after PARSE_EVENT, parser_next() fills *ev with
 *	each further one and returns false when there is none left. The parser keeps a
 *	bounded table of open queue ids per host (entries leave on "removed", when the table
 *	is full, oldest first, or when they are older than opts->max_queue_age_s in log time) so
 *	delivery events carry the sender, size and message-id logged on earlier lines. A
 *	content-filter hop (a "sent" to a loopback relay whose reply says "queued as QID2", where
 *	QID2 is a queue id the same host has already logged) is not an event: the message is
 *	counted once, by its first queue id, and delivered by QID2. A loopback relay whose id is
 *	not seen (a smarthost or SMTP tunnel) took the message for good: that is a delivery.
 *	When QID2 has not been logged yet (a filter that replies before its re-injection is
 *	logged, another instance's log read later), the delivery is held: it is dropped as a hop
 *	when QID2's message appears, and released as the delivery it is when it has not appeared
 *	within 5 minutes of log time, when 512 hops are held (the oldest first), or when the
 *	caller calls parser_release() (at the end of its input, or after PARSER_HOLD_WALL_S of
 *	a quiet log). Released events come out of parser_next() after any line, even one that
 *	returns PARSE_SKIP: callers drain parser_next() after every line. A released event
 *	carries in held_pos 1 + the position its line had (parser_set_pos(), called before
 *	parser_line() by callers that key events by position), so it is stored under the key it
 *	would have had without the wait.
 *	A NUL byte in a line is read as '?' (it would otherwise end the field it is in); the
 *	line is counted in stats.repaired and its event flagged EVF_BAD_BYTES. It does not
 *	allocate per line. parser_line_nul_free() is parser_line() for a line the caller knows
 *	holds no NUL byte (lr_nul_free()): it does not look for one.
 *
 *	parser_prog_stats() returns the per-program-name counters (lines, events, skipped, not
 *	understood, with the first few not-understood lines) in first-seen order.
 *
 *	parser_state_save() appends to out what the parser needs to go on mid-log (the year of a
 *	yearless log, the open queue ids with what earlier lines said about them, the recently
 *	removed ones, each deferred recipient's last failure, the held hops) as a versioned,
 *	checksummed blob (a blob of version 2, without held hops, still loads),
 *	and returns its length. It is bounded: the newest 100,000 open queue ids within 16 MB;
 *	the older ones are left out and counted in stats.state_dropped. parser_state_load()
 *	puts such a blob into a parser that has read nothing yet and returns 0; a blob of
 *	another version, cut, corrupt or not a state returns -1 with the reason in why, and the
 *	parser is left as it was (reading the log from its start rebuilds the same state).
 *	Loaded entries beyond opts->max_open_queue evict the oldest, as reading would.
 *
 *	Years: RFC 3164 stamps carry none. The parser starts from opts->year (0: the current
 *	year, or the previous one when the stamp would lie more than a day in the future) and
 *	moves to the next year when the month steps back (a log that crosses New Year).
 *	RFC 3164 stamps are local time of the TZ in force; RFC 3339 stamps carry their offset.
 *
 *	reason_classify() maps an outcome to a Sisimai reason name and whether it is hard, from a
 *	rule table keyed on the enhanced status code, the SMTP code and words of the reply text.
 *
 * OWNERSHIP
 *	The caller owns the line; the parser keeps no pointer into it. parser_free() releases
 *	everything parser_create() made.
 *
 * DIAGNOSTICS
 *	Malformed lines are counted in parser_stats(), never logged per line.
 */
#ifndef MAILPULSE_PARSER_H
#define MAILPULSE_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "parser/event.h"

enum parse_result { PARSE_EVENT, PARSE_SKIP, PARSE_MALFORMED };

struct parser_opts {
    int year;                /* 0: infer from the clock */
    int64_t now_us;          /* 0: the clock; tests set it for year inference */
    size_t max_open_queue;   /* open queue ids kept for correlation; 0: 100000 */
    int64_t max_queue_age_s; /* an open queue id older than this (log time) is dropped; 0: 7 days */
    enum event_mta mta;      /* MTA_UNKNOWN: decide per line; else read only that MTA's lines */
};

struct parser_stats {
    uint64_t lines;
    uint64_t events;
    uint64_t skipped;
    uint64_t malformed;
    uint64_t truncated;
    uint64_t queue_evicted; /* open queue ids dropped because the table was full */
    uint64_t queue_aged;    /* open queue ids dropped because they outlived max_queue_age_s */
    uint64_t reinjected;    /* content-filter hops folded into the message they carry */
    uint64_t repaired;      /* lines that held NUL bytes, replaced by '?' */
    uint64_t state_dropped; /* open queue ids left out of a saved state (over its cap) */
    uint64_t held;          /* possible content-filter hops held until their evidence */
    uint64_t held_released; /* of them, handed out as deliveries (no re-injection seen) */
};

/* Per program name ("postfix/smtp", "postfix-out/qmgr", "dovecot"): what became of its lines. */
#define PARSER_PROG_MAX     64 /* distinct names kept; later ones count under "(other)" */
#define PARSER_PROG_SAMPLES 3  /* not-understood lines kept per name, the first ones */
struct parser_prog_stats {
    char prog[48];
    uint64_t lines;
    uint64_t events;
    uint64_t skipped;   /* understood, nothing to say about delivery */
    uint64_t malformed; /* not understood */
    unsigned nsamples;
    char samples[PARSER_PROG_SAMPLES][200];
};

struct parser;
struct buf;

#define PARSER_STATE_VERSION 3
#define PARSER_HOLD_WALL_S   60 /* a daemon releases held hops of a source quiet this long */

struct parser *parser_create(const struct parser_opts *opts);
void parser_free(struct parser *p);
enum parse_result parser_line(struct parser *p, const char *line, size_t len, struct event *ev);
enum parse_result parser_line_nul_free(struct parser *p, const char *line, size_t len,
                                       struct event *ev);
bool parser_next(struct parser *p, struct event *ev);
void parser_set_pos(struct parser *p, int64_t pos);
size_t parser_held(const struct parser *p);
size_t parser_release(struct parser *p);
const struct parser_stats *parser_stats(const struct parser *p);
size_t parser_prog_stats(const struct parser *p, const struct parser_prog_stats **out);
size_t parser_state_save(struct parser *p, struct buf *out);
int parser_state_load(struct parser *p, const void *blob, size_t len, char *why, size_t whylen);

/* The syslog envelope: time, host, program, pid, and where the message text starts. */
struct year_infer {
    int year;       /* the year assumed for the last RFC 3164 stamp */
    int last_mon;   /* 1..12, 0 before the first stamp */
    int64_t now_us; /* reference clock */
    int fixed;      /* year given by the user: never move it */
};

struct syslog_env {
    int64_t time_us;
    const char *host;
    size_t host_len;
    const char *prog; /* "postfix/smtp", "postfix-out/qmgr", "sendmail" ... */
    size_t prog_len;
    long pid;        /* -1 when absent */
    const char *msg; /* the text after "prog[pid]: " */
    size_t msg_len;
};

void year_infer_init(struct year_infer *yi, int year, int64_t now_us);
int syslog_envelope(const char *line, size_t len, struct syslog_env *env, struct year_infer *yi);

struct reason_result {
    const char *reason; /* static string, never NULL; "" for sent */
    bool hard;
};

void reason_classify(int smtp_code, const char *dsn, const char *text, enum event_status status,
                     struct reason_result *out);

#endif
