/*
 * Compat-mode parity with the reference implementation (vaderSentiment
 * 44fc044) on items of the four ICWSM-2014 sets chosen to exercise every
 * rule: tests/fixtures/vader_parity.tsv (regenerate with
 * tests/fixtures/make_vader_parity.py). The whole-corpus check is
 * bench/eval_vader.py.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "earshot.h"
#include "testutil.h"

static void parity(void **state)
{
    (void)state;
    es_lexicon *lex;
    es_error err;
    assert_int_equal(es_lexicon_load(ES_TEST_LEXICONS, &lex, &err), 0);
    es_scorer *s, *d;
    assert_int_equal(es_scorer_new(lex, ES_SCORE_COMPAT_VADER, &s), 0);
    assert_int_equal(es_scorer_new(lex, ES_SCORE_DEFAULT, &d), 0);
    size_t len;
    char *data = es_test_read_file(ES_TEST_FIXTURES "/vader_parity.tsv", &len);
    assert_non_null(data);
    size_t items = 0, bad = 0;
    int sets = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            continue;
        }
        char *f[7];
        char *p = line;
        for (int k = 0; k < 6; k++) {
            f[k] = p;
            p = strchr(p, '\t');
            assert_non_null(p);
            *p++ = '\0';
        }
        f[6] = p;
        double neg = atof(f[2]), neu = atof(f[3]), pos = atof(f[4]), comp = atof(f[5]);
        es_sentiment r;
        assert_int_equal(es_scorer_score(s, f[6], strlen(f[6]), &r), 0);
        if (fabs(r.compound - comp) > 5e-5 || fabs(r.neg - neg) > 1e-3 ||
            fabs(r.neu - neu) > 1e-3 || fabs(r.pos - pos) > 1e-3) {
            bad++;
            fprintf(stderr, "%s %s: got %.4f %.3f/%.3f/%.3f want %.4f %.3f/%.3f/%.3f: %s\n", f[0],
                    f[1], r.compound, r.neg, r.neu, r.pos, comp, neg, neu, pos, f[6]);
        }
        /* Default mode may differ, but stays within its contract. */
        assert_int_equal(es_scorer_score(d, f[6], strlen(f[6]), &r), 0);
        assert_true(r.compound >= -1 && r.compound <= 1);
        assert_true(r.pos + r.neu + r.neg < 1.0021 && r.pos + r.neu + r.neg > 0.9979);
        sets |= strcmp(f[0], "tweets") == 0 ? 1 : strcmp(f[0], "movie") == 0 ? 2
               : strcmp(f[0], "amazon") == 0 ? 4 : 8;
        items++;
    }
    assert_true(items >= 250);
    assert_int_equal(sets, 15);
    assert_int_equal(bad, 0);
    free(data);
    es_scorer_free(s);
    es_scorer_free(d);
    es_lexicon_free(lex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
