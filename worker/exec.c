/* exec handlers (see exec.h): one child per job through proc.c. */
#include "exec.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "frame.h"
#include "proc.h"
#include "userjson.h"
#include "xalloc.h"

/* One configured type. */
struct exec_cmd {
    struct exec *ex;
    char type[129];
    struct proc_cmd cmd;
};

/* One job's run: waiting its turn, then its child. */
struct exec_run {
    struct exec_run *next; /* the wait queue */
    struct exec *ex;
    jobq_ctx *ctx;
    struct proc *p; /* NULL while waiting */
    char *out;      /* stdout so far */
    size_t outlen, errlen;
    char errtail[FRAME_ERROR_MAX]; /* the last bytes of stderr, a ring */
    size_t errpos;
};

struct exec {
    struct procs *ps;
    unsigned max, running;
    struct exec_run *wait_first, *wait_last;
    struct event *launch_ev; /* starts waiting runs from the loop */
    int n;
    struct exec_cmd *cmds;
};

static void run_free(struct exec_run *r)
{
    free(r->out);
    free(r);
}

/* The run is over (answered, or cancelled): its slot goes to the next. */
static void release(struct exec_run *r)
{
    struct exec *ex = r->ex;
    if (r->p) {
        ex->running--;
        if (ex->wait_first)
            event_active(ex->launch_ev, EV_TIMEOUT, 0);
    }
    run_free(r);
}

static void finish(struct exec_run *r)
{
    jobq_ctx *ctx = r->ctx;
    jobq_set_state(ctx, NULL);
    release(r);
    jobq_done(ctx);
}

/* Fails at once: the child is killed and forgotten. */
static void fail_now(struct exec_run *r, const char *why)
{
    jobq_fail(r->ctx, JOBQ_PERMANENT, "%s", why);
    proc_detach(r->p);
    finish(r);
}

static void on_out(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct exec_run *r = arg;
    (void)p;
    if (len == 0)
        return;
    if (r->outlen + len > EXEC_STDOUT_MAX) {
        char why[128];
        snprintf(why, sizeof(why), "stdout over %d bytes", EXEC_STDOUT_MAX);
        return fail_now(r, why);
    }
    r->out = xrealloc(r->out, r->outlen + len + 1);
    memcpy(r->out + r->outlen, buf, len);
    r->outlen += len;
}

static void on_err(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct exec_run *r = arg;
    (void)p;
    r->errlen += len;
    if (r->errlen > EXEC_STDERR_MAX) {
        char why[128];
        snprintf(why, sizeof(why), "stderr over %d bytes", EXEC_STDERR_MAX);
        return fail_now(r, why);
    }
    for (size_t i = 0; i < len; i++)
        r->errtail[r->errpos++ % sizeof(r->errtail)] = buf[i];
}

/* stderr's last bytes in order. */
static size_t err_tail(const struct exec_run *r, char *out)
{
    size_t cap = sizeof(r->errtail);
    if (r->errpos <= cap) {
        memcpy(out, r->errtail, r->errpos);
        return r->errpos;
    }
    size_t at = r->errpos % cap;
    memcpy(out, r->errtail + at, cap - at);
    memcpy(out + cap - at, r->errtail, at);
    return cap;
}

static void on_exit_status(struct proc *p, int status, void *arg)
{
    struct exec_run *r = arg;
    jobq_ctx *ctx = r->ctx;
    (void)p;
    char tail[sizeof(r->errtail)], why[64];
    size_t tlen = err_tail(r, tail);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        json_error_t je;
        size_t lead = 0;
        while (lead < r->outlen && strchr(" \t\r\n", r->out[lead]))
            lead++;
        /* \u0000 is JSON: a string with a NUL is a fine msgpack str. */
        json_t *j = lead == r->outlen
                        ? json_null()
                        : json_loadb(r->out, r->outlen,
                                     JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
                                         JSON_ALLOW_NUL,
                                     &je);
        if (j) {
            if (userjson_result(ctx, j) != 0)
                jobq_fail(ctx, JOBQ_PERMANENT,
                          "result nested deeper than %d levels",
                          USERJSON_DEPTH_MAX);
            json_decref(j);
        } else {
            jobq_fail(ctx, JOBQ_PERMANENT, "stdout is not JSON: %s", je.text);
        }
    } else if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        snprintf(why, sizeof(why), "exit %d", code);
        userjson_fail(
            ctx, code == EXEC_EXIT_PERMANENT ? JOBQ_PERMANENT : JOBQ_RETRYABLE,
            why, tail, tlen);
    } else {
        snprintf(why, sizeof(why), "killed by signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        userjson_fail(ctx, JOBQ_RETRYABLE, why, tail, tlen);
    }
    finish(r);
}

static const struct proc_cbs exec_cbs = {
    .out = on_out, .err = on_err, .exit = on_exit_status};

