/* Helpers shared by the tests: run the earshot binary, read files. */
#ifndef ES_TESTUTIL_H
#define ES_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* Occurrences of needle in s (non-overlapping). */
size_t es_test_count_str(const char *s, const char *needle);

/* Wall-clock milliseconds, and a short sleep for polling loops. */
int64_t es_test_now_ms(void);
void es_test_nap_ms(int ms);

/* Poll until the file at path has at least n lines (a missing file has
 * none) or timeout_ms passed; returns the count. The writer is another
 * process, and a short poll is the simplest honest way to wait for it. */
size_t es_test_wait_lines(const char *path, size_t n, int timeout_ms);

/*
 * `earshot run -c CONFIG --stats-interval 0 [EXTRA]` in the background
 * (extra: one more argument, e.g. "--exit-when-done", or NULL), stdin and
 * stdout on /dev/null, stderr appended to log_path. es_test_wait_run waits
 * up to timeout_ms for it to exit: its exit status, 128 + the signal that
 * ended it, or -1 on timeout (then it is killed). es_test_stop_run sends
 * SIGTERM and waits up to 30 s. The run started last and not reaped yet is
 * remembered, so a per-test teardown can call es_test_reap_leftover: a
 * failed assertion leaves the test without stopping its run, which must
 * not go on writing into the next test's files.
 */
pid_t es_test_spawn_run(const char *config, const char *log_path, const char *extra);
int es_test_wait_run(pid_t pid, int timeout_ms);
int es_test_stop_run(pid_t pid);
void es_test_reap_leftover(void);

/* The port a run's listener bound (`listen: 127.0.0.1:0`), from the
 * "(port N)" its log line gives: polls log_path for up to timeout_ms;
 * 0 if it never says. */
int es_test_wait_log_port(const char *log_path, int timeout_ms);

#endif
