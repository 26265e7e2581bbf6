/*
 * Alert routing: the `route:` tree of the config, grouping, inhibition,
 * silences, business hours and quiet hours. docs/routing.md describes the
 * YAML; this header is the C side.
 *
 *   alerts --push--> router --(group_wait, group_interval, repeat)--> emit(sink, notification)
 *                      |                                                ^
 *                      +--> escalator (escalate.h): tiers, ack timeouts-+
 *
 * Everything here runs in EVENT TIME: every function that needs "now" takes
 * it as an argument and nothing reads the clock, so the golden tests under
 * tests/fixtures/route run a day of alerts in microseconds, and backfill can
 * route in mention time. The live engine passes wall-clock time instead.
 *
 * Labels. An alert is routed on these labels (docs/routing.md has the list):
 * topic, kind, severity, status, fingerprint, feed and author come from the
 * alert itself (author: its first quoted mention's author); source, intent
 * and competitor come from the caller as extra labels, because the alert
 * model does not carry them. A label the alert does not have is "".
 *
 * Ownership: es_route_conf_load returns a conf the caller frees with
 * es_route_conf_free after every router made from it. A router keeps its own
 * copy of each alert it holds; the alert passed to es_router_push is only
 * read during the call. Notifications passed to the emit callback, and every
 * string in them, are valid during the callback only.
 */
#ifndef ES_ROUTE_H
#define ES_ROUTE_H

#include "alert.h"
#include "earshot.h"
#include "earshot/config.h"
#include "sink.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Labels and matchers ------------------------------------------------- */

typedef enum {
    ES_RL_TOPIC,
    ES_RL_KIND,
    ES_RL_SEVERITY,
    ES_RL_STATUS,
    ES_RL_FINGERPRINT,
    ES_RL_FEED,
    ES_RL_AUTHOR,
    ES_RL_SOURCE,
    ES_RL_INTENT,
    ES_RL_COMPETITOR,
    ES_RL_COUNT
} es_route_label;

/* "topic", "kind", ...; and the label called `name` (-1 if none). */
const char *es_route_label_name(es_route_label l);
int es_route_label_find(const char *name, size_t len);

/* A set of matchers, all of which must hold (`=`, `!=`, `=~`, `!~`; regexes
 * are anchored at both ends, as in Alertmanager). */
typedef struct es_matchers es_matchers;

/*
 * Parse matchers written as strings: `kind="complaint"`, `topic=~"acme|ac.*"`,
 * `severity != info` (the value may be quoted with "" or not). On error fills
 * err with the column (counting from 1 within the string whose index is
 * returned through *bad) and returns ES_EPARSE / ES_ENOMEM.
 */
int es_matchers_parse(const char *const *strs, size_t n, es_matchers **out, size_t *bad,
                      es_error *err);
void es_matchers_free(es_matchers *m);
/* values[ES_RL_COUNT]: the alert's label values ("" when absent). */
bool es_matchers_match(const es_matchers *m, const char *const *values);
size_t es_matchers_count(const es_matchers *m);

/* ---- Time zones and weekly windows (src/route_time.c) --------------------- */

/*
 * A time zone without the process's global state (no tzset, no TZ): a fixed
 * offset ("UTC", "+01:00", "-0530"), a POSIX TZ rule
 * ("CET-1CEST,M3.5.0,M10.5.0/3"), or an IANA name ("Europe/Berlin") whose
 * current rule is read from the TZif file's footer under /usr/share/zoneinfo
 * (so historical rule changes are not modelled: business hours in 2015 use
 * today's daylight-saving rule, which is the same for most zones).
 */
typedef struct es_tz {
    int32_t std_off_s; /* seconds east of UTC */
    int32_t dst_off_s;
    bool has_dst;
    /* DST start/end rules: month (1-12), week (1-5, 5 = last), weekday (0 = Sunday),
     * or Julian day when month == 0 (jday, 0-based if zero_based). Time in seconds
     * of local (wall) time. */
    struct es_tz_rule {
        int kind; /* 0: Mm.w.d, 1: Jn (1-365, no leap day), 2: n (0-365) */
        int month, week, wday, day;
        int32_t time_s;
    } start, end;
    char name[64];
} es_tz;

