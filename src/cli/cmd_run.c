/* earshot run: the live engine, until SIGINT/SIGTERM. */
#include "cli.h"
#include "earshot.h"
#include "engine.h"
#include "log.h"
#include "timefmt.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: earshot run -c CONFIG [--log-level L] [--log-json] [--exit-when-done]\n"
            "                   [--lexicons DIR] [--stats-interval DURATION]\n"
            "                   [--drain-timeout DURATION]\n\n"
            "Stream mentions from the configured feeds through the pipeline to the sinks.\n"
            "SIGINT/SIGTERM stop gracefully (feeds stop, sinks drain); SIGHUP reloads the\n"
            "config, keeping the running one if the new one is invalid.\n\n"
            "  -c, --config FILE          the config (required)\n"
            "      --log-level L          debug, info, warn or error (default: the config's)\n"
            "      --log-json             one JSON object per log line\n"
            "      --exit-when-done       exit 0 once every feed has finished (a file feed\n"
            "                             at its end) and every alert is delivered\n"
            "      --lexicons DIR         lexicon directory (default: the config's, or the\n"
            "                             installed lexicons)\n"
            "      --stats-interval D     log per-feed counters this often (default 1m; 0: never)\n"
            "      --drain-timeout D      longest wait for the sinks at shutdown (default 10s)\n");
}

int es_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-json", no_argument, NULL, 'j'},
        {"exit-when-done", no_argument, NULL, 'x'},
        {"lexicons", required_argument, NULL, 'L'},
        {"stats-interval", required_argument, NULL, 's'},
        {"drain-timeout", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    es_engine_opts o = {
        .log_level = -1,
        .log_json = -1,
        .default_lexicons = es_cli_default_lexicons(),
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        int64_t ms;
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'l':
            o.log_level = es_log_level_parse(optarg);
            if (o.log_level < 0) {
                es_cli_usage_error("run", "unknown log level '%s'", optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case 'j':
            o.log_json = 1;
            break;
        case 'x':
            o.exit_when_done = true;
            break;
        case 'L':
            o.lexicons_dir = optarg;
            break;
        case 's':
        case 'd':
            if (es_duration_parse(optarg, &ms) != 0 || ms < 0) {
                es_cli_usage_error("run", "bad duration '%s'", optarg);
                return ES_EXIT_USAGE;
            }
            if (c == 's') {
                o.stats_interval_ms = ms == 0 ? -1 : ms;
            } else {
                o.drain_timeout_ms = ms;
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
    if (o.config_path == NULL) {
        es_cli_usage_error("run", "-c CONFIG is required");
        usage(stderr);
        return ES_EXIT_USAGE;
    }
    if (optind < argc) {
        es_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
        return ES_EXIT_USAGE;
    }
    if (o.log_level >= 0) {
        es_log_set_level(o.log_level);
    }
    if (o.log_json > 0) {
        es_log_set_json(1);
    }
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = es_engine_run(&o, &err);
    if (rc != 0) {
        if (err.line > 0) {
            fprintf(stderr, "earshot run: %s:%d:%d: %s\n", err.file[0] ? err.file : o.config_path,
                    err.line, err.col, err.msg);
        } else {
            fprintf(stderr, "earshot run: %s\n", err.msg[0] ? err.msg : es_strerror(rc));
        }
        return ES_EXIT_INPUT;
    }
    return ES_EXIT_OK;
}
