/*
 * migrate - apply the compiled-in sql/NNN_name.sql migrations, report and check the schema
 *
 * Applied versions are rows of schema_migrations (version, name, applied_at). Every step runs
 * in its own transaction that first takes a transaction-scoped advisory lock, so that two
 * migrators started at once serialize instead of racing: the second one finds the version
 * recorded and skips it. A migration and its schema_migrations row commit together, so a
 * sql/ file must not contain BEGIN/COMMIT itself (nor CREATE INDEX CONCURRENTLY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "db/migrations.h"
#include "util/util.h"

/* Any constant works; this one spells "mailpulse" loosely and is unlikely to collide. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7236051969)"

static const char create_table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       " version integer PRIMARY KEY,"
                                       " name text NOT NULL,"
                                       " applied_at timestamptz NOT NULL DEFAULT now())";

/* exec_lock - take the migration lock inside the open transaction */
static int exec_lock(struct db *db)
{
    PGresult *res = db_exec(db, MIGRATE_LOCK, PGRES_TUPLES_OK, "migration lock");

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* version_applied - 1 when version is recorded, 0 when not, -1 on error */
static int version_applied(struct db *db, int version)
{
    char vbuf[16];
    const char *params[1] = {vbuf};
    PGresult *res;
    int rc = -1;

    snprintf(vbuf, sizeof(vbuf), "%d", version);
    res = PQexecParams(db->conn, "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1,
                       NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_warn_res(db, res, "reading schema_migrations");
        goto out;
    }
    rc = PQntuples(res) > 0;
out:
    PQclear(res);
    return rc;
}

/* apply_one - apply migration m unless it is recorded; 1 applied, 0 skipped, -1 error */
static int apply_one(struct db *db, const struct migration *m)
{
    char vbuf[16], what[128];
    const char *params[2] = {vbuf, m->name};
    PGresult *res = NULL;
    int rc = -1, have;

    snprintf(vbuf, sizeof(vbuf), "%d", m->version);
    snprintf(what, sizeof(what), "migration %03d_%s", m->version, m->name);
    if (db_exec_cmd(db, "BEGIN", "BEGIN") < 0 || exec_lock(db) < 0)
        goto out;
    have = version_applied(db, m->version);
    if (have < 0)
        goto out;
    if (have) {
        rc = 0;
        goto out;
    }
    if (db_exec_cmd(db, m->sql, what) < 0)
        goto out;
    res = PQexecParams(db->conn,
                       "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_warn_res(db, res, "recording a migration");
        goto out;
    }
    if (db_exec_cmd(db, "COMMIT", "COMMIT") < 0)
        goto out;
    rc = 1;
out:
    PQclear(res);
    db_rollback(db); /* no-op after COMMIT; ends the read-only transaction of a skip */
    return rc;
}

/* db_migrate - apply every pending migration in order, one line per applied version */
int db_migrate(struct db *db, FILE *out)
{
    int i, r;

    if (db_reconnect(db) < 0)
        return -1;
    if (db_exec_cmd(db, "BEGIN", "BEGIN") < 0 || exec_lock(db) < 0 ||
        db_exec_cmd(db, create_table_sql, "creating schema_migrations") < 0 ||
        db_exec_cmd(db, "COMMIT", "COMMIT") < 0) {
        db_rollback(db);
        return -1;
    }
    for (i = 0; i < migrations_count; i++) {
        r = apply_one(db, &migrations[i]);
        if (r < 0)
            return -1;
        if (r > 0 && out != NULL)
            fprintf(out, "applied %03d_%s\n", migrations[i].version, migrations[i].name);
    }
    return 0;
}

/*
 * read_applied - the rows of schema_migrations ordered by version, or a result with no rows
 * when the table does not exist yet; NULL on error.
 */
static PGresult *read_applied(struct db *db)
{
    PGresult *res;
    int exists;

    if (db_reconnect(db) < 0)
        return NULL;
    res = db_exec(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", PGRES_TUPLES_OK,
                  "looking for schema_migrations");
    if (res == NULL)
        return NULL;
    exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists)
        return db_exec(db, "SELECT NULL::integer, NULL::text, NULL::text WHERE false",
                       PGRES_TUPLES_OK, "reading schema_migrations");
    return db_exec(db,
                   "SELECT version, name,"
                   " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                   " FROM schema_migrations ORDER BY version",
                   PGRES_TUPLES_OK, "reading schema_migrations");
}

/* row_version - the version in row i of a read_applied() result */
static int row_version(const PGresult *res, int i)
{
    return (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
}

/* find_row - the row of res holding version, or -1 */
static int find_row(const PGresult *res, int version)
{
    int i;

    for (i = 0; i < PQntuples(res); i++)
        if (row_version(res, i) == version)
            return i;
    return -1;
}

/* db_status - print each known version as applied (with its time) or pending */
int db_status(struct db *db, FILE *out)
{
    PGresult *res = read_applied(db);
    int i, row;

    if (res == NULL)
        return -1;
    for (i = 0; i < migrations_count; i++) {
        row = find_row(res, migrations[i].version);
        if (row >= 0)
            fprintf(out, "%03d_%s\tapplied\t%s\n", migrations[i].version, migrations[i].name,
                    PQgetvalue(res, row, 2));
        else
            fprintf(out, "%03d_%s\tpending\n", migrations[i].version, migrations[i].name);
    }
    /* A newer mailpulse may have migrated this database further. */
    for (i = 0; i < PQntuples(res); i++) {
        int v = row_version(res, i), j, known = 0;

        for (j = 0; j < migrations_count; j++)
            known |= migrations[j].version == v;
        if (!known)
            fprintf(out, "%03d_%s\tapplied\t%s\t(unknown to this mailpulse)\n", v,
                    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return 0;
}

/* db_schema_ok - 0 when every compiled-in migration is applied, else -1 and why */
int db_schema_ok(struct db *db, char *err, size_t errlen)
{
    PGresult *res = read_applied(db);
    int i, missing = 0, first = 0;

    if (errlen)
        err[0] = 0;
    if (res == NULL) {
        char line[256];

        db_first_line(PQerrorMessage(db->conn), line, sizeof(line));
        snprintf(err, errlen, "cannot read the schema version: %s", line);
        return -1;
    }
    for (i = 0; i < migrations_count; i++) {
        if (find_row(res, migrations[i].version) < 0) {
            if (missing++ == 0)
                first = migrations[i].version;
        }
    }
    if (missing > 0) {
        if (PQntuples(res) == 0)
            snprintf(err, errlen,
                     "the database has no mailpulse schema; run \"mailpulse db migrate\"");
        else
            snprintf(err, errlen,
                     "the database schema is out of date (%d migration%s pending, from %03d); "
                     "run \"mailpulse db migrate\"",
                     missing, missing == 1 ? "" : "s", first);
    }
    PQclear(res);
    return missing > 0 ? -1 : 0;
}
