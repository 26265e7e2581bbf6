/*
 * earshot score: sentiment of texts given as arguments, NDJSON lines on
 * stdin ({"text": ..., "id": ...}), or raw lines with --plain.
 *
 * Output is one JSON object per input, in input order, built in one large
 * buffer and written in big blocks: printf per field would cost more than
 * the scoring itself. A bad input line is reported on stderr as
 * "earshot score: line N: <what>" and skipped; the exit status is then 1,
 * but every good line is still scored and printed.
 *
 * NDJSON is read here with a small yajl callback parser per line rather
 * than the shared decoder (include/earshot/decode.h). The two agree on the
 * error cases the contract names, but score needs what a mention does not
 * keep: the id echoed as written (a number stays a number), and messages
 * about lines ("line exceeds ...") rather than records. Measured, the
 * decoder would not be faster either: both run the same yajl lexer, and the
 * per-line cost here is only the callbacks plus an arena-backed parser.
 */
#include "cli.h"
#include "earshot.h"

#include "buf.h"
#include "earshot/intent.h"
#include "score.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#define LINE_MAX_BYTES ((size_t)1 << 20) /* one input line */
#define JSON_DEPTH_MAX 64
#define OUT_FLUSH ((size_t)1 << 16)
#define OUT_MAX ((size_t)64 << 20) /* one output record can hold an --explain */

struct score_cli {
    es_scorer *scorer;
    /* intent (owned by the intent engineer): the cue set, and tokens for
     * compat mode, whose scorer does not use the social tokenizer. */
    es_cues *cues;
    es_tokens toks;
    int explain;
    es_buf out;
    int write_failed;
    uint64_t bad;
};

/* ---- output ----------------------------------------------------------- */

static void flush_out(struct score_cli *c)
{
    size_t off = 0;
    while (off < c->out.len && !c->write_failed) {
        ssize_t n = write(1, c->out.data + off, c->out.len - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            c->write_failed = 1;
            break;
        }
        off += (size_t)n;
    }
    es_buf_reset(&c->out);
}

