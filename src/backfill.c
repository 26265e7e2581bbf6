/* Backfill: decode inputs into the external sorter, then run the pipeline
 * over them in event-time order. */
#include "backfill.h"
#include "buf.h"
#include "config.h"
#include "detect.h"
#include "mention_json.h"
#include "mention_pack.h"
#include "pipeline.h"
#include "report.h"
#include "spill.h"
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUT_FLUSH (1 << 16)
#define OUT_MAX (64u << 20)
#define READ_CHUNK (1 << 16)

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct run {
    const es_backfill_opts *o;
    es_backfill_stats *st;
    es_spill *spill;
    es_buf pack;
    es_buf out;
    const char *input_name;
    int fatal;
    /* Progress. */
    uint64_t bytes_total, bytes_done;
    double t_start, t_last;
    bool progress_shown;
    /* --summary: counts per kind and severity, and the wave alerts' lines. */
    uint64_t by_kind[ES_ALERT_FEED_STALLED + 1][ES_SEV_CRITICAL + 1];
    es_buf summary;
    size_t summary_lines;
    es_report *report; /* --report: the collector, else NULL */
    es_pipeline *pipe; /* for the on_alert hook's mention */
};

#define SUMMARY_MAX_LINES 200

/* Remember an alert for the human summary printed at the end. Individual
 * complaints are only counted; everything else is listed. */
static void summarize(struct run *r, const es_alert *a)
{
    if (a->resolved) {
        return;
    }
    r->by_kind[a->kind][a->severity]++;
    if (a->kind == ES_ALERT_COMPLAINT || r->summary_lines >= SUMMARY_MAX_LINES) {
        return;
    }
    char at[32];
    es_time_format(a->at_ms, at);
    es_buf_printf(&r->summary, "  %s  %-14s %-8s %s\n", at, es_alert_kind_name(a->kind),
                  es_severity_name(a->severity), a->summary != NULL ? a->summary : "");
    r->summary_lines++;
}

static void print_summary(struct run *r)
{
    fprintf(stderr, "\nwhat backfill found:\n");
    if (r->summary.len > 0) {
        fputs(r->summary.data, stderr);
    }
    if (r->summary_lines >= SUMMARY_MAX_LINES) {
        fprintf(stderr, "  ... (more in the alert output)\n");
    }
    uint64_t *c = r->by_kind[ES_ALERT_COMPLAINT];
    uint64_t total = c[ES_SEV_INFO] + c[ES_SEV_WARNING] + c[ES_SEV_CRITICAL];
    fprintf(stderr,
            "  %llu individual complaints need a person (%llu critical, %llu warning, "
            "%llu info)\n",
            (unsigned long long)total, (unsigned long long)c[ES_SEV_CRITICAL],
            (unsigned long long)c[ES_SEV_WARNING], (unsigned long long)c[ES_SEV_INFO]);
}

static void progress(struct run *r, const char *phase, double frac, uint64_t count, bool force)
{
    if (!r->o->progress) {
        return;
    }
    double t = now_seconds();
    if (!force && t - r->t_last < 0.25) {
        return;
    }
    r->t_last = t;
    double el = t - r->t_start;
    double rate = el > 0 ? (double)count / el : 0;
    char eta[32] = "";
    if (frac > 0.001 && frac < 1) {
        snprintf(eta, sizeof eta, ", ETA %.0f s", el / frac - el);
    }
    if (frac >= 0) {
        fprintf(stderr, "\r\033[Kbackfill: %s %5.1f%%, %llu mentions, %.0f mentions/s%s", phase,
                frac * 100, (unsigned long long)count, rate, eta);
    } else {
        fprintf(stderr, "\r\033[Kbackfill: %s %llu mentions, %.0f mentions/s", phase,
                (unsigned long long)count, rate);
    }
    r->progress_shown = true;
}

static int flush_out(struct run *r)
{
    if (r->out.len == 0) {
        return 0;
    }
    if (fwrite(r->out.data, 1, r->out.len, r->o->out) != r->out.len) {
        return ES_EIO;
    }
    es_buf_reset(&r->out);
    return 0;
}

