/* The worker's loop modules (fetch, dispatch, finish) against a fake
 * Redis: what each sends, and what each does with the replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dispatch.h"
#include "fake_redis.h"
#include "fetch.h"
#include "finish.h"
#include "jobctx.h"
#include "log.h"
#include "worker_fixture.h"

/* Per-test state. */
static int setup(void **state)
{
    *state = fx_new();
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Frames kept for the length of a test, so their bytes can be compared
 * with what the modules send. */
#define MAXF 16
struct frames {
    msgpack_sbuffer sb[MAXF];
    const char *p[MAXF];
    size_t len[MAXF];
    size_t n;
};

static void frames_add(struct frames *f, const char *id, const char *type,
                       const char *argk, uint64_t argv, const char *reply_to,
                       unsigned attempt)
{
    assert_true(f->n < MAXF);
    msgpack_sbuffer *sb = &f->sb[f->n];
    msgpack_sbuffer_init(sb);
    fx_frame(sb, id, type, argk, argv, reply_to, attempt);
    f->p[f->n] = sb->data;
    f->len[f->n] = sb->size;
    f->n++;
}

static void frames_free(struct frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        msgpack_sbuffer_destroy(&f->sb[i]);
    f->n = 0;
}

/* A CPU job quick to run. */
static void add_cpu(struct frames *f, const char *id)
{
    frames_add(f, id, "math.sum_squares", "n", 100, NULL, 0);
}

static struct dispatch_load load(struct fx *fx)
{
    struct dispatch_load l;
    dispatch_load(fx->w.dispatch, &l);
    return l;
}

static void assert_script(const struct fake_call *c, enum script_id id)
{
    if (!c)
        fail_msg("no call pending, wanted %s", script_name(id));
    if (c->kind != FAKE_SCRIPT || c->script != id)
        fail_msg("next call is %s, wanted %s",
                 c->kind == FAKE_SCRIPT ? script_name(c->script)
                 : c->kind == FAKE_CMD  ? c->argv[0]
                                        : "a blocking command",
                 script_name(id));
}

static void assert_arg(const struct fake_call *c, int i, const char *want)
{
    if (!fake_arg_is(c, i, want))
        fail_msg("argument %d is \"%.*s\", wanted \"%s\"", i,
                 i < c->argc ? (int)c->lens[i] : 0,
                 i < c->argc ? c->argv[i] : "", want);
}

/* The calls out, taken at the tick, from idle. */
static void tick(struct fx *fx)
{
    worker_wake(&fx->w);
    fx_run_idle(fx);
}

static void reply_empty(struct fake_call *c)
{
    fake_reply(c, fake_rep_array(0, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* fetch */

static void test_fetch_idle_worker_takes_cpu_room_from_first_queue(void **state)
{
    struct fx *fx = *state;
    struct wqueue *qa = &fx->w.q[0];
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_int_equal(c->nkeys, 4);
    assert_int_equal(c->argc, 9);
    assert_arg(c, 0, qa->keys.pending);
    assert_arg(c, 1, qa->keys.active);
    assert_arg(c, 2, qa->keys.dead);
    assert_arg(c, 3, qa->keys.stats);
    struct dispatch_load l = load(fx);
    char want[16];
    snprintf(want, sizeof(want), "%u", l.cpu_slots - l.cpu_inflight);
    assert_arg(c, 4, want);
    assert_arg(c, 6, FX_WID);
    /* One round at a time. */
    assert_int_equal(fake_pending(), 1);
    assert_false(fetch_idle(fx->w.fetch));
}

static void test_fetch_take_reply_frames_reach_dispatch(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    add_cpu(&f, "j1");
    add_cpu(&f, "j2");
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    fake_reply(c, fake_rep_array(f.n, f.p, f.len));
    assert_int_equal(jobs_live(fx->w.jobs), 2);
    assert_int_equal(load(fx).cpu_inflight, 2);
    frames_free(&f);
}

static void test_fetch_empty_takes_block_on_every_queue(void **state)
{
    struct fx *fx = *state;
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[0].keys.pending);
    reply_empty(c);
    c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[1].keys.pending);
    reply_empty(c);
    assert_int_equal(fake_pending(), 2);
    for (int i = 0; i < 2; i++) {
        c = fake_nth((unsigned)i);
        assert_int_equal(c->kind, FAKE_BLOCKING);
        assert_int_equal(c->slot, fx->w.q[i].index);
        assert_int_equal(c->argc, 6);
        assert_arg(c, 0, "BLMOVE");
        assert_arg(c, 1, fx->w.q[i].keys.pending);
        assert_arg(c, 2, fx->w.q[i].keys.active);
        assert_arg(c, 3, "RIGHT");
        assert_arg(c, 4, "LEFT");
        assert_true(c->block_ms > 0 && c->block_ms <= FETCH_BLOCK_MS);
    }
    assert_false(fetch_idle(fx->w.fetch));
}

/* A TAKE on qa answered with CPU frames up to the CPU window. */
static void fill_cpu_window(struct fx *fx, struct frames *f)
{
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[0].keys.pending);
    unsigned slots = load(fx).cpu_slots;
    for (unsigned i = 0; i < slots; i++) {
        char id[16];
        snprintf(id, sizeof(id), "cpu%u", i);
        add_cpu(f, id);
    }
    fake_reply(c, fake_rep_array(f->n, f->p, f->len));
    struct dispatch_load l = load(fx);
    assert_int_equal(l.cpu_inflight, l.cpu_slots);
}

static void test_fetch_full_cpu_window_picks_io_frames(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    fill_cpu_window(fx, &f);
    /* The TAKE filled the window: the next round starts again at qa,
     * with only io room. */
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_PICK);
    assert_int_equal(c->nkeys, 2);
    assert_arg(c, 0, fx->w.q[0].keys.pending);
    assert_arg(c, 1, fx->w.q[0].keys.active);
    char want[16];
    struct dispatch_load l = load(fx);
    snprintf(want, sizeof(want), "%u", l.io_slots - l.io_inflight);
    assert_arg(c, 2, want);
    /* The walk budget for the frames looked at, then every io type
     * served, in registry order ("sleep" among them). */
    char walks[16];
    snprintf(walks, sizeof(walks), "%d",
             FETCH_PICK_SCAN * FETCH_PICK_WALK_PER_FRAME);
    assert_arg(c, 6, walks);
    int k = 7;
    for (int i = 0; i < fx->w.reg.n; i++)
        if (fx->w.reg.h[i].cls == JOBQ_CLASS_IO)
            assert_arg(c, k++, fx->w.reg.h[i].type);
    assert_int_equal(c->argc, k);
    assert_non_null(registry_find(&fx->w.reg, "sleep", 5));
    assert_int_equal(fake_pending(), 1);
    frames_free(&f);
}

