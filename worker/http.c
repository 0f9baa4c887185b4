/* HTTP surface (see http.h). Every answer is built from counters the loop
 * thread owns, on the loop thread: no locks. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "redis.h"

struct http {
    struct evhttp *ev;
    struct worker *w;
};

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       struct evbuffer *body, const char *type)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      type);
    evhttp_send_reply(req, code, reason, body);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    (void)arg;
    evbuffer_add_printf(b, "ok\n");
    reply_text(req, 200, "OK", b, "text/plain");
    evbuffer_free(b);
}

/* Ready: Redis reachable and not stopping. A balancer or Kubernetes stops
 * counting on a worker that answers 503 here. */
static void on_readyz(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    bool up = redis_ready(w->redis);
    if (up && !w->stopping) {
        evbuffer_add_printf(b, "ready\n");
        reply_text(req, 200, "OK", b, "text/plain");
    } else {
        evbuffer_add_printf(b, "%s\n", w->stopping ? "stopping" : "redis unreachable");
        reply_text(req, 503, "Service Unavailable", b, "text/plain");
    }
    evbuffer_free(b);
}

static void metric(struct evbuffer *b, const char *name, const char *type,
                   const char *help, unsigned long long v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help,
                        name, type, name, v);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    metric(b, "jobq_jobs_ok_total", "counter", "Jobs finished ok by this worker.", w->n_ok);
    metric(b, "jobq_jobs_retried_total", "counter", "Failed attempts scheduled again.", w->n_retry);
    metric(b, "jobq_jobs_dead_total", "counter", "Jobs that became dead records.", w->n_dead);
    metric(b, "jobq_jobs_late_total", "counter", "Finishes fenced because another worker recovered the job.", w->n_late);
    metric(b, "jobq_jobs_skipped_total", "counter", "Redelivered jobs whose result already said ok.", w->n_skip);
    metric(b, "jobq_cpu_inflight", "gauge", "CPU jobs taken and not yet answered.", w->cpu_inflight);
    metric(b, "jobq_io_inflight", "gauge", "IO jobs running on the loop.", w->io_inflight);
    metric(b, "jobq_cpu_window", "gauge", "CPU jobs this worker takes ahead (adaptive).", w->cpu_slots);
    metric(b, "jobq_finish_backlog", "gauge", "Outcomes not yet acknowledged by Redis.", w->finishing);
    metric(b, "jobq_redis_up", "gauge", "1 when every Redis connection is up.", redis_ready(w->redis));
    metric(b, "jobq_stopping", "gauge", "1 after SIGTERM or SIGINT.", w->stopping);
    reply_text(req, 200, "OK", b, "text/plain; version=0.0.4");
    evbuffer_free(b);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    (void)arg;
    evbuffer_add_printf(b, "not found: try /healthz, /readyz or /metrics\n");
    reply_text(req, 404, "Not Found", b, "text/plain");
    evbuffer_free(b);
}

struct http *http_start(struct worker *w, const char *host, int port, char *err,
                        size_t errlen)
{
    struct http *h = calloc(1, sizeof(*h));
    h->w = w;
    h->ev = evhttp_new(w->base);
    /* Only GET and HEAD: nothing here changes state. */
    evhttp_set_allowed_methods(h->ev, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(h->ev, 8192);
    evhttp_set_max_body_size(h->ev, 0);
    evhttp_set_timeout(h->ev, 10);
    evhttp_set_cb(h->ev, "/healthz", on_healthz, w);
    evhttp_set_cb(h->ev, "/readyz", on_readyz, w);
    evhttp_set_cb(h->ev, "/metrics", on_metrics, w);
    evhttp_set_gencb(h->ev, on_other, w);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(h->ev, host, (ev_uint16_t)port);
    if (!bs) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an "
                 "address of this host); set --http to another ADDR:PORT or off",
                 host, port);
        http_stop(h);
        return NULL;
    }
    /* Report the port really bound: port 0 asks the kernel for one. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[64] = "?";
    int bound = port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
                    &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
            bound = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
            bound = ntohs(a->sin6_port);
        }
    }
    log_info("HTTP surface on http://%s%s%s:%d/ (/healthz /readyz /metrics)",
             strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
             bound);
    return h;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    evhttp_free(h->ev);
    free(h);
}
