/*
 * Text for chat messages and e-mail: escaping for each target markup and
 * truncation that never splits a character, an entity or an escape.
 *
 * Limits are counted in UTF-16 code units after escaping. That is what the
 * JavaScript-based platforms count, and it is never less than the number of
 * code points, so a text that passes here passes a code-point limit too.
 */
#include "sink.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* Decode one UTF-8 character; invalid or truncated input yields U+FFFD for
 * one byte so the caller always makes progress. */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len = es_utf8_decode(p, n, cp);
    if (len == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return len;
}

/* One source character as the target markup wants it. */
typedef struct unit {
    char bytes[16];
    size_t len;
    size_t chars; /* UTF-16 units */
} unit;

static void make_unit(uint32_t cp, es_escape esc, unsigned flags, unit *u)
{
    const char *rep = NULL;
    u->len = 0;
    u->chars = 0;
    if (cp == '\n') {
        rep = (flags & ES_TEXT_ONELINE) ? " " : "\n";
    } else if (cp == '\t') {
        rep = " ";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
               (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
        /* Controls, and the bidi overrides that can make a quoted text
         * display as something else, are dropped. */
        return;
    } else if (esc == ES_ESC_SLACK || esc == ES_ESC_HTML) {
        switch (cp) {
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
            rep = esc == ES_ESC_HTML ? "&quot;" : NULL;
            break;
        case '\'':
            rep = esc == ES_ESC_HTML ? "&#39;" : NULL;
            break;
        default:
            break;
        }
    } else if (esc == ES_ESC_DISCORD || esc == ES_ESC_MARKDOWN) {
        if (cp == '@') {
            /* A zero-width space after every @ defuses @everyone, @here,
             * @channel, @all and <@id> while reading the same. */
            rep = "@\xE2\x80\x8B";
        } else if (cp < 0x80 && strchr("\\*_~`|>#[]", (int)cp) != NULL) {
            u->bytes[0] = '\\';
            u->bytes[1] = (char)cp;
            u->len = 2;
            u->chars = 2;
            return;
        }
    }
    if (rep != NULL) {
        u->len = strlen(rep);
        memcpy(u->bytes, rep, u->len);
        u->chars = 0;
        for (size_t i = 0; i < u->len; i++) {
            /* Count code points; everything in the replacements is BMP. */
            u->chars += ((unsigned char)rep[i] & 0xC0) != 0x80;
        }
        return;
    }
    u->len = es_utf8_put(cp, u->bytes);
    u->chars = cp >= 0x10000 ? 2 : 1;
}

static int put_bytes(es_buf *out, const char *p, size_t n, unsigned flags)
{
    if (!(flags & ES_TEXT_JSON)) {
        return es_buf_add(out, p, n);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (p[i]) {
        case '"':
            rc = es_buf_add(out, "\\\"", 2);
            break;
        case '\\':
            rc = es_buf_add(out, "\\\\", 2);
            break;
        case '\n':
            rc = es_buf_add(out, "\\n", 2);
            break;
        default:
            /* Units never hold other control characters. */
            rc = es_buf_addc(out, p[i]);
        }
    }
    return rc;
}

void es__tb_init(es_tb *tb, es_buf *out, size_t max_chars, unsigned flags)
{
    tb->out = out;
    tb->start = max_chars;
    tb->left = max_chars;
    tb->flags = flags;
    tb->rc = 0;
    tb->cut = false;
}

size_t es__text_units(const char *s, size_t n)
{
    size_t units = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_next(p + i, n - i, &cp);
        units += cp >= 0x10000 ? 2 : 1;
    }
    return units;
}

#define ELLIPSIS "\xE2\x80\xA6"

