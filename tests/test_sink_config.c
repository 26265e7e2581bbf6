/*
 * The config schema and the sinks agree: every key a `sinks:` item may hold
 * is an option of that sink type, with the same default, the same
 * "required" and the same secrecy, and the other way round; and a config
 * that sets every option of every sink type builds every sink through the
 * engine's own path (es_sink_from_config) with the values arriving where a
 * receiver sees them (the request a sink builds). Feeds have no tables of
 * their own; the one feed whose built-in limits became schema rows (the
 * webhook listener) is checked for the same defaults.
 *
 * Added an option to a sink type or to the schema? Add it to the other
 * side, to the README's reference (`earshot check --reference`), and to
 * FULL_CONFIG below: test_every_option_is_set fails until you do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "earshot/config.h"
#include "feed_webhook.h"
#include "sink.h"
#include "sink_config.h"
#include "timefmt.h"

#include <yajl/yajl_tree.h>

/* ---- The schema side ------------------------------------------------------ */

/* One key of the schema as the sink would see it: a secret by its base
 * name ("url", not "url_env"), a nested section flattened ("severity.info"). */
typedef struct cfg_row {
    char section[48]; /* "sinks[]" or "sinks[type=slack]" */
    char key[64];
    const es_option *opt;
} cfg_row;

typedef struct cfg_rows {
    cfg_row rows[512];
    size_t n;
} cfg_rows;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int collect(const es_config_option_info *info, void *ud)
{
    cfg_rows *r = ud;
    if (strncmp(info->section, "sinks[", 6) != 0) {
        return 0;
    }
    char key[64];
    snprintf(key, sizeof key, "%s", info->key);
    if (info->opt != NULL && info->opt->type == ES_OPT_SECRET) {
        if (ends_with(key, "_env")) {
            key[strlen(key) - 4] = '\0';
        } else if (ends_with(key, "_file")) {
            key[strlen(key) - 5] = '\0';
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->rows[i].section, info->section) == 0 && strcmp(r->rows[i].key, key) == 0) {
            return 0; /* url_env, url_file and url are one option */
        }
    }
    assert_true(r->n < sizeof r->rows / sizeof r->rows[0]);
    cfg_row *row = &r->rows[r->n++];
    snprintf(row->section, sizeof row->section, "%s", info->section);
    snprintf(row->key, sizeof row->key, "%s", key);
    row->opt = info->opt;
    return 0;
}

static const cfg_row *cfg_find(const cfg_rows *r, const char *section, const char *key)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->rows[i].section, section) == 0 && strcmp(r->rows[i].key, key) == 0) {
            return &r->rows[i];
        }
    }
    return NULL;
}

/* The schema's row for `key` in a sink of type `type`: the type's row wins
 * over the common one, as in the loader. */
static const cfg_row *cfg_effective(const cfg_rows *r, const char *type, const char *key)
{
    char section[48];
    snprintf(section, sizeof section, "sinks[type=%s]", type);
    const cfg_row *row = cfg_find(r, section, key);
    return row != NULL ? row : cfg_find(r, "sinks[]", key);
}

