/*
 * The admin HTTP endpoint: a tiny HTTP/1.1 server on the engine's loop.
 * See admin.h for the paths and the rules.
 *
 * Why not the webhook feed's parser (feed_webhook.h)? It is built around
 * one POST path with a JSON body and a signature; the admin endpoint serves
 * several paths and methods and needs none of that, so it drives
 * http-parser directly with its own, smaller limits.
 *
 * One request per connection, answered with "Connection: close": admin
 * traffic is a scrape every few seconds and the odd curl, and a server that
 * never keeps a connection has no idle-connection state to get wrong.
 */
#include "admin.h"
#include "escalate.h"
#include "feed.h"
#include "log.h"
#include "route.h"
#include "sink.h"
#include "spool.h"
#include "timefmt.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#define COMP "admin"
#define URL_MAX 2048
#define AUTH_MAX 1024
#define RESPONSE_MAX (16u << 20)
#define FIRING_MAX 256
#define DEFAULT_LISTEN "127.0.0.1:9464"
#define LISTEN_MAX 128 /* a longer `listen` is refused, not cut */

/* A firing alert remembered for /api/v1/alerts (and `earshot top`). */
typedef struct firing {
    char id[27];
    char fingerprint[160];
    char kind[20];
    char severity[12];
    char topic[64];
    char summary[200];
    int64_t at_ms;
    uint64_t seq; /* arrival order, to evict the oldest */
} firing;

typedef struct conn conn;

struct es_admin {
    uv_loop_t *loop;
    uv_tcp_t server;
    uv_timer_t lag_timer;
    es_admin_host host;
    es_spool *spool;
    es_route_db *db;
    char listen[LISTEN_MAX];
    unsigned char token_hash[SHA256_DIGEST_LENGTH];
    bool has_token;
    int port;
    conn *conns; /* doubly linked */
    int n_conns;
    int handles_open; /* server + lag timer + each connection's two */
    bool closing;
    void (*on_closed)(void *ud);
    void *closed_ud;
    uint64_t lag_expected_ns;
    double lag_last_s, lag_max_s;

    es_metrics *m;
    /* Families fed by the engine's reports. */
    es_metric_family *f_in, *f_newest, *f_topic, *f_topic_sent, *f_topic_compound,
        *f_topic_complaints, *f_alerts, *f_deliv, *f_retry, *f_fail;
    /* Families rebuilt at each scrape. */
    es_metric_family *f_feed_mentions, *f_feed_bytes, *f_feed_bad, *f_feed_dup, *f_feed_reconn,
        *f_feed_err, *f_feed_conn, *f_feed_lag, *f_feed_budget, *f_queue, *f_failing, *f_spool,
        *f_dead, *f_lag, *f_lag_max, *f_incidents, *f_tta, *f_reloads, *f_start, *f_requests;
    es_metric *mentions_in;
    es_metric *reload_ok, *reload_err;
    double start_s;

