/*
 * Escalation policies (escalate.h has the model): reading `escalations:`,
 * and incidents that climb tiers in event time, persisted in the route
 * database.
 *
 * Crash safety without holding a lock across delivery: a climb first emits
 * its notifications, then records the new tier with an UPDATE that only
 * applies if nobody moved the incident meanwhile. A crash between the two
 * repeats the climb after the restart with the same idempotency key
 * ("GROUP@TIME/tierN", TIME being the stored due time), which the spool
 * recognises and sends once.
 */
#include "escalate.h"
#include "route_int.h"
#include "timefmt.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tier {
    int64_t after_ms; /* since the previous tier was reached; 0 for the first */
    char **sinks;
    size_t n_sinks;
} tier;

typedef struct start_rule {
    es_matchers *m;
    int tier;
} start_rule;

struct es_escalation {
    char name[64];
    tier tiers[ES_ESCALATION_MAX_TIERS];
    size_t n_tiers;
    start_rule *start;
    size_t n_start;
};

struct es_escalation_set {
    es_escalation *v;
    size_t n;
};

/* ---- Config ------------------------------------------------------------------ */

static void free_policy(es_escalation *p)
{
    for (size_t t = 0; t < p->n_tiers; t++) {
        for (size_t i = 0; i < p->tiers[t].n_sinks; i++) {
            free(p->tiers[t].sinks[i]);
        }
        free(p->tiers[t].sinks);
    }
    for (size_t i = 0; i < p->n_start; i++) {
        es_matchers_free(p->start[i].m);
    }
    free(p->start);
}

void es__escalations_free(es_escalation_set *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        free_policy(&s->v[i]);
    }
    free(s->v);
    free(s);
}

static int parse_tier(es__route_rep *rep, const es_config *c, const es_cfg_node *v, size_t idx,
                      tier *t)
{
    if (v->kind != ES_CFG_MAP) {
        es__route_err(rep, v, "tier %zu must be a mapping with 'sinks' (and 'after'), not %s",
                      idx + 1, es__cfg_kind_name(v->kind));
        return 0;
    }
    bool has_after = false, has_sinks = false;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->pairs[i].key->str;
        const es_cfg_node *val = v->pairs[i].val;
        if (strcmp(k, "after") == 0) {
            has_after = true;
            if (es__route_duration(rep, val, "after", idx == 0 ? 0 : 1000, &t->after_ms) == 0 &&
                idx == 0 && t->after_ms != 0) {
                es__route_err(rep, val,
                              "the first tier is reached at once; 'after' belongs to later "
                              "tiers (the wait for an acknowledgement before climbing)");
            }
        } else if (strcmp(k, "sinks") == 0 || strcmp(k, "receivers") == 0) {
            has_sinks = true;
            const char *strs[ES_ROUTE_MAX_RECEIVERS];
            int n = es__route_strings(rep, val, k, strs, ES_ROUTE_MAX_RECEIVERS);
            if (n == 0) {
                es__route_err(rep, val, "tier %zu has no sinks", idx + 1);
            }
            if (n <= 0) {
                continue;
            }
            t->sinks = calloc((size_t)n, sizeof *t->sinks);
            if (t->sinks == NULL) {
                return ES_ENOMEM;
            }
            for (int j = 0; j < n; j++) {
                es__route_sink_ok(rep, c, val->kind == ES_CFG_SEQ ? val->items[j] : val, strs[j]);
                if ((t->sinks[j] = strdup(strs[j])) == NULL) {
                    return ES_ENOMEM;
                }
                t->n_sinks++;
            }
        } else {
            es__route_err(rep, v->pairs[i].key, "unknown key '%s' in tier %zu (keys: after, sinks)",
                          k, idx + 1);
        }
    }
    if (!has_sinks) {
        es__route_err(rep, v, "tier %zu needs 'sinks'", idx + 1);
    }
    if (idx > 0 && !has_after) {
        es__route_err(rep, v,
                      "tier %zu needs 'after': how long to wait for an acknowledgement before "
                      "climbing to it",
                      idx + 1);
    }
    return 0;
}

