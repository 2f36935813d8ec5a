/*
 * alert - the alert rules and their hysteresis (see alert.h)
 *
 * The rules are pure functions of four counts, so that the daemon's loop (cmd/alerts.c)
 * only gathers numbers and stores transitions, and every threshold can be tested here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report/alert.h"

static const char *const rule_names[ALERT_NRULES] = {
    "bounce_provider", "bounce_domain", "deferral_provider", "deferral_domain", "block_new",
    "complaint",       "expiry",        "volume_zero",       "ingest_stalled",
};

/* alert_rule_name - the rule's name in the config, the API and the metrics */
const char *alert_rule_name(enum alert_rule rule)
{
    return (unsigned)rule < ALERT_NRULES ? rule_names[rule] : "unknown";
}

/* alert_rule_parse - a rule name; 0, or -1 when it is none */
int alert_rule_parse(const char *name, size_t len, enum alert_rule *out)
{
    for (int i = 0; i < ALERT_NRULES; i++)
        if (strlen(rule_names[i]) == len && memcmp(rule_names[i], name, len) == 0) {
            *out = (enum alert_rule)i;
            return 0;
        }
    return -1;
}

/* alert_severity_name - "none", "warning" or "critical" */
const char *alert_severity_name(enum alert_severity s)
{
    return s == ALERT_CRITICAL ? "critical" : s == ALERT_WARNING ? "warning" : "none";
}

/* rule_set - one rule's defaults */
static void rule_set(struct alert_rule_conf *r, double warning, double critical, double factor,
                     int64_t min_volume, double clear_ratio)
{
    r->enabled = 1;
    r->warning = warning;
    r->critical = critical;
    r->factor = factor;
    r->min_volume = min_volume;
    r->clear_ratio = clear_ratio;
    r->clear_periods = 3;
}

/* alert_defaults - every rule on, with the thresholds docs/configuration.md lists */
void alert_defaults(struct alert_conf *c)
{
    memset(c, 0, sizeof(*c));
    rule_set(&c->rule[ALERT_BOUNCE_PROVIDER], 0.05, 0.20, 3, 50, 0.5);
    rule_set(&c->rule[ALERT_BOUNCE_DOMAIN], 0.05, 0.20, 3, 100, 0.5);
    rule_set(&c->rule[ALERT_DEFERRAL_PROVIDER], 0.10, 0.30, 3, 50, 0.5);
    rule_set(&c->rule[ALERT_DEFERRAL_DOMAIN], 0.10, 0.30, 3, 100, 0.5);
    rule_set(&c->rule[ALERT_BLOCK_NEW], 1, 10, 0, 1, 0);
    rule_set(&c->rule[ALERT_COMPLAINT], 0.001, 0.003, 0, 1000, 0.8);
    rule_set(&c->rule[ALERT_EXPIRY], 0.02, 0.10, 3, 50, 0.5);
    rule_set(&c->rule[ALERT_VOLUME_ZERO], 0, 0, 0, 10, 0);
    rule_set(&c->rule[ALERT_INGEST_STALLED], 300, 900, 0, 0, 0);
}

/* is_rate - rules whose warning and critical are rates (set in percent) */
static int is_rate(enum alert_rule rule)
{
    return rule != ALERT_BLOCK_NEW && rule != ALERT_VOLUME_ZERO && rule != ALERT_INGEST_STALLED;
}

