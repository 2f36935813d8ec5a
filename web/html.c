/*
 * html - the pages a person reads: dashboard (/), delivery errors (/bounces), message trail
 * (/message), and the one stylesheet (/static/style.css)
 *
 * Server-rendered HTML5 that works without JavaScript; charts are inline SVG with a
 * <title> on every bar, so a browser shows the exact numbers on hover. Every string that
 * came from a log, the wire or the request goes through web_html_esc() (text and attribute
 * values alike) or web_url_esc() (inside a link's query string), nothing else reaches the
 * page. Elements that tests look for carry stable ids and data- attributes.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "parser/provider.h"
#include "util/util.h"
#include "web/web_int.h"

#define HTML_CT "text/html; charset=utf-8"

static const char style_css[] =
    ":root{--bg:#f5f6f8;--card:#fff;--line:#e2e5ea;--text:#1d2330;--muted:#667085;"
    "--accent:#2952cc;--sent:#2f8f5b;--deferred:#d99a1e;--bounced:#c9372c;--expired:#8a94a6;"
    "--rejected:#6b4fbb}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--text);font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\n"
    "a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}\n"
    ".wrap{max-width:1180px;margin:0 auto;padding:0 20px}\n"
    "header.top{background:#111827;color:#fff}\n"
    "header.top .wrap{display:flex;align-items:center;gap:28px;height:52px}\n"
    ".brand{color:#fff;font-weight:700;font-size:16px;letter-spacing:.2px}\n"
    ".brand span{color:#7aa2ff}\n"
    "nav a{color:#c8cfdb;margin-right:18px;padding:15px 0;border-bottom:2px solid transparent}\n"
    "nav a.on{color:#fff;border-bottom-color:#7aa2ff}nav a:hover{color:#fff;text-decoration:none}\n"
    "nav a{white-space:nowrap}\n"
    "@media(max-width:600px){header.top .wrap{height:auto;flex-wrap:wrap;gap:0 18px;"
    "padding-top:10px}nav{display:flex;flex-wrap:wrap}nav a{padding:8px 0 6px}"
    ".presets{margin-left:0}}\n"
    "h1{font-size:20px;margin:22px 0 4px}h2{font-size:15px;margin:0 0 12px}\n"
    ".sub{color:var(--muted);margin:0 0 16px}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;"
    "margin-bottom:16px}\n"
    "form.bar{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}\n"
    "form.bar label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}\n"
    "input,select{font:inherit;padding:6px 8px;border:1px solid #c9ced6;border-radius:6px;"
    "background:#fff}\n"
    "input{width:165px}select{min-width:100px}input[name=dsn]{width:80px}\n"
    "button,.btn{font:inherit;padding:6px 14px;border-radius:6px;border:1px solid var(--accent);"
    "background:var(--accent);color:#fff;cursor:pointer}\n"
    ".btn.ghost{background:#fff;color:var(--accent)}\n"
    ".presets{display:flex;flex-wrap:wrap;gap:6px;margin-left:auto}\n"
    ".presets a{padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:#fff;"
    "color:var(--text);white-space:nowrap}\n"
    ".presets a:hover{border-color:var(--accent);text-decoration:none}\n"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(112px,1fr));gap:10px;"
    "margin-bottom:16px}\n"
    ".kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px "
    "12px}\n"
    ".kpi .label{display:block;color:var(--muted);font-size:11px;text-transform:uppercase;"
    "letter-spacing:.3px;white-space:nowrap}\n"
    ".kpi .value{display:block;font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}\n"
    ".kpi.sent .value{color:var(--sent)}.kpi.deferred .value{color:var(--deferred)}"
    ".kpi.bounced .value{color:var(--bounced)}.kpi.expired .value{color:var(--expired)}"
    ".kpi.rejected .value{color:var(--rejected)}\n"
    ".grid2{display:grid;grid-template-columns:2fr 3fr;gap:16px}\n"
    ".grid2>*{min-width:0;overflow-x:auto}\n"
    "@media(max-width:900px){.grid2{grid-template-columns:1fr}}\n"
    "table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
    ".scroll{overflow-x:auto}\n"
    "th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;"
    "letter-spacing:.3px;border-bottom:1px solid var(--line);padding:6px 8px}\n"
    "td{border-bottom:1px solid #eef0f3;padding:7px 8px;vertical-align:top}\n"
    "tr:last-child td{border-bottom:0}\n"
    "td.n,th.n{text-align:right;white-space:nowrap}\n"
    "td.reply{color:#475467;font-size:12.5px;max-width:420px;overflow-wrap:anywhere}\n"
    "td.reply div+div{margin-top:6px;padding-top:6px;border-top:1px dashed #e4e7ec}\n"
    "td.addr{overflow-wrap:break-word;max-width:260px}\n"
    "td.t{white-space:nowrap}\n"
    ".pager h2{margin:0}.card>.pager:first-child{margin:0 0 10px}\n"
    "code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12.5px}\n"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;"
    "font-weight:600;color:#fff}\n"
    ".badge.sent{background:var(--sent)}.badge.deferred{background:var(--deferred)}"
    ".badge.bounced{background:var(--bounced)}.badge.expired{background:var(--expired)}"
    ".badge.reject{background:var(--rejected)}\n"
    ".badge.message,.badge.bounce_notice{background:#475467}\n"
    "svg.meter{display:inline-block;width:60px;height:6px;background:#eef0f3;border-radius:3px;"
    "vertical-align:middle;margin-left:6px;overflow:hidden}\n"
    ".meter rect{fill:var(--bounced)}.meter.d rect{fill:var(--deferred)}\n"
    "svg.cmeter{display:inline-block;width:160px;height:12px;background:#eef0f3;"
    "border-radius:3px;vertical-align:middle;margin-left:6px}\n"
    ".cmeter rect{fill:var(--sent)}.cmeter.warn rect{fill:var(--deferred)}"
    ".cmeter.crit rect{fill:var(--bounced)}.cmeter line{stroke:#344054;stroke-width:1.5}\n"
    ".legend{display:flex;gap:16px;font-size:12px;color:var(--muted);margin-top:6px}\n"
    ".legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;"
    "vertical-align:-1px}\n"
    ".legend i.sent{background:var(--sent)}.legend i.deferred{background:var(--deferred)}"
    ".legend i.bounced{background:var(--bounced)}.legend i.expired{background:var(--expired)}\n"
    "svg.stack{display:block;width:100%;height:14px;border-radius:4px;overflow:hidden;"
    "background:#eef0f3;margin:6px 0 12px}\n"
    "rect.sent{fill:var(--sent)}rect.deferred{fill:var(--deferred)}"
    "rect.bounced{fill:var(--bounced)}rect.expired{fill:var(--expired)}\n"
    "svg.chart{width:100%;height:auto;display:block}\n"
    "svg.chart text{font-size:11px;fill:#667085}\n"
    "svg.chart rect.bar:hover{opacity:.8}\n"
    ".empty{color:var(--muted);padding:18px 0;text-align:center}\n"
    ".error{background:#fdecea;border:1px solid #f5c2bd;color:#8a1c12;border-radius:8px;"
    "padding:12px 16px;margin:16px 0}\n"
    ".pager{display:flex;justify-content:space-between;align-items:center;margin-top:12px}\n"
    ".links a{margin-left:12px}\n"
    ".tabs{display:flex;flex-wrap:wrap;gap:6px;align-items:center;padding:10px 18px}\n"
    ".tabs a{padding:5px 10px;border:1px solid var(--line);border-radius:6px;color:var(--text);"
    "white-space:nowrap}\n"
    ".tabs a.on{background:var(--accent);border-color:var(--accent);color:#fff}\n"
    ".tabs a:hover{text-decoration:none;border-color:var(--accent)}\n"
    ".tabs .sep{color:var(--muted);margin:0 2px 0 14px}\n"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}\n"
    "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}\n"
    "footer{color:var(--muted);font-size:12px;padding:10px 20px 30px}\n"
    ".alert-banner{margin:14px 0;padding:10px 14px;border-radius:8px;border:1px solid;"
    "overflow-wrap:anywhere}\n"
    ".alert-banner.warning{background:#fff6e0;border-color:var(--deferred)}\n"
    ".alert-banner.critical{background:#fdecea;border-color:var(--bounced)}\n"
    "table.alerts tr.ended{color:var(--muted)}table.alerts td.numbers{font-size:13px;"
    "overflow-wrap:anywhere}\n";

/* web_html_esc - text or attribute value: & < > " ' escaped */
void web_html_esc(struct buf *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep;

        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        buf_append(b, run, (size_t)(s - run));
        buf_puts(b, rep);
        run = s + 1;
    }
    buf_append(b, run, (size_t)(s - run));
}

/* web_url_esc - percent-encode everything but unreserved characters (RFC 3986) */
void web_url_esc(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            buf_putc(b, c);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[c >> 4]);
            buf_putc(b, hex[c & 15]);
        }
    }
}

/* html_int - a count with thousands separators */
static void html_int(struct buf *b, int64_t v)
{
    char digits[32];
    size_t n, i;

    if (v < 0) {
        buf_putc(b, '-');
        v = -v;
    }
    n = (size_t)snprintf(digits, sizeof(digits), "%lld", (long long)v);
    for (i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf_putc(b, ',');
        buf_putc(b, digits[i]);
    }
}

