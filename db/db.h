/*
 * NAME
 *	db - PostgreSQL: connection, migrations, batched exactly-once ingest, report queries
 *
 * SYNOPSIS
 *	#include "db/db.h"
 *
 *	struct db *db_open(const char *dsn, char *err, size_t errlen);
 *	struct db *db_open_reports(const char *dsn, char *err, size_t errlen);
 *	void db_close(struct db *db);
 *	int db_ping(struct db *db);
 *
 *	int db_migrate(struct db *db, FILE *out);
 *	int db_status(struct db *db, FILE *out);
 *	int db_schema_ok(struct db *db, char *err, size_t errlen);
 *
 *	int db_source_open(struct db *db, const char *name, const char *identity,
 *			   const char *prefix, size_t prefix_len, int64_t *source_id,
 *			   int64_t *checkpoint);
 *	struct db_batch *db_batch_create(struct db *db);
 *	void db_batch_add(struct db_batch *b, int64_t source_id, int64_t pos,
 *			  const struct event *ev);
 *	size_t db_batch_count(const struct db_batch *b);
 *	int db_batch_send(struct db_batch *b, struct db_batch_result *res);
 *	bool db_batch_new_months(const struct db_batch *b);
 *	int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
 *			    struct db_batch_result *res);
 *	void db_batch_free(struct db_batch *b);
 *	void db_batch_state(struct db_batch *b, int version, const void *state, size_t len);
 *	void db_batch_prefix(struct db_batch *b, size_t len, uint64_t hash);
 *	int db_state_load(struct db *db, int64_t source_id, int64_t *position, int *version,
 *			  struct buf *out);
 *
 *	struct db_reports *db_reports_create(struct db *db);
 *	void db_reports_add(struct db_reports *b, int64_t source_id,
 *			    const struct bounce_rec *rec, int64_t fallback_us);
 *	size_t db_reports_count(const struct db_reports *b);
 *	int db_reports_commit(struct db_reports *b, struct db_reports_result *res);
 *	void db_reports_free(struct db_reports *b);
 *	int db_reports_relink(struct db *db, int64_t *linked);
 *	int db_dsns(struct db *db, const struct db_dsn_filter *f, int limit,
 *		    int (*fn)(void *, const struct db_dsn_row *), void *arg);
 *	int db_complaints(struct db *db, const struct db_range *r, const char *feedback_type,
 *			  int limit, int (*fn)(void *, const struct db_complaint_row *), void *arg);
 *	int db_suppressions(struct db *db, const struct db_range *r, int limit,
 *			    int (*fn)(void *, const struct db_suppression_row *), void *arg);
 *	int db_report_counts(struct db *db, const struct db_range *r,
 *			     struct db_report_counts *out);
 *	int db_report_counts_for(struct db *db, const struct db_range *r,
 *				 enum db_report_key key, const char *const *names, size_t n,
 *				 int64_t *counts);
 *	int db_complaint_metrics(struct db *db, int (*fn)(void *, const char *feedback_type,
 *				 const char *host, int64_t n), void *arg);
 *
 *	int db_summary(struct db *db, const struct db_range *r, struct db_summary *out);
 *	int db_senders(struct db *db, const struct db_range *r, enum db_sender_axis axis,
 *		       enum db_domain_order order, int limit,
 *		       int (*fn)(void *arg, const struct db_sender_row *row), void *arg);
 *	const char *db_sender_axis_name(enum db_sender_axis axis);
 *	int db_sender_axis_parse(const char *s, enum db_sender_axis *out);
 *
 *	int db_ensure_partitions(struct db *db);
 *	int db_retention(struct db *db, int days, int *dropped);
 *	int db_rebuild_rollups(struct db *db, int64_t *rows);
 *	int db_compact(struct db *db, int days, struct db_compaction *out);
 *	int db_summarize(struct db *db, int64_t *ranges);
 *	int db_roll_tenmin(struct db *db, int64_t budget_us, int64_t *through_us);
 *	 *	enum db_state db_state(struct db *db);
 *	void db_quiet(struct db *db, int quiet);
 *	const char *db_error(const struct db *db);
 *	int db_transient(const struct db *db);
 *	void db_async_commit(struct db *db, int on);
 *	void db_partitions_ahead(struct db *db, int on);
 *
 *	int db_alert_gather(struct db *db, enum db_alert_source src, int64_t now_us,
 *			    int window_min, int baseline_days,
 *			    int (*fn)(void *arg, const struct db_alert_row *r), void *arg);
 *	int db_alert_now(struct db *db, int64_t *now_us);
 *	int db_alert_open(struct db *db, const char *rule, const char *subject,
 *			  const char *severity, int64_t started_us, const char *numbers,
 *			  const char *link, int64_t *id);
 *	int db_alert_update(struct db *db, int64_t id, const char *severity,
 *			    const char *numbers);
 *	int db_alert_close(struct db *db, int64_t id, int64_t ended_us,
 *			   const char *end_numbers);
 *	int db_alert_list(struct db *db, int active_only, int limit,
 *			  int (*fn)(void *arg, const struct db_alert *a), void *arg);
 *
 * DESCRIPTION
 *	db_open() connects with a libpq connection string ("" means the PG* environment) and
 *	returns NULL with a one-line message in err when it cannot. db_open_reports() does the
 *	same for a connection that reads reports: its sessions plan without parallel workers
 *	(SET max_parallel_workers_per_gather = 0, again after each reconnect).
 *
 *	db_migrate() applies the numbered migrations compiled in from sql/ that the database has
 *	not seen, each in its own transaction, recording them in schema_migrations; it prints
 *	one line per applied version to out. db_status() prints applied and pending versions.
 *	db_schema_ok() returns 0 when every migration is applied, else -1 and a message that
 *	names "mailpulse db migrate".
 *
 *	A source is one input (a log file) with a stable identity; db_source_open() finds or
 *	creates it and returns its id and its committed checkpoint (byte offset, 0 when new).
 *	For a file, prefix is its first bytes as far as read (the reader keeps up to 4096):
 *	a row records the length and fnv1a64 hash of the first bytes it was seen with, and
 *	of the identity's rows ("ID", "ID/2", "ID/3", ...) the file gets the oldest one whose
 *	recorded bytes it starts with (a row from before sql/014 has none and matches by its
 *	identity), else a new row with the next suffix. So two files that start with the same
 *	line (an empty one, a banner) but go on differently are two sources. The look-up and
 *	insert are repeated when another writer adds the same row meanwhile. prefix NULL: the
 *	identity alone (a journal, a listener). db_batch_prefix() hands the next commit a
 *	longer prefix than the row has (length and hash), stored with the checkpoint, so that
 *	the row always knows the bytes before its checkpoint.
 *
 *	A batch collects events with their source position (the byte offset of the line). The
 *	commit sends them in one transaction: COPY into the tables (through staging tables and
 *	INSERT ... ON CONFLICT DO NOTHING when the unique key, source id + position, finds a row
 *	already there, so a replay changes nothing), the rollups, and the source checkpoint.
 *	On failure the transaction is
 *	rolled back, the batch keeps its events and -1 is returned, so the caller may retry.
 *	After a successful commit the batch is empty. Strings with bytes PostgreSQL would refuse
 *	(NUL, invalid UTF-8) are repaired and counted in res->repaired.
 *
 *	db_batch_send() stores the batch's events in the transaction open on the batch's
 *	connection (it begins one when there is none) without committing, and empties the batch
 *	for reuse; the next db_batch_commit() through that connection, with any batch, commits
 *	them with its own events and checkpoint. The rollups of all the events the transaction
 *	stored are added up in memory and written once, at the commit, so a transaction of
 *	several batches updates each rollup row once instead of once per batch. res counts the
 *	batch's rows, and holds only when the commit follows. When a send or the commit fails, the
 *	whole transaction is rolled back, the events of the earlier sends included: they are gone
 *	from memory, so their writer must read them again from its last checkpoint.
 *
 *	Several events of one line (the same source id and position, added one after the other)
 *	are numbered 0, 1, ... in the order added, and that number is part of the unique key, so
 *	a line may yield several rows and still replay as duplicates. db_batch_add() copies the
 *	event (repairing the copy, never the caller's) and ignores deliveries without a status
 *	(smtp events go to smtp_events). res->repaired counts the strings repaired here, plus
 *	one for each event the parser had flagged EVF_BAD_BYTES; res is filled only when the
 *	commit succeeds. The checkpoint never moves back (GREATEST of old and new); source_id 0
 *	commits the events without touching any checkpoint, and an unknown source_id fails the
 *	commit. A connection that went bad is reset once at the start of the next commit (or
 *	query). The unique key is (source id, position, number, time): a replayed line parses
 *	to the same time, so it still meets its first copy.
 *
 *	db_batch_state() attaches a parser state (parser_state_save()) to the next commit: it is
 *	stored for the commit's source, at the commit's checkpoint, in the same transaction,
 *	replacing the one before; the batch borrows the bytes until that commit succeeds, then
 *	forgets them. db_state_load() reads a source's state into out with the position it
 *	belongs to: 1, 0 when there is none, -1 when the query fails (logged).
 *
 *	db_summary() counts, over [from, to), messages received and delivery attempts by status,
 *	and rejects, optionally for one host ("" for all). from_us <= 0 leaves the range open
 *	at the start and to_us == INT64_MAX at the end. Rows whose time is unknown (NULL) fall
 *	in no range. Like every aggregate it reads the hourly rollups for the whole hours of the
 *	range and the events for the partial hours at its ends, so any range is exact.
 *
 *	Storage (sql/002, sql/003): the event tables are partitioned by month of their time; a batch
 *	commit creates the partitions its events need (and, once an hour, this month's and the
 *	next), and db_ensure_partitions() does the latter at startup. db_retention() drops the
 *	partitions that ended more than days ago (rollups stay) and says how many; db_compact()
 *	rebuilds, once, the indexes of the partitions whose month ended more than days ago
 *	(sql/017: keys that came in no order leave their pages partly empty). The messages and
 *	rollups_domain_hour find a time range through BRIN indexes (sql/013, sql/021; minmax-multi
 *	since sql/024), which scan a page range in full until it is summarized: db_summarize()
 *	summarizes the new ranges of every BRIN index of the schema (skipping an index another
 *	session holds) and says how many; a batch commit does it when the last was a minute ago
 *	or more, and an import at its end. db_roll_tenmin() adds up the ten-minute buckets of the
 *	per-key rollups (sql/031) that ended ten minutes ago or more and were not added up yet,
 *	from the events, a span at a time, for budget_us at most (0: until none is left; one span
 *	at least), and gives the time before which every bucket is added up (INT64_MIN: none);
 *	-1 on error, -2 when the server refuses the writing for good (no right to, a read-only
 *	standby). Events stored later for such a bucket are added to it by their commit.
 *	Every commit
 *	adds what it really inserted to the hourly rollups (rollups: per host, sender domain,
 *	kind, reason and DSN; rollups_host: without the sender domain, for reports that filter
 *	on no domain; rollups_domain_hour: attempts per recipient domain and host) in the same
 *	transaction;
 *	db_rebuild_rollups() recomputes them from the events that are left (hours older than the
 *	oldest event keep their rollups) and gives the number of rollup rows. smtp events (from
 *	the sniffer) are stored in smtp_events.
 *
 *	Bounce messages (sql/007, db/bounces.c): a db_reports batch holds DSN and complaint
 *	records (bounce/bounce.h) and db_reports_commit() stores them in one transaction, keyed
 *	by the message's hash and the record's number in it, so a message read twice stores
 *	nothing the second time (res->duplicates). Each DSN is linked to the delivery of the same
 *	Message-ID and recipient when the log has it; the rollups and the suppression list are
 *	updated in the same transaction. On failure the batch keeps its records (retry it).
 *	fallback_us is the record's time when the report states none (the file's mtime).
 *	db_reports_relink() links the DSNs of the week up to the newest DSN that found no
 *	delivery when they were stored to deliveries stored since, moving their rollup counts
 *	(*linked: how many).
 *	db_complaints() lists the complaints of a range (sender domain and host filters from r,
 *	feedback_type "" any), newest first; db_suppressions() the suppression list entries
 *	whose last failure is in the range; db_report_counts() counts complaints and DSNs by
 *	link; db_complaint_metrics() gives all-time complaints per feedback type and host.
 *	db_dsns() lists stored DSN recipients (for /bounces and the message trail).
 *	db_report_counts_for() counts per key of names[] over the range: DB_RK_ASYNC_DOMAIN the
 *	failed DSNs the log did not show (async and unseen) per recipient domain,
 *	DB_RK_COMPLAINT_SENDER the complaints per sender domain.
 *	limit 0 means no limit.
 *
 *	db_state() says whether the server answers: DB_UP; DB_RESET when the connection had
 *	broken (a restart, pg_terminate_backend) and has just been reset, so whatever was in
 *	flight on it was lost; DB_DOWN when one reset attempt failed (it waits at most
 *	connect_timeout, 5 s). A writer that sees db_batch_commit() fail keeps its batch and
 *	positions, stops reading, and retries with backoff (as cmd_import in mailpulse.c does):
 *	the batch is sent again whole, and rows an earlier attempt did commit are absorbed as
 *	duplicates. db_quiet() turns the warnings of db/ into debug messages while such a loop
 *	retries, so that an outage costs one warning (the caller's), not one per attempt.
 *	db_error() is the text of the last warning, logged or not ("what: server message").
 *	db_transient() is 1 when that failure may pass on a plain retry (a deadlock, a
 *	serialization failure, a lock timeout, a shutdown, a broken connection), 0 when it is
 *	about the data or the schema and would fail again.
 *
 *	db_alert_gather() sums one kind of subject's rollups over the current window (the
 *	hourly buckets from the one holding now - window_min up to now) and the baseline
 *	(baseline_days back from now up to the current window), calling fn per subject; it
 *	returns 1 without calling fn when the rollup table it needs does not exist (a schema
 *	without that migration). db_alert_now() is the end of the newest stored minute, the
 *	"now" of a replayed log (0 when nothing is stored). db_alert_open() stores an active
 *	alert (or refreshes the active one of that rule and subject) and returns its id;
 *	db_alert_update() and db_alert_close() change it. db_alert_list() calls fn for the
 *	active alerts, then (unless active_only) the ended ones, newest first.
 *
 *	db_async_commit() makes batch commits use synchronous_commit = off: faster, and still
 *	exactly once (rows and checkpoint commit together), but a server crash may take back
 *	the last commits after they were acknowledged. A writer that turns it on must, after
 *	every outage, read the checkpoint again (db_source_open) and go back to it when it is
 *	behind what the writer saw committed. mailpulse import does; the daemon leaves it off.
 *
 *	db_partitions_ahead() (on by default) makes batch commits also ensure, once an hour,
 *	the partitions of this month and the next, so that live events find theirs ready. A
 *	writer of old events (mailpulse import) turns it off: its batches make only the
 *	partitions of the months their events fall in.
 *
 *	A batch sent as the first of a transaction has its partitions made before BEGIN, in a
 *	transaction of their own: creating a partition locks its parent table against every
 *	reader until the creating transaction ends. A later batch of an open transaction makes
 *	those it lacks inside it. db_batch_new_months() says whether a batch has events in a
 *	month this connection has not made or found partitions for outside a transaction, so
 *	that a writer can commit the open transaction before sending it.
 *
 * OWNERSHIP
 *	struct db and struct db_batch belong to the caller that created them; a batch borrows
 *	its db and must be freed before it. A struct db is used by one thread at a time.
 *
 * DIAGNOSTICS
 *	Functions return 0 on success and -1 on failure, after logging one warning with the
 *	server's message. db_ping() returns 0 when the server answers.
 */
