/*
 * A compact binary form of a mention, for the backfill spill files: a fixed
 * header of counts and string lengths, then the string bytes. Unpacking
 * points the mention's strings into the packed bytes (no copies).
 *
 * Changing es_mention? Add the field here too; the format never leaves the
 * process (spill files are temporary), so no versioning is needed.
 */
#ifndef ES_MENTION_PACK_H
#define ES_MENTION_PACK_H

#include "buf.h"
#include "earshot.h"

/* Append the packed mention to out. `with_raw` keeps m->raw (needed only
 * when enriched mentions are written out). */
int es_mention_pack(const es_mention *m, int with_raw, es_buf *out);

/* Fill m from packed bytes; ES_EPARSE if they are not a packed mention. */
int es_mention_unpack(const void *p, size_t len, es_mention *m);

#endif
