/*
 * The router: alerts in, grouped notifications out, in event time.
 *
 * Each alert is matched against the tree (route_conf.c) the way
 * Alertmanager does it: depth first, the first matching child wins unless
 * it says `continue`, and a node none of whose children match takes the
 * alert itself. On the node it lands on, its group_by label values name a
 * GROUP. A group's first notification goes out group_wait after it opened;
 * changes (new alerts, status changes) go out no sooner than group_interval
 * after the last notification; an unchanged group that still fires is sent
 * again after repeat_interval.
 *
 * Two kinds of alert live in groups. Conditions (volume_spike,
 * negative_surge, viral_post, feed_stalled) fire and later resolve; a group
 * whose conditions have all resolved says so once and closes. Events
 * (complaint) never resolve; a group of events closes quietly once no alert
 * has joined it for resolve_timeout. So a wave of 300 complaints is one
 * group: one notification with the count and the worst examples, then
 * updates while it grows, then silence.
 *
 * Inhibition folds a target alert (by default: a complaint) into the groups
 * of a firing source alert (a volume_spike or negative_surge of the same
 * topic): it is counted there and may be shown as an example, but never
 * sent on its own.
 *
 * Scheduling is a min-heap of groups by their next due time, so pushing an
 * alert or advancing time costs O(log groups), not a scan.
 */
#include "log.h"
#include "route_int.h"
#include "timefmt.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ceilings: alerts kept per group (beyond it they are only counted), open
 * groups, and firing inhibition sources. */
#define MAX_MEMBERS 100000
#define MAX_GROUPS 100000
#define MAX_SOURCES 10000
/* Mention text kept per quoted mention; the alert JSON prints 1,000 bytes. */
#define MAX_TEXT 4096
#define MAX_MENTIONS 10
/* Rows in route_waiting (alerts waiting in a group, per group): past it a
 * grouped alert waits in memory only, with a warning, so a runaway stream
 * cannot grow the state file without bound. */
#define MAX_WAITING 100000

#define COMP "route"

/* ---- Alerts, copied ------------------------------------------------------------ */

typedef struct ralert {
    es_alert a;
    const char *labels[ES_RL_COUNT];
    double complaint; /* details.complaint, -1 if none */
    int64_t followers; /* details.followers, -1 if none */
    uint64_t fp_hash;
    bool stateful;
    bool folded;
    bool alone;    /* went alone to the every-alert receivers when pushed */
    bool restored; /* taken back from the state file (route_waiting) */
    int refs;
} ralert;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV0 0xcbf29ce484222325ULL

static size_t slen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* Cut at most max bytes of s at a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

static double detail_num(const char *json, const char *key, double def)
{
    if (json == NULL) {
        return def;
    }
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        return def;
    }
    char *end = NULL;
    double v = strtod(p + strlen(pat), &end);
    return end != p + strlen(pat) ? v : def;
}

typedef struct arena {
    char *p;
} arena;

static const char *put(arena *ar, const char *s, size_t n)
{
    if (s == NULL) {
        return NULL;
    }
    char *d = ar->p;
    memcpy(d, s, n);
    d[n] = '\0';
    ar->p += n + 1;
    return d;
}

/*
 * One allocation per alert: the struct, its quoted mentions and every
 * string, so a copy is freed with one free() and a wave costs one malloc
 * per alert, not one per string.
 */
static ralert *copy_alert(const es_alert *a, const es_label *extra, size_t n_extra)
{
    const char *fp = a->fingerprint != NULL ? a->fingerprint : "";
    size_t nm = a->n_mentions < MAX_MENTIONS ? a->n_mentions : MAX_MENTIONS;
    const char *ex[ES_RL_COUNT] = {0};
    for (size_t i = 0; i < n_extra; i++) {
        if (extra[i].key == NULL || extra[i].value == NULL) {
            continue;
        }
        int l = es_route_label_find(extra[i].key, strlen(extra[i].key));
        if (l >= 0) {
            ex[l] = extra[i].value;
        }
    }
    size_t need = sizeof(ralert) + nm * sizeof(es_alert_mention);
    need += slen(a->topic) + slen(a->series) + slen(a->feed) + slen(a->at_text) + strlen(fp) +
            slen(a->summary) + slen(a->details_json) + 7;
    for (size_t i = 0; i < ES_RL_COUNT; i++) {
        need += slen(ex[i]) + 1;
    }
    for (size_t i = 0; i < nm; i++) {
        const es_alert_mention *m = &a->mentions[i];
        need += m->id.len + m->author.len + utf8_cut(m->text.ptr, m->text.len, MAX_TEXT) +
                m->url.len + 5;
    }
    ralert *r = malloc(need);
    if (r == NULL) {
        return NULL;
    }
    memset(r, 0, sizeof *r);
    es_alert_mention *ms = (es_alert_mention *)(r + 1);
    arena ar = {(char *)(ms + nm)};
    r->a = *a;
    r->a.topic = put(&ar, a->topic, slen(a->topic));
    r->a.series = put(&ar, a->series, slen(a->series));
    r->a.feed = put(&ar, a->feed, slen(a->feed));
    r->a.at_text = put(&ar, a->at_text, slen(a->at_text));
    r->a.fingerprint = put(&ar, fp, strlen(fp));
    r->a.summary = put(&ar, a->summary, slen(a->summary));
    r->a.details_json = put(&ar, a->details_json, slen(a->details_json));
    const char *author = "";
    for (size_t i = 0; i < nm; i++) {
        const es_alert_mention *m = &a->mentions[i];
        size_t tl = utf8_cut(m->text.ptr, m->text.len, MAX_TEXT);
        ms[i].id = (es_str){put(&ar, m->id.ptr != NULL ? m->id.ptr : "", m->id.len), m->id.len};
        ms[i].author = (es_str){put(&ar, m->author.ptr != NULL ? m->author.ptr : "",
                                    m->author.len),
                                m->author.len};
        ms[i].text = (es_str){put(&ar, m->text.ptr != NULL ? m->text.ptr : "", tl), tl};
        ms[i].url = (es_str){put(&ar, m->url.ptr != NULL ? m->url.ptr : "", m->url.len),
                             m->url.len};
        if (i == 0) {
            author = ms[0].author.ptr;
        }
    }
    r->a.mentions = ms;
    r->a.n_mentions = nm;
    r->labels[ES_RL_TOPIC] = r->a.topic != NULL ? r->a.topic : "";
    r->labels[ES_RL_KIND] = es_alert_kind_name(a->kind);
    r->labels[ES_RL_SEVERITY] = es_severity_name(a->severity);
    r->labels[ES_RL_STATUS] = a->resolved ? "resolved" : "firing";
    r->labels[ES_RL_FINGERPRINT] = r->a.fingerprint;
    r->labels[ES_RL_FEED] = r->a.feed != NULL ? r->a.feed : "";
    /* A leading '@' is dropped so "@jdoe" on one platform and "jdoe" on
     * another group as the same person. */
    r->labels[ES_RL_AUTHOR] = author[0] == '@' ? author + 1 : author;
    r->labels[ES_RL_SOURCE] = "";
    r->labels[ES_RL_INTENT] = "";
    r->labels[ES_RL_COMPETITOR] = "";
    for (size_t i = 0; i < ES_RL_COUNT; i++) {
        if (ex[i] != NULL) {
            r->labels[i] = put(&ar, ex[i], strlen(ex[i]));
        }
    }
    r->fp_hash = fnv(FNV0, fp, strlen(fp));
    r->stateful = a->kind != ES_ALERT_COMPLAINT;
    r->complaint = detail_num(a->details_json, "complaint", -1);
    r->followers = (int64_t)detail_num(a->details_json, "followers", -1);
    r->refs = 1;
    return r;
}

