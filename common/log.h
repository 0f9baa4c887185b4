/* Levelled log lines, as text or JSON, to stderr or a file that SIGHUP
 * reopens. Safe from any thread: each line is one write(2). */
#ifndef JOBQ_LOG_H
#define JOBQ_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* path NULL: stderr. Returns 0 or -1 (file cannot be opened). */
int log_open(const char *path, int json, enum log_level min);
int log_reopen(void);
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level lv);
/* Control characters and bytes that are not UTF-8 in the message are
 * written as \xNN (text) or \u00NN (JSON), so input a producer chose can
 * neither forge a line nor blank one. */
void log_msg(enum log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
