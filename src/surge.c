/*
 * negative_surge: more people than usual are unhappy.
 *
 * Two tests, either of which starts an episode:
 *
 *   - by count: the negatives (complaints or negative mentions) as a count
 *     series through the volume_spike detector itself, with the
 *     negative_surge parameters, so seasonality, bursts and tiny topics are
 *     handled the same way;
 *   - by share: over the window (an hour by default), negatives among all
 *     mentions against the usual share, scored as a count of negatives
 *     given the total with learned extra-binomial noise. This is the test
 *     that fires when total volume is flat and only its mood changes.
 *
 * Both need at least min_count negatives in the window. The share test also
 * needs the share to reach min_share and min_ratio times the usual share.
 * The usual share learns slowly, and four times slower during an episode,
 * so a surge does not become normal while it lasts.
 */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Below this the share's extra-binomial dispersion is not believed. */
#define SHARE_PHI_MIN 0.02

void es_surge_init(es_surge *s, const es_detect_params *p)
{
    memset(s, 0, sizeof *s);
    s->p = p->negative_surge;
    s->bucket_ms = p->bucket_ms > 0 ? p->bucket_ms : 300000;
    es_spike_params sp = {
        .enabled = s->p.enabled,
        .threshold = s->p.threshold,
        .confirm = p->volume_spike.confirm,
        .resolve = s->p.resolve,
        .resolve_ms = s->p.resolve_ms,
        .min_count = s->p.min_count,
        .min_ratio = s->p.min_ratio,
        .window_ms = s->p.window_ms,
        .cooldown_ms = s->p.cooldown_ms,
        .learn_ms = s->p.learn_ms,
        .warmup_ms = s->p.warmup_ms,
    };
    es__spike_init_raw(&s->count, &sp, s->bucket_ms);
    int64_t w = s->p.window_ms / s->bucket_ms;
    s->window_n = (int)(w < 1 ? 1 : (w > ES_SPIKE_RING ? ES_SPIKE_RING : w));
    s->a_share = es__ewma_weight(s->p.learn_ms, s->bucket_ms);
    s->next_ms = INT64_MIN;
    s->cooldown_until = INT64_MIN;
}

static void ring_push(es_surge *s, double t, double n)
{
    int out = (s->ring_pos - s->window_n + ES_SPIKE_RING) % ES_SPIKE_RING;
    s->sum_t += t - s->ring_t[out];
    s->sum_n += n - s->ring_n[out];
    s->ring_t[s->ring_pos] = t;
    s->ring_n[s->ring_pos] = n;
    s->ring_pos = (s->ring_pos + 1) % ES_SPIKE_RING;
    if (s->ring_pos == 0) { /* recompute once per lap against rounding drift */
        s->sum_t = s->sum_n = 0;
        for (int i = 0; i < s->window_n; i++) {
            s->sum_t += s->ring_t[ES_SPIKE_RING - 1 - i];
            s->sum_n += s->ring_n[ES_SPIKE_RING - 1 - i];
        }
    }
}

static double usual_share(const es_surge *s)
{
    return s->share_den > 0 ? s->share_num / s->share_den : 0;
}

static void fill(const es_surge *s, es_surge_event *ev, int64_t t, double score, bool by_share)
{
    memset(ev, 0, sizeof *ev);
    double p0 = usual_share(s);
    ev->at_ms = t;
    ev->episode_ms = s->episode_ms;
    ev->window_ms = (int64_t)s->window_n * s->bucket_ms;
    ev->total = s->sum_t;
    ev->negatives = s->sum_n;
    ev->by_share = by_share;
    ev->expected = by_share ? s->sum_t * p0 : s->count.sum_mu;
    ev->share = s->sum_t > 0 ? s->sum_n / s->sum_t : 0;
    ev->usual_share = p0;
    ev->score = score;
    ev->threshold = s->p.threshold;
    ev->peak_share = s->peak_share;
}

