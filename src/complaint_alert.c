/*
 * The per-mention complaint alert: does this mention need a person, and
 * how urgently?
 *
 * A mention whose complaint score reaches complaint_threshold gets an
 * alert. Its severity grows with two things a support team weighs: how
 * sure we are it is a complaint, and how many people will see it.
 *
 *   info      the score just reached the threshold and the author is small
 *   warning   a clear complaint (score >= 0.85), or the author has at least
 *             complaint_warning_followers followers
 *   critical  the author has at least complaint_critical_followers followers
 *             (the viral_post detector raises its own alert for the reach)
 */
#include "detect.h"

#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A complaint score this high is unambiguous whoever wrote it. */
#define CLEAR_COMPLAINT 0.85

int es_complaint_decide(const es_detect_params *p, double complaint, int64_t followers,
                        es_severity *sev)
{
    if (!(complaint >= p->complaint_threshold)) {
        return 0;
    }
    double reach = followers >= 0 ? (double)followers : 0;
    es_severity s = ES_SEV_INFO;
    if (complaint >= CLEAR_COMPLAINT || reach >= p->complaint_warning_followers) {
        s = ES_SEV_WARNING;
    }
    if (reach >= p->complaint_critical_followers && followers >= 0) {
        s = ES_SEV_CRITICAL;
    }
    if (sev != NULL) {
        *sev = s;
    }
    return 1;
}

/*
 * A bounded string builder over a fixed array: it truncates where
 * snprintf would, so the texts read exactly as the printf version did.
 * Backfill makes an alert for about 40% of mentions, and the four
 * snprintf calls plus a malloc'd buffer per alert were a visible share of
 * its time.
 */
struct sb {
    char *p;
    size_t cap, len; /* cap includes the NUL */
};

static void sb_add(struct sb *s, const char *x, size_t n)
{
    size_t room = s->cap - 1 - s->len;
    if (n > room) {
        n = room;
    }
    memcpy(s->p + s->len, x, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_adds(struct sb *s, const char *x)
{
    sb_add(s, x, strlen(x));
}

static void sb_u64(struct sb *s, uint64_t v)
{
    char tmp[24];
    int k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    sb_add(s, tmp + k, sizeof tmp - (size_t)k);
}

void es_complaint_to_alert(const es_mention *m, const char *topic, double complaint,
                           es_severity sev, es_detect_alert_text *t, es_alert_mention *quote,
                           es_alert *a)
{
    const char *nm = topic != NULL ? topic : "topic";
    size_t idlen = m->id.ptr != NULL ? (m->id.len > 200 ? 200 : m->id.len) : 0;
    struct sb fp = {t->fingerprint, sizeof t->fingerprint, 0};
    t->fingerprint[0] = '\0';
    sb_adds(&fp, nm);
    sb_add(&fp, "/complaint/", 11);
    sb_add(&fp, m->id.ptr, idlen);

    struct sb su = {t->summary, sizeof t->summary, 0};
    t->summary[0] = '\0';
    sb_adds(&su, nm);
    sb_adds(&su, ": complaint from ");
    /* "who" is built in its own 160-byte buffer, as before, so a long
     * topic name truncates the summary the same way. */
    char who[160];
    struct sb wb = {who, sizeof who, 0};
    who[0] = '\0';
    if (m->author.ptr != NULL && m->author.len > 0) {
        sb_add(&wb, m->author.ptr, m->author.len > 80 ? 80 : m->author.len);
        if (m->followers >= 0) {
            sb_add(&wb, " (", 2);
            if (m->followers <= ((int64_t)1 << 53)) {
                sb_u64(&wb, (uint64_t)m->followers); /* what "%.0f" prints */
            } else {
                char f[32];
                es__detect_human_count((double)m->followers, f, sizeof f);
                sb_adds(&wb, f);
            }
            sb_adds(&wb, m->followers == 1 ? " follower)" : " followers)");
        }
    } else {
        sb_adds(&wb, "someone");
    }
    sb_add(&su, who, wb.len);
    /* Quote the start of the text, cut at a UTF-8 boundary. */
    size_t n = m->text.ptr != NULL ? m->text.len : 0;
    if (n > 100) {
        n = 100;
        while (n > 0 && ((unsigned char)m->text.ptr[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    sb_add(&su, ": \"", 3);
    if (n > 0) {
        size_t from = su.len;
        sb_add(&su, m->text.ptr, n);
        /* A summary is one line: line breaks and tabs in the quote as spaces. */
        for (size_t i = from; i < su.len; i++) {
            char c = su.p[i];
            if (c == '\n' || c == '\r' || c == '\t') {
                su.p[i] = ' ';
            }
        }
    }
    if (n < (m->text.ptr != NULL ? m->text.len : 0)) {
        sb_add(&su, "...", 3);
    }
    sb_add(&su, "\"", 1);

    /* The details object is short (a score and two counts) and always fits.
     * The es_buf borrows t->details: with max = cap - 1 it fails with
     * ES_ETOOBIG before it would ever need to realloc. */
    es_buf b = {t->details, 0, sizeof t->details, sizeof t->details - 1};
    int rc = es_buf_adds(&b, "{\"complaint\":");
    rc = rc ? rc : es_buf_json_fixed(&b, complaint, 4);
    if (m->followers >= 0) {
        rc = rc ? rc : es_buf_adds(&b, ",\"followers\":");
        struct sb d = {t->details, sizeof t->details, b.len};
        if (rc == 0) {
            sb_u64(&d, (uint64_t)m->followers);
            b.len = d.len;
        }
    }
    if (m->reposts >= 0) {
        rc = rc ? rc : es_buf_adds(&b, ",\"reposts\":");
        struct sb d = {t->details, sizeof t->details, b.len};
        if (rc == 0) {
            sb_u64(&d, (uint64_t)m->reposts);
            b.len = d.len;
        }
    }
    rc = rc ? rc : es_buf_addc(&b, '}');
    if (rc != 0) {
        snprintf(t->details, sizeof t->details, "{}");
    }

    memset(quote, 0, sizeof *quote);
    quote->id = m->id;
    quote->author = m->author;
    quote->text = m->text;
    quote->url = m->url;

    es__detect_alert_init(a, ES_ALERT_COMPLAINT, sev, false, topic,
                          m->created_ms != ES_TIME_UNKNOWN ? m->created_ms : 0, t);
    a->mentions = quote;
    a->n_mentions = 1;
}
