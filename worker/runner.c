/* Runners (see runner.h): each configured runner has its processes, each
 * process its jobs in flight; a job not yet sent waits on its runner. */
#include "runner.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clock.h"
#include "jobctx.h"
#include "log.h"
#include "proc.h"
#include "userjson.h"
#include "xalloc.h"

struct rproc;

/* One job on its way through a runner. */
struct rjob {
    struct rjob *prev, *next; /* the wait queue, or its process' flight */
    jobq_ctx *ctx;
    struct rdef *def;
    struct rproc *rp; /* NULL while waiting */
    uint64_t deadline_ms;
};

struct rlist {
    struct rjob *first, *last;
    unsigned n;
};

/* Each process of a runner: up and serving, or down and waiting for its
 * restart. */
enum rproc_state { RP_UP, RP_DOWN };

struct rproc {
    struct rdef *def;
    int index;
    enum rproc_state state;
    struct proc *p; /* NULL while down */
    struct rlist flight;
    char *line; /* the stdout line being read */
    size_t linelen, linecap;
    char errline[RUNNER_LOG_LINE_MAX];
    size_t errlen;
    unsigned fails; /* in a row; an answer resets it */
    char why[256];  /* why it went down */
    struct event *down_ev, *restart_ev;
    struct log_limit errlog;
};

/* One runner setting. */
struct rdef {
    struct runners *rs;
    char name[160]; /* its types, for logs */
    char *types[RUNNER_MAX_TYPES];
    int ntypes;
    struct proc_cmd cmd;
    struct rproc *procs;
    unsigned nprocs, conc, rr;
    struct rlist wait;
};

struct runners {
    struct procs *ps;
    struct event_base *base;
    struct rdef *defs;
    int n;
    unsigned long long restarts;
};

static void list_add(struct rlist *l, struct rjob *j)
{
    j->next = NULL;
    j->prev = l->last;
    if (l->last)
        l->last->next = j;
    else
        l->first = j;
    l->last = j;
    l->n++;
}

static void list_del(struct rlist *l, struct rjob *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->first = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->last = j->prev;
    j->prev = j->next = NULL;
    l->n--;
}

static void start_proc(struct rproc *rp);
static void pump(struct rdef *def);

/* Answers ctx and forgets j. */
static void job_done(struct rjob *j)
{
    jobq_ctx *ctx = j->ctx;
    jobq_set_state(ctx, NULL);
    free(j);
    jobq_done(ctx);
}

/* Takes rp down: its group is killed now; its jobs in flight fail and its
 * restart is timed from the loop (down_ev), never under the caller, which
 * may be dispatch cancelling a job. */
