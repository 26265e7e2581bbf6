/*
 * A growable byte buffer with a ceiling set when it is created. Every buffer
 * fed from outside the process is one of these: growing past the ceiling is
 * an error (ES_ETOOBIG) the caller sees, never a silent unbounded realloc.
 * The contents are always NUL-terminated (the NUL is not counted in len).
 */
#ifndef ES_BUF_H
#define ES_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct es_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* ceiling for len */
} es_buf;

void es_buf_init(es_buf *b, size_t max);
void es_buf_free(es_buf *b);
/* Forget the contents, keep the memory. */
static inline void es_buf_reset(es_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}
int es_buf_reserve(es_buf *b, size_t extra);
int es_buf_add(es_buf *b, const void *p, size_t n);
int es_buf_addc(es_buf *b, char c);
int es_buf_adds(es_buf *b, const char *s);
int es_buf_printf(es_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* JSON helpers: append a quoted, escaped JSON string (invalid UTF-8 is
 * replaced by U+FFFD so the output is always valid JSON). */
int es_buf_json_str(es_buf *b, const char *s, size_t n);
/* Append a number the way the contract prints it: shortest form, at most
 * `decimals` decimals, always with a fractional part ("0.0", "-0.5423"). */
int es_buf_json_fixed(es_buf *b, double v, int decimals);
/* The same number written to o (ES_FMT_FIXED_MAX bytes of room, not
 * terminated), for writers that fill a buffer directly; returns the length. */
#define ES_FMT_FIXED_MAX 48
size_t es_fmt_fixed(char *o, double v, int decimals);
int es_buf_json_int(es_buf *b, int64_t v);

#endif
