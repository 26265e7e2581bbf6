/*
 * The ndjson feed against an X-like filtered stream on 127.0.0.1 (chunked
 * HTTP, one tweet per line, "\r\n" keep-alives): lines split across
 * chunks, a garbage line, a connection cut mid-line, a 500, a replay with
 * backfill_minutes that repeats a tweet, keep-alives that keep a quiet
 * stream alive and a silence that does not, and the rate-limit budget
 * each connect's answer states showing in /metrics. Every tweet is a complaint to
 * the owned @acme, so the complaint alerts in the file sink say what was
 * processed, and how often.
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
#include <curl/curl.h>

#include "feedserver.c"
#include "testutil.h"

#define ID0 1860000000000000000LL /* tweet k has id ID0 + k */

typedef struct world {
    int scenario;
    int64_t dropped_at; /* when connection 0 hung up or went quiet */
} world;

static world W;

static void tweet(char *out, size_t cap, int k)
{
    snprintf(out, cap,
             "{\"data\":{\"id\":\"%lld\",\"text\":\"@acme lost my bag again, worst airline ever, "
             "I want a refund now (#%d)\",\"created_at\":\"2026-11-23T10:00:%02d.000Z\","
             "\"author_id\":\"%d\",\"lang\":\"en\",\"public_metrics\":{\"retweet_count\":0,"
             "\"reply_count\":0,\"like_count\":0,\"quote_count\":0}},"
             "\"includes\":{\"users\":[{\"id\":\"%d\",\"username\":\"flyer%d\","
             "\"public_metrics\":{\"followers_count\":12}}]},"
             "\"matching_rules\":[{\"id\":\"1\",\"tag\":\"acme\"}]}\r\n",
             ID0 + k, k, k % 60, 500 + k, 500 + k, k);
}

static int send_tweet(fs_conn *c, int k)
{
    char t[1024];
    tweet(t, sizeof t, k);
    return fs_writes(c, t);
}

static void mark_drop(fs_conn *c)
{
    fs_lock(fs_conn_server(c));
    W.dropped_at = fs_now_ms();
    fs_unlock(fs_conn_server(c));
}

static void keep_alives(fs_conn *c, int every_ms)
{
    while (fs_idle(c, every_ms) && fs_writes(c, "\r\n") == 0) {
    }
}

static void handler(fs_conn *c, const fs_req *r, void *ud)
{
    (void)ud;
    if (W.scenario == 1) {
        if (r->conn == 0) {
            fs_begin(c, 200, "application/json", NULL, true);
            for (int k = 1; k <= 3; k++) {
                send_tweet(c, k);
                fs_writes(c, "\r\n"); /* a keep-alive between tweets */
            }
            /* Tweet 4 split across two chunks, then garbage, then 5. */
            char t[1024];
            tweet(t, sizeof t, 4);
            size_t half = strlen(t) / 2;
            fs_write(c, t, half);
            fs_idle(c, 30);
            fs_write(c, t + half, strlen(t) - half);
            fs_writes(c, "{\"data\": this is not json}\r\n");
            send_tweet(c, 5);
            /* Half of tweet 6, and the connection dies (no last chunk). */
            tweet(t, sizeof t, 6);
            fs_write(c, t, 40);
            mark_drop(c);
            return;
        }
        if (r->conn == 1) {
            fs_respond(c, 500, NULL, "{\"title\":\"Internal Error\"}");
            return;
        }
        /* The replay: backfill_minutes brings 5 again, then 6..10. */
        fs_begin(c, 200, "application/json", NULL, true);
        for (int k = 5; k <= 10; k++) {
            send_tweet(c, k);
        }
        keep_alives(c, 200);
        return;
    }
    /* Scenario 2: keep-alives keep it alive; silence does not. Each
     * connect's answer states the rate-limit budget, as X's does. */
    fs_begin(c, 200, "application/json",
             r->conn == 0 ? "x-rate-limit-remaining: 42\r\nx-rate-limit-reset: 4102444800\r\n"
                          : "x-rate-limit-remaining: 41\r\nx-rate-limit-reset: 4102444800\r\n",
             true);
    if (r->conn == 0) {
        send_tweet(c, 1);
        for (int i = 0; i < 8; i++) { /* 2.4 s of keep-alives, past the 1 s timeout */
            if (!fs_idle(c, 300) || fs_writes(c, "\r\n") != 0) {
                return;
            }
        }
        send_tweet(c, 2);
        mark_drop(c);
        while (fs_idle(c, 100)) {
        }
        return;
    }
    send_tweet(c, 3);
    keep_alives(c, 200);
}

/* ---- Running earshot --------------------------------------------------------------- */

static char dir[128], cfg[256], alerts[256], errlog[256];

