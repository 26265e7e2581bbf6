/*
 * `earshot alerts` through the built binary, on a state database that the
 * router (the library, as the engine uses it) filled: incidents are listed,
 * acknowledged (by group, by incident number and by alert id), resolved;
 * acknowledgements land in the spool for the sinks the incident reached;
 * silences are added, listed, expired and seen by the router; dead letters
 * are listed and replayed. Times are given with --at so nothing depends on
 * the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "route.h"
#include "spool.h"
#include "testutil.h"
#include "timefmt.h"

static char dir[64];
static char cfg[128];
static char db[128];

static const char config_text[] =
    "state: state.db\n"
    "sinks:\n"
    "  - name: chat\n"
    "    type: stdout\n"
    "  - name: pager\n"
    "    type: stdout\n"
    "route:\n"
    "  receivers: []\n"
    "  group_by: [topic, kind]\n"
    "  group_wait: 0s\n"
    "  escalation: duty\n"
    "escalations:\n"
    "  - name: duty\n"
    "    tiers:\n"
    "      - sinks: [chat]\n"
    "      - after: 15m\n"
    "        sinks: [pager]\n";

static int64_t T(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(es_time_parse(s, strlen(s), &ms), 0);
    return ms;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_route_cli_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(cfg, sizeof cfg, "%s/earshot.yaml", dir);
    snprintf(db, sizeof db, "%s/state.db", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(config_text, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[192];
    const char *files[] = {"earshot.yaml", "state.db", "state.db-wal", "state.db-shm"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

/* Run `earshot alerts ARGS... -c cfg`; returns the exit status. */
static int alerts(char **out, char **err, ...)
{
    const char *argv[32] = {"earshot", "alerts"};
    int n = 2;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 28) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n++] = "-c";
    argv[n++] = cfg;
    argv[n] = NULL;
    return es_test_run(argv, NULL, 0, out, err);
}

static int ignore(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    (void)sink;
    (void)n;
    (void)at;
    (*(int *)ud)++;
    return 0;
}

/* The engine's side: route one complaint about `topic` at `t` into the
 * state database, opening an incident at tier 1. Returns its alert id. */
static void fire(const char *topic, const char *fp, int64_t t, char id[27])
{
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load(cfg, &c, &err), 0);
    es_route_conf *rc = NULL;
    assert_int_equal(es_route_conf_load(c, NULL, NULL, &rc, &err), 0);
    es_route_db *rdb = NULL;
    assert_int_equal(es_route_db_open(db, &rdb, &err), 0);
    int emitted = 0;
    es_router *r = NULL;
    assert_int_equal(es_router_new(rc, rdb, ignore, &emitted, &r), 0);
    es_alert_mention m = {.id = {"1", 1}, .author = {"jdoe", 4}, .text = {"lost my bag", 11}};
    es_alert a = {.kind = ES_ALERT_COMPLAINT, .severity = ES_SEV_WARNING, .topic = topic,
                  .at_ms = t, .fingerprint = fp, .summary = "lost my bag", .mentions = &m,
                  .n_mentions = 1};
    es_alert_make_id(&a, id);
    assert_int_equal(es_router_push(r, &a, NULL, 0, t), 0);
    assert_int_equal(es_router_advance(r, t), 0);
    es_router_stats st;
    es_router_stats_get(r, &st);
    assert_int_equal(emitted, 1); /* tier 1: chat */
    es_router_free(r);
    es_route_db_close(rdb);
    es_route_conf_free(rc);
    es_config_free(c);
}

