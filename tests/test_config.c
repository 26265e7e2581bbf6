/*
 * The config loader and `earshot check`: what a user writing a config sees.
 * Valid files load into the right typed values with defaults; every kind of
 * mistake is reported with the file, line and column of the offending node,
 * all of them at once; secrets never appear in output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin.h"
#include "config.h"
#include "detect.h"
#include "earshot.h"
#include "engine.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX ES_TEST_FIXTURES "/config/"

/* ---- Helpers ---------------------------------------------------------------- */

struct errs {
    es_error e[ES_CONFIG_MAX_ERRORS];
    int n;
};

static void collect(const es_error *e, void *ud)
{
    struct errs *x = ud;
    if (x->n < ES_CONFIG_MAX_ERRORS) {
        x->e[x->n++] = *e;
    }
}

/* Load a fixture expecting failure; returns the collected errors. */
static struct errs *load_fail(const char *name, unsigned flags)
{
    struct errs *x = calloc(1, sizeof *x);
    es_config_opts opts = {.flags = flags, .on_error = collect, .ud = x};
    es_config *c = NULL;
    es_error err;
    char path[1024];
    snprintf(path, sizeof path, FIX "%s", name);
    int rc = es_config_load_ex(path, &opts, &c, &err);
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_true(x->n >= 1);
    /* The first error in file order is also the one returned. */
    assert_int_equal(err.line, x->e[0].line);
    assert_string_equal(err.msg, x->e[0].msg);
    assert_string_equal(err.file, path);
    return x;
}

static struct errs *buf_fail(const char *yaml)
{
    struct errs *x = calloc(1, sizeof *x);
    es_config_opts opts = {.on_error = collect, .ud = x};
    es_config *c = NULL;
    es_error err;
    int rc = es_config_load_buffer(yaml, strlen(yaml), "mem.yaml", NULL, &opts, &c, &err);
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_true(x->n >= 1);
    assert_string_equal(err.file, "mem.yaml");
    return x;
}

static es_config *buf_ok(const char *yaml)
{
    es_config *c = NULL;
    es_error err = {0};
    int rc = es_config_load_buffer(yaml, strlen(yaml), "mem.yaml", "/base", NULL, &c, &err);
    if (rc != 0) {
        fail_msg("unexpected error %d:%d: %s", err.line, err.col, err.msg);
    }
    return c;
}

/* Assert that error i is at line:col and its message contains `part`. */
static void expect_err(const struct errs *x, int i, int line, int col, const char *part)
{
    assert_true(i < x->n);
    if (x->e[i].line != line || x->e[i].col != col || strstr(x->e[i].msg, part) == NULL) {
        fail_msg("error %d: got %d:%d: %s; want %d:%d: ...%s...", i, x->e[i].line, x->e[i].col,
                 x->e[i].msg, line, col, part);
    }
}

static void set_test_env(void)
{
    setenv("ES_TEST_ADMIN_TOKEN", "admin-token-value", 1);
    setenv("ES_TEST_MASTODON_TOKEN", "mastodon-token-value", 1);
    setenv("ES_TEST_WEBHOOK_SECRET", "webhook-secret-value", 1);
    setenv("ES_TEST_SLACK_URL", "https://hooks.slack.com/services/T0SECRET/B0SECRET/xyzSECRET", 1);
    setenv("ES_TEST_SMTP_PASSWORD", "smtp-password-value", 1);
}

/* ---- A valid config --------------------------------------------------------------- */

static const es_config_item *find_item(const es_config *c, bool sink, const char *name)
{
    size_t n = sink ? es_config_sink_count(c) : es_config_feed_count(c);
    for (size_t i = 0; i < n; i++) {
        const es_config_item *it = sink ? es_config_sink(c, i) : es_config_feed(c, i);
        if (strcmp(es_config_item_name(it), name) == 0) {
            return it;
        }
    }
    fail_msg("no %s named %s", sink ? "sink" : "feed", name);
    return NULL;
}

