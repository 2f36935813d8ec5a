/*
 * smtpcode - the SMTP reply code at the head of a reply, shared by the Postfix, Exim and
 * Sendmail readers (the enhanced status code that may follow is event_dsn_len()'s)
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
