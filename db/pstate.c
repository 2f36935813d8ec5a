/*
 * pstate - the parser state stored with a source's checkpoint (sql/010_parser_state.sql)
 *
 * db_state_load() reads a source's saved state; db_state_store() writes one inside the
 * transaction of a batch commit (ingest.c), so the state, the rows and the checkpoint commit
 * together. The state travels as binary bytea: no escaping, the bytes as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* db_state_load - a source's saved parser state: 1 found, 0 none, -1 failure (logged) */
int db_state_load(struct db *db, int64_t source_id, int64_t *position, int *version,
                  struct buf *out)
{
    char idbuf[24];
    const char *params[1] = {idbuf};
    PGresult *res;
    int rc = -1;

    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)source_id);
    if (db_reconnect(db) < 0)
        return -1;
    /* Text results, but the state as binary: encode() would double its size on the wire. */
    res = PQexecParams(db->conn,
                       "SELECT p.position::text, p.version::text, p.state"
                       " FROM parser_state p JOIN sources s"
                       " ON s.id = p.source_id AND s.identity = p.identity"
                       " WHERE p.source_id = $1::bigint",
                       1, NULL, params, NULL, NULL, 1);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_warn_res(db, res, "reading the parser state");
        goto out;
    }
    rc = 0;
    if (PQntuples(res) != 1)
        goto out;
    *position = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *version = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    buf_reset(out);
    buf_append(out, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
    rc = 1;
out:
    PQclear(res);
    return rc;
}

/* db_state_store - write a source's parser state in the open transaction; 0 or -1 (logged) */
int db_state_store(struct db *db, int64_t source_id, int64_t position, int version,
                   const void *state, size_t len)
{
    char idbuf[24], posbuf[24], verbuf[16];
    const char *params[4] = {idbuf, posbuf, verbuf, state};
    int lengths[4] = {0, 0, 0, (int)len};
    int formats[4] = {0, 0, 0, 1};
    PGresult *r;
    int rc = -1;

    if (len > 0x7fffffff)
        return -1;
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)source_id);
    snprintf(posbuf, sizeof(posbuf), "%lld", (long long)position);
    snprintf(verbuf, sizeof(verbuf), "%d", version);
    r = PQexecParams(db->conn,
                     "INSERT INTO parser_state (source_id, identity, position, version, state,"
                     " saved_at)"
                     " SELECT id, identity, $2::bigint, $3::integer, $4::bytea, now()"
                     " FROM sources WHERE id = $1::bigint"
                     " ON CONFLICT (source_id) DO UPDATE SET identity = EXCLUDED.identity,"
                     " position = EXCLUDED.position, version = EXCLUDED.version,"
                     " state = EXCLUDED.state, saved_at = EXCLUDED.saved_at",
                     4, NULL, params, lengths, formats, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
        db_warn_res(db, r, "storing the parser state");
    else
        rc = 0;
    PQclear(r);
    return rc;
}
