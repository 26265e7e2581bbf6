/* External merge sort of keyed records: sorted runs spilled to disk, merged. */
#include "spill.h"
#include "earshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_READ_BUF (256 * 1024)
/* Records handed out between a prefetch and its use; the caller works for
 * microseconds on each, far longer than a memory access. */
#define PREFETCH_AHEAD 4
/* Prefetch at most this many bytes of one record (mentions are a few
 * hundred bytes; a huge one is read sequentially anyway). */
#define PREFETCH_MAX 512

static void prefetch_bytes(const char *p, size_t len)
{
#if defined(__GNUC__)
    size_t n = len < PREFETCH_MAX ? len : PREFETCH_MAX;
    for (size_t i = 0; i < n; i += 64) {
        __builtin_prefetch(p + i);
    }
    if (n > 0) {
        __builtin_prefetch(p + n - 1);
    }
#else
    (void)p;
    (void)len;
#endif
}

/* One record in the in-memory run: where its bytes are and how it sorts. */
struct entry {
    int64_t key;
    uint64_t tie;
    uint64_t seq;
    size_t off;
    uint32_t len;
};

/* On disk a record is: key (8), tie (8), seq (8), len (4), bytes. */
#define REC_HDR 28

struct run {
    FILE *f;
    char *buf;     /* read buffer */
    size_t have;   /* bytes in buf */
    size_t pos;    /* next unread byte in buf */
    char *rec;     /* current record bytes (points into buf or big) */
    char *big;     /* holds a record that straddles buffer refills */
    size_t big_cap;
    int64_t key;
    uint64_t tie;
    uint64_t seq;
    uint32_t len;
};

struct es_spill {
    size_t budget;
    char *tmpdir;
    char *arena;
    size_t arena_len, arena_cap;
    struct entry *ents;
    size_t n_ents, cap_ents;
    uint64_t seq;
    struct run *runs;
    size_t n_runs, cap_runs;
    /* Reading. */
    int finished;
    int in_memory; /* nothing spilled: read the sorted arena directly */
    size_t mem_pos;
    size_t *heap; /* indices into runs */
    size_t heap_n;
    int last_run; /* run whose record was handed out and must advance */
    es_spill_stats stats;
};

int es_spill_new(size_t mem_budget, const char *tmpdir, es_spill **out)
{
    es_spill *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return ES_ENOMEM;
    }
    s->budget = mem_budget < (1 << 20) ? (1 << 20) : mem_budget;
    if (tmpdir == NULL) {
        tmpdir = getenv("TMPDIR");
    }
    s->tmpdir = strdup(tmpdir != NULL && *tmpdir ? tmpdir : "/tmp");
    if (s->tmpdir == NULL) {
        free(s);
        return ES_ENOMEM;
    }
    s->last_run = -1;
    *out = s;
    return 0;
}

void es_spill_free(es_spill *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_runs; i++) {
        if (s->runs[i].f != NULL) {
            fclose(s->runs[i].f);
        }
        free(s->runs[i].buf);
        free(s->runs[i].big);
    }
    free(s->runs);
    free(s->heap);
    free(s->arena);
    free(s->ents);
    free(s->tmpdir);
    free(s);
}

static inline int entry_less(const struct entry *x, const struct entry *y)
{
    if (x->key != y->key) {
        return x->key < y->key;
    }
    if (x->tie != y->tie) {
        return x->tie < y->tie;
    }
    return x->seq < y->seq;
}

static void entry_swap(struct entry *a, struct entry *b)
{
    struct entry t = *a;
    *a = *b;
    *b = t;
}

static void heap_sift(struct entry *v, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && entry_less(&v[m], &v[l])) {
            m = l;
        }
        if (l + 1 < n && entry_less(&v[m], &v[l + 1])) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        entry_swap(&v[i], &v[m]);
        i = m;
    }
}

/*
 * Sort entries in place: introsort (quicksort, median of three, heapsort
 * when the recursion gets deep, insertion sort for short ranges). It
 * replaces qsort, which called entry_cmp through a pointer for every
 * comparison and, in glibc, allocates a copy of the whole array for its
 * merge sort: 40 MB more at the peak for a million records, over the
 * budget. The order (key, tie, seq) is total, so the result is the same
 * as any other correct sort's.
 */
