/* Levelled log lines, as text or JSON, to stderr or a file that SIGHUP
 * reopens. Safe from any thread: each line is one write(2). */
#ifndef JOBQ_LOG_H
#define JOBQ_LOG_H

#include <stddef.h>
#include <string.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* path NULL: stderr. Returns 0 or -1 (file cannot be opened). */
int log_open(const char *path, int json, enum log_level min);
int log_reopen(void);
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level lv);
/* Lines are JSON objects (log-format json). */
int log_format_json(void);
/* Control characters and bytes that are not UTF-8 in the message are
 * written as \xNN (text) or \u00NN (JSON), so input a producer chose can
 * neither forge a line nor blank one. */
void log_msg(enum log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One named value of a structured line (log_fields): a string of len bytes
 * (borrowed; need not end in NUL and may hold any bytes, escaped as the
 * message is; NULL is JSON null and is left out of a text line) or a whole
 * number. */
enum log_field_kind { LOG_FIELD_STR, LOG_FIELD_INT };
struct log_field {
    const char *key; /* not ts, level or msg */
    enum log_field_kind kind;
    const char *str;
    size_t len;
    long long num;
};
static inline struct log_field log_strn(const char *key, const char *s,
                                        size_t n)
{
    return (struct log_field){
        .key = key, .kind = LOG_FIELD_STR, .str = s, .len = n};
}
static inline struct log_field log_str(const char *key, const char *s)
{
    return log_strn(key, s, s ? strlen(s) : 0);
}
static inline struct log_field log_int(const char *key, long long v)
{
    return (struct log_field){.key = key, .kind = LOG_FIELD_INT, .num = v};
}

/* A line with fields: in JSON, more members of the line's object beside
 * ts, level and msg (strings, numbers, null), so a log shipper can index
 * them; in text, the message then key=value pairs on the one line, a value
 * quoted when it holds a space, a quote or '=' or is empty. Formats
 * nothing when lv is not enabled. */
void log_fields(enum log_level lv, const char *msg, size_t n,
                const struct log_field *fields);

/* A log site that may repeat fast (a broken key, a failing accept): at most
 * one line per LOG_LIMIT_MS from the site, the next one saying how many
 * were held back. One per site, zero-initialised, used by one thread. */
#define LOG_LIMIT_MS 1000
struct log_limit {
    unsigned long long next_ms;
    unsigned held;
};
void log_limited(struct log_limit *l, enum log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...)                                                         \
    do {                                                                       \
        if (log_enabled(LOG_DEBUG))                                            \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                   \
    } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#endif
