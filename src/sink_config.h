/*
 * A sink from its config item: the one path from `sinks:` in the file to
 * es_sink_new(), shared by the live engine and by tests, so what a user
 * writes is what the sink gets.
 *
 * The config schema (src/config_schema.c) and each sink type's option
 * table (src/sink_*.c) list the same keys with the same defaults; the keys
 * in es_sink_config_engine_keys are the only ones a sink does not see,
 * because the engine itself decides with them which alerts go where.
 * tests/test_sink_config.c holds the two sides to that.
 */
#ifndef ES_SINK_CONFIG_H
#define ES_SINK_CONFIG_H

#include "earshot.h"
#include "earshot/config.h"
#include "sink.h"

/* Keys of a sink's config item that are not sink options, NULL-terminated:
 * name, type, min_severity, kinds. */
extern const char *const es_sink_config_engine_keys[];

/*
 * Make the sink configured by `it` (an item of es_config_sink()): every
 * option of the sink type (the common ones and the type's own) that has a
 * value in the item, given or defaulted, is handed to es_sink_new(); secrets
 * given as *_env / *_file are read here, passed as secrets, and wiped once
 * the sink has copied them. On failure returns a negative ES_E* code and
 * fills err (at the item's line and column when the sink gave none). On
 * success the caller owns *out and frees it with es_sink_free(); nothing
 * in it points into the config.
 */
int es_sink_from_config(const es_config_item *it, es_sink **out, es_error *err);

#endif