    firing firing[FIRING_MAX];
    size_t n_firing;
    uint64_t firing_seq;
    es_buf scratch;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    http_parser hp;
    es_admin *a;
    conn *prev, *next;
    int open_handles;
    bool answered;
    bool done; /* a whole request is in */
    int status; /* set when the request is refused while reading */
    const char *why;
    size_t head_bytes;
    es_buf url;
    char field[32];
    size_t field_len;
    bool field_over;
    bool in_auth;
    bool last_was_value;
    es_buf auth;
    es_buf body;
    es_buf out;
    uv_write_t wr;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Metrics set-up ------------------------------------------------------------ */

static const double tta_buckets[] = {1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400};

static es_metric_family *fam(es_admin *a, const char *name, es_metric_type t, const char *help,
                             const char *l1, const char *l2, const char *l3)
{
    const char *labels[3] = {l1, l2, l3};
    size_t n = l1 == NULL ? 0 : l2 == NULL ? 1 : l3 == NULL ? 2 : 3;
    const double *b = t == ES_METRIC_HISTOGRAM ? tta_buckets : NULL;
    size_t nb = t == ES_METRIC_HISTOGRAM ? sizeof tta_buckets / sizeof tta_buckets[0] : 0;
    return es_metrics_register(a->m, name, help, t, labels, n, b, nb);
}

static int register_metrics(es_admin *a)
{
    const es_metric_type C = ES_METRIC_COUNTER, G = ES_METRIC_GAUGE;
    a->f_in = fam(a, "earshot_mentions_in_total", C,
                  "New (not duplicate) mentions that entered the pipeline.", NULL, NULL, NULL);
    a->f_feed_mentions = fam(a, "earshot_feed_mentions_total", C,
                             "Mentions decoded from each feed (duplicates included).", "feed",
                             NULL, NULL);
    a->f_feed_bytes = fam(a, "earshot_feed_bytes_total", C, "Payload bytes read from each feed.",
                          "feed", NULL, NULL);
    a->f_feed_bad = fam(a, "earshot_feed_decode_errors_total", C,
                        "Records each feed delivered that could not be decoded.", "feed", NULL,
                        NULL);
    a->f_feed_dup = fam(a, "earshot_feed_duplicates_total", C,
                        "Mentions dropped because they had been seen before.", "feed", NULL, NULL);
    a->f_feed_reconn = fam(a, "earshot_feed_reconnects_total", C,
                           "Backoffs taken by each feed after a failure.", "feed", NULL, NULL);
    a->f_feed_err = fam(a, "earshot_feed_errors_total", C, "Errors reported by each feed.", "feed",
                        NULL, NULL);
    a->f_feed_conn = fam(a, "earshot_feed_connected", G,
                         "1 when the feed's stream or listener is up (file feeds: 1).", "feed",
                         NULL, NULL);
    a->f_newest = fam(a, "earshot_feed_newest_mention_timestamp_seconds", G,
                      "created_at of the newest mention each feed delivered.", "feed", NULL, NULL);
    a->f_feed_lag = fam(a, "earshot_feed_cursor_lag_seconds", G,
                        "Now minus the created_at of the newest mention from each feed.", "feed",
                        NULL, NULL);
    a->f_feed_budget = fam(a, "earshot_feed_rate_limit_remaining", G,
                           "Requests left in the feed's rate-limit window, where the feed knows.",
                           "feed", NULL, NULL);
    a->f_topic = fam(a, "earshot_topic_mentions_total", C, "Mentions matched per topic.", "topic",
                     NULL, NULL);
    a->f_topic_sent = fam(a, "earshot_topic_sentiment_total", C,
                          "Mentions per topic by sentiment class (compound >= 0.05 positive, "
                          "<= -0.05 negative).",
                          "topic", "sentiment", NULL);
    a->f_topic_compound = fam(a, "earshot_topic_compound_accumulated", G,
                              "Sum of the compound sentiment of every mention of the topic; "
                              "its change over the change in mentions is the mean.",
                              "topic", NULL, NULL);
    a->f_topic_complaints = fam(a, "earshot_topic_complaints_total", C,
                                "Mentions of the topic whose intent is complaint.", "topic", NULL,
                                NULL);
    a->f_alerts = fam(a, "earshot_alerts_total", C, "Alerts detected, by kind, severity and status.",
                      "kind", "severity", "status");
    a->f_deliv = fam(a, "earshot_sink_deliveries_total", C,
                     "Notifications each sink's receiver accepted.", "sink", NULL, NULL);
    a->f_retry = fam(a, "earshot_sink_retries_total", C,
                     "Delivery attempts that failed and were rescheduled.", "sink", NULL, NULL);
    a->f_fail = fam(a, "earshot_sink_failures_total", C,
                    "Notifications that gave up (moved to the dead letters).", "sink", NULL, NULL);
    a->f_queue = fam(a, "earshot_sink_queue_depth", G,
                     "Notifications waiting or in flight for each sink.", "sink", NULL, NULL);
    a->f_failing = fam(a, "earshot_sink_failing", G,
                       "1 when the sink's last delivery attempt failed.", "sink", NULL, NULL);
    a->f_spool = fam(a, "earshot_spool_pending", G,
                     "Notifications in the spool not yet delivered (all sinks).", NULL, NULL, NULL);
    a->f_dead = fam(a, "earshot_spool_dead_letters", G, "Dead letters in the spool.", NULL, NULL,
                    NULL);
    a->f_lag = fam(a, "earshot_event_loop_lag_seconds", G,
                   "How late the last event-loop probe timer fired.", NULL, NULL, NULL);
    a->f_lag_max = fam(a, "earshot_event_loop_lag_max_seconds", G,
                       "The largest event-loop lag since the previous scrape.", NULL, NULL, NULL);
    a->f_incidents = fam(a, "earshot_incidents_open", G,
                         "Escalation incidents not resolved, by state and tier.", "state", "tier",
                         NULL);
    a->f_tta = fam(a, "earshot_time_to_acknowledge_seconds", ES_METRIC_HISTOGRAM,
                   "Time from an incident's opening to its acknowledgement.", "policy", NULL,
                   NULL);
    a->f_reloads = fam(a, "earshot_reloads_total", C, "Config reloads, by result.", "result", NULL,
                       NULL);
    a->f_requests = fam(a, "earshot_admin_requests_total", C,
                        "Admin HTTP requests answered, by status code.", "code", NULL, NULL);
    a->f_start = fam(a, "earshot_start_time_seconds", G, "When the process started (Unix time).",
                     NULL, NULL, NULL);
    es_metric_family **all[] = {
        &a->f_in, &a->f_feed_mentions, &a->f_feed_bytes, &a->f_feed_bad, &a->f_feed_dup,
        &a->f_feed_reconn, &a->f_feed_err, &a->f_feed_conn, &a->f_newest, &a->f_feed_lag,
        &a->f_feed_budget, &a->f_topic, &a->f_topic_sent, &a->f_topic_compound,
        &a->f_topic_complaints, &a->f_alerts, &a->f_deliv, &a->f_retry, &a->f_fail, &a->f_queue,
        &a->f_failing, &a->f_spool, &a->f_dead, &a->f_lag, &a->f_lag_max, &a->f_incidents,
        &a->f_tta, &a->f_reloads, &a->f_requests, &a->f_start,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] == NULL) {
            return ES_ENOMEM;
        }
    }
    a->mentions_in = es_metric_get(a->f_in, NULL);
    a->reload_ok = es_metric_get(a->f_reloads, (const char *[]){"ok"});
    a->reload_err = es_metric_get(a->f_reloads, (const char *[]){"error"});
    es_metric_set(es_metric_get(a->f_start, NULL), a->start_s);
    return a->mentions_in != NULL && a->reload_ok != NULL && a->reload_err != NULL ? 0
                                                                                   : ES_ENOMEM;
}

/* ---- What the engine reports --------------------------------------------------- */

void es_admin_mention_in(es_admin *a, const char *feed, int64_t created_ms)
{
    if (a == NULL) {
        return;
    }
    es_metric_inc(a->mentions_in, 1);
    if (created_ms != ES_TIME_UNKNOWN) {
        es_metric *s = es_metric_get(a->f_newest, &feed);
        if (s != NULL && (double)created_ms / 1000.0 > es_metric_value(s)) {
            es_metric_set(s, (double)created_ms / 1000.0);
        }
    }
}

