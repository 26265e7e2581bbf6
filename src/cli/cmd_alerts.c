/*
 * earshot alerts ...: look at and act on the alert state in the `state:`
 * database the engine uses (the spool, the dead letters, escalation
 * incidents and silences). Safe while `earshot run` is running: every
 * change is a short SQLite transaction, and the engine picks up
 * acknowledgements and silences on its next step.
 *
 * Acknowledging or resolving an incident writes the acknowledge / resolve
 * notifications for the sinks it reached into the spool; the running engine
 * (or the next `run`) delivers them, so PagerDuty acknowledges the same
 * dedup key it was triggered with.
 */
#include "cli.h"
#include "config.h"
#include "escalate.h"
#include "route.h"
#include "sink.h"
#include "spool.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: earshot alerts COMMAND -c CONFIG [OPTIONS]\n\n"
            "Inspect and act on the alert state in the config's state database.\n\n"
            "commands:\n"
            "  list [--all]              open escalation incidents and notifications not yet\n"
            "                            delivered (--all: also resolved and delivered ones)\n"
            "  ack ID                    acknowledge an incident: stop its escalation and tell\n"
            "                            the sinks it reached (PagerDuty: acknowledge)\n"
            "  resolve ID                resolve an incident and tell the sinks it reached\n"
            "  dlq [--sink NAME]         list dead letters (notifications that gave up)\n"
            "  replay ID | --all [--sink NAME]\n"
            "                            put dead letters back in the delivery queue\n"
            "  silence add MATCHER... [--for DURATION | --until TIME] [--comment TEXT]\n"
            "                            mute alerts matching every MATCHER, e.g.\n"
            "                            'topic=\"acme\"' 'kind=~\"complaint|viral_post\"'\n"
            "                            (default: for 1h)\n"
            "  silence list [--all]      silences in force (--all: also ended ones)\n"
            "  silence expire ID         end a silence now\n\n"
            "An incident ID is its number (see list), its group (\"acme/complaint\") or the\n"
            "id of an alert in it.\n\n"
            "options:\n"
            "  -c, --config FILE   the config (its `state:` file is used)\n"
            "  --by NAME           who acts (default: $USER)\n"
            "  --at TIME           act as if it were TIME (RFC 3339), e.g. to replay a log\n\n"
            "Exit status: 0 done, 1 not found or bad input, 2 usage error.\n");
}

typedef struct opts {
    const char *config;
    const char *by;
    const char *sink;
    const char *comment;
    const char *for_s;
    const char *until_s;
    bool all;
    int64_t now;
    const char *pos[64];
    int n_pos;
} opts;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_time(int64_t ms, char out[32])
{
    if (ms <= 0) {
        snprintf(out, 32, "-");
    } else {
        es_time_format(ms, out);
    }
}

static void fmt_dur(int64_t ms, char *out, size_t n)
{
    int64_t s = ms / 1000;
    if (s >= 3600) {
        snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    } else if (s >= 60) {
        snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    } else {
        snprintf(out, n, "%llds", (long long)s);
    }
}

/* ---- State --------------------------------------------------------------------- */

typedef struct state {
    es_config *c;
    es_spool *sp;
    es_route_db *db;
    int emitted;
    es_buf json;
    int64_t now;
} state;

static int open_state(const opts *o, state *st, bool spool)
{
    memset(st, 0, sizeof *st);
    es_error err = {0};
    if (es_config_load(o->config, &st->c, &err) != 0) {
        if (err.line > 0) {
            fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        } else {
            fprintf(stderr, "%s: %s\n", err.file[0] ? err.file : o->config, err.msg);
        }
        return ES_EXIT_INPUT;
    }
    const char *path = es_config_state_path(st->c);
    if (spool && es_spool_open(path, &st->sp, &err) != 0) {
        fprintf(stderr, "earshot alerts: %s\n", err.msg);
        return ES_EXIT_INPUT;
    }
    if (es_route_db_open(path, &st->db, &err) != 0) {
        fprintf(stderr, "earshot alerts: %s\n", err.msg);
        return ES_EXIT_INPUT;
    }
    es_buf_init(&st->json, 16u << 20);
    st->now = o->now;
    return 0;
}

