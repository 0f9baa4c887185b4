/* The CPU pool and the handoff: every task runs exactly once on a pool
 * thread and comes back once on the loop thread, and a burst costs fewer
 * wake-ups than tasks. Run under ThreadSanitizer by tests/run.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <stdlib.h>

#include "cpupool.h"
#include "handoff.h"

#define NTASKS 20000

struct item {
    struct task task;
    int ran;             /* written on the pool thread */
    pthread_t ran_on;
    int delivered;       /* written on the loop thread */
};

struct ctx {
    struct event_base *base;
    int delivered;
    pthread_t loop_thread;
    int wrong_thread;
};

static void work(struct task *t)
{
    struct item *it = container_of(t, struct item, task);
    it->ran++;
    it->ran_on = pthread_self();
}

static void deliver(struct task *t, void *arg)
{
    struct ctx *c = arg;
    struct item *it = container_of(t, struct item, task);
    it->delivered++;
    if (!pthread_equal(pthread_self(), c->loop_thread))
        c->wrong_thread++;
    if (++c->delivered == NTASKS)
        event_base_loopexit(c->base, NULL);
}

static void test_every_task_once(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new(), .loop_thread = pthread_self()};
    struct handoff *h = handoff_new(c.base, deliver, &c);
    char err[128];
    int cpus[] = {0};
    struct cpupool *p = cpupool_new(3, cpus, 1, h, err, sizeof(err));
    assert_non_null(p);
    struct item *items = calloc(NTASKS, sizeof(*items));
    for (int i = 0; i < NTASKS; i++) {
        items[i].task.run = work;
        cpupool_submit(p, &items[i].task);
    }
    struct timeval limit = {30, 0};
    event_base_loopexit(c.base, &limit);
    event_base_dispatch(c.base);
    assert_int_equal(c.delivered, NTASKS);
    assert_int_equal(c.wrong_thread, 0);
    for (int i = 0; i < NTASKS; i++) {
        assert_int_equal(items[i].ran, 1);
        assert_int_equal(items[i].delivered, 1);
        assert_false(pthread_equal(items[i].ran_on, c.loop_thread));
    }
    /* Completions come back in bursts: far fewer wake-ups than tasks. */
    assert_true(handoff_wakeups(h) < NTASKS);
    cpupool_free(p);
    handoff_free(h);
    event_base_free(c.base);
    free(items);
}

static void test_bad_core_is_reported(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct ctx c = {.base = base};
    struct handoff *h = handoff_new(base, deliver, &c);
    char err[128] = "";
    int cpus[] = {100000 % CPU_SETSIZE + 1000};
    struct cpupool *p = cpupool_new(1, cpus, 1, h, err, sizeof(err));
    assert_null(p);
    assert_non_null(strstr(err, "cannot pin thread to core"));
    handoff_free(h);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_bad_core_is_reported),
    };
    return cmocka_run_group_tests_name("cpupool", tests, NULL, NULL);
}