#ifndef MAILPULSE_DB_H
#define MAILPULSE_DB_H

#include <stdint.h>
#include <stdio.h>

#include "parser/event.h"

struct db;
struct db_batch;

struct bounce_rec;
struct db_reports;

struct db_reports_result {
    uint64_t dsn;        /* DSN recipients stored */
    uint64_t complaints; /* complaint reports stored */
    uint64_t duplicates; /* records already stored (the same message read again) */
};

struct db_complaint_row {
    int64_t time_us;
    char feedback_type[32];
    char recipient[EV_ADDR_LEN];
    char sender_domain[EV_ADDR_LEN];
    char source_ip[64];
    char reporting_mta[EV_RELAY_LEN];
    char user_agent[256];
    char message_id[EV_MSGID_LEN];
    char host[EV_HOST_LEN]; /* the host that sent the message, "" when not matched */
    char queue_id[EV_QID_LEN];
};

struct db_suppression_row {
    char recipient[EV_ADDR_LEN];
    char sender_domain[EV_ADDR_LEN];
    int64_t last_us;
    char origin[12]; /* log, dsn, complaint */
    char reason[EV_REASON_LEN];
    char dsn[EV_DSN_LEN];
    char reply[EV_REPLY_LEN];
    int64_t n; /* hard failures and complaints counted for it */
};

