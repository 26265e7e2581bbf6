/* Feed cursors and recently seen ids in SQLite. See store.h. */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_CURSOR_MAX 4096
#define STORE_DEFAULT_RETENTION (7LL * 24 * 3600 * 1000)
#define STORE_DEFAULT_MAX_IDS 2000000u

/* An id in the order it was seen. */
typedef struct seen_entry {
    uint64_t h;
    int64_t ms;
} seen_entry;

typedef struct cursor {
    char *feed;
    char *value;  /* committed (or loaded) value; NULL: none */
    char *pending; /* set since the last commit; NULL: none */
} cursor;

/*
 * The dedup memory is sized for max_ids when the store opens and never
 * grows, so nothing is rehashed on the loop thread and the process's size
 * does not step up under load: a set of 64-bit keys (open addressing,
 * linear probing, 0 = empty, a power of two at least twice max_ids so it is
 * never more than half full) and a ring of the same ids in the order they
 * were seen. When the ring is full the oldest id leaves both (one
 * backward-shift delete, no tombstones); pruning by age pops from the same
 * end. Each entry's position in the sequence of all ids ever recorded
 * (`serial`) is its row's key on disk, so the rows are appended and the
 * forgotten ones are a prefix, deleted by range.
 */
struct es_store {
    sqlite3 *db;
    sqlite3_stmt *put_seen, *put_cursor, *del_seen;
    int64_t retention_ms;
    size_t max_ids;
    uint64_t *set;
    size_t set_mask;
    seen_entry *ring; /* max_ids entries */
    size_t head, count; /* oldest entry, entries held */
    int64_t head_serial; /* serial of ring[head] (of the next id when empty) */
    int64_t disk_head;   /* rows below this serial are gone from disk too */
    int64_t last_ms;     /* times are kept non-decreasing along the ring */
    size_t n_pend;       /* the newest n_pend entries are not on disk yet */
    cursor *cursors;
    size_t n_cursors;
    size_t cursors_pending;
    char errmsg[256];
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS feed_cursor ("
    "  feed TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_ms INTEGER NOT NULL DEFAULT 0);"
    /* seq: the id's serial, so new rows go at the end of the b-tree and
     * forgotten ones are deleted as a range at its start. (Keyed by the
     * hash instead, as feed_seen was, every id dirtied a random page: at
     * 20,000 mentions/s that was ~8 MB of WAL per 100 ms commit.) */
    "CREATE TABLE IF NOT EXISTS seen_ids ("
    "  seq INTEGER PRIMARY KEY, h INTEGER NOT NULL, seen_ms INTEGER NOT NULL);";

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* (feed, id) -> a nonzero 64-bit key. The NUL between the two keeps
 * ("ab","c") and ("a","bc") apart. */
static uint64_t seen_key(const char *feed, const char *id, size_t id_len)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, feed, strlen(feed) + 1);
    h = fnv(h, id, id_len);
    /* A final mix so the low bits (the probe start) depend on every byte. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h != 0 ? h : 1;
}

static void set_err(es_store *s, const char *what)
{
    snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what,
             s->db != NULL ? sqlite3_errmsg(s->db) : "no database");
}

const char *es_store_errmsg(const es_store *s)
{
    return s->errmsg;
}

/* ---- The in-memory set and ring ---------------------------------------------- */

static void touch_pages(void *p, size_t n)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < n; i += 4096) {
        b[i] = 0;
    }
}

static int table_alloc(es_store *s)
{
    size_t cap = 1024;
    while (cap < s->max_ids * 2) {
        if (cap > SIZE_MAX / 4 / sizeof *s->set) {
            return ES_ENOMEM;
        }
        cap *= 2;
    }
    if (s->max_ids > SIZE_MAX / sizeof *s->ring) {
        return ES_ENOMEM;
    }
    s->set = calloc(cap, sizeof *s->set);
    s->ring = calloc(s->max_ids, sizeof *s->ring);
    if (s->set == NULL || s->ring == NULL) {
        return ES_ENOMEM;
    }
    s->set_mask = cap - 1;
    /* Every page is written once now. calloc's pages of a large block
     * become resident only when first written, one by one as ids arrive
     * (the ring's in order: +320 KB/s at 20,000 mentions/s, for the first
     * 100 s), so the resident size would creep up under load; this way it
     * is what it will be at the cap from the start. (A plain memset after
     * malloc is turned back into calloc by the compiler.) */
    touch_pages(s->set, cap * sizeof *s->set);
    touch_pages(s->ring, s->max_ids * sizeof *s->ring);
    return 0;
}

/* Is h in the set? Sets *at to its slot, or to the empty slot ending the
 * probe. */
