/*
 * The Microsoft Teams sink: an Adaptive Card 1.4 posted to a Workflows
 * ("When a Teams webhook request is received") URL, in the message envelope
 * the flow expects:
 *
 *   {"type": "message", "attachments": [{
 *     "contentType": "application/vnd.microsoft.card.adaptive",
 *     "contentUrl": null,
 *     "content": {"$schema": "...", "type": "AdaptiveCard", "version": "1.4",
 *                 "body": [TextBlock, FactSet, ...], "actions": [OpenUrl...]}}]}
 *
 * Workflows answer 202 Accepted: the flow runs later, so success here means
 * accepted, not shown. Teams caps a message at about 28 KB; we keep the
 * card's text under 20,000 characters. TextBlocks render a subset of
 * Markdown, so user text is Markdown-escaped (no injected links).
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEAMS_TEXT_MAX 20000
/* Teams rejects messages over about 28 KB (bytes, with the JSON). */
#define TEAMS_BYTES_MAX      (26u << 10)
#define TEAMS_ALERTS_SHOWN   10
#define TEAMS_MENTIONS_SHOWN 5
#define TEAMS_QUOTE_MAX      1000
#define TEAMS_DETAILS_SHOWN  8
#define TEAMS_ACTIONS_MAX    5

typedef struct teams_sink {
    char *url;
} teams_sink;

static void teams_destroy(void *state)
{
    teams_sink *t = state;
    if (t != NULL) {
        free(t->url);
        free(t);
    }
}

static int teams_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    if (!es__is_http_url((es_str){url, strlen(url)})) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be an http(s) URL",
                            o->sink_name);
    }
    teams_sink *t = calloc(1, sizeof *t);
    if (t == NULL || (t->url = strdup(url)) == NULL) {
        teams_destroy(t);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    *state = t;
    return 0;
}

typedef struct card {
    es_buf *body;
    size_t left;
    int rc;
    bool first; /* no comma before the first body element */
} card;

/* A TextBlock whose text is built by the caller between begin and end. */
static void block_begin(card *c, es_tb *tb, const char *attrs, size_t limit)
{
    if (c->rc == 0) {
        c->rc = es_buf_printf(c->body, "%s{\"type\":\"TextBlock\",\"wrap\":true%s,\"text\":\"",
                              c->first ? "" : ",", attrs);
    }
    c->first = false;
    es__tb_init(tb, c->body, limit < c->left ? limit : c->left, ES_TEXT_JSON);
}

static void block_end(card *c, es_tb *tb)
{
    if (c->rc == 0) {
        c->rc = tb->rc;
    }
    if (c->rc == 0) {
        c->rc = es_buf_adds(c->body, "\"}");
    }
    c->left -= tb->start - tb->left;
}

static void fact(card *c, bool *first, const char *title, const char *value)
{
    if (c->rc != 0 || value == NULL) {
        return;
    }
    c->rc = es_buf_adds(c->body, *first ? "{\"title\":" : ",{\"title\":");
    *first = false;
    c->rc =
        c->rc ? c->rc
              : es__json_text(c->body, title, strlen(title), 64, ES_ESC_MARKDOWN, ES_TEXT_ONELINE);
    c->rc = c->rc ? c->rc : es_buf_adds(c->body, ",\"value\":");
    c->rc =
        c->rc ? c->rc
              : es__json_text(c->body, value, strlen(value), 200, ES_ESC_MARKDOWN, ES_TEXT_ONELINE);
    c->rc = c->rc ? c->rc : es_buf_addc(c->body, '}');
    size_t used = strlen(title) + es__text_units(value, strlen(value));
    c->left = c->left > used ? c->left - used : 0;
}

