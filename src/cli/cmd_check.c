/*
 * earshot check -c CONFIG [--quiet]: validate a config and say what it
 * would do. Every error found is printed as "FILE:LINE:COL: message" on
 * stderr (exit 1); a valid config is summarized on stdout (exit 0) with
 * every secret redacted: secrets are read only to prove they are there.
 */
#include "admin.h"
#include "cli.h"
#include "config.h"
#include "detect.h"
#include "earshot.h"
#include "feed.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "route_sink.h"
#include "sink.h"
#include "sink_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: earshot check -c CONFIG [--quiet]\n"
                 "       earshot check --reference\n\n"
                 "Validate a config file and print what it would do: each topic with its\n"
                 "normalized query and detector settings, each feed and each sink (secrets\n"
                 "redacted), and the state file. Every secret (*_env, *_file) must be\n"
                 "readable. The feeds, sinks and router are built as `earshot run` builds\n"
                 "them at startup, and freed again: nothing connects or is sent.\n\n"
                 "  -c, --config FILE  the config to check\n"
                 "  -q, --quiet        print nothing when the config is valid\n"
                 "      --reference    print every config key (type, default, help) as\n"
                 "                     Markdown, from the option tables, and exit\n\n"
                 "Exit status: 0 valid, 1 invalid (errors on stderr as FILE:LINE:COL: message),\n"
                 "2 usage error.\n");
}

