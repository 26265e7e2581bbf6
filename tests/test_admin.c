/*
 * The admin endpoint end to end: `earshot run` with `admin:` on a free
 * 127.0.0.1 port (listen 127.0.0.1:0; the port is read from the log), a
 * token from the environment, a followed file feed this test appends to,
 * and two file sinks that are the tiers of an escalation policy.
 *
 *   - /healthz needs no token; everything else answers 401 without it;
 *   - /metrics counters move by exactly what was fed (mentions in, decode
 *     errors, complaints by kind);
 *   - /readyz, POST /-/reload (200, and 400 naming line and column),
 *     silences through the API, 404s;
 *   - `earshot top --once` prints the topics;
 *   - acknowledging through the API stops an escalation: one complaint is
 *     acknowledged before its ack timeout (ACK_TIMEOUT_S) and never
 *     reaches tier 2, while a second, unacknowledged one climbs.
 *
 * One engine serves every test (group setup/teardown). Waiting is polling
 * against a deadline; the only real wait is the escalation's own timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "testutil.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "s3cret-admin-token"
/* The escalation's tier-2 delay. The acknowledgement must land inside it,
 * so it is long enough for a loaded CI machine to pick up the mention,
 * find the incident and POST the ack, and short enough to wait for. */
#define ACK_TIMEOUT_S 4
#define STR_(x) #x
#define STR(x) STR_(x)

static char dir[256];
static char cfg_path[300], feed_path[300], log_path[300], t1_path[300], t2_path[300];
static pid_t child = -1;
static int port;
static es_buf body;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return es_buf_add(ud, p, size * n) == 0 ? size * n : 0;
}

/* One request; the response body lands in `body`. Returns the status. */
static long request(const char *method, const char *path, const char *data, bool token)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (token) {
        hdrs = curl_slist_append(hdrs, "Authorization: Bearer " TOKEN);
    }
    if (data != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
    }
    es_buf_reset(&body);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

/* The value of one sample line "NAME{...} V" in the last /metrics body. */
static double sample(const char *series)
{
    char want[300];
    snprintf(want, sizeof want, "\n%s ", series);
    const char *p = strstr(body.data, want);
    return p != NULL ? strtod(p + strlen(want), NULL) : -1;
}

/* Poll /metrics until `series` has value v (or the deadline passes). */
static double wait_metric(const char *series, double v)
{
    double got = -1;
    for (int64_t end = mono_ms() + 10000; mono_ms() < end; sleep_ms(10)) {
        assert_int_equal(request("GET", "/metrics", NULL, true), 200);
        got = sample(series);
        if (got == v) {
            break;
        }
    }
    return got;
}

static void append(const char *lines)
{
    FILE *f = fopen(feed_path, "a");
    assert_non_null(f);
    fputs(lines, f);
    fclose(f);
}

static int seq = 0;

/* A complaint mention with id c<n>; returns n. */
static int complaint(void)
{
    char line[400];
    int n = ++seq;
    snprintf(line, sizeof line,
             "{\"id\":\"c%d\",\"created_at\":%d,\"author\":\"u%d\",\"text\":\"@acme my order %d "
             "never arrived and support ignores me, worst service ever, I want a refund\"}\n",
             n, 1748736000 + n, n, n);
    append(line);
    return n;
}

static void praise(void)
{
    char line[300];
    int n = ++seq;
    snprintf(line, sizeof line,
             "{\"id\":\"p%d\",\"created_at\":%d,\"author\":\"u%d\",\"text\":\"@acme thanks, "
             "love the new app, great job\"}\n",
             n, 1748736000 + n, n);
    append(line);
}

/* Admin's listen address as written to the config (a test may change it). */
static const char *admin_listen = "127.0.0.1:0";

