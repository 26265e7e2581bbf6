/*
 * The configuration: a YAML file turned into a validated, typed model.
 *
 *   es_config *c;
 *   es_error err;
 *   if (es_config_load("earshot.yaml", &c, &err) != 0) {
 *       fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
 *   }
 *
 * Every option the file may hold is one row of a declarative table
 * (es_option): its name, type, default, bounds and help. The same rows parse
 * the file, validate it, supply defaults, and are enumerable through
 * es_config_foreach_option(), so the README's reference can be checked
 * against them by a test.
 *
 * Rules the loader enforces, so every consumer can rely on them:
 *   - Unknown keys and duplicate keys are errors naming the key, the file,
 *     the line and the column. Lines and columns count from 1.
 *   - Secrets are never written in the file: a secret option `token` is
 *     given as `token_env: VAR` (an environment variable's name) or
 *     `token_file: PATH` (a file holding the value; one trailing newline is
 *     trimmed). Writing `token:` itself is an error that says so. Secrets are
 *     read only when asked for (es_config_resolve_secret, or the
 *     ES_CONFIG_SECRETS load flag), so `backfill` does not need the Slack
 *     URL of a sink it will not deliver to.
 *   - Relative paths are relative to the config file's directory; the model
 *     holds them resolved.
 *   - Anchors, aliases and merge keys (`<<: *defaults`) are allowed, and
 *     top-level keys starting with "x-" are ignored so anchors have a
 *     place to live (`x-chat: &chat {min_severity: warning}`); the
 *     expanded document is capped (ES_CONFIG_MAX_NODES) so an alias bomb is
 *     an error, not an out-of-memory. Tags other than the standard ones are
 *     rejected. The file is capped at ES_CONFIG_MAX_BYTES and nesting at
 *     ES_CONFIG_MAX_DEPTH.
 *
 * Ownership: es_config_load* returns a config the caller frees with
 * es_config_free(). Every pointer an accessor returns (strings, items,
 * values, topic definitions) is borrowed and valid until that free.
 * A loaded config is immutable, so it may be read from several threads.
 */
#ifndef EARSHOT_CONFIG_H
#define EARSHOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot/topics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct es_error es_error;

#define ES_CONFIG_MAX_BYTES  (4u * 1024 * 1024) /* file size cap */
#define ES_CONFIG_MAX_DEPTH  32                 /* nesting cap, after alias expansion */
#define ES_CONFIG_MAX_NODES  1000000            /* nodes, after alias and merge expansion */
#define ES_CONFIG_MAX_ERRORS 100                /* errors collected before giving up */

/* ---- The option tables ------------------------------------------------ */

typedef enum es_opt_type {
    ES_OPT_STRING,   /* any scalar, as text */
    ES_OPT_PATH,     /* a file path, resolved against the config's directory */
    ES_OPT_INT,      /* a whole number */
    ES_OPT_FLOAT,    /* a number */
    ES_OPT_BOOL,     /* true or false */
    ES_OPT_DURATION, /* "250ms", "30s", "5m", "1h30m", "2d"; a bare number is seconds */
    ES_OPT_SIZE,     /* bytes: 65536, "64KiB", "1MiB" (k/K/KB/KiB are all 1024) */
    ES_OPT_ENUM,     /* one of `choices` */
    ES_OPT_LIST,     /* a sequence of strings (one plain string is a list of one) */
    ES_OPT_SECRET,   /* NAME_env or NAME_file (or NAME itself with ES_OPT_LITERAL_OK) */
    ES_OPT_SECTION,  /* a nested mapping with its own rows (`sub`) */
    ES_OPT_DETECT,   /* detector settings: keys belong to the detector's own table */
    ES_OPT_ITEMS,    /* the topics/feeds/sinks lists; handled by the loader itself */
    ES_OPT_RAW,      /* kept as a YAML subtree for another module to read */
    ES_OPT_RATE      /* messages per second ("2", "0.5") or per period ("120/min",
                        "5/2s"), or "off"; `str` as written, `f` per second (0: no limit) */
} es_opt_type;

enum {
    ES_OPT_REQUIRED = 1u << 0,   /* the key must be present */
    ES_OPT_LITERAL_OK = 1u << 1, /* secret: the plain key is also accepted (not secret) */
    ES_OPT_NONEMPTY = 1u << 2,   /* string/list: must not be empty */
};

