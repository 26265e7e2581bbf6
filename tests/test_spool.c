/* The alert spool: enqueue, claim, done, retry, dead letters, replay, and
 * recovery after a process dies holding a claim. All in event time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

#include <sqlite3.h>

#define T0 1424786152000LL /* 2015-02-24T13:55:52Z */

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_spool_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static es_spool *open_spool(void)
{
    es_spool *sp = NULL;
    es_error err = {0};
    assert_int_equal(es_spool_open(path, &sp, &err), 0);
    return sp;
}

static void enqueue(es_spool *sp, const char *sink, const char *key, int64_t now)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"key\":\"%s\"}", key);
    assert_int_equal(es_spool_enqueue(sp, sink, key, payload, strlen(payload), now), 0);
}

static int64_t count(es_spool *sp, es_spool_state st, const char *sink)
{
    int64_t n = -1;
    assert_int_equal(es_spool_count(sp, st, sink, &n), 0);
    return n;
}

/* The basic life: written, claimed once, done; a repeat is recognised. */
static void test_enqueue_claim_done(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    enqueue(sp, "slack", "A", T0);
    assert_int_equal(es_spool_enqueue(sp, "slack", "A", "{}", 2, T0 + 5), 1);
    /* The same key for another sink is a different notification. */
    enqueue(sp, "pager", "A", T0);

    assert_int_equal(es_spool_claim(sp, "slack", T0, 60000, &it), 1);
    assert_string_equal(it.sink, "slack");
    assert_string_equal(it.key, "A");
    assert_string_equal(it.payload, "{\"key\":\"A\"}");
    assert_int_equal(it.payload_len, strlen("{\"key\":\"A\"}"));
    assert_int_equal(it.attempts, 1);
    assert_int_equal(it.created_ms, T0);
    /* Claimed: nobody else gets it while the lease runs. */
    assert_int_equal(es_spool_claim(sp, "slack", T0 + 1, 60000, &it), 0);
    assert_int_equal(count(sp, ES_SPOOL_INFLIGHT, "slack"), 1);

    int64_t id = it.id;
    assert_int_equal(es_spool_done(sp, id, T0 + 10), 0);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 1);
    assert_int_equal(count(sp, ES_SPOOL_PENDING, NULL), 1); /* the pager one */
    /* Done stays done: a later enqueue of the same key is a duplicate. */
    assert_int_equal(es_spool_enqueue(sp, "slack", "A", "{}", 2, T0 + 100), 1);
    assert_int_equal(es_spool_claim(sp, "slack", T0 + 1000000, 60000, &it), 0);

    /* The pager's copy is still there, for the pager only. */
    assert_int_equal(es_spool_claim(sp, "pager", T0, 60000, &it), 1);
    assert_string_equal(it.sink, "pager");
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* Delivered at once: a done row with no payload; a repeat is known before
 * anything is delivered; a failed delivery becomes an ordinary pending row. */
