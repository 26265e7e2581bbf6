/*
 * The topic matcher: queries compiled once per config into an immutable,
 * indexed form, and a per-thread matcher that runs one mention against all
 * topics without allocating once warm.
 *
 * How a mention is matched (and why it stays fast with thousands of topics):
 *
 *   1. The text is tokenized once with the shared tokenizer. Punctuation is
 *      dropped; every other token gets a position (0, 1, 2, ...) and a key:
 *      its class ('w' word-like, '@' handle, '#' hashtag, '$' cashtag) and
 *      its normalized body. A hashtag also yields the word key of its body,
 *      which is how the bare word `acme` matches `#acme`.
 *   2. Each key is looked up in one hash table built from the first token of
 *      every term of every query, and, for wildcard terms, in a prefix table
 *      probed only at the prefix lengths that exist. A hit names a "leaf"
 *      (one term of one topic); phrases are verified token by token from the
 *      hit. So the work per token does not depend on how many topics exist.
 *   3. Only topics with at least one leaf hit are evaluated, plus the few
 *      whose query can match without any term ("always" topics, such as a
 *      regex-only query or `lang:en is:reply`). Their trees run with AND/OR
 *      children ordered cheapest first, so a regex runs only when the rest of
 *      its AND already holds.
 *
 * Per-mention state (which leaves hit, which topics are candidates) lives in
 * epoch-stamped arrays: bumping the epoch forgets the previous mention
 * without clearing anything.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "earshot/topics.h"

#include "buf.h"
#include "earshot.h"
#include "match.h"
#include "query.h"
#include "tokenize.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token classes: the first byte of every index key. */
enum { CLS_WORD = 'w', CLS_HANDLE = '@', CLS_HASHTAG = '#', CLS_CASHTAG = '$' };

/*
 * Bounds on a regex's effort per mention. A pathological pattern such as
 * (a+)+$ gives up after this many steps and counts as "no match", so one bad
 * topic cannot stall the engine.
 */
#define REGEX_MATCH_LIMIT 200000u
#define REGEX_DEPTH_LIMIT 5000u
#define REGEX_HEAP_LIMIT_KB 8192u

/* A posting with this bit set is "topic N owns this handle", not a leaf. */
#define OWNED_BIT 0x80000000u

#define ARENA_MAX ((size_t)1 << 30)

/* One token of a term's pattern. */
typedef struct pat {
    uint8_t cls;
    bool prefix; /* trailing wildcard: match tokens that start with body */
    uint32_t off, len; /* body in the strings arena */
} pat;

/*
 * A leaf: one distinct term (word, phrase, tag). Topics that use the same
 * term share its leaf, so a word common to many queries ("late", "refund*")
 * is looked up and recorded once per mention, however many topics use it.
 */
typedef struct leaf {
    uint64_t hash; /* of its pattern, to intern leaves while compiling */
    uint32_t first_pat, n_pat;
    /* Topics for which a hit on this leaf makes them candidates: those
     * whose trigger set (see choose_triggers) holds it. trig[first..+count) */
    uint32_t trig_first, trig_count;
    uint32_t uses; /* how many query terms across the config are this leaf */
    bool needs_pos; /* used by NEAR: record every position it matches at */
    /* The normalized tokens would not read back as the same term (an
     * emoticon such as ";-P" stops being one in lower case), so describe
     * prints the term as written: arena offset and length. */
    bool verbatim;
    uint32_t src_off, src_len;
} leaf;

enum { M_LEAF, M_FIELD, M_REGEX, M_NEAR, M_AND, M_OR, M_NOT };

/*
 * A compiled query node.
 *   M_LEAF:  a = leaf
 *   M_FIELD: field, cmp, num; a, b = value (offset, length) in the arena
 *   M_REGEX: a = regex
 *   M_NEAR:  kids[a .. a+b) left leaves, kids[a+b .. a+b+c) right; d = n
 *   M_AND, M_OR: kids[a .. a+b) nodes
 *   M_NOT:   a = node
 */
typedef struct mnode {
    uint8_t type, field, cmp;
    bool ordered;
    uint32_t a, b, c, d;
    int64_t num;
} mnode;

/* An index entry: a key and the postings it leads to. Empty when count == 0. */
typedef struct ientry {
    uint64_t hash;
    uint32_t off, len; /* key body in the arena */
    uint32_t first, count;
    uint8_t cls;
} ientry;

typedef struct topic {
    uint32_t name;     /* arena offsets */
    uint32_t describe;
    uint32_t root;     /* mnode */
    uint32_t owned_first, n_owned; /* owned handle bodies: kids[] holds arena offsets */
    bool competitor;
} topic_rec;

typedef struct regex {
    pcre2_code *code;
    uint32_t off, len; /* the pattern as written, for describe */
    bool caseless;
} regex;

struct es_topics {
    topic_rec *topics;
    size_t n_topics;
    mnode *nodes;
    size_t n_nodes, nodes_cap;
    uint32_t *kids;
    size_t n_kids, kids_cap;
    leaf *leaves;
    size_t n_leaves, leaves_cap;
    pat *pats;
    size_t n_pats, pats_cap;
    regex *regexes;
    size_t n_regexes, regexes_cap;
    es_buf arena;

    ientry *exact;
    size_t exact_mask;
    ientry *prefix;
    size_t prefix_mask;
    uint8_t *plen; /* plen[k] != 0: some wildcard body is k bytes long */
    size_t max_plen;
    uint32_t *postings;
    size_t n_postings;

    uint32_t *owned; /* arena offsets of owned handle bodies, by topic */
    size_t n_owned, owned_cap;

    uint32_t *trig; /* see leaf.trig_first */
    size_t n_trig;

    uint32_t *always; /* topics evaluated for every mention, ascending */
    size_t n_always;
};

/* A positioned token of the mention being matched. */
typedef struct ptok {
    const char *body;
    uint32_t len;
    uint8_t cls;
} ptok;

typedef struct span {
    uint32_t s, e;
} span;

struct es_matcher {
    const es_topics *t;
    es_tokens toks;
    uint32_t epoch;
    const es_mention *mention;

    uint32_t *leaf_epoch;
    int32_t *leaf_head, *leaf_tail;
    uint32_t *topic_epoch;
    uint32_t *addr_epoch;
    uint32_t *regex_epoch;
    bool *regex_val;

    uint32_t *cand;
    size_t n_cand;
    uint32_t *out;

    ptok *ptoks;
    size_t n_ptoks, ptoks_cap;

    span *hits;
    int32_t *hit_next;
    size_t n_hits, hits_cap;

    span *sa, *sb;
    size_t sa_cap, sb_cap;

    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int rc; /* first error during this call */
};

/* ---- small helpers ------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) {
            return ES_ENOMEM;
        }
        c *= 2;
    }
    void *n = realloc(*p, c * elem);
    if (n == NULL) {
        return ES_ENOMEM;
    }
    *p = n;
    *cap = c;
    return 0;
}

#define GROW(arr, cap, need) grow((void **)&(arr), &(cap), (need), sizeof *(arr))

static uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * 0x100000001b3ULL;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static uint64_t key_hash(uint8_t cls, const char *s, size_t n)
{
    uint64_t h = fnv_step(FNV_INIT, cls);
    for (size_t i = 0; i < n; i++) {
        h = fnv_step(h, (unsigned char)s[i]);
    }
    return h;
}

static const char *astr(const es_topics *t, uint32_t off)
{
    return t->arena.data + off;
}

static const ientry *lookup(const es_topics *t, const ientry *tab, size_t mask, uint64_t h,
                            uint8_t cls, const char *s, size_t n)
{
    if (tab == NULL) {
        return NULL;
    }
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const ientry *e = &tab[i];
        if (e->count == 0) {
            return NULL;
        }
        if (e->hash == h && e->cls == cls && e->len == n &&
            memcmp(astr(t, e->off), s, n) == 0) {
            return e;
        }
    }
}

/* The class and body of a token; false for tokens that take no position. */
static bool tok_key(const es_tokens *tk, size_t i, uint8_t *cls, const char **body,
                    uint32_t *len)
{
    const es_token *tok = &tk->v[i];
    const char *s = es_tok_norm(tk, i);
    uint32_t n = tok->norm_len;
    char sigil = 0;
    switch (tok->kind) {
    case ES_TOK_PUNCT:
        return false;
    case ES_TOK_HANDLE:
        *cls = CLS_HANDLE;
        sigil = '@';
        break;
    case ES_TOK_HASHTAG:
        *cls = CLS_HASHTAG;
        sigil = '#';
        break;
    case ES_TOK_CASHTAG:
        *cls = CLS_CASHTAG;
        sigil = '$';
        break;
    default:
        *cls = CLS_WORD;
        break;
    }
    /* The normalized form may or may not keep the sigil; the key never does. */
    if (sigil != 0 && n > 0 && s[0] == sigil) {
        s++;
        n--;
    }
    if (n == 0) {
        return false;
    }
    *body = s;
    *len = n;
    return true;
}

/* ---- compiling ---------------------------------------------------------- */

