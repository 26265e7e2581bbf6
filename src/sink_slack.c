/*
 * The Slack sink: an incoming-webhook message in Block Kit.
 *
 *   header   the headline ("acme: 3 complaint alerts" or the alert summary)
 *   section  topic, kind, severity, count, status
 *   per alert (up to 10): a section with its summary, the numbers behind it
 *            (counts, baseline, sentiment, ...) and quotes of the posts with
 *            links, then a context line with the fingerprint and time
 *   context  "and N more" when the group had more than we show
 *
 * Slack's limits (docs + issue threads): section text <= 3,000 characters
 * (else 400 invalid_blocks), header text <= 150, at most 50 blocks, and an
 * undocumented msg_blocks_too_long at about 13,200 characters in all, so we
 * budget 12,000. User text is escaped for mrkdwn (& < > as entities), which
 * also stops it from forming links or <!channel> pings. `text` is the
 * plain fallback for notifications and old clients.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_SECTION_MAX    3000
#define SLACK_HEADER_MAX     150
#define SLACK_TOTAL_MAX      12000
#define SLACK_FALLBACK_MAX   3000
#define SLACK_ALERTS_SHOWN   10
#define SLACK_MENTIONS_SHOWN 5
#define SLACK_QUOTE_MAX      1000
#define SLACK_DETAILS_SHOWN  8

typedef struct slack_sink {
    char *url;
} slack_sink;

static void slack_destroy(void *state)
{
    slack_sink *s = state;
    if (s != NULL) {
        free(s->url);
        free(s);
    }
}

static int slack_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    if (!es__is_http_url((es_str){url, strlen(url)})) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be an http(s) URL",
                            o->sink_name);
    }
    slack_sink *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        slack_destroy(s);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    *state = s;
    return 0;
}

/* A message under construction: the JSON body and what is left of the
 * whole-message character budget. */
typedef struct msg {
    es_buf *body;
    size_t total_left;
    int rc;
} msg;

/* Open a text object inside a block; the builder gets the smaller of the
 * field's limit and what the message has left. */
static void text_open(msg *m, es_tb *tb, const char *prefix, size_t limit)
{
    if (m->rc == 0) {
        m->rc = es_buf_adds(m->body, prefix);
    }
    es__tb_init(tb, m->body, limit < m->total_left ? limit : m->total_left, ES_TEXT_JSON);
}

static void text_close(msg *m, es_tb *tb, const char *suffix)
{
    if (m->rc == 0) {
        m->rc = tb->rc;
    }
    if (m->rc == 0) {
        m->rc = es_buf_adds(m->body, suffix);
    }
    m->total_left -= (tb->start - tb->left);
}

/* One post as a one-line quote (the caller's builder has ES_TEXT_ONELINE,
 * since a newline would end the quote) with a link to it. */
static void quote(es_tb *tb, const es_alert_mention *mn, size_t remaining)
{
    /* Keep room for the link and author so the quote is cut, not the link. */
    size_t reserve = 72;
    bool link = es__is_http_url(mn->url);
    for (size_t i = 0; link && i < mn->url.len; i++) {
        reserve += mn->url.ptr[i] == '&' ? 5 : 1;
    }
    if (!es__tb_lit(tb, "\n>")) {
        return;
    }
    /* An equal share for each post still to come. */
    size_t cap = tb->left > reserve * remaining ? (tb->left - reserve * remaining) / remaining : 0;
    es__tb_text(tb, mn->text.ptr, mn->text.len, ES_ESC_SLACK,
                cap < SLACK_QUOTE_MAX ? cap : SLACK_QUOTE_MAX);
    if (link) {
        /* The link goes in whole or not at all, never half a URL. */
        if (!es__tb_lit(tb, " \xE2\x80\x94 <") || !es__tb_url(tb, mn->url, ES_ESC_SLACK) ||
            !es__tb_lit(tb, "|")) {
            return;
        }
        if (mn->author.len > 0) {
            es__tb_lit(tb, "@");
            es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_SLACK, 64);
        } else {
            es__tb_lit(tb, "post");
        }
        es__tb_lit(tb, ">");
    } else if (mn->author.len > 0) {
        es__tb_lit(tb, " \xE2\x80\x94 @");
        es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_SLACK, 64);
    }
}

static void alert_blocks(msg *m, const es_alert *a, bool grouped, size_t share)
{
    es_tb tb;
    /* The context line below takes at most 250 of this alert's share. */
    size_t section = share > 250 ? share - 250 : 0;
    text_open(m, &tb, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"",
              section < SLACK_SECTION_MAX ? section : SLACK_SECTION_MAX);
    if (grouped && a->summary != NULL) {
        es__tb_lit(&tb, "*");
        es__tb_text(&tb, a->summary, strlen(a->summary), ES_ESC_SLACK, 500);
        es__tb_lit(&tb, "*");
    } else if (a->summary != NULL) {
        es__tb_text(&tb, a->summary, strlen(a->summary), ES_ESC_SLACK, 1000);
    }
    es_detail d[SLACK_DETAILS_SHOWN];
    size_t nd = es__details(a->details_json, d, SLACK_DETAILS_SHOWN);
    for (size_t i = 0; i < nd; i++) {
        es__tb_lit(&tb, i == 0 ? "\n" : " \xC2\xB7 ");
        es__tb_text(&tb, d[i].key, strlen(d[i].key), ES_ESC_SLACK, 64);
        es__tb_lit(&tb, ": *");
        es__tb_text(&tb, d[i].value, strlen(d[i].value), ES_ESC_SLACK, 64);
        es__tb_lit(&tb, "*");
    }
    tb.flags |= ES_TEXT_ONELINE;
    size_t nq = a->n_mentions < SLACK_MENTIONS_SHOWN ? a->n_mentions : SLACK_MENTIONS_SHOWN;
    for (size_t i = 0; i < nq; i++) {
        quote(&tb, &a->mentions[i], nq - i);
    }
    if (a->n_mentions > SLACK_MENTIONS_SHOWN) {
        es__tb_printf(&tb, "\n_and %zu more posts_", a->n_mentions - SLACK_MENTIONS_SHOWN);
    }
    text_close(m, &tb, "\"}}");

    char at[32];
    es_time_format(a->at_ms, at);
    text_open(m, &tb, ",{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":\"", 250);
    es__tb_lit(&tb, "`");
    const char *fp = a->fingerprint != NULL ? a->fingerprint : "";
    es__tb_text(&tb, fp, strlen(fp), ES_ESC_SLACK, 200);
    es__tb_printf(&tb, "` \xC2\xB7 %s", a->at_text != NULL ? "" : at);
    if (a->at_text != NULL) {
        es__tb_text(&tb, a->at_text, strlen(a->at_text), ES_ESC_SLACK, 40);
    }
    text_close(m, &tb, "\"}]}");
}

