/*
 * The `poll` feed: GET a JSON API every `interval`, carrying a cursor so
 * each poll asks only for what is new.
 *
 * Presets (one row each in the table below) know each platform's cursor
 * and paging:
 *
 *   mastodon-tag  min_id = the newest status id; a full page is followed
 *                 at once by the next (min_id pages forward in time).
 *   reddit        before = the newest fullname ("t3_..."); pages forward
 *                 the same way.
 *   hn            numericFilters=created_at_i>T, T one second before the
 *                 newest hit (hits of that second are fetched again and
 *                 dropped as duplicates, so late-indexed ones are not
 *                 missed); pages are numbered, newest first.
 *   bluesky       since = the newest createdAt (inclusive), sort=latest;
 *                 pages through the response's `cursor`, newest first.
 *   jsonfeed      no cursor: seen item ids (the host's dedup) say what is
 *                 new; conditional GET with ETag / Last-Modified; follows
 *                 next_url while every item on a page is new.
 *   none          the URL as given, plus `cursor_param` = the newest id
 *                 if configured.
 *
 * Pages per poll are bounded. The cursor is saved only after the mentions
 * it covers were processed: after each page for forward paging, after the
 * last page for newest-first paging (a crash mid-poll redoes the poll; the
 * host drops the repeats). X-RateLimit-Remaining: 0 (also Reddit's
 * X-Ratelimit-* and X's x-rate-limit-*) holds the next request until the
 * reset time; 429 and other failures back off on the host's schedules,
 * honouring Retry-After.
 *
 * The cursor is "v=<value>" plus, for jsonfeed, "etag=" and "lm=" lines.
 */
#include "feed_net.h"
#include "log.h"
#include "timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define POLL_MAX_PAGES 10
#define POLL_VALUE_MAX 256
#define POLL_TOKEN_MAX 2048

typedef enum { CUR_NONE, CUR_ID, CUR_SECONDS, CUR_TIME } cur_kind;
typedef enum { PAGE_NONE, PAGE_FORWARD, PAGE_NUMBER, PAGE_TOKEN, PAGE_NEXT_URL } page_kind;

typedef struct poll_preset {
    const char *name;
    es_format format;
    cur_kind cursor;
    const char *cursor_param;
    const char *cursor_prefix; /* written before the value: "created_at_i>" */
    const char *limit_param;
    int page_size;
    page_kind paging;
    const char *page_param; /* PAGE_NUMBER, PAGE_TOKEN: the query parameter */
    const char *body_key;   /* PAGE_TOKEN, PAGE_NEXT_URL: the response's key */
    const char *fixed;      /* a parameter always sent: "sort=latest" */
} poll_preset;

/* clang-format off */
static const poll_preset presets[] = {
    {"none",         ES_FORMAT_AUTO,     CUR_ID,      NULL,             "",              "limit",
     0,   PAGE_FORWARD,  NULL,     NULL,       NULL},
    {"mastodon-tag", ES_FORMAT_MASTODON, CUR_ID,      "min_id",         "",              "limit",
     40,  PAGE_FORWARD,  NULL,     NULL,       NULL},
    {"reddit",       ES_FORMAT_REDDIT,   CUR_ID,      "before",         "",              "limit",
     100, PAGE_FORWARD,  NULL,     NULL,       NULL},
    {"hn",           ES_FORMAT_HN,       CUR_SECONDS, "numericFilters", "created_at_i>", "hitsPerPage",
     100, PAGE_NUMBER,   "page",   NULL,       NULL},
    {"bluesky",      ES_FORMAT_BLUESKY,  CUR_TIME,    "since",          "",              "limit",
     100, PAGE_TOKEN,    "cursor", "cursor",   "sort=latest"},
    {"jsonfeed",     ES_FORMAT_JSONFEED, CUR_NONE,    NULL,             "",              NULL,
     0,   PAGE_NEXT_URL, NULL,     "next_url", NULL},
};
/* clang-format on */

