/*
 * Router throughput: N complaint alerts over T topics (plus a volume spike
 * per topic that folds its complaints for a while), grouped by topic and
 * kind, with a silence database attached, in event time one alert every
 * 10 ms. Prints alerts per second, notifications, and peak groups.
 *
 *   bench_route [N] [TOPICS]     (defaults: 1000000 alerts, 1000 topics)
 */
#include "config.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    (void)sink;
    (void)n;
    (void)at;
    (*(uint64_t *)ud)++;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long topics = argc > 2 ? atol(argv[2]) : 1000;
    static const char yaml[] = "sinks:\n  - {name: chat, type: stdout}\n"
                               "route:\n  receivers: [chat]\n  group_by: [topic, kind]\n"
                               "  routes:\n    - matchers: ['severity=\"critical\"', "
                               "'topic=~\"t1.*\"']\n      receivers: [chat]\n";
    es_config *c = NULL;
    es_error err = {0};
    es_route_conf *rc = NULL;
    es_route_db *db = NULL;
    if (es_config_load_buffer(yaml, sizeof yaml - 1, "bench.yaml", NULL, NULL, &c, &err) != 0 ||
        es_route_conf_load(c, NULL, NULL, &rc, &err) != 0 ||
        es_route_db_open(":memory:", &db, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    const char *sil[] = {"topic=\"t7\""};
    int64_t t = 1424786152000LL;
    es_silence_add(db, sil, 1, t, t + 86400000LL, "", "", t, NULL, &err);
    uint64_t notes = 0;
    es_router *r = NULL;
    es_router_new(rc, db, count, &notes, &r);
    char (*names)[16] = malloc((size_t)topics * sizeof *names);
    for (long i = 0; i < topics; i++) {
        snprintf(names[i], sizeof names[i], "t%ld", i);
    }
    size_t peak = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        long k = (i * 7919) % topics;
        char fp[48], details[48];
        bool spike = i % 5000 == 0;
        snprintf(fp, sizeof fp, spike ? "%s/volume_spike/%ld" : "%s/complaint/%ld", names[k], i);
        snprintf(details, sizeof details, "{\"complaint\":0.%02ld}", i % 100);
        es_alert_mention m = {.id = {fp, strlen(fp)}, .author = {"jdoe", 4},
                              .text = {"lost my bag again", 17}};
        es_alert a = {.kind = spike ? ES_ALERT_VOLUME_SPIKE : ES_ALERT_COMPLAINT,
                      .severity = (es_severity)(i % 3), .topic = names[k], .at_ms = t,
                      .fingerprint = fp, .summary = "s", .details_json = details,
                      .mentions = &m, .n_mentions = 1};
        if (es_router_push(r, &a, NULL, 0, t) != 0) {
            fprintf(stderr, "push failed\n");
            return 1;
        }
        t += 10;
        if (i % 65536 == 0) {
            es_router_stats st;
            es_router_stats_get(r, &st);
            peak = st.groups > peak ? st.groups : peak;
        }
    }
    es_router_advance(r, t + 86400000LL);
    double dt = now_s() - t0;
    es_router_stats st;
    es_router_stats_get(r, &st);
    printf("%ld alerts over %ld topics in %.2f s: %.0f alerts/s; %llu notifications, "
           "%llu silenced, %llu folded, peak %zu groups\n",
           n, topics, dt, (double)n / dt, (unsigned long long)notes,
           (unsigned long long)st.silenced, (unsigned long long)st.inhibited, peak);
    es_router_free(r);
    free(names);
    es_route_db_close(db);
    es_route_conf_free(rc);
    es_config_free(c);
    return 0;
}
