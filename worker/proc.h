/* Child processes on the loop: spawn without a shell, in a clean
 * environment and a process group of their own, with non-blocking pipes on
 * stdin, stdout and stderr; reaped through a pidfd on the loop, so none is
 * ever left a zombie; killed as a whole group. The exec and runner handlers
 * are built on it. Loop thread only. */
#ifndef JOBQ_PROC_H
#define JOBQ_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct procs;
struct proc;

/* Arguments of one command, at most PROC_MAX_ARGS, split at spaces and
 * tabs (no shell, no quoting). */
#define PROC_MAX_ARGS 64
/* Bytes read from one pipe per loop callback: a child that floods its
 * output shares the loop with everything else rather than holding it. */
#define PROC_READ_CHUNK 65536
/* After the child exits, how long its pipes may stay open (a descendant
 * that left the group) before they are closed. */
#define PROC_DRAIN_MS 1000
/* The whole environment a child gets: nothing of the worker's (no JOBQ_*
 * secrets, no credentials in variables). */
#define PROC_PATH "/usr/local/bin:/usr/bin:/bin"

/* A parsed command: argv[0] resolved to an absolute path. Owned by the
 * module that parsed it; proc_cmd_free releases it. */
struct proc_cmd {
    char *argv[PROC_MAX_ARGS + 1]; /* NULL-terminated */
    int argc;
};

/* Splits text into cmd and resolves argv[0] (a name without '/' is looked
 * up in PROC_PATH). Blocking file checks: call at start, not on the loop.
 * Returns 0, or -1 with the reason in err. */
int proc_cmd_parse(struct proc_cmd *cmd, const char *text, char *err,
                   size_t errlen);
void proc_cmd_free(struct proc_cmd *cmd);

/* What the owner of a proc hears. Each may be NULL. */
struct proc_cbs {
    /* Bytes from stdout / stderr; len 0 once at end of file. */
    void (*out)(struct proc *p, const char *buf, size_t len, void *arg);
    void (*err)(struct proc *p, const char *buf, size_t len, void *arg);
    /* The child was reaped and both pipes reached their end (or the drain
     * time passed): status as from waitpid. The proc is freed when this
     * returns. */
    void (*exit)(struct proc *p, int status, void *arg);
};

/* The module: every live child, so none outlives the worker unreaped. */
struct procs *procs_new(struct event_base *base);
/* Kills every live child's group, reaps it (blocking, after SIGKILL: quick)
 * and frees it. At teardown, with the loop stopped. */
void procs_free(struct procs *ps);
/* Children alive or not yet reaped. */
unsigned procs_live(const struct procs *ps);

/* Spawns cmd (posix_spawn: own process group, signals default and
 * unblocked, only descriptors 0-2 open, environment PATH only). Returns
 * the proc, or NULL with the reason in err. */
struct proc *proc_spawn(struct procs *ps, const struct proc_cmd *cmd,
                        const struct proc_cbs *cbs, void *arg, char *err,
                        size_t errlen);
/* Queues bytes for stdin (written as the pipe takes them). Returns 0, or
 * -1 when stdin is closed (the child went away). */
int proc_write(struct proc *p, const void *buf, size_t len);
/* Bytes queued and not yet taken by the child. */
size_t proc_write_pending(const struct proc *p);
/* Closes stdin once what is queued has been written. */
void proc_close_stdin(struct proc *p);
/* SIGKILL to the child's whole process group. */
void proc_kill(struct proc *p);
/* The owner gives p up: its group is killed, no callback runs again, and
 * it frees itself once reaped. */
void proc_detach(struct proc *p);
pid_t proc_pid(const struct proc *p);
#endif
