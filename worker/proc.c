/* Child processes on the loop (see proc.h). Each child gets a pidfd: it
 * becomes readable when the child exits, so reaping is one more event on
 * the loop, with no SIGCHLD handler shared with anyone and no wait for a
 * child that is not ours. */
#include "proc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "xalloc.h"

struct procs {
    struct event_base *base;
    struct proc *first;
    unsigned live;
    char rbuf[PROC_READ_CHUNK];
};

struct proc {
    struct procs *ps;
    struct proc *prev, *next;
    pid_t pid;
    int pidfd, in, out, err; /* -1 once closed */
    struct event *in_ev, *out_ev, *err_ev, *pid_ev, *drain_ev;
    struct evbuffer *inbuf;
    bool close_in; /* close stdin once inbuf is written */
    bool reaped, detached;
    int status;
    struct proc_cbs cbs;
    void *arg;
};

void proc_cmd_free(struct proc_cmd *cmd)
{
    for (int i = 0; i < cmd->argc; i++)
        free(cmd->argv[i]);
    memset(cmd, 0, sizeof(*cmd));
}

/* argv[0] as an absolute path: as given when it has a '/', else the first
 * executable of that name in PROC_PATH (the child's own PATH). */
static int resolve(struct proc_cmd *cmd, char *err, size_t errlen)
{
    const char *name = cmd->argv[0];
    struct stat st;
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0) {
            snprintf(err, errlen, "%s: %s", name, strerror(errno));
            return -1;
        }
        /* A directory passes access(X_OK) and fails every spawn. */
        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s: not a regular file", name);
            return -1;
        }
        return 0;
    }
    char path[4096];
    const char *dir = PROC_PATH;
    while (*dir) {
        size_t n = strcspn(dir, ":");
        snprintf(path, sizeof(path), "%.*s/%s", (int)n, dir, name);
        if (access(path, X_OK) == 0 && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            free(cmd->argv[0]);
            cmd->argv[0] = xstrdup(path);
            return 0;
        }
        dir += n + (dir[n] == ':');
    }
    snprintf(err, errlen, "%s: not found in %s", name, PROC_PATH);
    return -1;
}

int proc_cmd_parse(struct proc_cmd *cmd, const char *text, char *err,
                   size_t errlen)
{
    memset(cmd, 0, sizeof(*cmd));
    const char *s = text;
    for (;;) {
        s += strspn(s, " \t");
        if (!*s)
            break;
        size_t n = strcspn(s, " \t");
        if (cmd->argc == PROC_MAX_ARGS) {
            snprintf(err, errlen, "more than %d arguments", PROC_MAX_ARGS);
            proc_cmd_free(cmd);
            return -1;
        }
        cmd->argv[cmd->argc] = xmalloc(n + 1);
        memcpy(cmd->argv[cmd->argc], s, n);
        cmd->argv[cmd->argc++][n] = 0;
        s += n;
    }
    if (cmd->argc == 0) {
        snprintf(err, errlen, "no command");
        return -1;
    }
    if (resolve(cmd, err, errlen) != 0) {
        proc_cmd_free(cmd);
        return -1;
    }
    return 0;
}

struct procs *procs_new(struct event_base *base)
{
    struct procs *ps = xcalloc(1, sizeof(*ps));
    ps->base = base;
    return ps;
}

unsigned procs_live(const struct procs *ps)
{
    return ps ? ps->live : 0;
}

