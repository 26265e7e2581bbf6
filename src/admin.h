/*
 * The admin HTTP endpoint of `earshot run` (config `admin:`; off by
 * default, 127.0.0.1:9464 when on):
 *
 *   GET    /healthz                     200 "ok" while the process is up (no token needed)
 *   GET    /readyz                      200, or 503 with {"ready":false,"feeds":[...],"sinks":[...]}
 *   GET    /metrics                     Prometheus text format 0.0.4 (metrics.h)
 *   POST   /-/reload                    as SIGHUP: 200, or 400 with the located error
 *   GET    /api/v1/alerts               open escalation incidents (with tier) and firing alerts
 *   POST   /api/v1/alerts/{id}/ack      acknowledge an incident (number, group or alert id)
 *   POST   /api/v1/alerts/{id}/resolve  resolve it
 *   GET    /api/v1/silences[?all=1]     silences in force (all: also ended ones)
 *   POST   /api/v1/silences             {"matchers":[...],"duration":"1h"|"ends_at":T,...}
 *   DELETE /api/v1/silences/{id}        end a silence now
 *
 * With a token configured every path but /healthz needs
 * "Authorization: Bearer <token>" (compared in constant time).
 *
 * Acknowledging, resolving and silences call the very functions `earshot
 * alerts` calls (escalate.h, route.h) on the same state database, so the
 * CLI and the API cannot disagree; notifications they produce go to the
 * spool and the engine is asked to deliver them.
 *
 * HTTP: Debian's http-parser on libuv TCP, one request per connection
 * (answered with Connection: close), with the same kind of limits as the
 * webhook feed: header and body ceilings, a read timeout, a cap on
 * connections. Everything runs on the engine's loop thread.
 */
#ifndef ES_ADMIN_H
#define ES_ADMIN_H

#include "alert.h"
#include "earshot.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct es_feed;
struct es_spool;

#define ES_ADMIN_MAX_CONNECTIONS 64
#define ES_ADMIN_MAX_HEADER_BYTES 8192
#define ES_ADMIN_MAX_BODY (64 * 1024)
#define ES_ADMIN_READ_TIMEOUT_MS 10000
/* The event-loop lag probe's period. */
#define ES_ADMIN_LAG_PROBE_MS 250

/* What the engine lends the admin endpoint. Every pointer is borrowed and
 * each callback runs on the loop thread. */
typedef struct es_admin_host {
    void *ud;
    size_t (*n_feeds)(void *ud);
    struct es_feed *(*feed)(void *ud, size_t i);
    size_t (*n_sinks)(void *ud);
    const char *(*sink_name)(void *ud, size_t i);
    /* POST /-/reload: load, validate and apply the config file; 0, or an
     * ES_E* code with err located (the running config stays). */
    int (*reload)(void *ud, es_error *err);
    /* New notifications are in the spool (an ack, a resolve): send them. */
    void (*kick)(void *ud);
} es_admin_host;

typedef struct es_admin_opts {
    uv_loop_t *loop;
    const char *listen;     /* "HOST:PORT"; NULL: "127.0.0.1:9464" */
    const char *token;      /* NULL or "": no token; copied */
    const char *state_path; /* the `state:` file (silences, incidents) */
    struct es_spool *spool; /* the engine's spool; borrowed */
    es_admin_host host;
} es_admin_opts;

typedef struct es_admin es_admin;

/*
 * Make the endpoint and start listening. Fails with a message naming the
 * address when it cannot bind ("admin: cannot listen on 127.0.0.1:9464:
 * address already in use") or the state database cannot be opened.
 */
int es_admin_start(const es_admin_opts *o, es_admin **out, es_error *err);

/* Close the listener, every connection and the timers; on_closed(ud) runs
 * once the last handle is closed, after which the memory is gone. NULL is
 * a no-op (on_closed is then not called). */
void es_admin_close(es_admin *a, void (*on_closed)(void *ud), void *ud);

/*
 * Would es_admin_start accept this `listen` value? 0, or ES_EINVAL with
 * why (may be NULL) saying what is wrong ("has port '99999', not a number
 * from 0 to 65535"). Nothing is bound: `earshot check` calls it.
 */
int es_admin_check_listen(const char *listen, char *why, size_t why_size);

/* The registry behind /metrics (for tests and more metrics). */
es_metrics *es_admin_metrics(es_admin *a);

/* The actual port (useful with port 0). */
int es_admin_port(const es_admin *a);

/* ---- What the engine reports (all accept a NULL admin: no-ops) ---------- */

/* A new mention from `feed` entered the pipeline. */
void es_admin_mention_in(es_admin *a, const char *feed, int64_t created_ms);
/* The pipeline matched a mention to `topic` with this sentiment. */
void es_admin_mention_topic(es_admin *a, const char *topic, const es_sentiment *s,
                            bool complaint);
/* An alert left the pipeline (before routing). */
void es_admin_alert(es_admin *a, const es_alert *al);

typedef enum { ES_ADMIN_DELIVERED, ES_ADMIN_RETRY, ES_ADMIN_DEAD } es_admin_outcome;
/* One delivery attempt to `sink` ended. */
void es_admin_delivery(es_admin *a, const char *sink, es_admin_outcome o);

#endif
