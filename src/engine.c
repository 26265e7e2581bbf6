/*
 * The live engine: the loop, the pipeline, the feeds and asynchronous alert
 * delivery. See engine.h for the shape; the order of things that keeps
 * "no mention missed or repeated" true is:
 *
 *   1. a feed hands bytes to the host (feed.c), which decodes them, checks
 *      each id against the store (memory) and runs new mentions through
 *      the pipeline;
 *   2. every alert is enqueued in the spool inside that same call, in the
 *      open spool transaction (es_spool_batch), which on_flush commits just
 *      before the loop waits: at the end of the turn if it is small, at
 *      most every FLUSH_MS if it is big;
 *   3. the feed then records its cursor (memory);
 *   4. the commit timer commits the spool batch, then writes the seen ids
 *      and cursors in one transaction.
 *
 * A crash before 4 replays mentions from the older cursor; their alerts
 * carry the same idempotency key and the spool refuses them. Nothing is
 * ever skipped, because a cursor is never on disk before its alerts. File
 * sinks written in the turn the crash cut short are reconciled from the
 * file's tail at the next start (reconcile_file_tail).
 */
#include "engine.h"
#include "admin.h"
#include "config.h"
#include "deliver.h"
#include "detect.h"
#include "feed.h"
#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "route.h"
#include "route_sink.h"
#include "sink.h"
#include "sink_config.h"
#include "spool.h"
#include "store.h"
#include "timefmt.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define COMP "engine"
#define HOUSEKEEPING_MS 1000
#define COMMIT_MS 100
#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define PRUNE_STEP_ROWS 1000
#define PRUNE_BUDGET_NS (4 * 1000 * 1000)
/* Local deliveries per sink per pump, so a backlog cannot hold the loop. */
#define PUMP_BATCH 256
/* HTTP requests in flight per sink. One keeps a chat channel in order. */
#define HTTP_IN_FLIGHT 1

typedef struct esink {
    struct es_engine *e;
    es_sink *sink;
    const es_config_item *item;
    es_sink_filter filter; /* min_severity, kinds, one line per alert */
    bool smtp;
    bool local_fast; /* file/stdout: written at enqueue, no claim round-trip */
    int64_t waiting; /* pending or in flight in the spool for this sink */
    int in_flight;
    int refs; /* generations holding it + requests in flight */
} esink;

/* Everything a reload swaps at once. */
typedef struct gen {
    es_config *cfg;
    es_lexicon *lex;
    es_cues *cues;
    es_detect_params *params;
    es_pipeline *pipe;
    esink **sinks;
    size_t n_sinks;
    es_deliver *smtp; /* synchronous deliverer for SMTP sinks, or NULL */
    /* With a `route:` section: the router and its conf (else NULL, and
     * every alert goes to every sink as a notification of one). */
    struct es_engine *e;
    es_route_conf *rconf;
    es_router *router;
} gen;

typedef struct feedx {
    es_feed *f;
    bool stalled;
    int64_t stalled_at;
    bool closing;
} feedx;

enum { RUNNING, DRAINING, CLOSING };

typedef struct es_engine {
    es_engine_opts o;
    uv_loop_t loop;
    es_http *http;
    es_store *store;
    es_spool *spool;
    gen *g;
    es_feed_env env;
    feedx **feeds;
    size_t n_feeds;
    size_t feeds_open; /* made and not yet closed (includes closing ones) */
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t house, pump_timer, commit_timer, drain_timer;
    uv_idle_t pump_idle;
    uv_prepare_t flush_prep; /* commits the spool batch before the loop waits */
    uv_timer_t route_timer;  /* es_router_advance at es_router_next_due */
    uv_timer_t ckpt_timer;   /* WAL checkpoints, run on a worker thread */
    uv_work_t ckpt_work;
    bool ckpt_busy;
    sqlite3 *ckpt_db;        /* the worker's own connection */
    int ckpt_log;            /* WAL pages at the worker's last pass */
    uint64_t batch_seen;     /* uv_now + 1 when on_flush first saw the batch open */
    int changes_at_flush;    /* the spool connection's total changes then */
    char *state_path;
    bool route_dirty;        /* the router's next due time may have moved */
    es_route_db *rdb;        /* silences and escalations, opened with the first route: */
    es_route_sink_scratch route_scratch;
    int handles_open;
    int state;
    bool paused;
    bool stop_requested;
    bool drain_explicit; /* --drain-timeout was given */
    int fatal;
    int64_t pending; /* undelivered alerts for the configured sinks */
    int64_t max_event_ms, wall_at_max;
    int64_t last_stats_ms, last_prune_ms;
    es_engine_state_limits lim; /* store: as opened; spool: as last (re)loaded */
    int64_t drain_deadline;
    uint64_t alerts, delivered, retried, dead;
    es_admin *admin; /* the admin endpoint, NULL when off (admin.h) */
    es_buf scratch;
    es_sink_request req;
    es_spool_item item;
} es_engine;

typedef struct delivery {
    es_engine *e;
    esink *s;
    int64_t id;
    int attempts;
    char key[128];
} delivery;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void schedule_pump(es_engine *e, int64_t delay_ms);
static void begin_shutdown(es_engine *e, const char *why);
static void maybe_finish_drain(es_engine *e);
static void on_house(uv_timer_t *t);
static void on_admin_closed(void *ud);

/* ---- Sinks from the config ---------------------------------------------- */

static void esink_unref(esink *s)
{
    if (--s->refs == 0) {
        es_sink_free(s->sink);
        free(s);
    }
}

