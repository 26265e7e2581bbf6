/*
 * The sentiment lexicon as the scorer sees it: one hash table from a
 * lower-cased token (or an emoji sequence) to everything the rules need to
 * know about it, so each token costs one lookup.
 *
 * A lexicon is immutable after es_lexicon_load() returns and can be shared
 * by any number of scorers on any number of threads.
 */
#ifndef ES_LEXICON_H
#define ES_LEXICON_H

#include "earshot.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
    ES_LEX_VALENCE = 1,    /* has a valence in vader_lexicon.txt */
    ES_LEX_NEGATOR = 2,    /* listed in negations.txt */
    ES_LEX_BOOSTER = 4,    /* a one-word booster or dampener (boosters.txt) */
    ES_LEX_PHRASE = 8,     /* part of an idiom or a multi-word booster */
    ES_LEX_DVALENCE = 16,  /* has a default-mode valence (lexicon or emoticons.txt) */
    ES_LEX_GLUED_OK = 32,  /* default mode: scores even when short and glued to punctuation */
};

/* Words the rules name. Kept in code: they are the rules' structure, not data. */
enum {
    ES_W_NONE = 0,
    ES_W_NO,
    ES_W_KIND,
    ES_W_OF,
    ES_W_BUT,
    ES_W_LEAST,
    ES_W_AT,
    ES_W_VERY,
    ES_W_NEVER,
    ES_W_SO,
    ES_W_THIS,
    ES_W_WITHOUT,
    ES_W_DOUBT,
    ES_W_OR,
    ES_W_NOR
};

typedef struct es_lex_entry {
    const char *key; /* NUL-terminated, as written in the file */
    uint32_t len;
    uint32_t hash;
    double valence;  /* vader_lexicon.txt mean (the later duplicate wins) */
    double dvalence; /* default mode valence: valence unless overridden */
    double booster;  /* +0.293 booster, -0.293 dampener, else 0 */
    int32_t emoji;   /* index into es_lexicon.emoji, or -1 */
    uint16_t flags;  /* ES_LEX_* */
    uint8_t word;    /* ES_W_* */
} es_lex_entry;

/* A word of an emoji's description, pre-split at load time. */
typedef struct es_lex_dword {
    const char *text; /* lower-cased, NUL-terminated */
    uint32_t len;
    int32_t id; /* entry, or -1 when the word is unknown */
} es_lex_dword;

typedef struct es_lex_emoji {
    const char *desc; /* the description as written */
    uint32_t desc_len;
    uint32_t first, n; /* its words in es_lexicon.dwords */
} es_lex_emoji;

/* An idiom ("the shit" = 3) or a multi-word booster ("kind of" = -0.293). */
typedef struct es_lex_phrase {
    int32_t w[3];
    uint8_t n;
    double value;
} es_lex_phrase;

struct es_lexicon {
    es_lex_entry *e;
    size_t n, cap;
    uint64_t *slots; /* hash << 32 | (entry index + 1); 0 is empty */
    size_t mask;
    es_lex_emoji *emoji;
    size_t n_emoji, cap_emoji;
    es_lex_dword *dwords;
    size_t n_dwords, cap_dwords;
    es_lex_phrase idioms[32];
    size_t n_idioms;
    es_lex_phrase ngrams[8]; /* multi-word boosters */
    size_t n_ngrams;
    char **bufs; /* file contents and string copies the keys point into */
    size_t n_bufs, cap_bufs;
};

/* FNV-1a over bytes; the scorer hashes lower-cased tokens the same way. */
static inline uint32_t es_lex_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

/* The entry for key (exact bytes), or -1. */
static inline int32_t es_lex_find_h(const struct es_lexicon *lex, const char *key, size_t n,
                                    uint32_t h)
{
    size_t i = h & lex->mask;
    for (;;) {
        uint64_t s = lex->slots[i];
        if (s == 0) {
            return -1;
        }
        /* The hash sits in the slot, so a miss never touches an entry. */
        if ((uint32_t)(s >> 32) == h) {
            uint32_t k = (uint32_t)s - 1;
            const es_lex_entry *e = &lex->e[k];
            if (e->len == n && memcmp(e->key, key, n) == 0) {
                return (int32_t)k;
            }
        }
        i = (i + 1) & lex->mask;
    }
}

static inline int32_t es_lex_find(const struct es_lexicon *lex, const char *key, size_t n)
{
    return es_lex_find_h(lex, key, n, es_lex_hash(key, n));
}

#endif
