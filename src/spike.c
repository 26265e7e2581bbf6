/*
 * volume_spike: event-time buckets against a learned seasonal baseline.
 * Also home of the detector option table (es_detect_params_*), because every
 * detector's parameters are one table and the volume detector is the one the
 * others build on.
 *
 * The model. The expected count of a bucket is
 *
 *     mu = level * hod[hour of day] * dow[day of week]      (UTC)
 *
 * where `level` is an EWMA of the deseasonalized counts and the factors are
 * EWMAs of count / (level * other factor). The noise around mu is
 * negative-binomial, Var = mu + phi * mu^2, with phi learned from the
 * residuals (and floored, because real mention streams are never as calm as
 * Poisson). A bucket's score is the signed root deviance of its count under
 * that model: about N for an N-sigma surprise, valid both at 0.1 and at
 * 10,000 mentions per bucket. A second score over a longer window (an hour
 * by default) catches rises too slow for any single bucket to stand out.
 *
 * Learning is winsorized: a bucket far above mu teaches the baseline only
 * as much as a 3-sigma bucket would, so an episode does not become the new
 * normal at once, but a lasting step up is absorbed over the level's
 * half-life and then resolves.
 *
 * Cost per bucket: a handful of multiplies, and two logarithms when the
 * count is above expectation. No allocation.
 */
#include "detect.h"
#include "timefmt.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MS_MIN 60000LL
#define MS_HOUR 3600000LL
#define MS_DAY 86400000LL

/* ------------------------------------------------------------------------ */
/* The option table                                                          */
/* ------------------------------------------------------------------------ */

struct opt_row {
    const char *name;
    es_detect_opt_type type;
    size_t off;
    double min, max;
    double def[3]; /* low, balanced, high */
    const char *help;
};

#define P(field) offsetof(es_detect_params, field)
#define SAME(v) {v, v, v}
#define NOMAX 1e15

