/* jobq: the command-line tool for producers and operators (worker.md).
 * Enqueue jobs, read results, and inspect or repair queues. Prints JSON
 * where a program would read it; exits non-zero with a one-line reason. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <jobq/jobq.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "jsonmp.h"
#include "keys.h"
#include "settings.h"
#include "sign.h"
#include "xalloc.h"

#define MAX_POS 64
#define DEFAULT_DEAD_LIMIT 100

struct opts {
    const char *pos[MAX_POS];
    int npos;
    const char *id, *file;
    uint64_t delay_ms, max_attempts, timeout_ms, limit;
    double wait_s;
    bool wait, all, yes;
};

static const char *usage_text =
    "usage: jobq [--redis URL] [--prefix P] [-c FILE] COMMAND ...\n"
    "  enqueue QUEUE TYPE [ARGS_JSON] [--id ID] [--delay MS] [--wait "
    "[SECONDS]]\n"
    "                                 [--max-attempts N] [--timeout-ms MS]\n"
    "  enqueue QUEUE --file JOBS.jsonl\n"
    "  result QUEUE ID [--wait SECONDS]\n"
    "  stats [QUEUE...]\n"
    "  workers [QUEUE...]\n"
    "  dead QUEUE [--limit N]\n"
    "  retry QUEUE (ID... | --all)\n"
    "  purge QUEUE (pending|delayed|dead) --yes\n"
    "Options take --name VALUE or --name=VALUE. The settings of jobq-worker\n"
    "apply here too, from the same flags, INI file (-c FILE) and JOBQ_*\n"
    "variables: --redis URL (JOBQ_REDIS_URL), --prefix P (JOBQ_PREFIX),\n"
    "--signing-keys FILE (frames are signed with its first key), ...;\n"
    "see jobq-worker --help and docs/settings.md.\n";

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "jobq: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static bool is_number(const char *s)
{
    if (!s || !*s)
        return false;
    char *end;
    strtod(s, &end);
    return *end == 0;
}

/* The options of the commands, each taking --name VALUE or --name=VALUE
 * (flags: a bare --name). The shared settings (--redis, --prefix, -c, ...)
 * are the settings module's. */
enum opt_kind { OPT_STR, OPT_U64, OPT_FLAG, OPT_WAIT };

struct cli_opt {
    const char *name;
    enum opt_kind kind;
    size_t offset;
};

static const struct cli_opt cli_opts[] = {
    {"--id", OPT_STR, offsetof(struct opts, id)},
    {"--file", OPT_STR, offsetof(struct opts, file)},
    {"--delay", OPT_U64, offsetof(struct opts, delay_ms)},
    {"--max-attempts", OPT_U64, offsetof(struct opts, max_attempts)},
    {"--timeout-ms", OPT_U64, offsetof(struct opts, timeout_ms)},
    {"--limit", OPT_U64, offsetof(struct opts, limit)},
    {"--all", OPT_FLAG, offsetof(struct opts, all)},
    {"--yes", OPT_FLAG, offsetof(struct opts, yes)},
    /* --wait [SECONDS]: a number after it is its value. */
    {"--wait", OPT_WAIT, offsetof(struct opts, wait)},
};

/* The option argv[*i] names, or NULL; *value is what follows '=' if any. */
static const struct cli_opt *find_opt(const char *a, const char **value)
{
    size_t n = strcspn(a, "=");
    *value = a[n] == '=' ? a + n + 1 : NULL;
    for (size_t k = 0; k < sizeof(cli_opts) / sizeof(cli_opts[0]); k++)
        if (strlen(cli_opts[k].name) == n &&
            strncmp(a, cli_opts[k].name, n) == 0)
            return &cli_opts[k];
    return NULL;
}

static int parse_u64(const char *name, const char *v, uint64_t *out)
{
    char *end;
    if (!v || !*v || *v < '0' || *v > '9')
        return die("%s needs a whole number", name) ? -1 : -1;
    *out = strtoull(v, &end, 10);
    if (*end)
        return die("%s needs a whole number", name) ? -1 : -1;
    return 0;
}

