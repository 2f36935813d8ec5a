/*
 * test_alert - report/alert.c: the rules from numbers, the hysteresis, the minimum volume
 * and the [alerts] keys
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "report/alert.h"
#include "util/util.h"

/* What each rule makes of one set of numbers, with the default thresholds. */
static void test_judge_table(void **state)
{
    static const struct {
        enum alert_rule rule;
        struct alert_numbers x; /* cur_n, cur_bad, base_n, base_bad, base_hours */
        enum alert_severity want;
    } rows[] = {
        /* 421 surge: 60 of 100 deferred against 1 % before */
        {ALERT_DEFERRAL_PROVIDER, {100, 60, 10000, 100, 168}, ALERT_CRITICAL},
        {ALERT_DEFERRAL_PROVIDER, {100, 15, 10000, 100, 168}, ALERT_WARNING},
        /* under the absolute floor of 10 %, however steep the jump */
        {ALERT_DEFERRAL_PROVIDER, {100, 9, 10000, 0, 168}, ALERT_NONE},
        /* over the floor but not 3x its own baseline: a provider that always defers */
        {ALERT_DEFERRAL_PROVIDER, {100, 40, 10000, 2000, 168}, ALERT_NONE},
        /* minimum volume: 49 attempts, all deferred, say nothing */
        {ALERT_DEFERRAL_PROVIDER, {49, 49, 10000, 0, 168}, ALERT_NONE},
        {ALERT_DEFERRAL_PROVIDER, {50, 49, 10000, 0, 168}, ALERT_CRITICAL},
        {ALERT_DEFERRAL_DOMAIN, {50, 49, 10000, 0, 168}, ALERT_NONE}, /* domain min is 100 */
        {ALERT_BOUNCE_DOMAIN, {200, 12, 10000, 10, 168}, ALERT_WARNING},
        {ALERT_BOUNCE_DOMAIN, {200, 9, 10000, 10, 168}, ALERT_NONE},
        {ALERT_BOUNCE_PROVIDER, {200, 50, 0, 0, 168}, ALERT_CRITICAL}, /* no baseline yet */
        {ALERT_EXPIRY, {100, 3, 1000, 5, 168}, ALERT_WARNING},
        {ALERT_EXPIRY, {100, 3, 1000, 11, 168}, ALERT_NONE}, /* 3 % is under 3 x 1.1 % */
        /* complaints: the published lines 0.1 % and 0.3 %, no baseline */
        {ALERT_COMPLAINT, {10000, 9, 0, 0, 168}, ALERT_NONE},
        {ALERT_COMPLAINT, {10000, 10, 0, 0, 168}, ALERT_WARNING},
        {ALERT_COMPLAINT, {10000, 30, 0, 0, 168}, ALERT_CRITICAL},
        {ALERT_COMPLAINT, {10000, 30, 1000000, 10000, 168}, ALERT_CRITICAL},
        {ALERT_COMPLAINT, {999, 30, 0, 0, 168}, ALERT_NONE},
        /* a block name new for the host, and one it had before */
        {ALERT_BLOCK_NEW, {0, 1, 0, 0, 168}, ALERT_WARNING},
        {ALERT_BLOCK_NEW, {0, 10, 0, 0, 168}, ALERT_CRITICAL},
        {ALERT_BLOCK_NEW, {0, 5, 0, 3, 168}, ALERT_NONE},
        {ALERT_BLOCK_NEW, {0, 0, 0, 0, 168}, ALERT_NONE},
        /* a host that sent 20 an hour and now sends nothing; one that sent 5 an hour */
        {ALERT_VOLUME_ZERO, {0, 0, 3360, 0, 168}, ALERT_WARNING},
        {ALERT_VOLUME_ZERO, {1, 0, 3360, 0, 168}, ALERT_NONE},
        {ALERT_VOLUME_ZERO, {0, 0, 840, 0, 168}, ALERT_NONE},
        {ALERT_VOLUME_ZERO, {0, 0, 0, 0, 0}, ALERT_NONE},
        /* seconds stalled */
        {ALERT_INGEST_STALLED, {0, 299, 0, 0, 0}, ALERT_NONE},
        {ALERT_INGEST_STALLED, {0, 300, 0, 0, 0}, ALERT_WARNING},
        {ALERT_INGEST_STALLED, {0, 900, 0, 0, 0}, ALERT_CRITICAL},
    };
    struct alert_conf c;

    (void)state;
    alert_defaults(&c);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        enum alert_severity got = alert_judge(&c.rule[rows[i].rule], rows[i].rule, &rows[i].x);

        if (got != rows[i].want)
            fail_msg("row %zu (%s): want %s, got %s", i, alert_rule_name(rows[i].rule),
                     alert_severity_name(rows[i].want), alert_severity_name(got));
    }
}