static void print_error(const es_error *e, void *ud)
{
    int *count = ud;
    (*count)++;
    if (e->line > 0) {
        fprintf(stderr, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
    } else {
        fprintf(stderr, "%s: %s\n", e->file, e->msg);
    }
}

/* ---- What `run` builds at startup -------------------------------------------- */

/*
 * The config loader checks keys, types and secrets; `run` then builds the
 * feeds, the sinks and the router, and those reject more: a webhook URL
 * that is not http(s), an smtp URL of another scheme, a secret that is not
 * valid base64, a file sink whose directory does not exist, a feed listen
 * address that does not parse. Check builds the same objects through the
 * same functions (es_feed_new, es_sink_from_config, es_router_new), reports
 * each failure at its line, and frees them again: nothing is started,
 * connected or sent.
 */
static void report_build_error(es_error *e, const char *path, int *n_errors)
{
    if (e->file[0] == '\0') {
        snprintf(e->file, sizeof e->file, "%s", path);
    }
    print_error(e, n_errors);
}

static void check_sinks(const es_config *c, const char *path, int *n_errors)
{
    size_t ns = es_config_sink_count(c);
    for (size_t i = 0; i < ns; i++) {
        const es_config_item *it = es_config_sink(c, i);
        /* A file sink opens (creates) its file: remove what check created,
         * so checking a config leaves no empty alert file behind. */
        const char *fpath = strcmp(es_config_item_type(it), "file") == 0
                                ? es_config_item_str(it, "path")
                                : NULL;
        struct stat st;
        bool existed = fpath != NULL && stat(fpath, &st) == 0;
        es_sink *s = NULL;
        es_error err = {0};
        if (es_sink_from_config(it, &s, &err) != 0) {
            report_build_error(&err, path, n_errors);
            continue;
        }
        es_sink_free(s);
        if (fpath != NULL && !existed && stat(fpath, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_size == 0) {
            (void)unlink(fpath);
        }
    }
}

static int route_emit_nothing(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    (void)ud;
    (void)sink;
    (void)n;
    (void)at;
    return 0;
}

/* The router over the loaded `route:` (es_route_check has already reported
 * what the loader rejects); without a state file, as backfill makes it. */
static void check_router(const es_config *c, const char *path, int *n_errors)
{
    if (!es_config_has_route(c)) {
        return;
    }
    es_route_conf *rc = NULL;
    es_router *r = NULL;
    es_error err = {0};
    if (es_route_conf_load(c, NULL, NULL, &rc, &err) != 0) {
        report_build_error(&err, path, n_errors);
        return;
    }
    int code = es_router_new(rc, NULL, route_emit_nothing, NULL, &r);
    if (code != 0) {
        es_error_set(&err, code, 0, 0, "cannot make the router: %s", es_strerror(code));
        report_build_error(&err, path, n_errors);
    }
    es_router_free(r);
    es_route_conf_free(rc);
}

static void feed_gone(void *ud, es_feed *f)
{
    (void)f;
    (*(size_t *)ud)--;
}

/* Each feed made and closed again on a private loop: init parses and
 * allocates, only start() would connect, open or listen. */
static void check_feeds(const es_config *c, const char *path, int *n_errors)
{
    size_t nf = es_config_feed_count(c);
    if (nf == 0) {
        return;
    }
    es_error err = {0};
    uv_loop_t loop;
    int uvrc = uv_loop_init(&loop);
    if (uvrc != 0) {
        es_error_set(&err, ES_EIO, 0, 0, "cannot check the feeds: no event loop: %s",
                     uv_strerror(uvrc));
        report_build_error(&err, path, n_errors);
        return;
    }
    es_http *http = NULL;
    int rc = es_http_new(&loop, &http);
    if (rc != 0) {
        es_error_set(&err, rc, 0, 0, "cannot check the feeds: %s", es_strerror(rc));
        report_build_error(&err, path, n_errors);
        uv_loop_close(&loop);
        return;
    }
    size_t open = 0;
    es_feed_env env = {.loop = &loop, .http = http, .on_closed = feed_gone, .ud = &open};
    for (size_t i = 0; i < nf; i++) {
        es_feed *f = NULL;
        memset(&err, 0, sizeof err);
        if (es_feed_new(es_config_feed(c, i), &env, &f, &err) != 0) {
            report_build_error(&err, path, n_errors);
            continue;
        }
        open++;
        es_feed_close(f);
    }
    es_http_close(http, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
}

/* `admin.listen` as the endpoint parses it when `run` starts, whenever the
 * file sets it (enabled or not: a bad address should not wait until the
 * day the endpoint is turned on), at its value. */
static void check_admin(const es_config *c, const char *path, int *n_errors)
{
    const es_config_value *v = es_config_item_get(es_config_admin(c), "listen");
    if (v == NULL || !v->has || (!v->set && !es_config_item_bool(es_config_admin(c), "enabled"))) {
        return;
    }
    char why[128];
    if (es_admin_check_listen(v->str, why, sizeof why) != 0) {
        es_error err = {0};
        es_error_set(&err, ES_ECONFIG, v->line, v->col,
                     "'admin.listen' %s (want HOST:PORT with an IP address, e.g. "
                     "127.0.0.1:9464)",
                     why);
        report_build_error(&err, path, n_errors);
    }
}

/* ---- Redaction ------------------------------------------------------------ */

static bool sensitive_param(const char *name, size_t len)
{
    static const char *const words[] = {"token", "key",  "secret", "password", "passwd",
                                        "sig",   "auth", "code",   "session",  "credential"};
    char lower[64];
    if (len >= sizeof lower) {
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    }
    lower[len] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strstr(lower, words[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/*
 * Print a URL with its credentials hidden: a password in the userinfo and
 * the values of query parameters whose names look secret ("access_token",
 * "api_key", "sig"). With `whole_path`, everything after the host is
 * hidden too (a Slack or Discord webhook URL is itself the credential).
 */
static void print_redacted_url(FILE *out, const char *url, bool whole_path)
{
    const char *scheme_end = strstr(url, "://");
    if (scheme_end == NULL) {
        fputs(whole_path ? "***" : url, out);
        return;
    }
    const char *auth = scheme_end + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    fwrite(url, 1, (size_t)(auth - url), out);
    const char *host = auth;
    if (at != NULL) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon != NULL) {
            fwrite(auth, 1, (size_t)(colon - auth), out);
            fputs(":***@", out);
        } else {
            fwrite(auth, 1, (size_t)(at - auth) + 1, out);
        }
        host = at + 1;
    }
    fwrite(host, 1, auth_len - (size_t)(host - auth), out);
    const char *rest = auth + auth_len;
    if (*rest == '\0') {
        return;
    }
    if (whole_path) {
        fputs("/***", out);
        return;
    }
    size_t path_len = strcspn(rest, "?#");
    fwrite(rest, 1, path_len, out);
    rest += path_len;
    if (*rest != '?') {
        fputs(rest, out);
        return;
    }
    fputc('?', out);
    rest++;
    while (*rest != '\0' && *rest != '#') {
        size_t plen = strcspn(rest, "&#");
        const char *eq = memchr(rest, '=', plen);
        if (eq != NULL && sensitive_param(rest, (size_t)(eq - rest))) {
            fwrite(rest, 1, (size_t)(eq - rest) + 1, out);
            fputs("***", out);
        } else {
            fwrite(rest, 1, plen, out);
        }
        rest += plen;
        if (*rest == '&') {
            fputc('&', out);
            rest++;
        }
    }
    fputs(rest, out);
}

/* How a secret option is supplied, never its value. */
static void print_secret_source(FILE *out, const es_config_value *v)
{
    switch (v->secret) {
    case ES_SECRET_ENV:
        fprintf(out, "from environment variable %s", v->str);
        break;
    case ES_SECRET_FILE:
        fprintf(out, "from file %s", v->str);
        break;
    case ES_SECRET_LITERAL:
        fputs("written in the config", out);
        break;
    default:
        fputs("none", out);
        break;
    }
}

/* ---- The summary ----------------------------------------------------------- */

static void print_value(FILE *out, const es_config_value *v)
{
    switch (v->opt->type) {
    case ES_OPT_BOOL:
        fputs(v->i ? "true" : "false", out);
        break;
    case ES_OPT_FLOAT:
        fprintf(out, "%g", v->f);
        break;
    case ES_OPT_INT:
    case ES_OPT_SIZE:
        fprintf(out, "%lld", (long long)v->i);
        break;
    case ES_OPT_DURATION: {
        int64_t ms = v->i;
        if (ms % 86400000 == 0 && ms > 0) {
            fprintf(out, "%lldd", (long long)(ms / 86400000));
        } else if (ms % 3600000 == 0 && ms > 0) {
            fprintf(out, "%lldh", (long long)(ms / 3600000));
        } else if (ms % 60000 == 0 && ms > 0) {
            fprintf(out, "%lldm", (long long)(ms / 60000));
        } else if (ms % 1000 == 0) {
            fprintf(out, "%llds", (long long)(ms / 1000));
        } else {
            fprintf(out, "%lldms", (long long)ms);
        }
        break;
    }
    case ES_OPT_LIST:
        fputc('[', out);
        for (size_t i = 0; i < v->n_list; i++) {
            fprintf(out, "%s%s", i ? ", " : "", v->list[i]);
        }
        fputc(']', out);
        break;
    default:
        if (v->opt->type == ES_OPT_STRING && strstr(v->str, "://") != NULL) {
            print_redacted_url(out, v->str, false);
        } else {
            fputs(v->str, out);
        }
        break;
    }
}

/*
 * Print the options of a feed or sink the user wrote (beyond the ones on
 * its first line, in `skip`), and every secret with how it is supplied.
 * The keys come from the option tables, so a new option shows up here
 * without touching this file.
 */
struct opt_print {
    FILE *out;
    const es_config_item *it;
    const char *const *skip;
    char type_section[64];
    char common_section[64];
    bool secrets_only;
    char seen[64][48];
    size_t n_seen;
};

static bool skipped(const char *const *skip, const char *key)
{
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++) {
        if (strcmp(skip[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static int print_one_option(const es_config_option_info *info, void *ud)
{
    struct opt_print *p = ud;
    if (strcmp(info->section, p->type_section) != 0 &&
        strcmp(info->section, p->common_section) != 0) {
        return 0;
    }
    /* A secret row appears as NAME_env and NAME_file: print it once, by its
     * base name. Rows a type overrides appear twice: the first wins. */
    char key[48];
    snprintf(key, sizeof key, "%s", info->key);
    if (info->opt->type == ES_OPT_SECRET) {
        size_t len = strlen(key);
        if (len > 4 && strcmp(key + len - 4, "_env") == 0) {
            key[len - 4] = '\0';
        } else if (len > 5 && strcmp(key + len - 5, "_file") == 0) {
            key[len - 5] = '\0';
        }
    }
    for (size_t i = 0; i < p->n_seen; i++) {
        if (strcmp(p->seen[i], key) == 0) {
            return 0;
        }
    }
    if (p->n_seen < 64) {
        snprintf(p->seen[p->n_seen++], sizeof p->seen[0], "%s", key);
    }
    if (skipped(p->skip, key)) {
        return 0;
    }
    const es_config_value *v = es_config_item_get(p->it, key);
    if (v == NULL || !v->has) {
        return 0;
    }
    if (info->opt->type == ES_OPT_SECRET) {
        fprintf(p->out, "      %s: ", key);
        print_secret_source(p->out, v);
        fputc('\n', p->out);
        return 0;
    }
    if (!v->set) {
        return 0;
    }
    fprintf(p->out, "      %s: ", key);
    print_value(p->out, v);
    fputc('\n', p->out);
    return 0;
}

static void print_options(FILE *out, const es_config_item *it, const char *const *skip)
{
    struct opt_print p = {.out = out, .it = it, .skip = skip};
    snprintf(p.type_section, sizeof p.type_section, "%ss[type=%s]", es_config_item_kind(it),
             es_config_item_type(it));
    snprintf(p.common_section, sizeof p.common_section, "%ss[]", es_config_item_kind(it));
    es_config_foreach_option(print_one_option, &p);
}

/* The destination of a feed or sink in one phrase, secrets redacted. */
static void print_destination(FILE *out, const es_config_item *it)
{
    const es_config_value *url = es_config_item_get(it, "url");
    const es_config_value *path = es_config_item_get(it, "path");
    const es_config_value *listen = es_config_item_get(it, "listen");
    const es_config_value *cmd = es_config_item_get(it, "command");
    const es_config_value *to = es_config_item_get(it, "to");
    if (url != NULL && url->has && url->opt->type == ES_OPT_SECRET) {
        char *value = NULL;
        if (url->secret == ES_SECRET_LITERAL) {
            print_redacted_url(out, url->str, false);
        } else if (es_config_resolve_secret(it, "url", &value, NULL) == 0) {
            print_redacted_url(out, value, true);
            memset(value, 0, strlen(value));
            free(value);
        } else {
            fputs("URL", out);
        }
        if (url->secret != ES_SECRET_LITERAL) {
            fputs(" (URL ", out);
            print_secret_source(out, url);
            fputc(')', out);
        }
    } else if (url != NULL && url->has) {
        print_redacted_url(out, url->str, false);
    } else if (listen != NULL && listen->has) {
        fprintf(out, "listening on http://%s", listen->str);
        const char *p = es_config_item_str(it, "path");
        if (p != NULL) {
            fputs(p, out);
        }
    } else if (path != NULL && path->has) {
        fputs(strcmp(path->str, "-") == 0 ? "standard input" : path->str, out);
    } else if (cmd != NULL && cmd->has) {
        for (size_t i = 0; i < cmd->n_list; i++) {
            fprintf(out, "%s%s", i ? " " : "", cmd->list[i]);
        }
    } else if (strcmp(es_config_item_type(it), "stdout") == 0) {
        fputs("standard output", out);
    }
    if (to != NULL && to->has) {
        fputs(" to ", out);
        for (size_t i = 0; i < to->n_list; i++) {
            fprintf(out, "%s%s", i ? ", " : "", to->list[i]);
        }
    }
}

struct detect_print {
    FILE *out;
    const es_detect_params *p;
    const es_detect_params *base; /* print only what differs from this; NULL: all */
    const char *indent;
    int n;
    char section[48]; /* "volume_spike" of the line being printed; "" for top keys */
    size_t col;
};

static void print_detect_option(const es_detect_option *o, void *ud)
{
    struct detect_print *d = ud;
    char v[64], b[64];
    if (es_detect_params_get(d->p, o->name, v, sizeof v) != 0) {
        return;
    }
    if (d->base != NULL && es_detect_params_get(d->base, o->name, b, sizeof b) == 0 &&
        strcmp(v, b) == 0) {
        return;
    }
    /* One line per detector (volume_spike, ...), wrapped near 96 columns. */
    const char *dot = strchr(o->name, '.');
    size_t slen = dot != NULL ? (size_t)(dot - o->name) : 0;
    size_t need = strlen(o->name) + strlen(v) + 3;
    if (d->n == 0 || strlen(d->section) != slen || strncmp(d->section, o->name, slen) != 0 ||
        d->col + need > 96) {
        snprintf(d->section, sizeof d->section, "%.*s", (int)slen, o->name);
        d->col = (size_t)fprintf(d->out, "\n%s", d->indent);
    } else {
        d->col += (size_t)fprintf(d->out, "  ");
    }
    d->col += (size_t)fprintf(d->out, "%s=%s", o->name, v);
    d->n++;
}

static void print_summary(FILE *out, const es_config *c)
{
    fprintf(out, "%s: OK\n", es_config_path(c));
    fprintf(out, "state:    %s\n", es_config_state_path(c));
    const char *lex = es_config_lexicons_dir(c);
    fprintf(out, "lexicons: %s\n", lex != NULL ? lex : es_cli_default_lexicons());
    fprintf(out, "log:      level %s, format %s\n", es_config_log_level(c),
            es_config_log_format(c));
    const es_config_item *admin = es_config_admin(c);
    if (es_config_item_bool(admin, "enabled")) {
        fprintf(out, "admin:    on, http://%s", es_config_item_str(admin, "listen"));
        const es_config_value *tok = es_config_item_get(admin, "token");
        if (tok != NULL && tok->has) {
            fputs(", bearer token ", out);
            print_secret_source(out, tok);
        }
        fputc('\n', out);
    } else {
        fputs("admin:    off\n", out);
    }

    const es_detect_params *global = es__config_detect(c, (size_t)-1);
    struct detect_print dp = {.out = out, .p = global, .indent = "  "};
    fputs("detect (every topic unless it says otherwise):", out);
    es_detect_params_foreach_option(print_detect_option, &dp);
    fputc('\n', out);

    size_t n_topics;
    const es_topic_def *defs = es_config_topic_defs(c, &n_topics);
    const es_topics *compiled = es_config_topics(c);
    fprintf(out, "\ntopics: %zu\n", n_topics);
    for (size_t i = 0; i < n_topics; i++) {
        const es_topic_def *d = &defs[i];
        fprintf(out, "  %s%s\n", d->name, d->competitor ? " (competitor)" : "");
        char q[2048];
        if (compiled != NULL && es_topics_describe(compiled, i, q, sizeof q) >= 0) {
            fprintf(out, "    query: %s\n", q);
        } else {
            fprintf(out, "    query: %s\n", d->query);
        }
        if (d->n_owned > 0) {
            fputs("    owned:", out);
            for (size_t j = 0; j < d->n_owned; j++) {
                fprintf(out, "%s %s", j ? "," : "", d->owned[j]);
            }
            fputc('\n', out);
        }
        const es_detect_params *tp = es__config_detect(c, i);
        struct detect_print tdp = {.out = out, .p = tp, .base = global, .indent = "      "};
        fputs("    detect:", out);
        es_detect_params_foreach_option(print_detect_option, &tdp);
        if (tdp.n == 0) {
            fputs(" the defaults above", out);
        }
        fputc('\n', out);
    }

    static const char *const item_skip[] = {"name",    "type", "url",    "path",
                                            "command", "to",   "listen", NULL};
    size_t nf = es_config_feed_count(c);
    fprintf(out, "\nfeeds: %zu\n", nf);
    for (size_t i = 0; i < nf; i++) {
        const es_config_item *f = es_config_feed(c, i);
        fprintf(out, "  %s: %s, ", es_config_item_name(f), es_config_item_type(f));
        print_destination(out, f);
        fprintf(out, ", format %s\n", es_config_item_str(f, "format"));
        static const char *const feed_skip[] = {"name",   "type",   "url", "path",
                                                "listen", "format", NULL};
        print_options(out, f, feed_skip);
    }
    size_t ns = es_config_sink_count(c);
    fprintf(out, "\nsinks: %zu\n", ns);
    for (size_t i = 0; i < ns; i++) {
        const es_config_item *s = es_config_sink(c, i);
        fprintf(out, "  %s: %s, ", es_config_item_name(s), es_config_item_type(s));
        print_destination(out, s);
        fputc('\n', out);
        print_options(out, s, item_skip);
    }
}

/* ---- The reference ------------------------------------------------------------ */

struct ref {
    FILE *out;
    char section[64];
    bool any;
};

/* Bounds in the units a user writes: "1s..7d", "1..1000". */
static void print_bounds(FILE *out, const es_option *o)
{
    if (o == NULL || !(o->min < o->max)) {
        return;
    }
    if (o->type == ES_OPT_DURATION) {
        es_config_value lo = {.opt = o, .i = (int64_t)o->min};
        es_config_value hi = {.opt = o, .i = (int64_t)o->max};
        fputs(", ", out);
        print_value(out, &lo);
        fputs("..", out);
        print_value(out, &hi);
    } else if (o->type == ES_OPT_LIST) {
        fprintf(out, ", %g..%g items", o->min, o->max);
    } else if (o->type == ES_OPT_INT) {
        /* Whole numbers in full: "1000..50000000", not "5e+07". */
        fprintf(out, ", %.0f..%.0f", o->min, o->max);
    } else if (o->type == ES_OPT_SIZE) {
        /* As a user writes sizes: "1KiB..64MiB", not "1024..6.71089e+07". */
        double b[2] = {o->min, o->max};
        for (int i = 0; i < 2; i++) {
            double v = b[i];
            fputs(i == 0 ? ", " : "..", out);
            if (v >= 1048576 && fmod(v, 1048576) == 0) {
                fprintf(out, "%.0fMiB", v / 1048576);
            } else if (v >= 1024 && fmod(v, 1024) == 0) {
                fprintf(out, "%.0fKiB", v / 1024);
            } else {
                fprintf(out, "%.0f", v);
            }
        }
    } else {
        fprintf(out, ", %g..%g", o->min, o->max);
    }
}

static int print_reference_row(const es_config_option_info *info, void *ud)
{
    struct ref *r = ud;
    if (!r->any || strcmp(r->section, info->section) != 0) {
        snprintf(r->section, sizeof r->section, "%s", info->section);
        fprintf(r->out, "%s### `%s`\n\n| key | type | default | description |\n|---|---|---|---|\n",
                r->any ? "\n" : "", info->section[0] != '\0' ? info->section : "(top level)");
        r->any = true;
    }
    fprintf(r->out, "| `%s` | %s", info->key, info->type);
    const es_option *o = info->opt;
    if (o != NULL && o->choices != NULL && o->type == ES_OPT_ENUM) {
        fputs(": ", r->out);
        for (size_t i = 0; o->choices[i] != NULL; i++) {
            fprintf(r->out, "%s`%s`", i ? ", " : "", o->choices[i]);
        }
    } else if (o != NULL && o->choices != NULL && o->type == ES_OPT_LIST) {
        fputs(" of ", r->out);
        for (size_t i = 0; o->choices[i] != NULL; i++) {
            fprintf(r->out, "%s`%s`", i ? ", " : "", o->choices[i]);
        }
    }
    print_bounds(r->out, o);
    fprintf(r->out, " | %s%s%s | %s%s |\n", info->def ? "`" : "", info->def ? info->def : "",
            info->def ? "`" : (info->required ? "required" : ""), info->help ? info->help : "",
            o != NULL && o->type == ES_OPT_SECRET && (o->flags & ES_OPT_REQUIRED)
                ? " One of the forms is required."
                : "");
    return 0;
}

int es_cmd_check(int argc, char **argv)
{
    const char *config = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return ES_EXIT_OK;
        } else if (strcmp(a, "--reference") == 0) {
            struct ref r = {.out = stdout};
            es_config_foreach_option(print_reference_row, &r);
            return ES_EXIT_OK;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                es_cli_usage_error(argv[0], "%s needs a file name", a);
                return ES_EXIT_USAGE;
            }
            config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        } else {
            es_cli_usage_error(argv[0], "unexpected argument '%s' (see earshot check --help)", a);
            return ES_EXIT_USAGE;
        }
    }
    if (config == NULL) {
        es_cli_usage_error(argv[0], "which config? use -c CONFIG (see earshot check --help)");
        return ES_EXIT_USAGE;
    }
    int n_errors = 0;
    es_config_opts opts = {.flags = ES_CONFIG_SECRETS, .on_error = print_error, .ud = &n_errors};
    es_config *c = NULL;
    es_error err;
    if (es_config_load_ex(config, &opts, &c, &err) != 0) {
        if (n_errors == 0) {
            print_error(&err, &n_errors);
        }
        fprintf(stderr, "%s: %d error%s\n", config, n_errors, n_errors == 1 ? "" : "s");
        return ES_EXIT_INPUT;
    }
    /* ---- route engineer: validate `route:` and `escalations:` (src/route.h) ---- */
    int route_errors = es_route_check(c, print_error, &n_errors, NULL);
    /* Then what `run` would reject while building (all of it, not just
     * the first: every error is worth a line). */
    /* Their errors come back as es_error; what they would log while being
     * made and closed ("closed: 0 requests") is not news to the user. */
    int log_level = es__log_level;
    es_log_set_level(ES_LOG_OFF);
    check_admin(c, config, &n_errors);
    check_feeds(c, config, &n_errors);
    check_sinks(c, config, &n_errors);
    if (route_errors == 0) {
        check_router(c, config, &n_errors);
    }
    es_log_set_level(log_level);
    if (n_errors > 0) {
        fprintf(stderr, "%s: %d error%s\n", config, n_errors, n_errors == 1 ? "" : "s");
        es_config_free(c);
        return ES_EXIT_INPUT;
    }
    if (!quiet) {
        print_summary(stdout, c);
        es_route_check(c, NULL, NULL, stdout);
    }
    /* ---- end route engineer ---- */
    es_config_free(c);
    return ES_EXIT_OK;
}
