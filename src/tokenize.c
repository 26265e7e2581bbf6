/*
 * The social-text tokenizer. See tokenize.h for the contract.
 *
 * The scan is one left-to-right pass over code points. At each position the
 * candidates are tried in a fixed order (URL, emoticon, handle / hashtag /
 * cashtag, keycap emoji, word or number, emoji sequence, punctuation), each
 * looking ahead only a bounded distance except for the token it consumes,
 * so the whole pass is linear in the input.
 */
#include "tokenize.h"
#include "earshot.h"
#include "utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------ */

size_t es__utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = es_utf8_decode(s, n, cp);
    if (len == 0) {
        *cp = ES_CP_INVALID;
        return 1;
    }
    return len;
}

size_t es__utf8_put(uint32_t cp, char *out)
{
    return es_utf8_put(cp, out);
}

/* ---- case ------------------------------------------------------------- */

int es__cp_case(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') {
            return ES_CASE_UPPER;
        }
        if (cp >= 'a' && cp <= 'z') {
            return ES_CASE_LOWER;
        }
        return 0;
    }
    if (cp < 0x100) {
        /* ª µ º count as lower case, as in Python's str.isupper(). */
        if (cp == 0xAA || cp == 0xB5 || cp == 0xBA || cp == 0xDF) {
            return ES_CASE_LOWER;
        }
        if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
            return ES_CASE_UPPER;
        }
        if (cp >= 0xE0 && cp != 0xF7) {
            return ES_CASE_LOWER;
        }
        return 0;
    }
    if (cp <= 0x17F) {
        if (cp == 0x138 || cp == 0x149 || cp == 0x17F || cp == 0x131) {
            return ES_CASE_LOWER;
        }
        if (cp == 0x130 || cp == 0x178) {
            return ES_CASE_UPPER;
        }
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
            return (cp & 1) ? ES_CASE_UPPER : ES_CASE_LOWER;
        }
        return (cp & 1) ? ES_CASE_LOWER : ES_CASE_UPPER;
    }
    if (cp >= 0x370 && cp <= 0x3FF) {
        if (cp == 0x386 || (cp >= 0x388 && cp <= 0x38A) || cp == 0x38C || cp == 0x38E ||
            cp == 0x38F || (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)) {
            return ES_CASE_UPPER;
        }
        if (cp == 0x390 || (cp >= 0x3AC && cp <= 0x3CE)) {
            return ES_CASE_LOWER;
        }
        return 0;
    }
    if (cp >= 0x400 && cp <= 0x4FF) {
        if (cp <= 0x42F) {
            return ES_CASE_UPPER;
        }
        if (cp <= 0x45F) {
            return ES_CASE_LOWER;
        }
        if (cp <= 0x481 || (cp >= 0x48A && cp <= 0x4BF) || cp >= 0x4D0) {
            return (cp & 1) ? ES_CASE_LOWER : ES_CASE_UPPER;
        }
        if (cp == 0x4C0) {
            return ES_CASE_UPPER;
        }
        if (cp >= 0x4C1 && cp <= 0x4CE) {
            return (cp & 1) ? ES_CASE_UPPER : ES_CASE_LOWER;
        }
        if (cp == 0x4CF) {
            return ES_CASE_LOWER;
        }
        return 0;
    }
    return 0;
}

uint32_t es__cp_lower(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    }
    if (es__cp_case(cp) != ES_CASE_UPPER) {
        return cp;
    }
    if (cp < 0x100) {
        return cp + 0x20;
    }
    if (cp <= 0x17F) {
        if (cp == 0x130) {
            return 'i';
        }
        if (cp == 0x178) {
            return 0xFF;
        }
        return cp + 1;
    }
    if (cp <= 0x3FF) {
        if (cp == 0x386) {
            return 0x3AC;
        }
        if (cp <= 0x38A) {
            return cp + 37;
        }
        if (cp == 0x38C) {
            return 0x3CC;
        }
        if (cp == 0x38E || cp == 0x38F) {
            return cp + 63;
        }
        return cp + 32;
    }
    if (cp <= 0x40F) {
        return cp + 80;
    }
    if (cp <= 0x42F) {
        return cp + 32;
    }
    if (cp == 0x4C0) {
        return 0x4CF;
    }
    return cp + 1;
}

