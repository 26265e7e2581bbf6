/*
 * The generic webhook sink: POSTs the contract's notification object, signed
 * the Standard Webhooks way so receivers can verify it and drop repeats:
 *
 *   webhook-id:        the notification's idempotency key (same on retries)
 *   webhook-timestamp: seconds since the epoch of this attempt
 *   webhook-signature: "v1," + base64(HMAC-SHA256(secret, id "." ts "." body))
 *
 * A secret written "whsec_<base64>" is decoded first, as the spec's
 * libraries do; any other secret is used as its raw bytes.
 */
#include "sink.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WEBHOOK_MAX_HEADERS 16

typedef struct webhook_sink {
    char *url;
    char *headers[WEBHOOK_MAX_HEADERS]; /* "Name: value" */
    size_t n_headers;
    unsigned char *key;
    size_t key_len; /* 0: do not sign */
} webhook_sink;

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

/* Decode base64 (either alphabet, padding optional); -1 on a bad character. */
static long b64_decode(const char *s, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (; *s != '\0' && *s != '='; s++) {
        int v = b64_val((unsigned char)*s);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static void webhook_destroy(void *state)
{
    webhook_sink *w = state;
    if (w == NULL) {
        return;
    }
    free(w->url);
    for (size_t i = 0; i < w->n_headers; i++) {
        free(w->headers[i]);
    }
    if (w->key != NULL) {
        memset(w->key, 0, w->key_len);
    }
    free(w->key);
    free(w);
}

static int webhook_init(const es_sink_opts *o, void **state, es_error *err)
{
    webhook_sink *w = calloc(1, sizeof *w);
    if (w == NULL || (w->url = strdup(es_sink_opt_get(o, "url"))) == NULL) {
        webhook_destroy(w);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    if (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0) {
        webhook_destroy(w);
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be http:// or https://",
                            o->sink_name);
    }
    const char *hdrs[WEBHOOK_MAX_HEADERS];
    size_t nh = es_sink_opt_list(o, "headers", hdrs, WEBHOOK_MAX_HEADERS);
    for (size_t i = 0; i < nh; i++) {
        const char *colon = i < WEBHOOK_MAX_HEADERS ? strchr(hdrs[i], ':') : NULL;
        if (nh > WEBHOOK_MAX_HEADERS || colon == NULL || colon == hdrs[i] ||
            strpbrk(hdrs[i], "\r\n") != NULL || strncasecmp(hdrs[i], "webhook-", 8) == 0) {
            webhook_destroy(w);
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': 'headers' takes at most %d \"Name: value\" lines, "
                                "not the webhook-* signature headers",
                                o->sink_name, WEBHOOK_MAX_HEADERS);
        }
        if ((w->headers[w->n_headers] = strdup(hdrs[i])) == NULL) {
            webhook_destroy(w);
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
        w->n_headers++;
    }
    const char *secret = es_sink_opt_get(o, "secret");
    if (secret != NULL) {
        size_t n = strlen(secret);
        w->key = malloc(n + 1);
        if (w->key == NULL) {
            webhook_destroy(w);
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
        if (strncmp(secret, "whsec_", 6) == 0) {
            long k = b64_decode(secret + 6, w->key);
            if (k <= 0) {
                webhook_destroy(w);
                return es_error_set(err, ES_ECONFIG, 0, 0,
                                    "sink '%s': 'secret' starts with whsec_ but is not base64",
                                    o->sink_name);
            }
            w->key_len = (size_t)k;
        } else {
            memcpy(w->key, secret, n);
            w->key_len = n;
        }
    }
    *state = w;
    return 0;
}

/* HMAC-SHA256 over the three parts without copying the body. */
static int sign(const webhook_sink *w, const char *id, const char *ts, const es_buf *body,
                unsigned char mac[32])
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, w->key, w->key_len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
             EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
             EVP_MAC_update(ctx, (const unsigned char *)body->data, body->len) &&
             EVP_MAC_final(ctx, mac, &len, 32) && len == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return ok ? 0 : ES_EINVAL;
}

static int webhook_build(void *state, const es_notification *n, es_sink_request *req)
{
    webhook_sink *w = state;
    const char *id = n->key != NULL ? n->key : "";
    int rc = es_buf_adds(&req->url, w->url);
    rc = rc ? rc : es_notification_to_json(n, &req->body);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json");
    for (size_t i = 0; rc == 0 && i < w->n_headers; i++) {
        rc = es_buf_printf(&req->headers, "%s\n", w->headers[i]);
    }
    /* The id and timestamp go out even unsigned: receivers dedupe on the id. */
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)(n->sent_ms / 1000));
    rc = rc ? rc : es_sink_request_header(req, "webhook-id", id);
    rc = rc ? rc : es_sink_request_header(req, "webhook-timestamp", ts);
    if (rc != 0 || w->key_len == 0) {
        return rc;
    }
    unsigned char mac[32];
    rc = sign(w, id, ts, &req->body, mac);
    es_buf sig;
    es_buf_init(&sig, 128);
    rc = rc ? rc : es_buf_adds(&sig, "v1,");
    rc = rc ? rc : es__base64(&sig, mac, sizeof mac);
    rc = rc ? rc : es_sink_request_header(req, "webhook-signature", sig.data);
    es_buf_free(&sig);
    return rc;
}

static const es_sink_option webhook_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK,
     "where to POST notifications"},
    {"secret", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_SECRET,
     "signing secret (whsec_<base64> or raw); without it requests are unsigned"},
    {"headers", ES_SINK_OPT_LIST, NULL, 0, "extra request headers, each \"Name: value\""},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_webhook = {
    .name = "webhook",
    .options = webhook_options,
    .init = webhook_init,
    .build = webhook_build,
    .destroy = webhook_destroy,
};
