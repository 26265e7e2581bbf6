/*
 * The decoder core: byte chunks -> lines -> yajl events -> records.
 *
 * Framing. Input is cut into lines. A line that arrives whole inside a chunk
 * is parsed in place; only a line split across chunks is copied, into
 * `carry`, whose ceiling is max_record. A line longer than that (a whole
 * document on one line) is streamed to yajl in pieces instead, so memory
 * never depends on the input size. Lines are fed to ONE yajl handle that
 * accepts multiple top-level values, so a document can span any number of
 * lines and NDJSON costs one yajl_parse call per line, with no allocation.
 *
 * Records. While yajl reports events, a stack of frames follows the path
 * from the top-level value through a trie built from the active specs
 * (decode_platforms.c). A map at a node that is a record root starts a
 * record: its values at known paths are copied into `arena` and indexed in
 * `vals` by slot; its text is remembered as a slice of the piece being
 * parsed, or copied into `rec` when it spans pieces. When the record's map
 * ends, the spec's map function turns the captured values into a mention.
 * A record nested inside another record root (a listing's children inside
 * the tentative top-level record) means the outer one was a container: it
 * is dropped and the inner ones are decoded.
 *
 * Errors. yajl cannot recover from a syntax error, so the handle is freed
 * and the decoder skips to the next line starting with '{' or '['. If the
 * broken value began on an earlier line and the error shows up at a line
 * that itself starts a value (a truncated NDJSON line swallowed the start of
 * the next one), that line is parsed again from its start, so a truncated
 * line never costs its valid neighbour.
 */
#include "decode_int.h"
#include "utf8.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#define DEFAULT_MAX_RECORD ((size_t)1 << 20)
#define DEFAULT_MAX_DEPTH 64
#define MAX_MAX_RECORD ((size_t)1 << 30) /* vals hold 32-bit offsets */
#define MAX_MAX_DEPTH 4096
/* A streamed long line holds back at most max_record + this much. */
#define STREAM_SLACK ((size_t)64 << 10)
/* Twitter search responses: tweets held back until includes.users. */
#define MAX_PENDING 10000
#define PEND_ARENA_MAX ((size_t)64 << 20)
#define USERS_ARENA_MAX ((size_t)16 << 20)

/* ------------------------------------------------------------------ */
/* The path trie.                                                     */

enum { NODE_LIST = 1, NODE_AUX = 2 };

typedef struct node {
    int32_t slot;     /* value captured here, or -1 */
    int32_t elem0;    /* child for array index 0 ("[0]"), or -1 */
    int32_t elem_any; /* child for any array element ("[*]"), or -1 */
    uint16_t specs;   /* bit s: a record of spec s starts at a map here */
    uint8_t flags;    /* NODE_* */
    int8_t pair;      /* spec + 1 whose pair element this is, or 0 */
    int8_t aux_spec;  /* spec whose aux element this is (with NODE_AUX) */
} node;

typedef struct kentry {
    int32_t parent; /* -1 = empty */
    int32_t child;
    uint32_t hash;
    uint32_t len;
    const char *key; /* points into the static spec tables */
} kentry;

typedef struct frame {
    int32_t node;     /* trie node of this container, -1 = unknown subtree */
    int32_t key_node; /* node of the current key (maps) */
    uint32_t index;   /* next element index (arrays) */
    uint8_t is_array;
} frame;

typedef struct user {
    size_t id_off, id_len, name_off, name_len;
    int64_t followers;
} user;

/* The string fields of es_mention, for copying a pending record. */
static const size_t mention_str_offsets[] = {
    offsetof(es_mention, id),       offsetof(es_mention, text),   offsetof(es_mention, author),
    offsetof(es_mention, source),   offsetof(es_mention, url),    offsetof(es_mention, lang),
    offsetof(es_mention, reply_to), offsetof(es_mention, created_at),
};
#define NSTR (sizeof mention_str_offsets / sizeof mention_str_offsets[0])

typedef struct pend {
    es_mention m;       /* string pointers unset; see off[] */
    size_t off[NSTR];   /* into pend_arena, SIZE_MAX = absent */
    size_t uoff, ulen;  /* the author id to resolve */
    uint64_t line;
} pend;

struct es_decoder {
    es_decoder_opts o;
    size_t max_record;
    size_t max_depth;
    uint32_t spec_mask;

    /* trie */
    node *nodes;
    int32_t nnodes, capnodes;
    kentry *keys;
    uint32_t keycap, nkeys;
    int32_t slots[ES__SPEC_COUNT][ES__MAX_FIELDS];
    const char **slot_names;
    uint8_t *slot_aux;
    int32_t nslots, capslots;
    es__val *vals;

    /* parsing */
    yajl_handle h;
    frame *stack;
    size_t depth;
    uint32_t item_gen, aux_gen;
    es_buf arena;

    /* framing */
    es_buf carry;
    bool streaming; /* the current line is longer than carry: fed in pieces */
    bool resync;    /* skipping to a line that starts a value */
    bool finished;
    int bom_pos;    /* bytes of a leading UTF-8 BOM matched; 3 = done */
    uint64_t line;  /* the line being fed, 1-based */
    size_t col_base; /* bytes of the current line fed before this piece */
    const char *piece;
    size_t piece_len;
    bool long_line;   /* the current line is longer than carry */
    uint32_t line_events; /* yajl callbacks since the line started */
    es_buf stail;     /* long line: bytes after the last token boundary */
    bool s_in_str;    /* ... whether they are inside a string */
    bool s_esc;
    size_t s_run;     /* ... how many there are */
    size_t s_pos;     /* bytes of the long line scanned so far */
    bool dangling;   /* non-blank bytes after the last top-level value */
    int stop;        /* nonzero return of on_mention */
    int abort_code;  /* set by a callback that cancelled the parse */
    char abort_msg[128];

    /* the current top-level value */
    uint64_t top_line;
    bool top_end_here;
    size_t top_end_off;
    bool aux_seen;

    /* the current record */
    size_t item_depth; /* depth of its map, 0 = none */
    uint16_t item_specs;
    uint64_t item_line;
    bool item_in_piece;
    size_t item_off;
    bool item_toobig;
    bool item_saw_list;
    es_buf rec;
    size_t aux_depth;

