/*
 * Scorer internals shared by score.c (rules, default mode, explain) and
 * score_vader.c (compat-mode preprocessing), plus the few internal entry
 * points other stages use.
 *
 * Both modes turn text into an array of "words" (es_sword) and then run one
 * implementation of the VADER rules over it; a mode only changes how the
 * words are made and a handful of fixes inside the rules.
 */
#ifndef ES_SCORE_H
#define ES_SCORE_H

#include "buf.h"
#include "earshot.h"
#include "lexicon.h"
#include "tokenize.h"

typedef struct es_sword {
    const char *text; /* lower-cased, NUL-terminated, in scorer or lexicon memory */
    uint32_t len;
    int32_t id;     /* lexicon entry, or -1 */
    int32_t src;    /* default mode: index of the emoji token it came from, else -1 */
    uint8_t caps;   /* ALL CAPS (Python str.isupper) */
    uint8_t neg;    /* a negator: listed, or contains "n't" */
    /* Copied from the lexicon entry when the word is made, so the rules
     * never chase the entry again (the lexicon is far bigger than cache). */
    uint8_t in_lex; /* has a valence in this mode */
    uint8_t role;   /* ES_W_* */
    uint16_t flags; /* ES_LEX_* */
    double lv;      /* valence in this mode, 0 if none */
    double boost;   /* booster increment, 0 if none */
} es_sword;

struct es_scorer {
    const struct es_lexicon *lex;
    es_score_mode mode;
    es_tokens toks; /* default mode: the social tokens of the last text */
    es_sword *w;
    double *val;
    size_t nw, capw;
    char *low; /* compat: lower-cased tokens, NUL-separated */
    size_t low_cap;
    char *xt; /* compat: the emoji-expanded text */
    size_t xt_cap;
    uint32_t n_excl, n_quest; /* '!' and '?' in the text */
    /* explain */
    int explain;
    es_explain_word *xw;
    size_t xw_cap;
    es_explain_rule *xr;
    size_t n_xr, xr_cap;
    double x_punct, x_sum;
    int x_oom;
};

/* Does the (lower-cased) word contain "n't"? */
static inline int es__has_nt(const char *w, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (w[i] == 'n' && w[i + 1] == '\'' && w[i + 2] == 't') {
            return 1;
        }
    }
    return 0;
}

/* Fill w's lexicon-derived fields from entry id (or none). */
static inline void es__sword_lex(es_sword *w, const struct es_lexicon *lex, int compat)
{
    if (w->id < 0) {
        w->in_lex = 0;
        w->role = ES_W_NONE;
        w->flags = 0;
        w->lv = 0.0;
        w->boost = 0.0;
        w->neg = es__has_nt(w->text, w->len);
        return;
    }
    const es_lex_entry *e = &lex->e[w->id];
    w->flags = e->flags;
    w->role = e->word;
    w->in_lex = (e->flags & (compat ? ES_LEX_VALENCE : ES_LEX_DVALENCE)) != 0;
    w->lv = w->in_lex ? (compat ? e->valence : e->dvalence) : 0.0;
    w->boost = e->booster;
    w->neg = (e->flags & ES_LEX_NEGATOR) || es__has_nt(w->text, w->len);
}

/* Most words in one text; the tokenizer's cap, applied to both modes. */
#define ES_SCORE_WORDS_MAX ES_TOKENS_MAX

/* Make room for n words; ES_ETOOBIG past ES_SCORE_WORDS_MAX. */
int es__score_reserve(struct es_scorer *s, size_t n);

/* Compat mode: text -> s->w[0..nw), s->n_excl, s->n_quest (score_vader.c). */
int es__vader_words(struct es_scorer *s, const char *text, size_t len);

/*
 * The social tokens of the last text scored in default mode (empty after a
 * compat-mode score), so later stages need not tokenize again. Valid until
 * the next es_scorer_score() on s.
 */
const struct es_tokens *es_scorer_tokens(const es_scorer *s);

/*
 * Append the explanation of the last score as a JSON object (the "why" of
 * the contract): {"mode":..,"words":[{"word":..,"lexicon":..,"valence":..,
 * "rules":[{"rule":..,"by":..,"before":..,"after":..}]}],"punct":..,"sum":..}.
 * Writes {} when explaining was off.
 */
int es__score_explain_json(const es_scorer *s, es_buf *b);

#endif
