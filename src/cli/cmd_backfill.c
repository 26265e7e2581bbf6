/* earshot backfill: the pipeline over files of past mentions, in event time. */
#include "backfill.h"
#include "cli.h"
#include "deliver.h"
#include "earshot.h"
#include "earshot/config.h"
#include "route.h"
#include "route_sink.h"
#include "sink_config.h"
#include "spool.h"
#include "timefmt.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: earshot backfill -c CONFIG [--format FMT] [--emit alerts|mentions|all]\n"
            "                        [--out FILE] [--since TIME] [--until TIME]\n"
            "                        [--memory MiB] [--lexicons DIR] [--summary] [--progress]\n"
            "                        [--report FILE.html] [--deliver [--deliver-timeout D]]\n"
            "                        [INPUT...]\n"
            "\n"
            "Run the pipeline (topics, sentiment, intent, detectors) over files of past\n"
            "mentions in event time, and write alerts, enriched mentions, or both as NDJSON.\n"
            "Inputs need not be in time order; `-` or no INPUT reads stdin.\n"
            "\n"
            "  -c, --config FILE    the YAML config (topics and detector settings)\n"
            "  -f, --format FMT     input format: auto (default), earshot, mastodon,\n"
            "                       twitter-v2, reddit, hn, bluesky, jsonfeed\n"
            "  -e, --emit WHAT      alerts (default), mentions (only those matching a\n"
            "                       topic), or all (both, interleaved in event time)\n"
            "  -o, --out FILE       write there instead of stdout\n"
            "      --since TIME     skip mentions before TIME (RFC 3339 or epoch seconds)\n"
            "      --until TIME     skip mentions at or after TIME\n"
            "      --memory MiB     memory for sorting before spilling to disk (default 256)\n"
            "      --lexicons DIR   lexicon directory (default: the installed lexicons)\n"
            "      --summary        print a readable summary of what was found on stderr\n"
            "      --report FILE    also write a self-contained HTML report (charts per\n"
            "                       topic with the alerts marked, top complaints, authors,\n"
            "                       competitors side by side, the alerts table)\n"
            "      --progress       show a progress line on stderr (default: when stderr is\n"
            "                       a terminal); --no-progress never shows it\n"
            "      --deliver        also send the alerts to the config's sinks, routed in\n"
            "                       event time (route:), through the spool at its state:\n"
            "                       file; exit 1 if any is left undelivered (still spooled\n"
            "                       for `earshot run` or `earshot alerts` to deliver)\n"
            "      --deliver-timeout D  how long to keep trying (default 60s)\n"
            "\n"
            "Bad input lines are reported on stderr as FILE:LINE and skipped.\n"
            "Exit status: 0 done, 1 bad input or config, 2 usage.\n");
}

/* ---- --deliver ------------------------------------------------------------ */

/* Group updates due within this long after the last mention are still
 * sent, so the tail of the history is not held in a group forever; later
 * repeats and escalation climbs are not simulated. */
#define FLUSH_HORIZON_MS (3600LL * 1000)

typedef struct bf_deliver {
    const es_config *cfg;
    es_spool *spool;
    es_deliver *dl;
    es_sink **sinks;
    es_sink_filter *filters;
    size_t n_sinks;
    es_route_conf *rconf;
    es_router *router;
    es_route_sink_scratch scratch;
    int64_t last_event_ms;
    uint64_t spooled;
    const char *cur_sink;
} bf_deliver;

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t bf_sink_index(const bf_deliver *b, const char *name)
{
    for (size_t i = 0; i < b->n_sinks; i++) {
        if (strcmp(b->sinks[i]->name, name) == 0) {
            return i;
        }
    }
    return (size_t)-1;
}

static int bf_put(void *ud, const es_notification *n)
{
    bf_deliver *b = ud;
    int rc = es_deliver_enqueue(b->dl, b->cur_sink, n, wall_now());
    if (rc == 0) {
        b->spooled++;
    }
    return rc < 0 ? rc : 0;
}

/* The router's (or the direct path's) notification for one sink: through
 * its filter, one per alert for file/stdout (route_sink.h), into the spool. */
