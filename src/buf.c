/* Bounded growable buffers and the JSON writing helpers built on them. */
#include "buf.h"
#include "earshot.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void es_buf_init(es_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void es_buf_free(es_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int es_buf_reserve(es_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        return ES_ETOOBIG;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        return ES_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int es_buf_add(es_buf *b, const void *p, size_t n)
{
    int rc = es_buf_reserve(b, n);
    if (rc != 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int es_buf_addc(es_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return es_buf_add(b, &c, 1);
}

int es_buf_adds(es_buf *b, const char *s)
{
    return es_buf_add(b, s, strlen(s));
}

int es_buf_printf(es_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return ES_EINVAL;
    }
    int rc = es_buf_reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero if some byte of x is < 0x20, '"', '\\' or >= 0x80. Each test is
 * the classic "has a zero byte" trick, exact once bytes >= 0x80 are
 * excluded first (they are reported anyway). */
static uint64_t swar_needs_escape(uint64_t x)
{
    uint64_t lo = x - ONES * 0x20;                  /* high bit: byte < 0x20 */
    uint64_t q = (x ^ (ONES * '"')) - ONES;          /* high bit: byte == '"' */
    uint64_t bs = (x ^ (ONES * '\\')) - ONES;        /* high bit: byte == '\\' */
    return ((lo | q | bs) & ~x & HIGHS) | (x & HIGHS);
}

int es_buf_json_str(es_buf *b, const char *s, size_t n)
{
    /* Worst case is 6 bytes per input byte (\u00XX); reserve once. */
    if (n > (SIZE_MAX - 2) / 6) {
        return ES_ETOOBIG;
    }
    int rc = es_buf_reserve(b, n * 6 + 2);
    if (rc != 0) {
        return rc;
    }
    static const char hex[] = "0123456789abcdef";
    char *o = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        /* Eight bytes at a time while none needs escaping (no control
         * byte, quote, backslash or non-ASCII byte): JSON strings are
         * mostly plain text, and backfill quotes every alert's texts. */
        while (n - i >= 8) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            if (swar_needs_escape(x)) {
                break;
            }
            memcpy(o, &x, 8);
            o += 8;
            i += 8;
        }
        if (i >= n) {
            break;
        }
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        size_t l = es_utf8_valid_len(p + i, n - i);
        if (l == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(o, p + i, l);
            o += l;
            i += l;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/*
 * The common case of es_buf_json_fixed without printf, which costs ~1,500
 * instructions a number and showed up at 5% of `earshot score` and in the
 * alert JSON of backfill. m = v * 10^decimals rounded to the nearest
 * integer; fma gives the exact remainder v * 10^d - m, so m is right unless
 * the true product lies within a hair of a half, where printf's exact
 * round-half-even decides: those (rare) values return -1 and take the
 * printf path, as do magnitudes whose scaled value does not fit exactly in
 * a double. Writes at most 32 bytes to o; returns the length or -1.
 */
static int fixed_fast(char *o, double v, int decimals)
{
    static const double pow10[10] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (decimals < 1 || decimals > 9) {
        return -1;
    }
    double scale = pow10[decimals];
    double x = v * scale;
    if (!(fabs(x) < 4e15)) {
        return -1;
    }
    double m = nearbyint(x);
    double r = fma(v, scale, -m);
    if (fabs(fabs(r) - 0.5) < 1e-6) {
        return -1;
    }
    if (r > 0.5) {
        m += 1;
    } else if (r < -0.5) {
        m -= 1;
    }
    int neg = m < 0;
    uint64_t u = (uint64_t)(neg ? -m : m);
    uint64_t div = (uint64_t)scale;
    uint64_t ip = u / div, fp = u % div;
    char *p = o;
    if (neg) {
        *p++ = '-'; /* never "-0.0": m == 0 prints unsigned */
    }
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip > 0);
    while (k > 0) {
        *p++ = tmp[--k];
    }
    *p++ = '.';
    char digits[9];
    for (int i = decimals - 1; i >= 0; i--) {
        digits[i] = (char)('0' + fp % 10);
        fp /= 10;
    }
    int last = decimals - 1; /* trailing zeros go, one digit stays */
    while (last > 0 && digits[last] == '0') {
        last--;
    }
    memcpy(p, digits, (size_t)last + 1);
    p += last + 1;
    return (int)(p - o);
}

size_t es_fmt_fixed(char *o, double v, int decimals)
{
    if (!isfinite(v)) {
        memcpy(o, "0.0", 3);
        return 3;
    }
    int fast = fixed_fast(o, v, decimals);
    if (fast > 0) {
        return (size_t)fast;
    }
    char tmp[ES_FMT_FIXED_MAX + 8];
    int n = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    if (n <= 0 || (size_t)n > ES_FMT_FIXED_MAX) {
        memcpy(o, "0.0", 3); /* |v| beyond what the contract prints */
        return 3;
    }
    /* Trim trailing zeros but keep one digit after the point. */
    char *dot = strchr(tmp, '.');
    if (dot != NULL) {
        char *end = tmp + n - 1;
        while (end > dot + 1 && *end == '0') {
            *end-- = '\0';
        }
        n = (int)(end - tmp + 1);
    }
    if (strcmp(tmp, "-0.0") == 0) {
        memcpy(o, "0.0", 3);
        return 3;
    }
    memcpy(o, tmp, (size_t)n);
    return (size_t)n;
}

int es_buf_json_fixed(es_buf *b, double v, int decimals)
{
    int rc = es_buf_reserve(b, ES_FMT_FIXED_MAX);
    if (rc != 0) {
        return rc;
    }
    b->len += es_fmt_fixed(b->data + b->len, v, decimals);
    b->data[b->len] = '\0';
    return 0;
}

int es_buf_json_int(es_buf *b, int64_t v)
{
    return es_buf_printf(b, "%lld", (long long)v);
}
