/*
 * UTF-8 decoding and encoding, the one copy every stage uses (decoders,
 * tokenizer, JSON writer, sink text, report). Inline because the decoders
 * and the JSON writer call it per character on the hot path.
 */
#ifndef ES_UTF8_H
#define ES_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the sequence at s (n > 0 bytes available) into *cp and returns
 * its length, or 0 when it is not valid UTF-8: a stray continuation byte,
 * a truncated sequence, an overlong form, a surrogate or a value past
 * U+10FFFF. *cp is unspecified when 0 is returned.
 */
static inline size_t es_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return len;
}

/* Length of the valid sequence at s, or 0 (see es_utf8_decode). */
static inline size_t es_utf8_valid_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    return es_utf8_decode(s, n, &cp);
}

/* Encodes cp (a Unicode scalar value) into out (4 bytes of room); returns
 * the length. */
static inline size_t es_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
