/* Test helpers: run the built binary with pipes, read files. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sink {
    char *data;
    size_t len, cap;
};

static void sink_add(struct sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1) {
            cap *= 2;
        }
        s->data = realloc(s->data, cap);
        s->cap = cap;
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
}

int es_test_run(const char *const *argv, const char *input, size_t input_len, char **out,
                char **err)
{
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe(in_pipe) || pipe(out_pipe) || pipe(err_pipe)) {
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        size_t n = 0;
        while (argv[n] != NULL) {
            n++;
        }
        char **args = calloc(n + 1, sizeof *args);
        args[0] = (char *)ES_TEST_EARSHOT;
        for (size_t i = 1; i < n; i++) {
            args[i] = (char *)argv[i];
        }
        execv(ES_TEST_EARSHOT, args);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    struct sink so = {0}, se = {0};
    sink_add(&so, "", 0);
    sink_add(&se, "", 0);
    size_t written = 0;
    int in_fd = in_pipe[1];
    if (input == NULL || input_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    int open_fds = 2;
    while (open_fds > 0 || in_fd >= 0) {
        struct pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0},
                                {in_fd, POLLOUT, 0}};
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        char buf[65536];
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = read(fds[i].fd, buf, sizeof buf);
                if (r > 0) {
                    sink_add(i == 0 ? &so : &se, buf, (size_t)r);
                } else if (r == 0 || errno != EAGAIN) {
                    close(fds[i].fd);
                    if (i == 0) {
                        out_pipe[0] = -1;
                    } else {
                        err_pipe[0] = -1;
                    }
                    open_fds--;
                }
            }
        }
        if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in_fd, input + written, input_len - written);
            if (w > 0) {
                written += (size_t)w;
            }
            if (w < 0 && errno != EAGAIN) {
                written = input_len;
            }
            if (written >= input_len) {
                close(in_fd);
                in_fd = -1;
            }
        }
    }
    int status;
    waitpid(pid, &status, 0);
    if (out != NULL) {
        *out = so.data;
    } else {
        free(so.data);
    }
    if (err != NULL) {
        *err = se.data;
    } else {
        free(se.data);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *es_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct sink s = {0};
    char buf[65536];
    size_t r;
    sink_add(&s, "", 0);
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        sink_add(&s, buf, r);
    }
    fclose(f);
    if (len != NULL) {
        *len = s.len;
    }
    return s.data;
}

size_t es_test_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

size_t es_test_count_str(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

int64_t es_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void es_test_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

size_t es_test_wait_lines(const char *path, size_t n, int timeout_ms)
{
    int64_t end = es_test_now_ms() + timeout_ms;
    for (;;) {
        char *s = es_test_read_file(path, NULL);
        size_t got = s != NULL ? es_test_count_lines(s) : 0;
        free(s);
        if (got >= n || es_test_now_ms() >= end) {
            return got;
        }
        es_test_nap_ms(20);
    }
}

static pid_t live_run = -1;

pid_t es_test_spawn_run(const char *config, const char *log_path, const char *extra)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        execl(ES_TEST_EARSHOT, "earshot", "run", "-c", config, "--stats-interval", "0", extra,
              (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        live_run = pid;
    }
    return pid;
}

int es_test_wait_run(pid_t pid, int timeout_ms)
{
    int64_t end = es_test_now_ms() + timeout_ms;
    int st;
    while (es_test_now_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            live_run = pid == live_run ? -1 : live_run;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        es_test_nap_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    live_run = pid == live_run ? -1 : live_run;
    return -1;
}

int es_test_stop_run(pid_t pid)
{
    kill(pid, SIGTERM);
    return es_test_wait_run(pid, 30000);
}

void es_test_reap_leftover(void)
{
    if (live_run > 0) {
        kill(live_run, SIGKILL);
        waitpid(live_run, NULL, 0);
        live_run = -1;
    }
}

int es_test_wait_log_port(const char *log_path, int timeout_ms)
{
    int64_t end = es_test_now_ms() + timeout_ms;
    for (;;) {
        char *s = es_test_read_file(log_path, NULL);
        const char *p = s != NULL ? strstr(s, "(port ") : NULL;
        int port = p != NULL ? atoi(p + 6) : 0;
        free(s);
        if (port > 0 || es_test_now_ms() >= end) {
            return port;
        }
        es_test_nap_ms(10);
    }
}
