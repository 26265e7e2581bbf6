/*
 * Reading `route:`: labels, matchers (PCRE2, compiled once), the routing
 * tree with inherited settings, weekly windows, inhibition rules, and the
 * summary `earshot check` prints. Every error names the file, line and
 * column of the node at fault (for a matcher, the column of the character
 * at fault inside it), and reading goes on so a user sees every error at
 * once. docs/routing.md documents the YAML; keep the two in step.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "route_int.h"
#include "timefmt.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Labels ------------------------------------------------------------------ */

static const char *const label_names[ES_RL_COUNT] = {
    [ES_RL_TOPIC] = "topic",   [ES_RL_KIND] = "kind",
    [ES_RL_SEVERITY] = "severity", [ES_RL_STATUS] = "status",
    [ES_RL_FINGERPRINT] = "fingerprint", [ES_RL_FEED] = "feed",
    [ES_RL_AUTHOR] = "author", [ES_RL_SOURCE] = "source",
    [ES_RL_INTENT] = "intent", [ES_RL_COMPETITOR] = "competitor",
};

#define LABEL_LIST                                                                                 \
    "topic, kind, severity, status, fingerprint, feed, author, source, intent, competitor"

const char *es_route_label_name(es_route_label l)
{
    return (unsigned)l < ES_RL_COUNT ? label_names[l] : "?";
}

int es_route_label_find(const char *name, size_t len)
{
    for (int i = 0; i < ES_RL_COUNT; i++) {
        if (strlen(label_names[i]) == len && memcmp(label_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Values a label can take when the set is closed, so `severity="critcal"`
 * is an error rather than a route that never matches. */
static const char *const kind_values[] = {"complaint",  "volume_spike", "negative_surge",
                                          "viral_post", "feed_stalled", NULL};
static const char *const severity_values[] = {"info", "warning", "critical", NULL};
static const char *const status_values[] = {"firing", "resolved", NULL};
static const char *const intent_values[] = {"complaint", "question", "praise", "other", NULL};
static const char *const bool_values[] = {"true", "false", NULL};

static const char *const *closed_values(int label)
{
    switch (label) {
    case ES_RL_KIND:
        return kind_values;
    case ES_RL_SEVERITY:
        return severity_values;
    case ES_RL_STATUS:
        return status_values;
    case ES_RL_INTENT:
        return intent_values;
    case ES_RL_COMPETITOR:
        return bool_values;
    default:
        return NULL;
    }
}

/* ---- Matchers ------------------------------------------------------------------ */

enum { OP_EQ, OP_NE, OP_RE, OP_NRE };

typedef struct matcher {
    int label;
    int op;
    char *value;
    pcre2_code *re;
} matcher;

struct es_matchers {
    size_t n;
    matcher *v;
    pcre2_match_data *md;
};

void es_matchers_free(es_matchers *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].value);
        pcre2_code_free(m->v[i].re);
    }
    free(m->v);
    pcre2_match_data_free(m->md);
    free(m);
}

size_t es_matchers_count(const es_matchers *m)
{
    return m != NULL ? m->n : 0;
}

/* Parse one matcher; on error sets err->col (1-based in s). */
static int parse_matcher(const char *s, matcher *out, es_error *err)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t') {
        i++;
    }
    size_t ls = i;
    while (isalnum((unsigned char)s[i]) || s[i] == '_') {
        i++;
    }
    if (i == ls) {
        return es_error_set(err, ES_EPARSE, 0, (int)i + 1,
                            "expected a label name, as in kind=\"complaint\"");
    }
    out->label = es_route_label_find(s + ls, i - ls);
    if (out->label < 0) {
        return es_error_set(err, ES_EPARSE, 0, (int)ls + 1, "unknown label '%.*s' (labels: %s)",
                            (int)(i - ls), s + ls, LABEL_LIST);
    }
    while (s[i] == ' ' || s[i] == '\t') {
        i++;
    }
    size_t opcol = i;
    if (s[i] == '=' && s[i + 1] == '~') {
        out->op = OP_RE;
        i += 2;
    } else if (s[i] == '!' && s[i + 1] == '~') {
        out->op = OP_NRE;
        i += 2;
    } else if (s[i] == '!' && s[i + 1] == '=') {
        out->op = OP_NE;
        i += 2;
    } else if (s[i] == '=') {
        out->op = OP_EQ;
        i += (s[i + 1] == '=') ? 2 : 1;
    } else {
        return es_error_set(err, ES_EPARSE, 0, (int)opcol + 1,
                            "expected an operator (=, !=, =~ or !~) after '%s'",
                            label_names[out->label]);
    }
    while (s[i] == ' ' || s[i] == '\t') {
        i++;
    }
    size_t vcol = i;
    es_buf v;
    es_buf_init(&v, 64 * 1024);
    int rc = 0;
    if (s[i] == '"') {
        i++;
        for (;;) {
            if (s[i] == '\0') {
                es_buf_free(&v);
                return es_error_set(err, ES_EPARSE, 0, (int)vcol + 1,
                                    "unterminated quoted value");
            }
            if (s[i] == '"') {
                i++;
                break;
            }
            char c = s[i];
            if (c == '\\' && s[i + 1] != '\0') {
                i++;
                c = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
            }
            rc = rc ? rc : es_buf_addc(&v, c);
            i++;
        }
        vcol++; /* regex offsets count from inside the quotes */
        while (s[i] == ' ' || s[i] == '\t') {
            i++;
        }
        if (s[i] != '\0') {
            es_buf_free(&v);
            return es_error_set(err, ES_EPARSE, 0, (int)i + 1,
                                "unexpected text after the quoted value");
        }
    } else {
        size_t end = strlen(s);
        while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t')) {
            end--;
        }
        rc = es_buf_add(&v, s + i, end - i);
    }
    if (rc != 0 || es_buf_reserve(&v, 1) != 0) {
        es_buf_free(&v);
        return es_error_set(err, rc ? rc : ES_ENOMEM, 0, (int)vcol + 1, "value too long");
    }
    v.data[v.len] = '\0'; /* an empty value ("") has had nothing appended */
    out->value = v.data;   /* owned now */
    const char *const *closed = closed_values(out->label);
    if (closed != NULL && (out->op == OP_EQ || out->op == OP_NE) && out->value[0] != '\0') {
        bool ok = false;
        for (size_t k = 0; closed[k] != NULL; k++) {
            ok = ok || strcmp(closed[k], out->value) == 0;
        }
        if (!ok) {
            char list[160] = "";
            for (size_t k = 0; closed[k] != NULL; k++) {
                strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, closed[k], sizeof list - strlen(list) - 1);
            }
            int r = es_error_set(err, ES_EPARSE, 0, (int)vcol + 1, "unknown %s '%s' (%s: %s)",
                                 label_names[out->label], out->value, label_names[out->label],
                                 list);
            free(out->value);
            out->value = NULL;
            return r;
        }
    }
    if (out->op == OP_RE || out->op == OP_NRE) {
        int ec;
        PCRE2_SIZE eo;
        /* Anchored at both ends, as Alertmanager does: `topic=~"acme"` means
         * exactly acme, `topic=~"acme.*"` anything that starts with it. */
        out->re = pcre2_compile((PCRE2_SPTR)out->value, v.len,
                                PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &ec, &eo, NULL);
        if (out->re == NULL) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            int r = es_error_set(err, ES_EPARSE, 0, (int)(vcol + eo) + 1, "bad regex: %s",
                                 (const char *)msg);
            free(out->value);
            out->value = NULL;
            return r;
        }
        pcre2_jit_compile(out->re, PCRE2_JIT_COMPLETE); /* optional speed-up */
    }
    return 0;
}