    /* scratch for map functions and plain lines */
    es_buf text, url, tmp;

    /* includes.users of the current document */
    es_buf users_arena;
    user *users;
    size_t nusers, capusers;
    int32_t *uhash;
    size_t uhash_cap;

    /* twitter-v2 records waiting for includes.users */
    es_buf pend_arena;
    pend *pend;
    size_t npend, cappend;

    es_decode_stats st;
    es_error err;
};

static uint32_t hash_key(int32_t parent, const char *k, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)parent * 0x9E3779B1u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    }
    return h;
}

static int32_t node_new(es_decoder *d)
{
    if (d->nnodes == d->capnodes) {
        int32_t cap = d->capnodes ? d->capnodes * 2 : 256;
        node *n = realloc(d->nodes, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return -1;
        }
        d->nodes = n;
        d->capnodes = cap;
    }
    node *n = &d->nodes[d->nnodes];
    n->slot = -1;
    n->elem0 = -1;
    n->elem_any = -1;
    n->specs = 0;
    n->flags = 0;
    n->pair = 0;
    n->aux_spec = 0;
    return d->nnodes++;
}

static int keys_grow(es_decoder *d)
{
    uint32_t cap = d->keycap ? d->keycap * 2 : 512;
    kentry *k = malloc((size_t)cap * sizeof *k);
    if (k == NULL) {
        return ES_ENOMEM;
    }
    for (uint32_t i = 0; i < cap; i++) {
        k[i].parent = -1;
    }
    for (uint32_t i = 0; i < d->keycap; i++) {
        if (d->keys[i].parent >= 0) {
            uint32_t j = d->keys[i].hash & (cap - 1);
            while (k[j].parent >= 0) {
                j = (j + 1) & (cap - 1);
            }
            k[j] = d->keys[i];
        }
    }
    free(d->keys);
    d->keys = k;
    d->keycap = cap;
    return 0;
}

/* The child of `parent` under key k; with create, add it if missing. */
static int32_t key_child(es_decoder *d, int32_t parent, const char *k, size_t n, bool create)
{
    uint32_t h = hash_key(parent, k, n);
    if (d->keycap > 0) {
        for (uint32_t j = h & (d->keycap - 1);; j = (j + 1) & (d->keycap - 1)) {
            const kentry *e = &d->keys[j];
            if (e->parent < 0) {
                break;
            }
            if (e->hash == h && e->parent == parent && e->len == n && memcmp(e->key, k, n) == 0) {
                return e->child;
            }
        }
    }
    if (!create) {
        return -1;
    }
    if ((d->nkeys + 1) * 2 > d->keycap && keys_grow(d) != 0) {
        return -1;
    }
    int32_t c = node_new(d);
    if (c < 0) {
        return -1;
    }
    uint32_t j = h & (d->keycap - 1);
    while (d->keys[j].parent >= 0) {
        j = (j + 1) & (d->keycap - 1);
    }
    d->keys[j] = (kentry){parent, c, h, (uint32_t)n, k};
    d->nkeys++;
    return c;
}

/* Follow (creating) a path such as "data.children[*]" or "record.langs[0]". */
static int32_t path_node(es_decoder *d, int32_t from, const char *path)
{
    int32_t cur = from;
    const char *p = path;
    while (*p != '\0' && cur >= 0) {
        if (*p == '.') {
            p++;
        } else if (*p == '[') {
            bool first = p[1] == '0';
            if ((first ? d->nodes[cur].elem0 : d->nodes[cur].elem_any) < 0) {
                int32_t c = node_new(d);
                if (c < 0) {
                    return -1;
                }
                /* node_new may have moved d->nodes */
                if (first) {
                    d->nodes[cur].elem0 = c;
                } else {
                    d->nodes[cur].elem_any = c;
                }
            }
            cur = first ? d->nodes[cur].elem0 : d->nodes[cur].elem_any;
            const char *close = strchr(p, ']');
            p = close ? close + 1 : p + strlen(p);
        } else {
            size_t n = strcspn(p, ".[");
            cur = key_child(d, cur, p, n, true);
            p += n;
        }
    }
    return cur;
}

static int32_t slot_of(es_decoder *d, const char *name, bool aux)
{
    for (int32_t i = 0; i < d->nslots; i++) {
        if (strcmp(d->slot_names[i], name) == 0) {
            return i;
        }
    }
    if (d->nslots == d->capslots) {
        int32_t cap = d->capslots ? d->capslots * 2 : 64;
        const char **n = realloc(d->slot_names, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return -1;
        }
        d->slot_names = n;
        uint8_t *a = realloc(d->slot_aux, (size_t)cap);
        if (a == NULL) {
            return -1;
        }
        d->slot_aux = a;
        d->capslots = cap;
    }
    d->slot_names[d->nslots] = name;
    d->slot_aux[d->nslots] = aux;
    return d->nslots++;
}

