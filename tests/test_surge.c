/*
 * negative_surge on synthetic streams in event time: a flat stream with a
 * steady share of unhappy mentions stays quiet; the share rising while the
 * total stays flat fires once and resolves; a surge in the number of
 * complaints fires too; the alert explains itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert.h"
#include "detect.h"

#include <math.h>
#include <string.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define BUCKET (5 * MIN_MS)
#define T0 1422748800000LL

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9e3779b97f4a7c15ULL + 1;
}

static double rng_unit(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double poisson(double lambda)
{
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= rng_unit();
    } while (p > l);
    return k - 1;
}

static double binomial(double n, double p)
{
    double k = 0;
    for (int i = 0; i < (int)n; i++) {
        k += rng_unit() < p;
    }
    return k;
}

struct tally {
    int fired, resolved, by_share;
    es_surge_event first;
};

/* Total ~ Poisson(total_rate); negatives ~ Binomial(total, share(t)). */
static void run(es_surge *s, int64_t from, int64_t to, double total_rate,
                double (*share)(int64_t t), struct tally *out)
{
    for (int64_t t = from; t < to; t += BUCKET) {
        double total = poisson(total_rate);
        double neg = binomial(total, share(t));
        es_surge_event ev;
        if (es_surge_observe(s, t, total, neg, &ev)) {
            if (ev.resolved) {
                out->resolved++;
            } else {
                if (out->fired == 0) {
                    out->first = ev;
                }
                out->fired++;
                out->by_share += ev.by_share;
            }
        }
    }
}

static double steady_share(int64_t t)
{
    (void)t;
    return 0.1;
}

#define SURGE_AT (T0 + 10 * DAY_MS + 13 * HOUR_MS)

static double share_rises(int64_t t)
{
    return t >= SURGE_AT && t < SURGE_AT + 3 * HOUR_MS ? 0.4 : 0.1;
}

static void steady_share_never_fires(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    static const double rates[] = {2, 20, 60};
    for (size_t i = 0; i < 3; i++) {
        es_surge s;
        es_surge_init(&s, &p);
        struct tally t = {0};
        rng_seed(21 + i);
        run(&s, T0, T0 + 30 * DAY_MS, rates[i], steady_share, &t);
        if (t.fired != 0) {
            fail_msg("rate %g: %d surges in a steady month", rates[i], t.fired);
        }
    }
}

static void share_up_with_flat_volume_fires(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_surge s;
    es_surge_init(&s, &p);
    struct tally t = {0};
    rng_seed(4);
    /* The total stays at 30 a bucket throughout: only the mood changes. */
    run(&s, T0, SURGE_AT + 2 * DAY_MS, 30, share_rises, &t);
    assert_int_equal(t.fired, 1);
    assert_int_equal(t.resolved, 1);
    assert_true(t.first.at_ms >= SURGE_AT && t.first.at_ms < SURGE_AT + HOUR_MS);
    assert_true(t.first.usual_share > 0.07 && t.first.usual_share < 0.13);
    assert_true(t.first.share > 0.2);

    es_detect_alert_text text;
    es_alert a;
    es_surge_to_alert(&t.first, "acme", &text, &a);
    assert_int_equal(a.kind, ES_ALERT_NEGATIVE_SURGE);
    assert_false(a.resolved);
    assert_non_null(strstr(a.fingerprint, "acme/negative_surge/2015-02-11T"));
    /* Whichever test saw it first, the summary speaks of the share. */
    assert_non_null(strstr(a.summary, "acme: "));
    assert_non_null(strstr(a.summary, "usual"));
    assert_non_null(strstr(a.summary, "10%"));
    assert_non_null(strstr(a.details_json, "\"test\":"));
    assert_non_null(strstr(a.details_json, "\"usual_share\":"));
}

/* 12 days of 40 mentions a bucket, 5% negative, with a wave of about 25
 * complaints a bucket on top for two hours on day 11: the firing and
 * resolving events the surge detector gives for it. */
struct wave_events {
    int fired, resolved;
    es_surge_event on, off; /* the last of each */
};