static void entries_sort(struct entry *v, size_t n, int depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            for (size_t i = n / 2; i-- > 0;) {
                heap_sift(v, i, n);
            }
            for (size_t i = n - 1; i > 0; i--) {
                entry_swap(&v[0], &v[i]);
                heap_sift(v, 0, i);
            }
            return;
        }
        /* Median of first, middle and last goes to v[0] as the pivot. */
        size_t mid = n / 2;
        if (entry_less(&v[mid], &v[0])) {
            entry_swap(&v[mid], &v[0]);
        }
        if (entry_less(&v[n - 1], &v[0])) {
            entry_swap(&v[n - 1], &v[0]);
        }
        if (entry_less(&v[n - 1], &v[mid])) {
            entry_swap(&v[n - 1], &v[mid]);
        }
        entry_swap(&v[0], &v[mid]);
        /* Hoare partition around v[0]; keys are distinct (seq), so both
         * scans stop inside the range. */
        size_t i = 0, j = n;
        for (;;) {
            do {
                i++;
            } while (i < n && entry_less(&v[i], &v[0]));
            do {
                j--;
            } while (entry_less(&v[0], &v[j]));
            if (i >= j) {
                break;
            }
            entry_swap(&v[i], &v[j]);
        }
        entry_swap(&v[0], &v[j]);
        /* Recurse into the smaller side, loop on the larger. */
        if (j < n - j - 1) {
            entries_sort(v, j, depth);
            v += j + 1;
            n -= j + 1;
        } else {
            entries_sort(v + j + 1, n - j - 1, depth);
            n = j;
        }
    }
    for (size_t i = 1; i < n; i++) {
        struct entry t = v[i];
        size_t k = i;
        while (k > 0 && entry_less(&t, &v[k - 1])) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = t;
    }
}

static void sort_entries(struct entry *v, size_t n)
{
    int depth = 0;
    for (size_t m = n; m > 1; m >>= 1) {
        depth += 2;
    }
    entries_sort(v, n, depth);
}

/* A temporary file that disappears when closed (or when we crash). */
static FILE *open_temp(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/earshot-spill-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        return NULL;
    }
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL) {
        close(fd);
    }
    return f;
}

static int spill_run(es_spill *s)
{
    if (s->n_ents == 0) {
        return 0;
    }
    sort_entries(s->ents, s->n_ents);
    if (s->n_runs == s->cap_runs) {
        size_t cap = s->cap_runs ? s->cap_runs * 2 : 8;
        struct run *r = realloc(s->runs, cap * sizeof *r);
        if (r == NULL) {
            return ES_ENOMEM;
        }
        s->runs = r;
        s->cap_runs = cap;
    }
    FILE *f = open_temp(s->tmpdir);
    if (f == NULL) {
        return ES_EIO;
    }
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct entry *e = &s->ents[i];
        char hdr[REC_HDR];
        memcpy(hdr, &e->key, 8);
        memcpy(hdr + 8, &e->tie, 8);
        memcpy(hdr + 16, &e->seq, 8);
        memcpy(hdr + 24, &e->len, 4);
        if (fwrite(hdr, 1, REC_HDR, f) != REC_HDR ||
            fwrite(s->arena + e->off, 1, e->len, f) != e->len) {
            fclose(f);
            return ES_EIO;
        }
        s->stats.bytes_spilled += REC_HDR + e->len;
    }
    if (fflush(f) != 0) {
        fclose(f);
        return ES_EIO;
    }
    rewind(f);
    struct run *r = &s->runs[s->n_runs++];
    memset(r, 0, sizeof *r);
    r->f = f;
    s->stats.runs_spilled++;
    s->n_ents = 0;
    s->arena_len = 0;
    return 0;
}

int es_spill_add(es_spill *s, int64_t key, uint64_t tie, const void *rec, size_t len)
{
    if (s->finished) {
        return ES_EINVAL;
    }
    if (len > s->budget / 4 || len > UINT32_MAX) {
        return ES_ETOOBIG;
    }
    size_t used = s->arena_len + s->n_ents * sizeof(struct entry);
    if (used + len + sizeof(struct entry) > s->budget) {
        int rc = spill_run(s);
        if (rc != 0) {
            return rc;
        }
    }
    if (s->arena_len + len > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap : (1 << 16);
        while (cap < s->arena_len + len) {
            cap *= 2;
        }
        char *a = realloc(s->arena, cap);
        if (a == NULL) {
            return ES_ENOMEM;
        }
        s->arena = a;
        s->arena_cap = cap;
    }
    if (s->n_ents == s->cap_ents) {
        size_t cap = s->cap_ents ? s->cap_ents * 2 : 1024;
        struct entry *e = realloc(s->ents, cap * sizeof *e);
        if (e == NULL) {
            return ES_ENOMEM;
        }
        s->ents = e;
        s->cap_ents = cap;
    }
    memcpy(s->arena + s->arena_len, rec, len);
    s->ents[s->n_ents++] = (struct entry){key, tie, s->seq++, s->arena_len, (uint32_t)len};
    s->arena_len += len;
    s->stats.records++;
    return 0;
}

/* Make sure `need` unread bytes are in r->buf; returns 1, 0 at EOF, <0. */
static int run_fill(struct run *r, size_t need)
{
    if (r->have - r->pos >= need) {
        return 1;
    }
    memmove(r->buf, r->buf + r->pos, r->have - r->pos);
    r->have -= r->pos;
    r->pos = 0;
    r->have += fread(r->buf + r->have, 1, RUN_READ_BUF - r->have, r->f);
    if (ferror(r->f)) {
        return ES_EIO;
    }
    return r->have >= need ? 1 : 0;
}

