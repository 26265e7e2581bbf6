/*
 * earshot: a streaming social-listening and sentiment engine.
 *
 * This is the public API, and only the public API. Conventions that hold for
 * every function declared under include/:
 *
 *   - Functions that can fail return 0 or a negative ES_E* code. Where a
 *     position matters (a config line, a query column, an input line) they
 *     also fill an es_error the caller passes in.
 *   - Handles are opaque and created by es_<object>_new / _load / _compile;
 *     the caller owns them and releases them with the matching _free.
 *   - Strings are UTF-8 and passed as (pointer, length); they need not be
 *     NUL-terminated unless a parameter says so.
 *   - Nothing here reads the clock. Event time is always passed in.
 */
#ifndef EARSHOT_H
#define EARSHOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One table makes the error enum, es_strerror() and es_err_name(). */
#define ES_ERRNO_MAP(X)                                                                            \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(IO, "input/output error")                                                                    \
    X(NOTFOUND, "not found")                                                                       \
    X(PARSE, "parse error")                                                                        \
    X(TOOBIG, "input exceeds its size limit")                                                      \
    X(UTF8, "invalid UTF-8")                                                                       \
    X(JSON, "invalid JSON")                                                                        \
    X(FIELD, "missing or mistyped field")                                                          \
    X(CONFIG, "invalid configuration")                                                             \
    X(QUERY, "invalid query")                                                                      \
    X(LEXICON, "invalid lexicon file")                                                             \
    X(STATE, "state store error")                                                                  \
    X(HTTP, "HTTP error")                                                                          \
    X(AGAIN, "try again later")                                                                    \
    X(CLOSED, "closed")                                                                            \
    X(TIMEOUT, "timed out")

typedef enum {
    ES_OK = 0,
#define ES_ERRNO_ENUM(name, msg) ES_E##name,
    ES__ERR_FIRST = -64,
    ES_ERRNO_MAP(ES_ERRNO_ENUM)
#undef ES_ERRNO_ENUM
    ES__ERR_LAST
} es_errno;

/* Human text and the symbolic name ("ES_ENOMEM") of an error code. */
const char *es_strerror(int code);
const char *es_err_name(int code);

/*
 * A located error. `file`, `line` and `col` are 0/empty when they do not
 * apply; lines and columns count from 1. `msg` is a complete sentence
 * fragment such as "unknown key 'colour' in topic 'acme'".
 */
typedef struct es_error {
    int code;
    int line;
    int col;
    char file[256];
    char msg[512];
} es_error;

/* Fill `err` (if not NULL) and return `code`. printf-style message. */
int es_error_set(es_error *err, int code, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* "1.2.3 (git abcdef0)" */
const char *es_version(void);

/* A borrowed string slice. */
typedef struct es_str {
    const char *ptr;
    size_t len;
} es_str;

#ifdef __cplusplus
}
#endif

#include "earshot/mention.h"
#include "earshot/sentiment.h"

#endif
