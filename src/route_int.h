/*
 * Routing internals shared by the config reader (route_conf.c) and the
 * router (route.c). Not for other modules: they use route.h.
 */
#ifndef ES_ROUTE_INT_H
#define ES_ROUTE_INT_H

#include "escalate.h"
#include "route.h"

/* Sentinel in group_by: `...`, every alert is a group of its own. */
#define ES_RL_ALL ES_RL_COUNT

/* Ceilings that keep one runaway stream from eating the process. */
#define ES_ROUTE_MAX_DEPTH     16
#define ES_ROUTE_MAX_RECEIVERS 32

/* A node of the routing tree. Settings are resolved at load time: a child
 * holds its parent's value for anything it does not set. */
typedef struct es_rnode {
    char name[64];
    int line, col;
    size_t index; /* pre-order number, unique in the tree */
    es_matchers *m; /* NULL: matches everything */
    bool cont;
    char **receivers;
    size_t n_receivers;
    int group_by[ES_RL_COUNT + 1];
    size_t n_group_by; /* a single ES_RL_ALL means `...` */
    int64_t group_wait_ms, group_interval_ms, repeat_interval_ms, resolve_timeout_ms;
    size_t max_examples;
    es_tz tz;
    bool has_bh;
    es_window bh;
    char **outside;
    size_t n_outside;
    bool has_qh;
    es_window qh;
    es_severity qh_min;
    const es_escalation *esc;
    struct es_rnode *children;
    size_t n_children;
} es_rnode;

typedef struct es_inhibit_rule {
    es_matchers *source;
    es_matchers *target;
    int equal[ES_RL_COUNT];
    size_t n_equal;
} es_inhibit_rule;

struct es_route_conf {
    es_rnode root;
    es_inhibit_rule *inhibit;
    size_t n_inhibit;
    es_escalation_set *esc;
    size_t n_nodes;
    bool defaulted; /* no `route:` in the file */
};

/* Tests: the most rows of waiting alerts a router keeps in the state
 * database (default 100,000). */
void es__router_set_waiting_cap(es_router *r, size_t cap);

#endif
