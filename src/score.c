/*
 * The sentiment scorer: VADER's rules over an array of words, the default
 * mode's words made from the social tokenizer, aggregation, and explain.
 *
 * The rules follow docs in /work/shared/reference/vader-rules.md section by
 * section; the comments cite them (§3, §4, ...). Everything here is O(n) in
 * the number of words except the emulation of upstream's "but" quirk in
 * compat mode, which is bounded (see but_compat()).
 */
#include "score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SCALAR (-0.74)
#define C_INCR 0.733

/* ---- scorer lifetime -------------------------------------------------- */

int es_scorer_new(const es_lexicon *lex, es_score_mode mode, es_scorer **out)
{
    *out = NULL;
    if (lex == NULL || (mode != ES_SCORE_DEFAULT && mode != ES_SCORE_COMPAT_VADER)) {
        return ES_EINVAL;
    }
    es_scorer *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return ES_ENOMEM;
    }
    s->lex = lex;
    s->mode = mode;
    es_tokens_init(&s->toks);
    *out = s;
    return 0;
}

void es_scorer_free(es_scorer *s)
{
    if (s == NULL) {
        return;
    }
    es_tokens_free(&s->toks);
    free(s->w);
    free(s->val);
    free(s->low);
    free(s->xt);
    free(s->xw);
    free(s->xr);
    free(s);
}

void es_scorer_set_explain(es_scorer *s, int on)
{
    s->explain = on != 0;
}

const struct es_tokens *es_scorer_tokens(const es_scorer *s)
{
    return &s->toks;
}

int es__score_reserve(struct es_scorer *s, size_t n)
{
    if (n <= s->capw) {
        return 0;
    }
    if (n > ES_SCORE_WORDS_MAX) {
        return ES_ETOOBIG;
    }
    size_t cap = s->capw ? s->capw : 64;
    while (cap < n) {
        cap *= 2;
    }
    es_sword *w = realloc(s->w, cap * sizeof *w);
    if (w == NULL) {
        return ES_ENOMEM;
    }
    s->w = w;
    double *v = realloc(s->val, cap * sizeof *v);
    if (v == NULL) {
        return ES_ENOMEM;
    }
    s->val = v;
    s->capw = cap;
    return 0;
}

/* ---- explain recording ------------------------------------------------ */

static void ex_rule(es_scorer *s, int rule, size_t word, long by, double before, double after)
{
    if (s->n_xr == s->xr_cap) {
        size_t cap = s->xr_cap ? s->xr_cap * 2 : 64;
        es_explain_rule *r = realloc(s->xr, cap * sizeof *r);
        if (r == NULL) {
            s->x_oom = 1;
            return;
        }
        s->xr = r;
        s->xr_cap = cap;
    }
    es_explain_rule *r = &s->xr[s->n_xr++];
    r->rule = rule;
    r->word = (uint32_t)word;
    r->by = (int32_t)by;
    r->before = before;
    r->after = after;
}

/* Record a rule only when explaining, and only if it changed something. */
#define EX(rule, word, by, before, after)                                                          \
    do {                                                                                           \
        if (s->explain && (before) != (after)) {                                                   \
            ex_rule(s, (rule), (word), (by), (before), (after));                                   \
        }                                                                                          \
    } while (0)

/* ---- the rules -------------------------------------------------------- */

/* What the rules ask of a word, through its lexicon entry. */
struct view {
    const es_sword *w;
};

static inline int in_lex(const struct view *x, size_t i)
{
    return x->w[i].in_lex;
}

static inline double lex_val(const struct view *x, size_t i)
{
    return x->w[i].lv;
}

static inline int role(const struct view *x, size_t i)
{
    return x->w[i].role;
}

/* §7 booster scalar of word j for a current valence v. */
static double scalar_inc_dec(const struct view *x, size_t j, double v, int cap_diff)
{
    if (!(x->w[j].flags & ES_LEX_BOOSTER)) {
        return 0.0;
    }
    double sc = x->w[j].boost;
    if (v < 0) {
        sc *= -1;
    }
    if (x->w[j].caps && cap_diff) {
        if (v > 0) {
            sc += C_INCR;
        } else {
            sc -= C_INCR;
        }
    }
    return sc;
}

