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
void log_msg(enum log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#endif
