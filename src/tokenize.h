/*
 * The social-text tokenizer shared by the scorer, the topic matcher and the
 * intent classifier.
 *
 * One pass over UTF-8 text yields words, numbers, @handles, #hashtags,
 * $cashtags, URLs, emoji (whole sequences: ZWJ, skin tones, VS16, flags,
 * keycaps), ASCII emoticons and punctuation. Every token records where it
 * is in the original text and a normalized form (lower-cased, typographic
 * apostrophes folded to ') kept in one shared NUL-separated buffer.
 *
 * The tokenizer never fails on bad bytes: invalid UTF-8 and NUL act as
 * separators. It does not allocate once its buffers are warm, and it is a
 * pure function of the text, so one es_tokens per thread is all that is
 * needed.
 */
#ifndef ES_TOKENIZE_H
#define ES_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ES_TOK_WORD,
    ES_TOK_NUMBER,
    ES_TOK_HANDLE,   /* @name (also @name@instance.social) */
    ES_TOK_HASHTAG,  /* #tag */
    ES_TOK_CASHTAG,  /* $TSLA */
    ES_TOK_URL,      /* http://..., https://..., www.... */
    ES_TOK_EMOJI,    /* one emoji or emoji sequence (ZWJ, skin tone, VS16, flags) */
    ES_TOK_EMOTICON, /* :) :-( D: <3 */
    ES_TOK_PUNCT     /* one punctuation character, or a run of the same one ("!!!") */
} es_tok_kind;

enum {
    /* The token has at least one cased letter and no lower-case letter
     * ("NO", "I", "WTF"). Only word-like tokens (word, hashtag, cashtag,
     * handle) carry it; emoticons such as ":D" never do. */
    ES_TOKF_ALLCAPS = 1,
    /* Whitespace (or a separator: NUL, invalid UTF-8) or the start of the
     * text precedes the token. Tokens without it are glued to the previous
     * one ("good!" gives "good" then "!" without the flag). */
    ES_TOKF_SPACE_BEFORE = 2
};

typedef struct es_token {
    uint32_t off, len;           /* bytes in the original text */
    uint32_t norm_off, norm_len; /* normalized form in es_tokens.norm (NUL-terminated) */
    uint8_t kind;                /* es_tok_kind */
    uint8_t flags;               /* ES_TOKF_* */
} es_token;

/*
 * The tokens of one text. `v` and `norm` belong to the es_tokens and are
 * reused by the next es_tokenize() call, so anything borrowed from them is
 * valid only until then.
 */
typedef struct es_tokens {
    es_token *v;
    size_t n, cap;
    char *norm;
    size_t norm_len, norm_cap;
} es_tokens;

/* Hard cap on the number of tokens in one text. */
#define ES_TOKENS_MAX ((size_t)1 << 20)

void es_tokens_init(es_tokens *t);
void es_tokens_free(es_tokens *t);

/*
 * Tokenize `len` bytes of `text` into `out`, replacing what it held.
 * Returns 0, ES_ENOMEM, or ES_ETOOBIG when the text is longer than 4 GiB or
 * holds more than ES_TOKENS_MAX tokens (out is then empty).
 *
 * Rules worth knowing: words keep inner apostrophes and hyphens ("don't",
 * "e-mail"); '#', '@' or '$' right after a letter or digit does not start a
 * hashtag, handle or cashtag ("foo#bar" is word, punct, word; "a@b.com" has
 * no handle); a hashtag needs a non-digit ("#1" is punct + number).
 */
int es_tokenize(const char *text, size_t len, es_tokens *out);

static inline const char *es_tok_norm(const es_tokens *t, size_t i)
{
    return t->norm + t->v[i].norm_off;
}

/* Name of a kind ("word", "emoji", ...), for diagnostics and --explain. */
const char *es_tok_kind_name(int kind);

/*
 * UTF-8 and case helpers the tokenizer is built on, shared with the scorer
 * so both agree on what a letter is.
 *
 * es__utf8_next decodes one code point at s (n > 0 bytes available) into
 * *cp and returns its length; an invalid or truncated sequence returns 1
 * with *cp = ES_CP_INVALID.
 */
#define ES_CP_INVALID 0xFFFFFFFFu
size_t es__utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Encode cp (valid scalar value) into out (4 bytes room); returns length. */
size_t es__utf8_put(uint32_t cp, char *out);
/* Case of a code point over ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic: ES_CASE_UPPER, ES_CASE_LOWER or 0 (uncased or not covered). */
enum { ES_CASE_UPPER = 1, ES_CASE_LOWER = 2 };
int es__cp_case(uint32_t cp);
/* Lower-case mapping over the same ranges; other code points unchanged. */
uint32_t es__cp_lower(uint32_t cp);
/* True for code points that start an emoji (Extended_Pictographic, roughly,
 * plus regional indicators). */
int es__cp_is_emoji(uint32_t cp);

#endif
