/*
 * test_reason - cmocka tests of parser/reason.c: the rule table on hand-picked replies, and
 * how often reason_classify() agrees with Sisimai on its table of real bounces (read from the
 * corpora, corpora_dir(): MAILPULSE_CORPORA, default tests/corpora)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parser/parser.h"
#include "tests/unit/unit.h"

/* The share of Sisimai's verdicts that reason_classify() must reproduce, in percent. */
#define REASON_AGREEMENT_MIN      55 /* all rows; measured 57.9% */
#define REASON_AGREEMENT_REAL_MIN 69 /* rows with real status codes; measured 71.7% */

/* ---- reasons ---- */

static const struct {
    int code;
    const char *dsn, *text;
    enum event_status status;
    const char *reason;
    bool hard;
} reason_rows[] = {
    {250, "2.0.0", "250 ok", ST_SENT, "", false},
    {550, "5.1.1", "550 5.1.1 <a@b> User unknown", ST_BOUNCED, "userunknown", true},
    {450, "4.1.1", "450 4.1.1 <a@b> User unknown", ST_DEFERRED, "userunknown", false},
    {550, "5.1.2", "", ST_BOUNCED, "hostunknown", true},
    {-1, "5.4.4", "Host or domain name not found. Name service error", ST_BOUNCED, "hostunknown",
     true},
    {552, "5.2.2", "mailbox full", ST_BOUNCED, "mailboxfull", false},
    {452, "4.2.2", "user is over quota, please try again later", ST_DEFERRED, "mailboxfull", false},
    {551, "5.1.6", "", ST_BOUNCED, "hasmoved", true},
    {550, "5.2.1", "", ST_BOUNCED, "suspend", false},
    {554, "5.7.1", "blocked using zen.spamhaus.org", ST_BOUNCED, "blocked", false},
    {550, "5.7.1", "message identified as spam", ST_BOUNCED, "spamdetected", false},
    {550, "5.7.1", "poor sender reputation", ST_BOUNCED, "badreputation", false},
    {554, "5.7.1", "Relay access denied", ST_BOUNCED, "norelaying", false},
    {550, "5.7.26", "", ST_BOUNCED, "authfailure", false},
    {550, "5.7.25", "", ST_BOUNCED, "requireptr", false},
    {552, "5.3.4", "", ST_BOUNCED, "mesgtoobig", false},
    {-1, "4.4.1", "connect to x: Connection refused", ST_DEFERRED, "networkerror", false},
    {-1, "4.4.7", "", ST_BOUNCED, "expired", false},
    {-1, "", "", ST_EXPIRED, "expired", false},
    {554, "5.7.1", "Virus found", ST_BOUNCED, "virusdetected", false},
    {421, "4.7.0", "Too many connections", ST_DEFERRED, "toomanyconn", false},
    {530, "5.7.0", "Must issue a STARTTLS command first", ST_BOUNCED, "failedstarttls", false},
    {451, "4.7.1", "Greylisted, try again in 5 minutes", ST_DEFERRED, "blocked", false},
    {-1, "", "", ST_BOUNCED, "undefined", false},
};

/* test_reason_rows - the rule table on hand-picked replies */
static void test_reason_rows(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(reason_rows); i++) {
        struct reason_result rr;

        reason_classify(reason_rows[i].code, reason_rows[i].dsn, reason_rows[i].text,
                        reason_rows[i].status, &rr);
        if (strcmp(rr.reason, reason_rows[i].reason) != 0 || rr.hard != reason_rows[i].hard)
            fail_msg("row %zu: %s/%d, want %s/%d", i, rr.reason, rr.hard, reason_rows[i].reason,
                     reason_rows[i].hard);
    }
}

/*
 * diagnostic_code - the nth (1-based) Diagnostic-Code of a bounce message, unfolded, into out.
 * Returns false when the message has none.
 */
