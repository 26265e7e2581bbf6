/*
 * The stdout sink: alerts as NDJSON on standard output, one per line, never
 * grouped (a grouped notification becomes several lines).
 */
#include "sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int stdout_init(const es_sink_opts *o, void **state, es_error *err)
{
    (void)o;
    (void)err;
    *state = NULL;
    return 0;
}

/* Shared with the file sink: each alert on its own line. */
int es__sink_ndjson_build(const es_notification *n, es_sink_request *req)
{
    req->kind = ES_SINK_REQ_LOCAL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n->n_alerts; i++) {
        rc = es__notification_alert_json(n, i, &req->body);
        rc = rc ? rc : es_buf_addc(&req->body, '\n');
    }
    return rc;
}

static int stdout_build(void *state, const es_notification *n, es_sink_request *req)
{
    (void)state;
    return es__sink_ndjson_build(n, req);
}

static void stdout_perform(void *state, const es_sink_request *req, int64_t timeout_ms,
                           es_sink_result *res)
{
    (void)state;
    (void)timeout_ms;
    if (fwrite(req->body.data, 1, req->body.len, stdout) != req->body.len || fflush(stdout) != 0) {
        res->verdict = ES_SINK_RETRY;
        snprintf(res->error, sizeof res->error, "writing to stdout: %s", strerror(errno));
        return;
    }
    res->verdict = ES_SINK_DELIVERED;
}

static void stdout_destroy(void *state)
{
    (void)state;
}

static const es_sink_option stdout_options[] = {
    {NULL, 0, NULL, 0, NULL},
};

const struct es_sink_type es_sink_stdout = {
    .name = "stdout",
    .options = stdout_options,
    .init = stdout_init,
    .build = stdout_build,
    .perform = stdout_perform,
    .destroy = stdout_destroy,
};