/* Append one result. id is raw JSON (a quoted string or a number). */
static int emit(struct score_cli *c, const char *id, size_t id_len, const es_sentiment *r,
                const es_intent *in)
{
    es_buf *b = &c->out;
    int rc = es_buf_reserve(b, id_len + 64 + 4 * ES_FMT_FIXED_MAX);
    if (rc != 0) {
        return rc;
    }
    char *o = b->data + b->len;
    memcpy(o, "{\"id\":", 6);
    o += 6;
    memcpy(o, id, id_len);
    o += id_len;
    memcpy(o, ",\"sentiment\":{\"compound\":", 25);
    o += 25;
    o += es_fmt_fixed(o, r->compound, 4);
    memcpy(o, ",\"pos\":", 7);
    o += 7;
    o += es_fmt_fixed(o, r->pos, 3);
    memcpy(o, ",\"neu\":", 7);
    o += 7;
    o += es_fmt_fixed(o, r->neu, 3);
    memcpy(o, ",\"neg\":", 7);
    o += 7;
    o += es_fmt_fixed(o, r->neg, 3);
    *o++ = '}';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    /* ---- intent (contract order: id, sentiment, intent, complaint, why) */
    rc = es_buf_adds(b, ",\"intent\":\"");
    if (rc == 0) {
        rc = es_buf_adds(b, es_intent_name(in->kind));
    }
    if (rc == 0) {
        rc = es_buf_adds(b, "\",\"complaint\":");
    }
    if (rc == 0) {
        rc = es_buf_json_fixed(b, in->complaint, 4);
    }
    if (rc != 0) {
        return rc;
    }
    /* ---- end intent */
    if (c->explain) {
        rc = es_buf_adds(b, ",\"why\":");
        if (rc == 0) {
            rc = es__score_explain_json(c->scorer, b);
        }
        /* intent: the sentiment explanation is one object; the intent rules
         * go inside it as "intent": [...] (see es_intent_why_json). */
        if (rc == 0 && b->len > 0 && b->data[b->len - 1] == '}') {
            b->len--;
            rc = es_buf_adds(b, b->data[b->len - 1] == '{' ? "\"intent\":" : ",\"intent\":");
            if (rc == 0) {
                rc = es_intent_why_json(in, b);
            }
            if (rc == 0) {
                rc = es_buf_addc(b, '}');
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
    rc = es_buf_add(b, "}\n", 2);
    if (rc == 0 && b->len >= OUT_FLUSH) {
        flush_out(c);
    }
    return rc;
}

static void bad_line(struct score_cli *c, uint64_t line, const char *what)
{
    c->bad++;
    fprintf(stderr, "earshot score: line %llu: %s\n", (unsigned long long)line, what);
}

/* Score one text and append its result. Returns 0 or a fatal code. */
static int score_one(struct score_cli *c, const char *id, size_t id_len, const char *text,
                     size_t len, uint64_t line)
{
    es_sentiment r;
    int rc = es_scorer_score(c->scorer, text, len, &r);
    if (rc != 0) {
        bad_line(c, line, es_strerror(rc));
        return rc == ES_ENOMEM ? rc : 0;
    }
    /* intent: reuse the scorer's tokens; compat mode has none, so tokenize. */
    const es_tokens *toks = es_scorer_tokens(c->scorer);
    if (toks == NULL || (toks->n == 0 && len > 0)) {
        if ((rc = es_tokenize(text, len, &c->toks)) != 0) {
            bad_line(c, line, es_strerror(rc));
            return rc == ES_ENOMEM ? rc : 0;
        }
        toks = &c->toks;
    }
    es_intent in;
    es_intent_classify(c->cues, toks, text, len, &r, NULL, &in);
    rc = emit(c, id, id_len, &r, &in);
    if (rc == ES_ETOOBIG) {
        bad_line(c, line, "explanation exceeds the output limit");
        return 0;
    }
    return rc;
}

/* ---- one NDJSON line with yajl ---------------------------------------- */

struct jline {
    int depth;
    int key; /* at depth 1: 0 other, 1 "text", 2 "id" */
    int too_deep;
    const char *bad_type; /* "'text' is not a string", ... */
    es_buf text;
    es_buf id;
    int have_text, have_id;
};

/* A scalar or container that is the value of a depth-1 key. */
static int value_seen(struct jline *j, int is_string, int is_number)
{
    if (j->depth == 0) {
        j->bad_type = "expected a JSON object";
    } else if (j->depth == 1 && j->key == 1 && !is_string) {
        j->bad_type = "'text' is not a string";
    } else if (j->depth == 1 && j->key == 2 && !is_string && !is_number) {
        j->bad_type = "'id' is not a string or a number";
    }
    if (j->depth == 1) {
        j->key = 0;
    }
    return 1;
}

static int j_null(void *ud)
{
    return value_seen(ud, 0, 0);
}

static int j_bool(void *ud, int b)
{
    (void)b;
    return value_seen(ud, 0, 0);
}

static int j_number(void *ud, const char *s, size_t n)
{
    struct jline *j = ud;
    if (j->depth == 1 && j->key == 2) {
        es_buf_reset(&j->id);
        if (es_buf_add(&j->id, s, n) != 0) {
            return 0;
        }
        j->have_id = 1;
    }
    return value_seen(j, 0, 1);
}

static int j_string(void *ud, const unsigned char *s, size_t n)
{
    struct jline *j = ud;
    if (j->depth == 1 && j->key == 1) {
        es_buf_reset(&j->text);
        if (es_buf_add(&j->text, s, n) != 0) {
            return 0;
        }
        j->have_text = 1;
    } else if (j->depth == 1 && j->key == 2) {
        es_buf_reset(&j->id);
        if (es_buf_json_str(&j->id, (const char *)s, n) != 0) {
            return 0;
        }
        j->have_id = 1;
    }
    return value_seen(j, 1, 0);
}

static int j_start(void *ud)
{
    struct jline *j = ud;
    if (j->depth >= 1) {
        value_seen(j, 0, 0);
    }
    if (++j->depth > JSON_DEPTH_MAX) {
        j->too_deep = 1;
        return 0;
    }
    return 1;
}

static int j_start_map(void *ud)
{
    return j_start(ud);
}

static int j_start_array(void *ud)
{
    struct jline *j = ud;
    if (j->depth == 0) {
        j->bad_type = "expected a JSON object";
    }
    return j_start(ud);
}

static int j_map_key(void *ud, const unsigned char *k, size_t n)
{
    struct jline *j = ud;
    if (j->depth == 1) {
        j->key = (n == 4 && memcmp(k, "text", 4) == 0) ? 1 : (n == 2 && memcmp(k, "id", 2) == 0) ? 2 : 0;
    }
    return 1;
}

static int j_end(void *ud)
{
    struct jline *j = ud;
    j->depth--;
    return 1;
}

/*
 * yajl allocates a handle, a lexer and a byte stack for every parser, and
 * a parser cannot be reset, so one per line meant five malloc/free pairs a
 * line (about 5% of the command's time). Its allocations come instead from
 * a small bump arena that is emptied after each line; a request that does
 * not fit (a huge line) goes to the heap. Every block has a header saying
 * its size and where it lives.
 */
#define ARENA_BYTES ((size_t)64 << 10)
#define ARENA_ALIGN ((size_t)16)

struct arena {
    unsigned char *base;
    size_t used;
    size_t last; /* offset of the newest block, or SIZE_MAX */
};

struct block_hdr {
    size_t size;
    size_t on_heap;
};

#define HDR (((sizeof(struct block_hdr) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

static size_t round_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static void *ar_malloc(void *ctx, size_t sz)
{
    struct arena *a = ctx;
    unsigned char *p;
    int heap = 0;
    if (sz <= ARENA_BYTES && a->used + HDR + round_up(sz) <= ARENA_BYTES) {
        p = a->base + a->used;
        a->last = a->used;
        a->used += HDR + round_up(sz);
    } else {
        if (sz > SIZE_MAX - HDR || (p = malloc(HDR + sz)) == NULL) {
            return NULL;
        }
        heap = 1;
    }
    struct block_hdr h = {sz, (size_t)heap};
    memcpy(p, &h, sizeof h);
    return p + HDR;
}

static struct block_hdr hdr_of(const void *ptr)
{
    struct block_hdr h;
    memcpy(&h, (const unsigned char *)ptr - HDR, sizeof h);
    return h;
}

static void ar_free(void *ctx, void *ptr)
{
    struct arena *a = ctx;
    if (ptr == NULL) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    if (hdr_of(ptr).on_heap) {
        free(p);
    } else if (a->last != SIZE_MAX && p == a->base + a->last) {
        a->used = a->last; /* the newest block: give its room back */
        a->last = SIZE_MAX;
    }
}

static void *ar_realloc(void *ctx, void *ptr, size_t sz)
{
    struct arena *a = ctx;
    if (ptr == NULL) {
        return ar_malloc(ctx, sz);
    }
    struct block_hdr h = hdr_of(ptr);
    unsigned char *p = (unsigned char *)ptr - HDR;
    /* The newest arena block grows in place while there is room. */
    if (!h.on_heap && a->last != SIZE_MAX && p == a->base + a->last && sz <= ARENA_BYTES &&
        a->last + HDR + round_up(sz) <= ARENA_BYTES) {
        h.size = sz;
        memcpy(p, &h, sizeof h);
        a->used = a->last + HDR + round_up(sz);
        return ptr;
    }
    void *q = ar_malloc(ctx, sz);
    if (q == NULL) {
        return NULL;
    }
    memcpy(q, ptr, h.size < sz ? h.size : sz);
    ar_free(ctx, ptr);
    return q;
}

/* After yajl_free: every block is free again. */
static void arena_reset(struct arena *a)
{
    a->used = 0;
    a->last = SIZE_MAX;
}

static const yajl_callbacks jcb = {
    .yajl_null = j_null,
    .yajl_boolean = j_bool,
    .yajl_number = j_number,
    .yajl_string = j_string,
    .yajl_start_map = j_start_map,
    .yajl_map_key = j_map_key,
    .yajl_end_map = j_end,
    .yajl_start_array = j_start_array,
    .yajl_end_array = j_end,
};

static int ndjson_line(struct score_cli *c, struct jline *j, yajl_alloc_funcs *af,
                       const char *p, size_t n, uint64_t line)
{
    /* Blank lines separate nothing; skip them quietly. */
    size_t k = 0;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) {
        k++;
    }
    if (k == n) {
        return 0;
    }
    j->depth = 0;
    j->key = 0;
    j->too_deep = 0;
    j->bad_type = NULL;
    j->have_text = j->have_id = 0;
    arena_reset(af->ctx);
    yajl_handle h = yajl_alloc(&jcb, af, j);
    if (h == NULL) {
        return ES_ENOMEM;
    }
    yajl_status st = yajl_parse(h, (const unsigned char *)p, n);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    if (j->too_deep) {
        bad_line(c, line, "nesting deeper than 64 levels");
    } else if (st != yajl_status_ok && j->bad_type != NULL &&
               strcmp(j->bad_type, "expected a JSON object") == 0) {
        bad_line(c, line, j->bad_type);
    } else if (st != yajl_status_ok) {
        size_t col = yajl_get_bytes_consumed(h) + 1;
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)p, n);
        char what[256];
        const char *m = msg != NULL ? (const char *)msg : "parse error";
        /* yajl says "lexical error: ...\n"; keep one line. */
        snprintf(what, sizeof what, "invalid JSON at column %zu: %s", col, m);
        what[strcspn(what, "\n")] = '\0';
        bad_line(c, line, what);
        if (msg != NULL) {
            yajl_free_error(h, msg);
        }
    } else if (j->bad_type != NULL) {
        bad_line(c, line, j->bad_type);
    } else if (!j->have_text) {
        bad_line(c, line, "missing required field 'text'");
    } else {
        yajl_free(h);
        char num[24];
        const char *id = j->id.data;
        size_t id_len = j->id.len;
        if (!j->have_id) {
            id_len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)line);
            id = num;
        }
        return score_one(c, id, id_len, j->text.data, j->text.len, line);
    }
    yajl_free(h);
    return 0;
}