static void test_valid_full(void **state)
{
    (void)state;
    es_config *c = NULL;
    es_error err = {0};
    int rc = es_config_load(FIX "valid.yaml", &c, &err);
    if (rc != 0) {
        fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    }
    /* Relative paths are relative to the config's directory. */
    assert_non_null(strstr(es_config_state_path(c), "/tests/fixtures/config/state/earshot.db"));
    assert_int_equal(es_config_state_path(c)[0], '/');
    assert_string_equal(es_config_lexicons_dir(c), "/usr/share/earshot/lexicons");
    assert_string_equal(es_config_log_level(c), "debug");
    assert_string_equal(es_config_log_format(c), "json");

    const es_config_item *admin = es_config_admin(c);
    assert_true(es_config_item_bool(admin, "enabled"));
    assert_string_equal(es_config_item_str(admin, "listen"), "127.0.0.1:9999");

    size_t n;
    const es_topic_def *t = es_config_topic_defs(c, &n);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].name, "acme");
    assert_string_equal(t[0].query, "@acme OR \"acme corp\" OR #acmefail");
    assert_int_equal(t[0].n_owned, 2);
    assert_string_equal(t[0].owned[1], "@acmehelp");
    assert_false(t[0].competitor);
    /* query_line/col: the first character inside the quotes. */
    assert_int_equal(t[0].query_line, 22);
    assert_int_equal(t[0].query_col, 13);
    assert_true(t[1].competitor);
    assert_int_equal(t[1].query_line, 27);
    assert_int_equal(t[1].query_col, 13);
    /* A block scalar: the first content line, at its indentation. */
    assert_string_equal(t[2].query, "refund* NEAR/3 acme\n");
    assert_int_equal(t[2].query_line, 31);
    assert_int_equal(t[2].query_col, 7);
    /* One plain string is a list of one. */
    assert_int_equal(t[2].n_owned, 1);
    assert_string_equal(es_config_topic_sensitivity(c, 0), "high");
    assert_null(es_config_topic_sensitivity(c, 1));
    assert_non_null(es_config_topics(c));

    /* Detector settings: global, then the topic's preset, then its overrides. */
    const es_detect_params *g = es__config_detect(c, (size_t)-1);
    assert_int_equal(g->bucket_ms, 10 * 60 * 1000);
    assert_true(g->volume_spike.threshold == 6.0);
    assert_true(g->complaint_threshold == 0.7);
    const es_detect_params *acme = es__config_detect(c, 0);
    assert_true(acme->volume_spike.threshold == 5.0);
    assert_int_equal(acme->sensitivity, ES_SENS_HIGH);
    assert_int_equal(acme->bucket_ms, 10 * 60 * 1000);
    const es_detect_params *globex = es__config_detect(c, 1);
    assert_true(globex->volume_spike.threshold == 6.0);

    /* Feeds: values from the file, and defaults from the tables. */
    assert_int_equal(es_config_feed_count(c), 5);
    const es_config_item *sse = find_item(c, false, "mastodon-acme");
    assert_string_equal(es_config_item_type(sse), "sse");
    assert_string_equal(es_config_item_kind(sse), "feed");
    assert_string_equal(es_config_item_str(sse, "format"), "mastodon");
    assert_int_equal(es_config_item_int(sse, "read_timeout"), 120000);
    assert_int_equal(es_config_item_int(sse, "connect_timeout"), 10000);
    assert_int_equal(es_config_item_int(sse, "idle_timeout"), 600000);
    const es_config_value *events = es_config_item_get(sse, "events");
    assert_true(events->has && !events->set);
    assert_int_equal(events->n_list, 2);
    assert_string_equal(events->list[1], "status.update");
    const es_config_value *tok = es_config_item_get(sse, "token");
    assert_int_equal(tok->secret, ES_SECRET_ENV);
    assert_string_equal(tok->str, "ES_TEST_MASTODON_TOKEN");
    assert_int_equal(tok->line, 39);
    assert_null(es_config_item_get(sse, "no_such_option"));

    const es_config_item *poll = find_item(c, false, "hn");
    assert_string_equal(es_config_item_str(poll, "preset"), "hn");
    assert_int_equal(es_config_item_int(poll, "interval"), 300000);
    assert_string_equal(es_config_item_str(poll, "format"), "auto");
    const es_config_item *hook = find_item(c, false, "push");
    assert_int_equal(es_config_item_int(hook, "max_body"), 256 * 1024);
    assert_string_equal(es_config_item_str(hook, "path"), "/mentions");
    const es_config_item *file = find_item(c, false, "replay");
    assert_true(es_config_item_float(file, "replay_speed") == 60.0);
    assert_false(es_config_item_bool(file, "follow"));

    /* Sinks: a merge key supplies shared settings; type rows override common ones. */
    assert_int_equal(es_config_sink_count(c), 7);
    const es_config_item *slack = find_item(c, true, "team-chat");
    assert_string_equal(es_config_item_str(slack, "min_severity"), "warning");
    assert_int_equal(es_config_item_int(slack, "timeout"), 5000);
    assert_true(es_config_item_float(slack, "rate") == 1.0);
    const es_config_item *pd = find_item(c, true, "pager");
    assert_string_equal(es_config_item_str(pd, "severity.warning"), "error");
    assert_string_equal(es_config_item_str(pd, "severity.critical"), "critical");
    assert_string_equal(es_config_item_str(pd, "url"), "https://events.pagerduty.com/v2/enqueue");
    const es_config_item *webhook = find_item(c, true, "hook");
    const es_config_value *kinds = es_config_item_get(webhook, "kinds");
    assert_int_equal(kinds->n_list, 2);
    assert_string_equal(kinds->list[0], "volume_spike");
    assert_int_equal(es_config_item_get(webhook, "url")->secret, ES_SECRET_LITERAL);
    const es_config_item *exec = find_item(c, true, "script");
    assert_int_equal(es_config_item_get(exec, "command")->n_list, 3);
    assert_int_equal(es_config_item_int(exec, "timeout"), 3000);
    assert_int_equal(es_config_item_int(exec, "max_attempts"), 12);
    const es_config_item *mail = find_item(c, true, "mail");
    assert_int_equal(es_config_item_get(mail, "to")->n_list, 2);
    assert_true(es_config_item_bool(mail, "starttls"));

    es_config_free(c);
}

