/*
 * family - recognisers of bounces that carry no message/delivery-status part
 *
 * qmail, Exim, Gmail, Yahoo, Exchange 2003, Notes, Courier, OpenSMTPD, Postfix and Sendmail
 * without DSN support, and many providers write a human-readable report instead of RFC 3464.
 * They share one shape: an opening sentence, then per recipient a line that names the
 * address, followed by the reason, then a line after which the returned message is copied.
 * So a family is data: the sentences that identify it (families[]), the line prefixes that
 * introduce a recipient (rcpt_prefixes[]) and the lines that open the returned message
 * (end_markers[]). One small scanner reads them all; the family named in the record is the
 * one whose sentence comes first in the text. Reasons written above the address (Verizon,
 * Notes) reach the records through the preamble, the words between the sentence and the
 * first recipient line.
 *
 * A message that matches no family but looks like a bounce (from MAILER-DAEMON or
 * postmaster, or a bounce subject) is scanned the same way from the top of its text.
 * Auto-replies (vacation, out-of-office, challenge-response) are recognised by their
 * subject and wording and never scanned.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "bounce/bounce_int.h"

struct family {
    const char *name;
    const char *marker; /* a sentence of the text, case-insensitive; the scan starts after it */
};

/* The sentence found earliest in the text wins; at the same place, the first row. */
static const struct family families[] = {
    {"qmail", "this is the qmail-send program"},
    {"qmail", "i'm afraid i wasn't able to deliver your message"},
    {"yahoo", "sorry, we were unable to deliver your message to the following address"},
    {"gmail", "delivery to the following recipient failed permanently"},
    {"gmail", "delivery to the following recipient has been delayed"},
    {"gmail", "delivery to the following recipients failed"},
    {"exim", "the following address(es) failed"},
    {"exim", "the following address failed"},
    {"exim", "the following address(es) have yet to be delivered"},
    {"exim", "this message was created automatically by mail delivery software"},
    {"exim", "incorrectly constructed"},
    {"opensmtpd", "error has occurred while attempting to deliver a message for"},
    {"opensmtpd", "error(s) occurred while processing"},
    {"postfix", "this is the mail system at host"},
    {"postfix", "this is the postfix program at host"},
    {"sendmail", "----- the following addresses had permanent fatal errors -----"},
    {"sendmail", "----- the following addresses had delivery problems -----"},
    {"sendmail", "----- transcript of session follows -----"},
    {"exchange2003", "did not reach the following recipient(s)"},
    {"exchange", "delivery has failed to these recipients or groups"},
    {"exchange", "your message couldn't be delivered"},
    {"exchange", "your message wasn't delivered"},
    {"notes", "was not delivered to:"},
    {"x2", "unable to deliver message to the following address"},
    {"courier", "this is a delivery status notification from"},
    {"courier", "your message to the following recipients cannot be delivered"},
    {"mailfoundry", "unable to deliver message to"},
    {"kddi", "could not be delivered to"},
    {"imail", "undeliverable to"},
    {"mailru", "message was not delivered to"},
    {"verizon", "message could not be delivered to the following recipients"},
    {"verizon", "message could not be delivered to mobile"},
    {"workmail", "an error occurred while trying to deliver the mail to the following"},
    {"apachejames", "error message below"},
    {"dragonfly", "this is the dragonfly mail agent"},
    {"generic", "could not be delivered to the following recipient"},
    {"generic", "the following recipient(s) could not be reached"},
    {"generic", "could not be delivered"},
    {"generic", "delivery failed"},
    {"generic", "undeliverable"},
};

/* Sentences that say the report is about a delay, not a failure. */
static const char *const delay_sentences[] = {
    "has been delayed", "only a temporary failure report", "have yet to be delivered",
    "will be retried",  "is delayed for more than",
};

/* The reason proper follows one of these, after the provider's own explanation. */
static const char *const reason_heads[] = {
    "the error that the other server returned was:",
};