/* The units of a compact count (html_compact(), html_axis_label()), largest first. */
static const struct {
    int64_t unit;
    const char *suffix;
} compact_units[] = {{1000000000, "B"}, {1000000, "M"}, {1000, "k"}};

/*
 * html_compact - a count in at most five characters: exact below 100,000 ("99,999"), else
 * thousands, millions or billions with three significant digits ("412k", "10.0M", "1.25B").
 * A figure card or an axis label has room for that much, not for "9,999,999".
 */
static void html_compact(struct buf *b, int64_t v)
{
    double x = (double)(v < 0 ? -v : v);
    size_t i;

    if (x < 100000) {
        html_int(b, v);
        return;
    }
    for (i = 0; i < ARRAY_LEN(compact_units); i++) {
        double m = x / (double)compact_units[i].unit;

        if (m < 1 && i + 1 < ARRAY_LEN(compact_units))
            continue;
        if (v < 0)
            buf_putc(b, '-');
        /* Three significant digits, and 999.95k rounds up to the next unit's "1.00M". */
        if (m >= 999.5 && i > 0) {
            buf_printf(b, "1.00%s", compact_units[i - 1].suffix);
        } else {
            buf_printf(b,
                       m >= 99.95   ? "%.0f%s"
                       : m >= 9.995 ? "%.1f%s"
                                    : "%.2f%s",
                       m, compact_units[i].suffix);
        }
        return;
    }
}

/*
 * html_axis_label - grid line g's label, at v = g * step: every label of an axis in one unit,
 * with as many decimals as the step needs ("0", "50k", "100k", ... not "50,000" beside "100k";
 * "0.5M", "1.0M", ...). Exact below a top of 100,000, as html_compact() is.
 */
static void html_axis_label(struct buf *b, int64_t v, int64_t step, int64_t top)
{
    size_t i = 0;
    int64_t p = 1;
    int d = 0;

    if (top < 100000 || v == 0) {
        html_int(b, v);
        return;
    }
    while (i + 1 < ARRAY_LEN(compact_units) && top < compact_units[i].unit)
        i++;
    while (d < 3 && (step * p) % compact_units[i].unit != 0) {
        d++;
        p *= 10;
    }
    buf_printf(b, "%.*f%s", d, (double)v / (double)compact_units[i].unit, compact_units[i].suffix);
}

/* html_pct - a rate as a percentage with one decimal */
static void html_pct(struct buf *b, double rate)
{
    buf_printf(b, "%.1f%%", rate * 100.0);
}

/* html_time - "2026-11-27 09:00:01" (UTC); "" when unknown; minutes only when short */
static void html_time(struct buf *b, int64_t us, int minutes)
{
    char t[40];

    if (us <= 0 && !minutes)
        return;
    time_format_rfc3339(us, t, sizeof(t));
    t[10] = ' ';
    t[minutes ? 16 : 19] = 0;
    buf_puts(b, t);
}

/* html_rate - part/whole */
static double html_rate(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

/* The request's range and filters as text, to carry them over into links and forms. */
struct page_ctx {
    const struct web_params *p;
    struct buf keep; /* "from=..&to=..&host=.." URL-escaped, "" when none was given */
};

/* page_param - the raw text of a parameter, "" when absent */
static const char *page_param(const struct page_ctx *c, const char *name)
{
    const char *v = c->p ? web_param(c->p, name, NULL) : NULL;

    return v ? v : "";
}

/* page_keep - collect the range parameters given, for links to other pages */
static void page_keep(struct page_ctx *c)
{
    static const char *const names[] = {"from", "to", "host"};
    size_t i;

    buf_init(&c->keep);
    buf_putc(&c->keep, 0);
    c->keep.len = 0;
    for (i = 0; i < ARRAY_LEN(names); i++) {
        const char *v = page_param(c, names[i]);

        if (!v[0])
            continue;
        if (c->keep.len)
            buf_putc(&c->keep, '&');
        buf_printf(&c->keep, "%s=", names[i]);
        web_url_esc(&c->keep, v);
    }
    buf_putc(&c->keep, 0);
    c->keep.len--;
}

/* page_begin - doctype, head, the top bar with the active page marked */
static void page_begin(struct buf *b, const char *title, const char *active, const char *keep)
{
    static const struct {
        const char *path, *label;
    } nav[] = {{"/", "Dashboard"},
               {"/bounces", "Delivery errors"},
               {"/senders", "Senders"},
               {"/blocks", "Blocks"},
               {"/message", "Message trail"}};
    size_t i;

    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    web_html_esc(b, title);
    buf_puts(b, " · mailpulse</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
                "</head><body><header class=\"top\"><div class=\"wrap\">"
                "<a class=\"brand\" href=\"/\">mail<span>pulse</span></a><nav>");
    for (i = 0; i < ARRAY_LEN(nav); i++) {
        buf_printf(b, "<a href=\"%s", nav[i].path);
        if (keep[0] && i < 3) {
            buf_putc(b, '?');
            web_html_esc(b, keep);
        }
        buf_printf(b, "\"%s>%s</a>", strcmp(active, nav[i].path) == 0 ? " class=\"on\"" : "",
                   nav[i].label);
    }
    buf_puts(b, "</nav></div></header><main class=\"wrap\">");
}

/* page_end - footer and closing tags */
static void page_end(struct buf *b)
{
    buf_puts(b, "</main><footer class=\"wrap\">All times UTC · <a href=\"/metrics\">metrics</a> · "
                "<a href=\"/healthz\">health</a> · JSON API under <code>/api/v1/</code></footer>"
                "</body></html>\n");
}

/* page_send - queue the page */
static enum MHD_Result page_send(struct web_req *r, unsigned int status, struct buf *b)
{
    static const char main_tag[] = "<main class=\"wrap\">";
    enum MHD_Result ret;
    struct buf out;
    char *at;

    /* The banner of active alerts goes first in <main>, on every page. */
    buf_init(&out);
    buf_putc(b, 0);
    b->len--;
    at = strstr(b->data, main_tag);
    if (at != NULL) {
        size_t head = (size_t)(at - b->data) + sizeof(main_tag) - 1;

        buf_append(&out, b->data, head);
        web_alert_banner(&out, r->db != NULL ? r->db : web_db(r->w));
        buf_append(&out, b->data + head, b->len - head);
    }
    ret = at != NULL ? web_reply_buf(r->conn, status, HTML_CT, out.data, out.len)
                     : web_reply_buf(r->conn, status, HTML_CT, b->data, b->len);
    buf_free(&out);
    buf_free(b);
    return ret;
}

/* web_page_error - a page with just the error (bad parameters, database down) */
enum MHD_Result web_page_error(struct MHD_Connection *conn, unsigned int status, const char *msg)
{
    struct buf b;
    enum MHD_Result ret;

    buf_init(&b);
    page_begin(&b, status == MHD_HTTP_BAD_REQUEST ? "Bad request" : "Unavailable", "", "");
    buf_printf(&b, "<h1>%s</h1><div class=\"error\" id=\"error\">",
               status == MHD_HTTP_BAD_REQUEST ? "That request cannot be answered"
                                              : "The database is not answering");
    web_html_esc(&b, msg);
    buf_puts(&b, "</div><p><a href=\"/\">Back to the dashboard</a></p>");
    page_end(&b);
    ret = web_reply_buf(conn, status, HTML_CT, b.data, b.len);
    buf_free(&b);
    return ret;
}

/* html_input - a labelled text input holding the request's value */
static void html_input(struct buf *b, const struct page_ctx *c, const char *name, const char *label,
                       const char *placeholder, const char *type)
{
    buf_printf(b, "<label>%s<input type=\"%s\" name=\"%s\" value=\"", label, type, name);
    web_html_esc(b, page_param(c, name));
    buf_printf(b, "\" placeholder=\"%s\"></label>", placeholder);
}

/* html_range_line - "2026-11-27 00:00 – 2026-11-28 00:00 UTC" */
static void html_range_line(struct buf *b, const struct db_query *q)
{
    buf_puts(b, "<p class=\"sub\" id=\"range\">");
    html_time(b, q->range.from_us, 1);
    buf_puts(b, " – ");
    html_time(b, q->range.to_us, 1);
    buf_puts(b, " UTC");
    if (q->range.host[0]) {
        buf_puts(b, " · host ");
        web_html_esc(b, q->range.host);
    }
    buf_puts(b, "</p>");
}

/* html_kpi - one figure card; a compact figure has the exact one as its title */
static void html_kpi(struct buf *b, const char *id, const char *cls, const char *label, int64_t v)
{
    buf_printf(b,
               "<div class=\"kpi %s\" id=\"kpi-%s\"><span class=\"label\">%s</span>"
               "<span class=\"value\" data-value=\"%lld\"",
               cls, id, label, (long long)v);
    if (v >= 100000 || v <= -100000) {
        buf_puts(b, " title=\"");
        html_int(b, v);
        buf_putc(b, '"');
    }
    buf_putc(b, '>');
    html_compact(b, v);
    buf_puts(b, "</span></div>");
}

/* html_kpi_rate - one rate card */
static void html_kpi_rate(struct buf *b, const char *id, const char *cls, const char *label,
                          double rate)
{
    buf_printf(b,
               "<div class=\"kpi %s\" id=\"kpi-%s\"><span class=\"label\">%s</span>"
               "<span class=\"value\" data-value=\"%.6f\">",
               cls, id, label, rate);
    html_pct(b, rate);
    buf_puts(b, "</span></div>");
}

/* html_nice_step - a round grid step (1, 2 or 5 times a power of ten) at or above v */
static int64_t html_nice_step(int64_t v)
{
    int64_t step = 1;

    for (;;) {
        if (v <= step)
            return step;
        if (v <= step * 2)
            return step * 2;
        if (v <= step * 5)
            return step * 5;
        step *= 10;
    }
}

/*
 * html_chart - stacked bars of sent, deferred, bounced, expired per bucket, with a <title>
 * per bucket, a horizontal grid with counts, and the first, middle and last bucket times.
 */
static void html_chart(struct buf *b, const struct db_point *pts, size_t n, enum db_bucket bucket)
{
    const double W = 1000, H = 240, L = 48, R = 8, T = 10, B = 26;
    const double pw = W - L - R, ph = H - T - B;
    int64_t max = 0, top, total = 0;
    double bw;
    size_t i;
    int g;

    for (i = 0; i < n; i++) {
        int64_t s = pts[i].sent + pts[i].deferred + pts[i].bounced + pts[i].expired;

        if (s > max)
            max = s;
        total += s;
    }
    top = 4 * html_nice_step((max + 3) / 4);
    bw = pw / (double)(n ? n : 1);
    buf_printf(b,
               "<svg class=\"chart\" id=\"volume-chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
               "aria-label=\"Delivery attempts per %s\" data-total=\"%lld\" data-buckets=\"%zu\">",
               W, H, web_bucket_name(bucket), (long long)total, n);
    for (g = 0; g <= 4; g++) {
        double y = T + ph - ph * g / 4.0;

        buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", L,
                   W - R, y, y, g == 0 ? "#c9ced6" : "#eef0f3");
        buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", L - 6, y + 4);
        html_axis_label(b, top * g / 4, top / 4, top);
        buf_puts(b, "</text>");
    }
    for (i = 0; i < n; i++) {
        static const char *const classes[] = {"sent", "deferred", "bounced", "expired"};
        int64_t v[4] = {pts[i].sent, pts[i].deferred, pts[i].bounced, pts[i].expired};
        double x = L + bw * (double)i, y = T + ph, gap = bw > 4 ? bw * 0.18 : 0;
        double barw = bw - gap > 56 ? 56 : bw - gap; /* a few wide buckets: slim bars */
        int k;

        buf_puts(b, "<g class=\"bucket\"><title>");
        html_time(b, pts[i].bucket_us, 1);
        buf_printf(b, " UTC — %lld sent, %lld deferred, %lld bounced, %lld expired",
                   (long long)v[0], (long long)v[1], (long long)v[2], (long long)v[3]);
        buf_puts(b, "</title>");
        /* an invisible full-height bar so that hovering an empty bucket shows its title */
        buf_printf(
            b, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"transparent\"/>",
            x, T, bw, ph);
        for (k = 0; k < 4; k++) {
            double h = top > 0 ? ph * (double)v[k] / (double)top : 0;

            if (v[k] == 0)
                continue;
            if (h < 1)
                h = 1;
            y -= h;
            buf_printf(b,
                       "<rect class=\"bar %s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                       "height=\"%.2f\"/>",
                       classes[k], x + (bw - barw) / 2, y, barw, h);
        }
        buf_puts(b, "</g>");
    }
    if (n > 0) {
        size_t at[3] = {0, n / 2, n - 1};
        const char *anchor[3] = {"start", "middle", "end"};
        int k;

        for (k = 0; k < 3; k++) {
            if (k > 0 && at[k] == at[k - 1])
                continue;
            buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
                       k == 0   ? L
                       : k == 2 ? W - R
                                : L + bw * ((double)at[k] + 0.5),
                       H - 8, anchor[k]);
            html_time(b, pts[at[k]].bucket_us, 1);
            buf_puts(b, "</text>");
        }
    }
    buf_puts(b, "</svg><div class=\"legend\"><span><i class=\"sent\"></i>sent</span><span>"
                "<i class=\"deferred\"></i>deferred</span><span><i class=\"bounced\"></i>bounced"
                "</span><span><i class=\"expired\"></i>expired</span></div>");
}

