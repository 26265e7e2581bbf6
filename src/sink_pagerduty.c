/*
 * The PagerDuty sink: Events API v2.
 *
 *   POST https://events.pagerduty.com/v2/enqueue
 *   {"routing_key": "...", "event_action": "trigger", "dedup_key": "...",
 *    "payload": {"summary" <= 1,024, "source", "severity", "timestamp",
 *                "component", "group", "class", "custom_details": {...}},
 *    "links": [{"href", "text"}], "client": "earshot"}
 *
 * The dedup_key (<= 255 characters) is "earshot/" + the group, or the
 * alert's fingerprint for a lone alert, so a repeat of the same condition
 * updates one incident, and `acknowledge` / `resolve` (sent with only the
 * routing key, action and dedup_key) reach the same incident.
 *
 * Our severities map to PagerDuty's through the `severity:` section
 * (severity.info, severity.warning, severity.critical), each one of
 * critical / error / warning / info; by default each maps to its namesake.
 * Teams whose urgency rules reserve "critical" for outages write
 * `severity: {critical: error}`.
 *
 * Answers: 202 accepted; 400 is a malformed event and will never succeed
 * (dead-letter it); 429 means the integration's ~120 events/min are spent
 * (retry later, holding the sink); 5xx and network errors retry.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PD_SUMMARY_MAX 1024
#define PD_DEDUP_MAX   255
#define PD_LINKS_MAX   10
/* The API takes 512 KB; the alerts in custom_details stop well before. */
#define PD_DETAILS_BUDGET (256u << 10)

typedef struct pd_sink {
    char *url;
    char *routing_key;
    char *source;
    /* PagerDuty's name for each es_severity; point into pd_severities. */
    const char *severity[ES_SEV_CRITICAL + 1];
} pd_sink;

/* What the Events API v2 accepts as payload.severity. */
static const char *const pd_severities[] = {"critical", "error", "warning", "info", NULL};

/* The option key for each of our severities, by es_severity. */
static const char *const pd_severity_keys[] = {
    [ES_SEV_INFO] = "severity.info",
    [ES_SEV_WARNING] = "severity.warning",
    [ES_SEV_CRITICAL] = "severity.critical",
};

static void pd_destroy(void *state)
{
    pd_sink *p = state;
    if (p != NULL) {
        free(p->url);
        free(p->routing_key);
        free(p->source);
        free(p);
    }
}