/* The clearing line sits under the firing line: between the two an alert holds. */
static void test_below_table(void **state)
{
    static const struct {
        enum alert_rule rule;
        struct alert_numbers x;
        int want;
    } rows[] = {
        {ALERT_DEFERRAL_PROVIDER, {100, 8, 10000, 100, 168}, 0}, /* 8 %: under 10, over 5 */
        {ALERT_DEFERRAL_PROVIDER, {100, 4, 10000, 100, 168}, 1}, /* 4 %: under 5 */
        {ALERT_DEFERRAL_PROVIDER, {10, 10, 10000, 100, 168}, 1}, /* too little traffic */
        {ALERT_DEFERRAL_PROVIDER, {0, 0, 0, 0, 168}, 1},         /* none at all */
        /* 12 % against a 9 % baseline: over 5 % but under 0.5 x 3 x 9 % */
        {ALERT_DEFERRAL_PROVIDER, {100, 12, 10000, 900, 168}, 1},
        {ALERT_BLOCK_NEW, {0, 1, 0, 5, 168}, 0},
        {ALERT_BLOCK_NEW, {0, 0, 0, 5, 168}, 1},
        {ALERT_COMPLAINT, {10000, 9, 0, 0, 168}, 0}, /* 0.09 %: over 0.08 % */
        {ALERT_COMPLAINT, {10000, 7, 0, 0, 168}, 1},
        {ALERT_VOLUME_ZERO, {0, 0, 3360, 0, 168}, 0},
        {ALERT_VOLUME_ZERO, {3, 0, 3360, 0, 168}, 1},
        {ALERT_INGEST_STALLED, {0, 12, 0, 0, 0}, 0},
        {ALERT_INGEST_STALLED, {0, 0, 0, 0, 0}, 1},
    };
    struct alert_conf c;

    (void)state;
    alert_defaults(&c);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        if (alert_below(&c.rule[rows[i].rule], rows[i].rule, &rows[i].x) != rows[i].want)
            fail_msg("row %zu (%s): want below=%d", i, alert_rule_name(rows[i].rule), rows[i].want);
}

/*
 * A sequence of evaluations of one subject: fire at once, escalate, hold between the lines,
 * and clear only after clear_periods (3) consecutive evaluations under the clearing line.
 * A value that bobs around the firing line does not make it flap. The alert reports the
 * numbers of its last firing evaluation ("kept"), not those of the evaluations that hold
 * it below the firing line; the one that ends it leaves its own numbers in st.end.
 */
static void test_hysteresis(void **state)
{
    static const struct {
        int64_t deferred; /* of 100 attempts, baseline 1 % */
        enum alert_change want;
        enum alert_severity sev;
        int64_t kept; /* st.x.cur_bad after the step */
        int firing;
    } seq[] = {
        {2, ALERT_SAME, ALERT_NONE, 0, 0},
        {15, ALERT_FIRED, ALERT_WARNING, 15, 1},
        {9, ALERT_SAME, ALERT_WARNING, 15, 0},  /* under the firing line, over the clearing one */
        {11, ALERT_SAME, ALERT_WARNING, 11, 1}, /* back over: no second fire */
        {40, ALERT_ESCALATED, ALERT_CRITICAL, 40, 1},
        {15, ALERT_SAME, ALERT_CRITICAL, 15, 1}, /* no step down */
        {3, ALERT_SAME, ALERT_CRITICAL, 15, 0},  /* below, 1 */
        {4, ALERT_SAME, ALERT_CRITICAL, 15, 0},  /* below, 2 */
        {7, ALERT_SAME, ALERT_CRITICAL, 15, 0},  /* between the lines: the count starts again */
        {3, ALERT_SAME, ALERT_CRITICAL, 15, 0},  /* below, 1 */
        {2, ALERT_SAME, ALERT_CRITICAL, 15, 0},  /* below, 2 */
        {1, ALERT_CLEARED, ALERT_NONE, 15, 0},   /* below, 3: cleared, with 15 kept */
        {3, ALERT_SAME, ALERT_NONE, 15, 0},
        {12, ALERT_FIRED, ALERT_WARNING, 12, 1}, /* a new incident is a new alert */
    };
    struct alert_conf c;
    struct alert_state st;

    (void)state;
    memset(&st, 0, sizeof(st));
    alert_defaults(&c);
    for (size_t i = 0; i < ARRAY_LEN(seq); i++) {
        struct alert_numbers x = {100, seq[i].deferred, 10000, 100, 168};
        enum alert_change got =
            alert_step(&c.rule[ALERT_DEFERRAL_PROVIDER], ALERT_DEFERRAL_PROVIDER, &x, &st);

        if (got != seq[i].want || st.sev != seq[i].sev)
            fail_msg("step %zu: want change %d severity %s, got %d %s", i, seq[i].want,
                     alert_severity_name(seq[i].sev), got, alert_severity_name(st.sev));
        if (st.x.cur_bad != seq[i].kept || st.firing != seq[i].firing)
            fail_msg("step %zu: want numbers of %lld deferred kept, firing %d; got %lld, %d", i,
                     (long long)seq[i].kept, seq[i].firing, (long long)st.x.cur_bad, st.firing);
        if (got == ALERT_CLEARED &&
            (st.end.cur_n != 100 || st.end.cur_bad != seq[i].deferred || st.end.base_n != 10000))
            fail_msg("step %zu: the end numbers are not the clearing evaluation's", i);
        if (got == ALERT_FIRED && (st.end.cur_n != 0 || st.end.cur_bad != 0))
            fail_msg("step %zu: a new alert still has the end numbers of the last one", i);
    }
}

