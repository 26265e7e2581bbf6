/* The normalized mention record. */
#include "earshot.h"

#include <string.h>

void es_mention_clear(es_mention *m)
{
    memset(m, 0, sizeof *m);
    m->created_ms = ES_TIME_UNKNOWN;
    m->followers = ES_COUNT_UNKNOWN;
    m->likes = ES_COUNT_UNKNOWN;
    m->reposts = ES_COUNT_UNKNOWN;
    m->replies = ES_COUNT_UNKNOWN;
}
