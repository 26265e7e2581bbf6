/* Reconnect schedules: the documented shapes, jitter bounds, Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_network_is_linear_to_16s(void **state)
{
    (void)state;
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 1), 250);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 2), 500);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 10), 2500);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 64), 16000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 65), 16000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 1000000), 16000);
    /* Attempt 0 or negative counts as the first. */
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_NETWORK, 0), 250);
}

static void test_http_doubles_from_5s_to_320s(void **state)
{
    (void)state;
    int64_t want[] = {5000, 10000, 20000, 40000, 80000, 160000, 320000, 320000};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(es_backoff_nominal(ES_BACKOFF_HTTP, i + 1), want[i]);
    }
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_HTTP, 1000), 320000);
}

static void test_rate_limit_doubles_from_60s(void **state)
{
    (void)state;
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_RATE_LIMIT, 1), 60000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_RATE_LIMIT, 2), 120000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_RATE_LIMIT, 3), 240000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_RATE_LIMIT, 5), 960000);
    assert_int_equal(es_backoff_nominal(ES_BACKOFF_RATE_LIMIT, 50), 960000);
}

/* Every jittered delay lies in [3/4 d, d], and the jitter really varies. */
static void test_jitter_bounds_and_spread(void **state)
{
    (void)state;
    es_backoff_kind kinds[] = {ES_BACKOFF_NETWORK, ES_BACKOFF_HTTP, ES_BACKOFF_RATE_LIMIT};
    for (int k = 0; k < 3; k++) {
        for (int attempt = 1; attempt <= 12; attempt++) {
            int64_t d = es_backoff_nominal(kinds[k], attempt);
            int64_t lo = INT64_MAX, hi = 0;
            for (uint64_t seed = 0; seed < 200; seed++) {
                int64_t v = es_backoff_delay(kinds[k], attempt, seed * 7919, -1);
                assert_true(v >= d - d / 4);
                assert_true(v <= d);
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            /* 200 seeds cover most of the quarter-wide window. */
            assert_true(hi - lo >= d / 8);
        }
    }
}

static void test_same_seed_same_delay(void **state)
{
    (void)state;
    for (int a = 1; a < 10; a++) {
        assert_int_equal(es_backoff_delay(ES_BACKOFF_HTTP, a, 42, -1),
                         es_backoff_delay(ES_BACKOFF_HTTP, a, 42, -1));
    }
    /* Different feeds (seeds) spread out. */
    int differ = 0;
    for (uint64_t s = 1; s < 20; s++) {
        differ += es_backoff_delay(ES_BACKOFF_HTTP, 3, s, -1) !=
                  es_backoff_delay(ES_BACKOFF_HTTP, 3, s + 1000, -1);
    }
    assert_true(differ >= 15);
}

/* Retry-After wins over the schedule: never sooner, at most 10 % (<= 1 s)
 * later; capped at an hour. */
static void test_retry_after(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 100; seed++) {
        int64_t v = es_backoff_delay(ES_BACKOFF_RATE_LIMIT, 1, seed, 2000);
        assert_true(v >= 2000 && v <= 2200);
        v = es_backoff_delay(ES_BACKOFF_RATE_LIMIT, 4, seed, 120000);
        assert_true(v >= 120000 && v <= 121000);
        v = es_backoff_delay(ES_BACKOFF_HTTP, 1, seed, 0);
        assert_int_equal(v, 0);
        v = es_backoff_delay(ES_BACKOFF_HTTP, 1, seed, 99999999);
        assert_true(v >= ES_BACKOFF_RETRY_AFTER_MAX_MS && v <= ES_BACKOFF_RETRY_AFTER_MAX_MS + 1000);
    }
}

static void test_kind_for_status(void **state)
{
    (void)state;
    assert_int_equal(es_backoff_kind_for_status(0), ES_BACKOFF_NETWORK);
    assert_int_equal(es_backoff_kind_for_status(429), ES_BACKOFF_RATE_LIMIT);
    assert_int_equal(es_backoff_kind_for_status(420), ES_BACKOFF_RATE_LIMIT);
    assert_int_equal(es_backoff_kind_for_status(500), ES_BACKOFF_HTTP);
    assert_int_equal(es_backoff_kind_for_status(401), ES_BACKOFF_HTTP);
    assert_string_equal(es_backoff_kind_name(ES_BACKOFF_RATE_LIMIT), "rate limit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_is_linear_to_16s),
        cmocka_unit_test(test_http_doubles_from_5s_to_320s),
        cmocka_unit_test(test_rate_limit_doubles_from_60s),
        cmocka_unit_test(test_jitter_bounds_and_spread),
        cmocka_unit_test(test_same_seed_same_delay),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_kind_for_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
