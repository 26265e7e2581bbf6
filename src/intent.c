/*
 * Intent rules: complaint / question / praise / other.
 *
 * Two halves. The loader reads three cue files (format: lexicons/INTENT.md)
 * and compiles every phrase of every file into one word trie whose edges
 * live in a single open-addressing hash table keyed by (parent node, word).
 * The classifier walks that trie once from each token of a mention, so the
 * cost of a mention is linear in its tokens and independent of how many cues
 * there are, and it allocates nothing.
 *
 * The complaint score is a small hand-set logistic model over interpretable
 * features. The weights below were set by hand on one half of a labelled
 * development set and checked on the other half (bench/README.md, section
 * "intent"); they are round numbers on purpose, and no rule names a word
 * that only that data would suggest. Changing a weight? Re-run
 * bench/eval_complaints.py and update the table in bench/README.md.
 */
#include "earshot/intent.h"

#include "buf.h"
#include "earshot.h"
#include "earshot/sentiment.h"
#include "tokenize.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The model ---------------------------------------------------------- */

/*
 * logit = BIAS
 *       + CUE      * min(sum of positive complaint cue weights, CUE_CAP)
 *       + DEFUSE   * max(sum of negative complaint cue weights, -CUE_CAP)
 *       + TIME     * min(sum of time cue weights, TIME_CAP)   [if a failure
 *                                                            or aimed at us]
 *       + SELF                 [first-person word and a failure cue]
 *       + ADDRESSED            [addressed, reply, or names the brand]
 *       + CARE                 [an @handle that looks like customer care]
 *       + NEG * -compound      [negative sentiment, aimed at the brand]
 *       + POS *  compound      [positive sentiment; POS_FAIL next to a failure]
 *       + FAILQ * min(failure-question strength, 2)
 *       + QUESTION             [a plain question, not a failure question]
 *       + PRAISE * min(praise cue total, PRAISE_CAP)  [PRAISE_FAIL next to
 *                                                     a failure]
 * complaint = 1 / (1 + exp(-logit)); intent is complaint when >= 0.5.
 *
 * Why these shapes: a cue is evidence of a failure but the tenth cue adds
 * little, hence the caps; time words ("still", "again") only mean something
 * next to a failure or a brand; sentiment counts only when the text is aimed
 * at someone who could fix it, because "this movie was sad" is negative and
 * not a complaint; praise and plain questions pull the score down so that
 * "thanks, great service" and "do you ship to Ireland?" stay out.
 */
#define W_BIAS (-2.2)
#define W_CUE 0.9
#define W_DEFUSE 0.8
#define W_TIME 0.5
#define W_SELF 0.6
#define W_ADDRESSED 0.6
#define W_CARE 1.2
#define W_NEG 1.5
#define W_POS (-0.8)
#define W_FAILQ 1.0
#define W_QUESTION (-0.2)
#define W_PRAISE (-0.6)
#define W_REPORT (-1.0)
/* Next to a failure cue, thanks and cheer are mostly politeness or sarcasm
 * ("great, delayed again, thanks"), so they pull the score down less. */
#define W_PRAISE_FAIL (-0.2)
#define W_POS_FAIL (-0.3)
#define CUE_CAP 4.0
#define TIME_CAP 2.0
#define PRAISE_CAP 3.0
#define FAILQ_CAP 2.0

/* A question needs this much evidence: an opener (about 1.0) plus a
 * question mark (1.0), or a strong opener ("is it possible", 1.4) with a
 * question mark, or a clear phrase ("quick question"). */
#define QUESTION_MIN 1.5
#define QMARK_WEIGHT 1.0
/* Praise: positive sentiment and cues adding up to at least this. */
#define PRAISE_MIN 1.0
#define PRAISE_COMPOUND_MIN 0.05

/* ---- Limits on the cue files ------------------------------------------- */

#define CUE_FILE_MAX ((size_t)1 << 20) /* bytes per file */
#define CUE_LINE_MAX 1024              /* bytes per line */
#define CUE_WORDS_MAX 8                /* words per phrase */
#define CUE_WORD_MAX 63                /* bytes per normalized word */
#define CUE_COUNT_MAX 65536            /* phrases over all files */
#define HANDLE_CUES_MAX 64
#define WEIGHT_ABS_MAX 10.0
/* Trie paths explored at once while matching; wildcards can fork a path. */
#define FRONTIER_MAX 16
#define PFX_FILTER_BITS 16384 /* 2 KiB: stays in L1 */

/* ---- Compiled cue set ---------------------------------------------------- */

/* Each (file, tag) pair is a category; a trie node can end a phrase in
 * several categories at once ("how come" is a complaint cue and a failure
 * question). */
enum {
    CAT_CUE,    /* complaint_cues.txt, no tag */
    CAT_TIME,   /* complaint_cues.txt, time */
    CAT_SELF,   /* complaint_cues.txt, self */
    CAT_QOPEN,  /* question_cues.txt, no tag */
    CAT_QFAIL,  /* question_cues.txt, fail */
    CAT_QANY,   /* question_cues.txt, any */
    CAT_PRAISE, /* praise_cues.txt */
    CAT_N
};

enum { EDGE_EXACT, EDGE_PREFIX, EDGE_NUM };

struct term {
    float weight;
    uint32_t phrase; /* offset in pool: the phrase as written */
    uint32_t line;
};

struct node {
    int32_t term[CAT_N]; /* index in terms, or -1 */
    uint8_t term_mask;   /* bit cat set: term[cat] >= 0 */
    /* Bit L set: some child edge is a "word*" wildcard with an L-byte
     * prefix, so matching probes only the prefix lengths that exist. */
    uint64_t pre_mask;
    uint8_t has_num; /* some child edge is <num> */
};

struct edge {
    uint32_t parent, child;
    uint32_t word; /* offset in pool */
    uint16_t wlen;
    uint8_t kind;
};