static const struct opt_row opt_rows[] = {
    {"bucket", ES_DOPT_DURATION, P(bucket_ms), 1000, MS_DAY, SAME(5 * MS_MIN),
     "length of the event-time buckets that mentions are counted in"},
    {"sensitivity", ES_DOPT_PRESET, P(sensitivity), 0, 2, SAME(ES_SENS_BALANCED),
     "preset for every threshold not set explicitly: low, balanced or high"},
    {"complaint_threshold", ES_DOPT_NUMBER, P(complaint_threshold), 0, 1, {0.75, 0.6, 0.5},
     "complaint score at or above which a mention gets a complaint alert"},
    {"complaint_warning_followers", ES_DOPT_NUMBER, P(complaint_warning_followers), 0, NOMAX,
     {5000, 1000, 200}, "followers that make a complaint alert at least a warning"},
    {"complaint_critical_followers", ES_DOPT_NUMBER, P(complaint_critical_followers), 0, NOMAX,
     {250000, 100000, 20000}, "followers that make a complaint alert critical"},

    {"volume_spike.enabled", ES_DOPT_BOOL, P(volume_spike.enabled), 0, 1, SAME(1),
     "detect surges of mention volume"},
    {"volume_spike.threshold", ES_DOPT_NUMBER, P(volume_spike.threshold), 1, 100,
     {5, 4, 3.5}, "score (in sigmas of the learned noise) at which a spike starts"},
    {"volume_spike.confirm", ES_DOPT_NUMBER, P(volume_spike.confirm), 0, 100, {3, 2.5, 2},
     "score the next bucket must reach to confirm a spike seen in one bucket only"},
    {"volume_spike.resolve", ES_DOPT_NUMBER, P(volume_spike.resolve), 0, 100, SAME(2),
     "score below which the spike is considered over"},
    {"volume_spike.resolve_after", ES_DOPT_DURATION, P(volume_spike.resolve_ms), 0, 7 * MS_DAY,
     SAME(30 * MS_MIN), "how long the score must stay below resolve to end the spike"},
    {"volume_spike.min_count", ES_DOPT_NUMBER, P(volume_spike.min_count), 0, NOMAX, {10, 5, 3},
     "never fire on fewer mentions than this in a bucket (or window)"},
    {"volume_spike.min_ratio", ES_DOPT_NUMBER, P(volume_spike.min_ratio), 1, 1000,
     {3, 2, 1.5}, "never fire below this multiple of the expected count"},
    {"volume_spike.window", ES_DOPT_DURATION, P(volume_spike.window_ms), 0, 7 * MS_DAY,
     SAME(MS_HOUR), "a longer window for slow rises (at most 64 buckets; 0 = off)"},
    {"volume_spike.cooldown", ES_DOPT_DURATION, P(volume_spike.cooldown_ms), 0, 30 * MS_DAY,
     {24 * MS_HOUR, 24 * MS_HOUR, 12 * MS_HOUR}, "minimum time between the starts of two spikes"},
    {"volume_spike.learn", ES_DOPT_DURATION, P(volume_spike.learn_ms), MS_HOUR, 90 * MS_DAY,
     SAME(MS_DAY), "half-life of the baseline level"},
    {"volume_spike.warmup", ES_DOPT_DURATION, P(volume_spike.warmup_ms), 0, 90 * MS_DAY,
     SAME(MS_DAY), "no spike alerts before the baseline has seen this much of the stream"},

    {"negative_surge.enabled", ES_DOPT_BOOL, P(negative_surge.enabled), 0, 1, SAME(1),
     "detect surges of complaints and negative mentions"},
    {"negative_surge.threshold", ES_DOPT_NUMBER, P(negative_surge.threshold), 1, 100,
     {6.5, 5, 4}, "score at which a surge starts (by count or by share)"},
    {"negative_surge.resolve", ES_DOPT_NUMBER, P(negative_surge.resolve), 0, 100, SAME(2),
     "score below which the surge is considered over"},
    {"negative_surge.resolve_after", ES_DOPT_DURATION, P(negative_surge.resolve_ms), 0,
     7 * MS_DAY, SAME(30 * MS_MIN), "how long the score must stay below resolve"},
    {"negative_surge.min_count", ES_DOPT_NUMBER, P(negative_surge.min_count), 0, NOMAX,
     {15, 8, 5}, "negative mentions needed in the window to fire"},
    {"negative_surge.min_share", ES_DOPT_NUMBER, P(negative_surge.min_share), 0, 1,
     {0.5, 0.35, 0.25}, "share of negative mentions in the window needed to fire"},
    {"negative_surge.min_ratio", ES_DOPT_NUMBER, P(negative_surge.min_ratio), 1, 1000,
     {3, 2, 1.5}, "negatives, or their share, as a multiple of the usual"},
    {"negative_surge.window", ES_DOPT_DURATION, P(negative_surge.window_ms), 0, 7 * MS_DAY,
     SAME(MS_HOUR), "window over which negatives and shares are counted (at most 64 buckets)"},
    {"negative_surge.cooldown", ES_DOPT_DURATION, P(negative_surge.cooldown_ms), 0,
     30 * MS_DAY, SAME(6 * MS_HOUR), "minimum time between the starts of two surges"},
    {"negative_surge.learn", ES_DOPT_DURATION, P(negative_surge.learn_ms), MS_HOUR,
     90 * MS_DAY, SAME(3 * MS_DAY), "half-life of the usual negative level and share"},
    {"negative_surge.warmup", ES_DOPT_DURATION, P(negative_surge.warmup_ms), 0, 90 * MS_DAY,
     SAME(6 * MS_HOUR), "no surge alerts before this much of the stream was seen"},

    {"viral_post.enabled", ES_DOPT_BOOL, P(viral_post.enabled), 0, 1, SAME(1),
     "detect posts that spread fast, big-audience complaints and campaigns"},
    {"viral_post.min_followers", ES_DOPT_NUMBER, P(viral_post.min_followers), 0, NOMAX,
     {500000, 100000, 20000}, "a complaint from an author with this many followers is viral"},
    {"viral_post.min_reposts", ES_DOPT_NUMBER, P(viral_post.min_reposts), 0, NOMAX,
     {500, 100, 30}, "reposts a post must gain between two sightings to be viral"},
    {"viral_post.min_rate", ES_DOPT_NUMBER, P(viral_post.min_rate), 0, NOMAX,
     {1000, 200, 60}, "reposts + likes gained per hour needed to be viral"},
    {"viral_post.growth", ES_DOPT_NUMBER, P(viral_post.growth), 1, 1000, {3, 2, 1.5},
     "factor by which reposts + likes must have grown between sightings"},
    {"viral_post.track", ES_DOPT_INT, P(viral_post.track), 16, 10000000, SAME(16384),
     "posts remembered to compare sightings (a fixed-size table)"},
    {"viral_post.track_for", ES_DOPT_DURATION, P(viral_post.track_ms), MS_MIN, 30 * MS_DAY,
     SAME(2 * MS_DAY), "how long a post is remembered after its last sighting"},
    {"viral_post.campaign_posts", ES_DOPT_INT, P(viral_post.campaign_posts), 2, 1000000,
     {40, 20, 10}, "near-identical posts within the window that make a campaign"},
    {"viral_post.campaign_authors", ES_DOPT_INT, P(viral_post.campaign_authors), 2, 1000000,
     {30, 15, 8}, "distinct authors those posts must come from"},
    {"viral_post.campaign_window", ES_DOPT_DURATION, P(viral_post.campaign_window_ms), MS_MIN,
     7 * MS_DAY, SAME(15 * MS_MIN), "time within which the near-identical posts must appear"},
    {"viral_post.campaign_similarity", ES_DOPT_NUMBER, P(viral_post.campaign_similarity), 0.1,
     1, SAME(0.7), "estimated word-shingle Jaccard similarity for near-identical"},
    {"viral_post.cooldown", ES_DOPT_DURATION, P(viral_post.cooldown_ms), 0, 30 * MS_DAY,
     SAME(6 * MS_HOUR), "minimum time between two alerts for the same campaign"},
};

#undef P
#undef SAME

#define N_OPTS (sizeof opt_rows / sizeof opt_rows[0])

/* explicit_mask has one bit per row. */
_Static_assert(sizeof opt_rows / sizeof opt_rows[0] <= 64, "too many detector options");

static const char *const sens_names[] = {"low", "balanced", "high"};
static const char *const type_names[] = {"boolean", "number", "integer", "duration", "preset"};

const char *es_sensitivity_name(es_sensitivity s)
{
    return (unsigned)s < 3 ? sens_names[s] : "balanced";
}

static void *field(es_detect_params *p, const struct opt_row *r)
{
    return (char *)p + r->off;
}

static const void *cfield(const es_detect_params *p, const struct opt_row *r)
{
    return (const char *)p + r->off;
}

