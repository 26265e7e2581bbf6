/* The command-line interface: one file per subcommand, no pipeline logic. */
#ifndef ES_CLI_H
#define ES_CLI_H

#include <stdio.h>

/* Exit codes of the contract. */
enum { ES_EXIT_OK = 0, ES_EXIT_INPUT = 1, ES_EXIT_USAGE = 2 };

/* Each subcommand gets argv with argv[0] = the subcommand's name. */
int es_cmd_score(int argc, char **argv);
int es_cmd_spikes(int argc, char **argv);
int es_cmd_backfill(int argc, char **argv);
int es_cmd_check(int argc, char **argv);
int es_cmd_run(int argc, char **argv);
int es_cmd_alerts(int argc, char **argv);
int es_cmd_top(int argc, char **argv);

/*
 * The lexicon directory to use when --lexicons is not given: next to an
 * installed binary (BINDIR/../share/earshot/lexicons), then the source tree
 * the binary was built from, then the configured install prefix. Returns a
 * static string; never NULL (the last candidate is returned even if absent,
 * so the error message names it).
 */
const char *es_cli_default_lexicons(void);

/* Print "earshot CMD: message" to stderr. */
void es_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
