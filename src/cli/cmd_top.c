/*
 * earshot top: a live terminal view of a running engine, read from its
 * admin endpoint (/metrics and /api/v1/alerts). A separate client process,
 * so libcurl's easy interface is enough; ANSI escapes redraw in place and
 * no curses library is needed.
 *
 * Rates come from the difference between two scrapes, so the first frame
 * (and the only one with --once) shows totals and "-" for the rates.
 *
 * Reads these series (src/admin.c makes them; keep the two in step):
 * earshot_topic_mentions_total, earshot_topic_sentiment_total,
 * earshot_topic_compound_accumulated, earshot_topic_complaints_total,
 * earshot_feed_mentions_total, earshot_feed_connected,
 * earshot_feed_cursor_lag_seconds, earshot_sink_queue_depth,
 * earshot_sink_failing, earshot_spool_pending, earshot_spool_dead_letters,
 * earshot_event_loop_lag_seconds, earshot_mentions_in_total.
 */
#include "buf.h"
#include "cli.h"
#include "earshot.h"
#include "timefmt.h"

#include <curl/curl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define MAX_ROWS 256
#define MAX_RESPONSE (16u << 20)

typedef struct row {
    char name[96];
    double mentions, pos, neg, neu, compound, complaints;
    double connected, lag, queue, failing;
    bool has_lag;
} row;

typedef struct frame {
    row topics[MAX_ROWS];
    size_t n_topics;
    row feeds[MAX_ROWS];
    size_t n_feeds;
    row sinks[MAX_ROWS];
    size_t n_sinks;
    double mentions_in, spool, dead, loop_lag;
    double at_s;
} frame;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: earshot top [--url URL] [--token-env VAR] [--interval DURATION] [--once]\n\n"
            "A live view of a running `earshot run` through its admin endpoint (config\n"
            "`admin: {enabled: true}`): mentions per second and sentiment per topic, open\n"
            "alerts with their escalation tier, the feeds and the sinks.\n\n"
            "  --url URL          the admin endpoint (default http://127.0.0.1:9464)\n"
            "  --token-env VAR    send the bearer token held in environment variable VAR\n"
            "  --interval D       time between frames (default 1s)\n"
            "  --once             print one frame without escape codes and exit\n\n"
            "Exit status: 0, or 1 when the endpoint cannot be read.\n");
}

/* ---- Fetching --------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    es_buf *b = ud;
    return es_buf_add(b, p, size * n) == 0 ? size * n : 0; /* 0 aborts: over the cap */
}

static int fetch(CURL *h, const char *base, const char *path, const char *auth, es_buf *out,
                 char *err, size_t errcap)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base, path);
    es_buf_reset(out);
    struct curl_slist *hdrs = NULL;
    if (auth != NULL) {
        hdrs = curl_slist_append(NULL, auth);
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        snprintf(err, errcap, "%s: %s", url, curl_easy_strerror(rc));
        return -1;
    }
    if (status != 200) {
        snprintf(err, errcap, "%s: HTTP %ld%s", url, status,
                 status == 401 ? " (a token is required: --token-env VAR)" : "");
        return -1;
    }
    return 0;
}

/* ---- Reading the text format ------------------------------------------------------- */

/* The value of label `name` in a "{a="x",b="y"}" block, unescaped. */
static bool label(const char *lb, const char *end, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = lb;
    while (p < end) {
        if ((p == lb || p[-1] == '{' || p[-1] == ',') && strncmp(p, name, nl) == 0 &&
            p[nl] == '=' && p[nl + 1] == '"') {
            p += nl + 2;
            size_t o = 0;
            while (p < end && *p != '"') {
                char c = *p++;
                if (c == '\\' && p < end) {
                    c = *p == 'n' ? '\n' : *p;
                    p++;
                }
                if (o + 1 < cap) {
                    out[o++] = c;
                }
            }
            out[o] = '\0';
            return true;
        }
        /* Skip to the next label: past the closing quote of this value. */
        const char *q = strchr(p, '"');
        if (q == NULL || q >= end) {
            break;
        }
        q++;
        while (q < end && *q != '"') {
            q += *q == '\\' ? 2 : 1;
        }
        p = q + 1;
        if (p < end && *p == ',') {
            p++;
        }
    }
    return false;
}