struct db_dsn_row {
    int64_t time_us;
    char recipient[EV_ADDR_LEN];
    char action[16];
    char dsn[EV_DSN_LEN];
    char reason[EV_REASON_LEN];
    int hard;
    char diagnostic[EV_REPLY_LEN];
    char link[12]; /* logged, async, unseen, delayed */
    char host[EV_HOST_LEN];
    char queue_id[EV_QID_LEN];
    char message_id[EV_MSGID_LEN];
    char remote_mta[EV_RELAY_LEN];
    char sender_domain[EV_ADDR_LEN];
};

enum db_report_key { DB_RK_ASYNC_DOMAIN, DB_RK_COMPLAINT_SENDER };

struct db_report_counts {
    int64_t complaints;
    int64_t async_bounced; /* failed DSNs the log did not show as failed */
    int64_t dsn_logged;    /* failed DSNs for failures the log showed */
    int64_t dsn_delayed;   /* DSNs that are not failures (delayed, relayed, ...) */
};

struct db_batch_result {
    uint64_t inserted;   /* rows that were new */
    uint64_t duplicates; /* rows already present (a replay) */
    uint64_t repaired;   /* strings whose bad bytes were replaced */
};

struct db_range {
    int64_t from_us;                 /* inclusive */
    int64_t to_us;                   /* exclusive */
    char host[EV_HOST_LEN];          /* "" for all hosts */
    char sender_domain[EV_ADDR_LEN]; /* "" for all */
};