/* §4 negation at distance d (1..3) before word i. */
static double negation_check(es_scorer *s, const struct view *x, double v, int d, size_t i)
{
    const es_sword *w = x->w;
    double before = v;
    if (d == 1) {
        if (w[i - 1].neg) {
            v *= N_SCALAR;
            EX(ES_RULE_NEGATION, i, (long)(i - 1), before, v);
        }
    } else if (d == 2) {
        int r2 = role(x, i - 2), r1 = role(x, i - 1);
        if (r2 == ES_W_NEVER && (r1 == ES_W_SO || r1 == ES_W_THIS)) {
            v *= 1.25;
            EX(ES_RULE_NEVER_SO, i, (long)(i - 2), before, v);
        } else if (r2 == ES_W_WITHOUT && r1 == ES_W_DOUBT) {
            /* "without doubt" is not a negation */
        } else if (w[i - 2].neg) {
            v *= N_SCALAR;
            EX(ES_RULE_NEGATION, i, (long)(i - 2), before, v);
        }
    } else {
        int r3 = role(x, i - 3), r2 = role(x, i - 2), r1 = role(x, i - 1);
        /* Upstream's precedence makes any "so"/"this" right before the word
         * count, with or without "never" (§4); kept in both modes. */
        if ((r3 == ES_W_NEVER && (r2 == ES_W_SO || r2 == ES_W_THIS)) || r1 == ES_W_SO ||
            r1 == ES_W_THIS) {
            v *= 1.25;
            EX(ES_RULE_NEVER_SO, i, (long)(r1 == ES_W_SO || r1 == ES_W_THIS ? i - 1 : i - 3),
               before, v);
        } else if (r3 == ES_W_WITHOUT && (r2 == ES_W_DOUBT || r1 == ES_W_DOUBT)) {
            /* no change */
        } else if (w[i - 3].neg) {
            v *= N_SCALAR;
            EX(ES_RULE_NEGATION, i, (long)(i - 3), before, v);
        }
    }
    return v;
}

/* Does the phrase ph equal words [from, from + ph->n)? */
static int phrase_at(const struct view *x, size_t nw, const es_lex_phrase *ph, size_t from)
{
    if (from + ph->n > nw) {
        return 0;
    }
    for (size_t k = 0; k < ph->n; k++) {
        if (x->w[from + k].id != ph->w[k]) {
            return 0;
        }
    }
    return 1;
}

/* Search idioms (or n-gram boosters) for the words [from, from + len). */
static const es_lex_phrase *find_phrase(const struct view *x, size_t nw,
                                        const es_lex_phrase *list, size_t n, size_t from,
                                        size_t len)
{
    for (size_t k = 0; k < n; k++) {
        if (list[k].n == len && phrase_at(x, nw, &list[k], from)) {
            return &list[k];
        }
    }
    return NULL;
}

static int phrase_word(const struct view *x, size_t i)
{
    return (x->w[i].flags & ES_LEX_PHRASE) != 0;
}

