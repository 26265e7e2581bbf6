/*
 * The config loader: YAML tree (src/config_yaml.c) + option tables
 * (src/config_schema.c) -> the validated model of include/earshot/config.h.
 *
 * Validation does not stop at the first problem: every error found is
 * collected (up to ES_CONFIG_MAX_ERRORS), sorted into file order, and
 * reported, so `earshot check` can list them all. Only a YAML syntax error
 * stops early, because after it there is no tree to walk.
 *
 * Everything the model holds (items, values, strings, topic definitions)
 * lives in the YAML tree's arena, so es_config_free() is two frees.
 */
#include "config.h"

#include "buf.h"
#include "detect.h"
#include "sink.h" /* es_rate_parse: rates mean the same in the file and in a sink */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX (64 * 1024)

struct slot {
    const char *key; /* dotted: "severity.critical" */
    es_config_value v;
};

struct es_config_item {
    const es_config *cfg;
    const char *kind;   /* "feed", "sink", "topic", "admin", "config" */
    const char *name;   /* "" when none */
    const char *type;   /* "" when none */
    const char *prefix; /* a view into another item's slots ("admin.") */
    const es_config_item *base;
    int line, col;
    struct slot *slots;
    size_t n_slots;
};

struct kv {
    const char *key, *val;
    int line, col;   /* the value */
    int kline, kcol; /* the (innermost) key */
};

struct detect {
    struct kv *kv;
    size_t n;
};

struct topic {
    es_config_item it;
    struct detect detect;
    es_detect_params params; /* effective: defaults, global detect:, preset, overrides */
    int qline, qcol;
};

struct es_config {
    char *path, *dir;
    es_cfg_tree *tree;
    es_config_item top;
    es_config_item admin;
    struct detect detect;
    es_detect_params params; /* the global detect: over the built-in defaults */
    struct topic *topics;
    size_t n_topics;
    es_topic_def *defs;
    es_config_item *feeds;
    size_t n_feeds;
    es_config_item *sinks;
    size_t n_sinks;
    es_topics *compiled;
};

/* ---- Error collection ------------------------------------------------------- */

struct ctx {
    es_config *c;
    const char *file;
    const char *dir;
    es_error *errs;
    size_t n_errs;
    size_t dropped;
    bool oom;
};

static void add_error(struct ctx *x, int code, int line, int col, const char *msg)
{
    if (x->n_errs >= ES_CONFIG_MAX_ERRORS) {
        x->dropped++;
        return;
    }
    if (x->errs == NULL) {
        x->errs = calloc(ES_CONFIG_MAX_ERRORS, sizeof *x->errs);
        if (x->errs == NULL) {
            x->oom = true;
            return;
        }
    }
    es_error *e = &x->errs[x->n_errs++];
    memset(e, 0, sizeof *e);
    e->code = code;
    e->line = line;
    e->col = col;
    snprintf(e->file, sizeof e->file, "%s", x->file);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

static void err_at(struct ctx *x, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void err_at(struct ctx *x, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add_error(x, ES_ECONFIG, line, col, msg);
}

static void tree_report(void *ud, int code, int line, int col, const char *msg)
{
    add_error(ud, code, line, col, msg);
}

static int cmp_err(const void *a, const void *b)
{
    const es_error *x = a, *y = b;
    if (x->line != y->line) {
        return x->line < y->line ? -1 : 1;
    }
    if (x->col != y->col) {
        return x->col < y->col ? -1 : 1;
    }
    return 0;
}

/* Sort into file order (stable: equal positions keep discovery order),
 * hand each to the caller, and return the first one's code. */
static int deliver_errors(struct ctx *x, const es_config_opts *opts, es_error *err)
{
    if (x->oom) {
        es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        if (err != NULL) {
            snprintf(err->file, sizeof err->file, "%s", x->file);
        }
        return ES_ENOMEM;
    }
    /* Insertion sort: stable, and there are at most ES_CONFIG_MAX_ERRORS. */
    for (size_t i = 1; i < x->n_errs; i++) {
        es_error e = x->errs[i];
        size_t j = i;
        while (j > 0 && cmp_err(&x->errs[j - 1], &e) > 0) {
            x->errs[j] = x->errs[j - 1];
            j--;
        }
        x->errs[j] = e;
    }
    if (x->dropped > 0 && x->n_errs > 0) {
        es_error *last = &x->errs[x->n_errs - 1];
        char more[64];
        snprintf(more, sizeof more, " (and %zu more errors)", x->dropped);
        size_t l = strlen(last->msg);
        snprintf(last->msg + l, sizeof last->msg - l, "%s", more);
    }
    for (size_t i = 0; opts != NULL && opts->on_error != NULL && i < x->n_errs; i++) {
        opts->on_error(&x->errs[i], opts->ud);
    }
    if (err != NULL) {
        *err = x->errs[0];
    }
    return x->errs[0].code;
}

/* ---- Small helpers ----------------------------------------------------------------- */

static void *alloc(struct ctx *x, size_t n)
{
    void *p = es__cfg_alloc(x->c->tree, n == 0 ? 1 : n);
    if (p == NULL) {
        x->oom = true;
    } else {
        memset(p, 0, n == 0 ? 1 : n);
    }
    return p;
}

static char *sdup(struct ctx *x, const char *s, size_t n)
{
    char *p = es__cfg_strdup(x->c->tree, s, n);
    if (p == NULL) {
        x->oom = true;
    }
    return p;
}

static char *dupf(struct ctx *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static char *dupf(struct ctx *x, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    if ((size_t)n >= sizeof buf) {
        n = sizeof buf - 1;
    }
    return sdup(x, buf, (size_t)n);
}

/* Levenshtein distance of two short strings, for "did you mean" hints. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return 99;
    }
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest key a table accepts, if close enough to be a likely typo. */
static const char *suggest(const es_option *const *tables, size_t n_tables, const char *key,
                           char *buf, size_t size)
{
    size_t best = 3;
    const char *found = NULL;
    for (size_t t = 0; t < n_tables; t++) {
        for (const es_option *r = tables[t]; r->name != NULL; r++) {
            const char *suffixes[] = {"", "_env", "_file"};
            size_t ns = r->type == ES_OPT_SECRET ? 3 : 1;
            for (size_t s = 0; s < ns; s++) {
                char cand[96];
                snprintf(cand, sizeof cand, "%s%s", r->name, suffixes[s]);
                size_t d = edit_distance(key, cand);
                if (d < best && d * 3 <= strlen(cand) + 1) {
                    best = d;
                    snprintf(buf, size, "%s", cand);
                    found = buf;
                }
            }
        }
    }
    return found;
}

static void fmt_choices(const char *const *choices, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; choices != NULL && choices[i] != NULL && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", choices[i]);
        if (n < 0) {
            break;
        }
        len += (size_t)n;
    }
}

static void fmt_duration(double ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"d", 86400000.0}, {"h", 3600000.0}, {"m", 60000.0}, {"s", 1000.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms >= units[i].ms && fmod(ms, units[i].ms) == 0) {
            snprintf(buf, size, "%.0f%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%.0fms", ms);
}

static void fmt_bound(const es_option *r, double v, char *buf, size_t size)
{
    if (r->type == ES_OPT_DURATION) {
        fmt_duration(v, buf, size);
    } else if (r->type == ES_OPT_SIZE && v >= 1024 && fmod(v, 1024) == 0) {
        if (fmod(v, 1048576) == 0) {
            snprintf(buf, size, "%.0fMiB", v / 1048576);
        } else {
            snprintf(buf, size, "%.0fKiB", v / 1024);
        }
    } else if (r->type == ES_OPT_INT) {
        snprintf(buf, size, "%.0f", v); /* "50000000", not "5e+07" */
    } else {
        snprintf(buf, size, "%g", v);
    }
}

/* "topic 'acme': " or "" (top level), for message prefixes. */
static const char *where_prefix(const char *where, char *buf, size_t size)
{
    if (where == NULL || where[0] == '\0') {
        return "";
    }
    snprintf(buf, size, "%s: ", where);
    return buf;
}

static int parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0) {
        return ES_EPARSE;
    }
    while (*end == ' ') {
        end++;
    }
    double mul = 1;
    if (*end == '\0' || strcmp(end, "B") == 0) {
        mul = 1;
    } else if (strchr("kK", end[0]) != NULL) {
        mul = 1024.0;
    } else if (end[0] == 'M') {
        mul = 1048576.0;
    } else if (end[0] == 'G') {
        mul = 1073741824.0;
    } else {
        return ES_EPARSE;
    }
    if (*end != '\0' && strcmp(end, "B") != 0) {
        const char *rest = end + 1;
        if (strcmp(rest, "") != 0 && strcmp(rest, "B") != 0 && strcmp(rest, "iB") != 0) {
            return ES_EPARSE;
        }
    }
    v *= mul;
    if (v > 9e15 || v != floor(v)) {
        return ES_EPARSE;
    }
    *out = (int64_t)v;
    return 0;
}