/* What db_dsns() selects; NULL or "" strings select everything. */
struct db_dsn_filter {
    struct db_range range; /* time, sender domain, host */
    const char *domain;    /* recipient domain */
    const char *reason;
    const char *message_id;
    const char *recipient;
    int async_only; /* only failures the log did not show */
};

struct db_summary {
    int64_t received;
    int64_t sent;
    int64_t deferred;
    int64_t bounced;
    int64_t expired;
    int64_t rejected;
};

struct db *db_open(const char *dsn, char *err, size_t errlen);
struct db *db_open_reports(const char *dsn, char *err, size_t errlen);
void db_close(struct db *db);
int db_ping(struct db *db);

int db_migrate(struct db *db, FILE *out);
int db_status(struct db *db, FILE *out);
int db_schema_ok(struct db *db, char *err, size_t errlen);

int db_source_open(struct db *db, const char *name, const char *identity, const char *prefix,
                   size_t prefix_len, int64_t *source_id, int64_t *checkpoint);

struct db_batch *db_batch_create(struct db *db);
void db_batch_add(struct db_batch *b, int64_t source_id, int64_t pos, const struct event *ev);
size_t db_batch_count(const struct db_batch *b);
int db_batch_send(struct db_batch *b, struct db_batch_result *res);
bool db_batch_new_months(const struct db_batch *b);
int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                    struct db_batch_result *res);
void db_batch_free(struct db_batch *b);
struct buf;
void db_batch_state(struct db_batch *b, int version, const void *state, size_t len);
void db_batch_prefix(struct db_batch *b, size_t len, uint64_t hash);
int db_state_load(struct db *db, int64_t source_id, int64_t *position, int *version,
                  struct buf *out);