/*
 * Escalation happens once per alert: warning to critical, never back, never again while
 * it lasts, even when the rate falls under the critical line and rises over it again.
 */
static void test_escalation_once(void **state)
{
    static const struct {
        int64_t complaints; /* of 10000 sent */
        enum alert_change want;
    } seq[] = {
        {12, ALERT_FIRED},     /* 0.12 %: warning */
        {35, ALERT_ESCALATED}, /* 0.35 %: critical */
        {20, ALERT_SAME},      /* back under 0.3 %: still critical */
        {40, ALERT_SAME},      /* over again: no second escalation */
    };
    struct alert_conf c;
    struct alert_state st;
    int escalations = 0;

    (void)state;
    memset(&st, 0, sizeof(st));
    alert_defaults(&c);
    for (size_t i = 0; i < ARRAY_LEN(seq); i++) {
        struct alert_numbers x = {10000, seq[i].complaints, 0, 0, 168};
        enum alert_change got = alert_step(&c.rule[ALERT_COMPLAINT], ALERT_COMPLAINT, &x, &st);

        assert_int_equal(got, seq[i].want);
        assert_int_equal(st.x.cur_bad, seq[i].complaints); /* every one of them fires */
        escalations += got == ALERT_ESCALATED;
    }
    assert_int_equal(escalations, 1);
    assert_int_equal(st.sev, ALERT_CRITICAL);
}

/* A disabled rule never fires, and an alert of a rule turned off (a reload) ends. */
static void test_disabled(void **state)
{
    struct alert_conf c;
    struct alert_state st;
    struct alert_numbers x = {100, 90, 10000, 0, 168};

    (void)state;
    memset(&st, 0, sizeof(st));
    alert_defaults(&c);
    assert_int_equal(alert_step(&c.rule[ALERT_BOUNCE_DOMAIN], ALERT_BOUNCE_DOMAIN, &x, &st),
                     ALERT_FIRED);
    assert_int_equal(alert_conf_set(&c, "bounce_domain_enabled", "no"), 0);
    assert_int_equal(alert_step(&c.rule[ALERT_BOUNCE_DOMAIN], ALERT_BOUNCE_DOMAIN, &x, &st),
                     ALERT_CLEARED);
    assert_int_equal(alert_step(&c.rule[ALERT_BOUNCE_DOMAIN], ALERT_BOUNCE_DOMAIN, &x, &st),
                     ALERT_SAME);
    assert_int_equal(st.sev, ALERT_NONE);
}

/* A subject that vanished from the numbers clears after clear_periods, like one below. */
static void test_gone(void **state)
{
    struct alert_conf c;
    struct alert_state st;
    struct alert_numbers x = {0, 5, 0, 0, 168};

    (void)state;
    memset(&st, 0, sizeof(st));
    alert_defaults(&c);
    assert_int_equal(alert_gone(&c.rule[ALERT_BLOCK_NEW], &st), ALERT_SAME);
    assert_int_equal(alert_step(&c.rule[ALERT_BLOCK_NEW], ALERT_BLOCK_NEW, &x, &st), ALERT_FIRED);
    assert_int_equal(alert_gone(&c.rule[ALERT_BLOCK_NEW], &st), ALERT_SAME);
    assert_int_equal(alert_gone(&c.rule[ALERT_BLOCK_NEW], &st), ALERT_SAME);
    assert_int_equal(alert_gone(&c.rule[ALERT_BLOCK_NEW], &st), ALERT_CLEARED);
    assert_int_equal(st.sev, ALERT_NONE);
    assert_int_equal(st.x.cur_bad, 5);   /* what fired it */
    assert_int_equal(st.end.cur_bad, 0); /* what ended it: nothing at all */
    assert_int_equal(st.end.cur_n, 0);
}