int es_matchers_parse(const char *const *strs, size_t n, es_matchers **out, size_t *bad,
                      es_error *err)
{
    *out = NULL;
    es_matchers *m = calloc(1, sizeof *m);
    if (m == NULL || (n > 0 && (m->v = calloc(n, sizeof *m->v)) == NULL) ||
        (m->md = pcre2_match_data_create(1, NULL)) == NULL) {
        es_matchers_free(m);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = parse_matcher(strs[i], &m->v[i], err);
        if (rc != 0) {
            if (bad != NULL) {
                *bad = i;
            }
            es_matchers_free(m);
            return rc;
        }
        m->n++;
    }
    *out = m;
    return 0;
}

bool es_matchers_match(const es_matchers *m, const char *const *values)
{
    if (m == NULL) {
        return true;
    }
    for (size_t i = 0; i < m->n; i++) {
        const matcher *x = &m->v[i];
        const char *v = values[x->label] != NULL ? values[x->label] : "";
        bool hit;
        if (x->op == OP_EQ || x->op == OP_NE) {
            hit = strcmp(v, x->value) == 0;
        } else {
            hit = pcre2_match(x->re, (PCRE2_SPTR)v, strlen(v), 0, 0, m->md, NULL) >= 0;
        }
        if (hit != (x->op == OP_EQ || x->op == OP_RE)) {
            return false;
        }
    }
    return true;
}

/* Write the matchers back as text ("kind=\"complaint\", ..."), for check. */
void es__matchers_print(FILE *out, const es_matchers *m)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    for (size_t i = 0; m != NULL && i < m->n; i++) {
        fprintf(out, "%s%s%s\"%s\"", i ? ", " : "", label_names[m->v[i].label], ops[m->v[i].op],
                m->v[i].value);
    }
}

/* ---- Located errors --------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static void report(es__route_rep *rep, int line, int col, const char *fmt, va_list ap)
{
    es_error e = {.code = ES_ECONFIG, .line = line, .col = col};
    snprintf(e.file, sizeof e.file, "%s", rep->file != NULL ? rep->file : "");
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    if (rep->n == 0 && rep->first != NULL) {
        *rep->first = e;
    }
    rep->n++;
    if (rep->fn != NULL) {
        rep->fn(&e, rep->ud);
    }
}

void es__route_err(es__route_rep *rep, const es_cfg_node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line = 0, col = 0;
    if (at != NULL) {
        line = at->kind == ES_CFG_SCALAR ? at->vline : at->line;
        col = at->kind == ES_CFG_SCALAR ? at->vcol : at->col;
    }
    report(rep, line, col, fmt, ap);
    va_end(ap);
}

void es__route_err_at(es__route_rep *rep, const es_cfg_node *at, size_t offset, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line = at != NULL ? at->vline : 0;
    int col = at != NULL ? at->vcol + (int)offset : 0;
    report(rep, line, col, fmt, ap);
    va_end(ap);
}

int es__route_strings(es__route_rep *rep, const es_cfg_node *v, const char *what,
                      const char **out, size_t max)
{
    if (v->kind == ES_CFG_SCALAR) {
        if (max < 1) {
            return -1;
        }
        out[0] = v->str;
        return 1;
    }
    if (v->kind != ES_CFG_SEQ) {
        es__route_err(rep, v, "%s must be a list of strings, not %s", what,
                      es__cfg_kind_name(v->kind));
        return -1;
    }
    if (v->n > max) {
        es__route_err(rep, v, "%s has %zu items; at most %zu are allowed", what, v->n, max);
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->kind != ES_CFG_SCALAR) {
            es__route_err(rep, v->items[i], "%s: item %zu must be a string, not %s", what, i + 1,
                          es__cfg_kind_name(v->items[i]->kind));
            return -1;
        }
        out[i] = v->items[i]->str;
    }
    return (int)v->n;
}

int es__route_matchers(es__route_rep *rep, const es_cfg_node *v, es_matchers **out)
{
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    enum { MAX = 64 };
    const char *strs[MAX];
    int n = es__route_strings(rep, v, "matchers", strs, MAX);
    if (n < 0) {
        return -1;
    }
    /* Each matcher on its own first, so every bad one in a list is named. */
    bool ok = true;
    for (int i = 0; i < n; i++) {
        es_error e = {0};
        es_matchers *one = NULL;
        if (es_matchers_parse(&strs[i], 1, &one, NULL, &e) != 0) {
            const es_cfg_node *at = v->kind == ES_CFG_SEQ ? v->items[i] : v;
            es__route_err_at(rep, at, e.col > 0 ? (size_t)e.col - 1 : 0, "matcher '%s': %s",
                             strs[i], e.msg);
            ok = false;
        }
        es_matchers_free(one);
    }
    if (!ok) {
        return -1;
    }
    es_error e = {0};
    if (es_matchers_parse(strs, (size_t)n, out, NULL, &e) != 0) {
        es__route_err(rep, v, "%s", e.msg);
        return -1;
    }
    return 0;
}

