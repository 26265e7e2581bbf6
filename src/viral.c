/*
 * viral_post: one post spreading fast, a complaint from a large audience,
 * and coordinated campaigns (many near-identical posts from many authors).
 *
 * Memory is fixed at creation: a post table of `track` entries and a
 * cluster table of track/4 entries, both open-addressed with a short probe
 * and replace-the-oldest eviction, so a flood of new posts costs O(1) each
 * and never grows the heap.
 *
 * Near-identical text: the text is normalized (lower case; links, @names
 * and punctuation dropped), cut into overlapping word pairs, and summarized
 * by a 32-value MinHash signature. Similar texts share a signature band
 * with high probability (16 bands of 2 values: Jaccard 0.6 matches in
 * 99.9% of cases), and a candidate cluster is accepted when the fraction
 * of equal values, which estimates the Jaccard similarity, reaches
 * campaign_similarity. Authors per cluster are counted with a 1024-bit
 * linear-counting sketch.
 */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_N 32
#define BANDS 16
#define ROWS (SIG_N / BANDS)
#define PROBE 8
#define AUTHOR_BITS 1024
/* Campaigns that fired and have not resolved yet, checked on every call. */
#define MAX_LIVE 32
/* Words considered per text: a post is short; longer texts are cut. */
#define MAX_WORDS 128

typedef struct post {
    uint64_t key; /* 0 = empty */
    int64_t first_ms, last_ms;
    double reposts0, likes0; /* at the first sighting with counts */
    bool has_counts;
    bool fired;
} post;

typedef struct cluster {
    uint64_t gen; /* 0 = empty; matches band entries that point here */
    uint32_t sig[SIG_N];
    int64_t first_ms, last_ms;
    int64_t window_start;
    int64_t posts;
    uint64_t authors[AUTHOR_BITS / 64];
    int64_t cooldown_until;
    int64_t episode_ms;
    bool live; /* fired, not resolved */
    uint32_t tag; /* the caller's tag of the post that started the cluster */
    char id[ES_VIRAL_ID];
    char author[ES_VIRAL_ID];
    char text[ES_VIRAL_TEXT];
} cluster;

typedef struct band_entry {
    uint64_t key;
    uint32_t cluster;
    uint64_t gen;
} band_entry;

