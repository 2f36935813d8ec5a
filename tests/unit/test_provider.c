/*
 * test_provider - parser/provider.c: mailbox providers by relay and domain, added rules, and
 * the blocklists and policy blocks that replies name
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "parser/provider.h"
#include "util/util.h"

/* Relay first, domain second; relay host names as delivery lines write them. */
static void test_provider_of(void **state)
{
    static const struct {
        const char *relay, *domain, *want;
    } rows[] = {
        {"gmail-smtp-in.l.google.com[142.250.1.26]:25", "gmail.com", "google"},
        {"ALT2.ASPMX.L.GOOGLE.com[1.2.3.4]:25", "example.org", "google"}, /* hosted */
        {"aspmx.l.google.com.[1.2.3.4]:25", "shop.example", "google"},    /* trailing dot */
        {"example-com.mail.protection.outlook.com[52.1.1.1]:25", "example.com", "microsoft"},
        {"hotmail-com.olc.protection.outlook.com[1.1.1.1]:25", "hotmail.com", "microsoft"},
        {NULL, "hotmail.co.uk", "microsoft"},
        {"", "live.fr", "microsoft"},
        {"mx-aol.mail.gm0.yahoodns.net[1.1.1.1]:25", "aol.com", "yahoo"},
        {NULL, "yahoo.co.jp", "yahoo"},
        {"mx6.mail.icloud.com[17.1.1.1]:25", "me.com", "apple"},
        {"mx00.gmx.net[1.1.1.1]:25", "gmx.de", "gmx"},
        {NULL, "web.de", "gmx"},
        {"mxs.mail.ru[1.1.1.1]:25", "bk.ru", "mailru"},
        {"mx.yandex.ru[1.1.1.1]:25", "yandex.ru", "yandex"},
        {"mx.zoho.com[1.1.1.1]:25", "company.example", "zoho"},
        {"mail.protonmail.ch[1.1.1.1]:25", "proton.me", "proton"},
        {"in1-smtp.messagingengine.com[1.1.1.1]:25", "fastmail.com", "fastmail"},
        {NULL, "comcast.net", "comcast"},
        {NULL, "wanadoo.fr", "orange"},
        /* A smarthost says nothing about the receiver: the domain decides. */
        {"email-smtp.us-east-1.amazonaws.com[3.3.3.3]:587", "gmail.com", "google"},
        {"smtp-relay.gmail.com[1.1.1.1]:587", "example.net", "other"},
        {"smtp.office365.com[1.1.1.1]:587", "outlook.com", "microsoft"},
        /* Label boundaries: look-alikes are not the provider. */
        {"mx.notgoogle.com[1.1.1.1]:25", "notgmail.com", "other"},
        {NULL, "hotmailer.com", "other"},
        {NULL, "myhotmail.com", "other"},
        {NULL, "hotmail.example.co.uk", "other"},
        {"none", "example.com", "other"},
        {"127.0.0.1[127.0.0.1]:10025", "example.com", "other"},
        {"local", NULL, "other"},
        {NULL, NULL, "other"},
        {"spool.mail.gandi.net[1.1.1.1]:25", "example.fr", "other"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const char *got = provider_of(rows[i].relay, rows[i].domain);

        if (strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu (%s, %s): want %s, got %s", i, rows[i].relay ? rows[i].relay : "-",
                     rows[i].domain ? rows[i].domain : "-", rows[i].want, got);
    }
}

/* The names are bounded, each once, "other" last. */
static void test_provider_names(void **state)
{
    const char *const *names;
    size_t n = provider_names(&names);

    (void)state;
    assert_true(n >= 10);
    assert_string_equal(names[n - 1], "other");
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            assert_string_not_equal(names[i], names[k]);
}

/* Added rules win over the shipped table and can name new providers. */
static void test_provider_added(void **state)
{
    char path[] = "/tmp/mailpulse-providers.XXXXXX", err[256];
    const char *const *names;
    size_t before, after;
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");

    (void)state;
    provider_reset();
    before = provider_names(&names);
    fputs("# site rules\n"
          "mx.hosting.example   ovh\n"
          "\n"
          "google.com           -      # our Google relay is a smarthost\n",
          fp);
    fclose(fp);
    assert_int_equal(provider_load(path, err, sizeof(err)), 0);
    assert_string_equal(provider_of("mx2.mx.hosting.example[1.1.1.1]:25", "a.example"), "ovh");
    assert_string_equal(provider_of("aspmx.l.google.com[1.1.1.1]:25", "a.example"), "other");
    assert_string_equal(provider_of("aspmx.l.google.com[1.1.1.1]:25", "gmail.com"), "google");
    after = provider_names(&names);
    assert_int_equal(after, before + 1);
    assert_string_equal(names[after - 1], "other");

    fp = fopen(path, "w");
    fputs("good.example good\nbad line with three\n", fp);
    fclose(fp);
    assert_int_equal(provider_load(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(provider_add("x.example", "other"), -1);
    assert_int_equal(provider_add("x.example", "Upper"), -1);
    assert_int_equal(provider_add("x/../y", "z"), -1);
    assert_int_equal(provider_load("/nonexistent/providers", err, sizeof(err)), -1);
    unlink(path);
    provider_reset();
    assert_string_equal(provider_of("mx2.mx.hosting.example[1.1.1.1]:25", "a.example"), "other");
}

/* Replies as the big receivers write them, and what each is recognised as. */
static void test_block_match(void **state)
{
    static const struct {
        const char *reply;
        const char *want; /* NULL: no block named */
        enum block_kind kind;
    } rows[] = {
        {"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
         "https://www.spamhaus.org/query/ip/192.0.2.1",
         "Spamhaus ZEN", BLOCK_LIST},
        {"550 5.7.1 Rejected: 192.0.2.1 listed at https://www.spamhaus.org/pbl/query/PBL1234",
         "Spamhaus PBL", BLOCK_LIST},
        {"554 Service unavailable; Client host blocked using b.barracudacentral.org",
         "Barracuda BRBL", BLOCK_LIST},
        {"550 5.7.1 Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.1", "SpamCop",
         BLOCK_LIST},
        {"550 5.7.1 Message rejected because of unacceptable content. Your IP is listed by "
         "UCEPROTECT-Level2",
         "UCEPROTECT", BLOCK_LIST},
        {"550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
         "Internet service provider since part of their network is on our block list (S3150).",
         "Microsoft S3150", BLOCK_LIST},
        {"550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. ... (S3140)",
         "Microsoft S3140", BLOCK_LIST},
        {"550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "Microsoft banned sending IP",
         BLOCK_POLICY},
        {"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
         "volume or user complaints - 4.16.55.1",
         "Yahoo TSS04", BLOCK_RATE},
        {"553 5.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred", "Yahoo TS03",
         BLOCK_POLICY},
        {"421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your "
         "IP address. a1si1 - gsmtp",
         "Gmail 4.7.28 rate limit", BLOCK_RATE},
        {"550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
         "Gmail users - gsmtp",
         "Gmail 5.7.26 unauthenticated", BLOCK_AUTH},
        {"550-5.7.1 Our system has detected that this message is likely unsolicited mail. - gsmtp",
         "Gmail unsolicited mail", BLOCK_POLICY},
        {"554 5.7.1 [CS01] Message rejected due to local policy", "iCloud CS01", BLOCK_POLICY},
        {"554 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", "Proofpoint",
         BLOCK_POLICY},
        {"550 Rejected by header based Anti-Spoofing policy - https://community.mimecast.com",
         "Mimecast", BLOCK_POLICY},
        {"550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown", NULL, BLOCK_LIST},
        {"452 4.2.2 Mailbox full", NULL, BLOCK_LIST},
        {"250 2.0.0 OK 1700000000 x1si123.45 - gsmtp", NULL, BLOCK_LIST},
        {"", NULL, BLOCK_LIST},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const struct block *b = block_match(rows[i].reply, strlen(rows[i].reply));

        if (rows[i].want == NULL) {
            if (b != NULL)
                fail_msg("row %zu: want nothing, got %s", i, b->name);
            continue;
        }
        if (b == NULL || strcmp(b->name, rows[i].want) != 0)
            fail_msg("row %zu: want %s, got %s", i, rows[i].want, b ? b->name : "nothing");
        assert_int_equal(b->kind, rows[i].kind);
        assert_non_null(b->operator);
    }
    assert_null(block_match(NULL, 0));
    assert_string_equal(block_kind_name(BLOCK_RATE), "rate");
}

/* Words are found wherever they stand: first, last, in upper case, beside words that begin
 * alike, and only inside the first 2048 bytes of a reply. */
static void test_block_match_edges(void **state)
{
    static const struct {
        const char *reply;
        const char *want;
    } rows[] = {
        {"spamcop", "SpamCop"},
        {"550 BLOCKED BY SPAMCOP", "SpamCop"},
        {"550 listed: spamrats", "SpamRATS"},
        {"550 see sbl-xbl.spamhaus.org", "Spamhaus SBL-XBL"},
        {"550 see https://spamhaus.org/xbl", "Spamhaus XBL"},
        {"421 4.7.0 [TSS09] deferred, tss0", "Yahoo TSS09"},
        {"421 4.7.0 tss0", NULL},
        {"421 4.7.0 [ts02]", "Yahoo TS02"},
        {"421 unusual rate of mail", NULL},
        {"421 unusual rate of mail - GSMTP", "Gmail unusual rate"},
        {"550 s3150 s3140", "Microsoft S3140"},
        {"5", NULL},
        {"sp", NULL},
    };
    char big[2100];

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const struct block *b = block_match(rows[i].reply, strlen(rows[i].reply));

        if (rows[i].want == NULL ? b != NULL : b == NULL || strcmp(b->name, rows[i].want) != 0)
            fail_msg("row %zu (%s): want %s, got %s", i, rows[i].reply,
                     rows[i].want ? rows[i].want : "nothing", b ? b->name : "nothing");
    }
    memset(big, 'x', sizeof(big));
    memcpy(big + 2048 - 7, "spamcop", 7); /* ends at the last byte looked at */
    assert_non_null(block_match(big, sizeof(big)));
    memset(big, 'x', sizeof(big));
    memcpy(big + 2048 - 6, "spamcop", 7); /* its last byte is past it */
    assert_null(block_match(big, sizeof(big)));
}

/* A stored block name finds its rule again; every rule's name does. */
static void test_block_named(void **state)
{
    const char *reply = "554 5.7.1 Client host [198.51.100.9] blocked using zen.spamhaus.org";
    const struct block *b = block_match(reply, strlen(reply)), *n;

    (void)state;
    assert_non_null(b);
    n = block_named(b->name);
    assert_ptr_equal(n, b);
    assert_string_equal(n->operator, "Spamhaus");
    assert_string_equal(block_kind_name(n->kind), "list");
    reply = "550 5.7.1 ... part of their network is on our block list (S3140).";
    b = block_match(reply, strlen(reply));
    assert_non_null(b);
    assert_string_equal(block_named(b->name)->name, "Microsoft S3140");
    assert_null(block_named("No Such Rule"));
    assert_null(block_named(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_match_edges), cmocka_unit_test(test_provider_of),
        cmocka_unit_test(test_provider_names),    cmocka_unit_test(test_provider_added),
        cmocka_unit_test(test_block_match),       cmocka_unit_test(test_block_named),
    };

    return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