static void write_config(const char *extra_top)
{
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fprintf(f,
            "state: %s/state.db\n"
            "lexicons: %s\n"
            "%s"
            "admin:\n"
            "  enabled: true\n"
            "  listen: %s\n"
            "  token_env: ES_TEST_ADMIN_TOKEN\n"
            "topics:\n"
            "  - name: acme\n"
            "    query: '@acme'\n"
            "feeds:\n"
            "  - name: input\n"
            "    type: file\n"
            "    path: %s\n"
            "    follow: true\n"
            "sinks:\n"
            "  - name: tier1\n"
            "    type: file\n"
            "    path: %s\n"
            "  - name: tier2\n"
            "    type: file\n"
            "    path: %s\n"
            "route:\n"
            "  receivers: [tier1]\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n"
            "  escalation: support\n"
            "escalations:\n"
            "  - name: support\n"
            "    tiers:\n"
            "      - sinks: [tier1]\n"
            "      - after: " STR(ACK_TIMEOUT_S) "s\n"
            "        sinks: [tier2]\n",
            dir, ES_TEST_LEXICONS, extra_top, admin_listen, feed_path, t1_path, t2_path);
    fclose(f);
}

static int start(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    es_buf_init(&body, 16 << 20);
    snprintf(dir, sizeof dir, "/tmp/es_test_admin_%d_XXXXXX", (int)getpid());
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/c.yaml", dir);
    snprintf(feed_path, sizeof feed_path, "%s/m.ndjson", dir);
    snprintf(log_path, sizeof log_path, "%s/run.log", dir);
    snprintf(t1_path, sizeof t1_path, "%s/tier1.ndjson", dir);
    snprintf(t2_path, sizeof t2_path, "%s/tier2.ndjson", dir);
    FILE *f = fopen(feed_path, "w");
    if (f == NULL) {
        return -1;
    }
    fclose(f);
    write_config("");
    setenv("ES_TEST_ADMIN_TOKEN", TOKEN, 1);
    child = es_test_spawn_run(cfg_path, log_path, NULL);
    if (child < 0) {
        return -1;
    }
    port = es_test_wait_log_port(log_path, 10000);
    return port > 0 ? 0 : -1;
}

static int stop(void **state)
{
    (void)state;
    int rc = 0;
    if (child > 0) {
        kill(child, SIGTERM);
        int st = 0;
        waitpid(child, &st, 0);
        /* A graceful stop exits 0; anything else (a sanitizer report, a
         * crash while closing the admin handles) fails the group. */
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char *log = es_test_read_file(log_path, NULL);
            fprintf(stderr, "earshot run did not stop cleanly:\n%s\n", log ? log : "");
            free(log);
            rc = -1;
        }
    }
    es_buf_free(&body);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        rc = -1;
    }
    curl_global_cleanup();
    return rc;
}

/* ---- Tests ------------------------------------------------------------------------ */

static void test_token_and_health(void **state)
{
    (void)state;
    assert_int_equal(request("GET", "/healthz", NULL, false), 200);
    assert_string_equal(body.data, "ok\n");
    assert_int_equal(request("GET", "/metrics", NULL, false), 401);
    assert_int_equal(request("GET", "/api/v1/alerts", NULL, false), 401);
    assert_int_equal(request("POST", "/-/reload", "", false), 401);
    assert_int_equal(request("GET", "/readyz", NULL, false), 401);
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    assert_non_null(strstr(body.data, "# TYPE earshot_mentions_in_total counter\n"));
    assert_int_equal(request("GET", "/readyz", NULL, true), 200);
    assert_non_null(strstr(body.data, "\"ready\":true"));
    assert_int_equal(request("GET", "/no/such/path", NULL, true), 404);
    assert_int_equal(request("DELETE", "/metrics", NULL, true), 405);
}

