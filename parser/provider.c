/*
 * provider - mailbox providers by relay host and recipient domain; blocklists and policy
 * blocks by the words of a reply. Both are tables of data, looked at in order.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parser/provider.h"
#include "util/util.h"

/*
 * The shipped provider table. A NULL provider marks a relay that says nothing about where
 * the mail went (a provider's submission or smarthost service): the recipient domain
 * decides. Order matters only among patterns that match the same names.
 */
static const struct provider_rule {
    const char *pattern;
    const char *provider;
} shipped[] = {
    /* Outbound relays and smarthosts: not the receiving provider. */
    {"smtp.gmail.com", NULL},
    {"smtp-relay.gmail.com", NULL},
    {"smtp.office365.com", NULL},
    {"smtp.mail.yahoo.com", NULL},
    {"amazonaws.com", NULL},
    {"sendgrid.net", NULL},
    {"mailgun.org", NULL},
    /* Google */
    {"google.com", "google"},
    {"googlemail.com", "google"},
    {"gmail.com", "google"},
    /* Microsoft: protection.outlook.com hosts Exchange Online and Outlook.com alike */
    {"outlook.com", "microsoft"},
    {"hotmail.*", "microsoft"},
    {"live.*", "microsoft"},
    {"msn.com", "microsoft"},
    {"windowslive.com", "microsoft"},
    /* Yahoo and AOL (and the mailboxes they host for Verizon) */
    {"yahoodns.net", "yahoo"},
    {"yahoo.*", "yahoo"},
    {"ymail.com", "yahoo"},
    {"rocketmail.com", "yahoo"},
    {"aol.*", "yahoo"},
    {"aim.com", "yahoo"},
    {"verizon.net", "yahoo"},
    /* Apple */
    {"icloud.com", "apple"},
    {"me.com", "apple"},
    {"mac.com", "apple"},
    /* GMX, Web.de, 1&1 / IONOS */
    {"gmx.*", "gmx"},
    {"web.de", "gmx"},
    {"1und1.de", "gmx"},
    {"kundenserver.de", "gmx"},
    {"ionos.*", "gmx"},
    /* Mail.ru */
    {"mail.ru", "mailru"},
    {"bk.ru", "mailru"},
    {"inbox.ru", "mailru"},
    {"list.ru", "mailru"},
    {"internet.ru", "mailru"},
    /* Yandex */
    {"yandex.*", "yandex"},
    {"yandex.net", "yandex"},
    {"ya.ru", "yandex"},
    /* Zoho */
    {"zoho.*", "zoho"},
    {"zohomail.com", "zoho"},
    /* Proton */
    {"protonmail.ch", "proton"},
    {"protonmail.com", "proton"},
    {"proton.me", "proton"},
    {"pm.me", "proton"},
    /* Fastmail */
    {"messagingengine.com", "fastmail"},
    {"fastmail.*", "fastmail"},
    /* Comcast */
    {"comcast.net", "comcast"},
    /* Orange */
    {"orange.fr", "orange"},
    {"wanadoo.fr", "orange"},
    /* Tencent and NetEase */
    {"qq.com", "tencent"},
    {"foxmail.com", "tencent"},
    {"163.com", "netease"},
    {"126.com", "netease"},
    {"yeah.net", "netease"},
    /* Naver */
    {"naver.com", "naver"},
};

/* Rules added at run time go before the shipped ones. */
static struct {
    char pattern[128];
    const char *provider; /* an entry of names[], or NULL */
} added[PROVIDER_MAX_RULES];
static size_t nadded;

/* Every name the tables can answer: the shipped ones, then added ones, "other" last. */
static const char *names[PROVIDER_MAX_NAMES + 1];
static char added_names[PROVIDER_MAX_NAMES][32];
static size_t nnames, nadded_names;