static void test_secrets_resolve(void **state)
{
    (void)state;
    set_test_env();
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load(FIX "valid.yaml", &c, &err), 0);
    char *v = NULL;

    /* From the environment. */
    assert_int_equal(es_config_resolve_secret(find_item(c, true, "team-chat"), "url", &v, &err), 0);
    assert_string_equal(v, getenv("ES_TEST_SLACK_URL"));
    free(v);
    /* From a file, with its trailing newline trimmed. */
    assert_int_equal(es_config_resolve_secret(find_item(c, true, "pager"), "routing_key", &v, &err),
                     0);
    assert_string_equal(v, "pd-routing-key-0123456789abcdefg");
    free(v);
    /* A literal where the table allows one. */
    assert_int_equal(es_config_resolve_secret(find_item(c, true, "hook"), "url", &v, &err), 0);
    assert_string_equal(v, "https://hooks.example.com/earshot?sig=deadbeef");
    free(v);
    /* An optional secret that is not given. */
    assert_int_equal(es_config_resolve_secret(find_item(c, false, "hn"), "token", &v, &err),
                     ES_ENOTFOUND);
    assert_null(v);
    /* The admin section's token. */
    assert_int_equal(es_config_resolve_secret(es_config_admin(c), "token", &v, &err), 0);
    assert_string_equal(v, "admin-token-value");
    free(v);

    /* A variable that disappeared after loading: located at its key. */
    unsetenv("ES_TEST_SMTP_PASSWORD");
    memset(&err, 0, sizeof err);
    assert_int_equal(es_config_resolve_secret(find_item(c, true, "mail"), "password", &v, &err),
                     ES_ECONFIG);
    assert_null(v);
    assert_non_null(strstr(err.file, "valid.yaml"));
    assert_int_equal(err.line, 89);
    assert_int_equal(err.col, 5);
    assert_string_equal(err.msg,
                        "sink 'mail': environment variable ES_TEST_SMTP_PASSWORD is not set");
    es_config_free(c);
    set_test_env();
}

/* ---- Errors, located ---------------------------------------------------------------- */

static void test_unknown_keys(void **state)
{
    (void)state;
    struct errs *x = load_fail("unknown_keys.yaml", 0);
    assert_int_equal(x->n, 3);
    expect_err(x, 0, 1, 1, "unknown key 'colour'");
    expect_err(x, 1, 5, 5, "topic 'acme': unknown key 'qeury' (did you mean 'query'?)");
    expect_err(x, 2, 10, 5, "sink 'archive': unknown key 'mode'");
    assert_int_equal(x->e[0].code, ES_ECONFIG);
    free(x);
}

static void test_bad_query(void **state)
{
    (void)state;
    struct errs *x = load_fail("bad_query.yaml", 0);
    assert_int_equal(x->n, 1);
    /* Line 5 is `    query: '(acme OR "acme corp"'`: the '(' is at column 13. */
    expect_err(x, 0, 5, 13, "topic 'broken'");
    assert_int_equal(x->e[0].code, ES_EQUERY);
    free(x);
}

static void test_bad_queries_all_reported(void **state)
{
    (void)state;
    struct errs *x = buf_fail("topics:\n"
                              "  - {name: a, query: 'x AND'}\n"
                              "  - {name: b, query: ok}\n"
                              "  - {name: c, query: '\"open'}\n");
    assert_int_equal(x->n, 2);
    assert_int_equal(x->e[0].line, 2);
    assert_non_null(strstr(x->e[0].msg, "topic 'a'"));
    assert_int_equal(x->e[1].line, 4);
    assert_non_null(strstr(x->e[1].msg, "topic 'c'"));
    free(x);
}

static void test_missing_secret(void **state)
{
    (void)state;
    /* Loading does not read secrets unless asked: backfill needs no Slack URL. */
    es_config *c = NULL;
    es_error err;
    assert_int_equal(es_config_load(FIX "missing_secret.yaml", &c, &err), 0);
    es_config_free(c);

    struct errs *x = load_fail("missing_secret.yaml", ES_CONFIG_SECRETS);
    assert_int_equal(x->n, 2);
    expect_err(x, 0, 7, 5,
               "sink 'team-chat': environment variable ES_TEST_SURELY_UNSET_VARIABLE is not set");
    expect_err(x, 1, 10, 5, "sink 'pager': cannot read routing_key_file");
    free(x);
}

static void test_literal_secret(void **state)
{
    (void)state;
    struct errs *x = load_fail("literal_secret.yaml", 0);
    assert_int_equal(x->n, 1);
    expect_err(x, 0, 7, 5, "'url' is a secret");
    assert_non_null(strstr(x->e[0].msg, "url_env"));
    assert_non_null(strstr(x->e[0].msg, "url_file"));
    /* The message must not echo the secret back. */
    assert_null(strstr(x->e[0].msg, "XXXXXXXX"));
    free(x);
}

static void test_bad_types_and_bounds(void **state)
{
    (void)state;
    struct errs *x = load_fail("bad_types.yaml", 0);
    assert_int_equal(x->n, 6);
    expect_err(x, 0, 1, 14, "'log.level' must be one of debug, info, warn, error; not 'loud'");
    expect_err(x, 1, 5, 17, "'competitor' must be true or false, not 'yes'");
    expect_err(x, 2, 10, 15, "'interval' must be between 1s and 1d, not 100ms");
    expect_err(x, 3, 11, 16, "'page_size' must be a whole number, not 'many'");
    expect_err(x, 4, 15, 14, "'command' must have between 1 and 256 items, not 0");
    expect_err(x, 5, 16, 19, "'max_attempts' must be between 1 and 1000, not 0");
    free(x);
}

/* The state file's limits: bounds checked at the value, as for any key;
 * `earshot check` says where. */
