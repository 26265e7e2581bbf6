/*
 * A tiny scripted HTTP/1.1 receiver on 127.0.0.1 for delivery tests. It runs
 * in a thread, answers one request per connection (Connection: close), and
 * records every request with its arrival time, so a test can assert what
 * arrived, when, and in what order.
 *
 * The script says what happens to the 1st, 2nd, ... request; after it runs
 * out, `then` applies to every later request. Include fake_http.c in the one
 * test file that uses it (tests link only testutil.c).
 */
#ifndef ES_FAKE_HTTP_H
#define ES_FAKE_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FH_RESPOND, /* answer with status, headers and body */
    FH_HANG,    /* say nothing for `ms`, or until the client gives up */
    FH_REFUSE,  /* drop this connection and close the listener for `ms`:
                 * connections are refused until it reopens on the same port */
} fh_action;

typedef struct fh_step {
    fh_action action;
    int status;
    const char *headers; /* extra header lines, each ending in "\r\n"; may be NULL */
    const char *body;    /* may be NULL */
    int ms;
} fh_step;

typedef struct fh_request {
    int64_t at_ms; /* CLOCK_REALTIME when the whole request had arrived */
    int step;      /* index into the script, or -1 for `then` */
    int status;    /* the status answered, 0 if none */
    char method[8];
    char path[256];
    char *headers; /* the raw header block */
    char *body;
    size_t body_len;
} fh_request;

typedef struct fh_server fh_server;

/* Start on an ephemeral port. The script is copied. NULL on failure. */
fh_server *fh_start(const fh_step *script, size_t n, const fh_step *then);
int fh_port(const fh_server *s);
/* Wait until at least n requests were recorded, or timeout_ms passed.
 * Returns the number recorded. */
size_t fh_wait(fh_server *s, size_t n, int timeout_ms);
size_t fh_count(fh_server *s);
/* Request i (stable once recorded). */
const fh_request *fh_get(fh_server *s, size_t i);
/* A header's value (case-insensitive name) copied into out; NULL if absent. */
const char *fh_header(const fh_request *r, const char *name, char *out, size_t size);
void fh_stop(fh_server *s);

#endif
