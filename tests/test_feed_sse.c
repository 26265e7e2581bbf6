/*
 * The sse feed: the SSE parser on its own (line ends, multi-line data, ids,
 * retry, comments, the size cap, every chunking), then `earshot run`
 * against a Mastodon-like server on 127.0.0.1 that streams statuses,
 * drops the connection mid-event, answers 429 with Retry-After, sends
 * garbage, stalls, and serves the tag timeline for gap fill. Every status
 * is a complaint to the owned @acme, so each produces one complaint alert
 * in the file sink: the alert ids say what was processed, and how often.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "feedserver.c"
#include "sse.h"
#include "testutil.h"

/* ---- The parser --------------------------------------------------------------- */

typedef struct got {
    char text[4096]; /* "name|data|id;" per event */
    int n;
} got;

static int collect(void *ud, const es_sse_event *ev)
{
    got *g = ud;
    size_t l = strlen(g->text);
    snprintf(g->text + l, sizeof g->text - l, "%.*s|%.*s|%.*s%s;", (int)ev->name.len, ev->name.ptr,
             (int)ev->data.len, ev->data.ptr, (int)ev->id.len, ev->id.ptr,
             ev->too_big ? "|BIG" : "");
    g->n++;
    return 0;
}

/* Parse `in` whole, then split at every position into two chunks and in
 * one-byte chunks: every way must give the same events. */
static void parse_all_ways(const char *in, const char *want, size_t max_event)
{
    size_t n = strlen(in);
    for (size_t cut = 0; cut <= n + 1; cut++) {
        es_sse p;
        es_sse_init(&p, max_event);
        got g = {{0}, 0};
        if (cut <= n) {
            es_sse_feed(&p, in, cut, collect, &g);
            es_sse_feed(&p, in + cut, n - cut, collect, &g);
        } else {
            for (size_t i = 0; i < n; i++) {
                es_sse_feed(&p, in + i, 1, collect, &g);
            }
        }
        if (strcmp(g.text, want) != 0) {
            fail_msg("cut %zu: got \"%s\", want \"%s\"", cut, g.text, want);
        }
        es_sse_free(&p);
    }
}

static void parser_basics(void **state)
{
    (void)state;
    /* LF, CRLF and CR line ends; a comment; default name "message". */
    parse_all_ways(":thump\n\nevent: update\ndata: {\"a\":1}\n\n", "update|{\"a\":1}|;", 0);
    parse_all_ways("event: update\r\ndata: x\r\n\r\ndata: y\r\rdata:z\n\n",
                   "update|x|;message|y|;message|z|;", 0);
    /* Multi-line data joined with \n; one leading space dropped only. */
    parse_all_ways("data: a\ndata:  b\ndata\n\n", "message|a\n b\n|;", 0);
    /* id persists; an event without data is not dispatched but its id counts. */
    parse_all_ways("id: 7\ndata: a\n\nid: 8\n\ndata: b\n\n", "message|a|7;message|b|8;", 0);
    /* Unknown fields and a field without colon are ignored; a BOM is skipped. */
    parse_all_ways("\xEF\xBB\xBF" "foo: bar\nevent\ndata: q\n\n", "message|q|;", 0);
    /* No blank line at the end: the event is not dispatched. */
    parse_all_ways("data: never\n", "", 0);
}