void es_admin_mention_topic(es_admin *a, const char *topic, const es_sentiment *s,
                            bool complaint)
{
    if (a == NULL) {
        return;
    }
    es_metric_inc(es_metric_get(a->f_topic, &topic), 1);
    const char *cls = s->compound >= 0.05 ? "positive" : s->compound <= -0.05 ? "negative"
                                                                               : "neutral";
    es_metric_inc(es_metric_get(a->f_topic_sent, (const char *[]){topic, cls}), 1);
    es_metric_inc(es_metric_get(a->f_topic_compound, &topic), s->compound);
    /* Touch the complaint series so it exists (at 0) from the first mention. */
    es_metric_inc(es_metric_get(a->f_topic_complaints, &topic), complaint ? 1 : 0);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void es_admin_alert(es_admin *a, const es_alert *al)
{
    if (a == NULL) {
        return;
    }
    const char *labels[3] = {es_alert_kind_name(al->kind), es_severity_name(al->severity),
                             al->resolved ? "resolved" : "firing"};
    es_metric_inc(es_metric_get(a->f_alerts, labels), 1);
    const char *fp = al->fingerprint != NULL ? al->fingerprint : "";
    size_t slot = a->n_firing;
    for (size_t i = 0; i < a->n_firing; i++) {
        if (strncmp(a->firing[i].fingerprint, fp, sizeof a->firing[i].fingerprint - 1) == 0) {
            slot = i;
            break;
        }
    }
    if (al->resolved) {
        if (slot < a->n_firing) {
            a->firing[slot] = a->firing[--a->n_firing];
        }
        return;
    }
    if (slot == FIRING_MAX) {
        /* Full: forget the oldest; /api/v1/alerts is a view, not a store. */
        slot = 0;
        for (size_t i = 1; i < a->n_firing; i++) {
            if (a->firing[i].seq < a->firing[slot].seq) {
                slot = i;
            }
        }
    } else if (slot == a->n_firing) {
        a->n_firing++;
    }
    firing *f = &a->firing[slot];
    es_alert_make_id(al, f->id);
    copy_str(f->fingerprint, sizeof f->fingerprint, fp);
    copy_str(f->kind, sizeof f->kind, es_alert_kind_name(al->kind));
    copy_str(f->severity, sizeof f->severity, es_severity_name(al->severity));
    copy_str(f->topic, sizeof f->topic, al->topic != NULL ? al->topic : al->feed);
    copy_str(f->summary, sizeof f->summary, al->summary);
    f->at_ms = al->at_ms;
    f->seq = ++a->firing_seq;
}

void es_admin_delivery(es_admin *a, const char *sink, es_admin_outcome o)
{
    if (a == NULL) {
        return;
    }
    es_metric_family *f = o == ES_ADMIN_DELIVERED ? a->f_deliv
                          : o == ES_ADMIN_RETRY   ? a->f_retry
                                                  : a->f_fail;
    es_metric_inc(es_metric_get(f, &sink), 1);
    es_metric_set(es_metric_get(a->f_failing, &sink), o == ES_ADMIN_DELIVERED ? 0 : 1);
}

es_metrics *es_admin_metrics(es_admin *a)
{
    return a->m;
}

int es_admin_port(const es_admin *a)
{
    return a->port;
}

/* ---- Scrape-time metrics -------------------------------------------------------- */

/* A file feed has no connection: reading a local file is always "up". */
static bool feed_up(const es_feed *f)
{
    const es_feed_counters *c = es_feed_counters_get(f);
    const char *type = es_config_item_type(es_feed_item(f));
    return c->connected || c->finished || strcmp(type, "file") == 0;
}

static int tta_cb(void *ud, const es_incident *inc)
{
    es_admin *a = ud;
    if (inc->acked_ms > 0 && inc->acked_ms >= inc->opened_ms) {
        es_metric_observe(es_metric_get(a->f_tta, &inc->policy),
                          (double)(inc->acked_ms - inc->opened_ms) / 1000.0);
    }
    if (inc->state != ES_INCIDENT_RESOLVED) {
        char tier[16];
        snprintf(tier, sizeof tier, "%d", inc->tier);
        const char *v[2] = {es_incident_state_name(inc->state), tier};
        es_metric_inc(es_metric_get(a->f_incidents, v), 1);
    }
    return 0;
}

static void collect(es_admin *a)
{
    int64_t now = wall_ms();
    es_metric_family *rebuilt[] = {
        a->f_feed_mentions, a->f_feed_bytes, a->f_feed_bad,    a->f_feed_dup,
        a->f_feed_reconn,   a->f_feed_err,   a->f_feed_conn,   a->f_feed_lag,
        a->f_feed_budget,   a->f_queue,      a->f_incidents,   a->f_tta,
    };
    for (size_t i = 0; i < sizeof rebuilt / sizeof rebuilt[0]; i++) {
        es_metric_family_clear(rebuilt[i]);
    }
    size_t nf = a->host.n_feeds != NULL ? a->host.n_feeds(a->host.ud) : 0;
    for (size_t i = 0; i < nf; i++) {
        const es_feed *f = a->host.feed(a->host.ud, i);
        const char *name = es_feed_name(f);
        const es_feed_counters *c = es_feed_counters_get(f);
        es_metric_set(es_metric_get(a->f_feed_mentions, &name), (double)c->decoded);
        es_metric_set(es_metric_get(a->f_feed_bytes, &name), (double)c->bytes);
        es_metric_set(es_metric_get(a->f_feed_bad, &name), (double)c->bad);
        es_metric_set(es_metric_get(a->f_feed_dup, &name), (double)c->duplicate);
        es_metric_set(es_metric_get(a->f_feed_reconn, &name), (double)c->reconnects);
        es_metric_set(es_metric_get(a->f_feed_err, &name), (double)c->errors);
        es_metric_set(es_metric_get(a->f_feed_conn, &name), feed_up(f) ? 1 : 0);
        if (c->rate_limit_remaining >= 0) {
            es_metric_set(es_metric_get(a->f_feed_budget, &name),
                          (double)c->rate_limit_remaining);
        }
        es_metric *newest = es_metric_get(a->f_newest, &name);
        if (es_metric_value(newest) > 0) {
            es_metric_set(es_metric_get(a->f_feed_lag, &name),
                          (double)now / 1000.0 - es_metric_value(newest));
        }
    }
    size_t ns = a->host.n_sinks != NULL ? a->host.n_sinks(a->host.ud) : 0;
    for (size_t i = 0; i < ns; i++) {
        const char *name = a->host.sink_name(a->host.ud, i);
        int64_t p = 0, fl = 0;
        (void)es_spool_count(a->spool, ES_SPOOL_PENDING, name, &p);
        (void)es_spool_count(a->spool, ES_SPOOL_INFLIGHT, name, &fl);
        es_metric_set(es_metric_get(a->f_queue, &name), (double)(p + fl));
        /* Make the per-sink counters visible at 0 before the first delivery. */
        es_metric_inc(es_metric_get(a->f_deliv, &name), 0);
        es_metric_inc(es_metric_get(a->f_retry, &name), 0);
        es_metric_inc(es_metric_get(a->f_fail, &name), 0);
        es_metric_inc(es_metric_get(a->f_failing, &name), 0);
    }
    int64_t pending = 0, inflight = 0, dead = 0;
    (void)es_spool_count(a->spool, ES_SPOOL_PENDING, NULL, &pending);
    (void)es_spool_count(a->spool, ES_SPOOL_INFLIGHT, NULL, &inflight);
    (void)es_spool_count(a->spool, ES_SPOOL_DEAD, NULL, &dead);
    es_metric_set(es_metric_get(a->f_spool, NULL), (double)(pending + inflight));
    es_metric_set(es_metric_get(a->f_dead, NULL), (double)dead);
    es_metric_set(es_metric_get(a->f_lag, NULL), a->lag_last_s);
    es_metric_set(es_metric_get(a->f_lag_max, NULL), a->lag_max_s);
    a->lag_max_s = a->lag_last_s;
    if (a->db != NULL) {
        (void)es_incident_list(a->db, true, tta_cb, a);
    }
}

/* ---- Event-loop lag -------------------------------------------------------------- */

/* The probe asks to run every ES_ADMIN_LAG_PROBE_MS; how much later than
 * that it actually ran is the time the loop spent on other work. */
static void on_lag_probe(uv_timer_t *t)
{
    es_admin *a = t->data;
    uint64_t now = uv_hrtime();
    double lag = now > a->lag_expected_ns ? (double)(now - a->lag_expected_ns) / 1e9 : 0;
    a->lag_last_s = lag;
    if (lag > a->lag_max_s) {
        a->lag_max_s = lag;
    }
    a->lag_expected_ns = now + (uint64_t)ES_ADMIN_LAG_PROBE_MS * 1000000u;
}

/* ---- Responses -------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void on_conn_closed(uv_handle_t *h);

static void conn_close(conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp)) {
        return;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

/* Write the whole response and close after it. */
static void respond(conn *c, int status, const char *ctype, const char *body, size_t len,
                    const char *extra_headers)
{
    if (c->answered) {
        return;
    }
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    es_metric_inc(es_metric_get(c->a->f_requests, (const char *[]){code}), 1);
    es_buf_reset(&c->out);
    int rc = es_buf_printf(&c->out,
                           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                           "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                           status, reason(status), ctype, len,
                           extra_headers != NULL ? extra_headers : "");
    rc = rc ? rc : es_buf_add(&c->out, body, len);
    if (rc != 0) {
        conn_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        conn_close(c);
    }
}

static void respond_json(conn *c, int status, const es_buf *b)
{
    respond(c, status, "application/json", b->data != NULL ? b->data : "{}",
            b->data != NULL ? b->len : 2, NULL);
}

static void respond_error(conn *c, int status, const char *code, const char *msg, int line,
                          int col, const char *extra)
{
    es_buf *b = &c->a->scratch;
    es_buf_reset(b);
    es_buf_adds(b, "{\"error\":");
    es_buf_json_str(b, code, strlen(code));
    es_buf_adds(b, ",\"message\":");
    es_buf_json_str(b, msg, strlen(msg));
    if (line > 0) {
        es_buf_printf(b, ",\"line\":%d,\"column\":%d", line, col);
    }
    es_buf_addc(b, '}');
    respond(c, status, "application/json", b->data, b->len, extra);
}

/* ---- Handlers ------------------------------------------------------------------- */

static void add_time(es_buf *b, const char *key, int64_t ms)
{
    es_buf_printf(b, ",\"%s\":", key);
    if (ms <= 0) {
        es_buf_adds(b, "null");
        return;
    }
    char t[32];
    es_time_format(ms, t);
    es_buf_json_str(b, t, strlen(t));
}

static void add_lines(es_buf *b, const char *key, const char *lines)
{
    es_buf_printf(b, ",\"%s\":[", key);
    bool first = true;
    for (const char *p = lines != NULL ? lines : ""; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        if (len > 0) {
            es_buf_adds(b, first ? "" : ",");
            es_buf_json_str(b, p, len);
            first = false;
        }
        p += len;
        p += *p == '\n';
    }
    es_buf_addc(b, ']');
}

static void handle_metrics(conn *c)
{
    es_admin *a = c->a;
    collect(a);
    es_buf_reset(&a->scratch);
    if (es_metrics_render(a->m, &a->scratch) != 0) {
        respond_error(c, 500, "too_large", "the metrics do not fit the response buffer", 0, 0,
                      NULL);
        return;
    }
    respond(c, 200, ES_METRICS_CONTENT_TYPE, a->scratch.data, a->scratch.len, NULL);
}

static void handle_readyz(conn *c)
{
    es_admin *a = c->a;
    es_buf *b = &a->scratch;
    es_buf_reset(b);
    bool ready = true;
    es_buf_adds(b, "{\"feeds\":[");
    size_t nf = a->host.n_feeds != NULL ? a->host.n_feeds(a->host.ud) : 0;
    for (size_t i = 0; i < nf; i++) {
        const es_feed *f = a->host.feed(a->host.ud, i);
        bool up = feed_up(f);
        ready &= up;
        es_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
        es_buf_json_str(b, es_feed_name(f), strlen(es_feed_name(f)));
        es_buf_printf(b, ",\"ready\":%s}", up ? "true" : "false");
    }
    es_buf_adds(b, "],\"sinks\":[");
    size_t ns = a->host.n_sinks != NULL ? a->host.n_sinks(a->host.ud) : 0;
    for (size_t i = 0; i < ns; i++) {
        const char *name = a->host.sink_name(a->host.ud, i);
        bool failing = es_metric_value(es_metric_get(a->f_failing, &name)) > 0;
        ready &= !failing;
        es_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
        es_buf_json_str(b, name, strlen(name));
        es_buf_printf(b, ",\"ready\":%s}", failing ? "false" : "true");
    }
    es_buf_printf(b, "],\"ready\":%s}", ready ? "true" : "false");
    respond_json(c, ready ? 200 : 503, b);
}

static void handle_reload(conn *c)
{
    es_admin *a = c->a;
    if (a->host.reload == NULL) {
        respond_error(c, 503, "unavailable", "reload is not available", 0, 0, NULL);
        return;
    }
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = a->host.reload(a->host.ud, &err);
    if (rc != 0) {
        es_metric_inc(a->reload_err, 1);
        char msg[900];
        if (err.line > 0) {
            snprintf(msg, sizeof msg, "%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
        } else {
            snprintf(msg, sizeof msg, "%s%s%s", err.file, err.file[0] ? ": " : "",
                     err.msg[0] ? err.msg : es_strerror(rc));
        }
        respond_error(c, 400, "invalid_config", msg, err.line, err.col, NULL);
        return;
    }
    es_metric_inc(a->reload_ok, 1);
    static const char ok[] = "{\"reloaded\":true}";
    respond(c, 200, "application/json", ok, sizeof ok - 1, NULL);
}

typedef struct list_ctx {
    es_admin *a;
    es_buf *b;
    int n;
} list_ctx;

static int incident_json(void *ud, const es_incident *inc)
{
    list_ctx *x = ud;
    es_buf *b = x->b;
    es_buf_adds(b, x->n++ ? ",{" : "{");
    es_buf_printf(b, "\"id\":%lld,\"policy\":", (long long)inc->id);
    es_buf_json_str(b, inc->policy, strlen(inc->policy));
    es_buf_adds(b, ",\"group\":");
    es_buf_json_str(b, inc->group, strlen(inc->group));
    es_buf_printf(b, ",\"state\":\"%s\",\"tier\":%d", es_incident_state_name(inc->state),
                  inc->tier);
    add_time(b, "opened_at", inc->opened_ms);
    add_time(b, "next_at", inc->state == ES_INCIDENT_OPEN ? inc->next_ms : 0);
    add_time(b, "acked_at", inc->acked_ms);
    es_buf_adds(b, ",\"acked_by\":");
    if (inc->acked_ms > 0) {
        es_buf_json_str(b, inc->acked_by, strlen(inc->acked_by));
    } else {
        es_buf_adds(b, "null");
    }
    add_lines(b, "sinks", inc->sinks);
    /* The latest notification as stored: our own JSON, but checked before
     * it is pasted in, so a damaged row cannot break the whole answer. */
    if (inc->payload != NULL && inc->payload[0] != '\0') {
        yajl_val v = yajl_tree_parse(inc->payload, NULL, 0);
        if (v != NULL) {
            es_buf_adds(b, ",\"notification\":");
            es_buf_adds(b, inc->payload);
            yajl_tree_free(v);
        }
    }
    es_buf_addc(b, '}');
    return 0;
}

/* The tier of the open incident whose latest notification holds alert `id`. */
typedef struct tier_ctx {
    const char *id;
    int tier;
    int64_t incident;
} tier_ctx;

static int tier_cb(void *ud, const es_incident *inc)
{
    tier_ctx *t = ud;
    if (inc->payload != NULL && strstr(inc->payload, t->id) != NULL) {
        t->tier = inc->tier;
        t->incident = inc->id;
        return 1;
    }
    return 0;
}

static void handle_alerts(conn *c)
{
    es_admin *a = c->a;
    es_buf *b = &a->scratch;
    es_buf_reset(b);
    es_buf_adds(b, "{\"incidents\":[");
    list_ctx x = {a, b, 0};
    if (a->db != NULL && es_incident_list(a->db, false, incident_json, &x) < 0) {
        respond_error(c, 500, "state", es_route_db_errmsg(a->db), 0, 0, NULL);
        return;
    }
    es_buf_adds(b, "],\"alerts\":[");
    /* Newest first: what a person watching wants to see at the top. */
    size_t order[FIRING_MAX];
    for (size_t i = 0; i < a->n_firing; i++) {
        size_t j = i;
        while (j > 0 && a->firing[order[j - 1]].seq < a->firing[i].seq) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t k = 0; k < a->n_firing; k++) {
        const firing *f = &a->firing[order[k]];
        tier_ctx t = {f->id, 0, 0};
        if (a->db != NULL) {
            (void)es_incident_list(a->db, false, tier_cb, &t);
        }
        es_buf_adds(b, k ? ",{\"id\":" : "{\"id\":");
        es_buf_json_str(b, f->id, strlen(f->id));
        es_buf_adds(b, ",\"fingerprint\":");
        es_buf_json_str(b, f->fingerprint, strlen(f->fingerprint));
        es_buf_printf(b, ",\"kind\":\"%s\",\"severity\":\"%s\",\"topic\":", f->kind, f->severity);
        es_buf_json_str(b, f->topic, strlen(f->topic));
        add_time(b, "at", f->at_ms);
        es_buf_adds(b, ",\"summary\":");
        es_buf_json_str(b, f->summary, strlen(f->summary));
        if (t.tier > 0) {
            es_buf_printf(b, ",\"tier\":%d,\"incident\":%lld}", t.tier, (long long)t.incident);
        } else {
            es_buf_adds(b, ",\"tier\":null,\"incident\":null}");
        }
    }
    es_buf_adds(b, "]}");
    respond_json(c, 200, b);
}

/* The escalator's acknowledge/resolve notifications go to the spool, as
 * they do from `earshot alerts`; the engine then sends them. */
typedef struct emit_ctx {
    es_admin *a;
    es_buf json;
    int emitted;
    int rc;
} emit_ctx;

static int to_spool(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    emit_ctx *x = ud;
    es_buf_reset(&x->json);
    int rc = es_notification_to_json(n, &x->json);
    if (rc == 0) {
        rc = es_spool_enqueue(x->a->spool, sink, n->key, x->json.data, x->json.len, at);
    }
    if (rc < 0) {
        ES_LOG_ERROR(COMP, "cannot queue the notification for %s: %s", sink, es_strerror(rc));
        x->rc = rc;
        return rc;
    }
    x->emitted += rc == 0;
    return 0;
}

/* Optional {"by": "..."} in a JSON body; "admin-api" otherwise. */
static const char *body_str(yajl_val doc, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = doc != NULL ? yajl_tree_get(doc, path, yajl_t_string) : NULL;
    return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

/* Parse the body as JSON (an empty body is no document). On a bad body
 * answers 400 and returns false. */
static bool parse_body(conn *c, yajl_val *doc)
{
    *doc = NULL;
    size_t i = 0;
    while (i < c->body.len && strchr(" \t\r\n", c->body.data[i]) != NULL) {
        i++;
    }
    if (i == c->body.len) {
        return true;
    }
    char err[256];
    err[0] = '\0';
    *doc = yajl_tree_parse(c->body.data, err, sizeof err);
    if (*doc == NULL || !YAJL_IS_OBJECT(*doc)) {
        /* yajl's message spans lines; the first one says what and where. */
        err[strcspn(err, "\n")] = '\0';
        char msg[320];
        snprintf(msg, sizeof msg, "the body is not a JSON object%s%s", err[0] ? ": " : "", err);
        yajl_tree_free(*doc);
        *doc = NULL;
        respond_error(c, 400, "bad_json", msg, 0, 0, NULL);
        return false;
    }
    return true;
}

static void url_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r != '\0'; r++) {
        if (*r == '%' && r[1] != '\0' && r[2] != '\0') {
            char hex[3] = {r[1], r[2], '\0'};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0' && v > 0) {
                *w++ = (char)v;
                r += 2;
                continue;
            }
        }
        *w++ = *r;
    }
    *w = '\0';
}

