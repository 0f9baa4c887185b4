/* Redis connections (see redis.h). */
#include "redis.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "xalloc.h"

#define RECONNECT_BASE_MS 100
#define RECONNECT_MAX_MS 5000
#define WATCHDOG_TICK_MS 100

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_SETUP, CONN_UP };

struct conn {
    struct redis *r;
    redisAsyncContext *ac;
    enum conn_state state;
    bool blocking;
    unsigned outstanding;   /* sent, not answered */
    uint64_t last_progress; /* mono ms of the last send-from-idle or reply */
    uint64_t extra_ms;      /* a blocking call's own wait */
    unsigned failures;      /* consecutive, for backoff */
    unsigned setup_left;    /* setup replies still owed */
    struct event *retry;
    struct evdns_getaddrinfo_request *resolving;
};

struct redis {
    struct event_base *base;
    struct redis_url url;
    uint64_t timeout_ms;
    int nconn; /* conn[0]: commands; the rest: blocking slots */
    struct conn *conn;
    struct event *watchdog;
    char sha[SCRIPT__COUNT][41];
    bool all_up;
    unsigned long long reconnects; /* drops of a connection that was up */
    struct evdns_base *dns;        /* only for host names */
    char *fmt;                     /* resp_format's buffer */
    size_t fmt_cap;
    void (*on_ready)(void *);
    void *arg;
};

/* RESP for one command, formatted in one pass into a buffer the loop thread
 * reuses: hiredis' own argv formatting (a format string per argument) was
 * the largest single cost per job in the worker's profile. */
static size_t put_uint(char *p, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static const char *resp_format(struct redis *r, int argc, const char **argv,
                               const size_t *lens, size_t *outlen)
{
    size_t need = 16;
    for (int i = 0; i < argc; i++)
        need += (lens ? lens[i] : strlen(argv[i])) + 32;
    if (need > r->fmt_cap) {
        r->fmt = xrealloc(r->fmt, need);
        r->fmt_cap = need;
    }
    char *p = r->fmt;
    *p++ = '*';
    p += put_uint(p, (size_t)argc);
    *p++ = '\r';
    *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        *p++ = '$';
        p += put_uint(p, n);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    *outlen = (size_t)(p - r->fmt);
    return r->fmt;
}

struct call {
    struct conn *c;
    redis_reply_fn fn;
    void *priv;
};

static void conn_open(struct conn *c);
static void conn_drop(struct conn *c, const char *why);

static void check_all_up(struct redis *r)
{
    for (int i = 0; i < r->nconn; i++)
        if (r->conn[i].state != CONN_UP)
            return;
    if (!r->all_up) {
        r->all_up = true;
        log_info("redis: connected");
        if (r->on_ready)
            r->on_ready(r->arg);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct call *call = privdata;
    struct conn *c = call->c;
    (void)ac;
    if (c->outstanding)
        c->outstanding--;
    c->last_progress = clock_mono_ms();
    c->extra_ms = 0;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0 && c->state == CONN_UP) {
        log_warn("redis: script cache flushed; reloading");
        conn_drop(c, "NOSCRIPT");
    }
    if (call->fn)
        call->fn(rep, call->priv);
    free(call);
}

static int send_on(struct conn *c, redis_reply_fn fn, void *priv, int argc,
                   const char **argv, const size_t *lens)
{
    if (!c->ac)
        return -1;
    struct call *call = xmalloc(sizeof(*call));
    *call = (struct call){c, fn, priv};
    size_t len;
    const char *cmd = resp_format(c->r, argc, argv, lens, &len);
    if (!cmd || redisAsyncFormattedCommand(c->ac, on_reply, call, cmd, len) !=
                    REDIS_OK) {
        free(call);
        return -1;
    }
    if (c->outstanding++ == 0)
        c->last_progress = clock_mono_ms();
    return 0;
}

/* Setup replies: AUTH, SELECT and (command connection) SCRIPT LOADs. The
 * connection is up when the last of them succeeded. */
struct setup {
    struct conn *c;
    int script; /* -1: not a SCRIPT LOAD */
};

static void on_setup(redisReply *rep, void *priv)
{
    struct setup *s = priv;
    struct conn *c = s->c;
    int script = s->script;
    free(s);
    if (c->state != CONN_SETUP)
        return;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "setup failed: %s",
                 rep ? rep->str : "no reply");
        conn_drop(c, why);
        return;
    }
    if (script >= 0 && rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(c->r->sha[script], rep->str, 41);
    if (--c->setup_left == 0) {
        c->state = CONN_UP;
        c->failures = 0;
        check_all_up(c->r);
    }
}

