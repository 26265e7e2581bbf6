/*
 * earshot backfill --report: the HTML report read back without a browser.
 *
 *   - on the examples/ week: one volume chart per topic, a marker for every
 *     spike, surge and viral alert at the x its time gives inside the
 *     chart's range, one table row per alert, the headline naming the wave,
 *     no script, no resource from anywhere, only links to posts, balanced
 *     tags; the same page whatever the input order;
 *   - hostile text, authors and URLs (tests/fixtures/report) shown as text;
 *   - the collector's bounds, through its API: at most 500 points over ten
 *     years, bounded alert tables, the heavy hitter found among 20,000
 *     authors;
 *   - when Debian's chromium is installed, the page renders headless with
 *     no console message at all (the page runs no script, so any message
 *     is a blocked load or a parse problem).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "earshot.h"
#include "earshot/intent.h"
#include "earshot/topics.h"
#include "pipeline.h"
#include "report.h"
#include "testutil.h"
#include "timefmt.h"

#define EXAMPLES ES_TEST_SOURCE_DIR "/examples/"
#define HOSTILE ES_TEST_FIXTURES "/report/"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/es-test-report-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Reading the HTML back                                                     */
/* ------------------------------------------------------------------------ */

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

static size_t count_between(const char *from, const char *to, const char *needle)
{
    size_t n = 0;
    for (const char *p = from; (p = strstr(p, needle)) != NULL && p < to; p += strlen(needle)) {
        n++;
    }
    return n;
}

/* The value of attribute `name` in the tag that starts at `tag`, copied
 * into out (empty if absent). */
static void attr(const char *tag, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    const char *end = strchr(tag, '>');
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", name);
    const char *p = strstr(tag, pat);
    if (p == NULL || end == NULL || p > end) {
        return;
    }
    p += strlen(pat);
    const char *q = strchr(p, '"');
    size_t n = (size_t)(q - p) < cap - 1 ? (size_t)(q - p) : cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static double attr_num(const char *tag, const char *name)
{
    char v[64];
    attr(tag, name, v, sizeof v);
    assert_true(v[0] != '\0');
    return strtod(v, NULL);
}

static int64_t attr_time(const char *tag, const char *name)
{
    char v[64];
    attr(tag, name, v, sizeof v);
    int64_t ms;
    assert_int_equal(es_time_parse(v, strlen(v), &ms), 0);
    return ms;
}

static bool is_void(const char *name, size_t n)
{
    static const char *const v[] = {"meta", "br", "hr", "img", "input", "link", "col",
                                    "area", "base", "wbr", "source"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (strlen(v[i]) == n && strncasecmp(v[i], name, n) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A tiny well-formedness check: every tag is terminated, every element
 * opened is closed in order (void elements and <x/> excepted), no '<'
 * starts anything but a tag, comment or doctype, and <style> holds no
 * markup. Returns NULL or what is wrong, with the byte offset.
 */
static const char *check_balanced(const char *html)
{
    static char why[160];
    char stack[128][24];
    size_t depth = 0;
    const char *p = html;
    while ((p = strchr(p, '<')) != NULL) {
        size_t off = (size_t)(p - html);
        if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
            if (p == NULL) {
                snprintf(why, sizeof why, "unterminated comment at %zu", off);
                return why;
            }
            p += 3;
            continue;
        }
        if (strncasecmp(p, "<!DOCTYPE", 9) == 0) {
            p = strchr(p, '>');
            if (p == NULL) {
                return "unterminated doctype";
            }
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
        if (n == 0 || n >= sizeof stack[0]) {
            snprintf(why, sizeof why, "stray '<' at %zu", off);
            return why;
        }
        const char *q = name + n;
        char quote = 0;
        while (*q != '\0' && (quote != 0 || *q != '>')) {
            if (quote != 0) {
                quote = *q == quote ? 0 : quote;
            } else if (*q == '"' || *q == '\'') {
                quote = *q;
            } else if (*q == '<') {
                snprintf(why, sizeof why, "'<' inside the tag at %zu", off);
                return why;
            }
            q++;
        }
        if (*q == '\0') {
            snprintf(why, sizeof why, "unterminated tag at %zu", off);
            return why;
        }
        bool self = q[-1] == '/';
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != n ||
                strncasecmp(stack[depth - 1], name, n) != 0) {
                snprintf(why, sizeof why, "</%.*s> at %zu closes <%s>", (int)n, name, off,
                         depth ? stack[depth - 1] : "nothing");
                return why;
            }
            depth--;
        } else if (!self && !is_void(name, n)) {
            if (depth == sizeof stack / sizeof stack[0]) {
                return "nesting too deep";
            }
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
            if (n == 5 && strncasecmp(name, "style", 5) == 0) {
                const char *end = strstr(q, "</style>");
                if (end == NULL || memchr(q + 1, '<', (size_t)(end - q - 1)) != NULL) {
                    return "markup inside <style>";
                }
                q = end - 1;
            }
        }
        p = q + 1;
    }
    if (depth != 0) {
        snprintf(why, sizeof why, "<%s> never closed", stack[depth - 1]);
        return why;
    }
    return NULL;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0) {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
        }
        p += n;
    }
    return true;
}

