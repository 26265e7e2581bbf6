/*
 * The webhook feed, as a sender sees it: plain sockets against the
 * listener on 127.0.0.1.
 *
 * Two setups:
 *   - in process: the feed made with es_feed_new() on a loop run by a
 *     thread, with a host that records every mention it is given, so each
 *     answer can be checked against what was (not) enqueued, and the loop
 *     must close cleanly (uv_loop_close() == 0) when the feed is closed;
 *   - end to end: `earshot run` with a webhook feed and a `file` sink; a
 *     signed complaint must come out as a complaint alert, refused requests
 *     must leave no alert behind.
 * The feed binds port 0 and the test reads the real port (uv_walk in
 * process, the "listening on" log line end to end), so no port can be
 * taken by someone else in between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <uv.h>

#include "earshot.h"
#include "earshot/config.h"
#include "feed.h"
#include "log.h"
#include "testutil.h"

#define SECRET   "test-secret"
#define GUARD_MS 30000 /* a safety net for reads, never reached when things work */

/* ---- A tiny HTTP client ---------------------------------------------------- */

typedef struct client {
    int fd;
    char buf[65536];
    size_t len;
} client;

typedef struct resp {
    int status;
    char body[4096];
    size_t body_len;
    char retry_after[16];
    bool conn_close;
    bool done;
    /* parser scratch */
    char field[64];
    size_t field_len;
    bool in_value;
} resp;

static int client_open(client *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static void client_close(client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

static void client_send(client *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        p += k;
        n -= (size_t)k;
    }
}

/* Read more bytes: >0 read, 0 EOF (or reset), -1 timed out. */
static ssize_t client_fill(client *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return -1;
    }
    if (c->len == sizeof c->buf) {
        return 0;
    }
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (k < 0) {
        return 0; /* ECONNRESET counts as closed */
    }
    c->len += (size_t)k;
    return k;
}

static int r_on_header_field(http_parser *hp, const char *at, size_t n)
{
    resp *r = hp->data;
    if (r->in_value) {
        r->field_len = 0;
        r->in_value = false;
    }
    size_t room = sizeof r->field - 1 - r->field_len;
    n = n < room ? n : room;
    memcpy(r->field + r->field_len, at, n);
    r->field_len += n;
    r->field[r->field_len] = '\0';
    return 0;
}

static int r_on_header_value(http_parser *hp, const char *at, size_t n)
{
    resp *r = hp->data;
    r->in_value = true;
    if (strcasecmp(r->field, "retry-after") == 0 && n < sizeof r->retry_after) {
        memcpy(r->retry_after, at, n);
        r->retry_after[n] = '\0';
    }
    if (strcasecmp(r->field, "connection") == 0 && n == 5 && strncasecmp(at, "close", 5) == 0) {
        r->conn_close = true;
    }
    return 0;
}

static int r_on_body(http_parser *hp, const char *at, size_t n)
{
    resp *r = hp->data;
    size_t room = sizeof r->body - 1 - r->body_len;
    n = n < room ? n : room;
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int r_on_complete(http_parser *hp)
{
    resp *r = hp->data;
    r->status = (int)hp->status_code;
    r->done = true;
    http_parser_pause(hp, 1);
    return 0;
}

/* Read one response (answers to pipelined requests come one per call).
 * Returns 0, or -1 if the connection closed first. */
static int client_response(client *c, resp *r)
{
    static const http_parser_settings s = {
        .on_header_field = r_on_header_field,
        .on_header_value = r_on_header_value,
        .on_body = r_on_body,
        .on_message_complete = r_on_complete,
    };
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    memset(r, 0, sizeof *r);
    hp.data = r;
    size_t off = 0;
    for (;;) {
        if (off < c->len) {
            off += http_parser_execute(&hp, &s, c->buf + off, c->len - off);
            if (r->done) {
                memmove(c->buf, c->buf + off, c->len - off);
                c->len -= off;
                return 0;
            }
            assert_int_equal(HTTP_PARSER_ERRNO(&hp), HPE_OK);
        }
        ssize_t k = client_fill(c, GUARD_MS);
        assert_true(k >= 0); /* the guard: no answer in 30 s is a failure */
        if (k == 0) {
            return -1;
        }
    }
}

/* True when the server closes the connection (after any bytes it sent). */
static bool client_closed(client *c, int timeout_ms)
{
    for (;;) {
        ssize_t k = client_fill(c, timeout_ms);
        if (k <= 0) {
            return k == 0;
        }
    }
}

/* ---- Requests ------------------------------------------------------------------ */

static void hex_sign(const char *body, size_t n, char out[65])
{
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, n, mac, &len);
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    }
}

