/*
 * NAME
 *	remoteid - the remote side's transaction id in an SMTP reply (see remoteid.h)
 *
 * DESCRIPTION
 *	Each form is a mark, where the id stands from it (the word after, or the word before),
 *	an optional text the reply must also hold, and the shortest id it accepts. A word is a
 *	run of letters, digits and "-._@", without a trailing dot; a word before the mark is
 *	never the reply's code or enhanced status code. The forms:
 *
 *	gmail      "250 2.0.0 OK  1700000000 x1si123.45 - gsmtp": the word before " - gsmtp"
 *	microsoft  "250 2.6.0 <ID@HOST> [InternalId=1234, Hostname=...] ... Queued mail for
 *		   delivery": what the angle brackets hold, else the InternalId
 *	yandex     "250 2.0.0 Ok: queued on mxback1.mail.yandex.net 1700000000-AbCd1234"
 *		   (older: "queued on HOST as ID"): the last word
 *	postfix    "250 2.0.0 Ok: queued as 4ZxY2l3Xr9z1" (also SendGrid, iCloud, Fastmail)
 *	exim       "250 OK id=1Mugho-0003Dg-Un" (also GMX, mail.ru); "ID=" as well
 *	sendmail   "250 2.0.0 r9KHbQ2k012345 Message accepted for delivery" (also Proofpoint)
 *	qmail      "250 ok 1700000000 qp 12345" (qmail, older Yahoo): the word after "qp"
 *	ses        "250 Ok 0100018c...-000000": a word of at least 20 after "Ok " (Amazon SES)
 *
 * DIAGNOSTICS
 *	None: a reply without an id gives "".
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "parser/remoteid.h"
#include "util/util.h"

enum rid_where { RID_AFTER, RID_BEFORE, RID_LAST, RID_ANGLE };

struct rid_form {
    const char *name;
    const char *mark;
    enum rid_where where;
    const char *need; /* the reply must also hold this, or NULL */
    size_t min_len;   /* shortest id accepted */
};

static const struct rid_form forms[] = {
    {"gmail", " - gsmtp", RID_BEFORE, NULL, 4},
    {"microsoft", " <", RID_ANGLE, "Queued mail for delivery", 1},
    {"microsoft", "[InternalId=", RID_AFTER, NULL, 1},
    {"yandex", "queued on ", RID_LAST, NULL, 8},
    {"postfix", "queued as ", RID_AFTER, NULL, 1},
    {"exim", "id=", RID_AFTER, NULL, 1},
    {"exim", "ID=", RID_AFTER, NULL, 1},
    {"sendmail", " Message accepted", RID_BEFORE, NULL, 1},
    {"qmail", " qp ", RID_AFTER, NULL, 1},
    {"ses", "Ok ", RID_AFTER, NULL, 20},
};

/* is_word - a byte of an id */
static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '@';
}

/* word_after - the end of the word that starts at p */
static const char *word_after(const char *p, const char *end)
{
    while (p < end && is_word(*p))
        p++;
    return p;
}

/* word_before - the start of the word that ends at q */
static const char *word_before(const char *start, const char *q)
{
    while (q > start && is_word(q[-1]))
        q--;
    return q;
}

/* is_code - digits and dots only, as "250" or "2.0.0": the reply's code, not an id */
static bool is_code(const char *p, const char *q)
{
    for (; p < q; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return true;
}

/* mark_at - the first place of mark in [r, end) that does not follow a letter or digit */
static const char *mark_at(const char *r, const char *end, const char *mark)
{
    size_t n = strlen(mark);
    const char *m = r;

    while ((m = memmem(m, (size_t)(end - m), mark, n)) != NULL) {
        if (m == r || !isalnum((unsigned char)mark[0]) || !isalnum((unsigned char)m[-1]))
            return m;
        m++;
    }
    return NULL;
}

/* remote_id - the remote transaction id of a reply; see remoteid.h */
const char *remote_id(const char *reply, size_t len, char *out, size_t outlen)
{
    const char *end = reply + len;
    size_t i;

    out[0] = 0;
    while (end > reply && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    for (i = 0; i < ARRAY_LEN(forms); i++) {
        const struct rid_form *f = &forms[i];
        const char *m = mark_at(reply, end, f->mark), *p, *q;

        if (m == NULL)
            continue;
        if (f->need && memmem(reply, len, f->need, strlen(f->need)) == NULL)
            continue;
        if (f->where == RID_BEFORE) {
            q = m;
            while (q > reply && q[-1] == ' ')
                q--;
            p = word_before(reply, q);
            if (is_code(p, q))
                continue;
        } else if (f->where == RID_ANGLE) {
            p = m + 2;
            q = memchr(p, '>', (size_t)(end - p));
            if (q == NULL)
                continue;
        } else if (f->where == RID_LAST) {
            q = end;
            p = word_before(m, q);
        } else {
            p = m + strlen(f->mark);
            q = word_after(p, end);
        }
        while (q > p && q[-1] == '.')
            q--;
        if ((size_t)(q - p) < f->min_len)
            continue;
        str_copy(out, outlen, p, (size_t)(q - p));
        return f->name;
    }
    return NULL;
}
