/*
 * The pipeline stage composer: match -> score -> intent -> detect -> alerts,
 * in event time. One es_pipeline is used by one thread.
 */
#include "pipeline.h"
#include "match.h"
#include "score.h"
#include "tokenize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Mentions kept per topic and bucket as examples for surge/spike alerts. */
#define EX_N 3
/* Empty buckets closed one by one before a gap is skipped in one step. */
#define MAX_EMPTY_STEPS 288

/*
 * A mention quoted in a wave alert. Copied (cut at UTF-8 boundaries)
 * because the mention itself is gone by the time the bucket closes.
 */
struct example {
    double rank;
    char id[96];
    char author[64];
    char text[300];
    char url[256];
};

struct topic_state {
    es_detect_params params;
    es_spike spike;
    es_surge surge;
    int64_t bucket_start; /* ES_TIME_UNKNOWN until the first mention */
    double total;
    double negatives;
    int n_ex;
    struct example ex[EX_N];
};

struct es_pipeline {
    es_pipeline_opts o;
    es_matcher *matcher;
    es_scorer *scorer;
    /*
     * One viral detector for the whole stream, not one per topic: its
     * tables are sized for the stream's posts, and per-topic copies made
     * memory (and cache misses) grow with the number of topics. Each post is
     * tagged with the first of our own topics it matched (or its first
     * topic), and its events are reported under that topic.
     */
    es_viral *viral;
    size_t n_topics;
    struct topic_state *ts;
    int64_t next_boundary; /* earliest bucket end over all topics */
    bool started;
    es_pipeline_stats stats;
    const es_mention *cur;  /* the mention being processed, for on_alert */
    es_intent_kind cur_intent;
};

int es_pipeline_new(const es_pipeline_opts *o, es_pipeline **out)
{
    if (o->lex == NULL || o->cues == NULL || o->on_alert == NULL) {
        return ES_EINVAL;
    }
    es_pipeline *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return ES_ENOMEM;
    }
    p->o = *o;
    int rc = es_scorer_new(o->lex, ES_SCORE_DEFAULT, &p->scorer);
    if (rc != 0) {
        goto fail_scorer;
    }
    if (o->topics != NULL) {
        p->n_topics = es_topics_count(o->topics);
        rc = es_matcher_new(o->topics, &p->matcher);
        if (rc != 0) {
            goto fail_matcher;
        }
    }
    p->ts = calloc(p->n_topics ? p->n_topics : 1, sizeof *p->ts);
    if (p->ts == NULL) {
        rc = ES_ENOMEM;
        goto fail_topics;
    }
    for (size_t i = 0; i < p->n_topics; i++) {
        struct topic_state *t = &p->ts[i];
        if (o->params != NULL) {
            t->params = o->params[i];
        } else {
            es_detect_params_defaults(&t->params);
        }
        es_spike_init(&t->spike, &t->params);
        es_surge_init(&t->surge, &t->params);
        t->bucket_start = ES_TIME_UNKNOWN;
    }
    es_detect_params vp;
    if (o->viral_params != NULL) {
        vp = *o->viral_params;
    } else {
        es_detect_params_defaults(&vp);
    }
    rc = es_viral_new(&vp, &p->viral);
    if (rc != 0) {
        goto fail_viral;
    }
    p->next_boundary = INT64_MAX;
    *out = p;
    return 0;

fail_viral:
    free(p->ts);
fail_topics:
    es_matcher_free(p->matcher);
fail_matcher:
    es_scorer_free(p->scorer);
fail_scorer:
    free(p);
    return rc;
}

void es_pipeline_free(es_pipeline *p)
{
    if (p == NULL) {
        return;
    }
    es_viral_free(p->viral);
    free(p->ts);
    es_matcher_free(p->matcher);
    es_scorer_free(p->scorer);
    free(p);
}

void es_pipeline_stats_get(const es_pipeline *p, es_pipeline_stats *out)
{
    *out = p->stats;
}

static int emit(es_pipeline *p, const es_alert *a)
{
    p->stats.alerts++;
    return p->o.on_alert(p->o.ud, a);
}

/* Copy at most cap-1 bytes of s, cut on a UTF-8 boundary. */
static void copy_cut(char *dst, size_t cap, es_str s)
{
    size_t n = s.ptr == NULL ? 0 : s.len;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
}

static es_str cstr(const char *s)
{
    return (es_str){*s ? s : NULL, strlen(s)};
}

/* Keep the EX_N most telling negative mentions of the bucket: the most
 * complaint-like, then the widest reach. */
