/*
 * Config item -> es_sink_opts -> es_sink_new(). The sink's option tables
 * drive the walk: for each option the sink type knows, the config item's
 * value of the same key (given or defaulted) becomes a key/value in the
 * text form the sink parses. The config schema has a row for every one of
 * those keys (tests/test_sink_config.c checks it), so nothing a user writes
 * is dropped on the way.
 */
#include "sink_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const es_sink_config_engine_keys[] = {"name", "type", "min_severity", "kinds", NULL};

/* Ceilings far above any real sink (the longest lists are exec's 256
 * arguments and smtp's 100 recipients); reaching one is an error, never a
 * silently shortened option list. */
#define KV_MAX      512
#define SECRETS_MAX 16
#define TEXT_MAX    2048

/* The options being collected. Strings are borrowed from the config,
 * except numbers, formatted into `text`, and secrets, malloc'd. */
typedef struct kvset {
    const char *sink;
    es_sink_kv kv[KV_MAX];
    size_t n;
    es_sink_kv sec[SECRETS_MAX];
    char *sec_val[SECRETS_MAX];
    size_t n_sec;
    char text[TEXT_MAX];
    size_t used;
} kvset;

static int too_many(const kvset *k, es_error *err)
{
    return es_error_set(err, ES_ETOOBIG, 0, 0, "sink '%s': too many option values", k->sink);
}

static int add(kvset *k, const char *key, const char *value, es_error *err)
{
    if (value == NULL) {
        return 0;
    }
    if (k->n == KV_MAX) {
        return too_many(k, err);
    }
    k->kv[k->n++] = (es_sink_kv){key, value};
    return 0;
}

/* A number in the form the sink parses: an integer, or "<n>ms". */
static int add_int(kvset *k, const char *key, long long v, const char *suffix, es_error *err)
{
    char *p = k->text + k->used;
    size_t room = TEXT_MAX - k->used;
    int len = snprintf(p, room, "%lld%s", v, suffix);
    if (len < 0 || (size_t)len >= room) {
        return too_many(k, err);
    }
    k->used += (size_t)len + 1;
    return add(k, key, p, err);
}

static int add_secret(kvset *k, const es_config_item *it, const char *key, es_error *err)
{
    char *val = NULL;
    int rc = es_config_resolve_secret(it, key, &val, err);
    if (rc == ES_ENOTFOUND) {
        return 0; /* optional and not given */
    }
    if (rc != 0) {
        return rc;
    }
    if (k->n_sec == SECRETS_MAX) {
        memset(val, 0, strlen(val));
        free(val);
        return too_many(k, err);
    }
    k->sec_val[k->n_sec] = val;
    k->sec[k->n_sec++] = (es_sink_kv){key, val};
    return 0;
}

