/* Settings (see settings.h). */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"

enum kind { K_STR, K_UINT, K_BOOL };

struct def {
    const char *name;  /* flag spelling */
    const char *alias; /* a shorter flag, or NULL */
    enum kind kind;
    const char *dflt;  /* NULL: unset */
    uint64_t min, max; /* K_UINT */
    bool secret;
    const char *help;
};

#define U64MAX UINT64_MAX
static const struct def defs[S__COUNT] = {
    [S_REDIS_URL] = {"redis-url", "redis", K_STR, "redis://127.0.0.1:6379", 0,
                     0, false, "Redis URL"},
    [S_QUEUES] = {"queues", NULL, K_STR, "default", 0, 0, false,
                  "queues served, highest priority first; Q:N for a weight"},
    [S_CPU_THREADS] = {"cpu-threads", NULL, K_UINT, NULL, 1, 1024, false,
                       "CPU pool size (default: online cores)"},
    [S_CPU_SET] = {"cpu-set", NULL, K_STR, NULL, 0, 0, false,
                   "cores to pin CPU threads to, e.g. 0-3,6"},
    [S_IO_CONCURRENCY] = {"io-concurrency", NULL, K_UINT, "1000", 1, 1000000,
                          false, "io jobs in flight on the loop"},
    [S_HTTP] = {"http", NULL, K_STR, "127.0.0.1:9180", 0, 0, false,
                "ADDR:PORT of the HTTP surface, or off"},
    [S_HTTP_MAX_CONNECTIONS] =
        {"http-max-connections", NULL, K_UINT, "256", 1, 65536, false,
         "connections the HTTP surface holds at once; more are closed at once"},
    [S_PREFIX] = {"prefix", NULL, K_STR, "jobq", 0, 0, false, "key prefix"},
    [S_WORKER_ID] = {"worker-id", NULL, K_STR, NULL, 0, 0, false,
                     "worker id (default: host-pid-random)"},
    [S_LOG_FORMAT] = {"log-format", NULL, K_STR, "text", 0, 0, false,
                      "text or json"},
    [S_LOG_LEVEL] = {"log-level", NULL, K_STR, "info", 0, 0, false,
                     "debug, info, warn or error"},
    [S_LOG_FILE] = {"log-file", NULL, K_STR, NULL, 0, 0, false,
                    "log to this file (SIGHUP reopens); default stderr"},
    [S_RETRY_BASE_MS] = {"retry-base-ms", NULL, K_UINT, "1000", 1, 86400000,
                         false, "backoff base"},
    [S_RETRY_MAX_MS] = {"retry-max-ms", NULL, K_UINT, "3600000", 1, 604800000,
                        false, "backoff cap"},
    [S_DEFAULT_MAX_ATTEMPTS] = {"default-max-attempts", NULL, K_UINT, "10", 1,
                                1000000, false,
                                "attempts when the job does not say"},
    [S_DEFAULT_TIMEOUT_MS] =
        {"default-timeout-ms", NULL, K_UINT, "300000", 1, 86400000, false,
         "attempt limit when neither job nor handler says"},
    [S_HEARTBEAT_TTL_MS] =
        {"heartbeat-ttl-ms", NULL, K_UINT, "30000", 1000, 86400000, false,
         "how long a silent worker keeps its jobs (at least 1000: a lapsed "
         "worker's last blocking take must land within it)"},
    [S_SHUTDOWN_GRACE_MS] = {"shutdown-grace-ms", NULL, K_UINT, "25000", 0,
                             3600000, false,
                             "time running jobs get after SIGTERM"},
    [S_MAX_FRAME_BYTES] = {"max-frame-bytes", NULL, K_UINT, "1048576", 64,
                           536870912, false, "larger frames are dead at once"},
    [S_MAX_ENTRIES] = {"max-entries", NULL, K_UINT, "65536", 1, 16777216, false,
                       "most elements in one array or map of a job"},
    [S_MAX_STRING_BYTES] = {"max-string-bytes", NULL, K_UINT, "262144", 16,
                            536870912, false,
                            "longest string, bin or ext inside a job"},
    [S_RESULT_TTL_S] = {"result-ttl-s", NULL, K_UINT, "86400", 1, 31536000,
                        false, "TTL of results and reply_to lists"},
    [S_DEAD_MAX] = {"dead-max", NULL, K_UINT, "10000", 1, 100000000, false,
                    "length the dead list is trimmed to"},
    [S_REDIS_TIMEOUT_MS] = {"redis-timeout-ms", NULL, K_UINT, "5000", 100,
                            600000, false,
                            "a reply overdue by this drops the connection"},
    [S_FILE_ROOT] = {"file-root", NULL, K_STR, NULL, 0, 0, false,
                     "the only directory file.* handlers may touch"},
    [S_SIGNING_KEYS] = {"signing-keys", NULL, K_STR, NULL, 0, 0, false,
                        "file of kid = hex key lines (mode 0600)"},
    [S_REQUIRE_SIGNED] = {"require-signed", NULL, K_BOOL, "false", 0, 0, false,
                          "unsigned frames are dead"},
    [S_ADMIN_TOKEN] = {"admin-token", NULL, K_STR, NULL, 0, 0, true,
                       "bearer token for HTTP changes"},
};

