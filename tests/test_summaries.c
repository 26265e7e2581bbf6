/*
 * Alert summaries are sentences a person reads in a chat message or on a
 * pager: one line, no half-words without "...", no split UTF-8, "1
 * follower" not "1 followers". The viral_post and complaint wordings here;
 * negative_surge and volume_spike in tests/test_surge.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert.h"
#include "detect.h"
#include "earshot.h"

#include <stdio.h>
#include <string.h>

/* Valid UTF-8 (no sequence cut short) and a single line. */
static void assert_one_clean_line(const char *s)
{
    if (strpbrk(s, "\n\r\t") != NULL) {
        fail_msg("summary spans lines: %s", s);
    }
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0) {
            fail_msg("summary has a stray UTF-8 byte: %s", s);
        }
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                fail_msg("summary has a cut UTF-8 sequence: %s", s);
            }
        }
        p += n;
    }
}

static void campaign_quote_is_cut_cleanly(void **state)
{
    (void)state;
    es_viral_event ev = {
        .reason = ES_VIRAL_CAMPAIGN, .severity = ES_SEV_WARNING, .posts = 20, .authors = 20,
        .campaign_window_ms = 15 * 60000,
    };
    /* 110 bytes, then a word of two-byte letters across the 120-byte cut. */
    char text[ES_VIRAL_TEXT];
    memset(text, 'a', 110);
    snprintf(text + 110, sizeof text - 110, " \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                            "\xc3\xa9 the end");
    text[20] = '\n';
    snprintf(ev.text, sizeof ev.text, "%s", text);
    es_detect_alert_text t;
    es_alert_mention m;
    es_alert a;
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_one_clean_line(a.summary);
    assert_non_null(strstr(a.summary, "acme: 20 near-identical posts from about 20 authors "
                                      "within 15 min, like \""));
    /* Cut at the end of the last whole word, and marked. */
    assert_non_null(strstr(a.summary, "aaa...\""));
    assert_null(strstr(a.summary, "\xc3\xa9"));

    /* A short post is quoted whole, without "...". */
    snprintf(ev.text, sizeof ev.text, "@acme refund now");
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_non_null(strstr(a.summary, "like \"@acme refund now\""));

    /* One word longer than the cut: cut inside it, still at a character. */
    memset(text, 0, sizeof text);
    for (int i = 0; i < 80; i++) {
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    }
    snprintf(ev.text, sizeof ev.text, "%s", text);
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_one_clean_line(a.summary);
    assert_non_null(strstr(a.summary, "\xc3\xa9...\""));

    ev.resolved = true;
    ev.posts = 1;
    ev.authors = 1;
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_string_equal(a.summary, "acme: the campaign of near-identical posts has gone quiet "
                                   "(1 post from about 1 author)");
}

static void one_follower_is_singular(void **state)
{
    (void)state;
    es_viral_event ev = {.reason = ES_VIRAL_REACH, .severity = ES_SEV_WARNING, .followers = 1};
    snprintf(ev.author, sizeof ev.author, "jdoe");
    snprintf(ev.post_id, sizeof ev.post_id, "p1");
    es_detect_alert_text t;
    es_alert_mention m;
    es_alert a;
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_string_equal(a.summary, "acme: complaint from jdoe, who has 1 follower");
    ev.followers = 250000;
    es_viral_to_alert(&ev, "acme", &t, &m, &a);
    assert_string_equal(a.summary, "acme: complaint from jdoe, who has 250000 followers");
}

static es_str str(const char *s)
{
    return (es_str){s, strlen(s)};
}

static void complaint_summary_is_one_line(void **state)
{
    (void)state;
    es_mention m;
    es_mention_clear(&m);
    m.id = str("c1");
    m.author = str("jdoe");
    m.followers = 1;
    m.text = str("@acme my bag\nis lost\r\nand\tnobody answers");
    es_detect_alert_text t;
    es_alert_mention q;
    es_alert a;
    es_complaint_to_alert(&m, "acme", 0.9, ES_SEV_INFO, &t, &q, &a);
    assert_one_clean_line(a.summary);
    assert_string_equal(a.summary, "acme: complaint from jdoe (1 follower): \"@acme my bag is "
                                   "lost  and nobody answers\"");
    /* The alert's quoted mention keeps the text as written. */
    assert_int_equal(a.n_mentions, 1);
    assert_non_null(memchr(a.mentions[0].text.ptr, '\n', a.mentions[0].text.len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(campaign_quote_is_cut_cleanly),
        cmocka_unit_test(one_follower_is_singular),
        cmocka_unit_test(complaint_summary_is_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
