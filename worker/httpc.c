/* The HTTP client (see httpc.h): libcurl's multi-socket API on the loop.
 * libcurl tells us which sockets to watch (on_socket) and when to call it
 * back (on_timer_set); the loop tells libcurl what became ready
 * (curl_multi_socket_action); finished transfers are collected in drain()
 * and answered, outside every libcurl callback, so an answer may start or
 * cancel other requests. */
#include "httpc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "guard.h"
#include "log.h"
#include "xalloc.h"

/* With http-ca-file set, libcurl reads that file and still finds the
 * system's CAs in the hashed directory Debian's ca-certificates keeps. */
#define HTTPC_SYSTEM_CA_DIR "/etc/ssl/certs"
/* Response headers kept per response; more are dropped (libcurl already
 * bounds a header's size). */
#define HTTPC_MAX_HEADERS 128
#define HTTPC_METHOD_MAX 16
#define HTTPC_USER_AGENT "jobq/" JOBQ_VERSION
#define HTTPC_ERR_MAX 256
#define HTTPC_BODY_MIN_CAP 1024
/* The most header bytes a response may carry (names and values kept): a
 * server repeating one header a hundred thousand times is refused, not
 * joined at the cost of the loop. */
#define HTTPC_HEADER_BYTES_MAX (64 * 1024)

struct sock {
    struct httpc *c;
    struct event *ev;
    struct sock *prev, *next;
};

struct rhdr {
    char *name, *value; /* owned, NUL-ended */
    size_t name_len, value_len, value_cap;
};

struct jobq_http {
    struct httpc *c;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post; /* owned copy of the body */
    jobq_http_done_fn cb;
    void *arg;
    char *body; /* response body, owned */
    size_t len, cap;
    struct rhdr *rh;
    size_t nrh;
    bool too_large, refused, headers_too_large;
    size_t header_bytes; /* kept of this response's headers */
    uint64_t max_body;   /* this request's share of the limit */
    char why[HTTPC_ERR_MAX];
    char errbuf[CURL_ERROR_SIZE];
    jobq_http *prev, *next;
};

struct httpc {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct guard guard;
    char *ca_file;
    uint64_t max_body;
    jobq_http *live;
    struct sock *socks;
    unsigned n;
};

static void drain(struct httpc *c);

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *c = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) |
                (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    drain(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *c = arg;
    (void)fd;
    (void)what;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(c);
}

static void sock_free(struct httpc *c, struct sock *sk)
{
    event_free(sk->ev);
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        c->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    free(sk);
}

/* libcurl wants socket s watched for what (or no longer watched). */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    struct httpc *c = userp;
    struct sock *sk = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(c->multi, s, NULL);
            sock_free(c, sk);
        }
        return 0;
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!sk) {
        sk = xcalloc(1, sizeof(*sk));
        sk->c = c;
        sk->ev = event_new(c->base, s, kind, on_sock_event, c);
        if (!sk->ev) {
            free(sk);
            return -1;
        }
        sk->next = c->socks;
        if (c->socks)
            c->socks->prev = sk;
        c->socks = sk;
        curl_multi_assign(c->multi, s, sk);
    } else {
        event_del(sk->ev);
        event_assign(sk->ev, c->base, s, kind, on_sock_event, c);
    }
    event_add(sk->ev, NULL);
    return 0;
}

/* libcurl wants to be called back in ms (-1: never). It must not be
 * called from here, so even 0 goes through the timer. */
