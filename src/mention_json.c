/* The enriched-mention JSON encoder. */
#include "mention_json.h"

#include <stdbool.h>
#include <string.h>

#include "decode_int.h"
#include "timefmt.h"

/* The members this encoder writes itself; raw copies of them are dropped. */
static const char *const own_keys[] = {"id",        "created_at", "text",    "author",
                                       "source",    "url",        "lang",    "followers",
                                       "likes",     "reposts",    "replies", "reply_to"};

/* ------------------------------------------------------------------ */
/* A minimal scanner over JSON text already validated by the decoder.  */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* s[i] == '"': index just past the closing quote, or n. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return n;
}

/* Index just past the value starting at s[i], or n if it is cut short. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n) {
        return n;
    }
    if (s[i] == '"') {
        return skip_string(s, n, i);
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, n, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    return i + 1;
                }
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r') {
        i++;
    }
    return i;
}

/*
 * The key of a member, unescaped into buf for comparison (keys with \u
 * escapes are rare but must not sneak a duplicate "id" through). Returns
 * its length, or SIZE_MAX when it does not fit (then it matches nothing
 * we compare against, all of which are short).
 */
static size_t key_text(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            if (c == 'u' && i + 4 < n) {
                unsigned v = 0;
                for (int k = 1; k <= 4; k++) {
                    char h = s[i + k];
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                   : 0);
                }
                i += 4;
                c = v < 0x80 ? (char)v : '?';
            } else if (c == 'n') {
                c = '\n';
            } else if (c == 't') {
                c = '\t';
            }
        }
        if (o >= cap) {
            return SIZE_MAX;
        }
        buf[o++] = c;
    }
    return o;
}

typedef struct member {
    size_t start, end;         /* the member: "key": value */
    size_t key_start, key_end; /* inside the quotes */
} member;

/*
 * Step to the next member of an object's text. *pos starts just inside the
 * '{' (or at the start of a member list). Returns false at the end.
 */
static bool next_member(const char *s, size_t n, size_t *pos, member *m)
{
    size_t i = skip_ws(s, n, *pos);
    if (i < n && s[i] == ',') {
        i = skip_ws(s, n, i + 1);
    }
    if (i >= n || s[i] != '"') {
        return false;
    }
    m->start = i;
    m->key_start = i + 1;
    i = skip_string(s, n, i);
    m->key_end = i > m->key_start ? i - 1 : m->key_start;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ':') {
        return false;
    }
    i = skip_value(s, n, skip_ws(s, n, i + 1));
    m->end = i;
    *pos = i;
    return true;
}

static bool key_in_list(const char *k, size_t kl, const char *const *list, size_t nlist)
{
    for (size_t i = 0; i < nlist; i++) {
        if (strlen(list[i]) == kl && memcmp(list[i], k, kl) == 0) {
            return true;
        }
    }
    return false;
}