static void store(es_detect_params *p, const struct opt_row *r, double v)
{
    switch (r->type) {
    case ES_DOPT_BOOL:
        *(bool *)field(p, r) = v != 0;
        break;
    case ES_DOPT_NUMBER:
        *(double *)field(p, r) = v;
        break;
    case ES_DOPT_INT:
    case ES_DOPT_DURATION:
        *(int64_t *)field(p, r) = (int64_t)v;
        break;
    case ES_DOPT_PRESET:
        *(es_sensitivity *)field(p, r) = (es_sensitivity)(int)v;
        break;
    }
}

static double load(const es_detect_params *p, const struct opt_row *r)
{
    switch (r->type) {
    case ES_DOPT_BOOL:
        return *(const bool *)cfield(p, r) ? 1 : 0;
    case ES_DOPT_NUMBER:
        return *(const double *)cfield(p, r);
    case ES_DOPT_INT:
    case ES_DOPT_DURATION:
        return (double)*(const int64_t *)cfield(p, r);
    case ES_DOPT_PRESET:
        return (double)*(const es_sensitivity *)cfield(p, r);
    }
    return 0;
}

static void apply_preset(es_detect_params *p, es_sensitivity s)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opt_rows[i].type == ES_DOPT_PRESET || (p->explicit_mask >> i) & 1u) {
            continue;
        }
        store(p, &opt_rows[i], opt_rows[i].def[s]);
    }
    p->sensitivity = s;
}

void es_detect_params_defaults(es_detect_params *p)
{
    memset(p, 0, sizeof *p);
    apply_preset(p, ES_SENS_BALANCED);
}

static int preset_parse(const char *name)
{
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(name, sens_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int es_detect_params_preset(es_detect_params *p, const char *name)
{
    int s = name != NULL ? preset_parse(name) : -1;
    if (s < 0) {
        return ES_EINVAL;
    }
    apply_preset(p, (es_sensitivity)s);
    return 0;
}

/* "5m", "1h30m", "250ms", "0s": the shortest exact form, for messages and get. */
static void format_duration(int64_t ms, char *out, size_t n)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", MS_DAY}, {"h", MS_HOUR}, {"m", MS_MIN}, {"s", 1000}, {"ms", 1}};
    size_t used = 0;
    if (ms <= 0) {
        snprintf(out, n, "0s");
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int w = snprintf(out + used, used < n ? n - used : 0, "%lld%s",
                             (long long)(ms / units[i].ms), units[i].unit);
            used += w > 0 ? (size_t)w : 0;
            ms %= units[i].ms;
        }
    }
}

static void format_value(const struct opt_row *r, double v, char *out, size_t n)
{
    switch (r->type) {
    case ES_DOPT_BOOL:
        snprintf(out, n, "%s", v != 0 ? "true" : "false");
        break;
    case ES_DOPT_DURATION:
        format_duration((int64_t)v, out, n);
        break;
    case ES_DOPT_PRESET:
        snprintf(out, n, "%s", es_sensitivity_name((es_sensitivity)(int)v));
        break;
    case ES_DOPT_INT:
        snprintf(out, n, "%lld", (long long)v);
        break;
    case ES_DOPT_NUMBER:
        snprintf(out, n, "%.10g", v);
        break;
    }
}

static const struct opt_row *find_row(const char *path, size_t *idx)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strcmp(opt_rows[i].name, path) == 0) {
            *idx = i;
            return &opt_rows[i];
        }
    }
    return NULL;
}

/* Edit distance, capped: only used to suggest a key for a typo. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[96];
    if (la >= 95 || lb >= 95) {
        return 99;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            if (up + 1 < best) {
                best = up + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_key(const char *path, es_error *err)
{
    static const char *const sections[] = {"volume_spike", "negative_surge", "viral_post"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(path, sections[i]) == 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "detector option '%s' is a section: give %s.<key>, e.g. %s.enabled",
                                path, path, path);
        }
    }
    const char *best = NULL;
    size_t best_d = 3; /* suggest only close matches */
    for (size_t i = 0; i < N_OPTS; i++) {
        size_t d = edit_distance(path, opt_rows[i].name);
        if (d < best_d) {
            best_d = d;
            best = opt_rows[i].name;
        }
    }
    if (best != NULL) {
        return es_error_set(err, ES_ENOTFOUND, 0, 0,
                            "unknown detector option '%s' (did you mean '%s'?)", path, best);
    }
    return es_error_set(err, ES_ENOTFOUND, 0, 0, "unknown detector option '%s'", path);
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v)) {
        return -1;
    }
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    if (*end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, double *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int es_detect_params_set(es_detect_params *p, const char *path, const char *value,
                         es_error *err)
{
    size_t idx = 0;
    if (path == NULL || value == NULL) {
        return es_error_set(err, ES_EINVAL, 0, 0, "detector option without a name or value");
    }
    const struct opt_row *r = find_row(path, &idx);
    if (r == NULL) {
        return unknown_key(path, err);
    }
    double v = 0;
    char lo[32], hi[32];
    switch (r->type) {
    case ES_DOPT_PRESET: {
        int s = preset_parse(value);
        if (s < 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "%s must be low, balanced or high, not '%s'", r->name, value);
        }
        apply_preset(p, (es_sensitivity)s);
        return 0;
    }
    case ES_DOPT_BOOL:
        if (parse_bool(value, &v) != 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be true or false, not '%s'",
                                r->name, value);
        }
        break;
    case ES_DOPT_DURATION: {
        int64_t ms = 0;
        if (es_duration_parse(value, &ms) != 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "%s must be a duration such as 30s, 5m or 1h30m, not '%s'",
                                r->name, value);
        }
        v = (double)ms;
        if (v < r->min || v > r->max) {
            format_duration((int64_t)r->min, lo, sizeof lo);
            format_duration((int64_t)r->max, hi, sizeof hi);
            return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be between %s and %s", r->name,
                                lo, hi);
        }
        break;
    }
    case ES_DOPT_INT:
    case ES_DOPT_NUMBER:
        if (parse_number(value, &v) != 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be a number, not '%s'", r->name,
                                value);
        }
        if (r->type == ES_DOPT_INT && v != floor(v)) {
            return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be a whole number, not '%s'",
                                r->name, value);
        }
        if (v < r->min || v > r->max) {
            format_value(r, r->min, lo, sizeof lo);
            if (r->max >= NOMAX) {
                return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be at least %s", r->name,
                                    lo);
            }
            format_value(r, r->max, hi, sizeof hi);
            return es_error_set(err, ES_ECONFIG, 0, 0, "%s must be between %s and %s", r->name,
                                lo, hi);
        }
        break;
    }
    store(p, r, v);
    p->explicit_mask |= (uint64_t)1 << idx;
    return 0;
}

