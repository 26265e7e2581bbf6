/*
 * The backfill report: a bounded collector fed by the pipeline's callbacks,
 * and a writer for one self-contained HTML page (see report.h).
 *
 * The page is written in one pass over what the collector kept. Charts are
 * inline SVG drawn here; every chart carries its time range and plot edges
 * as data attributes, and every alert marker its time and kind, so a test
 * (or a curious reader) can check a marker sits where its alert happened.
 */
#include "report.h"

#include "buf.h"
#include "earshot/intent.h"
#include "timefmt.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* What the collector keeps                                                  */
/* ------------------------------------------------------------------------ */

#define TOP_COMPLAINTS 8
#define AUTHOR_SLOTS 32 /* Space-Saving counters; the best 10 are shown */
#define CUE_SLOTS 48
#define SHOW_AUTHORS 10
#define SHOW_CUES 10
#define TEXT_MAX 280      /* bytes of a quoted mention */
#define SUMMARY_MAX 480   /* bytes of an alert summary */
#define MIN_SHARE_N 10    /* fewer mentions in a point: no share is drawn */
#define MOOD_POINTS 100   /* at most this many points in the mood chart */
#define COMPARE_TOPICS 6  /* lines in the side-by-side chart */
#define HEADLINE_TOPICS 8 /* topics with their own headline sentence */
#define TITLE_TOPICS 4    /* topics named in the default title */
/* Mentions further than this from 1970 (about 142,000 years) are counted
 * but not charted, so bucket arithmetic can never overflow. */
#define TIME_LIMIT ((int64_t)1 << 52)
#define OUT_FLUSH (1 << 16)

/* Sentiment thresholds as VADER's authors use them to call a text
 * positive or negative. */
#define POSITIVE_AT 0.05
#define NEGATIVE_AT (-0.05)

struct bucket {
    uint32_t n, pos, neg, complaints;
    float compound;
};

struct top_complaint {
    double weight, complaint;
    int64_t at_ms, followers, reposts;
    bool cut;
    char author[64];
    char url[256];
    char text[TEXT_MAX + 1];
};

/* One Space-Saving counter. `count` overestimates by at most `err`; the
 * other fields describe the key since it (last) entered the table. */
struct hitter {
    uint64_t hash;
    double count, err;
    uint32_t posts, complaints;
    int64_t followers;
    char key[64];
    char url[256];
};

struct detail {
    struct bucket series[ES_REPORT_MAX_POINTS];
    struct top_complaint top[TOP_COMPLAINTS]; /* min-heap on weight */
    size_t n_top;
    struct hitter authors[AUTHOR_SLOTS];
    size_t n_authors;
    struct hitter cues[CUE_SLOTS];
    size_t n_cues;
};

struct topic_total {
    uint64_t n, complaints, pos, neg, alerts;
    double compound, reach;
    struct detail *d; /* NULL past ES_REPORT_DETAIL_TOPICS or before the first mention */
};

/* An alert as the report keeps it (copied strings). */
struct kept_alert {
    int64_t at_ms;
    uint64_t seq;
    int32_t topic; /* -1: none or unknown */
    uint8_t kind, sev;
    bool resolved, cut;
    double followers, posts, authors; /* from details; -1 when absent */
    char fingerprint[128];
    char author[64];
    char summary[SUMMARY_MAX + 1];
    char url[256];
};

struct es_report {
    const es_topics *topics;
    size_t n_topics;
    char title[256];
    struct topic_total *tt;
    size_t last_topic; /* cache for alert topic lookups */

    /* The shared time axis: buckets [first, first + n) of width w ms. */
    bool axis_set;
    int64_t w, first;
    size_t n;
    struct bucket scratch[ES_REPORT_MAX_POINTS];

    uint64_t mentions, unmatched;
    int64_t first_ms, last_ms;

    struct kept_alert *episodes; /* in arrival (event-time) order */
    size_t n_episodes;
    uint64_t episodes_dropped;
    struct kept_alert *calerts; /* min-heap: the least urgent at the root */
    size_t n_calerts;
    uint64_t alerts, seq;
    uint64_t by_kind[ES_ALERT_FEED_STALLED + 1][ES_SEV_CRITICAL + 1];
};

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* Copy at most cap-1 bytes of s into dst, cut back to a UTF-8 boundary so
 * a quoted text never ends in half a character. Returns true if cut. */
static bool copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
    if (s == NULL) {
        dst[0] = '\0';
        return false;
    }
    bool cut = false;
    if (n > cap - 1) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
        cut = true;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    /* A NUL inside the text would end the copy early anyway; say so. */
    return cut || strlen(dst) < n;
}

static bool is_http_url(const char *s, size_t n)
{
    return (n > 7 && strncasecmp(s, "http://", 7) == 0) ||
           (n > 8 && strncasecmp(s, "https://", 8) == 0);
}

/* Keep a URL only if it is http(s) and fits whole: a cut URL is a wrong
 * link, so it is better dropped. */
static void copy_url(char *dst, size_t cap, const char *s, size_t n)
{
    dst[0] = '\0';
    if (s != NULL && n < cap && is_http_url(s, n) && memchr(s, '\0', n) == NULL) {
        memcpy(dst, s, n);
        dst[n] = '\0';
    }
}

/* ------------------------------------------------------------------------ */
/* The time axis                                                             */
/* ------------------------------------------------------------------------ */

/* Each width divides the next, so coarsening merges whole buckets. */
static int64_t next_width(int64_t w)
{
    static const int64_t ladder[] = {
        60000, 300000, 900000, 1800000, 3600000, 10800000, 21600000, 43200000, 86400000,
    };
    for (size_t i = 0; i + 1 < sizeof ladder / sizeof ladder[0]; i++) {
        if (ladder[i] == w) {
            return ladder[i + 1];
        }
    }
    return w * 2;
}

static void coarsen(es_report *r)
{
    int64_t w2 = next_width(r->w);
    int64_t f = w2 / r->w;
    int64_t nf = floordiv(r->first, f);
    size_t nn = (size_t)(floordiv(r->first + (int64_t)r->n - 1, f) - nf + 1);
    size_t limit = r->n_topics < ES_REPORT_DETAIL_TOPICS ? r->n_topics : ES_REPORT_DETAIL_TOPICS;
    for (size_t t = 0; t < limit; t++) {
        struct detail *d = r->tt[t].d;
        if (d == NULL) {
            continue;
        }
        memset(r->scratch, 0, sizeof r->scratch);
        for (size_t i = 0; i < r->n; i++) {
            struct bucket *to = &r->scratch[floordiv(r->first + (int64_t)i, f) - nf];
            const struct bucket *from = &d->series[i];
            to->n += from->n;
            to->pos += from->pos;
            to->neg += from->neg;
            to->complaints += from->complaints;
            to->compound += from->compound;
        }
        memcpy(d->series, r->scratch, sizeof r->scratch);
    }
    r->w = w2;
    r->first = nf;
    r->n = nn;
}

/*
 * Make the axis cover t: coarsen until the whole range fits in
 * ES_REPORT_MAX_POINTS buckets, then extend it. Buckets at and past n are
 * always zero, so extending to the right costs nothing; an earlier time
 * (input not in time order) shifts the series right.
 */
static void axis_include(es_report *r, int64_t t)
{
    if (!r->axis_set) {
        r->w = 60000;
        r->first = floordiv(t, r->w);
        r->n = 1;
        r->axis_set = true;
        return;
    }
    for (;;) {
        int64_t idx = floordiv(t, r->w);
        int64_t last = r->first + (int64_t)r->n - 1;
        int64_t lo = idx < r->first ? idx : r->first;
        int64_t hi = idx > last ? idx : last;
        if (hi - lo + 1 <= ES_REPORT_MAX_POINTS) {
            break;
        }
        coarsen(r);
    }
    int64_t idx = floordiv(t, r->w);
    if (idx < r->first) {
        size_t shift = (size_t)(r->first - idx);
        size_t limit =
            r->n_topics < ES_REPORT_DETAIL_TOPICS ? r->n_topics : ES_REPORT_DETAIL_TOPICS;
        for (size_t k = 0; k < limit; k++) {
            struct detail *d = r->tt[k].d;
            if (d != NULL) {
                memmove(d->series + shift, d->series, r->n * sizeof d->series[0]);
                memset(d->series, 0, shift * sizeof d->series[0]);
            }
        }
        r->first = idx;
        r->n += shift;
    } else if (idx >= r->first + (int64_t)r->n) {
        r->n = (size_t)(idx - r->first + 1);
    }
}

static bool chartable(int64_t t)
{
    return t != ES_TIME_UNKNOWN && t > -TIME_LIMIT && t < TIME_LIMIT;
}

/* ------------------------------------------------------------------------ */
/* Collecting                                                                */
/* ------------------------------------------------------------------------ */

/* "acme vs globex": the brand's topics, then the competitors, at most
 * TITLE_TOPICS of them named. */
static void default_title(es_report *r)
{
    es_buf b;
    es_buf_init(&b, sizeof r->title - 1);
    int rc = 0;
    size_t named = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        size_t k = 0;
        for (size_t i = 0; i < r->n_topics && rc == 0; i++) {
            if (es_topics_competitor(r->topics, i) != (pass == 1) || named == TITLE_TOPICS) {
                continue;
            }
            const char *sep = k++ > 0 ? ", " : pass == 1 && b.len > 0 ? " vs " : "";
            rc = es_buf_adds(&b, sep);
            rc = rc ? rc : es_buf_adds(&b, es_topics_name(r->topics, i));
            named++;
        }
    }
    if (rc == 0 && named < r->n_topics) {
        es_buf_printf(&b, " and %zu more topics", r->n_topics - named);
    }
    if (b.len > 0) {
        copy_cut(r->title, sizeof r->title, b.data, b.len);
    }
    es_buf_free(&b);
}

