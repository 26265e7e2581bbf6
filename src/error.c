/* Error codes and located errors: one table, see ES_ERRNO_MAP. */
#include "earshot.h"

#include <stdarg.h>
#include <stdio.h>

const char *es_strerror(int code)
{
    switch (code) {
    case ES_OK:
        return "success";
#define ES_ERRNO_STR(name, msg)                                                                    \
    case ES_E##name:                                                                               \
        return msg;
        ES_ERRNO_MAP(ES_ERRNO_STR)
#undef ES_ERRNO_STR
    default:
        return "unknown error";
    }
}

const char *es_err_name(int code)
{
    switch (code) {
    case ES_OK:
        return "ES_OK";
#define ES_ERRNO_NAME(name, msg)                                                                   \
    case ES_E##name:                                                                               \
        return "ES_E" #name;
        ES_ERRNO_MAP(ES_ERRNO_NAME)
#undef ES_ERRNO_NAME
    default:
        return "ES_EUNKNOWN";
    }
}

int es_error_set(es_error *err, int code, int line, int col, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    err->code = code;
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *es_version(void)
{
    return ES_VERSION " (git " ES_GIT_REV ")";
}