struct es_cues {
    struct node *nodes;
    size_t nnodes, capnodes;
    struct edge *edges;
    size_t nedges, capedges;
    /* Slot: (high 32 bits of the key's hash) << 32 | (edge index + 1); 0 =
     * empty. A probe compares the stored hash bits first, so a miss (most
     * probes: every word is tried as every wildcard prefix length) never
     * reads the edge or its word. */
    uint64_t *table;
    size_t tmask;
    struct term *terms;
    size_t nterms, capterms;
    es_buf pool;
    /* One bit per (parent, prefix length, first two bytes) of every
     * "word*" edge. Every word is tried as each wildcard prefix length its
     * node has, and nearly all of those probes miss: the filter answers
     * most of them without hashing. */
    uint64_t pfx_filter[PFX_FILTER_BITS / 64];
    uint32_t handle[HANDLE_CUES_MAX]; /* pool offsets, NUL-terminated */
    uint16_t handle_len[HANDLE_CUES_MAX];
    size_t nhandles;
};

/*
 * The key of an edge is (parent, kind, word). The word part is FNV-1a, which
 * is incremental: the state after L bytes is the hash of the L-byte prefix,
 * so the matcher hashes a token once and gets every prefix's hash for free.
 * The parent and kind are folded in last and mixed so that the low bits used
 * for the slot depend on all three.
 */
#define FNV_INIT 1469598103934665603ull
#define FNV_STEP(h, ch) (((h) ^ (unsigned char)(ch)) * 1099511628211ull)

static uint64_t hash_finish(uint64_t wh, uint32_t parent, int kind)
{
    uint64_t h = wh ^ ((uint64_t)parent << 2 | (uint64_t)kind) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_key(uint32_t parent, int kind, const char *w, size_t n)
{
    uint64_t h = FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        h = FNV_STEP(h, w[i]);
    }
    return hash_finish(h, parent, kind);
}

#define SLOT_TAG(h) ((h) & 0xFFFFFFFF00000000ull)

/* Cue words are short: a byte loop beats a call to memcmp here. */
static inline int word_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

/* The bit of pfx_filter for an l-byte prefix of w (l >= 1) under parent. */
static uint32_t pfx_bit(uint32_t parent, const char *w, size_t l)
{
    uint32_t b0 = (unsigned char)w[0], b1 = l > 1 ? (unsigned char)w[1] : 0;
    uint32_t x = parent * 0x9E3779B1u ^ (uint32_t)l << 16 ^ b0 << 8 ^ b1;
    x *= 0x85EBCA6Bu;
    return x >> (32 - 14); /* 2^14 = PFX_FILTER_BITS */
}

static int pfx_maybe(const es_cues *c, uint32_t parent, const char *w, size_t l)
{
    uint32_t b = pfx_bit(parent, w, l);
    return (int)(c->pfx_filter[b >> 6] >> (b & 63) & 1);
}

/* wh: the FNV-1a state after the n bytes of w. */
static inline const struct edge *edge_find_h(const es_cues *c, uint32_t parent, int kind,
                                             const char *w, size_t n, uint64_t wh)
{
    uint64_t h = hash_finish(wh, parent, kind);
    uint64_t tag = SLOT_TAG(h);
    size_t i = (size_t)h & c->tmask;
    for (;;) {
        uint64_t s = c->table[i];
        if (s == 0) {
            return NULL;
        }
        if (SLOT_TAG(s) == tag) {
            const struct edge *ed = &c->edges[(uint32_t)s - 1];
            if (ed->parent == parent && ed->kind == kind && ed->wlen == n &&
                word_eq(c->pool.data + ed->word, w, n)) {
                return ed;
            }
        }
        i = (i + 1) & c->tmask;
    }
}

/* Put edge e, whose key hashes to h, into table t of size mask + 1. */
static void slot_put(uint64_t *t, size_t mask, uint64_t h, size_t e)
{
    size_t i = (size_t)h & mask;
    while (t[i] != 0) {
        i = (i + 1) & mask;
    }
    t[i] = SLOT_TAG(h) | ((uint64_t)e + 1);
}

static const struct edge *edge_find(const es_cues *c, uint32_t parent, int kind, const char *w,
                                    size_t n)
{
    if (c->table == NULL) {
        return NULL; /* loading, before the first edge */
    }
    uint64_t h = FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        h = FNV_STEP(h, w[i]);
    }
    return edge_find_h(c, parent, kind, w, n, h);
}

static int table_grow(es_cues *c)
{
    size_t size = c->table ? (c->tmask + 1) * 2 : 256;
    uint64_t *t = calloc(size, sizeof *t);
    if (t == NULL) {
        return ES_ENOMEM;
    }
    for (size_t e = 0; e < c->nedges; e++) {
        const struct edge *ed = &c->edges[e];
        slot_put(t, size - 1,
                 hash_key(ed->parent, ed->kind, c->pool.data + ed->word, ed->wlen), e);
    }
    free(c->table);
    c->table = t;
    c->tmask = size - 1;
    return 0;
}

