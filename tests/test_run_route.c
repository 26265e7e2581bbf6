/*
 * Routing in the live engine and in `backfill --deliver`, through the
 * binary: escalation stopped by `earshot alerts ack` from another process,
 * a grouped webhook beside a file sink that still gets every alert,
 * backfill delivering to a file sink and to a webhook on 127.0.0.1, and a
 * group waiting for its webhook that survives kill -9 of the engine.
 */
#include "fake_http.c"
#include "testutil.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_test_route_%d_XXXXXX", (int)getpid());
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *fmt, ...)
{
    char p[300];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* Complaints first..first+n-1, a minute apart, from different authors:
 * "c<first>", ...; appended when `mode` is "a". */
static void put_complaints(const char *name, const char *mode, int first, int n)
{
    char p[300];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    for (int i = first; i < first + n; i++) {
        fprintf(f,
                "{\"id\":\"c%d\",\"created_at\":%lld,\"author\":\"u%d\",\"text\":\"@acme my "
                "order %d never arrived and support ignores me, worst service ever, I want a "
                "refund\"}\n",
                i, 1748736000LL + 60LL * i, i, i);
    }
    fclose(f);
}

static void write_complaints(const char *name, int n)
{
    put_complaints(name, "w", 0, n);
}

static char *read_in(const char *name)
{
    char p[300];
    path_in(p, sizeof p, name);
    char *s = es_test_read_file(p, NULL);
    return s != NULL ? s : strdup("");
}

static size_t lines_in(const char *name)
{
    char *s = read_in(name);
    size_t n = es_test_count_lines(s);
    free(s);
    return n;
}

static size_t wait_lines(const char *name, size_t n, int timeout_ms)
{
    char p[300];
    path_in(p, sizeof p, name);
    return es_test_wait_lines(p, n, timeout_ms);
}

/* A failed assertion leaves its run behind; the per-test teardown kills
 * it, so it cannot go on writing into the next test's files. */
static int reap_leftover(void **state)
{
    (void)state;
    es_test_reap_leftover();
    return 0;
}

static pid_t spawn_run(const char *cfg_name)
{
    char cfg[300], log[300];
    path_in(cfg, sizeof cfg, cfg_name);
    path_in(log, sizeof log, "run.log");
    pid_t pid = es_test_spawn_run(cfg, log, NULL);
    assert_true(pid >= 0);
    return pid;
}

/* The alert id on the line of `name` that quotes mention `mid`. */
static int alert_id_for(const char *name, const char *mid, char out[32])
{
    char *s = read_in(name);
    char needle[64];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", mid);
    int found = -1;
    for (char *line = s; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        if (strstr(line, needle) != NULL && strncmp(line, "{\"id\":\"", 7) == 0) {
            snprintf(out, 32, "%.26s", line + 7);
            found = 0;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(s);
    return found;
}

/*
 * Two complaints open two incidents (group_by every alert alone); tier 1 is
 * reached at once, tier 2 after 2 s without an acknowledgement. One incident
 * is acknowledged by `earshot alerts ack` (another process, through the
 * state file) before the 2 s: only the other one climbs to tier 2.
 */
static void test_ack_from_cli_stops_the_climb(void **state)
{
    (void)state;
    write_complaints("esc.ndjson", 2);
    write_file("esc.yaml",
               "state: %s/esc.db\n"
               "lexicons: %s/lexicons\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "feeds:\n"
               "  - name: input\n"
               "    type: file\n"
               "    path: %s/esc.ndjson\n"
               "    follow: true\n"
               "    poll_interval: 50ms\n"
               "sinks:\n"
               "  - name: tier1\n"
               "    type: file\n"
               "    path: %s/tier1.ndjson\n"
               "  - name: tier2\n"
               "    type: file\n"
               "    path: %s/tier2.ndjson\n"
               "route:\n"
               "  receivers: []\n"
               "  group_by: ['...']\n"
               "  group_wait: 0s\n"
               "  escalation: support\n"
               "escalations:\n"
               "  - name: support\n"
               "    tiers:\n"
               "      - sinks: [tier1]\n"
               "      - after: 2s\n"
               "        sinks: [tier2]\n",
               dir, ES_TEST_SOURCE_DIR, dir, dir, dir);
    pid_t pid = spawn_run("esc.yaml");
    assert_int_equal(wait_lines("tier1.ndjson", 2, 20000), 2);
    int64_t reached = es_test_now_ms();
    char acked[32], other[32];
    assert_int_equal(alert_id_for("tier1.ndjson", "c0", acked), 0);
    assert_int_equal(alert_id_for("tier1.ndjson", "c1", other), 0);

    char cfg[300];
    path_in(cfg, sizeof cfg, "esc.yaml");
    const char *argv[] = {"earshot", "alerts", "ack", acked, "-c", cfg, "--by", "test", NULL};
    char *out = NULL, *err = NULL;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "ack: %s%s\n", out, err);
    }
    assert_int_equal(rc, 0);
    free(out);
    free(err);
    /* The ack must land inside the 2 s, or the test proves nothing. */
    if (es_test_now_ms() - reached >= 1800) {
        es_test_stop_run(pid);
        skip();
    }

    assert_int_equal(wait_lines("tier2.ndjson", 1, 20000), 1);
    /* Both incidents were due at the same moment; give a straggler a
     * chance to show up before looking. */
    int64_t end = es_test_now_ms() + 1500;
    while (es_test_now_ms() < end && lines_in("tier2.ndjson") < 2) {
        es_test_nap_ms(20);
    }
    assert_int_equal(es_test_stop_run(pid), 0);
    char *t2 = read_in("tier2.ndjson");
    assert_int_equal(es_test_count_lines(t2), 1);
    assert_non_null(strstr(t2, other));
    assert_null(strstr(t2, acked));
    free(t2);
    /* Tier 1 was told once per alert: the acknowledgement is no alert. */
    assert_int_equal(lines_in("tier1.ndjson"), 2);
}

/*
 * A wave of 5 complaints through `group_by: [topic, kind]` with one example
 * per notification: the webhook gets one grouped notification (count 5,
 * one alert in it); the file sink on the same route writes all 5 alerts,
 * each once, at once.
 */
static void test_grouped_webhook_file_gets_every_alert(void **state)
{
    (void)state;
    fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(&ok, 1, &ok);
    assert_non_null(srv);
    write_complaints("wave.ndjson", 5);
    write_file("wave.yaml",
               "state: %s/wave.db\n"
               "lexicons: %s/lexicons\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "feeds:\n"
               "  - name: input\n"
               "    type: file\n"
               "    path: %s/wave.ndjson\n"
               "    follow: true\n"
               "    poll_interval: 50ms\n"
               "sinks:\n"
               "  - name: archive\n"
               "    type: file\n"
               "    path: %s/archive.ndjson\n"
               "  - name: hook\n"
               "    type: webhook\n"
               "    url: http://127.0.0.1:%d/hook\n"
               "route:\n"
               "  receivers: [hook, archive]\n"
               "  group_by: [topic, kind]\n"
               "  group_wait: 500ms\n"
               "  group_interval: 1h\n"
               "  max_examples: 1\n",
               dir, ES_TEST_SOURCE_DIR, dir, dir, fh_port(srv));
    pid_t pid = spawn_run("wave.yaml");
    assert_int_equal(wait_lines("archive.ndjson", 5, 20000), 5);
    assert_int_equal(fh_wait(srv, 1, 20000), 1);
    assert_int_equal(es_test_stop_run(pid), 0);

    char *a = read_in("archive.ndjson");
    for (int i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\"id\":\"c%d\"", i);
        assert_int_equal(es_test_count_str(a, needle), 1);
    }
    assert_int_equal(es_test_count_lines(a), 5);
    free(a);
    assert_int_equal(fh_count(srv), 1);
    const fh_request *r = fh_get(srv, 0);
    assert_non_null(strstr(r->body, "\"count\":5"));
    assert_int_equal(es_test_count_str(r->body, "\"fingerprint\""), 1);
    fh_stop(srv);
}