/* html_breakdown - one stacked bar of the outcomes and a small table */
static void html_breakdown(struct buf *b, const struct db_summary *s)
{
    static const char *const names[] = {"sent", "deferred", "bounced", "expired"};
    int64_t v[4] = {s->sent, s->deferred, s->bounced, s->expired};
    int64_t all = v[0] + v[1] + v[2] + v[3];
    double x = 0;
    int k;

    /* SVG geometry, not inline CSS: the Content-Security-Policy allows no style attribute. */
    buf_puts(b, "<svg class=\"stack\" id=\"outcome-bar\" viewBox=\"0 0 100 1\" "
                "preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Outcomes\">");
    for (k = 0; k < 4 && all > 0; k++) {
        double wk = 100.0 * (double)v[k] / (double)all;

        if (v[k] == 0)
            continue;
        buf_printf(b,
                   "<rect class=\"%s\" x=\"%.3f\" y=\"0\" width=\"%.3f\" height=\"1\">"
                   "<title>%s: %lld</title></rect>",
                   names[k], x, wk, names[k], (long long)v[k]);
        x += wk;
    }
    buf_puts(b, "</svg><table id=\"outcomes\"><thead><tr><th>Outcome</th><th class=\"n\">Attempts"
                "</th><th class=\"n\">Share</th></tr></thead><tbody>");
    for (k = 0; k < 4; k++) {
        buf_printf(b,
                   "<tr data-status=\"%s\"><td><span class=\"badge %s\">%s</span></td>"
                   "<td class=\"n\">",
                   names[k], names[k], names[k]);
        html_int(b, v[k]);
        buf_puts(b, "</td><td class=\"n\">");
        html_pct(b, html_rate(v[k], all));
        buf_puts(b, "</td></tr>");
    }
    buf_puts(b, "<tr data-status=\"rejected\"><td><span class=\"badge reject\">rejected at SMTP"
                "</span></td><td class=\"n\">");
    html_int(b, s->rejected);
    buf_puts(b, "</td><td class=\"n\">—</td></tr></tbody></table>");
}

/* html_meter - a small bar for a rate */
static void html_meter(struct buf *b, double rate, int deferral)
{
    buf_printf(b,
               "<svg class=\"meter%s\" viewBox=\"0 0 100 1\" preserveAspectRatio=\"none\" "
               "aria-hidden=\"true\"><rect width=\"%.1f\" height=\"1\"/></svg>",
               deferral ? " d" : "", rate > 1 ? 100.0 : rate * 100.0);
}

/*
 * html_rate_row - one row of the domain and provider panels: the name linking to its
 * failures (/bounces?KEY=name plus the page's range and filters), attempts, sent, bounced
 * and the two rates with their meters
 */
static void html_rate_row(struct buf *b, const char *key, const char *name, int64_t att,
                          int64_t sent, int64_t bounced, double br, double dr, const char *keep)
{
    buf_printf(b, "<tr data-%s=\"", key);
    web_html_esc(b, name);
    buf_printf(b,
               "\" data-attempts=\"%lld\" data-bounced=\"%lld\"><td class=\"addr\">"
               "<a href=\"/bounces?%s=",
               (long long)att, (long long)bounced, key);
    web_url_esc(b, name);
    if (keep[0]) {
        buf_puts(b, "&amp;");
        web_html_esc(b, keep);
    }
    buf_puts(b, "\">");
    web_html_esc(b, name);
    buf_puts(b, "</a></td><td class=\"n\">");
    html_int(b, att);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, sent);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, bounced);
    buf_puts(b, "</td><td class=\"n\">");
    html_pct(b, br);
    html_meter(b, br, 0);
    buf_puts(b, "</td><td class=\"n\">");
    html_pct(b, dr);
    html_meter(b, dr, 1);
    buf_puts(b, "</td></tr>");
}

/* html_domains - the top recipient domains table */
static void html_domains(struct buf *b, const struct web_rows *rows, const char *keep)
{
    size_t i;

    if (rows->n == 0) {
        buf_puts(b, "<p class=\"empty\">No delivery attempts in this range.</p>");
        return;
    }
    buf_puts(b, "<table id=\"domains\"><thead><tr><th>Domain</th><th class=\"n\">Attempts</th>"
                "<th class=\"n\">Sent</th><th class=\"n\">Bounced</th><th class=\"n\">Bounce rate"
                "</th><th class=\"n\">Deferral rate</th></tr></thead><tbody>");
    for (i = 0; i < rows->n; i++) {
        const struct db_domain_row *d = (const void *)(rows->data + i * rows->size);
        int64_t att = d->sent + d->deferred + d->bounced + d->expired;

        html_rate_row(b, "domain", d->domain, att, d->sent, d->bounced, d->bounce_rate,
                      d->deferral_rate, keep);
    }
    buf_puts(b, "</tbody></table>");
}

