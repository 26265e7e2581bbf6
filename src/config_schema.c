/*
 * The option tables: one row per key a config file may hold. These rows are
 * the single source of truth: the loader (src/config.c) parses, validates
 * and defaults with them, `earshot check` prints with them, and
 * es_config_foreach_option() enumerates them for the README reference test.
 *
 * Adding an option? Add its row here, read it where it is used with
 * es_config_item_get()/_str()/_int(), and document it in the README's
 * config reference (a test fails until you do).
 *
 * Bounds: durations are in milliseconds, sizes in bytes, lists count items.
 */
#include "config.h"
#include "detect.h"

#include <stdio.h>
#include <string.h>

#define SEC  1000.0
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

/* The tables are laid out by hand, one option per row, for reading. */
/* clang-format off */

/* ---- Shared choices ---------------------------------------------------- */

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const sensitivities[] = {"low", "balanced", "high", NULL};
static const char *const formats[] = {"auto",   "earshot", "mastodon", "twitter-v2", "reddit",
                                      "hn",     "bluesky", "jsonfeed", NULL};
static const char *const poll_presets[] = {"none",    "mastodon-tag", "reddit", "hn",
                                           "bluesky", "jsonfeed",     NULL};
static const char *const severities[] = {"info", "warning", "critical", NULL};
static const char *const alert_kinds[] = {"complaint",  "volume_spike", "negative_surge",
                                          "viral_post", "feed_stalled", NULL};
static const char *const pd_severities[] = {"critical", "error", "warning", "info", NULL};
static const char *const exec_inputs[] = {"alerts", "notification", NULL};
static const char *const mm_priorities[] = {"important", "urgent", NULL};

/* Keep these in the order of es__cfg_feed_types / es__cfg_sink_types below. */
const char *const es_config_feed_types[] = {"file", "sse", "ndjson", "poll", "webhook", NULL};
const char *const es_config_sink_types[] = {"stdout",  "file",  "exec",      "webhook",
                                            "slack",   "mattermost", "discord", "teams",
                                            "pagerduty", "smtp", NULL};

/* ---- Top level ------------------------------------------------------------ */

static const es_option log_rows[] = {
    {.name = "level", .type = ES_OPT_ENUM, .def = "info", .choices = log_levels,
     .help = "Least severe log level written to stderr."},
    {.name = "format", .type = ES_OPT_ENUM, .def = "text", .choices = log_formats,
     .help = "Log line format: readable text or one JSON object per line."},
    {0},
};

static const es_option admin_rows[] = {
    {.name = "enabled", .type = ES_OPT_BOOL, .def = "false",
     .help = "Serve the admin HTTP endpoint (/metrics, /healthz, /readyz, the alerts API)."},
    {.name = "listen", .type = ES_OPT_STRING, .def = "127.0.0.1:9464", .flags = ES_OPT_NONEMPTY,
     .help = "Address and port to listen on; keep it on 127.0.0.1 unless a proxy guards it."},
    {.name = "token", .type = ES_OPT_SECRET,
     .help = "Bearer token the admin API requires, if given."},
    {0},
};

/* The state file's limits (src/store.c, src/spool.c). Read when `run`
 * starts: the dedup memory is reserved then, so a reload that changes
 * `dedup:` only warns; `spool:` applies from the next prune step. */
static const es_option dedup_rows[] = {
    {.name = "max_ids", .type = ES_OPT_INT, .def = "2000000", .min = 1000, .max = 50000000,
     .help = "Most mention ids remembered, so a mention seen again (a reconnect, a replay, a "
             "restart) is dropped; past it the oldest is forgotten. Memory for all of them is "
             "reserved at start: 32 to 48 bytes an id (64 MiB at the default, 16 MiB at "
             "500000), and about 25 bytes an id in the state file."},
    {.name = "max_age", .type = ES_OPT_DURATION, .def = "7d", .min = 10 * MIN, .max = 365 * DAY,
     .help = "Forget a mention id this long after it was seen."},
    {0},
};

static const es_option spool_rows[] = {
    {.name = "done_max_rows", .type = ES_OPT_INT, .def = "1000000", .min = 1000,
     .max = 1000000000,
     .help = "Delivered notifications remembered (about 130 bytes each in the state file), so "
             "a repeat (a mention read again, a backfill run twice) is not sent again and "
             "`earshot alerts list --all` shows them; older ones are forgotten, a thousand at a "
             "time. Undelivered and dead-lettered ones are never dropped."},
    {.name = "done_max_age", .type = ES_OPT_DURATION, .def = "7d", .min = HOUR, .max = 365 * DAY,
     .help = "Forget a delivered notification this long after it was delivered."},
    {0},
};

