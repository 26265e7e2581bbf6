/*
 * The Discord sink: a webhook message with one embed per alert.
 *
 *   POST {url}?wait=true
 *   {"content": "headline", "allowed_mentions": {"parse": []},
 *    "embeds": [{"title", "description", "color", "timestamp",
 *                "fields": [{"name", "value", "inline"}]}]}
 *
 * Discord's limits: content <= 2,000 characters; at most 10 embeds; title
 * <= 256; description <= 4,096; at most 25 fields, name <= 256, value
 * <= 1,024 (else error 50035); and every embed's text together <= 6,000.
 * `wait=true` makes Discord answer 200 with the message once it is stored,
 * rather than 204 before, so success means delivered. User text is
 * Markdown-escaped, its @ defused, and allowed_mentions is empty, so a
 * quoted post can never ping @everyone, @here, a role or a user.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DC_CONTENT_MAX     2000
#define DC_EMBEDS_MAX      10
#define DC_TITLE_MAX       256
#define DC_DESC_MAX        4096
#define DC_FIELD_NAME_MAX  256
#define DC_FIELD_VALUE_MAX 1024
#define DC_EMBED_TOTAL_MAX 6000
#define DC_MENTIONS_SHOWN  5
#define DC_DETAILS_SHOWN   6

typedef struct discord_sink {
    char *url;
    char *username;
} discord_sink;

static void discord_destroy(void *state)
{
    discord_sink *d = state;
    if (d != NULL) {
        free(d->url);
        free(d->username);
        free(d);
    }
}

static int discord_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    if (!es__is_http_url((es_str){url, strlen(url)})) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'url' must be an http(s) URL",
                            o->sink_name);
    }
    discord_sink *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    /* wait=true turns "queued" (204) into "stored" (200 + message). */
    size_t n = strlen(url) + 16;
    d->url = malloc(n);
    if (d->url == NULL) {
        discord_destroy(d);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    const char *user = es_sink_opt_get(o, "username");
    if (user != NULL && (d->username = strdup(user)) == NULL) {
        discord_destroy(d);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    if (strstr(url, "wait=") != NULL) {
        snprintf(d->url, n, "%s", url);
    } else {
        snprintf(d->url, n, "%s%cwait=true", url, strchr(url, '?') != NULL ? '&' : '?');
    }
    *state = d;
    return 0;
}

typedef struct embeds {
    es_buf *body;
    size_t left; /* of the 6,000 shared by all embeds */
    int rc;
} embeds;

/* One JSON string field of an embed, charged to the shared budget. */
static void field_begin(embeds *e, es_tb *tb, const char *prefix, size_t limit)
{
    if (e->rc == 0) {
        e->rc = es_buf_adds(e->body, prefix);
    }
    es__tb_init(tb, e->body, limit < e->left ? limit : e->left, ES_TEXT_JSON);
}

static void field_end(embeds *e, es_tb *tb)
{
    /* Discord rejects empty names and values: say so rather than fail. */
    if (tb->left == tb->start && e->rc == 0 && tb->rc == 0) {
        es__tb_lit(tb, "-");
    }
    if (e->rc == 0) {
        e->rc = tb->rc;
    }
    if (e->rc == 0) {
        e->rc = es_buf_addc(e->body, '"');
    }
    e->left -= tb->start - tb->left;
}

static unsigned color_of(const es_alert *a)
{
    if (a->resolved) {
        return 0x2EB67D;
    }
    switch (a->severity) {
    case ES_SEV_CRITICAL:
        return 0xE01E5A;
    case ES_SEV_WARNING:
        return 0xECB22E;
    default:
        return 0x36C5F0;
    }
}

static void embed(embeds *e, const es_alert *a)
{
    es_tb tb;
    char at[32];
    es_time_format(a->at_ms, at);
    if (e->rc == 0) {
        e->rc = es_buf_printf(e->body, "{\"color\":%u,\"timestamp\":\"%s\"", color_of(a), at);
    }
    field_begin(e, &tb, ",\"title\":\"", DC_TITLE_MAX);
    tb.flags |= ES_TEXT_ONELINE;
    const char *kind = es_alert_kind_name(a->kind);
    es__tb_text(&tb, kind, strlen(kind), ES_ESC_DISCORD, 64);
    if (a->topic != NULL) {
        es__tb_lit(&tb, " \xC2\xB7 ");
        es__tb_text(&tb, a->topic, strlen(a->topic), ES_ESC_DISCORD, 128);
    }
    field_end(e, &tb);

    field_begin(e, &tb, ",\"description\":\"", DC_DESC_MAX);
    const char *sum = a->summary != NULL ? a->summary : "";
    es__tb_text(&tb, sum, strlen(sum), ES_ESC_DISCORD, 1000);
    es_detail d[DC_DETAILS_SHOWN];
    size_t nd = es__details(a->details_json, d, DC_DETAILS_SHOWN);
    for (size_t i = 0; i < nd; i++) {
        es__tb_lit(&tb, i == 0 ? "\n" : " \xC2\xB7 ");
        es__tb_text(&tb, d[i].key, strlen(d[i].key), ES_ESC_DISCORD, 64);
        es__tb_lit(&tb, ": **");
        es__tb_text(&tb, d[i].value, strlen(d[i].value), ES_ESC_DISCORD, 64);
        es__tb_lit(&tb, "**");
    }
    field_end(e, &tb);

    if (e->rc == 0) {
        e->rc = es_buf_printf(e->body,
                              ",\"fields\":[{\"name\":\"Severity\",\"value\":\"%s\","
                              "\"inline\":true},{\"name\":\"Status\",\"value\":\"%s\","
                              "\"inline\":true}",
                              es_severity_name(a->severity), a->resolved ? "resolved" : "firing");
        size_t used = strlen("Severity") + strlen(es_severity_name(a->severity)) +
                      strlen("Status") + strlen(a->resolved ? "resolved" : "firing");
        e->left = e->left > used ? e->left - used : 0;
    }
    size_t nq = a->n_mentions < DC_MENTIONS_SHOWN ? a->n_mentions : DC_MENTIONS_SHOWN;
    for (size_t i = 0; i < nq && e->left > 100; i++) {
        const es_alert_mention *mn = &a->mentions[i];
        /* Each post still to come gets an equal share of what is left. */
        size_t share = e->left / (nq - i);
        field_begin(e, &tb, ",{\"name\":\"", DC_FIELD_NAME_MAX);
        tb.flags |= ES_TEXT_ONELINE;
        if (mn->author.len > 0) {
            es__tb_lit(&tb, "@");
            es__tb_text(&tb, mn->author.ptr, mn->author.len, ES_ESC_DISCORD, 100);
        } else {
            es__tb_lit(&tb, "Post");
        }
        field_end(e, &tb);
        field_begin(e, &tb, ",\"value\":\"",
                    share < DC_FIELD_VALUE_MAX ? share : DC_FIELD_VALUE_MAX);
        bool link = es__is_http_url(mn->url);
        size_t reserve = link ? mn->url.len * 3 + 2 : 0;
        size_t cap = tb.left > reserve ? tb.left - reserve : 0;
        es__tb_text(&tb, mn->text.ptr, mn->text.len, ES_ESC_DISCORD, cap);
        if (link && es__tb_lit(&tb, "\n")) {
            es__tb_url(&tb, mn->url, ES_ESC_DISCORD);
        }
        field_end(e, &tb);
        if (e->rc == 0) {
            e->rc = es_buf_adds(e->body, ",\"inline\":false}");
        }
    }
    if (e->rc == 0) {
        e->rc = es_buf_adds(e->body, "]}");
    }
}

static int discord_build(void *state, const es_notification *n, es_sink_request *req)
{
    discord_sink *d = state;
    es_buf head;
    es_buf_init(&head, 64 * 1024);
    int rc = es_buf_adds(&req->url, d->url);
    rc = rc ? rc : es_sink_request_header(req, "Content-Type", "application/json");
    rc = rc ? rc : es__headline(n, &head);
    if (rc != 0) {
        es_buf_free(&head);
        return rc;
    }
    size_t count = es_notification_count(n);
    /* One embed per alert; if there are more than fit, the last slot would
     * be better spent saying so, which the content line does. */
    size_t shown = n->n_alerts < DC_EMBEDS_MAX ? n->n_alerts : DC_EMBEDS_MAX;
    rc = es_buf_adds(&req->body, "{\"content\":\"");
    es_tb tb;
    es__tb_init(&tb, &req->body, DC_CONTENT_MAX, ES_TEXT_JSON);
    if (n->alerts != NULL && n->n_alerts > 0 && n->alerts[0].severity == ES_SEV_CRITICAL &&
        !es_notification_resolved(n)) {
        es__tb_lit(&tb, "\xF0\x9F\x9A\xA8 "); /* a siren, so it stands out */
    }
    es__tb_lit(&tb, "**");
    es__tb_text(&tb, head.data, head.len, ES_ESC_DISCORD, 1800);
    es__tb_lit(&tb, "**");
    if (count > shown) {
        es__tb_printf(&tb, "\n%zu alerts, showing %zu", count, shown);
    }
    es_buf_free(&head);
    rc = rc ? rc : tb.rc;
    rc = rc ? rc : es_buf_addc(&req->body, '"');
    if (rc == 0 && d->username != NULL) {
        /* Discord caps the name at 80 characters. */
        rc = es_buf_adds(&req->body, ",\"username\":");
        rc = rc ? rc
                : es__json_text(&req->body, d->username, strlen(d->username), 80, ES_ESC_NONE,
                                ES_TEXT_ONELINE);
    }
    rc = rc ? rc : es_buf_adds(&req->body, ",\"allowed_mentions\":{\"parse\":[]},\"embeds\":[");
    embeds e = {&req->body, DC_EMBED_TOTAL_MAX, rc};
    for (size_t i = 0; i < shown; i++) {
        size_t share = e.left / (shown - i);
        if (share < 300) {
            break;
        }
        if (i > 0 && e.rc == 0) {
            e.rc = es_buf_addc(e.body, ',');
        }
        size_t held = e.left - share;
        e.left = share;
        embed(&e, &n->alerts[i]);
        e.left += held;
    }
    rc = e.rc;
    return rc ? rc : es_buf_adds(&req->body, "]}");
}

/*
 * Discord's 429 carries {"retry_after": 1.5, "global": false} in the body
 * (seconds, fractional) and X-RateLimit-Reset-After in the headers; the
 * limit is per webhook (or global), so it holds the whole sink.
 */
static void discord_classify(void *state, const es_sink_response *r, es_sink_result *res)
{
    (void)state;
    es_sink_classify_http(r, res);
    if (r->transport != 0 || r->status != 429) {
        if (res->verdict == ES_SINK_PERMANENT && r->body_len > 0) {
            snprintf(res->error, sizeof res->error, "HTTP %ld: %.*s", r->status,
                     (int)(r->body_len < 160 ? r->body_len : 160), r->body);
        }
        return;
    }
    res->sink_wide = true;
    const char *p = r->body != NULL ? strstr(r->body, "\"retry_after\"") : NULL;
    if (p != NULL && (p = strchr(p, ':')) != NULL) {
        double secs = strtod(p + 1, NULL);
        if (secs > 0 && secs < 86400) {
            int64_t when = r->now_ms + (int64_t)(secs * 1000.0 + 0.999);
            if (when > res->not_before_ms) {
                res->not_before_ms = when;
            }
            snprintf(res->error, sizeof res->error, "HTTP 429, retry after %.3f s", secs);
        }
    }
}

static const es_sink_option discord_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK,
     "webhook URL (https://discord.com/api/webhooks/ID/TOKEN)"},
    {"username", ES_SINK_OPT_STRING, NULL, 0, "display name for the message"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_discord = {
    .name = "discord",
    .options = discord_options,
    .default_rate = "5/2s",
    .init = discord_init,
    .build = discord_build,
    .classify = discord_classify,
    .destroy = discord_destroy,
};