static void test_fetch_pick_miss_backs_off_that_queue(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    fill_cpu_window(fx, &f);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_PICK);
    assert_arg(c, 0, fx->w.q[0].keys.pending);
    /* No io frame among qa's oldest, 5 frames left in its pending. */
    fake_reply(c, fake_rep_array_int(0, NULL, NULL, 5));
    /* qa's gate is closed: the round goes on to qb. */
    c = fake_next();
    assert_script(c, SCRIPT_PICK);
    assert_arg(c, 0, fx->w.q[1].keys.pending);
    assert_int_equal(fake_pending(), 1);
    fake_reply(c, fake_rep_array_int(0, NULL, NULL, 3));
    /* Both missed, neither is empty: no PICK, no BLMOVE right away. */
    assert_int_equal(fake_pending(), 0);
    fetch_refill(fx->w.fetch);
    assert_int_equal(fake_pending(), 0);
    frames_free(&f);
}

static void test_fetch_take_error_sets_queue_aside_and_serves_next(void **state)
{
    struct fx *fx = *state;
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[0].keys.pending);
    fake_reply(c, fake_rep_error("WRONGTYPE Operation against a key holding "
                                 "the wrong kind of value"));
    /* The same round goes on to qb. */
    c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[1].keys.pending);
    reply_empty(c);
    /* qb is empty: it waits on qb alone, qa being aside. */
    assert_int_equal(fake_pending(), 1);
    c = fake_next();
    assert_int_equal(c->kind, FAKE_BLOCKING);
    assert_arg(c, 1, fx->w.q[1].keys.pending);
    /* Nor does a later round take from qa while it is aside. */
    tick(fx);
    for (c = fake_next(); c; c = c->next)
        assert_false(fake_arg_is(c, 0, fx->w.q[0].keys.pending) ||
                     fake_arg_is(c, 1, fx->w.q[0].keys.pending));
}