void problems_add(struct problems *p, const char *fmt, ...)
{
    if (p->n >= SETTINGS_MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg[p->n++], sizeof(p->msg[0]), fmt, ap);
    va_end(ap);
}

/* Compares a setting's flag spelling with a name written with '-' or '_'
 * in any case (INI keys, environment suffixes). */
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
    for (int i = 0; i < S__COUNT; i++)
        if (same_name(defs[i].name, name) ||
            (defs[i].alias && same_name(defs[i].alias, name)))
            return i;
    return -1;
}

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < S__COUNT; i++) {
        s->raw[i] = defs[i].dflt ? strdup(defs[i].dflt) : NULL;
        s->source[i] = "default";
    }
}

void settings_free(struct settings *s)
{
    for (int i = 0; i < S__COUNT; i++)
        free(s->raw[i]);
    memset(s, 0, sizeof(*s));
}

int settings_set(struct settings *s, const char *name, const char *value,
                 const char *source)
{
    int i = lookup(name);
    if (i < 0)
        return -1;
    free(s->raw[i]);
    s->raw[i] = strdup(value);
    s->source[i] = source;
    return 0;
}

struct ini_state {
    struct settings *s;
    struct problems *p;
    const char *path;
};

static int on_ini(void *user, const char *section, const char *name,
                  const char *value)
{
    struct ini_state *st = user;
    (void)section; /* [worker] or no section: keys are global */
    if (settings_set(st->s, name, value, "file") != 0)
        problems_add(st->p, "%s: unknown setting %s", st->path, name);
    return 1;
}

