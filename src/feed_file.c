/*
 * The `file` feed: mentions from a file or standard input.
 *
 *   - Only whole lines are handed to the host, so the cursor ("ino:offset",
 *     the byte after the last whole line) always sits on a line boundary
 *     and a restart resumes exactly where processing stopped.
 *   - `follow: true` keeps reading what is appended. Every poll_interval it
 *     checks for rotation: a file replaced by a new one (rename + create:
 *     the path's inode changed) is read to its end first, then the new one
 *     from the start; a file cut short in place (copytruncate: its size is
 *     below our offset) is read again from the start.
 *   - `replay_speed: N` paces lines by their created_at: a line is handed
 *     over when N times the wall time elapsed since the first line covers
 *     its distance in event time. 0 means as fast as possible.
 *   - Without follow the feed finishes at end of file.
 *
 * Reading happens in timer callbacks, one bounded chunk at a time, so a
 * large file never holds the loop: signals, delivery and other feeds run
 * between chunks. Standard input that is a pipe or terminal is watched
 * with uv_poll instead (reads would block otherwise).
 */
#include "feed.h"
#include "buf.h"
#include "log.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_CHUNK (64u << 10)
/* Chunks per turn of the loop before yielding. One: a chunk may hold a few
 * hundred mentions, and each alert among them waits for a durable spool
 * commit, so more would hold signals, delivery and commits back. */
#define FILE_CHUNKS_PER_TICK 1
/* A line longer than this is handed over anyway; the decoder reports it. */
#define FILE_MAX_LINE (1u << 20)

typedef struct file_feed {
    es_feed *f;
    char *path;
    bool is_stdin;
    bool follow;
    double speed;
    int64_t poll_ms;
    int fd;
    uint64_t ino;
    uint64_t offset;   /* bytes of the current file read into buf so far */
    uint64_t consumed; /* bytes of the current file handed to the host */
    es_buf buf;        /* read but not yet handed over (a partial line, paced lines) */
    size_t buf_off;    /* start of the unconsumed part of buf */
    uv_timer_t tick; /* a later read: poll_interval, replay pacing */
    uv_idle_t idle;  /* read again on the next turn of the loop */
    uv_poll_t poll; /* stdin as a pipe */
    bool use_poll, poll_active;
    bool running, paused, done, closing;
    int open_handles;
    /* Replay pacing. */
    bool have_t0;
    int64_t t0_event, t0_wall;
} file_feed;

static void schedule(file_feed *s, int64_t ms);

/* ---- Opening and the cursor ----------------------------------------------- */

static void save_cursor(file_feed *s)
{
    if (s->is_stdin) {
        return;
    }
    char cur[64];
    snprintf(cur, sizeof cur, "%" PRIu64 ":%" PRIu64, s->ino, s->consumed);
    int rc = es_feed_cursor_save(s->f, cur);
    if (rc != 0) {
        es_feed_error(s->f, "cannot save the cursor: %s", es_strerror(rc));
    }
}

/* Open the path; with `resume`, continue at the saved cursor when it
 * belongs to this very file. Returns 0, or -1 with errno (ENOENT while
 * following means: wait for it). */
static int open_file(file_feed *s, bool resume)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    s->fd = fd;
    s->ino = (uint64_t)st.st_ino;
    s->offset = s->consumed = 0;
    es_buf_reset(&s->buf);
    s->buf_off = 0;
    if (resume) {
        char cur[ES_FEED_CURSOR_MAX];
        uint64_t ino, off;
        if (es_feed_cursor_load(s->f, cur, sizeof cur) == 1 &&
            sscanf(cur, "%" SCNu64 ":%" SCNu64, &ino, &off) == 2) {
            if (ino == s->ino && off <= (uint64_t)st.st_size) {
                s->offset = s->consumed = off;
                if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
                    s->offset = s->consumed = 0;
                }
                ES_LOG_INFO(es_feed_comp(s->f), "resuming %s at byte %" PRIu64, s->path, off);
            } else {
                ES_LOG_INFO(es_feed_comp(s->f),
                            "%s is not the file of the saved cursor (rotated or truncated); "
                            "reading it from the start",
                            s->path);
            }
        }
    }
    return 0;
}

/* ---- Handing lines over ----------------------------------------------------- */