static bool is_env_name(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '_')) {
            return false;
        }
    }
    return true;
}

static char *resolve_path(struct ctx *x, const char *p)
{
    if (p[0] == '/' || strcmp(p, "-") == 0 || x->dir == NULL || strcmp(x->dir, ".") == 0) {
        return sdup(x, p, strlen(p));
    }
    return dupf(x, "%s/%s", x->dir, p);
}

/* ---- Values -------------------------------------------------------------------------- */

/*
 * Convert scalar text for row r into v. `key` and `where` name it in errors;
 * line/col locate it (0 for defaults, which are trusted).
 */
static bool convert_scalar(struct ctx *x, const es_option *r, const char *text, int line, int col,
                           const char *where, const char *key, es_config_value *v)
{
    char wp[192], lo[32], hi[32];
    const char *w = where_prefix(where, wp, sizeof wp);
    bool bounded = r->min < r->max;
    fmt_bound(r, r->min, lo, sizeof lo);
    fmt_bound(r, r->max, hi, sizeof hi);
    switch (r->type) {
    case ES_OPT_STRING:
        if ((r->flags & ES_OPT_NONEMPTY) && text[0] == '\0') {
            err_at(x, line, col, "%s'%s' must not be empty", w, key);
            return false;
        }
        v->str = sdup(x, text, strlen(text));
        return v->str != NULL;
    case ES_OPT_PATH:
        if (text[0] == '\0') {
            err_at(x, line, col, "%s'%s' must not be empty", w, key);
            return false;
        }
        v->str = resolve_path(x, text);
        return v->str != NULL;
    case ES_OPT_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || errno != 0) {
            err_at(x, line, col, "%s'%s' must be a whole number, not '%s'", w, key, text);
            return false;
        }
        if (bounded && (n < r->min || n > r->max)) {
            err_at(x, line, col, "%s'%s' must be between %s and %s, not %lld", w, key, lo, hi, n);
            return false;
        }
        v->i = n;
        v->f = (double)n;
        return true;
    }
    case ES_OPT_FLOAT: {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (end == text || *end != '\0' || errno != 0 || !isfinite(d) ||
            strpbrk(text, "xX") != NULL) {
            err_at(x, line, col, "%s'%s' must be a number, not '%s'", w, key, text);
            return false;
        }
        if (bounded && (d < r->min || d > r->max)) {
            err_at(x, line, col, "%s'%s' must be between %s and %s, not %s", w, key, lo, hi, text);
            return false;
        }
        v->f = d;
        return true;
    }
    case ES_OPT_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 || strcmp(text, "TRUE") == 0) {
            v->i = 1;
            return true;
        }
        if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 ||
            strcmp(text, "FALSE") == 0) {
            v->i = 0;
            return true;
        }
        err_at(x, line, col, "%s'%s' must be true or false, not '%s'", w, key, text);
        return false;
    case ES_OPT_DURATION: {
        int64_t ms;
        if (es_duration_parse(text, &ms) != 0) {
            err_at(x, line, col,
                   "%s'%s' must be a duration such as 500ms, 30s, 5m, 1h or 2d, not '%s'", w, key,
                   text);
            return false;
        }
        if (bounded && (ms < r->min || ms > r->max)) {
            err_at(x, line, col, "%s'%s' must be between %s and %s, not %s", w, key, lo, hi, text);
            return false;
        }
        v->i = ms;
        v->f = (double)ms;
        return true;
    }
    case ES_OPT_SIZE: {
        int64_t n;
        if (parse_size(text, &n) != 0) {
            err_at(x, line, col, "%s'%s' must be a size such as 65536, 64KiB or 1MiB, not '%s'", w,
                   key, text);
            return false;
        }
        if (bounded && (n < r->min || n > r->max)) {
            err_at(x, line, col, "%s'%s' must be between %s and %s, not %s", w, key, lo, hi, text);
            return false;
        }
        v->i = n;
        v->f = (double)n;
        return true;
    }
    case ES_OPT_RATE: {
        /* The sinks' own parser, so the file accepts exactly what a sink does. */
        es_rate rate;
        if (es_rate_parse(text, &rate) != 0) {
            err_at(x, line, col,
                   "%s'%s' must be a rate: messages per second (2, 0.5), per period (120/min, "
                   "5/2s) or off; not '%s'",
                   w, key, text);
            return false;
        }
        v->f = rate.per == 0 ? 0 : rate.per * 1000.0 / (double)rate.period_ms;
        v->str = sdup(x, text, strlen(text));
        return v->str != NULL;
    }
    case ES_OPT_ENUM:
        for (size_t i = 0; r->choices != NULL && r->choices[i] != NULL; i++) {
            if (strcmp(text, r->choices[i]) == 0) {
                v->i = (int64_t)i;
                v->str = r->choices[i];
                return true;
            }
        }
        {
            char list[256];
            fmt_choices(r->choices, list, sizeof list);
            err_at(x, line, col, "%s'%s' must be one of %s; not '%s'", w, key, list, text);
        }
        return false;
    default:
        return false;
    }
}