/* Standard Webhooks headers for body, at time ts. */
static void sw_headers(const char *id, long long ts, const char *body, char *out, size_t cap)
{
    char tss[32];
    snprintf(tss, sizeof tss, "%lld", ts);
    size_t n = strlen(id) + strlen(tss) + strlen(body) + 3;
    char *msg = malloc(n);
    assert_non_null(msg);
    snprintf(msg, n, "%s.%s.%s", id, tss, body);
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)msg, strlen(msg), mac,
         &len);
    free(msg);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, mac, 32);
    snprintf(out, cap, "webhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: v1,%s\r\n",
             id, tss, b64);
}

/* A request into a malloc'd string. `sig`: 1 = a good X-Earshot-Signature,
 * 0 = none; `extra` more header lines. */
static char *request(const char *method, const char *path, const char *body, int sig,
                     const char *extra, size_t *len)
{
    char sigline[128] = "";
    if (sig) {
        char hex[65];
        hex_sign(body, strlen(body), hex);
        snprintf(sigline, sizeof sigline, "X-Earshot-Signature: sha256=%s\r\n", hex);
    }
    size_t cap = strlen(body) + strlen(extra) + 512;
    char *r = malloc(cap);
    assert_non_null(r);
    int n = snprintf(r, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "%s%sContent-Length: %zu\r\n\r\n%s",
                     method, path, sigline, extra, strlen(body), body);
    *len = (size_t)n;
    return r;
}

/* Send one request on a new connection and read the answer. */
static void exchange(int port, const char *method, const char *path, const char *body, int sig,
                     const char *extra, resp *r)
{
    client c;
    assert_int_equal(client_open(&c, port), 0);
    size_t n;
    char *req = request(method, path, body, sig, extra, &n);
    client_send(&c, req, n);
    free(req);
    assert_int_equal(client_response(&c, r), 0);
    client_close(&c);
}

/* ---- In process: the feed on a loop thread with a recording host ------------- */

typedef struct host {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    es_config *cfg;
    es_feed *feed;
    int port;
    pthread_mutex_t mu;
    int processed;
    char ids[4096]; /* every processed id, each followed by ',' */
    atomic_bool busy;
    atomic_bool stop;
    bool closed;
} host;

