/*
 * The VADER rules one by one, with expected values computed by hand from
 * the constants in vader-rules.md (norm(S) = S / sqrt(S^2 + 15)), the
 * measured test vectors of its section 10 in compat mode, and the default
 * mode's fixes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "earshot.h"
#include "score.h"

static es_lexicon *lex;
static es_scorer *compat, *dflt;

static int setup(void **state)
{
    (void)state;
    es_error err;
    if (es_lexicon_load(ES_TEST_LEXICONS, &lex, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (es_scorer_new(lex, ES_SCORE_COMPAT_VADER, &compat) != 0 ||
        es_scorer_new(lex, ES_SCORE_DEFAULT, &dflt) != 0) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    es_scorer_free(compat);
    es_scorer_free(dflt);
    es_lexicon_free(lex);
    return 0;
}

static double norm4(double s)
{
    return round(s / sqrt(s * s + 15) * 1e4) / 1e4;
}

static es_sentiment score(es_scorer *s, const char *text)
{
    es_sentiment r;
    assert_int_equal(es_scorer_score(s, text, strlen(text), &r), 0);
    return r;
}

#define COMPOUND(s, text, want)                                                                    \
    do {                                                                                           \
        es_sentiment r_ = score((s), (text));                                                      \
        if (fabs(r_.compound - (want)) > 5e-5) {                                                   \
            fail_msg("%s: \"%s\": compound %.4f, want %.4f", #s, (text), r_.compound, (double)(want)); \
        }                                                                                          \
    } while (0)

#define BOTH(text, want)                                                                           \
    do {                                                                                           \
        COMPOUND(compat, text, want);                                                              \
        COMPOUND(dflt, text, want);                                                                \
    } while (0)

/* §1/§8: one lexicon word and normalization; pos/neu/neg shares. */
static void lexicon_and_normalization(void **state)
{
    (void)state;
    BOTH("The book was good.", norm4(1.9)); /* 0.4404 */
    es_sentiment r = score(compat, "The book was good.");
    /* pos = 2.9 / (2.9 + 3 neutral words) */
    assert_true(fabs(r.pos - 0.492) < 1e-9 && fabs(r.neu - 0.508) < 1e-9 && r.neg == 0.0);
    BOTH("", 0.0);
    r = score(dflt, "   ");
    assert_true(r.compound == 0 && r.pos == 0 && r.neu == 0 && r.neg == 0);
    BOTH("the cat sat", 0.0);
}

/* §8.2 punctuation emphasis. */
static void punctuation(void **state)
{
    (void)state;
    BOTH("good!", norm4(1.9 + 0.292));
    BOTH("good!!!!!!", norm4(1.9 + 4 * 0.292)); /* capped at 4 */
    BOTH("good?", norm4(1.9));                   /* one '?' adds nothing */
    BOTH("good??", norm4(1.9 + 2 * 0.18));
    BOTH("good???", norm4(1.9 + 3 * 0.18));
    BOTH("good????", norm4(1.9 + 0.96));
    BOTH("bad!", norm4(-2.5 - 0.292)); /* away from zero */
}

/* §4 negation, one to three words back, and double negation. */
static void negation(void **state)
{
    (void)state;
    BOTH("it is not good", norm4(1.9 * -0.74));
    BOTH("it isn't good", norm4(1.9 * -0.74));
    BOTH("not at all good", norm4(1.9 * -0.74)); /* d = 3 */
    BOTH("not never good", norm4(1.9 * 0.74 * 0.74));
    /* "without doubt" does not negate "good" ("doubt" = -1.5 is negated by "without"). */
    BOTH("without doubt good", norm4(-1.5 * -0.74 + 1.9));
}

/* §7 boosters and dampeners with distance damping. */
static void boosters(void **state)
{
    (void)state;
    BOTH("very good", norm4(1.9 + 0.293));
    BOTH("very much good", norm4(1.9 + 0.293 * 0.95));
    BOTH("very much so good", norm4((1.9 + 0.293 * 0.9 + 0.293) * 1.25));
    BOTH("slightly good", norm4(1.9 - 0.293));
    BOTH("very bad", norm4(-2.5 - 0.293)); /* pushes away from zero */
    BOTH("it is not very good", norm4((1.9 + 0.293) * -0.74));
    /* Booster words themselves score 0 and count as neutral. */
    es_sentiment r = score(compat, "very");
    assert_true(r.compound == 0.0 && r.neu == 1.0);
}

/* §2.3 and §3.5 caps emphasis needs a mixed-case text. */
static void caps(void **state)
{
    (void)state;
    BOTH("I LOVE it", norm4(3.2 + 0.733));
    BOTH("LOVE", norm4(3.2));
    BOTH("LOVE IT", norm4(3.2));
    BOTH("it is VERY good", norm4(1.9 + 0.293 + 0.733));
    BOTH("Today SUX!", -0.5461);
}