void es_detect_params_foreach_option(void (*fn)(const es_detect_option *opt, void *ud), void *ud)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt_row *r = &opt_rows[i];
        char def[48];
        format_value(r, r->def[ES_SENS_BALANCED], def, sizeof def);
        es_detect_option o = {
            .name = r->name,
            .type = r->type,
            .type_name = type_names[r->type],
            .def = def,
            .min = r->min,
            .max = r->max,
            .help = r->help,
        };
        fn(&o, ud);
    }
}

int es_detect_params_get(const es_detect_params *p, const char *path, char *out, size_t n)
{
    size_t idx;
    const struct opt_row *r = path != NULL ? find_row(path, &idx) : NULL;
    if (r == NULL || n == 0) {
        return ES_EINVAL;
    }
    format_value(r, load(p, r), out, n);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The baseline                                                              */
/* ------------------------------------------------------------------------ */

/*
 * The dispersion floor: even a perfectly regular topic varies by about 15%
 * from one bucket to the next beyond Poisson noise (news cycles, retweet
 * cascades), so phi never goes below 0.15^2. Without it a busy topic would
 * alert on every wobble.
 */
#define PHI_MIN 0.0225
#define PHI_MIN_WINDOW 0.0225
/* Season factors stay within these bounds, so no hour is ever "impossible". */
#define FACTOR_MIN 0.05
#define FACTOR_MAX 20.0
/* Winsorizing never clips a bucket to less than mu + this many mentions. */
#define LEARN_CAP_MIN 5.0
/* Pseudo-mentions added to both sides of a season factor's update: at
 * high volume they vanish, at a few mentions a day they keep the 24 + 7
 * factors near 1 instead of fitting noise. */
#define SEASON_PRIOR 1.0
/* An expected count is never taken as less than this. */
#define MU_MIN 1e-3

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void time_slots(int64_t t, int *hod, int *dow)
{
    int64_t days = floor_div(t, MS_DAY);
    int64_t in_day = t - days * MS_DAY;
    *hod = (int)(in_day / MS_HOUR);
    /* 1970-01-01 was a Thursday; 0 = Sunday. */
    *dow = (int)(((days % 7) + 7 + 4) % 7);
}

/* Per-bucket weight of an EWMA with the given half-life. */
static double ewma_weight(int64_t half_life_ms, int64_t bucket_ms)
{
    if (half_life_ms <= 0) {
        return 1.0;
    }
    double n = (double)half_life_ms / (double)bucket_ms;
    return 1.0 - exp(-M_LN2 / (n < 1 ? 1 : n));
}

static void baseline_init(es_baseline *b, int64_t learn_ms, int64_t bucket_ms)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 24; i++) {
        b->hod[i] = 1.0;
    }
    for (int i = 0; i < 7; i++) {
        b->dow[i] = 1.0;
    }
    b->hour_start = INT64_MAX - 2 * MS_HOUR; /* empty cache */
    b->a_level = ewma_weight(learn_ms, bucket_ms);
    /* Each hour-of-day slot is updated in 1/24 of the buckets; a half-life of
     * about four of its days lets the daily shape settle in a week. */
    b->a_season = ewma_weight(4 * MS_HOUR, bucket_ms);
    b->a_disp = ewma_weight(3 * MS_DAY, bucket_ms);
}

/* The slots of t, through the one-hour cache (buckets come in order, so
 * almost every call is a hit and costs two comparisons). */
static void slots_cached(es_baseline *b, int64_t t, int *h, int *d)
{
    if (t < b->hour_start || t >= b->hour_start + MS_HOUR) {
        time_slots(t, &b->hour_hod, &b->hour_dow);
        b->hour_start = floor_div(t, MS_HOUR) * MS_HOUR;
    }
    *h = b->hour_hod;
    *d = b->hour_dow;
}

static double expected_at(const es_baseline *b, int h, int d)
{
    double mu = b->level * b->hod[h] * b->dow[d];
    return mu < MU_MIN ? MU_MIN : mu;
}

static double baseline_expected(const es_baseline *b, int64_t t)
{
    int h, d;
    time_slots(t, &h, &d);
    double mu = b->level * b->hod[h] * b->dow[d];
    return mu < MU_MIN ? MU_MIN : mu;
}

