/* earshot backfill: the pipeline over files of past mentions, in event time. */
#include "backfill.h"
#include "cli.h"
#include "earshot.h"
#include "earshot/config.h"
#include "timefmt.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: earshot backfill -c CONFIG [--format FMT] [--emit alerts|mentions|all]\n"
            "                        [--out FILE] [--since TIME] [--until TIME]\n"
            "                        [--memory MiB] [--lexicons DIR] [--summary] [--progress]\n"
            "                        [--report FILE.html]\n"
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
            "\n"
            "Bad input lines are reported on stderr as FILE:LINE and skipped.\n"
            "Exit status: 0 done, 1 bad input or config, 2 usage.\n");
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
    es_backfill_stats st;
    int rc = es_backfill_run(&o, &st, &err);
    if (out_path != NULL && fclose(o.out) != 0 && rc == 0) {
        perror(out_path);
        rc = ES_EIO;
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
    fprintf(stderr,
            "earshot backfill: %llu mentions (%llu bad, %llu outside --since/--until), "
            "%llu matched a topic, %llu complaints, %llu alerts; %.2f s reading, %.2f s "
            "processing\n",
            (unsigned long long)st.mentions, (unsigned long long)st.bad,
            (unsigned long long)st.out_of_range, (unsigned long long)st.matched,
            (unsigned long long)st.complaints, (unsigned long long)st.alerts, st.read_seconds,
            st.process_seconds);
    return st.bad > 0 && st.mentions == 0 ? ES_EXIT_INPUT : ES_EXIT_OK;
}
