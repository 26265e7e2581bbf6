/*
 * Synchronous delivery: takes due notifications from the spool, builds them
 * with their sink, sends them (one reused curl_easy handle for HTTP and
 * SMTP; the sink itself for stdout, file and exec), classifies the answer
 * and records the outcome in the spool. Used by `backfill --deliver` and by
 * tests; the live engine drives the same build/classify through curl multi.
 *
 * Rules it keeps: a notification is in the spool before it is sent; it is
 * marked done only on success; each sink's token bucket and any rate limit
 * the receiver announced (429 + Retry-After) hold the whole sink; other
 * failures back off per notification with jitter until its attempts or age
 * run out, then it is dead-lettered.
 *
 * The sinks and the spool are borrowed and must outlive the deliverer.
 */
#ifndef ES_DELIVER_H
#define ES_DELIVER_H

#include "sink.h"
#include "spool.h"

typedef struct es_deliver es_deliver;

/* Wall-clock milliseconds; replaceable for tests. */
typedef int64_t (*es_clock_fn)(void *ud);

typedef struct es_deliver_stats {
    uint64_t attempts;
    uint64_t delivered;
    uint64_t retried;
    uint64_t dead;
} es_deliver_stats;

int es_deliver_new(es_spool *sp, es_deliver **out);
void es_deliver_free(es_deliver *d);

/* Deliver for this sink (borrowed). Notifications for sinks that were not
 * added stay in the spool untouched. */
int es_deliver_add_sink(es_deliver *d, es_sink *s);

/* Replace the clock (default: CLOCK_REALTIME). es_deliver_run still waits
 * in real time, so a fake clock is for es_deliver_step. */
void es_deliver_set_clock(es_deliver *d, es_clock_fn fn, void *ud);
int64_t es_deliver_now(es_deliver *d);

/* Spool a notification for `sink` under its idempotency key n->key. Returns
 * 0 if new, 1 if already spooled, or a negative code. */
int es_deliver_enqueue(es_deliver *d, const char *sink, const es_notification *n, int64_t now_ms);

/*
 * One pass: send everything due now that the sinks' rate limits allow.
 * Returns the number of attempts made (>= 0) or a negative code for a
 * spool failure; *next_ms is when more work could be possible (INT64_MAX:
 * nothing is waiting).
 */
int es_deliver_step(es_deliver *d, int64_t *next_ms);

/* Step and wait until nothing is waiting for the added sinks (0), or until
 * deadline_ms passes with work left (ES_ETIMEOUT). */
int es_deliver_run(es_deliver *d, int64_t deadline_ms);

void es_deliver_stats_get(const es_deliver *d, es_deliver_stats *st);

#endif
