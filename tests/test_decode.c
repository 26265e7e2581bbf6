/*
 * Decoders: platform JSON and plain lines -> mentions, through the public
 * es_decoder API, and the mention JSON encoder. Fixtures are in
 * tests/fixtures/decode/, one per platform, in each platform's documented
 * shape (fictional content).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "earshot.h"
#include "earshot/decode.h"
#include "html.h"
#include "mention_json.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* A sink that records everything as text, so results compare simply.  */

typedef struct got {
    es_buf log;   /* one line per mention ("M line json") or error ("E line col msg") */
    int mentions;
    int errors;
    int stop_after; /* return 1 from on_mention after this many; 0 = never */
} got;

static int on_mention(void *ud, const es_mention *m, uint64_t line)
{
    got *g = ud;
    es_buf_printf(&g->log, "M %llu ", (unsigned long long)line);
    assert_int_equal(es_mention_write_json(m, &g->log, NULL, 0), 0);
    /* The encoder never shows created_ms; keep it comparable. */
    es_buf_printf(&g->log, " ms=%lld\n", (long long)m->created_ms);
    g->mentions++;
    return g->stop_after > 0 && g->mentions >= g->stop_after;
}

static void on_error(void *ud, const es_error *e)
{
    got *g = ud;
    es_buf_printf(&g->log, "E %d %d %s\n", e->line, e->col, e->msg);
    g->errors++;
}

static void got_init(got *g)
{
    memset(g, 0, sizeof *g);
    es_buf_init(&g->log, (size_t)64 << 20);
    es_buf_adds(&g->log, "");
}

/* Decode `in` fed in chunks of `chunk` bytes (0 = all at once). */
static es_decode_stats decode_ex(got *g, es_format f, unsigned flags, size_t max_record,
                                 size_t max_depth, const char *in, size_t n, size_t chunk)
{
    es_decoder_opts o = {.format = f, .flags = flags, .max_record = max_record,
                         .max_depth = max_depth, .on_mention = on_mention,
                         .on_error = on_error, .ud = g};
    es_decoder *d;
    assert_int_equal(es_decoder_new(&o, &d), 0);
    if (chunk == 0) {
        chunk = n ? n : 1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += chunk) {
        rc = es_decoder_feed(d, in + i, n - i < chunk ? n - i : chunk);
    }
    if (rc == 0) {
        rc = es_decoder_finish(d);
    }
    es_decode_stats st;
    es_decoder_stats(d, &st);
    es_decoder_free(d);
    return st;
}

static es_decode_stats decode(got *g, es_format f, const char *in, size_t chunk)
{
    return decode_ex(g, f, 0, 0, 0, in, strlen(in), chunk);
}

static char *fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/decode/%s", ES_TEST_FIXTURES, name);
    char *s = es_test_read_file(path, len);
    assert_non_null(s);
    return s;
}

static void assert_has(const got *g, const char *needle)
{
    if (strstr(g->log.data, needle) == NULL) {
        fail_msg("expected to find\n  %s\nin\n%s", needle, g->log.data);
    }
}

static void assert_lacks(const got *g, const char *needle)
{
    if (strstr(g->log.data, needle) != NULL) {
        fail_msg("did not expect\n  %s\nin\n%s", needle, g->log.data);
    }
}

/* ------------------------------------------------------------------ */
/* earshot                                                            */

static void test_earshot_fixture(void **state)
{
    (void)state;
    size_t n;
    char *in = fixture("earshot.jsonl", &n);
    got g;
    got_init(&g);
    es_decode_stats st = decode_ex(&g, ES_FORMAT_EARSHOT, 0, 0, 0, in, n, 0);
    /* Every field, and the unknown "campaign" member passed through. */
    assert_has(&g, "M 1 {\"id\":\"1001\",\"created_at\":\"2015-02-24T11:35:52-08:00\","
                   "\"text\":\"@acmeair lost my bag again\",\"author\":\"jdoe\","
                   "\"source\":\"twitter\",\"url\":\"https://example.com/s/1001\","
                   "\"lang\":\"en\",\"followers\":120,\"likes\":0,\"reposts\":3,"
                   "\"replies\":1,\"reply_to\":\"1000\","
                   "\"campaign\": {\"tag\": \"spring\", \"ids\": [1, 2]}} ms=1424806552000");
    /* A numeric id and epoch-seconds time. */
    assert_has(&g, "M 2 {\"id\":\"1002\",\"created_at\":\"2015-02-24T19:35:52Z\"");
    assert_has(&g, "ms=1424806552000\n");
    /* The truncated line 3 is reported and does not take line 4 with it. */
    assert_has(&g, "E 3 0 invalid JSON: the value is cut short (line 4 starts a new one)");
    assert_has(&g, "M 4 {\"id\":\"1004\"");
    assert_has(&g, "E 5 1 invalid JSON at column 1: ");
    assert_has(&g, "E 6 0 missing required field 'text'");
    assert_has(&g, "E 7 0 'text' is not a string");
    /* The last line has no newline. */
    assert_has(&g, "M 9 {\"id\":\"1009\",\"text\":\"last one, no newline\",\"likes\":7}");
    assert_int_equal(st.mentions, 4);
    assert_int_equal(st.bad, 4);
    assert_int_equal(st.records, 8);
    es_buf_free(&g.log);
    free(in);
}

