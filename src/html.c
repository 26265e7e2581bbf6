/* Sanitized HTML -> plain text, and HTML entity decoding. */
#include "html.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "earshot.h"

typedef struct entity {
    const char *name;
    const char *utf8;
} entity;

/* The named references platforms actually emit; the rest stay literal. */
static const entity entities[] = {
    {"amp", "&"},         {"lt", "<"},          {"gt", ">"},          {"quot", "\""},
    {"apos", "'"},        {"nbsp", " "},        {"hellip", "\u2026"}, {"mdash", "\u2014"},
    {"ndash", "\u2013"},  {"lsquo", "\u2018"},  {"rsquo", "\u2019"},  {"ldquo", "\u201C"},
    {"rdquo", "\u201D"},  {"laquo", "\u00AB"},  {"raquo", "\u00BB"},  {"copy", "\u00A9"},
    {"reg", "\u00AE"},    {"trade", "\u2122"},  {"euro", "\u20AC"},   {"pound", "\u00A3"},
    {"yen", "\u00A5"},    {"cent", "\u00A2"},   {"deg", "\u00B0"},    {"middot", "\u00B7"},
    {"bull", "\u2022"},   {"times", "\u00D7"},  {"divide", "\u00F7"}, {"shy", ""},
    {"zwj", "\u200D"},    {"zwnj", "\u200C"},   {"szlig", "\u00DF"},  {"auml", "\u00E4"},
    {"ouml", "\u00F6"},   {"uuml", "\u00FC"},   {"Auml", "\u00C4"},   {"Ouml", "\u00D6"},
    {"Uuml", "\u00DC"},   {"eacute", "\u00E9"}, {"egrave", "\u00E8"}, {"agrave", "\u00E0"},
    {"aacute", "\u00E1"}, {"iacute", "\u00ED"}, {"oacute", "\u00F3"}, {"uacute", "\u00FA"},
    {"ccedil", "\u00E7"}, {"ntilde", "\u00F1"}, {"Eacute", "\u00C9"},
};

static int put_utf8(es_buf *out, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        cp = 0xFFFD;
    }
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return es_buf_add(out, b, n);
}

/*
 * s[0] is '&'. If a known reference starts here, append its text, set
 * *used to its length and return 0; *used = 0 means "not a reference".
 */
static int entity_at(es_buf *out, const char *s, size_t n, size_t *used)
{
    *used = 0;
    size_t max = n < 12 ? n : 12;
    size_t semi = 1;
    while (semi < max && s[semi] != ';') {
        semi++;
    }
    if (semi >= max || semi < 2) {
        return 0;
    }
    if (s[1] == '#') {
        bool hex = semi > 2 && (s[2] == 'x' || s[2] == 'X');
        size_t i = hex ? 3 : 2;
        if (i >= semi) {
            return 0;
        }
        uint32_t cp = 0;
        for (; i < semi; i++) {
            char c = s[i];
            uint32_t v;
            if (c >= '0' && c <= '9') {
                v = (uint32_t)(c - '0');
            } else if (hex && c >= 'a' && c <= 'f') {
                v = (uint32_t)(c - 'a' + 10);
            } else if (hex && c >= 'A' && c <= 'F') {
                v = (uint32_t)(c - 'A' + 10);
            } else {
                return 0;
            }
            cp = cp * (hex ? 16 : 10) + v;
            if (cp > 0x10FFFF) {
                cp = 0x110000; /* stays out of range, no overflow */
            }
        }
        *used = semi + 1;
        return put_utf8(out, cp);
    }
    for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++) {
        size_t l = strlen(entities[e].name);
        if (l == semi - 1 && memcmp(s + 1, entities[e].name, l) == 0) {
            *used = semi + 1;
            return es_buf_adds(out, entities[e].utf8);
        }
    }
    return 0;
}

int es_html_unescape(es_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        int rc = es_buf_add(out, s + i, run);
        if (rc != 0 || amp == NULL) {
            return rc;
        }
        i += run;
        size_t used;
        if ((rc = entity_at(out, s + i, n - i, &used)) != 0) {
            return rc;
        }
        if (used == 0) {
            if ((rc = es_buf_addc(out, '&')) != 0) {
                return rc;
            }
            used = 1;
        }
        i += used;
    }
    return 0;
}