/* Undo the five references the report writes in attribute values. */
static void unescape(const char *s, char *out, size_t cap)
{
    static const char *const ent[][2] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
    size_t k = 0;
    while (*s && k + 1 < cap) {
        bool done = false;
        for (size_t i = 0; i < 5 && !done; i++) {
            if (strncmp(s, ent[i][0], strlen(ent[i][0])) == 0) {
                out[k++] = ent[i][1][0];
                s += strlen(ent[i][0]);
                done = true;
            }
        }
        if (!done) {
            out[k++] = *s++;
        }
    }
    out[k] = '\0';
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return p;
        }
    }
    return NULL;
}

/*
 * Nothing is loaded from anywhere: no tag has a src attribute or is a
 * <script>, <link>, <iframe>, <object> or <embed>; no CSS (in <style> or a
 * style attribute) has url() or @import; every href is an anchor in the
 * page or an http(s) link found verbatim in the input (a post). Text is
 * escaped, so every '<' in the page starts a tag.
 */
static void check_no_resources(const char *html, const char *input)
{
    static const char *const banned[] = {"<script", "<link", "<iframe", "<object", "<embed"};
    size_t links = 0;
    for (const char *p = html; (p = strchr(p, '<')) != NULL; p++) {
        const char *e = strchr(p, '>');
        assert_non_null(e);
        size_t n = (size_t)(e - p) + 1;
        char *tag = strndup(p, n);
        for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
            if (strncasecmp(tag, banned[i], strlen(banned[i])) == 0) {
                fail_msg("resource tag %s", tag);
            }
        }
        if (find_ci(tag, " src=") != NULL || find_ci(tag, "url(") != NULL) {
            fail_msg("tag loads something: %s", tag);
        }
        const char *h = strstr(tag, " href=\"");
        if (h != NULL) {
            char v[1024], raw[1024];
            attr(h, "href", v, sizeof v);
            if (v[0] != '#') {
                unescape(v, raw, sizeof raw);
                if (strncmp(raw, "https://", 8) != 0 && strncmp(raw, "http://", 7) != 0) {
                    fail_msg("href %s is not http(s)", raw);
                }
                /* As the NDJSON input writes it: quotes and backslashes escaped. */
                char json[2048];
                size_t k = 0;
                for (const char *c = raw; *c && k + 2 < sizeof json; c++) {
                    if (*c == '"' || *c == '\\') {
                        json[k++] = '\\';
                    }
                    json[k++] = *c;
                }
                json[k] = '\0';
                if (strstr(input, json) == NULL) {
                    fail_msg("href %s is not a post in the input", raw);
                }
                links++;
            }
        }
        free(tag);
    }
    const char *css = strstr(html, "<style>");
    assert_non_null(css);
    char *style = strndup(css, (size_t)(strstr(css, "</style>") - css));
    assert_null(find_ci(style, "url("));
    assert_null(find_ci(style, "@import"));
    free(style);
    assert_true(links > 0);
}