static int parse_start(es__route_rep *rep, const es_cfg_node *v, es_escalation *p)
{
    if (v->kind != ES_CFG_SEQ) {
        es__route_err(rep, v,
                      "start_tier_if must be a list of {matchers: [...], tier: N}, not %s",
                      es__cfg_kind_name(v->kind));
        return 0;
    }
    p->start = calloc(v->n ? v->n : 1, sizeof *p->start);
    if (p->start == NULL) {
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < v->n; i++) {
        const es_cfg_node *r = v->items[i];
        if (r->kind != ES_CFG_MAP) {
            es__route_err(rep, r, "start_tier_if: rule %zu must be a mapping", i + 1);
            continue;
        }
        start_rule *sr = &p->start[p->n_start++];
        const es_cfg_node *tn = NULL;
        for (size_t j = 0; j < r->n; j++) {
            const char *k = r->pairs[j].key->str;
            const es_cfg_node *val = r->pairs[j].val;
            if (strcmp(k, "matchers") == 0) {
                es__route_matchers(rep, val, &sr->m);
            } else if (strcmp(k, "tier") == 0) {
                tn = val;
                char *end = NULL;
                long t = val->kind == ES_CFG_SCALAR ? strtol(val->str, &end, 10) : 0;
                if (end == NULL || *end != '\0' || t < 1) {
                    es__route_err(rep, val, "tier must be a tier number, counting from 1");
                } else {
                    sr->tier = (int)t;
                }
            } else {
                es__route_err(rep, r->pairs[j].key,
                              "unknown key '%s' in start_tier_if (keys: matchers, tier)", k);
            }
        }
        if (tn == NULL) {
            es__route_err(rep, r, "start_tier_if: rule %zu needs 'tier'", i + 1);
        } else if (sr->tier > (int)p->n_tiers && p->n_tiers > 0) {
            es__route_err(rep, tn, "tier %d does not exist: policy '%s' has %zu tier%s", sr->tier,
                          p->name, p->n_tiers, p->n_tiers == 1 ? "" : "s");
        }
        if (es__cfg_map_get(r, "matchers") == NULL) {
            es__route_err(rep, r, "start_tier_if: rule %zu needs 'matchers'", i + 1);
        }
    }
    return 0;
}