/* Reads one option of ours at argv[*i], advancing *i past its value. */
static int take_opt(const struct cli_opt *c, const char *value, int argc,
                    char **argv, int *i, struct opts *o)
{
    void *f = (char *)o + c->offset;
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    switch (c->kind) {
    case OPT_FLAG:
        if (value)
            return die("%s takes no value", c->name) ? -1 : -1;
        *(bool *)f = true;
        return 0;
    case OPT_WAIT:
        o->wait = true;
        o->wait_s = 30;
        if (!value && is_number(next))
            value = argv[++*i];
        if (value && !is_number(value))
            return die("--wait needs a number of seconds") ? -1 : -1;
        if (value)
            o->wait_s = strtod(value, NULL);
        return 0;
    case OPT_STR:
    case OPT_U64:
        if (!value) {
            if (!next)
                return die("%s needs a value", c->name) ? -1 : -1;
            value = argv[++*i];
        }
        if (c->kind == OPT_STR) {
            *(const char **)f = value;
            return 0;
        }
        return parse_u64(c->name, value, f);
    }
    return -1;
}

/* Splits argv into our options, positionals, and the shared settings flags
 * (handed on to the settings module, which knows which take a value). */
static int split_args(int argc, char **argv, struct opts *o, char **sargv,
                      int *sargc)
{
    *sargc = 0;
    sargv[(*sargc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        const struct cli_opt *c = find_opt(a, &value);
        int span;
        if (c) {
            if (take_opt(c, value, argc, argv, &i, o) != 0)
                return -1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if ((span = settings_flag_span(argc, argv, i)) > 0) {
            for (int k = 0; k < span; k++)
                sargv[(*sargc)++] = argv[i + k];
            i += span - 1;
        } else if (a[0] == '-' && a[1]) {
            /* Only the name: what follows '=' may be a secret. */
            return die("unknown option %.*s (see jobq --help)",
                       (int)strcspn(a, "="), a)
                       ? -1
                       : -1;
        } else {
            if (o->npos >= MAX_POS)
                return die("too many arguments") ? -1 : -1;
            o->pos[o->npos++] = a;
        }
    }
    sargv[*sargc] = NULL;
    return 0;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    puts(s ? s : "null");
    free(s);
}

static int print_record(const char *rec, size_t len)
{
    json_t *j = jsonmp_from_bytes(rec, len);
    if (!j)
        return die("the stored record is not msgpack");
    print_json(j);
    const char *status = json_string_value(json_object_get(j, "status"));
    int rc = status && strcmp(status, "ok") == 0 ? 0 : 1;
    json_decref(j);
    return rc;
}

static int args_bytes(const char *json, msgpack_sbuffer *sb)
{
    json_error_t e;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &e);
    if (!j)
        return die("ARGS_JSON: %s at column %d", e.text, e.column);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    jsonmp_pack(&pk, j);
    json_decref(j);
    return 0;
}

static void progress(size_t done, size_t total)
{
    if (!isatty(2) || total == 0)
        return;
    int width = 40, fill = (int)(done * (size_t)width / total);
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu", fill,
            "########################################", width - fill, "", done,
            total);
    if (done == total)
        fputc('\n', stderr);
}