static void close_fd(int *fd, struct event **ev)
{
    if (*ev) {
        event_free(*ev);
        *ev = NULL;
    }
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void close_pipes(struct proc *p)
{
    close_fd(&p->in, &p->in_ev);
    close_fd(&p->out, &p->out_ev);
    close_fd(&p->err, &p->err_ev);
}

static void proc_free(struct proc *p)
{
    struct procs *ps = p->ps;
    close_pipes(p);
    close_fd(&p->pidfd, &p->pid_ev);
    if (p->drain_ev)
        event_free(p->drain_ev);
    if (p->inbuf)
        evbuffer_free(p->inbuf);
    if (p->prev)
        p->prev->next = p->next;
    else
        ps->first = p->next;
    if (p->next)
        p->next->prev = p->prev;
    ps->live--;
    free(p);
}

/* The end: reaped, and both pipes at their end. */
static void maybe_finish(struct proc *p)
{
    if (!p->reaped || p->out >= 0 || p->err >= 0)
        return;
    if (!p->detached && p->cbs.exit)
        p->cbs.exit(p, p->status, p->arg);
    proc_free(p);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    (void)fd;
    (void)what;
    /* A descendant outside the group holds the pipes: stop listening. */
    close_pipes(p);
    maybe_finish(p);
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    (void)fd;
    (void)what;
    /* Whatever is left of its group goes with it: one process per job,
     * none left behind. The zombie still holds the group id, so this
     * cannot hit another group. */
    kill(-p->pid, SIGKILL);
    int status = 0;
    pid_t r;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* not yet: the pidfd fires again */
    p->reaped = true;
    p->status = status;
    close_fd(&p->pidfd, &p->pid_ev);
    close_fd(&p->in, &p->in_ev);
    if (p->out >= 0 || p->err >= 0) {
        p->drain_ev = evtimer_new(p->ps->base, on_drain, p);
        struct timeval tv = clock_timeval(PROC_DRAIN_MS);
        evtimer_add(p->drain_ev, &tv);
    }
    maybe_finish(p);
}

static void on_readable(struct proc *p, int *fd, struct event **ev,
                        void (*cb)(struct proc *, const char *, size_t, void *))
{
    char *buf = p->ps->rbuf;
    ssize_t n = read(*fd, buf, sizeof(p->ps->rbuf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        if (cb && !p->detached)
            cb(p, buf, (size_t)n, p->arg);
        return;
    }
    close_fd(fd, ev);
    if (cb && !p->detached)
        cb(p, buf, 0, p->arg);
    maybe_finish(p);
}

static void on_out(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    (void)fd;
    (void)what;
    on_readable(p, &p->out, &p->out_ev, p->cbs.out);
}

static void on_err(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    (void)fd;
    (void)what;
    on_readable(p, &p->err, &p->err_ev, p->cbs.err);
}

static void on_in(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    (void)what;
    int n = evbuffer_write(p->inbuf, fd);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        /* The child closed its stdin or died (EPIPE; SIGPIPE is ignored):
         * what it did not read is dropped. */
        evbuffer_drain(p->inbuf, evbuffer_get_length(p->inbuf));
        close_fd(&p->in, &p->in_ev);
        return;
    }
    if (evbuffer_get_length(p->inbuf) == 0) {
        event_del(p->in_ev);
        if (p->close_in)
            close_fd(&p->in, &p->in_ev);
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

struct proc *proc_spawn(struct procs *ps, const struct proc_cmd *cmd,
                        const struct proc_cbs *cbs, void *arg, char *err,
                        size_t errlen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(er, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close_pair(in);
        close_pair(out);
        close_pair(er);
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    /* Not one descriptor of the worker's (Redis sockets, the HTTP port,
     * plugin files) reaches the child, CLOEXEC or not. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all); /* SIGPIPE is ignored here */
    posix_spawnattr_setpgroup(&at, 0);        /* its own group, to kill */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    char *envp[] = {"PATH=" PROC_PATH, "LANG=C.UTF-8", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, cmd->argv[0], &fa, &at, cmd->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(out[1]);
    close(er[1]);
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s: %s", cmd->argv[0], strerror(rc));
        close(in[1]);
        close(out[0]);
        close(er[0]);
        return NULL;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0 || set_nonblock(in[1]) || set_nonblock(out[0]) ||
        set_nonblock(er[0])) {
        snprintf(err, errlen, "cannot watch %s: %s", cmd->argv[0],
                 strerror(errno));
        kill(-pid, SIGKILL);
        /* After SIGKILL the wait is short. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (pidfd >= 0)
            close(pidfd);
        close(in[1]);
        close(out[0]);
        close(er[0]);
        return NULL;
    }
    struct proc *p = xcalloc(1, sizeof(*p));
    p->ps = ps;
    p->pid = pid;
    p->pidfd = pidfd;
    p->in = in[1];
    p->out = out[0];
    p->err = er[0];
    if (cbs)
        p->cbs = *cbs;
    p->arg = arg;
    p->inbuf = evbuffer_new();
    p->in_ev = event_new(ps->base, p->in, EV_WRITE | EV_PERSIST, on_in, p);
    p->out_ev = event_new(ps->base, p->out, EV_READ | EV_PERSIST, on_out, p);
    p->err_ev = event_new(ps->base, p->err, EV_READ | EV_PERSIST, on_err, p);
    p->pid_ev = event_new(ps->base, pidfd, EV_READ | EV_PERSIST, on_pidfd, p);
    if (!p->inbuf || !p->in_ev || !p->out_ev || !p->err_ev || !p->pid_ev)
        abort(); /* out of memory: the one policy (xalloc.h) */
    event_add(p->out_ev, NULL);
    event_add(p->err_ev, NULL);
    event_add(p->pid_ev, NULL);
    p->next = ps->first;
    if (ps->first)
        ps->first->prev = p;
    ps->first = p;
    ps->live++;
    return p;
}

int proc_write(struct proc *p, const void *buf, size_t len)
{
    if (p->in < 0 || p->close_in)
        return -1;
    if (evbuffer_add(p->inbuf, buf, len) != 0)
        abort();
    event_add(p->in_ev, NULL);
    return 0;
}

size_t proc_write_pending(const struct proc *p)
{
    return evbuffer_get_length(p->inbuf);
}

void proc_close_stdin(struct proc *p)
{
    p->close_in = true;
    if (p->in >= 0 && evbuffer_get_length(p->inbuf) == 0)
        close_fd(&p->in, &p->in_ev);
}

void proc_kill(struct proc *p)
{
    if (!p->reaped)
        kill(-p->pid, SIGKILL);
}

void proc_detach(struct proc *p)
{
    p->detached = true;
    proc_kill(p);
    /* Nobody reads them now; the pidfd alone brings the end. */
    close_pipes(p);
    if (p->reaped) {
        /* Freed from the loop, not under the caller, which may be one of
         * p's own callbacks. */
        if (!p->drain_ev)
            p->drain_ev = evtimer_new(p->ps->base, on_drain, p);
        struct timeval now = {0, 0};
        evtimer_add(p->drain_ev, &now);
    }
}

pid_t proc_pid(const struct proc *p)
{
    return p->pid;
}

void procs_free(struct procs *ps)
{
    if (!ps)
        return;
    while (ps->first) {
        struct proc *p = ps->first;
        if (!p->reaped) {
            kill(-p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        proc_free(p);
    }
    free(ps);
}
