/*
 * reason - classify a delivery outcome into a Sisimai reason name
 *
 * The rules are one table, tried in three passes: words of the reply text first (they are
 * the most specific: "5.7.1" says little, "listed at spamhaus" says a lot), then the
 * enhanced status code of RFC 3463 (exact subject.detail, then the subject alone), then the
 * bare SMTP code. The first row that matches names the reason. "hard" follows Sisimai:
 * only reasons where retrying the same address can never help (userunknown, hostunknown,
 * hasmoved, notaccept) are hard, and only for a permanent failure.
 *
 * Text rows are lower case; the reply is lowered once into a bounded stack buffer.
 */
#include <string.h>

#include "parser/parser.h"

enum rule_kind {
    RK_TEXT, /* case-insensitive substring of the reply text */
    RK_DSN,  /* "1.1": X.1.1 exactly; "4.": any X.4.x */
    RK_CODE, /* "552": the SMTP reply code */
};

struct reason_rule {
    enum rule_kind kind;
    const char *pattern;
    const char *reason;
    bool hard;
};

/* Order matters within a kind: the first match wins, so specific rows come first. */
static const struct reason_rule rules[] = {
    /* Text: the recipient or its domain. */
    {RK_TEXT, "host or domain name not found", "hostunknown", true},
    {RK_TEXT, "name service error", "hostunknown", true},
    {RK_TEXT, "domain not found", "hostunknown", true},
    {RK_TEXT, "unrouteable address", "hostunknown", true},
    {RK_TEXT, "domain is not reachable", "hostunknown", true},
    {RK_TEXT, "no such domain", "hostunknown", true},
    {RK_TEXT, "null mx", "notaccept", true},
    {RK_TEXT, "does not accept mail", "notaccept", true},
    {RK_TEXT, "mailbox full", "mailboxfull", false},
    {RK_TEXT, "mailbox is full", "mailboxfull", false},
    {RK_TEXT, "over quota", "mailboxfull", false},
    {RK_TEXT, "quota exceeded", "mailboxfull", false},
    {RK_TEXT, "exceeded storage", "mailboxfull", false},
    {RK_TEXT, "insufficient storage", "mailboxfull", false},
    {RK_TEXT, "quota", "mailboxfull", false},
    {RK_TEXT, "has moved", "hasmoved", true},
    {RK_TEXT, "account has been disabled", "suspend", false},
    {RK_TEXT, "account is disabled", "suspend", false},
    {RK_TEXT, "mailbox disabled", "suspend", false},
    {RK_TEXT, "mailbox is disabled", "suspend", false},
    {RK_TEXT, "account disabled", "suspend", false},
    {RK_TEXT, "account suspended", "suspend", false},
    {RK_TEXT, "account has been suspended", "suspend", false},
    {RK_TEXT, "mailbox suspended", "suspend", false},
    {RK_TEXT, "inactive user", "suspend", false},
    {RK_TEXT, "account is inactive", "suspend", false},
    {RK_TEXT, "temporarily locked", "suspend", false},
    {RK_TEXT, "temporary locked", "suspend", false},
    {RK_TEXT, "mailbox is frozen", "suspend", false},
    {RK_TEXT, "domain of sender address", "rejected", false},
    {RK_TEXT, "user unknown", "userunknown", true},
    {RK_TEXT, "unknown user", "userunknown", true},
    {RK_TEXT, "no such user", "userunknown", true},
    {RK_TEXT, "user not found", "userunknown", true},
    {RK_TEXT, "unknown recipient", "userunknown", true},
    {RK_TEXT, "recipient not found", "userunknown", true},
    {RK_TEXT, "invalid recipient", "userunknown", true},
    {RK_TEXT, "no mailbox", "userunknown", true},
    {RK_TEXT, "mailbox not found", "userunknown", true},
    {RK_TEXT, "mailbox unavailable", "userunknown", true},
    {RK_TEXT, "does not exist", "userunknown", true},
    {RK_TEXT, "doesn't exist", "userunknown", true},
    {RK_TEXT, "address rejected: undeliverable", "userunknown", true},
    {RK_TEXT, "in local recipient table", "userunknown", true},
    /* Text: the sending side. */
    {RK_TEXT, "relay access denied", "norelaying", false},
    {RK_TEXT, "relaying denied", "norelaying", false},
    {RK_TEXT, "relay not permitted", "norelaying", false},
    {RK_TEXT, "relaying not allowed", "norelaying", false},
    {RK_TEXT, "unable to relay", "norelaying", false},
    {RK_TEXT, "not permitted to relay", "norelaying", false},
    {RK_TEXT, "not configured to relay", "norelaying", false},
    {RK_TEXT, "virus", "virusdetected", false},
    {RK_TEXT, "multiple addresses in from", "notcompliantrfc", false},
    {RK_TEXT, "not rfc 5322 compliant", "notcompliantrfc", false},
    {RK_TEXT, "dmarc", "authfailure", false},
    {RK_TEXT, "spf record", "authfailure", false},
    {RK_TEXT, "bad spf", "authfailure", false},
    {RK_TEXT, "spf check", "authfailure", false},
    {RK_TEXT, "spf fail", "authfailure", false},
    {RK_TEXT, "unauthenticated email", "authfailure", false},
    {RK_TEXT, "authentication required", "securityerror", false},
    {RK_TEXT, "unauthenticated senders", "securityerror", false},
    {RK_TEXT, "smtp authentication", "securityerror", false},
    {RK_TEXT, "client host rejected", "blocked", false},
    {RK_TEXT, "banned sending ip", "blocked", false},
    {RK_TEXT, "spamhaus", "blocked", false},
    {RK_TEXT, "blocklist", "blocked", false},
    {RK_TEXT, "blacklist", "blocked", false},
    {RK_TEXT, "block list", "blocked", false},
    {RK_TEXT, "black list", "blocked", false},
    {RK_TEXT, "dnsbl", "blocked", false},
    {RK_TEXT, "listed", "blocked", false},
    {RK_TEXT, "reputation", "badreputation", false},
    {RK_TEXT, "content rejected", "spamdetected", false},
    {RK_TEXT, "spam", "spamdetected", false},
    {RK_TEXT, "reverse dns", "requireptr", false},
    {RK_TEXT, "ptr record", "requireptr", false},
    {RK_TEXT, "reverse lookup", "requireptr", false},
    {RK_TEXT, "dkim", "authfailure", false},
    {RK_TEXT, "dns ptr", "requireptr", false},
    {RK_TEXT, "ip name lookup failed", "requireptr", false},
    {RK_TEXT, "starttls", "failedstarttls", false},
    {RK_TEXT, "tls is required", "failedstarttls", false},
    {RK_TEXT, "tls required", "failedstarttls", false},
    {RK_TEXT, "tls negotiation", "failedstarttls", false},
    {RK_TEXT, "tls handshake", "failedstarttls", false},
    {RK_TEXT, "too many connections", "toomanyconn", false},
    {RK_TEXT, "connection rate limit", "toomanyconn", false},
    {RK_TEXT, "too many simultaneous", "toomanyconn", false},
    {RK_TEXT, "connection limit", "toomanyconn", false},
    {RK_TEXT, "too many recipients", "exceedlimit", false},
    {RK_TEXT, "message size exceeds", "mesgtoobig", false},
    {RK_TEXT, "message too big", "mesgtoobig", false},
    {RK_TEXT, "message too large", "mesgtoobig", false},
    {RK_TEXT, "message is too large", "mesgtoobig", false},
    {RK_TEXT, "size limit", "mesgtoobig", false},
    /* Greylisting is a policy refusal of the client for now, not a rate limit. */
    {RK_TEXT, "greylist", "blocked", false},
    {RK_TEXT, "insufficient disk space", "systemfull", false},
    {RK_TEXT, "policy reasons", "policyviolation", false},
    {RK_TEXT, "rate limit", "speeding", false},
    {RK_TEXT, "receiving mail at a rate", "speeding", false},
    {RK_TEXT, "too many messages", "speeding", false},
    {RK_TEXT, "sending too fast", "speeding", false},
    {RK_TEXT, "try again slower", "speeding", false},
    {RK_TEXT, "message expired", "expired", false},
    {RK_TEXT, "delivery time expired", "expired", false},
    {RK_TEXT, "too long in queue", "expired", false},
    {RK_TEXT, "connection refused", "networkerror", false},
    {RK_TEXT, "connection timed out", "networkerror", false},
    {RK_TEXT, "network is unreachable", "networkerror", false},
    {RK_TEXT, "no route to host", "networkerror", false},
    {RK_TEXT, "lost connection", "networkerror", false},
    {RK_TEXT, "connection reset", "networkerror", false},
    {RK_TEXT, "timed out", "networkerror", false},
    {RK_TEXT, "sender address rejected", "rejected", false},
    {RK_TEXT, "try again later", "speeding", false},
    /* Exim/Sendmail rows: wordings of their own logs (X, issue 7). */
    {RK_TEXT, "sender verify failed", "rejected", false},
    {RK_TEXT, "host unknown", "hostunknown", true},
    {RK_TEXT, "ratelimited", "speeding", false},
    {RK_TEXT, "auth is required", "securityerror", false},
    {RK_TEXT, "remote host closed connection", "networkerror", false},
    {RK_TEXT, "connection closed", "networkerror", false},
    {RK_TEXT, "domain is held", "onhold", false},
    /* Enhanced status codes, RFC 3463 and its registry: exact subject.detail. */
    {RK_DSN, "1.1", "userunknown", true},
    {RK_DSN, "1.2", "hostunknown", true},
    {RK_DSN, "1.3", "userunknown", true},
    {RK_DSN, "1.4", "userunknown", true},
    {RK_DSN, "1.6", "hasmoved", true},
    {RK_DSN, "1.7", "rejected", false},
    {RK_DSN, "1.8", "rejected", false},
    {RK_DSN, "1.10", "notaccept", true},
    {RK_DSN, "2.1", "suspend", false},
    {RK_DSN, "2.2", "mailboxfull", false},
    {RK_DSN, "2.3", "exceedlimit", false},
    {RK_DSN, "3.1", "systemfull", false},
    {RK_DSN, "3.4", "mesgtoobig", false},
    {RK_DSN, "3.5", "systemerror", false},
    {RK_DSN, "4.4", "hostunknown", true},
    {RK_DSN, "4.7", "expired", false},
    {RK_DSN, "7.1", "rejected", false},
    {RK_DSN, "7.7", "securityerror", false},
    {RK_DSN, "7.8", "securityerror", false},
    {RK_DSN, "7.13", "suspend", false},
    {RK_DSN, "7.23", "authfailure", false},
    {RK_DSN, "7.24", "authfailure", false},
    {RK_DSN, "7.25", "requireptr", false},
    {RK_DSN, "7.26", "authfailure", false},
    {RK_DSN, "7.27", "notaccept", true},
    /* Enhanced status codes: the subject alone. */
    {RK_DSN, "1.", "userunknown", true},
    {RK_DSN, "2.", "mailboxfull", false},
    {RK_DSN, "3.", "systemerror", false},
    {RK_DSN, "4.", "networkerror", false},
    {RK_DSN, "5.", "syntaxerror", false},
    {RK_DSN, "6.", "contenterror", false},
    {RK_DSN, "7.", "policyviolation", false},
    /* SMTP reply codes, RFC 5321, when nothing better is known. */
    {RK_CODE, "421", "toomanyconn", false},
    {RK_CODE, "551", "hasmoved", true},
    {RK_CODE, "552", "mailboxfull", false},
    {RK_CODE, "553", "rejected", false},
};