static int enqueue_file(jobq_client *c, const char *queue, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f)
        return die("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, total = 0, done = 0;
    char **lines = NULL;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n <= 1)
            continue;
        lines = xrealloc(lines, sizeof(*lines) * (total + 1));
        lines[total++] = xstrdup(line);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    int rc = 0;
    for (size_t i = 0; i < total && rc == 0; i++) {
        json_error_t e;
        json_t *j = json_loads(lines[i], 0, &e);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (!j || !type) {
            rc = die("%s line %zu: %s", path, i + 1,
                     j ? "needs a \"type\" string" : e.text);
            json_decref(j);
            break;
        }
        msgpack_sbuffer args;
        msgpack_sbuffer_init(&args);
        json_t *a = json_object_get(j, "args");
        if (a) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &args, xsbuffer_write);
            jsonmp_pack(&pk, a);
        }
        jobq_job job = {.type = type,
                        .id = json_string_value(json_object_get(j, "id")),
                        .args = a ? args.data : NULL,
                        .args_len = args.size};
        char id[65], err[256];
        if (jobq_enqueue(c, queue, &job, id, err, sizeof(err)) != 0)
            rc = die("%s line %zu: %s", path, i + 1, err);
        msgpack_sbuffer_destroy(&args);
        json_decref(j);
        progress(++done, total);
    }
    for (size_t i = 0; i < total; i++)
        free(lines[i]);
    free(lines);
    if (rc == 0)
        printf("{\"queue\":\"%s\",\"enqueued\":%zu}\n", queue, done);
    return rc;
}

static int cmd_enqueue(jobq_client *c, struct opts *o)
{
    if (o->npos >= 2 && o->file)
        return enqueue_file(c, o->pos[1], o->file);
    if (o->npos < 3 || o->npos > 4)
        return die("usage: jobq enqueue QUEUE TYPE [ARGS_JSON] [options]");
    msgpack_sbuffer args;
    msgpack_sbuffer_init(&args);
    if (o->npos == 4 && args_bytes(o->pos[3], &args) != 0)
        return 1;
    char reply_to[160] = "";
    if (o->wait) {
        unsigned char r[8];
        char hex[17];
        randombytes_buf(r, sizeof(r));
        sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
        /* Outside the deployment's "P:" keys, which workers refuse to
         * push to (protocol.md). */
        snprintf(reply_to, sizeof(reply_to), "%s-reply:%s", jobq_prefix(c),
                 hex);
    }
    jobq_job job = {.id = o->id,
                    .type = o->pos[2],
                    .args = args.size ? args.data : NULL,
                    .args_len = args.size,
                    .max_attempts = o->max_attempts,
                    .timeout_ms = o->timeout_ms,
                    .delay_ms = o->delay_ms,
                    .reply_to = o->wait ? reply_to : NULL};
    char id[65], err[256];
    int rc = jobq_enqueue(c, o->pos[1], &job, id, err, sizeof(err));
    msgpack_sbuffer_destroy(&args);
    if (rc != 0)
        return die("%s", err);
    if (!o->wait) {
        printf("{\"id\":\"%s\",\"queue\":\"%s\"}\n", id, o->pos[1]);
        return 0;
    }
    char *rec;
    size_t len;
    rc = jobq_reply(c, reply_to, (uint64_t)(o->wait_s * 1000) + o->delay_ms,
                    &rec, &len, err, sizeof(err));
    if (rc < 0)
        return die("%s", err);
    if (rc == 1)
        return die("job %s: no result within %.0f s", id, o->wait_s);
    rc = print_record(rec, len);
    free(rec);
    return rc;
}

static int cmd_result(jobq_client *c, struct opts *o)
{
    if (o->npos != 3)
        return die("usage: jobq result QUEUE ID [--wait SECONDS]");
    char *rec, err[256];
    size_t len;
    int rc = jobq_result(c, o->pos[1], o->pos[2],
                         o->wait ? (uint64_t)(o->wait_s * 1000) : 0, &rec, &len,
                         err, sizeof(err));
    if (rc < 0)
        return die("%s", err);
    if (rc == 1)
        return die("no result for %s on %s", o->pos[2], o->pos[1]);
    rc = print_record(rec, len);
    free(rec);
    return rc;
}

static redisReply *cmd(jobq_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(jobq_redis(c), fmt, ap);
    va_end(ap);
    if (!r) {
        die("redis: %s", ((redisContext *)jobq_redis(c))->errstr);
        exit(1);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        die("redis: %s", r->str);
        exit(1);
    }
    return r;
}

