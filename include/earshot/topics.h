/*
 * Topics: the query language and the matcher that decide "which mentions are
 * about us". A config's topics are compiled once into an immutable es_topics
 * (shareable across threads, swapped whole on reload); each thread that
 * matches owns an es_matcher, its reusable scratch space.
 *
 * THE QUERY LANGUAGE
 *
 *   acme                 a word, matched on token boundaries (the shared
 *                        tokenizer's), case-insensitively, Unicode letters
 *                        included (CAFÉ = café). No accent folding (cafe is
 *                        not café) and no ß -> ss expansion.
 *                        A bare word also matches the body of a hashtag
 *                        (#acme), as listening tools do, but never a handle
 *                        (@acme: an account) or a cashtag ($acme: a ticker).
 *                        It also matches a possessive (acme's) and a part of
 *                        a hyphenated word (acme-branded), never the inside
 *                        of a word (acmes). A '#' glued to a word starts no
 *                        hashtag: "foo#acme" holds no #acme.
 *   "acme corp"          an exact phrase: consecutive tokens. Punctuation
 *                        takes no position, so "acme, corp" matches; inside
 *                        quotes \" and \\ escape, and a trailing * makes the
 *                        last word a wildcard ("customer serv*").
 *   @acme #acme $acme    a handle, hashtag or cashtag: only that kind.
 *   refund*              a trailing wildcard: any token starting with
 *                        "refund" (refunds, #refundnow); '*' elsewhere is an
 *                        error.
 *   a b   a AND b        both.          a OR b   either.
 *   NOT a   -a           not. Precedence: NEAR > NOT > AND > OR, so
 *                        "a b OR c -d" is (a AND b) OR (c AND NOT d).
 *                        Parentheses group. Operators are UPPER CASE; "and",
 *                        "or", "not" are ordinary words.
 *   a NEAR/n b           a and b both occur with at most n positions between
 *                        their nearest edges, in either order: adjacent words
 *                        are 1 apart, "a x b" is 2, so NEAR/1 means adjacent
 *                        and NEAR/3 allows two words between. (Brandwatch's
 *                        NEAR/n counts the words between: theirs is our n+1.)
 *                        The two occurrences may not overlap, so
 *                        "acme NEAR/2 acme" needs two acmes. Positions skip
 *                        punctuation. Operands: words, phrases, tags,
 *                        wildcards, or an OR-group of them in parentheses.
 *   a ONEAR/n b          the same, with a before b.
 *   /regex/  /regex/i    PCRE2 (UTF, Unicode classes) over the raw text,
 *                        JIT-compiled, with a match limit: a pattern that
 *                        needs more effort than the limit counts as no match
 *                        rather than stalling the engine. \/ is a slash.
 *   lang:en              the mention's language; also matches en-US, en_GB.
 *   author:jdoe          the author, case-insensitive; author:@jdoe too.
 *   source:reddit        the platform, case-insensitive.
 *   is:reply             the mention has reply_to (it replies to a post).
 *   followers>=N         also > < <= =, and likes, reposts, replies; N may be
 *                        written 10k or 2m. An unknown count satisfies no
 *                        comparison.
 *
 * A query must be able to match a mention by what it contains: a query that
 * is only negative ("-foo", "NOT (a OR b)", "a OR -b") is rejected.
 *
 * COST
 *
 * Terms are indexed; a mention is tokenized once and each token costs a few
 * hash lookups however many topics exist. A topic is evaluated only when one
 * of its trigger terms occurs (for "acme NEAR/3 late", acme). Queries with no
 * term a mention must contain (a lone /regex/, "lang:de is:reply") are
 * evaluated for every mention: keep those few. A regex beside terms in an
 * AND runs only when the terms already hold.
 */
#ifndef EARSHOT_TOPICS_H
#define EARSHOT_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct es_error es_error;
typedef struct es_mention es_mention;

/*
 * One topic as written in the config. Strings are NUL-terminated and only
 * borrowed during es_topics_compile(). `owned` lists the brand's own
 * accounts ("@acme" or "acme"), so "addressed to us" can be known.
 * `query_line`/`query_col` say where the query text starts in the config
 * file (1-based; 0 if unknown) so errors can point into the file.
 */
typedef struct es_topic_def {
    const char *name;
    const char *query;
    const char *const *owned;
    size_t n_owned;
    bool competitor;
    int query_line, query_col;
} es_topic_def;

/* Compiled topics: immutable once built, shareable across threads. */
typedef struct es_topics es_topics;

/*
 * Compile `n` topic definitions. On success *out owns a new es_topics the
 * caller frees with es_topics_free(). On failure returns ES_EQUERY (or
 * ES_ENOMEM, ES_EINVAL) and fills err, e.g.
 *   "topic 'acme': expected ')' to close the '(' at column 3"
 * with err->line/col the position in the config file when the topic's
 * query_line is given (line = query_line + newlines before the spot; col =
 * query_col + offset on the query's first line, else the 1-based column on
 * its own line), otherwise line 0 and col the 1-based column in the query.
 * Topic ids are the indexes of `defs`.
 */
int es_topics_compile(const es_topic_def *defs, size_t n, es_topics **out, es_error *err);
void es_topics_free(es_topics *t);

size_t es_topics_count(const es_topics *t);
/* Borrowed, valid while t lives. NULL/false for an out-of-range index. */
const char *es_topics_name(const es_topics *t, size_t i);
bool es_topics_competitor(const es_topics *t, size_t i);

/*
 * Write topic i's compiled query in a normalized, fully parenthesized form
 * ("(acme OR #acme) AND NOT \"acme corp\"") into buf (always NUL-terminated
 * when n > 0). Returns the length the full text needs, excluding the NUL,
 * like snprintf, or ES_EINVAL for a bad index.
 */
int es_topics_describe(const es_topics *t, size_t i, char *buf, size_t n);

/* Per-thread matching scratch. Must not outlive the es_topics it was made for. */
typedef struct es_matcher es_matcher;

int es_matcher_new(const es_topics *t, es_matcher **out);
void es_matcher_free(es_matcher *m);

/*
 * Match one mention against every topic. On success *ids points at the ids
 * of the matched topics in ascending order and *n is their number; the array
 * belongs to the matcher and is valid until its next call. Once warm a call
 * allocates nothing. Returns 0, or ES_ENOMEM / ES_ETOOBIG (text over the
 * tokenizer's limit).
 */
int es_topics_match(es_matcher *m, const es_mention *mention, const uint32_t **ids, size_t *n);

/*
 * True if the mention is addressed to one of topic's owned accounts: its
 * text @-mentions one of them (which is also how replies on every platform
 * we decode begin). A post by the owned account itself is not "addressed".
 */
bool es_topics_addressed(const es_topics *t, size_t topic, const es_mention *mention);

/*
 * The same answer for the mention last passed to es_topics_match() on this
 * matcher (which must still be valid), without tokenizing it again: the
 * owned handles are looked up in the same pass as the query terms. Use this
 * on hot paths: es_topics_addressed() settles most texts with a byte scan
 * but tokenizes (and allocates) when the text does @-mention an owned name.
 */
bool es_matcher_addressed(const es_matcher *m, size_t topic);

#ifdef __cplusplus
}
#endif
#endif