struct es_viral {
    es_viral_params p;
    post *posts;
    size_t post_mask;
    cluster *clusters;
    size_t n_clusters;
    size_t next_cluster;
    uint64_t gen;
    band_entry *bands;
    size_t band_mask;
    uint32_t live[MAX_LIVE];
    int n_live;
};

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    /* FNV-1a, then a final mix so nearby keys spread over the table. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

int es_viral_new(const es_detect_params *p, es_viral **out)
{
    es_viral *v = calloc(1, sizeof *v);
    if (v == NULL) {
        return ES_ENOMEM;
    }
    v->p = p->viral_post;
    size_t track = v->p.track > 16 ? (size_t)v->p.track : 16;
    size_t np = pow2_at_least(track);
    v->post_mask = np - 1;
    v->n_clusters = track / 4 < 64 ? 64 : track / 4;
    size_t nb = pow2_at_least(v->n_clusters * BANDS * 2);
    v->band_mask = nb - 1;
    v->posts = calloc(np, sizeof *v->posts);
    if (v->posts == NULL) {
        goto fail_posts;
    }
    v->clusters = calloc(v->n_clusters, sizeof *v->clusters);
    if (v->clusters == NULL) {
        goto fail_clusters;
    }
    v->bands = calloc(nb, sizeof *v->bands);
    if (v->bands == NULL) {
        goto fail_bands;
    }
    *out = v;
    return 0;

fail_bands:
    free(v->clusters);
fail_clusters:
    free(v->posts);
fail_posts:
    free(v);
    return ES_ENOMEM;
}

void es_viral_free(es_viral *v)
{
    if (v == NULL) {
        return;
    }
    free(v->bands);
    free(v->clusters);
    free(v->posts);
    free(v);
}

/* Copy a borrowed string into a fixed field, cut at a UTF-8 boundary. */
static void copy_cut(char *dst, size_t cap, es_str s)
{
    size_t n = s.ptr != NULL ? s.len : 0;
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

/* ------------------------------------------------------------------------ */
/* Posts: spread and reach                                                   */
/* ------------------------------------------------------------------------ */

/* Find or make the entry for key; evicts the stalest of the probe window. */
static post *post_slot(es_viral *v, uint64_t key, int64_t now, bool *is_new)
{
    size_t i = (size_t)key & v->post_mask;
    post *victim = NULL;
    bool victim_free = false;
    for (int k = 0; k < PROBE; k++) {
        post *e = &v->posts[(i + (size_t)k) & v->post_mask];
        if (e->key == key) {
            *is_new = false;
            return e;
        }
        bool free_slot = e->key == 0 || now - e->last_ms > v->p.track_ms;
        if (victim_free) {
            continue;
        }
        if (free_slot || victim == NULL || e->last_ms < victim->last_ms) {
            victim = e;
            victim_free = free_slot;
        }
    }
    memset(victim, 0, sizeof *victim);
    victim->key = key;
    victim->first_ms = now;
    victim->last_ms = now;
    *is_new = true;
    return victim;
}

static void post_event(const es_viral_input *in, es_viral_event *ev, es_viral_reason reason)
{
    memset(ev, 0, sizeof *ev);
    ev->reason = reason;
    ev->at_ms = in->created_ms;
    ev->episode_ms = in->created_ms;
    ev->tag = in->tag;
    copy_cut(ev->post_id, sizeof ev->post_id, in->id);
    copy_cut(ev->author, sizeof ev->author, in->author);
    copy_cut(ev->text, sizeof ev->text, in->text);
    ev->followers = in->followers;
    ev->reposts = in->reposts;
    ev->likes = in->likes;
}

static int observe_post(es_viral *v, const es_viral_input *in, es_viral_event *ev, int max_ev)
{
    int n = 0;
    if (in->id.ptr == NULL || in->id.len == 0) {
        return 0;
    }
    uint64_t key = hash_bytes(in->id.ptr, in->id.len, 0) | 1;
    bool is_new;
    post *e = post_slot(v, key, in->created_ms, &is_new);
    int64_t now = in->created_ms > e->last_ms ? in->created_ms : e->last_ms;
    bool counts = in->reposts >= 0 || in->likes >= 0;
    double r = in->reposts > 0 ? in->reposts : 0;
    double l = in->likes > 0 ? in->likes : 0;

    if (!e->fired && in->is_complaint && in->followers >= v->p.min_followers &&
        v->p.min_followers > 0 && n < max_ev) {
        post_event(in, &ev[n], ES_VIRAL_REACH);
        ev[n].severity = in->followers >= 10 * v->p.min_followers ? ES_SEV_CRITICAL
                                                                  : ES_SEV_WARNING;
        e->fired = true;
        n++;
    }
    if (counts && !e->has_counts) {
        e->has_counts = true;
        e->reposts0 = r;
        e->likes0 = l;
        e->first_ms = in->created_ms;
    } else if (counts && !e->fired && n < max_ev) {
        /* Growth since the first sighting: robust to many close sightings. */
        double gained = r - e->reposts0;
        double before = e->reposts0 + e->likes0;
        double after = r + l;
        int64_t elapsed = now - e->first_ms;
        double hours = (double)(elapsed > 60000 ? elapsed : 60000) / 3600000.0;
        double rate = (after - before) / hours;
        if (gained >= v->p.min_reposts && rate >= v->p.min_rate &&
            after >= v->p.growth * (before > 1 ? before : 1)) {
            post_event(in, &ev[n], ES_VIRAL_SPREAD);
            ev[n].at_ms = now;
            ev[n].episode_ms = e->first_ms;
            ev[n].reposts_before = e->reposts0;
            ev[n].likes_before = e->likes0;
            ev[n].elapsed_ms = elapsed;
            ev[n].rate_per_hour = rate;
            ev[n].severity = rate >= 10 * v->p.min_rate ? ES_SEV_CRITICAL : ES_SEV_WARNING;
            e->fired = true;
            n++;
        }
    }
    e->last_ms = now;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Campaigns                                                                 */
/* ------------------------------------------------------------------------ */

/* ASCII letters and digits, and every non-ASCII byte. The program never
 * sets a locale, so this is what isalnum() || ch >= 0x80 said, without a
 * library call per byte (tolower was one, on every byte of every text). */
static bool is_word_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch >= 0x80;
}

/* isspace() in the C locale. */
static bool is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Lower-case ASCII words of the text; links, @names, numbers-only tokens
 * and punctuation are dropped, so "@acme" variants and tracking links do
 * not hide copies. Non-ASCII bytes are kept as word characters. */
static int words_of(es_str text, uint64_t *out, int max)
{
    int n = 0;
    size_t i = 0;
    const char *s = text.ptr;
    size_t len = s != NULL ? text.len : 0;
    while (i < len && n < max) {
        while (i < len && !(is_word_byte((unsigned char)s[i]) ||
                            s[i] == '@' || s[i] == '#')) {
            i++;
        }
        size_t start = i;
        while (i < len && !is_space((unsigned char)s[i])) {
            i++;
        }
        size_t wl = i - start;
        if (wl == 0) {
            continue;
        }
        const char *w = s + start;
        if (w[0] == '@' || (wl > 4 && (strncmp(w, "http", 4) == 0 || strncmp(w, "www.", 4) == 0))) {
            continue;
        }
        char buf[64];
        size_t bl = 0;
        bool alpha = false;
        for (size_t k = 0; k < wl && bl < sizeof buf; k++) {
            unsigned char ch = (unsigned char)w[k];
            if (is_word_byte(ch)) {
                buf[bl++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
                alpha = alpha || !(ch >= '0' && ch <= '9');
            }
        }
        if (bl == 0 || !alpha) {
            continue;
        }
        out[n++] = hash_bytes(buf, bl, 7);
    }
    return n;
}

/* MinHash over word pairs (single words when the text has only one). */
static bool signature(es_str text, uint32_t sig[SIG_N])
{
    uint64_t w[MAX_WORDS];
    int n = words_of(text, w, MAX_WORDS);
    if (n < 3) {
        return false; /* too short to call two posts copies of each other */
    }
    for (int j = 0; j < SIG_N; j++) {
        sig[j] = UINT32_MAX;
    }
    /* One strong hash per shingle, then SIG_N cheap multiply-shift hashes
     * of it (odd multipliers fixed once): a full mixer per (shingle, j)
     * made this the costliest step of the whole pipeline. */
    static uint64_t mult[SIG_N];
    if (mult[0] == 0) {
        for (int j = 0; j < SIG_N; j++) {
            mult[j] = mix64(0x9e3779b97f4a7c15ULL * (uint64_t)(j + 1)) | 1;
        }
    }
    /* The minimum is taken without a branch: which of h and sig[j] is
     * smaller is a coin toss, and the mispredicted branch cost more than
     * the multiplications. */
    for (int i = 0; i + 1 < n; i++) {
        uint64_t sh = mix64(w[i] * 31 + w[i + 1]);
        for (int j = 0; j < SIG_N; j++) {
            uint32_t h = (uint32_t)((sh * mult[j]) >> 32);
            uint32_t m = sig[j];
            sig[j] = h < m ? h : m;
        }
    }
    return true;
}

static uint64_t band_key(const uint32_t sig[SIG_N], int b)
{
    uint64_t k = (uint64_t)b * 0x9e3779b97f4a7c15ULL;
    for (int r = 0; r < ROWS; r++) {
        k = mix64(k ^ sig[b * ROWS + r]);
    }
    return k | 1;
}

static double similarity(const uint32_t *a, const uint32_t *b)
{
    int eq = 0;
    for (int j = 0; j < SIG_N; j++) {
        eq += a[j] == b[j];
    }
    return (double)eq / SIG_N;
}

static void band_put(es_viral *v, uint64_t key, uint32_t ci, uint64_t gen)
{
    size_t i = (size_t)key & v->band_mask;
    band_entry *victim = NULL;
    for (int k = 0; k < PROBE; k++) {
        band_entry *e = &v->bands[(i + (size_t)k) & v->band_mask];
        bool dead = e->key == 0 || v->clusters[e->cluster].gen != e->gen;
        if (e->key == key && !dead) {
            return; /* the band already leads to a live cluster */
        }
        if (dead) {
            victim = e;
            break;
        }
    }
    if (victim == NULL) {
        victim = &v->bands[(i + (size_t)(key >> 60) % PROBE) & v->band_mask];
    }
    victim->key = key;
    victim->cluster = ci;
    victim->gen = gen;
}

/* The band keys of sig, with their table slots prefetched: the band table
 * of a busy topic is megabytes, each of the BANDS probes would otherwise
 * wait for memory in turn, and they were the costliest loads of the
 * pipeline. */
static void band_keys(const es_viral *v, const uint32_t sig[SIG_N], uint64_t keys[BANDS])
{
    for (int b = 0; b < BANDS; b++) {
        keys[b] = band_key(sig, b);
#if defined(__GNUC__)
        __builtin_prefetch(&v->bands[(size_t)keys[b] & v->band_mask]);
#endif
    }
}

static cluster *find_cluster(es_viral *v, const uint32_t sig[SIG_N], const uint64_t keys[BANDS],
                             uint32_t *ci)
{
    cluster *best = NULL;
    double best_sim = 0;
    /* Copies share most bands, so the same cluster turns up under many of
     * them: compare each cluster's signature once. */
    uint32_t seen[BANDS * PROBE];
    int n_seen = 0;
    for (int b = 0; b < BANDS; b++) {
        uint64_t key = keys[b];
        size_t i = (size_t)key & v->band_mask;
        for (int k = 0; k < PROBE; k++) {
            band_entry *e = &v->bands[(i + (size_t)k) & v->band_mask];
            if (e->key == 0) {
                break;
            }
            if (e->key != key) {
                continue;
            }
            cluster *c = &v->clusters[e->cluster];
            if (c->gen != e->gen) {
                continue;
            }
            int dup = 0;
            for (int q = 0; q < n_seen && !dup; q++) {
                dup = seen[q] == e->cluster;
            }
            if (dup) {
                continue;
            }
            seen[n_seen++] = e->cluster;
            double sim = similarity(sig, c->sig);
            if (sim >= v->p.campaign_similarity && sim > best_sim) {
                best = c;
                best_sim = sim;
                *ci = e->cluster;
            }
        }
    }
    return best;
}

static void author_add(cluster *c, es_str author)
{
    uint64_t h = author.ptr != NULL ? hash_bytes(author.ptr, author.len, 3) : 0;
    unsigned bit = (unsigned)(h % AUTHOR_BITS);
    c->authors[bit / 64] |= (uint64_t)1 << (bit % 64);
}

/* Linear counting: distinct authors from the fraction of bits still zero. */
static int64_t author_count(const cluster *c)
{
    int ones = 0;
    for (int i = 0; i < AUTHOR_BITS / 64; i++) {
        ones += __builtin_popcountll(c->authors[i]);
    }
    if (ones >= AUTHOR_BITS) {
        return AUTHOR_BITS * 8; /* saturated: "very many" */
    }
    double zero = (double)(AUTHOR_BITS - ones) / AUTHOR_BITS;
    return (int64_t)llround(-AUTHOR_BITS * log(zero));
}

static void campaign_event(const es_viral *v, const cluster *c, int64_t at, bool resolved,
                           es_viral_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->reason = ES_VIRAL_CAMPAIGN;
    ev->resolved = resolved;
    ev->at_ms = at;
    ev->episode_ms = c->episode_ms;
    snprintf(ev->post_id, sizeof ev->post_id, "%s", c->id);
    snprintf(ev->author, sizeof ev->author, "%s", c->author);
    snprintf(ev->text, sizeof ev->text, "%s", c->text);
    ev->posts = c->posts;
    ev->authors = author_count(c);
    ev->campaign_window_ms = v->p.campaign_window_ms;
    ev->cluster = ((uint64_t)c->sig[0] << 32) | c->sig[1];
    ev->tag = c->tag;
    ev->severity = ev->posts >= 5 * v->p.campaign_posts ? ES_SEV_CRITICAL : ES_SEV_WARNING;
}

/* End campaigns that have been quiet for a whole window. */
static int sweep_live(es_viral *v, int64_t now, es_viral_event *ev, int max_ev)
{
    int n = 0;
    for (int i = 0; i < v->n_live && n < max_ev;) {
        cluster *c = &v->clusters[v->live[i]];
        if (!c->live || now - c->last_ms >= v->p.campaign_window_ms) {
            if (c->live) {
                campaign_event(v, c, c->last_ms + v->p.campaign_window_ms, true, &ev[n++]);
                c->live = false;
            }
            v->live[i] = v->live[--v->n_live];
            continue;
        }
        i++;
    }
    return n;
}

static int observe_campaign(es_viral *v, const es_viral_input *in, es_viral_event *ev,
                            int max_ev)
{
    uint32_t sig[SIG_N];
    if (max_ev <= 0 || !signature(in->text, sig)) {
        return 0;
    }
    int64_t now = in->created_ms;
    uint32_t ci = 0;
    uint64_t keys[BANDS];
    band_keys(v, sig, keys);
    cluster *c = find_cluster(v, sig, keys, &ci);
    if (c == NULL) {
        /* A new cluster takes the next slot round-robin; whatever was there
         * is the oldest cluster, and its band entries die with its gen. */
        ci = (uint32_t)(v->next_cluster++ % v->n_clusters);
        c = &v->clusters[ci];
        if (c->live) {
            return 0; /* never evict a running campaign; skip this text */
        }
        memset(c, 0, sizeof *c);
        c->gen = ++v->gen;
        memcpy(c->sig, sig, sizeof sig);
        c->first_ms = c->window_start = now;
        c->cooldown_until = INT64_MIN;
        c->tag = in->tag;
        copy_cut(c->id, sizeof c->id, in->id);
        copy_cut(c->author, sizeof c->author, in->author);
        copy_cut(c->text, sizeof c->text, in->text);
        for (int b = 0; b < BANDS; b++) {
            band_put(v, keys[b], ci, c->gen);
        }
    }
    if (!c->live && now - c->window_start > v->p.campaign_window_ms) {
        /* The window ran out before the cluster got big: start a new one. */
        c->window_start = now;
        c->posts = 0;
        memset(c->authors, 0, sizeof c->authors);
        copy_cut(c->id, sizeof c->id, in->id);
        copy_cut(c->author, sizeof c->author, in->author);
        copy_cut(c->text, sizeof c->text, in->text);
    }
    c->posts++;
    author_add(c, in->author);
    c->last_ms = now > c->last_ms ? now : c->last_ms;
    if (!c->live && now >= c->cooldown_until && c->posts >= v->p.campaign_posts &&
        author_count(c) >= v->p.campaign_authors && v->n_live < MAX_LIVE) {
        c->live = true;
        c->episode_ms = c->window_start;
        c->cooldown_until = now + v->p.cooldown_ms;
        v->live[v->n_live++] = ci;
        campaign_event(v, c, now, false, ev);
        return 1;
    }
    return 0;
}

int es_viral_observe(es_viral *v, const es_viral_input *in, es_viral_event *ev, int max_ev)
{
    if (!v->p.enabled || max_ev <= 0) {
        return 0;
    }
    int n = sweep_live(v, in->created_ms, ev, max_ev);
    n += observe_post(v, in, ev + n, max_ev - n);
    n += observe_campaign(v, in, ev + n, max_ev - n);
    return n;
}

int es_viral_tick(es_viral *v, int64_t now_ms, es_viral_event *ev, int max_ev)
{
    return max_ev > 0 ? sweep_live(v, now_ms, ev, max_ev) : 0;
}

/* ------------------------------------------------------------------------ */
/* Alerts                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * The start of a post for a summary, which is one line: at most `max`
 * bytes, cut at a UTF-8 boundary, with "..." when something was left out,
 * and line breaks and tabs as spaces.
 */
static void quote_start(char *out, size_t cap, const char *text, size_t max)
{
    size_t n = strlen(text);
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    if (n + 4 > cap) {
        n = cap > 4 ? cap - 4 : 0;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
        cut = true;
    }
    if (cut) {
        /* At the end of a word when one ends near the cut ("a full
         * refund..." rather than "a full refun..."). */
        size_t w = n;
        while (w > 0 && n - w < 32 && text[w] != ' ' && text[w] != '\n' && text[w] != '\t') {
            w--;
        }
        if (w > 0 && n - w < 32) {
            n = w;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        out[i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void es_viral_to_alert(const es_viral_event *ev, const char *topic, es_detect_alert_text *t,
                       es_alert_mention *m, es_alert *a)
{
    const char *nm = topic != NULL ? topic : "topic";
    char f[32], win[48], el[48];
    es_buf b;
    es_buf_init(&b, sizeof t->details - 1);
    switch (ev->reason) {
    case ES_VIRAL_CAMPAIGN:
        snprintf(t->fingerprint, sizeof t->fingerprint, "%s/viral_post/campaign-%016llx", nm,
                 (unsigned long long)ev->cluster);
        es__detect_human_duration(ev->campaign_window_ms, win, sizeof win);
        if (ev->resolved) {
            snprintf(t->summary, sizeof t->summary,
                     "%s: the campaign of near-identical posts has gone quiet (%lld %s from "
                     "about %lld %s)",
                     nm, (long long)ev->posts, plural(ev->posts, "post", "posts"),
                     (long long)ev->authors, plural(ev->authors, "author", "authors"));
        } else {
            char q[128];
            quote_start(q, sizeof q, ev->text, 120);
            snprintf(t->summary, sizeof t->summary,
                     "%s: %lld near-identical %s from about %lld %s within %s, like \"%s\"", nm,
                     (long long)ev->posts, plural(ev->posts, "post", "posts"),
                     (long long)ev->authors, plural(ev->authors, "author", "authors"), win, q);
        }
        es_buf_printf(&b, "{\"reason\":\"campaign\",\"posts\":%lld,\"authors\":%lld,"
                          "\"window_seconds\":%lld}",
                      (long long)ev->posts, (long long)ev->authors,
                      (long long)(ev->campaign_window_ms / 1000));
        break;
    case ES_VIRAL_REACH:
        snprintf(t->fingerprint, sizeof t->fingerprint, "%s/viral_post/%s", nm, ev->post_id);
        es__detect_human_count(ev->followers, f, sizeof f);
        snprintf(t->summary, sizeof t->summary, "%s: complaint from %s, who has %s %s", nm,
                 ev->author[0] ? ev->author : "an author", f,
                 strcmp(f, "1") == 0 ? "follower" : "followers");
        es_buf_adds(&b, "{\"reason\":\"reach\",\"followers\":");
        es_buf_json_fixed(&b, ev->followers, 0);
        es_buf_addc(&b, '}');
        break;
    case ES_VIRAL_SPREAD:
        snprintf(t->fingerprint, sizeof t->fingerprint, "%s/viral_post/%s", nm, ev->post_id);
        es__detect_human_duration(ev->elapsed_ms, el, sizeof el);
        snprintf(t->summary, sizeof t->summary,
                 "%s: a post by %s is spreading fast: reposts %.0f -> %.0f and likes %.0f -> "
                 "%.0f in %s (%.0f per hour)",
                 nm, ev->author[0] ? ev->author : "an author", ev->reposts_before, ev->reposts,
                 ev->likes_before, ev->likes, el, ev->rate_per_hour);
        es_buf_adds(&b, "{\"reason\":\"spread\",\"reposts\":");
        es_buf_json_fixed(&b, ev->reposts, 0);
        es_buf_adds(&b, ",\"reposts_before\":");
        es_buf_json_fixed(&b, ev->reposts_before, 0);
        es_buf_adds(&b, ",\"likes\":");
        es_buf_json_fixed(&b, ev->likes, 0);
        es_buf_adds(&b, ",\"likes_before\":");
        es_buf_json_fixed(&b, ev->likes_before, 0);
        es_buf_printf(&b, ",\"elapsed_seconds\":%lld", (long long)(ev->elapsed_ms / 1000));
        es_buf_adds(&b, ",\"rate_per_hour\":");
        es_buf_json_fixed(&b, ev->rate_per_hour, 1);
        es_buf_adds(&b, ",\"followers\":");
        es_buf_json_fixed(&b, ev->followers >= 0 ? ev->followers : -1, 0);
        es_buf_addc(&b, '}');
        break;
    }
    snprintf(t->details, sizeof t->details, "%s", b.data != NULL ? b.data : "{}");
    es_buf_free(&b);

    memset(m, 0, sizeof *m);
    m->id = (es_str){ev->post_id, strlen(ev->post_id)};
    if (ev->author[0]) {
        m->author = (es_str){ev->author, strlen(ev->author)};
    }
    m->text = (es_str){ev->text, strlen(ev->text)};

    es__detect_alert_init(a, ES_ALERT_VIRAL_POST, ev->severity, ev->resolved, topic, ev->at_ms, t);
    a->mentions = m;
    a->n_mentions = ev->post_id[0] ? 1 : 0;
}
