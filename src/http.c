/*
 * libcurl multi on the libuv loop. See http.h for the rules callers rely on.
 *
 * How the two meet: libcurl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION);
 * we keep one uv_poll per socket and one uv_timer, and hand every readiness
 * event back with curl_multi_socket_action(). Finished transfers are read
 * with curl_multi_info_read() after each of those calls.
 *
 * libcurl refuses multi calls made from inside its own callbacks, and a
 * caller may well start, resume or cancel a request from inside on_data.
 * So starts and resumes are always deferred to a zero-delay "kick" timer,
 * and a cancel made inside a callback only marks the request; it is
 * removed once libcurl has returned.
 */
#include "http.h"
#include "buf.h"
#include "sink.h"
#include "timefmt.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef ES_VERSION
#define ES_VERSION "0"
#endif

typedef struct sock_ctx {
    uv_poll_t poll;
    es_http *h;
    curl_socket_t fd;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct es_http_req {
    es_http *h;
    CURL *easy;
    es_http_opts o;
    char *url;
    struct curl_slist *req_headers;
    char *req_body;
    es_buf hdr;  /* raw header lines of the current response */
    es_buf body; /* buffered mode */
    es_http_header headers[ES_HTTP_MAX_HEADERS];
    size_t n_headers;
    long status;
    uint64_t bytes;
    int abort_code; /* set when we ended the transfer ourselves */
    bool added;     /* in the multi */
    bool want_add;  /* waiting for the kick to be added */
    bool want_resume;
    bool paused;
    bool headers_done;
    bool cancelled;
    bool in_done; /* on_done is running */
    char errbuf[CURL_ERROR_SIZE];
    es_http_req *prev, *next;
};

struct es_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* libcurl's timeout */
    uv_timer_t kick;  /* deferred adds, resumes and removals */
    es_http_req *reqs;
    sock_ctx *socks;
    size_t active;
    int depth; /* > 0 while inside libcurl */
    bool closing;
    int open_handles;
    void (*on_closed)(void *ud);
    void *closed_ud;
};

static void check_done(es_http *h);
static void free_req(es_http_req *r);

/* ---- Sockets and the timer ------------------------------------------------ */

static void on_sock_closed(uv_handle_t *handle)
{
    sock_ctx *c = handle->data;
    es_http *h = c->h;
    free(c);
    if (--h->open_handles == 0 && h->closing) {
        void (*cb)(void *) = h->on_closed;
        void *ud = h->closed_ud;
        free(h);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

static void sock_close(sock_ctx *c)
{
    es_http *h = c->h;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        h->socks = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *c = p->data;
    es_http *h = c->h;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    int running;
    h->depth++;
    curl_multi_socket_action(h->multi, c->fd, flags, &running);
    h->depth--;
    check_done(h);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    es_http *h = userp;
    sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c != NULL) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_close(c);
        }
        return 0;
    }
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(h->loop, &c->poll, fd) != 0) {
            free(c);
            return -1;
        }
        c->h = h;
        c->fd = fd;
        c->poll.data = c;
        c->next = h->socks;
        if (h->socks != NULL) {
            h->socks->prev = c;
        }
        h->socks = c;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, c);
    }
    int ev = 0;
    ev |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    ev |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    es_http *h = t->data;
    int running;
    h->depth++;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    h->depth--;
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    es_http *h = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        /* Zero means "now"; the loop runs it on its next turn, outside
         * libcurl, which is what libcurl asks for. */
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* ---- Per-request callbacks ------------------------------------------------ */

