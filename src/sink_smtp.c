/*
 * The SMTP sink: an RFC 5322 message with a plain-text and an HTML part
 * (multipart/alternative), sent through libcurl's smtp:// (with STARTTLS
 * required by default) or smtps://.
 *
 * We build the message ourselves so it is testable byte for byte:
 *   - headers: Date (of this attempt), From, To, Subject (RFC 2047 encoded
 *     words when not plain ASCII), Message-ID from the idempotency key (so
 *     a retried send is recognisably the same message), References to the
 *     group so mail clients thread repeats, Auto-Submitted (RFC 3834) so
 *     out-of-office robots do not answer;
 *   - both parts quoted-printable, lines <= 76 characters, CRLF endings, a
 *     leading dot encoded so no line can end the SMTP DATA early;
 *   - user text is HTML-escaped in the HTML part and never reaches a
 *     header except through an encoded word, so it cannot inject headers.
 *
 * Delivery verdicts come from the server's reply codes: 2xx delivered,
 * 4xx and connection trouble retry, 5xx (bad mailbox, auth refused) is
 * permanent.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMTP_TEXT_MAX       60000
#define SMTP_SUBJECT_MAX    200
#define SMTP_ALERTS_SHOWN   25
#define SMTP_MENTIONS_SHOWN 10
#define SMTP_QUOTE_MAX      2000
#define SMTP_DETAILS_SHOWN  12
#define SMTP_RCPT_MAX       100 /* the config schema's bound for `to` */

typedef struct smtp_sink {
    char *url;
    char *from;      /* as written: may have a display name */
    char *mail_from; /* the bare address, for MAIL FROM */
    char *to[SMTP_RCPT_MAX];
    size_t n_to;
    char *username;
    char *password;
    char *prefix;
    bool starttls;
} smtp_sink;

static void smtp_destroy(void *state)
{
    smtp_sink *s = state;
    if (s == NULL) {
        return;
    }
    free(s->url);
    free(s->from);
    free(s->mail_from);
    for (size_t i = 0; i < s->n_to; i++) {
        free(s->to[i]);
    }
    free(s->username);
    if (s->password != NULL) {
        memset(s->password, 0, strlen(s->password));
    }
    free(s->password);
    free(s->prefix);
    free(s);
}

/* "Name <a@b>" -> "a@b"; "a@b" -> "a@b". NULL if it is not an address. */
static char *addr_spec(const char *s)
{
    if (strpbrk(s, "\r\n") != NULL) {
        return NULL;
    }
    const char *lt = strrchr(s, '<');
    const char *start = s, *end = s + strlen(s);
    if (lt != NULL) {
        const char *gt = strchr(lt, '>');
        if (gt == NULL) {
            return NULL;
        }
        start = lt + 1;
        end = gt;
    }
    while (start < end && *start == ' ') {
        start++;
    }
    while (end > start && end[-1] == ' ') {
        end--;
    }
    size_t n = (size_t)(end - start);
    const char *at = memchr(start, '@', n);
    if (n == 0 || n > 254 || at == NULL || at == start || at == end - 1 ||
        memchr(start, ' ', n) != NULL) {
        return NULL;
    }
    char *r = malloc(n + 1);
    if (r != NULL) {
        memcpy(r, start, n);
        r[n] = '\0';
    }
    return r;
}