/* dsn_matches - does the enhanced code ("5.1.1") fit the rule pattern ("1.1" or "1.")? */
static bool dsn_matches(const char *dsn, const char *pattern)
{
    size_t plen = strlen(pattern);
    const char *tail;

    if (!(dsn[0] >= '2' && dsn[0] <= '5') || dsn[1] != '.')
        return false;
    tail = dsn + 2;
    if (pattern[plen - 1] == '.')
        return strncmp(tail, pattern, plen) == 0;
    return strcmp(tail, pattern) == 0;
}

/* code_matches - does the 3-digit SMTP code equal the rule pattern? */
static bool code_matches(int code, const char *pattern)
{
    int want = (pattern[0] - '0') * 100 + (pattern[1] - '0') * 10 + (pattern[2] - '0');

    return code == want;
}

/*
 * A set of the byte pairs of the lowered reply, as a 1024-entry filter: a text row whose
 * pattern has a pair the reply lacks cannot match, so strstr() runs only for the few rows
 * that may. (Without it, the text rows were an eighth of `mailpulse parse`'s time on a log
 * with many failures.) One byte per entry, not one bit: plain stores, no read-modify-write
 * chain through the same word.
 */
#define PAIR_BITS 1024

/* pair_hash - the filter bit of a byte pair */
static inline unsigned pair_hash(unsigned char a, unsigned char b)
{
    return ((unsigned)a * 31u + b) & (PAIR_BITS - 1);
}