/* ---- reading stdin ---------------------------------------------------- */

/*
 * Read stdin line by line with a bounded buffer. A line over
 * LINE_MAX_BYTES is reported and skipped up to its newline.
 */
static int run_stdin(struct score_cli *c, int plain)
{
    size_t cap = LINE_MAX_BYTES + ((size_t)1 << 16);
    char *buf = malloc(cap);
    struct arena ar = {malloc(ARENA_BYTES), 0, SIZE_MAX};
    yajl_alloc_funcs af = {ar_malloc, ar_realloc, ar_free, &ar};
    struct jline j;
    memset(&j, 0, sizeof j);
    es_buf_init(&j.text, LINE_MAX_BYTES);
    es_buf_init(&j.id, 6 * LINE_MAX_BYTES + 2);
    if (buf == NULL || ar.base == NULL) {
        free(buf);
        free(ar.base);
        return ES_ENOMEM;
    }
    size_t have = 0, start = 0;
    uint64_t line = 0;
    int skipping = 0, eof = 0, rc = 0;
    while (rc == 0) {
        /* Process every complete line in buf[start, have). */
        while (rc == 0) {
            char *nl = memchr(buf + start, '\n', have - start);
            if (nl == NULL) {
                break;
            }
            size_t n = (size_t)(nl - (buf + start));
            line++;
            if (skipping) {
                skipping = 0;
            } else if (n > LINE_MAX_BYTES) {
                bad_line(c, line, "line exceeds 1048576 bytes");
            } else {
                const char *p = buf + start;
                size_t len = n;
                if (len > 0 && p[len - 1] == '\r') {
                    len--;
                }
                if (plain) {
                    char num[24];
                    size_t id_len = (size_t)snprintf(num, sizeof num, "%llu",
                                                     (unsigned long long)line);
                    rc = score_one(c, num, id_len, p, len, line);
                } else {
                    rc = ndjson_line(c, &j, &af, p, len, line);
                }
            }
            start += n + 1;
        }
        if (rc != 0 || eof) {
            break;
        }
        /* Move the partial line to the front, or drop it if it is too long. */
        if (have - start > LINE_MAX_BYTES) {
            if (!skipping) {
                bad_line(c, line + 1, "line exceeds 1048576 bytes");
                skipping = 1;
            }
            start = have;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        start = 0;
        ssize_t got = read(0, buf + have, cap - have);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "earshot score: reading stdin: %s\n", strerror(errno));
            rc = ES_EIO;
            break;
        }
        if (got == 0) {
            eof = 1;
            /* A last line without a newline still counts. */
            if (have > 0) {
                buf[have++] = '\n';
            }
            continue;
        }
        have += (size_t)got;
    }
    free(buf);
    free(ar.base);
    es_buf_free(&j.text);
    es_buf_free(&j.id);
    return rc;
}