/* §4 "never so/this" and the so/this x1.25 quirk. */
static void never_so_this(void **state)
{
    (void)state;
    BOTH("we are this good", norm4(1.9 * 1.25));
    BOTH("we are that good", norm4(1.9));
    BOTH("it is so good", norm4((1.9 + 0.293) * 1.25));
    BOTH("Sentiment analysis has never been this good!", 0.5672);
    BOTH("Sentiment analysis has never been good.", norm4(1.9 * -0.74));
}

/* §3.4 the "no" rule. */
static void no_rule(void **state)
{
    (void)state;
    BOTH("no good", norm4(1.9 * -0.74));
    BOTH("no problem", norm4(-1.7 * -0.74));
    BOTH("no", norm4(-1.2));
    /* "no" two back re-reads the raw valence; "really" then adds away from 0. */
    BOTH("no really good", norm4(-1.2 + 1.9 * -0.74 - 0.293));
}

/* §6 contrastive "but". */
static void but_rule(void **state)
{
    (void)state;
    BOTH("good but bad", norm4(1.9 * 0.5 - 2.5 * 1.5));
    BOTH("bad but good", norm4(-2.5 * 0.5 + 1.9 * 1.5));
    BOTH("The plot was good, but the characters are uncompelling and the dialog is not great.",
         -0.7042);
}

/* §5 idioms and multi-word dampeners, which need i >= 3. */
static void idioms(void **state)
{
    (void)state;
    BOTH("the shit", norm4(-2.6));
    BOTH("it is the shit", norm4(3));
    BOTH("it was kind of good", norm4(1.9 - 0.293));
    BOTH("kind of good", norm4(1.9));
    BOTH("it was kind of bad", norm4(-2.5 - 0.293)); /* unsigned: more negative */
    /* "yeah right" before a lexicon word replaces its valence ("yeah" = 1.2). */
    BOTH("i said yeah right great", norm4(1.2 - 2.0));
}

/* §3.7 "least". */
static void least(void **state)
{
    (void)state;
    BOTH("least good", norm4(1.9 * -0.74));
    BOTH("the least good", norm4(1.9 * -0.74));
    BOTH("at least good", norm4(1.9));
    BOTH("very least good", norm4(1.9 + 0.293 * 0.95)); /* "very" boosts at d = 2 */
}

/* §10: measured outputs of the reference implementation, compat mode. */
static void reference_vectors(void **state)
{
    (void)state;
    COMPOUND(compat, "At least it isn't a horrible book.", 0.431);
    es_sentiment r = score(compat, "At least it isn't a horrible book.");
    assert_true(r.neg == 0.0 && fabs(r.neu - 0.678) < 1e-9 && fabs(r.pos - 0.322) < 1e-9);
    COMPOUND(compat, "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", 0.9469);
    COMPOUND(compat, "Make sure you :) or :D today!", 0.8633);
    COMPOUND(compat, "NO NO NO", 0.4168);
    COMPOUND(compat, "D: D:", 0.5267);
    COMPOUND(compat, "Catch utf-8 emoji such as \xF0\x9F\x92\x98 and \xF0\x9F\x92\x8B and "
                     "\xF0\x9F\x98\x81", 0.875);
    COMPOUND(compat, "ok,", 0.0);
    COMPOUND(compat, "ok", 0.296);
    COMPOUND(compat, "\xE2\x9D\xA4\xEF\xB8\x8F", 0.0);          /* "red heart" glued to VS16 */
    COMPOUND(compat, "\xF0\x9F\x98\x81good", norm4(2.0 * 1.0)); /* "...smiling eyesgood" */
    COMPOUND(compat, "I don\xE2\x80\x99t like it", norm4(1.5)); /* "don’t" is not a negator */
}