/* Ties in event time are broken by the id, so the processing order (and so
 * every alert) does not depend on the order of the input. */
static uint64_t id_hash(es_str id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < id.len; i++) {
        h = (h ^ (unsigned char)id.ptr[i]) * 0x100000001b3ULL;
    }
    return h;
}

static int on_decoded(void *ud, const es_mention *m, uint64_t line)
{
    struct run *r = ud;
    (void)line;
    r->st->records++;
    if ((r->o->since_ms != ES_TIME_UNKNOWN && m->created_ms < r->o->since_ms) ||
        (r->o->until_ms != ES_TIME_UNKNOWN && m->created_ms >= r->o->until_ms)) {
        r->st->out_of_range++;
        return 0;
    }
    es_buf_reset(&r->pack);
    int rc = es_mention_pack(m, (r->o->emit & ES_EMIT_MENTIONS) != 0, &r->pack);
    if (rc == 0) {
        rc = es_spill_add(r->spill, m->created_ms, id_hash(m->id), r->pack.data, r->pack.len);
    }
    if (rc == ES_ETOOBIG) {
        fprintf(stderr, "%s:%llu: mention too large to sort, skipped\n", r->input_name,
                (unsigned long long)line);
        r->st->bad++;
        return 0;
    }
    if (rc != 0) {
        r->fatal = rc;
    }
    return rc;
}

static void on_bad(void *ud, const es_error *e)
{
    struct run *r = ud;
    r->st->bad++;
    fprintf(stderr, "%s%s:%d: %s\n", r->progress_shown ? "\r\033[K" : "", r->input_name, e->line,
            e->msg);
}

static int read_input(struct run *r, const char *path, es_error *err)
{
    int fd = 0;
    r->input_name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (strcmp(path, "-") != 0) {
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            return es_error_set(err, ES_EIO, 0, 0, "cannot open %s: %s", path, strerror(errno));
        }
    }
    es_decoder_opts dopts = {
        .format = r->o->format,
        .flags = ES_DECODE_REQUIRE_TIME,
        .on_mention = on_decoded,
        .on_error = on_bad,
        .ud = r,
    };
    es_decoder *d;
    int rc = es_decoder_new(&dopts, &d);
    if (rc != 0) {
        if (fd != 0) {
            close(fd);
        }
        return es_error_set(err, rc, 0, 0, "cannot create a decoder: %s", es_strerror(rc));
    }
    static char chunk[READ_CHUNK];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = es_error_set(err, ES_EIO, 0, 0, "reading %s: %s", r->input_name, strerror(errno));
            break;
        }
        if (n == 0) {
            rc = es_decoder_finish(d);
            break;
        }
        r->bytes_done += (uint64_t)n;
        rc = es_decoder_feed(d, chunk, (size_t)n);
        if (rc != 0) {
            break;
        }
        progress(r, "reading",
                 r->bytes_total ? (double)r->bytes_done / (double)r->bytes_total : -1,
                 r->st->records, false);
    }
    if (rc != 0 && r->fatal != 0 && err->code == 0) {
        es_error_set(err, r->fatal, 0, 0, "sorting mentions: %s", es_strerror(r->fatal));
        rc = r->fatal;
    }
    es_decoder_free(d);
    if (fd != 0) {
        close(fd);
    }
    return rc;
}

static int on_alert(void *ud, const es_alert *a)
{
    struct run *r = ud;
    if (r->o->summary) {
        summarize(r, a);
    }
    if (r->report != NULL) {
        int rc = es_report_add_alert(r->report, a);
        if (rc != 0) {
            return rc;
        }
    }
    if (r->o->on_alert != NULL) {
        es_intent_kind ik = ES_INTENT_OTHER;
        const es_mention *m = r->pipe != NULL ? es_pipeline_current(r->pipe, &ik) : NULL;
        int rc = r->o->on_alert(r->o->ud, a, m, ik);
        if (rc != 0) {
            return rc;
        }
    }
    if (!(r->o->emit & ES_EMIT_ALERTS)) {
        return 0;
    }
    int rc = es_alert_to_json(a, &r->out);
    rc = rc ? rc : es_buf_addc(&r->out, '\n');
    if (rc == 0 && r->out.len >= OUT_FLUSH) {
        rc = flush_out(r);
    }
    return rc;
}

