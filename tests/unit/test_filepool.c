/* The file helper pool: an offloaded request runs on a helper thread and
 * comes back once on the loop; a request whose attempt ended while it ran
 * comes back with no context (only to be freed), so a thread never writes
 * into a context that serves another job; the pool's end releases what
 * is still out. Run under ThreadSanitizer by tests/run.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filepool.h"
#include "jobctx.h"

/* Generous: a sanitizer build under load is slow, but never this slow. */
#define DEADLINE_S 20

/* What a handler would hand to jobq_offload. The gate holds run on the
 * thread until the test opens it. */
struct req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int ran;       /* written on the helper thread */
    char buf[64];  /* the answer the thread writes */
    int delivered; /* loop thread */
    jobq_ctx *got;
    pthread_t loop;
    int wrong_thread;
};

static int done_calls;

static void req_init(struct req *r, int open)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->open = open;
    r->loop = pthread_self();
}

static void req_open(struct req *r)
{
    pthread_mutex_lock(&r->mu);
    r->open = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void run(void *arg)
{
    struct req *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->open)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    strcpy(r->buf, "written on the helper thread");
    r->ran = 1;
}

static void done(jobq_ctx *ctx, void *arg)
{
    struct req *r = arg;
    r->delivered++;
    r->got = ctx;
    r->wrong_thread |= !pthread_equal(pthread_self(), r->loop);
    done_calls++;
}

/* Runs the loop until n requests came back, or fails at the deadline. */
static void wait_done(struct event_base *base, int n)
{
    time_t end = time(NULL) + DEADLINE_S;
    while (done_calls < n && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(done_calls, n);
}

static struct filepool *pool(struct event_base *base, unsigned n)
{
    char err[128] = "";
    struct filepool *fp = filepool_new(base, n, err, sizeof(err));
    if (!fp)
        fail_msg("filepool_new: %s", err);
    return fp;
}

static void test_filepool_answer_reaches_running_attempt(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct filepool *fp = pool(base, 2);
    struct jobq_ctx ctx = {0};
    struct req r;
    req_init(&r, 1);
    done_calls = 0;
    assert_int_equal(filepool_submit(fp, &ctx, run, done, &r), JOBQ_OK);
    wait_done(base, 1);
    assert_int_equal(r.ran, 1);
    assert_int_equal(r.delivered, 1);
    assert_ptr_equal(r.got, &ctx);
    assert_int_equal(r.wrong_thread, 0);
    assert_null(ctx.ops); /* untied once answered */
    assert_int_equal(filepool_outstanding(fp), 0);
    filepool_free(fp);
    event_base_free(base);
}

static void test_filepool_ended_attempt_gets_no_answer(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct filepool *fp = pool(base, 1);
    struct jobq_ctx ctx = {0};
    struct req r;
    req_init(&r, 0);
    done_calls = 0;
    assert_int_equal(filepool_submit(fp, &ctx, run, done, &r), JOBQ_OK);
    /* One request per attempt at a time. */
    struct req r2;
    req_init(&r2, 1);
    assert_int_equal(filepool_submit(fp, &ctx, run, done, &r2), JOBQ_EBUSY);
    /* The time limit passes while the thread is still inside run. */
    jobctx_end_ops(&ctx);
    assert_null(ctx.ops);
    req_open(&r);
    wait_done(base, 1);
    assert_int_equal(r.ran, 1);
    assert_int_equal(r.delivered, 1);
    assert_null(r.got); /* released only: the attempt is over */
    /* The context serves a new attempt: a request of its own is fine. */
    assert_int_equal(filepool_submit(fp, &ctx, run, done, &r2), JOBQ_OK);
    wait_done(base, 2);
    assert_ptr_equal(r2.got, &ctx);
    filepool_free(fp);
    event_base_free(base);
}

static void test_filepool_free_releases_what_is_out(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct filepool *fp = pool(base, 1);
    struct jobq_ctx a = {0}, b = {0};
    struct req ra, rb;
    req_init(&ra, 0);
    req_init(&rb, 1);
    done_calls = 0;
    assert_int_equal(filepool_submit(fp, &a, run, done, &ra), JOBQ_OK);
    /* Queued behind ra on the one thread. */
    assert_int_equal(filepool_submit(fp, &b, run, done, &rb), JOBQ_OK);
    assert_int_equal(filepool_outstanding(fp), 2);
    req_open(&ra);
    /* No loop turn: whatever ran sits in the handoff, the rest was never
     * taken; both are released once, without their contexts. */
    filepool_free(fp);
    assert_int_equal(done_calls, 2);
    assert_int_equal(ra.delivered, 1);
    assert_int_equal(rb.delivered, 1);
    assert_null(ra.got);
    assert_null(rb.got);
    assert_null(a.ops);
    assert_null(b.ops);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filepool_answer_reaches_running_attempt),
        cmocka_unit_test(test_filepool_ended_attempt_gets_no_answer),
        cmocka_unit_test(test_filepool_free_releases_what_is_out),
    };
    return cmocka_run_group_tests_name("filepool", tests, NULL, NULL);
}