static void test_incidents(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    char id1[27], id2[27], id3[27];
    fire("acme", "acme/complaint/1", T("2015-02-22T10:00:00Z"), id1);
    fire("globex", "globex/complaint/1", T("2015-02-22T10:01:00Z"), id2);
    fire("initech", "initech/complaint/1", T("2015-02-22T10:02:00Z"), id3);

    assert_int_equal(alerts(&out, &err, "list", NULL), 0);
    assert_non_null(strstr(out, "1    open         tier 1  duty             acme/complaint  "
                                "opened 2015-02-22T10:00:00Z  climbs 2015-02-22T10:15:00Z"));
    assert_non_null(strstr(out, "2    open"));
    assert_non_null(strstr(out, "sinks: chat"));
    free(out);
    free(err);

    /* Acknowledge by group name, 12.5 minutes after it opened. */
    assert_int_equal(alerts(&out, &err, "ack", "acme/complaint", "--by", "alice", "--at",
                            "2015-02-22T10:12:30Z", NULL),
                     0);
    assert_string_equal(out, "incident acme/complaint acknowledged by alice; 1 notification "
                             "queued\n");
    free(out);
    free(err);
    /* Again: already done, not an error. */
    assert_int_equal(alerts(&out, &err, "ack", "1", NULL), 0);
    assert_string_equal(out, "incident 1 was already acknowledged\n");
    free(out);
    free(err);
    /* By the id of an alert inside it, and by number. */
    assert_int_equal(alerts(&out, &err, "ack", id2, "--by", "bob", "--at", "2015-02-22T10:31:00Z",
                            NULL),
                     0);
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "resolve", "3", "--by", "carol", "--at",
                            "2015-02-22T10:40:00Z", NULL),
                     0);
    assert_string_equal(out, "incident 3 resolved by carol; 1 notification queued\n");
    free(out);
    free(err);

    /* Time to acknowledge is recorded per incident; the resolved one is
     * only listed with --all. */
    assert_int_equal(alerts(&out, &err, "list", NULL), 0);
    assert_non_null(strstr(out, "acknowledged by alice after 12m30s"));
    assert_non_null(strstr(out, "acknowledged by bob after 30m00s"));
    assert_null(strstr(out, "initech/complaint  opened"));
    /* The acknowledgements and the resolution wait in the spool for chat. */
    assert_non_null(strstr(out, "chat         acme/complaint@2015-02-22T10:12:30Z/ack"));
    assert_non_null(strstr(out, "chat         initech/complaint@2015-02-22T10:40:00Z/resolve"));
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "list", "--all", NULL), 0);
    assert_non_null(strstr(out, "resolved     tier 1  duty             initech/complaint"));
    free(out);
    free(err);

    /* The stored acknowledgement is the notification with action acknowledge. */
    es_spool *sp = NULL;
    es_error e = {0};
    assert_int_equal(es_spool_open(db, &sp, &e), 0);
    es_spool_item it;
    es_spool_item_init(&it);
    assert_int_equal(es_spool_claim(sp, "chat", T("2015-02-22T11:00:00Z"), 60000, &it), 1);
    assert_non_null(strstr(it.payload, "\"action\":\"acknowledge\""));
    assert_non_null(strstr(it.payload, "\"group\":\"acme/complaint\""));
    es_spool_item_free(&it);
    es_spool_close(sp);

    /* Unknown incidents are errors. */
    assert_int_equal(alerts(&out, &err, "ack", "nosuch/group", NULL), 1);
    assert_non_null(strstr(err, "no open incident 'nosuch/group'"));
    free(out);
    free(err);
}

static void test_silences(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(alerts(&out, &err, "silence", "add", "topic=\"acme\"", "kind=~\"complaint\"",
                            "--for", "2h", "--comment", "maintenance", "--by", "alice", "--at",
                            "2015-02-22T10:00:00Z", NULL),
                     0);
    assert_string_equal(out, "silence 1 until 2015-02-22T12:00:00Z\n");
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "silence", "list", "--at", "2015-02-22T11:00:00Z", NULL),
                     0);
    assert_non_null(strstr(out, "1    2015-02-22T10:00:00Z .. 2015-02-22T12:00:00Z  by alice  "
                                "\"maintenance\"\n       topic=\"acme\", kind=~\"complaint\""));
    free(out);
    free(err);

    /* The router sees it in its database. */
    es_route_db *rdb = NULL;
    es_error e = {0};
    assert_int_equal(es_route_db_open(db, &rdb, &e), 0);
    const char *vals[ES_RL_COUNT];
    for (int i = 0; i < ES_RL_COUNT; i++) {
        vals[i] = "";
    }
    vals[ES_RL_TOPIC] = "acme";
    vals[ES_RL_KIND] = "complaint";
    assert_true(es__route_db_silenced(rdb, vals, T("2015-02-22T11:00:00Z")));
    /* ...and notices when another process expires it. */
    assert_int_equal(alerts(&out, &err, "silence", "expire", "1", "--at", "2015-02-22T11:30:00Z",
                            NULL),
                     0);
    assert_string_equal(out, "silence 1 expired\n");
    free(out);
    free(err);
    assert_false(es__route_db_silenced(rdb, vals, T("2015-02-22T11:31:00Z")));
    es_route_db_close(rdb);

    assert_int_equal(alerts(&out, &err, "silence", "list", "--at", "2015-02-22T11:31:00Z", NULL),
                     0);
    assert_string_equal(out, "silences: none in force\n");
    free(out);
    free(err);

    /* Bad matchers are named, with the column. */
    assert_int_equal(alerts(&out, &err, "silence", "add", "sevrity=\"critical\"", NULL), 1);
    assert_non_null(strstr(err, "matcher 1 'sevrity=\"critical\"', column 1: unknown label "
                                "'sevrity'"));
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "silence", "expire", "99", NULL), 1);
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "silence", "add", "topic=acme", "--for", "soon", NULL),
                     2);
    free(out);
    free(err);
}

