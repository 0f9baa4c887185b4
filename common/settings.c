/* Settings (see settings.h): the one table, and everything that reads it. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "frame.h"
#include "guard.h"
#include "log.h"
#include "xalloc.h"

/* The field a row fills, with its C type checked by the compiler: a row
 * whose type does not match its field fails settings_table_ok (and the
 * unit test that calls it). */
#define FIELD(f)                                                               \
    .offset = offsetof(struct settings, f),                                    \
    .field = _Generic(((struct settings *)0)->f,                               \
        bool: SETTING_FIELD_BOOL,                                              \
        int: SETTING_FIELD_INT,                                                \
        unsigned: SETTING_FIELD_UNSIGNED,                                      \
        uint64_t: SETTING_FIELD_U64,                                           \
        const char *: SETTING_FIELD_STR,                                       \
        const struct setting_value *: SETTING_FIELD_LIST,                      \
        default: SETTING_FIELD_OTHER)

/* Custom parsers and checks, defined below the table. */
static void parse_redis(struct settings *s, const char *v, const char *source,
                        struct problems *p);
static void parse_queues(struct settings *s, const char *v, const char *source,
                         struct problems *p);
static void parse_cpu_set(struct settings *s, const char *v, const char *source,
                          struct problems *p);
static void parse_http(struct settings *s, const char *v, const char *source,
                       struct problems *p);
static void parse_handler_setting(struct settings *s, const char *v,
                                  const char *source, struct problems *p);
static void check_prefix(struct settings *s, struct problems *p);
static void check_worker_id(struct settings *s, struct problems *p);
static void check_file_root(struct settings *s, struct problems *p);
static void check_admin_token(struct settings *s, struct problems *p);
static void check_http_allow(struct settings *s, struct problems *p);
static void check_http_ca_file(struct settings *s, struct problems *p);
static void check_execs(struct settings *s, struct problems *p);
static void check_runners(struct settings *s, struct problems *p);
static void default_cpu_threads(char *buf, size_t len);
static void default_worker_id(char *buf, size_t len);

static const char *const log_formats[] = {"text", "json", NULL};
/* In the order of enum log_level. */
static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};