int es__route_duration(es__route_rep *rep, const es_cfg_node *v, const char *key, int64_t min_ms,
                       int64_t *out)
{
    int64_t ms;
    if (v->kind != ES_CFG_SCALAR || es_duration_parse(v->str, &ms) != 0) {
        es__route_err(rep, v, "'%s' must be a duration such as 30s, 5m, 4h or 1d", key);
        return -1;
    }
    if (ms < min_ms) {
        es__route_err(rep, v, "'%s' must be at least %lld ms", key, (long long)min_ms);
        return -1;
    }
    *out = ms;
    return 0;
}

bool es__route_sink_ok(es__route_rep *rep, const es_config *c, const es_cfg_node *at,
                       const char *name)
{
    size_t n = es_config_sink_count(c);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(es_config_item_name(es_config_sink(c, i)), name) == 0) {
            return true;
        }
    }
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, es_config_item_name(es_config_sink(c, i)), sizeof list - strlen(list) - 1);
    }
    es__route_err(rep, at, "unknown sink '%s' (sinks: %s)", name, n ? list : "none configured");
    return false;
}

/* ---- Windows: days and hours ----------------------------------------------------- */

static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int day_index(const char *s, size_t n)
{
    static const char *const full[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};
    for (int i = 0; i < 7; i++) {
        if ((n == 3 && strncasecmp(s, day_names[i], 3) == 0) ||
            (n == strlen(full[i]) && strncasecmp(s, full[i], n) == 0)) {
            return i;
        }
    }
    return -1;
}

static int parse_days(es__route_rep *rep, const es_cfg_node *v, uint8_t *days)
{
    const char *strs[14];
    int n = es__route_strings(rep, v, "days", strs, 14);
    if (n < 0) {
        return -1;
    }
    *days = 0;
    for (int i = 0; i < n; i++) {
        const char *s = strs[i];
        const es_cfg_node *at = v->kind == ES_CFG_SEQ ? v->items[i] : v;
        if (strcasecmp(s, "weekdays") == 0) {
            *days |= 0x3E;
            continue;
        }
        if (strcasecmp(s, "weekends") == 0 || strcasecmp(s, "weekend") == 0) {
            *days |= 0x41;
            continue;
        }
        if (strcasecmp(s, "daily") == 0 || strcasecmp(s, "all") == 0) {
            *days |= 0x7F;
            continue;
        }
        const char *dash = strchr(s, '-');
        int a = day_index(s, dash != NULL ? (size_t)(dash - s) : strlen(s));
        int b = dash != NULL ? day_index(dash + 1, strlen(dash + 1)) : a;
        if (a < 0 || b < 0) {
            es__route_err(rep, at,
                          "bad day '%s' (want mon, tue, ... sun, a range such as mon-fri, "
                          "weekdays or weekends)",
                          s);
            return -1;
        }
        for (int d = a;; d = (d + 1) % 7) {
            *days |= (uint8_t)(1u << d);
            if (d == b) {
                break;
            }
        }
    }
    return 0;
}

/* "09:00" -> seconds; "24:00" allowed only as an end. */
static int parse_clock(const char *s, size_t n, bool end, int32_t *out)
{
    if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4])) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end))) {
        return -1;
    }
    *out = h * 3600 + m * 60;
    return 0;
}

static int parse_hours(es__route_rep *rep, const es_cfg_node *v, es_window *w)
{
    const char *strs[ES_WINDOW_MAX_RANGES];
    int n = es__route_strings(rep, v, "hours", strs, ES_WINDOW_MAX_RANGES);
    if (n < 0) {
        return -1;
    }
    w->n = 0;
    for (int i = 0; i < n; i++) {
        const char *s = strs[i];
        const es_cfg_node *at = v->kind == ES_CFG_SEQ ? v->items[i] : v;
        const char *dash = strchr(s, '-');
        int32_t from, to;
        if (dash == NULL || parse_clock(s, (size_t)(dash - s), false, &from) != 0 ||
            parse_clock(dash + 1, strlen(dash + 1), true, &to) != 0) {
            es__route_err(rep, at, "bad hours '%s' (want HH:MM-HH:MM, e.g. 09:00-17:30)", s);
            return -1;
        }
        if (to == from) {
            es__route_err(rep, at, "hours '%s' are empty (use 00:00-24:00 for the whole day)", s);
            return -1;
        }
        if (to < from) {
            to += 86400; /* past midnight: belongs to the day it starts on */
        }
        w->ranges[w->n].from_s = from;
        w->ranges[w->n].to_s = to;
        w->n++;
    }
    return 0;
}

