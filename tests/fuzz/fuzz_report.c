/*
 * Fuzz the backfill report: arbitrary mentions and alerts (text, authors,
 * URLs, summaries, times, counts) through the collector and the HTML
 * writer. Whatever the input, the page must hold only the elements the
 * writer itself makes, properly nested, with no event-handler attribute,
 * no link other than http(s) or an in-page anchor, and valid UTF-8: input
 * text can never become markup.
 *
 * Input: records separated by 0x1E; in each, fields separated by 0x1F:
 * control bytes (what the record is, its time, counts, sentiment), text,
 * author, URL, and (for alerts) the fingerprint.
 */
#include "earshot.h"
#include "earshot/intent.h"
#include "earshot/topics.h"
#include "pipeline.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 64

static es_topics *topics;

static void init_topics(void)
{
    if (topics != NULL) {
        return;
    }
    const es_topic_def defs[] = {
        {.name = "acme", .query = "acme"},
        {.name = "globex", .query = "globex", .competitor = true},
    };
    es_error err;
    if (es_topics_compile(defs, 2, &topics, &err) != 0) {
        __builtin_trap();
    }
}

static const char *const ALLOWED[] = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "h1", "h2",
    "h3", "p", "section", "nav", "ul", "ol", "li", "b", "i", "a", "span", "div", "table",
    "thead", "tbody", "tr", "th", "td", "svg", "g", "line", "rect", "path", "text", "circle"};

static bool allowed(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
        if (strlen(ALLOWED[i]) == n && strncmp(ALLOWED[i], name, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool valid_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = p[i] < 0x80 ? 1 : (p[i] >> 5) == 6 ? 2 : (p[i] >> 4) == 14 ? 3
                                                         : (p[i] >> 3) == 30 ? 4
                                                                             : 0;
        if (k == 0 || i + k > n) {
            return false;
        }
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += k;
    }
    return true;
}

/* The structural property; traps on the first violation. */
static void check_page(const char *html, size_t len)
{
    if (!valid_utf8((const unsigned char *)html, len) || strlen(html) != len) {
        __builtin_trap();
    }
    char stack[64][16];
    size_t depth = 0;
    const char *p = html;
    while ((p = strchr(p, '<')) != NULL) {
        if (strncmp(p, "<!DOCTYPE html>", 15) == 0) {
            p += 15;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (n == 0 || !allowed(name, n)) {
            __builtin_trap();
        }
        const char *q = name + n;
        char quote = 0;
        while (*q != '\0' && (quote != 0 || *q != '>')) {
            if (quote != 0) {
                quote = *q == quote ? 0 : quote;
            } else if (*q == '"') {
                quote = '"';
            } else if (*q == '<' || *q == '\'') {
                __builtin_trap(); /* the writer quotes every value with '"' */
            } else if (*q == ' ' && (q[1] == 'o' || q[1] == 'O') && (q[2] == 'n' || q[2] == 'N')) {
                __builtin_trap(); /* an event handler attribute */
            }
            q++;
        }
        if (*q == '\0') {
            __builtin_trap();
        }
        const char *href = strstr(name, " href=\"");
        if (href != NULL && href < q && href[7] != '#' && strncmp(href + 7, "http://", 7) != 0 &&
            strncasecmp(href + 7, "https://", 8) != 0 && strncasecmp(href + 7, "http://", 7) != 0) {
            __builtin_trap();
        }
        bool self = q[-1] == '/';
        bool is_void = n == 4 && strncmp(name, "meta", 4) == 0;
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != n ||
                strncmp(stack[depth - 1], name, n) != 0) {
                __builtin_trap();
            }
            depth--;
        } else if (!self && !is_void) {
            if (depth == 64) {
                __builtin_trap();
            }
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
            if (n == 5 && strncmp(name, "style", 5) == 0) {
                q = strstr(q, "</style>") - 1;
            }
        }
        p = q + 1;
    }
    if (depth != 0) {
        __builtin_trap();
    }
}

/* Split `rec` on 0x1F into up to 5 fields. */
static size_t fields(const uint8_t *rec, size_t n, es_str *f)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < 5; i++) {
        if (i == n || rec[i] == 0x1F) {
            f[k++] = (es_str){(const char *)rec + start, i - start};
            start = i + 1;
        }
    }
    for (size_t i = k; i < 5; i++) {
        f[i] = (es_str){NULL, 0};
    }
    return k;
}