/* A group still inside its group_wait when the engine is stopped is sent
 * during the drain, not lost with the process. */
static void test_sigterm_sends_waiting_groups(void **state)
{
    (void)state;
    fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(&ok, 1, &ok);
    assert_non_null(srv);
    write_complaints("wait.ndjson", 3);
    write_file("wait.yaml",
               "state: %s/wait.db\n"
               "lexicons: %s/lexicons\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "feeds:\n"
               "  - name: input\n"
               "    type: file\n"
               "    path: %s/wait.ndjson\n"
               "    follow: true\n"
               "    poll_interval: 50ms\n"
               "sinks:\n"
               "  - name: archive\n"
               "    type: file\n"
               "    path: %s/wait_archive.ndjson\n"
               "  - name: hook\n"
               "    type: webhook\n"
               "    url: http://127.0.0.1:%d/hook\n"
               "route:\n"
               "  receivers: [hook, archive]\n"
               "  group_by: [topic]\n"
               "  group_wait: 1h\n",
               dir, ES_TEST_SOURCE_DIR, dir, dir, fh_port(srv));
    pid_t pid = spawn_run("wait.yaml");
    assert_int_equal(wait_lines("wait_archive.ndjson", 3, 20000), 3);
    assert_int_equal(fh_count(srv), 0); /* held by group_wait */
    assert_int_equal(es_test_stop_run(pid), 0);
    assert_int_equal(fh_count(srv), 1);
    assert_non_null(strstr(fh_get(srv, 0)->body, "\"count\":3"));
    fh_stop(srv);
}

