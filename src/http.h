/*
 * HTTP on the event loop: libcurl's multi interface driven by libuv.
 *
 * This is the only module that calls curl_multi_*. Each socket libcurl
 * wants watched gets a uv_poll handle, libcurl's single timeout is one
 * uv_timer, and completions are read with curl_multi_info_read. Feeds (sse,
 * ndjson, poll) and the live engine's sink delivery start requests here and
 * get callbacks on the loop thread; nothing here blocks.
 *
 *   es_http_opts o = {
 *       .url = "https://mastodon.example/api/v1/streaming/hashtag?tag=acme",
 *       .headers = hdrs, .n_headers = 1,       // "Authorization: Bearer ..."
 *       .connect_timeout_ms = 10000,
 *       .read_timeout_ms = 90000,              // a stream: no total timeout
 *       .on_response = on_response,            // status line + headers are in
 *       .on_data = on_data,                    // body bytes as they arrive
 *       .on_done = on_done,                    // always last, exactly once
 *       .ud = feed,
 *   };
 *   es_http_req *req;
 *   int rc = es_http_start(http, &o, &req);
 *
 * Callback rules (they hold for every callback below):
 *   - Callbacks run on the loop thread, never from inside es_http_start(),
 *     es_http_resume() or es_http_cancel(): a caller can start, resume or
 *     cancel while holding its own state half-updated.
 *   - on_done is called exactly once per started request unless the request
 *     was cancelled first; after on_done returns, the es_http_req is freed
 *     and must not be used. After es_http_cancel() nothing is called.
 *   - Inside any callback the caller may call es_http_pause(),
 *     es_http_resume(), es_http_cancel() on that request, and start others.
 *   - Every pointer passed to a callback is borrowed for the call's duration.
 *
 * Memory is bounded: response headers are kept up to ES_HTTP_MAX_HEADER_BYTES
 * (more is an error that ends the request); a buffered body (no on_data)
 * up to opts.max_body (more ends the request with ES_ETOOBIG).
 */
#ifndef ES_HTTP_H
#define ES_HTTP_H

#include "earshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ES_HTTP_MAX_HEADER_BYTES (64u << 10)
#define ES_HTTP_MAX_HEADERS 64
/* The default ceiling of a buffered body. */
#define ES_HTTP_DEFAULT_MAX_BODY (8u << 20)

typedef struct es_http es_http;         /* the driver: one per loop */
typedef struct es_http_req es_http_req; /* one transfer */

/* A response header, pointing into the request's header store. */
typedef struct es_http_header {
    es_str name;
    es_str value;
} es_http_header;

/* What on_done learns. */
typedef struct es_http_result {
    /* 0 when a complete response arrived (whatever its status), else
     * ES_ETIMEOUT (connect, total or read timeout), ES_EIO (refused, reset,
     * DNS, TLS, a cut-off body), ES_ETOOBIG (a ceiling was passed),
     * ES_ECLOSED (the driver is shutting down) or ES_ENOMEM. */
    int code;
    int curl_code;     /* the CURLcode, for logs; 0 on success */
    const char *error; /* readable reason; "" on success */
    long status;       /* HTTP status, 0 when no status line arrived */
    /* Buffered mode (on_data == NULL): the body, NUL-terminated at body_len.
     * Streaming mode: NULL / 0. */
    const char *body;
    size_t body_len;
    uint64_t bytes; /* body bytes received in total */
} es_http_result;

/*
 * Body bytes in streaming mode. Return
 *   0              consumed; keep going,
 *   ES_HTTP_PAUSE  consumed; deliver nothing more until es_http_resume(),
 *   a negative ES_E* code: abort the transfer; on_done gets that code.
 */
#define ES_HTTP_PAUSE 1
typedef int (*es_http_data_fn)(void *ud, es_http_req *req, const char *p, size_t n);

/*
 * The status line and every header of the final response have arrived
 * (before the first body byte). Return 0 to go on or a negative ES_E* code
 * to abort (on_done gets that code), e.g. when a stream answers 401.
 * Read them with es_http_status() / es_http_header_value().
 */
typedef int (*es_http_response_fn)(void *ud, es_http_req *req);

