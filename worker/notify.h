/* Notify: tells a supervisor that speaks systemd's notify protocol how the
 * worker is doing (sd_notify): READY=1 once Redis is first connected and
 * fetching starts, STOPPING=1 when a stop begins, WATCHDOG=1 from a loop
 * timer at half the unit's WatchdogSec (at most), so a wedged loop stops
 * the pings and gets the unit restarted, and STATUS= with a short summary.
 * Nothing at all unless NOTIFY_SOCKET is set. Loop thread only. */
#ifndef JOBQ_NOTIFY_H
#define JOBQ_NOTIFY_H

#include <event2/event.h>
#include <stddef.h>

/* How often STATUS= is refreshed when no watchdog asks for more often. */
#define NOTIFY_STATUS_MS 5000

struct notify;

/* Writes the one-line summary STATUS= carries into buf. */
typedef void (*notify_status_fn)(void *arg, char *buf, size_t len);

/* NULL when NOTIFY_SOCKET is unset: every call below takes NULL and does
 * nothing. status and arg are borrowed until notify_free. */
struct notify *notify_new(struct event_base *base, notify_status_fn status,
                          void *arg);
void notify_free(struct notify *n);
/* The first call sends READY=1; later ones (Redis back) only the status. */
void notify_ready(struct notify *n);
void notify_stopping(struct notify *n);
#endif
