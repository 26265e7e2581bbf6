/* The alert model: names, deterministic ids, and the contract's JSON shape. */
#include "alert.h"
#include "timefmt.h"

#include <string.h>

static const char *const kind_names[] = {
    [ES_ALERT_COMPLAINT] = "complaint",           [ES_ALERT_VOLUME_SPIKE] = "volume_spike",
    [ES_ALERT_NEGATIVE_SURGE] = "negative_surge", [ES_ALERT_VIRAL_POST] = "viral_post",
    [ES_ALERT_FEED_STALLED] = "feed_stalled",
};

static const char *const severity_names[] = {
    [ES_SEV_INFO] = "info",
    [ES_SEV_WARNING] = "warning",
    [ES_SEV_CRITICAL] = "critical",
};

const char *es_alert_kind_name(es_alert_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "unknown";
}

const char *es_severity_name(es_severity s)
{
    return (unsigned)s < sizeof severity_names / sizeof severity_names[0] ? severity_names[s]
                                                                           : "unknown";
}

/* FNV-1a, 64 bits: enough to make ids distinct, and stable across runs. */
static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void es_alert_make_id(const es_alert *a, char out[27])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const char *fp = a->fingerprint != NULL ? a->fingerprint : "";
    const char *status = a->resolved ? "resolved" : "firing";
    uint64_t h1 = fnv1a(0xcbf29ce484222325ULL, fp, strlen(fp));
    h1 = fnv1a(h1, status, strlen(status));
    uint64_t h2 = fnv1a(h1 ^ 0x9e3779b97f4a7c15ULL, fp, strlen(fp));

    /* 128 bits: 48-bit time, then 80 bits of hash (64 from h1, 16 from h2). */
    uint64_t t = a->at_ms < 0 ? 0 : (uint64_t)a->at_ms & 0xFFFFFFFFFFFFULL;
    uint64_t hi = (t << 16) | (h2 & 0xFFFF);
    uint64_t lo = h1;
    /* Encode 128 bits as 26 base32 digits (the first carries 3 bits). */
    for (int i = 25; i >= 0; i--) {
        out[i] = b32[lo & 31];
        lo = (lo >> 5) | ((hi & 31) << 59);
        hi >>= 5;
    }
    out[26] = '\0';
}

/* Appends ,"key":"val" without printf, which cost more than the rest of
 * the alert (backfill writes hundreds of thousands of alerts). */
static int add_str(es_buf *out, const char *key, const char *val)
{
    int rc = es_buf_add(out, ",\"", 2);
    rc = rc ? rc : es_buf_adds(out, key);
    rc = rc ? rc : es_buf_add(out, "\":", 2);
    if (rc == 0) {
        rc = es_buf_json_str(out, val, strlen(val));
    }
    return rc;
}

/* Longest prefix of s (at most max bytes) that ends on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
        cut--;
    }
    return cut;
}

#define ES_ALERT_TEXT_MAX 1000

int es_alert_to_json(const es_alert *a, es_buf *out)
{
    char id[27];
    char at[32];
    es_alert_make_id(a, id);
    int rc = es_buf_add(out, "{\"id\":\"", 7);
    rc = rc ? rc : es_buf_add(out, id, 26);
    rc = rc ? rc : es_buf_addc(out, '"');
    rc = rc ? rc : add_str(out, "fingerprint", a->fingerprint != NULL ? a->fingerprint : "");
    rc = rc ? rc : add_str(out, "kind", es_alert_kind_name(a->kind));
    rc = rc ? rc : add_str(out, "severity", es_severity_name(a->severity));
    rc = rc ? rc : add_str(out, "status", a->resolved ? "resolved" : "firing");
    if (rc == 0 && a->topic != NULL) {
        rc = add_str(out, "topic", a->topic);
    }
    if (rc == 0 && a->series != NULL) {
        rc = add_str(out, "series", a->series);
    }
    if (rc == 0 && a->feed != NULL) {
        rc = add_str(out, "feed", a->feed);
    }
    if (a->at_text != NULL) {
        rc = rc ? rc : add_str(out, "at", a->at_text);
    } else {
        es_time_format(a->at_ms, at);
        rc = rc ? rc : add_str(out, "at", at);
    }
    rc = rc ? rc : add_str(out, "summary", a->summary != NULL ? a->summary : "");
    rc = rc ? rc : es_buf_adds(out, ",\"details\":");
    rc = rc ? rc : es_buf_adds(out, a->details_json != NULL ? a->details_json : "{}");
    rc = rc ? rc : es_buf_adds(out, ",\"mentions\":[");
    for (size_t i = 0; rc == 0 && i < a->n_mentions; i++) {
        const es_alert_mention *m = &a->mentions[i];
        rc = es_buf_adds(out, i ? ",{\"id\":" : "{\"id\":");
        rc = rc ? rc : es_buf_json_str(out, m->id.ptr, m->id.len);
        if (rc == 0 && m->author.ptr != NULL) {
            rc = es_buf_adds(out, ",\"author\":");
            rc = rc ? rc : es_buf_json_str(out, m->author.ptr, m->author.len);
        }
        if (rc == 0 && m->text.ptr != NULL) {
            size_t n = utf8_cut(m->text.ptr, m->text.len, ES_ALERT_TEXT_MAX);
            rc = es_buf_adds(out, ",\"text\":");
            if (n < m->text.len) {
                /* Quote the cut text plus an ellipsis as one JSON string. */
                char tmp[ES_ALERT_TEXT_MAX + 4];
                memcpy(tmp, m->text.ptr, n);
                memcpy(tmp + n, "\xE2\x80\xA6", 3);
                rc = rc ? rc : es_buf_json_str(out, tmp, n + 3);
            } else {
                rc = rc ? rc : es_buf_json_str(out, m->text.ptr, m->text.len);
            }
        }
        if (rc == 0 && m->url.ptr != NULL) {
            rc = es_buf_adds(out, ",\"url\":");
            rc = rc ? rc : es_buf_json_str(out, m->url.ptr, m->url.len);
        }
        rc = rc ? rc : es_buf_addc(out, '}');
    }
    rc = rc ? rc : es_buf_adds(out, "]}");
    return rc;
}