static void unref(ralert *r)
{
    if (r != NULL && --r->refs == 0) {
        free(r);
    }
}

/* Worst first: the wave itself (a condition) before its events, then by
 * severity, complaint score, reach, and time, so the examples a person
 * sees are the ones most worth reading, in a stable order. */
static int rank_cmp(const void *x, const void *y)
{
    const ralert *a = *(ralert *const *)x, *b = *(ralert *const *)y;
    if (a->stateful != b->stateful) {
        return a->stateful ? -1 : 1;
    }
    if (a->a.severity != b->a.severity) {
        return a->a.severity > b->a.severity ? -1 : 1;
    }
    if (a->complaint != b->complaint) {
        return a->complaint > b->complaint ? -1 : 1;
    }
    if (a->followers != b->followers) {
        return a->followers > b->followers ? -1 : 1;
    }
    if (a->a.at_ms != b->a.at_ms) {
        return a->a.at_ms < b->a.at_ms ? -1 : 1;
    }
    return strcmp(a->a.fingerprint, b->a.fingerprint);
}

/* ---- Groups ------------------------------------------------------------------- */

typedef struct rgroup {
    struct rgroup *next_in_bucket;
    const es_rnode *route;
    uint64_t hash;
    char *key;
    es_label labels[ES_RL_COUNT];
    size_t n_labels;
    ralert **m;
    /* Per member: its route_waiting row while it waits for the group's next
     * notification (-1: waiting, in memory only), 0 once notified. */
    int64_t *row;
    size_t n, cap;
    uint32_t *ix; /* open addressing: member index + 1, 0 = empty */
    size_t ixcap;
    size_t overflow; /* alerts counted beyond MAX_MEMBERS */
    int64_t next_ms, last_sent_ms, last_alert_ms;
    int64_t opened_ms;
    bool sent, dirty;
    size_t hpos;
    uint64_t seq; /* creation order: breaks ties between groups due together */
} rgroup;

/* A firing inhibition source, with the hash of its `equal` label values
 * per rule, so a complaint is compared with the sources of its own topic
 * by one integer first, not by strings and regexes against every wave. */
#define HASHED_RULES 8
typedef struct src_entry {
    ralert *a;
    uint64_t eq[HASHED_RULES];
} src_entry;

struct es_router {
    const es_route_conf *rc;
    es_route_db *db;
    bool own_db;
    es_escalator *esc;
    es_route_emit_fn emit;
    void *ud;
    es_route_all_fn wants_all; /* receivers that get every alert, not examples */
    void *wants_all_ud;
    rgroup **buckets;
    size_t nbuckets, ngroups;
    rgroup **heap;
    size_t nheap, capheap;
    src_entry *src;
    size_t nsrc, capsrc;
    const es_rnode **matched;
    size_t nmatched, capmatched;
    es_buf key;
    es_buf nkey;
    ralert **sort;
    size_t capsort;
    es_alert *alerts;
    const char *const **vals;
    size_t capalerts;
    es_alert *fresh; /* the alerts every-alert receivers have not had */
    size_t capfresh;
    es_router_stats st;
    uint64_t seq;
    /* Waiting members kept in the state database (route_waiting), on the
     * caller's connection so the rows commit in the caller's batch with
     * the notifications that end them. NULL without a database. */
    sqlite3 *sql;
    sqlite3_stmt *st_ins, *st_del;
    es_buf wbuf;
    size_t nwaiting, cap_waiting;
    bool cap_warned, db_warned;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        nc *= 2;
    }
    void *np = realloc(*p, nc * elem);
    if (np == NULL) {
        return ES_ENOMEM;
    }
    *p = np;
    *cap = nc;
    return 0;
}

/* -- the heap of groups by next_ms -- */

static void heap_swap(es_router *r, size_t i, size_t j)
{
    rgroup *t = r->heap[i];
    r->heap[i] = r->heap[j];
    r->heap[j] = t;
    r->heap[i]->hpos = i;
    r->heap[j]->hpos = j;
}

/* Earlier due time first; among groups due together, the older first, so
 * the order of notifications never depends on the heap's shape. */
static bool before(const rgroup *a, const rgroup *b)
{
    return a->next_ms < b->next_ms || (a->next_ms == b->next_ms && a->seq < b->seq);
}

static void heap_fix(es_router *r, size_t i)
{
    while (i > 0 && before(r->heap[i], r->heap[(i - 1) / 2])) {
        heap_swap(r, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < r->nheap && before(r->heap[l], r->heap[s])) {
            s = l;
        }
        if (l + 1 < r->nheap && before(r->heap[l + 1], r->heap[s])) {
            s = l + 1;
        }
        if (s == i) {
            break;
        }
        heap_swap(r, i, s);
        i = s;
    }
}

static void set_next(es_router *r, rgroup *g, int64_t t)
{
    g->next_ms = t;
    heap_fix(r, g->hpos);
}

static void heap_remove(es_router *r, rgroup *g)
{
    size_t i = g->hpos;
    r->nheap--;
    if (i != r->nheap) {
        r->heap[i] = r->heap[r->nheap];
        r->heap[i]->hpos = i;
        heap_fix(r, i);
    }
}

/* -- the member index -- */

static int index_rebuild(rgroup *g)
{
    size_t want = 16;
    while (want < g->n * 2 + 2) {
        want *= 2;
    }
    if (want != g->ixcap) {
        uint32_t *ix = calloc(want, sizeof *ix);
        if (ix == NULL) {
            return ES_ENOMEM;
        }
        free(g->ix);
        g->ix = ix;
        g->ixcap = want;
    } else {
        memset(g->ix, 0, want * sizeof *g->ix);
    }
    for (size_t i = 0; i < g->n; i++) {
        size_t h = (size_t)g->m[i]->fp_hash & (g->ixcap - 1);
        while (g->ix[h] != 0) {
            h = (h + 1) & (g->ixcap - 1);
        }
        g->ix[h] = (uint32_t)i + 1;
    }
    return 0;
}

