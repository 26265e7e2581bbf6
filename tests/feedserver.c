/* The scripted feed server of feedserver.h. Test code: small and blunt. */
#include "feedserver.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FS_MAX_CONNS 512

struct fs_conn {
    fs_server *s;
    int fd;
    int idx;
    bool chunked;
    pthread_t th;
};

struct fs_server {
    int lfd;
    int port;
    fs_handler h;
    void *ud;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    volatile int stopping;
    fs_req *reqs;
    size_t n_reqs;
    fs_conn *conns[FS_MAX_CONNS];
    int n_conns;
};

int64_t fs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Requests ----------------------------------------------------------------- */

/* Read the request head (up to the blank line); bodies are not expected. */
static bool read_head(int fd, fs_req *r)
{
    char buf[8192];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) {
            return false;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL) {
            break;
        }
    }
    char *eol = strstr(buf, "\r\n");
    if (eol == NULL) {
        return false;
    }
    *eol = '\0';
    if (sscanf(buf, "%7s %2047s", r->method, r->target) != 2) {
        return false;
    }
    snprintf(r->headers, sizeof r->headers, "%s", eol + 2);
    return true;
}

bool fs_header(const fs_req *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; *p != '\0';) {
        const char *e = strstr(p, "\r\n");
        size_t ll = e != NULL ? (size_t)(e - p) : strlen(p);
        if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            size_t vl = ll - (size_t)(v - p);
            snprintf(out, cap, "%.*s", (int)vl, v);
            return true;
        }
        if (e == NULL) {
            break;
        }
        p = e + 2;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool fs_param(const fs_req *r, const char *name, char *out, size_t cap)
{
    const char *q = strchr(r->target, '?');
    size_t nl = strlen(name);
    while (q != NULL) {
        q++;
        const char *amp = strchr(q, '&');
        const char *end = amp != NULL ? amp : q + strlen(q);
        if ((size_t)(end - q) > nl && q[nl] == '=' && strncmp(q, name, nl) == 0) {
            size_t k = 0;
            for (const char *p = q + nl + 1; p < end && k + 1 < cap; p++) {
                if (*p == '%' && p + 2 < end + 1 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                    out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                    p += 2;
                } else {
                    out[k++] = *p == '+' ? ' ' : *p;
                }
            }
            out[k] = '\0';
            return true;
        }
        q = amp;
    }
    return false;
}

bool fs_path_is(const fs_req *r, const char *path)
{
    size_t n = strlen(path);
    return strncmp(r->target, path, n) == 0 && (r->target[n] == '\0' || r->target[n] == '?');
}

/* ---- Writing -------------------------------------------------------------------- */

static int send_all(fs_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        if (c->s->stopping) {
            return -1;
        }
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 401:
        return "Unauthorized";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

int fs_respond(fs_conn *c, int status, const char *extra_headers, const char *body)
{
    size_t bl = body != NULL ? strlen(body) : 0;
    char head[4096];
    snprintf(head, sizeof head,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n%s\r\n",
             status, reason(status), bl, extra_headers != NULL ? extra_headers : "");
    if (send_all(c, head, strlen(head)) != 0) {
        return -1;
    }
    return bl > 0 ? send_all(c, body, bl) : 0;
}

int fs_begin(fs_conn *c, int status, const char *content_type, const char *extra_headers,
             bool chunked)
{
    char head[4096];
    snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sConnection: close\r\n%s\r\n",
             status, reason(status), content_type,
             chunked ? "Transfer-Encoding: chunked\r\n" : "",
             extra_headers != NULL ? extra_headers : "");
    c->chunked = chunked;
    return send_all(c, head, strlen(head));
}

int fs_write(fs_conn *c, const char *p, size_t n)
{
    if (!c->chunked) {
        return send_all(c, p, n);
    }
    char len[32];
    snprintf(len, sizeof len, "%zx\r\n", n);
    if (send_all(c, len, strlen(len)) != 0 || send_all(c, p, n) != 0) {
        return -1;
    }
    return send_all(c, "\r\n", 2);
}

