/*
 * Every option a command's --help lists is documented in the README and in
 * the man page (docs/earshot.1): an option added to a command and not to
 * them fails here, by name. (`backfill --deliver-timeout` once went
 * undocumented this way.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The man page writes "--x" as "\-\-x": undo the escapes. */
static void unescape_roff(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (r[0] == '\\' && r[1] == '-') {
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

/* True if `doc` has "--opt" not followed by another option character
 * (so "--deliver" is not found inside "--deliver-timeout" alone). */
static bool has_option(const char *doc, const char *opt, size_t len)
{
    for (const char *p = doc; (p = strstr(p, opt)) != NULL; p++) {
        char next = p[len];
        if (!(isalnum((unsigned char)next) || next == '-' || next == '_')) {
            return true;
        }
    }
    return false;
}

static void test_every_option_is_documented(void **state)
{
    (void)state;
    char *readme = es_test_read_file(ES_TEST_SOURCE_DIR "/README.md", NULL);
    char *man = es_test_read_file(ES_TEST_SOURCE_DIR "/docs/earshot.1", NULL);
    assert_non_null(readme);
    assert_non_null(man);
    unescape_roff(man);

    static const char *const commands[] = {"run",    "backfill", "score", "spikes",
                                           "check",  "alerts",   "top"};
    int missing = 0, seen = 0;
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        const char *argv[] = {"earshot", commands[c], "--help", NULL};
        char *out = NULL, *err = NULL;
        assert_int_equal(es_test_run(argv, NULL, 0, &out, &err), 0);
        char done[2048] = " ";
        for (const char *p = out; (p = strstr(p, "--")) != NULL;) {
            const char *q = p + 2;
            while (isalnum((unsigned char)*q) || *q == '-') {
                q++;
            }
            size_t len = (size_t)(q - p);
            char opt[64];
            snprintf(opt, sizeof opt, "%.*s ", (int)len, p);
            /* Each option once per command (help names some twice). */
            bool again = strstr(done, opt) != NULL;
            if (!again && strlen(done) + strlen(opt) < sizeof done) {
                strcat(done, opt);
            }
            opt[len] = '\0';
            if (!again && len > 2 && isalpha((unsigned char)p[2])) {
                seen++;
                if (!has_option(readme, opt, len)) {
                    fprintf(stderr, "README.md does not document `earshot %s %s`\n",
                            commands[c], opt);
                    missing++;
                }
                if (!has_option(man, opt, len)) {
                    fprintf(stderr, "docs/earshot.1 does not document `earshot %s %s`\n",
                            commands[c], opt);
                    missing++;
                }
            }
            p = q;
        }
        free(out);
        free(err);
    }
    /* The help texts were read: every command has options. */
    assert_true(seen > 30);
    assert_int_equal(missing, 0);
    free(readme);
    free(man);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_is_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