/* The slot holding fp, or the empty slot where it would go. */
static size_t index_slot(const rgroup *g, const ralert *ra)
{
    size_t h = (size_t)ra->fp_hash & (g->ixcap - 1);
    while (g->ix[h] != 0) {
        const ralert *o = g->m[g->ix[h] - 1];
        if (o->fp_hash == ra->fp_hash && strcmp(o->a.fingerprint, ra->a.fingerprint) == 0) {
            break;
        }
        h = (h + 1) & (g->ixcap - 1);
    }
    return h;
}

/* ---- Waiting members in the state database ---------------------------------- */

/*
 * A member waits from the moment it joins a group (or changes status in
 * it) until the group's next notification goes out; the notification is
 * spooled in the same batch as the row's DELETE, so after a crash either
 * both happened or neither did. A row holds the alert as its notification
 * JSON (one alert, its route labels beside it), the route node and group it
 * waits in, when it was pushed, and when the group opened or was last
 * notified (told), which is what a new router needs to rebuild the group.
 */

static void db_warn(es_router *r, const char *what)
{
    if (!r->db_warned) {
        ES_LOG_WARN(COMP, "state file: cannot %s a waiting alert: %s (it waits in memory only)",
                    what, sqlite3_errmsg(r->sql));
        r->db_warned = true;
    }
}

/* Record ra waiting in g; the row id, or -1 when it waits in memory only
 * (no database, the cap, or a failed write: logged). */
static int64_t wait_record(es_router *r, const rgroup *g, const ralert *ra, int64_t now)
{
    if (r->st_ins == NULL) {
        return -1;
    }
    if (r->nwaiting >= r->cap_waiting) {
        if (!r->cap_warned) {
            ES_LOG_WARN(COMP,
                        "%zu alerts already wait in groups in the state file (the most it "
                        "keeps); alerts grouped from now on wait in memory only and are lost "
                        "if the process dies before their group is sent",
                        r->nwaiting);
            r->cap_warned = true;
        }
        return -1;
    }
    es_label labels[ES_RL_COUNT];
    size_t nl = 0;
    for (size_t i = 0; i < ES_RL_COUNT; i++) {
        if (i != ES_RL_STATUS) { /* the alert says it; a fixed key of the JSON */
            labels[nl].key = es_route_label_name((es_route_label)i);
            labels[nl++].value = ra->labels[i];
        }
    }
    es_notification n = {
        .key = "", .group = g->key, .alerts = &ra->a, .n_alerts = 1, .count = 1,
        .labels = labels, .n_labels = nl,
    };
    es_buf_reset(&r->wbuf);
    if (es_notification_to_json(&n, &r->wbuf) != 0) {
        return -1; /* over the buffer's ceiling: an alert this big stays in memory */
    }
    sqlite3_stmt *st = r->st_ins;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)g->route->index);
    sqlite3_bind_text(st, 2, g->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, g->sent ? g->last_sent_ms : g->opened_ms);
    sqlite3_bind_int(st, 5, g->sent);
    sqlite3_bind_int64(st, 6, ra->a.at_ms);
    sqlite3_bind_int(st, 7, ra->a.at_text != NULL);
    sqlite3_bind_text(st, 8, r->wbuf.data, (int)r->wbuf.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, ra->alone);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        db_warn(r, "record");
        return -1;
    }
    r->db_warned = false;
    r->nwaiting++;
    return (int64_t)sqlite3_last_insert_rowid(r->sql);
}

/* The member was notified or dropped on purpose: its row goes. */
static void wait_forget(es_router *r, int64_t row)
{
    if (row <= 0 || r->st_del == NULL) {
        return;
    }
    sqlite3_bind_int64(r->st_del, 1, row);
    int rc = sqlite3_step(r->st_del);
    sqlite3_reset(r->st_del);
    if (rc != SQLITE_DONE) {
        db_warn(r, "delete");
        return;
    }
    r->nwaiting -= r->nwaiting > 0;
    if (r->nwaiting < r->cap_waiting) {
        r->cap_warned = false;
    }
}

/* The row for ra waiting in g: the one a restore hands over, else new. */
static int64_t wait_take(es_router *r, const rgroup *g, const ralert *ra, int64_t now,
                         int64_t *adopt)
{
    if (adopt != NULL && *adopt > 0) {
        int64_t row = *adopt;
        *adopt = 0;
        return row;
    }
    return wait_record(r, g, ra, now);
}

static void group_free(rgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        unref(g->m[i]);
    }
    free(g->m);
    free(g->row);
    free(g->ix);
    free(g);
}

/* The group ends (sent its last notification, went quiet, or fired and
 * resolved unseen): whatever still waits in it was dropped on purpose. */
static void group_close(es_router *r, rgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        wait_forget(r, g->row[i]);
    }
    heap_remove(r, g);
    rgroup **pp = &r->buckets[g->hash & (r->nbuckets - 1)];
    while (*pp != g) {
        pp = &(*pp)->next_in_bucket;
    }
    *pp = g->next_in_bucket;
    r->ngroups--;
    group_free(g);
}

static int group_key(es_router *r, const es_rnode *node, const ralert *ra)
{
    es_buf_reset(&r->key);
    int rc = 0;
    if (node->name[0] != '\0') {
        rc = es_buf_printf(&r->key, "%s:", node->name);
    }
    if (node->n_group_by == 1 && node->group_by[0] == ES_RL_ALL) {
        return rc ? rc : es_buf_adds(&r->key, ra->a.fingerprint);
    }
    if (node->n_group_by == 0) {
        return rc ? rc : es_buf_adds(&r->key, "all");
    }
    for (size_t i = 0; rc == 0 && i < node->n_group_by; i++) {
        rc = i ? es_buf_addc(&r->key, '/') : 0;
        rc = rc ? rc : es_buf_adds(&r->key, ra->labels[node->group_by[i]]);
    }
    return rc;
}

static rgroup *group_find(es_router *r, const es_rnode *node, uint64_t *hash_out)
{
    uint64_t h = fnv(FNV0, &node->index, sizeof node->index);
    h = fnv(h, r->key.data, r->key.len);
    *hash_out = h;
    for (rgroup *g = r->buckets[h & (r->nbuckets - 1)]; g != NULL; g = g->next_in_bucket) {
        if (g->hash == h && g->route == node && strcmp(g->key, r->key.data) == 0) {
            return g;
        }
    }
    return NULL;
}

