/*
 * viral_post and coordinated campaigns, and the complaint alert decision:
 * a post whose reposts jump fires once; a complaint from a large account
 * fires once; fifty near-identical posts from fifty authors in ten minutes
 * fire once and resolve when they stop; ordinary traffic does not; the
 * tables stay bounded under a flood of new posts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert.h"
#include "detect.h"

#include <stdio.h>
#include <string.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define T0 1424613600000LL /* 2015-02-22T14:00:00Z */

static es_str S(const char *s)
{
    es_str r = {s, strlen(s)};
    return r;
}

static es_viral_input post(const char *id, const char *author, const char *text, int64_t t,
                           double followers, double likes, double reposts, bool complaint)
{
    es_viral_input in = {
        .id = S(id),
        .author = S(author),
        .text = S(text),
        .created_ms = t,
        .followers = followers,
        .likes = likes,
        .reposts = reposts,
        .is_complaint = complaint,
    };
    return in;
}

static es_viral *make(void)
{
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_viral *v = NULL;
    assert_int_equal(es_viral_new(&p, &v), 0);
    return v;
}

static void reposts_jump_fires_once(void **state)
{
    (void)state;
    es_viral *v = make();
    es_viral_event ev[3];
    const char *text = "the new acme update deleted all my photos";
    es_viral_input in = post("p1", "jdoe", text, T0, 800, 5, 2, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 0);
    in = post("p1", "jdoe", text, T0 + 20 * MIN_MS, 800, 40, 30, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 0); /* growing, not yet viral */
    in = post("p1", "jdoe", text, T0 + 45 * MIN_MS, 800, 900, 640, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 1);
    assert_int_equal(ev[0].reason, ES_VIRAL_SPREAD);
    assert_true(ev[0].rate_per_hour > 1000);

    es_detect_alert_text t;
    es_alert_mention m;
    es_alert a;
    es_viral_to_alert(&ev[0], "acme", &t, &m, &a);
    assert_int_equal(a.kind, ES_ALERT_VIRAL_POST);
    assert_string_equal(a.fingerprint, "acme/viral_post/p1");
    assert_non_null(strstr(a.summary, "spreading fast"));
    assert_int_equal(a.n_mentions, 1);
    assert_int_equal(m.text.len, strlen(text));
    assert_non_null(strstr(a.details_json, "\"reposts\":640"));

    /* It keeps growing: still one alert. */
    in = post("p1", "jdoe", text, T0 + 90 * MIN_MS, 800, 5000, 4000, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 0);
    es_viral_free(v);
}

static void slow_growth_does_not_fire(void **state)
{
    (void)state;
    es_viral *v = make();
    es_viral_event ev[3];
    int n = 0;
    /* 2 reposts an hour for two days. */
    for (int h = 0; h < 48; h++) {
        es_viral_input in = post("p2", "fan", "love my acme blender, still going strong",
                                 T0 + h * HOUR_MS, 300, h * 3, h * 2, false);
        n += es_viral_observe(v, &in, ev, 3);
    }
    assert_int_equal(n, 0);
    es_viral_free(v);
}

static void big_account_complaint_fires_once(void **state)
{
    (void)state;
    es_viral *v = make();
    es_viral_event ev[3];
    es_viral_input in = post("p3", "celeb", "@acme three weeks and still no refund. never again",
                             T0, 1200000, 0, 0, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 1);
    assert_int_equal(ev[0].reason, ES_VIRAL_REACH);
    assert_int_equal(ev[0].severity, ES_SEV_CRITICAL);
    /* Seen again: no second alert. */
    in.created_ms += 10 * MIN_MS;
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 0);
    /* The same author praising: not a complaint, no alert. */
    es_viral_input praise = post("p4", "celeb", "ok the acme support team just fixed it, thanks",
                                 T0 + HOUR_MS, 1200000, 0, 0, false);
    assert_int_equal(es_viral_observe(v, &praise, ev, 3), 0);
    /* A small account complaining is the complaint detector's business. */
    es_viral_input small = post("p5", "nobody", "@acme still no refund", T0, 40, 0, 0, true);
    assert_int_equal(es_viral_observe(v, &small, ev, 3), 0);
    es_viral_free(v);
}