static void handle_ack(conn *c, const char *id, bool ack)
{
    es_admin *a = c->a;
    if (a->db == NULL) {
        respond_error(c, 503, "unavailable", "no state database", 0, 0, NULL);
        return;
    }
    yajl_val doc;
    if (!parse_body(c, &doc)) {
        return;
    }
    const char *by = body_str(doc, "by");
    char who[128];
    snprintf(who, sizeof who, "%s", by != NULL && by[0] != '\0' ? by : "admin-api");
    yajl_tree_free(doc);
    emit_ctx x = {.a = a};
    es_buf_init(&x.json, 16u << 20);
    es_escalator *e = NULL;
    int64_t now = wall_ms();
    int rc = es_escalator_new(NULL, a->db, to_spool, &x, &e);
    if (rc == 0) {
        rc = ack ? es_escalator_ack(e, id, who, now) : es_escalator_resolve(e, id, who, now);
    }
    es_escalator_free(e);
    es_buf_free(&x.json);
    if (x.emitted > 0 && a->host.kick != NULL) {
        a->host.kick(a->host.ud);
    }
    const char *done = ack ? "acknowledged" : "resolved";
    if (rc == ES_ENOTFOUND) {
        char msg[400];
        snprintf(msg, sizeof msg, "no open incident '%s'", id);
        respond_error(c, 404, "not_found", msg, 0, 0, NULL);
        return;
    }
    if (rc < 0) {
        respond_error(c, 500, "state", es_strerror(rc), 0, 0, NULL);
        return;
    }
    ES_LOG_INFO(COMP, "incident %s %s by %s through the API", id, done, who);
    es_buf *b = &a->scratch;
    es_buf_reset(b);
    es_buf_adds(b, "{\"id\":");
    es_buf_json_str(b, id, strlen(id));
    es_buf_printf(b, ",\"status\":\"%s\",\"already\":%s,\"by\":", done, rc == 1 ? "true" : "false");
    es_buf_json_str(b, who, strlen(who));
    es_buf_printf(b, ",\"notifications\":%d}", x.emitted);
    respond_json(c, 200, b);
}

