/*
 * Compat mode's preprocessing: turn text into words exactly as
 * vaderSentiment 44fc044 does (vader-rules.md §2), quirks included:
 *
 *   1. each single code point that is a key of the emoji table becomes its
 *      description, with a space before it (unless one is there) and none
 *      after, so "😁good" glues the description to "good";
 *   2. split on whitespace as Python's str.split() does;
 *   3. strip ASCII punctuation from both ends of a token, unless that
 *      leaves 2 code points or fewer, in which case the token stays whole.
 *
 * '!' and '?' are counted over the expanded text, as upstream does.
 */
#include "score.h"

#include <stdlib.h>
#include <string.h>

/* Expanded text may grow past the input (descriptions are long); this is
 * the ceiling on that growth. */
#define XT_MAX ((size_t)256 << 20)

static int py_space_ascii(unsigned char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
}

static int py_space_cp(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static int xt_reserve(struct es_scorer *s, size_t used, size_t extra)
{
    if (extra > XT_MAX || used > XT_MAX - extra) {
        return ES_ETOOBIG;
    }
    size_t need = used + extra + 1;
    if (need <= s->xt_cap) {
        return 0;
    }
    size_t cap = s->xt_cap ? s->xt_cap : 1024;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(s->xt, cap);
    if (p == NULL) {
        return ES_ENOMEM;
    }
    s->xt = p;
    s->xt_cap = cap;
    return 0;
}

/* Step 1: emoji expansion into s->xt. */
static int expand(struct es_scorer *s, const unsigned char *p, size_t n, size_t *out_len)
{
    const struct es_lexicon *lex = s->lex;
    size_t o = 0;
    int rc = xt_reserve(s, 0, n);
    if (rc != 0) {
        return rc;
    }
    int prev_space = 1;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            s->xt[o++] = (char)c;
            prev_space = c == ' ';
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = es__utf8_next(p + i, n - i, &cp);
        int32_t id = cp == ES_CP_INVALID ? -1 : es_lex_find(lex, (const char *)p + i, l);
        if (id >= 0 && lex->e[id].emoji >= 0) {
            const es_lex_emoji *em = &lex->emoji[lex->e[id].emoji];
            /* What is left of the input still has to fit after this. */
            rc = xt_reserve(s, o, em->desc_len + 1 + (n - i));
            if (rc != 0) {
                return rc;
            }
            if (!prev_space) {
                s->xt[o++] = ' ';
            }
            memcpy(s->xt + o, em->desc, em->desc_len);
            o += em->desc_len;
            prev_space = 0;
        } else {
            memcpy(s->xt + o, p + i, l);
            o += l;
            prev_space = 0;
        }
        i += l;
    }
    s->xt[o] = '\0';
    *out_len = o;
    return 0;
}

int es__vader_words(struct es_scorer *s, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = len;
    int rc;
    for (size_t i = 0; i < len; i++) {
        if (p[i] >= 0x80) {
            rc = expand(s, p, len, &n);
            if (rc != 0) {
                return rc;
            }
            p = (const unsigned char *)s->xt;
            break;
        }
    }
    /* Lower-cased tokens never outgrow the text, plus one NUL each. */
    if (n > SIZE_MAX / 2 - 2) {
        return ES_ETOOBIG;
    }
    if (s->low_cap < 2 * n + 2) {
        char *b = realloc(s->low, 2 * n + 2);
        if (b == NULL) {
            return ES_ENOMEM;
        }
        s->low = b;
        s->low_cap = 2 * n + 2;
    }
    const struct es_lexicon *lex = s->lex;
    uint32_t excl = 0, quest = 0;
    char *lo = s->low;
    s->nw = 0;
    size_t i = 0;
    for (;;) {
        /* Skip whitespace, counting nothing (no '!' or '?' in it). */
        while (i < n) {
            unsigned char c = p[i];
            if (c < 0x80) {
                if (!py_space_ascii(c)) {
                    break;
                }
                i++;
                continue;
            }
            uint32_t cp;
            size_t l = es__utf8_next(p + i, n - i, &cp);
            if (!py_space_cp(cp)) {
                break;
            }
            i += l;
        }
        if (i >= n) {
            break;
        }
        /* The token runs to the next whitespace. */
        size_t start = i;
        while (i < n) {
            unsigned char c = p[i];
            if (c < 0x80) {
                if (py_space_ascii(c)) {
                    break;
                }
                excl += c == '!';
                quest += c == '?';
                i++;
                continue;
            }
            uint32_t cp;
            size_t l = es__utf8_next(p + i, n - i, &cp);
            if (py_space_cp(cp)) {
                break;
            }
            i += l;
        }
        size_t a = start, b = i;
        while (a < b && ascii_punct(p[a])) {
            a++;
        }
        while (b > a && ascii_punct(p[b - 1])) {
            b--;
        }
        /* Count code points (not bytes) of what is left: <= 2 keeps all. */
        size_t cps = 0;
        for (size_t k = a; k < b && cps <= 2; k++) {
            cps += (p[k] & 0xC0) != 0x80;
        }
        if (cps <= 2) {
            a = start;
            b = i;
        }
        /* Lower-case into the scratch buffer, hashing as we go. */
        char *w = lo;
        int upper = 0, lower = 0;
        for (size_t k = a; k < b;) {
            unsigned char c = p[k];
            if (c < 0x80) {
                if (c >= 'A' && c <= 'Z') {
                    upper = 1;
                    c = (unsigned char)(c + 32);
                } else if (c >= 'a' && c <= 'z') {
                    lower = 1;
                }
                *lo++ = (char)c;
                k++;
                continue;
            }
            uint32_t cp;
            size_t l = es__utf8_next(p + k, b - k, &cp);
            if (cp == ES_CP_INVALID) {
                *lo++ = (char)c;
                k++;
                continue;
            }
            int cs = es__cp_case(cp);
            if (cs == ES_CASE_UPPER) {
                upper = 1;
                lo += es__utf8_put(es__cp_lower(cp), lo);
            } else {
                lower |= cs == ES_CASE_LOWER;
                memcpy(lo, p + k, l);
                lo += l;
            }
            k += l;
        }
        size_t wl = (size_t)(lo - w);
        *lo++ = '\0';
        if (s->nw == s->capw) {
            rc = es__score_reserve(s, s->nw + 1);
            if (rc != 0) {
                return rc;
            }
        }
        es_sword *sw = &s->w[s->nw++];
        sw->text = w;
        sw->len = (uint32_t)wl;
        sw->id = es_lex_find(lex, w, wl);
        sw->src = -1;
        sw->caps = (uint8_t)(upper && !lower);
        es__sword_lex(sw, lex, 1);
    }
    s->n_excl = excl;
    s->n_quest = quest;
    return 0;
}