static double phi_of(double num, double den, double floor_v)
{
    double phi = den > 0 ? num / den : floor_v;
    return phi < floor_v ? floor_v : phi;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * Signed root deviance of count c under NB(mean mu, Var = mu + phi mu^2),
 * upper side only (0 when c is not above mu). A half-count continuity
 * correction makes small counts behave like the exact tail.
 */
static double nb_score(double c, double mu, double phi)
{
    double x = c - 0.5;
    if (x <= mu) {
        return 0.0;
    }
    double k = 1.0 / phi;
    double d = x * log(x / mu) - (x + k) * log((x + k) / (mu + k));
    return d > 0 ? sqrt(2.0 * d) : 0.0;
}

/*
 * Learn from one bucket. `c` is already winsorized by the caller. The first
 * buckets use 1/n weights so the level and factors start from the data
 * instead of from zero.
 */
static void baseline_learn(es_baseline *b, int h, int d, double c)
{
    b->seen++;
    double n = (double)b->seen;
    /* (Written as products: this runs for every bucket and divisions are
     * the slow part of it.) */
    double a_l = n * b->a_level < 1 ? 1.0 / n : b->a_level;
    /* A slot has been updated about seen/24 (hour) or seen/(7*buckets per
     * day) (weekday) times; the same 1/n start applies per slot. */
    double a_h = n * b->a_season < 24 ? 24.0 / n : b->a_season;
    a_h = a_h > 1 ? 1 : a_h;
    double a_d = a_h / 7.0;

    double s = b->hod[h] * b->dow[d];
    b->level += a_l * (c / s - b->level);
    if (b->level > 0) {
        double r = (c + SEASON_PRIOR) / (b->level * b->dow[d] + SEASON_PRIOR);
        b->hod[h] = clampd(b->hod[h] + a_h * (r - b->hod[h]), FACTOR_MIN, FACTOR_MAX);
        r = (c + SEASON_PRIOR) / (b->level * b->hod[h] + SEASON_PRIOR);
        b->dow[d] = clampd(b->dow[d] + a_d * (r - b->dow[d]), FACTOR_MIN, FACTOR_MAX);
    }
}

/* Learn the excess variance of a statistic with mean mu from residual e. */
static void disp_learn(double *num, double *den, double a, double e, double mu)
{
    *num += a * ((e * e - mu) - *num);
    *den += a * (mu * mu - *den);
}

/* Keep the factors' means at 1 so the level stays a per-bucket mean. Run
 * once an hour: drift within an hour is negligible. */
static void baseline_normalize(es_baseline *b)
{
    double sh = 0, sd = 0;
    for (int i = 0; i < 24; i++) {
        sh += b->hod[i];
    }
    for (int i = 0; i < 7; i++) {
        sd += b->dow[i];
    }
    sh /= 24.0;
    sd /= 7.0;
    if (sh > 0 && sd > 0) {
        for (int i = 0; i < 24; i++) {
            b->hod[i] /= sh;
        }
        for (int i = 0; i < 7; i++) {
            b->dow[i] /= sd;
        }
        b->level *= sh * sd;
    }
}

/* ------------------------------------------------------------------------ */
/* The detector                                                              */
/* ------------------------------------------------------------------------ */

void es__spike_init_raw(es_spike *s, const es_spike_params *sp, int64_t bucket_ms)
{
    memset(s, 0, sizeof *s);
    s->p = *sp;
    s->bucket_ms = bucket_ms > 0 ? bucket_ms : 5 * MS_MIN;
    baseline_init(&s->base, sp->learn_ms, s->bucket_ms);
    int64_t w = sp->window_ms / s->bucket_ms;
    s->window_n = (int)(w < 1 ? 1 : (w > ES_SPIKE_RING ? ES_SPIKE_RING : w));
    s->next_ms = INT64_MIN;
    s->cooldown_until = INT64_MIN;
    s->pending_ms = INT64_MIN;
}

void es_spike_init(es_spike *s, const es_detect_params *p)
{
    es__spike_init_raw(s, &p->volume_spike, p->bucket_ms);
}

double es_spike_expected(const es_spike *s, int64_t t)
{
    return baseline_expected(&s->base, t);
}

static void ring_push(es_spike *s, double c, double mu)
{
    int out = (s->ring_pos - s->window_n + ES_SPIKE_RING) & (ES_SPIKE_RING - 1);
    s->sum_c += c - s->ring_c[out];
    s->sum_mu += mu - s->ring_mu[out];
    s->ring_c[s->ring_pos] = c;
    s->ring_mu[s->ring_pos] = mu;
    s->ring_pos = (s->ring_pos + 1) & (ES_SPIKE_RING - 1);
    /* Running sums drift by rounding; recompute them once per lap. */
    if (s->ring_pos == 0) {
        s->sum_c = s->sum_mu = 0;
        for (int i = 0; i < s->window_n; i++) {
            int j = (ES_SPIKE_RING - 1 - i);
            s->sum_c += s->ring_c[j];
            s->sum_mu += s->ring_mu[j];
        }
    }
}

static void fill_event(const es_spike *s, es_spike_event *ev, int64_t t, double c, double mu,
                       double score)
{
    memset(ev, 0, sizeof *ev);
    ev->at_ms = t;
    ev->episode_ms = s->episode_ms;
    ev->bucket_ms = s->bucket_ms;
    ev->count = c;
    ev->expected = mu;
    ev->score = score;
    ev->threshold = s->p.threshold;
    ev->window_count = s->sum_c;
    ev->window_expected = s->sum_mu;
    ev->window_ms = (int64_t)s->window_n * s->bucket_ms;
    ev->peak_count = s->peak_count;
    ev->peak_expected = s->peak_expected;
}

/*
 * One bucket through the detector. `quiet` suppresses a new episode (used
 * for buckets synthesized for a gap and after a resolve in the same call).
 * Returns 1 with ev filled on an episode edge.
 */
static void start_episode(es_spike *s, es_spike_event *ev, int64_t start, int64_t t, double c,
                          double mu, double score)
{
    s->active = true;
    s->episode_ms = start;
    s->last_hot_ms = t;
    s->cooldown_until = start + s->p.cooldown_ms;
    s->peak_count = c;
    s->peak_expected = mu;
    fill_event(s, ev, t, c, mu, score);
    ev->severity = (score >= 2 * s->p.threshold && c >= 5 * mu) ? ES_SEV_CRITICAL
                                                                : ES_SEV_WARNING;
    s->severity = ev->severity;
}

/*
 * One bucket through the detector. `quiet` suppresses a new episode (used
 * for buckets synthesized for a gap and after a resolve in the same call).
 * Returns 1 with ev filled on an episode edge.
 */
static int step(es_spike *s, int64_t t, double c, bool quiet, es_spike_event *ev)
{
    es_baseline *b = &s->base;
    int h, d;
    int64_t prev_hour_start = b->hour_start;
    slots_cached(b, t, &h, &d);
    double mu = expected_at(b, h, d);
    double phi = phi_of(b->d1_num, b->d1_den, PHI_MIN);
    double phiw = phi_of(b->dw_num, b->dw_den, PHI_MIN_WINDOW);
    ring_push(s, c, mu);
    bool was_pending = s->pending_ms == t - s->bucket_ms;
    /*
     * The scores cost two logarithms each, so they are computed only when
     * they can matter: during an episode, to confirm a pending burst, or
     * when the count already passes the cheap min_count / min_ratio gates.
     * Most buckets of a healthy stream skip both.
     */
    double z1 = 0, zw = 0;
    if (c >= 1 && (s->active || was_pending ||
                   (c >= s->p.min_count && c >= s->p.min_ratio * mu))) {
        z1 = nb_score(c, mu, phi);
    }
    if (s->window_n > 1 && (s->active || (s->sum_c >= s->p.min_count &&
                                          s->sum_c >= s->p.min_ratio * s->sum_mu))) {
        zw = nb_score(s->sum_c, s->sum_mu, phiw);
    }
    double score = z1 > zw ? z1 : zw;
    bool warm = t - s->first_ms >= s->p.warmup_ms;
    s->pending_ms = INT64_MIN;
    int fired = 0;

    if (s->active) {
        if (score >= s->p.resolve) {
            s->last_hot_ms = t;
        }
        if (c > s->peak_count) {
            s->peak_count = c;
            s->peak_expected = mu;
        }
        if (t - s->last_hot_ms >= s->p.resolve_ms && t > s->last_hot_ms) {
            s->active = false;
            fill_event(s, ev, t, c, mu, score);
            ev->resolved = true;
            ev->duration_ms = s->last_hot_ms + s->bucket_ms - s->episode_ms;
            ev->severity = s->severity;
            fired = 1;
        }
    } else if (s->p.enabled && !quiet && warm && t >= s->cooldown_until) {
        bool by_bucket = z1 >= s->p.threshold && c >= s->p.min_count &&
                         c >= s->p.min_ratio * mu;
        bool by_window = zw >= s->p.threshold && s->sum_c >= s->p.min_count &&
                         s->sum_c >= s->p.min_ratio * s->sum_mu;
        if (was_pending && z1 >= s->p.confirm) {
            /* The burst of the previous bucket went on: that was the start,
             * and its numbers are the ones that crossed the threshold. */
            start_episode(s, ev, t - s->bucket_ms, t, c, mu,
                          score > s->pending_score ? score : s->pending_score);
            if (s->pending_count > c) {
                ev->count = s->pending_count;
                ev->expected = s->pending_expected;
                s->peak_count = s->pending_count;
                s->peak_expected = s->pending_expected;
            }
            fired = 1;
        } else if (by_window) {
            start_episode(s, ev, t, t, c, mu, score);
            fired = 1;
        } else if (by_bucket) {
            /*
             * One extreme bucket alone is not yet an episode: mention streams
             * are full of single-bucket bursts (a bot, one retweet storm) that
             * are gone five minutes later. Wait one bucket for confirmation.
             */
            s->pending_ms = t;
            s->pending_score = score;
            s->pending_count = c;
            s->pending_expected = mu;
        }
    }

    /*
     * Winsorize what the baseline learns. The level learns at most a 3-sigma
     * bucket (and at least mu + LEARN_CAP_MIN, so a sparse topic learns its
     * few mentions), so an episode does not become the new normal at once.
     * The floor matters: clipping ordinary Poisson buckets of a sparse topic
     * would bias mu down, which clips more, and the baseline would collapse.
     * The dispersion learns residuals up to 6 sigma: a topic whose normal
     * life is bursty must earn a higher bar than a calm one. During the first
     * day everything is taken as is, since mu means little yet.
     */
    double learn_c = c;
    if (b->seen <= (int64_t)(MS_DAY / s->bucket_ms)) {
        double a_v = 1.0 / (double)(b->seen + 1);
        disp_learn(&b->d1_num, &b->d1_den, a_v > b->a_disp ? a_v : b->a_disp, c - mu, mu);
    } else {
        double var1 = mu + phi * mu * mu;
        double e1 = c - mu;
        /* Compare squares first: the square roots are needed only for the
         * rare bucket that is actually clipped. */
        if (e1 > LEARN_CAP_MIN && e1 * e1 > 9 * var1) {
            double sd1 = sqrt(var1);
            double cap = mu + (3 * sd1 > LEARN_CAP_MIN ? 3 * sd1 : LEARN_CAP_MIN);
            learn_c = c < cap ? c : cap;
            if (e1 * e1 > 36 * var1) {
                e1 = e1 > 0 ? 6 * sd1 : -6 * sd1;
            }
        }
        disp_learn(&b->d1_num, &b->d1_den, b->a_disp, e1, mu);
        /* The window's dispersion learns from calm windows only. */
        if (!s->active && s->window_n > 1) {
            double varw = s->sum_mu + phiw * s->sum_mu * s->sum_mu;
            double ew = s->sum_c - s->sum_mu;
            if (ew * ew > 16 * varw) {
                ew = ew > 0 ? 4 * sqrt(varw) : -4 * sqrt(varw);
            }
            disp_learn(&b->dw_num, &b->dw_den, b->a_disp, ew, s->sum_mu);
        }
    }
    baseline_learn(b, h, d, learn_c);
    if (b->hour_start != prev_hour_start) {
        baseline_normalize(b);
    }
    return fired;
}

/* Buckets of a gap longer than this are skipped in closed form. */
#define GAP_STEP_MAX 2048

int es_spike_observe(es_spike *s, int64_t bucket_start_ms, double count, es_spike_event *ev)
{
    int64_t t = bucket_start_ms;
    if (!(count >= 0) || !isfinite(count)) {
        count = 0;
    }
    if (s->next_ms == INT64_MIN) {
        s->first_ms = t;
        s->next_ms = t;
    }
    if (t < s->next_ms - s->bucket_ms / 2) {
        return 0; /* out of order or repeated: ignored */
    }
    int got = 0;
    /* Missing buckets are empty buckets. */
    int64_t missing = (t - s->next_ms) / s->bucket_ms;
    if (missing > GAP_STEP_MAX) {
        int64_t skip = missing - GAP_STEP_MAX;
        s->base.level *= pow(1.0 - s->base.a_level, (double)skip);
        s->base.seen += skip;
        s->next_ms += skip * s->bucket_ms;
        missing = GAP_STEP_MAX;
    }
    for (int64_t i = 0; i < missing; i++) {
        es_spike_event tmp;
        if (step(s, s->next_ms, 0, true, &tmp) && !got) {
            *ev = tmp;
            got = 1;
        }
        s->next_ms += s->bucket_ms;
    }
    int r = step(s, t, count, got != 0, got ? &(es_spike_event){0} : ev);
    s->next_ms = t + s->bucket_ms;
    return got || r;
}

/* ------------------------------------------------------------------------ */
/* Alerts                                                                    */
/* ------------------------------------------------------------------------ */

static const char *const weekday_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                            "Thursday", "Friday", "Saturday"};