static void
test_fetch_lost_take_reply_returns_orphans_before_taking(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    add_cpu(&f, "held");
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    fake_reply(c, fake_rep_array(1, f.p, f.len));
    /* The round goes on to qb; that reply is lost with the connection. */
    c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    assert_arg(c, 0, fx->w.q[1].keys.pending);
    fake_set_ready(false);
    fake_drop(c);
    tick(fx);
    assert_int_equal(fake_pending(), 0);
    /* Back: each queue's orphans go back before anything is taken. */
    fake_set_ready(true);
    fetch_on_ready(fx->w.fetch);
    assert_int_equal(fake_pending(), 2);
    for (int i = 0; i < 2; i++) {
        c = fake_nth((unsigned)i);
        assert_script(c, SCRIPT_ORPHANS);
        assert_int_equal(c->nkeys, 2);
        assert_arg(c, 0, fx->w.q[i].keys.active);
        assert_arg(c, 1, fx->w.q[i].keys.pending);
    }
    /* qa's names the frame this worker holds, so it stays; qb's none. */
    c = fake_nth(0);
    assert_int_equal(c->argc, 3);
    assert_true(fake_arg_is_bytes(c, 2, f.p[0], f.len[0]));
    assert_int_equal(fake_nth(1)->argc, 2);
    tick(fx);
    assert_int_equal(fake_pending_script(SCRIPT_TAKE), 0);
    fake_reply(fake_next(), fake_rep_integer(0));
    assert_int_equal(fake_pending_script(SCRIPT_TAKE), 0);
    fake_reply(fake_next(), fake_rep_integer(2));
    /* Reconciled: taking again. */
    assert_non_null(fake_find_script(SCRIPT_TAKE));
    frames_free(&f);
}

/* A lost BLMOVE reply sets reconcile_wanted while redis_ready() (the
 * command connection) stays up: the next tick must send ORPHANS, never a
 * TAKE first (fetch.h). Was a bug: kick() looked only at reconciling. */
static void
test_fetch_lost_blmove_reply_returns_orphans_before_taking(void **state)
{
    struct fx *fx = *state;
    tick(fx);
    reply_empty(fake_next());
    reply_empty(fake_next());
    struct fake_call *c = fake_next();
    assert_int_equal(c->kind, FAKE_BLOCKING);
    /* qa's blocking connection drops; the command connection stays up. */
    fake_drop(c);
    tick(fx);
    if (fake_find_script(SCRIPT_TAKE))
        fail_msg("a TAKE went out before the ORPHANS script");
}

/* A reconcile asked for while a take round is out runs once the round
 * is over, even under a backlog (no BLMOVE reply to take it up). Was a
 * bug: take_done went on taking, and the frames whose take reply was lost
 * stayed in this worker's active list. */
static void test_fetch_reconcile_put_off_by_a_take_runs_after_it(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    frames_add(&f, "nap", "sleep", "ms", 0, NULL, 0);
    tick(fx);
    struct fake_call *c = fake_next();
    assert_script(c, SCRIPT_TAKE);
    /* Redis is back after a drop elsewhere while this take is out. */
    fake_fire_ready();
    assert_int_equal(fake_pending_script(SCRIPT_ORPHANS), 0);
    /* A backlog of io jobs: every TAKE brings a frame and every FINISH
     * lands, so no queue is ever empty (no BLMOVE) and the CPU window is
     * never full (no PICK). */
    uint64_t until = clock_mono_ms() + 600;
    while (!fake_find_script(SCRIPT_ORPHANS) && clock_mono_ms() < until) {
        if ((c = fake_find_script(SCRIPT_TAKE)))
            fake_reply(c, fake_rep_array(1, f.p, f.len));
        while ((c = fake_find_script(SCRIPT_FINISH))) {
            char ok[FINISH_BATCH_MAX];
            size_t n = (size_t)(c->nkeys - FINISH_FIXED_KEYS) / 2;
            memset(ok, '1', n);
            fake_reply(c, fake_rep_string(ok, n));
        }
        assert_null(fake_find_kind(FAKE_BLOCKING));
        assert_null(fake_find_script(SCRIPT_PICK));
        struct timeval tv = {0, 20000};
        event_base_loopexit(fx->w.base, &tv);
        event_base_loop(fx->w.base, EVLOOP_ONCE);
    }
    bool reconciled = fake_find_script(SCRIPT_ORPHANS) != NULL;
    frames_free(&f);
    if (!reconciled)
        fail_msg("the reconcile put off by a take did not run in 600 ms "
                 "of taking");
}