static int build_trie(es_decoder *d)
{
    if (node_new(d) != 0) { /* the root: the top-level value */
        return ES_ENOMEM;
    }
    for (int s = 0; s < ES__SPEC_COUNT; s++) {
        for (int f = 0; f < ES__MAX_FIELDS; f++) {
            d->slots[s][f] = -1;
        }
    }
    for (int s = 0; s < ES__SPEC_COUNT; s++) {
        if (!(d->spec_mask & (1u << s))) {
            continue;
        }
        const es__spec *sp = &es__specs[s];
        for (int f = 0; f < sp->nfields; f++) {
            if ((d->slots[s][f] = slot_of(d, sp->fields[f], false)) < 0) {
                return ES_ENOMEM;
            }
        }
        for (int r = 0; r < sp->nroots; r++) {
            int32_t rn = path_node(d, 0, sp->roots[r]);
            if (rn < 0) {
                return ES_ENOMEM;
            }
            d->nodes[rn].specs |= (uint16_t)(1u << s);
            for (int f = 0; f < sp->nfields; f++) {
                if (sp->fields[f][0] == '=') {
                    continue;
                }
                int32_t n = path_node(d, rn, sp->fields[f]);
                if (n < 0) {
                    return ES_ENOMEM;
                }
                if (d->nodes[n].slot < 0) {
                    d->nodes[n].slot = d->slots[s][f];
                }
            }
            if (sp->pair != NULL) {
                int32_t n = path_node(d, rn, sp->pair->elem);
                if (n < 0) {
                    return ES_ENOMEM;
                }
                d->nodes[n].pair = (int8_t)(s + 1);
            }
        }
        for (int l = 0; l < sp->nlists; l++) {
            int32_t n = path_node(d, 0, sp->lists[l]);
            if (n < 0) {
                return ES_ENOMEM;
            }
            d->nodes[n].flags |= NODE_LIST;
        }
        if (sp->aux_elem != NULL) {
            int32_t n = path_node(d, 0, sp->aux_elem);
            if (n < 0) {
                return ES_ENOMEM;
            }
            d->nodes[n].flags |= NODE_AUX;
            d->nodes[n].aux_spec = (int8_t)s;
            for (int a = 0; a < sp->naux; a++) {
                int32_t sl = slot_of(d, sp->aux_fields[a], true);
                int32_t fn = path_node(d, 0, sp->aux_fields[a]);
                if (sl < 0 || fn < 0) {
                    return ES_ENOMEM;
                }
                /* Aux fields sit after the record fields, by convention. */
                d->slots[s][sp->nfields + a] = sl;
                d->nodes[fn].slot = sl;
            }
        }
    }
    d->vals = calloc((size_t)(d->nslots ? d->nslots : 1), sizeof *d->vals);
    return d->vals ? 0 : ES_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                              */

size_t es__utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs, 8 bytes at a time: most text is mostly ASCII. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            i += 8;
        }
        if (i >= n) {
            break;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = es_utf8_valid_len(p + i, n - i);
        if (l == 0) {
            return i;
        }
        i += l;
    }
    return n;
}