static int rehash(es_router *r)
{
    size_t nb = r->nbuckets * 2;
    rgroup **b = calloc(nb, sizeof *b);
    if (b == NULL) {
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < r->nbuckets; i++) {
        rgroup *g = r->buckets[i];
        while (g != NULL) {
            rgroup *next = g->next_in_bucket;
            g->next_in_bucket = b[g->hash & (nb - 1)];
            b[g->hash & (nb - 1)] = g;
            g = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
    return 0;
}

/* Open a group for ra on node (r->key holds its key). */
static rgroup *group_open(es_router *r, const es_rnode *node, const ralert *ra, uint64_t h,
                          int64_t now)
{
    if (r->ngroups >= MAX_GROUPS) {
        return NULL;
    }
    bool all = node->n_group_by == 1 && node->group_by[0] == ES_RL_ALL;
    size_t need = sizeof(rgroup) + r->key.len + 1;
    for (size_t i = 0; !all && i < node->n_group_by; i++) {
        need += strlen(ra->labels[node->group_by[i]]) + 1;
    }
    rgroup *g = calloc(1, need);
    if (g == NULL) {
        return NULL;
    }
    arena ar = {(char *)(g + 1)};
    g->key = (char *)put(&ar, r->key.data, r->key.len);
    for (size_t i = 0; !all && i < node->n_group_by; i++) {
        const char *v = ra->labels[node->group_by[i]];
        g->labels[g->n_labels].key = es_route_label_name((es_route_label)node->group_by[i]);
        g->labels[g->n_labels].value = put(&ar, v, strlen(v));
        g->n_labels++;
    }
    g->route = node;
    g->hash = h;
    g->seq = r->seq++;
    g->next_ms = now + node->group_wait_ms;
    g->last_alert_ms = now;
    g->opened_ms = now;
    if (index_rebuild(g) != 0 ||
        grow((void **)&r->heap, &r->capheap, r->nheap + 1, sizeof *r->heap) != 0) {
        group_free(g);
        return NULL;
    }
    if (r->ngroups + 1 > r->nbuckets && rehash(r) != 0) {
        group_free(g);
        return NULL;
    }
    g->next_in_bucket = r->buckets[h & (r->nbuckets - 1)];
    r->buckets[h & (r->nbuckets - 1)] = g;
    r->ngroups++;
    g->hpos = r->nheap;
    r->heap[r->nheap++] = g;
    heap_fix(r, g->hpos);
    return g;
}

static void mark_dirty(es_router *r, rgroup *g, int64_t now)
{
    if (g->dirty) {
        return;
    }
    g->dirty = true;
    if (g->sent) {
        int64_t t = g->last_sent_ms + g->route->group_interval_ms;
        if (t < now) {
            t = now;
        }
        if (t < g->next_ms) {
            set_next(r, g, t);
        }
    }
}

/* Append ra as a new member, waiting (its row from *adopt, or new). */
static int group_add(es_router *r, rgroup *g, ralert *ra, int64_t now, int64_t *adopt)
{
    size_t cap = g->cap;
    if (grow((void **)&g->m, &g->cap, g->n + 1, sizeof *g->m) != 0) {
        return ES_ENOMEM;
    }
    if (g->cap != cap || g->row == NULL) {
        int64_t *row = realloc(g->row, g->cap * sizeof *row);
        if (row == NULL) {
            return ES_ENOMEM;
        }
        g->row = row;
    }
    ra->refs++;
    g->m[g->n] = ra;
    g->row[g->n] = wait_take(r, g, ra, now, adopt);
    g->n++;
    if (g->n * 2 + 2 > g->ixcap) {
        return index_rebuild(g);
    }
    g->ix[index_slot(g, ra)] = (uint32_t)g->n;
    return 0;
}

/*
 * ra joins g at now. A new member, one whose status changed, or one that
 * replaces a member still waiting waits for the group's next notification
 * (and has a row in route_waiting meanwhile; *adopt: the row a restore
 * already has, may be NULL).
 */
static int group_put(es_router *r, rgroup *g, ralert *ra, int64_t now, int64_t *adopt)
{
    g->last_alert_ms = now;
    size_t slot = index_slot(g, ra);
    if (g->ix[slot] != 0) {
        size_t i = g->ix[slot] - 1;
        ralert **cur = &g->m[i];
        bool changed = (*cur)->a.resolved != ra->a.resolved;
        bool waiting = g->row[i] != 0 || changed;
        ra->refs++;
        unref(*cur);
        *cur = ra;
        wait_forget(r, g->row[i]);
        g->row[i] = waiting ? wait_take(r, g, ra, now, adopt) : 0;
        if (changed) {
            mark_dirty(r, g, now);
        }
        return 0;
    }
    if (ra->a.resolved) {
        return 0; /* resolves something this group never held */
    }
    if (g->n >= MAX_MEMBERS) {
        g->overflow++;
        mark_dirty(r, g, now);
        return 0;
    }
    int rc = group_add(r, g, ra, now, adopt);
    if (rc != 0) {
        return rc;
    }
    mark_dirty(r, g, now);
    return 0;
}

/* ---- Matching --------------------------------------------------------------- */

static int match_node(es_router *r, const es_rnode *n, const char *const *labels)
{
    bool any = false;
    for (size_t i = 0; i < n->n_children; i++) {
        const es_rnode *c = &n->children[i];
        if (es_matchers_match(c->m, labels)) {
            int rc = match_node(r, c, labels);
            if (rc != 0) {
                return rc;
            }
            any = true;
            if (!c->cont) {
                break;
            }
        }
    }
    if (!any) {
        if (grow((void **)&r->matched, &r->capmatched, r->nmatched + 1, sizeof *r->matched) != 0) {
            return ES_ENOMEM;
        }
        r->matched[r->nmatched++] = n;
    }
    return 0;
}

static int route_alert(es_router *r, const ralert *ra)
{
    r->nmatched = 0;
    return match_node(r, &r->rc->root, ra->labels);
}

/* ---- Emitting ---------------------------------------------------------------- */

static int emit(es_router *r, const char *sink, const es_notification *n, int64_t at)
{
    r->st.notifications++;
    return r->emit(r->ud, sink, n, at);
}

static int emit_cb(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    return emit(ud, sink, n, at);
}

/* "GROUP@2015-02-22T14:05:30Z" (with .mmm when not on a second). */
static int notification_key(es_router *r, const rgroup *g, int64_t t)
{
    char ts[32];
    es_time_format(t, ts);
    es_buf_reset(&r->nkey);
    int rc = es_buf_printf(&r->nkey, "%s@%s", g->key, ts);
    if (rc == 0 && t % 1000 != 0) {
        rc = es_buf_printf(&r->nkey, "+%03dms", (int)(((t % 1000) + 1000) % 1000));
    }
    return rc;
}

static void reschedule_idle(es_router *r, rgroup *g, int64_t t)
{
    bool firing_condition = false, firing = g->overflow > 0;
    for (size_t i = 0; i < g->n; i++) {
        firing = firing || !g->m[i]->a.resolved;
        firing_condition = firing_condition || (g->m[i]->stateful && !g->m[i]->a.resolved);
    }
    int64_t next = INT64_MAX;
    if (!firing_condition) {
        next = g->last_alert_ms + g->route->resolve_timeout_ms;
    }
    if (g->route->repeat_interval_ms > 0 && firing) {
        int64_t rep = g->last_sent_ms + g->route->repeat_interval_ms;
        next = rep < next ? rep : next;
    }
    set_next(r, g, next > t ? next : t + 1);
}

/* Drop resolved members once they have been reported. */
static int prune_resolved(rgroup *g)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->m[i]->a.resolved) {
            unref(g->m[i]);
        } else {
            g->row[k] = g->row[i];
            g->m[k++] = g->m[i];
        }
    }
    if (k == g->n) {
        return 0;
    }
    g->n = k;
    return index_rebuild(g);
}

