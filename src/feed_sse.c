/*
 * The `sse` feed: server-sent events, such as Mastodon's streaming API
 * (GET /api/v1/streaming/hashtag?tag=acme).
 *
 *   - Events named in `events:` (update and status.update by default)
 *     carry one mention document each (a Mastodon status: format mastodon
 *     unless the config says otherwise). `delete` events are counted and
 *     logged at debug level: a deleted post is not a mention. Other events
 *     and heartbeat comments (":thump") only prove the stream is alive.
 *   - The connection carries "Authorization: Bearer" from token_env or
 *     token_file, and Last-Event-ID once the server has sent ids, so a
 *     server that keeps history can replay what we missed.
 *   - Any failure reconnects on the host's backoff schedules (network,
 *     HTTP error, 429 with Retry-After); a stream that sends nothing, not
 *     even a heartbeat, for read_timeout is a failure. A `retry:` from the
 *     server lengthens network-error delays to at least its value.
 *   - Gap fill. Mastodon streams have no replay, so after a reconnect (and
 *     at start, from the saved cursor) the feed GETs `catchup_url` (the
 *     REST tag timeline) with min_id = the newest status id already
 *     processed, page after page while pages come back full, and hands
 *     the statuses to the host, which drops the ones the stream also
 *     brought. Nothing is missed and nothing is repeated.
 *
 * The cursor is "id=<newest status id processed>\nevent=<last event id>".
 * It only moves past mentions the host has processed; while a gap fill is
 * running it stays at the gap fill's progress, so a crash mid-fill redoes
 * the fill rather than skipping the rest of the gap.
 *
 * Event data goes to the host's one long-lived decoder (one document per
 * event, each followed by a newline) so nothing is allocated per event.
 * An event whose data is not one complete JSON object or array is handed
 * over on its own instead, so a half object cannot swallow the events
 * after it; the host counts and logs it as bad.
 *
 * The connection lifecycle (reconnects, the read timeout, backpressure) is
 * feed_stream.c's; this file is SSE, the cursor and the gap fill.
 */
#include "feed_stream.h"
#include "log.h"
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_MAX_EVENT (1u << 20)
#define SSE_ID_MAX 128
/* Gap fill: statuses per page (Mastodon's maximum) and pages per gap. */
#define SSE_CATCHUP_LIMIT 40
#define SSE_CATCHUP_MAX_PAGES 100
/* Failed gap-fill requests before the gap is given up on. */
#define SSE_CATCHUP_MAX_TRIES 5
#define SSE_MAX_EVENTS_OPT 16

typedef struct sse_feed {
    es_feed *f;
    es_feed_stream st; /* st.hdrs: the fixed ones first, then per-connection ones */
    char *catchup_url;
    size_t n_fixed;
    char *events[SSE_MAX_EVENTS_OPT];
    size_t n_events;
    es_sse p;
    es_http_req *cu; /* a gap-fill page */
    uv_timer_t cu_retry;
    int host_rc;
    /* Ids: the newest status the stream brought, the one the cursor holds. */
    char newest[SSE_ID_MAX];
    char durable[SSE_ID_MAX];
    char saved[SSE_ID_MAX + ES_SSE_MAX_ID + 16];
    /* Gap fill. */
    bool cu_wanted, cu_active, in_cu;
    char cu_from[SSE_ID_MAX];
    char cu_newest[SSE_ID_MAX];
    int cu_pages, cu_tries;
    uint64_t cu_mentions, cu_new;
    /* Counters for logs. */
    uint64_t deletes, ignored;
} sse_feed;

static void catchup_request(sse_feed *s);

/* ---- Ids and the cursor ----------------------------------------------------- */

static bool id_newer(const char *cand, size_t n, const char *than)
{
    return than[0] == '\0' || es__feed_id_cmp(cand, n, than, strlen(than)) > 0;
}

