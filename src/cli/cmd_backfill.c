/* earshot backfill: placeholder until the backfill command lands. */
#include "cli.h"

int es_cmd_backfill(int argc, char **argv)
{
    (void)argc;
    es_cli_usage_error(argv[0], "not built yet");
    return ES_EXIT_USAGE;
}
