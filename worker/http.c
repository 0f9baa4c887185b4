/* HTTP surface (see http.h). Every answer is built from counters the loop
 * thread owns, on the loop thread: no locks. Connections are bounded in
 * number (http-max-connections) and in time (a request's deadline), and a
 * failing accept() pauses the listener instead of spinning the loop.
 * Answers that wait on Redis (metrics, the API) are held as a struct
 * http_wait: a connection closed meanwhile leaves the wait without its
 * request, and the late answer is dropped. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "api.h"
#include "clock.h"
#include "dashboard_assets.h"
#include "log.h"
#include "looplag.h"
#include "metrics.h"
#include "redis.h"
#include "xalloc.h"

/* A request must arrive whole within this of its first byte (the contract's
 * http-max-connections row). evhttp's timeout cannot say it: it restarts on
 * every byte read, so one byte every 2 s held a connection for good. */
#define HTTP_REQUEST_DEADLINE_S 10
/* evhttp's own timeout: a connection silent this long before a request or
 * between two, or not reading its reply, is closed. */
#define HTTP_IDLE_TIMEOUT_S 10
#define HTTP_MAX_HEADER_BYTES 8192
/* accept() fails while the process is out of descriptors (EMFILE, ENFILE)
 * and the listening socket stays readable: retried at once, that spun the
 * loop at 100% CPU. Accepting pauses instead, doubling per failure. */
#define HTTP_ACCEPT_PAUSE_MIN_MS 100
#define HTTP_ACCEPT_PAUSE_MAX_MS 2000

/* One accepted connection, from accept to evhttp's close callback. evhttp
 * owns the connection; this record counts it and holds its deadline. */
struct http_conn {
    struct http *h;
    struct bufferevent *bev;            /* made in on_accept, owned by evhttp */
    struct evhttp_connection *evcon;    /* NULL while on h->adopting */
    struct evbuffer_cb_entry *input_cb; /* on_input, once adopted */
    struct event *deadline;
    bool between; /* no request begun: the next byte read starts one */
    bool refused; /* over http-max-connections: closed once adopted */
    struct http_conn *next, **pprev;
};

/* A request answered later (metrics, the API). */
struct http_wait {
    struct http *h;
    struct http_conn *c;        /* NULL once the connection is gone */
    struct evhttp_request *req; /* NULL once evhttp freed it */
    struct http_wait *next, **pprev;
};

struct http {
    struct evhttp *ev;
    struct api *api;
    struct http_wait *waits;
    struct worker *w;
    struct evconnlistener *lev;
    struct event *adopt_ev;  /* on_adopt, right after accepts */
    struct event *resume_ev; /* on_resume, at the end of an accept pause */
    struct http_conn *adopting, *open;
    unsigned nconns, max_conns; /* nconns: adopting, open and refused */
    uint64_t pause_ms;          /* the last accept pause; 0 once one works */
    struct log_limit refuse_log, deadline_log, accept_log;
    struct http *next_surface;
};

/* The listener's error callback is handed evhttp's pointer (evhttp made it
 * the listener's argument), so each surface is found from it here. */
static struct http *surfaces;

static void http_conn_link(struct http_conn **head, struct http_conn *c)
{
    c->next = *head;
    if (c->next)
        c->next->pprev = &c->next;
    c->pprev = head;
    *head = c;
}

static void http_conn_unlink(struct http_conn *c)
{
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
}

static void http_conn_free(struct http_conn *c)
{
    http_conn_unlink(c);
    c->h->nconns--;
    event_free(c->deadline);
    free(c);
}

static void arm_deadline(struct http_conn *c)
{
    struct timeval tv = {HTTP_REQUEST_DEADLINE_S, 0};
    evtimer_add(c->deadline, &tv);
}