const struct setting_def settings_table[] = {
    {.name = "redis-url",
     .alias = "redis",
     .type = SETTING_CUSTOM,
     .dflt = "redis://127.0.0.1:6379",
     FIELD(redis),
     .flags = SETTING_URL,
     .metavar = "URL",
     .parse = parse_redis,
     .help = "the Redis server: redis://[user:password@]host[:port][/db] "
             "or unix:///path/to/redis.sock[?db=N]"},
    {.name = "queues",
     .type = SETTING_CUSTOM,
     .dflt = "default",
     FIELD(queues),
     .metavar = "Q1,Q2,...",
     .parse = parse_queues,
     .help = "the queues to serve, in strict priority order, highest first; "
             "Q:N gives queue Q the weight N (1 to 1000) instead, in a "
             "weighted fair order among the weighted queues (at most 32)"},
    {.name = "cpu-threads",
     .type = SETTING_UINT,
     .dflt_doc = "online cores",
     .dflt_fn = default_cpu_threads,
     FIELD(cpu_threads),
     .min = 1,
     .max = 1024,
     .metavar = "N",
     .help = "size of the pool of pinned threads that runs cpu handlers"},
    {.name = "cpu-set",
     .type = SETTING_CUSTOM,
     .dflt_doc = "unset",
     FIELD(cpus),
     .metavar = "LIST",
     .parse = parse_cpu_set,
     .help = "the cores to pin CPU threads to, one per core in turn, e.g. "
             "0-3,6; unset: every core the process may use"},
    {.name = "io-concurrency",
     .type = SETTING_UINT,
     .dflt = "1000",
     FIELD(io_concurrency),
     .min = 1,
     .max = 1000000,
     .metavar = "N",
     .help = "io jobs in flight on the event loop"},
    {.name = "http",
     .type = SETTING_CUSTOM,
     .dflt = "127.0.0.1:9180",
     FIELD(http_host),
     .metavar = "ADDR:PORT",
     .parse = parse_http,
     .help =
         "where to serve /healthz, /readyz, /metrics, the dashboard (/) and "
         "the API (/api/), or off; port 0 "
         "picks a free port (the log says which)"},
    {.name = "http-max-connections",
     .type = SETTING_UINT,
     .dflt = "256",
     FIELD(http_max_connections),
     .min = 1,
     .max = 65536,
     .metavar = "N",
     .help = "connections the HTTP surface holds at once; more are closed at "
             "once"},
    {.name = "prefix",
     .type = SETTING_STRING,
     .dflt = "jobq",
     FIELD(prefix),
     .metavar = "P",
     .check = check_prefix,
     .help = "prefix of every Redis key (1 to 64 of A-Z a-z 0-9 _ . -)"},
    {.name = "worker-id",
     .type = SETTING_STRING,
     .dflt_doc = "host-pid-random",
     .dflt_fn = default_worker_id,
     FIELD(worker_id),
     .metavar = "ID",
     .check = check_worker_id,
     .help = "this worker's label in logs and jobq workers (1 to 64 of A-Z "
             "a-z 0-9 _ . -); each start adds a nonce for its key in Redis"},
    {.name = "log-format",
     .type = SETTING_ENUM,
     .dflt = "text",
     FIELD(log_json),
     .choices = log_formats,
     .help = "log lines as text or as JSON objects"},
    {.name = "log-level",
     .type = SETTING_ENUM,
     .dflt = "info",
     FIELD(log_level),
     .choices = log_levels,
     .help = "the least severe level logged"},
    {.name = "log-file",
     .type = SETTING_STRING,
     .dflt_doc = "stderr",
     FIELD(log_file),
     .metavar = "PATH",
     .help = "log to this file instead of stderr; SIGHUP reopens it"},
    {.name = "retry-base-ms",
     .type = SETTING_UINT,
     .dflt = "1000",
     FIELD(retry_base_ms),
     .min = 1,
     .max = 86400000,
     .metavar = "MS",
     .help = "backoff of attempt k: about base * 2^(k-1) ms, jittered, "
             "capped at retry-max-ms"},
    {.name = "retry-max-ms",
     .type = SETTING_UINT,
     .dflt = "3600000",
     FIELD(retry_max_ms),
     .min = 1,
     .max = 604800000,
     .metavar = "MS",
     .help = "the cap of the backoff between attempts"},
    {.name = "default-max-attempts",
     .type = SETTING_UINT,
     .dflt = "10",
     FIELD(default_max_attempts),
     .min = 1,
     .max = 1000000,
     .metavar = "N",
     .help = "attempts a job gets when it does not say"},
    {.name = "default-timeout-ms",
     .type = SETTING_UINT,
     .dflt = "300000",
     FIELD(default_timeout_ms),
     .min = 1,
     .max = 86400000,
     .metavar = "MS",
     .help = "one attempt's time limit when neither the job nor its handler "
             "says"},
    {.name = "heartbeat-ttl-ms",
     .type = SETTING_UINT,
     .dflt = "30000",
     FIELD(heartbeat_ttl_ms),
     .min = 1000,
     .max = 86400000,
     .metavar = "MS",
     .help = "how long a silent worker keeps its active jobs before others "
             "recover them (at least 1000: a lapsed worker's last blocking "
             "take must land within it)"},
    {.name = "shutdown-grace-ms",
     .type = SETTING_UINT,
     .dflt = "25000",
     FIELD(shutdown_grace_ms),
     .min = 0,
     .max = 3600000,
     .metavar = "MS",
     .help = "how long running jobs get to finish after SIGTERM or SIGINT"},
    {.name = "max-frame-bytes",
     .type = SETTING_UINT,
     .dflt = "1048576",
     FIELD(max_frame_bytes),
     .min = 64,
     .max = 536870912,
     .metavar = "N",
     .help = "larger frames are dead at once"},
    {.name = "max-entries",
     .type = SETTING_UINT,
     .dflt = "65536",
     FIELD(max_entries),
     .min = 1,
     .max = 16777216,
     .metavar = "N",
     .help = "most elements in one array or map inside a job"},
    {.name = "max-string-bytes",
     .type = SETTING_UINT,
     .dflt = "262144",
     FIELD(max_string_bytes),
     .min = 16,
     .max = 536870912,
     .metavar = "N",
     .help = "longest string, bin or ext inside a job"},
    {.name = "result-ttl-s",
     .type = SETTING_UINT,
     .dflt = "86400",
     FIELD(result_ttl_s),
     .min = 1,
     .max = 31536000,
     .metavar = "S",
     .help = "TTL of result records and reply_to lists, in seconds"},
    {.name = "dead-max",
     .type = SETTING_UINT,
     .dflt = "10000",
     FIELD(dead_max),
     .min = 1,
     .max = 100000000,
     .metavar = "N",
     .help = "length each queue's dead list is trimmed to"},
    {.name = "redis-timeout-ms",
     .type = SETTING_UINT,
     .dflt = "5000",
     FIELD(redis_timeout_ms),
     .min = 100,
     .max = 600000,
     .metavar = "MS",
     .help = "a Redis reply overdue by this drops the connection, which is "
             "then reopened with backoff"},
    {.name = "file-root",
     .type = SETTING_STRING,
     .dflt_doc = "unset",
     FIELD(file_root),
     .metavar = "DIR",
     .check = check_file_root,
     .help = "the only directory file.read and file.write may touch (an "
             "absolute path); unset disables them"},
    {.name = "signing-keys",
     .type = SETTING_STRING,
     .dflt_doc = "unset",
     FIELD(signing_keys),
     .metavar = "FILE",
     .help = "a file of kid = hex key lines, owned by the user running the "
             "program and mode 0600 or stricter (else refused)"},
    {.name = "require-signed",
     .type = SETTING_BOOL,
     .dflt = "false",
     FIELD(require_signed),
     .help = "unsigned frames are dead (unsigned job); frames whose MAC "
             "fails are always dead (bad signature); needs signing-keys"},
    {.name = "admin-token",
     .type = SETTING_STRING,
     .dflt_doc = "unset",
     FIELD(admin_token),
     .flags = SETTING_SECRET,
     .metavar = "TOKEN",
     .check = check_admin_token,
     .help = "bearer token the HTTP API demands for every change (retry, "
             "purge, pause, resume; at least 16 characters); unset: changes "
             "are refused"},
    {.name = "handler-setting",
     .type = SETTING_CUSTOM,
     .dflt_doc = "none",
     FIELD(handler_settings),
     .flags = SETTING_REPEATABLE,
     .metavar = "TYPE.KEY=VALUE",
     .ini_section = "handler.",
     .parse = parse_handler_setting,
     .help = "a setting KEY for the handler of job type TYPE, read by that "
             "handler (repeatable; in the INI file, KEY = VALUE lines in a "
             "section [handler.TYPE])"},
    {.name = "file-max-bytes",
     .type = SETTING_UINT,
     .dflt = "8388608",
     FIELD(file_max_bytes),
     .min = 1,
     .max = 1073741824,
     .metavar = "BYTES",
     .help = "largest file file.read returns and file.write writes; more is "
             "a permanent error"},
    {.name = "http-allow",
     .type = SETTING_STRING,
     .dflt_doc = "unset",
     FIELD(http_allow),
     .metavar = "LIST",
     .check = check_http_allow,
     .help = "hosts (*.example.com for every name below it) and CIDRs the "
             "http.* and webhook.post handlers may connect to, separated by "
             "commas, checked on the address connected and on every redirect "
             "hop; unset: any but link-local and metadata addresses "
             "(169.254.0.0/16, fe80::/10), which only a CIDR here allows"},
    {.name = "http-max-body-bytes",
     .type = SETTING_UINT,
     .dflt = "8388608",
     FIELD(http_max_body_bytes),
     .min = 1,
     .max = 1073741824,
     .metavar = "N",
     .help = "largest response body an http.* handler reads; a larger one "
             "fails the request permanently"},
    {.name = "http-ca-file",
     .type = SETTING_STRING,
     .dflt_doc = "unset",
     FIELD(http_ca_file),
     .metavar = "FILE",
     .check = check_http_ca_file,
     .help = "a PEM file of CA certificates the HTTP client trusts besides "
             "the system's (/etc/ssl/certs)"},
    {.name = "loop-lag-warn-ms",
     .type = SETTING_UINT,
     .dflt = "50",
     FIELD(loop_lag_warn_ms),
     .min = 1,
     .max = 60000,
     .metavar = "MS",
     .help = "a loop turn longer than this is logged with what held it "
             "(handler type or module) and counted in jobq_loop_lag_seconds"},
    {.name = "plugin",
     .type = SETTING_STRING,
     .dflt_doc = "none",
     FIELD(plugins),
     .flags = SETTING_REPEATABLE,
     .metavar = "PATH",
     .help = "a handler plugin (shared object) to load at start "
             "(repeatable); one that fails to load or serves a type already "
             "served stops the start with exit 2"},
    {.name = "exec",
     .type = SETTING_STRING,
     .dflt_doc = "none",
     FIELD(execs),
     .flags = SETTING_REPEATABLE,
     .metavar = "TYPE=COMMAND ARGS...",
     .ini_section = "exec",
     .check = check_execs,
     .help = "serve job type TYPE by running COMMAND (no shell; arguments "
             "split at spaces) once per job: args as JSON on stdin, result as "
             "JSON on stdout, exit 65 a permanent failure, other non-zero "
             "retryable, stderr's tail the error, killed at the time limit "
             "(repeatable; in the INI file, TYPE = COMMAND lines in a section "
             "[exec])"},
    {.name = "exec-concurrency",
     .type = SETTING_UINT,
     .dflt = "64",
     FIELD(exec_concurrency),
     .min = 1,
     .max = 4096,
     .metavar = "N",
     .help = "exec processes running at once; more jobs wait their turn"},
    {.name = "runner",
     .type = SETTING_STRING,
     .dflt_doc = "none",
     FIELD(runners),
     .flags = SETTING_REPEATABLE,
     .metavar = "TYPE[,TYPE...]=COMMAND ARGS...",
     .ini_section = "runner",
     .check = check_runners,
     .help = "serve these job types by long-lived COMMAND processes speaking "
             "line-delimited JSON on stdin/stdout, many jobs in flight each "
             "(repeatable; in the INI file, TYPE,TYPE = COMMAND lines in a "
             "section [runner])"},
    {.name = "runner-processes",
     .type = SETTING_UINT,
     .dflt = "1",
     FIELD(runner_processes),
     .min = 1,
     .max = 256,
     .metavar = "N",
     .help = "processes per runner; jobs are spread round-robin"},
    {.name = "runner-concurrency",
     .type = SETTING_UINT,
     .dflt = "16",
     FIELD(runner_concurrency),
     .min = 1,
     .max = 65536,
     .metavar = "N",
     .help = "jobs in flight per runner process"},
};

