/* The connection lifecycle shared by the stream feeds. See feed_stream.h. */
#include "feed_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The URL of one connection, when the type adds to the configured one. */
#define STREAM_URL_MAX 16384

static void connect_stream(es_feed_stream *st);

static int64_t loop_now(const es_feed_stream *st)
{
    return (int64_t)uv_now(es_feed_loop(st->f));
}

static int on_response(void *ud, es_http_req *req)
{
    es_feed_stream *st = ud;
    long status = es_http_status(req);
    st->last_byte = loop_now(st);
    st->err_len = 0;
    st->err_body[0] = '\0';
    /* X's filtered stream answers every connect (and its 429s) with the
     * window's budget; it shows in /metrics like a poll feed's. */
    int64_t remaining, reset;
    if (es_http_rate_limit(req, es_feed_now(st->f), &remaining, &reset)) {
        es_feed_set_rate_limit(st->f, remaining);
    }
    st->ok = status >= 200 && status <= 299;
    if (st->ok) {
        es_feed_set_connected(st->f, true);
        if (st->ops->opened != NULL) {
            st->ops->opened(st->ud);
        }
    }
    return 0;
}

static int on_data(void *ud, es_http_req *req, const char *p, size_t n)
{
    es_feed_stream *st = ud;
    (void)req;
    st->last_byte = loop_now(st);
    if (!st->ok) {
        /* An error response: keep its start for the log line only. */
        es__feed_snippet(st->err_body, sizeof st->err_body, &st->err_len, p, n);
        return 0;
    }
    return st->ops->data(st->ud, p, n);
}

int es__feed_stream_backpressure(es_feed_stream *st)
{
    if (es_feed_should_pause(st->f)) {
        st->paused = true;
        return ES_HTTP_PAUSE;
    }
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    es_feed_stream *st = t->data;
    if (st->running && !st->closing && st->req == NULL) {
        connect_stream(st);
    }
}

static void schedule_reconnect(es_feed_stream *st, int64_t d)
{
    if (!st->closing) {
        uv_timer_start(&st->retry, on_retry, (uint64_t)(d < 0 ? 0 : d), 0);
    }
}

/*
 * The stream is over (it ended, failed, or went quiet): the type drops a
 * half record, and we come back after the backoff. `clean` is a stream the
 * server closed after a 2xx: worth a reconnect, not an error.
 */
static void stream_down(es_feed_stream *st, bool was_ok, const es_feed_failure *fl, bool clean)
{
    st->req = NULL;
    st->ok = false;
    st->paused = false;
    st->ops->ended(st->ud);
    if (st->closing || !st->running) {
        return;
    }
    int64_t least = st->ops->down != NULL ? st->ops->down(st->ud, fl) : 0;
    if (was_ok) {
        es_feed_set_connected(st->f, false);
    }
    if (!clean) {
        es_feed_error(st->f, "%s", fl->why);
    }
    int64_t d = es_feed_backoff(st->f, fl->kind, fl->retry_after_ms, clean ? fl->why : NULL);
    if (least > d) {
        d = least;
    }
    schedule_reconnect(st, d);
}

static void on_done(void *ud, es_http_req *req, const es_http_result *r)
{
    es_feed_stream *st = ud;
    bool was_ok = st->ok;
    if (r->code == ES_ECLOSED) {
        st->req = NULL;
        return;
    }
    es_feed_failure fl;
    es__feed_failure(st->f, req, r, st->err_body, st->err_len, &fl);
    bool clean = was_ok && r->code == 0;
    if (clean) {
        snprintf(fl.why, sizeof fl.why, "the server closed the stream");
    }
    stream_down(st, was_ok, &fl, clean);
}