/* The group is due at t: send, hold, repeat or close it. */
static int flush(es_router *r, rgroup *g, int64_t t)
{
    const es_rnode *node = g->route;
    size_t conditions = 0, firing_conditions = 0, firing = g->overflow;
    for (size_t i = 0; i < g->n; i++) {
        const ralert *a = g->m[i];
        conditions += a->stateful;
        firing_conditions += a->stateful && !a->a.resolved;
        firing += !a->a.resolved;
    }
    if (!g->dirty) {
        if (firing_conditions == 0 && t >= g->last_alert_ms + node->resolve_timeout_ms) {
            group_close(r, g); /* a wave of events went quiet */
            return 0;
        }
        bool repeat = g->sent && node->repeat_interval_ms > 0 && firing > 0 &&
                      t >= g->last_sent_ms + node->repeat_interval_ms;
        if (!repeat) {
            reschedule_idle(r, g, t);
            return 0;
        }
    }
    bool resolved_notice = conditions > 0 && firing_conditions == 0;
    if ((resolved_notice && !g->sent) || (!resolved_notice && firing == 0)) {
        /* Fired and resolved before anyone was told, or nothing left. */
        group_close(r, g);
        return 0;
    }

    /* What goes in: the firing alerts, or the resolved conditions. */
    size_t n = 0;
    if (grow((void **)&r->sort, &r->capsort, g->n + 1, sizeof *r->sort) != 0) {
        return ES_ENOMEM;
    }
    es_severity worst = ES_SEV_INFO;
    for (size_t i = 0; i < g->n; i++) {
        ralert *a = g->m[i];
        if (resolved_notice ? a->stateful : !a->a.resolved) {
            r->sort[n++] = a;
            worst = a->a.severity > worst ? a->a.severity : worst;
        }
    }

    char *const *receivers = node->receivers;
    size_t n_receivers = node->n_receivers;
    if (node->has_bh && !es_window_contains(&node->bh, &node->tz, t)) {
        if (node->n_outside > 0) {
            receivers = node->outside;
            n_receivers = node->n_outside;
        } else {
            r->st.held++;
            set_next(r, g, es_window_next_change(&node->bh, &node->tz, t));
            return 0;
        }
    }
    if (node->has_qh && worst < node->qh_min && es_window_contains(&node->qh, &node->tz, t)) {
        r->st.held++;
        set_next(r, g, es_window_next_change(&node->qh, &node->tz, t));
        return 0;
    }

    qsort(r->sort, n, sizeof *r->sort, rank_cmp);
    size_t shown = node->max_examples == 0 || node->max_examples > n ? n : node->max_examples;
    /* Every alert is laid out (best first) for receivers that take them
     * all (es_router_set_wants_all); the others see the first `shown`. */
    size_t laid = r->wants_all != NULL ? n : shown;
    if (grow((void **)&r->alerts, &r->capalerts, laid + 1, sizeof *r->alerts) != 0) {
        return ES_ENOMEM;
    }
    /* vals grows with alerts; keep it the same capacity. */
    const char *const **vals = realloc(r->vals, r->capalerts * sizeof *vals);
    if (vals == NULL) {
        return ES_ENOMEM;
    }
    r->vals = vals;
    for (size_t i = 0; i < laid; i++) {
        r->alerts[i] = r->sort[i]->a;
        r->vals[i] = r->sort[i]->labels;
    }
    int rc = notification_key(r, g, t);
    if (rc != 0) {
        return rc;
    }
    es_notification note = {
        .key = r->nkey.data,
        .group = g->key,
        .alerts = r->alerts,
        .n_alerts = shown,
        .count = n + (resolved_notice ? 0 : g->overflow),
        .labels = g->labels,
        .n_labels = g->n_labels,
        .action = ES_NOTIFY_AUTO,
        .sent_ms = t,
    };
    es_notification all = note;
    all.n_alerts = laid;
    /* A restored alert went alone to the every-alert receivers when it was
     * pushed (by the router it was pushed to: after a reload those may be
     * other sinks); they do not get it again. */
    size_t again = 0;
    for (size_t i = 0; i < laid; i++) {
        again += r->sort[i]->restored && r->sort[i]->alone;
    }
    if (again > 0) {
        if (grow((void **)&r->fresh, &r->capfresh, laid, sizeof *r->fresh) != 0) {
            return ES_ENOMEM;
        }
        size_t k = 0;
        for (size_t i = 0; i < laid; i++) {
            if (!(r->sort[i]->restored && r->sort[i]->alone)) {
                r->fresh[k++] = r->sort[i]->a;
            }
        }
        all.alerts = r->fresh;
        all.n_alerts = k;
        all.count = note.count - again;
    }
    for (size_t i = 0; i < n_receivers && rc == 0; i++) {
        bool every = r->wants_all != NULL && r->wants_all(r->wants_all_ud, receivers[i]);
        if (!every || all.n_alerts > 0) {
            rc = emit(r, receivers[i], every ? &all : &note, t);
        }
    }
    if (rc == 0 && node->esc != NULL) {
        int tier = es_escalation_start_tier(node->esc, r->vals, shown);
        rc = es_escalator_notify(r->esc, node->esc, &note, tier, t);
    }
    if (rc != 0) {
        return rc;
    }
    /* Everything that waited is in this notification (counted, if not
     * shown), which the caller spools in the same batch: the rows go. */
    for (size_t i = 0; i < g->n; i++) {
        wait_forget(r, g->row[i]);
        g->row[i] = 0;
    }
    g->sent = true;
    g->dirty = false;
    g->last_sent_ms = t;
    if (resolved_notice) {
        group_close(r, g);
        return 0;
    }
    if ((rc = prune_resolved(g)) != 0) {
        return rc;
    }
    reschedule_idle(r, g, t);
    return 0;
}

