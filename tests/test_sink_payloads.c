/*
 * Sink payloads against the platforms' documented shapes and limits: every
 * chat and pager payload is parsed back with yajl and its keys and lengths
 * checked, with a 10 KB mention text and multi-byte characters exactly at
 * the truncation points. Also: the webhook signature verified by an
 * independent computation, the e-mail message's structure, option
 * validation, and the local sinks (file, exec).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <yajl/yajl_tree.h>

#include "sink.h"

#define T0 1424786152000LL /* 2015-02-24T13:55:52Z */

/* ---- Helpers ------------------------------------------------------------ */

/* UTF-16 code units, counted independently of the code under test. */
static size_t units(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80) {
            n += *p >= 0xF0 ? 2 : 1;
        }
    }
    return n;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static yajl_val get(yajl_val v, const char *k1, const char *k2)
{
    const char *path[] = {k1, k2, NULL};
    return yajl_tree_get(v, path, yajl_t_any);
}

static const char *str(yajl_val v, const char *k)
{
    yajl_val s = get(v, k, NULL);
    assert_non_null(s);
    assert_true(YAJL_IS_STRING(s));
    return YAJL_GET_STRING(s);
}

static yajl_val parse(const es_buf *b)
{
    char err[256];
    yajl_val v = yajl_tree_parse(b->data, err, sizeof err);
    if (v == NULL) {
        fprintf(stderr, "bad JSON: %s\n%.400s\n", err, b->data);
    }
    assert_non_null(v);
    /* yajl validated the UTF-8; a cut inside a character would have become
     * U+FFFD on the way in, so there must be none. */
    assert_null(strstr(b->data, "\xEF\xBF\xBD"));
    return v;
}

static es_sink *mk(const char *type, const es_sink_kv *kv, size_t n, const es_sink_kv *sec,
                   size_t ns)
{
    es_sink_opts o = {.kv = kv, .n_kv = n, .secrets = sec, .n_secrets = ns};
    es_sink *s = NULL;
    es_error err = {0};
    int rc = es_sink_new("test", type, &o, &s, &err);
    if (rc != 0) {
        fprintf(stderr, "es_sink_new(%s): %s\n", type, err.msg);
    }
    assert_int_equal(rc, 0);
    return s;
}

/* A 10 KB mention: multi-byte characters of every length, a mention of
 * @everyone, Slack and HTML markup, and a newline. */
static char *long_text(void)
{
    static const char *const pieces[] = {
        "caf\xC3\xA9 ",
        "\xE2\x82\xAC"
        "5 ",
        "\xF0\x9F\x98\xA1 ",
        "@everyone ",
        "<!channel> ",
        "*bold* ",
        "[x](http://evil.example) ",
        "a&b ",
        "line\nbreak ",
    };
    size_t cap = 10 * 1024;
    char *t = malloc(cap + 32);
    size_t n = 0;
    for (size_t i = 0; n < cap; i++) {
        const char *p = pieces[i % (sizeof pieces / sizeof pieces[0])];
        memcpy(t + n, p, strlen(p));
        n += strlen(p);
    }
    t[n] = '\0';
    return t;
}

typedef struct fixture {
    char *text;
    es_alert_mention mentions[6];
    es_alert alerts[12];
    es_label labels[3];
    es_notification n;
} fixture;

static void make_fixture(fixture *f, size_t n_alerts, size_t n_mentions)
{
    memset(f, 0, sizeof *f);
    f->text = long_text();
    for (size_t i = 0; i < 6; i++) {
        f->mentions[i] = (es_alert_mention){
            {"1234", 4},
            {"jdoe", 4},
            {f->text, strlen(f->text)},
            {"https://x.example/1?a=1&b=2", strlen("https://x.example/1?a=1&b=2")}};
    }
    for (size_t i = 0; i < 12; i++) {
        f->alerts[i] = (es_alert){
            .kind = ES_ALERT_COMPLAINT,
            .severity = ES_SEV_WARNING,
            .topic = "acme",
            .at_ms = T0 + (int64_t)i * 1000,
            .fingerprint = "acme/complaint/1234",
            .summary = "acme: complaint from @jdoe <b>&</b>",
            .details_json = "{\"complaint\":0.91,\"sentiment\":{\"compound\":-0.5423},"
                            "\"followers\":120}",
            .mentions = f->mentions,
            .n_mentions = n_mentions,
        };
    }
    f->labels[0] = (es_label){"topic", "acme"};
    f->labels[1] = (es_label){"kind", "complaint"};
    f->labels[2] = (es_label){"severity", "warning"};
    f->n = (es_notification){
        .key = "01HZX3N5WJ8Q6V2C7D9E0F1G2H",
        .group = "acme/complaint",
        .alerts = f->alerts,
        .n_alerts = n_alerts,
        .count = n_alerts > 1 ? 300 : 0,
        .labels = f->labels,
        .n_labels = 3,
        .sent_ms = T0 + 60000,
    };
}

static void free_fixture(fixture *f)
{
    free(f->text);
}

static void build(es_sink *s, const es_notification *n, es_sink_request *req)
{
    es_sink_request_init(req);
    int rc = es_sink_build(s, n, req);
    if (rc != 0) {
        fprintf(stderr, "build: %s\n", es_strerror(rc));
    }
    assert_int_equal(rc, 0);
}

static bool has_header(const es_sink_request *req, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "%s\n", line);
    return strstr(req->headers.data, want) != NULL;
}

/* ---- Truncation --------------------------------------------------------- */

/* Cuts land on character boundaries, the ellipsis counts, escapes are
 * never split, and the limit is exact. */