typedef void (*es_http_done_fn)(void *ud, es_http_req *req, const es_http_result *r);

typedef struct es_http_opts {
    const char *method; /* NULL: "GET", or "POST" when body != NULL */
    const char *url;    /* http:// or https:// only; copied */
    /* Request headers, each "Name: value" (no CR/LF); copied. */
    const char *const *headers;
    size_t n_headers;
    /* The same in one block of '\n'-separated lines (an es_sink_request's
     * headers); either or both may be given. Copied. */
    const char *header_block;
    size_t header_block_len;
    const char *body; /* request body, copied; NULL: none */
    size_t body_len;
    const char *user_agent; /* NULL: "earshot/VERSION" */
    int64_t connect_timeout_ms; /* 0: 10 s */
    int64_t timeout_ms;         /* whole transfer; 0: none (long-lived streams) */
    /* Abort when no byte arrives for this long (a stalled stream); rounded
     * up to whole seconds; 0: none. A paused transfer does not time out. */
    int64_t read_timeout_ms;
    size_t max_body; /* buffered mode ceiling; 0: ES_HTTP_DEFAULT_MAX_BODY */
    es_http_response_fn on_response; /* optional */
    es_http_data_fn on_data;         /* NULL: buffer the body for on_done */
    es_http_done_fn on_done;         /* required */
    void *ud;
} es_http_opts;

/*
 * Make the driver for `loop` (borrowed; it must outlive the driver).
 * Returns 0, ES_ENOMEM or ES_EIO (libcurl could not be set up).
 */
int es_http_new(uv_loop_t *loop, es_http **out);

/*
 * Cancel every request (each one's on_done is called with ES_ECLOSED,
 * from inside this call: the one exception to the rule above), close
 * every uv handle, and free the driver in the last close
 * callback, then call on_closed(ud) (may be NULL). Run the loop afterwards
 * until it has no more handles. The driver must not be used after this.
 */
void es_http_close(es_http *h, void (*on_closed)(void *ud), void *ud);

/* Requests in flight (started, not done or cancelled). */
size_t es_http_active(const es_http *h);

/*
 * Start a request; its first bytes go out on the next loop iteration.
 * Returns 0 and *out (may be NULL if the caller does not keep it), or
 * ES_EINVAL (no URL, not http(s), a header with CR/LF), ES_ENOMEM,
 * ES_ECLOSED (the driver is closing).
 */
int es_http_start(es_http *h, const es_http_opts *o, es_http_req **out);

/* Stop delivering body bytes (backpressure). Bytes already in libcurl's
 * hands stay there; nothing is lost. Idempotent. */
void es_http_pause(es_http_req *req);
/* Deliver again, from the loop (never from inside this call). Idempotent. */
void es_http_resume(es_http_req *req);
bool es_http_paused(const es_http_req *req);

/* Abandon the request: nothing more is called for it, and it is freed (at
 * once, or when the current callback returns). */
void es_http_cancel(es_http_req *req);

/* The status of the final response so far (0 before the status line). */
long es_http_status(const es_http_req *req);
/* The first header named `name` (case-insensitive), value trimmed;
 * {NULL, 0} if absent. Valid until the request ends. */
es_str es_http_header_value(const es_http_req *req, const char *name);
/* All headers of the final response. */
const es_http_header *es_http_headers(const es_http_req *req, size_t *n);

/*
 * Retry-After of the response (delta seconds or an HTTP date) as a delay
 * in ms from now_ms, or -1 when absent or not understood. Capped at 1 h.
 */
int64_t es_http_retry_after(const es_http_req *req, int64_t now_ms);

/*
 * X-RateLimit-Remaining / X-RateLimit-Reset (also the "x-rate-limit-*"
 * spelling of X/Twitter). `reset` may be epoch seconds (X, Bluesky),
 * delta seconds (Reddit) or an RFC 3339 time (Mastodon); *reset_ms becomes
 * an absolute wall time. Fields not present are -1. Returns true if either
 * header was present.
 */
bool es_http_rate_limit(const es_http_req *req, int64_t now_ms, int64_t *remaining,
                        int64_t *reset_ms);

#endif
