/*
 * A scripted HTTP/1.1 server on 127.0.0.1 for the feed tests: SSE streams,
 * chunked NDJSON, paged JSON APIs, and every way a server can misbehave
 * (drop mid-event, stall, garbage, 429 + Retry-After, 500).
 *
 * Each connection gets its own thread and is answered by the test's
 * handler, which sees the parsed request and writes whatever it likes: a
 * whole response (fs_respond), or a status line and then bytes as slowly
 * as it wants (fs_begin + fs_write / fs_chunk + fs_idle). When the handler
 * returns the connection is closed. Every request is recorded with its
 * arrival time, so a test can assert when reconnects happened.
 *
 * Also here: running `earshot run` as a child process with a deadline,
 * and waiting for lines to appear in a file (an alert sink). Tests link
 * only testutil.c, so include feedserver.c in the test file that uses it.
 */
#ifndef ES_FEEDSERVER_H
#define ES_FEEDSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_MAX_REQUESTS 4096

typedef struct fs_req {
    int64_t at_ms; /* CLOCK_REALTIME when the request head had arrived */
    int conn;      /* 0-based connection number */
    char method[8];
    char target[2048]; /* path and query as sent */
    char headers[4096]; /* the raw header lines */
} fs_req;

typedef struct fs_server fs_server;
typedef struct fs_conn fs_conn;

/* Runs on the connection's thread. Use fs_lock() around shared state. */
typedef void (*fs_handler)(fs_conn *c, const fs_req *r, void *ud);

fs_server *fs_start(fs_handler h, void *ud);
int fs_port(const fs_server *s);
/* Stop: no new connections; fs_idle() returns false in every handler and
 * writes fail; joins every thread. */
void fs_stop(fs_server *s);
void fs_lock(fs_server *s);
void fs_unlock(fs_server *s);
fs_server *fs_conn_server(fs_conn *c);

/* Requests recorded so far, and a copy of request i. */
size_t fs_count(fs_server *s);
bool fs_get(fs_server *s, size_t i, fs_req *out);
/* Wait until at least n requests arrived or timeout_ms passed; returns the count. */
size_t fs_wait_requests(fs_server *s, size_t n, int timeout_ms);

/* A request header's value (case-insensitive) or a query parameter's
 * (percent-decoded) into out; false if absent. */
bool fs_header(const fs_req *r, const char *name, char *out, size_t cap);
bool fs_param(const fs_req *r, const char *name, char *out, size_t cap);
/* Does the path (before '?') equal `path`? */
bool fs_path_is(const fs_req *r, const char *path);

/* A whole response with Content-Length; extra_headers are lines each ending
 * in "\r\n" (may be NULL). Returns 0 or -1 if the peer is gone. */
int fs_respond(fs_conn *c, int status, const char *extra_headers, const char *body);
/* The head of a streamed response: chunked encoding when `chunked`,
 * otherwise the body runs until the connection closes. */
int fs_begin(fs_conn *c, int status, const char *content_type, const char *extra_headers,
             bool chunked);
/* Body bytes as they are (for a chunked response: framed as one chunk). */
int fs_write(fs_conn *c, const char *p, size_t n);
int fs_writes(fs_conn *c, const char *s);
/* Wait ms (or until the server stops or the client hangs up). Returns true
 * if the connection is still worth writing to. */
bool fs_idle(fs_conn *c, int ms);

/* ---- The earshot binary --------------------------------------------------------- */

/* Start `earshot run -c config` (extra args may be NULL-terminated list or
 * NULL) with stderr to err_path. Returns the pid or -1. */
pid_t fs_spawn_run(const char *config, const char *err_path, const char *const *extra);
/* Wait for it to exit within timeout_ms: the exit status, or -1 (then it
 * is killed with SIGKILL and reaped). */
int fs_wait_exit(pid_t pid, int timeout_ms);
/* Count lines in a file (0 if missing). */
size_t fs_file_lines(const char *path);
/* Wait until the file has at least n lines; returns the count. */
size_t fs_wait_lines(const char *path, size_t n, int timeout_ms);
/* Wait until the file contains `needle`. */
bool fs_wait_text(const char *path, const char *needle, int timeout_ms);
/* Wait until `needle` occurs at least n times in the file; returns the count. */
size_t fs_wait_count(const char *path, const char *needle, size_t n, int timeout_ms);
/* A GET of one path of a run's admin endpoint (its port from
 * es_test_wait_log_port) into out (FS_ADMIN_BODY_MAX bytes, NUL
 * terminated, cut beyond); returns the HTTP status or -1. */
#define FS_ADMIN_BODY_MAX (64 * 1024)
long fs_admin_get(int port, const char *path, char *out);
/* A fresh directory under /tmp for one test's config, state and output. */
void fs_tmpdir(char *out, size_t cap, const char *tag);
/* Write a file (printf-style). */
void fs_write_file(const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int64_t fs_now_ms(void);

#endif