/* §5 idioms and multi-word boosters, at the d = 3 step (i >= 3). */
static double idioms_check(es_scorer *s, const struct view *x, size_t nw, double v, size_t i)
{
    /* Every phrase tested involves word i-2, i-1 or i+1; skip the search
     * unless one of them appears in some phrase at all. */
    if (!phrase_word(x, i - 1) && !phrase_word(x, i - 2) && !(i + 1 < nw && phrase_word(x, i + 1))) {
        return v;
    }
    const struct es_lexicon *lex = s->lex;
    double before = v;
    /* In upstream's order: i-1..i, i-2..i, i-2..i-1, i-3..i-1, i-3..i-2. */
    static const struct {
        uint8_t back, len;
    } seqs[] = {{1, 2}, {2, 3}, {2, 2}, {3, 3}, {3, 2}};
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        const es_lex_phrase *ph =
            find_phrase(x, nw, lex->idioms, lex->n_idioms, i - seqs[k].back, seqs[k].len);
        if (ph != NULL) {
            v = ph->value;
            break;
        }
    }
    if (i + 1 < nw) {
        const es_lex_phrase *ph = find_phrase(x, nw, lex->idioms, lex->n_idioms, i, 2);
        if (ph != NULL) {
            v = ph->value;
        }
    }
    if (i + 2 < nw) {
        const es_lex_phrase *ph = find_phrase(x, nw, lex->idioms, lex->n_idioms, i, 3);
        if (ph != NULL) {
            v = ph->value;
        }
    }
    EX(ES_RULE_IDIOM, i, -1, before, v);
    /* Multi-word boosters add their value with no sign adjustment (§5.4). */
    static const struct {
        uint8_t back, len;
    } grams[] = {{3, 3}, {3, 2}, {2, 2}};
    for (size_t k = 0; k < sizeof grams / sizeof grams[0]; k++) {
        const es_lex_phrase *ph =
            find_phrase(x, nw, lex->ngrams, lex->n_ngrams, i - grams[k].back, grams[k].len);
        if (ph != NULL) {
            double b = v;
            v = v + ph->value;
            EX(ES_RULE_NGRAM, i, (long)(i - grams[k].back), b, v);
        }
    }
    return v;
}

/* §3: the valence of every word into s->val. */
static void valences(es_scorer *s, int compat)
{
    struct view x = {s->w};
    const es_sword *w = s->w;
    size_t n = s->nw;
    double *val = s->val;

    /* §2.3 caps differential: some words ALL CAPS, some not. */
    size_t ncaps = 0;
    for (size_t k = 0; k < n; k++) {
        ncaps += w[k].caps;
    }
    int cap_diff = ncaps > 0 && ncaps < n;

    for (size_t i = 0; i < n; i++) {
        const es_sword *e = &w[i];
        val[i] = 0.0;
        if (e->id < 0) {
            continue;
        }
        if (e->flags & ES_LEX_BOOSTER) {
            continue;
        }
        if (e->role == ES_W_KIND && i + 1 < n && role(&x, i + 1) == ES_W_OF) {
            continue;
        }
        if (!in_lex(&x, i)) {
            continue;
        }
        double v = lex_val(&x, i);
        double before = v;
        EX(ES_RULE_LEXICON, i, -1, 0.0, v);

        /* §3.4 "no". Default mode reads "no no no" as emphasis: a "no"
         * right before another "no" keeps its own valence, and one right
         * after another is not negated by it. */
        int is_no = e->role == ES_W_NO;
        if (is_no && i + 1 < n && in_lex(&x, i + 1) &&
            (compat || role(&x, i + 1) != ES_W_NO)) {
            v = 0.0;
            EX(ES_RULE_NO, i, (long)(i + 1), before, v);
        }
        if (compat || !is_no || i == 0 || role(&x, i - 1) != ES_W_NO) {
            long by = -1;
            if (i > 0 && role(&x, i - 1) == ES_W_NO) {
                by = (long)(i - 1);
            } else if (i > 1 && role(&x, i - 2) == ES_W_NO) {
                by = (long)(i - 2);
            } else if (i > 2 && role(&x, i - 3) == ES_W_NO &&
                       (role(&x, i - 1) == ES_W_OR || role(&x, i - 1) == ES_W_NOR)) {
                by = (long)(i - 3);
            }
            if (by >= 0) {
                before = v;
                v = lex_val(&x, i) * N_SCALAR;
                EX(ES_RULE_NO, i, by, before, v);
            }
        }

        /* §3.5 caps emphasis. */
        if (w[i].caps && cap_diff) {
            before = v;
            if (v > 0) {
                v += C_INCR;
            } else {
                v -= C_INCR;
            }
            EX(ES_RULE_CAPS, i, -1, before, v);
        }

        /* §3.6 the window of three words before. */
        for (int d = 1; d <= 3; d++) {
            if (i < (size_t)d || in_lex(&x, i - (size_t)d)) {
                continue;
            }
            double sc = scalar_inc_dec(&x, i - (size_t)d, v, cap_diff);
            if (d == 2) {
                sc = sc * 0.95;
            } else if (d == 3) {
                sc = sc * 0.9;
            }
            before = v;
            v = v + sc;
            EX(ES_RULE_BOOSTER, i, (long)(i - (size_t)d), before, v);
            v = negation_check(s, &x, v, d, i);
            if (d == 3) {
                v = idioms_check(s, &x, n, v, i);
            }
        }

        /* §3.7 "least". */
        before = v;
        if (i > 1 && role(&x, i - 1) == ES_W_LEAST) {
            int r2 = role(&x, i - 2);
            if (r2 != ES_W_AT && r2 != ES_W_VERY) {
                v = v * N_SCALAR;
            }
        } else if (i > 0 && role(&x, i - 1) == ES_W_LEAST) {
            v = v * N_SCALAR;
        }
        EX(ES_RULE_LEAST, i, (long)(i - 1), before, v);
        val[i] = v;
    }
}