/* One bucket; `quiet` as in the volume detector. */
static int step(es_surge *s, int64_t t, double total, double neg, bool quiet, es_surge_event *ev)
{
    es_spike_event cev;
    int crc = es_spike_observe(&s->count, t, neg, &cev);
    bool count_fired = crc && !cev.resolved;
    ring_push(s, total, neg);
    s->seen++;

    double p0 = usual_share(s);
    double mu = s->sum_t * p0;
    double phi = es__phi_of(s->sd_num, s->sd_den, SHARE_PHI_MIN);
    double zs = p0 > 0 ? es__nb_score(s->sum_n, mu, phi) : 0;
    double share = s->sum_t > 0 ? s->sum_n / s->sum_t : 0;
    bool warm = t - s->first_ms >= s->p.warmup_ms && s->share_den > 0;
    int fired = 0;

    if (s->active) {
        if (zs >= s->p.resolve || s->count.active) {
            s->last_hot_ms = t;
        }
        if (share > s->peak_share) {
            s->peak_share = share;
        }
        if (t - s->last_hot_ms >= s->p.resolve_ms && t > s->last_hot_ms) {
            s->active = false;
            fill(s, ev, t, zs, s->active_by_share);
            ev->resolved = true;
            ev->duration_ms = s->last_hot_ms + s->bucket_ms - s->episode_ms;
            ev->severity = s->severity; /* the episode's, as volume_spike does */
            fired = 1;
        }
    } else if (s->p.enabled && !quiet && warm && t >= s->cooldown_until) {
        bool by_share = zs >= s->p.threshold && s->sum_n >= s->p.min_count &&
                        share >= s->p.min_share && share >= s->p.min_ratio * p0;
        if (by_share || count_fired) {
            s->active = true;
            s->active_by_share = by_share;
            s->episode_ms = t;
            s->last_hot_ms = t;
            s->cooldown_until = t + s->p.cooldown_ms;
            s->peak_share = share;
            double score = by_share ? zs : cev.score;
            fill(s, ev, t, score, by_share);
            ev->severity = (share >= 0.5 && score >= 2 * s->p.threshold) ? ES_SEV_CRITICAL
                                                                          : ES_SEV_WARNING;
            s->severity = ev->severity;
            fired = 1;
        }
    }

    /* The usual share: EWMAs of negatives and totals (their ratio is the
     * share weighted by volume, so quiet hours do not swing it). */
    double a = s->a_share;
    double first = 1.0 / (double)s->seen;
    a = first > a ? first : a;
    if (s->active) {
        a /= 4;
    }
    s->share_num += a * (neg - s->share_num);
    s->share_den += a * (total - s->share_den);
    if (!s->active && p0 > 0 && s->seen > s->window_n) {
        double sd = sqrt(mu + phi * mu * mu);
        double e = s->sum_n - mu;
        e = e < -4 * sd ? -4 * sd : (e > 4 * sd ? 4 * sd : e);
        es__disp_learn(&s->sd_num, &s->sd_den, s->a_share, e, mu);
    }
    return fired;
}

int es_surge_observe(es_surge *s, int64_t bucket_start_ms, double total, double negatives,
                     es_surge_event *ev)
{
    int64_t t = bucket_start_ms;
    if (!(total >= 0) || !isfinite(total)) {
        total = 0;
    }
    if (!(negatives >= 0) || !isfinite(negatives)) {
        negatives = 0;
    }
    if (negatives > total) {
        total = negatives;
    }
    if (s->next_ms == INT64_MIN) {
        s->first_ms = t;
        s->next_ms = t;
    }
    if (t < s->next_ms - s->bucket_ms / 2) {
        return 0;
    }
    int got = 0;
    int64_t missing = (t - s->next_ms) / s->bucket_ms;
    /* A long silence: the window is empty and the episode, if any, over.
     * The inner count detector skips its own gaps in closed form. */
    if (missing > ES_SPIKE_RING) {
        for (int i = 0; i < ES_SPIKE_RING; i++) {
            ring_push(s, 0, 0);
        }
        if (s->active) {
            fill(s, ev, s->next_ms, 0, s->active_by_share);
            ev->resolved = true;
            ev->duration_ms = s->last_hot_ms + s->bucket_ms - s->episode_ms;
            ev->severity = s->severity;
            s->active = false;
            got = 1;
        }
        missing = 0;
        s->next_ms = t;
    }
    for (int64_t i = 0; i < missing; i++) {
        es_surge_event tmp;
        if (step(s, s->next_ms, 0, 0, true, &tmp) && !got) {
            *ev = tmp;
            got = 1;
        }
        s->next_ms += s->bucket_ms;
    }
    es_surge_event tmp;
    int r = step(s, t, total, negatives, got != 0, got ? &tmp : ev);
    s->next_ms = t + s->bucket_ms;
    return got || r;
}

/* A share as a percentage that never reads "0%" for a share that is not
 * zero: "35%", "4.2%", "under 0.1%". */
