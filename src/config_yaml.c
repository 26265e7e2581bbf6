/*
 * YAML -> a tree of nodes with positions, on libyaml's event parser.
 *
 * We build our own tree instead of using libyaml's document API because the
 * config needs what that API does not give: duplicate keys as errors, merge
 * keys (`<<`), the position of a scalar's first content character (so a
 * query error can point into the file), and caps on nesting and on the
 * size of the document after alias expansion (an "alias bomb" of nested
 * aliases must be an error, not an out-of-memory).
 *
 * All nodes and strings live in one arena owned by the tree; nodes reached
 * through an alias are shared, never copied.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- Arena ---------------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct anchor {
    char *name; /* in the arena */
    const es_cfg_node *node;
};

struct es_cfg_tree {
    struct chunk *chunks;
    const es_cfg_node *root;
    /* Anchors, open addressing; rebuilt at 50% load. Live during parsing. */
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
};

void *es__cfg_alloc(es_cfg_tree *t, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = t->chunks;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (c == NULL) {
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = t->chunks;
        t->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *es__cfg_strdup(es_cfg_tree *t, const char *s, size_t n)
{
    char *p = es__cfg_alloc(t, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void es__cfg_tree_free(es_cfg_tree *t)
{
    if (t == NULL) {
        return;
    }
    struct chunk *c = t->chunks;
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(t->anchors);
    free(t);
}

const es_cfg_node *es__cfg_root(const es_cfg_tree *t)
{
    return t->root;
}

const es_cfg_node *es__cfg_map_get(const es_cfg_node *map, const char *key)
{
    if (map == NULL || map->kind != ES_CFG_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->pairs[i].key->str, key) == 0) {
            return map->pairs[i].val;
        }
    }
    return NULL;
}

const char *es__cfg_kind_name(es_cfg_kind k)
{
    switch (k) {
    case ES_CFG_NULL:
        return "nothing";
    case ES_CFG_SCALAR:
        return "a value";
    case ES_CFG_SEQ:
        return "a list";
    case ES_CFG_MAP:
        return "a mapping";
    }
    return "?";
}

/* ---- Anchors ---------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static int anchor_put(es_cfg_tree *t, char *name, const es_cfg_node *node)
{
    if ((t->n_anchors + 1) * 2 > t->cap_anchors) {
        size_t cap = t->cap_anchors ? t->cap_anchors * 2 : 64;
        struct anchor *a = calloc(cap, sizeof *a);
        if (a == NULL) {
            return ES_ENOMEM;
        }
        for (size_t i = 0; i < t->cap_anchors; i++) {
            if (t->anchors[i].name != NULL) {
                size_t j = hash_str(t->anchors[i].name) & (cap - 1);
                while (a[j].name != NULL) {
                    j = (j + 1) & (cap - 1);
                }
                a[j] = t->anchors[i];
            }
        }
        free(t->anchors);
        t->anchors = a;
        t->cap_anchors = cap;
    }
    size_t j = hash_str(name) & (t->cap_anchors - 1);
    while (t->anchors[j].name != NULL) {
        if (strcmp(t->anchors[j].name, name) == 0) {
            t->anchors[j].node = node; /* YAML: a redefined anchor shadows the old one */
            return 0;
        }
        j = (j + 1) & (t->cap_anchors - 1);
    }
    t->anchors[j].name = name;
    t->anchors[j].node = node;
    t->n_anchors++;
    return 0;
}

static const es_cfg_node *anchor_get(const es_cfg_tree *t, const char *name)
{
    if (t->cap_anchors == 0) {
        return NULL;
    }
    size_t j = hash_str(name) & (t->cap_anchors - 1);
    while (t->anchors[j].name != NULL) {
        if (strcmp(t->anchors[j].name, name) == 0) {
            return t->anchors[j].node;
        }
        j = (j + 1) & (t->cap_anchors - 1);
    }
    return NULL;
}

/* ---- The builder ------------------------------------------------------------ */

struct builder {
    es_cfg_tree *t;
    yaml_parser_t parser;
    const char *data;
    size_t len;
    es_cfg_report_fn report;
    void *ud;
    int n_errors;
    bool fatal;
    uint64_t weight; /* nodes so far, counting alias and merge expansion */
};