static void id_take(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void save_cursor(sse_feed *s)
{
    char cur[sizeof s->saved];
    snprintf(cur, sizeof cur, "id=%s\nevent=%.*s", s->durable, (int)s->p.id_len, s->p.id);
    if (strcmp(cur, s->saved) == 0) {
        return;
    }
    int rc = es_feed_cursor_save(s->f, cur);
    if (rc != 0) {
        es_feed_error(s->f, "cannot save the cursor: %s", es_strerror(rc));
        return;
    }
    memcpy(s->saved, cur, sizeof cur);
}

/* The stream's progress becomes the cursor, unless a gap fill holds it. */
static void advance(sse_feed *s)
{
    if (!s->cu_active && id_newer(s->newest, strlen(s->newest), s->durable)) {
        memcpy(s->durable, s->newest, sizeof s->durable);
    }
    save_cursor(s);
}

static void load_cursor(sse_feed *s)
{
    char cur[ES_FEED_CURSOR_MAX];
    if (es_feed_cursor_load(s->f, cur, sizeof cur) != 1) {
        return;
    }
    for (char *line = cur; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        size_t n = strlen(line);
        if (strncmp(line, "id=", 3) == 0 && n - 3 < SSE_ID_MAX) {
            id_take(s->durable, line + 3, n - 3);
            memcpy(s->newest, s->durable, sizeof s->newest);
        } else if (strncmp(line, "event=", 6) == 0 && n - 6 < ES_SSE_MAX_ID) {
            id_take(s->p.id, line + 6, n - 6);
            s->p.id_len = n - 6;
            memcpy(s->p.id_buf, s->p.id, s->p.id_len);
            s->p.id_buf_len = s->p.id_len;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    snprintf(s->saved, sizeof s->saved, "id=%s\nevent=%.*s", s->durable, (int)s->p.id_len,
             s->p.id);
    if (s->durable[0] != '\0' || s->p.id_len > 0) {
        ES_LOG_INFO(es_feed_comp(s->f), "resuming after status %s%s%.*s",
                    s->durable[0] != '\0' ? s->durable : "(none)",
                    s->p.id_len > 0 ? ", last event id " : "", (int)s->p.id_len, s->p.id);
    }
}

/* Every mention decoded from this feed, stream or gap fill, before dedup. */
static void sse_seen(void *state, const es_mention *m)
{
    sse_feed *s = state;
    if (m->id.ptr == NULL || m->id.len == 0 || m->id.len >= SSE_ID_MAX) {
        return;
    }
    char *dst = s->in_cu ? s->cu_newest : s->newest;
    if (id_newer(m->id.ptr, m->id.len, dst)) {
        id_take(dst, m->id.ptr, m->id.len);
    }
}

/* ---- Gap fill ---------------------------------------------------------------- */

static void catchup_finish(sse_feed *s, const char *how)
{
    s->cu_active = false;
    if (id_newer(s->cu_newest, strlen(s->cu_newest), s->durable)) {
        memcpy(s->durable, s->cu_newest, sizeof s->durable);
    }
    ES_LOG_INFO(es_feed_comp(s->f), "gap fill %s: %llu statuses in %d page%s, %llu new", how,
                (unsigned long long)s->cu_mentions, s->cu_pages, s->cu_pages == 1 ? "" : "s",
                (unsigned long long)s->cu_new);
    advance(s);
    if (s->cu_wanted && s->st.ok) {
        /* The stream dropped again while we were filling: go again. */
        s->cu_wanted = false;
        s->cu_active = true;
        memcpy(s->cu_from, s->durable, sizeof s->cu_from);
        memcpy(s->cu_newest, s->durable, sizeof s->cu_newest);
        s->cu_pages = 0;
        s->cu_mentions = s->cu_new = 0;
        catchup_request(s);
    }
}

static void catchup_start(sse_feed *s)
{
    s->cu_wanted = false;
    if (s->catchup_url == NULL || s->durable[0] == '\0' || s->cu_active || s->st.closing) {
        return;
    }
    s->cu_active = true;
    memcpy(s->cu_from, s->durable, sizeof s->cu_from);
    memcpy(s->cu_newest, s->durable, sizeof s->cu_newest);
    s->cu_pages = 0;
    s->cu_tries = 0;
    s->cu_mentions = s->cu_new = 0;
    ES_LOG_INFO(es_feed_comp(s->f), "filling the gap after status %s", s->cu_from);
    catchup_request(s);
}

static void on_cu_retry(uv_timer_t *t)
{
    sse_feed *s = t->data;
    if (s->st.running && !s->st.closing && s->cu_active && s->cu == NULL) {
        catchup_request(s);
    }
}

static void on_cu_done(void *ud, es_http_req *req, const es_http_result *r)
{
    sse_feed *s = ud;
    s->cu = NULL;
    if (s->st.closing || !s->st.running || r->code == ES_ECLOSED) {
        s->cu_active = false;
        return;
    }
    if (r->code == 0 && r->status >= 200 && r->status <= 299) {
        es_feed_doc_result res;
        s->in_cu = true;
        int rc = es_feed_deliver_doc(s->f, r->body, r->body_len, 0, &res);
        s->in_cu = false;
        if (rc == 0) {
            s->cu_tries = 0;
            s->cu_pages++;
            s->cu_mentions += res.mentions;
            s->cu_new += res.mentions - res.duplicate;
            bool progressed = id_newer(s->cu_newest, strlen(s->cu_newest), s->cu_from);
            if (progressed) {
                /* Every status up to cu_newest is processed: the cursor may
                 * move there even though the fill goes on. */
                if (id_newer(s->cu_newest, strlen(s->cu_newest), s->durable)) {
                    memcpy(s->durable, s->cu_newest, sizeof s->durable);
                }
                save_cursor(s);
            }
            bool full = res.mentions + res.bad >= SSE_CATCHUP_LIMIT;
            if (full && progressed && s->cu_pages < SSE_CATCHUP_MAX_PAGES) {
                memcpy(s->cu_from, s->cu_newest, sizeof s->cu_from);
                catchup_request(s);
                return;
            }
            catchup_finish(s, full && progressed ? "stopped at its page limit" : "done");
            return;
        }
        es_feed_error(s->f, "gap fill: cannot process mentions: %s", es_strerror(rc));
    } else {
        es_feed_failure fl;
        es__feed_failure(s->f, req, r, NULL, 0, &fl);
        es_feed_error(s->f, "gap fill from %s: %s", s->catchup_url, fl.why);
    }
    if (++s->cu_tries >= SSE_CATCHUP_MAX_TRIES) {
        es_feed_error(s->f, "gap fill failed %d times; statuses after %s may be missing",
                      s->cu_tries, s->cu_from);
        /* Give up on the gap so the cursor follows the stream again. */
        memcpy(s->cu_newest, s->newest, sizeof s->cu_newest);
        catchup_finish(s, "given up");
        return;
    }
    es_backoff_kind kind = r->code == 0 ? es_backoff_kind_for_status(r->status) : ES_BACKOFF_NETWORK;
    int64_t ra = r->code == 0 ? es_http_retry_after(req, es_feed_now(s->f)) : -1;
    int64_t d = es_backoff_delay(kind, s->cu_tries, (uint64_t)(uintptr_t)s, ra);
    ES_LOG_INFO(es_feed_comp(s->f), "gap fill: next try in %.1f s", (double)d / 1000.0);
    uv_timer_start(&s->cu_retry, on_cu_retry, (uint64_t)d, 0);
}

static void catchup_request(sse_feed *s)
{
    es_buf u;
    es_buf_init(&u, 8192);
    int rc = es_buf_adds(&u, s->catchup_url);
    rc = rc ? rc : es__feed_url_add(&u, "min_id", s->cu_from, strlen(s->cu_from));
    if (rc == 0 && !es__feed_url_has_param(s->catchup_url, "limit")) {
        char lim[16];
        snprintf(lim, sizeof lim, "%d", SSE_CATCHUP_LIMIT);
        rc = es__feed_url_add(&u, "limit", lim, strlen(lim));
    }
    if (rc == 0) {
        es_http_opts o = {
            .url = u.data,
            .headers = (const char *const *)s->st.hdrs.v,
            .n_headers = s->n_fixed,
            .connect_timeout_ms = s->st.connect_ms,
            .timeout_ms = 60000,
            .max_body = 16u << 20,
            .on_done = on_cu_done,
            .ud = s,
        };
        rc = es_http_start(es_feed_http(s->f), &o, &s->cu);
    }
    es_buf_free(&u);
    if (rc != 0) {
        es_feed_error(s->f, "gap fill: cannot start a request: %s", es_strerror(rc));
        s->cu_active = false;
    }
}

/* ---- The stream ----------------------------------------------------------------- */

/*
 * Is the data one complete JSON object or array (by its brackets, outside
 * strings)? Only then can it share the long-lived decoder; anything else
 * is decoded on its own so it cannot disturb the events after it.
 */
static bool whole_json(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) {
        i++;
    }
    if (i == n || (p[i] != '{' && p[i] != '[')) {
        return false;
    }
    int depth = 0;
    bool in_str = false;
    for (; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                /* Only whitespace may follow. */
                for (i++; i < n; i++) {
                    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
                        return false;
                    }
                }
                return true;
            }
        }
    }
    return false;
}

