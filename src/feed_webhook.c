/*
 * The `webhook` feed: an HTTP listener that accepts pushed mentions.
 *
 *   POST /hooks/earshot HTTP/1.1
 *   Content-Type: application/json
 *   X-Earshot-Signature: sha256=<hex HMAC-SHA256 of the body>
 *
 *   {"id": "1", "text": "@acme lost my bag"}          (or an array of them)
 *
 * is answered 202 {"accepted":1,"duplicates":0} only after every mention in
 * it went through the pipeline and its alerts were spooled
 * (es_feed_deliver_doc with ES_FEED_DOC_ALL_OR_NOTHING), so a sender that
 * sees a 2xx may forget the request, and one that does not will retry.
 * Anything else enqueues nothing:
 *
 *   400  malformed HTTP, an empty body, or any bad record (the JSON error
 *        body names the line and column)     401  missing or bad signature
 *   404  another path      405  another method      408  too slow
 *   413  body over max_body (refused as soon as Content-Length or the
 *        streamed body says so, without reading on)
 *   415  not JSON          431  headers too big or too many
 *   503  the engine asks feeds to pause (Retry-After: 1), or too many
 *        connections
 *
 * Signatures (when `secret` is set; a "whsec_<base64>" secret is decoded
 * first, as the Standard Webhooks libraries do):
 *   - `signature_header` (X-Earshot-Signature; GitHub's is
 *     X-Hub-Signature-256): the HMAC-SHA256 of the raw body, as 64 hex
 *     digits or "sha256=<hex>";
 *   - Standard Webhooks: webhook-id, webhook-timestamp (within 5 minutes of
 *     now) and webhook-signature "v1,<base64>" (several, space-separated,
 *     are allowed during key rotation) over "id.timestamp.body".
 * Comparisons are constant-time (CRYPTO_memcmp).
 *
 * Connections: keep-alive and pipelining (requests are answered in order,
 * one at a time), a deadline for the headers and for each body read
 * (slowloris), a keep-alive timeout between requests, a cap on connections
 * (the ones over it are told 503 and closed) and on the queued answers of
 * a client that does not read them. A connection that must close after an
 * error is shut down for writing and drained briefly before it is closed,
 * so the client reads the answer instead of a reset.
 *
 * Handles: the listener, a bind-retry timer and, per connection, its TCP
 * handle and timer. Each is freed in its close callback; the feed reports
 * es_feed_closed() when the last one has closed.
 */
#include "feed_webhook.h"

#include "feed.h"
#include "log.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* ======================================================================
 * The request parser (no sockets; see feed_webhook.h)
 * ====================================================================== */

/* A body buffer bigger than this is freed after its request, so a
 * connection that once sent a big body does not keep the memory. */
#define WH_BODY_KEEP (64 * 1024)

static void wh_set(es_wh_parser *p, int status, const char *code, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 0)))
#endif
    ;
static void wh_set(es_wh_parser *p, int status, const char *code, const char *fmt, va_list ap)
{
    p->status = status;
    p->error = code;
    vsnprintf(p->why, sizeof p->why, fmt, ap);
}

/* Refuse the request now: answer at once and close (the rest of the
 * stream cannot be trusted, or is not worth reading). Returns -1 so a
 * parser callback can return it. */
static int wh_fail(es_wh_parser *p, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int wh_fail(es_wh_parser *p, int status, const char *code, const char *fmt, ...)
{
    if (!p->fatal) {
        va_list ap;
        va_start(ap, fmt);
        wh_set(p, status, code, fmt, ap);
        va_end(ap);
        p->fatal = true;
        p->close = true;
    }
    return -1;
}

/* Refuse the request once it has been read (its body is dropped, not
 * kept), so the connection can serve the next one. The first reason wins. */
static void wh_refuse(es_wh_parser *p, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void wh_refuse(es_wh_parser *p, int status, const char *code, const char *fmt, ...)
{
    if (!p->refuse) {
        va_list ap;
        va_start(ap, fmt);
        wh_set(p, status, code, fmt, ap);
        va_end(ap);
        p->refuse = true;
    }
}

static size_t wh_max_head(const es_wh_parser *p)
{
    return p->conf->max_header_bytes != 0 ? p->conf->max_header_bytes : ES_WH_MAX_HEADER_BYTES;
}

static int wh_head_add(es_wh_parser *p, const char *at, size_t n)
{
    if (es_buf_add(&p->head, at, n) != 0) {
        return wh_fail(p, 431, "headers_too_large", "the request line and headers exceed %zu bytes",
                       wh_max_head(p));
    }
    return 0;
}

static es_wh_parser *wh_of(http_parser *hp)
{
    return hp->data;
}

static int on_message_begin(http_parser *hp)
{
    es_wh_parser *p = wh_of(hp);
    p->started = true;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    es_wh_parser *p = wh_of(hp);
    p->url_len += n;
    return wh_head_add(p, at, n);
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    es_wh_parser *p = wh_of(hp);
    size_t max = p->conf->max_headers != 0 ? p->conf->max_headers : ES_WH_MAX_HEADERS;
    if (max > ES_WH_MAX_HEADERS) {
        max = ES_WH_MAX_HEADERS;
    }
    /* A name can come in pieces (split across reads); a new one starts
     * after a value. */
    if (p->n_hdrs == 0 || p->in_value) {
        if (p->n_hdrs == max) {
            return wh_fail(p, 431, "too_many_headers", "more than %zu headers", max);
        }
        es_wh_hdr *h = &p->hdrs[p->n_hdrs++];
        h->name = (uint32_t)p->head.len;
        h->name_len = 0;
        h->value = 0;
        h->value_len = 0;
        p->in_value = false;
    }
    p->hdrs[p->n_hdrs - 1].name_len += (uint32_t)n;
    return wh_head_add(p, at, n);
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    es_wh_parser *p = wh_of(hp);
    if (p->n_hdrs == 0) {
        return 0; /* http-parser never does this; be safe anyway */
    }
    es_wh_hdr *h = &p->hdrs[p->n_hdrs - 1];
    if (!p->in_value) {
        h->value = (uint32_t)p->head.len;
        p->in_value = true;
    }
    h->value_len += (uint32_t)n;
    return wh_head_add(p, at, n);
}

/* The value of the first header called `name` (any case), trimmed, or NULL. */
static const char *wh_header(const es_wh_parser *p, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < p->n_hdrs; i++) {
        const es_wh_hdr *h = &p->hdrs[i];
        if (h->name_len == nl && strncasecmp(p->head.data + h->name, name, nl) == 0) {
            const char *v = p->head.data + h->value;
            size_t vl = h->value_len;
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
                vl--;
            }
            *len = vl;
            return v;
        }
    }
    *len = 0;
    return NULL;
}

