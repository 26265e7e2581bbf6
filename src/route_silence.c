/*
 * The route database and silences. The database is the `state:` SQLite file
 * the spool also uses (own tables, own connection, WAL mode set by whoever
 * opens it first), so `earshot alerts silence add` in one process is seen
 * by a running engine in another: SQLite's data_version tells a connection
 * that someone else committed, and only then is the cache of active
 * silences read again.
 */
#include "route.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Matchers per silence, and silences in the cache: generous ceilings so a
 * runaway script cannot make every alert scan a million silences. */
#define MAX_SILENCE_MATCHERS 32
#define MAX_ACTIVE_SILENCES 10000

typedef struct cached_silence {
    int64_t starts_ms, ends_ms;
    es_matchers *m;
} cached_silence;

struct es_route_db {
    sqlite3 *db;
    char errmsg[256];
    /* Cache of silences that end in the future (as of the last load). */
    cached_silence *sil;
    size_t n_sil;
    bool loaded;
    bool dirty;            /* we changed the table ourselves */
    int64_t data_version;  /* PRAGMA data_version at the last load */
    sqlite3_stmt *st_version;
    bool borrowed; /* es_route_db_attach: the connection is the caller's */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS route_silences ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " matchers TEXT NOT NULL,"
    " starts_ms INTEGER NOT NULL,"
    " ends_ms INTEGER NOT NULL,"
    " comment TEXT NOT NULL DEFAULT '',"
    " created_by TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS route_silences_end ON route_silences(ends_ms);"
    "CREATE TABLE IF NOT EXISTS escalation_incidents ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " policy TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " tier INTEGER NOT NULL,"
    " opened_ms INTEGER NOT NULL,"
    " next_ms INTEGER NOT NULL DEFAULT 0,"
    " acked_ms INTEGER NOT NULL DEFAULT 0,"
    " acked_by TEXT NOT NULL DEFAULT '',"
    " resolved_ms INTEGER NOT NULL DEFAULT 0,"
    " sinks TEXT NOT NULL DEFAULT '',"
    " payload TEXT NOT NULL DEFAULT '',"
    " seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS escalation_open ON escalation_incidents(policy, grp)"
    " WHERE state < 2;"
    "CREATE INDEX IF NOT EXISTS escalation_due ON escalation_incidents(next_ms) WHERE state = 0;"
    /* Alerts waiting in a group (route.c): one row per (alert, group) not
     * yet notified, so a restarted or reloaded router gets them back.
     * AUTOINCREMENT: ids never reused, so id order is push order. */
    "CREATE TABLE IF NOT EXISTS route_waiting ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " node INTEGER NOT NULL,"
    " grp TEXT NOT NULL,"
    " pushed_ms INTEGER NOT NULL,"
    " since_ms INTEGER NOT NULL,"
    " told INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " at_verbatim INTEGER NOT NULL,"
    " doc TEXT NOT NULL,"
    " alone INTEGER NOT NULL);";

static int route_db_init(es_route_db *db, const char *path, es_error *err);

/*
 * The one connection a process shares for its state file (es_route_db_share).
 * Process-wide on purpose: the parts of `earshot run` that open the state
 * file (the router, the admin endpoint) all run on the loop thread, and a
 * second connection there would wait, on that same thread, for the write
 * lock the spool's open batch holds: a 5 s stall, then SQLITE_BUSY.
 */
static struct {
    sqlite3 *conn;
    char *path;
} shared;

void es_route_db_share(struct sqlite3 *conn, const char *path)
{
    free(shared.path);
    shared.path = conn != NULL && path != NULL ? strdup(path) : NULL;
    shared.conn = shared.path != NULL ? conn : NULL;
}

int es_route_db_open(const char *path, es_route_db **out, es_error *err)
{
    if (shared.conn != NULL && strcmp(path, shared.path) == 0) {
        return es_route_db_attach(shared.conn, out, err);
    }
    *out = NULL;
    es_route_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        es_error_set(err, ES_ESTATE, 0, 0, "cannot open state database %s: %s", path,
                     db->db != NULL ? sqlite3_errmsg(db->db) : "out of memory");
        goto fail;
    }
    /* The spool and the engine write the same file; wait for them rather
     * than fail on a momentary lock. */
    sqlite3_busy_timeout(db->db, 5000);
    char *msg = NULL;
    if (strcmp(path, ":memory:") != 0 &&
        sqlite3_exec(db->db, "PRAGMA journal_mode = WAL;", NULL, NULL, &msg) != SQLITE_OK) {
        es_error_set(err, ES_ESTATE, 0, 0, "state database %s: %s", path,
                     msg != NULL ? msg : "cannot set WAL mode");
        sqlite3_free(msg);
        goto fail;
    }
    if (route_db_init(db, path, err) != 0) {
        goto fail;
    }
    *out = db;
    return 0;
fail:
    es_route_db_close(db);
    return err != NULL ? err->code : ES_ESTATE;
}

