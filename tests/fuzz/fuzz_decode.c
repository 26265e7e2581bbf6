/*
 * Fuzz the decoders: any bytes, any format, any chunking.
 *
 * Input: byte 0 picks the format, byte 1 the flags and limits, byte 2 seeds
 * the chunk sizes; the rest is the input text. Besides "no crash, no leak,
 * no UB", two properties are checked and abort() when broken:
 *   - the result (every mention as written JSON, every error with its line,
 *     column and message) is the same fed whole and fed in random chunks;
 *   - every mention the encoder writes is valid JSON (checked with yajl).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/decode.h"
#include "mention_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct run {
    uint64_t hash;
    uint64_t mentions, errors;
    es_buf json;
} run;

static void mix(run *r, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        r->hash = (r->hash ^ s[i]) * 1099511628211ULL;
    }
}

static int on_mention(void *ud, const es_mention *m, uint64_t line)
{
    run *r = ud;
    es_buf_reset(&r->json);
    if (es_mention_write_json(m, &r->json, ",\"x\":1", 6) != 0) {
        abort(); /* the buffer is far larger than any record */
    }
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (yajl_parse(h, (const unsigned char *)r->json.data, r->json.len) != yajl_status_ok ||
        yajl_complete_parse(h) != yajl_status_ok) {
        abort(); /* the encoder wrote invalid JSON */
    }
    yajl_free(h);
    mix(r, &line, sizeof line);
    mix(r, r->json.data, r->json.len);
    mix(r, &m->created_ms, sizeof m->created_ms);
    r->mentions++;
    return 0;
}

static void on_error(void *ud, const es_error *e)
{
    run *r = ud;
    mix(r, &e->line, sizeof e->line);
    mix(r, &e->col, sizeof e->col);
    mix(r, e->msg, strlen(e->msg));
    r->errors++;
}

static void decode(run *r, const es_decoder_opts *base, const uint8_t *in, size_t n, uint32_t seed)
{
    es_decoder_opts o = *base;
    o.ud = r;
    es_decoder *d;
    if (es_decoder_new(&o, &d) != 0) {
        abort();
    }
    size_t i = 0;
    while (i < n) {
        size_t k = n - i;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 17;
            if (k > n - i) {
                k = n - i;
            }
        }
        es_decoder_feed(d, (const char *)in + i, k);
        i += k;
    }
    es_decoder_finish(d);
    es_decode_stats st;
    es_decoder_stats(d, &st);
    if (st.mentions != r->mentions || st.bad != r->errors || st.records != st.mentions + st.bad) {
        abort();
    }
    es_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    static const size_t records[] = {0, 64, 300, 4096};
    es_decoder_opts o = {
        .format = (es_format)(data[0] % ES_FORMAT_COUNT),
        .flags = data[1] & 3u,
        .max_record = records[(data[1] >> 2) & 3u],
        .max_depth = (data[1] & 0x10) ? 8 : 0,
        .on_mention = on_mention,
        .on_error = on_error,
    };
    uint32_t seed = data[2] | 1u;
    run whole = {.hash = 14695981039346656037ULL}, chunked = {.hash = 14695981039346656037ULL};
    es_buf_init(&whole.json, (size_t)64 << 20);
    es_buf_init(&chunked.json, (size_t)64 << 20);
    decode(&whole, &o, data + 3, size - 3, 0);
    decode(&chunked, &o, data + 3, size - 3, seed);
    if (whole.hash != chunked.hash || whole.mentions != chunked.mentions ||
        whole.errors != chunked.errors) {
        abort(); /* chunking changed the result */
    }
    es_buf_free(&whole.json);
    es_buf_free(&chunked.json);
    return 0;
}