static void setup_send(struct conn *c, int script, int argc, const char **argv)
{
    struct setup *s = xmalloc(sizeof(*s));
    *s = (struct setup){c, script};
    c->setup_left++;
    if (send_on(c, on_setup, s, argc, argv, NULL) != 0) {
        c->setup_left--;
        free(s);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        c->ac = NULL;
        conn_drop(c, ac->errstr);
        return;
    }
    struct redis *r = c->r;
    c->state = CONN_SETUP;
    c->setup_left = 1; /* held until everything is queued */
    if (r->url.has_password) {
        if (r->url.user[0]) {
            const char *a[] = {"AUTH", r->url.user, r->url.password};
            setup_send(c, -1, 3, a);
        } else {
            const char *a[] = {"AUTH", r->url.password};
            setup_send(c, -1, 2, a);
        }
    }
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        const char *a[] = {"SELECT", db};
        setup_send(c, -1, 2, a);
    }
    if (!c->blocking)
        for (int i = 0; i < SCRIPT__COUNT; i++) {
            const char *a[] = {"SCRIPT", "LOAD", script_body(i)};
            setup_send(c, i, 3, a);
        }
    struct setup *last = xmalloc(sizeof(*last));
    *last = (struct setup){c, -1};
    redisReply ok = {.type = REDIS_REPLY_STATUS, .str = "OK", .len = 2};
    on_setup(&ok, last);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    c->ac = NULL; /* hiredis frees it after this callback */
    conn_drop(c, status == REDIS_OK ? "closed" : ac->errstr);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_open(arg);
}

static void conn_connect(struct conn *c, const char *ip);

/* A host name is resolved with evdns before connecting: hiredis would call
 * getaddrinfo(3), which blocks the loop, on every reconnect. */
static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct conn *c = arg;
    c->resolving = NULL;
    if (result != 0 || !res) {
        char why[400];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", c->r->url.host,
                 evutil_gai_strerror(result));
        if (res)
            evutil_freeaddrinfo(res);
        if (result != EVUTIL_EAI_CANCEL)
            conn_drop(c, why);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip,
                  sizeof(ip));
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr,
                  ip, sizeof(ip));
    evutil_freeaddrinfo(res);
    conn_connect(c, ip);
}

static void conn_open(struct conn *c)
{
    struct redis *r = c->r;
    unsigned char buf[sizeof(struct in6_addr)];
    if (!r->url.is_unix && inet_pton(AF_INET, r->url.host, buf) != 1 &&
        inet_pton(AF_INET6, r->url.host, buf) != 1) {
        if (!r->dns)
            r->dns = evdns_base_new(r->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                        .ai_socktype = SOCK_STREAM};
        c->state = CONN_CONNECTING;
        c->last_progress = clock_mono_ms();
        /* The callback may run at once (hosts file): set before calling. */
        c->resolving = (void *)1;
        struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(
            r->dns, r->url.host, NULL, &hints, on_resolved, c);
        if (c->resolving)
            c->resolving = req;
        return;
    }
    conn_connect(c, NULL);
}

