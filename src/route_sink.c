/*
 * Between the router and the spool: per-sink filters, one line per alert
 * for file/stdout, and the router's extra labels. See route_sink.h.
 */
#include "route_sink.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

bool es_config_has_route(const es_config *c)
{
    const es_cfg_node *route = es__config_raw(c, "route");
    return route != NULL && route->kind != ES_CFG_NULL;
}

void es_sink_filter_from_config(const es_config_item *it, es_sink_filter *f)
{
    memset(f, 0, sizeof *f);
    const char *type = es_config_item_type(it);
    f->per_alert = type != NULL && (strcmp(type, "file") == 0 || strcmp(type, "stdout") == 0);
    const char *sev = es_config_item_str(it, "min_severity");
    f->min_severity = sev == NULL || strcmp(sev, "info") == 0 ? ES_SEV_INFO
                      : strcmp(sev, "warning") == 0          ? ES_SEV_WARNING
                                                             : ES_SEV_CRITICAL;
    const es_config_value *kv = es_config_item_get(it, "kinds");
    if (kv != NULL && kv->has) {
        for (size_t i = 0; i < kv->n_list; i++) {
            for (int kd = ES_ALERT_COMPLAINT; kd <= ES_ALERT_FEED_STALLED; kd++) {
                if (strcmp(kv->list[i], es_alert_kind_name((es_alert_kind)kd)) == 0) {
                    f->kinds |= 1u << kd;
                }
            }
        }
    }
}

bool es_sink_filter_wants(const es_sink_filter *f, const es_alert *a)
{
    if ((int)a->severity < f->min_severity) {
        return false;
    }
    return f->kinds == 0 || (f->kinds & (1u << a->kind)) != 0;
}

void es_route_sink_scratch_free(es_route_sink_scratch *sc)
{
    free(sc->alerts);
    free(sc->json);
    memset(sc, 0, sizeof *sc);
}

static int grow(es_route_sink_scratch *sc, size_t n)
{
    if (n <= sc->cap) {
        return 0;
    }
    size_t cap = n < 16 ? 16 : n * 2;
    es_alert *a = realloc(sc->alerts, cap * sizeof *a);
    if (a == NULL) {
        return ES_ENOMEM;
    }
    sc->alerts = a;
    es_str *j = realloc(sc->json, cap * sizeof *j);
    if (j == NULL) {
        return ES_ENOMEM;
    }
    sc->json = j;
    sc->cap = cap;
    return 0;
}

int es_route_for_sink(const es_sink_filter *f, const es_notification *n, int64_t now_ms,
                      es_route_sink_scratch *sc,
                      int (*put)(void *ud, const es_notification *note), void *ud)
{
    if (f->per_alert && n->action == ES_NOTIFY_ACKNOWLEDGE) {
        return 0; /* no new alert: nothing to write */
    }
    int rc = grow(sc, n->n_alerts);
    if (rc != 0) {
        return rc;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n->n_alerts; i++) {
        if (es_sink_filter_wants(f, &n->alerts[i])) {
            sc->alerts[kept] = n->alerts[i];
            sc->json[kept] = n->alert_json != NULL ? n->alert_json[i] : (es_str){NULL, 0};
            kept++;
        }
    }
    if (f->per_alert) {
        for (size_t i = 0; i < kept && rc == 0; i++) {
            /* The alert id is also the first field of the line the sink
             * writes, which lets the engine reconcile a file after a crash. */
            char id[27];
            es_alert_make_id(&sc->alerts[i], id);
            es_notification one = {
                .key = id,
                .alerts = &sc->alerts[i],
                .n_alerts = 1,
                .count = 1,
                .sent_ms = now_ms,
                .alert_json = n->alert_json != NULL ? &sc->json[i] : NULL,
            };
            rc = put(ud, &one);
        }
        return rc;
    }
    if (kept == 0 && n->n_alerts > 0) {
        return 0; /* the sink wants none of them */
    }
    es_notification note = *n;
    note.alerts = sc->alerts;
    note.alert_json = n->alert_json != NULL ? sc->json : NULL;
    note.n_alerts = kept;
    size_t cut = n->n_alerts - kept;
    note.count = n->count > cut ? n->count - cut : kept;
    note.sent_ms = now_ms;
    return put(ud, &note);
}

size_t es_route_extra_labels(const es_topics *topics, const es_alert *a, const es_mention *m,
                             es_intent_kind intent, es_label out[3], char *src_buf,
                             size_t src_size)
{
    size_t nx = 0;
    if (m != NULL && src_size > 0 && a->n_mentions > 0 &&
        a->mentions[0].id.len == m->id.len &&
        (m->id.len == 0 || memcmp(a->mentions[0].id.ptr, m->id.ptr, m->id.len) == 0)) {
        size_t n = m->source.len < src_size - 1 ? m->source.len : src_size - 1;
        if (n > 0) {
            memcpy(src_buf, m->source.ptr, n);
        }
        src_buf[n] = '\0';
        out[nx++] = (es_label){"source", src_buf};
        out[nx++] = (es_label){"intent", es_intent_name(intent)};
    }
    if (a->topic != NULL && topics != NULL) {
        size_t nt = es_topics_count(topics);
        for (size_t i = 0; i < nt; i++) {
            if (strcmp(es_topics_name(topics, i), a->topic) == 0) {
                out[nx++] = (es_label){"competitor",
                                       es_topics_competitor(topics, i) ? "true" : "false"};
                break;
            }
        }
    }
    return nx;
}