/* lower_pairs - lower_copy() and pairs_of() in one pass */
static void lower_pairs(char *out, size_t outlen, const char *s, unsigned char *bits)
{
    unsigned char prev = 0;
    size_t i;

    memset(bits, 0, PAIR_BITS);
    // cppcheck-suppress arrayIndexOutOfBoundsCond
    for (i = 0; i + 1 < outlen && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];

        c = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        out[i] = (char)c;
        if (i) {
            unsigned h = pair_hash(prev, c);

            bits[h] = 1;
        }
        prev = c;
    }
    out[i] = 0;
}

/* may_contain - could the text of the filter contain the pattern? */
static bool may_contain(const unsigned char *bits, const char *pattern)
{
    const unsigned char *t = (const unsigned char *)pattern;

    for (; t[0] && t[1]; t++) {
        unsigned h = pair_hash(t[0], t[1]);

        if (!bits[h])
            return false;
    }
    return true;
}

/* find_rule - the first rule of kind that matches, or NULL */
static const struct reason_rule *find_rule(enum rule_kind kind, int smtp_code, const char *dsn,
                                           const char *lowered, const unsigned char *pairs)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(rules); i++) {
        const struct reason_rule *r = &rules[i];

        if (r->kind != kind)
            continue;
        if ((kind == RK_TEXT && may_contain(pairs, r->pattern) && strstr(lowered, r->pattern)) ||
            (kind == RK_DSN && dsn_matches(dsn, r->pattern)) ||
            (kind == RK_CODE && code_matches(smtp_code, r->pattern)))
            return r;
    }
    return NULL;
}

