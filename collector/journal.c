/*
 * journal - read mail log entries from the systemd journal (sd_journal), with resumable positions
 *
 * Position and checkpoint: a journal cursor names an entry by its sequence-number id (one
 * per journal writer, "s=") and its sequence number ("i="), plus fields that only speed up
 * the seek. mailpulse stores exactly that pair: the source identity is
 * "journal:NAME:SEQNUM_ID" and a row's position is the entry's sequence number, so the
 * checkpoint (the next sequence number) is committed with the rows, in the same transaction,
 * like a file offset. Resuming seeks to the cursor "s=ID;i=CHECKPOINT". Entries written by
 * another writer (a merged directory, a journal reset) form another source with its own
 * checkpoint.
 *
 * Each entry becomes a syslog-style line for the parser:
 *   2026-11-28T10:00:00.123456+00:00 HOST IDENTIFIER[PID]: MESSAGE
 * from __REALTIME_TIMESTAMP, _HOSTNAME, SYSLOG_IDENTIFIER, SYSLOG_PID (else _PID), MESSAGE.
 *
 * New files: journald rotates by renaming its file and starting another, and sd_journal
 * learns of files that appear only through its inotify descriptor and sd_journal_process().
 * journal_next() processes it each time it reaches the end, and journal_watch() adds the
 * descriptor to the daemon's wait, so new entries wake the daemon at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "collector/collector.h"
#include "util/util.h"

#define JOURNAL_IDS 16

/* The default filter: the syslog identifiers of the MTAs mailpulse reads (OR-ed). */
static const char *const default_matches[] = {
    "SYSLOG_IDENTIFIER=postfix/smtp",
    "SYSLOG_IDENTIFIER=postfix/qmgr",
    "SYSLOG_IDENTIFIER=postfix/smtpd",
    "SYSLOG_IDENTIFIER=postfix/cleanup",
    "SYSLOG_IDENTIFIER=postfix/bounce",
    "SYSLOG_IDENTIFIER=postfix/local",
    "SYSLOG_IDENTIFIER=postfix/lmtp",
    "SYSLOG_IDENTIFIER=postfix/pipe",
    "SYSLOG_IDENTIFIER=postfix/virtual",
    "SYSLOG_IDENTIFIER=postfix/error",
    "SYSLOG_IDENTIFIER=postfix/discard",
    "SYSLOG_IDENTIFIER=postfix/pickup",
    "SYSLOG_IDENTIFIER=postfix/postscreen",
    "SYSLOG_IDENTIFIER=postfix/submission/smtpd",
    "SYSLOG_IDENTIFIER=postfix/smtps/smtpd",
    "SYSLOG_IDENTIFIER=exim",
    "SYSLOG_IDENTIFIER=sendmail",
    "SYSLOG_IDENTIFIER=sm-mta",
};

struct journal_id {
    char seqnum_id[40];
    int64_t source_id, checkpoint;
};

struct journal_in {
    char *name;
    sd_journal *j;
    int positioned;
    struct journal_id ids[JOURNAL_IDS];
    size_t nids;
    open_source_fn open_source;
    void *arg;
    struct buf line;
    int warned;
    int fd; /* sd_journal's inotify descriptor, or -1 */
};

/* journal_open - open the local journal or a directory of journal files, with the filter */
struct journal_in *journal_open(const struct journal_opts *o, char *err, size_t errlen)
{
    struct journal_in *ji;
    sd_journal *j = NULL;
    int r;