static void test_state_limits(void **state)
{
    (void)state;
    struct errs *x = load_fail("bad_limits.yaml", 0);
    assert_int_equal(x->n, 2);
    expect_err(x, 0, 4, 12, "'dedup.max_ids' must be between 1000 and 50000000, not 10");
    expect_err(x, 1, 5, 12, "'dedup.max_age' must be between 10m and 365d, not 1m");
    free(x);

    const char *argv[] = {"earshot", "check", "-c", FIX "bad_limits.yaml", NULL};
    char *out, *err;
    assert_int_equal(es_test_run(argv, NULL, 0, &out, &err), 1);
    if (strstr(err, "bad_limits.yaml:4:12: 'dedup.max_ids' must be between 1000 and") == NULL ||
        strstr(err, "bad_limits.yaml:5:12: 'dedup.max_age' must be between") == NULL) {
        fail_msg("unexpected check output:\n%s", err);
    }
    free(out);
    free(err);

    /* In bounds, with the defaults beside it. */
    es_config *c = buf_ok("dedup: {max_ids: 5000}\ntopics: [{name: a, query: a}]\n");
    es_engine_state_limits lim;
    es_engine_state_limits_get(c, &lim);
    assert_int_equal(lim.store.max_ids, 5000);
    assert_int_equal(lim.store.retention_ms, 7LL * 24 * 3600 * 1000);
    es_config_free(c);
    c = buf_ok("topics: [{name: a, query: a}]\n");
    es_engine_state_limits_get(c, &lim);
    assert_int_equal(lim.store.max_ids, 2000000);
    es_config_free(c);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct errs *x = load_fail("dup_topics.yaml", 0);
    assert_int_equal(x->n, 1);
    expect_err(x, 0, 6, 11, "duplicate topic name 'acme' (first at line 2)");
    free(x);

    x = load_fail("dup_keys.yaml", 0);
    assert_int_equal(x->n, 1);
    expect_err(x, 0, 4, 5, "duplicate key 'query' (first at line 3)");
    free(x);

    x = buf_fail("sinks:\n"
                 "  - {name: out, type: stdout}\n"
                 "  - {name: out, type: file, path: a.ndjson}\n");
    expect_err(x, 0, 3, 12, "duplicate sink name 'out' (first at line 2)");
    free(x);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    struct errs *x = load_fail("syntax.yaml", 0);
    assert_int_equal(x->n, 1);
    assert_int_equal(x->e[0].line, 5);
    assert_non_null(strstr(x->e[0].msg, "line 3, column 12"));
    free(x);

    x = load_fail("empty.yaml", 0);
    expect_err(x, 0, 1, 1, "empty");
    free(x);

    x = load_fail("tabs.yaml", 0);
    expect_err(x, 0, 2, 1, "tab");
    free(x);

    x = buf_fail("- just\n- a list\n");
    expect_err(x, 0, 1, 1, "must be a mapping");
    free(x);

    x = buf_fail("topics: []\n---\ntopics: []\n");
    expect_err(x, 0, 2, 1, "second YAML document");
    free(x);

    x = buf_fail("topics: !!python/object {}\n");
    expect_err(x, 0, 1, 9, "unsupported YAML tag");
    free(x);

    x = buf_fail("topics: !custom {}\n");
    expect_err(x, 0, 1, 9, "unsupported YAML tag '!custom'");
    free(x);

    x = buf_fail("topics: [\"\\0\"]\n");
    assert_non_null(strstr(x->e[0].msg, "NUL"));
    free(x);

    /* Not UTF-8: located by line and column, not only a byte offset. */
    x = buf_fail("topics:\n  - name: caf\xe9\n");
    assert_int_equal(x->e[0].line, 2);
    free(x);

    /* Over the size cap: refused before parsing. */
    size_t big = ES_CONFIG_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    es_config *c = NULL;
    es_error err;
    assert_int_equal(es_config_load_buffer(huge, big, "big.yaml", NULL, NULL, &c, &err),
                     ES_ETOOBIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "larger than 4 MiB"));
    free(huge);

    /* A directory is not a config. */
    assert_int_equal(es_config_load(ES_TEST_FIXTURES "/config", &c, &err), ES_EIO);
    assert_non_null(strstr(err.msg, "cannot read the config file"));

    x = load_fail("no-such-file.yaml", 0);
    assert_int_equal(x->e[0].code, ES_EIO);
    assert_int_equal(x->e[0].line, 0);
    free(x);
}

static void test_detect_errors(void **state)
{
    (void)state;
    struct errs *x = load_fail("bad_detect.yaml", 0);
    assert_int_equal(x->n, 2);
    /* An unknown detector key points at the key, a bad value at the value. */
    expect_err(x, 0, 3, 5, "volume_spike.treshold");
    expect_err(x, 1, 8, 28, "topic 'acme': detect: complaint_threshold");
    free(x);
}