/* html_provider_select - the provider filter of /bounces: every name provider_of() gives */
static void html_provider_select(struct buf *b, const struct page_ctx *c)
{
    const char *const *names;
    const char *v = page_param(c, "provider");
    size_t i, n = provider_names(&names);

    buf_puts(b, "<label>Provider<select name=\"provider\"><option value=\"\">any</option>");
    for (i = 0; i < n; i++) {
        buf_printf(b, "<option%s>", strcmp(v, names[i]) == 0 ? " selected" : "");
        web_html_esc(b, names[i]);
        buf_puts(b, "</option>");
    }
    buf_puts(b, "</select></label>");
}

/* html_providers - the mailbox providers table, each linking to its failures */
static void html_providers(struct buf *b, const struct web_rows *rows, const char *keep)
{
    size_t i;

    if (rows->n == 0) {
        buf_puts(b, "<p class=\"empty\">No delivery attempts with a known provider in this "
                    "range.</p>");
        return;
    }
    buf_puts(b, "<div class=\"scroll\"><table id=\"providers\"><thead><tr><th>Provider</th><th "
                "class=\"n\">Attempts"
                "</th><th class=\"n\">Sent</th><th class=\"n\">Bounced</th><th class=\"n\">"
                "Bounce rate</th><th class=\"n\">Deferral rate</th></tr></thead><tbody>");
    for (i = 0; i < rows->n; i++) {
        const struct db_provider_row *p = (const void *)(rows->data + i * rows->size);
        int64_t att = p->sent + p->deferred + p->bounced + p->expired;
        double br = html_rate(p->bounced, att);
        double dr = html_rate(p->deferred, att);

        html_rate_row(b, "provider", p->provider, att, p->sent, p->bounced, br, dr, keep);
    }
    buf_puts(b, "</tbody></table></div>");
}

/* html_cut - at most max bytes of s, cut on a UTF-8 boundary, with an ellipsis */
static void html_cut(struct buf *b, const char *s, size_t max)
{
    char tmp[EV_REPLY_LEN + 4];
    size_t n = strlen(s);

    if (n <= max) {
        web_html_esc(b, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    memcpy(tmp, s, max);
    tmp[max] = 0;
    web_html_esc(b, tmp);
    buf_puts(b, "…");
}

/*
 * html_complaint_meter - a complaint rate on a scale to 0.5 %, with marks at 0.1 % and 0.3 %
 * (the lines Gmail and Yahoo publish for bulk senders); its colour says which it passed
 */
static void html_complaint_meter(struct buf *b, double rate)
{
    double w = rate >= 0.005 ? 100.0 : rate / 0.005 * 100.0;

    buf_printf(b,
               "<svg class=\"cmeter%s\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" "
               "aria-hidden=\"true\"><rect width=\"%.1f\" height=\"10\"/>"
               "<line x1=\"20\" y1=\"0\" x2=\"20\" y2=\"10\"/>"
               "<line x1=\"60\" y1=\"0\" x2=\"60\" y2=\"10\"/></svg>",
               rate >= 0.003   ? " crit"
               : rate >= 0.001 ? " warn"
                               : "",
               w);
}

/* html_complaints - the complaint rate of the busiest sender domains */
static void html_complaints(struct buf *b, const struct web_rows *rows, const int64_t *complaints,
                            const char *keep)
{
    buf_puts(b, "<section class=\"card\"><h2>Complaint rate by sender domain</h2>"
                "<p class=\"sub\">Complaints (feedback-loop reports) per message sent, for the "
                "busiest sender domains. Gmail and Yahoo ask bulk senders to stay under 0.1 % and "
                "never to reach 0.3 % (the marks on each bar; the bar ends at 0.5 %).</p>"
                "<div class=\"scroll\"><table id=\"complaint-rates\"><thead><tr>"
                "<th>Sender domain</th><th class=\"n\">Sent</th><th class=\"n\">Complaints</th>"
                "<th class=\"n\">Complaint rate</th></tr></thead><tbody>");
    for (size_t i = 0; i < rows->n; i++) {
        const struct db_sender_row *x = (const void *)(rows->data + i * rows->size);
        int64_t nc = complaints != NULL ? complaints[i] : 0;
        double rate = x->sent > 0 ? (double)nc / (double)x->sent : 0.0;

        buf_puts(b, "<tr data-sender=\"");
        web_html_esc(b, x->key);
        buf_printf(b, "\" data-complaints=\"%lld\"><td class=\"addr\">", (long long)nc);
        buf_puts(b, "<a href=\"/bounces?sender_domain=");
        web_url_esc(b, x->key);
        if (keep[0]) {
            buf_puts(b, "&amp;");
            web_html_esc(b, keep);
        }
        buf_puts(b, "\">");
        web_html_esc(b, x->key[0] ? x->key : "(none)");
        buf_puts(b, "</a></td><td class=\"n\">");
        html_int(b, x->sent);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, nc);
        buf_printf(b, "</td><td class=\"n\">%.3f%%", rate * 100.0);
        html_complaint_meter(b, rate);
        buf_puts(b, "</td></tr>");
    }
    buf_puts(b, "</tbody></table></div></section>");
}

/* html_reasons - the top bounce reasons table */
static void html_reasons(struct buf *b, const struct web_rows *rows, const char *keep)
{
    size_t i;

    if (rows->n == 0) {
        buf_puts(b, "<p class=\"empty\">No failed deliveries in this range.</p>");
        return;
    }
    buf_puts(b, "<div class=\"scroll\"><table "
                "id=\"reasons\"><thead><tr><th>Reason</th><th>DSN</th><th>Status</th>"
                "<th class=\"n\">Count</th><th>Example reply</th></tr></thead><tbody>");
    for (i = 0; i < rows->n; i++) {
        const struct db_reason_row *x = (const void *)(rows->data + i * rows->size);
        const char *st = x->status != ST_NONE ? event_status_name(x->status) : "";

        buf_puts(b, "<tr data-reason=\"");
        web_html_esc(b, x->reason);
        buf_puts(b, "\" data-dsn=\"");
        web_html_esc(b, x->dsn);
        buf_printf(b, "\" data-count=\"%lld\"><td><a href=\"/bounces?reason=", (long long)x->count);
        web_url_esc(b, x->reason);
        if (keep[0]) {
            buf_puts(b, "&amp;");
            web_html_esc(b, keep);
        }
        buf_puts(b, "\">");
        web_html_esc(b, x->reason[0] ? x->reason : "(none)");
        buf_puts(b, "</a></td><td><code>");
        web_html_esc(b, x->dsn);
        buf_printf(b, "</code></td><td><span class=\"badge %s\">%s</span></td><td class=\"n\">", st,
                   st);
        html_int(b, x->count);
        buf_puts(b, "</td><td class=\"reply\" title=\"");
        web_html_esc(b, x->example);
        buf_puts(b, "\">");
        html_cut(b, x->example, 110);
        buf_puts(b, "</td></tr>");
    }
    buf_puts(b, "</tbody></table></div>");
}

/* html_wire_kpis - the wire-level totals as figure cards */
static void html_wire_kpis(struct buf *b, const struct db_wire *w)
{
    buf_puts(b, "<div class=\"kpis\" id=\"wire-kpis\">");
    html_kpi(b, "wire-sessions", "", "Sessions", w->sessions);
    html_kpi(b, "wire-greeting-rejected", "rejected", "Greeting rejected", w->greeting_rejected);
    html_kpi(b, "wire-rcpt-accepted", "sent", "RCPT accepted", w->rcpt_accepted);
    html_kpi(b, "wire-rcpt-4xx", "deferred", "RCPT 4xx", w->rcpt_rejected_4xx);
    html_kpi(b, "wire-rcpt-5xx", "bounced", "RCPT 5xx", w->rcpt_rejected_5xx);
    html_kpi(b, "wire-data-accepted", "sent", "DATA accepted", w->data_accepted);
    html_kpi(b, "wire-data-rejected", "bounced", "DATA rejected",
             w->data_rejected_4xx + w->data_rejected_5xx);
    html_kpi_rate(b, "wire-tls-share", "", "TLS share", w->tls_share);
    buf_puts(b, "</div>");
}

/* html_wire_sources - the per source IP table of the wire section */
static void html_wire_sources(struct buf *b, const struct web_rows *rows)
{
    size_t i;

    buf_puts(b, "<div class=\"scroll\"><table id=\"wire-sources\"><thead><tr><th>Source IP</th>"
                "<th class=\"n\">Sessions</th><th class=\"n\">Greeting rejected</th>"
                "<th class=\"n\">RCPT accepted</th><th class=\"n\">RCPT 4xx</th>"
                "<th class=\"n\">RCPT 5xx</th><th class=\"n\">DATA accepted</th>"
                "<th class=\"n\">DATA rejected</th><th class=\"n\">TLS share</th></tr></thead>"
                "<tbody>");
    for (i = 0; i < rows->n; i++) {
        const struct db_wire_ip *x = (const void *)(rows->data + i * rows->size);
        const struct db_wire *w = &x->w;

        buf_puts(b, "<tr data-ip=\"");
        web_html_esc(b, x->ip);
        buf_printf(b, "\" data-sessions=\"%lld\"><td class=\"addr\">", (long long)w->sessions);
        web_html_esc(b, x->ip[0] ? x->ip : "(unknown)");
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->sessions);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->greeting_rejected);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->rcpt_accepted);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->rcpt_rejected_4xx);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->rcpt_rejected_5xx);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->data_accepted);
        buf_puts(b, "</td><td class=\"n\">");
        html_int(b, w->data_rejected_4xx + w->data_rejected_5xx);
        buf_puts(b, "</td><td class=\"n\">");
        html_pct(b, w->tls_share);
        buf_puts(b, "</td></tr>");
    }
    buf_puts(b, "</tbody></table></div>");
}