/* ------------------------------------------------------------------ */
/* dispatch */

/* Unpacks argument i of c as one msgpack value. */
static void unpack_arg(const struct fake_call *c, int i, msgpack_unpacked *un)
{
    assert_true(i < c->argc);
    size_t off = 0;
    msgpack_unpacked_init(un);
    assert_int_equal(msgpack_unpack_next(un, c->argv[i], c->lens[i], &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, c->lens[i]);
}

static const msgpack_object *get(const msgpack_object *map, const char *k)
{
    const msgpack_object *o = mp_map_get(map, k);
    if (!o)
        fail_msg("record has no %s", k);
    return o;
}

static bool str_has(const msgpack_object *o, const char *s)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return false;
    return memmem(o->via.str.ptr, o->via.str.size, s, strlen(s)) != NULL;
}

/* Offsets in a FINISH call of one outcome (finish.lua's layout). */
enum {
    F_KEYS = FINISH_FIXED_KEYS,
    F1_RESULT_KEY = F_KEYS,
    F1_REPLY_TO,
    F1_EVENTS,
    F1_TTL,
    F1_DEADMAX,
    F1_KIND,
    F1_FRAME,
    F1_DATA, /* the kind's first field */
};

static struct fake_call *wait_finish(struct fx *fx)
{
    if (!fx_run_until_script(fx, SCRIPT_FINISH, 5000))
        fail_msg("no FINISH call within 5 s");
    return fake_find_script(SCRIPT_FINISH);
}