/* created_at of an NDJSON line, found without a full parse; false if none.
 * Good enough for pacing; the decoder still does the real parsing. */
static bool line_time(const char *p, size_t n, int64_t *ms)
{
    static const char key[] = "\"created_at\"";
    const char *end = p + n;
    const char *k = NULL;
    for (const char *q = p; q + sizeof key - 1 <= end; q++) {
        q = memchr(q, '"', (size_t)(end - q));
        if (q == NULL || q + sizeof key - 1 > end) {
            break;
        }
        if (memcmp(q, key, sizeof key - 1) == 0) {
            k = q + sizeof key - 1;
            break;
        }
    }
    if (k == NULL) {
        return false;
    }
    while (k < end && (*k == ' ' || *k == ':' || *k == '\t')) {
        k++;
    }
    if (k < end && *k == '"') {
        const char *e = memchr(k + 1, '"', (size_t)(end - k - 1));
        return e != NULL && es_time_parse(k + 1, (size_t)(e - k - 1), ms) == 0;
    }
    const char *e = k;
    while (e < end && ((*e >= '0' && *e <= '9') || *e == '.' || *e == '-')) {
        e++;
    }
    return e > k && es_time_parse(k, (size_t)(e - k), ms) == 0;
}

static int deliver(file_feed *s, const char *p, size_t n)
{
    int rc = es_feed_deliver(s->f, p, n);
    if (rc != 0) {
        es_feed_error(s->f, "cannot process mentions: %s", es_strerror(rc));
        return rc;
    }
    s->consumed += n;
    s->buf_off += n;
    return 0;
}

/*
 * Hand over the whole lines in buf (all of it at end of input). Returns
 * 0 when done with what is there, 1 when pacing holds the next line back
 * (the timer is set), or a negative host error.
 */
static int drain_buf(file_feed *s, bool eof)
{
    for (;;) {
        size_t left = s->buf.len - s->buf_off;
        if (left == 0) {
            break;
        }
        const char *p = s->buf.data + s->buf_off;
        const char *nl = memchr(p, '\n', left);
        size_t n;
        if (s->speed > 0) {
            n = nl != NULL ? (size_t)(nl - p) + 1 : (eof || left >= FILE_MAX_LINE ? left : 0);
            if (n == 0) {
                break;
            }
            int64_t t;
            if (line_time(p, n, &t)) {
                int64_t now = es_feed_now(s->f);
                if (!s->have_t0) {
                    s->have_t0 = true;
                    s->t0_event = t;
                    s->t0_wall = now;
                }
                int64_t due = s->t0_wall + (int64_t)((double)(t - s->t0_event) / s->speed);
                if (due > now) {
                    schedule(s, due - now);
                    return 1;
                }
            }
        } else {
            /* Everything up to the last newline in one call. */
            const char *last = NULL;
            for (const char *q = p + left; q > p; q--) {
                if (q[-1] == '\n') {
                    last = q;
                    break;
                }
            }
            if (last != NULL) {
                n = (size_t)(last - p);
            } else {
                n = eof || left >= FILE_MAX_LINE ? left : 0;
            }
            if (n == 0) {
                break;
            }
        }
        int rc = deliver(s, p, n);
        if (rc != 0) {
            return rc;
        }
    }
    /* Keep only the unconsumed tail, at the front. */
    size_t left = s->buf.len - s->buf_off;
    if (s->buf_off > 0 && s->buf.data != NULL) {
        memmove(s->buf.data, s->buf.data + s->buf_off, left);
        s->buf.len = left;
        s->buf.data[left] = '\0';
        s->buf_off = 0;
    }
    return 0;
}

/* ---- Reading ---------------------------------------------------------------- */

static void finish(file_feed *s)
{
    if (s->done) {
        return;
    }
    (void)drain_buf(s, true);
    (void)es_feed_deliver_end(s->f);
    save_cursor(s);
    s->done = true;
    s->running = false;
    uv_timer_stop(&s->tick);
    uv_idle_stop(&s->idle);
    if (s->poll_active) {
        uv_poll_stop(&s->poll);
        s->poll_active = false;
    }
    es_feed_finished(s->f);
}

