/* Settings: built-in defaults < INI file (-c) < JOBQ_* environment < flags.
 *
 * One table (settings_table in settings.c) names every setting once: its
 * flag spelling (retry-base-ms), from which the INI key (retry_base_ms) and
 * the environment variable (JOBQ_RETRY_BASE_MS) follow, its type, default,
 * the field of struct settings it fills, and its help text. Flags, INI,
 * environment, --help, --check-config and docs/settings.md all read that
 * table: a new setting is one row plus one field.
 *
 * Values are kept as text with their source until settings_finish converts
 * and validates them, collecting every problem rather than stopping at the
 * first. */
#ifndef JOBQ_SETTINGS_H
#define JOBQ_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "redisurl.h"

/* Most [handler.TYPE] settings, and the largest INI file, read. */
#define SETTINGS_MAX_HANDLER_SETTINGS 1024
#define SETTINGS_MAX_INI_BYTES (1 << 20)
#define SETTINGS_MAX_QUEUES 128
#define SETTINGS_MAX_CPUS 1024
#define SETTINGS_MAX_PROBLEMS 64

struct queue_spec {
    char name[65];
    unsigned weight; /* 0: strict priority, in the order given */
};

struct problems {
    int n;
    char msg[SETTINGS_MAX_PROBLEMS][320];
};

/* One per-handler setting: INI "[handler.TYPE]" with "KEY = VALUE", or
 * --handler-setting TYPE.KEY=VALUE. */
struct handler_setting {
    char *type, *key, *value; /* owned */
    const char *source;       /* "file", "env" or "flag" */
};

/* The text of one setting as given: one value, or several for a repeatable
 * setting, and where the last one came from. */
struct setting_value {
    char **v;             /* owned */
    const char **sources; /* where each value came from */
    size_t n;             /* 0: unset */
    const char *source;   /* of the last: "default", "file", "env", "flag" */
};

struct settings {
    struct setting_value *values; /* one per table row, owned */

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
    uint64_t file_max_bytes;
    struct handler_setting *handler_settings; /* owned */
    size_t nhandler_settings;
    /* The HTTP client of the http.* and webhook.post handlers. */
    const char *http_allow, *http_ca_file;
    uint64_t http_max_body_bytes;
    uint64_t loop_lag_warn_ms;
    /* Handlers the operator adds (worker/plugins.c, exec.c, runner.c):
     * every value given, in order; NULL when unset. */
    const struct setting_value *plugins, *execs, *runners;
    unsigned exec_concurrency, runner_processes, runner_concurrency;
};

/* The table. */
enum setting_type {
    SETTING_STRING, /* const char * field; NULL while unset */
    SETTING_UINT,   /* unsigned or uint64_t field, within [min, max] */
    SETTING_BOOL,   /* bool field: true/false, yes/no, on/off, 1/0 */
    SETTING_ENUM,   /* int or bool field: the index of the value in choices */
    SETTING_CUSTOM, /* parse() converts and validates */
};

enum setting_flag {
    SETTING_SECRET = 1,     /* --check-config prints *** */
    SETTING_URL = 2,        /* --check-config masks the URL's password */
    SETTING_REPEATABLE = 4, /* every value given is kept, in order */
};

/* What C type a row's field has (checked at compile time, see FIELD()). */
enum setting_field {
    SETTING_FIELD_OTHER,
    SETTING_FIELD_BOOL,
    SETTING_FIELD_INT,
    SETTING_FIELD_UNSIGNED,
    SETTING_FIELD_U64,
    SETTING_FIELD_STR,
    SETTING_FIELD_LIST, /* const struct setting_value *: a repeatable string */
};