static void test_missing_required_and_shapes(void **state)
{
    (void)state;
    struct errs *x = buf_fail("topics:\n"
                              "  - name: acme\n"
                              "  - query: x\n"
                              "  - name: 'bad name!'\n"
                              "    query: x\n"
                              "feeds:\n"
                              "  - name: f\n"
                              "    type: carrier-pigeon\n"
                              "    wings: 2\n"
                              "  - name: g\n"
                              "    url: http://x\n"
                              "sinks: {name: s}\n");
    expect_err(x, 0, 2, 5, "topic 'acme': missing required key 'query'");
    expect_err(x, 1, 3, 5, "topic #2: missing required key 'name'");
    expect_err(x, 2, 4, 11, "a name may hold only");
    expect_err(x, 3, 8, 11, "'type' must be one of file, sse, ndjson, poll, webhook");
    expect_err(x, 4, 10, 5, "feed 'g': missing required key 'type'");
    expect_err(x, 5, 12, 8, "'sinks' must be a list");
    /* Keys of an unknown type are not judged: the type is the problem. */
    assert_int_equal(x->n, 6);
    free(x);

    x = buf_fail("topics:\n  - name: a\n    query:\n");
    expect_err(x, 0, 3, 11, "'query' has no value");
    assert_int_equal(x->n, 1);
    free(x);

    x = buf_fail("topics:\n  - {name: a, query: x, owned: {a: b}}\n");
    expect_err(x, 0, 2, 32, "'owned' must be a list, not a mapping");
    free(x);

    x = buf_fail("sinks:\n  - {name: s, type: slack, url_env: A, url_file: b}\n");
    expect_err(x, 0, 2, 40, "give only one of 'url', 'url_env' and 'url_file'");
    free(x);

    x = buf_fail("sinks:\n  - {name: s, type: slack, url_env: 'not a name'}\n");
    expect_err(x, 0, 2, 37, "must name an environment variable");
    free(x);

    x = buf_fail("feeds:\n  - {name: w, type: webhook, max_body: 1TB}\n");
    expect_err(x, 0, 2, 40, "'max_body' must be a size");
    free(x);
}

/* ---- YAML features ------------------------------------------------------------------------ */

static void test_anchors_and_merge(void **state)
{
    (void)state;
    es_config *c = buf_ok("x-base: &base {type: file, path: a.ndjson, timeout: 5s}\n"
                          "x-more: &more {min_severity: critical, timeout: 9s}\n"
                          "sinks:\n"
                          "  - name: one\n"
                          "    <<: [*base, *more]\n"
                          "    timeout: 1s\n"
                          "  - <<: *base\n"
                          "    name: two\n"
                          "topics:\n"
                          "  - &t {name: t, query: x}\n");
    const es_config_item *one = es_config_sink(c, 0);
    /* An explicit key wins over merged ones; earlier sources over later. */
    assert_int_equal(es_config_item_int(one, "timeout"), 1000);
    assert_string_equal(es_config_item_str(one, "min_severity"), "critical");
    assert_string_equal(es_config_item_type(one), "file");
    assert_string_equal(es_config_item_str(one, "path"), "/base/a.ndjson");
    const es_config_item *two = es_config_sink(c, 1);
    assert_int_equal(es_config_item_int(two, "timeout"), 5000);
    assert_string_equal(es_config_item_name(two), "two");
    es_config_free(c);

    /* A merged key is still validated, and located where it was written. */
    struct errs *x = buf_fail("x-bad: &bad {colour: red}\n"
                              "sinks:\n"
                              "  - {<<: *bad, name: s, type: stdout}\n");
    expect_err(x, 0, 1, 14, "sink 's': unknown key 'colour'");
    free(x);

    x = buf_fail("topics: [*nowhere]\n");
    expect_err(x, 0, 1, 10, "alias '*nowhere'");
    free(x);

    x = buf_fail("a: &a [*a]\n");
    assert_non_null(strstr(x->e[0].msg, "alias '*a'"));
    free(x);

    x = buf_fail("x-m: {<<: [1, 2]}\n");
    assert_non_null(strstr(x->e[0].msg, "merge key"));
    free(x);
}

static void test_alias_bomb_and_depth(void **state)
{
    (void)state;
    /* Each level doubles: 2^30 nodes once expanded, from a few hundred bytes. */
    char yaml[4096];
    size_t len = (size_t)snprintf(yaml, sizeof yaml, "x-0: &a0 [x, x]\n");
    for (int i = 1; i <= 30; i++) {
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "x-%d: &a%d [*a%d, *a%d]\n", i, i,
                                i - 1, i - 1);
    }
    struct errs *x = buf_fail(yaml);
    assert_int_equal(x->e[0].code, ES_ETOOBIG);
    assert_non_null(strstr(x->e[0].msg, "aliases"));
    free(x);

    /* Deep nesting is refused, not recursed into. */
    char deep[512];
    len = 0;
    len += (size_t)snprintf(deep, sizeof deep, "x-deep: ");
    for (int i = 0; i < 100; i++) {
        deep[len++] = '[';
    }
    for (int i = 0; i < 100; i++) {
        deep[len++] = ']';
    }
    deep[len++] = '\n';
    deep[len] = '\0';
    x = buf_fail(deep);
    assert_non_null(strstr(x->e[0].msg, "levels deep"));
    free(x);
}

