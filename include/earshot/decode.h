/*
 * Decoders: bytes of platform JSON (or plain text lines) -> mentions.
 *
 * A decoder is a push parser. Feed it the input in chunks of any size; it
 * calls on_mention for every record as soon as the record is complete and
 * on_error for every record it has to skip. It never needs the whole input:
 * memory stays bounded by max_record per record (plus a bounded queue for
 * twitter-v2 search responses whose users come after their tweets).
 *
 * Framing. The input is a sequence of JSON values separated by whitespace:
 * NDJSON (one object per line) or whole documents spanning many lines, in
 * any mix. Each object at a known place is one record:
 *
 *   - a top-level object (an NDJSON line: earshot mention, Mastodon status,
 *     HN hit, Bluesky post view, Reddit thing, X/Twitter v2 stream line
 *     {"data":{...},"includes":{...}}),
 *   - an element of a top-level array,
 *   - an element of a document's item array: Reddit listing
 *     data.children[], X/Twitter v2 search data[], HN Algolia hits[],
 *     Bluesky searchPosts posts[], JSON Feed items[].
 *
 * Errors. A record that is not valid JSON, lacks a required field or has a
 * field of the wrong type is reported through on_error (err->line = the
 * 1-based line where the record starts; err->col where a column applies)
 * and skipped; decoding goes on. After a syntax error the decoder skips to
 * the next line that starts (in column 1) with '{' or '[', so one bad NDJSON
 * line costs exactly that line, and a broken document costs the rest of that
 * document. Invalid UTF-8 inside strings is replaced by U+FFFD, never fatal.
 *
 * Ownership. Every string in the es_mention passed to on_mention (and the
 * error passed to on_error) points into the decoder's buffers and is valid
 * only during the call. m->raw is the record's JSON text for records in the
 * earshot format (so unknown fields can be passed through) and empty for
 * platform formats.
 */
#ifndef EARSHOT_DECODE_H
#define EARSHOT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "earshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ES_FORMAT_AUTO,
    ES_FORMAT_EARSHOT,
    ES_FORMAT_MASTODON,
    ES_FORMAT_TWITTER_V2,
    ES_FORMAT_REDDIT,
    ES_FORMAT_HN,
    ES_FORMAT_BLUESKY,
    ES_FORMAT_JSONFEED,
    ES_FORMAT_PLAIN /* one raw text per line; id = line number */
} es_format;

#define ES_FORMAT_COUNT (ES_FORMAT_PLAIN + 1)

/*
 * "auto", "earshot", "mastodon", "twitter-v2", "reddit", "hn", "bluesky",
 * "jsonfeed", "plain" -> *out. Returns 0 or ES_EINVAL for an unknown name.
 */
int es_format_parse(const char *name, es_format *out);
/* The name es_format_parse accepts; "?" for an out-of-range value. */
const char *es_format_name(es_format f);

enum {
    ES_DECODE_ID_OPTIONAL = 1, /* a record without id is fine (earshot score) */
    ES_DECODE_REQUIRE_TIME = 2 /* a record without created_at is bad (backfill) */
};

/*
 * Called for every decoded record. Strings are valid during the call only.
 * `line` is the 1-based input line where the record starts. Return 0 to go
 * on, nonzero to stop decoding: es_decoder_feed / _finish then return that
 * value (the rest of the current chunk is not looked at).
 */
typedef int (*es_mention_fn)(void *ud, const es_mention *m, uint64_t line);

/*
 * Called for every bad record, which the decoder has already skipped.
 * err->line is set; err->msg says what, for example
 * "invalid JSON at column 17: lexical error: invalid char in json text",
 * "missing required field 'text'", "'text' is not a string",
 * "record exceeds 1048576 bytes". err->code is ES_EJSON, ES_EFIELD or
 * ES_ETOOBIG.
 */
typedef void (*es_decode_error_fn)(void *ud, const es_error *err);

typedef struct es_decoder_opts {
    es_format format;
    unsigned flags;    /* ES_DECODE_* */
    size_t max_record; /* bytes of one record (one line for plain); 0 = 1 MiB */
    size_t max_depth;  /* nesting of arrays and objects; 0 = 64 */
    es_mention_fn on_mention;
    es_decode_error_fn on_error; /* may be NULL: bad records are only counted */
    void *ud;
} es_decoder_opts;

typedef struct es_decoder es_decoder;

/* Returns 0 and a new decoder in *out, ES_EINVAL or ES_ENOMEM. */
int es_decoder_new(const es_decoder_opts *o, es_decoder **out);
/*
 * Push the next `len` bytes of input; any chunking gives the same result.
 * Returns 0, the nonzero value of a callback that asked to stop, or
 * ES_ENOMEM. Bad input is never an error here: it goes to on_error.
 */
int es_decoder_feed(es_decoder *d, const char *buf, size_t len);
/* End of input: decode a last line without newline, report a truncated
 * document. The decoder can then be freed (feeding more is ES_EINVAL). */
int es_decoder_finish(es_decoder *d);
void es_decoder_free(es_decoder *d);

typedef struct es_decode_stats {
    uint64_t records;  /* records seen: mentions + bad */
    uint64_t mentions; /* records passed to on_mention */
    uint64_t bad;      /* records passed to on_error */
} es_decode_stats;

void es_decoder_stats(const es_decoder *d, es_decode_stats *out);

#ifdef __cplusplus
}
#endif
#endif