static void test_counters_move(void **state)
{
    (void)state;
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    double in0 = sample("earshot_mentions_in_total");
    double bad0 = sample("earshot_feed_decode_errors_total{feed=\"input\"}");
    double c0 = sample("earshot_alerts_total{kind=\"complaint\",severity=\"warning\","
                       "status=\"firing\"}");
    if (c0 < 0) {
        c0 = 0;
    }
    assert_true(in0 >= 0);
    praise();
    praise();
    complaint();
    append("this line is not JSON\n");
    assert_true(wait_metric("earshot_mentions_in_total", in0 + 3) == in0 + 3);
    assert_true(wait_metric("earshot_feed_decode_errors_total{feed=\"input\"}", bad0 + 1) ==
                bad0 + 1);
    assert_true(wait_metric("earshot_alerts_total{kind=\"complaint\",severity=\"warning\","
                            "status=\"firing\"}",
                            c0 + 1) == c0 + 1);
    /* Exactly: two more mentions, two more counted, not three. */
    praise();
    praise();
    assert_true(wait_metric("earshot_mentions_in_total", in0 + 5) == in0 + 5);
    assert_true(sample("earshot_topic_mentions_total{topic=\"acme\"}") >= 5);
    assert_true(sample("earshot_topic_sentiment_total{topic=\"acme\",sentiment=\"positive\"}") >=
                4);
    assert_true(sample("earshot_feed_cursor_lag_seconds{feed=\"input\"}") > 0);
}

static void test_top_once(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    const char *argv[] = {"earshot", "top",  "--once", "--url", url, "--token-env",
                          "ES_TEST_ADMIN_TOKEN", NULL};
    char *out = NULL, *err = NULL;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "TOPIC"));
    assert_non_null(strstr(out, "\nacme "));
    assert_non_null(strstr(out, "\ninput "));
    assert_null(strstr(out, "\x1b[")); /* --once: no escape codes */
    free(out);
    free(err);
    /* Without the token: a clear error and exit 1. */
    const char *argv2[] = {"earshot", "top", "--once", "--url", url, NULL};
    rc = es_test_run(argv2, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "401"));
    free(out);
    free(err);
}

static void test_reload(void **state)
{
    (void)state;
    assert_int_equal(request("POST", "/-/reload", "", true), 200);
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    assert_true(sample("earshot_reloads_total{result=\"ok\"}") == 1);
    /* An unknown key on line 3: 400 naming the line and column; the
     * running config stays (the endpoint still answers with the token). */
    write_config("colour: blue\n");
    assert_int_equal(request("POST", "/-/reload", "", true), 400);
    assert_non_null(strstr(body.data, "\"line\":3"));
    assert_non_null(strstr(body.data, "colour"));
    write_config("");
    assert_int_equal(request("GET", "/readyz", NULL, true), 200);
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    assert_true(sample("earshot_reloads_total{result=\"error\"}") == 1);
    /* A changed admin address cannot move the listener under a running
     * engine: the reload goes through, the endpoint stays where it is,
     * and the log says the change waits for a restart. */
    admin_listen = "127.0.0.1:1";
    write_config("");
    assert_int_equal(request("POST", "/-/reload", "", true), 200);
    admin_listen = "127.0.0.1:0";
    write_config("");
    char *log = es_test_read_file(log_path, NULL);
    bool said = log != NULL && strstr(log, "admin: settings changed") != NULL;
    free(log);
    assert_true(said);
    /* Mentions still flow after the reloads. */
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    double in = sample("earshot_mentions_in_total");
    praise();
    assert_true(wait_metric("earshot_mentions_in_total", in + 1) == in + 1);
}

static void test_silences(void **state)
{
    (void)state;
    assert_int_equal(request("POST", "/api/v1/silences",
                             "{\"matchers\":[\"topic=\\\"nobody\\\"\"],\"duration\":\"1h\","
                             "\"comment\":\"test\"}",
                             true),
                     201);
    long long id = strtoll(strstr(body.data, "\"id\":") + 5, NULL, 10);
    assert_true(id > 0);
    assert_int_equal(request("GET", "/api/v1/silences", NULL, true), 200);
    assert_non_null(strstr(body.data, "topic=\\\"nobody\\\""));
    char path[64];
    snprintf(path, sizeof path, "/api/v1/silences/%lld", id);
    assert_int_equal(request("DELETE", path, NULL, true), 200);
    assert_int_equal(request("GET", "/api/v1/silences", NULL, true), 200);
    assert_null(strstr(body.data, "nobody"));
    assert_int_equal(request("DELETE", "/api/v1/silences/999999", NULL, true), 404);
    /* A bad matcher and a bad body are 400s that say why. */
    assert_int_equal(request("POST", "/api/v1/silences", "{\"matchers\":[\"topic=~\\\"(\\\"\"]}",
                             true),
                     400);
    assert_int_equal(request("POST", "/api/v1/silences", "{\"matchers\":", true), 400);
    assert_non_null(strstr(body.data, "bad_json"));
    assert_int_equal(request("POST", "/api/v1/alerts/nope/ack", "", true), 404);
}

