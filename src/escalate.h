/*
 * Escalation policies: tiers of sinks with acknowledgement timeouts.
 *
 *   escalations:
 *     - name: support
 *       tiers:
 *         - sinks: [team-chat]
 *         - after: 15m                 # nobody acknowledged within 15 minutes
 *           sinks: [duty-chat, duty-mail]
 *         - after: 30m                 # 30 more minutes
 *           sinks: [pager]
 *       start_tier_if:
 *         - matchers: ['severity="critical"']
 *           tier: 2
 *
 * A route with `escalation: support` hands each notification of a group to
 * the escalator. The first one opens an INCIDENT for (policy, group) at its
 * start tier; the tier's sinks get the notification. While nobody
 * acknowledges, each tier's `after` later the next tier's sinks get the
 * group's latest notification. Later notifications of the group go to every
 * tier reached so far. `earshot alerts ack` stops the climb (the reached
 * sinks get an "acknowledge" notification: PagerDuty acknowledges the same
 * dedup key); a resolved group or `earshot alerts resolve` ends the
 * incident (the reached sinks get the resolved notification). The time to
 * acknowledge is recorded per incident.
 *
 * State lives in the route database (table escalation_incidents), so a
 * restarted engine continues a climb where it was, and the CLI can
 * acknowledge while the engine runs: the engine re-reads an incident before
 * climbing it. Pure logic in event time: every "now" is passed in.
 */
#ifndef ES_ESCALATE_H
#define ES_ESCALATE_H

#include "config.h"
#include "route.h"

#include <stdbool.h>
#include <stdint.h>

#define ES_ESCALATION_MAX_TIERS 16

typedef struct es_escalation es_escalation;
typedef struct es_escalation_set es_escalation_set;

/* Collects located config errors (shared by route.c and escalate.c). */
typedef struct es__route_rep {
    const char *file;
    es_config_error_fn fn;
    void *ud;
    es_error *first;
    int n;
} es__route_rep;

void es__route_err(es__route_rep *rep, const es_cfg_node *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Error at a column offset inside a scalar (for a matcher's operator). */
void es__route_err_at(es__route_rep *rep, const es_cfg_node *at, size_t offset, const char *fmt,
                      ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A list of scalars (one scalar is a list of one): fills out[] (borrowed
 * from the tree), returns how many, or -1 after reporting. */
int es__route_strings(es__route_rep *rep, const es_cfg_node *v, const char *what,
                      const char **out, size_t max);
/* Parse matchers given as a node (a list of strings), reporting located
 * errors. NULL node: an empty set (matches everything). */
int es__route_matchers(es__route_rep *rep, const es_cfg_node *v, es_matchers **out);
/* Write matchers back as text: kind="complaint", topic=~"acme.*" */
void es__matchers_print(FILE *out, const es_matchers *m);
/* A duration value; reports and returns -1 on error. */
int es__route_duration(es__route_rep *rep, const es_cfg_node *v, const char *key, int64_t min_ms,
                       int64_t *out);
/* True if a sink of this name exists in the config; reports if not. */
bool es__route_sink_ok(es__route_rep *rep, const es_config *c, const es_cfg_node *at,
                       const char *name);

/* Parse `escalations:` (NULL node: none). Errors are reported through rep;
 * *out is set unless out-of-memory. */
int es__escalations_parse(es__route_rep *rep, const es_config *c, const es_cfg_node *node,
                          es_escalation_set **out);
void es__escalations_free(es_escalation_set *s);
/* Print the policies for `earshot check`. */
void es__escalations_print(const es_escalation_set *s, FILE *out);

size_t es_escalation_count(const es_escalation_set *s);
const es_escalation *es_escalation_find(const es_escalation_set *s, const char *name);
const char *es_escalation_name(const es_escalation *p);
const es_escalation *es__escalation_at(const es_escalation_set *s, size_t i);

/* The tier (1-based) an incident whose alerts have these label values
 * starts at: the first start_tier_if rule any of them matches, else 1.
 * values[i] is an array of ES_RL_COUNT strings. */
int es_escalation_start_tier(const es_escalation *p, const char *const *const *values, size_t n);

/* ---- Runtime --------------------------------------------------------------- */

typedef struct es_escalator es_escalator;

/* `set` may be NULL (the CLI acknowledging from stored state alone). The db
 * is borrowed. */
int es_escalator_new(const es_escalation_set *set, es_route_db *db, es_route_emit_fn emit,
                     void *ud, es_escalator **out);
void es_escalator_free(es_escalator *e);

/*
 * A route's notification for a group under policy p, at now_ms. Opens an
 * incident (at start_tier) if the group has none open and n is firing;
 * otherwise passes n on to every sink reached so far, and ends the incident
 * when n is resolved.
 */
int es_escalator_notify(es_escalator *e, const es_escalation *p, const es_notification *n,
                        int start_tier, int64_t now_ms);

/* Climb every incident whose timeout passed at or before now_ms, each at its
 * own due time, in time order. */
int es_escalator_advance(es_escalator *e, int64_t now_ms);
int64_t es_escalator_next_due(es_escalator *e);

/*
 * Acknowledge or resolve by incident id (a number), group name, or the id
 * of an alert in the incident's latest notification. ES_ENOTFOUND when no
 * open incident matches; 1 when it was already acknowledged / resolved.
 */
int es_escalator_ack(es_escalator *e, const char *id, const char *by, int64_t now_ms);
int es_escalator_resolve(es_escalator *e, const char *id, const char *by, int64_t now_ms);

typedef enum { ES_INCIDENT_OPEN, ES_INCIDENT_ACKED, ES_INCIDENT_RESOLVED } es_incident_state;

typedef struct es_incident {
    int64_t id;
    const char *policy;
    const char *group;
    es_incident_state state;
    int tier;           /* highest tier reached (1-based) */
    int64_t opened_ms;
    int64_t next_ms;    /* next climb, 0 when none */
    int64_t acked_ms;   /* 0 when not acknowledged */
    const char *acked_by;
    int64_t resolved_ms;
    const char *sinks;  /* sinks reached, one per line */
    const char *payload; /* the latest notification JSON */
} es_incident;

const char *es_incident_state_name(es_incident_state s);

/* Incidents not resolved (all of them with `all`), oldest first. */
int es_incident_list(es_route_db *db, bool all, int (*cb)(void *ud, const es_incident *inc),
                     void *ud);

#endif