static void close_state(state *st)
{
    es_route_db_close(st->db);
    es_spool_close(st->sp);
    es_config_free(st->c);
    es_buf_free(&st->json);
}

/* The escalator's notifications go to the spool, for the engine to send. */
static int to_spool(void *ud, const char *sink, const es_notification *n, int64_t at)
{
    state *st = ud;
    es_buf_reset(&st->json);
    int rc = es_notification_to_json(n, &st->json);
    if (rc == 0) {
        rc = es_spool_enqueue(st->sp, sink, n->key, st->json.data, st->json.len, at);
    }
    if (rc < 0) {
        fprintf(stderr, "earshot alerts: cannot queue the notification for %s: %s\n", sink,
                es_strerror(rc));
        return rc;
    }
    st->emitted++;
    return 0;
}

/* ---- list ------------------------------------------------------------------------- */

static int print_incident(void *ud, const es_incident *inc)
{
    int *n = ud;
    if ((*n)++ == 0) {
        printf("incidents:\n");
    }
    char opened[32], next[32], ack[32];
    fmt_time(inc->opened_ms, opened);
    printf("  %-4lld %-12s tier %d  %-16s %s  opened %s", (long long)inc->id,
           es_incident_state_name(inc->state), inc->tier, inc->policy, inc->group, opened);
    if (inc->state == ES_INCIDENT_OPEN && inc->next_ms > 0) {
        fmt_time(inc->next_ms, next);
        printf("  climbs %s", next);
    }
    if (inc->acked_ms > 0) {
        fmt_dur(inc->acked_ms - inc->opened_ms, ack, sizeof ack);
        printf("  acknowledged by %s after %s", inc->acked_by[0] ? inc->acked_by : "someone",
               ack);
    }
    if (inc->resolved_ms > 0) {
        fmt_time(inc->resolved_ms, next);
        printf("  resolved %s", next);
    }
    printf("\n       sinks:");
    for (const char *p = inc->sinks; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        printf(" %.*s", (int)len, p);
        p += len;
        p += *p == '\n';
    }
    printf("\n");
    return 0;
}

typedef struct spool_print {
    int n;
    bool all;
    bool dead;
} spool_print;

static int print_spooled(void *ud, const es_spool_item *it)
{
    spool_print *p = ud;
    if (!p->all && !p->dead && it->state == ES_SPOOL_DONE) {
        return 0;
    }
    if (p->n++ == 0) {
        printf(p->dead ? "dead letters:\n" : "notifications:\n");
    }
    char t1[32], t2[32];
    fmt_time(it->created_ms, t1);
    fmt_time(p->dead ? it->updated_ms : it->next_attempt_ms, t2);
    printf("  %-4lld %-9s %-12s %s  queued %s  attempts %d  %s %s", (long long)it->id,
           p->dead ? "dead" : es_spool_state_name(it->state), it->sink, it->key, t1,
           it->attempts, p->dead ? "died" : "next", t2);
    if (it->last_error != NULL && it->last_error[0] != '\0') {
        printf("  error: %s", it->last_error);
    }
    printf("\n");
    return 0;
}

static int cmd_list(const opts *o)
{
    state st;
    int rc = open_state(o, &st, true);
    if (rc != 0) {
        close_state(&st);
        return rc;
    }
    int n = 0;
    rc = es_incident_list(st.db, o->all, print_incident, &n);
    if (n == 0) {
        printf("incidents: none%s\n", o->all ? "" : " open");
    }
    spool_print sp = {.all = o->all};
    if (rc == 0) {
        rc = es_spool_list(st.sp, ES_SPOOL_ANY, o->sink, 0, print_spooled, &sp);
    }
    if (sp.n == 0) {
        printf("notifications: none%s\n", o->all ? "" : " waiting");
    }
    int64_t dead = 0;
    if (rc == 0 && es_spool_count(st.sp, ES_SPOOL_DEAD, o->sink, &dead) == 0 && dead > 0) {
        printf("dead letters: %lld (see earshot alerts dlq)\n", (long long)dead);
    }
    close_state(&st);
    if (rc < 0) {
        fprintf(stderr, "earshot alerts list: %s\n", es_strerror(rc));
        return ES_EXIT_INPUT;
    }
    return ES_EXIT_OK;
}

