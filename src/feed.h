/*
 * Feeds: where mentions come from in `earshot run`.
 *
 * A feed type is one file (feed_file.c, feed_sse.c, ...) that ends in a
 * designated-initializer vtable:
 *
 *   const es_feed_type es_feed_type_sse = {
 *       .name = "sse", .help = "server-sent events (Mastodon streaming)",
 *       .init = sse_init, .start = sse_start, .stop = sse_stop,
 *       .resume = sse_resume, .close = sse_close, .destroy = sse_destroy,
 *   };
 *
 * (Its option rows live in the config schema, src/config_schema.c, so
 * `earshot check` validates them before any feed is made; a feed reads them
 * with es_config_item_str/int/bool/get and secrets with
 * es_config_resolve_secret.)  Adding a feed type? Name its vtable as in the
 * externs below (feed.c already looks those names up) and give it its rows
 * in the config schema; a new type name also needs a line in feed.c.
 *
 * The feed instance (es_feed) is also the feed type's handle on its HOST,
 * the engine: every es_feed_* function below is something a feed type
 * calls. The host runs delivered bytes through an es_decoder of the feed's
 * `format`, drops mentions already seen (per feed, persisted in the state
 * file), and passes the rest to the pipeline; alerts are spooled before
 * es_feed_deliver returns. It keeps the feed's counters, its cursor, its
 * backoff attempt, and tells it when to pause.
 *
 * Life cycle (the uv-handle rule: memory is freed only after close):
 *
 *   init(f, item, &state)  make per-instance state; no I/O, no handles
 *                          that need closing yet is best, but allowed
 *   start(state)           begin reading (connect, open, listen)
 *   stop(state)            stop reading; may start() again later
 *   close(state)           stop and close every uv handle and cancel every
 *                          es_http request; when the last close callback
 *                          has run, call es_feed_closed(f) (synchronously
 *                          if there is nothing to close)
 *   destroy(state)         free the state; called by the host after
 *                          es_feed_closed(), never before
 *
 * Every callback runs on the loop thread. Nothing here is thread-safe.
 */
#ifndef ES_FEED_H
#define ES_FEED_H

#include "backoff.h"
#include "earshot.h"
#include "earshot/config.h"
#include "earshot/decode.h"
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct es_feed es_feed;

typedef struct es_feed_type {
    const char *name; /* the `type:` in the config */
    const char *help; /* one line for `earshot check` */
    /*
     * Read the item's options and make the state. Bad values (a URL that
     * is not http(s), a secret that cannot be read) are errors naming the
     * feed and the key: "feed 'x': environment variable T is not set".
     * Copy what you keep: the item is borrowed for this call only (a
     * SIGHUP reload frees the old config while keeping an unchanged feed).
     */
    int (*init)(es_feed *f, const es_config_item *item, void **state, es_error *err);
    int (*start)(void *state);
    void (*stop)(void *state);
    /* Optional: the host stopped asking it to pause (see
     * es_feed_should_pause); read again. */
    void (*resume)(void *state);
    /* Optional: every mention decoded from this feed's bytes, before dedup
     * (a poll feed advances its cursor from the newest id it saw). */
    void (*seen)(void *state, const es_mention *m);
    void (*close)(void *state);
    void (*destroy)(void *state);
} es_feed_type;

/* The feed types, one file each: feed_file.c, feed_sse.c, feed_ndjson.c,
 * feed_poll.c, feed_webhook.c. Define yours under exactly this name and
 * es_feed_type_find() finds it. */
extern const es_feed_type es_feed_type_file;
extern const es_feed_type es_feed_type_sse;
extern const es_feed_type es_feed_type_ndjson;
extern const es_feed_type es_feed_type_poll;
extern const es_feed_type es_feed_type_webhook;

/* The type named `name` among those linked in, or NULL. */
const es_feed_type *es_feed_type_find(const char *name);
/* Register a feed type (so feed types written later plug in without
 * editing feed.c's list): returns 0, ES_EINVAL (name taken) or ES_ETOOBIG. */
int es_feed_type_register(const es_feed_type *t);

/* ---- Counters --------------------------------------------------------- */

