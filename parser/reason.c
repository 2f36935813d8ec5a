/*
 * reason - classify a delivery outcome into a Sisimai reason name
 *
 * The rules are four tables, tried in four passes: the few enhanced status codes that no
 * wording overrides (a full mailbox, a size limit), then words of the reply text (they are
 * the most specific: "5.7.1" says little, "listed at spamhaus" says a lot), then the
 * enhanced status code of RFC 3463 (exact subject.detail, then the subject alone), then the
 * bare SMTP code. The first row that matches names the reason. "hard" follows Sisimai:
 * only reasons where retrying the same address can never help (userunknown, hostunknown,
 * hasmoved, notaccept) are hard, and only for a permanent failure.
 *
 * Text rows are lower case; the reply is lowered once into a bounded stack buffer.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "parser/parser.h"

enum rule_kind {
    RK_STATUS, /* like RK_DSN, but tried before the text */
    RK_TEXT,   /* case-insensitive substring of the reply text */
    RK_DSN,    /* "1.1": X.1.1 exactly; "4.": any X.4.x */
    RK_CODE,   /* "552": the SMTP reply code */
};

struct reason_rule {
    enum rule_kind kind;
    const char *pattern;
    enum event_reason reason;
    bool hard;
};

/*
 * One table per pass, so that a pass reads its own rows only (it read the whole table,
 * skipping the rows of other kinds, four times over). Order matters within a table: the
 * first match wins, so specific rows come first.
 */

/* The first pass: the enhanced status codes no wording overrides. */
static const struct reason_rule status_rules[] = {
    /*
     * Enhanced status codes whose meaning no reply wording overrides (Sisimai treats them as
     * explicit): a full mailbox, a per-mailbox or per-system size limit, a moved mailbox.
     */
    {RK_STATUS, "2.2", REASON_MAILBOXFULL, false},
    {RK_STATUS, "2.3", REASON_EXCEEDLIMIT, false},
    {RK_STATUS, "3.4", REASON_MESGTOOBIG, false},
    {RK_STATUS, "1.6", REASON_HASMOVED, true},
};