/* While following at end of file: has the file been rotated? Switches to
 * the new file when the old one is fully read. Returns true if there may
 * be more to read now. */
static bool check_rotation(file_feed *s)
{
    struct stat cur, at_path;
    if (fstat(s->fd, &cur) == 0 && (uint64_t)cur.st_size < s->offset) {
        ES_LOG_INFO(es_feed_comp(s->f), "%s was truncated; reading it from the start", s->path);
        if (lseek(s->fd, 0, SEEK_SET) == 0) {
            s->offset = s->consumed = 0;
            es_buf_reset(&s->buf);
            s->buf_off = 0;
            save_cursor(s);
            return true;
        }
    }
    if (stat(s->path, &at_path) != 0 || (uint64_t)at_path.st_ino == s->ino) {
        return false; /* gone for now, or the same file: wait */
    }
    /* A new file is at the path; the old one is read to its end (we are
     * at EOF now), so a line cut at the end of the old one is complete. */
    (void)drain_buf(s, true);
    (void)es_feed_deliver_end(s->f);
    int old = s->fd;
    if (open_file(s, false) != 0) {
        s->fd = old;
        return false;
    }
    close(old);
    ES_LOG_INFO(es_feed_comp(s->f), "%s was rotated; reading the new file", s->path);
    save_cursor(s);
    return true;
}

/* Read up to `chunks` chunks. Returns 1 if there may be more right away,
 * 0 if waiting (EOF while following, pacing, pause, EAGAIN), -1 finished. */
static int read_some(file_feed *s, int chunks)
{
    if (s->fd < 0) {
        /* Following a file that does not exist yet. */
        if (open_file(s, true) != 0) {
            schedule(s, s->poll_ms);
            return 0;
        }
        ES_LOG_INFO(es_feed_comp(s->f), "%s appeared; reading it", s->path);
    }
    for (int i = 0; i < chunks; i++) {
        int rc = drain_buf(s, false);
        if (rc == 1) {
            return 0; /* pacing */
        }
        if (rc < 0) {
            finish(s);
            return -1;
        }
        if (es_buf_reserve(&s->buf, FILE_CHUNK) != 0) {
            /* A line longer than the buffer: drain_buf hands it over once
             * it reaches FILE_MAX_LINE, so this is only a transient. */
            (void)drain_buf(s, true);
            continue;
        }
        ssize_t n = read(s->fd, s->buf.data + s->buf.len, FILE_CHUNK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n < 0) {
            es_feed_error(s->f, "reading %s: %s", s->is_stdin ? "stdin" : s->path,
                          strerror(errno));
            finish(s);
            return -1;
        }
        if (n == 0) {
            if (!s->follow || s->is_stdin) {
                finish(s);
                return -1;
            }
            (void)drain_buf(s, false);
            save_cursor(s);
            if (check_rotation(s)) {
                continue;
            }
            schedule(s, s->poll_ms);
            return 0;
        }
        s->buf.len += (size_t)n;
        s->buf.data[s->buf.len] = '\0';
        s->offset += (uint64_t)n;
        rc = drain_buf(s, false);
        if (rc < 0) {
            finish(s);
            return -1;
        }
        save_cursor(s);
        if (rc == 1) {
            return 0;
        }
        if (es_feed_should_pause(s->f)) {
            s->paused = true;
            return 0;
        }
    }
    return 1;
}

static void read_turn(file_feed *s)
{
    if (!s->running || s->paused || s->done) {
        return;
    }
    int r = read_some(s, FILE_CHUNKS_PER_TICK);
    if (r == 1) {
        schedule(s, 0);
    }
}

static void on_tick(uv_timer_t *t)
{
    read_turn(t->data);
}

static void on_idle(uv_idle_t *h)
{
    /* An idle handle, not a zero timer: libuv runs a zero timer started
     * from a timer callback in the same pass, so a file with data would
     * starve I/O, signals and every other timer. Idle runs once a turn. */
    uv_idle_stop(h);
    read_turn(h->data);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    file_feed *s = p->data;
    if (!s->running || s->paused || s->done) {
        return;
    }
    if (status < 0) {
        es_feed_error(s->f, "watching stdin: %s", uv_strerror(status));
        finish(s);
        return;
    }
    (void)read_some(s, 1);
    if (s->paused && s->poll_active) {
        uv_poll_stop(&s->poll);
        s->poll_active = false;
    }
}