/*
 * html_wire - the "On the wire" section: what the sniffer saw (smtp_events), beside the
 * log-level figures above; nothing at all when the range holds no sniffed event.
 */
static void html_wire(struct buf *b, const struct db_wire *w, const struct web_rows *rows)
{
    if (w->sessions == 0 && rows->n == 0)
        return;
    buf_puts(b, "<section class=\"card\" id=\"wire\"><h2>On the wire</h2>"
                "<p class=\"sub\">SMTP sessions seen by the capture ([sniff]), by the "
                "sending IP.</p>");
    html_wire_kpis(b, w);
    html_wire_sources(b, rows);
    buf_puts(b, "</section>");
}

/* html_range_form - the range picker: from, to, host, and preset ranges */
static void html_range_form(struct buf *b, const struct page_ctx *c, const char *action)
{
    static const struct {
        const char *from, *label;
    } presets[] = {{"-1h", "1 hour"}, {"-24h", "24 hours"}, {"-7d", "7 days"}, {"-30d", "30 days"}};
    size_t i;

    buf_printf(b, "<form class=\"card bar\" method=\"get\" action=\"%s\" id=\"range-form\">",
               action);
    html_input(b, c, "from", "From", "-24h or 2026-11-27T00:00:00Z", "text");
    html_input(b, c, "to", "To", "now", "text");
    html_input(b, c, "host", "Host", "all hosts", "text");
    buf_puts(b, "<button type=\"submit\">Show</button><div class=\"presets\">");
    for (i = 0; i < ARRAY_LEN(presets); i++)
        buf_printf(b, "<a href=\"%s?from=%s\">%s</a>", action, presets[i].from, presets[i].label);
    buf_puts(b, "</div></form>");
}

/* web_page_dashboard - GET / */
enum MHD_Result web_page_dashboard(struct web_req *r)
{
    struct page_ctx c = {.p = &r->p};
    const struct db_query *q = &r->q;
    struct db *db = r->db;
    enum db_bucket bucket = r->bucket;
    struct db_summary s;
    struct web_rows doms, reasons, wire, provs, snd;
    struct db_report_counts rc;
    struct db_wire wtot;
    struct db_point *pts = NULL;
    int64_t *complaints = NULL;
    struct buf b;
    size_t n = 0;
    int64_t first, att;
    int ok;

    web_rows_init(&snd, sizeof(struct db_sender_row));
    web_rows_init(&doms, sizeof(struct db_domain_row));
    web_rows_init(&reasons, sizeof(struct db_reason_row));
    web_rows_init(&wire, sizeof(struct db_wire_ip));
    web_rows_init(&provs, sizeof(struct db_provider_row));
    memset(&s, 0, sizeof(s));
    ok = web_series(db, q, bucket, &pts, &n, &first) == 0 &&
         db_domains(db, q, DB_ORDER_VOLUME, 10, web_rows_domain, &doms) == 0 &&
         db_reasons(db, q, 10, web_rows_reason, &reasons) == 0 &&
         db_wire(db, q, 10, &wtot, web_rows_wire, &wire) == 0 &&
         db_providers(db, &q->range, 10, web_rows_provider, &provs) == 0 &&
         db_report_counts(db, &q->range, &rc) == 0;
    /* The complaint panel, only when the range has complaints to show. */
    if (ok && rc.complaints > 0) {
        ok = db_senders(db, &q->range, DB_AXIS_SENDER_DOMAIN, DB_ORDER_VOLUME, 10, web_rows_sender,
                        &snd) == 0;
        complaints = xcalloc(snd.n + 1, sizeof(*complaints));
        ok = ok && web_sender_complaints(db, &q->range, &snd, complaints) == 0;
    }
    if (!ok) {
        web_db_failed(r->w);
        x_free(complaints);
        web_rows_free(&snd);
        x_free(pts);
        web_rows_free(&provs);
        web_rows_free(&doms);
        web_rows_free(&reasons);
        web_rows_free(&wire);
        return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    page_keep(&c);
    /* The cards are the chart's buckets added up: both count the same range exactly. */
    for (size_t i = 0; i < n; i++) {
        s.received += pts[i].received;
        s.sent += pts[i].sent;
        s.deferred += pts[i].deferred;
        s.bounced += pts[i].bounced;
        s.expired += pts[i].expired;
        s.rejected += pts[i].rejected;
    }
    att = s.sent + s.deferred + s.bounced + s.expired;
    buf_init(&b);
    page_begin(&b, "Dashboard", "/", c.keep.data);
    buf_puts(&b, "<h1>Deliverability</h1>");
    web_alert_list(&b, r->db);
    html_range_line(&b, q);
    html_range_form(&b, &c, "/");
    buf_puts(&b, "<section class=\"kpis\" id=\"kpis\">");
    html_kpi(&b, "received", "", "Received", s.received);
    html_kpi(&b, "attempts", "", "Attempts", att);
    html_kpi(&b, "sent", "sent", "Sent", s.sent);
    html_kpi(&b, "deferred", "deferred", "Deferred", s.deferred);
    html_kpi(&b, "bounced", "bounced", "Bounced", s.bounced);
    html_kpi(&b, "expired", "expired", "Expired", s.expired);
    html_kpi(&b, "rejected", "rejected", "Rejected", s.rejected);
    html_kpi_rate(&b, "bounce-rate", "bounced", "Bounce rate", html_rate(s.bounced, att));
    html_kpi_rate(&b, "deferral-rate", "deferred", "Deferral rate", html_rate(s.deferred, att));
    buf_printf(&b, "</section><section class=\"card\"><h2>Delivery attempts per %s</h2>",
               web_bucket_name(bucket));
    html_chart(&b, pts, n, bucket);
    buf_puts(&b, "</section><div class=\"grid2\"><section class=\"card\"><h2>Outcomes</h2>");
    html_breakdown(&b, &s);
    buf_puts(&b, "</section><section class=\"card\"><h2>Top recipient domains</h2>");
    html_domains(&b, &doms, c.keep.data);
    buf_puts(&b,
             "</section></div><section class=\"card\"><h2>Top bounce and deferral reasons</h2>");
    html_reasons(&b, &reasons, c.keep.data);
    buf_puts(&b, "</section><section class=\"card\"><h2>Mailbox providers</h2>");
    html_providers(&b, &provs, c.keep.data);
    buf_puts(&b, "</section>");
    if (snd.n > 0)
        html_complaints(&b, &snd, complaints, c.keep.data);
    html_wire(&b, &wtot, &wire);
    page_end(&b);
    x_free(pts);
    x_free(complaints);
    web_rows_free(&snd);
    web_rows_free(&provs);
    web_rows_free(&doms);
    web_rows_free(&reasons);
    web_rows_free(&wire);
    buf_free(&c.keep);
    return page_send(r, MHD_HTTP_OK, &b);
}

/* html_event_row - one attempt or event in a table (bounces list, message trail) */
static void html_event_row(struct buf *b, const struct event *ev, int trail)
{
    const char *st = ev->type == EV_DELIVERY && ev->status != ST_NONE
                         ? event_status_name(ev->status)
                     : ev->type == EV_REJECT ? "reject"
                                             : event_type_name(ev->type);

    buf_printf(b, "<tr class=\"ev\" data-type=\"%s\" data-status=\"%s\"><td class=\"mono t\">",
               event_type_name(ev->type), st);
    html_time(b, ev->time_us, 0);
    buf_printf(b, "</td><td><span class=\"badge %s\">%s</span></td><td class=\"addr\">", st,
               ev->type == EV_MESSAGE         ? "queued"
               : ev->type == EV_BOUNCE_NOTICE ? "bounce notice"
                                              : st);
    if (ev->type == EV_MESSAGE) {
        buf_puts(b, "from ");
        web_html_esc(b, ev->sender);
    } else if (ev->type == EV_BOUNCE_NOTICE) {
        buf_puts(b, "bounce notice <a class=\"mono\" href=\"/message?queue_id=");
        web_url_esc(b, ev->notice_queue_id);
        buf_puts(b, "\">");
        web_html_esc(b, ev->notice_queue_id);
        buf_puts(b, "</a>");
    } else if (ev->recipient[0]) {
        web_html_esc(b, ev->recipient);
    } else {
        buf_puts(b, "—");
    }
    buf_puts(b, "</td>");
    if (!trail) {
        buf_puts(b, "<td class=\"addr\">");
        web_html_esc(b, ev->sender);
        buf_puts(b, "</td>");
    }
    buf_puts(b, "<td><code>");
    web_html_esc(b, ev->dsn);
    buf_puts(b, "</code></td><td>");
    web_html_esc(b, ev->reason);
    buf_puts(b, "</td><td class=\"reply\">");
    if (ev->type == EV_MESSAGE) {
        web_html_esc(b, ev->client);
    } else {
        if (ev->relay[0] && strcmp(ev->relay, "none") != 0) {
            buf_puts(b, "<span class=\"mono\">");
            web_html_esc(b, ev->relay);
            buf_puts(b, "</span><br>");
        }
        buf_puts(b, "<span title=\"");
        web_html_esc(b, ev->reply);
        buf_puts(b, "\">");
        html_cut(b, ev->reply, trail ? 400 : 160);
        buf_puts(b, "</span>");
    }
    buf_puts(b, "</td>");
    if (!trail) {
        buf_puts(b, "<td>");
        if (ev->queue_id[0]) {
            buf_puts(b, "<a class=\"mono\" href=\"/message?queue_id=");
            web_url_esc(b, ev->queue_id);
            buf_puts(b, "\">");
            web_html_esc(b, ev->queue_id);
            buf_puts(b, "</a>");
        }
        buf_puts(b, "</td>");
    }
    buf_puts(b, "</tr>");
}

/* The table being written by an event callback. */
struct html_list {
    struct buf *b;
    size_t n;
    int trail;
    struct event first_msg; /* trail: the message event, when one came */
    int have_msg;
};

/* html_list_event - db_bounces()/db_message_trail() callback */
static int html_list_event(void *arg, const struct event *ev)
{
    struct html_list *l = arg;

    if (l->trail && ev->type == EV_MESSAGE && !l->have_msg) {
        l->first_msg = *ev;
        l->have_msg = 1;
    }
    html_event_row(l->b, ev, l->trail);
    l->n++;
    return 0;
}

/*
 * html_filter_query - the current filters as a query string, HTML-escaped for an href;
 * after_other says a parameter precedes them (so the first one gets a separator too).
 */
static void html_filter_query(struct buf *b, const struct page_ctx *c, int after_other)
{
    static const char *const names[] = {"from",          "to",        "host",   "domain",
                                        "reason",        "dsn",       "status", "provider",
                                        "sender_domain", "sasl_user", "client"};
    size_t i;
    int n = after_other;

    for (i = 0; i < ARRAY_LEN(names); i++) {
        const char *v = page_param(c, names[i]);

        if (!v[0])
            continue;
        buf_printf(b, "%s%s=", n++ ? "&amp;" : "", names[i]);
        web_url_esc(b, v);
    }
}

/* What a DSN's link says, for people. */
static const char *html_link_text(const char *link)
{
    if (strcmp(link, "async") == 0)
        return "accepted, bounced later";
    if (strcmp(link, "unseen") == 0)
        return "no delivery in the log";
    if (strcmp(link, "logged") == 0)
        return "the log's own failure";
    return "not a failure";
}

/* The DSN rows of a page, and how many. */
struct html_dsns {
    struct buf *b;
    size_t n;
};

/* html_dsn_row - db_dsns() callback: one table row */
static int html_dsn_row(void *arg, const struct db_dsn_row *d)
{
    struct html_dsns *h = arg;
    struct buf *b = h->b;

    buf_puts(b, "<tr class=\"dsn\" data-link=\"");
    web_html_esc(b, d->link);
    buf_puts(b, "\"><td class=\"mono t\">");
    html_time(b, d->time_us, 0);
    buf_puts(b, "</td><td><span class=\"badge ");
    buf_puts(b, strcmp(d->action, "failed") == 0 ? "bounced" : "deferred");
    buf_puts(b, "\">");
    web_html_esc(b, d->action);
    buf_puts(b, "</span></td><td class=\"addr\">");
    web_html_esc(b, d->recipient);
    buf_puts(b, "</td><td><code>");
    web_html_esc(b, d->dsn);
    buf_puts(b, "</code></td><td>");
    web_html_esc(b, d->reason);
    buf_puts(b, "</td><td>");
    web_html_esc(b, html_link_text(d->link));
    buf_puts(b, "</td><td class=\"reply\">");
    if (d->remote_mta[0]) {
        buf_puts(b, "<span class=\"mono\">");
        web_html_esc(b, d->remote_mta);
        buf_puts(b, "</span><br>");
    }
    buf_puts(b, "<span title=\"");
    web_html_esc(b, d->diagnostic);
    buf_puts(b, "\">");
    html_cut(b, d->diagnostic, 160);
    buf_puts(b, "</span></td><td>");
    if (d->queue_id[0]) {
        buf_puts(b, "<a class=\"mono\" href=\"/message?queue_id=");
        web_url_esc(b, d->queue_id);
        buf_puts(b, "\">");
        web_html_esc(b, d->queue_id);
        buf_puts(b, "</a>");
    } else if (d->message_id[0]) {
        buf_puts(b, "<a class=\"mono\" href=\"/message?message_id=");
        web_url_esc(b, d->message_id);
        buf_puts(b, "\">Message-ID</a>");
    }
    buf_puts(b, "</td></tr>");
    h->n++;
    return 0;
}

/* html_dsn_table - a section of DSN rows (the caller ran the query into rows) */
static void html_dsn_table(struct buf *b, const char *id, const char *title, const struct buf *rows,
                           size_t n, const char *empty)
{
    buf_printf(b, "<section class=\"card\"><h2>%s</h2>", title);
    if (n == 0) {
        buf_printf(b, "<p class=\"empty\" id=\"%s-none\">%s</p></section>", id, empty);
        return;
    }
    buf_printf(b,
               "<div class=\"scroll\"><table id=\"%s\" data-rows=\"%zu\"><thead><tr><th>Time</th>"
               "<th>Action</th><th>Recipient</th><th>DSN</th><th>Reason</th><th>In the log</th>"
               "<th>Remote MTA / diagnostic</th><th>Message</th></tr></thead><tbody>",
               id, n);
    buf_append(b, rows->data, rows->len);
    buf_puts(b, "</tbody></table></div></section>");
}

/* web_check_bounces_page - status= and cursor= of /bounces */
int web_check_bounces_page(struct web_req *r, char *err, size_t errlen)
{
    return web_cursor_read(r, "bad cursor", err, errlen);
}

/* web_page_bounces - GET /bounces: the delivery-error report */
enum MHD_Result web_page_bounces(struct web_req *r)
{
    static const char *const statuses[] = {"deferred", "bounced", "expired"};
    struct page_ctx c = {.p = &r->p};
    struct html_list l;
    struct buf b, rows;
    const char *v;
    size_t i;
    char err[192], next[DB_CURSOR_LEN];