struct db_reports *db_reports_create(struct db *db);
void db_reports_add(struct db_reports *b, int64_t source_id, const struct bounce_rec *rec,
                    int64_t fallback_us);
size_t db_reports_count(const struct db_reports *b);
int db_reports_commit(struct db_reports *b, struct db_reports_result *res);
void db_reports_free(struct db_reports *b);
int db_reports_relink(struct db *db, int64_t *linked);
int db_dsns(struct db *db, const struct db_dsn_filter *f, int limit,
            int (*fn)(void *arg, const struct db_dsn_row *row), void *arg);
int db_complaints(struct db *db, const struct db_range *r, const char *feedback_type, int limit,
                  int (*fn)(void *arg, const struct db_complaint_row *row), void *arg);
int db_suppressions(struct db *db, const struct db_range *r, int limit,
                    int (*fn)(void *arg, const struct db_suppression_row *row), void *arg);
int db_report_counts(struct db *db, const struct db_range *r, struct db_report_counts *out);
int db_report_counts_for(struct db *db, const struct db_range *r, enum db_report_key key,
                         const char *const *names, size_t n, int64_t *counts);
int db_complaint_metrics(struct db *db,
                         int (*fn)(void *arg, const char *feedback_type, const char *host,
                                   int64_t n),
                         void *arg);

int db_summary(struct db *db, const struct db_range *r, struct db_summary *out);

enum db_state { DB_UP, DB_DOWN, DB_RESET };

int db_ensure_partitions(struct db *db);
int db_retention(struct db *db, int days, int *dropped);
int db_rebuild_rollups(struct db *db, int64_t *rows);
int db_summarize(struct db *db, int64_t *ranges);
int db_roll_tenmin(struct db *db, int64_t budget_us, int64_t *through_us);

