/*
 * The detect stage: volume spikes, negative surges, viral posts and
 * coordinated campaigns, and the per-mention complaint alert decision.
 *
 * Rules that hold for every detector here:
 *
 *   - Detectors are pure functions over caller-owned state. Nothing reads
 *     the clock: event time (ms since the Unix epoch) is always passed in,
 *     so backfill is deterministic and tests need no sleeps.
 *   - Per-topic state has a fixed size, whatever the length of the stream
 *     (the viral table is bounded by a count fixed at init).
 *   - A detector fires once at the rising edge of an episode, reports a
 *     `resolved` event when it is over, and then keeps quiet for a cooldown.
 *     The firing and the resolved event of one episode carry the same
 *     episode start, so their alerts share one fingerprint.
 *   - Parameters are data: one option table (name, type, default per
 *     sensitivity preset, bounds, help) drives defaults, presets, validation
 *     of config values and the listing of every key.
 */
#ifndef ES_DETECT_H
#define ES_DETECT_H

#include "alert.h"
#include "earshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

typedef enum { ES_SENS_LOW = 0, ES_SENS_BALANCED = 1, ES_SENS_HIGH = 2 } es_sensitivity;

/* "low", "balanced", "high". */
const char *es_sensitivity_name(es_sensitivity s);

/*
 * Scores ("threshold", "resolve") are in standard deviations of the learned
 * noise: the signed root deviance of the count under a negative-binomial
 * model of the expected count, so 4 means "as surprising as a 4-sigma event"
 * whether the topic sees one mention an hour or thousands a minute.
 */
typedef struct es_spike_params {
    bool enabled;
    double threshold;     /* score at which an episode starts */
    double confirm;       /* score the next bucket needs to confirm a one-bucket burst */
    double resolve;       /* the episode ends once the score stays below this ... */
    int64_t resolve_ms;   /* ... for this long */
    double min_count;     /* never fire on fewer mentions than this in a bucket */
    double min_ratio;     /* nor on less than this multiple of the expected count */
    int64_t window_ms;    /* a second, longer window catches slower rises */
    int64_t cooldown_ms;  /* minimum time between the starts of two episodes */
    int64_t learn_ms;     /* half-life of the baseline level */
    int64_t warmup_ms;    /* no alerts before the baseline has seen this much */
} es_spike_params;

typedef struct es_surge_params {
    bool enabled;
    double threshold;     /* score, as for volume_spike, of the negative count or share */
    double resolve;
    int64_t resolve_ms;
    double min_count;     /* negative mentions needed in a window to fire */
    double min_share;     /* share of negatives among all mentions needed to fire */
    double min_ratio;     /* negatives (or their share) vs the usual */
    int64_t window_ms;    /* the window over which counts and shares are taken */
    int64_t cooldown_ms;
    int64_t learn_ms;
    int64_t warmup_ms;
} es_surge_params;

typedef struct es_viral_params {
    bool enabled;
    double min_followers;     /* a complaint from an author this big is viral_post */
    double min_reposts;       /* reposts gained between observations to fire ... */
    double min_rate;          /* ... at this many reposts + likes per hour at least */
    double growth;            /* ... and at least this factor of the earlier count */
    int64_t track;            /* posts remembered (bounded table) */
    int64_t track_ms;         /* and for how long after their last observation */
    int64_t campaign_posts;   /* near-identical posts in the window to call a campaign */
    int64_t campaign_authors; /* from at least this many distinct authors */
    int64_t campaign_window_ms;
    double campaign_similarity; /* estimated Jaccard similarity of word shingles */
    int64_t cooldown_ms;      /* per campaign cluster */
} es_viral_params;

typedef struct es_detect_params {
    int64_t bucket_ms;              /* event-time bucket, default 5 min */
    es_sensitivity sensitivity;     /* the preset last applied */
    double complaint_threshold;     /* complaint score that makes a `complaint` alert */
    double complaint_warning_followers;  /* reach that makes a complaint `warning` */
    double complaint_critical_followers; /* reach that makes a complaint `critical` */
    es_spike_params volume_spike;
    es_surge_params negative_surge;
    es_viral_params viral_post;
    /*
     * Options set explicitly through es_detect_params_set(), one bit per
     * row of the option table. A preset applied later leaves them alone, so
     * "sensitivity: high" next to "volume_spike.threshold: 5" keeps the 5
     * whatever the order of the keys, and a topic that copies the global
     * params and applies its own preset keeps the global raw numbers.
     */
    uint64_t explicit_mask;
} es_detect_params;

/* The "balanced" preset with no explicit settings. */
void es_detect_params_defaults(es_detect_params *p);

