/* The server-sent events parser. See sse.h for the rules it follows. */
#include "sse.h"

#include <string.h>

#define SSE_DEFAULT_MAX (1u << 20)
/* Room for a field name and its colon in front of max_event bytes of data. */
#define SSE_LINE_SLACK 64

void es_sse_init(es_sse *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event > 0 ? max_event : SSE_DEFAULT_MAX;
    es_buf_init(&p->line, p->max_event + SSE_LINE_SLACK);
    es_buf_init(&p->data, p->max_event);
    p->retry_ms = -1;
}

void es_sse_free(es_sse *p)
{
    es_buf_free(&p->line);
    es_buf_free(&p->data);
}

static void clear_event(es_sse *p)
{
    es_buf_reset(&p->data);
    p->have_data = false;
    p->too_big = false;
    p->name_len = 0;
}

void es_sse_reset(es_sse *p)
{
    clear_event(p);
    memcpy(p->id_buf, p->id, p->id_len);
    p->id_buf_len = p->id_len;
    es_buf_reset(&p->line);
    p->line_too_big = false;
    p->after_cr = false;
    p->started = false;
    p->bom_pos = 0;
}

/* The current event is over its cap: forget its data, remember to say so. */
static void drop_event(es_sse *p)
{
    p->too_big = true;
    es_buf_reset(&p->data);
}

static int dispatch(es_sse *p, es_sse_event_fn fn, void *ud)
{
    /* The id takes effect at the event's end, whether or not it had data. */
    memcpy(p->id, p->id_buf, p->id_buf_len);
    p->id[p->id_buf_len] = '\0';
    p->id_len = p->id_buf_len;
    es_sse_event ev = {
        .name = {"message", 7},
        .data = {"", 0},
        .id = {p->id, p->id_len},
    };
    if (p->too_big) {
        ev.too_big = true;
        p->events++;
        p->dropped++;
    } else if (!p->have_data) {
        /* Nothing to say: the standard drops such an event (its `id:`
         * still took effect above). */
        clear_event(p);
        return 0;
    } else {
        p->events++;
        ev.data = (es_str){p->data.data != NULL ? p->data.data : "", p->data.len};
    }
    if (p->name_len > 0) {
        ev.name = (es_str){p->name, p->name_len};
    }
    int rc = fn(ud, &ev);
    clear_event(p);
    return rc;
}

static bool field_is(const char *s, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n == k && memcmp(s, name, k) == 0;
}

static int process_line(es_sse *p, const char *s, size_t n, es_sse_event_fn fn, void *ud)
{
    if (n == 0) {
        return dispatch(p, fn, ud);
    }
    if (s[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t fl = colon != NULL ? (size_t)(colon - s) : n;
    const char *v = colon != NULL ? colon + 1 : s + n;
    size_t vl = (size_t)(s + n - v);
    if (vl > 0 && *v == ' ') {
        v++;
        vl--;
    }
    if (field_is(s, fl, "data")) {
        if (p->too_big) {
            return 0;
        }
        if (p->data.len + vl + (p->have_data ? 1 : 0) > p->max_event ||
            (p->have_data && es_buf_addc(&p->data, '\n') != 0) || es_buf_add(&p->data, v, vl) != 0) {
            drop_event(p);
            return 0;
        }
        p->have_data = true;
    } else if (field_is(s, fl, "event")) {
        size_t k = vl < ES_SSE_MAX_NAME ? vl : ES_SSE_MAX_NAME;
        memcpy(p->name, v, k);
        p->name_len = k;
    } else if (field_is(s, fl, "id")) {
        /* The standard ignores an id holding NUL; we also ignore one too
         * long to send back in a header. */
        if (vl < ES_SSE_MAX_ID && memchr(v, '\0', vl) == NULL) {
            memcpy(p->id_buf, v, vl);
            p->id_buf_len = vl;
        }
    } else if (field_is(s, fl, "retry")) {
        int64_t ms = 0;
        size_t i = 0;
        while (i < vl && i < 10 && v[i] >= '0' && v[i] <= '9') {
            ms = ms * 10 + (v[i] - '0');
            i++;
        }
        if (i == vl && vl > 0) {
            p->retry_ms = ms;
        }
    }
    return 0;
}

/* What kind of line starts with these bytes (for a line over the cap,
 * which is skipped rather than kept). */
static int line_kind(const char *p, size_t n)
{
    if (n > 0 && p[0] == ':') {
        return 1; /* a comment: long ones are fine */
    }
    if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        return 2; /* data over the cap: the event is dropped */
    }
    return 3; /* any other field that long is ignored */
}

/* A line over the cap, complete or not: count it and act on its kind. */
static void line_over(es_sse *p, int kind)
{
    if (kind == 2) {
        drop_event(p);
    } else if (kind == 1) {
        p->comments++;
    }
}

/* Keep part of a line that continues in the next chunk. */
static void line_add(es_sse *p, const char *s, size_t k)
{
    if (p->line_too_big || k == 0) {
        return;
    }
    if (es_buf_add(&p->line, s, k) != 0) {
        char head[5];
        size_t h = p->line.len < sizeof head ? p->line.len : sizeof head;
        if (h > 0) {
            memcpy(head, p->line.data, h);
        }
        size_t more = k < sizeof head - h ? k : sizeof head - h;
        memcpy(head + h, s, more);
        p->line_too_big = true;
        line_over(p, line_kind(head, h + more));
        es_buf_reset(&p->line);
    }
}

int es_sse_feed(es_sse *p, const char *buf, size_t n, es_sse_event_fn fn, void *ud)
{
    size_t i = 0;
    if (!p->started) {
        /* A byte order mark at the very start is skipped, even split
         * across chunks; bytes that only began like one are content. */
        static const char bom[] = "\xEF\xBB\xBF";
        while (i < n && p->bom_pos < 3 && buf[i] == bom[p->bom_pos]) {
            p->bom_pos++;
            i++;
        }
        if (p->bom_pos < 3 && i == n) {
            return 0; /* all of it may still be a BOM */
        }
        p->started = true;
        if (p->bom_pos < 3 && p->bom_pos > 0) {
            line_add(p, bom, p->bom_pos);
        }
    }
    while (i < n) {
        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *start = buf + i;
        size_t left = n - i;
        const char *nl = memchr(start, '\n', left);
        size_t lim = nl != NULL ? (size_t)(nl - start) : left;
        const char *cr = memchr(start, '\r', lim);
        const char *eol = cr != NULL ? cr : nl;
        if (eol == NULL) {
            line_add(p, start, left);
            break;
        }
        size_t len = (size_t)(eol - start);
        if (*eol == '\r') {
            p->after_cr = true;
        }
        i += len + 1;
        const char *ls = start;
        size_t ll = len;
        if (p->line.len > 0 || p->line_too_big) {
            line_add(p, start, len);
            if (p->line_too_big) {
                p->line_too_big = false;
                continue; /* the event was marked too big if it mattered */
            }
            ls = p->line.data;
            ll = p->line.len;
        }
        if (ll > p->line.max) {
            /* The same rule as for a line that arrives in pieces. */
            line_over(p, line_kind(ls, ll));
            continue;
        }
        int rc = process_line(p, ls, ll, fn, ud);
        es_buf_reset(&p->line);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