/* The text between `"key":"` and the next quote, in one NDJSON alert line. */
static bool json_field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    const char *nl = strchr(line, '\n');
    if (p == NULL || (nl != NULL && p > nl)) {
        return false;
    }
    p += strlen(pat);
    const char *q = strchr(p, '"');
    size_t n = (size_t)(q - p) < cap - 1 ? (size_t)(q - p) : cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static char *run_report(const char *config, const char *input, const char *html_path,
                        char **alerts)
{
    const char *argv[] = {"earshot", "backfill", "-c", config, "--report", html_path,
                          input,     NULL};
    char *out, *err;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    if (rc != 0) {
        fail_msg("backfill exited %d: %s", rc, err);
    }
    free(err);
    *alerts = out;
    char *html = es_test_read_file(html_path, NULL);
    assert_non_null(html);
    return html;
}

/* ------------------------------------------------------------------------ */
/* The examples week                                                         */
/* ------------------------------------------------------------------------ */

/* The volume chart of a topic: [start, end) of its <svg>. */
static const char *volume_chart(const char *html, const char *topic, const char **end)
{
    char pat[128];
    snprintf(pat, sizeof pat, "<svg class=\"chart volume\" xmlns=\"http://www.w3.org/2000/svg\" "
                              "data-topic=\"%s\"",
             topic);
    const char *p = strstr(html, pat);
    assert_non_null(p);
    assert_null(strstr(p + 1, pat)); /* exactly one */
    *end = strstr(p, "</svg>");
    assert_non_null(*end);
    return p;
}