/* ---- classes ---------------------------------------------------------- */

enum cls {
    C_SEP,   /* whitespace, NUL, controls, invalid bytes: ends tokens, counts as space */
    C_IGN,   /* stray zero-width joiners and selectors: ends tokens, not a space */
    C_ALNUM, /* letters of any script, digits, '_', combining marks */
    C_APOS,  /* ' and its typographic forms: inside words, else punctuation */
    C_EMOJI,
    C_PUNCT
};

int es__cp_is_emoji(uint32_t cp)
{
    if (cp < 0x2000) {
        return cp == 0xA9 || cp == 0xAE;
    }
    if (cp >= 0x1F000 && cp <= 0x1FFFF) {
        return 1;
    }
    if (cp >= 0x2600 && cp <= 0x27BF) {
        return 1;
    }
    switch (cp) {
    case 0x203C: case 0x2049: case 0x2122: case 0x2139: case 0x231A: case 0x231B:
    case 0x2328: case 0x23CF: case 0x24C2: case 0x25AA: case 0x25AB: case 0x25B6:
    case 0x25C0: case 0x2934: case 0x2935: case 0x2B1B: case 0x2B1C: case 0x2B50:
    case 0x2B55: case 0x3030: case 0x303D: case 0x3297: case 0x3299:
        return 1;
    default:
        break;
    }
    return (cp >= 0x2194 && cp <= 0x2199) || cp == 0x21A9 || cp == 0x21AA ||
           (cp >= 0x23E9 && cp <= 0x23F3) || (cp >= 0x23F8 && cp <= 0x23FA) ||
           (cp >= 0x25FB && cp <= 0x25FE) || (cp >= 0x2B05 && cp <= 0x2B07);
}

/* Classes of the ASCII range, filled by a switch-free table. */
static const unsigned char ascii_cls[128] = {
    /* 0x00-0x1F: controls and whitespace are separators. */
    [0x21] = C_PUNCT, [0x22] = C_PUNCT, [0x23] = C_PUNCT, [0x24] = C_PUNCT, [0x25] = C_PUNCT,
    [0x26] = C_PUNCT, [0x27] = C_APOS,  [0x28] = C_PUNCT, [0x29] = C_PUNCT, [0x2A] = C_PUNCT,
    [0x2B] = C_PUNCT, [0x2C] = C_PUNCT, [0x2D] = C_PUNCT, [0x2E] = C_PUNCT, [0x2F] = C_PUNCT,
    ['0'] = C_ALNUM, ['1'] = C_ALNUM, ['2'] = C_ALNUM, ['3'] = C_ALNUM, ['4'] = C_ALNUM,
    ['5'] = C_ALNUM, ['6'] = C_ALNUM, ['7'] = C_ALNUM, ['8'] = C_ALNUM, ['9'] = C_ALNUM,
    [0x3A] = C_PUNCT, [0x3B] = C_PUNCT, [0x3C] = C_PUNCT, [0x3D] = C_PUNCT, [0x3E] = C_PUNCT,
    [0x3F] = C_PUNCT, [0x40] = C_PUNCT,
    ['A'] = C_ALNUM, ['B'] = C_ALNUM, ['C'] = C_ALNUM, ['D'] = C_ALNUM, ['E'] = C_ALNUM,
    ['F'] = C_ALNUM, ['G'] = C_ALNUM, ['H'] = C_ALNUM, ['I'] = C_ALNUM, ['J'] = C_ALNUM,
    ['K'] = C_ALNUM, ['L'] = C_ALNUM, ['M'] = C_ALNUM, ['N'] = C_ALNUM, ['O'] = C_ALNUM,
    ['P'] = C_ALNUM, ['Q'] = C_ALNUM, ['R'] = C_ALNUM, ['S'] = C_ALNUM, ['T'] = C_ALNUM,
    ['U'] = C_ALNUM, ['V'] = C_ALNUM, ['W'] = C_ALNUM, ['X'] = C_ALNUM, ['Y'] = C_ALNUM,
    ['Z'] = C_ALNUM,
    [0x5B] = C_PUNCT, [0x5C] = C_PUNCT, [0x5D] = C_PUNCT, [0x5E] = C_PUNCT, ['_'] = C_ALNUM,
    [0x60] = C_PUNCT,
    ['a'] = C_ALNUM, ['b'] = C_ALNUM, ['c'] = C_ALNUM, ['d'] = C_ALNUM, ['e'] = C_ALNUM,
    ['f'] = C_ALNUM, ['g'] = C_ALNUM, ['h'] = C_ALNUM, ['i'] = C_ALNUM, ['j'] = C_ALNUM,
    ['k'] = C_ALNUM, ['l'] = C_ALNUM, ['m'] = C_ALNUM, ['n'] = C_ALNUM, ['o'] = C_ALNUM,
    ['p'] = C_ALNUM, ['q'] = C_ALNUM, ['r'] = C_ALNUM, ['s'] = C_ALNUM, ['t'] = C_ALNUM,
    ['u'] = C_ALNUM, ['v'] = C_ALNUM, ['w'] = C_ALNUM, ['x'] = C_ALNUM, ['y'] = C_ALNUM,
    ['z'] = C_ALNUM,
    [0x7B] = C_PUNCT, [0x7C] = C_PUNCT, [0x7D] = C_PUNCT, [0x7E] = C_PUNCT,
};

