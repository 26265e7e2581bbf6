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
 * only through backfill_minutes.
 */
#include "feed_net.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line longer than this is handed over anyway; the decoder reports it. */
#define NDJSON_MAX_LINE (1u << 20)

typedef struct nd_feed {
    es_feed *f;
    char *url;
    es_feed_headers hdrs;
    int64_t connect_ms, read_ms;
    int backfill_min;
    es_buf tail; /* the start of a line that continues in the next chunk */
    es_http_req *req;
    uv_timer_t retry;
    uv_timer_t watch;  /* the read timeout */
    int64_t last_byte; /* loop time of the last byte (or of the request) */
    int open_handles;
    bool running, closing, paused, ok;
    bool connected_before; /* a reconnect, not the first connection */
    char err_body[160];
    size_t err_len;
    uint64_t keepalives, cut_lines;
} nd_feed;

static void connect_stream(nd_feed *s);

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

static int on_response(void *ud, es_http_req *req)
{
    nd_feed *s = ud;
    long st = es_http_status(req);
    s->last_byte = (int64_t)uv_now(es_feed_loop(s->f));
    s->err_len = 0;
    s->err_body[0] = '\0';
    s->ok = st >= 200 && st <= 299;
    if (s->ok) {
        es_buf_reset(&s->tail);
        s->connected_before = true;
        es_feed_set_connected(s->f, true);
    }
    return 0;
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

static int on_data(void *ud, es_http_req *req, const char *p, size_t n)
{
    nd_feed *s = ud;
    (void)req;
    s->last_byte = (int64_t)uv_now(es_feed_loop(s->f));
    if (!s->ok) {
        es__feed_snippet(s->err_body, sizeof s->err_body, &s->err_len, p, n);
        return 0;
    }
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
    if (es_feed_should_pause(s->f)) {
        s->paused = true;
        return ES_HTTP_PAUSE;
    }
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    nd_feed *s = t->data;
    if (s->running && !s->closing && s->req == NULL) {
        connect_stream(s);
    }
}

static void schedule_reconnect(nd_feed *s, int64_t d)
{
    if (!s->closing) {
        uv_timer_start(&s->retry, on_retry, (uint64_t)(d < 0 ? 0 : d), 0);
    }
}

/* The connection is over: a partial last line goes with it. */
static void end_stream(nd_feed *s)
{
    if (s->tail.len > 0) {
        s->cut_lines++;
        ES_LOG_DEBUG(es_feed_comp(s->f), "dropped %zu bytes of a line cut off by the disconnect",
                     s->tail.len);
        es_buf_reset(&s->tail);
    }
    (void)es_feed_deliver_end(s->f);
}

/* The stream is over: come back after the backoff. `clean`: the server
 * closed a 2xx stream, worth a reconnect but not an error. */
static void stream_down(nd_feed *s, bool was_ok, const es_feed_failure *fl, bool clean)
{
    s->req = NULL;
    s->ok = false;
    s->paused = false;
    end_stream(s);
    if (s->closing || !s->running) {
        return;
    }
    if (was_ok) {
        es_feed_set_connected(s->f, false);
    }
    if (!clean) {
        es_feed_error(s->f, "%s", fl->why);
    }
    schedule_reconnect(s, es_feed_backoff(s->f, fl->kind, fl->retry_after_ms,
                                          clean ? fl->why : NULL));
}

static void on_done(void *ud, es_http_req *req, const es_http_result *r)
{
    nd_feed *s = ud;
    bool was_ok = s->ok;
    if (r->code == ES_ECLOSED) {
        s->req = NULL;
        return;
    }
    es_feed_failure fl;
    es__feed_failure(s->f, req, r, s->err_body, s->err_len, &fl);
    bool clean = was_ok && r->code == 0;
    if (clean) {
        snprintf(fl.why, sizeof fl.why, "the server closed the stream");
    }
    stream_down(s, was_ok, &fl, clean);
}

/*
 * The read timeout, kept here rather than left to libcurl, whose low-speed
 * check averages over several seconds. It also covers a server that
 * accepts and never answers. Paused reading (backpressure) is not silence.
 */
static void on_watch(uv_timer_t *t)
{
    nd_feed *s = t->data;
    if (s->req == NULL || s->paused || s->closing) {
        return;
    }
    if ((int64_t)uv_now(es_feed_loop(s->f)) - s->last_byte < s->read_ms) {
        return;
    }
    bool was_ok = s->ok;
    es_http_cancel(s->req);
    es_feed_failure fl = {.kind = ES_BACKOFF_NETWORK, .retry_after_ms = -1};
    snprintf(fl.why, sizeof fl.why, "nothing, not even a keep-alive, for %.1f s",
             (double)s->read_ms / 1000.0);
    stream_down(s, was_ok, &fl, false);
}

static void connect_stream(nd_feed *s)
{
    es_buf u;
    es_buf_init(&u, 16384);
    int rc = es_buf_adds(&u, s->url);
    if (rc == 0 && s->backfill_min > 0 && s->connected_before &&
        !es__feed_url_has_param(s->url, "backfill_minutes")) {
        char v[8];
        snprintf(v, sizeof v, "%d", s->backfill_min);
        rc = es__feed_url_add(&u, "backfill_minutes", v, strlen(v));
    }
    if (rc == 0) {
        es_http_opts o = {
            .url = u.data,
            .headers = (const char *const *)s->hdrs.v,
            .n_headers = s->hdrs.n,
            .connect_timeout_ms = s->connect_ms,
            .on_response = on_response,
            .on_data = on_data,
            .on_done = on_done,
            .ud = s,
        };
        rc = es_http_start(es_feed_http(s->f), &o, &s->req);
        s->last_byte = (int64_t)uv_now(es_feed_loop(s->f));
    }
    es_buf_free(&u);
    if (rc != 0) {
        s->req = NULL;
        es_feed_error(s->f, "cannot start the stream: %s", es_strerror(rc));
        schedule_reconnect(s, es_feed_backoff(s->f, ES_BACKOFF_NETWORK, -1, NULL));
    }
}

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
    int rc = es__feed_url_option(f, item, "url", true, &s->url, err);
    rc = rc ? rc : es__feed_headers_init(f, item, &s->hdrs, err);
    if (rc != 0) {
        nd_destroy(s);
        return rc;
    }
    s->connect_ms = es_config_item_int(item, "connect_timeout");
    s->read_ms = es_config_item_int(item, "read_timeout");
    s->backfill_min = (int)es_config_item_int(item, "backfill_minutes");
    uv_timer_init(es_feed_loop(f), &s->retry);
    uv_timer_init(es_feed_loop(f), &s->watch);
    s->retry.data = s;
    s->watch.data = s;
    s->open_handles = 2;
    *state = s;
    return 0;
}

