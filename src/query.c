/*
 * The topic query parser: a hand-written lexer and recursive-descent parser
 * that turns query text into an AST whose every node remembers where in the
 * text it came from, so errors can point at the exact spot. See query.h for
 * the grammar and docs/topics.md for the language as users see it.
 *
 * Leaves (terms, regexes, fields) are made into nodes by the lexer as it
 * reads them; the parser only links them. Nothing here knows about tokens or
 * normalization: match.c does that with the shared tokenizer, so a query
 * word and a mention word are cut and folded by the very same code.
 */
#include "query.h"

#include "buf.h"
#include "earshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    T_EOF,
    T_LP,
    T_RP,
    T_AND,
    T_OR,
    T_NOT,
    T_MINUS,
    T_NEAR,
    T_LEAF, /* a term, regex or field: already a node */
} ttype;

typedef struct parser {
    const char *s;
    size_t len;
    size_t at; /* lexer position */

    /* The current (lookahead) token. */
    ttype tt;
    size_t tpos, tend;
    uint32_t tnode;    /* T_LEAF: its node */
    uint32_t tdist;    /* T_NEAR */
    bool tordered;     /* T_NEAR */

    /* The previous token, for "expected a term after 'AND'". */
    ttype prev_tt;
    size_t prev_pos, prev_end;

    es_query *q;
    size_t nodes_cap, kids_cap;
    es_buf arena;

    /* A stack of child indexes shared by every level of AND/OR being built. */
    uint32_t *stack;
    size_t stack_len, stack_cap;

    int depth;
    int rc;
    size_t *err_off;
    char *msg;
    size_t msg_size;
} parser;

static int fail(parser *p, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(parser *p, size_t off, const char *fmt, ...)
{
    if (p->rc == 0) {
        p->rc = ES_EQUERY;
        *p->err_off = off;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, p->msg_size, fmt, ap);
        va_end(ap);
    }
    return p->rc;
}

static int nomem(parser *p)
{
    if (p->rc == 0) {
        p->rc = ES_ENOMEM;
        *p->err_off = 0;
        snprintf(p->msg, p->msg_size, "out of memory");
    }
    return p->rc;
}

/* ---- nodes, kids, strings ---------------------------------------------- */

static int new_node(parser *p, es_qtype type, size_t pos, size_t end, uint32_t *out)
{
    es_query *q = p->q;
    if (q->n_nodes >= ES_QUERY_MAX_NODES) {
        return fail(p, pos, "query too complex (more than %d terms and operators)",
                    ES_QUERY_MAX_NODES);
    }
    if (q->n_nodes == p->nodes_cap) {
        size_t cap = p->nodes_cap ? p->nodes_cap * 2 : 16;
        es_qnode *n = realloc(q->nodes, cap * sizeof *n);
        if (n == NULL) {
            return nomem(p);
        }
        q->nodes = n;
        p->nodes_cap = cap;
    }
    es_qnode *n = &q->nodes[q->n_nodes];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->pos = (uint32_t)pos;
    n->end = (uint32_t)end;
    *out = (uint32_t)q->n_nodes++;
    return 0;
}

static int push_kid(parser *p, uint32_t id)
{
    if (p->stack_len == p->stack_cap) {
        size_t cap = p->stack_cap ? p->stack_cap * 2 : 32;
        uint32_t *s = realloc(p->stack, cap * sizeof *s);
        if (s == NULL) {
            return nomem(p);
        }
        p->stack = s;
        p->stack_cap = cap;
    }
    p->stack[p->stack_len++] = id;
    return 0;
}

/* Move stack[base..] into the kids array as node `id`'s children. */
static int pop_kids(parser *p, size_t base, uint32_t id)
{
    es_query *q = p->q;
    size_t n = p->stack_len - base;
    if (q->n_kids + n > p->kids_cap) {
        size_t cap = p->kids_cap ? p->kids_cap : 32;
        while (cap < q->n_kids + n) {
            cap *= 2;
        }
        uint32_t *k = realloc(q->kids, cap * sizeof *k);
        if (k == NULL) {
            return nomem(p);
        }
        q->kids = k;
        p->kids_cap = cap;
    }
    memcpy(q->kids + q->n_kids, p->stack + base, n * sizeof *q->kids);
    q->nodes[id].first = (uint32_t)q->n_kids;
    q->nodes[id].count = (uint32_t)n;
    q->n_kids += n;
    p->stack_len = base;
    return 0;
}