    if (o->directory && o->directory[0])
        r = sd_journal_open_directory(&j, o->directory, 0);
    else
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) {
        snprintf(err, errlen, "cannot open the journal%s%s: %s", o->directory ? " in " : "",
                 o->directory ? o->directory : "", strerror(-r));
        return NULL;
    }
    for (size_t i = 0; i < (o->nmatches ? o->nmatches : ARRAY_LEN(default_matches)); i++) {
        const char *m = o->nmatches ? o->matches[i] : default_matches[i];

        if (i > 0)
            sd_journal_add_disjunction(j);
        r = sd_journal_add_match(j, m, 0);
        if (r < 0) {
            snprintf(err, errlen, "journal match \"%s\": %s (want FIELD=value)", m, strerror(-r));
            sd_journal_close(j);
            return NULL;
        }
    }
    ji = xcalloc(1, sizeof(*ji));
    ji->name = xstrdup(o->name);
    ji->j = j;
    ji->open_source = o->open_source;
    ji->arg = o->arg;
    buf_init(&ji->line);
    /* Asked for before the first read, so that no file added meanwhile is missed. */
    ji->fd = sd_journal_get_fd(j);
    if (ji->fd < 0)
        log_warn("journal %s: cannot watch for new journal files (%s); restart to read them",
                 ji->name, strerror(-ji->fd));
    return ji;
}

/* journal_watch - wake n when the journal changes */
void journal_watch(struct journal_in *ji, struct notify *n)
{
    if (ji->fd >= 0)
        notify_add_fd(n, ji->fd);
}

/* cursor_field - the value of "key=" in a cursor ("s=...;i=...;...") into out */
static int cursor_field(const char *cursor, char key, char *out, size_t outlen)
{
    for (const char *p = cursor; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (p[0] == key && p[1] == '=') {
            size_t n = strcspn(p + 2, ";");

            return str_copy(out, outlen, p + 2, n) == 0 ? 0 : -1;
        }
    }
    return -1;
}

/* entry_id - the current entry's sequence-number id and number; -1 when unreadable */
static int entry_id(sd_journal *j, char *sid, size_t sidlen, uint64_t *seqnum)
{
    char *cursor = NULL, num[32];
    int r = -1;

    if (sd_journal_get_cursor(j, &cursor) < 0)
        return -1;
    if (cursor_field(cursor, 's', sid, sidlen) == 0 &&
        cursor_field(cursor, 'i', num, sizeof(num)) == 0) {
        char *end;

        *seqnum = strtoull(num, &end, 16);
        r = *end == 0 ? 0 : -1;
    }
    free(cursor);
    return r;
}

/* journal_source - the source of one sequence-number id; NULL to retry later */
static struct journal_id *journal_source(struct journal_in *ji, const char *sid)
{
    char ident[128];
    struct journal_id *id;

    for (size_t i = 0; i < ji->nids; i++)
        if (strcmp(ji->ids[i].seqnum_id, sid) == 0)
            return &ji->ids[i];
    snprintf(ident, sizeof(ident), "journal:%s:%s", ji->name, sid);
    if (ji->nids == JOURNAL_IDS)
        ji->nids = 0; /* many writers: forget the oldest; they are looked up again */
    id = &ji->ids[ji->nids];
    if (ji->open_source(ji->arg, ident, ident, NULL, 0, &id->source_id, &id->checkpoint) != 0)
        return NULL;
    snprintf(id->seqnum_id, sizeof(id->seqnum_id), "%s", sid);
    ji->nids++;
    return id;
}

/* journal_position - start after the checkpoint of the newest writer; 0 or -1 */
static int journal_position(struct journal_in *ji)
{
    char sid[40], cursor[96];
    uint64_t seqnum;
    struct journal_id *id;

    sd_journal_seek_tail(ji->j);
    if (sd_journal_previous(ji->j) <= 0) {
        sd_journal_seek_head(ji->j); /* empty so far */
        return 0;
    }
    if (entry_id(ji->j, sid, sizeof(sid), &seqnum) != 0)
        return -1;
    if ((id = journal_source(ji, sid)) == NULL)
        return -1;
    if (id->checkpoint == 0) {
        sd_journal_seek_head(ji->j);
        return 0;
    }
    snprintf(cursor, sizeof(cursor), "s=%s;i=%" PRIx64, sid, (uint64_t)id->checkpoint);
    if (sd_journal_seek_cursor(ji->j, cursor) < 0) {
        log_warn("journal %s: cannot seek to %s; reading from the start (nothing is stored "
                 "twice)",
                 ji->name, cursor);
        sd_journal_seek_head(ji->j);
    }
    log_info("journal %s: resuming at %s", ji->name, cursor);
    return 0;
}