size_t es__tb_text(es_tb *tb, const char *s, size_t n, es_escape esc, size_t cap)
{
    if (tb->rc != 0 || s == NULL) {
        return 0;
    }
    size_t limit = cap < tb->left ? cap : tb->left;
    const unsigned char *p = (const unsigned char *)s;
    unit u;
    uint32_t cp;

    /* First pass: does the whole text fit? Most do, and then the second
     * pass needs no room for an ellipsis. */
    size_t total = 0;
    for (size_t i = 0; i < n && total <= limit;) {
        i += utf8_next(p + i, n - i, &cp);
        make_unit(cp, esc, tb->flags, &u);
        total += u.chars;
    }
    size_t budget = limit;
    bool cut = total > limit;
    if (cut) {
        tb->cut = true;
        if (limit == 0) {
            return 0;
        }
        budget = limit - 1; /* the ellipsis */
    }
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        i += utf8_next(p + i, n - i, &cp);
        make_unit(cp, esc, tb->flags, &u);
        if (used + u.chars > budget) {
            break;
        }
        used += u.chars;
        int rc = put_bytes(tb->out, u.bytes, u.len, tb->flags);
        if (rc != 0) {
            tb->rc = rc;
            return used;
        }
    }
    if (cut) {
        int rc = es_buf_add(tb->out, ELLIPSIS, 3);
        if (rc != 0) {
            tb->rc = rc;
        }
        used++;
    }
    tb->left -= used;
    return used;
}

bool es__tb_lit(es_tb *tb, const char *s)
{
    if (tb->rc != 0) {
        return false;
    }
    size_t n = strlen(s);
    size_t units = es__text_units(s, n);
    if (units > tb->left) {
        tb->cut = true;
        return false;
    }
    int rc = put_bytes(tb->out, s, n, tb->flags);
    if (rc != 0) {
        tb->rc = rc;
        return false;
    }
    tb->left -= units;
    return true;
}

bool es__tb_printf(es_tb *tb, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        tb->rc = ES_EINVAL;
        return false;
    }
    return es__tb_lit(tb, tmp);
}

bool es__tb_url(es_tb *tb, es_str url, es_escape esc)
{
    char tmp[2048 * 5 + 1];
    size_t o = 0;
    if (url.len > 2048) {
        return false;
    }
    for (size_t i = 0; i < url.len; i++) {
        char c = url.ptr[i];
        if (c == '&' && (esc == ES_ESC_SLACK || esc == ES_ESC_HTML)) {
            memcpy(tmp + o, "&amp;", 5);
            o += 5;
        } else if ((c == '(' || c == ')') && (esc == ES_ESC_MARKDOWN || esc == ES_ESC_DISCORD)) {
            memcpy(tmp + o, c == '(' ? "%28" : "%29", 3);
            o += 3;
        } else {
            tmp[o++] = c;
        }
    }
    tmp[o] = '\0';
    return es__tb_lit(tb, tmp);
}

int es__json_text(es_buf *out, const char *s, size_t n, size_t max, es_escape esc, unsigned flags)
{
    es_tb tb;
    int rc = es_buf_addc(out, '"');
    if (rc != 0) {
        return rc;
    }
    es__tb_init(&tb, out, max, flags | ES_TEXT_JSON);
    es__tb_text(&tb, s, n, esc, SIZE_MAX);
    if (tb.rc != 0) {
        return tb.rc;
    }
    return es_buf_addc(out, '"');
}

/* ---- Alert details ------------------------------------------------------ */

static bool scalar_text(yajl_val v, char *out, size_t size)
{
    if (YAJL_IS_NUMBER(v)) {
        snprintf(out, size, "%s", YAJL_GET_NUMBER(v));
    } else if (YAJL_IS_STRING(v)) {
        snprintf(out, size, "%s", YAJL_GET_STRING(v));
    } else if (YAJL_IS_TRUE(v)) {
        snprintf(out, size, "true");
    } else if (YAJL_IS_FALSE(v)) {
        snprintf(out, size, "false");
    } else {
        return false;
    }
    return true;
}