static bool span_ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* application/json, application/<x>+json, application/x-ndjson, ...:
 * anything whose subtype is or ends in "json". */
static bool wh_is_json(const char *v, size_t n)
{
    size_t end = 0;
    while (end < n && v[end] != ';') {
        end++;
    }
    while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
        end--;
    }
    const char *slash = memchr(v, '/', end);
    if (slash == NULL) {
        return false;
    }
    size_t sub = end - (size_t)(slash + 1 - v);
    return sub >= 4 && strncasecmp(v + end - 4, "json", 4) == 0;
}

/* The request target's path: "/a/b" of "/a/b?x=1" or of "http://h/a/b". */
static void wh_path(const es_wh_parser *p, const char **path, size_t *len)
{
    const char *u = p->head.data;
    size_t n = p->url_len;
    if (n > 0 && u[0] == '/') {
        size_t i = 0;
        while (i < n && u[i] != '?' && u[i] != '#') {
            i++;
        }
        *path = u;
        *len = i;
        return;
    }
    struct http_parser_url pu;
    http_parser_url_init(&pu);
    if (n <= UINT16_MAX && http_parser_parse_url(u, n, 0, &pu) == 0 &&
        (pu.field_set & (1u << UF_PATH)) != 0) {
        *path = u + pu.field_data[UF_PATH].off;
        *len = pu.field_data[UF_PATH].len;
        return;
    }
    *path = "";
    *len = 0;
}

static int on_headers_complete(http_parser *hp)
{
    es_wh_parser *p = wh_of(hp);
    const es_wh_conf *c = p->conf;
    p->headers_done = true;
    p->keep_alive = http_should_keep_alive(hp) != 0;
    p->http10 = hp->http_major == 0 || (hp->http_major == 1 && hp->http_minor == 0);
    if (hp->upgrade) {
        return wh_fail(p, hp->method == HTTP_CONNECT ? 405 : 400, "upgrade_refused",
                       "protocol upgrades and CONNECT are not supported");
    }
    const char *path;
    size_t plen;
    wh_path(p, &path, &plen);
    if (plen != strlen(c->path) || memcmp(path, c->path, plen) != 0) {
        wh_refuse(p, 404, "not_found", "no such path; mentions are POSTed to %s", c->path);
    } else if (hp->method != HTTP_POST) {
        wh_refuse(p, 405, "method_not_allowed", "%s is not allowed; use POST",
                  http_method_str((enum http_method)hp->method));
    }
    /* Without Transfer-Encoding: chunked, a Content-Length over the limit
     * is refused before a byte of the body is read. (http-parser leaves
     * content_length at ULLONG_MAX when there is no such header.) */
    if ((hp->flags & F_CHUNKED) == 0 && hp->content_length != ULLONG_MAX &&
        hp->content_length > c->max_body) {
        return wh_fail(p, 413, "too_large", "the body (%" PRIu64 " bytes) exceeds max_body (%zu)",
                       (uint64_t)hp->content_length, c->max_body);
    }
    size_t len;
    const char *ct = wh_header(p, "content-type", &len);
    if (ct == NULL || !wh_is_json(ct, len)) {
        wh_refuse(p, 415, "unsupported_media_type", "Content-Type must be application/json");
    }
    if (c->key != NULL && wh_header(p, c->sig_header, &len) == NULL &&
        wh_header(p, "webhook-signature", &len) == NULL) {
        wh_refuse(p, 401, "missing_signature",
                  "the request is not signed (%s or webhook-signature)", c->sig_header);
    }
    const char *expect = wh_header(p, "expect", &len);
    if (expect != NULL && span_ieq(expect, len, "100-continue")) {
        if (p->refuse) {
            /* The client waits before sending the body: answer now and
             * close rather than wait for a body it will not send. */
            char why[sizeof p->why];
            memcpy(why, p->why, sizeof why);
            p->refuse = false;
            return wh_fail(p, p->status, p->error, "%s", why);
        }
        p->send_continue = true;
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    es_wh_parser *p = wh_of(hp);
    size_t max = p->conf->max_body;
    if (p->refuse) {
        /* Read and dropped, but still bounded: a refused request cannot
         * stream forever either. */
        p->discarded += n;
        if (p->discarded > max) {
            p->refuse = false;
            return wh_fail(p, 413, "too_large", "the body exceeds max_body (%zu bytes)", max);
        }
        return 0;
    }
    if (n > max - p->body.len) {
        return wh_fail(p, 413, "too_large", "the body exceeds max_body (%zu bytes)", max);
    }
    if (es_buf_add(&p->body, at, n) != 0) {
        return wh_fail(p, 503, "no_memory", "out of memory");
    }
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    es_wh_parser *p = wh_of(hp);
    p->complete = true;
    p->send_continue = false; /* the body is here already */
    p->keep_alive = http_should_keep_alive(hp) != 0;
    /* Stop here: the caller answers this request before the next one
     * (pipelining) is parsed. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings wh_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- Signatures ------------------------------------------------------- */

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    } else if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    } else if (c == '+' || c == '-') {
        return 62;
    } else if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

