/* Completion handoff (see handoff.h). */
#include "handoff.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xalloc.h"

struct handoff {
    pthread_mutex_t mu;
    struct task *head, *tail;
    int efd;
    struct event *ev;
    void (*deliver)(struct task *, void *);
    void *arg;
    unsigned long wakeups; /* loop thread only */
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct handoff *h = arg;
    uint64_t n;
    (void)what;
    ssize_t r = read(fd, &n, sizeof(n));
    (void)r;
    h->wakeups++;
    pthread_mutex_lock(&h->mu);
    struct task *t = h->head;
    h->head = h->tail = NULL;
    pthread_mutex_unlock(&h->mu);
    while (t) {
        struct task *next = t->next;
        t->next = NULL;
        h->deliver(t, h->arg);
        t = next;
    }
}

struct handoff *handoff_new(struct event_base *base,
                            void (*deliver)(struct task *, void *), void *arg)
{
    struct handoff *h = xcalloc(1, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        free(h);
        return NULL;
    }
    h->deliver = deliver;
    h->arg = arg;
    h->ev = event_new(base, h->efd, EV_READ | EV_PERSIST, on_wake, h);
    event_add(h->ev, NULL);
    return h;
}

void handoff_free(struct handoff *h)
{
    if (!h)
        return;
    event_free(h->ev);
    close(h->efd);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void handoff_push(struct handoff *h, struct task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&h->mu);
    int was_empty = h->head == NULL;
    if (h->tail)
        h->tail->next = t;
    else
        h->head = t;
    h->tail = t;
    pthread_mutex_unlock(&h->mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t r = write(h->efd, &one, sizeof(one));
        (void)r;
    }
}

unsigned long handoff_wakeups(const struct handoff *h)
{
    return h->wakeups;
}