/* Index of the first "but", or n. */
static size_t first_but(const es_scorer *s)
{
    struct view x = {s->w};
    for (size_t k = 0; k < s->nw; k++) {
        if (role(&x, k) == ES_W_BUT) {
            return k;
        }
    }
    return s->nw;
}

/* §6 "but", positionally: what upstream means to do. */
static void but_positional(es_scorer *s, size_t bi)
{
    for (size_t k = 0; k < s->nw; k++) {
        double before = s->val[k];
        if (k < bi) {
            s->val[k] = before * 0.5;
        } else if (k > bi) {
            s->val[k] = before * 1.5;
        }
        EX(ES_RULE_BUT, k, (long)bi, before, s->val[k]);
    }
}

/*
 * §6 "but" as upstream does it: for each value in order, list.index()
 * finds the FIRST position holding an equal value and scales that one, so
 * equal valences on both sides of "but" can be scaled at the wrong place.
 * Zeros never change (0 * x == 0), so only non-zero positions are
 * visited. Emulating this costs O(m^2) in the m non-zero valences; above
 * a bound we fall back to the positional rule, which differs from
 * upstream only when equal values repeat, and only in such long texts.
 */
#define BUT_QUIRK_MAX 512
static void but_compat(es_scorer *s, size_t bi)
{
    uint32_t nz[BUT_QUIRK_MAX];
    size_t m = 0;
    for (size_t k = 0; k < s->nw; k++) {
        if (s->val[k] != 0.0) {
            if (m == BUT_QUIRK_MAX) {
                but_positional(s, bi);
                return;
            }
            nz[m++] = (uint32_t)k;
        }
    }
    double *val = s->val;
    for (size_t a = 0; a < m; a++) {
        double v = val[nz[a]];
        size_t si = nz[a];
        for (size_t b = 0; b < a; b++) {
            if (val[nz[b]] == v) {
                si = nz[b];
                break;
            }
        }
        double before = val[si];
        if (si < bi) {
            val[si] = v * 0.5;
        } else if (si > bi) {
            val[si] = v * 1.5;
        }
        EX(ES_RULE_BUT, si, (long)bi, before, val[si]);
    }
}

/*
 * Python's round(x, nd) for nd = 3 or 4: the exact binary value rounded
 * half-to-even. x * 10^nd is inexact, so when it lands close to a half we
 * ask printf, which rounds the exact value correctly.
 */