static void test_item_equal(void **state)
{
    (void)state;
    /* What a SIGHUP reload asks: which feeds and sinks did not change? */
    es_config *a = buf_ok("feeds:\n"
                          "  - {name: f, type: sse, url: 'http://a/', token_env: T}\n"
                          "  - {name: g, type: file, path: x.ndjson}\n"
                          "admin: {enabled: true}\n");
    es_config *b = buf_ok("# reordered and reformatted, same meaning\n"
                          "admin:\n  enabled: true\n"
                          "feeds:\n"
                          "  - name: f\n    token_env: T\n    type: sse\n    url: http://a/\n"
                          "  - {name: g, type: file, path: x.ndjson, follow: true}\n");
    assert_true(es_config_item_equal(es_config_feed(a, 0), es_config_feed(b, 0)));
    assert_false(es_config_item_equal(es_config_feed(a, 1), es_config_feed(b, 1)));
    assert_false(es_config_item_equal(es_config_feed(a, 0), es_config_feed(b, 1)));
    assert_true(es_config_item_equal(es_config_admin(a), es_config_admin(b)));
    es_config_free(a);
    es_config_free(b);
}

static void test_nulls_and_defaults(void **state)
{
    (void)state;
    /* Empty sections mean "defaults"; "x-" keys are free. */
    es_config *c = buf_ok("log:\n"
                          "detect:\n"
                          "topics:\n"
                          "feeds: ~\n"
                          "x-notes: anything goes here\n");
    assert_string_equal(es_config_log_level(c), "info");
    assert_string_equal(es_config_state_path(c), "/base/earshot.db");
    assert_null(es_config_lexicons_dir(c));
    assert_false(es_config_item_bool(es_config_admin(c), "enabled"));
    assert_string_equal(es_config_item_str(es_config_admin(c), "listen"), "127.0.0.1:9464");
    size_t n;
    es_config_topic_defs(c, &n);
    assert_int_equal(n, 0);
    assert_int_equal(es_config_feed_count(c), 0);
    es_config_free(c);
}

static void test_error_cap(void **state)
{
    (void)state;
    /* Many errors: all collected up to the cap, the last says how many more. */
    size_t cap = 200 * 40;
    char *yaml = malloc(cap);
    size_t len = (size_t)snprintf(yaml, cap, "topics:\n");
    for (int i = 0; i < 150; i++) {
        len += (size_t)snprintf(yaml + len, cap - len, "  - {name: t%d, query: x, bad: 1}\n", i);
    }
    struct errs *x = buf_fail(yaml);
    assert_int_equal(x->n, ES_CONFIG_MAX_ERRORS);
    assert_non_null(strstr(x->e[ES_CONFIG_MAX_ERRORS - 1].msg, "and 50 more errors"));
    free(x);
    free(yaml);
}

/* ---- The option tables ----------------------------------------------------------------- */

struct seen {
    int total;
    bool sse_token_env, slack_url_env, slack_url, webhook_url, pd_sev, detect_threshold;
    bool topic_query, top_state;
    int missing_help;
};

static int visit(const es_config_option_info *o, void *ud)
{
    struct seen *s = ud;
    s->total++;
    if (o->help == NULL || o->help[0] == '\0') {
        s->missing_help++;
    }
    if (strcmp(o->section, "feeds[type=sse]") == 0 && strcmp(o->key, "token_env") == 0) {
        s->sse_token_env = true;
    }
    if (strcmp(o->section, "sinks[type=slack]") == 0 && strcmp(o->key, "url_env") == 0) {
        s->slack_url_env = true;
        assert_true(o->required);
    }
    if (strcmp(o->section, "sinks[type=slack]") == 0 && strcmp(o->key, "url") == 0) {
        s->slack_url = true;
    }
    if (strcmp(o->section, "sinks[type=webhook]") == 0 && strcmp(o->key, "url") == 0) {
        s->webhook_url = true;
    }
    if (strcmp(o->section, "sinks[type=pagerduty]") == 0 &&
        strcmp(o->key, "severity.critical") == 0) {
        s->pd_sev = true;
        assert_string_equal(o->def, "critical");
    }
    if (strcmp(o->section, "detect") == 0 && strcmp(o->key, "volume_spike.threshold") == 0) {
        s->detect_threshold = true;
    }
    if (strcmp(o->section, "topics[]") == 0 && strcmp(o->key, "query") == 0) {
        s->topic_query = true;
        assert_true(o->required);
        assert_string_equal(o->type, "string");
    }
    if (strcmp(o->section, "") == 0 && strcmp(o->key, "state") == 0) {
        s->top_state = true;
        assert_string_equal(o->def, "earshot.db");
    }
    return 0;
}

static int stop_early(const es_config_option_info *o, void *ud)
{
    (void)o;
    return ++*(int *)ud == 3 ? 42 : 0;
}

static void test_option_tables_enumerable(void **state)
{
    (void)state;
    struct seen s = {0};
    assert_int_equal(es_config_foreach_option(visit, &s), 0);
    assert_true(s.total > 100);
    assert_int_equal(s.missing_help, 0);
    assert_true(s.sse_token_env && s.slack_url_env && s.webhook_url && s.pd_sev);
    assert_true(s.detect_threshold && s.topic_query && s.top_state);
    /* A Slack URL is a credential: there is no plain `url` key for it. */
    assert_false(s.slack_url);
    int count = 0;
    assert_int_equal(es_config_foreach_option(stop_early, &count), 42);
    assert_int_equal(count, 3);
    assert_string_equal(es_config_sink_types[0], "stdout");
    assert_string_equal(es_config_feed_types[1], "sse");
}

/* ---- earshot check --------------------------------------------------------------------------- */

