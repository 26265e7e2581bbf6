/*
 * Delivery against a scripted receiver on 127.0.0.1: 500s, a 429 with
 * Retry-After, a hang past the client timeout, connection refused for a
 * while, then recovery. Afterwards every alert has been delivered at least
 * once, none is missing, the retry after the 429 waited as asked, and the
 * sink's rate limit held. Also: a deliverer killed with SIGKILL in the
 * middle of a send, then restarted; dead letters and replay; an e-mail sent
 * through libcurl to a minimal local SMTP server; and the pure
 * retry arithmetic (backoff, Retry-After, rate-limit headers, buckets).
 *
 * The only waiting is what the protocol demands (the 2 s Retry-After, the
 * refused second) and the short timeouts that make a hang a hang.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "deliver.h"
#include "fake_http.c"
#include "log.h"

#define T0 1424786152000LL

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/es_deliver_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/spool.db", dir);
    es_log_set_level(ES_LOG_OFF); /* retries are expected here; keep output clean */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static es_sink *webhook_sink(int port, const char *rate, const char *timeout)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    es_sink_kv kv[] = {{"url", url},
                       {"rate", rate},
                       {"timeout", timeout},
                       {"connect_timeout", "300ms"},
                       {"backoff_base", "100ms"},
                       {"backoff_max", "400ms"},
                       {"max_attempts", "40"}};
    es_sink_kv sec[] = {{"secret", "s3cret"}};
    es_sink_opts o = {.kv = kv, .n_kv = 7, .secrets = sec, .n_secrets = 1};
    es_sink *s = NULL;
    es_error err = {0};
    assert_int_equal(es_sink_new("hook", "webhook", &o, &s, &err), 0);
    return s;
}

/* One complaint alert per notification; key "alert-<i>". */
static void enqueue_alerts(es_deliver *d, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        char key[32], fp[64];
        snprintf(key, sizeof key, "alert-%d", i);
        snprintf(fp, sizeof fp, "acme/complaint/%d", i);
        es_alert_mention m = {{"m1", 2}, {"jdoe", 4}, {"lost my bag", 11}, {NULL, 0}};
        es_alert a = {.kind = ES_ALERT_COMPLAINT,
                      .severity = ES_SEV_WARNING,
                      .topic = "acme",
                      .at_ms = T0 + i,
                      .fingerprint = fp,
                      .summary = "acme: complaint",
                      .mentions = &m,
                      .n_mentions = 1};
        es_notification n1 = {.key = key, .alerts = &a, .n_alerts = 1};
        assert_int_equal(es_deliver_enqueue(d, "hook", &n1, now), 0);
    }
}

static int64_t count(es_spool *sp, es_spool_state st)
{
    int64_t n = -1;
    assert_int_equal(es_spool_count(sp, st, NULL, &n), 0);
    return n;
}

/* The keys the receiver accepted (answered 2xx), as a bit set. */
static unsigned delivered_keys(fh_server *srv)
{
    unsigned set = 0;
    for (size_t i = 0; i < fh_count(srv); i++) {
        const fh_request *r = fh_get(srv, i);
        char id[64];
        if (r->status >= 200 && r->status < 300 &&
            fh_header(r, "webhook-id", id, sizeof id) != NULL) {
            set |= 1u << atoi(id + strlen("alert-"));
        }
    }
    return set;
}

/* How much closer two requests may arrive than the rate limit sent them. */
#define RATE_NOISE_MS 150

