/* The handler API around the handlers: error codes, the data pointer, the
 * settings a registry is given, and the loop and resolver io handlers
 * reach through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "jobctx.h"
#include "net.h"
#include "registry.h"
#include "worker.h"

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    const int codes[] = {JOBQ_EINVAL, JOBQ_ENOENT, JOBQ_ETYPE,
                         JOBQ_EEXIST, JOBQ_ENOMEM, JOBQ_EVERSION,
                         JOBQ_ENOSPC, JOBQ_ELOAD,  JOBQ_EINIT};
    const char *unknown = jobq_strerror(-12345);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_true(codes[i] < 0);
        assert_string_not_equal(jobq_strerror(codes[i]), unknown);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(codes[i], codes[j]);
    }
    assert_string_equal(jobq_strerror(JOBQ_OK), "success");
}

static int noop_cpu(jobq_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static void test_register_refusals_are_named(void **state)
{
    (void)state;
    static struct jobq_registry reg;
    registry_clear(&reg);
    jobq_handler h = {.type = "x.a", .cls = JOBQ_CLASS_CPU, .cpu = noop_cpu};
    assert_int_equal(jobq_register(&reg, &h), JOBQ_OK);
    assert_int_equal(jobq_register(&reg, &h), JOBQ_EEXIST);
    assert_non_null(strstr(reg.err, "x.a"));
    jobq_handler no_fn = {.type = "x.b", .cls = JOBQ_CLASS_IO};
    assert_int_equal(jobq_register(&reg, &no_fn), JOBQ_EINVAL);
    jobq_handler no_type = {.cls = JOBQ_CLASS_CPU, .cpu = noop_cpu};
    assert_int_equal(jobq_register(&reg, &no_type), JOBQ_EINVAL);
    assert_int_equal(reg.refused, 3);
    assert_int_equal(reg.n, 1);
}

/* One function serving two types, told apart by its data pointer. */
static int greet(jobq_ctx *ctx)
{
    const char *who = jobq_handler_data(ctx);
    jobq_pack_cstr(jobq_packer(ctx), who);
    return 0;
}

static const char *fake_lookup(void *arg, const char *type, const char *key)
{
    /* arg: "type key value" lines, as [handler.TYPE] key = value. */
    static char value[64];
    for (const char *const *l = arg; *l; l++) {
        char t[64], k[64];
        if (sscanf(*l, "%63s %63s %63s", t, k, value) == 3 &&
            strcmp(t, type) == 0 && strcmp(k, key) == 0)
            return value;
    }
    return NULL;
}

static void test_settings_at_init_and_data_pointer(void **state)
{
    (void)state;
    static struct jobq_registry reg;
    static const char *const lines[] = {"greet.a name alice",
                                        "greet.b name bob", NULL};
    static char names[2][64];
    assert_null(jobq_setting(&reg, "greet.a", "name")); /* no lookup */
    registry_clear(&reg);
    assert_null(jobq_setting(&reg, "greet.a", "name"));
    registry_set_settings_lookup(&reg, fake_lookup, (void *)lines);
    assert_null(jobq_setting(&reg, "greet.a", "other"));
    assert_null(jobq_setting(&reg, "greet.c", "name"));
    /* What a plugin's init does: read its settings, keep them as data. */
    const char *types[] = {"greet.a", "greet.b"};
    for (int i = 0; i < 2; i++) {
        const char *v = jobq_setting(&reg, types[i], "name");
        assert_non_null(v);
        strcpy(names[i], v);
        jobq_handler h = {.type = types[i],
                          .cls = JOBQ_CLASS_CPU,
                          .cpu = greet,
                          .data = names[i]};
        assert_int_equal(jobq_register(&reg, &h), JOBQ_OK);
    }
    for (int i = 0; i < 2; i++) {
        struct jobq_ctx ctx = {0};
        msgpack_sbuffer_init(&ctx.result);
        msgpack_packer_init(&ctx.pk, &ctx.result, msgpack_sbuffer_write);
        ctx.h = registry_find(&reg, types[i], strlen(types[i]));
        assert_non_null(ctx.h);
        assert_int_equal(ctx.h->cpu(&ctx), 0);
        const char *want = i == 0 ? "\xa5"
                                    "alice"
                                  : "\xa3"
                                    "bob";
        assert_int_equal(ctx.result.size, strlen(want));
        assert_memory_equal(ctx.result.data, want, strlen(want));
        msgpack_sbuffer_destroy(&ctx.result);
    }
}

static int resolved;

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    (void)arg;
    assert_int_equal(err, 0);
    assert_non_null(ai);
    assert_int_equal(ai->ai_family, AF_INET);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    evutil_freeaddrinfo(ai);
    resolved++;
}

static void test_loop_and_dns_reach_handlers(void **state)
{
    (void)state;
    static struct worker w;
    struct event_base *base = event_base_new();
    char err[256];
    struct net *net = net_new(base, err, sizeof(err));
    assert_non_null(net);
    assert_non_null(net_dns(net));
    assert_int_equal(registry_init(&w.reg), JOBQ_OK);
    struct jobq_ctx ctx = {0};
    ctx.w = &w;
    w.base = base;
    /* The loop is the worker's; no resolver until the daemon wires one. */
    assert_ptr_equal(jobq_loop(&ctx), base);
    assert_null(jobq_dns(&ctx));
    registry_set_loop(&w.reg, base, net_dns(net));
    assert_ptr_equal(jobq_loop(&ctx), base);
    assert_ptr_equal(jobq_dns(&ctx), net_dns(net));
    /* A literal address resolves at once, without a name server. */
    struct evutil_addrinfo hints = {.ai_family = AF_INET,
                                    .ai_socktype = SOCK_STREAM};
    resolved = 0;
    evdns_getaddrinfo(jobq_dns(&ctx), "127.0.0.1", "80", &hints, on_resolved,
                      NULL);
    assert_int_equal(resolved, 1);
    /* An idle resolver holds no event: the loop has nothing to wait for. */
    assert_int_equal(event_base_dispatch(base), 1);
    net_free(net);
    net_free(NULL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_register_refusals_are_named),
        cmocka_unit_test(test_settings_at_init_and_data_pointer),
        cmocka_unit_test(test_loop_and_dns_reach_handlers),
    };
    return cmocka_run_group_tests_name("handlers_api", tests, NULL, NULL);
}