size_t es__details(const char *details_json, es_detail *out, size_t max)
{
    if (details_json == NULL || max == 0) {
        return 0;
    }
    char errbuf[128];
    yajl_val tree = yajl_tree_parse(details_json, errbuf, sizeof errbuf);
    if (tree == NULL || !YAJL_IS_OBJECT(tree)) {
        yajl_tree_free(tree);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < tree->u.object.len && n < max; i++) {
        const char *k = tree->u.object.keys[i];
        yajl_val v = tree->u.object.values[i];
        if (scalar_text(v, out[n].value, sizeof out[n].value)) {
            snprintf(out[n].key, sizeof out[n].key, "%s", k);
            n++;
        } else if (YAJL_IS_OBJECT(v)) {
            for (size_t j = 0; j < v->u.object.len && n < max; j++) {
                if (scalar_text(v->u.object.values[j], out[n].value, sizeof out[n].value)) {
                    snprintf(out[n].key, sizeof out[n].key, "%.30s.%.30s", k, v->u.object.keys[j]);
                    n++;
                }
            }
        }
    }
    yajl_tree_free(tree);
    return n;
}

/* ---- Headlines ---------------------------------------------------------- */

const char *es__notification_label(const es_notification *n, const char *key)
{
    for (size_t i = 0; i < n->n_labels; i++) {
        if (strcmp(n->labels[i].key, key) == 0) {
            return n->labels[i].value;
        }
    }
    return NULL;
}

const char *const es__fact_names[ES_N_FACTS] = {"Topic", "Kind", "Severity"};

void es__notification_facts(const es_notification *n, const char *out[ES_N_FACTS])
{
    const es_alert *a0 = n->n_alerts > 0 ? &n->alerts[0] : NULL;
    out[0] = es__notification_label(n, "topic");
    out[1] = es__notification_label(n, "kind");
    out[2] = es__notification_label(n, "severity");
    if (a0 != NULL) {
        out[0] = out[0] != NULL ? out[0] : a0->topic;
        out[1] = out[1] != NULL ? out[1] : es_alert_kind_name(a0->kind);
        out[2] = out[2] != NULL ? out[2] : es_severity_name(a0->severity);
    }
}

int es__headline(const es_notification *n, es_buf *out)
{
    const char *prefix = "";
    if (n->action == ES_NOTIFY_ACKNOWLEDGE) {
        prefix = "Acknowledged: ";
    } else if (es_notification_resolved(n)) {
        prefix = "Resolved: ";
    }
    size_t count = es_notification_count(n);
    if (n->n_alerts == 1 && count <= 1 && n->alerts[0].summary != NULL &&
        n->alerts[0].summary[0] != '\0') {
        return es_buf_printf(out, "%s%s", prefix, n->alerts[0].summary);
    }
    const char *topic = es__notification_label(n, "topic");
    const char *kind = es__notification_label(n, "kind");
    if (topic == NULL && n->n_alerts > 0) {
        topic = n->alerts[0].topic;
    }
    if (kind == NULL && n->n_alerts > 0) {
        kind = es_alert_kind_name(n->alerts[0].kind);
    }
    return es_buf_printf(out, "%s%s%s%zu %s alert%s", prefix, topic != NULL ? topic : "",
                         topic != NULL ? ": " : "", count, kind != NULL ? kind : "",
                         count == 1 ? "" : "s");
}

bool es__is_http_url(es_str u)
{
    if (u.ptr == NULL || u.len > 2048 ||
        !((u.len > 7 && strncmp(u.ptr, "http://", 7) == 0) ||
          (u.len > 8 && strncmp(u.ptr, "https://", 8) == 0))) {
        return false;
    }
    for (size_t i = 0; i < u.len; i++) {
        unsigned char c = (unsigned char)u.ptr[i];
        if (c <= 0x20 || c == 0x7F || c == '"' || c == '<' || c == '>' || c == '|') {
            return false;
        }
    }
    return true;
}

/* ---- Base64 ------------------------------------------------------------- */

int es__base64(es_buf *out, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = es_buf_reserve(out, (n + 2) / 3 * 4);
    if (rc != 0) {
        return rc;
    }
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}
