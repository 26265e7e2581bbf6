/*
 * The Mattermost sink: an incoming-webhook post in Markdown.
 *
 *   {"text": "#### headline\n**Topic:** ...\n> quote [@author](url)",
 *    "channel": ..., "username": ..., "icon_url": ...,
 *    "priority": {"priority": "urgent", "requested_ack": true}}
 *
 * Mattermost answers 200 "ok". Posts are limited by the server (16,383
 * characters by default); we stay under 12,000. User text is
 * Markdown-escaped and its @ defused, so a quoted post cannot ping
 * @channel, @all or @here.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_TEXT_MAX       12000
#define MM_ALERTS_SHOWN   10
#define MM_MENTIONS_SHOWN 5
#define MM_QUOTE_MAX      1000
#define MM_DETAILS_SHOWN  8
/* "@author" would notify that user on Mattermost; a zero-width space
 * after the @ keeps the name readable and silent. */
#define MM_AT "@\xE2\x80\x8B"

typedef struct mm_sink {
    char *url;
    char *channel;
    char *username;
    char *icon_url;
    char *priority;
    bool requested_ack;
} mm_sink;

static void mm_destroy(void *state)
{
    mm_sink *m = state;
    if (m != NULL) {
        free(m->url);
        free(m->channel);
        free(m->username);
        free(m->icon_url);
        free(m->priority);
        free(m);
    }
}

static char *dup_opt(const es_sink_opts *o, const char *key, bool *oom)
{
    const char *v = es_sink_opt_get(o, key);
    if (v == NULL) {
        return NULL;
    }
    char *d = strdup(v);
    *oom |= d == NULL;
    return d;
}

static int mm_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    if (!es__is_http_url((es_str){url, strlen(url)})) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be an http(s) URL",
                            o->sink_name);
    }
    const char *prio = es_sink_opt_get(o, "priority");
    if (prio != NULL && strcmp(prio, "important") != 0 && strcmp(prio, "urgent") != 0) {
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': 'priority' must be important or urgent, not '%s'",
                            o->sink_name, prio);
    }
    mm_sink *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    bool oom = false;
    m->url = dup_opt(o, "url", &oom);
    m->channel = dup_opt(o, "channel", &oom);
    m->username = dup_opt(o, "username", &oom);
    m->icon_url = dup_opt(o, "icon_url", &oom);
    m->priority = dup_opt(o, "priority", &oom);
    m->requested_ack = es_sink_opt_bool(o, "requested_ack", false);
    if (oom) {
        mm_destroy(m);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    *state = m;
    return 0;
}

static void mm_quote(es_tb *tb, const es_alert_mention *mn, size_t remaining)
{
    bool link = es__is_http_url(mn->url);
    size_t reserve = 80 + (link ? mn->url.len * 3 : 0);
    if (!es__tb_lit(tb, "\n> ")) {
        return;
    }
    size_t cap = tb->left > reserve * remaining ? (tb->left - reserve * remaining) / remaining : 0;
    unsigned flags = tb->flags;
    tb->flags |= ES_TEXT_ONELINE; /* a newline would end the quote */
    es__tb_text(tb, mn->text.ptr, mn->text.len, ES_ESC_MARKDOWN,
                cap < MM_QUOTE_MAX ? cap : MM_QUOTE_MAX);
    tb->flags = flags;
    if (link) {
        if (!es__tb_lit(tb, " \xE2\x80\x94 [")) {
            return;
        }
        if (mn->author.len > 0) {
            es__tb_lit(tb, MM_AT);
            es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_MARKDOWN, 64);
        } else {
            es__tb_lit(tb, "post");
        }
        if (es__tb_lit(tb, "](")) {
            es__tb_url(tb, mn->url, ES_ESC_MARKDOWN);
            es__tb_lit(tb, ")");
        }
    } else if (mn->author.len > 0) {
        es__tb_lit(tb, " \xE2\x80\x94 " MM_AT);
        es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_MARKDOWN, 64);
    }
}

static void mm_alert(es_tb *tb, const es_alert *a, bool grouped)
{
    es__tb_lit(tb, "\n\n");
    if (a->summary != NULL) {
        if (grouped) {
            es__tb_lit(tb, "**");
        }
        es__tb_text(tb, a->summary, strlen(a->summary), ES_ESC_MARKDOWN, 1000);
        if (grouped) {
            es__tb_lit(tb, "**");
        }
    }
    es_detail d[MM_DETAILS_SHOWN];
    size_t nd = es__details(a->details_json, d, MM_DETAILS_SHOWN);
    for (size_t i = 0; i < nd; i++) {
        es__tb_lit(tb, i == 0 ? "\n" : " \xC2\xB7 ");
        es__tb_text(tb, d[i].key, strlen(d[i].key), ES_ESC_MARKDOWN, 64);
        es__tb_lit(tb, ": **");
        es__tb_text(tb, d[i].value, strlen(d[i].value), ES_ESC_MARKDOWN, 64);
        es__tb_lit(tb, "**");
    }
    size_t nq = a->n_mentions < MM_MENTIONS_SHOWN ? a->n_mentions : MM_MENTIONS_SHOWN;
    for (size_t i = 0; i < nq; i++) {
        mm_quote(tb, &a->mentions[i], nq - i);
    }
    if (a->n_mentions > MM_MENTIONS_SHOWN) {
        es__tb_printf(tb, "\n\n_and %zu more posts_", a->n_mentions - MM_MENTIONS_SHOWN);
    }
    char at[32];
    es_time_format(a->at_ms, at);
    es__tb_lit(tb, "\n\n`");
    const char *fp = a->fingerprint != NULL ? a->fingerprint : "";
    /* Inside a code span nothing is markup, but a backtick would end it. */
    es__tb_text(tb, fp, strcspn(fp, "`"), ES_ESC_NONE, 200);
    es__tb_printf(tb, "` \xC2\xB7 %s", at);
}