/* reason_classify - Sisimai reason and hardness of an outcome; "" for sent */
void reason_classify(int smtp_code, const char *dsn, const char *text, enum event_status status,
                     struct reason_result *out)
{
    char lowered[EV_REPLY_LEN];
    unsigned char pairs[PAIR_BITS];
    const struct reason_rule *r;
    bool permanent;

    out->reason = "";
    out->hard = false;
    if (status == ST_SENT)
        return;
    if (status == ST_EXPIRED) {
        out->reason = "expired";
        return;
    }
    if (dsn == NULL)
        dsn = "";
    if (text == NULL)
        text = "";
    lower_pairs(lowered, sizeof(lowered), text, pairs);
    r = find_rule(RK_TEXT, smtp_code, dsn, lowered, pairs);
    if (r == NULL)
        r = find_rule(RK_DSN, smtp_code, dsn, lowered, pairs);
    if (r == NULL && smtp_code >= 400 && smtp_code <= 599)
        r = find_rule(RK_CODE, smtp_code, dsn, lowered, pairs);
    if (r == NULL) {
        out->reason = "undefined";
        return;
    }
    out->reason = r->reason;
    /* Hard only when the failure was permanent: a bounce, or a 5xx outcome of unknown status. */
    permanent = status == ST_BOUNCED ||
                (status == ST_NONE && (dsn[0] == '5' || (smtp_code >= 500 && smtp_code <= 599)));
    out->hard = r->hard && permanent;
}