static void test_earshot_types(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_EARSHOT,
           "{\"id\":\"1\",\"text\":\"a\",\"likes\":\"3\"}\n"
           "{\"id\":\"2\",\"text\":\"a\",\"likes\":-1}\n"
           "{\"id\":\"3\",\"text\":\"a\",\"likes\":1e400}\n"
           "{\"id\":\"4\",\"text\":\"a\",\"followers\":99999999999999999999}\n"
           "{\"id\":\"5\",\"text\":\"a\",\"followers\":120.0,\"likes\":null}\n"
           "{\"id\":123456789012345678901234567890,\"text\":\"big id\"}\n"
           "{\"id\":{\"x\":1},\"text\":\"a\"}\n"
           "{\"id\":\"8\",\"text\":\"a\",\"created_at\":\"yesterday\"}\n"
           "{\"id\":\"9\",\"text\":\"a\",\"author\":[\"x\"]}\n"
           "{\"id\":\"10\",\"text\":null}\n",
           0);
    assert_has(&g, "E 1 0 'likes' is not a number");
    assert_has(&g, "E 2 0 'likes' must be a whole number");
    assert_has(&g, "E 3 0 'likes' must be a whole number");
    assert_has(&g, "E 4 0 'followers' must be a whole number");
    assert_has(&g, "M 5 {\"id\":\"5\",\"text\":\"a\",\"followers\":120}");
    assert_has(&g, "M 6 {\"id\":\"123456789012345678901234567890\",\"text\":\"big id\"}");
    assert_has(&g, "E 7 0 'id' is not a string or number");
    assert_has(&g, "E 8 0 'created_at' is not a valid time: \"yesterday\"");
    assert_has(&g, "E 9 0 'author' is not a string");
    assert_has(&g, "E 10 0 'text' is not a string");
    assert_int_equal(g.mentions, 2);
    es_buf_free(&g.log);
}

static void test_flags(void **state)
{
    (void)state;
    const char *in = "{\"text\":\"no id\"}\n{\"id\":\"2\",\"text\":\"no time\"}\n";
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, 0, 0, 0, in, strlen(in), 0);
    assert_has(&g, "E 1 0 missing required field 'id'");
    assert_has(&g, "M 2 ");
    es_buf_free(&g.log);

    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, ES_DECODE_ID_OPTIONAL, 0, 0, in, strlen(in), 0);
    assert_has(&g, "M 1 {\"text\":\"no id\"}");
    es_buf_free(&g.log);

    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, ES_DECODE_REQUIRE_TIME | ES_DECODE_ID_OPTIONAL, 0, 0, in,
              strlen(in), 0);
    assert_has(&g, "E 1 0 missing required field 'created_at'");
    assert_has(&g, "E 2 0 missing required field 'created_at'");
    assert_int_equal(g.mentions, 0);
    es_buf_free(&g.log);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_EARSHOT,
           "{\"id\":\"1\",\"text\":\"first\",\"text\":\"second\",\"x\":1,\"x\":2}\n", 0);
    /* The last value wins, and the output has each contract key once. */
    assert_has(&g, "M 1 {\"id\":\"1\",\"text\":\"second\",\"x\":1,\"x\":2}");
    es_buf_free(&g.log);
}

static void test_syntax_error_column(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_EARSHOT, "{\"id\":\"1\",\"text\":x}\n{\"id\":\"2\",\"text\":\"ok\"}\n", 0);
    assert_has(&g, "E 1 18 invalid JSON at column 18: lexical error: invalid char in json text");
    assert_has(&g, "M 2 {\"id\":\"2\"");
    es_buf_free(&g.log);
}

static void test_top_level_shapes(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_AUTO,
           "42\n"
           "\"str\"\n"
           "[{\"id\":\"a\",\"text\":\"in an array\"}, 7, {\"id\":\"b\",\"text\":\"two\"}]\n"
           "[\n{\"id\":\"c\",\"text\":\"layout\"},\n{\"id\":\"d\",\"text\":\"layout 2\"}\n]\n"
           "{\"id\":\"e\",\"text\":\"x\"} {\"id\":\"f\",\"text\":\"same line\"}\n"
           "   \n\n"
           "{\"id\":\"g\",\"text\":\"custom list\",\"items\":[\"a\",1],\"hits\":[]}\n",
           0);
    assert_has(&g, "M 11 {\"id\":\"g\",\"text\":\"custom list\",\"items\":[\"a\",1],\"hits\":[]}");
    assert_has(&g, "E 1 0 expected a JSON object, found a number");
    assert_has(&g, "E 2 0 expected a JSON object, found a string");
    assert_has(&g, "M 3 {\"id\":\"a\"");
    assert_has(&g, "E 3 0 expected a JSON object for a record, found a number");
    assert_has(&g, "M 3 {\"id\":\"b\"");
    assert_has(&g, "M 5 {\"id\":\"c\"");
    assert_has(&g, "M 6 {\"id\":\"d\"");
    assert_has(&g, "M 8 {\"id\":\"e\"");
    assert_has(&g, "M 8 {\"id\":\"f\"");
    assert_int_equal(g.mentions, 7);
    assert_int_equal(g.errors, 3);
    es_buf_free(&g.log);
}

