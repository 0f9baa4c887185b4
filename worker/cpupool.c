/* Thread pool (see cpupool.h): one mutex-and-condition submit queue
 * shared by the threads, completions through the handoff. Threads take
 * one task at a time, so a long job never holds short ones back from an
 * idle thread. */
#include "cpupool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct cpupool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task *head, *tail;
    int stopping;
    unsigned idle;    /* threads waiting on cv */
    atomic_uint busy; /* threads running a task: read by the metrics */
    struct handoff *done;
    unsigned n;
    pthread_t *threads;
};

static void *thread_main(void *arg)
{
    struct cpupool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        struct task *t = p->head;
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add_explicit(&p->busy, 1, memory_order_relaxed);
        t->run(t);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_relaxed);
        handoff_push(p->done, t);
    }
}

/* Starts thread i, pinned to its core from birth when cpus are given.
 * With the affinity in the attributes, glibc holds the new thread until
 * it has set the mask, so the thread never runs an instruction on another
 * core. Pinned after pthread_create, it ran unpinned until the call. What no
 * library can remove: the kernel starts a thread with its creator's mask, so
 * /proc shows it that way for the two system calls between clone and
 * sched_setaffinity. */
static int start_thread(struct cpupool *p, unsigned i, const int *cpus,
                        int ncpus, char *err, size_t errlen)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start thread: %s", strerror(rc));
        return -1;
    }
    bool pin = ncpus > 0;
    int core = pin ? cpus[i % (unsigned)ncpus] : -1;
    if (pin && (core < 0 || core >= CPU_SETSIZE)) {
        rc = EINVAL; /* CPU_SET would leave the set empty without a word */
    } else if (pin) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(core, &set);
        rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    }
    if (rc == 0)
        rc = pthread_create(&p->threads[i], &attr, thread_main, p);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return 0;
    /* With a core asked for, EINVAL is the kernel refusing it (offline,
     * outside our cpuset, or beyond the machine). */
    if (pin && rc == EINVAL)
        snprintf(err, errlen, "cannot pin thread to core %d: %s", core,
                 strerror(rc));
    else
        snprintf(err, errlen, "cannot start thread: %s", strerror(rc));
    return -1;
}

struct cpupool *cpupool_new(unsigned nthreads, const int *cpus, int ncpus,
                            struct handoff *done, char *err, size_t errlen)
{
    struct cpupool *p = xcalloc(1, sizeof(*p));
    p->threads = xcalloc(nthreads, sizeof(*p->threads));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->done = done;
    for (unsigned i = 0; i < nthreads; i++) {
        if (start_thread(p, i, cpus, ncpus, err, errlen) != 0) {
            cpupool_free(p);
            return NULL;
        }
        p->n = i + 1;
    }
    return p;
}

void cpupool_submit(struct cpupool *p, struct task *first, struct task *last,
                    unsigned n)
{
    last->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = first;
    else
        p->head = first;
    p->tail = last;
    /* Busy threads come back for more by themselves; a wake-up is a
     * futex call here and a context switch there, which costs more than
     * a microsecond job. */
    if (p->idle && n >= p->idle)
        pthread_cond_broadcast(&p->cv);
    else
        for (unsigned i = 0; i < n && i < p->idle; i++)
            pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void cpupool_free(struct cpupool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

unsigned cpupool_busy(const struct cpupool *p)
{
    return atomic_load_explicit(&((struct cpupool *)p)->busy,
                                memory_order_relaxed);
}
