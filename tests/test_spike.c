/*
 * volume_spike and the detector parameters: synthetic streams in event
 * time (no sleeps, a fixed-seed PRNG), the option table as the config sees
 * it, and `earshot spikes` through the binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert.h"
#include "detect.h"
#include "earshot.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define BUCKET (5 * MIN_MS)
/* 2015-02-01T00:00:00Z, a Sunday. */
#define T0 1422748800000LL

/* ---- A deterministic PRNG and Poisson draws ------------------------------ */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9e3779b97f4a7c15ULL + 1;
}

static double rng_unit(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double poisson(double lambda)
{
    if (lambda <= 0) {
        return 0;
    }
    if (lambda > 60) {
        /* Normal approximation (Box-Muller): exact enough at this size. */
        double u1 = rng_unit(), u2 = rng_unit();
        double z = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
        double v = floor(lambda + sqrt(lambda) * z + 0.5);
        return v < 0 ? 0 : v;
    }
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= rng_unit();
    } while (p > l);
    return k - 1;
}

/* ---- Running a stream ------------------------------------------------------ */

typedef double (*rate_fn)(int64_t t, void *ud);

struct tally {
    int fired, resolved;
    int64_t first_fire_ms;
};

static void run_stream(es_spike *s, int64_t from, int64_t to, rate_fn rate, void *ud,
                       struct tally *out)
{
    for (int64_t t = from; t < to; t += BUCKET) {
        es_spike_event ev;
        if (es_spike_observe(s, t, poisson(rate(t, ud)), &ev)) {
            if (ev.resolved) {
                out->resolved++;
            } else {
                if (out->fired == 0) {
                    out->first_fire_ms = t;
                }
                out->fired++;
            }
        }
    }
}

static double flat_rate(int64_t t, void *ud)
{
    (void)t;
    return *(double *)ud;
}

static void flat_poisson_never_fires(void **state)
{
    (void)state;
    static const double rates[] = {0.2, 5, 50, 2000};
    es_detect_params p;
    es_detect_params_defaults(&p);
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        es_spike s;
        es_spike_init(&s, &p);
        struct tally t = {0};
        rng_seed(1000 + i);
        double r = rates[i];
        run_stream(&s, T0, T0 + 30 * DAY_MS, flat_rate, &r, &t);
        if (t.fired != 0) {
            fail_msg("rate %g: %d alerts over a flat month", r, t.fired);
        }
        /* And the baseline learned the level. */
        double mu = es_spike_expected(&s, T0 + 30 * DAY_MS);
        assert_true(fabs(mu - r) < 0.15 * r + 0.05);
    }
}

struct step {
    double before, after;
    int64_t at;
};

static double step_rate(int64_t t, void *ud)
{
    struct step *st = ud;
    return t < st->at ? st->before : st->after;
}

static void step_up_fires_once_and_resolves_once(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_spike s;
    es_spike_init(&s, &p);
    struct step st = {.before = 40, .after = 200, .at = T0 + 10 * DAY_MS + 7 * HOUR_MS};
    struct tally t = {0};
    rng_seed(7);
    /* The new level lasts for days: the baseline must absorb it and the
     * episode end, once, without a second alert. */
    run_stream(&s, T0, T0 + 16 * DAY_MS, step_rate, &st, &t);
    assert_int_equal(t.fired, 1);
    assert_int_equal(t.resolved, 1);
    /* Detected at once: in the step's first or second bucket. */
    assert_true(t.first_fire_ms >= st.at && t.first_fire_ms <= st.at + BUCKET);
}

static double daily_rate(int64_t t, void *ud)
{
    double base = *(double *)ud;
    double h = (double)((t % DAY_MS + DAY_MS) % DAY_MS) / HOUR_MS;
    /* Quiet nights, busy afternoons: a 9x swing over the day. */
    return base * (1 + 0.8 * sin(2 * M_PI * (h - 9) / 24));
}

static void daily_cycle_never_fires(void **state)
{
    (void)state;
    static const double bases[] = {2, 30, 500};
    es_detect_params p;
    es_detect_params_defaults(&p);
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        es_spike s;
        es_spike_init(&s, &p);
        struct tally t = {0};
        rng_seed(77 + i);
        double b = bases[i];
        run_stream(&s, T0, T0 + 28 * DAY_MS, daily_rate, &b, &t);
        if (t.fired != 0) {
            fail_msg("daily cycle around %g: %d alerts", b, t.fired);
        }
        /* The seasonal baseline expects the afternoon peak. */
        double peak = es_spike_expected(&s, T0 + 28 * DAY_MS + 15 * HOUR_MS);
        double night = es_spike_expected(&s, T0 + 28 * DAY_MS + 3 * HOUR_MS);
        assert_true(peak > 3 * night);
    }
}