static void test_truncated_at_end(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_AUTO, "{\"id\":\"1\",\"text\":\"ok\"}\n{\"hits\":[{\"objectID\":\"9\",", 0);
    assert_has(&g, "M 1 ");
    assert_has(&g, "E 2 ");
    assert_has(&g, "input ends inside a value");
    es_buf_free(&g.log);
}

static void test_bom_and_crlf(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_EARSHOT,
           "\xEF\xBB\xBF{\"id\":\"1\",\"text\":\"bom\"}\r\n{\"id\":\"2\",\"text\":\"crlf\"}\r\n", 1);
    assert_has(&g, "M 1 {\"id\":\"1\",\"text\":\"bom\"}");
    assert_has(&g, "M 2 {\"id\":\"2\",\"text\":\"crlf\"}");
    assert_int_equal(g.errors, 0);
    es_buf_free(&g.log);
}

/* ------------------------------------------------------------------ */
/* Limits and hostile bytes.                                          */

static void test_max_record(void **state)
{
    (void)state;
    es_buf in;
    es_buf_init(&in, (size_t)1 << 24);
    es_buf_adds(&in, "{\"id\":\"1\",\"text\":\"small\"}\n{\"id\":\"2\",\"text\":\"");
    for (int i = 0; i < 5000; i++) {
        es_buf_adds(&in, "xxxxxxxxxx");
    }
    es_buf_adds(&in, "\"}\n{\"id\":\"3\",\"text\":\"after\"}\n");
    for (size_t chunk = 0; chunk <= 4096; chunk += 4096) {
        got g;
        got_init(&g);
        decode_ex(&g, ES_FORMAT_EARSHOT, 0, 1000, 0, in.data, in.len, chunk);
        assert_has(&g, "M 1 ");
        assert_has(&g, "E 2 ");
        assert_has(&g, "record exceeds 1000 bytes");
        assert_has(&g, "M 3 {\"id\":\"3\",\"text\":\"after\"}");
        assert_int_equal(g.errors, 1);
        es_buf_free(&g.log);
    }
    es_buf_free(&in);
}

/* A whole document on one line, far larger than max_record, whose records
 * are small: it streams, and every record comes out. */
static void test_long_line_document(void **state)
{
    (void)state;
    es_buf in;
    es_buf_init(&in, (size_t)1 << 24);
    es_buf_adds(&in, "{\"hits\":[");
    for (int i = 0; i < 3000; i++) {
        es_buf_printf(&in, "%s{\"objectID\":\"%d\",\"title\":\"story %d\",\"author\":\"a\"}",
                      i ? "," : "", i, i);
    }
    es_buf_adds(&in, "],\"nbHits\":3000}\n{\"id\":\"next\",\"text\":\"line 2\"}\n");
    got g;
    got_init(&g);
    es_decode_stats st = decode_ex(&g, ES_FORMAT_AUTO, 0, 2048, 0, in.data, in.len, 777);
    assert_int_equal(st.mentions, 3001);
    assert_int_equal(st.bad, 0);
    assert_has(&g, "M 1 {\"id\":\"2999\",\"text\":\"story 2999\"");
    assert_has(&g, "M 2 {\"id\":\"next\"");
    es_buf_free(&g.log);
    es_buf_free(&in);
}

static void test_huge_token_on_long_line(void **state)
{
    (void)state;
    es_buf in;
    es_buf_init(&in, (size_t)1 << 24);
    es_buf_adds(&in, "{\"hits\":[{\"objectID\":\"1\",\"title\":\"");
    for (int i = 0; i < 100000; i++) {
        es_buf_adds(&in, "yyyyyyyyyy");
    }
    es_buf_adds(&in, "\"}]}\n{\"id\":\"2\",\"text\":\"fine\"}\n");
    /* The same whether the long line arrives whole or in pieces. */
    got first;
    got_init(&first);
    decode_ex(&first, ES_FORMAT_AUTO, 0, 4096, 0, in.data, in.len, 0);
    assert_has(&first, "E 1 34 record exceeds 4096 bytes");
    assert_has(&first, "M 2 {\"id\":\"2\",\"text\":\"fine\"}");
    static const size_t chunks[] = {1000, 4096, 65536};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        got g;
        got_init(&g);
        decode_ex(&g, ES_FORMAT_AUTO, 0, 4096, 0, in.data, in.len, chunks[c]);
        assert_string_equal(g.log.data, first.log.data);
        es_buf_free(&g.log);
    }
    es_buf_free(&first.log);
    es_buf_free(&in);
}

