/*
 * Single-thread scoring speed, in sentences per second, over a corpus of
 * tweet-like texts generated here deterministically (no shipped data):
 * mentions, hashtags, URLs, emoji (some glued, some with VS16 or skin
 * tones), emoticons, negations, boosters, "but", ALL CAPS and '!'/'?'.
 *
 * usage: bench_score [LEXICON_DIR] [SECONDS_PER_MODE]
 * Target (issue 2): >= 620,000 tweets/s in either mode.
 */
#include "earshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_TEXTS 20000

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[next_rand() % n];
}

#define PICK(a) pick((a), sizeof(a) / sizeof(a)[0])

static const char *const fillers[] = {
    "the", "my", "flight", "was", "to", "and", "i", "it", "this", "for", "on", "you", "is", "at",
    "bag", "gate", "crew", "seat", "customer", "service", "today", "again", "just", "they", "we",
    "phone", "app", "update", "order", "delivery", "hours", "still", "with", "have", "been", "what",
    "why", "how", "thanks", "please", "help", "time", "day", "week", "wifi", "battery", "screen"};
static const char *const sentiment[] = {
    "good", "great", "love", "awesome", "bad", "terrible", "worst", "hate", "happy", "sad", "lost",
    "delayed", "cancelled", "amazing", "horrible", "nice", "fail", "broken", "best", "annoying",
    "helpful", "rude", "thank", "excellent", "disappointed", "LOVE", "WORST", "ok", "fine", "lol"};
static const char *const modifiers[] = {"not", "very", "so", "really", "never", "don't",
                                        "isn't", "kind of", "extremely", "no", "barely", "but",
                                        "can\xE2\x80\x99t", "least"};
static const char *const extras[] = {
    "@united", "@acmeair", "#fail", "#love", "http://t.co/abc123", "https://example.com/x?y=1",
    ":)", ":(", ":D", "D:", "<3", ";)", "\xF0\x9F\x98\x81", "\xF0\x9F\x98\xA2",
    "\xE2\x9D\xA4\xEF\xB8\x8F", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "\xF0\x9F\x98\xA1",
    "\xF0\x9F\x99\x8F", "!!!", "?", "...", "$AAPL", "2", "15", "&amp;"};

static size_t make_text(char *out, size_t cap)
{
    size_t o = 0;
    size_t words = 8 + next_rand() % 14;
    for (size_t k = 0; k < words; k++) {
        const char *w;
        uint32_t r = next_rand() % 100;
        if (r < 55) {
            w = PICK(fillers);
        } else if (r < 72) {
            w = PICK(sentiment);
        } else if (r < 85) {
            w = PICK(modifiers);
        } else {
            w = PICK(extras);
        }
        size_t l = strlen(w);
        if (o + l + 2 >= cap) {
            break;
        }
        /* Now and then glue a token to the previous one ("good!", "love😁"). */
        if (o > 0 && next_rand() % 10 != 0) {
            out[o++] = ' ';
        }
        memcpy(out + o, w, l);
        o += l;
    }
    if (next_rand() % 3 == 0 && o + 2 < cap) {
        out[o++] = next_rand() % 2 ? '!' : '.';
    }
    out[o] = '\0';
    return o;
}

/*
 * CPU time of this thread: the machine is shared, and wall-clock time
 * would also count the time other processes held the core.
 */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ES_BENCH_LEXICONS;
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    es_error err;
    es_lexicon *lex;
    if (es_lexicon_load(dir, &lex, &err) != 0) {
        fprintf(stderr, "bench_score: %s\n", err.msg);
        return 1;
    }
    static char texts[N_TEXTS][200];
    static size_t lens[N_TEXTS];
    size_t bytes = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        lens[i] = make_text(texts[i], sizeof texts[i]);
        bytes += lens[i];
    }
    printf("corpus: %d tweet-like texts, mean %.1f bytes\n", N_TEXTS, (double)bytes / N_TEXTS);
    static const struct {
        es_score_mode mode;
        const char *name;
    } modes[] = {{ES_SCORE_COMPAT_VADER, "compat"}, {ES_SCORE_DEFAULT, "default"}};
    int ok = 1;
    for (size_t m = 0; m < 2; m++) {
        es_scorer *s;
        if (es_scorer_new(lex, modes[m].mode, &s) != 0) {
            return 1;
        }
        es_sentiment r;
        double check = 0;
        /* Warm the scorer's buffers, then time whole passes. */
        for (size_t i = 0; i < N_TEXTS; i++) {
            es_scorer_score(s, texts[i], lens[i], &r);
        }
        size_t done = 0;
        double t0 = now(), w0 = wall(), t1;
        do {
            for (size_t i = 0; i < N_TEXTS; i++) {
                es_scorer_score(s, texts[i], lens[i], &r);
                check += r.compound;
            }
            done += N_TEXTS;
            t1 = now();
        } while (t1 - t0 < secs);
        double rate = (double)done / (t1 - t0);
        double wrate = (double)done / (wall() - w0);
        printf("%-8s %10.0f sentences/s of CPU time (%.0f ns each, %.1f MB/s); "
               "%.0f/s wall clock; checksum %.3f\n",
               modes[m].name, rate, 1e9 / rate, rate * bytes / N_TEXTS / 1e6, wrate, check / done);
        ok &= rate >= 620000;
        es_scorer_free(s);
    }
    printf("target >= 620000 sentences/s: %s\n", ok ? "met" : "NOT met");
    es_lexicon_free(lex);
    return 0;
}
