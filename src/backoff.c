/* Reconnect schedules with jitter. See backoff.h. */
#include "backoff.h"

const char *es_backoff_kind_name(es_backoff_kind k)
{
    switch (k) {
    case ES_BACKOFF_NETWORK:
        return "network";
    case ES_BACKOFF_HTTP:
        return "http";
    case ES_BACKOFF_RATE_LIMIT:
        return "rate limit";
    }
    return "?";
}

int64_t es_backoff_nominal(es_backoff_kind k, int attempt)
{
    if (attempt < 1) {
        attempt = 1;
    }
    int64_t base, max;
    switch (k) {
    case ES_BACKOFF_NETWORK: {
        /* Linear: the cap is reached at attempt 64, so clamp first to keep
         * the product small. */
        int64_t n = attempt > 64 ? 64 : attempt;
        int64_t d = n * ES_BACKOFF_NETWORK_STEP_MS;
        return d < ES_BACKOFF_NETWORK_MAX_MS ? d : ES_BACKOFF_NETWORK_MAX_MS;
    }
    case ES_BACKOFF_RATE_LIMIT:
        base = ES_BACKOFF_RATE_BASE_MS;
        max = ES_BACKOFF_RATE_MAX_MS;
        break;
    case ES_BACKOFF_HTTP:
    default:
        base = ES_BACKOFF_HTTP_BASE_MS;
        max = ES_BACKOFF_HTTP_MAX_MS;
        break;
    }
    /* Doubling: 2^20 times any base here is far past every cap, so the
     * shift never overflows. */
    int shift = attempt - 1 > 20 ? 20 : attempt - 1;
    int64_t d = base << shift;
    return d < max ? d : max;
}

/* A well-mixed 64-bit value from (seed, attempt): splitmix64's finalizer. */
static uint64_t mix(uint64_t seed, int attempt)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(attempt + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t es_backoff_delay(es_backoff_kind k, int attempt, uint64_t seed, int64_t retry_after_ms)
{
    uint64_t r = mix(seed, attempt);
    if (retry_after_ms >= 0) {
        int64_t ra = retry_after_ms < ES_BACKOFF_RETRY_AFTER_MAX_MS ? retry_after_ms
                                                                    : ES_BACKOFF_RETRY_AFTER_MAX_MS;
        /* Never sooner than asked; a little later so every client that got
         * the same Retry-After does not return in the same millisecond. */
        int64_t spread = ra / 10 < 1000 ? ra / 10 : 1000;
        return ra + (spread > 0 ? (int64_t)(r % (uint64_t)(spread + 1)) : 0);
    }
    int64_t d = es_backoff_nominal(k, attempt);
    int64_t lo = d - d / 4;
    return lo + (int64_t)(r % (uint64_t)(d - lo + 1));
}

es_backoff_kind es_backoff_kind_for_status(long status)
{
    if (status == 0) {
        return ES_BACKOFF_NETWORK;
    }
    if (status == 429 || status == 420) {
        return ES_BACKOFF_RATE_LIMIT;
    }
    return ES_BACKOFF_HTTP;
}
