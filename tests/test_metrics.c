/*
 * The metrics registry and the Prometheus text format 0.0.4.
 *
 * prom_check() below is a STRICT checker of the exposition format, written
 * from the format's description rather than from our renderer: metric and
 * label name grammar, label value escaping (only \\, \" and \n), HELP and
 * TYPE at most once per family and before its samples, known TYPE values,
 * a family's samples contiguous, no duplicate series, counters not
 * negative, histograms with cumulative _bucket{le} series that end at
 * le="+Inf" equal to _count and have _sum, and a newline at the end. It
 * is run over the registry's output and over a live engine's /metrics, and
 * it is itself tested against broken inputs so it cannot pass vacuously.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"
#include "testutil.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- The checker ------------------------------------------------------------------- */

#define MAXF 256
#define MAXS 4096

typedef struct fam {
    char name[128];
    char type[16];
    bool help, typed, sampled, closed;
} fam;

typedef struct series {
    char key[512]; /* name + sorted labels */
} series;

typedef struct hist_pt {
    char base[400]; /* family + labels without le */
    double le[64], v[64];
    int n;
    double count;
    bool has_count, has_sum;
} hist_pt;

typedef struct checker {
    fam f[MAXF];
    int nf;
    series s[MAXS];
    int ns;
    hist_pt h[256];
    int nh;
    int last; /* family of the previous sample, -1 none */
    char err[512];
} checker;

