/*
 * A push parser for server-sent events (the text/event-stream format of
 * the WHATWG HTML standard, section "Server-sent events"), used by the sse
 * feed. It knows the wire format only; what an event means is the feed's
 * business.
 *
 *   es_sse p;
 *   es_sse_init(&p, 1 << 20);
 *   es_sse_feed(&p, bytes, n, on_event, ud);   // chunks of any size
 *   es_sse_reset(&p);                          // a new connection
 *   es_sse_free(&p);
 *
 * What it does, as the standard says:
 *   - lines end in CRLF, LF or CR (a CRLF split across two chunks counts
 *     once); a UTF-8 byte order mark at the very start is skipped;
 *   - `event:` names the event, `data:` lines are joined with "\n",
 *     `id:` sets the last event id when its event completes (kept across
 *     events and reconnects, as the client must send it back in
 *     Last-Event-ID; an id inside a cut-off event never counts), `retry:`
 *     with only
 *     digits sets the reconnection time; one space after the colon is
 *     dropped; other fields are ignored;
 *   - a line starting with ':' is a comment (Mastodon's ":thump"
 *     heartbeats): counted, nothing else;
 *   - a blank line dispatches the event, unless it had no data (then it
 *     is dropped, but an `id:` in it still counts);
 *   - an event cut off by the end of a connection is never dispatched
 *     (es_sse_reset() drops it).
 *
 * Memory is bounded: an event whose data (or any one line) grows past
 * max_event bytes is dropped, and reported once, when its blank line
 * arrives, as an event with too_big set and no data; the parser then goes
 * on with the next event. Nothing here allocates per event once the
 * buffers have grown to the size of the largest event.
 */
#ifndef ES_SSE_H
#define ES_SSE_H

#include "buf.h"
#include "earshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_SSE_MAX_ID 256   /* a longer `id:` is ignored */
#define ES_SSE_MAX_NAME 128 /* a longer `event:` name is kept cut to this */

/* One dispatched event. The strings are borrowed for the callback only. */
typedef struct es_sse_event {
    es_str name; /* "message" when the event had no `event:` line */
    es_str data; /* the data lines joined with "\n" (no trailing "\n") */
    es_str id;   /* the last event id now in force; len 0 when none */
    bool too_big; /* the event was dropped for size: data is empty */
} es_sse_event;

/* Return 0 to go on, or non-zero to stop: es_sse_feed returns that value
 * at once (the rest of the chunk is not looked at). */
typedef int (*es_sse_event_fn)(void *ud, const es_sse_event *ev);

typedef struct es_sse {
    size_t max_event;
    es_buf line; /* a line split across chunks */
    es_buf data; /* the current event's data */
    char name[ES_SSE_MAX_NAME];
    size_t name_len;
    char id[ES_SSE_MAX_ID]; /* the last event id, as of the last dispatch */
    size_t id_len;
    char id_buf[ES_SSE_MAX_ID]; /* an `id:` of the event being received */
    size_t id_buf_len;
    bool have_data;    /* a data line was seen (data may still be empty) */
    bool too_big;      /* the current event is being dropped */
    bool line_too_big; /* the current line is being skipped */
    bool after_cr;     /* the last byte was CR: a following LF ends nothing */
    bool started;      /* past the optional BOM */
    unsigned char bom_pos; /* bytes of a BOM seen so far at the start */
    int64_t retry_ms;  /* from `retry:`; -1 when never sent */
    /* Counters since init. */
    uint64_t events;   /* dispatched, too_big included */
    uint64_t comments; /* comment lines (heartbeats) */
    uint64_t dropped;  /* too_big events */
} es_sse;

/* Set up with a cap on one event's data; 0 means 1 MiB. No allocation. */
void es_sse_init(es_sse *p, size_t max_event);
void es_sse_free(es_sse *p);
/* A new connection: drop a half-received event and a pending CR; keep the
 * last event id and the retry time. */
void es_sse_reset(es_sse *p);
/*
 * Parse n more bytes, calling fn for every event completed. Returns 0, or
 * the non-zero value fn returned. Malformed input is never an error: the
 * format has no invalid lines, only ignored ones.
 */
int es_sse_feed(es_sse *p, const char *buf, size_t n, es_sse_event_fn fn, void *ud);

#endif
