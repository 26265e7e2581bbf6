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

void es_complaint_to_alert(const es_mention *m, const char *topic, double complaint,
                           es_severity sev, es_detect_alert_text *t, es_alert_mention *quote,
                           es_alert *a)
{
    const char *nm = topic != NULL ? topic : "topic";
    int idlen = m->id.len > 200 ? 200 : (int)m->id.len;
    snprintf(t->fingerprint, sizeof t->fingerprint, "%s/complaint/%.*s", nm, idlen,
             m->id.ptr != NULL ? m->id.ptr : "");

    char who[160];
    if (m->author.ptr != NULL && m->author.len > 0) {
        int al = m->author.len > 80 ? 80 : (int)m->author.len;
        if (m->followers >= 0) {
            char f[32];
            es__detect_human_count((double)m->followers, f, sizeof f);
            snprintf(who, sizeof who, "%.*s (%s followers)", al, m->author.ptr, f);
        } else {
            snprintf(who, sizeof who, "%.*s", al, m->author.ptr);
        }
    } else {
        snprintf(who, sizeof who, "someone");
    }
    /* Quote the start of the text, cut at a UTF-8 boundary. */
    size_t n = m->text.ptr != NULL ? m->text.len : 0;
    if (n > 100) {
        n = 100;
        while (n > 0 && ((unsigned char)m->text.ptr[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    snprintf(t->summary, sizeof t->summary, "%s: complaint from %s: \"%.*s%s\"", nm, who,
             (int)n, n > 0 ? m->text.ptr : "", n < (m->text.ptr != NULL ? m->text.len : 0) ? "..." : "");

    es_buf b;
    es_buf_init(&b, sizeof t->details - 1);
    es_buf_adds(&b, "{\"complaint\":");
    es_buf_json_fixed(&b, complaint, 4);
    if (m->followers >= 0) {
        es_buf_adds(&b, ",\"followers\":");
        es_buf_json_int(&b, m->followers);
    }
    if (m->reposts >= 0) {
        es_buf_adds(&b, ",\"reposts\":");
        es_buf_json_int(&b, m->reposts);
    }
    es_buf_addc(&b, '}');
    snprintf(t->details, sizeof t->details, "%s", b.data != NULL ? b.data : "{}");
    es_buf_free(&b);

    memset(quote, 0, sizeof *quote);
    quote->id = m->id;
    quote->author = m->author;
    quote->text = m->text;
    quote->url = m->url;

    memset(a, 0, sizeof *a);
    a->kind = ES_ALERT_COMPLAINT;
    a->severity = sev;
    a->topic = topic;
    a->at_ms = m->created_ms != ES_TIME_UNKNOWN ? m->created_ms : 0;
    a->fingerprint = t->fingerprint;
    a->summary = t->summary;
    a->details_json = t->details;
    a->mentions = quote;
    a->n_mentions = 1;
}