static bool bad_at(checker *c, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->err, sizeof c->err, "line %d: ", line);
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool is_name(const char *s, size_t n, bool colon)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (colon && ch == ':') || (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int fam_find(checker *c, const char *name, size_t n)
{
    for (int i = 0; i < c->nf; i++) {
        if (strlen(c->f[i].name) == n && strncmp(c->f[i].name, name, n) == 0) {
            return i;
        }
    }
    return -1;
}

static int fam_get(checker *c, const char *name, size_t n)
{
    int i = fam_find(c, name, n);
    if (i >= 0 || c->nf == MAXF || n >= sizeof c->f[0].name) {
        return i;
    }
    memset(&c->f[c->nf], 0, sizeof c->f[0]);
    memcpy(c->f[c->nf].name, name, n);
    return c->nf++;
}

static bool parse_value(const char *s, double *v, const char **end)
{
    if (strncmp(s, "+Inf", 4) == 0) {
        *v = INFINITY;
        *end = s + 4;
        return true;
    }
    if (strncmp(s, "-Inf", 4) == 0) {
        *v = -INFINITY;
        *end = s + 4;
        return true;
    }
    if (strncmp(s, "NaN", 3) == 0) {
        *v = NAN;
        *end = s + 3;
        return true;
    }
    char *e;
    *v = strtod(s, &e);
    if (e == s || strchr("0123456789+-.", *s) == NULL) {
        return false;
    }
    /* strtod also takes "inf", "nan" and hex: the format does not. */
    for (const char *p = s; p < e; p++) {
        if (strchr("0123456789+-.eE", *p) == NULL) {
            return false;
        }
    }
    *end = e;
    return true;
}

typedef struct lbl {
    char name[64];
    char value[256];
} lbl;

static int cmp_lbl(const void *a, const void *b)
{
    return strcmp(((const lbl *)a)->name, ((const lbl *)b)->name);
}

static bool check_sample(checker *c, int ln, const char *p, const char *eol)
{
    const char *q = p;
    while (q < eol && *q != '{' && *q != ' ') {
        q++;
    }
    size_t nlen = (size_t)(q - p);
    if (!is_name(p, nlen, true)) {
        return bad_at(c, ln, "bad metric name '%.*s'", (int)nlen, p);
    }
    lbl labels[16];
    int nl = 0;
    if (q < eol && *q == '{') {
        q++;
        while (q < eol && *q != '}') {
            const char *ns = q;
            while (q < eol && *q != '=') {
                q++;
            }
            if (!is_name(ns, (size_t)(q - ns), false) || (q - ns) >= 64) {
                return bad_at(c, ln, "bad label name '%.*s'", (int)(q - ns), ns);
            }
            if (nl == 16) {
                return bad_at(c, ln, "too many labels");
            }
            memcpy(labels[nl].name, ns, (size_t)(q - ns));
            labels[nl].name[q - ns] = '\0';
            if (q + 1 >= eol || q[1] != '"') {
                return bad_at(c, ln, "label value must be quoted");
            }
            q += 2;
            size_t vo = 0;
            while (q < eol && *q != '"') {
                char ch = *q++;
                if (ch == '\\') {
                    if (q >= eol || (*q != '\\' && *q != '"' && *q != 'n')) {
                        return bad_at(c, ln, "bad escape in label value");
                    }
                    ch = *q == 'n' ? '\n' : *q;
                    q++;
                }
                if (vo + 1 < sizeof labels[nl].value) {
                    labels[nl].value[vo++] = ch;
                }
            }
            if (q >= eol) {
                return bad_at(c, ln, "unterminated label value");
            }
            labels[nl].value[vo] = '\0';
            for (int i = 0; i < nl; i++) {
                if (strcmp(labels[i].name, labels[nl].name) == 0) {
                    return bad_at(c, ln, "label '%s' twice", labels[nl].name);
                }
            }
            nl++;
            q++; /* closing quote */
            if (q < eol && *q == ',') {
                q++;
                if (q < eol && *q == '}') {
                    return bad_at(c, ln, "trailing comma in labels");
                }
            } else if (q < eol && *q != '}') {
                return bad_at(c, ln, "expected ',' or '}' after a label");
            }
        }
        if (q >= eol) {
            return bad_at(c, ln, "unterminated label set");
        }
        q++;
    }
    if (q >= eol || *q != ' ') {
        return bad_at(c, ln, "expected one space before the value");
    }
    q++;
    double v;
    const char *ve;
    if (!parse_value(q, &v, &ve)) {
        return bad_at(c, ln, "bad value '%.*s'", (int)(eol - q), q);
    }
    if (ve < eol) {
        if (*ve != ' ') {
            return bad_at(c, ln, "junk after the value");
        }
        for (const char *t = ve + 1; t < eol; t++) {
            if (!((*t >= '0' && *t <= '9') || (t == ve + 1 && *t == '-'))) {
                return bad_at(c, ln, "bad timestamp");
            }
        }
    }
    /* Which family? A histogram's _bucket/_sum/_count belong to it. */
    int fi = fam_find(c, p, nlen);
    const char *suffix = "";
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; fi < 0 && k < 3; k++) {
        size_t sl = strlen(sfx[k]);
        if (nlen > sl && strncmp(p + nlen - sl, sfx[k], sl) == 0) {
            int g = fam_find(c, p, nlen - sl);
            if (g >= 0 && strcmp(c->f[g].type, "histogram") == 0) {
                fi = g;
                suffix = sfx[k];
            }
        }
    }
    if (fi < 0 || !c->f[fi].typed) {
        return bad_at(c, ln, "sample '%.*s' has no # TYPE before it", (int)nlen, p);
    }
    fam *f = &c->f[fi];
    if (f->closed || (c->last >= 0 && c->last != fi && f->sampled)) {
        return bad_at(c, ln, "samples of '%s' are not contiguous", f->name);
    }
    if (c->last >= 0 && c->last != fi) {
        c->f[c->last].closed = true;
    }
    c->last = fi;
    f->sampled = true;
    bool hist = strcmp(f->type, "histogram") == 0;
    if (hist && suffix[0] == '\0') {
        return bad_at(c, ln, "histogram '%s' sample without _bucket/_sum/_count", f->name);
    }
    if (strcmp(f->type, "counter") == 0 && !(v >= 0)) {
        return bad_at(c, ln, "counter '%s' is negative or NaN", f->name);
    }
    /* Duplicate series: name + labels in name order. */
    lbl sorted[16];
    memcpy(sorted, labels, sizeof labels[0] * (size_t)nl);
    qsort(sorted, (size_t)nl, sizeof sorted[0], cmp_lbl);
    char key[512];
    int kn = snprintf(key, sizeof key, "%.*s", (int)nlen, p);
    for (int i = 0; i < nl && kn < (int)sizeof key; i++) {
        kn += snprintf(key + kn, sizeof key - (size_t)kn, "|%s=%s", sorted[i].name,
                       sorted[i].value);
    }
    for (int i = 0; i < c->ns; i++) {
        if (strcmp(c->s[i].key, key) == 0) {
            return bad_at(c, ln, "duplicate series %s", key);
        }
    }
    if (c->ns < MAXS) {
        snprintf(c->s[c->ns++].key, sizeof c->s[0].key, "%s", key);
    }
    if (!hist) {
        return true;
    }
    /* Histogram bookkeeping per label set without le. */
    char base[400];
    int bn = snprintf(base, sizeof base, "%s", f->name);
    const char *le = NULL;
    for (int i = 0; i < nl; i++) {
        if (strcmp(sorted[i].name, "le") == 0) {
            le = sorted[i].value;
        } else if (bn < (int)sizeof base) {
            bn += snprintf(base + bn, sizeof base - (size_t)bn, "|%s=%s", sorted[i].name,
                           sorted[i].value);
        }
    }
    hist_pt *h = NULL;
    for (int i = 0; i < c->nh; i++) {
        if (strcmp(c->h[i].base, base) == 0) {
            h = &c->h[i];
        }
    }
    if (h == NULL) {
        if (c->nh == 256) {
            return bad_at(c, ln, "too many histograms for the checker");
        }
        h = &c->h[c->nh++];
        memset(h, 0, sizeof *h);
        snprintf(h->base, sizeof h->base, "%s", base);
    }
    if (strcmp(suffix, "_bucket") == 0) {
        double lv;
        const char *le_end;
        if (le == NULL || !parse_value(le, &lv, &le_end) || *le_end != '\0' || isnan(lv)) {
            return bad_at(c, ln, "_bucket without a numeric le label");
        }
        if (h->has_count || h->has_sum) {
            return bad_at(c, ln, "_bucket after _sum/_count");
        }
        if (h->n > 0 && !(lv > h->le[h->n - 1])) {
            return bad_at(c, ln, "le values not increasing");
        }
        if (h->n > 0 && v < h->v[h->n - 1]) {
            return bad_at(c, ln, "buckets not cumulative");
        }
        if (h->n == 64) {
            return bad_at(c, ln, "too many buckets for the checker");
        }
        h->le[h->n] = lv;
        h->v[h->n++] = v;
    } else if (le != NULL) {
        return bad_at(c, ln, "le label on %s", suffix);
    } else if (strcmp(suffix, "_count") == 0) {
        h->has_count = true;
        h->count = v;
    } else {
        h->has_sum = true;
    }
    return true;
}