static int classify(uint32_t cp)
{
    if (cp < 0x80) {
        return ascii_cls[cp];
    }
    if (cp == ES_CP_INVALID || cp < 0xA0) {
        return C_SEP;
    }
    if (cp < 0x100) {
        if (cp == 0xA0) {
            return C_SEP;
        }
        if (cp <= 0xBF && cp != 0xAA && cp != 0xB5 && cp != 0xBA) {
            return (cp == 0xA9 || cp == 0xAE) ? C_EMOJI : C_PUNCT;
        }
        return (cp == 0xD7 || cp == 0xF7) ? C_PUNCT : C_ALNUM;
    }
    if (cp < 0x2000) {
        if (cp == 0x2BC) {
            return C_APOS;
        }
        if (cp == 0x1680) {
            return C_SEP;
        }
        return C_ALNUM;
    }
    if (cp <= 0x206F) {
        if (cp <= 0x200B || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
            cp == 0x2060) {
            return C_SEP;
        }
        if (cp == 0x200C || cp == 0x200D) {
            return C_IGN;
        }
        if (cp == 0x2018 || cp == 0x2019) {
            return C_APOS;
        }
        if (cp == 0x203C || cp == 0x2049) {
            return C_EMOJI;
        }
        return C_PUNCT;
    }
    if (es__cp_is_emoji(cp)) {
        return C_EMOJI;
    }
    if (cp >= 0x2070 && cp <= 0x209F) {
        return C_ALNUM; /* super- and subscripts */
    }
    if (cp == 0x20E3 || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0000 && cp <= 0xE007F)) {
        return C_IGN;
    }
    if ((cp >= 0x20A0 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
        (cp >= 0x3001 && cp <= 0x303F) || (cp >= 0xE000 && cp <= 0xF8FF) ||
        (cp >= 0xFE10 && cp <= 0xFE6F) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
        (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
        (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFFFD) {
        return C_PUNCT;
    }
    if (cp == 0x3000 || cp == 0xFEFF) {
        return C_SEP;
    }
    return C_ALNUM;
}

/* ---- emoticons -------------------------------------------------------- */

/*
 * Common Western and Eastern emoticons. Alphanumeric-only ones ("XD",
 * "xP") are left to the word scanner: they look like words and the
 * lexicon knows them under their lower-cased spelling anyway.
 */
static const char *const emoticons[] = {
    ":)", ":-)", ":]", ":-]", ":}", ":>", ":(", ":-(", ":[", ":-[", ":{", ":<", ":D", ":-D",
    ":P", ":-P", ":p", ":-p", ":b", ":O", ":-O", ":o", ":-o", ":0", ":*", ":-*", ":3", ":-3",
    ":/", ":-/", ":\\", ":-\\", ":|", ":-|", ":||", ":-||", ":'(", ":'-(", ":')", ":'-)",
    ":'D", ":$", ":@", ":S", ":s", ":X", ":x", ":#", ":^)", ":^(", ":-.", ":-,", ":-&",
    ";)", ";-)", ";]", ";-]", ";D", ";P", ";p", ";-P", ";(", ";_;", ";*", ";-*",
    "=)", "=-)", "=(", "=D", "=-D", "=P", "=p", "=/", "=\\", "=|", "=]", "=[", "=3", "=-3",
    "(:", "(-:", "(':", "(=", "(;", "):", ")-:", ")':", ")=",
    "D:", "D-:", "D=", "D;", "DX", "8)", "8-)", "B)", "B-)", "8D",
    "<3", "</3", "<\\3", "<33", "<333",
    "^_^", "^^", "^.^", "^-^", "^o^", "-_-", ">_<", ">.<", "o_O", "O_o", "o.O", "O.o", "o_o",
    "O_O", "T_T", "T.T", "x)", "X)", "x(", "X(", "x-(", "X-(", "x-)", "X-)",
    ">:(", ">:-(", ">:)", ">:-)", ">:O", ">:[", ">:/", ">:\\", ">;)", ">;(",
    "0:)", "0:-)", "O:)", "O:-)", "3:)", "3:-)", "3:(", "3:-(", "}:)", "}:(",
    "\\o/", "\\m/", "*\\0/*",
};
#define N_EMOTICONS (sizeof emoticons / sizeof emoticons[0])

/*
 * The emoticons grouped by first byte (a counting sort done once), so a
 * candidate position only compares against the few that can match.
 */
_Static_assert(N_EMOTICONS < 256, "emo_order holds uint8_t indexes");
static uint8_t emo_order[N_EMOTICONS];
static uint16_t emo_first[257];
static pthread_once_t emo_once = PTHREAD_ONCE_INIT;

static void emo_index(void)
{
    uint16_t count[256] = {0};
    for (size_t k = 0; k < N_EMOTICONS; k++) {
        count[(unsigned char)emoticons[k][0]]++;
    }
    emo_first[0] = 0;
    for (int c = 0; c < 256; c++) {
        emo_first[c + 1] = (uint16_t)(emo_first[c] + count[c]);
    }
    uint16_t next[256];
    memcpy(next, emo_first, sizeof next);
    for (size_t k = 0; k < N_EMOTICONS; k++) {
        emo_order[next[(unsigned char)emoticons[k][0]]++] = (uint8_t)k;
    }
}

static int is_ascii_alnum(unsigned char c)
{
    return c < 0x80 && ascii_cls[c] == C_ALNUM;
}

/*
 * Length of the emoticon at p (n bytes left), or 0. prev_alnum/prev_digit
 * describe the code point before p. An emoticon that starts with a letter,
 * digit or bracket needs a boundary before it ("AND:" and "(see):" are not
 * emoticons); ':' and ';' ones may be glued to a word ("thanks:)") but not
 * to a digit ("5:30"). One ending in a letter or digit needs a boundary
 * after it (":Desk"). Repeats of a final mouth are absorbed (":)))").
 */
static size_t match_emoticon(const unsigned char *p, size_t n, int prev_alnum, int prev_digit)
{
    size_t best = 0;
    unsigned char c0 = p[0];
    if (prev_alnum && c0 != ':' && c0 != ';') {
        return 0;
    }
    if (prev_digit) {
        return 0;
    }
    if (n < 2 || p[1] == ' ' || (is_ascii_alnum(c0) && is_ascii_alnum(p[1]))) {
        return 0;
    }
    pthread_once(&emo_once, emo_index);
    for (size_t r = emo_first[c0]; r < emo_first[c0 + 1]; r++) {
        const char *e = emoticons[emo_order[r]];
        /* Two bytes decide almost every candidate; every emoticon has two. */
        if (e[1] != (char)p[1]) {
            continue;
        }
        size_t el = 2;
        while (e[el] != '\0' && el < n && e[el] == (char)p[el]) {
            el++;
        }
        if (e[el] != '\0' || el <= best) {
            continue;
        }
        size_t end = el;
        unsigned char last = p[el - 1];
        if (strchr(")(][DPp3", last) != NULL) {
            while (end < n && p[end] == last && end - el < 64) {
                end++;
            }
        }
        if (end < n && is_ascii_alnum(last) && (is_ascii_alnum(p[end]) || p[end] >= 0x80)) {
            continue;
        }
        if (end < n && (p[end] == '/' || p[end] == '\\')) {
            continue; /* "http://", "C:\\" */
        }
        best = end;
    }
    return best;
}

/* Bytes that can start an emoticon. */
static int emoticon_start(unsigned char c)
{
    switch (c) {
    case ':': case ';': case '=': case '(': case ')': case 'D': case '8': case 'B': case '<':
    case '^': case '-': case '>': case 'o': case 'O': case 'T': case 'x': case 'X': case '0':
    case '3': case '}': case '\\': case '*':
        return 1;
    default:
        return 0;
    }
}

/* ---- token output ----------------------------------------------------- */

void es_tokens_init(es_tokens *t)
{
    memset(t, 0, sizeof *t);
}

void es_tokens_free(es_tokens *t)
{
    free(t->v);
    free(t->norm);
    memset(t, 0, sizeof *t);
}

const char *es_tok_kind_name(int kind)
{
    static const char *const names[] = {"word",  "number", "handle",   "hashtag", "cashtag",
                                        "url",   "emoji",  "emoticon", "punct"};
    if (kind < 0 || (size_t)kind >= sizeof names / sizeof names[0]) {
        return "?";
    }
    return names[kind];
}

static int is_apos(uint32_t cp)
{
    return cp == '\'' || cp == 0x2018 || cp == 0x2019 || cp == 0x2BC;
}

/*
 * Append one token: its normalized form goes into t->norm, which the caller
 * sized for the worst case (normalizing never grows the text).
 */
static int push(es_tokens *t, const unsigned char *s, size_t off, size_t len, int kind,
                int space)
{
    if (t->n == t->cap) {
        if (t->n >= ES_TOKENS_MAX) {
            return ES_ETOOBIG;
        }
        size_t cap = t->cap ? t->cap * 2 : 64;
        es_token *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL) {
            return ES_ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    es_token *tk = &t->v[t->n++];
    tk->off = (uint32_t)off;
    tk->len = (uint32_t)len;
    tk->kind = (uint8_t)kind;
    tk->flags = space ? ES_TOKF_SPACE_BEFORE : 0;
    tk->norm_off = (uint32_t)t->norm_len;
    char *o = t->norm + t->norm_len;
    const unsigned char *p = s + off;
    int upper = 0, lower = 0;
    if (kind == ES_TOK_EMOJI) {
        memcpy(o, p, len);
        o += len;
    } else {
        for (size_t i = 0; i < len;) {
            unsigned char c = p[i];
            if (c < 0x80) {
                if (c >= 'A' && c <= 'Z') {
                    upper = 1;
                    c = (unsigned char)(c + 32);
                } else if (c >= 'a' && c <= 'z') {
                    lower = 1;
                }
                *o++ = (char)c;
                i++;
                continue;
            }
            uint32_t cp;
            size_t l = es__utf8_next(p + i, len - i, &cp);
            if (cp == ES_CP_INVALID) {
                *o++ = (char)c; /* cannot happen inside a token; keep bytes as they are */
                i++;
                continue;
            }
            int cs = es__cp_case(cp);
            if (cs == ES_CASE_UPPER) {
                upper = 1;
                cp = es__cp_lower(cp);
            } else if (cs == ES_CASE_LOWER) {
                lower = 1;
            }
            if (is_apos(cp)) {
                cp = '\'';
            }
            o += es__utf8_put(cp, o);
            i += l;
        }
    }
    *o = '\0';
    tk->norm_len = (uint32_t)(o - (t->norm + tk->norm_off));
    t->norm_len += tk->norm_len + 1;
    if (upper && !lower &&
        (kind == ES_TOK_WORD || kind == ES_TOK_HASHTAG || kind == ES_TOK_CASHTAG ||
         kind == ES_TOK_HANDLE)) {
        tk->flags |= ES_TOKF_ALLCAPS;
    }
    return 0;
}

/* ---- scanners --------------------------------------------------------- */

/* Code point and class at i, or C_SEP past the end. */
static int cls_at(const unsigned char *s, size_t n, size_t i, uint32_t *cp, size_t *l)
{
    if (i >= n) {
        *cp = 0;
        *l = 0;
        return C_SEP;
    }
    *l = es__utf8_next(s + i, n - i, cp);
    return classify(*cp);
}

static int ci_prefix(const unsigned char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k) {
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c + 32);
        }
        if (c != (unsigned char)lit[i]) {
            return 0;
        }
    }
    return 1;
}