static void test_max_depth(void **state)
{
    (void)state;
    es_buf in;
    es_buf_init(&in, 1 << 20);
    es_buf_adds(&in, "{\"id\":\"1\",\"text\":\"deep\",\"x\":");
    for (int i = 0; i < 100; i++) {
        es_buf_addc(&in, '[');
    }
    for (int i = 0; i < 100; i++) {
        es_buf_addc(&in, ']');
    }
    es_buf_adds(&in, "}\n{\"id\":\"2\",\"text\":\"shallow\",\"x\":[[[[1]]]]}\n");
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, 0, 0, 32, in.data, in.len, 0);
    assert_has(&g, "E 1 ");
    assert_has(&g, "nesting deeper than 32 levels");
    assert_has(&g, "M 2 {\"id\":\"2\",\"text\":\"shallow\",\"x\":[[[[1]]]]}");
    es_buf_free(&g.log);
    es_buf_free(&in);
}

static void test_invalid_utf8_and_nul(void **state)
{
    (void)state;
    static const char in[] = "{\"id\":\"1\",\"text\":\"bad \xC3\x28 byte \xFF end\",\"extra\":\"\xFE\"}\n"
                             "{\"id\":\"2\",\"text\":\"nul \\u0000 escaped\"}\n"
                             "{\"id\":\"3\",\"text\":\"raw nul \0 byte\"}\n"
                             "{\"id\":\"4\",\"text\":\"after\"}\n";
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, 0, 0, 0, in, sizeof in - 1, 0);
    /* Replaced by U+FFFD, in known and passed-through fields alike. */
    assert_has(&g, "M 1 {\"id\":\"1\",\"text\":\"bad \xEF\xBF\xBD( byte \xEF\xBF\xBD end\","
                   "\"extra\":\"\xEF\xBF\xBD\"}");
    /* An escaped NUL is text; the encoder writes it escaped again. */
    assert_has(&g, "M 2 {\"id\":\"2\",\"text\":\"nul \\u0000 escaped\"}");
    /* A raw NUL byte is not JSON. */
    assert_has(&g, "E 3 ");
    assert_has(&g, "M 4 {\"id\":\"4\"");
    es_buf_free(&g.log);
}

/* ------------------------------------------------------------------ */
/* Chunking never changes the result.                                 */

static void test_chunking(void **state)
{
    (void)state;
    static const char *const files[] = {
        "earshot.jsonl",     "mastodon.jsonl",       "mastodon_timeline.json", "twitter_stream.jsonl",
        "twitter_search.json", "reddit_listing.json", "reddit_comments.json",   "hn.json",
        "bluesky.json",      "jsonfeed.json",
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        char *in = fixture(files[f], &n);
        got whole;
        got_init(&whole);
        decode_ex(&whole, ES_FORMAT_AUTO, 0, 0, 0, in, n, 0);
        assert_true(whole.mentions > 0);
        static const size_t chunks[] = {1, 2, 3, 7, 64, 1000};
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            got part;
            got_init(&part);
            decode_ex(&part, ES_FORMAT_AUTO, 0, 0, 0, in, n, chunks[c]);
            if (strcmp(whole.log.data, part.log.data) != 0) {
                fail_msg("%s fed in %zu-byte chunks differs:\n%s\n---\n%s", files[f], chunks[c],
                         whole.log.data, part.log.data);
            }
            es_buf_free(&part.log);
        }
        es_buf_free(&whole.log);
        free(in);
    }
}

static void test_stop(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    g.stop_after = 2;
    es_decoder_opts o = {.format = ES_FORMAT_EARSHOT, .on_mention = on_mention,
                         .on_error = on_error, .ud = &g};
    es_decoder *d;
    assert_int_equal(es_decoder_new(&o, &d), 0);
    const char *in = "{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"b\"}\n"
                     "{\"id\":\"3\",\"text\":\"c\"}\n";
    assert_int_equal(es_decoder_feed(d, in, strlen(in)), 1);
    assert_int_equal(es_decoder_feed(d, in, strlen(in)), 1);
    assert_int_equal(g.mentions, 2);
    es_decoder_free(d);
    es_buf_free(&g.log);
}

/* ------------------------------------------------------------------ */
/* Platforms: each fixture with its explicit format and with auto.     */

static void platform(const char *file, es_format f, const char *const *expect, int mentions,
                     int errors)
{
    size_t n;
    char *in = fixture(file, &n);
    es_format fs[2] = {f, ES_FORMAT_AUTO};
    for (int k = 0; k < 2; k++) {
        got g;
        got_init(&g);
        decode_ex(&g, fs[k], 0, 0, 0, in, n, 0);
        for (const char *const *e = expect; *e != NULL; e++) {
            assert_has(&g, *e);
        }
        assert_int_equal(g.mentions, mentions);
        assert_int_equal(g.errors, errors);
        es_buf_free(&g.log);
    }
    free(in);
}