/* Parse a zone as described above. ES_EPARSE / ES_ENOTFOUND with a message. */
int es_tz_parse(const char *spec, es_tz *tz, es_error *err);
/* UTC offset in seconds (east positive) at the instant utc_ms. */
int32_t es_tz_offset(const es_tz *tz, int64_t utc_ms);

/* A weekly window: on the given days, between the given local times. A
 * range past midnight ("22:00-07:00") belongs to the day it starts on. */
#define ES_WINDOW_MAX_RANGES 8
typedef struct es_window {
    uint8_t days; /* bit 0 = Sunday ... bit 6 = Saturday */
    size_t n;
    struct {
        int32_t from_s, to_s; /* seconds after local midnight; to may exceed 86400 */
    } ranges[ES_WINDOW_MAX_RANGES];
} es_window;

/* True if utc_ms falls inside the window in zone tz. */
bool es_window_contains(const es_window *w, const es_tz *tz, int64_t utc_ms);
/* The first instant >= utc_ms at which window-membership differs from now's
 * (the end of the window when inside, the next start when outside), or
 * INT64_MAX if it never changes. */
int64_t es_window_next_change(const es_window *w, const es_tz *tz, int64_t utc_ms);

/* ---- The routing config ------------------------------------------------- */

typedef struct es_route_conf es_route_conf;
struct es_escalation_set;

/*
 * Read and validate `route:` and `escalations:` of a loaded config. Every
 * error is reported through on_error (may be NULL) as a located es_error
 * (file, line, col, message) and the first is copied to err; returns 0, or
 * ES_ECONFIG when there was any error (ES_ENOMEM on out-of-memory). Sink
 * names are checked against the config's `sinks:`. A config without
 * `route:` gets the default tree: every alert alone, at once, to every sink.
 */
int es_route_conf_load(const es_config *c, es_config_error_fn on_error, void *ud,
                       es_route_conf **out, es_error *err);
void es_route_conf_free(es_route_conf *rc);

/* `earshot check`: validate and, when valid and out != NULL, print a summary
 * of the tree and the policies. Returns the number of errors reported. */
int es_route_check(const es_config *c, es_config_error_fn on_error, void *ud, FILE *out);

/* The escalation policies in the conf (never NULL; maybe empty). */
const struct es_escalation_set *es_route_conf_escalations(const es_route_conf *rc);

/* ---- The state database: silences (src/route_silence.c) ------------------- */

/*
 * Silences and escalation state live in the `state:` SQLite file next to the
 * spool (own tables: route_silences, escalation_incidents, route_waiting),
 * on a connection of their own. ":memory:" gives a throwaway database for
 * tests.
 */
typedef struct es_route_db es_route_db;

int es_route_db_open(const char *path, es_route_db **out, es_error *err);
/*
 * The same tables on a connection the caller already has (borrowed; must
 * outlive the db; es_route_db_close leaves it open). The live engine uses
 * the spool's: escalation state then commits in the spool's batch with the
 * notifications it caused, and a second connection cannot deadlock on the
 * write lock the open batch holds.
 */
struct sqlite3;
int es_route_db_attach(struct sqlite3 *conn, es_route_db **out, es_error *err);
/* From now on es_route_db_open(path) attaches to `conn` instead of opening
 * a connection of its own (conn NULL: stop). The live engine shares its
 * spool's connection so that every user of the state file on the loop
 * thread (the router, the admin endpoint) writes inside the spool's batch;
 * it stops sharing before it closes the spool. */
void es_route_db_share(struct sqlite3 *conn, const char *path);
void es_route_db_close(es_route_db *db);
const char *es_route_db_errmsg(const es_route_db *db);

typedef struct es_silence {
    int64_t id;
    const char *matchers; /* one matcher per line */
    int64_t starts_ms;
    int64_t ends_ms;
    const char *comment;
    const char *created_by;
    int64_t created_ms;
} es_silence;

/*
 * Add a silence: alerts matching every matcher that arrive in
 * [starts_ms, ends_ms) are dropped (counted, never sent). Matchers are
 * checked first (err names the bad one). *id receives the new id.
 */
int es_silence_add(es_route_db *db, const char *const *matchers, size_t n, int64_t starts_ms,
                   int64_t ends_ms, const char *comment, const char *created_by, int64_t now_ms,
                   int64_t *id, es_error *err);
/* End a silence now (its ends_ms becomes now_ms if later). ES_ENOTFOUND if
 * there is no such silence; 1 if it had already ended. */
