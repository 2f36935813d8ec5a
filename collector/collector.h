/*
 * NAME
 *	collector - read log sources line by line, with byte positions
 *
 * SYNOPSIS
 *	#include "collector/collector.h"
 *
 *	struct lineread *lr_open(const char *path, char *err, size_t errlen);
 *	int lr_next(struct lineread *lr, const char **line, size_t *len, int64_t *pos);
 *	int lr_nul_free(const struct lineread *lr);
 *	const char *lr_identity(struct lineread *lr);
 *	const char *lr_prefix(const struct lineread *lr, size_t *len);
 *	uint64_t lr_bytes(const struct lineread *lr);
 *	void lr_close(struct lineread *lr);
 *
 *	struct tail *tail_open(const char *path, char *err, size_t errlen);
 *	const char *tail_identity(struct tail *t);
 *	const char *tail_prefix(const struct tail *t, size_t *len);
 *	void tail_seek(struct tail *t, int64_t offset);
 *	int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos);
 *	int64_t tail_lag(struct tail *t);
 *	void tail_set_rotate_wait(struct tail *t, int64_t us);
 *	uint64_t tail_cut(const struct tail *t);
 *	int64_t tail_position(const struct tail *t);
 *	uint64_t tail_bytes(const struct tail *t);
 *	void tail_close(struct tail *t);
 *
 *	struct follow *follow_open(const struct follow_opts *opts);
 *	int follow_next(struct follow *f, struct follow_line *out);
 *	void follow_reopen(struct follow *f);
 *	int64_t follow_lag(struct follow *f);
 *	uint64_t follow_cut(const struct follow *f);
 *	uint64_t follow_bytes(const struct follow *f);
 *	int follow_rotated_name(const char *path);
 *	void follow_close(struct follow *f);
 *
 *	struct journal_in *journal_open(const struct journal_opts *o, char *err, size_t errlen);
 *	int journal_next(struct journal_in *j, struct follow_line *out);
 *	void journal_watch(struct journal_in *j, struct notify *n);
 *	void journal_close(struct journal_in *j);
 *
 *	struct syslog_in *syslog_open(const struct syslog_opts *o, char *err, size_t errlen);
 *	void syslog_watch(struct syslog_in *s, struct notify *n);
 *	int syslog_next(struct syslog_in *s, struct follow_line *out);
 *	void syslog_convert(struct buf *line, const char *msg, size_t len);
 *	int syslog_frame(const char *buf, size_t len, int *octet, size_t *off, size_t *mlen,
 *			 size_t *used);
 *	void syslog_get_stats(const struct syslog_in *s, struct syslog_stats *out);
 *	const char *syslog_drop_name(enum syslog_drop kind);
 *	void syslog_close(struct syslog_in *s);
 *
 *	struct source *source_open(const struct source_opts *o, char *err, size_t errlen);
 *	int source_next(struct source *s, struct follow_line *out);
 *	int64_t source_position(const struct source *s);
 *	enum source_kind source_kind(const struct source *s);
 *	void source_reopen(struct source *s);
 *	int64_t source_lag(struct source *s);
 *	uint64_t source_cut(const struct source *s);
 *	uint64_t source_bytes(const struct source *s);
 *	int source_syslog_stats(const struct source *s, struct syslog_stats *out);
 *	void source_close(struct source *s);
 *
 *	struct notify *notify_open(void);
 *	void notify_watch(struct notify *n, const char *path);
 *	void notify_add_fd(struct notify *n, int fd);
 *	int notify_wait(struct notify *n, int timeout_ms);
 *	void notify_close(struct notify *n);
 *
 * DESCRIPTION
 *	lr_open() opens a whole file for one pass ("-" is standard input); gzip files are
 *	decompressed transparently, and positions are offsets in the decompressed text.
 *	lr_next() returns 1 and the next line (without its newline; a last line without one is
 *	returned too), 0 at the end, -1 on a read error (logged). *pos is the byte offset where
 *	the line starts. Lines longer than COLLECT_MAX_LINE are cut and the rest skipped.
 *	lr_nul_free() is 1 when the last line lr_next() returned holds no NUL byte (the bytes
 *	are looked at once per read, not per line), so that it may go to parser_line_nul_free().
 *
 *	lr_identity() and tail_identity() name the file by its content, not its path: a hash of
 *	its first line, so the same log imported again, or grown, keeps its identity. They are
 *	"" until the first line is complete. lr_prefix() and tail_prefix() are the file's first
 *	bytes (decompressed), as many of the first IDENT_PREFIX (4096) as were read: tail reads
 *	them with the first line and keeps them as it reads on. Two files with the same first
 *	line are the same file only when their prefixes agree as far as both reach.
 *
 *	tail_open() opens a growing file for following, at offset 0; NULL and a message when
 *	it cannot be opened. tail_identity() reads the first line if needed and returns the
 *	identity, "" while the file has no complete line yet. tail_seek() moves to a byte
 *	offset (a committed checkpoint). tail_next() returns 1 and a complete line, 0 when
 *	there is none yet (a partial last line waits for its newline), -1 on a read error, and
 *	-2 when the file was replaced (the path names another inode, once the old one is read
 *	to its end after the replacement was seen, and tail_set_rotate_wait() has passed), -3
 *	when it was truncated below the position or the offset marker (the last 32 bytes read,
 *	compared with the file before every read, and with them the file's first bytes, as
 *	many as tail_prefix() holds) changed: the caller then closes it and
 *	opens the path again as a new source. tail_lag() is the number of bytes in the file
 *	after the position; tail_cut() counts overlong lines cut; tail_position() is the offset
 *	after the last line handed out.
 *
 *	follow_open() follows one log path across rotations (see collector/follow.c for the
 *	rules). The caller's opts->open_source maps a file's content identity to a database
 *	source id and its checkpoint (0 or -1, retried later). follow_next() returns 1 and a
 *	line in out (out->store is 0 for lines before the checkpoint, read only to rebuild the
 *	parser's context), 0 when nothing is to be read now, 2 when a segment (one file) is
 *	finished: out->source_id and out->next name the segment and its final checkpoint,
 *	which the caller commits before it calls again. out->next is always the checkpoint
 *	after the line (or segment); after a line cut for its length it is the line's
 *	start, since the line's end is not known when it is handed out. follow_reopen()
 *	(SIGHUP) closes the live file and opens the path again. follow_lag() is the bytes not yet read (the live file and a
 *	rotated file being finished); follow_cut() counts overlong lines. When a segment
 *	opens with a checkpoint past 0, opts->resume (if set) says where to start: the live
 *	file seeks there, a rotated file's lines before it are passed over unparsed.
 *	follow_bytes(), source_bytes(), tail_bytes() and lr_bytes() count the bytes read from
 *	the logs to find lines since the reader was opened (a restart that seeks reads few).
 *	follow_rotated_name() is 1 for names of rotated files (mail.log.1, mail.log.2.gz,
 *	maillog-20261128), which a glob of live files leaves out.
 *
 *	journal_open() opens the local journal, or the journal files in o->directory, filtered
 *	by o->matches (FIELD=value, OR-ed; default: the syslog identifiers of Postfix, Exim and
 *	Sendmail); NULL and a message when it cannot. journal_next() returns 1 and the next
 *	entry as a syslog-style line (positions are sequence numbers, the source is one per
 *	sequence-number id: see collector/journal.c), 0 when there is none now, -1 to retry.
 *	journal_watch() makes a notify wake when the journal changes.
 *
 *	syslog_open() binds o->listen ("udp://127.0.0.1:514 tcp://[::1]:514"); NULL and a
 *	message when an address is malformed or cannot be bound. syslog_watch() makes a notify
 *	wake when any of its sockets, listening or connected, has input. syslog_next() returns
 *	1 and the next message received as a line (RFC 3164 and RFC 5424, octet counting or
 *	newlines on TCP), 0 when there is none now.
 *	syslog_convert() turns one message into the log-file line format. syslog_frame()
 *	finds the first message of a TCP stream's bytes: 1 with the message at buf + *off,
 *	*mlen bytes long, and *used bytes to consume; 0 when more bytes are needed (the first
 *	*used of them, line ends between counted frames, may be dropped); -1 for a frame over
 *	64 KiB, -2 when an octet-counted stream (*octet, set by the first counted frame) is out
 *	of step. A TCP connection
 *	without a first message for o->first_us (default 10 s), or without a next one for
 *	o->idle_us (default 10 min), is closed; a new connection to a full table evicts the
 *	idlest one (one that never sent a message first). syslog_get_stats() copies the
 *	listener's counters: messages handed out, connections accepted and open, and the
 *	input dropped by kind (enum syslog_drop; syslog_drop_name() is its label).
 *
 *	source_open() is the one way the daemon opens a source of any kind: a file followed
 *	across rotations (follow_open), the journal (journal_open) or a syslog listener
 *	(syslog_open), from the fields of o that the kind uses; with o->notify set, the file's
 *	directory or the listener's sockets wake that notify. NULL and a message when it
 *	cannot. source_next() returns what the kind's next function returns (1 a line, 2 a
 *	segment's end, 0 nothing now, -1 try again later). source_position() is the
 *	checkpoint after the last line or segment handed out. source_reopen() opens a file
 *	source's path again (SIGHUP) and does nothing for the others; source_lag() is the
 *	bytes not yet read (0 where the kind cannot tell), source_cut() the overlong lines cut.
 *	source_syslog_stats() fills out for a syslog listener and returns 0; -1 for the others.
 *
 *	notify_open() makes an inotify instance (without inotify it only sleeps: the caller
 *	polls anyway); notify_watch() watches the directory of path for changes of its files;
 *	notify_add_fd() adds a descriptor to wake on; notify_wait() sleeps until something changes
 *	or timeout_ms passes: 2 (an added descriptor is readable; it stays so until read), 1 (a
 *	watched file changed), 0, or -1 (a signal).
 *
 *	Identity and checkpoint, for every reader: a database source is named by an identity
 *	text and holds one bigint checkpoint. Files: the content identity above (the same as
 *	`mailpulse import` gives, so a rotated or gzipped copy is the same source) and the byte
 *	offset after the last committed line; the row also records the prefix's length and
 *	hash, and the database gives a file whose prefix differs the identity with "/2", "/3"
 *	added (see db_source_open); device and inode and the offset marker are
 *	checked in the running process only. journald: "journal:NAME:SEQNUM_ID" and the next
 *	sequence number (the cursor's s= and i=). syslog: "syslog:NAME:START_US" and a message
 *	count (no resume is possible).
 *
 * OWNERSHIP
 *	The line pointer (also out->line) is valid until the next call on the same reader.
 *	follow, journal and syslog readers copy their options' strings.
 *
 * DIAGNOSTICS
 *	Read errors, cut lines, rotations and truncations are logged (info or warning) once
 *	per event; nothing is logged per line. The syslog listener's warnings about dropped
 *	input are at most one per kind per minute, with the number of the others since.
 */
