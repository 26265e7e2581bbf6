/*
 * The `route:` / `escalations:` validator (every error located at the
 * node at fault, in file order), `earshot check` on routing, matchers, and
 * the time zones and weekly windows behind business and quiet hours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "route.h"
#include "testutil.h"
#include "timefmt.h"

static int64_t T(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(es_time_parse(s, strlen(s), &ms), 0);
    return ms;
}

/* ---- The validator ------------------------------------------------------------ */

typedef struct errs {
    char lines[32][640];
    int n;
} errs;

static void collect(const es_error *e, void *ud)
{
    errs *x = ud;
    if (x->n < 32) {
        snprintf(x->lines[x->n], sizeof x->lines[0], "%d:%d: %s", e->line, e->col, e->msg);
    }
    x->n++;
}

static const char sinks[] = "sinks:\n"
                            "  - name: chat\n"
                            "    type: stdout\n"
                            "  - name: pager\n"
                            "    type: stdout\n";

/* Load sinks + `extra`, validate the routing, return the errors. */
static int check_yaml(const char *extra, errs *x)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s%s", sinks, extra);
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load_buffer(yaml, strlen(yaml), "t.yaml", NULL, NULL, &c, &err), 0);
    memset(x, 0, sizeof *x);
    es_route_conf *rc = NULL;
    int rc_code = es_route_conf_load(c, collect, x, &rc, &err);
    if (rc_code == 0) {
        assert_non_null(rc);
    } else {
        assert_null(rc);
        assert_int_equal(rc_code, ES_ECONFIG);
        /* The first error is also returned through err. */
        char first[640];
        snprintf(first, sizeof first, "%d:%d: %s", err.line, err.col, err.msg);
        assert_string_equal(first, x->lines[0]);
        assert_string_equal(err.file, "t.yaml");
    }
    es_route_conf_free(rc);
    es_config_free(c);
    return rc_code;
}

static void expect_one(const char *yaml, const char *want)
{
    errs x;
    check_yaml(yaml, &x);
    if (x.n != 1 || strcmp(x.lines[0], want) != 0) {
        for (int i = 0; i < x.n && i < 32; i++) {
            fprintf(stderr, "got: %s\n", x.lines[i]);
        }
        fail_msg("expected exactly: %s", want);
    }
}

static void test_valid_configs(void **state)
{
    (void)state;
    errs x;
    assert_int_equal(check_yaml("", &x), 0); /* no route: the default tree */
    assert_int_equal(check_yaml("route:\n"
                                "  receivers: [chat]\n"
                                "  group_by: ['...']\n"
                                "  timezone: Europe/Berlin\n"
                                "  business_hours: {days: [mon-fri, sat], hours: [09:00-12:00, "
                                "13:00-17:30], outside_receivers: pager}\n"
                                "  quiet_hours: {hours: '22:00-07:00', min_severity: warning}\n"
                                "  inhibit_rules: []\n"
                                "  routes:\n"
                                "    - name: vip\n"
                                "      matchers: ['topic =~ \"acme|acme-.*\"', severity != info]\n"
                                "      receivers: pager\n"
                                "      escalation: duty\n"
                                "      continue: true\n"
                                "escalations:\n"
                                "  - name: duty\n"
                                "    tiers:\n"
                                "      - sinks: [chat]\n"
                                "      - {after: 15m, sinks: [pager]}\n"
                                "    start_tier_if:\n"
                                "      - {matchers: ['kind=\"viral_post\"'], tier: 2}\n",
                                &x),
                     0);
    assert_int_equal(x.n, 0);
}