/* Bytes read, before evhttp parses them: the first of a request starts its
 * deadline. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
                     void *arg)
{
    struct http_conn *c = arg;
    (void)in;
    if (c->between && info->n_added) {
        c->between = false;
        arm_deadline(c);
    }
}

/* evhttp frees the connection: done, failed, timed out, or closed by us.
 * Its bufferevent goes right after this returns. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct http_conn *c = arg;
    /* A request still waiting on Redis: evhttp frees it with the
     * connection unless it already took it off (a client that hung up
     * while it was handled: then the reply frees it). */
    for (struct http_wait *x = c->h->waits; x; x = x->next)
        if (x->c == c) {
            x->c = NULL;
            if (x->req && evhttp_request_get_connection(x->req) == evcon)
                x->req = NULL;
        }
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
    http_conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    char *addr;
    ev_uint16_t port;
    (void)fd;
    (void)what;
    evhttp_connection_get_peer(c->evcon, &addr, &port);
    log_limited(&c->h->deadline_log, LOG_WARN,
                "HTTP surface: closing the connection from %s:%u: its "
                "request had not arrived %d s after its first byte",
                addr, port, HTTP_REQUEST_DEADLINE_S);
    evhttp_connection_free(c->evcon); /* on_close frees c and this event */
}

/* evhttp asks for the bufferevent of each connection it accepts: the one
 * hook libevent 2.1 has at accept time (2.2's evhttp_set_newreqcb and
 * evhttp_set_max_connections are not in Debian 12). The connection is
 * counted here and adopted once evhttp has built it. */
static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
    struct http *h = arg;
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->h = h;
    c->bev = bufferevent_socket_new(base, -1, 0);
    c->deadline = evtimer_new(base, on_deadline, c);
    c->refused = h->nconns >= h->max_conns;
    h->nconns++;
    h->pause_ms = 0;
    http_conn_link(&h->adopting, c);
    event_active(h->adopt_ev, EV_TIMEOUT, 1);
    return c->bev;
}

/* Runs after the accept callback returns and before any I/O of the new
 * connections (the event has the top priority), when evhttp has built each
 * evhttp_connection and made it its bufferevent's callback argument: 2.1
 * has no other way from a bufferevent to its connection. A connection
 * evhttp dropped meanwhile (out of memory) has no callbacks left. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    (void)fd;
    (void)what;
    while (h->adopting) {
        struct http_conn *c = h->adopting;
        void *evcon = NULL;
        bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
        if (!evcon || evhttp_connection_get_bufferevent(evcon) != c->bev) {
            http_conn_free(c);
            continue;
        }
        if (c->refused) {
            char *addr;
            ev_uint16_t port;
            evhttp_connection_get_peer(evcon, &addr, &port);
            log_limited(&h->refuse_log, LOG_WARN,
                        "HTTP surface: %u connections open "
                        "(http-max-connections); closing the one from %s:%u",
                        h->max_conns, addr, port);
            http_conn_free(c);
            evhttp_connection_free(evcon);
            continue;
        }
        c->evcon = evcon;
        http_conn_unlink(c);
        http_conn_link(&h->open, c);
        c->between = true;
        c->input_cb =
            evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
        evhttp_connection_set_closecb(c->evcon, on_close, c);
    }
}

/* The reply is written; a kept-alive connection waits for its next request,
 * whose first bytes may have come already. */
static void on_replied(struct evhttp_request *req, void *arg)
{
    struct http_conn *c = arg;
    (void)req;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        arm_deadline(c);
    else
        c->between = true;
}

/* A request arrived whole, within its deadline; bytes read while it is
 * answered belong to the next one (see on_replied). Connections are few (at
 * most http-max-connections), so a walk finds the record. */