static void one_an_hour_does_not_fire_on_three(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_spike s;
    es_spike_init(&s, &p);
    struct tally t = {0};
    rng_seed(3);
    double r = 1.0 / 12; /* one mention an hour in 5-minute buckets */
    int64_t end = T0 + 14 * DAY_MS;
    run_stream(&s, T0, end, flat_rate, &r, &t);
    assert_int_equal(t.fired, 0);
    /* Three in an hour, all in one bucket, then the usual trickle. */
    es_spike_event ev;
    int events = es_spike_observe(&s, end, 3, &ev);
    for (int64_t x = end + BUCKET; x < end + DAY_MS; x += BUCKET) {
        events += es_spike_observe(&s, x, poisson(r), &ev);
    }
    assert_int_equal(events, 0);
}

static void burst_fires_with_explainable_alert(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_spike s;
    es_spike_init(&s, &p);
    struct tally t = {0};
    rng_seed(11);
    double r = 26;
    int64_t at = T0 + 21 * DAY_MS + 14 * HOUR_MS + 5 * MIN_MS; /* a Sunday 14:05 */
    run_stream(&s, T0, at, flat_rate, &r, &t);
    assert_int_equal(t.fired, 0);
    es_spike_event ev;
    int got = es_spike_observe(&s, at, 212, &ev);
    if (!got) {
        /* A one-bucket burst waits for its confirming bucket. */
        got = es_spike_observe(&s, at + BUCKET, 180, &ev);
    }
    assert_int_equal(got, 1);
    assert_false(ev.resolved);
    assert_true(ev.score >= ev.threshold);
    assert_true(ev.expected > 20 && ev.expected < 32);

    es_detect_alert_text text;
    es_alert a;
    es_spike_to_alert(&ev, "acme", "acme", &text, &a);
    assert_int_equal(a.kind, ES_ALERT_VOLUME_SPIKE);
    assert_string_equal(a.fingerprint, "acme/volume_spike/2015-02-22T14:05");
    assert_non_null(strstr(a.summary, "acme: "));
    assert_non_null(strstr(a.summary, "the usual 2"));
    assert_non_null(strstr(a.summary, "for a Sunday 14:"));
    assert_non_null(strstr(a.details_json, "\"count\":"));
    assert_non_null(strstr(a.details_json, "\"expected\":"));
    assert_non_null(strstr(a.details_json, "\"threshold\":4.0"));

    /* The episode ends and its resolved alert shares the fingerprint. */
    int64_t x = at + 2 * BUCKET;
    int resolved = 0;
    for (; x < at + 6 * HOUR_MS && !resolved; x += BUCKET) {
        if (es_spike_observe(&s, x, poisson(r), &ev) && ev.resolved) {
            resolved = 1;
        }
    }
    assert_true(resolved);
    es_detect_alert_text text2;
    es_alert a2;
    es_spike_to_alert(&ev, "acme", "acme", &text2, &a2);
    assert_true(a2.resolved);
    assert_string_equal(a2.fingerprint, "acme/volume_spike/2015-02-22T14:05");
}