/* The tables and the statement every connection needs. */
static int route_db_init(es_route_db *db, const char *path, es_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        es_error_set(err, ES_ESTATE, 0, 0, "state database %s: %s", path,
                     msg != NULL ? msg : "cannot create the routing tables");
        sqlite3_free(msg);
        return ES_ESTATE;
    }
    if (sqlite3_prepare_v2(db->db, "PRAGMA data_version", -1, &db->st_version, NULL) !=
        SQLITE_OK) {
        return es_error_set(err, ES_ESTATE, 0, 0, "state database %s: %s", path,
                            sqlite3_errmsg(db->db));
    }
    return 0;
}

int es_route_db_attach(struct sqlite3 *conn, es_route_db **out, es_error *err)
{
    *out = NULL;
    es_route_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    db->db = conn;
    db->borrowed = true;
    int rc = route_db_init(db, sqlite3_db_filename(conn, "main"), err);
    if (rc != 0) {
        es_route_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

static void drop_cache(es_route_db *db)
{
    for (size_t i = 0; i < db->n_sil; i++) {
        es_matchers_free(db->sil[i].m);
    }
    free(db->sil);
    db->sil = NULL;
    db->n_sil = 0;
    db->loaded = false;
}

void es_route_db_close(es_route_db *db)
{
    if (db == NULL) {
        return;
    }
    drop_cache(db);
    sqlite3_finalize(db->st_version);
    if (!db->borrowed) {
        sqlite3_close(db->db);
    }
    free(db);
}

const char *es_route_db_errmsg(const es_route_db *db)
{
    return db->db != NULL ? sqlite3_errmsg(db->db) : "no database";
}

struct sqlite3 *es__route_db_sqlite(es_route_db *db)
{
    return db->db;
}

/* Split "a\nb\nc" into at most max strings (pointers into a copy). */
static size_t split_lines(char *s, const char **out, size_t max)
{
    size_t n = 0;
    while (*s != '\0' && n < max) {
        out[n++] = s;
        char *nl = strchr(s, '\n');
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

int es_silence_add(es_route_db *db, const char *const *matchers, size_t n, int64_t starts_ms,
                   int64_t ends_ms, const char *comment, const char *created_by, int64_t now_ms,
                   int64_t *id, es_error *err)
{
    if (n == 0) {
        return es_error_set(err, ES_EINVAL, 0, 0,
                            "a silence needs at least one matcher, e.g. topic=\"acme\"");
    }
    if (n > MAX_SILENCE_MATCHERS) {
        return es_error_set(err, ES_ETOOBIG, 0, 0, "a silence takes at most %d matchers",
                            MAX_SILENCE_MATCHERS);
    }
    if (ends_ms <= starts_ms) {
        return es_error_set(err, ES_EINVAL, 0, 0, "a silence must end after it starts");
    }
    es_matchers *m = NULL;
    size_t bad = 0;
    int rc = es_matchers_parse(matchers, n, &m, &bad, err);
    if (rc != 0) {
        if (err != NULL) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "matcher %zu '%.200s', column %d: %.250s", bad + 1, matchers[bad],
                     err->col, err->msg);
            snprintf(err->msg, sizeof err->msg, "%s", msg);
        }
        return rc;
    }
    es_matchers_free(m);
    es_buf text;
    es_buf_init(&text, 64 * 1024);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strchr(matchers[i], '\n') != NULL) {
            rc = ES_EINVAL;
            break;
        }
        rc = i ? es_buf_addc(&text, '\n') : 0;
        rc = rc ? rc : es_buf_adds(&text, matchers[i]);
    }
    if (rc != 0) {
        es_buf_free(&text);
        return es_error_set(err, rc, 0, 0, "matchers too long or containing a newline");
    }
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db->db,
                            "INSERT INTO route_silences(matchers, starts_ms, ends_ms, comment,"
                            " created_by, created_ms) VALUES(?,?,?,?,?,?)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text.data, (int)text.len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, starts_ms);
        sqlite3_bind_int64(st, 3, ends_ms);
        sqlite3_bind_text(st, 4, comment != NULL ? comment : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, created_by != NULL ? created_by : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, now_ms);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    es_buf_free(&text);
    if (rc != SQLITE_DONE) {
        return es_error_set(err, ES_ESTATE, 0, 0, "cannot save the silence: %s",
                            sqlite3_errmsg(db->db));
    }
    if (id != NULL) {
        *id = sqlite3_last_insert_rowid(db->db);
    }
    db->dirty = true;
    return 0;
}