static void test_recovers_from_scripted_failures(void **state)
{
    (void)state;
    const fh_step script[] = {
        {FH_RESPOND, 500, NULL, "oops", 0},
        {FH_RESPOND, 503, NULL, NULL, 0},
        {FH_RESPOND, 429, "Retry-After: 2\r\n", "slow down", 0},
        {FH_HANG, 0, NULL, NULL, 1500},   /* past the client's 400 ms timeout */
        {FH_REFUSE, 0, NULL, NULL, 1000}, /* then nobody listens for 1 s */
    };
    const fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(script, 5, &ok);
    assert_non_null(srv);

    es_spool *sp;
    es_error err;
    assert_int_equal(es_spool_open(db, &sp, &err), 0);
    es_deliver *d;
    assert_int_equal(es_deliver_new(sp, &d), 0);
    es_sink *s = webhook_sink(fh_port(srv), "5/s", "400ms");
    assert_int_equal(es_deliver_add_sink(d, s), 0);
    const int n = 6;
    int64_t start = es_deliver_now(d);
    enqueue_alerts(d, n, start);
    /* Spooled before any send: the receiver has seen nothing yet. */
    assert_int_equal(count(sp, ES_SPOOL_PENDING), n);
    assert_int_equal(fh_count(srv), 0);

    assert_int_equal(es_deliver_run(d, start + 30000), 0);

    /* Every alert delivered at least once; nothing left, nothing dead. */
    assert_int_equal(delivered_keys(srv), (1u << n) - 1);
    assert_int_equal(count(sp, ES_SPOOL_DONE), n);
    assert_int_equal(count(sp, ES_SPOOL_PENDING) + count(sp, ES_SPOOL_INFLIGHT), 0);
    assert_int_equal(count(sp, ES_SPOOL_DEAD), 0);
    es_deliver_stats st;
    es_deliver_stats_get(d, &st);
    assert_int_equal(st.delivered, n);
    assert_true(st.retried >= 5);

    size_t total = fh_count(srv);
    assert_true(total >= (size_t)n + 5);
    int64_t t429 = -1, after429 = -1, t_refused = -1, after_refused = -1;
    for (size_t i = 0; i < total; i++) {
        const fh_request *r = fh_get(srv, i);
        if (r->step == 2) {
            t429 = r->at_ms;
        } else if (t429 >= 0 && after429 < 0) {
            after429 = r->at_ms;
        }
        if (r->step == 4) {
            t_refused = r->at_ms;
        } else if (t_refused >= 0 && after_refused < 0) {
            after_refused = r->at_ms;
        }
        /* The rate limit (5/s, no burst): request j is sent at least
         * (j - i) * 200 ms after request i. The receiver's clock sees each
         * send a little later than it happened (the first one also
         * connects, and on a loaded machine either side may wait for a
         * CPU), so two arrivals can be closer than their sends were, by up
         * to that delay; RATE_NOISE_MS allows for it. Without a limit the
         * sends would be milliseconds apart, which this still catches, and
         * over longer spans the schedule is checked almost exactly. */
        for (size_t k = 0; k < i; k++) {
            int64_t gap = r->at_ms - fh_get(srv, k)->at_ms;
            int64_t want = (int64_t)(i - k) * 200 - RATE_NOISE_MS;
            if (gap < want) {
                fprintf(stderr, "requests %zu and %zu only %lld ms apart (want >= %lld)\n", k,
                        i, (long long)gap, (long long)want);
            }
            assert_true(gap >= want);
        }
        assert_string_equal(r->method, "POST");
        assert_string_equal(r->path, "/hook");
    }
    /* The next request after the 429 came no sooner than Retry-After. */
    assert_true(t429 > 0 && after429 > 0);
    assert_true(after429 - t429 >= 2000);
    /* Nothing got through while the listener was closed. */
    assert_true(t_refused > 0 && after_refused > 0);
    assert_true(after_refused - t_refused >= 1000);

    es_deliver_free(d);
    es_sink_free(s);
    es_spool_close(sp);
    fh_stop(srv);
}

/*
 * kill -9 of a deliverer in the middle of a send (the receiver is holding
 * the request), then a restart: the notification it was sending, and the
 * ones it never reached, are all delivered by the next process.
 */