/* ---- The tree ------------------------------------------------------------------ */

typedef struct pctx {
    es__route_rep *rep;
    const es_config *c;
    es_route_conf *rc;
} pctx;

static char **dup_strings(const char *const *s, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++) {
        if ((out[i] = strdup(s[i])) == NULL) {
            for (size_t k = 0; k < i; k++) {
                free(out[k]);
            }
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        free(s[i]);
    }
    free(s);
}

static void free_node(es_rnode *n)
{
    es_matchers_free(n->m);
    free_strings(n->receivers, n->n_receivers);
    free_strings(n->outside, n->n_outside);
    for (size_t i = 0; i < n->n_children; i++) {
        free_node(&n->children[i]);
    }
    free(n->children);
}

static int parse_sinks(pctx *p, const es_cfg_node *v, const char *key, char ***out, size_t *n)
{
    const char *strs[ES_ROUTE_MAX_RECEIVERS];
    int k = es__route_strings(p->rep, v, key, strs, ES_ROUTE_MAX_RECEIVERS);
    if (k < 0) {
        return -1;
    }
    for (int i = 0; i < k; i++) {
        es__route_sink_ok(p->rep, p->c, v->kind == ES_CFG_SEQ ? v->items[i] : v, strs[i]);
    }
    free_strings(*out, *n);
    *out = dup_strings(strs, (size_t)k);
    *n = *out != NULL ? (size_t)k : 0;
    return *out != NULL ? 0 : ES_ENOMEM;
}

static bool want_map(pctx *p, const es_cfg_node *v, const char *what)
{
    if (v->kind != ES_CFG_MAP) {
        es__route_err(p->rep, v, "%s must be a mapping, not %s", what, es__cfg_kind_name(v->kind));
        return false;
    }
    return true;
}

static void parse_business_hours(pctx *p, const es_cfg_node *v, es_rnode *n)
{
    if (!want_map(p, v, "business_hours")) {
        return;
    }
    n->has_bh = true;
    memset(&n->bh, 0, sizeof n->bh);
    n->bh.days = 0x3E; /* Monday to Friday unless told */
    bool hours = false;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->pairs[i].key->str;
        const es_cfg_node *val = v->pairs[i].val;
        if (strcmp(k, "days") == 0) {
            parse_days(p->rep, val, &n->bh.days);
        } else if (strcmp(k, "hours") == 0) {
            hours = parse_hours(p->rep, val, &n->bh) == 0;
        } else if (strcmp(k, "outside_receivers") == 0 || strcmp(k, "outside_sinks") == 0) {
            parse_sinks(p, val, k, &n->outside, &n->n_outside);
        } else {
            es__route_err(p->rep, v->pairs[i].key,
                          "unknown key '%s' in business_hours (keys: days, hours, "
                          "outside_receivers)",
                          k);
        }
    }
    if (!hours && es__cfg_map_get(v, "hours") == NULL) {
        es__route_err(p->rep, v, "business_hours needs 'hours', e.g. hours: 09:00-17:30");
    }
}

static void parse_quiet_hours(pctx *p, const es_cfg_node *v, es_rnode *n)
{
    if (!want_map(p, v, "quiet_hours")) {
        return;
    }
    n->has_qh = true;
    memset(&n->qh, 0, sizeof n->qh);
    n->qh.days = 0x7F;
    n->qh_min = ES_SEV_CRITICAL;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->pairs[i].key->str;
        const es_cfg_node *val = v->pairs[i].val;
        if (strcmp(k, "days") == 0) {
            parse_days(p->rep, val, &n->qh.days);
        } else if (strcmp(k, "hours") == 0) {
            parse_hours(p->rep, val, &n->qh);
        } else if (strcmp(k, "min_severity") == 0) {
            int s = -1;
            for (int j = 0; val->kind == ES_CFG_SCALAR && severity_values[j] != NULL; j++) {
                if (strcmp(val->str, severity_values[j]) == 0) {
                    s = j;
                }
            }
            if (s < 0) {
                es__route_err(p->rep, val, "min_severity must be info, warning or critical");
            } else {
                n->qh_min = (es_severity)s;
            }
        } else {
            es__route_err(p->rep, v->pairs[i].key,
                          "unknown key '%s' in quiet_hours (keys: days, hours, min_severity)", k);
        }
    }
    if (es__cfg_map_get(v, "hours") == NULL) {
        es__route_err(p->rep, v, "quiet_hours needs 'hours', e.g. hours: 22:00-07:00");
    }
}

static void parse_group_by(pctx *p, const es_cfg_node *v, es_rnode *n)
{
    const char *strs[ES_RL_COUNT + 1];
    int k = es__route_strings(p->rep, v, "group_by", strs, ES_RL_COUNT + 1);
    if (k < 0) {
        return;
    }
    n->n_group_by = 0;
    for (int i = 0; i < k; i++) {
        const es_cfg_node *at = v->kind == ES_CFG_SEQ ? v->items[i] : v;
        if (strcmp(strs[i], "...") == 0) {
            if (k != 1) {
                es__route_err(p->rep, at, "group_by: '...' (every alert alone) stands alone");
                return;
            }
            n->group_by[n->n_group_by++] = ES_RL_ALL;
            continue;
        }
        int l = es_route_label_find(strs[i], strlen(strs[i]));
        if (l < 0) {
            es__route_err(p->rep, at, "group_by: unknown label '%s' (labels: %s, or '...')",
                          strs[i], LABEL_LIST);
            continue;
        }
        n->group_by[n->n_group_by++] = l;
    }
}

