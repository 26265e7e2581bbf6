/*
 * Alerts waiting in a group survive the process: the router keeps each
 * waiting member in the state database (route_waiting) until the
 * notification that carries it is emitted, and a router made on the same
 * database takes them back. Router tests run in event time on a temporary
 * SQLite file (a "crash" is es_router_free without advancing or flushing).
 * tests/test_run_route.c kills `earshot run` with SIGKILL while a group
 * waits and checks that the restarted engine sends it to a webhook.
 */

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "config.h"
#include "route_int.h"
#include "timefmt.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_test_durable_%d_XXXXXX", (int)getpid());
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* ---- The router in event time ---------------------------------------------- */

/* 2026-06-01T00:00:00.250Z: not on a second, so a restored alert whose
 * time lost its milliseconds would show up as a different id. */
#define T0 1780272000250LL
#define MIN 60000LL

/* What the router emitted: one line per notification,
 * "SINK KEY count=N ID,ID,...". */
typedef struct seen {
    char lines[64][1024];
    size_t n;
} seen;

static int collect(void *ud, const char *sink, const es_notification *n, int64_t at_ms)
{
    (void)at_ms;
    seen *s = ud;
    assert_true(s->n < 64);
    char *l = s->lines[s->n++];
    int off = snprintf(l, 1024, "%s %s count=%zu ", sink, n->key, es_notification_count(n));
    for (size_t i = 0; i < n->n_alerts && off < 1000; i++) {
        char id[27];
        es_alert_make_id(&n->alerts[i], id);
        off += snprintf(l + off, 1024 - (size_t)off, "%s%s", i ? "," : "", id);
    }
    return 0;
}

static const char base_yaml[] = "sinks:\n"
                                "  - name: chat\n"
                                "    type: stdout\n"
                                "  - name: other\n"
                                "    type: stdout\n";

/* A conf from `route` (the text after sinks:) and its config. */
typedef struct conf {
    es_config *c;
    es_route_conf *rc;
} conf;

static conf load(const char *route)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "state: %s/state.db\n%s%s", dir, base_yaml, route);
    conf k = {0};
    es_error err = {0};
    if (es_config_load_buffer(yaml, strlen(yaml), "t.yaml", NULL, NULL, &k.c, &err) != 0 ||
        es_route_conf_load(k.c, NULL, NULL, &k.rc, &err) != 0) {
        fail_msg("t.yaml:%d:%d: %s", err.line, err.col, err.msg);
    }
    return k;
}

static void unload(conf *k)
{
    es_route_conf_free(k->rc);
    es_config_free(k->c);
}

static const char group5m[] = "route:\n"
                              "  receivers: [chat]\n"
                              "  group_by: [topic]\n"
                              "  group_wait: 5m\n"
                              "  group_interval: 5m\n"
                              "  max_examples: 0\n";

static es_route_db *open_db(const char *name)
{
    char p[300];
    path_in(p, sizeof p, name);
    es_route_db *db = NULL;
    es_error err = {0};
    if (es_route_db_open(p, &db, &err) != 0) {
        fail_msg("%s: %s", p, err.msg);
    }
    return db;
}