int settings_load_ini(struct settings *s, const char *path, struct problems *p)
{
    struct ini_state st = {s, p, path};
    int before = p->n;
    int rc = ini_parse(path, on_ini, &st);
    if (rc < 0)
        problems_add(p, "%s: cannot read: %s", path, strerror(errno));
    else if (rc > 0)
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

static struct option long_opts[S__COUNT * 2 + 4];

static void build_long_opts(void)
{
    int n = 0;
    for (int i = 0; i < S__COUNT; i++) {
        int has =
            defs[i].kind == K_BOOL ? optional_argument : required_argument;
        long_opts[n++] = (struct option){defs[i].name, has, NULL, 1000 + i};
        if (defs[i].alias)
            long_opts[n++] =
                (struct option){defs[i].alias, has, NULL, 1000 + i};
    }
    long_opts[n++] = (struct option){"check-config", no_argument, NULL, 'C'};
    long_opts[n++] = (struct option){"version", no_argument, NULL, 'V'};
    long_opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    /* --help and --version both end the run early; main tells them apart. */
    long_opts[n] = (struct option){0, 0, 0, 0};
}

int settings_parse_args(struct settings *s, int argc, char **argv,
                        bool *check_config, bool *version,
                        const char **config_path, struct problems *p)
{
    int before = p->n;
    build_long_opts();
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:", long_opts, NULL)) != -1) {
        if (c >= 1000) {
            const struct def *d = &defs[c - 1000];
            const char *v = optarg ? optarg : (d->kind == K_BOOL ? "true" : "");
            if (s)
                settings_set(s, d->name, v, "flag");
        } else if (c == 'c') {
            *config_path = optarg;
        } else if (c == 'C') {
            *check_config = true;
        } else if (c == 'V') {
            *version = true;
        } else if (c == 'h') {
            *version = true; /* the caller prints usage for --help */
        } else if (c == ':') {
            problems_add(p, "%s needs a value", argv[optind - 1]);
        } else {
            problems_add(p, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        problems_add(p, "unexpected argument %s", argv[optind]);
    return p->n > before ? -1 : 0;
}

int settings_load_all(struct settings *s, int argc, char **argv, char **env,
                      bool *check_config, bool *version, struct problems *p)
{
    const char *config = NULL;
    /* First pass finds -c only, so the file can sit below env and flags. */
    struct problems scratch = {0};
    settings_parse_args(NULL, argc, argv, check_config, version, &config,
                        &scratch);
    if (config)
        settings_load_ini(s, config, p);
    settings_load_env(s, env);
    settings_parse_args(s, argc, argv, check_config, version, &config, p);
    if (*version)
        return 0;
    settings_finish(s, p);
    return p->n ? -1 : 0;
}

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

static uint64_t *uint_slot(struct settings *s, int i)
{
    switch (i) {
    case S_RETRY_BASE_MS:
        return &s->retry_base_ms;
    case S_RETRY_MAX_MS:
        return &s->retry_max_ms;
    case S_DEFAULT_MAX_ATTEMPTS:
        return &s->default_max_attempts;
    case S_DEFAULT_TIMEOUT_MS:
        return &s->default_timeout_ms;
    case S_HEARTBEAT_TTL_MS:
        return &s->heartbeat_ttl_ms;
    case S_SHUTDOWN_GRACE_MS:
        return &s->shutdown_grace_ms;
    case S_MAX_FRAME_BYTES:
        return &s->max_frame_bytes;
    case S_MAX_ENTRIES:
        return &s->max_entries;
    case S_MAX_STRING_BYTES:
        return &s->max_string_bytes;
    case S_RESULT_TTL_S:
        return &s->result_ttl_s;
    case S_DEAD_MAX:
        return &s->dead_max;
    case S_REDIS_TIMEOUT_MS:
        return &s->redis_timeout_ms;
    case S_HTTP_MAX_CONNECTIONS:
        return &s->http_max_connections;
    default:
        return NULL;
    }
}

static void parse_queues(struct settings *s, const char *v, struct problems *p)
{
    char *dup = strdup(v), *save = NULL;
    s->nqueues = 0;
    int strict = 0, weighted = 0;
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
        snprintf(s->queues[s->nqueues].name, 65, "%s", t);
        s->queues[s->nqueues++].weight = weight;
        weight ? weighted++ : strict++;
    }
    free(dup);
    if (s->nqueues == 0 && p->n == 0)
        problems_add(p, "queues: none given");
}

static void parse_cpu_set(struct settings *s, const char *v, struct problems *p)
{
    char *dup = strdup(v), *save = NULL;
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
    if (s->ncpus == 0 && p->n == 0)
        problems_add(p, "cpu-set: no cores");
}

static void parse_http(struct settings *s, const char *v, struct problems *p)
{
    s->http_off = strcmp(v, "off") == 0;
    if (s->http_off)
        return;
    const char *colon = strrchr(v, ':');
    uint64_t port;
    if (!colon || colon == v || parse_uint(colon + 1, &port) != 0 ||
        port > 65535 || (size_t)(colon - v) >= sizeof(s->http_host)) {
        problems_add(p, "http: must be ADDR:PORT or off");
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

static char default_worker_id[80];

int settings_finish(struct settings *s, struct problems *p)
{
    int before = p->n;
    for (int i = 0; i < S__COUNT; i++) {
        const struct def *d = &defs[i];
        const char *v = s->raw[i];
        if (!v)
            continue;
        if (d->kind == K_UINT) {
            uint64_t x;
            if (parse_uint(v, &x) != 0 || x < d->min || x > d->max) {
                problems_add(p,
                             "%s: must be a whole number from %llu to %llu "
                             "(from %s)",
                             d->name, (unsigned long long)d->min,
                             (unsigned long long)d->max, s->source[i]);
                continue;
            }
            uint64_t *slot = uint_slot(s, i);
            if (slot)
                *slot = x;
            else if (i == S_CPU_THREADS)
                s->cpu_threads = (unsigned)x;
            else if (i == S_IO_CONCURRENCY)
                s->io_concurrency = (unsigned)x;
        } else if (d->kind == K_BOOL) {
            bool b;
            if (parse_bool(v, &b) != 0)
                problems_add(p, "%s: must be true or false (from %s)", d->name,
                             s->source[i]);
            else if (i == S_REQUIRE_SIGNED)
                s->require_signed = b;
        }
    }
    char err[256];
    if (redis_url_parse(s->raw[S_REDIS_URL], &s->redis, err, sizeof(err)) != 0)
        problems_add(p, "redis-url: %s", err);
    parse_queues(s, s->raw[S_QUEUES], p);
    if (!s->raw[S_CPU_THREADS]) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cpu_threads = n > 0 ? (unsigned)n : 1;
    }
    if (s->raw[S_CPU_SET])
        parse_cpu_set(s, s->raw[S_CPU_SET], p);
    parse_http(s, s->raw[S_HTTP], p);
    s->prefix = s->raw[S_PREFIX];
    if (!name_valid_queue(s->prefix, strlen(s->prefix)))
        problems_add(p, "prefix: must be 1 to 64 of [A-Za-z0-9_.-]");
    if (!s->raw[S_WORKER_ID]) {
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        for (char *c = host; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
                *c = '_';
        snprintf(default_worker_id, sizeof(default_worker_id), "%.40s-%d-%04x",
                 host, (int)getpid(), (unsigned)(rand() ^ getpid()) & 0xffff);
        s->worker_id = default_worker_id;
    } else {
        s->worker_id = s->raw[S_WORKER_ID];
    }
    if (!name_valid_worker(s->worker_id, strlen(s->worker_id)))
        problems_add(p, "worker-id: must be 1 to 64 of [A-Za-z0-9_.-]");
    const char *lf = s->raw[S_LOG_FORMAT];
    if (strcmp(lf, "json") != 0 && strcmp(lf, "text") != 0)
        problems_add(p, "log-format: must be json or text");
    s->log_json = strcmp(lf, "json") == 0;
    enum log_level lv;
    if (log_level_parse(s->raw[S_LOG_LEVEL], &lv) != 0)
        problems_add(p, "log-level: must be debug, info, warn or error");
    s->log_level = (int)lv;
    s->log_file = s->raw[S_LOG_FILE];
    s->file_root = s->raw[S_FILE_ROOT];
    s->signing_keys = s->raw[S_SIGNING_KEYS];
    s->admin_token = s->raw[S_ADMIN_TOKEN];
    if (s->file_root && (s->file_root[0] != '/' ||
                         access(s->file_root, R_OK | W_OK | X_OK) != 0))
        problems_add(p,
                     "file-root: %s must be an absolute path to a directory "
                     "we can use",
                     s->file_root);
    if (s->retry_base_ms > s->retry_max_ms)
        problems_add(p, "retry-base-ms: must not exceed retry-max-ms");
    if (s->require_signed && !s->signing_keys)
        problems_add(p, "require-signed: needs signing-keys");
    if (s->admin_token && strlen(s->admin_token) < 16)
        problems_add(p, "admin-token: must be at least 16 characters");
    return p->n > before ? -1 : 0;
}

void settings_print(const struct settings *s, FILE *out)
{
    fprintf(out, "# effective jobq-worker settings; source after each\n");
    for (int i = 0; i < S__COUNT; i++) {
        char key[64], masked[1024];
        snprintf(key, sizeof(key), "%s", defs[i].name);
        for (char *c = key; *c; c++)
            if (*c == '-')
                *c = '_';
        const char *v = s->raw[i];
        if (i == S_WORKER_ID)
            v = s->worker_id;
        else if (i == S_CPU_THREADS && !v) {
            snprintf(masked, sizeof(masked), "%u", s->cpu_threads);
            v = masked;
        }
        if (!v) {
            fprintf(out, "; %s unset\n", key);
            continue;
        }
        if (defs[i].secret)
            v = "***";
        else if (i == S_REDIS_URL) {
            redis_url_mask(v, masked, sizeof(masked));
            v = masked;
        }
        fprintf(out, "%s = %s ; %s\n", key, v, s->source[i]);
    }
}

void settings_usage(FILE *out)
{
    fprintf(out, "usage: jobq-worker [-c FILE] [--check-config] [--version] "
                 "[--SETTING VALUE]...\n\nsettings (flag / INI key / "
                 "JOBQ_ variable):\n");
    for (int i = 0; i < S__COUNT; i++)
        fprintf(out, "  --%-22s %s%s%s%s\n", defs[i].name, defs[i].help,
                defs[i].dflt ? " [" : "", defs[i].dflt ? defs[i].dflt : "",
                defs[i].dflt ? "]" : "");
}