/* Lowercased tag name at s (after '<' and an optional '/'), into name. */
static size_t tag_name(const char *s, size_t n, char name[12])
{
    size_t i = 0;
    while (i < n && i < 11 &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
            (s[i] >= '0' && s[i] <= '9'))) {
        name[i] = (char)(s[i] | 0x20);
        i++;
    }
    name[i] = '\0';
    return i;
}

/* Index just past the '>' closing the tag that starts at s[0] == '<',
 * skipping quoted attribute values; 0 if the tag never closes. */
static size_t tag_end(const char *s, size_t n)
{
    char quote = 0;
    for (size_t i = 1; i < n; i++) {
        if (quote) {
            if (s[i] == quote) {
                quote = 0;
            }
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        } else if (s[i] == '>') {
            return i + 1;
        }
    }
    return 0;
}

static bool is_block(const char *name)
{
    static const char *const blocks[] = {"p",  "div", "li", "ul", "ol", "blockquote", "pre",
                                         "h1", "h2",  "h3", "h4", "h5", "h6",         "tr",
                                         "table", "section", "article", "header", "footer"};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (strcmp(name, blocks[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Find "</name" (case-insensitive) from s; returns its offset or n. */
static size_t find_close(const char *s, size_t n, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i + 2 + l <= n; i++) {
        if (s[i] == '<' && s[i + 1] == '/') {
            size_t k = 0;
            while (k < l && (s[i + 2 + k] | 0x20) == name[k]) {
                k++;
            }
            if (k == l) {
                return i;
            }
        }
    }
    return n;
}

typedef struct text_out {
    es_buf *out;
    size_t start;       /* out->len when we began: "nothing written yet" */
    unsigned breaks;    /* newlines owed before the next text */
    bool space;         /* a blank is owed before the next text */
} text_out;

/* Settle owed newlines/blank before real text; none at the very start. */
static int flush_owed(text_out *t)
{
    int rc = 0;
    if (t->out->len > t->start) {
        if (t->breaks > 0) {
            for (unsigned i = 0; i < t->breaks && rc == 0; i++) {
                rc = es_buf_addc(t->out, '\n');
            }
        } else if (t->space) {
            rc = es_buf_addc(t->out, ' ');
        }
    }
    t->breaks = 0;
    t->space = false;
    return rc;
}

int es_html_to_text(es_buf *out, const char *s, size_t n)
{
    text_out t = {out, out->len, 0, false};
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        char c = s[i];
        if (c == '<') {
            if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
                const char *end = NULL;
                for (size_t k = i + 4; k + 3 <= n; k++) {
                    if (memcmp(s + k, "-->", 3) == 0) {
                        end = s + k + 3;
                        break;
                    }
                }
                i = end ? (size_t)(end - s) : n;
                continue;
            }
            size_t len = tag_end(s + i, n - i);
            bool closing = i + 1 < n && s[i + 1] == '/';
            char name[12];
            size_t nl = tag_name(s + i + 1 + closing, n - i - 1 - closing, name);
            if (len == 0 || nl == 0) {
                /* Not a tag: a literal '<' in text. */
                if ((rc = flush_owed(&t)) == 0) {
                    rc = es_buf_addc(out, '<');
                }
                i++;
                continue;
            }
            i += len;
            if (strcmp(name, "br") == 0) {
                t.breaks++;
            } else if (is_block(name)) {
                unsigned want = strcmp(name, "p") == 0 ? 2 : 1;
                if (t.breaks < want) {
                    t.breaks = want;
                }
            } else if (!closing && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
                i += find_close(s + i, n - i, name);
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            t.space = true;
            i++;
            continue;
        }
        if ((rc = flush_owed(&t)) != 0) {
            break;
        }
        if (c == '&') {
            size_t used;
            if ((rc = entity_at(out, s + i, n - i, &used)) == 0 && used == 0) {
                rc = es_buf_addc(out, '&');
                used = 1;
            }
            i += used;
            continue;
        }
        /* A run of ordinary text in one copy. */
        size_t k = i + 1;
        while (k < n && s[k] != '<' && s[k] != '&' && s[k] != ' ' && s[k] != '\n' &&
               s[k] != '\t' && s[k] != '\r' && s[k] != '\f') {
            k++;
        }
        rc = es_buf_add(out, s + i, k - i);
        i = k;
    }
    return rc;
}