static int bf_emit(void *ud, const char *sink, const es_notification *n, int64_t at_ms)
{
    bf_deliver *b = ud;
    size_t i = bf_sink_index(b, sink);
    if (i == (size_t)-1) {
        return 0;
    }
    b->cur_sink = b->sinks[i]->name;
    /* Stamped with the event time it was due: that is when it "happened". */
    return es_route_for_sink(&b->filters[i], n, at_ms, &b->scratch, bf_put, b);
}

static bool bf_wants_all(void *ud, const char *sink)
{
    bf_deliver *b = ud;
    size_t i = bf_sink_index(b, sink);
    return i != (size_t)-1 && b->filters[i].per_alert;
}

static int bf_on_alert(void *ud, const es_alert *a, const es_mention *m, es_intent_kind intent)
{
    bf_deliver *b = ud;
    if (a->at_ms > b->last_event_ms) {
        b->last_event_ms = a->at_ms;
    }
    if (b->router != NULL) {
        es_label extra[3];
        char source[64];
        size_t nx = es_route_extra_labels(es_config_topics(b->cfg), a, m, intent, extra, source,
                                          sizeof source);
        return es_router_push(b->router, a, extra, nx, a->at_ms);
    }
    /* No route: every sink, one alert per notification, as `earshot run`. */
    char id[27];
    es_alert_make_id(a, id);
    es_notification one = {.key = id, .alerts = a, .n_alerts = 1, .count = 1, .sent_ms = a->at_ms};
    for (size_t i = 0; i < b->n_sinks; i++) {
        int rc = bf_emit(b, b->sinks[i]->name, &one, a->at_ms);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void bf_free(bf_deliver *b)
{
    es_router_free(b->router);
    es_route_conf_free(b->rconf);
    es_deliver_free(b->dl);
    for (size_t i = 0; i < b->n_sinks; i++) {
        es_sink_free(b->sinks[i]);
    }
    free(b->sinks);
    free(b->filters);
    es_spool_close(b->spool);
    es_route_sink_scratch_free(&b->scratch);
}

/* Sinks from the config (src/sink_config.c, as `earshot run` makes them),
 * the spool at the state path, and the router when there is `route:`. The
 * router gets no state database: silences and escalation incidents are the
 * live engine's, and history must not open or climb them. */
static int bf_setup(bf_deliver *b, const es_config *cfg, es_error *err)
{
    memset(b, 0, sizeof *b);
    b->cfg = cfg;
    b->last_event_ms = INT64_MIN;
    int rc = es_spool_open(es_config_state_path(cfg), &b->spool, err);
    if (rc != 0) {
        return rc;
    }
    if ((rc = es_deliver_new(b->spool, &b->dl)) != 0) {
        return es_error_set(err, rc, 0, 0, "cannot set up delivery: %s", es_strerror(rc));
    }
    size_t ns = es_config_sink_count(cfg);
    b->sinks = calloc(ns ? ns : 1, sizeof *b->sinks);
    b->filters = calloc(ns ? ns : 1, sizeof *b->filters);
    if (b->sinks == NULL || b->filters == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < ns; i++) {
        const es_config_item *it = es_config_sink(cfg, i);
        if ((rc = es_sink_from_config(it, &b->sinks[b->n_sinks], err)) != 0) {
            return rc;
        }
        es_sink_filter_from_config(it, &b->filters[b->n_sinks]);
        es_deliver_add_sink(b->dl, b->sinks[b->n_sinks]);
        b->n_sinks++;
    }
    if (es_config_has_route(cfg)) {
        if ((rc = es_route_conf_load(cfg, NULL, NULL, &b->rconf, err)) != 0) {
            return rc;
        }
        if ((rc = es_router_new(b->rconf, NULL, bf_emit, b, &b->router)) != 0) {
            return es_error_set(err, rc, 0, 0, "cannot make the router: %s", es_strerror(rc));
        }
        es_router_set_wants_all(b->router, bf_wants_all, b);
    }
    return 0;
}

/* After the pipeline: flush the router in event time, then send. Returns
 * the exit status. */
static int bf_finish(bf_deliver *b, int64_t timeout_ms)
{
    int rc = 0;
    if (b->router != NULL && b->last_event_ms != INT64_MIN) {
        rc = es_router_advance(b->router, b->last_event_ms + FLUSH_HORIZON_MS);
        /* And what still waits (a group_interval longer than the horizon). */
        rc = rc ? rc : es_router_flush_waiting(b->router, b->last_event_ms + FLUSH_HORIZON_MS);
    }
    if (rc != 0) {
        fprintf(stderr, "earshot backfill: routing: %s\n", es_strerror(rc));
        return ES_EXIT_INPUT;
    }
    int drc = es_deliver_run(b->dl, wall_now() + timeout_ms);
    es_deliver_stats ds;
    es_deliver_stats_get(b->dl, &ds);
    int64_t left = 0;
    for (size_t i = 0; i < b->n_sinks; i++) {
        int64_t n = 0;
        if (es_spool_count(b->spool, ES_SPOOL_PENDING, b->sinks[i]->name, &n) == 0) {
            left += n;
        }
        if (es_spool_count(b->spool, ES_SPOOL_INFLIGHT, b->sinks[i]->name, &n) == 0) {
            left += n;
        }
    }
    fprintf(stderr,
            "earshot backfill: delivery: %llu notifications spooled, %llu delivered, %llu "
            "retried, %llu dead-lettered, %lld left in the spool\n",
            (unsigned long long)b->spooled, (unsigned long long)ds.delivered,
            (unsigned long long)ds.retried, (unsigned long long)ds.dead, (long long)left);
    if (drc < 0 && drc != ES_ETIMEOUT) {
        fprintf(stderr, "earshot backfill: delivery: %s\n", es_strerror(drc));
        return ES_EXIT_INPUT;
    }
    if (left > 0 || ds.dead > 0) {
        fprintf(stderr,
                "earshot backfill: not everything was delivered; `earshot run` delivers what "
                "is left in the spool, `earshot alerts list|dlq|replay` shows it\n");
        return ES_EXIT_INPUT;
    }
    return ES_EXIT_OK;
}

static int parse_time_arg(const char *s, int64_t *ms)
{
    return es_time_parse(s, strlen(s), ms);
}

int es_cmd_backfill(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"emit", required_argument, NULL, 'e'},
        {"out", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"memory", required_argument, NULL, 'm'},
        {"lexicons", required_argument, NULL, 'L'},
        {"progress", no_argument, NULL, 'P'},
        {"no-progress", no_argument, NULL, 'N'},
        {"summary", no_argument, NULL, 's'},
        {"report", required_argument, NULL, 'R'},
        {"deliver", no_argument, NULL, 'D'},
        {"deliver-timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *out_path = NULL, *lexicons = NULL;
    es_backfill_opts o = {
        .format = ES_FORMAT_AUTO,
        .emit = ES_EMIT_ALERTS,
        .out = stdout,
        .since_ms = ES_TIME_UNKNOWN,
        .until_ms = ES_TIME_UNKNOWN,
        .progress = isatty(2),
    };
    bool deliver = false;
    int64_t deliver_timeout_ms = 60000;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:f:e:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            if (es_format_parse(optarg, &o.format) != 0) {
                es_cli_usage_error("backfill", "unknown format '%s'", optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case 'e':
            if (strcmp(optarg, "alerts") == 0) {
                o.emit = ES_EMIT_ALERTS;
            } else if (strcmp(optarg, "mentions") == 0) {
                o.emit = ES_EMIT_MENTIONS;
            } else if (strcmp(optarg, "all") == 0) {
                o.emit = ES_EMIT_ALL;
            } else {
                es_cli_usage_error("backfill", "--emit takes alerts, mentions or all, not '%s'",
                                   optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'S':
        case 'U':
            if (parse_time_arg(optarg, c == 'S' ? &o.since_ms : &o.until_ms) != 0) {
                es_cli_usage_error("backfill", "--%s: cannot read '%s' as a time",
                                   c == 'S' ? "since" : "until", optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case 'm': {
            char *end;
            long mib = strtol(optarg, &end, 10);
            if (*end != '\0' || mib < 1 || mib > 1 << 20) {
                es_cli_usage_error("backfill", "--memory takes a number of MiB, not '%s'", optarg);
                return ES_EXIT_USAGE;
            }
            o.memory_budget = (size_t)mib << 20;
            break;
        }
        case 'L':
            lexicons = optarg;
            break;
        case 'P':
            o.progress = true;
            break;
        case 'N':
            o.progress = false;
            break;
        case 's':
            o.summary = true;
            break;
        case 'R':
            o.report_path = optarg;
            break;
        case 'D':
            deliver = true;
            break;
        case 'T':
            if (es_duration_parse(optarg, &deliver_timeout_ms) != 0 || deliver_timeout_ms <= 0) {
                es_cli_usage_error("backfill", "--deliver-timeout takes a duration (30s, 5m), "
                                   "not '%s'", optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return ES_EXIT_OK;
        default:
            usage(stderr);
            return ES_EXIT_USAGE;
        }
    }
    if (config_path == NULL) {
        es_cli_usage_error("backfill", "a config is required: -c CONFIG");
        return ES_EXIT_USAGE;
    }
    static const char *const stdin_only[] = {"-"};
    if (optind < argc) {
        o.inputs = (const char *const *)(argv + optind);
        o.n_inputs = (size_t)(argc - optind);
    } else {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }

    es_error err = {0};
    es_config *cfg = NULL;
    if (es_config_load(config_path, &cfg, &err) != 0) {
        fprintf(stderr, "%s:%d:%d: %s\n", err.file[0] ? err.file : config_path, err.line,
                err.col, err.msg);
        return ES_EXIT_INPUT;
    }
    o.config = cfg;
    if (lexicons == NULL) {
        lexicons = es_config_lexicons_dir(cfg);
    }
    o.lexicons_dir = lexicons != NULL ? lexicons : es_cli_default_lexicons();
    if (out_path != NULL) {
        o.out = fopen(out_path, "w");
        if (o.out == NULL) {
            perror(out_path);
            es_config_free(cfg);
            return ES_EXIT_INPUT;
        }
    }
    bf_deliver bd;
    if (deliver) {
        if (bf_setup(&bd, cfg, &err) != 0) {
            fprintf(stderr, "%s:%d:%d: %s\n", err.file[0] ? err.file : config_path, err.line,
                    err.col, err.msg);
            bf_free(&bd);
            if (out_path != NULL) {
                fclose(o.out);
            }
            es_config_free(cfg);
            return ES_EXIT_INPUT;
        }
        o.on_alert = bf_on_alert;
        o.ud = &bd;
    }
    es_backfill_stats st;
    int rc = es_backfill_run(&o, &st, &err);
    if (out_path != NULL && fclose(o.out) != 0 && rc == 0) {
        perror(out_path);
        rc = ES_EIO;
    }
    int drc = ES_EXIT_OK;
    if (deliver) {
        if (rc == 0) {
            drc = bf_finish(&bd, deliver_timeout_ms);
        }
        bf_free(&bd);
    }
    es_config_free(cfg);
    if (rc != 0) {
        if (err.file[0]) {
            fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.msg);
        } else {
            fprintf(stderr, "earshot backfill: %s\n", err.msg[0] ? err.msg : es_strerror(rc));
        }
        return ES_EXIT_INPUT;
    }
    /* Counts of one read as "1 mention", not "1 mentions". */
#define PLURAL(n, one, many) (unsigned long long)(n), (n) == 1 ? (one) : (many)
    fprintf(stderr,
            "earshot backfill: %llu %s (%llu bad, %llu outside --since/--until), "
            "%llu matched a topic, %llu %s, %llu %s; %.2f s reading, %.2f s processing\n",
            PLURAL(st.mentions, "mention", "mentions"), (unsigned long long)st.bad,
            (unsigned long long)st.out_of_range, (unsigned long long)st.matched,
            PLURAL(st.complaints, "complaint", "complaints"), PLURAL(st.alerts, "alert", "alerts"),
            st.read_seconds, st.process_seconds);
#undef PLURAL
    if (drc != ES_EXIT_OK) {
        return drc;
    }
    return st.bad > 0 && st.mentions == 0 ? ES_EXIT_INPUT : ES_EXIT_OK;
}
