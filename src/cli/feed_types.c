/*
 * Link the HTTP feed types into the binary.
 *
 * feed.c looks the sse, ndjson and poll types up through weak references,
 * so that it links whether or not they exist. But a linker takes an object
 * out of a static library (earshot_core) only to satisfy a strong
 * reference, so without one the types would silently be missing from the
 * binary ("feed type 'sse' is not available in this build"). This table
 * is that strong reference.
 */
#include "feed.h"

const es_feed_type *const es__cli_http_feed_types[] = {
    &es_feed_type_sse,
    &es_feed_type_ndjson,
    &es_feed_type_poll,
};
