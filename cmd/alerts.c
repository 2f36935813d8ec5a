/*
 * alerts - the daemon's alert evaluator: every interval, gather the numbers (db/alerts.c),
 * run the rules (report/alert.c), store what changed and tell the webhook
 *
 * The evaluator is a thread with its own database connection, so that neither a slow
 * query nor a webhook holds up the ingest. Only active alerts are kept in memory (struct
 * tracked, at most ALERTS_MAX); at start the active rows of the table are read back, so a
 * restart continues an incident instead of opening a second one. "Now" is the wall clock,
 * or with [alerts] clock = log the end of the newest stored minute, so that a replayed log
 * is judged at its own time. The ingest-stalled rule always reads the wall clock: it is
 * about the daemon, not the log.
 *
 * The complaint rule has a current window of its own ([alerts] complaint_window, a day by
 * default): complaints arrive hours after the mail they are about, so an hour's complaints
 * over an hour's mail miss a campaign sent in the morning and reported all afternoon, and
 * the published 0.1 % and 0.3 % lines are daily rates.
 *
 * A database failure during an evaluation changes no alert: the subjects of a gather that
 * failed are held as they are, and an alert that could not be stored is stored at the
 * next evaluation.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "util/util.h"

#define ALERTS_MAX 4096

/* One active alert. */
struct tracked {
    enum alert_rule rule;
    char subject[256];
    struct alert_state st;
    int64_t id; /* 0: not stored yet */
    int64_t started_us;
    char numbers[512]; /* JSON of st.x, the last firing evaluation's (read back at start) */
    char link[512];
    int seen; /* in this evaluation's numbers */
};

struct alerts {
    struct alerts_conf c;
    char *dsn;
    void (*ingest)(void *arg, struct web_ingest_status *out);
    void *ingest_arg;
    struct db *db;
    struct hook *hook;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    uint64_t evaluations, failures; /* under lock */
    struct tracked *t;
    size_t n;
    int64_t now_us, cur_from_us;   /* this evaluation's clock and current window */
    int64_t complaint_from_us;     /* the complaint rule's current window */
    int64_t behind_since_us;       /* ingest-stalled: when the daemon fell behind; 0 when not */
    int failed[DB_ALERT_NSOURCES]; /* this evaluation's gathers that failed */
};

/* The rules each kind of numbers feeds, and the source of each rule. */
static const enum db_alert_source rule_source[ALERT_NRULES] = {
    [ALERT_BOUNCE_PROVIDER] = DB_ALERT_PROVIDER,
    [ALERT_BOUNCE_DOMAIN] = DB_ALERT_DOMAIN,
    [ALERT_DEFERRAL_PROVIDER] = DB_ALERT_PROVIDER,
    [ALERT_DEFERRAL_DOMAIN] = DB_ALERT_DOMAIN,
    [ALERT_BLOCK_NEW] = DB_ALERT_BLOCK,
    [ALERT_COMPLAINT] = DB_ALERT_COMPLAINT,
    [ALERT_EXPIRY] = DB_ALERT_HOST,
    [ALERT_VOLUME_ZERO] = DB_ALERT_HOST,
    [ALERT_INGEST_STALLED] = DB_ALERT_NSOURCES,
};

/* find - the tracked alert of rule and subject, or NULL */
static struct tracked *find(struct alerts *a, enum alert_rule rule, const char *subject)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->t[i].rule == rule && strcmp(a->t[i].subject, subject) == 0)
            return &a->t[i];
    return NULL;
}

