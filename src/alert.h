/*
 * The alert model of the contract, and its JSON encoding.
 *
 * Changing this struct? Update es_alert_to_json(), the contract section in
 * README.md and the golden files under tests/fixtures that hold alerts.
 */
#ifndef ES_ALERT_H
#define ES_ALERT_H

#include "buf.h"
#include "earshot.h"

#include <stdbool.h>

typedef enum {
    ES_ALERT_COMPLAINT,
    ES_ALERT_VOLUME_SPIKE,
    ES_ALERT_NEGATIVE_SURGE,
    ES_ALERT_VIRAL_POST,
    ES_ALERT_FEED_STALLED,
} es_alert_kind;

typedef enum { ES_SEV_INFO, ES_SEV_WARNING, ES_SEV_CRITICAL } es_severity;

const char *es_alert_kind_name(es_alert_kind k);   /* "volume_spike" */
const char *es_severity_name(es_severity s);        /* "warning" */

/* A mention quoted in an alert (borrowed strings). */
typedef struct es_alert_mention {
    es_str id;
    es_str author;
    es_str text;
    es_str url;
} es_alert_mention;

/*
 * An alert. All pointers are borrowed for the duration of the encode call.
 * `id` is derived deterministically from the fingerprint and `at`, so the
 * same input gives the same alerts (backfill is reproducible) and a repeat
 * of the same condition at the same time has the same id.
 */
typedef struct es_alert {
    es_alert_kind kind;
    es_severity severity;
    bool resolved;
    const char *topic;       /* NULL when the alert has no topic (feed_stalled, spikes) */
    const char *series;      /* `earshot spikes`: the input file's base name, else NULL */
    const char *feed;        /* feed_stalled: the feed's name, else NULL */
    int64_t at_ms;           /* event time of detection */
    const char *at_text;     /* if not NULL, printed as "at" verbatim (spikes: as in input) */
    const char *fingerprint; /* e.g. "acme/volume_spike/2015-02-22T14" */
    const char *summary;     /* one readable sentence */
    const char *details_json;/* a JSON object "{...}" with the numbers; NULL means {} */
    const es_alert_mention *mentions;
    size_t n_mentions;
} es_alert;

/*
 * The alert id: a 26-character Crockford base32 ULID whose time part is
 * `at_ms` and whose other 80 bits come from a hash of the fingerprint and
 * the status, so it sorts by event time and is reproducible.
 */
void es_alert_make_id(const es_alert *a, char out[27]);

/* Append the alert as one JSON object (no newline). Mention texts longer
 * than 1,000 bytes are cut at a UTF-8 boundary with an ellipsis. */
int es_alert_to_json(const es_alert *a, es_buf *out);

#endif