/* SIGHUP with a new `route:`: the router is rebuilt, and alerts after the
 * reload go where the new tree says (a new file sink), while the feed,
 * unchanged, keeps reading where it was. */
static void write_hup_config(const char *receiver)
{
    write_file("hup.yaml",
               "state: %s/hup.db\n"
               "lexicons: %s/lexicons\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "feeds:\n"
               "  - name: input\n"
               "    type: file\n"
               "    path: %s/hup.ndjson\n"
               "    follow: true\n"
               "    poll_interval: 50ms\n"
               "sinks:\n"
               "  - name: before\n"
               "    type: file\n"
               "    path: %s/hup_before.ndjson\n"
               "  - name: after\n"
               "    type: file\n"
               "    path: %s/hup_after.ndjson\n"
               "route:\n"
               "  receivers: [%s]\n"
               "  group_by: ['...']\n",
               dir, ES_TEST_SOURCE_DIR, dir, dir, dir, receiver);
}

static void test_sighup_rebuilds_the_router(void **state)
{
    (void)state;
    put_complaints("hup.ndjson", "w", 0, 2);
    write_hup_config("before");
    pid_t pid = spawn_run("hup.yaml");
    assert_int_equal(wait_lines("hup_before.ndjson", 2, 20000), 2);
    write_hup_config("after");
    kill(pid, SIGHUP);
    /* The reload is logged once it is in place. */
    int64_t end = es_test_now_ms() + 20000;
    char *log = NULL;
    while (es_test_now_ms() < end) {
        free(log);
        log = read_in("run.log");
        if (strstr(log, "reloaded") != NULL) {
            break;
        }
        es_test_nap_ms(20);
    }
    assert_non_null(strstr(log, "reloaded"));
    free(log);
    put_complaints("hup.ndjson", "a", 2, 2);
    assert_int_equal(wait_lines("hup_after.ndjson", 2, 20000), 2);
    assert_int_equal(es_test_stop_run(pid), 0);
    char *b = read_in("hup_before.ndjson");
    char *a = read_in("hup_after.ndjson");
    assert_int_equal(es_test_count_lines(b), 2);
    assert_non_null(strstr(b, "\"id\":\"c1\""));
    assert_null(strstr(b, "\"id\":\"c2\""));
    assert_int_equal(es_test_count_lines(a), 2);
    assert_non_null(strstr(a, "\"id\":\"c2\""));
    assert_non_null(strstr(a, "\"id\":\"c3\""));
    free(a);
    free(b);
}

/* ---- backfill --deliver ----------------------------------------------------- */

static void write_backfill_config(const char *name, const char *db, const char *sinks,
                                  const char *route)
{
    write_file(name,
               "state: %s/%s\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "sinks:\n%s%s",
               dir, db, sinks, route);
}

static int run_backfill(const char *cfg_name, const char *input, const char *extra, char **out,
                        char **err)
{
    char cfg[300], in[300], lex[300];
    path_in(cfg, sizeof cfg, cfg_name);
    path_in(in, sizeof in, input);
    snprintf(lex, sizeof lex, "%s/lexicons", ES_TEST_SOURCE_DIR);
    const char *argv[12] = {"earshot", "backfill", "-c", cfg, "--lexicons", lex, "--deliver"};
    size_t n = 7;
    if (extra != NULL) {
        argv[n++] = "--deliver-timeout";
        argv[n++] = extra;
    }
    argv[n++] = in;
    argv[n] = NULL;
    return es_test_run(argv, NULL, 0, out, err);
}