static void test_truncation_boundaries(void **state)
{
    (void)state;
    es_buf b;
    es_buf_init(&b, 1024);
    es_tb tb;
    const char *t = "ab\xF0\x9F\x98\xA1"
                    "cd"; /* ab😡cd: 6 units */

    es__tb_init(&tb, &b, 4, 0);
    assert_int_equal(es__tb_text(&tb, t, strlen(t), ES_ESC_NONE, SIZE_MAX), 3);
    assert_string_equal(b.data, "ab\xE2\x80\xA6"); /* the emoji would straddle 4 */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 5, 0);
    es__tb_text(&tb, t, strlen(t), ES_ESC_NONE, SIZE_MAX);
    assert_string_equal(b.data, "ab\xF0\x9F\x98\xA1\xE2\x80\xA6");
    assert_int_equal(tb.left, 0);
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 6, 0);
    es__tb_text(&tb, t, strlen(t), ES_ESC_NONE, SIZE_MAX);
    assert_string_equal(b.data, t); /* fits exactly: no ellipsis */
    assert_false(tb.cut);

    /* An entity is whole or absent. */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 6, 0);
    es__tb_text(&tb, "a&b&c", 5, ES_ESC_SLACK, SIZE_MAX);
    assert_string_equal(b.data, "a\xE2\x80\xA6"); /* "a&amp;" is 6, leaving no room */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 100, 0);
    es__tb_text(&tb, "<!channel> & @here", 18, ES_ESC_SLACK, SIZE_MAX);
    assert_string_equal(b.data, "&lt;!channel&gt; &amp; @here");

    /* Discord: @ defused, markdown escaped. */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 100, 0);
    es__tb_text(&tb, "@everyone *x*", 13, ES_ESC_DISCORD, SIZE_MAX);
    assert_string_equal(b.data, "@\xE2\x80\x8B"
                                "everyone \\*x\\*");

    /* Invalid UTF-8 never passes through; truncated sequences are replaced. */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 100, 0);
    es__tb_text(&tb, "x\xE2\x82", 3, ES_ESC_NONE, SIZE_MAX);
    assert_string_equal(b.data, "x\xEF\xBF\xBD\xEF\xBF\xBD");

    /* Literals go in whole or not at all. */
    es_buf_reset(&b);
    es__tb_init(&tb, &b, 3, 0);
    assert_false(es__tb_lit(&tb, "abcd"));
    assert_true(es__tb_lit(&tb, "abc"));
    assert_string_equal(b.data, "abc");
    es_buf_free(&b);
}

/* ---- Slack -------------------------------------------------------------- */

static size_t slack_check(yajl_val root)
{
    const char *text = str(root, "text");
    assert_true(units(text) <= 3000);
    yajl_val blocks = get(root, "blocks", NULL);
    assert_true(YAJL_IS_ARRAY(blocks));
    assert_true(blocks->u.array.len >= 3 && blocks->u.array.len <= 50);
    size_t total = units(text);
    for (size_t i = 0; i < blocks->u.array.len; i++) {
        yajl_val b = blocks->u.array.values[i];
        const char *type = str(b, "type");
        if (strcmp(type, "header") == 0) {
            assert_string_equal(YAJL_GET_STRING(get(b, "text", "type")), "plain_text");
            const char *t = YAJL_GET_STRING(get(b, "text", "text"));
            assert_true(units(t) <= 150);
            total += units(t);
        } else if (strcmp(type, "section") == 0) {
            assert_string_equal(YAJL_GET_STRING(get(b, "text", "type")), "mrkdwn");
            const char *t = YAJL_GET_STRING(get(b, "text", "text"));
            assert_true(units(t) <= 3000);
            total += units(t);
        } else {
            assert_string_equal(type, "context");
            yajl_val el = get(b, "elements", NULL);
            assert_true(YAJL_IS_ARRAY(el) && el->u.array.len == 1);
            total += units(YAJL_GET_STRING(get(el->u.array.values[0], "text", NULL)));
        }
    }
    /* Well under the undocumented msg_blocks_too_long (~13.2k). */
    assert_true(total <= 12500);
    return total;
}

static void test_slack(void **state)
{
    (void)state;
    es_sink_kv sec[] = {{"url", "https://hooks.slack.com/services/T/B/X"}};
    es_sink *s = mk("slack", NULL, 0, sec, 1);
    fixture f;
    make_fixture(&f, 1, 1);
    es_sink_request req;
    build(s, &f.n, &req);
    assert_string_equal(req.url.data, "https://hooks.slack.com/services/T/B/X");
    assert_true(has_header(&req, "Content-Type: application/json; charset=utf-8"));
    yajl_val root = parse(&req.body);
    slack_check(root);
    yajl_val blocks = get(root, "blocks", NULL);
    /* The alert's section: summary escaped, numbers, the quote cut with an
     * ellipsis, the link with & escaped, no live @everyone or <!channel>. */
    const char *sec_text = YAJL_GET_STRING(get(blocks->u.array.values[2], "text", "text"));
    assert_non_null(strstr(sec_text, "acme: complaint from @jdoe &lt;b&gt;&amp;&lt;/b&gt;"));
    assert_non_null(strstr(sec_text, "complaint: *0.91*"));
    assert_non_null(strstr(sec_text, "sentiment.compound: *-0.5423*"));
    assert_non_null(
        strstr(sec_text, "\xE2\x80\xA6 \xE2\x80\x94 <https://x.example/1?a=1&amp;b=2|@jdoe>"));
    assert_null(strstr(sec_text, "<!channel>"));
    assert_null(strstr(sec_text, "\n>line\nbreak")); /* the quote stays one line */
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* A wave: 12 alerts (300 in the group) with 6 long posts each. */
    free_fixture(&f);
    make_fixture(&f, 12, 6);
    build(s, &f.n, &req);
    root = parse(&req.body);
    slack_check(root);
    assert_non_null(strstr(req.body.data, "acme: 300 complaint alerts"));
    assert_non_null(strstr(req.body.data, "more"));
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* A 4-byte character exactly where the 1,000-character quote is cut. */
    char *t = malloc(1100);
    memset(t, 'a', 998);
    memcpy(t + 998, "\xF0\x9F\x98\xA1", 4);
    memset(t + 1002, 'b', 50);
    t[1052] = '\0';
    f.mentions[0].text = (es_str){t, strlen(t)};
    f.n.n_alerts = 1;
    f.n.count = 0;
    f.alerts[0].n_mentions = 1;
    build(s, &f.n, &req);
    root = parse(&req.body);
    slack_check(root);
    sec_text = YAJL_GET_STRING(get(get(root, "blocks", NULL)->u.array.values[2], "text", "text"));
    const char *q = strstr(sec_text, "\n>");
    assert_non_null(q);
    /* 998 a's, no half emoji, then the ellipsis (1,000 characters in all). */
    assert_int_equal(strspn(q + 2, "a"), 998);
    assert_memory_equal(q + 2 + 998, "\xE2\x80\xA6 ", 4);
    yajl_tree_free(root);
    es_sink_request_free(&req);
    free(t);
    free_fixture(&f);
    es_sink_free(s);
}