static double py_round(double x, int nd)
{
    double scale = nd == 3 ? 1e3 : 1e4;
    double y = x * scale;
    double f = floor(y);
    double frac = y - f;
    if (fabs(frac - 0.5) > 1e-6) {
        return (frac < 0.5 ? f : f + 1.0) / scale;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*f", nd, x);
    return strtod(tmp, NULL);
}

/* §8 aggregation into out. */
static void aggregate(es_scorer *s, es_sentiment *out)
{
    memset(out, 0, sizeof *out);
    s->x_punct = s->x_sum = 0;
    if (s->nw == 0) {
        return;
    }
    double sum = 0.0;
    for (size_t k = 0; k < s->nw; k++) {
        sum += s->val[k];
    }
    uint32_t ne = s->n_excl > 4 ? 4 : s->n_excl;
    double ep = ne * 0.292;
    double qp = 0.0;
    if (s->n_quest > 1) {
        qp = s->n_quest <= 3 ? s->n_quest * 0.18 : 0.96;
    }
    double punct = ep + qp;
    if (sum > 0) {
        sum += punct;
    } else if (sum < 0) {
        sum -= punct;
    }
    s->x_punct = punct;
    s->x_sum = sum;
    double compound = sum / sqrt(sum * sum + 15.0);
    if (compound < -1.0) {
        compound = -1.0;
    } else if (compound > 1.0) {
        compound = 1.0;
    }
    double pos_sum = 0.0, neg_sum = 0.0;
    size_t neu = 0;
    for (size_t k = 0; k < s->nw; k++) {
        double v = s->val[k];
        if (v > 0) {
            pos_sum += v + 1;
        }
        if (v < 0) {
            neg_sum += v - 1;
        }
        if (v == 0) {
            neu++;
        }
    }
    if (pos_sum > fabs(neg_sum)) {
        pos_sum += punct;
    } else if (pos_sum < fabs(neg_sum)) {
        neg_sum -= punct;
    }
    double total = pos_sum + fabs(neg_sum) + (double)neu;
    out->compound = py_round(compound, 4);
    out->pos = py_round(fabs(pos_sum / total), 3);
    out->neg = py_round(fabs(neg_sum / total), 3);
    out->neu = py_round(fabs((double)neu / total), 3);
}

/* ---- default mode: words from social tokens ---------------------------- */

static int push_word(es_scorer *s, const char *text, size_t len, int32_t id, int32_t src,
                     int caps)
{
    if (s->nw == s->capw) {
        int rc = es__score_reserve(s, s->nw + 1);
        if (rc != 0) {
            return rc;
        }
    }
    es_sword *w = &s->w[s->nw++];
    w->text = text;
    w->len = (uint32_t)len;
    w->id = id;
    w->src = src;
    w->caps = (uint8_t)caps;
    es__sword_lex(w, s->lex, 0);
    return 0;
}

/* An emoticon's entry: as written, else with a repeated final mouth
 * collapsed (":)))" -> ":)"). */
static int32_t find_emoticon(const struct es_lexicon *lex, const char *t, size_t n)
{
    int32_t id = es_lex_find(lex, t, n);
    if (id >= 0 && (lex->e[id].flags & ES_LEX_DVALENCE)) {
        return id;
    }
    size_t k = n;
    while (k > 2 && t[k - 1] == t[k - 2]) {
        k--;
    }
    return k < n ? es_lex_find(lex, t, k) : id;
}

/* An emoji token's table entry: the whole sequence, else without
 * variation selectors and skin tones, else its first code point. */
static int32_t find_emoji(const struct es_lexicon *lex, const char *t, size_t n)
{
    int32_t id = es_lex_find(lex, t, n);
    if (id >= 0 && lex->e[id].emoji >= 0) {
        return lex->e[id].emoji;
    }
    char tmp[64];
    size_t m = 0;
    if (n <= sizeof tmp) {
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = es__utf8_next((const unsigned char *)t + i, n - i, &cp);
            if (!(cp == 0xFE0F || cp == 0xFE0E || (cp >= 0x1F3FB && cp <= 0x1F3FF))) {
                memcpy(tmp + m, t + i, l);
                m += l;
            }
            i += l;
        }
        if (m < n) {
            id = es_lex_find(lex, tmp, m);
            if (id >= 0 && lex->e[id].emoji >= 0) {
                return lex->e[id].emoji;
            }
        }
    }
    uint32_t cp;
    size_t l = es__utf8_next((const unsigned char *)t, n, &cp);
    if (l < n) {
        id = es_lex_find(lex, t, l);
        if (id >= 0 && lex->e[id].emoji >= 0) {
            return lex->e[id].emoji;
        }
    }
    return -1;
}

/* Is token k glued (no space) to punctuation before it? */
static int punct_before(const es_tokens *t, size_t k)
{
    return !(t->v[k].flags & ES_TOKF_SPACE_BEFORE) && k > 0 && t->v[k - 1].kind == ES_TOK_PUNCT;
}