/* ---- ack / resolve ------------------------------------------------------------------ */

static int cmd_ack_resolve(const opts *o, bool ack)
{
    const char *what = ack ? "ack" : "resolve";
    if (o->n_pos != 1) {
        es_cli_usage_error("alerts", "%s takes one incident ID (see earshot alerts list)", what);
        return ES_EXIT_USAGE;
    }
    state st;
    int rc = open_state(o, &st, true);
    if (rc != 0) {
        close_state(&st);
        return rc;
    }
    es_escalator *e = NULL;
    rc = es_escalator_new(NULL, st.db, to_spool, &st, &e);
    if (rc == 0) {
        rc = ack ? es_escalator_ack(e, o->pos[0], o->by, st.now)
                 : es_escalator_resolve(e, o->pos[0], o->by, st.now);
    }
    es_escalator_free(e);
    close_state(&st);
    if (rc == ES_ENOTFOUND) {
        fprintf(stderr, "earshot alerts %s: no open incident '%s' (see earshot alerts list)\n",
                what, o->pos[0]);
        return ES_EXIT_INPUT;
    }
    if (rc == 1) {
        printf("incident %s was already %s\n", o->pos[0], ack ? "acknowledged" : "resolved");
        return ES_EXIT_OK;
    }
    if (rc < 0) {
        fprintf(stderr, "earshot alerts %s: %s\n", what, es_strerror(rc));
        return ES_EXIT_INPUT;
    }
    printf("incident %s %s by %s; %d notification%s queued\n", o->pos[0],
           ack ? "acknowledged" : "resolved", o->by, st.emitted, st.emitted == 1 ? "" : "s");
    return ES_EXIT_OK;
}

/* ---- dlq / replay --------------------------------------------------------------------- */

static int cmd_dlq(const opts *o)
{
    state st;
    int rc = open_state(o, &st, true);
    if (rc != 0) {
        close_state(&st);
        return rc;
    }
    spool_print sp = {.dead = true};
    rc = es_spool_list(st.sp, ES_SPOOL_DEAD, o->sink, 0, print_spooled, &sp);
    close_state(&st);
    if (rc < 0) {
        fprintf(stderr, "earshot alerts dlq: %s\n", es_strerror(rc));
        return ES_EXIT_INPUT;
    }
    if (sp.n == 0) {
        printf("dead letters: none\n");
    }
    return ES_EXIT_OK;
}

static int cmd_replay(const opts *o)
{
    if ((o->n_pos == 1) == o->all) {
        es_cli_usage_error("alerts", "replay takes one dead-letter ID, or --all");
        return ES_EXIT_USAGE;
    }
    int64_t id = -1;
    if (o->n_pos == 1) {
        char *end = NULL;
        id = strtoll(o->pos[0], &end, 10);
        if (end == o->pos[0] || *end != '\0' || id < 0) {
            es_cli_usage_error("alerts", "'%s' is not a dead-letter ID (see earshot alerts dlq)",
                               o->pos[0]);
            return ES_EXIT_USAGE;
        }
    }
    state st;
    int rc = open_state(o, &st, true);
    if (rc != 0) {
        close_state(&st);
        return rc;
    }
    rc = es_spool_replay(st.sp, id, o->sink, st.now);
    close_state(&st);
    if (rc < 0) {
        fprintf(stderr, "earshot alerts replay: %s\n", es_strerror(rc));
        return ES_EXIT_INPUT;
    }
    if (rc == 0 && id >= 0) {
        fprintf(stderr, "earshot alerts replay: no dead letter %lld\n", (long long)id);
        return ES_EXIT_INPUT;
    }
    printf("%d dead letter%s back in the queue\n", rc, rc == 1 ? "" : "s");
    return ES_EXIT_OK;
}