static void test_located_errors(void **state)
{
    (void)state;
    /* Each message names the key or value at fault, at its line and column. */
    expect_one("route:\n  receivers: [chat, nosuch]\n",
               "7:21: unknown sink 'nosuch' (sinks: chat, pager)");
    expect_one("route:\n  receivers: chat\n  colour: blue\n",
               "8:3: unknown key 'colour' in route (keys: name, matchers, receivers, continue, "
               "group_by, group_wait, group_interval, repeat_interval, resolve_timeout, "
               "max_examples, timezone, business_hours, quiet_hours, escalation, routes, "
               "inhibit_rules)");
    expect_one("route:\n  receivers: chat\n  group_wait: soon\n",
               "8:15: 'group_wait' must be a duration such as 30s, 5m, 4h or 1d");
    expect_one("route:\n  receivers: chat\n  group_by: [topic, sevrity]\n",
               "8:21: group_by: unknown label 'sevrity' (labels: topic, kind, severity, status, "
               "fingerprint, feed, author, source, intent, competitor, or '...')");
    /* Matchers: the column is the character at fault inside the string. */
    expect_one("route:\n  receivers: chat\n  routes:\n    - matchers: ['topic=~\"acme([\"']\n",
               "9:33: matcher 'topic=~\"acme([\"': bad regex: missing terminating ] for "
               "character class");
    expect_one("route:\n  receivers: chat\n  routes:\n    - matchers: ['severity=\"critcal\"']\n",
               "9:29: matcher 'severity=\"critcal\"': unknown severity 'critcal' (severity: info, "
               "warning, critical)");
    expect_one("route:\n  receivers: chat\n  routes:\n    - matchers: [kind complaint]\n",
               "9:23: matcher 'kind complaint': expected an operator (=, !=, =~ or !~) after "
               "'kind'");
    expect_one("route:\n  receivers: chat\n  matchers: ['kind=\"complaint\"']\n",
               "8:3: the root route matches every alert; put 'matchers' in a child under "
               "'routes'");
    expect_one("route:\n  receivers: chat\n  timezone: Mars/Olympus\n",
               "8:13: unknown time zone 'Mars/Olympus' (no /usr/share/zoneinfo/Mars/Olympus; use "
               "a UTC offset such as \"+01:00\" or a POSIX TZ rule)");
    expect_one("route:\n  receivers: chat\n  business_hours: {hours: '17:00-17:00'}\n",
               "8:28: hours '17:00-17:00' are empty (use 00:00-24:00 for the whole day)");
    expect_one("route:\n  receivers: chat\n  escalation: nope\n",
               "8:15: unknown escalation policy 'nope' (there is no `escalations:` section)");
    expect_one("route:\n  receivers: []\n",
               "7:3: no route has receivers or an escalation: alerts would go nowhere");
    expect_one("escalations:\n  - name: p\n    tiers:\n      - sinks: [chat]\n      - sinks: "
               "[pager]\n",
               "10:9: tier 2 needs 'after': how long to wait for an acknowledgement before "
               "climbing to it");
    expect_one("escalations:\n  - name: p\n    tiers: [{sinks: chat}]\n    start_tier_if:\n"
               "      - {matchers: ['severity=\"critical\"'], tier: 3}\n",
               "10:51: tier 3 does not exist: policy 'p' has 1 tier");
}

static void test_errors_in_file_order(void **state)
{
    (void)state;
    /* `escalations:` is read first (routes name its policies), but the
     * errors come out in the order of the file. */
    errs x;
    check_yaml("route:\n"
               "  receivers: [nosuch]\n"
               "escalations:\n"
               "  - name: p\n"
               "    tiers: [{sinks: [nosuch2]}]\n",
               &x);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.lines[0], "7:15: unknown sink 'nosuch' (sinks: chat, pager)");
    assert_string_equal(x.lines[1], "10:22: unknown sink 'nosuch2' (sinks: chat, pager)");
}