/* Is token k glued (no space) to punctuation on either side? */
static int glued_to_punct(const es_tokens *t, size_t k)
{
    if (punct_before(t, k)) {
        return 1;
    }
    return k + 1 < t->n && !(t->v[k + 1].flags & ES_TOKF_SPACE_BEFORE) &&
           t->v[k + 1].kind == ES_TOK_PUNCT;
}

/*
 * The entry of word token k in default mode. Splitting punctuation off
 * words ("ok," -> "ok") is the point of the social tokenizer, but for very
 * short words it also exposes initials and abbreviations VADER never saw
 * ("L." -> "l" = +2.0, "No. 1"). So a word of one or two characters glued
 * to punctuation scores only if glued_short.txt lists it ("ok", "no"), and
 * "No." before a number is an abbreviation.
 */
static int32_t word_id(const es_scorer *s, size_t k)
{
    const es_tokens *t = &s->toks;
    const es_token *tk = &t->v[k];
    const char *nm = es_tok_norm(t, k);
    int32_t id = es_lex_find(s->lex, nm, tk->norm_len);
    if (id < 0 || tk->norm_len > 2 || !glued_to_punct(t, k)) {
        return id;
    }
    if (!(s->lex->e[id].flags & ES_LEX_GLUED_OK) || punct_before(t, k)) {
        return -1;
    }
    /* "Ok, ..." opening a text is a discourse marker, not an opinion; an
     * opening "No, ..." still answers negatively. */
    if (k == 0 && t->n > 2 && es_tok_norm(t, 1)[0] == ',' && s->lex->e[id].word != ES_W_NO) {
        return -1;
    }
    if (s->lex->e[id].word == ES_W_NO && k + 2 < t->n && nm[tk->norm_len] == '\0' &&
        t->v[k + 1].kind == ES_TOK_PUNCT && es_tok_norm(t, k + 1)[0] == '.' &&
        t->v[k + 2].kind == ES_TOK_NUMBER) {
        return -1;
    }
    return id;
}

/*
 * Words for default mode. Each token becomes a word, except: punctuation
 * is dropped (a whitespace-separated chunk of nothing but punctuation
 * becomes one neutral word, as it would in VADER), handles, cashtags and
 * URLs are neutral words, hashtags score as their tag, and an emoji
 * becomes the words of its description.
 */
static int default_words(es_scorer *s, const char *text, size_t len)
{
    int rc = es_tokenize(text, len, &s->toks);
    if (rc != 0) {
        return rc;
    }
    const es_tokens *t = &s->toks;
    const struct es_lexicon *lex = s->lex;
    rc = es__score_reserve(s, t->n + 1);
    if (rc != 0) {
        return rc;
    }
    s->nw = 0;
    s->n_excl = s->n_quest = 0;
    size_t chunk_words = 0;
    long chunk_punct = -1; /* first punctuation token of a word-less chunk */
    for (size_t k = 0; k < t->n && rc == 0; k++) {
        const es_token *tk = &t->v[k];
        const char *nm = es_tok_norm(t, k);
        if (tk->flags & ES_TOKF_SPACE_BEFORE) {
            if (chunk_words == 0 && chunk_punct >= 0) {
                rc = push_word(s, es_tok_norm(t, (size_t)chunk_punct),
                               t->v[chunk_punct].norm_len, -1, -1, 0);
            }
            chunk_words = 0;
            chunk_punct = -1;
        }
        switch (tk->kind) {
        case ES_TOK_PUNCT:
            if (nm[0] == '!') {
                s->n_excl += tk->norm_len;
            } else if (nm[0] == '?') {
                s->n_quest += tk->norm_len;
            }
            if (chunk_punct < 0) {
                chunk_punct = (long)k;
            }
            continue;
        case ES_TOK_WORD:
        case ES_TOK_NUMBER:
            rc = push_word(s, nm, tk->norm_len, word_id(s, k), -1,
                           (tk->flags & ES_TOKF_ALLCAPS) != 0);
            break;
        case ES_TOK_HASHTAG:
            rc = push_word(s, nm + 1, tk->norm_len - 1,
                           es_lex_find(lex, nm + 1, tk->norm_len - 1), -1,
                           (tk->flags & ES_TOKF_ALLCAPS) != 0);
            break;
        case ES_TOK_EMOTICON:
            rc = push_word(s, nm, tk->norm_len, find_emoticon(lex, nm, tk->norm_len), -1, 0);
            break;
        case ES_TOK_EMOJI: {
            int32_t em = find_emoji(lex, nm, tk->norm_len);
            if (em < 0) {
                rc = push_word(s, nm, tk->norm_len, -1, (int32_t)k, 0);
                break;
            }
            const es_lex_emoji *x = &lex->emoji[em];
            rc = es__score_reserve(s, s->nw + x->n + (t->n - k));
            for (uint32_t j = 0; j < x->n && rc == 0; j++) {
                const es_lex_dword *d = &lex->dwords[x->first + j];
                rc = push_word(s, d->text, d->len, d->id, (int32_t)k, 0);
            }
            break;
        }
        default: /* handles, cashtags, URLs: present but neutral */
            rc = push_word(s, nm, tk->norm_len, -1, -1, 0);
            break;
        }
        chunk_words++;
    }
    if (rc == 0 && chunk_words == 0 && chunk_punct >= 0) {
        rc = push_word(s, es_tok_norm(t, (size_t)chunk_punct), t->v[chunk_punct].norm_len, -1,
                       -1, 0);
    }
    return rc;
}