#ifndef MAILPULSE_COLLECTOR_H
#define MAILPULSE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#define COLLECT_MAX_LINE 65536

struct lineread;
struct tail;
struct follow;
struct notify;

/*
 * The caller's map from a content identity to a database source and its checkpoint: 0, or -1
 * to retry later. prefix (prefix_len bytes; NULL and 0 for a journal or a listener) is the
 * file's first bytes as far as read: a source recorded with other first bytes is another file
 * that starts with the same line, and gets a source of its own.
 */
typedef int (*open_source_fn)(void *arg, const char *name, const char *identity, const char *prefix,
                              size_t prefix_len, int64_t *source_id, int64_t *checkpoint);

struct follow_opts {
    const char *name; /* the source name, for messages */
    /* where to start a segment whose checkpoint is past 0: a byte at or before the
     * checkpoint (lines before it are read only to rebuild the parser), 0 for the start; NULL
     * always starts at 0 */
    int64_t (*resume)(void *arg, int64_t source_id, int64_t checkpoint);
    const char *path;       /* the live log file */
    const char *state_path; /* remembers the live file's identity across restarts; "" none */
    int backfill;           /* on first start read rotated files (mail.log.1, .2.gz, -DATE) */
    int64_t rotate_wait_us; /* keep reading a replaced file this long */
    open_source_fn open_source;
    void *arg;
};