/* Flush everything due before now (or at now too, when inclusive), in time
 * order, groups and escalations interleaved. */
static int run_until(es_router *r, int64_t now, bool inclusive)
{
    for (;;) {
        int64_t tg = r->nheap > 0 ? r->heap[0]->next_ms : INT64_MAX;
        int64_t te = es_escalator_next_due(r->esc);
        int64_t t = tg < te ? tg : te;
        if (t == INT64_MAX || t > now || (!inclusive && t == now)) {
            return 0;
        }
        int rc = tg <= te ? flush(r, r->heap[0], tg) : es_escalator_advance(r->esc, te);
        if (rc != 0) {
            return rc;
        }
    }
}

/* ---- Inhibition ----------------------------------------------------------------- */

static bool is_source(const es_router *r, const ralert *ra)
{
    for (size_t i = 0; i < r->rc->n_inhibit; i++) {
        if (es_matchers_match(r->rc->inhibit[i].source, ra->labels)) {
            return true;
        }
    }
    return false;
}

static uint64_t equal_hash(const es_inhibit_rule *rule, const ralert *ra)
{
    uint64_t h = FNV0;
    for (size_t e = 0; e < rule->n_equal; e++) {
        const char *v = ra->labels[rule->equal[e]];
        h = fnv(h, v, strlen(v) + 1);
    }
    return h;
}

static void track_source(es_router *r, ralert *ra)
{
    for (size_t i = 0; i < r->nsrc; i++) {
        ralert *cur = r->src[i].a;
        if (cur->fp_hash == ra->fp_hash && strcmp(cur->a.fingerprint, ra->a.fingerprint) == 0) {
            unref(cur);
            if (ra->a.resolved) {
                memmove(&r->src[i], &r->src[i + 1], (r->nsrc - i - 1) * sizeof *r->src);
                r->nsrc--;
            } else {
                ra->refs++;
                r->src[i].a = ra;
            }
            return;
        }
    }
    if (ra->a.resolved) {
        return;
    }
    if (r->nsrc >= MAX_SOURCES) {
        unref(r->src[0].a); /* the oldest gives way */
        memmove(&r->src[0], &r->src[1], (r->nsrc - 1) * sizeof *r->src);
        r->nsrc--;
    }
    if (grow((void **)&r->src, &r->capsrc, r->nsrc + 1, sizeof *r->src) == 0) {
        src_entry *e = &r->src[r->nsrc++];
        ra->refs++;
        e->a = ra;
        for (size_t k = 0; k < r->rc->n_inhibit && k < HASHED_RULES; k++) {
            e->eq[k] = equal_hash(&r->rc->inhibit[k], ra);
        }
    }
}

/* Fold ra into the groups of a firing source that inhibits it. Returns 1 if
 * ra is inhibited (folded, or its wave is not grouped anywhere: silenced),
 * 0 if not, or a negative code. */
static int try_fold(es_router *r, ralert *ra, int64_t now)
{
    for (size_t k = 0; k < r->rc->n_inhibit; k++) {
        const es_inhibit_rule *rule = &r->rc->inhibit[k];
        if (!es_matchers_match(rule->target, ra->labels)) {
            continue;
        }
        uint64_t eq = equal_hash(rule, ra);
        for (size_t s = 0; s < r->nsrc; s++) {
            ralert *src = r->src[s].a;
            if ((k < HASHED_RULES && r->src[s].eq[k] != eq) || src == ra ||
                (src->fp_hash == ra->fp_hash &&
                 strcmp(src->a.fingerprint, ra->a.fingerprint) == 0) ||
                !es_matchers_match(rule->source, src->labels)) {
                continue;
            }
            bool equal = true;
            for (size_t e = 0; e < rule->n_equal && equal; e++) {
                equal = strcmp(src->labels[rule->equal[e]], ra->labels[rule->equal[e]]) == 0;
            }
            if (!equal) {
                continue;
            }
            int rc = route_alert(r, src);
            if (rc != 0) {
                return rc;
            }
            ra->folded = true;
            for (size_t i = 0; i < r->nmatched; i++) {
                uint64_t h;
                if ((rc = group_key(r, r->matched[i], src)) != 0) {
                    return rc;
                }
                rgroup *g = group_find(r, r->matched[i], &h);
                if (g != NULL && (rc = group_put(r, g, ra, now, NULL)) != 0) {
                    return rc;
                }
            }
            return 1;
        }
    }
    return 0;
}

/* Put ra in the group it names on every route it matched (r->matched),
 * opening groups as needed. *routed: some route had a receiver. */
static int place(es_router *r, ralert *ra, int64_t now, bool *routed)
{
    int rc = 0;
    for (size_t i = 0; i < r->nmatched && rc == 0; i++) {
        const es_rnode *node = r->matched[i];
        if (node->n_receivers == 0 && node->esc == NULL) {
            continue;
        }
        *routed = true;
        uint64_t h;
        if ((rc = group_key(r, node, ra)) != 0) {
            break;
        }
        rgroup *g = group_find(r, node, &h);
        if (g == NULL) {
            if (ra->a.resolved) {
                continue; /* nothing open to resolve */
            }
            if ((g = group_open(r, node, ra, h, now)) == NULL) {
                rc = ES_ENOMEM;
                break;
            }
        }
        rc = group_put(r, g, ra, now, NULL);
    }
    return rc;
}

/* ---- Restoring waiting alerts ------------------------------------------------------ */

static void index_nodes(const es_rnode *n, const es_rnode **out, size_t max)
{
    if (n->index < max) {
        out[n->index] = n;
    }
    for (size_t i = 0; i < n->n_children; i++) {
        index_nodes(&n->children[i], out, max);
    }
}

/*
 * Put a restored member back into the group its row names: node (NULL if
 * the tree has no such node any more) and key grp. The group is reopened
 * only if the alert still routes there by itself; otherwise (it was folded
 * into a wave whose group is gone, or the tree changed) returns 0 and the
 * caller routes it afresh. `told`: the group had been notified before the
 * alert joined, at since_ms; else it opened at since_ms.
 */