const size_t settings_table_len =
    sizeof(settings_table) / sizeof(settings_table[0]);

#define NSETTINGS (sizeof(settings_table) / sizeof(settings_table[0]))

static void *field_of(struct settings *s, const struct setting_def *d)
{
    return (char *)s + d->offset;
}

void problems_add(struct problems *p, const char *fmt, ...)
{
    if (p->n >= SETTINGS_MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg[p->n++], sizeof(p->msg[0]), fmt, ap);
    va_end(ap);
}

/* Compares a flag spelling with a name written with '-' or '_' in any case
 * (INI keys, environment suffixes). */
static bool same_name(const char *flag, const char *name)
{
    for (; *flag && *name; flag++, name++) {
        char c = (char)tolower((unsigned char)*name);
        if (c == '_')
            c = '-';
        if (c != *flag)
            return false;
    }
    return *flag == 0 && *name == 0;
}

static int lookup(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (same_name(settings_table[i].name, name) ||
            (settings_table[i].alias &&
             same_name(settings_table[i].alias, name)))
            return (int)i;
    return -1;
}

const struct setting_def *settings_find(const char *name)
{
    int i = lookup(name);
    return i < 0 ? NULL : &settings_table[i];
}

void settings_ini_key(const struct setting_def *d, char *out, size_t len)
{
    snprintf(out, len, "%s", d->name);
    for (char *c = out; *c; c++)
        if (*c == '-')
            *c = '_';
}

void settings_env_name(const struct setting_def *d, char *out, size_t len)
{
    snprintf(out, len, "JOBQ_%s", d->name);
    for (char *c = out; *c; c++)
        *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
}

static void value_clear(struct setting_value *sv)
{
    for (size_t k = 0; k < sv->n; k++)
        free(sv->v[k]);
    free(sv->v);
    free(sv->sources);
    sv->v = NULL;
    sv->sources = NULL;
    sv->n = 0;
}

static void value_add(struct setting_value *sv, const char *text,
                      const char *source, bool repeatable)
{
    if (!repeatable)
        value_clear(sv);
    sv->v = xrealloc(sv->v, sizeof(*sv->v) * (sv->n + 1));
    sv->sources = xrealloc(sv->sources, sizeof(*sv->sources) * (sv->n + 1));
    sv->sources[sv->n] = source;
    sv->v[sv->n++] = xstrdup(text);
    sv->source = source;
}

static void handler_settings_clear(struct settings *s)
{
    for (size_t i = 0; i < s->nhandler_settings; i++) {
        free(s->handler_settings[i].type);
        free(s->handler_settings[i].key);
        free(s->handler_settings[i].value);
    }
    free(s->handler_settings);
    s->handler_settings = NULL;
    s->nhandler_settings = 0;
}

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->values = xcalloc(NSETTINGS, sizeof(*s->values));
    for (size_t i = 0; i < NSETTINGS; i++) {
        s->values[i].source = "default";
        if (settings_table[i].dflt)
            value_add(&s->values[i], settings_table[i].dflt, "default", false);
    }
}

void settings_free(struct settings *s)
{
    if (s->values)
        for (size_t i = 0; i < NSETTINGS; i++)
            value_clear(&s->values[i]);
    free(s->values);
    handler_settings_clear(s);
    memset(s, 0, sizeof(*s));
}

int settings_set(struct settings *s, const char *name, const char *value,
                 const char *source)
{
    int i = lookup(name);
    if (i < 0)
        return -1;
    value_add(&s->values[i], value, source,
              settings_table[i].flags & SETTING_REPEATABLE);
    return 0;
}

const char *settings_value(const struct settings *s, const char *name)
{
    int i = lookup(name);
    if (i < 0 || s->values[i].n == 0)
        return NULL;
    return s->values[i].v[s->values[i].n - 1];
}

const char *settings_source(const struct settings *s, const char *name)
{
    int i = lookup(name);
    return i < 0 ? NULL : s->values[i].source;
}

const char *settings_handler_value(const struct settings *s, const char *type,
                                   const char *key)
{
    for (size_t i = 0; i < s->nhandler_settings; i++)
        if (strcmp(s->handler_settings[i].type, type) == 0 &&
            strcmp(s->handler_settings[i].key, key) == 0)
            return s->handler_settings[i].value;
    return NULL;
}

/* INI */

struct ini_state {
    struct settings *s;
    struct problems *p;
    const char *path;
};

/* A key in a section that belongs to a repeatable setting ([handler.X]):
 * 1 when handled, 0 when the section is not such a one. */