static int make_sink(es_engine *e, const es_config_item *it, esink **out, es_error *err)
{
    const char *type = es_config_item_type(it);
    esink *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    /* Config item -> sink options -> es_sink_new, in src/sink_config.c. */
    int rc = es_sink_from_config(it, &s->sink, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->e = e;
    s->item = it;
    s->refs = 1;
    s->smtp = strcmp(type, "smtp") == 0;
    s->local_fast = strcmp(type, "file") == 0 || strcmp(type, "stdout") == 0;
    es_sink_filter_from_config(it, &s->filter);
    *out = s;
    return 0;
}

/* ---- Generations (what SIGHUP swaps) ------------------------------------- */

static int on_alert(void *ud, const es_alert *a);
static int admin_on_mention(void *ud, const es_mention *m, const es_pipeline_result *r);

static void gen_free(gen *g)
{
    if (g == NULL) {
        return;
    }
    es_router_free(g->router); /* before its conf */
    es_route_conf_free(g->rconf);
    es_pipeline_free(g->pipe);
    es_deliver_free(g->smtp);
    for (size_t i = 0; i < g->n_sinks; i++) {
        esink_unref(g->sinks[i]);
    }
    free(g->sinks);
    free(g->params);
    es_cues_free(g->cues);
    es_lexicon_free(g->lex);
    es_config_free(g->cfg);
    free(g);
}

/* ---- Routing (a `route:` section) ------------------------------------------ */

static esink *find_sink(const gen *g, const char *name)
{
    for (size_t i = 0; i < g->n_sinks; i++) {
        if (strcmp(g->sinks[i]->sink->name, name) == 0) {
            return g->sinks[i];
        }
    }
    return NULL;
}

/* file and stdout write one line per alert, never grouped (the contract):
 * the router gives them every alert of a group, not its examples. */
static bool route_wants_all(void *ud, const char *sink)
{
    esink *s = find_sink(ud, sink);
    return s != NULL && s->filter.per_alert;
}

static int enqueue_note(es_engine *e, esink *s, const es_notification *n, int64_t now);

typedef struct emit_ctx {
    es_engine *e;
    esink *s;
    int64_t now;
} emit_ctx;

static int put_note(void *ud, const es_notification *n)
{
    emit_ctx *c = ud;
    return enqueue_note(c->e, c->s, n, c->now);
}

/* The router's output: a notification for one sink, through the sink's
 * filter and, for file/stdout, one per alert (route_sink.h). */
static int route_emit(void *ud, const char *sink, const es_notification *n, int64_t at_ms)
{
    gen *g = ud;
    es_engine *e = g->e;
    (void)at_ms; /* the live router runs on the wall clock: at_ms is now */
    esink *s = find_sink(g, sink);
    if (s == NULL) {
        return 0; /* es_route_conf_load checked the names */
    }
    emit_ctx c = {e, s, wall_ms()};
    int rc = es_route_for_sink(&s->filter, n, c.now, &e->route_scratch, put_note, &c);
    schedule_pump(e, 0);
    return rc;
}

/* A router for a generation whose config has `route:`. */
static int gen_router(es_engine *e, gen *g, es_error *err)
{
    if (!es_config_has_route(g->cfg)) {
        return 0; /* every alert to every sink, one per notification */
    }
    int rc;
    /* On the spool's connection (es_route_db_share at start). */
    if (e->rdb == NULL && (rc = es_route_db_open(es_config_state_path(g->cfg), &e->rdb, err)) != 0) {
        return rc;
    }
    if ((rc = es_route_conf_load(g->cfg, NULL, NULL, &g->rconf, err)) != 0) {
        return rc;
    }
    if ((rc = es_router_new(g->rconf, e->rdb, route_emit, g, &g->router)) != 0) {
        return es_error_set(err, rc, 0, 0, "cannot make the router: %s", es_strerror(rc));
    }
    es_router_set_wants_all(g->router, route_wants_all, g);
    e->route_dirty = true;
    return 0;
}

static void on_route_timer(uv_timer_t *t);

/* Arm the route timer for the router's next due time (groups waiting,
 * escalations climbing, business hours opening). */
static void rearm_route(es_engine *e)
{
    e->route_dirty = false;
    if (e->g == NULL || e->g->router == NULL || e->state == CLOSING) {
        uv_timer_stop(&e->route_timer);
        return;
    }
    int64_t next = es_router_next_due(e->g->router);
    if (next == INT64_MAX) {
        uv_timer_stop(&e->route_timer);
        return;
    }
    int64_t d = next - wall_ms();
    /* Capped, so an acknowledgement or silence written by another process
     * (earshot alerts) is seen within a minute even with nothing due. */
    d = d < 0 ? 0 : d > 60000 ? 60000 : d;
    uv_timer_start(&e->route_timer, on_route_timer, (uint64_t)d, 0);
}

static void on_route_timer(uv_timer_t *t)
{
    es_engine *e = t->data;
    if (e->g->router != NULL) {
        (void)es_spool_batch(e->spool);
        int rc = es_router_advance(e->g->router, wall_ms());
        if (rc != 0) {
            ES_LOG_ERROR(COMP, "router: %s", es_strerror(rc));
        }
    }
    rearm_route(e);
}

/* Build everything for `cfg` (taken over, also on failure). Sinks whose
 * settings did not change are carried over from `old` (with their rate
 * limits and requests in flight). */
static int gen_new(es_engine *e, es_config *cfg, const gen *old, gen **out, es_error *err)
{
    gen *g = calloc(1, sizeof *g);
    if (g == NULL) {
        es_config_free(cfg);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    g->cfg = cfg;
    g->e = e;
    const char *lexdir = e->o.lexicons_dir != NULL ? e->o.lexicons_dir
                                                   : es_config_lexicons_dir(cfg);
    if (lexdir == NULL) {
        lexdir = e->o.default_lexicons;
    }
    int rc = es_lexicon_load(lexdir, &g->lex, err);
    rc = rc ? rc : es_cues_load(lexdir, &g->cues, err);
    if (rc != 0) {
        goto fail;
    }
    const es_topics *topics = es_config_topics(cfg);
    size_t nt = topics != NULL ? es_topics_count(topics) : 0;
    g->params = calloc(nt ? nt : 1, sizeof *g->params);
    if (g->params == NULL) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) {
        g->params[i] = *es__config_detect(cfg, i);
    }
    es_pipeline_opts po = {
        .topics = topics, .params = g->params, .lex = g->lex, .cues = g->cues,
        .on_alert = on_alert, .on_mention = admin_on_mention, .ud = e,
    };
    if ((rc = es_pipeline_new(&po, &g->pipe)) != 0) {
        es_error_set(err, rc, 0, 0, "cannot build the pipeline: %s", es_strerror(rc));
        goto fail;
    }
    size_t ns = es_config_sink_count(cfg);
    g->sinks = calloc(ns ? ns : 1, sizeof *g->sinks);
    if (g->sinks == NULL) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ns; i++) {
        const es_config_item *it = es_config_sink(cfg, i);
        esink *s = NULL;
        for (size_t j = 0; old != NULL && j < old->n_sinks; j++) {
            if (es_config_item_equal(old->sinks[j]->item, it)) {
                s = old->sinks[j];
                s->refs++;
                s->item = it;
                break;
            }
        }
        if (s == NULL && (rc = make_sink(e, it, &s, err)) != 0) {
            goto fail;
        }
        g->sinks[g->n_sinks++] = s;
        if (s->smtp) {
            if (g->smtp == NULL && (rc = es_deliver_new(e->spool, &g->smtp)) != 0) {
                es_error_set(err, rc, 0, 0, "cannot set up e-mail delivery");
                goto fail;
            }
            es_deliver_add_sink(g->smtp, s->sink);
        }
    }
    if ((rc = gen_router(e, g, err)) != 0) {
        goto fail;
    }
    *out = g;
    return 0;

fail:
    if (old != NULL) {
        /* Carried-over sinks point at the new items; point them back. */
        for (size_t i = 0; i < g->n_sinks; i++) {
            for (size_t j = 0; j < old->n_sinks; j++) {
                if (old->sinks[j] == g->sinks[i]) {
                    g->sinks[i]->item = es_config_sink(old->cfg, j);
                }
            }
        }
    }
    gen_free(g);
    return rc != 0 ? rc : ES_ECONFIG;
}

static int64_t count_pending(es_engine *e)
{
    int64_t total = 0;
    for (size_t i = 0; e->g != NULL && i < e->g->n_sinks; i++) {
        esink *s = e->g->sinks[i];
        const char *name = s->sink->name;
        int64_t n = 0;
        s->waiting = 0;
        if (es_spool_count(e->spool, ES_SPOOL_PENDING, name, &n) == 0) {
            s->waiting += n;
        }
        if (es_spool_count(e->spool, ES_SPOOL_INFLIGHT, name, &n) == 0) {
            s->waiting += n;
        }
        total += s->waiting;
    }
    return total;
}

/* ---- Alerts: pipeline -> spool -------------------------------------------- */

static bool wanted(const esink *s, const es_alert *a)
{
    return es_sink_filter_wants(&s->filter, a);
}

/*
 * A file or stdout sink with nothing older waiting writes a notification at
 * once, from the notification in memory, and its spool row goes in already
 * done and without the payload (es_spool_enqueue_done), in the loop turn's
 * batch: no claim, no JSON. Safe because that row commits with the batch,
 * before the feed cursors: a crash after the write and before that commit
 * replays the mention; a file sink then finds the line in its tail at the
 * next start and does not write it again (reconcile_file_tail), stdout
 * cannot, and may repeat the last turn's lines after kill -9. A repeated
 * key is known before anything is written, so a replay writes nothing.
 * Returns 1 if it took the notification (delivered, or a repeat), 0 if the
 * caller should spool it the ordinary way, or a negative code.
 */
static int deliver_now(es_engine *e, esink *s, const es_notification *n, int64_t now)
{
    if (!s->local_fast || s->waiting > 0 || e->state == CLOSING ||
        s->sink->type->perform == NULL || es_bucket_ready_at(&s->sink->bucket, now) > now) {
        return 0;
    }
    int rc = es_spool_enqueue_done(e->spool, s->sink->name, n->key, now);
    if (rc != 0) {
        if (rc < 0) {
            ES_LOG_ERROR(COMP, "cannot spool %s for sink %s: %s", n->key, s->sink->name,
                         es_spool_errmsg(e->spool));
        }
        return rc < 0 ? rc : 1;
    }
    int64_t id = es_spool_last_id(e->spool);
    es_sink_result res;
    memset(&res, 0, sizeof res);
    es_sink_request_reset(&e->req);
    if (es_sink_build(s->sink, n, &e->req) == 0) {
        es_bucket_take(&s->sink->bucket, now);
        s->sink->type->perform(s->sink->state, &e->req, s->sink->timeout_ms, &res);
        if (res.verdict == ES_SINK_DELIVERED) {
            es_admin_delivery(e->admin, s->sink->name, ES_ADMIN_DELIVERED);
            e->delivered++;
            return 1;
        }
    }
    /* Not written: an ordinary pending row with its payload, so the pump
     * retries it with backoff (or dead-letters what cannot be built). */
    es_buf_reset(&e->scratch);
    rc = es_notification_to_json(n, &e->scratch);
    if (rc == 0) {
        rc = es_spool_requeue(e->spool, id, e->scratch.data, e->scratch.len, now);
    }
    if (rc != 0) {
        ES_LOG_ERROR(COMP, "cannot spool %s for sink %s: %s", n->key, s->sink->name,
                     rc == ES_ESTATE ? es_spool_errmsg(e->spool) : es_strerror(rc));
        return rc < 0 ? rc : ES_ESTATE;
    }
    e->pending++;
    s->waiting++;
    return 1;
}

/* Spool one notification for one sink (spool first), or deliver it at
 * once if the sink is local and idle. */
static int enqueue_note(es_engine *e, esink *s, const es_notification *n, int64_t now)
{
    /* Joins the loop turn's batch (a no-op when dispatch opened it). */
    if (es_spool_batch(e->spool) != 0) {
        ES_LOG_ERROR(COMP, "spool: %s", es_spool_errmsg(e->spool));
        return ES_ESTATE;
    }
    int rc = deliver_now(e, s, n, now);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    es_buf_reset(&e->scratch);
    rc = es_notification_to_json(n, &e->scratch);
    if (rc != 0) {
        ES_LOG_ERROR(COMP, "cannot encode notification %s: %s", n->key, es_strerror(rc));
        return 0; /* this notification is lost, not the process */
    }
    rc = es_spool_enqueue(e->spool, s->sink->name, n->key, e->scratch.data, e->scratch.len,
                          now);
    if (rc < 0) {
        ES_LOG_ERROR(COMP, "cannot spool %s for sink %s: %s", n->key, s->sink->name,
                     es_spool_errmsg(e->spool));
        return rc;
    }
    if (rc == 0) {
        e->pending++;
        s->waiting++;
    }
    return 0;
}

