/*
 * Topic matching throughput against 10, 100, 1,000 and 10,000 topics.
 *
 * Topics are what a config of that size would hold: mostly brand keywords
 * (`brandN OR @brandN OR #brandN`), with about one in ten a phrase, one in
 * ten a wildcard, one in twenty a NEAR, and one in a hundred a keyword AND a
 * regex. The mentions are the same for every topic count: ~20-token posts
 * drawn from a common vocabulary, a third of them naming one of 10,000
 * brands, so a bigger config finds more matches but sees the same text.
 *
 * Prints mentions/s and ns per mention for each topic count, next to the
 * cost of tokenizing alone (the floor), best of several runs. The point to
 * check: the cost per mention must not grow linearly with the topic count.
 *
 *   build/bench/bench_match [mentions]      (default 200000)
 */
#include "earshot.h"
#include "earshot/topics.h"
#include "tokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *common[] = {
    "the",    "a",      "my",      "flight", "was",    "late",   "again",  "and",     "i",
    "love",   "this",   "service", "never",  "got",    "refund", "bag",    "lost",    "thanks",
    "for",    "help",   "why",     "is",     "it",     "so",     "hard",   "to",      "get",
    "answer", "today",  "great",   "crew",   "seat",   "delayed", "hours", "gate",    "phone",
    "app",    "broken", "support", "waiting", "still", "customer", "order", "shipped", "box",
    "wifi",   "on",     "board",   "food",   "cold",   "friendly", "staff", "check",  "in",
};
#define NCOMMON (sizeof common / sizeof common[0])
#define NBRANDS 10000

static char *make_text(void)
{
    char buf[512];
    size_t k = 0;
    int n = 12 + (int)rnd(16);
    bool brand = rnd(3) == 0;
    int at = brand ? (int)rnd((uint32_t)n) : -1;
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : rnd(10) == 0 ? ", " : " ";
        if (i == at) {
            int b = (int)rnd(NBRANDS);
            const char *sig = rnd(3) == 0 ? "@" : rnd(4) == 0 ? "#" : "";
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%sbrand%d", sep, sig, b);
            if (rnd(2) == 0) {
                k += (size_t)snprintf(buf + k, sizeof buf - k, " corp order %d", (int)rnd(99999));
            }
        } else {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", sep, common[rnd(NCOMMON)]);
        }
        if (k > sizeof buf - 64) {
            break;
        }
    }
    if (rnd(4) == 0) {
        k += (size_t)snprintf(buf + k, sizeof buf - k, "!!");
    }
    return strdup(buf);
}

static char *make_query(int i)
{
    char buf[256];
    int r = i % 100;
    if (r < 60) {
        snprintf(buf, sizeof buf, "brand%d OR @brand%d OR #brand%d", i, i, i);
    } else if (r < 70) {
        snprintf(buf, sizeof buf, "\"brand%d corp\" OR @brand%d", i, i);
    } else if (r < 80) {
        snprintf(buf, sizeof buf, "brand%d* -job", i);
    } else if (r < 85) {
        snprintf(buf, sizeof buf, "brand%d NEAR/4 (late OR lost OR refund*)", i);
    } else if (r < 86) {
        snprintf(buf, sizeof buf, "brand%d /order\\s+\\d{3,}/i", i);
    } else {
        snprintf(buf, sizeof buf, "(brand%d OR \"brand %d\") -(hiring OR job)", i, i);
    }
    return strdup(buf);
}