/* A URL at s: "http://", "https://" or "www." and at least one more
 * character. It runs to whitespace, a quote or angle bracket, or an emoji;
 * trailing sentence punctuation is not part of it. */
static size_t scan_url(const unsigned char *s, size_t n)
{
    size_t i;
    if (ci_prefix(s, n, "http://")) {
        i = 7;
    } else if (ci_prefix(s, n, "https://")) {
        i = 8;
    } else if (ci_prefix(s, n, "www.")) {
        i = 4;
    } else {
        return 0;
    }
    size_t start = i;
    int parens = 0;
    while (i < n) {
        uint32_t cp;
        size_t l;
        int c = cls_at(s, n, i, &cp, &l);
        if (c == C_SEP || c == C_EMOJI || c == C_IGN || cp == '"' || cp == '<' || cp == '>') {
            break;
        }
        if (cp == '(') {
            parens++;
        } else if (cp == ')') {
            parens--;
        }
        i += l;
    }
    while (i > start) {
        unsigned char c = s[i - 1];
        if (c == ')' && parens < 0) {
            parens++;
            i--;
        } else if (strchr(".,;:!?'\"]", c) != NULL) {
            i--;
        } else {
            break;
        }
    }
    return i > start ? i : 0;
}

/* A run of C_ALNUM code points at s; sets *has_alpha if any is not a digit. */
static size_t scan_alnum_run(const unsigned char *s, size_t n, int *has_alpha)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l;
        if (cls_at(s, n, i, &cp, &l) != C_ALNUM) {
            break;
        }
        if (!(cp >= '0' && cp <= '9')) {
            *has_alpha = 1;
        }
        i += l;
    }
    return i;
}

