/* earshot spikes: placeholder until the spikes command lands. */
#include "cli.h"

int es_cmd_spikes(int argc, char **argv)
{
    (void)argc;
    es_cli_usage_error(argv[0], "not built yet");
    return ES_EXIT_USAGE;
}