/*
 * Apply the preset `name` ("low", "balanced" or "high") to every option that
 * was not set explicitly. Returns 0, or ES_EINVAL for an unknown name.
 */
int es_detect_params_preset(es_detect_params *p, const char *name);

/*
 * Set one option from its text form. `path` is a dotted key: "bucket",
 * "sensitivity", "complaint_threshold", "volume_spike.threshold",
 * "negative_surge.min_share", "viral_post.min_followers", ... Values are
 * numbers, durations ("5m", "1h30m", a bare number is seconds), booleans
 * (true/false/yes/no/on/off) or preset names. On error returns ES_ENOTFOUND
 * (unknown key) or ES_ECONFIG (bad value) and fills err->msg with e.g.
 * "unknown detector option 'volume_spike.treshold'" or
 * "volume_spike.threshold must be between 1 and 100"; the caller adds the
 * file, line and column. `p` is unchanged on error.
 */
int es_detect_params_set(es_detect_params *p, const char *path, const char *value,
                         es_error *err);

typedef enum {
    ES_DOPT_BOOL,
    ES_DOPT_NUMBER,
    ES_DOPT_INT,
    ES_DOPT_DURATION,
    ES_DOPT_PRESET,
} es_detect_opt_type;

/* One row of the option table, as callers see it. */
typedef struct es_detect_option {
    const char *name;          /* dotted key */
    es_detect_opt_type type;
    const char *type_name;     /* "number", "duration", ... for messages */
    const char *def;           /* the balanced default as text, e.g. "4.5", "6h" */
    double min, max;           /* bounds (ms for durations); min > max: none */
    const char *help;          /* one sentence */
} es_detect_option;

/* Call fn for every option, in table order (sections grouped). */
void es_detect_params_foreach_option(void (*fn)(const es_detect_option *opt, void *ud), void *ud);

/*
 * Write the current value of option `path` in `p` as text (the form
 * es_detect_params_set accepts) into out. Returns 0 or ES_EINVAL.
 */
int es_detect_params_get(const es_detect_params *p, const char *path, char *out, size_t n);

/* ------------------------------------------------------------------------ */
/* Alert text shared by all detectors                                       */
/* ------------------------------------------------------------------------ */

/*
 * Storage for the strings of one alert made by a detector: es_*_to_alert()
 * fill it and point the es_alert at it, so the alert is valid for as long
 * as this struct is.
 */
typedef struct es_detect_alert_text {
    char fingerprint[320];
    char summary[640];
    char details[1280];
} es_detect_alert_text;

/* Helpers for summaries, shared by the detectors (src/spike.c). */
/* "5 min", "1 h", "90 s", "2 h 15 min". */
void es__detect_human_duration(int64_t ms, char *out, size_t n);
/* Whole numbers as such, small fractional ones with a decimal ("0.4"). */
void es__detect_human_count(double v, char *out, size_t n);
/* How a count compares with its baseline: ", 5.6x the usual 2.0" (", 250x
 * the usual 0.2" from 100x up), or " where there are usually none" when the
 * baseline rounds to nothing ("40000.0x the usual 0.0" tells nobody
 * anything). */
void es__detect_vs_usual(double count, double expected, char *out, size_t n);
/* Fill an alert from a detector's event: kind, severity, status, topic,
 * event time and the texts in t (borrowed: t must outlive the alert's use).
 * No mentions; the caller adds any. */
void es__detect_alert_init(es_alert *a, es_alert_kind kind, es_severity severity, bool resolved,
                           const char *topic, int64_t at_ms, const es_detect_alert_text *t);
/* "2015-02-22T14:05" (UTC): the episode part of a fingerprint. */
void es__detect_fingerprint_time(int64_t ms, char out[32]);
/* The statistics behind every score (src/spike.c). Upper-side signed root
 * deviance of count c under NB(mu, Var = mu + phi mu^2); 0 when c <= mu. */
double es__nb_score(double c, double mu, double phi);
/* phi from the EWMAs kept by es__disp_learn, never below floor_v. */
double es__phi_of(double num, double den, double floor_v);
/* Learn the excess variance of a statistic with mean mu from residual e. */
void es__disp_learn(double *num, double *den, double a, double e, double mu);
/* Per-bucket weight of an EWMA with the given half-life. */
double es__ewma_weight(int64_t half_life_ms, int64_t bucket_ms);

/* ------------------------------------------------------------------------ */
/* volume_spike (src/spike.c)                                                */
/* ------------------------------------------------------------------------ */

/* Buckets in the longer window (a ring of recent counts and expectations). */
#define ES_SPIKE_RING 64

/*
 * The learned baseline: a level times an hour-of-day and a day-of-week
 * factor (UTC), plus the noise around it. Shared by volume_spike and the
 * count part of negative_surge.
 */