const es_option es__cfg_top_rows[] = {
    {.name = "state", .type = ES_OPT_PATH, .def = "earshot.db", .flags = ES_OPT_NONEMPTY,
     .help = "SQLite state file for `run`: feed cursors, recently seen ids, the alert spool."},
    {.name = "lexicons", .type = ES_OPT_PATH, .flags = ES_OPT_NONEMPTY,
     .help = "Lexicon directory, overriding the built-in default."},
    {.name = "log", .type = ES_OPT_SECTION, .sub = log_rows, .help = "Logging."},
    {.name = "admin", .type = ES_OPT_SECTION, .sub = admin_rows,
     .help = "The admin HTTP endpoint (off by default)."},
    {.name = "dedup", .type = ES_OPT_SECTION, .sub = dedup_rows,
     .help = "How many mention ids `run` remembers to drop repeats, and for how long."},
    {.name = "spool", .type = ES_OPT_SECTION, .sub = spool_rows,
     .help = "How many delivered notifications the state file keeps, and for how long."},
    {.name = "detect", .type = ES_OPT_DETECT,
     .help = "Detector defaults for every topic (bucket, sensitivity, thresholds)."},
    {.name = "topics", .type = ES_OPT_ITEMS, .help = "What to listen for: a list of topics."},
    {.name = "feeds", .type = ES_OPT_ITEMS, .help = "Where mentions come from (`run`)."},
    {.name = "sinks", .type = ES_OPT_ITEMS, .help = "Where alerts go."},
    {.name = "route", .type = ES_OPT_RAW,
     .help = "The alert routing tree (matchers, grouping, quiet hours)."},
    {.name = "escalations", .type = ES_OPT_RAW,
     .help = "Escalation policies: tiers of sinks with acknowledgement timeouts."},
    {0},
};

/* ---- Topics ---------------------------------------------------------------- */

