/*
 * The exec sink: runs a program for every notification, with the alerts'
 * JSON on its standard input (one alert per line, or the whole notification
 * object with `input: notification`). The program is given as an argv list
 * and run directly, never through a shell, so nothing in an alert can turn
 * into a command. It gets the sink's timeout; past it, its whole process
 * group is killed.
 *
 * Exit status 0 is success; any other status or a timeout is retried; a
 * program that cannot be started at all is a permanent failure.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_MAX_ARGS    256 /* the config schema's bound for `command` */
#define EXEC_OUTPUT_KEEP 160 /* bytes of the program's output kept for the error */

typedef struct exec_sink {
    char *argv[EXEC_MAX_ARGS + 1];
    char *path; /* argv[0] resolved against PATH once, at init */
    bool notification;
} exec_sink;

static void exec_destroy(void *state)
{
    exec_sink *e = state;
    if (e == NULL) {
        return;
    }
    for (size_t i = 0; e->argv[i] != NULL; i++) {
        free(e->argv[i]);
    }
    free(e->path);
    free(e);
}

/* Resolve the program now rather than in the child: execvp is not
 * async-signal-safe, and a missing program is better reported at startup. */
static char *resolve(const char *prog)
{
    if (strchr(prog, '/') != NULL) {
        struct stat st;
        bool ok = stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0;
        return ok ? strdup(prog) : NULL;
    }
    const char *path = getenv("PATH");
    if (path == NULL) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
        char buf[4096];
        if (n > 0 && n + strlen(prog) + 2 < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) {
                return strdup(buf);
            }
        }
        path += n;
        if (*path == ':') {
            path++;
        }
    }
    return NULL;
}

static int exec_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *args[EXEC_MAX_ARGS];
    size_t n = es_sink_opt_list(o, "command", args, EXEC_MAX_ARGS);
    if (n == 0 || n > EXEC_MAX_ARGS || args[0][0] == '\0') {
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': 'command' must be a list of 1 to %d arguments",
                            o->sink_name, EXEC_MAX_ARGS);
    }
    const char *input = es_sink_opt_get(o, "input");
    if (strcmp(input, "alerts") != 0 && strcmp(input, "notification") != 0) {
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': 'input' must be alerts or notification, not '%s'",
                            o->sink_name, input);
    }
    exec_sink *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    e->notification = strcmp(input, "notification") == 0;
    for (size_t i = 0; i < n; i++) {
        if ((e->argv[i] = strdup(args[i])) == NULL) {
            exec_destroy(e);
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
    }
    e->path = resolve(args[0]);
    if (e->path == NULL) {
        exec_destroy(e);
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': program '%s' not found or not executable", o->sink_name,
                            args[0]);
    }
    *state = e;
    return 0;
}