static void test_kill9_then_restart(void **state)
{
    (void)state;
    const fh_step script[] = {{FH_HANG, 0, NULL, NULL, 20000}};
    const fh_step ok = {FH_RESPOND, 200, NULL, "ok", 0};
    fh_server *srv = fh_start(script, 1, &ok);
    assert_non_null(srv);
    const int n = 3;
    {
        es_spool *sp;
        es_error err;
        es_deliver *d;
        assert_int_equal(es_spool_open(db, &sp, &err), 0);
        assert_int_equal(es_deliver_new(sp, &d), 0);
        enqueue_alerts(d, n, es_deliver_now(d));
        es_deliver_free(d);
        es_spool_close(sp);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        es_spool *sp;
        es_error err;
        es_deliver *d;
        if (es_spool_open(db, &sp, &err) != 0 || es_deliver_new(sp, &d) != 0) {
            _exit(2);
        }
        es_sink *s = webhook_sink(fh_port(srv), "off", "30s");
        es_deliver_add_sink(d, s);
        es_deliver_run(d, es_deliver_now(d) + 60000);
        _exit(3); /* not reached: killed while the receiver hangs */
    }
    assert_int_equal(fh_wait(srv, 1, 10000), 1);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char first[64];
    assert_non_null(fh_header(fh_get(srv, 0), "webhook-id", first, sizeof first));

    /* The restart. */
    es_spool *sp;
    es_error err;
    es_deliver *d;
    assert_int_equal(es_spool_open(db, &sp, &err), 0);
    assert_int_equal(count(sp, ES_SPOOL_INFLIGHT), 1);
    assert_int_equal(es_deliver_new(sp, &d), 0);
    assert_int_equal(es_spool_recover(sp, es_deliver_now(d)), 1);
    es_sink *s = webhook_sink(fh_port(srv), "off", "2s");
    assert_int_equal(es_deliver_add_sink(d, s), 0);
    assert_int_equal(es_deliver_run(d, es_deliver_now(d) + 20000), 0);
    assert_int_equal(delivered_keys(srv), (1u << n) - 1);
    assert_int_equal(count(sp, ES_SPOOL_DONE), n);
    /* The interrupted one went out again under the same webhook-id, so the
     * receiver can tell it is a repeat. */
    int same = 0;
    for (size_t i = 1; i < fh_count(srv); i++) {
        char id[64];
        fh_header(fh_get(srv, i), "webhook-id", id, sizeof id);
        same += strcmp(id, first) == 0;
    }
    assert_int_equal(same, 1);
    es_deliver_free(d);
    es_sink_free(s);
    es_spool_close(sp);
    fh_stop(srv);
}

/* PagerDuty's 400 is final: dead-lettered at once, replayed by hand. */
static void test_permanent_failure_and_replay(void **state)
{
    (void)state;
    const fh_step script[] = {
        {FH_RESPOND, 400, NULL,
         "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\"}", 0},
    };
    const fh_step ok = {FH_RESPOND, 202, NULL, "{\"status\":\"success\"}", 0};
    fh_server *srv = fh_start(script, 1, &ok);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/enqueue", fh_port(srv));
    es_sink_kv kv[] = {{"url", url}, {"timeout", "2s"}};
    es_sink_kv sec[] = {{"routing_key", "0123456789abcdef0123456789abcdef"}};
    es_sink_opts o = {.kv = kv, .n_kv = 2, .secrets = sec, .n_secrets = 1};
    es_sink *s;
    es_error err;
    assert_int_equal(es_sink_new("pager", "pagerduty", &o, &s, &err), 0);
    es_spool *sp;
    es_deliver *d;
    assert_int_equal(es_spool_open(db, &sp, &err), 0);
    assert_int_equal(es_deliver_new(sp, &d), 0);
    assert_int_equal(es_deliver_add_sink(d, s), 0);
    es_alert a = {.kind = ES_ALERT_VIRAL_POST,
                  .severity = ES_SEV_CRITICAL,
                  .topic = "acme",
                  .at_ms = T0,
                  .fingerprint = "acme/viral_post/1",
                  .summary = "acme: a complaint is spreading fast"};
    es_notification n1 = {.key = "k-viral", .alerts = &a, .n_alerts = 1};
    int64_t now = es_deliver_now(d);
    assert_int_equal(es_deliver_enqueue(d, "pager", &n1, now), 0);
    assert_int_equal(es_deliver_enqueue(d, "pager", &n1, now), 1); /* idempotent */
    assert_int_equal(es_deliver_run(d, now + 10000), 0);
    assert_int_equal(fh_count(srv), 1);
    assert_int_equal(count(sp, ES_SPOOL_DEAD), 1);
    assert_int_equal(es_spool_replay(sp, -1, "pager", es_deliver_now(d)), 1);
    assert_int_equal(es_deliver_run(d, es_deliver_now(d) + 10000), 0);
    assert_int_equal(fh_count(srv), 2);
    assert_int_equal(fh_get(srv, 1)->status, 202);
    assert_non_null(strstr(fh_get(srv, 1)->body, "\"dedup_key\":\"earshot/acme/viral_post/1\""));
    assert_int_equal(count(sp, ES_SPOOL_DONE), 1);
    assert_int_equal(count(sp, ES_SPOOL_DEAD), 0);
    es_deliver_free(d);
    es_sink_free(s);
    es_spool_close(sp);
    fh_stop(srv);
}