/* Start a string in the arena; returns its offset. */
static uint32_t str_begin(parser *p)
{
    return (uint32_t)p->arena.len;
}

static int str_add(parser *p, const char *s, size_t n)
{
    return es_buf_add(&p->arena, s, n) == 0 ? 0 : nomem(p);
}

/* Terminate the string begun at `off` and record it on node `id`. */
static int str_end(parser *p, uint32_t off, uint32_t id)
{
    es_qnode *n = &p->q->nodes[id];
    n->str = off;
    n->str_len = (uint32_t)(p->arena.len - off);
    return es_buf_addc(&p->arena, '\0') == 0 ? 0 : nomem(p);
}

/* ---- lexer -------------------------------------------------------------- */

/* Length of the whitespace character at i (ASCII or U+00A0), or 0. */
static size_t space_len(const parser *p, size_t i)
{
    unsigned char c = (unsigned char)p->s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        return 1;
    }
    if (c == 0xC2 && i + 1 < p->len && (unsigned char)p->s[i + 1] == 0xA0) {
        return 2;
    }
    return 0;
}

/* Does a bare word end before byte i? */
static bool word_ends(const parser *p, size_t i)
{
    if (i >= p->len) {
        return true;
    }
    char c = p->s[i];
    return c == '(' || c == ')' || c == '"' || space_len(p, i) > 0;
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool span_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool span_ieq(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != lit[i]) {
            return false;
        }
    }
    return true;
}

static const struct {
    const char *name;
    es_qfield field;
    bool numeric;
} fields[] = {
    {"lang", ES_QF_LANG, false},           {"author", ES_QF_AUTHOR, false},
    {"source", ES_QF_SOURCE, false},       {"is", ES_QF_IS_REPLY, false},
    {"followers", ES_QF_FOLLOWERS, true},  {"likes", ES_QF_LIKES, true},
    {"reposts", ES_QF_REPOSTS, true},      {"replies", ES_QF_REPLIES, true},
};
#define KNOWN_FIELDS "lang, author, source, is, followers, likes, reposts, replies"

static int find_field(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (span_ieq(s, n, fields[i].name)) {
            return (int)i;
        }
    }
    return -1;
}

const char *es__query_field_name(es_qfield f)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].field == f) {
            return fields[i].name;
        }
    }
    return "?";
}

const char *es__query_cmp_name(es_qcmp c)
{
    switch (c) {
    case ES_QC_EQ:
        return "=";
    case ES_QC_LT:
        return "<";
    case ES_QC_LE:
        return "<=";
    case ES_QC_GT:
        return ">";
    case ES_QC_GE:
        return ">=";
    }
    return "?";
}

/*
 * Parse a whole number with an optional k (thousands) or m (millions)
 * suffix, the way people write follower counts. Returns false if s[0..n)
 * is not one.
 */
static bool parse_count(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || !is_digit(s[0])) {
        return false;
    }
    int64_t mult = 1;
    if (s[n - 1] == 'k' || s[n - 1] == 'K') {
        mult = 1000;
        n--;
    } else if (s[n - 1] == 'm' || s[n - 1] == 'M') {
        mult = 1000000;
        n--;
    }
    if (n == 0) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v > INT64_MAX / mult) {
        return false;
    }
    *out = v * mult;
    return true;
}

