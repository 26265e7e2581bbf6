/*
 * Golden cases for routing, grouping, inhibition, silences, business and
 * quiet hours, and escalation, run in event time with no sleeps.
 *
 * Each directory under tests/fixtures/route/golden/ is one case:
 *
 *   config.yaml      an earshot config (sinks, route:, escalations:)
 *   input.ndjson     what happens, in time order, one object per line:
 *       an alert:    {"t": TIME, "kind": "complaint", "topic": "acme", "severity": "warning",
 *                     "fp": "...", "author": "...", "source": "...", "complaint": 0.9,
 *                     "followers": 10, "status": "resolved",
 *                     "repeat": 300, "every": "1s", "step": 0.001}
 *                    (repeat makes a wave: fingerprints get "-1".."-N", times step by
 *                    `every`, complaint scores by `step`)
 *       an action:   {"t": TIME, "op": "advance" | "ack" | "resolve" | "silence" | "expire",
 *                     "id": ..., "matchers": [...], "until": TIME}
 *   expected.ndjson  every notification, in order, as
 *       {"t": TIME, "sink": ..., "key": ..., "group": ..., "status": ..., "count": N,
 *        ["action": "acknowledge",] "labels": {...}, "alerts": [fingerprints...]}
 *
 * Lines starting with '#' are comments. After the last input line time is
 * advanced to that line's time. On a mismatch the runner prints both lists
 * with '-' (expected) and '+' (actual) markers. ES_ROUTE_GOLDEN_WRITE=1
 * writes the actual output as expected.ndjson.new next to the case, for
 * review when adding a case (never copied over blindly).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "config.h"
#include "route.h"
#include "testutil.h"
#include "timefmt.h"

#define GOLDEN ES_TEST_FIXTURES "/route/golden"

/* ---- Canonical JSON: compact, keys in the order written ------------------------ */

static void canon(es_buf *b, yajl_val v)
{
    if (YAJL_IS_STRING(v)) {
        const char *s = YAJL_GET_STRING(v);
        es_buf_json_str(b, s, strlen(s));
    } else if (YAJL_IS_NUMBER(v)) {
        es_buf_adds(b, YAJL_GET_NUMBER(v));
    } else if (YAJL_IS_TRUE(v)) {
        es_buf_adds(b, "true");
    } else if (YAJL_IS_FALSE(v)) {
        es_buf_adds(b, "false");
    } else if (YAJL_IS_OBJECT(v)) {
        es_buf_addc(b, '{');
        for (size_t i = 0; i < v->u.object.len; i++) {
            if (i) {
                es_buf_addc(b, ',');
            }
            es_buf_json_str(b, v->u.object.keys[i], strlen(v->u.object.keys[i]));
            es_buf_addc(b, ':');
            canon(b, v->u.object.values[i]);
        }
        es_buf_addc(b, '}');
    } else if (YAJL_IS_ARRAY(v)) {
        es_buf_addc(b, '[');
        for (size_t i = 0; i < v->u.array.len; i++) {
            if (i) {
                es_buf_addc(b, ',');
            }
            canon(b, v->u.array.values[i]);
        }
        es_buf_addc(b, ']');
    } else {
        es_buf_adds(b, "null");
    }
}

/* ---- Lines ------------------------------------------------------------------ */

typedef struct lines {
    char **v;
    size_t n, cap;
} lines;

static void lines_add(lines *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n++] = strdup(s);
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

/* Read a file's non-empty, non-comment lines. */
static void read_lines(const char *path, lines *out)
{
    char *data = es_test_read_file(path, NULL);
    if (data == NULL) {
        fail_msg("cannot read %s", path);
    }
    char *save = NULL;
    for (char *ln = strtok_r(data, "\n", &save); ln != NULL; ln = strtok_r(NULL, "\n", &save)) {
        while (*ln == ' ' || *ln == '\t') {
            ln++;
        }
        if (*ln == '\0' || *ln == '#') {
            continue;
        }
        lines_add(out, ln);
    }
    free(data);
}