/* ---- entry point ------------------------------------------------------ */

int es_scorer_score(es_scorer *s, const char *text, size_t len, es_sentiment *out)
{
    int compat = s->mode == ES_SCORE_COMPAT_VADER;
    s->nw = 0;
    s->n_xr = 0;
    s->x_oom = 0;
    s->toks.n = 0;
    int rc = compat ? es__vader_words(s, text, len) : default_words(s, text, len);
    if (rc != 0) {
        s->nw = 0;
        s->toks.n = 0;
        memset(out, 0, sizeof *out);
        return rc;
    }
    valences(s, compat);
    size_t bi = first_but(s);
    if (bi < s->nw) {
        if (compat) {
            but_compat(s, bi);
        } else {
            but_positional(s, bi);
        }
    }
    aggregate(s, out);
    return 0;
}

/* ---- explain ---------------------------------------------------------- */

static const char *const rule_names[] = {
    "lexicon", "no", "caps", "booster", "negation", "never_so", "idiom", "ngram", "least", "but",
};

const char *es_rule_name(int rule)
{
    if (rule < 0 || (size_t)rule >= sizeof rule_names / sizeof rule_names[0]) {
        return "?";
    }
    return rule_names[rule];
}

/* Fill the word list lazily: it is only needed when someone asks. */
static int explain_words(const es_scorer *cs)
{
    es_scorer *s = (es_scorer *)cs; /* scratch only; the result is logically const */
    if (s->xw_cap < s->nw) {
        es_explain_word *w = realloc(s->xw, (s->nw ? s->nw : 1) * sizeof *w);
        if (w == NULL) {
            return ES_ENOMEM;
        }
        s->xw = w;
        s->xw_cap = s->nw;
    }
    int compat = s->mode == ES_SCORE_COMPAT_VADER;
    for (size_t k = 0; k < s->nw; k++) {
        const es_sword *w = &s->w[k];
        es_explain_word *x = &s->xw[k];
        x->text = w->text;
        x->source = w->src >= 0 ? es_tok_norm(&s->toks, (size_t)w->src) : NULL;
        x->lexicon = 0.0;
        if (w->id >= 0) {
            const es_lex_entry *e = &s->lex->e[w->id];
            if (compat ? (e->flags & ES_LEX_VALENCE) : (e->flags & ES_LEX_DVALENCE)) {
                x->lexicon = compat ? e->valence : e->dvalence;
            }
        }
        x->valence = s->val[k];
    }
    return 0;
}