static struct wave_events complaint_wave(void)
{
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_surge s;
    es_surge_init(&s, &p);
    rng_seed(9);
    struct wave_events w = {0};
    for (int64_t t = T0; t < T0 + 12 * DAY_MS; t += BUCKET) {
        double total = poisson(40), neg = binomial(total, 0.05);
        if (t >= T0 + 11 * DAY_MS && t < T0 + 11 * DAY_MS + 2 * HOUR_MS) {
            double wave = poisson(25);
            total += wave;
            neg += wave;
        }
        es_surge_event ev;
        if (es_surge_observe(&s, t, total, neg, &ev)) {
            if (ev.resolved) {
                w.resolved++;
                w.off = ev;
            } else {
                w.fired++;
                w.on = ev;
            }
        }
    }
    return w;
}

static void complaint_count_surge_fires(void **state)
{
    (void)state;
    struct wave_events w = complaint_wave();
    assert_int_equal(w.fired, 1);
    assert_true(w.on.at_ms >= T0 + 11 * DAY_MS);
}

static void share_test_alone(void **state)
{
    (void)state;
    /* With the count test out of reach (min_count is per window and the
     * count detector is told to need far more), the share test alone
     * catches a mood change at flat volume. */
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_surge s;
    es_surge_init(&s, &p);
    s.count.p.threshold = 100;
    struct tally t = {0};
    rng_seed(6);
    run(&s, T0, SURGE_AT + DAY_MS, 30, share_rises, &t);
    assert_int_equal(t.fired, 1);
    assert_int_equal(t.by_share, 1);
    es_detect_alert_text text;
    es_alert a;
    es_surge_to_alert(&t.first, "acme", &text, &a);
    assert_non_null(strstr(a.summary, "were complaints or negative, against the usual 10%"));
    assert_non_null(strstr(a.details_json, "\"test\":\"share\""));
}

static void disabled_never_fires(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_error err;
    assert_int_equal(es_detect_params_set(&p, "negative_surge.enabled", "false", &err), 0);
    es_surge s;
    es_surge_init(&s, &p);
    struct tally t = {0};
    rng_seed(4);
    run(&s, T0, SURGE_AT + DAY_MS, 30, share_rises, &t);
    assert_int_equal(t.fired, 0);
}

/* No summary may print a number a person cannot use. */
static void assert_reads_well(const char *summary)
{
    static const char *const bad[] = {"nan", "inf", "0.0x", "the usual 0.0", "the usual 0 ",
                                      "usual 0%", "1 complaints", "1 mentions"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strstr(summary, bad[i]) != NULL) {
            fail_msg("summary has \"%s\": %s", bad[i], summary);
        }
    }
}