static const char *const variants[] = {
    "@acme your app charged my card twice and support ignores me. fix this now #acmefail",
    "@acme your app charged my card twice and support ignores me, fix this now! #acmefail",
    "your app charged my card twice and support ignores me. fix this now #acmefail @acmehelp",
    "@acme Your app charged my card TWICE and support ignores me. Fix this now #acmefail http://t.co/x1",
    "@acme your app charged my card twice and support ignores us. fix this now #acmefail",
};

static void campaign_fires_once_and_resolves(void **state)
{
    (void)state;
    es_viral *v = make();
    es_viral_event ev[3];
    int fired = 0, resolved = 0;
    es_viral_event first = {0};
    for (int i = 0; i < 50; i++) {
        char id[32], author[32];
        snprintf(id, sizeof id, "c%d", i);
        snprintf(author, sizeof author, "user%d", i);
        es_viral_input in = post(id, author, variants[i % 5], T0 + i * 12000, 150, 0, 0, true);
        int n = es_viral_observe(v, &in, ev, 3);
        for (int k = 0; k < n; k++) {
            if (ev[k].reason == ES_VIRAL_CAMPAIGN && !ev[k].resolved) {
                if (fired++ == 0) {
                    first = ev[k];
                }
            }
        }
    }
    assert_int_equal(fired, 1);
    assert_true(first.posts >= 20);
    assert_true(first.authors >= 15);

    es_detect_alert_text t;
    es_alert_mention m;
    es_alert a;
    es_viral_to_alert(&first, "acme", &t, &m, &a);
    assert_non_null(strstr(a.fingerprint, "acme/viral_post/campaign-"));
    assert_non_null(strstr(a.summary, "near-identical posts from about"));
    char fp[sizeof t.fingerprint];
    snprintf(fp, sizeof fp, "%s", t.fingerprint);

    /* Quiet for longer than the window: the campaign resolves, once, with
     * the same fingerprint. */
    int n = es_viral_tick(v, T0 + 2 * HOUR_MS, ev, 3);
    for (int k = 0; k < n; k++) {
        if (ev[k].reason == ES_VIRAL_CAMPAIGN && ev[k].resolved) {
            resolved++;
            es_viral_to_alert(&ev[k], "acme", &t, &m, &a);
            assert_string_equal(t.fingerprint, fp);
            assert_true(a.resolved);
        }
    }
    assert_int_equal(resolved, 1);
    assert_int_equal(es_viral_tick(v, T0 + 3 * HOUR_MS, ev, 3), 0);
    es_viral_free(v);
}

static void distinct_posts_or_one_author_are_no_campaign(void **state)
{
    (void)state;
    static const char *const words[] = {"blender", "toaster", "phone",  "router", "kettle",
                                        "laptop",  "camera",  "mixer",  "drone",  "watch"};
    es_viral *v = make();
    es_viral_event ev[3];
    int n = 0;
    for (int i = 0; i < 60; i++) {
        char text[160], id[32], author[32];
        snprintf(text, sizeof text, "day %d with my acme %s and the %s of my neighbour number %d",
                 i, words[i % 10], words[(i * 7 + 3) % 10], i * 13);
        snprintf(id, sizeof id, "d%d", i);
        snprintf(author, sizeof author, "u%d", i);
        es_viral_input in = post(id, author, text, T0 + i * 10000, 100, 0, 0, false);
        n += es_viral_observe(v, &in, ev, 3);
    }
    assert_int_equal(n, 0);
    /* One author posting the same thing fifty times is spam, not a
     * campaign of many people. */
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%d", i);
        es_viral_input in = post(id, "spammer", variants[0], T0 + HOUR_MS + i * 10000, 10, 0, 0,
                                 true);
        n += es_viral_observe(v, &in, ev, 3);
    }
    assert_int_equal(n, 0);
    es_viral_free(v);
}

