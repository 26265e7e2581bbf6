/*
 * http.c against a tiny HTTP server on 127.0.0.1 run by this test: a
 * streamed body in many chunks, pause and resume, a stalled stream's read
 * timeout, headers (status, Retry-After, X-RateLimit-*), a POST echoed
 * back, connection refused, cancel, and closing with requests in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG (4u << 20)

/* ---- The server -------------------------------------------------------- */

static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[65536];
    size_t len = 0;
    char *end = NULL;
    while (len < sizeof req - 1 && end == NULL) {
        ssize_t n = read(fd, req + len, sizeof req - 1 - len);
        if (n <= 0) {
            close(fd);
            return NULL;
        }
        len += (size_t)n;
        req[len] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    size_t body_len = 0;
    const char *cl = strstr(req, "Content-Length:");
    if (cl != NULL && cl < end) {
        body_len = (size_t)strtoul(cl + 15, NULL, 10);
    }
    while (len < (size_t)(end + 4 - req) + body_len && len < sizeof req - 1) {
        ssize_t n = read(fd, req + len, sizeof req - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    req[len] = '\0';
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    char head[1024];
    if (strcmp(path, "/big") == 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %u\r\nConnection: close\r\n\r\n",
                         BIG);
        write_all(fd, head, (size_t)n);
        char *body = malloc(BIG);
        for (size_t i = 0; i < BIG; i++) {
            body[i] = (char)('a' + i % 26);
        }
        write_all(fd, body, BIG);
        free(body);
    } else if (strcmp(path, "/stall") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst line\n";
        write_all(fd, h, strlen(h));
        /* Then silence until the client gives up and closes. */
        char c;
        while (read(fd, &c, 1) > 0) {
        }
    } else if (strcmp(path, "/limited") == 0) {
        const char *h = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\n"
                        "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 30\r\n"
                        "Content-Length: 4\r\nConnection: close\r\n\r\nslow";
        write_all(fd, h, strlen(h));
    } else if (strcmp(path, "/echo") == 0) {
        const char *body = end + 4;
        size_t blen = len - (size_t)(body - req);
        const char *xt = strstr(req, "X-Test: ");
        char xv[64] = "";
        if (xt != NULL) {
            sscanf(xt + 8, "%63[^\r]", xv);
        }
        char method[16] = "";
        sscanf(req, "%15s", method);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 201 Created\r\nX-Method: %s\r\nX-Got: %s\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         method, xv, blen);
        write_all(fd, head, (size_t)n);
        write_all(fd, body, blen);
    } else {
        const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        write_all(fd, h, strlen(h));
    }
    shutdown(fd, SHUT_WR);
    char c;
    while (read(fd, &c, 1) > 0) {
    }
    close(fd);
    return NULL;
}

static void *srv_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0) {
            return NULL;
        }
        pthread_t t;
        pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static int srv_start(void **state)
{
    (void)state;
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(srv_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv_fd, 64) != 0) {
        return -1;
    }
    socklen_t al = sizeof a;
    getsockname(srv_fd, (struct sockaddr *)&a, &al);
    srv_port = ntohs(a.sin_port);
    return pthread_create(&srv_thread, NULL, srv_main, NULL);
}

static int srv_stop(void **state)
{
    (void)state;
    shutdown(srv_fd, SHUT_RDWR);
    close(srv_fd);
    pthread_join(srv_thread, NULL);
    return 0;
}

static char *url(const char *path)
{
    static char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d%s", srv_port, path);
    return u;
}

/* ---- Client side helpers --------------------------------------------------- */

typedef struct run {
    uv_loop_t loop;
    es_http *h;
    es_http_req *req;
    int done;
    es_http_result res;
    char body[256];
    char error[256];
    long status_at_response;
    int responses;
    uint64_t bytes;
    size_t chunks;
    int bad_bytes;
    /* pause test */
    bool pause_after_first;
    uint64_t bytes_when_paused;
    uint64_t bytes_at_check;
    bool checked;
    uv_timer_t timer;
    bool closed;
} run;

static void on_closed(void *ud)
{
    ((run *)ud)->closed = true;
}

static void run_init(run *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    assert_int_equal(es_http_new(&r->loop, &r->h), 0);
}