int es_silence_expire(es_route_db *db, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, "SELECT ends_ms FROM route_silences WHERE id = ?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    int64_t ends = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return ES_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        return ES_ESTATE;
    }
    if (ends <= now_ms) {
        return 1;
    }
    if (sqlite3_prepare_v2(db->db, "UPDATE route_silences SET ends_ms = ? WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    db->dirty = true;
    return rc == SQLITE_DONE ? 0 : ES_ESTATE;
}

int es_silence_list(es_route_db *db, int64_t now_ms, bool all,
                    int (*cb)(void *ud, const es_silence *s), void *ud)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT id, matchers, starts_ms, ends_ms, comment, created_by,"
                           " created_ms FROM route_silences WHERE ? OR ends_ms > ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int(st, 1, all ? 1 : 0);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc, out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_silence s = {
            .id = sqlite3_column_int64(st, 0),
            .matchers = (const char *)sqlite3_column_text(st, 1),
            .starts_ms = sqlite3_column_int64(st, 2),
            .ends_ms = sqlite3_column_int64(st, 3),
            .comment = (const char *)sqlite3_column_text(st, 4),
            .created_by = (const char *)sqlite3_column_text(st, 5),
            .created_ms = sqlite3_column_int64(st, 6),
        };
        if ((out = cb(ud, &s)) != 0) {
            break;
        }
    }
    if (out == 0 && rc != SQLITE_DONE) {
        out = ES_ESTATE;
    }
    sqlite3_finalize(st);
    return out;
}

/* Read every silence that has not ended by now into the cache. */
static int load_cache(es_route_db *db, int64_t now_ms)
{
    drop_cache(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT matchers, starts_ms, ends_ms FROM route_silences"
                           " WHERE ends_ms > ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, MAX_ACTIVE_SILENCES);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        char *copy = strdup(text != NULL ? text : "");
        const char *parts[MAX_SILENCE_MATCHERS];
        size_t n = copy != NULL ? split_lines(copy, parts, MAX_SILENCE_MATCHERS) : 0;
        es_matchers *m = NULL;
        size_t bad;
        /* A row another version wrote and this one cannot read is skipped,
         * not fatal: one bad silence must not stop routing. */
        if (n > 0 && es_matchers_parse(parts, n, &m, &bad, NULL) == 0) {
            if (db->n_sil == cap) {
                size_t nc = cap ? cap * 2 : 16;
                cached_silence *ns = realloc(db->sil, nc * sizeof *ns);
                if (ns == NULL) {
                    es_matchers_free(m);
                    free(copy);
                    rc = SQLITE_NOMEM;
                    break;
                }
                db->sil = ns;
                cap = nc;
            }
            db->sil[db->n_sil++] = (cached_silence){sqlite3_column_int64(st, 1),
                                                    sqlite3_column_int64(st, 2), m};
        }
        free(copy);
    }
    sqlite3_finalize(st);
    db->loaded = true;
    db->dirty = false;
    return rc == SQLITE_DONE ? 0 : ES_ESTATE;
}

static int64_t data_version(es_route_db *db)
{
    int64_t v = -1;
    if (sqlite3_step(db->st_version) == SQLITE_ROW) {
        v = sqlite3_column_int64(db->st_version, 0);
    }
    sqlite3_reset(db->st_version);
    return v;
}

bool es__route_db_silenced(es_route_db *db, const char *const *values, int64_t now_ms)
{
    int64_t v = data_version(db);
    if (!db->loaded || db->dirty || v != db->data_version) {
        db->data_version = v;
        load_cache(db, now_ms);
    }
    for (size_t i = 0; i < db->n_sil; i++) {
        const cached_silence *s = &db->sil[i];
        if (now_ms >= s->starts_ms && now_ms < s->ends_ms && es_matchers_match(s->m, values)) {
            return true;
        }
    }
    return false;
}