static void test_mastodon(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 1 {\"id\":\"113200000000000001\",\"created_at\":\"2026-11-20T09:15:02.000Z\","
        "\"text\":\"Three hours on hold with @acmeair & still no refund. Details: "
        "https://blog.example/posts/acme-refund-saga\\n\\nNever again.\\nSeriously.\","
        "\"author\":\"marta@social.example\",\"source\":\"mastodon\","
        "\"url\":\"https://social.example/@marta/113200000000000001\",\"lang\":\"en\","
        "\"followers\":1843,\"likes\":11,\"reposts\":5,\"replies\":2}",
        /* spoiler text first; entities decoded (&#8211; &quot; &szlig; &#x1F62D;) */
        "\"text\":\"airline rant\\n\\nGleiches hier \xE2\x80\x93 \\\"bald\\\" hei\xC3\x9F" "t bei "
        "denen nie \xF0\x9F\x98\xAD\"",
        "\"reply_to\":\"113200000000000001\"",
        "E 3 0 invalid JSON: the value is cut short (line 4 starts a new one)",
        /* no url: the uri stands in; language null is absent */
        "M 4 {\"id\":\"113200000000000004\",\"created_at\":\"2026-11-20T09:18:00.000Z\","
        "\"text\":\"no url, only uri <3\",\"author\":\"kim@other.example\","
        "\"source\":\"mastodon\",\"url\":\"https://other.example/notes/abc\",\"followers\":5}",
        NULL};
    platform("mastodon.jsonl", ES_FORMAT_MASTODON, e, 3, 1);
    static const char *const t[] = {
        "M 2 {\"id\":\"113200000000000010\"", "\"text\":\"Flight AC12 delayed again, #acmefail\"",
        "M 14 {\"id\":\"113200000000000011\"", NULL};
    platform("mastodon_timeline.json", ES_FORMAT_MASTODON, t, 2, 0);
}

static void test_twitter(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 1 {\"id\":\"1860000000000000001\",\"created_at\":\"2026-11-20T12:00:01.000Z\","
        "\"text\":\"@AcmeAir my flight got cancelled and nobody at the desk\","
        "\"author\":\"rae_travels\",\"source\":\"twitter\","
        "\"url\":\"https://x.com/i/web/status/1860000000000000001\",\"lang\":\"en\","
        "\"followers\":5821,\"likes\":9,\"reposts\":4,\"replies\":1}",
        /* replied_to picked out of referenced_tweets, not the quoted one */
        "\"author\":\"kofi\"", "\"followers\":44", "\"reply_to\":\"1860000000000000001\"", NULL};
    platform("twitter_stream.jsonl", ES_FORMAT_TWITTER_V2, e, 2, 0);
    /* Search: tweets come before includes.users, are held back, resolved,
     * and still come out in input order. */
    static const char *const s[] = {
        "M 3 {\"id\":\"1860000000000000101\",\"created_at\":\"2026-11-19T08:00:00.000Z\","
        "\"text\":\"Is @AcmeAir wifi ever going to work?\",\"author\":\"ana_k\"",
        "M 11 {\"id\":\"1860000000000000102\",\"created_at\":\"2026-11-19T08:05:00.000Z\","
        "\"text\":\"Loved the new lounge @AcmeAir, the staff remembered my name and the coffee "
        "was great. Long post continues here.\",\"author\":\"benflies\"",
        "\"followers\":98000",
        "M 20 {\"id\":\"1860000000000000103\",\"created_at\":\"2026-11-19T08:06:00.000Z\","
        "\"text\":\"no user for this one\",\"source\":\"twitter\"",
        NULL};
    platform("twitter_search.json", ES_FORMAT_TWITTER_V2, s, 3, 0);
    size_t n;
    char *in = fixture("twitter_search.json", &n);
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_TWITTER_V2, 0, 0, 0, in, n, 0);
    char *a = strstr(g.log.data, "M 3 "), *b = strstr(g.log.data, "M 11 "),
         *c = strstr(g.log.data, "M 20 ");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
    es_buf_free(&g.log);
    free(in);
}

