/*
 * Time zones and weekly windows for business hours and quiet hours, without
 * the C library's global time-zone state: tzset() and localtime() read TZ
 * and keep process-wide state, which a library must not touch and which
 * would make routing depend on the machine's setting. Instead a zone is a
 * small value: a fixed offset, or a POSIX TZ rule (standard offset plus an
 * optional daylight-saving rule), which is also what an IANA zone's TZif
 * file carries in its footer for current and future times.
 */
#include "route.h"
#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

/* 0 = Sunday. 1970-01-01 was a Thursday. */
static int weekday_of(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* The civil year of a day number (inverse of es_days_from_civil for the year). */
static int64_t year_of(int64_t days)
{
    int64_t y = 1970 + floor_div(days, 366);
    while (es_days_from_civil(y + 1, 1, 1) <= days) {
        y++;
    }
    while (es_days_from_civil(y, 1, 1) > days) {
        y--;
    }
    return y;
}

/* ---- POSIX TZ rules ---------------------------------------------------------- */

/* "CET", "<+0530>": returns chars consumed, 0 if none. */
static size_t parse_tzname(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e != NULL && e - s >= 4 ? (size_t)(e - s) + 1 : 0;
    }
    size_t n = 0;
    while (isalpha((unsigned char)s[n])) {
        n++;
    }
    return n >= 3 ? n : 0;
}

/* [+-]hh[:mm[:ss]] -> seconds; returns chars consumed, 0 on error. */
static size_t parse_hms(const char *s, int32_t *out, int max_h)
{
    size_t i = 0;
    int sign = 1;
    if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '-' ? -1 : 1;
        i++;
    }
    int part[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (k > 0) {
            if (s[i] != ':') {
                break;
            }
            i++;
        }
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
        int v = 0, nd = 0;
        while (isdigit((unsigned char)s[i]) && nd < 3) {
            v = v * 10 + (s[i++] - '0');
            nd++;
        }
        part[k] = v;
    }
    if (part[0] > max_h || part[1] > 59 || part[2] > 59) {
        return 0;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return i;
}

static size_t parse_rule(const char *s, struct es_tz_rule *r)
{
    size_t i = 0;
    memset(r, 0, sizeof *r);
    r->time_s = 7200; /* 02:00 unless given */
    if (s[i] == 'M') {
        int v[3] = {0, 0, 0};
        i++;
        for (int k = 0; k < 3; k++) {
            if (k > 0) {
                if (s[i] != '.') {
                    return 0;
                }
                i++;
            }
            if (!isdigit((unsigned char)s[i])) {
                return 0;
            }
            while (isdigit((unsigned char)s[i]) && v[k] < 100) {
                v[k] = v[k] * 10 + (s[i++] - '0');
            }
        }
        if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6) {
            return 0;
        }
        r->kind = 0;
        r->month = v[0];
        r->week = v[1];
        r->wday = v[2];
    } else {
        r->kind = 2;
        if (s[i] == 'J') {
            r->kind = 1;
            i++;
        }
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
        while (isdigit((unsigned char)s[i]) && r->day < 1000) {
            r->day = r->day * 10 + (s[i++] - '0');
        }
        if ((r->kind == 1 && (r->day < 1 || r->day > 365)) || r->day > 365) {
            return 0;
        }
    }
    if (s[i] == '/') {
        size_t n = parse_hms(s + i + 1, &r->time_s, 167);
        if (n == 0) {
            return 0;
        }
        i += 1 + n;
    }
    return i;
}

static int parse_posix(const char *spec, es_tz *tz)
{
    const char *s = spec;
    size_t n = parse_tzname(s);
    if (n == 0) {
        return ES_EPARSE;
    }
    s += n;
    int32_t off;
    n = parse_hms(s, &off, 24);
    if (n == 0) {
        return ES_EPARSE;
    }
    s += n;
    tz->std_off_s = -off; /* POSIX offsets count west */
    tz->has_dst = false;
    if (*s == '\0') {
        return 0;
    }
    n = parse_tzname(s);
    if (n == 0) {
        return ES_EPARSE;
    }
    s += n;
    tz->dst_off_s = tz->std_off_s + 3600;
    if (*s != ',' && *s != '\0') {
        n = parse_hms(s, &off, 24);
        if (n == 0) {
            return ES_EPARSE;
        }
        s += n;
        tz->dst_off_s = -off;
    }
    if (*s == '\0') {
        /* No rule given: POSIX leaves it to the implementation; the US rule
         * is the traditional default. */
        tz->start = (struct es_tz_rule){0, 3, 2, 0, 0, 7200};
        tz->end = (struct es_tz_rule){0, 11, 1, 0, 0, 7200};
    } else {
        if (*s != ',' || (n = parse_rule(s + 1, &tz->start)) == 0) {
            return ES_EPARSE;
        }
        s += 1 + n;
        if (*s != ',' || (n = parse_rule(s + 1, &tz->end)) == 0) {
            return ES_EPARSE;
        }
        s += 1 + n;
        if (*s != '\0') {
            return ES_EPARSE;
        }
    }
    tz->has_dst = true;
    return 0;
}