int es__utf8_sanitize(es_buf *out, const char *s, size_t n)
{
    while (n > 0) {
        size_t ok = es__utf8_valid_prefix(s, n);
        int rc = es_buf_add(out, s, ok);
        if (rc != 0 || ok == n) {
            return rc;
        }
        if ((rc = es_buf_add(out, "\xEF\xBF\xBD", 3)) != 0) {
            return rc;
        }
        s += ok + 1;
        n -= ok + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reporting and emitting.                                            */

static void report(es_decoder *d, int code, uint64_t line, size_t col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void report(es_decoder *d, int code, uint64_t line, size_t col, const char *fmt, ...)
{
    d->st.records++;
    d->st.bad++;
    if (d->o.on_error == NULL) {
        return;
    }
    es_error *e = &d->err;
    e->code = code;
    e->line = line > INT_MAX ? INT_MAX : (int)line;
    e->col = col > INT_MAX ? INT_MAX : (int)col;
    e->file[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    d->o.on_error(d->o.ud, e);
}

static int emit(es_decoder *d, const es_mention *m, uint64_t line)
{
    d->st.records++;
    d->st.mentions++;
    int rc = d->o.on_mention(d->o.ud, m, line);
    if (rc != 0) {
        d->stop = rc;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* includes.users and pending twitter-v2 records.                     */

static void users_clear(es_decoder *d)
{
    if (d->nusers > 0) {
        d->nusers = 0;
        es_buf_reset(&d->users_arena);
        memset(d->uhash, 0xFF, d->uhash_cap * sizeof *d->uhash);
    }
    d->aux_seen = false;
}

static const user *user_find(const es_decoder *d, const char *id, size_t n)
{
    if (d->uhash_cap == 0) {
        return NULL;
    }
    uint32_t h = hash_key(0, id, n);
    for (size_t j = h & (d->uhash_cap - 1);; j = (j + 1) & (d->uhash_cap - 1)) {
        int32_t u = d->uhash[j];
        if (u < 0) {
            return NULL;
        }
        const user *us = &d->users[u];
        if (us->id_len == n && memcmp(d->users_arena.data + us->id_off, id, n) == 0) {
            return us;
        }
    }
}

static void user_add(es_decoder *d, es_str id, es_str name, int64_t followers)
{
    if (user_find(d, id.ptr, id.len) != NULL || d->nusers >= INT32_MAX / 4) {
        return; /* first one wins, as the platform lists each user once */
    }
    if ((d->nusers + 1) * 2 > d->uhash_cap) {
        size_t cap = d->uhash_cap ? d->uhash_cap * 2 : 64;
        int32_t *hs = malloc(cap * sizeof *hs);
        if (hs == NULL) {
            return;
        }
        memset(hs, 0xFF, cap * sizeof *hs);
        for (size_t i = 0; i < d->nusers; i++) {
            const user *us = &d->users[i];
            uint32_t h = hash_key(0, d->users_arena.data + us->id_off, us->id_len);
            size_t j = h & (cap - 1);
            while (hs[j] >= 0) {
                j = (j + 1) & (cap - 1);
            }
            hs[j] = (int32_t)i;
        }
        free(d->uhash);
        d->uhash = hs;
        d->uhash_cap = cap;
    }
    if (d->nusers == d->capusers) {
        size_t cap = d->capusers ? d->capusers * 2 : 16;
        user *u = realloc(d->users, cap * sizeof *u);
        if (u == NULL) {
            return;
        }
        d->users = u;
        d->capusers = cap;
    }
    size_t len0 = d->users_arena.len;
    user u = {len0, id.len, len0 + id.len + 1, name.len, followers};
    if (es_buf_add(&d->users_arena, id.ptr, id.len) != 0 ||
        es_buf_addc(&d->users_arena, '\0') != 0 ||
        es_buf_add(&d->users_arena, name.ptr, name.len) != 0 ||
        es_buf_addc(&d->users_arena, '\0') != 0) {
        d->users_arena.len = len0; /* over the ceiling: the rest stay unresolved */
        return;
    }
    uint32_t h = hash_key(0, id.ptr, id.len);
    size_t j = h & (d->uhash_cap - 1);
    while (d->uhash[j] >= 0) {
        j = (j + 1) & (d->uhash_cap - 1);
    }
    d->uhash[j] = (int32_t)d->nusers;
    d->users[d->nusers++] = u;
}

static void resolve_user(const es_decoder *d, es_mention *m, const char *id, size_t n)
{
    const user *u = user_find(d, id, n);
    if (u != NULL) {
        m->author.ptr = d->users_arena.data + u->name_off;
        m->author.len = u->name_len;
        m->followers = u->followers;
    }
}

/* Keep a decoded record until includes.users arrives. */
static int pend_push(es_decoder *d, const es_mention *m, es_str want, uint64_t line)
{
    if (d->npend == d->cappend) {
        size_t cap = d->cappend ? d->cappend * 2 : 16;
        pend *p = realloc(d->pend, cap * sizeof *p);
        if (p == NULL) {
            return ES_ENOMEM;
        }
        d->pend = p;
        d->cappend = cap;
    }
    pend *p = &d->pend[d->npend];
    size_t len0 = d->pend_arena.len;
    p->m = *m;
    p->line = line;
    for (size_t i = 0; i < NSTR; i++) {
        const es_str *s = (const es_str *)((const char *)m + mention_str_offsets[i]);
        p->off[i] = SIZE_MAX;
        if (s->ptr != NULL) {
            p->off[i] = d->pend_arena.len;
            if (es_buf_add(&d->pend_arena, s->ptr, s->len) != 0 ||
                es_buf_addc(&d->pend_arena, '\0') != 0) {
                d->pend_arena.len = len0;
                return ES_ETOOBIG;
            }
        }
    }
    p->uoff = d->pend_arena.len;
    p->ulen = want.len;
    if (es_buf_add(&d->pend_arena, want.ptr, want.len) != 0 ||
        es_buf_addc(&d->pend_arena, '\0') != 0) {
        d->pend_arena.len = len0;
        return ES_ETOOBIG;
    }
    d->npend++;
    return 0;
}

/* Emit every pending record, with whatever users are known by now. */
static int pend_flush(es_decoder *d)
{
    int rc = 0;
    for (size_t i = 0; i < d->npend && rc == 0; i++) {
        pend *p = &d->pend[i];
        es_mention m = p->m;
        for (size_t k = 0; k < NSTR; k++) {
            es_str *s = (es_str *)((char *)&m + mention_str_offsets[k]);
            s->ptr = p->off[k] == SIZE_MAX ? NULL : d->pend_arena.data + p->off[k];
        }
        resolve_user(d, &m, d->pend_arena.data + p->uoff, p->ulen);
        rc = emit(d, &m, p->line);
    }
    d->npend = 0;
    es_buf_reset(&d->pend_arena);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Records.                                                           */

static void rec_view(const es_decoder *d, es__rec *r, uint32_t gen)
{
    r->vals = d->vals;
    r->gen = gen;
    r->arena = d->arena.data ? d->arena.data : "";
    r->slots = (const int32_t(*)[ES__MAX_FIELDS])d->slots;
    r->raw.ptr = NULL;
    r->raw.len = 0;
    r->line = d->item_line;
    r->flags = d->o.flags;
    r->text = (es_buf *)&d->text;
    r->url = (es_buf *)&d->url;
    r->tmp = (es_buf *)&d->tmp;
    r->want_user.ptr = NULL;
    r->want_user.len = 0;
}

static size_t consumed(const es_decoder *d)
{
    return yajl_get_bytes_consumed(d->h);
}

static void store(es_decoder *d, int32_t slot, int type, const char *p, size_t n)
{
    if (d->item_depth == 0 && d->aux_depth == 0) {
        return; /* between records: nothing to keep */
    }
    es__val *v = &d->vals[slot];
    v->gen = d->slot_aux[slot] ? d->aux_gen : d->item_gen;
    v->type = (uint8_t)type;
    v->off = 0;
    v->len = 0;
    if (type == ES__V_STR || type == ES__V_NUM) {
        size_t off = d->arena.len;
        int rc = type == ES__V_STR ? es__utf8_sanitize(&d->arena, p, n) : es_buf_add(&d->arena, p, n);
        if (rc == 0) {
            rc = es_buf_addc(&d->arena, '\0');
        }
        if (rc != 0) {
            d->arena.len = off;
            v->gen = 0;
            if (d->item_depth != 0) {
                d->item_toobig = true;
            }
            return;
        }
        v->off = (uint32_t)off;
        v->len = (uint32_t)(d->arena.len - off - 1);
    }
}

static void item_begin(es_decoder *d, const node *nd)
{
    /* A record inside a tentative record: the outer one is a container
     * (a listing, a search response). Drop it; its text is not needed. */
    d->item_depth = d->depth;
    d->item_specs = nd->specs;
    d->item_line = d->line;
    if (++d->item_gen == 0) {
        d->item_gen = 1;
    }
    es_buf_reset(&d->arena);
    d->item_toobig = false;
    d->item_saw_list = false;
    size_t c = consumed(d);
    d->item_off = c > 0 ? c - 1 : 0;
    d->item_in_piece = true;
    es_buf_reset(&d->rec);
}

static int item_end(es_decoder *d)
{
    es_str raw = {NULL, 0};
    size_t end = consumed(d);
    if (!d->item_toobig) {
        if (d->item_in_piece) {
            raw.ptr = d->piece + d->item_off;
            raw.len = end - d->item_off;
        } else if (es_buf_add(&d->rec, d->piece, end) == 0) {
            raw.ptr = d->rec.data;
            raw.len = d->rec.len;
        } else {
            d->item_toobig = true;
        }
        if (raw.len > d->max_record) {
            d->item_toobig = true;
        }
    }
    if (d->item_toobig) {
        if (!d->item_saw_list) {
            report(d, ES_ETOOBIG, d->item_line, 0, "record exceeds %zu bytes", d->max_record);
        }
        return 0;
    }
    es__rec r;
    rec_view(d, &r, d->item_gen);
    r.raw = raw;
    uint16_t specs = d->item_specs;
    int s;
    if ((specs & (specs - 1)) == 0) {
        for (s = 0; s < ES__SPEC_COUNT && !(specs & (1u << s)); s++) {
        }
    } else {
        s = es__detect(&r, specs);
    }
    es_buf_reset(&d->text);
    es_buf_reset(&d->url);
    es_buf_reset(&d->tmp);
    es_mention m;
    es_mention_clear(&m);
    es_error e;
    e.msg[0] = '\0';
    int rc = es__specs[s].map(&r, &m, &e);
    if (rc == ES__SKIP) {
        return 0;
    }
    if (rc < 0) {
        /* An object holding an (empty) list of records is a container
         * that happens to hold none: not an error. */
        if (!d->item_saw_list) {
            report(d, rc, d->item_line, 0, "%s", e.msg);
        }
        return 0;
    }
    if (r.want_user.ptr != NULL) {
        if (d->depth > 0 && !d->aux_seen && d->npend < MAX_PENDING &&
            pend_push(d, &m, r.want_user, d->item_line) == 0) {
            return 0;
        }
        resolve_user(d, &m, r.want_user.ptr, r.want_user.len);
    }
    return emit(d, &m, d->item_line);
}

static void aux_end(es_decoder *d, const node *nd)
{
    es__rec r;
    rec_view(d, &r, d->aux_gen);
    es_str id, name;
    int64_t followers;
    (void)nd;
    if (es__aux_user(&r, &id, &name, &followers) == 0) {
        user_add(d, id, name, followers);
    }
    d->aux_seen = true;
    d->aux_depth = 0;
}

static void pair_begin(es_decoder *d, const node *nd)
{
    int s = nd->pair - 1;
    const es__pair *p = es__specs[s].pair;
    d->vals[d->slots[s][p->cond]].gen = 0;
    d->vals[d->slots[s][p->src]].gen = 0;
}

static void pair_end(es_decoder *d, const node *nd)
{
    int s = nd->pair - 1;
    const es__pair *p = es__specs[s].pair;
    const es__val *c = &d->vals[d->slots[s][p->cond]];
    const es__val *v = &d->vals[d->slots[s][p->src]];
    size_t n = strlen(p->value);
    if (c->gen == d->item_gen && c->type == ES__V_STR && c->len == n &&
        memcmp(d->arena.data + c->off, p->value, n) == 0 && v->gen == d->item_gen) {
        d->vals[d->slots[s][p->dst]] = *v;
    }
}

static void top_begin(es_decoder *d)
{
    d->top_line = d->line;
    users_clear(d);
}

static int top_end(es_decoder *d)
{
    d->top_end_here = true;
    d->top_end_off = consumed(d);
    d->dangling = false;
    return d->npend > 0 ? pend_flush(d) : 0;
}

/* ------------------------------------------------------------------ */
/* yajl callbacks.                                                    */

/* The trie node of the value that starts now, and advance array indexes. */
static int32_t value_node(es_decoder *d)
{
    d->line_events++;
    if (d->depth == 0) {
        return 0;
    }
    frame *f = &d->stack[d->depth - 1];
    if (!f->is_array) {
        return f->key_node;
    }
    uint32_t i = f->index++;
    if (f->node < 0) {
        return -1;
    }
    const node *n = &d->nodes[f->node];
    return (i == 0 && n->elem0 >= 0) ? n->elem0 : n->elem_any;
}

static const char *const type_names[] = {"nothing", "a string", "a number", "true",
                                         "false",   "null",     "an object", "an array"};

static int on_scalar(es_decoder *d, int type, const char *p, size_t n)
{
    int32_t id = value_node(d);
    if (d->depth == 0) {
        report(d, ES_EJSON, d->line, 0, "expected a JSON object, found %s", type_names[type]);
        return top_end(d) == 0;
    }
    if (id < 0) {
        return 1;
    }
    const node *nd = &d->nodes[id];
    if (nd->specs != 0 && d->item_depth == 0) {
        /* Inside a record this is just one of its fields' values (an
         * earshot mention may well have "items": ["a"]). */
        report(d, ES_EJSON, d->line, 0, "expected a JSON object for a record, found %s",
               type_names[type]);
        return 1;
    }
    if (nd->slot >= 0) {
        store(d, nd->slot, type, p, n);
    }
    return 1;
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, ES__V_NULL, NULL, 0);
}

static int cb_boolean(void *ctx, int v)
{
    return on_scalar(ctx, v ? ES__V_TRUE : ES__V_FALSE, NULL, 0);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    return on_scalar(ctx, ES__V_NUM, s, n);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    return on_scalar(ctx, ES__V_STR, (const char *)s, n);
}

static int open_container(es_decoder *d, bool is_array)
{
    int32_t id = value_node(d);
    if (d->depth >= d->max_depth) {
        d->abort_code = ES_EJSON;
        snprintf(d->abort_msg, sizeof d->abort_msg, "nesting deeper than %zu levels",
                 d->max_depth);
        return 0;
    }
    if (d->depth == 0) {
        top_begin(d);
    }
    frame *f = &d->stack[d->depth++];
    f->node = id;
    f->key_node = -1;
    f->index = 0;
    f->is_array = is_array;
    if (id < 0) {
        return 1;
    }
    const node *nd = &d->nodes[id];
    if (nd->slot >= 0) {
        store(d, nd->slot, is_array ? ES__V_ARRAY : ES__V_MAP, NULL, 0);
    }
    if (is_array) {
        if ((nd->flags & NODE_LIST) && d->item_depth != 0) {
            d->item_saw_list = true;
        }
        return 1;
    }
    if (nd->specs != 0) {
        item_begin(d, nd);
    }
    if ((nd->flags & NODE_AUX) && d->aux_depth == 0) {
        d->aux_depth = d->depth;
        if (++d->aux_gen == 0) {
            d->aux_gen = 1;
        }
        if (d->item_depth == 0) {
            es_buf_reset(&d->arena);
        }
    }
    if (nd->pair != 0 && d->item_depth != 0) {
        pair_begin(d, nd);
    }
    return 1;
}

static int close_container(es_decoder *d)
{
    d->line_events++;
    frame f = d->stack[--d->depth];
    if (f.node >= 0) {
        const node *nd = &d->nodes[f.node];
        if (nd->pair != 0 && d->item_depth != 0) {
            pair_end(d, nd);
        }
        if ((nd->flags & NODE_AUX) && d->aux_depth == d->depth + 1) {
            aux_end(d, nd);
        }
    }
    if (d->item_depth == d->depth + 1) {
        d->item_depth = 0;
        if (item_end(d) != 0) {
            return 0;
        }
    }
    if (d->depth == 0 && top_end(d) != 0) {
        return 0;
    }
    return 1;
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, false);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx, true);
}

static int cb_end(void *ctx)
{
    return close_container(ctx);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    es_decoder *d = ctx;
    d->line_events++;
    frame *f = &d->stack[d->depth - 1];
    f->key_node = f->node < 0 ? -1 : key_child(d, f->node, (const char *)k, n, false);
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

/* ------------------------------------------------------------------ */
/* Pieces of lines.                                                   */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool has_nonws(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_ws(p[i])) {
            return true;
        }
    }
    return false;
}

static bool starts_value(const char *p, size_t n)
{
    return n > 0 && (p[0] == '{' || p[0] == '[');
}

/* Only "," or "]" between blanks: a separator left over from an array
 * whose start was lost to an earlier error. */
static bool separator_only(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_ws(p[i])) {
        i++;
    }
    if (i < n && (p[i] == ',' || p[i] == ']')) {
        i++;
    }
    return !has_nonws(p + i, n - i);
}

static void reset_parse(es_decoder *d)
{
    if (d->h != NULL) {
        yajl_free(d->h);
        d->h = NULL;
    }
    d->depth = 0;
    d->item_depth = 0;
    d->aux_depth = 0;
    d->dangling = false;
    d->abort_code = 0;
}

static int json_piece(es_decoder *d, const char *p, size_t n);

/* yajl gave up on this piece: report, forget the value, find a restart. */
static int syntax_error(es_decoder *d, const char *p, size_t n, bool at_line_start)
{
    size_t off = consumed(d);
    char msg[256];
    int code = ES_EJSON;
    if (d->abort_code != 0) {
        code = d->abort_code;
        snprintf(msg, sizeof msg, "%s", d->abort_msg);
    } else {
        unsigned char *e = yajl_get_error(d->h, 0, (const unsigned char *)p, n);
        snprintf(msg, sizeof msg, "%s", e ? (const char *)e : "syntax error");
        if (e != NULL) {
            yajl_free_error(d->h, e);
        }
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '.' || msg[l - 1] == ' ')) {
            msg[--l] = '\0';
        }
    }
    /* yajl's offset is consistent however the line is split (it is 0 when
     * the bad byte opens this piece), so add it to the bytes fed before. */
    size_t col = d->col_base + off;
    if (col == 0) {
        col = 1;
    }
    bool open = d->depth > 0;
    uint64_t start = d->item_depth ? d->item_line : open ? d->top_line : d->line;
    if (!open && d->top_end_here && d->abort_code == 0 && !d->long_line &&
        separator_only(p + d->top_end_off, n - d->top_end_off)) {
        /* Silently drop the separator; the value before it was fine. (Only
         * for a line parsed whole: a streamed piece is not the whole rest
         * of its line, and the answer must not depend on chunking.) */
    } else if (start != d->line) {
        report(d, code, start, col, "invalid JSON at line %llu column %zu: %s",
               (unsigned long long)d->line, col, msg);
    } else {
        report(d, code, start, col, "invalid JSON at column %zu: %s", col, msg);
    }
    uint64_t top_line = d->top_line;
    reset_parse(d);
    if (d->npend > 0) {
        int rc = pend_flush(d);
        if (rc != 0) {
            return rc;
        }
    }
    if (open && at_line_start && d->line_events == 0 && top_line < d->line &&
        starts_value(p, n)) {
        /* The broken value swallowed the start of this line and broke on
         * its first token: nothing of this line has been decoded yet, so
         * parse it again as a value of its own. */
        return json_piece(d, p, n);
    }
    d->resync = true;
    d->col_base += n;
    return 0;
}