/*
 * One option. Bounds apply when min < max (durations in ms, sizes in bytes,
 * list lengths for lists). Tables are arrays ended by a row whose name is
 * NULL.
 */
typedef struct es_option {
    const char *name;
    es_opt_type type;
    const char *def; /* the default, as one would write it; NULL: none */
    double min, max;
    const char *const *choices; /* enum (and list items, if not NULL): NULL-terminated */
    unsigned flags;
    const struct es_option *sub; /* ES_OPT_SECTION: the nested rows */
    const char *help;
} es_option;

/* "string", "path", "int", "float", "bool", "duration", "size", "enum",
 * "list", "secret", "section", "detect", "list of items", "raw", "rate". */
const char *es_opt_type_name(es_opt_type t);

/*
 * One key a user can write, as es_config_foreach_option() yields it.
 * `section` is where it goes, in path notation: "" (top level), "log",
 * "admin", "topics[]", "feeds[]" (every feed), "feeds[type=sse]",
 * "sinks[]", "sinks[type=pagerduty]", "detect" (each topic's `detect:`
 * takes the same keys). `key` is the key as written in the file: a secret
 * row yields "token_env" and "token_file" (and "token" when a literal is
 * allowed); a nested section yields "severity.critical".
 */
typedef struct es_config_option_info {
    const char *section;
    const char *key;
    const char *type;
    const char *def;
    const char *help;
    bool required;
    const es_option *opt; /* the row, for bounds and choices; NULL for detector keys */
} es_config_option_info;

/* Call fn for every key, in table order; stops early if fn returns non-zero
 * (and returns that value). */
int es_config_foreach_option(int (*fn)(const es_config_option_info *info, void *ud), void *ud);

/* The feed and sink type names, NULL-terminated, in table order. */
extern const char *const es_config_feed_types[];
extern const char *const es_config_sink_types[];

/* ---- Loading ------------------------------------------------------------ */

typedef struct es_config es_config;

/*
 * Load and validate a config file. On success returns 0 and *out owns the
 * config. On failure returns ES_ECONFIG (ES_EIO, ES_ETOOBIG, ES_ENOMEM,
 * ES_EQUERY) with err->file = path, err->line/col at the offending node and a
 * message naming the key, e.g. "unknown key 'colour' in topic 'acme'".
 * Secrets are not read (see the flags below).
 */
int es_config_load(const char *path, es_config **out, es_error *err);
void es_config_free(es_config *c);

enum {
    /* Also check that every secret can be read (the variable is set, the
     * file is readable and not empty), reporting each one that cannot. */
    ES_CONFIG_SECRETS = 1u << 0,
};

/* Called once per error found, in file order, so a tool can report them all. */
typedef void (*es_config_error_fn)(const es_error *e, void *ud);

typedef struct es_config_opts {
    unsigned flags;              /* ES_CONFIG_* */
    es_config_error_fn on_error; /* may be NULL */
    void *ud;
} es_config_opts;

/* es_config_load with options; opts may be NULL. err receives the first error. */
int es_config_load_ex(const char *path, const es_config_opts *opts, es_config **out, es_error *err);

/*
 * Load from memory: `name` is used in errors (err->file) and `base_dir`
 * (may be NULL: the current directory) resolves relative paths. The bytes
 * need not be NUL-terminated.
 */
int es_config_load_buffer(const char *data, size_t len, const char *name, const char *base_dir,
                          const es_config_opts *opts, es_config **out, es_error *err);

/* ---- The model ------------------------------------------------------------ */

/* The path the config was loaded from, and its directory (absolute when the
 * path could be resolved). */
const char *es_config_path(const es_config *c);
const char *es_config_dir(const es_config *c);

/* `state:` resolved; "earshot.db" next to the config when not given. */
const char *es_config_state_path(const es_config *c);
/* `lexicons:` resolved, or NULL when not given (use the built-in default). */
const char *es_config_lexicons_dir(const es_config *c);
/* `log:` as written ("debug", "info", "warn", "error"; "text", "json"). */
const char *es_config_log_level(const es_config *c);
const char *es_config_log_format(const es_config *c);

/*
 * A configured value. `has` says whether there is a value at all (given, or
 * a default); `set` whether it was written in the file. For values from the
 * file, line/col locate it (for a secret: its NAME_env or NAME_file key).
 */