static int slack_build(void *state, const es_notification *n, es_sink_request *req)
{
    slack_sink *s = state;
    es_buf head;
    es_buf_init(&head, 64 * 1024);
    int rc = es_buf_adds(&req->url, s->url);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json; charset=utf-8");
    rc = rc ? rc : es__headline(n, &head);
    if (rc != 0) {
        es_buf_free(&head);
        return rc;
    }
    msg m = {&req->body, SLACK_TOTAL_MAX, 0};
    m.rc = es_buf_adds(m.body, "{\"text\":");
    m.rc = m.rc ? m.rc
                : es__json_text(m.body, head.data, head.len, SLACK_FALLBACK_MAX, ES_ESC_SLACK, 0);
    m.rc = m.rc ? m.rc : es_buf_adds(m.body, ",\"blocks\":[");

    es_tb tb;
    text_open(&m, &tb, "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":\"",
              SLACK_HEADER_MAX);
    tb.flags |= ES_TEXT_ONELINE;
    es__tb_text(&tb, head.data, head.len, ES_ESC_NONE, SIZE_MAX);
    text_close(&m, &tb, "\"}}");
    es_buf_free(&head);

    const char *vals[ES_N_FACTS];
    es__notification_facts(n, vals);
    text_open(&m, &tb, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"",
              SLACK_SECTION_MAX);
    for (size_t i = 0; i < ES_N_FACTS; i++) {
        if (vals[i] != NULL) {
            es__tb_printf(&tb, "*%s:* ", es__fact_names[i]);
            es__tb_text(&tb, vals[i], strlen(vals[i]), ES_ESC_SLACK, 100);
            es__tb_lit(&tb, "   ");
        }
    }
    es__tb_printf(&tb, "*Count:* %zu   *Status:* %s", es_notification_count(n),
                  n->action == ES_NOTIFY_ACKNOWLEDGE ? "acknowledged"
                  : es_notification_resolved(n)      ? "resolved"
                                                     : "firing");
    text_close(&m, &tb, "\"}}");

    /* 3 fixed blocks + 2 per alert + 1: far below the 50-block limit. */
    size_t target = n->n_alerts < SLACK_ALERTS_SHOWN ? n->n_alerts : SLACK_ALERTS_SHOWN;
    size_t reserve = es_notification_count(n) > target ? 60 : 0;
    size_t shown = 0;
    for (size_t i = 0; i < target; i++) {
        size_t left = m.total_left > reserve ? m.total_left - reserve : 0;
        size_t share = left / (target - i);
        if (share < 400) {
            break;
        }
        alert_blocks(&m, &n->alerts[i], n->n_alerts > 1, share);
        shown++;
    }
    size_t more = es_notification_count(n) - shown;
    if (more > 0 && n->n_alerts > 1) {
        text_open(&m, &tb, ",{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":\"",
                  SLACK_SECTION_MAX);
        es__tb_printf(&tb, "\xE2\x80\xA6 and %zu more", more);
        text_close(&m, &tb, "\"}]}");
    }
    if (m.rc == 0) {
        m.rc = es_buf_adds(m.body, "]}");
    }
    return m.rc;
}

/* Slack answers 200 "ok"; a 429 may carry retry_after in a JSON body
 * instead of (or besides) the Retry-After header. */
static void slack_classify(void *state, const es_sink_response *r, es_sink_result *res)
{
    (void)state;
    es_sink_classify_http(r, res);
    if (r->transport == 0 && r->status == 429 && res->not_before_ms == 0 && r->body != NULL) {
        const char *p = strstr(r->body, "\"retry_after\":");
        if (p != NULL) {
            double secs = strtod(p + 14, NULL);
            if (secs > 0 && secs < 86400) {
                res->not_before_ms = r->now_ms + (int64_t)(secs * 1000.0 + 0.999);
            }
        }
    }
    if (res->verdict == ES_SINK_PERMANENT && r->body != NULL && r->body_len > 0) {
        /* Slack names the problem in the body: invalid_blocks, no_service... */
        snprintf(res->error, sizeof res->error, "HTTP %ld: %.*s", r->status,
                 (int)(r->body_len < 120 ? r->body_len : 120), r->body);
    }
}

static const es_sink_option slack_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK,
     "incoming webhook URL (https://hooks.slack.com/services/...)"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_slack = {
    .name = "slack",
    .options = slack_options,
    .default_rate = "1/s",
    .init = slack_init,
    .build = slack_build,
    .classify = slack_classify,
    .destroy = slack_destroy,
};