/* The second pass: words of the reply text, lower case. */
static const struct reason_rule text_rules[] = {
    /* Text: the recipient or its domain. */
    {RK_TEXT, "domain does not exist", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "domain may not exist", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "no mx found", REASON_NOTACCEPT, true},
    {RK_TEXT, "no mx record found", REASON_NOTACCEPT, true},
    {RK_TEXT, "indicated no smtp service", REASON_NOTACCEPT, true},
    {RK_TEXT, "couldn't find a mail exchanger", REASON_NOTACCEPT, true},
    {RK_TEXT, "doesn't receive email", REASON_NOTACCEPT, true},
    {RK_TEXT, "malformed or unexpected name server reply", REASON_NETWORKERROR, false},
    {RK_TEXT, "host or domain name not found", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "name service error", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "domain not found", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "unrouteable address", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "domain is not reachable", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "no such domain", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "null mx", REASON_NOTACCEPT, true},
    {RK_TEXT, "does not accept mail", REASON_NOTACCEPT, true},
    {RK_TEXT, "mailfolder is full", REASON_MAILBOXFULL, false},
    {RK_TEXT, "mailbox exceeded the local limit", REASON_MAILBOXFULL, false},
    {RK_TEXT, "mailbox full", REASON_MAILBOXFULL, false},
    {RK_TEXT, "mailbox is full", REASON_MAILBOXFULL, false},
    {RK_TEXT, "over quota", REASON_MAILBOXFULL, false},
    {RK_TEXT, "quota exceeded", REASON_MAILBOXFULL, false},
    {RK_TEXT, "exceeded storage", REASON_MAILBOXFULL, false},
    {RK_TEXT, "insufficient storage", REASON_MAILBOXFULL, false},
    {RK_TEXT, "quota", REASON_MAILBOXFULL, false},
    {RK_TEXT, "has moved", REASON_HASMOVED, true},
    {RK_TEXT, "account is locked", REASON_SUSPEND, false},
    {RK_TEXT, "account has been disabled", REASON_SUSPEND, false},
    {RK_TEXT, "account is disabled", REASON_SUSPEND, false},
    {RK_TEXT, "mailbox disabled", REASON_SUSPEND, false},
    {RK_TEXT, "mailbox is disabled", REASON_SUSPEND, false},
    {RK_TEXT, "account disabled", REASON_SUSPEND, false},
    {RK_TEXT, "account suspended", REASON_SUSPEND, false},
    {RK_TEXT, "account has been suspended", REASON_SUSPEND, false},
    {RK_TEXT, "mailbox suspended", REASON_SUSPEND, false},
    {RK_TEXT, "inactive user", REASON_SUSPEND, false},
    {RK_TEXT, "account is inactive", REASON_SUSPEND, false},
    {RK_TEXT, "temporarily locked", REASON_SUSPEND, false},
    {RK_TEXT, "temporary locked", REASON_SUSPEND, false},
    {RK_TEXT, "mailbox is frozen", REASON_SUSPEND, false},
    {RK_TEXT, "domain of sender address", REASON_REJECTED, false},
    {RK_TEXT, "recipient preferences", REASON_FILTERED, false},
    {RK_TEXT, "purported responsible address", REASON_REJECTED, false},
    {RK_TEXT, "unroutable sender address", REASON_REJECTED, false},
    {RK_TEXT, "no valid recipients", REASON_USERUNKNOWN, true},
    {RK_TEXT, "malformed address", REASON_SYNTAXERROR, false},
    {RK_TEXT, "synchronization error", REASON_SYNTAXERROR, false}, /* talked out of turn */
    {RK_TEXT, "'send mail as'", REASON_REJECTED, false},
    /* Exchange Online's 5.4.1 for an address its directory does not know */
    {RK_TEXT, "recipient address rejected: access denied", REASON_USERUNKNOWN, true},
    {RK_TEXT, "all recipient addresses rejected", REASON_REJECTED, false},
    {RK_TEXT, "user doesn't have a", REASON_USERUNKNOWN, true},
    /* Lotus Notes / Domino: the address is in no directory */
    {RK_TEXT, "not listed in public name & address book", REASON_USERUNKNOWN, true},
    {RK_TEXT, "not listed in domino directory", REASON_USERUNKNOWN, true},
    {RK_TEXT, "user unknown", REASON_USERUNKNOWN, true},
    {RK_TEXT, "unknown user", REASON_USERUNKNOWN, true},
    {RK_TEXT, "no such user", REASON_USERUNKNOWN, true},
    {RK_TEXT, "user not found", REASON_USERUNKNOWN, true},
    {RK_TEXT, "unknown recipient", REASON_USERUNKNOWN, true},
    {RK_TEXT, "recipient not found", REASON_USERUNKNOWN, true},
    {RK_TEXT, "invalid recipient", REASON_USERUNKNOWN, true},
    {RK_TEXT, "no mailbox", REASON_USERUNKNOWN, true},
    {RK_TEXT, "mailbox not found", REASON_USERUNKNOWN, true},
    {RK_TEXT, "mailbox unavailable", REASON_USERUNKNOWN, true},
    {RK_TEXT, "does not exist", REASON_USERUNKNOWN, true},
    {RK_TEXT, "doesn't exist", REASON_USERUNKNOWN, true},
    {RK_TEXT, "address rejected: undeliverable", REASON_USERUNKNOWN, true},
    {RK_TEXT, "in local recipient table", REASON_USERUNKNOWN, true},
    /* Text: the sending side. */
    {RK_TEXT, "relay access denied", REASON_NORELAYING, false},
    {RK_TEXT, "relaying denied", REASON_NORELAYING, false},
    {RK_TEXT, "relay not permitted", REASON_NORELAYING, false},
    {RK_TEXT, "relaying not allowed", REASON_NORELAYING, false},
    {RK_TEXT, "unable to relay", REASON_NORELAYING, false},
    {RK_TEXT, "not permitted to relay", REASON_NORELAYING, false},
    {RK_TEXT, "not configured to relay", REASON_NORELAYING, false},
    {RK_TEXT, "virus", REASON_VIRUSDETECTED, false},
    {RK_TEXT, "multiple addresses in from", REASON_NOTCOMPLIANTRFC, false},
    {RK_TEXT, "not rfc 5322 compliant", REASON_NOTCOMPLIANTRFC, false},
    {RK_TEXT, "dmarc", REASON_AUTHFAILURE, false},
    {RK_TEXT, "spf record", REASON_AUTHFAILURE, false},
    {RK_TEXT, "bad spf", REASON_AUTHFAILURE, false},
    {RK_TEXT, "spf check", REASON_AUTHFAILURE, false},
    {RK_TEXT, "spf fail", REASON_AUTHFAILURE, false},
    {RK_TEXT, "unauthenticated email", REASON_AUTHFAILURE, false},
    {RK_TEXT, "authentication required", REASON_SECURITYERROR, false},
    {RK_TEXT, "unauthenticated senders", REASON_SECURITYERROR, false},
    {RK_TEXT, "smtp authentication", REASON_SECURITYERROR, false},
    {RK_TEXT, "blacklisted url", REASON_SPAMDETECTED, false},
    {RK_TEXT, "use the smtp server of your isp", REASON_BLOCKED, false},
    {RK_TEXT, "invalid ip for sending mail", REASON_BLOCKED, false},
    {RK_TEXT, "my name was rejected", REASON_BLOCKED, false},
    {RK_TEXT, "mismatches client ip", REASON_REQUIREPTR, false},
    {RK_TEXT, "user complaints", REASON_BADREPUTATION, false},
    {RK_TEXT, "frequency limited", REASON_TOOMANYCONN, false},
    {RK_TEXT, "blocked using", REASON_BLOCKED, false},
    {RK_TEXT, "client host rejected", REASON_BLOCKED, false},
    {RK_TEXT, "banned sending ip", REASON_BLOCKED, false},
    {RK_TEXT, "spamhaus", REASON_BLOCKED, false},
    {RK_TEXT, "blocklist", REASON_BLOCKED, false},
    {RK_TEXT, "blacklist", REASON_BLOCKED, false},
    {RK_TEXT, "block list", REASON_BLOCKED, false},
    {RK_TEXT, "black list", REASON_BLOCKED, false},
    {RK_TEXT, "dnsbl", REASON_BLOCKED, false},
    {RK_TEXT, "listed", REASON_BLOCKED, false},
    {RK_TEXT, "reputation", REASON_BADREPUTATION, false},
    {RK_TEXT, "content rejected", REASON_SPAMDETECTED, false},
    {RK_TEXT, "spam", REASON_SPAMDETECTED, false},
    {RK_TEXT, "reverse dns", REASON_REQUIREPTR, false},
    {RK_TEXT, "ptr record", REASON_REQUIREPTR, false},
    {RK_TEXT, "reverse lookup", REASON_REQUIREPTR, false},
    {RK_TEXT, "dkim", REASON_AUTHFAILURE, false},
    {RK_TEXT, "dns ptr", REASON_REQUIREPTR, false},
    {RK_TEXT, "ip name lookup failed", REASON_REQUIREPTR, false},
    {RK_TEXT, "does not support tls", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "starttls", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "tls is required", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "tls required", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "tls negotiation", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "tls handshake", REASON_FAILEDSTARTTLS, false},
    {RK_TEXT, "too many connections", REASON_TOOMANYCONN, false},
    {RK_TEXT, "connection rate limit", REASON_TOOMANYCONN, false},
    {RK_TEXT, "too many simultaneous", REASON_TOOMANYCONN, false},
    {RK_TEXT, "connection limit", REASON_TOOMANYCONN, false},
    {RK_TEXT, "too many recipients this hour", REASON_SPEEDING, false},
    {RK_TEXT, "too many recipients", REASON_EXCEEDLIMIT, false},
    {RK_TEXT, "line limit exceeded", REASON_MESGTOOBIG, false},
    {RK_TEXT, "message size exceeds", REASON_MESGTOOBIG, false},
    {RK_TEXT, "message too big", REASON_MESGTOOBIG, false},
    {RK_TEXT, "message too large", REASON_MESGTOOBIG, false},
    {RK_TEXT, "message is too large", REASON_MESGTOOBIG, false},
    {RK_TEXT, "size limit", REASON_MESGTOOBIG, false},
    /* Greylisting is a policy refusal of the client for now, not a rate limit. */
    {RK_TEXT, "greylist", REASON_BLOCKED, false},
    {RK_TEXT, "insufficient disk space", REASON_SYSTEMFULL, false},
    {RK_TEXT, "policy reasons", REASON_POLICYVIOLATION, false},
    {RK_TEXT, "rate limit", REASON_SPEEDING, false},
    {RK_TEXT, "receiving mail at a rate", REASON_SPEEDING, false},
    {RK_TEXT, "too many messages", REASON_SPEEDING, false},
    {RK_TEXT, "sending too fast", REASON_SPEEDING, false},
    {RK_TEXT, "try again slower", REASON_SPEEDING, false},
    {RK_TEXT, "retry timeout exceeded", REASON_EXPIRED, false},
    {RK_TEXT, "envelope expired", REASON_EXPIRED, false},
    {RK_TEXT, "network error on destination", REASON_NETWORKERROR, false},
    {RK_TEXT, "service currently unavailable", REASON_SYSTEMERROR, false},
    {RK_TEXT, "protocol violation", REASON_POLICYVIOLATION, false},
    {RK_TEXT, "message expired", REASON_EXPIRED, false},
    {RK_TEXT, "delivery time expired", REASON_EXPIRED, false},
    {RK_TEXT, "too long in queue", REASON_EXPIRED, false},
    {RK_TEXT, "host name lookup failure", REASON_NETWORKERROR, false},
    {RK_TEXT, "service refused", REASON_SYSTEMERROR, false},
    {RK_TEXT, "connection refused", REASON_NETWORKERROR, false},
    {RK_TEXT, "connection timed out", REASON_NETWORKERROR, false},
    {RK_TEXT, "network is unreachable", REASON_NETWORKERROR, false},
    {RK_TEXT, "no route to host", REASON_NETWORKERROR, false},
    {RK_TEXT, "lost connection", REASON_NETWORKERROR, false},
    {RK_TEXT, "connection reset", REASON_NETWORKERROR, false},
    {RK_TEXT, "timed out", REASON_NETWORKERROR, false},
    {RK_TEXT, "sender address rejected", REASON_REJECTED, false},
    {RK_TEXT, "try again later", REASON_SPEEDING, false},
    /* Wordings of the Exim and Sendmail logs. */
    {RK_TEXT, "sender verify failed", REASON_REJECTED, false},
    {RK_TEXT, "host unknown", REASON_HOSTUNKNOWN, true},
    {RK_TEXT, "ratelimited", REASON_SPEEDING, false},
    {RK_TEXT, "auth is required", REASON_SECURITYERROR, false},
    {RK_TEXT, "remote host closed connection", REASON_NETWORKERROR, false},
    {RK_TEXT, "connection closed", REASON_NETWORKERROR, false},
    {RK_TEXT, "domain is held", REASON_ONHOLD, false},
};