    buf_init(&rows);
    memset(&l, 0, sizeof(l));
    l.b = &rows;
    err[0] = 0;
    next[0] = 0;
    if (db_bounces(r->db, &r->q, r->limit, r->cursor, next, html_list_event, &l, err,
                   sizeof(err)) != 0) {
        buf_free(&rows);
        if (strstr(err, "cursor") != NULL)
            return web_page_error(r->conn, MHD_HTTP_BAD_REQUEST, "bad cursor");
        web_db_failed(r->w);
        return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    page_keep(&c);
    buf_init(&b);
    page_begin(&b, "Delivery errors", "/bounces", c.keep.data);
    buf_puts(&b, "<h1>Delivery errors</h1>");
    html_range_line(&b, &r->q);
    buf_puts(&b, "<form class=\"card bar\" method=\"get\" action=\"/bounces\" id=\"filter-form\">");
    html_input(&b, &c, "from", "From", "-24h", "text");
    html_input(&b, &c, "to", "To", "now", "text");
    html_input(&b, &c, "domain", "Recipient domain", "gmail.com", "text");
    html_provider_select(&b, &c);
    buf_puts(&b, "<label>Reason<select name=\"reason\"><option value=\"\">any</option>");
    v = page_param(&c, "reason");
    for (i = REASON_NONE + 1; i < EVENT_REASON_COUNT; i++) {
        const char *name = event_reason_name((enum event_reason)i);

        buf_printf(&b, "<option%s>%s</option>", strcmp(v, name) == 0 ? " selected" : "", name);
    }
    buf_puts(&b, "</select></label>");
    html_input(&b, &c, "dsn", "DSN", "5.1.1", "text");
    html_input(&b, &c, "sender_domain", "Sender domain", "example.com", "text");
    html_input(&b, &c, "sasl_user", "SASL user", "any", "text");
    html_input(&b, &c, "client", "Client IP", "192.0.2.1", "text");
    buf_puts(&b, "<label>Status<select name=\"status\"><option value=\"\">all failures</option>");
    v = page_param(&c, "status");
    for (i = 0; i < ARRAY_LEN(statuses); i++)
        buf_printf(&b, "<option%s>%s</option>", strcmp(v, statuses[i]) == 0 ? " selected" : "",
                   statuses[i]);
    buf_puts(&b, "</select></label><button type=\"submit\">Filter</button>"
                 "<a class=\"btn ghost\" href=\"/bounces\">Reset</a></form>");

    buf_puts(&b, "<section class=\"card\"><div class=\"pager\"><h2>Failed attempts, newest first"
                 "</h2><span class=\"links\"><a id=\"csv-link\" href=\"/api/v1/export?what=bounces"
                 "&amp;format=csv");
    html_filter_query(&b, &c, 1);
    buf_puts(&b, "\">Download CSV</a><a href=\"/api/v1/bounces?");
    html_filter_query(&b, &c, 0);
    buf_puts(&b, "\">JSON</a></span></div>");
    if (l.n == 0) {
        buf_puts(&b, "<p class=\"empty\" id=\"no-rows\">No failed deliveries match.</p>");
    } else {
        buf_printf(
            &b,
            "<div class=\"scroll\"><table id=\"bounces\" data-rows=\"%zu\"><thead><tr><th>Time</th>"
            "<th>Status</th><th>Recipient</th><th>Sender</th><th>DSN</th><th>Reason"
            "</th><th>Relay / reply</th><th>Queue id</th></tr></thead><tbody>",
            l.n);
        buf_append(&b, rows.data, rows.len);
        buf_puts(&b, "</tbody></table></div>");
    }
    buf_printf(&b, "<div class=\"pager\"><span class=\"sub\">%zu shown</span>", l.n);
    if (next[0]) {
        buf_puts(&b, "<a class=\"btn ghost\" id=\"next-page\" href=\"/bounces?cursor=");
        web_url_esc(&b, next);
        html_filter_query(&b, &c, 1);
        if (web_param(&r->p, "limit", NULL) != NULL)
            buf_printf(&b, "&amp;limit=%d", r->limit);
        buf_puts(&b, "\">Older →</a>");
    }
    buf_puts(&b, "</div></section>");
    {
        struct db_dsn_filter f = {.range = r->q.range,
                                  .domain = page_param(&c, "domain"),
                                  .reason = page_param(&c, "reason"),
                                  .async_only = 1};
        struct buf drows;
        struct html_dsns h = {&drows, 0};

        buf_init(&drows);
        /* Asynchronous bounces have no provider, DSN filter or deferral: shown without. */
        if (db_dsns(r->db, &f, r->limit, html_dsn_row, &h) != 0) {
            buf_free(&drows);
            buf_free(&rows);
            buf_free(&b);
            web_db_failed(r->w);
            return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
        }
        html_dsn_table(&b, "async-bounces",
                       "Bounced later, by mail (accepted by the next hop, or not in the log)",
                       &drows, h.n, "No bounce message reports a failure the log did not show.");
        buf_free(&drows);
    }
    page_end(&b);
    buf_free(&rows);
    buf_free(&c.keep);
    return page_send(r, MHD_HTTP_OK, &b);
}

/* html_fact - one dt/dd pair, skipped when empty */
static void html_fact(struct buf *b, const char *label, const char *value)
{
    if (!value[0])
        return;
    buf_printf(b, "<dt>%s</dt><dd>", label);
    web_html_esc(b, value);
    buf_puts(b, "</dd>");
}

/* html_trail_dsns - the message's bounce reports that came by mail, after its trail */
static void html_trail_dsns(struct buf *b, struct web_req *r, const struct page_ctx *c,
                            const struct html_list *l)
{
    struct db_dsn_filter f = {.range = {.from_us = 0, .to_us = INT64_MAX}};
    struct buf drows;
    struct html_dsns h = {&drows, 0};
    struct db *db = web_db(r->w);

    f.message_id = l->have_msg && l->first_msg.message_id[0] ? l->first_msg.message_id
                                                             : page_param(c, "message_id");
    if (!f.message_id[0])
        f.recipient = page_param(c, "recipient");
    if (!f.message_id[0] && !f.recipient[0])
        return; /* a queue id alone names no message-id to look for */
    buf_init(&drows);
    if (db != NULL && db_dsns(db, &f, 200, html_dsn_row, &h) == 0)
        html_dsn_table(b, "trail-dsns", "Bounce messages about it", &drows, h.n,
                       "No bounce message about it was stored.");
    buf_free(&drows);
}

/* web_page_message - GET /message?queue_id=|message_id=|recipient= */
enum MHD_Result web_page_message(struct web_req *r)
{
    struct page_ctx c = {.p = &r->p};
    struct html_list *l;
    struct db_query q;
    struct db *db;
    struct buf b, rows;
    char err[192];
    int asked;