static int on_ini_section(struct ini_state *st, const char *section,
                          const char *name, const char *value)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        const char *sec = d->ini_section;
        if (!sec)
            continue;
        size_t n = strlen(sec);
        char *item;
        if (n && sec[n - 1] == '.' && strncmp(section, sec, n) == 0 &&
            section[n]) {
            /* [handler.TYPE] KEY = VALUE is TYPE.KEY=VALUE */
            size_t len = strlen(section + n) + strlen(name) + strlen(value) + 3;
            item = xmalloc(len);
            snprintf(item, len, "%s.%s=%s", section + n, name, value);
        } else if (strcmp(section, sec) == 0) {
            /* [SECTION] KEY = VALUE is KEY=VALUE */
            size_t len = strlen(name) + strlen(value) + 2;
            item = xmalloc(len);
            snprintf(item, len, "%s=%s", name, value);
        } else {
            continue;
        }
        value_add(&st->s->values[i], item, "file", true);
        free(item);
        return 1;
    }
    return 0;
}

static int on_ini(void *user, const char *section, const char *name,
                  const char *value)
{
    struct ini_state *st = user;
    /* [worker], no section or any other: keys are global. */
    if (section && *section && on_ini_section(st, section, name, value))
        return 1;
    if (settings_set(st->s, name, value, "file") != 0)
        problems_add(st->p, "%s: unknown setting %s", st->path, name);
    return 1;
}

/* The file is read whole first: inih would end a value at a NUL byte
 * without a word (a queue "de\0fault" served as "de"). */
static char *read_ini(const char *path, struct problems *p)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        problems_add(p, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *text = xmalloc(SETTINGS_MAX_INI_BYTES + 1);
    size_t n = fread(text, 1, SETTINGS_MAX_INI_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    const char *nul = memchr(text, 0, n);
    if (failed)
        problems_add(p, "%s: cannot read", path);
    else if (n > SETTINGS_MAX_INI_BYTES)
        problems_add(p, "%s: larger than %d bytes", path,
                     SETTINGS_MAX_INI_BYTES);
    else if (nul)
        problems_add(p, "%s: a NUL byte at offset %zu", path,
                     (size_t)(nul - text));
    if (failed || n > SETTINGS_MAX_INI_BYTES || nul) {
        free(text);
        return NULL;
    }
    text[n] = 0;
    return text;
}

int settings_load_ini(struct settings *s, const char *path, struct problems *p)
{
    struct ini_state st = {s, p, path};
    int before = p->n;
    char *text = read_ini(path, p);
    if (!text)
        return -1;
    int rc = ini_parse_string(text, on_ini, &st);
    free(text);
    if (rc > 0)
        problems_add(p, "%s: syntax error on line %d", path, rc);
    return p->n > before ? -1 : 0;
}

int settings_load_ini_string(struct settings *s, const char *text,
                             struct problems *p)
{
    struct ini_state st = {s, p, "(string)"};
    int before = p->n;
    int rc = ini_parse_string(text, on_ini, &st);
    if (rc > 0)
        problems_add(p, "syntax error on line %d", rc);
    return p->n > before ? -1 : 0;
}

void settings_load_env(struct settings *s, char **env)
{
    for (; env && *env; env++) {
        if (strncmp(*env, "JOBQ_", 5) != 0)
            continue;
        const char *eq = strchr(*env, '=');
        if (!eq)
            continue;
        char name[64];
        size_t n = (size_t)(eq - *env - 5);
        if (n == 0 || n >= sizeof(name))
            continue;
        memcpy(name, *env + 5, n);
        name[n] = 0;
        /* Variables of other programs sharing the prefix are not ours to
         * reject, so unknown names are ignored here. */
        settings_set(s, name, eq + 1, "env");
    }
}

/* Command line */

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

enum arg_kind { A_OTHER, A_CONFIG, A_CHECK, A_VERSION, A_HELP, A_SETTING };

struct arg {
    enum arg_kind kind;
    const struct setting_def *d;
    const char *value; /* NULL: missing */
    int span;
};

/* A flag's value can be the next argument unless that looks like a flag
 * itself (a lone "-" is a value). */
static bool value_like(const char *next)
{
    return next && !(next[0] == '-' && next[1]);
}

static void read_arg(int argc, char *const *argv, int i, struct arg *a)
{
    const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
    *a = (struct arg){A_OTHER, NULL, NULL, 1};
    if (strcmp(s, "-c") == 0) {
        a->kind = A_CONFIG;
        if (value_like(next))
            a->value = next, a->span = 2;
        return;
    }
    if (strncmp(s, "-c", 2) == 0 && s[2]) { /* -cFILE */
        a->kind = A_CONFIG;
        a->value = s + 2;
        return;
    }
    if (strcmp(s, "--check-config") == 0)
        a->kind = A_CHECK;
    else if (strcmp(s, "--version") == 0)
        a->kind = A_VERSION;
    else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
        a->kind = A_HELP;
    if (a->kind != A_OTHER || strncmp(s, "--", 2) != 0 || !s[2])
        return;
    const char *name = s + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; k < NSETTINGS && !a->d; k++) {
        const struct setting_def *d = &settings_table[k];
        if ((strlen(d->name) == n && strncmp(d->name, name, n) == 0) ||
            (d->alias && strlen(d->alias) == n &&
             strncmp(d->alias, name, n) == 0))
            a->d = d;
    }
    if (!a->d)
        return;
    a->kind = A_SETTING;
    bool b;
    if (eq)
        a->value = eq + 1;
    else if (a->d->type == SETTING_BOOL)
        /* A bare boolean is true; a boolean word after it is its value. */
        if (next && parse_bool(next, &b) == 0)
            a->value = next, a->span = 2;
        else
            a->value = "true";
    else if (value_like(next))
        a->value = next, a->span = 2;
}

int settings_flag_span(int argc, char *const *argv, int i)
{
    struct arg a;
    read_arg(argc, argv, i, &a);
    return a.kind == A_OTHER ? 0 : a.span;
}