/* ---- Running a case ----------------------------------------------------------- */

typedef struct run {
    lines actual;
    es_buf b;
} run;

static int collect(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    run *r = ud;
    es_buf *b = &r->b;
    char t[32];
    es_time_format(at, t);
    es_buf_reset(b);
    es_buf_printf(b, "{\"t\":\"%s\",\"sink\":", t);
    es_buf_json_str(b, sink, strlen(sink));
    es_buf_adds(b, ",\"key\":");
    es_buf_json_str(b, n->key, strlen(n->key));
    const char *g = n->group != NULL ? n->group : "";
    es_buf_adds(b, ",\"group\":");
    es_buf_json_str(b, g, strlen(g));
    es_buf_printf(b, ",\"status\":\"%s\",\"count\":%zu",
                  es_notification_resolved(n) ? "resolved" : "firing", es_notification_count(n));
    if (n->action == ES_NOTIFY_ACKNOWLEDGE) {
        es_buf_adds(b, ",\"action\":\"acknowledge\"");
    }
    es_buf_adds(b, ",\"labels\":{");
    for (size_t i = 0; i < n->n_labels; i++) {
        if (i) {
            es_buf_addc(b, ',');
        }
        es_buf_json_str(b, n->labels[i].key, strlen(n->labels[i].key));
        es_buf_addc(b, ':');
        es_buf_json_str(b, n->labels[i].value, strlen(n->labels[i].value));
    }
    es_buf_adds(b, "},\"alerts\":[");
    for (size_t i = 0; i < n->n_alerts; i++) {
        const char *fp = n->alerts[i].fingerprint != NULL ? n->alerts[i].fingerprint : "";
        if (i) {
            es_buf_addc(b, ',');
        }
        es_buf_json_str(b, fp, strlen(fp));
    }
    es_buf_adds(b, "]}");
    lines_add(&r->actual, b->data);
    return 0;
}

static const char *str_of(yajl_val obj, const char *key, const char *def)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v != NULL ? YAJL_GET_STRING(v) : def;
}

static double num_of(yajl_val obj, const char *key, double def)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
    return v != NULL ? YAJL_GET_DOUBLE(v) : def;
}

static int64_t time_of(yajl_val obj, const char *key, const char *where)
{
    const char *s = str_of(obj, key, NULL);
    int64_t ms = 0;
    if (s == NULL || es_time_parse(s, strlen(s), &ms) != 0) {
        fail_msg("%s: missing or bad \"%s\"", where, key);
    }
    return ms;
}

static int kind_of(const char *s)
{
    for (int k = 0; k <= ES_ALERT_FEED_STALLED; k++) {
        if (strcmp(es_alert_kind_name((es_alert_kind)k), s) == 0) {
            return k;
        }
    }
    fail_msg("unknown kind %s", s);
    return 0;
}

static int severity_of(const char *s)
{
    for (int k = 0; k <= ES_SEV_CRITICAL; k++) {
        if (strcmp(es_severity_name((es_severity)k), s) == 0) {
            return k;
        }
    }
    fail_msg("unknown severity %s", s);
    return 0;
}

