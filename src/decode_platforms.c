/*
 * Field mapping presets: where each platform puts a mention's fields, and
 * how they become an es_mention. The paths are data (see decode_int.h for
 * the syntax); the map functions only say what the platform means by them
 * (Reddit's title + selftext, Mastodon's HTML, Bluesky's URLs).
 *
 * Strictness. The earshot format is ours, so a field of the wrong type is
 * an error naming the field. Platform formats are someone else's and grow
 * fields and nulls over time, so only their required fields (id, text,
 * and created_at with ES_DECODE_REQUIRE_TIME) are checked; an odd optional
 * field is ignored rather than costing the record.
 *
 * Adding a platform: a field enum, a fields[] table in the same order, its
 * roots (where records sit in a document) and lists (arrays of records),
 * a map function, a row in es__specs, and a rule in es__detect.
 */
#include "decode_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "timefmt.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static es_str str_lit(const char *s)
{
    es_str r = {s, strlen(s)};
    return r;
}

static int field_err(es_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int field_err(es_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

static const char *fname(int s, int f)
{
    return es__specs[s].fields[f];
}

/* ------------------------------------------------------------------ */
/* Field readers.                                                     */

enum { OPTIONAL = 0, REQUIRED = 1 };
enum { STR_ONLY = 0, NUM_OK = 1 };

/*
 * A string field (or a number's text, with NUM_OK): absent or null leaves
 * *out unset. A wrong type is an error when `strict` or `required`.
 */
static int get_str(const es__rec *r, int s, int f, int required, int num_ok, bool strict,
                   es_str *out, es_error *err)
{
    const es__val *v = es__get(r, s, f);
    if (v == NULL) {
        if (required) {
            return field_err(err, ES_EFIELD, "missing required field '%s'", fname(s, f));
        }
        return 0;
    }
    if (v->type == ES__V_STR || (num_ok && v->type == ES__V_NUM)) {
        *out = es__val_str(r, v);
        return 0;
    }
    if (v->type == ES__V_NULL && !required) {
        return 0;
    }
    if (required || strict) {
        return field_err(err, ES_EFIELD, "'%s' is not a string%s", fname(s, f),
                         num_ok ? " or number" : "");
    }
    return 0;
}

/* Parse a JSON number's text as a whole number; -1 if it is not one. */
static int parse_whole(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i = neg;
    int64_t v = 0;
    bool simple = i < n;
    for (size_t k = i; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') {
            simple = false;
            break;
        }
        if (v > (INT64_MAX - (s[k] - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (s[k] - '0');
    }
    if (simple) {
        *out = neg ? -v : v;
        return 0;
    }
    /* 1.0, 1e3, 120.00: accept when the value is whole and in range. */
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) {
        return -1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (*end != '\0' || errno != 0 || !isfinite(d) || d != floor(d) || d >= 9.2e18 ||
        d <= -9.2e18) {
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

/*
 * A count: absent or null leaves *out unknown. Strict (earshot): anything
 * but a whole non-negative number is an error. Lenient (platforms): a
 * numeric string is read, a negative (Reddit scores) becomes 0, anything
 * else is ignored.
 */
static int get_count(const es__rec *r, int s, int f, bool strict, int64_t *out, es_error *err)
{
    const es__val *v = es__get(r, s, f);
    if (v == NULL || v->type == ES__V_NULL) {
        return 0;
    }
    int64_t x;
    if ((v->type == ES__V_NUM || (!strict && v->type == ES__V_STR)) &&
        parse_whole(r->arena + v->off, v->len, &x) == 0) {
        if (x >= 0) {
            *out = x;
            return 0;
        }
        if (!strict) {
            *out = 0;
            return 0;
        }
    }
    if (!strict) {
        return 0;
    }
    if (v->type == ES__V_NUM) {
        return field_err(err, ES_EFIELD, "'%s' must be a whole number from 0 to 2^63", fname(s, f));
    }
    return field_err(err, ES_EFIELD, "'%s' is not a number", fname(s, f));
}

/* created_at as RFC 3339 text or epoch seconds. */
static int get_time(const es__rec *r, int s, int f, bool strict, es_mention *m, es_error *err)
{
    const es__val *v = es__get(r, s, f);
    bool need = (r->flags & ES_DECODE_REQUIRE_TIME) != 0;
    if (v == NULL || v->type == ES__V_NULL) {
        if (need) {
            return field_err(err, ES_EFIELD, "missing required field '%s'", fname(s, f));
        }
        return 0;
    }
    if (v->type == ES__V_STR || v->type == ES__V_NUM) {
        int64_t ms;
        es_str t = es__val_str(r, v);
        if (es_time_parse(t.ptr, t.len, &ms) == 0) {
            m->created_at = t;
            m->created_ms = ms;
            return 0;
        }
        if (need || strict) {
            return field_err(err, ES_EFIELD, "'%s' is not a valid time: \"%.40s\"", fname(s, f),
                             t.ptr);
        }
        return 0;
    }
    if (need || strict) {
        return field_err(err, ES_EFIELD, "'%s' is not a string or number", fname(s, f));
    }
    return 0;
}

static bool has(const es__rec *r, int s, int f)
{
    return es__get(r, s, f) != NULL;
}

/* A non-empty string field, or an empty es_str. */
static es_str opt_str(const es__rec *r, int s, int f, int num_ok)
{
    es_str out = {NULL, 0};
    const es__val *v = es__get(r, s, f);
    if (v != NULL && (v->type == ES__V_STR || (num_ok && v->type == ES__V_NUM)) && v->len > 0) {
        out = es__val_str(r, v);
    }
    return out;
}

/* ES_DECODE_ID_OPTIONAL (earshot score) relaxes the id of every format. */
static int id_req(const es__rec *r)
{
    return (r->flags & ES_DECODE_ID_OPTIONAL) ? OPTIONAL : REQUIRED;
}

static int too_big(es_error *err)
{
    return field_err(err, ES_ETOOBIG, "record text exceeds its size limit");
}

/* The text of r->text (after the caller filled it). */
static es_str buf_str(const es_buf *b)
{
    es_str s = {b->data ? b->data : "", b->len};
    return s;
}

/* ------------------------------------------------------------------ */
/* earshot: the contract's own shape.                                 */

enum {
    E_ID, E_TEXT, E_CREATED, E_AUTHOR, E_SOURCE, E_URL, E_LANG, E_REPLY_TO,
    E_FOLLOWERS, E_LIKES, E_REPOSTS, E_REPLIES, E_N
};
static const char *const earshot_fields[E_N] = {
    [E_ID] = "id",           [E_TEXT] = "text",         [E_CREATED] = "created_at",
    [E_AUTHOR] = "author",   [E_SOURCE] = "source",     [E_URL] = "url",
    [E_LANG] = "lang",       [E_REPLY_TO] = "reply_to", [E_FOLLOWERS] = "followers",
    [E_LIKES] = "likes",     [E_REPOSTS] = "reposts",   [E_REPLIES] = "replies",
};
static const char *const generic_roots[] = {"", "[*]"};

static int map_earshot(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_EARSHOT;
    int rc;
    if ((rc = get_str(r, s, E_ID, id_req(r), NUM_OK, true, &m->id, err)) != 0 ||
        (rc = get_str(r, s, E_TEXT, REQUIRED, STR_ONLY, true, &m->text, err)) != 0 ||
        (rc = get_time(r, s, E_CREATED, true, m, err)) != 0 ||
        (rc = get_str(r, s, E_AUTHOR, OPTIONAL, STR_ONLY, true, &m->author, err)) != 0 ||
        (rc = get_str(r, s, E_SOURCE, OPTIONAL, STR_ONLY, true, &m->source, err)) != 0 ||
        (rc = get_str(r, s, E_URL, OPTIONAL, STR_ONLY, true, &m->url, err)) != 0 ||
        (rc = get_str(r, s, E_LANG, OPTIONAL, STR_ONLY, true, &m->lang, err)) != 0 ||
        (rc = get_str(r, s, E_REPLY_TO, OPTIONAL, NUM_OK, true, &m->reply_to, err)) != 0 ||
        (rc = get_count(r, s, E_FOLLOWERS, true, &m->followers, err)) != 0 ||
        (rc = get_count(r, s, E_LIKES, true, &m->likes, err)) != 0 ||
        (rc = get_count(r, s, E_REPOSTS, true, &m->reposts, err)) != 0 ||
        (rc = get_count(r, s, E_REPLIES, true, &m->replies, err)) != 0) {
        return rc;
    }
    /* Only earshot records carry their text: their unknown fields are
     * passed through to enriched output (mention_json.c). */
    m->raw = r->raw;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Mastodon: a Status entity (REST timelines return arrays of them).   */

enum {
    M_ID, M_CONTENT, M_SPOILER, M_CREATED, M_ACCT, M_FOLLOWERS, M_FAVS, M_REBLOGS,
    M_REPLIES, M_LANG, M_REPLY_TO, M_URL, M_URI, M_ACCOUNT, M_REBLOG, M_N
};
static const char *const mastodon_fields[M_N] = {
    [M_ID] = "id",
    [M_CONTENT] = "content",
    [M_SPOILER] = "spoiler_text",
    [M_CREATED] = "created_at",
    [M_ACCT] = "account.acct",
    [M_FOLLOWERS] = "account.followers_count",
    [M_FAVS] = "favourites_count",
    [M_REBLOGS] = "reblogs_count",
    [M_REPLIES] = "replies_count",
    [M_LANG] = "language",
    [M_REPLY_TO] = "in_reply_to_id",
    [M_URL] = "url",
    [M_URI] = "uri",
    [M_ACCOUNT] = "account",
    [M_REBLOG] = "reblog",
};

static int map_mastodon(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_MASTODON;
    es_str content = {NULL, 0};
    int rc;
    /* A boost repeats someone else's status (its content is empty); the
     * original is the mention, and it arrives on its own. */
    const es__val *boost = es__get(r, s, M_REBLOG);
    if (boost != NULL && boost->type == ES__V_MAP) {
        return ES__SKIP;
    }
    if ((rc = get_str(r, s, M_ID, id_req(r), NUM_OK, false, &m->id, err)) != 0 ||
        (rc = get_str(r, s, M_CONTENT, REQUIRED, STR_ONLY, false, &content, err)) != 0 ||
        (rc = get_time(r, s, M_CREATED, false, m, err)) != 0) {
        return rc;
    }
    /* A content warning is part of what the author wrote: put it first. */
    es_str cw = opt_str(r, s, M_SPOILER, STR_ONLY);
    if (cw.ptr != NULL) {
        if (es_html_unescape(r->text, cw.ptr, cw.len) != 0 || es_buf_adds(r->text, "\n\n") != 0) {
            return too_big(err);
        }
    }
    if (es_html_to_text(r->text, content.ptr, content.len) != 0) {
        return too_big(err);
    }
    m->text = buf_str(r->text);
    m->author = opt_str(r, s, M_ACCT, STR_ONLY);
    m->url = opt_str(r, s, M_URL, STR_ONLY);
    if (m->url.ptr == NULL) {
        m->url = opt_str(r, s, M_URI, STR_ONLY);
    }
    m->lang = opt_str(r, s, M_LANG, STR_ONLY);
    m->reply_to = opt_str(r, s, M_REPLY_TO, NUM_OK);
    m->source = str_lit("mastodon");
    get_count(r, s, M_FOLLOWERS, false, &m->followers, err);
    get_count(r, s, M_FAVS, false, &m->likes, err);
    get_count(r, s, M_REBLOGS, false, &m->reposts, err);
    get_count(r, s, M_REPLIES, false, &m->replies, err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* X / Twitter API v2: stream lines and search responses.             */

enum {
    T_ID, T_TEXT, T_NOTE, T_AUTHOR_ID, T_CREATED, T_LANG, T_LIKES, T_RTS, T_REPLIES,
    T_REF_TYPE, T_REF_ID, T_REPLIED_TO, T_DATA, T_N
};
/* Search responses: each element of data[]. */
static const char *const twitter_fields[T_N] = {
    [T_ID] = "id",
    [T_TEXT] = "text",
    [T_NOTE] = "note_tweet.text", /* long posts: the full text */
    [T_AUTHOR_ID] = "author_id",
    [T_CREATED] = "created_at",
    [T_LANG] = "lang",
    [T_LIKES] = "public_metrics.like_count",
    [T_RTS] = "public_metrics.retweet_count",
    [T_REPLIES] = "public_metrics.reply_count",
    [T_REF_TYPE] = "referenced_tweets[*].type",
    [T_REF_ID] = "referenced_tweets[*].id",
    [T_REPLIED_TO] = "=replied_to",
    [T_DATA] = "=unused",
};
/* Stream lines: the same fields under "data". */
static const char *const twitter_line_fields[T_N] = {
    [T_ID] = "data.id",
    [T_TEXT] = "data.text",
    [T_NOTE] = "data.note_tweet.text",
    [T_AUTHOR_ID] = "data.author_id",
    [T_CREATED] = "data.created_at",
    [T_LANG] = "data.lang",
    [T_LIKES] = "data.public_metrics.like_count",
    [T_RTS] = "data.public_metrics.retweet_count",
    [T_REPLIES] = "data.public_metrics.reply_count",
    [T_REF_TYPE] = "data.referenced_tweets[*].type",
    [T_REF_ID] = "data.referenced_tweets[*].id",
    [T_REPLIED_TO] = "=replied_to",
    [T_DATA] = "data",
};
enum { TU_ID, TU_NAME, TU_FOLLOWERS, TU_N };
static const char *const twitter_aux[TU_N] = {
    "includes.users[*].id",
    "includes.users[*].username",
    "includes.users[*].public_metrics.followers_count",
};
static const es__pair twitter_pair = {"referenced_tweets[*]", T_REF_TYPE, "replied_to", T_REF_ID,
                                      T_REPLIED_TO};
static const es__pair twitter_line_pair = {"data.referenced_tweets[*]", T_REF_TYPE,
                                           "replied_to", T_REF_ID, T_REPLIED_TO};
static const char *const twitter_roots[] = {"data[*]"};
static const char *const twitter_lists[] = {"data"};

static int map_twitter_spec(es__rec *r, int s, es_mention *m, es_error *err)
{
    int rc;
    if ((rc = get_str(r, s, T_ID, id_req(r), NUM_OK, false, &m->id, err)) != 0) {
        return rc;
    }
    m->text = opt_str(r, s, T_NOTE, STR_ONLY);
    if (m->text.ptr == NULL &&
        (rc = get_str(r, s, T_TEXT, REQUIRED, STR_ONLY, false, &m->text, err)) != 0) {
        return rc;
    }
    if ((rc = get_time(r, s, T_CREATED, false, m, err)) != 0) {
        return rc;
    }
    m->lang = opt_str(r, s, T_LANG, STR_ONLY);
    m->reply_to = opt_str(r, s, T_REPLIED_TO, NUM_OK);
    m->source = str_lit("twitter");
    get_count(r, s, T_LIKES, false, &m->likes, err);
    get_count(r, s, T_RTS, false, &m->reposts, err);
    get_count(r, s, T_REPLIES, false, &m->replies, err);
    if (m->id.ptr != NULL) {
        if (es_buf_adds(r->url, "https://x.com/i/web/status/") != 0 ||
            es_buf_add(r->url, m->id.ptr, m->id.len) != 0) {
            return too_big(err);
        }
        m->url = buf_str(r->url);
    }
    /* The username lives in includes.users; the core resolves it. */
    r->want_user = opt_str(r, s, T_AUTHOR_ID, NUM_OK);
    return 0;
}

static int map_twitter(es__rec *r, es_mention *m, es_error *err)
{
    return map_twitter_spec(r, ES__SPEC_TWITTER, m, err);
}

static int map_twitter_line(es__rec *r, es_mention *m, es_error *err)
{
    return map_twitter_spec(r, ES__SPEC_TWITTER_LINE, m, err);
}

int es__aux_user(const es__rec *r, es_str *id, es_str *name, int64_t *followers)
{
    int s = r->slots[ES__SPEC_TWITTER_LINE][T_N] >= 0 ? ES__SPEC_TWITTER_LINE : ES__SPEC_TWITTER;
    *id = opt_str(r, s, T_N + TU_ID, NUM_OK);
    *name = opt_str(r, s, T_N + TU_NAME, STR_ONLY);
    *followers = ES_COUNT_UNKNOWN;
    es_error ignored;
    get_count(r, s, T_N + TU_FOLLOWERS, false, followers, &ignored);
    return id->ptr != NULL && name->ptr != NULL ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Reddit: things {"kind":"t3","data":{...}} in listings, or bare      */
/* post/comment objects (archive dumps).                              */

/* The per-thing fields, in the same order for "data.x" and bare "x". */
enum { RF_NAME, RF_ID, RF_TITLE, RF_SELFTEXT, RF_BODY, RF_AUTHOR, RF_CREATED, RF_SCORE,
       RF_NUM_COMMENTS, RF_PERMALINK, RF_PARENT, RF_SUBREDDIT, RF_N };
enum { R_KIND, R_DATA, R_THING, R_BARE = R_THING + RF_N, R_N = R_BARE + RF_N };
static const char *const reddit_fields[R_N] = {
    [R_KIND] = "kind",
    [R_DATA] = "data",
    [R_THING + RF_NAME] = "data.name",
    [R_THING + RF_ID] = "data.id",
    [R_THING + RF_TITLE] = "data.title",
    [R_THING + RF_SELFTEXT] = "data.selftext",
    [R_THING + RF_BODY] = "data.body",
    [R_THING + RF_AUTHOR] = "data.author",
    [R_THING + RF_CREATED] = "data.created_utc",
    [R_THING + RF_SCORE] = "data.score",
    [R_THING + RF_NUM_COMMENTS] = "data.num_comments",
    [R_THING + RF_PERMALINK] = "data.permalink",
    [R_THING + RF_PARENT] = "data.parent_id",
    [R_THING + RF_SUBREDDIT] = "data.subreddit",
    [R_BARE + RF_NAME] = "name",
    [R_BARE + RF_ID] = "id",
    [R_BARE + RF_TITLE] = "title",
    [R_BARE + RF_SELFTEXT] = "selftext",
    [R_BARE + RF_BODY] = "body",
    [R_BARE + RF_AUTHOR] = "author",
    [R_BARE + RF_CREATED] = "created_utc",
    [R_BARE + RF_SCORE] = "score",
    [R_BARE + RF_NUM_COMMENTS] = "num_comments",
    [R_BARE + RF_PERMALINK] = "permalink",
    [R_BARE + RF_PARENT] = "parent_id",
    [R_BARE + RF_SUBREDDIT] = "subreddit",
};
static const char *const reddit_roots[] = {"", "[*]", "data.children[*]", "[*].data.children[*]"};
static const char *const reddit_lists[] = {"data.children", "[*].data.children"};

static int map_reddit(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_REDDIT;
    int b = R_BARE;
    bool comment;
    es_str kind = opt_str(r, s, R_KIND, STR_ONLY);
    if (kind.ptr != NULL) {
        /* Only posts (t3) and comments (t1) are mentions; a "more" stub,
         * an account or an empty Listing is not, and not an error. */
        if (kind.len != 2 || kind.ptr[0] != 't' || (kind.ptr[1] != '1' && kind.ptr[1] != '3')) {
            return ES__SKIP;
        }
        b = R_THING;
        comment = kind.ptr[1] == '1';
    } else {
        comment = has(r, s, R_BARE + RF_BODY) && !has(r, s, R_BARE + RF_TITLE);
    }
    int rc;
    m->id = opt_str(r, s, b + RF_NAME, STR_ONLY);
    if (m->id.ptr == NULL &&
        (rc = get_str(r, s, b + RF_ID, id_req(r), NUM_OK, false, &m->id, err)) != 0) {
        return rc;
    }
    /* Reddit escapes &, < and > in text unless asked for raw_json. */
    if (comment) {
        es_str body = {NULL, 0};
        if ((rc = get_str(r, s, b + RF_BODY, REQUIRED, STR_ONLY, false, &body, err)) != 0) {
            return rc;
        }
        if (es_html_unescape(r->text, body.ptr, body.len) != 0) {
            return too_big(err);
        }
        m->reply_to = opt_str(r, s, b + RF_PARENT, STR_ONLY);
    } else {
        es_str title = {NULL, 0};
        if ((rc = get_str(r, s, b + RF_TITLE, REQUIRED, STR_ONLY, false, &title, err)) != 0) {
            return rc;
        }
        es_str self = opt_str(r, s, b + RF_SELFTEXT, STR_ONLY);
        if (es_html_unescape(r->text, title.ptr, title.len) != 0 ||
            (self.ptr != NULL && (es_buf_addc(r->text, '\n') != 0 ||
                                  es_html_unescape(r->text, self.ptr, self.len) != 0))) {
            return too_big(err);
        }
    }
    m->text = buf_str(r->text);
    if ((rc = get_time(r, s, b + RF_CREATED, false, m, err)) != 0) {
        return rc;
    }
    m->author = opt_str(r, s, b + RF_AUTHOR, STR_ONLY);
    es_str link = opt_str(r, s, b + RF_PERMALINK, STR_ONLY);
    if (link.ptr != NULL) {
        if ((link.ptr[0] == '/' && es_buf_adds(r->url, "https://www.reddit.com") != 0) ||
            es_buf_add(r->url, link.ptr, link.len) != 0) {
            return too_big(err);
        }
        m->url = buf_str(r->url);
    }
    m->source = str_lit("reddit");
    get_count(r, s, b + RF_SCORE, false, &m->likes, err);
    get_count(r, s, b + RF_NUM_COMMENTS, false, &m->replies, err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Hacker News, Algolia search API hits.                              */

enum { H_ID, H_TITLE, H_STORY, H_COMMENT, H_AUTHOR, H_CREATED_I, H_CREATED, H_POINTS,
       H_NUM_COMMENTS, H_URL, H_PARENT, H_N };
static const char *const hn_fields[H_N] = {
    [H_ID] = "objectID",          [H_TITLE] = "title",         [H_STORY] = "story_text",
    [H_COMMENT] = "comment_text", [H_AUTHOR] = "author",       [H_CREATED_I] = "created_at_i",
    [H_CREATED] = "created_at",   [H_POINTS] = "points",       [H_NUM_COMMENTS] = "num_comments",
    [H_URL] = "url",              [H_PARENT] = "parent_id",
};
static const char *const hn_roots[] = {"", "[*]", "hits[*]"};
static const char *const hn_lists[] = {"hits"};

static int map_hn(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_HN;
    int rc;
    if ((rc = get_str(r, s, H_ID, id_req(r), NUM_OK, false, &m->id, err)) != 0) {
        return rc;
    }
    /* comment_text and story_text are HTML (<p>, &#x27;, links). */
    es_str comment = opt_str(r, s, H_COMMENT, STR_ONLY);
    es_str title = opt_str(r, s, H_TITLE, STR_ONLY);
    es_str story = opt_str(r, s, H_STORY, STR_ONLY);
    if (comment.ptr != NULL) {
        rc = es_html_to_text(r->text, comment.ptr, comment.len);
    } else if (title.ptr != NULL) {
        rc = es_html_unescape(r->text, title.ptr, title.len);
        if (rc == 0 && story.ptr != NULL) {
            rc = es_buf_addc(r->text, '\n');
            if (rc == 0) {
                rc = es_html_to_text(r->text, story.ptr, story.len);
            }
        }
    } else {
        return field_err(err, ES_EFIELD, "missing required field 'title' or 'comment_text'");
    }
    if (rc != 0) {
        return too_big(err);
    }
    m->text = buf_str(r->text);
    /* created_at_i is exact and cheap; created_at is kept as written. */
    if ((rc = get_time(r, s, has(r, s, H_CREATED_I) ? H_CREATED_I : H_CREATED, false, m, err)) !=
        0) {
        return rc;
    }
    es_str written = opt_str(r, s, H_CREATED, STR_ONLY);
    if (written.ptr != NULL && m->created_ms != ES_TIME_UNKNOWN) {
        m->created_at = written;
    }
    m->author = opt_str(r, s, H_AUTHOR, STR_ONLY);
    m->reply_to = opt_str(r, s, H_PARENT, NUM_OK);
    m->url = opt_str(r, s, H_URL, STR_ONLY);
    if (m->url.ptr == NULL && m->id.ptr != NULL) {
        if (es_buf_adds(r->url, "https://news.ycombinator.com/item?id=") != 0 ||
            es_buf_add(r->url, m->id.ptr, m->id.len) != 0) {
            return too_big(err);
        }
        m->url = buf_str(r->url);
    }
    m->source = str_lit("hn");
    get_count(r, s, H_POINTS, false, &m->likes, err);
    get_count(r, s, H_NUM_COMMENTS, false, &m->replies, err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Bluesky: app.bsky.feed.defs#postView (searchPosts "posts").         */

enum { B_URI, B_TEXT, B_CREATED, B_HANDLE, B_DID, B_LIKES, B_REPOSTS, B_REPLIES, B_LANG,
       B_PARENT, B_RECORD, B_INDEXED, B_N };
static const char *const bluesky_fields[B_N] = {
    [B_URI] = "uri",
    [B_TEXT] = "record.text",
    [B_CREATED] = "record.createdAt",
    [B_HANDLE] = "author.handle",
    [B_DID] = "author.did",
    [B_LIKES] = "likeCount",
    [B_REPOSTS] = "repostCount",
    [B_REPLIES] = "replyCount",
    [B_LANG] = "record.langs[0]",
    [B_PARENT] = "record.reply.parent.uri",
    [B_RECORD] = "record",
    [B_INDEXED] = "indexedAt",
};
static const char *const bluesky_roots[] = {"", "[*]", "posts[*]"};
static const char *const bluesky_lists[] = {"posts"};

static int map_bluesky(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_BLUESKY;
    int rc;
    if ((rc = get_str(r, s, B_URI, id_req(r), STR_ONLY, false, &m->id, err)) != 0 ||
        (rc = get_str(r, s, B_TEXT, REQUIRED, STR_ONLY, false, &m->text, err)) != 0 ||
        (rc = get_time(r, s, has(r, s, B_CREATED) ? B_CREATED : B_INDEXED, false, m, err)) != 0) {
        return rc;
    }
    m->author = opt_str(r, s, B_HANDLE, STR_ONLY);
    m->lang = opt_str(r, s, B_LANG, STR_ONLY);
    m->reply_to = opt_str(r, s, B_PARENT, STR_ONLY);
    m->source = str_lit("bluesky");
    get_count(r, s, B_LIKES, false, &m->likes, err);
    get_count(r, s, B_REPOSTS, false, &m->reposts, err);
    get_count(r, s, B_REPLIES, false, &m->replies, err);
    /* at://DID/app.bsky.feed.post/RKEY -> https://bsky.app/profile/WHO/post/RKEY */
    const char *u = m->id.ptr;
    size_t n = m->id.len;
    if (u != NULL && n > 5 && memcmp(u, "at://", 5) == 0) {
        const char *did = u + 5;
        const char *slash = memchr(did, '/', n - 5);
        const char *rkey = u + n;
        while (rkey > u && rkey[-1] != '/') {
            rkey--;
        }
        if (slash != NULL && rkey > slash + 1 && rkey < u + n) {
            es_str who = m->author;
            if (who.ptr == NULL) {
                who.ptr = did;
                who.len = (size_t)(slash - did);
            }
            if (es_buf_adds(r->url, "https://bsky.app/profile/") != 0 ||
                es_buf_add(r->url, who.ptr, who.len) != 0 ||
                es_buf_adds(r->url, "/post/") != 0 ||
                es_buf_add(r->url, rkey, (size_t)(u + n - rkey)) != 0) {
                return too_big(err);
            }
            m->url = buf_str(r->url);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON Feed 1.1 items.                                               */

enum { J_ID, J_TITLE, J_TEXT, J_HTML, J_SUMMARY, J_AUTHORS0, J_AUTHOR, J_PUBLISHED,
       J_MODIFIED, J_URL, J_EXTURL, J_LANG, J_N };
static const char *const jsonfeed_fields[J_N] = {
    [J_ID] = "id",
    [J_TITLE] = "title",
    [J_TEXT] = "content_text",
    [J_HTML] = "content_html",
    [J_SUMMARY] = "summary",
    [J_AUTHORS0] = "authors[0].name",
    [J_AUTHOR] = "author.name", /* JSON Feed 1.0 */
    [J_PUBLISHED] = "date_published",
    [J_MODIFIED] = "date_modified",
    [J_URL] = "url",
    [J_EXTURL] = "external_url",
    [J_LANG] = "language",
};
static const char *const jsonfeed_roots[] = {"", "items[*]"};
static const char *const jsonfeed_lists[] = {"items"};

static int map_jsonfeed(es__rec *r, es_mention *m, es_error *err)
{
    const int s = ES__SPEC_JSONFEED;
    int rc;
    if ((rc = get_str(r, s, J_ID, id_req(r), NUM_OK, false, &m->id, err)) != 0) {
        return rc;
    }
    es_str title = opt_str(r, s, J_TITLE, STR_ONLY);
    es_str text = opt_str(r, s, J_TEXT, STR_ONLY);
    es_str html = opt_str(r, s, J_HTML, STR_ONLY);
    es_str summary = opt_str(r, s, J_SUMMARY, STR_ONLY);
    if (title.ptr == NULL && text.ptr == NULL && html.ptr == NULL && summary.ptr == NULL) {
        return field_err(err, ES_EFIELD, "missing required field 'content_text' or 'content_html'");
    }
    rc = 0;
    if (title.ptr != NULL) {
        rc = es_buf_add(r->text, title.ptr, title.len);
    }
    if (rc == 0 && (text.ptr != NULL || html.ptr != NULL || summary.ptr != NULL)) {
        if (title.ptr != NULL) {
            rc = es_buf_addc(r->text, '\n');
        }
        if (rc == 0) {
            rc = text.ptr != NULL ? es_buf_add(r->text, text.ptr, text.len)
                 : html.ptr != NULL ? es_html_to_text(r->text, html.ptr, html.len)
                                    : es_buf_add(r->text, summary.ptr, summary.len);
        }
    }
    if (rc != 0) {
        return too_big(err);
    }
    m->text = buf_str(r->text);
    if ((rc = get_time(r, s, has(r, s, J_PUBLISHED) ? J_PUBLISHED : J_MODIFIED, false, m, err)) !=
        0) {
        return rc;
    }
    m->author = opt_str(r, s, J_AUTHORS0, STR_ONLY);
    if (m->author.ptr == NULL) {
        m->author = opt_str(r, s, J_AUTHOR, STR_ONLY);
    }
    m->url = opt_str(r, s, J_URL, STR_ONLY);
    if (m->url.ptr == NULL) {
        m->url = opt_str(r, s, J_EXTURL, STR_ONLY);
    }
    m->lang = opt_str(r, s, J_LANG, STR_ONLY);
    m->source = str_lit("jsonfeed");
    return 0;
}

/* ------------------------------------------------------------------ */

const es__spec es__specs[ES__SPEC_COUNT] = {
    [ES__SPEC_EARSHOT] = {.format = ES_FORMAT_EARSHOT, .fields = earshot_fields, .nfields = E_N,
                          .roots = generic_roots, .nroots = COUNT(generic_roots),
                          .map = map_earshot},
    [ES__SPEC_MASTODON] = {.format = ES_FORMAT_MASTODON, .fields = mastodon_fields,
                           .nfields = M_N, .roots = generic_roots,
                           .nroots = COUNT(generic_roots), .map = map_mastodon},
    [ES__SPEC_TWITTER_LINE] = {.format = ES_FORMAT_TWITTER_V2, .fields = twitter_line_fields,
                               .nfields = T_N, .roots = generic_roots, .nroots = 1,
                               .aux_elem = "includes.users[*]", .aux_fields = twitter_aux,
                               .naux = TU_N, .pair = &twitter_line_pair,
                               .map = map_twitter_line},
    [ES__SPEC_TWITTER] = {.format = ES_FORMAT_TWITTER_V2, .fields = twitter_fields,
                          .nfields = T_N, .roots = twitter_roots, .nroots = COUNT(twitter_roots),
                          .lists = twitter_lists, .nlists = COUNT(twitter_lists),
                          .aux_elem = "includes.users[*]", .aux_fields = twitter_aux,
                          .naux = TU_N, .pair = &twitter_pair, .map = map_twitter},
    [ES__SPEC_REDDIT] = {.format = ES_FORMAT_REDDIT, .fields = reddit_fields, .nfields = R_N,
                         .roots = reddit_roots, .nroots = COUNT(reddit_roots),
                         .lists = reddit_lists, .nlists = COUNT(reddit_lists),
                         .map = map_reddit},
    [ES__SPEC_HN] = {.format = ES_FORMAT_HN, .fields = hn_fields, .nfields = H_N,
                     .roots = hn_roots, .nroots = COUNT(hn_roots), .lists = hn_lists,
                     .nlists = COUNT(hn_lists), .map = map_hn},
    [ES__SPEC_BLUESKY] = {.format = ES_FORMAT_BLUESKY, .fields = bluesky_fields,
                          .nfields = B_N, .roots = bluesky_roots,
                          .nroots = COUNT(bluesky_roots), .lists = bluesky_lists,
                          .nlists = COUNT(bluesky_lists), .map = map_bluesky},
    [ES__SPEC_JSONFEED] = {.format = ES_FORMAT_JSONFEED, .fields = jsonfeed_fields,
                           .nfields = J_N, .roots = jsonfeed_roots,
                           .nroots = COUNT(jsonfeed_roots), .lists = jsonfeed_lists,
                           .nlists = COUNT(jsonfeed_lists), .map = map_jsonfeed},
};

/*
 * Auto detection, for a record found where several formats could sit (an
 * NDJSON line, an element of a top-level array). Records inside a known
 * document list (hits[], posts[], ...) never get here: their place says
 * what they are. Our own "text" field wins, so an earshot mention with
 * extra fields is never mistaken for a platform object.
 */
int es__detect(const es__rec *r, uint32_t mask)
{
#define HAS(s, f) ((mask & (1u << (s))) && has(r, (s), (f)))
    if (HAS(ES__SPEC_EARSHOT, E_TEXT)) {
        return ES__SPEC_EARSHOT;
    }
    if (HAS(ES__SPEC_HN, H_ID)) {
        return ES__SPEC_HN;
    }
    if (HAS(ES__SPEC_BLUESKY, B_RECORD) && HAS(ES__SPEC_BLUESKY, B_URI)) {
        return ES__SPEC_BLUESKY;
    }
    if (HAS(ES__SPEC_MASTODON, M_CONTENT) && HAS(ES__SPEC_MASTODON, M_ACCOUNT)) {
        return ES__SPEC_MASTODON;
    }
    if (HAS(ES__SPEC_REDDIT, R_KIND) && HAS(ES__SPEC_REDDIT, R_DATA)) {
        return ES__SPEC_REDDIT;
    }
    if (HAS(ES__SPEC_TWITTER_LINE, T_DATA)) {
        return ES__SPEC_TWITTER_LINE;
    }
    if (HAS(ES__SPEC_JSONFEED, J_TEXT) || HAS(ES__SPEC_JSONFEED, J_HTML)) {
        return ES__SPEC_JSONFEED;
    }
    if (HAS(ES__SPEC_REDDIT, R_BARE + RF_SUBREDDIT)) {
        return ES__SPEC_REDDIT;
    }
#undef HAS
    if (mask & (1u << ES__SPEC_EARSHOT)) {
        return ES__SPEC_EARSHOT;
    }
    for (int s = 0; s < ES__SPEC_COUNT; s++) {
        if (mask & (1u << s)) {
            return s;
        }
    }
    return ES__SPEC_EARSHOT;
}
