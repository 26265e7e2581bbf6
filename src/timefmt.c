/* Timestamp parsing and printing without the C library's locale or TZ. */
#include "timefmt.h"
#include "earshot.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t es_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil algorithm (public domain description). */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, size_t *i, int count, int *out)
{
    int v = 0;
    for (int k = 0; k < count; k++) {
        if (*i >= n || !isdigit((unsigned char)s[*i])) {
            return -1;
        }
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    *out = v;
    return 0;
}

static int parse_epoch(const char *s, size_t n, int64_t *ms)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i >= n || !isdigit((unsigned char)s[i])) {
        return ES_EPARSE;
    }
    int64_t sec = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        if (sec > 99999999999LL) {
            return ES_EPARSE;
        }
        sec = sec * 10 + (s[i++] - '0');
    }
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        int64_t scale = 100;
        while (i < n && isdigit((unsigned char)s[i])) {
            frac += (s[i++] - '0') * scale;
            scale /= 10;
        }
    }
    if (i != n) {
        return ES_EPARSE;
    }
    *ms = (neg ? -1 : 1) * (sec * 1000 + frac);
    return 0;
}

int es_time_parse(const char *s, size_t n, int64_t *ms)
{
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n == 0) {
        return ES_EPARSE;
    }
    /* Epoch seconds: digits only (with an optional fraction). */
    if (n < 4 || s[4] != '-') {
        return parse_epoch(s, n, ms);
    }
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || digits(s, n, &i, 2, &mo) ||
        i >= n || s[i++] != '-' || digits(s, n, &i, 2, &d)) {
        return ES_EPARSE;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31) {
        return ES_EPARSE;
    }
    int64_t frac_ms = 0;
    int64_t offset_min = 0;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if (digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &mi)) {
            return ES_EPARSE;
        }
        if (i < n && s[i] == ':') {
            i++;
            if (digits(s, n, &i, 2, &se)) {
                return ES_EPARSE;
            }
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                int64_t scale = 100;
                if (i >= n || !isdigit((unsigned char)s[i])) {
                    return ES_EPARSE;
                }
                while (i < n && isdigit((unsigned char)s[i])) {
                    frac_ms += (s[i++] - '0') * scale;
                    scale /= 10;
                }
            }
        }
        if (h > 23 || mi > 59 || se > 60) {
            return ES_EPARSE;
        }
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            int oh, om = 0;
            if (digits(s, n, &i, 2, &oh)) {
                return ES_EPARSE;
            }
            if (i < n && s[i] == ':') {
                i++;
            }
            if (i < n && digits(s, n, &i, 2, &om)) {
                return ES_EPARSE;
            }
            if (oh > 23 || om > 59) {
                return ES_EPARSE;
            }
            offset_min = sign * (oh * 60 + om);
        } else if (i < n && s[i] == ' ') {
            /* "2015-02-24 11:35:52 +0000" (Twitter v1 style): allow a space. */
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) {
                int sign = s[i++] == '-' ? -1 : 1;
                int oh, om;
                if (digits(s, n, &i, 2, &oh) || digits(s, n, &i, 2, &om)) {
                    return ES_EPARSE;
                }
                offset_min = sign * (oh * 60 + om);
            } else if (i < n && (s[i] == 'U') && n - i >= 3 && memcmp(s + i, "UTC", 3) == 0) {
                i += 3;
            } else {
                return ES_EPARSE;
            }
        }
    }
    if (i != n) {
        return ES_EPARSE;
    }
    int64_t days = es_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

void es_time_format(int64_t ms, char out[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int es_duration_parse(const char *s, int64_t *ms)
{
    int64_t total = 0;
    const char *p = s;
    if (*p == '\0') {
        return ES_EPARSE;
    }
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p)) {
            return ES_EPARSE;
        }
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > 1000000000LL) {
                return ES_EPARSE;
            }
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else if (*p == 'w') {
            unit = 7 * 86400000LL;
            p++;
        } else if (*p == '\0' && p != s) {
            unit = 1000; /* a bare number is seconds */
        } else {
            return ES_EPARSE;
        }
        total += v * unit;
    }
    *ms = total;
    return 0;
}
