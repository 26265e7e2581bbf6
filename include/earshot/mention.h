/* The normalized mention record shared by every pipeline stage. */
#ifndef EARSHOT_MENTION_H
#define EARSHOT_MENTION_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ES_COUNT_UNKNOWN (-1)
#define ES_TIME_UNKNOWN INT64_MIN

/*
 * A mention, as decoded from any platform format. The strings are borrowed:
 * they point into memory owned by whoever produced the mention (a decoder's
 * arena, a test's literals) and stay valid until that producer says so
 * (for a decoder: until it decodes the next record). A stage that keeps a
 * mention longer copies it.
 *
 * Absent strings have ptr == NULL. Absent counts are ES_COUNT_UNKNOWN.
 * Changing this struct? Update the decoders, the enriched-mention encoder
 * and the spill format of backfill.
 */
typedef struct es_mention {
    es_str id;
    es_str text;
    es_str author;
    es_str source;     /* platform: "twitter", "mastodon", "reddit", ... */
    es_str url;
    es_str lang;
    es_str reply_to;   /* id of the post this replies to, if any */
    es_str created_at; /* as written in the input */
    int64_t created_ms; /* event time, ms since the Unix epoch, or ES_TIME_UNKNOWN */
    int64_t followers;
    int64_t likes;
    int64_t reposts;
    int64_t replies;
    /*
     * The input object as given ("{...}"), so unknown fields can be passed
     * through to enriched output. May be empty for mentions built in code.
     */
    es_str raw;
} es_mention;

/* Set every field to "absent". */
void es_mention_clear(es_mention *m);

#ifdef __cplusplus
}
#endif
#endif
