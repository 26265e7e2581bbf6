/* Feed cursors and recently seen ids in SQLite. See store.h. */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_CURSOR_MAX 4096
#define STORE_DEFAULT_RETENTION (7LL * 24 * 3600 * 1000)
#define STORE_DEFAULT_MAX_IDS 2000000u

typedef struct seen_slot {
    uint64_t h; /* 0: empty */
    int64_t ms;
} seen_slot;

typedef struct cursor {
    char *feed;
    char *value;  /* committed (or loaded) value; NULL: none */
    char *pending; /* set since the last commit; NULL: none */
} cursor;

struct es_store {
    sqlite3 *db;
    sqlite3_stmt *put_seen, *put_cursor, *del_seen;
    int64_t retention_ms;
    size_t max_ids;
    /* The dedup table: open addressing with linear probing, power-of-two
     * size, at most half full. */
    seen_slot *slots;
    size_t cap, count;
    /* Ids recorded since the last commit. */
    seen_slot *pend;
    size_t n_pend, cap_pend;
    cursor *cursors;
    size_t n_cursors;
    size_t cursors_pending;
    char errmsg[256];
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS feed_cursor ("
    "  feed TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS feed_seen ("
    "  h INTEGER PRIMARY KEY, seen_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS feed_seen_ms ON feed_seen(seen_ms);";

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

/* ---- The in-memory table ----------------------------------------------------- */

static int table_resize(es_store *s, size_t cap)
{
    seen_slot *n = calloc(cap, sizeof *n);
    if (n == NULL) {
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].h != 0) {
            size_t j = (size_t)s->slots[i].h & (cap - 1);
            while (n[j].h != 0) {
                j = (j + 1) & (cap - 1);
            }
            n[j] = s->slots[i];
        }
    }
    free(s->slots);
    s->slots = n;
    s->cap = cap;
    return 0;
}

/* Insert or find. Returns 1 if present (ms left alone), 0 if inserted. */
static int table_put(es_store *s, uint64_t h, int64_t ms)
{
    if ((s->count + 1) * 2 > s->cap) {
        int rc = table_resize(s, s->cap ? s->cap * 2 : 1024);
        if (rc != 0) {
            return rc;
        }
    }
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slots[j].h != 0) {
        if (s->slots[j].h == h) {
            return 1;
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j].h = h;
    s->slots[j].ms = ms;
    s->count++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Rebuild keeping entries seen at or after `cutoff`. Rebuilding (rather
 * than deleting in place) keeps linear probing free of tombstones. */
static int table_keep_since(es_store *s, int64_t cutoff, size_t *dropped)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->cap; i++) {
        keep += s->slots[i].h != 0 && s->slots[i].ms >= cutoff;
    }
    *dropped = s->count - keep;
    if (*dropped == 0) {
        return 0;
    }
    size_t cap = 1024;
    while (cap < keep * 2 + 2) {
        cap *= 2;
    }
    seen_slot *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = calloc(cap, sizeof *s->slots);
    if (s->slots == NULL) {
        s->slots = old;
        *dropped = 0;
        return ES_ENOMEM;
    }
    s->cap = cap;
    s->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].h != 0 && old[i].ms >= cutoff) {
            (void)table_put(s, old[i].h, old[i].ms);
        }
    }
    free(old);
    return 0;
}

/* ---- Open and close ------------------------------------------------------------ */

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
    if (sqlite3_prepare_v2(s->db, "SELECT h, seen_ms FROM feed_seen WHERE seen_ms >= ?", -1, &st,
                           NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int64(st, 1, now_ms - s->retention_ms);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = table_put(s, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
        rc = rc > 0 ? 0 : rc;
    }
    sqlite3_finalize(st);
    return rc;
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
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO feed_seen(h, seen_ms) VALUES (?, ?)",
                           -1, &s->put_seen, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO feed_cursor(feed, cursor, updated_ms) "
                           "VALUES (?, ?, strftime('%s','now') * 1000)",
                           -1, &s->put_cursor, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM feed_seen WHERE seen_ms < ?", -1, &s->del_seen,
                           NULL) != SQLITE_OK) {
        goto fail_schema;
    }
    int rc = load(s, now_ms);
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
    free(s->slots);
    free(s->pend);
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
    uint64_t h = seen_key(feed, id, id_len);
    if (s->n_pend == s->cap_pend) {
        size_t nc = s->cap_pend ? s->cap_pend * 2 : 256;
        seen_slot *n = realloc(s->pend, nc * sizeof *n);
        if (n == NULL) {
            return ES_ENOMEM;
        }
        s->pend = n;
        s->cap_pend = nc;
    }
    int rc = table_put(s, h, now_ms);
    if (rc == 0) {
        s->pend[s->n_pend++] = (seen_slot){h, now_ms};
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

int es_store_commit(es_store *s)
{
    if (s->n_pend == 0 && s->cursors_pending == 0) {
        return 0;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        set_err(s, "begin");
        return ES_ESTATE;
    }
    for (size_t i = 0; i < s->n_pend; i++) {
        sqlite3_bind_int64(s->put_seen, 1, (sqlite3_int64)s->pend[i].h);
        sqlite3_bind_int64(s->put_seen, 2, s->pend[i].ms);
        int r = sqlite3_step(s->put_seen);
        sqlite3_reset(s->put_seen);
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
    int64_t cutoff = now_ms - s->retention_ms;
    if (s->count > s->max_ids) {
        /* Over the row cap: find the time that keeps the newest max_ids. */
        int64_t *ms = malloc(s->count * sizeof *ms);
        if (ms != NULL) {
            size_t k = 0;
            for (size_t i = 0; i < s->cap; i++) {
                if (s->slots[i].h != 0) {
                    ms[k++] = s->slots[i].ms;
                }
            }
            qsort(ms, k, sizeof *ms, cmp_i64);
            int64_t c2 = ms[k - s->max_ids];
            if (c2 > cutoff) {
                cutoff = c2;
            }
            free(ms);
        }
    }
    /* Commit first, so the DELETE below sees every recorded id. */
    int rc = es_store_commit(s);
    if (rc != 0) {
        return rc;
    }
    size_t dropped = 0;
    rc = table_keep_since(s, cutoff, &dropped);
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(s->del_seen, 1, cutoff);
    int r = sqlite3_step(s->del_seen);
    sqlite3_reset(s->del_seen);
    if (r != SQLITE_DONE) {
        set_err(s, "prune");
        return ES_ESTATE;
    }
    return (int)(dropped > INT32_MAX ? INT32_MAX : dropped);
}