/* A quoted string starting at p->s[i] == '"': unescape into the arena. */
static int lex_quoted(parser *p, size_t i, uint32_t id, size_t *end, bool allow_wildcard)
{
    size_t open = i++;
    uint32_t off = str_begin(p);
    size_t seg = i;
    size_t escaped = SIZE_MAX; /* where the last backslash-escaped character is */
    for (;;) {
        if (i >= p->len) {
            return fail(p, open, "unterminated quote: this '\"' is never closed");
        }
        char c = p->s[i];
        if (c == '\\' && i + 1 < p->len) {
            if (str_add(p, p->s + seg, i - seg) != 0) {
                return p->rc;
            }
            seg = i + 1; /* keep the escaped character, drop the backslash */
            escaped = i + 1;
            i += 2;
            continue;
        }
        if (c == '"') {
            break;
        }
        i++;
    }
    size_t close = i;
    size_t body_end = close;
    es_qnode *n = &p->q->nodes[id];
    /* "customer serv*": a trailing '*' right after a word is a wildcard. */
    if (allow_wildcard && body_end > seg && p->s[body_end - 1] == '*' && escaped != body_end - 1 &&
        (body_end - 1 == seg || (p->s[body_end - 2] != '*' && space_len(p, body_end - 2) == 0))) {
        n->wildcard = true;
        body_end--;
    }
    if (str_add(p, p->s + seg, body_end - seg) != 0 || str_end(p, off, id) != 0) {
        return p->rc;
    }
    n = &p->q->nodes[id];
    if (n->str_len == 0) {
        return fail(p, open, "empty phrase \"\"");
    }
    *end = close + 1;
    return 0;
}

static int lex_regex(parser *p, size_t start)
{
    size_t i = start + 1;
    while (i < p->len && p->s[i] != '/') {
        i += (p->s[i] == '\\' && i + 1 < p->len) ? 2 : 1;
    }
    if (i >= p->len) {
        return fail(p, start, "unterminated regex: this '/' is never closed");
    }
    if (i == start + 1) {
        return fail(p, start, "empty regex //");
    }
    size_t close = i++;
    bool caseless = false;
    while (!word_ends(p, i)) {
        if (p->s[i] == 'i') {
            caseless = true;
            i++;
            continue;
        }
        return fail(p, i, "unknown regex flag '%c' (the only flag is i, for case-insensitive)",
                    p->s[i]);
    }
    uint32_t id;
    if (new_node(p, ES_Q_REGEX, start, i, &id) != 0) {
        return p->rc;
    }
    p->q->nodes[id].caseless = caseless;
    uint32_t off = str_begin(p);
    if (str_add(p, p->s + start + 1, close - start - 1) != 0 || str_end(p, off, id) != 0) {
        return p->rc;
    }
    p->tt = T_LEAF;
    p->tnode = id;
    p->tend = i;
    return 0;
}