struct follow_line {
    const char *line;
    size_t len;
    int64_t pos;       /* where the line starts */
    int64_t next;      /* the checkpoint after it */
    int64_t source_id; /* the segment's source */
    int store;         /* 0: before the checkpoint, parse only */
    int cut;           /* the line was longer than COLLECT_MAX_LINE and was cut */
    /* the segment's first bytes read so far, as a length and fnv1a64 hash (0 and 0 for a
     * journal or a listener): committed with the checkpoint, so that the source row always
     * knows at least the bytes before its checkpoint (or the first IDENT_PREFIX of them) */
    size_t prefix_len;
    uint64_t prefix_hash;
};

struct lineread *lr_open(const char *path, char *err, size_t errlen);
int lr_next(struct lineread *lr, const char **line, size_t *len, int64_t *pos);
int lr_nul_free(const struct lineread *lr);
const char *lr_identity(struct lineread *lr);
const char *lr_prefix(const struct lineread *lr, size_t *len);
uint64_t lr_bytes(const struct lineread *lr);
void lr_close(struct lineread *lr);

struct tail *tail_open(const char *path, char *err, size_t errlen);
const char *tail_identity(struct tail *t);
const char *tail_prefix(const struct tail *t, size_t *len);
void tail_seek(struct tail *t, int64_t offset);
int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos);
int64_t tail_lag(struct tail *t);
void tail_set_rotate_wait(struct tail *t, int64_t us);
uint64_t tail_cut(const struct tail *t);
int64_t tail_position(const struct tail *t);
uint64_t tail_bytes(const struct tail *t);
void tail_close(struct tail *t);