static bool carries_mentions(const sse_feed *s, es_str name)
{
    for (size_t i = 0; i < s->n_events; i++) {
        if (strlen(s->events[i]) == name.len && memcmp(s->events[i], name.ptr, name.len) == 0) {
            return true;
        }
    }
    return false;
}

static int on_event(void *ud, const es_sse_event *ev)
{
    sse_feed *s = ud;
    if (ev->too_big) {
        es_feed_error(s->f, "dropped an event of more than %u bytes", SSE_MAX_EVENT);
        return 0;
    }
    if (carries_mentions(s, ev->name)) {
        int rc;
        if (ev->data.len == 0) {
            s->ignored++;
            return 0;
        }
        if (whole_json(ev->data.ptr, ev->data.len)) {
            rc = es_feed_deliver(s->f, ev->data.ptr, ev->data.len);
            rc = rc ? rc : es_feed_deliver(s->f, "\n", 1);
        } else {
            es_feed_doc_result res;
            rc = es_feed_deliver_doc(s->f, ev->data.ptr, ev->data.len, 0, &res);
        }
        if (rc < 0) {
            s->host_rc = rc;
            return rc;
        }
    } else if (ev->name.len == 6 && memcmp(ev->name.ptr, "delete", 6) == 0) {
        /* A deleted post is not a mention; an alert already sent for it
         * stays sent. Logged so an operator can see deletions happen. */
        s->deletes++;
        ES_LOG_DEBUG(es_feed_comp(s->f), "status %.*s was deleted", (int)(ev->data.len > 64 ? 64 : ev->data.len),
                     ev->data.ptr);
    } else {
        s->ignored++;
    }
    return 0;
}