/* ---- IANA zones: the footer of the TZif file ------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int read_tzif_footer(const char *name, char *out, size_t outsz, es_error *err)
{
    for (const char *p = name; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '_' || *p == '-' || *p == '+')) {
            return es_error_set(err, ES_EPARSE, 0, 0, "'%s' is not a time zone name", name);
        }
    }
    if (strstr(name, "..") != NULL || name[0] == '/') {
        return es_error_set(err, ES_EPARSE, 0, 0, "'%s' is not a time zone name", name);
    }
    char path[512];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return es_error_set(err, ES_ENOTFOUND, 0, 0,
                            "unknown time zone '%s' (no %s; use a UTC offset such as "
                            "\"+01:00\" or a POSIX TZ rule)",
                            name, path);
    }
    /* A TZif file is a few KiB; 256 KiB is far beyond any real one. */
    enum { CAP = 256 * 1024 };
    unsigned char *buf = malloc(CAP);
    size_t len = buf != NULL ? fread(buf, 1, CAP, f) : 0;
    fclose(f);
    int rc = es_error_set(err, ES_EPARSE, 0, 0, "time zone file %s is not a TZif file", path);
    if (buf == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    if (len < 44 || memcmp(buf, "TZif", 4) != 0 || buf[4] < '2') {
        free(buf);
        return rc;
    }
    /* Skip the version-1 block, then the 64-bit block, to the footer. */
    size_t pos = 0;
    for (int block = 0; block < 2; block++) {
        if (pos + 44 > len) {
            free(buf);
            return rc;
        }
        const unsigned char *h = buf + pos + 20;
        uint64_t isut = be32(h), isstd = be32(h + 4), leap = be32(h + 8);
        uint64_t timecnt = be32(h + 12), typecnt = be32(h + 16), charcnt = be32(h + 20);
        uint64_t tsz = block == 0 ? 4 : 8;
        uint64_t data = timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) +
                        isstd + isut;
        pos += 44 + (size_t)data;
    }
    if (pos >= len || buf[pos] != '\n') {
        free(buf);
        return rc;
    }
    const unsigned char *start = buf + pos + 1;
    const unsigned char *end = memchr(start, '\n', len - pos - 1);
    if (end == NULL || end == start || (size_t)(end - start) >= outsz) {
        free(buf);
        return es_error_set(err, ES_EPARSE, 0, 0, "time zone file %s has no current rule",
                            path);
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    free(buf);
    return 0;
}

/* ---- Public ---------------------------------------------------------------- */

int es_tz_parse(const char *spec, es_tz *tz, es_error *err)
{
    memset(tz, 0, sizeof *tz);
    snprintf(tz->name, sizeof tz->name, "%s", spec);
    if (strcmp(spec, "UTC") == 0 || strcmp(spec, "Z") == 0 || strcmp(spec, "GMT") == 0) {
        return 0;
    }
    /* An ISO 8601 offset, east positive: +01:00, -0530, +02. */
    if ((spec[0] == '+' || spec[0] == '-') && isdigit((unsigned char)spec[1])) {
        int h = 0, m = 0;
        const char *p = spec + 1;
        if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])) {
            h = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
            if (*p == ':') {
                p++;
            }
            if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])) {
                m = (p[0] - '0') * 10 + (p[1] - '0');
                p += 2;
            }
            if (*p == '\0' && h <= 14 && m <= 59) {
                tz->std_off_s = (spec[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
                return 0;
            }
        }
        return es_error_set(err, ES_EPARSE, 0, 0,
                            "bad UTC offset '%s' (want +HH:MM or -HH:MM, at most 14 hours)",
                            spec);
    }
    if (parse_posix(spec, tz) == 0) {
        return 0;
    }
    if (strchr(spec, '/') != NULL || isupper((unsigned char)spec[0])) {
        char rule[128];
        es_error e2 = {0};
        int rc = read_tzif_footer(spec, rule, sizeof rule, &e2);
        if (rc != 0) {
            if (err != NULL) {
                *err = e2;
            }
            return rc;
        }
        es_tz z;
        memset(&z, 0, sizeof z);
        if (parse_posix(rule, &z) != 0) {
            return es_error_set(err, ES_EPARSE, 0, 0,
                                "time zone '%s' has a rule this reader does not understand "
                                "('%s')",
                                spec, rule);
        }
        *tz = z;
        snprintf(tz->name, sizeof tz->name, "%s", spec);
        return 0;
    }
    return es_error_set(err, ES_EPARSE, 0, 0,
                        "bad time zone '%s' (want UTC, an offset such as \"+01:00\", an IANA "
                        "name such as \"Europe/Berlin\", or a POSIX TZ rule)",
                        spec);
}