/* ---- silences ------------------------------------------------------------------------ */

static int print_silence(void *ud, const es_silence *s)
{
    int *n = ud;
    if ((*n)++ == 0) {
        printf("silences:\n");
    }
    char a[32], b[32];
    fmt_time(s->starts_ms, a);
    fmt_time(s->ends_ms, b);
    printf("  %-4lld %s .. %s  by %s", (long long)s->id, a, b,
           s->created_by[0] ? s->created_by : "someone");
    if (s->comment[0] != '\0') {
        printf("  \"%s\"", s->comment);
    }
    printf("\n       ");
    for (const char *p = s->matchers; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        printf("%s%.*s", p == s->matchers ? "" : ", ", (int)len, p);
        p += len;
        p += *p == '\n';
    }
    printf("\n");
    return 0;
}

static int cmd_silence(const opts *o)
{
    if (o->n_pos < 1) {
        es_cli_usage_error("alerts", "silence add|list|expire (see earshot alerts --help)");
        return ES_EXIT_USAGE;
    }
    const char *sub = o->pos[0];
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "expire") != 0) {
        es_cli_usage_error("alerts", "unknown silence command '%s' (add, list, expire)", sub);
        return ES_EXIT_USAGE;
    }
    int64_t until = 0, id = 0;
    if (strcmp(sub, "add") == 0) {
        if (o->n_pos < 2) {
            es_cli_usage_error("alerts", "silence add needs at least one matcher, e.g. "
                                         "'topic=\"acme\"'");
            return ES_EXIT_USAGE;
        }
        if (o->for_s != NULL && o->until_s != NULL) {
            es_cli_usage_error("alerts", "give --for or --until, not both");
            return ES_EXIT_USAGE;
        }
        int64_t d = 3600 * 1000;
        if (o->for_s != NULL && (es_duration_parse(o->for_s, &d) != 0 || d <= 0)) {
            es_cli_usage_error("alerts", "--for '%s' is not a duration such as 30m or 2h",
                               o->for_s);
            return ES_EXIT_USAGE;
        }
        until = o->now + d;
        if (o->until_s != NULL &&
            es_time_parse(o->until_s, strlen(o->until_s), &until) != 0) {
            es_cli_usage_error("alerts", "--until '%s' is not a time (RFC 3339)", o->until_s);
            return ES_EXIT_USAGE;
        }
        if (until <= o->now) {
            es_cli_usage_error("alerts", "--until is not in the future");
            return ES_EXIT_USAGE;
        }
    } else if (strcmp(sub, "expire") == 0) {
        char *end = NULL;
        id = o->n_pos == 2 ? strtoll(o->pos[1], &end, 10) : 0;
        if (o->n_pos != 2 || end == o->pos[1] || *end != '\0') {
            es_cli_usage_error("alerts", "silence expire takes one silence ID");
            return ES_EXIT_USAGE;
        }
    }
    state st;
    int rc = open_state(o, &st, false);
    if (rc != 0) {
        close_state(&st);
        return rc;
    }
    int exit_code = ES_EXIT_OK;
    if (strcmp(sub, "add") == 0) {
        es_error err = {0};
        int64_t new_id = 0;
        rc = es_silence_add(st.db, o->pos + 1, (size_t)o->n_pos - 1, o->now, until, o->comment,
                            o->by, o->now, &new_id, &err);
        if (rc != 0) {
            fprintf(stderr, "earshot alerts silence add: %s\n", err.msg);
            exit_code = ES_EXIT_INPUT;
        } else {
            char t[32];
            fmt_time(until, t);
            printf("silence %lld until %s\n", (long long)new_id, t);
        }
    } else if (strcmp(sub, "list") == 0) {
        int n = 0;
        rc = es_silence_list(st.db, o->now, o->all, print_silence, &n);
        if (rc == 0 && n == 0) {
            printf("silences: none%s\n", o->all ? "" : " in force");
        }
        exit_code = rc == 0 ? ES_EXIT_OK : ES_EXIT_INPUT;
    } else {
        rc = es_silence_expire(st.db, id, o->now);
        if (rc == ES_ENOTFOUND) {
            fprintf(stderr, "earshot alerts silence expire: no silence %lld\n", (long long)id);
            exit_code = ES_EXIT_INPUT;
        } else if (rc == 1) {
            printf("silence %lld had already ended\n", (long long)id);
        } else if (rc == 0) {
            printf("silence %lld expired\n", (long long)id);
        } else {
            fprintf(stderr, "earshot alerts silence expire: %s\n", es_strerror(rc));
            exit_code = ES_EXIT_INPUT;
        }
    }
    close_state(&st);
    return exit_code;
}

