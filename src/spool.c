/*
 * The alert spool in SQLite.
 *
 * Why WAL and synchronous=NORMAL: WAL lets `earshot alerts list` read while
 * the engine writes, and makes each commit one append to the log. In WAL
 * mode, NORMAL skips the fsync at each commit and syncs at checkpoints
 * instead. A commit is in the log (the OS page cache) when COMMIT returns,
 * so a process crash or kill -9 loses nothing; only an OS crash or power
 * loss can lose the last transactions. That loss cannot break the rule the
 * spool exists for (a feed cursor is never durable before its alerts): the
 * feed cursors and seen ids (store.c) live in the SAME database file and
 * WAL, always committed after the alerts of their mentions, and WAL
 * recovery keeps a prefix of the log (each frame's checksum chains over
 * the frames before it), so the power loss that drops an alert also drops
 * the cursor behind it and the mention is read again after the reboot.
 * What NORMAL can cost is a repeat (a lost "done" mark), which at-least-once
 * delivery allows. FULL cost one fsync per commit: ~100-1,000 alerts/s on
 * the shared disk, far below the 20,000 mentions/s (one alert each) the
 * engine must keep up with.
 *
 * Batching: es_spool_batch() opens a transaction that the writes after it
 * join until es_spool_flush() commits them, so the engine pays one commit
 * per turn of its loop instead of three per alert. Functions that need
 * their own transaction (retry, dead, replay) nest as a savepoint inside
 * an open batch.
 *
 * Every statement is prepared once at open and reused.
 *
 * Changing the schema? Bump user_version and add a migration in migrate().
 */
#include "spool.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    Q_ENQUEUE,
    Q_CLAIM,
    Q_CLAIM_ANY,
    Q_DONE,
    Q_GET,
    Q_RESCHEDULE,
    Q_TO_DEAD,
    Q_DELETE,
    Q_RECOVER,
    Q_REPLAY,
    Q_REPLAY_DELETE,
    Q_NEXT_DUE,
    Q_PRUNE_AGE,
    Q_PRUNE_RANGE,
    Q_ID_RANGE,
    Q_MARK_DONE,
    Q_ENQUEUE_DONE,
    Q_REQUEUE,
    Q__COUNT
};