/* ---- Discord ------------------------------------------------------------ */

static void discord_check(yajl_val root)
{
    const char *content = str(root, "content");
    assert_true(units(content) <= 2000);
    yajl_val parse_list = get(root, "allowed_mentions", "parse");
    assert_true(YAJL_IS_ARRAY(parse_list) && parse_list->u.array.len == 0);
    yajl_val embeds = get(root, "embeds", NULL);
    assert_true(YAJL_IS_ARRAY(embeds));
    assert_true(embeds->u.array.len >= 1 && embeds->u.array.len <= 10);
    size_t total = 0;
    for (size_t i = 0; i < embeds->u.array.len; i++) {
        yajl_val e = embeds->u.array.values[i];
        const char *title = str(e, "title");
        const char *desc = str(e, "description");
        assert_true(units(title) <= 256);
        assert_true(units(desc) <= 4096);
        total += units(title) + units(desc);
        yajl_val fields = get(e, "fields", NULL);
        assert_true(YAJL_IS_ARRAY(fields) && fields->u.array.len <= 25);
        for (size_t j = 0; j < fields->u.array.len; j++) {
            const char *name = str(fields->u.array.values[j], "name");
            const char *value = str(fields->u.array.values[j], "value");
            assert_true(units(name) >= 1 && units(name) <= 256);
            assert_true(units(value) >= 1 && units(value) <= 1024);
            total += units(name) + units(value);
        }
    }
    assert_true(total <= 6000);
}

static void test_discord(void **state)
{
    (void)state;
    es_sink_kv sec[] = {{"url", "https://discord.com/api/webhooks/1/tok"}};
    es_sink_kv kv[] = {{"username", "earshot"}};
    es_sink *s = mk("discord", kv, 1, sec, 1);
    fixture f;
    make_fixture(&f, 1, 3);
    es_sink_request req;
    build(s, &f.n, &req);
    assert_string_equal(req.url.data, "https://discord.com/api/webhooks/1/tok?wait=true");
    yajl_val root = parse(&req.body);
    discord_check(root);
    assert_string_equal(str(root, "username"), "earshot");
    /* No live @everyone anywhere, and markdown links are defused. */
    assert_null(strstr(req.body.data, "@everyone"));
    assert_null(strstr(req.body.data, "[x](http"));
    yajl_val e0 = get(root, "embeds", NULL)->u.array.values[0];
    yajl_val fields = get(e0, "fields", NULL);
    const char *v = str(fields->u.array.values[2], "value");
    assert_true(ends_with(v, "\nhttps://x.example/1?a=1&b=2"));
    assert_non_null(strstr(v, "\xE2\x80\xA6\n"));
    yajl_tree_free(root);
    es_sink_request_free(&req);

    free_fixture(&f);
    make_fixture(&f, 12, 6);
    build(s, &f.n, &req);
    root = parse(&req.body);
    discord_check(root);
    assert_int_equal(get(root, "embeds", NULL)->u.array.len <= 10, 1);
    yajl_tree_free(root);
    es_sink_request_free(&req);
    free_fixture(&f);
    es_sink_free(s);
}

/* Discord's 429 JSON says when to come back; it holds the whole sink. */
static void test_discord_rate_limit(void **state)
{
    (void)state;
    es_sink_kv sec[] = {{"url", "https://discord.com/api/webhooks/1/tok?thread_id=9"}};
    es_sink *s = mk("discord", NULL, 0, sec, 1);
    const char *body = "{\"message\": \"You are being rate limited.\", \"retry_after\": 1.5, "
                       "\"global\": false, \"code\": 0}";
    es_sink_response r = {.status = 429, .body = body, .body_len = strlen(body), .now_ms = T0};
    es_sink_result res;
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_int_equal(res.not_before_ms, T0 + 1500);
    assert_true(res.sink_wide);
    r = (es_sink_response){.status = 200, .body = "{}", .body_len = 2, .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);
    es_sink_free(s);
}

/* ---- Teams, Mattermost -------------------------------------------------- */

