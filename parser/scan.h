/*
 * NAME
 *	scan - the scanning vocabulary the three log readers share (parser/ only)
 *
 * SYNOPSIS
 *	#include "parser/scan.h"
 *
 *	bool scan_starts(const char *s, const char *end, const char *pfx);
 *	bool scan_key_is(const struct scan_kv *kv, const char *name);
 *	const char *scan_trim_end(const char *s, const char *end);
 *	const char *scan_skip_spaces(const char *s, const char *end);
 *	void scan_event_head(struct event *ev, enum event_mta mta, enum event_type type,
 *			     const struct syslog_env *env, const char *qid, size_t qid_len);
 *	void scan_classify(struct parser *p, struct event *ev, enum event_status status);
 *	enum parse_result scan_unread(const char *s, const char *end, const char *const *marks);
 *	bool scan_is_loopback(const char *s);
 *	const char *scan_find(const char *s, const char *end, const char *w, size_t n);
 *
 * DESCRIPTION
 *	Text is a byte range [s, end) of the caller's line; nothing needs a NUL terminator.
 *	scan_starts() tells whether the range starts with the C string pfx. struct scan_kv is one
 *	"key=value" of a field tail, as each reader splits it; scan_key_is() compares its key
 *	with a C string. scan_trim_end() returns the end of the range without trailing spaces,
 *	tabs and CR; scan_skip_spaces() the first byte at or after s that is not a space.
 *
 *	scan_event_head() fills what every event of a log line carries: type, MTA, the time and
 *	host of the envelope, and the queue id when qid_len is not 0. scan_classify() sets the
 *	reason and hardness of an outcome from the event's SMTP code, DSN and reply, through the
 *	parser's cache of recent classifications.
 *
 *	scan_unread() is what a reader returns for a line of its program that it does not read:
 *	PARSE_MALFORMED (not understood, sampled) when the text holds one of the NULL-terminated
 *	marks of an outcome ("to=", "stat=", "reject" ...) at the start of a word, so that no
 *	outcome is skipped silently; PARSE_SKIP otherwise.
 *
 *	scan_find() returns the first n bytes at w in [s, end), as memmem() does, or NULL.
 *
 *	scan_is_loopback() tells whether a relay or client as the readers store it,
 *	"name[ip]:port", names a loopback address (127.0.0.0/8, ::1).
 *
 *	The tests are static inline: they run several times per line, and with a literal pfx or
 *	name the compiler folds strlen() into a constant.
 *
 * OWNERSHIP
 *	A scan_kv points into the caller's line and lives as long as the line.
 */
#ifndef MAILPULSE_SCAN_H
#define MAILPULSE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "parser/parser.h"

/* One "key=value" of a field tail; both point into the line. */
struct scan_kv {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
};

/* scan_starts - does [s, end) start with the C string pfx? */
static inline bool scan_starts(const char *s, const char *end, const char *pfx)
{
    size_t n = strlen(pfx);

    return (size_t)(end - s) >= n && memcmp(s, pfx, n) == 0;
}

/* scan_key_is - is the kv's key the C string name? */
static inline bool scan_key_is(const struct scan_kv *kv, const char *name)
{
    return strlen(name) == kv->key_len && memcmp(kv->key, name, kv->key_len) == 0;
}

/* scan_trim_end - drop trailing spaces, tabs and CR */
static inline const char *scan_trim_end(const char *s, const char *end)
{
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    return end;
}

/* scan_skip_spaces - the first byte at or after s that is not a space */
static inline const char *scan_skip_spaces(const char *s, const char *end)
{
    while (s < end && *s == ' ')
        s++;
    return s;
}

void scan_event_head(struct event *ev, enum event_mta mta, enum event_type type,
                     const struct syslog_env *env, const char *qid, size_t qid_len);
void scan_classify(struct parser *p, struct event *ev, enum event_status status);
enum parse_result scan_unread(const char *s, const char *end, const char *const *marks);
bool scan_is_loopback(const char *s);
const char *scan_find(const char *s, const char *end, const char *w, size_t n);

#endif