static int silence_json(void *ud, const es_silence *s)
{
    list_ctx *x = ud;
    es_buf *b = x->b;
    es_buf_printf(b, "%s{\"id\":%lld", x->n++ ? "," : "", (long long)s->id);
    add_lines(b, "matchers", s->matchers);
    add_time(b, "starts_at", s->starts_ms);
    add_time(b, "ends_at", s->ends_ms);
    add_time(b, "created_at", s->created_ms);
    es_buf_adds(b, ",\"comment\":");
    es_buf_json_str(b, s->comment, strlen(s->comment));
    es_buf_adds(b, ",\"created_by\":");
    es_buf_json_str(b, s->created_by, strlen(s->created_by));
    es_buf_addc(b, '}');
    return 0;
}

static void handle_silences_get(conn *c, bool all)
{
    es_admin *a = c->a;
    es_buf *b = &a->scratch;
    es_buf_reset(b);
    es_buf_adds(b, "{\"silences\":[");
    list_ctx x = {a, b, 0};
    if (es_silence_list(a->db, wall_ms(), all, silence_json, &x) < 0) {
        respond_error(c, 500, "state", es_route_db_errmsg(a->db), 0, 0, NULL);
        return;
    }
    es_buf_adds(b, "]}");
    respond_json(c, 200, b);
}

