/* The CPU pool and the handoff: every task runs exactly once on a pool
 * thread and comes back once on the loop thread, and a burst costs fewer
 * wake-ups than tasks. Run under ThreadSanitizer by tests/run.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <dlfcn.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpupool.h"
#include "handoff.h"

#define NTASKS 20000

struct item {
    struct task task;
    int ran; /* written on the pool thread */
    pthread_t ran_on;
    int delivered; /* written on the loop thread */
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
    /* Chains of every length from 1 up, as takes bring them. */
    for (int i = 0, len = 1; i < NTASKS; i += len, len++) {
        if (i + len > NTASKS)
            len = NTASKS - i;
        for (int k = i; k < i + len; k++) {
            items[k].task.run = work;
            items[k].task.next = k + 1 < i + len ? &items[k + 1].task : NULL;
        }
        cpupool_submit(p, &items[i].task, &items[i + len - 1].task,
                       (unsigned)len);
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

/* One slow task at the head of a chain, short ones behind it: the short
 * ones all come back while the slow one still runs, so a thread never
 * holds queued tasks it is not running. The slow task waits for them
 * (bounded), so a pool that held them back makes it time out. */
#define SHORT_N 10
static atomic_int shorts_back;
static atomic_int slow_saw;

static void slow_work(struct task *t)
{
    (void)t;
    for (int i = 0; i < 10000 && atomic_load(&shorts_back) < SHORT_N; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    atomic_store(&slow_saw, atomic_load(&shorts_back));
}

static void short_work(struct task *t)
{
    (void)t;
}

struct hol {
    struct event_base *base;
    struct task *slow;
    int back;
};

static void hol_deliver(struct task *t, void *arg)
{
    struct hol *h = arg;
    if (t != h->slow)
        atomic_fetch_add(&shorts_back, 1);
    if (++h->back == SHORT_N + 1)
        event_base_loopexit(h->base, NULL);
}

static void test_slow_task_holds_nothing_back(void **state)
{
    (void)state;
    struct task tasks[SHORT_N + 1];
    struct hol hl = {.base = event_base_new(), .slow = &tasks[0]};
    struct handoff *h = handoff_new(hl.base, hol_deliver, &hl);
    char err[128];
    struct cpupool *p = cpupool_new(2, NULL, 0, h, err, sizeof(err));
    assert_non_null(p);
    for (int i = 0; i <= SHORT_N; i++) {
        tasks[i].run = i ? short_work : slow_work;
        tasks[i].next = i < SHORT_N ? &tasks[i + 1] : NULL;
    }
    cpupool_submit(p, &tasks[0], &tasks[SHORT_N], SHORT_N + 1);
    struct timeval limit = {30, 0};
    event_base_loopexit(hl.base, &limit);
    event_base_dispatch(hl.base);
    assert_int_equal(hl.back, SHORT_N + 1);
    assert_int_equal(atomic_load(&slow_saw), SHORT_N);
    cpupool_free(p);
    handoff_free(h);
    event_base_free(hl.base);
}

/* A pool thread runs its first instruction on its core. A pool that pins
 * a thread after pthread_create calls pthread_setaffinity_np on a thread
 * already running on its creator's cores: this interposer looks at the
 * thread's mask at that moment, as any observer could. */
static atomic_int seen_unpinned;

int pthread_setaffinity_np(pthread_t t, size_t size, const cpu_set_t *set)
{
    int (*real)(pthread_t, size_t, const cpu_set_t *) =
        (int (*)(pthread_t, size_t, const cpu_set_t *))dlsym(
            RTLD_NEXT, "pthread_setaffinity_np");
    cpu_set_t now;
    if (pthread_getaffinity_np(t, sizeof(now), &now) == 0 &&
        !CPU_EQUAL_S(size, &now, set))
        atomic_fetch_add(&seen_unpinned, 1);
    return real(t, size, set);
}

struct where {
    struct task task;
    cpu_set_t mask; /* the pool thread's mask as the task ran */
};

static void where_work(struct task *t)
{
    struct where *w = container_of(t, struct where, task);
    pthread_getaffinity_np(pthread_self(), sizeof(w->mask), &w->mask);
}

struct count {
    struct event_base *base;
    int back, want;
};

static void count_deliver(struct task *t, void *arg)
{
    (void)t;
    struct count *c = arg;
    if (++c->back == c->want)
        event_base_loopexit(c->base, NULL);
}

#define PIN_THREADS 4
#define PIN_TASKS 64

static void test_threads_start_pinned(void **state)
{
    (void)state;
    cpu_set_t mine;
    assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
    int core = -1;
    for (int i = 0; i < CPU_SETSIZE && core < 0; i++)
        if (CPU_ISSET(i, &mine))
            core = i;
    struct count c = {.base = event_base_new(), .want = PIN_TASKS};
    struct handoff *h = handoff_new(c.base, count_deliver, &c);
    char err[128];
    atomic_store(&seen_unpinned, 0);
    struct cpupool *p = cpupool_new(PIN_THREADS, &core, 1, h, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(atomic_load(&seen_unpinned), 0);
    struct where ws[PIN_TASKS];
    for (int i = 0; i < PIN_TASKS; i++) {
        ws[i].task.run = where_work;
        cpupool_submit(p, &ws[i].task, &ws[i].task, 1);
    }
    struct timeval limit = {30, 0};
    event_base_loopexit(c.base, &limit);
    event_base_dispatch(c.base);
    assert_int_equal(c.back, PIN_TASKS);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(core, &one);
    for (int i = 0; i < PIN_TASKS; i++)
        assert_true(CPU_EQUAL(&ws[i].mask, &one));
    cpupool_free(p);
    handoff_free(h);
    event_base_free(c.base);
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
        cmocka_unit_test(test_slow_task_holds_nothing_back),
        cmocka_unit_test(test_threads_start_pinned),
        cmocka_unit_test(test_bad_core_is_reported),
    };
    return cmocka_run_group_tests_name("cpupool", tests, NULL, NULL);
}