int settings_parse_args(struct settings *s, int argc, char *const *argv,
                        struct settings_cmdline *cmd, struct problems *p)
{
    int before = p->n;
    for (int i = 1; i < argc;) {
        struct arg a;
        read_arg(argc, argv, i, &a);
        const char *arg = argv[i];
        switch (a.kind) {
        case A_OTHER:
            if (arg[0] == '-' && arg[1]) {
                /* Only the name: what follows '=' may be a secret. */
                problems_add(p, "unknown option %.*s", (int)strcspn(arg, "="),
                             arg);
                /* A value after it belongs to it, not a problem of its
                 * own. */
                if (!strchr(arg, '=') && value_like(argv[i + 1]))
                    a.span = 2;
            } else {
                problems_add(p, "unexpected argument %s", arg);
            }
            break;
        case A_CONFIG:
            if (!a.value)
                problems_add(p, "-c needs a value (an INI file)");
            else
                cmd->config_path = a.value;
            break;
        case A_CHECK:
            cmd->check_config = true;
            break;
        case A_VERSION:
            cmd->version = true;
            break;
        case A_HELP:
            cmd->help = true;
            break;
        case A_SETTING:
            if (!a.value)
                problems_add(p, "%s needs a value (%s)", arg,
                             a.d->metavar ? a.d->metavar : "VALUE");
            else if (s)
                settings_set(s, a.d->name, a.value, "flag");
            break;
        }
        i += a.span;
    }
    return p->n > before ? -1 : 0;
}

int settings_load_all(struct settings *s, int argc, char *const *argv,
                      char **env, struct settings_cmdline *cmd,
                      struct problems *p)
{
    /* First reading finds -c and the problems of the command line, so the
     * file can sit below the environment and the flags. */
    settings_parse_args(NULL, argc, argv, cmd, p);
    if (cmd->help || cmd->version)
        return p->n ? -1 : 0;
    if (cmd->config_path)
        settings_load_ini(s, cmd->config_path, p);
    settings_load_env(s, env);
    struct problems again = {0};
    settings_parse_args(s, argc, argv, cmd, &again);
    settings_finish(s, p);
    return p->n ? -1 : 0;
}

/* Conversion and validation */