static void test_cli_check_valid(void **state)
{
    (void)state;
    set_test_env();
    const char *argv[] = {"earshot", "check", "-c", FIX "valid.yaml", NULL};
    char *out, *err;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    if (rc != 0) {
        fail_msg("exit %d, stderr: %s", rc, err);
    }
    assert_string_equal(err, "");
    assert_non_null(strstr(out, "valid.yaml: OK"));
    assert_non_null(strstr(out, "topics: 3"));
    assert_non_null(strstr(out, "  acme\n"));
    assert_non_null(strstr(out, "owned: @acme, @acmehelp"));
    assert_non_null(strstr(out, "globex (competitor)"));
    assert_non_null(strstr(out, "volume_spike.threshold=5"));
    assert_non_null(strstr(out, "feeds: 5"));
    assert_non_null(strstr(out, "mastodon-acme: sse, https://mastodon.example/"));
    assert_non_null(strstr(out, "sinks: 7"));
    assert_non_null(strstr(out, "team-chat: slack, https://hooks.slack.com/***"));
    assert_non_null(strstr(out, "environment variable ES_TEST_SLACK_URL"));
    assert_non_null(strstr(out, "state/earshot.db"));
    /* The file sink was built (opened) to check it; the file it created,
     * empty, is gone again. */
    FILE *archive = fopen(FIX "alerts.ndjson", "r");
    if (archive != NULL) {
        fclose(archive);
        fail_msg("check left the archive sink's alerts.ndjson behind");
    }
    /* No secret, and no credential in a URL, is ever printed. */
    const char *secrets[] = {"T0SECRET",       "admin-token-value",  "mastodon-token-value",
                             "abc123",         "deadbeef",           "x-secret-token",
                             "pd-routing-key", "smtp-password-value"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(out, secrets[i]) != NULL) {
            fail_msg("check printed the secret '%s'", secrets[i]);
        }
    }
    free(out);
    free(err);

    const char *quiet[] = {"earshot", "check", "--quiet", "-c", FIX "valid.yaml", NULL};
    rc = es_test_run(quiet, NULL, 0, &out, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
    free(err);
}

static void test_cli_check_errors(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "check", "-c", FIX "unknown_keys.yaml", NULL};
    char *out, *err;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "unknown_keys.yaml:1:1: unknown key 'colour'\n"));
    assert_non_null(strstr(err, "unknown_keys.yaml:5:5: topic 'acme': unknown key 'qeury'"));
    assert_non_null(strstr(err, "unknown_keys.yaml:10:5: sink 'archive': unknown key 'mode'"));
    assert_non_null(strstr(err, "3 errors"));
    free(out);
    free(err);

    /* Secrets are checked by `check`. */
    const char *sec[] = {"earshot", "check", "-c", FIX "missing_secret.yaml", NULL};
    rc = es_test_run(sec, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "missing_secret.yaml:7:5: sink 'team-chat': environment "
                                "variable ES_TEST_SURELY_UNSET_VARIABLE is not set"));
    free(out);
    free(err);

    const char *bad_query[] = {"earshot", "check", "-c", FIX "bad_query.yaml", NULL};
    rc = es_test_run(bad_query, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "bad_query.yaml:5:13: topic 'broken'"));
    free(out);
    free(err);

    const char *missing[] = {"earshot", "check", "-c", FIX "no-such.yaml", NULL};
    rc = es_test_run(missing, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "no-such.yaml: cannot read the config file"));
    free(out);
    free(err);
}

/* What only building the feeds and sinks finds (as `run` does at startup):
 * check reports it too, every error at its line, and sends nothing. */
static void test_cli_check_builds_feeds_and_sinks(void **state)
{
    (void)state;
    setenv("ES_TEST_SHORT_PD_KEY", "too-short", 1);
    const char *argv[] = {"earshot", "check", "-c", FIX "build_errors.yaml", NULL};
    char *out, *err;
    int rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "");
    static const char *const want[] = {
        "build_errors.yaml:9:13: feed 'pushed': listen: expected ADDRESS:PORT",
        "build_errors.yaml:13:10: feed 'stream': 'url' must be an http:// or https:// URL",
        "build_errors.yaml:17:5: sink 'hook': 'url' must be http:// or https://\n",
        "build_errors.yaml:20:10: sink 'mail': 'url' must be smtp://host[:port] or smtps://",
        "build_errors.yaml:25:5: sink 'pager': 'routing_key' must be a 32-character",
        "build_errors.yaml:28:11: sink 'archive': cannot open "
        "'/nonexistent-earshot-dir/alerts.ndjson'",
        "build_errors.yaml:31:14: sink 'script': program '/nonexistent-earshot-dir/notify' not "
        "found",
        "build_errors.yaml: 7 errors\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(err, want[i]) == NULL) {
            fail_msg("missing \"%s\" in:\n%s", want[i], err);
        }
    }
    /* Nothing logged on the way (feeds made and closed say nothing). */
    assert_null(strstr(err, "INFO"));
    /* The valid file sink was opened to prove it can be, and the empty
     * file it created removed again. */
    FILE *f = fopen(FIX "build_errors-out.ndjson", "r");
    if (f != NULL) {
        fclose(f);
        remove(FIX "build_errors-out.ndjson");
        fail_msg("check left build_errors-out.ndjson behind");
    }
    free(out);
    free(err);

    /* A 32-character key takes exactly that error away. */
    setenv("ES_TEST_SHORT_PD_KEY", "0123456789abcdef0123456789abcdef", 1);
    rc = es_test_run(argv, NULL, 0, &out, &err);
    assert_int_equal(rc, 1);
    assert_null(strstr(err, "sink 'pager'"));
    assert_non_null(strstr(err, "build_errors.yaml: 6 errors\n"));
    free(out);
    free(err);
}

