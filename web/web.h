/*
 * NAME
 *	web - the HTTP server: JSON API and health
 *
 * SYNOPSIS
 *	#include "web/web.h"
 *
 *	struct web *web_start(const struct web_opts *opts, char *err, size_t errlen);
 *	void web_stop(struct web *w);
 *	int web_port(const struct web *w);
 *	int web_parse_time(const char *s, int64_t now_us, int64_t *out_us);
 *
 * DESCRIPTION
 *	web_start() binds opts->listen ("127.0.0.1:8025", "[::1]:8025", "[::]:8025" for both
 *	families; numeric addresses only; NULL or "" means 127.0.0.1:8025; port 0 picks a free
 *	port) and serves requests on libmicrohttpd's own thread, with its own database
 *	connection (opts->dsn), opened on first use and reopened when it is lost (at most one
 *	attempt a second). It returns NULL and a one-line message when the address is malformed
 *	or cannot be bound.
 *	Endpoints: GET /api/v1/summary?from=&to=&host=, GET /healthz. Bad parameters get 400
 *	with {"error":"..."}; unknown paths 404; methods other than GET and HEAD 405; the
 *	database being unreachable 503 (/healthz answers 503 with "database":"down").
 *	/api/v1/summary defaults to=now and from=to-24h.
 *
 *	web_port() returns the port the server listens on (the real one when 0 was asked for).
 *
 *	web_parse_time() reads an RFC 3339 time or a relative one ("-24h", "-7d", "-30m",
 *	"-90s", "-2w", "now") against now_us; it returns 0, or -1 when the text is neither, has
 *	trailing bytes, overflows, or falls outside the years 0001-9999.
 *
 *	opts->ingest, when set, is called (from the web thread) to fill the daemon's ingest
 *	figures for /healthz (lag_bytes < 0 and last_commit_us <= 0 are shown as null).
 *
 * OWNERSHIP
 *	The strings in opts are copied. web_stop() stops the thread and frees everything.
 *
 * DIAGNOSTICS
 *	Nothing is logged per request above debug level. A lost database is one warning (the
 *	detail stays in the log; clients see only "database unavailable").
 */
#ifndef MAILPULSE_WEB_H
#define MAILPULSE_WEB_H

#include <stddef.h>
#include <stdint.h>

struct web_ingest_status {
    uint64_t lines;
    uint64_t events;
    uint64_t malformed;
    int64_t lag_bytes; /* bytes written to the log and not yet committed; -1 unknown */
    int db_up;         /* the ingest connection's state */
    int64_t last_commit_us;
};

struct web_opts {
    const char *listen; /* host:port */
    const char *dsn;
    void (*ingest)(void *arg, struct web_ingest_status *out);
    void *ingest_arg;
};

struct web;

struct web *web_start(const struct web_opts *opts, char *err, size_t errlen);
void web_stop(struct web *w);
int web_port(const struct web *w);
int web_parse_time(const char *s, int64_t now_us, int64_t *out_us);

#endif