static void schedule(file_feed *s, int64_t ms)
{
    if (s->closing) {
        return;
    }
    if (s->use_poll && ms == 0) {
        if (!s->poll_active) {
            uv_poll_start(&s->poll, UV_READABLE, on_readable);
            s->poll_active = true;
        }
        return;
    }
    if (ms <= 0) {
        uv_idle_start(&s->idle, on_idle);
        return;
    }
    uv_timer_start(&s->tick, on_tick, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---- The vtable ----------------------------------------------------------------- */

static int file_init(es_feed *f, const es_config_item *item, void **state, es_error *err)
{
    const char *path = es_config_item_str(item, "path");
    if (path == NULL || path[0] == '\0') {
        return es_error_set(err, ES_ECONFIG, 0, 0, "feed '%s': 'path' is required",
                            es_feed_name(f));
    }
    file_feed *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    s->f = f;
    s->fd = -1;
    s->is_stdin = strcmp(path, "-") == 0; /* the config leaves "-" unresolved */
    s->follow = es_config_item_bool(item, "follow");
    s->speed = es_config_item_float(item, "replay_speed");
    s->poll_ms = es_config_item_int(item, "poll_interval");
    if (s->poll_ms <= 0) {
        s->poll_ms = 1000;
    }
    es_buf_init(&s->buf, FILE_MAX_LINE + FILE_CHUNK + 1);
    uv_timer_init(es_feed_loop(f), &s->tick);
    s->tick.data = s;
    uv_idle_init(es_feed_loop(f), &s->idle);
    s->idle.data = s;
    s->open_handles = 2;
    *state = s;
    return 0;
}

static int file_start(void *state)
{
    file_feed *s = state;
    if (s->running) {
        return 0;
    }
    if (s->fd < 0) {
        if (s->is_stdin) {
            s->fd = 0;
            struct stat st;
            if (fstat(0, &st) == 0 && !S_ISREG(st.st_mode)) {
                int fl = fcntl(0, F_GETFL);
                if (fl >= 0) {
                    (void)fcntl(0, F_SETFL, fl | O_NONBLOCK);
                }
                if (uv_poll_init(es_feed_loop(s->f), &s->poll, 0) == 0) {
                    s->poll.data = s;
                    s->use_poll = true;
                    s->open_handles++;
                }
            }
        } else if (open_file(s, true) != 0) {
            if (!(s->follow && errno == ENOENT)) {
                es_feed_error(s->f, "cannot open %s: %s", s->path, strerror(errno));
                s->running = true;
                finish(s);
                return 0;
            }
            es_feed_error(s->f, "%s does not exist yet; waiting for it", s->path);
        }
    }
    s->running = true;
    s->paused = false;
    schedule(s, 0);
    return 0;
}

static void file_stop(void *state)
{
    file_feed *s = state;
    s->running = false;
    uv_timer_stop(&s->tick);
    uv_idle_stop(&s->idle);
    if (s->poll_active) {
        uv_poll_stop(&s->poll);
        s->poll_active = false;
    }
}

static void file_resume(void *state)
{
    file_feed *s = state;
    if (!s->paused) {
        return;
    }
    s->paused = false;
    if (s->running && !s->done) {
        schedule(s, 0);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    file_feed *s = h->data;
    if (--s->open_handles == 0) {
        es_feed_closed(s->f);
    }
}

static void file_close(void *state)
{
    file_feed *s = state;
    file_stop(s);
    s->closing = true;
    /* Commit point for what was handed over so far. */
    if (!s->done && s->fd >= 0) {
        save_cursor(s);
    }
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    if (s->use_poll) {
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    }
}

static void file_destroy(void *state)
{
    file_feed *s = state;
    if (s->fd > 0) {
        close(s->fd);
    }
    es_buf_free(&s->buf);
    free(s->path);
    free(s);
}

const es_feed_type es_feed_type_file = {
    .name = "file",
    .help = "a file or standard input; follows appends and rotation, replays at a pace",
    .init = file_init,
    .start = file_start,
    .stop = file_stop,
    .resume = file_resume,
    .close = file_close,
    .destroy = file_destroy,
};
