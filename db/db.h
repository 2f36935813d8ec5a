/*
 * NAME
 *	db - PostgreSQL: connection, migrations, batched exactly-once ingest, report queries
 *
 * SYNOPSIS
 *	#include "db/db.h"
 *
 *	struct db *db_open(const char *dsn, char *err, size_t errlen);
 *	void db_close(struct db *db);
 *	int db_ping(struct db *db);
 *
 *	int db_migrate(struct db *db, FILE *out);
 *	int db_status(struct db *db, FILE *out);
 *	int db_schema_ok(struct db *db, char *err, size_t errlen);
 *
 *	int db_source_open(struct db *db, const char *name, const char *identity,
 *			   int64_t *source_id, int64_t *checkpoint);
 *	struct db_batch *db_batch_create(struct db *db);
 *	void db_batch_add(struct db_batch *b, int64_t source_id, int64_t pos,
 *			  const struct event *ev);
 *	size_t db_batch_count(const struct db_batch *b);
 *	int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
 *			    struct db_batch_result *res);
 *	void db_batch_free(struct db_batch *b);
 *
 *	int db_summary(struct db *db, const struct db_range *r, struct db_summary *out);
 *
 * DESCRIPTION
 *	db_open() connects with a libpq connection string ("" means the PG* environment) and
 *	returns NULL with a one-line message in err when it cannot.
 *
 *	db_migrate() applies the numbered migrations compiled in from sql/ that the database has
 *	not seen, each in its own transaction, recording them in schema_migrations; it prints
 *	one line per applied version to out. db_status() prints applied and pending versions.
 *	db_schema_ok() returns 0 when every migration is applied, else -1 and a message that
 *	names "mailpulse db migrate".
 *
 *	A source is one input (a log file) with a stable identity; db_source_open() finds or
 *	creates it and returns its id and its committed checkpoint (byte offset, 0 when new).
 *
 *	A batch collects events with their source position (the byte offset of the line). The
 *	commit sends them in one transaction: COPY into staging tables, INSERT ... SELECT ...
 *	ON CONFLICT DO NOTHING into the real tables (the unique key is source id + position, so
 *	a replay changes nothing), and the source checkpoint. On failure the transaction is
 *	rolled back, the batch keeps its events and -1 is returned, so the caller may retry.
 *	After a successful commit the batch is empty. Strings with bytes PostgreSQL would refuse
 *	(NUL, invalid UTF-8) are repaired and counted in res->repaired.
 *
 *	Several events of one line (the same source id and position, added one after the other)
 *	are numbered 0, 1, ... in the order added, and that number is part of the unique key, so
 *	a line may yield several rows and still replay as duplicates. db_batch_add() copies the
 *	event (repairing the copy, never the caller's) and ignores events that have no table:
 *	smtp events, and deliveries without a status. res->repaired counts the strings repaired
 *	here, plus one for each event the parser had flagged EVF_BAD_BYTES; res is filled only
 *	when the commit succeeds. The checkpoint never moves back (GREATEST of old and new);
 *	source_id 0 commits the events without touching any checkpoint, and an unknown
 *	source_id fails the commit. A connection that went bad is reset once at the start of
 *	the next commit (or query).
 *
 *	db_summary() counts, over [from, to), messages received and delivery attempts by status,
 *	and rejects, optionally for one host ("" for all). from_us <= 0 leaves the range open
 *	at the start and to_us == INT64_MAX at the end. Rows whose time is unknown (NULL) fall
 *	in no range.
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

struct db_batch_result {
    uint64_t inserted;   /* rows that were new */
    uint64_t duplicates; /* rows already present (a replay) */
    uint64_t repaired;   /* strings whose bad bytes were replaced */
};

struct db_range {
    int64_t from_us;        /* inclusive */
    int64_t to_us;          /* exclusive */
    char host[EV_HOST_LEN]; /* "" for all hosts */
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
void db_close(struct db *db);
int db_ping(struct db *db);

int db_migrate(struct db *db, FILE *out);
int db_status(struct db *db, FILE *out);
int db_schema_ok(struct db *db, char *err, size_t errlen);

int db_source_open(struct db *db, const char *name, const char *identity, int64_t *source_id,
                   int64_t *checkpoint);

struct db_batch *db_batch_create(struct db *db);
void db_batch_add(struct db_batch *b, int64_t source_id, int64_t pos, const struct event *ev);
size_t db_batch_count(const struct db_batch *b);
int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                    struct db_batch_result *res);
void db_batch_free(struct db_batch *b);

int db_summary(struct db *db, const struct db_range *r, struct db_summary *out);

#endif