#define SILENCE_MAX_MATCHERS 32

static void handle_silences_post(conn *c)
{
    es_admin *a = c->a;
    yajl_val doc;
    if (!parse_body(c, &doc)) {
        return;
    }
    const char *bad = NULL;
    const char *mpath[] = {"matchers", NULL};
    yajl_val mv = doc != NULL ? yajl_tree_get(doc, mpath, yajl_t_array) : NULL;
    const char *matchers[SILENCE_MAX_MATCHERS];
    size_t n = 0;
    if (mv == NULL || YAJL_GET_ARRAY(mv)->len == 0) {
        bad = "\"matchers\" must be a non-empty list of strings such as \"topic=\\\"acme\\\"\"";
    } else if (YAJL_GET_ARRAY(mv)->len > SILENCE_MAX_MATCHERS) {
        bad = "too many matchers (at most 32)";
    } else {
        for (size_t i = 0; i < YAJL_GET_ARRAY(mv)->len; i++) {
            yajl_val s = YAJL_GET_ARRAY(mv)->values[i];
            if (!YAJL_IS_STRING(s)) {
                bad = "every matcher must be a string";
                break;
            }
            matchers[n++] = YAJL_GET_STRING(s);
        }
    }
    int64_t now = wall_ms(), starts = now, ends = 0;
    const char *dur = body_str(doc, "duration");
    const char *ends_at = body_str(doc, "ends_at");
    const char *starts_at = body_str(doc, "starts_at");
    if (bad == NULL && starts_at != NULL &&
        es_time_parse(starts_at, strlen(starts_at), &starts) != 0) {
        bad = "\"starts_at\" is not a time (RFC 3339)";
    }
    if (bad == NULL && dur != NULL && ends_at != NULL) {
        bad = "give \"duration\" or \"ends_at\", not both";
    } else if (bad == NULL && ends_at != NULL) {
        if (es_time_parse(ends_at, strlen(ends_at), &ends) != 0) {
            bad = "\"ends_at\" is not a time (RFC 3339)";
        }
    } else if (bad == NULL) {
        int64_t d = 3600 * 1000;
        if (dur != NULL && (es_duration_parse(dur, &d) != 0 || d <= 0)) {
            bad = "\"duration\" is not a duration such as 30m or 2h";
        }
        ends = starts + d;
    }
    if (bad == NULL && ends <= now) {
        bad = "the silence would end in the past";
    }
    if (bad != NULL) {
        yajl_tree_free(doc);
        respond_error(c, 400, "bad_silence", bad, 0, 0, NULL);
        return;
    }
    const char *comment = body_str(doc, "comment");
    const char *by = body_str(doc, "created_by");
    es_error err;
    memset(&err, 0, sizeof err);
    int64_t id = 0;
    int rc = es_silence_add(a->db, matchers, n, starts, ends, comment != NULL ? comment : "",
                            by != NULL ? by : "admin-api", now, &id, &err);
    yajl_tree_free(doc);
    if (rc != 0) {
        respond_error(c, rc == ES_EPARSE || rc == ES_EINVAL ? 400 : 500, "bad_silence",
                      err.msg[0] ? err.msg : es_strerror(rc), 0, err.col, NULL);
        return;
    }
    es_buf *b = &a->scratch;
    es_buf_reset(b);
    es_buf_printf(b, "{\"id\":%lld", (long long)id);
    add_time(b, "ends_at", ends);
    es_buf_addc(b, '}');
    respond_json(c, 201, b);
}

static void handle_silence_delete(conn *c, const char *ids)
{
    char *end = NULL;
    long long id = strtoll(ids, &end, 10);
    if (end == ids || *end != '\0' || id < 0) {
        respond_error(c, 404, "not_found", "a silence is named by its number", 0, 0, NULL);
        return;
    }
    int rc = es_silence_expire(c->a->db, id, wall_ms());
    if (rc == ES_ENOTFOUND) {
        respond_error(c, 404, "not_found", "no such silence", 0, 0, NULL);
        return;
    }
    if (rc < 0) {
        respond_error(c, 500, "state", es_strerror(rc), 0, 0, NULL);
        return;
    }
    es_buf *b = &c->a->scratch;
    es_buf_reset(b);
    es_buf_printf(b, "{\"id\":%lld,\"expired\":true,\"already\":%s}", id,
                  rc == 1 ? "true" : "false");
    respond_json(c, 200, b);
}

/* SHA-256 both sides, then compare the digests in constant time: neither
 * the token's length nor its prefix leaks through the timing. */
static bool token_ok(es_admin *a, const conn *c)
{
    if (!a->has_token) {
        return true;
    }
    const char *v = c->auth.data != NULL ? c->auth.data : "";
    if (strncasecmp(v, "Bearer ", 7) != 0) {
        return false;
    }
    v += 7;
    while (*v == ' ') {
        v++;
    }
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) {
        len--;
    }
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)v, len, h);
    return CRYPTO_memcmp(h, a->token_hash, sizeof h) == 0;
}

static bool method_is(const conn *c, enum http_method m)
{
    return c->hp.method == m;
}

static void not_allowed(conn *c, const char *allow)
{
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    respond_error(c, 405, "method_not_allowed", "method not allowed on this path", 0, 0, hdr);
}