typedef struct es_baseline {
    double level;          /* deseasonalized mean count per bucket */
    double hod[24];        /* hour-of-day factors, mean 1 */
    double dow[7];         /* day-of-week factors, mean 1 */
    double d1_num, d1_den; /* EWMAs of excess variance and of mu^2: phi of one bucket */
    double dw_num, dw_den; /* the same for the longer window */
    double a_level, a_season, a_disp; /* smoothing weights per bucket */
    int64_t seen;          /* buckets observed */
    int64_t hour_start;    /* cache: the UTC hour holding the last bucket seen ... */
    int hour_hod, hour_dow;/* ... and its slots, so most buckets skip the divisions */
} es_baseline;

typedef struct es_spike_event {
    bool resolved;
    es_severity severity;
    int64_t at_ms;          /* start of the bucket in which this was decided */
    int64_t episode_ms;     /* start of the episode (same for firing and resolved) */
    int64_t bucket_ms;
    double count;           /* mentions in the bucket at `at_ms` */
    double expected;        /* expected count for that bucket */
    double score;           /* max of the bucket and window scores */
    double threshold;
    double window_count;    /* mentions in the longer window ending at at_ms */
    double window_expected;
    int64_t window_ms;
    double peak_count;      /* resolved: largest bucket of the episode */
    double peak_expected;
    int64_t duration_ms;    /* resolved: first bucket to last bucket above resolve */
} es_spike_event;

typedef struct es_spike {
    es_spike_params p;
    int64_t bucket_ms;
    es_baseline base;
    int64_t next_ms;        /* start of the next expected bucket; INT64_MIN before the first */
    int64_t first_ms;
    int window_n;           /* buckets in the longer window */
    int ring_pos;
    double ring_c[ES_SPIKE_RING], ring_mu[ES_SPIKE_RING];
    double sum_c, sum_mu;   /* over the ring's last window_n entries */
    bool active;
    int64_t episode_ms;
    int64_t last_hot_ms;    /* last bucket with a score at or above resolve */
    int64_t cooldown_until;
    double peak_count, peak_expected;
    int64_t pending_ms;     /* a lone extreme bucket waiting for confirmation */
    double pending_score, pending_count, pending_expected;
    es_severity severity;   /* of the current episode, repeated when it resolves */
} es_spike;

/* Set up an empty detector with the volume_spike params of p. */
void es_spike_init(es_spike *s, const es_detect_params *p);
/* The same over explicit spike params and bucket length (negative_surge uses it). */
void es__spike_init_raw(es_spike *s, const es_spike_params *sp, int64_t bucket_ms);

/*
 * Feed the count of the bucket starting at bucket_start_ms. Buckets must
 * come in order; missing buckets since the previous call are taken as
 * empty (a long gap is skipped in O(1): the baseline decays as if it had
 * seen zeros, and the ring is cleared). A bucket earlier than the previous
 * one is ignored. Returns 1 and fills ev when an episode starts or ends
 * in this bucket, else 0.
 */
int es_spike_observe(es_spike *s, int64_t bucket_start_ms, double count, es_spike_event *ev);

/* The count the baseline expects for the bucket starting at t. */
double es_spike_expected(const es_spike *s, int64_t t);

/*
 * Make the alert for ev. topic may be NULL (earshot spikes, which sets
 * a->series itself); `name` goes into the fingerprint and summary ("acme" or
 * the series name). Borrowed pointers into t; mentions are left empty.
 */
void es_spike_to_alert(const es_spike_event *ev, const char *name, const char *topic,
                       es_detect_alert_text *t, es_alert *a);

/* ------------------------------------------------------------------------ */
/* negative_surge (src/surge.c)                                             */
/* ------------------------------------------------------------------------ */

typedef struct es_surge_event {
    bool resolved;
    es_severity severity;
    bool by_share;          /* the share test fired (else the count test) */
    int64_t at_ms;
    int64_t episode_ms;
    int64_t window_ms;
    double total;           /* mentions in the window */
    double negatives;       /* complaint or negative mentions in the window */
    double expected;        /* negatives the baseline expected in the window */
    double share;           /* negatives / total */
    double usual_share;
    double score;
    double threshold;
    double peak_share;      /* resolved: largest share of the episode */
    int64_t duration_ms;
} es_surge_event;

typedef struct es_surge {
    es_surge_params p;
    int64_t bucket_ms;
    es_spike count;         /* the negatives as a count series (its own episodes muted) */
    int window_n;
    int ring_pos;
    double ring_t[ES_SPIKE_RING], ring_n[ES_SPIKE_RING];
    double sum_t, sum_n;
    double share_num, share_den; /* EWMA of negatives and totals: the usual share */
    double sd_num, sd_den;  /* extra-binomial dispersion of the window's negatives */
    double a_share;         /* EWMA weight per bucket of the usual share */
    int64_t seen;           /* buckets observed */
    int64_t next_ms;
    int64_t first_ms;
    bool active;
    bool active_by_share;
    int64_t episode_ms;
    int64_t last_hot_ms;
    int64_t cooldown_until;
    double peak_share;
    es_severity severity;   /* of the open episode: its resolve carries it too */
} es_surge;

