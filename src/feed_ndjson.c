/*
 * The `ndjson` feed: a long-lived HTTP response of JSON lines, such as the
 * X/Twitter v2 filtered stream (GET /2/tweets/search/stream).
 *
 *   - Whole lines go to the host's decoder; a line cut off by a dropped
 *     connection is dropped with it (never decoded as half a record).
 *   - Blank lines are the server's keep-alive (X sends one every 20 s):
 *     they count as liveness, nothing else.
 *   - read_timeout (20 s by default, the keep-alive interval) without a
 *     single byte means the stream is dead: reconnect.
 *   - Reconnects follow the host's schedules (network, HTTP error, 429
 *     with Retry-After). With backfill_minutes set, a reconnect asks the
 *     server to replay that many minutes (X's backfill_minutes=1..5); the
 *     host drops what it had already seen.
 *
 * The stream has no cursor: what was missed while disconnected comes back
 * only through backfill_minutes. The connection lifecycle (reconnects, the
 * read timeout, backpressure) is feed_stream.c's; this file frames lines.
 */
#include "feed_stream.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line longer than this is handed over anyway; the decoder reports it. */
#define NDJSON_MAX_LINE (1u << 20)

typedef struct nd_feed {
    es_feed *f;
    es_feed_stream st;
    int backfill_min;
    es_buf tail;           /* the start of a line that continues in the next chunk */
    bool connected_before; /* a reconnect, not the first connection */
    uint64_t keepalives, cut_lines;
} nd_feed;

/* ---- The stream ------------------------------------------------------------- */

static bool all_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n' && p[i] != '\r' && p[i] != ' ' && p[i] != '\t') {
            return false;
        }
    }
    return true;
}

/* A reconnect asks for backfill_minutes of replay (unless the URL already
 * says how much): the stream has no other way to bring back the gap. */
static int nd_prepare(void *ud, es_buf *u)
{
    nd_feed *s = ud;
    int rc = es_buf_adds(u, s->st.url);
    if (rc == 0 && s->backfill_min > 0 && s->connected_before &&
        !es__feed_url_has_param(s->st.url, "backfill_minutes")) {
        char v[8];
        snprintf(v, sizeof v, "%d", s->backfill_min);
        rc = es__feed_url_add(u, "backfill_minutes", v, strlen(v));
    }
    return rc;
}

static void nd_opened(void *ud)
{
    nd_feed *s = ud;
    es_buf_reset(&s->tail);
    s->connected_before = true;
}

/* Hand over everything up to the last newline of tail + p; keep the rest. */
static int deliver_lines(nd_feed *s, const char *p, size_t n)
{
    const char *last = NULL;
    for (size_t i = n; i > 0; i--) {
        if (p[i - 1] == '\n') {
            last = p + i;
            break;
        }
    }
    int rc = 0;
    if (last == NULL) {
        /* No line end yet: keep it, unless it outgrew any sane record (the
         * decoder then reports it as too big). */
        if (es_buf_add(&s->tail, p, n) != 0) {
            rc = es_feed_deliver(s->f, s->tail.data, s->tail.len);
            rc = rc ? rc : es_feed_deliver(s->f, p, n);
            es_buf_reset(&s->tail);
        }
        return rc;
    }
    size_t whole = (size_t)(last - p);
    if (s->tail.len > 0) {
        rc = es_feed_deliver(s->f, s->tail.data, s->tail.len);
        es_buf_reset(&s->tail);
    }
    rc = rc ? rc : es_feed_deliver(s->f, p, whole);
    if (rc == 0 && whole < n) {
        rc = es_buf_add(&s->tail, last, n - whole) != 0 ? es_feed_deliver(s->f, last, n - whole)
                                                        : 0;
    }
    return rc;
}

static int nd_data(void *ud, const char *p, size_t n)
{
    nd_feed *s = ud;
    if (s->tail.len == 0 && all_blank(p, n)) {
        /* A keep-alive: the connection is fine, there is just nothing to
         * say. The host still sees the bytes (liveness). */
        s->keepalives++;
        return es_feed_deliver(s->f, p, n) < 0 ? ES_EIO : 0;
    }
    int rc = deliver_lines(s, p, n);
    if (rc != 0) {
        es_feed_error(s->f, "cannot process mentions: %s", es_strerror(rc));
        return rc < 0 ? rc : ES_EIO;
    }
    return es__feed_stream_backpressure(&s->st);
}

/* The connection is over: a partial last line goes with it. */
static void nd_ended(void *ud)
{
    nd_feed *s = ud;
    if (s->tail.len > 0) {
        s->cut_lines++;
        ES_LOG_DEBUG(es_feed_comp(s->f), "dropped %zu bytes of a line cut off by the disconnect",
                     s->tail.len);
        es_buf_reset(&s->tail);
    }
    (void)es_feed_deliver_end(s->f);
}

static const es_feed_stream_ops nd_stream_ops = {
    .idle_signal = "keep-alive",
    .prepare = nd_prepare,
    .opened = nd_opened,
    .data = nd_data,
    .ended = nd_ended,
};

/* ---- The vtable ------------------------------------------------------------------ */

static void nd_destroy(void *state);

static int nd_init(es_feed *f, const es_config_item *item, void **state, es_error *err)
{
    nd_feed *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    s->f = f;
    es_buf_init(&s->tail, NDJSON_MAX_LINE);
    int rc = es__feed_stream_init(&s->st, f, item, &nd_stream_ops, s, err);
    rc = rc ? rc : es__feed_headers_init(f, item, &s->st.hdrs, err);
    if (rc != 0) {
        nd_destroy(s);
        return rc;
    }
    s->backfill_min = (int)es_config_item_int(item, "backfill_minutes");
    es__feed_stream_timers(&s->st);
    *state = s;
    return 0;
}

static int nd_start(void *state)
{
    nd_feed *s = state;
    es__feed_stream_start(&s->st);
    return 0;
}

static void nd_stop(void *state)
{
    nd_feed *s = state;
    es__feed_stream_stop(&s->st);
}

static void nd_resume(void *state)
{
    nd_feed *s = state;
    es__feed_stream_resume(&s->st);
}

static void nd_close(void *state)
{
    nd_feed *s = state;
    nd_stop(s);
    ES_LOG_DEBUG(es_feed_comp(s->f), "closing: %llu keep-alives, %llu lines cut by disconnects",
                 (unsigned long long)s->keepalives, (unsigned long long)s->cut_lines);
    es__feed_stream_close(&s->st, NULL);
}

static void nd_destroy(void *state)
{
    nd_feed *s = state;
    if (s == NULL) {
        return;
    }
    es_buf_free(&s->tail);
    es__feed_stream_free(&s->st);
    free(s);
}

const es_feed_type es_feed_type_ndjson = {
    .name = "ndjson",
    .help = "a long-lived HTTP stream of JSON lines (X filtered stream)",
    .init = nd_init,
    .start = nd_start,
    .stop = nd_stop,
    .resume = nd_resume,
    .close = nd_close,
    .destroy = nd_destroy,
};