static void push_alerts(es_router *r, yajl_val o, int64_t t, const char *where, int64_t *last)
{
    const char *kind = str_of(o, "kind", "complaint");
    const char *topic = str_of(o, "topic", "acme");
    const char *fp0 = str_of(o, "fp", NULL);
    int repeat = (int)num_of(o, "repeat", 1);
    int64_t every = 0;
    const char *ev = str_of(o, "every", NULL);
    if (ev != NULL) {
        assert_int_equal(es_duration_parse(ev, &every), 0);
    }
    double complaint = num_of(o, "complaint", -1), step = num_of(o, "step", 0);
    double followers = num_of(o, "followers", -1);
    const char *author = str_of(o, "author", "someone");
    const char *extra_keys[] = {"source", "intent", "competitor"};
    es_label extra[3];
    size_t n_extra = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *v = str_of(o, extra_keys[i], NULL);
        if (v != NULL) {
            extra[n_extra++] = (es_label){extra_keys[i], v};
        }
    }
    for (int i = 1; i <= repeat; i++) {
        char fp[256], summary[300], details[128], *dp = details;
        if (fp0 != NULL && repeat == 1) {
            snprintf(fp, sizeof fp, "%s", fp0);
        } else if (fp0 != NULL) {
            snprintf(fp, sizeof fp, "%s-%d", fp0, i);
        } else {
            snprintf(fp, sizeof fp, "%s/%s/%d", topic, kind, i);
        }
        snprintf(summary, sizeof summary, "%s: %s %s", topic, kind, fp);
        dp += sprintf(dp, "{");
        if (complaint >= 0) {
            dp += sprintf(dp, "\"complaint\":%.4f", complaint + step * (i - 1));
        }
        if (followers >= 0) {
            dp += sprintf(dp, "%s\"followers\":%lld", complaint >= 0 ? "," : "",
                          (long long)followers);
        }
        sprintf(dp, "}");
        es_alert_mention m = {
            .id = {fp, strlen(fp)},
            .author = {author, strlen(author)},
            .text = {summary, strlen(summary)},
            .url = {"https://example.test/p", 22},
        };
        int64_t at = t + (int64_t)(i - 1) * every;
        es_alert a = {
            .kind = (es_alert_kind)kind_of(kind),
            .severity = (es_severity)severity_of(str_of(o, "severity", "warning")),
            .resolved = strcmp(str_of(o, "status", "firing"), "resolved") == 0,
            .topic = topic,
            .at_ms = at,
            .fingerprint = fp,
            .summary = summary,
            .details_json = details,
            .mentions = &m,
            .n_mentions = 1,
        };
        if (es_router_push(r, &a, extra, n_extra, at) != 0) {
            fail_msg("%s: push failed", where);
        }
        *last = at;
    }
}

static void run_case(const char *dir, lines *actual)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    es_config *c = NULL;
    es_error err = {0};
    if (es_config_load(path, &c, &err) != 0) {
        fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    }
    es_route_conf *rc = NULL;
    if (es_route_conf_load(c, NULL, NULL, &rc, &err) != 0) {
        fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    }
    es_route_db *db = NULL;
    assert_int_equal(es_route_db_open(":memory:", &db, &err), 0);
    run ru = {0};
    es_buf_init(&ru.b, 1 << 20);
    es_router *r = NULL;
    assert_int_equal(es_router_new(rc, db, collect, &ru, &r), 0);

    lines in = {0};
    snprintf(path, sizeof path, "%s/input.ndjson", dir);
    read_lines(path, &in);
    int64_t last = 0;
    for (size_t i = 0; i < in.n; i++) {
        char where[600], ebuf[256];
        snprintf(where, sizeof where, "%s line %zu", path, i + 1);
        yajl_val o = yajl_tree_parse(in.v[i], ebuf, sizeof ebuf);
        if (o == NULL) {
            fail_msg("%s: %s", where, ebuf);
        }
        int64_t t = time_of(o, "t", where);
        const char *op = str_of(o, "op", NULL);
        last = t;
        if (op == NULL) {
            push_alerts(r, o, t, where, &last);
        } else if (strcmp(op, "advance") == 0) {
            assert_int_equal(es_router_advance(r, t), 0);
        } else if (strcmp(op, "ack") == 0 || strcmp(op, "resolve") == 0) {
            assert_int_equal(es_router_advance(r, t), 0);
            const char *id = str_of(o, "id", "");
            int rc2 = op[0] == 'a' ? es_router_ack(r, id, "tester", t)
                                   : es_router_resolve(r, id, "tester", t);
            if (rc2 < 0) {
                fail_msg("%s: %s %s failed: %s", where, op, id, es_strerror(rc2));
            }
        } else if (strcmp(op, "silence") == 0) {
            const char *path2[] = {"matchers", NULL};
            yajl_val mv = yajl_tree_get(o, path2, yajl_t_array);
            assert_non_null(mv);
            const char *ms[16];
            size_t n = mv->u.array.len < 16 ? mv->u.array.len : 16;
            for (size_t k = 0; k < n; k++) {
                ms[k] = YAJL_GET_STRING(mv->u.array.values[k]);
            }
            int64_t id;
            if (es_silence_add(db, ms, n, t, time_of(o, "until", where), "golden", "tester", t,
                               &id, &err) != 0) {
                fail_msg("%s: %s", where, err.msg);
            }
        } else if (strcmp(op, "expire") == 0) {
            assert_int_equal(es_silence_expire(db, (int64_t)num_of(o, "id", 0), t), 0);
        } else {
            fail_msg("%s: unknown op %s", where, op);
        }
        yajl_tree_free(o);
    }
    assert_int_equal(es_router_advance(r, last), 0);
    lines_free(&in);
    es_router_free(r);
    es_route_db_close(db);
    es_route_conf_free(rc);
    es_config_free(c);
    es_buf_free(&ru.b);
    *actual = ru.actual;
}

