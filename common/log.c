/* Log lines (see log.h). The file descriptor is swapped atomically on
 * reopen so writers on other threads never see a closed descriptor. */
#include "log.h"

#include "clock.h"
#include "utf8.h"
#include "xalloc.h"

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

/* Longest field value written; a longer one is cut (an error message is
 * far shorter, and job ids are at most JOB_ID_MAX). */
#define LOG_VALUE_MAX 1024

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

int log_format_json(void)
{
    return log_json;
}

/* Copies n bytes of s into out with control characters and invalid UTF-8
 * written as \xNN, so one message is one line and always valid UTF-8
 * (jansson refuses anything else, and would blank the line). */
static void escape(const char *str, size_t n, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
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

static void timestamp(char *ts, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* A JSON line is written whole, in one write (its length is not capped,
 * so it is never cut into invalid JSON). */
static void emit_json(enum log_level lv, const char *ts, const char *msg,
                      size_t n, const struct log_field *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[lv]));
    json_object_set_new(o, "msg", json_string_nocheck(msg));
    for (size_t i = 0; i < n; i++) {
        json_t *v;
        if (f[i].kind == LOG_FIELD_INT) {
            v = json_integer(f[i].num);
        } else if (!f[i].str) {
            v = json_null();
        } else {
            char val[LOG_VALUE_MAX * 4 + 8];
            escape(f[i].str,
                   f[i].len < LOG_VALUE_MAX ? f[i].len : LOG_VALUE_MAX, val,
                   sizeof(val));
            v = json_string_nocheck(val); /* escape() made it UTF-8 */
        }
        json_object_set_new(o, f[i].key, v);
    }
    /* Most lines fit the stack buffer; a longer one is dumped again into
     * the heap rather than cut. */
    const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER;
    char buf[8192], *s = buf;
    size_t len = json_dumpb(o, buf, sizeof(buf) - 1, flags);
    if (len > sizeof(buf) - 1) {
        s = xmalloc(len + 1);
        len = json_dumpb(o, s, len, flags);
    }
    json_decref(o);
    s[len++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), s, len);
    (void)w;
    if (s != buf)
        free(s);
}

/* A text value as key=value reads it: quoted (with \" and \\) when it
 * holds a space, a quote or '=' or is empty, so the pairs split back. */
static size_t text_value(char *out, size_t cap, const char *v)
{
    if (*v && !strpbrk(v, " \"="))
        return (size_t)snprintf(out, cap, "%s", v);
    size_t o = 0;
    if (o + 1 < cap)
        out[o++] = '"';
    for (; *v && o + 3 < cap; v++) {
        if (*v == '"' || *v == '\\')
            out[o++] = '\\';
        out[o++] = *v;
    }
    if (o + 1 < cap)
        out[o++] = '"';
    out[o] = 0;
    return o;
}

static void emit(enum log_level lv, const char *msg, size_t n,
                 const struct log_field *f)
{
    char ts[40], line[8192];
    timestamp(ts, sizeof(ts));
    if (log_json) {
        emit_json(lv, ts, msg, n, f);
        return;
    }
    size_t len = (size_t)snprintf(line, sizeof(line), "%s %-5s %s", ts,
                                  level_names[lv], msg);
    for (size_t i = 0; i < n && len + 2 < sizeof(line); i++) {
        char val[LOG_VALUE_MAX * 4 + 8];
        if (f[i].kind == LOG_FIELD_INT)
            snprintf(val, sizeof(val), "%lld", f[i].num);
        else if (!f[i].str)
            continue;
        else
            escape(f[i].str,
                   f[i].len < LOG_VALUE_MAX ? f[i].len : LOG_VALUE_MAX, val,
                   sizeof(val));
        len +=
            (size_t)snprintf(line + len, sizeof(line) - len, " %s=", f[i].key);
        if (len + 2 < sizeof(line))
            len += text_value(line + len, sizeof(line) - len - 1, val);
    }
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), line, len);
    (void)w;
}

static void log_vmsg(enum log_level lv, const char *fmt, va_list ap)
{
    char raw[2048], msg[4096];
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    if (n < 0)
        n = 0;
    escape(raw, (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1, msg,
           sizeof(msg));
    emit(lv, msg, 0, NULL);
}

void log_fields(enum log_level lv, const char *msg, size_t n,
                const struct log_field *fields)
{
    if (lv < log_min)
        return;
    char esc[4096];
    escape(msg, strlen(msg), esc, sizeof(esc));
    emit(lv, esc, n, fields);
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