/* `admin.listen` is parsed by check as the endpoint parses it at start:
 * a bad one fails check at its line, not `run` after deployment. */
static void test_cli_check_admin_listen(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "check", "-c", FIX "bad_admin_listen.yaml", NULL};
    char *out, *err;
    assert_int_equal(es_test_run(argv, NULL, 0, &out, &err), 1);
    assert_string_equal(out, "");
    if (strstr(err, "bad_admin_listen.yaml:5:11: 'admin.listen' has port '99999', not a number "
                    "from 0 to 65535") == NULL ||
        strstr(err, "bad_admin_listen.yaml: 1 error\n") == NULL) {
        fail_msg("unexpected check output:\n%s", err);
    }
    free(out);
    free(err);

    /* What the endpoint takes and what it refuses, with the reason. */
    static const char *const good[] = {"127.0.0.1:9464", "localhost:0", ":9464",
                                       "[::1]:9464",     "0.0.0.0:65535"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char why[128] = "";
        if (es_admin_check_listen(good[i], why, sizeof why) != 0) {
            fail_msg("'%s' refused: %s", good[i], why);
        }
    }
    static const struct {
        const char *listen, *why;
    } bad[] = {
        {"127.0.0.1:99999", "has port '99999'"},
        {"localhost:abc", "has port 'abc'"},
        {"127.0.0.1: 80", "has port ' 80'"},
        {"127.0.0.1:+80", "has port '+80'"},
        {"127.0.0.1:", "has port ''"},
        {"127.0.0.1", "has no port"},
        {"admin.example.com:9464", "has host 'admin.example.com', not an IP address"},
        {"[::1:9464", "is not [IPV6]:PORT"},
        {"[::1]9464", "is not [IPV6]:PORT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[128] = "";
        if (es_admin_check_listen(bad[i].listen, why, sizeof why) != ES_EINVAL ||
            strstr(why, bad[i].why) == NULL) {
            fail_msg("'%s': want refused with \"%s\", got \"%s\"", bad[i].listen, bad[i].why,
                     why);
        }
    }
    char longer[300];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(es_admin_check_listen(longer, NULL, 0), ES_EINVAL);
}

static void test_cli_check_usage(void **state)
{
    (void)state;
    const char *none[] = {"earshot", "check", NULL};
    const char *extra[] = {"earshot", "check", "-c", FIX "valid.yaml", "--frobnicate", NULL};
    const char *dangling[] = {"earshot", "check", "-c", NULL};
    const char *const *cases[] = {none, extra, dangling};
    for (size_t i = 0; i < 3; i++) {
        char *out, *err;
        assert_int_equal(es_test_run(cases[i], NULL, 0, &out, &err), 2);
        assert_non_null(strstr(err, "earshot check: "));
        free(out);
        free(err);
    }
    const char *help[] = {"earshot", "check", "--help", NULL};
    char *out, *err;
    assert_int_equal(es_test_run(help, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out, "usage: earshot check -c CONFIG"));
    free(out);
    free(err);
}

static int count_options(const es_config_option_info *o, void *ud)
{
    (void)o;
    ++*(int *)ud;
    return 0;
}

static void test_cli_reference(void **state)
{
    (void)state;
    const char *argv[] = {"earshot", "check", "--reference", NULL};
    char *out, *err;
    assert_int_equal(es_test_run(argv, NULL, 0, &out, &err), 0);
    /* One Markdown row per key the tables accept, no more, no less. */
    int want = 0, rows = 0;
    es_config_foreach_option(count_options, &want);
    for (const char *p = out; (p = strstr(p, "\n| `")) != NULL; p++) {
        rows++;
    }
    assert_int_equal(rows, want);
    assert_non_null(strstr(out, "### `sinks[type=slack]`"));
    assert_non_null(strstr(out, "| `url_env` | secret (environment variable name) | required |"));
    assert_non_null(strstr(out, "| `interval` | duration, 1s..1d | `60s` |"));
    assert_non_null(strstr(out, "| `sensitivity` | enum: `low`, `balanced`, `high` |"));
    assert_non_null(strstr(out, "### `detect`"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_full),
        cmocka_unit_test(test_secrets_resolve),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_bad_query),
        cmocka_unit_test(test_bad_queries_all_reported),
        cmocka_unit_test(test_missing_secret),
        cmocka_unit_test(test_literal_secret),
        cmocka_unit_test(test_bad_types_and_bounds),
        cmocka_unit_test(test_state_limits),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_detect_errors),
        cmocka_unit_test(test_missing_required_and_shapes),
        cmocka_unit_test(test_anchors_and_merge),
        cmocka_unit_test(test_alias_bomb_and_depth),
        cmocka_unit_test(test_item_equal),
        cmocka_unit_test(test_nulls_and_defaults),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_option_tables_enumerable),
        cmocka_unit_test(test_cli_check_valid),
        cmocka_unit_test(test_cli_check_errors),
        cmocka_unit_test(test_cli_check_builds_feeds_and_sinks),
        cmocka_unit_test(test_cli_check_admin_listen),
        cmocka_unit_test(test_cli_check_usage),
        cmocka_unit_test(test_cli_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
