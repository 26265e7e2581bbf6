/*
 * The connection lifecycle of the long-lived HTTP stream feeds (sse,
 * ndjson), kept in one place because it is the same for both and its
 * details are easy to get subtly different:
 *
 *   - connect: one request with the feed's headers, a failed start
 *     retried on the network schedule;
 *   - the response: a 2xx is "connected" (the backoff starts over), any
 *     other status keeps the start of its body for the log line; the
 *     rate-limit headers, when the platform sends them, are recorded;
 *   - the read timeout: a watchdog, because libcurl's low-speed check
 *     averages over seconds and so notices a dead stream late, and does
 *     not notice a server that accepts and never answers at all;
 *   - the end: a failure, a silence or a stream the server closed all
 *     reconnect on the host's backoff schedules (a clean close is logged
 *     as the reason, not counted as an error);
 *   - backpressure: a paused read is not silence;
 *   - start/stop/close of the request and the two timers.
 *
 * What a feed type does with the bytes (event parsing, line framing), what
 * it asks for on each connection (Last-Event-ID, backfill) and what it
 * does around a reconnect (gap fill) are its own: es_feed_stream_ops.
 * Internal to feed_sse.c and feed_ndjson.c.
 */
#ifndef ES_FEED_STREAM_H
#define ES_FEED_STREAM_H

#include "feed_net.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct es_feed_stream_ops {
    /* What the read timeout's log line says the server sends when idle
     * ("heartbeat", "keep-alive"): "nothing, not even a <...>, for 20.0 s". */
    const char *idle_signal;
    /*
     * Before each connection: set this connection's headers on st->hdrs,
     * and write its URL into `url` (empty, at most 16 KiB) if it differs
     * from the configured one; left empty, the configured URL is used.
     * Nonzero fails the connection attempt (logged, retried). Optional.
     */
    int (*prepare)(void *ud, es_buf *url);
    /* A 2xx response began (the feed already counts as connected): start
     * the framing afresh. Optional. */
    void (*opened)(void *ud);
    /*
     * Body bytes of the 2xx response. Returns 0, ES_HTTP_PAUSE (usually
     * through es__feed_stream_backpressure) or an error, which ends the
     * request; the type logs its own error first.
     */
    int (*data)(void *ud, const char *p, size_t n);
    /* The connection is over (failed, closed, silent or stopped): drop a
     * half-received record and end the document (es_feed_deliver_end). */
    void (*ended)(void *ud);
    /*
     * The stream went down while running and will reconnect. Returns the
     * least delay in ms the reconnect must wait (a server's SSE `retry:`),
     * or 0. Called before the reason is logged. Optional.
     */
    int64_t (*down)(void *ud, const es_feed_failure *fl);
} es_feed_stream_ops;

/*
 * One stream connection and its timers, embedded in the feed type's state.
 * The type reads these fields (running, closing, ok, req, hdrs) but changes
 * them only through the functions below.
 */
typedef struct es_feed_stream {
    es_feed *f;
    const es_feed_stream_ops *ops;
    void *ud;                 /* the feed type's state, passed to the ops */
    char *url;                /* the `url` option */
    es_feed_headers hdrs;     /* filled by the type (es__feed_headers_init) */
    int64_t connect_ms, read_ms;
    es_http_req *req;         /* the current connection, NULL between them */
    uv_timer_t retry;         /* reconnect */
    uv_timer_t watch;         /* the read timeout */
    int64_t last_byte;        /* loop time of the last byte (or of the request) */
    int open_handles;
    bool running, closing;
    bool paused;              /* reading stopped for backpressure */
    bool ok;                  /* the current response is a 2xx stream */
    char err_body[160];       /* the start of an error response's body */
    size_t err_len;
} es_feed_stream;

/* Read the `url`, connect_timeout and read_timeout options. No handles yet,
 * so a later config error can just free (es__feed_stream_free). */
int es__feed_stream_init(es_feed_stream *st, es_feed *f, const es_config_item *item,
                         const es_feed_stream_ops *ops, void *ud, es_error *err);
/* Create the timers: last in the type's init, once nothing else can fail
 * (an initialised handle must go through es__feed_stream_close). */
void es__feed_stream_timers(es_feed_stream *st);
/* Owned memory (url, headers); for destroy and failed inits. */
void es__feed_stream_free(es_feed_stream *st);

/* Start the watchdog and connect (no-op when running). */
void es__feed_stream_start(es_feed_stream *st);
/* Cancel the connection and the timers; ops->ended for a live connection;
 * the feed counts as disconnected. No-op when not running. */
void es__feed_stream_stop(es_feed_stream *st);
/* Read again after backpressure. */
void es__feed_stream_resume(es_feed_stream *st);
/* Close the timers and `extra` (another handle of the type, or NULL; its
 * data pointer is taken over); es_feed_closed() once all are closed. Call
 * after stopping. */
void es__feed_stream_close(es_feed_stream *st, uv_handle_t *extra);

/* From ops->data after a chunk was handed over: ES_HTTP_PAUSE (and note
 * the pause) when the host asks for backpressure, else 0. */
int es__feed_stream_backpressure(es_feed_stream *st);

#endif