/* Without --deliver nothing reaches a sink; with it, every alert reaches
 * the file sink once, and a second run delivers nothing new. */
static void test_backfill_deliver_file(void **state)
{
    (void)state;
    write_complaints("bf.ndjson", 4);
    char sinks[400];
    snprintf(sinks, sizeof sinks, "  - name: archive\n    type: file\n    path: %s/bf_out.ndjson\n",
             dir);
    write_backfill_config("bf.yaml", "bf.db", sinks, "");
    char *out = NULL, *err = NULL;
    char cfg[300], in[300];
    path_in(cfg, sizeof cfg, "bf.yaml");
    path_in(in, sizeof in, "bf.ndjson");
    const char *plain[] = {"earshot", "backfill", "-c", cfg, "--lexicons",
                           ES_TEST_SOURCE_DIR "/lexicons", in, NULL};
    assert_int_equal(es_test_run(plain, NULL, 0, &out, &err), 0);
    assert_int_equal(es_test_count_lines(out), 4);
    assert_int_equal(lines_in("bf_out.ndjson"), 0);
    free(out);
    free(err);

    assert_int_equal(run_backfill("bf.yaml", "bf.ndjson", NULL, &out, &err), 0);
    assert_int_equal(es_test_count_lines(out), 4); /* stdout still gets them */
    assert_non_null(strstr(err, "4 delivered"));
    free(out);
    free(err);
    char *a = read_in("bf_out.ndjson");
    assert_int_equal(es_test_count_lines(a), 4);
    for (int i = 0; i < 4; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\"id\":\"c%d\"", i);
        assert_int_equal(es_test_count_str(a, needle), 1);
    }
    free(a);

    /* The same history again: the spool knows every alert. */
    assert_int_equal(run_backfill("bf.yaml", "bf.ndjson", NULL, &out, &err), 0);
    assert_non_null(strstr(err, "0 delivered"));
    free(out);
    free(err);
    assert_int_equal(lines_in("bf_out.ndjson"), 4);
}

/*
 * A webhook routed with grouping, in event time: the 4 complaints a minute
 * apart with group_wait 30s and group_interval 2m make notifications by
 * mention time, delivered to a receiver that first answers 503 (retried).
 * Then a receiver that never answers: exit 1, and the alerts stay spooled.
 */
static void test_backfill_deliver_webhook(void **state)
{
    (void)state;
    fh_step fail = {FH_RESPOND, 503, NULL, "busy", 0};
    fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(&fail, 1, &ok);
    assert_non_null(srv);
    write_complaints("wh.ndjson", 4);
    char sinks[400];
    snprintf(sinks, sizeof sinks,
             "  - name: hook\n    type: webhook\n    url: http://127.0.0.1:%d/hook\n"
             "    backoff_base: 100ms\n",
             fh_port(srv));
    write_backfill_config("wh.yaml", "wh.db", sinks,
                          "route:\n"
                          "  receivers: [hook]\n"
                          "  group_by: [topic, kind]\n"
                          "  group_wait: 30s\n"
                          "  group_interval: 2m\n");
    char *out = NULL, *err = NULL;
    int rc = run_backfill("wh.yaml", "wh.ndjson", "20s", &out, &err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
    }
    assert_int_equal(rc, 0);
    free(out);
    free(err);
    /* 00:00:30 (c0), 00:02:30 (c0..c2), then c3 at 00:03 is flushed at
     * 00:04:30: event time runs to the end of the input and the group's
     * pending update is still sent. The first try of the first was a 503. */
    size_t n = fh_count(srv);
    assert_true(n >= 3);
    assert_int_equal(fh_get(srv, 0)->status, 503);
    /* The retry of the first comes after the others (its backoff). */
    bool four = false;
    for (size_t i = 0; i < n; i++) {
        const fh_request *q = fh_get(srv, i);
        four |= q->status == 200 && strstr(q->body, "\"count\":4") != NULL;
    }
    assert_true(four);
    fh_stop(srv);

    /* A receiver that hangs: the deliver timeout ends the wait, exit 1. */
    fh_step hang = {FH_HANG, 0, NULL, NULL, 60000};
    srv = fh_start(&hang, 1, &hang);
    assert_non_null(srv);
    snprintf(sinks, sizeof sinks,
             "  - name: hook\n    type: webhook\n    url: http://127.0.0.1:%d/hook\n"
             "    timeout: 300ms\n",
             fh_port(srv));
    write_backfill_config("hang.yaml", "hang.db", sinks, "");
    rc = run_backfill("hang.yaml", "wh.ndjson", "1s", &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "left in the spool"));
    free(out);
    free(err);
    fh_stop(srv);
}

