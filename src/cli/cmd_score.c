/* earshot score: placeholder until the score command lands. */
#include "cli.h"

int es_cmd_score(int argc, char **argv)
{
    (void)argc;
    es_cli_usage_error(argv[0], "not built yet");
    return ES_EXIT_USAGE;
}
