/*
 * `earshot score` as a user runs it: TEXT arguments, NDJSON and --plain on
 * stdin, --explain, --compat vader, and bad input that must be reported
 * with its line number while the good lines still come out.
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

struct run {
    int rc;
    char *out, *err;
};

static struct run run_in(const char *const *argv, const char *in, size_t in_len)
{
    struct run r;
    r.rc = es_test_run(argv, in, in_len, &r.out, &r.err);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* The n-th (0-based) output line, copied into a static buffer. */
static const char *line_of(const char *s, size_t n)
{
    static char buf[1 << 16];
    for (size_t k = 0; k < n && s != NULL; k++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    assert_non_null(s);
    size_t l = strcspn(s, "\n");
    assert_true(l < sizeof buf);
    memcpy(buf, s, l);
    buf[l] = '\0';
    return buf;
}

static void text_arguments(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "score", "The book was good.", "it is not good", NULL};
    struct run r = run_in(argv, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(es_test_count_lines(r.out), 2);
    /* Key order and number format are the contract's. */
    assert_non_null(strstr(line_of(r.out, 0),
                           "{\"id\":1,\"sentiment\":{\"compound\":0.4404,\"pos\":0.492,"
                           "\"neu\":0.508,\"neg\":0.0}"));
    assert_non_null(strstr(line_of(r.out, 1), "{\"id\":2,\"sentiment\":{\"compound\":-0.3412,"));
    assert_string_equal(r.err, "");
    run_free(&r);
}

static void ndjson_ids(void **state)
{
    (void)state;
    const char in[] = "{\"id\":\"t-1\",\"text\":\"good\",\"extra\":{\"a\":[1,2]}}\n"
                      "{\"text\":\"bad\"}\n"
                      "\n"
                      "{\"id\":1234,\"text\":\"I \\u2764 it\"}\r\n"
                      "{\"text\":\"last line without newline\",\"id\":\"z\"}";
    const char *argv[] = {"earshot", "score", NULL};
    struct run r = run_in(argv, in, sizeof in - 1);
    assert_int_equal(r.rc, 0);
    assert_int_equal(es_test_count_lines(r.out), 4);
    assert_non_null(strstr(line_of(r.out, 0), "{\"id\":\"t-1\",\"sentiment\":{\"compound\":0.4404"));
    /* No id: the 1-based line number. */
    assert_non_null(strstr(line_of(r.out, 1), "{\"id\":2,\"sentiment\":{\"compound\":-0.5423"));
    assert_non_null(strstr(line_of(r.out, 2), "{\"id\":1234,"));
    assert_non_null(strstr(line_of(r.out, 3), "{\"id\":\"z\","));
    run_free(&r);
}

static void plain_lines(void **state)
{
    (void)state;
    /* Raw text, any bytes: invalid UTF-8 and NUL are just separators. */
    const char in[] = "good\nbad \xFF\xFE stuff\n\nit\0is good\n";
    const char *argv[] = {"earshot", "score", "--plain", NULL};
    struct run r = run_in(argv, in, sizeof in - 1);
    assert_int_equal(r.rc, 0);
    assert_int_equal(es_test_count_lines(r.out), 4);
    assert_non_null(strstr(line_of(r.out, 1), "{\"id\":2,\"sentiment\":{\"compound\":-0.5423"));
    assert_non_null(strstr(line_of(r.out, 2), "{\"id\":3,\"sentiment\":{\"compound\":0.0,"));
    assert_non_null(strstr(line_of(r.out, 3), "{\"id\":4,\"sentiment\":{\"compound\":0.4404"));
    run_free(&r);
}

static void explain_and_compat(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "score", "--explain", "it is not very good", NULL};
    struct run r = run_in(argv, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"why\":{\"mode\":\"default\",\"words\":["));
    assert_non_null(strstr(r.out, "\"rule\":\"negation\",\"by\":\"not\""));
    assert_non_null(strstr(r.out, "\"rule\":\"booster\",\"by\":\"very\""));
    run_free(&r);

    /* D: frowns by default; --compat vader keeps upstream's +0.5267. */
    const char *a2[] = {"earshot", "score", "D: D:", NULL};
    r = run_in(a2, NULL, 0);
    assert_non_null(strstr(r.out, "\"compound\":-0.8316"));
    run_free(&r);
    const char *a3[] = {"earshot", "score", "--compat", "vader", "D: D:", NULL};
    r = run_in(a3, NULL, 0);
    assert_non_null(strstr(r.out, "\"compound\":0.5267"));
    run_free(&r);
}

