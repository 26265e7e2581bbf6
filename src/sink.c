/*
 * The sink interface: type registry, options, request descriptions, the
 * common retry rules, rate limits and backoff. Formatting helpers live in
 * sink_text.c and the notification JSON in sink_notification.c.
 */
#include "sink.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct es_sink_type *const sink_types[] = {
    &es_sink_stdout,  &es_sink_file,  &es_sink_exec,
    &es_sink_webhook, &es_sink_slack, &es_sink_mattermost,
    &es_sink_discord, &es_sink_teams, &es_sink_pagerduty,
    &es_sink_smtp,    NULL,
};

const struct es_sink_type *const *es_sink_types(void)
{
    return sink_types;
}

const struct es_sink_type *es_sink_type_find(const char *name)
{
    for (size_t i = 0; sink_types[i] != NULL; i++) {
        if (strcmp(sink_types[i]->name, name) == 0) {
            return sink_types[i];
        }
    }
    return NULL;
}

/* ---- Options ------------------------------------------------------------ */

/*
 * Options every sink accepts. The defaults suit chat webhooks: a slow
 * receiver gets 10 s, a failing one is retried with backoff from 1 s to
 * 5 min for up to 12 attempts or a day, whichever comes first.
 */
const es_sink_option es_sink_common_options[] = {
    {"rate", ES_SINK_OPT_RATE, NULL, 0,
     "most notifications per second (2, 0.5) or per period (120/min, 5/2s), or off; "
     "default: the sink type's own limit"},
    {"burst", ES_SINK_OPT_INT, "1", 0, "notifications that may go back to back"},
    {"timeout", ES_SINK_OPT_DURATION, "10s", 0, "whole-request timeout"},
    {"connect_timeout", ES_SINK_OPT_DURATION, "5s", 0, "connection timeout"},
    {"max_attempts", ES_SINK_OPT_INT, "12", 0, "attempts before dead-lettering"},
    {"max_age", ES_SINK_OPT_DURATION, "24h", 0, "age after which a notification is dead-lettered"},
    {"backoff_base", ES_SINK_OPT_DURATION, "1s", 0, "first retry delay (doubles each attempt)"},
    {"backoff_max", ES_SINK_OPT_DURATION, "5m", 0, "longest retry delay"},
    {NULL, 0, NULL, 0, NULL},
};

static const es_sink_option *find_option(const es_sink_option *t, const char *key)
{
    for (; t != NULL && t->name != NULL; t++) {
        if (strcmp(t->name, key) == 0) {
            return t;
        }
    }
    return NULL;
}

static const char *kv_find(const es_sink_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0) {
            return kv[i].value;
        }
    }
    return NULL;
}

const char *es_sink_opt_get(const es_sink_opts *o, const char *key)
{
    const char *v = kv_find(o->kv, o->n_kv, key);
    if (v == NULL) {
        v = kv_find(o->secrets, o->n_secrets, key);
    }
    if (v == NULL) {
        const es_sink_option *opt = find_option(o->table, key);
        if (opt == NULL) {
            opt = find_option(es_sink_common_options, key);
        }
        v = opt != NULL ? opt->def : NULL;
    }
    return v;
}

static int parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return ES_EPARSE;
    }
    *v = x;
    return 0;
}

static int parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v = false;
            return 0;
        }
    }
    return ES_EPARSE;
}

int64_t es_sink_opt_int(const es_sink_opts *o, const char *key, int64_t def)
{
    const char *s = es_sink_opt_get(o, key);
    int64_t v;
    return s != NULL && parse_int(s, &v) == 0 ? v : def;
}

bool es_sink_opt_bool(const es_sink_opts *o, const char *key, bool def)
{
    const char *s = es_sink_opt_get(o, key);
    bool v;
    return s != NULL && parse_bool(s, &v) == 0 ? v : def;
}

int64_t es_sink_opt_duration(const es_sink_opts *o, const char *key, int64_t def_ms)
{
    const char *s = es_sink_opt_get(o, key);
    int64_t v;
    return s != NULL && es_duration_parse(s, &v) == 0 ? v : def_ms;
}

size_t es_sink_opt_list(const es_sink_opts *o, const char *key, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n_kv; i++) {
        if (strcmp(o->kv[i].key, key) == 0) {
            if (n < max) {
                out[n] = o->kv[i].value;
            }
            n++;
        }
    }
    return n;
}

