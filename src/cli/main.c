/* earshot: the command-line entry point. Dispatches to one subcommand. */
#include "cli.h"
#include "earshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"score", es_cmd_score, "score texts for sentiment and intent"},
    {"backfill", es_cmd_backfill, "run the pipeline over past mentions in event time"},
    {"spikes", es_cmd_spikes, "run the spike detector over count series (CSV)"},
    {"check", es_cmd_check, "validate a config and say what it would do"},
    {"run", es_cmd_run, "live: stream mentions from the feeds to the sinks until stopped"},
    {"alerts", es_cmd_alerts, "list, acknowledge and resolve alerts; dead letters; silences"},
    {"top", es_cmd_top, "live terminal view of a running engine (its admin endpoint)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: earshot COMMAND [OPTIONS] [ARGS...]\n\n"
                 "earshot listens to social mentions of your brand, scores their sentiment\n"
                 "and intent, detects spikes and complaint waves, and escalates alerts.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(out, "\n`earshot COMMAND --help` describes a command; `earshot --version` prints "
                 "the version.\n");
}

void es_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "earshot %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *es_cli_default_lexicons(void)
{
    static char path[4096];
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/../share/earshot/lexicons", exe);
            if (is_dir(path)) {
                return path;
            }
        }
    }
    if (is_dir(ES_SOURCE_LEXICONS)) {
        return ES_SOURCE_LEXICONS;
    }
    return ES_INSTALL_LEXICONS;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ES_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return ES_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("earshot %s\n", es_version());
        return ES_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "earshot: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return ES_EXIT_USAGE;
}