/* NULL when `text` is valid; else a message naming the line. */
static const char *prom_check(const char *text, checker *c)
{
    memset(c, 0, sizeof *c);
    c->last = -1;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n') {
        bad_at(c, 0, "the exposition must end with a newline");
        return c->err;
    }
    int ln = 0;
    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        ln++;
        if (eol == p) {
            bad_at(c, ln, "empty line");
            return c->err;
        }
        if (*p == '#') {
            bool help = strncmp(p, "# HELP ", 7) == 0, type = strncmp(p, "# TYPE ", 7) == 0;
            if (help || type) {
                const char *n = p + 7, *ne = n;
                while (ne < eol && *ne != ' ') {
                    ne++;
                }
                if (!is_name(n, (size_t)(ne - n), true)) {
                    bad_at(c, ln, "bad metric name in comment");
                    return c->err;
                }
                int fi = fam_get(c, n, (size_t)(ne - n));
                if (fi < 0) {
                    bad_at(c, ln, "too many families for the checker");
                    return c->err;
                }
                fam *f = &c->f[fi];
                if (f->sampled) {
                    bad_at(c, ln, "# %s for '%s' after its samples", help ? "HELP" : "TYPE",
                         f->name);
                    return c->err;
                }
                if (help) {
                    if (f->help) {
                        bad_at(c, ln, "second # HELP for '%s'", f->name);
                        return c->err;
                    }
                    f->help = true;
                    if (ne >= eol || *ne != ' ') {
                        bad_at(c, ln, "# HELP without text");
                        return c->err;
                    }
                    for (const char *t = ne + 1; t < eol; t++) {
                        if (*t == '\\' && (t + 1 >= eol || (t[1] != '\\' && t[1] != 'n'))) {
                            bad_at(c, ln, "bad escape in # HELP");
                            return c->err;
                        }
                        t += *t == '\\';
                    }
                } else {
                    if (f->typed) {
                        bad_at(c, ln, "second # TYPE for '%s'", f->name);
                        return c->err;
                    }
                    f->typed = true;
                    size_t tl = (size_t)(eol - ne);
                    const char *tv = ne + 1;
                    static const char *const types[] = {"counter", "gauge", "histogram",
                                                        "summary", "untyped"};
                    bool ok = false;
                    for (size_t k = 0; tl > 1 && k < 5; k++) {
                        ok |= strlen(types[k]) == tl - 1 && strncmp(tv, types[k], tl - 1) == 0;
                    }
                    if (!ok) {
                        bad_at(c, ln, "bad # TYPE value '%.*s'", (int)(tl ? tl - 1 : 0), tv);
                        return c->err;
                    }
                    snprintf(f->type, sizeof f->type, "%.*s", (int)(tl - 1), tv);
                }
            }
        } else if (!check_sample(c, ln, p, eol)) {
            return c->err;
        }
        p = eol + 1;
    }
    for (int i = 0; i < c->nh; i++) {
        hist_pt *h = &c->h[i];
        if (h->n == 0 || !isinf(h->le[h->n - 1])) {
            bad_at(c, ln, "histogram %s does not end at le=\"+Inf\"", h->base);
            return c->err;
        }
        if (!h->has_count || !h->has_sum) {
            bad_at(c, ln, "histogram %s lacks _sum or _count", h->base);
            return c->err;
        }
        if (h->v[h->n - 1] != h->count) {
            bad_at(c, ln, "histogram %s: +Inf bucket %g != _count %g", h->base, h->v[h->n - 1],
                 h->count);
            return c->err;
        }
    }
    return NULL;
}