static void gaps_are_empty_buckets(void **state)
{
    (void)state;
    /* A sparse topic fed only its non-empty buckets behaves exactly like
     * the same stream with every empty bucket given. */
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_spike dense, sparse;
    es_spike_init(&dense, &p);
    es_spike_init(&sparse, &p);
    rng_seed(5);
    int ev_dense = 0, ev_sparse = 0;
    for (int64_t t = T0; t < T0 + 10 * DAY_MS; t += BUCKET) {
        double c = poisson(0.3);
        if (t == T0 + 8 * DAY_MS) {
            c = 40;
        } else if (t == T0 + 8 * DAY_MS + BUCKET) {
            c = 30;
        }
        es_spike_event ev;
        ev_dense += es_spike_observe(&dense, t, c, &ev) && !ev.resolved;
        if (c > 0 || t == T0) {
            ev_sparse += es_spike_observe(&sparse, t, c, &ev) && !ev.resolved;
        }
    }
    /* Both end on the same non-empty bucket, so both have seen it all. */
    es_spike_event last;
    es_spike_observe(&dense, T0 + 10 * DAY_MS, 1, &last);
    es_spike_observe(&sparse, T0 + 10 * DAY_MS, 1, &last);
    assert_int_equal(ev_dense, 1);
    assert_int_equal(ev_sparse, ev_dense);
    double a = es_spike_expected(&dense, T0 + 10 * DAY_MS);
    double b = es_spike_expected(&sparse, T0 + 10 * DAY_MS);
    assert_true(fabs(a - b) < 1e-9 + 1e-6 * a);

    /* A month-long silence is skipped at once, and does not fire. */
    es_spike_event ev;
    assert_int_equal(es_spike_observe(&sparse, T0 + 40 * DAY_MS, 1, &ev), 0);
    /* Going back in time is ignored. */
    assert_int_equal(es_spike_observe(&sparse, T0, 1000, &ev), 0);
}

/* ---- Parameters --------------------------------------------------------------- */