static bool engine_key(const char *key)
{
    for (const char *const *k = es_sink_config_engine_keys; *k != NULL; k++) {
        if (strcmp(*k, key) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- The sink side -------------------------------------------------------- */

/* The sink's row for `key`: the type's own, else the common one. */
static const es_sink_option *sink_find(const struct es_sink_type *t, const char *key)
{
    for (const es_sink_option *o = t->options; o != NULL && o->name != NULL; o++) {
        if (strcmp(o->name, key) == 0) {
            return o;
        }
    }
    for (const es_sink_option *o = es_sink_common_options; o->name != NULL; o++) {
        if (strcmp(o->name, key) == 0) {
            return o;
        }
    }
    return NULL;
}

/* What the sink uses when the key is not given: `rate` falls back to the
 * type's default_rate, everything else to the table. */
static const char *sink_default(const struct es_sink_type *t, const es_sink_option *o)
{
    if (o->def == NULL && strcmp(o->name, "rate") == 0) {
        return t->default_rate;
    }
    return o->def;
}

/* ---- Comparing ------------------------------------------------------------ */

static bool types_fit(es_opt_type c, es_sink_opt_type s)
{
    switch (c) {
    case ES_OPT_STRING:
    case ES_OPT_PATH:
    case ES_OPT_ENUM:
    case ES_OPT_SECRET:
        return s == ES_SINK_OPT_STRING;
    case ES_OPT_INT:
    case ES_OPT_SIZE:
        return s == ES_SINK_OPT_INT;
    case ES_OPT_BOOL:
        return s == ES_SINK_OPT_BOOL;
    case ES_OPT_DURATION:
        return s == ES_SINK_OPT_DURATION;
    case ES_OPT_RATE:
        return s == ES_SINK_OPT_RATE;
    case ES_OPT_LIST:
        return s == ES_SINK_OPT_LIST;
    default:
        return false; /* no sink option is a float, a section or raw YAML */
    }
}

/* Two defaults mean the same to the sink ("1s" and "1000ms", "2" and "2/s"). */
static bool same_default(es_sink_opt_type type, const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (type == ES_SINK_OPT_DURATION) {
        int64_t x, y;
        return es_duration_parse(a, &x) == 0 && es_duration_parse(b, &y) == 0 && x == y;
    }
    if (type == ES_SINK_OPT_RATE) {
        es_rate x, y;
        return es_rate_parse(a, &x) == 0 && es_rate_parse(b, &y) == 0 &&
               (int64_t)x.per * y.period_ms == (int64_t)y.per * x.period_ms;
    }
    return strcmp(a, b) == 0;
}

/*
 * Every difference between the schema's keys for sinks of `type` and the
 * sink type `t`, printed; returns how many. The secrecy rule: a key the
 * sink insists is secret is secret-only in the schema; a key the schema
 * takes as a secret the sink accepts as one; a plain key is plain on both.
 */
static int compare_type(const cfg_rows *r, const char *type, const struct es_sink_type *t)
{
    int bad = 0;
    char section[48];
    snprintf(section, sizeof section, "sinks[type=%s]", type);
    /* Schema -> sink. */
    for (size_t i = 0; i < r->n; i++) {
        const cfg_row *row = &r->rows[i];
        if (strcmp(row->section, "sinks[]") != 0 && strcmp(row->section, section) != 0) {
            continue;
        }
        if (engine_key(row->key) || cfg_effective(r, type, row->key) != row) {
            continue;
        }
        const es_sink_option *o = sink_find(t, row->key);
        if (o == NULL) {
            fprintf(stderr, "%s: '%s' is in the config schema but sink type %s has no such "
                            "option\n", section, row->key, t->name);
            bad++;
            continue;
        }
        const es_option *c = row->opt;
        if (!types_fit(c->type, o->type)) {
            fprintf(stderr, "%s: '%s' is a %s in the schema, which the sink does not parse as "
                            "that\n", section, row->key, es_opt_type_name(c->type));
            bad++;
        }
        const char *sdef = sink_default(t, o);
        if (!same_default(o->type, c->def, sdef)) {
            fprintf(stderr, "%s: '%s' defaults to '%s' in the schema but '%s' in the sink\n",
                    section, row->key, c->def ? c->def : "(none)", sdef ? sdef : "(none)");
            bad++;
        }
        bool creq = (c->flags & ES_OPT_REQUIRED) != 0;
        bool sreq = (o->flags & ES_SINK_OPT_REQUIRED) != 0;
        if (creq != sreq) {
            fprintf(stderr, "%s: '%s' is %srequired in the schema but %srequired in the sink\n",
                    section, row->key, creq ? "" : "not ", sreq ? "" : "not ");
            bad++;
        }
        bool csecret = c->type == ES_OPT_SECRET;
        bool cliteral = !csecret || (c->flags & ES_OPT_LITERAL_OK);
        bool ssecret_only = (o->flags & ES_SINK_OPT_SECRET) != 0;
        bool ssecret_ok = (o->flags & (ES_SINK_OPT_SECRET | ES_SINK_OPT_SECRET_OK)) != 0;
        if ((ssecret_only && cliteral) || (csecret && !ssecret_ok) || (!csecret && ssecret_ok)) {
            fprintf(stderr, "%s: '%s' is %s in the schema but %s in the sink\n", section,
                    row->key,
                    !csecret ? "plain" : cliteral ? "plain or secret" : "secret only",
                    ssecret_only ? "secret only" : ssecret_ok ? "plain or secret" : "plain");
            bad++;
        }
    }
    /* Sink -> schema. */
    const es_sink_option *tables[2] = {es_sink_common_options, t->options};
    for (size_t k = 0; k < 2; k++) {
        for (const es_sink_option *o = tables[k]; o != NULL && o->name != NULL; o++) {
            if (cfg_effective(r, type, o->name) == NULL) {
                fprintf(stderr, "%s: sink option '%s' cannot be written in a config file (no "
                                "schema row)\n", section, o->name);
                bad++;
            }
        }
    }
    return bad;
}

static cfg_rows *schema_rows(void)
{
    cfg_rows *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(es_config_foreach_option(collect, r), 0);
    return r;
}

static void test_tables_agree(void **state)
{
    (void)state;
    cfg_rows *r = schema_rows();
    int bad = 0;
    /* The same types, in the same order, on both sides. */
    const struct es_sink_type *const *types = es_sink_types();
    size_t n = 0;
    for (; types[n] != NULL; n++) {
        if (es_config_sink_types[n] == NULL || strcmp(es_config_sink_types[n], types[n]->name)) {
            fprintf(stderr, "sink type %zu is '%s' in the sinks but '%s' in the schema\n", n,
                    types[n]->name, es_config_sink_types[n] ? es_config_sink_types[n] : "(end)");
            bad++;
            break;
        }
    }
    if (bad == 0 && es_config_sink_types[n] != NULL) {
        fprintf(stderr, "the schema has sink type '%s' that no sink implements\n",
                es_config_sink_types[n]);
        bad++;
    }
    for (size_t i = 0; types[i] != NULL; i++) {
        bad += compare_type(r, types[i]->name, types[i]);
    }
    /* Keys the engine keeps for itself are never sink options (a sink
     * would refuse them as unknown). */
    for (const char *const *k = es_sink_config_engine_keys; *k != NULL; k++) {
        assert_non_null(cfg_find(r, "sinks[]", *k));
        assert_null(sink_find(&es_sink_stdout, *k));
    }
    free(r);
    assert_int_equal(bad, 0);
}

/* The comparison itself notices a difference: a sink type with an option
 * the schema lacks, a different default and a secret the schema takes
 * plainly. */
static void test_comparison_catches_drift(void **state)
{
    (void)state;
    cfg_rows *r = schema_rows();
    static const es_sink_option drifted[] = {
        {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED | ES_SINK_OPT_SECRET_OK, "x"},
        {"channel", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_SECRET, "x"},
        {"username", ES_SINK_OPT_STRING, "bot", 0, "x"},
        {"icon_url", ES_SINK_OPT_STRING, NULL, 0, "x"},
        {"priority", ES_SINK_OPT_STRING, NULL, 0, "x"},
        {"requested_ack", ES_SINK_OPT_BOOL, "false", 0, "x"},
        {"colour", ES_SINK_OPT_STRING, NULL, 0, "x"},
        {NULL, 0, NULL, 0, NULL},
    };
    struct es_sink_type t = es_sink_mattermost;
    assert_int_equal(compare_type(r, "mattermost", &t), 0);
    t.options = drifted;
    assert_int_equal(compare_type(r, "mattermost", &t), 3);
    t = es_sink_slack;
    t.default_rate = "2/s";
    assert_int_equal(compare_type(r, "slack", &t), 1);
    free(r);
}

/* ---- One rate syntax ------------------------------------------------------ */

/* The config accepts exactly the rates es_sink_new accepts, and reads
 * them the same way. */
static void test_rate_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double per_second; /* < 0: refused */
    } cases[] = {
        {"2", 2},         {"0.5", 0.5},     {"2.25", 2.25}, {"120/min", 2},  {"5/2s", 2.5},
        {"1/s", 1},       {"30/m", 0.5},    {"10/1h", 10.0 / 3600},          {"off", 0},
        {"0", 0},         {"1000000", 1e6}, {"fast", -1},   {"1/fortnight", -1},
        {"-1", -1},       {"1e3", -1},      {"2.", -1},     {".5", -1},      {"1/0s", -1},
        {"0.0001", -1},   {"1000001", -1},  {"2/", -1},     {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "sinks:\n  - name: out\n    type: stdout\n    rate: '%s'\n",
                 cases[i].text);
        es_config *c = NULL;
        es_error err = {0};
        int rc = es_config_load_buffer(yaml, strlen(yaml), "rate.yaml", NULL, NULL, &c, &err);
        es_rate rate;
        bool sink_ok = es_rate_parse(cases[i].text, &rate) == 0;
        if ((rc == 0) != sink_ok || sink_ok != (cases[i].per_second >= 0)) {
            fail_msg("rate '%s': config %s (%s), sink %s", cases[i].text,
                     rc == 0 ? "accepts" : "refuses", err.msg, sink_ok ? "accepts" : "refuses");
        }
        if (rc != 0) {
            assert_non_null(strstr(err.msg, "'rate'"));
            assert_int_equal(err.line, 4);
            continue;
        }
        double f = es_config_item_float(es_config_sink(c, 0), "rate");
        double sink_f = rate.per == 0 ? 0 : rate.per * 1000.0 / (double)rate.period_ms;
        assert_true(f > cases[i].per_second - 1e-9 && f < cases[i].per_second + 1e-9);
        assert_true(f == sink_f);
        /* And the sink built from it holds that rate. */
        es_sink *s = NULL;
        assert_int_equal(es_sink_from_config(es_config_sink(c, 0), &s, &err), 0);
        int64_t want_us = rate.per == 0 ? 0 : rate.period_ms * 1000 / rate.per;
        assert_int_equal(s->bucket.interval_us, want_us);
        es_sink_free(s);
        es_config_free(c);
    }
}

/* ---- Every option of every sink, end to end -------------------------------- */

#define PD_KEY "0123456789abcdef0123456789abcdef"

/*
 * One sink of every type with every option set, each to a value that is
 * not its default. The common options differ per sink (the Nth sink has
 * burst N+2, timeout N+2 s, ...) so a value that went to the wrong sink
 * shows. Secrets come from the environment (and one from a file).
 */
#define COMMON(N, RATE)                                                                            \
    "    rate: '" RATE "'\n"                                                                       \
    "    burst: " #N "2\n"                                                                         \
    "    timeout: " #N "2s\n"                                                                      \
    "    connect_timeout: " #N "1s\n"                                                              \
    "    max_attempts: " #N "3\n"                                                                  \
    "    max_age: " #N "1h\n"                                                                      \
    "    backoff_base: " #N "50ms\n"                                                               \
    "    backoff_max: " #N "9m\n"                                                                  \
    "    min_severity: warning\n"                                                                  \
    "    kinds: [complaint, volume_spike]\n"

static const char FULL_CONFIG[] =
    "sinks:\n"
    "  - name: console\n"
    "    type: stdout\n" COMMON(1, "off")
    "  - name: archive\n"
    "    type: file\n"
    "    path: alerts.ndjson\n"
    "    fsync: true\n" COMMON(2, "2")
    "  - name: script\n"
    "    type: exec\n"
    "    command: [/bin/sh, -c, 'cat >/dev/null']\n"
    "    input: notification\n" COMMON(3, "0.5")
    "  - name: hook\n"
    "    type: webhook\n"
    "    url: https://hooks.example.com/in?x=1\n"
    "    secret_env: ES_SC_WEBHOOK_SECRET\n"
    "    headers: ['X-Team: brand']\n" COMMON(4, "10/s")
    "  - name: team-chat\n"
    "    type: slack\n"
    "    url_env: ES_SC_SLACK_URL\n" COMMON(5, "3")
    "  - name: mm\n"
    "    type: mattermost\n"
    "    url_file: mm_url.txt\n"
    "    channel: town-square\n"
    "    username: earshot-bot\n"
    "    icon_url: https://img.example/e.png\n"
    "    priority: urgent\n"
    "    requested_ack: true\n" COMMON(6, "4/2s")
    "  - name: disc\n"
    "    type: discord\n"
    "    url_env: ES_SC_DISCORD_URL\n"
    "    username: earshot-d\n" COMMON(7, "1/5s")
    "  - name: ms\n"
    "    type: teams\n"
    "    url_env: ES_SC_TEAMS_URL\n" COMMON(8, "1/2s")
    "  - name: pager\n"
    "    type: pagerduty\n"
    "    routing_key_env: ES_SC_PD_KEY\n"
    "    url: https://pd.example.com/v2/enqueue\n"
    "    source: acme-prod\n"
    "    severity: {info: warning, warning: critical, critical: error}\n" COMMON(9, "60/min")
    "  - name: mail\n"
    "    type: smtp\n"
    "    url: smtp://mail.example.com:2525\n"
    "    username: alerts\n"
    "    password_env: ES_SC_SMTP_PASSWORD\n"
    "    from: earshot <earshot@example.com>\n"
    "    to: [oncall@example.com, lead@example.com]\n"
    "    starttls: false\n"
    "    subject_prefix: '[acme]'\n" COMMON(1, "5/min");

typedef struct full {
    char dir[64];
    es_config *cfg;
    es_sink *sinks[16];
    size_t n;
} full;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int full_setup(void **state)
{
    full *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/es_sink_config.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/mm_url.txt", f->dir);
    write_file(path, "https://mm.example.com/hooks/k3y\n");
    setenv("ES_SC_WEBHOOK_SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", 1);
    setenv("ES_SC_SLACK_URL", "https://hooks.slack.example/services/T/B/x", 1);
    setenv("ES_SC_DISCORD_URL", "https://discord.example/api/webhooks/1/t", 1);
    setenv("ES_SC_TEAMS_URL", "https://teams.example/workflows/run?sig=abc", 1);
    setenv("ES_SC_PD_KEY", PD_KEY, 1);
    setenv("ES_SC_SMTP_PASSWORD", "hunter2", 1);
    es_error err = {0};
    int rc = es_config_load_buffer(FULL_CONFIG, strlen(FULL_CONFIG), "full.yaml", f->dir, NULL,
                                   &f->cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    f->n = es_config_sink_count(f->cfg);
    assert_true(f->n <= sizeof f->sinks / sizeof f->sinks[0]);
    for (size_t i = 0; i < f->n; i++) {
        rc = es_sink_from_config(es_config_sink(f->cfg, i), &f->sinks[i], &err);
        if (rc != 0) {
            fprintf(stderr, "sink %zu: %s\n", i, err.msg);
        }
        assert_int_equal(rc, 0);
    }
    *state = f;
    return 0;
}

static int full_teardown(void **state)
{
    full *f = *state;
    for (size_t i = 0; i < f->n; i++) {
        es_sink_free(f->sinks[i]);
    }
    es_config_free(f->cfg);
    char path[128];
    snprintf(path, sizeof path, "%s/mm_url.txt", f->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/alerts.ndjson", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static es_sink *sink_named(full *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->sinks[i]->name, name) == 0) {
            return f->sinks[i];
        }
    }
    fail_msg("no sink '%s'", name);
    return NULL;
}

/* The config really sets every key the schema has for each type, so the
 * end-to-end checks below cover every option. */
static void test_every_option_is_set(void **state)
{
    full *f = *state;
    cfg_rows *r = schema_rows();
    int missing = 0;
    for (size_t i = 0; i < f->n; i++) {
        const es_config_item *it = es_config_sink(f->cfg, i);
        const char *type = es_config_item_type(it);
        char section[48];
        snprintf(section, sizeof section, "sinks[type=%s]", type);
        for (size_t k = 0; k < r->n; k++) {
            const cfg_row *row = &r->rows[k];
            if (strcmp(row->section, "sinks[]") != 0 && strcmp(row->section, section) != 0) {
                continue;
            }
            const es_config_value *v = es_config_item_get(it, row->key);
            if (v == NULL || !v->set) {
                fprintf(stderr, "the test config does not set %s '%s'\n", section, row->key);
                missing++;
            } else if (row->opt->def != NULL && v->opt->type != ES_OPT_SECRET &&
                       v->opt->type != ES_OPT_LIST && v->str != NULL &&
                       strcmp(v->str, row->opt->def) == 0) {
                fprintf(stderr, "the test config sets %s '%s' to its default\n", section,
                        row->key);
                missing++;
            }
        }
    }
    /* Every type is there once. */
    for (const struct es_sink_type *const *t = es_sink_types(); *t != NULL; t++) {
        size_t seen = 0;
        for (size_t i = 0; i < f->n; i++) {
            seen += f->sinks[i]->type == *t;
        }
        if (seen != 1) {
            fprintf(stderr, "the test config has %zu sinks of type %s\n", seen, (*t)->name);
            missing++;
        }
    }
    free(r);
    assert_int_equal(missing, 0);
}

/* The common options: the Nth sink's values, per COMMON(N, rate). */
static void expect_common(full *f, const char *name, int n, const char *rate)
{
    es_sink *s = sink_named(f, name);
    es_rate rt;
    assert_int_equal(es_rate_parse(rate, &rt), 0);
    int64_t interval = rt.per == 0 ? 0 : rt.period_ms * 1000 / rt.per;
    assert_int_equal(s->bucket.interval_us, interval);
    assert_int_equal(s->bucket.tolerance_us, interval * (n * 10 + 2 - 1));
    assert_int_equal(s->timeout_ms, (n * 10 + 2) * 1000);
    assert_int_equal(s->connect_timeout_ms, (n * 10 + 1) * 1000);
    assert_int_equal(s->max_attempts, n * 10 + 3);
    assert_int_equal(s->max_age_ms, (int64_t)(n * 10 + 1) * 3600000);
    assert_int_equal(s->backoff_base_ms, n * 100 + 50);
    assert_int_equal(s->backoff_max_ms, (int64_t)(n * 10 + 9) * 60000);
}

static void test_common_options_arrive(void **state)
{
    full *f = *state;
    expect_common(f, "console", 1, "off");
    expect_common(f, "archive", 2, "2");
    expect_common(f, "script", 3, "0.5");
    expect_common(f, "hook", 4, "10/s");
    expect_common(f, "team-chat", 5, "3");
    expect_common(f, "mm", 6, "4/2s");
    expect_common(f, "disc", 7, "1/5s");
    expect_common(f, "ms", 8, "1/2s");
    expect_common(f, "pager", 9, "60/min");
    expect_common(f, "mail", 1, "5/min");
}

/* A notification of one alert at `sev`. */
typedef struct note {
    es_alert_mention m;
    es_alert a;
    es_notification n;
} note;

static void make_note(note *t, es_severity sev)
{
    memset(t, 0, sizeof *t);
    t->m = (es_alert_mention){{"1234", 4}, {"jdoe", 4}, {"lost my bag again", 17}, {NULL, 0}};
    t->a = (es_alert){
        .kind = ES_ALERT_COMPLAINT,
        .severity = sev,
        .topic = "acme",
        .at_ms = 1424805352000,
        .fingerprint = "acme/complaint/1234",
        .summary = "acme: complaint from @jdoe",
        .details_json = "{\"complaint\":0.91}",
        .mentions = &t->m,
        .n_mentions = 1,
    };
    t->n = (es_notification){
        .key = "01HZX3N5WJ8Q6V2C7D9E0F1G2H",
        .group = "acme/complaint",
        .alerts = &t->a,
        .n_alerts = 1,
        .sent_ms = 1424805412000,
    };
}

static void build(es_sink *s, es_severity sev, es_sink_request *req)
{
    note t;
    make_note(&t, sev);
    es_sink_request_init(req);
    int rc = es_sink_build(s, &t.n, req);
    if (rc != 0) {
        fprintf(stderr, "%s: build: %s\n", s->name, es_strerror(rc));
    }
    assert_int_equal(rc, 0);
}

static yajl_val body_json(const es_sink_request *req)
{
    char err[128];
    yajl_val v = yajl_tree_parse(req->body.data, err, sizeof err);
    if (v == NULL) {
        fprintf(stderr, "bad JSON (%s): %.300s\n", err, req->body.data);
    }
    assert_non_null(v);
    return v;
}

static const char *json_str(yajl_val root, const char *a, const char *b)
{
    const char *path[] = {a, b, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

static void expect_json_str(yajl_val root, const char *a, const char *b, const char *want)
{
    const char *got = json_str(root, a, b);
    if (got == NULL || strcmp(got, want) != 0) {
        fail_msg("%s%s%s: got '%s', want '%s'", a, b ? "." : "", b ? b : "",
                 got ? got : "(missing)", want);
    }
}

/* A header line starting with `prefix` ("Name: value..."). */
static bool has_header(const es_sink_request *req, const char *prefix)
{
    for (const char *h = req->headers.data; h != NULL && *h != '\0'; h = strchr(h, '\n')) {
        h += *h == '\n';
        if (strncmp(h, prefix, strlen(prefix)) == 0) {
            return true;
        }
    }
    return false;
}

static void test_pagerduty_severity_mapping(void **state)
{
    full *f = *state;
    es_sink *s = sink_named(f, "pager");
    static const struct {
        es_severity ours;
        const char *theirs;
    } map[] = {{ES_SEV_INFO, "warning"}, {ES_SEV_WARNING, "critical"}, {ES_SEV_CRITICAL, "error"}};
    for (size_t i = 0; i < 3; i++) {
        es_sink_request req;
        build(s, map[i].ours, &req);
        assert_string_equal(req.url.data, "https://pd.example.com/v2/enqueue");
        yajl_val root = body_json(&req);
        expect_json_str(root, "routing_key", NULL, PD_KEY);
        expect_json_str(root, "payload", "severity", map[i].theirs);
        expect_json_str(root, "payload", "source", "acme-prod");
        yajl_tree_free(root);
        es_sink_request_free(&req);
    }
}

static void test_chat_options_arrive(void **state)
{
    full *f = *state;
    es_sink_request req;

    build(sink_named(f, "team-chat"), ES_SEV_WARNING, &req);
    assert_string_equal(req.url.data, "https://hooks.slack.example/services/T/B/x");
    es_sink_request_free(&req);

    build(sink_named(f, "mm"), ES_SEV_WARNING, &req);
    assert_string_equal(req.url.data, "https://mm.example.com/hooks/k3y");
    yajl_val root = body_json(&req);
    expect_json_str(root, "channel", NULL, "town-square");
    expect_json_str(root, "username", NULL, "earshot-bot");
    expect_json_str(root, "icon_url", NULL, "https://img.example/e.png");
    expect_json_str(root, "priority", "priority", "urgent");
    const char *ack[] = {"priority", "requested_ack", NULL};
    assert_true(YAJL_IS_TRUE(yajl_tree_get(root, ack, yajl_t_true)));
    yajl_tree_free(root);
    es_sink_request_free(&req);

    build(sink_named(f, "disc"), ES_SEV_WARNING, &req);
    assert_non_null(strstr(req.url.data, "https://discord.example/api/webhooks/1/t"));
    root = body_json(&req);
    expect_json_str(root, "username", NULL, "earshot-d");
    yajl_tree_free(root);
    es_sink_request_free(&req);

    build(sink_named(f, "ms"), ES_SEV_WARNING, &req);
    assert_string_equal(req.url.data, "https://teams.example/workflows/run?sig=abc");
    es_sink_request_free(&req);
}

static void test_webhook_and_local_options_arrive(void **state)
{
    full *f = *state;
    es_sink_request req;

    build(sink_named(f, "hook"), ES_SEV_WARNING, &req);
    assert_string_equal(req.url.data, "https://hooks.example.com/in?x=1");
    assert_true(has_header(&req, "X-Team: brand\n"));
    assert_true(has_header(&req, "webhook-signature: v1,")); /* the secret arrived */
    es_sink_request_free(&req);

    /* input: notification gives the whole object, not alert lines. */
    build(sink_named(f, "script"), ES_SEV_WARNING, &req);
    assert_int_equal(req.kind, ES_SINK_REQ_LOCAL);
    yajl_val root = body_json(&req);
    expect_json_str(root, "key", NULL, "01HZX3N5WJ8Q6V2C7D9E0F1G2H");
    yajl_tree_free(root);
    es_sink_request_free(&req);

    /* The path is resolved against the config's directory and opened. */
    char path[128];
    snprintf(path, sizeof path, "%s/alerts.ndjson", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
}

static void test_smtp_options_arrive(void **state)
{
    full *f = *state;
    es_sink_request req;
    build(sink_named(f, "mail"), ES_SEV_WARNING, &req);
    assert_int_equal(req.kind, ES_SINK_REQ_SMTP);
    assert_string_equal(req.url.data, "smtp://mail.example.com:2525");
    assert_string_equal(req.mail_from, "earshot@example.com");
    assert_string_equal(req.rcpt.data, "oncall@example.com\nlead@example.com\n");
    assert_false(req.starttls);
    assert_string_equal(req.username, "alerts");
    assert_string_equal(req.password, "hunter2");
    /* The prefix as written, then one space, then the headline. */
    assert_non_null(strstr(req.body.data, "\r\nSubject: [acme] acme"));
    assert_non_null(strstr(req.body.data, "From: earshot <earshot@example.com>\r\n"));
    es_sink_request_free(&req);
}

/* A secret that cannot be read fails the sink with a message naming the
 * variable, at the sink's place in the file. */
static void test_missing_secret(void **state)
{
    (void)state;
    static const char yaml[] = "sinks:\n"
                               "  - name: team-chat\n"
                               "    type: slack\n"
                               "    url_env: ES_SC_UNSET_VARIABLE\n";
    unsetenv("ES_SC_UNSET_VARIABLE");
    es_config *c = NULL;
    es_error err = {0};
    assert_int_equal(es_config_load_buffer(yaml, strlen(yaml), "s.yaml", NULL, NULL, &c, &err), 0);
    es_sink *s = NULL;
    assert_int_equal(es_sink_from_config(es_config_sink(c, 0), &s, &err), ES_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "ES_SC_UNSET_VARIABLE"));
    assert_true(err.line > 0);
    es_config_free(c);
}

/* ---- The feeds side -------------------------------------------------------- */

/*
 * Feed types have no option tables of their own: they read their config
 * item directly, so a key the schema lacks simply cannot be written. The
 * webhook listener's limits were such keys; their schema defaults must be
 * the listener's built-in ones, or a config that says nothing would change
 * behaviour.
 */
static void test_webhook_feed_limits(void **state)
{
    (void)state;
    static const char yaml[] = "feeds:\n"
                               "  - name: push\n"
                               "    type: webhook\n"
                               "  - name: tuned\n"
                               "    type: webhook\n"
                               "    listen: 127.0.0.1:8081\n"
                               "    max_connections: 4\n"
                               "    read_timeout: 2s\n"
                               "    keepalive_timeout: 5s\n"
                               "    max_header_size: 4KiB\n";
    es_config *c = NULL;
    es_error err = {0};
    int rc = es_config_load_buffer(yaml, strlen(yaml), "feeds.yaml", NULL, NULL, &c, &err);
    if (rc != 0) {
        fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    const es_config_item *d = es_config_feed(c, 0);
    assert_int_equal(es_config_item_int(d, "max_connections"), ES_WH_MAX_CONNECTIONS);
    assert_int_equal(es_config_item_int(d, "read_timeout"), ES_WH_READ_TIMEOUT_MS);
    assert_int_equal(es_config_item_int(d, "max_header_size"), ES_WH_MAX_HEADER_BYTES);
    assert_int_equal(es_config_item_int(d, "keepalive_timeout"), ES_WH_KEEPALIVE_TIMEOUT_MS);
    /* The keep-alive is not the stall alarm: idle_timeout keeps the
     * default every feed has. */
    assert_int_equal(es_config_item_int(d, "idle_timeout"), 600000);
    const es_config_item *t = es_config_feed(c, 1);
    assert_int_equal(es_config_item_int(t, "max_connections"), 4);
    assert_int_equal(es_config_item_int(t, "read_timeout"), 2000);
    assert_int_equal(es_config_item_int(t, "max_header_size"), 4096);
    assert_int_equal(es_config_item_int(t, "keepalive_timeout"), 5000);
    es_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_agree),
        cmocka_unit_test(test_comparison_catches_drift),
        cmocka_unit_test(test_rate_syntax),
        cmocka_unit_test_setup_teardown(test_every_option_is_set, full_setup, full_teardown),
        cmocka_unit_test_setup_teardown(test_common_options_arrive, full_setup, full_teardown),
        cmocka_unit_test_setup_teardown(test_pagerduty_severity_mapping, full_setup,
                                        full_teardown),
        cmocka_unit_test_setup_teardown(test_chat_options_arrive, full_setup, full_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_and_local_options_arrive, full_setup,
                                        full_teardown),
        cmocka_unit_test_setup_teardown(test_smtp_options_arrive, full_setup, full_teardown),
        cmocka_unit_test(test_missing_secret),
        cmocka_unit_test(test_webhook_feed_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