static row *find_row(row *rows, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            return &rows[i];
        }
    }
    if (*n == MAX_ROWS) {
        return NULL;
    }
    row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

static void parse_metrics(const char *text, frame *f)
{
    for (const char *line = text; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (eol == NULL) {
            eol = line + strlen(line);
        }
        if (*line != '#' && eol > line) {
            const char *name_end = line;
            while (name_end < eol && *name_end != '{' && *name_end != ' ') {
                name_end++;
            }
            const char *lb = name_end, *lb_end = name_end;
            if (*name_end == '{') {
                /* The closing brace that is not inside a quoted value. */
                bool q = false;
                for (lb_end = name_end + 1; lb_end < eol; lb_end++) {
                    if (*lb_end == '\\') {
                        lb_end++;
                    } else if (*lb_end == '"') {
                        q = !q;
                    } else if (*lb_end == '}' && !q) {
                        break;
                    }
                }
                lb++;
            }
            const char *vp = lb_end < eol && *lb_end == '}' ? lb_end + 1 : lb_end;
            double v = strtod(vp, NULL);
            char name[96], l1[96], l2[32];
            snprintf(name, sizeof name, "%.*s", (int)(name_end - line), line);
            row *r = NULL;
            if (strncmp(name, "earshot_topic_", 14) == 0 && label(lb, lb_end, "topic", l1, sizeof l1)) {
                r = find_row(f->topics, &f->n_topics, l1);
            } else if (strncmp(name, "earshot_feed_", 13) == 0 &&
                       label(lb, lb_end, "feed", l1, sizeof l1)) {
                r = find_row(f->feeds, &f->n_feeds, l1);
            } else if (strncmp(name, "earshot_sink_", 13) == 0 &&
                       label(lb, lb_end, "sink", l1, sizeof l1)) {
                r = find_row(f->sinks, &f->n_sinks, l1);
            }
            if (strcmp(name, "earshot_topic_mentions_total") == 0 && r != NULL) {
                r->mentions = v;
            } else if (strcmp(name, "earshot_topic_sentiment_total") == 0 && r != NULL &&
                       label(lb, lb_end, "sentiment", l2, sizeof l2)) {
                *(strcmp(l2, "positive") == 0   ? &r->pos
                  : strcmp(l2, "negative") == 0 ? &r->neg
                                                : &r->neu) = v;
            } else if (strcmp(name, "earshot_topic_compound_accumulated") == 0 && r != NULL) {
                r->compound = v;
            } else if (strcmp(name, "earshot_topic_complaints_total") == 0 && r != NULL) {
                r->complaints = v;
            } else if (strcmp(name, "earshot_feed_mentions_total") == 0 && r != NULL) {
                r->mentions = v;
            } else if (strcmp(name, "earshot_feed_connected") == 0 && r != NULL) {
                r->connected = v;
            } else if (strcmp(name, "earshot_feed_cursor_lag_seconds") == 0 && r != NULL) {
                r->lag = v;
                r->has_lag = true;
            } else if (strcmp(name, "earshot_sink_queue_depth") == 0 && r != NULL) {
                r->queue = v;
            } else if (strcmp(name, "earshot_sink_failing") == 0 && r != NULL) {
                r->failing = v;
            } else if (strcmp(name, "earshot_sink_deliveries_total") == 0 && r != NULL) {
                r->mentions = v; /* deliveries, in the same column */
            } else if (strcmp(name, "earshot_mentions_in_total") == 0) {
                f->mentions_in = v;
            } else if (strcmp(name, "earshot_spool_pending") == 0) {
                f->spool = v;
            } else if (strcmp(name, "earshot_spool_dead_letters") == 0) {
                f->dead = v;
            } else if (strcmp(name, "earshot_event_loop_lag_seconds") == 0) {
                f->loop_lag = v;
            }
        }
        line = *eol == '\n' ? eol + 1 : eol;
    }
}

/* ---- Drawing ------------------------------------------------------------------------ */

