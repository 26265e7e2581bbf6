/*
 * Intent classifier: throughput, and a raw classification mode for
 * evaluation scripts.
 *
 *   bench_intent [--lexicons DIR] [--rounds N] time the classifier over a
 *                                              synthetic mix of mentions
 *   bench_intent [--lexicons DIR] --classify   read "COMPOUND<TAB>TEXT" lines
 *                                              (U+001F stands for a line break
 *                                              inside TEXT), print
 *                                              "COMPLAINT<TAB>INTENT<TAB>WHY"
 *
 * The classify mode lets bench/eval_complaints.py measure the rules with a
 * sentiment score computed elsewhere (for example before the scorer lands);
 * the numbers in bench/README.md come from `earshot score` itself.
 */
#include "buf.h"
#include "earshot.h"
#include "earshot/intent.h"
#include "tokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int classify_stdin(const es_cues *cues)
{
    es_tokens toks;
    es_tokens_init(&toks);
    es_buf why;
    es_buf_init(&why, 1 << 16);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        char *tab = strchr(line, '\t');
        if (tab == NULL) {
            fprintf(stderr, "bench_intent: line without a tab\n");
            continue;
        }
        *tab = '\0';
        char *text = tab + 1;
        size_t len = strlen(text);
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '\x1f') {
                text[i] = '\n';
            }
        }
        es_sentiment s = {.compound = atof(line)};
        es_intent in;
        if (es_tokenize(text, len, &toks) != 0 ||
            es_intent_classify(cues, &toks, text, len, &s, NULL, &in) != 0) {
            fprintf(stderr, "bench_intent: cannot classify a line\n");
            continue;
        }
        es_buf_reset(&why);
        es_intent_why_json(&in, &why);
        printf("%.6f\t%s\t%s\n", in.complaint, es_intent_name(in.kind),
               why.data ? why.data : "[]");
    }
    free(line);
    es_buf_free(&why);
    es_tokens_free(&toks);
    return 0;
}

/* Mentions in the shapes the classifier sees most: complaints, questions,
 * praise, chatter, of typical tweet length. */
static const char *const sample[] = {
    "@acmehelp my order still hasn't arrived, been waiting for 3 weeks. can I get a refund?",
    "@AcmeAir lost my bag again on the flight from Denver, nobody at the desk can help",
    "@acme is it possible to change the delivery address after ordering?",
    "Thanks @acme for the great service today, the staff were lovely!",
    "just watched the new episode and honestly it was so sad, can't stop crying",
    "@acmecares why is the app not working since Monday?? I can't log in at all",
    "I need to get in contact with someone regarding the website, tried the form twice",
    "no problem at all, thanks for sorting it so quickly @acmehelp",
    "lunch at the park with friends, the weather is perfect #sunday",
    "@acme charged twice for one ticket and on hold for an hour. never again.",
};

static int speed(const es_cues *cues, long rounds)
{
    es_tokens toks;
    es_tokens_init(&toks);
    size_t ns = sizeof sample / sizeof sample[0];
    size_t lens[sizeof sample / sizeof sample[0]];
    size_t bytes = 0;
    for (size_t i = 0; i < ns; i++) {
        lens[i] = strlen(sample[i]);
        bytes += lens[i];
    }
    es_sentiment s = {.compound = -0.3};
    double sink = 0, t_tok = 0, t_all;
    /* Tokenizing alone, then tokenizing + classifying: the difference is the
     * classifier's own cost. */
    double t0 = now_s();
    for (long r = 0; r < rounds; r++) {
        size_t i = (size_t)r % ns;
        es_tokenize(sample[i], lens[i], &toks);
        sink += (double)toks.n;
    }
    t_tok = now_s() - t0;
    t0 = now_s();
    for (long r = 0; r < rounds; r++) {
        size_t i = (size_t)r % ns;
        es_intent in;
        es_tokenize(sample[i], lens[i], &toks);
        es_intent_classify(cues, &toks, sample[i], lens[i], &s, NULL, &in);
        sink += in.complaint;
    }
    t_all = now_s() - t0;
    double per = (t_all - t_tok) / (double)rounds;
    printf("intent: %ld mentions (avg %.0f bytes), %zu cues\n", rounds, (double)bytes / (double)ns,
           es_cues_count(cues));
    printf("tokenize only:       %8.0f mentions/s\n", (double)rounds / t_tok);
    printf("tokenize + classify: %8.0f mentions/s\n", (double)rounds / t_all);
    printf("classify alone:      %8.2f us/mention (%.0f mentions/s)\n", per * 1e6,
           per > 0 ? 1.0 / per : 0.0);
    if (sink == 42.0) {
        printf("\n"); /* keep the loops from being optimized away */
    }
    es_tokens_free(&toks);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = ES_BENCH_LEXICONS;
    int classify = 0;
    long rounds = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--lexicons") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atol(argv[++i]);
            if (rounds < 1) {
                rounds = 1;
            }
        } else if (strcmp(argv[i], "--classify") == 0) {
            classify = 1;
        } else {
            fprintf(stderr, "usage: bench_intent [--lexicons DIR] [--rounds N] [--classify]\n");
            return 2;
        }
    }
    es_cues *cues;
    es_error err = {0};
    double t0 = now_s();
    if (es_cues_load(dir, &cues, &err) != 0) {
        fprintf(stderr, "bench_intent: %s\n", err.msg);
        return 1;
    }
    double t_load = now_s() - t0;
    int rc = classify ? classify_stdin(cues) : speed(cues, rounds);
    if (!classify) {
        printf("cue load: %.2f ms\n", t_load * 1e3);
    }
    es_cues_free(cues);
    return rc;
}