struct journal_in;
struct syslog_in;
struct buf;

struct journal_opts {
    const char *name;
    const char *directory; /* NULL or "": the local journal */
    char *const *matches;  /* FIELD=value */
    size_t nmatches;       /* 0: the default MTA identifiers */
    open_source_fn open_source;
    void *arg;
};

struct syslog_opts {
    const char *name;
    const char *listen;
    int64_t first_us; /* a TCP connection's first message within this; 0: 10 s */
    int64_t idle_us;  /* and each next one; 0: 10 minutes */
    open_source_fn open_source;
    void *arg;
};

/* Input a syslog listener dropped, by kind. */
enum syslog_drop {
    SYSLOG_OVERSIZED, /* a frame (or its octet count) over 64 KiB; the connection closed */
    SYSLOG_BAD_COUNT, /* an octet count the bytes did not match; the connection closed */
    SYSLOG_MALFORMED, /* an empty message, or a '<' without a valid <PRI> */
    SYSLOG_REFUSED,   /* a connection that could not be accepted (out of descriptors) */
    SYSLOG_EVICTED,   /* a connection closed to make room for a new one */
    SYSLOG_TIMED_OUT, /* a connection closed for want of a message */
    SYSLOG_NDROPS
};

struct syslog_stats {
    uint64_t messages;    /* handed out as lines */
    uint64_t connections; /* TCP connections accepted */
    uint64_t open;        /* TCP connections open now */
    uint64_t drops[SYSLOG_NDROPS];
};

struct follow *follow_open(const struct follow_opts *opts);
int follow_next(struct follow *f, struct follow_line *out);
void follow_reopen(struct follow *f);
int64_t follow_lag(struct follow *f);
uint64_t follow_cut(const struct follow *f);
uint64_t follow_bytes(const struct follow *f);
int follow_rotated_name(const char *path);
void follow_close(struct follow *f);

struct journal_in *journal_open(const struct journal_opts *o, char *err, size_t errlen);
int journal_next(struct journal_in *j, struct follow_line *out);
void journal_watch(struct journal_in *j, struct notify *n);
void journal_close(struct journal_in *j);

struct syslog_in *syslog_open(const struct syslog_opts *o, char *err, size_t errlen);
void syslog_watch(struct syslog_in *s, struct notify *n);
int syslog_next(struct syslog_in *s, struct follow_line *out);
void syslog_convert(struct buf *line, const char *msg, size_t len);
int syslog_frame(const char *buf, size_t len, int *octet, size_t *off, size_t *mlen, size_t *used);
void syslog_get_stats(const struct syslog_in *s, struct syslog_stats *out);
const char *syslog_drop_name(enum syslog_drop kind);
void syslog_close(struct syslog_in *s);

enum source_kind { SOURCE_FILE, SOURCE_JOURNAL, SOURCE_SYSLOG };

struct source;

struct source_opts {
    enum source_kind kind;
    const char *name;       /* the source name: messages, journal and syslog identities */
    const char *path;       /* file: the live log file */
    const char *state_path; /* file: see follow_opts */
    int backfill;           /* file */
    int64_t rotate_wait_us; /* file */
    const char *directory;  /* journal: NULL or "" is the local journal */
    char *const *matches;   /* journal: FIELD=value */
    size_t nmatches;        /* journal */
    const char *listen;     /* syslog: "udp://127.0.0.1:514 tcp://[::1]:514" */
    struct notify *notify;  /* woken when the source may have something; may be NULL */
    open_source_fn open_source;
    int64_t (*resume)(void *arg, int64_t source_id, int64_t checkpoint); /* file: follow_opts */
    void *arg;
};

struct source *source_open(const struct source_opts *o, char *err, size_t errlen);
int source_next(struct source *s, struct follow_line *out);
int64_t source_position(const struct source *s);
enum source_kind source_kind(const struct source *s);
void source_reopen(struct source *s);
int64_t source_lag(struct source *s);
uint64_t source_cut(const struct source *s);
uint64_t source_bytes(const struct source *s);
int source_syslog_stats(const struct source *s, struct syslog_stats *out);
void source_close(struct source *s);

struct notify *notify_open(void);
void notify_watch(struct notify *n, const char *path);
void notify_add_fd(struct notify *n, int fd);
int notify_wait(struct notify *n, int timeout_ms);
void notify_close(struct notify *n);

#endif