/* Base64 (standard or URL alphabet, padding optional) of s[0..n) into out
 * (at most cap bytes). Returns the length, or -1 for a bad character or
 * too much output. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap) {
                return -1;
            }
            out[len++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)len;
}

/* HMAC-SHA256 of the concatenated parts (no copy of the body). */
static int hmac_parts(const unsigned char *key, size_t key_len, const es_str *parts, size_t n,
                      unsigned char mac[32])
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    /* OpenSSL refuses a NULL key even when its length is 0. */
    static const unsigned char empty[1];
    int ok = ctx != NULL && EVP_MAC_init(ctx, key_len > 0 ? key : empty, key_len, params);
    for (size_t i = 0; ok && i < n; i++) {
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i].ptr, parts[i].len);
    }
    size_t len = 0;
    ok = ok && EVP_MAC_final(ctx, mac, &len, 32) && len == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return ok ? 0 : ES_EINVAL;
}

/* 0 when the request carries a valid signature; otherwise sets a 401. */
static int wh_verify(es_wh_parser *p)
{
    const es_wh_conf *c = p->conf;
    unsigned char mac[32], given[64];
    size_t len;
    const char *v = wh_header(p, c->sig_header, &len);
    if (v != NULL) {
        if (len > 7 && strncasecmp(v, "sha256=", 7) == 0) {
            v += 7;
            len -= 7;
        }
        if (len != 64) {
            wh_refuse(p, 401, "bad_signature", "%s must be 64 hex digits (or sha256=<hex>)",
                      c->sig_header);
            return -1;
        }
        for (size_t i = 0; i < 32; i++) {
            int hi = hex_val((unsigned char)v[2 * i]), lo = hex_val((unsigned char)v[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                wh_refuse(p, 401, "bad_signature", "%s is not hex", c->sig_header);
                return -1;
            }
            given[i] = (unsigned char)(hi << 4 | lo);
        }
        es_str body = {p->body.data != NULL ? p->body.data : "", p->body.len};
        if (hmac_parts(c->key, c->key_len, &body, 1, mac) != 0) {
            wh_refuse(p, 500, "internal", "cannot compute HMAC-SHA256");
            return -1;
        }
        if (CRYPTO_memcmp(mac, given, 32) != 0) {
            wh_refuse(p, 401, "bad_signature", "the signature does not match the body");
            return -1;
        }
        return 0;
    }

    /* Standard Webhooks. */
    size_t sl, il, tl;
    const char *sig = wh_header(p, "webhook-signature", &sl);
    const char *id = wh_header(p, "webhook-id", &il);
    const char *ts = wh_header(p, "webhook-timestamp", &tl);
    if (sig == NULL) {
        wh_refuse(p, 401, "missing_signature",
                  "the request is not signed (%s or webhook-signature)", c->sig_header);
        return -1;
    }
    if (id == NULL || il == 0 || ts == NULL || tl == 0) {
        wh_refuse(p, 401, "bad_signature",
                  "webhook-signature needs webhook-id and webhook-timestamp");
        return -1;
    }
    int64_t t = 0;
    for (size_t i = 0; i < tl; i++) {
        if (ts[i] < '0' || ts[i] > '9' || i >= 15) {
            wh_refuse(p, 401, "bad_signature", "webhook-timestamp must be seconds since the epoch");
            return -1;
        }
        t = t * 10 + (ts[i] - '0');
    }
    int64_t tol = c->tolerance_s > 0 ? c->tolerance_s : ES_WH_TOLERANCE_S;
    int64_t now = p->now_ms / 1000;
    if (t < now - tol || t > now + tol) {
        wh_refuse(p, 401, "stale_timestamp",
                  "webhook-timestamp is %" PRId64 " s from now; the tolerance is %" PRId64 " s",
                  t - now, tol);
        return -1;
    }
    es_str parts[] = {
        {id, il},
        {".", 1},
        {ts, tl},
        {".", 1},
        {p->body.data != NULL ? p->body.data : "", p->body.len},
    };
    if (hmac_parts(c->key, c->key_len, parts, 5, mac) != 0) {
        wh_refuse(p, 500, "internal", "cannot compute HMAC-SHA256");
        return -1;
    }
    /* Space-separated "v1,<base64>" entries (several during a key
     * rotation); other versions are skipped. */
    bool match = false;
    size_t i = 0;
    while (i < sl) {
        while (i < sl && sig[i] == ' ') {
            i++;
        }
        size_t start = i;
        while (i < sl && sig[i] != ' ') {
            i++;
        }
        size_t n = i - start;
        if (n > 3 && memcmp(sig + start, "v1,", 3) == 0) {
            long g = b64_decode(sig + start + 3, n - 3, given, sizeof given);
            if (g == 32 && CRYPTO_memcmp(mac, given, 32) == 0) {
                match = true;
            }
        }
    }
    if (!match) {
        wh_refuse(p, 401, "bad_signature", "no webhook-signature matches the body");
        return -1;
    }
    return 0;
}

/* ---- Driving ------------------------------------------------------------ */

void es_wh_parser_init(es_wh_parser *p, const es_wh_conf *conf)
{
    memset(p, 0, sizeof *p);
    p->conf = conf;
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    es_buf_init(&p->head,
                conf->max_header_bytes != 0 ? conf->max_header_bytes : ES_WH_MAX_HEADER_BYTES);
    es_buf_init(&p->body, conf->max_body);
}

void es_wh_parser_free(es_wh_parser *p)
{
    es_buf_free(&p->head);
    es_buf_free(&p->body);
}

void es_wh_parser_next(es_wh_parser *p)
{
    es_buf_reset(&p->head);
    if (p->body.cap > WH_BODY_KEEP) {
        es_buf_free(&p->body);
        es_buf_init(&p->body, p->conf->max_body);
    } else {
        es_buf_reset(&p->body);
    }
    p->n_hdrs = 0;
    p->url_len = 0;
    p->discarded = 0;
    p->in_value = false;
    p->refuse = false;
    p->complete = false;
    p->started = false;
    p->headers_done = false;
    p->send_continue = false;
    p->status = 0;
    p->error = NULL;
    p->why[0] = '\0';
    p->close = false;
    if (!p->fatal) {
        http_parser_pause(&p->hp, 0);
    }
}

/* The request is in: what to do with it. */
static es_wh_event wh_finish(es_wh_parser *p)
{
    p->close = !p->keep_alive;
    if (p->refuse) {
        return ES_WH_ANSWER;
    }
    bool blank = true;
    for (size_t i = 0; i < p->body.len && blank; i++) {
        char ch = p->body.data[i];
        blank = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
    }
    if (blank) {
        wh_refuse(p, 400, "empty_body",
                  "the body is empty; send a JSON object or an array of them");
        return ES_WH_ANSWER;
    }
    if (p->conf->key != NULL && wh_verify(p) != 0) {
        return ES_WH_ANSWER;
    }
    return ES_WH_ACCEPT;
}

es_wh_event es_wh_parser_feed(es_wh_parser *p, const char *data, size_t n, int64_t now_ms,
                              size_t *used)
{
    *used = 0;
    if (p->fatal) {
        /* The connection is done for; nothing more is parsed. */
        return ES_WH_ANSWER;
    }
    if (p->complete || n == 0) {
        /* Waiting for es_wh_parser_next (or nothing to do: http-parser
         * would take a zero length for end of stream). */
        return ES_WH_MORE;
    }
    p->now_ms = now_ms;
    size_t k = http_parser_execute(&p->hp, &wh_settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (p->fatal) {
        *used = n;
        return ES_WH_ANSWER;
    }
    if (e == HPE_PAUSED && p->complete) {
        *used = k;
        return wh_finish(p);
    }
    if (e != HPE_OK) {
        *used = n;
        wh_fail(p, 400, "bad_request", "malformed HTTP request: %s", http_errno_description(e));
        return ES_WH_ANSWER;
    }
    *used = k;
    if (k < n) {
        /* http-parser stops early only on an error or after an upgrade,
         * both handled above; do not loop on a stuck parser. */
        *used = n;
        wh_fail(p, 400, "bad_request", "malformed HTTP request");
        return ES_WH_ANSWER;
    }
    return ES_WH_MORE;
}

const char *es_wh_parser_body(const es_wh_parser *p, size_t *len)
{
    *len = p->body.len;
    return p->body.data != NULL ? p->body.data : "";
}

bool es_wh_parser_busy(const es_wh_parser *p)
{
    return p->started && !p->complete;
}

bool es_wh_parser_headers_done(const es_wh_parser *p)
{
    return p->headers_done;
}

/* ---- Responses ------------------------------------------------------------ */

const char *es_wh_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

int es_wh_error_json(es_buf *out, const char *code, const char *msg, int line, int col)
{
    int rc = es_buf_adds(out, "{\"error\":");
    rc = rc ? rc : es_buf_json_str(out, code, strlen(code));
    rc = rc ? rc : es_buf_adds(out, ",\"message\":");
    rc = rc ? rc : es_buf_json_str(out, msg, strlen(msg));
    if (rc == 0 && line > 0) {
        rc = es_buf_printf(out, ",\"line\":%d", line);
    }
    if (rc == 0 && col > 0) {
        rc = es_buf_printf(out, ",\"column\":%d", col);
    }
    return rc ? rc : es_buf_adds(out, "}");
}

int es_wh_response(es_buf *out, int status, bool close, bool http10, int retry_after_s,
                   int64_t now_ms, const char *body, size_t body_len)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        memset(&tm, 0, sizeof tm);
    }
    int rc = es_buf_printf(out,
                           "HTTP/1.1 %d %s\r\n"
                           "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n",
                           status, es_wh_reason(status), days[tm.tm_wday % 7], tm.tm_mday,
                           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, body_len);
    if (rc == 0 && close) {
        rc = es_buf_adds(out, "Connection: close\r\n");
    } else if (rc == 0 && http10) {
        rc = es_buf_adds(out, "Connection: keep-alive\r\n");
    }
    if (rc == 0 && retry_after_s > 0) {
        rc = es_buf_printf(out, "Retry-After: %d\r\n", retry_after_s);
    }
    if (rc == 0 && status == 405) {
        rc = es_buf_adds(out, "Allow: POST\r\n");
    }
    rc = rc ? rc : es_buf_adds(out, "\r\n");
    return rc ? rc : es_buf_add(out, body, body_len);
}

