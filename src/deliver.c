/* Synchronous delivery from the spool through curl_easy. See deliver.h. */
#include "deliver.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELIVER_MAX_SINKS        64
#define DELIVER_MAX_HEADERS      64
#define DELIVER_RESP_HEADERS_MAX (64u << 10)
/* We only read status lines, rate-limit JSON and error text from bodies. */
#define DELIVER_RESP_BODY_MAX (64u << 10)
/* Per sink per step, so one busy unlimited sink cannot starve the rest. */
#define DELIVER_BATCH 32

struct es_deliver {
    es_spool *spool;
    es_sink *sinks[DELIVER_MAX_SINKS];
    size_t n_sinks;
    es_clock_fn clock;
    void *clock_ud;
    CURL *curl;
    es_sink_request req;
    es_spool_item item;
    es_buf scratch;
    es_buf resp_headers;
    es_buf resp_body;
    es_sink_header headers[DELIVER_MAX_HEADERS];
    size_t n_headers;
    size_t upload_off; /* SMTP read callback position */
    char curl_err[CURL_ERROR_SIZE];
    es_deliver_stats stats;
};

static int64_t real_clock(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int es_deliver_new(es_spool *sp, es_deliver **out)
{
    es_deliver *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return ES_ENOMEM;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (d->curl = curl_easy_init()) == NULL) {
        free(d);
        return ES_ENOMEM;
    }
    d->spool = sp;
    d->clock = real_clock;
    es_sink_request_init(&d->req);
    es_spool_item_init(&d->item);
    es_buf_init(&d->scratch, 32u << 20);
    es_buf_init(&d->resp_headers, DELIVER_RESP_HEADERS_MAX);
    es_buf_init(&d->resp_body, DELIVER_RESP_BODY_MAX);
    *out = d;
    return 0;
}

void es_deliver_free(es_deliver *d)
{
    if (d == NULL) {
        return;
    }
    curl_easy_cleanup(d->curl);
    es_sink_request_free(&d->req);
    es_spool_item_free(&d->item);
    es_buf_free(&d->scratch);
    es_buf_free(&d->resp_headers);
    es_buf_free(&d->resp_body);
    free(d);
}

int es_deliver_add_sink(es_deliver *d, es_sink *s)
{
    if (d->n_sinks == DELIVER_MAX_SINKS) {
        return ES_ETOOBIG;
    }
    for (size_t i = 0; i < d->n_sinks; i++) {
        if (strcmp(d->sinks[i]->name, s->name) == 0) {
            return ES_EINVAL;
        }
    }
    d->sinks[d->n_sinks++] = s;
    return 0;
}

void es_deliver_set_clock(es_deliver *d, es_clock_fn fn, void *ud)
{
    d->clock = fn != NULL ? fn : real_clock;
    d->clock_ud = ud;
}

int64_t es_deliver_now(es_deliver *d)
{
    return d->clock(d->clock_ud);
}

void es_deliver_stats_get(const es_deliver *d, es_deliver_stats *st)
{
    *st = d->stats;
}

int es_deliver_enqueue(es_deliver *d, const char *sink, const es_notification *n, int64_t now_ms)
{
    if (n->key == NULL || n->key[0] == '\0' || n->n_alerts == 0) {
        return ES_EINVAL;
    }
    es_buf_reset(&d->scratch);
    int rc = es_notification_to_json(n, &d->scratch);
    if (rc != 0) {
        return rc;
    }
    return es_spool_enqueue(d->spool, sink, n->key, d->scratch.data, d->scratch.len, now_ms);
}

/* ---- curl --------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    es_deliver *d = ud;
    size_t n = size * nmemb;
    /* Past the ceiling we stop keeping, not reading: the status decides. */
    size_t room = d->resp_body.max - d->resp_body.len;
    (void)es_buf_add(&d->resp_body, p, n < room ? n : room);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    es_deliver *d = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue or a redirect): only the
         * last one's headers count. */
        es_buf_reset(&d->resp_headers);
    }
    size_t room = d->resp_headers.max - d->resp_headers.len;
    (void)es_buf_add(&d->resp_headers, p, n < room ? n : room);
    return n;
}

static size_t on_upload(char *p, size_t size, size_t nmemb, void *ud)
{
    es_deliver *d = ud;
    size_t left = d->req.body.len - d->upload_off;
    size_t n = size * nmemb < left ? size * nmemb : left;
    memcpy(p, d->req.body.data + d->upload_off, n);
    d->upload_off += n;
    return n;
}