static int nd_start(void *state)
{
    nd_feed *s = state;
    if (!s->running) {
        s->running = true;
        int64_t tick = s->read_ms / 4;
        tick = tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
        uv_timer_start(&s->watch, on_watch, (uint64_t)tick, (uint64_t)tick);
        connect_stream(s);
    }
    return 0;
}

static void nd_stop(void *state)
{
    nd_feed *s = state;
    if (!s->running) {
        return;
    }
    s->running = false;
    uv_timer_stop(&s->retry);
    uv_timer_stop(&s->watch);
    if (s->req != NULL) {
        es_http_cancel(s->req);
        s->req = NULL;
        end_stream(s);
    }
    s->paused = false;
    if (s->ok) {
        s->ok = false;
        es_feed_set_connected(s->f, false);
    }
}

static void nd_resume(void *state)
{
    nd_feed *s = state;
    if (s->paused && s->req != NULL) {
        s->paused = false;
        s->last_byte = (int64_t)uv_now(es_feed_loop(s->f));
        es_http_resume(s->req);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    nd_feed *s = h->data;
    if (--s->open_handles == 0) {
        es_feed_closed(s->f);
    }
}

static void nd_close(void *state)
{
    nd_feed *s = state;
    nd_stop(s);
    s->closing = true;
    ES_LOG_DEBUG(es_feed_comp(s->f), "closing: %llu keep-alives, %llu lines cut by disconnects",
                 (unsigned long long)s->keepalives, (unsigned long long)s->cut_lines);
    uv_close((uv_handle_t *)&s->retry, on_handle_closed);
    uv_close((uv_handle_t *)&s->watch, on_handle_closed);
}

static void nd_destroy(void *state)
{
    nd_feed *s = state;
    if (s == NULL) {
        return;
    }
    es_buf_free(&s->tail);
    es__feed_headers_free(&s->hdrs);
    free(s->url);
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