static int host_process(void *ud, es_feed *f, const es_mention *m)
{
    host *h = ud;
    (void)f;
    pthread_mutex_lock(&h->mu);
    h->processed++;
    size_t used = strlen(h->ids);
    snprintf(h->ids + used, sizeof h->ids - used, "%.*s,", (int)m->id.len, m->id.ptr);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static bool host_busy(void *ud)
{
    host *h = ud;
    return atomic_load(&h->busy);
}

static void host_closed(void *ud, es_feed *f)
{
    host *h = ud;
    (void)f;
    h->closed = true;
}

static void on_wake(uv_async_t *a)
{
    host *h = a->data;
    if (atomic_load(&h->stop)) {
        es_feed_close(h->feed);
        uv_close((uv_handle_t *)&h->wake, NULL);
    }
}

static void find_listener(uv_handle_t *hd, void *arg)
{
    host *h = arg;
    if (hd->type != UV_TCP) {
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname((uv_tcp_t *)hd, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_INET) {
        h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
}

static void *loop_main(void *arg)
{
    host *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    return NULL;
}

static es_feed_env host_env;

/* The feed under test (a webhook at /hook with the shared secret, then
 * feed_extra) with a stdout sink. */
#define HOST_CONFIG(feed_extra)                                                                \
    "topics:\n"                                                                                 \
    "  - name: acme\n"                                                                          \
    "    query: acme\n"                                                                         \
    "feeds:\n"                                                                                  \
    "  - name: hook\n"                                                                          \
    "    type: webhook\n"                                                                       \
    "    listen: 127.0.0.1:0\n"                                                                 \
    "    path: /hook\n"                                                                         \
    "    secret_env: ES_TEST_WEBHOOK_SECRET\n" feed_extra "sinks:\n"                            \
    "  - name: out\n"                                                                           \
    "    type: stdout\n"

static const char *host_config_fmt = HOST_CONFIG("    max_body: 2KiB\n");

/* The same feed with a short keep-alive, and a stall alarm (idle_timeout)
 * shorter than it: the two must not be confused. */
static const char *host_config_keepalive =
    HOST_CONFIG("    idle_timeout: 1s\n"
                "    keepalive_timeout: 2500ms\n");

static int host_setup_with(void **state, const char *yaml)
{
    host *h = calloc(1, sizeof *h);
    assert_non_null(h);
    setenv("ES_TEST_WEBHOOK_SECRET", SECRET, 1);
    es_log_set_level(ES_LOG_WARN);
    es_error err;
    memset(&err, 0, sizeof err);
    if (es_config_load_buffer(yaml, strlen(yaml), "webhook.yaml", NULL, NULL, &h->cfg, &err) !=
        0) {
        fail_msg("config: %d:%d: %s", err.line, err.col, err.msg);
    }
    assert_int_equal(uv_loop_init(&h->loop), 0);
    pthread_mutex_init(&h->mu, NULL);
    host_env = (es_feed_env){
        .loop = &h->loop,
        .process = host_process,
        .busy = host_busy,
        .on_closed = host_closed,
        .ud = h,
    };
    if (es_feed_new(es_config_feed(h->cfg, 0), &host_env, &h->feed, &err) != 0) {
        fail_msg("feed: %s", err.msg);
    }
    assert_int_equal(es_feed_start(h->feed), 0);
    uv_walk(&h->loop, find_listener, h);
    assert_true(h->port > 0);
    uv_async_init(&h->loop, &h->wake, on_wake);
    h->wake.data = h;
    assert_int_equal(pthread_create(&h->thread, NULL, loop_main, h), 0);
    *state = h;
    return 0;
}

static int host_setup(void **state)
{
    return host_setup_with(state, host_config_fmt);
}

static int host_setup_keepalive(void **state)
{
    return host_setup_with(state, host_config_keepalive);
}

static int host_teardown(void **state)
{
    host *h = *state;
    atomic_store(&h->stop, true);
    uv_async_send(&h->wake);
    pthread_join(h->thread, NULL);
    /* Every handle the feed opened must be closed by now. */
    assert_true(h->closed);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    es_config_free(h->cfg);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return 0;
}

static int processed(host *h, char *ids, size_t cap)
{
    pthread_mutex_lock(&h->mu);
    int n = h->processed;
    if (ids != NULL) {
        snprintf(ids, cap, "%s", h->ids);
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- In-process tests ------------------------------------------------------------ */

static void test_signed_array_is_accepted(void **state)
{
    host *h = *state;
    resp r;
    exchange(
        h->port, "POST", "/hook",
        "[{\"id\":\"a1\",\"text\":\"acme lost my bag\"},\n {\"id\":\"a2\",\"text\":\"acme ok\"}]",
        1, "", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"accepted\":2,\"duplicates\":0}");
    char ids[256];
    assert_int_equal(processed(h, ids, sizeof ids), 2);
    assert_string_equal(ids, "a1,a2,");
    /* One object, the query string ignored for the path. */
    exchange(h->port, "POST", "/hook?source=test", "{\"id\":\"a3\",\"text\":\"acme\"}", 1, "", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"accepted\":1,\"duplicates\":0}");
    assert_int_equal(processed(h, NULL, 0), 3);
}

static void test_refusals_enqueue_nothing(void **state)
{
    host *h = *state;
    const char *good = "{\"id\":\"r1\",\"text\":\"acme lost my bag\"}";
    resp r;

    /* A signature over other bytes. */
    char bad[128];
    snprintf(bad, sizeof bad, "X-Earshot-Signature: %064d\r\n", 0);
    exchange(h->port, "POST", "/hook", good, 0, bad, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"error\":\"bad_signature\""));

    /* No signature at all. */
    exchange(h->port, "POST", "/hook", good, 0, "", &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"error\":\"missing_signature\""));

    /* Malformed JSON: 400 naming the line and column. */
    exchange(h->port, "POST", "/hook", "{\"id\":\"r2\",\n\"text\": oops}", 1, "", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"error\":\"invalid_json\""));
    assert_non_null(strstr(r.body, "\"line\":"));
    assert_non_null(strstr(r.body, "\"column\":"));

    /* One bad record spoils the batch: the good one is not taken either. */
    exchange(h->port, "POST", "/hook",
             "[{\"id\":\"r3\",\"text\":\"acme fine\"},{\"id\":\"r4\",\"txt\":\"no text\"}]", 1, "",
             &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "text"));

    /* Wrong path, wrong method, not JSON, empty. */
    exchange(h->port, "POST", "/other", good, 1, "", &r);
    assert_int_equal(r.status, 404);
    exchange(h->port, "PUT", "/hook", good, 1, "", &r);
    assert_int_equal(r.status, 405);
    client c;
    assert_int_equal(client_open(&c, h->port), 0);
    const char *text =
        "POST /hook HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    client_send(&c, text, strlen(text));
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 415);
    /* ...and the connection still serves the next request. */
    const char *get = "GET /hook HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(&c, get, strlen(get));
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 405);
    client_close(&c);
    exchange(h->port, "POST", "/hook", "  \n", 1, "", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "empty_body"));

    assert_int_equal(processed(h, NULL, 0), 0);
    const es_feed_counters *fc = es_feed_counters_get(h->feed);
    assert_int_equal(fc->processed, 0);
}