int fs_writes(fs_conn *c, const char *s)
{
    return fs_write(c, s, strlen(s));
}

bool fs_idle(fs_conn *c, int ms)
{
    int64_t end = fs_now_ms() + ms;
    for (;;) {
        if (c->s->stopping) {
            return false;
        }
        int64_t left = end - fs_now_ms();
        if (left <= 0) {
            return true;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, (int)(left < 50 ? left : 50));
        if (n > 0) {
            char b[256];
            ssize_t k = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                return false; /* the client hung up */
            }
        }
    }
}

/* ---- Threads --------------------------------------------------------------------- */

static void *conn_main(void *arg)
{
    fs_conn *c = arg;
    fs_server *s = c->s;
    fs_req r;
    memset(&r, 0, sizeof r);
    if (read_head(c->fd, &r)) {
        r.at_ms = fs_now_ms();
        r.conn = c->idx;
        pthread_mutex_lock(&s->mu);
        if (s->n_reqs < FS_MAX_REQUESTS) {
            s->reqs[s->n_reqs++] = r;
        }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        s->h(c, &r, s->ud);
    }
    pthread_mutex_lock(&s->mu);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    fs_server *s = arg;
    while (!s->stopping) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&s->mu);
        if (s->n_conns == FS_MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        fs_conn *c = calloc(1, sizeof *c);
        c->s = s;
        c->fd = fd;
        c->idx = s->n_conns;
        s->conns[s->n_conns++] = c;
        pthread_mutex_unlock(&s->mu);
        pthread_create(&c->th, NULL, conn_main, c);
    }
    return NULL;
}

fs_server *fs_start(fs_handler h, void *ud)
{
    fs_server *s = calloc(1, sizeof *s);
    s->reqs = calloc(FS_MAX_REQUESTS, sizeof *s->reqs);
    s->h = h;
    s->ud = ud;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 64) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        close(s->lfd);
        free(s->reqs);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    signal(SIGPIPE, SIG_IGN);
    pthread_create(&s->acceptor, NULL, accept_main, s);
    return s;
}

int fs_port(const fs_server *s)
{
    return s->port;
}

void fs_lock(fs_server *s)
{
    pthread_mutex_lock(&s->mu);
}

void fs_unlock(fs_server *s)
{
    pthread_mutex_unlock(&s->mu);
}

fs_server *fs_conn_server(fs_conn *c)
{
    return c->s;
}

void fs_stop(fs_server *s)
{
    if (s == NULL) {
        return;
    }
    s->stopping = 1;
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    /* Wake handlers blocked in send() to a client that stopped reading. */
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_conns; i++) {
        if (s->conns[i]->fd >= 0) {
            shutdown(s->conns[i]->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_conns; i++) {
        pthread_join(s->conns[i]->th, NULL);
        free(s->conns[i]);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->reqs);
    free(s);
}

size_t fs_count(fs_server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool fs_get(fs_server *s, size_t i, fs_req *out)
{
    pthread_mutex_lock(&s->mu);
    bool ok = i < s->n_reqs;
    if (ok) {
        *out = s->reqs[i];
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

size_t fs_wait_requests(fs_server *s, size_t n, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->n_reqs < n) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) {
            break;
        }
    }
    size_t got = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return got;
}

/* ---- The earshot binary ------------------------------------------------------------ */

/* Runs not yet reaped. A failed assertion leaves the test before it stops
 * its run; these are killed when the test program exits, so a follow or
 * network run cannot outlive it and load the tests that come after. */
static pid_t fs_children[16];

static void fs_forget_child(pid_t pid)
{
    for (size_t i = 0; i < sizeof fs_children / sizeof fs_children[0]; i++) {
        if (fs_children[i] == pid) {
            fs_children[i] = 0;
        }
    }
}

static void fs_kill_children(void)
{
    for (size_t i = 0; i < sizeof fs_children / sizeof fs_children[0]; i++) {
        if (fs_children[i] > 0) {
            kill(fs_children[i], SIGKILL);
            waitpid(fs_children[i], NULL, 0);
            fs_children[i] = 0;
        }
    }
}

pid_t fs_spawn_run(const char *config, const char *err_path, const char *const *extra)
{
    static bool registered;
    if (!registered) {
        registered = atexit(fs_kill_children) == 0;
    }
    pid_t pid = fork();
    if (pid > 0) {
        for (size_t i = 0; i < sizeof fs_children / sizeof fs_children[0]; i++) {
            if (fs_children[i] == 0) {
                fs_children[i] = pid;
                break;
            }
        }
    }
    if (pid != 0) {
        return pid;
    }
    FILE *e = freopen(err_path, "w", stderr);
    (void)e;
    FILE *o = freopen("/dev/null", "w", stdout);
    (void)o;
    const char *argv[32] = {ES_TEST_EARSHOT, "run", "-c", config, "--lexicons", ES_TEST_LEXICONS};
    size_t n = 6;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    execv(ES_TEST_EARSHOT, (char *const *)argv);
    _exit(127);
}

int fs_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t end = fs_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            fs_forget_child(pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (fs_now_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fs_forget_child(pid);
            return -1;
        }
        nap_ms(10);
    }
}