static bool list_item_ok(struct ctx *x, const es_option *r, const char *s, int line, int col,
                         const char *where, const char *key)
{
    char wp[192];
    const char *w = where_prefix(where, wp, sizeof wp);
    if (s[0] == '\0' && (r->flags & ES_OPT_NONEMPTY)) {
        err_at(x, line, col, "%s'%s' must not hold an empty item", w, key);
        return false;
    }
    if (r->choices == NULL) {
        return true;
    }
    for (size_t i = 0; r->choices[i] != NULL; i++) {
        if (strcmp(s, r->choices[i]) == 0) {
            return true;
        }
    }
    char list[256];
    fmt_choices(r->choices, list, sizeof list);
    err_at(x, line, col, "%s'%s' items must be among %s; not '%s'", w, key, list, s);
    return false;
}

static bool convert_list(struct ctx *x, const es_option *r, const es_cfg_node *n, const char *where,
                         const char *key, es_config_value *v)
{
    char wp[192];
    const char *w = where_prefix(where, wp, sizeof wp);
    size_t cnt = n->kind == ES_CFG_SEQ ? n->n : 1;
    const char **items = alloc(x, (cnt + 1) * sizeof *items);
    if (items == NULL) {
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const es_cfg_node *it = n->kind == ES_CFG_SEQ ? n->items[i] : n;
        if (it->kind != ES_CFG_SCALAR) {
            err_at(x, it->line, it->col, "%s'%s' must be a list of values; item %zu is %s", w, key,
                   i + 1, es__cfg_kind_name(it->kind));
            ok = false;
            continue;
        }
        ok = list_item_ok(x, r, it->str, it->line, it->col, where, key) && ok;
        items[i] = it->str;
    }
    if (ok && r->min < r->max && (cnt < r->min || cnt > r->max)) {
        err_at(x, n->line, n->col, "%s'%s' must have between %g and %g items, not %zu", w, key,
               r->min, r->max, cnt);
        ok = false;
    }
    v->list = items;
    v->n_list = cnt;
    return ok;
}

/* A default from the table, e.g. "[update, status.update]" for a list. */
static void apply_default(struct ctx *x, const es_option *r, const char *key, es_config_value *v)
{
    if (r->def == NULL) {
        return;
    }
    if (r->type == ES_OPT_LIST) {
        const char *s = r->def;
        size_t cap = 1;
        for (const char *p = s; *p != '\0'; p++) {
            cap += *p == ',';
        }
        const char **items = alloc(x, (cap + 1) * sizeof *items);
        if (items == NULL) {
            return;
        }
        size_t cnt = 0;
        s += *s == '[';
        while (*s != '\0' && *s != ']') {
            while (*s == ' ') {
                s++;
            }
            size_t len = strcspn(s, ",]");
            size_t trim = len;
            while (trim > 0 && s[trim - 1] == ' ') {
                trim--;
            }
            if (trim > 0) {
                items[cnt++] = sdup(x, s, trim);
            }
            s += len;
            s += *s == ',';
        }
        v->list = items;
        v->n_list = cnt;
        v->has = true;
        return;
    }
    if (convert_scalar(x, r, r->def, 0, 0, "built-in default", key, v)) {
        v->has = true;
    }
}

/* ---- Items and tables ------------------------------------------------------------------ */

static size_t count_leaves(const es_option *rows)
{
    size_t n = 0;
    for (const es_option *r = rows; r->name != NULL; r++) {
        if (r->type == ES_OPT_SECTION) {
            n += count_leaves(r->sub);
        } else if (r->type != ES_OPT_DETECT && r->type != ES_OPT_ITEMS && r->type != ES_OPT_RAW) {
            n++;
        }
    }
    return n;
}

static struct slot *find_slot(const es_config_item *it, const char *key)
{
    for (size_t i = 0; i < it->n_slots; i++) {
        if (strcmp(it->slots[i].key, key) == 0) {
            return &it->slots[i];
        }
    }
    return NULL;
}

static void add_slots(struct ctx *x, es_config_item *it, const es_option *rows, const char *prefix)
{
    for (const es_option *r = rows; r->name != NULL; r++) {
        if (r->type == ES_OPT_SECTION) {
            char p[128];
            snprintf(p, sizeof p, "%s%s.", prefix, r->name);
            add_slots(x, it, r->sub, p);
            continue;
        }
        if (r->type == ES_OPT_DETECT || r->type == ES_OPT_ITEMS || r->type == ES_OPT_RAW) {
            continue;
        }
        char key[128];
        snprintf(key, sizeof key, "%s%s", prefix, r->name);
        if (find_slot(it, key) != NULL) {
            continue; /* a type's row overrides the common row of that name */
        }
        struct slot *s = &it->slots[it->n_slots++];
        s->key = sdup(x, key, strlen(key));
        s->v.opt = r;
        if (s->key == NULL) {
            s->key = "";
        }
    }
}

/* Make an item's slots for a type table (may be NULL) and a common table. */
static bool init_item(struct ctx *x, es_config_item *it, const char *kind,
                      const es_option *type_rows, const es_option *common_rows)
{
    it->cfg = x->c;
    it->kind = kind;
    it->name = "";
    it->type = "";
    size_t n = (type_rows ? count_leaves(type_rows) : 0) + count_leaves(common_rows);
    it->slots = alloc(x, n * sizeof *it->slots);
    if (it->slots == NULL) {
        return false;
    }
    if (type_rows != NULL) {
        add_slots(x, it, type_rows, "");
    }
    add_slots(x, it, common_rows, "");
    return true;
}

/* Called for the rows the generic parser does not own (detect, items, raw). */
typedef void (*special_fn)(struct ctx *x, void *ud, const es_option *r, const es_cfg_node *key,
                           const es_cfg_node *val);

struct table_walk {
    es_config_item *it;
    const es_option *const *tables;
    size_t n_tables;
    const char *where;
    bool ignore_unknown; /* the type is unknown: only the common keys can be judged */
    bool allow_x;        /* top level: "x-..." keys are free, a place to put anchors */
    special_fn special;
    void *ud;
};

static const es_option *lookup(const struct table_walk *tw, const es_option *const *tables,
                               size_t n_tables, const char *key, es_secret_src *src)
{
    size_t len = strlen(key);
    for (size_t t = 0; t < n_tables; t++) {
        const es_option *r = es__cfg_find_row(tables[t], key, len);
        if (r != NULL) {
            *src = r->type == ES_OPT_SECRET ? ES_SECRET_LITERAL : ES_SECRET_NONE;
            return r;
        }
        if (len > 4 && strcmp(key + len - 4, "_env") == 0) {
            r = es__cfg_find_row(tables[t], key, len - 4);
            if (r != NULL && r->type == ES_OPT_SECRET) {
                *src = ES_SECRET_ENV;
                return r;
            }
        }
        if (len > 5 && strcmp(key + len - 5, "_file") == 0) {
            r = es__cfg_find_row(tables[t], key, len - 5);
            if (r != NULL && r->type == ES_OPT_SECRET) {
                *src = ES_SECRET_FILE;
                return r;
            }
        }
    }
    (void)tw;
    return NULL;
}

static void parse_rows(struct ctx *x, struct table_walk *tw, const es_cfg_node *map,
                       const es_option *const *tables, size_t n_tables, const char *prefix);

