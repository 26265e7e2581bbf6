/*
 * earshot spikes [--bucket DURATION] [--resolved] [--set KEY=VALUE] FILE.csv...
 *
 * Runs the volume_spike detector, with the same code and (unless --set says
 * otherwise) the same default settings as the pipeline, over count series:
 * `timestamp,value` CSV with a header, one row per bucket. Prints one alert
 * per episode as NDJSON on stdout, with "series" = the file's base name and
 * "at" = the timestamp of the row in which the episode was detected, exactly
 * as written in the input.
 *
 * Bad rows are reported as "FILE:LINE: what" on stderr, skipped and counted;
 * the exit status is then 1, after every file has been processed.
 */
#include "alert.h"
#include "buf.h"
#include "cli.h"
#include "detect.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest row accepted; a CSV row of a count series is tens of bytes. */
#define LINE_MAX_BYTES 4096
/* Rows read ahead to infer the bucket length when --bucket is not given. */
#define LOOKAHEAD 32

static void help(FILE *out)
{
    fprintf(out,
            "usage: earshot spikes [--bucket DURATION] [--resolved] [--set KEY=VALUE]... "
            "FILE.csv...\n\n"
            "Run the volume spike detector, with its default settings, over count series:\n"
            "CSV files with a header and `timestamp,value` rows, one row per bucket.\n"
            "Prints one alert (JSON, one per line) per detected episode.\n\n"
            "  --bucket DURATION  bucket length (e.g. 5m, 1h); default: the spacing of the rows\n"
            "  --resolved         also print the resolved alert that ends each episode\n"
            "  --set KEY=VALUE    change a detector option, e.g. --set volume_spike.threshold=6\n"
            "                     (see the detect: keys in the README; 'volume_spike.' may be\n"
            "                     left out)\n"
            "  --list-options     print every detector option with its default and exit\n");
}

typedef struct row {
    int64_t t;
    double v;
    long line;
    char ts[64]; /* the timestamp as written (cut at 63 bytes) */
} row;

typedef struct series_ctx {
    const char *path;
    const char *name;
    const es_detect_params *params;
    int64_t bucket_ms;
    bool resolved;
    es_spike det;
    bool started;
    int64_t last_t;
    long bad;
    long episodes;
    es_buf out;
} series_ctx;

/* Trim spaces and one level of double quotes in place. */
static char *field_trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Trim surrounding whitespace (and the line end) only. */
static char *space_trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

/* Split a CSV line on commas (no quoted commas: these are numeric series). */
static int split(char *line, char **cols, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        cols[n++] = field_trim(p);
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return n;
}

static int parse_value(const char *s, double *v)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d)) {
        return -1;
    }
    *v = d;
    return 0;
}