typedef struct es_feed_counters {
    uint64_t bytes;      /* payload bytes delivered to the host */
    uint64_t received;   /* records seen: decoded + bad */
    uint64_t decoded;    /* mentions decoded */
    uint64_t bad;        /* records the decoder had to skip */
    uint64_t duplicate;  /* mentions dropped as already seen */
    uint64_t processed;  /* mentions that went through the pipeline */
    uint64_t reconnects; /* backoffs taken (es_feed_backoff) */
    uint64_t errors;     /* es_feed_error calls */
    int64_t last_data_ms;    /* wall time of the last byte, 0: never */
    int64_t last_mention_ms; /* wall time of the last new mention, 0: never */
    int64_t last_error_ms;   /* wall time of the last error, 0: never */
    int64_t started_ms;      /* wall time of start() */
    /* Requests left in the platform's rate-limit window as its last
     * response said (X-RateLimit-Remaining), -1 when unknown. */
    int64_t rate_limit_remaining;
    bool connected;
    bool finished; /* es_feed_finished() was called */
} es_feed_counters;

/* ---- The host API: what a feed type calls ------------------------------ */

uv_loop_t *es_feed_loop(const es_feed *f);
/* The HTTP driver shared by every feed (never NULL while the feed runs). */
es_http *es_feed_http(const es_feed *f);
const char *es_feed_name(const es_feed *f);
/* "feed:NAME", for ES_LOG_*("...") component prefixes. */
const char *es_feed_comp(const es_feed *f);
const es_config_item *es_feed_item(const es_feed *f);
/* Wall-clock milliseconds (the loop's cached time, offset to the epoch). */
int64_t es_feed_now(const es_feed *f);
const es_feed_counters *es_feed_counters_get(const es_feed *f);
/* What the last response said of the rate-limit budget (-1: nothing). */
void es_feed_set_rate_limit(es_feed *f, int64_t remaining);

/*
 * The payload format. The host starts with the item's `format:`; a feed
 * whose preset implies one (poll: preset hn -> "hn") sets it here when the
 * item said "auto". Takes effect at the next document boundary
 * (es_feed_deliver_end) or at once if nothing was delivered yet.
 */
int es_feed_set_format(es_feed *f, es_format fmt);

/*
 * Payload bytes, in chunks of any size: the host decodes them (NDJSON or
 * concatenated JSON documents, as the decoder frames them), drops
 * duplicates and runs the rest through the pipeline before returning.
 * Returns 0, or a negative code for a failure of the host itself (the
 * state file): the feed should stop and report it. Bad records are not an
 * error here; they are counted and logged with their line.
 */
int es_feed_deliver(es_feed *f, const char *p, size_t n);
/*
 * The end of one document or stream (a poll response, a connection that
 * ended): a last line without newline is decoded, a cut-off document is
 * reported, and the decoder starts afresh for the next bytes, with line
 * numbers from 1 again.
 */
int es_feed_deliver_end(es_feed *f);

/* What es_feed_deliver_doc found. */
typedef struct es_feed_doc_result {
    uint64_t mentions;   /* decoded */
    uint64_t bad;        /* skipped as bad */
    uint64_t duplicate;  /* of the mentions: already seen */
    es_error first_error; /* the first bad record (code 0 when none) */
} es_feed_doc_result;

enum {
    /* Process nothing unless every record is good (webhook: a 400 for a
     * body with any bad record, and nothing enqueued). */
    ES_FEED_DOC_ALL_OR_NOTHING = 1u << 0,
};

/*
 * One complete document (a webhook body: one object or an array),
 * decoded on its own with a fresh decoder. Returns 0 (see res for what was
 * in it; with ALL_OR_NOTHING and res->bad > 0 nothing was processed), or a
 * negative code for a host failure. When this returns 0 every good mention
 * has been processed and its alerts spooled: a webhook may answer 2xx.
 */
int es_feed_deliver_doc(es_feed *f, const char *p, size_t n, unsigned flags,
                        es_feed_doc_result *res);

/* A mention the feed decoded itself (borrowed for the call). Returns 1 if
 * it was a duplicate, 0 if processed, or a negative host failure. */
int es_feed_deliver_mention(es_feed *f, const es_mention *m);