const es_option es__cfg_topic_rows[] = {
    {.name = "name", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Unique topic name: letters, digits, '_', '.', '-'."},
    {.name = "query", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "What the topic matches, in the query language."},
    {.name = "owned", .type = ES_OPT_LIST,
     .help = "The brand's own accounts (\"@acme\"), so mentions addressed to them are known."},
    {.name = "competitor", .type = ES_OPT_BOOL, .def = "false",
     .help = "This topic is a competitor, shown beside the brand."},
    {.name = "sensitivity", .type = ES_OPT_ENUM, .choices = sensitivities,
     .help = "Detector preset for this topic, over the global `detect.sensitivity`."},
    {.name = "detect", .type = ES_OPT_DETECT,
     .help = "Detector overrides for this topic; the same keys as the top-level `detect:`."},
    {0},
};

/* ---- Feeds ------------------------------------------------------------------- */

const es_option es__cfg_feed_common_rows[] = {
    {.name = "name", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Unique feed name, used in logs, metrics and the state file."},
    {.name = "type", .type = ES_OPT_ENUM, .flags = ES_OPT_REQUIRED, .choices = es_config_feed_types,
     .help = "Feed type: file, sse, ndjson, poll or webhook."},
    {.name = "format", .type = ES_OPT_ENUM, .def = "auto", .choices = formats,
     .help = "How to decode the payload into mentions."},
    {.name = "idle_timeout", .type = ES_OPT_DURATION, .def = "10m", .min = SEC, .max = 7 * DAY,
     .help = "Raise `feed_stalled` after this long without a mention or with only errors."},
    {0},
};

static const es_option feed_file_rows[] = {
    {.name = "path", .type = ES_OPT_PATH, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "File to read; `-` is standard input."},
    {.name = "follow", .type = ES_OPT_BOOL, .def = "false",
     .help = "Keep reading lines appended to the file, across log rotation."},
    {.name = "replay_speed", .type = ES_OPT_FLOAT, .def = "0", .min = 0, .max = 100000,
     .help = "Pace a recorded file by its `created_at` at this multiple of real time; 0: as fast "
             "as possible."},
    {.name = "poll_interval", .type = ES_OPT_DURATION, .def = "1s", .min = 10, .max = MIN,
     .help = "With `follow`, how often to look for new data and rotation."},
    {0},
};

static const es_option feed_sse_rows[] = {
    {.name = "url", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Server-sent events endpoint, e.g. Mastodon's /api/v1/streaming/hashtag?tag=X."},
    {.name = "token", .type = ES_OPT_SECRET, .help = "Bearer token (Authorization header)."},
    {.name = "headers", .type = ES_OPT_LIST,
     .help = "Extra request headers, each \"Name: value\"."},
    {.name = "events", .type = ES_OPT_LIST, .def = "[update, status.update]",
     .help = "SSE event names that carry mentions; others (delete, heartbeats) are handled or "
             "ignored."},
    {.name = "connect_timeout", .type = ES_OPT_DURATION, .def = "10s", .min = 100, .max = 5 * MIN,
     .help = "Give up a connection attempt after this long."},
    {.name = "read_timeout", .type = ES_OPT_DURATION, .def = "90s", .min = SEC, .max = HOUR,
     .help = "Reconnect when nothing, not even a heartbeat, arrives for this long."},
    {.name = "catchup_url", .type = ES_OPT_STRING,
     .help = "Poll endpoint that fills the gap after a reconnect (e.g. the Mastodon tag "
             "timeline, paged with min_id)."},
    {0},
};

static const es_option feed_ndjson_rows[] = {
    {.name = "url", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Long-lived HTTP stream of JSON lines, e.g. the X filtered stream."},
    {.name = "token", .type = ES_OPT_SECRET, .help = "Bearer token (Authorization header)."},
    {.name = "headers", .type = ES_OPT_LIST,
     .help = "Extra request headers, each \"Name: value\"."},
    {.name = "connect_timeout", .type = ES_OPT_DURATION, .def = "10s", .min = 100, .max = 5 * MIN,
     .help = "Give up a connection attempt after this long."},
    {.name = "read_timeout", .type = ES_OPT_DURATION, .def = "20s", .min = SEC, .max = HOUR,
     .help = "Reconnect when nothing, not even a keep-alive newline, arrives for this long."},
    {.name = "backfill_minutes", .type = ES_OPT_INT, .def = "0", .min = 0, .max = 5,
     .help = "Ask the server to replay this many minutes after a reconnect (X: 1..5)."},
    {0},
};

static const es_option feed_poll_rows[] = {
    {.name = "url", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "JSON API endpoint to GET periodically."},
    {.name = "preset", .type = ES_OPT_ENUM, .def = "none", .choices = poll_presets,
     .help = "Platform preset: cursor parameter, paging and default format."},
    {.name = "interval", .type = ES_OPT_DURATION, .def = "60s", .min = SEC, .max = DAY,
     .help = "Time between polls (rate-limit headers and Retry-After can lengthen it)."},
    {.name = "cursor_param", .type = ES_OPT_STRING,
     .help = "Query parameter carrying the cursor; the preset's when not given."},
    {.name = "page_size", .type = ES_OPT_INT, .min = 1, .max = 1000,
     .help = "Items per request; the preset's when not given."},
    {.name = "token", .type = ES_OPT_SECRET, .help = "Bearer token (Authorization header)."},
    {.name = "headers", .type = ES_OPT_LIST,
     .help = "Extra request headers, each \"Name: value\"."},
    {.name = "user_agent", .type = ES_OPT_STRING,
     .help = "User-Agent to send (Reddit requires a descriptive one)."},
    {.name = "timeout", .type = ES_OPT_DURATION, .def = "30s", .min = 100, .max = 10 * MIN,
     .help = "Give up a request after this long."},
    {0},
};

static const es_option feed_webhook_rows[] = {
    {.name = "listen", .type = ES_OPT_STRING, .def = "127.0.0.1:8080", .flags = ES_OPT_NONEMPTY,
     .help = "Address and port the listener binds."},
    {.name = "path", .type = ES_OPT_STRING, .def = "/", .flags = ES_OPT_NONEMPTY,
     .help = "URL path that accepts mentions; others get 404."},
    {.name = "secret", .type = ES_OPT_SECRET,
     .help = "Shared secret for the HMAC-SHA256 signature; unsigned requests are refused when "
             "set."},
    {.name = "signature_header", .type = ES_OPT_STRING, .def = "X-Earshot-Signature",
     .flags = ES_OPT_NONEMPTY, .help = "Header holding the hex HMAC-SHA256 of the body."},
    {.name = "max_body", .type = ES_OPT_SIZE, .def = "1MiB", .min = 1024, .max = 64 << 20,
     .help = "Larger bodies are refused with 413."},
    /* The listener's own limits; the defaults are ES_WH_* in src/feed_webhook.h
     * (tests/test_sink_config.c checks they agree). */
    {.name = "max_connections", .type = ES_OPT_INT, .def = "128", .min = 1, .max = 10000,
     .help = "Connections open at once; more are refused with 503 until one closes."},
    {.name = "read_timeout", .type = ES_OPT_DURATION, .def = "10s", .min = 100, .max = 5 * MIN,
     .help = "A request's headers must arrive within this, and each read of its body; slower "
             "clients get 408."},
    {.name = "keepalive_timeout", .type = ES_OPT_DURATION, .def = "1m", .min = 100,
     .max = 60 * MIN,
     .help = "A kept-alive connection with no request in flight is closed after this long "
             "(`idle_timeout` is the feed's stall alarm, as for every feed)."},
    {.name = "max_header_size", .type = ES_OPT_SIZE, .def = "16KiB", .min = 1024, .max = 1 << 20,
     .help = "Request line and headers together; larger requests are refused with 431."},
    {0},
};


const es_cfg_type es__cfg_feed_types[] = {
    {"file", feed_file_rows, "a file or standard input, optionally followed"},
    {"sse", feed_sse_rows, "server-sent events (Mastodon streaming)"},
    {"ndjson", feed_ndjson_rows, "a long-lived stream of JSON lines (X filtered stream)"},
    {"poll", feed_poll_rows, "periodic GET of a JSON API with a cursor"},
    {"webhook", feed_webhook_rows, "an HTTP listener for pushed mentions"},
    {NULL, NULL, NULL},
};

/* ---- Sinks ---------------------------------------------------------------------- */

/*
 * Every sink option here is also a row of that sink type's own table
 * (es_sink_common_options in src/sink.c, the tables at the end of each
 * src/sink_*.c), with the same name and default: the engine builds a sink
 * by handing it these values (src/sink_config.c), and tests/test_sink_config.c
 * fails when the two sides differ. Only name, type, min_severity and kinds
 * are the engine's own (es_sink_config_engine_keys). A type with a rate
 * limit of its own repeats the `rate` row with that default, which is the
 * sink type's default_rate.
 */

const es_option es__cfg_sink_common_rows[] = {
    {.name = "name", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Unique sink name, used by routes, escalations, logs and metrics."},
    {.name = "type", .type = ES_OPT_ENUM, .flags = ES_OPT_REQUIRED, .choices = es_config_sink_types,
     .help = "Sink type: stdout, file, exec, webhook, slack, mattermost, discord, teams, "
             "pagerduty or smtp."},
    {.name = "min_severity", .type = ES_OPT_ENUM, .def = "info", .choices = severities,
     .help = "Deliver only alerts at least this severe."},
    {.name = "kinds", .type = ES_OPT_LIST, .choices = alert_kinds,
     .help = "Deliver only these alert kinds; all kinds when not given."},
    {.name = "rate", .type = ES_OPT_RATE,
     .help = "Most messages per second (`2`, `0.5`) or per period (`120/min`, `5/2s`); `off` "
             "or `0`: no limit. Not given: the sink type's own limit."},
    {.name = "burst", .type = ES_OPT_INT, .def = "1", .min = 1, .max = 10000,
     .help = "Messages that may be sent back to back before `rate` applies."},
    {.name = "timeout", .type = ES_OPT_DURATION, .def = "10s", .min = 100, .max = 10 * MIN,
     .help = "Give up one delivery attempt after this long."},
    {.name = "connect_timeout", .type = ES_OPT_DURATION, .def = "5s", .min = 100, .max = 5 * MIN,
     .help = "Give up connecting to the receiver after this long."},
    {.name = "max_attempts", .type = ES_OPT_INT, .def = "12", .min = 1, .max = 1000,
     .help = "Attempts before an alert moves to the dead-letter table."},
    {.name = "max_age", .type = ES_OPT_DURATION, .def = "24h", .min = SEC, .max = 30 * DAY,
     .help = "Age after which an undelivered alert moves to the dead-letter table."},
    {.name = "backoff_base", .type = ES_OPT_DURATION, .def = "1s", .min = 10, .max = HOUR,
     .help = "Wait before the first retry; it doubles with each attempt (with jitter)."},
    {.name = "backoff_max", .type = ES_OPT_DURATION, .def = "5m", .min = SEC, .max = DAY,
     .help = "Longest wait between retries. A receiver's Retry-After overrides both."},
    {0},
};

static const es_option sink_stdout_rows[] = {
    {0},
};

static const es_option sink_file_rows[] = {
    {.name = "path", .type = ES_OPT_PATH, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "NDJSON file, one alert per line; reopened on SIGHUP."},
    {.name = "fsync", .type = ES_OPT_BOOL, .def = "false",
     .help = "fsync after every write, so an alert survives a power cut."},
    {0},
};

static const es_option sink_exec_rows[] = {
    {.name = "command", .type = ES_OPT_LIST, .flags = ES_OPT_REQUIRED, .min = 1, .max = 256,
     .help = "Program and arguments, run without a shell; the alert JSON is on its stdin."},
    {.name = "input", .type = ES_OPT_ENUM, .def = "alerts", .choices = exec_inputs,
     .help = "What goes to stdin: `alerts` (each alert's JSON on its own line) or "
             "`notification` (the whole notification object)."},
    {.name = "timeout", .type = ES_OPT_DURATION, .def = "10s", .min = 100, .max = 10 * MIN,
     .help = "Kill the program after this long."},
    {0},
};

static const es_option sink_webhook_rows[] = {
    {.name = "url", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED | ES_OPT_LITERAL_OK,
     .help = "Receiver URL; may be written plainly, or via url_env/url_file if it holds a key."},
    {.name = "secret", .type = ES_OPT_SECRET,
     .help = "Signing secret for the Standard Webhooks headers (webhook-signature)."},
    {.name = "headers", .type = ES_OPT_LIST, .min = 0, .max = 16,
     .help = "Extra request headers, each \"Name: value\"."},
    {0},
};

static const es_option sink_slack_rows[] = {
    {.name = "url", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED,
     .help = "Incoming webhook URL (it is a credential)."},
    {.name = "rate", .type = ES_OPT_RATE, .def = "1/s",
     .help = "Most messages per second or per period; Slack allows about one a second."},
    {0},
};

static const es_option sink_mattermost_rows[] = {
    {.name = "url", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED,
     .help = "Incoming webhook URL (it is a credential)."},
    {.name = "channel", .type = ES_OPT_STRING, .help = "Channel override."},
    {.name = "username", .type = ES_OPT_STRING, .help = "Display name override."},
    {.name = "icon_url", .type = ES_OPT_STRING, .help = "Avatar image URL override."},
    {.name = "priority", .type = ES_OPT_ENUM, .choices = mm_priorities,
     .help = "Message priority (Mattermost 9.7+); not given: a normal post."},
    {.name = "requested_ack", .type = ES_OPT_BOOL, .def = "false",
     .help = "With `priority`, ask readers to acknowledge the post."},
    {0},
};

static const es_option sink_discord_rows[] = {
    {.name = "url", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED,
     .help = "Webhook URL (it is a credential)."},
    {.name = "username", .type = ES_OPT_STRING, .help = "Display name override."},
    {.name = "rate", .type = ES_OPT_RATE, .def = "5/2s",
     .help = "Most messages per second or per period; Discord allows 5 every 2 seconds."},
    {0},
};

static const es_option sink_teams_rows[] = {
    {.name = "url", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED,
     .help = "Workflows (Power Automate) webhook URL (it is a credential)."},
    {.name = "rate", .type = ES_OPT_RATE, .def = "2/s",
     .help = "Most messages per second or per period; Workflows throttles fast senders."},
    {0},
};

static const es_option pd_severity_rows[] = {
    {.name = "info", .type = ES_OPT_ENUM, .def = "info", .choices = pd_severities,
     .help = "PagerDuty severity for earshot's `info`."},
    {.name = "warning", .type = ES_OPT_ENUM, .def = "warning", .choices = pd_severities,
     .help = "PagerDuty severity for earshot's `warning`."},
    {.name = "critical", .type = ES_OPT_ENUM, .def = "critical", .choices = pd_severities,
     .help = "PagerDuty severity for earshot's `critical`."},
    {0},
};

static const es_option sink_pagerduty_rows[] = {
    {.name = "routing_key", .type = ES_OPT_SECRET, .flags = ES_OPT_REQUIRED,
     .help = "Events API v2 integration (routing) key."},
    {.name = "url", .type = ES_OPT_STRING, .def = "https://events.pagerduty.com/v2/enqueue",
     .flags = ES_OPT_NONEMPTY, .help = "Events API endpoint."},
    {.name = "source", .type = ES_OPT_STRING, .def = "earshot", .flags = ES_OPT_NONEMPTY,
     .help = "payload.source of the events."},
    {.name = "severity", .type = ES_OPT_SECTION, .sub = pd_severity_rows,
     .help = "How alert severities map to PagerDuty's."},
    {.name = "rate", .type = ES_OPT_RATE, .def = "120/min",
     .help = "Most events per second or per period; PagerDuty allows about 120 a minute per "
             "key."},
    {0},
};

static const es_option sink_smtp_rows[] = {
    {.name = "url", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Mail server: smtp://host:587 (with starttls) or smtps://host:465."},
    {.name = "username", .type = ES_OPT_STRING, .help = "Login name, if the server needs one."},
    {.name = "password", .type = ES_OPT_SECRET, .help = "Login password."},
    {.name = "from", .type = ES_OPT_STRING, .flags = ES_OPT_REQUIRED | ES_OPT_NONEMPTY,
     .help = "Sender address."},
    {.name = "to", .type = ES_OPT_LIST, .flags = ES_OPT_REQUIRED, .min = 1, .max = 100,
     .help = "Recipient addresses."},
    {.name = "starttls", .type = ES_OPT_BOOL, .def = "true",
     .help = "Require STARTTLS on smtp:// URLs."},
    {.name = "subject_prefix", .type = ES_OPT_STRING, .def = "[earshot]",
     .help = "Prefix of every subject line; a space follows it."},
    {.name = "rate", .type = ES_OPT_RATE, .def = "1/s",
     .help = "Most messages per second or per period."},
    {0},
};


const es_cfg_type es__cfg_sink_types[] = {
    {"stdout", sink_stdout_rows, "alerts as NDJSON on standard output"},
    {"file", sink_file_rows, "alerts appended to an NDJSON file"},
    {"exec", sink_exec_rows, "a program run per alert with the JSON on stdin"},
    {"webhook", sink_webhook_rows, "a signed JSON POST"},
    {"slack", sink_slack_rows, "a Slack incoming webhook (Block Kit)"},
    {"mattermost", sink_mattermost_rows, "a Mattermost incoming webhook"},
    {"discord", sink_discord_rows, "a Discord webhook"},
    {"teams", sink_teams_rows, "a Microsoft Teams Workflows webhook (Adaptive Card)"},
    {"pagerduty", sink_pagerduty_rows, "PagerDuty Events API v2"},
    {"smtp", sink_smtp_rows, "e-mail through an SMTP server"},
    {NULL, NULL, NULL},
};

/* clang-format on */

const es_cfg_type *es__cfg_find_type(const es_cfg_type *types, const char *name)
{
    for (const es_cfg_type *t = types; t->name != NULL; t++) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    return NULL;
}

const es_option *es__cfg_find_row(const es_option *rows, const char *name, size_t len)
{
    for (const es_option *r = rows; r->name != NULL; r++) {
        if (strlen(r->name) == len && memcmp(r->name, name, len) == 0) {
            return r;
        }
    }
    return NULL;
}

const char *es_opt_type_name(es_opt_type t)
{
    switch (t) {
    case ES_OPT_STRING:
        return "string";
    case ES_OPT_PATH:
        return "path";
    case ES_OPT_INT:
        return "int";
    case ES_OPT_FLOAT:
        return "float";
    case ES_OPT_BOOL:
        return "bool";
    case ES_OPT_DURATION:
        return "duration";
    case ES_OPT_SIZE:
        return "size";
    case ES_OPT_ENUM:
        return "enum";
    case ES_OPT_LIST:
        return "list";
    case ES_OPT_SECRET:
        return "secret";
    case ES_OPT_SECTION:
        return "section";
    case ES_OPT_DETECT:
        return "detect";
    case ES_OPT_ITEMS:
        return "list of items";
    case ES_OPT_RAW:
        return "raw";
    case ES_OPT_RATE:
        return "rate";
    }
    return "?";
}

/* ---- Enumeration -------------------------------------------------------------- */

struct walk {
    int (*fn)(const es_config_option_info *info, void *ud);
    void *ud;
};

static int yield(struct walk *w, const char *section, const char *key, const es_option *r,
                 const char *type)
{
    es_config_option_info info = {
        .section = section,
        .key = key,
        .type = type != NULL ? type : es_opt_type_name(r->type),
        .def = r->def,
        .help = r->help,
        .required = (r->flags & ES_OPT_REQUIRED) != 0,
        .opt = r,
    };
    return w->fn(&info, w->ud);
}

static int walk_rows(struct walk *w, const char *section, const char *prefix,
                     const es_option *rows);

static int walk_row(struct walk *w, const char *section, const char *prefix, const es_option *r)
{
    char key[128];
    int rc;
    if (r->type == ES_OPT_SECTION) {
        snprintf(key, sizeof key, "%s%s.", prefix, r->name);
        return walk_rows(w, section, key, r->sub);
    }
    if (r->type == ES_OPT_SECRET) {
        if (r->flags & ES_OPT_LITERAL_OK) {
            snprintf(key, sizeof key, "%s%s", prefix, r->name);
            if ((rc = yield(w, section, key, r, "string")) != 0) {
                return rc;
            }
        }
        snprintf(key, sizeof key, "%s%s_env", prefix, r->name);
        if ((rc = yield(w, section, key, r, "secret (environment variable name)")) != 0) {
            return rc;
        }
        snprintf(key, sizeof key, "%s%s_file", prefix, r->name);
        return yield(w, section, key, r, "secret (file path)");
    }
    snprintf(key, sizeof key, "%s%s", prefix, r->name);
    return yield(w, section, key, r, NULL);
}

static int walk_rows(struct walk *w, const char *section, const char *prefix, const es_option *rows)
{
    for (const es_option *r = rows; r->name != NULL; r++) {
        int rc = walk_row(w, section, prefix, r);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int walk_types(struct walk *w, const char *list, const es_cfg_type *types)
{
    char section[64];
    for (const es_cfg_type *t = types; t->name != NULL; t++) {
        snprintf(section, sizeof section, "%s[type=%s]", list, t->name);
        int rc = walk_rows(w, section, "", t->rows);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

struct detect_walk {
    struct walk *w;
    int rc;
};

static void detect_option(const es_detect_option *o, void *ud)
{
    struct detect_walk *d = ud;
    if (d->rc != 0) {
        return;
    }
    es_config_option_info info = {
        .section = "detect",
        .key = o->name,
        .type = o->type_name,
        .def = o->def,
        .help = o->help,
    };
    d->rc = d->w->fn(&info, d->w->ud);
}

int es_config_foreach_option(int (*fn)(const es_config_option_info *info, void *ud), void *ud)
{
    struct walk w = {fn, ud};
    int rc;
    /* The top level's own keys first, then its sections, so each section
     * is yielded in one run. */
    for (const es_option *r = es__cfg_top_rows; r->name != NULL; r++) {
        if (r->type != ES_OPT_SECTION && (rc = walk_row(&w, "", "", r)) != 0) {
            return rc;
        }
    }
    for (const es_option *r = es__cfg_top_rows; r->name != NULL; r++) {
        if (r->type == ES_OPT_SECTION && (rc = walk_rows(&w, r->name, "", r->sub)) != 0) {
            return rc;
        }
    }
    if ((rc = walk_rows(&w, "topics[]", "", es__cfg_topic_rows)) != 0 ||
        (rc = walk_rows(&w, "feeds[]", "", es__cfg_feed_common_rows)) != 0 ||
        (rc = walk_types(&w, "feeds", es__cfg_feed_types)) != 0 ||
        (rc = walk_rows(&w, "sinks[]", "", es__cfg_sink_common_rows)) != 0 ||
        (rc = walk_types(&w, "sinks", es__cfg_sink_types)) != 0) {
        return rc;
    }
    /* The detector owns its keys; they are valid in the top-level detect:
     * and in every topic's detect:. */
    struct detect_walk d = {&w, 0};
    es_detect_params_foreach_option(detect_option, &d);
    return d.rc;
}