/* The third pass: the enhanced status code, exact, then its subject alone. */
static const struct reason_rule dsn_rules[] = {
    /* Enhanced status codes, RFC 3463 and its registry: exact subject.detail. */
    {RK_DSN, "1.1", REASON_USERUNKNOWN, true},
    {RK_DSN, "1.2", REASON_HOSTUNKNOWN, true},
    {RK_DSN, "1.3", REASON_USERUNKNOWN, true},
    {RK_DSN, "1.4", REASON_USERUNKNOWN, true},
    {RK_DSN, "1.6", REASON_HASMOVED, true},
    {RK_DSN, "1.7", REASON_REJECTED, false},
    {RK_DSN, "1.8", REASON_REJECTED, false},
    {RK_DSN, "1.10", REASON_NOTACCEPT, true},
    {RK_DSN, "2.1", REASON_SUSPEND, false},
    {RK_DSN, "2.2", REASON_MAILBOXFULL, false},
    {RK_DSN, "2.3", REASON_EXCEEDLIMIT, false},
    {RK_DSN, "3.1", REASON_SYSTEMFULL, false},
    {RK_DSN, "3.4", REASON_MESGTOOBIG, false},
    {RK_DSN, "3.5", REASON_SYSTEMERROR, false},
    {RK_DSN, "4.3", REASON_SYSTEMERROR, false},
    {RK_DSN, "4.4", REASON_HOSTUNKNOWN, true},
    {RK_DSN, "4.7", REASON_EXPIRED, false},
    {RK_DSN, "7.1", REASON_REJECTED, false},
    {RK_DSN, "7.7", REASON_SECURITYERROR, false},
    {RK_DSN, "7.8", REASON_SECURITYERROR, false},
    {RK_DSN, "7.13", REASON_SUSPEND, false},
    {RK_DSN, "7.23", REASON_AUTHFAILURE, false},
    {RK_DSN, "7.24", REASON_AUTHFAILURE, false},
    {RK_DSN, "7.25", REASON_REQUIREPTR, false},
    {RK_DSN, "7.26", REASON_AUTHFAILURE, false},
    {RK_DSN, "7.27", REASON_NOTACCEPT, true},
    /* Enhanced status codes: the subject alone. */
    {RK_DSN, "1.", REASON_USERUNKNOWN, true},
    {RK_DSN, "2.", REASON_MAILBOXFULL, false},
    {RK_DSN, "3.", REASON_SYSTEMERROR, false},
    {RK_DSN, "4.", REASON_NETWORKERROR, false},
    {RK_DSN, "5.", REASON_SYNTAXERROR, false},
    {RK_DSN, "6.", REASON_CONTENTERROR, false},
    {RK_DSN, "7.", REASON_POLICYVIOLATION, false},
};

