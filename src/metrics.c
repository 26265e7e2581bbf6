/*
 * The metrics registry and its Prometheus text rendering. See metrics.h.
 *
 * Series of a family live in one array in creation order (rendering walks
 * it) and are found through an open-addressing hash of their label values,
 * so a lookup costs one hash and usually one string compare, and nothing is
 * allocated after a series exists.
 */
#include "metrics.h"
#include "earshot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct es_metric {
    es_metric_family *fam;
    char **values;   /* n_labels copies */
    uint64_t hash;
    double value;    /* counter, gauge; histogram: sum */
    unsigned long long count;
    unsigned long long *buckets; /* histogram: per bucket (not cumulative), n_buckets + 1 */
};

struct es_metric_family {
    char *name;
    char *help;
    es_metric_type type;
    char *labels[ES_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[ES_METRICS_MAX_BUCKETS];
    size_t n_buckets;
    es_metric **series; /* creation order */
    size_t n_series, cap_series;
    es_metric **slots; /* hash table, power of two */
    size_t n_slots;
};

struct es_metrics {
    es_metric_family **fams;
    size_t n, cap;
};

int es_metrics_new(es_metrics **out)
{
    *out = calloc(1, sizeof **out);
    return *out != NULL ? 0 : ES_ENOMEM;
}

static void series_free(es_metric *s)
{
    for (size_t i = 0; i < s->fam->n_labels; i++) {
        free(s->values[i]);
    }
    free(s->values);
    free(s->buckets);
    free(s);
}

void es_metric_family_clear(es_metric_family *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->n_series; i++) {
        series_free(f->series[i]);
    }
    f->n_series = 0;
    if (f->slots != NULL) {
        memset(f->slots, 0, f->n_slots * sizeof *f->slots);
    }
}

static void family_free(es_metric_family *f)
{
    es_metric_family_clear(f);
    free(f->series);
    free(f->slots);
    for (size_t i = 0; i < f->n_labels; i++) {
        free(f->labels[i]);
    }
    free(f->name);
    free(f->help);
    free(f);
}

void es_metrics_free(es_metrics *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        family_free(m->fams[i]);
    }
    free(m->fams);
    free(m);
}

static bool name_ok(const char *s, bool colon)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (colon && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

es_metric_family *es_metrics_find(const es_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->fams[i]->name, name) == 0) {
            return m->fams[i];
        }
    }
    return NULL;
}

static bool same_shape(const es_metric_family *f, es_metric_type type, const char *const *labels,
                       size_t n_labels)
{
    if (f->type != type || f->n_labels != n_labels) {
        return false;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (strcmp(f->labels[i], labels[i]) != 0) {
            return false;
        }
    }
    return true;
}

es_metric_family *es_metrics_register(es_metrics *m, const char *name, const char *help,
                                      es_metric_type type, const char *const *labels,
                                      size_t n_labels, const double *buckets, size_t n_buckets)
{
    if (!name_ok(name, true) || n_labels > ES_METRICS_MAX_LABELS ||
        n_buckets > ES_METRICS_MAX_BUCKETS ||
        (type == ES_METRIC_HISTOGRAM) != (n_buckets > 0)) {
        return NULL;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (!name_ok(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
            (type == ES_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)) {
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(labels[i], labels[j]) == 0) {
                return NULL;
            }
        }
    }
    for (size_t i = 0; i < n_buckets; i++) {
        if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
            return NULL;
        }
    }
    es_metric_family *old = es_metrics_find(m, name);
    if (old != NULL) {
        return same_shape(old, type, labels, n_labels) ? old : NULL;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        es_metric_family **n = realloc(m->fams, cap * sizeof *n);
        if (n == NULL) {
            return NULL;
        }
        m->fams = n;
        m->cap = cap;
    }
    es_metric_family *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    bool ok = f->name != NULL && f->help != NULL;
    for (size_t i = 0; i < n_labels; i++) {
        f->labels[i] = strdup(labels[i]);
        ok &= f->labels[i] != NULL;
        f->n_labels = i + 1;
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }
    if (n_buckets > 0) {
        memcpy(f->bounds, buckets, n_buckets * sizeof *buckets);
    }
    f->n_buckets = n_buckets;
    m->fams[m->n++] = f;
    return f;
}

