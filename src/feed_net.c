/* Helpers shared by the HTTP feed types. See feed_net.h. */
#include "feed_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_ctl(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\r' || *s == '\n') {
            return true;
        }
    }
    return false;
}

int es__feed_headers_add(es_feed_headers *h, const char *line)
{
    if (h->n >= sizeof h->v / sizeof h->v[0]) {
        return ES_ETOOBIG;
    }
    if (has_ctl(line) || strlen(line) > ES_FEED_MAX_HEADER_LEN) {
        return ES_EINVAL;
    }
    char *c = strdup(line);
    if (c == NULL) {
        return ES_ENOMEM;
    }
    h->v[h->n++] = c;
    return 0;
}

void es__feed_headers_truncate(es_feed_headers *h, size_t keep)
{
    while (h->n > keep) {
        free(h->v[--h->n]);
        h->v[h->n] = NULL;
    }
}

void es__feed_headers_free(es_feed_headers *h)
{
    es__feed_headers_truncate(h, 0);
}

int es__feed_headers_init(es_feed *f, const es_config_item *item, es_feed_headers *h,
                          es_error *err)
{
    memset(h, 0, sizeof *h);
    const char *name = es_feed_name(f);
    char *tok = NULL;
    int rc = es_config_resolve_secret(item, "token", &tok, err);
    if (rc != 0 && rc != ES_ENOTFOUND) {
        return rc;
    }
    if (tok != NULL) {
        /* Secrets are a value on one line; a stray newline in a token file
         * beyond the trimmed one would split the header. */
        size_t tl = strlen(tok);
        char line[ES_FEED_MAX_HEADER_LEN + 1];
        bool ok = tl > 0 && tl + 22 <= ES_FEED_MAX_HEADER_LEN && !has_ctl(tok);
        if (ok) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
            rc = es__feed_headers_add(h, line);
        }
        memset(tok, 0, tl);
        free(tok);
        if (!ok) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "feed '%s': the token is empty, too long, or spans lines", name);
        }
        if (rc != 0) {
            return es_error_set(err, rc, 0, 0, "feed '%s': out of memory", name);
        }
    }
    const es_config_value *v = es_config_item_get(item, "headers");
    for (size_t i = 0; v != NULL && v->has && i < v->n_list; i++) {
        const char *hl = v->list[i];
        const char *colon = strchr(hl, ':');
        if (colon == NULL || colon == hl || has_ctl(hl) || memchr(hl, ' ', (size_t)(colon - hl))) {
            es__feed_headers_free(h);
            return es_error_set(err, ES_ECONFIG, v->line, v->col,
                                "feed '%s': header \"%.60s\" is not \"Name: value\"", name, hl);
        }
        if ((rc = es__feed_headers_add(h, hl)) != 0) {
            es__feed_headers_free(h);
            return es_error_set(err, rc == ES_ENOMEM ? ES_ENOMEM : ES_ECONFIG, v->line, v->col,
                                "feed '%s': too many or too long headers", name);
        }
    }
    return 0;
}

int es__feed_url_option(es_feed *f, const es_config_item *item, const char *key, bool required,
                        char **out, es_error *err)
{
    *out = NULL;
    const char *u = es_config_item_str(item, key);
    int line = 0, col = 0;
    const es_config_value *v = es_config_item_get(item, key);
    if (v != NULL) {
        line = v->line;
        col = v->col;
    }
    if (u == NULL || u[0] == '\0') {
        if (!required) {
            return 0;
        }
        return es_error_set(err, ES_ECONFIG, line, col, "feed '%s': '%s' is required",
                            es_feed_name(f), key);
    }
    if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) || has_ctl(u) ||
        strchr(u, ' ') != NULL) {
        return es_error_set(err, ES_ECONFIG, line, col,
                            "feed '%s': '%s' must be an http:// or https:// URL, not \"%.80s\"",
                            es_feed_name(f), key, u);
    }
    if ((*out = strdup(u)) == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    return 0;
}

bool es__feed_url_has_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t nl = strlen(name);
    if (q == NULL) {
        return false;
    }
    const char *end = strchr(q, '#');
    if (end == NULL) {
        end = q + strlen(q);
    }
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ne = eq != NULL ? eq : pe;
        if ((size_t)(ne - p) == nl && memcmp(p, name, nl) == 0) {
            return true;
        }
        p = pe + 1;
    }
    return false;
}

int es__feed_url_add(es_buf *b, const char *name, const char *value, size_t value_len)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = es_buf_addc(b, b->data != NULL && strchr(b->data, '?') != NULL ? '&' : '?');
    rc = rc ? rc : es_buf_adds(b, name);
    rc = rc ? rc : es_buf_addc(b, '=');
    for (size_t i = 0; rc == 0 && i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            rc = es_buf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = es_buf_add(b, e, 3);
        }
    }
    return rc;
}

/* Drop a Reddit-style kind prefix ("t3_") and leading zeros. */
static void id_core(const char **p, size_t *n)
{
    const char *s = *p;
    size_t k = *n;
    if (k > 3 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= '0' && s[1] <= '9' && s[2] == '_') {
        s += 3;
        k -= 3;
    }
    while (k > 1 && s[0] == '0') {
        s++;
        k--;
    }
    *p = s;
    *n = k;
}

int es__feed_id_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    id_core(&a, &an);
    id_core(&b, &bn);
    /* Longer is larger for numbers and base-36 words alike; equal lengths
     * compare byte by byte, case folded, which orders 0-9 before a-z as
     * base 36 does. */
    if (an != bn) {
        return an < bn ? -1 : 1;
    }
    for (size_t i = 0; i < an; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        x = x >= 'A' && x <= 'Z' ? x + 32 : x;
        y = y >= 'A' && y <= 'Z' ? y + 32 : y;
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

void es__feed_snippet(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
    size_t k = *len;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
    }
    out[k] = '\0';
    *len = k;
}

void es__feed_failure(const es_feed *f, es_http_req *req, const es_http_result *r,
                      const char *body, size_t body_len, es_feed_failure *out)
{
    long st = r->status;
    out->retry_after_ms = -1;
    if (st != 0 && (st < 200 || st > 299)) {
        out->kind = es_backoff_kind_for_status(st);
        out->retry_after_ms = es_http_retry_after(req, es_feed_now(f));
        char snip[120] = "";
        size_t sl = 0;
        if (body != NULL) {
            es__feed_snippet(snip, sizeof snip, &sl, body, body_len);
        }
        snprintf(out->why, sizeof out->why, "HTTP %ld%s%s", st, sl > 0 ? ": " : "", snip);
        return;
    }
    out->kind = ES_BACKOFF_NETWORK;
    if (r->code == 0) {
        snprintf(out->why, sizeof out->why, "the server ended the response");
    } else if (r->code == ES_ETIMEOUT) {
        snprintf(out->why, sizeof out->why, "timed out (%s)", r->error);
    } else {
        snprintf(out->why, sizeof out->why, "%s", r->error[0] != '\0' ? r->error : es_strerror(r->code));
    }
}