static void test_teams(void **state)
{
    (void)state;
    es_sink_kv sec[] = {{"url", "https://prod-1.westeurope.logic.azure.com/workflows/x"}};
    es_sink *s = mk("teams", NULL, 0, sec, 1);
    fixture f;
    make_fixture(&f, 12, 6);
    es_sink_request req;
    build(s, &f.n, &req);
    yajl_val root = parse(&req.body);
    assert_string_equal(str(root, "type"), "message");
    yajl_val att = get(root, "attachments", NULL);
    assert_true(YAJL_IS_ARRAY(att) && att->u.array.len == 1);
    yajl_val a = att->u.array.values[0];
    assert_string_equal(str(a, "contentType"), "application/vnd.microsoft.card.adaptive");
    assert_true(YAJL_IS_NULL(get(a, "contentUrl", NULL)));
    yajl_val card = get(a, "content", NULL);
    assert_string_equal(str(card, "type"), "AdaptiveCard");
    assert_string_equal(str(card, "version"), "1.4");
    assert_string_equal(str(card, "$schema"), "http://adaptivecards.io/schemas/adaptive-card.json");
    yajl_val body = get(card, "body", NULL);
    assert_true(YAJL_IS_ARRAY(body) && body->u.array.len > 3);
    assert_string_equal(str(body->u.array.values[0], "type"), "TextBlock");
    assert_non_null(strstr(str(body->u.array.values[0], "text"), "acme: 300 complaint alerts"));
    yajl_val actions = get(card, "actions", NULL);
    assert_true(YAJL_IS_ARRAY(actions) && actions->u.array.len >= 1 && actions->u.array.len <= 5);
    assert_string_equal(str(actions->u.array.values[0], "url"), "https://x.example/1?a=1&b=2");
    /* Teams drops messages over about 28 KB. */
    assert_true(req.body.len < 28 * 1024);
    /* An injected markdown link is escaped, not rendered. */
    assert_null(strstr(req.body.data, "[x](http"));
    yajl_tree_free(root);
    es_sink_request_free(&req);
    free_fixture(&f);
    es_sink_free(s);

    /* 202 Accepted is success for a Workflows URL. */
    s = mk("teams", NULL, 0, sec, 1);
    es_sink_response r = {.status = 202, .body = "", .now_ms = T0};
    es_sink_result res;
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);
    es_sink_free(s);
}

static void test_mattermost(void **state)
{
    (void)state;
    es_sink_kv kv[] = {{"channel", "town-square"},
                       {"priority", "urgent"},
                       {"requested_ack", "true"},
                       {"username", "earshot"}};
    es_sink_kv sec[] = {{"url", "https://mm.example/hooks/abc"}};
    es_sink *s = mk("mattermost", kv, 4, sec, 1);
    fixture f;
    make_fixture(&f, 12, 6);
    es_sink_request req;
    build(s, &f.n, &req);
    yajl_val root = parse(&req.body);
    const char *text = str(root, "text");
    assert_true(units(text) <= 12000); /* server default limit 16,383 */
    assert_true(strncmp(text, "#### acme: 300 complaint alerts", 31) == 0);
    assert_null(strstr(text, "@everyone"));
    assert_string_equal(str(root, "channel"), "town-square");
    assert_string_equal(str(root, "username"), "earshot");
    assert_string_equal(YAJL_GET_STRING(get(root, "priority", "priority")), "urgent");
    assert_true(YAJL_IS_TRUE(get(root, "priority", "requested_ack")));
    assert_non_null(strstr(text, "](https://x.example/1?a=1&b=2)"));
    yajl_tree_free(root);
    es_sink_request_free(&req);
    free_fixture(&f);
    es_sink_free(s);
}

/* ---- PagerDuty ---------------------------------------------------------- */