/* Load the run's next record header and bytes. 1 ok, 0 end, <0 error. */
static int run_advance(struct run *r)
{
    int rc = run_fill(r, REC_HDR);
    if (rc <= 0) {
        return rc;
    }
    memcpy(&r->key, r->buf + r->pos, 8);
    memcpy(&r->tie, r->buf + r->pos + 8, 8);
    memcpy(&r->seq, r->buf + r->pos + 16, 8);
    memcpy(&r->len, r->buf + r->pos + 24, 4);
    r->pos += REC_HDR;
    if (r->len <= RUN_READ_BUF) {
        rc = run_fill(r, r->len);
        if (rc <= 0) {
            return rc < 0 ? rc : ES_EIO; /* truncated run file */
        }
        r->rec = r->buf + r->pos;
        r->pos += r->len;
        return 1;
    }
    /* A record larger than the read buffer: assemble it in `big`. */
    if (r->big_cap < r->len) {
        char *b = realloc(r->big, r->len);
        if (b == NULL) {
            return ES_ENOMEM;
        }
        r->big = b;
        r->big_cap = r->len;
    }
    size_t got = r->have - r->pos;
    memcpy(r->big, r->buf + r->pos, got);
    r->pos = r->have = 0;
    if (fread(r->big + got, 1, r->len - got, r->f) != r->len - got) {
        return ES_EIO;
    }
    r->rec = r->big;
    return 1;
}

static int run_less(const es_spill *s, size_t a, size_t b)
{
    const struct run *x = &s->runs[a], *y = &s->runs[b];
    if (x->key != y->key) {
        return x->key < y->key;
    }
    if (x->tie != y->tie) {
        return x->tie < y->tie;
    }
    return x->seq < y->seq;
}

static void heap_down(es_spill *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < s->heap_n && run_less(s, s->heap[l], s->heap[m])) {
            m = l;
        }
        if (l + 1 < s->heap_n && run_less(s, s->heap[l + 1], s->heap[m])) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        size_t t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

int es_spill_finish(es_spill *s)
{
    if (s->finished) {
        return 0;
    }
    s->finished = 1;
    if (s->n_runs == 0) {
        if (s->n_ents > 0) {
            sort_entries(s->ents, s->n_ents);
        }
        s->in_memory = 1;
        return 0;
    }
    int rc = spill_run(s);
    if (rc != 0) {
        return rc;
    }
    free(s->arena);
    s->arena = NULL;
    s->arena_cap = 0;
    free(s->ents);
    s->ents = NULL;
    s->cap_ents = 0;
    s->heap = malloc(s->n_runs * sizeof *s->heap);
    if (s->heap == NULL) {
        return ES_ENOMEM;
    }
    for (size_t i = 0; i < s->n_runs; i++) {
        struct run *r = &s->runs[i];
        r->buf = malloc(RUN_READ_BUF);
        if (r->buf == NULL) {
            return ES_ENOMEM;
        }
        rc = run_advance(r);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            s->heap[s->heap_n++] = i;
        }
    }
    for (size_t i = s->heap_n; i-- > 0;) {
        heap_down(s, i);
    }
    return 0;
}

int es_spill_next(es_spill *s, int64_t *key, const void **rec, size_t *len)
{
    if (!s->finished) {
        return ES_EINVAL;
    }
    if (s->in_memory) {
        if (s->mem_pos >= s->n_ents) {
            return 0;
        }
        /* The arena is in input order and the entries in key order, so
         * each record is a cache (and TLB) miss; its first load was 95% of
         * the caller's unpacking time. Ask for a record a few places ahead
         * now, so it has arrived by the time it is handed out. */
        if (s->mem_pos + PREFETCH_AHEAD < s->n_ents) {
            const struct entry *ahead = &s->ents[s->mem_pos + PREFETCH_AHEAD];
            prefetch_bytes(s->arena + ahead->off, ahead->len);
        }
        const struct entry *e = &s->ents[s->mem_pos++];
        *key = e->key;
        *rec = s->arena + e->off;
        *len = e->len;
        return 1;
    }
    /* Advance the run whose record the caller has finished with. */
    if (s->last_run >= 0) {
        int rc = run_advance(&s->runs[s->last_run]);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            s->heap[0] = s->heap[--s->heap_n];
        }
        if (s->heap_n > 0) {
            heap_down(s, 0);
        }
        s->last_run = -1;
    }
    if (s->heap_n == 0) {
        return 0;
    }
    struct run *r = &s->runs[s->heap[0]];
    *key = r->key;
    *rec = r->rec;
    *len = r->len;
    s->last_run = (int)s->heap[0];
    return 1;
}

void es_spill_stats_get(const es_spill *s, es_spill_stats *out)
{
    *out = s->stats;
}
