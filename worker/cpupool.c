/* Thread pool (see cpupool.h): one mutex-and-condition submit queue
 * shared by the threads, completions through the handoff. Threads take
 * one task at a time, so a long job never holds short ones back from an
 * idle thread. */
#include "cpupool.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cpupool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task *head, *tail;
    int stopping;
    unsigned idle; /* threads waiting on cv */
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
        t->run(t);
        handoff_push(p->done, t);
    }
}

struct cpupool *cpupool_new(unsigned nthreads, const int *cpus, int ncpus,
                            struct handoff *done, char *err, size_t errlen)
{
    struct cpupool *p = calloc(1, sizeof(*p));
    p->threads = calloc(nthreads, sizeof(*p->threads));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->done = done;
    for (unsigned i = 0; i < nthreads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, thread_main, p);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start thread: %s", strerror(rc));
            p->n = i;
            cpupool_free(p);
            return NULL;
        }
        p->n = i + 1;
        if (ncpus > 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpus[i % (unsigned)ncpus], &set);
            rc = pthread_setaffinity_np(p->threads[i], sizeof(set), &set);
            if (rc != 0) {
                snprintf(err, errlen, "cannot pin thread to core %d: %s",
                         cpus[i % (unsigned)ncpus], strerror(rc));
                cpupool_free(p);
                return NULL;
            }
        }
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