static void go_down(struct rproc *rp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void go_down(struct rproc *rp, const char *fmt, ...)
{
    if (rp->state == RP_DOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->why, sizeof(rp->why), fmt, ap);
    va_end(ap);
    rp->state = RP_DOWN;
    if (rp->p) {
        proc_detach(rp->p);
        rp->p = NULL;
    }
    rp->linelen = rp->errlen = 0;
    event_active(rp->down_ev, EV_TIMEOUT, 0);
}

static void on_down(evutil_socket_t fd, short what, void *arg)
{
    struct rproc *rp = arg;
    struct rdef *def = rp->def;
    (void)fd;
    (void)what;
    while (rp->flight.first) {
        struct rjob *j = rp->flight.first;
        list_del(&rp->flight, j);
        jobq_fail(j->ctx, JOBQ_RETRYABLE, "runner %s: %s", def->name, rp->why);
        job_done(j);
    }
    rp->fails++;
    unsigned shift = rp->fails - 1 < 16 ? rp->fails - 1 : 16;
    uint64_t ms = (uint64_t)RUNNER_BACKOFF_BASE_MS << shift;
    if (ms > RUNNER_BACKOFF_MAX_MS)
        ms = RUNNER_BACKOFF_MAX_MS;
    if (rp->fails >= RUNNER_CRASH_LOOP)
        log_error("runner %s process %d is crash-looping (%u failures in a "
                  "row, last: %s); next start in %llu ms",
                  def->name, rp->index, rp->fails, rp->why,
                  (unsigned long long)ms);
    else
        log_warn("runner %s process %d: %s; restarting in %llu ms", def->name,
                 rp->index, rp->why, (unsigned long long)ms);
    struct timeval tv = clock_timeval(ms);
    evtimer_add(rp->restart_ev, &tv);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    struct rproc *rp = arg;
    (void)fd;
    (void)what;
    rp->def->rs->restarts++;
    start_proc(rp);
    pump(rp->def);
}

static struct rjob *find(struct rproc *rp, const char *id, size_t len)
{
    for (struct rjob *j = rp->flight.first; j; j = j->next) {
        const char *jid = jobq_job_id(j->ctx);
        if (strlen(jid) == len && memcmp(jid, id, len) == 0)
            return j;
    }
    return NULL;
}

/* One answer line. Returns false when it is not one (rp goes down). */
static bool on_line(struct rproc *rp, const char *line, size_t len)
{
    json_error_t je;
    json_t *a =
        json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    json_t *id = a ? json_object_get(a, "id") : NULL;
    if (!a || !json_is_string(id)) {
        go_down(rp, "wrote a line that is not an answer (%s)",
                a ? "no \"id\" string" : je.text);
        json_decref(a);
        return false;
    }
    struct rjob *j = find(rp, json_string_value(id), json_string_length(id));
    if (!j) {
        /* A job cancelled at shutdown, answered late: nobody waits. */
        log_debug("runner %s: answer for %s, which is not in flight",
                  rp->def->name, json_string_value(id));
        json_decref(a);
        return true;
    }
    list_del(&rp->flight, j);
    rp->fails = 0;
    json_t *err = json_object_get(a, "error");
    if (err && !json_is_null(err)) {
        jobq_failure kind = json_is_true(json_object_get(a, "permanent"))
                                ? JOBQ_PERMANENT
                                : JOBQ_RETRYABLE;
        if (json_is_string(err)) {
            userjson_fail(j->ctx, kind, "error", json_string_value(err),
                          json_string_length(err));
        } else {
            char *t = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
            userjson_fail(j->ctx, kind, "error", t ? t : "", t ? strlen(t) : 0);
            free(t);
        }
    } else {
        json_t *res = json_object_get(a, "result");
        if (res && userjson_result(j->ctx, res) != 0)
            jobq_fail(j->ctx, JOBQ_PERMANENT,
                      "result nested deeper than %d levels",
                      USERJSON_DEPTH_MAX);
        else if (!res)
            msgpack_pack_nil(jobq_packer(j->ctx));
    }
    json_decref(a);
    job_done(j);
    return true;
}

static void on_out(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct rproc *rp = arg;
    (void)p;
    if (len == 0)
        return; /* the exit callback follows */
    size_t off = 0;
    while (off < len && rp->state == RP_UP) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t take = nl ? (size_t)(nl - (buf + off)) : len - off;
        if (rp->linelen + take > RUNNER_LINE_MAX) {
            go_down(rp, "wrote a line longer than %d bytes", RUNNER_LINE_MAX);
            return;
        }
        if (!nl || rp->linelen) {
            if (rp->linelen + take + 1 > rp->linecap) {
                rp->linecap = (rp->linelen + take + 1) * 2;
                rp->line = xrealloc(rp->line, rp->linecap);
            }
            memcpy(rp->line + rp->linelen, buf + off, take);
            rp->linelen += take;
        }
        off += take + (nl != NULL);
        if (!nl)
            break;
        /* A whole line: straight from buf when it came in one read. */
        bool ok;
        if (rp->linelen) {
            ok = on_line(rp, rp->line, rp->linelen);
            rp->linelen = 0;
        } else {
            ok = on_line(rp, nl - take, take);
        }
        if (!ok)
            return;
    }
    pump(rp->def);
}

static void on_err(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct rproc *rp = arg;
    (void)p;
    /* Its stderr goes to our log, a line at a time, rate-limited: a
     * runner that floods it costs lines, not the loop. */
    for (size_t i = 0; i < len; i++) {
        bool nl = buf[i] == '\n';
        if (!nl && rp->errlen < sizeof(rp->errline) - 1)
            rp->errline[rp->errlen++] = buf[i];
        if (nl) {
            rp->errline[rp->errlen] = 0;
            log_limited(&rp->errlog, LOG_WARN, "runner %s process %d: %s",
                        rp->def->name, rp->index, rp->errline);
            rp->errlen = 0;
        }
    }
}