static int json_piece(es_decoder *d, const char *p, size_t n)
{
    bool at_line_start = d->col_base == 0;
    /*
     * A line starting a value in column 1 while a value is still open: in
     * NDJSON the previous line was cut short ("author": <newline>), and
     * parsing on would swallow this good line as the missing value. Only
     * the elements of a top-level array are laid out this way on purpose
     * ("[\n{...},\n{...}\n]"); pretty printers indent everything else.
     */
    if (at_line_start && d->depth > 0 && starts_value(p, n) &&
        !(d->depth == 1 && d->stack[0].is_array)) {
        uint64_t start = d->item_depth ? d->item_line : d->top_line;
        report(d, ES_EJSON, start, 0,
               "invalid JSON: the value is cut short (line %llu starts a new one)",
               (unsigned long long)d->line);
        reset_parse(d);
        if (d->npend > 0) {
            int rc = pend_flush(d);
            if (rc != 0) {
                return rc;
            }
        }
    }
    if (d->h == NULL) {
        d->h = yajl_alloc(&callbacks, NULL, d);
        if (d->h == NULL) {
            return ES_ENOMEM;
        }
        yajl_config(d->h, yajl_allow_multiple_values, 1);
        /* Strings are checked (and repaired) where they are kept. */
        yajl_config(d->h, yajl_dont_validate_strings, 1);
    }
    d->piece = p;
    d->piece_len = n;
    d->top_end_here = false;
    yajl_status st = yajl_parse(d->h, (const unsigned char *)p, n);
    if (d->stop != 0) {
        return d->stop;
    }
    if (st != yajl_status_ok) {
        return syntax_error(d, p, n, at_line_start);
    }
    /* A record still open keeps its text across pieces. */
    if (d->item_depth != 0 && !d->item_toobig) {
        size_t from = d->item_in_piece ? d->item_off : 0;
        if (d->rec.len + (n - from) > d->max_record ||
            es_buf_add(&d->rec, p + from, n - from) != 0) {
            d->item_toobig = true;
            es_buf_reset(&d->rec);
        }
        d->item_in_piece = false;
    }
    if (d->depth == 0) {
        size_t from = d->top_end_here ? d->top_end_off : 0;
        bool nonws = has_nonws(p + from, n - from);
        d->dangling = d->top_end_here ? nonws : (d->dangling || nonws);
    }
    d->col_base += n;
    return 0;
}

