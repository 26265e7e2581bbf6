/*
 * The topic query language: parser from text to an AST with positions.
 * Internal to the matcher (src/match.c), which normalizes the terms with the
 * shared tokenizer, indexes them and evaluates the tree. The grammar, by
 * precedence from loosest to tightest:
 *
 *   query   := or EOF
 *   or      := and ( "OR" and )*
 *   and     := unary ( ["AND"] unary )*          a space also means AND
 *   unary   := ("NOT" | "-") unary | near
 *   near    := primary [ ("NEAR/n" | "ONEAR/n") primary ]
 *   primary := "(" or ")" | term | "phrase" | /regex/flags | field
 *
 * Operators are upper case only, so "and", "or", "not" and "near" written in
 * lower case are ordinary words. The operands of NEAR must be terms, phrases
 * or OR-groups of them (they need token positions).
 */
#ifndef ES_QUERY_H
#define ES_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ceilings on what one query may contain; exceeding one is an error. */
#define ES_QUERY_MAX_LEN 65536     /* bytes of query text */
#define ES_QUERY_MAX_NODES 4096    /* AST nodes */
#define ES_QUERY_MAX_DEPTH 64      /* nesting of parentheses and NOTs */
#define ES_QUERY_MAX_NEAR 1000     /* largest n in NEAR/n */

typedef enum {
    ES_Q_TERM,  /* word, phrase, @handle, #hashtag, $cashtag */
    ES_Q_REGEX, /* /pattern/flags */
    ES_Q_FIELD, /* lang:en, followers>=10, is:reply, ... */
    ES_Q_AND,
    ES_Q_OR,
    ES_Q_NOT,
    ES_Q_NEAR, /* NEAR/n and ONEAR/n */
} es_qtype;

typedef enum {
    ES_QT_WORD,   /* bare word: also matches a hashtag's body */
    ES_QT_PHRASE, /* "quoted": consecutive words */
    ES_QT_HANDLE,
    ES_QT_HASHTAG,
    ES_QT_CASHTAG,
} es_qterm;

typedef enum {
    ES_QF_LANG,
    ES_QF_AUTHOR,
    ES_QF_SOURCE,
    ES_QF_IS_REPLY,
    ES_QF_FOLLOWERS,
    ES_QF_LIKES,
    ES_QF_REPOSTS,
    ES_QF_REPLIES,
} es_qfield;

typedef enum { ES_QC_EQ, ES_QC_LT, ES_QC_LE, ES_QC_GT, ES_QC_GE } es_qcmp;

/*
 * One AST node. Strings (term text, regex pattern, field value) are slices
 * of the query's string arena: `str` is an offset into es_query.strings.
 * Term text has its sigil, quotes, escapes and trailing '*' removed but is
 * not yet normalized.
 */
typedef struct es_qnode {
    es_qtype type;
    uint32_t pos; /* byte offset in the query text where the node starts */
    uint32_t end; /* byte offset just past it */
    /* AND, OR: kids[first .. first+count); NOT: one kid; NEAR: two kids */
    uint32_t first, count;
    /* TERM, REGEX, FIELD (string value) */
    uint32_t str, str_len;
    es_qterm term;
    bool wildcard;  /* TERM: trailing '*' */
    bool caseless;  /* REGEX: /.../i */
    es_qfield field;
    es_qcmp cmp;
    int64_t num;    /* numeric FIELD value */
    uint32_t dist;  /* NEAR: n */
    bool ordered;   /* NEAR: ONEAR */
} es_qnode;

typedef struct es_query {
    es_qnode *nodes;
    size_t n_nodes;
    uint32_t *kids;
    size_t n_kids;
    char *strings; /* arena; every slice is also NUL-terminated */
    size_t strings_len;
    uint32_t root;
} es_query;

/*
 * Parse `len` bytes of query text. On success fills *q (free it with
 * es__query_free) and returns 0. On a syntax error returns ES_EQUERY, sets
 * *err_off to the byte offset the error points at and writes a message
 * without position ("expected ')' to close this '('") into msg.
 * ES_ENOMEM on allocation failure.
 */
int es__query_parse(const char *text, size_t len, es_query *q, size_t *err_off, char *msg,
                    size_t msg_size);
void es__query_free(es_query *q);

static inline const char *es__query_str(const es_query *q, const es_qnode *n)
{
    return q->strings + n->str;
}

/* "lang", "followers", ...; and the comparison as written (">="). */
const char *es__query_field_name(es_qfield f);
const char *es__query_cmp_name(es_qcmp c);

#endif
