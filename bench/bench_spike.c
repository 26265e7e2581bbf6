/*
 * bench_spike: volume_spike bucket updates per second, single thread.
 *
 *   bench_spike [TOPICS] [BUCKETS_PER_TOPIC]
 *
 * Many topics side by side (as the engine holds them), each fed a month of
 * 5-minute buckets with a daily cycle and Poisson-like noise, interleaved
 * bucket by bucket so the detectors' state does not all sit in L1. The
 * counts are generated before the clock starts. Target: >= 10,000,000
 * updates/s.
 */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int topics = argc > 1 ? atoi(argv[1]) : 256;
    int buckets = argc > 2 ? atoi(argv[2]) : 8640; /* 30 days of 5 min */
    if (topics < 1 || buckets < 1) {
        fprintf(stderr, "usage: bench_spike [TOPICS] [BUCKETS_PER_TOPIC]\n");
        return 2;
    }
    es_detect_params p;
    es_detect_params_defaults(&p);
    es_spike *det = malloc(sizeof *det * (size_t)topics);
    float *counts = malloc(sizeof *counts * (size_t)buckets);
    if (det == NULL || counts == NULL) {
        return 1;
    }
    /* One count series shared by all topics, scaled per topic. */
    uint64_t x = 88172645463325252ULL;
    for (int b = 0; b < buckets; b++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0;
        double h = fmod(b * 5.0 / 60.0, 24.0);
        double lam = 40 * (1 + 0.7 * sin(2 * M_PI * (h - 9) / 24));
        counts[b] = (float)floor(lam + sqrt(lam) * (u - 0.5) * 3.4 + 0.5);
        if (b % 2000 >= 1998) {
            counts[b] *= 8; /* the odd spike, so episodes start and end */
        }
    }
    for (int i = 0; i < topics; i++) {
        es_spike_init(&det[i], &p);
    }
    const int64_t t0 = 1422748800000LL, step = 300000;
    long events = 0;
    double start = now_s();
    for (int b = 0; b < buckets; b++) {
        int64_t t = t0 + (int64_t)b * step;
        for (int i = 0; i < topics; i++) {
            es_spike_event ev;
            events += es_spike_observe(&det[i], t, counts[b] * (1 + (i & 7)), &ev);
        }
    }
    double secs = now_s() - start;
    double n = (double)topics * buckets;
    printf("bench_spike: %d topics x %d buckets = %.0f updates in %.3f s: %.1f M updates/s "
           "(%ld episode edges)\n",
           topics, buckets, n, secs, n / secs / 1e6, events);
    free(det);
    free(counts);
    return 0;
}