static void alert_body(card *c, const es_alert *a, bool grouped)
{
    es_tb tb;
    if (grouped && a->summary != NULL) {
        block_begin(c, &tb, ",\"weight\":\"Bolder\",\"spacing\":\"Medium\"", 1000);
        es__tb_text(&tb, a->summary, strlen(a->summary), ES_ESC_MARKDOWN, SIZE_MAX);
        block_end(c, &tb);
    }
    es_detail d[TEAMS_DETAILS_SHOWN];
    size_t nd = es__details(a->details_json, d, TEAMS_DETAILS_SHOWN);
    if (nd > 0 && c->rc == 0) {
        c->rc = es_buf_adds(c->body, ",{\"type\":\"FactSet\",\"facts\":[");
        bool first = true;
        for (size_t i = 0; i < nd; i++) {
            fact(c, &first, d[i].key, d[i].value);
        }
        c->rc = c->rc ? c->rc : es_buf_adds(c->body, "]}");
    }
    size_t nq = a->n_mentions < TEAMS_MENTIONS_SHOWN ? a->n_mentions : TEAMS_MENTIONS_SHOWN;
    for (size_t i = 0; i < nq && c->left > 100; i++) {
        const es_alert_mention *mn = &a->mentions[i];
        size_t share = c->left / (nq - i);
        block_begin(c, &tb, ",\"isSubtle\":true",
                    share < TEAMS_QUOTE_MAX + 100 ? share : TEAMS_QUOTE_MAX + 100);
        size_t cap = tb.left > 100 ? tb.left - 100 : 0;
        es__tb_lit(&tb, "\xE2\x80\x9C");
        es__tb_text(&tb, mn->text.ptr, mn->text.len, ES_ESC_MARKDOWN,
                    cap < TEAMS_QUOTE_MAX ? cap : TEAMS_QUOTE_MAX);
        es__tb_lit(&tb, "\xE2\x80\x9D");
        if (mn->author.len > 0) {
            es__tb_lit(&tb, " \xE2\x80\x94 @");
            es__tb_text(&tb, mn->author.ptr, mn->author.len, ES_ESC_MARKDOWN, 64);
        }
        block_end(c, &tb);
    }
}