static void test_enqueue_done_and_requeue(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    assert_int_equal(es_spool_batch(sp), 0);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "A", T0), 0);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "A", T0 + 1), 1);
    assert_int_equal(es_spool_enqueue(sp, "file", "A", "{}", 2, T0 + 2), 1);
    assert_int_equal(es_spool_flush(sp), 0);
    assert_int_equal(count(sp, ES_SPOOL_DONE, "file"), 1);
    assert_int_equal(es_spool_claim(sp, "file", T0 + 1000000, 60000, &it), 0);
    /* Known the other way round too: an ordinary row first. */
    enqueue(sp, "file", "B", T0);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "B", T0 + 1), 1);

    assert_int_equal(es_spool_enqueue_done(sp, "file", "C", T0 + 5), 0);
    int64_t id = es_spool_last_id(sp);
    assert_int_equal(es_spool_requeue(sp, id, "{\"key\":\"C\"}", 11, T0 + 6), 0);
    assert_int_equal(es_spool_claim(sp, "file", T0 + 5, 60000, &it), 1);
    assert_string_equal(it.key, "B");
    assert_int_equal(es_spool_claim(sp, "file", T0 + 6, 60000, &it), 1);
    assert_string_equal(it.key, "C");
    assert_string_equal(it.payload, "{\"key\":\"C\"}");
    assert_int_equal(it.attempts, 1);
    assert_int_equal(es_spool_requeue(sp, id + 1000, "{}", 2, T0), ES_ENOTFOUND);
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* Oldest due first; nothing before its time. */
static void test_order_and_due_times(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    enqueue(sp, "s", "late", T0 + 500);
    enqueue(sp, "s", "early", T0);
    enqueue(sp, "s", "middle", T0 + 200);
    int64_t when = 0;
    assert_int_equal(es_spool_next_due(sp, "s", &when), 1);
    assert_int_equal(when, T0);
    assert_int_equal(es_spool_next_due(sp, "other", &when), 0);

    assert_int_equal(es_spool_claim(sp, "s", T0 - 1, 1000, &it), 0);
    assert_int_equal(es_spool_claim(sp, "s", T0 + 300, 1000, &it), 1);
    assert_string_equal(it.key, "early");
    assert_int_equal(es_spool_claim(sp, "s", T0 + 300, 1000, &it), 1);
    assert_string_equal(it.key, "middle");
    assert_int_equal(es_spool_claim(sp, "s", T0 + 300, 1000, &it), 0);
    assert_int_equal(es_spool_claim(sp, NULL, T0 + 500, 1000, &it), 1);
    assert_string_equal(it.key, "late");
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* Retries wait for their time, count attempts, and give up into the
 * dead letters, from where replay brings them back with fresh attempts. */
static void test_retry_dead_letter_replay(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    es_spool_limits lim = {3, 0};
    enqueue(sp, "hook", "K", T0);
    int64_t now = T0;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(es_spool_claim(sp, "hook", now, 60000, &it), 1);
        assert_int_equal(it.attempts, i);
        assert_int_equal(es_spool_retry(sp, it.id, now, now + 1000 * i, "HTTP 503", &lim), 0);
        assert_int_equal(es_spool_claim(sp, "hook", now + 1000 * i - 1, 60000, &it), 0);
        now += 1000 * i;
    }
    assert_int_equal(es_spool_claim(sp, "hook", now, 60000, &it), 1);
    assert_int_equal(it.attempts, 3);
    assert_string_equal(it.last_error, "HTTP 503");
    assert_int_equal(es_spool_retry(sp, it.id, now, now + 5000, "HTTP 500", &lim), 1);
    assert_int_equal(count(sp, ES_SPOOL_ANY, "hook"), 0);
    assert_int_equal(count(sp, ES_SPOOL_DEAD, "hook"), 1);
    assert_int_equal(es_spool_next_due(sp, "hook", &now), 0);
    /* Dead letters still count as known: no silent re-send. */
    assert_int_equal(es_spool_enqueue(sp, "hook", "K", "{}", 2, now), 1);

    assert_int_equal(es_spool_replay(sp, -1, "other-sink", now), 0);
    assert_int_equal(es_spool_replay(sp, -1, "hook", now + 10), 1);
    assert_int_equal(count(sp, ES_SPOOL_DEAD, NULL), 0);
    assert_int_equal(es_spool_claim(sp, "hook", now + 10, 60000, &it), 1);
    assert_string_equal(it.key, "K");
    assert_int_equal(it.attempts, 1);
    assert_int_equal(es_spool_done(sp, it.id, now + 20), 0);
    es_spool_item_free(&it);
    es_spool_close(sp);
}

typedef struct listed {
    int n;
    int64_t ids[8];
    char keys[8][16];
    char errors[8][32];
    int attempts[8];
    es_spool_state states[8];
} listed;