static bool diagnostic_code(const char *path, int nth, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool in = false, done = false;
    size_t len = 0;
    int seen = 0;

    out[0] = 0;
    if (f == NULL)
        return false;
    while (!done && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (in) {
            if (line[0] == ' ' || line[0] == '\t') {
                len += (size_t)snprintf(out + len, n - len, " %s", line + strspn(line, " \t"));
                if (len >= n)
                    len = n - 1;
                continue;
            }
            in = false;
            if (seen == nth)
                done = true;
        }
        if (strncasecmp(line, "Diagnostic-Code:", 16) == 0) {
            seen++;
            if (seen == nth || (seen < nth && nth > 0)) {
                len = (size_t)snprintf(out, n, "%s", line + 16);
                if (len >= n)
                    len = n - 1;
                in = true;
            }
        }
    }
    fclose(f);
    return seen > 0;
}

/* test_reason_sisimai - agreement with Sisimai on its own table of real bounces */
static void test_reason_sisimai(void **state)
{
    char path[1024], row[4096], text[2048];
    FILE *f;
    int total = 0, agree = 0, agree_codes = 0, with_text = 0, real = 0, agree_real = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/expected.tsv", corpora_dir());
    f = fopen(path, "r");
    if (f == NULL) {
        print_message("%s not found (set MAILPULSE_CORPORA)\n", path);
        skip();
    }
    assert_non_null(fgets(row, sizeof(row), f)); /* the header */
    while (fgets(row, sizeof(row), f)) {
        char *col[8] = {0}, *s = row, eml[1200];
        struct reason_result rr, rc;
        int i, code, is_real;

        row[strcspn(row, "\r\n")] = 0;
        for (i = 0; i < 8 && s; i++) {
            col[i] = s;
            s = strchr(s, '\t');
            if (s)
                *s++ = 0;
        }
        if (col[5] == NULL)
            continue;
        /* delivered and feedback rows are not failures */
        if (strcmp(col[4], "delivered") == 0 || strcmp(col[4], "feedback") == 0)
            continue;
        code = col[3][0] ? atoi(col[3]) : -1;
        snprintf(eml, sizeof(eml), "%s/sisimai-set-of-emails/%s", corpora_dir(), col[0]);
        if (diagnostic_code(eml, atoi(col[1]), text, sizeof(text)))
            with_text++;
        reason_classify(code, col[2], text, ST_BOUNCED, &rr);
        reason_classify(code, col[2], "", ST_BOUNCED, &rc);
        total++;
        /* X.0.9xx codes are Sisimai's own stand-ins, never seen in a log */
        is_real = strncmp(col[2] + 1, ".0.9", 4) != 0;
        real += is_real;
        if (strcmp(rr.reason, col[4]) == 0 && rr.hard == (strcmp(col[5], "true") == 0)) {
            agree++;
            agree_real += is_real;
        }
        if (getenv("REASON_DEBUG") && strcmp(rr.reason, col[4]) != 0)
            print_message("want %s got %s | %s %d | %.150s\n", col[4], rr.reason, col[2], code,
                          text);
        if (strcmp(rc.reason, col[4]) == 0 && rc.hard == (strcmp(col[5], "true") == 0))
            agree_codes++;
    }
    fclose(f);
    print_message("sisimai: %d rows (%d with Diagnostic-Code text): reason+hard agree %d "
                  "(%.1f%%); codes only %d (%.1f%%)\n",
                  total, with_text, agree, 100.0 * agree / total, agree_codes,
                  100.0 * agree_codes / total);
    print_message("sisimai: without Sisimai's X.0.9xx stand-in codes: %d rows, agree %d (%.1f%%)\n",
                  real, agree_real, 100.0 * agree_real / real);
    assert_true(total > 150);
    assert_true(agree * 100 >= total * REASON_AGREEMENT_MIN);
    assert_true(agree_real * 100 >= real * REASON_AGREEMENT_REAL_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_rows),
        cmocka_unit_test(test_reason_sisimai),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