/* The fourth pass: the bare SMTP code. */
static const struct reason_rule code_rules[] = {
    /* SMTP reply codes, RFC 5321, when nothing better is known: a command not understood */
    {RK_CODE, "500", REASON_SYNTAXERROR, false},
    {RK_CODE, "501", REASON_SYNTAXERROR, false},
    {RK_CODE, "502", REASON_SYNTAXERROR, false},
    {RK_CODE, "503", REASON_SYNTAXERROR, false},
    {RK_CODE, "504", REASON_SYNTAXERROR, false},
    /* and the codes that say more than their class */
    {RK_CODE, "421", REASON_TOOMANYCONN, false},
    {RK_CODE, "551", REASON_HASMOVED, true},
    {RK_CODE, "552", REASON_MAILBOXFULL, false},
    {RK_CODE, "553", REASON_REJECTED, false},
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

/* lower_pairs - lower_copy() and pairs_of() in one pass; bits has PAIR_BITS + 1 entries */
static void lower_pairs(char *out, size_t outlen, const char *s, unsigned char *bits)
{
    unsigned char prev = 0;
    size_t i;

    memset(bits, 0, PAIR_BITS);
    bits[PAIR_BITS] = 1; /* the entry of a pattern without a pair: it may always match */
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

/*
 * The filter entries of each text row's byte pairs, in order, worked out once for all
 * threads: hashing a row's pairs again for every reply was most of the cost of the text
 * pass. The first pair's entries are an array of their own, read one after another: most
 * rows fail there. A row longer than PATTERN_MAX bytes has its first pairs here only, which
 * filters less but never wrongly (strstr() decides).
 */
#define PATTERN_MAX 48
static uint16_t text_first[ARRAY_LEN(text_rules)]; /* PAIR_BITS for a row without a pair */
static struct {
    uint8_t n; /* pairs after the first */
    uint16_t h[PATTERN_MAX - 2];
} text_rest[ARRAY_LEN(text_rules)];
static pthread_once_t text_pairs_once = PTHREAD_ONCE_INIT;

/* text_pairs_init - text_first[] and text_rest[] of text_rules[] (through pthread_once()) */
static void text_pairs_init(void)
{
    for (size_t i = 0; i < ARRAY_LEN(text_rules); i++) {
        const unsigned char *t = (const unsigned char *)text_rules[i].pattern;
        unsigned n = 0;

        text_first[i] = PAIR_BITS;
        if (t[0] && t[1]) {
            text_first[i] = (uint16_t)pair_hash(t[0], t[1]);
            t++;
        }
        for (; t[0] && t[1] && n < PATTERN_MAX - 2; t++)
            text_rest[i].h[n++] = (uint16_t)pair_hash(t[0], t[1]);
        text_rest[i].n = (uint8_t)n;
    }
}

/* may_contain - could the text of the filter (PAIR_BITS + 1 entries, the last set) contain
 * the pattern of text row i? */
static inline bool may_contain(const unsigned char *bits, size_t i)
{
    if (!bits[text_first[i]])
        return false;
    for (unsigned k = 0; k < text_rest[i].n; k++)
        if (!bits[text_rest[i].h[k]])
            return false;
    return true;
}

/* find_text_rule - the first text row that the lowered reply holds, or NULL */
static const struct reason_rule *find_text_rule(const char *lowered, const unsigned char *pairs)
{
    pthread_once(&text_pairs_once, text_pairs_init);
    for (size_t i = 0; i < ARRAY_LEN(text_rules); i++)
        if (may_contain(pairs, i) && strstr(lowered, text_rules[i].pattern))
            return &text_rules[i];
    return NULL;
}

/* find_rule - the first of the n rules (a pass's table, all of kind, not RK_TEXT: see
 * find_text_rule()) that matches, or NULL */
static const struct reason_rule *find_rule(const struct reason_rule *rules, size_t n,
                                           enum rule_kind kind, int smtp_code, const char *dsn)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct reason_rule *r = &rules[i];

        if (r->kind != kind)
            continue;
        if (((kind == RK_DSN || kind == RK_STATUS) && dsn_matches(dsn, r->pattern)) ||
            (kind == RK_CODE && code_matches(smtp_code, r->pattern)))
            return r;
    }
    return NULL;
}