static int on_timer_set(CURLM *multi, long ms, void *userp)
{
    struct httpc *c = userp;
    (void)multi;
    if (ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = clock_timeval((uint64_t)ms);
    evtimer_add(c->timer, &tv);
    return 0;
}

/* Every connection, to the first host and to each redirect hop, is opened
 * here, with the address the name resolved to: the guard decides on that
 * address and on the host the current URL names. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose,
                             struct curl_sockaddr *a)
{
    jobq_http *t = clientp;
    (void)purpose;
    char *url = NULL, *host = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    CURLU *u = curl_url();
    if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    char why[HTTPC_ERR_MAX];
    bool ok = guard_allows(&t->c->guard, host, &a->addr, why, sizeof(why));
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok) {
        /* libcurl may try the name's other addresses; the first refusal
         * is the one reported if none connects. */
        if (!t->refused)
            snprintf(t->why, sizeof(t->why), "%s", why);
        t->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void headers_clear(jobq_http *t)
{
    for (size_t i = 0; i < t->nrh; i++) {
        free(t->rh[i].name);
        free(t->rh[i].value);
    }
    t->nrh = 0;
    t->header_bytes = 0;
}

static void trim(const char **p, size_t *n)
{
    while (*n && isspace((unsigned char)**p))
        (*p)++, (*n)--;
    while (*n && isspace((unsigned char)(*p)[*n - 1]))
        (*n)--;
}

/* One header line of a response. A status line starts a new response (a
 * 1xx, or the next hop of a redirect): only the last one's are kept. */
static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    jobq_http *t = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        headers_clear(t);
        t->len = 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len; /* the blank line that ends them */
    const char *name = buf, *value = colon + 1;
    size_t nl = (size_t)(colon - buf), vl = len - nl - 1;
    trim(&name, &nl);
    trim(&value, &vl);
    if (!nl)
        return len;
    t->header_bytes += nl + vl + 2;
    if (t->header_bytes > HTTPC_HEADER_BYTES_MAX) {
        t->headers_too_large = true;
        return 0; /* anything but len: libcurl aborts the transfer */
    }
    for (size_t i = 0; i < t->nrh; i++) {
        struct rhdr *h = &t->rh[i];
        if (h->name_len == nl && strncasecmp(h->name, name, nl) == 0) {
            size_t need = h->value_len + 2 + vl + 1;
            if (need > h->value_cap) {
                h->value_cap = need * 2;
                h->value = xrealloc(h->value, h->value_cap);
            }
            memcpy(h->value + h->value_len, ", ", 2);
            memcpy(h->value + h->value_len + 2, value, vl);
            h->value_len += 2 + vl;
            h->value[h->value_len] = 0;
            return len;
        }
    }
    if (t->nrh >= HTTPC_MAX_HEADERS)
        return len;
    struct rhdr *h = &t->rh[t->nrh++];
    h->name = xstrndup(name, nl);
    for (size_t i = 0; i < nl; i++)
        h->name[i] = (char)tolower((unsigned char)h->name[i]);
    h->name_len = nl;
    h->value = xstrndup(value, vl);
    h->value_len = vl;
    h->value_cap = vl + 1;
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    jobq_http *t = arg;
    size_t len = size * n;
    if (len > t->max_body || t->len > t->max_body - len) {
        t->too_large = true;
        return 0; /* anything but len: libcurl aborts the transfer */
    }
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap : HTTPC_BODY_MIN_CAP;
        while (cap < t->len + len)
            cap *= 2;
        t->body = xrealloc(t->body, cap);
        t->cap = cap;
    }
    memcpy(t->body + t->len, buf, len);
    t->len += len;
    return len;
}

static void unlink_live(jobq_http *t)
{
    struct httpc *c = t->c;
    if (t->prev)
        t->prev->next = t->next;
    else
        c->live = t->next;
    if (t->next)
        t->next->prev = t->prev;
    c->n--;
}

/* Removing the handle mid-transfer closes its connection: a half-read
 * response cannot be reused. */
static void transfer_free(jobq_http *t)
{
    curl_multi_remove_handle(t->c->multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->hdrs);
    headers_clear(t);
    free(t->rh);
    free(t->post);
    free(t->body);
    free(t);
}

/* How a failed transfer is reported: what the caller did wrong or the
 * guard refused is permanent; what the network did may pass. */