/* A line that starts with one of these (after blanks) names the recipient that follows. */
static const char *const rcpt_prefixes[] = {
    "could not be delivered to:",
    "the following recipients returned permanent errors:",
    "there was an error delivering your mail to",
    "unable to deliver message to:",
    "undeliverable to ",
    "message was not delivered to:",
    "failed recipient:",
    "recipient address:",
    "recipient:",
    "original-recipient: rfc822;",
    "final-recipient: rfc822;",
    "rcpt to:",
    "to:",
};

/* The returned message starts at a line that contains one of these. */
static const char *const end_markers[] = {
    "--- below this line is a copy of the message",
    "------ this is a copy of the message",
    "----- original message -----",
    "below is a copy of the original message",
    "--- the header of the original message is following",
    "------ this is a copy of your message",
    "----- unsent message follows -----",
    "----- original message follows -----",
    "------- returned message --------",
    "original message follows",
    "original mail as follows",
    "content-type: message/rfc822",
    "--- original message header ---",
    "----- message header follows -----",
    "------ original message ------",
    "message headers follow.",
};

/* Subjects and sentences of auto-replies, which are not bounces. */
static const char *const auto_reply_subjects[] = {
    "out of office", "out of the office", "auto:",        "autoreply",         "auto reply",
    "auto-reply",    "automatic reply",   "vacation",     "away from my mail", "abwesenheit",
    "absence",       "autorespond",       "auto-respond", "on leave",
};
static const char *const auto_reply_texts[] = {
    "i am out of the office",
    "i'm out of the office",
    "i am currently out of",
    "i will be out of the office",
    "i am on vacation",
    "this is an automatic reply",
    "this is an autoreply",
    "to complete the verification",
    "please confirm your email address",
    "challenge-response",
    "your message is being held until you",
};

/* Senders and subjects of bounces that no family sentence matched. */
static const char *const bounce_senders[] = {"mailer-daemon", "postmaster", "mail-daemon",
                                             "mailerdaemon"};
static const char *const bounce_subjects[] = {
    "undeliver",     "delivery failure", "returned mail",   "delivery status",
    "mail failure",  "failure notice",   "delivery failed", "not delivered",
    "mail delivery", "nondeliverable",   "rejected",        "delivery problem",
};