static void on_exit_status(struct proc *p, int status, void *arg)
{
    struct rproc *rp = arg;
    (void)p;
    rp->p = NULL; /* freed by proc.c when this returns */
    if (WIFEXITED(status))
        go_down(rp, "exited with status %d", WEXITSTATUS(status));
    else
        go_down(rp, "killed by signal %d",
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static const struct proc_cbs runner_cbs = {
    .out = on_out, .err = on_err, .exit = on_exit_status};

static void start_proc(struct rproc *rp)
{
    char err[256];
    rp->state = RP_UP;
    rp->linelen = rp->errlen = 0;
    rp->p = proc_spawn(rp->def->rs->ps, &rp->def->cmd, &runner_cbs, rp, err,
                       sizeof(err));
    if (!rp->p)
        go_down(rp, "%s", err);
}

static void send_job(struct rproc *rp, struct rjob *j)
{
    jobq_ctx *ctx = j->ctx;
    json_t *req = json_object();
    json_object_set_new(req, "id", json_string(jobq_job_id(ctx)));
    json_object_set_new(req, "type", json_string(ctx->h->type));
    json_object_set_new(req, "args", userjson_args(ctx));
    json_object_set_new(req, "attempt", json_integer(jobq_attempt(ctx)));
    json_object_set_new(req, "deadline_ms",
                        json_integer((json_int_t)j->deadline_ms));
    /* Compact JSON escapes every newline inside strings: one line. */
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        abort(); /* out of memory: the one policy */
    size_t n = strlen(text);
    text[n] = '\n';
    j->rp = rp;
    list_add(&rp->flight, j);
    proc_write(rp->p, text, n + 1);
    free(text);
}

/* The next process with room, round-robin; NULL when all are full or
 * down. */
static struct rproc *pick(struct rdef *def)
{
    for (unsigned k = 0; k < def->nprocs; k++) {
        unsigned i = (def->rr + k) % def->nprocs;
        struct rproc *rp = &def->procs[i];
        if (rp->state == RP_UP && rp->flight.n < def->conc) {
            def->rr = i + 1;
            return rp;
        }
    }
    return NULL;
}

/* Sends waiting jobs while a process has room. */
static void pump(struct rdef *def)
{
    struct rproc *rp;
    while (def->wait.first && (rp = pick(def))) {
        struct rjob *j = def->wait.first;
        list_del(&def->wait, j);
        send_job(rp, j);
    }
}

static void runner_start(jobq_ctx *ctx)
{
    struct rdef *def = jobq_handler_data(ctx);
    if (!userjson_args_fit(ctx)) {
        jobq_fail(ctx, JOBQ_PERMANENT, USERJSON_UNFIT);
        jobq_done(ctx);
        return;
    }
    struct rjob *j = xcalloc(1, sizeof(*j));
    j->ctx = ctx;
    j->def = def;
    /* The attempt's limit as a wall-clock time the runner can read. */
    j->deadline_ms = jobq_now_ms() + ctx->timeout_ms;
    jobq_set_state(ctx, j);
    struct rproc *rp = def->wait.first ? NULL : pick(def);
    if (rp)
        send_job(rp, j);
    else
        list_add(&def->wait, j);
}

static void runner_cancel(jobq_ctx *ctx)
{
    struct rjob *j = jobq_state(ctx);
    if (!j)
        return;
    jobq_set_state(ctx, NULL);
    struct rproc *rp = j->rp;
    if (!rp) {
        list_del(&j->def->wait, j);
        free(j);
        return;
    }
    list_del(&rp->flight, j);
    /* Past its limit without an answer: the process is stuck (or too slow
     * to trust with the rest); a stop's cancel is no fault of its. */
    if (ctx->timed_out)
        go_down(rp, "no answer to job %s within its %llu ms limit",
                jobq_job_id(ctx), (unsigned long long)ctx->timeout_ms);
    free(j);
}

/* TYPE[,TYPE...]=COMMAND ARGS... into def. */
static int parse_def(struct rdef *def, const char *v, char *err, size_t errlen)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v) {
        snprintf(err, errlen, "runner %s: must be TYPE[,TYPE...]=COMMAND", v);
        return -1;
    }
    const char *t = v;
    while (t < eq) {
        size_t n = strcspn(t, ",=");
        const char *s = t;
        size_t k = n;
        while (k && strchr(" \t", *s))
            s++, k--;
        while (k && strchr(" \t", s[k - 1]))
            k--;
        if (k == 0 || k > 128 || def->ntypes == RUNNER_MAX_TYPES) {
            snprintf(err, errlen, "runner %s: bad type list", v);
            return -1;
        }
        def->types[def->ntypes++] = xstrndup(s, k);
        t += n + (t[n] == ',');
    }
    snprintf(def->name, sizeof(def->name), "%.*s", (int)(eq - v), v);
    char why[256];
    if (proc_cmd_parse(&def->cmd, eq + 1, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "runner %s: %s", def->name, why);
        return -1;
    }
    return 0;
}

