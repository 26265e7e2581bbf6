/* The scripted HTTP receiver of fake_http.h. Test code: small and blunt. */
#include "fake_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FH_MAX_REQUESTS      512
#define FH_MAX_REQUEST_BYTES (1u << 20)

struct fh_server {
    int listen_fd;
    int port;
    fh_step *script;
    size_t n_script;
    fh_step then;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    volatile int stop;
    fh_request reqs[FH_MAX_REQUESTS];
    size_t n_reqs;
};

static int64_t fh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fh_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* strcasestr is a GNU extension. */
static const char *fh_find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++) {
        if (strncasecmp(hay, needle, n) == 0) {
            return hay;
        }
    }
    return NULL;
}

/* Read one request (headers + Content-Length body); false on EOF/garbage. */
static bool fh_read_request(int fd, fh_request *r)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        return false;
    }
    size_t head_end = 0, want = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) {
            break;
        }
        if (len == cap) {
            if (cap >= FH_MAX_REQUEST_BYTES) {
                break;
            }
            char *grown = realloc(buf, cap * 2 + 1);
            if (grown == NULL) {
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (head_end == 0) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e == NULL) {
                continue;
            }
            head_end = (size_t)(e - buf) + 4;
            const char *cl = fh_find_ci(buf, "\r\nContent-Length:");
            want = cl != NULL && cl < e ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
        }
        if (head_end != 0 && len >= head_end + want) {
            sscanf(buf, "%7s %255s", r->method, r->path);
            r->headers = strndup(buf, head_end);
            r->body = malloc(want + 1);
            if (r->headers == NULL || r->body == NULL) {
                free(r->headers);
                free(r->body);
                r->headers = r->body = NULL;
                break;
            }
            memcpy(r->body, buf + head_end, want);
            r->body[want] = '\0';
            r->body_len = want;
            free(buf);
            return true;
        }
    }
    free(buf);
    return false;
}

static void fh_sleep_ms(fh_server *s, int ms)
{
    int64_t end = fh_now() + ms;
    while (!s->stop && fh_now() < end) {
        poll(NULL, 0, 10);
    }
}

static void *fh_run(void *arg)
{
    fh_server *s = arg;
    size_t served = 0;
    while (!s->stop) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int c = accept(s->listen_fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        fh_request r;
        memset(&r, 0, sizeof r);
        if (!fh_read_request(c, &r)) {
            close(c);
            continue;
        }
        r.at_ms = fh_now();
        int idx = served < s->n_script ? (int)served : -1;
        const fh_step *st = idx >= 0 ? &s->script[idx] : &s->then;
        served++;
        r.step = idx;
        r.status = st->action == FH_RESPOND ? st->status : 0;
        pthread_mutex_lock(&s->lock);
        if (s->n_reqs < FH_MAX_REQUESTS) {
            s->reqs[s->n_reqs++] = r;
        } else {
            free(r.headers);
            free(r.body);
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);

        if (st->action == FH_RESPOND) {
            char head[1024];
            const char *body = st->body != NULL ? st->body : "";
            int n = snprintf(head, sizeof head,
                             "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n"
                             "Connection: close\r\n%s\r\n",
                             st->status, strlen(body), st->headers != NULL ? st->headers : "");
            ssize_t w = write(c, head, (size_t)n);
            w = write(c, body, strlen(body));
            (void)w;
            close(c);
        } else if (st->action == FH_HANG) {
            /* Silent until the client hangs up or the time is over. */
            int64_t end = fh_now() + st->ms;
            while (!s->stop && fh_now() < end) {
                struct pollfd q = {c, POLLIN, 0};
                char tmp[256];
                if (poll(&q, 1, 20) > 0 && read(c, tmp, sizeof tmp) <= 0) {
                    break;
                }
            }
            close(c);
        } else {
            close(c);
            close(s->listen_fd);
            s->listen_fd = -1;
            fh_sleep_ms(s, st->ms);
            while (!s->stop && (s->listen_fd = fh_listen(s->port)) < 0) {
                poll(NULL, 0, 10);
            }
        }
    }
    return NULL;
}

fh_server *fh_start(const fh_step *script, size_t n, const fh_step *then)
{
    fh_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->listen_fd = fh_listen(0);
    if (s->listen_fd < 0) {
        free(s);
        return NULL;
    }
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    /* An empty script (n == 0, script may be NULL) means `then` answers every
     * request; memcpy must not see a NULL source even for 0 bytes. */
    s->script = calloc(n + 1, sizeof *s->script);
    if (s->script == NULL) {
        close(s->listen_fd);
        free(s);
        return NULL;
    }
    if (n > 0 && script != NULL) {
        memcpy(s->script, script, n * sizeof *script);
    } else {
        n = 0;
    }
    s->n_script = n;
    /* No `then`: answer 200 with no body, as a plain receiver would. */
    s->then = then != NULL ? *then : (fh_step){.action = FH_RESPOND, .status = 200};
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_create(&s->thread, NULL, fh_run, s);
    return s;
}

int fh_port(const fh_server *s)
{
    return s->port;
}

size_t fh_count(fh_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_reqs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t fh_wait(fh_server *s, size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->n_reqs < n) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT) {
            break;
        }
    }
    size_t got = s->n_reqs;
    pthread_mutex_unlock(&s->lock);
    return got;
}

const fh_request *fh_get(fh_server *s, size_t i)
{
    pthread_mutex_lock(&s->lock);
    const fh_request *r = i < s->n_reqs ? &s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->lock);
    return r;
}

const char *fh_header(const fh_request *r, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ') {
                v++;
            }
            size_t len = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)len, v);
            return out;
        }
    }
    return NULL;
}

void fh_stop(fh_server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    for (size_t i = 0; i < s->n_reqs; i++) {
        free(s->reqs[i].headers);
        free(s->reqs[i].body);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->script);
    free(s);
}