/* The open incident (from /api/v1/alerts) whose group holds "c<n>". */
static long long incident_for(int n)
{
    char fp[64];
    snprintf(fp, sizeof fp, "acme/complaint/c%d", n);
    for (int64_t end = mono_ms() + 15000; mono_ms() < end; sleep_ms(20)) {
        assert_int_equal(request("GET", "/api/v1/alerts", NULL, true), 200);
        const char *p = strstr(body.data, fp);
        if (p == NULL) {
            continue;
        }
        /* Incidents come first in the answer; find the one holding fp. */
        const char *inc = strstr(body.data, "\"incidents\":[");
        const char *alerts = strstr(body.data, "],\"alerts\":[");
        if (inc == NULL || alerts == NULL || p > alerts) {
            continue;
        }
        const char *start = p;
        while (start > inc && strncmp(start, "{\"id\":", 6) != 0) {
            start--;
        }
        if (start > inc) {
            return strtoll(start + 6, NULL, 10);
        }
    }
    return -1;
}

static bool file_has(const char *path, const char *needle)
{
    char *s = es_test_read_file(path, NULL);
    bool has = s != NULL && strstr(s, needle) != NULL;
    free(s);
    return has;
}

static void test_ack_stops_escalation(void **state)
{
    (void)state;
    /* The escalation's clock starts when the engine pushes the alert,
     * which is after this append. */
    int64_t appended = mono_ms();
    int a = complaint();
    /* The engine runs route: and escalations:, so the complaint opens an
     * incident. */
    long long inc = incident_for(a);
    if (inc < 0) {
        fail_msg("no incident holds complaint c%d; see %s", a, log_path);
    }
    char path[96];
    snprintf(path, sizeof path, "/api/v1/alerts/%lld/ack", inc);
    assert_int_equal(request("POST", path, "{\"by\":\"test\"}", true), 200);
    assert_non_null(strstr(body.data, "\"status\":\"acknowledged\""));
    /* The ack must have landed before the tier-2 timeout for the test to
     * mean anything (a quarter of a second to spare for the two clocks). */
    int64_t took = mono_ms() - appended;
    if (took >= ACK_TIMEOUT_S * 1000 - 250) {
        fail_msg("the ack came %lld ms after the mention, too late to tell whether it stopped "
                 "the %d s escalation",
                 (long long)took, ACK_TIMEOUT_S);
    }
    int b = complaint();
    assert_true(incident_for(b) > 0);
    char fa[64], fb[64];
    snprintf(fa, sizeof fa, "acme/complaint/c%d\"", a);
    snprintf(fb, sizeof fb, "acme/complaint/c%d\"", b);
    /* The unacknowledged one climbs to tier 2 after ACK_TIMEOUT_S... */
    bool climbed = false;
    for (int64_t end = mono_ms() + 15000; mono_ms() < end && !climbed; sleep_ms(50)) {
        climbed = file_has(t2_path, fb);
    }
    assert_true(climbed);
    /* ...by which time the acknowledged one, older, would have too. */
    assert_false(file_has(t2_path, fa));
    assert_true(file_has(t1_path, fa));
    assert_int_equal(request("GET", "/metrics", NULL, true), 200);
    assert_non_null(strstr(body.data, "earshot_time_to_acknowledge_seconds_count{policy=\"support\"} 1\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_health),
        cmocka_unit_test(test_counters_move),
        cmocka_unit_test(test_top_once),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_silences),
        cmocka_unit_test(test_ack_stops_escalation),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