static int exec_build(void *state, const es_notification *n, es_sink_request *req)
{
    exec_sink *e = state;
    if (!e->notification) {
        return es__sink_ndjson_build(n, req);
    }
    req->kind = ES_SINK_REQ_LOCAL;
    int rc = es_notification_to_json(n, &req->body);
    return rc ? rc : es_buf_addc(&req->body, '\n');
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pipe2() is a GNU extension; this is the portable spelling. */
static int pipe_cloexec(int fds[2])
{
    if (pipe(fds) != 0) {
        return -1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void exec_perform(void *state, const es_sink_request *req, int64_t timeout_ms,
                         es_sink_result *res)
{
    exec_sink *e = state;
    /* stdin is a socket so writes can use MSG_NOSIGNAL: a program that exits
     * without reading must not kill us with SIGPIPE. */
    int in[2] = {-1, -1}, out[2] = {-1, -1}, ep[2] = {-1, -1};
    res->verdict = ES_SINK_RETRY;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe_cloexec(out) != 0 ||
        pipe_cloexec(ep) != 0) {
        snprintf(res->error, sizeof res->error, "exec: %s", strerror(errno));
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(res->error, sizeof res->error, "exec: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here to exec. */
        setpgid(0, 0);
        dup2(in[1], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execv(e->path, e->argv);
        int err = errno;
        ssize_t w = write(ep[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    close_fd(&in[1]);
    close_fd(&out[1]);
    close_fd(&ep[1]);
    /* The error pipe closes on a successful exec (CLOEXEC) or carries errno. */
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(ep[0], &child_errno, sizeof child_errno);
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof child_errno) {
        waitpid(pid, NULL, 0);
        res->verdict = ES_SINK_PERMANENT;
        snprintf(res->error, sizeof res->error, "cannot run '%s': %s", e->path,
                 strerror(child_errno));
        goto done;
    }

    char keep[EXEC_OUTPUT_KEEP + 1];
    size_t kept = 0;
    const char *p = req->body.data;
    size_t left = req->body.len;
    int64_t deadline = mono_ms() + timeout_ms;
    bool timed_out = false;
    int status = 0;
    bool exited = false;
    if (left == 0) {
        close_fd(&in[0]);
    }
    while (in[0] >= 0 || out[0] >= 0) {
        struct pollfd fds[2];
        nfds_t nf = 0;
        int in_i = -1, out_i = -1;
        if (in[0] >= 0) {
            fds[nf] = (struct pollfd){in[0], POLLOUT, 0};
            in_i = (int)nf++;
        }
        if (out[0] >= 0) {
            fds[nf] = (struct pollfd){out[0], POLLIN, 0};
            out_i = (int)nf++;
        }
        int64_t wait = deadline - mono_ms();
        if (wait <= 0) {
            timed_out = true;
            break;
        }
        int pr = poll(fds, nf, (int)(wait > 1000 ? 1000 : wait));
        if (pr < 0 && errno != EINTR) {
            break;
        }
        if (pr <= 0) {
            continue;
        }
        if (in_i >= 0 && fds[in_i].revents) {
            ssize_t w = send(in[0], p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                p += w;
                left -= (size_t)w;
            }
            if (left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                /* Done, or the program stopped reading: either way, EOF. */
                close_fd(&in[0]);
            }
        }
        if (out_i >= 0 && fds[out_i].revents) {
            char buf[4096];
            ssize_t rd = read(out[0], buf, sizeof buf);
            if (rd > 0) {
                size_t take =
                    (size_t)rd < EXEC_OUTPUT_KEEP - kept ? (size_t)rd : EXEC_OUTPUT_KEEP - kept;
                memcpy(keep + kept, buf, take);
                kept += take;
            } else if (rd == 0 || errno != EINTR) {
                close_fd(&out[0]);
            }
        }
    }
    /* Output closed: the program is exiting (or handed its output on to a
     * child of its own). Wait for it until the deadline. */
    while (!timed_out) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            exited = true;
            break;
        }
        if (w < 0 && errno != EINTR) {
            break;
        }
        if (mono_ms() >= deadline) {
            timed_out = true;
            break;
        }
        poll(NULL, 0, 5);
    }
    if (!exited) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    keep[kept] = '\0';
    for (size_t i = 0; i < kept; i++) {
        if (keep[i] == '\n' || keep[i] == '\r') {
            keep[i] = ' ';
        }
    }
    if (timed_out) {
        snprintf(res->error, sizeof res->error, "'%s' timed out after %lld ms and was killed",
                 e->argv[0], (long long)timeout_ms);
    } else if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        res->verdict = ES_SINK_DELIVERED;
    } else if (exited && WIFEXITED(status)) {
        snprintf(res->error, sizeof res->error, "'%s' exited with status %d: %s", e->argv[0],
                 WEXITSTATUS(status), keep);
    } else {
        snprintf(res->error, sizeof res->error, "'%s' was killed by signal %d", e->argv[0],
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
done:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&ep[0]);
    close_fd(&ep[1]);
}

static const es_sink_option exec_options[] = {
    {"command", ES_SINK_OPT_LIST, NULL, ES_SINK_OPT_REQUIRED,
     "program and arguments, as a list; run without a shell"},
    {"input", ES_SINK_OPT_STRING, "alerts", 0,
     "what goes to stdin: alerts (one JSON per line) or notification (one object)"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_exec = {
    .name = "exec",
    .options = exec_options,
    .init = exec_init,
    .build = exec_build,
    .perform = exec_perform,
    .destroy = exec_destroy,
};