static void test_oversized_body(void **state)
{
    host *h = *state;
    resp r;
    /* Content-Length over max_body (2 KiB): refused before the body. */
    client c;
    assert_int_equal(client_open(&c, h->port), 0);
    const char *head = "POST /hook HTTP/1.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100000\r\n\r\n";
    client_send(&c, head, strlen(head));
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 413);
    assert_true(r.conn_close);
    assert_true(client_closed(&c, GUARD_MS));
    client_close(&c);

    /* A chunked body that grows past it while streaming. */
    assert_int_equal(client_open(&c, h->port), 0);
    const char *chead = "POST /hook HTTP/1.1\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
    client_send(&c, chead, strlen(chead));
    char chunk[1100];
    memset(chunk, ' ', sizeof chunk);
    int n = snprintf(chunk, sizeof chunk, "400\r\n");
    chunk[n] = '[';
    memcpy(chunk + n + 1024, "\r\n", 2);
    client_send(&c, chunk, (size_t)n + 1026);
    client_send(&c, chunk, (size_t)n + 1026); /* 2 KiB of body... */
    client_send(&c, chunk, (size_t)n + 1026); /* ...and over */
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "too_large"));
    client_close(&c);
    assert_int_equal(processed(h, NULL, 0), 0);
}

static void test_standard_webhooks_and_github_forms(void **state)
{
    host *h = *state;
    resp r;
    const char *body = "{\"id\":\"s1\",\"text\":\"acme is late again\"}";
    char hdrs[512];
    sw_headers("msg_1", (long long)time(NULL), body, hdrs, sizeof hdrs);
    exchange(h->port, "POST", "/hook", body, 0, hdrs, &r);
    assert_int_equal(r.status, 202);

    /* Signed correctly, but ten minutes ago: a replay. */
    sw_headers("msg_2", (long long)time(NULL) - 600, body, hdrs, sizeof hdrs);
    exchange(h->port, "POST", "/hook", body, 0, hdrs, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "stale_timestamp"));

    /* The signature of another body. */
    sw_headers("msg_3", (long long)time(NULL), "{}", hdrs, sizeof hdrs);
    exchange(h->port, "POST", "/hook", body, 0, hdrs, &r);
    assert_int_equal(r.status, 401);

    /* Bare hex (no sha256= prefix), upper case. */
    char hex[65], line[128];
    const char *b2 = "{\"id\":\"s2\",\"text\":\"acme\"}";
    hex_sign(b2, strlen(b2), hex);
    for (char *p = hex; *p; p++) {
        *p = (char)(*p >= 'a' ? *p - 32 : *p);
    }
    snprintf(line, sizeof line, "x-earshot-signature: %s\r\n", hex);
    exchange(h->port, "POST", "/hook", b2, 0, line, &r);
    assert_int_equal(r.status, 202);

    char ids[256];
    assert_int_equal(processed(h, ids, sizeof ids), 2);
    assert_string_equal(ids, "s1,s2,");
}