/* Grow an array of `size`-byte elements to hold at least need elements. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(*p, n * size);
    if (q == NULL) {
        return ES_ENOMEM;
    }
    *p = q;
    *cap = n;
    return 0;
}

static int node_new(es_cues *c, uint32_t *out)
{
    int rc = grow((void **)&c->nodes, &c->capnodes, c->nnodes + 1, sizeof *c->nodes);
    if (rc != 0) {
        return rc;
    }
    struct node *nd = &c->nodes[c->nnodes];
    for (int k = 0; k < CAT_N; k++) {
        nd->term[k] = -1;
    }
    nd->term_mask = 0;
    nd->pre_mask = 0;
    nd->has_num = 0;
    *out = (uint32_t)c->nnodes++;
    return 0;
}

static int pool_add(es_cues *c, const char *s, size_t n, uint32_t *off)
{
    if (c->pool.len > UINT32_MAX - n - 1) {
        return ES_ETOOBIG;
    }
    *off = (uint32_t)c->pool.len;
    int rc = es_buf_add(&c->pool, s, n);
    if (rc == 0) {
        rc = es_buf_addc(&c->pool, '\0');
    }
    return rc;
}

/* The child of `parent` along (kind, word), created if absent. */
static int edge_get(es_cues *c, uint32_t parent, int kind, const char *w, size_t n,
                    uint32_t *child)
{
    const struct edge *ed = edge_find(c, parent, kind, w, n);
    if (ed != NULL) {
        *child = ed->child;
        return 0;
    }
    int rc;
    if ((c->nedges + 1) * 2 > (c->table ? c->tmask + 1 : 0) && (rc = table_grow(c)) != 0) {
        return rc;
    }
    if ((rc = grow((void **)&c->edges, &c->capedges, c->nedges + 1, sizeof *c->edges)) != 0) {
        return rc;
    }
    uint32_t word, node;
    if ((rc = pool_add(c, w, n, &word)) != 0 || (rc = node_new(c, &node)) != 0) {
        return rc;
    }
    struct edge *ne = &c->edges[c->nedges];
    ne->parent = parent;
    ne->child = node;
    ne->word = word;
    ne->wlen = (uint16_t)n;
    ne->kind = (uint8_t)kind;
    slot_put(c->table, c->tmask, hash_key(parent, kind, w, n), c->nedges);
    c->nedges++;
    struct node *pn = &c->nodes[parent];
    if (kind == EDGE_PREFIX) {
        pn->pre_mask |= (uint64_t)1 << n; /* 1 <= n <= CUE_WORD_MAX = 63 */
        uint32_t b = pfx_bit(parent, w, n);
        c->pfx_filter[b >> 6] |= (uint64_t)1 << (b & 63);
    } else if (kind == EDGE_NUM) {
        pn->has_num = 1;
    }
    *child = node;
    return 0;
}

void es_cues_free(es_cues *c)
{
    if (c == NULL) {
        return;
    }
    free(c->nodes);
    free(c->edges);
    free(c->table);
    free(c->terms);
    es_buf_free(&c->pool);
    free(c);
}

size_t es_cues_count(const es_cues *c)
{
    return c ? c->nterms + c->nhandles : 0;
}

/* ---- Cue file parsing ---------------------------------------------------- */

enum { FILE_COMPLAINT, FILE_QUESTION, FILE_PRAISE };

struct tagdef {
    const char *name;
    int cat; /* -1: the handle tag */
};

static const struct tagdef complaint_tags[] = {
    {"time", CAT_TIME}, {"self", CAT_SELF}, {"handle", -1}, {NULL, 0}};
static const struct tagdef question_tags[] = {{"fail", CAT_QFAIL}, {"any", CAT_QANY}, {NULL, 0}};
static const struct tagdef praise_tags[] = {{NULL, 0}};

static const struct tagdef *file_tags(int file)
{
    return file == FILE_COMPLAINT ? complaint_tags
           : file == FILE_QUESTION ? question_tags
                                   : praise_tags;
}

static int file_default_cat(int file)
{
    return file == FILE_COMPLAINT ? CAT_CUE : file == FILE_QUESTION ? CAT_QOPEN : CAT_PRAISE;
}

struct field {
    const char *p;
    size_t n;
    int col; /* 1-based byte column */
};

struct parse {
    es_cues *c;
    const char *path;
    int file;
    int line;
    es_error *err;
};