static int pd_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    const char *key = es_sink_opt_get(o, "routing_key");
    if (!es__is_http_url((es_str){url, strlen(url)})) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be an http(s) URL",
                            o->sink_name);
    }
    if (strlen(key) != 32) {
        /* Integration keys are 32 characters; anything else is a paste
         * error, better caught now than as a 400 at 3 a.m. */
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': 'routing_key' must be a 32-character integration key",
                            o->sink_name);
    }
    const char *sev[ES_SEV_CRITICAL + 1] = {NULL};
    for (int i = 0; i <= ES_SEV_CRITICAL; i++) {
        const char *v = es_sink_opt_get(o, pd_severity_keys[i]);
        for (size_t j = 0; v != NULL && pd_severities[j] != NULL; j++) {
            if (strcmp(v, pd_severities[j]) == 0) {
                sev[i] = pd_severities[j];
            }
        }
        if (sev[i] == NULL) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': '%s' must be critical, error, warning or info, "
                                "not '%s'",
                                o->sink_name, pd_severity_keys[i], v != NULL ? v : "");
        }
    }
    pd_sink *p = calloc(1, sizeof *p);
    if (p == NULL || (p->url = strdup(url)) == NULL || (p->routing_key = strdup(key)) == NULL ||
        (p->source = strdup(es_sink_opt_get(o, "source"))) == NULL) {
        pd_destroy(p);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    memcpy(p->severity, sev, sizeof p->severity);
    *state = p;
    return 0;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/*
 * The dedup key. One that would exceed 255 bytes keeps its readable start
 * (cut on a UTF-8 boundary) and ends in a hash of the whole, so two long
 * groups that share a prefix still get different incidents.
 */
int es__pagerduty_dedup_key(const es_notification *n, char out[256])
{
    const char *g = n->group;
    if (g == NULL || g[0] == '\0') {
        g = n->n_alerts > 0 && n->alerts[0].fingerprint != NULL ? n->alerts[0].fingerprint : "";
    }
    if (g[0] == '\0') {
        return ES_EINVAL;
    }
    int len = snprintf(out, PD_DEDUP_MAX + 1, "earshot/%s", g);
    if (len <= PD_DEDUP_MAX) {
        return 0;
    }
    char hash[18];
    snprintf(hash, sizeof hash, "~%016llx", (unsigned long long)fnv1a(g, strlen(g)));
    size_t keep = PD_DEDUP_MAX - strlen(hash);
    while (keep > 0 && ((unsigned char)out[keep] & 0xC0) == 0x80) {
        keep--;
    }
    memcpy(out + keep, hash, strlen(hash) + 1);
    return 0;
}

static const char *pd_severity(const pd_sink *p, es_severity s)
{
    return (unsigned)s <= ES_SEV_CRITICAL ? p->severity[s] : p->severity[ES_SEV_INFO];
}

static int pd_build(void *state, const es_notification *n, es_sink_request *req)
{
    pd_sink *p = state;
    char dedup[PD_DEDUP_MAX + 1];
    if (n->n_alerts == 0 || es__pagerduty_dedup_key(n, dedup) != 0) {
        return ES_EINVAL;
    }
    const char *action = n->action == ES_NOTIFY_ACKNOWLEDGE ? "acknowledge"
                         : es_notification_resolved(n)      ? "resolve"
                                                            : "trigger";
    es_buf *b = &req->body;
    int rc = es_buf_adds(&req->url, p->url);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json");
    rc = rc ? rc : es_buf_adds(b, "{\"routing_key\":");
    rc = rc ? rc : es_buf_json_str(b, p->routing_key, strlen(p->routing_key));
    rc = rc ? rc : es_buf_printf(b, ",\"event_action\":\"%s\",\"dedup_key\":", action);
    rc = rc ? rc : es_buf_json_str(b, dedup, strlen(dedup));
    if (rc != 0 || strcmp(action, "trigger") != 0) {
        /* acknowledge and resolve take no payload. */
        return rc ? rc : es_buf_addc(b, '}');
    }

    /* The most severe alert speaks for the group. */
    const es_alert *worst = &n->alerts[0];
    for (size_t i = 1; i < n->n_alerts; i++) {
        if (n->alerts[i].severity > worst->severity) {
            worst = &n->alerts[i];
        }
    }
    es_buf head;
    es_buf_init(&head, 64 * 1024);
    rc = es__headline(n, &head);
    char at[32];
    es_time_format(worst->at_ms, at);
    rc = rc ? rc : es_buf_adds(b, ",\"client\":\"earshot\",\"payload\":{\"summary\":");
    rc = rc ? rc
            : es__json_text(b, head.data, head.len, PD_SUMMARY_MAX, ES_ESC_NONE, ES_TEXT_ONELINE);
    es_buf_free(&head);
    rc = rc ? rc : es_buf_adds(b, ",\"source\":");
    rc = rc ? rc : es_buf_json_str(b, p->source, strlen(p->source));
    rc = rc ? rc
            : es_buf_printf(b, ",\"severity\":\"%s\",\"timestamp\":\"%s\"",
                            pd_severity(p, worst->severity), at);
    if (rc == 0 && worst->topic != NULL) {
        rc = es_buf_adds(b, ",\"component\":");
        rc = rc ? rc : es__json_text(b, worst->topic, strlen(worst->topic), 255, ES_ESC_NONE, 0);
        rc = rc ? rc : es_buf_adds(b, ",\"group\":");
        rc = rc ? rc : es__json_text(b, worst->topic, strlen(worst->topic), 255, ES_ESC_NONE, 0);
    }
    rc = rc ? rc : es_buf_printf(b, ",\"class\":\"%s\"", es_alert_kind_name(worst->kind));
    rc = rc ? rc
            : es_buf_printf(b, ",\"custom_details\":{\"count\":%zu,\"alerts\":[",
                            es_notification_count(n));
    size_t start = b->len, included = 0;
    for (size_t i = 0; rc == 0 && i < n->n_alerts; i++) {
        size_t before = b->len;
        rc = i ? es_buf_addc(b, ',') : 0;
        rc = rc ? rc : es__notification_alert_json(n, i, b);
        if (rc == 0 && b->len - start > PD_DETAILS_BUDGET) {
            b->len = before; /* keep the event far from the 512 KB limit */
            b->data[b->len] = '\0';
            break;
        }
        included++;
    }
    rc = rc ? rc : es_buf_printf(b, "],\"omitted\":%zu}},\"links\":[", n->n_alerts - included);
    size_t nlinks = 0;
    for (size_t i = 0; rc == 0 && i < n->n_alerts; i++) {
        const es_alert *a = &n->alerts[i];
        for (size_t j = 0; rc == 0 && j < a->n_mentions && nlinks < PD_LINKS_MAX; j++) {
            const es_alert_mention *mn = &a->mentions[j];
            if (!es__is_http_url(mn->url)) {
                continue;
            }
            rc = es_buf_adds(b, nlinks ? ",{\"href\":" : "{\"href\":");
            rc = rc ? rc : es_buf_json_str(b, mn->url.ptr, mn->url.len);
            rc = rc ? rc : es_buf_adds(b, ",\"text\":");
            rc = rc ? rc
                    : es__json_text(b, mn->text.ptr, mn->text.len, 120, ES_ESC_NONE,
                                    ES_TEXT_ONELINE);
            rc = rc ? rc : es_buf_addc(b, '}');
            nlinks++;
        }
    }
    return rc ? rc : es_buf_adds(b, "]}");
}

static void pd_classify(void *state, const es_sink_response *r, es_sink_result *res)
{
    (void)state;
    es_sink_classify_http(r, res);
    if (r->transport == 0 && r->status == 429) {
        res->sink_wide = true; /* the limit is per integration key */
    }
    if (res->verdict == ES_SINK_PERMANENT && r->body_len > 0) {
        /* 400 says why: {"status":"invalid event","message":...,"errors":[...]} */
        snprintf(res->error, sizeof res->error, "HTTP %ld: %.*s", r->status,
                 (int)(r->body_len < 200 ? r->body_len : 200), r->body);
    }
}

static const es_sink_option pd_options[] = {
    {"routing_key", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET,
     "Events API v2 integration key (32 characters)"},
    {"url", ES_SINK_OPT_STRING, "https://events.pagerduty.com/v2/enqueue", 0,
     "Events API endpoint"},
    {"source", ES_SINK_OPT_STRING, "earshot", 0, "payload.source: where the event comes from"},
    /* The config's `severity:` section, flattened as the config names it. */
    {"severity.info", ES_SINK_OPT_STRING, "info", 0, "PagerDuty severity for info alerts"},
    {"severity.warning", ES_SINK_OPT_STRING, "warning", 0,
     "PagerDuty severity for warning alerts"},
    {"severity.critical", ES_SINK_OPT_STRING, "critical", 0,
     "PagerDuty severity for critical alerts (error, for teams that keep critical for "
     "outages)"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_pagerduty = {
    .name = "pagerduty",
    .options = pd_options,
    .default_rate = "120/min",
    .init = pd_init,
    .build = pd_build,
    .classify = pd_classify,
    .destroy = pd_destroy,
};