static void test_check_command(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *bad[] = {"earshot", "check", "-c", ES_TEST_FIXTURES "/route/bad/many_errors.yaml",
                         NULL};
    assert_int_equal(es_test_run(bad, NULL, 0, &out, &err), 1);
    /* Every error is reported, located, in file order, and counted. */
    assert_non_null(strstr(err, "many_errors.yaml:5:21: unknown sink 'nosuch'"));
    assert_non_null(strstr(err, "many_errors.yaml:18:53: matcher 'topic=~\"acme([\"': bad regex"));
    assert_non_null(strstr(err, "many_errors.yaml:18:58: matcher 'sevrity=\"critical\"'"));
    assert_non_null(strstr(err, "many_errors.yaml:30:15: tier 7 does not exist"));
    assert_true(strstr(err, ":5:21:") < strstr(err, ":30:15:"));
    assert_non_null(strstr(err, "many_errors.yaml: 18 errors"));
    free(out);
    free(err);

    const char *good[] = {"earshot", "check", "-c",
                          ES_TEST_FIXTURES "/route/golden/escalation/config.yaml", NULL};
    assert_int_equal(es_test_run(good, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out, "every alert -> (no receivers), escalation support"));
    assert_non_null(strstr(out, "tier 2 (unacknowledged 15m after opening): duty-chat, duty-mail"));
    assert_non_null(strstr(out, "starts at tier 3 when severity=\"critical\", kind=\"viral_post\""));
    free(out);
    free(err);
}

/* ---- Matchers ----------------------------------------------------------------- */