static int check_value(const es_sink_option *opt, const char *sink, const char *v, es_error *err)
{
    int64_t i;
    bool b;
    es_rate r;
    switch (opt->type) {
    case ES_SINK_OPT_INT:
        if (parse_int(v, &i) != 0 || i < 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': option '%s' must be a non-negative integer, not '%s'",
                                sink, opt->name, v);
        }
        break;
    case ES_SINK_OPT_BOOL:
        if (parse_bool(v, &b) != 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': option '%s' must be true or false, not '%s'", sink,
                                opt->name, v);
        }
        break;
    case ES_SINK_OPT_DURATION:
        if (es_duration_parse(v, &i) != 0 || i < 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': option '%s' must be a duration such as 10s, not '%s'",
                                sink, opt->name, v);
        }
        break;
    case ES_SINK_OPT_RATE:
        if (es_rate_parse(v, &r) != 0) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': option '%s' must be a rate such as 2 (per second), "
                                "120/min or off, not '%s'",
                                sink, opt->name, v);
        }
        break;
    case ES_SINK_OPT_STRING:
    case ES_SINK_OPT_LIST:
        break;
    }
    return 0;
}

/* Every key known, no secret in the file, values well-formed, required
 * options present. */
static int validate(const struct es_sink_type *t, const es_sink_opts *o, es_error *err)
{
    const char *sink = o->sink_name != NULL ? o->sink_name : "?";
    for (size_t i = 0; i < o->n_kv; i++) {
        const char *key = o->kv[i].key;
        const es_sink_option *opt = find_option(t->options, key);
        if (opt == NULL) {
            opt = find_option(es_sink_common_options, key);
        }
        if (opt == NULL) {
            return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': unknown option '%s' for type %s",
                                sink, key, t->name);
        }
        if (opt->flags & ES_SINK_OPT_SECRET) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': '%s' is a secret; give it as %s_env or %s_file", sink,
                                key, key, key);
        }
        if (opt->type != ES_SINK_OPT_LIST && kv_find(o->kv, i, key) != NULL) {
            return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': option '%s' given twice", sink,
                                key);
        }
        int rc = check_value(opt, sink, o->kv[i].value, err);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < o->n_secrets; i++) {
        const es_sink_option *opt = find_option(t->options, o->secrets[i].key);
        if (opt == NULL || !(opt->flags & (ES_SINK_OPT_SECRET | ES_SINK_OPT_SECRET_OK))) {
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': '%s' cannot be given as a secret for type %s", sink,
                                o->secrets[i].key, t->name);
        }
    }
    for (const es_sink_option *opt = t->options; opt != NULL && opt->name != NULL; opt++) {
        if ((opt->flags & ES_SINK_OPT_REQUIRED) && es_sink_opt_get(o, opt->name) == NULL) {
            const char *how = (opt->flags & ES_SINK_OPT_SECRET) ? "_env or _file" : "";
            return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': type %s needs '%s%s'", sink,
                                t->name, opt->name, how);
        }
    }
    return 0;
}