static void test_reddit(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 8 {\"id\":\"t3_1gx0001\",\"created_at\":\"2025-11-20T12:00:00Z\","
        "\"text\":\"AcmeAir changed my seat > twice\\nBooked through their app, paid for a seat "
        "& got moved anyway. Anyone had luck with a refund?\",\"author\":\"throwaway_flyer\","
        "\"source\":\"reddit\",\"url\":\"https://www.reddit.com/r/travel/comments/1gx0001/"
        "acmeair_changed_my_seat_twice/\",\"likes\":57,\"replies\":23} ms=1763640000000",
        /* negative score clamps to 0; empty selftext adds nothing */
        "M 27 {\"id\":\"t3_1gx0002\"", "\"text\":\"Link post, no selftext\"", "\"likes\":0",
        "ms=1763640100500",
        "E 41 0 missing required field 'data.title'", NULL};
    platform("reddit_listing.json", ES_FORMAT_REDDIT, e, 2, 1);
    static const char *const c[] = {
        "M 1 {\"id\":\"t3_1gx0001\"",
        "M 2 {\"id\":\"t1_lq00001\",\"created_at\":\"2025-11-20T12:16:40Z\","
        "\"text\":\"Same thing happened to me, they gave a voucher after I complained\","
        "\"author\":\"helpful_hank\",\"source\":\"reddit\","
        "\"url\":\"https://www.reddit.com/r/travel/comments/1gx0001/x/lq00001/\",\"likes\":12,"
        "\"reply_to\":\"t3_1gx0001\"}",
        NULL};
    /* The "more" stub is neither a mention nor an error. */
    platform("reddit_comments.json", ES_FORMAT_REDDIT, c, 2, 0);
}

static void test_hn(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 3 {\"id\":\"41000001\",\"created_at\":\"2026-11-18T14:03:11Z\","
        "\"text\":\"AcmeAir's booking API leaked PNRs\",\"author\":\"pgx\",\"source\":\"hn\","
        "\"url\":\"https://news.example.com/acmeair-pnr-leak\",\"likes\":312,\"replies\":88}",
        "M 16 {\"id\":\"41000017\",\"created_at\":\"2026-11-18T15:10:00Z\","
        "\"text\":\"I've flown them for years.\\n\\nThis is the third incident & they still "
        "haven't responded.\",\"author\":\"rdm\",\"source\":\"hn\","
        "\"url\":\"https://news.ycombinator.com/item?id=41000017\",\"reply_to\":\"41000001\"}",
        "M 28 {\"id\":\"41000020\",\"created_at\":\"2025-11-18T15:33:20Z\","
        "\"text\":\"Ask HN: Best airline for remote workers?\\nLooking for reliable wifi.\\n\\n"
        "Any tips?\"",
        NULL};
    platform("hn.json", ES_FORMAT_HN, e, 3, 0);
}

static void test_bluesky(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 5 {\"id\":\"at://did:plc:abc123xyz/app.bsky.feed.post/3lbqxyz2k2c2a\","
        "\"created_at\":\"2026-11-21T07:45:00.123Z\",\"text\":\"@acmeair.bsky.social my bag "
        "arrived 3 days late, still waiting on compensation\",\"author\":\"nora.bsky.social\","
        "\"source\":\"bluesky\",\"url\":\"https://bsky.app/profile/nora.bsky.social/post/"
        "3lbqxyz2k2c2a\",\"lang\":\"en\",\"likes\":14,\"reposts\":2,\"replies\":0,"
        "\"reply_to\":\"at://did:plc:root999/app.bsky.feed.post/3lbqroot000a\"}",
        /* no handle: the DID makes the profile URL */
        "\"url\":\"https://bsky.app/profile/did:plc:def456/post/3lbqabc9999\"", NULL};
    platform("bluesky.json", ES_FORMAT_BLUESKY, e, 2, 0);
}

static void test_jsonfeed(void **state)
{
    (void)state;
    static const char *const e[] = {
        "M 8 {\"id\":\"https://flyer.example/2026/11/acme-lounge\","
        "\"created_at\":\"2026-11-15T09:00:00-05:00\",\"text\":\"AcmeAir's new lounge\\nThe "
        "lounge is excellent \xE2\x80\x94 quiet, clean.\\n\\nGood coffee\\nFast wifi\","
        "\"author\":\"Quinn\",\"source\":\"jsonfeed\","
        "\"url\":\"https://flyer.example/2026/11/acme-lounge\"}",
        "M 17 {\"id\":\"2\",\"created_at\":\"2026-11-16T10:00:00Z\",\"text\":\"Short note: "
        "@acmeair refunded me within a week.\",\"author\":\"Old Style Author\"",
        "E 23 0 missing required field 'content_text' or 'content_html'", NULL};
    platform("jsonfeed.json", ES_FORMAT_JSONFEED, e, 2, 1);
}

/* A platform object given the wrong explicit format is a clear error. */
static void test_wrong_format(void **state)
{
    (void)state;
    size_t n;
    char *in = fixture("mastodon.jsonl", &n);
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_EARSHOT, 0, 0, 0, in, n, 0);
    assert_int_equal(g.mentions, 0);
    assert_has(&g, "E 1 0 missing required field 'text'");
    es_buf_free(&g.log);
    free(in);
    got_init(&g);
    decode(&g, ES_FORMAT_AUTO, "{\"hits\":[]}\n{\"kind\":\"Listing\",\"data\":{\"children\":[]}}\n", 0);
    /* Empty containers are neither mentions nor errors. */
    assert_int_equal(g.mentions, 0);
    assert_int_equal(g.errors, 0);
    es_buf_free(&g.log);
}