static int plain_piece(es_decoder *d, const char *p, size_t n, bool line_start, bool line_end)
{
    if (!(line_start && line_end)) {
        /* A line longer than carry: report it once, at its start. */
        if (line_start) {
            report(d, ES_ETOOBIG, d->line, 0, "record exceeds %zu bytes", d->max_record);
        }
        return 0;
    }
    if (n > 0 && p[n - 1] == '\n') {
        n--;
    }
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        return 0; /* blank lines are not records */
    }
    if (n > d->max_record) {
        report(d, ES_ETOOBIG, d->line, 0, "record exceeds %zu bytes", d->max_record);
        return 0;
    }
    es_mention m;
    es_mention_clear(&m);
    es_buf_reset(&d->tmp);
    es_buf_reset(&d->text);
    if (es_buf_printf(&d->tmp, "%llu", (unsigned long long)d->line) != 0) {
        return ES_ENOMEM;
    }
    m.id.ptr = d->tmp.data;
    m.id.len = d->tmp.len;
    if (es__utf8_valid_prefix(p, n) == n) {
        m.text.ptr = p;
        m.text.len = n;
    } else {
        if (es__utf8_sanitize(&d->text, p, n) != 0) {
            report(d, ES_ETOOBIG, d->line, 0, "record exceeds %zu bytes", d->max_record);
            return 0;
        }
        m.text.ptr = d->text.data;
        m.text.len = d->text.len;
    }
    return emit(d, &m, d->line);
}