static void params_set_and_errors(void **state)
{
    (void)state;
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_error err = {0};
    char v[64];

    assert_int_equal(p.bucket_ms, 5 * MIN_MS);
    assert_true(fabs(p.complaint_threshold - 0.6) < 1e-12);
    assert_int_equal(es_detect_params_set(&p, "volume_spike.threshold", "6", &err), 0);
    assert_true(p.volume_spike.threshold == 6);
    assert_int_equal(es_detect_params_set(&p, "bucket", "1m", &err), 0);
    assert_int_equal(p.bucket_ms, MIN_MS);
    assert_int_equal(es_detect_params_set(&p, "viral_post.min_followers", "50000", &err), 0);
    assert_int_equal(es_detect_params_set(&p, "negative_surge.enabled", "no", &err), 0);
    assert_false(p.negative_surge.enabled);
    assert_int_equal(es_detect_params_get(&p, "bucket", v, sizeof v), 0);
    assert_string_equal(v, "1m");

    /* Unknown keys name themselves and suggest the close one. */
    memset(&err, 0, sizeof err);
    assert_int_equal(es_detect_params_set(&p, "volume_spike.treshold", "4", &err), ES_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown detector option 'volume_spike.treshold'"));
    assert_non_null(strstr(err.msg, "volume_spike.threshold"));
    assert_int_equal(es_detect_params_set(&p, "colour", "red", &err), ES_ENOTFOUND);
    assert_int_equal(es_detect_params_set(&p, "volume_spike", "4", &err), ES_ECONFIG);

    /* Bad values say what is allowed, and leave p alone. */
    assert_int_equal(es_detect_params_set(&p, "volume_spike.threshold", "0.5", &err), ES_ECONFIG);
    assert_string_equal(err.msg, "volume_spike.threshold must be between 1 and 100");
    assert_true(p.volume_spike.threshold == 6);
    assert_int_equal(es_detect_params_set(&p, "volume_spike.threshold", "high", &err), ES_ECONFIG);
    assert_non_null(strstr(err.msg, "must be a number"));
    assert_int_equal(es_detect_params_set(&p, "bucket", "5 parsecs", &err), ES_ECONFIG);
    assert_non_null(strstr(err.msg, "duration"));
    assert_int_equal(es_detect_params_set(&p, "complaint_threshold", "1.5", &err), ES_ECONFIG);
    assert_int_equal(es_detect_params_set(&p, "viral_post.track", "10.5", &err), ES_ECONFIG);
    assert_int_equal(es_detect_params_set(&p, "sensitivity", "extreme", &err), ES_ECONFIG);
    assert_int_equal(es_detect_params_preset(&p, "extreme"), ES_EINVAL);
}

static void presets_keep_explicit_numbers(void **state)
{
    (void)state;
    es_detect_params p, low, high;
    es_detect_params_defaults(&p);
    es_detect_params_defaults(&low);
    es_detect_params_defaults(&high);
    assert_int_equal(es_detect_params_preset(&low, "low"), 0);
    assert_int_equal(es_detect_params_preset(&high, "high"), 0);
    assert_true(low.volume_spike.threshold > p.volume_spike.threshold);
    assert_true(high.volume_spike.threshold < p.volume_spike.threshold);
    assert_true(high.complaint_threshold < low.complaint_threshold);

    /* A raw number wins over a preset, whichever comes first. */
    es_error err;
    assert_int_equal(es_detect_params_set(&p, "volume_spike.threshold", "5.5", &err), 0);
    assert_int_equal(es_detect_params_set(&p, "sensitivity", "high", &err), 0);
    assert_true(p.volume_spike.threshold == 5.5);
    assert_true(p.negative_surge.threshold == high.negative_surge.threshold);
    assert_int_equal(p.sensitivity, ES_SENS_HIGH);
}

struct listing {
    int n;
    int has_threshold, has_bucket;
};

static void count_option(const es_detect_option *o, void *ud)
{
    struct listing *l = ud;
    l->n++;
    assert_non_null(o->help);
    assert_true(strlen(o->help) > 10);
    if (strcmp(o->name, "volume_spike.threshold") == 0) {
        l->has_threshold = strcmp(o->def, "4") == 0;
    }
    if (strcmp(o->name, "bucket") == 0) {
        l->has_bucket = strcmp(o->def, "5m") == 0;
    }
}

static void options_are_listed_with_defaults(void **state)
{
    (void)state;
    struct listing l = {0};
    es_detect_params_foreach_option(count_option, &l);
    assert_true(l.n > 30);
    assert_true(l.has_threshold);
    assert_true(l.has_bucket);
}

/* ---- earshot spikes ------------------------------------------------------------- */

#define FIX ES_TEST_FIXTURES "/spikes/"

static void cli_spikes_prints_one_alert_per_episode(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "spikes", FIX "acme_volume.csv", NULL};
    char *out = NULL, *err = NULL;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(es_test_count_lines(out), 1);
    assert_non_null(strstr(out, "\"kind\":\"volume_spike\""));
    assert_non_null(strstr(out, "\"status\":\"firing\""));
    assert_non_null(strstr(out, "\"series\":\"acme_volume.csv\""));
    /* "at" is the row's timestamp exactly as written in the file. */
    assert_non_null(strstr(out, "\"at\":\"2015-03-04 14:10:00\""));
    assert_non_null(strstr(out, "\"summary\":\"acme_volume.csv: "));
    free(out);
    free(err);

    const char *argv2[] = {"earshot", "spikes", "--resolved", FIX "acme_volume.csv", NULL};
    rc = es_test_run(argv2, NULL, 0, &out, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(es_test_count_lines(out), 2);
    assert_non_null(strstr(out, "\"status\":\"resolved\""));
    free(out);
    free(err);
}

static void cli_spikes_reports_bad_rows(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "spikes", FIX "bad_rows.csv", NULL};
    char *out = NULL, *err = NULL;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "bad_rows.csv:3: bad timestamp"));
    assert_non_null(strstr(err, "bad_rows.csv:5: value is not a count"));
    assert_non_null(strstr(err, "bad_rows.csv:7: timestamp goes back in time"));
    assert_non_null(strstr(err, "3 bad rows skipped"));
    free(out);
    free(err);

    const char *argv2[] = {"earshot", "spikes", NULL};
    rc = es_test_run(argv2, NULL, 0, &out, &err);
    assert_int_equal(rc, 2);
    free(out);
    free(err);

    const char *argv3[] = {"earshot", "spikes", "--set", "threshold=0", FIX "acme_volume.csv",
                           NULL};
    rc = es_test_run(argv3, NULL, 0, &out, &err);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "must be between 1 and 100"));
    free(out);
    free(err);

    const char *argv4[] = {"earshot", "spikes", FIX "no_such_file.csv", NULL};
    rc = es_test_run(argv4, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "no_such_file.csv"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flat_poisson_never_fires),
        cmocka_unit_test(step_up_fires_once_and_resolves_once),
        cmocka_unit_test(daily_cycle_never_fires),
        cmocka_unit_test(one_an_hour_does_not_fire_on_three),
        cmocka_unit_test(burst_fires_with_explainable_alert),
        cmocka_unit_test(gaps_are_empty_buckets),
        cmocka_unit_test(params_set_and_errors),
        cmocka_unit_test(presets_keep_explicit_numbers),
        cmocka_unit_test(options_are_listed_with_defaults),
        cmocka_unit_test(cli_spikes_prints_one_alert_per_episode),
        cmocka_unit_test(cli_spikes_reports_bad_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