/* name:value, name>=N and friends; `run` spans [start, end). */
static int lex_field(parser *p, size_t start, size_t name_end, size_t end, bool *is_field)
{
    const char *s = p->s;
    int f = find_field(s + start, name_end - start);
    size_t v = name_end;
    *is_field = false;
    if (s[v] == ':') {
        v++;
        if (f < 0) {
            /* "https://..." is a word, not a field called https. */
            if (end - v >= 2 && s[v] == '/' && s[v + 1] == '/') {
                return 0;
            }
            return fail(p, start, "unknown field '%.*s' (known fields: " KNOWN_FIELDS ")",
                        (int)(name_end - start), s + start);
        }
        if (fields[f].numeric) {
            return fail(p, start, "write %s>=N (or >, <, <=, =) to compare a count",
                        fields[f].name);
        }
        uint32_t id;
        if (new_node(p, ES_Q_FIELD, start, end, &id) != 0) {
            return p->rc;
        }
        p->q->nodes[id].field = fields[f].field;
        size_t fend = end;
        if (v == end && v < p->len && s[v] == '"') {
            /* author:"john doe" */
            if (lex_quoted(p, v, id, &fend, false) != 0) {
                return p->rc;
            }
            p->q->nodes[id].end = (uint32_t)fend;
        } else {
            if (v == end) {
                return fail(p, start, "'%s:' needs a value", fields[f].name);
            }
            if (fields[f].field == ES_QF_AUTHOR && s[v] == '@') {
                v++;
                if (v == end) {
                    return fail(p, start, "'author:@' needs a name");
                }
            }
            if (memchr(s + v, '*', end - v) != NULL) {
                return fail(p, start, "wildcards are not supported in field values");
            }
            uint32_t off = str_begin(p);
            if (str_add(p, s + v, end - v) != 0 || str_end(p, off, id) != 0) {
                return p->rc;
            }
        }
        es_qnode *n = &p->q->nodes[id];
        const char *val = p->arena.data + n->str; /* the arena is not yet q->strings */
        if (n->field == ES_QF_IS_REPLY && !span_ieq(val, n->str_len, "reply")) {
            return fail(p, start + 3, "unknown value 'is:%.40s' (known: is:reply)", val);
        }
        *is_field = true;
        p->tt = T_LEAF;
        p->tnode = id;
        p->tend = fend;
        return 0;
    }

    /* A comparison: name followed by one of > >= < <= =. */
    es_qcmp cmp;
    if (s[v] == '>' && v + 1 < end && s[v + 1] == '=') {
        cmp = ES_QC_GE;
        v += 2;
    } else if (s[v] == '<' && v + 1 < end && s[v + 1] == '=') {
        cmp = ES_QC_LE;
        v += 2;
    } else if (s[v] == '>') {
        cmp = ES_QC_GT;
        v++;
    } else if (s[v] == '<') {
        cmp = ES_QC_LT;
        v++;
    } else {
        cmp = ES_QC_EQ;
        v++;
    }
    int64_t num = 0;
    bool is_num = parse_count(s + v, end - v, &num);
    if (f < 0) {
        if (!is_num) {
            return 0; /* "e=mc2" is just a word */
        }
        return fail(p, start, "unknown field '%.*s' (known fields: " KNOWN_FIELDS ")",
                    (int)(name_end - start), s + start);
    }
    if (!fields[f].numeric) {
        return fail(p, start, "'%s' is compared with '%s:VALUE', not '%s'", fields[f].name,
                    fields[f].name, es__query_cmp_name(cmp));
    }
    if (!is_num) {
        return fail(p, v, "'%s%s' needs a whole number (like 1000 or 10k)", fields[f].name,
                    es__query_cmp_name(cmp));
    }
    uint32_t id;
    if (new_node(p, ES_Q_FIELD, start, end, &id) != 0) {
        return p->rc;
    }
    es_qnode *n = &p->q->nodes[id];
    n->field = fields[f].field;
    n->cmp = cmp;
    n->num = num;
    *is_field = true;
    p->tt = T_LEAF;
    p->tnode = id;
    p->tend = end;
    return 0;
}

