/* Log lines to stderr, plain or JSON. */
#include "log.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int es__log_level = ES_LOG_INFO;
static int log_json;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void es_log_set_level(int level)
{
    es__log_level = level;
}

int es_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void es_log_set_json(int on)
{
    log_json = on;
}

void es__log(int level, const char *component, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char ts[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *lvl = level_names[level < 0 ? 0 : level > 3 ? 3 : level];

    if (log_json) {
        es_buf b;
        es_buf_init(&b, 8192);
        es_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts, lvl);
        es_buf_json_str(&b, component, strlen(component));
        es_buf_adds(&b, ",\"msg\":");
        es_buf_json_str(&b, msg, strlen(msg));
        es_buf_adds(&b, "}\n");
        if (b.data != NULL) {
            fputs(b.data, stderr);
        }
        es_buf_free(&b);
    } else {
        fprintf(stderr, "%s %s [%s] %s\n", ts, lvl, component, msg);
    }
}
