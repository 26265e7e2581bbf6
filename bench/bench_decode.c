/*
 * Decoder throughput: mentions per second on one core.
 *
 *   bench_decode [N]      (default N = 2,000,000 records per case)
 *
 * Generates its input in memory (no files, nothing to download): small
 * earshot mentions (about 150 bytes, the target: >= 1,000,000/s), the same
 * decoded with --format auto, Mastodon statuses with HTML content, and
 * X/Twitter v2 stream lines with includes.users. The input is fed in 64 KiB
 * chunks, as a file reader would, and every case runs three times; the best
 * wall time and the best CPU time (CLOCK_PROCESS_CPUTIME_ID, which a shared
 * machine disturbs far less) are printed, with the rates they give.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/decode.h"

static const char *const words[] = {"lost", "my",     "bag",   "again", "flight", "delayed",
                                    "thanks", "great", "crew",  "refund", "still",  "waiting",
                                    "why",  "is",     "the",   "wifi",  "never",  "@acmeair"};
#define NWORDS (sizeof words / sizeof words[0])

static uint32_t rng = 12345;
static uint32_t next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static void text(es_buf *b, int nwords)
{
    for (int w = 0; w < nwords; w++) {
        es_buf_printf(b, "%s%s", w ? " " : "", words[next() % NWORDS]);
    }
}

static void gen_earshot(es_buf *b, long n)
{
    for (long i = 0; i < n; i++) {
        es_buf_printf(b, "{\"id\":\"%ld\",\"created_at\":\"2015-02-%02uT%02u:%02u:%02u-08:00\",\"text\":\"",
                      1000000 + i, 1 + next() % 28, next() % 24, next() % 60, next() % 60);
        text(b, 6 + (int)(next() % 5));
        es_buf_printf(b, "\",\"author\":\"user%u\",\"source\":\"twitter\",\"followers\":%u}\n",
                      next() % 100000, next() % 5000);
    }
}

static void gen_mastodon(es_buf *b, long n)
{
    for (long i = 0; i < n; i++) {
        es_buf_printf(b,
                      "{\"id\":\"1132%014ld\",\"created_at\":\"2026-11-20T09:%02u:%02u.000Z\","
                      "\"in_reply_to_id\":null,\"sensitive\":false,\"spoiler_text\":\"\","
                      "\"visibility\":\"public\",\"language\":\"en\",\"uri\":\"https://social."
                      "example/users/u%u/statuses/%ld\",\"url\":\"https://social.example/@u%u/%ld\","
                      "\"replies_count\":%u,\"reblogs_count\":%u,\"favourites_count\":%u,"
                      "\"content\":\"<p>",
                      i, next() % 60, next() % 60, next() % 1000, i, next() % 1000, i,
                      next() % 9, next() % 9, next() % 50);
        text(b, 8 + (int)(next() % 8));
        es_buf_printf(b,
                      " <a href=\\\"https://social.example/tags/acmefail\\\" class=\\\"mention "
                      "hashtag\\\" rel=\\\"tag\\\">#<span>acmefail</span></a> &amp; more</p>\","
                      "\"account\":{\"id\":\"%u\",\"username\":\"u%u\",\"acct\":\"u%u@social."
                      "example\",\"display_name\":\"U\",\"bot\":false,\"followers_count\":%u},"
                      "\"media_attachments\":[],\"mentions\":[],\"tags\":[{\"name\":\"acmefail\"}],"
                      "\"emojis\":[]}\n",
                      next(), next() % 1000, next() % 1000, next() % 100000);
    }
}

static void gen_twitter(es_buf *b, long n)
{
    for (long i = 0; i < n; i++) {
        unsigned user = next() % 100000;
        es_buf_printf(b, "{\"data\":{\"id\":\"18600%014ld\",\"text\":\"", i);
        text(b, 6 + (int)(next() % 8));
        es_buf_printf(b,
                      "\",\"author_id\":\"%u\",\"created_at\":\"2026-11-20T12:%02u:%02u.000Z\","
                      "\"lang\":\"en\",\"public_metrics\":{\"retweet_count\":%u,\"reply_count\":%u,"
                      "\"like_count\":%u,\"quote_count\":0}},\"includes\":{\"users\":[{\"id\":\"%u\","
                      "\"name\":\"N\",\"username\":\"user%u\",\"public_metrics\":{\"followers_count\":"
                      "%u}}]},\"matching_rules\":[{\"id\":\"1\",\"tag\":\"acme\"}]}\n",
                      user, next() % 60, next() % 60, next() % 9, next() % 9, next() % 99, user,
                      user, next() % 100000);
    }
}

static uint64_t sink_chars;
static int on_mention(void *ud, const es_mention *m, uint64_t line)
{
    (void)ud;
    (void)line;
    sink_chars += m->text.len; /* touch the result so nothing is skipped */
    return 0;
}

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *name, es_format f, const es_buf *in, long n)
{
    double best = 1e30, best_cpu = 1e30;
    es_decode_stats st = {0};
    for (int rep = 0; rep < 3; rep++) {
        es_decoder_opts o = {.format = f, .on_mention = on_mention};
        es_decoder *d;
        if (es_decoder_new(&o, &d) != 0) {
            fprintf(stderr, "es_decoder_new failed\n");
            exit(1);
        }
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        const size_t chunk = 64 << 10;
        for (size_t i = 0; i < in->len; i += chunk) {
            es_decoder_feed(d, in->data + i, in->len - i < chunk ? in->len - i : chunk);
        }
        es_decoder_finish(d);
        double t = clock_s(CLOCK_MONOTONIC) - t0;
        double c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (c < best_cpu) {
            best_cpu = c;
        }
        es_decoder_stats(d, &st);
        es_decoder_free(d);
        if (t < best) {
            best = t;
        }
    }
    if ((long)st.mentions != n || st.bad != 0) {
        fprintf(stderr, "%s: expected %ld mentions, got %llu (%llu bad)\n", name, n,
                (unsigned long long)st.mentions, (unsigned long long)st.bad);
        exit(1);
    }
    /* CPU time is what the decoder costs; wall time includes waiting for a
     * core on a shared machine. */
    printf("%-22s %9ld records %7.1f MB  wall %6.3f s %9.0f/s  cpu %6.3f s %9.0f/s %5.0f MB/s\n",
           name, n, (double)in->len / 1e6, best, (double)n / best, best_cpu,
           (double)n / best_cpu, (double)in->len / 1e6 / best_cpu);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_decode [N]\n");
        return 2;
    }
    es_buf in;
    es_buf_init(&in, (size_t)8 << 30);
    gen_earshot(&in, n);
    printf("earshot: %.0f bytes per record\n", (double)in.len / (double)n);
    run("earshot NDJSON", ES_FORMAT_EARSHOT, &in, n);
    run("earshot NDJSON (auto)", ES_FORMAT_AUTO, &in, n);
    es_buf_reset(&in);
    long m = n / 4;
    gen_mastodon(&in, m);
    printf("mastodon: %.0f bytes per record\n", (double)in.len / (double)m);
    run("mastodon NDJSON", ES_FORMAT_MASTODON, &in, m);
    es_buf_reset(&in);
    gen_twitter(&in, m);
    printf("twitter-v2: %.0f bytes per record\n", (double)in.len / (double)m);
    run("twitter-v2 stream", ES_FORMAT_TWITTER_V2, &in, m);
    es_buf_free(&in);
    return sink_chars == 0;
}