static int perr(const struct parse *ps, int code, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int perr(const struct parse *ps, int code, int col, const char *fmt, ...)
{
    if (ps->err == NULL) {
        return code;
    }
    char msg[sizeof ps->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    es_error_set(ps->err, code, ps->line, col, "%s:%d:%d: %s", ps->path, ps->line, col, msg);
    snprintf(ps->err->file, sizeof ps->err->file, "%s", ps->path);
    return code;
}

/* A whole field that is a number: strtod must consume all of it. */
static int parse_number(const struct field *f, double *out)
{
    char tmp[64];
    if (f->n == 0 || f->n >= sizeof tmp) {
        return 0;
    }
    memcpy(tmp, f->p, f->n);
    tmp[f->n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + f->n || errno != 0 || !isfinite(v)) {
        return 0;
    }
    *out = v;
    return 1;
}

/* A field that can only be meant as a weight: a number with a sign or a
 * decimal point. Plain integers may be phrase words ("5 stars"). */
static int looks_like_weight(const struct field *f)
{
    double v;
    if (!parse_number(f, &v)) {
        return 0;
    }
    return memchr(f->p, '.', f->n) != NULL || f->p[0] == '-' || f->p[0] == '+';
}

/*
 * Normalize a cue word the way token forms are keyed at match time: ASCII
 * lower case, apostrophes (' and U+2019) dropped. Returns the length, or -1
 * when the result would exceed CUE_WORD_MAX.
 */
static int norm_word(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\'') {
            continue;
        }
        if (ch == 0xE2 && i + 2 < n && (unsigned char)p[i + 1] == 0x80 &&
            (unsigned char)p[i + 2] == 0x99) {
            i += 2;
            continue;
        }
        if (o >= CUE_WORD_MAX) {
            return -1;
        }
        out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    out[o] = '\0';
    return (int)o;
}

static int add_handle_cue(struct parse *ps, const struct field *words, size_t nwords)
{
    es_cues *c = ps->c;
    if (nwords != 1) {
        return perr(ps, ES_ELEXICON, words[1].col,
                    "a handle cue is one word (a substring of an @handle)");
    }
    char w[CUE_WORD_MAX + 1];
    const char *p = words[0].p;
    size_t n = words[0].n;
    if (n > 0 && p[0] == '@') {
        p++;
        n--;
    }
    int wl = norm_word(p, n, w);
    if (wl < 0) {
        return perr(ps, ES_ETOOBIG, words[0].col, "handle cue longer than %d bytes",
                    CUE_WORD_MAX);
    }
    if (wl == 0) {
        return perr(ps, ES_ELEXICON, words[0].col, "empty handle cue");
    }
    if (c->nhandles >= HANDLE_CUES_MAX) {
        return perr(ps, ES_ETOOBIG, words[0].col, "more than %d handle cues", HANDLE_CUES_MAX);
    }
    for (size_t i = 0; i < c->nhandles; i++) {
        if (c->handle_len[i] == wl && memcmp(c->pool.data + c->handle[i], w, (size_t)wl) == 0) {
            return perr(ps, ES_ELEXICON, words[0].col, "duplicate handle cue '%s'", w);
        }
    }
    uint32_t off;
    int rc = pool_add(c, w, (size_t)wl, &off);
    if (rc != 0) {
        return perr(ps, rc, words[0].col, "%s", es_strerror(rc));
    }
    c->handle[c->nhandles] = off;
    c->handle_len[c->nhandles] = (uint16_t)wl;
    c->nhandles++;
    return 0;
}

static int add_phrase(struct parse *ps, const struct field *words, size_t nwords, int cat,
                      double weight)
{
    es_cues *c = ps->c;
    uint32_t node = 0;
    int rc;
    for (size_t i = 0; i < nwords; i++) {
        const struct field *f = &words[i];
        char w[CUE_WORD_MAX + 1];
        int kind = EDGE_EXACT;
        size_t n = f->n;
        if (n == 5 && memcmp(f->p, "<num>", 5) == 0) {
            kind = EDGE_NUM;
            n = 0;
        } else {
            const char *star = memchr(f->p, '*', n);
            if (star != NULL) {
                if (star != f->p + n - 1) {
                    return perr(ps, ES_ELEXICON, f->col + (int)(star - f->p),
                                "'*' may only end a word");
                }
                if (n == 1) {
                    return perr(ps, ES_ELEXICON, f->col, "'*' needs a prefix before it");
                }
                kind = EDGE_PREFIX;
                n--;
            }
        }
        int wl = 0;
        if (kind != EDGE_NUM) {
            wl = norm_word(f->p, n, w);
            if (wl < 0) {
                return perr(ps, ES_ETOOBIG, f->col, "word longer than %d bytes", CUE_WORD_MAX);
            }
            if (wl == 0) {
                return perr(ps, ES_ELEXICON, f->col, "a word with no letters");
            }
        }
        if ((rc = edge_get(c, node, kind, w, (size_t)wl, &node)) != 0) {
            return perr(ps, rc, f->col, "%s", es_strerror(rc));
        }
    }
    struct node *nd = &c->nodes[node];
    if (nd->term[cat] >= 0) {
        const struct term *t = &c->terms[nd->term[cat]];
        return perr(ps, ES_ELEXICON, words[0].col, "duplicate cue '%s' (first on line %u)",
                    c->pool.data + t->phrase, (unsigned)t->line);
    }
    if (c->nterms >= CUE_COUNT_MAX) {
        return perr(ps, ES_ETOOBIG, words[0].col, "more than %d cues", CUE_COUNT_MAX);
    }
    if ((rc = grow((void **)&c->terms, &c->capterms, c->nterms + 1, sizeof *c->terms)) != 0) {
        return perr(ps, rc, 1, "%s", es_strerror(rc));
    }
    /* The phrase as written, words joined by one space, for `why`. */
    char text[CUE_LINE_MAX + 1];
    size_t tl = 0;
    for (size_t i = 0; i < nwords && tl + words[i].n + 1 < sizeof text; i++) {
        if (i > 0) {
            text[tl++] = ' ';
        }
        memcpy(text + tl, words[i].p, words[i].n);
        tl += words[i].n;
    }
    uint32_t off;
    if ((rc = pool_add(c, text, tl, &off)) != 0) {
        return perr(ps, rc, words[0].col, "%s", es_strerror(rc));
    }
    struct term *t = &c->terms[c->nterms];
    t->weight = (float)weight;
    t->phrase = off;
    t->line = (uint32_t)ps->line;
    nd->term[cat] = (int32_t)c->nterms++;
    nd->term_mask |= (uint8_t)(1u << cat);
    return 0;
}

static int parse_line(struct parse *ps, const char *s, size_t n)
{
    struct field f[CUE_WORDS_MAX + 3];
    size_t nf = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) {
            i++;
        }
        if (i >= n) {
            break;
        }
        if (nf == 0 && s[i] == '#') {
            return 0; /* a comment line */
        }
        if (nf == sizeof f / sizeof f[0]) {
            return perr(ps, ES_ELEXICON, (int)i + 1,
                        "too many words (a phrase has at most %d, then a weight and a tag)",
                        CUE_WORDS_MAX);
        }
        f[nf].p = s + i;
        f[nf].col = (int)i + 1;
        while (i < n && s[i] != ' ' && s[i] != '\t') {
            if (s[i] == '\0') {
                return perr(ps, ES_ELEXICON, (int)i + 1, "NUL byte in cue file");
            }
            i++;
        }
        f[nf].n = (size_t)(s + i - f[nf].p);
        nf++;
    }
    if (nf == 0) {
        return 0;
    }
    int cat = file_default_cat(ps->file);
    int is_handle = 0;
    const struct tagdef *tags = file_tags(ps->file);
    for (const struct tagdef *t = tags; t->name != NULL; t++) {
        if (strlen(t->name) == f[nf - 1].n && memcmp(t->name, f[nf - 1].p, f[nf - 1].n) == 0) {
            cat = t->cat;
            is_handle = t->cat < 0;
            nf--;
            break;
        }
    }
    double weight = 1.0;
    if (nf > 0 && parse_number(&f[nf - 1], &weight)) {
        if (fabs(weight) > WEIGHT_ABS_MAX) {
            return perr(ps, ES_ELEXICON, f[nf - 1].col, "weight %.*s is outside [-%g, %g]",
                        (int)f[nf - 1].n, f[nf - 1].p, WEIGHT_ABS_MAX, WEIGHT_ABS_MAX);
        }
        nf--;
    }
    if (nf == 0) {
        return perr(ps, ES_ELEXICON, f[0].col, "a weight or tag with no phrase before it");
    }
    /* Anything that looks like a weight left in the phrase means the line
     * did not end the way we expected: most likely a misspelt tag. */
    for (size_t k = 0; k < nf; k++) {
        if (looks_like_weight(&f[k])) {
            size_t last = k + 1;
            const char *known = ps->file == FILE_COMPLAINT  ? "time, self, handle"
                                : ps->file == FILE_QUESTION ? "fail, any"
                                                            : "none in this file";
            if (last < nf) {
                return perr(ps, ES_ELEXICON, f[last].col,
                            "unknown tag '%.*s' after the weight (tags: %s)", (int)f[last].n,
                            f[last].p, known);
            }
            return perr(ps, ES_ELEXICON, f[k].col, "weight in the middle of a phrase");
        }
    }
    if (nf > CUE_WORDS_MAX) {
        return perr(ps, ES_ELEXICON, f[CUE_WORDS_MAX].col, "a phrase has at most %d words",
                    CUE_WORDS_MAX);
    }
    if (is_handle) {
        return add_handle_cue(ps, f, nf);
    }
    if (cat == CAT_SELF && (nf != 1 || memchr(f[0].p, '*', f[0].n) != NULL)) {
        return perr(ps, ES_ELEXICON, f[nf > 1 ? 1 : 0].col,
                    "a self cue is one plain word (no phrase, no '*')");
    }
    return add_phrase(ps, f, nf, cat, weight);
}