static void run_fini(run *r)
{
    es_http_close(r->h, on_closed, r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    assert_true(r->closed);
    assert_int_equal(uv_loop_close(&r->loop), 0);
}

static void on_done(void *ud, es_http_req *req, const es_http_result *res)
{
    run *r = ud;
    (void)req;
    r->done++;
    r->res = *res;
    r->res.body = NULL;
    /* Borrowed for the call only: keep a copy. */
    snprintf(r->error, sizeof r->error, "%s", res->error);
    r->res.error = r->error;
    if (res->body != NULL) {
        snprintf(r->body, sizeof r->body, "%.*s", (int)res->body_len, res->body);
    }
}

static int on_response(void *ud, es_http_req *req)
{
    run *r = ud;
    r->responses++;
    r->status_at_response = es_http_status(req);
    return 0;
}

static int on_data(void *ud, es_http_req *req, const char *p, size_t n)
{
    run *r = ud;
    (void)req;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (char)('a' + (r->bytes + i) % 26)) {
            r->bad_bytes++;
            break;
        }
    }
    r->bytes += n;
    r->chunks++;
    if (r->pause_after_first && r->chunks == 1) {
        r->bytes_when_paused = r->bytes;
        return ES_HTTP_PAUSE;
    }
    return 0;
}

/* ---- Tests -------------------------------------------------------------------- */

static void test_streamed_body_arrives_whole_in_chunks(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {
        .url = url("/big"), .on_response = on_response, .on_data = on_data,
        .on_done = on_done, .ud = &r, .timeout_ms = 30000,
    };
    assert_int_equal(es_http_start(r.h, &o, &r.req), 0);
    assert_int_equal(es_http_active(r.h), 1);
    /* Nothing is called from inside start. */
    assert_int_equal(r.responses, 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.code, 0);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(r.responses, 1);
    assert_int_equal(r.status_at_response, 200);
    assert_int_equal(r.bytes, BIG);
    assert_int_equal(r.res.bytes, BIG);
    assert_int_equal(r.bad_bytes, 0);
    assert_true(r.chunks > 10);
    assert_int_equal(es_http_active(r.h), 0);
    run_fini(&r);
}

static void on_check_paused(uv_timer_t *t)
{
    run *r = t->data;
    r->bytes_at_check = r->bytes;
    r->checked = true;
    assert_true(es_http_paused(r->req));
    es_http_resume(r->req);
    /* Resume never calls back from inside itself. */
    assert_int_equal(r->bytes, r->bytes_at_check);
    uv_close((uv_handle_t *)t, NULL);
}

/* While paused no byte is delivered (the loop keeps running: the server
 * has long sent everything); after resume the rest arrives, in order. */
static void test_pause_and_resume(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    r.pause_after_first = true;
    es_http_opts o = {
        .url = url("/big"), .on_data = on_data, .on_done = on_done, .ud = &r,
        .read_timeout_ms = 1000, /* a paused transfer must not time out */
    };
    assert_int_equal(es_http_start(r.h, &o, &r.req), 0);
    uv_timer_init(&r.loop, &r.timer);
    r.timer.data = &r;
    uv_timer_start(&r.timer, on_check_paused, 1500, 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_true(r.checked);
    assert_int_equal(r.bytes_at_check, r.bytes_when_paused);
    assert_true(r.bytes_when_paused < BIG);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.code, 0);
    assert_int_equal(r.bytes, BIG);
    assert_int_equal(r.bad_bytes, 0);
    run_fini(&r);
}

static int on_data_count(void *ud, es_http_req *req, const char *p, size_t n)
{
    run *r = ud;
    (void)req;
    (void)p;
    r->bytes += n;
    return 0;
}

static void test_stalled_stream_read_timeout(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {
        .url = url("/stall"), .on_data = on_data_count, .on_done = on_done, .ud = &r,
        .read_timeout_ms = 1000,
    };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.code, ES_ETIMEOUT);
    assert_int_equal(r.res.status, 200);
    assert_int_equal(r.bytes, strlen("first line\n"));
    assert_true(el >= 0.9 && el < 10);
    run_fini(&r);
}

static void test_rate_limit_headers_and_buffered_body(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {.url = url("/limited"), .on_done = on_done, .ud = &r, .timeout_ms = 5000};
    es_http_req *req;
    assert_int_equal(es_http_start(r.h, &o, &req), 0);
    /* Header checks happen in on_response; keep a copy of what matters. */
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.code, 0);
    assert_int_equal(r.res.status, 429);
    assert_string_equal(r.body, "slow");
    run_fini(&r);
}

