/* The social-text tokenizer: what a user of the matcher or scorer sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "earshot.h"
#include "tokenize.h"

/*
 * Tokenize `text` and render it as "kind:norm|kind:norm|...", with a '_'
 * before tokens that have whitespace before them (except the first) and a
 * '^' after ALL-CAPS ones, so one string compares the whole result.
 */
static char *render(es_tokens *t, const char *text, size_t len)
{
    static char out[4096];
    assert_int_equal(es_tokenize(text, len, t), 0);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const es_token *k = &t->v[i];
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s%s:%s%s", i ? "|" : "",
                              i && (k->flags & ES_TOKF_SPACE_BEFORE) ? "_" : "",
                              es_tok_kind_name(k->kind), es_tok_norm(t, i),
                              (k->flags & ES_TOKF_ALLCAPS) ? "^" : "");
        assert_true(o < sizeof out);
    }
    return out;
}

#define CHECK(text, want)                                                                          \
    do {                                                                                           \
        es_tokens t_;                                                                              \
        es_tokens_init(&t_);                                                                       \
        assert_string_equal(render(&t_, (text), strlen(text)), (want));                           \
        es_tokens_free(&t_);                                                                       \
    } while (0)

static void words_and_punct(void **state)
{
    (void)state;
    CHECK("The book was good.", "word:the|_word:book|_word:was|_word:good|punct:.");
    CHECK("ok, fine!!!", "word:ok|punct:,|_word:fine|punct:!!!");
    CHECK("don't e-mail me", "word:don't|_word:e-mail|_word:me");
    CHECK("rock'n'roll -- 'quoted'", "word:rock'n'roll|_punct:--|_punct:'|word:quoted|punct:'");
    CHECK("", "");
    CHECK("   \t\n ", "");
}

static void typographic_apostrophes(void **state)
{
    (void)state;
    /* ’ ‘ ʼ inside a word all normalize to ', so "don’t" is "don't". */
    CHECK("don\xE2\x80\x99t", "word:don't");
    CHECK("isn\xCA\xBCt can\xE2\x80\x98t", "word:isn't|_word:can't");
    /* Outside a word a typographic quote is punctuation. */
    CHECK("\xE2\x80\x98hi\xE2\x80\x99", "punct:'|word:hi|punct:'");
}

static void caps_and_case(void **state)
{
    (void)state;
    CHECK("I LOVE it", "word:i^|_word:love^|_word:it");
    CHECK("NO no No", "word:no^|_word:no|_word:no");
    /* Latin-1, Greek and Cyrillic letters lower-case too. */
    CHECK("CAFÉ ΑΘΗΝΑ МОСКВА", "word:café^|_word:αθηνα^|_word:москва^");
    CHECK("123", "number:123");
}

static void numbers(void **state)
{
    (void)state;
    CHECK("3.5 1,000 24/7 2nd", "number:3.5|_number:1,000|_number:24|punct:/|number:7|_word:2nd");
    CHECK("$5", "punct:$|number:5");
    CHECK("5:30", "number:5|punct::|number:30");
}

static void handles_tags_cashtags(void **state)
{
    (void)state;
    CHECK("@united lost my bag #fail",
          "handle:@united|_word:lost|_word:my|_word:bag|_hashtag:#fail");
    CHECK("foo#bar", "word:foo|punct:#|word:bar");
    CHECK("a@b.com", "word:a|punct:@|word:b|punct:.|word:com");
    CHECK("#1 #", "punct:#|number:1|_punct:#");
    CHECK("$TSLA up", "cashtag:$tsla^|_word:up");
    CHECK("$TOOLONGX", "punct:$|word:toolongx^");
    CHECK("@alice@mastodon.social.", "handle:@alice@mastodon.social|punct:.");
    CHECK("(@acme)", "punct:(|handle:@acme|punct:)");
}

static void urls(void **state)
{
    (void)state;
    CHECK("see http://url_removed.", "word:see|_url:http://url_removed|punct:.");
    CHECK("HTTPS://Ex.com/a?b=c, ok", "url:https://ex.com/a?b=c|punct:,|_word:ok");
    CHECK("(www.example.com/x_(y))", "punct:(|url:www.example.com/x_(y)|punct:)");
    CHECK("http:// x", "word:http|punct::|punct://|_word:x");
}