static void parse_secret(struct ctx *x, struct table_walk *tw, const es_option *r,
                         es_secret_src src, const es_cfg_node *k, const es_cfg_node *val,
                         const char *slot_key)
{
    char wp[192];
    const char *w = where_prefix(tw->where, wp, sizeof wp);
    struct slot *s = find_slot(tw->it, slot_key);
    if (s == NULL) {
        return;
    }
    if (src == ES_SECRET_LITERAL && !(r->flags & ES_OPT_LITERAL_OK)) {
        s->v.set = true; /* reported here; not "missing" as well */
        err_at(x, k->line, k->col,
               "%s'%s' is a secret and is never written in the file: use '%s_env: VARIABLE' "
               "or '%s_file: PATH'",
               w, k->str, r->name, r->name);
        return;
    }
    if (val->kind == ES_CFG_NULL) {
        if (r->flags & ES_OPT_REQUIRED) {
            s->v.set = true;
            err_at(x, val->line, val->col, "%s'%s' has no value", w, k->str);
        }
        return;
    }
    bool first = !s->v.set;
    s->v.set = true; /* from here on, any problem is reported here, not as "missing" */
    if (val->kind != ES_CFG_SCALAR || val->len == 0) {
        err_at(x, val->line, val->col, "%s'%s' must be %s, not %s", w, k->str,
               src == ES_SECRET_ENV    ? "an environment variable's name"
               : src == ES_SECRET_FILE ? "a file path"
                                       : "a value",
               val->kind == ES_CFG_SCALAR ? "empty" : es__cfg_kind_name(val->kind));
        return;
    }
    if (!first) {
        err_at(x, k->line, k->col, "%sgive only one of '%s', '%s_env' and '%s_file'", w, r->name,
               r->name, r->name);
        return;
    }
    if (src == ES_SECRET_ENV && !is_env_name(val->str)) {
        err_at(x, val->line, val->col,
               "%s'%s' must name an environment variable (letters, digits, '_'), not '%s'", w,
               k->str, val->str);
        return;
    }
    s->v.secret = src;
    s->v.str = src == ES_SECRET_FILE ? resolve_path(x, val->str) : sdup(x, val->str, val->len);
    s->v.line = k->line;
    s->v.col = k->col;
    s->v.has = s->v.str != NULL;
}

static void parse_pair(struct ctx *x, struct table_walk *tw, const es_cfg_node *k,
                       const es_cfg_node *val, const es_option *const *tables, size_t n_tables,
                       const char *prefix)
{
    char wp[192];
    const char *w = where_prefix(tw->where, wp, sizeof wp);
    es_secret_src src = ES_SECRET_NONE;
    const es_option *r = lookup(tw, tables, n_tables, k->str, &src);
    if (r == NULL) {
        if (tw->ignore_unknown || (tw->allow_x && strncmp(k->str, "x-", 2) == 0)) {
            return;
        }
        char hint[128], buf[96];
        const char *s = suggest(tables, n_tables, k->str, buf, sizeof buf);
        if (s != NULL) {
            snprintf(hint, sizeof hint, " (did you mean '%s%s'?)", prefix, s);
        } else {
            hint[0] = '\0';
        }
        err_at(x, k->line, k->col, "%sunknown key '%s%s'%s", w, prefix, k->str, hint);
        return;
    }
    char key[160];
    snprintf(key, sizeof key, "%s%s", prefix, r->name);
    if (r->type == ES_OPT_SECRET) {
        parse_secret(x, tw, r, src, k, val, key);
        return;
    }
    if (r->type == ES_OPT_DETECT || r->type == ES_OPT_ITEMS || r->type == ES_OPT_RAW) {
        if (tw->special != NULL) {
            tw->special(x, tw->ud, r, k, val);
        }
        return;
    }
    if (r->type == ES_OPT_SECTION) {
        if (val->kind == ES_CFG_NULL) {
            return;
        }
        if (val->kind != ES_CFG_MAP) {
            err_at(x, val->line, val->col, "%s'%s' must be a mapping of keys, not %s", w, key,
                   es__cfg_kind_name(val->kind));
            return;
        }
        char p[168];
        snprintf(p, sizeof p, "%s.", key);
        const es_option *sub[1] = {r->sub};
        parse_rows(x, tw, val, sub, 1, p);
        return;
    }
    struct slot *s = find_slot(tw->it, key);
    if (s == NULL) {
        return;
    }
    if (val->kind == ES_CFG_NULL) {
        if (r->flags & ES_OPT_REQUIRED) {
            err_at(x, val->line, val->col, "%s'%s' has no value", w, key);
            s->v.set = true; /* reported; do not report it missing as well */
        }
        return;
    }
    bool ok;
    if (r->type == ES_OPT_LIST) {
        if (val->kind == ES_CFG_MAP) {
            err_at(x, val->line, val->col, "%s'%s' must be a list, not a mapping", w, key);
            ok = false;
        } else {
            ok = convert_list(x, r, val, tw->where, key, &s->v);
        }
    } else if (val->kind != ES_CFG_SCALAR) {
        err_at(x, val->line, val->col, "%s'%s' must be a single value, not %s", w, key,
               es__cfg_kind_name(val->kind));
        ok = false;
    } else {
        ok = convert_scalar(x, r, val->str, val->line, val->col, tw->where, key, &s->v);
    }
    s->v.set = true; /* even when invalid: it was given, and reported */
    s->v.has = ok;
    s->v.line = val->line;
    s->v.col = val->col;
}

static void parse_rows(struct ctx *x, struct table_walk *tw, const es_cfg_node *map,
                       const es_option *const *tables, size_t n_tables, const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        parse_pair(x, tw, map->pairs[i].key, map->pairs[i].val, tables, n_tables, prefix);
    }
}

/* After parsing: report missing required keys, fill defaults. */
static void finish_item(struct ctx *x, es_config_item *it, const char *where, int line, int col)
{
    char wp[192];
    const char *w = where_prefix(where, wp, sizeof wp);
    for (size_t i = 0; i < it->n_slots; i++) {
        struct slot *s = &it->slots[i];
        const es_option *r = s->v.opt;
        if (s->v.set) {
            continue;
        }
        if (r->flags & ES_OPT_REQUIRED) {
            if (r->type == ES_OPT_SECRET) {
                err_at(x, line, col, "%smissing required key '%s_env' (or '%s_file')", w, s->key,
                       s->key);
            } else {
                err_at(x, line, col, "%smissing required key '%s'", w, s->key);
            }
            continue;
        }
        apply_default(x, r, s->key, &s->v);
    }
}

/* ---- Detector settings ----------------------------------------------------------------- */

struct kvvec {
    struct kv *p;
    size_t n, cap;
};