/* A run of non-space characters: operator, field or term. */
static int lex_run(parser *p, size_t start)
{
    const char *s = p->s;
    size_t end = start;
    while (!word_ends(p, end)) {
        end++;
    }
    size_t n = end - start;
    p->tend = end;

    if (span_eq(s + start, n, "AND")) {
        p->tt = T_AND;
        return 0;
    }
    if (span_eq(s + start, n, "OR")) {
        p->tt = T_OR;
        return 0;
    }
    if (span_eq(s + start, n, "NOT")) {
        p->tt = T_NOT;
        return 0;
    }

    /* NEAR/n, ONEAR/n; and their misspellings, which nobody means as words. */
    size_t k = (n > 0 && (s[start] == 'O' || s[start] == 'o')) ? 1 : 0;
    if (n >= k + 4 && span_ieq(s + start + k, 4, "near") &&
        (n == k + 4 || s[start + k + 4] == '/')) {
        bool ordered = k == 1;
        const char *op = ordered ? "ONEAR" : "NEAR";
        if (memcmp(s + start + k, "NEAR", 4) != 0 || (k == 1 && s[start] != 'O')) {
            if (n == k + 4) {
                goto term; /* "near" alone, in lower case, is a word */
            }
            return fail(p, start, "operators are written in upper case: %s/n", op);
        }
        if (n == k + 4) {
            return fail(p, start, "%s needs a distance, like %s/3", op, op);
        }
        uint32_t d = 0;
        size_t i = start + k + 5;
        if (i == end) {
            return fail(p, start, "%s/ needs a distance, like %s/3", op, op);
        }
        for (; i < end; i++) {
            if (!is_digit(s[i])) {
                return fail(p, start, "%s/n needs a whole number of tokens, like %s/3", op, op);
            }
            d = d * 10 + (uint32_t)(s[i] - '0');
            if (d > ES_QUERY_MAX_NEAR) {
                return fail(p, start, "%s distance is at most %d", op, ES_QUERY_MAX_NEAR);
            }
        }
        if (d == 0) {
            return fail(p, start, "%s/0 can never match: the distance must be at least 1", op);
        }
        p->tt = T_NEAR;
        p->tdist = d;
        p->tordered = ordered;
        return 0;
    }

    /* Fields: an identifier followed by ':' or a comparison. */
    if (is_ident_char(s[start])) {
        size_t i = start;
        while (i < end && is_ident_char(s[i])) {
            i++;
        }
        if (i < end && (s[i] == ':' || s[i] == '<' || s[i] == '>' || s[i] == '=')) {
            bool is_field;
            if (lex_field(p, start, i, end, &is_field) != 0) {
                return p->rc;
            }
            if (is_field) {
                return 0;
            }
        }
    }

term:;
    es_qterm kind = ES_QT_WORD;
    size_t body = start;
    if (s[start] == '@') {
        kind = ES_QT_HANDLE;
        body++;
    } else if (s[start] == '#') {
        kind = ES_QT_HASHTAG;
        body++;
    } else if (s[start] == '$' && n > 1 && ((s[start + 1] >= 'a' && s[start + 1] <= 'z') ||
                                            (s[start + 1] >= 'A' && s[start + 1] <= 'Z'))) {
        kind = ES_QT_CASHTAG;
        body++;
    }
    size_t body_end = end;
    bool wildcard = false;
    if (body_end > body && s[body_end - 1] == '*') {
        wildcard = true;
        body_end--;
    }
    const char *star = memchr(s + body, '*', body_end - body);
    if (star != NULL) {
        return fail(p, (size_t)(star - s), "a wildcard '*' may only end a term");
    }
    if (body_end == body) {
        if (wildcard && body == start) {
            return fail(p, start, "a wildcard needs at least one character before the '*'");
        }
        return fail(p, start, "'%c' needs a name after it", s[start]);
    }
    uint32_t id;
    if (new_node(p, ES_Q_TERM, start, end, &id) != 0) {
        return p->rc;
    }
    p->q->nodes[id].term = kind;
    p->q->nodes[id].wildcard = wildcard;
    uint32_t off = str_begin(p);
    if (str_add(p, s + body, body_end - body) != 0 || str_end(p, off, id) != 0) {
        return p->rc;
    }
    p->tt = T_LEAF;
    p->tnode = id;
    return 0;
}

/* Read the next token into p->tt and friends. */
static int next(parser *p)
{
    p->prev_tt = p->tt;
    p->prev_pos = p->tpos;
    p->prev_end = p->tend;
    size_t i = p->at;
    size_t sl;
    while (i < p->len && (sl = space_len(p, i)) > 0) {
        i += sl;
    }
    p->tpos = i;
    p->tend = i;
    if (i >= p->len) {
        p->tt = T_EOF;
        p->at = i;
        return 0;
    }
    char c = p->s[i];
    int rc = 0;
    if (c == '(') {
        p->tt = T_LP;
        p->tend = i + 1;
    } else if (c == ')') {
        p->tt = T_RP;
        p->tend = i + 1;
    } else if (c == '"') {
        uint32_t id;
        if (new_node(p, ES_Q_TERM, i, i, &id) != 0) {
            return p->rc;
        }
        p->q->nodes[id].term = ES_QT_PHRASE;
        size_t end;
        if (lex_quoted(p, i, id, &end, true) != 0) {
            return p->rc;
        }
        p->q->nodes[id].end = (uint32_t)end;
        p->tt = T_LEAF;
        p->tnode = id;
        p->tend = end;
    } else if (c == '/') {
        rc = lex_regex(p, i);
    } else if (c == '-') {
        if (word_ends(p, i + 1) && (i + 1 >= p->len || p->s[i + 1] != '"') &&
            (i + 1 >= p->len || p->s[i + 1] != '(')) {
            return fail(p, i, "'-' must be directly followed by the term it excludes, like -refund");
        }
        p->tt = T_MINUS;
        p->tend = i + 1;
    } else {
        rc = lex_run(p, i);
    }
    p->at = p->tend;
    return rc;
}

/* ---- parser ------------------------------------------------------------- */

static int parse_or(parser *p, uint32_t *out);

static bool starts_unary(ttype t)
{
    return t == T_LEAF || t == T_LP || t == T_NOT || t == T_MINUS;
}

static void quote_tok(const parser *p, size_t pos, size_t end, char *buf, size_t n)
{
    size_t len = end - pos;
    if (len > 24) {
        snprintf(buf, n, "%.24s...", p->s + pos);
    } else {
        snprintf(buf, n, "%.*s", (int)len, p->s + pos);
    }
}

/* The current token cannot start a term: say why, as precisely as we can. */
static int expected_term(parser *p)
{
    char what[40], prev[40];
    quote_tok(p, p->tpos, p->tend, what, sizeof what);
    quote_tok(p, p->prev_pos, p->prev_end, prev, sizeof prev);
    switch (p->tt) {
    case T_EOF:
        if (p->prev_tt == T_EOF) {
            return fail(p, 0, "empty query");
        }
        return fail(p, p->tpos, "expected a term after '%s' at the end of the query", prev);
    case T_RP:
        if (p->prev_tt == T_LP) {
            return fail(p, p->prev_pos, "empty parentheses ()");
        }
        if (p->depth == 0 || p->prev_tt == T_EOF) {
            return fail(p, p->tpos, "unexpected ')' with no matching '('");
        }
        return fail(p, p->tpos, "expected a term after '%s', found ')'", prev);
    case T_AND:
    case T_OR:
    case T_NEAR:
        return fail(p, p->tpos, "'%s' needs a term on each side", what);
    default:
        return fail(p, p->tpos, "expected a term, found '%s'", what);
    }
}

/* A NEAR operand must have token positions: a term or an OR of terms. */
static int check_near_operand(parser *p, uint32_t id, const char *op)
{
    const es_qnode *n = &p->q->nodes[id];
    bool ok = n->type == ES_Q_TERM;
    if (n->type == ES_Q_OR) {
        ok = true;
        for (uint32_t i = 0; i < n->count; i++) {
            if (p->q->nodes[p->q->kids[n->first + i]].type != ES_Q_TERM) {
                ok = false;
            }
        }
    }
    if (!ok) {
        char what[40];
        quote_tok(p, n->pos, n->end, what, sizeof what);
        return fail(p, n->pos,
                    "%s works on words, phrases, tags and OR-groups of them, not on '%s'", op,
                    what);
    }
    return 0;
}

static int parse_primary(parser *p, uint32_t *out)
{
    if (p->tt == T_LEAF) {
        *out = p->tnode;
        return next(p);
    }
    if (p->tt == T_LP) {
        size_t open = p->tpos;
        if (++p->depth > ES_QUERY_MAX_DEPTH) {
            return fail(p, open, "query nested too deeply (more than %d levels)",
                        ES_QUERY_MAX_DEPTH);
        }
        if (next(p) != 0 || parse_or(p, out) != 0) {
            return p->rc;
        }
        if (p->tt != T_RP) {
            return fail(p, open, "expected ')' to close this '('");
        }
        p->depth--;
        /* Widen the node to cover its parentheses, for error messages. */
        p->q->nodes[*out].pos = (uint32_t)open;
        p->q->nodes[*out].end = (uint32_t)p->tend;
        return next(p);
    }
    return expected_term(p);
}