/* ======================================================================
 * The listener
 * ====================================================================== */

#define WH_BACKLOG  128
#define WH_READ_BUF 65536
/* After an answer that closes the connection: how long to keep draining
 * what the client still sends, so it reads the answer, not a reset. */
#define WH_LINGER_MS 2000
/* Stop reading from a client whose unread answers queue past this. */
#define WH_WRITE_QUEUE_MAX (256 * 1024)
/* Over the connection cap, this many more are told 503; beyond that new
 * connections are closed without a word. */
#define WH_OVER_CAP_MAX 32
/* Refused requests are logged one by one up to this many, then sparsely. */
#define WH_LOG_FIRST 20
#define WH_LOG_EVERY 1000

typedef struct wh_feed wh_feed;

typedef struct wh_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    wh_feed *w;
    struct wh_conn *prev, *next;
    es_wh_parser p;
    uint64_t req_start; /* loop time of the current request's first byte */
    int open;           /* handles not yet closed (tcp, timer) */
    bool closing;       /* uv_close called */
    bool lingering;     /* answered and shut down; draining until EOF */
    bool reading;
    bool over_cap;
    char peer[64];
} wh_conn;

typedef struct wh_write {
    uv_write_t req;
    wh_conn *c;
    char data[];
} wh_write;

struct wh_feed {
    es_feed *f;
    const char *comp;
    es_wh_conf conf;
    char *path;
    char *sig_header;
    unsigned char *key;
    size_t key_len;
    char listen[96]; /* as configured, for logs */
    struct sockaddr_storage addr;
    int port; /* bound port (differs from the configured one for :0) */
    size_t max_conns;
    uint64_t read_timeout_ms, keepalive_ms;