/* The [alerts] keys: RULE_field, rates in percent; bad keys and values refused. */
static void test_conf_keys(void **state)
{
    static const struct {
        const char *key, *value;
        int rc;
    } rows[] = {
        {"deferral_provider_warning", "25", 0},
        {"deferral_provider_critical", "50.5", 0},
        {"deferral_provider_factor", "2", 0},
        {"deferral_provider_min_volume", "10", 0},
        {"deferral_provider_clear_periods", "2", 0},
        {"deferral_provider_clear_ratio", "0.25", 0},
        {"block_new_warning", "3", 0},
        {"complaint_enabled", "off", 0},
        {"deferral_provider_warning", "101", -1},
        {"deferral_provider_warning", "-1", -1},
        {"deferral_provider_warning", "ten", -1},
        {"deferral_provider_min_volume", "1.5", -1},
        {"deferral_provider_clear_periods", "0", -1},
        {"complaint_enabled", "maybe", -1},
        {"nosuchrule_warning", "1", -1},
        {"deferral_provider_colour", "1", -1},
        {"_warning", "1", -1},
        {"warning", "1", -1},
    };
    struct alert_conf c;
    const struct alert_rule_conf *d;

    (void)state;
    alert_defaults(&c);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        if (alert_conf_set(&c, rows[i].key, rows[i].value) != rows[i].rc)
            fail_msg("%s = %s: want %d", rows[i].key, rows[i].value, rows[i].rc);
    d = &c.rule[ALERT_DEFERRAL_PROVIDER];
    assert_true(d->warning > 0.2499 && d->warning < 0.2501);
    assert_true(d->critical > 0.5049 && d->critical < 0.5051);
    assert_int_equal(d->min_volume, 10);
    assert_int_equal(d->clear_periods, 2);
    assert_true(c.rule[ALERT_BLOCK_NEW].warning == 3);
    assert_int_equal(c.rule[ALERT_COMPLAINT].enabled, 0);
    assert_int_equal(c.rule[ALERT_BOUNCE_DOMAIN].enabled, 1);
}

/* Rule names go both ways; the numbers read as JSON with the rule's own words. */
static void test_names_and_json(void **state)
{
    struct alert_numbers x = {200, 50, 1000, 10, 168};
    enum alert_rule r;
    struct buf b;

    (void)state;
    for (int i = 0; i < ALERT_NRULES; i++) {
        const char *n = alert_rule_name((enum alert_rule)i);

        assert_int_equal(alert_rule_parse(n, strlen(n), &r), 0);
        assert_int_equal(r, i);
    }
    assert_int_equal(alert_rule_parse("bounce", 6, &r), -1);
    buf_init(&b);
    alert_numbers_json(ALERT_DEFERRAL_DOMAIN, &x, &b);
    buf_putc(&b, 0);
    assert_string_equal(b.data, "{\"attempts\":200,\"deferred\":50,\"rate_percent\":25.00,"
                                "\"baseline_attempts\":1000,\"baseline_deferred\":10,"
                                "\"baseline_rate_percent\":1.00}");
    buf_reset(&b);
    alert_numbers_json(ALERT_COMPLAINT, &x, &b);
    buf_putc(&b, 0);
    assert_string_equal(b.data, "{\"sent\":200,\"complaints\":50,\"rate_percent\":25.00,"
                                "\"baseline_sent\":1000,\"baseline_complaints\":10,"
                                "\"baseline_rate_percent\":1.00}");
    buf_reset(&b);
    alert_numbers_json(ALERT_BLOCK_NEW, &x, &b);
    buf_putc(&b, 0);
    assert_string_equal(b.data, "{\"hits\":50,\"baseline_hits\":10}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge_table), cmocka_unit_test(test_below_table),
        cmocka_unit_test(test_hysteresis),  cmocka_unit_test(test_escalation_once),
        cmocka_unit_test(test_disabled),    cmocka_unit_test(test_gone),
        cmocka_unit_test(test_conf_keys),   cmocka_unit_test(test_names_and_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
