/*
 * The poll feed against paged JSON APIs on 127.0.0.1:
 *   - the Mastodon tag timeline: min_id paging through full pages, the
 *     rate-limit headers holding the next poll, a 500 and a 429 with
 *     Retry-After backed off as scheduled, nothing missing or repeated;
 *   - kill -9 between polls, then a restart from the saved cursor;
 *   - the reddit, hn, bluesky and jsonfeed presets: each one's cursor
 *     parameter on the second poll, bluesky's page cursor, jsonfeed's
 *     conditional GET (a 304), and overlapping pages deduplicated.
 * Every item is a complaint to the owned @acme, so each processed item is
 * one complaint alert in the file sink.
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

#define ID0 1000 /* Mastodon status k has id ID0 + k */
#define NMAX 400
#define TEXT "@acme lost my bag again, worst airline ever, I want a refund now"

typedef struct world {
    int scenario;
    int published;
    int mreq; /* requests to the timeline so far */
    int counts[8];
} world;

static world W;

/* ---- Mastodon ------------------------------------------------------------------ */

static size_t status_json(char *out, size_t cap, int k)
{
    return (size_t)snprintf(out, cap,
                            "{\"id\":\"%d\",\"created_at\":\"2026-11-23T10:%02d:%02d.000Z\","
                            "\"content\":\"<p>" TEXT " (#%d)</p>\",\"account\":{\"acct\":\"u%d\"},"
                            "\"url\":\"https://m.example/@u/%d\"}",
                            ID0 + k, (k / 60) % 60, k % 60, k, k, ID0 + k);
}

/* The page Mastodon gives for min_id/limit: the statuses right after
 * min_id, newest first; without min_id, the newest `limit`. */
static void timeline_page(fs_conn *c, const fs_req *r, int upto, const char *headers)
{
    char v[64];
    int limit = fs_param(r, "limit", v, sizeof v) ? atoi(v) : 20;
    int first, last;
    if (fs_param(r, "min_id", v, sizeof v)) {
        first = atoi(v) - ID0 + 1;
        last = first + limit - 1 < upto ? first + limit - 1 : upto;
    } else {
        last = upto;
        first = upto - limit + 1 > 1 ? upto - limit + 1 : 1;
    }
    static __thread char body[128 * 1024];
    size_t n = 0;
    body[n++] = '[';
    for (int k = last; k >= first; k--) {
        if (n > 1) {
            body[n++] = ',';
        }
        n += status_json(body + n, sizeof body - n, k);
    }
    body[n++] = ']';
    body[n] = '\0';
    fs_respond(c, 200, headers, body);
}

static void mastodon(fs_conn *c, const fs_req *r)
{
    fs_lock(fs_conn_server(c));
    int i = W.mreq++;
    fs_unlock(fs_conn_server(c));
    if (W.scenario == 1) {
        /* The script, by request number. */
        switch (i) {
        case 0:
            W.published = 10;
            timeline_page(c, r, 10, "X-RateLimit-Remaining: 299\r\n");
            return;
        case 1:
            W.published = 105; /* 95 new since: three pages */
            timeline_page(c, r, 105, NULL);
            return;
        case 2:
            timeline_page(c, r, 105, NULL);
            return;
        case 3:
            /* The last page of this poll uses up the rate limit for 2 s. */
            timeline_page(c, r, 105, "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 2\r\n");
            return;
        case 4:
            fs_respond(c, 500, NULL, "{\"error\":\"boom\"}");
            return;
        case 5:
            W.published = 110;
            timeline_page(c, r, 110, NULL);
            return;
        case 6:
            fs_respond(c, 429, "Retry-After: 1\r\n", "{\"error\":\"Too many requests\"}");
            return;
        default:
            W.published = 112;
            timeline_page(c, r, 112, NULL);
            return;
        }
    }
    /* Scenario 2 (kill -9): 30 more statuses before each poll, up to 150. */
    fs_lock(fs_conn_server(c));
    W.published = W.published + 30 > 150 ? 150 : W.published + 30;
    int upto = W.published;
    fs_unlock(fs_conn_server(c));
    timeline_page(c, r, upto, NULL);
}