static void parse_headers(es_http_req *r)
{
    r->n_headers = 0;
    char *p = r->hdr.data;
    char *end = p != NULL ? p + r->hdr.len : NULL;
    while (p != NULL && p < end && r->n_headers < ES_HTTP_MAX_HEADERS) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *le = eol != NULL ? eol : end;
        char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon != NULL && !(le - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            char *v = colon + 1;
            char *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            es_http_header *hd = &r->headers[r->n_headers++];
            hd->name = (es_str){p, (size_t)(colon - p)};
            hd->value = (es_str){v, (size_t)(ve - v)};
        }
        p = eol != NULL ? eol + 1 : end;
    }
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    es_http_req *r = ud;
    size_t n = size * nmemb;
    if (r->cancelled) {
        return 0;
    }
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): only the last one counts. */
        es_buf_reset(&r->hdr);
        r->n_headers = 0;
        r->headers_done = false;
        const char *sp = memchr(p, ' ', n);
        r->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
    }
    if (r->headers_done) {
        return n; /* trailers: not kept */
    }
    if (n <= 2 && (n == 0 || p[0] == '\r' || p[0] == '\n')) {
        if (r->status >= 100 && r->status < 200) {
            return n; /* an interim response; the real one follows */
        }
        r->headers_done = true;
        parse_headers(r);
        if (r->o.on_response != NULL) {
            int rc = r->o.on_response(r->o.ud, r);
            if (r->cancelled) {
                return 0;
            }
            if (rc < 0) {
                r->abort_code = rc;
                return 0;
            }
        }
        return n;
    }
    if (es_buf_add(&r->hdr, p, n) != 0) {
        r->abort_code = ES_ETOOBIG;
        return 0;
    }
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    es_http_req *r = ud;
    size_t n = size * nmemb;
    if (r->cancelled) {
        return 0;
    }
    if (r->paused) {
        /* libcurl keeps these bytes and offers them again after
         * curl_easy_pause(CONT). */
        return CURL_WRITEFUNC_PAUSE;
    }
    r->bytes += n;
    if (r->o.on_data == NULL) {
        if (es_buf_add(&r->body, p, n) != 0) {
            r->abort_code = ES_ETOOBIG;
            return 0;
        }
        return n;
    }
    int rc = r->o.on_data(r->o.ud, r, p, n);
    if (r->cancelled) {
        return 0;
    }
    if (rc < 0) {
        r->abort_code = rc;
        return 0;
    }
    if (rc == ES_HTTP_PAUSE) {
        r->paused = true;
    }
    return n;
}

/* ---- Completion ------------------------------------------------------------ */

static void unlink_req(es_http_req *r)
{
    es_http *h = r->h;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else if (h->reqs == r) {
        h->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

static void free_req(es_http_req *r)
{
    es_http *h = r->h;
    if (r->added) {
        curl_multi_remove_handle(h->multi, r->easy);
        r->added = false;
    }
    unlink_req(r);
    if (h->active > 0) {
        h->active--;
    }
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->req_headers);
    free(r->url);
    free(r->req_body);
    es_buf_free(&r->hdr);
    es_buf_free(&r->body);
    free(r);
}

static void finish(es_http_req *r, int code, int curl_code, const char *msg)
{
    if (r->cancelled) {
        free_req(r);
        return;
    }
    if (r->added) {
        curl_multi_remove_handle(r->h->multi, r->easy);
        r->added = false;
    }
    es_http_result res = {
        .code = code,
        .curl_code = curl_code,
        .error = msg != NULL ? msg : "",
        .status = r->status,
        .bytes = r->bytes,
    };
    if (r->o.on_data == NULL && code == 0) {
        res.body = r->body.data != NULL ? r->body.data : "";
        res.body_len = r->body.len;
    }
    r->in_done = true;
    r->o.on_done(r->o.ud, r, &res);
    free_req(r);
}

static int map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return ES_ETIMEOUT;
    case CURLE_OUT_OF_MEMORY:
        return ES_ENOMEM;
    default:
        return ES_EIO;
    }
}

static void check_done(es_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        es_http_req *r = NULL;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL) {
            continue;
        }
        curl_multi_remove_handle(h->multi, r->easy);
        r->added = false;
        int code = map_curl(cc);
        const char *msg = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(cc);
        if (r->abort_code != 0) {
            code = r->abort_code;
            msg = code == ES_ETOOBIG ? "response exceeds its size limit" : es_strerror(code);
        } else if (cc == CURLE_OK) {
            msg = "";
        }
        finish(r, code, (int)cc, msg);
    }
}

/* ---- The kick: deferred adds, resumes, removals --------------------------- */

static void on_kick(uv_timer_t *t)
{
    es_http *h = t->data;
    es_http_req *r = h->reqs, *next;
    /* An on_done below may cancel other requests; counting this as "inside"
     * makes those cancels mark only, so `next` stays valid. */
    h->depth++;
    for (; r != NULL; r = next) {
        next = r->next;
        if (r->cancelled && !r->in_done) {
            free_req(r);
            continue;
        }
        if (r->want_add) {
            r->want_add = false;
            if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
                finish(r, ES_ENOMEM, 0, "cannot add the transfer");
                continue;
            }
            r->added = true;
        }
        if (r->want_resume) {
            r->want_resume = false;
            r->paused = false;
            if (r->added) {
                /* May hand over the held bytes right here: we are outside
                 * libcurl and outside any caller's code. */
                h->depth++;
                curl_easy_pause(r->easy, CURLPAUSE_CONT);
                h->depth--;
            }
        }
    }
    h->depth--;
    for (r = h->reqs; r != NULL; r = next) {
        next = r->next;
        if (r->cancelled && !r->in_done) {
            free_req(r);
        }
    }
    check_done(h);
}