static int read_file(const char *path, es_buf *b, es_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        int rc = es_error_set(err, ES_EIO, 0, 0, "%s: cannot open: %s", path, strerror(errno));
        if (err != NULL) {
            snprintf(err->file, sizeof err->file, "%s", path);
        }
        return rc;
    }
    int rc = 0;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if ((rc = es_buf_add(b, chunk, got)) != 0) {
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        rc = ES_EIO;
    }
    fclose(fp);
    if (rc != 0) {
        es_error_set(err, rc, 0, 0, "%s: %s", path,
                     rc == ES_ETOOBIG ? "cue file larger than 1 MiB" : es_strerror(rc));
        if (err != NULL) {
            snprintf(err->file, sizeof err->file, "%s", path);
        }
    }
    return rc;
}

static int load_one(es_cues *c, const char *path, int file, es_error *err)
{
    es_buf b;
    es_buf_init(&b, CUE_FILE_MAX);
    int rc = read_file(path, &b, err);
    if (rc != 0) {
        es_buf_free(&b);
        return rc;
    }
    struct parse ps = {.c = c, .path = path, .file = file, .line = 0, .err = err};
    size_t pos = 0;
    while (rc == 0 && pos < b.len) {
        const char *s = b.data + pos;
        const char *nl = memchr(s, '\n', b.len - pos);
        size_t n = nl ? (size_t)(nl - s) : b.len - pos;
        pos += n + (nl != NULL);
        ps.line++;
        if (n > 0 && s[n - 1] == '\r') {
            n--;
        }
        if (n > CUE_LINE_MAX) {
            rc = perr(&ps, ES_ETOOBIG, CUE_LINE_MAX + 1, "line longer than %d bytes",
                      CUE_LINE_MAX);
            break;
        }
        rc = parse_line(&ps, s, n);
    }
    es_buf_free(&b);
    return rc;
}

