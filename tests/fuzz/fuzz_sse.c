/*
 * The SSE parser on arbitrary bytes: never crashes, never holds more than
 * its cap, and gives the same events whether the input comes whole or in
 * chunks cut where the first byte says (so a CRLF split across chunks and
 * lines continued across chunks are exercised).
 */
#include "sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct acc {
    uint64_t hash;
    uint64_t n;
} acc;

static void mix(acc *a, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a->hash = (a->hash ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    }
    a->hash = (a->hash ^ 0xff) * 0x100000001b3ULL;
}

static int on_event(void *ud, const es_sse_event *ev)
{
    acc *a = ud;
    a->n++;
    mix(a, ev->name.ptr, ev->name.len);
    mix(a, ev->data.ptr, ev->data.len);
    mix(a, ev->id.ptr, ev->id.len);
    mix(a, ev->too_big ? "B" : "b", 1);
    if (ev->data.len > 256) {
        abort(); /* over the cap */
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t step = (size_t)data[0] % 17 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    es_sse a, b;
    acc x = {0xcbf29ce484222325ULL, 0}, y = {0xcbf29ce484222325ULL, 0};
    es_sse_init(&a, 256);
    es_sse_init(&b, 256);
    es_sse_feed(&a, p, n, on_event, &x);
    for (size_t i = 0; i < n; i += step) {
        es_sse_feed(&b, p + i, n - i < step ? n - i : step, on_event, &y);
    }
    if (x.n != y.n || x.hash != y.hash || a.retry_ms != b.retry_ms) {
        abort(); /* chunking changed the result */
    }
    es_sse_free(&a);
    es_sse_free(&b);
    return 0;
}