/* conf_number - a number from lo to hi; -1 when it is not one */
static int conf_number(const char *value, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* alert_conf_set - one RULE_field key of [alerts]; 0, or -1 for a bad key or value */
int alert_conf_set(struct alert_conf *c, const char *key, const char *value)
{
    static const char *const fields[] = {"enabled",    "warning",     "critical",     "factor",
                                         "min_volume", "clear_ratio", "clear_periods"};
    struct alert_rule_conf *r;
    enum alert_rule rule;
    const char *field = NULL;
    size_t fi = 0;
    double v;

    for (fi = 0; fi < ARRAY_LEN(fields); fi++) {
        size_t fl = strlen(fields[fi]), kl = strlen(key);

        if (kl > fl + 1 && strcmp(key + kl - fl, fields[fi]) == 0 && key[kl - fl - 1] == '_' &&
            alert_rule_parse(key, kl - fl - 1, &rule) == 0) {
            field = fields[fi];
            break;
        }
    }
    if (field == NULL)
        return -1;
    r = &c->rule[rule];
    switch (fi) {
    case 0:
        if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
            strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
            r->enabled = 1;
        else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 ||
                 strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
            r->enabled = 0;
        else
            return -1;
        return 0;
    case 1:
    case 2:
        if (conf_number(value, 0, is_rate(rule) ? 100 : 1e9, &v) != 0)
            return -1;
        if (is_rate(rule))
            v /= 100;
        *(fi == 1 ? &r->warning : &r->critical) = v;
        return 0;
    case 3:
        if (conf_number(value, 0, 1000, &v) != 0)
            return -1;
        r->factor = v;
        return 0;
    case 4:
        if (conf_number(value, 0, 1e12, &v) != 0 || v != (double)(int64_t)v)
            return -1;
        r->min_volume = (int64_t)v;
        return 0;
    case 5:
        if (conf_number(value, 0, 1, &v) != 0)
            return -1;
        r->clear_ratio = v;
        return 0;
    default:
        if (conf_number(value, 1, 1000, &v) != 0 || v != (double)(int)v)
            return -1;
        r->clear_periods = (int)v;
        return 0;
    }
}

/* rate - bad over n, 0 when n is 0 */
static double rate(int64_t bad, int64_t n)
{
    return n > 0 ? (double)bad / (double)n : 0;
}

/* alert_judge - what the numbers alone are worth */
enum alert_severity alert_judge(const struct alert_rule_conf *rc, enum alert_rule rule,
                                const struct alert_numbers *x)
{
    double cur, base;

    if (!rc->enabled)
        return ALERT_NONE;
    switch (rule) {
    case ALERT_BLOCK_NEW:
        if (x->base_bad > 0 || x->cur_bad < rc->min_volume || (double)x->cur_bad < rc->warning)
            return ALERT_NONE;
        return (double)x->cur_bad >= rc->critical ? ALERT_CRITICAL : ALERT_WARNING;
    case ALERT_VOLUME_ZERO:
        if (x->base_hours <= 0 || x->cur_n > 0 ||
            (double)x->base_n / x->base_hours < (double)rc->min_volume || x->base_n == 0)
            return ALERT_NONE;
        return ALERT_WARNING;
    case ALERT_INGEST_STALLED:
        if (x->cur_bad <= 0 || (double)x->cur_bad < rc->warning)
            return ALERT_NONE;
        return (double)x->cur_bad >= rc->critical ? ALERT_CRITICAL : ALERT_WARNING;
    default:
        break;
    }
    if (x->cur_n < rc->min_volume || x->cur_n == 0 || x->cur_bad == 0)
        return ALERT_NONE;
    cur = rate(x->cur_bad, x->cur_n);
    base = rate(x->base_bad, x->base_n);
    if (cur < rc->warning)
        return ALERT_NONE;
    if (rule != ALERT_COMPLAINT && cur < rc->factor * base)
        return ALERT_NONE;
    return cur >= rc->critical ? ALERT_CRITICAL : ALERT_WARNING;
}

/* alert_below - 1 when the numbers are under the clearing line */
int alert_below(const struct alert_rule_conf *rc, enum alert_rule rule,
                const struct alert_numbers *x)
{
    double cur, base;

    switch (rule) {
    case ALERT_BLOCK_NEW:
        return x->cur_bad == 0;
    case ALERT_VOLUME_ZERO:
        return x->cur_n > 0;
    case ALERT_INGEST_STALLED:
        return x->cur_bad <= 0;
    default:
        break;
    }
    if (x->cur_n < rc->min_volume || x->cur_n == 0)
        return 1;
    cur = rate(x->cur_bad, x->cur_n);
    base = rate(x->base_bad, x->base_n);
    if (cur < rc->warning * rc->clear_ratio)
        return 1;
    return rule != ALERT_COMPLAINT && cur < rc->factor * base * rc->clear_ratio;
}

/* alert_step - one evaluation of one subject: its state moves, the change is returned */
enum alert_change alert_step(const struct alert_rule_conf *rc, enum alert_rule rule,
                             const struct alert_numbers *x, struct alert_state *st)
{
    enum alert_severity now = alert_judge(rc, rule, x);

    st->firing = now != ALERT_NONE;
    if (st->firing)
        st->x = *x;
    if (st->sev == ALERT_NONE) {
        st->below = 0;
        if (now == ALERT_NONE)
            return ALERT_SAME;
        st->sev = now;
        memset(&st->end, 0, sizeof(st->end));
        return ALERT_FIRED;
    }
    if (!rc->enabled) {
        st->sev = ALERT_NONE;
        st->below = 0;
        st->end = *x;
        return ALERT_CLEARED;
    }
    if (now != ALERT_NONE || !alert_below(rc, rule, x)) {
        st->below = 0;
        if (now > st->sev) {
            st->sev = now;
            return ALERT_ESCALATED;
        }
        return ALERT_SAME;
    }
    if (++st->below < rc->clear_periods)
        return ALERT_SAME;
    st->sev = ALERT_NONE;
    st->below = 0;
    st->end = *x;
    return ALERT_CLEARED;
}

/* alert_gone - a subject without numbers: one period below the clearing line */
enum alert_change alert_gone(const struct alert_rule_conf *rc, struct alert_state *st)
{
    st->firing = 0;
    if (st->sev == ALERT_NONE)
        return ALERT_SAME;
    if (++st->below < rc->clear_periods && rc->enabled)
        return ALERT_SAME;
    st->sev = ALERT_NONE;
    st->below = 0;
    memset(&st->end, 0, sizeof(st->end));
    return ALERT_CLEARED;
}

/* alert_numbers_json - the numbers as one JSON object, rates rounded to 0.01 % */
void alert_numbers_json(enum alert_rule rule, const struct alert_numbers *x, struct buf *out)
{
    const char *all, *bad;

    switch (rule) {
    case ALERT_BLOCK_NEW:
        buf_printf(out, "{\"hits\":%lld,\"baseline_hits\":%lld}", (long long)x->cur_bad,
                   (long long)x->base_bad);
        return;
    case ALERT_VOLUME_ZERO:
        buf_printf(out, "{\"attempts\":%lld,\"baseline_attempts\":%lld,\"baseline_hours\":%.1f}",
                   (long long)x->cur_n, (long long)x->base_n, x->base_hours);
        return;
    case ALERT_INGEST_STALLED:
        buf_printf(out, "{\"stalled_seconds\":%lld}", (long long)x->cur_bad);
        return;
    default:
        break;
    }
    /* The complaint rule's volume is the mail sent, not every attempt. */
    all = rule == ALERT_COMPLAINT ? "sent" : "attempts";
    bad = rule == ALERT_COMPLAINT                                            ? "complaints"
          : rule == ALERT_EXPIRY                                             ? "expired"
          : rule == ALERT_DEFERRAL_PROVIDER || rule == ALERT_DEFERRAL_DOMAIN ? "deferred"
                                                                             : "bounced";
    buf_printf(out,
               "{\"%s\":%lld,\"%s\":%lld,\"rate_percent\":%.2f,"
               "\"baseline_%s\":%lld,\"baseline_%s\":%lld,\"baseline_rate_percent\":%.2f}",
               all, (long long)x->cur_n, bad, (long long)x->cur_bad,
               100 * rate(x->cur_bad, x->cur_n), all, (long long)x->base_n, bad,
               (long long)x->base_bad, 100 * rate(x->base_bad, x->base_n));
}
