/*
 * The webhook feed's request parser, apart from its sockets.
 *
 * feed_webhook.c listens on a TCP port and hands every byte a connection
 * reads to one es_wh_parser. The parser is an HTTP/1.1 request parser
 * (Debian's http-parser underneath) plus the webhook's rules: the path, the
 * method, the content type, the header and body ceilings and the HMAC
 * signature. It does no I/O and reads no clock (the caller passes the
 * time in), so the fuzz target drives exactly the code the listener runs.
 *
 * Driving it:
 *
 *   es_wh_parser_init(&p, &conf);
 *   while (bytes arrive) {
 *       size_t off = 0;
 *       while (off < n) {
 *           size_t used;
 *           es_wh_event ev = es_wh_parser_feed(&p, data + off, n - off, now_ms, &used);
 *           off += used;
 *           if (p.send_continue) { write "100 Continue"; p.send_continue = false; }
 *           if (ev == ES_WH_MORE) break;
 *           ...answer (ES_WH_ACCEPT: deliver the body first)...
 *           if (p.close) { close the connection; stop }
 *           es_wh_parser_next(&p);   (then go on with the rest of the bytes)
 *       }
 *   }
 *   es_wh_parser_free(&p);
 *
 * Pipelined requests come out one at a time, in order: the parser stops at
 * the end of each request and reports how many bytes it used.
 */
#ifndef ES_FEED_WEBHOOK_H
#define ES_FEED_WEBHOOK_H

#include "buf.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The listener's limits. Those with a config key (max_header_size,
 * max_connections, read_timeout, keepalive_timeout) default to these in
 * src/config_schema.c too (tests/test_sink_config.c checks they agree). */
#define ES_WH_MAX_HEADER_BYTES     16384 /* request line + headers */
#define ES_WH_MAX_HEADERS          64
#define ES_WH_TOLERANCE_S          300 /* Standard Webhooks timestamp tolerance */
#define ES_WH_MAX_CONNECTIONS      128
#define ES_WH_READ_TIMEOUT_MS      10000 /* headers must arrive within this; body: per read */
/* A kept-alive connection with no request in flight is closed after this.
 * Not the feed's `idle_timeout`: that one, as for every feed, is how long
 * the feed may go without a mention before feed_stalled is raised. */
#define ES_WH_KEEPALIVE_TIMEOUT_MS 60000

/* What the parser checks requests against. Everything is borrowed and must
 * outlive the parsers made with it. */
typedef struct es_wh_conf {
    const char *path;       /* the one path that takes mentions ("/hooks/x") */
    const char *sig_header; /* header with hex or "sha256=<hex>" HMAC of the body */
    /* HMAC-SHA256 key; NULL: requests need no signature. */
    const unsigned char *key;
    size_t key_len;
    size_t max_body;
    size_t max_header_bytes; /* 0: ES_WH_MAX_HEADER_BYTES */
    size_t max_headers;      /* 0: ES_WH_MAX_HEADERS */
    int64_t tolerance_s;     /* 0: ES_WH_TOLERANCE_S */
} es_wh_conf;

typedef enum es_wh_event {
    ES_WH_MORE,   /* all bytes used; the request is not complete yet */
    ES_WH_ANSWER, /* answer p.status now (an error: p.error, p.why) */
    ES_WH_ACCEPT, /* a complete, authenticated request: deliver the body, then answer */
} es_wh_event;

/* A header the parser keeps (offsets into the header buffer). */
typedef struct es_wh_hdr {
    uint32_t name, name_len, value, value_len;
} es_wh_hdr;

typedef struct es_wh_parser {
    /* ---- What the last event says (read-only for the caller) ---- */
    int status;        /* the HTTP status to answer (ES_WH_ANSWER) */
    const char *error; /* a short machine name: "bad_signature", "too_large", ... */
    char why[256];     /* a human sentence for the error body and the log */
    bool close;        /* the connection must close after the answer */
    bool keep_alive;   /* the client asked to keep it open (http_should_keep_alive) */
    bool http10;       /* an HTTP/1.0 request (answer "Connection: keep-alive" if kept) */
    /* Set when the client waits for "100 Continue" before sending the body;
     * the caller writes it and clears the flag. */
    bool send_continue;

    /* ---- Private ---- */
    const es_wh_conf *conf;
    http_parser hp;
    es_buf head; /* URL, then header names and values, back to back */
    es_buf body;
    es_wh_hdr hdrs[ES_WH_MAX_HEADERS];
    size_t n_hdrs;
    size_t url_len;
    size_t discarded; /* body bytes of a refused request, read and dropped */
    int64_t now_ms;
    bool in_value; /* the last header callback was a value */
    bool refuse;   /* decided at the headers: answer status at the end */
    bool fatal;    /* decided mid-request: answer at once and close */
    bool complete; /* a request ended; waiting for es_wh_parser_next */
    bool started;  /* a request's first byte has arrived */
    bool headers_done;
} es_wh_parser;

void es_wh_parser_init(es_wh_parser *p, const es_wh_conf *conf);
/* Release the buffers (the parser may be init'ed again). */
void es_wh_parser_free(es_wh_parser *p);

/*
 * Parse up to n bytes; *used says how many were used (the rest belongs to
 * the next request, or to nothing once p.close is set). Never fails: bad
 * input becomes ES_WH_ANSWER with a 4xx status. After ES_WH_ANSWER or
 * ES_WH_ACCEPT call es_wh_parser_next() before feeding again (unless
 * p.close: then stop reading).
 */
es_wh_event es_wh_parser_feed(es_wh_parser *p, const char *data, size_t n, int64_t now_ms,
                              size_t *used);
/* Go on to the next request on the same connection. */
void es_wh_parser_next(es_wh_parser *p);

/* The body of an ES_WH_ACCEPT request (valid until es_wh_parser_next). */
const char *es_wh_parser_body(const es_wh_parser *p, size_t *len);

/* True between a request's first byte and its end (for the read timers). */
bool es_wh_parser_busy(const es_wh_parser *p);
/* True once the headers of the current request are in. */
bool es_wh_parser_headers_done(const es_wh_parser *p);

/*
 * Append a whole HTTP/1.1 response to out: the status line, Date (of
 * now_ms), Content-Type: application/json, Content-Length,
 * "Connection: close" when close (or "keep-alive" for a kept HTTP/1.0
 * client), "Retry-After" when retry_after_s > 0, "Allow: POST" for a 405,
 * then the body.
 */
int es_wh_response(es_buf *out, int status, bool close, bool http10, int retry_after_s,
                   int64_t now_ms, const char *body, size_t body_len);

/* {"error":"<code>","message":"<msg>"[,"line":L,"column":C]} (line/col 0: left out). */
int es_wh_error_json(es_buf *out, const char *code, const char *msg, int line, int col);

/* The reason phrase of a status this feed uses ("Accepted"). */
const char *es_wh_reason(int status);

#endif