typedef struct poll_feed {
    es_feed *f;
    const poll_preset *pre;
    char *url;
    char *cursor_param; /* the preset's, or the config's */
    char *user_agent;
    es_feed_headers hdrs;
    size_t n_fixed;
    int page_size;
    int64_t interval_ms, timeout_ms;
    es_http_req *req;
    uv_timer_t timer;
    int open_handles;
    bool running, closing;
    /* The cursor in force (what the next poll asks from). */
    char cur[POLL_VALUE_MAX];
    char etag[POLL_VALUE_MAX], lm[POLL_VALUE_MAX];
    char saved[3 * POLL_VALUE_MAX + 16];
    /* This poll. */
    int page;
    bool had_cursor;          /* the poll started from a cursor */
    char best[POLL_VALUE_MAX]; /* newest cursor value seen so far */
    int64_t best_ms;           /* CUR_SECONDS / CUR_TIME: as a time */
    char token[POLL_TOKEN_MAX];
    int64_t poll_started, hold_until;
    uint64_t poll_new;
} poll_feed;

static void poll_send(poll_feed *s);

/* ---- The cursor --------------------------------------------------------------- */

static void save_cursor(poll_feed *s)
{
    char c[sizeof s->saved];
    int n = snprintf(c, sizeof c, "v=%s", s->cur);
    if (s->etag[0] != '\0') {
        n += snprintf(c + n, sizeof c - (size_t)n, "\netag=%s", s->etag);
    }
    if (s->lm[0] != '\0') {
        snprintf(c + n, sizeof c - (size_t)n, "\nlm=%s", s->lm);
    }
    if (strcmp(c, s->saved) == 0) {
        return;
    }
    int rc = es_feed_cursor_save(s->f, c);
    if (rc != 0) {
        es_feed_error(s->f, "cannot save the cursor: %s", es_strerror(rc));
        return;
    }
    memcpy(s->saved, c, sizeof c);
}

