/*
 * Escalation sinks: the interface every sink type implements, and the pieces
 * they share (options, retry rules, rate limits, safe text truncation, the
 * notification JSON).
 *
 * Transport is kept apart from formatting. A sink type only knows how to
 * turn a notification into a request (`build`) and how to read the answer
 * (`classify`); whoever owns the sockets sends it. That lets the live engine
 * (libcurl multi on the event loop) and `backfill --deliver` (src/deliver.c,
 * curl_easy) share every sink unchanged. Sinks that act locally (stdout,
 * file, exec) also provide `perform`.
 *
 * Ownership rule for this header: every pointer in a notification, request
 * description or response is borrowed for the duration of the call that
 * receives it; a sink keeps nothing from them.
 *
 * Adding a sink type? Add its file, its vtable to the list in sink.c, its
 * extern below, and its option keys to the config schema.
 */
#ifndef ES_SINK_H
#define ES_SINK_H

#include "alert.h"
#include "buf.h"
#include "earshot.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- Notifications ------------------------------------------------------ */

/* A group label such as topic=acme. */
typedef struct es_label {
    const char *key;
    const char *value;
} es_label;

typedef enum {
    ES_NOTIFY_AUTO = 0,    /* trigger, or resolve when every alert is resolved */
    ES_NOTIFY_ACKNOWLEDGE, /* `earshot alerts ack`: pagers stop escalating */
} es_notify_action;

/*
 * A notification: one or more alerts that a route grouped together.
 *
 * `key` is the idempotency key: the same for every retry of this
 * notification to this sink, different for different notifications (it is
 * the webhook-id, the e-mail Message-ID, the spool's dedup key). `group`
 * names the group itself (e.g. "acme/complaint"), stable across repeats, and
 * is what PagerDuty dedups on and e-mail threads on; NULL means "use the
 * first alert's fingerprint". `count` is how many alerts the group stands
 * for, which may exceed n_alerts when only examples are attached (0 means
 * n_alerts). `sent_ms` is the wall time of this attempt (webhook-timestamp,
 * e-mail Date); the sender fills it in just before build.
 */
typedef struct es_notification {
    const char *key;
    const char *group;
    const es_alert *alerts;
    size_t n_alerts;
    size_t count;
    const es_label *labels;
    size_t n_labels;
    es_notify_action action;
    int64_t sent_ms;
    /* Optional: the alerts' JSON exactly as first encoded (parallel to
     * `alerts`), so a notification read back from the spool is re-sent
     * byte-for-byte in the alert ids and texts. NULL means encode afresh. */
    const es_str *alert_json;
} es_notification;

/* True when every alert in the notification is resolved. */
bool es_notification_resolved(const es_notification *n);
size_t es_notification_count(const es_notification *n);

/*
 * The contract's notification object, which the webhook sink POSTs and the
 * spool stores:
 *   {"key":..., "group":..., "status":"firing"|"resolved", "count":N,
 *    ["action":"acknowledge",] <label>:<value>..., "alerts":[<alert>...]}
 * Labels sit beside "alerts" at the top level; a label whose name collides
 * with one of the fixed keys is skipped.
 */
int es_notification_to_json(const es_notification *n, es_buf *out);

/* Append alert i's JSON (the stored original when there is one). */
int es__notification_alert_json(const es_notification *n, size_t i, es_buf *out);

/*
 * A notification read back from its JSON. The es_notification inside points
 * into this document; es_notification_doc_free releases everything.
 */
typedef struct es_notification_doc {
    es_notification n;
    void *tree; /* yajl_val */
    es_alert *alerts;
    es_alert_mention *mentions;
    es_label *labels;
    es_str *alert_json;
    es_buf arena; /* re-encoded details and alert JSON */
} es_notification_doc;

/* Parse; on failure fills err (message names what is wrong). */
int es_notification_parse(const char *json, size_t len, es_notification_doc *doc, es_error *err);
void es_notification_doc_free(es_notification_doc *doc);

/* ---- Options ------------------------------------------------------------ */

typedef enum {
    ES_SINK_OPT_STRING,
    ES_SINK_OPT_INT,
    ES_SINK_OPT_BOOL,
    ES_SINK_OPT_DURATION, /* "10s", "250ms" */
    ES_SINK_OPT_RATE,     /* "2", "1/s", "120/min", "5/250ms", "off": es_rate_parse */
    ES_SINK_OPT_LIST,     /* given as the same key repeated, in order */
} es_sink_opt_type;