static bool set_find(const es_store *s, uint64_t h, size_t *at)
{
    size_t j = (size_t)h & s->set_mask;
    while (s->set[j] != 0) {
        if (s->set[j] == h) {
            *at = j;
            return true;
        }
        j = (j + 1) & s->set_mask;
    }
    *at = j;
    return false;
}

/* Remove h, moving later members of its probe run back into the hole so
 * no lookup ever has to step over a tombstone. */
static void set_remove(es_store *s, uint64_t h)
{
    size_t i;
    if (!set_find(s, h, &i)) {
        return;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->set_mask;
        uint64_t v = s->set[j];
        if (v == 0) {
            break;
        }
        size_t home = (size_t)v & s->set_mask;
        /* v may fill the hole at i unless its home lies cyclically in
         * (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->set[i] = v;
            i = j;
        }
    }
    s->set[i] = 0;
}

/* Forget the oldest id. */
static void ring_pop(es_store *s)
{
    set_remove(s, s->ring[s->head].h);
    s->head = s->head + 1 == s->max_ids ? 0 : s->head + 1;
    s->count--;
    s->head_serial++;
    if (s->n_pend > s->count) {
        s->n_pend = s->count; /* it never reached the disk: nothing to write */
    }
}

/* Insert or find. Returns 1 if present (left alone), 0 if inserted (the
 * oldest id is forgotten first if the ring is full). */
static int table_put(es_store *s, uint64_t h, int64_t ms)
{
    size_t at;
    if (set_find(s, h, &at)) {
        return 1;
    }
    if (s->count == s->max_ids) {
        ring_pop(s);
        (void)set_find(s, h, &at); /* the delete may have moved the hole */
    }
    s->set[at] = h;
    if (ms < s->last_ms) {
        ms = s->last_ms; /* a clock stepping back must not reorder the ring */
    }
    s->last_ms = ms;
    size_t tail = s->head + s->count;
    if (tail >= s->max_ids) {
        tail -= s->max_ids;
    }
    s->ring[tail] = (seen_entry){h, ms};
    s->count++;
    return 0;
}

/* ---- Open and close ------------------------------------------------------------ */

static int load_ids(es_store *s, int64_t now_ms);

static int load(es_store *s, int64_t now_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT feed, cursor FROM feed_cursor", -1, &st, NULL) !=
        SQLITE_OK) {
        return ES_ESTATE;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        cursor *n = realloc(s->cursors, (s->n_cursors + 1) * sizeof *n);
        if (n == NULL) {
            sqlite3_finalize(st);
            return ES_ENOMEM;
        }
        s->cursors = n;
        cursor *c = &s->cursors[s->n_cursors];
        c->feed = strdup((const char *)sqlite3_column_text(st, 0));
        c->value = strdup((const char *)sqlite3_column_text(st, 1));
        c->pending = NULL;
        if (c->feed == NULL || c->value == NULL) {
            free(c->feed);
            free(c->value);
            sqlite3_finalize(st);
            return ES_ENOMEM;
        }
        s->n_cursors++;
    }
    sqlite3_finalize(st);
    return load_ids(s, now_ms);
}

static bool table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        return false;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    bool yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

/* Replace the rows on disk by the ring, numbered from head_serial. */
static int rewrite_ids(es_store *s, bool drop_old)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    int ok = sqlite3_exec(s->db, "DELETE FROM seen_ids", NULL, NULL, NULL) == SQLITE_OK &&
             (!drop_old ||
              sqlite3_exec(s->db, "DROP TABLE feed_seen", NULL, NULL, NULL) == SQLITE_OK);
    for (size_t k = 0; ok && k < s->count; k++) {
        const seen_entry *en = &s->ring[(s->head + k) % s->max_ids];
        sqlite3_bind_int64(s->put_seen, 1, s->head_serial + (int64_t)k);
        sqlite3_bind_int64(s->put_seen, 2, (sqlite3_int64)en->h);
        sqlite3_bind_int64(s->put_seen, 3, en->ms);
        ok = sqlite3_step(s->put_seen) == SQLITE_DONE;
        sqlite3_reset(s->put_seen);
    }
    if (!ok || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return ES_ESTATE;
    }
    s->disk_head = s->head_serial;
    return 0;
}

/*
 * The ids still within retention, oldest first, into the ring (the oldest
 * beyond max_ids fall out as they would have while running). Normally the
 * rows are exactly the ring: consecutive serials. Anything else (a state
 * file from before seen_ids, which keyed rows by hash; a duplicate; an
 * expired row after a kept one) is repaired by writing the ring back.
 */
