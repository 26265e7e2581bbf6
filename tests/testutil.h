/* Helpers shared by the tests: run the earshot binary, read files. */
#ifndef ES_TESTUTIL_H
#define ES_TESTUTIL_H

#include <stddef.h>

/*
 * Run the built earshot binary with argv (NULL-terminated, argv[0] ignored),
 * feeding `input` (may be NULL) on stdin. Captures stdout and stderr into
 * malloc'd NUL-terminated strings the caller frees. Returns the exit status,
 * or -1 if the process could not be run or was killed by a signal.
 */
int es_test_run(const char *const *argv, const char *input, size_t input_len, char **out,
                char **err);

/* Read a whole file into a malloc'd NUL-terminated string; NULL on error. */
char *es_test_read_file(const char *path, size_t *len);

/* Count the lines in s. */
size_t es_test_count_lines(const char *s);

#endif