enum {
    ES_SINK_OPT_REQUIRED = 1u << 0,
    /* A secret: must come from *_env / *_file (the secrets list), never
     * from the file itself. */
    ES_SINK_OPT_SECRET = 1u << 1,
    /* May come from either the file or the secrets list (webhook URLs,
     * which some people treat as secrets and some do not). */
    ES_SINK_OPT_SECRET_OK = 1u << 2,
};

/* One row per option: the same table validates, defaults and documents. */
typedef struct es_sink_option {
    const char *name;
    es_sink_opt_type type;
    const char *def; /* default as text, NULL for none */
    unsigned flags;
    const char *help;
} es_sink_option;

typedef struct es_sink_kv {
    const char *key;
    const char *value;
} es_sink_kv;

/*
 * What a sink instance is configured with: plain key/values from the config
 * file and the resolved secret values (keyed by the option's base name, so
 * `url_env: SLACK_URL` arrives here as secrets {"url", "https://..."}).
 * `table` is set by es_sink_new to the type's option table, for defaults.
 */
typedef struct es_sink_opts {
    const char *sink_name;
    const es_sink_kv *kv;
    size_t n_kv;
    const es_sink_kv *secrets;
    size_t n_secrets;
    const es_sink_option *table;
} es_sink_opts;

/* The value of `key` (plain, then secret, then the table's default), or NULL. */
const char *es_sink_opt_get(const es_sink_opts *o, const char *key);
/* Typed getters for options already validated by es_sink_new. */
int64_t es_sink_opt_int(const es_sink_opts *o, const char *key, int64_t def);
bool es_sink_opt_bool(const es_sink_opts *o, const char *key, bool def);
int64_t es_sink_opt_duration(const es_sink_opts *o, const char *key, int64_t def_ms);
/* The values of a list option, in order; returns how many (may exceed max). */
size_t es_sink_opt_list(const es_sink_opts *o, const char *key, const char **out, size_t max);

/* Options every sink has, whatever its type (rate, retries, timeouts). */
extern const es_sink_option es_sink_common_options[];

/* ---- Requests and responses --------------------------------------------- */

typedef enum {
    ES_SINK_REQ_HTTP,
    ES_SINK_REQ_SMTP,
    ES_SINK_REQ_LOCAL, /* no network: the sink's perform() does the work */
} es_sink_req_kind;

/*
 * A request description. `headers` holds "Name: value" lines separated by
 * '\n' (values never contain CR or LF). For SMTP, `rcpt` holds one address
 * per '\n'-terminated line and `body` the whole RFC 5322 message.
 */
typedef struct es_sink_request {
    es_sink_req_kind kind;
    const char *method;
    es_buf url;
    es_buf headers;
    es_buf body;
    /* SMTP only; strings borrowed from the sink's state. */
    const char *mail_from;
    es_buf rcpt;
    bool starttls;
    const char *username;
    const char *password;
} es_sink_request;

void es_sink_request_init(es_sink_request *r);
void es_sink_request_reset(es_sink_request *r);
void es_sink_request_free(es_sink_request *r);
int es_sink_request_header(es_sink_request *r, const char *name, const char *value);

typedef struct es_sink_header {
    es_str name;
    es_str value;
} es_sink_header;

/*
 * What came back. `transport` is 0 when a response arrived, else a negative
 * ES_E* code (ES_ETIMEOUT, ES_EIO) and `status` is 0. For SMTP, `status` is
 * the server's last reply code. `now_ms` is the wall time of the answer.
 * `body` (possibly cut to a ceiling) is NUL-terminated at body_len.
 */
typedef struct es_sink_response {
    int transport;
    const char *transport_msg;
    long status;
    const es_sink_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    int64_t now_ms;
} es_sink_response;

/* The first header named `name` (case-insensitive); {NULL, 0} if absent. */
es_str es_sink_response_header(const es_sink_response *r, const char *name);

typedef enum {
    ES_SINK_DELIVERED,
    ES_SINK_RETRY,
    ES_SINK_PERMANENT, /* do not retry: dead-letter it */
} es_sink_verdict;

/*
 * `not_before_ms` is the earliest retry time the receiver asked for
 * (Retry-After, rate-limit reset, Discord's retry_after), 0 when it said
 * nothing and our own backoff decides. `sink_wide` means the wait applies to
 * every notification for this sink (a rate limit), not just this one.
 */
typedef struct es_sink_result {
    es_sink_verdict verdict;
    int64_t not_before_ms;
    bool sink_wide;
    char error[256];
} es_sink_result;

/*
 * The common rules: 2xx delivered; no response, 408, 429 and 5xx retry,
 * honouring Retry-After (seconds or HTTP date) and X-RateLimit-Reset /
 * Reset-After; any other status is permanent.
 */
void es_sink_classify_http(const es_sink_response *r, es_sink_result *res);

