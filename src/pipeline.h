/*
 * The pipeline after decoding, shared by backfill and the live engine:
 *
 *   mention -> match (topics) -> score (sentiment) -> intent -> detect -> alerts
 *
 * It runs in event time: mentions are fed in (roughly) time order and the
 * pipeline closes each topic's buckets as event time passes them, feeding
 * the volume and surge detectors. Nothing here reads the clock, so the same
 * input always gives the same alerts.
 */
#ifndef ES_PIPELINE_H
#define ES_PIPELINE_H

#include "alert.h"
#include "detect.h"
#include "earshot.h"
#include "earshot/intent.h"
#include "earshot/topics.h"

typedef struct es_pipeline_result {
    const uint32_t *topics; /* matched topic ids, ascending */
    size_t n_topics;
    es_sentiment sentiment;
    es_intent intent;
} es_pipeline_result;

typedef struct es_pipeline_opts {
    const es_topics *topics;        /* NULL: no topics (every mention is unmatched) */
    const es_detect_params *params; /* one per topic (es_topics_count); NULL: defaults */
    const es_detect_params *viral_params; /* the stream-wide viral_post settings; NULL: defaults */
    const es_lexicon *lex;          /* required */
    const es_cues *cues;            /* required */
    /* Every alert, in event-time order. The alert and its strings are valid
     * during the call only. Return nonzero to stop the pipeline. */
    int (*on_alert)(void *ud, const es_alert *a);
    /* Optional: every mention with what the pipeline found. */
    int (*on_mention)(void *ud, const es_mention *m, const es_pipeline_result *r);
    void *ud;
} es_pipeline_opts;

typedef struct es_pipeline es_pipeline;

int es_pipeline_new(const es_pipeline_opts *o, es_pipeline **out);
void es_pipeline_free(es_pipeline *p);

/* Process one mention. A mention without event time counts in no bucket.
 * Returns 0, a callback's nonzero value, or an ES_E* code. */
int es_pipeline_process(es_pipeline *p, const es_mention *m);

/* Event time has reached now_ms: close every bucket that ends at or before
 * it (so detectors see quiet periods too). */
int es_pipeline_advance(es_pipeline *p, int64_t now_ms);

/* End of input: close the last open buckets. */
int es_pipeline_finish(es_pipeline *p);

/* Inside on_alert: the mention being processed and its intent, or NULL when
 * the alert comes from a closing bucket rather than a mention. The alert
 * may still quote another post (viral_post): compare ids. */
const es_mention *es_pipeline_current(const es_pipeline *p, es_intent_kind *intent);

typedef struct es_pipeline_stats {
    uint64_t mentions, matched, complaints, alerts;
} es_pipeline_stats;
void es_pipeline_stats_get(const es_pipeline *p, es_pipeline_stats *out);

#endif