static void test_examples_structure(void **state)
{
    (void)state;
    char *alerts;
    char *html = run_report(EXAMPLES "acme.yaml", EXAMPLES "acme-mentions.ndjson",
                            tmp_path("acme.html"), &alerts);
    char *input = es_test_read_file(EXAMPLES "acme-mentions.ndjson", NULL);
    assert_non_null(input);

    const char *bad = check_balanced(html);
    if (bad != NULL) {
        fail_msg("report is not well formed: %s", bad);
    }
    assert_true(valid_utf8(html));
    check_no_resources(html, input);
    assert_non_null(strstr(html, "@media print"));

    /* One volume chart per topic, and no other. */
    assert_int_equal(count(html, "<svg class=\"chart volume\""), 2);
    const char *aend, *gend;
    const char *acme = volume_chart(html, "acme", &aend);
    const char *globex = volume_chart(html, "globex", &gend);
    assert_int_equal(count(html, "<section class=\"topic\""), 2);
    /* Brand and competitor side by side. */
    assert_non_null(strstr(html, "<svg class=\"chart compare\""));
    assert_non_null(strstr(html, "<span class=\"badge competitor\">competitor</span>"));

    /* Every spike, surge and viral alert has its marker in its topic's
     * chart, at the x its time gives inside the chart's range; the alerts
     * table has one row per alert. */
    size_t episodes = 0, complaints = 0, markers[2] = {0, 0};
    char surge_end[16] = "";
    for (const char *line = alerts; *line; line = strchr(line, '\n') + 1) {
        char kind[32], status[16], topic[32], at[40];
        assert_true(json_field(line, "kind", kind, sizeof kind));
        assert_true(json_field(line, "status", status, sizeof status));
        assert_true(json_field(line, "at", at, sizeof at));
        if (!json_field(line, "topic", topic, sizeof topic)) {
            topic[0] = '\0';
        }
        if (strcmp(kind, "complaint") == 0) {
            complaints++;
            continue;
        }
        episodes++;
        char row[160];
        snprintf(row, sizeof row, "<tr class=\"alert\" data-kind=\"%s\" data-at=\"%s\" "
                                  "data-status=\"%s\">",
                 kind, at, status);
        assert_non_null(strstr(html, row));
        if (strcmp(kind, "negative_surge") == 0 && strcmp(status, "resolved") == 0 &&
            strcmp(topic, "acme") == 0) {
            memcpy(surge_end, at + 11, 5); /* HH:MM */
        }
        if (strcmp(status, "firing") != 0) {
            continue;
        }
        bool is_acme = strcmp(topic, "acme") == 0;
        assert_true(is_acme || strcmp(topic, "globex") == 0);
        const char *from = is_acme ? acme : globex, *to = is_acme ? aend : gend;
        markers[is_acme ? 0 : 1]++;
        char pat[160];
        snprintf(pat, sizeof pat, "data-kind=\"%s\" data-at=\"%s\"", kind, at);
        const char *mk = strstr(from, pat);
        if (mk == NULL || mk > to) {
            fail_msg("no %s marker at %s in the %s chart", kind, at, topic);
        }
        int64_t t, t0 = attr_time(from, "data-t0"), t1 = attr_time(from, "data-t1");
        assert_int_equal(es_time_parse(at, strlen(at), &t), 0);
        assert_true(t0 <= t && t <= t1);
        double x0 = attr_num(from, "data-x0"), x1 = attr_num(from, "data-x1");
        double want = x0 + (double)(t - t0) / (double)(t1 - t0) * (x1 - x0);
        while (*mk != '<') { /* back to the start of the marker's <g> */
            mk--;
        }
        assert_float_equal(attr_num(mk, "data-x"), want, 0.01);
        const char *line_el = strstr(mk, "<line ");
        assert_float_equal(attr_num(line_el, "x1"), want, 0.01);
    }
    assert_int_equal(count_between(acme, aend, "<g class=\"mk "), markers[0]);
    assert_int_equal(count_between(globex, gend, "<g class=\"mk "), markers[1]);
    assert_true(markers[0] >= 2 && markers[1] >= 1);
    assert_int_equal(count(html, "<tr class=\"alert\""), episodes);
    size_t listed = complaints < ES_REPORT_MAX_COMPLAINT_ALERTS ? complaints
                                                                : ES_REPORT_MAX_COMPLAINT_ALERTS;
    assert_int_equal(count(html, "<tr class=\"complaint-alert\""), listed);
    char note[64];
    snprintf(note, sizeof note, " of %zu complaint alerts", complaints);
    assert_non_null(strstr(html, note));

    /* The headline names the wave and when it ended. */
    const char *head = strstr(html, "<section class=\"headline\"");
    assert_non_null(head);
    const char *head_end = strstr(head, "</section>");
    const char *wave = strstr(head, "<b>complaint wave</b> on Fri 7 Mar ");
    assert_true(wave != NULL && wave < head_end);
    assert_true(surge_end[0] != '\0');
    const char *dash = strstr(wave, "\xE2\x80\x93");
    assert_true(dash != NULL && strncmp(dash + 3, surge_end, 5) == 0);

    free(input);
    free(alerts);
    free(html);
}

/* Same mentions in reverse order through stdin: the same page, byte for
 * byte (the collector sees the pipeline's event-time order). */
