/*
 * Fuzz routing input: arbitrary bytes as a config whose `route:` and
 * `escalations:` are read by the route validator (after a fixed pair of
 * sinks), and every line as a matcher and as a time zone. Whatever the
 * input: a conf or located errors, never a crash, a hang or a leak. A conf
 * that loads is also run: a few alerts pushed and time advanced a week.
 */
#include "config.h"
#include "route.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const es_error *e, void *ud)
{
    if (e->msg[0] == '\0' || memchr(e->msg, '\0', sizeof e->msg) == NULL) {
        __builtin_trap();
    }
    (*(size_t *)ud)++;
}

static int sink_nothing(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    (void)ud;
    (void)at;
    if (sink == NULL || n->key == NULL) {
        __builtin_trap();
    }
    return 0;
}

static void run_conf(const es_route_conf *rc)
{
    es_router *r = NULL;
    if (es_router_new(rc, NULL, sink_nothing, NULL, &r) != 0) {
        return;
    }
    static const char *const topics[] = {"acme", "globex", ""};
    int64_t t = 1424786152000LL;
    for (int i = 0; i < 30; i++) {
        es_alert_mention m = {.author = {"jdoe", 4}, .text = {"x", 1}};
        char fp[32];
        snprintf(fp, sizeof fp, "fp/%d", i % 7);
        es_alert a = {.kind = (es_alert_kind)(i % 5), .severity = (es_severity)(i % 3),
                      .resolved = i % 11 == 10, .topic = topics[i % 3], .at_ms = t,
                      .fingerprint = fp, .summary = "s", .mentions = &m, .n_mentions = 1};
        es_label extra[] = {{"source", "twitter"}, {"intent", "complaint"}};
        es_router_push(r, &a, extra, 2, t);
        t += 97 * 1000;
    }
    es_router_advance(r, t + 7 * 86400000LL);
    es_router_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] = "sinks:\n  - {name: chat, type: stdout}\n"
                               "  - {name: pager, type: stdout}\n";
    if (size > 64 * 1024) {
        return 0;
    }
    char *buf = malloc(sizeof head + size);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, head, sizeof head - 1);
    memcpy(buf + sizeof head - 1, data, size);
    size_t len = sizeof head - 1 + size;
    buf[len] = '\0';

    es_config *c = NULL;
    es_error err;
    if (es_config_load_buffer(buf, len, "fuzz.yaml", NULL, NULL, &c, &err) == 0) {
        size_t n = 0;
        es_route_conf *rc = NULL;
        if (es_route_conf_load(c, check_error, &n, &rc, &err) == 0) {
            run_conf(rc);
        } else if (n == 0) {
            __builtin_trap(); /* a rejected conf must say why */
        }
        es_route_conf_free(rc);
        es_config_free(c);
    }

    /* Each line as a matcher and as a time zone. */
    char *save = NULL;
    for (char *ln = strtok_r(buf + sizeof head - 1, "\n", &save); ln != NULL;
         ln = strtok_r(NULL, "\n", &save)) {
        const char *one[] = {ln};
        es_matchers *m = NULL;
        if (es_matchers_parse(one, 1, &m, NULL, &err) == 0) {
            const char *vals[ES_RL_COUNT];
            for (int i = 0; i < ES_RL_COUNT; i++) {
                vals[i] = ln;
            }
            es_matchers_match(m, vals);
        }
        es_matchers_free(m);
        es_tz tz;
        if (es_tz_parse(ln, &tz, &err) == 0) {
            es_window w = {.days = 0x7F, .n = 1, .ranges = {{3600, 7200}}};
            es_window_next_change(&w, &tz, es_tz_offset(&tz, 1424786152000LL));
        }
    }
    free(buf);
    return 0;
}