size_t fs_file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = 0;
    int ch;
    while ((ch = getc(f)) != EOF) {
        n += ch == '\n';
    }
    fclose(f);
    return n;
}

/* Polls the file: the writer is another process, and a short poll is the
 * simplest honest way to wait for its output. */
size_t fs_wait_lines(const char *path, size_t n, int timeout_ms)
{
    int64_t end = fs_now_ms() + timeout_ms;
    size_t got;
    while ((got = fs_file_lines(path)) < n && fs_now_ms() < end) {
        nap_ms(20);
    }
    return got;
}

bool fs_wait_text(const char *path, const char *needle, int timeout_ms)
{
    int64_t end = fs_now_ms() + timeout_ms;
    for (;;) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            static char buf[1 << 22];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
            if (strstr(buf, needle) != NULL) {
                return true;
            }
        }
        if (fs_now_ms() >= end) {
            return false;
        }
        nap_ms(20);
    }
}

/* Counts occurrences rather than lines: detectors may add alerts of other
 * kinds (a burst of near-identical test posts is a campaign), so waiting
 * for N lines can return before the N-th complaint is written. */
size_t fs_wait_count(const char *path, const char *needle, size_t n, int timeout_ms)
{
    int64_t end = fs_now_ms() + timeout_ms;
    size_t got = 0;
    for (;;) {
        got = 0;
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            static char buf[1 << 22];
            size_t len = fread(buf, 1, sizeof buf - 1, f);
            buf[len] = '\0';
            fclose(f);
            for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++) {
                got++;
            }
        }
        if (got >= n || fs_now_ms() >= end) {
            return got;
        }
        nap_ms(20);
    }
}

/* ---- The engine's admin endpoint ------------------------------------------ */

static size_t on_admin_body(char *p, size_t size, size_t n, void *ud)
{
    char *out = ud;
    size_t have = strlen(out), add = size * n;
    size_t take = add < FS_ADMIN_BODY_MAX - 1 - have ? add : FS_ADMIN_BODY_MAX - 1 - have;
    memcpy(out + have, p, take);
    out[have + take] = '\0';
    return add;
}

long fs_admin_get(int port, const char *path, char *out)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    out[0] = '\0';
    CURL *h = curl_easy_init();
    if (h == NULL) {
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_admin_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(h);
    return status;
}

void fs_tmpdir(char *out, size_t cap, const char *tag)
{
    snprintf(out, cap, "/tmp/earshot-%s-XXXXXX", tag);
    if (mkdtemp(out) == NULL) {
        snprintf(out, cap, "/tmp");
    }
}

void fs_write_file(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}