static void parser_retry_and_cap(void **state)
{
    (void)state;
    es_sse p;
    es_sse_init(&p, 16);
    got g = {{0}, 0};
    const char *in = "retry: 2500\nretry: x1\n\ndata: 0123456789abcdefXYZ\n\n"
                     ": a comment far longer than the sixteen byte cap is fine\n"
                     "data: ok\n\n";
    assert_int_equal(es_sse_feed(&p, in, strlen(in), collect, &g), 0);
    assert_int_equal(p.retry_ms, 2500);
    assert_string_equal(g.text, "message|||BIG;message|ok|;");
    assert_int_equal(p.dropped, 1);
    assert_int_equal(p.comments, 1);
    /* A line too long for the cap, arriving in pieces, drops its event. */
    es_sse_reset(&p);
    g.text[0] = '\0';
    const char *a = "data: 0123456789", *b = "0123456789012345678901234567890123456789"
                                              "0123456789012345678901234567890123456789\n\ndata: z\n\n";
    es_sse_feed(&p, a, strlen(a), collect, &g);
    es_sse_feed(&p, b, strlen(b), collect, &g);
    assert_string_equal(g.text, "message|||BIG;message|z|;");
    /* A reset (new connection) drops a half event but keeps the id. */
    g.text[0] = '\0';
    const char *c = "id: 42\ndata: x\n\ndata: half";
    es_sse_feed(&p, c, strlen(c), collect, &g);
    es_sse_reset(&p);
    es_sse_feed(&p, "\n\ndata: y\n\n", 11, collect, &g);
    assert_string_equal(g.text, "message|x|42;message|y|42;");
    es_sse_free(&p);
}

/* ---- The Mastodon-like server ------------------------------------------------------ */

#define ID0 1000 /* status k has id ID0 + k */
#define NMAX 400

typedef struct world {
    int scenario;
    int published;       /* statuses 1..published exist (the tag timeline) */
    int next;            /* kill test: the next status the stream sends */
    volatile int resume; /* stall test: the test saw feed_stalled */
    int64_t dropped_at;  /* when conn 0 hung up / went quiet */
    int gap_conn;        /* kill test: the last connection that skipped ahead */
    int total;
} world;

static world W;

static void status_json(char *out, size_t cap, int k)
{
    snprintf(out, cap,
             "{\"id\":\"%d\",\"created_at\":\"2026-11-23T10:%02d:%02d.000Z\",\"content\":\"<p>"
             "<span class=\\\"h-card\\\"><a href=\\\"https://m.example/@acme\\\">@acme</a></span> "
             "lost my bag again, worst airline ever, I want a refund now (#%d)</p>\","
             "\"account\":{\"acct\":\"user%d@m.example\",\"followers_count\":%d},"
             "\"url\":\"https://m.example/@u/%d\",\"language\":\"en\",\"favourites_count\":0,"
             "\"reblogs_count\":0,\"replies_count\":0}",
             ID0 + k, (k / 60) % 60, k % 60, k, k % 50, k, ID0 + k);
}

static int send_status(fs_conn *c, int k)
{
    char js[1024], ev[1200];
    status_json(js, sizeof js, k);
    snprintf(ev, sizeof ev, "event: update\nid: %d\ndata: %s\n\n", k, js);
    return fs_writes(c, ev);
}

/* GET /api/v1/timelines/tag/acme?min_id=X&limit=N: the `limit` statuses
 * right after min_id that exist, newest first, as Mastodon pages. */
static void timeline(fs_conn *c, const fs_req *r)
{
    char v[64];
    int min_id = fs_param(r, "min_id", v, sizeof v) ? atoi(v) : ID0;
    int limit = fs_param(r, "limit", v, sizeof v) ? atoi(v) : 20;
    fs_lock(fs_conn_server(c));
    int upto = W.published;
    fs_unlock(fs_conn_server(c));
    int first = min_id - ID0 + 1, last = first + limit - 1;
    if (last > upto) {
        last = upto;
    }
    static __thread char body[64 * 1024];
    size_t n = 0;
    body[n++] = '[';
    for (int k = last; k >= first && k >= 1; k--) {
        if (n > 1) {
            body[n++] = ',';
        }
        status_json(body + n, sizeof body - n, k);
        n += strlen(body + n);
    }
    body[n++] = ']';
    body[n] = '\0';
    fs_respond(c, 200, NULL, body);
}