static void keep_example(struct topic_state *t, const es_mention *m, double complaint)
{
    double reach = m->followers > 0 ? log10((double)m->followers + 1) / 10 : 0;
    double rank = complaint + reach;
    int slot = t->n_ex;
    if (slot == EX_N) {
        slot = 0;
        for (int i = 1; i < EX_N; i++) {
            if (t->ex[i].rank < t->ex[slot].rank) {
                slot = i;
            }
        }
        if (t->ex[slot].rank >= rank) {
            return;
        }
    } else {
        t->n_ex++;
    }
    struct example *e = &t->ex[slot];
    e->rank = rank;
    copy_cut(e->id, sizeof e->id, m->id);
    copy_cut(e->author, sizeof e->author, m->author);
    copy_cut(e->text, sizeof e->text, m->text);
    copy_cut(e->url, sizeof e->url, m->url);
}

/* Attach the bucket's examples (best first) to a wave alert. */
static size_t examples_to_alert(struct topic_state *t, es_alert_mention out[EX_N])
{
    int order[EX_N];
    int n = t->n_ex;
    for (int i = 0; i < n; i++) {
        order[i] = i;
    }
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && t->ex[order[j]].rank > t->ex[order[j - 1]].rank; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    }
    for (int i = 0; i < n; i++) {
        const struct example *e = &t->ex[order[i]];
        out[i] = (es_alert_mention){cstr(e->id), cstr(e->author), cstr(e->text), cstr(e->url)};
    }
    return (size_t)n;
}

/* Close topic i's current bucket: feed its counts to the detectors. */
static int close_bucket(es_pipeline *p, size_t i)
{
    struct topic_state *t = &p->ts[i];
    const char *name = es_topics_name(p->o.topics, i);
    es_detect_alert_text text;
    es_alert a;
    es_alert_mention quotes[EX_N];
    int rc = 0;

    es_spike_event sev;
    if (es_spike_observe(&t->spike, t->bucket_start, t->total, &sev)) {
        es_spike_to_alert(&sev, name, name, &text, &a);
        if (!sev.resolved) {
            a.mentions = quotes;
            a.n_mentions = examples_to_alert(t, quotes);
        }
        rc = emit(p, &a);
    }
    es_surge_event uev;
    if (rc == 0 && es_surge_observe(&t->surge, t->bucket_start, t->total, t->negatives, &uev)) {
        es_surge_to_alert(&uev, name, &text, &a);
        if (!uev.resolved) {
            a.mentions = quotes;
            a.n_mentions = examples_to_alert(t, quotes);
        }
        rc = emit(p, &a);
    }
    t->total = 0;
    t->negatives = 0;
    t->n_ex = 0;
    t->bucket_start += t->params.bucket_ms;
    return rc;
}

/*
 * Feed the viral detector one mention (or, with in NULL, just the passing of
 * event time, which ends campaigns that went quiet) and emit its events
 * under the topic each event is tagged with.
 */
static int viral_emit(es_pipeline *p, const es_viral_input *in, int64_t now_ms)
{
    if (p->n_topics == 0) {
        return 0;
    }
    es_viral_event vev[3];
    int nv = in != NULL ? es_viral_observe(p->viral, in, vev, 3)
                        : es_viral_tick(p->viral, now_ms, vev, 3);
    int rc = 0;
    for (int k = 0; k < nv && rc == 0; k++) {
        es_detect_alert_text text;
        es_alert a;
        es_alert_mention quote;
        const char *name = es_topics_name(p->o.topics, vev[k].tag);
        es_viral_to_alert(&vev[k], name, &text, &quote, &a);
        rc = emit(p, &a);
    }
    return rc;
}

int es_pipeline_advance(es_pipeline *p, int64_t now_ms)
{
    if (!p->started || now_ms < p->next_boundary) {
        return 0;
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < p->n_topics; i++) {
        struct topic_state *t = &p->ts[i];
        int64_t b = t->params.bucket_ms;
        int steps = 0;
        while (t->bucket_start + b <= now_ms) {
            int rc = close_bucket(p, i);
            if (rc != 0) {
                return rc;
            }
            if (++steps >= MAX_EMPTY_STEPS && t->bucket_start + b <= now_ms) {
                /* A long quiet gap: the detectors decay over it in O(1). */
                t->bucket_start = now_ms - ((now_ms % b) + b) % b;
                break;
            }
        }
        if (t->bucket_start + b < next) {
            next = t->bucket_start + b;
        }
    }
    p->next_boundary = next;
    return viral_emit(p, NULL, now_ms);
}