static const row *prev_row(const row *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

static const char *jstr(yajl_val o, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(o, path, yajl_t_string);
    return v != NULL ? YAJL_GET_STRING(v) : "";
}

static long long jint(yajl_val o, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(o, path, yajl_t_number);
    return v != NULL && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static void draw(FILE *out, const char *url, const frame *f, const frame *prev,
                 const char *alerts_json, bool ansi)
{
    double dt = prev != NULL ? f->at_s - prev->at_s : 0;
    char now[32];
    es_time_format((int64_t)(f->at_s * 1000), now);
    if (ansi) {
        fputs("\x1b[H\x1b[2J", out);
    }
    fprintf(out, "earshot top  %s  %s  mentions %.0f", url, now, f->mentions_in);
    if (dt > 0) {
        fprintf(out, " (%.1f/s)", (f->mentions_in - prev->mentions_in) / dt);
    }
    fprintf(out, "  spool %.0f  dead %.0f  loop lag %.1f ms\n\n", f->spool, f->dead,
            f->loop_lag * 1000);
    fprintf(out, "%-24s %10s %9s %8s %6s %6s %6s %10s\n", "TOPIC", "MENTIONS", "PER SEC",
            "MEAN", "POS%", "NEG%", "NEU%", "COMPLAINTS");
    for (size_t i = 0; i < f->n_topics; i++) {
        const row *r = &f->topics[i];
        const row *p = prev != NULL ? prev_row(prev->topics, prev->n_topics, r->name) : NULL;
        char rate[16] = "-", mean[16] = "-";
        if (p != NULL && dt > 0) {
            snprintf(rate, sizeof rate, "%.2f", (r->mentions - p->mentions) / dt);
        }
        /* The mean over the last interval when there is one, else overall. */
        double dm = p != NULL ? r->mentions - p->mentions : r->mentions;
        double dc = p != NULL ? r->compound - p->compound : r->compound;
        if (dm > 0) {
            snprintf(mean, sizeof mean, "%+.3f", dc / dm);
        }
        double tot = r->pos + r->neg + r->neu;
        fprintf(out, "%-24.24s %10.0f %9s %8s %6.1f %6.1f %6.1f %10.0f\n", r->name, r->mentions,
                rate, mean, tot > 0 ? 100 * r->pos / tot : 0, tot > 0 ? 100 * r->neg / tot : 0,
                tot > 0 ? 100 * r->neu / tot : 0, r->complaints);
    }
    if (f->n_topics == 0) {
        fprintf(out, "(no mentions matched a topic yet)\n");
    }
    fprintf(out, "\n%-24s %-8s %10s %12s\n", "FEED", "STATE", "MENTIONS", "LAG");
    for (size_t i = 0; i < f->n_feeds; i++) {
        const row *r = &f->feeds[i];
        char lag[24] = "-";
        if (r->has_lag) {
            snprintf(lag, sizeof lag, "%.0f s", r->lag);
        }
        fprintf(out, "%-24.24s %-8s %10.0f %12s\n", r->name, r->connected > 0 ? "up" : "down",
                r->mentions, lag);
    }
    fprintf(out, "\n%-24s %-8s %10s %8s\n", "SINK", "STATE", "DELIVERED", "QUEUE");
    for (size_t i = 0; i < f->n_sinks; i++) {
        const row *r = &f->sinks[i];
        fprintf(out, "%-24.24s %-8s %10.0f %8.0f\n", r->name, r->failing > 0 ? "failing" : "ok",
                r->mentions, r->queue);
    }
    fprintf(out, "\nOPEN ALERTS\n");
    yajl_val doc = alerts_json != NULL ? yajl_tree_parse(alerts_json, NULL, 0) : NULL;
    const char *ipath[] = {"incidents", NULL}, *apath[] = {"alerts", NULL};
    yajl_val inc = doc != NULL ? yajl_tree_get(doc, ipath, yajl_t_array) : NULL;
    yajl_val al = doc != NULL ? yajl_tree_get(doc, apath, yajl_t_array) : NULL;
    size_t shown = 0;
    for (size_t i = 0; inc != NULL && i < YAJL_GET_ARRAY(inc)->len && shown < 20; i++, shown++) {
        yajl_val o = YAJL_GET_ARRAY(inc)->values[i];
        fprintf(out, "  incident %-4lld tier %lld  %-12s %-16s %s\n", jint(o, "id"),
                jint(o, "tier"), jstr(o, "state"), jstr(o, "policy"), jstr(o, "group"));
    }
    for (size_t i = 0; al != NULL && i < YAJL_GET_ARRAY(al)->len && shown < 40; i++, shown++) {
        yajl_val o = YAJL_GET_ARRAY(al)->values[i];
        long long tier = jint(o, "tier");
        char t[24] = "-";
        if (tier > 0) {
            snprintf(t, sizeof t, "%lld", tier);
        }
        fprintf(out, "  %-14s %-8s tier %-2s %-12.12s %.70s\n", jstr(o, "kind"),
                jstr(o, "severity"), t, jstr(o, "topic"), jstr(o, "summary"));
    }
    if (shown == 0) {
        fprintf(out, "  none\n");
    }
    yajl_tree_free(doc);
    fflush(out);
}

/* ---- Command -------------------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int es_cmd_top(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token-env", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {"once", no_argument, NULL, '1'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = "http://127.0.0.1:9464";
    const char *token_env = NULL;
    int64_t interval = 1000;
    bool once = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 't':
            token_env = optarg;
            break;
        case 'i':
            if (es_duration_parse(optarg, &interval) != 0 || interval < 100) {
                es_cli_usage_error("top", "--interval '%s' is not a duration of at least 100ms",
                                   optarg);
                return ES_EXIT_USAGE;
            }
            break;
        case '1':
            once = true;
            break;
        case 'h':
            usage(stdout);
            return ES_EXIT_OK;
        default:
            usage(stderr);
            return ES_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        es_cli_usage_error("top", "unexpected argument '%s'", argv[optind]);
        return ES_EXIT_USAGE;
    }
    char base[1024];
    snprintf(base, sizeof base, "%s", url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
    char *auth = NULL;
    if (token_env != NULL) {
        const char *tok = getenv(token_env);
        if (tok == NULL || tok[0] == '\0') {
            es_cli_usage_error("top", "environment variable %s is not set", token_env);
            return ES_EXIT_USAGE;
        }
        size_t n = strlen(tok) + 32;
        auth = malloc(n);
        if (auth == NULL) {
            return ES_EXIT_INPUT;
        }
        snprintf(auth, n, "Authorization: Bearer %s", tok);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    frame *cur = calloc(1, sizeof *cur), *prev = calloc(1, sizeof *prev);
    es_buf metrics, alerts;
    es_buf_init(&metrics, MAX_RESPONSE);
    es_buf_init(&alerts, MAX_RESPONSE);
    int exit_code = ES_EXIT_OK;
    bool have_prev = false;
    bool ansi = !once && isatty(STDOUT_FILENO);
    if (h == NULL || cur == NULL || prev == NULL) {
        exit_code = ES_EXIT_INPUT;
        goto done;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (ansi) {
        fputs("\x1b[?25l", stdout); /* hide the cursor while redrawing */
    }
    while (!stop) {
        char err[2600];
        memset(cur, 0, sizeof *cur);
        cur->at_s = now_s();
        if (fetch(h, base, "/metrics", auth, &metrics, err, sizeof err) != 0 ||
            fetch(h, base, "/api/v1/alerts", auth, &alerts, err, sizeof err) != 0) {
            if (once) {
                fprintf(stderr, "earshot top: %s\n", err);
                exit_code = ES_EXIT_INPUT;
                break;
            }
            if (ansi) {
                fputs("\x1b[H\x1b[2J", stdout);
            }
            printf("earshot top: %s (retrying)\n", err);
            fflush(stdout);
            have_prev = false;
        } else {
            parse_metrics(metrics.data != NULL ? metrics.data : "", cur);
            draw(stdout, base, cur, have_prev ? prev : NULL, alerts.data, ansi);
            frame *t = prev;
            prev = cur;
            cur = t;
            have_prev = true;
        }
        if (once) {
            break;
        }
        struct timespec ts = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && !stop) {
        }
    }
    if (ansi) {
        fputs("\x1b[?25h\n", stdout);
    }
done:
    es_buf_free(&metrics);
    es_buf_free(&alerts);
    free(cur);
    free(prev);
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
    curl_global_cleanup();
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    return exit_code;
}
