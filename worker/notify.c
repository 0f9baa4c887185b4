/* Notify (see notify.h). sd_notify sends one datagram to the supervisor's
 * socket; the supervisor reads it at once, and we send a handful a few
 * seconds apart, so the call does not hold the loop in practice. */
#include "notify.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "xalloc.h"

/* STATUS= summaries are short: systemctl status shows one line. */
#define NOTIFY_STATUS_MAX 200

struct notify {
    struct event *timer;
    notify_status_fn status;
    void *arg;
    uint64_t watchdog_usec; /* 0: no watchdog asked for */
    bool ready, stopping;
};

/* Sends state (READY=1, WATCHDOG=1, ... or NULL) with a fresh STATUS=. */
static void send_state(struct notify *n, const char *state)
{
    char summary[NOTIFY_STATUS_MAX], msg[NOTIFY_STATUS_MAX + 64];
    n->status(n->arg, summary, sizeof(summary));
    snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", state ? state : "",
             state ? "\n" : "", summary);
    int rc = sd_notify(0, msg);
    if (rc < 0) {
        static struct log_limit lim;
        log_limited(&lim, LOG_WARN, "cannot notify the supervisor: error %d",
                    -rc);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct notify *n = arg;
    (void)fd;
    (void)what;
    send_state(n, n->watchdog_usec ? "WATCHDOG=1" : NULL);
}

struct notify *notify_new(struct event_base *base, notify_status_fn status,
                          void *arg)
{
    if (!getenv("NOTIFY_SOCKET"))
        return NULL;
    struct notify *n = xcalloc(1, sizeof(*n));
    n->status = status;
    n->arg = arg;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        n->watchdog_usec = usec;
    /* Half the watchdog's period (systemd's advice), so one late turn
     * does not trip it; the status rides along. */
    uint64_t every_ms = NOTIFY_STATUS_MS;
    if (n->watchdog_usec && n->watchdog_usec / 2000 < every_ms)
        every_ms = n->watchdog_usec / 2000 ? n->watchdog_usec / 2000 : 1;
    n->timer = event_new(base, -1, EV_PERSIST, on_timer, n);
    struct timeval tv = clock_timeval(every_ms);
    event_add(n->timer, &tv);
    if (n->watchdog_usec)
        log_info("systemd watchdog: %" PRIu64 " ms, pinged every %" PRIu64
                 " ms from the loop",
                 n->watchdog_usec / 1000, every_ms);
    return n;
}

void notify_free(struct notify *n)
{
    if (!n)
        return;
    event_free(n->timer);
    free(n);
}

void notify_ready(struct notify *n)
{
    if (!n || n->stopping)
        return;
    send_state(n, n->ready ? NULL : "READY=1");
    n->ready = true;
}

void notify_stopping(struct notify *n)
{
    if (!n || n->stopping)
        return;
    n->stopping = true;
    send_state(n, "STOPPING=1");
}