static double run_match(es_matcher *m, char **texts, size_t n, size_t *matched)
{
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        size_t total = 0;
        double t0 = now();
        for (size_t i = 0; i < n; i++) {
            es_mention mn;
            es_mention_clear(&mn);
            mn.text = (es_str){texts[i], strlen(texts[i])};
            const uint32_t *ids;
            size_t k;
            if (es_topics_match(m, &mn, &ids, &k) != 0) {
                fprintf(stderr, "match failed\n");
                exit(1);
            }
            total += k;
        }
        double dt = now() - t0;
        if (dt < best) {
            best = dt;
        }
        *matched = total;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t n_mentions = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200000;
    char **texts = malloc(n_mentions * sizeof *texts);
    size_t bytes = 0;
    for (size_t i = 0; i < n_mentions; i++) {
        texts[i] = make_text();
        bytes += strlen(texts[i]);
    }
    printf("%zu mentions, %.1f bytes each on average\n", n_mentions,
           (double)bytes / (double)n_mentions);

    /* The floor: tokenizing alone. */
    es_tokens toks;
    es_tokens_init(&toks);
    double tok_best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t i = 0; i < n_mentions; i++) {
            es_tokenize(texts[i], strlen(texts[i]), &toks);
        }
        double dt = now() - t0;
        tok_best = dt < tok_best ? dt : tok_best;
    }
    es_tokens_free(&toks);
    printf("%-28s %12.0f mentions/s %8.0f ns/mention\n", "tokenize only",
           (double)n_mentions / tok_best, tok_best * 1e9 / (double)n_mentions);

    static const int counts[] = {10, 100, 1000, 10000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int nt = counts[c];
        es_topic_def *defs = calloc((size_t)nt, sizeof *defs);
        char **names = calloc((size_t)nt, sizeof *names);
        for (int i = 0; i < nt; i++) {
            names[i] = malloc(16);
            snprintf(names[i], 16, "t%d", i);
            defs[i].name = names[i];
            /* Spread the topics over the whole brand range. */
            defs[i].query = make_query(i * (NBRANDS / nt));
        }
        es_topics *t;
        es_error err;
        double t0 = now();
        if (es_topics_compile(defs, (size_t)nt, &t, &err) != 0) {
            fprintf(stderr, "compile: %s\n", err.msg);
            return 1;
        }
        double compile_s = now() - t0;
        es_matcher *m;
        es_matcher_new(t, &m);
        size_t matched = 0;
        double dt = run_match(m, texts, n_mentions, &matched);
        char label[64];
        snprintf(label, sizeof label, "%d topics", nt);
        printf("%-28s %12.0f mentions/s %8.0f ns/mention  (%zu matches, compile %.1f ms)\n",
               label, (double)n_mentions / dt, dt * 1e9 / (double)n_mentions, matched,
               compile_s * 1e3);
        es_matcher_free(m);
        es_topics_free(t);
        for (int i = 0; i < nt; i++) {
            free(names[i]);
            free((char *)defs[i].query);
        }
        free(names);
        free(defs);
    }

    /* Regexes that cannot be indexed run for every mention: the price of ten. */
    {
        int nt = 1010;
        es_topic_def *defs = calloc((size_t)nt, sizeof *defs);
        char **names = calloc((size_t)nt, sizeof *names);
        for (int i = 0; i < nt; i++) {
            names[i] = malloc(16);
            snprintf(names[i], 16, "t%d", i);
            defs[i].name = names[i];
            if (i < 1000) {
                defs[i].query = make_query(i * 10);
            } else {
                char q[64];
                snprintf(q, sizeof q, "/brand%d\\d*\\s+corp/i", i);
                defs[i].query = strdup(q);
            }
        }
        es_topics *t;
        es_error err;
        if (es_topics_compile(defs, (size_t)nt, &t, &err) != 0) {
            fprintf(stderr, "compile: %s\n", err.msg);
            return 1;
        }
        es_matcher *m;
        es_matcher_new(t, &m);
        size_t matched = 0;
        double dt = run_match(m, texts, n_mentions, &matched);
        printf("%-28s %12.0f mentions/s %8.0f ns/mention  (%zu matches)\n",
               "1000 topics + 10 regex-only", (double)n_mentions / dt,
               dt * 1e9 / (double)n_mentions, matched);
        es_matcher_free(m);
        es_topics_free(t);
        for (int i = 0; i < nt; i++) {
            free(names[i]);
            free((char *)defs[i].query);
        }
        free(names);
        free(defs);
    }

    for (size_t i = 0; i < n_mentions; i++) {
        free(texts[i]);
    }
    free(texts);
    return 0;
}
