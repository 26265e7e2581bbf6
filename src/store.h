/*
 * The live engine's state file (`state:` in the config, SQLite in WAL
 * mode): each feed's cursor and the ids of recently seen mentions, so a
 * reconnect or a restart resumes where it stopped and never processes a
 * mention twice. The alert spool (src/spool.c) lives in the same file
 * through its own connection; the tables do not overlap.
 *
 * Writes are batched. es_store_seen() and es_store_cursor_set() only
 * change memory; es_store_commit() writes everything pending in ONE
 * transaction. The engine commits every ~100 ms, after the pipeline has
 * run those mentions and their alerts were spooled, so the order on disk
 * is always "alerts, then the ids and the cursor that say they were
 * handled". A crash between the two repeats work whose alerts the spool
 * already knows (it refuses a repeated idempotency key), and never skips
 * any.
 *
 * The dedup check never touches SQLite: an in-memory set of 64-bit hashes
 * of (feed, id) answers it; SQLite is only the copy that survives a
 * restart. The set holds at most max_ids ids (config `dedup.max_ids`): it
 * is allocated for that many when the store opens (32 to 48 bytes an id,
 * 64 MiB at the default 2,000,000) and never grows, and the id seen longest ago is forgotten as
 * each new one past the cap comes in, so neither a rehash nor a prune ever
 * stalls the loop. Ids older than the retention are forgotten by
 * es_store_prune().
 *
 * No transaction is held open between calls, so the spool's connection is
 * never blocked by this one. One es_store is used by one thread.
 */
#ifndef ES_STORE_H
#define ES_STORE_H

#include "earshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct es_store es_store;

typedef struct es_store_opts {
    int64_t retention_ms; /* keep ids seen this recently; 0: 7 days */
    size_t max_ids;       /* at most this many ids (newest kept); 0: 2,000,000 */
} es_store_opts;

/*
 * Open (creating if needed) the state file at `path` (":memory:" for a
 * throwaway one) and load the cursors and the ids still within retention
 * of now_ms. opts may be NULL. Errors are ES_ESTATE with a message naming
 * the file.
 */
int es_store_open(const char *path, const es_store_opts *opts, int64_t now_ms, es_store **out,
                  es_error *err);
/* Commit what is pending, then close. NULL is fine. Returns the commit's
 * result (0 or ES_ESTATE). */
int es_store_close(es_store *s);
/* The connection, for the engine to tune (WAL checkpoints). */
struct sqlite3;
struct sqlite3 *es__store_sqlite(es_store *s);

/*
 * The cursor of `feed` (the pending value if one was set since the last
 * commit). Copies it into out and returns 1; 0 if there is none; ES_ETOOBIG
 * if it does not fit in cap.
 */
int es_store_cursor_get(es_store *s, const char *feed, char *out, size_t cap);
/* Set the cursor; durable at the next commit. ES_ETOOBIG past 4 KiB. */
int es_store_cursor_set(es_store *s, const char *feed, const char *cursor);

/*
 * Has `feed` seen this mention id? Returns 1 if so (a duplicate), else
 * records it (durable at the next commit; with max_ids already held, the
 * oldest is forgotten) and returns 0.
 */
int es_store_seen(es_store *s, const char *feed, const char *id, size_t id_len, int64_t now_ms);

/* Write everything pending in one transaction. 0 or ES_ESTATE (the pending
 * changes are kept and retried by the next commit). */
int es_store_commit(es_store *s);
/* Changes waiting for a commit. */
size_t es_store_pending(const es_store *s);

/*
 * Forget ids seen before now_ms - retention, in memory and on disk (with
 * the rows of ids the cap pushed out since the last commit). Returns how
 * many were forgotten by age, or ES_ESTATE.
 */
int es_store_prune(es_store *s, int64_t now_ms);
/* Ids currently remembered. */
size_t es_store_ids(const es_store *s);
/* The most ids it remembers (max_ids as opened), and the bytes of memory
 * reserved for them at open. */
size_t es_store_max_ids(const es_store *s);
size_t es_store_reserved_bytes(const es_store *s);
/* The last SQLite error, for logs. */
const char *es_store_errmsg(const es_store *s);

#endif