/* names_build - the shipped names, each once, in table order, and "other" */
static void names_build(void)
{
    if (nnames > 0)
        return;
    for (size_t i = 0; i < ARRAY_LEN(shipped); i++) {
        size_t k;

        if (shipped[i].provider == NULL)
            continue;
        for (k = 0; k < nnames && strcmp(names[k], shipped[i].provider) != 0; k++)
            ;
        if (k == nnames)
            names[nnames++] = shipped[i].provider;
    }
    names[nnames] = PROVIDER_OTHER;
}

/* host_lower - the host part of a relay ("h[ip]:port" -> "h"), lower case; 0 when none */
static size_t host_lower(const char *in, char *out, size_t outlen)
{
    size_t n = 0;

    if (in == NULL)
        return 0;
    while (in[n] && in[n] != '[' && in[n] != ':' && in[n] != ' ' && n + 1 < outlen) {
        out[n] = (char)tolower((unsigned char)in[n]);
        n++;
    }
    out[n] = 0;
    while (n > 0 && out[n - 1] == '.') /* a fully qualified name's root */
        out[--n] = 0;
    return n;
}

/* labels - how many dot-separated labels s has */
static int labels(const char *s)
{
    int n = *s ? 1 : 0;

    for (; *s; s++)
        n += *s == '.';
    return n;
}

/* pattern_matches - host (lower case) against one pattern, on label boundaries */
static int pattern_matches(const char *host, size_t hlen, const char *pat)
{
    size_t plen = strlen(pat);

    if (plen > 2 && strcmp(pat + plen - 2, ".*") == 0) {
        /* NAME.*: the label NAME followed by one or two labels of a public suffix */
        size_t nlen = plen - 2;

        for (size_t i = 0; i + nlen < hlen; i++) {
            if ((i == 0 || host[i - 1] == '.') && strncasecmp(host + i, pat, nlen) == 0 &&
                host[i + nlen] == '.') {
                const char *rest = host + i + nlen + 1;
                int nl = labels(rest);

                if (nl == 1 || (nl == 2 && strchr(rest, '.') - rest <= 3))
                    return 1;
            }
        }
        return 0;
    }
    if (hlen < plen || strcasecmp(host + hlen - plen, pat) != 0)
        return 0;
    return hlen == plen || host[hlen - plen - 1] == '.';
}

/* lookup - the provider of one host name; *found is 0 when no rule matched */
static const char *lookup(const char *host, size_t hlen, int *found)
{
    *found = 1;
    for (size_t i = nadded; i-- > 0;)
        if (pattern_matches(host, hlen, added[i].pattern))
            return added[i].provider;
    for (size_t i = 0; i < ARRAY_LEN(shipped); i++)
        if (pattern_matches(host, hlen, shipped[i].pattern))
            return shipped[i].provider;
    *found = 0;
    return NULL;
}

/* provider_of - the provider of a delivery, by its relay host, else its recipient domain */
const char *provider_of(const char *relay, const char *domain)
{
    char host[256];
    size_t n;
    int found;
    const char *p;

    names_build();
    n = host_lower(relay, host, sizeof(host));
    if (n > 0) {
        p = lookup(host, n, &found);
        if (found && p != NULL)
            return p;
    }
    n = host_lower(domain, host, sizeof(host));
    if (n > 0) {
        p = lookup(host, n, &found);
        if (found && p != NULL)
            return p;
    }
    return PROVIDER_OTHER;
}

/* provider_name_intern - the names[] entry for name, added when new; NULL when full */
static const char *provider_name_intern(const char *name)
{
    names_build();
    for (size_t k = 0; k < nnames; k++)
        if (strcmp(names[k], name) == 0)
            return names[k];
    if (nnames == PROVIDER_MAX_NAMES || nadded_names == PROVIDER_MAX_NAMES)
        return NULL;
    str_copy(added_names[nadded_names], sizeof(added_names[0]), name, strlen(name));
    names[nnames++] = added_names[nadded_names++];
    names[nnames] = PROVIDER_OTHER;
    return names[nnames - 1];
}