static void publish(fs_conn *c, int k)
{
    fs_lock(fs_conn_server(c));
    if (k > W.published) {
        W.published = k;
    }
    fs_unlock(fs_conn_server(c));
}

/* Stream statuses a..b (publishing each first); false if the client left. */
static bool stream_range(fs_conn *c, int a, int b, int gap_ms)
{
    for (int k = a; k <= b; k++) {
        publish(c, k);
        if (send_status(c, k) != 0) {
            return false;
        }
        if (gap_ms > 0 && !fs_idle(c, gap_ms)) {
            return false;
        }
    }
    return true;
}

/* Heartbeats until the client leaves or the server stops. */
static void keep_alive(fs_conn *c)
{
    while (fs_idle(c, 200) && fs_writes(c, ":thump\n") == 0) {
    }
}

static void handler(fs_conn *c, const fs_req *r, void *ud)
{
    (void)ud;
    if (fs_path_is(r, "/api/v1/timelines/tag/acme")) {
        timeline(c, r);
        return;
    }
    int conn = r->conn;
    if (W.scenario == 1) {
        /* Survive: drop mid-event, 429, garbage, a gap only gap fill closes. */
        if (conn == 0) {
            fs_begin(c, 200, "text/event-stream", NULL, false);
            fs_writes(c, ":thump\n\n");
            stream_range(c, 1, 5, 0);
            fs_writes(c, "event: delete\ndata: 1003\n\n");
            fs_writes(c, "event: filters_changed\n\n");
            fs_writes(c, "event: update\ndata: {\"id\": \"garbage\", oops\ndata: }\n\n");
            fs_writes(c, "event: update\ndata: not json at all\n\n");
            publish(c, 6);
            fs_writes(c, "event: update\nid: 6\ndata: {\"id\":\"1006\",\"content\":\"<p>@acme half");
            fs_lock(fs_conn_server(c));
            W.dropped_at = fs_now_ms();
            fs_unlock(fs_conn_server(c));
            return; /* hang up mid-event */
        }
        if (conn == 1) {
            fs_respond(c, 429, "Retry-After: 1\r\n", "{\"error\":\"slow down\"}");
            return;
        }
        /* Statuses 6..8 were published while we were away; only the tag
         * timeline has them now. */
        publish(c, 8);
        fs_begin(c, 200, "text/event-stream", NULL, false);
        stream_range(c, 9, 12, 0);
        keep_alive(c);
        return;
    }
    if (W.scenario == 2) {
        /* Stall: quiet connections until the test has seen feed_stalled. */
        fs_begin(c, 200, "text/event-stream", NULL, false);
        if (conn == 0) {
            stream_range(c, 1, 3, 0);
            fs_lock(fs_conn_server(c));
            W.dropped_at = fs_now_ms();
            fs_unlock(fs_conn_server(c));
        }
        while (!W.resume) {
            if (!fs_idle(c, 50)) {
                return;
            }
        }
        stream_range(c, 4, 6, 0);
        keep_alive(c);
        return;
    }
    /* Scenario 3, kill -9: a live stream that moves on while nobody
     * listens (20 statuses are published between connections). */
    fs_begin(c, 200, "text/event-stream", NULL, false);
    for (;;) {
        fs_lock(fs_conn_server(c));
        int k = W.next;
        if (conn > 0 && k <= W.total && W.gap_conn != conn) {
            W.gap_conn = conn; /* once per connection */
            W.next += 20;
            if (W.next > W.total + 1) {
                W.next = W.total + 1;
            }
            W.published = W.next - 1;
            k = W.next;
        }
        if (k <= W.total) {
            W.next = k + 1;
            W.published = k;
        }
        fs_unlock(fs_conn_server(c));
        if (k > W.total) {
            keep_alive(c);
            return;
        }
        if (send_status(c, k) != 0 || !fs_idle(c, 2)) {
            return;
        }
    }
}

/* ---- Running earshot --------------------------------------------------------------- */