static void test_keep_alive_and_pipelining(void **state)
{
    host *h = *state;
    client c;
    assert_int_equal(client_open(&c, h->port), 0);
    size_t n1, n2, n3;
    char *r1 = request("POST", "/hook", "{\"id\":\"k1\",\"text\":\"acme\"}", 1, "", &n1);
    char *r2 = request("POST", "/hook", "{\"id\":\"k2\",\"text\":\"acme\"}", 1, "", &n2);
    char *r3 = request("POST", "/hook", "{\"id\":\"k3\",\"text\":\"acme\"}", 1, "", &n3);
    /* Two requests in one write: two answers, in order. */
    char *both = malloc(n1 + n2);
    memcpy(both, r1, n1);
    memcpy(both + n1, r2, n2);
    client_send(&c, both, n1 + n2);
    resp r;
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    assert_false(r.conn_close);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    /* The same connection, later, split mid-headers. */
    client_send(&c, r3, 20);
    client_send(&c, r3 + 20, n3 - 20);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    client_close(&c);
    free(both);
    free(r1);
    free(r2);
    free(r3);
    char ids[256];
    assert_int_equal(processed(h, ids, sizeof ids), 3);
    assert_string_equal(ids, "k1,k2,k3,");
}

static void test_expect_continue(void **state)
{
    host *h = *state;
    const char *body = "{\"id\":\"e1\",\"text\":\"acme\"}";
    size_t n;
    resp r;
    client c;
    /* Signed: "100 Continue" once the headers pass, then the answer. */
    char *req = request("POST", "/hook", body, 1, "Expect: 100-continue\r\n", &n);
    size_t head = (size_t)(strstr(req, "\r\n\r\n") + 4 - req);
    assert_int_equal(client_open(&c, h->port), 0);
    client_send(&c, req, head);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 100);
    client_send(&c, req + head, n - head);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    client_close(&c);
    free(req);
    /* Unsigned: refused at the headers, without waiting for the body. */
    req = request("POST", "/hook", body, 0, "Expect: 100-continue\r\n", &n);
    head = (size_t)(strstr(req, "\r\n\r\n") + 4 - req);
    assert_int_equal(client_open(&c, h->port), 0);
    client_send(&c, req, head);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 401);
    assert_true(r.conn_close);
    assert_non_null(strstr(r.body, "\"message\":\"the request is not signed"));
    client_close(&c);
    free(req);
    assert_int_equal(processed(h, NULL, 0), 1);
}

static void test_backpressure_503(void **state)
{
    host *h = *state;
    resp r;
    atomic_store(&h->busy, true);
    exchange(h->port, "POST", "/hook", "{\"id\":\"b1\",\"text\":\"acme\"}", 1, "", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "1");
    assert_int_equal(processed(h, NULL, 0), 0);
    atomic_store(&h->busy, false);
    exchange(h->port, "POST", "/hook", "{\"id\":\"b1\",\"text\":\"acme\"}", 1, "", &r);
    assert_int_equal(r.status, 202);
    assert_int_equal(processed(h, NULL, 0), 1);
}

static void test_slow_client_is_dropped(void **state)
{
    host *h = *state;
    client c;
    assert_int_equal(client_open(&c, h->port), 0);
    const char *part = "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: appl";
    client_send(&c, part, strlen(part));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Then nothing: the header deadline (10 s) answers 408 and closes. */
    resp r;
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 408);
    assert_true(client_closed(&c, GUARD_MS));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs > 5.0 && secs < 25.0);
    client_close(&c);
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* keepalive_timeout (2.5 s here) closes an idle kept-alive connection;
 * idle_timeout (1 s here) is the stall alarm and leaves it alone. */