static long long count(jobq_client *c, const char *fmt, const char *key)
{
    redisReply *r = cmd(c, fmt, key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* Queues named on the command line, or every queue with a key under the
 * prefix (SCAN, never KEYS). */
static json_t *queue_names(jobq_client *c, struct opts *o)
{
    json_t *names = json_array();
    for (int i = 1; i < o->npos; i++)
        json_array_append_new(names, json_string(o->pos[i]));
    if (o->npos > 1)
        return names;
    json_t *seen = json_object();
    char cursor[32] = "0", match[96];
    snprintf(match, sizeof(match), "%s:{*}:*", jobq_prefix(c));
    do {
        redisReply *r = cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor, match);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            const char *a = strchr(k, '{'), *b = a ? strchr(a, '}') : NULL;
            if (a && b && b - a - 1 > 0 && b - a - 1 <= 64) {
                char q[65];
                snprintf(q, sizeof(q), "%.*s", (int)(b - a - 1), a + 1);
                if (!json_object_get(seen, q)) {
                    json_object_set_new(seen, q, json_true());
                    json_array_append_new(names, json_string(q));
                }
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    json_decref(seen);
    return names;
}

/* The workers of queue q with their heartbeat deadlines and how many jobs
 * each holds, as a JSON array of objects. */
static json_t *queue_workers(jobq_client *c, const struct keys *k,
                             const char *q)
{
    json_t *out = json_array();
    /* Deadlines are on the Redis server's clock (beat.lua), so "alive" is
     * judged on it too, never on this host's. */
    redisReply *t = cmd(c, "TIME");
    uint64_t now = t->type == REDIS_REPLY_ARRAY && t->elements == 2
                       ? strtoull(t->element[0]->str, NULL, 10) * 1000 +
                             strtoull(t->element[1]->str, NULL, 10) / 1000
                       : clock_wall_ms();
    freeReplyObject(t);
    redisReply *w = cmd(c, "ZRANGE %s 0 -1 WITHSCORES", k->workers);
    for (size_t j = 0; j + 1 < w->elements; j += 2) {
        char ak[KEYS_MAX];
        snprintf(ak, sizeof(ak), "%s%s", k->active_prefix, w->element[j]->str);
        uint64_t deadline = strtoull(w->element[j + 1]->str, NULL, 10);
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:I, s:b, s:I}", "queue", q, "worker",
                           w->element[j]->str, "deadline", (json_int_t)deadline,
                           "alive", deadline >= now, "active",
                           (json_int_t)count(c, "LLEN %s", ak)));
    }
    freeReplyObject(w);
    return out;
}

static int cmd_stats(jobq_client *c, struct opts *o)
{
    json_t *names = queue_names(c, o), *out = json_object();
    size_t i, j;
    json_t *qn, *wk;
    json_array_foreach(names, i, qn)
    {
        const char *q = json_string_value(qn);
        struct keys k;
        keys_init(&k, jobq_prefix(c), q, "*");
        json_t *s = json_object();
        json_object_set_new(s, "pending",
                            json_integer(count(c, "LLEN %s", k.pending)));
        json_object_set_new(s, "delayed",
                            json_integer(count(c, "ZCARD %s", k.delayed)));
        json_object_set_new(s, "dead",
                            json_integer(count(c, "LLEN %s", k.dead)));
        json_int_t active = 0, alive = 0;
        json_t *ws = queue_workers(c, &k, q);
        json_array_foreach(ws, j, wk)
        {
            active += json_integer_value(json_object_get(wk, "active"));
            alive += json_is_true(json_object_get(wk, "alive"));
        }
        json_decref(ws);
        json_object_set_new(s, "active", json_integer(active));
        json_object_set_new(s, "workers", json_integer(alive));
        redisReply *h = cmd(c, "HGETALL %s", k.stats);
        json_t *counters = json_object();
        const char *names4[] = {"processed", "failed", "retried", "dead"};
        for (int n = 0; n < 4; n++)
            json_object_set_new(counters, names4[n], json_integer(0));
        for (size_t x = 0; x + 1 < h->elements; x += 2)
            json_object_set_new(
                counters, h->element[x]->str,
                json_integer(strtoll(h->element[x + 1]->str, NULL, 10)));
        freeReplyObject(h);
        json_object_set_new(s, "counters", counters);
        json_object_set_new(out, q, s);
    }
    print_json(out);
    json_decref(out);
    json_decref(names);
    return 0;
}