static int parse_uint(const char *v, uint64_t *out)
{
    if (!v || !*v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

static void parse_redis(struct settings *s, const char *v, const char *source,
                        struct problems *p)
{
    char err[256];
    if (redis_url_parse(v, &s->redis, err, sizeof(err)) != 0)
        problems_add(p, "redis-url: %s (from %s)", err, source);
}

static void parse_queues(struct settings *s, const char *v, const char *source,
                         struct problems *p)
{
    char *dup = xstrdup(v), *save = NULL;
    int before = p->n;
    s->nqueues = 0;
    for (char *t = strtok_r(dup, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        char *colon = strchr(t, ':');
        unsigned weight = 0;
        if (colon) {
            uint64_t w;
            *colon = 0;
            if (parse_uint(colon + 1, &w) != 0 || w < 1 || w > 1000) {
                problems_add(p, "queues: weight of %s must be 1 to 1000", t);
                continue;
            }
            weight = (unsigned)w;
        }
        if (!name_valid_queue(t, strlen(t))) {
            problems_add(p,
                         "queues: \"%s\" is not a queue name (1 to 64 of "
                         "[A-Za-z0-9_.-])",
                         t);
            continue;
        }
        if (s->nqueues >= SETTINGS_MAX_QUEUES) {
            problems_add(p, "queues: at most %d", SETTINGS_MAX_QUEUES);
            break;
        }
        for (int i = 0; i < s->nqueues; i++)
            if (strcmp(s->queues[i].name, t) == 0)
                problems_add(p, "queues: %s named twice", t);
        snprintf(s->queues[s->nqueues].name, sizeof(s->queues[0].name), "%s",
                 t);
        s->queues[s->nqueues++].weight = weight;
    }
    free(dup);
    if (s->nqueues == 0 && p->n == before)
        problems_add(p, "queues: none given (from %s)", source);
}

static void parse_cpu_set(struct settings *s, const char *v, const char *source,
                          struct problems *p)
{
    char *dup = xstrdup(v), *save = NULL;
    int before = p->n;
    s->ncpus = 0;
    long online = sysconf(_SC_NPROCESSORS_CONF);
    for (char *t = strtok_r(dup, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        uint64_t lo, hi;
        char *dash = strchr(t, '-');
        if (dash)
            *dash = 0;
        if (parse_uint(t, &lo) != 0 ||
            (dash && parse_uint(dash + 1, &hi) != 0)) {
            problems_add(p, "cpu-set: \"%s\" is not a core or range", t);
            continue;
        }
        if (!dash)
            hi = lo;
        if (hi < lo || hi >= (uint64_t)online) {
            problems_add(p, "cpu-set: cores must be 0 to %ld", online - 1);
            continue;
        }
        for (uint64_t c = lo; c <= hi && s->ncpus < SETTINGS_MAX_CPUS; c++)
            s->cpus[s->ncpus++] = (int)c;
    }
    free(dup);
    if (s->ncpus == 0 && p->n == before)
        problems_add(p, "cpu-set: no cores (from %s)", source);
}

static void parse_http(struct settings *s, const char *v, const char *source,
                       struct problems *p)
{
    s->http_off = strcmp(v, "off") == 0;
    if (s->http_off)
        return;
    const char *colon = strrchr(v, ':');
    uint64_t port;
    if (!colon || colon == v || parse_uint(colon + 1, &port) != 0 ||
        port > 65535 || (size_t)(colon - v) >= sizeof(s->http_host)) {
        problems_add(p, "http: must be ADDR:PORT or off (from %s)", source);
        return;
    }
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(s->http_host, h, hl);
    s->http_host[hl] = 0;
    s->http_port = (int)port;
}

/* TYPE.KEY=VALUE; TYPE may hold dots (http.request), KEY does not. Later
 * values of one TYPE.KEY replace earlier ones (file < env < flag). */
static void parse_handler_setting(struct settings *s, const char *v,
                                  const char *source, struct problems *p)
{
    const char *eq = strchr(v, '=');
    if (!eq) {
        /* Never echo the text: it may be a secret missing its "KEY=". */
        problems_add(p, "handler-setting: must be TYPE.KEY=VALUE (from %s)",
                     source);
        return;
    }
    const char *dot = NULL;
    for (const char *c = v; c < eq; c++)
        if (*c == '.')
            dot = c;
    bool ok = dot && dot > v && dot + 1 < eq;
    for (const char *c = v; ok && dot && c < dot; c++)
        ok = isgraph((unsigned char)*c) != 0;
    for (const char *c = dot ? dot + 1 : v; ok && c < eq; c++)
        ok = isalnum((unsigned char)*c) || *c == '_' || *c == '-';
    if (!ok) {
        problems_add(p,
                     "handler-setting: %.*s must be TYPE.KEY=VALUE, KEY of "
                     "[A-Za-z0-9_-] (from %s)",
                     (int)(eq - v), v, source);
        return;
    }
    char *type = xstrndup(v, (size_t)(dot - v));
    char *key = xstrndup(dot + 1, (size_t)(eq - dot - 1));
    bool known = false;
    for (size_t i = 0; i < s->nhandler_settings && !known; i++)
        known = strcmp(s->handler_settings[i].type, type) == 0 &&
                strcmp(s->handler_settings[i].key, key) == 0;
    if (!known && s->nhandler_settings >= SETTINGS_MAX_HANDLER_SETTINGS) {
        /* Each is looked up by a scan: a file of a million would make the
         * start quadratic. */
        problems_add(p, "handler-setting: more than %d (from %s)",
                     SETTINGS_MAX_HANDLER_SETTINGS, source);
        free(type);
        free(key);
        return;
    }
    for (size_t i = 0; i < s->nhandler_settings; i++) {
        struct handler_setting *h = &s->handler_settings[i];
        if (strcmp(h->type, type) == 0 && strcmp(h->key, key) == 0) {
            free(h->value);
            h->value = xstrdup(eq + 1);
            h->source = source;
            free(type);
            free(key);
            return;
        }
    }
    s->handler_settings =
        xrealloc(s->handler_settings,
                 sizeof(*s->handler_settings) * (s->nhandler_settings + 1));
    s->handler_settings[s->nhandler_settings++] =
        (struct handler_setting){type, key, xstrdup(eq + 1), source};
}

static void check_prefix(struct settings *s, struct problems *p)
{
    if (!name_valid_queue(s->prefix, strlen(s->prefix)))
        problems_add(p, "prefix: must be 1 to 64 of [A-Za-z0-9_.-]");
}

static void check_worker_id(struct settings *s, struct problems *p)
{
    if (!name_valid_worker(s->worker_id, strlen(s->worker_id)))
        problems_add(p, "worker-id: must be 1 to 64 of [A-Za-z0-9_.-]");
}

static void check_file_root(struct settings *s, struct problems *p)
{
    if (s->file_root && (s->file_root[0] != '/' ||
                         access(s->file_root, R_OK | W_OK | X_OK) != 0))
        problems_add(p,
                     "file-root: %s must be an absolute path to a directory "
                     "we can use",
                     s->file_root);
}

static void check_admin_token(struct settings *s, struct problems *p)
{
    if (s->admin_token && strlen(s->admin_token) < 16)
        problems_add(p, "admin-token: must be at least 16 characters");
}

static void check_http_allow(struct settings *s, struct problems *p)
{
    struct guard g;
    char err[200];
    if (guard_parse(&g, s->http_allow, err, sizeof(err)) != 0)
        problems_add(p, "%s", err);
}

static void check_http_ca_file(struct settings *s, struct problems *p)
{
    if (s->http_ca_file && access(s->http_ca_file, R_OK) != 0)
        problems_add(p, "http-ca-file: cannot read %s", s->http_ca_file);
}

/* TYPE[,TYPE...]=COMMAND ARGS...: the shape only; the worker resolves
 * the command when it starts. */
static void check_commands(const struct setting_value *sv, const char *name,
                           bool many_types, struct problems *p)
{
    for (size_t i = 0; sv && i < sv->n; i++) {
        const char *v = sv->v[i], *eq = strchr(v, '=');
        const char *cmd = eq ? eq + strspn(eq + 1, " \t") + 1 : NULL;
        size_t tlen = eq ? (size_t)(eq - v) : 0;
        if (!eq || tlen == 0 || !*cmd)
            problems_add(p, "%s: %s: must be %s=COMMAND ARGS... (from %s)",
                         name, v, many_types ? "TYPE[,TYPE...]" : "TYPE",
                         sv->sources[i]);
        else if (!many_types && memchr(v, ',', tlen))
            problems_add(p, "%s: %s: one TYPE per exec (from %s)", name, v,
                         sv->sources[i]);
    }
}

static void check_execs(struct settings *s, struct problems *p)
{
    check_commands(s->execs, "exec", false, p);
}

static void check_runners(struct settings *s, struct problems *p)
{
    check_commands(s->runners, "runner", true, p);
}

static void default_cpu_threads(char *buf, size_t len)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(buf, len, "%ld", n > 0 ? n : 1);
}

static void default_worker_id(char *buf, size_t len)
{
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    for (char *c = host; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
            *c = '_';
    snprintf(buf, len, "%.40s-%d-%04x", host, (int)getpid(),
             (unsigned)(rand() ^ getpid()) & 0xffff);
}

/* "a, b or c" */
static void choices_text(const char *const *c, char *out, size_t len)
{
    size_t n = 0, used = 0;
    while (c[n])
        n++;
    out[0] = 0;
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s",
                                 i == 0       ? ""
                                 : i + 1 == n ? " or "
                                              : ", ",
                                 c[i]);
}

/* Converts one value of a row into its field; false with a problem. */
static bool convert(struct settings *s, const struct setting_def *d,
                    const char *v, const char *source, struct problems *p)
{
    void *f = field_of(s, d);
    switch (d->type) {
    case SETTING_STRING:
        if (d->field == SETTING_FIELD_LIST)
            *(const struct setting_value **)f = &s->values[d - settings_table];
        else
            *(const char **)f = v;
        return true;
    case SETTING_UINT: {
        uint64_t x;
        if (parse_uint(v, &x) != 0 || x < d->min || x > d->max) {
            problems_add(p,
                         "%s: must be a whole number from %llu to %llu "
                         "(from %s)",
                         d->name, (unsigned long long)d->min,
                         (unsigned long long)d->max, source);
            return false;
        }
        if (d->field == SETTING_FIELD_UNSIGNED)
            *(unsigned *)f = (unsigned)x;
        else
            *(uint64_t *)f = x;
        return true;
    }
    case SETTING_BOOL: {
        bool b;
        if (parse_bool(v, &b) != 0) {
            problems_add(p, "%s: must be true or false (from %s)", d->name,
                         source);
            return false;
        }
        *(bool *)f = b;
        return true;
    }
    case SETTING_ENUM:
        for (int i = 0; d->choices[i]; i++)
            if (strcmp(v, d->choices[i]) == 0) {
                if (d->field == SETTING_FIELD_BOOL)
                    *(bool *)f = i != 0;
                else
                    *(int *)f = i;
                return true;
            }
        char c[256];
        choices_text(d->choices, c, sizeof(c));
        problems_add(p, "%s: must be %s (from %s)", d->name, c, source);
        return false;
    case SETTING_CUSTOM: {
        int before = p->n;
        d->parse(s, v, source, p);
        return p->n == before;
    }
    }
    return false;
}

int settings_finish(struct settings *s, struct problems *p)
{
    int before = p->n;
    handler_settings_clear(s);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        struct setting_value *sv = &s->values[i];
        if (sv->n == 0 && d->dflt_fn) {
            char buf[128];
            d->dflt_fn(buf, sizeof(buf));
            value_add(sv, buf, "default", false);
        }
        if (sv->n == 0) {
            if (d->field == SETTING_FIELD_STR)
                *(const char **)field_of(s, d) = NULL;
            continue;
        }
        bool ok = true;
        if (d->type == SETTING_CUSTOM && (d->flags & SETTING_REPEATABLE))
            for (size_t k = 0; k < sv->n; k++)
                ok &= convert(s, d, sv->v[k], sv->sources[k], p);
        else
            ok = convert(s, d, sv->v[sv->n - 1], sv->source, p);
        if (ok && d->check)
            d->check(s, p);
    }
    /* Between settings. */
    if (s->retry_base_ms > s->retry_max_ms)
        problems_add(p, "retry-base-ms: must not exceed retry-max-ms");
    if (s->require_signed && !s->signing_keys)
        problems_add(p, "require-signed: needs signing-keys");
    return p->n > before ? -1 : 0;
}

/* Printing */

/* Handler settings that look like secrets are masked too: by their key,
 * or by a value that is a URL with a user part (user:password@). */
static bool secret_setting(const char *key, const char *value)
{
    static const char *words[] = {"pass", "pwd",    "secret",  "token",
                                  "key",  "auth",   "bearer",  "credential",
                                  "dsn",  "cookie", "private", "session"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i]))
            return true;
    const char *scheme = strstr(value, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    return at && (!slash || at < slash);
}

void settings_print(const struct settings *s, FILE *out)
{
    fprintf(out, "# effective jobq-worker settings; source after each\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        const struct setting_value *sv = &s->values[i];
        char key[64], masked[1024];
        settings_ini_key(d, key, sizeof(key));
        if (d->ini_section)
            continue; /* printed as sections below */
        if (sv->n == 0) {
            fprintf(out, "; %s unset\n", key);
            continue;
        }
        /* A repeatable setting prints each value; others their last. */
        size_t from = d->flags & SETTING_REPEATABLE ? 0 : sv->n - 1;
        for (size_t k = from; k < sv->n; k++) {
            const char *v = sv->v[k];
            if (d->flags & SETTING_SECRET) {
                v = "***";
            } else if (d->flags & SETTING_URL) {
                redis_url_mask(v, masked, sizeof(masked));
                v = masked;
            }
            fprintf(out, "%s = %s ; %s\n", key, v, sv->sources[k]);
        }
    }
    for (size_t i = 0; i < s->nhandler_settings; i++) {
        const struct handler_setting *h = &s->handler_settings[i];
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(s->handler_settings[j].type, h->type) != 0;
        if (!first)
            continue;
        fprintf(out, "\n[handler.%s]\n", h->type);
        for (size_t j = i; j < s->nhandler_settings; j++) {
            const struct handler_setting *o = &s->handler_settings[j];
            if (strcmp(o->type, h->type) == 0)
                fprintf(out, "%s = %s ; %s\n", o->key,
                        secret_setting(o->key, o->value) ? "***" : o->value,
                        o->source);
        }
    }
    /* Sections of whole values ([exec], [runner]): TYPE = COMMAND. */
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        const struct setting_value *sv = &s->values[i];
        size_t n = d->ini_section ? strlen(d->ini_section) : 0;
        if (!n || d->ini_section[n - 1] == '.' || sv->n == 0)
            continue;
        fprintf(out, "\n[%s]\n", d->ini_section);
        for (size_t k = 0; k < sv->n; k++) {
            const char *eq = strchr(sv->v[k], '=');
            if (eq)
                fprintf(out, "%.*s = %s ; %s\n", (int)(eq - sv->v[k]), sv->v[k],
                        eq + 1, sv->sources[k]);
        }
    }
}