static void conn_connect(struct conn *c, const char *ip)
{
    struct redis *r = c->r;
    redisAsyncContext *ac =
        r->url.is_unix ? redisAsyncConnectUnix(r->url.path)
                       : redisAsyncConnect(ip ? ip : r->url.host, r->url.port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        conn_drop(c, why);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    c->outstanding = 0;
    c->last_progress = clock_mono_ms();
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Forgets the context (if any), fails its pending callbacks with NULL and
 * schedules a reconnect after a jittered backoff. */
static void conn_drop(struct conn *c, const char *why)
{
    struct redis *r = c->r;
    redisAsyncContext *ac = c->ac;
    bool was_up = c->state == CONN_UP;
    if (was_up)
        r->reconnects++;
    if (c->resolving) {
        struct evdns_getaddrinfo_request *req = c->resolving;
        c->resolving = NULL;
        evdns_getaddrinfo_cancel(req); /* its callback sees CANCEL */
    }
    c->ac = NULL;
    c->state = CONN_DOWN;
    c->outstanding = 0;
    c->extra_ms = 0;
    r->all_up = false;
    if (ac) {
        ac->data = NULL;
        /* Pending callbacks run now with NULL replies. */
        redisAsyncFree(ac);
    }
    uint64_t delay = backoff_delay_ms(RECONNECT_BASE_MS, RECONNECT_MAX_MS,
                                      ++c->failures, backoff_draw());
    if (was_up || c->failures == 1)
        log_warn("redis: connection %s lost (%s); retrying in %llu ms",
                 c->blocking ? "blocking" : "commands", why ? why : "?",
                 (unsigned long long)delay);
    struct timeval tv = clock_timeval(delay);
    evtimer_add(c->retry, &tv);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct redis *r = arg;
    uint64_t now = clock_mono_ms();
    (void)fd;
    (void)what;
    for (int i = 0; i < r->nconn; i++) {
        struct conn *c = &r->conn[i];
        bool waiting = c->state == CONN_CONNECTING || c->outstanding > 0;
        if ((c->ac || c->resolving) && waiting &&
            now - c->last_progress > r->timeout_ms + c->extra_ms)
            conn_drop(c, "reply overdue");
    }
}

struct redis *redis_new(struct event_base *base, const struct redis_url *url,
                        uint64_t timeout_ms, int nblocking,
                        void (*on_ready)(void *arg), void *arg)
{
    struct redis *r = xcalloc(1, sizeof(*r));
    r->base = base;
    r->url = *url;
    r->timeout_ms = timeout_ms;
    r->nconn = 1 + nblocking;
    r->conn = xcalloc((size_t)r->nconn, sizeof(*r->conn));
    r->on_ready = on_ready;
    r->arg = arg;
    for (int i = 0; i < r->nconn; i++) {
        struct conn *c = &r->conn[i];
        c->r = r;
        c->blocking = i > 0;
        c->retry = evtimer_new(base, on_retry, c);
    }
    r->watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, r);
    struct timeval tick = {0, WATCHDOG_TICK_MS * 1000};
    event_add(r->watchdog, &tick);
    for (int i = 0; i < r->nconn; i++)
        conn_open(&r->conn[i]);
    return r;
}

void redis_free(struct redis *r)
{
    if (!r)
        return;
    /* Down everywhere first, so that a callback run below with a NULL reply
     * cannot queue a command on a connection not yet torn down. */
    for (int i = 0; i < r->nconn; i++)
        r->conn[i].state = CONN_DOWN;
    for (int i = 0; i < r->nconn; i++) {
        struct conn *c = &r->conn[i];
        redisAsyncContext *ac = c->ac;
        if (c->resolving) {
            struct evdns_getaddrinfo_request *req = c->resolving;
            c->resolving = NULL;
            evdns_getaddrinfo_cancel(req);
        }
        c->ac = NULL;
        c->state = CONN_DOWN;
        if (ac) {
            ac->data = NULL;
            redisAsyncFree(ac);
        }
        event_free(c->retry);
    }
    event_free(r->watchdog);
    if (r->dns)
        evdns_base_free(r->dns, 0);
    free(r->conn);
    free(r->fmt);
    free(r);
}

bool redis_ready(const struct redis *r)
{
    return r->conn[0].state == CONN_UP;
}

unsigned long long redis_reconnects(const struct redis *r)
{
    return r->reconnects;
}

int redis_cmd(struct redis *r, redis_reply_fn fn, void *priv, int argc,
              const char **argv, const size_t *lens)
{
    if (r->conn[0].state != CONN_UP)
        return -1;
    return send_on(&r->conn[0], fn, priv, argc, argv, lens);
}

#define SCRIPT_ARGS_STACK 64

int redis_script(struct redis *r, enum script_id id, redis_reply_fn fn,
                 void *priv, int nkeys, int argc, const char **argv,
                 const size_t *lens)
{
    if (r->conn[0].state != CONN_UP)
        return -1;
    const char *sv[SCRIPT_ARGS_STACK];
    size_t sl[SCRIPT_ARGS_STACK];
    const char **v = sv;
    size_t *l = sl;
    if (argc + 3 > SCRIPT_ARGS_STACK) {
        v = xmalloc(sizeof(*v) * (size_t)(argc + 3));
        l = xmalloc(sizeof(*l) * (size_t)(argc + 3));
    }
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    v[0] = "EVALSHA";
    l[0] = 7;
    v[1] = r->sha[id];
    l[1] = 40;
    v[2] = nk;
    l[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        v[3 + i] = argv[i];
        l[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    int rc = send_on(&r->conn[0], fn, priv, argc + 3, v, l);
    if (v != sv) {
        free(v);
        free(l);
    }
    return rc;
}

int redis_blocking(struct redis *r, int slot, redis_reply_fn fn, void *priv,
                   uint64_t block_ms, int argc, const char **argv,
                   const size_t *lens)
{
    struct conn *c = &r->conn[1 + slot];
    if (c->state != CONN_UP)
        return -1;
    if (send_on(c, fn, priv, argc, argv, lens) != 0)
        return -1;
    c->extra_ms = block_ms;
    return 0;
}