/* After '@': name[@domain.tld]. Returns the length after the '@'. */
static size_t scan_handle(const unsigned char *s, size_t n)
{
    int alpha = 0;
    size_t i = scan_alnum_run(s, n, &alpha);
    if (i == 0) {
        return 0;
    }
    /* Fediverse form @user@instance.example: a domain with a dot. */
    if (i + 1 < n && s[i] == '@' && is_ascii_alnum(s[i + 1])) {
        size_t j = i + 1, last_ok = 0;
        int dots = 0;
        while (j < n && (is_ascii_alnum(s[j]) || s[j] == '.' || s[j] == '-')) {
            if (s[j] == '.') {
                dots++;
            } else if (is_ascii_alnum(s[j]) && dots > 0) {
                last_ok = j + 1;
            }
            j++;
        }
        if (last_ok > 0) {
            i = last_ok;
        }
    }
    return i;
}

/* After '$': 1 to 6 ASCII letters not followed by a letter or digit. */
static size_t scan_cashtag(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 7 && ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')) {
        i++;
    }
    if (i == 0 || i > 6) {
        return 0;
    }
    if (i < n && (is_ascii_alnum(s[i]) || s[i] >= 0x80)) {
        return 0;
    }
    return i;
}

static int is_emoji_mod(uint32_t cp)
{
    return cp == 0xFE0F || cp == 0xFE0E || (cp >= 0x1F3FB && cp <= 0x1F3FF) || cp == 0x20E3 ||
           (cp >= 0xE0020 && cp <= 0xE007F);
}