/* The default as --help and the docs show it. */
static const char *default_text(const struct setting_def *d)
{
    return d->dflt ? d->dflt : d->dflt_doc ? d->dflt_doc : "unset";
}

/* What a value looks like: N (1 to 1024), true or false, text or json. */
static void values_text(const struct setting_def *d, char *out, size_t len)
{
    switch (d->type) {
    case SETTING_UINT:
        snprintf(out, len, "%s: %llu to %llu", d->metavar,
                 (unsigned long long)d->min, (unsigned long long)d->max);
        break;
    case SETTING_BOOL:
        snprintf(out, len, "true or false");
        break;
    case SETTING_ENUM:
        choices_text(d->choices, out, len);
        break;
    default:
        snprintf(out, len, "%s", d->metavar ? d->metavar : "VALUE");
    }
}

static void metavar_text(const struct setting_def *d, char *out, size_t len)
{
    if (d->type == SETTING_BOOL)
        snprintf(out, len, "[BOOL]");
    else if (d->type == SETTING_ENUM) {
        size_t used = 0;
        for (int i = 0; d->choices[i] && used < len; i++)
            used += (size_t)snprintf(out + used, len - used, "%s%s",
                                     i ? "|" : "", d->choices[i]);
    } else {
        snprintf(out, len, "%s", d->metavar ? d->metavar : "VALUE");
    }
}

/* Prints text wrapped at 79 columns, each line after prefix. */
static void wrap_prefixed(FILE *out, const char *text, const char *prefix)
{
    const int width = 79 - (int)strlen(prefix);
    while (*text) {
        int n = (int)strlen(text);
        if (n > width) {
            n = width;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = (int)strcspn(text, " ");
        }
        fprintf(out, "%s%.*s\n", prefix, n, text);
        text += n;
        while (*text == ' ')
            text++;
    }
}

/* Prints text wrapped at 79 columns, each line indented. */
static void wrap(FILE *out, const char *text, int indent)
{
    char pre[16];
    snprintf(pre, sizeof(pre), "%*s", indent, "");
    wrap_prefixed(out, text, pre);
}