int es_report_new(const es_report_opts *o, es_report **out)
{
    *out = NULL;
    es_report *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return ES_ENOMEM;
    }
    r->topics = o->topics;
    r->n_topics = o->topics != NULL ? es_topics_count(o->topics) : 0;
    if (o->title != NULL) {
        copy_cut(r->title, sizeof r->title, o->title, strlen(o->title));
    } else {
        default_title(r);
    }
    r->first_ms = r->last_ms = ES_TIME_UNKNOWN;
    r->tt = calloc(r->n_topics ? r->n_topics : 1, sizeof *r->tt);
    r->episodes = calloc(ES_REPORT_MAX_EPISODES, sizeof *r->episodes);
    r->calerts = calloc(ES_REPORT_MAX_COMPLAINT_ALERTS, sizeof *r->calerts);
    if (r->tt == NULL || r->episodes == NULL || r->calerts == NULL) {
        es_report_free(r);
        return ES_ENOMEM;
    }
    *out = r;
    return 0;
}

void es_report_free(es_report *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; r->tt != NULL && i < r->n_topics; i++) {
        free(r->tt[i].d);
    }
    free(r->tt);
    free(r->episodes);
    free(r->calerts);
    free(r);
}

static void top_sift_down(struct top_complaint *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l].weight < h[m].weight) {
            m = l;
        }
        if (l + 1 < n && h[l + 1].weight < h[m].weight) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        struct top_complaint tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

static void top_sift_up(struct top_complaint *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2].weight > h[i].weight) {
        struct top_complaint tmp = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static void top_fill(struct top_complaint *e, const es_mention *m, double complaint, double weight)
{
    e->weight = weight;
    e->complaint = complaint;
    e->at_ms = m->created_ms;
    e->followers = m->followers;
    e->reposts = m->reposts;
    e->cut = copy_cut(e->text, sizeof e->text, m->text.ptr, m->text.len);
    copy_cut(e->author, sizeof e->author, m->author.ptr, m->author.len);
    copy_url(e->url, sizeof e->url, m->url.ptr, m->url.len);
}

/* Offer a complaint to the topic's top list. One entry per author and per
 * text (a news account posting the same headline all evening, a copy-paste
 * campaign), the one that reached more, so the list shows eight voices. */
static void top_offer(struct detail *d, const es_mention *m, double complaint, double weight)
{
    if (d->n_top == TOP_COMPLAINTS && weight <= d->top[0].weight) {
        return;
    }
    char probe[TEXT_MAX + 1], who[64];
    copy_cut(probe, sizeof probe, m->text.ptr, m->text.len);
    copy_cut(who, sizeof who, m->author.ptr, m->author.len);
    for (size_t i = 0; i < d->n_top; i++) {
        if (strcmp(d->top[i].text, probe) == 0 ||
            (who[0] != '\0' && strcmp(d->top[i].author, who) == 0)) {
            if (weight > d->top[i].weight) {
                top_fill(&d->top[i], m, complaint, weight);
                top_sift_down(d->top, d->n_top, i);
            }
            return;
        }
    }
    if (d->n_top < TOP_COMPLAINTS) {
        top_fill(&d->top[d->n_top], m, complaint, weight);
        top_sift_up(d->top, d->n_top++);
    } else {
        top_fill(&d->top[0], m, complaint, weight);
        top_sift_down(d->top, d->n_top, 0);
    }
}

/*
 * Weighted Space-Saving: a key already in the table adds its weight; a new
 * key takes the place of the smallest counter and inherits its count as
 * possible error, so no key that truly belongs in the top is lost and
 * memory stays at `cap` counters. Keys are told apart by a 64-bit hash.
 */
static struct hitter *hitters_add(struct hitter *e, size_t *n, size_t cap, const char *key,
                                  size_t klen, double w)
{
    uint64_t h = fnv(key, klen);
    for (size_t i = 0; i < *n; i++) {
        if (e[i].hash == h) {
            e[i].count += w;
            return &e[i];
        }
    }
    struct hitter *x;
    double base = 0;
    if (*n < cap) {
        x = &e[(*n)++];
    } else {
        x = &e[0];
        for (size_t i = 1; i < cap; i++) {
            if (e[i].count < x->count) {
                x = &e[i];
            }
        }
        base = x->count;
    }
    memset(x, 0, sizeof *x);
    x->hash = h;
    x->count = base + w;
    x->err = base;
    copy_cut(x->key, sizeof x->key, key, klen);
    return x;
}

/* The audience a post probably reached: its author's followers, plus a
 * modest 20 per repost (a reposter's followers see it too). Unknown counts
 * add nothing; every post reaches at least one reader. */
static double reach_of(const es_mention *m)
{
    double r = 1;
    if (m->followers > 0) {
        r += (double)m->followers;
    }
    if (m->reposts > 0) {
        r += 20.0 * (double)m->reposts;
    }
    return r;
}

int es_report_add_mention(es_report *r, const es_mention *m, const es_pipeline_result *res)
{
    r->mentions++;
    bool timed = chartable(m->created_ms);
    if (timed) {
        if (r->first_ms == ES_TIME_UNKNOWN || m->created_ms < r->first_ms) {
            r->first_ms = m->created_ms;
        }
        if (r->last_ms == ES_TIME_UNKNOWN || m->created_ms > r->last_ms) {
            r->last_ms = m->created_ms;
        }
    }
    size_t nt = 0;
    for (size_t i = 0; i < res->n_topics; i++) {
        nt += res->topics[i] < r->n_topics;
    }
    if (nt == 0) {
        r->unmatched++;
        return 0;
    }
    if (timed) {
        axis_include(r, m->created_ms);
    }
    bool complaint = res->intent.kind == ES_INTENT_COMPLAINT;
    double c = res->sentiment.compound;
    double reach = reach_of(m);
    for (size_t i = 0; i < res->n_topics; i++) {
        uint32_t t = res->topics[i];
        if (t >= r->n_topics) {
            continue;
        }
        struct topic_total *tt = &r->tt[t];
        tt->n++;
        tt->complaints += complaint;
        tt->pos += c >= POSITIVE_AT;
        tt->neg += c <= NEGATIVE_AT;
        tt->compound += c;
        tt->reach += reach;
        if (t >= ES_REPORT_DETAIL_TOPICS) {
            continue;
        }
        if (tt->d == NULL) {
            tt->d = calloc(1, sizeof *tt->d);
            if (tt->d == NULL) {
                return ES_ENOMEM;
            }
        }
        struct detail *d = tt->d;
        if (timed) {
            struct bucket *b = &d->series[floordiv(m->created_ms, r->w) - r->first];
            b->n++;
            b->pos += c >= POSITIVE_AT;
            b->neg += c <= NEGATIVE_AT;
            b->complaints += complaint;
            b->compound += (float)c;
        }
        if (m->author.len > 0) {
            struct hitter *h = hitters_add(d->authors, &d->n_authors, AUTHOR_SLOTS,
                                           m->author.ptr, m->author.len, reach);
            h->posts++;
            h->complaints += complaint;
            if (m->followers > h->followers) {
                h->followers = m->followers;
            }
            if (m->url.len > 0) {
                copy_url(h->url, sizeof h->url, m->url.ptr, m->url.len);
            }
        }
        if (!complaint) {
            continue;
        }
        top_offer(d, m, res->intent.complaint, res->intent.complaint * reach);
        for (size_t k = 0; k < res->intent.nmatches; k++) {
            const es_intent_match *im = &res->intent.matches[k];
            if (im->rule != ES_IRULE_CUE || im->phrase == NULL) {
                continue;
            }
            /* A cue counts once per mention. */
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++) {
                seen = res->intent.matches[j].rule == ES_IRULE_CUE &&
                       res->intent.matches[j].phrase != NULL &&
                       strcmp(res->intent.matches[j].phrase, im->phrase) == 0;
            }
            if (!seen) {
                hitters_add(d->cues, &d->n_cues, CUE_SLOTS, im->phrase, strlen(im->phrase), 1);
            }
        }
    }
    return 0;
}

static int32_t topic_index(es_report *r, const char *name)
{
    if (name == NULL || r->n_topics == 0) {
        return -1;
    }
    const char *cached = es_topics_name(r->topics, r->last_topic);
    if (cached != NULL && strcmp(cached, name) == 0) {
        return (int32_t)r->last_topic;
    }
    for (size_t i = 0; i < r->n_topics; i++) {
        const char *s = es_topics_name(r->topics, i);
        if (s != NULL && strcmp(s, name) == 0) {
            r->last_topic = i;
            return (int32_t)i;
        }
    }
    return -1;
}

/* A number from the alert's details object ("followers": 1240000), or -1.
 * The details are our own JSON, flat for the keys read here. */
static double details_num(const char *json, const char *key)
{
    if (json == NULL) {
        return -1;
    }
    char pat[40];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        return -1;
    }
    p += strlen(pat);
    while (*p == ' ') {
        p++;
    }
    char *end;
    double v = strtod(p, &end);
    return end == p ? -1 : v;
}

static void keep_alert(es_report *r, struct kept_alert *k, const es_alert *a, int32_t topic)
{
    memset(k, 0, sizeof *k);
    k->at_ms = a->at_ms;
    k->seq = r->seq;
    k->topic = topic;
    k->kind = (uint8_t)a->kind;
    k->sev = (uint8_t)a->severity;
    k->resolved = a->resolved;
    k->followers = details_num(a->details_json, "followers");
    k->posts = details_num(a->details_json, "posts");
    k->authors = details_num(a->details_json, "authors");
    if (a->fingerprint != NULL) {
        copy_cut(k->fingerprint, sizeof k->fingerprint, a->fingerprint, strlen(a->fingerprint));
    }
    if (a->summary != NULL) {
        k->cut = copy_cut(k->summary, sizeof k->summary, a->summary, strlen(a->summary));
    }
    if (a->n_mentions > 0) {
        const es_alert_mention *am = &a->mentions[0];
        copy_cut(k->author, sizeof k->author, am->author.ptr, am->author.len);
        copy_url(k->url, sizeof k->url, am->url.ptr, am->url.len);
    }
}

/* Complaint alerts: the more severe first, then the earlier. */
static bool calert_less(const struct kept_alert *a, const struct kept_alert *b)
{
    if (a->sev != b->sev) {
        return a->sev < b->sev;
    }
    if (a->at_ms != b->at_ms) {
        return a->at_ms > b->at_ms;
    }
    return a->seq > b->seq;
}

