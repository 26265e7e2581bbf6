/*
 * The JSON writers of src/buf.c take fast paths: es_buf_json_fixed prints
 * numbers without printf, es_buf_json_str copies plain text eight bytes at
 * a time. Their output must still be exactly the simple form: "%.*f" with
 * trailing zeros trimmed to one ("-0.0" -> "0.0"), and strings escaped byte
 * by byte with invalid UTF-8 replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference: what es_buf_json_fixed printed before its fast path. */
static void reference(double v, int decimals, char *out, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(out, cap, "0.0");
        return;
    }
    int n = snprintf(out, cap, "%.*f", decimals, v);
    char *dot = strchr(out, '.');
    if (dot != NULL) {
        char *end = out + n - 1;
        while (end > dot + 1 && *end == '0') {
            *end-- = '\0';
        }
    }
    if (strcmp(out, "-0.0") == 0) {
        snprintf(out, cap, "0.0");
    }
}

static void check(double v, int decimals)
{
    es_buf b;
    es_buf_init(&b, 1024);
    assert_int_equal(es_buf_json_fixed(&b, v, decimals), 0);
    char want[512];
    reference(v, decimals, want, sizeof want);
    if (strcmp(b.data, want) != 0) {
        fail_msg("%.17g with %d decimals: got %s, want %s", v, decimals, b.data, want);
    }
    es_buf_free(&b);
}

static void contract_examples(void **state)
{
    (void)state;
    es_buf b;
    es_buf_init(&b, 1024);
    assert_int_equal(es_buf_json_fixed(&b, 0.0, 4), 0);
    assert_int_equal(es_buf_json_fixed(&b, -0.54230000001, 4), 0);
    assert_int_equal(es_buf_json_fixed(&b, 0.41, 3), 0);
    assert_int_equal(es_buf_json_fixed(&b, -0.00001, 4), 0);
    assert_int_equal(es_buf_json_fixed(&b, 12.0, 2), 0);
    assert_int_equal(es_buf_json_fixed(&b, NAN, 2), 0);
    assert_string_equal(b.data, "0.0-0.54230.410.012.00.0");
    es_buf_free(&b);
}

/* Values whose scaled form is exactly or nearly a half: printf rounds the
 * exact binary value (half to even), and so must we. */
static void halves_and_edges(void **state)
{
    (void)state;
    static const double v[] = {
        0.5,     1.5,     2.5,       0.125,      0.375,       -0.125,      0.00005,
        0.00015, 0.00025, -0.00005,  1.00005,    0.99995,     0.999949999, 0.99999,
        -0.99995, 1e-300, -1e-300,   123456.789, 4.5e11,      -7.25,       0.0005,
        1e15,    -1e15,   9.87654321e8, 3.0000000000000004, 0.30000000000000004, -0.0,
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (int d = 0; d <= 10; d++) {
            check(v[i], d);
        }
    }
}

/* A deterministic sweep over the ranges the product prints: scores in
 * [-1, 1], rates, and a few large counts. */
static void random_sweep(void **state)
{
    (void)state;
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        double v;
        switch (i % 4) {
        case 0: v = u * 2 - 1; break;
        case 1: v = (u - 0.5) * 2000; break;
        case 2: v = round((u * 2 - 1) * 1e4) / 1e4; break; /* already rounded */
        default: v = (u - 0.5) * 1e12; break;
        }
        check(v, 1 + i % 6);
    }
}

/* Every byte that needs care, at every offset of an 8-byte block and
 * next to plain text, must come out as the per-byte escaper writes it. */
static void string_escapes_at_every_offset(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } special[] = {
        {"\"", "\\\""},     {"\\", "\\\\"},  {"\n", "\\n"},       {"\x01", "\\u0001"},
        {"\x1f", "\\u001f"}, {"\x7f", "\x7f"}, {"\xc3\xa9", "\xc3\xa9"}, {"\xff", "\xef\xbf\xbd"},
        {" ", " "},          {"~", "~"},
    };
    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
        for (size_t pre = 0; pre < 17; pre++) {
            char in[64], want[80];
            memset(in, 'a', pre);
            strcpy(in + pre, special[k].in);
            strcat(in, "bcdefghijk");
            snprintf(want, sizeof want, "\"%.*s%sbcdefghijk\"", (int)pre,
                     "aaaaaaaaaaaaaaaaaaaa", special[k].out);
            es_buf b;
            es_buf_init(&b, 1024);
            assert_int_equal(es_buf_json_str(&b, in, strlen(in)), 0);
            assert_string_equal(b.data, want);
            es_buf_free(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_escapes_at_every_offset),
        cmocka_unit_test(contract_examples),
        cmocka_unit_test(halves_and_edges),
        cmocka_unit_test(random_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
