/*
 * The topic query language, through the public API: what a social team
 * writes in `query:` and which mentions it catches. Every operator with its
 * edge cases, the matching rules for tags and tokens, field filters, owned
 * accounts, and the located errors a bad query gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "earshot.h"
#include "earshot/topics.h"
#include "match.h"
#include "tokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static es_topics *compile1(const char *query)
{
    es_topic_def d = {.name = "t", .query = query};
    es_topics *t = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = es_topics_compile(&d, 1, &t, &err);
    if (rc != 0) {
        fail_msg("query %s did not compile: %s", query, err.msg);
    }
    return t;
}

static bool match_mention(const char *query, const es_mention *mn)
{
    es_topics *t = compile1(query);
    es_matcher *m = NULL;
    assert_int_equal(es_matcher_new(t, &m), 0);
    const uint32_t *ids = NULL;
    size_t n = 99;
    assert_int_equal(es_topics_match(m, mn, &ids, &n), 0);
    assert_true(n <= 1);
    if (n == 1) {
        assert_int_equal(ids[0], 0);
    }
    es_matcher_free(m);
    es_topics_free(t);
    return n == 1;
}

static es_mention text_mention(const char *text)
{
    es_mention mn;
    es_mention_clear(&mn);
    mn.text.ptr = text;
    mn.text.len = strlen(text);
    return mn;
}

static bool matches(const char *query, const char *text)
{
    es_mention mn = text_mention(text);
    return match_mention(query, &mn);
}

#define MATCH(q, text) assert_true(matches((q), (text)))
#define NO_MATCH(q, text) assert_false(matches((q), (text)))

/* Compile a query that must fail; returns the error for inspection. */
static es_error compile_err_at(const char *query, int line, int col)
{
    es_topic_def d = {.name = "acme", .query = query, .query_line = line, .query_col = col};
    es_topics *t = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = es_topics_compile(&d, 1, &t, &err);
    if (rc == 0) {
        es_topics_free(t);
        fail_msg("query %s compiled but should not have", query);
    }
    assert_null(t);
    assert_int_equal(err.code, rc);
    assert_non_null(strstr(err.msg, "topic 'acme': "));
    return err;
}

static es_error compile_err(const char *query)
{
    return compile_err_at(query, 0, 0);
}

/* The error is ES_EQUERY, at column `col` of a one-line query, and says `what`. */
static void expect_err(const char *query, int col, const char *what)
{
    es_error e = compile_err(query);
    if (e.code != ES_EQUERY || e.col != col || strstr(e.msg, what) == NULL) {
        fail_msg("query [%s]: got code %d col %d \"%s\"; want col %d and \"%s\"", query, e.code,
                 e.col, e.msg, col, what);
    }
}