static checker ck;

/* ---- The checker can fail --------------------------------------------------------- */

static void test_checker_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "# TYPE a counter\na 1", /* no final newline */
        "# HELP a x\n# HELP a y\n# TYPE a counter\na 1\n",
        "# TYPE a counter\n# TYPE a counter\na 1\n",
        "a 1\n",                                   /* no TYPE */
        "# TYPE a counter\na 1\n# HELP a late\n",  /* HELP after samples */
        "# TYPE a bogus\na 1\n",
        "# TYPE 1a counter\n1a 1\n",
        "# TYPE a counter\na{b=\"x\\t\"} 1\n",     /* bad escape */
        "# TYPE a counter\na{b=\"x\"\"} 1\n",
        "# TYPE a counter\na{b=\"x\",} 1\n",
        "# TYPE a counter\na{b=\"x\",b=\"y\"} 1\n",
        "# TYPE a counter\na{__b-c=\"x\"} 1\n",
        "# TYPE a counter\na -1\n",
        "# TYPE a counter\na inf\n",
        "# TYPE a gauge\na 1\na 2\n",             /* duplicate series */
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 2\n", /* not contiguous */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE a counter\n\na 1\n",
        "# TYPE a counter\na  1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (prom_check(bad[i], &ck) == NULL) {
            fail_msg("the checker accepted bad input %zu:\n%s", i, bad[i]);
        }
    }
    const char *good = "# HELP a A \\\\ help\\n text.\n# TYPE a counter\na{b=\"q\\\"\\\\\\n\"} 1\n"
                       "a{b=\"r\"} 2.5 1700000000000\n"
                       "# TYPE h histogram\nh_bucket{le=\"0.5\"} 0\nh_bucket{le=\"+Inf\"} 3\n"
                       "h_sum 7\nh_count 3\n";
    const char *e = prom_check(good, &ck);
    assert_null(e);
}

/* ---- The registry ------------------------------------------------------------------ */