    uv_tcp_t *server; /* NULL when not listening */
    uv_timer_t *retry;
    wh_conn *conns;
    size_t n_active; /* connections under the cap */
    size_t n_over;   /* connections being told 503 */
    int live;        /* uv handles not yet closed */
    bool running;    /* between start and stop */
    bool started_once; /* started at least once (a failed init or `check` never is) */
    bool closing;

    es_buf out, json; /* scratch for answers */
    uint64_t n_requests, n_accepted, n_refused;
    char rbuf[WH_READ_BUF];
};

static void wh_maybe_closed(wh_feed *w)
{
    if (w->closing && w->live == 0) {
        es_feed_closed(w->f); /* frees w through destroy */
    }
}

static void on_handle_freed(uv_handle_t *h)
{
    wh_feed *w = h->data;
    free(h);
    w->live--;
    wh_maybe_closed(w);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    wh_conn *c = h->data;
    wh_feed *w = c->w;
    w->live--;
    if (--c->open == 0) {
        es_wh_parser_free(&c->p);
        free(c);
        wh_maybe_closed(w);
    }
}

static void conn_close(wh_conn *c)
{
    if (c->closing) {
        return;
    }
    wh_feed *w = c->w;
    c->closing = true;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    if (c->over_cap) {
        w->n_over--;
    } else {
        w->n_active--;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    wh_write *wr = (wh_write *)req;
    wh_conn *c = wr->c;
    free(wr);
    if (c->closing) {
        return;
    }
    if (status < 0) {
        ES_LOG_DEBUG(c->w->comp, "%s: write failed: %s", c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    if (!c->reading && c->tcp.write_queue_size < WH_WRITE_QUEUE_MAX / 2) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    }
}

static void conn_write(wh_conn *c, const char *p, size_t n)
{
    wh_write *wr = malloc(sizeof *wr + n);
    if (wr == NULL) {
        conn_close(c);
        return;
    }
    wr->c = c;
    memcpy(wr->data, p, n);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        free(wr);
        ES_LOG_DEBUG(c->w->comp, "%s: write failed: %s", c->peer, uv_strerror(rc));
        conn_close(c);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    wh_conn *c = req->data;
    if (status < 0 && !c->closing) {
        conn_close(c);
    }
}

static void on_conn_timer(uv_timer_t *t);

/* The answer is queued; send FIN after it and drain until the client
 * closes (or WH_LINGER_MS passes). */
static void conn_linger(wh_conn *c)
{
    if (c->lingering || c->closing) {
        return;
    }
    c->lingering = true;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    if (!c->reading) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    }
    uv_timer_start(&c->timer, on_conn_timer, WH_LINGER_MS, 0);
}

/* Refused requests: counted, logged at INFO, sparsely after a while so a
 * scanner cannot flood the log. */
static void log_refused(wh_feed *w, const wh_conn *c, int status, const char *why)
{
    uint64_t n = ++w->n_refused;
    if (n <= WH_LOG_FIRST || n % WH_LOG_EVERY == 0) {
        ES_LOG_INFO(w->comp, "%s: %d %s%s", c->peer, status, why,
                    n == WH_LOG_FIRST ? " (further refusals are logged sparsely)" : "");
    }
}

/* Answer the request the parser just finished (or gave up on). */
static void conn_answer(wh_conn *c, es_wh_event ev)
{
    wh_feed *w = c->w;
    es_wh_parser *p = &c->p;
    int status, retry_after = 0;
    es_buf_reset(&w->json);
    w->n_requests++;
    if (ev == ES_WH_ACCEPT && es_feed_should_pause(w->f)) {
        /* The pipeline is behind: nothing is taken, the sender retries. */
        status = 503;
        retry_after = 1;
        es_wh_error_json(&w->json, "busy", "the engine is behind; retry later", 0, 0);
        log_refused(w, c, status, "busy (backpressure)");
    } else if (ev == ES_WH_ACCEPT) {
        size_t len;
        const char *body = es_wh_parser_body(p, &len);
        es_feed_doc_result res;
        int rc = es_feed_deliver_doc(w->f, body, len, ES_FEED_DOC_ALL_OR_NOTHING, &res);
        if (rc < 0) {
            status = 500;
            es_feed_error(w->f, "cannot take a request from %s: %s", c->peer, es_strerror(rc));
            es_wh_error_json(&w->json, "internal", es_strerror(rc), 0, 0);
        } else if (res.bad > 0) {
            status = 400;
            const es_error *e = &res.first_error;
            const char *code = e->code == ES_EJSON     ? "invalid_json"
                               : e->code == ES_ETOOBIG ? "record_too_large"
                                                       : "bad_record";
            char msg[600];
            snprintf(msg, sizeof msg, "record at line %d: %s", e->line, e->msg);
            es_wh_error_json(&w->json, code, msg, e->line, e->col);
            log_refused(w, c, status, msg);
        } else {
            status = 202;
            uint64_t fresh = res.mentions - res.duplicate;
            w->n_accepted += fresh;
            es_buf_printf(&w->json, "{\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64 "}", fresh,
                          res.duplicate);
            ES_LOG_DEBUG(w->comp, "%s: 202, %" PRIu64 " accepted, %" PRIu64 " duplicate", c->peer,
                         fresh, res.duplicate);
        }
    } else {
        status = p->status;
        es_wh_error_json(&w->json, p->error != NULL ? p->error : "error", p->why, 0, 0);
        log_refused(w, c, status, p->why);
    }
    es_buf_reset(&w->out);
    if (es_wh_response(&w->out, status, p->close, p->http10, retry_after, es_feed_now(w->f),
                       w->json.data, w->json.len) != 0) {
        conn_close(c); /* only if the answer outgrew 64 KiB: cannot happen */
        return;
    }
    conn_write(c, w->out.data, w->out.len);
}