static char dir[128], cfg[256], alerts[256], errlog[256];

static void write_config(int port, const char *extra_feed)
{
    char state[256];
    snprintf(state, sizeof state, "%s/state.db", dir);
    fs_write_file(cfg,
                  "state: %s\n"
                  "log:\n  level: debug\n"
                  "topics:\n"
                  "  - name: acme\n    query: '@acme OR acme'\n    owned: [\"@acme\"]\n"
                  "feeds:\n"
                  "  - name: masto\n    type: sse\n"
                  "    url: http://127.0.0.1:%d/api/v1/streaming/hashtag?tag=acme\n"
                  "    catchup_url: http://127.0.0.1:%d/api/v1/timelines/tag/acme\n"
                  "    token_env: FEEDTEST_TOKEN\n"
                  "%s"
                  "sinks:\n"
                  "  - name: archive\n    type: file\n    path: %s\n",
                  state, port, port, extra_feed, alerts);
}

static void fresh(const char *tag)
{
    fs_tmpdir(dir, sizeof dir, tag);
    snprintf(cfg, sizeof cfg, "%s/earshot.yaml", dir);
    snprintf(alerts, sizeof alerts, "%s/alerts.ndjson", dir);
    snprintf(errlog, sizeof errlog, "%s/stderr.log", dir);
    setenv("FEEDTEST_TOKEN", "sekret", 1);
    memset(&W, 0, sizeof W);
}

/* How many complaint alerts name status k, for every k in 1..n; fails on
 * any missing or repeated one. */