/* ---- Dispatch ------------------------------------------------------------------------ */

static const char *next_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        es_cli_usage_error("alerts", "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int es_cmd_alerts(int argc, char **argv)
{
    opts o = {0};
    const char *cmd = NULL;
    const char *at = NULL;
    o.by = getenv("USER") != NULL ? getenv("USER") : "someone";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return ES_EXIT_OK;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            dst = &o.config;
        } else if (strcmp(a, "--by") == 0) {
            dst = &o.by;
        } else if (strcmp(a, "--sink") == 0) {
            dst = &o.sink;
        } else if (strcmp(a, "--comment") == 0) {
            dst = &o.comment;
        } else if (strcmp(a, "--for") == 0) {
            dst = &o.for_s;
        } else if (strcmp(a, "--until") == 0) {
            dst = &o.until_s;
        } else if (strcmp(a, "--at") == 0) {
            dst = &at;
        } else if (strcmp(a, "--all") == 0) {
            o.all = true;
            continue;
        } else if (strncmp(a, "--config=", 9) == 0) {
            o.config = a + 9;
            continue;
        } else if (a[0] == '-' && a[1] != '\0' && cmd != NULL && strcmp(cmd, "silence") != 0) {
            es_cli_usage_error("alerts", "unknown option '%s' (see earshot alerts --help)", a);
            return ES_EXIT_USAGE;
        } else if (cmd == NULL) {
            cmd = a;
            continue;
        } else {
            if (o.n_pos >= (int)(sizeof o.pos / sizeof o.pos[0])) {
                es_cli_usage_error("alerts", "too many arguments");
                return ES_EXIT_USAGE;
            }
            o.pos[o.n_pos++] = a;
            continue;
        }
        if ((*dst = next_arg(argc, argv, &i)) == NULL) {
            return ES_EXIT_USAGE;
        }
    }
    if (cmd == NULL) {
        usage(stderr);
        return ES_EXIT_USAGE;
    }
    if (o.config == NULL) {
        es_cli_usage_error("alerts", "which config? use -c CONFIG (see earshot alerts --help)");
        return ES_EXIT_USAGE;
    }
    o.now = wall_ms();
    if (at != NULL && es_time_parse(at, strlen(at), &o.now) != 0) {
        es_cli_usage_error("alerts", "--at '%s' is not a time (RFC 3339)", at);
        return ES_EXIT_USAGE;
    }
    if (strcmp(cmd, "list") == 0) {
        return cmd_list(&o);
    } else if (strcmp(cmd, "ack") == 0) {
        return cmd_ack_resolve(&o, true);
    } else if (strcmp(cmd, "resolve") == 0) {
        return cmd_ack_resolve(&o, false);
    } else if (strcmp(cmd, "dlq") == 0) {
        return cmd_dlq(&o);
    } else if (strcmp(cmd, "replay") == 0) {
        return cmd_replay(&o);
    } else if (strcmp(cmd, "silence") == 0) {
        return cmd_silence(&o);
    }
    es_cli_usage_error("alerts", "unknown command '%s' (see earshot alerts --help)", cmd);
    return ES_EXIT_USAGE;
}