static int64_t ra_ms, rl_rem, rl_reset;
static int on_resp_headers(void *ud, es_http_req *req)
{
    (void)ud;
    int64_t now = 1700000000000LL;
    ra_ms = es_http_retry_after(req, now);
    es_http_rate_limit(req, now, &rl_rem, &rl_reset);
    rl_reset -= now;
    es_str v = es_http_header_value(req, "retry-after");
    assert_int_equal(v.len, 1);
    assert_null(es_http_header_value(req, "X-Nope").ptr);
    return 0;
}

static void test_retry_after_and_ratelimit_parsing(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {.url = url("/limited"), .on_response = on_resp_headers,
                      .on_done = on_done, .ud = &r};
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(ra_ms, 2000);
    assert_int_equal(rl_rem, 0);
    assert_int_equal(rl_reset, 30000);
    run_fini(&r);
}

static void test_post_echo_with_headers(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    const char *hdrs[] = {"X-Test: hello", "Content-Type: application/json"};
    const char *block = "X-Other: 1\nX-Another: 2";
    es_http_opts o = {
        .url = url("/echo"), .headers = hdrs, .n_headers = 2, .header_block = block,
        .header_block_len = strlen(block), .body = "{\"a\":1}", .body_len = 7,
        .on_done = on_done, .ud = &r,
    };
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.status, 201);
    assert_string_equal(r.body, "{\"a\":1}");
    run_fini(&r);

    /* A custom method. */
    run_init(&r);
    o.method = "PUT";
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.res.status, 201);
    run_fini(&r);
}

static void test_bad_requests_refused(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {.url = "file:///etc/passwd", .on_done = on_done, .ud = &r};
    assert_int_equal(es_http_start(r.h, &o, NULL), ES_EINVAL);
    o.url = url("/echo");
    const char *bad[] = {"X-Evil: a\r\nX-Injected: b"};
    o.headers = bad;
    o.n_headers = 1;
    assert_int_equal(es_http_start(r.h, &o, NULL), ES_EINVAL);
    o.headers = NULL;
    o.n_headers = 0;
    o.on_done = NULL;
    assert_int_equal(es_http_start(r.h, &o, NULL), ES_EINVAL);
    assert_int_equal(es_http_active(r.h), 0);
    run_fini(&r);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port that was just free: bind, read the port, close. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    run r;
    run_init(&r);
    es_http_opts o = {.url = u, .on_done = on_done, .ud = &r, .connect_timeout_ms = 2000};
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res.code, ES_EIO);
    assert_int_equal(r.res.status, 0);
    assert_true(strlen(r.res.error) > 0);
    run_fini(&r);
}

static int cancel_in_data(void *ud, es_http_req *req, const char *p, size_t n)
{
    run *r = ud;
    (void)p;
    r->bytes += n;
    es_http_cancel(req);
    return 0;
}

/* Cancelled from inside its own callback: nothing more is called, the
 * loop ends (no handle left behind). */
static void test_cancel_inside_callback(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {.url = url("/stall"), .on_data = cancel_in_data, .on_done = on_done,
                      .ud = &r};
    assert_int_equal(es_http_start(r.h, &o, NULL), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 0);
    assert_true(r.bytes > 0);
    assert_int_equal(es_http_active(r.h), 0);
    run_fini(&r);
}

static void test_cancel_before_start_and_close_in_flight(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    es_http_opts o = {.url = url("/big"), .on_data = on_data, .on_done = on_done, .ud = &r};
    es_http_req *req;
    assert_int_equal(es_http_start(r.h, &o, &req), 0);
    es_http_cancel(req);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 0);
    assert_int_equal(r.bytes, 0);

    /* Closing the driver with a stream open tells its owner. */
    run r2;
    run_init(&r2);
    es_http_opts o2 = {.url = url("/stall"), .on_data = on_data_count, .on_done = on_done,
                       .ud = &r2};
    assert_int_equal(es_http_start(r2.h, &o2, NULL), 0);
    while (r2.bytes == 0) {
        uv_run(&r2.loop, UV_RUN_ONCE);
    }
    run_fini(&r2);
    assert_int_equal(r2.done, 1);
    assert_int_equal(r2.res.code, ES_ECLOSED);
    run_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_body_arrives_whole_in_chunks),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_stalled_stream_read_timeout),
        cmocka_unit_test(test_rate_limit_headers_and_buffered_body),
        cmocka_unit_test(test_retry_after_and_ratelimit_parsing),
        cmocka_unit_test(test_post_echo_with_headers),
        cmocka_unit_test(test_bad_requests_refused),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_cancel_inside_callback),
        cmocka_unit_test(test_cancel_before_start_and_close_in_flight),
    };
    return cmocka_run_group_tests(tests, srv_start, srv_stop);
}
