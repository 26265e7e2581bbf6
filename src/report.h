/*
 * The backfill report: a collector fed with every mention and alert of a
 * run, and a writer that turns what it kept into one self-contained HTML
 * file (inline CSS and SVG, no script, no network) that a team lead can
 * read in a minute and print.
 *
 * Memory is bounded whatever the length of the run:
 *
 *   - one shared time axis of at most ES_REPORT_MAX_POINTS buckets; it
 *     starts at one minute and coarsens (1 m, 5 m, 15 m, 30 m, 1 h, 3 h,
 *     6 h, 12 h, 1 d, then doubling) when the range grows;
 *   - totals for every topic, and the details (time series, top complaints,
 *     most-reached authors, complaint cues) for the first
 *     ES_REPORT_DETAIL_TOPICS topics of the config;
 *   - top complaints in a small heap, authors and cues in Space-Saving
 *     tables (heavy hitters: counts are upper bounds, exact for the ones
 *     that never left the table);
 *   - the first ES_REPORT_MAX_EPISODES alerts that are not individual
 *     complaints, and the ES_REPORT_MAX_COMPLAINT_ALERTS most severe
 *     complaint alerts, with every other alert counted.
 *
 * Everything the report prints from the input is escaped for HTML, and only
 * http(s) URLs become links. The output depends on nothing but the input
 * (no wall-clock time), so the same run gives the same file.
 *
 * Changing what the collector keeps? Update docs/report.md and
 * tests/test_report.c, which reads the markers and tables back.
 */
#ifndef ES_REPORT_H
#define ES_REPORT_H

#include "alert.h"
#include "earshot.h"
#include "earshot/topics.h"
#include "pipeline.h"

#include <stdio.h>

#define ES_REPORT_MAX_POINTS 500
#define ES_REPORT_DETAIL_TOPICS 200
#define ES_REPORT_MAX_EPISODES 500
#define ES_REPORT_MAX_COMPLAINT_ALERTS 200

typedef struct es_report es_report;

typedef struct es_report_opts {
    /* Names and competitor flags of the topics; must outlive the report.
     * NULL: no topics (the report then only has totals and alerts). */
    const es_topics *topics;
    /* Shown as the page title, e.g. the config file's name; NULL: none. */
    const char *title;
} es_report_opts;

/* A new, empty collector in *out. Returns 0 or ES_ENOMEM. */
int es_report_new(const es_report_opts *o, es_report **out);
void es_report_free(es_report *r);

/*
 * Count one mention with what the pipeline found in it (backfill's
 * on_mention callback). Nothing is borrowed past the call: the strings kept
 * are copied (and cut at a UTF-8 boundary). Returns 0 or ES_ENOMEM.
 */
int es_report_add_mention(es_report *r, const es_mention *m, const es_pipeline_result *res);

/* Count one alert (backfill's on_alert callback); copied, not borrowed.
 * Returns 0 or ES_ENOMEM. */
int es_report_add_alert(es_report *r, const es_alert *a);

/* Write the HTML page to f. Returns 0, or ES_EIO if writing failed. */
int es_report_write_html(const es_report *r, FILE *f);

/*
 * Write the page to `path`: into a temporary file beside it that is renamed
 * over `path` once complete, so a failed run never leaves half a report.
 * Returns 0 or ES_EIO with err naming the file.
 */
int es_report_save(const es_report *r, const char *path, es_error *err);

#endif