/* ---- SMTP through libcurl against a minimal local server ---------------- */

typedef struct fake_smtp {
    int fd;
    int port;
    pthread_t thread;
    char *data; /* what arrived after DATA, dot-unstuffed */
    char rcpt[4][128];
    int n_rcpt;
    char from[128];
} fake_smtp;

static bool smtp_line(int c, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char ch;
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1 || read(c, &ch, 1) != 1) {
            return false;
        }
        buf[n++] = ch;
        if (ch == '\n') {
            break;
        }
    }
    buf[n] = '\0';
    return true;
}

static void smtp_say(int c, const char *s)
{
    ssize_t w = write(c, s, strlen(s));
    (void)w;
}

/* One connection, the happy path of RFC 5321, no TLS. */
static void *fake_smtp_run(void *arg)
{
    fake_smtp *f = arg;
    int c = accept(f->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    char line[1024];
    smtp_say(c, "220 fake ESMTP\r\n");
    while (smtp_line(c, line, sizeof line)) {
        if (strncasecmp(line, "EHLO", 4) == 0) {
            smtp_say(c, "250-fake\r\n250 8BITMIME\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            snprintf(f->from, sizeof f->from, "%.*s", (int)strcspn(line + 10, "\r\n"), line + 10);
            smtp_say(c, "250 ok\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0 && f->n_rcpt < 4) {
            snprintf(f->rcpt[f->n_rcpt++], sizeof f->rcpt[0], "%.*s",
                     (int)strcspn(line + 8, "\r\n"), line + 8);
            smtp_say(c, "250 ok\r\n");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            smtp_say(c, "354 go ahead\r\n");
            es_buf b;
            es_buf_init(&b, 1u << 22);
            while (smtp_line(c, line, sizeof line) && strcmp(line, ".\r\n") != 0) {
                es_buf_adds(&b, line[0] == '.' ? line + 1 : line);
            }
            f->data = b.data;
            smtp_say(c, "250 queued\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            smtp_say(c, "221 bye\r\n");
            break;
        } else {
            smtp_say(c, "502 no\r\n");
        }
    }
    close(c);
    return NULL;
}

static void test_smtp_send(void **state)
{
    (void)state;
    fake_smtp f;
    memset(&f, 0, sizeof f);
    f.fd = fh_listen(0);
    assert_true(f.fd >= 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(f.fd, (struct sockaddr *)&a, &alen);
    f.port = ntohs(a.sin_port);
    pthread_create(&f.thread, NULL, fake_smtp_run, &f);

    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", f.port);
    es_sink_kv kv[] = {{"url", url},
                       {"from", "earshot <alerts@acme.example>"},
                       {"to", "oncall@acme.example"},
                       {"to", "duty@acme.example"},
                       {"starttls", "false"},
                       {"timeout", "5s"}};
    es_sink_opts o = {.kv = kv, .n_kv = 6};
    es_sink *s;
    es_error err;
    assert_int_equal(es_sink_new("mail", "smtp", &o, &s, &err), 0);
    es_spool *sp;
    es_deliver *d;
    assert_int_equal(es_spool_open(db, &sp, &err), 0);
    assert_int_equal(es_deliver_new(sp, &d), 0);
    assert_int_equal(es_deliver_add_sink(d, s), 0);
    /* A line that is a lone dot must not end the message early. */
    es_alert_mention m = {{"m1", 2}, {"jdoe", 4}, {".\n.", 3}, {NULL, 0}};
    es_alert al = {.kind = ES_ALERT_COMPLAINT,
                   .severity = ES_SEV_CRITICAL,
                   .topic = "acme",
                   .at_ms = T0,
                   .fingerprint = "acme/complaint/7",
                   .summary = "acme: complaint from a large account",
                   .mentions = &m,
                   .n_mentions = 1};
    es_notification n1 = {.key = "mail-1", .alerts = &al, .n_alerts = 1};
    assert_int_equal(es_deliver_enqueue(d, "mail", &n1, es_deliver_now(d)), 0);
    assert_int_equal(es_deliver_run(d, es_deliver_now(d) + 10000), 0);
    assert_int_equal(count(sp, ES_SPOOL_DONE), 1);
    /* curl keeps the connection for reuse; freeing the deliverer says QUIT. */
    es_deliver_free(d);
    pthread_join(f.thread, NULL);
    close(f.fd);

    assert_string_equal(f.from, "<alerts@acme.example>");
    assert_int_equal(f.n_rcpt, 2);
    assert_string_equal(f.rcpt[0], "<oncall@acme.example>");
    assert_string_equal(f.rcpt[1], "<duty@acme.example>");
    assert_non_null(f.data);
    assert_non_null(strstr(f.data, "Subject: [earshot] acme: complaint from a large account\r\n"));
    assert_non_null(strstr(f.data, "Message-ID: <mail-1."));
    assert_non_null(strstr(f.data, "Content-Type: text/html; charset=UTF-8"));
    free(f.data);
    es_sink_free(s);
    es_spool_close(sp);
}

/* ---- Pure retry arithmetic, in event time ------------------------------- */

static void test_backoff_schedule(void **state)
{
    (void)state;
    /* Deterministic for a seed; within [d/2, d]; doubling; capped. */
    int64_t nominal[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int attempt = 1; attempt <= 7; attempt++) {
        int64_t b = es_backoff_ms(1000, 30000, attempt, 42);
        assert_int_equal(b, es_backoff_ms(1000, 30000, attempt, 42));
        assert_true(b >= nominal[attempt - 1] / 2 && b <= nominal[attempt - 1]);
    }
    /* Different seeds spread out. */
    int distinct = 0;
    for (uint64_t seed = 1; seed < 20; seed++) {
        distinct += es_backoff_ms(1000, 30000, 3, seed) != es_backoff_ms(1000, 30000, 3, 0);
    }
    assert_true(distinct >= 15);
}

static void test_retry_headers(void **state)
{
    (void)state;
    assert_int_equal(es_sink_parse_retry_after("2", 1, T0), T0 + 2000);
    assert_int_equal(es_sink_parse_retry_after(" 120 ", 5, T0), T0 + 120000);
    assert_int_equal(es_sink_parse_retry_after("1.5", 3, T0), T0 + 1500);
    const char *date = "Tue, 24 Feb 2015 13:56:52 GMT";
    assert_int_equal(es_sink_parse_retry_after(date, strlen(date), T0), T0 + 60000);
    assert_int_equal(es_sink_parse_retry_after("soon", 4, T0), -1);
    assert_int_equal(es_sink_parse_retry_after("-3", 2, T0), -1);

    es_sink_result res;
    es_sink_header h429[] = {{{"Retry-After", 11}, {"7", 1}}};
    es_sink_response r = {.status = 429, .headers = h429, .n_headers = 1, .now_ms = T0};
    es_sink_classify_http(&r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_int_equal(res.not_before_ms, T0 + 7000);
    assert_true(res.sink_wide);

    /* Rate-limit reset as epoch seconds or as seconds from now. */
    es_sink_header epoch[] = {{{"x-ratelimit-remaining", 21}, {"0", 1}},
                              {{"X-RateLimit-Reset", 17}, {"1424786170", 10}}};
    r = (es_sink_response){.status = 503, .headers = epoch, .n_headers = 2, .now_ms = T0};
    es_sink_classify_http(&r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
    assert_int_equal(res.not_before_ms, 1424786170000LL);
    es_sink_header delta[] = {{{"X-RateLimit-Reset", 17}, {"30", 2}}};
    r = (es_sink_response){.status = 429, .headers = delta, .n_headers = 1, .now_ms = T0};
    es_sink_classify_http(&r, &res);
    assert_int_equal(res.not_before_ms, T0 + 30000);

    /* 408 and 5xx retry with our own backoff; other 4xx are final. */
    int retry[] = {408, 500, 502, 503, 504};
    for (size_t i = 0; i < 5; i++) {
        r = (es_sink_response){.status = retry[i], .now_ms = T0};
        es_sink_classify_http(&r, &res);
        assert_int_equal(res.verdict, ES_SINK_RETRY);
        assert_int_equal(res.not_before_ms, 0);
    }
    int final[] = {400, 401, 403, 404, 410, 413};
    for (size_t i = 0; i < 6; i++) {
        r = (es_sink_response){.status = final[i], .now_ms = T0};
        es_sink_classify_http(&r, &res);
        assert_int_equal(res.verdict, ES_SINK_PERMANENT);
    }
    r = (es_sink_response){.transport = ES_ETIMEOUT, .now_ms = T0};
    es_sink_classify_http(&r, &res);
    assert_int_equal(res.verdict, ES_SINK_RETRY);
}

static void test_bucket(void **state)
{
    (void)state;
    es_rate rate;
    assert_int_equal(es_rate_parse("120/min", &rate), 0);
    assert_int_equal(rate.per, 120);
    assert_int_equal(rate.period_ms, 60000);
    assert_int_equal(es_rate_parse("5/250ms", &rate), 0);
    assert_int_equal(rate.period_ms, 250);
    assert_int_not_equal(es_rate_parse("5/parsec", &rate), 0);
    assert_int_not_equal(es_rate_parse("/s", &rate), 0);

    /* 1/s with a burst of 3: three at once, then one a second, and idle
     * time refills no more than the burst. */
    assert_int_equal(es_rate_parse("1/s", &rate), 0);
    es_bucket b;
    es_bucket_init(&b, &rate, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(es_bucket_take(&b, T0));
    }
    assert_false(es_bucket_take(&b, T0));
    assert_int_equal(es_bucket_ready_at(&b, T0), T0 + 1000);
    assert_false(es_bucket_take(&b, T0 + 999));
    assert_true(es_bucket_take(&b, T0 + 1000));
    assert_int_equal(es_bucket_ready_at(&b, T0 + 1000), T0 + 2000);
    int taken = 0;
    for (int i = 0; i < 10; i++) {
        taken += es_bucket_take(&b, T0 + 3600000);
    }
    assert_int_equal(taken, 3);
    /* Over any window, sends never exceed burst + rate * window. */
    es_bucket_init(&b, &rate, 1);
    int sent = 0;
    for (int64_t t = T0; t < T0 + 10000; t += 7) {
        sent += es_bucket_take(&b, t);
    }
    assert_int_equal(sent, 10);
}

/* The step loop in event time: a file sink limited to 1/s sends one
 * notification per second of (fake) clock, and no more. */
static int64_t fake_now;
static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static void test_step_event_time(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/alerts.ndjson", dir);
    es_sink_kv kv[] = {{"path", path}, {"rate", "1/s"}};
    es_sink_opts o = {.kv = kv, .n_kv = 2};
    es_sink *s;
    es_error err;
    assert_int_equal(es_sink_new("hook", "file", &o, &s, &err), 0);
    es_spool *sp;
    es_deliver *d;
    assert_int_equal(es_spool_open(db, &sp, &err), 0);
    assert_int_equal(es_deliver_new(sp, &d), 0);
    es_deliver_set_clock(d, fake_clock, NULL);
    assert_int_equal(es_deliver_add_sink(d, s), 0);
    fake_now = T0;
    enqueue_alerts(d, 3, T0);
    int64_t next;
    assert_int_equal(es_deliver_step(d, &next), 1);
    assert_int_equal(next, T0 + 1000);
    fake_now = T0 + 999;
    assert_int_equal(es_deliver_step(d, &next), 0);
    assert_int_equal(next, T0 + 1000);
    fake_now = T0 + 1000;
    assert_int_equal(es_deliver_step(d, &next), 1);
    fake_now = T0 + 5000;
    assert_int_equal(es_deliver_step(d, &next), 1);
    assert_int_equal(next, INT64_MAX);
    assert_int_equal(count(sp, ES_SPOOL_DONE), 3);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int lines = 0, c;
    while ((c = fgetc(fp)) != EOF) {
        lines += c == '\n';
    }
    fclose(fp);
    assert_int_equal(lines, 3);
    unlink(path);
    es_deliver_free(d);
    es_sink_free(s);
    es_spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_retry_headers),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test_setup_teardown(test_step_event_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_failure_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smtp_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovers_from_scripted_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_then_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