static void test_keepalive_timeout_is_its_own_key(void **state)
{
    host *h = *state;
    client c;
    assert_int_equal(client_open(&c, h->port), 0);
    size_t n;
    char *req = request("POST", "/hook", "{\"id\":\"ka1\",\"text\":\"acme\"}", 1, "", &n);
    client_send(&c, req, n);
    free(req);
    resp r;
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    assert_false(r.conn_close);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Past idle_timeout: still open (it used to close here, at 1 s). */
    assert_false(client_closed(&c, 1500));
    req = request("POST", "/hook", "{\"id\":\"ka2\",\"text\":\"acme\"}", 1, "", &n);
    client_send(&c, req, n);
    free(req);
    assert_int_equal(client_response(&c, &r), 0);
    assert_int_equal(r.status, 202);
    /* Then closed by the keep-alive timeout, counted from the last answer. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(client_closed(&c, GUARD_MS));
    double secs = since(&t0);
    if (secs < 2.0 || secs > 15.0) {
        fail_msg("kept-alive connection closed after %.2f s, keepalive_timeout is 2.5 s", secs);
    }
    client_close(&c);
    char ids[256];
    assert_int_equal(processed(h, ids, sizeof ids), 2);
    assert_string_equal(ids, "ka1,ka2,");
}

static void test_many_connections_and_the_cap(void **state)
{
    host *h = *state;
    enum { N = 100, CAP = 128 };
    static client cs[CAP + 1];
    /* 100 at once, each with a request, all answered. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(client_open(&cs[i], h->port), 0);
        char body[64];
        snprintf(body, sizeof body, "{\"id\":\"m%d\",\"text\":\"acme\"}", i);
        size_t n;
        char *req = request("POST", "/hook", body, 1, "", &n);
        client_send(&cs[i], req, n);
        free(req);
    }
    for (int i = 0; i < N; i++) {
        resp r;
        assert_int_equal(client_response(&cs[i], &r), 0);
        assert_int_equal(r.status, 202);
    }
    assert_int_equal(processed(h, NULL, 0), N);
    /* Fill the cap with open connections: the next one is told 503. */
    for (int i = N; i < CAP; i++) {
        assert_int_equal(client_open(&cs[i], h->port), 0);
    }
    /* A request on the last one under the cap proves they were all taken. */
    resp r;
    size_t n;
    char *req = request("POST", "/hook", "{\"id\":\"last\",\"text\":\"acme\"}", 1, "", &n);
    client_send(&cs[CAP - 1], req, n);
    assert_int_equal(client_response(&cs[CAP - 1], &r), 0);
    assert_int_equal(r.status, 202);
    assert_int_equal(client_open(&cs[CAP], h->port), 0);
    client_send(&cs[CAP], req, n);
    free(req);
    assert_int_equal(client_response(&cs[CAP], &r), 0);
    assert_int_equal(r.status, 503);
    assert_true(client_closed(&cs[CAP], GUARD_MS));
    for (int i = 0; i <= CAP; i++) {
        client_close(&cs[i]);
    }
    assert_int_equal(processed(h, NULL, 0), N + 1);
}