static uint8_t byte_at(es_str s, size_t i)
{
    return i < s.len ? (uint8_t)s.ptr[i] : 0;
}

static const char *const CUES[] = {"cancelled", "refund*", "lost my", "still waiting"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_topics();
    es_report *r;
    es_report_opts ro = {.topics = topics};
    if (es_report_new(&ro, &r) != 0) {
        return 0;
    }
    const int64_t base = 1741305600000LL; /* 2025-03-07 */
    size_t start = 0, records = 0;
    for (size_t i = 0; i <= size && records < MAX_RECORDS; i++) {
        if (i < size && data[i] != 0x1E) {
            continue;
        }
        es_str f[5];
        fields(data + start, i - start, f);
        start = i + 1;
        records++;
        es_str ctl = f[0];
        uint8_t what = byte_at(ctl, 0);
        int16_t off = (int16_t)(byte_at(ctl, 1) | byte_at(ctl, 2) << 8);
        int64_t t = byte_at(ctl, 3) == 0xFF
                        ? ES_TIME_UNKNOWN
                        : base + (int64_t)off * 1000 * ((int64_t)1 << (byte_at(ctl, 3) % 36));
        char fp[160];
        snprintf(fp, sizeof fp, "%.*s", (int)(f[4].len < 150 ? f[4].len : 150),
                 f[4].ptr != NULL ? f[4].ptr : "");
        if (what % 4 == 0 || what % 4 == 1) {
            es_mention m;
            es_mention_clear(&m);
            m.text = f[1];
            m.author = f[2];
            m.url = f[3];
            m.created_ms = t;
            m.followers = (int64_t)byte_at(ctl, 4) << (byte_at(ctl, 5) % 40);
            m.reposts = byte_at(ctl, 6) == 0xFF ? ES_COUNT_UNKNOWN : byte_at(ctl, 6);
            /* Both topics, or only one of them (bit 7 picks which). */
            uint32_t ids[2] = {0, 1};
            bool one = (what >> 5) & 1 || what >> 7;
            es_pipeline_result res = {.topics = ids + (what >> 7), .n_topics = one ? 1 : 2};
            res.sentiment.compound = ((double)byte_at(ctl, 7) - 128) / 128.0;
            res.intent.kind = (es_intent_kind)(byte_at(ctl, 8) % 4);
            res.intent.complaint = byte_at(ctl, 9) / 255.0;
            res.intent.nmatches = byte_at(ctl, 10) % 5;
            for (size_t k = 0; k < res.intent.nmatches; k++) {
                res.intent.matches[k].rule = ES_IRULE_CUE;
                res.intent.matches[k].phrase = CUES[(byte_at(ctl, 11) + k) % 4];
            }
            es_report_add_mention(r, &m, &res);
        } else {
            /* The summary is the text; NUL-terminated copies for the alert. */
            char summary[512], topic[16];
            snprintf(summary, sizeof summary, "%.*s", (int)(f[1].len < 500 ? f[1].len : 500),
                     f[1].ptr != NULL ? f[1].ptr : "");
            snprintf(topic, sizeof topic, "%s", what & 0x40 ? "globex" : "acme");
            es_alert_mention am = {.id = {"1", 1}, .author = f[2], .text = f[1], .url = f[3]};
            es_alert a = {
                .kind = (es_alert_kind)(byte_at(ctl, 8) % 5),
                .severity = (es_severity)(byte_at(ctl, 9) % 3),
                .resolved = byte_at(ctl, 10) & 1,
                .topic = what & 0x20 ? NULL : topic,
                .at_ms = t == ES_TIME_UNKNOWN ? base : t,
                .fingerprint = fp,
                .summary = summary,
                .details_json = what & 0x10 ? "{\"followers\":12345,\"posts\":7,\"authors\":5}" : NULL,
                .mentions = &am,
                .n_mentions = what & 0x08 ? 1 : 0,
            };
            es_report_add_alert(r, &a);
        }
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out != NULL) {
        int rc = es_report_write_html(r, out);
        fclose(out);
        if (rc == 0) {
            check_page(buf, len);
        }
        free(buf);
    }
    es_report_free(r);
    return 0;
}