int es_cues_load_files(const char *complaint_path, const char *question_path,
                       const char *praise_path, es_cues **out, es_error *err)
{
    if (out == NULL) {
        return es_error_set(err, ES_EINVAL, 0, 0, "no output for the cue set");
    }
    *out = NULL;
    es_cues *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory loading cues");
    }
    /* Words and phrases of a 1 MiB file cannot take more than a few times
     * its size; the ceiling only guards against a bug. */
    es_buf_init(&c->pool, (size_t)16 << 20);
    uint32_t root;
    int rc = node_new(c, &root);
    if (rc == 0) {
        rc = load_one(c, complaint_path, FILE_COMPLAINT, err);
    }
    if (rc == 0) {
        rc = load_one(c, question_path, FILE_QUESTION, err);
    }
    if (rc == 0) {
        rc = load_one(c, praise_path, FILE_PRAISE, err);
    }
    if (rc == 0 && c->table == NULL) {
        rc = table_grow(c); /* an empty set still answers lookups */
    }
    if (rc != 0) {
        if (rc == ES_ENOMEM && err != NULL && err->code != ES_ENOMEM) {
            es_error_set(err, rc, 0, 0, "out of memory loading cues");
        }
        es_cues_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int es_cues_load(const char *dir, es_cues **out, es_error *err)
{
    if (dir == NULL) {
        return es_error_set(err, ES_EINVAL, 0, 0, "no lexicon directory");
    }
    char p[3][4096];
    static const char *const names[3] = {"complaint_cues.txt", "question_cues.txt",
                                         "praise_cues.txt"};
    for (int i = 0; i < 3; i++) {
        int n = snprintf(p[i], sizeof p[i], "%s/%s", dir, names[i]);
        if (n < 0 || (size_t)n >= sizeof p[i]) {
            return es_error_set(err, ES_ETOOBIG, 0, 0, "lexicon directory path too long");
        }
    }
    return es_cues_load_files(p[0], p[1], p[2], out, err);
}

/* ---- Names --------------------------------------------------------------- */

const char *es_intent_name(es_intent_kind k)
{
    switch (k) {
    case ES_INTENT_COMPLAINT:
        return "complaint";
    case ES_INTENT_QUESTION:
        return "question";
    case ES_INTENT_PRAISE:
        return "praise";
    case ES_INTENT_OTHER:
    default:
        return "other";
    }
}

const char *es_intent_rule_name(es_intent_rule r)
{
    static const char *const names[ES_IRULE_COUNT] = {
        [ES_IRULE_BIAS] = "bias",
        [ES_IRULE_CUE] = "cue",
        [ES_IRULE_DEFUSER] = "defuser",
        [ES_IRULE_TIME] = "time",
        [ES_IRULE_FIRST_PERSON] = "first-person",
        [ES_IRULE_ADDRESSED] = "addressed",
        [ES_IRULE_CARE_ACCOUNT] = "care-account",
        [ES_IRULE_NEGATIVE] = "negative sentiment",
        [ES_IRULE_POSITIVE] = "positive sentiment",
        [ES_IRULE_FAILURE_QUESTION] = "failure question",
        [ES_IRULE_QUESTION] = "question",
        [ES_IRULE_PRAISE] = "praise",
        [ES_IRULE_REPORT] = "report",
    };
    if ((unsigned)r >= ES_IRULE_COUNT) {
        return "unknown";
    }
    return names[r];
}

/* ---- Classification ------------------------------------------------------ */

/* Token forms keyed like cue words: apostrophes dropped, at most
 * CUE_WORD_MAX bytes (a longer token can still match a prefix cue). */
struct key {
    char w[CUE_WORD_MAX + 1];
    uint64_t h[CUE_WORD_MAX + 1]; /* h[L]: FNV-1a state after L bytes */
    size_t n;
    int truncated;
    int numeric;
};

static int tok_matchable(const es_token *t)
{
    return t->kind == ES_TOK_WORD || t->kind == ES_TOK_NUMBER || t->kind == ES_TOK_HASHTAG;
}

static void make_key(const es_tokens *toks, size_t i, struct key *k)
{
    const es_token *t = &toks->v[i];
    const char *s = es_tok_norm(toks, i);
    size_t n = t->norm_len;
    if (t->kind == ES_TOK_HASHTAG && n > 0 && s[0] == '#') {
        s++;
        n--;
    }
    /* Locals, not k->n and k->h[]: stores to k->w (char) could alias
     * them, which would make the compiler reload them on every byte. */
    size_t kn = 0;
    uint64_t h = FNV_INIT;
    k->truncated = 0;
    k->numeric = t->kind == ES_TOK_NUMBER;
    k->h[0] = h;
    for (size_t j = 0; j < n; j++) {
        if (s[j] == '\'') {
            continue;
        }
        if (kn >= CUE_WORD_MAX) {
            k->truncated = 1;
            break;
        }
        h = FNV_STEP(h, s[j]);
        k->h[kn + 1] = h;
        k->w[kn++] = s[j];
    }
    k->n = kn;
    k->w[kn] = '\0';
    if (!k->numeric && k->n > 0) {
        k->numeric = 1;
        for (size_t j = 0; j < k->n; j++) {
            if (k->w[j] < '0' || k->w[j] > '9') {
                k->numeric = 0;
                break;
            }
        }
    }
}

static int top_bit(uint64_t m)
{
#if defined(__GNUC__)
    return 63 - __builtin_clzll(m);
#else
    int l = 63;
    while (!(m >> l & 1)) {
        l--;
    }
    return l;
#endif
}

static int low_bit(unsigned m) /* m != 0 */
{
#if defined(__GNUC__)
    return __builtin_ctz(m);
#else
    int l = 0;
    while (!(m >> l & 1)) {
        l++;
    }
    return l;
#endif
}

/* The edge from the root for the whole word k, or NULL. */
static const struct edge *root_exact(const es_cues *c, const struct key *k)
{
    return k->truncated ? NULL : edge_find_h(c, 0, EDGE_EXACT, k->w, k->n, k->h[k->n]);
}

/* The first-person cue of the word k, or NULL; e = root_exact(c, k). */
static const char *self_cue(const es_cues *c, const struct edge *e)
{
    int32_t term = e ? c->nodes[e->child].term[CAT_SELF] : -1;
    return term >= 0 ? c->pool.data + c->terms[term].phrase : NULL;
}

/* Children of node `nd` reached by the token `k`, appended to next[].
 * exact: the exact-word edge from nd if the caller already looked it up
 * (from the root, shared with the first-person check), else NULL. */
static inline size_t step(const es_cues *c, uint32_t nd, const struct key *k,
                   const struct edge *const *exact, uint32_t *next, size_t nn)
{
    const struct edge *e;
    if (exact != NULL) {
        e = *exact;
    } else {
        e = k->truncated ? NULL : edge_find_h(c, nd, EDGE_EXACT, k->w, k->n, k->h[k->n]);
    }
    if (e != NULL && nn < FRONTIER_MAX) {
        next[nn++] = e->child;
    }
    const struct node *node = &c->nodes[nd];
    /* Prefix lengths that exist at this node and fit in the token, longest
     * first. */
    uint64_t mask = node->pre_mask;
    if (k->n < CUE_WORD_MAX) {
        mask &= ((uint64_t)2 << k->n) - 1;
    }
    while (mask != 0 && nn < FRONTIER_MAX) {
        int l = top_bit(mask);
        mask &= ~((uint64_t)1 << l);
        if (pfx_maybe(c, nd, k->w, (size_t)l) &&
            (e = edge_find_h(c, nd, EDGE_PREFIX, k->w, (size_t)l, k->h[l])) != NULL) {
            next[nn++] = e->child;
        }
    }
    if (node->has_num && k->numeric && nn < FRONTIER_MAX &&
        (e = edge_find(c, nd, EDGE_NUM, "", 0)) != NULL) {
        next[nn++] = e->child;
    }
    return nn;
}

/* Where clauses start, tracked token by token as the matcher advances. */
struct clause {
    size_t pos;     /* next token to look at */
    int at_start;   /* the next word opens a clause */
    int words;      /* words seen in the current clause */
};

/* Whether the gap between two tokens holds a line break. Gaps are mostly
 * one space, too short for a call to memchr to pay. */
static int has_newline(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            return 1;
        }
    }
    return 0;
}

static int is_clause_punct(const char *s)
{
    return s[0] == '.' || s[0] == '!' || s[0] == '?' || s[0] == ';' || s[0] == ':';
}

/* Advance the clause tracker to token i; return whether token i opens a
 * clause. A clause opens at the first word of the text (leading @handles,
 * URLs and emoji do not count), after . ! ? ; : or a line break, and after
 * a one-word greeting and a comma ("Hi, is it possible..."). */