static void request_arrived(struct http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    for (struct http_conn *c = h->open; c; c = c->next) {
        if (c->evcon == evcon) {
            evtimer_del(c->deadline);
            evhttp_request_set_on_complete_cb(req, on_replied, c);
            return;
        }
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(h->lev);
}

/* accept() failed, and not for a reason libevent retries itself (EAGAIN,
 * EINTR, ECONNABORTED): pause the listener, the log says so once a second. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    struct http *h = surfaces;
    while (h && h->ev != arg)
        h = h->next_surface;
    if (!h)
        return;
    h->pause_ms = h->pause_ms ? h->pause_ms * 2 : HTTP_ACCEPT_PAUSE_MIN_MS;
    if (h->pause_ms > HTTP_ACCEPT_PAUSE_MAX_MS)
        h->pause_ms = HTTP_ACCEPT_PAUSE_MAX_MS;
    log_limited(&h->accept_log, LOG_WARN,
                "HTTP surface: cannot accept a connection: %s; pausing "
                "accepts for %llu ms",
                evutil_socket_error_to_string(err),
                (unsigned long long)h->pause_ms);
    evconnlistener_disable(lev);
    struct timeval tv = clock_timeval(h->pause_ms);
    evtimer_add(h->resume_ev, &tv);
}

static void reply_text(struct http *h, struct evhttp_request *req, int code,
                       const char *reason, struct evbuffer *body,
                       const char *type)
{
    request_arrived(h, req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      type);
    evhttp_send_reply(req, code, reason, body);
}

/* POST is allowed for the API's changes alone: every other path answers
 * 405 to it. Returns true when req was refused. */
static bool refuse_post(struct http *h, struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        return false;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "read-only: use GET\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                      "GET, HEAD");
    reply_text(h, req, 405, "Method Not Allowed", b, "text/plain");
    evbuffer_free(b);
    return true;
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    if (refuse_post(arg, req))
        return;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "ok\n");
    reply_text(arg, req, 200, "OK", b, "text/plain");
    evbuffer_free(b);
}

/* Ready: Redis reachable and not stopping. A balancer or Kubernetes stops
 * counting on a worker that answers 503 here. */
static void on_readyz(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    struct worker *w = h->w;
    if (refuse_post(h, req))
        return;
    struct evbuffer *b = evbuffer_new();
    bool up = redis_ready(w->redis);
    if (up && !w->stopping) {
        evbuffer_add_printf(b, "ready\n");
        reply_text(h, req, 200, "OK", b, "text/plain");
    } else {
        evbuffer_add_printf(b, "%s\n",
                            w->stopping ? "stopping" : "redis unreachable");
        reply_text(h, req, 503, "Service Unavailable", b, "text/plain");
    }
    evbuffer_free(b);
}

/* Holds req for an answer that comes later, through wait_done. */
static struct http_wait *wait_new(struct http *h, struct evhttp_request *req)
{
    request_arrived(h, req);
    struct http_wait *x = xcalloc(1, sizeof(*x));
    x->h = h;
    x->req = req;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    for (struct http_conn *c = h->open; c; c = c->next)
        if (c->evcon == evcon)
            x->c = c;
    x->next = h->waits;
    if (x->next)
        x->next->pprev = &x->next;
    x->pprev = &h->waits;
    h->waits = x;
    return x;
}

static void wait_free(struct http_wait *x)
{
    *x->pprev = x->next;
    if (x->next)
        x->next->pprev = x->pprev;
    free(x);
}

static void wait_done(void *arg, int code, const char *type,
                      struct evbuffer *body)
{
    struct http_wait *x = arg;
    if (x->req) {
        evhttp_add_header(evhttp_request_get_output_headers(x->req),
                          "Content-Type", type);
        evhttp_add_header(evhttp_request_get_output_headers(x->req),
                          "Cache-Control", "no-store");
        evhttp_send_reply(x->req, code, code == 200 ? "OK" : "Error", body);
    }
    wait_free(x);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    if (refuse_post(h, req))
        return;
    looplag_enter(h->w->lag, "HTTP", "/metrics");
    metrics_render(h->w, wait_done, wait_new(h, req));
    looplag_leave(h->w->lag);
}

/* The dashboard: files compiled in (dashboard_assets.h), nothing fetched
 * from elsewhere. */
static void on_asset(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const struct dashboard_asset *a = dashboard_find(path);
    struct evbuffer *b = evbuffer_new();
    if (!a) {
        evbuffer_add_printf(b, "not found\n");
        reply_text(h, req, 404, "Not Found", b, "text/plain");
    } else {
        evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
        /* The page's script is its own file: no inline script runs. */
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:");
        reply_text(h, req, 200, "OK", b, a->type);
    }
    evbuffer_free(b);
}