    /* Without a key the page is the empty form; with one it needs the database. */
    asked = page_param(&c, "queue_id")[0] || page_param(&c, "message_id")[0] ||
            page_param(&c, "recipient")[0];
    if (asked && web_trail_read(&r->p, &q, err, sizeof(err)) != 0)
        return web_page_error(r->conn, MHD_HTTP_BAD_REQUEST, err);
    l = xcalloc(1, sizeof(*l));
    buf_init(&rows);
    l->b = &rows;
    l->trail = 1;
    if (asked) {
        db = web_db(r->w);
        if (db == NULL || db_message_trail(db, &q, 500, html_list_event, l) != 0) {
            web_db_failed(r->w);
            x_free(l);
            buf_free(&rows);
            return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
        }
    }
    buf_init(&b);
    page_begin(&b, "Message trail", "/message", "");
    buf_puts(&b, "<h1>Message trail</h1><p class=\"sub\">Every stored event of one message: "
                 "queued, each delivery attempt, rejects and bounce notices, and the bounce "
                 "messages that came back about it. Give one key.</p>");
    buf_puts(&b, "<form class=\"card bar\" method=\"get\" action=\"/message\" id=\"trail-form\">");
    html_input(&b, &c, "queue_id", "Queue id", "4ZxY2l3Xr9z1", "text");
    html_input(&b, &c, "message_id", "Message-ID", "<id@example.org>", "text");
    html_input(&b, &c, "recipient", "Recipient", "bob@example.com", "text");
    buf_puts(&b, "<button type=\"submit\">Find</button></form>");
    if (asked) {
        buf_puts(&b, "<section class=\"card\">");
        if (l->have_msg) {
            char size[32] = "";

            if (l->first_msg.size >= 0)
                snprintf(size, sizeof(size), "%lld bytes", (long long)l->first_msg.size);
            buf_puts(&b, "<h2>Message</h2><dl class=\"facts\" id=\"message-facts\">");
            html_fact(&b, "Queue id", l->first_msg.queue_id);
            html_fact(&b, "Message-ID", l->first_msg.message_id);
            html_fact(&b, "Sender", l->first_msg.sender);
            html_fact(&b, "Size", size);
            html_fact(&b, "Client", l->first_msg.client);
            html_fact(&b, "Host", l->first_msg.host);
            buf_puts(&b, "</dl></section><section class=\"card\">");
        }
        if (l->n == 0) {
            buf_puts(&b, "<p class=\"empty\" id=\"no-rows\">No stored event matches.</p>");
        } else {
            buf_printf(&b,
                       "<h2>Events, oldest first</h2><div class=\"scroll\"><table id=\"trail\" "
                       "data-rows=\"%zu\">"
                       "<thead><tr><th>Time</th><th>Event</th><th>Recipient / detail</th>"
                       "<th>DSN</th><th>Reason</th><th>Relay / reply</th></tr></thead><tbody>",
                       l->n);
            buf_append(&b, rows.data, rows.len);
            buf_puts(&b, "</tbody></table></div>");
        }
        buf_puts(&b, "</section>");
        html_trail_dsns(&b, r, &c, l);
    }
    page_end(&b);
    x_free(l);
    buf_free(&rows);
    return page_send(r, MHD_HTTP_OK, &b);
}

/* web_page_style - GET /static/style.css */
enum MHD_Result web_page_style(struct web_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(sizeof(style_css) - 1, (void *)style_css,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=3600");
    web_add_headers(resp);
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* web_page_blocks - GET /blocks: the blocklists and provider blocks replies named */
enum MHD_Result web_page_blocks(struct web_req *r)
{
    struct page_ctx c = {.p = &r->p};
    struct web_rows rows;
    struct buf b;
    size_t i;
    int k;

    web_rows_init(&rows, sizeof(struct db_block_row));
    if (db_blocks(r->db, &r->q.range, r->limit, web_rows_block, &rows) != 0) {
        web_db_failed(r->w);
        web_rows_free(&rows);
        return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    page_keep(&c);
    buf_init(&b);
    page_begin(&b, "Blocks", "/blocks", c.keep.data);
    buf_puts(&b, "<h1>Blocklists and provider blocks</h1>");
    html_range_line(&b, &r->q);
    html_range_form(&b, &c, "/blocks");
    buf_puts(&b, "<section class=\"card\"><h2>Replies that named a block, per sending host and "
                 "provider</h2>");
    if (rows.n == 0) {
        buf_puts(&b, "<p class=\"empty\" id=\"no-rows\">No reply in this range named a "
                     "blocklist or a provider's block.</p>");
    } else {
        buf_printf(&b,
                   "<div class=\"scroll\"><table id=\"blocks\" data-rows=\"%zu\"><thead><tr>"
                   "<th>Host</th><th>Block</th><th>Kind</th><th>Provider</th><th>First seen</th>"
                   "<th>Last seen</th><th class=\"n\">Count</th><th>Example replies</th></tr>"
                   "</thead><tbody>",
                   rows.n);
        for (i = 0; i < rows.n; i++) {
            const struct db_block_row *x = (const void *)(rows.data + i * rows.size);
            const struct block *rule = block_named(x->block);

            buf_puts(&b, "<tr data-block=\"");
            web_html_esc(&b, x->block);
            buf_printf(&b, "\" data-count=\"%lld\"><td>", (long long)x->n);
            web_html_esc(&b, x->host);
            buf_puts(&b, "</td><td>");
            web_html_esc(&b, x->block);
            if (rule != NULL) {
                buf_puts(&b, "<br><span class=\"sub\">");
                web_html_esc(&b, rule->operator);
                buf_puts(&b, "</span>");
            }
            buf_printf(&b, "</td><td>%s</td><td><a href=\"/bounces?provider=",
                       rule != NULL ? block_kind_name(rule->kind) : "");
            web_url_esc(&b, x->provider);
            if (c.keep.data[0]) {
                buf_puts(&b, "&amp;");
                web_html_esc(&b, c.keep.data);
            }
            buf_puts(&b, "\">");
            web_html_esc(&b, x->provider);
            buf_puts(&b, "</a></td><td class=\"mono t\">");
            html_time(&b, x->first_us, 0);
            buf_puts(&b, "</td><td class=\"mono t\">");
            html_time(&b, x->last_us, 0);
            buf_puts(&b, "</td><td class=\"n\">");
            html_int(&b, x->n);
            buf_puts(&b, "</td><td class=\"reply\">");
            for (k = 0; k < x->nexamples; k++) {
                buf_puts(&b, "<div class=\"ex\">");
                html_cut(&b, x->examples[k], 200);
                buf_puts(&b, "</div>");
            }
            buf_puts(&b, "</td></tr>");
        }
        buf_puts(&b, "</tbody></table></div>");
    }
    buf_puts(&b, "<p class=\"sub\"><a id=\"json-link\" href=\"/api/v1/blocks?");
    web_html_esc(&b, c.keep.data);
    buf_puts(&b, "\">JSON</a> · <a id=\"csv-link\" href=\"/api/v1/blocks?format=csv");
    if (c.keep.data[0]) {
        buf_puts(&b, "&amp;");
        web_html_esc(&b, c.keep.data);
    }
    buf_puts(&b, "\">CSV</a></p></section>");
    page_end(&b);
    web_rows_free(&rows);
    buf_free(&c.keep);
    return page_send(r, MHD_HTTP_OK, &b);
}

/* The axes of /senders: the tab label, the column title and the /bounces filter of a row. */
static const struct {
    const char *label, *column, *filter, *none, *noun;
} sender_tabs[] = {
    [DB_AXIS_SENDER_DOMAIN] = {"Sender domain", "Sender domain", "sender_domain", "(null sender)",
                               "sender domain"},
    [DB_AXIS_SASL_USER] = {"SASL user", "SASL user", "sasl_user", "(no login)", "SASL user"},
    [DB_AXIS_CLIENT_IP] = {"Client IP", "Client IP", "client", "(not logged)", "client IP"},
    [DB_AXIS_HOST] = {"Sending host", "Host", "host", "(no host)", "sending host"},
};

/* html_sender_link - /senders with the page's range, an axis and an order */
static void html_sender_link(struct buf *b, const char *keep, enum db_sender_axis axis,
                             enum db_domain_order order)
{
    static const char *const orders[] = {"volume", "bounce_rate", "deferral_rate"};

    buf_printf(b, "/senders?by=%s", db_sender_axis_name(axis));
    if (order != DB_ORDER_VOLUME)
        buf_printf(b, "&amp;order=%s", orders[order]);
    if (keep[0]) {
        buf_puts(b, "&amp;");
        web_html_esc(b, keep);
    }
}

/* html_sender_row - one key: its failures linked, the counts, the rates, the top reasons */
static void html_sender_row(struct buf *b, enum db_sender_axis axis, const struct db_sender_row *s,
                            const char *keep)
{
    int64_t att = s->sent + s->deferred + s->bounced + s->expired;
    int k;

    buf_puts(b, "<tr data-key=\"");
    web_html_esc(b, s->key);
    buf_printf(b, "\" data-attempts=\"%lld\" data-bounced=\"%lld\"><td class=\"addr\">",
               (long long)att, (long long)s->bounced);
    if (s->key[0]) {
        buf_printf(b, "<a href=\"/bounces?%s=", sender_tabs[axis].filter);
        web_url_esc(b, s->key);
        if (keep[0]) {
            buf_puts(b, "&amp;");
            web_html_esc(b, keep);
        }
        buf_puts(b, "\">");
        web_html_esc(b, s->key);
        buf_puts(b, "</a>");
    } else {
        buf_printf(b, "<span class=\"sub\">%s</span>", sender_tabs[axis].none);
    }
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, att);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, s->sent);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, s->deferred);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, s->bounced);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, s->expired);
    buf_puts(b, "</td><td class=\"n\">");
    html_int(b, s->rejected);
    buf_puts(b, "</td><td class=\"n\">");
    html_pct(b, html_rate(s->bounced, att));
    html_meter(b, html_rate(s->bounced, att), 0);
    buf_puts(b, "</td><td class=\"n\">");
    html_pct(b, html_rate(s->deferred, att));
    html_meter(b, html_rate(s->deferred, att), 1);
    buf_puts(b, "</td><td>");
    for (k = 0; k < s->nreasons; k++) {
        buf_printf(b, "%s<span class=\"reason\">%s</span> ", k ? "<br>" : "", s->reasons[k].reason);
        html_int(b, s->reasons[k].n);
    }
    buf_puts(b, "</td></tr>");
}