/* The day (days since the epoch) on which a rule falls in year y. */
static int64_t rule_day(const struct es_tz_rule *r, int64_t y)
{
    int64_t jan1 = es_days_from_civil(y, 1, 1);
    if (r->kind == 1) {
        int d = r->day - 1; /* Jn: 1..365, February 29 never counted */
        if (is_leap(y) && r->day >= 60) {
            d++;
        }
        return jan1 + d;
    }
    if (r->kind == 2) {
        return jan1 + r->day;
    }
    int64_t first = es_days_from_civil(y, (unsigned)r->month, 1);
    int d = 1 + (r->wday - weekday_of(first) + 7) % 7 + (r->week - 1) * 7;
    while (d > month_days(y, r->month)) {
        d -= 7;
    }
    return first + d - 1;
}

int32_t es_tz_offset(const es_tz *tz, int64_t utc_ms)
{
    if (!tz->has_dst) {
        return tz->std_off_s;
    }
    int64_t t = floor_div(utc_ms, 1000);
    int64_t y = year_of(floor_div(t + tz->std_off_s, DAY_S));
    /* Start is given in standard local time, end in daylight local time. */
    int64_t start = rule_day(&tz->start, y) * DAY_S + tz->start.time_s - tz->std_off_s;
    int64_t end = rule_day(&tz->end, y) * DAY_S + tz->end.time_s - tz->dst_off_s;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? tz->dst_off_s : tz->std_off_s;
}

bool es_window_contains(const es_window *w, const es_tz *tz, int64_t utc_ms)
{
    int64_t local = floor_div(utc_ms, 1000) + es_tz_offset(tz, utc_ms);
    int64_t day = floor_div(local, DAY_S);
    int32_t s = (int32_t)(local - day * DAY_S);
    int wd = weekday_of(day), pwd = (wd + 6) % 7;
    for (size_t i = 0; i < w->n; i++) {
        int32_t from = w->ranges[i].from_s, to = w->ranges[i].to_s;
        if ((w->days & (1u << wd)) && s >= from && s < to) {
            return true;
        }
        /* A range past midnight that started yesterday. */
        if (to > DAY_S && (w->days & (1u << pwd)) && s + DAY_S >= from && s + DAY_S < to) {
            return true;
        }
    }
    return false;
}

/* Local wall-clock seconds -> UTC seconds, through the offset in force. */
static int64_t local_to_utc(const es_tz *tz, int64_t local)
{
    int32_t o1 = es_tz_offset(tz, (local - tz->std_off_s) * 1000);
    int64_t u = local - o1;
    int32_t o2 = es_tz_offset(tz, u * 1000);
    return o2 == o1 ? u : local - o2;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t es_window_next_change(const es_window *w, const es_tz *tz, int64_t utc_ms)
{
    bool now_in = es_window_contains(w, tz, utc_ms);
    int64_t local = floor_div(utc_ms, 1000) + es_tz_offset(tz, utc_ms);
    int64_t day = floor_div(local, DAY_S);
    /* Every boundary in the next nine local days, as UTC seconds. A weekly
     * window changes within eight days or never. */
    int64_t cand[2 * ES_WINDOW_MAX_RANGES * 10];
    size_t nc = 0;
    for (int64_t d = day - 1; d <= day + 8; d++) {
        for (size_t i = 0; i < w->n; i++) {
            cand[nc++] = local_to_utc(tz, d * DAY_S + w->ranges[i].from_s);
            cand[nc++] = local_to_utc(tz, d * DAY_S + w->ranges[i].to_s);
        }
    }
    qsort(cand, nc, sizeof cand[0], cmp_i64);
    for (size_t i = 0; i < nc; i++) {
        int64_t ms = cand[i] * 1000;
        if (ms > utc_ms && es_window_contains(w, tz, ms) != now_in) {
            return ms;
        }
    }
    return INT64_MAX;
}