int es_sink_new(const char *name, const char *type, const es_sink_opts *opts, es_sink **out,
                es_error *err)
{
    const struct es_sink_type *t = es_sink_type_find(type);
    if (t == NULL) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': unknown type '%s'", name, type);
    }
    if (strlen(name) >= sizeof((es_sink *)0)->name) {
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink name '%.40s...' is too long", name);
    }
    es_sink_opts o = *opts;
    o.sink_name = name;
    o.table = t->options;
    int rc = validate(t, &o, err);
    if (rc != 0) {
        return rc;
    }
    es_sink *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "sink '%s': out of memory", name);
    }
    s->type = t;
    snprintf(s->name, sizeof s->name, "%s", name);

    es_rate rate = {0, 0};
    const char *rs = kv_find(o.kv, o.n_kv, "rate");
    if (rs == NULL) {
        rs = t->default_rate;
    }
    if (rs != NULL) {
        (void)es_rate_parse(rs, &rate); /* validated above, or a constant */
    }
    es_bucket_init(&s->bucket, &rate, (uint32_t)es_sink_opt_int(&o, "burst", 1));
    s->max_attempts = (int)es_sink_opt_int(&o, "max_attempts", 12);
    s->max_age_ms = es_sink_opt_duration(&o, "max_age", 86400000);
    s->timeout_ms = es_sink_opt_duration(&o, "timeout", 10000);
    s->connect_timeout_ms = es_sink_opt_duration(&o, "connect_timeout", 5000);
    s->backoff_base_ms = es_sink_opt_duration(&o, "backoff_base", 1000);
    s->backoff_max_ms = es_sink_opt_duration(&o, "backoff_max", 300000);
    if (s->max_attempts < 1) {
        s->max_attempts = 1;
    }

    rc = t->init(&o, &s->state, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void es_sink_free(es_sink *s)
{
    if (s == NULL) {
        return;
    }
    if (s->type->destroy != NULL) {
        s->type->destroy(s->state);
    }
    free(s);
}

int es_sink_reopen(es_sink *s)
{
    return s->type->reopen != NULL ? s->type->reopen(s->state) : 0;
}

int es_sink_build(es_sink *s, const es_notification *n, es_sink_request *req)
{
    es_sink_request_reset(req);
    return s->type->build(s->state, n, req);
}

void es_sink_classify(es_sink *s, const es_sink_response *r, es_sink_result *res)
{
    memset(res, 0, sizeof *res);
    if (s->type->classify != NULL) {
        s->type->classify(s->state, r, res);
    } else {
        es_sink_classify_http(r, res);
    }
}

int64_t es_sink_retry_at(const es_sink *s, const es_sink_result *res, int attempt, uint64_t seed,
                         int64_t now_ms)
{
    /* The receiver's word wins when it gave one: it knows its own limits,
     * and waiting longer than asked would only delay the alert. */
    if (res->not_before_ms > 0) {
        return res->not_before_ms > now_ms ? res->not_before_ms : now_ms;
    }
    return now_ms + es_backoff_ms(s->backoff_base_ms, s->backoff_max_ms, attempt, seed);
}

/* ---- Requests ----------------------------------------------------------- */

/* Ceilings: payloads stay far below these, which only stop runaway input. */
#define REQ_URL_MAX     8192
#define REQ_HEADERS_MAX 16384
#define REQ_BODY_MAX    (4u << 20)

void es_sink_request_init(es_sink_request *r)
{
    memset(r, 0, sizeof *r);
    es_buf_init(&r->url, REQ_URL_MAX);
    es_buf_init(&r->headers, REQ_HEADERS_MAX);
    es_buf_init(&r->body, REQ_BODY_MAX);
    es_buf_init(&r->rcpt, REQ_HEADERS_MAX);
    r->method = "POST";
}

void es_sink_request_reset(es_sink_request *r)
{
    es_buf_reset(&r->url);
    es_buf_reset(&r->headers);
    es_buf_reset(&r->body);
    es_buf_reset(&r->rcpt);
    r->kind = ES_SINK_REQ_HTTP;
    r->method = "POST";
    r->mail_from = NULL;
    r->starttls = false;
    r->username = NULL;
    r->password = NULL;
}

void es_sink_request_free(es_sink_request *r)
{
    es_buf_free(&r->url);
    es_buf_free(&r->headers);
    es_buf_free(&r->body);
    es_buf_free(&r->rcpt);
}

int es_sink_request_header(es_sink_request *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
        return ES_EINVAL;
    }
    return es_buf_printf(&r->headers, "%s: %s\n", name, value);
}

es_str es_sink_response_header(const es_sink_response *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const es_sink_header *h = &r->headers[i];
        if (h->name.len == n && strncasecmp(h->name.ptr, name, n) == 0) {
            return h->value;
        }
    }
    return (es_str){NULL, 0};
}

/* ---- Retry rules -------------------------------------------------------- */

/* "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, RFC 9110 5.6.7). */
static int64_t parse_http_date(const char *s, size_t n)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char tmp[64], wday[4], mon[4];
    int d, y, hh, mm, ss;
    if (n >= sizeof tmp) {
        return -1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (sscanf(tmp, "%3[A-Za-z], %d %3s %d %d:%d:%d GMT", wday, &d, mon, &y, &hh, &mm, &ss) != 7) {
        return -1;
    }
    const char *m = strstr(months, mon);
    if (m == NULL || (m - months) % 3 != 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 ||
        y < 1970) {
        return -1;
    }
    int64_t days = es_days_from_civil(y, (unsigned)((m - months) / 3 + 1), (unsigned)d);
    return ((days * 24 + hh) * 60 + mm) * 60000 + ss * 1000LL;
}

