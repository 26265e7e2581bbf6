/* Timestamps: parsing the forms mentions and CSV series use, and printing. */
#ifndef ES_TIMEFMT_H
#define ES_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse RFC 3339 / ISO 8601 ("2015-02-24T11:35:52-08:00", "...Z",
 * fractional seconds), the space-separated form "2015-02-26 21:42:53"
 * (taken as UTC when it has no offset), a bare date, or integer/fractional
 * epoch seconds. Returns 0 and sets *ms (milliseconds since the epoch), or
 * ES_EPARSE.
 */
int es_time_parse(const char *s, size_t n, int64_t *ms);

/* Format as "2015-02-22T14:05:00Z" (seconds precision, UTC) into out[32]. */
void es_time_format(int64_t ms, char out[32]);

/* Days since 1970-01-01 for a proleptic Gregorian date (no time zone). */
int64_t es_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Parse a duration such as "5m", "300s", "1h30m", "2d", "250ms" into ms. */
int es_duration_parse(const char *s, int64_t *ms);

#endif