/* provider_add - a rule before the shipped table; provider "-" means "use the domain" */
int provider_add(const char *pattern, const char *provider)
{
    size_t plen = strlen(pattern), nlen = strlen(provider);
    const char *name = NULL;

    if (plen == 0 || plen >= sizeof(added[0].pattern) || nlen == 0 ||
        nlen >= sizeof(added_names[0]) || nadded == PROVIDER_MAX_RULES ||
        strspn(pattern, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*") !=
            plen ||
        strcmp(provider, PROVIDER_OTHER) == 0)
        return -1;
    if (strspn(provider, "abcdefghijklmnopqrstuvwxyz0123456789_-") != nlen)
        return -1;
    if (strcmp(provider, "-") != 0 && (name = provider_name_intern(provider)) == NULL)
        return -1;
    for (size_t i = 0; i < plen; i++)
        added[nadded].pattern[i] = (char)tolower((unsigned char)pattern[i]);
    added[nadded].pattern[plen] = 0;
    added[nadded].provider = name;
    nadded++;
    return 0;
}

/* provider_load - rules from a file: "PATTERN PROVIDER" per line, '#' comments */
int provider_load(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char line[512];
    int lineno = 0;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char pat[160], prov[64], extra[2];
        int n;

        lineno++;
        line[strcspn(line, "#\r\n")] = 0;
        n = sscanf(line, "%159s %63s %1s", pat, prov, extra);
        if (n <= 0)
            continue;
        if (n != 2 || provider_add(pat, prov) != 0) {
            snprintf(err, errlen,
                     "%s line %d: want \"PATTERN PROVIDER\" (a domain suffix or "
                     "NAME.*, and a name of lower-case letters and digits, or - )",
                     path, lineno);
            fclose(fp);
            return -1;
        }
    }
    fclose(fp);
    return 0;
}

/* provider_names - every answer provider_of() can give, "other" last */
size_t provider_names(const char *const **out)
{
    names_build();
    *out = names;
    return nnames + 1;
}

/* provider_reset - forget the added rules and names */
void provider_reset(void)
{
    nadded = 0;
    nadded_names = 0;
    nnames = 0;
    names_build();
}

/*
 * The blocklist and policy-block table: all words of a rule must occur in the reply. The
 * specific rules of an operator come before its general one.
 */