static void human_pct(double share, char *out, size_t n)
{
    double v = 100 * share;
    if (!(v > 0)) {
        snprintf(out, n, "0%%");
    } else if (v >= 9.95) {
        snprintf(out, n, "%.0f%%", v);
    } else if (v >= 0.05) {
        snprintf(out, n, "%.1f%%", v);
    } else {
        snprintf(out, n, "under 0.1%%");
    }
}

void es_surge_to_alert(const es_surge_event *ev, const char *topic, es_detect_alert_text *t,
                       es_alert *a)
{
    char ep[32], win[48], dur[48], n[32], pct[32], usual[32];
    const char *nm = topic != NULL ? topic : "topic";
    es__detect_fingerprint_time(ev->episode_ms, ep);
    snprintf(t->fingerprint, sizeof t->fingerprint, "%s/negative_surge/%s", nm, ep);
    es__detect_human_duration(ev->window_ms, win, sizeof win);
    es__detect_human_count(ev->negatives, n, sizeof n);
    human_pct(ev->usual_share, usual, sizeof usual);
    bool one = strcmp(n, "1") == 0;
    if (ev->resolved) {
        es__detect_human_duration(ev->duration_ms, dur, sizeof dur);
        human_pct(ev->peak_share, pct, sizeof pct);
        char against[64] = " where there are usually none";
        if (ev->usual_share > 0) {
            snprintf(against, sizeof against, " against the usual %s", usual);
        }
        snprintf(t->summary, sizeof t->summary,
                 "%s: complaints and negative mentions back to normal after %s; their share "
                 "peaked at %s%s",
                 nm, dur, pct, against);
    } else if (ev->by_share) {
        char tot[32];
        es__detect_human_count(ev->total, tot, sizeof tot);
        human_pct(ev->share, pct, sizeof pct);
        snprintf(t->summary, sizeof t->summary,
                 "%s: %s of %s %s (%s) in the last %s %s or negative, against the usual %s",
                 nm, n, tot, strcmp(tot, "1") == 0 ? "mention" : "mentions", pct, win,
                 one ? "was a complaint" : "were complaints", usual);
    } else {
        char vs[96];
        es__detect_vs_usual(ev->negatives, ev->expected, vs, sizeof vs);
        human_pct(ev->share, pct, sizeof pct);
        snprintf(t->summary, sizeof t->summary,
                 "%s: %s %s in the last %s%s (%s of all mentions, usually %s)", nm, n,
                 one ? "complaint or negative mention" : "complaints or negative mentions", win,
                 vs, pct, ev->usual_share > 0 ? usual : "none");
    }
    es_buf b;
    es_buf_init(&b, sizeof t->details - 1);
    es_buf_adds(&b, "{\"test\":");
    es_buf_adds(&b, ev->by_share ? "\"share\"" : "\"count\"");
    es_buf_adds(&b, ",\"negatives\":");
    es_buf_json_fixed(&b, ev->negatives, 1);
    es_buf_adds(&b, ",\"total\":");
    es_buf_json_fixed(&b, ev->total, 1);
    es_buf_adds(&b, ",\"expected\":");
    es_buf_json_fixed(&b, ev->expected, 2);
    es_buf_adds(&b, ",\"share\":");
    es_buf_json_fixed(&b, ev->share, 4);
    es_buf_adds(&b, ",\"usual_share\":");
    es_buf_json_fixed(&b, ev->usual_share, 4);
    es_buf_adds(&b, ",\"score\":");
    es_buf_json_fixed(&b, ev->score, 2);
    es_buf_adds(&b, ",\"threshold\":");
    es_buf_json_fixed(&b, ev->threshold, 2);
    es_buf_printf(&b, ",\"window_seconds\":%lld", (long long)(ev->window_ms / 1000));
    if (ev->resolved) {
        es_buf_adds(&b, ",\"peak_share\":");
        es_buf_json_fixed(&b, ev->peak_share, 4);
        es_buf_printf(&b, ",\"duration_seconds\":%lld", (long long)(ev->duration_ms / 1000));
    }
    es_buf_addc(&b, '}');
    snprintf(t->details, sizeof t->details, "%s", b.data != NULL ? b.data : "{}");
    es_buf_free(&b);

    es__detect_alert_init(a, ES_ALERT_NEGATIVE_SURGE, ev->severity, ev->resolved, topic, ev->at_ms,
                          t);
}
