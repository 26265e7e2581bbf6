/*
 * The feed host: what every feed type shares (decoding, dedup, counters,
 * cursor, backoff, backpressure). See feed.h.
 */
#include "feed.h"
#include "log.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bad records are logged one by one up to this many per feed, then only
 * every ES_FEED_BAD_LOG_EVERY-th, so garbage cannot flood the log. */
#define FEED_BAD_LOG_FIRST 20
#define FEED_BAD_LOG_EVERY 1000

struct es_feed {
    const es_feed_type *type;
    void *state;
    const es_config_item *item;
    es_feed_env env;
    char name[128];
    char comp[160];
    es_format format;
    es_decoder *dec;
    es_feed_counters c;
    int attempt;
    uint64_t seed;
    bool asked_pause;
    bool closing;
    int host_rc; /* a failure of ours inside a decoder callback */
    /* es_feed_deliver_doc */
    es_feed_doc_result *doc;
    bool doc_dry;
    void *data;
};

/* ---- Types ------------------------------------------------------------- */

/*
 * Feed types written in other files are referenced weakly, so this file
 * links whether or not they exist yet; a type present in the build is
 * found here or through es_feed_type_register().
 */
#if defined(__GNUC__)
extern const es_feed_type es_feed_type_sse __attribute__((weak));
extern const es_feed_type es_feed_type_ndjson __attribute__((weak));
extern const es_feed_type es_feed_type_poll __attribute__((weak));
extern const es_feed_type es_feed_type_webhook __attribute__((weak));
#endif

#define FEED_MAX_TYPES 16
static const es_feed_type *registered[FEED_MAX_TYPES];
static size_t n_registered;

const es_feed_type *es_feed_type_find(const char *name)
{
    const es_feed_type *builtin[] = {
        &es_feed_type_file,
#if defined(__GNUC__)
        &es_feed_type_sse, &es_feed_type_ndjson, &es_feed_type_poll, &es_feed_type_webhook,
#endif
    };
    for (size_t i = 0; i < n_registered; i++) {
        if (strcmp(registered[i]->name, name) == 0) {
            return registered[i];
        }
    }
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        if (builtin[i] != NULL && strcmp(builtin[i]->name, name) == 0) {
            return builtin[i];
        }
    }
    return NULL;
}

int es_feed_type_register(const es_feed_type *t)
{
    for (size_t i = 0; i < n_registered; i++) {
        if (strcmp(registered[i]->name, t->name) == 0) {
            return registered[i] == t ? 0 : ES_EINVAL;
        }
    }
    if (n_registered == FEED_MAX_TYPES) {
        return ES_ETOOBIG;
    }
    registered[n_registered++] = t;
    return 0;
}

/* ---- Accessors ----------------------------------------------------------- */

uv_loop_t *es_feed_loop(const es_feed *f)
{
    return f->env.loop;
}

es_http *es_feed_http(const es_feed *f)
{
    return f->env.http;
}

const char *es_feed_name(const es_feed *f)
{
    return f->name;
}

const char *es_feed_comp(const es_feed *f)
{
    return f->comp;
}

const es_config_item *es_feed_item(const es_feed *f)
{
    return f->item;
}

void es_feed_set_item(es_feed *f, const es_config_item *item)
{
    f->item = item;
}

void es_feed_set_data(es_feed *f, void *data)
{
    f->data = data;
}

void *es_feed_data(const es_feed *f)
{
    return f->data;
}