static void on_api(struct evhttp_request *req, struct http *h)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct api_request rq = {
        .method = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD ? API_GET
                  : cmd == EVHTTP_REQ_POST                        ? API_POST
                                                                  : API_OTHER,
        .path = evhttp_uri_get_path(uri),
        .query = evhttp_uri_get_query(uri),
        .auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                                   "Authorization"),
        .body = len ? (const char *)evbuffer_pullup(in, -1) : NULL,
        .bodylen = len,
    };
    looplag_enter(h->w->lag, "HTTP", rq.path ? rq.path : "/api");
    api_handle(h->api, &rq, wait_done, wait_new(h, req));
    looplag_leave(h->w->lag);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path && strncmp(path, "/api/", 5) == 0) {
        on_api(req, h);
        return;
    }
    if (refuse_post(h, req))
        return;
    if (path && dashboard_find(path)) {
        on_asset(req, h);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "not found: try /, /healthz, /readyz, /metrics or "
                           "/api/queues\n");
    reply_text(h, req, 404, "Not Found", b, "text/plain");
    evbuffer_free(b);
}

/* Descriptors kept from HTTP clients: Redis, the loop, logs, pipes. */
#define HTTP_FD_RESERVE 64

struct http *http_start(struct worker *w, const char *host, int port,
                        unsigned max_conns, char *err, size_t errlen)
{
    struct http *h = xcalloc(1, sizeof(*h));
    h->w = w;
    /* HTTP clients must never take the descriptors Redis reconnects need:
     * keep HTTP_FD_RESERVE of the process's limit for everything else. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rlim_t room = rl.rlim_cur > 2 * HTTP_FD_RESERVE
                          ? rl.rlim_cur - HTTP_FD_RESERVE
                          : rl.rlim_cur / 2;
        if (max_conns > room) {
            log_warn("http-max-connections %u is more than the open-file "
                     "limit %llu leaves room for; holding at most %llu",
                     max_conns, (unsigned long long)rl.rlim_cur,
                     (unsigned long long)room);
            max_conns = (unsigned)room;
        }
    }
    h->max_conns = max_conns;
    h->ev = evhttp_new(w->base);
    h->adopt_ev = event_new(w->base, -1, 0, on_adopt, h);
    event_priority_set(h->adopt_ev, 0);
    h->resume_ev = evtimer_new(w->base, on_resume, h);
    h->next_surface = surfaces;
    surfaces = h;
    /* POST only for the API's changes, each behind the admin token. */
    evhttp_set_allowed_methods(h->ev, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(h->ev, HTTP_MAX_HEADER_BYTES);
    evhttp_set_max_body_size(h->ev, API_BODY_MAX);
    h->api = api_new(w);
    evhttp_set_timeout(h->ev, HTTP_IDLE_TIMEOUT_S);
    evhttp_set_bevcb(h->ev, on_accept, h);
    evhttp_set_cb(h->ev, "/healthz", on_healthz, h);
    evhttp_set_cb(h->ev, "/readyz", on_readyz, h);
    evhttp_set_cb(h->ev, "/metrics", on_metrics, h);
    evhttp_set_gencb(h->ev, on_other, h);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(h->ev, host, (ev_uint16_t)port);
    if (!bs) {
        snprintf(
            err, errlen,
            "cannot listen on %s:%d (in use, or not an "
            "address of this host); set --http to another ADDR:PORT or off",
            host, port);
        http_stop(h);
        return NULL;
    }
    h->lev = evhttp_bound_socket_get_listener(bs);
    evconnlistener_set_error_cb(h->lev, on_accept_error);
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
    log_info("HTTP surface on http://%s%s%s:%d/ (dashboard at /, /healthz "
             "/readyz /metrics /api/)",
             strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
             bound);
    return h;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    /* Open connections close through on_close; those not yet adopted are
     * evhttp's to free, their records ours. */
    evhttp_free(h->ev);
    while (h->adopting)
        http_conn_free(h->adopting);
    /* Redis is gone before this (the daemon's teardown order): no answer
     * is still coming for a wait left here. */
    while (h->waits)
        wait_free(h->waits);
    api_free(h->api);
    event_free(h->adopt_ev);
    event_free(h->resume_ev);
    struct http **p = &surfaces;
    while (*p != h)
        p = &(*p)->next_surface;
    *p = h->next_surface;
    free(h);
}