static void conn_arm_timer(wh_conn *c)
{
    wh_feed *w = c->w;
    if (c->closing || c->lingering) {
        return;
    }
    uint64_t now = uv_now(c->tcp.loop), delay;
    if (!es_wh_parser_busy(&c->p)) {
        delay = w->keepalive_ms; /* between requests */
    } else if (!es_wh_parser_headers_done(&c->p)) {
        /* The headers have one deadline from their first byte: a client
         * that trickles a byte now and then does not extend it. */
        uint64_t end = c->req_start + w->read_timeout_ms;
        delay = end > now ? end - now : 1;
    } else {
        delay = w->read_timeout_ms; /* the body must keep moving */
    }
    uv_timer_start(&c->timer, on_conn_timer, delay, 0);
}

static void on_conn_timer(uv_timer_t *t)
{
    wh_conn *c = t->data;
    if (c->lingering || !es_wh_parser_busy(&c->p)) {
        conn_close(c); /* drained enough, or idle between requests */
        return;
    }
    c->w->n_requests++;
    log_refused(c->w, c, 408, "the request took too long to arrive");
    es_buf *j = &c->w->json, *o = &c->w->out;
    es_buf_reset(j);
    es_buf_reset(o);
    es_wh_error_json(j, "timeout", "the request took too long to arrive", 0, 0);
    if (es_wh_response(o, 408, true, false, 0, es_feed_now(c->w->f), j->data, j->len) == 0) {
        conn_write(c, o->data, o->len);
    }
    conn_linger(c);
}

static void conn_feed(wh_conn *c, const char *data, size_t n)
{
    wh_feed *w = c->w;
    size_t off = 0;
    while (off < n && !c->closing && !c->lingering) {
        bool was_busy = es_wh_parser_busy(&c->p);
        size_t used = 0;
        es_wh_event ev = es_wh_parser_feed(&c->p, data + off, n - off, es_feed_now(w->f), &used);
        off += used;
        if (!was_busy && (es_wh_parser_busy(&c->p) || ev != ES_WH_MORE)) {
            c->req_start = uv_now(c->tcp.loop);
        }
        if (c->p.send_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            c->p.send_continue = false;
            conn_write(c, cont, sizeof cont - 1);
        }
        if (ev == ES_WH_MORE) {
            break;
        }
        conn_answer(c, ev);
        if (c->closing) {
            return;
        }
        if (c->p.close) {
            conn_linger(c);
            return;
        }
        es_wh_parser_next(&c->p);
    }
    conn_arm_timer(c);
    /* A client that pipelines requests without reading the answers is not
     * read from until it catches up. */
    if (!c->closing && !c->lingering && c->tcp.write_queue_size > WH_WRITE_QUEUE_MAX) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One buffer per feed is enough: libuv calls on_read right after this,
     * and on_read consumes every byte before returning. */
    wh_conn *c = h->data;
    (void)suggested;
    buf->base = c->w->rbuf;
    buf->len = sizeof c->w->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    wh_conn *c = s->data;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            ES_LOG_DEBUG(c->w->comp, "%s: read failed: %s", c->peer, uv_strerror((int)nread));
        } else if (es_wh_parser_busy(&c->p) && !c->lingering) {
            ES_LOG_DEBUG(c->w->comp, "%s: closed in the middle of a request", c->peer);
        }
        conn_close(c);
        return;
    }
    if (c->lingering) {
        return; /* read and dropped */
    }
    conn_feed(c, buf->base, (size_t)nread);
}