/* The read timeout (see feed_stream.h for why it is ours, not libcurl's). */
static void on_watch(uv_timer_t *t)
{
    es_feed_stream *st = t->data;
    if (st->req == NULL || st->paused || st->closing) {
        return;
    }
    if (loop_now(st) - st->last_byte < st->read_ms) {
        return;
    }
    bool was_ok = st->ok;
    es_http_cancel(st->req);
    es_feed_failure fl = {.kind = ES_BACKOFF_NETWORK, .retry_after_ms = -1};
    snprintf(fl.why, sizeof fl.why, "nothing, not even a %s, for %.1f s", st->ops->idle_signal,
             (double)st->read_ms / 1000.0);
    stream_down(st, was_ok, &fl, false);
}

static void connect_stream(es_feed_stream *st)
{
    es_buf u;
    es_buf_init(&u, STREAM_URL_MAX);
    int rc = st->ops->prepare != NULL ? st->ops->prepare(st->ud, &u) : 0;
    if (rc == 0) {
        es_http_opts o = {
            .url = u.len > 0 ? u.data : st->url,
            .headers = (const char *const *)st->hdrs.v,
            .n_headers = st->hdrs.n,
            .connect_timeout_ms = st->connect_ms,
            .on_response = on_response,
            .on_data = on_data,
            .on_done = on_done,
            .ud = st,
        };
        rc = es_http_start(es_feed_http(st->f), &o, &st->req);
        st->last_byte = loop_now(st);
    }
    es_buf_free(&u);
    if (rc != 0) {
        st->req = NULL;
        es_feed_error(st->f, "cannot start the stream: %s", es_strerror(rc));
        schedule_reconnect(st, es_feed_backoff(st->f, ES_BACKOFF_NETWORK, -1, NULL));
    }
}

int es__feed_stream_init(es_feed_stream *st, es_feed *f, const es_config_item *item,
                         const es_feed_stream_ops *ops, void *ud, es_error *err)
{
    memset(st, 0, sizeof *st);
    st->f = f;
    st->ops = ops;
    st->ud = ud;
    st->connect_ms = es_config_item_int(item, "connect_timeout");
    st->read_ms = es_config_item_int(item, "read_timeout");
    return es__feed_url_option(f, item, "url", true, &st->url, err);
}

void es__feed_stream_timers(es_feed_stream *st)
{
    uv_timer_init(es_feed_loop(st->f), &st->retry);
    uv_timer_init(es_feed_loop(st->f), &st->watch);
    st->retry.data = st;
    st->watch.data = st;
    st->open_handles = 2;
}

void es__feed_stream_free(es_feed_stream *st)
{
    es__feed_headers_free(&st->hdrs);
    free(st->url);
    st->url = NULL;
}

void es__feed_stream_start(es_feed_stream *st)
{
    if (st->running) {
        return;
    }
    st->running = true;
    /* Check a few times per timeout, so a dead stream is noticed within
     * about a quarter of read_timeout of the deadline. */
    int64_t tick = st->read_ms / 4;
    tick = tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
    uv_timer_start(&st->watch, on_watch, (uint64_t)tick, (uint64_t)tick);
    connect_stream(st);
}

void es__feed_stream_stop(es_feed_stream *st)
{
    if (!st->running) {
        return;
    }
    st->running = false;
    uv_timer_stop(&st->retry);
    uv_timer_stop(&st->watch);
    if (st->req != NULL) {
        es_http_cancel(st->req);
        st->req = NULL;
        st->ops->ended(st->ud);
    }
    st->paused = false;
    if (st->ok) {
        st->ok = false;
        es_feed_set_connected(st->f, false);
    }
}

void es__feed_stream_resume(es_feed_stream *st)
{
    if (st->paused && st->req != NULL) {
        st->paused = false;
        st->last_byte = loop_now(st);
        es_http_resume(st->req);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    es_feed_stream *st = h->data;
    if (--st->open_handles == 0) {
        es_feed_closed(st->f);
    }
}

void es__feed_stream_close(es_feed_stream *st, uv_handle_t *extra)
{
    st->closing = true;
    uv_close((uv_handle_t *)&st->retry, on_handle_closed);
    uv_close((uv_handle_t *)&st->watch, on_handle_closed);
    if (extra != NULL) {
        st->open_handles++;
        extra->data = st;
        uv_close(extra, on_handle_closed);
    }
}