static int64_t waiting_rows(es_route_db *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(es__route_db_sqlite(db),
                                        "SELECT count(*) FROM route_waiting", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* An alert: a complaint (or a condition of `kind`) about `topic`. */
static es_alert make_alert(es_alert_kind kind, const char *topic, const char *fp, int64_t at,
                           bool resolved, es_alert_mention *m)
{
    *m = (es_alert_mention){{"m1", 2}, {"@jdoe", 5}, {"my order never came", 19},
                            {"https://example.com/1", 21}};
    return (es_alert){
        .kind = kind,
        .severity = ES_SEV_WARNING,
        .resolved = resolved,
        .topic = topic,
        .at_ms = at,
        .fingerprint = fp,
        .summary = "something",
        .details_json = "{\"complaint\":0.9,\"followers\":12}",
        .mentions = m,
        .n_mentions = 1,
    };
}

static void push(es_router *r, es_alert_kind kind, const char *topic, const char *fp, int64_t at,
                 bool resolved, char id[27])
{
    es_alert_mention m;
    es_alert a = make_alert(kind, topic, fp, at, resolved, &m);
    es_label extra[] = {{"source", "mastodon"}, {"intent", "complaint"}};
    assert_int_equal(es_router_push(r, &a, extra, 2, at), 0);
    if (id != NULL) {
        es_alert_make_id(&a, id);
    }
}

static void push_complaint(es_router *r, const char *fp, int64_t at, char id[27])
{
    push(r, ES_ALERT_COMPLAINT, "acme", fp, at, false, id);
}

static char *key_at(const char *group, int64_t t, char out[128])
{
    char ts[32];
    es_time_format(t, ts);
    snprintf(out, 128, "%s@%s", group, ts);
    if (t % 1000 != 0) {
        snprintf(out + strlen(out), 128 - strlen(out), "+%03dms", (int)(t % 1000));
    }
    return out;
}

/* Three alerts wait in their group's 5 minute group_wait when the router
 * goes away without a flush. A new router on the same file sends them, at
 * the time the group was due, in one notification carrying every alert,
 * exactly once; the rows are gone afterwards. */
static void test_crash_in_group_wait_sends_after_restart(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("crash.db");
    seen s1 = {0}, s2 = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s1, &r), 0);
    char ids[3][27];
    push_complaint(r, "c0", T0, ids[0]);
    push_complaint(r, "c1", T0 + MIN, ids[1]);
    push_complaint(r, "c2", T0 + 2 * MIN, ids[2]);
    assert_int_equal(es_router_advance(r, T0 + 4 * MIN), 0);
    assert_int_equal(s1.n, 0);
    assert_int_equal(waiting_rows(db), 3);
    es_router_free(r); /* the crash: nothing flushed */
    es_route_db_close(db);

    db = open_db("crash.db");
    assert_int_equal(es_router_new(k.rc, db, collect, &s2, &r), 0);
    /* Due T0 + group_wait, counted from the original push. */
    assert_int_equal(es_router_next_due(r), T0 + 5 * MIN);
    assert_int_equal(es_router_advance(r, T0 + 5 * MIN - 1), 0);
    assert_int_equal(s2.n, 0);
    assert_int_equal(es_router_advance(r, T0 + 5 * MIN), 0);
    assert_int_equal(s2.n, 1);
    char key[128], want[1024];
    snprintf(want, sizeof want, "chat %s count=3 %s,%s,%s", key_at("acme", T0 + 5 * MIN, key),
             ids[0], ids[1], ids[2]);
    assert_string_equal(s2.lines[0], want);
    assert_int_equal(waiting_rows(db), 0);
    assert_int_equal(es_router_advance(r, T0 + 10 * 60 * MIN), 0);
    assert_int_equal(s2.n, 1);
    es_router_free(r);

    /* And a third router finds nothing left to send. */
    seen s3 = {0};
    assert_int_equal(es_router_new(k.rc, db, collect, &s3, &r), 0);
    assert_int_equal(es_router_next_due(r), INT64_MAX);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A router made long after the group was due sends it at the next advance. */
static void test_overdue_group_sent_at_next_advance(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("overdue.db");
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    push_complaint(r, "c0", T0, NULL);
    es_router_free(r);
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    assert_true(es_router_next_due(r) <= T0 + 5 * MIN);
    assert_int_equal(s.n, 0); /* nothing is emitted while restoring */
    assert_int_equal(es_router_advance(r, T0 + 3 * 60 * MIN), 0);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.lines[0], " count=1 "));
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* An alert notified before the crash is not sent again; the one that
 * joined afterwards (waiting for group_interval) is, as an update due
 * group_interval after the first notification. */
static void test_notified_alert_not_renotified(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("notified.db");
    seen s1 = {0}, s2 = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s1, &r), 0);
    char a0[27], a1[27];
    push_complaint(r, "c0", T0, a0);
    assert_int_equal(es_router_advance(r, T0 + 5 * MIN), 0);
    assert_int_equal(s1.n, 1);
    assert_int_equal(waiting_rows(db), 0);
    push_complaint(r, "c1", T0 + 6 * MIN, a1);
    assert_int_equal(waiting_rows(db), 1);
    es_router_free(r);

    assert_int_equal(es_router_new(k.rc, db, collect, &s2, &r), 0);
    assert_int_equal(es_router_next_due(r), T0 + 10 * MIN);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s2.n, 1);
    assert_non_null(strstr(s2.lines[0], a1));
    assert_null(strstr(s2.lines[0], a0));
    char key[128];
    assert_non_null(strstr(s2.lines[0], key_at("acme", T0 + 10 * MIN, key)));
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A silenced alert is never recorded, so no restart brings it back. */
static void test_silenced_alert_not_resurrected(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("silenced.db");
    const char *m[] = {"topic=\"acme\""};
    es_error err = {0};
    int64_t sid;
    assert_int_equal(es_silence_add(db, m, 1, T0 - MIN, T0 + 60 * MIN, "outage", "test", T0 - MIN,
                                    &sid, &err),
                     0);
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    push_complaint(r, "c0", T0, NULL);
    push(r, ES_ALERT_COMPLAINT, "other", "o0", T0 + MIN, false, NULL);
    es_router_stats st;
    es_router_stats_get(r, &st);
    assert_int_equal(st.silenced, 1);
    assert_int_equal(waiting_rows(db), 1); /* only "other" waits */
    es_router_free(r);

    /* The silence ends before the new router runs: still nothing for acme. */
    assert_int_equal(es_silence_expire(db, sid, T0 + 2 * MIN), 0);
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.lines[0], "chat other@"));
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* The rows are bounded: past the cap an alert waits in memory only (and
 * still goes out with its group); a restart brings back what was kept. */