/* What db_compact() did. */
struct db_compaction {
    int busy;             /* another process was compacting: nothing done */
    int leftovers;        /* invalid indexes of interrupted rebuilds dropped */
    int partitions;       /* partitions whose indexes were rebuilt */
    int64_t bytes_before; /* their indexes' size before and after */
    int64_t bytes_after;
};

int db_compact(struct db *db, int days, struct db_compaction *out);
enum db_state db_state(struct db *db);
void db_quiet(struct db *db, int quiet);
const char *db_error(const struct db *db);
int db_transient(const struct db *db);
void db_async_commit(struct db *db, int on);
void db_partitions_ahead(struct db *db, int on);

/*
 * Read side: the queries behind docs/api.md, for web/ and `mailpulse report`.
 *
 * Every query takes a struct db_query (the range plus optional filters; "" and ST_NONE mean
 * "any"), runs with PQexecParams only, and hands each row to a callback that returns 0 to
 * go on or -1 to stop early (then the query returns 0 too). Aggregates (summary,
 * timeseries, domains, reasons, metric counts) read the rollup tables where those answer;
 * lists (bounces, message trail, export) read the attempt tables.
 *
 * Notes for callers: db_timeseries() returns only buckets that
 * have rows (sparse, oldest first; fill gaps yourself), bucketed in UTC. The status filter
 * (q->status) and the recipient-domain, reason and dsn filters leave out "received" (messages
 * have none of these); "rejected" is counted with the recipient-domain, reason and dsn
 * filters but not with a status filter. db_reasons() counts delivery attempts only (not
 * rejects), non-sent unless q->status names one. db_message_trail() ignores the range: a
 * queue id names every message that used it, on every host. db_metric_counts() leaves out
 * rows whose time is unknown.
 *
 * db_domains() orders by volume (every domain) or by a rate; a rate ordering lists only the
 * domains with at least a thousandth of the delivery attempts counted (rounded up), so that a
 * domain with a handful of attempts does not head it. Without filters and over a closed
 * range it reads a few candidates and proves the rest cannot rank (db/domains.c); the
 * answer is the same either way.
 *
 * db_providers() counts delivery attempts per mailbox provider (db/providers.c: whole hours
 * from rollups_provider_hour, the edges from the events), most attempts first. db_blocks()
 * lists, per host x block rule x provider, the first and last time a reply named the block,
 * how many did, and up to DB_BLOCK_EXAMPLES distinct replies, most recent first. Both honour
 * the range's host and ignore its sender domain. db_provider_series() is db_providers() per
 * bucket (minute, hour or day, UTC): one call of fn per bucket and provider that has
 * attempts, oldest bucket first, then by provider name; minute buckets are read from the
 * events alone (the rollup is hourly).
 *
 * db_senders() counts attempts, rejects and the top reasons per sender domain, SASL user,
 * client IP or sending host (db/senders.c: whole hours from rollups_sender_hour or
 * rollups_host, the edges from the events), ordered as db_domains() orders; it honours the
 * range's host. db_sender_axis_name() and db_sender_axis_parse() name the axes.
 *
 * db_bounces() lists non-sent delivery attempts (status ST_NONE: deferred, bounced and
 * expired; or one status), newest first, at most limit rows. cursor_in is "" for the first
 * page or the cursor_out of the previous page; cursor_out (DB_CURSOR_LEN) is "" after the
 * last page. A cursor is opaque text to clients; a malformed one gives -1 with err set.
 *
 * db_message_trail() gives every stored event (message, delivery, reject, bounce_notice) of
 * the messages matching one key (queue id, message-id or recipient; the first non-empty),
 * oldest first, at most limit events.
 *
 * db_export_open() starts a server-side cursor (a transaction of its own on db, so give it
 * a connection of its own) over deliveries or bounces in the range; db_export_next() returns
 * 1 and the next event, 0 at the end, -1 on error; rows come in batches, so memory stays flat
 * however many there are. db_export_close() ends the transaction and frees the cursor.
 * The complaints and suppressions exports (range, host and sender domain filters) are read
 * with db_export_next_row() instead: 1 and the next row's values (NULL for none, valid until
 * the next call) in the columns db_export_columns() names, 0 at the end, -1 on error.
 *
 * db_wire() reports what the sniffer saw on the wire (smtp_events) in the range,
 * optionally for one host; the other filters of q do not apply. A session is one connect
 * event (a greeting seen, or an implicit-TLS session); greeting_rejected counts greetings
 * with a 4xx or 5xx code. RCPT and DATA replies count as accepted (2xx, 3xx) or rejected
 * (4xx and 5xx apart); steps whose reply was not seen count in neither. A session used TLS
 * when any event of its TCP connection (host, client ip:port, server ip:port) says tls (a
 * 220 to STARTTLS, or implicit TLS); tls_share is tls_sessions / sessions (0 without
 * sessions). out gets the totals; fn gets the same counts per source IP (the client's IP
 * without its port: the side that sent the mail, our own address for outbound mail), at
 * most limit rows, most sessions first (then by IP). Rows are read from the event table
 * (no rollup): the range should stay within what the partitions keep.
 */