/* Per connection: Accept, and Last-Event-ID once the server has sent ids
 * (a server that keeps history replays what we missed). */
static int sse_prepare(void *ud, es_buf *url)
{
    sse_feed *s = ud;
    (void)url; /* the configured URL as it is */
    es__feed_headers_truncate(&s->st.hdrs, s->n_fixed);
    int rc = es__feed_headers_add(&s->st.hdrs, "Accept: text/event-stream");
    rc = rc ? rc : es__feed_headers_add(&s->st.hdrs, "Cache-Control: no-cache");
    if (rc == 0 && s->p.id_len > 0) {
        char h[ES_SSE_MAX_ID + 32];
        snprintf(h, sizeof h, "Last-Event-ID: %.*s", (int)s->p.id_len, s->p.id);
        rc = es__feed_headers_add(&s->st.hdrs, h);
    }
    return rc;
}

static void sse_opened(void *ud)
{
    sse_feed *s = ud;
    es_sse_reset(&s->p);
    if (s->cu_wanted) {
        catchup_start(s);
    }
}

static int sse_data(void *ud, const char *p, size_t n)
{
    sse_feed *s = ud;
    s->host_rc = 0;
    int rc = es_sse_feed(&s->p, p, n, on_event, s);
    if (rc != 0) {
        es_feed_error(s->f, "cannot process mentions: %s", es_strerror(s->host_rc ? s->host_rc : rc));
        return s->host_rc ? s->host_rc : ES_EIO;
    }
    advance(s);
    return es__feed_stream_backpressure(&s->st);
}

/* A half-received event is dropped: the cursor is still before it. */
static void sse_ended(void *ud)
{
    sse_feed *s = ud;
    es_sse_reset(&s->p);
    (void)es_feed_deliver_end(s->f);
}

/*
 * The stream went down: keep the cursor, want a gap fill for what the
 * reconnect misses, and wait at least the server's `retry:` before a
 * reconnect after a network error.
 */
static int64_t sse_down(void *ud, const es_feed_failure *fl)
{
    sse_feed *s = ud;
    advance(s);
    if (s->catchup_url != NULL && s->durable[0] != '\0') {
        s->cu_wanted = true;
    }
    return fl->kind == ES_BACKOFF_NETWORK ? s->p.retry_ms : 0;
}

