/*
 * Fuzz the webhook feed's request path without sockets: the HTTP/1.1
 * parser with its limits, the path/method/content-type rules, the
 * signature checks (hex, sha256=, Standard Webhooks), the answers, and the
 * decoding of an accepted body.
 *
 * Input: byte 0 picks the settings (bit 0: a secret is set; bit 1: a small
 * max_body; bits 2-7 seed the chunk sizes); the rest is what a client
 * sends on one connection (any number of pipelined requests). The clock is
 * fixed at 1700000000 s, so Standard Webhooks seeds can be valid.
 *
 * Besides "no crash, no leak, no UB", the result must not depend on how the
 * bytes were split into reads: the sequence of events (status, close,
 * body hash) fed whole and fed in pseudo-random chunks must be equal, or
 * abort(). (One allowance: a connection refused for malformed headers may
 * say 400 or 431 depending on the split, see answer().)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/decode.h"
#include "feed_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1700000000000LL

typedef struct trace {
    uint64_t hash;
    unsigned events;
} trace;

static void mix(trace *t, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        t->hash = (t->hash ^ s[i]) * 1099511628211ULL;
    }
}

static int on_mention(void *ud, const es_mention *m, uint64_t line)
{
    (void)m;
    (void)line;
    (*(unsigned *)ud)++;
    return 0;
}

/* Answer one event the way the listener does (decode the body, write the
 * response) and record it in the trace. */
static void answer(es_wh_parser *p, es_wh_event ev, trace *t, es_buf *out, es_buf *json)
{
    int status = p->status;
    es_buf_reset(json);
    es_buf_reset(out);
    if (ev == ES_WH_ACCEPT) {
        size_t len;
        const char *body = es_wh_parser_body(p, &len);
        unsigned n = 0;
        es_decoder_opts o = {.format = ES_FORMAT_AUTO, .on_mention = on_mention, .ud = &n};
        es_decoder *d;
        if (es_decoder_new(&o, &d) == 0) {
            es_decoder_feed(d, body, len);
            es_decoder_finish(d);
            es_decoder_free(d);
        }
        mix(t, body, len);
        mix(t, &n, sizeof n);
        status = 202;
        es_buf_printf(json, "{\"accepted\":%u,\"duplicates\":0}", n);
    } else {
        if (status < 400 || status > 599 || p->error == NULL) {
            abort(); /* every refusal names a status and a reason */
        }
        es_wh_error_json(json, p->error, p->why, 0, 0);
        if (p->fatal && (status == 400 || status == 431)) {
            /* Malformed or oversized headers: http-parser reports header
             * bytes when a read ends, so which of two problems in the same
             * header is seen first depends on the split. Either way the
             * connection is refused and closed. */
            status = 400;
        } else {
            mix(t, p->why, strlen(p->why));
        }
    }
    if (es_wh_response(out, status, p->close, p->http10, 0, NOW_MS, json->data, json->len) != 0) {
        abort(); /* answers are small */
    }
    mix(t, &status, sizeof status);
    mix(t, &p->close, sizeof p->close);
    t->events++;
}

static void run(const es_wh_conf *conf, const uint8_t *data, size_t size, unsigned seed, trace *t)
{
    es_wh_parser p;
    es_buf out, json;
    es_buf_init(&out, 1 << 16);
    es_buf_init(&json, 1 << 14);
    es_wh_parser_init(&p, conf);
    memset(t, 0, sizeof *t);
    t->hash = 14695981039346656037ULL;
    size_t pos = 0;
    uint32_t rnd = seed * 2654435761u + 1;
    bool done = false;
    while (pos < size && !done) {
        size_t chunk = size - pos;
        if (seed != 0) {
            rnd = rnd * 1103515245u + 12345u;
            chunk = 1 + (rnd >> 16) % 64;
            if (chunk > size - pos) {
                chunk = size - pos;
            }
        }
        /* One "read": everything in it is handled before the next. */
        size_t off = 0;
        while (off < chunk) {
            size_t used = 0;
            es_wh_event ev =
                es_wh_parser_feed(&p, (const char *)data + pos + off, chunk - off, NOW_MS, &used);
            if (used > chunk - off) {
                abort();
            }
            off += used;
            p.send_continue = false; /* depends on chunking by design */
            if (ev == ES_WH_MORE) {
                if (off != chunk) {
                    abort(); /* MORE means every byte was used */
                }
                break;
            }
            answer(&p, ev, t, &out, &json);
            if (p.close) {
                done = true;
                break;
            }
            es_wh_parser_next(&p);
        }
        pos += chunk;
    }
    es_wh_parser_free(&p);
    es_buf_free(&out);
    es_buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const unsigned char key[] = "fuzz-secret";
    es_wh_conf conf = {
        .path = "/hook",
        .sig_header = "X-Earshot-Signature",
        .key = (data[0] & 1) ? key : NULL,
        .key_len = (data[0] & 1) ? sizeof key - 1 : 0,
        .max_body = (data[0] & 2) ? 64 : 1 << 20,
        .max_header_bytes = 2048,
        .max_headers = 16,
    };
    unsigned seed = (unsigned)(data[0] >> 2) + 1;
    trace whole, chunked;
    run(&conf, data + 1, size - 1, 0, &whole);
    run(&conf, data + 1, size - 1, seed, &chunked);
    if (whole.hash != chunked.hash || whole.events != chunked.events) {
        abort(); /* the answers depend on how the bytes were split */
    }
    return 0;
}
