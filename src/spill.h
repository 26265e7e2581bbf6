/*
 * External sort of opaque records by a 64-bit key (event time), for backfill
 * over inputs much larger than memory.
 *
 * Records are appended into an in-memory run until it holds `mem_budget`
 * bytes; the run is then sorted and written to an anonymous temporary file.
 * Reading merges all runs with a binary heap. Memory use is bounded by
 * mem_budget plus one read buffer per spilled run (256 KiB each), whatever
 * the input size. The order is total (key, tie, insertion), so the output
 * is deterministic.
 */
#ifndef ES_SPILL_H
#define ES_SPILL_H

#include <stddef.h>
#include <stdint.h>

typedef struct es_spill es_spill;

/* tmpdir NULL means $TMPDIR or /tmp. */
int es_spill_new(size_t mem_budget, const char *tmpdir, es_spill **out);
void es_spill_free(es_spill *s);

/*
 * Copy one record in. Records sort by key, then by `tie` (callers pass a
 * hash of something intrinsic to the record, such as its id, so the order
 * does not depend on the input order), then in the order they were added.
 * Records larger than mem_budget / 4 are rejected (ES_ETOOBIG).
 */
int es_spill_add(es_spill *s, int64_t key, uint64_t tie, const void *rec, size_t len);

/* No more records: prepare reading in key order. */
int es_spill_finish(es_spill *s);

/*
 * The next record in key order. Returns 1 and sets *rec and *len (valid until
 * the next call), 0 at the end, or a negative ES_E* code on an I/O error.
 */
int es_spill_next(es_spill *s, int64_t *key, const void **rec, size_t *len);

typedef struct es_spill_stats {
    uint64_t records;
    uint64_t runs_spilled;
    uint64_t bytes_spilled;
} es_spill_stats;
void es_spill_stats_get(const es_spill *s, es_spill_stats *out);

#endif
