/*
 * The notification object of the contract: what the webhook sink POSTs and
 * what the spool stores, and reading it back into alerts for the other
 * sinks when a stored notification is (re)sent.
 *
 * Changing the shape? Update es_notification_parse() to match, the contract
 * section in README.md and tests/test_sink_payloads.c.
 */
#include "sink.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

bool es_notification_resolved(const es_notification *n)
{
    if (n->n_alerts == 0) {
        return false;
    }
    for (size_t i = 0; i < n->n_alerts; i++) {
        if (!n->alerts[i].resolved) {
            return false;
        }
    }
    return true;
}

size_t es_notification_count(const es_notification *n)
{
    return n->count > n->n_alerts ? n->count : n->n_alerts;
}

int es__notification_alert_json(const es_notification *n, size_t i, es_buf *out)
{
    if (n->alert_json != NULL && n->alert_json[i].ptr != NULL) {
        return es_buf_add(out, n->alert_json[i].ptr, n->alert_json[i].len);
    }
    return es_alert_to_json(&n->alerts[i], out);
}

static const char *const fixed_keys[] = {"key", "group", "status", "count", "action", "alerts"};

static bool is_fixed_key(const char *k)
{
    for (size_t i = 0; i < sizeof fixed_keys / sizeof fixed_keys[0]; i++) {
        if (strcmp(k, fixed_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

int es_notification_to_json(const es_notification *n, es_buf *out)
{
    const char *key = n->key != NULL ? n->key : "";
    const char *group = n->group;
    if (group == NULL) {
        group = n->n_alerts > 0 && n->alerts[0].fingerprint != NULL ? n->alerts[0].fingerprint : "";
    }
    int rc = es_buf_adds(out, "{\"key\":");
    rc = rc ? rc : es_buf_json_str(out, key, strlen(key));
    rc = rc ? rc : es_buf_adds(out, ",\"group\":");
    rc = rc ? rc : es_buf_json_str(out, group, strlen(group));
    rc = rc ? rc
            : es_buf_printf(out, ",\"status\":\"%s\",\"count\":%zu",
                            es_notification_resolved(n) ? "resolved" : "firing",
                            es_notification_count(n));
    if (rc == 0 && n->action == ES_NOTIFY_ACKNOWLEDGE) {
        rc = es_buf_adds(out, ",\"action\":\"acknowledge\"");
    }
    for (size_t i = 0; rc == 0 && i < n->n_labels; i++) {
        const es_label *l = &n->labels[i];
        if (l->key == NULL || l->value == NULL || is_fixed_key(l->key)) {
            continue;
        }
        rc = es_buf_addc(out, ',');
        rc = rc ? rc : es_buf_json_str(out, l->key, strlen(l->key));
        rc = rc ? rc : es_buf_addc(out, ':');
        rc = rc ? rc : es_buf_json_str(out, l->value, strlen(l->value));
    }
    rc = rc ? rc : es_buf_adds(out, ",\"alerts\":[");
    for (size_t i = 0; rc == 0 && i < n->n_alerts; i++) {
        if (i > 0) {
            rc = es_buf_addc(out, ',');
        }
        rc = rc ? rc : es__notification_alert_json(n, i, out);
    }
    return rc ? rc : es_buf_adds(out, "]}");
}

/* ---- Reading it back ---------------------------------------------------- */

/* Re-encode a parsed value. yajl keeps object keys in order and numbers as
 * their original text, so our own output comes back out the same. */
static int val_to_json(es_buf *out, yajl_val v, int depth)
{
    if (depth > 64) {
        return ES_ETOOBIG;
    }
    int rc = 0;
    if (YAJL_IS_STRING(v)) {
        const char *s = YAJL_GET_STRING(v);
        return es_buf_json_str(out, s, strlen(s));
    } else if (YAJL_IS_NUMBER(v)) {
        return es_buf_adds(out, YAJL_GET_NUMBER(v));
    } else if (YAJL_IS_TRUE(v)) {
        return es_buf_adds(out, "true");
    } else if (YAJL_IS_FALSE(v)) {
        return es_buf_adds(out, "false");
    } else if (YAJL_IS_OBJECT(v)) {
        rc = es_buf_addc(out, '{');
        for (size_t i = 0; rc == 0 && i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            rc = i ? es_buf_addc(out, ',') : 0;
            rc = rc ? rc : es_buf_json_str(out, k, strlen(k));
            rc = rc ? rc : es_buf_addc(out, ':');
            rc = rc ? rc : val_to_json(out, v->u.object.values[i], depth + 1);
        }
        return rc ? rc : es_buf_addc(out, '}');
    } else if (YAJL_IS_ARRAY(v)) {
        rc = es_buf_addc(out, '[');
        for (size_t i = 0; rc == 0 && i < v->u.array.len; i++) {
            rc = i ? es_buf_addc(out, ',') : 0;
            rc = rc ? rc : val_to_json(out, v->u.array.values[i], depth + 1);
        }
        return rc ? rc : es_buf_addc(out, ']');
    }
    return es_buf_adds(out, "null");
}

static const char *get_str(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

static es_str str_of(const char *s)
{
    return (es_str){s, s != NULL ? strlen(s) : 0};
}

static int lookup_enum(const char *s, const char *(*name)(int), int n, int *out)
{
    for (int i = 0; s != NULL && i < n; i++) {
        if (strcmp(name(i), s) == 0) {
            *out = i;
            return 0;
        }
    }
    return ES_EPARSE;
}

static const char *kind_name_i(int i)
{
    return es_alert_kind_name((es_alert_kind)i);
}

static const char *sev_name_i(int i)
{
    return es_severity_name((es_severity)i);
}

void es_notification_doc_free(es_notification_doc *doc)
{
    yajl_tree_free((yajl_val)doc->tree);
    free(doc->alerts);
    free(doc->mentions);
    free(doc->labels);
    free(doc->alert_json);
    es_buf_free(&doc->arena);
    memset(doc, 0, sizeof *doc);
}

/* Offsets into the arena until it stops moving, then pointers. */
typedef struct fixup {
    size_t details_off; /* SIZE_MAX: none */
    size_t json_off;
    size_t json_len;
} fixup;

static int parse_alert(es_notification_doc *doc, yajl_val a, size_t idx, size_t *mi, fixup *fx,
                       es_error *err)
{
    es_alert *al = &doc->alerts[idx];
    int v;
    if (!YAJL_IS_OBJECT(a)) {
        return es_error_set(err, ES_EFIELD, 0, 0, "alert %zu is not an object", idx + 1);
    }
    if (lookup_enum(get_str(a, "kind"), kind_name_i, ES_ALERT_FEED_STALLED + 1, &v) != 0) {
        return es_error_set(err, ES_EFIELD, 0, 0, "alert %zu: missing or unknown \"kind\"",
                            idx + 1);
    }
    al->kind = (es_alert_kind)v;
    if (lookup_enum(get_str(a, "severity"), sev_name_i, ES_SEV_CRITICAL + 1, &v) != 0) {
        return es_error_set(err, ES_EFIELD, 0, 0, "alert %zu: missing or unknown \"severity\"",
                            idx + 1);
    }
    al->severity = (es_severity)v;
    const char *status = get_str(a, "status");
    al->resolved = status != NULL && strcmp(status, "resolved") == 0;
    al->topic = get_str(a, "topic");
    al->series = get_str(a, "series");
    al->feed = get_str(a, "feed");
    al->fingerprint = get_str(a, "fingerprint");
    al->summary = get_str(a, "summary");
    al->at_text = get_str(a, "at");
    if (al->at_text == NULL || es_time_parse(al->at_text, strlen(al->at_text), &al->at_ms) != 0) {
        return es_error_set(err, ES_EFIELD, 0, 0, "alert %zu: missing or unreadable \"at\"",
                            idx + 1);
    }
    const char *dpath[] = {"details", NULL};
    yajl_val details = yajl_tree_get(a, dpath, yajl_t_object);
    fx->details_off = SIZE_MAX;
    int rc = 0;
    if (details != NULL) {
        fx->details_off = doc->arena.len;
        rc = val_to_json(&doc->arena, details, 0);
        rc = rc ? rc : es_buf_addc(&doc->arena, '\0');
    }
    const char *mpath[] = {"mentions", NULL};
    yajl_val ms = yajl_tree_get(a, mpath, yajl_t_array);
    al->mentions = doc->mentions + *mi;
    al->n_mentions = 0;
    for (size_t j = 0; rc == 0 && ms != NULL && j < ms->u.array.len; j++) {
        yajl_val m = ms->u.array.values[j];
        if (!YAJL_IS_OBJECT(m)) {
            continue;
        }
        es_alert_mention *em = &doc->mentions[(*mi)++];
        em->id = str_of(get_str(m, "id"));
        if (em->id.ptr == NULL) {
            em->id = str_of("");
        }
        em->author = str_of(get_str(m, "author"));
        em->text = str_of(get_str(m, "text"));
        em->url = str_of(get_str(m, "url"));
        al->n_mentions++;
    }
    if (rc == 0) {
        fx->json_off = doc->arena.len;
        rc = val_to_json(&doc->arena, a, 0);
        fx->json_len = doc->arena.len - fx->json_off;
        rc = rc ? rc : es_buf_addc(&doc->arena, '\0');
    }
    if (rc != 0) {
        return es_error_set(err, rc, 0, 0, "alert %zu: %s", idx + 1, es_strerror(rc));
    }
    return 0;
}

/* A stored notification holds at most a few hundred alerts of bounded size;
 * this ceiling only stops a corrupted row from eating memory. */
#define NOTIFICATION_ARENA_MAX (16u << 20)

int es_notification_parse(const char *json, size_t len, es_notification_doc *doc, es_error *err)
{
    memset(doc, 0, sizeof *doc);
    es_buf_init(&doc->arena, NOTIFICATION_ARENA_MAX);
    char errbuf[256];
    char *copy = NULL;
    if (json[len] != '\0') {
        /* yajl_tree_parse wants a C string. */
        copy = malloc(len + 1);
        if (copy == NULL) {
            return es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        }
        memcpy(copy, json, len);
        copy[len] = '\0';
        json = copy;
    }
    yajl_val root = yajl_tree_parse(json, errbuf, sizeof errbuf);
    free(copy);
    if (root == NULL) {
        char *nl = strchr(errbuf, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        return es_error_set(err, ES_EJSON, 0, 0, "notification: %s", errbuf);
    }
    doc->tree = root;
    int rc = 0;
    const char *apath[] = {"alerts", NULL};
    yajl_val alerts = YAJL_IS_OBJECT(root) ? yajl_tree_get(root, apath, yajl_t_array) : NULL;
    if (alerts == NULL || alerts->u.array.len == 0) {
        rc = es_error_set(err, ES_EFIELD, 0, 0, "notification: no \"alerts\" array");
        goto fail;
    }
    size_t na = alerts->u.array.len, nm = 0, nl = 0;
    for (size_t i = 0; i < na; i++) {
        const char *mpath[] = {"mentions", NULL};
        yajl_val ms = yajl_tree_get(alerts->u.array.values[i], mpath, yajl_t_array);
        nm += ms != NULL ? ms->u.array.len : 0;
    }
    for (size_t i = 0; i < root->u.object.len; i++) {
        nl += YAJL_IS_STRING(root->u.object.values[i]) && !is_fixed_key(root->u.object.keys[i]);
    }
    doc->alerts = calloc(na, sizeof *doc->alerts);
    doc->alert_json = calloc(na, sizeof *doc->alert_json);
    doc->mentions = calloc(nm + 1, sizeof *doc->mentions);
    doc->labels = calloc(nl + 1, sizeof *doc->labels);
    fixup *fx = calloc(na, sizeof *fx);
    if (doc->alerts == NULL || doc->alert_json == NULL || doc->mentions == NULL ||
        doc->labels == NULL || fx == NULL) {
        free(fx);
        rc = es_error_set(err, ES_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }
    size_t mi = 0;
    for (size_t i = 0; rc == 0 && i < na; i++) {
        rc = parse_alert(doc, alerts->u.array.values[i], i, &mi, &fx[i], err);
    }
    if (rc != 0) {
        free(fx);
        goto fail;
    }
    /* The arena is complete: turn offsets into pointers. */
    for (size_t i = 0; i < na; i++) {
        if (fx[i].details_off != SIZE_MAX) {
            doc->alerts[i].details_json = doc->arena.data + fx[i].details_off;
        }
        doc->alert_json[i] = (es_str){doc->arena.data + fx[i].json_off, fx[i].json_len};
    }
    free(fx);

    es_notification *n = &doc->n;
    n->key = get_str(root, "key");
    n->group = get_str(root, "group");
    if (n->key == NULL) {
        rc = es_error_set(err, ES_EFIELD, 0, 0, "notification: no \"key\"");
        goto fail;
    }
    const char *cpath[] = {"count", NULL};
    yajl_val count = yajl_tree_get(root, cpath, yajl_t_number);
    n->count = count != NULL && YAJL_IS_INTEGER(count) && YAJL_GET_INTEGER(count) > 0
                   ? (size_t)YAJL_GET_INTEGER(count)
                   : 0;
    const char *action = get_str(root, "action");
    n->action = action != NULL && strcmp(action, "acknowledge") == 0 ? ES_NOTIFY_ACKNOWLEDGE
                                                                     : ES_NOTIFY_AUTO;
    size_t li = 0;
    for (size_t i = 0; i < root->u.object.len; i++) {
        yajl_val v = root->u.object.values[i];
        if (YAJL_IS_STRING(v) && !is_fixed_key(root->u.object.keys[i])) {
            doc->labels[li].key = root->u.object.keys[i];
            doc->labels[li].value = YAJL_GET_STRING(v);
            li++;
        }
    }
    n->labels = doc->labels;
    n->n_labels = li;
    n->alerts = doc->alerts;
    n->n_alerts = na;
    n->alert_json = doc->alert_json;
    return 0;

fail:
    es_notification_doc_free(doc);
    return rc;
}