/* Everything compile needs while it works on one topic. */
typedef struct compiler {
    es_topics *t;
    const es_topic_def *def;
    const es_query *q;
    es_tokens toks;
    es_buf scratch;
    es_error *err;
    const es_qnode *cur; /* the term being compiled */
    /* Interning table of leaves: leaf id + 1, 0 when empty. */
    uint32_t *lt;
    size_t lt_mask;
} compiler;

/* A byte offset in the query -> line and column, per es_topics_compile's doc. */
static void locate(const es_topic_def *def, size_t off, int *line, int *col)
{
    const char *s = def->query;
    int l = 0;
    size_t bol = 0;
    for (size_t i = 0; i < off && s[i] != '\0'; i++) {
        if (s[i] == '\n') {
            l++;
            bol = i + 1;
        }
    }
    /* Columns count characters, not bytes, as editors do. */
    int c = 0;
    for (size_t i = def->query_line > 0 ? bol : 0; i < off && s[i] != '\0'; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    if (def->query_line > 0) {
        *line = def->query_line + l;
        *col = l == 0 ? (def->query_col > 0 ? def->query_col : 1) + c : c + 1;
    } else {
        *line = 0;
        *col = c + 1;
    }
}

static int cerr(compiler *c, int code, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int cerr(compiler *c, int code, size_t off, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    if (code == ES_EQUERY) {
        locate(c->def, off, &line, &col);
    }
    return es_error_set(c->err, code, line, col, "topic '%s': %s", c->def->name, msg);
}

static int arena_str(es_topics *t, const char *s, size_t n, uint32_t *off)
{
    *off = (uint32_t)t->arena.len;
    if (es_buf_add(&t->arena, s, n) != 0 || es_buf_addc(&t->arena, '\0') != 0) {
        return ES_ENOMEM;
    }
    return 0;
}

static int new_mnode(es_topics *t, uint8_t type, uint32_t *id)
{
    if (GROW(t->nodes, t->nodes_cap, t->n_nodes + 1) != 0) {
        return ES_ENOMEM;
    }
    memset(&t->nodes[t->n_nodes], 0, sizeof t->nodes[0]);
    t->nodes[t->n_nodes].type = type;
    *id = (uint32_t)t->n_nodes++;
    return 0;
}

static int add_kid(es_topics *t, uint32_t v)
{
    if (GROW(t->kids, t->kids_cap, t->n_kids + 1) != 0) {
        return ES_ENOMEM;
    }
    t->kids[t->n_kids++] = v;
    return 0;
}

static const char *qterm_name(es_qterm k)
{
    switch (k) {
    case ES_QT_HANDLE:
        return "handle";
    case ES_QT_HASHTAG:
        return "hashtag";
    case ES_QT_CASHTAG:
        return "cashtag";
    default:
        return "term";
    }
}

static bool bare_word(const char *s, size_t n);

/*
 * Would the leaf's normalized tokens, written out, tokenize back into the
 * same tokens? If not, remember the term's source text for describe.
 */
static int check_roundtrip(compiler *c, leaf *l)
{
    es_topics *t = c->t;
    es_buf_reset(&c->scratch);
    int rc = 0;
    for (uint32_t i = 0; i < l->n_pat && rc == 0; i++) {
        const pat *p = &t->pats[l->first_pat + i];
        if (i > 0) {
            rc = es_buf_addc(&c->scratch, ' ');
        }
        if (rc == 0 && p->cls != CLS_WORD) {
            rc = es_buf_addc(&c->scratch, (char)p->cls);
        }
        if (rc == 0) {
            rc = es_buf_add(&c->scratch, astr(t, p->off), p->len);
        }
    }
    if (rc != 0 || es_tokenize(c->scratch.data, c->scratch.len, &c->toks) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    uint32_t k = 0;
    bool same = true;
    for (size_t i = 0; i < c->toks.n && same; i++) {
        uint8_t cls;
        const char *body;
        uint32_t len;
        if (!tok_key(&c->toks, i, &cls, &body, &len)) {
            continue;
        }
        const pat *p = k < l->n_pat ? &t->pats[l->first_pat + k] : NULL;
        same = p != NULL && (p->cls == cls || (p->cls == CLS_WORD && cls == CLS_HASHTAG)) &&
               p->len == len && memcmp(astr(t, p->off), body, len) == 0;
        k++;
    }
    /* A wildcard on a token that is not a plain word (":*" followed by the
     * wildcard star) cannot be written back unambiguously either. */
    for (uint32_t i = 0; i < l->n_pat && same; i++) {
        const pat *p = &t->pats[l->first_pat + i];
        if (p->prefix && !bare_word(astr(t, p->off), p->len)) {
            same = false;
        }
    }
    if (same && k == l->n_pat) {
        return 0;
    }
    l->verbatim = true;
    l->src_len = c->cur->end - c->cur->pos;
    if (arena_str(t, c->def->query + c->cur->pos, l->src_len, &l->src_off) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    return 0;
}

static uint64_t pats_hash(const es_topics *t, uint32_t first, uint32_t n)
{
    uint64_t h = FNV_INIT;
    for (uint32_t i = first; i < first + n; i++) {
        const pat *p = &t->pats[i];
        const char *body = astr(t, p->off);
        h = fnv_step(h, p->cls);
        h = fnv_step(h, p->prefix ? '*' : '=');
        for (uint32_t k = 0; k < p->len; k++) {
            h = fnv_step(h, (unsigned char)body[k]);
        }
        h = fnv_step(h, 0xFF); /* never in UTF-8: separates the tokens */
    }
    return h;
}

static bool pats_equal(const es_topics *t, uint32_t a, uint32_t b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const pat *x = &t->pats[a + i], *y = &t->pats[b + i];
        if (x->cls != y->cls || x->prefix != y->prefix || x->len != y->len ||
            memcmp(astr(t, x->off), astr(t, y->off), x->len) != 0) {
            return false;
        }
    }
    return true;
}

/* The leaf with pattern pats[first..+n), or UINT32_MAX and the free slot. */
static uint32_t find_leaf(const compiler *c, uint64_t h, uint32_t first, uint32_t n,
                          size_t *slot)
{
    const es_topics *t = c->t;
    for (size_t i = h & c->lt_mask;; i = (i + 1) & c->lt_mask) {
        uint32_t v = c->lt[i];
        if (v == 0) {
            *slot = i;
            return UINT32_MAX;
        }
        const leaf *l = &t->leaves[v - 1];
        if (l->hash == h && l->n_pat == n && pats_equal(t, l->first_pat, first, n)) {
            return v - 1;
        }
    }
}

/* Keep the interning table at most half full. */
static int grow_leaf_table(compiler *c)
{
    size_t size = c->lt_mask + 1;
    if (c->t->n_leaves * 2 < size) {
        return 0;
    }
    size *= 2;
    uint32_t *lt = calloc(size, sizeof *lt);
    if (lt == NULL) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < c->t->n_leaves; i++) {
        size_t j = c->t->leaves[i].hash & (size - 1);
        while (lt[j] != 0) {
            j = (j + 1) & (size - 1);
        }
        lt[j] = (uint32_t)i + 1;
    }
    free(c->lt);
    c->lt = lt;
    c->lt_mask = size - 1;
    return 0;
}

/*
 * Turn a TERM node into a leaf: run its text through the tokenizer so the
 * query's words are cut and folded exactly like a mention's.
 */
static int compile_term(compiler *c, const es_qnode *n, uint32_t topic_id, uint32_t *leaf_id)
{
    es_topics *t = c->t;
    const char *body = es__query_str(c->q, n);
    c->cur = n;
    es_buf_reset(&c->scratch);
    char sigil = n->term == ES_QT_HANDLE    ? '@'
                 : n->term == ES_QT_HASHTAG ? '#'
                 : n->term == ES_QT_CASHTAG ? '$'
                                            : 0;
    if ((sigil != 0 && es_buf_addc(&c->scratch, sigil) != 0) ||
        es_buf_add(&c->scratch, body, n->str_len) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    int rc = es_tokenize(c->scratch.data, c->scratch.len, &c->toks);
    if (rc != 0) {
        return cerr(c, rc, 0, "cannot tokenize a term: %s", es_strerror(rc));
    }
    uint32_t first = (uint32_t)t->n_pats;
    size_t arena_mark = t->arena.len;
    for (size_t i = 0; i < c->toks.n; i++) {
        pat p;
        const char *s;
        uint32_t len;
        if (!tok_key(&c->toks, i, &p.cls, &s, &len)) {
            continue;
        }
        if (GROW(t->pats, t->pats_cap, t->n_pats + 1) != 0 ||
            arena_str(t, s, len, &p.off) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        p.len = len;
        p.prefix = false;
        t->pats[t->n_pats++] = p;
    }
    uint32_t np = (uint32_t)t->n_pats - first;
    if (np == 0) {
        return cerr(c, ES_EQUERY, n->pos,
                    "'%.*s' has nothing to match (no letters, digits or emoji)",
                    (int)(n->end - n->pos > 40 ? 40 : n->end - n->pos), c->def->query + n->pos);
    }
    if (sigil != 0) {
        uint8_t want = (uint8_t)sigil;
        if (np != 1 || t->pats[first].cls != want) {
            return cerr(c, ES_EQUERY, n->pos, "'%.*s' is not a valid %s%s",
                        (int)(n->end - n->pos > 40 ? 40 : n->end - n->pos),
                        c->def->query + n->pos, qterm_name(n->term),
                        n->term == ES_QT_HASHTAG ? " (a hashtag needs a letter)" : "");
        }
    } else {
        /* A bare word's text is matched as words: if the tokenizer sees a
         * hashtag in it ("a,#b"), the tag's body is taken as a word. */
        for (uint32_t i = first; i < first + np; i++) {
            if (n->term == ES_QT_WORD && t->pats[i].cls == CLS_HASHTAG) {
                t->pats[i].cls = CLS_WORD;
            }
        }
    }
    t->pats[first + np - 1].prefix = n->wildcard;

    /* The same term already seen (in this topic or another)? Share it. */
    uint64_t h = pats_hash(t, first, np);
    size_t slot;
    uint32_t same = find_leaf(c, h, first, np, &slot);
    if (same != UINT32_MAX) {
        t->n_pats = first;
        t->arena.len = arena_mark;
        t->arena.data[arena_mark] = '\0';
        t->leaves[same].uses++;
        *leaf_id = same;
        return 0;
    }
    if (GROW(t->leaves, t->leaves_cap, t->n_leaves + 1) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    leaf *l = &t->leaves[t->n_leaves];
    memset(l, 0, sizeof *l);
    l->hash = h;
    l->first_pat = first;
    l->n_pat = np;
    l->uses = 1;
    *leaf_id = (uint32_t)t->n_leaves++;
    c->lt[slot] = *leaf_id + 1;
    if ((rc = check_roundtrip(c, l)) != 0 || (rc = grow_leaf_table(c)) != 0) {
        return rc;
    }
    return 0;
}

static int compile_regex(compiler *c, const es_qnode *n, uint32_t *regex_id)
{
    es_topics *t = c->t;
    int ecode;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_UCP;
    if (n->caseless) {
        opts |= PCRE2_CASELESS;
    }
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)es__query_str(c->q, n), n->str_len, opts,
                                     &ecode, &eoff, NULL);
    if (code == NULL) {
        PCRE2_UCHAR buf[200];
        pcre2_get_error_message(ecode, buf, sizeof buf);
        /* The pattern is a verbatim slice of the query right after the '/'. */
        return cerr(c, ES_EQUERY, n->pos + 1 + eoff, "bad regex: %s (at offset %zu)",
                    (const char *)buf, (size_t)eoff);
    }
    /* JIT is an optimization: if the platform lacks it, the interpreter
     * runs the same pattern under the same limits. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (GROW(t->regexes, t->regexes_cap, t->n_regexes + 1) != 0) {
        pcre2_code_free(code);
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    regex *r = &t->regexes[t->n_regexes];
    *regex_id = (uint32_t)t->n_regexes++; /* owned by t from here on */
    r->code = code;
    r->caseless = n->caseless;
    r->len = n->str_len;
    if (arena_str(t, es__query_str(c->q, n), n->str_len, &r->off) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    return 0;
}

/* Lower-case ASCII in place: field values compare case-insensitively. */
static void ascii_lower(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z') {
            s[i] = (char)(s[i] - 'A' + 'a');
        }
    }
}

static int compile_node(compiler *c, uint32_t qid, uint32_t topic_id, uint32_t *out);

/* The leaves of a NEAR operand (a term or an OR of terms) go into kids. */
static int near_operand(compiler *c, uint32_t qid, uint32_t topic_id, uint32_t *count)
{
    const es_qnode *n = &c->q->nodes[qid];
    uint32_t ids[1];
    const uint32_t *list = ids;
    uint32_t cnt = 1;
    if (n->type == ES_Q_OR) {
        list = c->q->kids + n->first;
        cnt = n->count;
    } else {
        ids[0] = qid;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t leaf_id;
        int rc = compile_term(c, &c->q->nodes[list[i]], topic_id, &leaf_id);
        if (rc != 0) {
            return rc;
        }
        c->t->leaves[leaf_id].needs_pos = true;
        if (add_kid(c->t, leaf_id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
    }
    *count = cnt;
    return 0;
}

static int compile_node(compiler *c, uint32_t qid, uint32_t topic_id, uint32_t *out)
{
    es_topics *t = c->t;
    const es_qnode *n = &c->q->nodes[qid];
    uint32_t id;
    int rc;
    switch (n->type) {
    case ES_Q_TERM: {
        uint32_t leaf_id;
        if ((rc = compile_term(c, n, topic_id, &leaf_id)) != 0) {
            return rc;
        }
        if (new_mnode(t, M_LEAF, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        t->nodes[id].a = leaf_id;
        break;
    }
    case ES_Q_REGEX: {
        uint32_t re = 0;
        if ((rc = compile_regex(c, n, &re)) != 0) {
            return rc;
        }
        if (new_mnode(t, M_REGEX, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        t->nodes[id].a = re;
        break;
    }
    case ES_Q_FIELD: {
        uint32_t off = 0;
        const char *v = es__query_str(c->q, n);
        uint32_t vn = n->str_len;
        if (n->field == ES_QF_AUTHOR && vn > 0 && v[0] == '@') {
            while (vn > 0 && v[0] == '@') {
                v++; /* author:"@jdoe" as well as author:@jdoe */
                vn--;
            }
            if (vn == 0) {
                return cerr(c, ES_EQUERY, n->pos, "'author:@' needs a name");
            }
        }
        if (arena_str(t, v, vn, &off) != 0 || new_mnode(t, M_FIELD, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        ascii_lower(t->arena.data + off, vn);
        mnode *m = &t->nodes[id];
        m->field = (uint8_t)n->field;
        m->cmp = (uint8_t)n->cmp;
        m->num = n->num;
        m->a = off;
        m->b = vn;
        break;
    }
    case ES_Q_NOT: {
        uint32_t kid, q_kid = c->q->kids[n->first];
        if (c->q->nodes[q_kid].type == ES_Q_NOT) {
            /* NOT NOT x is x ("--refund" is a typo more often than not). */
            return compile_node(c, c->q->kids[c->q->nodes[q_kid].first], topic_id, out);
        }
        if ((rc = compile_node(c, q_kid, topic_id, &kid)) != 0) {
            return rc;
        }
        if (new_mnode(t, M_NOT, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        t->nodes[id].a = kid;
        break;
    }
    case ES_Q_AND:
    case ES_Q_OR: {
        /* Compile the children first (they add kids of their own), then lay
         * this node's children out contiguously. */
        uint32_t small[16];
        uint32_t *tmp = n->count <= 16 ? small : malloc(n->count * sizeof *tmp);
        if (tmp == NULL) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        for (uint32_t i = 0; i < n->count; i++) {
            if ((rc = compile_node(c, c->q->kids[n->first + i], topic_id, &tmp[i])) != 0) {
                if (tmp != small) {
                    free(tmp);
                }
                return rc;
            }
        }
        uint32_t first = (uint32_t)t->n_kids;
        rc = 0;
        for (uint32_t i = 0; i < n->count && rc == 0; i++) {
            rc = add_kid(t, tmp[i]);
        }
        if (tmp != small) {
            free(tmp);
        }
        if (rc != 0 || new_mnode(t, n->type == ES_Q_AND ? M_AND : M_OR, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        t->nodes[id].a = first;
        t->nodes[id].b = n->count;
        break;
    }
    case ES_Q_NEAR: {
        uint32_t first = (uint32_t)t->n_kids, nl, nr;
        if ((rc = near_operand(c, c->q->kids[n->first], topic_id, &nl)) != 0 ||
            (rc = near_operand(c, c->q->kids[n->first + 1], topic_id, &nr)) != 0) {
            return rc;
        }
        if (new_mnode(t, M_NEAR, &id) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        mnode *m = &t->nodes[id];
        m->a = first;
        m->b = nl;
        m->c = nr;
        m->d = n->dist;
        m->ordered = n->ordered;
        break;
    }
    default:
        return cerr(c, ES_EINVAL, 0, "internal error: unknown query node");
    }
    *out = id;
    return 0;
}

/* Rough cost of evaluating a node, to run cheap children first. */
static uint32_t node_cost(const es_topics *t, uint32_t id)
{
    const mnode *m = &t->nodes[id];
    switch (m->type) {
    case M_LEAF:
    case M_FIELD:
        return 1;
    case M_NEAR:
        return 8;
    case M_REGEX:
        return 1000;
    case M_NOT:
        return node_cost(t, m->a);
    default: {
        uint32_t sum = 0;
        for (uint32_t i = 0; i < m->b; i++) {
            uint32_t k = node_cost(t, t->kids[m->a + i]);
            sum = sum + k < sum ? UINT32_MAX : sum + k;
        }
        return sum;
    }
    }
}

/* Order every AND/OR's children cheapest first (a stable insertion sort). */
static void order_children(es_topics *t, uint32_t id)
{
    mnode *m = &t->nodes[id];
    if (m->type == M_NOT) {
        order_children(t, m->a);
        return;
    }
    if (m->type != M_AND && m->type != M_OR) {
        return;
    }
    uint32_t *k = t->kids + m->a;
    for (uint32_t i = 0; i < m->b; i++) {
        order_children(t, k[i]);
    }
    for (uint32_t i = 1; i < m->b; i++) {
        uint32_t v = k[i], cv = node_cost(t, v);
        uint32_t j = i;
        while (j > 0 && node_cost(t, k[j - 1]) > cv) {
            k[j] = k[j - 1];
            j--;
        }
        k[j] = v;
    }
}

/*
 * Triggers. A topic is evaluated for a mention only if one of its trigger
 * leaves hit: a set of leaves such that the query cannot be true unless at
 * least one of them is in the text. For a leaf that is itself; for OR, the
 * union of its children's sets; for AND, the set of any one child (the
 * cheapest); for NEAR, either side's leaves. NOT, fields and regexes give no
 * set, so `lang:en -acme` or a lone /regex/ has none and is evaluated for
 * every mention (the "always" list).
 *
 * Cheapest means least likely to be in a mention. Without text statistics
 * we use what the config says: a term many topics share is a context word
 * ("late", "refund*"), one that a single topic uses is its brand. So
 * "acme NEAR/3 late" is triggered by "acme" only, and 500 such topics do not
 * all wake up for every "late".
 */
#define NO_TRIGGERS UINT64_MAX

static uint64_t leaf_cost(const es_topics *t, uint32_t id)
{
    const leaf *l = &t->leaves[id];
    const pat *p = &t->pats[l->first_pat];
    uint64_t cost = (uint64_t)l->uses * 8 + 1;
    if (l->n_pat == 1 && p->prefix) {
        cost += 32 / (p->len + 1); /* short wildcards match many words */
    }
    return cost;
}

static uint64_t add_cost(uint64_t a, uint64_t b)
{
    return a == NO_TRIGGERS || b == NO_TRIGGERS || a + b < a ? NO_TRIGGERS : a + b;
}

static uint64_t leaves_cost(const es_topics *t, const uint32_t *leaves, uint32_t n)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum = add_cost(sum, leaf_cost(t, leaves[i]));
    }
    return sum;
}

static uint64_t trigger_cost(const es_topics *t, uint32_t id)
{
    const mnode *m = &t->nodes[id];
    switch (m->type) {
    case M_LEAF:
        return leaf_cost(t, m->a);
    case M_NEAR: {
        uint64_t l = leaves_cost(t, t->kids + m->a, m->b);
        uint64_t r = leaves_cost(t, t->kids + m->a + m->b, m->c);
        return l < r ? l : r;
    }
    case M_AND: {
        uint64_t best = NO_TRIGGERS;
        for (uint32_t i = 0; i < m->b; i++) {
            uint64_t k = trigger_cost(t, t->kids[m->a + i]);
            best = k < best ? k : best;
        }
        return best;
    }
    case M_OR: {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < m->b; i++) {
            sum = add_cost(sum, trigger_cost(t, t->kids[m->a + i]));
        }
        return sum;
    }
    default:
        return NO_TRIGGERS;
    }
}

typedef struct trig_pair {
    uint32_t leaf, topic;
} trig_pair;

typedef struct trig_list {
    trig_pair *v;
    size_t n, cap;
} trig_list;

static int add_trigger(trig_list *tl, uint32_t leaf_id, uint32_t topic_id)
{
    if (GROW(tl->v, tl->cap, tl->n + 1) != 0) {
        return ES_ENOMEM;
    }
    tl->v[tl->n].leaf = leaf_id;
    tl->v[tl->n].topic = topic_id;
    tl->n++;
    return 0;
}

/* Emit the trigger set trigger_cost() priced. Only called when it exists. */
static int emit_triggers(const es_topics *t, uint32_t id, uint32_t topic_id, trig_list *tl)
{
    const mnode *m = &t->nodes[id];
    int rc = 0;
    switch (m->type) {
    case M_LEAF:
        return add_trigger(tl, m->a, topic_id);
    case M_NEAR: {
        const uint32_t *k = t->kids + m->a;
        uint32_t n = m->b;
        if (leaves_cost(t, k + m->b, m->c) < leaves_cost(t, k, m->b)) {
            k += m->b;
            n = m->c;
        }
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            rc = add_trigger(tl, k[i], topic_id);
        }
        return rc;
    }
    case M_AND: {
        uint32_t best = 0;
        uint64_t best_cost = NO_TRIGGERS;
        for (uint32_t i = 0; i < m->b; i++) {
            uint64_t k = trigger_cost(t, t->kids[m->a + i]);
            if (k < best_cost) {
                best_cost = k;
                best = t->kids[m->a + i];
            }
        }
        return emit_triggers(t, best, topic_id, tl);
    }
    case M_OR:
        for (uint32_t i = 0; i < m->b && rc == 0; i++) {
            rc = emit_triggers(t, t->kids[m->a + i], topic_id, tl);
        }
        return rc;
    default:
        return 0;
    }
}

/* Choose every topic's triggers (or put it on the always list). */
static int choose_triggers(es_topics *t)
{
    trig_list tl = {0};
    int rc = 0;
    for (size_t i = 0; i < t->n_topics && rc == 0; i++) {
        uint32_t root = t->topics[i].root;
        if (trigger_cost(t, root) == NO_TRIGGERS) {
            t->always[t->n_always++] = (uint32_t)i;
        } else {
            rc = emit_triggers(t, root, (uint32_t)i, &tl);
        }
    }
    /* Group by leaf (a counting sort, stable: topics stay ascending). */
    t->trig = malloc((tl.n ? tl.n : 1) * sizeof *t->trig);
    if (rc != 0 || t->trig == NULL) {
        free(tl.v);
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < tl.n; i++) {
        t->leaves[tl.v[i].leaf].trig_count++;
    }
    uint32_t at = 0;
    for (size_t i = 0; i < t->n_leaves; i++) {
        t->leaves[i].trig_first = at;
        at += t->leaves[i].trig_count;
        t->leaves[i].trig_count = 0;
    }
    for (size_t i = 0; i < tl.n; i++) {
        leaf *l = &t->leaves[tl.v[i].leaf];
        t->trig[l->trig_first + l->trig_count++] = tl.v[i].topic;
    }
    t->n_trig = tl.n;
    free(tl.v);
    return 0;
}

/* ---- describing --------------------------------------------------------- */

static int describe_str(es_buf *b, const char *s, size_t n)
{
    bool plain = n > 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '\'')) {
            plain = false;
        }
    }
    if (plain) {
        return es_buf_add(b, s, n);
    }
    int rc = es_buf_addc(b, '"');
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            rc = es_buf_addc(b, '\\');
        }
        if (rc == 0) {
            rc = es_buf_addc(b, s[i]);
        }
    }
    return rc != 0 ? rc : es_buf_addc(b, '"');
}

/* Can this word be written bare, or would the query lexer read it as
 * something else (an operator, a field, a tag, punctuation)? */
static bool bare_word(const char *s, size_t n)
{
    if (n == 0 || s[0] == '-' || s[0] == '/' || s[0] == '@' || s[0] == '#' || s[0] == '$') {
        return false;
    }
    if ((n == 2 && memcmp(s, "or", 2) == 0) || (n == 3 && memcmp(s, "and", 3) == 0) ||
        (n == 3 && memcmp(s, "not", 3) == 0) || (n >= 4 && memcmp(s, "near", 4) == 0) ||
        (n >= 5 && memcmp(s, "onear", 5) == 0)) {
        return false; /* lower case already, but keep them unmistakable */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '\'' || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

static int describe_leaf(const es_topics *t, es_buf *b, uint32_t leaf_id)
{
    const leaf *l = &t->leaves[leaf_id];
    if (l->verbatim) {
        return es_buf_add(b, astr(t, l->src_off), l->src_len);
    }
    const pat *p0 = &t->pats[l->first_pat];
    bool quote = l->n_pat > 1 || (p0->cls == CLS_WORD && !bare_word(astr(t, p0->off), p0->len));
    int rc = 0;
    if (quote) {
        rc = es_buf_addc(b, '"');
    }
    for (uint32_t i = 0; i < l->n_pat && rc == 0; i++) {
        const pat *p = &t->pats[l->first_pat + i];
        if (i > 0) {
            rc = es_buf_addc(b, ' ');
        }
        if (rc == 0 && p->cls != CLS_WORD) {
            rc = es_buf_addc(b, (char)p->cls);
        }
        const char *s = astr(t, p->off);
        for (uint32_t j = 0; j < p->len && rc == 0; j++) {
            /* An escaped '*' is a literal star, not a wildcard (":*"). */
            if (quote && (s[j] == '"' || s[j] == '\\' || s[j] == '*')) {
                rc = es_buf_addc(b, '\\');
            }
            if (rc == 0) {
                rc = es_buf_addc(b, s[j]);
            }
        }
        if (rc == 0 && p->prefix) {
            rc = es_buf_addc(b, '*');
        }
    }
    if (rc == 0 && quote) {
        rc = es_buf_addc(b, '"');
    }
    return rc;
}

static int describe_node(const es_topics *t, es_buf *b, uint32_t id, bool parens);
static int describe_kids(const es_topics *t, es_buf *b, uint32_t id, uint8_t type, bool *first);

static int describe_near_side(const es_topics *t, es_buf *b, const uint32_t *leaves,
                              uint32_t n)
{
    int rc = n > 1 ? es_buf_addc(b, '(') : 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (i > 0) {
            rc = es_buf_adds(b, " OR ");
        }
        if (rc == 0) {
            rc = describe_leaf(t, b, leaves[i]);
        }
    }
    return rc == 0 && n > 1 ? es_buf_addc(b, ')') : rc;
}

/* `parens`: wrap an AND/OR in parentheses (it is not the whole query). */
static int describe_node(const es_topics *t, es_buf *b, uint32_t id, bool parens)
{
    const mnode *m = &t->nodes[id];
    int rc = 0;
    switch (m->type) {
    case M_LEAF:
        return describe_leaf(t, b, m->a);
    case M_REGEX: {
        const regex *r = &t->regexes[m->a];
        return es_buf_printf(b, "/%.*s/%s", (int)r->len, astr(t, r->off), r->caseless ? "i" : "");
    }
    case M_FIELD: {
        es_qfield f = (es_qfield)m->field;
        if (f == ES_QF_FOLLOWERS || f == ES_QF_LIKES || f == ES_QF_REPOSTS ||
            f == ES_QF_REPLIES) {
            return es_buf_printf(b, "%s%s%lld", es__query_field_name(f),
                                 es__query_cmp_name((es_qcmp)m->cmp), (long long)m->num);
        }
        rc = es_buf_printf(b, "%s:", es__query_field_name(f));
        return rc != 0 ? rc : describe_str(b, astr(t, m->a), m->b);
    }
    case M_NOT: {
        const mnode *k = &t->nodes[m->a];
        rc = es_buf_adds(b, "NOT ");
        bool wrap = k->type == M_AND || k->type == M_OR || k->type == M_NEAR;
        return rc != 0 ? rc : describe_node(t, b, m->a, wrap);
    }
    case M_NEAR:
        rc = parens ? es_buf_addc(b, '(') : 0;
        if (rc == 0) {
            rc = describe_near_side(t, b, t->kids + m->a, m->b);
        }
        if (rc == 0) {
            rc = es_buf_printf(b, " %s/%u ", m->ordered ? "ONEAR" : "NEAR", m->d);
        }
        if (rc == 0) {
            rc = describe_near_side(t, b, t->kids + m->a + m->b, m->c);
        }
        return rc == 0 && parens ? es_buf_addc(b, ')') : rc;
    default:
        if (parens) {
            rc = es_buf_addc(b, '(');
        }
        bool first = true;
        if (rc == 0) {
            rc = describe_kids(t, b, id, m->type, &first);
        }
        if (rc == 0 && parens) {
            rc = es_buf_addc(b, ')');
        }
        return rc;
    }
}

/* The children of an AND or OR, with nested ones of the same kind inlined
 * (NOT NOT folding can leave "a AND (b AND c)"). */
static int describe_kids(const es_topics *t, es_buf *b, uint32_t id, uint8_t type, bool *first)
{
    const mnode *m = &t->nodes[id];
    int rc = 0;
    for (uint32_t i = 0; i < m->b && rc == 0; i++) {
        uint32_t kid = t->kids[m->a + i];
        const mnode *k = &t->nodes[kid];
        if (k->type == type) {
            rc = describe_kids(t, b, kid, type, first);
            continue;
        }
        if (!*first) {
            rc = es_buf_adds(b, type == M_AND ? " AND " : " OR ");
        }
        *first = false;
        if (rc == 0) {
            rc = describe_node(t, b, kid, k->type != M_NEAR);
        }
    }
    return rc;
}

/* ---- the index ---------------------------------------------------------- */

typedef struct ipair {
    uint64_t hash;
    uint32_t off, len;
    uint32_t val; /* leaf, or OWNED_BIT | topic */
    uint8_t cls;
    bool prefix;
} ipair;

static int ipair_cmp(const void *a, const void *b)
{
    const ipair *x = a, *y = b;
    if (x->prefix != y->prefix) {
        return x->prefix ? 1 : -1;
    }
    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    if (x->cls != y->cls) {
        return x->cls < y->cls ? -1 : 1;
    }
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return 0; /* same hash, class and length: keys are compared by the caller */
}

static bool same_key(const es_topics *t, const ipair *x, const ipair *y)
{
    return x->prefix == y->prefix && x->hash == y->hash && x->cls == y->cls &&
           x->len == y->len && memcmp(astr(t, x->off), astr(t, y->off), x->len) == 0;
}

static int make_table(ientry **tab, size_t *mask, size_t n_keys)
{
    size_t size = 16;
    while (size < n_keys * 2) {
        size *= 2;
    }
    *tab = calloc(size, sizeof **tab);
    if (*tab == NULL) {
        return ES_ENOMEM;
    }
    *mask = size - 1;
    return 0;
}

static void table_put(ientry *tab, size_t mask, const ientry *e)
{
    size_t i = e->hash & mask;
    while (tab[i].count != 0) {
        i = (i + 1) & mask;
    }
    tab[i] = *e;
}

/*
 * Build the exact and prefix tables from every leaf's first token and every
 * topic's owned handles. Postings for one key are contiguous in
 * t->postings, in leaf order.
 */
static int build_index(es_topics *t)
{
    size_t n_owned = 0;
    for (size_t i = 0; i < t->n_topics; i++) {
        n_owned += t->topics[i].n_owned;
    }
    size_t n = t->n_leaves + n_owned;
    ipair *pairs = malloc((n ? n : 1) * sizeof *pairs);
    t->postings = malloc((n ? n : 1) * sizeof *t->postings);
    if (pairs == NULL || t->postings == NULL) {
        free(pairs);
        return ES_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->n_leaves; i++) {
        const pat *p = &t->pats[t->leaves[i].first_pat];
        ipair *x = &pairs[k++];
        x->cls = p->cls;
        x->off = p->off;
        x->len = p->len;
        x->hash = key_hash(p->cls, astr(t, p->off), p->len);
        x->val = (uint32_t)i;
        x->prefix = p->prefix;
        if (p->prefix && p->len > t->max_plen) {
            t->max_plen = p->len;
        }
    }
    for (size_t i = 0; i < t->n_topics; i++) {
        for (uint32_t j = 0; j < t->topics[i].n_owned; j++) {
            uint32_t off = t->owned[t->topics[i].owned_first + j];
            ipair *x = &pairs[k++];
            x->cls = CLS_HANDLE;
            x->off = off;
            x->len = (uint32_t)strlen(astr(t, off));
            x->hash = key_hash(CLS_HANDLE, astr(t, off), x->len);
            x->val = OWNED_BIT | (uint32_t)i;
            x->prefix = false;
        }
    }
    /* Sort so that equal keys are adjacent (the comparator cannot see the
     * arena, so keys equal in hash, class and length are told apart below). */
    qsort(pairs, n, sizeof *pairs, ipair_cmp);
    size_t n_exact = 0, n_prefix = 0; /* upper bounds on distinct keys */
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !same_key(t, &pairs[i], &pairs[i - 1])) {
            *(pairs[i].prefix ? &n_prefix : &n_exact) += 1;
        }
    }
    t->plen = calloc(t->max_plen + 1, 1);
    if (t->plen == NULL || make_table(&t->exact, &t->exact_mask, n_exact) != 0 ||
        make_table(&t->prefix, &t->prefix_mask, n_prefix) != 0) {
        free(pairs);
        return ES_ENOMEM;
    }
    /*
     * Runs of equal (hash, class, length) almost always hold one key. When a
     * run holds several (a 64-bit hash collision, or the same key from many
     * topics), group them by bytes: each key's postings are copied out in
     * one pass over the run per distinct key.
     */
    size_t np = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && ipair_cmp(&pairs[i], &pairs[j]) == 0) {
            j++;
        }
        /* pairs[i..j) share hash, class, length; split by bytes. */
        for (size_t a = i; a < j; a++) {
            if (pairs[a].val == UINT32_MAX) {
                continue; /* already placed under an earlier key */
            }
            ientry e = {.hash = pairs[a].hash, .off = pairs[a].off, .len = pairs[a].len,
                        .first = (uint32_t)np, .count = 0, .cls = pairs[a].cls};
            bool prefix = pairs[a].prefix;
            for (size_t b = a; b < j; b++) {
                if (pairs[b].val != UINT32_MAX &&
                    (b == a || memcmp(astr(t, pairs[b].off), astr(t, e.off), e.len) == 0)) {
                    t->postings[np++] = pairs[b].val;
                    e.count++;
                    if (b != a) {
                        pairs[b].val = UINT32_MAX;
                    }
                }
            }
            pairs[a].val = UINT32_MAX;
            if (prefix) {
                table_put(t->prefix, t->prefix_mask, &e);
                t->plen[e.len] = 1;
            } else {
                table_put(t->exact, t->exact_mask, &e);
            }
        }
        i = j;
    }
    t->n_postings = np;
    free(pairs);
    return 0;
}

/* ---- es_topics ---------------------------------------------------------- */

void es_topics_free(es_topics *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_regexes; i++) {
        pcre2_code_free(t->regexes[i].code);
    }
    free(t->regexes);
    free(t->topics);
    free(t->nodes);
    free(t->kids);
    free(t->leaves);
    free(t->pats);
    es_buf_free(&t->arena);
    free(t->exact);
    free(t->prefix);
    free(t->plen);
    free(t->postings);
    free(t->always);
    free(t->trig);
    free(t->owned);
    free(t);
}

/* Normalize an owned account ("@Acme", "acme") to a handle body. */
static int compile_owned(compiler *c, const char *name, uint32_t *off)
{
    es_buf_reset(&c->scratch);
    if (name[0] != '@' && es_buf_addc(&c->scratch, '@') != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    if (es_buf_adds(&c->scratch, name) != 0) {
        return cerr(c, ES_EINVAL, 0, "owned account '%.40s...' is too long", name);
    }
    int rc = es_tokenize(c->scratch.data, c->scratch.len, &c->toks);
    uint8_t cls = 0;
    const char *body = NULL;
    uint32_t len = 0;
    if (rc != 0 || c->toks.n != 1 || !tok_key(&c->toks, 0, &cls, &body, &len) ||
        cls != CLS_HANDLE) {
        return cerr(c, ES_EINVAL, 0, "owned account '%.100s' is not a valid @handle", name);
    }
    return arena_str(c->t, body, len, off) == 0 ? 0 : cerr(c, ES_ENOMEM, 0, "out of memory");
}

static int name_cmp(const void *a, const void *b)
{
    const es_topic_def *x = *(const es_topic_def *const *)a;
    const es_topic_def *y = *(const es_topic_def *const *)b;
    return strcmp(x->name, y->name);
}

/* Topic names are how alerts and enriched mentions refer to topics. */
static int check_names(const es_topic_def *defs, size_t n, es_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (defs[i].name == NULL || defs[i].name[0] == '\0') {
            return es_error_set(err, ES_EINVAL, 0, 0, "topic %zu has no name", i + 1);
        }
        if (defs[i].query == NULL) {
            return es_error_set(err, ES_EINVAL, 0, 0, "topic '%s' has no query", defs[i].name);
        }
    }
    if (n < 2) {
        return 0;
    }
    const es_topic_def **v = malloc(n * sizeof *v);
    if (v == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = &defs[i];
    }
    qsort(v, n, sizeof *v, name_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (strcmp(v[i]->name, v[i - 1]->name) == 0) {
            const es_topic_def *later = v[i] > v[i - 1] ? v[i] : v[i - 1];
            rc = es_error_set(err, ES_EINVAL, later->query_line, 0,
                              "duplicate topic name '%s'", later->name);
        }
    }
    free(v);
    return rc;
}

static int compile_topic(compiler *c, uint32_t id)
{
    es_topics *t = c->t;
    const es_topic_def *def = c->def;
    topic_rec *tp = &t->topics[id];
    memset(tp, 0, sizeof *tp);
    tp->competitor = def->competitor;
    if (arena_str(t, def->name, strlen(def->name), &tp->name) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }

    es_query q;
    size_t off = 0;
    char msg[300];
    int rc = es__query_parse(def->query, strlen(def->query), &q, &off, msg, sizeof msg);
    if (rc != 0) {
        return cerr(c, rc == ES_EQUERY ? ES_EQUERY : rc, off, "%s", msg);
    }
    c->q = &q;
    rc = compile_node(c, q.root, id, &tp->root);
    c->q = NULL;
    es__query_free(&q);
    if (rc != 0) {
        return rc;
    }

    /* Describe before reordering, so the text follows the user's order. */
    es_buf_reset(&c->scratch);
    if (describe_node(t, &c->scratch, tp->root, false) != 0 ||
        arena_str(t, c->scratch.data ? c->scratch.data : "", c->scratch.len, &tp->describe) != 0) {
        return cerr(c, ES_ENOMEM, 0, "out of memory");
    }
    order_children(t, tp->root);

    tp->owned_first = (uint32_t)t->n_owned;
    for (size_t i = 0; i < def->n_owned; i++) {
        if (def->owned[i] == NULL) {
            continue;
        }
        uint32_t body = 0;
        if ((rc = compile_owned(c, def->owned[i], &body)) != 0) {
            return rc;
        }
        if (GROW(t->owned, t->owned_cap, t->n_owned + 1) != 0) {
            return cerr(c, ES_ENOMEM, 0, "out of memory");
        }
        t->owned[t->n_owned++] = body;
        tp->n_owned++;
    }
    return 0;
}

int es_topics_compile(const es_topic_def *defs, size_t n, es_topics **out, es_error *err)
{
    *out = NULL;
    if (defs == NULL && n > 0) {
        return es_error_set(err, ES_EINVAL, 0, 0, "no topic definitions");
    }
    if (n >= OWNED_BIT - 1) {
        return es_error_set(err, ES_EINVAL, 0, 0, "too many topics (%zu)", n);
    }
    int rc = check_names(defs, n, err);
    if (rc != 0) {
        return rc;
    }
    es_topics *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    es_buf_init(&t->arena, ARENA_MAX);
    t->topics = calloc(n ? n : 1, sizeof *t->topics);
    t->always = malloc((n ? n : 1) * sizeof *t->always);
    if (t->topics == NULL || t->always == NULL) {
        es_topics_free(t);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }

    compiler c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.err = err;
    es_tokens_init(&c.toks);
    es_buf_init(&c.scratch, ES_QUERY_MAX_LEN * 8);
    c.lt = calloc(64, sizeof *c.lt);
    c.lt_mask = 63;
    if (c.lt == NULL) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }

    for (size_t i = 0; i < n && rc == 0; i++) {
        c.def = &defs[i];
        t->n_topics = i + 1; /* so es_topics_free sees what was built */
        rc = compile_topic(&c, (uint32_t)i);
    }
    t->n_topics = n;
    if (rc == 0 && (choose_triggers(t) != 0 || build_index(t) != 0)) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    es_tokens_free(&c.toks);
    es_buf_free(&c.scratch);
    free(c.lt);
    if (rc != 0) {
        es_topics_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

size_t es_topics_count(const es_topics *t)
{
    return t != NULL ? t->n_topics : 0;
}

const char *es_topics_name(const es_topics *t, size_t i)
{
    return t != NULL && i < t->n_topics ? astr(t, t->topics[i].name) : NULL;
}

bool es_topics_competitor(const es_topics *t, size_t i)
{
    return t != NULL && i < t->n_topics && t->topics[i].competitor;
}

int es_topics_describe(const es_topics *t, size_t i, char *buf, size_t n)
{
    if (t == NULL || i >= t->n_topics) {
        return ES_EINVAL;
    }
    const char *d = astr(t, t->topics[i].describe);
    size_t len = strlen(d);
    if (n > 0) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(buf, d, k);
        buf[k] = '\0';
    }
    return len > INT32_MAX ? INT32_MAX : (int)len;
}

/* ---- the matcher -------------------------------------------------------- */

void es_matcher_free(es_matcher *m)
{
    if (m == NULL) {
        return;
    }
    es_tokens_free(&m->toks);
    free(m->leaf_epoch);
    free(m->leaf_head);
    free(m->leaf_tail);
    free(m->topic_epoch);
    free(m->addr_epoch);
    free(m->regex_epoch);
    free(m->regex_val);
    free(m->cand);
    free(m->out);
    free(m->ptoks);
    free(m->hits);
    free(m->hit_next);
    free(m->sa);
    free(m->sb);
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    free(m);
}

int es_matcher_new(const es_topics *t, es_matcher **out)
{
    *out = NULL;
    if (t == NULL) {
        return ES_EINVAL;
    }
    es_matcher *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return ES_ENOMEM;
    }
    m->t = t;
    es_tokens_init(&m->toks);
    size_t nl = t->n_leaves ? t->n_leaves : 1;
    size_t nt = t->n_topics ? t->n_topics : 1;
    size_t nr = t->n_regexes ? t->n_regexes : 1;
    m->leaf_epoch = calloc(nl, sizeof *m->leaf_epoch);
    m->leaf_head = malloc(nl * sizeof *m->leaf_head);
    m->leaf_tail = malloc(nl * sizeof *m->leaf_tail);
    m->topic_epoch = calloc(nt, sizeof *m->topic_epoch);
    m->addr_epoch = calloc(nt, sizeof *m->addr_epoch);
    m->regex_epoch = calloc(nr, sizeof *m->regex_epoch);
    m->regex_val = calloc(nr, sizeof *m->regex_val);
    m->cand = malloc(nt * sizeof *m->cand);
    m->out = malloc(nt * sizeof *m->out);
    m->md = pcre2_match_data_create(1, NULL);
    m->mctx = pcre2_match_context_create(NULL);
    if (m->leaf_epoch == NULL || m->leaf_head == NULL || m->leaf_tail == NULL ||
        m->topic_epoch == NULL || m->addr_epoch == NULL || m->regex_epoch == NULL ||
        m->regex_val == NULL || m->cand == NULL || m->out == NULL || m->md == NULL ||
        m->mctx == NULL) {
        es_matcher_free(m);
        return ES_ENOMEM;
    }
    pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(m->mctx, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KB);
    *out = m;
    return 0;
}

/* Start a new mention: a new epoch, or a full reset when the counter wraps. */
static void next_epoch(es_matcher *m)
{
    const es_topics *t = m->t;
    if (++m->epoch == 0) {
        memset(m->leaf_epoch, 0, (t->n_leaves ? t->n_leaves : 1) * sizeof *m->leaf_epoch);
        memset(m->topic_epoch, 0, (t->n_topics ? t->n_topics : 1) * sizeof *m->topic_epoch);
        memset(m->addr_epoch, 0, (t->n_topics ? t->n_topics : 1) * sizeof *m->addr_epoch);
        memset(m->regex_epoch, 0, (t->n_regexes ? t->n_regexes : 1) * sizeof *m->regex_epoch);
        m->epoch = 1;
    }
    m->n_cand = 0;
    m->n_hits = 0;
    m->rc = 0;
}

static bool possessive(const char *body, uint32_t len);
static void scan_word_parts(es_matcher *m, const char *body, uint32_t len, uint32_t pos);

static bool pat_matches(const es_topics *t, const pat *p, const ptok *k)
{
    if (k->cls != p->cls && !(p->cls == CLS_WORD && k->cls == CLS_HASHTAG)) {
        return false;
    }
    if (p->prefix) {
        return k->len >= p->len && memcmp(k->body, astr(t, p->off), p->len) == 0;
    }
    uint32_t len = k->len;
    if (len == p->len + 2 && k->cls == CLS_WORD && possessive(k->body, len)) {
        len -= 2; /* "big acme's" continues the phrase "big acme" */
    }
    return len == p->len && memcmp(k->body, astr(t, p->off), p->len) == 0;
}

/* The first token of leaf `id` matched at position `pos`: check the rest. */
static void try_leaf(es_matcher *m, uint32_t id, uint32_t pos)
{
    const es_topics *t = m->t;
    const leaf *l = &t->leaves[id];
    bool seen = m->leaf_epoch[id] == m->epoch;
    if (seen && !l->needs_pos) {
        return;
    }
    if (l->n_pat > 1) {
        if (pos + l->n_pat > m->n_ptoks) {
            return;
        }
        for (uint32_t i = 1; i < l->n_pat; i++) {
            if (!pat_matches(t, &t->pats[l->first_pat + i], &m->ptoks[pos + i])) {
                return;
            }
        }
    }
    if (!seen) {
        m->leaf_epoch[id] = m->epoch;
        m->leaf_head[id] = -1;
        m->leaf_tail[id] = -1;
        const uint32_t *trig = t->trig + l->trig_first;
        for (uint32_t i = 0; i < l->trig_count; i++) {
            if (m->topic_epoch[trig[i]] != m->epoch) {
                m->topic_epoch[trig[i]] = m->epoch;
                m->cand[m->n_cand++] = trig[i];
            }
        }
    }
    if (!l->needs_pos) {
        return;
    }
    if (m->n_hits == m->hits_cap) {
        size_t cap = m->hits_cap;
        if (GROW(m->hits, cap, m->n_hits + 1) != 0) {
            m->rc = ES_ENOMEM;
            return;
        }
        size_t cap2 = m->hits_cap;
        if (GROW(m->hit_next, cap2, m->n_hits + 1) != 0) {
            m->rc = ES_ENOMEM;
            return;
        }
        /* Both arrays grew with the same policy from the same size. */
        m->hits_cap = cap < cap2 ? cap : cap2;
    }
    int32_t h = (int32_t)m->n_hits++;
    m->hits[h].s = pos;
    m->hits[h].e = pos + l->n_pat - 1;
    m->hit_next[h] = -1;
    if (m->leaf_tail[id] < 0) {
        m->leaf_head[id] = h;
    } else {
        m->hit_next[m->leaf_tail[id]] = h;
    }
    m->leaf_tail[id] = h;
}

static void visit_postings(es_matcher *m, const ientry *e, uint32_t pos)
{
    const uint32_t *p = m->t->postings + e->first;
    for (uint32_t i = 0; i < e->count; i++) {
        if (p[i] & OWNED_BIT) {
            m->addr_epoch[p[i] & ~OWNED_BIT] = m->epoch;
        } else {
            try_leaf(m, p[i], pos);
        }
    }
}

/* Look one key up in the exact table and, at each wildcard length, the prefix table. */
static void scan_key(es_matcher *m, uint8_t cls, const char *body, uint32_t len, uint32_t pos)
{
    const es_topics *t = m->t;
    uint64_t h = fnv_step(FNV_INIT, cls);
    size_t maxp = len < t->max_plen ? len : t->max_plen;
    size_t i = 0;
    for (; i < maxp; i++) {
        h = fnv_step(h, (unsigned char)body[i]);
        if (t->plen[i + 1]) {
            const ientry *e = lookup(t, t->prefix, t->prefix_mask, h, cls, body, i + 1);
            if (e != NULL) {
                visit_postings(m, e, pos);
            }
        }
    }
    for (; i < len; i++) {
        h = fnv_step(h, (unsigned char)body[i]);
    }
    const ientry *e = lookup(t, t->exact, t->exact_mask, h, cls, body, len);
    if (e != NULL) {
        visit_postings(m, e, pos);
    }
}

static bool possessive(const char *body, uint32_t len)
{
    return len > 2 && body[len - 2] == '\'' && body[len - 1] == 's';
}

/*
 * The tokenizer keeps "acme's" and "acme-branded" whole, but a social team
 * listening for `acme` wants both: so a word is also looked up without a
 * possessive 's, and each part of a hyphenated word is looked up on its own,
 * all at the word's position.
 */
static void scan_word_parts(es_matcher *m, const char *body, uint32_t len, uint32_t pos)
{
    if (possessive(body, len)) {
        len -= 2;
        scan_key(m, CLS_WORD, body, len, pos);
    }
    if (memchr(body, '-', len) == NULL) {
        return;
    }
    uint32_t start = 0;
    for (uint32_t i = 0; i <= len; i++) {
        if (i == len || body[i] == '-') {
            if (i > start && i - start < len) {
                scan_key(m, CLS_WORD, body + start, i - start, pos);
            }
            start = i + 1;
        }
    }
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s ? 1 : 0;
}

/* Gather the positions of a NEAR operand's leaves, sorted by start. */
static size_t gather(es_matcher *m, const uint32_t *leaves, uint32_t n, span **buf, size_t *cap)
{
    size_t k = 0;
    uint32_t sources = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = leaves[i];
        if (m->leaf_epoch[id] != m->epoch) {
            continue;
        }
        sources++;
        for (int32_t h = m->leaf_head[id]; h >= 0; h = m->hit_next[h]) {
            if (GROW(*buf, *cap, k + 1) != 0) {
                m->rc = ES_ENOMEM;
                return 0;
            }
            (*buf)[k++] = m->hits[h];
        }
    }
    /* One leaf's hits are already in text order; several need merging. */
    if (sources > 1) {
        qsort(*buf, k, sizeof **buf, span_cmp);
    }
    return k;
}