static void expect_describe(const char *query, const char *want)
{
    es_topics *t = compile1(query);
    char buf[256];
    int n = es_topics_describe(t, 0, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
    es_topics_free(t);
}

/* ---- words -------------------------------------------------------------- */

static void test_words_case_and_boundaries(void **state)
{
    (void)state;
    MATCH("acme", "I love ACME");
    MATCH("Acme", "acme rocks");
    MATCH("acme", "(acme)!");
    MATCH("acme", "\"acme,\" she said...");
    MATCH("acme", "acme");
    /* Token boundaries: a word is never matched inside another word. */
    NO_MATCH("acme", "acmes are great");
    NO_MATCH("acme", "the acmeplane");
    NO_MATCH("acme", "");
    /* Possessives and hyphenated words still mention the brand. */
    MATCH("acme", "acme's new plane");
    MATCH("acme", "ACME\xE2\x80\x99S lounge"); /* typographic apostrophe */
    MATCH("acme", "an acme-branded mug");
    MATCH("acme-branded", "an Acme-Branded mug");
    NO_MATCH("acme-branded", "acme branded");
    /* Lower-case and, or, not, near are words, not operators. */
    MATCH("rock and roll", "Rock and roll!");
    NO_MATCH("rock and roll", "rock roll");
}

static void test_unicode(void **state)
{
    (void)state;
    /* Non-ASCII letters fold case like ASCII ones. */
    MATCH("café", "CAFÉ au lait");
    MATCH("ÉCLAIR", "un éclair");
    MATCH("москва", "МОСКВА сегодня");
    /* No accent folding: cafe and café are different words. */
    NO_MATCH("cafe", "café");
    NO_MATCH("café", "cafe");
    /* ß is its own letter: it is not expanded to "ss". */
    MATCH("straße", "Straße");
    NO_MATCH("straße", "strasse");
    /* Emoji are tokens too. */
    MATCH("acme \xF0\x9F\x94\xA5", "acme is \xF0\x9F\x94\xA5");
}

/* ---- tags --------------------------------------------------------------- */

static void test_hashtags_handles_cashtags(void **state)
{
    (void)state;
    /* A bare word matches a hashtag's body (listening-tool convention)... */
    MATCH("acme", "so done with #ACME");
    MATCH("acmefail", "#acmefail again");
    /* ...but not a handle or a cashtag: those are accounts and tickers. */
    NO_MATCH("acme", "@acme hello");
    NO_MATCH("acme", "bought $ACME");
    /* A hashtag query matches only the hashtag. */
    MATCH("#acme", "#Acme rules");
    NO_MATCH("#acme", "acme rules");
    NO_MATCH("#acme", "@acme rules");
    /* A '#' glued to a word does not start a hashtag. */
    NO_MATCH("#acme", "foo#acme");
    /* Handles and cashtags likewise. */
    MATCH("@acme", "@ACME where is my bag");
    NO_MATCH("@acme", "acme where is my bag");
    NO_MATCH("@acme", "#acme");
    NO_MATCH("@acme", "mail me at jo@acme.com");
    NO_MATCH("@acme", "@acmehelp");
    MATCH("$tsla", "$TSLA to the moon");
    NO_MATCH("$tsla", "tsla to the moon");
    /* Wildcards on tags. */
    MATCH("#acme*", "#acmefail");
    NO_MATCH("#acme*", "acmefail");
    MATCH("@acme*", "@AcmeHelp");
}

/* ---- phrases ------------------------------------------------------------ */

static void test_phrases(void **state)
{
    (void)state;
    MATCH("\"acme corp\"", "Acme Corp announced");
    MATCH("\"acme corp\"", "I work at acme corp.");
    /* Punctuation takes no position: it does not break a phrase. */
    MATCH("\"acme corp\"", "acme, corp");
    NO_MATCH("\"acme corp\"", "corp acme");
    NO_MATCH("\"acme corp\"", "acme big corp");
    NO_MATCH("\"acme corp\"", "acme");
    /* A phrase may hold tags; a word in it also matches a hashtag body. */
    MATCH("\"thanks @acme\"", "Thanks @acme!");
    NO_MATCH("\"thanks @acme\"", "thanks acme");
    MATCH("\"acme corp\"", "#acme corp");
    /* Escaped quotes inside a phrase, and a wildcard on its last word. */
    MATCH("\"customer serv*\"", "Customer Service was rude");
    NO_MATCH("\"customer serv*\"", "customer care");
    MATCH("\"say \\\"hi\\\" acme\"", "say hi acme");
    /* The same phrase twice in a row, and a phrase at the very end. */
    MATCH("\"a b\"", "a a b");
    MATCH("\"lost my bag\"", "they lost my bag");
}

/* ---- boolean operators -------------------------------------------------- */

static void test_and_or_not(void **state)
{
    (void)state;
    MATCH("acme refund", "acme gave me a refund");
    NO_MATCH("acme refund", "acme is fine");
    MATCH("acme AND refund", "refund from acme");
    MATCH("acme OR globex", "globex!");
    NO_MATCH("acme OR globex", "initech");
    MATCH("acme -refund", "acme is great");
    NO_MATCH("acme -refund", "acme refund please");
    MATCH("acme NOT refund", "acme");
    NO_MATCH("acme NOT refund", "acme refund");
    /* -"phrase" and -(group). */
    NO_MATCH("acme -\"acme corp\"", "acme corp rocks");
    MATCH("acme -\"acme corp\"", "acme rocks corp");
    NO_MATCH("acme -(job OR hiring)", "acme is hiring");
    MATCH("acme -(job OR hiring)", "acme is late");
}

static void test_precedence(void **state)
{
    (void)state;
    /* AND binds tighter than OR: a b OR c = (a AND b) OR c. */
    MATCH("a b OR c", "c");
    MATCH("a b OR c", "a b");
    NO_MATCH("a b OR c", "a");
    /* a OR b c = a OR (b AND c). */
    MATCH("a OR b c", "a");
    NO_MATCH("a OR b c", "b");
    /* NOT binds tighter than AND: a NOT b c = a AND (NOT b) AND c. */
    MATCH("a NOT b c", "a c");
    NO_MATCH("a NOT b c", "a b c");
    NO_MATCH("a NOT b c", "a");
    /* Parentheses override. */
    MATCH("(a OR b) c", "b c");
    NO_MATCH("(a OR b) c", "b");
    expect_describe("a b OR c", "(a AND b) OR c");
    expect_describe("a OR b c", "a OR (b AND c)");
    expect_describe("a NOT b c OR d", "(a AND NOT b AND c) OR d");
    expect_describe("((a))", "a");
    expect_describe("a AND (b AND c)", "a AND b AND c");
}

static void test_nested_not(void **state)
{
    (void)state;
    /* a AND NOT (b AND NOT c) */
    MATCH("a -(b -c)", "a");
    NO_MATCH("a -(b -c)", "a b");
    MATCH("a -(b -c)", "a b c");
    /* Double negation is the term itself. */
    MATCH("a NOT NOT b", "a b");
    NO_MATCH("a NOT NOT b", "a");
    MATCH("a --b", "a b");
    expect_describe("a -(b -c)", "a AND NOT (b AND NOT c)");
    expect_describe("a NOT NOT b", "a AND b");
}

/* ---- wildcards ---------------------------------------------------------- */

static void test_wildcards(void **state)
{
    (void)state;
    MATCH("refund*", "refund");
    MATCH("refund*", "REFUNDED yet?");
    MATCH("refund*", "#refundnow");
    NO_MATCH("refund*", "prerefund");
    NO_MATCH("refund*", "refun");
    /* Short and long prefixes in one set of topics. */
    MATCH("ca* refund*", "cancel my refunds");
    MATCH("acme (cancel* OR refund*)", "ACME cancelled");
    expect_describe("Refund*", "refund*");
}

/* ---- proximity ---------------------------------------------------------- */

static void test_near_limits(void **state)
{
    (void)state;
    /* Distance counts positions: adjacent is 1, "a x b" is 2. */
    MATCH("acme NEAR/1 bad", "acme bad");
    NO_MATCH("acme NEAR/1 bad", "acme is bad");
    MATCH("acme NEAR/3 bad", "acme is really bad");      /* exactly 3 */
    NO_MATCH("acme NEAR/3 bad", "acme is really very bad"); /* 4 */
    /* Either order for NEAR. */
    MATCH("acme NEAR/3 bad", "bad bad bad acme");
    MATCH("acme NEAR/3 bad", "bad is really acme");
    NO_MATCH("acme NEAR/3 bad", "bad is really very acme");
    /* Punctuation does not count. */
    MATCH("acme NEAR/2 bad", "acme... so, bad!");
    /* One far pair and one near pair: the near one counts. */
    MATCH("acme NEAR/2 bad", "acme x x x x bad and later acme bad");
    /* Both terms needed, and the same term twice means two occurrences. */
    NO_MATCH("acme NEAR/5 bad", "acme alone");
    MATCH("acme NEAR/2 acme", "acme acme");
    NO_MATCH("acme NEAR/2 acme", "just acme");
}

static void test_onear_and_groups(void **state)
{
    (void)state;
    MATCH("lost ONEAR/2 bag", "lost my bag");
    NO_MATCH("lost ONEAR/2 bag", "bag was lost");
    NO_MATCH("lost ONEAR/2 bag", "lost my new bag");
    /* Phrases measure from their nearest edge. */
    MATCH("\"acme corp\" NEAR/2 outage", "acme corp has outage");
    NO_MATCH("\"acme corp\" NEAR/2 outage", "acme corp has an outage");
    MATCH("outage ONEAR/2 \"acme corp\"", "outage at acme corp");
    /* OR-groups on either side, with wildcards and tags. */
    const char *q = "(refund* OR \"money back\") NEAR/3 (acme OR #acme OR @acme)";
    MATCH(q, "want my money back @acme");
    MATCH(q, "#acme refunds please");
    NO_MATCH(q, "refund please, this is not about acme at all, friends");
    /* NEAR inside boolean logic. */
    MATCH("flight -(late NEAR/2 acme)", "flight with acme that was late");
    NO_MATCH("flight -(late NEAR/2 acme)", "flight late acme");
    expect_describe("(a OR b) ONEAR/4 c", "(a OR b) ONEAR/4 c");
    expect_describe("x -(a NEAR/2 b)", "x AND NOT (a NEAR/2 b)");
}

/* ---- regex -------------------------------------------------------------- */

static void test_regex(void **state)
{
    (void)state;
    MATCH("/acme\\d+/", "try acme3000");
    NO_MATCH("/acme\\d+/", "try ACME3000");
    MATCH("/acme\\d+/i", "try ACME3000");
    MATCH("/fl(y|ew)\\s+acme/i", "I flew  Acme");
    /* A regex combined with terms runs over the raw text. */
    MATCH("acme /order #?\\d{5}/", "acme where is order #12345");
    NO_MATCH("acme /order #?\\d{5}/", "acme where is order 123");
    /* An escaped slash belongs to the pattern. */
    MATCH("/acme\\.com\\/help/", "see acme.com/help");
    expect_describe("/a\\/b/i OR c", "/a\\/b/i OR c");
    /* Unicode-aware classes. */
    MATCH("/^\\w+é$/i", "CAFÉ");
}

static void test_regex_pathological_is_bounded(void **state)
{
    (void)state;
    /* Catastrophic backtracking gives up at the match limit and counts as no
     * match instead of hanging the engine. */
    char text[64];
    memset(text, 'a', 40);
    strcpy(text + 40, "!");
    NO_MATCH("/(a+)+$/", text);
    NO_MATCH("/(a|aa)+b/", text);
    /* ...and the next mention is matched normally. */
    MATCH("/(a+)+$/", "aaa");
}

/* ---- fields ------------------------------------------------------------- */

static void test_fields(void **state)
{
    (void)state;
    es_mention mn = text_mention("acme is late again");
    mn.lang = (es_str){"en-US", 5};
    mn.author = (es_str){"@JDoe", 5};
    mn.source = (es_str){"Reddit", 6};
    mn.followers = 1500;
    mn.likes = 3;
    assert_true(match_mention("acme lang:en", &mn));
    assert_true(match_mention("acme lang:EN-us", &mn));
    assert_false(match_mention("acme lang:fr", &mn));
    assert_false(match_mention("acme lang:e", &mn));
    assert_true(match_mention("acme author:jdoe", &mn));
    assert_true(match_mention("acme author:@jdoe", &mn));
    assert_false(match_mention("acme author:jdo", &mn));
    assert_true(match_mention("acme source:reddit", &mn));
    assert_false(match_mention("acme source:twitter", &mn));
    assert_true(match_mention("acme followers>=1500", &mn));
    assert_false(match_mention("acme followers>1500", &mn));
    assert_true(match_mention("acme followers>1k", &mn));
    assert_true(match_mention("acme followers<=1500", &mn));
    assert_false(match_mention("acme followers<1500", &mn));
    assert_true(match_mention("acme followers=1500", &mn));
    assert_true(match_mention("acme likes<10", &mn));
    assert_false(match_mention("acme is:reply", &mn));
    assert_true(match_mention("acme -is:reply", &mn));
    mn.reply_to = (es_str){"1200", 4};
    assert_true(match_mention("acme is:reply", &mn));
    /* An unknown count satisfies no comparison, either way round. */
    mn.followers = ES_COUNT_UNKNOWN;
    assert_false(match_mention("acme followers>=0", &mn));
    assert_false(match_mention("acme followers<100", &mn));
    /* An absent field matches nothing. */
    es_mention bare = text_mention("acme");
    assert_false(match_mention("acme lang:en", &bare));
    assert_false(match_mention("acme author:jdoe", &bare));
    expect_describe("acme Lang:EN author:@JDoe followers>=10k is:reply",
                    "acme AND lang:en AND author:jdoe AND followers>=10000 AND is:reply");
    expect_describe("author:\"john doe\"", "author:\"john doe\"");
}

static void test_field_only_topics(void **state)
{
    (void)state;
    /* A topic with no keyword at all is evaluated for every mention. */
    es_mention mn = text_mention("nothing to see here");
    mn.lang = (es_str){"de", 2};
    mn.reply_to = (es_str){"1", 1};
    assert_true(match_mention("lang:de is:reply", &mn));
    assert_false(match_mention("lang:en is:reply", &mn));
    assert_true(match_mention("lang:de -acme", &mn));
    assert_true(match_mention("/see/ OR acme", &mn));
    assert_true(match_mention("lang:en OR see", &mn));
}

/* ---- several topics, owned accounts ------------------------------------- */

static void test_many_topics_ids_and_reuse(void **state)
{
    (void)state;
    const char *owned_acme[] = {"@Acme", "acmehelp"};
    es_topic_def defs[] = {
        {.name = "acme", .query = "acme OR @acme OR #acme", .owned = owned_acme, .n_owned = 2},
        {.name = "globex", .query = "globex", .competitor = true},
        {.name = "complaints", .query = "(acme OR globex) refund*"},
        {.name = "german", .query = "lang:de"},
    };
    es_topics *t = NULL;
    es_error err;
    assert_int_equal(es_topics_compile(defs, 4, &t, &err), 0);
    assert_int_equal(es_topics_count(t), 4);
    assert_string_equal(es_topics_name(t, 1), "globex");
    assert_null(es_topics_name(t, 4));
    assert_true(es_topics_competitor(t, 1));
    assert_false(es_topics_competitor(t, 0));
    assert_int_equal(es_topics_describe(t, 9, NULL, 0), ES_EINVAL);
    /* A short buffer is truncated and the full length returned. */
    char small[6];
    assert_int_equal(es_topics_describe(t, 0, small, sizeof small), 22);
    assert_string_equal(small, "acme ");

    es_matcher *m = NULL;
    assert_int_equal(es_matcher_new(t, &m), 0);
    const uint32_t *ids;
    size_t n;
    es_mention mn = text_mention("globex refunded me, acme did not");
    mn.lang = (es_str){"de", 2};
    assert_int_equal(es_topics_match(m, &mn, &ids, &n), 0);
    assert_int_equal(n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(ids[i], i); /* ascending */
    }
    /* The next mention starts from a clean slate. */
    es_mention mn2 = text_mention("Globex is fine");
    assert_int_equal(es_topics_match(m, &mn2, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    es_mention mn3 = text_mention("");
    assert_int_equal(es_topics_match(m, &mn3, &ids, &n), 0);
    assert_int_equal(n, 0);

    /* Owned accounts: a mention addressed to one of them. */
    es_mention to = text_mention("@AcmeHelp my bag is lost");
    assert_true(es_topics_addressed(t, 0, &to));
    assert_false(es_topics_addressed(t, 1, &to));
    assert_int_equal(es_topics_match(m, &to, &ids, &n), 0);
    assert_true(es_matcher_addressed(m, 0));
    assert_false(es_matcher_addressed(m, 1));
    es_mention shout = text_mention("HEY @ACMEHELP!!");
    assert_true(es_topics_addressed(t, 0, &shout));
    es_mention email = text_mention("write to jo@acmehelp.com or @acmehelpdesk");
    assert_false(es_topics_addressed(t, 0, &email));
    assert_int_equal(es_topics_match(m, &email, &ids, &n), 0);
    assert_false(es_matcher_addressed(m, 0));
    es_mention about = text_mention("acme lost my bag");
    assert_false(es_topics_addressed(t, 0, &about));
    assert_int_equal(es_topics_match(m, &about, &ids, &n), 0);
    assert_false(es_matcher_addressed(m, 0));
    /* The brand answering a customer is not addressed to the brand. */
    es_mention own = text_mention("@acme @jdoe sorry about that");
    own.author = (es_str){"acme", 4};
    assert_false(es_topics_addressed(t, 0, &own));
    assert_int_equal(es_topics_match(m, &own, &ids, &n), 0);
    assert_false(es_matcher_addressed(m, 0));

    /* Pre-tokenized matching gives the same answer. */
    es_tokens toks;
    es_tokens_init(&toks);
    assert_int_equal(es_tokenize(mn.text.ptr, mn.text.len, &toks), 0);
    assert_int_equal(es__topics_match_tokens(m, &mn, &toks, &ids, &n), 0);
    assert_int_equal(n, 4);
    es_tokens_free(&toks);

    es_matcher_free(m);
    es_topics_free(t);
}

static void test_definition_errors(void **state)
{
    (void)state;
    es_topics *t = (es_topics *)1;
    es_error err;
    es_topic_def dup[] = {{.name = "a", .query = "x"}, {.name = "b", .query = "y"},
                          {.name = "a", .query = "z", .query_line = 9}};
    assert_int_equal(es_topics_compile(dup, 3, &t, &err), ES_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "duplicate topic name 'a'"));
    assert_int_equal(err.line, 9);

    const char *bad_owned[] = {"not a handle"};
    es_topic_def o = {.name = "acme", .query = "acme", .owned = bad_owned, .n_owned = 1};
    assert_int_equal(es_topics_compile(&o, 1, &t, &err), ES_EINVAL);
    assert_non_null(strstr(err.msg, "not a valid @handle"));

    /* Zero topics is a valid (empty) set. */
    assert_int_equal(es_topics_compile(NULL, 0, &t, &err), 0);
    assert_int_equal(es_topics_count(t), 0);
    es_matcher *m;
    assert_int_equal(es_matcher_new(t, &m), 0);
    es_mention mn = text_mention("anything");
    const uint32_t *ids;
    size_t n;
    assert_int_equal(es_topics_match(m, &mn, &ids, &n), 0);
    assert_int_equal(n, 0);
    es_matcher_free(m);
    es_topics_free(t);
}

/* ---- errors ------------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_err("", 1, "empty query");
    expect_err("   ", 1, "empty query");
    expect_err("acme (refund OR late", 6, "expected ')' to close this '('");
    expect_err("acme refund)", 12, "unexpected ')'");
    expect_err("acme ()", 6, "empty parentheses");
    expect_err("acme \"lost bag", 6, "unterminated quote");
    expect_err("acme \"\"", 6, "empty phrase");
    expect_err("acme AND", 9, "expected a term after 'AND'");
    expect_err("acme OR", 8, "expected a term after 'OR'");
    expect_err("OR acme", 1, "'OR' needs a term on each side");
    expect_err("acme AND OR b", 10, "'OR' needs a term on each side");
    expect_err("acme NOT", 9, "expected a term after 'NOT'");
    expect_err("acme - refund", 6, "'-' must be directly followed");
    expect_err("re*fund", 3, "may only end a term");
    expect_err("acme *", 6, "at least one character");
    expect_err("acme #", 6, "'#' needs a name");
    expect_err("acme #1", 6, "not a valid hashtag");
    expect_err("acme !!!", 6, "has nothing to match");
}

static void test_near_errors(void **state)
{
    (void)state;
    expect_err("acme NEAR bad", 6, "NEAR needs a distance");
    expect_err("acme NEAR/ bad", 6, "needs a distance");
    expect_err("acme NEAR/0 bad", 6, "NEAR/0 can never match");
    expect_err("acme ONEAR/0 bad", 6, "ONEAR/0 can never match");
    expect_err("acme NEAR/x bad", 6, "whole number");
    expect_err("acme NEAR/1001 bad", 6, "at most 1000");
    expect_err("acme near/3 bad", 6, "upper case");
    expect_err("NEAR/3 bad", 1, "needs a term on each side");
    expect_err("acme NEAR/3", 12, "expected a term after 'NEAR/3'");
    expect_err("a NEAR/2 b NEAR/2 c", 12, "cannot be chained");
    expect_err("(a b) NEAR/2 c", 1, "not on '(a b)'");
    expect_err("a NEAR/2 -b", 10, "expected a term, found '-'");
    expect_err("a NEAR/2 /x/", 10, "not on '/x/'");
}

static void test_regex_errors(void **state)
{
    (void)state;
    /* The column points into the pattern at PCRE2's error offset. */
    expect_err("acme /(ab/", 10, "bad regex: missing closing parenthesis (at offset 3)");
    expect_err("acme /a{2,1}/", 12, "bad regex");
    expect_err("acme /abc", 6, "unterminated regex");
    expect_err("acme //", 6, "empty regex");
    expect_err("acme /abc/g", 11, "unknown regex flag 'g'");
}

static void test_field_errors(void **state)
{
    (void)state;
    expect_err("acme colour:red", 6, "unknown field 'colour'");
    expect_err("acme lang:", 6, "'lang:' needs a value");
    expect_err("acme is:quote", 9, "unknown value 'is:quote'");
    expect_err("acme followers:100", 6, "followers>=N");
    expect_err("acme followers>=lots", 17, "needs a whole number");
    expect_err("acme lang>=2", 6, "compared with 'lang:VALUE'");
    expect_err("acme author:jd*", 6, "wildcards are not supported");
    expect_err("acme x=5", 6, "unknown field 'x'");
    /* A URL is a word, not a field called https. */
    es_topics *t = compile1("https://acme.com");
    es_topics_free(t);
}

static void test_only_negative(void **state)
{
    (void)state;
    expect_err("-acme", 1, "only negative");
    expect_err("NOT acme", 1, "only negative");
    expect_err("NOT (a OR b)", 1, "only negative");
    expect_err("a OR -b", 6, "only negative");
    expect_err("-lang:en", 1, "only negative");
    expect_err("-(a -b)", 1, "only negative");
    /* A positive filter is enough. */
    es_topics *t = compile1("lang:en -acme");
    es_topics_free(t);
}

static void test_error_positions_in_config(void **state)
{
    (void)state;
    /* With the query's place in the file, errors point into the file. */
    es_error e = compile_err_at("acme OR (late", 12, 12);
    assert_int_equal(e.line, 12);
    assert_int_equal(e.col, 12 + 8);
    /* A multi-line (block scalar) query: later lines count from their start. */
    e = compile_err_at("acme OR\n  refund NEAR/0 x", 7, 5);
    assert_int_equal(e.line, 8);
    assert_int_equal(e.col, 10);
    /* Columns count characters, not bytes. */
    e = compile_err_at("café (x", 3, 10);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.col, 15);
    /* Without a position, the column is within the query. */
    e = compile_err("café (x");
    assert_int_equal(e.line, 0);
    assert_int_equal(e.col, 6);
    /* The first bad topic is named. */
    es_topic_def defs[] = {{.name = "good", .query = "a"}, {.name = "bad", .query = "b OR"}};
    es_topics *t;
    es_error err;
    assert_int_equal(es_topics_compile(defs, 2, &t, &err), ES_EQUERY);
    assert_non_null(strstr(err.msg, "topic 'bad': "));
}

static void test_limits(void **state)
{
    (void)state;
    /* Deep nesting is an error, not a stack overflow. */
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 100; i++) {
        deep[k++] = '(';
    }
    deep[k++] = 'a';
    for (int i = 0; i < 100; i++) {
        deep[k++] = ')';
    }
    deep[k] = '\0';
    expect_err(deep, 65, "nested too deeply");
    char nots[400];
    k = 0;
    nots[k++] = 'x';
    nots[k++] = ' ';
    for (int i = 0; i < 100; i++) {
        nots[k++] = '-';
    }
    nots[k++] = 'a';
    nots[k] = '\0';
    expect_err(nots, 67, "nested too deeply");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_case_and_boundaries),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_hashtags_handles_cashtags),
        cmocka_unit_test(test_phrases),
        cmocka_unit_test(test_and_or_not),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_nested_not),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_near_limits),
        cmocka_unit_test(test_onear_and_groups),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_regex_pathological_is_bounded),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_field_only_topics),
        cmocka_unit_test(test_many_topics_ids_and_reuse),
        cmocka_unit_test(test_definition_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_near_errors),
        cmocka_unit_test(test_regex_errors),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_only_negative),
        cmocka_unit_test(test_error_positions_in_config),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