/* find_ci - the first case-insensitive occurrence of needle in s[0..len), or NULL */
static const char *find_ci(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    int first = tolower((unsigned char)needle[0]);

    if (n == 0 || n > len)
        return NULL;
    for (size_t i = 0; i + n <= len; i++)
        if (tolower((unsigned char)s[i]) == first && strncasecmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* contains_any - does s contain one of the n needles (case-insensitive)? */
static bool contains_any(const char *s, const char *const *needles, size_t n)
{
    size_t len = strlen(s);

    for (size_t i = 0; i < n; i++)
        if (find_ci(s, len, needles[i]))
            return true;
    return false;
}

/* family_auto_reply - is this an auto-reply rather than a bounce? */
bool family_auto_reply(const char *subject, const char *text)
{
    size_t len = strlen(text);

    if (len > 4096)
        len = 4096; /* the wording is at the top */
    if (contains_any(subject, auto_reply_subjects, ARRAY_LEN(auto_reply_subjects)))
        return true;
    for (size_t i = 0; i < ARRAY_LEN(auto_reply_texts); i++)
        if (find_ci(text, len, auto_reply_texts[i]))
            return true;
    return false;
}

/* addr_char - may c be part of an e-mail address? */
static bool addr_char(int c)
{
    return isalnum(c) || (c != 0 && strchr(".!#$%&'*+-/=?^_`{|}~@", c) != NULL) || c >= 0x80;
}

/*
 * address_at - the length of an address "local@domain.tld" at p (up to end), optionally
 * in angle brackets (then *skip is the bracket count before it); 0 when none
 */
static size_t address_at(const char *p, const char *end, size_t *skip)
{
    const char *q = p, *at = NULL, *dot = NULL;

    *skip = 0;
    if (q < end && *q == '<') {
        q++;
        *skip = 1;
    }
    if (q < end && *q == '"')
        return 0;
    p = q;
    while (p < end && addr_char((unsigned char)*p))
        p++;
    while (p > q && (p[-1] == '.' || p[-1] == ',')) /* the end of a sentence */
        p--;
    for (const char *r = q; r < p; r++) {
        if (*r == '@')
            at = r;
        else if (*r == '.' && at)
            dot = r;
    }
    if (at == NULL || at == q || dot == NULL || p - dot < 2)
        return 0;
    return (size_t)(p - q);
}

/* struct scan: the record being built while lines are read, and those done */
struct scan {
    struct bounce_msg *m;
    const char *family;
    struct bounce_rec rec;
    bool open;
    bool delayed;       /* the report is about a delay */
    bool seen_rcpt;     /* a recipient line was read */
    char preamble[512]; /* the words before the first recipient line */
    struct bounce_rec *out;
    int n, cap;
};

/* weak - does a reason text carry neither an SMTP reply code nor a status code? */
static bool weak(const char *d)
{
    struct bounce_rec probe;

    memset(&probe, 0, sizeof(probe));
    probe.smtp_code = -1;
    str_copy(probe.diagnostic, sizeof(probe.diagnostic), d, strlen(d));
    bounce_codes_from_text(&probe);
    return probe.status[0] == 0 && probe.smtp_code < 0;
}

/* add_words - append a line to a one-line text buffer, blanks squeezed */
static void add_words(char *dst, size_t dstlen, const char *p, size_t n)
{
    size_t have = strlen(dst);

    while (n && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n == 0 || have + 2 >= dstlen)
        return;
    if (have)
        dst[have++] = ' ';
    str_copy(dst + have, dstlen - have, p, n);
}

/* flush - keep the open record */
static void flush(struct scan *s)
{
    char *d = s->rec.diagnostic;

    if (!s->open)
        return;
    for (size_t i = 0; i < ARRAY_LEN(reason_heads); i++) {
        const char *h = find_ci(d, strlen(d), reason_heads[i]);

        if (h) {
            h += strlen(reason_heads[i]);
            while (*h == ' ')
                h++;
            memmove(d, h, strlen(h) + 1);
        }
    }
    if (s->delayed)
        str_copy(s->rec.action, sizeof(s->rec.action), "delayed", 7);
    if (weak(d) && s->preamble[0]) { /* "Error: No valid recipients" above the address */
        size_t have = strlen(d);

        if (have && have + 1 < sizeof(s->rec.diagnostic))
            d[have++] = ' ';
        str_copy(d + have, sizeof(s->rec.diagnostic) - have, s->preamble, strlen(s->preamble));
    }
    if (s->n < s->cap)
        s->out[s->n++] = s->rec;
    s->open = false;
}

/* append - add a line of reason text to the open record */
static void append(struct scan *s, const char *p, size_t n)
{
    size_t have = strlen(s->rec.diagnostic);

    while (n && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n == 0 || have + 2 >= sizeof(s->rec.diagnostic))
        return;
    if (have)
        s->rec.diagnostic[have++] = ' ';
    str_copy(s->rec.diagnostic + have, sizeof(s->rec.diagnostic) - have, p, n);
}

/* recipient_line - if the line names a recipient, open a record for it; true when it did */
static bool recipient_line(struct scan *s, const char *p, const char *end)
{
    size_t n, skip;
    const char *a;

    while (p < end && (*p == ' ' || *p == '\t' || *p == '*' || *p == '-'))
        p++;
    /* Sendmail's transcript: "554 <addr>... reason" */
    if (end - p > 6 && (p[0] == '4' || p[0] == '5') && isdigit((unsigned char)p[1]) &&
        isdigit((unsigned char)p[2]) && p[3] == ' ' && p[4] == '<')
        p += 4;
    for (size_t i = 0; i < ARRAY_LEN(rcpt_prefixes); i++) {
        size_t pl = strlen(rcpt_prefixes[i]);

        if ((size_t)(end - p) > pl && strncasecmp(p, rcpt_prefixes[i], pl) == 0) {
            p += pl;
            while (p < end && *p == ' ')
                p++;
            break;
        }
    }
    n = address_at(p, end, &skip);
    if (n == 0)
        return false;
    a = p + skip;
    p = a + n;
    if (p < end && *p == '>')
        p++;
    /* the address must be the head of the line: the rest is empty, a colon, or a reason */
    if (p < end && !(*p == ':' || *p == ' ' || *p == '\t' || *p == '.' || *p == ','))
        return false;
    /* the same address again (a reason that repeats it) extends the open record */
    if (s->open && strlen(s->rec.recipient) == n && strncasecmp(s->rec.recipient, a, n) == 0)
        return false;
    flush(s);
    memset(&s->rec, 0, sizeof(s->rec));
    s->rec.family = s->family;
    s->rec.smtp_code = -1;
    bounce_copy_addr(s->rec.recipient, sizeof(s->rec.recipient), a, n);
    while (p < end && (*p == ':' || *p == ' ' || *p == '\t' || *p == '.' || *p == ','))
        p++;
    append(s, p, (size_t)(end - p));
    s->open = true;
    return true;
}

/* is_end - does the line open the returned message? */
static bool is_end(const char *p, size_t n)
{
    for (size_t i = 0; i < ARRAY_LEN(end_markers); i++)
        if (find_ci(p, n, end_markers[i]))
            return true;
    return false;
}

/*
 * looks_like_bounce - a sender that bounces use, or a bounce subject on a message not
 * marked as an auto-reply (Google and Exim mark their bounces auto-replied too, but send
 * them from MAILER-DAEMON)
 */
static bool looks_like_bounce(const struct bounce_msg *m, bool auto_replied)
{
    return contains_any(m->from, bounce_senders, ARRAY_LEN(bounce_senders)) ||
           (!auto_replied && contains_any(m->subject, bounce_subjects, ARRAY_LEN(bounce_subjects)));
}

/*
 * family_scan - the records of a bounce written for people, at most cap into out; returns
 * how many, and sets m->is_bounce when the text is a bounce, with recipients or not.
 * auto_replied: the message is marked as an auto-reply.
 */
int family_scan(struct bounce_msg *m, bool auto_replied, struct bounce_rec *out, int cap)
{
    const char *text = m->text, *end = text + m->text_len, *start = NULL, *p;
    struct scan s;

    memset(&s, 0, sizeof(s));
    s.m = m;
    s.out = out;
    s.cap = cap;
    /* the earliest sentence of a family; the generic sentences only when none is there */
    for (int pass = 0; pass < 2 && start == NULL; pass++) {
        for (size_t i = 0; i < ARRAY_LEN(families); i++) {
            const char *hit;

            if ((strcmp(families[i].name, "generic") == 0) != (pass == 1))
                continue;
            hit = find_ci(text, m->text_len, families[i].marker);
            if (hit && (start == NULL || hit < start)) {
                s.family = families[i].name;
                start = hit;
            }
        }
    }
    if (start == NULL) {
        if (!looks_like_bounce(m, auto_replied))
            return 0;
        s.family = "generic";
        start = text;
    } else if (strcmp(s.family, "generic") == 0 && !looks_like_bounce(m, auto_replied)) {
        return 0;
    }
    m->is_bounce = true;
    m->family = s.family;
    for (size_t i = 0; i < ARRAY_LEN(delay_sentences); i++)
        if (find_ci(text, m->text_len, delay_sentences[i]))
            s.delayed = true;
    /* from the line of the sentence on: the sentence's own line may carry the address */
    while (start > text && start[-1] != '\n')
        start--;
    for (p = start; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *le = eol ? eol : end;

        if (le > p && le[-1] == '\r')
            le--;
        if (is_end(p, (size_t)(le - p))) {
            bounce_returned_headers(m, next, (size_t)(end - next));
            break;
        }
        add_words(m->report, sizeof(m->report), p, (size_t)(le - p));
        if (recipient_line(&s, p, le))
            s.seen_rcpt = true;
        else if (s.open)
            append(&s, p, (size_t)(le - p));
        else if (!s.seen_rcpt && p != start) /* below the family's sentence */
            add_words(s.preamble, sizeof(s.preamble), p, (size_t)(le - p));
        p = next;
    }
    flush(&s);
    return s.n;
}