static void flatten_detect(struct ctx *x, const es_cfg_node *map, const char *prefix,
                           const char *where, struct kvvec *out)
{
    char wp[192];
    const char *w = where_prefix(where, wp, sizeof wp);
    for (size_t i = 0; i < map->n; i++) {
        const es_cfg_node *k = map->pairs[i].key, *v = map->pairs[i].val;
        char key[256];
        snprintf(key, sizeof key, "%s%s", prefix, k->str);
        if (v->kind == ES_CFG_MAP) {
            char p[256];
            snprintf(p, sizeof p, "%s.", key);
            flatten_detect(x, v, p, where, out);
            continue;
        }
        if (v->kind != ES_CFG_SCALAR) {
            err_at(x, v->line, v->col,
                   "%sdetector setting 'detect.%s' must be a value or a "
                   "mapping, not %s",
                   w, key, es__cfg_kind_name(v->kind));
            continue;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            struct kv *p = realloc(out->p, cap * sizeof *p);
            if (p == NULL) {
                x->oom = true;
                return;
            }
            out->p = p;
            out->cap = cap;
        }
        out->p[out->n++] =
            (struct kv){sdup(x, key, strlen(key)), v->str, v->line, v->col, k->line, k->col};
    }
}

static void parse_detect(struct ctx *x, const es_cfg_node *val, const char *where, struct detect *d)
{
    char wp[192];
    if (val->kind == ES_CFG_NULL) {
        return;
    }
    if (val->kind != ES_CFG_MAP) {
        err_at(x, val->line, val->col, "%s'detect' must be a mapping of keys, not %s",
               where_prefix(where, wp, sizeof wp), es__cfg_kind_name(val->kind));
        return;
    }
    struct kvvec v = {0};
    flatten_detect(x, val, "", where, &v);
    d->kv = alloc(x, v.n * sizeof *d->kv);
    if (d->kv != NULL && v.n > 0) {
        memcpy(d->kv, v.p, v.n * sizeof *d->kv);
        d->n = v.n;
    }
    free(v.p);
}

/* ---- Topics, feeds, sinks ---------------------------------------------------------------- */

static bool valid_name(const char *s)
{
    if (s[0] == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '-')) {
            return false;
        }
    }
    return true;
}

/* A readable handle for an item in messages: "topic 'acme'" or "topic #3". */
static const char *describe(struct ctx *x, const char *kind, const es_cfg_node *map, size_t idx)
{
    const es_cfg_node *name = es__cfg_map_get(map, "name");
    if (name != NULL && name->kind == ES_CFG_SCALAR && name->len > 0) {
        return dupf(x, "%s '%.80s'", kind, name->str);
    }
    return dupf(x, "%s #%zu", kind, idx + 1);
}

struct name_ref {
    const char *name;
    int line, col;
    size_t idx;
};

