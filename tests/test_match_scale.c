/*
 * The indexed matcher against a brute-force evaluation: thousands of
 * generated topics (words, wildcards, phrases, tags, NEAR/ONEAR, regexes,
 * fields, nested AND/OR/NOT) over generated mentions. The brute force reads
 * the same generated query trees directly, not the query text, and checks
 * every topic against every mention the slow and obvious way, so any topic
 * the index forgets to bring up, or brings up wrongly, shows as a mismatch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/topics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A small deterministic PRNG so failures reproduce. */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* ---- vocabulary --------------------------------------------------------- */

#define NSYL 7
static const char *syl[NSYL] = {"ka", "lo", "mi", "ne", "ru", "si", "ta"};
#define NWORDS 120
static char words[NWORDS][8];

static void make_words(void)
{
    for (int i = 0; i < NWORDS; i++) {
        int a = i % NSYL, b = (i / NSYL) % NSYL, c = i / (NSYL * NSYL);
        snprintf(words[i], sizeof words[i], "%s%s%s", syl[a], syl[b], c > 0 ? syl[c] : "");
    }
}

/* ---- generated queries -------------------------------------------------- */

enum {
    G_WORD,
    G_PREFIX,
    G_PHRASE,
    G_HASHTAG,
    G_HANDLE,
    G_NEAR,
    G_ONEAR,
    G_LANG,
    G_REGEX,
    G_NLEAF,
    G_AND = 100,
    G_OR,
    G_NOT,
};

typedef struct gnode {
    int type;
    int w[2];      /* word indexes */
    int plen;      /* G_PREFIX: prefix length in bytes */
    int dist;      /* G_NEAR, G_ONEAR */
    int lang;      /* G_LANG */
    int kid[3], nk;
} gnode;

#define MAXG 200000
static gnode g[MAXG];
static int ng;

static const char *langs[] = {"en", "de", "fr"};

static int gen(int depth)
{
    int id = ng++;
    assert_true(ng < MAXG);
    gnode *n = &g[id];
    memset(n, 0, sizeof *n);
    int r = rnd(100);
    if (depth >= 3 || r < 45) {
        /* Mostly plain keywords, as real configs are. */
        int lr = rnd(100);
        n->type = lr < 45   ? G_WORD
                  : lr < 55 ? G_PREFIX
                  : lr < 65 ? G_PHRASE
                  : lr < 72 ? G_HASHTAG
                  : lr < 78 ? G_HANDLE
                  : lr < 85 ? G_NEAR
                  : lr < 90 ? G_ONEAR
                  : lr < 95 ? G_LANG
                            : G_REGEX;
        n->w[0] = (int)rnd(NWORDS);
        n->w[1] = (int)rnd(NWORDS);
        n->plen = 2 + (int)rnd(3);
        n->dist = 1 + (int)rnd(4);
        n->lang = (int)rnd(3);
        return id;
    }
    n->type = r < 70 ? G_AND : r < 90 ? G_OR : G_NOT;
    n->nk = n->type == G_NOT ? 1 : 2 + (int)rnd(2);
    for (int i = 0; i < n->nk; i++) {
        int k = gen(depth + 1);
        g[id].kid[i] = k;
    }
    return id;
}

static void render(es_buf *b, int id)
{
    const gnode *n = &g[id];
    const char *w0 = words[n->w[0]], *w1 = words[n->w[1]];
    switch (n->type) {
    case G_WORD:
        /* Query case must not matter. */
        if (rnd(4) == 0) {
            for (const char *p = w0; *p; p++) {
                es_buf_addc(b, (char)toupper((unsigned char)*p));
            }
        } else {
            es_buf_adds(b, w0);
        }
        break;
    case G_PREFIX:
        es_buf_printf(b, "%.*s*", n->plen, w0);
        break;
    case G_PHRASE:
        es_buf_printf(b, "\"%s %s\"", w0, w1);
        break;
    case G_HASHTAG:
        es_buf_printf(b, "#%s", w0);
        break;
    case G_HANDLE:
        es_buf_printf(b, "@%s", w0);
        break;
    case G_NEAR:
        es_buf_printf(b, "(%s NEAR/%d %s)", w0, n->dist, w1);
        break;
    case G_ONEAR:
        es_buf_printf(b, "(%s ONEAR/%d %s)", w0, n->dist, w1);
        break;
    case G_LANG:
        es_buf_printf(b, "lang:%s", langs[n->lang]);
        break;
    case G_REGEX:
        es_buf_printf(b, "/\\b%s\\b/i", w0);
        break;
    case G_NOT:
        es_buf_adds(b, rnd(2) ? "-" : "NOT ");
        render(b, n->kid[0]);
        break;
    default:
        es_buf_addc(b, '(');
        for (int i = 0; i < n->nk; i++) {
            if (i > 0) {
                es_buf_adds(b, n->type == G_OR ? " OR " : rnd(2) ? " AND " : " ");
            }
            render(b, n->kid[i]);
        }
        es_buf_addc(b, ')');
        break;
    }
}