static void setup_run(const char *tag, int port, const char *extra)
{
    fs_tmpdir(dir, sizeof dir, tag);
    snprintf(cfg, sizeof cfg, "%s/earshot.yaml", dir);
    snprintf(alerts, sizeof alerts, "%s/alerts.ndjson", dir);
    snprintf(errlog, sizeof errlog, "%s/stderr.log", dir);
    setenv("FEEDTEST_BEARER", "app-only-token", 1);
    fs_write_file(cfg,
                  "state: %s/state.db\n"
                  "log:\n  level: debug\n"
                  "topics:\n"
                  "  - name: acme\n    query: '@acme OR acme'\n    owned: [\"@acme\"]\n"
                  "feeds:\n"
                  "  - name: x\n    type: ndjson\n    format: twitter-v2\n"
                  "    url: http://127.0.0.1:%d/2/tweets/search/stream?tweet.fields=created_at\n"
                  "    token_env: FEEDTEST_BEARER\n"
                  "%s"
                  "sinks:\n"
                  "  - name: archive\n    type: file\n    path: %s\n",
                  dir, port, extra, alerts);
}

static void assert_each_once(int n)
{
    size_t len = 0;
    char *s = es_test_read_file(alerts, &len);
    assert_non_null(s);
    int seen[64] = {0}, complaints = 0;
    for (char *p = s; (p = strstr(p, "\"kind\":\"complaint\"")) != NULL; p++) {
        char *m = strstr(p, "\"mentions\":[{\"id\":\"");
        assert_non_null(m);
        long long id = atoll(m + strlen("\"mentions\":[{\"id\":\""));
        long long k = id - ID0;
        if (k < 1 || k > n) {
            fail_msg("unexpected tweet id %lld", id);
        }
        seen[k]++;
        complaints++;
    }
    for (int k = 1; k <= n; k++) {
        if (seen[k] != 1) {
            fail_msg("tweet %d: %d complaint alerts (want exactly 1); see %s", k, seen[k], errlog);
        }
    }
    assert_int_equal(complaints, n);
    free(s);
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

/* The x feed's rate-limit gauge as /metrics shows it, -1 without one. */
static long long budget_in_metrics(int aport)
{
    static char metrics[FS_ADMIN_BODY_MAX];
    assert_int_equal(fs_admin_get(aport, "/metrics", metrics), 200);
    const char *key = "earshot_feed_rate_limit_remaining{feed=\"x\"} ";
    const char *p = strstr(metrics, key);
    return p != NULL ? atoll(p + strlen(key)) : -1;
}

static void stop_run(pid_t pid)
{
    kill(pid, SIGTERM);
    assert_int_equal(fs_wait_exit(pid, 15000), 0);
}

/* ---- The tests ------------------------------------------------------------------------ */

static void ndjson_survives_cut_line_garbage_and_500(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    W.scenario = 1;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    setup_run("nd1", fs_port(srv), "    backfill_minutes: 2\n");
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_int_equal(fs_wait_count(alerts, "\"kind\":\"complaint\"", 10, 20000), 10);
    stop_run(pid);
    assert_each_once(10);

    fs_req r0, r1, r2;
    assert_true(fs_get(srv, 0, &r0));
    assert_true(fs_get(srv, 1, &r1));
    assert_true(fs_get(srv, 2, &r2));
    char v[128];
    assert_true(fs_header(&r0, "Authorization", v, sizeof v));
    assert_string_equal(v, "Bearer app-only-token");
    /* Only reconnects ask for a replay. */
    assert_false(fs_param(&r0, "backfill_minutes", v, sizeof v));
    assert_true(fs_param(&r2, "backfill_minutes", v, sizeof v));
    assert_string_equal(v, "2");
    /* Network schedule after the cut (>= 3/4 of 250 ms), HTTP schedule
     * after the 500 (>= 3/4 of 5 s). */
    assert_true(r1.at_ms - W.dropped_at >= 180);
    assert_true(r2.at_ms - r1.at_ms >= 3750);
    assert_true(count_text(errlog, "bad record") >= 1);
    assert_true(count_text(errlog, "HTTP 500") >= 1);
    fs_stop(srv);
}

static void ndjson_keepalives_count_silence_reconnects(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    W.scenario = 2;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    setup_run("nd2", fs_port(srv), "    read_timeout: 1s\n");
    FILE *cf = fopen(cfg, "a");
    assert_non_null(cf);
    fputs("admin: {enabled: true, listen: '127.0.0.1:0'}\n", cf);
    fclose(cf);
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    /* Tweet 1 came on the first connection, which stays up for 2.4 s
     * more: its answer's budget is in /metrics ... */
    assert_int_equal(fs_wait_lines(alerts, 1, 15000), 1);
    int aport = es_test_wait_log_port(errlog, 10000);
    assert_true(aport > 0);
    assert_int_equal(budget_in_metrics(aport), 42);
    assert_int_equal(fs_wait_lines(alerts, 3, 15000), 3);
    /* ... and the reconnect's answer replaced it. */
    assert_int_equal(budget_in_metrics(aport), 41);
    stop_run(pid);
    assert_each_once(3);
    fs_req r0, r1;
    assert_true(fs_get(srv, 0, &r0));
    assert_true(fs_get(srv, 1, &r1));
    /* 2.4 s of keep-alives did not count as silence ... */
    assert_true(r1.at_ms - r0.at_ms >= 2400);
    /* ... but 1 s of real silence did. */
    assert_true(r1.at_ms - W.dropped_at >= 1000);
    assert_true(count_text(errlog, "not even a keep-alive") >= 1);
    fs_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ndjson_survives_cut_line_garbage_and_500),
        cmocka_unit_test(ndjson_keepalives_count_silence_reconnects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