/* Retry-After: delta seconds or an HTTP date. Returns the absolute time in
 * ms, or -1 if the value is not understood. */
int64_t es_sink_parse_retry_after(const char *s, size_t n, int64_t now_ms);

/* ---- The sink type vtable ----------------------------------------------- */

struct es_sink_type {
    const char *name;
    const es_sink_option *options; /* terminated by a row with name == NULL */
    const char *default_rate;      /* e.g. "1/s" for Slack; NULL for none */
    /* Validate and keep what build/perform need; *state is passed back. */
    int (*init)(const es_sink_opts *o, void **state, es_error *err);
    /* Notification -> request. ES_ETOOBIG and ES_EINVAL are permanent. */
    int (*build)(void *state, const es_notification *n, es_sink_request *req);
    /* Response -> verdict. NULL means es_sink_classify_http. */
    void (*classify)(void *state, const es_sink_response *r, es_sink_result *res);
    /* Local sinks only: carry out the request; fill res. */
    void (*perform)(void *state, const es_sink_request *req, int64_t timeout_ms,
                    es_sink_result *res);
    /* Optional: reopen files (SIGHUP after log rotation). */
    int (*reopen)(void *state);
    void (*destroy)(void *state);
};

extern const struct es_sink_type es_sink_stdout;
extern const struct es_sink_type es_sink_file;
extern const struct es_sink_type es_sink_exec;
extern const struct es_sink_type es_sink_webhook;
extern const struct es_sink_type es_sink_slack;
extern const struct es_sink_type es_sink_mattermost;
extern const struct es_sink_type es_sink_discord;
extern const struct es_sink_type es_sink_teams;
extern const struct es_sink_type es_sink_pagerduty;
extern const struct es_sink_type es_sink_smtp;

/* The type named `name`, or NULL. */
const struct es_sink_type *es_sink_type_find(const char *name);
/* All types, NULL-terminated (for `earshot check` and docs). */
const struct es_sink_type *const *es_sink_types(void);

/* ---- Rate limiting and backoff (pure functions of the times passed in) -- */

/* A rate: `per` events every `period_ms`; per == 0 means unlimited. */
typedef struct es_rate {
    uint32_t per;
    int64_t period_ms;
} es_rate;

/*
 * Parse a rate, the one syntax the config file and es_sink_new share:
 * messages per second as a bare number ("2", "0.5"; at most three decimals
 * count), or N per period ("1/s", "120/min", "30/m", "10/1h", "5/250ms"),
 * or "off" / "none" / "0" for no limit.
 */
int es_rate_parse(const char *s, es_rate *r);

/*
 * A token bucket in its GCRA form: one "theoretical arrival time" instead of
 * a token count, so it is exact in integer microseconds and needs no timer.
 * `burst` events may go back to back; after that one per period/per.
 */
typedef struct es_bucket {
    int64_t interval_us; /* 0: unlimited */
    int64_t tolerance_us;
    int64_t tat_us;
} es_bucket;

void es_bucket_init(es_bucket *b, const es_rate *r, uint32_t burst);
/* The earliest time >= now at which a send is allowed. */
int64_t es_bucket_ready_at(const es_bucket *b, int64_t now_ms);
/* Take one send at `now`; false (and nothing taken) if not allowed yet. */
bool es_bucket_take(es_bucket *b, int64_t now_ms);

/*
 * Exponential backoff with "equal jitter": the nominal delay doubles from
 * base_ms each attempt up to max_ms, and the result lies in [d/2, d]. The
 * jitter is a hash of (seed, attempt), so a test given a seed can assert the
 * exact schedule, and different notifications spread out.
 */
int64_t es_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt, uint64_t seed);

/* ---- Sink instances ----------------------------------------------------- */

typedef struct es_sink {
    const struct es_sink_type *type;
    char name[64];
    void *state;
    es_bucket bucket;
    int64_t blocked_until_ms; /* a rate limit the receiver announced */
    int max_attempts;
    int64_t max_age_ms;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
} es_sink;

/*
 * Make a sink of type `type` named `name`. Every key in opts must be a
 * common option or one of the type's; unknown keys, missing required keys,
 * secrets given in the file and malformed values are errors naming the sink
 * and the key. The opts are only read during the call.
 */
int es_sink_new(const char *name, const char *type, const es_sink_opts *opts, es_sink **out,
                es_error *err);
void es_sink_free(es_sink *s);
/* SIGHUP: reopen files; a no-op for sinks without files. */
int es_sink_reopen(es_sink *s);
/* Build / classify / perform through the vtable. */
int es_sink_build(es_sink *s, const es_notification *n, es_sink_request *req);
void es_sink_classify(es_sink *s, const es_sink_response *r, es_sink_result *res);
/* When to try again after a RETRY verdict at `now` for the attempt-th try. */
int64_t es_sink_retry_at(const es_sink *s, const es_sink_result *res, int attempt, uint64_t seed,
                         int64_t now_ms);

