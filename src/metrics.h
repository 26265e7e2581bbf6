/*
 * A small metrics registry: counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format 0.0.4.
 *
 *   es_metrics *m;  es_metrics_new(&m);
 *   static const char *const lbl[] = {"topic"};
 *   es_metric_family *f = es_metrics_register(m, "earshot_topic_mentions_total",
 *       "Mentions matched per topic.", ES_METRIC_COUNTER, lbl, 1, NULL, 0);
 *   es_metric *s = es_metric_get(f, (const char *[]){"acme"});
 *   es_metric_inc(s, 1);
 *   es_metrics_render(m, &buf);
 *
 * Ownership: the registry owns its families and series; family and series
 * pointers stay valid until es_metrics_free (or, for series, until
 * es_metric_family_clear on their family). Names, help texts and label
 * values are copied. Hot paths should keep the es_metric pointer they got
 * instead of looking it up per event; a lookup is a hash probe and never
 * allocates once the series exists.
 *
 * Not thread-safe: the engine uses it from its loop thread only.
 *
 * Changing the output? The strict format checker in tests/test_metrics.c
 * must still pass, and `earshot top` (src/cli/cmd_top.c) parses it.
 */
#ifndef ES_METRICS_H
#define ES_METRICS_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { ES_METRIC_COUNTER, ES_METRIC_GAUGE, ES_METRIC_HISTOGRAM } es_metric_type;

typedef struct es_metrics es_metrics;
typedef struct es_metric_family es_metric_family;
typedef struct es_metric es_metric;

/* Series per family at most: label values can come from outside (feed and
 * topic names are config, but a bug must not grow memory without end). */
#define ES_METRICS_MAX_SERIES 10000
#define ES_METRICS_MAX_LABELS 8
#define ES_METRICS_MAX_BUCKETS 32

int es_metrics_new(es_metrics **out);
void es_metrics_free(es_metrics *m);

/*
 * Register a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, each label
 * name [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (and not "le" for a
 * histogram). Histograms take `buckets`: finite upper bounds in strictly
 * increasing order (+Inf is implied); other types pass NULL, 0. Registering
 * the same name again with the same type and labels returns the existing
 * family. Returns NULL for a bad name, a clash or out-of-memory.
 */
es_metric_family *es_metrics_register(es_metrics *m, const char *name, const char *help,
                                      es_metric_type type, const char *const *labels,
                                      size_t n_labels, const double *buckets, size_t n_buckets);

/* The family called `name`, or NULL. */
es_metric_family *es_metrics_find(const es_metrics *m, const char *name);

/*
 * The series with these label values (one per label name; NULL counts as
 * ""), made at zero on first use. NULL on out-of-memory or when the family
 * already holds ES_METRICS_MAX_SERIES series.
 */
es_metric *es_metric_get(es_metric_family *f, const char *const *values);

/* Counter or gauge: add v (a counter ignores v < 0: counters only rise). */
void es_metric_inc(es_metric *s, double v);
/* Gauge: set. Counter: mirror a count kept elsewhere (a feed's counters);
 * a smaller value is a counter reset, which Prometheus understands. */
void es_metric_set(es_metric *s, double v);
/* Histogram: count one observation. */
void es_metric_observe(es_metric *s, double v);
/* Counter or gauge value; a histogram's sum. */
double es_metric_value(const es_metric *s);
/* A histogram's number of observations (0 for other types). */
unsigned long long es_metric_count(const es_metric *s);

/* Drop every series of the family (gauges rebuilt at each scrape, so a
 * feed removed by a reload disappears). Series pointers become invalid. */
void es_metric_family_clear(es_metric_family *f);

/*
 * Append the whole registry in the text format 0.0.4: per family, in
 * registration order, "# HELP" and "# TYPE" once, then its series in
 * creation order; histograms as cumulative _bucket{le=...} lines ending at
 * le="+Inf", then _sum and _count. A family with no series prints its
 * HELP and TYPE only. Returns 0 or ES_ETOOBIG / ES_ENOMEM from the buffer.
 */
int es_metrics_render(const es_metrics *m, es_buf *out);

/* The text format's Content-Type. */
#define ES_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