static void report(struct builder *b, int code, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void report(struct builder *b, int code, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->n_errors++;
    if (b->report != NULL) {
        b->report(b->ud, code, line, col, msg);
    }
}

static void fatal(struct builder *b, int code, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void fatal(struct builder *b, int code, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!b->fatal) {
        b->fatal = true;
        b->n_errors++;
        if (b->report != NULL) {
            b->report(b->ud, code, line, col, msg);
        }
    }
}

static bool has_tab_indent(const struct builder *b, size_t line0)
{
    /* Find the start of 0-based line `line0` and look at its indentation. */
    size_t i = 0, line = 0;
    while (i < b->len && line < line0) {
        if (b->data[i++] == '\n') {
            line++;
        }
    }
    for (; i < b->len && (b->data[i] == ' ' || b->data[i] == '\t'); i++) {
        if (b->data[i] == '\t') {
            return true;
        }
    }
    return false;
}

/* Pull the next event; a syntax error is fatal and names libyaml's position. */
static bool next_event(struct builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev)) {
        return true;
    }
    const yaml_parser_t *p = &b->parser;
    int line = (int)p->problem_mark.line + 1;
    int col = (int)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory while parsing YAML");
    } else if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a line. */
        int rl = 1, rc = 1;
        for (size_t i = 0; i < p->problem_offset && i < b->len; i++) {
            if (b->data[i] == '\n') {
                rl++;
                rc = 1;
            } else if (((unsigned char)b->data[i] & 0xC0) != 0x80) {
                rc++;
            }
        }
        fatal(b, ES_ECONFIG, rl, rc, "YAML: %s (byte %zu)", p->problem ? p->problem : "bad input",
              p->problem_offset);
    } else if (has_tab_indent(b, p->problem_mark.line)) {
        fatal(b, ES_ECONFIG, line, col,
              "YAML: a tab is used for indentation; YAML indents with spaces only");
    } else if (p->context != NULL) {
        fatal(b, ES_ECONFIG, line, col, "YAML: %s %s that starts at line %d, column %d",
              p->problem ? p->problem : "syntax error", p->context, (int)p->context_mark.line + 1,
              (int)p->context_mark.column + 1);
    } else {
        fatal(b, ES_ECONFIG, line, col, "YAML: %s", p->problem ? p->problem : "syntax error");
    }
    return false;
}

/* Only the core schema's tags mean something to us; anything else (a
 * language-specific object, a custom tag) would be silently misread. */
static bool tag_ok(struct builder *b, const yaml_char_t *tag, const yaml_mark_t *m)
{
    static const char *const core[] = {"str", "int", "float", "bool", "null", "map", "seq"};
    const char *t = (const char *)tag;
    if (t == NULL || strcmp(t, "!") == 0) {
        return true;
    }
    if (strncmp(t, "tag:yaml.org,2002:", 18) == 0) {
        for (size_t i = 0; i < sizeof core / sizeof core[0]; i++) {
            if (strcmp(t + 18, core[i]) == 0) {
                return true;
            }
        }
    }
    fatal(b, ES_ECONFIG, (int)m->line + 1, (int)m->column + 1,
          "unsupported YAML tag '%s' (only the standard tags are understood)", (const char *)tag);
    return false;
}

static bool count_nodes(struct builder *b, uint64_t n, const yaml_mark_t *m)
{
    b->weight += n;
    if (b->weight > ES_CONFIG_MAX_NODES) {
        fatal(b, ES_ETOOBIG, (int)m->line + 1, (int)m->column + 1,
              "the document has more than %d nodes once aliases are expanded", ES_CONFIG_MAX_NODES);
        return false;
    }
    return true;
}

static es_cfg_node *new_node(struct builder *b, es_cfg_kind kind, const yaml_mark_t *m)
{
    es_cfg_node *n = es__cfg_alloc(b->t, sizeof *n);
    if (n == NULL) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = n->vline = (int)m->line + 1;
    n->col = n->vcol = (int)m->column + 1;
    n->weight = 1;
    n->height = 1;
    return n;
}

/* Where the content of a block scalar starts: the first non-blank line after
 * the indicator line, at its indentation. */
static void block_content_pos(const struct builder *b, size_t index, int line, int *vline,
                              int *vcol)
{
    size_t i = index;
    while (i < b->len && b->data[i] != '\n') {
        i++;
    }
    while (i < b->len) {
        i++; /* past '\n' */
        line++;
        size_t s = i;
        while (i < b->len && b->data[i] == ' ') {
            i++;
        }
        if (i < b->len && b->data[i] != '\n' && b->data[i] != '\r') {
            *vline = line;
            *vcol = (int)(i - s) + 1;
            return;
        }
        while (i < b->len && b->data[i] != '\n') {
            i++;
        }
    }
}