#define DB_CURSOR_LEN 64

enum db_bucket { DB_BUCKET_MINUTE, DB_BUCKET_HOUR, DB_BUCKET_DAY };
enum db_domain_order { DB_ORDER_VOLUME, DB_ORDER_BOUNCE_RATE, DB_ORDER_DEFERRAL_RATE };
enum db_export_what {
    DB_EXPORT_DELIVERIES,
    DB_EXPORT_BOUNCES,
    DB_EXPORT_COMPLAINTS,  /* rows of named text columns: db_export_next_row() */
    DB_EXPORT_SUPPRESSIONS /* likewise */
};

struct db_query {
    struct db_range range;
    char domain[EV_ADDR_LEN]; /* recipient domain */
    char reason[EV_REASON_LEN];
    char dsn[EV_DSN_LEN];
    enum event_status status;      /* ST_NONE: any */
    char provider[32];             /* mailbox provider (db_bounces(), exports); "" any */
    char sasl_user[EV_SASL_LEN];   /* db_bounces(): the submitter's SASL user; "" any */
    char client_ip[EV_CLIENT_LEN]; /* db_bounces(): the submitting client's IP; "" any */
    char queue_id[EV_QID_LEN];     /* message trail keys */
    char message_id[EV_MSGID_LEN];
    char recipient[EV_ADDR_LEN];
};

struct db_point { /* one timeseries bucket */
    int64_t bucket_us;
    int64_t received, sent, deferred, bounced, expired, rejected;
};

struct db_domain_row {
    char domain[EV_ADDR_LEN];
    int64_t sent, deferred, bounced, expired;
    double bounce_rate;   /* bounced / attempts */
    double deferral_rate; /* deferred / attempts */
};

enum db_sender_axis { DB_AXIS_SENDER_DOMAIN, DB_AXIS_SASL_USER, DB_AXIS_CLIENT_IP, DB_AXIS_HOST };

#define DB_SENDER_REASONS 3

struct db_sender_row { /* db_senders(): one sender domain, SASL user, client IP or host */
    char key[EV_ADDR_LEN];
    int64_t sent, deferred, bounced, expired, rejected;
    int nreasons;
    struct {
        char reason[EV_REASON_LEN];
        int64_t n;
    } reasons[DB_SENDER_REASONS]; /* most frequent first */
};

struct db_provider_row { /* db_providers(): one mailbox provider */
    char provider[32];
    int64_t sent, deferred, bounced, expired;
};

#define DB_BLOCK_EXAMPLES 3

struct db_provider_point { /* db_provider_series(): one bucket x provider */
    int64_t bucket_us;
    char provider[32];
    int64_t sent, deferred, bounced, expired;
};

struct db_block_row { /* db_blocks(): one sending host x block rule x provider */
    char host[EV_HOST_LEN];
    char block[64];
    char provider[32];
    int64_t first_us, last_us, n;
    int nexamples;
    char examples[DB_BLOCK_EXAMPLES][EV_REPLY_LEN];
};

struct db_reason_row {
    char reason[EV_REASON_LEN];
    char dsn[EV_DSN_LEN];
    enum event_status status;
    int64_t count;
    char example[EV_REPLY_LEN]; /* one reply text with this reason and code */
};

struct db_metric_row { /* for /metrics: all-time counts, bounded labels */
    char host[EV_HOST_LEN];
    enum event_type type;     /* EV_DELIVERY or EV_REJECT */
    enum event_status status; /* deliveries */
    char reason[EV_REASON_LEN];
    char dsn_class[4]; /* "2", "4", "5" or "" */
    int64_t count;
};

struct db_wire { /* wire-level outcomes (db_wire) */
    int64_t sessions;
    int64_t greeting_rejected;
    int64_t rcpt_accepted, rcpt_rejected_4xx, rcpt_rejected_5xx;
    int64_t data_accepted, data_rejected_4xx, data_rejected_5xx;
    int64_t tls_sessions;
    double tls_share; /* tls_sessions / sessions */
};