static void describe(jobq_http *t, CURLcode rc, jobq_http_response *res,
                     char *msg, size_t msglen)
{
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    res->failed = 1;
    res->kind = JOBQ_RETRYABLE;
    if (t->refused && rc == CURLE_COULDNT_CONNECT) {
        res->kind = JOBQ_PERMANENT;
        snprintf(msg, msglen, "%s", t->why);
    } else if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        res->kind = JOBQ_PERMANENT;
        if (t->max_body < t->c->max_body)
            snprintf(msg, msglen,
                     "response body larger than its share (%llu) of "
                     "http-max-body-bytes (%llu)",
                     (unsigned long long)t->max_body,
                     (unsigned long long)t->c->max_body);
        else
            snprintf(msg, msglen,
                     "response body larger than http-max-body-bytes (%llu)",
                     (unsigned long long)t->c->max_body);
    } else if (t->headers_too_large) {
        res->kind = JOBQ_PERMANENT;
        snprintf(msg, msglen, "response headers larger than %d bytes",
                 HTTPC_HEADER_BYTES_MAX);
    } else if (rc == CURLE_OUT_OF_MEMORY) {
        /* What libcurl says of a header line over its 100 KiB limit; a
         * real shortage of memory would have aborted the worker first. */
        res->kind = JOBQ_PERMANENT;
        snprintf(msg, msglen,
                 "response refused by libcurl (a header line too long): %s",
                 detail);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, msglen, "timeout: %s", detail);
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        res->kind = JOBQ_PERMANENT;
        snprintf(msg, msglen, "too many redirects: %s", detail);
    } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        res->kind = JOBQ_PERMANENT;
        snprintf(msg, msglen, "bad URL: %s", detail);
    } else if (rc == CURLE_COULDNT_CONNECT ||
               rc == CURLE_COULDNT_RESOLVE_HOST) {
        snprintf(msg, msglen, "connect error: %s", detail);
    } else {
        snprintf(msg, msglen, "%s", detail);
    }
    res->error = msg;
}

static void answer(jobq_http *t, CURLcode rc)
{
    jobq_http_response res = {0};
    char msg[HTTPC_ERR_MAX + CURL_ERROR_SIZE];
    jobq_http_header hs[HTTPC_MAX_HEADERS];
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.status);
    if (rc != CURLE_OK) {
        describe(t, rc, &res, msg, sizeof(msg));
    } else {
        for (size_t i = 0; i < t->nrh; i++)
            hs[i] = (jobq_http_header){t->rh[i].name, t->rh[i].name_len,
                                       t->rh[i].value, t->rh[i].value_len};
        res.headers = hs;
        res.nheaders = t->nrh;
        res.body = t->body ? t->body : "";
        res.body_len = t->len;
    }
    unlink_live(t);
    curl_multi_remove_handle(t->c->multi, t->easy);
    t->cb(t, &res, t->arg);
    transfer_free(t);
}

static void drain(struct httpc *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        jobq_http *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        answer(t, m->data.result);
    }
}

struct httpc *httpc_new(struct event_base *base, const struct httpc_config *cfg,
                        char *err, size_t errlen)
{
    struct httpc *c = xcalloc(1, sizeof(*c));
    if (guard_parse(&c->guard, cfg->allow, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0) {
        snprintf(err, errlen, "http-ca-file: cannot read %s", cfg->ca_file);
        free(c);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl cannot start");
        free(c);
        return NULL;
    }
    c->base = base;
    c->max_body = cfg->max_body_bytes;
    c->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer) {
        snprintf(err, errlen, "libcurl cannot start a multi handle");
        httpc_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Idle connections kept for reuse: as many as may be busy at once, so
     * a quiet moment between bursts does not close them all. */
    if (cfg->max_idle)
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_idle);
    return c;
}

void httpc_free(struct httpc *c)
{
    if (!c)
        return;
    while (c->live) {
        jobq_http *t = c->live;
        unlink_live(t);
        transfer_free(t);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    while (c->socks)
        sock_free(c, c->socks);
    if (c->timer)
        event_free(c->timer);
    if (c->multi)
        curl_global_cleanup();
    free(c->ca_file);
    free(c);
}

unsigned httpc_inflight(const struct httpc *c)
{
    return c ? c->n : 0;
}

static bool token_ok(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
            return false;
    return true;
}

static bool field_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
            return false;
    return true;
}

static int check_request(const jobq_http_request *req, char *err, size_t errlen)
{
    if (!req->url ||
        !((req->url_len > 7 && !strncasecmp(req->url, "http://", 7)) ||
          (req->url_len > 8 && !strncasecmp(req->url, "https://", 8))) ||
        !field_ok(req->url, req->url_len)) {
        snprintf(err, errlen, "url must be an http:// or https:// URL");
        return JOBQ_EINVAL;
    }
    if (req->method && (strlen(req->method) > HTTPC_METHOD_MAX ||
                        !token_ok(req->method, strlen(req->method)))) {
        snprintf(err, errlen, "method must be an HTTP method token");
        return JOBQ_EINVAL;
    }
    if (req->max_redirects > JOBQ_HTTP_MAX_REDIRECTS) {
        snprintf(err, errlen, "at most %d redirects may be followed",
                 JOBQ_HTTP_MAX_REDIRECTS);
        return JOBQ_EINVAL;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const jobq_http_header *h = &req->headers[i];
        if (!token_ok(h->name, h->name_len) ||
            !field_ok(h->value, h->value_len)) {
            snprintf(err, errlen,
                     "header %zu: a name must be a token and a value may not "
                     "hold CR, LF or NUL",
                     i);
            return JOBQ_EINVAL;
        }
    }
    return JOBQ_OK;
}