static int cmp_name(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Names must be unique within a list; sorting keeps this O(n log n). */
static void check_unique(struct ctx *x, es_config_item *const *items, size_t n, const char *kind)
{
    struct name_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    if (refs == NULL) {
        x->oom = true;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct slot *s = find_slot(items[i], "name");
        if (s != NULL && s->v.has && s->v.str != NULL) {
            refs[m++] = (struct name_ref){s->v.str, s->v.line, s->v.col, i};
        }
    }
    qsort(refs, m, sizeof *refs, cmp_name);
    for (size_t i = 1; i < m; i++) {
        if (strcmp(refs[i].name, refs[i - 1].name) == 0) {
            size_t first = i - 1;
            while (first > 0 && strcmp(refs[first - 1].name, refs[i].name) == 0) {
                first--;
            }
            err_at(x, refs[i].line, refs[i].col, "duplicate %s name '%s' (first at line %d)", kind,
                   refs[i].name, refs[first].line);
        }
    }
    free(refs);
}

static void check_name(struct ctx *x, es_config_item *it, const char *where)
{
    struct slot *s = find_slot(it, "name");
    if (s == NULL || !s->v.has) {
        return;
    }
    if (!valid_name(s->v.str)) {
        err_at(x, s->v.line, s->v.col, "%s: a name may hold only letters, digits, '_', '.' and '-'",
               where);
        s->v.has = false;
        return;
    }
    it->name = s->v.str;
}

struct topic_ud {
    struct topic *t;
    const char *where;
};

static void topic_special(struct ctx *x, void *ud, const es_option *r, const es_cfg_node *key,
                          const es_cfg_node *val)
{
    struct topic_ud *u = ud;
    (void)key;
    if (r->type == ES_OPT_DETECT) {
        parse_detect(x, val, u->where, &u->t->detect);
    }
}

static void parse_topics(struct ctx *x, const es_cfg_node *seq)
{
    es_config *c = x->c;
    c->n_topics = seq->n;
    c->topics = alloc(x, seq->n * sizeof *c->topics);
    es_config_item **refs = malloc((seq->n ? seq->n : 1) * sizeof *refs);
    if (c->topics == NULL || refs == NULL) {
        free(refs);
        x->oom = true;
        c->n_topics = 0;
        return;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const es_cfg_node *m = seq->items[i];
        struct topic *t = &c->topics[i];
        refs[i] = &t->it;
        if (!init_item(x, &t->it, "topic", NULL, es__cfg_topic_rows)) {
            break;
        }
        t->it.line = m->line;
        t->it.col = m->col;
        if (m->kind != ES_CFG_MAP) {
            err_at(x, m->line, m->col, "topic #%zu must be a mapping (name, query, ...), not %s",
                   i + 1, es__cfg_kind_name(m->kind));
            continue;
        }
        const char *where = describe(x, "topic", m, i);
        struct topic_ud u = {t, where};
        const es_option *tables[1] = {es__cfg_topic_rows};
        struct table_walk tw = {.it = &t->it,
                                .tables = tables,
                                .n_tables = 1,
                                .where = where,
                                .special = topic_special,
                                .ud = &u};
        parse_rows(x, &tw, m, tables, 1, "");
        finish_item(x, &t->it, where, m->line, m->col);
        check_name(x, &t->it, where);
        const es_cfg_node *q = es__cfg_map_get(m, "query");
        if (q != NULL && q->kind == ES_CFG_SCALAR) {
            t->qline = q->vline;
            t->qcol = q->vcol;
        }
    }
    check_unique(x, refs, seq->n, "topic");
    free(refs);
}

static void parse_items(struct ctx *x, const es_cfg_node *seq, const char *kind,
                        const es_cfg_type *types, const es_option *common, es_config_item **out,
                        size_t *n_out)
{
    es_config_item *items = alloc(x, seq->n * sizeof *items);
    es_config_item **refs = malloc((seq->n ? seq->n : 1) * sizeof *refs);
    if (items == NULL || refs == NULL) {
        free(refs);
        x->oom = true;
        return;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const es_cfg_node *m = seq->items[i];
        es_config_item *it = &items[i];
        refs[i] = it;
        const es_cfg_node *tn = m->kind == ES_CFG_MAP ? es__cfg_map_get(m, "type") : NULL;
        const es_cfg_type *type =
            tn != NULL && tn->kind == ES_CFG_SCALAR ? es__cfg_find_type(types, tn->str) : NULL;
        if (!init_item(x, it, kind, type ? type->rows : NULL, common)) {
            break;
        }
        it->line = m->line;
        it->col = m->col;
        if (m->kind != ES_CFG_MAP) {
            err_at(x, m->line, m->col, "%s #%zu must be a mapping (name, type, ...), not %s", kind,
                   i + 1, es__cfg_kind_name(m->kind));
            continue;
        }
        const char *where = describe(x, kind, m, i);
        const es_option *tables[2];
        size_t nt = 0;
        if (type != NULL) {
            tables[nt++] = type->rows;
            it->type = type->name;
        }
        tables[nt++] = common;
        struct table_walk tw = {.it = it,
                                .tables = tables,
                                .n_tables = nt,
                                .where = where,
                                .ignore_unknown = type == NULL};
        parse_rows(x, &tw, m, tables, nt, "");
        finish_item(x, it, where, m->line, m->col);
        check_name(x, it, where);
    }
    check_unique(x, refs, seq->n, kind);
    free(refs);
    *out = items;
    *n_out = seq->n;
}

static void top_special(struct ctx *x, void *ud, const es_option *r, const es_cfg_node *key,
                        const es_cfg_node *val)
{
    es_config *c = x->c;
    (void)ud;
    if (r->type == ES_OPT_DETECT) {
        parse_detect(x, val, "", &c->detect);
        return;
    }
    if (r->type != ES_OPT_ITEMS) {
        return; /* raw sections are read later by their owners */
    }
    if (val->kind == ES_CFG_NULL) {
        return;
    }
    if (val->kind != ES_CFG_SEQ) {
        err_at(x, val->line, val->col, "'%s' must be a list (items starting with '- '), not %s",
               key->str, es__cfg_kind_name(val->kind));
        return;
    }
    if (strcmp(r->name, "topics") == 0) {
        parse_topics(x, val);
    } else if (strcmp(r->name, "feeds") == 0) {
        parse_items(x, val, "feed", es__cfg_feed_types, es__cfg_feed_common_rows, &c->feeds,
                    &c->n_feeds);
    } else if (strcmp(r->name, "sinks") == 0) {
        parse_items(x, val, "sink", es__cfg_sink_types, es__cfg_sink_common_rows, &c->sinks,
                    &c->n_sinks);
    }
}

/*
 * Apply detector settings with the detector's own table, turning its
 * errors into located ones. An unknown key points at the key, a bad value
 * at the value.
 */
static void apply_detect(struct ctx *x, const struct detect *d, es_detect_params *p,
                         const char *where)
{
    char wp[192];
    const char *w = where_prefix(where, wp, sizeof wp);
    for (size_t i = 0; i < d->n; i++) {
        es_error e = {0};
        int rc = es_detect_params_set(p, d->kv[i].key, d->kv[i].val, &e);
        if (rc == ES_ENOTFOUND) {
            err_at(x, d->kv[i].kline, d->kv[i].kcol, "%sdetect: %s", w, e.msg);
        } else if (rc != 0) {
            err_at(x, d->kv[i].line, d->kv[i].col, "%sdetect: %s", w, e.msg);
        }
    }
}

static void build_detect_params(struct ctx *x)
{
    es_config *c = x->c;
    es_detect_params_defaults(&c->params);
    apply_detect(x, &c->detect, &c->params, "");
    for (size_t i = 0; i < c->n_topics; i++) {
        struct topic *t = &c->topics[i];
        t->params = c->params;
        const struct slot *s = find_slot(&t->it, "sensitivity");
        if (s != NULL && s->v.has) {
            es_detect_params_preset(&t->params, s->v.str);
        }
        char where[160];
        snprintf(where, sizeof where, "topic '%.80s'", t->it.name);
        apply_detect(x, &t->detect, &t->params, where);
    }
}

/*
 * Compile the queries. The fast path compiles all topics at once; when that
 * fails, each topic is compiled alone so every bad query is reported, not
 * only the first.
 */
static void compile_topics(struct ctx *x)
{
    es_config *c = x->c;
    if (c->n_topics == 0 || c->defs == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n_topics; i++) {
        if (c->defs[i].query[0] == '\0') {
            return; /* already reported as missing or empty */
        }
    }
    es_error e = {0};
    int rc = es_topics_compile(c->defs, c->n_topics, &c->compiled, &e);
    if (rc == 0) {
        return;
    }
    if (rc == ES_ENOMEM) {
        x->oom = true;
        return;
    }
    for (size_t i = 0; i < c->n_topics; i++) {
        es_topics *one = NULL;
        es_error ei = {0};
        rc = es_topics_compile(&c->defs[i], 1, &one, &ei);
        if (rc == 0) {
            es_topics_free(one);
        } else if (rc == ES_ENOMEM) {
            x->oom = true;
            return;
        } else {
            add_error(x, ES_EQUERY, ei.line, ei.col, ei.msg);
        }
    }
}

static void build_topic_defs(struct ctx *x)
{
    es_config *c = x->c;
    c->defs = alloc(x, c->n_topics * sizeof *c->defs);
    if (c->defs == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n_topics; i++) {
        const es_config_item *it = &c->topics[i].it;
        es_topic_def *d = &c->defs[i];
        const struct slot *s;
        d->name = (s = find_slot(it, "name")) && s->v.has ? s->v.str : "";
        d->query = (s = find_slot(it, "query")) && s->v.has ? s->v.str : "";
        if ((s = find_slot(it, "owned")) != NULL && s->v.has) {
            d->owned = s->v.list;
            d->n_owned = s->v.n_list;
        }
        d->competitor = (s = find_slot(it, "competitor")) && s->v.has && s->v.i != 0;
        d->query_line = c->topics[i].qline;
        d->query_col = c->topics[i].qcol;
    }
}

/* ---- Secrets ------------------------------------------------------------------------------- */

static int read_secret_file(const char *path, char **out, char *why, size_t why_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        return ES_EIO;
    }
    es_buf b;
    es_buf_init(&b, SECRET_MAX);
    char chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(why, why_size, "%s", strerror(errno));
            rc = ES_EIO;
            break;
        }
        if (n == 0) {
            break;
        }
        if (es_buf_add(&b, chunk, (size_t)n) != 0) {
            snprintf(why, why_size, "it is larger than %d KiB", SECRET_MAX / 1024);
            rc = ES_ETOOBIG;
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        es_buf_free(&b);
        return rc;
    }
    if (b.len > 0 && b.data[b.len - 1] == '\n') {
        b.data[--b.len] = '\0';
        if (b.len > 0 && b.data[b.len - 1] == '\r') {
            b.data[--b.len] = '\0';
        }
    }
    if (b.len == 0) {
        es_buf_free(&b);
        snprintf(why, why_size, "it is empty");
        return ES_EINVAL;
    }
    *out = b.data;
    return 0;
}

static const char *item_where(const es_config_item *it, char *buf, size_t size)
{
    if (it->name != NULL && it->name[0] != '\0') {
        snprintf(buf, size, "%s '%s': ", it->kind, it->name);
    } else if (strcmp(it->kind, "admin") == 0) {
        snprintf(buf, size, "admin: ");
    } else {
        snprintf(buf, size, "%s: ", it->kind);
    }
    return buf;
}

static const struct slot *item_slot(const es_config_item *it, const char *key)
{
    if (it->prefix != NULL) {
        char full[192];
        snprintf(full, sizeof full, "%s%s", it->prefix, key);
        return find_slot(it->base, full);
    }
    return find_slot(it, key);
}