#define DB_IP_LEN 64

struct db_wire_ip {
    char ip[DB_IP_LEN]; /* the client's IP, no port; "" when unknown */
    struct db_wire w;
};

struct db_export;

int db_timeseries(struct db *db, const struct db_query *q, enum db_bucket bucket,
                  int (*fn)(void *arg, const struct db_point *p), void *arg);
int db_domains(struct db *db, const struct db_query *q, enum db_domain_order order, int limit,
               int (*fn)(void *arg, const struct db_domain_row *r), void *arg);
int db_providers(struct db *db, const struct db_range *r, int limit,
                 int (*fn)(void *arg, const struct db_provider_row *row), void *arg);
int db_provider_series(struct db *db, const struct db_range *r, enum db_bucket bucket,
                       int (*fn)(void *arg, const struct db_provider_point *p), void *arg);
int db_blocks(struct db *db, const struct db_range *r, int limit,
              int (*fn)(void *arg, const struct db_block_row *row), void *arg);
const char *db_sender_axis_name(enum db_sender_axis axis);
int db_sender_axis_parse(const char *s, enum db_sender_axis *out);
int db_senders(struct db *db, const struct db_range *r, enum db_sender_axis axis,
               enum db_domain_order order, int limit,
               int (*fn)(void *arg, const struct db_sender_row *row), void *arg);
int db_reasons(struct db *db, const struct db_query *q, int limit,
               int (*fn)(void *arg, const struct db_reason_row *r), void *arg);
int db_bounces(struct db *db, const struct db_query *q, int limit, const char *cursor_in,
               char *cursor_out, int (*fn)(void *arg, const struct event *ev), void *arg, char *err,
               size_t errlen);
int db_message_trail(struct db *db, const struct db_query *q, int limit,
                     int (*fn)(void *arg, const struct event *ev), void *arg);
int db_metric_counts(struct db *db, int (*fn)(void *arg, const struct db_metric_row *r), void *arg);
int db_wire(struct db *db, const struct db_query *q, int limit, struct db_wire *out,
            int (*fn)(void *arg, const struct db_wire_ip *r), void *arg);

/* Alerts (db/alerts.c): the numbers the rules read, and the alerts table. */
enum db_alert_source {
    DB_ALERT_PROVIDER,  /* rollups_provider_hour by provider */
    DB_ALERT_DOMAIN,    /* rollups by recipient domain */
    DB_ALERT_HOST,      /* rollups_host by host */
    DB_ALERT_BLOCK,     /* rollups_block_hour by "host/block"; extra: the provider */
    DB_ALERT_COMPLAINT, /* rollups_complaint_hour by sender domain; n: sent there */
    DB_ALERT_NSOURCES
};

struct db_alert_row {
    char subject[256];
    char extra[128];
    int64_t cur[4];  /* the current window: attempts, deferred, bounced, expired */
    int64_t base[4]; /* the baseline window, the same four */
    double base_hours;
};

struct db_alert {
    int64_t id;
    char rule[32], subject[256], severity[16];
    int64_t started_us, ended_us; /* ended_us 0: active */
    char numbers[512];            /* a JSON object: the last firing evaluation's */
    char end_numbers[512];        /* the ending evaluation's; "" while active or unknown */
    char link[512];
};

int db_alert_gather(struct db *db, enum db_alert_source src, int64_t now_us, int window_min,
                    int baseline_days, int (*fn)(void *arg, const struct db_alert_row *r),
                    void *arg);
int db_alert_now(struct db *db, int64_t *now_us);
int db_alert_open(struct db *db, const char *rule, const char *subject, const char *severity,
                  int64_t started_us, const char *numbers, const char *link, int64_t *id);
int db_alert_update(struct db *db, int64_t id, const char *severity, const char *numbers);
int db_alert_close(struct db *db, int64_t id, int64_t ended_us, const char *end_numbers);
int db_alert_list(struct db *db, int active_only, int limit,
                  int (*fn)(void *arg, const struct db_alert *a), void *arg);

struct db_export *db_export_open(struct db *db, enum db_export_what what, const struct db_query *q);
int db_export_next(struct db_export *x, struct event *ev);
int db_export_columns(const struct db_export *x, const char *const **names);
int db_export_next_row(struct db_export *x, const char **vals, int cap);
void db_export_close(struct db_export *x);

#endif