static void test_registry_render(void **state)
{
    (void)state;
    es_metrics *m;
    assert_int_equal(es_metrics_new(&m), 0);
    const char *l1[] = {"topic"};
    es_metric_family *c = es_metrics_register(m, "earshot_x_total", "Help with \\ and\nnewline.",
                                              ES_METRIC_COUNTER, l1, 1, NULL, 0);
    assert_non_null(c);
    /* Same shape again: the same family; another shape: refused. */
    assert_ptr_equal(es_metrics_register(m, "earshot_x_total", "", ES_METRIC_COUNTER, l1, 1, NULL,
                                         0),
                     c);
    assert_null(es_metrics_register(m, "earshot_x_total", "", ES_METRIC_GAUGE, l1, 1, NULL, 0));
    assert_null(es_metrics_register(m, "9bad", "", ES_METRIC_GAUGE, NULL, 0, NULL, 0));
    const char *bad_l[] = {"__x"};
    assert_null(es_metrics_register(m, "earshot_y", "", ES_METRIC_GAUGE, bad_l, 1, NULL, 0));
    const char *le_l[] = {"le"};
    const double b[] = {0.5, 1, 5};
    assert_null(es_metrics_register(m, "earshot_h", "", ES_METRIC_HISTOGRAM, le_l, 1, b, 3));
    const double unsorted[] = {1, 0.5};
    assert_null(es_metrics_register(m, "earshot_h", "", ES_METRIC_HISTOGRAM, NULL, 0, unsorted, 2));

    es_metric *s1 = es_metric_get(c, (const char *[]){"a\"b\\c\nd"});
    es_metric_inc(s1, 2);
    es_metric_inc(s1, -5); /* counters never go down */
    assert_ptr_equal(es_metric_get(c, (const char *[]){"a\"b\\c\nd"}), s1);
    es_metric_inc(es_metric_get(c, (const char *[]){"plain"}), 0.25);

    es_metric_family *g = es_metrics_register(m, "earshot_g", "A gauge.", ES_METRIC_GAUGE, NULL,
                                              0, NULL, 0);
    es_metric_set(es_metric_get(g, NULL), -3.5);
    const char *pl[] = {"policy"};
    es_metric_family *h = es_metrics_register(m, "earshot_tta_seconds", "Time.",
                                              ES_METRIC_HISTOGRAM, pl, 1, b, 3);
    es_metric *hs = es_metric_get(h, (const char *[]){"support"});
    es_metric_observe(hs, 0.5); /* on a bound: counts in it (le is <=) */
    es_metric_observe(hs, 3);
    es_metric_observe(hs, 100);
    es_metrics_register(m, "earshot_empty", "No series yet.", ES_METRIC_GAUGE, NULL, 0, NULL, 0);

    es_buf out;
    es_buf_init(&out, 1 << 20);
    assert_int_equal(es_metrics_render(m, &out), 0);
    const char *want =
        "# HELP earshot_x_total Help with \\\\ and\\nnewline.\n"
        "# TYPE earshot_x_total counter\n"
        "earshot_x_total{topic=\"a\\\"b\\\\c\\nd\"} 2\n"
        "earshot_x_total{topic=\"plain\"} 0.25\n"
        "# HELP earshot_g A gauge.\n"
        "# TYPE earshot_g gauge\n"
        "earshot_g -3.5\n"
        "# HELP earshot_tta_seconds Time.\n"
        "# TYPE earshot_tta_seconds histogram\n"
        "earshot_tta_seconds_bucket{policy=\"support\",le=\"0.5\"} 1\n"
        "earshot_tta_seconds_bucket{policy=\"support\",le=\"1\"} 1\n"
        "earshot_tta_seconds_bucket{policy=\"support\",le=\"5\"} 2\n"
        "earshot_tta_seconds_bucket{policy=\"support\",le=\"+Inf\"} 3\n"
        "earshot_tta_seconds_sum{policy=\"support\"} 103.5\n"
        "earshot_tta_seconds_count{policy=\"support\"} 3\n"
        "# HELP earshot_empty No series yet.\n"
        "# TYPE earshot_empty gauge\n";
    assert_string_equal(out.data, want);
    const char *e = prom_check(out.data, &ck);
    if (e != NULL) {
        fail_msg("%s", e);
    }
    /* Clearing drops the series but keeps the family. */
    es_metric_family_clear(c);
    es_buf_reset(&out);
    assert_int_equal(es_metrics_render(m, &out), 0);
    assert_null(strstr(out.data, "earshot_x_total{"));
    assert_non_null(strstr(out.data, "# TYPE earshot_x_total counter\n"));
    es_buf_free(&out);
    es_metrics_free(m);
}