/* The item's value of `key`, if it has one, in the sink's text form. */
static int add_option(kvset *k, const es_config_item *it, const char *key, es_error *err)
{
    const es_config_value *v = es_config_item_get(it, key);
    if (v == NULL || v->opt == NULL || !v->has) {
        return 0;
    }
    switch (v->opt->type) {
    case ES_OPT_SECRET:
        if (v->secret == ES_SECRET_LITERAL) {
            return add(k, key, v->str, err);
        }
        return v->secret == ES_SECRET_NONE ? 0 : add_secret(k, it, key, err);
    case ES_OPT_LIST:
        for (size_t i = 0; i < v->n_list; i++) {
            int rc = add(k, key, v->list[i], err);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    case ES_OPT_INT:
    case ES_OPT_SIZE:
        return add_int(k, key, (long long)v->i, "", err);
    case ES_OPT_DURATION:
        return add_int(k, key, (long long)v->i, "ms", err);
    case ES_OPT_BOOL:
        return add(k, key, v->i ? "true" : "false", err);
    case ES_OPT_FLOAT: {
        /* No sink option is a plain number today; keep full precision if
         * one becomes one. */
        char *p = k->text + k->used;
        size_t room = TEXT_MAX - k->used;
        int len = snprintf(p, room, "%.17g", v->f);
        if (len < 0 || (size_t)len >= room) {
            return too_many(k, err);
        }
        k->used += (size_t)len + 1;
        return add(k, key, p, err);
    }
    case ES_OPT_STRING:
    case ES_OPT_PATH:
    case ES_OPT_ENUM:
    case ES_OPT_RATE: /* as written: es_rate_parse reads it on both sides */
        return add(k, key, v->str, err);
    case ES_OPT_SECTION:
    case ES_OPT_DETECT:
    case ES_OPT_ITEMS:
    case ES_OPT_RAW:
        break;
    }
    return 0;
}

static bool is_common(const char *key)
{
    for (const es_sink_option *c = es_sink_common_options; c->name != NULL; c++) {
        if (strcmp(c->name, key) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A sink's own error has no position: point it at the key it is about.
 * Sinks name the key ("'url' must be http://...") or quote the value
 * ("cannot open '/var/x'"); either found in the message, of an option the
 * user wrote, gives that key's line and column.
 */
static bool locate_in(const es_config_item *it, const es_sink_option *opts, es_error *err)
{
    for (const es_sink_option *o = opts; o != NULL && o->name != NULL; o++) {
        const es_config_value *v = es_config_item_get(it, o->name);
        if (v == NULL || !v->set || v->line <= 0) {
            continue;
        }
        char quoted[300];
        snprintf(quoted, sizeof quoted, "'%s'", o->name);
        bool hit = strstr(err->msg, quoted) != NULL;
        if (!hit && v->str != NULL && v->opt != NULL && v->opt->type != ES_OPT_SECRET &&
            strlen(v->str) + 3 <= sizeof quoted) {
            snprintf(quoted, sizeof quoted, "'%s'", v->str);
            hit = strstr(err->msg, quoted) != NULL;
        }
        for (size_t i = 0; !hit && v->opt != NULL && v->opt->type == ES_OPT_LIST &&
                           i < v->n_list;
             i++) {
            if (strlen(v->list[i]) + 3 <= sizeof quoted) {
                snprintf(quoted, sizeof quoted, "'%s'", v->list[i]);
                hit = strstr(err->msg, quoted) != NULL;
            }
        }
        if (hit) {
            err->line = v->line;
            err->col = v->col;
            return true;
        }
    }
    return false;
}

int es_sink_from_config(const es_config_item *it, es_sink **out, es_error *err)
{
    const char *name = es_config_item_name(it);
    const char *type = es_config_item_type(it);
    int line, col;
    es_config_item_pos(it, &line, &col);
    const struct es_sink_type *t = es_sink_type_find(type);
    if (t == NULL) {
        return es_error_set(err, ES_ECONFIG, line, col, "sink '%s': type '%s' is not available",
                            name, type);
    }
    kvset *k = calloc(1, sizeof *k);
    if (k == NULL) {
        return es_error_set(err, ES_ENOMEM, line, col, "out of memory");
    }
    k->sink = name;
    int rc = 0;
    for (const es_sink_option *o = es_sink_common_options; rc == 0 && o->name != NULL; o++) {
        rc = add_option(k, it, o->name, err);
    }
    for (const es_sink_option *o = t->options; rc == 0 && o != NULL && o->name != NULL; o++) {
        if (!is_common(o->name)) {
            rc = add_option(k, it, o->name, err);
        }
    }
    if (rc == 0) {
        es_sink_opts so = {
            .sink_name = name,
            .kv = k->kv,
            .n_kv = k->n,
            .secrets = k->sec,
            .n_secrets = k->n_sec,
        };
        rc = es_sink_new(name, type, &so, out, err);
    }
    /* The sink has copied what it keeps; wipe the secrets before freeing. */
    for (size_t i = 0; i < k->n_sec; i++) {
        memset(k->sec_val[i], 0, strlen(k->sec_val[i]));
        free(k->sec_val[i]);
    }
    free(k);
    if (rc != 0 && err != NULL && err->line == 0 &&
        !locate_in(it, es_sink_common_options, err) && !locate_in(it, t->options, err)) {
        err->line = line;
        err->col = col;
    }
    return rc;
}
