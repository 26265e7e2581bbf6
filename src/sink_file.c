/*
 * The file sink: alerts appended to a file as NDJSON, one alert per line,
 * never grouped. The file is opened in append mode so several writers and
 * log rotation behave; after rotation, reopen() (SIGHUP) starts the new file.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct file_sink {
    char *path;
    int fd;
    bool fsync;
} file_sink;

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static int file_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *path = es_sink_opt_get(o, "path");
    file_sink *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return es_error_set(err, ES_ENOMEM, 0, 0, "sink '%s': out of memory", o->sink_name);
    }
    f->fsync = es_sink_opt_bool(o, "fsync", false);
    f->fd = open_append(path);
    if (f->fd < 0) {
        int e = errno;
        free(f->path);
        free(f);
        return es_error_set(err, ES_EIO, 0, 0, "sink '%s': cannot open '%s': %s", o->sink_name,
                            path, strerror(e));
    }
    *state = f;
    return 0;
}

static int file_build(void *state, const es_notification *n, es_sink_request *req)
{
    (void)state;
    return es__sink_ndjson_build(n, req);
}

static void file_perform(void *state, const es_sink_request *req, int64_t timeout_ms,
                         es_sink_result *res)
{
    file_sink *f = state;
    (void)timeout_ms;
    if (f->fd < 0) {
        /* A reopen failed earlier; try again now. */
        f->fd = open_append(f->path);
    }
    const char *p = req->body.data;
    size_t left = req->body.len;
    while (f->fd >= 0 && left > 0) {
        ssize_t w = write(f->fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (f->fd < 0 || left > 0 || (f->fsync && fsync(f->fd) != 0)) {
        res->verdict = ES_SINK_RETRY;
        snprintf(res->error, sizeof res->error, "writing '%s': %s", f->path, strerror(errno));
        return;
    }
    res->verdict = ES_SINK_DELIVERED;
}

static int file_reopen(void *state)
{
    file_sink *f = state;
    int fd = open_append(f->path);
    if (fd < 0) {
        /* Keep writing to the old file rather than losing alerts. */
        return ES_EIO;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = fd;
    return 0;
}

static void file_destroy(void *state)
{
    file_sink *f = state;
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->path);
    free(f);
}

static const es_sink_option file_options[] = {
    {"path", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED, "file to append alerts to"},
    {"fsync", ES_SINK_OPT_BOOL, "false", 0, "fsync after every write"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_file = {
    .name = "file",
    .options = file_options,
    .init = file_init,
    .build = file_build,
    .perform = file_perform,
    .reopen = file_reopen,
    .destroy = file_destroy,
};