/* One request header as libcurl takes it, "Name: value". */
static struct curl_slist *add_header(struct curl_slist *l, const char *name,
                                     size_t nl, const char *value, size_t vl)
{
    char *line = xmalloc(nl + 2 + vl + 1);
    memcpy(line, name, nl);
    /* "Name;" sends a header with an empty value; "Name:" would remove
     * it. */
    memcpy(line + nl, vl ? ": " : ";", vl ? 2 : 1);
    memcpy(line + nl + (vl ? 2 : 1), value, vl);
    line[nl + (vl ? 2 : 1) + vl] = 0;
    struct curl_slist *n = curl_slist_append(l, line);
    free(line);
    if (!n)
        abort(); /* out of memory: the one policy (xalloc.h) */
    return n;
}

static void set_method(jobq_http *t, const jobq_http_request *req)
{
    CURL *e = t->easy;
    const char *m = req->method;
    if (req->body) {
        t->post = xmalloc(req->body_len ? req->body_len : 1);
        memcpy(t->post, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
    }
    if (!m || (!strcmp(m, "GET") && !req->body) ||
        (!strcmp(m, "POST") && req->body))
        return;
    if (!strcmp(m, "HEAD") && !req->body) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        return;
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

int httpc_start(struct httpc *c, const jobq_http_request *req,
                jobq_http_done_fn cb, void *arg, jobq_http **out, char *err,
                size_t errlen)
{
    if (!c) {
        snprintf(err, errlen, "this worker has no HTTP client");
        return JOBQ_EUNAVAIL;
    }
    int rc = check_request(req, err, errlen);
    if (rc != JOBQ_OK)
        return rc;
    jobq_http *t = xcalloc(1, sizeof(*t));
    t->c = c;
    t->cb = cb;
    t->arg = arg;
    t->easy = curl_easy_init();
    if (!t->easy) {
        free(t);
        snprintf(err, errlen, "libcurl: out of memory");
        return JOBQ_ENOMEM;
    }
    t->rh = xcalloc(HTTPC_MAX_HEADERS, sizeof(*t->rh));
    t->max_body = c->max_body / (req->body_share > 1 ? req->body_share : 1);
    CURL *e = t->easy;
    char *url = xstrndup(req->url, req->url_len);
    curl_easy_setopt(e, CURLOPT_URL, url); /* libcurl copies strings */
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* A proxy from the environment would make the guard see the proxy's
     * address, not the target's. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS, ALPN says within the handshake whether a connection can
     * multiplex: wait for that rather than open another. Plain http can
     * only say so with its first response, which may be slow to come. */
    if (req->url_len > 8 && !strncasecmp(req->url, "https://", 8))
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, HTTPC_USER_AGENT);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    /* A declared length over the limit fails before the body comes. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body);
    if (c->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, HTTPC_SYSTEM_CA_DIR);
    }
    if (req->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->max_redirects) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)req->max_redirects);
    }
    set_method(t, req);
    /* No "Expect: 100-continue" wait before a body. */
    t->hdrs = curl_slist_append(NULL, "Expect:");
    if (!t->hdrs)
        abort(); /* out of memory: the one policy (xalloc.h) */
    for (size_t i = 0; i < req->nheaders; i++)
        t->hdrs =
            add_header(t->hdrs, req->headers[i].name, req->headers[i].name_len,
                       req->headers[i].value, req->headers[i].value_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdrs);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        transfer_free(t);
        snprintf(err, errlen, "libcurl refused the request");
        return JOBQ_ENOMEM;
    }
    t->next = c->live;
    if (c->live)
        c->live->prev = t;
    c->live = t;
    c->n++;
    if (out)
        *out = t;
    return JOBQ_OK;
}

void httpc_cancel(jobq_http *t)
{
    if (!t)
        return;
    unlink_live(t);
    transfer_free(t);
}