int es_config_resolve_secret(const es_config_item *it, const char *key, char **out, es_error *err)
{
    *out = NULL;
    const struct slot *s = item_slot(it, key);
    if (s == NULL || s->v.opt->type != ES_OPT_SECRET) {
        return es_error_set(err, ES_EINVAL, 0, 0, "'%s' is not a secret option of this %s", key,
                            it->kind);
    }
    const es_config_value *v = &s->v;
    if (!v->has || v->secret == ES_SECRET_NONE) {
        return ES_ENOTFOUND;
    }
    char wb[192];
    const char *w = item_where(it, wb, sizeof wb);
    int rc = 0;
    if (v->secret == ES_SECRET_LITERAL) {
        *out = strdup(v->str);
        rc = *out ? 0 : ES_ENOMEM;
    } else if (v->secret == ES_SECRET_ENV) {
        const char *e = getenv(v->str);
        if (e == NULL || e[0] == '\0') {
            rc = es_error_set(err, ES_ECONFIG, v->line, v->col, "%senvironment variable %s is %s",
                              w, v->str, e == NULL ? "not set" : "empty");
        } else if (strlen(e) > SECRET_MAX) {
            rc = es_error_set(err, ES_ECONFIG, v->line, v->col,
                              "%senvironment variable %s is longer than %d KiB", w, v->str,
                              SECRET_MAX / 1024);
        } else {
            *out = strdup(e);
            rc = *out ? 0 : ES_ENOMEM;
        }
    } else {
        char why[160];
        if (read_secret_file(v->str, out, why, sizeof why) != 0) {
            rc = es_error_set(err, ES_ECONFIG, v->line, v->col, "%scannot read %s_file %s: %s", w,
                              key, v->str, why);
        }
    }
    if (rc == ES_ECONFIG && err != NULL) {
        snprintf(err->file, sizeof err->file, "%s", it->cfg->path);
    }
    return rc;
}

static void check_item_secrets(struct ctx *x, const es_config_item *it)
{
    const es_config_item *owner = it->prefix ? it->base : it;
    size_t plen = it->prefix ? strlen(it->prefix) : 0;
    for (size_t i = 0; i < owner->n_slots; i++) {
        const struct slot *s = &owner->slots[i];
        if (s->v.opt->type != ES_OPT_SECRET || !s->v.has ||
            (plen > 0 && strncmp(s->key, it->prefix, plen) != 0)) {
            continue;
        }
        char *val = NULL;
        es_error e;
        int rc = es_config_resolve_secret(it, s->key + plen, &val, &e);
        if (rc == ES_ECONFIG) {
            add_error(x, rc, e.line, e.col, e.msg);
        } else if (rc == ES_ENOMEM) {
            x->oom = true;
        }
        if (val != NULL) {
            memset(val, 0, strlen(val));
            free(val);
        }
    }
}

/* ---- Loading --------------------------------------------------------------------------------- */

static void validate(struct ctx *x, unsigned flags)
{
    es_config *c = x->c;
    const es_cfg_node *root = es__cfg_root(c->tree);
    c->top.cfg = c;
    c->admin.cfg = c;
    c->admin.kind = "admin";
    c->admin.name = c->admin.type = "";
    c->admin.prefix = "admin.";
    c->admin.base = &c->top;
    if (!init_item(x, &c->top, "config", NULL, es__cfg_top_rows)) {
        return;
    }
    if (root->kind == ES_CFG_NULL) {
        err_at(x, 1, 1, "the config file is empty; it needs at least 'topics:'");
        return;
    }
    if (root->kind != ES_CFG_MAP) {
        err_at(x, root->line, root->col,
               "the config must be a mapping of keys (topics, feeds, sinks, ...), not %s",
               es__cfg_kind_name(root->kind));
        return;
    }
    const es_option *tables[1] = {es__cfg_top_rows};
    struct table_walk tw = {.it = &c->top,
                            .tables = tables,
                            .n_tables = 1,
                            .where = "",
                            .special = top_special,
                            .allow_x = true};
    parse_rows(x, &tw, root, tables, 1, "");
    finish_item(x, &c->top, "", root->line, root->col);
    build_topic_defs(x);
    build_detect_params(x);
    compile_topics(x);
    if (flags & ES_CONFIG_SECRETS) {
        check_item_secrets(x, &c->admin);
        for (size_t i = 0; i < c->n_feeds; i++) {
            check_item_secrets(x, &c->feeds[i]);
        }
        for (size_t i = 0; i < c->n_sinks; i++) {
            check_item_secrets(x, &c->sinks[i]);
        }
    }
}