int64_t es_feed_now(const es_feed *f)
{
    (void)f;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const es_feed_counters *es_feed_counters_get(const es_feed *f)
{
    return &f->c;
}

void es_feed_set_rate_limit(es_feed *f, int64_t remaining)
{
    f->c.rate_limit_remaining = remaining >= 0 ? remaining : -1;
}

/* ---- Decoding -------------------------------------------------------------- */

static int on_decoded(void *ud, const es_mention *m, uint64_t line)
{
    es_feed *f = ud;
    (void)line;
    if (f->doc != NULL) {
        f->doc->mentions++;
        if (f->doc_dry) {
            return 0;
        }
    }
    f->c.received++;
    f->c.decoded++;
    if (f->type->seen != NULL) {
        f->type->seen(f->state, m);
    }
    int64_t now = es_feed_now(f);
    if (f->env.store != NULL && m->id.len > 0) {
        int rc = es_store_seen(f->env.store, f->name, m->id.ptr, m->id.len, now);
        if (rc == 1) {
            f->c.duplicate++;
            if (f->doc != NULL) {
                f->doc->duplicate++;
            }
            return 0;
        }
        if (rc < 0) {
            f->host_rc = rc;
            return rc;
        }
    }
    f->c.last_mention_ms = now;
    f->c.processed++;
    int rc = f->env.process != NULL ? f->env.process(f->env.ud, f, m) : 0;
    if (rc != 0) {
        f->host_rc = rc < 0 ? rc : ES_EIO;
        return f->host_rc;
    }
    return 0;
}

static void on_bad(void *ud, const es_error *e)
{
    es_feed *f = ud;
    if (f->doc != NULL) {
        if (f->doc->bad++ == 0) {
            f->doc->first_error = *e;
        }
        if (f->doc_dry) {
            return;
        }
    }
    f->c.received++;
    uint64_t n = ++f->c.bad;
    if (n <= FEED_BAD_LOG_FIRST || n % FEED_BAD_LOG_EVERY == 0) {
        ES_LOG_WARN(f->comp, "bad record at line %d: %s%s", e->line, e->msg,
                    n == FEED_BAD_LOG_FIRST ? " (further bad records are logged sparsely)" : "");
    }
}

static int new_decoder(es_feed *f, es_decoder **out)
{
    es_decoder_opts o = {
        .format = f->format,
        .on_mention = on_decoded,
        .on_error = on_bad,
        .ud = f,
    };
    return es_decoder_new(&o, out);
}

int es_feed_set_format(es_feed *f, es_format fmt)
{
    if ((int)fmt < 0 || fmt >= ES_FORMAT_COUNT) {
        return ES_EINVAL;
    }
    f->format = fmt;
    return 0;
}

static int feed_bytes(es_feed *f, es_decoder *d, const char *p, size_t n)
{
    f->host_rc = 0;
    int rc = es_decoder_feed(d, p, n);
    if (f->host_rc != 0) {
        return f->host_rc;
    }
    return rc < 0 ? rc : 0;
}

int es_feed_deliver(es_feed *f, const char *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    f->c.bytes += n;
    f->c.last_data_ms = es_feed_now(f);
    if (f->dec == NULL) {
        int rc = new_decoder(f, &f->dec);
        if (rc != 0) {
            return rc;
        }
    }
    return feed_bytes(f, f->dec, p, n);
}

int es_feed_deliver_end(es_feed *f)
{
    if (f->dec == NULL) {
        return 0;
    }
    f->host_rc = 0;
    int rc = es_decoder_finish(f->dec);
    es_decoder_free(f->dec);
    f->dec = NULL;
    if (f->host_rc != 0) {
        return f->host_rc;
    }
    return rc < 0 ? rc : 0;
}

int es_feed_deliver_doc(es_feed *f, const char *p, size_t n, unsigned flags,
                        es_feed_doc_result *res)
{
    memset(res, 0, sizeof *res);
    es_decoder *d;
    int rc;
    f->c.bytes += n;
    f->c.last_data_ms = es_feed_now(f);
    if (flags & ES_FEED_DOC_ALL_OR_NOTHING) {
        /* A dry pass first: nothing is processed unless all of it is good. */
        if ((rc = new_decoder(f, &d)) != 0) {
            return rc;
        }
        f->doc = res;
        f->doc_dry = true;
        rc = es_decoder_feed(d, p, n);
        rc = rc ? rc : es_decoder_finish(d);
        es_decoder_free(d);
        f->doc = NULL;
        f->doc_dry = false;
        if (rc < 0) {
            return rc;
        }
        if (res->bad > 0) {
            f->c.received += res->bad;
            f->c.bad += res->bad;
            ES_LOG_WARN(f->comp, "refused a document: line %d: %s", res->first_error.line,
                        res->first_error.msg);
            return 0;
        }
        memset(res, 0, sizeof *res);
    }
    if ((rc = new_decoder(f, &d)) != 0) {
        return rc;
    }
    f->doc = res;
    rc = feed_bytes(f, d, p, n);
    if (rc == 0) {
        f->host_rc = 0;
        rc = es_decoder_finish(d);
        rc = f->host_rc != 0 ? f->host_rc : (rc < 0 ? rc : 0);
    }
    es_decoder_free(d);
    f->doc = NULL;
    return rc;
}

int es_feed_deliver_mention(es_feed *f, const es_mention *m)
{
    uint64_t dup = f->c.duplicate;
    f->host_rc = 0;
    int rc = on_decoded(f, m, 0);
    if (rc != 0) {
        return rc;
    }
    return f->c.duplicate != dup ? 1 : 0;
}

/* ---- State, errors, cursor, backoff ----------------------------------------- */

void es_feed_set_connected(es_feed *f, bool connected)
{
    if (connected == f->c.connected) {
        return;
    }
    f->c.connected = connected;
    if (connected) {
        f->attempt = 0;
        ES_LOG_INFO(f->comp, "connected");
    } else {
        ES_LOG_INFO(f->comp, "disconnected");
    }
    if (f->env.on_event != NULL) {
        f->env.on_event(f->env.ud, f);
    }
}

void es_feed_error(es_feed *f, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->c.errors++;
    f->c.last_error_ms = es_feed_now(f);
    ES_LOG_WARN(f->comp, "%s", msg);
}

void es_feed_finished(es_feed *f)
{
    if (f->c.finished) {
        return;
    }
    f->c.finished = true;
    ES_LOG_INFO(f->comp, "finished: %llu mentions, %llu bad, %llu duplicate",
                (unsigned long long)f->c.decoded, (unsigned long long)f->c.bad,
                (unsigned long long)f->c.duplicate);
    if (f->env.on_event != NULL) {
        f->env.on_event(f->env.ud, f);
    }
}

int es_feed_cursor_load(es_feed *f, char *out, size_t cap)
{
    if (f->env.store == NULL) {
        return 0;
    }
    return es_store_cursor_get(f->env.store, f->name, out, cap);
}

int es_feed_cursor_save(es_feed *f, const char *cursor)
{
    if (f->env.store == NULL) {
        return 0;
    }
    if (strlen(cursor) >= ES_FEED_CURSOR_MAX) {
        return ES_ETOOBIG;
    }
    return es_store_cursor_set(f->env.store, f->name, cursor);
}

bool es_feed_should_pause(es_feed *f)
{
    if (f->env.busy != NULL && f->env.busy(f->env.ud)) {
        f->asked_pause = true;
        return true;
    }
    return false;
}

int64_t es_feed_backoff(es_feed *f, es_backoff_kind kind, int64_t retry_after_ms,
                        const char *why)
{
    f->attempt++;
    f->c.reconnects++;
    int64_t d = es_backoff_delay(kind, f->attempt, f->seed, retry_after_ms);
    ES_LOG_WARN(f->comp, "%s%sretry in %.1f s", why != NULL ? why : "",
                why != NULL ? ", " : "", (double)d / 1000.0);
    return d;
}

void es_feed_backoff_reset(es_feed *f)
{
    f->attempt = 0;
}

/* ---- Host side ---------------------------------------------------------------- */

int es_feed_new(const es_config_item *item, const es_feed_env *env, es_feed **out,
                es_error *err)
{
    const char *name = es_config_item_name(item);
    const char *tname = es_config_item_type(item);
    int line = 0, col = 0;
    es_config_item_pos(item, &line, &col);
    const es_feed_type *t = es_feed_type_find(tname);
    if (t == NULL) {
        return es_error_set(err, ES_ECONFIG, line, col,
                            "feed '%s': feed type '%s' is not available in this build", name,
                            tname);
    }
    es_feed *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    f->type = t;
    f->item = item;
    f->env = *env;
    f->c.rate_limit_remaining = -1;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->comp, sizeof f->comp, "feed:%s", name);
    f->seed = 0xcbf29ce484222325ULL;
    for (const char *p = name; *p != '\0'; p++) {
        f->seed = (f->seed ^ (unsigned char)*p) * 0x100000001b3ULL;
    }
    f->seed ^= (uint64_t)es_feed_now(f);
    const char *fmt = es_config_item_str(item, "format");
    if (fmt != NULL && es_format_parse(fmt, &f->format) != 0) {
        free(f);
        return es_error_set(err, ES_ECONFIG, line, col, "feed '%s': unknown format '%s'", name,
                            fmt);
    }
    int rc = t->init(f, item, &f->state, err);
    if (rc != 0) {
        if (err != NULL && err->line == 0) {
            err->line = line;
            err->col = col;
        }
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int es_feed_start(es_feed *f)
{
    f->c.started_ms = es_feed_now(f);
    f->c.finished = false;
    return f->type->start(f->state);
}

void es_feed_stop(es_feed *f)
{
    f->type->stop(f->state);
}

void es_feed_resume(es_feed *f)
{
    if (!f->asked_pause || f->closing) {
        return;
    }
    f->asked_pause = false;
    if (f->type->resume != NULL) {
        f->type->resume(f->state);
    }
}

void es_feed_close(es_feed *f)
{
    if (f->closing) {
        return;
    }
    f->closing = true;
    /* A partial record at the end (half an SSE event, a line cut by the
     * shutdown) is dropped, not decoded: the cursor still points before
     * it, so the next run reads it whole. */
    es_decoder_free(f->dec);
    f->dec = NULL;
    f->type->close(f->state); /* may call es_feed_closed() right here */
}

void es_feed_closed(es_feed *f)
{
    if (f->type->destroy != NULL) {
        f->type->destroy(f->state);
    }
    f->state = NULL;
    void (*cb)(void *, es_feed *) = f->env.on_closed;
    void *ud = f->env.ud;
    if (cb != NULL) {
        cb(ud, f);
    }
    free(f);
}