/* An emoji sequence at s whose first code point is an emoji. */
static size_t scan_emoji(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t l, i = 0;
    cls_at(s, n, 0, &cp, &l);
    if (cp >= 0x1F1E6 && cp <= 0x1F1FF) {
        /* Regional indicators pair up into flags. */
        i = l;
        uint32_t cp2;
        size_t l2;
        cls_at(s, n, i, &cp2, &l2);
        if (cp2 >= 0x1F1E6 && cp2 <= 0x1F1FF) {
            i += l2;
        }
        return i;
    }
    for (;;) {
        i += l; /* the base */
        for (;;) {
            cls_at(s, n, i, &cp, &l);
            if (l == 0 || !is_emoji_mod(cp)) {
                break;
            }
            i += l;
        }
        if (l == 0 || cp != 0x200D) {
            break;
        }
        uint32_t next;
        size_t nl;
        cls_at(s, n, i + l, &next, &nl);
        if (nl == 0 || !es__cp_is_emoji(next)) {
            break;
        }
        i += l;
        cp = next;
        l = nl;
    }
    return i;
}

/* A keycap emoji: [0-9#*] then optional VS16 then U+20E3. */
static size_t scan_keycap(const unsigned char *s, size_t n)
{
    if (n >= 4 && s[1] == 0xE2 && s[2] == 0x83 && s[3] == 0xA3) {
        return 4;
    }
    if (n >= 7 && memcmp(s + 1, "\xEF\xB8\x8F\xE2\x83\xA3", 6) == 0) {
        return 7;
    }
    return 0;
}