static void bad_row(series_ctx *c, long line, const char *what, const char *text)
{
    c->bad++;
    if (text != NULL) {
        /* Quote at most 60 bytes, printable ASCII only: the input may be
         * anything, the terminal should not suffer for it. */
        char q[61];
        size_t i = 0;
        for (; text[i] != '\0' && i < sizeof q - 1; i++) {
            unsigned char ch = (unsigned char)text[i];
            q[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
        q[i] = '\0';
        fprintf(stderr, "%s:%ld: %s '%s'\n", c->path, line, what, q);
    } else {
        fprintf(stderr, "%s:%ld: %s\n", c->path, line, what);
    }
}

static void emit(series_ctx *c, const es_spike_event *ev, const row *r)
{
    if (ev->resolved && !c->resolved) {
        return;
    }
    es_detect_alert_text text;
    es_alert a;
    es_spike_to_alert(ev, c->name, NULL, &text, &a);
    a.series = c->name;
    a.at_text = ev->at_ms == r->t ? r->ts : NULL;
    es_buf_reset(&c->out);
    if (es_alert_to_json(&a, &c->out) == 0) {
        fwrite(c->out.data, 1, c->out.len, stdout);
        fputc('\n', stdout);
    }
    if (!ev->resolved) {
        c->episodes++;
    }
}

static void feed_row(series_ctx *c, const row *r)
{
    if (!c->started) {
        es_detect_params p = *c->params;
        p.bucket_ms = c->bucket_ms;
        es_spike_init(&c->det, &p);
        c->started = true;
    } else if (r->t <= c->last_t) {
        bad_row(c, r->line, r->t == c->last_t ? "repeated timestamp" : "timestamp goes back in time",
                r->ts);
        return;
    }
    c->last_t = r->t;
    es_spike_event ev;
    if (es_spike_observe(&c->det, r->t, r->v, &ev)) {
        emit(c, &ev, r);
    }
}

/* The bucket length from the rows read ahead: the smallest positive step. */
static int64_t infer_bucket(const row *rows, int n, int64_t fallback)
{
    int64_t best = 0;
    for (int i = 1; i < n; i++) {
        int64_t d = rows[i].t - rows[i - 1].t;
        if (d > 0 && (best == 0 || d < best)) {
            best = d;
        }
    }
    return best > 0 ? best : fallback;
}

static void flush_ahead(series_ctx *c, const row *ahead, int *n)
{
    c->bucket_ms = infer_bucket(ahead, *n, c->params->bucket_ms);
    for (int i = 0; i < *n; i++) {
        feed_row(c, &ahead[i]);
    }
    *n = 0;
}

/*
 * Read one line into buf (at most LINE_MAX_BYTES). Returns 1 for a line,
 * 0 at end of file, -1 for a line that was too long (the rest of it is
 * consumed and dropped).
 */
static int read_line(FILE *f, char *buf, size_t n)
{
    if (fgets(buf, (int)n, f) == NULL) {
        return 0;
    }
    size_t len = strlen(buf);
    if (len == n - 1 && buf[len - 1] != '\n') {
        int ch;
        while ((ch = fgetc(f)) != EOF && ch != '\n') {
        }
        return -1;
    }
    return 1;
}

static int run_file(const char *path, const es_detect_params *params, int64_t bucket_ms,
                    bool resolved)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    const char *base = strrchr(path, '/');
    series_ctx c = {
        .path = path,
        .name = base != NULL ? base + 1 : path,
        .params = params,
        .resolved = resolved,
    };
    es_buf_init(&c.out, 1 << 16);

    static char line[LINE_MAX_BYTES + 2];
    row ahead[LOOKAHEAD];
    int n_ahead = 0;
    bool header_seen = false;
    int col_t = 0, col_v = 1;
    long lineno = 0;
    int rc;

    while ((rc = read_line(f, line, sizeof line)) != 0) {
        lineno++;
        if (rc < 0) {
            bad_row(&c, lineno, "line longer than 4096 bytes", NULL);
            continue;
        }
        char *cols[16];
        char *trimmed = space_trim(line);
        if (*trimmed == '\0' || *trimmed == '#') {
            continue;
        }
        int ncol = split(trimmed, cols, 16);
        if (!header_seen) {
            header_seen = true;
            int64_t probe;
            if (es_time_parse(cols[0], strlen(cols[0]), &probe) != 0) {
                /* A header: find the columns by name, else take the first two. */
                for (int i = 0; i < ncol; i++) {
                    if (strcasecmp(cols[i], "timestamp") == 0 || strcasecmp(cols[i], "time") == 0) {
                        col_t = i;
                    } else if (strcasecmp(cols[i], "value") == 0 ||
                               strcasecmp(cols[i], "count") == 0) {
                        col_v = i;
                    }
                }
                continue;
            }
        }
        int need = (col_t > col_v ? col_t : col_v) + 1;
        if (ncol < need) {
            bad_row(&c, lineno, "expected timestamp,value, got", cols[0]);
            continue;
        }
        row r = {.line = lineno};
        if (es_time_parse(cols[col_t], strlen(cols[col_t]), &r.t) != 0) {
            bad_row(&c, lineno, "bad timestamp", cols[col_t]);
            continue;
        }
        if (parse_value(cols[col_v], &r.v) != 0 || r.v < 0) {
            bad_row(&c, lineno, "value is not a count", cols[col_v]);
            continue;
        }
        snprintf(r.ts, sizeof r.ts, "%s", cols[col_t]);
        if (!c.started && bucket_ms == 0) {
            ahead[n_ahead++] = r;
            if (n_ahead == LOOKAHEAD) {
                flush_ahead(&c, ahead, &n_ahead);
            }
            continue;
        }
        if (!c.started) {
            c.bucket_ms = bucket_ms;
        }
        feed_row(&c, &r);
    }
    if (!c.started && n_ahead > 0) {
        flush_ahead(&c, ahead, &n_ahead);
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error: %s\n", path, strerror(errno));
        c.bad++;
    }
    if (f != stdin) {
        fclose(f);
    }
    if (c.bad > 0) {
        fprintf(stderr, "%s: %ld bad row%s skipped\n", path, c.bad, c.bad == 1 ? "" : "s");
    }
    es_buf_free(&c.out);
    fflush(stdout);
    return c.bad > 0 ? -1 : 0;
}

static void list_option(const es_detect_option *o, void *ud)
{
    (void)ud;
    printf("%-38s %-9s %-8s %s\n", o->name, o->type_name, o->def, o->help);
}

int es_cmd_spikes(int argc, char **argv)
{
    es_detect_params params;
    es_detect_params_defaults(&params);
    int64_t bucket_ms = 0;
    bool resolved = false;
    int first_file = argc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return ES_EXIT_OK;
        } else if (strcmp(a, "--list-options") == 0) {
            es_detect_params_foreach_option(list_option, NULL);
            return ES_EXIT_OK;
        } else if (strcmp(a, "--resolved") == 0) {
            resolved = true;
        } else if (strcmp(a, "--bucket") == 0 || strncmp(a, "--bucket=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL || es_duration_parse(v, &bucket_ms) != 0 || bucket_ms < 1000) {
                es_cli_usage_error(argv[0], "--bucket needs a duration of at least 1s, e.g. 5m");
                return ES_EXIT_USAGE;
            }
        } else if (strcmp(a, "--set") == 0 || strncmp(a, "--set=", 6) == 0) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = v != NULL ? strchr(v, '=') : NULL;
            if (eq == NULL) {
                es_cli_usage_error(argv[0], "--set needs KEY=VALUE");
                return ES_EXIT_USAGE;
            }
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(eq - v), v);
            es_error err = {0};
            if (es_detect_params_set(&params, key, eq + 1, &err) != 0) {
                /* Bare spike keys ("threshold") are a convenience here. */
                char full[160];
                snprintf(full, sizeof full, "volume_spike.%s", key);
                es_error err2 = {0};
                if (err.code != ES_ENOTFOUND ||
                    es_detect_params_set(&params, full, eq + 1, &err2) != 0) {
                    es_cli_usage_error(argv[0], "%s",
                                       err.code == ES_ENOTFOUND && err2.code != ES_ENOTFOUND &&
                                               err2.code != 0
                                           ? err2.msg
                                           : err.msg);
                    return ES_EXIT_USAGE;
                }
            }
        } else if (strcmp(a, "--") == 0) {
            first_file = i + 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            es_cli_usage_error(argv[0], "unknown option '%s' (see earshot spikes --help)", a);
            return ES_EXIT_USAGE;
        } else {
            first_file = i;
            break;
        }
    }
    if (first_file >= argc) {
        es_cli_usage_error(argv[0], "no input files (see earshot spikes --help)");
        return ES_EXIT_USAGE;
    }
    int status = ES_EXIT_OK;
    for (int i = first_file; i < argc; i++) {
        if (run_file(argv[i], &params, bucket_ms, resolved) != 0) {
            status = ES_EXIT_INPUT;
        }
    }
    return status;
}