static void parse_inhibit(pctx *p, const es_cfg_node *v)
{
    if (v->kind != ES_CFG_SEQ) {
        es__route_err(p->rep, v, "inhibit_rules must be a list, not %s", es__cfg_kind_name(v->kind));
        return;
    }
    es_inhibit_rule *rules = calloc(v->n ? v->n : 1, sizeof *rules);
    if (rules == NULL) {
        return;
    }
    p->rc->inhibit = rules;
    p->rc->n_inhibit = 0;
    for (size_t i = 0; i < v->n; i++) {
        const es_cfg_node *r = v->items[i];
        if (!want_map(p, r, "an inhibit rule")) {
            continue;
        }
        es_inhibit_rule *ir = &rules[p->rc->n_inhibit++];
        for (size_t j = 0; j < r->n; j++) {
            const char *k = r->pairs[j].key->str;
            const es_cfg_node *val = r->pairs[j].val;
            if (strcmp(k, "source") == 0 || strcmp(k, "source_matchers") == 0) {
                es__route_matchers(p->rep, val, &ir->source);
            } else if (strcmp(k, "target") == 0 || strcmp(k, "target_matchers") == 0) {
                es__route_matchers(p->rep, val, &ir->target);
            } else if (strcmp(k, "equal") == 0) {
                const char *strs[ES_RL_COUNT];
                int ne = es__route_strings(p->rep, val, "equal", strs, ES_RL_COUNT);
                for (int e = 0; e < ne; e++) {
                    int l = es_route_label_find(strs[e], strlen(strs[e]));
                    if (l < 0) {
                        es__route_err(p->rep, val->kind == ES_CFG_SEQ ? val->items[e] : val,
                                      "equal: unknown label '%s' (labels: %s)", strs[e],
                                      LABEL_LIST);
                    } else {
                        ir->equal[ir->n_equal++] = l;
                    }
                }
            } else {
                es__route_err(p->rep, r->pairs[j].key,
                              "unknown key '%s' in an inhibit rule (keys: source, target, equal)",
                              k);
            }
        }
        if (es__cfg_map_get(r, "source") == NULL && es__cfg_map_get(r, "source_matchers") == NULL) {
            es__route_err(p->rep, r, "an inhibit rule needs 'source' matchers");
        }
        if (es__cfg_map_get(r, "target") == NULL && es__cfg_map_get(r, "target_matchers") == NULL) {
            es__route_err(p->rep, r, "an inhibit rule needs 'target' matchers");
        }
    }
}

static const char *const route_keys =
    "name, matchers, receivers, continue, group_by, group_wait, group_interval, "
    "repeat_interval, resolve_timeout, max_examples, timezone, business_hours, quiet_hours, "
    "escalation, routes";