static void dispatch(conn *c)
{
    es_admin *a = c->a;
    /* Path and query apart; the path is percent-decoded for ids. */
    char path[URL_MAX + 1];
    snprintf(path, sizeof path, "%s", c->url.data != NULL ? c->url.data : "");
    char *q = strchr(path, '?');
    const char *query = "";
    if (q != NULL) {
        *q = '\0';
        query = q + 1;
    }
    url_decode(path);
    bool get = method_is(c, HTTP_GET) || method_is(c, HTTP_HEAD);
    if (strcmp(path, "/healthz") == 0) {
        if (!get) {
            not_allowed(c, "GET");
            return;
        }
        respond(c, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL);
        return;
    }
    if (!token_ok(a, c)) {
        respond_error(c, 401, "unauthorized", "a valid bearer token is required", 0, 0,
                      "WWW-Authenticate: Bearer realm=\"earshot\"\r\n");
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        get ? handle_metrics(c) : not_allowed(c, "GET");
    } else if (strcmp(path, "/readyz") == 0) {
        get ? handle_readyz(c) : not_allowed(c, "GET");
    } else if (strcmp(path, "/-/reload") == 0) {
        method_is(c, HTTP_POST) ? handle_reload(c) : not_allowed(c, "POST");
    } else if (strcmp(path, "/api/v1/alerts") == 0) {
        get ? handle_alerts(c) : not_allowed(c, "GET");
    } else if (strncmp(path, "/api/v1/alerts/", 15) == 0) {
        char *id = path + 15;
        char *slash = strrchr(id, '/');
        if (slash == NULL || slash == id ||
            (strcmp(slash, "/ack") != 0 && strcmp(slash, "/resolve") != 0)) {
            respond_error(c, 404, "not_found", "use /api/v1/alerts/{id}/ack or /resolve", 0, 0,
                          NULL);
            return;
        }
        bool ack = strcmp(slash, "/ack") == 0;
        *slash = '\0';
        method_is(c, HTTP_POST) ? handle_ack(c, id, ack) : not_allowed(c, "POST");
    } else if (strcmp(path, "/api/v1/silences") == 0) {
        if (a->db == NULL) {
            respond_error(c, 503, "unavailable", "no state database", 0, 0, NULL);
        } else if (get) {
            handle_silences_get(c, strstr(query, "all=1") != NULL ||
                                       strstr(query, "all=true") != NULL);
        } else if (method_is(c, HTTP_POST)) {
            handle_silences_post(c);
        } else {
            not_allowed(c, "GET, POST");
        }
    } else if (strncmp(path, "/api/v1/silences/", 17) == 0) {
        if (a->db == NULL) {
            respond_error(c, 503, "unavailable", "no state database", 0, 0, NULL);
        } else if (method_is(c, HTTP_DELETE)) {
            handle_silence_delete(c, path + 17);
        } else {
            not_allowed(c, "DELETE");
        }
    } else {
        respond_error(c, 404, "not_found", "no such path", 0, 0, NULL);
    }
}

/* ---- Connections: reading a request ------------------------------------------------ */

static conn *conn_of(http_parser *hp)
{
    return hp->data;
}

static int refuse(conn *c, int status, const char *why)
{
    if (c->status == 0) {
        c->status = status;
        c->why = why;
    }
    return 1; /* stops http-parser */
}