static void kick(es_http *h)
{
    if (!h->closing) {
        uv_timer_start(&h->kick, on_kick, 0, 0);
    }
}

/* ---- Public --------------------------------------------------------------- */

int es_http_new(uv_loop_t *loop, es_http **out)
{
    es_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return ES_ENOMEM;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        goto fail_global;
    }
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        goto fail_multi;
    }
    h->loop = loop;
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->kick);
    h->timer.data = h;
    h->kick.data = h;
    h->open_handles = 2;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;

fail_multi:
    curl_global_cleanup();
fail_global:
    free(h);
    return ES_EIO;
}

static void on_timer_closed(uv_handle_t *t)
{
    es_http *h = t->data;
    if (--h->open_handles == 0) {
        void (*cb)(void *) = h->on_closed;
        void *ud = h->closed_ud;
        free(h);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

void es_http_close(es_http *h, void (*on_closed)(void *ud), void *ud)
{
    if (h == NULL || h->closing) {
        return;
    }
    h->on_closed = on_closed;
    h->closed_ud = ud;
    /* Tell every owner, then forget the request. */
    while (h->reqs != NULL) {
        es_http_req *r = h->reqs;
        if (r->cancelled || r->in_done) {
            free_req(r);
            continue;
        }
        finish(r, ES_ECLOSED, 0, "shutting down");
    }
    h->closing = true;
    /* Cleanup may report sockets removed; sock_cb closes their polls. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    curl_global_cleanup();
    while (h->socks != NULL) {
        sock_close(h->socks);
    }
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
    uv_close((uv_handle_t *)&h->kick, on_timer_closed);
}

size_t es_http_active(const es_http *h)
{
    return h->active;
}

static bool has_crlf(const char *s, size_t n)
{
    return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

static int add_header(es_http_req *r, const char *s, size_t n)
{
    char line[4096];
    if (n == 0) {
        return 0;
    }
    if (n >= sizeof line || has_crlf(s, n)) {
        return ES_EINVAL;
    }
    memcpy(line, s, n);
    line[n] = '\0';
    struct curl_slist *t = curl_slist_append(r->req_headers, line);
    if (t == NULL) {
        return ES_ENOMEM;
    }
    r->req_headers = t;
    return 0;
}

int es_http_start(es_http *h, const es_http_opts *o, es_http_req **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (h->closing) {
        return ES_ECLOSED;
    }
    if (o->url == NULL || o->on_done == NULL ||
        (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)) {
        return ES_EINVAL;
    }
    es_http_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return ES_ENOMEM;
    }
    int rc = ES_ENOMEM;
    r->h = h;
    r->o = *o;
    es_buf_init(&r->hdr, ES_HTTP_MAX_HEADER_BYTES);
    es_buf_init(&r->body, o->max_body ? o->max_body : ES_HTTP_DEFAULT_MAX_BODY);
    r->url = strdup(o->url);
    r->easy = curl_easy_init();
    if (r->url == NULL || r->easy == NULL) {
        goto fail;
    }
    r->o.url = r->url;
    r->o.headers = NULL;
    r->o.header_block = NULL;
    for (size_t i = 0; i < o->n_headers; i++) {
        if ((rc = add_header(r, o->headers[i], strlen(o->headers[i]))) != 0) {
            goto fail;
        }
    }
    const char *p = o->header_block, *end = p != NULL ? p + o->header_block_len : NULL;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol != NULL ? eol : end;
        if ((rc = add_header(r, p, (size_t)(le - p))) != 0) {
            goto fail;
        }
        p = eol != NULL ? eol + 1 : end;
    }
    rc = ES_ENOMEM;
    const char *method = o->method;
    if (o->body != NULL) {
        r->req_body = malloc(o->body_len + 1);
        if (r->req_body == NULL) {
            goto fail;
        }
        memcpy(r->req_body, o->body, o->body_len);
        r->req_body[o->body_len] = '\0';
        /* Without this libcurl sends "Expect: 100-continue" for larger
         * bodies and waits a second for an answer most servers never send. */
        struct curl_slist *t = curl_slist_append(r->req_headers, "Expect:");
        if (t == NULL) {
            goto fail;
        }
        r->req_headers = t;
        if (method == NULL) {
            method = "POST";
        }
    }
    r->o.body = r->req_body;

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    /* Never anything but HTTP(S), and no redirects: a configured URL must
     * not be able to send us to file:// or to another host. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT,
                     o->user_agent != NULL ? o->user_agent : "earshot/" ES_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->req_headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000));
    if (o->timeout_ms > 0) {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    }
    if (o->read_timeout_ms > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((o->read_timeout_ms + 999) / 1000));
    }
    if (r->req_body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    if (method != NULL && strcmp(method, "GET") != 0 &&
        !(strcmp(method, "POST") == 0 && r->req_body != NULL)) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    r->o.method = NULL; /* borrowed from the caller; not needed any more */

    r->next = h->reqs;
    if (h->reqs != NULL) {
        h->reqs->prev = r;
    }
    h->reqs = r;
    h->active++;
    r->want_add = true;
    kick(h);
    if (out != NULL) {
        *out = r;
    }
    return 0;

fail:
    if (r->easy != NULL) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->req_headers);
    free(r->url);
    free(r->req_body);
    es_buf_free(&r->hdr);
    es_buf_free(&r->body);
    free(r);
    return rc;
}