static int clause_upto(struct clause *cl, const es_tokens *toks, const char *text, size_t len,
                       size_t i)
{
    int start = 0;
    while (cl->pos <= i) {
        size_t p = cl->pos++;
        const es_token *t = &toks->v[p];
        if (p > 0) {
            const es_token *pt = &toks->v[p - 1];
            size_t a = (size_t)pt->off + pt->len, b = t->off;
            if (b <= len && a < b && has_newline(text + a, b - a)) {
                cl->at_start = 1;
                cl->words = 0;
            }
        }
        if (t->kind == ES_TOK_PUNCT) {
            const char *s = es_tok_norm(toks, p);
            if (is_clause_punct(s) || (s[0] == ',' && cl->words == 1)) {
                cl->at_start = 1;
                cl->words = 0;
            }
            start = 0;
        } else if (t->kind == ES_TOK_WORD || t->kind == ES_TOK_NUMBER) {
            start = cl->at_start;
            cl->at_start = 0;
            cl->words++;
        } else {
            start = 0; /* handles, hashtags, URLs, emoji leave the state alone */
        }
    }
    return start;
}

struct acc {
    double cue_pos, cue_neg, time, qopen, qany, qfail, praise;
    int self, fail_q_opener;
    es_intent *out;
};

static void add_match(es_intent *out, es_intent_rule rule, const char *phrase)
{
    if (out->nmatches < ES_INTENT_MAX_MATCHES) {
        out->matches[out->nmatches].rule = rule;
        out->matches[out->nmatches].phrase = phrase;
        out->nmatches++;
    } else {
        out->dropped++;
    }
}

static int handle_is_care(const es_cues *c, const char *h, size_t n, const char **which)
{
    if (n > 0 && h[0] == '@') {
        h++;
        n--;
    }
    for (size_t i = 0; i < c->nhandles; i++) {
        size_t m = c->handle_len[i];
        const char *needle = c->pool.data + c->handle[i];
        for (size_t j = 0; m <= n && j + m <= n; j++) {
            if (memcmp(h + j, needle, m) == 0) {
                *which = needle;
                return 1;
            }
        }
    }
    return 0;
}