static int smtp_init(const es_sink_opts *o, void **state, es_error *err)
{
    const char *url = es_sink_opt_get(o, "url");
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        return es_error_set(err, ES_ECONFIG, 0, 0,
                            "sink '%s': 'url' must be smtp://host[:port] or smtps://host[:port]",
                            o->sink_name);
    }
    smtp_sink *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    const char *from = es_sink_opt_get(o, "from");
    const char *user = es_sink_opt_get(o, "username");
    const char *pass = es_sink_opt_get(o, "password");
    s->url = strdup(url);
    s->from = strdup(from);
    s->prefix = strdup(es_sink_opt_get(o, "subject_prefix"));
    s->username = user != NULL ? strdup(user) : NULL;
    s->password = pass != NULL ? strdup(pass) : NULL;
    s->starttls = es_sink_opt_bool(o, "starttls", true);
    if (s->url == NULL || s->from == NULL || s->prefix == NULL ||
        (user != NULL && s->username == NULL) || (pass != NULL && s->password == NULL)) {
        smtp_destroy(s);
        return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
    }
    if ((s->mail_from = addr_spec(from)) == NULL) {
        smtp_destroy(s);
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'from' is not an e-mail address",
                            o->sink_name);
    }
    if (strpbrk(s->prefix, "\r\n") != NULL) {
        smtp_destroy(s);
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'subject_prefix' must be one line",
                            o->sink_name);
    }
    const char *to[SMTP_RCPT_MAX];
    size_t n = es_sink_opt_list(o, "to", to, SMTP_RCPT_MAX);
    if (n == 0 || n > SMTP_RCPT_MAX) {
        smtp_destroy(s);
        return es_error_set(err, ES_ECONFIG, 0, 0, "sink '%s': 'to' must list 1 to %d addresses",
                            o->sink_name, SMTP_RCPT_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        char *a = addr_spec(to[i]);
        if (a == NULL) {
            smtp_destroy(s);
            return es_error_set(err, ES_ECONFIG, 0, 0,
                                "sink '%s': 'to' entry '%s' is not an e-mail address", o->sink_name,
                                to[i]);
        }
        free(a);
        if ((s->to[s->n_to] = strdup(to[i])) == NULL) {
            smtp_destroy(s);
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
        s->n_to++;
    }
    *state = s;
    return 0;
}

/* ---- Encodings ---------------------------------------------------------- */

/* Quoted-printable (RFC 2045 6.7) of text whose lines end in '\n'. */
static int qp_encode(es_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            rc = es_buf_add(out, "\r\n", 2);
            col = 0;
            continue;
        }
        bool at_eol = i + 1 == n || s[i + 1] == '\n';
        bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
        if (col == 0 && c == '.') {
            literal = false; /* a lone "." line would end DATA */
        }
        char tok[3] = {(char)c, 0, 0};
        size_t len = 1;
        if (!literal) {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            len = 3;
        }
        if (col + len > 75) {
            rc = es_buf_add(out, "=\r\n", 3);
            col = 0;
        }
        rc = rc ? rc : es_buf_add(out, tok, len);
        col += len;
    }
    return rc;
}

/* A header value: as is when it is plain printable ASCII, else RFC 2047
 * encoded words of whole characters, folded onto continuation lines. */