/*
 * After a crash, the last loop turn's lines may be in a file sink's file
 * while their spool rows (or done marks) were never committed: the batch
 * died with the process. The file itself says what was written: every line
 * starts with the alert's id, which is the spool key of a file sink's
 * notifications, so the ids in the file's tail are marked done before
 * anything is delivered. Without this, kill -9 would repeat up to a loop
 * turn's worth of lines instead of none. Only the tail is read (a turn
 * writes far less than this), so a huge archive costs nothing at start.
 */
#define TAIL_SCAN_BYTES (4u << 20)

static void reconcile_file_tail(es_engine *e, esink *s, int64_t now)
{
    const char *path = es_config_item_str(s->item, "path");
    if (path == NULL || strcmp(es_config_item_type(s->item), "file") != 0) {
        return;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return; /* nothing written yet */
    }
    char *buf = NULL;
    size_t n = 0;
    if (fseeko(f, 0, SEEK_END) == 0) {
        off_t size = ftello(f);
        off_t from = size > (off_t)TAIL_SCAN_BYTES ? size - (off_t)TAIL_SCAN_BYTES : 0;
        buf = size > 0 ? malloc((size_t)(size - from)) : NULL;
        if (buf != NULL && fseeko(f, from, SEEK_SET) == 0) {
            n = fread(buf, 1, (size_t)(size - from), f);
        }
        if (from > 0) {
            /* Start at a whole line. */
            char *nl = memchr(buf, '\n', n);
            size_t skip = nl != NULL ? (size_t)(nl - buf) + 1 : n;
            memmove(buf, buf + skip, n - skip);
            n -= skip;
        }
    }
    fclose(f);
    static const char lead[] = "{\"id\":\"";
    int marked = 0;
    (void)es_spool_batch(e->spool);
    for (size_t i = 0; buf != NULL && i < n;) {
        char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - buf) : n;
        if (nl != NULL && end - i > sizeof lead - 1 && memcmp(buf + i, lead, sizeof lead - 1) == 0) {
            const char *id = buf + i + sizeof lead - 1;
            const char *q = memchr(id, '"', end - (size_t)(id - buf));
            if (q != NULL && q - id > 0 && q - id < 64) {
                char key[64];
                memcpy(key, id, (size_t)(q - id));
                key[q - id] = '\0';
                marked += es_spool_mark_done(e->spool, s->sink->name, key, now) > 0;
            }
        }
        i = end + 1;
    }
    free(buf);
    if (marked > 0) {
        ES_LOG_INFO(COMP, "sink %s: %d alerts were already in %s (written just before the last "
                    "run stopped); not writing them again", s->sink->name, marked, path);
    }
}

static int enqueue(es_engine *e, esink *s, const es_alert *a, const char *key, int64_t now)
{
    es_notification n = {
        .key = key, .alerts = a, .n_alerts = 1, .count = 1, .sent_ms = now,
    };
    return enqueue_note(e, s, &n, now);
}

/* Hand an alert to the router with the labels it cannot derive: source
 * and intent from the mention that raised it (when the alert quotes the
 * mention being processed), competitor from its topic. */
static int route_push(es_engine *e, const es_alert *a, int64_t now)
{
    es_label extra[3];
    char source[64];
    es_intent_kind ik = ES_INTENT_OTHER;
    const es_mention *m = es_pipeline_current(e->g->pipe, &ik);
    size_t nx = es_route_extra_labels(es_config_topics(e->g->cfg), a, m, ik, extra, source,
                                      sizeof source);
    int rc = es_router_push(e->g->router, a, extra, nx, now);
    e->route_dirty = true;
    if (rc != 0) {
        ES_LOG_ERROR(COMP, "router: %s", es_strerror(rc));
    }
    return rc;
}

int es__engine_dispatch(es_engine *e, const es_alert *a)
{
    char id[27];
    es_alert_make_id(a, id);
    int64_t now = wall_ms();
    e->alerts++;
    es_admin_alert(e->admin, a);
    ES_LOG_DEBUG(COMP, "alert %s %s %s", id, es_alert_kind_name(a->kind), a->fingerprint);
    /* Joins this loop turn's spool transaction (flushed in on_flush, and
     * always before the feed cursors are committed). */
    if (es_spool_batch(e->spool) != 0) {
        ES_LOG_ERROR(COMP, "spool: %s", es_spool_errmsg(e->spool));
        return ES_ESTATE;
    }
    if (e->g->router != NULL) {
        return route_push(e, a, now);
    }
    /* Without `route:`, every alert goes to every sink whose filters take
     * it, as a notification of one. */
    for (size_t i = 0; i < e->g->n_sinks; i++) {
        esink *s = e->g->sinks[i];
        if (!wanted(s, a)) {
            continue;
        }
        int rc = enqueue(e, s, a, id, now);
        if (rc != 0) {
            return rc;
        }
    }
    schedule_pump(e, 0);
    return 0;
}

static int on_alert(void *ud, const es_alert *a)
{
    return es__engine_dispatch(ud, a);
}

/* ---- Delivery: spool -> sinks ---------------------------------------------- */

static void resume_feeds(es_engine *e)
{
    if (!e->paused || e->pending > e->o.max_pending / 2) {
        return;
    }
    e->paused = false;
    ES_LOG_INFO(COMP, "sinks caught up (%lld waiting); feeds resume", (long long)e->pending);
    for (size_t i = 0; i < e->n_feeds; i++) {
        if (!e->feeds[i]->closing) {
            es_feed_resume(e->feeds[i]->f);
        }
    }
}

static uint64_t key_seed(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *key != '\0'; key++) {
        h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
    }
    return h;
}

/* Record the outcome of one attempt in the spool. */
static void outcome(es_engine *e, esink *s, int64_t id, const char *key, int attempts,
                    es_sink_result *res, int64_t now)
{
    char comp[96];
    snprintf(comp, sizeof comp, "sink:%s", s->sink->name);
    int rc = 0;
    switch (res->verdict) {
    case ES_SINK_DELIVERED:
        es_admin_delivery(e->admin, s->sink->name, ES_ADMIN_DELIVERED);
        e->delivered++;
        e->pending--;
        s->waiting--;
        ES_LOG_DEBUG(comp, "delivered %s", key);
        rc = es_spool_done(e->spool, id, now);
        break;
    case ES_SINK_RETRY: {
        int64_t when = es_sink_retry_at(s->sink, res, attempts, key_seed(key), now);
        if (res->sink_wide && when > s->sink->blocked_until_ms) {
            s->sink->blocked_until_ms = when;
        }
        es_spool_limits lim = {s->sink->max_attempts, s->sink->max_age_ms};
        rc = es_spool_retry(e->spool, id, now, when, res->error, &lim);
        if (rc == 1) {
            e->dead++;
            e->pending--;
        s->waiting--;
            es_admin_delivery(e->admin, s->sink->name, ES_ADMIN_DEAD);
            ES_LOG_ERROR(comp, "%s failed %d times (%s); dead-lettered", key, attempts,
                         res->error);
            rc = 0;
        } else {
            e->retried++;
            es_admin_delivery(e->admin, s->sink->name, ES_ADMIN_RETRY);
            ES_LOG_WARN(comp, "%s: %s, retry in %.1f s", key, res->error,
                        (double)(when - now) / 1000.0);
        }
        break;
    }
    case ES_SINK_PERMANENT:
    default:
        e->dead++;
        e->pending--;
        s->waiting--;
        es_admin_delivery(e->admin, s->sink->name, ES_ADMIN_DEAD);
        ES_LOG_ERROR(comp, "%s: %s; will not retry, dead-lettered", key, res->error);
        rc = es_spool_dead(e->spool, id, now, res->error);
        break;
    }
    if (rc < 0) {
        ES_LOG_ERROR(comp, "spool: %s", es_spool_errmsg(e->spool));
    }
    resume_feeds(e);
}

static void on_http_done(void *ud, es_http_req *req, const es_http_result *r)
{
    delivery *d = ud;
    es_engine *e = d->e;
    esink *s = d->s;
    (void)es_spool_batch(e->spool); /* on failure each write commits alone */
    size_t nh;
    const es_http_header *hh = es_http_headers(req, &nh);
    es_sink_header hdrs[ES_HTTP_MAX_HEADERS];
    for (size_t i = 0; i < nh; i++) {
        hdrs[i].name = hh[i].name;
        hdrs[i].value = hh[i].value;
    }
    es_sink_response resp = {
        .transport = r->code,
        .transport_msg = r->error,
        .status = r->code == 0 ? r->status : 0,
        .headers = hdrs,
        .n_headers = nh,
        .body = r->body != NULL ? r->body : "",
        .body_len = r->body_len,
        .now_ms = wall_ms(),
    };
    es_sink_result res;
    memset(&res, 0, sizeof res);
    es_sink_classify(s->sink, &resp, &res);
    if (r->code == ES_ECLOSED) {
        /* Shutting down: due again at once on the next start. */
        res.verdict = ES_SINK_RETRY;
        res.not_before_ms = resp.now_ms;
        snprintf(res.error, sizeof res.error, "interrupted by shutdown");
    }
    outcome(e, s, d->id, d->key, d->attempts, &res, resp.now_ms);
    s->in_flight--;
    esink_unref(s);
    free(d);
    if (e->state != CLOSING) {
        schedule_pump(e, 0);
    }
}