/* Split the kept header block into name/value pairs (in place). */
static void parse_headers(es_deliver *d)
{
    d->n_headers = 0;
    char *p = d->resp_headers.data;
    char *end = p != NULL ? p + d->resp_headers.len : NULL;
    while (p != NULL && p < end && d->n_headers < DELIVER_MAX_HEADERS) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line_end = eol != NULL ? eol : end;
        char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL && memcmp(p, "HTTP/", 5) != 0) {
            char *v = colon + 1;
            char *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
                ve--;
            }
            es_sink_header *h = &d->headers[d->n_headers++];
            h->name = (es_str){p, (size_t)(colon - p)};
            h->value = (es_str){v, (size_t)(ve - v)};
        }
        p = eol != NULL ? eol + 1 : end;
    }
}

static struct curl_slist *header_list(const es_buf *headers, bool *oom)
{
    struct curl_slist *list = NULL, *t;
    const char *p = headers->data;
    const char *end = p != NULL ? p + headers->len : NULL;
    char line[4096];
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((eol != NULL ? eol : end) - p);
        if (n > 0 && n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            if ((t = curl_slist_append(list, line)) == NULL) {
                *oom = true;
                break;
            }
            list = t;
        }
        p = eol != NULL ? eol + 1 : end;
    }
    return list;
}

static void send_curl(es_deliver *d, const es_sink *s, es_sink_response *resp)
{
    CURL *c = d->curl;
    es_sink_request *req = &d->req;
    bool oom = false;
    struct curl_slist *headers = NULL, *rcpt = NULL;

    curl_easy_reset(c);
    es_buf_reset(&d->resp_headers);
    es_buf_reset(&d->resp_body);
    d->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, req->url.data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);

    if (req->kind == ES_SINK_REQ_SMTP) {
        char from[300];
        snprintf(from, sizeof from, "<%s>", req->mail_from != NULL ? req->mail_from : "");
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        const char *p = req->rcpt.data;
        const char *end = p != NULL ? p + req->rcpt.len : NULL;
        while (p != NULL && p < end) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            char addr[300];
            size_t n = (size_t)((eol != NULL ? eol : end) - p);
            if (n > 0 && n + 3 < sizeof addr) {
                snprintf(addr, sizeof addr, "<%.*s>", (int)n, p);
                struct curl_slist *t = curl_slist_append(rcpt, addr);
                oom |= t == NULL;
                rcpt = t != NULL ? t : rcpt;
            }
            p = eol != NULL ? eol + 1 : end;
        }
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, d);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body.len);
        d->upload_off = 0;
        if (req->starttls && strncmp(req->url.data, "smtp://", 7) == 0) {
            curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        }
        if (req->username != NULL) {
            curl_easy_setopt(c, CURLOPT_USERNAME, req->username);
        }
        if (req->password != NULL) {
            curl_easy_setopt(c, CURLOPT_PASSWORD, req->password);
        }
    } else {
        /* No redirects, and never anything but HTTP(S): a webhook URL must
         * not be able to point us at file:// or gopher://. */
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_USERAGENT, "earshot/" ES_VERSION);
        headers = header_list(&req->headers, &oom);
        struct curl_slist *t = curl_slist_append(headers, "Expect:");
        oom |= t == NULL;
        headers = t != NULL ? t : headers;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body.data != NULL ? req->body.data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        if (strcmp(req->method, "POST") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        }
    }

    CURLcode cr = oom ? CURLE_OUT_OF_MEMORY : curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    parse_headers(d);

    memset(resp, 0, sizeof *resp);
    resp->status = status;
    if (cr != CURLE_OK) {
        resp->transport = cr == CURLE_OPERATION_TIMEDOUT ? ES_ETIMEOUT : ES_EIO;
        resp->transport_msg = d->curl_err[0] != '\0' ? d->curl_err : curl_easy_strerror(cr);
        if (req->kind != ES_SINK_REQ_SMTP) {
            resp->status = 0; /* a half-read HTTP answer is no answer */
        }
    }
    resp->headers = d->headers;
    resp->n_headers = d->n_headers;
    resp->body = d->resp_body.data != NULL ? d->resp_body.data : "";
    resp->body_len = d->resp_body.len;
}

/* ---- The delivery loop -------------------------------------------------- */