void es_scorer_explain(const es_scorer *s, es_explain *out)
{
    memset(out, 0, sizeof *out);
    if (!s->explain || explain_words(s) != 0) {
        return;
    }
    out->words = s->xw;
    out->n_words = s->nw;
    out->rules = s->xr;
    out->n_rules = s->n_xr;
    out->punct = s->x_punct;
    out->sum = s->x_sum;
}

static int rule_json(es_buf *b, const es_explain *x, const es_explain_rule *e)
{
    int rc = es_buf_adds(b, "{\"rule\":\"");
    rc |= es_buf_adds(b, es_rule_name(e->rule));
    rc |= es_buf_adds(b, "\"");
    if (e->rule == ES_RULE_BUT) {
        rc |= es_buf_adds(b, ",\"word\":");
        rc |= es_buf_json_int(b, (int64_t)e->word);
    }
    if (e->by >= 0 && (size_t)e->by < x->n_words) {
        const char *by = x->words[e->by].text;
        rc |= es_buf_adds(b, ",\"by\":");
        rc |= es_buf_json_str(b, by, strlen(by));
    }
    rc |= es_buf_adds(b, ",\"before\":");
    rc |= es_buf_json_fixed(b, e->before, 4);
    rc |= es_buf_adds(b, ",\"after\":");
    rc |= es_buf_json_fixed(b, e->after, 4);
    rc |= es_buf_adds(b, "}");
    return rc;
}

int es__score_explain_json(const es_scorer *s, es_buf *b)
{
    es_explain x;
    es_scorer_explain(s, &x);
    if (!s->explain) {
        return es_buf_adds(b, "{}");
    }
    int rc = es_buf_adds(b, s->mode == ES_SCORE_COMPAT_VADER ? "{\"mode\":\"compat\",\"words\":["
                                                               : "{\"mode\":\"default\",\"words\":[");
    /* Rules other than "but" are recorded word by word in order, so one
     * cursor walks them; "but" rules come after all of them. */
    size_t r = 0;
    for (size_t k = 0; k < x.n_words && rc == 0; k++) {
        const es_explain_word *w = &x.words[k];
        rc |= es_buf_adds(b, k ? ",{\"word\":" : "{\"word\":");
        rc |= es_buf_json_str(b, w->text, strlen(w->text));
        if (w->source != NULL) {
            rc |= es_buf_adds(b, ",\"emoji\":");
            rc |= es_buf_json_str(b, w->source, strlen(w->source));
        }
        if (w->lexicon != 0.0) {
            rc |= es_buf_adds(b, ",\"lexicon\":");
            rc |= es_buf_json_fixed(b, w->lexicon, 4);
        }
        rc |= es_buf_adds(b, ",\"valence\":");
        rc |= es_buf_json_fixed(b, w->valence, 4);
        int first = 1;
        for (; r < x.n_rules && x.rules[r].rule != ES_RULE_BUT && x.rules[r].word == k; r++) {
            if (x.rules[r].rule == ES_RULE_LEXICON) {
                continue;
            }
            rc |= es_buf_adds(b, first ? ",\"rules\":[" : ",");
            first = 0;
            rc |= rule_json(b, &x, &x.rules[r]);
        }
        if (!first) {
            rc |= es_buf_adds(b, "]");
        }
        rc |= es_buf_adds(b, "}");
    }
    rc |= es_buf_adds(b, "]");
    int first = 1;
    for (; r < x.n_rules && rc == 0; r++) {
        if (x.rules[r].rule != ES_RULE_BUT) {
            continue;
        }
        rc |= es_buf_adds(b, first ? ",\"but\":[" : ",");
        first = 0;
        rc |= rule_json(b, &x, &x.rules[r]);
    }
    if (!first) {
        rc |= es_buf_adds(b, "]");
    }
    rc |= es_buf_adds(b, ",\"punct\":");
    rc |= es_buf_json_fixed(b, x.punct, 4);
    rc |= es_buf_adds(b, ",\"sum\":");
    rc |= es_buf_json_fixed(b, x.sum, 4);
    rc |= es_buf_adds(b, "}");
    return rc != 0 ? ES_ETOOBIG : 0;
}