/* journal_field - a field's value (after "NAME="), or "" */
static const char *journal_field(sd_journal *j, const char *name, size_t *len)
{
    const void *data;
    size_t n, k = strlen(name);

    if (sd_journal_get_data(j, name, &data, &n) < 0 || n <= k) {
        *len = 0;
        return "";
    }
    *len = n - k - 1;
    return (const char *)data + k + 1;
}

/* journal_next - 1 and the next entry as a line, 0 none now, -1 retry later */
int journal_next(struct journal_in *ji, struct follow_line *out)
{
    char sid[40], stamp[64];
    uint64_t seqnum, usec = 0;
    struct journal_id *id;
    const char *v;
    size_t n;
    int r;

    if (!ji->positioned) {
        if (journal_position(ji) != 0)
            return -1;
        ji->positioned = 1;
    }
    r = sd_journal_next(ji->j);
    if (r < 0) {
        if (!ji->warned)
            log_warn("journal %s: %s", ji->name, strerror(-r));
        ji->warned = 1;
        return -1;
    }
    if (r == 0 && ji->fd >= 0) {
        /* At the end: take in files added since (a rotation), then look again. */
        int pr = sd_journal_process(ji->j);

        if (pr == SD_JOURNAL_APPEND || pr == SD_JOURNAL_INVALIDATE)
            r = sd_journal_next(ji->j);
        if (r < 0)
            return -1;
    }
    if (r == 0)
        return 0;
    ji->warned = 0;
    if (entry_id(ji->j, sid, sizeof(sid), &seqnum) != 0 || (id = journal_source(ji, sid)) == NULL) {
        sd_journal_previous(ji->j); /* read it again next time */
        return -1;
    }
    buf_reset(&ji->line);
    sd_journal_get_realtime_usec(ji->j, &usec);
    time_format_rfc3339((int64_t)usec, stamp, sizeof(stamp));
    buf_puts(&ji->line, stamp);
    buf_putc(&ji->line, ' ');
    v = journal_field(ji->j, "_HOSTNAME", &n);
    buf_append(&ji->line, n ? v : "localhost", n ? n : 9);
    buf_putc(&ji->line, ' ');
    v = journal_field(ji->j, "SYSLOG_IDENTIFIER", &n);
    buf_append(&ji->line, n ? v : "unknown", n ? n : 7);
    v = journal_field(ji->j, "SYSLOG_PID", &n);
    if (n == 0)
        v = journal_field(ji->j, "_PID", &n);
    if (n) {
        buf_putc(&ji->line, '[');
        buf_append(&ji->line, v, n);
        buf_putc(&ji->line, ']');
    }
    buf_puts(&ji->line, ": ");
    v = journal_field(ji->j, "MESSAGE", &n);
    if (n > COLLECT_MAX_LINE)
        n = COLLECT_MAX_LINE;
    buf_append(&ji->line, v, n);
    for (size_t i = 0; i < ji->line.len; i++)
        if (ji->line.data[i] == '\n')
            ji->line.data[i] = ' ';
    out->line = ji->line.data;
    out->len = ji->line.len;
    out->pos = (int64_t)seqnum;
    out->next = (int64_t)seqnum + 1;
    out->source_id = id->source_id;
    out->store = (int64_t)seqnum >= id->checkpoint;
    out->cut = n == COLLECT_MAX_LINE;
    return 1;
}

/* journal_close - close and free */
void journal_close(struct journal_in *ji)
{
    if (ji == NULL)
        return;
    sd_journal_close(ji->j);
    buf_free(&ji->line);
    x_free(ji->name);
    x_free(ji);
}