/* The default mode's fixes (issue 2), each against compat's quirk. */
static void default_fixes(void **state)
{
    (void)state;
    /* Typographic apostrophe negates. */
    COMPOUND(dflt, "I don\xE2\x80\x99t like it", norm4(1.5 * -0.74));
    /* ❤️ (with VS16) is a red heart: "heart" = 3.2. */
    COMPOUND(dflt, "\xE2\x9D\xA4\xEF\xB8\x8F", norm4(3.2));
    /* Emoji glued to a word: both the emoji's words and the word count. */
    COMPOUND(dflt, "\xF0\x9F\x98\x81good", norm4(2.0 + 1.9));
    /* Skin-tone sequence is one emoji: 👍🏽 "thumbs up: medium skin tone". */
    COMPOUND(dflt, "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", 0.0);
    es_sentiment r = score(dflt, "\xF0\x9F\x98\xA2\xF0\x9F\x98\xA2");
    assert_true(r.compound < -0.6); /* two crying faces, two negatives */
    /* D: frowns. */
    COMPOUND(dflt, "D: D:", norm4(-2.9 * 2));
    /* NO NO NO is negative emphasis, not a double negation. */
    COMPOUND(dflt, "NO NO NO", norm4(-1.2 * 3));
    COMPOUND(dflt, "no good", norm4(1.9 * -0.74));
    /* Short tokens lose trailing punctuation... */
    COMPOUND(dflt, "ok,", norm4(1.2));
    COMPOUND(dflt, "it is ok, i guess", norm4(1.2));
    /* ...but initials and "No. 1" stay neutral, as in VADER. */
    COMPOUND(dflt, "Richard L. Strout", 0.0);
    COMPOUND(dflt, "we are No. 1", 0.0);
    /* "but" is positional. */
    COMPOUND(dflt, "good but bad", norm4(1.9 * 0.5 - 2.5 * 1.5));
    /* Emoticons glued to words count; a closing parenthesis does not smile. */
    COMPOUND(dflt, "thanks:)", norm4(1.9 + 2.0));
    COMPOUND(dflt, "(see below:)", 0.0);
    /* Handles do not score, hashtags do. */
    COMPOUND(dflt, "@love", 0.0);
    COMPOUND(dflt, "#love", norm4(3.2));
}

/* Explain: the words and the rules that fired. */
static void explain(void **state)
{
    (void)state;
    es_scorer_set_explain(compat, 1);
    score(compat, "it is not very good");
    es_explain x;
    es_scorer_explain(compat, &x);
    assert_int_equal(x.n_words, 5);
    assert_string_equal(x.words[4].text, "good");
    assert_true(fabs(x.words[4].lexicon - 1.9) < 1e-12);
    assert_true(fabs(x.words[4].valence - (1.9 + 0.293) * -0.74) < 1e-12);
    int booster = 0, negation = 0;
    for (size_t k = 0; k < x.n_rules; k++) {
        if (x.rules[k].rule == ES_RULE_BOOSTER && x.rules[k].by == 3) {
            booster = 1;
        }
        if (x.rules[k].rule == ES_RULE_NEGATION && x.rules[k].by == 2) {
            negation = 1;
        }
    }
    assert_true(booster && negation);
    es_buf b;
    es_buf_init(&b, 1 << 20);
    assert_int_equal(es__score_explain_json(compat, &b), 0);
    assert_non_null(strstr(b.data, "\"rule\":\"negation\",\"by\":\"not\""));
    assert_non_null(strstr(b.data, "\"rule\":\"booster\",\"by\":\"very\""));
    es_buf_free(&b);
    es_scorer_set_explain(compat, 0);
    score(compat, "good");
    es_scorer_explain(compat, &x);
    assert_int_equal(x.n_words, 0);
}

/* The social tokens of the last default-mode text are available. */
static void tokens_shared(void **state)
{
    (void)state;
    score(dflt, "@acme my bag is lost #fail");
    const es_tokens *t = es_scorer_tokens(dflt);
    assert_int_equal(t->n, 6);
    assert_int_equal(t->v[0].kind, ES_TOK_HANDLE);
    assert_string_equal(es_tok_norm(t, 5), "#fail");
}

/* Long and hostile texts: no crash, bounded work, sane numbers. */
static void long_texts(void **state)
{
    (void)state;
    static char big[1 << 20];
    memset(big, ' ', sizeof big);
    for (size_t i = 0; i + 5 <= sizeof big; i += 5) {
        memcpy(big + i, "good ", 5);
    }
    es_sentiment r;
    for (int m = 0; m < 2; m++) {
        es_scorer *s = m ? compat : dflt;
        assert_int_equal(es_scorer_score(s, big, sizeof big, &r), 0);
        assert_true(r.compound > 0.99 && r.compound <= 1.0);
        /* "but" among many equal values: the quirk emulation is bounded. */
        memcpy(big + 500000, "but  ", 5);
        assert_int_equal(es_scorer_score(s, big, sizeof big, &r), 0);
        memcpy(big + 500000, "good ", 5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lexicon_and_normalization),
        cmocka_unit_test(punctuation),
        cmocka_unit_test(negation),
        cmocka_unit_test(boosters),
        cmocka_unit_test(caps),
        cmocka_unit_test(never_so_this),
        cmocka_unit_test(no_rule),
        cmocka_unit_test(but_rule),
        cmocka_unit_test(idioms),
        cmocka_unit_test(least),
        cmocka_unit_test(reference_vectors),
        cmocka_unit_test(default_fixes),
        cmocka_unit_test(explain),
        cmocka_unit_test(tokens_shared),
        cmocka_unit_test(long_texts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