/* ---- generated mentions and the brute force ----------------------------- */

enum { P_WORD, P_HASHTAG, P_HANDLE };

typedef struct piece {
    int cls;
    int w;
} piece;

typedef struct gmention {
    piece p[40]; /* positioned pieces; punctuation takes no position */
    int n;
    int lang;    /* -1: none */
} gmention;

static bool has_word_at(const gmention *m, int pos, int w, bool word_or_tag)
{
    const piece *p = &m->p[pos];
    return p->w == w && (p->cls == P_WORD || (word_or_tag && p->cls == P_HASHTAG));
}

static bool near_pairs(const gmention *m, int a, int b, int dist, bool ordered)
{
    for (int i = 0; i < m->n; i++) {
        if (!has_word_at(m, i, a, true)) {
            continue;
        }
        for (int j = 0; j < m->n; j++) {
            if (j == i || !has_word_at(m, j, b, true)) {
                continue;
            }
            int d = j - i;
            if ((d > 0 && d <= dist) || (!ordered && d < 0 && -d <= dist)) {
                return true;
            }
        }
    }
    return false;
}

static bool brute(const gmention *m, int id)
{
    const gnode *n = &g[id];
    switch (n->type) {
    case G_WORD:
        for (int i = 0; i < m->n; i++) {
            if (has_word_at(m, i, n->w[0], true)) {
                return true;
            }
        }
        return false;
    case G_PREFIX:
        for (int i = 0; i < m->n; i++) {
            if (m->p[i].cls != P_HANDLE &&
                strncmp(words[m->p[i].w], words[n->w[0]], (size_t)n->plen) == 0 &&
                strlen(words[n->w[0]]) >= (size_t)n->plen) {
                return true;
            }
        }
        return false;
    case G_PHRASE:
        for (int i = 0; i + 1 < m->n; i++) {
            if (has_word_at(m, i, n->w[0], true) && has_word_at(m, i + 1, n->w[1], true)) {
                return true;
            }
        }
        return false;
    case G_HASHTAG:
    case G_HANDLE:
        for (int i = 0; i < m->n; i++) {
            if (m->p[i].w == n->w[0] &&
                m->p[i].cls == (n->type == G_HASHTAG ? P_HASHTAG : P_HANDLE)) {
                return true;
            }
        }
        return false;
    case G_NEAR:
    case G_ONEAR:
        return near_pairs(m, n->w[0], n->w[1], n->dist, n->type == G_ONEAR);
    case G_LANG:
        return m->lang == n->lang;
    case G_REGEX:
        /* \bword\b over the raw text: any piece whose letters are the word. */
        for (int i = 0; i < m->n; i++) {
            if (m->p[i].w == n->w[0]) {
                return true;
            }
        }
        return false;
    case G_NOT:
        return !brute(m, n->kid[0]);
    case G_AND:
        for (int i = 0; i < n->nk; i++) {
            if (!brute(m, n->kid[i])) {
                return false;
            }
        }
        return true;
    case G_OR:
        for (int i = 0; i < n->nk; i++) {
            if (brute(m, n->kid[i])) {
                return true;
            }
        }
        return false;
    }
    return false;
}

/* True if the tree holds for a mention with no terms and no fields. */
static bool true_when_empty(int id)
{
    gmention empty = {.n = 0, .lang = -1};
    return brute(&empty, id);
}

