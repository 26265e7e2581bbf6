/* The state file: cursors, dedup, batching, pruning, crash safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "engine.h"
#include "store.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY (24LL * 3600 * 1000)
#define T0 1700000000000LL

static char *tmp_db(void)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/es_test_store_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    return path;
}

static void cleanup(const char *path)
{
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static es_store *open_store(const char *path, const es_store_opts *o, int64_t now)
{
    es_store *s = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = es_store_open(path, o, now, &s, &err);
    if (rc != 0) {
        fprintf(stderr, "es_store_open: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    return s;
}

static void test_cursor_roundtrip(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store *s = open_store(path, NULL, T0);
    char buf[64];
    assert_int_equal(es_store_cursor_get(s, "a", buf, sizeof buf), 0);
    assert_int_equal(es_store_cursor_set(s, "a", "12:345"), 0);
    /* The pending value is visible at once... */
    assert_int_equal(es_store_cursor_get(s, "a", buf, sizeof buf), 1);
    assert_string_equal(buf, "12:345");
    assert_int_equal(es_store_cursor_set(s, "b", "min_id=9"), 0);
    assert_int_equal(es_store_cursor_get(s, "a", buf, 3), ES_ETOOBIG);
    assert_int_equal(es_store_commit(s), 0);
    assert_int_equal(es_store_cursor_set(s, "a", "12:999"), 0);
    /* ...and the last committed one survives a close (close commits). */
    assert_int_equal(es_store_close(s), 0);
    s = open_store(path, NULL, T0);
    assert_int_equal(es_store_cursor_get(s, "a", buf, sizeof buf), 1);
    assert_string_equal(buf, "12:999");
    assert_int_equal(es_store_cursor_get(s, "b", buf, sizeof buf), 1);
    assert_string_equal(buf, "min_id=9");
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(es_store_cursor_set(s, "a", big), ES_ETOOBIG);
    es_store_close(s);
    cleanup(path);
}

static void test_dedup_per_feed_and_persisted(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store *s = open_store(path, NULL, T0);
    assert_int_equal(es_store_seen(s, "f1", "123", 3, T0), 0);
    assert_int_equal(es_store_seen(s, "f1", "123", 3, T0 + 1), 1);
    /* Another feed has its own ids; a prefix is a different id. */
    assert_int_equal(es_store_seen(s, "f2", "123", 3, T0), 0);
    assert_int_equal(es_store_seen(s, "f1", "12", 2, T0), 0);
    /* ("f1","23") vs ("f12","3"): the separator keeps them apart. */
    assert_int_equal(es_store_seen(s, "f", "123", 3, T0), 0);
    assert_int_equal(es_store_pending(s), 4);
    assert_int_equal(es_store_commit(s), 0);
    assert_int_equal(es_store_pending(s), 0);
    es_store_close(s);

    s = open_store(path, NULL, T0 + 1000);
    assert_int_equal(es_store_ids(s), 4);
    assert_int_equal(es_store_seen(s, "f1", "123", 3, T0 + 2000), 1);
    assert_int_equal(es_store_seen(s, "f2", "123", 3, T0 + 2000), 1);
    assert_int_equal(es_store_seen(s, "f2", "124", 3, T0 + 2000), 0);
    es_store_close(s);
    cleanup(path);
}

/* Many ids: the table grows, every id is found again, none is confused. */
static void test_dedup_many(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store *s = open_store(path, NULL, T0);
    char id[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(es_store_seen(s, "feed", id, (size_t)n, T0), 0);
    }
    for (int i = 0; i < 100000; i += 7) {
        int n = snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(es_store_seen(s, "feed", id, (size_t)n, T0), 1);
    }
    assert_int_equal(es_store_ids(s), 100000);
    es_store_close(s);
    s = open_store(path, NULL, T0);
    assert_int_equal(es_store_ids(s), 100000);
    es_store_close(s);
    cleanup(path);
}

/* At the cap, every new id pushes the oldest out of a set kept about half
 * full: deletes shift probe runs back, and no id may be lost or kept by
 * mistake while that churns. */