static bool is_null_scalar(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL) {
        return false;
    }
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const es_cfg_node *build(struct builder *b, yaml_event_t *ev, int depth);

/* Copy an anchor's name out of the event, which is freed before the node ends. */
static bool copy_anchor(struct builder *b, const yaml_char_t *anchor, char **out)
{
    *out = NULL;
    if (anchor == NULL) {
        return true;
    }
    *out = es__cfg_strdup(b->t, (const char *)anchor, strlen((const char *)anchor));
    if (*out == NULL) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory");
        return false;
    }
    return true;
}

static bool register_anchor(struct builder *b, char *name, const es_cfg_node *n)
{
    if (name == NULL) {
        return true;
    }
    if (anchor_put(b->t, name, n) != 0) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory");
        return false;
    }
    return true;
}

static const es_cfg_node *build_scalar(struct builder *b, yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (!tag_ok(b, ev->data.scalar.tag, m) || !count_nodes(b, 1, m)) {
        return NULL;
    }
    es_cfg_node *n = new_node(b, is_null_scalar(ev) ? ES_CFG_NULL : ES_CFG_SCALAR, m);
    if (n == NULL) {
        return NULL;
    }
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(v, '\0', len) != NULL) {
        fatal(b, ES_ECONFIG, n->line, n->col, "a value contains a NUL character");
        return NULL;
    }
    n->str = es__cfg_strdup(b->t, v, len);
    if (n->str == NULL) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    n->len = len;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        n->quoted = true;
        n->vcol = n->col + 1;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        n->quoted = true;
        block_content_pos(b, m->index, n->line, &n->vline, &n->vcol);
        break;
    default:
        /* A tagged plain scalar (!!str 123) is a string, not a number. */
        n->quoted = ev->data.scalar.tag != NULL;
        break;
    }
    char *anchor = NULL;
    if (!copy_anchor(b, ev->data.scalar.anchor, &anchor) || !register_anchor(b, anchor, n)) {
        return NULL;
    }
    return n;
}

/* A growable array of pointers or pairs on the heap while a node is open. */
struct vec {
    void *p;
    size_t n, cap, size;
};

static bool vec_push(struct vec *v, const void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void *p = realloc(v->p, cap * v->size);
        if (p == NULL) {
            return false;
        }
        v->p = p;
        v->cap = cap;
    }
    memcpy((char *)v->p + v->n * v->size, item, v->size);
    v->n++;
    return true;
}

static const es_cfg_node *build_seq(struct builder *b, yaml_event_t *ev, int depth)
{
    const yaml_mark_t m = ev->start_mark;
    if (!tag_ok(b, ev->data.sequence_start.tag, &m) || !count_nodes(b, 1, &m)) {
        return NULL;
    }
    es_cfg_node *n = new_node(b, ES_CFG_SEQ, &m);
    char *anchor = NULL;
    struct vec items = {.size = sizeof(const es_cfg_node *)};
    bool ok = n != NULL && copy_anchor(b, ev->data.sequence_start.anchor, &anchor);
    while (ok) {
        yaml_event_t child;
        if (!next_event(b, &child)) {
            ok = false;
            break;
        }
        if (child.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&child);
            break;
        }
        const es_cfg_node *c = build(b, &child, depth + 1);
        yaml_event_delete(&child);
        if (c == NULL || !vec_push(&items, &c)) {
            if (c != NULL) {
                fatal(b, ES_ENOMEM, 0, 0, "out of memory");
            }
            ok = false;
            break;
        }
        n->weight += c->weight;
        if (c->height + 1 > n->height) {
            n->height = (uint16_t)(c->height + 1);
        }
    }
    if (ok) {
        n->n = items.n;
        n->items = es__cfg_alloc(b->t, items.n * sizeof *n->items + 1);
        if (n->items == NULL) {
            fatal(b, ES_ENOMEM, 0, 0, "out of memory");
            ok = false;
        } else if (items.n > 0) {
            memcpy(n->items, items.p, items.n * sizeof *n->items);
        }
    }
    free(items.p);
    ok = ok && register_anchor(b, anchor, n);
    return ok ? n : NULL;
}

struct merged {
    es_cfg_pair pair;
    size_t order; /* position in the combined list: explicit pairs first */
    bool explicit_;
};