int es_silence_expire(es_route_db *db, int64_t id, int64_t now_ms);
/* Silences not yet ended at now_ms (all of them with `all`), oldest first. */
int es_silence_list(es_route_db *db, int64_t now_ms, bool all,
                    int (*cb)(void *ud, const es_silence *s), void *ud);

/* Internal: the connection (escalate.c keeps its tables on it), and whether
 * an alert with these label values is silenced at now_ms (the cache of
 * active silences is refreshed when this or another process changed them). */
struct sqlite3;
struct sqlite3 *es__route_db_sqlite(es_route_db *db);
bool es__route_db_silenced(es_route_db *db, const char *const *values, int64_t now_ms);

/* ---- The router ---------------------------------------------------------- */

/*
 * Where notifications go. `at_ms` is the event time at which the
 * notification is due (also in n->sent_ms). Return non-zero to stop: the
 * router returns that value from the call that emitted.
 */
typedef int (*es_route_emit_fn)(void *ud, const char *sink, const es_notification *n,
                                int64_t at_ms);

typedef struct es_router es_router;

typedef struct es_router_stats {
    uint64_t pushed;     /* alerts given to es_router_push */
    uint64_t silenced;   /* dropped by a silence */
    uint64_t inhibited;  /* folded into a firing wave (volume_spike, negative_surge) */
    uint64_t unrouted;   /* matched no route with a receiver */
    uint64_t notifications;
    uint64_t held;       /* flushes postponed by business or quiet hours */
    size_t groups;       /* groups open now */
} es_router_stats;

/*
 * Make a router over a conf (borrowed; must outlive the router) and a state
 * database (borrowed; NULL: no silences and no escalations persist, for
 * tests and `backfill` without a state file).
 *
 * With a database, every alert waiting in a group for its next
 * notification has a row in route_waiting, written on the database's
 * connection (so inside the caller's open transaction, the spool's batch in
 * `earshot run`) and deleted when the notification carrying it is emitted
 * or the group drops it. A new router on the database takes those alerts
 * back, with their push times, before it returns (emitting nothing): after
 * a crash, or from the router a reload replaces. es_router_free leaves the
 * rows. At most 100,000 rows; past that, alerts wait in memory only and a
 * warning is logged.
 */
int es_router_new(const es_route_conf *rc, es_route_db *db, es_route_emit_fn emit, void *ud,
                  es_router **out);
void es_router_free(es_router *r);

/*
 * Receivers that must see every alert of a group rather than the best
 * max_examples: the `file` and `stdout` sinks, whose contract is one line
 * per alert, never grouped. A receiver fn(ud, sink) approves gets each
 * alert alone as soon as it is pushed (after silences and inhibition,
 * before grouping and business/quiet hours), and group notifications that
 * carry all the group's firing alerts (count unchanged). The caller keys
 * these per alert so a repeat is recognised. Escalation tiers still get
 * the examples.
 */
typedef bool (*es_route_all_fn)(void *ud, const char *sink);
void es_router_set_wants_all(es_router *r, es_route_all_fn fn, void *ud);

/*
 * An alert arrives at now_ms. Anything due before now_ms is flushed first
 * (es_router_advance), so notifications come out in time order. `extra`
 * supplies labels the alert model lacks (source, intent, competitor) and may
 * override derived ones; unknown names are ignored.
 */
int es_router_push(es_router *r, const es_alert *a, const es_label *extra, size_t n_extra,
                   int64_t now_ms);

/* Event time has reached now_ms: send every notification due at or before
 * it, each stamped with its own due time, climbing escalations too. */
int es_router_advance(es_router *r, int64_t now_ms);

/* Send now every group that has alerts not yet notified (waiting for
 * group_wait or group_interval), as if they were due: for a process that
 * stops, since groups live in memory. Escalations are not climbed. */
int es_router_flush_waiting(es_router *r, int64_t now_ms);

/* The earliest time something is due (INT64_MAX: nothing). */
int64_t es_router_next_due(const es_router *r);

/* Acknowledge / resolve an escalation (an incident id, a group name or an
 * alert id), emitting the acknowledge / resolve notifications. */
int es_router_ack(es_router *r, const char *id, const char *by, int64_t now_ms);
int es_router_resolve(es_router *r, const char *id, const char *by, int64_t now_ms);

void es_router_stats_get(const es_router *r, es_router_stats *st);

#endif