static void test_cap_bounds_the_rows(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("cap.db");
    seen s1 = {0}, s2 = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s1, &r), 0);
    es__router_set_waiting_cap(r, 3);
    char fp[16];
    for (int i = 0; i < 8; i++) {
        snprintf(fp, sizeof fp, "c%d", i);
        push_complaint(r, fp, T0 + i * 1000, NULL);
        assert_true(waiting_rows(db) <= 3);
    }
    assert_int_equal(waiting_rows(db), 3);
    es_router_free(r);

    assert_int_equal(es_router_new(k.rc, db, collect, &s2, &r), 0);
    assert_int_equal(es_router_advance(r, T0 + 5 * MIN), 0);
    assert_int_equal(s2.n, 1);
    assert_non_null(strstr(s2.lines[0], " count=3 "));
    assert_int_equal(waiting_rows(db), 0);
    /* With room again, new alerts are recorded again. */
    es__router_set_waiting_cap(r, 3);
    push_complaint(r, "d0", T0 + 20 * MIN, NULL);
    assert_int_equal(waiting_rows(db), 1);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A condition that fires and resolves inside group_wait was never told:
 * after a restart it is not told either, and its rows are gone. */
static void test_fired_and_resolved_unseen_stays_unseen(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("unseen.db");
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    push(r, ES_ALERT_VIRAL_POST, "acme", "v0", T0, false, NULL);
    push(r, ES_ALERT_VIRAL_POST, "acme", "v0", T0 + MIN, true, NULL);
    es_router_free(r);
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A condition that was notified firing and then resolved while the
 * resolution waited for group_interval: the restarted router says it is
 * resolved (and only that). */
static void test_resolution_waiting_is_sent(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("resolved.db");
    seen s1 = {0}, s2 = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s1, &r), 0);
    push(r, ES_ALERT_VIRAL_POST, "acme", "v0", T0, false, NULL);
    assert_int_equal(es_router_advance(r, T0 + 5 * MIN), 0);
    assert_int_equal(s1.n, 1);
    char rid[27];
    push(r, ES_ALERT_VIRAL_POST, "acme", "v0", T0 + 6 * MIN, true, rid);
    es_router_free(r);

    assert_int_equal(es_router_new(k.rc, db, collect, &s2, &r), 0);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s2.n, 1);
    assert_non_null(strstr(s2.lines[0], rid));
    char key[128];
    assert_non_null(strstr(s2.lines[0], key_at("acme", T0 + 10 * MIN, key)));
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A complaint folded into a firing wave waits in the wave's group and
 * comes back there (the inhibition is rebuilt from the restored wave). */
static void test_folded_complaint_returns_to_its_wave(void **state)
{
    (void)state;
    conf k = load("route:\n"
                  "  receivers: [chat]\n"
                  "  group_by: [topic, kind]\n"
                  "  group_wait: 5m\n"
                  "  max_examples: 0\n");
    es_route_db *db = open_db("fold.db");
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    char spike[27], c0[27];
    push(r, ES_ALERT_VOLUME_SPIKE, "acme", "acme/volume_spike", T0, false, spike);
    push_complaint(r, "c0", T0 + MIN, c0);
    assert_int_equal(waiting_rows(db), 2);
    es_router_free(r);

    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.lines[0], "acme/volume_spike@"));
    assert_non_null(strstr(s.lines[0], " count=2 "));
    assert_non_null(strstr(s.lines[0], spike));
    assert_non_null(strstr(s.lines[0], c0));
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A reload (a new router on the same database, with a new tree, while the
 * old one still exists) carries the waiting group over to where the new
 * tree sends it. */