static int on_mention(void *ud, const es_mention *m, const es_pipeline_result *res)
{
    struct run *r = ud;
    if (r->report != NULL) {
        int rc = es_report_add_mention(r->report, m, res);
        if (rc != 0) {
            return rc;
        }
    }
    if (!(r->o->emit & ES_EMIT_MENTIONS)) {
        return 0;
    }
    const es_topics *topics = es_config_topics(r->o->config);
    if (topics != NULL && es_topics_count(topics) > 0 && res->n_topics == 0) {
        return 0; /* with topics configured, only mentions about them */
    }
    /* The enrichment, as extra members appended to the mention object. */
    es_buf extra;
    es_buf_init(&extra, 1 << 20);
    int rc = es_buf_adds(&extra, ",\"topics\":[");
    for (size_t i = 0; rc == 0 && i < res->n_topics; i++) {
        const char *name = es_topics_name(topics, res->topics[i]);
        rc = i ? es_buf_addc(&extra, ',') : 0;
        rc = rc ? rc : es_buf_json_str(&extra, name, strlen(name));
    }
    rc = rc ? rc : es_buf_adds(&extra, "],\"sentiment\":{\"compound\":");
    rc = rc ? rc : es_buf_json_fixed(&extra, res->sentiment.compound, 4);
    rc = rc ? rc : es_buf_adds(&extra, ",\"pos\":");
    rc = rc ? rc : es_buf_json_fixed(&extra, res->sentiment.pos, 3);
    rc = rc ? rc : es_buf_adds(&extra, ",\"neu\":");
    rc = rc ? rc : es_buf_json_fixed(&extra, res->sentiment.neu, 3);
    rc = rc ? rc : es_buf_adds(&extra, ",\"neg\":");
    rc = rc ? rc : es_buf_json_fixed(&extra, res->sentiment.neg, 3);
    rc = rc ? rc : es_buf_printf(&extra, "},\"intent\":\"%s\",\"complaint\":",
                                 es_intent_name(res->intent.kind));
    rc = rc ? rc : es_buf_json_fixed(&extra, res->intent.complaint, 3);
    rc = rc ? rc : es_buf_adds(&extra, ",\"why\":");
    rc = rc ? rc : es_intent_why_json(&res->intent, &extra);
    rc = rc ? rc : es_mention_write_json(m, &r->out, extra.data, extra.len);
    rc = rc ? rc : es_buf_addc(&r->out, '\n');
    es_buf_free(&extra);
    if (rc == 0 && r->out.len >= OUT_FLUSH) {
        rc = flush_out(r);
    }
    return rc;
}