static void complaints_where_there_were_none(void **state)
{
    (void)state;
    /* A quiet topic that never had a complaint: one positive mention a
     * bucket for three days, then a wave of 30 complaints a bucket for two
     * hours, then quiet again. The usual level is zero. */
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_surge s;
    es_surge_init(&s, &p);
    int fired = 0, resolved = 0;
    es_surge_event on = {0}, off = {0};
    const int64_t wave = T0 + 3 * DAY_MS;
    for (int64_t t = T0; t < wave + DAY_MS; t += BUCKET) {
        double neg = t >= wave && t < wave + 2 * HOUR_MS ? 30 : 0;
        es_surge_event ev;
        if (es_surge_observe(&s, t, 1 + neg, neg, &ev)) {
            if (ev.resolved) {
                resolved++;
                off = ev;
            } else {
                fired++;
                on = ev;
            }
        }
    }
    assert_int_equal(fired, 1);
    assert_int_equal(resolved, 1);
    assert_false(on.by_share); /* no usual share to compare with: the count test */

    es_detect_alert_text text;
    es_alert a;
    es_surge_to_alert(&on, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_non_null(strstr(a.summary, "acme: 30 complaints or negative mentions in the last "
                                      "1 h where there are usually none ("));
    /* Thirty of 41 in the hour, far past twice the threshold: critical. */
    assert_int_equal(a.severity, ES_SEV_CRITICAL);

    /* The resolve carries the episode's severity, as volume_spike does. */
    es_detect_alert_text text2;
    es_alert b;
    es_surge_to_alert(&off, "acme", &text2, &b);
    assert_true(b.resolved);
    assert_int_equal(b.severity, ES_SEV_CRITICAL);
    assert_reads_well(b.summary);
    /* The hour-long window still holds the wave for an hour after it. */
    assert_non_null(strstr(b.summary, "acme: complaints and negative mentions back to normal "
                                      "after 3 h"));
}

static void warning_resolves_as_warning(void **state)
{
    (void)state;
    /* The count surge of complaint_count_surge_fires is a warning; so is
     * its resolve. */
    struct wave_events w = complaint_wave();
    assert_int_equal(w.resolved, 1);
    assert_int_equal(w.on.severity, ES_SEV_WARNING);
    assert_int_equal(w.off.severity, w.on.severity);
}

static void summaries_with_small_baselines(void **state)
{
    (void)state;
    es_detect_alert_text text;
    es_alert a;
    es_surge_event ev = {
        .at_ms = T0, .episode_ms = T0, .window_ms = HOUR_MS, .severity = ES_SEV_WARNING,
        .total = 40, .negatives = 25, .share = 0.625,
    };

    /* Count test against a fraction of a complaint an hour. */
    ev.expected = 0.1;
    ev.usual_share = 0.002;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_non_null(strstr(a.summary, " 1 h, 250x the usual 0.1 (62% of all mentions, "
                                      "usually 0.2%)"));

    ev.expected = 0.3;
    ev.usual_share = 0.002;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: 25 complaints or negative mentions in the last 1 h, "
                                   "83.3x the usual 0.3 (62% of all mentions, usually 0.2%)");

    /* Against a baseline that rounds to nothing. */
    ev.expected = 0.01;
    ev.usual_share = 0;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: 25 complaints or negative mentions in the last 1 h "
                                   "where there are usually none (62% of all mentions, "
                                   "usually none)");

    /* An ordinary one keeps its decimal. */
    ev.expected = 5.7;
    ev.negatives = 40;
    ev.usual_share = 0.29;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_non_null(strstr(a.summary, ", 7.0x the usual 5.7 ("));
    assert_non_null(strstr(a.summary, "usually 29%)"));

    /* Share test with a tiny usual share, and one mention (min_count 1). */
    ev.by_share = true;
    ev.negatives = 1;
    ev.total = 1;
    ev.share = 1;
    ev.usual_share = 0.0004;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: 1 of 1 mention (100%) in the last 1 h was a "
                                   "complaint or negative, against the usual under 0.1%");

    /* Resolved, with a usual share of zero. */
    ev.resolved = true;
    ev.duration_ms = 3 * HOUR_MS;
    ev.peak_share = 0.84;
    ev.usual_share = 0;
    es_surge_to_alert(&ev, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: complaints and negative mentions back to normal after "
                                   "3 h; their share peaked at 84% where there are usually "
                                   "none");
}

/* The volume_spike wording shares the baseline phrase (es__detect_vs_usual):
 * a series that is usually silent. */
static void volume_spike_summaries_with_zero_baseline(void **state)
{
    (void)state;
    es_detect_alert_text text;
    es_alert a;
    /* 2015-02-01 (T0) is a Sunday. */
    es_spike_event ev = {
        .severity = ES_SEV_CRITICAL, .at_ms = T0, .episode_ms = T0, .bucket_ms = BUCKET,
        .count = 40, .expected = 0.001, .window_count = 40, .window_expected = 0.012,
        .window_ms = HOUR_MS,
    };
    es_spike_to_alert(&ev, NULL, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: 40 mentions in 5 min where there are usually none "
                                   "for a Sunday 00:00");

    ev.count = 1;
    ev.expected = 0.2;
    ev.window_count = 1;
    ev.window_expected = 2.4;
    es_spike_to_alert(&ev, NULL, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: 1 mention in 5 min, 5.0x the usual 0.2 for a Sunday "
                                   "00:00");

    ev.resolved = true;
    ev.at_ms = T0 + HOUR_MS;
    ev.duration_ms = HOUR_MS;
    ev.peak_count = 40;
    ev.peak_expected = 0.001;
    es_spike_to_alert(&ev, NULL, "acme", &text, &a);
    assert_reads_well(a.summary);
    assert_string_equal(a.summary, "acme: mention volume back to normal after 1 h; the peak was "
                                   "40 mentions in 5 min where there are usually none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_share_never_fires),
        cmocka_unit_test(share_up_with_flat_volume_fires),
        cmocka_unit_test(complaint_count_surge_fires),
        cmocka_unit_test(share_test_alone),
        cmocka_unit_test(disabled_never_fires),
        cmocka_unit_test(complaints_where_there_were_none),
        cmocka_unit_test(warning_resolves_as_warning),
        cmocka_unit_test(summaries_with_small_baselines),
        cmocka_unit_test(volume_spike_summaries_with_zero_baseline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