static void peer_name(uv_tcp_t *t, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "?");
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    char ip[48];
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, ntohs(a->sin6_port));
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    wh_feed *w = server->data;
    if (status < 0) {
        es_feed_error(w->f, "accept failed: %s", uv_strerror(status));
        return;
    }
    wh_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        es_feed_error(w->f, "accept failed: out of memory");
        return;
    }
    c->w = w;
    uv_loop_t *loop = server->loop;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open = 2;
    w->live += 2;
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    c->over_cap = w->n_active >= w->max_conns;
    if (c->over_cap) {
        w->n_over++;
    } else {
        w->n_active++;
    }
    es_wh_parser_init(&c->p, &w->conf);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    if (c->over_cap) {
        if (w->n_over > WH_OVER_CAP_MAX) {
            conn_close(c);
            return;
        }
        w->n_requests++;
        log_refused(w, c, 503, "too many connections");
        es_buf_reset(&w->json);
        es_buf_reset(&w->out);
        es_wh_error_json(&w->json, "busy", "too many connections; retry later", 0, 0);
        if (es_wh_response(&w->out, 503, true, false, 1, es_feed_now(w->f), w->json.data,
                           w->json.len) == 0) {
            conn_write(c, w->out.data, w->out.len);
        }
        conn_linger(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    if (!c->reading) {
        conn_close(c);
        return;
    }
    /* A connection that says nothing gets the header deadline, not the
     * longer keep-alive idle time. */
    uv_timer_start(&c->timer, on_conn_timer, w->read_timeout_ms, 0);
}

/* ---- Listening, with retries ---------------------------------------------- */

static void on_retry(uv_timer_t *t);

static int wh_listen(wh_feed *w)
{
    uv_loop_t *loop = es_feed_loop(w->f);
    uv_tcp_t *s = malloc(sizeof *s);
    if (s == NULL) {
        return ES_ENOMEM;
    }
    uv_tcp_init(loop, s);
    s->data = w;
    w->live++;
    int rc = uv_tcp_bind(s, (const struct sockaddr *)&w->addr, 0);
    rc = rc ? rc : uv_listen((uv_stream_t *)s, WH_BACKLOG, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)s, on_handle_freed);
        char why[200];
        snprintf(why, sizeof why, "cannot listen on %s: %s", w->listen, uv_strerror(rc));
        es_feed_error(w->f, "%s", why);
        int64_t d = es_feed_backoff(w->f, ES_BACKOFF_NETWORK, -1, why);
        uv_timer_start(w->retry, on_retry, (uint64_t)d, 0);
        return 0;
    }
    w->server = s;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    w->port = 0;
    if (uv_tcp_getsockname(s, (struct sockaddr *)&ss, &len) == 0) {
        w->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    }
    /* Tests and scripts that bind port 0 read the real port from here. */
    ES_LOG_INFO(w->comp, "listening on %s (port %d), POST %s%s", w->listen, w->port, w->path,
                w->key != NULL ? "" : " (unsigned requests accepted: no secret is set)");
    es_feed_set_connected(w->f, true);
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    wh_feed *w = t->data;
    if (w->running && w->server == NULL && !w->closing) {
        wh_listen(w);
    }
}

static void wh_unlisten(wh_feed *w)
{
    if (w->server != NULL) {
        uv_close((uv_handle_t *)w->server, on_handle_freed);
        w->server = NULL;
    }
    if (w->retry != NULL) {
        uv_timer_stop(w->retry);
    }
    while (w->conns != NULL) {
        conn_close(w->conns);
    }
}

/* ---- The feed type ----------------------------------------------------------- */

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (every IPv4
 * interface) -> addr. */
static int parse_listen(const char *s, struct sockaddr_storage *addr)
{
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) {
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host) {
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    if (host[0] == '\0') {
        snprintf(host, sizeof host, "0.0.0.0");
    } else if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof host, "127.0.0.1");
    }
    memset(addr, 0, sizeof *addr);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0) {
        return 0;
    }
    return -1;
}

/* An option the schema may not have yet: its value when it has one. */
static bool opt_int(const es_config_item *it, const char *key, int64_t *out)
{
    const es_config_value *v = es_config_item_get(it, key);
    if (v == NULL || !v->has) {
        return false;
    }
    *out = v->i;
    return true;
}

static void wh_destroy(void *state)
{
    wh_feed *w = state;
    if (w == NULL) {
        return;
    }
    if (w->started_once) { /* it was started: say what it did */
        ES_LOG_INFO(w->comp,
                    "closed: %" PRIu64 " requests, %" PRIu64 " mentions accepted, %" PRIu64
                    " refused",
                    w->n_requests, w->n_accepted, w->n_refused);
    }
    if (w->key != NULL) {
        OPENSSL_cleanse(w->key, w->key_len);
    }
    free(w->key);
    free(w->path);
    free(w->sig_header);
    es_buf_free(&w->out);
    es_buf_free(&w->json);
    free(w);
}

