/*
 * Between the router and the spool, shared by `earshot run` (engine.c) and
 * `earshot backfill --deliver` (cmd_backfill.c), so both hand a sink the
 * same notifications:
 *
 *   - a sink's own `min_severity` / `kinds` filter (the router does not
 *     know it): alerts it refuses are taken out of a notification, and a
 *     notification left with none is not sent;
 *   - `file` and `stdout` sinks write one line per alert, never grouped
 *     (the contract): each alert becomes its own notification keyed by the
 *     alert id, so an alert that appears in several notifications of its
 *     group (updates, repeats, escalation tiers) is spooled, and written,
 *     once per sink. The router gives these sinks every alert of a group
 *     (es_router_set_wants_all), not only the examples. Acknowledgements
 *     carry no new alert and are not written to them;
 *   - the labels the router cannot derive from an alert: source and intent
 *     of the mention that raised it, competitor from its topic.
 */
#ifndef ES_ROUTE_SINK_H
#define ES_ROUTE_SINK_H

#include "alert.h"
#include "earshot/config.h"
#include "earshot/intent.h"
#include "earshot/mention.h"
#include "earshot/topics.h"
#include "sink.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether the config has a `route:` section (else: every alert to every
 * sink whose filter takes it, as a notification of one, and no router). */
bool es_config_has_route(const es_config *c);

typedef struct es_sink_filter {
    int min_severity; /* es_severity */
    unsigned kinds;   /* bit per es_alert_kind; 0: all */
    bool per_alert;   /* file / stdout: one notification per alert */
} es_sink_filter;

/* The filter of a sink's config item (an item of es_config_sink()). */
void es_sink_filter_from_config(const es_config_item *it, es_sink_filter *f);
bool es_sink_filter_wants(const es_sink_filter *f, const es_alert *a);

/* Scratch memory reused across calls (no allocation per notification once
 * grown). Zero-initialise; free with es_route_sink_scratch_free. */
typedef struct es_route_sink_scratch {
    es_alert *alerts;
    es_str *json;
    size_t cap;
} es_route_sink_scratch;

void es_route_sink_scratch_free(es_route_sink_scratch *sc);

/*
 * Turn the router's notification `n` for a sink with filter `f` into what
 * the sink gets, calling put(ud, note) for each (none, one, or one per
 * alert), stamped sent_ms = now_ms. Returns 0, put's first non-zero value,
 * or ES_ENOMEM.
 */
int es_route_for_sink(const es_sink_filter *f, const es_notification *n, int64_t now_ms,
                      es_route_sink_scratch *sc,
                      int (*put)(void *ud, const es_notification *note), void *ud);

/*
 * The extra labels for es_router_push: source and intent when `m` (the
 * mention being processed, may be NULL) is the one the alert quotes first,
 * competitor when the alert's topic is in `topics` (may be NULL). Strings
 * point into src_buf (for the source) or static storage. Returns how many
 * (at most 3) were written to out.
 */
size_t es_route_extra_labels(const es_topics *topics, const es_alert *a, const es_mention *m,
                             es_intent_kind intent, es_label out[3], char *src_buf,
                             size_t src_size);

#endif