/* A word or number starting with a C_ALNUM code point: letters, digits,
 * '_', with inner apostrophes and hyphens between letters or digits, and
 * inner '.' or ',' between digits. */
static size_t scan_word(const unsigned char *s, size_t n, int *is_number)
{
    size_t i = 0;
    int alpha = 0;
    uint32_t prev = 0;
    while (i < n) {
        /* ASCII letters and digits, the bulk of most text, take a short path. */
        if (s[i] < 0x80 && ascii_cls[s[i]] == C_ALNUM) {
            alpha |= !(s[i] >= '0' && s[i] <= '9');
            prev = s[i];
            i++;
            continue;
        }
        uint32_t cp;
        size_t l;
        int c = cls_at(s, n, i, &cp, &l);
        if (c == C_ALNUM) {
            if (!(cp >= '0' && cp <= '9')) {
                alpha = 1;
            }
            prev = cp;
            i += l;
            continue;
        }
        if (i > 0 && (c == C_APOS || cp == '-' || cp == '.' || cp == ',')) {
            uint32_t nx;
            size_t nl;
            if (cls_at(s, n, i + l, &nx, &nl) == C_ALNUM) {
                int digits = prev >= '0' && prev <= '9' && nx >= '0' && nx <= '9';
                if (cp == '.' || cp == ',' ? digits : 1) {
                    i += l;
                    continue;
                }
            }
        }
        break;
    }
    *is_number = !alpha;
    return i;
}