static void test_pagerduty(void **state)
{
    (void)state;
    es_sink_kv sec[] = {{"routing_key", "0123456789abcdef0123456789abcdef"}};
    es_sink *s = mk("pagerduty", NULL, 0, sec, 1);
    fixture f;
    make_fixture(&f, 1, 2);
    f.alerts[0].severity = ES_SEV_CRITICAL;
    f.n.group = NULL; /* a lone alert: dedup on its fingerprint */
    es_sink_request req;
    build(s, &f.n, &req);
    assert_string_equal(req.url.data, "https://events.pagerduty.com/v2/enqueue");
    yajl_val root = parse(&req.body);
    assert_string_equal(str(root, "routing_key"), "0123456789abcdef0123456789abcdef");
    assert_string_equal(str(root, "event_action"), "trigger");
    assert_string_equal(str(root, "dedup_key"), "earshot/acme/complaint/1234");
    yajl_val p = get(root, "payload", NULL);
    assert_true(units(str(p, "summary")) <= 1024);
    assert_string_equal(str(p, "severity"), "critical");
    assert_string_equal(str(p, "source"), "earshot");
    assert_string_equal(str(p, "timestamp"), "2015-02-24T13:55:52Z");
    assert_string_equal(str(p, "component"), "acme");
    assert_string_equal(str(p, "class"), "complaint");
    yajl_val cd = get(p, "custom_details", NULL);
    assert_true(YAJL_IS_INTEGER(get(cd, "count", NULL)));
    assert_true(YAJL_IS_ARRAY(get(cd, "alerts", NULL)));
    yajl_val links = get(root, "links", NULL);
    assert_true(YAJL_IS_ARRAY(links) && links->u.array.len == 2);
    assert_string_equal(str(links->u.array.values[0], "href"), "https://x.example/1?a=1&b=2");
    assert_true(req.body.len < 512 * 1024);
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* A summary with a 3-byte character exactly at the 1,024 cut. */
    char sum[1100];
    memset(sum, 'x', 1022);
    strcpy(sum + 1022, "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC");
    f.alerts[0].summary = sum;
    build(s, &f.n, &req);
    root = parse(&req.body);
    const char *summary = str(get(root, "payload", NULL), "summary");
    assert_int_equal(units(summary), 1024);
    assert_true(ends_with(summary, "x\xE2\x82\xAC\xE2\x80\xA6"));
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* Severity mapping, and resolve / acknowledge with the same key and no
     * payload. */
    const char *want[] = {"info", "warning", "critical"};
    for (int sev = 0; sev < 3; sev++) {
        f.alerts[0].severity = (es_severity)sev;
        build(s, &f.n, &req);
        root = parse(&req.body);
        assert_string_equal(str(get(root, "payload", NULL), "severity"), want[sev]);
        yajl_tree_free(root);
        es_sink_request_free(&req);
    }
    f.alerts[0].resolved = true;
    build(s, &f.n, &req);
    root = parse(&req.body);
    assert_string_equal(str(root, "event_action"), "resolve");
    assert_string_equal(str(root, "dedup_key"), "earshot/acme/complaint/1234");
    assert_null(get(root, "payload", NULL));
    yajl_tree_free(root);
    es_sink_request_free(&req);
    f.alerts[0].resolved = false;
    f.n.action = ES_NOTIFY_ACKNOWLEDGE;
    build(s, &f.n, &req);
    root = parse(&req.body);
    assert_string_equal(str(root, "event_action"), "acknowledge");
    assert_string_equal(str(root, "dedup_key"), "earshot/acme/complaint/1234");
    yajl_tree_free(root);
    es_sink_request_free(&req);
    f.n.action = ES_NOTIFY_AUTO;

    /* Long groups: <= 255 bytes, cut on a character, and still distinct. */
    char g1[400], g2[400];
    memset(g1, 0, sizeof g1);
    for (size_t i = 0; i + 3 <= 300; i += 3) {
        memcpy(g1 + i, "\xC3\xA9/", 3);
    }
    memcpy(g2, g1, sizeof g1);
    g2[298] = 'Z';
    char k1[256], k2[256];
    f.n.group = g1;
    assert_int_equal(es__pagerduty_dedup_key(&f.n, k1), 0);
    f.n.group = g2;
    assert_int_equal(es__pagerduty_dedup_key(&f.n, k2), 0);
    assert_true(strlen(k1) <= 255 && strlen(k2) <= 255);
    assert_string_not_equal(k1, k2);
    build(s, &f.n, &req);
    root = parse(&req.body);
    assert_true(strlen(str(root, "dedup_key")) <= 255);
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* 400 never succeeds; 429 holds the sink; 5xx retries. */
    es_sink_result res;
    es_sink_response r = {
        .status = 400, .body = "{\"status\":\"invalid event\"}", .body_len = 26, .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_PERMANENT);
    assert_non_null(strstr(res.error, "invalid event"));
    r = (es_sink_response){.status = 429, .body = "", .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_true(res.sink_wide);
    r = (es_sink_response){.status = 202, .body = "", .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);
    free_fixture(&f);
    es_sink_free(s);

    /* The severity.critical option maps critical to PagerDuty's "error". */
    es_sink_kv kv[] = {{"severity.critical", "error"}};
    s = mk("pagerduty", kv, 1, sec, 1);
    make_fixture(&f, 1, 0);
    f.alerts[0].severity = ES_SEV_CRITICAL;
    build(s, &f.n, &req);
    root = parse(&req.body);
    assert_string_equal(str(get(root, "payload", NULL), "severity"), "error");
    yajl_tree_free(root);
    es_sink_request_free(&req);
    free_fixture(&f);
    es_sink_free(s);
}

/* ---- Webhook ------------------------------------------------------------ */

static const char *header_value(const es_sink_request *req, const char *name, char *out,
                                size_t size)
{
    char want[128];
    snprintf(want, sizeof want, "%s: ", name);
    const char *p = strstr(req->headers.data, want);
    if (p == NULL) {
        return NULL;
    }
    p += strlen(want);
    size_t n = strcspn(p, "\n");
    snprintf(out, size, "%.*s", (int)n, p);
    return out;
}

/* The signature as a receiver computes it, with OpenSSL's one-shot HMAC
 * and base64 rather than the code under test. */
static void expect_signature(const es_sink_request *req, const unsigned char *key, int key_len)
{
    char id[128], ts[32], sig[128];
    assert_non_null(header_value(req, "webhook-id", id, sizeof id));
    assert_non_null(header_value(req, "webhook-timestamp", ts, sizeof ts));
    assert_non_null(header_value(req, "webhook-signature", sig, sizeof sig));
    size_t n = strlen(id) + strlen(ts) + req->body.len + 2;
    char *msg = malloc(n + 1);
    snprintf(msg, n + 1, "%s.%s.%s", id, ts, req->body.data);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key, key_len, (const unsigned char *)msg, n, mac, &mac_len);
    assert_int_equal(mac_len, 32);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, mac, 32);
    char want[80];
    snprintf(want, sizeof want, "v1,%s", b64);
    assert_string_equal(sig, want);
    free(msg);
}

static void test_webhook(void **state)
{
    (void)state;
    es_sink_kv kv[] = {{"url", "https://receiver.example/hook"},
                       {"headers", "X-Team: social"},
                       {"headers", "Authorization: Bearer t0k"}};
    es_sink_kv sec[] = {{"secret", "raw-secret-bytes"}};
    es_sink *s = mk("webhook", kv, 3, sec, 1);
    fixture f;
    make_fixture(&f, 3, 2);
    es_sink_request req;
    build(s, &f.n, &req);
    char v[128];
    assert_string_equal(header_value(&req, "webhook-id", v, sizeof v), f.n.key);
    assert_string_equal(header_value(&req, "webhook-timestamp", v, sizeof v), "1424786212");
    expect_signature(&req, (const unsigned char *)"raw-secret-bytes", 16);
    assert_true(has_header(&req, "X-Team: social"));
    assert_true(has_header(&req, "Authorization: Bearer t0k"));

    /* The body is the contract's notification: labels beside "alerts". */
    yajl_val root = parse(&req.body);
    assert_string_equal(str(root, "key"), f.n.key);
    assert_string_equal(str(root, "group"), "acme/complaint");
    assert_string_equal(str(root, "status"), "firing");
    assert_string_equal(str(root, "topic"), "acme");
    assert_string_equal(str(root, "kind"), "complaint");
    assert_int_equal(YAJL_GET_INTEGER(get(root, "count", NULL)), 300);
    yajl_val alerts = get(root, "alerts", NULL);
    assert_true(YAJL_IS_ARRAY(alerts) && alerts->u.array.len == 3);
    yajl_val a0 = alerts->u.array.values[0];
    assert_int_equal(strlen(str(a0, "id")), 26);
    assert_string_equal(str(a0, "fingerprint"), "acme/complaint/1234");
    assert_string_equal(str(a0, "at"), "2015-02-24T13:55:52Z");
    yajl_tree_free(root);

    /* Retrying the same notification later: same id, fresh timestamp,
     * still a valid signature. */
    f.n.sent_ms += 90000;
    es_sink_request_free(&req);
    build(s, &f.n, &req);
    assert_string_equal(header_value(&req, "webhook-id", v, sizeof v), f.n.key);
    assert_string_equal(header_value(&req, "webhook-timestamp", v, sizeof v), "1424786302");
    expect_signature(&req, (const unsigned char *)"raw-secret-bytes", 16);
    es_sink_request_free(&req);
    es_sink_free(s);

    /* A whsec_ secret is base64 of the key bytes. */
    unsigned char key[24];
    for (size_t i = 0; i < sizeof key; i++) {
        key[i] = (unsigned char)(i * 37 + 1);
    }
    unsigned char b64[64];
    EVP_EncodeBlock(b64, key, sizeof key);
    char whsec[80];
    snprintf(whsec, sizeof whsec, "whsec_%s", b64);
    es_sink_kv sec2[] = {{"secret", whsec}};
    s = mk("webhook", kv, 3, sec2, 1);
    build(s, &f.n, &req);
    expect_signature(&req, key, sizeof key);
    es_sink_request_free(&req);
    es_sink_free(s);
    free_fixture(&f);
}