static int cmd_workers(jobq_client *c, struct opts *o)
{
    json_t *names = queue_names(c, o);
    size_t i, j;
    json_t *qn, *wk;
    json_array_foreach(names, i, qn)
    {
        struct keys k;
        keys_init(&k, jobq_prefix(c), json_string_value(qn), "*");
        json_t *ws = queue_workers(c, &k, json_string_value(qn));
        json_array_foreach(ws, j, wk) print_json(wk);
        json_decref(ws);
    }
    json_decref(names);
    return 0;
}

static int cmd_dead(jobq_client *c, struct opts *o)
{
    if (o->npos != 2)
        return die("usage: jobq dead QUEUE [--limit N]");
    struct keys k;
    keys_init(&k, jobq_prefix(c), o->pos[1], "*");
    uint64_t limit = o->limit ? o->limit : DEFAULT_DEAD_LIMIT;
    redisReply *r = cmd(c, "LRANGE %s 0 %" PRIu64, k.dead, limit - 1);
    for (size_t i = 0; i < r->elements; i++) {
        json_t *j = jsonmp_from_bytes(r->element[i]->str, r->element[i]->len);
        if (!j)
            continue;
        print_json(j);
        json_decref(j);
    }
    freeReplyObject(r);
    return 0;
}

/* Removes one dead record and pushes its frame, attempt reset, to the
 * right end of pending, atomically: two operators retrying the same record
 * cannot both succeed. */
static const char retry_lua[] =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

static int cmd_retry(jobq_client *c, struct opts *o)
{
    if (o->npos < 2 || (o->npos == 2 && !o->all))
        return die("usage: jobq retry QUEUE (ID... | --all)");
    struct keys k;
    keys_init(&k, jobq_prefix(c), o->pos[1], "*");
    redisReply *r = cmd(c, "LRANGE %s 0 -1", k.dead);
    struct frame_limits lim = {SIZE_MAX, 0, 0};
    long long retried = 0, skipped = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        msgpack_unpacked un;
        msgpack_unpacked_init(&un);
        size_t off = 0;
        char err[256];
        if (mp_check(e->str, e->len, 0, err, sizeof(err)) != 0 ||
            msgpack_unpack_next(&un, e->str, e->len, &off) !=
                MSGPACK_UNPACK_SUCCESS) {
            msgpack_unpacked_destroy(&un);
            continue;
        }
        const msgpack_object *id = mp_map_get(&un.data, "id");
        const msgpack_object *fr = mp_map_get(&un.data, "frame");
        bool want = o->all;
        for (int p = 2; p < o->npos && id; p++)
            want |= mp_str_eq(id, o->pos[p]);
        struct frame f = {0};
        if (want && fr && fr->type == MSGPACK_OBJECT_BIN &&
            frame_decode(fr->via.bin.ptr, fr->via.bin.size, &lim, &f, err,
                         sizeof(err)) == 0) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            frame_encode_fresh(&sb, &f);
            redisReply *x = cmd(c, "EVAL %s 2 %s %s %b %b", retry_lua, k.dead,
                                k.pending, e->str, e->len, sb.data, sb.size);
            retried += x->integer;
            freeReplyObject(x);
            msgpack_sbuffer_destroy(&sb);
        } else if (want) {
            skipped++; /* a frame that cannot be read would only die again */
        }
        frame_free(&f);
        msgpack_unpacked_destroy(&un);
    }
    freeReplyObject(r);
    printf("{\"queue\":\"%s\",\"retried\":%lld,\"unreadable\":%lld}\n",
           o->pos[1], retried, skipped);
    return 0;
}