static void tables_stay_bounded(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_error err;
    assert_int_equal(es_detect_params_set(&p, "viral_post.track", "1024", &err), 0);
    es_viral *v = NULL;
    assert_int_equal(es_viral_new(&p, &v), 0);
    es_viral_event ev[3];
    /* 200,000 distinct posts through a 1,024-entry table. */
    for (int i = 0; i < 200000; i++) {
        char id[32], text[96];
        snprintf(id, sizeof id, "f%d", i);
        snprintf(text, sizeof text, "post number %d about acme and item %d", i, i * 31);
        es_viral_input in = post(id, "someone", text, T0 + i * 100, 10, 0, 0, false);
        es_viral_observe(v, &in, ev, 3);
    }
    /* A recent post is still tracked and its jump detected. */
    int64_t t = T0 + 200000LL * 100;
    es_viral_input in = post("hot", "x", "acme outage again, nothing loads", t, 500, 10, 5, true);
    assert_int_equal(es_viral_observe(v, &in, ev, 3), 0);
    in = post("hot", "x", "acme outage again, nothing loads", t + 30 * MIN_MS, 500, 800, 700,
              true);
    int n = es_viral_observe(v, &in, ev, 3);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].reason, ES_VIRAL_SPREAD);
    es_viral_free(v);
}

static void complaint_decision(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_severity sev;
    assert_int_equal(es_complaint_decide(&p, 0.59, 10, &sev), 0);
    assert_int_equal(es_complaint_decide(&p, 0.6, 10, &sev), 1);
    assert_int_equal(sev, ES_SEV_INFO);
    assert_int_equal(es_complaint_decide(&p, 0.9, ES_COUNT_UNKNOWN, &sev), 1);
    assert_int_equal(sev, ES_SEV_WARNING);
    assert_int_equal(es_complaint_decide(&p, 0.65, 5000, &sev), 1);
    assert_int_equal(sev, ES_SEV_WARNING);
    assert_int_equal(es_complaint_decide(&p, 0.65, 1200000, &sev), 1);
    assert_int_equal(sev, ES_SEV_CRITICAL);

    es_error err;
    assert_int_equal(es_detect_params_set(&p, "complaint_threshold", "0.8", &err), 0);
    assert_int_equal(es_complaint_decide(&p, 0.7, 10, &sev), 0);

    es_mention m;
    es_mention_clear(&m);
    m.id = S("1234");
    m.author = S("jdoe");
    m.text = S("@acme lost my bag again");
    m.followers = 120;
    m.created_ms = T0;
    es_detect_alert_text t;
    es_alert_mention q;
    es_alert a;
    es_complaint_to_alert(&m, "acme", 0.91, ES_SEV_WARNING, &t, &q, &a);
    assert_int_equal(a.kind, ES_ALERT_COMPLAINT);
    assert_string_equal(a.fingerprint, "acme/complaint/1234");
    assert_string_equal(a.summary, "acme: complaint from jdoe (120 followers): \"@acme lost my bag "
                                   "again\"");
    assert_int_equal(a.n_mentions, 1);
    assert_non_null(strstr(a.details_json, "\"complaint\":0.91"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reposts_jump_fires_once),
        cmocka_unit_test(slow_growth_does_not_fire),
        cmocka_unit_test(big_account_complaint_fires_once),
        cmocka_unit_test(campaign_fires_once_and_resolves),
        cmocka_unit_test(distinct_posts_or_one_author_are_no_campaign),
        cmocka_unit_test(tables_stay_bounded),
        cmocka_unit_test(complaint_decision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
