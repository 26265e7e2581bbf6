/* Lexicon sentiment scoring (VADER rules). Owned by the scorer. */
#ifndef EARSHOT_SENTIMENT_H
#define EARSHOT_SENTIMENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct es_error;

typedef struct es_sentiment {
    double compound; /* [-1, 1], rounded to 4 decimals */
    double pos;      /* rounded to 3 decimals */
    double neu;
    double neg;
} es_sentiment;

/*
 * The lexicon: VADER's word and emoji lexicons plus our rule data
 * (boosters, negations, idioms, emoticons), loaded from one directory:
 *
 *   vader_lexicon.txt, emoji_utf8_lexicon.txt  (VADER, MIT; see README.md)
 *   boosters.txt, negations.txt, idioms.txt, emoticons.txt,
 *   glued_short.txt  (ours)
 *
 * On error returns ES_EIO (a file is missing or unreadable), ES_ELEXICON
 * (a bad line) or ES_ENOMEM, and fills err with the file and line. The
 * lexicon is immutable once loaded: share it between threads freely and
 * free it after the last scorer using it.
 */
typedef struct es_lexicon es_lexicon;
int es_lexicon_load(const char *dir, es_lexicon **out, struct es_error *err);
void es_lexicon_free(es_lexicon *lex);

/*
 * ES_SCORE_COMPAT_VADER reproduces vaderSentiment 44fc044 exactly, quirks
 * included. ES_SCORE_DEFAULT runs the same rules over the social tokenizer
 * and fixes what hurts social text: typographic apostrophes, emoji glued to
 * words or followed by VS16/ZWJ, emoji sequences, emoticon senses ("D:"
 * frowns), "NO NO NO", and short tokens keeping trailing punctuation.
 */
typedef enum { ES_SCORE_DEFAULT = 0, ES_SCORE_COMPAT_VADER = 1 } es_score_mode;

/*
 * A scorer is scratch space for one thread. It borrows the lexicon (which
 * must outlive it) and does not allocate per call once its buffers have
 * grown to the largest text seen.
 */
typedef struct es_scorer es_scorer;
int es_scorer_new(const es_lexicon *lex, es_score_mode mode, es_scorer **out);
void es_scorer_free(es_scorer *s);

/*
 * Score `len` bytes of UTF-8 text (any bytes are accepted). Returns 0, or
 * ES_ETOOBIG for text over 4 GiB or with more than 2^20 tokens, or
 * ES_ENOMEM; `out` is all zeros on error.
 */
int es_scorer_score(es_scorer *s, const char *text, size_t len, es_sentiment *out);

/*
 * Explain: with explaining on, each score also records the words that were
 * scored and every rule that changed a word's valence, readable until the
 * next call. Off by default; it costs time.
 */
typedef enum {
    ES_RULE_LEXICON,  /* the word's lexicon valence */
    ES_RULE_NO,       /* "no" before a lexicon word, or a word after "no" */
    ES_RULE_CAPS,     /* ALL-CAPS word in mixed-case text */
    ES_RULE_BOOSTER,  /* booster or dampener within 3 words before */
    ES_RULE_NEGATION, /* negator within 3 words before */
    ES_RULE_NEVER_SO, /* "never so/this" (and compat's "so/this") x1.25 */
    ES_RULE_IDIOM,    /* special phrase replaces the valence */
    ES_RULE_NGRAM,    /* "kind of" / "sort of" / "just enough" */
    ES_RULE_LEAST,    /* "least" before the word */
    ES_RULE_BUT       /* contrastive "but": x0.5 before, x1.5 after */
} es_rule;

typedef struct es_explain_word {
    const char *text;   /* the word as scored (lower-cased), NUL-terminated */
    const char *source; /* for words of an emoji's description, the emoji; else NULL */
    double lexicon;     /* its lexicon valence, 0 if it has none */
    double valence;     /* its contribution after all rules */
} es_explain_word;

typedef struct es_explain_rule {
    int rule;       /* es_rule */
    uint32_t word;  /* the word whose valence changed */
    int32_t by;     /* the word that triggered it, or -1 */
    double before, after;
} es_explain_rule;

typedef struct es_explain {
    const es_explain_word *words;
    size_t n_words;
    const es_explain_rule *rules;
    size_t n_rules;
    double punct; /* emphasis from '!' and '?' added away from zero */
    double sum;   /* the raw sum that was normalized into compound */
} es_explain;

void es_scorer_set_explain(es_scorer *s, int on);
/* What the last score did; all empty when explaining is off. */
void es_scorer_explain(const es_scorer *s, es_explain *out);
const char *es_rule_name(int rule);

#ifdef __cplusplus
}
#endif
#endif