static void test_registry_many_series(void **state)
{
    (void)state;
    es_metrics *m;
    assert_int_equal(es_metrics_new(&m), 0);
    const char *l[] = {"feed", "kind"};
    es_metric_family *f = es_metrics_register(m, "earshot_many_total", "Many.", ES_METRIC_COUNTER,
                                              l, 2, NULL, 0);
    char a[32], b[32];
    for (int i = 0; i < ES_METRICS_MAX_SERIES; i++) {
        snprintf(a, sizeof a, "f%d", i % 100);
        snprintf(b, sizeof b, "k%d", i / 100);
        es_metric *s = es_metric_get(f, (const char *[]){a, b});
        assert_non_null(s);
        es_metric_inc(s, i);
    }
    /* The cap: a new series is refused, existing ones are still found. */
    assert_null(es_metric_get(f, (const char *[]){"new", "one"}));
    es_metric *s = es_metric_get(f, (const char *[]){"f7", "k3"});
    assert_non_null(s);
    assert_true(es_metric_value(s) == 307);
    es_buf out;
    es_buf_init(&out, 4 << 20);
    assert_int_equal(es_metrics_render(m, &out), 0);
    assert_int_equal(es_test_count_lines(out.data), ES_METRICS_MAX_SERIES + 2);
    es_buf_free(&out);
    es_metrics_free(m);
}

/* ---- A live engine's /metrics ------------------------------------------------------- */

static char dir[256];
static pid_t child = -1;

/* A failed assertion must not leave an engine running. */
static int kill_child(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return es_buf_add(ud, p, size * n) == 0 ? size * n : 0;
}

static long http_get(int port, const char *path, es_buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    es_buf_reset(out);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(h);
    return status;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_live_metrics(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_test_metrics_%d_XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(dir));
    char cfg[300], feed[300], log[300];
    snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
    snprintf(feed, sizeof feed, "%s/m.ndjson", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    FILE *f = fopen(feed, "w");
    assert_non_null(f);
    fputs("{\"id\":\"1\",\"created_at\":1748736000,\"text\":\"@acme my order never arrived, "
          "worst service ever, I want a refund\",\"author\":\"q\\\"uote\"}\n"
          "{\"id\":\"2\",\"created_at\":1748736001,\"text\":\"@acme love it\"}\n"
          "not json\n",
          f);
    fclose(f);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "state: %s/state.db\nlexicons: %s\n"
            "admin: {enabled: true, listen: '127.0.0.1:0'}\n"
            "topics:\n  - name: acme\n    query: '@acme'\n"
            "  - name: beta\n    query: 'love'\n"
            "feeds:\n  - name: input\n    type: file\n    path: %s\n    follow: true\n"
            "sinks:\n  - name: archive\n    type: file\n    path: %s/alerts.ndjson\n",
            dir, ES_TEST_LEXICONS, feed, dir);
    fclose(f);
    pid_t pid = child = es_test_spawn_run(cfg, log, NULL);
    assert_true(pid >= 0);
    int port = es_test_wait_log_port(log, 10000);
    assert_true(port > 0);
    es_buf body;
    es_buf_init(&body, 16 << 20);
    /* Wait until both mentions are in, then check the whole exposition. */
    bool in = false;
    for (int i = 0; i < 500 && !in; i++) {
        assert_int_equal(http_get(port, "/metrics", &body), 200);
        in = strstr(body.data, "\nearshot_mentions_in_total 2\n") != NULL;
        if (!in) {
            sleep_ms(10);
        }
    }
    assert_true(in);
    const char *e = prom_check(body.data, &ck);
    if (e != NULL) {
        fail_msg("%s\n%s", e, body.data);
    }
    assert_non_null(strstr(body.data, "earshot_feed_decode_errors_total{feed=\"input\"} 1\n"));
    assert_non_null(strstr(body.data, "earshot_topic_mentions_total{topic=\"acme\"} 2\n"));
    assert_non_null(strstr(body.data, "earshot_topic_mentions_total{topic=\"beta\"} 1\n"));
    assert_non_null(strstr(body.data, "# TYPE earshot_time_to_acknowledge_seconds histogram\n"));
    assert_non_null(strstr(body.data, "# TYPE earshot_event_loop_lag_seconds gauge\n"));
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    child = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    es_buf_free(&body);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_rejects),
        cmocka_unit_test(test_registry_render),
        cmocka_unit_test(test_registry_many_series),
        cmocka_unit_test_teardown(test_live_metrics, kill_child),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