static int cmp_merged(const void *a, const void *b)
{
    const struct merged *x = a, *y = b;
    int c = strcmp(x->pair.key->str, y->pair.key->str);
    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_order(const void *a, const void *b)
{
    const struct merged *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Add the pairs of a merge source (`<<: *a` or `<<: [*a, *b]`) to `all`. */
static bool add_merge_source(struct builder *b, const es_cfg_node *src, const es_cfg_node *at,
                             struct vec *all)
{
    if (src->kind == ES_CFG_SEQ) {
        for (size_t i = 0; i < src->n; i++) {
            if (src->items[i]->kind != ES_CFG_MAP) {
                fatal(b, ES_ECONFIG, src->items[i]->line, src->items[i]->col,
                      "a merge key ('<<') takes a mapping or a list of mappings");
                return false;
            }
            if (!add_merge_source(b, src->items[i], at, all)) {
                return false;
            }
        }
        return true;
    }
    if (src->kind != ES_CFG_MAP) {
        fatal(b, ES_ECONFIG, at->line, at->col,
              "a merge key ('<<') takes a mapping or a list of mappings, not %s",
              es__cfg_kind_name(src->kind));
        return false;
    }
    for (size_t i = 0; i < src->n; i++) {
        struct merged m = {.pair = src->pairs[i], .order = all->n, .explicit_ = false};
        if (!vec_push(all, &m)) {
            fatal(b, ES_ENOMEM, 0, 0, "out of memory");
            return false;
        }
    }
    return true;
}

/*
 * Close a mapping: explicit keys win over merged ones, earlier merge
 * sources over later ones; two explicit equal keys are a (non-fatal)
 * duplicate-key error. Sorting keeps this O(n log n) however big the map.
 */
static bool finish_map(struct builder *b, es_cfg_node *n, struct vec *all)
{
    struct merged *v = all->p;
    size_t cnt = all->n;
    if (cnt > 1) {
        qsort(v, cnt, sizeof *v, cmp_merged);
        size_t out = 0;
        for (size_t i = 0; i < cnt;) {
            size_t j = i + 1;
            while (j < cnt && strcmp(v[j].pair.key->str, v[i].pair.key->str) == 0) {
                if (v[j].explicit_) {
                    report(b, ES_ECONFIG, v[j].pair.key->line, v[j].pair.key->col,
                           "duplicate key '%s' (first at line %d)", v[j].pair.key->str,
                           v[i].pair.key->line);
                }
                j++;
            }
            v[out++] = v[i];
            i = j;
        }
        cnt = out;
        qsort(v, cnt, sizeof *v, cmp_order);
    }
    es_cfg_pair *pairs = es__cfg_alloc(b->t, cnt * sizeof *pairs + 1);
    if (pairs == NULL) {
        fatal(b, ES_ENOMEM, 0, 0, "out of memory");
        return false;
    }
    uint64_t w = 1;
    uint16_t h = 1;
    for (size_t i = 0; i < cnt; i++) {
        pairs[i] = v[i].pair;
        w += 1 + pairs[i].val->weight;
        if (!v[i].explicit_ && !count_nodes(b, 1 + pairs[i].val->weight,
                                            &(yaml_mark_t){.line = (size_t)n->line - 1,
                                                           .column = (size_t)n->col - 1})) {
            return false;
        }
        if (pairs[i].val->height + 1 > h) {
            h = (uint16_t)(pairs[i].val->height + 1);
        }
    }
    n->pairs = pairs;
    n->n = cnt;
    n->weight = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    n->height = h;
    return true;
}

static const es_cfg_node *build_map(struct builder *b, yaml_event_t *ev, int depth)
{
    const yaml_mark_t m = ev->start_mark;
    if (!tag_ok(b, ev->data.mapping_start.tag, &m) || !count_nodes(b, 1, &m)) {
        return NULL;
    }
    es_cfg_node *n = new_node(b, ES_CFG_MAP, &m);
    char *anchor = NULL;
    struct vec all = {.size = sizeof(struct merged)};
    struct vec merges = {.size = sizeof(const es_cfg_node *) * 2};
    bool ok = n != NULL && copy_anchor(b, ev->data.mapping_start.anchor, &anchor);
    while (ok) {
        yaml_event_t kev;
        if (!next_event(b, &kev)) {
            ok = false;
            break;
        }
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        const es_cfg_node *key = build(b, &kev, depth + 1);
        bool is_merge = key != NULL && kev.type == YAML_SCALAR_EVENT &&
                        kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                        strcmp(key->str, "<<") == 0;
        yaml_event_delete(&kev);
        if (key == NULL) {
            ok = false;
            break;
        }
        if (key->kind != ES_CFG_SCALAR) {
            fatal(b, ES_ECONFIG, key->line, key->col, "a key must be a plain value, not %s",
                  key->kind == ES_CFG_NULL ? "empty" : es__cfg_kind_name(key->kind));
            ok = false;
            break;
        }
        yaml_event_t vev;
        if (!next_event(b, &vev)) {
            ok = false;
            break;
        }
        const es_cfg_node *val = build(b, &vev, depth + 1);
        yaml_event_delete(&vev);
        if (val == NULL) {
            ok = false;
            break;
        }
        if (is_merge) {
            const es_cfg_node *pair[2] = {key, val};
            if (!vec_push(&merges, pair)) {
                fatal(b, ES_ENOMEM, 0, 0, "out of memory");
                ok = false;
            }
            continue;
        }
        struct merged e = {.pair = {key, val}, .order = all.n, .explicit_ = true};
        if (!vec_push(&all, &e)) {
            fatal(b, ES_ENOMEM, 0, 0, "out of memory");
            ok = false;
        }
    }
    for (size_t i = 0; ok && i < merges.n; i++) {
        const es_cfg_node **pair = (const es_cfg_node **)merges.p + 2 * i;
        ok = add_merge_source(b, pair[1], pair[0], &all);
    }
    ok = ok && finish_map(b, n, &all);
    free(all.p);
    free(merges.p);
    ok = ok && register_anchor(b, anchor, n);
    return ok ? n : NULL;
}

static const es_cfg_node *build(struct builder *b, yaml_event_t *ev, int depth)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (depth > ES_CONFIG_MAX_DEPTH) {
        fatal(b, ES_ECONFIG, (int)m->line + 1, (int)m->column + 1,
              "nested more than %d levels deep", ES_CONFIG_MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return build_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return build_seq(b, ev, depth);
    case YAML_MAPPING_START_EVENT:
        return build_map(b, ev, depth);
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        const es_cfg_node *n = anchor_get(b->t, name);
        if (n == NULL) {
            /* Anchors are registered when their node is complete, so this
             * also catches an alias inside its own anchor (a cycle). */
            fatal(b, ES_ECONFIG, (int)m->line + 1, (int)m->column + 1,
                  "alias '*%s' does not refer to an earlier complete anchor '&%s'", name, name);
            return NULL;
        }
        if (depth + n->height - 1 > ES_CONFIG_MAX_DEPTH) {
            fatal(b, ES_ECONFIG, (int)m->line + 1, (int)m->column + 1,
                  "alias '*%s' nests the document more than %d levels deep", name,
                  ES_CONFIG_MAX_DEPTH);
            return NULL;
        }
        if (!count_nodes(b, n->weight, m)) {
            return NULL;
        }
        return n;
    }
    default:
        fatal(b, ES_ECONFIG, (int)m->line + 1, (int)m->column + 1, "unexpected YAML event");
        return NULL;
    }
}

int es__cfg_parse(const char *data, size_t len, es_cfg_report_fn report_fn, void *ud,
                  es_cfg_tree **out, int *n_errors)
{
    *out = NULL;
    if (n_errors != NULL) {
        *n_errors = 0;
    }
    struct builder b = {.data = data, .len = len, .report = report_fn, .ud = ud};
    b.t = calloc(1, sizeof *b.t);
    if (b.t == NULL) {
        return ES_ENOMEM;
    }
    if (!yaml_parser_initialize(&b.parser)) {
        free(b.t);
        return ES_ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, len);

    const es_cfg_node *root = NULL;
    bool done = false;
    while (!done && !b.fatal) {
        yaml_event_t ev;
        if (!next_event(&b, &ev)) {
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root != NULL) {
                fatal(&b, ES_ECONFIG, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                      "a second YAML document ('---'); the config is one document");
            }
            break;
        default:
            root = build(&b, &ev, 1);
            if (root == NULL && !b.fatal) {
                fatal(&b, ES_ENOMEM, 0, 0, "out of memory");
            }
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&b.parser);
    free(b.t->anchors);
    b.t->anchors = NULL;
    b.t->n_anchors = b.t->cap_anchors = 0;
    if (n_errors != NULL) {
        *n_errors = b.n_errors;
    }
    if (b.fatal) {
        es__cfg_tree_free(b.t);
        return ES_ECONFIG;
    }
    if (root == NULL) {
        yaml_mark_t m = {0};
        es_cfg_node *n = new_node(&b, ES_CFG_NULL, &m);
        if (n == NULL) {
            es__cfg_tree_free(b.t);
            return ES_ENOMEM;
        }
        n->str = "";
        root = n;
    }
    b.t->root = root;
    *out = b.t;
    return 0;
}