static int load(const char *data, size_t len, const char *name, const char *path, const char *dir,
                const es_config_opts *opts, es_config **out, es_error *err)
{
    *out = NULL;
    struct ctx x = {.file = name};
    es_config *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    c->path = strdup(path);
    c->dir = strdup(dir != NULL ? dir : ".");
    if (c->path == NULL || c->dir == NULL) {
        es_config_free(c);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    x.c = c;
    x.dir = c->dir;
    int n_tree_errors = 0;
    int rc = es__cfg_parse(data, len, tree_report, &x, &c->tree, &n_tree_errors);
    if (rc == 0) {
        validate(&x, opts != NULL ? opts->flags : 0);
    } else if (x.n_errs == 0) {
        add_error(&x, rc, 0, 0, es_strerror(rc));
    }
    if (x.n_errs > 0 || x.oom) {
        rc = deliver_errors(&x, opts, err);
        free(x.errs);
        es_config_free(c);
        return rc;
    }
    free(x.errs);
    *out = c;
    return 0;
}

int es_config_load_buffer(const char *data, size_t len, const char *name, const char *base_dir,
                          const es_config_opts *opts, es_config **out, es_error *err)
{
    if (name == NULL) {
        name = "<config>";
    }
    if (err != NULL) {
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", name);
    }
    if (len > ES_CONFIG_MAX_BYTES) {
        *out = NULL;
        return es_error_set(err, ES_ETOOBIG, 0, 0, "the config is larger than %u MiB",
                            ES_CONFIG_MAX_BYTES >> 20);
    }
    return load(data, len, name, name, base_dir, opts, out, err);
}

int es_config_load_ex(const char *path, const es_config_opts *opts, es_config **out, es_error *err)
{
    *out = NULL;
    if (err != NULL) {
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int rc = es_error_set(err, ES_EIO, 0, 0, "cannot read the config file: %s", strerror(e));
        if (opts != NULL && opts->on_error != NULL && err != NULL) {
            opts->on_error(err, opts->ud);
        }
        return rc;
    }
    es_buf b;
    es_buf_init(&b, ES_CONFIG_MAX_BYTES);
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc =
                es_error_set(err, ES_EIO, 0, 0, "cannot read the config file: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            break;
        }
        if (es_buf_add(&b, chunk, (size_t)n) != 0) {
            rc = es_error_set(err, ES_ETOOBIG, 0, 0, "the config file is larger than %u MiB",
                              ES_CONFIG_MAX_BYTES >> 20);
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        es_buf_free(&b);
        if (opts != NULL && opts->on_error != NULL && err != NULL) {
            opts->on_error(err, opts->ud);
        }
        return rc;
    }
    /* Relative paths in the file are relative to the file's directory. */
    char *real = realpath(path, NULL);
    const char *src = real != NULL ? real : path;
    char *dir = strdup(src);
    if (dir == NULL) {
        free(real);
        es_buf_free(&b);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        dir[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    } else {
        strcpy(dir, ".");
    }
    rc = load(b.data != NULL ? b.data : "", b.len, path, path, dir, opts, out, err);
    free(dir);
    free(real);
    es_buf_free(&b);
    return rc;
}

int es_config_load(const char *path, es_config **out, es_error *err)
{
    return es_config_load_ex(path, NULL, out, err);
}

void es_config_free(es_config *c)
{
    if (c == NULL) {
        return;
    }
    es_topics_free(c->compiled);
    es__cfg_tree_free(c->tree);
    free(c->path);
    free(c->dir);
    free(c);
}

/* ---- Accessors ------------------------------------------------------------------------------- */

const char *es_config_path(const es_config *c)
{
    return c->path;
}

const char *es_config_dir(const es_config *c)
{
    return c->dir;
}

static const char *top_str(const es_config *c, const char *key)
{
    const struct slot *s = find_slot(&c->top, key);
    return s != NULL && s->v.has ? s->v.str : NULL;
}

const char *es_config_state_path(const es_config *c)
{
    return top_str(c, "state");
}

const char *es_config_lexicons_dir(const es_config *c)
{
    return top_str(c, "lexicons");
}

const char *es_config_log_level(const es_config *c)
{
    return top_str(c, "log.level");
}

const char *es_config_log_format(const es_config *c)
{
    return top_str(c, "log.format");
}

size_t es_config_feed_count(const es_config *c)
{
    return c->n_feeds;
}

const es_config_item *es_config_feed(const es_config *c, size_t i)
{
    return i < c->n_feeds ? &c->feeds[i] : NULL;
}

size_t es_config_sink_count(const es_config *c)
{
    return c->n_sinks;
}

const es_config_item *es_config_sink(const es_config *c, size_t i)
{
    return i < c->n_sinks ? &c->sinks[i] : NULL;
}

const es_config_item *es_config_admin(const es_config *c)
{
    return &c->admin;
}

const char *es_config_item_name(const es_config_item *it)
{
    return it->name;
}

const char *es_config_item_type(const es_config_item *it)
{
    return it->type;
}

const char *es_config_item_kind(const es_config_item *it)
{
    return it->kind;
}

void es_config_item_pos(const es_config_item *it, int *line, int *col)
{
    *line = it->line;
    *col = it->col;
}

const es_config_value *es_config_item_get(const es_config_item *it, const char *key)
{
    const struct slot *s = item_slot(it, key);
    return s != NULL ? &s->v : NULL;
}

const char *es_config_item_str(const es_config_item *it, const char *key)
{
    const es_config_value *v = es_config_item_get(it, key);
    return v != NULL && v->has ? v->str : NULL;
}

int64_t es_config_item_int(const es_config_item *it, const char *key)
{
    const es_config_value *v = es_config_item_get(it, key);
    return v != NULL && v->has ? v->i : 0;
}

double es_config_item_float(const es_config_item *it, const char *key)
{
    const es_config_value *v = es_config_item_get(it, key);
    return v != NULL && v->has ? v->f : 0.0;
}

bool es_config_item_bool(const es_config_item *it, const char *key)
{
    const es_config_value *v = es_config_item_get(it, key);
    return v != NULL && v->has && v->i != 0;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool value_eq(const es_config_value *a, const es_config_value *b)
{
    if (a->opt != b->opt || a->has != b->has || a->secret != b->secret) {
        return false;
    }
    if (!a->has) {
        return true;
    }
    if (a->opt->type == ES_OPT_LIST) {
        if (a->n_list != b->n_list) {
            return false;
        }
        for (size_t i = 0; i < a->n_list; i++) {
            if (!str_eq(a->list[i], b->list[i])) {
                return false;
            }
        }
        return true;
    }
    /* Exactly one of these carries the value, the others are zero. */
    return str_eq(a->str, b->str) && a->i == b->i && a->f == b->f;
}

bool es_config_item_equal(const es_config_item *a, const es_config_item *b)
{
    if (!str_eq(a->kind, b->kind) || !str_eq(a->name, b->name) || !str_eq(a->type, b->type)) {
        return false;
    }
    const es_config_item *oa = a->prefix ? a->base : a, *ob = b->prefix ? b->base : b;
    if (oa->n_slots != ob->n_slots) {
        return false;
    }
    size_t plen = a->prefix ? strlen(a->prefix) : 0;
    for (size_t i = 0; i < oa->n_slots; i++) {
        if (plen > 0 && strncmp(oa->slots[i].key, a->prefix, plen) != 0) {
            continue;
        }
        if (strcmp(oa->slots[i].key, ob->slots[i].key) != 0 ||
            !value_eq(&oa->slots[i].v, &ob->slots[i].v)) {
            return false;
        }
    }
    return true;
}

const es_topic_def *es_config_topic_defs(const es_config *c, size_t *n)
{
    *n = c->n_topics;
    return c->defs;
}

const char *es_config_topic_sensitivity(const es_config *c, size_t i)
{
    if (i >= c->n_topics) {
        return NULL;
    }
    const struct slot *s = find_slot(&c->topics[i].it, "sensitivity");
    return s != NULL && s->v.has ? s->v.str : NULL;
}

void es_config_topic_pos(const es_config *c, size_t i, int *line, int *col)
{
    *line = i < c->n_topics ? c->topics[i].it.line : 0;
    *col = i < c->n_topics ? c->topics[i].it.col : 0;
}

const es_topics *es_config_topics(const es_config *c)
{
    return c->compiled;
}

int es_config_detect_foreach(const es_config *c, size_t topic, es_config_detect_fn fn, void *ud)
{
    const struct detect *d;
    if (topic == (size_t)-1) {
        d = &c->detect;
    } else if (topic < c->n_topics) {
        d = &c->topics[topic].detect;
    } else {
        return ES_EINVAL;
    }
    for (size_t i = 0; i < d->n; i++) {
        int rc = fn(d->kv[i].key, d->kv[i].val, d->kv[i].line, d->kv[i].col, ud);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

const es_detect_params *es__config_detect(const es_config *c, size_t topic)
{
    if (topic == (size_t)-1) {
        return &c->params;
    }
    return topic < c->n_topics ? &c->topics[topic].params : NULL;
}

const es_config_value *es__config_top_value(const es_config *c, const char *key)
{
    const struct slot *s = find_slot(&c->top, key);
    return s != NULL ? &s->v : NULL;
}

const es_cfg_node *es__config_raw(const es_config *c, const char *key)
{
    const es_option *r = es__cfg_find_row(es__cfg_top_rows, key, strlen(key));
    if (r == NULL || r->type != ES_OPT_RAW) {
        return NULL;
    }
    return es__cfg_map_get(es__cfg_root(c->tree), key);
}