static void launch(struct exec *ex, struct exec_run *r)
{
    const struct exec_cmd *c = jobq_handler_data(r->ctx);
    char err[256];
    ex->running++;
    r->p = proc_spawn(ex->ps, &c->cmd, &exec_cbs, r, err, sizeof(err));
    if (!r->p) {
        ex->running--;
        jobq_fail(r->ctx, JOBQ_RETRYABLE, "%s", err);
        return finish(r);
    }
    json_t *args = userjson_args(r->ctx);
    char *text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(args);
    if (!text)
        abort(); /* out of memory: the one policy */
    proc_write(r->p, text, strlen(text));
    proc_write(r->p, "\n", 1);
    proc_close_stdin(r->p);
    free(text);
}

static void on_launch(evutil_socket_t fd, short what, void *arg)
{
    struct exec *ex = arg;
    (void)fd;
    (void)what;
    while (ex->wait_first && ex->running < ex->max) {
        struct exec_run *r = ex->wait_first;
        ex->wait_first = r->next;
        if (!ex->wait_first)
            ex->wait_last = NULL;
        r->next = NULL;
        launch(ex, r);
    }
}

static void exec_start(jobq_ctx *ctx)
{
    const struct exec_cmd *c = jobq_handler_data(ctx);
    struct exec *ex = c->ex;
    if (!userjson_args_fit(ctx)) {
        jobq_fail(ctx, JOBQ_PERMANENT, USERJSON_UNFIT);
        jobq_done(ctx);
        return;
    }
    struct exec_run *r = xcalloc(1, sizeof(*r));
    r->ex = ex;
    r->ctx = ctx;
    jobq_set_state(ctx, r);
    if (ex->running < ex->max && !ex->wait_first)
        return launch(ex, r);
    /* Over exec-concurrency: wait in order. */
    if (ex->wait_last)
        ex->wait_last->next = r;
    else
        ex->wait_first = r;
    ex->wait_last = r;
}

static void exec_cancel(jobq_ctx *ctx)
{
    struct exec_run *r = jobq_state(ctx);
    if (!r)
        return;
    jobq_set_state(ctx, NULL);
    struct exec *ex = r->ex;
    if (r->p) {
        proc_detach(r->p); /* the whole group, reaped on the loop */
        return release(r);
    }
    struct exec_run **pp = &ex->wait_first, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp)
        *pp = r->next;
    if (ex->wait_last == r)
        ex->wait_last = prev;
    run_free(r);
}

struct exec *exec_new(struct procs *ps, const struct settings *s,
                      struct jobq_registry *reg, char *err, size_t errlen)
{
    struct exec *ex = xcalloc(1, sizeof(*ex));
    ex->ps = ps;
    ex->max = s->exec_concurrency ? s->exec_concurrency : 1;
    ex->launch_ev = event_new(reg->base, -1, 0, on_launch, ex);
    size_t n = s->execs ? s->execs->n : 0;
    int first = reg->n;
    ex->cmds = xcalloc(n ? n : 1, sizeof(*ex->cmds));
    for (size_t i = 0; i < n; i++) {
        const char *v = s->execs->v[i], *eq = strchr(v, '=');
        struct exec_cmd *c = &ex->cmds[ex->n];
        c->ex = ex;
        size_t tlen = eq ? (size_t)(eq - v) : 0;
        while (tlen && strchr(" \t", v[tlen - 1]))
            tlen--;
        if (!eq || tlen == 0 || tlen >= sizeof(c->type)) {
            snprintf(err, errlen, "exec %s: must be TYPE=COMMAND ARGS...", v);
            registry_drop(reg, first, reg->n - first);
            exec_free(ex);
            return NULL;
        }
        memcpy(c->type, v, tlen);
        char why[256];
        if (proc_cmd_parse(&c->cmd, eq + 1, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "exec %s: %s", c->type, why);
            registry_drop(reg, first, reg->n - first);
            exec_free(ex);
            return NULL;
        }
        ex->n++;
        jobq_handler h = {.type = c->type,
                          .cls = JOBQ_CLASS_IO,
                          .start = exec_start,
                          .cancel = exec_cancel,
                          .data = c};
        int rc = jobq_register(reg, &h);
        if (rc != JOBQ_OK) {
            snprintf(err, errlen, "exec %s: %s", c->type,
                     rc == JOBQ_EEXIST ? "type already served"
                                       : jobq_strerror(rc));
            registry_drop(reg, first, reg->n - first);
            exec_free(ex);
            return NULL;
        }
    }
    return ex;
}

void exec_free(struct exec *ex)
{
    if (!ex)
        return;
    while (ex->wait_first) {
        struct exec_run *r = ex->wait_first;
        ex->wait_first = r->next;
        run_free(r);
    }
    for (int i = 0; i < ex->n; i++)
        proc_cmd_free(&ex->cmds[i].cmd);
    free(ex->cmds);
    if (ex->launch_ev)
        event_free(ex->launch_ev);
    free(ex);
}
