/*
 * The durable alert spool: every notification for every sink is written
 * here BEFORE it is sent and marked done only after the receiver accepted
 * it, so a crash, a restart or a week-long Slack outage loses nothing.
 * Delivery is at-least-once; the (sink, key) pair is unique, so enqueueing
 * the same notification twice (a replayed backfill) sends it once.
 *
 * Life of a row:
 *   enqueue -> pending --claim--> in flight --done--> done
 *                 ^                   |  \--retry (attempts/age left)--> pending
 *                 |                   \----retry (used up) / dead------> dead letter
 *                 \---------------------------replay---------------------/
 * A claim is a lease: a row claimed by a process that then died becomes due
 * again when the lease runs out, or at once after es_spool_recover().
 *
 * Nothing here reads the clock: every time is passed in (ms since the
 * epoch), so tests run in event time. One es_spool is used by one thread.
 */
#ifndef ES_SPOOL_H
#define ES_SPOOL_H

#include "buf.h"
#include "earshot.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct es_spool es_spool;

typedef enum {
    ES_SPOOL_PENDING = 0,
    ES_SPOOL_INFLIGHT = 1,
    ES_SPOOL_DONE = 2,
    ES_SPOOL_DEAD = 3,
    ES_SPOOL_ANY = -1, /* for listing: everything but the dead letters */
} es_spool_state;

const char *es_spool_state_name(es_spool_state st);

/*
 * A row as read back. The strings point into `mem` and stay valid until the
 * item is reused or freed; an item can be reused across calls without
 * allocating again.
 */
typedef struct es_spool_item {
    int64_t id; /* row id; for dead letters, the dead-letter id */
    es_spool_state state;
    const char *sink;
    const char *key;
    const char *payload;
    size_t payload_len;
    const char *last_error; /* "" when none */
    int attempts;
    int64_t created_ms;
    int64_t next_attempt_ms; /* in flight: when the lease runs out */
    int64_t updated_ms;      /* dead letters: when it died */
    es_buf mem;
} es_spool_item;

void es_spool_item_init(es_spool_item *it);
void es_spool_item_free(es_spool_item *it);

/* When a failing notification gives up. */
typedef struct es_spool_limits {
    int max_attempts;   /* attempts before dead-lettering (>= 1) */
    int64_t max_age_ms; /* age since enqueue before dead-lettering (0: none) */
} es_spool_limits;

/*
 * Open (creating if needed) the spool database at `path` (":memory:" for a
 * throwaway one). Sets WAL mode and synchronous=NORMAL: see spool.c for why.
 */
int es_spool_open(const char *path, es_spool **out, es_error *err);
void es_spool_close(es_spool *sp);
/*
 * Batching. es_spool_batch opens a write transaction (if none is open) that
 * every following call joins; es_spool_flush commits it. Until the flush
 * the batch's rows are visible to this es_spool only and not durable, so
 * the caller flushes before anything that depends on them being on disk
 * (the engine: before the feed cursors are committed, and at the end of a
 * loop turn once the batch is big or 20 ms old, so the write lock is never
 * held long).
 * Without a batch every call commits on its own, as before.
 */
int es_spool_batch(es_spool *sp);
int es_spool_flush(es_spool *sp);
bool es_spool_in_batch(const es_spool *sp);

/* The connection, for tables that must commit in the spool's batches (the
 * routing state: es_route_db_attach). */
struct sqlite3;
struct sqlite3 *es__spool_sqlite(es_spool *sp);

/* The last SQLite error message, for logs. */
const char *es_spool_errmsg(const es_spool *sp);

/* Write a notification for `sink` with idempotency key `key`. Returns 0 if
 * it was new, 1 if (sink, key) was already known (pending, done or dead),
 * or a negative ES_E* code. */
int es_spool_enqueue(es_spool *sp, const char *sink, const char *key, const char *payload,
                     size_t payload_len, int64_t now_ms);

/*
 * For a caller about to deliver a notification at once (a local sink), in
 * an open batch: record (sink, key) as already done, without a payload, so
 * the common case writes a short row and no JSON. Returns 0 if it was new,
 * 1 if already known (then do not deliver), or a negative code. If the
 * delivery then fails, es_spool_requeue() turns the row into an ordinary
 * pending one; the batch commits either way, so nothing is done on disk
 * that the caller did not confirm.
 */
