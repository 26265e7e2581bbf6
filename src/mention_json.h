/*
 * Writing a mention as JSON in the contract's earshot shape, the form used
 * by `--emit mentions`, backfill's spill files and anything that hands a
 * mention to the next program.
 *
 * Changing es_mention? Update mention_json.c (the member list) together
 * with the decoders' earshot table in decode_platforms.c, so that what we
 * write reads back as the same mention.
 */
#ifndef ES_MENTION_JSON_H
#define ES_MENTION_JSON_H

#include <stddef.h>

#include "buf.h"
#include "earshot.h"

/*
 * Append one JSON object (no newline) to `out`:
 *
 *   1. the contract's members, only those present, in this order: id,
 *      created_at, text, author, source, url, lang, followers, likes,
 *      reposts, replies, reply_to. id and reply_to are always strings;
 *      created_at is the input's text, or RFC 3339 UTC when the input gave
 *      epoch seconds (or gave no text but the time is known);
 *   2. the unknown top-level members of m->raw, copied verbatim (invalid
 *      UTF-8 repaired), when m->raw is set. Decoders set raw only for
 *      records in the earshot format, so platform objects are not dumped
 *      into the output; a member whose key also appears in `extra` is left
 *      out, so re-enriching an enriched file does not duplicate keys;
 *   3. `extra` verbatim: already formatted members, each starting with a
 *      comma (`,"sentiment":{...},"intent":"praise"`), or NULL/0.
 *
 * Returns 0, or ES_ETOOBIG when out's ceiling is reached (out then holds a
 * partial object: reset it).
 */
int es_mention_write_json(const es_mention *m, es_buf *out, const char *extra, size_t extra_len);

/* es_mention_write_json without extra members. */
int es_mention_write_earshot(const es_mention *m, es_buf *out);

#endif