static void assert_each_once(int n)
{
    size_t len = 0;
    char *s = es_test_read_file(alerts, &len);
    assert_non_null(s);
    static int seen[NMAX + 1];
    memset(seen, 0, sizeof seen);
    /* Failures are collected and reported after free(s): a failed check
     * must not also show up as a leak under LeakSanitizer. */
    static char bad[1024];
    bad[0] = '\0';
    int complaints = 0;
    for (char *line = s; line != NULL && *line != '\0' && bad[0] == '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        if (strstr(line, "\"kind\":\"complaint\"") != NULL) {
            char *m = strstr(line, "\"mentions\":[{\"id\":\"");
            int id = m != NULL ? atoi(m + strlen("\"mentions\":[{\"id\":\"")) : -1;
            int k = id - ID0;
            if (k < 1 || k > n) {
                snprintf(bad, sizeof bad, "unexpected status id %d in %.800s", id, line);
                break;
            }
            seen[k]++;
            complaints++;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(s);
    if (bad[0] != '\0') {
        fail_msg("%s", bad);
    }
    for (int k = 1; k <= n; k++) {
        if (seen[k] != 1) {
            fail_msg("status %d: %d complaint alerts (want exactly 1); see %s", ID0 + k, seen[k],
                     errlog);
        }
    }
    assert_int_equal(complaints, n);
}

static size_t count_text(const char *path, const char *needle)
{
    size_t len = 0, n = 0;
    char *s = es_test_read_file(path, &len);
    for (const char *p = s; p != NULL && (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    free(s);
    return n;
}

static void stop_run(pid_t pid)
{
    kill(pid, SIGTERM);
    assert_int_equal(fs_wait_exit(pid, 15000), 0);
}

/* ---- The tests ------------------------------------------------------------------------ */

static void sse_survives_drop_429_garbage_and_fills_the_gap(void **state)
{
    (void)state;
    fresh("sse1");
    W.scenario = 1;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    write_config(fs_port(srv), "");
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);

    /* 12 statuses: 1-5 on the first connection, 6-8 only through gap fill
     * (6 was cut off mid-event), 9-12 on the third connection. */
    size_t got = fs_wait_count(alerts, "\"kind\":\"complaint\"", 12, 20000);
    assert_int_equal(got, 12);
    stop_run(pid);
    assert_each_once(12);

    fs_req r0, r1, r2, cu;
    assert_true(fs_get(srv, 0, &r0));
    assert_true(fs_get(srv, 1, &r1));
    assert_true(fs_get(srv, 2, &r2));
    char v[128];
    assert_true(fs_header(&r0, "Authorization", v, sizeof v));
    assert_string_equal(v, "Bearer sekret");
    assert_true(fs_header(&r0, "Accept", v, sizeof v));
    assert_string_equal(v, "text/event-stream");
    assert_false(fs_header(&r0, "Last-Event-ID", v, sizeof v));
    /* Reconnects send the last id the server gave (5: the half event's id
     * never counted). */
    assert_true(fs_header(&r1, "Last-Event-ID", v, sizeof v));
    assert_string_equal(v, "5");
    /* Network backoff after the drop: 250 ms jittered into [187, 250]. */
    assert_true(r1.at_ms - W.dropped_at >= 180);
    /* Retry-After: 1 was honoured. */
    assert_true(r2.at_ms - r1.at_ms >= 1000);
    /* Gap fill asked for what came after 1005. */
    bool found = false;
    for (size_t i = 0; fs_get(srv, i, &cu); i++) {
        if (fs_path_is(&cu, "/api/v1/timelines/tag/acme") && fs_param(&cu, "min_id", v, sizeof v) &&
            strcmp(v, "1005") == 0) {
            found = true;
            assert_true(fs_header(&cu, "Authorization", v, sizeof v));
        }
    }
    assert_true(found);
    /* The garbage was reported, not fatal. */
    assert_true(count_text(errlog, "bad record") >= 1);
    assert_true(count_text(errlog, "HTTP 429") >= 1);
    fs_stop(srv);
}

static void sse_stall_raises_and_resolves_feed_stalled(void **state)
{
    (void)state;
    fresh("sse2");
    W.scenario = 2;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    write_config(fs_port(srv), "    idle_timeout: 2s\n    read_timeout: 1s\n");
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);

    assert_int_equal(fs_wait_lines(alerts, 3, 10000), 3);
    assert_true(fs_wait_text(alerts, "\"kind\":\"feed_stalled\"", 15000));
    W.resume = 1;
    assert_true(fs_wait_text(alerts, "\"status\":\"resolved\"", 15000));
    /* 3 + firing + 3 + resolved */
    assert_true(fs_wait_lines(alerts, 8, 10000) >= 8);
    stop_run(pid);
    assert_int_equal(count_text(alerts, "\"kind\":\"feed_stalled\""), 2);
    assert_int_equal(count_text(alerts, "\"kind\":\"complaint\""), 6);

    /* The quiet stream was given up after the 1 s read timeout. */
    fs_req r1;
    assert_true(fs_get(srv, 1, &r1));
    assert_true(r1.at_ms - W.dropped_at >= 1000);
    assert_true(count_text(errlog, "not even a heartbeat") >= 1);
    fs_stop(srv);
}

static void sse_kill9_then_restart_processes_each_once(void **state)
{
    (void)state;
    fresh("sse3");
    W.scenario = 3;
    W.total = 300;
    W.next = 1;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    write_config(fs_port(srv), "");
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_true(fs_wait_lines(alerts, 60, 15000) >= 60);
    kill(pid, SIGKILL);
    assert_int_equal(fs_wait_exit(pid, 5000), 128 + SIGKILL);

    pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_true(fs_wait_count(alerts, "\"kind\":\"complaint\"", 300, 30000) >= 300);
    stop_run(pid);
    assert_each_once(300);
    fs_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parser_basics),
        cmocka_unit_test(parser_retry_and_cap),
        cmocka_unit_test(sse_survives_drop_429_garbage_and_fills_the_gap),
        cmocka_unit_test(sse_stall_raises_and_resolves_feed_stalled),
        cmocka_unit_test(sse_kill9_then_restart_processes_each_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