static const char *const queries[Q__COUNT] = {
    [Q_ENQUEUE] =
        "INSERT INTO spool(sink, key, payload, state, attempts, created_at, next_attempt_at,"
        " updated_at) SELECT ?1, ?2, ?3, 0, 0, ?4, ?4, ?4"
        " WHERE NOT EXISTS (SELECT 1 FROM spool_dead WHERE sink = ?1 AND key = ?2)"
        " ON CONFLICT(sink, key) DO NOTHING",
    /* A claimed row's next_attempt_at is its lease expiry, so one range
     * over the partial index finds both due and abandoned rows. */
    [Q_CLAIM] = "UPDATE spool SET state = 1, attempts = attempts + 1, next_attempt_at = ?2 + ?3,"
                " updated_at = ?2 WHERE id = (SELECT id FROM spool WHERE sink = ?1 AND state < 2"
                " AND next_attempt_at <= ?2 ORDER BY next_attempt_at, id LIMIT 1)"
                " RETURNING id, sink, key, payload, attempts, created_at, next_attempt_at,"
                " updated_at, last_error",
    [Q_CLAIM_ANY] =
        "UPDATE spool SET state = 1, attempts = attempts + 1, next_attempt_at = ?2 + ?3,"
        " updated_at = ?2 WHERE id = (SELECT id FROM spool WHERE state < 2"
        " AND next_attempt_at <= ?2 ORDER BY next_attempt_at, id LIMIT 1)"
        " RETURNING id, sink, key, payload, attempts, created_at, next_attempt_at,"
        " updated_at, last_error",
    [Q_DONE] = "UPDATE spool SET state = 2, updated_at = ?2, last_error = NULL WHERE id = ?1",
    [Q_GET] = "SELECT attempts, created_at FROM spool WHERE id = ?1",
    [Q_RESCHEDULE] = "UPDATE spool SET state = 0, next_attempt_at = ?2, updated_at = ?3,"
                     " last_error = ?4 WHERE id = ?1",
    [Q_TO_DEAD] =
        "INSERT INTO spool_dead(sink, key, payload, attempts, created_at, died_at, last_error)"
        " SELECT sink, key, payload, attempts, created_at, ?2, ?3 FROM spool WHERE id = ?1"
        " ON CONFLICT(sink, key) DO UPDATE SET died_at = excluded.died_at,"
        " last_error = excluded.last_error, attempts = excluded.attempts",
    [Q_DELETE] = "DELETE FROM spool WHERE id = ?1",
    [Q_RECOVER] = "UPDATE spool SET state = 0, next_attempt_at = ?1 WHERE state = 1",
    /* Fresh attempts and a fresh age, or max_age would kill it at once. */
    [Q_REPLAY] =
        "INSERT INTO spool(sink, key, payload, state, attempts, created_at, next_attempt_at,"
        " updated_at, last_error) SELECT sink, key, payload, 0, 0, ?3, ?3, ?3, last_error"
        " FROM spool_dead WHERE (?1 < 0 OR id = ?1) AND (?2 IS NULL OR sink = ?2)"
        " ORDER BY id ON CONFLICT(sink, key) DO NOTHING",
    [Q_REPLAY_DELETE] =
        "DELETE FROM spool_dead WHERE (?1 < 0 OR id = ?1) AND (?2 IS NULL OR sink = ?2)",
    [Q_NEXT_DUE] = "SELECT MIN(next_attempt_at) FROM spool WHERE state < 2"
                   " AND (?1 IS NULL OR sink = ?1)",
    /* Pruning, a bounded step at a time (es_spool_prune): the oldest done
     * rows through the spool_done index, and done rows in a window of row
     * ids (a range of the table's own b-tree). */
    [Q_PRUNE_AGE] = "DELETE FROM spool WHERE id IN (SELECT id FROM spool WHERE state = 2"
                    " AND updated_at < ?1 ORDER BY updated_at LIMIT ?2)",
    [Q_PRUNE_RANGE] = "DELETE FROM spool WHERE id >= ?1 AND id <= ?2 AND state = 2",
    [Q_ID_RANGE] = "SELECT (SELECT MIN(id) FROM spool), (SELECT MAX(id) FROM spool)",
    /* Known delivered from the receiver's side: an undelivered row becomes
     * done, and an unknown key is remembered as done so that enqueueing it
     * later is a repeat. The payload is not needed for a done row. */
    [Q_MARK_DONE] =
        "INSERT INTO spool(sink, key, payload, state, attempts, created_at, next_attempt_at,"
        " updated_at) VALUES (?1, ?2, '{}', 2, 1, ?3, ?3, ?3)"
        " ON CONFLICT(sink, key) DO UPDATE SET state = 2, updated_at = ?3, last_error = NULL"
        " WHERE state < 2",
    /* Delivered at once: a done row without the payload (a file sink at
     * 20,000 alerts/s wrote ~20 MB/s of JSON that nothing reads again). */
    [Q_ENQUEUE_DONE] =
        "INSERT INTO spool(sink, key, payload, state, attempts, created_at, next_attempt_at,"
        " updated_at) SELECT ?1, ?2, '{}', 2, 1, ?3, ?3, ?3"
        " WHERE NOT EXISTS (SELECT 1 FROM spool_dead WHERE sink = ?1 AND key = ?2)"
        " ON CONFLICT(sink, key) DO NOTHING",
    [Q_REQUEUE] = "UPDATE spool SET state = 0, payload = ?2, attempts = 0, next_attempt_at = ?3,"
                  " updated_at = ?3, last_error = NULL WHERE id = ?1",
};