/* A pretty-printed earshot record still gives one-line output, and its
 * unknown nested member keeps its content. */
static void test_pretty_pass_through(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode(&g, ES_FORMAT_EARSHOT,
           "[\n  {\n    \"id\": \"1\",\n    \"text\": \"hi\",\n    \"meta\": {\n"
           "      \"tags\": [\"a b\", 2]\n    }\n  }\n]\n",
           0);
    assert_has(&g, "M 2 {\"id\":\"1\",\"text\":\"hi\",\"meta\":{\"tags\":[\"a b\",2]}} ms=");
    es_buf_free(&g.log);
}

static void test_platform_flags_and_boosts(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    decode_ex(&g, ES_FORMAT_HN, ES_DECODE_ID_OPTIONAL, 0, 0, "{\"title\":\"no id\"}\n", 19, 0);
    assert_has(&g, "M 1 {\"text\":\"no id\",\"source\":\"hn\"}");
    es_buf_free(&g.log);

    got_init(&g);
    decode(&g, ES_FORMAT_MASTODON,
           "{\"id\":\"9\",\"content\":\"\",\"account\":{\"acct\":\"b\"},"
           "\"reblog\":{\"id\":\"1\",\"content\":\"<p>orig</p>\"}}\n"
           "{\"id\":\"10\",\"content\":\"<p>own</p>\",\"reblog\":null,\"account\":{}}\n",
           0);
    /* The boost is neither a mention nor an error. */
    assert_int_equal(g.mentions, 1);
    assert_int_equal(g.errors, 0);
    assert_has(&g, "M 2 {\"id\":\"10\",\"text\":\"own\"");
    es_buf_free(&g.log);
}

/* ------------------------------------------------------------------ */
/* plain                                                              */

static void test_plain(void **state)
{
    (void)state;
    got g;
    got_init(&g);
    es_decode_stats st = decode(&g, ES_FORMAT_PLAIN,
                                "first line\r\n\n{\"not\":\"parsed\"}\nbad \xFF byte\nno newline", 3);
    assert_has(&g, "M 1 {\"id\":\"1\",\"text\":\"first line\"}");
    assert_has(&g, "M 3 {\"id\":\"3\",\"text\":\"{\\\"not\\\":\\\"parsed\\\"}\"}");
    assert_has(&g, "M 4 {\"id\":\"4\",\"text\":\"bad \xEF\xBF\xBD byte\"}");
    assert_has(&g, "M 5 {\"id\":\"5\",\"text\":\"no newline\"}");
    assert_int_equal(st.mentions, 4);
    assert_int_equal(st.bad, 0);
    es_buf_free(&g.log);

    got_init(&g);
    es_buf in;
    es_buf_init(&in, 1 << 20);
    es_buf_adds(&in, "short\n");
    for (int i = 0; i < 300; i++) {
        es_buf_adds(&in, "long line ");
    }
    es_buf_adds(&in, "\nafter\n");
    decode_ex(&g, ES_FORMAT_PLAIN, 0, 1000, 0, in.data, in.len, 100);
    assert_has(&g, "M 1 {\"id\":\"1\",\"text\":\"short\"}");
    assert_has(&g, "E 2 0 record exceeds 1000 bytes");
    assert_has(&g, "M 3 {\"id\":\"3\",\"text\":\"after\"}");
    es_buf_free(&in);
    es_buf_free(&g.log);
}

static void test_format_names(void **state)
{
    (void)state;
    for (int f = ES_FORMAT_AUTO; f <= ES_FORMAT_PLAIN; f++) {
        es_format back;
        assert_int_equal(es_format_parse(es_format_name((es_format)f), &back), 0);
        assert_int_equal((int)back, f);
    }
    es_format x;
    assert_int_equal(es_format_parse("twitter", &x), ES_EINVAL);
    assert_int_equal(es_format_parse("twitter-v2", &x), 0);
    assert_int_equal(x, ES_FORMAT_TWITTER_V2);
    es_decoder *d;
    es_decoder_opts o = {.format = ES_FORMAT_AUTO};
    assert_int_equal(es_decoder_new(&o, &d), ES_EINVAL); /* no on_mention */
}

/* ------------------------------------------------------------------ */
/* mention_json                                                       */