static int build_card(teams_sink *t, const es_notification *n, es_sink_request *req, size_t budget)
{
    es_buf head;
    es_buf_init(&head, 64 * 1024);
    int rc = es_buf_adds(&req->url, t->url);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json");
    rc = rc ? rc : es__headline(n, &head);
    rc = rc ? rc
            : es_buf_adds(&req->body,
                          "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
                          "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,"
                          "\"content\":{\"$schema\":\"http://adaptivecards.io/schemas/"
                          "adaptive-card.json\",\"type\":\"AdaptiveCard\",\"version\":\"1.4\","
                          "\"msteams\":{\"width\":\"Full\"},\"body\":[");
    if (rc != 0) {
        es_buf_free(&head);
        return rc;
    }
    card c = {&req->body, budget, 0, true};
    es_tb tb;
    const char *attention =
        !es_notification_resolved(n) && n->n_alerts > 0 && n->alerts[0].severity == ES_SEV_CRITICAL
            ? ",\"color\":\"Attention\""
            : "";
    char attrs[96];
    snprintf(attrs, sizeof attrs, ",\"size\":\"Large\",\"weight\":\"Bolder\"%s", attention);
    block_begin(&c, &tb, attrs, 500);
    tb.flags |= ES_TEXT_ONELINE;
    es__tb_text(&tb, head.data, head.len, ES_ESC_MARKDOWN, SIZE_MAX);
    block_end(&c, &tb);
    es_buf_free(&head);

    const char *vals[ES_N_FACTS];
    es__notification_facts(n, vals);
    char count[32];
    snprintf(count, sizeof count, "%zu", es_notification_count(n));
    c.rc = c.rc ? c.rc : es_buf_adds(c.body, ",{\"type\":\"FactSet\",\"facts\":[");
    bool first = true;
    for (size_t i = 0; i < ES_N_FACTS; i++) {
        fact(&c, &first, es__fact_names[i], vals[i]);
    }
    fact(&c, &first, "Count", count);
    fact(&c, &first, "Status",
         n->action == ES_NOTIFY_ACKNOWLEDGE ? "acknowledged"
         : es_notification_resolved(n)      ? "resolved"
                                            : "firing");
    c.rc = c.rc ? c.rc : es_buf_adds(c.body, "]}");

    size_t target = n->n_alerts < TEAMS_ALERTS_SHOWN ? n->n_alerts : TEAMS_ALERTS_SHOWN;
    size_t shown = 0;
    for (size_t i = 0; i < target; i++) {
        size_t share = (c.left > 100 ? c.left - 100 : 0) / (target - i);
        if (share < 300) {
            break;
        }
        size_t held = c.left - share;
        c.left = share;
        alert_body(&c, &n->alerts[i], n->n_alerts > 1);
        c.left += held;
        shown++;
    }
    if (es_notification_count(n) > shown && n->n_alerts > 1) {
        block_begin(&c, &tb, ",\"isSubtle\":true", 100);
        es__tb_printf(&tb, "\xE2\x80\xA6 and %zu more", es_notification_count(n) - shown);
        block_end(&c, &tb);
    }
    c.rc = c.rc ? c.rc : es_buf_adds(c.body, "],\"actions\":[");
    size_t nact = 0;
    for (size_t i = 0; i < shown && nact < TEAMS_ACTIONS_MAX; i++) {
        const es_alert *a = &n->alerts[i];
        for (size_t j = 0; j < a->n_mentions && nact < TEAMS_ACTIONS_MAX; j++) {
            const es_alert_mention *mn = &a->mentions[j];
            if (!es__is_http_url(mn->url) || c.rc != 0) {
                continue;
            }
            c.rc = es_buf_adds(c.body, nact ? ",{\"type\":\"Action.OpenUrl\",\"title\":"
                                            : "{\"type\":\"Action.OpenUrl\",\"title\":");
            es_buf title;
            es_buf_init(&title, 256);
            c.rc = c.rc ? c.rc : es_buf_adds(&title, "Open post");
            if (mn->author.len > 0) {
                c.rc = c.rc ? c.rc : es_buf_adds(&title, " by @");
                c.rc = c.rc ? c.rc
                            : es_buf_add(&title, mn->author.ptr,
                                         mn->author.len < 64 ? mn->author.len : 64);
            }
            c.rc = c.rc ? c.rc
                        : es__json_text(c.body, title.data, title.len, 80, ES_ESC_NONE,
                                        ES_TEXT_ONELINE);
            es_buf_free(&title);
            c.rc = c.rc ? c.rc : es_buf_adds(c.body, ",\"url\":");
            c.rc = c.rc ? c.rc : es_buf_json_str(c.body, mn->url.ptr, mn->url.len);
            c.rc = c.rc ? c.rc : es_buf_addc(c.body, '}');
            nact++;
        }
    }
    c.rc = c.rc ? c.rc : es_buf_adds(c.body, "]}}]}");
    return c.rc;
}

static const es_sink_option teams_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK,
     "Workflows webhook URL (Power Automate / Logic Apps)"},
    {NULL, 0, NULL, 0, NULL},
};

/*
 * Characters are what we can budget while writing, but the limit is in
 * bytes, and a text of 3-byte characters takes three times the room. So
 * build, and if the result is too big, build again with half the text.
 */
static int teams_build(void *state, const es_notification *n, es_sink_request *req)
{
    size_t budget = TEAMS_TEXT_MAX;
    for (;;) {
        int rc = build_card(state, n, req, budget);
        if (rc != 0 || req->body.len <= TEAMS_BYTES_MAX || budget < 1000) {
            return rc;
        }
        budget /= 2;
        es_sink_request_reset(req);
    }
}

const struct es_sink_type es_sink_teams = {
    .name = "teams",
    .options = teams_options,
    .default_rate = "2/s",
    .init = teams_init,
    .build = teams_build,
    .destroy = teams_destroy,
};