/* ---- End to end: earshot run ----------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    int err_fd;
    pthread_t drain;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char log[1 << 16];
    size_t log_len;
    bool eof;
} proc;

static void *drain_main(void *arg)
{
    proc *p = arg;
    char buf[4096];
    for (;;) {
        ssize_t k = read(p->err_fd, buf, sizeof buf);
        pthread_mutex_lock(&p->mu);
        if (k <= 0) {
            p->eof = true;
        } else {
            size_t room = sizeof p->log - 1 - p->log_len;
            size_t n = (size_t)k < room ? (size_t)k : room;
            memcpy(p->log + p->log_len, buf, n);
            p->log_len += n;
            p->log[p->log_len] = '\0';
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (k <= 0) {
            return NULL;
        }
    }
}

/* Wait for "listening on ... (port N)" in the log; 0 if the process ended. */
static int wait_port(proc *p)
{
    int port = 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += GUARD_MS / 1000;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        const char *s = strstr(p->log, "(port ");
        if (s != NULL && strchr(s, ')') != NULL) {
            port = atoi(s + 6);
            break;
        }
        if (p->eof || pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return port;
}

/*
 * Write a config in dir (one webhook feed at /hooks/earshot with the
 * shared secret, plus feed_extra, lines of further feed keys; one file
 * sink at *alerts) and start `earshot run` on it, its stderr drained into
 * p->log. Returns the port the feed listens on, or <= 0.
 */
static int start_engine(proc *p, const char *dir, char *alerts, size_t alerts_cap,
                        const char *feed_extra)
{
    char cfg[512], cfgtext[2048];
    snprintf(cfg, sizeof cfg, "%s/earshot.yaml", dir);
    snprintf(alerts, alerts_cap, "%s/alerts.ndjson", dir);
    snprintf(cfgtext, sizeof cfgtext,
             "state: %s/state.db\n"
             "topics:\n"
             "  - name: acme\n"
             "    query: '@acme OR acme'\n"
             "feeds:\n"
             "  - name: hook\n"
             "    type: webhook\n"
             "    listen: 127.0.0.1:0\n"
             "    path: /hooks/earshot\n"
             "    secret_env: ES_TEST_WEBHOOK_SECRET\n"
             "%s"
             "sinks:\n"
             "  - name: archive\n"
             "    type: file\n"
             "    path: %s\n",
             dir, feed_extra, alerts);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(cfgtext, f);
    fclose(f);

    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    setenv("ES_TEST_WEBHOOK_SECRET", SECRET, 1);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execl(ES_TEST_EARSHOT, "earshot", "run", "-c", cfg, "--lexicons", ES_TEST_LEXICONS,
              "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->err_fd = fds[0];
    pthread_create(&p->drain, NULL, drain_main, p);
    return wait_port(p);
}

static void test_end_to_end(void **state)
{
    (void)state;
    char dir[] = "/tmp/es_webhook_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char alerts[512];
    static proc p;
    int port = start_engine(&p, dir, alerts, sizeof alerts, "    max_body: 4KiB\n");
    if (port <= 0) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, NULL, 0);
        pthread_join(p.drain, NULL);
        fail_msg("earshot run did not start listening:\n%s", p.log);
    }

    resp r;
    const char *good = "{\"id\":\"good-1\",\"text\":\"@acme you lost my bag again and nobody "
                       "answers, worst service ever\",\"author\":\"jdoe\"}";
    exchange(port, "POST", "/hooks/earshot", good, 1, "", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"accepted\":1,\"duplicates\":0}");
    /* The same mention again: taken, but not processed twice. */
    exchange(port, "POST", "/hooks/earshot", good, 1, "", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"accepted\":0,\"duplicates\":1}");

    const char *sw = "{\"id\":\"sw-1\",\"text\":\"@acme my order never arrived and support keeps "
                     "ignoring me, this is unacceptable\"}";
    char hdrs[512];
    sw_headers("msg_e2e", (long long)time(NULL), sw, hdrs, sizeof hdrs);
    exchange(port, "POST", "/hooks/earshot", sw, 0, hdrs, &r);
    assert_int_equal(r.status, 202);

    /* Refused: none of these may leave an alert behind. */
    const char *badsig = "{\"id\":\"bad-sig\",\"text\":\"@acme you lost my bag again and nobody "
                         "answers, worst service ever\"}";
    char wrong[128];
    snprintf(wrong, sizeof wrong, "X-Earshot-Signature: sha256=%064d\r\n", 7);
    exchange(port, "POST", "/hooks/earshot", badsig, 0, wrong, &r);
    assert_int_equal(r.status, 401);
    sw_headers("msg_old", (long long)time(NULL) - 3600, badsig, hdrs, sizeof hdrs);
    exchange(port, "POST", "/hooks/earshot", badsig, 0, hdrs, &r);
    assert_int_equal(r.status, 401);

    char big[6000];
    int n = snprintf(big, sizeof big,
                     "{\"id\":\"too-big\",\"text\":\"@acme you lost my bag again, worst service "
                     "ever\",\"pad\":\"");
    memset(big + n, 'x', 5000);
    snprintf(big + n + 5000, sizeof big - (size_t)n - 5000, "\"}");
    exchange(port, "POST", "/hooks/earshot", big, 1, "", &r);
    assert_int_equal(r.status, 413);

    exchange(port, "POST", "/hooks/earshot",
             "[{\"id\":\"mixed-good\",\"text\":\"@acme you lost my bag again and nobody answers, "
             "worst service ever\"},\n{\"id\":\"mixed-bad\",\"text\":}]",
             1, "", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"line\":2"));

    /* Graceful stop: everything accepted is delivered before exit 0. */
    kill(p.pid, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
    pthread_join(p.drain, NULL);
    close(p.err_fd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_msg("earshot run exited with %d:\n%s", st, p.log);
    }

    char *out = es_test_read_file(alerts, NULL);
    if (out == NULL) {
        fail_msg("no alerts file; log:\n%s", p.log);
    }
    const char *a = strstr(out, "\"id\":\"good-1\"");
    if (a == NULL || strstr(out, "\"id\":\"sw-1\"") == NULL) {
        fail_msg("missing complaint alerts:\n%s\nlog:\n%s", out, p.log);
    }
    assert_null(strstr(a + 1, "\"id\":\"good-1\"")); /* once, not twice */
    assert_non_null(strstr(out, "\"kind\":\"complaint\""));
    assert_null(strstr(out, "bad-sig"));
    assert_null(strstr(out, "too-big"));
    assert_null(strstr(out, "mixed-good"));
    free(out);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
}