struct setting_def {
    const char *name;  /* flag spelling: "retry-base-ms" */
    const char *alias; /* a shorter flag ("redis"), or NULL */
    enum setting_type type;
    const char *dflt;     /* textual default; NULL: unset */
    const char *dflt_doc; /* the default in words when computed or unset */
    /* Computes the default at settings_finish when dflt is NULL. */
    void (*dflt_fn)(char *buf, size_t len);
    size_t offset; /* of the field in struct settings */
    enum setting_field field;
    uint64_t min, max;          /* SETTING_UINT */
    const char *const *choices; /* SETTING_ENUM, NULL-terminated */
    unsigned flags;             /* enum setting_flag */
    const char *metavar;        /* VALUE in --help: N, MS, URL, ... */
    const char *ini_section;    /* "handler.": [handler.X] k = v is the
                                 * value "X.k=v"; "exec": [exec] k = v is
                                 * "k=v"; NULL: none */
    /* SETTING_CUSTOM: converts one value (called once per value of a
     * repeatable setting), adding problems that start with the name. */
    void (*parse)(struct settings *s, const char *value, const char *source,
                  struct problems *p);
    /* Any type: an extra check after conversion. */
    void (*check)(struct settings *s, struct problems *p);
    const char *help;
};

extern const struct setting_def settings_table[];
extern const size_t settings_table_len;

/* Checks every row against its field's C type and its own fields (a
 * name, help, a parse function for SETTING_CUSTOM, ...). Returns true, or
 * false with the first mismatch in err. */
bool settings_table_ok(char *err, size_t len);

/* The row for a name in any spelling (retry-base-ms, retry_base_ms,
 * RETRY_BASE_MS) or an alias; NULL when there is none. */
const struct setting_def *settings_find(const char *name);
/* "retry_base_ms" / "JOBQ_RETRY_BASE_MS" for a row. */
void settings_ini_key(const struct setting_def *d, char *out, size_t len);
void settings_env_name(const struct setting_def *d, char *out, size_t len);

/* The command line besides settings. */
struct settings_cmdline {
    const char *config_path; /* -c FILE */
    bool check_config, version, help;
};

void settings_init(struct settings *s);
void settings_free(struct settings *s);

/* Sets one setting by its name in any spelling (a repeatable one gains a
 * value). Returns 0, or -1 for an unknown name. */
int settings_set(struct settings *s, const char *name, const char *value,
                 const char *source);

/* The (last) text of a setting and where it came from; NULL when unset or
 * unknown. */
const char *settings_value(const struct settings *s, const char *name);
const char *settings_source(const struct settings *s, const char *name);

/* The value of KEY for handler TYPE, or NULL when unset. Valid until
 * settings_free. */
const char *settings_handler_value(const struct settings *s, const char *type,
                                   const char *key);

int settings_load_ini(struct settings *s, const char *path, struct problems *p);
int settings_load_ini_string(struct settings *s, const char *text,
                             struct problems *p);
void settings_load_env(struct settings *s, char **env);

/* How many entries of argv, from argv[i], make one flag of ours: -c FILE,
 * --check-config, --version, --help/-h or a setting (--name VALUE,
 * --name=VALUE, a bare boolean --name or --name BOOLEAN-WORD). Returns 1 or
 * 2, or 0 when argv[i] is not one of ours (an unknown option or a plain
 * argument). A setting flag missing its value counts 1. */
int settings_flag_span(int argc, char *const *argv, int i);

/* Reads argv into cmd and (when s is not NULL) flag values into s. Unknown
 * options, missing values and plain arguments are problems. Returns 0, or
 * -1 with problems. */
int settings_parse_args(struct settings *s, int argc, char *const *argv,
                        struct settings_cmdline *cmd, struct problems *p);

/* Whole command-line handling: argv read for -c, then the file, the
 * environment and the flags applied in that order, then settings_finish
 * (skipped for --help and --version). Returns 0, or -1 with problems. */
int settings_load_all(struct settings *s, int argc, char *const *argv,
                      char **env, struct settings_cmdline *cmd,
                      struct problems *p);

/* Converts and validates; returns 0 or -1 with every problem listed. */
int settings_finish(struct settings *s, struct problems *p);

/* Prints the effective settings as INI with the source of each, secrets
 * masked; handler settings as [handler.TYPE] sections at the end. */
void settings_print(const struct settings *s, FILE *out);

/* --help of jobq-worker, and the settings table of docs/settings.md. */
void settings_usage(FILE *out);
void settings_markdown(FILE *out);
/* deploy/systemd/worker.ini: every setting with its help, commented out
 * with its default. */
void settings_ini_example(FILE *out);

void problems_add(struct problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif
