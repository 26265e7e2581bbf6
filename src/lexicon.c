/*
 * Loading the sentiment lexicon: VADER's two files and our rule data, all
 * merged into one open-addressing hash table keyed by exact bytes.
 *
 * Every file is read whole (with a size ceiling), split in place, and kept
 * for the lifetime of the lexicon: keys point into those buffers, so there
 * is one allocation per file, not one per entry.
 */
#include "lexicon.h"
#include "earshot.h"
#include "tokenize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No lexicon file of ours is anywhere near this; a bigger one is a mistake. */
#define LEX_FILE_MAX ((size_t)64 << 20)
#define LEX_ENTRIES_MAX ((size_t)1 << 22)

static const struct {
    const char *word;
    uint8_t id;
} rule_words[] = {
    {"no", ES_W_NO},       {"kind", ES_W_KIND},    {"of", ES_W_OF},
    {"but", ES_W_BUT},     {"least", ES_W_LEAST},  {"at", ES_W_AT},
    {"very", ES_W_VERY},   {"never", ES_W_NEVER},  {"so", ES_W_SO},
    {"this", ES_W_THIS},   {"without", ES_W_WITHOUT}, {"doubt", ES_W_DOUBT},
    {"or", ES_W_OR},       {"nor", ES_W_NOR},
};

static int keep_buf(struct es_lexicon *lex, char *p)
{
    if (lex->n_bufs == lex->cap_bufs) {
        size_t cap = lex->cap_bufs ? lex->cap_bufs * 2 : 8;
        char **b = realloc(lex->bufs, cap * sizeof *b);
        if (b == NULL) {
            return ES_ENOMEM;
        }
        lex->bufs = b;
        lex->cap_bufs = cap;
    }
    lex->bufs[lex->n_bufs++] = p;
    return 0;
}

static int grow_table(struct es_lexicon *lex)
{
    size_t size = lex->mask ? (lex->mask + 1) * 2 : 1024;
    uint64_t *slots = calloc(size, sizeof *slots);
    if (slots == NULL) {
        return ES_ENOMEM;
    }
    for (size_t k = 0; k < lex->n; k++) {
        size_t i = lex->e[k].hash & (size - 1);
        while (slots[i] != 0) {
            i = (i + 1) & (size - 1);
        }
        slots[i] = (uint64_t)lex->e[k].hash << 32 | (uint32_t)(k + 1);
    }
    free(lex->slots);
    lex->slots = slots;
    lex->mask = size - 1;
    return 0;
}

/*
 * The entry for key, created (with no flags) if absent. key must stay valid
 * for the lifetime of the lexicon. Returns the index or a negative code.
 */
static int32_t intern(struct es_lexicon *lex, const char *key, size_t n)
{
    uint32_t h = es_lex_hash(key, n);
    if (lex->mask != 0) {
        int32_t id = es_lex_find_h(lex, key, n, h);
        if (id >= 0) {
            return id;
        }
    }
    if (lex->n >= LEX_ENTRIES_MAX) {
        return ES_ETOOBIG;
    }
    /* Keep the load factor under one half so probes stay short. */
    if (lex->mask == 0 || (lex->n + 1) * 2 > lex->mask + 1) {
        int rc = grow_table(lex);
        if (rc != 0) {
            return rc;
        }
    }
    if (lex->n == lex->cap) {
        size_t cap = lex->cap ? lex->cap * 2 : 1024;
        es_lex_entry *e = realloc(lex->e, cap * sizeof *e);
        if (e == NULL) {
            return ES_ENOMEM;
        }
        lex->e = e;
        lex->cap = cap;
    }
    es_lex_entry *e = &lex->e[lex->n];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->len = (uint32_t)n;
    e->hash = h;
    e->emoji = -1;
    size_t i = h & lex->mask;
    while (lex->slots[i] != 0) {
        i = (i + 1) & lex->mask;
    }
    lex->slots[i] = (uint64_t)h << 32 | (uint32_t)(lex->n + 1);
    return (int32_t)lex->n++;
}

/* Read path into a NUL-terminated buffer kept by the lexicon. */
static int read_file(struct es_lexicon *lex, const char *dir, const char *name, char **out,
                     size_t *len, es_error *err)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        return es_error_set(err, ES_EINVAL, 0, 0, "lexicon path too long: %s/%s", dir, name);
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int rc = es_error_set(err, ES_EIO, 0, 0, "cannot open %s: %s", path, strerror(errno));
        if (err != NULL) {
            snprintf(err->file, sizeof err->file, "%.*s", (int)sizeof err->file - 1, path);
        }
        return rc;
    }
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (used + 1 >= cap) {
            if (cap >= LEX_FILE_MAX) {
                free(buf);
                fclose(f);
                return es_error_set(err, ES_ETOOBIG, 0, 0, "%s is larger than %zu MiB", path,
                                    LEX_FILE_MAX >> 20);
            }
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0) {
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory reading %s", path);
    }
    if (bad) {
        free(buf);
        return es_error_set(err, ES_EIO, 0, 0, "error reading %s", path);
    }
    buf[used] = '\0';
    if (keep_buf(lex, buf) != 0) {
        free(buf);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory reading %s", path);
    }
    *out = buf;
    *len = used;
    return 0;
}

/*
 * Line iteration over a file buffer, splitting it in place. Each call
 * returns the next line (NUL-terminated, CR removed) with leading and
 * trailing ASCII whitespace trimmed, as upstream's line.strip() does.
 */
struct lines {
    char *p, *end;
    int line;
};

static char *next_line(struct lines *it)
{
    if (it->p >= it->end) {
        return NULL;
    }
    char *s = it->p;
    char *nl = memchr(s, '\n', (size_t)(it->end - s));
    char *e = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    it->line++;
    *e = '\0';
    while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\v' ||
                     e[-1] == '\f')) {
        *--e = '\0';
    }
    while (*s == ' ' || *s == '\t' || *s == '\v' || *s == '\f' || *s == '\r') {
        s++;
    }
    return s;
}

static int line_error(es_error *err, int code, const char *name, int line, int col,
                      const char *what)
{
    int rc = es_error_set(err, code, line, col, "%s:%d: %s", name, line, what);
    if (err != NULL) {
        snprintf(err->file, sizeof err->file, "%s", name);
    }
    return rc;
}

/* Parse a number field; the whole field must be a finite number. */
static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || v != v) {
        return -1;
    }
    *out = v;
    return 0;
}

/* vader_lexicon.txt: TOKEN<TAB>MEAN<TAB>SD<TAB>[ratings]; later duplicates win. */
static int load_vader(struct es_lexicon *lex, const char *dir, es_error *err)
{
    static const char name[] = "vader_lexicon.txt";
    char *buf;
    size_t len;
    int rc = read_file(lex, dir, name, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    struct lines it = {buf, buf + len, 0};
    char *l;
    while ((l = next_line(&it)) != NULL) {
        if (*l == '\0') {
            continue;
        }
        char *tab = strchr(l, '\t');
        if (tab == NULL || tab == l) {
            return line_error(err, ES_ELEXICON, name, it.line, 1,
                              "expected TOKEN<TAB>MEAN");
        }
        *tab = '\0';
        char *num = tab + 1;
        char *tab2 = strchr(num, '\t');
        if (tab2 != NULL) {
            *tab2 = '\0';
        }
        double v;
        if (parse_num(num, &v) != 0) {
            return line_error(err, ES_ELEXICON, name, it.line, (int)(num - l) + 1,
                              "MEAN is not a number");
        }
        int32_t id = intern(lex, l, (size_t)(tab - l));
        if (id < 0) {
            return es_error_set(err, id, it.line, 0, "%s:%d: %s", name, it.line,
                                es_strerror(id));
        }
        lex->e[id].valence = v;
        lex->e[id].flags |= ES_LEX_VALENCE;
    }
    return 0;
}

/* Add a lower-cased copy of the words of an emoji description. */
static int split_description(struct es_lexicon *lex, es_lex_emoji *em, char *copy)
{
    em->first = (uint32_t)lex->n_dwords;
    em->n = 0;
    char *p = copy;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        char *w = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        char *wend = p;
        if (*p != '\0') {
            *p++ = '\0';
        }
        /* Lower-case ASCII in place and strip the punctuation VADER strips
         * from words ("ON!" -> "on"), keeping short tokens whole as it does. */
        for (char *q = w; q < wend; q++) {
            if (*q >= 'A' && *q <= 'Z') {
                *q = (char)(*q + 32);
            }
        }
        char *a = w, *b = wend;
        while (a < b && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", *a) != NULL) {
            a++;
        }
        while (b > a && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", b[-1]) != NULL) {
            b--;
        }
        if (b - a > 2) {
            *b = '\0';
            w = a;
            wend = b;
        }
        if (lex->n_dwords == lex->cap_dwords) {
            size_t cap = lex->cap_dwords ? lex->cap_dwords * 2 : 4096;
            es_lex_dword *d = realloc(lex->dwords, cap * sizeof *d);
            if (d == NULL) {
                return ES_ENOMEM;
            }
            lex->dwords = d;
            lex->cap_dwords = cap;
        }
        es_lex_dword *d = &lex->dwords[lex->n_dwords++];
        d->text = w;
        d->len = (uint32_t)(wend - w);
        d->id = -1;
        em->n++;
    }
    return 0;
}

/* emoji_utf8_lexicon.txt: EMOJI<TAB>DESCRIPTION; later duplicates win. */
static int load_emoji(struct es_lexicon *lex, const char *dir, es_error *err)
{
    static const char name[] = "emoji_utf8_lexicon.txt";
    char *buf;
    size_t len;
    int rc = read_file(lex, dir, name, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    /* Descriptions are split into words in a second copy, since the first
     * keeps the description as written for --explain. */
    char *copy = malloc(len + 1);
    if (copy == NULL || keep_buf(lex, copy) != 0) {
        free(copy);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    memcpy(copy, buf, len + 1);
    struct lines it = {buf, buf + len, 0};
    char *l;
    while ((l = next_line(&it)) != NULL) {
        if (*l == '\0') {
            continue;
        }
        char *tab = strchr(l, '\t');
        if (tab == NULL || tab == l) {
            return line_error(err, ES_ELEXICON, name, it.line, 1,
                              "expected EMOJI<TAB>DESCRIPTION");
        }
        *tab = '\0';
        char *desc = tab + 1;
        char *tab2 = strchr(desc, '\t');
        if (tab2 != NULL) {
            *tab2 = '\0';
        }
        int32_t id = intern(lex, l, (size_t)(tab - l));
        if (id < 0) {
            return es_error_set(err, id, it.line, 0, "%s:%d: %s", name, it.line,
                                es_strerror(id));
        }
        if (lex->n_emoji == lex->cap_emoji) {
            size_t cap = lex->cap_emoji ? lex->cap_emoji * 2 : 1024;
            es_lex_emoji *em = realloc(lex->emoji, cap * sizeof *em);
            if (em == NULL) {
                return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
            }
            lex->emoji = em;
            lex->cap_emoji = cap;
        }
        es_lex_emoji *em = &lex->emoji[lex->n_emoji];
        em->desc = desc;
        em->desc_len = (uint32_t)strlen(desc);
        /* The copy still runs on into the next lines; end it here. */
        char *dcopy = copy + (desc - buf);
        dcopy[em->desc_len] = '\0';
        rc = split_description(lex, em, dcopy);
        if (rc != 0) {
            return es_error_set(err, rc, 0, 0, "out of memory");
        }
        lex->e[id].emoji = (int32_t)lex->n_emoji++;
    }
    return 0;
}

/* Split a phrase of up to three words into entry ids (interning them). */
static int phrase_ids(struct es_lexicon *lex, char *phrase, es_lex_phrase *ph)
{
    ph->n = 0;
    char *p = phrase;
    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        char *w = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (ph->n == 3) {
            return ES_EINVAL;
        }
        if (*p != '\0') {
            *p++ = '\0';
        }
        int32_t id = intern(lex, w, strlen(w));
        if (id < 0) {
            return id;
        }
        lex->e[id].flags |= ES_LEX_PHRASE;
        ph->w[ph->n++] = id;
    }
    return ph->n > 0 ? 0 : ES_EINVAL;
}

enum data_kind { D_BOOSTERS, D_NEGATIONS, D_IDIOMS, D_EMOTICONS, D_GLUED };

/* Our own rule files: '#' comments, blank lines, KEY[<TAB>NUMBER]. */
static int load_data(struct es_lexicon *lex, const char *dir, const char *name,
                     enum data_kind kind, es_error *err)
{
    char *buf;
    size_t len;
    int rc = read_file(lex, dir, name, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    struct lines it = {buf, buf + len, 0};
    char *l;
    while ((l = next_line(&it)) != NULL) {
        if (*l == '\0' || *l == '#') {
            continue;
        }
        char *tab = strchr(l, '\t');
        double v = 0;
        if (kind == D_NEGATIONS || kind == D_GLUED) {
            if (tab != NULL) {
                return line_error(err, ES_ELEXICON, name, it.line, (int)(tab - l) + 1,
                                  "expected one word a line");
            }
        } else {
            if (tab == NULL || tab == l) {
                return line_error(err, ES_ELEXICON, name, it.line, 1,
                                  "expected PHRASE<TAB>NUMBER");
            }
            *tab = '\0';
            if (parse_num(tab + 1, &v) != 0) {
                return line_error(err, ES_ELEXICON, name, it.line, (int)(tab - l) + 2,
                                  "not a number");
            }
        }
        int multi = strchr(l, ' ') != NULL;
        if (multi && kind != D_BOOSTERS && kind != D_IDIOMS) {
            return line_error(err, ES_ELEXICON, name, it.line, 1, "expected a single word");
        }
        if (multi || kind == D_IDIOMS) {
            es_lex_phrase *ph;
            if (kind == D_IDIOMS) {
                if (lex->n_idioms == sizeof lex->idioms / sizeof lex->idioms[0]) {
                    return line_error(err, ES_ELEXICON, name, it.line, 1, "too many idioms");
                }
                ph = &lex->idioms[lex->n_idioms];
            } else {
                if (lex->n_ngrams == sizeof lex->ngrams / sizeof lex->ngrams[0]) {
                    return line_error(err, ES_ELEXICON, name, it.line, 1,
                                      "too many multi-word boosters");
                }
                ph = &lex->ngrams[lex->n_ngrams];
            }
            rc = phrase_ids(lex, l, ph);
            if (rc != 0) {
                return line_error(err, ES_ELEXICON, name, it.line, 1,
                                  rc == ES_ENOMEM ? "out of memory"
                                                  : "a phrase has one to three words");
            }
            ph->value = v;
            if (kind == D_IDIOMS) {
                lex->n_idioms++;
            } else {
                lex->n_ngrams++;
            }
            continue;
        }
        int32_t id = intern(lex, l, strlen(l));
        if (id < 0) {
            return line_error(err, id, name, it.line, 1, es_strerror(id));
        }
        es_lex_entry *e = &lex->e[id];
        switch (kind) {
        case D_BOOSTERS:
            e->flags |= ES_LEX_BOOSTER;
            e->booster = v;
            break;
        case D_NEGATIONS:
            e->flags |= ES_LEX_NEGATOR;
            break;
        case D_EMOTICONS:
            e->flags |= ES_LEX_DVALENCE;
            e->dvalence = v;
            break;
        case D_GLUED:
            e->flags |= ES_LEX_GLUED_OK;
            break;
        case D_IDIOMS:
            break;
        }
    }
    return 0;
}

void es_lexicon_free(es_lexicon *lex)
{
    if (lex == NULL) {
        return;
    }
    for (size_t i = 0; i < lex->n_bufs; i++) {
        free(lex->bufs[i]);
    }
    free(lex->bufs);
    free(lex->e);
    free(lex->slots);
    free(lex->emoji);
    free(lex->dwords);
    free(lex);
}

int es_lexicon_load(const char *dir, es_lexicon **out, es_error *err)
{
    *out = NULL;
    if (dir == NULL) {
        return es_error_set(err, ES_EINVAL, 0, 0, "no lexicon directory");
    }
    struct es_lexicon *lex = calloc(1, sizeof *lex);
    if (lex == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    int rc = load_vader(lex, dir, err);
    if (rc == 0) {
        rc = load_emoji(lex, dir, err);
    }
    if (rc == 0) {
        rc = load_data(lex, dir, "boosters.txt", D_BOOSTERS, err);
    }
    if (rc == 0) {
        rc = load_data(lex, dir, "negations.txt", D_NEGATIONS, err);
    }
    if (rc == 0) {
        rc = load_data(lex, dir, "idioms.txt", D_IDIOMS, err);
    }
    if (rc == 0) {
        rc = load_data(lex, dir, "emoticons.txt", D_EMOTICONS, err);
    }
    if (rc == 0) {
        rc = load_data(lex, dir, "glued_short.txt", D_GLUED, err);
    }
    for (size_t k = 0; rc == 0 && k < sizeof rule_words / sizeof rule_words[0]; k++) {
        int32_t id = intern(lex, rule_words[k].word, strlen(rule_words[k].word));
        if (id < 0) {
            rc = es_error_set(err, id, 0, 0, "%s", es_strerror(id));
            break;
        }
        lex->e[id].word = rule_words[k].id;
    }
    if (rc != 0) {
        es_lexicon_free(lex);
        return rc;
    }
    /* Default-mode valences start as the lexicon's; emoticons.txt overrides. */
    for (size_t k = 0; k < lex->n; k++) {
        es_lex_entry *e = &lex->e[k];
        if (!(e->flags & ES_LEX_DVALENCE)) {
            e->dvalence = e->valence;
            if (e->flags & ES_LEX_VALENCE) {
                e->flags |= ES_LEX_DVALENCE;
            }
        }
    }
    /* Emoji description words resolve once, here, not per sentence. */
    for (size_t k = 0; k < lex->n_dwords; k++) {
        lex->dwords[k].id = es_lex_find(lex, lex->dwords[k].text, lex->dwords[k].len);
    }
    *out = lex;
    return 0;
}