/* One attempt at the claimed item. Returns true if it completed here
 * (local), false if a request is in flight. */
static void attempt(es_engine *e, esink *s, es_spool_item *it, int64_t now)
{
    es_notification_doc doc;
    es_error err = {0};
    es_sink_result res;
    memset(&res, 0, sizeof res);
    if (es_notification_parse(it->payload, it->payload_len, &doc, &err) != 0) {
        res.verdict = ES_SINK_PERMANENT;
        snprintf(res.error, sizeof res.error, "unreadable notification: %.200s", err.msg);
        outcome(e, s, it->id, it->key, it->attempts, &res, now);
        return;
    }
    doc.n.sent_ms = now;
    if (s->filter.per_alert && doc.n.action == ES_NOTIFY_ACKNOWLEDGE) {
        /* `earshot alerts ack` queued it for every sink the incident
         * reached; a file/stdout sink writes alerts, and an ack is none. */
        es_notification_doc_free(&doc);
        res.verdict = ES_SINK_DELIVERED;
        outcome(e, s, it->id, it->key, it->attempts, &res, now);
        return;
    }
    es_sink_request_reset(&e->req);
    int rc = es_sink_build(s->sink, &doc.n, &e->req);
    es_notification_doc_free(&doc);
    if (rc != 0) {
        res.verdict = ES_SINK_PERMANENT;
        snprintf(res.error, sizeof res.error, "cannot build the message: %s", es_strerror(rc));
        outcome(e, s, it->id, it->key, it->attempts, &res, now);
        return;
    }
    if (e->req.kind == ES_SINK_REQ_LOCAL) {
        if (s->sink->type->perform == NULL) {
            res.verdict = ES_SINK_PERMANENT;
            snprintf(res.error, sizeof res.error, "sink type cannot perform");
        } else {
            s->sink->type->perform(s->sink->state, &e->req, s->sink->timeout_ms, &res);
        }
        outcome(e, s, it->id, it->key, it->attempts, &res, wall_ms());
        return;
    }
    delivery *d = calloc(1, sizeof *d);
    if (d == NULL) {
        res.verdict = ES_SINK_RETRY;
        snprintf(res.error, sizeof res.error, "out of memory");
        outcome(e, s, it->id, it->key, it->attempts, &res, now);
        return;
    }
    d->e = e;
    d->s = s;
    d->id = it->id;
    d->attempts = it->attempts;
    snprintf(d->key, sizeof d->key, "%s", it->key);
    es_http_opts ho = {
        .method = e->req.method,
        .url = e->req.url.data,
        .header_block = e->req.headers.data,
        .header_block_len = e->req.headers.len,
        .body = e->req.body.data != NULL ? e->req.body.data : "",
        .body_len = e->req.body.len,
        .connect_timeout_ms = s->sink->connect_timeout_ms,
        .timeout_ms = s->sink->timeout_ms,
        .max_body = 64u << 10,
        .on_done = on_http_done,
        .ud = d,
    };
    rc = es_http_start(e->http, &ho, NULL);
    if (rc != 0) {
        free(d);
        res.verdict = rc == ES_EINVAL ? ES_SINK_PERMANENT : ES_SINK_RETRY;
        snprintf(res.error, sizeof res.error, "cannot send: %s", es_strerror(rc));
        outcome(e, s, it->id, it->key, it->attempts, &res, now);
        return;
    }
    s->in_flight++;
    s->refs++;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/*
 * WAL checkpoints off the loop thread. SQLite's automatic checkpoint runs
 * inside whichever COMMIT pushes the log past 1,000 pages, on the loop
 * thread, and copies pages and fsyncs the database there: tens of ms on a
 * busy disk, stalling feeds and local sinks at 20,000 alerts/s. The
 * engine's connections turn it off and a worker thread checkpoints every
 * second on a connection of its own (PASSIVE: never waits for, nor blocks,
 * the writers). Durability is unchanged: a commit is in the WAL either way.
 */
#define CKPT_MS 1000
/* Start the log over once it holds this many pages (32 MiB). */
#define CKPT_RESTART_FRAMES 8192

static void commit_state(es_engine *e);
static void prune_spool(es_engine *e, int64_t now);

static void ckpt_run(uv_work_t *w)
{
    es_engine *e = w->data;
    if (e->ckpt_db == NULL) {
        /* A connection that has read nothing does not know the file is in
         * WAL mode: sqlite3_wal_checkpoint_v2 on it returns SQLITE_OK and
         * does nothing (log size -1), and the WAL grew without bound
         * (~3 GB in 30 s at 20,000 mentions/s). Reading the header once
         * (the pragma) opens the WAL. */
        if (sqlite3_open_v2(e->state_path, &e->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(e->ckpt_db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_close(e->ckpt_db);
            e->ckpt_db = NULL;
            return;
        }
        sqlite3_busy_timeout(e->ckpt_db, 0);
    }
    int nlog = 0, nck = 0;
    if (sqlite3_wal_checkpoint_v2(e->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nck) !=
        SQLITE_OK) {
        nlog = 0;
    }
    e->ckpt_log = nlog; /* read by ckpt_done, on the loop thread */
}

/*
 * The log only starts over when a writer begins with every frame already
 * copied, which under a steady load never happens by itself: the loop
 * commits again while the worker copies. So once the log is long, the loop
 * thread commits what it has and copies the few frames written since the
 * worker's pass itself (a PASSIVE checkpoint on its own connection: a
 * millisecond or two of copying and the syncs); the next write then starts
 * the log over. (A RESTART on the worker instead held the write lock
 * against the loop for 20-100 ms, or never got it while the loop kept a
 * batch open.)
 */
static void ckpt_done(uv_work_t *w, int status)
{
    es_engine *e = w->data;
    (void)status;
    e->ckpt_busy = false;
    if (e->ckpt_log < CKPT_RESTART_FRAMES || e->state == CLOSING) {
        return;
    }
    commit_state(e);
    if (!es_spool_in_batch(e->spool)) {
        (void)sqlite3_wal_checkpoint_v2(es__spool_sqlite(e->spool), NULL,
                                        SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
}

static void on_ckpt(uv_timer_t *t)
{
    es_engine *e = t->data;
    if (e->ckpt_busy || e->state == CLOSING) {
        return;
    }
    e->ckpt_work.data = e;
    if (uv_queue_work(&e->loop, &e->ckpt_work, ckpt_run, ckpt_done) == 0) {
        e->ckpt_busy = true;
    }
}

static void flush_spool(es_engine *e)
{
    if (es_spool_flush(e->spool) != 0) {
        /* Busy: the batch stays open and the next flush commits it. */
        ES_LOG_WARN(COMP, "spool commit postponed: %s", es_spool_errmsg(e->spool));
        return;
    }
    e->batch_seen = 0;
    e->changes_at_flush = sqlite3_total_changes(es__spool_sqlite(e->spool));
}

/*
 * Runs once per loop turn, just before the loop waits for I/O: what the
 * turns of the last FLUSH_MS wrote to the spool (enqueues, claims,
 * outcomes) becomes durable in one commit. Not every turn: under load a
 * turn holds a few dozen alerts, and alert ids are random within their
 * second, so each alert dirtied its own page of the (sink, key) index and
 * each commit wrote ~35 pages to the WAL (80 MB/s at 20,000 alerts/s);
 * with a commit per 20 ms the pages are shared and the log grows ~6 times
 * slower. A batch of fewer than FLUSH_MIN_ROWS changes still commits at
 * the end of its turn (it costs little, and a quiet engine's state is on
 * disk as soon as its turn ends); a bigger one is held while turns go on
 * for at most FLUSH_MS, and the commit timer (every COMMIT_MS, cursors
 * after alerts) closes it when the loop goes quiet. A file sink's lines
 * wait for neither.
 */
#define FLUSH_MS 20
#define FLUSH_MIN_ROWS 16

static void on_flush(uv_prepare_t *h)
{
    es_engine *e = h->data;
    if (e->route_dirty) {
        rearm_route(e); /* once per turn, not per alert: next_due asks SQLite */
    }
    uint64_t now = uv_now(&e->loop);
    int changes = sqlite3_total_changes(es__spool_sqlite(e->spool));
    if (!es_spool_in_batch(e->spool)) {
        e->batch_seen = 0;
    } else if ((unsigned)changes - (unsigned)e->changes_at_flush < FLUSH_MIN_ROWS ||
               (e->batch_seen != 0 && now + 1 - e->batch_seen >= FLUSH_MS)) {
        /* About as many old done rows as this batch wrote go in the same
         * commit, so the count limit keeps pace with any alert rate the
         * loop sustains, spread over the batches (~1.8 us a row: ~0.8 ms
         * for a 20 ms batch at 20,000 alerts/s) instead of a burst every
         * 100 ms, and without commits of its own. */
        unsigned wrote = (unsigned)changes - (unsigned)e->changes_at_flush;
        bool more;
        if (es_spool_prune(e->spool, wall_ms() - e->lim.done_max_age_ms, e->lim.done_max_rows,
                           wrote < PRUNE_STEP_ROWS ? (int)wrote + 1 : PRUNE_STEP_ROWS,
                           &more) < 0) {
            ES_LOG_ERROR(COMP, "spool: pruning: %s", es_spool_errmsg(e->spool));
        }
        flush_spool(e);
    } else if (e->batch_seen == 0) {
        e->batch_seen = now + 1; /* 0 means none */
    }
}

static void pump(es_engine *e)
{
    int64_t next = INT64_MAX;
    bool more = false;
    gen *g = e->g;
    /* Claims and done marks of this pass share one commit (on_flush). */
    (void)es_spool_batch(e->spool);
    for (size_t i = 0; g != NULL && i < g->n_sinks; i++) {
        esink *s = g->sinks[i];
        if (s->smtp) {
            continue; /* below */
        }
        int64_t lease = s->sink->connect_timeout_ms + s->sink->timeout_ms + 60000;
        int n;
        for (n = 0; n < PUMP_BATCH && s->in_flight < HTTP_IN_FLIGHT; n++) {
            int64_t now = wall_ms();
            int64_t due;
            int hd = es_spool_next_due(e->spool, s->sink->name, &due);
            if (hd <= 0) {
                break;
            }
            int64_t ready = es_bucket_ready_at(&s->sink->bucket, now);
            ready = ready > s->sink->blocked_until_ms ? ready : s->sink->blocked_until_ms;
            if (due > now || ready > now) {
                next = min64(next, due > ready ? due : ready);
                break;
            }
            int r = es_spool_claim(e->spool, s->sink->name, now, lease, &e->item);
            if (r <= 0) {
                break;
            }
            es_bucket_take(&s->sink->bucket, now);
            attempt(e, s, &e->item, now);
        }
        more |= n == PUMP_BATCH;
    }
    if (g != NULL && g->smtp != NULL) {
        /* E-mail goes through libcurl's SMTP synchronously: rare, and
         * bounded by each sink's timeout. Commit first, so the write lock
         * is not held across a slow SMTP exchange. */
        flush_spool(e);
        int64_t nx;
        int rc = es_deliver_step(g->smtp, &nx);
        if (rc > 0) {
            int64_t n = count_pending(e);
            e->pending = n;
        }
        next = min64(next, nx);
    }
    if (more) {
        schedule_pump(e, 0);
    } else if (next != INT64_MAX) {
        int64_t d = next - wall_ms();
        schedule_pump(e, d > 0 ? d : 1);
    }
    if (e->state == DRAINING) {
        maybe_finish_drain(e);
    }
}

static void on_pump(uv_timer_t *t)
{
    pump(t->data);
}

static void on_pump_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    pump(h->data);
}

static void schedule_pump(es_engine *e, int64_t delay_ms)
{
    if (e->state == CLOSING) {
        return;
    }
    if (delay_ms <= 0) {
        /* Next turn of the loop, after I/O: a zero timer started inside a
         * timer callback would run in the same pass and could starve the
         * loop while a backlog lasts. */
        uv_idle_start(&e->pump_idle, on_pump_idle);
        return;
    }
    uint64_t due = uv_now(&e->loop) + (uint64_t)delay_ms;
    if (uv_is_active((uv_handle_t *)&e->pump_timer) &&
        uv_timer_get_due_in(&e->pump_timer) + uv_now(&e->loop) <= due) {
        return; /* already due sooner */
    }
    uv_timer_start(&e->pump_timer, on_pump, (uint64_t)delay_ms, 0);
}

/* ---- Feeds ------------------------------------------------------------------ */

static int feed_process(void *ud, es_feed *f, const es_mention *m)
{
    es_engine *e = ud;
    (void)f;
    if (m->created_ms != ES_TIME_UNKNOWN && m->created_ms > e->max_event_ms) {
        e->max_event_ms = m->created_ms;
        e->wall_at_max = wall_ms();
    }
    es_admin_mention_in(e->admin, es_feed_name(f), m->created_ms);
    int rc = es_pipeline_process(e->g->pipe, m);
    if (rc != 0) {
        ES_LOG_ERROR(COMP, "pipeline: %s", es_strerror(rc));
        e->fatal = rc;
        begin_shutdown(e, "the pipeline failed");
    }
    return rc;
}

static bool feed_busy(void *ud)
{
    es_engine *e = ud;
    if (e->pending > e->o.max_pending) {
        if (!e->paused) {
            e->paused = true;
            ES_LOG_WARN(COMP, "%lld alerts waiting for the sinks; feeds pause",
                        (long long)e->pending);
        }
        return true;
    }
    return false;
}

static bool all_feeds_finished(es_engine *e)
{
    for (size_t i = 0; i < e->n_feeds; i++) {
        if (!es_feed_counters_get(e->feeds[i]->f)->finished) {
            return false;
        }
    }
    return true;
}

static void feed_event(void *ud, es_feed *f)
{
    es_engine *e = ud;
    (void)f;
    if (e->o.exit_when_done && e->state == RUNNING && all_feeds_finished(e)) {
        e->stop_requested = true;
        /* Not from inside the feed's own callback: the housekeeping timer
         * picks it up on the next turn. */
        uv_timer_start(&e->house, on_house, 0, 0);
    }
}

static void feed_closed(void *ud, es_feed *f)
{
    es_engine *e = ud;
    feedx *x = es_feed_data(f);
    for (size_t i = 0; i < e->n_feeds; i++) {
        if (e->feeds[i] == x) {
            memmove(&e->feeds[i], &e->feeds[i + 1], (e->n_feeds - i - 1) * sizeof e->feeds[0]);
            e->n_feeds--;
            break;
        }
    }
    free(x);
    e->feeds_open--;
    if (e->state == DRAINING) {
        maybe_finish_drain(e);
    }
}

static int feed_make(es_engine *e, const es_config_item *it, feedx **out, es_error *err)
{
    feedx *x = calloc(1, sizeof *x);
    if (x == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    int rc = es_feed_new(it, &e->env, &x->f, err);
    if (rc != 0) {
        free(x);
        return rc;
    }
    es_feed_set_data(x->f, x);
    e->feeds_open++;
    *out = x;
    return 0;
}

static int feeds_add(es_engine *e, feedx *x)
{
    feedx **n = realloc(e->feeds, (e->n_feeds + 1) * sizeof *n);
    if (n == NULL) {
        return ES_ENOMEM;
    }
    e->feeds = n;
    e->feeds[e->n_feeds++] = x;
    return 0;
}

/* A feed that is not in e->feeds (a reload that failed half-way). */
static void feed_discard(es_engine *e, feedx *x)
{
    x->closing = true;
    if (feeds_add(e, x) != 0) {
        return; /* leaks one feed on out-of-memory rather than crash */
    }
    es_feed_close(x->f);
}

/* ---- Housekeeping ------------------------------------------------------------ */

static void stall_alert(es_engine *e, feedx *x, bool resolved, int64_t now, int64_t idle_ms)
{
    const char *name = es_feed_name(x->f);
    const es_feed_counters *c = es_feed_counters_get(x->f);
    char fp[200], summary[400], details[400];
    snprintf(fp, sizeof fp, "feed/%s/stalled", name);
    if (resolved) {
        snprintf(summary, sizeof summary, "feed %s delivers mentions again", name);
    } else {
        snprintf(summary, sizeof summary,
                 "feed %s has delivered no mention for %lld s (%llu errors, %s)", name,
                 (long long)(idle_ms / 1000), (unsigned long long)c->errors,
                 c->connected ? "connected" : "not connected");
    }
    snprintf(details, sizeof details,
             "{\"idle_ms\":%lld,\"idle_timeout_ms\":%lld,\"errors\":%llu,\"reconnects\":%llu,"
             "\"connected\":%s,\"mentions\":%llu}",
             (long long)idle_ms, (long long)es_config_item_int(es_feed_item(x->f), "idle_timeout"),
             (unsigned long long)c->errors, (unsigned long long)c->reconnects,
             c->connected ? "true" : "false", (unsigned long long)c->decoded);
    es_alert a = {
        .kind = ES_ALERT_FEED_STALLED,
        .severity = ES_SEV_WARNING,
        .resolved = resolved,
        .feed = name,
        .at_ms = now,
        .fingerprint = fp,
        .summary = summary,
        .details_json = details,
    };
    if (resolved) {
        ES_LOG_INFO(es_feed_comp(x->f), "recovered");
    } else {
        ES_LOG_WARN(es_feed_comp(x->f), "stalled: %s", summary);
    }
    (void)es__engine_dispatch(e, &a);
}

static void check_stalls(es_engine *e, int64_t now)
{
    for (size_t i = 0; i < e->n_feeds; i++) {
        feedx *x = e->feeds[i];
        if (x->closing) {
            continue;
        }
        const es_feed_counters *c = es_feed_counters_get(x->f);
        int64_t idle = es_config_item_int(es_feed_item(x->f), "idle_timeout");
        if (idle <= 0 || c->finished) {
            continue;
        }
        int64_t last = c->last_mention_ms > c->started_ms ? c->last_mention_ms : c->started_ms;
        if (!x->stalled && now - last > idle) {
            x->stalled = true;
            x->stalled_at = now;
            stall_alert(e, x, false, now, now - last);
        } else if (x->stalled && c->last_mention_ms > x->stalled_at) {
            x->stalled = false;
            stall_alert(e, x, true, now, 0);
        }
    }
}

static void log_stats(es_engine *e)
{
    for (size_t i = 0; i < e->n_feeds; i++) {
        const es_feed_counters *c = es_feed_counters_get(e->feeds[i]->f);
        ES_LOG_INFO(es_feed_comp(e->feeds[i]->f),
                    "received %llu, decoded %llu, bad %llu, duplicate %llu, reconnects %llu, "
                    "errors %llu%s",
                    (unsigned long long)c->received, (unsigned long long)c->decoded,
                    (unsigned long long)c->bad, (unsigned long long)c->duplicate,
                    (unsigned long long)c->reconnects, (unsigned long long)c->errors,
                    c->connected ? ", connected" : "");
    }
    ES_LOG_INFO(COMP, "alerts %llu, delivered %llu, retried %llu, dead %llu, waiting %lld",
                (unsigned long long)e->alerts, (unsigned long long)e->delivered,
                (unsigned long long)e->retried, (unsigned long long)e->dead,
                (long long)e->pending);
}

static void on_house(uv_timer_t *t)
{
    es_engine *e = t->data;
    if (e->stop_requested && e->state == RUNNING) {
        begin_shutdown(e, "every feed has finished");
        return;
    }
    if (e->state != RUNNING) {
        return;
    }
    int64_t now = wall_ms();
    /* Event time moves on with the wall clock through quiet periods, so
     * buckets close and a silence is seen as one. */
    if (e->max_event_ms > 0) {
        int64_t ev = e->max_event_ms + (now - e->wall_at_max);
        int rc = es_pipeline_advance(e->g->pipe, ev);
        if (rc != 0) {
            ES_LOG_ERROR(COMP, "pipeline: %s", es_strerror(rc));
        }
    }
    check_stalls(e, now);
    if (e->o.stats_interval_ms > 0 && now - e->last_stats_ms >= e->o.stats_interval_ms) {
        e->last_stats_ms = now;
        log_stats(e);
    }
    if (now - e->last_prune_ms >= PRUNE_EVERY_MS) {
        e->last_prune_ms = now;
        int n = es_store_prune(e->store, now);
        if (n < 0) {
            ES_LOG_ERROR(COMP, "state file: %s", es_store_errmsg(e->store));
        } else if (n > 0) {
            ES_LOG_DEBUG(COMP, "forgot %d old mention ids", n);
        }
    }
    uv_timer_start(&e->house, on_house, HOUSEKEEPING_MS, 0);
}

/*
 * Done spool rows past `spool.done_max_rows` or `spool.done_max_age`: each
 * spool batch forgets about as many as it wrote (on_flush), which keeps the
 * count limit under load; what is left (the age limit, a backlog after the
 * limit was lowered or from a state file older than it) is forgotten after
 * each 100 ms commit, PRUNE_STEP_ROWS at a time for at most
 * PRUNE_BUDGET_NS of the loop. A step of 1,000 rows takes ~1.3 ms (bench:
 * 2,000 in 2.6 ms on a 1.5M-row spool, where one DELETE of 200,000 took
 * 253 ms), so a backlog goes at up to ~30,000 rows a second. With nothing
 * to forget a step is a few index lookups (~6 us).
 */
static void prune_spool(es_engine *e, int64_t now)
{
    uint64_t t0 = uv_hrtime();
    int64_t total = 0;
    bool more = true;
    while (more) {
        int n = es_spool_prune(e->spool, now - e->lim.done_max_age_ms, e->lim.done_max_rows,
                               PRUNE_STEP_ROWS, &more);
        if (n < 0) {
            ES_LOG_ERROR(COMP, "spool: pruning: %s", es_spool_errmsg(e->spool));
            break;
        }
        total += n;
        if (uv_hrtime() - t0 >= PRUNE_BUDGET_NS) {
            break;
        }
    }
    if (total > 0) {
        ES_LOG_DEBUG(COMP, "forgot %lld delivered notifications%s", (long long)total,
                     more ? " (more next tick)" : "");
    }
}

static void on_commit(uv_timer_t *t)
{
    es_engine *e = t->data;
    commit_state(e);
    if (!es_spool_in_batch(e->spool)) {
        prune_spool(e, wall_ms()); /* its own small transactions, after the batch */
    }
}

static void commit_state(es_engine *e)
{
    /* Alerts before cursors: a cursor is never on disk before its alerts. */
    flush_spool(e);
    if (es_spool_in_batch(e->spool)) {
        return; /* the spool could not commit; keep the cursors back too */
    }
    if (es_store_pending(e->store) > 0 && es_store_commit(e->store) != 0) {
        ES_LOG_ERROR(COMP, "state file: %s", es_store_errmsg(e->store));
    }
}

/* ---- Reload ---------------------------------------------------------------- */

static void apply_log_settings(es_engine *e, const es_config *cfg)
{
    if (e->o.log_level < 0) {
        int lv = es_log_level_parse(es_config_log_level(cfg));
        if (lv >= 0) {
            es_log_set_level(lv);
        }
    }
    if (e->o.log_json < 0) {
        const char *fmt = es_config_log_format(cfg);
        es_log_set_json(fmt != NULL && strcmp(fmt, "json") == 0);
    }
}

static void reload(es_engine *e)
{
    ES_LOG_INFO(COMP, "SIGHUP: reloading %s", e->o.config_path);
    es_error err;
    memset(&err, 0, sizeof err);
    es_config *cfg;
    if (es_config_load(e->o.config_path, &cfg, &err) != 0) {
        ES_LOG_ERROR(COMP, "%s:%d:%d: %s; keeping the running config", err.file, err.line,
                     err.col, err.msg);
        return;
    }
    gen *g;
    if (gen_new(e, cfg, e->g, &g, &err) != 0) {
        ES_LOG_ERROR(COMP, "%s%s%d:%d: %s; keeping the running config",
                     err.file[0] ? err.file : e->o.config_path, ":", err.line, err.col, err.msg);
        return;
    }
    /* New feeds first, so a failure leaves everything as it was. */
    size_t nf = es_config_feed_count(cfg);
    feedx **keep = calloc(nf ? nf : 1, sizeof *keep);
    feedx **made = calloc(nf ? nf : 1, sizeof *made);
    if (keep == NULL || made == NULL) {
        free(keep);
        free(made);
        gen_free(g);
        ES_LOG_ERROR(COMP, "out of memory; keeping the running config");
        return;
    }
    for (size_t i = 0; i < nf; i++) {
        const es_config_item *it = es_config_feed(cfg, i);
        for (size_t j = 0; j < e->n_feeds; j++) {
            feedx *x = e->feeds[j];
            if (!x->closing && es_config_item_equal(es_feed_item(x->f), it)) {
                keep[i] = x;
                break;
            }
        }
        if (keep[i] == NULL && feed_make(e, it, &made[i], &err) != 0) {
            ES_LOG_ERROR(COMP, "%s:%d:%d: %s; keeping the running config", e->o.config_path,
                         err.line, err.col, err.msg);
            for (size_t k = 0; k < i; k++) {
                if (made[k] != NULL) {
                    feed_discard(e, made[k]);
                }
            }
            free(keep);
            free(made);
            gen_free(g);
            return;
        }
    }
    /* Commit point: swap. */
    gen *old = e->g;
    e->g = g;
    apply_log_settings(e, cfg);
    for (size_t j = 0; j < e->n_feeds; j++) {
        feedx *x = e->feeds[j];
        bool kept = false;
        for (size_t i = 0; i < nf; i++) {
            kept |= keep[i] == x;
        }
        if (!kept && !x->closing) {
            ES_LOG_INFO(es_feed_comp(x->f), "settings changed or removed; closing");
            x->closing = true;
            es_feed_close(x->f);
        }
    }
    for (size_t i = 0; i < nf; i++) {
        if (keep[i] != NULL) {
            es_feed_set_item(keep[i]->f, es_config_feed(cfg, i));
        } else if (feeds_add(e, made[i]) == 0) {
            if (es_feed_start(made[i]->f) != 0) {
                ES_LOG_ERROR(es_feed_comp(made[i]->f), "cannot start");
            }
        }
    }
    free(keep);
    free(made);
    /* Kept sinks reopen their files (log rotation); new ones are fresh. */
    for (size_t i = 0; i < g->n_sinks; i++) {
        if (es_sink_reopen(g->sinks[i]->sink) != 0) {
            ES_LOG_WARN(COMP, "sink %s: cannot reopen", g->sinks[i]->sink->name);
        }
    }
    if (old->router != NULL) {
        es_router_stats rs;
        es_router_stats_get(old->router, &rs);
        if (rs.groups > 0) {
            /* Alerts waiting in them are in the state file (route_waiting)
             * and the new router took them back when it was made, as
             * escalations carry on; what ends is the old groups' memory of
             * alerts already notified. */
            ES_LOG_INFO(COMP,
                        "reload: %zu alert groups of the old router closed; alerts waiting in "
                        "them go on in the new router",
                        rs.groups);
        }
    }
    /* The admin listener and the state file are opened once, at start:
     * say so rather than let a changed token or port look applied. */
    const es_config_item *oa = es_config_admin(old->cfg), *na = es_config_admin(cfg);
    bool admin_same = oa == NULL ? na == NULL : na != NULL && es_config_item_equal(oa, na);
    if (!admin_same) {
        ES_LOG_WARN(COMP, "admin: settings changed; the endpoint keeps its current ones until "
                          "earshot restarts");
    }
    /* `spool:` applies from the next prune step; `dedup:` sized memory
     * reserved at start. */
    es_engine_state_limits nl;
    es_engine_state_limits_get(cfg, &nl);
    e->lim.done_max_rows = nl.done_max_rows;
    e->lim.done_max_age_ms = nl.done_max_age_ms;
    if (nl.store.max_ids != e->lim.store.max_ids ||
        nl.store.retention_ms != e->lim.store.retention_ms) {
        ES_LOG_WARN(COMP, "dedup: changed; the engine keeps %zu ids for %lld s until earshot "
                          "restarts (their memory is reserved at start)",
                    e->lim.store.max_ids, (long long)(e->lim.store.retention_ms / 1000));
    }
    const char *os = es_config_state_path(old->cfg), *ns = es_config_state_path(cfg);
    if ((os == NULL) != (ns == NULL) || (os != NULL && strcmp(os, ns) != 0)) {
        ES_LOG_WARN(COMP, "state: changed; the engine keeps %s until earshot restarts",
                    os != NULL ? os : "(none)");
    }
    gen_free(old);
    e->route_dirty = true;
    e->pending = count_pending(e);
    schedule_pump(e, 0);
    ES_LOG_INFO(COMP, "reloaded: %zu feeds, %zu sinks", nf, g->n_sinks);
}

/* ---- Signals and shutdown ---------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    es_engine *e = h->data;
    e->handles_open--;
}

static void on_http_closed(void *ud)
{
    es_engine *e = ud;
    e->http = NULL;
    e->handles_open--;
}

static void close_all(es_engine *e)
{
    if (e->state == CLOSING) {
        return;
    }
    e->state = CLOSING;
    int64_t left = count_pending(e);
    if (left > 0) {
        ES_LOG_INFO(COMP, "%lld alerts stay in the spool for the next start", (long long)left);
    }
    /* In-flight requests get ES_ECLOSED and are put back in the spool. */
    es_http_close(e->http, on_http_closed, e);
    if (e->admin != NULL) {
        es_admin_close(e->admin, on_admin_closed, e);
        e->admin = NULL;
    }
    uv_handle_t *hs[] = {
        (uv_handle_t *)&e->sig_int,    (uv_handle_t *)&e->sig_term,
        (uv_handle_t *)&e->sig_hup,    (uv_handle_t *)&e->house,
        (uv_handle_t *)&e->pump_timer, (uv_handle_t *)&e->commit_timer,
        (uv_handle_t *)&e->drain_timer, (uv_handle_t *)&e->pump_idle,
        (uv_handle_t *)&e->flush_prep, (uv_handle_t *)&e->route_timer,
        (uv_handle_t *)&e->ckpt_timer,
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        uv_close(hs[i], on_handle_closed);
    }
}

static bool sinks_idle(es_engine *e, int64_t now)
{
    for (size_t i = 0; e->g != NULL && i < e->g->n_sinks; i++) {
        esink *s = e->g->sinks[i];
        if (s->in_flight > 0) {
            return false;
        }
        int64_t due;
        if (es_spool_next_due(e->spool, s->sink->name, &due) == 1 && due <= now &&
            es_bucket_ready_at(&s->sink->bucket, now) <= now + 1000 &&
            s->sink->blocked_until_ms <= now + 1000) {
            return false; /* something to send now or very soon */
        }
    }
    return true;
}

static void maybe_finish_drain(es_engine *e)
{
    if (e->state != DRAINING) {
        return;
    }
    int64_t now = wall_ms();
    bool timed_out = now >= e->drain_deadline;
    if (e->feeds_open > 0 && !timed_out) {
        return;
    }
    if (!sinks_idle(e, now) && !timed_out) {
        return;
    }
    if (timed_out) {
        ES_LOG_WARN(COMP, "drain timeout reached");
    }
    flush_spool(e);
    if (es_store_commit(e->store) != 0) {
        ES_LOG_ERROR(COMP, "state file: %s", es_store_errmsg(e->store));
    }
    log_stats(e);
    close_all(e);
}

static void on_drain_tick(uv_timer_t *t)
{
    es_engine *e = t->data;
    maybe_finish_drain(e);
    if (e->state == DRAINING) {
        uv_timer_start(&e->drain_timer, on_drain_tick, 50, 0);
    }
}

static void begin_shutdown(es_engine *e, const char *why)
{
    if (e->state != RUNNING) {
        return;
    }
    ES_LOG_INFO(COMP, "stopping (%s): closing feeds, draining sinks", why);
    e->state = DRAINING;
    e->drain_deadline = wall_ms() + e->o.drain_timeout_ms;
    if (e->stop_requested && !e->drain_explicit) {
        /* --exit-when-done promises that everything was delivered. */
        e->drain_deadline = INT64_MAX;
    }
    if (e->o.exit_when_done && e->stop_requested) {
        /* All input was read: close the last buckets, as backfill does. */
        int rc = es_pipeline_finish(e->g->pipe);
        if (rc != 0) {
            ES_LOG_ERROR(COMP, "pipeline: %s", es_strerror(rc));
        }
    }
    if (e->g->router != NULL) {
        /* Groups live in memory: what waits for group_wait/group_interval
         * is sent now rather than lost with the process. */
        int rc = es_router_flush_waiting(e->g->router, wall_ms());
        if (rc != 0) {
            ES_LOG_ERROR(COMP, "router: %s", es_strerror(rc));
        }
    }
    for (size_t i = 0; i < e->n_feeds; i++) {
        feedx *x = e->feeds[i];
        if (!x->closing) {
            x->closing = true;
            es_feed_close(x->f); /* may remove itself from e->feeds */
            i = (size_t)-1;      /* the list may have shifted: start over */
        }
    }
    uv_timer_stop(&e->house);
    schedule_pump(e, 0);
    uv_timer_start(&e->drain_timer, on_drain_tick, 50, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    es_engine *e = s->data;
    if (signum == SIGHUP) {
        if (e->state == RUNNING) {
            reload(e);
        }
        return;
    }
    if (e->state == RUNNING) {
        begin_shutdown(e, signum == SIGINT ? "SIGINT" : "SIGTERM");
    } else if (e->state == DRAINING) {
        ES_LOG_WARN(COMP, "second signal: stopping without waiting for the sinks");
        e->drain_deadline = 0;
        maybe_finish_drain(e);
    }
}

/* ---- Admin endpoint (admin.h; owned by the admin engineer) ------------------- */

static int admin_on_mention(void *ud, const es_mention *m, const es_pipeline_result *r)
{
    es_engine *e = ud;
    (void)m;
    if (e->admin == NULL || r->n_topics == 0) {
        return 0;
    }
    const es_topics *t = es_config_topics(e->g->cfg);
    bool complaint = r->intent.kind == ES_INTENT_COMPLAINT;
    for (size_t i = 0; t != NULL && i < r->n_topics; i++) {
        es_admin_mention_topic(e->admin, es_topics_name(t, r->topics[i]), &r->sentiment,
                               complaint);
    }
    return 0;
}

static size_t admin_n_feeds(void *ud)
{
    return ((es_engine *)ud)->n_feeds;
}

static es_feed *admin_feed(void *ud, size_t i)
{
    return ((es_engine *)ud)->feeds[i]->f;
}

static size_t admin_n_sinks(void *ud)
{
    es_engine *e = ud;
    return e->g != NULL ? e->g->n_sinks : 0;
}

static const char *admin_sink_name(void *ud, size_t i)
{
    return ((es_engine *)ud)->g->sinks[i]->sink->name;
}

/* POST /-/reload: validate first, so a bad file is answered with its
 * located error; then the same reload as SIGHUP, which keeps the running
 * config if applying the new one fails (lexicons, secrets, a feed). */
static int admin_reload(void *ud, es_error *err)
{
    es_engine *e = ud;
    if (e->state != RUNNING) {
        return es_error_set(err, ES_EAGAIN, 0, 0, "the engine is stopping");
    }
    es_config *cfg;
    int rc = es_config_load(e->o.config_path, &cfg, err);
    if (rc != 0) {
        if (err->file[0] == '\0') {
            snprintf(err->file, sizeof err->file, "%s", e->o.config_path);
        }
        return rc;
    }
    es_config_free(cfg);
    gen *before = e->g;
    reload(e);
    if (e->g == before) {
        snprintf(err->file, sizeof err->file, "%s", e->o.config_path);
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "the config is valid but could not be applied (the log says why); "
                            "the running config stays");
    }
    return 0;
}

static void admin_kick(void *ud)
{
    es_engine *e = ud;
    e->pending = count_pending(e);
    schedule_pump(e, 0);
}

static void on_admin_closed(void *ud)
{
    es_engine *e = ud;
    e->handles_open--;
}

static int admin_start(es_engine *e, const es_config *cfg, es_error *err)
{
    const es_config_item *it = es_config_admin(cfg);
    if (it == NULL || !es_config_item_bool(it, "enabled")) {
        return 0;
    }
    char *token = NULL;
    int rc = es_config_resolve_secret(it, "token", &token, err);
    if (rc != 0 && rc != ES_ENOTFOUND) {
        return rc;
    }
    es_admin_opts ao = {
        .loop = &e->loop,
        .listen = es_config_item_str(it, "listen"),
        .token = token,
        .state_path = es_config_state_path(cfg),
        .spool = e->spool,
        .host = {
            .ud = e, .n_feeds = admin_n_feeds, .feed = admin_feed, .n_sinks = admin_n_sinks,
            .sink_name = admin_sink_name, .reload = admin_reload, .kick = admin_kick,
        },
    };
    rc = es_admin_start(&ao, &e->admin, err);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (rc == 0) {
        e->handles_open++;
    }
    return rc;
}

/* ---- Run -------------------------------------------------------------------- */

static int64_t top_int(const es_config *cfg, const char *key)
{
    const es_config_value *v = es__config_top_value(cfg, key);
    return v != NULL && v->has ? v->i : 0;
}

void es_engine_state_limits_get(const es_config *cfg, es_engine_state_limits *out)
{
    /* The rows' defaults and bounds (src/config_schema.c) make every value
     * positive; a 0 would mean the store's own default. */
    memset(out, 0, sizeof *out);
    out->store.max_ids = (size_t)top_int(cfg, "dedup.max_ids");
    out->store.retention_ms = top_int(cfg, "dedup.max_age");
    out->done_max_rows = top_int(cfg, "spool.done_max_rows");
    out->done_max_age_ms = top_int(cfg, "spool.done_max_age");
}

int es_engine_run(const es_engine_opts *opts, es_error *err)
{
    es_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    e->o = *opts;
    if (e->o.stats_interval_ms == 0) {
        e->o.stats_interval_ms = 60000;
    }
    e->drain_explicit = e->o.drain_timeout_ms > 0;
    if (e->o.drain_timeout_ms <= 0) {
        e->o.drain_timeout_ms = 10000;
    }
    if (e->o.max_pending <= 0) {
        e->o.max_pending = 10000;
    }
    es_buf_init(&e->scratch, 16u << 20);
    es_sink_request_init(&e->req);
    es_spool_item_init(&e->item);
    int rc;
    int64_t now = wall_ms();
    e->last_stats_ms = e->last_prune_ms = now;

    es_config *cfg;
    if ((rc = es_config_load(e->o.config_path, &cfg, err)) != 0) {
        goto fail_config;
    }
    apply_log_settings(e, cfg);
    const char *state = es_config_state_path(cfg);
    es_engine_state_limits_get(cfg, &e->lim);
    if ((rc = es_store_open(state, &e->lim.store, now, &e->store, err)) != 0) {
        es_config_free(cfg);
        goto fail_store;
    }
    ES_LOG_INFO(COMP, "dedup: up to %zu mention ids (%.1f MiB reserved), %zu loaded",
                es_store_max_ids(e->store),
                (double)es_store_reserved_bytes(e->store) / (1024.0 * 1024.0),
                es_store_ids(e->store));
    if ((rc = es_spool_open(state, &e->spool, err)) != 0) {
        es_config_free(cfg);
        goto fail_spool;
    }
    es_route_db_share(es__spool_sqlite(e->spool), state);
    int rec = es_spool_recover(e->spool, now);
    if (rec > 0) {
        ES_LOG_INFO(COMP, "%d alerts were in flight when the last run stopped; due again", rec);
    }
    if ((rc = uv_loop_init(&e->loop)) != 0) {
        es_config_free(cfg);
        rc = es_error_set(err, ES_EIO, 0, 0, "cannot make the event loop: %s", uv_strerror(rc));
        goto fail_loop;
    }
    if ((rc = es_http_new(&e->loop, &e->http)) != 0) {
        es_config_free(cfg);
        es_error_set(err, rc, 0, 0, "cannot set up HTTP");
        goto fail_http;
    }
    if ((rc = gen_new(e, cfg, NULL, &e->g, err)) != 0) {
        goto fail_gen;
    }
    for (size_t i = 0; i < e->g->n_sinks; i++) {
        reconcile_file_tail(e, e->g->sinks[i], now);
    }
    (void)es_spool_flush(e->spool);
    e->pending = count_pending(e);

    e->env = (es_feed_env){
        .loop = &e->loop, .http = e->http, .store = e->store,
        .process = feed_process, .busy = feed_busy, .on_event = feed_event,
        .on_closed = feed_closed, .ud = e,
    };
    size_t nf = es_config_feed_count(cfg);
    for (size_t i = 0; i < nf; i++) {
        feedx *x = NULL;
        if ((rc = feed_make(e, es_config_feed(cfg, i), &x, err)) != 0 ||
            (rc = feeds_add(e, x)) != 0) {
            if (err->file[0] == '\0') {
                snprintf(err->file, sizeof err->file, "%s", e->o.config_path);
            }
            goto fail_feeds;
        }
    }

    if ((rc = admin_start(e, cfg, err)) != 0) {
        goto fail_feeds; /* before any engine handle exists */
    }
    uv_signal_t *sigs[] = {&e->sig_int, &e->sig_term, &e->sig_hup};
    int signums[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&e->loop, sigs[i]);
        sigs[i]->data = e;
        uv_signal_start(sigs[i], on_signal, signums[i]);
        e->handles_open++;
    }
    uv_timer_t *timers[] = {&e->house, &e->pump_timer, &e->commit_timer, &e->drain_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(&e->loop, timers[i]);
        timers[i]->data = e;
        e->handles_open++;
    }
    uv_idle_init(&e->loop, &e->pump_idle);
    e->pump_idle.data = e;
    e->handles_open++;
    uv_timer_init(&e->loop, &e->route_timer);
    e->route_timer.data = e;
    e->handles_open++;
    e->state_path = strdup(state);
    if (e->state_path != NULL && strcmp(state, ":memory:") != 0) {
        sqlite3_wal_autocheckpoint(es__spool_sqlite(e->spool), 0);
        sqlite3_wal_autocheckpoint(es__store_sqlite(e->store), 0);
        uv_timer_init(&e->loop, &e->ckpt_timer);
        e->ckpt_timer.data = e;
        uv_timer_start(&e->ckpt_timer, on_ckpt, CKPT_MS, CKPT_MS);
    } else {
        uv_timer_init(&e->loop, &e->ckpt_timer); /* closed with the others */
    }
    e->handles_open++;
    uv_prepare_init(&e->loop, &e->flush_prep);
    e->flush_prep.data = e;
    uv_prepare_start(&e->flush_prep, on_flush);
    uv_unref((uv_handle_t *)&e->flush_prep); /* never keeps the loop alive alone */
    e->handles_open++;
    e->handles_open++; /* the HTTP driver */
    signal(SIGPIPE, SIG_IGN);

    uv_timer_start(&e->house, on_house, HOUSEKEEPING_MS, 0);
    uv_timer_start(&e->commit_timer, on_commit, COMMIT_MS, COMMIT_MS);
    ES_LOG_INFO(COMP, "running: %zu feeds, %zu sinks, state in %s", nf, e->g->n_sinks, state);
    for (size_t i = 0; i < e->n_feeds; i++) {
        if (es_feed_start(e->feeds[i]->f) != 0) {
            ES_LOG_ERROR(es_feed_comp(e->feeds[i]->f), "cannot start");
        }
    }
    if (e->pending > 0) {
        schedule_pump(e, 0);
    }
    if (e->o.exit_when_done && nf == 0) {
        e->stop_requested = true;
    }

    uv_run(&e->loop, UV_RUN_DEFAULT);
    /* Everything is closed; uv_loop_close must now succeed. */
    for (int i = 0; i < 1000 && uv_loop_close(&e->loop) == UV_EBUSY; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
    }
    rc = e->fatal;
    ES_LOG_INFO(COMP, "stopped");
    gen_free(e->g);
    goto done;

fail_feeds:
    /* Feeds made so far close through the loop. */
    for (size_t i = 0; i < e->n_feeds; i++) {
        if (!e->feeds[i]->closing) {
            e->feeds[i]->closing = true;
            es_feed_close(e->feeds[i]->f);
            i = (size_t)-1;
        }
    }
    gen_free(e->g);
fail_gen:
    es_http_close(e->http, NULL, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
fail_http:
    uv_loop_close(&e->loop);
fail_loop:
done:
    sqlite3_close(e->ckpt_db); /* the worker is done: the loop ran dry */
    free(e->state_path);
    es_route_db_close(e->rdb); /* its statements live on the spool's connection */
    es_route_db_share(NULL, NULL);
    es_spool_close(e->spool);
fail_spool:
    if (es_store_close(e->store) != 0 && rc == 0) {
        rc = es_error_set(err, ES_ESTATE, 0, 0, "state file: final commit failed");
    }
fail_store:
fail_config:
    free(e->feeds);
    es_route_sink_scratch_free(&e->route_scratch);
    es_buf_free(&e->scratch);
    es_sink_request_free(&e->req);
    es_spool_item_free(&e->item);
    free(e);
    return rc;
}