/* Is key k one of the top-level member keys of `extra`? */
static bool key_in_extra(const char *k, size_t kl, const char *extra, size_t extra_len)
{
    size_t pos = 0;
    member em;
    char buf[128];
    while (next_member(extra, extra_len, &pos, &em)) {
        size_t el = key_text(extra + em.key_start, em.key_end - em.key_start, buf, sizeof buf);
        if (el == kl && memcmp(buf, k, kl) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Copy a member as written, except that a member spanning lines (from a
 * pretty-printed input document) loses its blanks outside strings: the
 * output is one NDJSON line. Invalid UTF-8 is repaired either way.
 */
static int copy_member(es_buf *out, const char *s, size_t n)
{
    if (memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL) {
        return es__utf8_sanitize(out, s, n);
    }
    size_t i = 0;
    while (i < n) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            i++;
            continue;
        }
        size_t end = s[i] == '"' ? skip_string(s, n, i) : i + 1;
        int rc = es__utf8_sanitize(out, s + i, end - i);
        if (rc != 0) {
            return rc;
        }
        i = end;
    }
    return 0;
}

static int pass_through(const es_str raw, es_buf *out, const char *extra, size_t extra_len)
{
    const char *s = raw.ptr;
    size_t n = raw.len;
    size_t pos = skip_ws(s, n, 0);
    if (pos >= n || s[pos] != '{') {
        return 0;
    }
    pos++;
    member mb;
    char key[128];
    int rc = 0;
    while (rc == 0 && next_member(s, n, &pos, &mb)) {
        size_t kl = key_text(s + mb.key_start, mb.key_end - mb.key_start, key, sizeof key);
        if (kl != SIZE_MAX &&
            (key_in_list(key, kl, own_keys, sizeof own_keys / sizeof own_keys[0]) ||
             (extra_len > 0 && key_in_extra(key, kl, extra, extra_len)))) {
            continue;
        }
        if ((rc = es_buf_addc(out, ',')) == 0) {
            rc = copy_member(out, s + mb.start, mb.end - mb.start);
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ */

static int put_key(es_buf *out, bool *first, const char *key)
{
    int rc = es_buf_adds(out, *first ? "\"" : ",\"");
    *first = false;
    if (rc == 0) {
        rc = es_buf_adds(out, key);
    }
    return rc == 0 ? es_buf_adds(out, "\":") : rc;
}

static int put_str(es_buf *out, bool *first, const char *key, es_str v)
{
    if (v.ptr == NULL) {
        return 0;
    }
    int rc = put_key(out, first, key);
    return rc == 0 ? es_buf_json_str(out, v.ptr, v.len) : rc;
}

static int put_count(es_buf *out, bool *first, const char *key, int64_t v)
{
    if (v < 0) {
        return 0;
    }
    int rc = put_key(out, first, key);
    return rc == 0 ? es_buf_json_int(out, v) : rc;
}

/* Epoch-seconds text ("1424804152", "1424804152.5") rather than a date. */
static bool looks_numeric(es_str s)
{
    if (s.len == 0) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E')) {
            return false;
        }
    }
    return true;
}

int es_mention_write_json(const es_mention *m, es_buf *out, const char *extra, size_t extra_len)
{
    bool first = true;
    int rc = es_buf_addc(out, '{');
    if (rc == 0) {
        rc = put_str(out, &first, "id", m->id);
    }
    if (rc == 0) {
        es_str at = m->created_at;
        char tbuf[32];
        if ((at.ptr == NULL || looks_numeric(at)) && m->created_ms != ES_TIME_UNKNOWN) {
            es_time_format(m->created_ms, tbuf);
            at.ptr = tbuf;
            at.len = strlen(tbuf);
        }
        rc = put_str(out, &first, "created_at", at);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "text", m->text);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "author", m->author);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "source", m->source);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "url", m->url);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "lang", m->lang);
    }
    if (rc == 0) {
        rc = put_count(out, &first, "followers", m->followers);
    }
    if (rc == 0) {
        rc = put_count(out, &first, "likes", m->likes);
    }
    if (rc == 0) {
        rc = put_count(out, &first, "reposts", m->reposts);
    }
    if (rc == 0) {
        rc = put_count(out, &first, "replies", m->replies);
    }
    if (rc == 0) {
        rc = put_str(out, &first, "reply_to", m->reply_to);
    }
    if (rc == 0 && m->raw.ptr != NULL && m->raw.len > 0) {
        size_t before = out->len;
        rc = pass_through(m->raw, out, extra, extra_len);
        /* A mention with no contract members at all: drop the comma. */
        if (rc == 0 && first && out->len > before) {
            memmove(out->data + before, out->data + before + 1, out->len - before - 1);
            out->len--;
            out->data[out->len] = '\0';
            first = false;
        }
    }
    if (rc == 0 && extra != NULL && extra_len > 0) {
        if (first) {
            /* extra starts with a comma that would follow nothing. */
            size_t skip = skip_ws(extra, extra_len, 0);
            if (skip < extra_len && extra[skip] == ',') {
                skip++;
            }
            rc = es_buf_add(out, extra + skip, extra_len - skip);
        } else {
            rc = es_buf_add(out, extra, extra_len);
        }
    }
    if (rc == 0) {
        rc = es_buf_addc(out, '}');
    }
    return rc;
}

int es_mention_write_earshot(const es_mention *m, es_buf *out)
{
    return es_mention_write_json(m, out, NULL, 0);
}