static void test_dispatch_frame_not_msgpack_is_dead_with_its_bytes(void **state)
{
    struct fx *fx = *state;
    static const char junk[] = "\xc1 not msgpack";
    dispatch_frame(fx->w.dispatch, &fx->w.q[0], junk, sizeof(junk) - 1);
    struct fake_call *c = wait_finish(fx);
    assert_int_equal(c->nkeys, F_KEYS + 2);
    assert_arg(c, F1_RESULT_KEY, "");
    assert_arg(c, F1_KIND, "dead");
    assert_true(fake_arg_is_bytes(c, F1_FRAME, junk, sizeof(junk) - 1));
    msgpack_unpacked un;
    unpack_arg(c, F1_DATA, &un);
    const msgpack_object *fr = get(&un.data, "frame");
    assert_int_equal(fr->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(fr->via.bin.size, sizeof(junk) - 1);
    assert_memory_equal(fr->via.bin.ptr, junk, sizeof(junk) - 1);
    assert_true(str_has(get(&un.data, "error"), "not msgpack"));
    assert_true(mp_str_eq(get(&un.data, "worker"), FX_WID));
    msgpack_unpacked_destroy(&un);
    /* No result record for a job that never decoded. */
    assert_int_equal(c->lens[F1_DATA + 1], 0);
}

static void test_dispatch_unknown_type_retries(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    frames_add(&f, "u1", "no.such.type", NULL, 0, NULL, 0);
    dispatch_frame(fx->w.dispatch, &fx->w.q[0], f.p[0], f.len[0]);
    struct fake_call *c = wait_finish(fx);
    assert_arg(c, F1_KIND, "retry");
    /* The retry frame: the same job, attempt 1, the error. */
    struct frame fr = {0};
    char err[256];
    assert_int_equal(frame_decode(c->argv[F1_DATA], c->lens[F1_DATA],
                                  &fx->w.lim, &fr, err, sizeof(err)),
                     0);
    assert_int_equal(fr.attempt, 1);
    const char want[] = "unknown handler: no.such.type";
    assert_int_equal(fr.error.len, strlen(want));
    assert_memory_equal(fr.error.ptr, want, strlen(want));
    frame_free(&fr);
    /* Then its due time and its event. */
    assert_true(strtoull(c->argv[F1_DATA + 1], NULL, 10) > 0);
    msgpack_unpacked un;
    unpack_arg(c, F1_DATA + 2, &un);
    assert_true(mp_str_eq(get(&un.data, "status"), "retry"));
    assert_true(str_has(get(&un.data, "error"), want));
    msgpack_unpacked_destroy(&un);
    frames_free(&f);
}

static void test_dispatch_redelivered_ok_job_is_skipped_unrun(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    frames_add(&f, "again", "math.sum_squares", "n", 100, NULL, 1);
    dispatch_frame(fx->w.dispatch, &fx->w.q[0], f.p[0], f.len[0]);
    /* Its result is looked up before anything runs. */
    struct fake_call *c = fake_find_kind(FAKE_CMD);
    assert_non_null(c);
    assert_int_equal(c->argc, 2);
    assert_arg(c, 0, "GET");
    char key[KEYS_MAX];
    keys_result(&fx->w.q[0].keys, "again", 5, key, sizeof(key));
    assert_arg(c, 1, key);
    struct dispatch_load l = load(fx);
    assert_int_equal(l.checking, 1);
    assert_int_equal(l.cpu_inflight, 0);
    /* It already finished ok. */
    msgpack_sbuffer rec;
    msgpack_sbuffer_init(&rec);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &rec, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mp_pack_cstr(&pk, "id");
    mp_pack_cstr(&pk, "again");
    mp_pack_cstr(&pk, "status");
    mp_pack_cstr(&pk, "ok");
    fake_reply(c, fake_rep_string(rec.data, rec.size));
    msgpack_sbuffer_destroy(&rec);
    l = load(fx);
    assert_int_equal(l.checking, 0);
    assert_int_equal(l.cpu_inflight, 0);
    c = wait_finish(fx);
    assert_int_equal(c->nkeys, F_KEYS + 2);
    assert_arg(c, F1_RESULT_KEY, key);
    assert_arg(c, F1_KIND, "skip");
    assert_true(fake_arg_is_bytes(c, F1_FRAME, f.p[0], f.len[0]));
    assert_int_equal(c->argc, F1_FRAME + 1); /* skip carries nothing more */
    assert_int_equal(dispatch_rechecks(fx->w.dispatch), 1);
    /* The handler never ran: nothing went to the pool. */
    assert_int_equal(load(fx).cpu_inflight, 0);
    frames_free(&f);
}

static void test_dispatch_sleep_zero_completes_on_loop_ok(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    frames_add(&f, "nap", "sleep", "ms", 0, NULL, 0);
    dispatch_frame(fx->w.dispatch, &fx->w.q[0], f.p[0], f.len[0]);
    struct dispatch_load l = load(fx);
    assert_int_equal(l.io_inflight, 1);
    assert_int_equal(l.cpu_inflight, 0);
    struct fake_call *c = wait_finish(fx);
    assert_int_equal(load(fx).io_inflight, 0);
    assert_arg(c, F1_KIND, "ok");
    msgpack_unpacked un;
    unpack_arg(c, F1_DATA, &un);
    assert_true(mp_str_eq(get(&un.data, "status"), "ok"));
    assert_true(mp_str_eq(get(&un.data, "id"), "nap"));
    const msgpack_object *res = get(&un.data, "result");
    assert_int_equal(res->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(res->via.map.size, 1);
    const msgpack_object *ms = get(res, "slept_ms");
    assert_int_equal(ms->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(ms->via.u64, 0);
    msgpack_unpacked_destroy(&un);
    frames_free(&f);
}

/* ------------------------------------------------------------------ */
/* finish */

/* Three outcomes settled on qa in one turn: two unknown types (retry, one
 * with a reply_to) and a dead frame. Returns their FINISH call. */
static struct fake_call *three_outcomes(struct fx *fx, struct frames *f)
{
    frames_add(f, "r1", "no.such", NULL, 0, "client:replies", 0);
    frames_add(f, "r2", "no.such", NULL, 0, NULL, 0);
    frames_add(f, "bad", "x", NULL, 0, NULL, 0);
    f->len[2] = 3; /* truncated: dead */
    for (size_t i = 0; i < 3; i++)
        dispatch_frame(fx->w.dispatch, &fx->w.q[0], f->p[i], f->len[i]);
    assert_int_equal(jobs_live(fx->w.jobs), 3);
    assert_int_equal(finish_held(fx->w.finish), 3);
    return wait_finish(fx);
}

static void test_finish_one_script_per_queue_per_tick(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    struct fake_call *c = three_outcomes(fx, &f);
    assert_int_equal(fake_pending_script(SCRIPT_FINISH), 1);
    struct wqueue *q = &fx->w.q[0];
    int n = 3;
    assert_int_equal(c->nkeys, FINISH_FIXED_KEYS + 2 * n);
    assert_arg(c, 0, q->keys.active);
    assert_arg(c, 1, q->keys.pending);
    assert_arg(c, 2, q->keys.delayed);
    assert_arg(c, 3, q->keys.dead);
    assert_arg(c, 4, q->keys.stats);
    char key[KEYS_MAX];
    keys_result(&q->keys, "r1", 2, key, sizeof(key));
    assert_arg(c, 5, key);
    keys_result(&q->keys, "r2", 2, key, sizeof(key));
    assert_arg(c, 6, key);
    assert_arg(c, 7, ""); /* the dead frame has no job id */
    assert_arg(c, 8, "client:replies");
    assert_arg(c, 9, "");
    assert_arg(c, 10, "");
    int a = FINISH_FIXED_KEYS + 2 * n;
    assert_arg(c, a++, q->keys.events);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, fx->s.result_ttl_s * 1000);
    assert_arg(c, a++, ttl);
    char deadmax[24];
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, fx->s.dead_max);
    assert_arg(c, a++, deadmax);
    /* Per outcome, in the order they settled: kind, frame, fields. */
    assert_arg(c, a, "retry");
    assert_true(fake_arg_is_bytes(c, a + 1, f.p[0], f.len[0]));
    a += 5;
    assert_arg(c, a, "retry");
    assert_true(fake_arg_is_bytes(c, a + 1, f.p[1], f.len[1]));
    a += 5;
    assert_arg(c, a, "dead");
    assert_true(fake_arg_is_bytes(c, a + 1, f.p[2], f.len[2]));
    a += 6;
    assert_int_equal(c->argc, a);

    /* An outcome on qb goes in a call of its own. */
    dispatch_frame(fx->w.dispatch, &fx->w.q[1], "\xc1", 1);
    tick(fx);
    assert_int_equal(fake_pending_script(SCRIPT_FINISH), 2);
    frames_free(&f);
}

static void test_finish_error_reply_breaks_queue_and_holds_batch(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    struct fake_call *c = three_outcomes(fx, &f);
    fake_reply(c, fake_rep_error("WRONGTYPE Operation against a key holding "
                                 "the wrong kind of value"));
    assert_true(finish_queue_broken(fx->w.finish, 0));
    assert_false(finish_queue_broken(fx->w.finish, 1));
    assert_int_equal(finish_held(fx->w.finish), 3);
    /* Held apart from the backlog that pauses fetching. */
    assert_int_equal(finish_backlog(fx->w.finish), 0);
    assert_int_equal(jobs_live(fx->w.jobs), 3);
    /* Not re-sent at the next tick. */
    tick(fx);
    assert_int_equal(fake_pending_script(SCRIPT_FINISH), 0);
    struct finish_counts n;
    finish_counts(fx->w.finish, &n);
    assert_int_equal(n.retry + n.dead + n.ok + n.late + n.skip, 0);
    frames_free(&f);
}

/* A copy of a call's arguments. */
struct args {
    int argc, nkeys;
    char **argv;
    size_t *lens;
};

static void args_copy(struct args *a, const struct fake_call *c)
{
    a->argc = c->argc;
    a->nkeys = c->nkeys;
    a->argv = calloc((size_t)c->argc, sizeof(*a->argv));
    a->lens = calloc((size_t)c->argc, sizeof(*a->lens));
    for (int i = 0; i < c->argc; i++) {
        a->argv[i] = malloc(c->lens[i] + 1);
        memcpy(a->argv[i], c->argv[i], c->lens[i] + 1);
        a->lens[i] = c->lens[i];
    }
}

static void args_free(struct args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a->lens);
}