static int count_head(conn *c, size_t n)
{
    c->head_bytes += n;
    return c->head_bytes > ES_ADMIN_MAX_HEADER_BYTES
               ? refuse(c, 431, "the request line and headers are too large")
               : 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    conn *c = conn_of(hp);
    if (count_head(c, n) != 0) {
        return 1;
    }
    return es_buf_add(&c->url, at, n) != 0 ? refuse(c, 414, "the URL is too long") : 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    conn *c = conn_of(hp);
    if (count_head(c, n) != 0) {
        return 1;
    }
    if (c->last_was_value) {
        c->field_len = 0;
        c->field_over = false;
        c->last_was_value = false;
    }
    if (c->field_len + n >= sizeof c->field) {
        c->field_over = true;
    } else {
        memcpy(c->field + c->field_len, at, n);
        c->field_len += n;
    }
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    conn *c = conn_of(hp);
    if (count_head(c, n) != 0) {
        return 1;
    }
    if (!c->last_was_value) {
        c->last_was_value = true;
        c->in_auth = !c->field_over && c->field_len == 13 &&
                     strncasecmp(c->field, "authorization", 13) == 0;
        if (c->in_auth) {
            es_buf_reset(&c->auth);
        }
    }
    if (c->in_auth && es_buf_add(&c->auth, at, n) != 0) {
        return refuse(c, 431, "the Authorization header is too large");
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    conn *c = conn_of(hp);
    if (hp->content_length != UINT64_MAX && hp->content_length > ES_ADMIN_MAX_BODY) {
        return refuse(c, 413, "the body is too large");
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    conn *c = conn_of(hp);
    return es_buf_add(&c->body, at, n) != 0 ? refuse(c, 413, "the body is too large") : 0;
}

static int on_message_complete(http_parser *hp)
{
    conn *c = conn_of(hp);
    c->done = true;
    http_parser_pause(hp, 1); /* one request per connection */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_free(conn *c)
{
    es_buf_free(&c->url);
    es_buf_free(&c->auth);
    es_buf_free(&c->body);
    es_buf_free(&c->out);
    free(c);
}

static void maybe_closed(es_admin *a)
{
    if (a->closing && a->handles_open == 0) {
        void (*cb)(void *) = a->on_closed;
        void *ud = a->closed_ud;
        es_route_db_close(a->db);
        es_metrics_free(a->m);
        es_buf_free(&a->scratch);
        free(a);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    es_admin *a = c->a;
    a->handles_open--;
    if (--c->open_handles > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        a->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    a->n_conns--;
    conn_free(c);
    maybe_closed(a);
}

static void on_conn_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    if (!c->answered) {
        respond_error(c, 408, "timeout", "the request did not arrive in time", 0, 0, NULL);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[16384]; /* one loop thread; on_read copies what it keeps */
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (c->answered) {
        return;
    }
    if (nread < 0) {
        conn_close(c); /* EOF or error before a whole request: nobody to answer */
        return;
    }
    if (nread == 0) {
        return;
    }
    size_t used = http_parser_execute(&c->hp, &settings, buf->base, (size_t)nread);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->hp);
    if (c->status != 0) {
        respond_error(c, c->status, c->status == 413 ? "too_large" : "bad_request", c->why, 0, 0,
                      NULL);
        return;
    }
    if (c->done) {
        dispatch(c);
        return;
    }
    if (e != HPE_OK || used != (size_t)nread) {
        char msg[200];
        snprintf(msg, sizeof msg, "malformed HTTP request: %s", http_errno_description(e));
        respond_error(c, 400, "bad_request", msg, 0, 0, NULL);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    es_admin *a = server->data;
    if (status != 0 || a->closing) {
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->a = a;
    es_buf_init(&c->url, URL_MAX);
    es_buf_init(&c->auth, AUTH_MAX);
    es_buf_init(&c->body, ES_ADMIN_MAX_BODY);
    es_buf_init(&c->out, RESPONSE_MAX + 1024);
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    a->handles_open += 2;
    c->next = a->conns;
    if (a->conns != NULL) {
        a->conns->prev = c;
    }
    a->conns = c;
    a->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (a->n_conns > ES_ADMIN_MAX_CONNECTIONS) {
        /* Over the cap: answered at once, so a flood cannot hold memory. */
        respond_error(c, 503, "busy", "too many admin connections", 0, 0, NULL);
        return;
    }
    http_parser_init(&c->hp, HTTP_REQUEST);
    c->hp.data = c;
    uv_timer_start(&c->timer, on_conn_timeout, ES_ADMIN_READ_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- Life cycle -------------------------------------------------------------------- */

/*
 * "HOST:PORT", "[V6]:PORT", ":PORT" or "localhost:PORT" -> an address.
 * The host must be an IP address (no name lookup on the loop thread); no
 * host means 127.0.0.1, never every interface. Port 0 asks for any free
 * port (tests). On failure, why says what is wrong.
 */
static int parse_listen(const char *s, struct sockaddr_storage *addr, char *why, size_t why_size)
{
    char host[64];
    const char *colon;
    if (strlen(s) >= LISTEN_MAX) {
        snprintf(why, why_size, "is too long");
        return ES_EINVAL;
    }
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) {
            snprintf(why, why_size, "is not [IPV6]:PORT");
            return ES_EINVAL;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(why, why_size, "has no port");
            return ES_EINVAL;
        }
        if ((size_t)(colon - s) >= sizeof host) {
            snprintf(why, why_size, "has too long a host");
            return ES_EINVAL;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    /* Digits only: strtol would also take " 80", "+80" or "-0". */
    const char *p = colon + 1;
    long port = 0;
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || p[nd] != '\0' || nd > 5 || (port = strtol(p, NULL, 10)) > 65535) {
        snprintf(why, why_size, "has port '%s', not a number from 0 to 65535", p);
        return ES_EINVAL;
    }
    if (host[0] == '\0' || strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof host, "127.0.0.1");
    }
    memset(addr, 0, sizeof *addr);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0) {
        return 0;
    }
    snprintf(why, why_size, "has host '%s', not an IP address or localhost", host);
    return ES_EINVAL;
}

int es_admin_check_listen(const char *listen, char *why, size_t why_size)
{
    struct sockaddr_storage addr;
    char dummy[1];
    if (why == NULL || why_size == 0) {
        why = dummy;
        why_size = sizeof dummy;
    }
    return parse_listen(listen, &addr, why, why_size);
}

static void on_admin_handle_closed(uv_handle_t *h)
{
    es_admin *a = h->data;
    a->handles_open--;
    maybe_closed(a);
}

int es_admin_start(const es_admin_opts *o, es_admin **out, es_error *err)
{
    es_admin *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    a->loop = o->loop;
    a->host = o->host;
    a->spool = o->spool;
    a->start_s = (double)wall_ms() / 1000.0;
    es_buf_init(&a->scratch, RESPONSE_MAX);
    snprintf(a->listen, sizeof a->listen, "%s", o->listen != NULL ? o->listen : DEFAULT_LISTEN);
    if (o->token != NULL && o->token[0] != '\0') {
        SHA256((const unsigned char *)o->token, strlen(o->token), a->token_hash);
        a->has_token = true;
    }
    int rc;
    if ((rc = es_metrics_new(&a->m)) != 0 || (rc = register_metrics(a)) != 0) {
        es_error_set(err, rc, 0, 0, "admin: out of memory");
        goto fail_metrics;
    }
    if (o->state_path != NULL && (rc = es_route_db_open(o->state_path, &a->db, err)) != 0) {
        goto fail_db;
    }
    struct sockaddr_storage addr;
    char why[128];
    if (parse_listen(o->listen != NULL ? o->listen : DEFAULT_LISTEN, &addr, why, sizeof why) !=
        0) {
        rc = es_error_set(err, ES_ECONFIG, 0, 0,
                          "admin: listen '%s' %s (want HOST:PORT, e.g. 127.0.0.1:9464)",
                          a->listen, why);
        goto fail_addr;
    }
    uv_tcp_init(a->loop, &a->server);
    a->server.data = a;
    a->handles_open++;
    int uvrc = uv_tcp_bind(&a->server, (const struct sockaddr *)&addr, 0);
    if (uvrc == 0) {
        uvrc = uv_listen((uv_stream_t *)&a->server, 64, on_connection);
    }
    if (uvrc != 0) {
        rc = es_error_set(err, ES_EIO, 0, 0, "admin: cannot listen on %s: %s", a->listen,
                          uv_strerror(uvrc));
        goto fail_listen;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&a->server, (struct sockaddr *)&bound, &blen) == 0) {
        a->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    uv_timer_init(a->loop, &a->lag_timer);
    a->lag_timer.data = a;
    a->handles_open++;
    a->lag_expected_ns = uv_hrtime() + (uint64_t)ES_ADMIN_LAG_PROBE_MS * 1000000u;
    uv_timer_start(&a->lag_timer, on_lag_probe, ES_ADMIN_LAG_PROBE_MS, ES_ADMIN_LAG_PROBE_MS);
    /* The lag probe alone must not keep the loop alive at shutdown. */
    uv_unref((uv_handle_t *)&a->lag_timer);
    ES_LOG_INFO(COMP, "listening on %s (port %d)%s", a->listen, a->port,
                a->has_token ? ", bearer token required" : "");
    *out = a;
    return 0;

fail_listen:
    /* The server handle is closed through the loop; free once it is. */
    a->closing = true;
    uv_close((uv_handle_t *)&a->server, on_admin_handle_closed);
    *out = NULL;
    return rc;
fail_addr:
    es_route_db_close(a->db);
fail_db:
fail_metrics:
    es_metrics_free(a->m);
    es_buf_free(&a->scratch);
    free(a);
    *out = NULL;
    return rc;
}

void es_admin_close(es_admin *a, void (*on_closed)(void *ud), void *ud)
{
    if (a == NULL || a->closing) {
        return;
    }
    a->closing = true;
    a->on_closed = on_closed;
    a->closed_ud = ud;
    uv_close((uv_handle_t *)&a->server, on_admin_handle_closed);
    uv_close((uv_handle_t *)&a->lag_timer, on_admin_handle_closed);
    for (conn *c = a->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
}