static void gen_mention(gmention *m, es_buf *text)
{
    es_buf_reset(text);
    m->n = 3 + (int)rnd(25);
    m->lang = rnd(4) == 0 ? -1 : (int)rnd(3);
    for (int i = 0; i < m->n; i++) {
        int r = rnd(100);
        piece *p = &m->p[i];
        /* Favour a small set of words so phrases and NEAR pairs happen. */
        p->w = rnd(3) == 0 ? (int)rnd(NWORDS) : (int)rnd(12);
        p->cls = r < 82 ? P_WORD : r < 92 ? P_HASHTAG : P_HANDLE;
        if (i > 0) {
            es_buf_addc(text, ' ');
        }
        if (rnd(8) == 0) {
            es_buf_adds(text, rnd(2) ? ", " : "... ");
        }
        es_buf_adds(text, p->cls == P_HASHTAG ? "#" : p->cls == P_HANDLE ? "@" : "");
        const char *w = words[p->w];
        bool upper = rnd(6) == 0;
        for (const char *c = w; *c; c++) {
            es_buf_addc(text, upper ? (char)toupper((unsigned char)*c) : *c);
        }
        if (rnd(8) == 0) {
            es_buf_addc(text, "!?,."[rnd(4)]);
        }
    }
}

static void run_scale(int n_topics, int n_mentions)
{
    make_words();
    ng = 0;
    es_topic_def *defs = calloc((size_t)n_topics, sizeof *defs);
    int *roots = calloc((size_t)n_topics, sizeof *roots);
    char **names = calloc((size_t)n_topics, sizeof *names);
    char **queries = calloc((size_t)n_topics, sizeof *queries);
    assert_non_null(defs);
    es_buf b;
    es_buf_init(&b, 1 << 20);
    for (int i = 0; i < n_topics; i++) {
        int root;
        do {
            root = gen(0);
        } while (true_when_empty(root)); /* only-negative queries are rejected */
        roots[i] = root;
        es_buf_reset(&b);
        render(&b, root);
        queries[i] = strdup(b.data);
        names[i] = malloc(16);
        snprintf(names[i], 16, "t%d", i);
        defs[i].name = names[i];
        defs[i].query = queries[i];
    }
    es_topics *t = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    if (es_topics_compile(defs, (size_t)n_topics, &t, &err) != 0) {
        fail_msg("compile: %s", err.msg);
    }
    es_matcher *m = NULL;
    assert_int_equal(es_matcher_new(t, &m), 0);

    gmention gm;
    es_buf text;
    es_buf_init(&text, 1 << 16);
    size_t total_matches = 0;
    char *want = malloc((size_t)n_topics);
    for (int k = 0; k < n_mentions; k++) {
        gen_mention(&gm, &text);
        es_mention mn;
        es_mention_clear(&mn);
        mn.text = (es_str){text.data, text.len};
        if (gm.lang >= 0) {
            mn.lang = (es_str){langs[gm.lang], 2};
        }
        const uint32_t *ids;
        size_t n;
        assert_int_equal(es_topics_match(m, &mn, &ids, &n), 0);
        memset(want, 0, (size_t)n_topics);
        for (size_t i = 0; i < n; i++) {
            assert_true(ids[i] < (uint32_t)n_topics);
            if (i > 0) {
                assert_true(ids[i] > ids[i - 1]); /* ascending, no duplicates */
            }
            want[ids[i]] = 1;
        }
        for (int i = 0; i < n_topics; i++) {
            bool expect = brute(&gm, roots[i]);
            if (expect != (want[i] != 0)) {
                fail_msg("mention \"%s\" topic %d \"%s\": matcher says %d, brute force %d",
                         text.data, i, queries[i], want[i], expect);
            }
        }
        total_matches += n;
    }
    /* The generated data must actually exercise matching. */
    assert_true(total_matches > (size_t)n_mentions);
    assert_true(total_matches < (size_t)n_mentions * (size_t)n_topics / 2);

    free(want);
    es_buf_free(&text);
    es_buf_free(&b);
    es_matcher_free(m);
    es_topics_free(t);
    for (int i = 0; i < n_topics; i++) {
        free(names[i]);
        free(queries[i]);
    }
    free(names);
    free(queries);
    free(defs);
    free(roots);
}

static void test_scale_small(void **state)
{
    (void)state;
    run_scale(50, 3000);
}

static void test_scale_thousands(void **state)
{
    (void)state;
    run_scale(3000, 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_small),
        cmocka_unit_test(test_scale_thousands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