static void test_examples_order_independent(void **state)
{
    (void)state;
    size_t len;
    char *input = es_test_read_file(EXAMPLES "acme-mentions.ndjson", &len);
    assert_non_null(input);
    char *rev = malloc(len + 2);
    size_t k = 0;
    for (size_t end = len; end > 0;) {
        size_t start = end - 1;
        while (start > 0 && input[start - 1] != '\n') {
            start--;
        }
        size_t n = end - start;
        memcpy(rev + k, input + start, n);
        k += n;
        if (n > 0 && rev[k - 1] != '\n') {
            rev[k++] = '\n';
        }
        end = start;
    }
    char *a_alerts, *b_out, *b_err;
    char *a = run_report(EXAMPLES "acme.yaml", EXAMPLES "acme-mentions.ndjson",
                         tmp_path("fwd.html"), &a_alerts);
    const char *argv[] = {"earshot", "backfill", "-c", EXAMPLES "acme.yaml", "--report",
                          tmp_path("rev.html"), "-", NULL};
    assert_int_equal(es_test_run(argv, rev, k, &b_out, &b_err), 0);
    char *b = es_test_read_file(tmp_path("rev.html"), NULL);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(input);
    free(rev);
    free(a);
    free(b);
    free(a_alerts);
    free(b_out);
    free(b_err);
}