static void test_finish_refused_batch_is_resent_and_lands(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    struct fake_call *c = three_outcomes(fx, &f);
    struct args first;
    args_copy(&first, c);
    uint64_t t0 = clock_mono_ms();
    fake_reply(c, fake_rep_error("ERR something"));
    assert_int_equal(fake_pending_script(SCRIPT_FINISH), 0);
    c = wait_finish(fx);
    uint64_t waited = clock_mono_ms() - t0;
    /* Not before FINISH_RETRY_MS (a ms of timer slack allowed). */
    assert_true(waited + 1 >= FINISH_RETRY_MS);
    /* The same batch, byte for byte. */
    assert_int_equal(c->argc, first.argc);
    assert_int_equal(c->nkeys, first.nkeys);
    for (int i = 0; i < c->argc; i++)
        if (!fake_arg_is_bytes(c, i, first.argv[i], first.lens[i]))
            fail_msg("argument %d differs when re-sent", i);
    args_free(&first);
    fake_reply(c, fake_rep_string("111", 3));
    assert_false(finish_queue_broken(fx->w.finish, 0));
    assert_int_equal(finish_held(fx->w.finish), 0);
    assert_int_equal(jobs_live(fx->w.jobs), 0);
    struct finish_counts n;
    finish_counts(fx->w.finish, &n);
    assert_int_equal(n.retry, 2);
    assert_int_equal(n.dead, 1);
    assert_int_equal(n.ok + n.late + n.skip, 0);
    frames_free(&f);
}