/*
 * Part of a long line (longer than carry; it may still have arrived in one
 * chunk). yajl only reports consistent error offsets, and only keeps its
 * memory bounded, when no token is split between two yajl_parse calls; so
 * feed up to the last token boundary (a structural byte or blank outside
 * strings) and hold the rest back in `stail`. A run of more than
 * max_record + STREAM_SLACK bytes without a boundary (one huge token) is an
 * oversized record. Everything here depends on the bytes of the line only,
 * never on where chunks ended.
 */
static int stream_piece(es_decoder *d, const char *p, size_t n, bool line_start, bool line_end)
{
    if (line_start) {
        d->s_in_str = false;
        d->s_esc = false;
        d->s_run = 0;
        d->s_pos = 0;
        es_buf_reset(&d->stail);
    }
    const size_t bound = d->max_record + STREAM_SLACK;
    size_t k = 0; /* feed p[0..k) now */
    bool overflow = false;
    bool in_str = d->s_in_str, esc = d->s_esc;
    size_t run = d->s_run;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool boundary = false;
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == ',' || c == ':' || c == '{' || c == '}' || c == '[' || c == ']' ||
                   is_ws(c)) {
            boundary = true;
        }
        if (boundary) {
            k = i + 1;
            run = 0;
        } else if (++run > bound) {
            overflow = true;
            break;
        }
    }
    d->s_in_str = in_str;
    d->s_esc = esc;
    d->s_run = run;
    if (line_end && !overflow) {
        k = n;
    }
    /* Column of the first byte not fed now: where an oversized token starts. */
    size_t token_col = (k > 0 ? d->s_pos + k : d->s_pos - d->stail.len) + 1;
    int rc = 0;
    if (k > 0 || (line_end && d->stail.len > 0)) {
        if (d->stail.len > 0) {
            if (es_buf_add(&d->stail, p, k) != 0) {
                overflow = true; /* cannot happen: stail holds < bound */
            } else {
                rc = json_piece(d, d->stail.data, d->stail.len);
            }
            es_buf_reset(&d->stail);
        } else {
            rc = json_piece(d, p, k);
        }
    }
    d->s_pos += n;
    if (rc != 0 || d->resync) {
        return rc; /* after an error the rest of the line is skipped */
    }
    if (overflow) {
        report(d, ES_ETOOBIG, d->item_depth ? d->item_line : d->depth ? d->top_line : d->line,
               token_col, "record exceeds %zu bytes", d->max_record);
        es_buf_reset(&d->stail);
        reset_parse(d);
        d->resync = true;
        return d->npend > 0 ? pend_flush(d) : 0;
    }
    if (k < n && es_buf_add(&d->stail, p + k, n - k) != 0) {
        return ES_ENOMEM; /* cannot happen: the run is below the ceiling */
    }
    return 0;
}

/* One piece of a line: the whole line, or part of a long one. */
static int piece(es_decoder *d, const char *p, size_t n, bool line_start, bool line_end)
{
    if (line_start) {
        d->col_base = 0;
        d->line_events = 0;
        /* Long by its length, however it arrived, so that the result does
         * not depend on chunking. */
        d->long_line = !line_end || n > d->max_record + 2;
    }
    if (d->o.format == ES_FORMAT_PLAIN) {
        return plain_piece(d, p, n, line_start, line_end);
    }
    if (d->resync) {
        if (!line_start || !starts_value(p, n)) {
            d->col_base += n;
            return 0;
        }
        d->resync = false;
    }
    if (!d->long_line) {
        return json_piece(d, p, n);
    }
    return stream_piece(d, p, n, line_start, line_end);
}

/* Bytes with no newline: hold them in carry, or stream a long line. */
static int partial(es_decoder *d, const char *p, size_t n)
{
    if (d->streaming) {
        return piece(d, p, n, false, false);
    }
    if (d->carry.len + n <= d->max_record + 2) {
        return es_buf_add(&d->carry, p, n);
    }
    d->streaming = true;
    int rc = 0;
    bool first = d->carry.len == 0;
    if (!first) {
        rc = piece(d, d->carry.data, d->carry.len, true, false);
        es_buf_reset(&d->carry);
    }
    return rc != 0 ? rc : piece(d, p, n, first, false);
}

static int feed_bytes(es_decoder *d, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            return partial(d, p, (size_t)(end - p));
        }
        size_t seg = (size_t)(nl + 1 - p);
        int rc;
        if (d->streaming) {
            rc = piece(d, p, seg, false, true);
        } else if (d->carry.len > 0) {
            if (d->carry.len + seg <= d->max_record + 2) {
                rc = es_buf_add(&d->carry, p, seg);
                if (rc == 0) {
                    rc = piece(d, d->carry.data, d->carry.len, true, true);
                }
            } else {
                d->streaming = true;
                rc = piece(d, d->carry.data, d->carry.len, true, false);
                if (rc == 0) {
                    rc = piece(d, p, seg, false, true);
                }
            }
            es_buf_reset(&d->carry);
        } else {
            rc = piece(d, p, seg, true, true);
        }
        d->streaming = false;
        d->line++;
        if (rc != 0) {
            return rc;
        }
        p = nl + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public API.                                                        */

