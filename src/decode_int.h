/*
 * Internals shared by the decoder core (decode.c: framing, yajl, path
 * tracking) and the platform presets (decode_platforms.c: which JSON paths
 * each format reads and how they become a mention).
 *
 * The core knows nothing about platforms. A platform is a "spec": lists of
 * paths, written in a small path syntax ("account.acct", "record.langs[0]",
 * "data.children[*]", "" for the top level), plus a map function. From the
 * active specs the core builds one trie of paths once per decoder; while
 * parsing it follows the trie key by key and stores only the values a spec
 * asked for, so unknown fields cost a failed lookup and nothing else.
 *
 * Changing es_mention? Update the map functions in decode_platforms.c, the
 * pending-record copy in decode.c (mention_str_offsets) and mention_json.c.
 */
#ifndef ES_DECODE_INT_H
#define ES_DECODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/decode.h"

/* The specs: one per record shape (twitter-v2 has two). */
enum {
    ES__SPEC_EARSHOT,
    ES__SPEC_MASTODON,
    ES__SPEC_TWITTER_LINE, /* stream line {"data":{...},"includes":...}: paths under data. */
    ES__SPEC_TWITTER,      /* element of a search response's data[] */
    ES__SPEC_REDDIT,
    ES__SPEC_HN,
    ES__SPEC_BLUESKY,
    ES__SPEC_JSONFEED,
    ES__SPEC_COUNT
};

#define ES__MAX_FIELDS 40

/* Types of a captured value. */
enum {
    ES__V_NONE = 0,
    ES__V_STR,
    ES__V_NUM, /* text of the number as written */
    ES__V_TRUE,
    ES__V_FALSE,
    ES__V_NULL,
    ES__V_MAP,  /* only "present and an object"; members are separate paths */
    ES__V_ARRAY
};

/* A captured value: bytes at arena[off .. off+len), NUL-terminated. */
typedef struct es__val {
    uint32_t gen; /* valid only while equal to the record's generation */
    uint8_t type;
    uint32_t off;
    uint32_t len;
} es__val;

/*
 * On the end of every element at `elem` (a path relative to the record),
 * if field `cond` is the string `value`, field `dst` takes field `src`'s
 * value. This is how twitter-v2 finds the replied_to entry among
 * referenced_tweets[] without building a tree.
 */
typedef struct es__pair {
    const char *elem;
    int cond;
    const char *value;
    int src;
    int dst;
} es__pair;

struct es__rec;

typedef struct es__spec {
    es_format format; /* the --format name that selects this spec */
    /* Paths relative to the record object, by field index. A path starting
     * with '=' is derived (filled by a pair), never matched in input. */
    const char *const *fields;
    int nfields;
    /* Document paths where records of this spec sit ("" = top level). */
    const char *const *roots;
    int nroots;
    /* Document paths of arrays that hold records: an object containing one
     * is a container, not a record, even when the array is empty. */
    const char *const *lists;
    int nlists;
    /* Twitter's includes.users[]: document paths, element and its fields
     * (id, username, followers), or NULL. */
    const char *aux_elem;
    const char *const *aux_fields;
    int naux;
    const es__pair *pair; /* or NULL */
    /*
     * Fill m from the record. Returns 0 (m is ready), ES__SKIP (not a
     * mention and not an error: a Reddit "more" stub, an empty listing),
     * or a negative ES_E* code with err filled (the record is bad).
     */
    int (*map)(struct es__rec *r, es_mention *m, es_error *err);
} es__spec;

#define ES__SKIP 1

extern const es__spec es__specs[ES__SPEC_COUNT];

/* What a map function sees of the record being decoded. */
typedef struct es__rec {
    const es__val *vals;
    uint32_t gen;
    const char *arena;
    const int32_t (*slots)[ES__MAX_FIELDS]; /* slots[spec][field]; -1 = not captured */
    es_str raw;      /* the record's JSON text */
    uint64_t line;   /* where it starts */
    unsigned flags;  /* ES_DECODE_* */
    es_buf *text;    /* scratch for composed text, reset per record */
    es_buf *url;     /* scratch for a composed url */
    es_buf *tmp;     /* scratch for anything else (ids written from numbers) */
    /* Out: a twitter-v2 author id still to be resolved against includes. */
    es_str want_user;
} es__rec;

/* The value of field f of spec s, or NULL when the record has none. */
static inline const es__val *es__get(const es__rec *r, int s, int f)
{
    int32_t slot = r->slots[s][f];
    if (slot < 0 || r->vals[slot].gen != r->gen) {
        return NULL;
    }
    return &r->vals[slot];
}

static inline es_str es__val_str(const es__rec *r, const es__val *v)
{
    es_str s = {r->arena + v->off, v->len};
    return s;
}

/* Which spec decodes a record found where several could sit (auto). */
int es__detect(const es__rec *r, uint32_t spec_mask);

/* The fields of one includes.users[] element, from its aux fields. */
int es__aux_user(const es__rec *r, es_str *id, es_str *name, int64_t *followers);

/*
 * Copy s[0..n) to out replacing each invalid UTF-8 sequence by U+FFFD.
 * Returns 0 or the es_buf error.
 */
int es__utf8_sanitize(es_buf *out, const char *s, size_t n);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t es__utf8_valid_prefix(const char *s, size_t n);

#endif