static void test_unwritable_report_path(void **state)
{
    (void)state;
    const char *path = "/nonexistent-dir/report.html";
    const char *argv[] = {"earshot", "backfill", "-c", HOSTILE "hostile.yaml", "--report", path,
                          HOSTILE "hostile.ndjson", NULL};
    char *out, *err;
    assert_int_equal(es_test_run(argv, NULL, 0, &out, &err), 1);
    assert_non_null(strstr(err, path));
    free(out);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* Hostile input                                                             */
/* ------------------------------------------------------------------------ */

static void test_hostile_text_is_escaped(void **state)
{
    (void)state;
    char *alerts;
    char *html = run_report(HOSTILE "hostile.yaml", HOSTILE "hostile.ndjson",
                            tmp_path("hostile.html"), &alerts);
    char *input = es_test_read_file(HOSTILE "hostile.ndjson", NULL);
    const char *bad = check_balanced(html);
    if (bad != NULL) {
        fail_msg("report is not well formed: %s", bad);
    }
    assert_true(valid_utf8(html));
    /* No markup from the input survives as markup. */
    assert_null(find_ci(html, "<script"));
    assert_null(find_ci(html, "<img"));
    assert_null(find_ci(html, "<h1>owned"));
    assert_null(find_ci(html, "<svg onload"));
    assert_null(find_ci(html, "<i>"));
    /* ... it is there as text. */
    assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&quot;&gt;&lt;svg onload=alert(1)&gt;"));
    assert_non_null(strstr(html, "o&#39;brien&lt;i&gt;"));
    assert_non_null(strstr(html, "nobody answers &amp; I want"));
    /* A control character is shown as U+FFFD, not passed on. */
    assert_non_null(strstr(html, "&#39;now&#39; \xEF\xBF\xBD &lt;img"));
    /* A javascript: URL is never a link; an https one with quotes and
     * brackets is one, escaped inside the attribute. */
    assert_null(find_ci(html, "href=\"javascript"));
    assert_null(find_ci(html, "javascript:alert"));
    assert_non_null(strstr(html, "href=\"https://x.example/p?a=1&amp;b=&quot;&gt;&lt;script&gt;"
                                 "alert(1)&lt;/script&gt;\""));
    check_no_resources(html, input);
    free(input);
    free(alerts);
    free(html);
}

/* ------------------------------------------------------------------------ */
/* The collector's bounds, through its API                                   */
/* ------------------------------------------------------------------------ */

static char *write_to_string(const es_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(es_report_write_html(r, f), 0);
    fclose(f);
    return buf;
}

static void test_bounded_over_ten_years(void **state)
{
    (void)state;
    const es_topic_def defs[] = {
        {.name = "brand", .query = "brand"},
        {.name = "rival", .query = "rival", .competitor = true},
    };
    es_topics *topics;
    es_error err = {0};
    assert_int_equal(es_topics_compile(defs, 2, &topics, &err), 0);
    es_report *r;
    es_report_opts ro = {.topics = topics};
    assert_int_equal(es_report_new(&ro, &r), 0);

    const int64_t start = 1420070400000LL; /* 2015-01-01 */
    const int64_t step = 4 * 3600000LL;    /* ten years in 21,915 steps */
    const int n = 21915;
    uint32_t brand = 0;
    es_pipeline_result res = {.topics = &brand, .n_topics = 1};
    char author[32], text[64];
    for (int i = 0; i < n; i++) {
        es_mention m;
        es_mention_clear(&m);
        bool big = i % 1000 == 500;
        snprintf(author, sizeof author, big ? "bigshot" : "user%d", i);
        snprintf(text, sizeof text, "brand lost my bag, case %d", i);
        m.author = (es_str){author, strlen(author)};
        m.text = (es_str){text, strlen(text)};
        m.created_ms = start + (int64_t)i * step;
        m.followers = big ? 5000000 : 10 + i % 50;
        res.sentiment.compound = i % 3 == 0 ? -0.6 : 0.3;
        res.intent.kind = i % 3 == 0 ? ES_INTENT_COMPLAINT : ES_INTENT_OTHER;
        res.intent.complaint = i % 3 == 0 ? 0.9 : 0.1;
        assert_int_equal(es_report_add_mention(r, &m, &res), 0);
    }
    /* One late mention from before everything else (input out of order). */
    es_mention early;
    es_mention_clear(&early);
    early.text = (es_str){"brand", 5};
    early.created_ms = start - 400 * 86400000LL;
    assert_int_equal(es_report_add_mention(r, &early, &res), 0);

    /* 600 spike alerts and 300 complaint alerts, 5 of them critical. */
    for (int i = 0; i < 600; i++) {
        char fp[64];
        snprintf(fp, sizeof fp, "brand/volume_spike/%d", i);
        es_alert a = {.kind = ES_ALERT_VOLUME_SPIKE, .severity = ES_SEV_WARNING, .topic = "brand",
                      .at_ms = start + (int64_t)i * 86400000LL, .fingerprint = fp,
                      .summary = "brand: a spike"};
        assert_int_equal(es_report_add_alert(r, &a), 0);
    }
    for (int i = 0; i < 300; i++) {
        char fp[64];
        snprintf(fp, sizeof fp, "brand/complaint/%d", i);
        es_alert a = {.kind = ES_ALERT_COMPLAINT,
                      .severity = i % 60 == 59 ? ES_SEV_CRITICAL : ES_SEV_INFO,
                      .topic = "brand", .at_ms = start + (int64_t)i * 3600000LL,
                      .fingerprint = fp, .summary = "brand: complaint"};
        assert_int_equal(es_report_add_alert(r, &a), 0);
    }
    char *html = write_to_string(r);
    const char *bad = check_balanced(html);
    if (bad != NULL) {
        fail_msg("report is not well formed: %s", bad);
    }

    /* The chart covers everything in at most ES_REPORT_MAX_POINTS bars. */
    const char *end;
    const char *chart = volume_chart(html, "brand", &end);
    assert_true(attr_time(chart, "data-t0") <= early.created_ms);
    assert_true(attr_time(chart, "data-t1") > start + (int64_t)(n - 1) * step);
    const char *bars = strstr(chart, "<path class=\"all\" d=\"");
    assert_true(bars != NULL && bars < end);
    size_t nbars = count_between(bars, strchr(bars + 22, '"'), "M");
    assert_true(nbars > 100 && nbars <= ES_REPORT_MAX_POINTS);

    /* The 5-million-follower author leads the most-reached among 20,000. */
    const char *authors = strstr(html, "<table class=\"authors\">");
    assert_non_null(authors);
    const char *first_row = strstr(authors, "<tbody>\n<tr><td>");
    assert_non_null(first_row);
    assert_true(strncmp(first_row + 16, "bigshot<", 8) == 0);
    assert_int_equal(count_between(authors, strstr(authors, "</table>"), "<tr><td>"), 10);

    /* Totals are exact whatever was bounded. */
    assert_non_null(strstr(html, "<b>21,916</b> mentions"));
    /* Bounded alert tables, with the count of what is not listed; the
     * critical complaints come first. */
    assert_int_equal(count(html, "<tr class=\"alert\""), ES_REPORT_MAX_EPISODES);
    assert_non_null(strstr(html, "The first 500 of 600 are listed"));
    assert_int_equal(count(html, "<tr class=\"complaint-alert\""), ES_REPORT_MAX_COMPLAINT_ALERTS);
    assert_non_null(strstr(html, "most urgent of 300 complaint alerts"));
    const char *rows = strstr(html, "<tr class=\"complaint-alert\"");
    for (int i = 0; i < 6; i++) {
        const char *sev = strstr(rows, "<span class=\"pill sev-");
        assert_non_null(sev);
        assert_int_equal(strncmp(sev + 22, i < 5 ? "critical" : "info", i < 5 ? 8 : 4), 0);
        rows = strstr(sev, "</tr>");
    }
    /* The rival has no mentions; it still gets its section and chart. */
    const char *rend;
    volume_chart(html, "rival", &rend);
    free(html);
    es_report_free(r);
    es_topics_free(topics);
}

/* ------------------------------------------------------------------------ */
/* A real browser, when there is one                                         */
/* ------------------------------------------------------------------------ */

static const char *find_chromium(void)
{
    static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                        "/usr/local/bin/chromium"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (access(paths[i], X_OK) == 0) {
            return paths[i];
        }
    }
    return NULL;
}

