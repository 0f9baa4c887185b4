/* Settings: built-in defaults < INI file (-c) < JOBQ_* environment < flags.
 * One table names every setting once; each has a flag (--retry-base-ms), an
 * INI key (retry_base_ms) and an environment variable (JOBQ_RETRY_BASE_MS).
 * Validation collects every problem rather than stopping at the first. */
#ifndef JOBQ_SETTINGS_H
#define JOBQ_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "redisurl.h"

#define SETTINGS_MAX_QUEUES 32
#define SETTINGS_MAX_CPUS 1024
#define SETTINGS_MAX_PROBLEMS 64

enum setting_id {
    S_REDIS_URL,
    S_QUEUES,
    S_CPU_THREADS,
    S_CPU_SET,
    S_IO_CONCURRENCY,
    S_HTTP,
    S_HTTP_MAX_CONNECTIONS,
    S_PREFIX,
    S_WORKER_ID,
    S_LOG_FORMAT,
    S_LOG_LEVEL,
    S_LOG_FILE,
    S_RETRY_BASE_MS,
    S_RETRY_MAX_MS,
    S_DEFAULT_MAX_ATTEMPTS,
    S_DEFAULT_TIMEOUT_MS,
    S_HEARTBEAT_TTL_MS,
    S_SHUTDOWN_GRACE_MS,
    S_MAX_FRAME_BYTES,
    S_MAX_ENTRIES,
    S_MAX_STRING_BYTES,
    S_RESULT_TTL_S,
    S_DEAD_MAX,
    S_REDIS_TIMEOUT_MS,
    S_FILE_ROOT,
    S_SIGNING_KEYS,
    S_REQUIRE_SIGNED,
    S_ADMIN_TOKEN,
    S__COUNT
};

struct queue_spec {
    char name[65];
    unsigned weight; /* 0: strict priority, in the order given */
};

struct problems {
    int n;
    char msg[SETTINGS_MAX_PROBLEMS][320];
};

struct settings {
    char *raw[S__COUNT];          /* current textual value, owned */
    const char *source[S__COUNT]; /* "default", "file", "env", "flag" */

    /* Typed values, filled by settings_finish. */
    struct redis_url redis;
    struct queue_spec queues[SETTINGS_MAX_QUEUES];
    int nqueues;
    unsigned cpu_threads;
    int cpus[SETTINGS_MAX_CPUS];
    int ncpus; /* 0: no --cpu-set, one thread per online core in turn */
    unsigned io_concurrency;
    bool http_off;
    char http_host[128];
    int http_port;
    const char *prefix, *worker_id, *log_file, *file_root, *signing_keys,
        *admin_token;
    bool log_json, require_signed;
    int log_level;
    uint64_t retry_base_ms, retry_max_ms, default_max_attempts,
        default_timeout_ms, heartbeat_ttl_ms, shutdown_grace_ms,
        max_frame_bytes, max_entries, max_string_bytes, result_ttl_s, dead_max,
        redis_timeout_ms, http_max_connections;
};

void settings_init(struct settings *s);
void settings_free(struct settings *s);

/* Sets one setting by its name in any of its spellings (retry-base-ms or
 * retry_base_ms). Returns 0, or -1 for an unknown name. */
int settings_set(struct settings *s, const char *name, const char *value,
                 const char *source);

int settings_load_ini(struct settings *s, const char *path, struct problems *p);
int settings_load_ini_string(struct settings *s, const char *text,
                             struct problems *p);
void settings_load_env(struct settings *s, char **env);

/* Parses argv. Sets *check_config, *version and *config_path as seen.
 * Returns 0, or -1 with problems. */
int settings_parse_args(struct settings *s, int argc, char **argv,
                        bool *check_config, bool *version,
                        const char **config_path, struct problems *p);

/* Whole command-line handling: flags scanned for -c, then file, env and
 * flags applied in order and validated. */
int settings_load_all(struct settings *s, int argc, char **argv, char **env,
                      bool *check_config, bool *version, struct problems *p);

/* Converts and validates; returns 0 or -1 with every problem listed. */
int settings_finish(struct settings *s, struct problems *p);

/* Prints the effective settings as INI, secrets masked. */
void settings_print(const struct settings *s, FILE *out);

void problems_add(struct problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void settings_usage(FILE *out);
#endif