/* web_page_senders - GET /senders: per sender domain, SASL user, client IP or host */
enum MHD_Result web_page_senders(struct web_req *r)
{
    static const char *const order_labels[] = {"Most attempts", "Bounce rate", "Deferral rate"};
    struct page_ctx c = {.p = &r->p};
    struct web_rows rows;
    struct buf b;
    size_t i;

    web_rows_init(&rows, sizeof(struct db_sender_row));
    if (db_senders(r->db, &r->q.range, r->axis, r->order, r->limit, web_rows_sender, &rows) != 0) {
        web_db_failed(r->w);
        web_rows_free(&rows);
        return web_page_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    page_keep(&c);
    buf_init(&b);
    page_begin(&b, "Senders", "/senders", c.keep.data);
    buf_puts(&b, "<h1>Who is sending what</h1>");
    html_range_line(&b, &r->q);
    html_range_form(&b, &c, "/senders");
    buf_puts(&b, "<div class=\"card tabs\" id=\"axes\">");
    for (i = 0; i < ARRAY_LEN(sender_tabs); i++) {
        buf_puts(&b, "<a href=\"");
        html_sender_link(&b, c.keep.data, (enum db_sender_axis)i, r->order);
        buf_printf(&b, "\"%s>%s</a>", (enum db_sender_axis)i == r->axis ? " class=\"on\"" : "",
                   sender_tabs[i].label);
    }
    buf_puts(&b, "<span class=\"sep\">Order</span>");
    for (i = 0; i < ARRAY_LEN(order_labels); i++) {
        buf_puts(&b, "<a href=\"");
        html_sender_link(&b, c.keep.data, r->axis, (enum db_domain_order)i);
        buf_printf(&b, "\"%s>%s</a>", (enum db_domain_order)i == r->order ? " class=\"on\"" : "",
                   order_labels[i]);
    }
    buf_puts(&b, "</div><section class=\"card\">");
    buf_printf(&b, "<h2>Attempts and rejects per %s</h2>", sender_tabs[r->axis].noun);
    if (rows.n == 0) {
        buf_puts(&b, "<p class=\"empty\" id=\"no-rows\">No delivery attempts or rejects in this "
                     "range.</p>");
    } else {
        buf_printf(&b,
                   "<div class=\"scroll\"><table id=\"senders\" data-by=\"%s\" data-rows=\"%zu\">"
                   "<thead><tr><th>%s</th><th class=\"n\">Attempts</th><th class=\"n\">Sent</th>"
                   "<th class=\"n\">Deferred</th><th class=\"n\">Bounced</th>"
                   "<th class=\"n\">Expired</th><th class=\"n\">Rejects</th>"
                   "<th class=\"n\">Bounce rate</th><th class=\"n\">Deferral rate</th>"
                   "<th>Top reasons</th></tr></thead><tbody>",
                   db_sender_axis_name(r->axis), rows.n, sender_tabs[r->axis].column);
        for (i = 0; i < rows.n; i++)
            html_sender_row(&b, r->axis, (const void *)(rows.data + i * rows.size), c.keep.data);
        buf_puts(&b, "</tbody></table></div>");
    }
    buf_printf(&b, "<p class=\"sub\"><a id=\"json-link\" href=\"/api/v1/senders?by=%s",
               db_sender_axis_name(r->axis));
    if (c.keep.data[0]) {
        buf_puts(&b, "&amp;");
        web_html_esc(&b, c.keep.data);
    }
    buf_printf(&b, "\">JSON</a> · <a id=\"csv-link\" href=\"/api/v1/senders?format=csv&amp;by=%s",
               db_sender_axis_name(r->axis));
    if (c.keep.data[0]) {
        buf_puts(&b, "&amp;");
        web_html_esc(&b, c.keep.data);
    }
    buf_puts(&b, "\">CSV</a>");
    if (r->axis == DB_AXIS_HOST)
        buf_puts(&b, " · the host is the MTA's name in the log; the sending IP of an attempt is "
                     "not in Postfix's delivery lines");
    buf_puts(&b, "</p></section>");
    page_end(&b);
    web_rows_free(&rows);
    buf_free(&c.keep);
    return page_send(r, MHD_HTTP_OK, &b);
}
