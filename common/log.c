/* Log lines (see log.h). The file descriptor is swapped atomically on
 * reopen so writers on other threads never see a closed descriptor. */
#include "log.h"

#include "clock.h"
#include "utf8.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};
static _Atomic int log_fd = 2;
static int log_json;
static enum log_level log_min = LOG_INFO;
static char log_path[1024];

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

int log_open(const char *path, int json, enum log_level min)
{
    log_json = json;
    log_min = min;
    log_path[0] = 0;
    if (path && *path) {
        snprintf(log_path, sizeof(log_path), "%s", path);
        return log_reopen();
    }
    return 0;
}

int log_reopen(void)
{
    if (!log_path[0])
        return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int old = atomic_exchange(&log_fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

int log_enabled(enum log_level lv)
{
    return lv >= log_min;
}

/* Copies msg into out with control characters and invalid UTF-8 written
 * as \xNN, so one message is one line and always valid UTF-8 (jansson
 * refuses anything else, and would blank the line). */
static void escape(const char *msg, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t n = strlen(msg), o = 0;
    for (size_t i = 0; i < n && o + 5 < cap;) {
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", s[i]);
            i++;
            continue;
        }
        if (o + k >= cap)
            break;
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = 0;
}

static void log_vmsg(enum log_level lv, const char *fmt, va_list ap)
{
    char raw[2048], msg[4096], line[8192], ts[40];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    escape(raw, msg, sizeof(msg));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    int len;
    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "ts", ts, "level",
                              level_names[lv], "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        len = snprintf(line, sizeof(line), "%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        len = snprintf(line, sizeof(line), "%s %-5s %s\n", ts, level_names[lv],
                       msg);
    }
    if (len > (int)sizeof(line) - 1) {
        len = (int)sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(atomic_load(&log_fd), line, (size_t)len);
    (void)w;
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
    if (lv < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lv, fmt, ap);
    va_end(ap);
}

void log_limited(struct log_limit *l, enum log_level lv, const char *fmt, ...)
{
    if (lv < log_min)
        return;
    uint64_t now = clock_mono_ms();
    if (now < l->next_ms) {
        l->held++;
        return;
    }
    l->next_ms = now + LOG_LIMIT_MS;
    if (l->held) {
        log_msg(lv, "(%u more like the next line in the last second)", l->held);
        l->held = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lv, fmt, ap);
    va_end(ap);
}