void es__detect_human_duration(int64_t ms, char *out, size_t n)
{
    if (ms < MS_MIN) {
        snprintf(out, n, "%lld s", (long long)(ms / 1000));
    } else if (ms < MS_HOUR) {
        snprintf(out, n, "%lld min", (long long)(ms / MS_MIN));
    } else if (ms < 2 * MS_DAY) {
        long long h = (long long)(ms / MS_HOUR), m = (long long)((ms % MS_HOUR) / MS_MIN);
        if (m != 0) {
            snprintf(out, n, "%lld h %lld min", h, m);
        } else {
            snprintf(out, n, "%lld h", h);
        }
    } else {
        snprintf(out, n, "%.1f days", (double)ms / (double)MS_DAY);
    }
}

void es__detect_human_count(double v, char *out, size_t n)
{
    if (v < 9.95 && v != floor(v)) {
        snprintf(out, n, "%.1f", v);
    } else {
        snprintf(out, n, "%.0f", v);
    }
}

void es__detect_vs_usual(double count, double expected, char *out, size_t n)
{
    /* Below 0.05 the baseline prints as "0.0": say it in words. */
    if (!(expected >= 0.05)) {
        snprintf(out, n, " where there are usually none");
        return;
    }
    char mu[32];
    es__detect_human_count(expected, mu, sizeof mu);
    double r = count / expected;
    snprintf(out, n, r < 99.95 ? ", %.1fx the usual %s" : ", %.0fx the usual %s", r, mu);
}