/* Every bad line is named on stderr; every good line still comes out. */
static void bad_lines(void **state)
{
    (void)state;
    size_t big = (1 << 20) + 100;
    size_t cap = big + 4096;
    char *in = malloc(cap);
    size_t n = 0;
#define ADD(s) (memcpy(in + n, (s), sizeof(s) - 1), n += sizeof(s) - 1)
    ADD("{\"id\":\"ok1\",\"text\":\"good\"}\n");           /* 1 */
    ADD("{\"id\":\"x\",\"text\":\"bad \xC3\x28 utf8\"}\n"); /* 2: invalid UTF-8 */
    ADD("{\"text\":42}\n");                             /* 3: not a string */
    ADD("{\"id\":\"nul\",\"te\0t\":\"x\"}\n");          /* 4: NUL byte */
    ADD("{\"text\":\"nested\",\"a\":");                 /* 5: 200 levels deep */
    for (int k = 0; k < 200; k++) {
        in[n++] = '[';
    }
    for (int k = 0; k < 200; k++) {
        in[n++] = ']';
    }
    ADD("}\n");
    ADD("{\"id\":\"big\",\"text\":\""); /* 6: over 1 MiB */
    memset(in + n, 'a', big);
    n += big;
    ADD("\"}\n");
    ADD("{\"id\":\"no-text\"}\n");             /* 7 */
    ADD("{\"id\":\"ok2\",\"text\":\"bad\"}\n"); /* 8 */
    ADD("{\"id\":\"trunc\",\"text\":\"abc\n");  /* 9: truncated */
    ADD("{\"id\":\"ok3\",\"text\":\"great\"}\n"); /* 10 */
#undef ADD
    const char *argv[] = {"earshot", "score", NULL};
    struct run r = run_in(argv, in, n);
    assert_int_equal(r.rc, 1);
    assert_int_equal(es_test_count_lines(r.out), 3);
    assert_non_null(strstr(line_of(r.out, 0), "\"id\":\"ok1\""));
    assert_non_null(strstr(line_of(r.out, 1), "\"id\":\"ok2\""));
    assert_non_null(strstr(line_of(r.out, 2), "\"id\":\"ok3\""));
    assert_non_null(strstr(r.err, "earshot score: line 2: invalid JSON"));
    assert_non_null(strstr(r.err, "earshot score: line 3: 'text' is not a string"));
    assert_non_null(strstr(r.err, "earshot score: line 4: invalid JSON"));
    assert_non_null(strstr(r.err, "earshot score: line 5: nesting deeper than 64 levels"));
    assert_non_null(strstr(r.err, "earshot score: line 6: line exceeds 1048576 bytes"));
    assert_non_null(strstr(r.err, "earshot score: line 7: missing required field 'text'"));
    assert_non_null(strstr(r.err, "earshot score: line 9: invalid JSON"));
    assert_int_equal(es_test_count_lines(r.err), 7);
    run_free(&r);
    free(in);
}

static void empty_input(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "score", NULL};
    struct run r = run_in(argv, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    run_free(&r);
}

static void usage_and_config_errors(void **state)
{
    (void)state;
    const char *a1[] = {"earshot", "score", "--bogus", NULL};
    struct run r = run_in(a1, NULL, 0);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "--bogus"));
    run_free(&r);
    const char *a2[] = {"earshot", "score", "--compat", "textblob", "x", NULL};
    r = run_in(a2, NULL, 0);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    const char *a3[] = {"earshot", "score", "--lexicons", "/nonexistent/lex", "x", NULL};
    r = run_in(a3, NULL, 0);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "/nonexistent/lex/vader_lexicon.txt"));
    assert_string_equal(r.out, "");
    run_free(&r);
    const char *a4[] = {"earshot", "score", "--help", NULL};
    r = run_in(a4, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "1 MiB"));
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_arguments),     cmocka_unit_test(ndjson_ids),
        cmocka_unit_test(plain_lines),        cmocka_unit_test(explain_and_compat),
        cmocka_unit_test(bad_lines),          cmocka_unit_test(empty_input),
        cmocka_unit_test(usage_and_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
