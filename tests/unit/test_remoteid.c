/*
 * NAME
 *	test_remoteid - the remote transaction id of each reply form
 *
 * DESCRIPTION
 *	One row per form of parser/remoteid.c, with the id it must give, and replies that
 *	name no id (a bare "250 OK", a code that only looks like an id).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parser/remoteid.h"
#include "util/util.h"

/* test_forms - each reply form gives its id and its form's name */
static void test_forms(void **state)
{
    static const struct {
        const char *reply, *form, *id;
    } rows[] = {
        {"250 2.0.0 OK  1700000000 x1si123.45 - gsmtp", "gmail", "x1si123.45"},
        {"2.0.0 OK  1700000000 a640c23a62f3a-a9e6e8d1f2csi1234567a.123 - gsmtp\r\n", "gmail",
         "a640c23a62f3a-a9e6e8d1f2csi1234567a.123"},
        {"250 2.6.0 <AM6PR01MB1234ABCD@AM6PR01MB1234.eurprd01.prod.exchangelabs.com> "
         "[InternalId=12345678901234, Hostname=AM6PR01MB1234.eurprd01.prod.exchangelabs.com] "
         "12345 bytes in 0.123, 97.123 KB/sec Queued mail for delivery",
         "microsoft", "AM6PR01MB1234ABCD@AM6PR01MB1234.eurprd01.prod.exchangelabs.com"},
        {"250 2.6.0 [InternalId=98765, Hostname=DB8EUR05FT012.eop-eur05.prod.protection."
         "outlook.com] Queued mail for delivery",
         "microsoft", "98765"},
        {"250 2.0.0 Ok: queued on mxback1o.mail.yandex.net 1700000000-AbCdEf0123-QwEr", "yandex",
         "1700000000-AbCdEf0123-QwEr"},
        {"250 2.0.0 Ok: queued on mxfront1.mail.yandex.net as 1700000000-xYz12345", "yandex",
         "1700000000-xYz12345"},
        {"250 2.0.0 Ok: queued as 4ZxY2l3Xr9z1", "postfix", "4ZxY2l3Xr9z1"},
        {"250 2.0.0 Ok: 15 bytes queued as 75A291CA025.", "postfix", "75A291CA025"},
        {"250 OK id=1Mugho-0003Dg-Un", "exim", "1Mugho-0003Dg-Un"},
        {"250 Requested mail action okay, completed: id=1MvK5K-1qWxYz2abC-00sT4u", "exim",
         "1MvK5K-1qWxYz2abC-00sT4u"},
        {"250 2.0.0 r9KHbQ2k012345 Message accepted for delivery", "sendmail", "r9KHbQ2k012345"},
        {"250 2.0.0 3xyzab1c2d-1 Message accepted for delivery", "sendmail", "3xyzab1c2d-1"},
        {"250 ok 1700000000 qp 12345", "qmail", "12345"},
        {"250 Ok 0100018c2b3a4d5e-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000", "ses",
         "0100018c2b3a4d5e-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000"},
    };
    char out[128];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        const char *form = remote_id(rows[i].reply, strlen(rows[i].reply), out, sizeof(out));

        if (form == NULL || strcmp(form, rows[i].form) != 0 || strcmp(out, rows[i].id) != 0)
            fail_msg("row %zu: got %s \"%s\", want %s \"%s\"", i, form ? form : "(none)", out,
                     rows[i].form, rows[i].id);
    }
}

/* test_none - replies that name no id give "" and NULL */
static void test_none(void **state)
{
    static const char *const replies[] = {
        "250 OK",
        "250 2.0.0 Ok",
        "250 2.0.0 Message accepted for delivery",
        "250 Ok short",
        "250 2.0.0 OK - gsmtp",
        "250 msgid=abc accepted",
        "250 2.6.0 <unterminated Queued mail for delivery",
        "",
    };
    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(replies); i++) {
        strcpy(out, "x");
        if (remote_id(replies[i], strlen(replies[i]), out, sizeof(out)) != NULL || out[0] != 0)
            fail_msg("reply %zu gave \"%s\": %s", i, out, replies[i]);
    }
}

/* test_cut - an id longer than the output is cut to fit and terminated */
static void test_cut(void **state)
{
    char out[8];

    (void)state;
    assert_string_equal(remote_id("250 Ok: queued as ABCDEFGHIJKL", 29, out, sizeof(out)),
                        "postfix");
    assert_string_equal(out, "ABCDEFG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