static int parse_policy(es__route_rep *rep, const es_config *c, const es_cfg_node *v,
                        es_escalation *p)
{
    if (v->kind != ES_CFG_MAP) {
        es__route_err(rep, v, "an escalation policy must be a mapping with 'name' and 'tiers'");
        return 0;
    }
    const es_cfg_node *name = es__cfg_map_get(v, "name");
    if (name == NULL || name->kind != ES_CFG_SCALAR || name->len == 0 ||
        name->len >= sizeof p->name) {
        es__route_err(rep, name != NULL ? name : v,
                      "an escalation policy needs a 'name' of 1 to %zu characters",
                      sizeof p->name - 1);
    } else {
        snprintf(p->name, sizeof p->name, "%s", name->str);
    }
    const es_cfg_node *tiers = NULL, *start = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->pairs[i].key->str;
        if (strcmp(k, "tiers") == 0) {
            tiers = v->pairs[i].val;
        } else if (strcmp(k, "start_tier_if") == 0) {
            start = v->pairs[i].val;
        } else if (strcmp(k, "name") != 0) {
            es__route_err(rep, v->pairs[i].key,
                          "unknown key '%s' in escalation policy (keys: name, tiers, "
                          "start_tier_if)",
                          k);
        }
    }
    if (tiers == NULL) {
        es__route_err(rep, v, "escalation policy '%s' needs 'tiers'", p->name);
    } else if (tiers->kind != ES_CFG_SEQ || tiers->n == 0) {
        es__route_err(rep, tiers, "tiers must be a non-empty list of {after, sinks}");
    } else if (tiers->n > ES_ESCALATION_MAX_TIERS) {
        es__route_err(rep, tiers, "at most %d tiers", ES_ESCALATION_MAX_TIERS);
    } else {
        for (size_t i = 0; i < tiers->n; i++) {
            p->n_tiers++;
            int rc = parse_tier(rep, c, tiers->items[i], i, &p->tiers[i]);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return start != NULL ? parse_start(rep, start, p) : 0;
}

int es__escalations_parse(es__route_rep *rep, const es_config *c, const es_cfg_node *node,
                          es_escalation_set **out)
{
    es_escalation_set *s = calloc(1, sizeof *s);
    *out = s;
    if (s == NULL) {
        return ES_ENOMEM;
    }
    if (node == NULL || node->kind == ES_CFG_NULL) {
        return 0;
    }
    if (node->kind != ES_CFG_SEQ) {
        es__route_err(rep, node, "escalations must be a list of policies, not %s",
                      es__cfg_kind_name(node->kind));
        return 0;
    }
    s->v = calloc(node->n ? node->n : 1, sizeof *s->v);
    if (s->v == NULL) {
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < node->n; i++) {
        es_escalation *p = &s->v[s->n++];
        int rc = parse_policy(rep, c, node->items[i], p);
        if (rc != 0) {
            return rc;
        }
        for (size_t j = 0; j + 1 < s->n && p->name[0] != '\0'; j++) {
            if (strcmp(s->v[j].name, p->name) == 0) {
                es__route_err(rep, es__cfg_map_get(node->items[i], "name"),
                              "escalation policy '%s' is defined twice", p->name);
            }
        }
    }
    return 0;
}

size_t es_escalation_count(const es_escalation_set *s)
{
    return s != NULL ? s->n : 0;
}

const es_escalation *es_escalation_find(const es_escalation_set *s, const char *name)
{
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        if (strcmp(s->v[i].name, name) == 0) {
            return &s->v[i];
        }
    }
    return NULL;
}

const es_escalation *es__escalation_at(const es_escalation_set *s, size_t i)
{
    return &s->v[i];
}

const char *es_escalation_name(const es_escalation *p)
{
    return p->name;
}

int es_escalation_start_tier(const es_escalation *p, const char *const *const *values, size_t n)
{
    for (size_t r = 0; r < p->n_start; r++) {
        for (size_t i = 0; i < n; i++) {
            if (es_matchers_match(p->start[r].m, values[i])) {
                int t = p->start[r].tier;
                return t < 1 ? 1 : t > (int)p->n_tiers ? (int)p->n_tiers : t;
            }
        }
    }
    return 1;
}

static void print_dur(FILE *out, int64_t ms)
{
    if (ms % 3600000 == 0) {
        fprintf(out, "%lldh", (long long)(ms / 3600000));
    } else if (ms % 60000 == 0) {
        fprintf(out, "%lldm", (long long)(ms / 60000));
    } else {
        fprintf(out, "%llds", (long long)(ms / 1000));
    }
}

void es__escalations_print(const es_escalation_set *s, FILE *out)
{
    if (s == NULL || s->n == 0) {
        return;
    }
    fprintf(out, "\nescalations: %zu\n", s->n);
    for (size_t i = 0; i < s->n; i++) {
        const es_escalation *p = &s->v[i];
        fprintf(out, "  %s:\n", p->name);
        int64_t total = 0;
        for (size_t t = 0; t < p->n_tiers; t++) {
            total += p->tiers[t].after_ms;
            fprintf(out, "    tier %zu", t + 1);
            if (t > 0) {
                fputs(" (unacknowledged ", out);
                print_dur(out, total);
                fputs(" after opening)", out);
            }
            fputs(": ", out);
            for (size_t k = 0; k < p->tiers[t].n_sinks; k++) {
                fprintf(out, "%s%s", k ? ", " : "", p->tiers[t].sinks[k]);
            }
            fputc('\n', out);
        }
        for (size_t r = 0; r < p->n_start; r++) {
            fprintf(out, "    starts at tier %d when ", p->start[r].tier);
            es__matchers_print(out, p->start[r].m);
            fputc('\n', out);
        }
    }
}