static int add_json_opt(es_buf *b, const char *key, const char *val)
{
    if (val == NULL) {
        return 0;
    }
    int rc = es_buf_printf(b, ",\"%s\":", key);
    return rc ? rc : es_buf_json_str(b, val, strlen(val));
}

static int mm_build(void *state, const es_notification *n, es_sink_request *req)
{
    mm_sink *m = state;
    es_buf head;
    es_buf_init(&head, 64 * 1024);
    int rc = es_buf_adds(&req->url, m->url);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json");
    rc = rc ? rc : es__headline(n, &head);
    rc = rc ? rc : es_buf_adds(&req->body, "{\"text\":\"");
    if (rc != 0) {
        es_buf_free(&head);
        return rc;
    }
    es_tb tb;
    es__tb_init(&tb, &req->body, MM_TEXT_MAX, ES_TEXT_JSON);
    es__tb_lit(&tb, "#### ");
    tb.flags |= ES_TEXT_ONELINE;
    es__tb_text(&tb, head.data, head.len, ES_ESC_MARKDOWN, 300);
    tb.flags &= ~(unsigned)ES_TEXT_ONELINE;
    es_buf_free(&head);

    const char *vals[ES_N_FACTS];
    es__notification_facts(n, vals);
    es__tb_lit(&tb, "\n");
    for (size_t i = 0; i < ES_N_FACTS; i++) {
        if (vals[i] != NULL) {
            es__tb_printf(&tb, "**%s:** ", es__fact_names[i]);
            es__tb_text(&tb, vals[i], strlen(vals[i]), ES_ESC_MARKDOWN, 100);
            es__tb_lit(&tb, " \xC2\xB7 ");
        }
    }
    es__tb_printf(&tb, "**Count:** %zu \xC2\xB7 **Status:** %s", es_notification_count(n),
                  n->action == ES_NOTIFY_ACKNOWLEDGE ? "acknowledged"
                  : es_notification_resolved(n)      ? "resolved"
                                                     : "firing");
    size_t target = n->n_alerts < MM_ALERTS_SHOWN ? n->n_alerts : MM_ALERTS_SHOWN;
    size_t reserve = es_notification_count(n) > target ? 60 : 0;
    size_t shown = 0;
    for (size_t i = 0; i < target; i++) {
        size_t share = (tb.left > reserve ? tb.left - reserve : 0) / (target - i);
        if (share < 400) {
            break;
        }
        size_t held = es__tb_limit(&tb, share);
        mm_alert(&tb, &n->alerts[i], n->n_alerts > 1);
        es__tb_restore(&tb, held);
        shown++;
    }
    size_t more = es_notification_count(n) - shown;
    if (more > 0 && n->n_alerts > 1) {
        es__tb_printf(&tb, "\n\n_\xE2\x80\xA6 and %zu more_", more);
    }
    rc = tb.rc;
    rc = rc ? rc : es_buf_addc(&req->body, '"');
    rc = rc ? rc : add_json_opt(&req->body, "channel", m->channel);
    rc = rc ? rc : add_json_opt(&req->body, "username", m->username);
    rc = rc ? rc : add_json_opt(&req->body, "icon_url", m->icon_url);
    if (rc == 0 && m->priority != NULL) {
        rc = es_buf_printf(&req->body, ",\"priority\":{\"priority\":\"%s\",\"requested_ack\":%s}",
                           m->priority, m->requested_ack ? "true" : "false");
    }
    return rc ? rc : es_buf_addc(&req->body, '}');
}

static const es_sink_option mm_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK,
     "incoming webhook URL (https://host/hooks/KEY)"},
    {"channel", ES_SINK_OPT_STRING, NULL, 0, "channel name to post in instead of the hook's"},
    {"username", ES_SINK_OPT_STRING, NULL, 0, "display name for the post"},
    {"icon_url", ES_SINK_OPT_STRING, NULL, 0, "avatar for the post"},
    {"priority", ES_SINK_OPT_STRING, NULL, 0, "message priority: important or urgent"},
    {"requested_ack", ES_SINK_OPT_BOOL, "false", 0, "ask readers to acknowledge (with priority)"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_mattermost = {
    .name = "mattermost",
    .options = mm_options,
    .init = mm_init,
    .build = mm_build,
    .destroy = mm_destroy,
};