struct runners *runners_new(struct procs *ps, const struct settings *s,
                            struct jobq_registry *reg, char *err, size_t errlen)
{
    struct runners *rs = xcalloc(1, sizeof(*rs));
    rs->ps = ps;
    rs->base = reg->base;
    size_t n = s->runners ? s->runners->n : 0;
    rs->defs = xcalloc(n ? n : 1, sizeof(*rs->defs));
    int first = reg->n;
    for (size_t i = 0; i < n; i++) {
        struct rdef *def = &rs->defs[rs->n++];
        def->rs = rs;
        def->nprocs = s->runner_processes ? s->runner_processes : 1;
        def->conc = s->runner_concurrency ? s->runner_concurrency : 1;
        if (parse_def(def, s->runners->v[i], err, errlen) != 0)
            goto fail;
        for (int k = 0; k < def->ntypes; k++) {
            jobq_handler h = {.type = def->types[k],
                              .cls = JOBQ_CLASS_IO,
                              .start = runner_start,
                              .cancel = runner_cancel,
                              .data = def};
            int rc = jobq_register(reg, &h);
            if (rc != JOBQ_OK) {
                snprintf(err, errlen, "runner %s: type %s: %s", def->name,
                         def->types[k],
                         rc == JOBQ_EEXIST ? "already served"
                                           : jobq_strerror(rc));
                goto fail;
            }
        }
        def->procs = xcalloc(def->nprocs, sizeof(*def->procs));
        for (unsigned k = 0; k < def->nprocs; k++) {
            struct rproc *rp = &def->procs[k];
            rp->def = def;
            rp->index = (int)k;
            rp->down_ev = event_new(rs->base, -1, 0, on_down, rp);
            rp->restart_ev = evtimer_new(rs->base, on_restart, rp);
            start_proc(rp);
        }
    }
    return rs;
fail:
    registry_drop(reg, first, reg->n - first);
    runners_free(rs);
    return NULL;
}

void runners_free(struct runners *rs)
{
    if (!rs)
        return;
    for (int i = 0; i < rs->n; i++) {
        struct rdef *def = &rs->defs[i];
        while (def->wait.first) {
            struct rjob *j = def->wait.first;
            list_del(&def->wait, j);
            free(j);
        }
        for (unsigned k = 0; def->procs && k < def->nprocs; k++) {
            struct rproc *rp = &def->procs[k];
            while (rp->flight.first) {
                struct rjob *j = rp->flight.first;
                list_del(&rp->flight, j);
                free(j);
            }
            if (rp->p)
                proc_detach(rp->p);
            free(rp->line);
            if (rp->down_ev)
                event_free(rp->down_ev);
            if (rp->restart_ev)
                event_free(rp->restart_ev);
        }
        free(def->procs);
        for (int k = 0; k < def->ntypes; k++)
            free(def->types[k]);
        proc_cmd_free(&def->cmd);
    }
    free(rs->defs);
    free(rs);
}

unsigned long long runners_restarts(const struct runners *rs)
{
    return rs ? rs->restarts : 0;
}