typedef enum { ES_SECRET_NONE, ES_SECRET_LITERAL, ES_SECRET_ENV, ES_SECRET_FILE } es_secret_src;

typedef struct es_config_value {
    const es_option *opt;
    bool has, set;
    int line, col;
    /* string, path (resolved), enum (the choice), secret: the variable name,
     * the resolved file path, or the literal; NULL when !has */
    const char *str;
    int64_t i; /* int, bool (0/1), enum (index in choices), duration (ms), size (bytes) */
    double f;  /* float; also set for int, duration and size */
    const char *const *list; /* list: n_list NUL-terminated strings */
    size_t n_list;
    es_secret_src secret;
} es_config_value;

/*
 * A feed, a sink, or the admin section: a name, a type and its values.
 * Keys are looked up by name as written in the file, with dots for nested
 * sections ("severity.critical"); a secret is looked up by its base name
 * ("token", not "token_env").
 */
typedef struct es_config_item es_config_item;

size_t es_config_feed_count(const es_config *c);
const es_config_item *es_config_feed(const es_config *c, size_t i);
size_t es_config_sink_count(const es_config *c);
const es_config_item *es_config_sink(const es_config *c, size_t i);
/* `admin:` (always present; `enabled` is false unless the file says so). */
const es_config_item *es_config_admin(const es_config *c);

const char *es_config_item_name(const es_config_item *it); /* "" for admin */
const char *es_config_item_type(const es_config_item *it); /* "sse", "slack"; "" for admin */
const char *es_config_item_kind(const es_config_item *it); /* "feed", "sink", "admin" */
void es_config_item_pos(const es_config_item *it, int *line, int *col);

/* NULL when `key` is not an option of this item's type (a programming error). */
const es_config_value *es_config_item_get(const es_config_item *it, const char *key);
/* Shorthands: the value, or NULL / 0 / false when there is none. */
const char *es_config_item_str(const es_config_item *it, const char *key);
int64_t es_config_item_int(const es_config_item *it, const char *key);
double es_config_item_float(const es_config_item *it, const char *key);
bool es_config_item_bool(const es_config_item *it, const char *key);

/*
 * True if two items (say the same feed in the old and the new config on
 * SIGHUP) have the same kind, name, type and values, so a reload can keep
 * what did not change. Positions in the file do not count; secrets compare
 * by where they come from (variable name, file path), not by value.
 */
bool es_config_item_equal(const es_config_item *a, const es_config_item *b);

/*
 * Read a secret option of an item (`key` is the base name: "token",
 * "url", "routing_key"). On success *out is a malloc'd NUL-terminated value
 * the caller frees (wipe it first if you care). Returns ES_ENOTFOUND with
 * *out = NULL and err untouched when the option is optional and not given;
 * ES_ECONFIG with a located error when the variable is not set, or the file
 * cannot be read or is empty: "sink 'team-chat': environment variable
 * SLACK_WEBHOOK_URL is not set". Values are capped at 64 KiB.
 */
int es_config_resolve_secret(const es_config_item *it, const char *key, char **out, es_error *err);

/* ---- Topics ------------------------------------------------------------ */

/*
 * The topics in file order, ready for es_topics_compile(): query_line and
 * query_col point at the query's first character in the file (inside the
 * quotes for a quoted query; the first content line for a block scalar).
 * Positions past an escape sequence in a double-quoted query, or on a
 * folded line, can be off by the difference YAML's unescaping made.
 */
const es_topic_def *es_config_topic_defs(const es_config *c, size_t *n);
/* Per-topic extras: the `sensitivity:` preset as written (NULL if none). */
const char *es_config_topic_sensitivity(const es_config *c, size_t i);
void es_config_topic_pos(const es_config *c, size_t i, int *line, int *col);

/*
 * The topics compiled by the loader (NULL when topic compilation is not
 * built in). Borrowed: valid until es_config_free().
 */
const es_topics *es_config_topics(const es_config *c);

/*
 * Detector settings as written: `detect:` maps flattened to dotted keys
 * ("volume_spike.threshold" = "5"), for the global section (topic ==
 * (size_t)-1) or a topic's overrides. Calls fn in file order; stops if fn
 * returns non-zero. line/col locate the value.
 */
typedef int (*es_config_detect_fn)(const char *key, const char *value, int line, int col, void *ud);
int es_config_detect_foreach(const es_config *c, size_t topic, es_config_detect_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