static int restore_place(es_router *r, ralert *ra, const es_rnode *node, const char *grp,
                         int64_t pushed, int64_t since, bool told, int64_t *adopt, bool *placed)
{
    *placed = false;
    if (node == NULL || (node->n_receivers == 0 && node->esc == NULL)) {
        return 0;
    }
    es_buf_reset(&r->key);
    int rc = es_buf_adds(&r->key, grp);
    if (rc != 0) {
        return 0;
    }
    uint64_t h;
    rgroup *g = group_find(r, node, &h);
    if (g == NULL) {
        if ((rc = route_alert(r, ra)) != 0) {
            return rc;
        }
        bool routes = false;
        for (size_t i = 0; i < r->nmatched && !routes; i++) {
            routes = r->matched[i] == node;
        }
        if (!routes || (rc = group_key(r, node, ra)) != 0 || strcmp(r->key.data, grp) != 0) {
            return rc;
        }
        if (ra->a.resolved && !told) {
            return 0; /* resolves what nobody was told about */
        }
        if ((g = group_open(r, node, ra, h, since)) == NULL) {
            return ES_ENOMEM;
        }
    }
    if (told && !g->sent) {
        /* Its group had been notified: the next one is an update, due
         * group_interval after that one. */
        g->sent = true;
        g->last_sent_ms = since;
        if (!g->dirty) {
            set_next(r, g, INT64_MAX);
        }
    }
    *placed = true;
    if (ra->a.resolved && told && g->ix[index_slot(g, ra)] == 0) {
        /* The firing alert it resolves was notified (and its row went):
         * the resolution is what still has to be said. */
        g->last_alert_ms = pushed;
        if ((rc = group_add(r, g, ra, pushed, adopt)) != 0) {
            return rc;
        }
        mark_dirty(r, g, pushed);
        return 0;
    }
    return group_put(r, g, ra, pushed, adopt);
}

/* The row under st back into the router. st is reset here, before
 * anything is written: restoring deletes and inserts rows of the table it
 * reads. */
static int restore_row(es_router *r, sqlite3_stmt *st, const es_rnode **nodes)
{
    int64_t id = sqlite3_column_int64(st, 0);
    int64_t ni = sqlite3_column_int64(st, 1);
    const char *g = (const char *)sqlite3_column_text(st, 2);
    int64_t pushed = sqlite3_column_int64(st, 3);
    int64_t since = sqlite3_column_int64(st, 4);
    bool told = sqlite3_column_int(st, 5) != 0;
    int64_t at_ms = sqlite3_column_int64(st, 6);
    bool verbatim = sqlite3_column_int(st, 7) != 0;
    const char *doc_text = (const char *)sqlite3_column_text(st, 8);
    size_t doc_len = (size_t)sqlite3_column_bytes(st, 8);
    bool alone = sqlite3_column_int(st, 9) != 0;
    es_notification_doc doc;
    es_error err;
    memset(&err, 0, sizeof err);
    char *grp = g != NULL ? strdup(g) : NULL;
    int prc = ES_EFIELD;
    if (grp != NULL && doc_text != NULL) {
        prc = es_notification_parse(doc_text, doc_len, &doc, &err);
    }
    sqlite3_reset(st);
    if (prc != 0) {
        /* Another version's row, or damage: one bad row must not stop the
         * engine; it is dropped, loudly. */
        ES_LOG_WARN(COMP, "state file: waiting alert %lld unreadable (%s); dropped", (long long)id,
                    grp == NULL || doc_text == NULL ? "empty" : err.msg);
        free(grp);
        wait_forget(r, id);
        return prc == ES_ENOMEM ? ES_ENOMEM : 0;
    }
    es_alert a = doc.alerts[0];
    /* The JSON's "at" has whole seconds; the alert's time (and so its id)
     * is the exact one. */
    a.at_ms = at_ms;
    if (!verbatim) {
        a.at_text = NULL;
    }
    ralert *ra = copy_alert(&a, doc.n.labels, doc.n.n_labels);
    es_notification_doc_free(&doc);
    if (ra == NULL) {
        free(grp);
        return ES_ENOMEM;
    }
    ra->alone = alone;
    ra->restored = true;
    if (is_source(r, ra)) {
        track_source(r, ra);
    }
    const es_rnode *node = ni >= 0 && (uint64_t)ni < r->rc->n_nodes ? nodes[ni] : NULL;
    int64_t adopt = id;
    bool placed = false;
    int rc = restore_place(r, ra, node, grp, pushed, since, told, &adopt, &placed);
    free(grp);
    if (rc == 0 && !placed) {
        /* Route it afresh (new rows), as a push at its time that no
         * silence stops: it was accepted then. */
        int f = ra->a.resolved ? 0 : try_fold(r, ra, pushed);
        if (f < 0) {
            rc = f;
        } else if (f == 0 && (rc = route_alert(r, ra)) == 0) {
            bool routed = false;
            rc = place(r, ra, pushed, &routed);
        }
    }
    /* Nobody took the row over (it resolves nothing open, or routes
     * nowhere now): it goes. */
    wait_forget(r, adopt);
    unref(ra);
    return rc;
}

/*
 * A router on a state database takes back the alerts that were waiting in
 * groups when the last router on it stopped without sending them (a crash,
 * kill -9, or a reload), in push order, with their original push times:
 * each group is due when it would have been, or at the next advance if
 * that has passed. Nothing is emitted here.
 */