void es__detect_fingerprint_time(int64_t ms, char out[32])
{
    es_time_format(ms, out);
    out[16] = '\0';
}

static void details_json(es_buf *b, const es_spike_event *ev)
{
    char ep[32];
    es_time_format(ev->episode_ms, ep);
    es_buf_adds(b, "{\"count\":");
    es_buf_json_fixed(b, ev->count, 1);
    es_buf_adds(b, ",\"expected\":");
    es_buf_json_fixed(b, ev->expected, 2);
    es_buf_adds(b, ",\"ratio\":");
    es_buf_json_fixed(b, ev->count / (ev->expected > 0 ? ev->expected : MU_MIN), 2);
    es_buf_adds(b, ",\"score\":");
    es_buf_json_fixed(b, ev->score, 2);
    es_buf_adds(b, ",\"threshold\":");
    es_buf_json_fixed(b, ev->threshold, 2);
    es_buf_printf(b, ",\"bucket_seconds\":%lld", (long long)(ev->bucket_ms / 1000));
    es_buf_adds(b, ",\"window_count\":");
    es_buf_json_fixed(b, ev->window_count, 1);
    es_buf_adds(b, ",\"window_expected\":");
    es_buf_json_fixed(b, ev->window_expected, 2);
    es_buf_printf(b, ",\"window_seconds\":%lld", (long long)(ev->window_ms / 1000));
    es_buf_adds(b, ",\"episode_start\":");
    es_buf_json_str(b, ep, strlen(ep));
    if (ev->resolved) {
        es_buf_adds(b, ",\"peak_count\":");
        es_buf_json_fixed(b, ev->peak_count, 1);
        es_buf_adds(b, ",\"peak_expected\":");
        es_buf_json_fixed(b, ev->peak_expected, 2);
        es_buf_printf(b, ",\"duration_seconds\":%lld", (long long)(ev->duration_ms / 1000));
    }
    es_buf_addc(b, '}');
}

