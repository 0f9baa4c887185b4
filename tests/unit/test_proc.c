/* worker/proc: commands parsed without a shell, children spawned clean (no
 * environment of ours, no descriptor of ours), their output read on the
 * loop, their exit reaped there, and their whole group killed. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

/* What one child said and how it ended. */
struct seen {
    char out[4096], err[4096];
    size_t outlen, errlen;
    bool out_eof, exited;
    int status;
    struct event_base *base;
};

static void on_out(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct seen *s = arg;
    (void)p;
    if (len == 0)
        s->out_eof = true;
    len = len < sizeof(s->out) - s->outlen - 1 ? len
                                               : sizeof(s->out) - s->outlen - 1;
    memcpy(s->out + s->outlen, buf, len);
    s->outlen += len;
}

static void on_err(struct proc *p, const char *buf, size_t len, void *arg)
{
    struct seen *s = arg;
    (void)p;
    len = len < sizeof(s->err) - s->errlen - 1 ? len
                                               : sizeof(s->err) - s->errlen - 1;
    memcpy(s->err + s->errlen, buf, len);
    s->errlen += len;
}

static void on_exit_cb(struct proc *p, int status, void *arg)
{
    struct seen *s = arg;
    (void)p;
    s->exited = true;
    s->status = status;
    event_base_loopexit(s->base, NULL);
}

static const struct proc_cbs cbs = {on_out, on_err, on_exit_cb};

/* Runs the loop until the child is over, at most 10 s. */
static void run(struct seen *s)
{
    struct timeval limit = {10, 0};
    event_base_loopexit(s->base, &limit);
    event_base_dispatch(s->base);
    assert_true(s->exited);
}

static struct proc *spawn(struct procs *ps, const char *text, struct seen *s)
{
    struct proc_cmd cmd;
    char err[256];
    assert_int_equal(proc_cmd_parse(&cmd, text, err, sizeof(err)), 0);
    struct proc *p = proc_spawn(ps, &cmd, &cbs, s, err, sizeof(err));
    proc_cmd_free(&cmd);
    assert_non_null(p);
    return p;
}

static void test_cmd_is_split_at_spaces_and_found_in_path(void **state)
{
    (void)state;
    struct proc_cmd cmd;
    char err[256];
    assert_int_equal(
        proc_cmd_parse(&cmd, "  sh  -c   'a b' ", err, sizeof(err)), 0);
    assert_int_equal(cmd.argc, 4); /* no quoting: 'a and b' are two */
    assert_true(cmd.argv[0][0] == '/');
    assert_string_equal(cmd.argv[3], "b'");
    assert_null(cmd.argv[4]);
    proc_cmd_free(&cmd);
    assert_int_equal(
        proc_cmd_parse(&cmd, "no-such-command-here", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not found"));
    assert_int_equal(proc_cmd_parse(&cmd, "   ", err, sizeof(err)), -1);
    assert_int_equal(proc_cmd_parse(&cmd, "/no/such/file", err, sizeof(err)),
                     -1);
}

static void test_child_gets_stdin_clean_env_and_no_descriptors(void **state)
{
    (void)state;
    struct seen s = {.base = event_base_new()};
    struct procs *ps = procs_new(s.base);
    setenv("JOBQ_ADMIN_TOKEN", "not-for-children", 1);
    int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC */
    assert_true(leak >= 3);
    struct proc *p = spawn(
        ps, "/bin/sh -c env;cat;ls${IFS}/proc/self/fd;echo${IFS}oops>&2", &s);
    const char in[] = "from stdin\n";
    assert_int_equal(proc_write(p, in, sizeof(in) - 1), 0);
    proc_close_stdin(p);
    run(&s);
    close(leak);
    unsetenv("JOBQ_ADMIN_TOKEN");
    assert_true(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0);
    assert_true(s.out_eof);
    assert_null(strstr(s.out, "JOBQ_"));
    assert_non_null(strstr(s.out, "PATH=" PROC_PATH "\n"));
    assert_non_null(strstr(s.out, "from stdin\n"));
    /* 0, 1, 2 and the one ls opens to read the directory */
    assert_non_null(strstr(s.out, "0\n1\n2\n3\n"));
    assert_null(strstr(s.out, "4\n"));
    assert_string_equal(s.err, "oops\n");
    assert_int_equal(procs_live(ps), 0);
    procs_free(ps);
    event_base_free(s.base);
}

/* Gone, or dead and waiting for a parent that is not us (init, or a
 * container's first process, which may be slow to reap). */
static bool dead(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *st = strrchr(buf, ')');
    return st && st[1] == ' ' && st[2] == 'Z';
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proc_kill(arg);
}

static void test_kill_takes_the_whole_group_and_reaps(void **state)
{
    (void)state;
    struct seen s = {.base = event_base_new()};
    struct procs *ps = procs_new(s.base);
    /* A descendant that would outlive its parent, then a wait. */
    struct proc *p =
        spawn(ps, "/bin/sh -c sleep${IFS}300&echo${IFS}$!;wait", &s);
    pid_t pid = proc_pid(p);
    struct event *t = evtimer_new(s.base, on_kill_timer, p);
    struct timeval tv = {0, 200000};
    evtimer_add(t, &tv);
    run(&s);
    event_free(t);
    assert_true(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGKILL);
    pid_t sleeper = (pid_t)atoi(s.out);
    assert_true(sleeper > 0);
    /* Reaped: no zombie; and the descendant is gone with the group (a
     * child of init now, so give init a moment to reap it). */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    for (int i = 0; i < 500 && !dead(sleeper); i++)
        usleep(10000);
    assert_true(dead(sleeper));
    assert_int_equal(procs_live(ps), 0);
    procs_free(ps);
    event_base_free(s.base);
}

static void
test_detached_child_is_killed_and_reaped_without_callbacks(void **state)
{
    (void)state;
    struct seen s = {.base = event_base_new()};
    struct procs *ps = procs_new(s.base);
    struct proc *p = spawn(ps, "/bin/sleep 300", &s);
    pid_t pid = proc_pid(p);
    proc_detach(p);
    for (int i = 0; i < 500 && procs_live(ps); i++)
        event_base_loop(s.base, EVLOOP_ONCE);
    assert_int_equal(procs_live(ps), 0);
    assert_false(s.exited);
    assert_int_equal(kill(pid, 0), -1);
    procs_free(ps);
    event_base_free(s.base);
}

static void test_procs_free_kills_and_reaps_the_live(void **state)
{
    (void)state;
    struct seen s = {.base = event_base_new()};
    struct procs *ps = procs_new(s.base);
    pid_t pid = proc_pid(spawn(ps, "/bin/sleep 300", &s));
    assert_int_equal(procs_live(ps), 1);
    procs_free(ps);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1); /* not ours now */
    event_base_free(s.base);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_is_split_at_spaces_and_found_in_path),
        cmocka_unit_test(test_child_gets_stdin_clean_env_and_no_descriptors),
        cmocka_unit_test(test_kill_takes_the_whole_group_and_reaps),
        cmocka_unit_test(
            test_detached_child_is_killed_and_reaped_without_callbacks),
        cmocka_unit_test(test_procs_free_kills_and_reaps_the_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