static int parse_near(parser *p, uint32_t *out)
{
    uint32_t left;
    if (parse_primary(p, &left) != 0) {
        return p->rc;
    }
    if (p->tt != T_NEAR) {
        *out = left;
        return 0;
    }
    const char *op = p->tordered ? "ONEAR" : "NEAR";
    uint32_t dist = p->tdist;
    bool ordered = p->tordered;
    if (check_near_operand(p, left, op) != 0 || next(p) != 0) {
        return p->rc;
    }
    uint32_t right;
    if (parse_primary(p, &right) != 0 || check_near_operand(p, right, op) != 0) {
        return p->rc;
    }
    if (p->tt == T_NEAR) {
        return fail(p, p->tpos, "%s cannot be chained; combine two with AND instead", op);
    }
    uint32_t id;
    if (new_node(p, ES_Q_NEAR, p->q->nodes[left].pos, p->q->nodes[right].end, &id) != 0) {
        return p->rc;
    }
    p->q->nodes[id].dist = dist;
    p->q->nodes[id].ordered = ordered;
    size_t base = p->stack_len;
    if (push_kid(p, left) != 0 || push_kid(p, right) != 0 || pop_kids(p, base, id) != 0) {
        return p->rc;
    }
    *out = id;
    return 0;
}

static int parse_unary(parser *p, uint32_t *out)
{
    if (p->tt != T_NOT && p->tt != T_MINUS) {
        return parse_near(p, out);
    }
    size_t pos = p->tpos;
    if (++p->depth > ES_QUERY_MAX_DEPTH) {
        return fail(p, pos, "query nested too deeply (more than %d levels)", ES_QUERY_MAX_DEPTH);
    }
    uint32_t kid;
    if (next(p) != 0 || parse_unary(p, &kid) != 0) {
        return p->rc;
    }
    p->depth--;
    uint32_t id;
    if (new_node(p, ES_Q_NOT, pos, p->q->nodes[kid].end, &id) != 0) {
        return p->rc;
    }
    size_t base = p->stack_len;
    if (push_kid(p, kid) != 0 || pop_kids(p, base, id) != 0) {
        return p->rc;
    }
    *out = id;
    return 0;
}

/* Push `kid`, or its children if it is the same n-ary operator (flattening). */
static int push_flat(parser *p, es_qtype type, uint32_t kid)
{
    const es_qnode *n = &p->q->nodes[kid];
    if (n->type != type) {
        return push_kid(p, kid);
    }
    for (uint32_t i = 0; i < n->count; i++) {
        if (push_kid(p, p->q->kids[n->first + i]) != 0) {
            return p->rc;
        }
    }
    return 0;
}

static int parse_and(parser *p, uint32_t *out)
{
    size_t base = p->stack_len;
    size_t pos = p->tpos;
    uint32_t kid;
    if (parse_unary(p, &kid) != 0 || push_flat(p, ES_Q_AND, kid) != 0) {
        return p->rc;
    }
    for (;;) {
        if (p->tt == T_AND) {
            if (next(p) != 0) {
                return p->rc;
            }
            if (!starts_unary(p->tt)) {
                return expected_term(p);
            }
        } else if (!starts_unary(p->tt)) {
            break;
        }
        if (parse_unary(p, &kid) != 0 || push_flat(p, ES_Q_AND, kid) != 0) {
            return p->rc;
        }
    }
    if (p->stack_len - base == 1) {
        *out = p->stack[--p->stack_len];
        return 0;
    }
    uint32_t id;
    if (new_node(p, ES_Q_AND, pos, p->prev_end, &id) != 0 || pop_kids(p, base, id) != 0) {
        return p->rc;
    }
    *out = id;
    return 0;
}

static int parse_or(parser *p, uint32_t *out)
{
    size_t base = p->stack_len;
    size_t pos = p->tpos;
    uint32_t kid;
    if (parse_and(p, &kid) != 0 || push_flat(p, ES_Q_OR, kid) != 0) {
        return p->rc;
    }
    while (p->tt == T_OR) {
        if (next(p) != 0) {
            return p->rc;
        }
        if (!starts_unary(p->tt)) {
            return expected_term(p);
        }
        if (parse_and(p, &kid) != 0 || push_flat(p, ES_Q_OR, kid) != 0) {
            return p->rc;
        }
    }
    if (p->stack_len - base == 1) {
        *out = p->stack[--p->stack_len];
        return 0;
    }
    uint32_t id;
    if (new_node(p, ES_Q_OR, pos, p->prev_end, &id) != 0 || pop_kids(p, base, id) != 0) {
        return p->rc;
    }
    *out = id;
    return 0;
}