void settings_usage(FILE *out)
{
    fprintf(out,
            "usage: jobq-worker [-c FILE] [--check-config] [--version] "
            "[--help]\n"
            "                   [--SETTING VALUE | --SETTING=VALUE]...\n\n");
    wrap(out,
         "Settings come from, lowest to highest: built-in defaults, the INI "
         "file given with -c, environment variables, flags. Each setting "
         "below is a flag (--retry-base-ms 500 or --retry-base-ms=500), an "
         "INI key (retry_base_ms = 500) and an environment variable "
         "(JOBQ_RETRY_BASE_MS=500); a bare boolean flag (--require-signed) "
         "means true.",
         0);
    fprintf(out, "\n");
    static const char *const builtin[][2] = {
        {"-c FILE", "read settings from this INI file"},
        {"--check-config", "print the effective settings (secrets masked) "
                           "and exit 0, or print every problem and exit 2"},
        {"--version", "print the version and exit"},
        {"-h, --help", "print this help and exit"},
    };
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        fprintf(out, "  %s\n", builtin[i][0]);
        wrap(out, builtin[i][1], 6);
    }
    fprintf(out, "\nsettings:\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        char mv[128], text[1024];
        metavar_text(d, mv, sizeof(mv));
        if (d->alias)
            fprintf(out, "  --%s %s, --%s %s\n", d->name, mv, d->alias, mv);
        else
            fprintf(out, "  --%s %s\n", d->name, mv);
        snprintf(text, sizeof(text), "%s [default: %s]", d->help,
                 default_text(d));
        wrap(out, text, 6);
    }
}

/* Markdown table cells: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void settings_markdown(FILE *out)
{
    fprintf(out, "| flag | INI key | environment | default | values | "
                 "meaning |\n| --- | --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        char key[64], env[80], vals[256];
        settings_ini_key(d, key, sizeof(key));
        settings_env_name(d, env, sizeof(env));
        values_text(d, vals, sizeof(vals));
        fprintf(out, "| `--%s`", d->name);
        if (d->alias)
            fprintf(out, " or `--%s`", d->alias);
        fprintf(out, " | `%s` | `%s` | ", key, env);
        if (d->dflt)
            fprintf(out, "`%s`", d->dflt);
        else
            md_cell(out, default_text(d));
        fprintf(out, " | ");
        md_cell(out, vals);
        if (d->flags & SETTING_REPEATABLE)
            fprintf(out, ", repeatable");
        if (d->flags & SETTING_SECRET)
            fprintf(out, ", secret");
        fprintf(out, " | ");
        md_cell(out, d->help);
        fprintf(out, " |\n");
    }
}

/* One row of the example INI file: its help and values as comments, then
 * the key with its default, commented out. */
static void ini_example_row(FILE *out, const struct setting_def *d)
{
    char key[64], vals[256], text[1024];
    settings_ini_key(d, key, sizeof(key));
    values_text(d, vals, sizeof(vals));
    snprintf(text, sizeof(text), "%s (%s%s)", d->help, vals,
             d->flags & SETTING_SECRET ? "; a secret: keep this file 0600"
                                       : "");
    wrap_prefixed(out, text, "; ");
    if (d->ini_section) {
        bool per_type = d->ini_section[strlen(d->ini_section) - 1] == '.';
        /* [exec] and [runner] hold whole values: TYPE = COMMAND ... */
        const char *eq = per_type ? NULL : strchr(d->metavar, '=');
        if (eq)
            fprintf(out, ";[%s]\n;%.*s = %s\n", d->ini_section,
                    (int)(eq - d->metavar), d->metavar, eq + 1);
        else
            fprintf(out, ";[%s%s]\n;KEY = VALUE\n", d->ini_section,
                    per_type ? "TYPE" : "");
    } else if (d->dflt) {
        fprintf(out, ";%s = %s\n", key, d->dflt);
    } else {
        fprintf(out, ";%s =   ; default: %s\n", key, default_text(d));
    }
}

void settings_ini_example(FILE *out)
{
    fprintf(out, "; jobq-worker -c worker.ini: every setting, commented out "
                 "with its default.\n");
    wrap_prefixed(
        out,
        "Remove the ';' before a key to set it. Lowest to highest: built-in "
        "defaults, this file, JOBQ_* environment variables (worker.env), "
        "flags; jobq-worker -c FILE --check-config prints what is in effect. "
        "Generated from the settings table (docs/settings.md) by "
        "build/tests/unit/test_settings --write-docs.",
        "; ");
    /* Rows that are sections go last: a key after a section is in it. */
    for (int sections = 0; sections < 2; sections++)
        for (size_t i = 0; i < NSETTINGS; i++)
            if (!settings_table[i].ini_section == !sections) {
                fprintf(out, "\n");
                ini_example_row(out, &settings_table[i]);
            }
}

bool settings_table_ok(char *err, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &settings_table[i];
        const char *why = NULL;
        enum setting_field f = d->field;
        if (!d->name || !d->help || !*d->help)
            why = "needs a name and help";
        else if (d->dflt && d->dflt_fn)
            why = "has both a default and a default function";
        else if (d->type == SETTING_STRING &&
                 !(f == SETTING_FIELD_STR || (f == SETTING_FIELD_LIST &&
                                              (d->flags & SETTING_REPEATABLE))))
            why = "is a string but its field is not const char * (or const "
                  "struct setting_value * when repeatable)";
        else if (d->type == SETTING_UINT &&
                 !(f == SETTING_FIELD_U64 ||
                   (f == SETTING_FIELD_UNSIGNED && d->max <= UINT32_MAX)))
            why = "is a whole number but its field is not uint64_t or "
                  "unsigned (with max fitting)";
        else if (d->type == SETTING_UINT && (d->min > d->max || !d->metavar))
            why = "needs min <= max and a metavar";
        else if (d->type == SETTING_BOOL && f != SETTING_FIELD_BOOL)
            why = "is a boolean but its field is not bool";
        else if (d->type == SETTING_ENUM &&
                 (!d->choices ||
                  !(f == SETTING_FIELD_INT || f == SETTING_FIELD_BOOL)))
            why = "is an enum but has no choices or its field is not int or "
                  "bool";
        else if (d->type == SETTING_CUSTOM && !d->parse)
            why = "is custom but has no parse function";
        else if ((d->flags & SETTING_REPEATABLE) &&
                 !(d->type == SETTING_CUSTOM || f == SETTING_FIELD_LIST))
            why = "is repeatable but neither custom nor a list";
        else if (d->ini_section && !(d->flags & SETTING_REPEATABLE))
            why = "has an INI section but is not repeatable";
        for (size_t j = 0; j < i && !why; j++) {
            const struct setting_def *e = &settings_table[j];
            const char *mine[] = {d->name, d->alias};
            for (int k = 0; k < 2 && !why; k++)
                if (mine[k] && (same_name(e->name, mine[k]) ||
                                (e->alias && same_name(e->alias, mine[k]))))
                    why = "shares a name with an earlier row";
        }
        if (why) {
            snprintf(err, len, "setting %s %s", d->name ? d->name : "?", why);
            return false;
        }
    }
    return true;
}