static int header_text(es_buf *out, const char *s, size_t n)
{
    bool plain = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7E || (c == '=' && i + 1 < n && s[i + 1] == '?')) {
            plain = false;
            break;
        }
    }
    if (plain) {
        return es_buf_add(out, s, n);
    }
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < n) {
        /* 45 bytes -> 60 base64 characters -> a 72-character word. */
        size_t end = i + 45 < n ? i + 45 : n;
        while (end < n && end > i && ((unsigned char)s[end] & 0xC0) == 0x80) {
            end--;
        }
        if (end == i) {
            end = i + 1;
        }
        rc = es_buf_adds(out, i == 0 ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
        rc = rc ? rc : es__base64(out, (const unsigned char *)s + i, end - i);
        rc = rc ? rc : es_buf_adds(out, "?=");
        i = end;
    }
    return rc;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A Message-ID local part: the key's safe characters, else a hash. */
static void msgid_part(const char *key, char out[80])
{
    size_t o = 0;
    for (const char *p = key; *p != '\0' && o < 60; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        out[o++] = ok ? c : '_';
    }
    snprintf(out + o, 80 - o, ".%08llx", (unsigned long long)(fnv1a(key) & 0xFFFFFFFFULL));
}

static void rfc5322_date(int64_t ms, char out[40])
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
             mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- The two bodies ----------------------------------------------------- */

static const char *status_word(const es_notification *n)
{
    return n->action == ES_NOTIFY_ACKNOWLEDGE ? "acknowledged"
           : es_notification_resolved(n)      ? "resolved"
                                              : "firing";
}

static void facts(es_tb *tb, const es_notification *n, es_escape esc, const char *sep)
{
    const char *vals[ES_N_FACTS];
    es__notification_facts(n, vals);
    for (size_t i = 0; i < ES_N_FACTS; i++) {
        if (vals[i] != NULL) {
            es__tb_printf(tb, "%s: ", es__fact_names[i]);
            es__tb_text(tb, vals[i], strlen(vals[i]), esc, 100);
            es__tb_lit(tb, sep);
        }
    }
    es__tb_printf(tb, "Count: %zu%sStatus: %s", es_notification_count(n), sep, status_word(n));
}

static void text_body(es_tb *tb, const es_notification *n, const char *head, size_t head_len)
{
    es__tb_text(tb, head, head_len, ES_ESC_NONE, 1000);
    es__tb_lit(tb, "\n\n");
    facts(tb, n, ES_ESC_NONE, " | ");
    es__tb_lit(tb, "\n");
    size_t shown = 0;
    for (size_t i = 0; i < n->n_alerts && shown < SMTP_ALERTS_SHOWN && tb->left > 500; i++) {
        const es_alert *a = &n->alerts[i];
        es__tb_lit(tb, "\n== ");
        const char *sum = a->summary != NULL ? a->summary : es_alert_kind_name(a->kind);
        es__tb_text(tb, sum, strlen(sum), ES_ESC_NONE, 1000);
        es__tb_lit(tb, "\n");
        es_detail d[SMTP_DETAILS_SHOWN];
        size_t nd = es__details(a->details_json, d, SMTP_DETAILS_SHOWN);
        for (size_t j = 0; j < nd; j++) {
            es__tb_text(tb, d[j].key, strlen(d[j].key), ES_ESC_NONE, 64);
            es__tb_lit(tb, ": ");
            es__tb_text(tb, d[j].value, strlen(d[j].value), ES_ESC_NONE, 64);
            es__tb_lit(tb, j + 1 < nd ? ", " : "\n");
        }
        for (size_t j = 0; j < a->n_mentions && j < SMTP_MENTIONS_SHOWN; j++) {
            const es_alert_mention *mn = &a->mentions[j];
            es__tb_lit(tb, "\n  \"");
            es__tb_text(tb, mn->text.ptr, mn->text.len, ES_ESC_NONE, SMTP_QUOTE_MAX);
            es__tb_lit(tb, "\"");
            if (mn->author.len > 0) {
                es__tb_lit(tb, " - @");
                es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_NONE, 64);
            }
            if (es__is_http_url(mn->url)) {
                es__tb_lit(tb, "\n  ");
                es__tb_url(tb, mn->url, ES_ESC_NONE);
            }
            es__tb_lit(tb, "\n");
        }
        char at[32];
        es_time_format(a->at_ms, at);
        es__tb_printf(tb, "\n%s | %s\n", a->fingerprint != NULL ? a->fingerprint : "", at);
        shown++;
    }
    if (es_notification_count(n) > shown && n->n_alerts > 1) {
        es__tb_printf(tb, "\n... and %zu more\n", es_notification_count(n) - shown);
    }
}

