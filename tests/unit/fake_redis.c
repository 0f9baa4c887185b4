/* The fake Redis (see fake_redis.h). */
#include "fake_redis.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct redis {
    void (*on_ready)(void *arg);
    void *arg;
    int nblocking;
};

static struct redis *cur;
static struct fake_call *head, *tail;
static bool ready = true;
static unsigned long made, refused;

static int record(enum fake_kind kind, enum script_id id, int nkeys, int slot,
                  uint64_t block_ms, redis_reply_fn fn, void *priv, int argc,
                  const char **argv, const size_t *lens)
{
    if (!ready) {
        refused++;
        return -1;
    }
    struct fake_call *c = xcalloc(1, sizeof(*c));
    c->kind = kind;
    c->script = id;
    c->nkeys = nkeys;
    c->slot = slot;
    c->block_ms = block_ms;
    c->fn = fn;
    c->priv = priv;
    c->argc = argc;
    c->argv = xcalloc((size_t)argc + 1, sizeof(*c->argv));
    c->lens = xcalloc((size_t)argc + 1, sizeof(*c->lens));
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        c->argv[i] = xmalloc(n + 1);
        memcpy(c->argv[i], argv[i], n);
        c->argv[i][n] = 0;
        c->lens[i] = n;
    }
    if (tail)
        tail->next = c;
    else
        head = c;
    tail = c;
    made++;
    return 0;
}

static void call_free(struct fake_call *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void unlink_call(struct fake_call *c)
{
    struct fake_call **pp = &head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        abort(); /* not a pending call: a test bug */
    *pp = c->next;
    if (tail == c)
        tail = prev;
    c->next = NULL;
}

struct redis *redis_new(struct event_base *base, const struct redis_url *url,
                        uint64_t timeout_ms, int nblocking,
                        void (*on_ready)(void *arg), void *arg)
{
    (void)base;
    (void)url;
    (void)timeout_ms;
    struct redis *r = xcalloc(1, sizeof(*r));
    r->on_ready = on_ready;
    r->arg = arg;
    r->nblocking = nblocking;
    cur = r;
    ready = true;
    made = refused = 0;
    return r;
}

/* As the real one: down first, then every pending callback with NULL. */
void redis_free(struct redis *r)
{
    if (!r)
        return;
    ready = false;
    while (head)
        fake_drop(head);
    if (cur == r)
        cur = NULL;
    free(r);
    ready = true;
}

bool redis_ready(const struct redis *r)
{
    (void)r;
    return ready;
}

int redis_cmd(struct redis *r, redis_reply_fn fn, void *priv, int argc,
              const char **argv, const size_t *lens)
{
    (void)r;
    return record(FAKE_CMD, SCRIPT__COUNT, 0, -1, 0, fn, priv, argc, argv,
                  lens);
}

int redis_script(struct redis *r, enum script_id id, redis_reply_fn fn,
                 void *priv, int nkeys, int argc, const char **argv,
                 const size_t *lens)
{
    (void)r;
    return record(FAKE_SCRIPT, id, nkeys, -1, 0, fn, priv, argc, argv, lens);
}

int redis_blocking(struct redis *r, int slot, redis_reply_fn fn, void *priv,
                   uint64_t block_ms, int argc, const char **argv,
                   const size_t *lens)
{
    if (slot < 0 || slot >= r->nblocking)
        abort(); /* a slot redis_new was not asked for */
    return record(FAKE_BLOCKING, SCRIPT__COUNT, 0, slot, block_ms, fn, priv,
                  argc, argv, lens);
}

struct fake_call *fake_next(void)
{
    return head;
}

struct fake_call *fake_nth(unsigned i)
{
    struct fake_call *c = head;
    while (c && i--)
        c = c->next;
    return c;
}

struct fake_call *fake_find_script(enum script_id id)
{
    for (struct fake_call *c = head; c; c = c->next)
        if (c->kind == FAKE_SCRIPT && c->script == id)
            return c;
    return NULL;
}

struct fake_call *fake_find_kind(enum fake_kind kind)
{
    for (struct fake_call *c = head; c; c = c->next)
        if (c->kind == kind)
            return c;
    return NULL;
}

unsigned fake_pending(void)
{
    unsigned n = 0;
    for (struct fake_call *c = head; c; c = c->next)
        n++;
    return n;
}

unsigned fake_pending_script(enum script_id id)
{
    unsigned n = 0;
    for (struct fake_call *c = head; c; c = c->next)
        n += c->kind == FAKE_SCRIPT && c->script == id;
    return n;
}

unsigned long fake_calls_made(void)
{
    return made;
}

unsigned long fake_calls_refused(void)
{
    return refused;
}

bool fake_arg_is_bytes(const struct fake_call *c, int i, const void *p,
                       size_t len)
{
    return c && i >= 0 && i < c->argc && c->lens[i] == len &&
           memcmp(c->argv[i], p, len) == 0;
}

bool fake_arg_is(const struct fake_call *c, int i, const char *s)
{
    return fake_arg_is_bytes(c, i, s, strlen(s));
}

void fake_reply(struct fake_call *c, redisReply *reply)
{
    unlink_call(c);
    if (c->fn)
        c->fn(reply, c->priv);
    fake_reply_free(reply);
    call_free(c);
}

void fake_drop(struct fake_call *c)
{
    fake_reply(c, NULL);
}

void fake_set_ready(bool r)
{
    ready = r;
}

void fake_fire_ready(void)
{
    if (cur && cur->on_ready)
        cur->on_ready(cur->arg);
}

static redisReply *rep_new(int type)
{
    redisReply *r = xcalloc(1, sizeof(*r));
    r->type = type;
    return r;
}

static redisReply *rep_str(int type, const void *p, size_t len)
{
    redisReply *r = rep_new(type);
    r->str = xmalloc(len + 1);
    memcpy(r->str, p, len);
    r->str[len] = 0;
    r->len = len;
    return r;
}

redisReply *fake_rep_string(const void *p, size_t len)
{
    return rep_str(REDIS_REPLY_STRING, p, len);
}

redisReply *fake_rep_status(const char *s)
{
    return rep_str(REDIS_REPLY_STATUS, s, strlen(s));
}

redisReply *fake_rep_error(const char *s)
{
    return rep_str(REDIS_REPLY_ERROR, s, strlen(s));
}

redisReply *fake_rep_integer(long long v)
{
    redisReply *r = rep_new(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

redisReply *fake_rep_nil(void)
{
    return rep_new(REDIS_REPLY_NIL);
}

static redisReply *array(size_t n, const char *const *strs, const size_t *lens,
                         bool with_int, long long trailing)
{
    redisReply *r = rep_new(REDIS_REPLY_ARRAY);
    r->elements = n + (with_int ? 1 : 0);
    r->element = xcalloc(r->elements ? r->elements : 1, sizeof(*r->element));
    for (size_t i = 0; i < n; i++)
        r->element[i] =
            fake_rep_string(strs[i], lens ? lens[i] : strlen(strs[i]));
    if (with_int)
        r->element[n] = fake_rep_integer(trailing);
    return r;
}

redisReply *fake_rep_array(size_t n, const char *const *strs,
                           const size_t *lens)
{
    return array(n, strs, lens, false, 0);
}

redisReply *fake_rep_array_int(size_t n, const char *const *strs,
                               const size_t *lens, long long trailing)
{
    return array(n, strs, lens, true, trailing);
}

void fake_reply_free(redisReply *r)
{
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            fake_reply_free(r->element[i]);
        free(r->element);
    }
    free(r->str);
    free(r);
}