/* A non-negative decimal number of seconds (fractions allowed), in ms. */
static int64_t parse_seconds(const char *s, size_t n)
{
    char tmp[32];
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n == 0 || n >= sizeof tmp || !isdigit((unsigned char)s[0])) {
        return -1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0' || !(v >= 0) || v > 1e12) {
        return -1;
    }
    /* Round up: retrying a millisecond early defeats the point. */
    double ms = v * 1000.0;
    int64_t r = (int64_t)ms;
    return (double)r < ms ? r + 1 : r;
}

int64_t es_sink_parse_retry_after(const char *s, size_t n, int64_t now_ms)
{
    if (s == NULL) {
        return -1;
    }
    int64_t d = parse_seconds(s, n);
    if (d >= 0) {
        return now_ms + d;
    }
    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    return parse_http_date(s, n);
}

/*
 * X-RateLimit-Reset means different things on different platforms: epoch
 * seconds (GitHub, Discord), seconds from now (Reddit) or an ISO 8601 time
 * (Mastodon). A number that large can only be an epoch.
 */
static int64_t parse_reset(es_str v, int64_t now_ms)
{
    int64_t ms = parse_seconds(v.ptr, v.len);
    if (ms >= 0) {
        return ms >= 1000000000000LL ? ms : now_ms + ms;
    }
    int64_t t;
    if (v.len > 0 && es_time_parse(v.ptr, v.len, &t) == 0) {
        return t;
    }
    return -1;
}

void es_sink_classify_http(const es_sink_response *r, es_sink_result *res)
{
    res->not_before_ms = 0;
    res->sink_wide = false;
    if (r->transport != 0) {
        res->verdict = ES_SINK_RETRY;
        snprintf(res->error, sizeof res->error, "%s",
                 r->transport_msg != NULL ? r->transport_msg : es_strerror(r->transport));
        return;
    }
    long st = r->status;
    if (st >= 200 && st < 300) {
        res->verdict = ES_SINK_DELIVERED;
        res->error[0] = '\0';
        return;
    }
    snprintf(res->error, sizeof res->error, "HTTP %ld", st);
    if (st == 408 || st == 429 || st >= 500) {
        res->verdict = ES_SINK_RETRY;
    } else {
        res->verdict = ES_SINK_PERMANENT;
        return;
    }
    int64_t when = -1;
    es_str ra = es_sink_response_header(r, "Retry-After");
    if (ra.ptr != NULL) {
        when = es_sink_parse_retry_after(ra.ptr, ra.len, r->now_ms);
    }
    if (when < 0) {
        es_str ra2 = es_sink_response_header(r, "X-RateLimit-Reset-After");
        if (ra2.ptr != NULL) {
            int64_t d = parse_seconds(ra2.ptr, ra2.len);
            when = d >= 0 ? r->now_ms + d : -1;
        }
    }
    if (when < 0) {
        /* A reset time only tells us when to retry if the limit is spent. */
        es_str rem = es_sink_response_header(r, "X-RateLimit-Remaining");
        bool spent = st == 429 || (rem.ptr != NULL && rem.len == 1 && rem.ptr[0] == '0');
        es_str reset = es_sink_response_header(r, "X-RateLimit-Reset");
        if (spent && reset.ptr != NULL) {
            when = parse_reset(reset, r->now_ms);
        }
    }
    if (when > 0) {
        res->not_before_ms = when;
        /* A 429 is about the endpoint, not this message: hold the sink. */
        res->sink_wide = st == 429;
        snprintf(res->error, sizeof res->error, "HTTP %ld, retry after %.3f s", st,
                 (double)(when - r->now_ms) / 1000.0);
    } else if (st == 429) {
        res->sink_wide = true;
    }
}

/* ---- Rates, buckets, backoff -------------------------------------------- */

/*
 * A bare number of messages per second, "2" or "0.5", as the config has
 * always allowed. Kept exact in integers: up to three decimals, so 2.5 is
 * 2500 per 1000 s rather than a rounded interval. Returns ES_EPARSE for
 * anything else (including a rate that rounds to zero).
 */