struct es_spool {
    sqlite3 *db;
    sqlite3_stmt *q[Q__COUNT];
    bool nested; /* begin() made a savepoint inside a batch */
    int64_t prune_from; /* the count prune's next row id (es_spool_prune) */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS spool ("
    " id INTEGER PRIMARY KEY,"
    " sink TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " state INTEGER NOT NULL," /* 0 pending, 1 in flight, 2 done */
    " attempts INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " next_attempt_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " UNIQUE (sink, key));"
    "CREATE INDEX IF NOT EXISTS spool_due ON spool(sink, next_attempt_at) WHERE state < 2;"
    "CREATE INDEX IF NOT EXISTS spool_due_any ON spool(next_attempt_at) WHERE state < 2;"
    /* The done rows by age, so pruning them by age reads only what it
     * deletes. New done rows go in at its end (updated_at is now): one page
     * per commit, not one per row. Created on the first open of an older
     * spool; an older earshot keeps it up to date without knowing it, so
     * the schema version stays. */
    "CREATE INDEX IF NOT EXISTS spool_done ON spool(updated_at) WHERE state = 2;"
    "CREATE TABLE IF NOT EXISTS spool_dead ("
    " id INTEGER PRIMARY KEY,"
    " sink TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " died_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " UNIQUE (sink, key));";

#define SPOOL_SCHEMA_VERSION 1

static const char *const state_names[] = {"pending", "in_flight", "done", "dead"};

const char *es_spool_state_name(es_spool_state st)
{
    return st >= 0 && st <= ES_SPOOL_DEAD ? state_names[st] : "any";
}

const char *es_spool_errmsg(const es_spool *sp)
{
    return sp != NULL && sp->db != NULL ? sqlite3_errmsg(sp->db) : "no database";
}

static int db_fail(es_spool *sp)
{
    (void)sp;
    return ES_ESTATE;
}

static int migrate(sqlite3 *db, es_error *err)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            version = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    if (version > SPOOL_SCHEMA_VERSION) {
        return es_error_set(err, ES_ESTATE, 0, 0,
                            "spool schema version %d is newer than this earshot (%d)", version,
                            SPOOL_SCHEMA_VERSION);
    }
    char *msg = NULL;
    if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, &msg) != SQLITE_OK) {
        es_error_set(err, ES_ESTATE, 0, 0, "spool schema: %s", msg != NULL ? msg : "?");
        sqlite3_free(msg);
        return ES_ESTATE;
    }
    return 0;
}