static int parse_node(pctx *p, const es_cfg_node *v, es_rnode *n, const es_rnode *parent,
                      int depth)
{
    /* Inherit everything but the matchers, continue, name and children. */
    if (parent != NULL) {
        n->receivers = dup_strings((const char *const *)parent->receivers, parent->n_receivers);
        n->n_receivers = n->receivers != NULL ? parent->n_receivers : 0;
        memcpy(n->group_by, parent->group_by, sizeof n->group_by);
        n->n_group_by = parent->n_group_by;
        n->group_wait_ms = parent->group_wait_ms;
        n->group_interval_ms = parent->group_interval_ms;
        n->repeat_interval_ms = parent->repeat_interval_ms;
        n->resolve_timeout_ms = parent->resolve_timeout_ms;
        n->max_examples = parent->max_examples;
        n->tz = parent->tz;
        n->has_bh = parent->has_bh;
        n->bh = parent->bh;
        n->outside = dup_strings((const char *const *)parent->outside, parent->n_outside);
        n->n_outside = n->outside != NULL ? parent->n_outside : 0;
        n->has_qh = parent->has_qh;
        n->qh = parent->qh;
        n->qh_min = parent->qh_min;
        n->esc = parent->esc;
    }
    n->index = p->rc->n_nodes++;
    n->line = v->line;
    n->col = v->col;
    if (!want_map(p, v, parent == NULL ? "route" : "a route")) {
        return 0;
    }
    if (depth > ES_ROUTE_MAX_DEPTH) {
        es__route_err(p->rep, v, "routes nest deeper than %d levels", ES_ROUTE_MAX_DEPTH);
        return 0;
    }
    bool has_recv = false;
    for (size_t i = 0; i < v->n; i++) {
        const es_cfg_node *kn = v->pairs[i].key;
        const char *k = kn->str;
        const es_cfg_node *val = v->pairs[i].val;
        if (strcmp(k, "name") == 0) {
            if (val->kind != ES_CFG_SCALAR || val->len == 0 || val->len >= sizeof n->name) {
                es__route_err(p->rep, val, "route name must be a string of 1 to %zu characters",
                              sizeof n->name - 1);
            } else {
                snprintf(n->name, sizeof n->name, "%s", val->str);
            }
        } else if (strcmp(k, "matchers") == 0 || strcmp(k, "match") == 0) {
            if (parent == NULL) {
                es__route_err(p->rep, kn,
                              "the root route matches every alert; put 'matchers' in a child "
                              "under 'routes'");
            } else {
                es__route_matchers(p->rep, val, &n->m);
            }
        } else if (strcmp(k, "receivers") == 0 || strcmp(k, "sinks") == 0) {
            if (has_recv) {
                es__route_err(p->rep, kn, "give either 'receivers' or 'sinks', not both");
            }
            has_recv = true;
            if (parse_sinks(p, val, k, &n->receivers, &n->n_receivers) == ES_ENOMEM) {
                return ES_ENOMEM;
            }
        } else if (strcmp(k, "continue") == 0) {
            if (parent == NULL) {
                es__route_err(p->rep, kn, "'continue' has no meaning on the root route");
            } else if (val->kind != ES_CFG_SCALAR ||
                       (strcmp(val->str, "true") != 0 && strcmp(val->str, "false") != 0)) {
                es__route_err(p->rep, val, "'continue' must be true or false");
            } else {
                n->cont = strcmp(val->str, "true") == 0;
            }
        } else if (strcmp(k, "group_by") == 0) {
            parse_group_by(p, val, n);
        } else if (strcmp(k, "group_wait") == 0) {
            es__route_duration(p->rep, val, k, 0, &n->group_wait_ms);
        } else if (strcmp(k, "group_interval") == 0) {
            es__route_duration(p->rep, val, k, 0, &n->group_interval_ms);
        } else if (strcmp(k, "repeat_interval") == 0) {
            es__route_duration(p->rep, val, k, 0, &n->repeat_interval_ms);
        } else if (strcmp(k, "resolve_timeout") == 0) {
            es__route_duration(p->rep, val, k, 1000, &n->resolve_timeout_ms);
        } else if (strcmp(k, "max_examples") == 0) {
            char *end = NULL;
            long x = val->kind == ES_CFG_SCALAR ? strtol(val->str, &end, 10) : -1;
            if (end == NULL || *end != '\0' || x < 0 || x > 1000) {
                es__route_err(p->rep, val, "max_examples must be a whole number from 0 to 1000 "
                                           "(0: every alert)");
            } else {
                n->max_examples = (size_t)x;
            }
        } else if (strcmp(k, "timezone") == 0) {
            es_error e = {0};
            if (val->kind != ES_CFG_SCALAR) {
                es__route_err(p->rep, val, "timezone must be a string");
            } else if (es_tz_parse(val->str, &n->tz, &e) != 0) {
                es__route_err(p->rep, val, "%s", e.msg);
            }
        } else if (strcmp(k, "business_hours") == 0) {
            parse_business_hours(p, val, n);
        } else if (strcmp(k, "quiet_hours") == 0) {
            parse_quiet_hours(p, val, n);
        } else if (strcmp(k, "escalation") == 0) {
            if (val->kind == ES_CFG_NULL ||
                (val->kind == ES_CFG_SCALAR && strcmp(val->str, "none") == 0)) {
                n->esc = NULL;
            } else if (val->kind != ES_CFG_SCALAR) {
                es__route_err(p->rep, val, "escalation must be a policy name");
            } else if ((n->esc = es_escalation_find(p->rc->esc, val->str)) == NULL) {
                char list[256] = "";
                for (size_t j = 0; j < es_escalation_count(p->rc->esc); j++) {
                    strncat(list, j ? ", " : " (policies: ", sizeof list - strlen(list) - 1);
                    strncat(list, es_escalation_name(es__escalation_at(p->rc->esc, j)),
                            sizeof list - strlen(list) - 1);
                }
                strncat(list, es_escalation_count(p->rc->esc) ? ")" : "",
                        sizeof list - strlen(list) - 1);
                es__route_err(p->rep, val, "unknown escalation policy '%s'%s", val->str,
                              es_escalation_count(p->rc->esc) == 0
                                  ? " (there is no `escalations:` section)"
                                  : list);
            }
        } else if (strcmp(k, "inhibit_rules") == 0) {
            if (parent != NULL) {
                es__route_err(p->rep, kn, "inhibit_rules belong on the root route only");
            } else {
                parse_inhibit(p, val);
            }
        } else if (strcmp(k, "routes") == 0) {
            /* Children are read after every other key, so they inherit the
             * settings whatever order the keys are written in. */
        } else {
            es__route_err(p->rep, kn, "unknown key '%s' in route (keys: %s%s)", k, route_keys,
                          parent == NULL ? ", inhibit_rules" : "");
        }
    }
    const es_cfg_node *kids = es__cfg_map_get(v, "routes");
    if (kids != NULL && kids->kind != ES_CFG_NULL) {
        if (kids->kind != ES_CFG_SEQ) {
            es__route_err(p->rep, kids, "routes must be a list of routes, not %s",
                          es__cfg_kind_name(kids->kind));
        } else if (kids->n > 0) {
            n->children = calloc(kids->n, sizeof *n->children);
            if (n->children == NULL) {
                return ES_ENOMEM;
            }
            for (size_t i = 0; i < kids->n; i++) {
                n->n_children++;
                int rc = parse_node(p, kids->items[i], &n->children[i], n, depth + 1);
                if (rc != 0) {
                    return rc;
                }
            }
        }
    }
    return 0;
}

/* The root's defaults, from Alertmanager's, which people already know. */
static void root_defaults(es_rnode *n)
{
    n->group_by[0] = ES_RL_TOPIC;
    n->group_by[1] = ES_RL_KIND;
    n->n_group_by = 2;
    n->group_wait_ms = 30 * 1000;
    n->group_interval_ms = 5 * 60 * 1000;
    n->repeat_interval_ms = 4 * 3600 * 1000;
    n->resolve_timeout_ms = 3600 * 1000;
    n->max_examples = 5;
    snprintf(n->tz.name, sizeof n->tz.name, "UTC");
}