static void emoji(void **state)
{
    (void)state;
    /* One token per emoji, glued or not; sequences stay whole. */
    CHECK("good\xF0\x9F\x98\x81good", "word:good|emoji:\xF0\x9F\x98\x81|word:good");
    /* ❤️ = U+2764 U+FE0F */
    CHECK("\xE2\x9D\xA4\xEF\xB8\x8F love", "emoji:\xE2\x9D\xA4\xEF\xB8\x8F|_word:love");
    /* 👍🏽 thumbs up with a skin tone. */
    CHECK("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "emoji:\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD");
    /* 👩‍💻 woman technologist (ZWJ) and two flags 🇫🇷🇩🇪. */
    CHECK("\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB",
          "emoji:\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB");
    CHECK("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA",
          "emoji:\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7|emoji:\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA");
    /* Keycap 1️⃣ */
    CHECK("1\xEF\xB8\x8F\xE2\x83\xA3", "emoji:1\xEF\xB8\x8F\xE2\x83\xA3");
    /* Two emoji in a row are two tokens. */
    CHECK("\xF0\x9F\x98\xA2\xF0\x9F\x98\xA2", "emoji:\xF0\x9F\x98\xA2|emoji:\xF0\x9F\x98\xA2");
}

static void emoticons(void **state)
{
    (void)state;
    CHECK("Make sure you :) or :D today!",
          "word:make|_word:sure|_word:you|_emoticon::)|_word:or|_emoticon::d|_word:today|punct:!");
    CHECK("D: <3 </3 :-( :'(", "emoticon:d:|_emoticon:<3|_emoticon:</3|_emoticon::-(|_emoticon::'(");
    CHECK("thanks:))) ^_^", "word:thanks|emoticon::)))|_emoticon:^_^");
    /* Not emoticons: a letter before "D:", a digit around ":3", a word after ":D". */
    CHECK("AND: 12:30 :Desk", "word:and^|punct::|_number:12|punct::|number:30|_punct::|word:desk");
    CHECK("(see above):", "punct:(|word:see|_word:above|punct:)|punct::");
}

static void bad_bytes_are_separators(void **state)
{
    (void)state;
    es_tokens t;
    es_tokens_init(&t);
    const char text[] = "bad\xFFgood\0ok \xE2\x82 x \xF0\x9F";
    assert_string_equal(render(&t, text, sizeof text - 1),
                        "word:bad|_word:good|_word:ok|_word:x");
    /* A stray VS16 or ZWJ ends a word but is not a space. */
    assert_string_equal(render(&t, "a\xEF\xB8\x8F" "b", 5), "word:a|word:b");
    es_tokens_free(&t);
}

static void offsets_point_into_text(void **state)
{
    (void)state;
    es_tokens t;
    es_tokens_init(&t);
    const char *text = "Hi @bob, \xF0\x9F\x98\x81 don\xE2\x80\x99t!";
    assert_int_equal(es_tokenize(text, strlen(text), &t), 0);
    assert_int_equal(t.n, 6);
    assert_memory_equal(text + t.v[1].off, "@bob", 4);
    assert_int_equal(t.v[3].len, 4);
    assert_int_equal(t.v[3].kind, ES_TOK_EMOJI);
    assert_memory_equal(text + t.v[4].off, "don\xE2\x80\x99t", t.v[4].len);
    assert_int_equal(t.v[4].norm_len, 5);
    assert_int_equal(t.v[5].kind, ES_TOK_PUNCT);
    assert_false(t.v[5].flags & ES_TOKF_SPACE_BEFORE);
    es_tokens_free(&t);
}

static void reuse_and_limits(void **state)
{
    (void)state;
    es_tokens t;
    es_tokens_init(&t);
    /* A big text tokenizes in one go and the buffers are then reused. */
    size_t n = 1 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) {
        big[i] = (i % 2) ? ' ' : 'a';
    }
    assert_int_equal(es_tokenize(big, n, &t), 0);
    assert_int_equal(t.n, n / 2);
    es_token *v = t.v;
    char *norm = t.norm;
    assert_int_equal(es_tokenize(big, n / 2, &t), 0);
    assert_ptr_equal(t.v, v);
    assert_ptr_equal(t.norm, norm);
    /* Past ES_TOKENS_MAX tokens the tokenizer refuses, leaving nothing. */
    size_t m = 2 * ES_TOKENS_MAX + 4;
    big = realloc(big, m);
    for (size_t i = 0; i < m; i++) {
        big[i] = (i % 2) ? ' ' : 'a';
    }
    assert_int_equal(es_tokenize(big, m, &t), ES_ETOOBIG);
    assert_int_equal(t.n, 0);
    free(big);
    es_tokens_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_and_punct),
        cmocka_unit_test(typographic_apostrophes),
        cmocka_unit_test(caps_and_case),
        cmocka_unit_test(numbers),
        cmocka_unit_test(handles_tags_cashtags),
        cmocka_unit_test(urls),
        cmocka_unit_test(emoji),
        cmocka_unit_test(emoticons),
        cmocka_unit_test(bad_bytes_are_separators),
        cmocka_unit_test(offsets_point_into_text),
        cmocka_unit_test(reuse_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