/* Run argv with stdout and stderr into files; the exit status or -1. */
static int run_to_files(const char *const *argv, const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        if (freopen(out, "w", stdout) == NULL || freopen(err, "w", stderr) == NULL) {
            _exit(127);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) {
        return -1;
    }
    return WEXITSTATUS(st);
}

static void test_chromium_renders_without_console_errors(void **state)
{
    (void)state;
    const char *chromium = find_chromium();
    if (chromium == NULL) {
        print_message("[  SKIPPED ] chromium is not installed (apt-get install chromium); "
                      "the structure checks above still ran\n");
        skip();
    }
    char *alerts;
    const char *path = tmp_path("browser.html");
    char *html = run_report(EXAMPLES "acme.yaml", EXAMPLES "acme-mentions.ndjson", path, &alerts);
    char url[300], profile[300];
    snprintf(url, sizeof url, "file://%s", path);
    snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", tmpdir);
    /* `timeout` keeps a wedged browser from holding the suite. */
    const char *argv[] = {"timeout", "120", chromium, "--headless", "--no-sandbox",
                          "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          profile, "--enable-logging=stderr", "--v=0", "--dump-dom", url, NULL};
    const char *dom_path = tmp_path("dom.html"), *log_path = tmp_path("chromium.log");
    int rc = run_to_files(argv, dom_path, log_path);
    char *dom = es_test_read_file(dom_path, NULL);
    char *log = es_test_read_file(log_path, NULL);
    assert_non_null(dom);
    assert_non_null(log);
    if (rc != 0) {
        fail_msg("chromium exited %d:\n%s", rc, log);
    }
    /* It parsed the whole page: both charts and the last table are in the
     * DOM it dumps. */
    assert_non_null(strstr(dom, "data-topic=\"acme\""));
    assert_non_null(strstr(dom, "data-topic=\"globex\""));
    assert_non_null(strstr(dom, "id=\"complaint-alert-table\""));
    const char *msg = strstr(log, ":CONSOLE");
    if (msg != NULL) {
        fail_msg("console message while rendering the report: %.300s", msg);
    }
    free(dom);
    free(log);
    free(html);
    free(alerts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_structure),
        cmocka_unit_test(test_examples_order_independent),
        cmocka_unit_test(test_unwritable_report_path),
        cmocka_unit_test(test_hostile_text_is_escaped),
        cmocka_unit_test(test_bounded_over_ten_years),
        cmocka_unit_test(test_chromium_renders_without_console_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