/*
 * Connection state, for feed_stalled, /readyz and the counters: true once a
 * stream or listener is up (a 2xx arrived), false when it dropped. A
 * transition to connected also resets the backoff attempt.
 */
void es_feed_set_connected(es_feed *f, bool connected);

/* A problem worth a log line: logged as WARN "[feed:NAME] ...", counted in
 * errors; repeated errors with no data in between make a feed stalled. */
void es_feed_error(es_feed *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* No more data will ever come (a file feed at EOF without follow). The
 * host may then close the feed; `run --exit-when-done` exits when every
 * feed has finished and everything is drained. */
void es_feed_finished(es_feed *f);

/*
 * The feed's cursor (an opaque string: "min_id=1234", "ino:offset"),
 * persisted in the state file. load: copies it into out (NUL-terminated)
 * and returns 1, 0 if there is none, or a negative code (ES_ETOOBIG when
 * cap is too small). save: it becomes durable together with the mentions
 * delivered before this call, never before them, so after a crash the
 * feed resumes at a cursor whose mentions were all processed. Cursors are
 * capped at 4 KiB (ES_ETOOBIG).
 */
#define ES_FEED_CURSOR_MAX 4096
int es_feed_cursor_load(es_feed *f, char *out, size_t cap);
int es_feed_cursor_save(es_feed *f, const char *cursor);

/*
 * Backpressure: true when the sinks or the pipeline are behind and the
 * feed should stop reading (es_http_pause its transfer, stop its read
 * timer). The host then calls type->resume() once the pressure is gone.
 * Asking is cheap; ask after each delivered chunk.
 */
bool es_feed_should_pause(es_feed *f);

/*
 * After a failure: the delay before the next attempt, from the schedule
 * of `kind` (see backoff.h) at this feed's attempt count, honouring
 * retry_after_ms when >= 0 (-1: none). Counts a reconnect and logs
 * "[feed:NAME] <why>, retry in 4.2 s" at WARN (why may be NULL).
 * es_feed_backoff_reset() starts the schedule over (done automatically by
 * es_feed_set_connected(f, true)).
 */
int64_t es_feed_backoff(es_feed *f, es_backoff_kind kind, int64_t retry_after_ms,
                        const char *why);
void es_feed_backoff_reset(es_feed *f);

/* The feed type's close() is complete: every handle is closed. */
void es_feed_closed(es_feed *f);

/* ---- For the engine (the host side) ------------------------------------ */

struct es_store;

/* What the engine provides to every feed. */
typedef struct es_feed_env {
    uv_loop_t *loop;
    es_http *http;
    struct es_store *store; /* cursors and dedup; may be NULL (no persistence) */
    /* A new (not duplicate) mention: run the pipeline. Return 0 or a
     * negative code (which es_feed_deliver returns). */
    int (*process)(void *ud, es_feed *f, const es_mention *m);
    /* Backpressure: true while feeds should pause. */
    bool (*busy)(void *ud);
    /* The feed finished, or its connection state changed. Optional. */
    void (*on_event)(void *ud, es_feed *f);
    /* The feed's close completed (after destroy the es_feed is freed). */
    void (*on_closed)(void *ud, es_feed *f);
    void *ud;
} es_feed_env;

/*
 * Make a feed from a config item with the env (borrowed; must outlive the
 * feed). Fails with a located error for an unknown type or bad options.
 */
int es_feed_new(const es_config_item *item, const es_feed_env *env, es_feed **out,
                es_error *err);
int es_feed_start(es_feed *f);
void es_feed_stop(es_feed *f);
/* Stop, flush the decoder (a last line without newline), close every
 * handle; env->on_closed(f) then fires and the feed is freed. */
void es_feed_close(es_feed *f);
/* The engine's backpressure is gone: resume feeds that paused. */
void es_feed_resume(es_feed *f);
/* The item the feed was made from (for es_config_item_equal on SIGHUP)
 * can change owner: a reload keeps the feed but the old config is freed. */
void es_feed_set_item(es_feed *f, const es_config_item *item);
/* User data slot for the engine. */
void es_feed_set_data(es_feed *f, void *data);
void *es_feed_data(const es_feed *f);

#endif