/* link_param - append "&name=value" with the value percent-encoded */
static void link_param(struct buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    buf_printf(b, "%s%s=", strchr(b->data, '?') ? "&" : "?", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_')
            buf_putc(b, *p);
        else
            buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

/*
 * make_link - the /bounces page filtered to what the alert is about, over its window; for
 * the complaint rule, /api/v1/complaints of the sender domain
 */
static void make_link(const struct alerts *a, enum alert_rule rule, const char *subject, char *out,
                      size_t outlen)
{
    char from[40], to[40], host[256];
    struct buf b;

    if (rule == ALERT_INGEST_STALLED) {
        snprintf(out, outlen, "/healthz");
        return;
    }
    buf_init(&b);
    /* Complaints are not attempts: their own list, by sender domain, is the evidence. */
    buf_puts(&b, rule == ALERT_COMPLAINT ? "/api/v1/complaints" : "/bounces");
    buf_putc(&b, 0);
    b.len--;
    time_format_rfc3339(rule == ALERT_COMPLAINT ? a->complaint_from_us : a->cur_from_us, from,
                        sizeof(from));
    time_format_rfc3339(a->now_us, to, sizeof(to));
    link_param(&b, "from", from);
    link_param(&b, "to", to);
    switch (rule) {
    case ALERT_BOUNCE_DOMAIN:
    case ALERT_DEFERRAL_DOMAIN:
        link_param(&b, "domain", subject);
        break;
    case ALERT_EXPIRY:
    case ALERT_VOLUME_ZERO:
        link_param(&b, "host", subject);
        break;
    case ALERT_COMPLAINT:
        link_param(&b, "sender_domain", subject);
        break;
    case ALERT_BLOCK_NEW:
        snprintf(host, sizeof(host), "%s", subject);
        host[strcspn(host, "/")] = 0;
        link_param(&b, "host", host);
        break;
    default:
        break;
    }
    if (rule == ALERT_BOUNCE_DOMAIN || rule == ALERT_BOUNCE_PROVIDER)
        link_param(&b, "status", "bounced");
    else if (rule == ALERT_DEFERRAL_DOMAIN || rule == ALERT_DEFERRAL_PROVIDER)
        link_param(&b, "status", "deferred");
    else if (rule == ALERT_EXPIRY)
        link_param(&b, "status", "expired");
    else if (rule == ALERT_BLOCK_NEW)
        link_param(&b, "reason", "blocked");
    buf_putc(&b, 0);
    snprintf(out, outlen, "%s", b.data);
    buf_free(&b);
}

/* numbers_text - the numbers as JSON into out */
static void numbers_text(enum alert_rule rule, const struct alert_numbers *x, char *out,
                         size_t outlen)
{
    struct buf b;

    buf_init(&b);
    alert_numbers_json(rule, x, &b);
    buf_putc(&b, 0);
    snprintf(out, outlen, "%s", b.data);
    buf_free(&b);
}

/*
 * notify - the webhook body of a fire, an escalation or a clear:
 * {"event":"fired"|"escalated"|"cleared","alert":{"id","rule","subject","severity",
 *  "started","ended","numbers":{...},"end_numbers":{...}|null,"link"}}
 * "numbers" are the last firing evaluation's; "end_numbers" (a clear only) the ending one's.
 */
static void notify(struct alerts *a, const char *event, const struct tracked *t,
                   enum alert_severity sev, int64_t ended_us)
{
    char ts[40];
    struct buf b;

    if (a->hook == NULL)
        return;
    buf_init(&b);
    buf_printf(&b, "{\"event\":\"%s\",\"alert\":{\"id\":%lld,\"rule\":\"%s\",\"subject\":", event,
               (long long)t->id, alert_rule_name(t->rule));
    buf_json_string(&b, t->subject);
    buf_printf(&b, ",\"severity\":\"%s\",\"started\":\"", alert_severity_name(sev));
    time_format_rfc3339(t->started_us, ts, sizeof(ts));
    buf_printf(&b, "%s\",\"ended\":", ts);
    if (ended_us) {
        time_format_rfc3339(ended_us, ts, sizeof(ts));
        buf_printf(&b, "\"%s\"", ts);
    } else {
        buf_puts(&b, "null");
    }
    buf_printf(&b, ",\"numbers\":%s,\"end_numbers\":", t->numbers[0] ? t->numbers : "{}");
    if (ended_us)
        alert_numbers_json(t->rule, &t->st.end, &b);
    else
        buf_puts(&b, "null");
    buf_puts(&b, ",\"link\":");
    buf_json_string(&b, t->link);
    buf_puts(&b, "}}");
    hook_post(a->hook, b.data, b.len);
    buf_free(&b);
}

/*
 * store - the tracked alert's row: insert it when it has none yet, else update it (when
 * this evaluation fired: the numbers of one that only held the alert are not stored)
 */
static void store(struct alerts *a, struct tracked *t)
{
    if (t->st.firing)
        numbers_text(t->rule, &t->st.x, t->numbers, sizeof(t->numbers));
    if (t->id == 0)
        db_alert_open(a->db, alert_rule_name(t->rule), t->subject, alert_severity_name(t->st.sev),
                      t->started_us, t->numbers[0] ? t->numbers : "{}", t->link, &t->id);
    else if (t->st.firing)
        db_alert_update(a->db, t->id, alert_severity_name(t->st.sev), t->numbers);
}

/* close_alert - the tracked alert's row ends now with the numbers that ended it */
static void close_alert(struct alerts *a, struct tracked *t)
{
    char end[512];

    if (t->id == 0)
        store(a, t); /* never stored: store it so that it can end */
    if (t->id == 0)
        return;
    numbers_text(t->rule, &t->st.end, end, sizeof(end));
    db_alert_close(a->db, t->id, a->now_us, end);
}

/* drop - forget tracked alert i */
static void drop(struct alerts *a, size_t i)
{
    a->t[i] = a->t[--a->n];
}

/* apply - one subject's numbers through its rule; fire, store and notify what changed */
static void apply(struct alerts *a, enum alert_rule rule, const char *subject,
                  const struct alert_numbers *x)
{
    const struct alert_rule_conf *rc = &a->c.rules.rule[rule];
    struct tracked *t = find(a, rule, subject), fresh;
    enum alert_severity prev;
    enum alert_change ch;

    if (t == NULL) {
        if (!rc->enabled || alert_judge(rc, rule, x) == ALERT_NONE)
            return;
        if (a->n == ALERTS_MAX) {
            log_warn("alerts: more than %d active; %s %s is not raised", ALERTS_MAX,
                     alert_rule_name(rule), subject);
            return;
        }
        memset(&fresh, 0, sizeof(fresh));
        fresh.rule = rule;
        snprintf(fresh.subject, sizeof(fresh.subject), "%s", subject);
        a->t[a->n] = fresh;
        t = &a->t[a->n++];
    }
    t->seen = 1;
    prev = t->st.sev;
    ch = alert_step(rc, rule, x, &t->st);
    switch (ch) {
    case ALERT_FIRED:
        t->started_us = a->now_us;
        make_link(a, rule, subject, t->link, sizeof(t->link));
        store(a, t);
        log_warn("alert: %s %s (%s) fired", alert_rule_name(rule), subject,
                 alert_severity_name(t->st.sev));
        notify(a, "fired", t, t->st.sev, 0);
        break;
    case ALERT_ESCALATED:
        store(a, t);
        log_warn("alert: %s %s escalated from %s to %s", alert_rule_name(rule), subject,
                 alert_severity_name(prev), alert_severity_name(t->st.sev));
        notify(a, "escalated", t, t->st.sev, 0);
        break;
    case ALERT_CLEARED:
        close_alert(a, t);
        log_info("alert: %s %s cleared", alert_rule_name(rule), subject);
        notify(a, "cleared", t, prev, a->now_us);
        drop(a, (size_t)(t - a->t));
        break;
    default:
        store(a, t);
        break;
    }
}

/* The rows of one gather, and which of the rules they feed. */
struct gather_ctx {
    struct alerts *a;
    enum db_alert_source src;
};

/* gather_row - db_alert_gather()'s callback: the numbers of each rule of this source */
static int gather_row(void *arg, const struct db_alert_row *r)
{
    struct gather_ctx *g = arg;
    struct alert_numbers x;

    for (int i = 0; i < ALERT_NRULES; i++) {
        enum alert_rule rule = (enum alert_rule)i;
        int bad = 0;

        if (rule_source[rule] != g->src)
            continue;
        switch (rule) {
        case ALERT_DEFERRAL_PROVIDER:
        case ALERT_DEFERRAL_DOMAIN:
        case ALERT_BLOCK_NEW:
        case ALERT_COMPLAINT:
            bad = 1;
            break;
        case ALERT_BOUNCE_PROVIDER:
        case ALERT_BOUNCE_DOMAIN:
            bad = 2;
            break;
        case ALERT_EXPIRY:
            bad = 3;
            break;
        default:
            break;
        }
        memset(&x, 0, sizeof(x));
        x.cur_n = r->cur[0];
        x.base_n = r->base[0];
        if (rule != ALERT_VOLUME_ZERO) {
            x.cur_bad = r->cur[bad];
            x.base_bad = r->base[bad];
        }
        x.base_hours = r->base_hours;
        apply(g->a, rule, r->subject, &x);
    }
    return 0;
}

/* stalled - the ingest-stalled rule's numbers from the daemon's own state */
static void stalled(struct alerts *a)
{
    struct web_ingest_status st;
    struct alert_numbers x;
    int64_t wall = time_now_us();
    int behind;

    memset(&st, 0, sizeof(st));
    if (a->ingest == NULL)
        return;
    a->ingest(a->ingest_arg, &st);
    behind = !st.db_up || (st.lag_bytes > 0 && st.last_commit_us > 0 &&
                           wall - st.last_commit_us > (int64_t)a->c.stall_lag_s * 1000000);
    if (!behind)
        a->behind_since_us = 0;
    else if (a->behind_since_us == 0)
        a->behind_since_us = wall;
    memset(&x, 0, sizeof(x));
    x.cur_bad = behind ? (wall - a->behind_since_us) / 1000000 + (st.db_up ? 0 : 1) : 0;
    apply(a, ALERT_INGEST_STALLED, "ingest", &x);
}

/* evaluate - one round over every rule */
static int evaluate(struct alerts *a)
{
    int rc = 0;

    for (size_t i = 0; i < a->n; i++)
        a->t[i].seen = 0;
    memset(a->failed, 0, sizeof(a->failed));
    a->now_us = time_now_us();
    if (a->c.clock_log && db_alert_now(a->db, &a->now_us) != 0)
        rc = -1;
    a->cur_from_us = a->now_us - (int64_t)a->c.window_min * 60 * 1000000;
    a->cur_from_us -= a->cur_from_us % ((int64_t)3600 * 1000000);
    a->complaint_from_us = a->now_us - (int64_t)a->c.complaint_window_min * 60 * 1000000;
    a->complaint_from_us -= a->complaint_from_us % ((int64_t)3600 * 1000000);
    for (int s = 0; s < DB_ALERT_NSOURCES && rc == 0 && a->now_us > 0; s++) {
        struct gather_ctx g = {a, (enum db_alert_source)s};
        int any = 0, got;

        for (int i = 0; i < ALERT_NRULES; i++)
            any |= rule_source[i] == (enum db_alert_source)s && a->c.rules.rule[i].enabled;
        if (!any)
            continue;
        got = db_alert_gather(a->db, (enum db_alert_source)s, a->now_us,
                              s == DB_ALERT_COMPLAINT ? a->c.complaint_window_min : a->c.window_min,
                              a->c.baseline_days, gather_row, &g);
        if (got != 0)
            a->failed[s] = 1; /* its subjects are held: -1, an error; 1, no such table */
        if (got < 0)
            rc = -1;
    }
    /* Subjects that no longer appear: a period below, unless their numbers are unknown. */
    for (size_t i = 0; i < a->n;) {
        struct tracked *t = &a->t[i];
        enum db_alert_source src = rule_source[t->rule];
        enum alert_severity prev = t->st.sev;

        if (t->seen || t->rule == ALERT_INGEST_STALLED || rc != 0 || a->failed[src]) {
            i++;
            continue;
        }
        if (alert_gone(&a->c.rules.rule[t->rule], &t->st) == ALERT_CLEARED) {
            close_alert(a, t);
            log_info("alert: %s %s cleared", alert_rule_name(t->rule), t->subject);
            notify(a, "cleared", t, prev, a->now_us);
            drop(a, i);
            continue;
        }
        i++;
    }
    a->now_us = time_now_us();
    stalled(a);
    return rc;
}

/* load_one - db_alert_list()'s callback at start: an active alert tracked again */
static int load_one(void *arg, const struct db_alert *row)
{
    struct alerts *a = arg;
    struct tracked *t;
    enum alert_rule rule;

    if (a->n == ALERTS_MAX || alert_rule_parse(row->rule, strlen(row->rule), &rule) != 0 ||
        find(a, rule, row->subject) != NULL)
        return 0;
    t = &a->t[a->n++];
    memset(t, 0, sizeof(*t));
    t->rule = rule;
    snprintf(t->subject, sizeof(t->subject), "%s", row->subject);
    t->st.sev = strcmp(row->severity, "critical") == 0 ? ALERT_CRITICAL : ALERT_WARNING;
    t->id = row->id;
    t->started_us = row->started_us;
    snprintf(t->numbers, sizeof(t->numbers), "%s", row->numbers);
    snprintf(t->link, sizeof(t->link), "%s", row->link);
    return 0;
}

/* alerts_main - the evaluator thread */
static void *alerts_main(void *arg)
{
    struct alerts *a = arg;
    char err[512];
    int loaded = 0, quiet = 0;

    for (;;) {
        struct timespec ts;
        int ok = 0;

        if (a->db == NULL) {
            a->db = db_open_reports(a->dsn, err, sizeof(err));
            if (a->db == NULL)
                log_warn("alerts: %s; trying again at the next evaluation", err);
        }
        if (a->db != NULL && !loaded && db_alert_list(a->db, 1, ALERTS_MAX, load_one, a) == 0)
            loaded = 1;
        if (a->db != NULL && loaded) {
            int64_t t0 = time_now_us();

            ok = evaluate(a) == 0;
            log_debug("alerts: evaluation %s in %lld ms, %zu active", ok ? "done" : "failed",
                      (long long)((time_now_us() - t0) / 1000), a->n);
        }
        if (a->db != NULL && !ok && !quiet) {
            log_warn("alerts: the database failed an evaluation; trying every %d s",
                     a->c.interval_s);
            db_quiet(a->db, 1); /* one warning per outage, not one per evaluation */
            quiet = 1;
        } else if (ok && quiet) {
            db_quiet(a->db, 0);
            log_info("alerts: evaluating again");
            quiet = 0;
        }
        pthread_mutex_lock(&a->lock);
        a->evaluations++;
        if (!ok)
            a->failures++;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += a->c.interval_s;
        while (!a->stopping && pthread_cond_timedwait(&a->wake, &a->lock, &ts) == 0)
            ;
        if (a->stopping) {
            pthread_mutex_unlock(&a->lock);
            break;
        }
        pthread_mutex_unlock(&a->lock);
    }
    return NULL;
}

/* alerts_start - the evaluator; NULL when [alerts] is off or the thread cannot start */
struct alerts *alerts_start(const struct alerts_conf *c, const char *dsn,
                            void (*ingest)(void *arg, struct web_ingest_status *out),
                            void *ingest_arg)
{
    struct alerts *a;

    if (!c->enabled)
        return NULL;
    a = xcalloc(1, sizeof(*a));
    a->c = *c;
    a->c.webhook = NULL; /* the configuration's string is not ours */
    a->dsn = xstrdup(dsn);
    a->ingest = ingest;
    a->ingest_arg = ingest_arg;
    a->t = xcalloc(ALERTS_MAX, sizeof(*a->t));
    if (c->webhook != NULL && c->webhook[0])
        a->hook = hook_start(c->webhook, c->hook_timeout_s, c->hook_tries);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
        log_warn("alerts: cannot start the evaluator thread; alerts are off");
        hook_stop(a->hook);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        x_free(a->t);
        x_free(a->dsn);
        x_free(a);
        return NULL;
    }
    log_info("alerts: evaluating every %d s on the %s clock%s%s", c->interval_s,
             c->clock_log ? "log" : "wall", a->hook ? ", webhook " : "", a->hook ? c->webhook : "");
    return a;
}

/* alerts_stats - the evaluator's and the webhook's figures into out */
void alerts_stats(struct alerts *a, struct web_ingest_status *out)
{
    if (a == NULL)
        return;
    out->alerts_on = 1;
    pthread_mutex_lock(&a->lock);
    out->alert_evaluations = a->evaluations;
    out->alert_eval_failures = a->failures;
    pthread_mutex_unlock(&a->lock);
    if (a->hook != NULL)
        hook_stats(a->hook, &out->alert_hook_sent, &out->alert_hook_failed,
                   &out->alert_hook_dropped);
}

/* alerts_stop - end the evaluator and the webhook, free everything */
void alerts_stop(struct alerts *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    hook_stop(a->hook);
    if (a->db != NULL)
        db_close(a->db);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    x_free(a->t);
    x_free(a->dsn);
    x_free(a);
}