/* Wait until `path` holds `text` (count times); false after timeout_ms. */
static bool wait_file_text(const char *path, const char *text, int count, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (since(&t0) * 1000 < timeout_ms) {
        char *s = es_test_read_file(path, NULL);
        int seen = 0;
        for (const char *p = s; p != NULL && (p = strstr(p, text)) != NULL; p++) {
            seen++;
        }
        free(s);
        if (seen >= count) {
            return true;
        }
        poll(NULL, 0, 100);
    }
    return false;
}

/*
 * idle_timeout means for the webhook feed what it means for every feed:
 * nothing pushed for that long raises feed_stalled, and the next mention
 * resolves it. The listener's keep-alive has nothing to do with it.
 */
static void test_end_to_end_stall(void **state)
{
    (void)state;
    char dir[] = "/tmp/es_webhook_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char alerts[512];
    static proc p;
    int port = start_engine(&p, dir, alerts, sizeof alerts, "    idle_timeout: 1s\n");
    bool stalled = port > 0 && wait_file_text(alerts, "\"kind\":\"feed_stalled\"", 1, 15000);
    bool resolved = false;
    if (stalled) {
        resp r;
        exchange(port, "POST", "/hooks/earshot",
                 "{\"id\":\"after-stall\",\"text\":\"acme is fine today\"}", 1, "", &r);
        assert_int_equal(r.status, 202);
        resolved = wait_file_text(alerts, "\"kind\":\"feed_stalled\"", 2, 15000);
    }
    kill(p.pid, SIGTERM);
    int st = 0;
    waitpid(p.pid, &st, 0);
    pthread_join(p.drain, NULL);
    close(p.err_fd);
    if (!stalled || !resolved) {
        char *out = es_test_read_file(alerts, NULL);
        fail_msg("feed_stalled %s:\n%s\nlog:\n%s", stalled ? "never resolved" : "never raised",
                 out != NULL ? out : "(no alerts file)", p.log);
    }
    char *out = es_test_read_file(alerts, NULL);
    assert_non_null(out);
    const char *first = strstr(out, "\"kind\":\"feed_stalled\"");
    assert_non_null(first);
    assert_non_null(strstr(out, "\"status\":\"resolved\""));
    assert_non_null(strstr(out, "feed hook has delivered no mention"));
    free(out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    es_feed_type_register(&es_feed_type_webhook);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signed_array_is_accepted, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_enqueue_nothing, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_standard_webhooks_and_github_forms, host_setup,
                                        host_teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_and_pipelining, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_503, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_is_dropped, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_many_connections_and_the_cap, host_setup,
                                        host_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_timeout_is_its_own_key,
                                        host_setup_keepalive, host_teardown),
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_end_to_end_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