int es_spool_enqueue_done(es_spool *sp, const char *sink, const char *key, int64_t now_ms);
/* Row `id` (from es_spool_last_id after es_spool_enqueue_done) becomes
 * pending, due now, with its payload. 0, ES_ENOTFOUND or a negative code. */
int es_spool_requeue(es_spool *sp, int64_t id, const char *payload, size_t payload_len,
                     int64_t now_ms);

/* The row id of the last notification es_spool_enqueue or
 * es_spool_enqueue_done added (when it returned 0). */
int64_t es_spool_last_id(const es_spool *sp);

/*
 * Claim the oldest notification for `sink` (NULL: any sink) due at now_ms,
 * counting an attempt, with a lease of lease_ms. Returns 1 and fills `it`,
 * 0 if nothing is due, or a negative code. The claim is committed before
 * this returns, unless a batch is open (then with the batch).
 */
int es_spool_claim(es_spool *sp, const char *sink, int64_t now_ms, int64_t lease_ms,
                   es_spool_item *it);

/* The receiver accepted it. */
int es_spool_done(es_spool *sp, int64_t id, int64_t now_ms);

/*
 * It failed but may succeed later: due again at next_ms, unless its
 * attempts or age are used up (NULL limits: 12 attempts, 24 h), in which
 * case it moves to the dead letters. Returns 0 if rescheduled, 1 if
 * dead-lettered, or a negative code.
 */
int es_spool_retry(es_spool *sp, int64_t id, int64_t now_ms, int64_t next_ms, const char *error,
                   const es_spool_limits *lim);

/* It can never succeed (e.g. PagerDuty's 400): straight to the dead letters. */
int es_spool_dead(es_spool *sp, int64_t id, int64_t now_ms, const char *error);

/* After a restart: everything in flight (claimed by a process that is gone)
 * is due at now_ms. Returns how many, or a negative code. */
int es_spool_recover(es_spool *sp, int64_t now_ms);

/* Move dead letters back to pending, due at now_ms with fresh attempts:
 * one by dead-letter id, or all (dead_id < 0) for `sink` (NULL: all sinks).
 * Returns how many, or a negative code. */
int es_spool_replay(es_spool *sp, int64_t dead_id, const char *sink, int64_t now_ms);

/* The earliest next-attempt time of anything not done for `sink` (NULL:
 * any). Returns 1 and sets *when, 0 if there is nothing, or a negative code. */
int es_spool_next_due(es_spool *sp, const char *sink, int64_t *when);

/* How many rows are in state `st` (ES_SPOOL_ANY: all but the dead letters)
 * for `sink` (NULL: any). */
int es_spool_count(es_spool *sp, es_spool_state st, const char *sink, int64_t *n);

/*
 * Call cb for each row in state `st` (ES_SPOOL_DEAD for the dead letters,
 * ES_SPOOL_ANY for all the others) for `sink` (NULL: any), oldest first, at
 * most `limit` (0: no limit). A non-zero return from cb stops the listing
 * and is returned.
 */
typedef int (*es_spool_list_cb)(void *ud, const es_spool_item *it);
int es_spool_list(es_spool *sp, es_spool_state st, const char *sink, size_t limit,
                  es_spool_list_cb cb, void *ud);

/*
 * The receiver is known to have (sink, key) already, e.g. a file sink's own
 * output shows the line: an undelivered row becomes done, and a key the
 * spool has not seen is recorded as done so a later enqueue of it is a
 * repeat (1). Returns 1 if a row changed, 0 if it was already done, or a
 * negative code.
 */
int es_spool_mark_done(es_spool *sp, const char *sink, const char *key, int64_t now_ms);

/*
 * Forget done rows (they only serve to recognise repeats and to list what
 * was sent): those last updated before `before_ms`, and those older than
 * the last `keep_done` notifications spooled (<= 0: no count limit), so at
 * most keep_done done rows stay. Pending, in-flight and dead rows are
 * never touched. At most max_rows rows are deleted and about as many read
 * per call, so a caller on an event loop never waits on one big DELETE;
 * *more says whether there may be more to forget right now (call again,
 * now or on the next tick). Returns how many were forgotten, or a negative
 * code.
 */
int es_spool_prune(es_spool *sp, int64_t before_ms, int64_t keep_done, int max_rows, bool *more);

#endif