static uint64_t key_seed(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* One attempt at the claimed item; the outcome goes to the spool. */
static int attempt(es_deliver *d, es_sink *s, int64_t now)
{
    es_spool_item *it = &d->item;
    char comp[80];
    snprintf(comp, sizeof comp, "sink:%s", s->name);
    es_notification_doc doc;
    es_error err = {0};
    es_sink_result res;
    memset(&res, 0, sizeof res);
    d->stats.attempts++;

    if (es_notification_parse(it->payload, it->payload_len, &doc, &err) != 0) {
        ES_LOG_ERROR(comp, "notification %s is unreadable (%s); dead-lettered", it->key, err.msg);
        d->stats.dead++;
        return es_spool_dead(d->spool, it->id, now, err.msg);
    }
    doc.n.sent_ms = now;
    int rc = es_sink_build(s, &doc.n, &d->req);
    if (rc != 0) {
        snprintf(res.error, sizeof res.error, "cannot build the message: %s", es_strerror(rc));
        res.verdict = ES_SINK_PERMANENT;
    } else if (d->req.kind == ES_SINK_REQ_LOCAL) {
        if (s->type->perform == NULL) {
            res.verdict = ES_SINK_PERMANENT;
            snprintf(res.error, sizeof res.error, "sink type %s cannot perform", s->type->name);
        } else {
            s->type->perform(s->state, &d->req, s->timeout_ms, &res);
        }
    } else {
        es_sink_response resp;
        send_curl(d, s, &resp);
        resp.now_ms = d->clock(d->clock_ud);
        es_sink_classify(s, &resp, &res);
        now = resp.now_ms;
    }
    es_notification_doc_free(&doc);

    switch (res.verdict) {
    case ES_SINK_DELIVERED:
        d->stats.delivered++;
        ES_LOG_DEBUG(comp, "delivered %s (attempt %d)", it->key, it->attempts);
        return es_spool_done(d->spool, it->id, now);
    case ES_SINK_RETRY: {
        int64_t when = es_sink_retry_at(s, &res, it->attempts, key_seed(it->key), now);
        if (res.sink_wide && when > s->blocked_until_ms) {
            s->blocked_until_ms = when;
        }
        es_spool_limits lim = {s->max_attempts, s->max_age_ms};
        rc = es_spool_retry(d->spool, it->id, now, when, res.error, &lim);
        if (rc == 1) {
            d->stats.dead++;
            ES_LOG_ERROR(comp, "%s failed %d times (%s); dead-lettered", it->key, it->attempts,
                         res.error);
            return 0;
        }
        d->stats.retried++;
        ES_LOG_WARN(comp, "%s: %s, retry in %.1f s", it->key, res.error,
                    (double)(when - now) / 1000.0);
        return rc;
    }
    case ES_SINK_PERMANENT:
    default:
        d->stats.dead++;
        ES_LOG_ERROR(comp, "%s: %s; will not retry, dead-lettered", it->key, res.error);
        return es_spool_dead(d->spool, it->id, now, res.error);
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int es_deliver_step(es_deliver *d, int64_t *next_ms)
{
    int64_t next = INT64_MAX;
    int attempts = 0;
    for (size_t i = 0; i < d->n_sinks; i++) {
        es_sink *s = d->sinks[i];
        /* Long enough that a live attempt never loses its claim, short
         * enough that a crashed one is retried soon after. */
        int64_t lease = s->connect_timeout_ms + s->timeout_ms + 60000;
        int b;
        for (b = 0; b < DELIVER_BATCH; b++) {
            int64_t now = d->clock(d->clock_ud);
            int64_t due;
            int hd = es_spool_next_due(d->spool, s->name, &due);
            if (hd < 0) {
                return hd;
            }
            if (hd == 0) {
                break;
            }
            int64_t ready = es_bucket_ready_at(&s->bucket, now);
            if (s->blocked_until_ms > ready) {
                ready = s->blocked_until_ms;
            }
            if (due > now || ready > now) {
                next = min64(next, due > ready ? due : ready);
                break;
            }
            int r = es_spool_claim(d->spool, s->name, now, lease, &d->item);
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                break;
            }
            es_bucket_take(&s->bucket, now);
            r = attempt(d, s, now);
            if (r < 0) {
                return r;
            }
            attempts++;
        }
        if (b == DELIVER_BATCH) {
            /* Stopped by the batch limit, probably with more due now. */
            next = min64(next, d->clock(d->clock_ud));
        }
    }
    *next_ms = next;
    return attempts;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int es_deliver_run(es_deliver *d, int64_t deadline_ms)
{
    for (;;) {
        int64_t next;
        int rc = es_deliver_step(d, &next);
        if (rc < 0) {
            return rc;
        }
        if (next == INT64_MAX) {
            return 0; /* nothing is waiting for any of our sinks */
        }
        int64_t now = d->clock(d->clock_ud);
        if (now >= deadline_ms) {
            return ES_ETIMEOUT;
        }
        int64_t wake = min64(next, deadline_ms);
        if (rc == 0 && wake > now) {
            /* The only waiting here is what retry times and rate limits
             * ask for. */
            sleep_ms(wake - now);
        }
    }
}
