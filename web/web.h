/*
 * NAME
 *	web - the HTTP server: JSON API, exports, Prometheus metrics, HTML pages
 *
 * SYNOPSIS
 *	#include "web/web.h"
 *
 *	struct web *web_start(const struct web_opts *opts, char *err, size_t errlen);
 *	void web_stop(struct web *w);
 *	int web_port(const struct web *w);
 *
 * DESCRIPTION
 *	web_start() binds opts->listen ("127.0.0.1:8025", "[::1]:8025", "[::]:8025" for both
 *	families; numeric addresses only; NULL or "" means 127.0.0.1:8025; port 0 picks a free
 *	port) and serves requests on a pool of libmicrohttpd threads, each with its own
 *	database connection (opts->dsn), opened on first use and reopened when it is lost (at
 *	most one attempt a second per thread). It returns NULL and a one-line message when the
 *address is malformed or cannot be bound. Endpoints (docs/api.md): the HTML pages /,
 * /bounces, /message and /static/style.css; /api/v1/summary, timeseries, domains, bounces (cursor
 *paging), reasons, messages, export (streamed JSON, NDJSON or CSV); /metrics (Prometheus text);
 *	/healthz. Bad parameters get 400 with {"error":"..."} (an HTML page on the HTML
 *	routes); unknown paths 404; methods other than GET and HEAD 405; the database being
 *	unreachable 503 (/healthz answers 503 with "database":"down"). Ranges default to
 *	to=now and from=to-24h. The aggregate routes (/, summary, timeseries, domains,
 *	reasons) answer a repeated request from a reply cache, so their figures may be up to
 *	2 seconds old.
 *
 *	Access: opts->token_file names a file whose first line is the access token (at least
 *	16 bytes). With a token every request must carry "Authorization: Bearer TOKEN" or HTTP
 *	basic credentials whose password is TOKEN (any user name), else 401. Binding anything
 *	but 127.0.0.1 or [::1] without a token fails. opts->tls_cert and opts->tls_key (PEM
 *	files, both or neither) make the server speak HTTPS only, TLS 1.2 and 1.3 with ECDHE
 *	and AEAD ciphers.
 *
 *	Limits: 4096 connections on epoll, 32 per client address, a request head complete
 *	within 10 s of its start (a trickle of bytes does not extend it), 10 s idle. An
 *	HTTP/1.1 request without exactly one Host header, or with a NUL byte in its request
 *	line, gets 400. Every reply carries a Content-Security-Policy that allows no script
 *	and no inline style, nosniff, X-Frame-Options DENY and Referrer-Policy no-referrer.
 *	CSV exports put a single quote before cells that begin like spreadsheet formulas
 *	unless the request says formulas=keep.
 *
 *	web_port() returns the port the server listens on (the real one when 0 was asked for).
 *
 *	opts->ingest, when set, is called (from any server thread) to fill the daemon's ingest
 *	figures for /healthz and /metrics (lag_bytes < 0, pcap_drops < 0 and last_commit_us <= 0
 *	are shown as null, or left out of /metrics). The server sets lag_bytes and
 *	pcap_drops to -1 before the call, so a caller that does not know them leaves them.
 *	db_up is shown as given unless the server's own probe of the database has just
 *	failed: then it is shown as false, so that /healthz never says "down" beside an ingest
 *	db_up of true.
 *	Each syslog listener's received and dropped input (syslog[0..nsyslog)) is shown per
 *	listener: /metrics labels the drops by listener and kind, /healthz lists them under
 *	ingest.syslog.
 *
 * OWNERSHIP
 *	The strings in opts are copied; the token and certificate files are read once, in
 *	web_start(). web_stop() stops the threads and frees everything.
 *
 * DIAGNOSTICS
 *	Nothing is logged per request above debug level. A lost database is one warning (the
 *	detail stays in the log; clients see only "database unavailable").
 */
#ifndef MAILPULSE_WEB_H
#define MAILPULSE_WEB_H

#include <stddef.h>
#include <stdint.h>

/* One syslog listener's figures; drops in the order of the collector's enum syslog_drop. */
#define WEB_SYSLOG_MAX   16 /* listeners shown; the figures of more are added to the last */
#define WEB_SYSLOG_DROPS 6  /* oversized, bad_count, malformed, refused, evicted, timed_out */
struct web_syslog_status {
    char name[80];        /* the source name */
    uint64_t messages;    /* handed to the parser */
    uint64_t connections; /* TCP connections accepted */
    uint64_t open;        /* TCP connections open now */
    uint64_t drops[WEB_SYSLOG_DROPS];
};

struct web_ingest_status {
    uint64_t lines;
    uint64_t events;
    uint64_t malformed;
    int64_t lag_bytes; /* bytes written to the log and not yet committed; -1 unknown */
    int db_up;         /* the ingest connection's state */
    int64_t last_commit_us;
    int64_t pcap_drops; /* packets the capture dropped; -1 when no capture runs */
    /* The daemon's own figures for /metrics. */
    uint64_t batches;   /* batches committed */
    uint64_t retries;   /* commits that failed and were retried */
    uint64_t cut_lines; /* lines over the maximum length, cut */
    uint64_t sources;   /* readers running (followed files, journals, listeners, Maildirs) */
    /* The Maildir sources: messages read, of them not a bounce and unreadable; records
     * stored, and records already stored (a message read again). */
    uint64_t bounce_messages, bounce_not_bounce, bounce_malformed;
    uint64_t bounce_records, bounce_duplicates;
    struct web_syslog_status syslog[WEB_SYSLOG_MAX];
    size_t nsyslog;
    /* The alert evaluator's figures; alerts_on 0 when it is off. */
    int alerts_on;
    uint64_t alert_evaluations, alert_eval_failures;
    uint64_t alert_hook_sent, alert_hook_failed, alert_hook_dropped;
    /* The log readers: bytes read since the start, and files that went on from a stored
     * parser state at the start instead of reading from byte 0. */
    uint64_t read_bytes, resumed;
};

struct web_opts {
    const char *listen; /* host:port */
    const char *dsn;
    void (*ingest)(void *arg, struct web_ingest_status *out);
    void *ingest_arg;
    const char *token_file; /* NULL or "": no token (loopback binds only) */
    const char *tls_cert;   /* PEM certificate file; NULL or "": plain HTTP */
    const char *tls_key;    /* PEM private key file */
};

struct web;

struct web *web_start(const struct web_opts *opts, char *err, size_t errlen);
void web_stop(struct web *w);
int web_port(const struct web *w);

#endif