static int collect(void *ud, const es_spool_item *it)
{
    listed *l = ud;
    if (l->n < 8) {
        l->ids[l->n] = it->id;
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", it->key);
        snprintf(l->errors[l->n], sizeof l->errors[0], "%s", it->last_error);
        l->attempts[l->n] = it->attempts;
        l->states[l->n] = it->state;
    }
    l->n++;
    return 0;
}

/* Age limits, permanent failures, listing and replay of one letter. */
static void test_age_permanent_list(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    es_spool_limits lim = {100, 3600000};
    enqueue(sp, "pd", "old", T0);
    enqueue(sp, "pd", "bad", T0);
    enqueue(sp, "pd", "fine", T0);

    assert_int_equal(es_spool_claim(sp, "pd", T0, 60000, &it), 1);
    assert_string_equal(it.key, "old");
    /* Within the age limit: rescheduled. Past it: dead. */
    assert_int_equal(es_spool_retry(sp, it.id, T0 + 1000, T0 + 2000, "timeout", &lim), 0);
    assert_int_equal(es_spool_claim(sp, "pd", T0 + 2000, 60000, &it), 1);
    assert_string_equal(it.key, "bad");
    assert_int_equal(es_spool_dead(sp, it.id, T0 + 2000, "HTTP 400: invalid event"), 0);
    /* "fine" has waited since T0, "old" only since its retry time. */
    assert_int_equal(es_spool_claim(sp, "pd", T0 + 2000, 60000, &it), 1);
    assert_string_equal(it.key, "fine");
    assert_int_equal(es_spool_done(sp, it.id, T0 + 2000), 0);
    assert_int_equal(es_spool_claim(sp, "pd", T0 + 2000, 60000, &it), 1);
    assert_string_equal(it.key, "old");
    assert_int_equal(es_spool_retry(sp, it.id, T0 + 3600000, T0 + 3700000, "timeout", &lim), 1);

    listed l = {0};
    assert_int_equal(es_spool_list(sp, ES_SPOOL_DEAD, "pd", 0, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "bad");
    assert_string_equal(l.errors[0], "HTTP 400: invalid event");
    assert_int_equal(l.states[0], ES_SPOOL_DEAD);
    assert_string_equal(l.keys[1], "old");
    assert_string_equal(l.errors[1], "timeout");
    assert_int_equal(l.attempts[1], 2);

    listed live = {0};
    assert_int_equal(es_spool_list(sp, ES_SPOOL_ANY, NULL, 0, collect, &live), 0);
    assert_int_equal(live.n, 1);
    assert_string_equal(live.keys[0], "fine");
    assert_int_equal(live.states[0], ES_SPOOL_DONE);

    /* Replay just the first letter. */
    assert_int_equal(es_spool_replay(sp, l.ids[0], NULL, T0 + 4000000), 1);
    assert_int_equal(count(sp, ES_SPOOL_DEAD, NULL), 1);
    assert_int_equal(es_spool_claim(sp, "pd", T0 + 4000000, 60000, &it), 1);
    assert_string_equal(it.key, "bad");
    assert_int_equal(es_spool_done(sp, it.id, T0 + 4000001), 0);
    assert_int_equal(es_spool_claim(sp, "pd", T0 + 4000001, 60000, &it), 0);

    /* Done rows are pruned by age; the limit caps listings. */
    bool more;
    assert_int_equal(es_spool_prune(sp, T0 + 4000001, 0, 100, &more), 1);
    assert_false(more);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 1);
    listed one = {0};
    assert_int_equal(es_spool_list(sp, ES_SPOOL_ANY, NULL, 1, collect, &one), 0);
    assert_int_equal(one.n, 1);
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* Run prune steps until it says there is nothing more; each step must
 * stay within max_rows. Returns the total and counts the steps. */
static int prune_all(es_spool *sp, int64_t before, int64_t keep, int max_rows, int *steps)
{
    int total = 0;
    bool more = true;
    *steps = 0;
    while (more) {
        int n = es_spool_prune(sp, before, keep, max_rows, &more);
        assert_true(n >= 0 && n <= max_rows);
        total += n;
        assert_true(++*steps < 1000);
    }
    return total;
}

/*
 * Done rows are bounded by count as well as by age, in steps of at most
 * max_rows: the newest keep_done stay (a repeat of one of them is still
 * recognised), older ones go, and undelivered rows are never touched
 * however old or many.
 */
static void test_prune_done_by_count(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    char key[32];
    /* 10,000 notifications spooled in order; every 10th stays pending. */
    assert_int_equal(es_spool_batch(sp), 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        if (i % 10 == 0) {
            enqueue(sp, "slack", key, T0 + i);
        } else {
            assert_int_equal(es_spool_enqueue_done(sp, "file", key, T0 + i), 0);
        }
    }
    assert_int_equal(es_spool_flush(sp), 0);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 9000);

    /* Keep the last 3,000 spooled: of those, 2,700 are done. 6,300 done
     * rows go, in steps of at most 500 (the age limit is not reached). */
    int steps;
    assert_int_equal(prune_all(sp, T0, 3000, 500, &steps), 6300);
    assert_true(steps >= 6300 / 500);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 2700);
    assert_int_equal(count(sp, ES_SPOOL_PENDING, NULL), 1000);
    /* The newest kept are still known; the oldest forgotten are new again. */
    assert_int_equal(es_spool_enqueue_done(sp, "file", "k09999", T0 + 20000), 1);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "k07001", T0 + 20000), 1);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "k06999", T0 + 20000), 0);
    /* That one is the newest now and pushes k07000 out of the last 3,000,
     * but k07000 is pending: nothing goes. One more pushes out k07001. */
    assert_int_equal(prune_all(sp, T0, 3000, 500, &steps), 0);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 2701);
    assert_int_equal(es_spool_enqueue_done(sp, "file", "k06998", T0 + 20000), 0);
    assert_int_equal(prune_all(sp, T0, 3000, 500, &steps), 1);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 2701);

    /* A row delivered long after it was spooled (k00000, spooled first) is
     * left to the age limit: the count prune went past its window while it
     * was pending. */
    es_spool_item it;
    es_spool_item_init(&it);
    assert_int_equal(es_spool_claim(sp, "slack", T0 + 30000, 60000, &it), 1);
    assert_string_equal(it.key, "k00000");
    assert_int_equal(es_spool_done(sp, it.id, T0 + 30000), 0);
    assert_int_equal(prune_all(sp, T0, 3000, 500, &steps), 0);
    assert_int_equal(prune_all(sp, T0 + 30001, 3000, 500, &steps), 2702);
    es_spool_item_free(&it);

    /* The age limit alone, with the undelivered 999 as old as anything. */
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 0);
    assert_int_equal(count(sp, ES_SPOOL_PENDING, NULL), 999);
    assert_int_equal(prune_all(sp, T0 + 1000000, 0, 500, &steps), 0);
    assert_int_equal(count(sp, ES_SPOOL_PENDING, NULL), 999);

    /* Everything deleted and ids started over below where the count prune
     * had got to: it starts again at the oldest row. */
    es_spool_close(sp);
    sp = open_spool();
    sqlite3 *db = es__spool_sqlite(sp);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM spool", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "n%05d", i);
        assert_int_equal(es_spool_enqueue_done(sp, "file", key, T0 + i), 0);
    }
    assert_int_equal(prune_all(sp, T0, 1000, 400, &steps), 2000);
    assert_int_equal(count(sp, ES_SPOOL_DONE, NULL), 1000);
    es_spool_close(sp);
}