void es_spike_to_alert(const es_spike_event *ev, const char *name, const char *topic,
                       es_detect_alert_text *t, es_alert *a)
{
    char ep[32], c[32], mu[32], dur[48], wdur[48];
    int h, d;
    const char *nm = name != NULL ? name : (topic != NULL ? topic : "series");
    es__detect_fingerprint_time(ev->episode_ms, ep);
    snprintf(t->fingerprint, sizeof t->fingerprint, "%s/volume_spike/%s", nm, ep);
    /* The time of week the numbers belong to: the episode's first bucket
     * (a confirmed burst reports that bucket's count). */
    int64_t when = ev->resolved ? ev->at_ms : ev->episode_ms;
    time_slots(when, &h, &d);
    int minute = (int)((when - floor_div(when, MS_HOUR) * MS_HOUR) / MS_MIN);

    if (ev->resolved) {
        es__detect_human_count(ev->peak_count, c, sizeof c);
        es__detect_human_duration(ev->duration_ms, dur, sizeof dur);
        es__detect_human_duration(ev->bucket_ms, wdur, sizeof wdur);
        char usual[64] = " where there are usually none";
        if (ev->peak_expected >= 0.05) {
            es__detect_human_count(ev->peak_expected, mu, sizeof mu);
            snprintf(usual, sizeof usual, " against the usual %s", mu);
        }
        snprintf(t->summary, sizeof t->summary,
                 "%s: mention volume back to normal after %s; the peak was %s %s in %s%s", nm,
                 dur, c, strcmp(c, "1") == 0 ? "mention" : "mentions", wdur, usual);
    } else {
        /* Say it with whichever window made the decision. */
        double cnt = ev->count, exp_ = ev->expected;
        int64_t span = ev->bucket_ms;
        double r1 = ev->count / (ev->expected > 0 ? ev->expected : MU_MIN);
        double rw = ev->window_count / (ev->window_expected > 0 ? ev->window_expected : MU_MIN);
        if (ev->window_ms > ev->bucket_ms && rw > 0 && r1 < rw) {
            cnt = ev->window_count;
            exp_ = ev->window_expected;
            span = ev->window_ms;
        }
        char vs[96];
        es__detect_human_count(cnt, c, sizeof c);
        es__detect_human_duration(span, dur, sizeof dur);
        es__detect_vs_usual(cnt, exp_, vs, sizeof vs);
        snprintf(t->summary, sizeof t->summary, "%s: %s %s in %s%s for a %s %02d:%02d", nm, c,
                 strcmp(c, "1") == 0 ? "mention" : "mentions", dur, vs, weekday_names[d], h,
                 minute);
    }

    es_buf b;
    es_buf_init(&b, sizeof t->details - 1);
    details_json(&b, ev);
    snprintf(t->details, sizeof t->details, "%s", b.data != NULL ? b.data : "{}");
    es_buf_free(&b);

    es__detect_alert_init(a, ES_ALERT_VOLUME_SPIKE, ev->severity, ev->resolved, topic, ev->at_ms,
                          t);
}

void es__detect_alert_init(es_alert *a, es_alert_kind kind, es_severity severity, bool resolved,
                           const char *topic, int64_t at_ms, const es_detect_alert_text *t)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->severity = severity;
    a->resolved = resolved;
    a->topic = topic;
    a->at_ms = at_ms;
    a->fingerprint = t->fingerprint;
    a->summary = t->summary;
    a->details_json = t->details;
}

/* ------------------------------------------------------------------------ */
/* Statistics shared with the other detectors                               */
/* ------------------------------------------------------------------------ */

double es__nb_score(double c, double mu, double phi)
{
    return nb_score(c, mu < MU_MIN ? MU_MIN : mu, phi);
}

double es__phi_of(double num, double den, double floor_v)
{
    return phi_of(num, den, floor_v);
}

void es__disp_learn(double *num, double *den, double a, double e, double mu)
{
    disp_learn(num, den, a, e, mu);
}

double es__ewma_weight(int64_t half_life_ms, int64_t bucket_ms)
{
    return ewma_weight(half_life_ms, bucket_ms);
}
