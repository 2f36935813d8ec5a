/*
 * auth - who may ask: the access token (Bearer or HTTP basic) and the TLS key material
 *
 * The token is read once from a file at start-up (its first line, surrounding blanks cut)
 * and must be at least WEB_TOKEN_MIN bytes. A request carries it as
 * "Authorization: Bearer TOKEN" (scripts) or as the password of HTTP basic credentials
 * (browsers; the user name is not checked). The comparison takes the same time whatever
 * the first differing byte, so the token cannot be found byte by byte from reply times.
 *
 * A bind is loopback only when it is exactly 127.0.0.1 or [::1]: other 127/8 addresses can
 * be routed into from a container or a namespace and are treated like any other address.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "util/util.h"
#include "web/web_int.h"

#define WEB_TOKEN_MIN 16
#define WEB_TOKEN_MAX 256
#define WEB_PEM_MAX   ((size_t)1 << 20)
#define WEB_AUTH_MAX  1024 /* the longest Authorization header looked at */

/* web_read_file - the whole of a small file, NUL-terminated; NULL with err when not */
static char *web_read_file(const char *path, size_t max, size_t *len, const char *what, char *err,
                           size_t errlen)
{
    struct buf b;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > max) {
            snprintf(err, errlen, "%s %s is larger than %zu bytes", what, path, max);
            fclose(f);
            buf_free(&b);
            return NULL;
        }
        buf_append(&b, chunk, n);
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        fclose(f);
        buf_free(&b);
        return NULL;
    }
    fclose(f);
    buf_putc(&b, 0);
    *len = b.len - 1;
    return b.data; /* the buffer's storage now belongs to the caller */
}

/* web_auth_load - read the token file and the TLS files named in opts */
int web_auth_load(struct web *w, const struct web_opts *opts, char *err, size_t errlen)
{
    size_t len, start, end;
    int has_cert = opts->tls_cert && opts->tls_cert[0];
    int has_key = opts->tls_key && opts->tls_key[0];

    if (opts->token_file != NULL && opts->token_file[0]) {
        char *t =
            web_read_file(opts->token_file, (size_t)64 * 1024, &len, "token file", err, errlen);

        if (t == NULL)
            return -1;
        for (start = 0; start < len && (t[start] == ' ' || t[start] == '\t'); start++)
            ;
        for (end = start; end < len && t[end] != '\n' && t[end] != '\r'; end++)
            ;
        while (end > start && (t[end - 1] == ' ' || t[end - 1] == '\t'))
            end--;
        if (end - start < WEB_TOKEN_MIN || end - start > WEB_TOKEN_MAX ||
            memchr(t + start, 0, end - start) != NULL) {
            snprintf(err, errlen,
                     "token file %s: the token (its first line) must be %d to %d "
                     "bytes",
                     opts->token_file, WEB_TOKEN_MIN, WEB_TOKEN_MAX);
            explicit_bzero(t, len);
            x_free(t);
            return -1;
        }
        w->token_len = end - start;
        w->token = xmalloc(w->token_len + 1);
        memcpy(w->token, t + start, w->token_len);
        w->token[w->token_len] = 0;
        explicit_bzero(t, len);
        x_free(t);
    }
    if (has_cert != has_key) {
        snprintf(err, errlen, "TLS needs both a certificate and a key (tls_cert, tls_key)");
        web_auth_free(w);
        return -1;
    }
    if (has_cert) {
        w->tls_cert =
            web_read_file(opts->tls_cert, WEB_PEM_MAX, &len, "TLS certificate", err, errlen);
        if (w->tls_cert == NULL) {
            web_auth_free(w);
            return -1;
        }
        w->tls_key = web_read_file(opts->tls_key, WEB_PEM_MAX, &len, "TLS key", err, errlen);
        if (w->tls_key == NULL) {
            web_auth_free(w);
            return -1;
        }
    }
    return 0;
}

/* web_auth_free - forget the token and the key, wiping them */
void web_auth_free(struct web *w)
{
    if (w->token != NULL) {
        explicit_bzero(w->token, w->token_len);
        x_free(w->token);
        w->token = NULL;
    }
    if (w->tls_key != NULL) {
        explicit_bzero(w->tls_key, strlen(w->tls_key));
        x_free(w->tls_key);
        w->tls_key = NULL;
    }
    x_free(w->tls_cert);
    w->tls_cert = NULL;
}

/*
 * web_token_equal - a (given) equals b (the secret), in time that depends only on blen.
 */
int web_token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = 0;
    size_t i;

    diff |= (unsigned char)(alen != blen);
    for (i = 0; i < blen; i++)
        diff |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

/* web_b64_value - the value of one base64 digit, -1 for anything else */
static int web_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* web_base64_decode - standard base64 with padding; 0, or -1 when malformed or too long */
int web_base64_decode(const char *in, size_t inlen, char *out, size_t outlen, size_t *got)
{
    size_t i, n = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;

    if (inlen % 4 != 0)
        return -1;
    for (i = 0; i < inlen; i++) {
        int v;

        if (in[i] == '=') {
            if (i < inlen - 2)
                return -1;
            pad++;
            continue;
        }
        if (pad)
            return -1;
        v = web_b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= outlen)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    *got = n;
    return 0;
}

/* web_auth_check - the request carries the token, as Bearer or as a basic password */
int web_auth_check(const struct web *w, struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char dec[WEB_AUTH_MAX];
    const char *colon;
    size_t hlen, n;

    if (h == NULL)
        return 0;
    hlen = strlen(h);
    if (hlen > WEB_AUTH_MAX)
        return 0;
    if (hlen > 7 && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return web_token_equal(h, strlen(h), w->token, w->token_len);
    }
    if (hlen > 6 && strncasecmp(h, "Basic ", 6) == 0) {
        h += 6;
        while (*h == ' ')
            h++;
        if (web_base64_decode(h, strlen(h), dec, sizeof(dec), &n) != 0)
            return 0;
        colon = memchr(dec, ':', n);
        if (colon == NULL)
            return 0;
        colon++;
        return web_token_equal(colon, n - (size_t)(colon - dec), w->token, w->token_len);
    }
    return 0;
}

/* web_listen_loopback - the listen address is exactly 127.0.0.1 or [::1] */
int web_listen_loopback(const char *listen)
{
    return strncmp(listen, "127.0.0.1:", 10) == 0 || strncmp(listen, "[::1]:", 6) == 0;
}