/*
 * Could the query match a mention that contains none of its terms and passes
 * none of its filters? Evaluates the tree with every leaf false. If the
 * answer is yes the query is "only negative" ("-foo", "NOT (a OR b)") and
 * would match nearly everything, which is never what a topic means.
 */
static bool true_when_empty(const es_query *q, uint32_t id)
{
    const es_qnode *n = &q->nodes[id];
    switch (n->type) {
    case ES_Q_AND:
        for (uint32_t i = 0; i < n->count; i++) {
            if (!true_when_empty(q, q->kids[n->first + i])) {
                return false;
            }
        }
        return true;
    case ES_Q_OR:
        for (uint32_t i = 0; i < n->count; i++) {
            if (true_when_empty(q, q->kids[n->first + i])) {
                return true;
            }
        }
        return false;
    case ES_Q_NOT:
        return !true_when_empty(q, q->kids[n->first]);
    default:
        return false;
    }
}

/* The first NOT on a path that makes the query true when empty. */
static uint32_t first_not(const es_query *q, uint32_t id)
{
    const es_qnode *n = &q->nodes[id];
    if (n->type == ES_Q_NOT) {
        return id;
    }
    if (n->type == ES_Q_AND || n->type == ES_Q_OR) {
        for (uint32_t i = 0; i < n->count; i++) {
            uint32_t k = q->kids[n->first + i];
            if (true_when_empty(q, k)) {
                return first_not(q, k);
            }
        }
    }
    return id;
}

void es__query_free(es_query *q)
{
    if (q == NULL) {
        return;
    }
    free(q->nodes);
    free(q->kids);
    free(q->strings);
    memset(q, 0, sizeof *q);
}

int es__query_parse(const char *text, size_t len, es_query *q, size_t *err_off, char *msg,
                    size_t msg_size)
{
    size_t dummy_off;
    char dummy_msg[1];
    parser p;
    memset(&p, 0, sizeof p);
    memset(q, 0, sizeof *q);
    p.s = text;
    p.len = len;
    p.q = q;
    p.err_off = err_off != NULL ? err_off : &dummy_off;
    p.msg = msg != NULL && msg_size > 0 ? msg : dummy_msg;
    p.msg_size = msg != NULL && msg_size > 0 ? msg_size : sizeof dummy_msg;
    p.msg[0] = '\0';
    *p.err_off = 0;
    /* Every string in the arena is a slice of the text plus a NUL. */
    es_buf_init(&p.arena, len + ES_QUERY_MAX_NODES + 16);
    p.tt = T_EOF;

    if (len > ES_QUERY_MAX_LEN) {
        fail(&p, 0, "query too long (%zu bytes; the limit is %d)", len, ES_QUERY_MAX_LEN);
    } else if (memchr(text, '\0', len) != NULL) {
        fail(&p, (size_t)((const char *)memchr(text, '\0', len) - text),
             "NUL byte in query");
    } else if (next(&p) == 0 && parse_or(&p, &q->root) == 0) {
        if (p.tt != T_EOF) {
            expected_term(&p);
        } else if (true_when_empty(q, q->root)) {
            fail(&p, q->nodes[first_not(q, q->root)].pos,
                 "the query only excludes; add a term it must contain "
                 "(a query cannot be only negative)");
        }
    }
    free(p.stack);
    if (p.rc != 0) {
        es_buf_free(&p.arena);
        es__query_free(q);
        return p.rc;
    }
    if (p.arena.data == NULL && es_buf_reserve(&p.arena, 1) != 0) {
        es__query_free(q);
        return ES_ENOMEM;
    }
    q->strings = p.arena.data;
    q->strings_len = p.arena.len;
    return 0;
}