static void test_reload_carries_groups_to_the_new_tree(void **state)
{
    (void)state;
    conf k1 = load(group5m);
    conf k2 = load("route:\n"
                   "  receivers: [other]\n"
                   "  group_by: [topic]\n"
                   "  group_wait: 5m\n");
    es_route_db *db = open_db("reload.db");
    seen s1 = {0}, s2 = {0};
    es_router *r1 = NULL, *r2 = NULL;
    assert_int_equal(es_router_new(k1.rc, db, collect, &s1, &r1), 0);
    push_complaint(r1, "c0", T0, NULL);
    assert_int_equal(es_router_new(k2.rc, db, collect, &s2, &r2), 0);
    es_router_free(r1);
    assert_int_equal(es_router_advance(r2, T0 + 5 * MIN), 0);
    assert_int_equal(s1.n, 0);
    assert_int_equal(s2.n, 1);
    assert_non_null(strstr(s2.lines[0], "other acme@"));
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r2);
    es_route_db_close(db);
    unload(&k1);
    unload(&k2);
}

/* es_router_flush_waiting (a clean stop) sends the group and ends the
 * rows; a group held by business hours stays recorded for the next start. */
static void test_flush_waiting_and_held_groups(void **state)
{
    (void)state;
    conf k = load("route:\n"
                  "  receivers: [chat]\n"
                  "  group_by: [topic]\n"
                  "  group_wait: 5m\n"
                  "  routes:\n"
                  "    - matchers: ['topic=\"later\"']\n"
                  "      business_hours:\n"
                  "        days: daily\n"
                  "        hours: \"09:00-17:00\"\n");
    es_route_db *db = open_db("flush.db");
    seen s1 = {0}, s2 = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s1, &r), 0);
    /* T0 is 00:00 UTC: outside business hours. */
    push_complaint(r, "c0", T0, NULL);
    push(r, ES_ALERT_COMPLAINT, "later", "l0", T0, false, NULL);
    assert_int_equal(es_router_flush_waiting(r, T0 + MIN), 0);
    assert_int_equal(s1.n, 1);
    assert_non_null(strstr(s1.lines[0], "chat acme@"));
    assert_int_equal(waiting_rows(db), 1); /* "later" is held */
    es_router_free(r);

    assert_int_equal(es_router_new(k.rc, db, collect, &s2, &r), 0);
    /* Business hours open at 09:00:00.000. */
    int64_t opens = T0 - 250 + 9 * 60 * MIN;
    assert_int_equal(es_router_advance(r, opens - 1), 0);
    assert_int_equal(s2.n, 0);
    assert_int_equal(es_router_advance(r, opens), 0);
    assert_int_equal(s2.n, 1);
    assert_non_null(strstr(s2.lines[0], "chat later@"));
    assert_int_equal(waiting_rows(db), 0);
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

/* A damaged row is dropped with a warning; the others come back. */
static void test_unreadable_row_is_dropped(void **state)
{
    (void)state;
    conf k = load(group5m);
    es_route_db *db = open_db("bad.db");
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    push_complaint(r, "c0", T0, NULL);
    push_complaint(r, "c1", T0 + 1000, NULL);
    es_router_free(r);
    assert_int_equal(sqlite3_exec(es__route_db_sqlite(db),
                                  "UPDATE route_waiting SET doc = '{\"alerts\":[{' WHERE id ="
                                  " (SELECT min(id) FROM route_waiting)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(es_router_new(k.rc, db, collect, &s, &r), 0);
    assert_int_equal(waiting_rows(db), 1);
    assert_int_equal(es_router_advance(r, T0 + 60 * MIN), 0);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.lines[0], " count=1 "));
    es_router_free(r);
    es_route_db_close(db);
    unload(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_in_group_wait_sends_after_restart),
        cmocka_unit_test(test_overdue_group_sent_at_next_advance),
        cmocka_unit_test(test_notified_alert_not_renotified),
        cmocka_unit_test(test_silenced_alert_not_resurrected),
        cmocka_unit_test(test_cap_bounds_the_rows),
        cmocka_unit_test(test_fired_and_resolved_unseen_stays_unseen),
        cmocka_unit_test(test_resolution_waiting_is_sent),
        cmocka_unit_test(test_folded_complaint_returns_to_its_wave),
        cmocka_unit_test(test_reload_carries_groups_to_the_new_tree),
        cmocka_unit_test(test_flush_waiting_and_held_groups),
        cmocka_unit_test(test_unreadable_row_is_dropped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