static int wh_init(es_feed *f, const es_config_item *item, void **state, es_error *err)
{
    const char *name = es_feed_name(f);
    wh_feed *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    w->f = f;
    w->comp = es_feed_comp(f);
    es_buf_init(&w->out, 64 * 1024);
    es_buf_init(&w->json, 16 * 1024);
    int rc = 0;

    const char *listen = es_config_item_str(item, "listen");
    const es_config_value *lv = es_config_item_get(item, "listen");
    if (listen == NULL || strlen(listen) >= sizeof w->listen ||
        parse_listen(listen, &w->addr) != 0) {
        rc = es_error_set(err, ES_ECONFIG, lv != NULL ? lv->line : 0, lv != NULL ? lv->col : 0,
                          "feed '%s': listen: expected ADDRESS:PORT with a numeric IPv4 address, "
                          "[IPv6] or localhost, not '%s'",
                          name, listen != NULL ? listen : "");
        goto fail;
    }
    snprintf(w->listen, sizeof w->listen, "%s", listen);

    const char *path = es_config_item_str(item, "path");
    const es_config_value *pv = es_config_item_get(item, "path");
    if (path == NULL || path[0] != '/' || strpbrk(path, "?# \t") != NULL) {
        rc = es_error_set(err, ES_ECONFIG, pv != NULL ? pv->line : 0, pv != NULL ? pv->col : 0,
                          "feed '%s': path: expected a URL path starting with '/', not '%s'", name,
                          path != NULL ? path : "");
        goto fail;
    }
    const char *hdr = es_config_item_str(item, "signature_header");
    w->path = strdup(path);
    w->sig_header = strdup(hdr != NULL ? hdr : "X-Earshot-Signature");
    if (w->path == NULL || w->sig_header == NULL) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }

    char *secret = NULL;
    rc = es_config_resolve_secret(item, "secret", &secret, err);
    if (rc == ES_ENOTFOUND) {
        rc = 0;
    } else if (rc != 0) {
        goto fail;
    } else {
        size_t sl = strlen(secret);
        if (strncmp(secret, "whsec_", 6) == 0) {
            /* Standard Webhooks: the key is the base64 after the prefix. */
            w->key = malloc(sl);
            long n = w->key != NULL ? b64_decode(secret + 6, sl - 6, w->key, sl) : -1;
            if (n <= 0) {
                OPENSSL_cleanse(secret, sl);
                free(secret);
                const es_config_value *sv = es_config_item_get(item, "secret");
                rc = es_error_set(err, ES_ECONFIG, sv != NULL ? sv->line : 0,
                                  sv != NULL ? sv->col : 0,
                                  "feed '%s': secret starts with whsec_ but is not base64", name);
                goto fail;
            }
            w->key_len = (size_t)n;
        } else {
            w->key = (unsigned char *)strdup(secret);
            w->key_len = sl;
        }
        OPENSSL_cleanse(secret, sl);
        free(secret);
        if (w->key == NULL) {
            rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
            goto fail;
        }
    }

    int64_t v;
    w->max_conns =
        opt_int(item, "max_connections", &v) && v > 0 ? (size_t)v : ES_WH_MAX_CONNECTIONS;
    w->read_timeout_ms =
        opt_int(item, "read_timeout", &v) && v > 0 ? (uint64_t)v : ES_WH_READ_TIMEOUT_MS;
    /* `idle_timeout` is the engine's: feed_stalled after that long without
     * a mention, as for every feed. The keep-alive has its own key. */
    w->keepalive_ms = opt_int(item, "keepalive_timeout", &v) && v > 0
                          ? (uint64_t)v
                          : ES_WH_KEEPALIVE_TIMEOUT_MS;
    int64_t max_body = es_config_item_int(item, "max_body");
    w->conf = (es_wh_conf){
        .path = w->path,
        .sig_header = w->sig_header,
        .key = w->key,
        .key_len = w->key_len,
        .max_body = max_body > 0 ? (size_t)max_body : 1024 * 1024,
        .max_header_bytes = opt_int(item, "max_header_size", &v) && v > 0 ? (size_t)v : 0,
        .tolerance_s = ES_WH_TOLERANCE_S,
    };
    *state = w;
    return 0;

fail:
    wh_destroy(w);
    return rc;
}

static int wh_start(void *state)
{
    wh_feed *w = state;
    if (w->closing) {
        return ES_ECLOSED;
    }
    if (w->running) {
        return 0;
    }
    if (w->retry == NULL) {
        w->retry = malloc(sizeof *w->retry);
        if (w->retry == NULL) {
            return ES_ENOMEM;
        }
        uv_timer_init(es_feed_loop(w->f), w->retry);
        w->retry->data = w;
        w->live++;
        w->started_once = true;
    }
    w->running = true;
    return wh_listen(w);
}

/* Stop taking requests: the port is released and every connection closed
 * (a request cut off here was never answered 2xx, so its sender retries). */
static void wh_stop(void *state)
{
    wh_feed *w = state;
    if (!w->running) {
        return;
    }
    w->running = false;
    wh_unlisten(w);
    es_feed_set_connected(w->f, false);
}

static void wh_resume(void *state)
{
    /* Nothing was paused: while the engine is behind, requests are
     * answered 503 and their senders retry. */
    (void)state;
}

static void wh_close(void *state)
{
    wh_feed *w = state;
    if (w->closing) {
        return;
    }
    w->running = false;
    wh_unlisten(w);
    if (w->retry != NULL) {
        uv_close((uv_handle_t *)w->retry, on_handle_freed);
        w->retry = NULL;
    }
    w->closing = true;
    wh_maybe_closed(w); /* at once when no handle was open */
}

const es_feed_type es_feed_type_webhook = {
    .name = "webhook",
    .help = "an HTTP listener for pushed mentions (HMAC-signed JSON)",
    .init = wh_init,
    .start = wh_start,
    .stop = wh_stop,
    .resume = wh_resume,
    .close = wh_close,
    .destroy = wh_destroy,
};