int es_backfill_run(const es_backfill_opts *o, es_backfill_stats *st, es_error *err)
{
    memset(st, 0, sizeof *st);
    struct run r = {.o = o, .st = st};
    es_buf_init(&r.pack, 64u << 20);
    es_buf_init(&r.out, OUT_MAX);
    es_buf_init(&r.summary, 1u << 20);
    es_lexicon *lex = NULL;
    es_cues *cues = NULL;
    es_detect_params *params = NULL;
    es_pipeline *pipe = NULL;
    int rc;

    const es_topics *topics = es_config_topics(o->config);
    size_t n_topics = topics != NULL ? es_topics_count(topics) : 0;
    /* The config holds each topic's effective detector settings. */
    params = calloc(n_topics ? n_topics : 1, sizeof *params);
    if (params == NULL) {
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_topics; i++) {
        params[i] = *es__config_detect(o->config, i);
    }
    rc = es_lexicon_load(o->lexicons_dir, &lex, err);
    if (rc == 0) {
        rc = es_cues_load(o->lexicons_dir, &cues, err);
    }
    if (rc != 0) {
        goto done;
    }
    rc = es_spill_new(o->memory_budget ? o->memory_budget : (256u << 20), o->tmpdir, &r.spill);
    if (rc != 0) {
        es_error_set(err, rc, 0, 0, "cannot set up sorting: %s", es_strerror(rc));
        goto done;
    }

    /* Phase 1: read and sort. */
    for (size_t i = 0; i < o->n_inputs; i++) {
        struct stat sb;
        if (strcmp(o->inputs[i], "-") != 0 && stat(o->inputs[i], &sb) == 0) {
            r.bytes_total += (uint64_t)sb.st_size;
        }
    }
    r.t_start = now_seconds();
    for (size_t i = 0; i < o->n_inputs; i++) {
        rc = read_input(&r, o->inputs[i], err);
        if (rc != 0) {
            goto done;
        }
    }
    rc = es_spill_finish(r.spill);
    if (rc != 0) {
        es_error_set(err, rc, 0, 0, "sorting mentions: %s", es_strerror(rc));
        goto done;
    }
    double t_read = now_seconds();
    st->read_seconds = t_read - r.t_start;

    /* Phase 2: the pipeline in event time. */
    es_pipeline_opts popts = {
        .topics = topics,
        .params = params,
        .viral_params = es__config_detect(o->config, (size_t)-1),
        .lex = lex,
        .cues = cues,
        .on_alert = on_alert,
        .on_mention = on_mention,
        .ud = &r,
    };
    if (o->report_path != NULL) {
        es_report_opts ropts = {.topics = topics};
        rc = es_report_new(&ropts, &r.report);
        if (rc != 0) {
            es_error_set(err, rc, 0, 0, "cannot set up the report: %s", es_strerror(rc));
            goto done;
        }
    }
    rc = es_pipeline_new(&popts, &pipe);
    if (rc != 0) {
        es_error_set(err, rc, 0, 0, "cannot build the pipeline: %s", es_strerror(rc));
        goto done;
    }
    r.pipe = pipe;
    es_spill_stats ss;
    es_spill_stats_get(r.spill, &ss);
    st->runs_spilled = ss.runs_spilled;
    uint64_t total = ss.records, done_n = 0;
    r.t_start = now_seconds();
    int64_t key;
    const void *rec;
    size_t len;
    while ((rc = es_spill_next(r.spill, &key, &rec, &len)) == 1) {
        es_mention m;
        es_mention_clear(&m);
        if (es_mention_unpack(rec, len, &m) != 0) {
            rc = es_error_set(err, ES_EIO, 0, 0, "sort run is corrupt");
            goto done;
        }
        rc = es_pipeline_process(pipe, &m);
        if (rc != 0) {
            es_error_set(err, rc, 0, 0, "writing output: %s", es_strerror(rc));
            goto done;
        }
        if ((++done_n & 1023) == 0) {
            progress(&r, "processing", total ? (double)done_n / (double)total : 0, done_n, false);
        }
    }
    if (rc < 0) {
        es_error_set(err, rc, 0, 0, "reading sort runs: %s", es_strerror(rc));
        goto done;
    }
    rc = es_pipeline_finish(pipe);
    rc = rc ? rc : flush_out(&r);
    if (rc == 0 && fflush(o->out) != 0) {
        rc = ES_EIO;
    }
    if (rc != 0) {
        es_error_set(err, rc, 0, 0, "writing output: %s", es_strerror(rc));
        goto done;
    }
    st->process_seconds = now_seconds() - r.t_start;
    es_pipeline_stats ps;
    es_pipeline_stats_get(pipe, &ps);
    st->mentions = ps.mentions;
    st->matched = ps.matched;
    st->complaints = ps.complaints;
    st->alerts = ps.alerts;
    if (o->summary) {
        print_summary(&r);
    }
    if (r.report != NULL) {
        rc = es_report_save(r.report, o->report_path, err);
        if (rc != 0) {
            goto done;
        }
    }

done:
    if (r.progress_shown) {
        fputs("\r\033[K", stderr);
    }
    es_report_free(r.report);
    es_pipeline_free(pipe);
    es_spill_free(r.spill);
    es_cues_free(cues);
    es_lexicon_free(lex);
    free(params);
    es_buf_free(&r.pack);
    es_buf_free(&r.out);
    es_buf_free(&r.summary);
    return rc;
}
