/*
 * The live engine behind `earshot run`: one libuv loop that owns the feeds,
 * the pipeline, the state file and asynchronous alert delivery.
 *
 *   feeds --bytes--> decode --> dedup (store) --> pipeline --> alerts
 *        --> es__engine_dispatch --[route: router (route.h)]--> spool --> sinks
 *
 * Without `route:` every alert goes to every sink as a notification of one;
 * with it, the router groups, inhibits, silences and escalates, and
 * docs/routing.md says what file/stdout sinks and sink filters then get.
 * Spool writes are batched: a small batch commits at the end of its loop
 * turn, a big one at most every 20 ms (spool.h, on_flush in engine.c).
 *
 * Every alert is written to the spool before it is sent; delivery runs on
 * the loop through http.c (HTTP sinks), in place for local sinks (stdout,
 * file, exec), and through the synchronous deliverer for SMTP. Feeds pause
 * while the spool backlog of the configured sinks is above a bound.
 *
 * Signals: SIGINT/SIGTERM stop the feeds, drain the sinks (bounded by the
 * drain timeout), close every handle and return 0; SIGHUP reloads the
 * config (the old one stays on any error). With exit_when_done the engine
 * also stops, after a final drain, once every feed has finished.
 */
#ifndef ES_ENGINE_H
#define ES_ENGINE_H

#include "alert.h"
#include "earshot.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct es_engine_opts {
    const char *config_path;
    const char *lexicons_dir;  /* NULL: the config's `lexicons:`, else default_lexicons */
    const char *default_lexicons;
    int log_level;             /* -1: the config's `log.level` */
    int log_json;              /* -1: the config's `log.format` */
    bool exit_when_done;       /* stop once every feed finished and all is drained */
    int64_t stats_interval_ms; /* per-feed counters in the log; 0: 60 s, <0: never */
    int64_t drain_timeout_ms;  /* bound on the drain at shutdown; 0: 10 s */
    int64_t max_pending;       /* undelivered alerts that pause the feeds; 0: 10,000 */
} es_engine_opts;

/*
 * Run until stopped. Returns 0 after a graceful stop, or an ES_E* code
 * with err filled (the config, the lexicons or the state file could not be
 * loaded, with the file, line and column where there is one).
 */
int es_engine_run(const es_engine_opts *o, es_error *err);

/*
 * The state file's limits a config sets (`dedup:`, `spool:`, their
 * defaults when absent), as `run` applies them: the store is opened with
 * `store`, and done spool rows beyond done_max_rows or older than
 * done_max_age_ms are forgotten a few thousand at a time (es_spool_prune).
 */
struct es_config;
typedef struct es_engine_state_limits {
    es_store_opts store;
    int64_t done_max_rows;
    int64_t done_max_age_ms;
} es_engine_state_limits;
void es_engine_state_limits_get(const struct es_config *cfg, es_engine_state_limits *out);

struct es_engine;
/* Where every alert goes: the one place between detection and the sinks
 * (routing, grouping and inhibition slot in here). Returns 0 or a spool
 * failure. */
int es__engine_dispatch(struct es_engine *e, const es_alert *a);

#endif