int es_pipeline_finish(es_pipeline *p)
{
    if (!p->started) {
        return 0;
    }
    for (size_t i = 0; i < p->n_topics; i++) {
        int rc = close_bucket(p, i);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The first mention sets every topic's bucket grid, so a topic that stays
 * quiet is known to have had empty buckets from the start. */
static void start_clock(es_pipeline *p, int64_t t0)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < p->n_topics; i++) {
        struct topic_state *t = &p->ts[i];
        int64_t b = t->params.bucket_ms;
        t->bucket_start = t0 - ((t0 % b) + b) % b;
        if (t->bucket_start + b < next) {
            next = t->bucket_start + b;
        }
    }
    p->next_boundary = next;
    p->started = true;
}

int es_pipeline_process(es_pipeline *p, const es_mention *m)
{
    es_pipeline_result r;
    memset(&r, 0, sizeof r);
    p->stats.mentions++;
    bool timed = m->created_ms != ES_TIME_UNKNOWN;
    if (timed) {
        if (!p->started) {
            start_clock(p, m->created_ms);
        }
        int rc = es_pipeline_advance(p, m->created_ms);
        if (rc != 0) {
            return rc;
        }
    }
    /* Score first: the scorer tokenizes the text once and the matcher and
     * the intent rules reuse its tokens. */
    const char *text = m->text.ptr != NULL ? m->text.ptr : "";
    es_scorer_score(p->scorer, text, m->text.len, &r.sentiment);
    const es_tokens *toks = es_scorer_tokens(p->scorer);
    if (p->matcher != NULL) {
        int rc = es__topics_match_tokens(p->matcher, m, toks, &r.topics, &r.n_topics);
        if (rc != 0) {
            r.topics = NULL;
            r.n_topics = 0;
        }
    }

    es_intent_ctx ctx = ES_INTENT_CTX_AUTO;
    for (size_t k = 0; k < r.n_topics; k++) {
        if (!es_topics_competitor(p->o.topics, r.topics[k])) {
            ctx.names_brand = 1;
        }
        if (es_matcher_addressed(p->matcher, r.topics[k])) {
            ctx.addressed = 1;
        }
    }
    es_intent_classify(p->o.cues, toks, text, m->text.len, &r.sentiment,
                       &ctx, &r.intent);

    bool complaint = r.intent.kind == ES_INTENT_COMPLAINT;
    bool negative = complaint || r.sentiment.compound <= -0.05;
    p->cur = m;
    p->cur_intent = r.intent.kind;
    if (r.n_topics > 0) {
        p->stats.matched++;
    }
    if (complaint) {
        p->stats.complaints++;
    }

    int rc = 0;
    bool complaint_alerted = false;
    for (size_t k = 0; k < r.n_topics && rc == 0; k++) {
        uint32_t id = r.topics[k];
        struct topic_state *t = &p->ts[id];
        const char *name = es_topics_name(p->o.topics, id);
        if (timed) {
            t->total += 1;
            if (negative) {
                t->negatives += 1;
                keep_example(t, m, r.intent.complaint);
            }
        }
        es_detect_alert_text text_buf;
        es_alert a;
        es_alert_mention quote;

        /* One complaint alert per mention, under the first of our own
         * (non-competitor) topics it matched. */
        es_severity sev;
        if (complaint && !complaint_alerted && !es_topics_competitor(p->o.topics, id) &&
            es_complaint_decide(&t->params, r.intent.complaint, m->followers, &sev)) {
            complaint_alerted = true;
            es_complaint_to_alert(m, name, r.intent.complaint, sev, &text_buf, &quote, &a);
            rc = emit(p, &a);
        }

    }
    if (rc == 0 && timed && r.n_topics > 0) {
        es_viral_input vin = {
            .id = m->id,
            .author = m->author,
            .text = m->text,
            .created_ms = m->created_ms,
            .followers = (double)m->followers,
            .likes = (double)m->likes,
            .reposts = (double)m->reposts,
            .is_complaint = complaint,
        };
        vin.tag = r.topics[0];
        for (size_t k = 0; k < r.n_topics; k++) {
            if (!es_topics_competitor(p->o.topics, r.topics[k])) {
                vin.tag = r.topics[k];
                break;
            }
        }
        rc = viral_emit(p, &vin, m->created_ms);
    }
    p->cur = NULL;
    if (rc == 0 && p->o.on_mention != NULL) {
        rc = p->o.on_mention(p->o.ud, m, &r);
    }
    return rc;
}

const es_mention *es_pipeline_current(const es_pipeline *p, es_intent_kind *intent)
{
    if (p->cur != NULL && intent != NULL) {
        *intent = p->cur_intent;
    }
    return p->cur;
}