/* ---- Runtime ------------------------------------------------------------------ */

struct es_escalator {
    const es_escalation_set *set;
    es_route_db *rdb;
    sqlite3 *db;
    es_route_emit_fn emit;
    void *ud;
    int64_t next_due;
    es_buf json;
    es_buf key;
    es_buf sinks;
};

const char *es_incident_state_name(es_incident_state s)
{
    switch (s) {
    case ES_INCIDENT_OPEN:
        return "open";
    case ES_INCIDENT_ACKED:
        return "acknowledged";
    default:
        return "resolved";
    }
}

static void refresh_next_due(es_escalator *e)
{
    sqlite3_stmt *st = NULL;
    e->next_due = INT64_MAX;
    if (sqlite3_prepare_v2(e->db,
                           "SELECT MIN(next_ms) FROM escalation_incidents"
                           " WHERE state = 0 AND next_ms > 0",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        e->next_due = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
}

int es_escalator_new(const es_escalation_set *set, es_route_db *db, es_route_emit_fn emit,
                     void *ud, es_escalator **out)
{
    es_escalator *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return ES_ENOMEM;
    }
    e->set = set;
    e->rdb = db;
    e->db = es__route_db_sqlite(db);
    e->emit = emit;
    e->ud = ud;
    /* A notification's JSON is stored per incident; 4 MiB is far beyond a
     * group's examples, and the ceiling keeps a bug from filling the disk. */
    es_buf_init(&e->json, 4u << 20);
    es_buf_init(&e->key, 4096);
    es_buf_init(&e->sinks, 64 * 1024);
    refresh_next_due(e);
    *out = e;
    return 0;
}

void es_escalator_free(es_escalator *e)
{
    if (e == NULL) {
        return;
    }
    es_buf_free(&e->json);
    es_buf_free(&e->key);
    es_buf_free(&e->sinks);
    free(e);
}

int64_t es_escalator_next_due(es_escalator *e)
{
    return e->next_due;
}

static bool has_line(const char *lines, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = lines; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0) {
            return true;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return false;
}

/* Add tier t's sinks (not yet reached) to e->sinks; emit n to each new one. */
static int reach_tier(es_escalator *e, const tier *t, const es_notification *n, int64_t at)
{
    for (size_t i = 0; i < t->n_sinks; i++) {
        if (has_line(e->sinks.data, t->sinks[i])) {
            continue;
        }
        int rc = es_buf_adds(&e->sinks, t->sinks[i]);
        rc = rc ? rc : es_buf_addc(&e->sinks, '\n');
        if (rc != 0) {
            return rc;
        }
        if (n != NULL && (rc = e->emit(e->ud, t->sinks[i], n, at)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Emit n to every sink in a newline-separated list. */
static int emit_all(es_escalator *e, const char *sinks, const es_notification *n, int64_t at)
{
    char name[256];
    for (const char *p = sinks; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && len < sizeof name) {
            memcpy(name, p, len);
            name[len] = '\0';
            int rc = e->emit(e->ud, name, n, at);
            if (rc != 0) {
                return rc;
            }
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return 0;
}

static const char *group_of(const es_notification *n)
{
    if (n->group != NULL) {
        return n->group;
    }
    return n->n_alerts > 0 && n->alerts[0].fingerprint != NULL ? n->alerts[0].fingerprint : "";
}

/* "GROUP@2015-02-22T14:05:00Z/what": readable, and the same on a retry. */
static int make_key(es_escalator *e, const char *group, int64_t at, const char *what)
{
    char t[32];
    es_time_format(at, t);
    es_buf_reset(&e->key);
    return es_buf_printf(&e->key, "%s@%s/%s", group, t, what);
}

typedef struct row {
    int64_t id;
    int state, tier;
    int64_t opened_ms, next_ms;
    char policy[64];
} row;

static int find_open(es_escalator *e, const char *policy, const char *group, row *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(e->db,
                           "SELECT id, state, tier, opened_ms, next_ms, sinks FROM"
                           " escalation_incidents WHERE policy = ? AND grp = ? AND state < 2",
                           -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_text(st, 1, policy, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int out = 0;
    if (rc == SQLITE_ROW) {
        r->id = sqlite3_column_int64(st, 0);
        r->state = sqlite3_column_int(st, 1);
        r->tier = sqlite3_column_int(st, 2);
        r->opened_ms = sqlite3_column_int64(st, 3);
        r->next_ms = sqlite3_column_int64(st, 4);
        es_buf_reset(&e->sinks);
        const char *s = (const char *)sqlite3_column_text(st, 5);
        es_buf_adds(&e->sinks, s != NULL ? s : "");
        out = 1;
    } else if (rc != SQLITE_DONE) {
        out = ES_ESTATE;
    }
    sqlite3_finalize(st);
    return out;
}

static int exec_update(es_escalator *e, const char *sql, int64_t id, int64_t a, int64_t b,
                       const char *s1, const char *s2, int *changed)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    /* Parameters by name so each statement takes only what it uses. */
    int i;
    if ((i = sqlite3_bind_parameter_index(st, ":id")) > 0) {
        sqlite3_bind_int64(st, i, id);
    }
    if ((i = sqlite3_bind_parameter_index(st, ":a")) > 0) {
        sqlite3_bind_int64(st, i, a);
    }
    if ((i = sqlite3_bind_parameter_index(st, ":b")) > 0) {
        sqlite3_bind_int64(st, i, b);
    }
    if ((i = sqlite3_bind_parameter_index(st, ":s1")) > 0) {
        sqlite3_bind_text(st, i, s1 != NULL ? s1 : "", -1, SQLITE_STATIC);
    }
    if ((i = sqlite3_bind_parameter_index(st, ":s2")) > 0) {
        sqlite3_bind_text(st, i, s2 != NULL ? s2 : "", -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changed != NULL) {
        *changed = sqlite3_changes(e->db);
    }
    return rc == SQLITE_DONE ? 0 : ES_ESTATE;
}

int es_escalator_notify(es_escalator *e, const es_escalation *p, const es_notification *n,
                        int start_tier, int64_t now_ms)
{
    const char *group = group_of(n);
    row r;
    int found = find_open(e, p->name, group, &r);
    if (found < 0) {
        return found;
    }
    bool resolved = es_notification_resolved(n);
    es_buf_reset(&e->json);
    int rc = es_notification_to_json(n, &e->json);
    if (rc != 0) {
        return rc;
    }
    if (!found) {
        if (resolved) {
            return 0; /* nothing open, nothing to say */
        }
        int t = start_tier < 1 ? 1 : start_tier > (int)p->n_tiers ? (int)p->n_tiers : start_tier;
        es_buf_reset(&e->sinks);
        /* Starting higher still tells the tiers below: the team chat should
         * know that the duty manager has been called. */
        for (int k = 0; k < t; k++) {
            if ((rc = reach_tier(e, &p->tiers[k], n, now_ms)) != 0) {
                return rc;
            }
        }
        int64_t next = (size_t)t < p->n_tiers ? now_ms + p->tiers[t].after_ms : 0;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(e->db,
                               "INSERT INTO escalation_incidents(policy, grp, state, tier,"
                               " opened_ms, next_ms, sinks, payload) VALUES(?,?,0,?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
            return ES_ESTATE;
        }
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, t);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_int64(st, 5, next);
        sqlite3_bind_text(st, 6, e->sinks.data, (int)e->sinks.len, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, e->json.data, (int)e->json.len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            return ES_ESTATE;
        }
        if (next > 0 && next < e->next_due) {
            e->next_due = next;
        }
        return 0;
    }
    /* An open or acknowledged incident: everyone reached hears the news. */
    if ((rc = emit_all(e, e->sinks.data, n, now_ms)) != 0) {
        return rc;
    }
    if (resolved) {
        rc = exec_update(e,
                         "UPDATE escalation_incidents SET state = 2, resolved_ms = :a,"
                         " next_ms = 0, payload = :s1 WHERE id = :id",
                         r.id, now_ms, 0, e->json.data, NULL, NULL);
        refresh_next_due(e);
        return rc;
    }
    return exec_update(e, "UPDATE escalation_incidents SET payload = :s1 WHERE id = :id", r.id, 0,
                       0, e->json.data, NULL, NULL);
}

/* Climb one incident that is due at or before now. Returns 1 if one was
 * climbed, 0 if none was due, or a negative code. */
static int climb_one(es_escalator *e, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(e->db,
                           "SELECT id, policy, grp, tier, next_ms, sinks, payload FROM"
                           " escalation_incidents WHERE state = 0 AND next_ms > 0 AND"
                           " next_ms <= ? ORDER BY next_ms, id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : ES_ESTATE;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    char policy[64], group[1024];
    snprintf(policy, sizeof policy, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(group, sizeof group, "%s", (const char *)sqlite3_column_text(st, 2));
    int t = sqlite3_column_int(st, 3);
    int64_t at = sqlite3_column_int64(st, 4);
    es_buf_reset(&e->sinks);
    es_buf_adds(&e->sinks, (const char *)sqlite3_column_text(st, 5));
    es_buf_reset(&e->json);
    const char *payload = (const char *)sqlite3_column_text(st, 6);
    rc = es_buf_add(&e->json, payload, (size_t)sqlite3_column_bytes(st, 6));
    sqlite3_finalize(st);
    if (rc != 0) {
        return rc;
    }
    const es_escalation *p = es_escalation_find(e->set, policy);
    if (p == NULL || (size_t)t >= p->n_tiers) {
        /* The policy went away or shrank in a reload: stop where it is. */
        rc = exec_update(e, "UPDATE escalation_incidents SET next_ms = 0 WHERE id = :id", id, 0,
                         0, NULL, NULL, NULL);
        return rc != 0 ? rc : 1;
    }
    es_notification_doc doc;
    es_error err = {0};
    memset(&doc, 0, sizeof doc);
    if (es_notification_parse(e->json.data, e->json.len, &doc, &err) != 0) {
        es_notification_doc_free(&doc);
        rc = exec_update(e, "UPDATE escalation_incidents SET next_ms = 0 WHERE id = :id", id, 0,
                         0, NULL, NULL, NULL);
        return rc != 0 ? rc : 1;
    }
    char what[32];
    snprintf(what, sizeof what, "tier%d", t + 1);
    rc = make_key(e, group, at, what);
    doc.n.key = e->key.data;
    doc.n.group = group;
    doc.n.sent_ms = at;
    rc = rc ? rc : reach_tier(e, &p->tiers[t], &doc.n, at);
    es_notification_doc_free(&doc);
    if (rc != 0) {
        return rc;
    }
    int64_t next = (size_t)(t + 1) < p->n_tiers ? at + p->tiers[t + 1].after_ms : 0;
    int changed = 0;
    rc = exec_update(e,
                     "UPDATE escalation_incidents SET tier = :a, next_ms = :b, sinks = :s1"
                     " WHERE id = :id AND state = 0",
                     id, t + 1, next, e->sinks.data, NULL, &changed);
    return rc != 0 ? rc : 1;
}

int es_escalator_advance(es_escalator *e, int64_t now_ms)
{
    if (e->next_due > now_ms) {
        return 0;
    }
    int rc;
    /* One at a time, earliest first, each stamped with its own due time. A
     * bound on the loop guards against a row that cannot be moved on. */
    for (int guard = 0; guard < 100000 && (rc = climb_one(e, now_ms)) == 1; guard++) {
    }
    refresh_next_due(e);
    return rc < 0 ? rc : 0;
}

/* The incident `id` names: a number, a group, or an alert id inside the
 * latest notification. Fills r (policy included) and e->sinks, e->json. */
static int lookup(es_escalator *e, const char *id, bool include_resolved, row *r)
{
    static const char *const by_id =
        "SELECT id, state, tier, opened_ms, policy, sinks, payload FROM escalation_incidents"
        " WHERE id = ?";
    static const char *const by_group =
        "SELECT id, state, tier, opened_ms, policy, sinks, payload FROM escalation_incidents"
        " WHERE grp = ? ORDER BY state >= 2, id DESC LIMIT 1";
    static const char *const by_alert =
        "SELECT id, state, tier, opened_ms, policy, sinks, payload FROM escalation_incidents"
        " WHERE instr(payload, ?) > 0 ORDER BY state >= 2, id DESC LIMIT 1";
    bool numeric = id[0] != '\0' && strspn(id, "0123456789") == strlen(id);
    const char *sqls[3] = {numeric ? by_id : NULL, by_group, by_alert};
    char needle[128];
    snprintf(needle, sizeof needle, "\"id\":\"%.100s\"", id);
    for (int k = 0; k < 3; k++) {
        if (sqls[k] == NULL) {
            continue;
        }
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(e->db, sqls[k], -1, &st, NULL) != SQLITE_OK) {
            return ES_ESTATE;
        }
        if (k == 0) {
            sqlite3_bind_int64(st, 1, strtoll(id, NULL, 10));
        } else {
            sqlite3_bind_text(st, 1, k == 1 ? id : needle, -1, SQLITE_TRANSIENT);
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            r->id = sqlite3_column_int64(st, 0);
            r->state = sqlite3_column_int(st, 1);
            r->tier = sqlite3_column_int(st, 2);
            r->opened_ms = sqlite3_column_int64(st, 3);
            snprintf(r->policy, sizeof r->policy, "%s", (const char *)sqlite3_column_text(st, 4));
            es_buf_reset(&e->sinks);
            es_buf_adds(&e->sinks, (const char *)sqlite3_column_text(st, 5));
            es_buf_reset(&e->json);
            int brc = es_buf_add(&e->json, sqlite3_column_text(st, 6),
                                 (size_t)sqlite3_column_bytes(st, 6));
            sqlite3_finalize(st);
            if (brc != 0) {
                return brc;
            }
            if (!include_resolved && r->state >= ES_INCIDENT_RESOLVED) {
                return 1;
            }
            return 0;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            return ES_ESTATE;
        }
    }
    return ES_ENOTFOUND;
}

/* Send the stored notification again as an acknowledgement or resolution. */
static int send_final(es_escalator *e, const row *r, bool ack, int64_t now_ms)
{
    es_notification_doc doc;
    es_error err = {0};
    memset(&doc, 0, sizeof doc);
    if (e->json.len == 0 || es_notification_parse(e->json.data, e->json.len, &doc, &err) != 0) {
        es_notification_doc_free(&doc);
        return 0; /* nothing readable to send; the state change still stands */
    }
    char group[1024];
    snprintf(group, sizeof group, "%s", group_of(&doc.n));
    int rc = make_key(e, group, now_ms, ack ? "ack" : "resolve");
    doc.n.key = e->key.data;
    doc.n.group = group;
    doc.n.sent_ms = now_ms;
    if (ack) {
        doc.n.action = ES_NOTIFY_ACKNOWLEDGE;
    } else {
        /* Resolved by a person: every alert is marked resolved, so each
         * sink says so and PagerDuty resolves the same dedup key. The alert
         * JSON is encoded afresh (its status and id change with it). */
        for (size_t i = 0; i < doc.n.n_alerts; i++) {
            doc.alerts[i].resolved = true;
            doc.alerts[i].at_ms = now_ms;
            doc.alerts[i].at_text = NULL;
        }
        doc.n.alert_json = NULL;
    }
    (void)r;
    rc = rc ? rc : emit_all(e, e->sinks.data, &doc.n, now_ms);
    es_notification_doc_free(&doc);
    return rc;
}

int es_escalator_ack(es_escalator *e, const char *id, const char *by, int64_t now_ms)
{
    row r;
    int rc = lookup(e, id, false, &r);
    if (rc != 0) {
        return rc;
    }
    if (r.state == ES_INCIDENT_ACKED) {
        return 1;
    }
    int changed = 0;
    rc = exec_update(e,
                     "UPDATE escalation_incidents SET state = 1, acked_ms = :a, acked_by = :s1,"
                     " next_ms = 0 WHERE id = :id AND state = 0",
                     r.id, now_ms, 0, by, NULL, &changed);
    if (rc != 0) {
        return rc;
    }
    if (changed == 0) {
        return 1; /* someone else got there first */
    }
    refresh_next_due(e);
    return send_final(e, &r, true, now_ms);
}

int es_escalator_resolve(es_escalator *e, const char *id, const char *by, int64_t now_ms)
{
    row r;
    int rc = lookup(e, id, false, &r);
    if (rc != 0) {
        return rc;
    }
    int changed = 0;
    rc = exec_update(e,
                     "UPDATE escalation_incidents SET state = 2, resolved_ms = :a, next_ms = 0,"
                     " acked_by = CASE WHEN acked_by = '' THEN :s1 ELSE acked_by END"
                     " WHERE id = :id AND state < 2",
                     r.id, now_ms, 0, by, NULL, &changed);
    if (rc != 0) {
        return rc;
    }
    if (changed == 0) {
        return 1;
    }
    refresh_next_due(e);
    return send_final(e, &r, false, now_ms);
}

int es_incident_list(es_route_db *db, bool all, int (*cb)(void *ud, const es_incident *inc),
                     void *ud)
{
    sqlite3 *s = es__route_db_sqlite(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s,
                           "SELECT id, policy, grp, state, tier, opened_ms, next_ms, acked_ms,"
                           " acked_by, resolved_ms, sinks, payload FROM escalation_incidents"
                           " WHERE ? OR state < 2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        return ES_ESTATE;
    }
    sqlite3_bind_int(st, 1, all ? 1 : 0);
    int rc, out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_incident inc = {
            .id = sqlite3_column_int64(st, 0),
            .policy = (const char *)sqlite3_column_text(st, 1),
            .group = (const char *)sqlite3_column_text(st, 2),
            .state = (es_incident_state)sqlite3_column_int(st, 3),
            .tier = sqlite3_column_int(st, 4),
            .opened_ms = sqlite3_column_int64(st, 5),
            .next_ms = sqlite3_column_int64(st, 6),
            .acked_ms = sqlite3_column_int64(st, 7),
            .acked_by = (const char *)sqlite3_column_text(st, 8),
            .resolved_ms = sqlite3_column_int64(st, 9),
            .sinks = (const char *)sqlite3_column_text(st, 10),
            .payload = (const char *)sqlite3_column_text(st, 11),
        };
        if ((out = cb(ud, &inc)) != 0) {
            break;
        }
    }
    if (out == 0 && rc != SQLITE_DONE) {
        out = ES_ESTATE;
    }
    sqlite3_finalize(st);
    return out;
}
