/*
 * Fuzz target: the tokenizer and the scorer in both modes (with explain on
 * and off) over arbitrary bytes. The lexicon is loaded once, from the
 * source tree. Checks the invariants a caller relies on: scores in range,
 * tokens inside the text, normalized forms NUL-terminated.
 */
#include "buf.h"
#include "earshot.h"
#include "score.h"
#include "tokenize.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static es_lexicon *lex;
static es_scorer *sc[2];
static es_tokens toks;

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (lex == NULL) {
        es_error err;
        if (es_lexicon_load(ES_TEST_LEXICONS, &lex, &err) != 0) {
            fprintf(stderr, "fuzz_score: %s\n", err.msg);
            abort();
        }
        check(es_scorer_new(lex, ES_SCORE_DEFAULT, &sc[0]) == 0);
        check(es_scorer_new(lex, ES_SCORE_COMPAT_VADER, &sc[1]) == 0);
        es_tokens_init(&toks);
    }
    const char *text = (const char *)data;
    check(es_tokenize(text, size, &toks) == 0);
    for (size_t i = 0; i < toks.n; i++) {
        const es_token *t = &toks.v[i];
        check(t->len > 0 && (size_t)t->off + t->len <= size);
        check(i == 0 || t->off >= toks.v[i - 1].off + toks.v[i - 1].len);
        check(strlen(es_tok_norm(&toks, i)) <= t->norm_len || t->kind == ES_TOK_EMOJI);
        check(es_tok_norm(&toks, i)[t->norm_len] == '\0');
    }
    es_buf b;
    es_buf_init(&b, (size_t)64 << 20);
    for (int m = 0; m < 2; m++) {
        for (int ex = 0; ex < 2; ex++) {
            es_scorer_set_explain(sc[m], ex);
            es_sentiment r;
            check(es_scorer_score(sc[m], text, size, &r) == 0);
            check(r.compound >= -1.0 && r.compound <= 1.0);
            check(r.pos >= 0 && r.neu >= 0 && r.neg >= 0);
            check(r.pos + r.neu + r.neg <= 1.0021);
            if (ex) {
                es_buf_reset(&b);
                check(es__score_explain_json(sc[m], &b) == 0);
            }
        }
    }
    es_buf_free(&b);
    return 0;
}
