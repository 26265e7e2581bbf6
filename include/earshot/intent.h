/*
 * Intent: is a mention a complaint, a question, praise, or none of these?
 *
 * A complaint reports a failure the author experienced and wants fixed. It
 * is not the same as negative sentiment: many complaints are polite ("I need
 * to get in contact with someone regarding my order"), and many negative
 * texts are not complaints ("this movie was so sad"). The classifier combines
 * interpretable features (cue phrases, first-person experience, direction,
 * sentiment, failure questions, time expressions) in a small hand-set
 * logistic model; the weights are documented in src/intent.c and the cue
 * phrases live in data files (lexicons/INTENT.md) so a team can tune them
 * without recompiling.
 *
 * Ownership: an es_cues is immutable once loaded, so one set may be shared
 * by any number of threads. es_intent_classify() allocates nothing; the
 * es_intent it fills borrows phrase strings from the es_cues, which must
 * outlive it.
 */
#ifndef EARSHOT_INTENT_H
#define EARSHOT_INTENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct es_error;
struct es_tokens;
struct es_buf;
struct es_sentiment;

typedef enum {
    ES_INTENT_OTHER,
    ES_INTENT_COMPLAINT,
    ES_INTENT_QUESTION,
    ES_INTENT_PRAISE
} es_intent_kind;

/* "other", "complaint", "question", "praise" (the contract's names);
 * "other" for a value out of range. */
const char *es_intent_name(es_intent_kind k);

/*
 * The cue set: complaint_cues.txt, question_cues.txt and praise_cues.txt
 * from one directory, compiled into a single phrase trie.
 */
typedef struct es_cues es_cues;

/*
 * Load the three cue files from `dir` (a NUL-terminated path). On success
 * *out owns a new cue set (free it with es_cues_free). On failure returns
 * ES_EIO (a file is missing or unreadable), ES_ELEXICON (a line is wrong:
 * err names the file, line and column), ES_ETOOBIG (a file or phrase is past
 * its limit) or ES_ENOMEM, and *out is NULL.
 */
int es_cues_load(const char *dir, es_cues **out, struct es_error *err);

/* The same from three files given by path (tests, custom layouts). */
int es_cues_load_files(const char *complaint_path, const char *question_path,
                       const char *praise_path, es_cues **out, struct es_error *err);

void es_cues_free(es_cues *c);

/* Number of phrases loaded (all files, all tags); for diagnostics. */
size_t es_cues_count(const es_cues *c);

/*
 * Who the mention is aimed at. Fill with ES_INTENT_CTX_AUTO when nothing is
 * known: then any @handle in the text counts as an addressee (the contract's
 * rule for `earshot score` without a config).
 */
typedef struct es_intent_ctx {
    /* 1: addressed to or replying to an owned account; 0: known not to be;
     * -1: unknown, derive from the @handles in the text. */
    int addressed;
    /* 1: the text names a topic's brand (a topic matched it). */
    int names_brand;
} es_intent_ctx;

#define ES_INTENT_CTX_AUTO ((es_intent_ctx){-1, 0})

/*
 * The rules that can contribute to the complaint score, in the order `why`
 * lists them. Each contributes a term to the logit; complaint is
 * 1 / (1 + exp(-sum)).
 */
typedef enum {
    ES_IRULE_BIAS,
    ES_IRULE_CUE,          /* complaint cue phrases */
    ES_IRULE_DEFUSER,      /* phrases that defuse one ("no problem") */
    ES_IRULE_TIME,         /* persistence and delay ("still", "for 3 days") */
    ES_IRULE_FIRST_PERSON, /* first-person words together with a failure */
    ES_IRULE_ADDRESSED,    /* aimed at the brand: addressed, reply, or named */
    ES_IRULE_CARE_ACCOUNT, /* an @handle that looks like customer care */
    ES_IRULE_NEGATIVE,     /* negative sentiment, when aimed at the brand */
    ES_IRULE_POSITIVE,     /* positive sentiment */
    ES_IRULE_FAILURE_QUESTION,
    ES_IRULE_QUESTION,     /* a plain information question */
    ES_IRULE_PRAISE,       /* praise cue phrases */
    ES_IRULE_REPORT,       /* a link, no first person, not addressed: a report */
    ES_IRULE_COUNT
} es_intent_rule;

/* "bias", "cue", "defuser", "time", "first-person", "addressed",
 * "care-account", "negative sentiment", "positive sentiment",
 * "failure question", "question", "praise". */
const char *es_intent_rule_name(es_intent_rule r);

/* At most this many matched phrases are kept per mention (the score uses
 * all of them; `why` lists the first ones). */
#define ES_INTENT_MAX_MATCHES 16

typedef struct es_intent_match {
    es_intent_rule rule;
    const char *phrase; /* as written in the cue file (or the @handle's cue);
                           borrowed from the es_cues */
} es_intent_match;

typedef struct es_intent {
    es_intent_kind kind;
    double complaint;                  /* [0, 1] */
    double logit;                      /* sum of contrib[] */
    double contrib[ES_IRULE_COUNT];    /* each rule's term in the logit */
    double question;                   /* question evidence; >= 1.5 is a question */
    double praise;                     /* praise cue total; >= 1.0 with positive
                                          sentiment is praise */
    size_t nmatches;
    size_t dropped;                    /* matches past ES_INTENT_MAX_MATCHES */
    es_intent_match matches[ES_INTENT_MAX_MATCHES];
} es_intent;

/*
 * Classify one text. `toks` must be the tokens of exactly (text, len) as
 * produced by es_tokenize(); `s` is its sentiment (NULL: treated as
 * neutral); `ctx` may be NULL (same as ES_INTENT_CTX_AUTO). Fills *out and
 * returns 0, or ES_EINVAL for a NULL cue set, token list or output.
 * Allocates nothing; cost is linear in the number of tokens.
 */
int es_intent_classify(const es_cues *c, const struct es_tokens *toks, const char *text,
                       size_t len, const struct es_sentiment *s, const es_intent_ctx *ctx,
                       es_intent *out);

/*
 * Append the intent part of `why` to `b` as a compact JSON array, one
 * object per rule that contributed, in es_intent_rule order:
 *
 *   [{"rule":"bias","weight":-2.2},
 *    {"rule":"cue","weight":2.43,"match":["still waiting","refund*"]},
 *    {"rule":"addressed","weight":0.6}]
 *
 * The weights add up to the logit of the complaint score, so a reader can
 * reproduce the number. Returns 0 or ES_ETOOBIG / ES_ENOMEM from the buffer.
 */
int es_intent_why_json(const es_intent *in, struct es_buf *b);

#ifdef __cplusplus
}
#endif
#endif