void es_route_conf_free(es_route_conf *rc)
{
    if (rc == NULL) {
        return;
    }
    free_node(&rc->root);
    for (size_t i = 0; i < rc->n_inhibit; i++) {
        es_matchers_free(rc->inhibit[i].source);
        es_matchers_free(rc->inhibit[i].target);
    }
    free(rc->inhibit);
    es__escalations_free(rc->esc);
    free(rc);
}

const struct es_escalation_set *es_route_conf_escalations(const es_route_conf *rc)
{
    return rc->esc;
}

/* Every receiver must be reachable... and a tree that sends nothing anywhere
 * is almost certainly a mistake worth saying so. */
static bool any_receiver(const es_rnode *n)
{
    if (n->n_receivers > 0 || n->esc != NULL) {
        return true;
    }
    for (size_t i = 0; i < n->n_children; i++) {
        if (any_receiver(&n->children[i])) {
            return true;
        }
    }
    return false;
}

/* Errors are gathered and handed on in file order: `escalations:` is read
 * before `route:` (routes name policies) wherever it sits in the file. */
typedef struct err_list {
    es_error *v;
    size_t n, cap;
    bool nomem;
} err_list;

static void gather(const es_error *e, void *ud)
{
    err_list *l = ud;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        es_error *nv = nc <= 1000 ? realloc(l->v, nc * sizeof *nv) : NULL;
        if (nv == NULL) {
            l->nomem = true;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *e;
}

static int cmp_err(const void *a, const void *b)
{
    const es_error *x = a, *y = b;
    if (x->line != y->line) {
        return x->line < y->line ? -1 : 1;
    }
    return (x->col > y->col) - (x->col < y->col);
}

static int load(const es_config *c, es__route_rep *rep, es_route_conf **out, es_error *err);

int es_route_conf_load(const es_config *c, es_config_error_fn on_error, void *ud,
                       es_route_conf **out, es_error *err)
{
    err_list l = {0};
    es__route_rep rep = {.file = es_config_path(c), .fn = gather, .ud = &l};
    int rc = load(c, &rep, out, err);
    if (l.n > 0) {
        /* Insertion sort: stable, so errors at one position keep the order
         * they were found in; there are at most a thousand. */
        for (size_t i = 1; i < l.n; i++) {
            es_error e = l.v[i];
            size_t j = i;
            while (j > 0 && cmp_err(&l.v[j - 1], &e) > 0) {
                l.v[j] = l.v[j - 1];
                j--;
            }
            l.v[j] = e;
        }
        if (err != NULL) {
            *err = l.v[0];
        }
        for (size_t i = 0; on_error != NULL && i < l.n; i++) {
            on_error(&l.v[i], ud);
        }
    }
    free(l.v);
    return rc;
}

static int load(const es_config *c, es__route_rep *repp, es_route_conf **out, es_error *err)
{
    *out = NULL;
    es__route_rep rep = *repp;
    es_route_conf *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    pctx p = {.rep = &rep, .c = c, .rc = rc};
    int rc_code = es__escalations_parse(&rep, c, es__config_raw(c, "escalations"), &rc->esc);
    if (rc_code != 0) {
        es_route_conf_free(rc);
        return es_error_set(err, rc_code, 0, 0, "out of memory");
    }
    const es_cfg_node *route = es__config_raw(c, "route");
    root_defaults(&rc->root);
    if (route == NULL || route->kind == ES_CFG_NULL) {
        /* No tree: every alert goes alone, at once, to every sink, and is
         * never repeated, which is what a config without routing meant
         * before routing existed. */
        rc->defaulted = true;
        rc->root.group_by[0] = ES_RL_ALL;
        rc->root.n_group_by = 1;
        rc->root.group_wait_ms = 0;
        rc->root.repeat_interval_ms = 0;
        rc->root.max_examples = 0;
        size_t ns = es_config_sink_count(c);
        const char **names = calloc(ns + 1, sizeof *names);
        for (size_t i = 0; names != NULL && i < ns; i++) {
            names[i] = es_config_item_name(es_config_sink(c, i));
        }
        rc->root.receivers = names != NULL ? dup_strings(names, ns) : NULL;
        rc->root.n_receivers = rc->root.receivers != NULL ? ns : 0;
        free(names);
        rc->n_nodes = 1;
    } else {
        rc_code = parse_node(&p, route, &rc->root, NULL, 0);
        if (rc_code != 0) {
            es_route_conf_free(rc);
            return es_error_set(err, rc_code, 0, 0, "out of memory");
        }
        if (rep.n == 0 && !any_receiver(&rc->root)) {
            es__route_err(&rep, route,
                          "no route has receivers or an escalation: alerts would go nowhere");
        }
    }
    if (rc->inhibit == NULL && (route == NULL || route->kind != ES_CFG_MAP ||
                                es__cfg_map_get(route, "inhibit_rules") == NULL)) {
        /* The default rule: a topic's wave folds its own complaints. */
        static const char *const src[] = {"kind=~\"volume_spike|negative_surge\""};
        static const char *const dst[] = {"kind=\"complaint\""};
        rc->inhibit = calloc(1, sizeof *rc->inhibit);
        if (rc->inhibit != NULL &&
            es_matchers_parse(src, 1, &rc->inhibit[0].source, NULL, NULL) == 0 &&
            es_matchers_parse(dst, 1, &rc->inhibit[0].target, NULL, NULL) == 0) {
            rc->inhibit[0].equal[0] = ES_RL_TOPIC;
            rc->inhibit[0].n_equal = 1;
            rc->n_inhibit = 1;
        }
    }
    if (rep.n > 0) {
        es_route_conf_free(rc);
        return ES_ECONFIG;
    }
    *out = rc;
    return 0;
}

/* ---- The summary for `earshot check` ------------------------------------------------ */

static void print_ms(FILE *out, int64_t ms)
{
    if (ms == 0) {
        fputs("0", out);
    } else if (ms % 3600000 == 0) {
        fprintf(out, "%lldh", (long long)(ms / 3600000));
    } else if (ms % 60000 == 0) {
        fprintf(out, "%lldm", (long long)(ms / 60000));
    } else if (ms % 1000 == 0) {
        fprintf(out, "%llds", (long long)(ms / 1000));
    } else {
        fprintf(out, "%lldms", (long long)ms);
    }
}

static void print_window(FILE *out, const es_window *w)
{
    bool first = true;
    for (int d = 1; d <= 7; d++) {
        if (w->days & (1u << (d % 7))) {
            fprintf(out, "%s%s", first ? "" : ",", day_names[d % 7]);
            first = false;
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        int32_t a = w->ranges[i].from_s, b = w->ranges[i].to_s % 86400;
        if (w->ranges[i].to_s == 86400) {
            b = 86400;
        }
        fprintf(out, " %02d:%02d-%02d:%02d", a / 3600, a / 60 % 60, b / 3600, b / 60 % 60);
    }
}

static void print_node(FILE *out, const es_rnode *n, int depth)
{
    fprintf(out, "%*s- ", 2 + depth * 2, "");
    if (n->name[0] != '\0') {
        fprintf(out, "%s: ", n->name);
    }
    if (depth == 0) {
        fputs("every alert", out);
    } else {
        es__matchers_print(out, n->m);
        if (n->m == NULL || n->m->n == 0) {
            fputs("every alert", out);
        }
    }
    fputs(" -> ", out);
    for (size_t i = 0; i < n->n_receivers; i++) {
        fprintf(out, "%s%s", i ? ", " : "", n->receivers[i]);
    }
    if (n->n_receivers == 0) {
        fputs("(no receivers)", out);
    }
    if (n->esc != NULL) {
        fprintf(out, ", escalation %s", es_escalation_name(n->esc));
    }
    if (n->cont) {
        fputs(", continue", out);
    }
    fputs("\n", out);
    fprintf(out, "%*s  group by ", 2 + depth * 2, "");
    for (size_t i = 0; i < n->n_group_by; i++) {
        fprintf(out, "%s%s", i ? "," : "",
                n->group_by[i] == ES_RL_ALL ? "... (each alert alone)"
                                            : label_names[n->group_by[i]]);
    }
    fputs(", wait ", out);
    print_ms(out, n->group_wait_ms);
    fputs(", interval ", out);
    print_ms(out, n->group_interval_ms);
    fputs(", repeat ", out);
    if (n->repeat_interval_ms == 0) {
        fputs("never", out);
    } else {
        print_ms(out, n->repeat_interval_ms);
    }
    fprintf(out, ", %zu example%s\n", n->max_examples, n->max_examples == 1 ? "" : "s");
    if (n->has_bh) {
        fprintf(out, "%*s  business hours (%s):", 2 + depth * 2, "", n->tz.name);
        print_window(out, &n->bh);
        if (n->n_outside > 0) {
            fputs("; outside them to ", out);
            for (size_t i = 0; i < n->n_outside; i++) {
                fprintf(out, "%s%s", i ? ", " : "", n->outside[i]);
            }
        } else {
            fputs("; outside them held until opening", out);
        }
        fputc('\n', out);
    }
    if (n->has_qh) {
        fprintf(out, "%*s  quiet hours (%s):", 2 + depth * 2, "", n->tz.name);
        print_window(out, &n->qh);
        fprintf(out, "; only %s and above goes out\n", severity_values[n->qh_min]);
    }
    for (size_t i = 0; i < n->n_children; i++) {
        print_node(out, &n->children[i], depth + 1);
    }
}

/* Forwards each error to the caller's callback and counts them. */
struct count_ud {
    es_config_error_fn fn;
    void *ud;
    int n;
};

static void count_error(const es_error *e, void *ud)
{
    struct count_ud *cu = ud;
    cu->n++;
    if (cu->fn != NULL) {
        cu->fn(e, cu->ud);
    }
}

int es_route_check(const es_config *c, es_config_error_fn on_error, void *ud, FILE *out)
{
    struct count_ud cu = {on_error, ud, 0};
    es_route_conf *rc = NULL;
    es_error err = {0};
    if (es_route_conf_load(c, count_error, &cu, &rc, &err) != 0) {
        if (cu.n == 0) {
            count_error(&err, &cu); /* out of memory: still say something */
        }
        return cu.n;
    }
    if (out != NULL) {
        fprintf(out, "\nroute:%s\n", rc->defaulted ? " none given: every alert alone, at once, to "
                                                     "every sink"
                                                   : "");
        if (!rc->defaulted) {
            print_node(out, &rc->root, 0);
        }
        for (size_t i = 0; i < rc->n_inhibit; i++) {
            fputs("  inhibit: while ", out);
            es__matchers_print(out, rc->inhibit[i].source);
            fputs(" fires, fold ", out);
            es__matchers_print(out, rc->inhibit[i].target);
            if (rc->inhibit[i].n_equal > 0) {
                fputs(" with the same ", out);
                for (size_t k = 0; k < rc->inhibit[i].n_equal; k++) {
                    fprintf(out, "%s%s", k ? "," : "", label_names[rc->inhibit[i].equal[k]]);
                }
            }
            fputc('\n', out);
        }
        es__escalations_print(rc->esc, out);
    }
    es_route_conf_free(rc);
    return 0;
}