/* What the spool stores reads back into the same notification, byte for
 * byte, alert ids included. */
static void test_notification_round_trip(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 3, 2);
    f.alerts[1].at_ms = T0 + 1234; /* sub-second: the id must survive */
    f.alerts[2].resolved = true;
    es_buf a, b;
    es_buf_init(&a, 1 << 24);
    es_buf_init(&b, 1 << 24);
    assert_int_equal(es_notification_to_json(&f.n, &a), 0);
    es_notification_doc doc;
    es_error err = {0};
    assert_int_equal(es_notification_parse(a.data, a.len, &doc, &err), 0);
    assert_int_equal(doc.n.n_alerts, 3);
    assert_int_equal(es_notification_count(&doc.n), 300);
    assert_string_equal(doc.n.key, f.n.key);
    assert_string_equal(doc.n.group, "acme/complaint");
    assert_int_equal(doc.n.n_labels, 3);
    assert_true(doc.n.alerts[2].resolved);
    assert_int_equal(doc.n.alerts[0].kind, ES_ALERT_COMPLAINT);
    assert_int_equal(doc.n.alerts[0].n_mentions, 2);
    assert_string_equal(doc.n.alerts[0].details_json,
                        "{\"complaint\":0.91,\"sentiment\":{\"compound\":-0.5423},"
                        "\"followers\":120}");
    assert_int_equal(es_notification_to_json(&doc.n, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    es_notification_doc_free(&doc);

    /* Damaged input is an error with a reason, not a crash. */
    assert_int_equal(es_notification_parse("{\"key\":\"k\"}", 11, &doc, &err), ES_EFIELD);
    assert_non_null(strstr(err.msg, "alerts"));
    assert_int_equal(es_notification_parse("{\"key\":", 7, &doc, &err), ES_EJSON);
    const char *bad = "{\"key\":\"k\",\"alerts\":[{\"kind\":\"nope\"}]}";
    assert_int_equal(es_notification_parse(bad, strlen(bad), &doc, &err), ES_EFIELD);
    assert_non_null(strstr(err.msg, "kind"));
    es_buf_free(&a);
    es_buf_free(&b);
    free_fixture(&f);
}

/* ---- SMTP --------------------------------------------------------------- */

/* Decode one quoted-printable part (up to the next boundary). */
static char *qp_decode(const char *s, const char *end)
{
    char *out = malloc((size_t)(end - s) + 1);
    size_t o = 0;
    while (s < end) {
        if (s[0] == '=' && s + 2 < end && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=' && s + 2 < end) {
            char hex[3] = {s[1], s[2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            s += 3;
        } else if (s[0] == '\r' && s + 1 < end && s[1] == '\n') {
            out[o++] = '\n';
            s += 2;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

static void test_smtp(void **state)
{
    (void)state;
    es_sink_kv kv[] = {{"url", "smtp://mail.example:587"},
                       {"from", "earshot <alerts@acme.example>"},
                       {"to", "oncall@acme.example"},
                       {"to", "Duty Manager <duty@acme.example>"},
                       {"username", "alerts"}};
    es_sink_kv sec[] = {{"password", "hunter2"}};
    es_sink *s = mk("smtp", kv, 5, sec, 1);
    fixture f;
    make_fixture(&f, 2, 2);
    f.alerts[0].summary = "acme: gro\xC3\x9F\x65r \xC3\x84rger <script>";
    f.n.count = 0;
    f.labels[0].value = "acm\xC3\xA9";
    es_sink_request req;
    build(s, &f.n, &req);
    assert_int_equal(req.kind, ES_SINK_REQ_SMTP);
    assert_string_equal(req.url.data, "smtp://mail.example:587");
    assert_string_equal(req.mail_from, "alerts@acme.example");
    assert_string_equal(req.rcpt.data, "oncall@acme.example\nduty@acme.example\n");
    assert_true(req.starttls);
    assert_string_equal(req.username, "alerts");
    assert_string_equal(req.password, "hunter2");

    const char *m = req.body.data;
    assert_true(strncmp(m, "Date: Tue, 24 Feb 2015 13:56:52 +0000\r\n", 39) == 0);
    assert_non_null(strstr(m, "\r\nFrom: earshot <alerts@acme.example>\r\n"));
    assert_non_null(
        strstr(m, "\r\nTo: oncall@acme.example,\r\n Duty Manager <duty@acme.example>\r\n"));
    assert_non_null(strstr(m, "\r\nMessage-ID: <01HZX3N5WJ8Q6V2C7D9E0F1G2H."));
    assert_non_null(strstr(m, "\r\nReferences: <acme_complaint."));
    assert_non_null(strstr(m, "\r\nAuto-Submitted: auto-generated\r\n"));
    assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
    /* Non-ASCII subject: RFC 2047 encoded words only. */
    const char *subj = strstr(m, "\r\nSubject: ");
    assert_non_null(subj);
    assert_true(strncmp(subj + 11, "=?UTF-8?B?", 10) == 0);

    /* Every line ends in CRLF and is at most 78 characters. */
    size_t line = 0;
    for (const char *p = m; *p != '\0'; p++) {
        if (*p == '\n') {
            assert_true(p > m && p[-1] == '\r');
            line = 0;
        } else if (*p != '\r') {
            line++;
            assert_true(line <= 78);
        }
    }
    assert_true(ends_with(m, "--\r\n"));

    /* Two parts, text then HTML, both quoted-printable. */
    const char *bpos = strstr(m, "boundary=\"");
    assert_non_null(bpos);
    char boundary[64];
    snprintf(boundary, sizeof boundary, "\r\n--%.*s", (int)strcspn(bpos + 10, "\""), bpos + 10);
    const char *p1 = strstr(m, boundary);
    assert_non_null(p1);
    const char *p2 = strstr(p1 + 1, boundary);
    assert_non_null(p2);
    assert_non_null(strstr(p1, "Content-Type: text/plain; charset=UTF-8"));
    const char *h2 = strstr(p2, "Content-Type: text/html; charset=UTF-8");
    assert_non_null(h2);
    const char *end = strstr(p2 + 1, boundary);
    assert_non_null(end);
    char *text = qp_decode(strstr(p1, "\r\n\r\n") + 4, p2);
    char *html = qp_decode(strstr(p2, "\r\n\r\n") + 4, end);
    assert_non_null(strstr(text, "acme: gro\xC3\x9F\x65r \xC3\x84rger <script>"));
    assert_non_null(strstr(text, "\xE2\x80\xA6\" - @jdoe\n  https://x.example/1?a=1&b=2"));
    assert_non_null(strstr(html, "gro\xC3\x9F\x65r \xC3\x84rger &lt;script&gt;"));
    assert_null(strstr(html, "<script>"));
    assert_non_null(strstr(html, "<a href=\"https://x.example/1?a=1&amp;b=2\">@jdoe</a>"));
    assert_true(ends_with(html, "</body></html>\n"));
    /* Quoted text is cut within its 2,000 characters, never mid-character. */
    const char *q = strstr(text, "\n  \"");
    assert_non_null(q);
    size_t qn = strcspn(q + 4, "\"");
    char *quote = strndup(q + 4, qn);
    assert_true(units(quote) <= 2000);
    free(quote);
    free(text);
    free(html);
    es_sink_request_free(&req);

    /* 5xx from the server is permanent, 4xx and no connection retry. */
    es_sink_result res;
    es_sink_response r = {.transport = ES_EIO, .status = 550, .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_PERMANENT);
    r = (es_sink_response){.transport = ES_EIO, .status = 451, .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    r = (es_sink_response){.transport = 0, .status = 250, .now_ms = T0};
    es_sink_classify(s, &r, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);
    free_fixture(&f);
    es_sink_free(s);
}

/* ---- Options ------------------------------------------------------------ */

static void expect_config_error(const char *type, const es_sink_kv *kv, size_t n,
                                const es_sink_kv *sec, size_t ns, const char *needle)
{
    es_sink_opts o = {.kv = kv, .n_kv = n, .secrets = sec, .n_secrets = ns};
    es_sink *s = NULL;
    es_error err = {0};
    assert_int_equal(es_sink_new("team-chat", type, &o, &s, &err), ES_ECONFIG);
    assert_null(s);
    if (strstr(err.msg, needle) == NULL) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    }
    assert_non_null(strstr(err.msg, needle));
    assert_non_null(strstr(err.msg, "team-chat"));
}

static void test_options(void **state)
{
    (void)state;
    es_sink_kv url[] = {{"url", "https://hooks.slack.com/services/x"}};
    es_sink_kv unknown[] = {{"url", "https://hooks.slack.com/services/x"}, {"colour", "red"}};
    es_sink_kv badrate[] = {{"url", "https://hooks.slack.com/services/x"}, {"rate", "fast"}};
    es_sink_kv key_in_file[] = {{"routing_key", "0123456789abcdef0123456789abcdef"}};
    es_sink_kv shortkey[] = {{"routing_key", "abc"}};
    expect_config_error("slack", unknown, 2, NULL, 0, "'colour'");
    expect_config_error("slack", badrate, 2, NULL, 0, "'rate'");
    expect_config_error("slack", NULL, 0, NULL, 0, "'url'");
    expect_config_error("pagerduty", key_in_file, 1, NULL, 0, "routing_key_env");
    expect_config_error("pagerduty", NULL, 0, shortkey, 1, "32-character");
    expect_config_error("carrier-pigeon", NULL, 0, NULL, 0, "carrier-pigeon");
    es_sink_kv forged[] = {{"url", "https://r.example/"}, {"headers", "webhook-id: x"}};
    expect_config_error("webhook", forged, 2, NULL, 0, "'headers'");
    es_sink_kv exec_missing[] = {{"command", "/nonexistent/program"}};
    expect_config_error("exec", exec_missing, 1, NULL, 0, "/nonexistent/program");

    /* Defaults: Slack ~1/s, PagerDuty 120/min, overridable. */
    es_sink *s = mk("slack", url, 1, NULL, 0);
    assert_true(es_bucket_take(&s->bucket, T0));
    assert_false(es_bucket_take(&s->bucket, T0 + 999));
    assert_true(es_bucket_take(&s->bucket, T0 + 1000));
    assert_int_equal(s->timeout_ms, 10000);
    assert_int_equal(s->max_attempts, 12);
    es_sink_free(s);
    es_sink_kv fast[] = {{"url", "https://hooks.slack.com/services/x"},
                         {"rate", "10/s"},
                         {"burst", "3"},
                         {"timeout", "2s"},
                         {"max_attempts", "4"}};
    s = mk("slack", fast, 5, NULL, 0);
    assert_true(es_bucket_take(&s->bucket, T0));
    assert_true(es_bucket_take(&s->bucket, T0));
    assert_true(es_bucket_take(&s->bucket, T0));
    assert_false(es_bucket_take(&s->bucket, T0));
    assert_int_equal(es_bucket_ready_at(&s->bucket, T0), T0 + 100);
    assert_int_equal(s->timeout_ms, 2000);
    assert_int_equal(s->max_attempts, 4);
    es_sink_free(s);
    es_sink_kv pd[] = {{"routing_key", "0123456789abcdef0123456789abcdef"}};
    s = mk("pagerduty", NULL, 0, pd, 1);
    assert_true(es_bucket_take(&s->bucket, T0));
    assert_int_equal(es_bucket_ready_at(&s->bucket, T0), T0 + 500);
    es_sink_free(s);

    /* Every type documents every option. */
    for (const struct es_sink_type *const *t = es_sink_types(); *t != NULL; t++) {
        assert_ptr_equal(es_sink_type_find((*t)->name), *t);
        for (const es_sink_option *o = (*t)->options; o->name != NULL; o++) {
            assert_non_null(o->help);
        }
    }
}

/* ---- Local sinks -------------------------------------------------------- */

static void test_file_sink(void **state)
{
    (void)state;
    char dir[] = "/tmp/es_sinkfile_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], rotated[128];
    snprintf(path, sizeof path, "%s/alerts.ndjson", dir);
    snprintf(rotated, sizeof rotated, "%s/alerts.ndjson.1", dir);
    es_sink_kv kv[] = {{"path", path}};
    es_sink *s = mk("file", kv, 1, NULL, 0);
    fixture f;
    make_fixture(&f, 3, 1);
    es_sink_request req;
    es_sink_result res;
    build(s, &f.n, &req);
    assert_int_equal(req.kind, ES_SINK_REQ_LOCAL);
    s->type->perform(s->state, &req, 1000, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);

    /* Rotate: rename, reopen, write again. */
    assert_int_equal(rename(path, rotated), 0);
    assert_int_equal(es_sink_reopen(s), 0);
    f.n.n_alerts = 1;
    es_sink_request_free(&req);
    build(s, &f.n, &req);
    s->type->perform(s->state, &req, 1000, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);

    FILE *fp = fopen(rotated, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, fp) > 0) {
        es_buf b = {line, strlen(line), cap, cap};
        yajl_val v = parse(&b);
        assert_string_equal(str(v, "kind"), "complaint");
        /* The contract's alert caps mention text at 1,000 bytes. */
        yajl_val ms = get(v, "mentions", NULL);
        assert_true(strlen(str(ms->u.array.values[0], "text")) <= 1003);
        yajl_tree_free(v);
        lines++;
    }
    fclose(fp);
    assert_int_equal(lines, 3); /* never grouped: one alert per line */
    fp = fopen(path, "r");
    assert_non_null(fp);
    lines = 0;
    while (getline(&line, &cap, fp) > 0) {
        lines++;
    }
    fclose(fp);
    assert_int_equal(lines, 1);
    free(line);
    es_sink_request_free(&req);
    es_sink_free(s);
    free_fixture(&f);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_exec_sink(void **state)
{
    (void)state;
    char dir[] = "/tmp/es_sinkexec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[128], script[256];
    snprintf(out, sizeof out, "%s/stdin.txt", dir);
    /* The program is run directly; the argv here happens to be sh. Text in
     * the alert (quotes, $(...), ;) reaches it only on stdin. */
    snprintf(script, sizeof script, "cat > '%s'", out);
    es_sink_kv kv[] = {{"command", "sh"}, {"command", "-c"}, {"command", script}};
    es_sink *s = mk("exec", kv, 3, NULL, 0);
    fixture f;
    make_fixture(&f, 2, 1);
    f.alerts[0].summary = "$(touch /tmp/pwned); rm -rf / \"'";
    es_sink_request req;
    es_sink_result res;
    build(s, &f.n, &req);
    s->type->perform(s->state, &req, 5000, &res);
    assert_int_equal(res.verdict, ES_SINK_DELIVERED);
    size_t len;
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    char *got = malloc(req.body.len + 1);
    len = fread(got, 1, req.body.len + 1, fp);
    fclose(fp);
    assert_int_equal(len, req.body.len);
    assert_memory_equal(got, req.body.data, len);
    free(got);
    es_sink_request_free(&req);
    es_sink_free(s);

    /* A failing program is retried with its status and output. */
    es_sink_kv fail[] = {{"command", "sh"}, {"command", "-c"}, {"command", "echo nope; exit 3"}};
    s = mk("exec", fail, 3, NULL, 0);
    build(s, &f.n, &req);
    s->type->perform(s->state, &req, 5000, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_non_null(strstr(res.error, "status 3"));
    assert_non_null(strstr(res.error, "nope"));
    es_sink_request_free(&req);
    es_sink_free(s);

    /* A program that hangs (and ignores its stdin) is killed at the timeout. */
    es_sink_kv hang[] = {{"command", "sleep"}, {"command", "30"}};
    s = mk("exec", hang, 2, NULL, 0);
    build(s, &f.n, &req);
    int64_t t = mono_ms();
    s->type->perform(s->state, &req, 300, &res);
    int64_t took = mono_ms() - t;
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_non_null(strstr(res.error, "timed out"));
    assert_true(took >= 300 && took < 5000);
    es_sink_request_free(&req);
    es_sink_free(s);
    free_fixture(&f);
    unlink(out);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncation_boundaries),
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_discord),
        cmocka_unit_test(test_discord_rate_limit),
        cmocka_unit_test(test_teams),
        cmocka_unit_test(test_mattermost),
        cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_notification_round_trip),
        cmocka_unit_test(test_smtp),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_file_sink),
        cmocka_unit_test(test_exec_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
