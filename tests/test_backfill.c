/*
 * earshot backfill end to end, through the binary: event-time order from a
 * newest-first export, bad lines reported and skipped, the complaint wave
 * detected, determinism, spilling to disk, --emit mentions, --since/--until.
 * Fixture: tests/fixtures/backfill (see make_fixture.py there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

#define FIX ES_TEST_FIXTURES "/backfill/"
#define CONFIG FIX "zenith.yaml"
#define INPUT FIX "zenith.ndjson"

static int run(const char *const *argv, char **out, char **err)
{
    return es_test_run(argv, NULL, 0, out, err);
}

/* Lines of `s` that contain every one of the NULL-terminated needles. */
static size_t count_lines_with(const char *s, ...)
{
    size_t n = 0;
    const char *line = s;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        va_list ap;
        va_start(ap, s);
        int all = 1;
        const char *needle;
        while ((needle = va_arg(ap, const char *)) != NULL) {
            if (strstr(copy, needle) == NULL) {
                all = 0;
            }
        }
        va_end(ap);
        n += all;
        free(copy);
        line += len + (end != NULL);
    }
    return n;
}

static void test_wave_detected_and_bad_lines_reported(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "backfill", "-c", CONFIG, INPUT, NULL};
    char *out, *err;
    assert_int_equal(run(argv, &out, &err), 0);
    /* The two broken lines are named by file and line, and skipped. */
    assert_non_null(strstr(err, "zenith.ndjson:11:"));
    assert_non_null(strstr(err, "zenith.ndjson:21: missing required field 'created_at'"));
    assert_non_null(strstr(err, "1834 mentions (2 bad"));
    /* The outage afternoon is reported as a negative surge and a volume
     * spike, firing, on the brand's topic, during the wave hour. */
    assert_int_equal(count_lines_with(out, "\"kind\":\"negative_surge\"", "\"status\":\"firing\"",
                                      "\"topic\":\"zenith\"", "\"at\":\"2025-06-05T14:", NULL),
                     1);
    assert_int_equal(count_lines_with(out, "\"kind\":\"volume_spike\"", "\"status\":\"firing\"",
                                      "\"topic\":\"zenith\"", "\"at\":\"2025-06-05T14:", NULL),
                     1);
    /* The quiet days raise no wave alert, and there are individual
     * complaint alerts for the wave's posts only. */
    assert_int_equal(count_lines_with(out, "\"kind\":\"volume_spike\"", "\"status\":\"firing\"",
                                      NULL),
                     1);
    assert_int_equal(count_lines_with(out, "\"kind\":\"negative_surge\"", "\"status\":\"firing\"",
                                      NULL),
                     1);
    assert_true(count_lines_with(out, "\"kind\":\"complaint\"", NULL) >= 300);
    assert_int_equal(count_lines_with(out, "\"kind\":\"complaint\"", "\"at\":\"2025-06-02", NULL),
                     0);
    /* The competitor topic never matched, so nothing is about it. */
    assert_int_equal(count_lines_with(out, "\"topic\":\"rival\"", NULL), 0);
    free(out);
    free(err);
}

static void test_deterministic_and_order_independent(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "backfill", "-c", CONFIG, INPUT, NULL};
    char *out1, *out2, *err;
    assert_int_equal(run(argv, &out1, &err), 0);
    free(err);
    assert_int_equal(run(argv, &out2, &err), 0);
    free(err);
    assert_string_equal(out1, out2);

    /* The same mentions oldest first, through stdin, give the same alerts. */
    size_t len;
    char *data = es_test_read_file(INPUT, &len);
    assert_non_null(data);
    size_t n = es_test_count_lines(data);
    char **lines = calloc(n, sizeof *lines);
    size_t k = 0;
    for (char *p = strtok(data, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        lines[k++] = p;
    }
    char *rev = malloc(len + 2);
    size_t off = 0;
    for (size_t i = k; i-- > 0;) {
        size_t l = strlen(lines[i]);
        memcpy(rev + off, lines[i], l);
        off += l;
        rev[off++] = '\n';
    }
    const char *argv_stdin[] = {"earshot", "backfill", "-c", CONFIG, "-", NULL};
    char *out3;
    assert_int_equal(es_test_run(argv_stdin, rev, off, &out3, &err), 0);
    assert_string_equal(out1, out3);
    free(err);
    free(out1);
    free(out2);
    free(out3);
    free(rev);
    free(lines);
    free(data);
}