static void take(char *dst, size_t cap, const char *p, size_t n)
{
    if (n >= cap) {
        n = 0; /* too long to be a cursor we wrote: ignore */
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static void load_cursor(poll_feed *s)
{
    char c[ES_FEED_CURSOR_MAX];
    if (es_feed_cursor_load(s->f, c, sizeof c) != 1) {
        return;
    }
    take(s->saved, sizeof s->saved, c, strlen(c));
    for (char *line = c; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        if (strncmp(line, "v=", 2) == 0) {
            take(s->cur, sizeof s->cur, line + 2, strlen(line + 2));
        } else if (strncmp(line, "etag=", 5) == 0) {
            take(s->etag, sizeof s->etag, line + 5, strlen(line + 5));
        } else if (strncmp(line, "lm=", 3) == 0) {
            take(s->lm, sizeof s->lm, line + 3, strlen(line + 3));
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    if (s->cur[0] != '\0') {
        ES_LOG_INFO(es_feed_comp(s->f), "resuming from %s=%s",
                    s->cursor_param != NULL ? s->cursor_param : "cursor", s->cur);
    }
}

/* Every mention decoded from a response, before dedup: track the newest. */
static void poll_seen(void *state, const es_mention *m)
{
    poll_feed *s = state;
    switch (s->pre->cursor) {
    case CUR_ID:
        if (m->id.ptr != NULL && m->id.len > 0 && m->id.len < sizeof s->best &&
            (s->best[0] == '\0' ||
             es__feed_id_cmp(m->id.ptr, m->id.len, s->best, strlen(s->best)) > 0)) {
            take(s->best, sizeof s->best, m->id.ptr, m->id.len);
        }
        break;
    case CUR_SECONDS:
    case CUR_TIME:
        if (m->created_ms != ES_TIME_UNKNOWN && m->created_ms > s->best_ms) {
            s->best_ms = m->created_ms;
            if (s->pre->cursor == CUR_SECONDS) {
                /* One second back: see the preset notes above. */
                snprintf(s->best, sizeof s->best, "%" PRId64,
                         (m->created_ms >= 0 ? m->created_ms / 1000 : 0) - 1);
            } else {
                char t[32];
                es_time_format(m->created_ms, t);
                snprintf(s->best, sizeof s->best, "%s", t);
            }
        }
        break;
    case CUR_NONE:
        break;
    }
}

/* The cursor moves to the newest value seen, never back. */
static void take_best(poll_feed *s)
{
    if (s->best[0] == '\0') {
        return;
    }
    bool newer;
    if (s->cur[0] == '\0') {
        newer = true;
    } else if (s->pre->cursor == CUR_ID) {
        newer = es__feed_id_cmp(s->best, strlen(s->best), s->cur, strlen(s->cur)) > 0;
    } else if (s->pre->cursor == CUR_SECONDS) {
        newer = strtoll(s->best, NULL, 10) > strtoll(s->cur, NULL, 10);
    } else {
        int64_t a, b;
        newer = es_time_parse(s->cur, strlen(s->cur), &b) != 0 ||
                (es_time_parse(s->best, strlen(s->best), &a) == 0 && a > b);
    }
    if (newer) {
        memcpy(s->cur, s->best, sizeof s->cur);
    }
}

/* ---- A top-level string of a response (bluesky's cursor, next_url) ------------ */

typedef struct top_scan {
    const char *key;
    int depth;
    bool want;
    char *out;
    size_t cap;
    bool found;
} top_scan;

static int ts_open(void *c)
{
    ((top_scan *)c)->depth++;
    return 1;
}

static int ts_close(void *c)
{
    ((top_scan *)c)->depth--;
    return 1;
}

static int ts_key(void *c, const unsigned char *k, size_t n)
{
    top_scan *t = c;
    t->want = t->depth == 1 && strlen(t->key) == n && memcmp(k, t->key, n) == 0;
    return 1;
}

static int ts_string(void *c, const unsigned char *v, size_t n)
{
    top_scan *t = c;
    if (t->want && t->depth == 1) {
        if (n < t->cap) {
            memcpy(t->out, v, n);
            t->out[n] = '\0';
            t->found = true;
        }
        return 0; /* found: stop parsing */
    }
    return 1;
}

static bool top_string(const char *body, size_t n, const char *key, char *out, size_t cap)
{
    static const yajl_callbacks cb = {
        .yajl_string = ts_string,
        .yajl_start_map = ts_open,
        .yajl_map_key = ts_key,
        .yajl_end_map = ts_close,
        .yajl_start_array = ts_open,
        .yajl_end_array = ts_close,
    };
    top_scan t = {.key = key, .out = out, .cap = cap};
    yajl_handle h = yajl_alloc(&cb, NULL, &t);
    if (h == NULL) {
        return false;
    }
    (void)yajl_parse(h, (const unsigned char *)body, n);
    yajl_free(h);
    return t.found;
}

/* ---- Requests ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    poll_feed *s = t->data;
    if (!s->running || s->closing || s->req != NULL) {
        return;
    }
    if (s->page == 0) {
        s->poll_started = es_feed_now(s->f);
        s->had_cursor = s->cur[0] != '\0';
        s->best[0] = '\0';
        s->best_ms = INT64_MIN;
        s->token[0] = '\0';
        s->poll_new = 0;
    }
    poll_send(s);
}

static void schedule(poll_feed *s, int64_t delay)
{
    if (s->closing || !s->running) {
        return;
    }
    int64_t now = es_feed_now(s->f);
    if (s->hold_until > now && s->hold_until - now > delay) {
        delay = s->hold_until - now;
    }
    uv_timer_start(&s->timer, on_timer, (uint64_t)(delay < 0 ? 0 : delay), 0);
}

/* The poll is over: the cursor moves (if the paging order allowed it to
 * wait until now) and the next poll is due one interval after this one
 * started. */
static void poll_end(poll_feed *s)
{
    if (s->pre->paging != PAGE_FORWARD) {
        take_best(s);
    }
    save_cursor(s);
    s->page = 0;
    int64_t next = s->interval_ms - (es_feed_now(s->f) - s->poll_started);
    schedule(s, next);
}

static void poll_failed(poll_feed *s, const es_feed_failure *fl)
{
    es_feed_error(s->f, "%s", fl->why);
    int64_t d = es_feed_backoff(s->f, fl->kind, fl->retry_after_ms, NULL);
    es_feed_set_connected(s->f, false);
    /* A failed poll starts over; forward paging already kept its pages. */
    s->page = 0;
    schedule(s, d);
}

static void note_rate_limit(poll_feed *s, es_http_req *req)
{
    int64_t now = es_feed_now(s->f), remaining, reset;
    if (!es_http_rate_limit(req, now, &remaining, &reset)) {
        return;
    }
    es_feed_set_rate_limit(s->f, remaining);
    if (remaining == 0 && reset > now) {
        s->hold_until = reset;
        ES_LOG_INFO(es_feed_comp(s->f), "rate limit used up; next request in %.1f s",
                    (double)(reset - now) / 1000.0);
    }
}

static void on_done(void *ud, es_http_req *req, const es_http_result *r)
{
    poll_feed *s = ud;
    s->req = NULL;
    if (s->closing || !s->running || r->code == ES_ECLOSED) {
        return;
    }
    es_feed_failure fl;
    if (r->code != 0 || (r->status != 304 && (r->status < 200 || r->status > 299))) {
        es__feed_failure(s->f, req, r, r->body, r->body_len, &fl);
        if (r->code == 0) {
            note_rate_limit(s, req);
        }
        poll_failed(s, &fl);
        return;
    }
    es_feed_set_connected(s->f, true);
    note_rate_limit(s, req);
    if (r->status == 304) {
        poll_end(s);
        return;
    }
    if (s->page == 0 && s->pre->paging == PAGE_NEXT_URL) {
        es_str et = es_http_header_value(req, "ETag");
        es_str lm = es_http_header_value(req, "Last-Modified");
        take(s->etag, sizeof s->etag, et.ptr != NULL ? et.ptr : "", et.len);
        take(s->lm, sizeof s->lm, lm.ptr != NULL ? lm.ptr : "", lm.len);
    }
    es_feed_doc_result res;
    int rc = es_feed_deliver_doc(s->f, r->body, r->body_len, 0, &res);
    if (rc != 0) {
        es_feed_error(s->f, "cannot process mentions: %s", es_strerror(rc));
        fl.kind = ES_BACKOFF_NETWORK;
        fl.retry_after_ms = -1;
        snprintf(fl.why, sizeof fl.why, "host failure: %s", es_strerror(rc));
        poll_failed(s, &fl);
        return;
    }
    uint64_t items = res.mentions + res.bad;
    uint64_t fresh = res.mentions - res.duplicate;
    s->poll_new += fresh;
    s->page++;
    bool full = s->page_size > 0 && items >= (uint64_t)s->page_size;
    bool more = false;
    int64_t now = es_feed_now(s->f);
    bool may = s->page < POLL_MAX_PAGES && !(s->hold_until > now);
    switch (s->pre->paging) {
    case PAGE_FORWARD: {
        char before[POLL_VALUE_MAX];
        memcpy(before, s->cur, sizeof before);
        take_best(s);
        save_cursor(s); /* the page is processed: its cursor may be durable */
        more = full && strcmp(before, s->cur) != 0 && s->had_cursor;
        break;
    }
    case PAGE_NUMBER:
        more = full && s->had_cursor && fresh > 0;
        break;
    case PAGE_TOKEN:
        more = full && s->had_cursor && fresh > 0 &&
               top_string(r->body, r->body_len, s->pre->body_key, s->token, sizeof s->token);
        break;
    case PAGE_NEXT_URL:
        more = items > 0 && fresh == items &&
               top_string(r->body, r->body_len, s->pre->body_key, s->token, sizeof s->token) &&
               (strncmp(s->token, "http://", 7) == 0 || strncmp(s->token, "https://", 8) == 0);
        break;
    case PAGE_NONE:
        break;
    }
    if (more && may) {
        poll_send(s);
        return;
    }
    if (more && s->pre->paging != PAGE_FORWARD) {
        ES_LOG_WARN(es_feed_comp(s->f),
                    "more than %d pages are new since the last poll; older ones are skipped",
                    s->page);
    }
    if (s->poll_new > 0) {
        ES_LOG_DEBUG(es_feed_comp(s->f), "%llu new mentions in %d page%s",
                     (unsigned long long)s->poll_new, s->page, s->page == 1 ? "" : "s");
    }
    bool backlog = more && s->pre->paging == PAGE_FORWARD;
    poll_end(s);
    if (backlog) {
        /* Forward paging stopped at the page limit: go on at once (within
         * the rate limit) instead of falling an interval behind. */
        schedule(s, 0);
    }
}

static int add_param(poll_feed *s, es_buf *u, const char *name, const char *value)
{
    if (es__feed_url_has_param(s->url, name)) {
        return 0; /* the configured URL says otherwise */
    }
    return es__feed_url_add(u, name, value, strlen(value));
}

static int build_url(poll_feed *s, es_buf *u)
{
    const poll_preset *p = s->pre;
    if (p->paging == PAGE_NEXT_URL && s->page > 0) {
        return es_buf_adds(u, s->token);
    }
    int rc = es_buf_adds(u, s->url);
    if (rc == 0 && p->fixed != NULL) {
        const char *eq = strchr(p->fixed, '=');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p->fixed), p->fixed);
        rc = add_param(s, u, name, eq + 1);
    }
    if (rc == 0 && s->page_size > 0 && p->limit_param != NULL) {
        char v[16];
        snprintf(v, sizeof v, "%d", s->page_size);
        rc = add_param(s, u, p->limit_param, v);
    }
    if (rc == 0 && s->cursor_param != NULL && s->cur[0] != '\0') {
        char v[POLL_VALUE_MAX + 32];
        snprintf(v, sizeof v, "%s%s", p->cursor_prefix, s->cur);
        rc = es__feed_url_add(u, s->cursor_param, v, strlen(v));
    }
    if (rc == 0 && s->page > 0 && p->paging == PAGE_NUMBER) {
        char v[16];
        snprintf(v, sizeof v, "%d", s->page);
        rc = es__feed_url_add(u, p->page_param, v, strlen(v));
    }
    if (rc == 0 && s->page > 0 && p->paging == PAGE_TOKEN) {
        rc = es__feed_url_add(u, p->page_param, s->token, strlen(s->token));
    }
    return rc;
}

static void poll_send(poll_feed *s)
{
    es_buf u;
    es_buf_init(&u, 16384);
    int rc = build_url(s, &u);
    es__feed_headers_truncate(&s->hdrs, s->n_fixed);
    if (rc == 0 && s->page == 0 && s->etag[0] != '\0') {
        char h[POLL_VALUE_MAX + 32];
        snprintf(h, sizeof h, "If-None-Match: %s", s->etag);
        rc = es__feed_headers_add(&s->hdrs, h);
    }
    if (rc == 0 && s->page == 0 && s->lm[0] != '\0') {
        char h[POLL_VALUE_MAX + 32];
        snprintf(h, sizeof h, "If-Modified-Since: %s", s->lm);
        rc = es__feed_headers_add(&s->hdrs, h);
    }
    if (rc == 0) {
        es_http_opts o = {
            .url = u.data,
            .headers = (const char *const *)s->hdrs.v,
            .n_headers = s->hdrs.n,
            .user_agent = s->user_agent,
            .timeout_ms = s->timeout_ms,
            .connect_timeout_ms = s->timeout_ms < 10000 ? s->timeout_ms : 10000,
            .on_done = on_done,
            .ud = s,
        };
        rc = es_http_start(es_feed_http(s->f), &o, &s->req);
    }
    es_buf_free(&u);
    if (rc != 0) {
        s->req = NULL;
        es_feed_failure fl = {.kind = ES_BACKOFF_NETWORK, .retry_after_ms = -1};
        snprintf(fl.why, sizeof fl.why, "cannot start a request: %s", es_strerror(rc));
        poll_failed(s, &fl);
    }
}

/* ---- The vtable -------------------------------------------------------------------- */

static void poll_destroy(void *state);

static int poll_init(es_feed *f, const es_config_item *item, void **state, es_error *err)
{
    poll_feed *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    s->f = f;
    const char *pname = es_config_item_str(item, "preset");
    s->pre = &presets[0];
    for (size_t i = 0; pname != NULL && i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, pname) == 0) {
            s->pre = &presets[i];
        }
    }
    int rc = es__feed_url_option(f, item, "url", true, &s->url, err);
    rc = rc ? rc : es__feed_headers_init(f, item, &s->hdrs, err);
    if (rc != 0) {
        poll_destroy(s);
        return rc;
    }
    s->n_fixed = s->hdrs.n;
    const char *cp = es_config_item_str(item, "cursor_param");
    if (cp == NULL || cp[0] == '\0') {
        cp = s->pre->cursor_param;
    }
    const char *ua = es_config_item_str(item, "user_agent");
    if ((cp != NULL && (s->cursor_param = strdup(cp)) == NULL) ||
        (ua != NULL && (s->user_agent = strdup(ua)) == NULL)) {
        poll_destroy(s);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    const es_config_value *ps = es_config_item_get(item, "page_size");
    s->page_size = ps != NULL && ps->has ? (int)ps->i : s->pre->page_size;
    s->interval_ms = es_config_item_int(item, "interval");
    s->timeout_ms = es_config_item_int(item, "timeout");
    const es_config_value *fmt = es_config_item_get(item, "format");
    if ((fmt == NULL || !fmt->set) && s->pre->format != ES_FORMAT_AUTO) {
        es_feed_set_format(f, s->pre->format);
    }
    uv_timer_init(es_feed_loop(f), &s->timer);
    s->timer.data = s;
    s->open_handles = 1;
    *state = s;
    return 0;
}

static int poll_start(void *state)
{
    poll_feed *s = state;
    if (s->running) {
        return 0;
    }
    s->running = true;
    load_cursor(s);
    s->page = 0;
    schedule(s, 0);
    return 0;
}

static void poll_stop(void *state)
{
    poll_feed *s = state;
    if (!s->running) {
        return;
    }
    s->running = false;
    uv_timer_stop(&s->timer);
    if (s->req != NULL) {
        es_http_cancel(s->req);
        s->req = NULL;
    }
    s->page = 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    poll_feed *s = h->data;
    if (--s->open_handles == 0) {
        es_feed_closed(s->f);
    }
}

static void poll_close(void *state)
{
    poll_feed *s = state;
    poll_stop(s);
    s->closing = true;
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

static void poll_destroy(void *state)
{
    poll_feed *s = state;
    if (s == NULL) {
        return;
    }
    es__feed_headers_free(&s->hdrs);
    free(s->url);
    free(s->cursor_param);
    free(s->user_agent);
    free(s);
}

const es_feed_type es_feed_type_poll = {
    .name = "poll",
    .help = "periodic GET of a JSON API with a cursor (mastodon-tag, reddit, hn, bluesky, jsonfeed)",
    .init = poll_init,
    .start = poll_start,
    .stop = poll_stop,
    .seen = poll_seen,
    .close = poll_close,
    .destroy = poll_destroy,
};