int es_intent_classify(const es_cues *c, const struct es_tokens *toks, const char *text,
                       size_t len, const struct es_sentiment *s, const es_intent_ctx *ctx,
                       es_intent *out)
{
    if (c == NULL || toks == NULL || out == NULL) {
        return ES_EINVAL;
    }
    memset(out, 0, sizeof *out);
    es_intent_ctx auto_ctx = ES_INTENT_CTX_AUTO;
    if (ctx == NULL) {
        ctx = &auto_ctx;
    }
    double compound = s ? s->compound : 0.0;
    if (!(compound >= -1.0 && compound <= 1.0)) {
        compound = 0.0; /* NaN or out of range: treat as neutral */
    }

    struct acc a = {0};
    a.out = out;
    int qmark = 0, any_handle = 0, care = 0, any_url = 0;
    const char *care_cue = NULL;
    struct clause cl = {0, 1, 0};

    size_t n = toks->n;
    for (size_t i = 0; i < n; i++) {
        const es_token *t = &toks->v[i];
        if (t->kind == ES_TOK_PUNCT && es_tok_norm(toks, i)[0] == '?') {
            qmark = 1;
        } else if (t->kind == ES_TOK_URL) {
            any_url = 1;
        } else if (t->kind == ES_TOK_HANDLE) {
            any_handle = 1;
            if (!care) {
                care = handle_is_care(c, es_tok_norm(toks, i), t->norm_len, &care_cue);
            }
        }
    }

    /* Keys of the last CUE_WORDS_MAX tokens: a phrase walk from token i
     * reads tokens i..i+7, and the walk from i+1 mostly the same ones. */
    struct key keys[CUE_WORDS_MAX];
    size_t key_of[CUE_WORDS_MAX];
    for (int r = 0; r < CUE_WORDS_MAX; r++) {
        key_of[r] = SIZE_MAX;
    }
    size_t i = 0, self_done = 0;
    while (i < n) {
        const es_token *t = &toks->v[i];
        if (!tok_matchable(t)) {
            i++;
            continue;
        }
        int at_start = clause_upto(&cl, toks, text, len, i);
        /* Walk the trie from token i; for each category keep the longest
         * phrase that ends here. Hashtags match as single words only. */
        /* Most words end no phrase: track the categories seen in a bit
         * mask, so such a word costs no per-category loop. best_*[cat] is
         * valid where bit cat of found is set. */
        unsigned found = 0;
        int best_len[CAT_N];
        int32_t best_term[CAT_N];
        uint32_t front[FRONTIER_MAX], next[FRONTIER_MAX];
        size_t nf = 1;
        front[0] = 0;
        int longest = 0;
        for (size_t j = i; j < n && nf > 0 && (int)(j - i) < CUE_WORDS_MAX; j++) {
            const es_token *tj = &toks->v[j];
            if (!tok_matchable(tj) || (tj->kind == ES_TOK_HASHTAG && j > i)) {
                break;
            }
            struct key *kp = &keys[j % CUE_WORDS_MAX];
            if (key_of[j % CUE_WORDS_MAX] != j) {
                make_key(toks, j, kp);
                key_of[j % CUE_WORDS_MAX] = j;
            }
            /* On the first word the frontier is the root alone, and the
             * root's exact edge for the word is also what the first-person
             * check needs: one lookup serves both. */
            const struct edge *e0 = j == i ? root_exact(c, kp) : NULL;
            /* First-person words are checked on every word, once, even
             * inside a longer phrase ("lost my bag" still shows "my"). */
            if (j >= self_done && tj->kind == ES_TOK_WORD) {
                self_done = j + 1;
                const char *self =
                    a.self ? NULL : self_cue(c, j == i ? e0 : root_exact(c, kp));
                if (self != NULL) {
                    a.self = 1;
                    add_match(out, ES_IRULE_FIRST_PERSON, self);
                }
            }
            size_t nn = 0;
            for (size_t f = 0; f < nf; f++) {
                nn = step(c, front[f], kp, j == i ? &e0 : NULL, next, nn);
            }
            int depth = (int)(j - i) + 1;
            for (size_t f = 0; f < nn; f++) {
                const struct node *nd = &c->nodes[next[f]];
                for (unsigned m = nd->term_mask; m != 0; m &= m - 1) {
                    int cat = low_bit(m);
                    if (!(found >> cat & 1) || depth > best_len[cat]) {
                        found |= 1u << cat;
                        best_len[cat] = depth;
                        best_term[cat] = nd->term[cat];
                        if (depth > longest) {
                            longest = depth;
                        }
                    }
                }
            }
            memcpy(front, next, nn * sizeof *next);
            nf = nn;
            if (t->kind == ES_TOK_HASHTAG) {
                break;
            }
        }
        for (; found != 0; found &= found - 1) {
            int cat = low_bit(found); /* lowest first, as the rules list */
            const struct term *tm = &c->terms[best_term[cat]];
            const char *phrase = c->pool.data + tm->phrase;
            double w = tm->weight;
            switch (cat) {
            case CAT_CUE:
                if (w >= 0) {
                    a.cue_pos += w;
                    add_match(out, ES_IRULE_CUE, phrase);
                } else {
                    a.cue_neg += w;
                    add_match(out, ES_IRULE_DEFUSER, phrase);
                }
                break;
            case CAT_TIME:
                a.time += w;
                add_match(out, ES_IRULE_TIME, phrase);
                break;
            case CAT_SELF:
                break; /* handled word by word above */
            case CAT_QOPEN:
                if (at_start && w > a.qopen) {
                    a.qopen = w;
                }
                break;
            case CAT_QANY:
                if (w > a.qany) {
                    a.qany = w;
                }
                break;
            case CAT_QFAIL:
                if ((at_start || qmark) && w > a.qfail) {
                    a.qfail = w;
                    add_match(out, ES_IRULE_FAILURE_QUESTION, phrase);
                }
                break;
            case CAT_PRAISE:
                a.praise += w;
                add_match(out, ES_IRULE_PRAISE, phrase);
                break;
            }
        }
        i += longest > 0 ? (size_t)longest : 1;
    }

    int addressed = ctx->addressed < 0 ? any_handle : ctx->addressed != 0;
    int directed = addressed || ctx->names_brand;
    int fail = a.cue_pos > 0;
    double *cb = out->contrib;
    cb[ES_IRULE_BIAS] = W_BIAS;
    cb[ES_IRULE_CUE] = W_CUE * fmin(a.cue_pos, CUE_CAP);
    cb[ES_IRULE_DEFUSER] = W_DEFUSE * fmax(a.cue_neg, -CUE_CAP);
    if (fail || directed) {
        cb[ES_IRULE_TIME] = W_TIME * fmin(a.time, TIME_CAP);
    }
    if (a.self && fail) {
        cb[ES_IRULE_FIRST_PERSON] = W_SELF;
    }
    if (directed) {
        cb[ES_IRULE_ADDRESSED] = W_ADDRESSED;
    }
    if (any_url && !a.self && !addressed) {
        cb[ES_IRULE_REPORT] = W_REPORT;
    }
    if (care) {
        cb[ES_IRULE_CARE_ACCOUNT] = W_CARE;
        add_match(out, ES_IRULE_CARE_ACCOUNT, care_cue);
    }
    if ((directed || care) && compound < 0) {
        cb[ES_IRULE_NEGATIVE] = W_NEG * -compound;
    }
    if (compound > 0) {
        cb[ES_IRULE_POSITIVE] = (fail ? W_POS_FAIL : W_POS) * compound;
    }
    double failq = fmin(a.qfail, FAILQ_CAP);
    if (qmark && fail && failq < 1.0) {
        failq = 1.0; /* a question that carries a failure cue */
    }
    cb[ES_IRULE_FAILURE_QUESTION] = W_FAILQ * failq;
    out->question = a.qopen + a.qany + (qmark ? QMARK_WEIGHT : 0.0);
    int is_question = out->question >= QUESTION_MIN && failq == 0;
    if (is_question) {
        cb[ES_IRULE_QUESTION] = W_QUESTION;
    }
    out->praise = a.praise;
    cb[ES_IRULE_PRAISE] = (fail ? W_PRAISE_FAIL : W_PRAISE) * fmin(fmax(a.praise, 0.0), PRAISE_CAP);

    double z = 0;
    for (int r = 0; r < ES_IRULE_COUNT; r++) {
        z += cb[r];
    }
    out->logit = z;
    out->complaint = 1.0 / (1.0 + exp(-z));

    if (out->complaint >= 0.5) {
        out->kind = ES_INTENT_COMPLAINT;
    } else if (is_question) {
        out->kind = ES_INTENT_QUESTION;
    } else if (compound >= PRAISE_COMPOUND_MIN && a.praise >= PRAISE_MIN) {
        out->kind = ES_INTENT_PRAISE;
    } else {
        out->kind = ES_INTENT_OTHER;
    }
    return 0;
}

int es_intent_why_json(const es_intent *in, es_buf *b)
{
    int rc = es_buf_addc(b, '[');
    int first = 1;
    for (int r = 0; r < ES_IRULE_COUNT && rc == 0; r++) {
        if (in->contrib[r] == 0.0) {
            continue;
        }
        rc = es_buf_adds(b, first ? "{\"rule\":" : ",{\"rule\":");
        first = 0;
        const char *name = es_intent_rule_name((es_intent_rule)r);
        if (rc == 0) {
            rc = es_buf_json_str(b, name, strlen(name));
        }
        if (rc == 0) {
            rc = es_buf_adds(b, ",\"weight\":");
        }
        if (rc == 0) {
            rc = es_buf_json_fixed(b, in->contrib[r], 3);
        }
        int nm = 0;
        for (size_t m = 0; m < in->nmatches && rc == 0; m++) {
            if (in->matches[m].rule != (es_intent_rule)r || in->matches[m].phrase == NULL) {
                continue;
            }
            rc = es_buf_adds(b, nm++ == 0 ? ",\"match\":[" : ",");
            if (rc == 0) {
                rc = es_buf_json_str(b, in->matches[m].phrase, strlen(in->matches[m].phrase));
            }
        }
        if (rc == 0 && nm > 0) {
            rc = es_buf_addc(b, ']');
        }
        if (rc == 0) {
            rc = es_buf_addc(b, '}');
        }
    }
    if (rc == 0) {
        rc = es_buf_addc(b, ']');
    }
    return rc;
}