static uint64_t hash_values(const es_metric_family *f, const char *const *values)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < f->n_labels; i++) {
        for (const char *p = values[i] != NULL ? values[i] : ""; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        }
        h = (h ^ 0xffu) * 0x100000001b3ULL; /* a separator no UTF-8 text holds */
    }
    return h;
}

static bool same_values(const es_metric *s, const char *const *values)
{
    for (size_t i = 0; i < s->fam->n_labels; i++) {
        if (strcmp(s->values[i], values[i] != NULL ? values[i] : "") != 0) {
            return false;
        }
    }
    return true;
}

static void slot_put(es_metric_family *f, es_metric *s)
{
    size_t mask = f->n_slots - 1;
    size_t i = (size_t)s->hash & mask;
    while (f->slots[i] != NULL) {
        i = (i + 1) & mask;
    }
    f->slots[i] = s;
}

/* Keep the table at most half full so probes stay short. */
static int grow_slots(es_metric_family *f)
{
    if ((f->n_series + 1) * 2 <= f->n_slots) {
        return 0;
    }
    size_t n = f->n_slots ? f->n_slots * 2 : 16;
    es_metric **slots = calloc(n, sizeof *slots);
    if (slots == NULL) {
        return ES_ENOMEM;
    }
    free(f->slots);
    f->slots = slots;
    f->n_slots = n;
    for (size_t i = 0; i < f->n_series; i++) {
        slot_put(f, f->series[i]);
    }
    return 0;
}

es_metric *es_metric_get(es_metric_family *f, const char *const *values)
{
    if (f == NULL) {
        return NULL;
    }
    static const char *const none[1] = {""};
    if (f->n_labels == 0 || values == NULL) {
        values = none;
    }
    uint64_t h = hash_values(f, values);
    if (f->n_slots > 0) {
        size_t mask = f->n_slots - 1;
        for (size_t i = (size_t)h & mask; f->slots[i] != NULL; i = (i + 1) & mask) {
            if (f->slots[i]->hash == h && same_values(f->slots[i], values)) {
                return f->slots[i];
            }
        }
    }
    if (f->n_series >= ES_METRICS_MAX_SERIES || grow_slots(f) != 0) {
        return NULL;
    }
    if (f->n_series == f->cap_series) {
        size_t cap = f->cap_series ? f->cap_series * 2 : 8;
        es_metric **n = realloc(f->series, cap * sizeof *n);
        if (n == NULL) {
            return NULL;
        }
        f->series = n;
        f->cap_series = cap;
    }
    es_metric *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->fam = f;
    s->hash = h;
    s->values = calloc(f->n_labels ? f->n_labels : 1, sizeof *s->values);
    bool ok = s->values != NULL;
    for (size_t i = 0; ok && i < f->n_labels; i++) {
        s->values[i] = strdup(values[i] != NULL ? values[i] : "");
        ok = s->values[i] != NULL;
    }
    if (ok && f->type == ES_METRIC_HISTOGRAM) {
        s->buckets = calloc(f->n_buckets + 1, sizeof *s->buckets);
        ok = s->buckets != NULL;
    }
    if (!ok) {
        series_free(s);
        return NULL;
    }
    f->series[f->n_series++] = s;
    slot_put(f, s);
    return s;
}

void es_metric_inc(es_metric *s, double v)
{
    if (s == NULL || s->fam->type == ES_METRIC_HISTOGRAM ||
        (s->fam->type == ES_METRIC_COUNTER && !(v >= 0))) {
        return;
    }
    s->value += v;
}

void es_metric_set(es_metric *s, double v)
{
    if (s != NULL && s->fam->type != ES_METRIC_HISTOGRAM) {
        s->value = v;
    }
}

void es_metric_observe(es_metric *s, double v)
{
    if (s == NULL || s->fam->type != ES_METRIC_HISTOGRAM || isnan(v)) {
        return;
    }
    size_t b = 0;
    while (b < s->fam->n_buckets && v > s->fam->bounds[b]) {
        b++;
    }
    s->buckets[b]++;
    s->count++;
    s->value += v;
}