static const struct block blocks[] = {
    {{"zen.spamhaus", NULL}, "Spamhaus ZEN", "Spamhaus", BLOCK_LIST},
    {{"sbl-xbl.spamhaus", NULL}, "Spamhaus SBL-XBL", "Spamhaus", BLOCK_LIST},
    {{"sbl.spamhaus", NULL}, "Spamhaus SBL", "Spamhaus", BLOCK_LIST},
    {{"xbl.spamhaus", NULL}, "Spamhaus XBL", "Spamhaus", BLOCK_LIST},
    {{"pbl.spamhaus", NULL}, "Spamhaus PBL", "Spamhaus", BLOCK_LIST},
    {{"dbl.spamhaus", NULL}, "Spamhaus DBL", "Spamhaus", BLOCK_LIST},
    {{"spamhaus", "/pbl", NULL}, "Spamhaus PBL", "Spamhaus", BLOCK_LIST},
    {{"spamhaus", "/sbl", NULL}, "Spamhaus SBL", "Spamhaus", BLOCK_LIST},
    {{"spamhaus", "/xbl", NULL}, "Spamhaus XBL", "Spamhaus", BLOCK_LIST},
    {{"spamhaus", "/dbl", NULL}, "Spamhaus DBL", "Spamhaus", BLOCK_LIST},
    {{"spamhaus", NULL}, "Spamhaus", "Spamhaus", BLOCK_LIST},
    {{"barracuda", NULL}, "Barracuda BRBL", "Barracuda", BLOCK_LIST},
    {{"spamcop", NULL}, "SpamCop", "SpamCop", BLOCK_LIST},
    {{"uceprotect", NULL}, "UCEPROTECT", "UCEPROTECT", BLOCK_LIST},
    {{"sorbs", NULL}, "SORBS", "SORBS", BLOCK_LIST},
    {{"abuseat.org", NULL}, "CBL", "Spamhaus", BLOCK_LIST},
    {{"psbl.surriel", NULL}, "PSBL", "PSBL", BLOCK_LIST},
    {{"mailspike", NULL}, "Mailspike", "Mailspike", BLOCK_LIST},
    {{"abusix", NULL}, "Abusix", "Abusix", BLOCK_LIST},
    {{"invaluement", NULL}, "Invaluement", "Invaluement", BLOCK_LIST},
    {{"spamrats", NULL}, "SpamRATS", "SpamRATS", BLOCK_LIST},
    {{"trendmicro", NULL}, "Trend Micro ERS", "Trend Micro", BLOCK_LIST},
    {{"mail-abuse.com", NULL}, "Trend Micro MAPS", "Trend Micro", BLOCK_LIST},
    {{"cloudmark", NULL}, "Cloudmark", "Cloudmark", BLOCK_LIST},
    {{"senderscore", NULL}, "Validity SenderScore", "Validity", BLOCK_LIST},
    {{"talosintelligence", NULL}, "Cisco Talos", "Cisco", BLOCK_LIST},
    {{"senderbase", NULL}, "Cisco Talos", "Cisco", BLOCK_LIST},
    {{"s3140", NULL}, "Microsoft S3140", "Microsoft", BLOCK_LIST},
    {{"s3150", NULL}, "Microsoft S3150", "Microsoft", BLOCK_LIST},
    {{"banned sending ip", NULL}, "Microsoft banned sending IP", "Microsoft", BLOCK_POLICY},
    {{"5.7.708", NULL}, "Microsoft 5.7.708", "Microsoft", BLOCK_POLICY},
    {{"5.7.511", NULL}, "Microsoft 5.7.511", "Microsoft", BLOCK_POLICY},
    {{"tss04", NULL}, "Yahoo TSS04", "Yahoo", BLOCK_RATE},
    {{"tss09", NULL}, "Yahoo TSS09", "Yahoo", BLOCK_RATE},
    {{"tss11", NULL}, "Yahoo TSS11", "Yahoo", BLOCK_RATE},
    {{"[ts01]", NULL}, "Yahoo TS01", "Yahoo", BLOCK_POLICY},
    {{"[ts02]", NULL}, "Yahoo TS02", "Yahoo", BLOCK_POLICY},
    {{"[ts03]", NULL}, "Yahoo TS03", "Yahoo", BLOCK_POLICY},
    {{"4.7.28", NULL}, "Gmail 4.7.28 rate limit", "Google", BLOCK_RATE},
    {{"unusual rate", "gsmtp", NULL}, "Gmail unusual rate", "Google", BLOCK_RATE},
    {{"5.7.26", NULL}, "Gmail 5.7.26 unauthenticated", "Google", BLOCK_AUTH},
    {{"4.7.26", NULL}, "Gmail 4.7.26 unauthenticated", "Google", BLOCK_AUTH},
    {{"5.7.27", "gsmtp", NULL}, "Gmail 5.7.27 SPF", "Google", BLOCK_AUTH},
    {{"likely unsolicited", "gsmtp", NULL}, "Gmail unsolicited mail", "Google", BLOCK_POLICY},
    {{"[cs01]", NULL}, "iCloud CS01", "Apple", BLOCK_POLICY},
    {{"[hm08]", NULL}, "iCloud HM08", "Apple", BLOCK_POLICY},
    {{"proofpoint", NULL}, "Proofpoint", "Proofpoint", BLOCK_POLICY},
    {{"pphosted", NULL}, "Proofpoint", "Proofpoint", BLOCK_POLICY},
    {{"mimecast", NULL}, "Mimecast", "Mimecast", BLOCK_POLICY},
    {{"dmarc", NULL}, "DMARC policy", "DMARC", BLOCK_AUTH},
};