static void html_body(es_tb *tb, const es_notification *n, const char *head, size_t head_len)
{
    es__tb_lit(tb, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n<h2>");
    es__tb_text(tb, head, head_len, ES_ESC_HTML, 1000);
    es__tb_lit(tb, "</h2>\n<p>");
    facts(tb, n, ES_ESC_HTML, " &middot; ");
    es__tb_lit(tb, "</p>\n");
    size_t shown = 0;
    for (size_t i = 0; i < n->n_alerts && shown < SMTP_ALERTS_SHOWN && tb->left > 800; i++) {
        const es_alert *a = &n->alerts[i];
        es__tb_lit(tb, "<h3>");
        const char *sum = a->summary != NULL ? a->summary : es_alert_kind_name(a->kind);
        es__tb_text(tb, sum, strlen(sum), ES_ESC_HTML, 1000);
        es__tb_lit(tb, "</h3>\n");
        es_detail d[SMTP_DETAILS_SHOWN];
        size_t nd = es__details(a->details_json, d, SMTP_DETAILS_SHOWN);
        if (nd > 0) {
            es__tb_lit(tb, "<table>\n");
            for (size_t j = 0; j < nd; j++) {
                es__tb_lit(tb, "<tr><td>");
                es__tb_text(tb, d[j].key, strlen(d[j].key), ES_ESC_HTML, 64);
                es__tb_lit(tb, "</td><td><b>");
                es__tb_text(tb, d[j].value, strlen(d[j].value), ES_ESC_HTML, 64);
                es__tb_lit(tb, "</b></td></tr>\n");
            }
            es__tb_lit(tb, "</table>\n");
        }
        for (size_t j = 0; j < a->n_mentions && j < SMTP_MENTIONS_SHOWN; j++) {
            const es_alert_mention *mn = &a->mentions[j];
            /* Reserve the closing tags so markup always balances. */
            size_t reserve = 40 + (es__is_http_url(mn->url) ? mn->url.len * 5 + 160 : 100);
            if (!es__tb_lit(tb, "<blockquote>")) {
                break;
            }
            size_t cap = tb->left > reserve ? tb->left - reserve : 0;
            es__tb_text(tb, mn->text.ptr, mn->text.len, ES_ESC_HTML,
                        cap < SMTP_QUOTE_MAX ? cap : SMTP_QUOTE_MAX);
            es__tb_lit(tb, "<br>&mdash; ");
            if (es__is_http_url(mn->url)) {
                es__tb_lit(tb, "<a href=\"");
                es__tb_url(tb, mn->url, ES_ESC_HTML);
                es__tb_lit(tb, "\">");
            }
            if (mn->author.len > 0) {
                es__tb_lit(tb, "@");
                es__tb_text(tb, mn->author.ptr, mn->author.len, ES_ESC_HTML, 64);
            } else {
                es__tb_lit(tb, "post");
            }
            if (es__is_http_url(mn->url)) {
                es__tb_lit(tb, "</a>");
            }
            es__tb_lit(tb, "</blockquote>\n");
        }
        char at[32];
        es_time_format(a->at_ms, at);
        es__tb_lit(tb, "<p><small><code>");
        const char *fp = a->fingerprint != NULL ? a->fingerprint : "";
        es__tb_text(tb, fp, strlen(fp), ES_ESC_HTML, 200);
        es__tb_printf(tb, "</code> &middot; %s</small></p>\n", at);
        shown++;
    }
    if (es_notification_count(n) > shown && n->n_alerts > 1) {
        es__tb_printf(tb, "<p>&hellip; and %zu more</p>\n", es_notification_count(n) - shown);
    }
    /* The budget kept room for this: the closing tags always go out. */
    tb->left += 32;
    es__tb_lit(tb, "</body></html>\n");
}

static int smtp_build(void *state, const es_notification *n, es_sink_request *req)
{
    smtp_sink *s = state;
    es_buf head, part, subject;
    es_buf_init(&head, 64 * 1024);
    es_buf_init(&part, 4u << 20);
    es_buf_init(&subject, 4096);
    es_buf *m = &req->body;
    int rc = es__headline(n, &head);

    req->kind = ES_SINK_REQ_SMTP;
    req->mail_from = s->mail_from;
    req->starttls = s->starttls;
    req->username = s->username;
    req->password = s->password;
    rc = rc ? rc : es_buf_adds(&req->url, s->url);
    for (size_t i = 0; rc == 0 && i < s->n_to; i++) {
        char *a = addr_spec(s->to[i]);
        rc = a != NULL ? es_buf_printf(&req->rcpt, "%s\n", a) : ES_EINVAL;
        free(a);
    }

    char date[40], id[80], group[80];
    rfc5322_date(n->sent_ms, date);
    msgid_part(n->key != NULL ? n->key : "", id);
    const char *g = n->group;
    if (g == NULL) {
        g = n->n_alerts > 0 && n->alerts[0].fingerprint != NULL ? n->alerts[0].fingerprint : "";
    }
    msgid_part(g, group);
    char boundary[48];
    snprintf(boundary, sizeof boundary, "=_earshot_%016llx",
             (unsigned long long)fnv1a(n->key != NULL ? n->key : ""));

    es_tb tb;
    es__tb_init(&tb, &subject, SMTP_SUBJECT_MAX, ES_TEXT_ONELINE);
    size_t plen = strlen(s->prefix);
    es__tb_text(&tb, s->prefix, plen, ES_ESC_NONE, SIZE_MAX);
    /* A YAML value loses its trailing space unless quoted, so the space
     * between prefix and headline is ours to add: "[acme]" reads as
     * "[acme] acme: 3 complaints", and "[acme] " is not doubled. */
    if (plen > 0 && s->prefix[plen - 1] != ' ') {
        es__tb_lit(&tb, " ");
    }
    es__tb_text(&tb, head.data, head.len, ES_ESC_NONE, SIZE_MAX);
    rc = rc ? rc : tb.rc;

    rc = rc ? rc : es_buf_printf(m, "Date: %s\r\nFrom: %s\r\nTo: ", date, s->from);
    for (size_t i = 0; rc == 0 && i < s->n_to; i++) {
        rc = es_buf_printf(m, "%s%s", i ? ",\r\n " : "", s->to[i]);
    }
    rc = rc ? rc : es_buf_adds(m, "\r\nSubject: ");
    rc = rc ? rc : header_text(m, subject.data, subject.len);
    rc = rc ? rc
            : es_buf_printf(m,
                            "\r\nMessage-ID: <%s@earshot>\r\nIn-Reply-To: <%s@earshot>\r\n"
                            "References: <%s@earshot>\r\nAuto-Submitted: auto-generated\r\n"
                            "MIME-Version: 1.0\r\n"
                            "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                            "This is a message in MIME format.\r\n",
                            id, group, group, boundary);

    es__tb_init(&tb, &part, SMTP_TEXT_MAX, 0);
    text_body(&tb, n, head.data, head.len);
    rc = rc ? rc : tb.rc;
    rc = rc ? rc
            : es_buf_printf(m,
                            "\r\n--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                            boundary);
    rc = rc ? rc : qp_encode(m, part.data, part.len);

    es_buf_reset(&part);
    es__tb_init(&tb, &part, SMTP_TEXT_MAX - 32, 0);
    html_body(&tb, n, head.data, head.len);
    rc = rc ? rc : tb.rc;
    rc = rc ? rc
            : es_buf_printf(m,
                            "\r\n--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                            boundary);
    rc = rc ? rc : qp_encode(m, part.data, part.len);
    rc = rc ? rc : es_buf_printf(m, "\r\n--%s--\r\n", boundary);
    es_buf_free(&head);
    es_buf_free(&part);
    es_buf_free(&subject);
    return rc;
}

/* SMTP reply codes: 2xx done, 4xx try later, 5xx never. */
static void smtp_classify(void *state, const es_sink_response *r, es_sink_result *res)
{
    (void)state;
    res->not_before_ms = 0;
    res->sink_wide = false;
    if (r->transport == 0 && (r->status == 0 || (r->status >= 200 && r->status < 300))) {
        res->verdict = ES_SINK_DELIVERED;
        res->error[0] = '\0';
        return;
    }
    res->verdict = r->status >= 500 && r->status < 600 ? ES_SINK_PERMANENT : ES_SINK_RETRY;
    snprintf(res->error, sizeof res->error, "SMTP %ld%s%s", r->status,
             r->transport_msg != NULL ? ": " : "",
             r->transport_msg != NULL ? r->transport_msg : "");
}

static const es_sink_option smtp_options[] = {
    {"url", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED,
     "smtp://host:587 (STARTTLS) or smtps://host:465"},
    {"from", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_REQUIRED, "sender, e.g. earshot <a@b.example>"},
    {"to", ES_SINK_OPT_LIST, NULL, ES_SINK_OPT_REQUIRED, "recipients"},
    {"starttls", ES_SINK_OPT_BOOL, "true", 0,
     "require STARTTLS on smtp:// (turn off only for a local relay)"},
    {"username", ES_SINK_OPT_STRING, NULL, 0, "SMTP AUTH user"},
    {"password", ES_SINK_OPT_STRING, NULL, ES_SINK_OPT_SECRET, "SMTP AUTH password"},
    {"subject_prefix", ES_SINK_OPT_STRING, "[earshot]", 0,
     "put before every subject, followed by a space"},
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_smtp = {
    .name = "smtp",
    .options = smtp_options,
    .default_rate = "1/s",
    .init = smtp_init,
    .build = smtp_build,
    .classify = smtp_classify,
    .destroy = smtp_destroy,
};