static const char purge_lua[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "local n = 0\n"
    "if t == 'list' then n = redis.call('LLEN', KEYS[1])\n"
    "elseif t == 'zset' then n = redis.call('ZCARD', KEYS[1]) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

static int cmd_purge(jobq_client *c, struct opts *o)
{
    if (o->npos != 3)
        return die("usage: jobq purge QUEUE (pending|delayed|dead) --yes");
    struct keys k;
    keys_init(&k, jobq_prefix(c), o->pos[1], "*");
    const char *which = o->pos[2];
    const char *key = strcmp(which, "pending") == 0   ? k.pending
                      : strcmp(which, "delayed") == 0 ? k.delayed
                      : strcmp(which, "dead") == 0    ? k.dead
                                                      : NULL;
    if (!key)
        return die("purge takes pending, delayed or dead, not %s", which);
    if (!o->yes)
        return die("purge deletes jobs: add --yes to confirm");
    redisReply *r = cmd(c, "EVAL %s 1 %s", purge_lua, key);
    printf("{\"queue\":\"%s\",\"purged\":\"%s\",\"count\":%lld}\n", o->pos[1],
           which, r->integer);
    freeReplyObject(r);
    return 0;
}

extern char **environ;

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return die("libsodium failed to start");
    struct opts o = {0};
    char **sargv = xcalloc((size_t)argc + 1, sizeof(*sargv));
    int sargc;
    if (split_args(argc, argv, &o, sargv, &sargc) != 0)
        return 2;
    struct settings s;
    struct problems p = {0};
    struct settings_cmdline cmd = {0};
    settings_init(&s);
    settings_load_all(&s, sargc, sargv, environ, &cmd, &p);
    free(sargv);
    if (cmd.version) {
        printf("jobq %s (protocol 1)\n", JOBQ_VERSION);
        settings_free(&s);
        return 0;
    }
    struct sign_keys keys = {0};
    char err[512];
    if (p.n == 0 && s.signing_keys &&
        sign_keys_load(s.signing_keys, &keys, err, sizeof(err)) != 0)
        problems_add(&p, "%s", err);
    if (p.n) {
        for (int i = 0; i < p.n; i++)
            die("%s", p.msg[i]);
        settings_free(&s);
        return 2;
    }
    if (cmd.check_config) {
        settings_print(&s, stdout);
        settings_free(&s);
        return 0;
    }
    if (o.npos == 0) {
        fputs(usage_text, stderr);
        settings_free(&s);
        return 2;
    }
    jobq_client *c = jobq_connect(settings_value(&s, "redis-url"), s.prefix,
                                  err, sizeof(err));
    if (!c) {
        settings_free(&s);
        return die("%s", err);
    }
    if (keys.n)
        jobq_set_signing_key(c, keys.k[0].kid, keys.k[0].key);
    sign_keys_wipe(&keys);
    const char *name = o.pos[0];
    int rc;
    if (strcmp(name, "enqueue") == 0)
        rc = cmd_enqueue(c, &o);
    else if (strcmp(name, "result") == 0)
        rc = cmd_result(c, &o);
    else if (strcmp(name, "stats") == 0)
        rc = cmd_stats(c, &o);
    else if (strcmp(name, "workers") == 0)
        rc = cmd_workers(c, &o);
    else if (strcmp(name, "dead") == 0)
        rc = cmd_dead(c, &o);
    else if (strcmp(name, "retry") == 0)
        rc = cmd_retry(c, &o);
    else if (strcmp(name, "purge") == 0)
        rc = cmd_purge(c, &o);
    else
        rc = die("unknown command %s (see jobq --help)", name);
    jobq_close(c);
    settings_free(&s);
    return rc;
}