static void test_dead_letters(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    es_spool *sp = NULL;
    es_error e = {0};
    assert_int_equal(es_spool_open(db, &sp, &e), 0);
    int64_t t0 = T("2015-02-22T10:00:00Z");
    assert_int_equal(es_spool_enqueue(sp, "pager", "k1", "{}", 2, t0), 0);
    es_spool_item it;
    es_spool_item_init(&it);
    assert_int_equal(es_spool_claim(sp, "pager", t0, 60000, &it), 1);
    assert_int_equal(es_spool_dead(sp, it.id, t0 + 1000, "HTTP 400: bad routing key"), 0);
    es_spool_item_free(&it);
    es_spool_close(sp);

    assert_int_equal(alerts(&out, &err, "dlq", NULL), 0);
    assert_non_null(strstr(out, "dead letters:\n  1    dead      pager        k1"));
    assert_non_null(strstr(out, "error: HTTP 400: bad routing key"));
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "replay", "1", NULL), 0);
    assert_string_equal(out, "1 dead letter back in the queue\n");
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "dlq", NULL), 0);
    assert_string_equal(out, "dead letters: none\n");
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "replay", "1", NULL), 1);
    free(out);
    free(err);
}

typedef struct seen {
    char sink[32];
    char key[128];
    int n;
} seen;

static int remember(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    (void)at;
    seen *s = ud;
    snprintf(s->sink, sizeof s->sink, "%s", sink);
    snprintf(s->key, sizeof s->key, "%s", n->key);
    s->n++;
    return 0;
}

static void test_restart_continues_climb(void **state)
{
    (void)state;
    char id[27];
    /* One process opens the incident at 10:00 and goes away. */
    fire("acme", "acme/complaint/1", T("2015-02-22T10:00:00Z"), id);

    /* A new process on the same state database climbs it at 10:15. */
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load(cfg, &c, &err), 0);
    es_route_conf *rc = NULL;
    assert_int_equal(es_route_conf_load(c, NULL, NULL, &rc, &err), 0);
    es_route_db *rdb = NULL;
    assert_int_equal(es_route_db_open(db, &rdb, &err), 0);
    seen s = {0};
    es_router *r = NULL;
    assert_int_equal(es_router_new(rc, rdb, remember, &s, &r), 0);
    assert_int_equal(es_router_next_due(r), T("2015-02-22T10:15:00Z"));
    assert_int_equal(es_router_advance(r, T("2015-02-22T10:14:59Z")), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(es_router_advance(r, T("2015-02-22T11:00:00Z")), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.sink, "pager");
    assert_string_equal(s.key, "acme/complaint@2015-02-22T10:15:00Z/tier2");
    /* The last tier: nothing more to climb. */
    assert_int_equal(es_router_next_due(r), INT64_MAX);
    es_router_free(r);
    es_route_db_close(rdb);
    es_route_conf_free(rc);
    es_config_free(c);
}

static void test_usage(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *help[] = {"earshot", "alerts", "--help", NULL};
    assert_int_equal(es_test_run(help, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out, "silence add MATCHER..."));
    free(out);
    free(err);
    const char *noconf[] = {"earshot", "alerts", "list", NULL};
    assert_int_equal(es_test_run(noconf, NULL, 0, &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "frobnicate", NULL), 2);
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "ack", NULL), 2);
    free(out);
    free(err);
    assert_int_equal(alerts(&out, &err, "list", "--bogus", NULL), 2);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incidents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues_climb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