/* after_data - does the (lowered) reply say it answered the end of the message data? */
static bool after_data(const char *lowered)
{
    return strstr(lowered, "in reply to end of data command") != NULL ||
           strstr(lowered, "after end of data") != NULL;
}

/* reason_classify - Sisimai reason and hardness of an outcome; "" for sent */
void reason_classify(int smtp_code, const char *dsn, const char *text, enum event_status status,
                     struct reason_result *out)
{
    char lowered[EV_REPLY_LEN];
    unsigned char pairs[PAIR_BITS + 1];
    const struct reason_rule *r;
    bool permanent;

    out->reason = "";
    out->hard = false;
    if (status == ST_SENT)
        return;
    if (status == ST_EXPIRED) {
        out->reason = event_reason_name(REASON_EXPIRED);
        return;
    }
    if (dsn == NULL)
        dsn = "";
    if (text == NULL)
        text = "";
    lower_pairs(lowered, sizeof(lowered), text, pairs);
    r = find_rule(status_rules, ARRAY_LEN(status_rules), RK_STATUS, smtp_code, dsn);
    if (r == NULL)
        r = find_text_rule(lowered, pairs);
    if (r == NULL)
        r = find_rule(dsn_rules, ARRAY_LEN(dsn_rules), RK_DSN, smtp_code, dsn);
    if (r == NULL && smtp_code >= 400 && smtp_code <= 599)
        r = find_rule(code_rules, ARRAY_LEN(code_rules), RK_CODE, smtp_code, dsn);
    if (r == NULL) {
        out->reason = event_reason_name(REASON_UNDEFINED);
        return;
    }
    out->reason = event_reason_name(r->reason);
    /*
     * A recipient refused only once the content was sent was refused by a content filter,
     * whatever the words: Sisimai's "filtered", never hard.
     */
    if (r->reason == REASON_USERUNKNOWN && after_data(lowered)) {
        out->reason = event_reason_name(REASON_FILTERED);
        return;
    }
    /*
     * Hard only when the failure was permanent: a bounce without a transient (4.x.x) status, or
     * a 5xx outcome of unknown status.
     */
    permanent = (status == ST_BOUNCED && dsn[0] != '4') ||
                (status == ST_NONE && (dsn[0] == '5' || (smtp_code >= 500 && smtp_code <= 599)));
    out->hard = r->hard && permanent;
}