/* ---- The other presets ---------------------------------------------------------- */

static void respond_items(fs_conn *c, const char *headers, const char *fmt, ...)
{
    static __thread char body[32 * 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    fs_respond(c, 200, headers, body);
}

#define HN_HIT(id, t)                                                                        \
    "{\"objectID\":\"" id "\",\"created_at_i\":" t ",\"author\":\"pg\",\"comment_text\":\"" \
    TEXT " (" id ")\"}"
#define REDDIT_T3(id, t)                                                                       \
    "{\"kind\":\"t3\",\"data\":{\"name\":\"t3_" id "\",\"id\":\"" id "\",\"title\":\"" TEXT \
    " (" id ")\",\"author\":\"r\",\"created_utc\":" t "}}"
#define BSKY_POST(rkey, t)                                                                     \
    "{\"uri\":\"at://did:plc:abc/app.bsky.feed.post/" rkey "\",\"cid\":\"c\",\"author\":{"       \
    "\"handle\":\"b.bsky.social\"},\"record\":{\"text\":\"" TEXT " (" rkey ")\",\"createdAt\":\"" \
    t "\"},\"indexedAt\":\"" t "\"}"
#define JF_ITEM(id)                                                                             \
    "{\"id\":\"" id "\",\"content_text\":\"" TEXT " (" id ")\",\"date_published\":"              \
    "\"2026-11-23T10:00:00Z\"}"

static void others(fs_conn *c, const fs_req *r, int i)
{
    if (fs_path_is(r, "/api/v1/search_by_date")) {
        /* HN: newest first; the second poll must filter on time. */
        if (i == 0) {
            respond_items(c, NULL, "{\"hits\":[" HN_HIT("302", "1763892002") "," HN_HIT("301", "1763892001") "],\"hitsPerPage\":100}");
        } else {
            respond_items(c, NULL, "{\"hits\":[" HN_HIT("303", "1763892005") "," HN_HIT("302", "1763892002") "]}");
        }
    } else if (fs_path_is(r, "/r/acme/new.json")) {
        if (i == 0) {
            respond_items(c, "X-Ratelimit-Remaining: 99.0\r\nX-Ratelimit-Reset: 30\r\n",
                          "{\"kind\":\"Listing\",\"data\":{\"children\":[" REDDIT_T3("ab2", "1763892002") "," REDDIT_T3("ab1", "1763892001") "]}}");
        } else {
            respond_items(c, NULL, "{\"kind\":\"Listing\",\"data\":{\"children\":[" REDDIT_T3("ab3", "1763892003") "]}}");
        }
    } else if (fs_path_is(r, "/xrpc/app.bsky.feed.searchPosts")) {
        char v[64];
        if (i == 0) {
            respond_items(c, NULL, "{\"posts\":[" BSKY_POST("p2", "2026-11-23T10:00:02Z") "," BSKY_POST("p1", "2026-11-23T10:00:01Z") "]}");
        } else if (!fs_param(r, "cursor", v, sizeof v)) {
            /* A full page (limit 2) with a cursor to the older rest. */
            respond_items(c, NULL, "{\"cursor\":\"pg2\",\"posts\":[" BSKY_POST("p5", "2026-11-23T10:00:05Z") "," BSKY_POST("p4", "2026-11-23T10:00:04Z") "]}");
        } else {
            respond_items(c, NULL, "{\"posts\":[" BSKY_POST("p3", "2026-11-23T10:00:03Z") "," BSKY_POST("p2", "2026-11-23T10:00:02Z") "]}");
        }
    } else if (fs_path_is(r, "/feed.json")) {
        char v[64];
        if (fs_header(r, "If-None-Match", v, sizeof v) && strcmp(v, "\"v1\"") == 0 && i == 1) {
            fs_respond(c, 304, "ETag: \"v1\"\r\n", NULL);
        } else if (i == 0) {
            respond_items(c, "ETag: \"v1\"\r\n", "{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[" JF_ITEM("j2") "," JF_ITEM("j1") "]}");
        } else {
            respond_items(c, "ETag: \"v2\"\r\n", "{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[" JF_ITEM("j3") "," JF_ITEM("j2") "]}");
        }
    } else {
        fs_respond(c, 404, NULL, "{}");
    }
}

static void handler(fs_conn *c, const fs_req *r, void *ud)
{
    (void)ud;
    if (fs_path_is(r, "/api/v1/timelines/tag/acme")) {
        mastodon(c, r);
        return;
    }
    /* Per path request counters for the presets test. */
    static const char *const paths[] = {"/api/v1/search_by_date", "/r/acme/new.json",
                                        "/xrpc/app.bsky.feed.searchPosts", "/feed.json"};
    int slot = 0;
    for (int k = 0; k < 4; k++) {
        if (fs_path_is(r, paths[k])) {
            slot = k;
        }
    }
    fs_lock(fs_conn_server(c));
    int i = W.counts[slot]++;
    fs_unlock(fs_conn_server(c));
    others(c, r, i);
}

/* ---- Running earshot --------------------------------------------------------------- */

static char dir[128], cfg[256], alerts[256], errlog[256];

static void setup_run(const char *tag, const char *feeds)
{
    fs_tmpdir(dir, sizeof dir, tag);
    snprintf(cfg, sizeof cfg, "%s/earshot.yaml", dir);
    snprintf(alerts, sizeof alerts, "%s/alerts.ndjson", dir);
    snprintf(errlog, sizeof errlog, "%s/stderr.log", dir);
    fs_write_file(cfg,
                  "state: %s/state.db\n"
                  "log:\n  level: debug\n"
                  "topics:\n"
                  "  - name: acme\n    query: '@acme OR acme'\n    owned: [\"@acme\"]\n"
                  "feeds:\n%s"
                  "sinks:\n"
                  "  - name: archive\n    type: file\n    path: %s\n",
                  dir, feeds, alerts);
}

static void mastodon_feed(char *out, size_t cap, int port)
{
    snprintf(out, cap,
             "  - name: tag\n    type: poll\n    preset: mastodon-tag\n    interval: 1s\n"
             "    url: http://127.0.0.1:%d/api/v1/timelines/tag/acme\n",
             port);
}

/* The complaint alerts' mention ids, each once, "\n"-joined and sorted by
 * first appearance; fails on a repeat. */
static int complaint_ids(char ids[][96], int max)
{
    size_t len = 0;
    char *s = es_test_read_file(alerts, &len);
    assert_non_null(s);
    int n = 0;
    for (char *p = s; (p = strstr(p, "\"kind\":\"complaint\"")) != NULL; p++) {
        char *m = strstr(p, "\"mentions\":[{\"id\":\"");
        assert_non_null(m);
        m += strlen("\"mentions\":[{\"id\":\"");
        char *q = strchr(m, '"');
        assert_non_null(q);
        char id[96];
        snprintf(id, sizeof id, "%.*s", (int)(q - m), m);
        for (int k = 0; k < n; k++) {
            if (strcmp(ids[k], id) == 0) {
                fail_msg("mention %s has two complaint alerts; see %s", id, errlog);
            }
        }
        assert_true(n < max);
        snprintf(ids[n++], 96, "%s", id);
    }
    free(s);
    return n;
}

static void assert_statuses_once(int total)
{
    static char ids[NMAX + 8][96];
    int n = complaint_ids(ids, NMAX + 8);
    assert_int_equal(n, total);
    static int seen[NMAX + 1];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < n; i++) {
        int k = atoi(ids[i]) - ID0;
        assert_true(k >= 1 && k <= total);
        seen[k]++;
    }
    for (int k = 1; k <= total; k++) {
        if (seen[k] != 1) {
            fail_msg("status %d: %d alerts", ID0 + k, seen[k]);
        }
    }
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

/* Time between requests a and b as the server saw them, with the numbers
 * in the failure message. */
static void gap_at_least(const fs_req *q, int a, int b, int64_t ms)
{
    int64_t gap = q[b].at_ms - q[a].at_ms;
    if (gap < ms) {
        fail_msg("requests %d and %d: %lld ms apart, want >= %lld", a, b, (long long)gap,
                 (long long)ms);
    }
}

static void gap_at_most(const fs_req *q, int a, int b, int64_t ms)
{
    int64_t gap = q[b].at_ms - q[a].at_ms;
    if (gap > ms) {
        fail_msg("requests %d and %d: %lld ms apart, want <= %lld", a, b, (long long)gap,
                 (long long)ms);
    }
}

static void stop_run(pid_t pid)
{
    kill(pid, SIGTERM);
    assert_int_equal(fs_wait_exit(pid, 15000), 0);
}

/* ---- The tests ------------------------------------------------------------------------ */

static void poll_mastodon_pages_limits_and_failures(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    W.scenario = 1;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    char feed[512];
    mastodon_feed(feed, sizeof feed, fs_port(srv));
    setup_run("poll1", feed);
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_true(fs_wait_count(alerts, "\"kind\":\"complaint\"", 112, 30000) >= 112);
    stop_run(pid);
    assert_statuses_once(112);

    fs_req q[8];
    for (int i = 0; i < 8; i++) {
        assert_true(fs_get(srv, (size_t)i, &q[i]));
    }
    char v[64];
    assert_false(fs_param(&q[0], "min_id", v, sizeof v));
    assert_true(fs_param(&q[0], "limit", v, sizeof v));
    assert_string_equal(v, "40");
    /* min_id walks forward through the full pages without waiting. */
    const char *want[] = {NULL, "1010", "1050", "1090", "1105", "1105", "1110", "1110"};
    for (int i = 1; i < 8; i++) {
        assert_true(fs_param(&q[i], "min_id", v, sizeof v));
        if (strcmp(v, want[i]) != 0) {
            fail_msg("request %d: min_id %s, want %s", i, v, want[i]);
        }
    }
    gap_at_most(q, 1, 3, 899);
    /* X-RateLimit-Remaining: 0 with a 2 s reset held the next poll. */
    gap_at_least(q, 3, 4, 1900);
    /* The 500: the HTTP schedule, at least 3/4 of 5 s. */
    gap_at_least(q, 4, 5, 3750);
    /* The 429: Retry-After 1 s. */
    gap_at_least(q, 6, 7, 1000);
    assert_true(count_text(errlog, "HTTP 500") >= 1);
    assert_true(count_text(errlog, "HTTP 429") >= 1);
    fs_stop(srv);
}

static void poll_kill9_then_restart_processes_each_once(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    W.scenario = 2;
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    char feed[512];
    mastodon_feed(feed, sizeof feed, fs_port(srv));
    setup_run("poll2", feed);
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_true(fs_wait_lines(alerts, 60, 15000) >= 60);
    kill(pid, SIGKILL);
    assert_int_equal(fs_wait_exit(pid, 5000), 128 + SIGKILL);
    size_t before = fs_count(srv);

    pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    assert_true(fs_wait_count(alerts, "\"kind\":\"complaint\"", 150, 20000) >= 150);
    stop_run(pid);
    assert_statuses_once(150);
    /* The restart resumed from the saved cursor, not from scratch. */
    fs_req r;
    char v[64];
    assert_true(fs_get(srv, before, &r));
    /* (The cursor on disk may lag what the first run processed by up to
     * one commit; the repeats that brings are dropped, as checked above.) */
    assert_true(fs_param(&r, "min_id", v, sizeof v));
    if (atoi(v) < ID0 + 30) {
        fail_msg("the restart asked for min_id=%s", v);
    }
    fs_stop(srv);
}

static void poll_presets_cursors_and_conditional_get(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    fs_server *srv = fs_start(handler, NULL);
    assert_non_null(srv);
    int port = fs_port(srv);
    char feeds[2048];
    snprintf(feeds, sizeof feeds,
             "  - name: hn\n    type: poll\n    preset: hn\n    interval: 1s\n"
             "    url: http://127.0.0.1:%d/api/v1/search_by_date?query=acme&tags=comment\n"
             "  - name: reddit\n    type: poll\n    preset: reddit\n    interval: 1s\n"
             "    user_agent: 'test:earshot:0.1 (by /u/earshot)'\n"
             "    url: http://127.0.0.1:%d/r/acme/new.json\n"
             "  - name: bsky\n    type: poll\n    preset: bluesky\n    interval: 1s\n"
             "    page_size: 2\n"
             "    url: http://127.0.0.1:%d/xrpc/app.bsky.feed.searchPosts?q=acme\n"
             "  - name: jf\n    type: poll\n    preset: jsonfeed\n    interval: 1s\n"
             "    url: http://127.0.0.1:%d/feed.json\n",
             port, port, port, port);
    setup_run("poll3", feeds);
    FILE *cf = fopen(cfg, "a");
    assert_non_null(cf);
    fputs("admin: {enabled: true, listen: '127.0.0.1:0'}\n", cf);
    fclose(cf);
    pid_t pid = fs_spawn_run(cfg, errlog, NULL);
    assert_true(pid > 0);
    /* hn 3, reddit 3, bluesky 5, jsonfeed 3 */
    assert_true(fs_wait_count(alerts, "\"kind\":\"complaint\"", 14, 20000) >= 14);
    /* Reddit's first answer said 99 requests are left in its window; the
     * budget gauge shows it (the others sent no rate-limit headers, so
     * they have no value rather than a made-up one). */
    int aport = es_test_wait_log_port(errlog, 10000);
    assert_true(aport > 0);
    static char metrics[FS_ADMIN_BODY_MAX];
    assert_int_equal(fs_admin_get(aport, "/metrics", metrics), 200);
    if (strstr(metrics, "earshot_feed_rate_limit_remaining{feed=\"reddit\"} 99\n") == NULL) {
        fail_msg("no reddit budget in /metrics:\n%.4000s", strstr(metrics, "rate_limit") != NULL
                                                            ? strstr(metrics, "rate_limit")
                                                            : metrics);
    }
    assert_null(strstr(metrics, "earshot_feed_rate_limit_remaining{feed=\"hn\"}"));
    stop_run(pid);
    char ids[32][96];
    assert_int_equal(complaint_ids(ids, 32), 14);

    bool hn2 = false, rd2 = false, bs2 = false, bs_page = false, jf304 = false;
    fs_req r;
    char v[128];
    int n_hn = 0, n_rd = 0, n_bs = 0, n_jf = 0;
    for (size_t i = 0; fs_get(srv, i, &r); i++) {
        if (fs_path_is(&r, "/api/v1/search_by_date") && n_hn++ == 1) {
            assert_true(fs_param(&r, "numericFilters", v, sizeof v));
            assert_string_equal(v, "created_at_i>1763892001");
            assert_true(fs_param(&r, "hitsPerPage", v, sizeof v));
            hn2 = true;
        } else if (fs_path_is(&r, "/r/acme/new.json") && n_rd++ == 1) {
            assert_true(fs_param(&r, "before", v, sizeof v));
            assert_string_equal(v, "t3_ab2");
            assert_true(fs_header(&r, "User-Agent", v, sizeof v));
            assert_string_equal(v, "test:earshot:0.1 (by /u/earshot)");
            rd2 = true;
        } else if (fs_path_is(&r, "/xrpc/app.bsky.feed.searchPosts")) {
            n_bs++;
            assert_true(fs_param(&r, "sort", v, sizeof v));
            assert_string_equal(v, "latest");
            if (n_bs == 2) {
                assert_true(fs_param(&r, "since", v, sizeof v));
                assert_string_equal(v, "2026-11-23T10:00:02Z");
                bs2 = true;
            }
            if (fs_param(&r, "cursor", v, sizeof v)) {
                assert_string_equal(v, "pg2");
                bs_page = true;
            }
        } else if (fs_path_is(&r, "/feed.json") && n_jf++ == 1) {
            assert_true(fs_header(&r, "If-None-Match", v, sizeof v));
            assert_string_equal(v, "\"v1\"");
            jf304 = true;
        }
    }
    assert_true(hn2 && rd2 && bs2 && bs_page && jf304);
    fs_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(poll_mastodon_pages_limits_and_failures),
        cmocka_unit_test(poll_kill9_then_restart_processes_each_once),
        cmocka_unit_test(poll_presets_cursors_and_conditional_get),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