static void test_cap_churn(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store_opts o = {.max_ids = 1000};
    es_store *s = open_store(path, &o, T0);
    char id[32];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(id, sizeof id, "c%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + i), 0);
        if (i % 997 == 0 && i >= 1000) {
            /* The newest 1000 are all there. */
            for (int k = i - 999; k <= i; k++) {
                n = snprintf(id, sizeof id, "c%d", k);
                assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + i), 1);
            }
        }
        if (i % 5000 == 0) {
            assert_int_equal(es_store_commit(s), 0);
        }
        assert_int_equal(es_store_ids(s), i < 1000 ? (size_t)i + 1 : 1000);
    }
    /* The one before them is not (and, seen again, is new). */
    assert_int_equal(es_store_seen(s, "f", "c48999", 6, T0 + 50000), 0);
    es_store_close(s);
    s = open_store(path, &o, T0);
    assert_int_equal(es_store_ids(s), 1000);
    assert_int_equal(es_store_seen(s, "f", "c49999", 6, T0), 1);
    assert_int_equal(es_store_seen(s, "f", "c48999", 6, T0), 1);
    assert_int_equal(es_store_seen(s, "f", "c49000", 6, T0), 0);
    es_store_close(s);
    cleanup(path);
}

static int64_t rows(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void test_prune_by_age_and_cap(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store_opts o = {.retention_ms = 2 * DAY, .max_ids = 100};
    es_store *s = open_store(path, &o, T0);
    char id[32];
    /* 50 old ids, 40 recent ones (with increasing times). */
    for (int i = 0; i < 50; i++) {
        int n = snprintf(id, sizeof id, "old%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0), 0);
    }
    for (int i = 0; i < 40; i++) {
        int n = snprintf(id, sizeof id, "new%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + 3 * DAY + i), 0);
    }
    /* The old ones go by age. */
    assert_int_equal(es_store_prune(s, T0 + 3 * DAY + 200), 50);
    assert_int_equal(es_store_ids(s), 40);
    assert_int_equal(es_store_seen(s, "f", "old0", 4, T0 + 3 * DAY + 40), 0);
    /* The cap holds as ids arrive, the oldest going first: of these 151,
     * new50..new149 stay. */
    for (int i = 40; i < 150; i++) {
        int n = snprintf(id, sizeof id, "new%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + 3 * DAY + 41 + i), 0);
        assert_true(es_store_ids(s) <= 100);
    }
    assert_int_equal(es_store_ids(s), 100);
    assert_int_equal(es_store_seen(s, "f", "new149", 6, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "new50", 5, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "old0", 4, T0 + 4 * DAY), 0); /* pushes new50 out */
    assert_int_equal(es_store_ids(s), 100);
    es_store_close(s);
    /* On disk too: exactly the ids held, and reopening loads them. */
    assert_int_equal(rows(path, "SELECT count(*) FROM seen_ids"), 100);
    s = open_store(path, &o, T0 + 4 * DAY);
    assert_int_equal(es_store_ids(s), 100);
    assert_int_equal(es_store_seen(s, "f", "new51", 5, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "old0", 4, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "new50", 5, T0 + 4 * DAY), 0);
    es_store_close(s);
    /* A smaller cap at the next start keeps the newest: new142..new149,
     * old0, new50. */
    o.max_ids = 10;
    s = open_store(path, &o, T0 + 4 * DAY);
    assert_int_equal(es_store_ids(s), 10);
    assert_int_equal(es_store_seen(s, "f", "new50", 5, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "new142", 6, T0 + 4 * DAY), 1);
    assert_int_equal(es_store_seen(s, "f", "new141", 6, T0 + 4 * DAY), 0);
    es_store_close(s);
    assert_int_equal(rows(path, "SELECT count(*) FROM seen_ids"), 10);
    cleanup(path);
}

/* A state file from before seen_ids (rows keyed by hash in feed_seen) is
 * converted when opened: same ids, old table gone. */
static void test_old_state_file(void **state)
{
    (void)state;
    char *path = tmp_db();
    es_store *s = open_store(path, NULL, T0);
    char id[32];
    for (int i = 0; i < 300; i++) {
        int n = snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + i), 0);
    }
    es_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE feed_seen (h INTEGER PRIMARY KEY, seen_ms INTEGER "
                                  "NOT NULL); INSERT INTO feed_seen SELECT h, seen_ms FROM "
                                  "seen_ids; DROP TABLE seen_ids;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    es_store_opts o = {.max_ids = 200};
    s = open_store(path, &o, T0 + 1000);
    assert_int_equal(es_store_ids(s), 200);
    assert_int_equal(es_store_seen(s, "f", "m299", 4, T0 + 1000), 1);
    assert_int_equal(es_store_seen(s, "f", "m100", 4, T0 + 1000), 1);
    assert_int_equal(es_store_seen(s, "f", "m99", 3, T0 + 1000), 0);
    es_store_close(s);
    assert_int_equal(rows(path, "SELECT count(*) FROM sqlite_master WHERE name = 'feed_seen'"), 0);
    assert_int_equal(rows(path, "SELECT count(*) FROM seen_ids"), 200);
    cleanup(path);
}

/*
 * Crash safety: a child records ids and cursors, commits some, records
 * more and dies with _exit() (no close, no commit). The parent sees exactly
 * what was committed: committed ids are duplicates, uncommitted ones are
 * new, and the cursor is the last committed one.
 */
static void test_crash_keeps_exactly_the_commits(void **state)
{
    (void)state;
    char *path = tmp_db();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        es_store *s = NULL;
        if (es_store_open(path, NULL, T0, &s, NULL) != 0) {
            _exit(2);
        }
        char id[32];
        for (int batch = 0; batch < 10; batch++) {
            for (int i = 0; i < 100; i++) {
                int n = snprintf(id, sizeof id, "id%d", batch * 100 + i);
                es_store_seen(s, "f", id, (size_t)n, T0);
            }
            snprintf(id, sizeof id, "cursor-%d", batch);
            es_store_cursor_set(s, "f", id);
            if (batch < 7 && es_store_commit(s) != 0) {
                _exit(3);
            }
        }
        _exit(0); /* batches 7..9 are never committed */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    es_store *s = open_store(path, NULL, T0);
    char buf[64];
    assert_int_equal(es_store_cursor_get(s, "f", buf, sizeof buf), 1);
    assert_string_equal(buf, "cursor-6");
    assert_int_equal(es_store_ids(s), 700);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof id, "id%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0), i < 700 ? 1 : 0);
    }
    es_store_close(s);
    cleanup(path);
}

/* `dedup:` in the config reaches the store as `run` opens it: the memory
 * reserved follows the cap (a small deployment need not pay for 2,000,000
 * ids), and the cap and the age hold. */
static void test_configured_limits(void **state)
{
    (void)state;
    static const char yaml[] = "dedup: {max_ids: 5000, max_age: 1h}\n"
                               "topics: [{name: a, query: a}]\n";
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load_buffer(yaml, sizeof yaml - 1, "mem.yaml", NULL, NULL, &c, &err),
                     0);
    es_engine_state_limits lim;
    es_engine_state_limits_get(c, &lim);
    es_config_free(c);
    char *path = tmp_db();
    es_store *s = open_store(path, &lim.store, T0);
    assert_int_equal(es_store_max_ids(s), 5000);
    /* A set of 16,384 slots (the power of two at least twice the cap) and
     * a ring of 5,000: 208 KiB, where the default reserves 64 MiB. */
    assert_int_equal(es_store_reserved_bytes(s), 16384 * 8 + 5000 * 16);
    char id[32];
    for (int i = 0; i < 6000; i++) {
        int n = snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(es_store_seen(s, "f", id, (size_t)n, T0 + i), 0);
        assert_true(es_store_ids(s) <= 5000);
    }
    assert_int_equal(es_store_ids(s), 5000);
    assert_int_equal(es_store_seen(s, "f", "m5999", 5, T0 + 6000), 1);
    assert_int_equal(es_store_seen(s, "f", "m1000", 5, T0 + 6000), 1);
    /* One hour after m1000..m2999 were seen (at T0+1000..T0+2999), they
     * are forgotten and the rest kept. */
    assert_int_equal(es_store_prune(s, T0 + 3600 * 1000 + 3000), 2000);
    assert_int_equal(es_store_ids(s), 3000);
    es_store_close(s);
    cleanup(path);

    /* Without `dedup:`, the defaults (not opened here: 64 MiB). */
    static const char plain[] = "topics: [{name: a, query: a}]\n";
    assert_int_equal(
        es_config_load_buffer(plain, sizeof plain - 1, "mem.yaml", NULL, NULL, &c, &err), 0);
    es_engine_state_limits_get(c, &lim);
    es_config_free(c);
    assert_int_equal(lim.store.max_ids, 2000000);
    assert_int_equal(lim.store.retention_ms, 7 * DAY);
}

static void test_bad_path(void **state)
{
    (void)state;
    es_store *s = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(es_store_open("/nonexistent-dir/x/state.db", NULL, T0, &s, &err), ES_ESTATE);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/state.db"));
    assert_int_equal(es_store_close(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_roundtrip),
        cmocka_unit_test(test_dedup_per_feed_and_persisted),
        cmocka_unit_test(test_dedup_many),
        cmocka_unit_test(test_prune_by_age_and_cap),
        cmocka_unit_test(test_old_state_file),
        cmocka_unit_test(test_cap_churn),
        cmocka_unit_test(test_crash_keeps_exactly_the_commits),
        cmocka_unit_test(test_configured_limits),
        cmocka_unit_test(test_bad_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