int es_spool_open(const char *path, es_spool **out, es_error *err)
{
    es_spool *sp = calloc(1, sizeof *sp);
    if (sp == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    int rc;
    if (sqlite3_open_v2(path, &sp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = es_error_set(err, ES_ESTATE, 0, 0, "cannot open spool '%s': %s", path,
                          sp->db != NULL ? sqlite3_errmsg(sp->db) : "out of memory");
        goto fail_open;
    }
    /* Another process (the CLI) may hold the lock for a moment. */
    sqlite3_busy_timeout(sp->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(sp->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        rc = es_error_set(err, ES_ESTATE, 0, 0, "spool '%s': %s", path, msg != NULL ? msg : "?");
        sqlite3_free(msg);
        goto fail_open;
    }
    rc = migrate(sp->db, err);
    if (rc != 0) {
        goto fail_open;
    }
    for (int i = 0; i < Q__COUNT; i++) {
        if (sqlite3_prepare_v3(sp->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &sp->q[i],
                               NULL) != SQLITE_OK) {
            rc = es_error_set(err, ES_ESTATE, 0, 0, "spool '%s': preparing query %d: %s", path, i,
                              sqlite3_errmsg(sp->db));
            goto fail_prepare;
        }
    }
    *out = sp;
    return 0;

fail_prepare:
    for (int i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(sp->q[i]);
    }
fail_open:
    sqlite3_close(sp->db);
    free(sp);
    return rc;
}

void es_spool_close(es_spool *sp)
{
    if (sp == NULL) {
        return;
    }
    (void)es_spool_flush(sp); /* a batch still open is committed, not lost */
    for (int i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(sp->q[i]);
    }
    sqlite3_close(sp->db);
    free(sp);
}

void es_spool_item_init(es_spool_item *it)
{
    memset(it, 0, sizeof *it);
    /* A row holds one notification; the spool never writes one larger than
     * the sinks' request ceiling. */
    es_buf_init(&it->mem, 32u << 20);
}

void es_spool_item_free(es_spool_item *it)
{
    es_buf_free(&it->mem);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

/* Run a statement that returns no rows; always resets it. */
static int exec_stmt(es_spool *sp, sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r == SQLITE_DONE ? 0 : db_fail(sp);
}

int es_spool_enqueue(es_spool *sp, const char *sink, const char *key, const char *payload,
                     size_t payload_len, int64_t now_ms)
{
    if (payload_len > (size_t)INT32_MAX) {
        return ES_ETOOBIG;
    }
    sqlite3_stmt *st = sp->q[Q_ENQUEUE];
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, payload, (int)payload_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    int rc = exec_stmt(sp, st);
    if (rc != 0) {
        return rc;
    }
    return sqlite3_changes(sp->db) == 1 ? 0 : 1;
}

/* Run one of the statements that take (sink, key, now): the rows it
 * changed, or a negative code. */
static int exec_sink_key(es_spool *sp, int q, const char *sink, const char *key, int64_t now_ms)
{
    sqlite3_stmt *st = sp->q[q];
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int rc = exec_stmt(sp, st);
    return rc ? rc : sqlite3_changes(sp->db);
}

int es_spool_enqueue_done(es_spool *sp, const char *sink, const char *key, int64_t now_ms)
{
    int n = exec_sink_key(sp, Q_ENQUEUE_DONE, sink, key, now_ms);
    return n < 0 ? n : n == 1 ? 0 : 1;
}

int es_spool_requeue(es_spool *sp, int64_t id, const char *payload, size_t payload_len,
                     int64_t now_ms)
{
    if (payload_len > (size_t)INT32_MAX) {
        return ES_ETOOBIG;
    }
    sqlite3_stmt *st = sp->q[Q_REQUEUE];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, payload, (int)payload_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int rc = exec_stmt(sp, st);
    return rc ? rc : sqlite3_changes(sp->db) == 1 ? 0 : ES_ENOTFOUND;
}

struct sqlite3 *es__spool_sqlite(es_spool *sp)
{
    return sp->db;
}

int64_t es_spool_last_id(const es_spool *sp)
{
    return sqlite3_last_insert_rowid(sp->db);
}

/* Copy a row (id, sink, key, payload, attempts, created, next, updated,
 * error) into the item's own memory. */
static int fill_item(sqlite3_stmt *st, es_spool_item *it, es_spool_state state)
{
    const char *sink = (const char *)sqlite3_column_text(st, 1);
    int sink_n = sqlite3_column_bytes(st, 1);
    const char *key = (const char *)sqlite3_column_text(st, 2);
    int key_n = sqlite3_column_bytes(st, 2);
    const char *payload = (const char *)sqlite3_column_text(st, 3);
    int payload_n = sqlite3_column_bytes(st, 3);
    const char *error = (const char *)sqlite3_column_text(st, 8);
    int error_n = error != NULL ? sqlite3_column_bytes(st, 8) : 0;
    if (sink == NULL || key == NULL || payload == NULL) {
        return ES_ESTATE;
    }
    es_buf_reset(&it->mem);
    int rc = es_buf_reserve(&it->mem, (size_t)sink_n + key_n + payload_n + error_n + 4);
    if (rc != 0) {
        return rc;
    }
    size_t off_sink = it->mem.len;
    es_buf_add(&it->mem, sink, (size_t)sink_n);
    es_buf_addc(&it->mem, '\0');
    size_t off_key = it->mem.len;
    es_buf_add(&it->mem, key, (size_t)key_n);
    es_buf_addc(&it->mem, '\0');
    size_t off_payload = it->mem.len;
    es_buf_add(&it->mem, payload, (size_t)payload_n);
    es_buf_addc(&it->mem, '\0');
    size_t off_error = it->mem.len;
    es_buf_add(&it->mem, error != NULL ? error : "", (size_t)error_n);
    /* Reserved up front, so no pointer moved while copying. */
    it->sink = it->mem.data + off_sink;
    it->key = it->mem.data + off_key;
    it->payload = it->mem.data + off_payload;
    it->payload_len = (size_t)payload_n;
    it->last_error = it->mem.data + off_error;
    it->id = sqlite3_column_int64(st, 0);
    it->attempts = sqlite3_column_int(st, 4);
    it->created_ms = sqlite3_column_int64(st, 5);
    it->next_attempt_ms = sqlite3_column_int64(st, 6);
    it->updated_ms = sqlite3_column_int64(st, 7);
    it->state = state;
    return 0;
}

int es_spool_claim(es_spool *sp, const char *sink, int64_t now_ms, int64_t lease_ms,
                   es_spool_item *it)
{
    sqlite3_stmt *st = sp->q[sink != NULL ? Q_CLAIM : Q_CLAIM_ANY];
    bind_text_or_null(st, 1, sink);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, lease_ms > 0 ? lease_ms : 1);
    int r = sqlite3_step(st);
    int rc = 0;
    if (r == SQLITE_ROW) {
        rc = fill_item(st, it, ES_SPOOL_INFLIGHT);
        rc = rc ? rc : 1;
        /* The UPDATE commits when the statement finishes. */
        r = sqlite3_step(st);
    }
    if (r != SQLITE_DONE) {
        rc = db_fail(sp);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int es_spool_done(es_spool *sp, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *st = sp->q[Q_DONE];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = exec_stmt(sp, st);
    return rc ? rc : sqlite3_changes(sp->db) == 1 ? 0 : ES_ENOTFOUND;
}

/* A unit of work that must apply whole: its own transaction, or a
 * savepoint inside the caller's open batch (which it must not end). */
static int begin(es_spool *sp)
{
    const char *sql = sqlite3_get_autocommit(sp->db) ? "BEGIN IMMEDIATE" : "SAVEPOINT unit";
    if (sqlite3_exec(sp->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return db_fail(sp);
    }
    sp->nested = sql[0] == 'S';
    return 0;
}

static int finish(es_spool *sp, int rc)
{
    if (sp->nested) {
        sp->nested = false;
        if (rc != 0) {
            sqlite3_exec(sp->db, "ROLLBACK TO unit", NULL, NULL, NULL);
        }
        if (sqlite3_exec(sp->db, "RELEASE unit", NULL, NULL, NULL) != SQLITE_OK && rc == 0) {
            rc = db_fail(sp);
        }
        return rc;
    }
    if (rc == 0 && sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        return 0;
    }
    sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
    return rc != 0 ? rc : db_fail(sp);
}

int es_spool_batch(es_spool *sp)
{
    if (!sqlite3_get_autocommit(sp->db)) {
        return 0; /* already in one */
    }
    /* IMMEDIATE takes the write lock now, so a CLI writer waits for us (or
     * we for it, through the busy timeout) instead of failing half-way. */
    return sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                                  : db_fail(sp);
}

int es_spool_flush(es_spool *sp)
{
    if (sqlite3_get_autocommit(sp->db)) {
        return 0;
    }
    if (sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        return 0;
    }
    /* SQLITE_BUSY on COMMIT leaves the transaction open: a reader holds the
     * WAL back for a moment. The next flush tries again; nothing is lost
     * in the meantime, it is only not yet durable. */
    return db_fail(sp);
}

bool es_spool_in_batch(const es_spool *sp)
{
    return !sqlite3_get_autocommit(sp->db);
}

/* Move row `id` to the dead letters; inside the caller's transaction. */
static int to_dead(es_spool *sp, int64_t id, int64_t now_ms, const char *error)
{
    sqlite3_stmt *st = sp->q[Q_TO_DEAD];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    bind_text_or_null(st, 3, error);
    int rc = exec_stmt(sp, st);
    if (rc == 0) {
        st = sp->q[Q_DELETE];
        sqlite3_bind_int64(st, 1, id);
        rc = exec_stmt(sp, st);
    }
    return rc;
}

int es_spool_retry(es_spool *sp, int64_t id, int64_t now_ms, int64_t next_ms, const char *error,
                   const es_spool_limits *lim)
{
    es_spool_limits def = {12, 86400000};
    if (lim == NULL) {
        lim = &def;
    }
    int rc = begin(sp);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *st = sp->q[Q_GET];
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    int attempts = r == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    int64_t created = r == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (r != SQLITE_ROW) {
        return finish(sp, r == SQLITE_DONE ? ES_ENOTFOUND : db_fail(sp));
    }
    bool used_up = attempts >= (lim->max_attempts > 0 ? lim->max_attempts : 1) ||
                   (lim->max_age_ms > 0 && now_ms - created >= lim->max_age_ms);
    if (used_up) {
        rc = to_dead(sp, id, now_ms, error);
    } else {
        st = sp->q[Q_RESCHEDULE];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, next_ms);
        sqlite3_bind_int64(st, 3, now_ms);
        bind_text_or_null(st, 4, error);
        rc = exec_stmt(sp, st);
    }
    rc = finish(sp, rc);
    return rc != 0 ? rc : used_up ? 1 : 0;
}

int es_spool_dead(es_spool *sp, int64_t id, int64_t now_ms, const char *error)
{
    int rc = begin(sp);
    if (rc != 0) {
        return rc;
    }
    rc = to_dead(sp, id, now_ms, error);
    if (rc == 0 && sqlite3_changes(sp->db) != 1) {
        rc = ES_ENOTFOUND;
    }
    return finish(sp, rc);
}

int es_spool_recover(es_spool *sp, int64_t now_ms)
{
    sqlite3_stmt *st = sp->q[Q_RECOVER];
    sqlite3_bind_int64(st, 1, now_ms);
    int rc = exec_stmt(sp, st);
    return rc ? rc : sqlite3_changes(sp->db);
}

int es_spool_replay(es_spool *sp, int64_t dead_id, const char *sink, int64_t now_ms)
{
    int rc = begin(sp);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *st = sp->q[Q_REPLAY];
    sqlite3_bind_int64(st, 1, dead_id);
    bind_text_or_null(st, 2, sink);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = exec_stmt(sp, st);
    int n = 0;
    if (rc == 0) {
        st = sp->q[Q_REPLAY_DELETE];
        sqlite3_bind_int64(st, 1, dead_id);
        bind_text_or_null(st, 2, sink);
        rc = exec_stmt(sp, st);
        n = sqlite3_changes(sp->db);
    }
    rc = finish(sp, rc);
    return rc != 0 ? rc : n;
}

int es_spool_next_due(es_spool *sp, const char *sink, int64_t *when)
{
    sqlite3_stmt *st = sp->q[Q_NEXT_DUE];
    bind_text_or_null(st, 1, sink);
    int r = sqlite3_step(st);
    int rc;
    if (r == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *when = sqlite3_column_int64(st, 0);
        rc = 1;
    } else {
        rc = r == SQLITE_ROW || r == SQLITE_DONE ? 0 : db_fail(sp);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int es_spool_count(es_spool *sp, es_spool_state stt, const char *sink, int64_t *n)
{
    const char *sql = stt == ES_SPOOL_DEAD
                          ? "SELECT count(*) FROM spool_dead WHERE (?2 IS NULL OR sink = ?2)"
                          : "SELECT count(*) FROM spool WHERE (?1 < 0 OR state = ?1)"
                            " AND (?2 IS NULL OR sink = ?2)";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_fail(sp);
    }
    sqlite3_bind_int(st, 1, (int)stt);
    bind_text_or_null(st, 2, sink);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_fail(sp);
    if (rc == 0) {
        *n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

int es_spool_list(es_spool *sp, es_spool_state stt, const char *sink, size_t limit,
                  es_spool_list_cb cb, void *ud)
{
    const char *sql =
        stt == ES_SPOOL_DEAD
            ? "SELECT id, sink, key, payload, attempts, created_at, died_at, died_at,"
              " last_error, 3 FROM spool_dead WHERE (?2 IS NULL OR sink = ?2) ORDER BY id"
              " LIMIT ?3"
            : "SELECT id, sink, key, payload, attempts, created_at, next_attempt_at,"
              " updated_at, last_error, state FROM spool WHERE (?1 < 0 OR state = ?1)"
              " AND (?2 IS NULL OR sink = ?2) ORDER BY id LIMIT ?3";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_fail(sp);
    }
    sqlite3_bind_int(st, 1, (int)stt);
    bind_text_or_null(st, 2, sink);
    sqlite3_bind_int64(st, 3, limit > 0 && limit < INT64_MAX ? (sqlite3_int64)limit : -1);
    es_spool_item it;
    es_spool_item_init(&it);
    int rc = 0, r = SQLITE_DONE;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fill_item(st, &it, (es_spool_state)sqlite3_column_int(st, 9));
        rc = rc ? rc : cb(ud, &it);
    }
    if (rc == 0 && r != SQLITE_DONE) {
        rc = db_fail(sp);
    }
    es_spool_item_free(&it);
    sqlite3_finalize(st);
    return rc;
}

int es_spool_mark_done(es_spool *sp, const char *sink, const char *key, int64_t now_ms)
{
    return exec_sink_key(sp, Q_MARK_DONE, sink, key, now_ms);
}

/*
 * The count limit goes by row id: ids are handed out in increasing order
 * (INTEGER PRIMARY KEY: the largest plus one), so the rows with an id at
 * most MAX(id) - keep_done are older than the last keep_done notifications
 * spooled, and of the rows above that at most keep_done exist. Done rows
 * below it are deleted a window of max_rows ids at a time from
 * prune_from, which moves on past each window; a row that was pending
 * when its window went by is left to the age limit.
 */
int es_spool_prune(es_spool *sp, int64_t before_ms, int64_t keep_done, int max_rows, bool *more)
{
    *more = false;
    if (max_rows <= 0) {
        return 0;
    }
    int n = 0, rc;
    if (keep_done > 0) {
        sqlite3_stmt *st = sp->q[Q_ID_RANGE];
        int r = sqlite3_step(st);
        bool any = r == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL;
        int64_t lo = any ? sqlite3_column_int64(st, 0) : 0;
        int64_t hi = any ? sqlite3_column_int64(st, 1) : 0;
        sqlite3_reset(st);
        if (r != SQLITE_ROW) {
            return db_fail(sp);
        }
        if (any) {
            /* Below the oldest row, or past the newest (everything was
             * deleted and ids started over): start at the oldest. */
            if (sp->prune_from < lo || sp->prune_from > hi) {
                sp->prune_from = lo;
            }
            int64_t bound = hi - keep_done;
            if (sp->prune_from <= bound) {
                int64_t to = bound - sp->prune_from >= max_rows ? sp->prune_from + max_rows - 1
                                                               : bound;
                st = sp->q[Q_PRUNE_RANGE];
                sqlite3_bind_int64(st, 1, sp->prune_from);
                sqlite3_bind_int64(st, 2, to);
                if ((rc = exec_stmt(sp, st)) != 0) {
                    return rc;
                }
                n += sqlite3_changes(sp->db);
                sp->prune_from = to + 1;
                *more = to < bound;
            }
        }
    }
    if (n < max_rows) {
        sqlite3_stmt *st = sp->q[Q_PRUNE_AGE];
        sqlite3_bind_int64(st, 1, before_ms);
        sqlite3_bind_int(st, 2, max_rows - n);
        if ((rc = exec_stmt(sp, st)) != 0) {
            return rc;
        }
        int k = sqlite3_changes(sp->db);
        *more = *more || k == max_rows - n;
        n += k;
    } else {
        *more = true;
    }
    return n;
}