static void test_write_json(void **state)
{
    (void)state;
    es_mention m;
    es_mention_clear(&m);
    es_buf out;
    es_buf_init(&out, 4096);
    assert_int_equal(es_mention_write_earshot(&m, &out), 0);
    assert_string_equal(out.data, "{}");

    m.id = (es_str){"7", 1};
    m.text = (es_str){"he said \"hi\"\n", 13};
    m.created_ms = 1424806552000;
    m.likes = 0;
    m.raw = (es_str){"{\"id\":7, \"keep\" : [1,{\"a\":\"}\"}] ,\"sentiment\":{\"old\":1},"
                     "\"t\\u0065xt\":\"dup\"}",
                     0};
    m.raw.len = strlen(m.raw.ptr);
    es_buf_reset(&out);
    const char *extra = ",\"sentiment\":{\"compound\":0.5},\"intent\":\"praise\"";
    assert_int_equal(es_mention_write_json(&m, &out, extra, strlen(extra)), 0);
    assert_string_equal(out.data,
                        "{\"id\":\"7\",\"created_at\":\"2015-02-24T19:35:52Z\","
                        "\"text\":\"he said \\\"hi\\\"\\n\",\"likes\":0,"
                        "\"keep\" : [1,{\"a\":\"}\"}],\"sentiment\":{\"compound\":0.5},"
                        "\"intent\":\"praise\"}");

    /* Nothing but extra. */
    es_mention_clear(&m);
    es_buf_reset(&out);
    assert_int_equal(es_mention_write_json(&m, &out, ",\"a\":1", 6), 0);
    assert_string_equal(out.data, "{\"a\":1}");

    /* The ceiling is reported, not overrun. */
    es_buf small;
    es_buf_init(&small, 10);
    m.text = (es_str){"a long enough text", 18};
    assert_int_equal(es_mention_write_earshot(&m, &small), ES_ETOOBIG);
    es_buf_free(&small);
    es_buf_free(&out);
}

/* What the encoder writes reads back as the same mention. */
static void test_round_trip(void **state)
{
    (void)state;
    size_t n;
    char *in = fixture("earshot.jsonl", &n);
    got first;
    got_init(&first);
    decode_ex(&first, ES_FORMAT_AUTO, 0, 0, 0, in, n, 0);
    /* Re-decode the written objects (strip the "M line " prefix and ms). */
    es_buf again;
    es_buf_init(&again, 1 << 20);
    for (char *l = first.log.data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (l[0] != 'M') {
            continue;
        }
        char *obj = strchr(l + 2, ' ') + 1;
        char *ms = strstr(obj, "} ms=");
        es_buf_add(&again, obj, (size_t)(ms + 1 - obj));
        es_buf_addc(&again, '\n');
    }
    got second;
    got_init(&second);
    decode_ex(&second, ES_FORMAT_AUTO, 0, 0, 0, again.data, again.len, 0);
    assert_int_equal(second.mentions, first.mentions);
    assert_int_equal(second.errors, 0);
    /* Same objects (line numbers differ, so compare from the '{'). */
    char *a = strstr(first.log.data, "{\"id\":\"1001\"");
    char *b = strstr(second.log.data, "{\"id\":\"1001\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, b, (size_t)(strchr(a, '\n') - a));
    es_buf_free(&again);
    es_buf_free(&first.log);
    es_buf_free(&second.log);
    free(in);
}

/* ------------------------------------------------------------------ */
/* html                                                               */

static void html_case(const char *in, const char *want)
{
    es_buf out;
    es_buf_init(&out, 4096);
    assert_int_equal(es_html_to_text(&out, in, strlen(in)), 0);
    assert_string_equal(out.data ? out.data : "", want);
    es_buf_free(&out);
}

static void test_html(void **state)
{
    (void)state;
    html_case("<p>a</p><p>b<br>c<br/><br />d</p>", "a\n\nb\nc\n\nd");
    html_case("  <p> spaced   out\n text </p> ", "spaced out text");
    html_case("x &lt; y &amp;&amp; &#39;q&#39; &#x1F600; &#0; &#xD800; &bogus; & alone",
              "x < y && 'q' \xF0\x9F\x98\x80 \xEF\xBF\xBD \xEF\xBF\xBD &bogus; & alone");
    html_case("a <b unclosed", "a <b unclosed");
    html_case("1 < 2 and <a href=\"x>y\">link</a>", "1 < 2 and link");
    html_case("<script>alert(1)</script>ok<!-- hidden -->!", "ok!");
    html_case("<ul><li>one</li><li>two</li></ul>", "one\ntwo");
    html_case("", "");
    es_buf out;
    es_buf_init(&out, 5);
    assert_int_equal(es_html_to_text(&out, "<p>too long for five</p>", 24), ES_ETOOBIG);
    es_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earshot_fixture),
        cmocka_unit_test(test_earshot_types),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_syntax_error_column),
        cmocka_unit_test(test_top_level_shapes),
        cmocka_unit_test(test_truncated_at_end),
        cmocka_unit_test(test_bom_and_crlf),
        cmocka_unit_test(test_max_record),
        cmocka_unit_test(test_long_line_document),
        cmocka_unit_test(test_huge_token_on_long_line),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_mastodon),
        cmocka_unit_test(test_twitter),
        cmocka_unit_test(test_reddit),
        cmocka_unit_test(test_hn),
        cmocka_unit_test(test_bluesky),
        cmocka_unit_test(test_jsonfeed),
        cmocka_unit_test(test_wrong_format),
        cmocka_unit_test(test_pretty_pass_through),
        cmocka_unit_test(test_platform_flags_and_boosts),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_write_json),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