void es_surge_init(es_surge *s, const es_detect_params *p);

/*
 * Feed one bucket: all mentions of the topic, and those that were
 * complaints or negative. Same ordering and gap rules as es_spike_observe.
 * Returns 1 and fills ev when an episode starts or ends.
 */
int es_surge_observe(es_surge *s, int64_t bucket_start_ms, double total, double negatives,
                     es_surge_event *ev);

void es_surge_to_alert(const es_surge_event *ev, const char *topic, es_detect_alert_text *t,
                       es_alert *a);

/* ------------------------------------------------------------------------ */
/* viral_post and coordinated campaigns (src/viral.c)                       */
/* ------------------------------------------------------------------------ */

typedef enum {
    ES_VIRAL_SPREAD,     /* one post's reposts/likes growing fast */
    ES_VIRAL_REACH,      /* a complaint from an author with a large audience */
    ES_VIRAL_CAMPAIGN,   /* many near-identical posts from many authors */
} es_viral_reason;

/* Bytes of text kept per campaign cluster and per alert. */
#define ES_VIRAL_TEXT 280
#define ES_VIRAL_ID 96

typedef struct es_viral_event {
    es_viral_reason reason;
    bool resolved;          /* campaigns only: the cluster went quiet */
    es_severity severity;
    int64_t at_ms;
    int64_t episode_ms;     /* spread/reach: the post's first sighting; campaign: first post */
    char post_id[ES_VIRAL_ID];
    char author[ES_VIRAL_ID];
    char text[ES_VIRAL_TEXT]; /* the post, or the campaign's first post, cut at UTF-8 */
    double followers;
    double reposts, likes;          /* now */
    double reposts_before, likes_before;
    int64_t elapsed_ms;             /* between the two observations */
    double rate_per_hour;           /* (reposts + likes) gained per hour */
    int64_t posts, authors;         /* campaign */
    int64_t campaign_window_ms;
    uint64_t cluster;               /* campaign: the cluster's signature hash */
    uint32_t tag;                   /* the es_viral_input tag of the post (campaign: of its first post) */
} es_viral_event;

typedef struct es_viral es_viral; /* owns a bounded heap table */

/* Returns 0 or ES_ENOMEM. */
int es_viral_new(const es_detect_params *p, es_viral **out);
void es_viral_free(es_viral *v);

/*
 * Feed one mention (in roughly event-time order). Strings are borrowed for
 * the call. Counts are ES_COUNT_UNKNOWN (-1) when absent. Several things
 * can happen on one mention, so events go to a small array: returns the
 * number written (at most max_ev, 3 is enough).
 */
typedef struct es_viral_input {
    es_str id;
    es_str author;
    es_str text;
    int64_t created_ms;     /* event time of this observation */
    double followers, likes, reposts;
    bool is_complaint;
    uint32_t tag;           /* the caller's, returned in events (the pipeline: a topic id) */
} es_viral_input;

int es_viral_observe(es_viral *v, const es_viral_input *in, es_viral_event *ev, int max_ev);

/* Let time pass without a mention: ends campaigns that went quiet. Same
 * return convention as es_viral_observe. */
int es_viral_tick(es_viral *v, int64_t now_ms, es_viral_event *ev, int max_ev);

void es_viral_to_alert(const es_viral_event *ev, const char *topic, es_detect_alert_text *t,
                       es_alert_mention *m, es_alert *a);

/* ------------------------------------------------------------------------ */
/* complaint alerts (src/complaint_alert.c)                                 */
/* ------------------------------------------------------------------------ */

/*
 * Whether one mention deserves a `complaint` alert, and how severe:
 * returns 1 and sets *sev when complaint >= complaint_threshold, else 0.
 * Severity grows with the score and with the author's reach (followers,
 * ES_COUNT_UNKNOWN when unknown).
 */
int es_complaint_decide(const es_detect_params *p, double complaint, int64_t followers,
                        es_severity *sev);

/*
 * Make the complaint alert for mention m (strings borrowed; mentions points
 * at *quote, which this fills). Fingerprint "topic/complaint/<mention id>".
 */
void es_complaint_to_alert(const es_mention *m, const char *topic, double complaint,
                           es_severity sev, es_detect_alert_text *t, es_alert_mention *quote,
                           es_alert *a);

#endif
