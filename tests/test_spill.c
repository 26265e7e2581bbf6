/* External sort: order, stability, spilling to disk, large records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "earshot.h"
#include "spill.h"

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Shuffled keys in, ascending keys out; equal keys keep insertion order. */
static void check_sorted(size_t budget, size_t n, size_t rec_size, int expect_spill)
{
    es_spill *s;
    assert_int_equal(es_spill_new(budget, NULL, &s), 0);
    char *rec = malloc(rec_size);
    for (size_t i = 0; i < n; i++) {
        int64_t key = (int64_t)(rng() % (n / 4 + 1));
        memset(rec, 'a' + (int)(i % 26), rec_size);
        memcpy(rec, &i, sizeof i);
        assert_int_equal(es_spill_add(s, key, 0, rec, rec_size), 0);
    }
    assert_int_equal(es_spill_finish(s), 0);
    es_spill_stats st;
    es_spill_stats_get(s, &st);
    assert_int_equal(st.records, n);
    if (expect_spill) {
        assert_true(st.runs_spilled > 1);
    } else {
        assert_int_equal(st.runs_spilled, 0);
    }
    int64_t prev_key = INT64_MIN;
    size_t prev_idx = 0, count = 0;
    int64_t key;
    const void *p;
    size_t len;
    int rc;
    while ((rc = es_spill_next(s, &key, &p, &len)) == 1) {
        size_t idx;
        assert_int_equal(len, rec_size);
        memcpy(&idx, p, sizeof idx);
        assert_true(key >= prev_key);
        if (key == prev_key) {
            assert_true(idx > prev_idx); /* stable */
        }
        assert_int_equal(((const char *)p)[rec_size - 1], 'a' + (int)(idx % 26));
        prev_key = key;
        prev_idx = idx;
        count++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(count, n);
    free(rec);
    es_spill_free(s);
}

static void test_in_memory(void **state)
{
    (void)state;
    check_sorted(64 << 20, 10000, 40, 0);
}

static void test_spilled_runs(void **state)
{
    (void)state;
    /* 1 MiB budget and ~12 MB of records: about a dozen runs on disk. */
    check_sorted(1 << 20, 200000, 40, 1);
}

static void test_records_larger_than_read_buffer(void **state)
{
    (void)state;
    check_sorted(4 << 20, 40, 300 * 1024, 1);
}

static void test_too_big_record_rejected(void **state)
{
    (void)state;
    es_spill *s;
    assert_int_equal(es_spill_new(1 << 20, NULL, &s), 0);
    char *big = calloc(1, 1 << 19);
    assert_int_equal(es_spill_add(s, 1, 0, big, 1 << 19), ES_ETOOBIG);
    assert_int_equal(es_spill_add(s, 1, 0, big, 10), 0);
    assert_int_equal(es_spill_finish(s), 0);
    free(big);
    es_spill_free(s);
}

static void test_empty(void **state)
{
    (void)state;
    es_spill *s;
    assert_int_equal(es_spill_new(1 << 20, NULL, &s), 0);
    assert_int_equal(es_spill_finish(s), 0);
    int64_t k;
    const void *p;
    size_t len;
    assert_int_equal(es_spill_next(s, &k, &p, &len), 0);
    es_spill_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_memory),
        cmocka_unit_test(test_spilled_runs),
        cmocka_unit_test(test_records_larger_than_read_buffer),
        cmocka_unit_test(test_too_big_record_rejected),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
