/*
 * Reconnect schedules for feeds, as the platforms document them (X/Twitter's
 * streaming guidance, which Mastodon and Reddit clients follow too):
 *
 *   network errors (refused, reset, DNS, a stalled stream):
 *       linear, 250 ms more each attempt, capped at 16 s;
 *   HTTP errors (5xx, other non-2xx answers):
 *       exponential from 5 s, doubling, capped at 320 s;
 *   429 Too Many Requests (and 420, X's old "enhance your calm"):
 *       exponential from 60 s, doubling, capped at 960 s.
 *
 * Each delay is jittered into [3/4 d, d] so a fleet of clients that lost
 * the same server does not come back in lock-step, yet never waits longer
 * than the documented schedule. The jitter is a hash of (seed, attempt):
 * pure functions, so tests can assert exact values and bounds.
 *
 * A Retry-After the server sent wins over the schedule: the delay is then
 * the server's value plus up to 10 % (at most 1 s) of jitter, never less
 * than what was asked, capped at 1 h.
 */
#ifndef ES_BACKOFF_H
#define ES_BACKOFF_H

#include <stdint.h>

typedef enum {
    ES_BACKOFF_NETWORK,
    ES_BACKOFF_HTTP,
    ES_BACKOFF_RATE_LIMIT,
} es_backoff_kind;

#define ES_BACKOFF_NETWORK_STEP_MS 250
#define ES_BACKOFF_NETWORK_MAX_MS 16000
#define ES_BACKOFF_HTTP_BASE_MS 5000
#define ES_BACKOFF_HTTP_MAX_MS 320000
#define ES_BACKOFF_RATE_BASE_MS 60000
#define ES_BACKOFF_RATE_MAX_MS 960000
#define ES_BACKOFF_RETRY_AFTER_MAX_MS 3600000

/* "network", "http", "rate limit" for logs. */
const char *es_backoff_kind_name(es_backoff_kind k);

/* The nominal (un-jittered) delay of the attempt-th retry (attempt >= 1;
 * smaller values count as 1). */
int64_t es_backoff_nominal(es_backoff_kind k, int attempt);

/*
 * The delay before the attempt-th retry: the nominal delay jittered into
 * [3/4 d, d], or, when retry_after_ms >= 0, the server's value plus jitter
 * as described above.
 */
int64_t es_backoff_delay(es_backoff_kind k, int attempt, uint64_t seed, int64_t retry_after_ms);

/* The schedule kind for an HTTP status (429 and 420: rate limit; anything
 * else: http); status 0 (no answer) is a network error. */
es_backoff_kind es_backoff_kind_for_status(long status);

#endif