double es_metric_value(const es_metric *s)
{
    return s != NULL ? s->value : 0;
}

unsigned long long es_metric_count(const es_metric *s)
{
    return s != NULL ? s->count : 0;
}

/* ---- Rendering -------------------------------------------------------------- */

/* A sample value as Prometheus parses it: integers without a fraction,
 * others in the shortest form that reads back the same, and the three
 * specials spelled as Go's ParseFloat accepts them. */
static int put_number(es_buf *b, double v)
{
    if (isnan(v)) {
        return es_buf_adds(b, "NaN");
    }
    if (isinf(v)) {
        return es_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        return es_buf_printf(b, "%.0f", v);
    }
    char tmp[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }
    return es_buf_adds(b, tmp);
}

/* HELP text escapes backslash and newline; label values also the quote. */
static int put_escaped(es_buf *b, const char *s, bool quote)
{
    int rc = 0;
    for (const char *p = s; rc == 0 && *p != '\0'; p++) {
        if (*p == '\\') {
            rc = es_buf_adds(b, "\\\\");
        } else if (*p == '\n') {
            rc = es_buf_adds(b, "\\n");
        } else if (quote && *p == '"') {
            rc = es_buf_adds(b, "\\\"");
        } else {
            rc = es_buf_addc(b, *p);
        }
    }
    return rc;
}

/* name{labels[,le="x"]} (no braces when there is nothing inside). */
static int put_series_name(es_buf *b, const es_metric *s, const char *suffix, const double *le)
{
    const es_metric_family *f = s->fam;
    int rc = es_buf_adds(b, f->name);
    rc = rc ? rc : es_buf_adds(b, suffix);
    if (rc != 0 || (f->n_labels == 0 && le == NULL)) {
        return rc;
    }
    rc = es_buf_addc(b, '{');
    for (size_t i = 0; rc == 0 && i < f->n_labels; i++) {
        rc = es_buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        rc = rc ? rc : put_escaped(b, s->values[i], true);
        rc = rc ? rc : es_buf_addc(b, '"');
    }
    if (rc == 0 && le != NULL) {
        rc = es_buf_printf(b, "%sle=\"", f->n_labels ? "," : "");
        rc = rc ? rc : put_number(b, *le);
        rc = rc ? rc : es_buf_addc(b, '"');
    }
    return rc ? rc : es_buf_addc(b, '}');
}

static int put_sample(es_buf *b, const es_metric *s, const char *suffix, const double *le,
                      double v)
{
    int rc = put_series_name(b, s, suffix, le);
    rc = rc ? rc : es_buf_addc(b, ' ');
    rc = rc ? rc : put_number(b, v);
    return rc ? rc : es_buf_addc(b, '\n');
}

static const char *type_name(es_metric_type t)
{
    return t == ES_METRIC_COUNTER ? "counter" : t == ES_METRIC_GAUGE ? "gauge" : "histogram";
}

int es_metrics_render(const es_metrics *m, es_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        const es_metric_family *f = m->fams[i];
        rc = es_buf_printf(out, "# HELP %s ", f->name);
        rc = rc ? rc : put_escaped(out, f->help, false);
        rc = rc ? rc : es_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (size_t j = 0; rc == 0 && j < f->n_series; j++) {
            const es_metric *s = f->series[j];
            if (f->type != ES_METRIC_HISTOGRAM) {
                rc = put_sample(out, s, "", NULL, s->value);
                continue;
            }
            unsigned long long cum = 0;
            for (size_t k = 0; rc == 0 && k <= f->n_buckets; k++) {
                double le = k < f->n_buckets ? f->bounds[k] : INFINITY;
                cum += s->buckets[k];
                rc = put_sample(out, s, "_bucket", &le, (double)cum);
            }
            rc = rc ? rc : put_sample(out, s, "_sum", NULL, s->value);
            rc = rc ? rc : put_sample(out, s, "_count", NULL, (double)s->count);
        }
    }
    return rc;
}