static int parse_per_second(const char *s, es_rate *r)
{
    uint64_t whole = 0, milli = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p)) {
        return ES_EPARSE;
    }
    for (; isdigit((unsigned char)*p); p++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > 1000000) {
            return ES_EPARSE;
        }
    }
    unsigned places = 0;
    bool nonzero = whole > 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return ES_EPARSE;
        }
        for (; isdigit((unsigned char)*p); p++) {
            /* Digits past the third are below a message per 1000 s: they
             * are allowed, but cannot change the rate. */
            nonzero |= *p != '0';
            if (places < 3) {
                milli = milli * 10 + (uint64_t)(*p - '0');
                places++;
            }
        }
    }
    if (*p != '\0') {
        return ES_EPARSE;
    }
    for (; places < 3; places++) {
        milli *= 10;
    }
    if (whole == 0 && milli == 0) {
        if (nonzero) {
            return ES_EPARSE; /* "0.0001": too slow to count, surely not "no limit" */
        }
        r->per = 0; /* "0", "0.0": no limit, like "off" */
        r->period_ms = 0;
    } else if (milli == 0) {
        r->per = (uint32_t)whole;
        r->period_ms = 1000;
    } else {
        uint64_t per = whole * 1000 + milli;
        if (per > 1000000) {
            return ES_EPARSE;
        }
        r->per = (uint32_t)per;
        r->period_ms = 1000000;
    }
    return 0;
}

int es_rate_parse(const char *s, es_rate *r)
{
    if (strcmp(s, "off") == 0 || strcmp(s, "none") == 0) {
        r->per = 0;
        r->period_ms = 0;
        return 0;
    }
    if (strchr(s, '/') == NULL) {
        return parse_per_second(s, r);
    }
    char *end;
    errno = 0;
    unsigned long per = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '/' || per == 0 || per > 1000000) {
        return ES_EPARSE;
    }
    const char *unit = end + 1;
    int64_t ms;
    if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0 || strcmp(unit, "second") == 0) {
        ms = 1000;
    } else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0 || strcmp(unit, "minute") == 0) {
        ms = 60000;
    } else if (strcmp(unit, "h") == 0 || strcmp(unit, "hour") == 0) {
        ms = 3600000;
    } else if (es_duration_parse(unit, &ms) != 0 || ms <= 0) {
        return ES_EPARSE;
    }
    r->per = (uint32_t)per;
    r->period_ms = ms;
    return 0;
}

void es_bucket_init(es_bucket *b, const es_rate *r, uint32_t burst)
{
    if (r == NULL || r->per == 0 || r->period_ms <= 0) {
        b->interval_us = 0;
        b->tolerance_us = 0;
    } else {
        b->interval_us = r->period_ms * 1000 / r->per;
        if (b->interval_us < 1) {
            b->interval_us = 1;
        }
        b->tolerance_us = b->interval_us * (int64_t)(burst > 0 ? burst - 1 : 0);
    }
    b->tat_us = INT64_MIN / 2;
}

int64_t es_bucket_ready_at(const es_bucket *b, int64_t now_ms)
{
    if (b->interval_us == 0) {
        return now_ms;
    }
    int64_t allow_us = b->tat_us - b->tolerance_us;
    if (allow_us <= now_ms * 1000) {
        return now_ms;
    }
    return (allow_us + 999) / 1000;
}

bool es_bucket_take(es_bucket *b, int64_t now_ms)
{
    if (b->interval_us == 0) {
        return true;
    }
    int64_t now_us = now_ms * 1000;
    if (b->tat_us - b->tolerance_us > now_us) {
        return false;
    }
    b->tat_us = (b->tat_us > now_us ? b->tat_us : now_us) + b->interval_us;
    return true;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int64_t es_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt, uint64_t seed)
{
    if (base_ms <= 0) {
        return 0;
    }
    if (max_ms < base_ms) {
        max_ms = base_ms;
    }
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++) {
        d *= 2;
    }
    if (d > max_ms) {
        d = max_ms;
    }
    int64_t half = d / 2;
    uint64_t r = splitmix64(seed ^ ((uint64_t)attempt * 0x100000001b3ULL));
    return half + (int64_t)(r % (uint64_t)(d - half + 1));
}
