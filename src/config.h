/*
 * Config internals: the YAML node tree the loader builds (with positions),
 * and the option tables (src/config_schema.c). The public model is in
 * include/earshot/config.h; this header is for the loader itself and for
 * modules that own a raw section (`route:`, `escalations:`) and read it
 * with the node accessors below.
 */
#ifndef ES_CONFIG_INTERNAL_H
#define ES_CONFIG_INTERNAL_H

#include "earshot.h"
#include "earshot/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- The YAML tree ------------------------------------------------------ */

typedef enum { ES_CFG_NULL, ES_CFG_SCALAR, ES_CFG_SEQ, ES_CFG_MAP } es_cfg_kind;

typedef struct es_cfg_node es_cfg_node;

typedef struct es_cfg_pair {
    const es_cfg_node *key; /* always a scalar */
    const es_cfg_node *val;
} es_cfg_pair;

/*
 * A node. Nodes reached through an alias are shared, not copied, so a node
 * may appear under several parents; the tree is immutable once built.
 * Positions count from 1. For a scalar, vline/vcol is its first content
 * character: inside the quotes of a quoted scalar, on the first content
 * line of a block scalar (| or >); for anything else it equals line/col.
 */
struct es_cfg_node {
    es_cfg_kind kind;
    int line, col;
    int vline, vcol;
    bool quoted;     /* scalar: quoted or block style (never null, never a number) */
    const char *str; /* scalar: NUL-terminated, no embedded NUL */
    size_t len;
    const es_cfg_node **items; /* sequence */
    const es_cfg_pair *pairs;  /* mapping, in file order, merge keys applied */
    size_t n;                  /* items or pairs */
    uint32_t weight;           /* nodes in the expanded subtree */
    uint16_t height;           /* nesting of the expanded subtree */
};

typedef struct es_cfg_tree es_cfg_tree;

/*
 * Parse a YAML document into a tree. Syntax errors are fatal (reported
 * through `report`, return ES_ECONFIG); duplicate keys are reported and the
 * first occurrence kept, so parsing continues and the caller sees them all.
 * *out is set even when only non-fatal errors were reported; the number of
 * errors reported is returned through *n_errors. An empty document gives a
 * root of kind ES_CFG_NULL.
 */
typedef void (*es_cfg_report_fn)(void *ud, int code, int line, int col, const char *msg);
int es__cfg_parse(const char *data, size_t len, es_cfg_report_fn report, void *ud,
                  es_cfg_tree **out, int *n_errors);
void es__cfg_tree_free(es_cfg_tree *t);
const es_cfg_node *es__cfg_root(const es_cfg_tree *t);
/* Copy bytes into the tree's arena (NUL-terminated); NULL on out-of-memory. */
char *es__cfg_strdup(es_cfg_tree *t, const char *s, size_t n);
void *es__cfg_alloc(es_cfg_tree *t, size_t n);

/* The value of `key` in a mapping, or NULL. */
const es_cfg_node *es__cfg_map_get(const es_cfg_node *map, const char *key);
/* "a mapping", "a list", "a value", "nothing" for messages. */
const char *es__cfg_kind_name(es_cfg_kind k);

/*
 * A raw top-level section (`route:`, `escalations:`), for the module that
 * owns it; NULL when absent. Valid until es_config_free().
 */
const es_cfg_node *es__config_raw(const es_config *c, const char *key);

/*
 * A top-level option by its dotted key ("dedup.max_ids"), for the engine's
 * own sections; NULL when there is no such option. Valid until
 * es_config_free().
 */
const es_config_value *es__config_top_value(const es_config *c, const char *key);

/*
 * Effective detector parameters: the built-in defaults, then the global
 * `detect:`, then (per topic) its `sensitivity:` preset and its `detect:`
 * overrides. topic == (size_t)-1 gives the global ones; NULL for a bad
 * index. Borrowed: valid until es_config_free().
 */
struct es_detect_params;
const struct es_detect_params *es__config_detect(const es_config *c, size_t topic);

/* ---- The option tables --------------------------------------------------- */

typedef struct es_cfg_type {
    const char *name;
    const es_option *rows;
    const char *help;
} es_cfg_type;

extern const es_option es__cfg_top_rows[];
extern const es_option es__cfg_topic_rows[];
extern const es_option es__cfg_feed_common_rows[];
extern const es_option es__cfg_sink_common_rows[];
extern const es_cfg_type es__cfg_feed_types[]; /* ended by a NULL name */
extern const es_cfg_type es__cfg_sink_types[];

/* The row called `name` in a table, or NULL. */
const es_option *es__cfg_find_row(const es_option *rows, const char *name, size_t len);
const es_cfg_type *es__cfg_find_type(const es_cfg_type *types, const char *name);

#endif