/*
 * The distinct words of the rules, folded to lower case, each listed under its first two
 * bytes: one pass over a reply finds every word it holds, instead of a search of the reply
 * per word (block_match() runs on every failed attempt).
 */
#define BLOCK_WORDS 128
static struct {
    char pool[2048];
    const char *word[BLOCK_WORDS];
    size_t len[BLOCK_WORDS];
    unsigned char next[BLOCK_WORDS]; /* the next word with the same first two bytes, + 1 */
    unsigned char head[1 << 16];     /* the first word of each pair of bytes, + 1; 0: none */
    unsigned char id[ARRAY_LEN(blocks)][ARRAY_LEN(blocks[0].words)]; /* each rule's words */
    int n;
} words;
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

/* words_build - fill "words" from the rule table (once) */
static void words_build(void)
{
    size_t used = 0;

    for (size_t i = 0; i < ARRAY_LEN(blocks); i++) {
        for (size_t k = 0; k < ARRAY_LEN(blocks[i].words) && blocks[i].words[k]; k++) {
            const char *w = blocks[i].words[k];
            size_t wl = strlen(w);
            int id;

            for (id = 0; id < words.n && strcasecmp(words.word[id], w) != 0; id++)
                ;
            if (id == words.n) {
                char *f = words.pool + used;
                unsigned pair;

                /* The table's words are at least two bytes long, and fit. */
                if (wl < 2 || used + wl + 1 > sizeof(words.pool) || words.n == BLOCK_WORDS)
                    abort();
                for (size_t c = 0; c <= wl; c++)
                    f[c] = (char)tolower((unsigned char)w[c]);
                used += wl + 1;
                pair = (unsigned)(unsigned char)f[0] << 8 | (unsigned char)f[1];
                words.word[id] = f;
                words.len[id] = wl;
                words.next[id] = words.head[pair];
                words.head[pair] = (unsigned char)(id + 1);
                words.n++;
            }
            words.id[i][k] = (unsigned char)id;
        }
    }
}

/* block_match - the first blocklist or policy rule whose words all occur in the reply */
const struct block *block_match(const char *reply, size_t len)
{
    char low[2048];
    unsigned char found[BLOCK_WORDS] = {0};

    if (reply == NULL || len == 0)
        return NULL;
    pthread_once(&words_once, words_build);
    /* Fold the reply once (the words are folded already), then note each word it holds. */
    if (len > sizeof(low))
        len = sizeof(low);
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)reply[i]);
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned h = words.head[(unsigned)(unsigned char)low[i] << 8 | (unsigned char)low[i + 1]];

        for (; h != 0; h = words.next[h - 1])
            if (words.len[h - 1] <= len - i &&
                memcmp(low + i + 2, words.word[h - 1] + 2, words.len[h - 1] - 2) == 0)
                found[h - 1] = 1;
    }
    for (size_t i = 0; i < ARRAY_LEN(blocks); i++) {
        int all = 1;

        for (size_t k = 0; k < ARRAY_LEN(blocks[i].words) && blocks[i].words[k] && all; k++)
            all = found[words.id[i][k]];
        if (all)
            return &blocks[i];
    }
    return NULL;
}

/* block_named - the first rule of the table with this name, or NULL */
const struct block *block_named(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(blocks); i++)
        if (strcmp(blocks[i].name, name) == 0)
            return &blocks[i];
    return NULL;
}

/* block_kind_name - list, policy, rate or auth */
const char *block_kind_name(enum block_kind kind)
{
    static const char *const kinds[] = {"list", "policy", "rate", "auth"};

    return (size_t)kind < ARRAY_LEN(kinds) ? kinds[kind] : "list";
}