void es_http_pause(es_http_req *r)
{
    r->paused = true;
    r->want_resume = false;
}

void es_http_resume(es_http_req *r)
{
    if (r->cancelled) {
        return;
    }
    if (r->paused || r->want_resume) {
        r->want_resume = true;
        kick(r->h);
    }
}

bool es_http_paused(const es_http_req *r)
{
    return r->paused && !r->want_resume;
}

void es_http_cancel(es_http_req *r)
{
    if (r == NULL || r->cancelled) {
        return;
    }
    r->cancelled = true;
    if (r->in_done) {
        return; /* finish() frees it when on_done returns */
    }
    if (r->h->depth > 0) {
        kick(r->h); /* libcurl is on the stack: remove it afterwards */
        return;
    }
    free_req(r);
}

long es_http_status(const es_http_req *r)
{
    return r->status;
}

es_str es_http_header_value(const es_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name.len == n && strncasecmp(r->headers[i].name.ptr, name, n) == 0) {
            return r->headers[i].value;
        }
    }
    return (es_str){NULL, 0};
}

const es_http_header *es_http_headers(const es_http_req *r, size_t *n)
{
    *n = r->n_headers;
    return r->headers;
}

int64_t es_http_retry_after(const es_http_req *r, int64_t now_ms)
{
    es_str v = es_http_header_value(r, "Retry-After");
    if (v.ptr == NULL) {
        return -1;
    }
    int64_t at = es_sink_parse_retry_after(v.ptr, v.len, now_ms);
    if (at < 0) {
        return -1;
    }
    int64_t d = at - now_ms;
    if (d < 0) {
        d = 0;
    }
    return d < 3600000 ? d : 3600000;
}

static bool all_digits(es_str v)
{
    if (v.len == 0 || v.len > 18) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.ptr[i])) {
            return false;
        }
    }
    return true;
}

static int64_t to_int(es_str v)
{
    int64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        x = x * 10 + (v.ptr[i] - '0');
    }
    return x;
}

bool es_http_rate_limit(const es_http_req *r, int64_t now_ms, int64_t *remaining,
                        int64_t *reset_ms)
{
    *remaining = -1;
    *reset_ms = -1;
    es_str rem = es_http_header_value(r, "X-RateLimit-Remaining");
    if (rem.ptr == NULL) {
        rem = es_http_header_value(r, "X-Rate-Limit-Remaining");
    }
    es_str rst = es_http_header_value(r, "X-RateLimit-Reset");
    if (rst.ptr == NULL) {
        rst = es_http_header_value(r, "X-Rate-Limit-Reset");
    }
    if (rem.ptr != NULL) {
        /* Reddit sends "598.0". */
        size_t n = 0;
        while (n < rem.len && isdigit((unsigned char)rem.ptr[n])) {
            n++;
        }
        if (n > 0 && n <= 18) {
            *remaining = to_int((es_str){rem.ptr, n});
        }
    }
    if (rst.ptr != NULL) {
        es_str whole = rst;
        const char *dot = memchr(rst.ptr, '.', rst.len);
        if (dot != NULL) {
            whole.len = (size_t)(dot - rst.ptr);
        }
        if (all_digits(whole)) {
            int64_t x = to_int(whole);
            /* Epoch seconds are past 2001; anything smaller is a delay. */
            *reset_ms = x >= 1000000000 ? x * 1000 : now_ms + x * 1000;
        } else {
            int64_t t;
            if (es_time_parse(rst.ptr, rst.len, &t) == 0) {
                *reset_ms = t;
            }
        }
    }
    return rem.ptr != NULL || rst.ptr != NULL;
}
