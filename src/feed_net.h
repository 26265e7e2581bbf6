/*
 * What the HTTP feed types (sse, ndjson, poll) share: the request headers
 * made from a feed's options, URLs with query parameters, comparing
 * platform ids, and turning a finished request into a backoff decision.
 * Internal to feed_sse.c, feed_ndjson.c, feed_poll.c and feed_stream.c (the
 * connection lifecycle of the two stream types).
 */
#ifndef ES_FEED_NET_H
#define ES_FEED_NET_H

#include "buf.h"
#include "feed.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request headers: at most this many, each at most this long. */
#define ES_FEED_MAX_HEADERS 32
#define ES_FEED_MAX_HEADER_LEN 4000

/*
 * The fixed request headers of a feed: "Authorization: Bearer <token>" when
 * a `token` secret is configured (read now, from token_env or token_file),
 * then each of the `headers:` list. Owned strings; free with
 * es__feed_headers_free(). The item is borrowed for the call.
 */
typedef struct es_feed_headers {
    char *v[ES_FEED_MAX_HEADERS + 4]; /* room for a caller's few extras */
    size_t n;
} es_feed_headers;

int es__feed_headers_init(es_feed *f, const es_config_item *item, es_feed_headers *h,
                          es_error *err);
/* Add one more header (copied); ES_ETOOBIG when full, ES_EINVAL for CR/LF. */
int es__feed_headers_add(es_feed_headers *h, const char *line);
/* Remove the headers added after the first `keep`. */
void es__feed_headers_truncate(es_feed_headers *h, size_t keep);
void es__feed_headers_free(es_feed_headers *h);

/* A URL option that must be http(s): copies it into *out, or fails with an
 * error naming the feed and the key. */
int es__feed_url_option(es_feed *f, const es_config_item *item, const char *key, bool required,
                        char **out, es_error *err);

/* Does the URL's query already set parameter `name`? */
bool es__feed_url_has_param(const char *url, const char *name);
/* Append "?name=value" or "&name=value" (value percent-encoded) to b, which
 * already holds the URL. */
int es__feed_url_add(es_buf *b, const char *name, const char *value, size_t value_len);

/*
 * Order two ids the way platforms mint them: ids of only digits compare as
 * numbers (Mastodon's and X's snowflakes), others as base-36 words of
 * letters and digits with an optional "t3_"-style kind prefix dropped
 * (Reddit fullnames), longest first, then byte by byte. Returns <0, 0, >0.
 */
int es__feed_id_cmp(const char *a, size_t an, const char *b, size_t bn);

/*
 * A finished request, read as a feed needs it: what schedule to back off
 * on, the Retry-After if any (-1: none), and a short reason for the log
 * ("HTTP 503", "HTTP 429", "connection refused: ..."). `body` is a snippet
 * of an error response's body for the reason (may be NULL).
 */
typedef struct es_feed_failure {
    es_backoff_kind kind;
    int64_t retry_after_ms;
    char why[256];
} es_feed_failure;

void es__feed_failure(const es_feed *f, es_http_req *req, const es_http_result *r,
                      const char *body, size_t body_len, es_feed_failure *out);

/* Keep the first bytes of an error response's body for the log line:
 * printable ASCII only, at most cap-1 bytes. */
void es__feed_snippet(char *out, size_t cap, size_t *len, const char *p, size_t n);

#endif