/* ---- Text for chat and mail (internal) ---------------------------------- */

typedef enum {
    ES_ESC_NONE,
    ES_ESC_SLACK,    /* mrkdwn: & < > as entities */
    ES_ESC_DISCORD,  /* markdown escaped; @ defused (no @everyone / @here) */
    ES_ESC_MARKDOWN, /* Mattermost: markdown escaped; @channel/@all/@here defused */
    ES_ESC_HTML,     /* & < > " ' as entities */
} es_escape;

enum {
    ES_TEXT_JSON = 1u << 0,    /* the output sits inside a JSON string */
    ES_TEXT_ONELINE = 1u << 1, /* newlines become spaces (titles, subjects) */
};

/*
 * A text builder with a budget in characters, counted as UTF-16 code units
 * (what JavaScript-based platforms count; never less than code points), after
 * escaping. User text that does not fit is cut at a character boundary, never
 * inside a UTF-8 sequence or an entity, and ends with an ellipsis. Invalid
 * UTF-8 becomes U+FFFD; control characters other than newline are dropped.
 */
typedef struct es_tb {
    es_buf *out;
    size_t start; /* the budget given to es__tb_init */
    size_t left;
    unsigned flags;
    int rc;
    bool cut; /* something did not fit */
} es_tb;

void es__tb_init(es_tb *tb, es_buf *out, size_t max_chars, unsigned flags);
/* User text: at most `cap` characters of the budget (SIZE_MAX: no cap).
 * Returns the characters used. */
size_t es__tb_text(es_tb *tb, const char *s, size_t n, es_escape esc, size_t cap);
/* Our own markup: appended whole, or not at all (returns false). */
bool es__tb_lit(es_tb *tb, const char *s);
bool es__tb_printf(es_tb *tb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A link target (already checked with es__is_http_url), escaped for the
 * markup: & as &amp; for Slack and HTML, ( ) percent-encoded for markdown.
 * Appended whole or not at all. */
bool es__tb_url(es_tb *tb, es_str url, es_escape esc);

/*
 * Lend the next part of a message at most `share` of what is left, so the
 * first of ten alerts cannot eat the budget of the other nine. Returns what
 * was held back; es__tb_restore gives it back afterwards.
 */
static inline size_t es__tb_limit(es_tb *tb, size_t share)
{
    if (share >= tb->left) {
        return 0;
    }
    size_t held = tb->left - share;
    tb->left = share;
    return held;
}

static inline void es__tb_restore(es_tb *tb, size_t held)
{
    tb->left += held;
}

/* Characters (UTF-16 units) in s, as es__tb counts them, without escaping. */
size_t es__text_units(const char *s, size_t n);

/* Append s as a JSON string of at most max characters (after escaping). */
int es__json_text(es_buf *out, const char *s, size_t n, size_t max, es_escape esc, unsigned flags);

/* Scalar details of an alert ("count": 212, "baseline": 26.1), up to max of
 * them, flattening one level of nesting ("sentiment.compound"). Keys and
 * values are copied into `out`, cut to fit. Returns how many were found. */
typedef struct es_detail {
    char key[64];
    char value[64];
} es_detail;
size_t es__details(const char *details_json, es_detail *out, size_t max);

/* The value of a group label, or NULL. */
const char *es__notification_label(const es_notification *n, const char *key);
/* The three facts every chat and mail message shows, in this order: topic,
 * kind and severity, each from the group's labels or else the first alert
 * (NULL when neither has it). es__fact_names holds their display names. */
enum { ES_N_FACTS = 3 };
extern const char *const es__fact_names[ES_N_FACTS];
void es__notification_facts(const es_notification *n, const char *out[ES_N_FACTS]);
/* True for an absolute http(s) URL without spaces or control characters,
 * the only links we put in messages. */
bool es__is_http_url(es_str u);

/* "acme: 3 complaint alerts" / the alert's summary: a headline for chat. */
int es__headline(const es_notification *n, es_buf *out);

/* Local sinks (stdout, file, exec): each alert's JSON on its own line. */
int es__sink_ndjson_build(const es_notification *n, es_sink_request *req);

/* PagerDuty's dedup_key for a notification (<= 255 bytes + NUL). */
int es__pagerduty_dedup_key(const es_notification *n, char out[256]);

/* Base64 (standard alphabet, padded). */
int es__base64(es_buf *out, const unsigned char *p, size_t n);

#endif