static void test_finish_fenced_outcome_counts_late(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    struct fake_call *c = three_outcomes(fx, &f);
    /* The second was recovered by another worker; the first landed but
     * its reply_to could not be pushed. */
    fake_reply(c, fake_rep_string("r01", 3));
    assert_int_equal(jobs_live(fx->w.jobs), 0);
    assert_int_equal(finish_held(fx->w.finish), 0);
    struct finish_counts n;
    finish_counts(fx->w.finish, &n);
    assert_int_equal(n.late, 1);
    assert_int_equal(n.retry, 1);
    assert_int_equal(n.dead, 1);
    frames_free(&f);
}

static void test_finish_reply_of_wrong_length_holds_batch(void **state)
{
    struct fx *fx = *state;
    struct frames f = {0};
    struct fake_call *c = three_outcomes(fx, &f);
    fake_reply(c, fake_rep_string("11", 2));
    assert_int_equal(finish_held(fx->w.finish), 3);
    assert_int_equal(jobs_live(fx->w.jobs), 3);
    frames_free(&f);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    log_open(NULL, 0, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        T(test_fetch_idle_worker_takes_cpu_room_from_first_queue),
        T(test_fetch_take_reply_frames_reach_dispatch),
        T(test_fetch_empty_takes_block_on_every_queue),
        T(test_fetch_full_cpu_window_picks_io_frames),
        T(test_fetch_pick_miss_backs_off_that_queue),
        T(test_fetch_take_error_sets_queue_aside_and_serves_next),
        T(test_fetch_lost_take_reply_returns_orphans_before_taking),
        T(test_fetch_lost_blmove_reply_returns_orphans_before_taking),
        T(test_fetch_reconcile_put_off_by_a_take_runs_after_it),
        T(test_dispatch_frame_not_msgpack_is_dead_with_its_bytes),
        T(test_dispatch_unknown_type_retries),
        T(test_dispatch_redelivered_ok_job_is_skipped_unrun),
        T(test_dispatch_sleep_zero_completes_on_loop_ok),
        T(test_finish_one_script_per_queue_per_tick),
        T(test_finish_error_reply_breaks_queue_and_holds_batch),
        T(test_finish_refused_batch_is_resent_and_lands),
        T(test_finish_fenced_outcome_counts_late),
        T(test_finish_reply_of_wrong_length_holds_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
