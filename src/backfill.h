/*
 * Backfill: the pipeline over files of past mentions, in event time.
 *
 * Two phases. Reading decodes every input (any order, any platform format)
 * into the external sorter keyed by event time; processing then feeds the
 * mentions in time order through the same pipeline the live engine uses and
 * writes alerts and/or enriched mentions as NDJSON. Memory is bounded by
 * the sort budget (default 256 MiB) plus one 256 KiB buffer per spilled run
 * and the fixed per-topic detector state, whatever the input size.
 */
#ifndef ES_BACKFILL_H
#define ES_BACKFILL_H

#include "earshot.h"
#include "earshot/config.h"
#include "earshot/decode.h"
#include "earshot/intent.h"
#include "alert.h"
#include "detect.h"

#include <stdbool.h>
#include <stdio.h>

enum { ES_EMIT_ALERTS = 1, ES_EMIT_MENTIONS = 2, ES_EMIT_ALL = 3 };

typedef struct es_backfill_opts {
    const es_config *config;
    const char *lexicons_dir;   /* resolved already (flag, config, or default) */
    es_format format;
    const char *const *inputs;  /* paths; "-" is stdin */
    size_t n_inputs;
    int emit;                   /* ES_EMIT_* */
    FILE *out;
    int64_t since_ms;           /* ES_TIME_UNKNOWN: no bound */
    int64_t until_ms;           /* exclusive; ES_TIME_UNKNOWN: no bound */
    size_t memory_budget;       /* bytes for the sort; 0: 256 MiB */
    const char *tmpdir;         /* NULL: $TMPDIR or /tmp */
    bool progress;              /* a progress line on stderr */
    bool summary;               /* a readable summary of the alerts on stderr at the end */
    /* Optional: every alert as it is produced (e.g. to deliver it), with
     * the mention being processed when it raised the alert (else NULL; a
     * viral_post may quote an earlier one) and that mention's intent. */
    int (*on_alert)(void *ud, const es_alert *a, const es_mention *m, es_intent_kind intent);
    void *ud;
    /* --report: if not NULL, also write the HTML report (src/report.h) here. */
    const char *report_path;
} es_backfill_opts;

typedef struct es_backfill_stats {
    uint64_t records;       /* records decoded */
    uint64_t bad;           /* bad records skipped (reported on stderr) */
    uint64_t out_of_range;  /* outside --since/--until */
    uint64_t mentions;      /* processed */
    uint64_t matched;
    uint64_t complaints;
    uint64_t alerts;
    uint64_t runs_spilled;
    double read_seconds, process_seconds;
} es_backfill_stats;

/*
 * Run a backfill. Bad records are reported on stderr as "FILE:LINE: what"
 * and skipped. Returns 0, or an ES_E* code with err filled (an input that
 * cannot be opened, the lexicons, an output error).
 */
int es_backfill_run(const es_backfill_opts *o, es_backfill_stats *stats, es_error *err);

#endif