static int restore(es_router *r)
{
    sqlite3_stmt *st = NULL;
    int64_t last_id = 0;
    if (sqlite3_prepare_v2(r->sql, "SELECT count(*), max(id) FROM route_waiting", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        r->nwaiting = (size_t)sqlite3_column_int64(st, 0);
        last_id = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (r->nwaiting == 0) {
        return 0;
    }
    const es_rnode **nodes = calloc(r->rc->n_nodes + 1, sizeof *nodes);
    if (nodes == NULL) {
        return ES_ENOMEM;
    }
    index_nodes(&r->rc->root, nodes, r->rc->n_nodes);
    /* One row per step, past the previous id and up to the last row that
     * was there at the start (rows written while restoring come after). */
    if (sqlite3_prepare_v2(r->sql,
                           "SELECT id, node, grp, pushed_ms, since_ms, told, at_ms, at_verbatim,"
                           " doc, alone FROM route_waiting WHERE id > ? AND id <= ? ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        ES_LOG_WARN(COMP, "state file: cannot read waiting alerts: %s", sqlite3_errmsg(r->sql));
        free(nodes);
        return 0;
    }
    size_t n = 0;
    int64_t id = 0;
    int rc = 0;
    for (;;) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, last_id);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            if (step != SQLITE_DONE) {
                ES_LOG_WARN(COMP, "state file: cannot read waiting alerts: %s",
                            sqlite3_errmsg(r->sql));
            }
            break;
        }
        id = sqlite3_column_int64(st, 0);
        n++;
        if ((rc = restore_row(r, st, nodes)) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    free(nodes);
    if (n > 0) {
        ES_LOG_INFO(COMP, "state file: %zu waiting alerts read back, %zu groups waiting", n,
                    r->ngroups);
    }
    return rc;
}

/* ---- Public ------------------------------------------------------------------------ */

int es_router_new(const es_route_conf *rc, es_route_db *db, es_route_emit_fn emit_fn, void *ud,
                  es_router **out)
{
    *out = NULL;
    es_router *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return ES_ENOMEM;
    }
    r->rc = rc;
    r->emit = emit_fn;
    r->ud = ud;
    r->db = db;
    int rc_code = 0;
    if (db == NULL) {
        /* Escalation state still needs a home: a private in-memory one. */
        rc_code = es_route_db_open(":memory:", &r->db, NULL);
        r->own_db = true;
        if (rc_code != 0) {
            free(r);
            return rc_code;
        }
    }
    es_buf_init(&r->key, 64 * 1024);
    es_buf_init(&r->nkey, 64 * 1024);
    /* An alert is at most ~10 quoted mentions of 4 KiB plus its details. */
    es_buf_init(&r->wbuf, 1024 * 1024);
    r->cap_waiting = MAX_WAITING;
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (r->buckets == NULL ||
        es_escalator_new(es_route_conf_escalations(rc), r->db, emit_cb, r, &r->esc) != 0) {
        es_router_free(r);
        return ES_ENOMEM;
    }
    if (!r->own_db) {
        /* Waiting alerts are durable only with a real state database:
         * without one (backfill, tests) routing is as it always was. */
        r->sql = es__route_db_sqlite(r->db);
        if (sqlite3_prepare_v2(r->sql,
                               "INSERT INTO route_waiting(node, grp, pushed_ms, since_ms, told,"
                               " at_ms, at_verbatim, doc, alone) VALUES(?,?,?,?,?,?,?,?,?)",
                               -1, &r->st_ins, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(r->sql, "DELETE FROM route_waiting WHERE id = ?", -1, &r->st_del,
                               NULL) != SQLITE_OK) {
            ES_LOG_WARN(COMP, "state file: %s; grouped alerts wait in memory only",
                        sqlite3_errmsg(r->sql));
            sqlite3_finalize(r->st_ins);
            sqlite3_finalize(r->st_del);
            r->st_ins = r->st_del = NULL;
        } else if ((rc_code = restore(r)) != 0) {
            es_router_free(r);
            return rc_code;
        }
    }
    *out = r;
    return 0;
}

void es__router_set_waiting_cap(es_router *r, size_t cap)
{
    r->cap_waiting = cap;
    r->cap_warned = false;
}

void es_router_set_wants_all(es_router *r, es_route_all_fn fn, void *ud)
{
    r->wants_all = fn;
    r->wants_all_ud = ud;
}

void es_router_free(es_router *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->nheap; i++) {
        group_free(r->heap[i]);
    }
    free(r->heap);
    free(r->buckets);
    for (size_t i = 0; i < r->nsrc; i++) {
        unref(r->src[i].a);
    }
    free(r->src);
    free(r->matched);
    free(r->sort);
    free(r->alerts);
    free(r->fresh);
    free(r->vals);
    es_buf_free(&r->key);
    es_buf_free(&r->nkey);
    es_buf_free(&r->wbuf);
    /* The rows of waiting alerts stay: the next router on this database
     * takes them back. */
    sqlite3_finalize(r->st_ins);
    sqlite3_finalize(r->st_del);
    es_escalator_free(r->esc);
    if (r->own_db) {
        es_route_db_close(r->db);
    }
    free(r);
}

int es_router_push(es_router *r, const es_alert *a, const es_label *extra, size_t n_extra,
                   int64_t now_ms)
{
    int rc = run_until(r, now_ms, false);
    if (rc != 0) {
        return rc;
    }
    ralert *ra = copy_alert(a, extra, n_extra);
    if (ra == NULL) {
        return ES_ENOMEM;
    }
    r->st.pushed++;
    /* A silenced wave still inhibits its complaints: they belong to it. */
    if (is_source(r, ra)) {
        track_source(r, ra);
    }
    if (!r->own_db && es__route_db_silenced(r->db, ra->labels, now_ms)) {
        r->st.silenced++;
        unref(ra);
        return 0;
    }
    if (!ra->a.resolved) {
        rc = try_fold(r, ra, now_ms);
        if (rc != 0) {
            if (rc == 1) {
                r->st.inhibited++;
            }
            unref(ra);
            return rc < 0 ? rc : 0;
        }
    }
    if ((rc = route_alert(r, ra)) != 0) {
        unref(ra);
        return rc;
    }
    /* Receivers that take every alert (file, stdout) get it now, alone,
     * outside the grouping: their contract is one line per alert as it
     * happens, not a digest after group_wait. Group notifications still
     * reach them; the caller keys per alert so nothing is written twice. */
    for (size_t i = 0; i < r->nmatched && rc == 0 && r->wants_all != NULL; i++) {
        const es_rnode *node = r->matched[i];
        for (size_t k = 0; k < node->n_receivers && rc == 0; k++) {
            if (r->wants_all(r->wants_all_ud, node->receivers[k])) {
                char id[27];
                es_alert_make_id(&ra->a, id);
                es_notification one = {
                    .key = id, .alerts = &ra->a, .n_alerts = 1, .count = 1, .sent_ms = now_ms,
                };
                rc = emit(r, node->receivers[k], &one, now_ms);
            }
        }
    }
    ra->alone = r->wants_all != NULL;
    bool routed = false;
    if (rc == 0) {
        rc = place(r, ra, now_ms, &routed);
    }
    if (!routed) {
        r->st.unrouted++;
    }
    unref(ra);
    return rc;
}

int es_router_flush_waiting(es_router *r, int64_t now_ms)
{
    /* flush() reorders the heap and may close its group: walk a copy. */
    size_t n = r->nheap;
    if (n == 0) {
        return 0;
    }
    rgroup **gs = malloc(n * sizeof *gs);
    if (gs == NULL) {
        return ES_ENOMEM;
    }
    memcpy(gs, r->heap, n * sizeof *gs);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (gs[i]->dirty) {
            rc = flush(r, gs[i], now_ms);
        }
    }
    free(gs);
    return rc;
}

int es_router_advance(es_router *r, int64_t now_ms)
{
    return run_until(r, now_ms, true);
}

int64_t es_router_next_due(const es_router *r)
{
    int64_t tg = r->nheap > 0 ? r->heap[0]->next_ms : INT64_MAX;
    int64_t te = es_escalator_next_due(r->esc);
    return tg < te ? tg : te;
}

int es_router_ack(es_router *r, const char *id, const char *by, int64_t now_ms)
{
    return es_escalator_ack(r->esc, id, by, now_ms);
}

int es_router_resolve(es_router *r, const char *id, const char *by, int64_t now_ms)
{
    return es_escalator_resolve(r->esc, id, by, now_ms);
}

void es_router_stats_get(const es_router *r, es_router_stats *st)
{
    *st = r->st;
    st->groups = r->ngroups;
}