static int load_ids(es_store *s, int64_t now_ms)
{
    bool old = table_exists(s->db, "feed_seen");
    const char *sql = old ? "SELECT 0, h, seen_ms FROM feed_seen ORDER BY seen_ms"
                          : "SELECT seq, h, seen_ms FROM seen_ids ORDER BY seq";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    int64_t cutoff = now_ms - s->retention_ms;
    bool rewrite = old, first = true, any = false;
    int64_t next = 1, min_seq = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        uint64_t h = (uint64_t)sqlite3_column_int64(st, 1);
        int64_t ms = sqlite3_column_int64(st, 2);
        if (!any) {
            min_seq = seq;
            any = true;
        }
        if (ms < cutoff || h == 0) {
            rewrite |= !first; /* a hole in the middle */
            next = seq + 1;
            continue;
        }
        if (first) {
            s->head_serial = seq;
            first = false;
        } else if (seq != next) {
            rewrite = true;
        }
        next = seq + 1;
        if (table_put(s, h, ms) == 1) {
            rewrite = true;
        }
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        return ES_ESTATE;
    }
    if (first) {
        s->head_serial = next; /* nothing kept: new ids continue the sequence */
    }
    s->disk_head = any ? min_seq : s->head_serial;
    return rewrite ? rewrite_ids(s, old) : 0;
}

int es_store_open(const char *path, const es_store_opts *opts, int64_t now_ms, es_store **out,
                  es_error *err)
{
    es_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    s->retention_ms = opts != NULL && opts->retention_ms > 0 ? opts->retention_ms
                                                             : STORE_DEFAULT_RETENTION;
    s->max_ids = opts != NULL && opts->max_ids > 0 ? opts->max_ids : STORE_DEFAULT_MAX_IDS;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        goto fail_open;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers (the spool, `earshot alerts`) never block on us.
     * synchronous=NORMAL: a WAL commit then survives a process crash, which
     * is what "kill -9 loses nothing" needs; after a power cut the last
     * commits may be lost, which only repeats work the spool dedups. */
    if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        goto fail_schema;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO seen_ids(seq, h, seen_ms) VALUES (?, ?, ?)",
                           -1, &s->put_seen, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO feed_cursor(feed, cursor, updated_ms) "
                           "VALUES (?, ?, strftime('%s','now') * 1000)",
                           -1, &s->put_cursor, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM seen_ids WHERE seq < ?", -1, &s->del_seen,
                           NULL) != SQLITE_OK) {
        goto fail_schema;
    }
    int rc = table_alloc(s);
    if (rc != 0) {
        es_error_set(err, ES_ENOMEM, 0, 0,
                     "state file '%s': no memory for the ids of %zu mentions", path, s->max_ids);
        es_store_close(s);
        return ES_ENOMEM;
    }
    rc = load(s, now_ms);
    if (rc != 0) {
        set_err(s, "loading");
        es_error_set(err, rc == ES_ENOMEM ? ES_ENOMEM : ES_ESTATE, 0, 0,
                     "state file '%s': cannot load: %s", path, sqlite3_errmsg(s->db));
        es_store_close(s);
        return rc == ES_ENOMEM ? ES_ENOMEM : ES_ESTATE;
    }
    *out = s;
    return 0;

fail_schema:
    es_error_set(err, ES_ESTATE, 0, 0, "state file '%s': %s", path, sqlite3_errmsg(s->db));
    es_store_close(s);
    return ES_ESTATE;
fail_open:
    es_error_set(err, ES_ESTATE, 0, 0, "cannot open state file '%s': %s", path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_close(s->db);
    free(s);
    return ES_ESTATE;
}

struct sqlite3 *es__store_sqlite(es_store *s)
{
    return s->db;
}

int es_store_close(es_store *s)
{
    if (s == NULL) {
        return 0;
    }
    int rc = s->put_seen != NULL ? es_store_commit(s) : 0;
    sqlite3_finalize(s->put_seen);
    sqlite3_finalize(s->put_cursor);
    sqlite3_finalize(s->del_seen);
    sqlite3_close(s->db);
    for (size_t i = 0; i < s->n_cursors; i++) {
        free(s->cursors[i].feed);
        free(s->cursors[i].value);
        free(s->cursors[i].pending);
    }
    free(s->cursors);
    free(s->set);
    free(s->ring);
    free(s);
    return rc;
}

/* ---- Cursors ---------------------------------------------------------------------- */

static cursor *find_cursor(es_store *s, const char *feed)
{
    for (size_t i = 0; i < s->n_cursors; i++) {
        if (strcmp(s->cursors[i].feed, feed) == 0) {
            return &s->cursors[i];
        }
    }
    return NULL;
}