static const char *const format_names[ES_FORMAT_COUNT] = {
    [ES_FORMAT_AUTO] = "auto",         [ES_FORMAT_EARSHOT] = "earshot",
    [ES_FORMAT_MASTODON] = "mastodon", [ES_FORMAT_TWITTER_V2] = "twitter-v2",
    [ES_FORMAT_REDDIT] = "reddit",     [ES_FORMAT_HN] = "hn",
    [ES_FORMAT_BLUESKY] = "bluesky",   [ES_FORMAT_JSONFEED] = "jsonfeed",
    [ES_FORMAT_PLAIN] = "plain",
};

int es_format_parse(const char *name, es_format *out)
{
    if (name == NULL) {
        return ES_EINVAL;
    }
    for (int f = 0; f < ES_FORMAT_COUNT; f++) {
        if (strcmp(name, format_names[f]) == 0) {
            *out = (es_format)f;
            return 0;
        }
    }
    return ES_EINVAL;
}

const char *es_format_name(es_format f)
{
    return (unsigned)f < ES_FORMAT_COUNT ? format_names[f] : "?";
}

int es_decoder_new(const es_decoder_opts *o, es_decoder **out)
{
    *out = NULL;
    if (o == NULL || o->on_mention == NULL || (unsigned)o->format >= ES_FORMAT_COUNT ||
        o->max_record > MAX_MAX_RECORD || o->max_depth > MAX_MAX_DEPTH) {
        return ES_EINVAL;
    }
    es_decoder *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return ES_ENOMEM;
    }
    d->o = *o;
    d->max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
    d->max_depth = o->max_depth ? o->max_depth : DEFAULT_MAX_DEPTH;
    d->line = 1;
    d->item_gen = 1;
    d->aux_gen = 1;
    for (int s = 0; s < ES__SPEC_COUNT; s++) {
        if (o->format == ES_FORMAT_AUTO || es__specs[s].format == o->format) {
            d->spec_mask |= 1u << s;
        }
    }
    /* Decoded strings can grow (a bad byte becomes 3 bytes of U+FFFD). */
    es_buf_init(&d->arena, d->max_record * 3 + 4096);
    es_buf_init(&d->carry, d->max_record + 2);
    es_buf_init(&d->rec, d->max_record);
    es_buf_init(&d->stail, d->max_record + STREAM_SLACK + 16);
    es_buf_init(&d->text, d->max_record * 3 + 4096);
    es_buf_init(&d->url, d->max_record + 4096);
    es_buf_init(&d->tmp, d->max_record + 4096);
    es_buf_init(&d->users_arena, USERS_ARENA_MAX);
    es_buf_init(&d->pend_arena, PEND_ARENA_MAX);
    d->stack = malloc((d->max_depth + 1) * sizeof *d->stack);
    int rc = d->stack ? build_trie(d) : ES_ENOMEM;
    if (rc != 0) {
        es_decoder_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int es_decoder_feed(es_decoder *d, const char *buf, size_t len)
{
    if (d->finished) {
        return ES_EINVAL;
    }
    if (d->stop != 0) {
        return d->stop;
    }
    /* A UTF-8 byte order mark at the very start is not JSON: skip it. */
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    while (d->bom_pos < 3 && len > 0) {
        if (buf[0] == bom[d->bom_pos]) {
            d->bom_pos++;
            buf++;
            len--;
            continue;
        }
        int matched = d->bom_pos;
        d->bom_pos = 3;
        int rc = feed_bytes(d, bom, (size_t)matched);
        if (rc != 0) {
            return rc;
        }
    }
    return feed_bytes(d, buf, len);
}

int es_decoder_finish(es_decoder *d)
{
    if (d->finished) {
        return ES_EINVAL;
    }
    if (d->stop != 0) {
        return d->stop;
    }
    int rc = 0;
    if (d->bom_pos > 0 && d->bom_pos < 3) {
        static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
        int matched = d->bom_pos;
        d->bom_pos = 3;
        rc = feed_bytes(d, bom, (size_t)matched);
    }
    /* A last line without a newline. */
    if (rc == 0 && (d->carry.len > 0 || d->streaming)) {
        bool start = !d->streaming;
        rc = piece(d, d->carry.data ? d->carry.data : "", d->carry.len, start, true);
        es_buf_reset(&d->carry);
        d->streaming = false;
    }
    if (rc == 0 && d->h != NULL && !d->resync && (d->depth > 0 || d->dangling)) {
        /* yajl_complete_parse feeds itself a blank; give the callbacks a
         * piece that matches it. */
        d->piece = " ";
        d->piece_len = 1;
        d->top_end_here = false;
        bool open = d->depth > 0;
        uint64_t start = d->item_depth ? d->item_line : open ? d->top_line : d->line;
        yajl_status st = yajl_complete_parse(d->h);
        if (d->stop != 0) {
            rc = d->stop;
        } else if (st != yajl_status_ok) {
            report(d, ES_EJSON, start, d->col_base,
                   "invalid JSON: input ends inside a value (at line %llu)",
                   (unsigned long long)d->line);
        }
        reset_parse(d);
    }
    if (rc == 0 && d->npend > 0) {
        rc = pend_flush(d);
    }
    d->finished = true;
    return rc;
}

void es_decoder_stats(const es_decoder *d, es_decode_stats *out)
{
    *out = d->st;
}

void es_decoder_free(es_decoder *d)
{
    if (d == NULL) {
        return;
    }
    if (d->h != NULL) {
        yajl_free(d->h);
    }
    free(d->nodes);
    free(d->keys);
    free(d->slot_names);
    free(d->slot_aux);
    free(d->vals);
    free(d->stack);
    es_buf_free(&d->arena);
    es_buf_free(&d->carry);
    es_buf_free(&d->rec);
    es_buf_free(&d->stail);
    es_buf_free(&d->text);
    es_buf_free(&d->url);
    es_buf_free(&d->tmp);
    es_buf_free(&d->users_arena);
    free(d->users);
    free(d->uhash);
    es_buf_free(&d->pend_arena);
    free(d->pend);
    free(d);
}