int es_tokenize(const char *text, size_t len, es_tokens *out)
{
    out->n = 0;
    out->norm_len = 0;
    if (len > UINT32_MAX - 1) {
        return ES_ETOOBIG;
    }
    /* Normalized forms never outgrow the text; each token adds one NUL. */
    size_t need = 2 * len + 2;
    if (out->norm_cap < need) {
        char *p = realloc(out->norm, need);
        if (p == NULL) {
            return ES_ENOMEM;
        }
        out->norm = p;
        out->norm_cap = need;
    }
    out->norm[0] = '\0';
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    int space = 1, prev_alnum = 0, prev_digit = 0;
    size_t open_parens = 0; /* '(' punctuation not yet closed */
    int rc = 0;
    while (i < len) {
        uint32_t cp;
        size_t l;
        int c;
        if (s[i] < 0x80) {
            cp = s[i];
            l = 1;
            c = ascii_cls[cp];
        } else {
            c = cls_at(s, len, i, &cp, &l);
        }
        if (c == C_SEP) {
            space = 1;
            prev_alnum = prev_digit = 0;
            i += l;
            continue;
        }
        if (c == C_IGN) {
            prev_alnum = prev_digit = 0;
            i += l;
            continue;
        }
        size_t tl = 0;
        int kind = ES_TOK_PUNCT;
        const unsigned char *p = s + i;
        size_t left = len - i;
        if (!prev_alnum && (cp == 'h' || cp == 'H' || cp == 'w' || cp == 'W')) {
            tl = scan_url(p, left);
            kind = ES_TOK_URL;
        }
        if (tl == 0 && cp < 0x80 && emoticon_start((unsigned char)cp)) {
            tl = match_emoticon(p, left, prev_alnum, prev_digit);
            /* "(see below:)" closes a parenthesis rather than smiling. */
            if (tl > 0 && prev_alnum && open_parens > 0 && p[tl - 1] == ')') {
                tl = 0;
            }
            kind = ES_TOK_EMOTICON;
        }
        if (tl == 0 && !prev_alnum && (cp == '@' || cp == '#' || cp == '$')) {
            size_t k = 0;
            if (cp == '@') {
                k = scan_handle(p + 1, left - 1);
                kind = ES_TOK_HANDLE;
            } else if (cp == '#') {
                int alpha = 0;
                k = scan_alnum_run(p + 1, left - 1, &alpha);
                if (!alpha) {
                    k = 0;
                }
                kind = ES_TOK_HASHTAG;
            } else {
                k = scan_cashtag(p + 1, left - 1);
                kind = ES_TOK_CASHTAG;
            }
            tl = k > 0 ? k + 1 : 0;
        }
        if (tl == 0 && ((cp >= '0' && cp <= '9') || cp == '#' || cp == '*')) {
            tl = scan_keycap(p, left);
            kind = ES_TOK_EMOJI;
        }
        if (tl == 0) {
            if (c == C_ALNUM) {
                int num = 0;
                tl = scan_word(p, left, &num);
                kind = num ? ES_TOK_NUMBER : ES_TOK_WORD;
            } else if (c == C_EMOJI) {
                tl = scan_emoji(p, left);
                kind = ES_TOK_EMOJI;
            } else {
                /* Punctuation: a run of the same code point is one token. */
                tl = l;
                while (tl + l <= left && memcmp(p + tl, p, l) == 0) {
                    tl += l;
                }
                kind = ES_TOK_PUNCT;
            }
        }
        rc = push(out, s, i, tl, kind, space);
        if (rc != 0) {
            out->n = 0;
            out->norm_len = 0;
            out->norm[0] = '\0';
            return rc;
        }
        if (kind == ES_TOK_PUNCT && cp == '(') {
            open_parens += tl;
        } else if (kind == ES_TOK_PUNCT && cp == ')') {
            open_parens = open_parens > tl ? open_parens - tl : 0;
        }
        i += tl;
        space = 0;
        /* What the next token sees before it: only words and numbers (and
         * tags, which end in letters) make '#', '@' and ':' glued. */
        prev_alnum = kind == ES_TOK_WORD || kind == ES_TOK_NUMBER || kind == ES_TOK_HASHTAG ||
                     kind == ES_TOK_HANDLE || kind == ES_TOK_CASHTAG || kind == ES_TOK_URL;
        prev_digit = kind == ES_TOK_NUMBER;
    }
    return 0;
}