/* ---- command ---------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: earshot score [--compat vader] [--explain] [--plain] [--lexicons DIR] "
            "[TEXT...]\n\n"
            "Score the sentiment of each TEXT, or of each line of stdin: NDJSON objects with\n"
            "\"text\" and optional \"id\" (or raw text lines with --plain). Prints one JSON\n"
            "object per input, in order:\n"
            "  {\"id\":...,\"sentiment\":{\"compound\":C,\"pos\":P,\"neu\":U,\"neg\":N},\n"
            "   \"intent\":\"complaint|question|praise|other\",\"complaint\":S}\n"
            "id is the input's id, else its line number (for TEXT: its position).\n\n"
            "options:\n"
            "  --compat vader  reproduce vaderSentiment's numbers exactly, quirks included\n"
            "  --explain       add \"why\": each word's contribution and the rules that fired\n"
            "  --plain         stdin lines are raw text, not JSON\n"
            "  --lexicons DIR  lexicon directory (default: %s)\n\n"
            "Input lines may be up to 1 MiB (1048576 bytes). A bad line (invalid JSON,\n"
            "missing or non-string \"text\", too long, nested deeper than 64) is reported on\n"
            "stderr as \"line N: ...\" and skipped; the others are still scored.\n"
            "Exit status: 0 ok; 1 bad lexicons or some input lines were skipped; 2 usage.\n",
            es_cli_default_lexicons());
}

int es_cmd_score(int argc, char **argv)
{
    es_score_mode mode = ES_SCORE_DEFAULT;
    int explain = 0, plain = 0;
    const char *lexdir = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return ES_EXIT_OK;
        } else if (strcmp(a, "--explain") == 0) {
            explain = 1;
        } else if (strcmp(a, "--plain") == 0) {
            plain = 1;
        } else if (strcmp(a, "--compat") == 0 || strncmp(a, "--compat=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL || strcmp(v, "vader") != 0) {
                es_cli_usage_error(argv[0], "--compat takes 'vader'");
                return ES_EXIT_USAGE;
            }
            mode = ES_SCORE_COMPAT_VADER;
        } else if (strcmp(a, "--lexicons") == 0 || strncmp(a, "--lexicons=", 11) == 0) {
            lexdir = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : NULL);
            if (lexdir == NULL || *lexdir == '\0') {
                es_cli_usage_error(argv[0], "--lexicons needs a directory");
                return ES_EXIT_USAGE;
            }
        } else {
            es_cli_usage_error(argv[0], "unknown option '%s' (see earshot score --help)", a);
            return ES_EXIT_USAGE;
        }
    }
    if (lexdir == NULL) {
        lexdir = es_cli_default_lexicons();
    }
    es_error err;
    memset(&err, 0, sizeof err);
    es_lexicon *lex;
    int rc = es_lexicon_load(lexdir, &lex, &err);
    if (rc != 0) {
        fprintf(stderr, "earshot score: lexicons in %s: %s\n", lexdir, err.msg);
        return ES_EXIT_INPUT;
    }
    struct score_cli c;
    memset(&c, 0, sizeof c);
    c.explain = explain;
    es_buf_init(&c.out, OUT_MAX);
    es_tokens_init(&c.toks);
    /* intent: the cue files live beside the sentiment lexicons. */
    rc = es_cues_load(lexdir, &c.cues, &err);
    if (rc != 0) {
        fprintf(stderr, "earshot score: intent cues in %s: %s\n", lexdir, err.msg);
        es_lexicon_free(lex);
        es_buf_free(&c.out);
        return ES_EXIT_INPUT;
    }
    rc = es_scorer_new(lex, mode, &c.scorer);
    if (rc == 0) {
        es_scorer_set_explain(c.scorer, explain);
        if (i < argc) {
            for (int k = i; k < argc && rc == 0; k++) {
                char num[24];
                size_t id_len = (size_t)snprintf(num, sizeof num, "%d", k - i + 1);
                rc = score_one(&c, num, id_len, argv[k], strlen(argv[k]), (uint64_t)(k - i + 1));
            }
        } else {
            rc = run_stdin(&c, plain);
        }
        flush_out(&c);
    }
    if (rc != 0 && rc != ES_EIO) {
        fprintf(stderr, "earshot score: %s\n", es_strerror(rc));
    }
    es_scorer_free(c.scorer);
    es_cues_free(c.cues);
    es_tokens_free(&c.toks);
    es_lexicon_free(lex);
    es_buf_free(&c.out);
    if (c.write_failed) {
        fprintf(stderr, "earshot score: writing output: %s\n", strerror(errno));
        return ES_EXIT_INPUT;
    }
    return rc != 0 || c.bad > 0 ? ES_EXIT_INPUT : ES_EXIT_OK;
}