static void test_spilling_gives_the_same_result(void **state)
{
    (void)state;
    /* Three copies of the input (~1.4 MB packed) with a 1 MiB sort budget
     * spill to disk; the result must equal the in-memory one. */
    const char *mem[] = {"earshot", "backfill", "-c", CONFIG, INPUT, INPUT, INPUT, NULL};
    const char *spill[] = {"earshot", "backfill", "-c", CONFIG, "--memory", "1",
                           INPUT,     INPUT,      INPUT, NULL};
    char *out1, *out2, *err;
    assert_int_equal(run(mem, &out1, &err), 0);
    free(err);
    assert_int_equal(run(spill, &out2, &err), 0);
    free(err);
    assert_true(strlen(out1) > 1000);
    assert_string_equal(out1, out2);
    free(out1);
    free(out2);
}

static void test_emit_mentions(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "backfill", "-c", CONFIG, "--emit", "mentions", INPUT, NULL};
    char *out, *err;
    assert_int_equal(run(argv, &out, &err), 0);
    assert_int_equal(es_test_count_lines(out), 1834);
    /* Every line is the input mention with the enrichment, and the unknown
     * input field passes through. */
    assert_int_equal(count_lines_with(out, "\"topics\":[\"zenith\"]", "\"sentiment\":{\"compound\":",
                                      "\"intent\":\"", "\"complaint\":", "\"why\":",
                                      "\"campaign\":\"fixture\"", NULL),
                     1834);
    /* In event time: the first line is the oldest mention. */
    assert_non_null(strstr(out, "\"created_at\":\"2025-06-02T00:0"));
    assert_true(strstr(out, "\"created_at\":\"2025-06-02T00:0") < strstr(out, "2025-06-05"));
    assert_int_equal(count_lines_with(out, "\"kind\":", NULL), 0);
    free(out);
    free(err);

    const char *all[] = {"earshot", "backfill", "-c", CONFIG, "--emit", "all", INPUT, NULL};
    assert_int_equal(run(all, &out, &err), 0);
    assert_true(es_test_count_lines(out) > 1834);
    assert_true(count_lines_with(out, "\"kind\":\"negative_surge\"", NULL) >= 1);
    free(out);
    free(err);
}

static void test_since_until(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "backfill", "-c",          CONFIG, "--emit",
                          "mentions", "--since", "2025-06-05T14:00:00Z", "--until",
                          "2025-06-05T15:00:00Z", INPUT, NULL};
    char *out, *err;
    assert_int_equal(run(argv, &out, &err), 0);
    size_t n = es_test_count_lines(out);
    assert_true(n >= 360 && n < 420);
    assert_int_equal(count_lines_with(out, "\"created_at\":\"2025-06-05T14:", NULL), n);
    assert_non_null(strstr(err, "outside --since/--until"));
    free(out);
    free(err);
}

static void test_usage_and_input_errors(void **state)
{
    (void)state;
    char *out, *err;
    const char *no_config[] = {"earshot", "backfill", INPUT, NULL};
    assert_int_equal(run(no_config, &out, &err), 2);
    assert_non_null(strstr(err, "-c CONFIG"));
    free(out);
    free(err);

    const char *bad_emit[] = {"earshot", "backfill", "-c", CONFIG, "--emit", "nope", NULL};
    assert_int_equal(run(bad_emit, &out, &err), 2);
    free(out);
    free(err);

    const char *missing[] = {"earshot", "backfill", "-c", CONFIG, "/nonexistent/x.ndjson", NULL};
    assert_int_equal(run(missing, &out, &err), 1);
    assert_non_null(strstr(err, "/nonexistent/x.ndjson"));
    free(out);
    free(err);

    const char *bad_cfg[] = {"earshot", "backfill", "-c", "/nonexistent/c.yaml", INPUT, NULL};
    assert_int_equal(run(bad_cfg, &out, &err), 1);
    assert_non_null(strstr(err, "/nonexistent/c.yaml"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wave_detected_and_bad_lines_reported),
        cmocka_unit_test(test_deterministic_and_order_independent),
        cmocka_unit_test(test_spilling_gives_the_same_result),
        cmocka_unit_test(test_emit_mentions),
        cmocka_unit_test(test_since_until),
        cmocka_unit_test(test_usage_and_input_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