int es_store_cursor_get(es_store *s, const char *feed, char *out, size_t cap)
{
    cursor *c = find_cursor(s, feed);
    const char *v = c != NULL ? (c->pending != NULL ? c->pending : c->value) : NULL;
    if (v == NULL) {
        return 0;
    }
    size_t n = strlen(v);
    if (n + 1 > cap) {
        return ES_ETOOBIG;
    }
    memcpy(out, v, n + 1);
    return 1;
}

int es_store_cursor_set(es_store *s, const char *feed, const char *value)
{
    if (strlen(value) > STORE_CURSOR_MAX) {
        return ES_ETOOBIG;
    }
    cursor *c = find_cursor(s, feed);
    if (c == NULL) {
        cursor *n = realloc(s->cursors, (s->n_cursors + 1) * sizeof *n);
        if (n == NULL) {
            return ES_ENOMEM;
        }
        s->cursors = n;
        c = &s->cursors[s->n_cursors];
        memset(c, 0, sizeof *c);
        if ((c->feed = strdup(feed)) == NULL) {
            return ES_ENOMEM;
        }
        s->n_cursors++;
    }
    char *v = strdup(value);
    if (v == NULL) {
        return ES_ENOMEM;
    }
    if (c->pending == NULL) {
        s->cursors_pending++;
    }
    free(c->pending);
    c->pending = v;
    return 0;
}

/* ---- Dedup ------------------------------------------------------------------------ */

int es_store_seen(es_store *s, const char *feed, const char *id, size_t id_len, int64_t now_ms)
{
    int rc = table_put(s, seen_key(feed, id, id_len), now_ms);
    if (rc == 0) {
        s->n_pend++;
    }
    return rc;
}

size_t es_store_pending(const es_store *s)
{
    return s->n_pend + s->cursors_pending;
}

size_t es_store_ids(const es_store *s)
{
    return s->count;
}

size_t es_store_max_ids(const es_store *s)
{
    return s->max_ids;
}

size_t es_store_reserved_bytes(const es_store *s)
{
    return (s->set_mask + 1) * sizeof *s->set + s->max_ids * sizeof *s->ring;
}

int es_store_commit(es_store *s)
{
    if (s->n_pend == 0 && s->cursors_pending == 0 && s->disk_head >= s->head_serial) {
        return 0;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        set_err(s, "begin");
        return ES_ESTATE;
    }
    /* New ids are appended; forgotten ones go as one range. */
    for (size_t k = s->count - s->n_pend; k < s->count; k++) {
        size_t i = s->head + k;
        const seen_entry *en = &s->ring[i >= s->max_ids ? i - s->max_ids : i];
        sqlite3_bind_int64(s->put_seen, 1, s->head_serial + (int64_t)k);
        sqlite3_bind_int64(s->put_seen, 2, (sqlite3_int64)en->h);
        sqlite3_bind_int64(s->put_seen, 3, en->ms);
        int r = sqlite3_step(s->put_seen);
        sqlite3_reset(s->put_seen);
        if (r != SQLITE_DONE) {
            goto fail;
        }
    }
    if (s->disk_head < s->head_serial) {
        sqlite3_bind_int64(s->del_seen, 1, s->head_serial);
        int r = sqlite3_step(s->del_seen);
        sqlite3_reset(s->del_seen);
        if (r != SQLITE_DONE) {
            goto fail;
        }
    }
    for (size_t i = 0; i < s->n_cursors; i++) {
        cursor *c = &s->cursors[i];
        if (c->pending == NULL) {
            continue;
        }
        sqlite3_bind_text(s->put_cursor, 1, c->feed, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->put_cursor, 2, c->pending, -1, SQLITE_STATIC);
        int r = sqlite3_step(s->put_cursor);
        sqlite3_reset(s->put_cursor);
        if (r != SQLITE_DONE) {
            goto fail;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        goto fail;
    }
    s->n_pend = 0;
    s->disk_head = s->head_serial;
    for (size_t i = 0; i < s->n_cursors; i++) {
        cursor *c = &s->cursors[i];
        if (c->pending != NULL) {
            free(c->value);
            c->value = c->pending;
            c->pending = NULL;
        }
    }
    s->cursors_pending = 0;
    return 0;

fail:
    set_err(s, "commit");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return ES_ESTATE;
}

int es_store_prune(es_store *s, int64_t now_ms)
{
    /* The row cap is kept as ids arrive (table_put); age is checked here.
     * Times along the ring never decrease, so the expired ids are the
     * oldest ones. */
    int64_t cutoff = now_ms - s->retention_ms;
    size_t dropped = 0;
    while (s->count > 0 && s->ring[s->head].ms < cutoff) {
        ring_pop(s);
        dropped++;
    }
    int rc = es_store_commit(s);
    if (rc != 0) {
        return rc;
    }
    return (int)(dropped > INT32_MAX ? INT32_MAX : dropped);
}
