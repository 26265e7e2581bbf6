/*
 * Fuzz the config loader: arbitrary bytes through the YAML tree builder,
 * the option tables, detector settings and topic compilation. Whatever the
 * input, the loader must return a config or located errors, never crash,
 * hang or leak. A loaded config is walked through its accessors too.
 */
#include "config.h"
#include "earshot.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_error(const es_error *e, void *ud)
{
    /* Every error must be a terminated, non-empty message. */
    if (e->msg[0] == '\0' || memchr(e->msg, '\0', sizeof e->msg) == NULL) {
        __builtin_trap();
    }
    (*(size_t *)ud)++;
}

static void walk_item(const es_config_item *it)
{
    static const char *const keys[] = {
        "name", "type", "url", "path", "format", "timeout", "command", "to", "severity.critical",
        "token"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const es_config_value *v = es_config_item_get(it, keys[i]);
        if (v != NULL && v->has && v->opt->type == ES_OPT_LIST) {
            for (size_t j = 0; j < v->n_list; j++) {
                (void)strlen(v->list[j]);
            }
        } else if (v != NULL && v->has && v->str != NULL) {
            (void)strlen(v->str);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_errors = 0;
    es_config_opts opts = {.on_error = count_error, .ud = &n_errors};
    es_config *c = NULL;
    es_error err;
    int rc = es_config_load_buffer((const char *)data, size, "fuzz.yaml", "/nonexistent", &opts, &c,
                                   &err);
    if (rc == 0) {
        size_t n;
        const es_topic_def *defs = es_config_topic_defs(c, &n);
        for (size_t i = 0; i < n; i++) {
            (void)strlen(defs[i].name);
            (void)strlen(defs[i].query);
        }
        for (size_t i = 0; i < es_config_feed_count(c); i++) {
            walk_item(es_config_feed(c, i));
        }
        for (size_t i = 0; i < es_config_sink_count(c); i++) {
            walk_item(es_config_sink(c, i));
        }
        walk_item(es_config_admin(c));
        (void)es_config_state_path(c);
        es_config_free(c);
    } else if (n_errors == 0 && rc != ES_ETOOBIG) {
        __builtin_trap(); /* a failure must say why */
    }
    return 0;
}
