/*
 * Fuzz the topic query compiler and matcher. The input up to its first NUL
 * byte is a query; what follows the NUL (if anything) is a mention text,
 * otherwise a fixed one is used. Checks, beyond "no crash, no leak":
 *   - a rejected query gets a message and a column inside the query;
 *   - a compiled query matches without error, and the ids are in range;
 *   - the normalized description compiles again to the same description
 *     (what `earshot check` prints is itself a valid query).
 */
#include "earshot.h"
#include "earshot/topics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_text[] =
    "@Acme lost my bag AGAIN!!! #acmefail refund* please, café ÉCLAIR "
    "acme's acme-branded \"money back\" $ACME https://acme.com/help \xF0\x9F\x94\xA5 :(";

static void match_text(const es_topics *t, const char *text, size_t len)
{
    es_matcher *m = NULL;
    if (es_matcher_new(t, &m) != 0) {
        abort();
    }
    es_mention mn;
    es_mention_clear(&mn);
    mn.text.ptr = text;
    mn.text.len = len;
    mn.lang = (es_str){"en", 2};
    mn.reply_to = (es_str){"1", 1};
    mn.followers = 100;
    const uint32_t *ids;
    size_t n;
    /* Twice: the second run must not see the first one's state. */
    for (int round = 0; round < 2; round++) {
        if (es_topics_match(m, &mn, &ids, &n) != 0) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            if (ids[i] >= es_topics_count(t) || (i > 0 && ids[i] <= ids[i - 1])) {
                abort();
            }
        }
        for (size_t i = 0; i < es_topics_count(t); i++) {
            (void)es_matcher_addressed(m, i);
        }
    }
    es_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) {
        return 0;
    }
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t qlen = strlen(buf);
    const char *text = fixed_text;
    size_t text_len = sizeof fixed_text - 1;
    if (qlen < size) {
        text = buf + qlen + 1;
        text_len = size - qlen - 1;
    }

    static const char *owned[] = {"@acme", "acmehelp"};
    es_topic_def defs[2] = {
        {.name = "fuzz", .query = buf, .owned = owned, .n_owned = 2, .query_line = 3,
         .query_col = 12},
        {.name = "fixed", .query = "acme OR \"lost bag\" OR refund* OR (bag NEAR/2 lost)"},
    };
    es_topics *t = NULL;
    es_error err;
    memset(&err, 0, sizeof err);
    int rc = es_topics_compile(defs, 2, &t, &err);
    if (rc != 0) {
        if (err.msg[0] == '\0' || t != NULL) {
            abort();
        }
        if (rc == ES_EQUERY && (err.line < 3 || err.col < 1)) {
            abort();
        }
        free(buf);
        return 0;
    }
    match_text(t, text, text_len);

    int dn = es_topics_describe(t, 0, NULL, 0);
    char *desc = malloc((size_t)dn + 1);
    if (desc == NULL || es_topics_describe(t, 0, desc, (size_t)dn + 1) != dn) {
        abort();
    }
    es_topic_def again = {.name = "again", .query = desc};
    es_topics *t2 = NULL;
    if (es_topics_compile(&again, 1, &t2, &err) != 0) {
        /* The description parenthesizes fully, so a query nested near the
         * depth limit may describe past it; that is the only excuse. */
        if (strstr(err.msg, "nested too deeply") != NULL) {
            es_topics_free(t);
            free(desc);
            free(buf);
            return 0;
        }
        fprintf(stderr, "description does not compile: [%s] -> [%s]: %s\n", buf, desc, err.msg);
        abort();
    }
    char *desc2 = malloc((size_t)dn + 1);
    if (desc2 == NULL || es_topics_describe(t2, 0, desc2, (size_t)dn + 1) != dn ||
        strcmp(desc, desc2) != 0) {
        fprintf(stderr, "description not stable: [%s] -> [%s] -> [%s]\n", buf, desc,
                desc2 ? desc2 : "");
        abort();
    }
    match_text(t2, text, text_len);
    free(desc2);
    free(desc);
    es_topics_free(t2);
    es_topics_free(t);
    free(buf);
    return 0;
}
