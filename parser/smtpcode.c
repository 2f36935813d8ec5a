/*
 * smtpcode - the SMTP reply code and RFC 3463 enhanced status code at the head of a reply,
 * shared by the Postfix, Exim and Sendmail readers
 */
#include "parser/parser_int.h"

/* smtp_reply_code - a 2xx/4xx/5xx code at s followed by ' ', '-' or the end; or -1 */
int smtp_reply_code(const char *s, const char *end)
{
    if (end - s < 3 || s[0] < '2' || s[0] > '5' || s[0] == '3' || s[1] < '0' || s[1] > '9' ||
        s[2] < '0' || s[2] > '9')
        return -1;
    if (end - s > 3 && s[3] != ' ' && s[3] != '-')
        return -1;
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* smtp_dsn_len - the length of an enhanced code "X.Y.Z" at s ending at a space or the end */
size_t smtp_dsn_len(const char *s, const char *end)
{
    const char *p = s;
    int part;

    if (p >= end || (*p != '2' && *p != '4' && *p != '5'))
        return 0;
    p++;
    for (part = 0; part < 2; part++) {
        const char *d;

        if (p >= end || *p != '.')
            return 0;
        d = ++p;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 3)
            p++;
        if (p == d)
            return 0;
    }
    if (p < end && *p != ' ')
        return 0;
    return (size_t)(p - s);
}