static const es_feed_stream_ops sse_stream_ops = {
    .idle_signal = "heartbeat",
    .prepare = sse_prepare,
    .opened = sse_opened,
    .data = sse_data,
    .ended = sse_ended,
    .down = sse_down,
};

/* ---- The vtable ------------------------------------------------------------------- */

static void sse_destroy(void *state);

static int sse_init(es_feed *f, const es_config_item *item, void **state, es_error *err)
{
    sse_feed *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    s->f = f;
    es_sse_init(&s->p, SSE_MAX_EVENT);
    int rc = es__feed_stream_init(&s->st, f, item, &sse_stream_ops, s, err);
    rc = rc ? rc : es__feed_url_option(f, item, "catchup_url", false, &s->catchup_url, err);
    rc = rc ? rc : es__feed_headers_init(f, item, &s->st.hdrs, err);
    if (rc != 0) {
        sse_destroy(s);
        return rc;
    }
    s->n_fixed = s->st.hdrs.n;
    const es_config_value *ev = es_config_item_get(item, "events");
    for (size_t i = 0; ev != NULL && ev->has && i < ev->n_list; i++) {
        if (s->n_events == SSE_MAX_EVENTS_OPT) {
            sse_destroy(s);
            return es_error_set(err, ES_ECONFIG, ev->line, ev->col,
                                "feed '%s': at most %d event names", es_feed_name(f),
                                SSE_MAX_EVENTS_OPT);
        }
        if ((s->events[s->n_events] = strdup(ev->list[i])) == NULL) {
            sse_destroy(s);
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
        s->n_events++;
    }
    /* Mastodon is what speaks SSE; a config that says nothing means it. */
    const es_config_value *fmt = es_config_item_get(item, "format");
    if (fmt == NULL || !fmt->set) {
        es_feed_set_format(f, ES_FORMAT_MASTODON);
    }
    es__feed_stream_timers(&s->st);
    uv_timer_init(es_feed_loop(f), &s->cu_retry);
    s->cu_retry.data = s;
    *state = s;
    return 0;
}

static int sse_start(void *state)
{
    sse_feed *s = state;
    if (s->st.running) {
        return 0;
    }
    load_cursor(s);
    /* After a restart the stream cannot say what we missed while down. */
    s->cu_wanted = s->catchup_url != NULL && s->durable[0] != '\0';
    es__feed_stream_start(&s->st);
    return 0;
}

static void sse_stop(void *state)
{
    sse_feed *s = state;
    if (!s->st.running) {
        return;
    }
    es__feed_stream_stop(&s->st);
    uv_timer_stop(&s->cu_retry);
    if (s->cu != NULL) {
        es_http_cancel(s->cu);
        s->cu = NULL;
    }
    /* An unfinished gap fill keeps the cursor where the fill got to. */
    if (s->cu_active) {
        save_cursor(s);
    } else {
        advance(s);
    }
    s->cu_active = false;
}

static void sse_resume(void *state)
{
    sse_feed *s = state;
    es__feed_stream_resume(&s->st);
}

static void sse_close(void *state)
{
    sse_feed *s = state;
    sse_stop(s);
    ES_LOG_DEBUG(es_feed_comp(s->f),
                 "closing: %llu events, %llu heartbeats, %llu deletes, %llu ignored, %llu too big",
                 (unsigned long long)s->p.events, (unsigned long long)s->p.comments,
                 (unsigned long long)s->deletes, (unsigned long long)s->ignored,
                 (unsigned long long)s->p.dropped);
    es__feed_stream_close(&s->st, (uv_handle_t *)&s->cu_retry);
}

static void sse_destroy(void *state)
{
    sse_feed *s = state;
    if (s == NULL) {
        return;
    }
    es_sse_free(&s->p);
    es__feed_stream_free(&s->st);
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i]);
    }
    free(s->catchup_url);
    free(s);
}

const es_feed_type es_feed_type_sse = {
    .name = "sse",
    .help = "server-sent events (Mastodon streaming), with gap fill after reconnects",
    .init = sse_init,
    .start = sse_start,
    .stop = sse_stop,
    .resume = sse_resume,
    .seen = sse_seen,
    .close = sse_close,
    .destroy = sse_destroy,
};