static void test_matchers(void **state)
{
    (void)state;
    const char *vals[ES_RL_COUNT] = {0};
    for (int i = 0; i < ES_RL_COUNT; i++) {
        vals[i] = "";
    }
    vals[ES_RL_TOPIC] = "acme-eu";
    vals[ES_RL_KIND] = "complaint";
    vals[ES_RL_SEVERITY] = "warning";
    struct {
        const char *m;
        bool hit;
    } cases[] = {
        {"topic=\"acme-eu\"", true},   {"topic=acme-eu", true},
        {"topic = acme", false},       {"topic=~\"acme\"", false}, /* anchored */
        {"topic=~\"acme.*\"", true},   {"topic!~\"acme.*\"", false},
        {"kind!=\"praise\"", false},   /* praise is not a kind: an error below */
        {"severity!=\"info\"", true},  {"source=\"\"", true}, /* absent label is "" */
        {"source=~\".+\"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        es_matchers *m = NULL;
        es_error err = {0};
        int rc = es_matchers_parse(&cases[i].m, 1, &m, NULL, &err);
        if (i == 6) {
            assert_int_equal(rc, ES_EPARSE);
            assert_string_equal(err.msg, "unknown kind 'praise' (kind: complaint, volume_spike, "
                                         "negative_surge, viral_post, feed_stalled)");
            continue;
        }
        assert_int_equal(rc, 0);
        if (es_matchers_match(m, vals) != cases[i].hit) {
            fail_msg("%s: expected %s", cases[i].m, cases[i].hit ? "a match" : "no match");
        }
        es_matchers_free(m);
    }
}

/* ---- Time zones and windows -------------------------------------------------------- */

static void test_time_zones(void **state)
{
    (void)state;
    es_tz tz;
    es_error err = {0};
    assert_int_equal(es_tz_parse("+05:30", &tz, &err), 0);
    assert_int_equal(es_tz_offset(&tz, T("2015-02-22T00:00:00Z")), 19800);
    assert_int_equal(es_tz_parse("-0800", &tz, &err), 0);
    assert_int_equal(es_tz_offset(&tz, 0), -28800);
    assert_int_not_equal(es_tz_parse("+25:00", &tz, &err), 0);

    /* Berlin: CET, CEST from the last Sunday of March 01:00Z to the last
     * Sunday of October 01:00Z (2015: March 29, October 25). */
    assert_int_equal(es_tz_parse("Europe/Berlin", &tz, &err), 0);
    assert_int_equal(es_tz_offset(&tz, T("2015-03-29T00:59:59Z")), 3600);
    assert_int_equal(es_tz_offset(&tz, T("2015-03-29T01:00:00Z")), 7200);
    assert_int_equal(es_tz_offset(&tz, T("2015-10-25T00:59:59Z")), 7200);
    assert_int_equal(es_tz_offset(&tz, T("2015-10-25T01:00:00Z")), 3600);
    /* New York: EST/EDT, second Sunday of March to first Sunday of November
     * at 02:00 local (2015: March 8 07:00Z, November 1 06:00Z). */
    assert_int_equal(es_tz_parse("America/New_York", &tz, &err), 0);
    assert_int_equal(es_tz_offset(&tz, T("2015-03-08T06:59:59Z")), -18000);
    assert_int_equal(es_tz_offset(&tz, T("2015-03-08T07:00:00Z")), -14400);
    assert_int_equal(es_tz_offset(&tz, T("2015-11-01T05:59:59Z")), -14400);
    assert_int_equal(es_tz_offset(&tz, T("2015-11-01T06:00:00Z")), -18000);
    /* Southern hemisphere, written as a POSIX rule: Sydney's DST spans the
     * new year (AEDT from the first Sunday of October). */
    assert_int_equal(es_tz_parse("AEST-10AEDT,M10.1.0,M4.1.0/3", &tz, &err), 0);
    assert_int_equal(es_tz_offset(&tz, T("2015-01-15T00:00:00Z")), 39600);
    assert_int_equal(es_tz_offset(&tz, T("2015-06-15T00:00:00Z")), 36000);
    assert_int_not_equal(es_tz_parse("Not/A_Zone", &tz, &err), 0);
    assert_int_not_equal(es_tz_parse("../../etc/passwd", &tz, &err), 0);
}

static void test_windows(void **state)
{
    (void)state;
    es_tz tz;
    es_error err = {0};
    assert_int_equal(es_tz_parse("Europe/Berlin", &tz, &err), 0);
    /* Monday to Friday 09:00-17:00 Berlin time. */
    es_window w = {.days = 0x3E, .n = 1, .ranges = {{9 * 3600, 17 * 3600}}};
    assert_true(es_window_contains(&w, &tz, T("2015-02-23T08:00:00Z")));  /* Mon 09:00 */
    assert_false(es_window_contains(&w, &tz, T("2015-02-23T07:59:59Z"))); /* Mon 08:59 */
    assert_false(es_window_contains(&w, &tz, T("2015-02-23T16:00:00Z"))); /* Mon 17:00 */
    assert_false(es_window_contains(&w, &tz, T("2015-02-22T10:00:00Z"))); /* Sunday */
    /* From Friday evening the next opening is Monday 09:00. */
    assert_int_equal(es_window_next_change(&w, &tz, T("2015-02-20T18:00:00Z")),
                     T("2015-02-23T08:00:00Z"));
    /* In summer time the same local hours are an hour earlier in UTC. */
    assert_int_equal(es_window_next_change(&w, &tz, T("2015-07-03T18:00:00Z")),
                     T("2015-07-06T07:00:00Z"));
    /* Inside, the next change is the closing. */
    assert_int_equal(es_window_next_change(&w, &tz, T("2015-02-23T10:00:00Z")),
                     T("2015-02-23T16:00:00Z"));

    /* Overnight quiet hours 22:00-07:00, every day, at UTC. */
    assert_int_equal(es_tz_parse("UTC", &tz, &err), 0);
    es_window q = {.days = 0x7F, .n = 1, .ranges = {{22 * 3600, 31 * 3600}}};
    assert_true(es_window_contains(&q, &tz, T("2015-02-22T23:30:00Z")));
    assert_true(es_window_contains(&q, &tz, T("2015-02-23T06:59:00Z")));
    assert_false(es_window_contains(&q, &tz, T("2015-02-23T07:00:00Z")));
    assert_int_equal(es_window_next_change(&q, &tz, T("2015-02-23T01:00:00Z")),
                     T("2015-02-23T07:00:00Z"));
    /* A window that is always open never changes. */
    es_window all = {.days = 0x7F, .n = 1, .ranges = {{0, 86400}}};
    assert_int_equal(es_window_next_change(&all, &tz, T("2015-02-23T01:00:00Z")), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_configs),  cmocka_unit_test(test_located_errors),
        cmocka_unit_test(test_errors_in_file_order), cmocka_unit_test(test_check_command),
        cmocka_unit_test(test_matchers),       cmocka_unit_test(test_time_zones),
        cmocka_unit_test(test_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