/* Is some b in B (sorted by start) starting after some a in A ends, within d? */
static bool near_ordered(const span *a, size_t na, const span *b, size_t nb, uint32_t d)
{
    for (size_t i = 0; i < na; i++) {
        /* First b with start > a.e. */
        size_t lo = 0, hi = nb;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (b[mid].s > a[i].e) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if (lo < nb && b[lo].s - a[i].e <= d) {
            return true;
        }
    }
    return false;
}

static bool eval_near(es_matcher *m, const mnode *n)
{
    const uint32_t *k = m->t->kids + n->a;
    size_t na = gather(m, k, n->b, &m->sa, &m->sa_cap);
    if (na == 0) {
        return false;
    }
    size_t nb = gather(m, k + n->b, n->c, &m->sb, &m->sb_cap);
    if (nb == 0) {
        return false;
    }
    if (near_ordered(m->sa, na, m->sb, nb, n->d)) {
        return true;
    }
    return !n->ordered && near_ordered(m->sb, nb, m->sa, na, n->d);
}

static bool str_ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn) {
        return false;
    }
    for (size_t i = 0; i < an; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (char)(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = (char)(y - 'A' + 'a');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

static bool cmp_count(int64_t have, es_qcmp c, int64_t want)
{
    if (have < 0) {
        return false; /* unknown counts satisfy no comparison */
    }
    switch (c) {
    case ES_QC_EQ:
        return have == want;
    case ES_QC_LT:
        return have < want;
    case ES_QC_LE:
        return have <= want;
    case ES_QC_GT:
        return have > want;
    case ES_QC_GE:
        return have >= want;
    }
    return false;
}

static bool eval_field(const es_matcher *m, const mnode *n)
{
    const es_mention *mn = m->mention;
    const char *v = astr(m->t, n->a);
    size_t vn = n->b;
    switch ((es_qfield)n->field) {
    case ES_QF_LANG:
        /* lang:en also matches regional tags such as en-US and en_GB. */
        if (mn->lang.ptr == NULL || mn->lang.len < vn) {
            return false;
        }
        return str_ieq(mn->lang.ptr, vn, v, vn) &&
               (mn->lang.len == vn || mn->lang.ptr[vn] == '-' || mn->lang.ptr[vn] == '_');
    case ES_QF_AUTHOR: {
        const char *a = mn->author.ptr;
        size_t an = mn->author.len;
        if (a == NULL) {
            return false;
        }
        if (an > 0 && a[0] == '@') {
            a++;
            an--;
        }
        return str_ieq(a, an, v, vn);
    }
    case ES_QF_SOURCE:
        return mn->source.ptr != NULL && str_ieq(mn->source.ptr, mn->source.len, v, vn);
    case ES_QF_IS_REPLY:
        return mn->reply_to.ptr != NULL && mn->reply_to.len > 0;
    case ES_QF_FOLLOWERS:
        return cmp_count(mn->followers, (es_qcmp)n->cmp, n->num);
    case ES_QF_LIKES:
        return cmp_count(mn->likes, (es_qcmp)n->cmp, n->num);
    case ES_QF_REPOSTS:
        return cmp_count(mn->reposts, (es_qcmp)n->cmp, n->num);
    case ES_QF_REPLIES:
        return cmp_count(mn->replies, (es_qcmp)n->cmp, n->num);
    }
    return false;
}

static bool eval_regex(es_matcher *m, uint32_t id)
{
    if (m->regex_epoch[id] == m->epoch) {
        return m->regex_val[id];
    }
    const es_str *text = &m->mention->text;
    int rc = pcre2_match(m->t->regexes[id].code, (PCRE2_SPTR)(text->ptr ? text->ptr : ""),
                         text->ptr ? text->len : 0, 0, 0, m->md, m->mctx);
    /* Hitting a limit (PCRE2_ERROR_MATCHLIMIT, ...) is "no match": the
     * regex was too expensive for this text, and the engine moves on. */
    bool v = rc >= 0;
    m->regex_epoch[id] = m->epoch;
    m->regex_val[id] = v;
    return v;
}

static bool eval(es_matcher *m, uint32_t id)
{
    const es_topics *t = m->t;
    const mnode *n = &t->nodes[id];
    switch (n->type) {
    case M_LEAF:
        return m->leaf_epoch[n->a] == m->epoch;
    case M_FIELD:
        return eval_field(m, n);
    case M_REGEX:
        return eval_regex(m, n->a);
    case M_NEAR:
        return eval_near(m, n);
    case M_NOT:
        return !eval(m, n->a);
    case M_AND:
        for (uint32_t i = 0; i < n->b; i++) {
            if (!eval(m, t->kids[n->a + i])) {
                return false;
            }
        }
        return true;
    case M_OR:
        for (uint32_t i = 0; i < n->b; i++) {
            if (eval(m, t->kids[n->a + i])) {
                return true;
            }
        }
        return false;
    }
    return false;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

int es_topics_match(es_matcher *m, const es_mention *mention, const uint32_t **ids, size_t *n)
{
    *ids = m->out;
    *n = 0;
    const char *text = mention->text.ptr != NULL ? mention->text.ptr : "";
    size_t text_len = mention->text.ptr != NULL ? mention->text.len : 0;
    int rc = es_tokenize(text, text_len, &m->toks);
    if (rc != 0) {
        m->mention = NULL;
        return rc;
    }
    return es__topics_match_tokens(m, mention, &m->toks, ids, n);
}

int es__topics_match_tokens(es_matcher *m, const es_mention *mention, const es_tokens *toks,
                            const uint32_t **ids, size_t *n)
{
    *ids = m->out;
    *n = 0;
    const es_topics *t = m->t;
    next_epoch(m);
    m->mention = mention;

    /* Give every non-punctuation token a position and a key. */
    if (GROW(m->ptoks, m->ptoks_cap, toks->n + 1) != 0) {
        return ES_ENOMEM;
    }
    m->n_ptoks = 0;
    for (size_t i = 0; i < toks->n; i++) {
        ptok *k = &m->ptoks[m->n_ptoks];
        if (tok_key(toks, i, &k->cls, &k->body, &k->len)) {
            m->n_ptoks++;
        }
    }

    for (size_t i = 0; i < m->n_ptoks; i++) {
        const ptok *k = &m->ptoks[i];
        scan_key(m, k->cls, k->body, k->len, (uint32_t)i);
        if (k->cls == CLS_HASHTAG) {
            scan_key(m, CLS_WORD, k->body, k->len, (uint32_t)i);
        } else if (k->cls == CLS_WORD) {
            scan_word_parts(m, k->body, k->len, (uint32_t)i);
        }
    }
    if (m->rc != 0) {
        return m->rc;
    }

    /* Candidates in ascending order, merged with the always-evaluated topics. */
    if (m->n_cand > 1) {
        qsort(m->cand, m->n_cand, sizeof *m->cand, u32_cmp);
    }
    size_t ci = 0, ai = 0, k = 0;
    while (ci < m->n_cand || ai < t->n_always) {
        uint32_t id;
        if (ai >= t->n_always || (ci < m->n_cand && m->cand[ci] <= t->always[ai])) {
            id = m->cand[ci++];
            if (ai < t->n_always && t->always[ai] == id) {
                ai++;
            }
        } else {
            id = t->always[ai++];
        }
        if (eval(m, t->topics[id].root)) {
            m->out[k++] = id;
        }
    }
    if (m->rc != 0) {
        return m->rc;
    }
    *n = k;
    return 0;
}

/* Is the author one of the topic's own accounts? */
static bool by_owner(const es_topics *t, size_t id, const es_mention *mention)
{
    const char *a = mention->author.ptr;
    size_t an = mention->author.len;
    if (a == NULL) {
        return false;
    }
    if (an > 0 && a[0] == '@') {
        a++;
        an--;
    }
    const topic_rec *tp = &t->topics[id];
    for (uint32_t i = 0; i < tp->n_owned; i++) {
        const char *o = astr(t, t->owned[tp->owned_first + i]);
        if (str_ieq(a, an, o, strlen(o))) {
            return true;
        }
    }
    return false;
}

bool es_matcher_addressed(const es_matcher *m, size_t topic)
{
    const es_topics *t = m->t;
    if (m->mention == NULL || topic >= t->n_topics || m->addr_epoch[topic] != m->epoch) {
        return false;
    }
    return !by_owner(t, topic, m->mention);
}

/*
 * Could the text @-mention one of the topic's owned handles? A byte scan
 * that never says no wrongly: each '@' is compared, ASCII case-insensitively,
 * with each owned body (owned bodies with non-ASCII letters always say
 * maybe). Most texts are settled here without tokenizing.
 */
static bool maybe_addressed(const es_topics *t, const topic_rec *tp, const char *s, size_t n)
{
    for (uint32_t j = 0; j < tp->n_owned; j++) {
        const char *o = astr(t, t->owned[tp->owned_first + j]);
        for (const char *c = o; *c != '\0'; c++) {
            if ((unsigned char)*c >= 0x80) {
                return true;
            }
        }
    }
    for (const char *at = memchr(s, '@', n); at != NULL;
         at = memchr(at + 1, '@', n - (size_t)(at + 1 - s))) {
        size_t rest = n - (size_t)(at + 1 - s);
        for (uint32_t j = 0; j < tp->n_owned; j++) {
            const char *o = astr(t, t->owned[tp->owned_first + j]);
            size_t on = strlen(o);
            if (on <= rest && str_ieq(at + 1, on, o, on)) {
                return true;
            }
        }
        if (rest == 0) {
            break;
        }
    }
    return false;
}

bool es_topics_addressed(const es_topics *t, size_t topic, const es_mention *mention)
{
    if (t == NULL || topic >= t->n_topics || mention->text.ptr == NULL ||
        t->topics[topic].n_owned == 0 || by_owner(t, topic, mention) ||
        !maybe_addressed(t, &t->topics[topic], mention->text.ptr, mention->text.len)) {
        return false;
    }
    es_tokens toks;
    es_tokens_init(&toks);
    bool found = false;
    if (es_tokenize(mention->text.ptr, mention->text.len, &toks) == 0) {
        const topic_rec *tp = &t->topics[topic];
        for (size_t i = 0; i < toks.n && !found; i++) {
            uint8_t cls;
            const char *body;
            uint32_t len;
            if (!tok_key(&toks, i, &cls, &body, &len) || cls != CLS_HANDLE) {
                continue;
            }
            for (uint32_t j = 0; j < tp->n_owned && !found; j++) {
                const char *o = astr(t, t->owned[tp->owned_first + j]);
                found = strlen(o) == len && memcmp(o, body, len) == 0;
            }
        }
    }
    es_tokens_free(&toks);
    return found;
}