/* Each prune step reads about what it deletes: the age limit goes through
 * the done-rows index, the count limit through a range of row ids, never a
 * scan of the whole spool (which, at millions of rows, stalled the loop). */
static void test_prune_plans(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    sqlite3 *db = es__spool_sqlite(sp);
    static const struct {
        const char *sql, *want;
    } plans[] = {
        {"EXPLAIN QUERY PLAN SELECT id FROM spool WHERE state = 2 AND updated_at < 5"
         " ORDER BY updated_at LIMIT 10",
         "USING INDEX spool_done (updated_at<?)"},
        {"EXPLAIN QUERY PLAN DELETE FROM spool WHERE id >= 1 AND id <= 10 AND state = 2",
         "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
    };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, plans[i].sql, -1, &st, NULL), SQLITE_OK);
        char got[512] = "";
        size_t used = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            used += (size_t)snprintf(got + used, sizeof got - used, "%s; ", d ? d : "");
            if (used >= sizeof got) {
                break;
            }
        }
        sqlite3_finalize(st);
        if (strstr(got, plans[i].want) == NULL) {
            fail_msg("plan of %s: %s (want %s)", plans[i].sql, got, plans[i].want);
        }
    }
    es_spool_close(sp);
}

/*
 * A process claims a notification and dies before marking it done (no
 * close, no cleanup). After a restart the notification is due again, at
 * once after es_spool_recover, and nothing else was lost.
 */
