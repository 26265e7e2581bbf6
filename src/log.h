/*
 * Logging: levels, a component prefix, and an optional JSON line format.
 * The macros check the level before formatting anything.
 *
 *   ES_LOG_WARN("feed:mastodon-acme", "HTTP %d, retry in %d s", 503, 4);
 *   -> 2026-11-23T18:00:00Z WARN [feed:mastodon-acme] HTTP 503, retry in 4 s
 */
#ifndef ES_LOG_H
#define ES_LOG_H

enum es_log_level { ES_LOG_DEBUG = 0, ES_LOG_INFO, ES_LOG_WARN, ES_LOG_ERROR, ES_LOG_OFF };

extern int es__log_level;

void es_log_set_level(int level);
/* Parse "debug", "info", "warn", "error", "off"; -1 if unknown. */
int es_log_level_parse(const char *s);
void es_log_set_json(int on);
void es__log(int level, const char *component, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define ES_LOG(level, comp, ...)                                                                   \
    do {                                                                                           \
        if ((level) >= es__log_level) {                                                            \
            es__log((level), (comp), __VA_ARGS__);                                                 \
        }                                                                                          \
    } while (0)
#define ES_LOG_DEBUG(comp, ...) ES_LOG(ES_LOG_DEBUG, comp, __VA_ARGS__)
#define ES_LOG_INFO(comp, ...) ES_LOG(ES_LOG_INFO, comp, __VA_ARGS__)
#define ES_LOG_WARN(comp, ...) ES_LOG(ES_LOG_WARN, comp, __VA_ARGS__)
#define ES_LOG_ERROR(comp, ...) ES_LOG(ES_LOG_ERROR, comp, __VA_ARGS__)

#endif