static void canonical_lines(const lines *in, lines *out, const char *what)
{
    es_buf b;
    es_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < in->n; i++) {
        char ebuf[256];
        yajl_val v = yajl_tree_parse(in->v[i], ebuf, sizeof ebuf);
        if (v == NULL) {
            fail_msg("%s line %zu: %s", what, i + 1, ebuf);
        }
        es_buf_reset(&b);
        canon(&b, v);
        lines_add(out, b.data);
        yajl_tree_free(v);
    }
    es_buf_free(&b);
}

static void test_case(void **state)
{
    const char *dir = *state;
    lines actual = {0}, expected_raw = {0}, expected = {0}, got = {0};
    run_case(dir, &actual);
    char path[512];
    snprintf(path, sizeof path, "%s/expected.ndjson", dir);
    read_lines(path, &expected_raw);
    canonical_lines(&expected_raw, &expected, path);
    canonical_lines(&actual, &got, "actual");

    bool same = expected.n == got.n;
    for (size_t i = 0; same && i < got.n; i++) {
        same = strcmp(expected.v[i], got.v[i]) == 0;
    }
    if (getenv("ES_ROUTE_GOLDEN_WRITE") != NULL) {
        snprintf(path, sizeof path, "%s/expected.ndjson.new", dir);
        FILE *f = fopen(path, "w");
        for (size_t i = 0; f != NULL && i < got.n; i++) {
            fprintf(f, "%s\n", got.v[i]);
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (!same) {
        /* A readable diff: equal lines plain, then the first difference on
         * with '-' for what was expected and '+' for what came out. */
        fprintf(stderr, "\n%s: notifications differ (- expected, + actual)\n", dir);
        size_t k = 0;
        while (k < expected.n && k < got.n && strcmp(expected.v[k], got.v[k]) == 0) {
            fprintf(stderr, "  %s\n", got.v[k]);
            k++;
        }
        for (size_t i = k; i < expected.n; i++) {
            fprintf(stderr, "- %s\n", expected.v[i]);
        }
        for (size_t i = k; i < got.n; i++) {
            fprintf(stderr, "+ %s\n", got.v[i]);
        }
    }
    lines_free(&actual);
    lines_free(&expected_raw);
    lines_free(&expected);
    lines_free(&got);
    assert_true(same);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    DIR *d = opendir(GOLDEN);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", GOLDEN);
        return 1;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        if (e->d_name[0] != '.') {
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char **dirs = calloc(n, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        dirs[i] = malloc(strlen(GOLDEN) + strlen(names[i]) + 2);
        sprintf(dirs[i], "%s/%s", GOLDEN, names[i]);
        tests[i] = (struct CMUnitTest){.name = names[i], .test_func = test_case,
                                       .initial_state = dirs[i]};
    }
    int rc = _cmocka_run_group_tests("route_golden", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(dirs[i]);
    }
    free(tests);
    free(dirs);
    return rc;
}