static void test_crash_recovery(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        es_spool *sp = NULL;
        es_error err;
        es_spool_item it;
        es_spool_item_init(&it);
        if (es_spool_open(path, &sp, &err) != 0) {
            _exit(2);
        }
        for (int i = 0; i < 3; i++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", i);
            if (es_spool_enqueue(sp, "slack", key, "{}", 2, T0 + i) != 0) {
                _exit(3);
            }
        }
        if (es_spool_claim(sp, "slack", T0 + 10, 300000, &it) != 1) {
            _exit(4);
        }
        _exit(0); /* "crash": no done, no close */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    assert_int_equal(count(sp, ES_SPOOL_INFLIGHT, NULL), 1);
    assert_int_equal(count(sp, ES_SPOOL_PENDING, NULL), 2);
    /* Without recovery the dead claim comes back when its lease runs out. */
    int64_t when;
    assert_int_equal(es_spool_next_due(sp, "slack", &when), 1);
    assert_int_equal(when, T0 + 1);

    assert_int_equal(es_spool_recover(sp, T0 + 20), 1);
    int seen[3] = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(es_spool_claim(sp, "slack", T0 + 20, 60000, &it), 1);
        int k = it.key[1] - '0';
        assert_true(k >= 0 && k < 3);
        seen[k]++;
        if (k == 0) {
            assert_int_equal(it.attempts, 2); /* the lost attempt counts */
        }
        assert_int_equal(es_spool_done(sp, it.id, T0 + 21), 0);
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* A lease that runs out makes the row due without any recovery call. */
static void test_lease_expiry(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    es_spool_item it;
    es_spool_item_init(&it);
    enqueue(sp, "s", "x", T0);
    assert_int_equal(es_spool_claim(sp, "s", T0, 5000, &it), 1);
    assert_int_equal(es_spool_claim(sp, "s", T0 + 4999, 5000, &it), 0);
    assert_int_equal(es_spool_claim(sp, "s", T0 + 5000, 5000, &it), 1);
    assert_int_equal(it.attempts, 2);
    es_spool_item_free(&it);
    es_spool_close(sp);
}

/* The database really is in WAL mode, and survives a reopen. */
static void test_wal_and_persistence(void **state)
{
    (void)state;
    es_spool *sp = open_spool();
    enqueue(sp, "s", "persist", T0);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    es_spool_close(sp);
    sp = open_spool();
    assert_int_equal(count(sp, ES_SPOOL_PENDING, "s"), 1);
    es_spool_close(sp);

    /* A path that cannot be a database is a clear error, not a crash. */
    es_spool *bad = NULL;
    es_error err = {0};
    assert_int_equal(es_spool_open("/nonexistent-dir/x/spool.db", &bad, &err), ES_ESTATE);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/spool.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_claim_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_done_and_requeue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_and_due_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_dead_letter_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_permanent_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_done_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_and_persistence, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