static void calert_sift_down(struct kept_alert *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && calert_less(&h[l], &h[m])) {
            m = l;
        }
        if (l + 1 < n && calert_less(&h[l + 1], &h[m])) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        struct kept_alert tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

int es_report_add_alert(es_report *r, const es_alert *a)
{
    if ((unsigned)a->kind > ES_ALERT_FEED_STALLED || (unsigned)a->severity > ES_SEV_CRITICAL) {
        return 0;
    }
    r->alerts++;
    r->seq++;
    r->by_kind[a->kind][a->severity]++;
    int32_t topic = topic_index(r, a->topic);
    if (topic >= 0) {
        r->tt[topic].alerts++;
    }
    if (a->kind == ES_ALERT_COMPLAINT) {
        struct kept_alert *h = r->calerts;
        if (r->n_calerts < ES_REPORT_MAX_COMPLAINT_ALERTS) {
            size_t i = r->n_calerts++;
            keep_alert(r, &h[i], a, topic);
            while (i > 0 && calert_less(&h[i], &h[(i - 1) / 2])) {
                struct kept_alert tmp = h[i];
                h[i] = h[(i - 1) / 2];
                h[(i - 1) / 2] = tmp;
                i = (i - 1) / 2;
            }
        } else {
            struct kept_alert probe = {.sev = (uint8_t)a->severity, .at_ms = a->at_ms,
                                       .seq = r->seq};
            if (calert_less(&h[0], &probe)) {
                keep_alert(r, &h[0], a, topic);
                calert_sift_down(h, r->n_calerts, 0);
            }
        }
        return 0;
    }
    if (r->n_episodes == ES_REPORT_MAX_EPISODES) {
        r->episodes_dropped++;
        return 0;
    }
    keep_alert(r, &r->episodes[r->n_episodes++], a, topic);
    if (topic >= 0 && chartable(a->at_ms) && r->axis_set) {
        axis_include(r, a->at_ms);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Writing: a bounded buffer flushed to the file as it fills                 */
/* ------------------------------------------------------------------------ */

typedef struct writer {
    FILE *f;
    es_buf b;
    int rc;
} writer;

static void o_flush(writer *o)
{
    if (o->rc == 0 && o->b.len > 0 && fwrite(o->b.data, 1, o->b.len, o->f) != o->b.len) {
        o->rc = ES_EIO;
    }
    es_buf_reset(&o->b);
}

static void o_n(writer *o, const char *s, size_t n)
{
    if (o->rc != 0) {
        return;
    }
    if (es_buf_add(&o->b, s, n) != 0) {
        o->rc = ES_EIO;
    }
    if (o->b.len >= OUT_FLUSH) {
        o_flush(o);
    }
}

static void o_s(writer *o, const char *s)
{
    o_n(o, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void o_f(writer *o, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        o->rc = ES_EIO; /* our formats are short; a long one is a bug */
        return;
    }
    o_n(o, tmp, (size_t)n);
}

/*
 * Text from the input, escaped for HTML text and for quoted attribute
 * values alike: & < > " ' become references, control characters and
 * invalid UTF-8 become U+FFFD, line breaks and tabs a space. Nothing the
 * input holds can open a tag or leave an attribute.
 */
static void o_esc(writer *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes at p[i - run .. i) to copy as they are */
    size_t i = 0;
    while (i < n) {
        const char *rep = NULL;
        size_t adv = 1;
        switch (p[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\n':
        case '\r':
        case '\t':
            rep = " ";
            break;
        default:
            if (p[i] < 0x20 || p[i] == 0x7F) {
                rep = "\xEF\xBF\xBD";
            } else if (p[i] >= 0x80) {
                adv = es_utf8_valid_len(p + i, n - i);
                if (adv == 0) {
                    rep = "\xEF\xBF\xBD";
                    adv = 1;
                }
            }
        }
        if (rep != NULL) {
            o_n(o, s + i - run, run);
            run = 0;
            o_s(o, rep);
        } else {
            run += adv;
        }
        i += adv;
    }
    o_n(o, s + i - run, run);
}

static void o_escz(writer *o, const char *s)
{
    o_esc(o, s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* Formatting numbers and times                                              */
/* ------------------------------------------------------------------------ */

/* 4476 -> "4,476" */
static void fmt_count(char out[32], double v)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            out[k++] = ',';
        }
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

static void o_count(writer *o, double v)
{
    char s[32];
    fmt_count(s, v);
    o_s(o, s);
}

static const char *const WDAY[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void utc(int64_t ms, struct tm *tm)
{
    time_t s = (time_t)floordiv(ms, 1000);
    if (gmtime_r(&s, tm) == NULL) {
        memset(tm, 0, sizeof *tm);
    }
}

/* "Fri 7 Mar" */
static void fmt_day(char out[32], int64_t ms)
{
    struct tm tm;
    utc(ms, &tm);
    snprintf(out, 32, "%s %d %s", WDAY[tm.tm_wday % 7], tm.tm_mday, MON[tm.tm_mon % 12]);
}

/* "20:25" */
static void fmt_hm(char out[16], int64_t ms)
{
    struct tm tm;
    utc(ms, &tm);
    snprintf(out, 16, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

/* "Fri 7 Mar 20:25" */
static void fmt_when(char out[48], int64_t ms)
{
    char d[32], hm[16];
    fmt_day(d, ms);
    fmt_hm(hm, ms);
    snprintf(out, 48, "%s %s", d, hm);
}

/* "Fri 7 Mar 20:25–23:55" or "Fri 7 Mar 22:00 – Sat 8 Mar 01:10" */
static void fmt_span(char out[112], int64_t a, int64_t b)
{
    char da[32], db[32], ha[16], hb[16];
    fmt_day(da, a);
    fmt_day(db, b);
    fmt_hm(ha, a);
    fmt_hm(hb, b);
    if (strcmp(da, db) == 0) {
        snprintf(out, 112, "%s %s\xE2\x80\x93%s", da, ha, hb);
    } else {
        snprintf(out, 112, "%s %s \xE2\x80\x93 %s %s", da, ha, db, hb);
    }
}

static void fmt_width(char out[32], int64_t w)
{
    if (w < 3600000) {
        snprintf(out, 32, "%lld min", (long long)(w / 60000));
    } else if (w == 3600000) {
        snprintf(out, 32, "hour");
    } else if (w < 86400000) {
        snprintf(out, 32, "%lld hours", (long long)(w / 3600000));
    } else if (w == 86400000) {
        snprintf(out, 32, "day");
    } else {
        snprintf(out, 32, "%lld days", (long long)(w / 86400000));
    }
}

static const char *kind_label(int kind, const char *fingerprint)
{
    switch (kind) {
    case ES_ALERT_COMPLAINT:
        return "complaint";
    case ES_ALERT_VOLUME_SPIKE:
        return "volume spike";
    case ES_ALERT_NEGATIVE_SURGE:
        return "negative surge";
    case ES_ALERT_VIRAL_POST:
        return strstr(fingerprint, "/campaign-") != NULL ? "campaign" : "viral post";
    default:
        return "feed stalled";
    }
}

static bool is_campaign(const struct kept_alert *k)
{
    return k->kind == ES_ALERT_VIRAL_POST && strstr(k->fingerprint, "/campaign-") != NULL;
}

/* The resolved alert that ends the episode `k` fired, or NULL. */
static const struct kept_alert *resolution(const es_report *r, const struct kept_alert *k)
{
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *e = &r->episodes[i];
        if (e->resolved && e->at_ms >= k->at_ms && e->kind == k->kind &&
            strcmp(e->fingerprint, k->fingerprint) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The alert's summary without the "topic: " the detectors put in front
 * (the report says the topic already). */
static const char *summary_body(const es_report *r, const struct kept_alert *k)
{
    if (k->topic < 0) {
        return k->summary;
    }
    const char *name = es_topics_name(r->topics, (size_t)k->topic);
    size_t n = name != NULL ? strlen(name) : 0;
    if (n > 0 && strncmp(k->summary, name, n) == 0 && k->summary[n] == ':' &&
        k->summary[n + 1] == ' ') {
        return k->summary + n + 2;
    }
    return k->summary;
}

/* ------------------------------------------------------------------------ */
/* Episodes per topic: spikes and surges merged into waves                   */
/* ------------------------------------------------------------------------ */

struct wave {
    int64_t start, end;
    bool surge, open;
};

static int wave_cmp(const void *a, const void *b)
{
    const struct wave *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* The topic's volume_spike and negative_surge episodes, overlapping ones
 * merged: one wave of complaints usually fires both. Returns the count
 * (at most cap). */
static size_t topic_waves(const es_report *r, int32_t t, struct wave *w, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_episodes && n < cap; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != t || k->resolved ||
            (k->kind != ES_ALERT_VOLUME_SPIKE && k->kind != ES_ALERT_NEGATIVE_SURGE)) {
            continue;
        }
        const struct kept_alert *end = resolution(r, k);
        w[n].start = k->at_ms;
        w[n].end = end != NULL ? end->at_ms : (r->axis_set ? (r->first + (int64_t)r->n) * r->w
                                                           : k->at_ms);
        w[n].open = end == NULL;
        w[n].surge = k->kind == ES_ALERT_NEGATIVE_SURGE;
        n++;
    }
    qsort(w, n, sizeof *w, wave_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && w[i].start <= w[m - 1].end) {
            if (w[i].end > w[m - 1].end) {
                w[m - 1].end = w[i].end;
                w[m - 1].open = w[i].open;
            }
            w[m - 1].surge |= w[i].surge;
        } else {
            w[m++] = w[i];
        }
    }
    return m;
}

/* ------------------------------------------------------------------------ */
/* Page parts                                                                */
/* ------------------------------------------------------------------------ */

static const char CSS[] =
    ":root{--ink:#1d2733;--muted:#5b6776;--line:#d9dfe7;--soft:#f3f6f9;--accent:#2f6fb0;"
    "--bad:#c0392b;--warn:#d9822b;--good:#2e8b57;--viral:#7b4fb0}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',"
    "Arial,sans-serif;color:var(--ink);background:#fff}\n"
    "main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}\n"
    "h1{font-size:26px;margin:0 0 2px;overflow-wrap:anywhere}\n"
    "h2{font-size:22px;margin:0 0 4px}\n"
    "h3{font-size:13px;margin:22px 0 6px;text-transform:uppercase;letter-spacing:.05em;"
    "color:var(--muted)}\n"
    "p{margin:6px 0}\n"
    "a{color:var(--accent)}\n"
    ".meta{color:var(--muted);margin:0 0 16px}\n"
    ".headline{background:#eef4fb;border-left:4px solid var(--accent);padding:12px 18px;"
    "border-radius:4px;margin:12px 0 8px}\n"
    ".headline ul{margin:0;padding-left:18px}.headline li{margin:4px 0}\n"
    "nav{margin:12px 0;font-size:14px;display:flex;flex-wrap:wrap;gap:4px 16px}\n"
    "section{margin-top:34px}\n"
    "section.topic{border-top:2px solid var(--line);padding-top:18px}\n"
    ".badge{font-size:12px;padding:1px 9px;border-radius:10px;background:#e7ecf2;"
    "color:var(--muted);vertical-align:middle;font-weight:600;margin-left:8px}\n"
    ".badge.competitor{background:#f6ecdc;color:#8a5a12}\n"
    ".stats{color:var(--muted);margin:0 0 8px}.stats b{color:var(--ink)}\n"
    ".events{margin:6px 0 4px;padding-left:18px}.events li{margin:2px 0}\n"
    "svg.chart{width:100%;height:auto;display:block;margin:4px 0}\n"
    ".chart text{font-size:11px;fill:#5b6776}\n"
    ".chart .gl{stroke:#e6eaf0;stroke-width:1}\n"
    ".chart .axis{stroke:#9aa5b1;stroke-width:1}\n"
    ".chart .all{fill:#a9bfd8}.chart .cpl{fill:var(--bad)}\n"
    ".chart .band{fill:#f5d76e;opacity:.28}.chart .band.wave{fill:#e74c3c;opacity:.12}\n"
    ".chart .mk line{stroke-width:1.5;stroke-dasharray:3 2}\n"
    ".chart .mk text{font-size:11px;font-weight:600}\n"
    ".chart .k-negative_surge line{stroke:var(--bad)}.chart .k-negative_surge text,"
    ".chart .k-negative_surge circle{fill:var(--bad)}\n"
    ".chart .k-volume_spike line{stroke:var(--warn)}.chart .k-volume_spike text,"
    ".chart .k-volume_spike circle{fill:var(--warn)}\n"
    ".chart .k-viral_post line{stroke:var(--viral)}.chart .k-viral_post text,"
    ".chart .k-viral_post circle{fill:var(--viral)}\n"
    ".chart .ln{fill:none;stroke-width:1.6;stroke-linejoin:round}\n"
    ".legend{font-size:13px;color:var(--muted);margin:10px 0 0}"
    ".legend span{margin-right:14px;white-space:nowrap}\n"
    ".sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;"
    "vertical-align:-1px}\n"
    ".grid{display:grid;grid-template-columns:1.15fr 1fr;gap:28px;align-items:start}\n"
    "@media (max-width:960px){.grid{grid-template-columns:1fr}}\n"
    "table{border-collapse:collapse;width:100%;font-size:13.5px}\n"
    "th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);"
    "vertical-align:top}\n"
    "th{font-weight:600;color:var(--muted);font-size:12px}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.when,td.kind{white-space:nowrap}\n"
    "ol.top{margin:0;padding-left:20px}ol.top li{margin:0 0 10px}\n"
    ".quote{margin:0;overflow-wrap:anywhere}\n"
    ".by{font-size:12.5px;color:var(--muted)}\n"
    ".bar{display:inline-block;height:8px;background:var(--bad);opacity:.6;border-radius:2px}\n"
    ".pill{display:inline-block;font-size:11.5px;font-weight:600;padding:0 7px;"
    "border-radius:9px;border:1px solid transparent}\n"
    ".sev-critical{background:var(--bad);color:#fff}\n"
    ".sev-warning{background:#fbe3c7;color:#7a4a0c}\n"
    ".sev-info{background:#e7ecf2;color:var(--muted)}\n"
    ".note{color:var(--muted);font-size:13px}\n"
    "footer{margin-top:40px;color:var(--muted);font-size:12.5px}\n"
    "@media print{\n"
    " @page{margin:14mm}\n"
    " body{font-size:10.5pt;background:#fff;color:#000}\n"
    " main{max-width:none;padding:0}\n"
    " nav{display:none}\n"
    " section.topic{break-before:page;page-break-before:always;border-top:0;padding-top:0}\n"
    " #alerts{break-before:page;page-break-before:always}\n"
    " .headline{background:#fff;border:1px solid #888;border-left:4px solid #555}\n"
    " a{color:inherit;text-decoration:none}\n"
    " .pill{background:#fff!important;color:#000!important;border-color:#777}\n"
    " .grid{grid-template-columns:1.15fr 1fr}\n"
    " tr,li,svg,.legend{break-inside:avoid;page-break-inside:avoid}\n"
    "}\n";

static void o_time_attr(writer *o, const char *name, int64_t ms)
{
    char iso[32];
    es_time_format(ms, iso);
    o_f(o, " %s=\"%s\"", name, iso);
}

/* A link to a post when the URL is http(s); otherwise just the text. */
static void o_link(writer *o, const char *url, const char *text)
{
    if (url[0] != '\0' && is_http_url(url, strlen(url))) {
        o_s(o, "<a href=\"");
        o_escz(o, url);
        o_s(o, "\" rel=\"noopener noreferrer nofollow\">");
        o_escz(o, text);
        o_s(o, "</a>");
    } else {
        o_escz(o, text);
    }
}

static void o_pill(writer *o, int sev)
{
    const char *name = es_severity_name((es_severity)sev);
    o_f(o, "<span class=\"pill sev-%s\">%s</span>", name, name);
}

static const char *topic_name(const es_report *r, size_t t)
{
    const char *s = es_topics_name(r->topics, t);
    return s != NULL ? s : "?";
}

static bool topic_competitor(const es_report *r, size_t t)
{
    return es_topics_competitor(r->topics, t);
}

/* Topics in the order the report presents them: the brand's first, then
 * competitors, each in config order. Fills idx (n_topics entries). */
static void topic_order(const es_report *r, size_t *idx)
{
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->n_topics; i++) {
            if (topic_competitor(r, i) == (pass == 1)) {
                idx[k++] = i;
            }
        }
    }
}

static void write_headline_topic(writer *o, const es_report *r, size_t t)
{
    const struct topic_total *tt = &r->tt[t];
    o_s(o, "<li><b>");
    o_escz(o, topic_name(r, t));
    o_s(o, "</b>");
    if (topic_competitor(r, t)) {
        o_s(o, " (competitor)");
    }
    o_s(o, ": ");
    o_count(o, (double)tt->n);
    o_s(o, tt->n == 1 ? " mention" : " mentions");
    if (r->first_ms != ES_TIME_UNKNOWN && r->last_ms > r->first_ms) {
        double days = (double)(r->last_ms - r->first_ms) / 86400000.0;
        if (days >= 1.5) {
            o_f(o, " over %.0f days", ceil(days - 0.05));
        } else {
            o_f(o, " over %.0f hours", ceil((double)(r->last_ms - r->first_ms) / 3600000.0));
        }
    }
    if (tt->n > 0) {
        o_s(o, ", ");
        o_count(o, (double)tt->complaints);
        o_f(o, " of them complaints (%.0f%%)", 100.0 * (double)tt->complaints / (double)tt->n);
    }

    struct wave w[16];
    size_t nw = topic_waves(r, (int32_t)t, w, 16);
    size_t said = 0;
    for (size_t i = 0; i < nw && said < 3; i++, said++) {
        char span[112];
        fmt_span(span, w[i].start, w[i].end);
        o_s(o, said == 0 ? "; " : ", ");
        o_s(o, w[i].surge ? "a <b>complaint wave</b> on " : "a <b>volume spike</b> on ");
        o_s(o, span);
        o_s(o, w[i].open ? " UTC (still on at the end)" : " UTC");
        if (!w[i].surge) {
            o_s(o, " without a rise in complaints");
        }
    }
    if (nw > said) {
        o_f(o, " and %zu more spikes", nw - said);
    }
    size_t other_viral = 0;
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != (int32_t)t || k->resolved || k->kind != ES_ALERT_VIRAL_POST) {
            continue;
        }
        char when[48];
        fmt_when(when, k->at_ms);
        if (is_campaign(k)) {
            const struct kept_alert *end = resolution(r, k);
            const struct kept_alert *n = end != NULL ? end : k;
            o_s(o, "; a <b>copy-paste campaign</b>");
            if (n->posts > 0) {
                o_s(o, " of ");
                o_count(o, n->posts);
                o_s(o, " posts");
                if (n->authors > 0) {
                    o_s(o, " from about ");
                    o_count(o, n->authors);
                    o_s(o, " authors");
                }
            }
            char span[112];
            fmt_span(span, k->at_ms, end != NULL ? end->at_ms : k->at_ms);
            o_s(o, " on ");
            o_s(o, end != NULL ? span : when);
            o_s(o, " UTC");
        } else if (k->sev == ES_SEV_CRITICAL) {
            o_s(o, "; a <b>viral complaint</b> from ");
            o_escz(o, k->author[0] ? k->author : "an author");
            if (k->followers > 0) {
                o_s(o, " (");
                o_count(o, k->followers);
                o_s(o, " followers)");
            }
            o_s(o, " on ");
            o_s(o, when);
            o_s(o, " UTC");
        } else {
            other_viral++;
        }
    }
    if (other_viral > 0) {
        o_f(o, "; %zu other post%s from large accounts flagged as viral", other_viral,
            other_viral == 1 ? "" : "s");
    }
    o_s(o, ".</li>\n");
}

static void write_headline(writer *o, const es_report *r, const size_t *order)
{
    o_s(o, "<section class=\"headline\" id=\"summary\"><ul>\n");
    size_t shown = 0, quiet = 0;
    for (size_t i = 0; i < r->n_topics; i++) {
        size_t t = order[i];
        if (r->tt[t].n == 0) {
            quiet++;
        } else if (shown < HEADLINE_TOPICS) {
            write_headline_topic(o, r, t);
            shown++;
        }
    }
    if (r->n_topics > shown + quiet) {
        o_f(o, "<li>%zu more topics with mentions: see the table below.</li>\n",
            r->n_topics - shown - quiet);
    }
    if (quiet > 0) {
        o_f(o, "<li>%zu topic%s had no mentions.</li>\n", quiet, quiet == 1 ? "" : "s");
    }
    const uint64_t *c = r->by_kind[ES_ALERT_COMPLAINT];
    uint64_t nc = c[ES_SEV_INFO] + c[ES_SEV_WARNING] + c[ES_SEV_CRITICAL];
    if (nc > 0) {
        o_s(o, "<li><b>");
        o_count(o, (double)nc);
        o_s(o, nc == 1 ? " complaint needs" : " individual complaints need");
        o_s(o, " a person</b> (");
        o_count(o, (double)c[ES_SEV_CRITICAL]);
        o_s(o, " critical, ");
        o_count(o, (double)c[ES_SEV_WARNING]);
        o_s(o, " warning, ");
        o_count(o, (double)c[ES_SEV_INFO]);
        o_s(o, " info): the most urgent are listed <a href=\"#complaint-alerts\">at the "
               "end</a>.</li>\n");
    }
    if (r->n_topics == 0) {
        o_s(o, "<li>The config has no topics, so nothing was charted.</li>\n");
    }
    o_s(o, "</ul></section>\n");
}

/* --- charts -------------------------------------------------------------- */

#define CW 960.0  /* viewBox width */
#define CX0 52.0  /* plot left */
#define CX1 944.0 /* plot right */

struct axis {
    int64_t t0, t1;
};

static double x_of(const struct axis *a, int64_t t)
{
    return CX0 + (double)(t - a->t0) / (double)(a->t1 - a->t0) * (CX1 - CX0);
}

static double nice_step(double max, int target)
{
    double raw = max / target;
    if (raw <= 0) {
        return 1;
    }
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    return step;
}

/* Horizontal grid lines with labels for values 0..max (pct: as percent). */
static void y_grid(writer *o, double ytop, double ybot, double max, bool pct)
{
    double step = pct ? 25 : nice_step(max, 4);
    if (!pct && step < 1) {
        step = 1;
    }
    o_s(o, "<g class=\"y\">");
    for (double v = 0; v <= max + 1e-9; v += step) {
        double y = ybot - v / max * (ybot - ytop);
        o_f(o, "<line class=\"gl\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", CX0, CX1,
            y, y);
        char lab[32];
        if (pct) {
            snprintf(lab, sizeof lab, "%.0f%%", v);
        } else {
            fmt_count(lab, v);
        }
        o_f(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", CX0 - 6, y + 4, lab);
    }
    o_s(o, "</g>");
}

/* Vertical ticks at round times (midnights for a week) with labels. */
static void x_axis(writer *o, const struct axis *a, double ytop, double ybot)
{
    static const int64_t steps[] = {
        3600000,   10800000,   21600000,   43200000,   86400000,
        172800000, 604800000,  1209600000, 2419200000, 4838400000,
        9676800000, 19353600000, 31449600000,
    };
    int64_t span = a->t1 - a->t0, step = steps[0];
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        step = steps[i];
        if (span / step <= 10) {
            break;
        }
    }
    while (span / step > 10) {
        step *= 2;
    }
    /* Week-sized steps start on Mondays (1970-01-05 was one). */
    int64_t offset = step >= 604800000 ? 4 * 86400000LL : 0;
    int64_t t = floordiv(a->t0 - offset, step) * step + offset;
    if (t < a->t0) {
        t += step;
    }
    o_f(o, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", CX0, CX1,
        ybot, ybot);
    o_s(o, "<g class=\"x\">");
    for (; t <= a->t1; t += step) {
        double x = x_of(a, t);
        o_f(o, "<line class=\"gl\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x, ytop,
            ybot + 4);
        char lab[48];
        if (step >= 86400000 || floordiv(t, 86400000) * 86400000 == t) {
            fmt_day(lab, t);
            if (span > 180 * 86400000LL) {
                struct tm tm;
                utc(t, &tm);
                snprintf(lab, sizeof lab, "%d %s %d", tm.tm_mday, MON[tm.tm_mon % 12],
                         tm.tm_year + 1900);
            }
        } else {
            fmt_hm(lab, t);
        }
        if (x + 4 + 6.0 * (double)strlen(lab) <= CW) {
            o_f(o, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", x + 4, ybot + 15, lab);
        }
    }
    o_s(o, "</g>");
}

struct marker {
    const struct kept_alert *k;
    double x;
    int prio, row;
};

static int marker_cmp(const void *a, const void *b)
{
    const struct marker *x = a, *y = b;
    if (x->prio != y->prio) {
        return x->prio - y->prio;
    }
    return (x->k->at_ms > y->k->at_ms) - (x->k->at_ms < y->k->at_ms);
}

/* The horizontal extent of a marker's label ("negative surge 20:30"),
 * estimated from its length; true when it must sit left of the line. */
static bool label_extent(const struct kept_alert *k, double x, double *x0, double *x1)
{
    double w = 6.3 * (double)(strlen(kind_label(k->kind, k->fingerprint)) + 6) + 6;
    bool left = x + 3 + w > CW - 2;
    *x0 = left ? x - 3 - w : x - 1;
    *x1 = left ? x + 1 : x + 3 + w;
    return left;
}

#define LABEL_ROWS 3
#define ROW_H 14.0

/*
 * Alert markers: a dashed line at the alert's time, a dot at the plot's
 * top and, where there is room, a label in one of three rows above the
 * plot. Waves and spikes get the labels first, then viral posts; a marker
 * whose label does not fit keeps its line and its tooltip.
 */
static void write_markers(writer *o, const es_report *r, size_t t, const struct axis *a,
                          double ytop, double ybot)
{
    size_t cap = r->n_episodes + 1;
    struct marker *mk = calloc(cap, sizeof *mk);
    /* Per label row, the [x0, x1) intervals of the labels placed in it. */
    double *iv = calloc((size_t)LABEL_ROWS * cap * 2, sizeof *iv);
    size_t row_n[LABEL_ROWS] = {0};
    if (mk == NULL || iv == NULL) {
        free(mk);
        free(iv);
        o->rc = ES_ENOMEM;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != (int32_t)t || k->resolved || k->kind == ES_ALERT_FEED_STALLED ||
            k->at_ms < a->t0 || k->at_ms > a->t1) {
            continue;
        }
        mk[n].k = k;
        mk[n].x = x_of(a, k->at_ms);
        mk[n].prio = k->kind == ES_ALERT_NEGATIVE_SURGE ? 0
                     : k->kind == ES_ALERT_VOLUME_SPIKE ? 1
                     : k->sev == ES_SEV_CRITICAL        ? 2
                     : is_campaign(k)                   ? 3
                                                        : 4;
        mk[n].row = -1;
        n++;
    }
    qsort(mk, n, sizeof *mk, marker_cmp);
    /* A label takes the first row where it overlaps no label placed
     * before it; near the right edge it sits left of its line. */
    for (size_t i = 0; i < n; i++) {
        double x0, x1;
        label_extent(mk[i].k, mk[i].x, &x0, &x1);
        for (int row = 0; row < LABEL_ROWS && mk[i].row < 0; row++) {
            double *rv = iv + (size_t)row * cap * 2;
            bool clash = false;
            for (size_t j = 0; j < row_n[row] && !clash; j++) {
                clash = x0 < rv[2 * j + 1] && rv[2 * j] < x1;
            }
            if (!clash) {
                rv[2 * row_n[row]] = x0;
                rv[2 * row_n[row] + 1] = x1;
                row_n[row]++;
                mk[i].row = row;
            }
        }
    }
    o_s(o, "<g class=\"markers\">");
    /* Drawn in reverse priority so waves end up on top. */
    for (size_t i = n; i-- > 0;) {
        const struct kept_alert *k = mk[i].k;
        double x = mk[i].x;
        o_f(o, "<g class=\"mk k-%s\" data-kind=\"%s\"", es_alert_kind_name((es_alert_kind)k->kind),
            es_alert_kind_name((es_alert_kind)k->kind));
        o_time_attr(o, "data-at", k->at_ms);
        o_f(o, " data-status=\"firing\" data-x=\"%.2f\">", x);
        o_s(o, "<title>");
        char when[48];
        fmt_when(when, k->at_ms);
        o_s(o, when);
        o_s(o, " UTC: ");
        o_escz(o, k->summary);
        o_s(o, "</title>");
        double ylab = 12 + mk[i].row * ROW_H;
        double yline = mk[i].row >= 0 ? ylab + 3 : ytop;
        o_f(o, "<line x1=\"%.2f\" x2=\"%.2f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x, yline, ybot);
        o_f(o, "<circle cx=\"%.2f\" cy=\"%.1f\" r=\"3\"/>", x, ytop);
        if (mk[i].row >= 0) {
            char hm[16];
            fmt_hm(hm, k->at_ms);
            double x0, x1;
            bool left = label_extent(k, x, &x0, &x1);
            o_f(o, "<text x=\"%.2f\" y=\"%.1f\"%s>%s %s</text>", left ? x - 3 : x + 3, ylab,
                left ? " text-anchor=\"end\"" : "", kind_label(k->kind, k->fingerprint), hm);
        }
        o_s(o, "</g>");
    }
    o_s(o, "</g>");
    free(mk);
    free(iv);
}

static void chart_open(writer *o, const char *cls, const es_report *r, size_t t,
                       const struct axis *a, double height)
{
    o_f(o, "<svg class=\"chart %s\" xmlns=\"http://www.w3.org/2000/svg\"", cls);
    if (t != (size_t)-1) {
        o_s(o, " data-topic=\"");
        o_escz(o, topic_name(r, t));
        o_s(o, "\"");
    }
    o_time_attr(o, "data-t0", a->t0);
    o_time_attr(o, "data-t1", a->t1);
    o_f(o, " data-x0=\"%.1f\" data-x1=\"%.1f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", CX0, CX1,
        CW, height);
}

/* Mention volume per bucket (complaints in red at the foot of each bar),
 * the topic's episodes as shaded bands and its alerts as markers. */
static void write_volume_chart(writer *o, const es_report *r, size_t t, const struct axis *a)
{
    const struct detail *d = r->tt[t].d;
    const double ytop = 12 + LABEL_ROWS * ROW_H, ybot = ytop + 150, h = ybot + 22;
    double max = 1;
    for (size_t i = 0; d != NULL && i < r->n; i++) {
        if (d->series[i].n > max) {
            max = d->series[i].n;
        }
    }
    double step = nice_step(max, 4);
    if (step < 1) {
        step = 1;
    }
    max = ceil(max / step) * step;
    chart_open(o, "volume", r, t, a, h);
    char wl[32];
    fmt_width(wl, r->w);
    o_s(o, "<title>Mentions of ");
    o_escz(o, topic_name(r, t));
    o_f(o, " per %s, with the alerts detected</title>", wl);
    y_grid(o, ytop, ybot, max, false);
    /* Episode bands: from the firing alert to its resolution. */
    o_s(o, "<g class=\"bands\">");
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != (int32_t)t || k->resolved ||
            (k->kind != ES_ALERT_VOLUME_SPIKE && k->kind != ES_ALERT_NEGATIVE_SURGE)) {
            continue;
        }
        const struct kept_alert *end = resolution(r, k);
        int64_t t1 = end != NULL ? end->at_ms : a->t1;
        int64_t t0 = k->at_ms < a->t0 ? a->t0 : k->at_ms;
        t1 = t1 > a->t1 ? a->t1 : t1;
        if (t1 <= t0) {
            continue;
        }
        double x0 = x_of(a, t0), x1 = x_of(a, t1);
        o_f(o,
            "<rect class=\"band%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\"/>",
            k->kind == ES_ALERT_NEGATIVE_SURGE ? " wave" : "", x0, ytop, x1 - x0 < 1 ? 1 : x1 - x0,
            ybot - ytop);
    }
    o_s(o, "</g>");
    if (d != NULL) {
        double bw = (CX1 - CX0) / (double)r->n;
        double gap = bw > 3 ? bw * 0.15 : 0;
        for (int pass = 0; pass < 2; pass++) {
            o_f(o, "<path class=\"%s\" d=\"", pass == 0 ? "all" : "cpl");
            for (size_t i = 0; i < r->n; i++) {
                uint32_t v = pass == 0 ? d->series[i].n : d->series[i].complaints;
                if (v == 0) {
                    continue;
                }
                double x = CX0 + (double)i * bw + gap / 2;
                double hh = (double)v / max * (ybot - ytop);
                o_f(o, "M%.2f %.2fh%.2fv%.2fh%.2fz", x, ybot, bw - gap, -hh, -(bw - gap));
            }
            o_s(o, "\"/>");
        }
    }
    x_axis(o, a, ytop, ybot);
    write_markers(o, r, t, a, ytop, ybot);
    o_s(o, "</svg>\n");
}

/* Buckets merged for the mood chart: shares need more mentions than
 * counts do, so it has at most MOOD_POINTS points. */
static size_t mood_group(const es_report *r)
{
    return (r->n + MOOD_POINTS - 1) / MOOD_POINTS;
}

/* One polyline over the groups of g buckets with enough mentions; gaps
 * elsewhere. which: 0 complaints, 1 negative, 2 positive. */
static void share_line(writer *o, const es_report *r, const struct detail *d, int which,
                       const char *color, double width, double ytop, double ybot)
{
    size_t g = mood_group(r);
    double bw = (CX1 - CX0) / (double)r->n;
    o_f(o, "<path class=\"ln\" stroke=\"%s\" stroke-width=\"%.1f\" d=\"", color, width);
    bool pen = false;
    for (size_t i = 0; i < r->n; i += g) {
        size_t k = r->n - i < g ? r->n - i : g;
        uint64_t n = 0, v = 0;
        for (size_t j = i; j < i + k; j++) {
            const struct bucket *b = &d->series[j];
            n += b->n;
            v += which == 0 ? b->complaints : which == 1 ? b->neg : b->pos;
        }
        if (n < MIN_SHARE_N) {
            pen = false;
            continue;
        }
        double x = CX0 + ((double)i + (double)k / 2) * bw;
        double y = ybot - (double)v / (double)n * (ybot - ytop);
        o_f(o, "%s%.2f %.2f", pen ? "L" : "M", x, y);
        pen = true;
    }
    o_s(o, "\"/>");
}

static void write_mood_chart(writer *o, const es_report *r, size_t t, const struct axis *a)
{
    const struct detail *d = r->tt[t].d;
    const double ytop = 10, ybot = 130, h = ybot + 22;
    chart_open(o, "mood", r, t, a, h);
    o_s(o, "<title>Share of complaints, negative and positive mentions of ");
    o_escz(o, topic_name(r, t));
    o_s(o, "</title>");
    y_grid(o, ytop, ybot, 100, true);
    /* The same bands as the volume chart, so the two read together. */
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != (int32_t)t || k->resolved || k->kind != ES_ALERT_NEGATIVE_SURGE) {
            continue;
        }
        const struct kept_alert *end = resolution(r, k);
        int64_t t0 = k->at_ms < a->t0 ? a->t0 : k->at_ms;
        int64_t t1 = end != NULL && end->at_ms < a->t1 ? end->at_ms : a->t1;
        if (t1 > t0) {
            o_f(o, "<rect class=\"band wave\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                   "height=\"%.1f\"/>",
                x_of(a, t0), ytop, x_of(a, t1) - x_of(a, t0), ybot - ytop);
        }
    }
    if (d != NULL) {
        share_line(o, r, d, 2, "#2e8b57", 1.5, ytop, ybot);
        share_line(o, r, d, 1, "#e08e3c", 1.5, ytop, ybot);
        share_line(o, r, d, 0, "#c0392b", 2.4, ytop, ybot);
    }
    x_axis(o, a, ytop, ybot);
    o_s(o, "</svg>\n");
}

static const char *const PALETTE[COMPARE_TOPICS] = {"#2f6fb0", "#d9822b", "#2e8b57",
                                                    "#7b4fb0", "#8c564b", "#17becf"};

/* Competitors side by side with the brand: counts and mood in a table,
 * volume over time as one line per topic. */
static void write_compare(writer *o, const es_report *r, const size_t *order, const struct axis *a)
{
    uint64_t all = 0;
    for (size_t i = 0; i < r->n_topics; i++) {
        all += r->tt[i].n;
    }
    o_s(o, "<section id=\"compare\"><h2>Brand and competitors side by side</h2>\n");
    o_s(o, "<table class=\"compare\"><thead><tr><th>topic</th><th class=\"num\">mentions</th>"
           "<th class=\"num\">share of voice</th><th class=\"num\">complaints</th>"
           "<th class=\"num\">negative</th><th class=\"num\">positive</th>"
           "<th class=\"num\">avg. sentiment</th><th class=\"num\">alerts</th></tr></thead>"
           "<tbody>\n");
    for (size_t i = 0; i < r->n_topics; i++) {
        size_t t = order[i];
        const struct topic_total *tt = &r->tt[t];
        double n = tt->n ? (double)tt->n : 1;
        o_s(o, "<tr><td>");
        if (t < ES_REPORT_DETAIL_TOPICS) {
            o_f(o, "<a href=\"#topic-%zu\">", t);
            o_escz(o, topic_name(r, t));
            o_s(o, "</a>");
        } else {
            o_escz(o, topic_name(r, t));
        }
        o_s(o, topic_competitor(r, t) ? "<span class=\"badge competitor\">competitor</span>"
                                      : "<span class=\"badge\">brand</span>");
        o_s(o, "</td><td class=\"num\">");
        o_count(o, (double)tt->n);
        o_f(o, "</td><td class=\"num\">%.0f%%</td><td class=\"num\">",
            all ? 100.0 * (double)tt->n / (double)all : 0.0);
        o_count(o, (double)tt->complaints);
        o_f(o, " (%.0f%%)</td><td class=\"num\">%.0f%%</td><td class=\"num\">%.0f%%</td>",
            100.0 * (double)tt->complaints / n, 100.0 * (double)tt->neg / n,
            100.0 * (double)tt->pos / n);
        o_f(o, "<td class=\"num\">%+.2f</td><td class=\"num\">", tt->compound / n);
        o_count(o, (double)tt->alerts);
        o_s(o, "</td></tr>\n");
    }
    o_s(o, "</tbody></table>\n");
    if (r->n_topics > ES_REPORT_DETAIL_TOPICS) {
        o_f(o, "<p class=\"note\">Charts and details are kept for the first %d topics of the "
               "config; the others are counted here only.</p>\n",
            ES_REPORT_DETAIL_TOPICS);
    }
    if (a == NULL || r->n_topics < 2) {
        o_s(o, "</section>\n");
        return;
    }
    /* The lines: the biggest topics (brand first), up to COMPARE_TOPICS. */
    size_t pick[COMPARE_TOPICS], np = 0;
    for (size_t i = 0; i < r->n_topics && np < COMPARE_TOPICS; i++) {
        size_t t = order[i];
        if (t < ES_REPORT_DETAIL_TOPICS && r->tt[t].d != NULL && r->tt[t].n > 0) {
            pick[np++] = t;
        }
    }
    if (np < 2) {
        o_s(o, "</section>\n");
        return;
    }
    char wl[32];
    fmt_width(wl, r->w);
    o_s(o, "<p class=\"legend\">");
    for (size_t i = 0; i < np; i++) {
        o_f(o, "<span><i class=\"sw\" style=\"background:%s\"></i>", PALETTE[i]);
        o_escz(o, topic_name(r, pick[i]));
        o_s(o, "</span>");
    }
    o_f(o, " mentions per %s</p>\n", wl);
    const double ytop = 10, ybot = 150, h = ybot + 22;
    double max = 1;
    for (size_t p = 0; p < np; p++) {
        for (size_t i = 0; i < r->n; i++) {
            if (r->tt[pick[p]].d->series[i].n > max) {
                max = r->tt[pick[p]].d->series[i].n;
            }
        }
    }
    double step = nice_step(max, 4);
    max = ceil(max / (step < 1 ? 1 : step)) * (step < 1 ? 1 : step);
    chart_open(o, "compare", r, (size_t)-1, a, h);
    o_s(o, "<title>Mentions per topic over time</title>");
    y_grid(o, ytop, ybot, max, false);
    double bw = (CX1 - CX0) / (double)r->n;
    for (size_t p = np; p-- > 0;) {
        o_f(o, "<path class=\"ln\" stroke=\"%s\" d=\"", PALETTE[p]);
        for (size_t i = 0; i < r->n; i++) {
            double x = CX0 + ((double)i + 0.5) * bw;
            double y = ybot - (double)r->tt[pick[p]].d->series[i].n / max * (ybot - ytop);
            o_f(o, "%s%.2f %.2f", i ? "L" : "M", x, y);
        }
        o_s(o, "\"/>");
    }
    x_axis(o, a, ytop, ybot);
    o_s(o, "</svg>\n</section>\n");
}

/* --- per topic ------------------------------------------------------------ */

static int top_cmp(const void *a, const void *b)
{
    const struct top_complaint *x = a, *y = b;
    return (x->weight < y->weight) - (x->weight > y->weight);
}

static int hitter_cmp(const void *a, const void *b)
{
    const struct hitter *x = a, *y = b;
    double cx = x->count - x->err, cy = y->count - y->err;
    if (cx != cy) {
        return (cx < cy) - (cx > cy);
    }
    return strcmp(x->key, y->key);
}

static void write_top_complaints(writer *o, const struct detail *d)
{
    o_s(o, "<div><h3>Top complaints (by score \xC3\x97 reach)</h3>\n");
    if (d == NULL || d->n_top == 0) {
        o_s(o, "<p class=\"note\">No complaints.</p></div>\n");
        return;
    }
    struct top_complaint *s = malloc(d->n_top * sizeof *s);
    if (s == NULL) {
        o->rc = ES_ENOMEM;
        return;
    }
    memcpy(s, d->top, d->n_top * sizeof *s);
    qsort(s, d->n_top, sizeof *s, top_cmp);
    o_s(o, "<ol class=\"top\">\n");
    for (size_t i = 0; i < d->n_top; i++) {
        o_s(o, "<li><p class=\"quote\">");
        o_escz(o, s[i].text);
        if (s[i].cut) {
            o_s(o, "\xE2\x80\xA6");
        }
        o_s(o, "</p><div class=\"by\">");
        o_escz(o, s[i].author[0] ? s[i].author : "unknown author");
        if (s[i].followers > 0) {
            o_s(o, " \xC2\xB7 ");
            o_count(o, (double)s[i].followers);
            o_s(o, " followers");
        }
        if (s[i].reposts > 0) {
            o_s(o, " \xC2\xB7 ");
            o_count(o, (double)s[i].reposts);
            o_s(o, s[i].reposts == 1 ? " repost" : " reposts");
        }
        if (chartable(s[i].at_ms)) {
            char when[48];
            fmt_when(when, s[i].at_ms);
            o_s(o, " \xC2\xB7 ");
            o_s(o, when);
        }
        o_f(o, " \xC2\xB7 complaint %.2f", s[i].complaint);
        if (s[i].url[0]) {
            o_s(o, " \xC2\xB7 ");
            o_link(o, s[i].url, "open post");
        }
        o_s(o, "</div></li>\n");
    }
    o_s(o, "</ol></div>\n");
    free(s);
}

static void write_authors(writer *o, const struct detail *d)
{
    o_s(o, "<div><h3>Most-reached authors</h3>\n");
    if (d == NULL || d->n_authors == 0) {
        o_s(o, "<p class=\"note\">No authors known.</p></div>\n");
        return;
    }
    struct hitter s[AUTHOR_SLOTS];
    memcpy(s, d->authors, d->n_authors * sizeof s[0]);
    qsort(s, d->n_authors, sizeof s[0], hitter_cmp);
    size_t n = d->n_authors < SHOW_AUTHORS ? d->n_authors : SHOW_AUTHORS;
    bool approx = false;
    o_s(o, "<table class=\"authors\"><thead><tr><th>author</th><th class=\"num\">posts</th>"
           "<th class=\"num\">followers</th><th class=\"num\">est. reach</th>"
           "<th class=\"num\">complaints</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        o_s(o, "<tr><td>");
        o_link(o, s[i].url, s[i].key);
        o_s(o, "</td><td class=\"num\">");
        o_count(o, s[i].posts);
        o_s(o, "</td><td class=\"num\">");
        if (s[i].followers > 0) {
            o_count(o, (double)s[i].followers);
        } else {
            o_s(o, "\xE2\x80\x94");
        }
        o_s(o, "</td><td class=\"num\">");
        approx |= s[i].err > 0;
        o_count(o, s[i].count - s[i].err);
        o_f(o, "</td><td class=\"num\">%u</td></tr>\n", s[i].complaints);
    }
    o_s(o, "</tbody></table>\n");
    o_s(o, "<p class=\"note\">Reach: the author's followers for each post, plus 20 per "
           "repost.");
    if (approx) {
        o_f(o, " Authors are tracked in a %d-slot heavy-hitters table, so posts and reach "
               "count from when an author entered it and may be a little low.",
            AUTHOR_SLOTS);
    }
    o_s(o, "</p></div>\n");
}

static void write_cues(writer *o, const struct detail *d, uint64_t complaints)
{
    o_s(o, "<div><h3>Most frequent complaint cues</h3>\n");
    if (d == NULL || d->n_cues == 0) {
        o_s(o, "<p class=\"note\">No complaint cues matched.</p></div>\n");
        return;
    }
    struct hitter s[CUE_SLOTS];
    memcpy(s, d->cues, d->n_cues * sizeof s[0]);
    qsort(s, d->n_cues, sizeof s[0], hitter_cmp);
    size_t n = d->n_cues < SHOW_CUES ? d->n_cues : SHOW_CUES;
    o_s(o, "<table class=\"cues\"><thead><tr><th>cue</th><th class=\"num\">complaints</th>"
           "<th></th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        double share = complaints ? s[i].count / (double)complaints : 0;
        o_s(o, "<tr><td>\xE2\x80\x9C");
        o_escz(o, s[i].key);
        o_s(o, "\xE2\x80\x9D</td><td class=\"num\">");
        if (s[i].err > 0) {
            o_s(o, "\xE2\x89\xA4 ");
        }
        o_count(o, s[i].count);
        o_f(o, "</td><td style=\"width:40%%\"><span class=\"bar\" style=\"width:%.0f%%\">"
               "</span> %.0f%%</td></tr>\n",
            share * 100 > 100 ? 100 : share * 100, share * 100);
    }
    o_s(o, "</tbody></table></div>\n");
}

static void write_topic(writer *o, const es_report *r, size_t t, const struct axis *a)
{
    const struct topic_total *tt = &r->tt[t];
    double n = tt->n ? (double)tt->n : 1;
    o_f(o, "<section class=\"topic\" id=\"topic-%zu\" data-topic=\"", t);
    o_escz(o, topic_name(r, t));
    o_s(o, "\"><h2>");
    o_escz(o, topic_name(r, t));
    o_s(o, topic_competitor(r, t) ? "<span class=\"badge competitor\">competitor</span>"
                                  : "<span class=\"badge\">brand</span>");
    o_s(o, "</h2>\n<p class=\"stats\"><b>");
    o_count(o, (double)tt->n);
    o_s(o, "</b> mentions \xC2\xB7 <b>");
    o_count(o, (double)tt->complaints);
    o_f(o, "</b> complaints (%.0f%%) \xC2\xB7 %.0f%% negative, %.0f%% positive \xC2\xB7 "
           "average sentiment <b>%+.2f</b> \xC2\xB7 <b>",
        100.0 * (double)tt->complaints / n, 100.0 * (double)tt->neg / n,
        100.0 * (double)tt->pos / n, tt->compound / n);
    o_count(o, (double)tt->alerts);
    o_s(o, "</b> alerts</p>\n");

    /* What happened: the episodes and viral posts, in time order. */
    size_t listed = 0, more = 0;
    for (size_t i = 0; i < r->n_episodes; i++) {
        const struct kept_alert *k = &r->episodes[i];
        if (k->topic != (int32_t)t || k->resolved) {
            continue;
        }
        if (listed == 12) {
            more++;
            continue;
        }
        if (listed++ == 0) {
            o_s(o, "<ul class=\"events\">\n");
        }
        char when[48];
        fmt_when(when, k->at_ms);
        const struct kept_alert *end = resolution(r, k);
        o_f(o, "<li><b>%s</b> %s", when, kind_label(k->kind, k->fingerprint));
        if (end != NULL && k->kind != ES_ALERT_VIRAL_POST) {
            char hm[48];
            fmt_when(hm, end->at_ms);
            o_f(o, " (until %s)", hm);
        }
        o_s(o, ": ");
        o_escz(o, summary_body(r, k));
        if (k->cut) {
            o_s(o, "\xE2\x80\xA6");
        }
        o_s(o, "</li>\n");
    }
    if (listed > 0) {
        if (more > 0) {
            o_f(o, "<li>and %zu more in the <a href=\"#alerts\">alerts table</a></li>\n", more);
        }
        o_s(o, "</ul>\n");
    }

    if (a != NULL) {
        char wl[32];
        fmt_width(wl, r->w);
        o_f(o, "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#a9bfd8\"></i>"
               "mentions per %s</span><span><i class=\"sw\" style=\"background:#c0392b\"></i>"
               "complaints</span><span><i class=\"sw\" style=\"background:#f5d76e\"></i>"
               "volume spike</span><span><i class=\"sw\" style=\"background:#f6c5bf\"></i>"
               "negative surge</span><span>dashed lines: alerts (UTC)</span></p>\n",
            wl);
        write_volume_chart(o, r, t, a);
        char gl[32];
        fmt_width(gl, r->w * (int64_t)mood_group(r));
        o_f(o, "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#c0392b\"></i>"
               "complaints</span><span><i class=\"sw\" style=\"background:#e08e3c\"></i>"
               "negative</span><span><i class=\"sw\" style=\"background:#2e8b57\"></i>"
               "positive</span> share of mentions per %s (where there are at least %d)</p>\n",
            gl, MIN_SHARE_N);
        write_mood_chart(o, r, t, a);
    } else {
        o_s(o, "<p class=\"note\">No mention of this topic has a time, so there is no chart."
               "</p>\n");
    }
    o_s(o, "<div class=\"grid\">\n");
    write_top_complaints(o, tt->d);
    o_s(o, "<div>\n");
    write_authors(o, tt->d);
    write_cues(o, tt->d, tt->complaints);
    o_s(o, "</div>\n</div>\n</section>\n");
}

/* --- alerts --------------------------------------------------------------- */

static int calert_cmp(const void *a, const void *b)
{
    const struct kept_alert *x = a, *y = b;
    return calert_less(x, y) ? 1 : calert_less(y, x) ? -1 : 0;
}

static void alert_row(writer *o, const es_report *r, const struct kept_alert *k, const char *cls)
{
    char iso[32];
    es_time_format(k->at_ms, iso);
    o_f(o, "<tr class=\"%s\" data-kind=\"%s\" data-at=\"%s\" data-status=\"%s\">", cls,
        es_alert_kind_name((es_alert_kind)k->kind), iso, k->resolved ? "resolved" : "firing");
    char when[48];
    fmt_when(when, k->at_ms);
    o_f(o, "<td class=\"when\">%s</td><td class=\"kind\">%s</td><td>", when,
        kind_label(k->kind, k->fingerprint));
    o_pill(o, k->sev);
    o_f(o, "</td><td>%s</td><td>", k->resolved ? "resolved" : "firing");
    o_escz(o, k->topic >= 0 ? topic_name(r, (size_t)k->topic) : "\xE2\x80\x94");
    o_s(o, "</td><td>");
    o_escz(o, summary_body(r, k));
    if (k->cut) {
        o_s(o, "\xE2\x80\xA6");
    }
    if (k->url[0]) {
        o_s(o, " ");
        o_link(o, k->url, "\xE2\x86\x97 post");
    }
    o_s(o, "</td></tr>\n");
}

static void write_alerts(writer *o, const es_report *r)
{
    o_s(o, "<section id=\"alerts\"><h2>Alerts</h2>\n");
    uint64_t episodes = r->n_episodes + r->episodes_dropped;
    o_s(o, "<h3>Spikes, surges and viral posts</h3>\n");
    if (r->n_episodes == 0) {
        o_s(o, "<p class=\"note\">None detected.</p>\n");
    } else {
        o_s(o, "<table id=\"episode-alerts\"><thead><tr><th>time (UTC)</th><th>kind</th>"
               "<th>severity</th><th>status</th><th>topic</th><th>summary</th></tr></thead>"
               "<tbody>\n");
        for (size_t i = 0; i < r->n_episodes; i++) {
            alert_row(o, r, &r->episodes[i], "alert");
        }
        o_s(o, "</tbody></table>\n");
        if (r->episodes_dropped > 0) {
            o_s(o, "<p class=\"note\">The first ");
            o_count(o, (double)r->n_episodes);
            o_s(o, " of ");
            o_count(o, (double)episodes);
            o_s(o, " are listed; all are in the NDJSON output.</p>\n");
        }
    }
    const uint64_t *c = r->by_kind[ES_ALERT_COMPLAINT];
    uint64_t nc = c[ES_SEV_INFO] + c[ES_SEV_WARNING] + c[ES_SEV_CRITICAL];
    o_s(o, "<h3 id=\"complaint-alerts\">Complaints that need a person</h3>\n");
    if (nc == 0) {
        o_s(o, "<p class=\"note\">None.</p>\n");
    } else {
        struct kept_alert *s = malloc(r->n_calerts * sizeof *s);
        if (s == NULL) {
            o->rc = ES_ENOMEM;
            return;
        }
        memcpy(s, r->calerts, r->n_calerts * sizeof *s);
        qsort(s, r->n_calerts, sizeof *s, calert_cmp);
        o_s(o, "<p class=\"note\">");
        if (nc > r->n_calerts) {
            o_s(o, "The ");
            o_count(o, (double)r->n_calerts);
            o_s(o, " most urgent of ");
            o_count(o, (double)nc);
            o_s(o, " complaint alerts (most severe first, then earliest); all are in the "
                   "NDJSON output.");
        } else {
            o_s(o, "All ");
            o_count(o, (double)nc);
            o_s(o, " complaint alerts, most severe first, then earliest.");
        }
        o_s(o, "</p>\n<table id=\"complaint-alert-table\"><thead><tr><th>time (UTC)</th>"
               "<th>kind</th><th>severity</th><th>status</th><th>topic</th><th>summary</th>"
               "</tr></thead><tbody>\n");
        for (size_t i = 0; i < r->n_calerts; i++) {
            alert_row(o, r, &s[i], "complaint-alert");
        }
        o_s(o, "</tbody></table>\n");
        free(s);
    }
    o_s(o, "</section>\n");
}

int es_report_write_html(const es_report *r, FILE *f)
{
    writer o = {.f = f};
    es_buf_init(&o.b, (size_t)OUT_FLUSH * 4);
    size_t *order = calloc(r->n_topics ? r->n_topics : 1, sizeof *order);
    if (order == NULL) {
        return ES_ENOMEM;
    }
    topic_order(r, order);

    o_s(&o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            /* Belt and braces: even if some text escaped its escaping, the
             * page may load nothing and run nothing. */
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">\n<title>");
    o_escz(&o, r->title[0] ? r->title : "earshot report");
    o_s(&o, " \xE2\x80\x94 earshot backfill report</title>\n<style>\n");
    o_s(&o, CSS);
    o_s(&o, "</style>\n</head>\n<body>\n<main>\n<header><h1>");
    o_escz(&o, r->title[0] ? r->title : "earshot report");
    o_s(&o, "</h1>\n<p class=\"meta\">earshot backfill report \xC2\xB7 ");
    o_count(&o, (double)r->mentions);
    o_s(&o, " mentions");
    if (r->first_ms != ES_TIME_UNKNOWN) {
        char da[32], db[32], ha[16], hb[16];
        struct tm ta, tb;
        fmt_day(da, r->first_ms);
        fmt_day(db, r->last_ms);
        fmt_hm(ha, r->first_ms);
        fmt_hm(hb, r->last_ms);
        utc(r->first_ms, &ta);
        utc(r->last_ms, &tb);
        o_f(&o, " from %s %d %s to %s %d %s UTC", da, ta.tm_year + 1900, ha, db,
            tb.tm_year + 1900, hb);
    }
    o_s(&o, " \xC2\xB7 ");
    o_count(&o, (double)(r->mentions - r->unmatched));
    o_s(&o, " matched a topic \xC2\xB7 ");
    o_count(&o, (double)r->alerts);
    o_s(&o, " alerts \xC2\xB7 all times UTC</p></header>\n");

    write_headline(&o, r, order);

    struct axis ax, *a = NULL;
    if (r->axis_set) {
        ax.t0 = r->first * r->w;
        ax.t1 = (r->first + (int64_t)r->n) * r->w;
        a = &ax;
    }
    size_t detailed = r->n_topics < ES_REPORT_DETAIL_TOPICS ? r->n_topics
                                                            : ES_REPORT_DETAIL_TOPICS;
    if (detailed > 1) {
        o_s(&o, "<nav>");
        for (size_t i = 0; i < r->n_topics; i++) {
            if (order[i] < detailed) {
                o_f(&o, "<a href=\"#topic-%zu\">", order[i]);
                o_escz(&o, topic_name(r, order[i]));
                o_s(&o, "</a>\n");
            }
        }
        o_s(&o, "<a href=\"#alerts\">alerts</a></nav>\n");
    }
    if (r->n_topics > 1) {
        write_compare(&o, r, order, a);
    }
    for (size_t i = 0; i < r->n_topics; i++) {
        if (order[i] < detailed) {
            write_topic(&o, r, order[i], a);
        }
    }
    write_alerts(&o, r);
    o_f(&o, "<footer>Made by earshot %s from the mentions and alerts of one backfill run. "
            "Mentions can match several topics and then count in each. Sentiment is "
            "VADER's compound score (positive \xE2\x89\xA5 0.05, negative \xE2\x89\xA4 "
            "\xE2\x88\x92""0.05); a complaint is a mention the intent rules classify as one."
            "</footer>\n",
        es_version());
    o_s(&o, "</main>\n</body>\n</html>\n");
    o_flush(&o);
    es_buf_free(&o.b);
    free(order);
    if (o.rc == 0 && fflush(f) != 0) {
        o.rc = ES_EIO;
    }
    return o.rc == 0 && ferror(f) ? ES_EIO : o.rc;
}

int es_report_save(const es_report *r, const char *path, es_error *err)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (tmp == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        int rc = es_error_set(err, ES_EIO, 0, 0, "cannot write the report %s: %s", path,
                              strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = es_report_write_html(r, f);
    if (fclose(f) != 0 && rc == 0) {
        rc = ES_EIO;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = ES_EIO;
    }
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        es_error_set(err, rc, 0, 0, "cannot write the report %s: %s", path,
                     rc == ES_EIO ? strerror(e) : es_strerror(rc));
    }
    free(tmp);
    return rc;
}