/* ---- Alerts waiting in a group survive kill -9 (route_waiting) ------------- */

/*
 * Three complaints wait in a 4 s group_wait for the webhook (the archive
 * file has them at once). The engine is killed with SIGKILL before the
 * group is due; a new engine on the same state file sends the group: one
 * request to the webhook, count 3, every alert in it, and nothing twice.
 */
static void test_kill9_then_restart_sends_the_group(void **state)
{
    (void)state;
    fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(&ok, 1, &ok);
    assert_non_null(srv);
    write_complaints("k9.ndjson", 3);
    write_file("k9.yaml",
               "state: %s/k9.db\n"
               "lexicons: %s/lexicons\n"
               "topics:\n"
               "  - name: acme\n"
               "    query: '@acme'\n"
               "feeds:\n"
               "  - name: input\n"
               "    type: file\n"
               "    path: %s/k9.ndjson\n"
               "    follow: true\n"
               "    poll_interval: 50ms\n"
               "sinks:\n"
               "  - name: archive\n"
               "    type: file\n"
               "    path: %s/k9_archive.ndjson\n"
               "  - name: hook\n"
               "    type: webhook\n"
               "    url: http://127.0.0.1:%d/hook\n"
               "route:\n"
               "  receivers: [hook, archive]\n"
               "  group_by: [topic]\n"
               "  group_wait: 4s\n"
               "  max_examples: 0\n",
               dir, ES_TEST_SOURCE_DIR, dir, dir, fh_port(srv));
    int64_t started = es_test_now_ms();
    pid_t pid = spawn_run("k9.yaml");
    assert_int_equal(wait_lines("k9_archive.ndjson", 3, 20000), 3);
    /* The archive line is written after the batch holding the waiting
     * rows committed. Killed before the group was due, or the test
     * proves nothing. */
    bool early = fh_count(srv) == 0 && es_test_now_ms() - started < 3500;
    kill(pid, SIGKILL);
    assert_int_equal(es_test_wait_run(pid, 30000), 128 + SIGKILL);
    if (!early) {
        fh_stop(srv);
        skip();
    }
    assert_int_equal(fh_count(srv), 0);

    pid = spawn_run("k9.yaml");
    assert_int_equal(fh_wait(srv, 1, 20000), 1);
    /* A straggler (a duplicate) would come right after. */
    int64_t end = es_test_now_ms() + 1000;
    while (es_test_now_ms() < end && fh_count(srv) < 2) {
        es_test_nap_ms(20);
    }
    assert_int_equal(es_test_stop_run(pid), 0);
    assert_int_equal(fh_count(srv), 1);
    const fh_request *r = fh_get(srv, 0);
    assert_non_null(strstr(r->body, "\"count\":3"));
    assert_int_equal(es_test_count_str(r->body, "\"fingerprint\""), 3);
    for (int i = 0; i < 3; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\"id\":\"c%d\"", i);
        assert_int_equal(es_test_count_str(r->body, needle), 1);
    }
    /* The archive still has each alert once: the restored group does not
     * write them again. */
    char *a = read_in("k9_archive.ndjson");
    assert_int_equal(es_test_count_lines(a), 3);
    free(a);
    char *log = read_in("run.log");
    assert_non_null(strstr(log, "waiting alerts read back"));
    free(log);
    fh_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ack_from_cli_stops_the_climb, reap_leftover),
        cmocka_unit_test_teardown(test_grouped_webhook_file_gets_every_alert, reap_leftover),
        cmocka_unit_test_teardown(test_sigterm_sends_waiting_groups, reap_leftover),
        cmocka_unit_test_teardown(test_sighup_rebuilds_the_router, reap_leftover),
        cmocka_unit_test_teardown(test_backfill_deliver_file, reap_leftover),
        cmocka_unit_test_teardown(test_backfill_deliver_webhook, reap_leftover),
        cmocka_unit_test_teardown(test_kill9_then_restart_sends_the_group, reap_leftover),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
