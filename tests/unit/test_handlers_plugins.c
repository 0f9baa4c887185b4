/* Plugins: loading a shared object against the handler API, refusing one
 * built for another API version, one whose type is taken, one that is not
 * there, and dropping their handlers at unload. The fixtures are
 * plugin_fixture.c built as MODULE libraries; this binary exports the
 * jobq_* API to them exactly as jobq-worker does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "jobctx.h"
#include "plugins.h"
#include "registry.h"

static struct jobq_registry reg;

static const char *lookup(void *arg, const char *type, const char *key)
{
    (void)arg;
    if (!type) /* a worker setting (jobq_worker_setting): none here */
        return NULL;
    if (strcmp(type, "test.hello") == 0 && strcmp(key, "greeting") == 0)
        return "bonjour";
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    registry_clear(&reg);
    registry_set_settings_lookup(&reg, lookup, NULL);
    return registry_add_builtins(&reg) == JOBQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    plugins_unload_all(&reg);
    return 0;
}

static void test_plugin_loads_and_runs(void **state)
{
    (void)state;
    char err[512] = "";
    int before = reg.n;
    int rc = plugins_load(&reg, PLUGIN_OK, err, sizeof(err));
    if (rc != JOBQ_OK)
        fail_msg("%s", err);
    assert_int_equal(reg.n, before + 1);
    const jobq_handler *h = registry_find(&reg, "test.hello", 10);
    assert_non_null(h);
    assert_int_equal(h->cls, JOBQ_CLASS_CPU);

    struct jobq_ctx ctx = {0};
    ctx.h = h;
    msgpack_sbuffer_init(&ctx.result);
    msgpack_packer_init(&ctx.pk, &ctx.result, msgpack_sbuffer_write);
    assert_int_equal(h->cpu(&ctx), 0);
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    size_t off = 0;
    assert_int_equal(
        msgpack_unpack_next(&un, ctx.result.data, ctx.result.size, &off),
        MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *g = jobq_map_get(&un.data, "greeting");
    assert_non_null(g);
    /* The setting its init read through jobq_setting, kept as data. */
    assert_int_equal(g->via.str.size, 7);
    assert_memory_equal(g->via.str.ptr, "bonjour", 7);
    msgpack_unpacked_destroy(&un);
    msgpack_sbuffer_destroy(&ctx.result);

    plugins_unload_all(&reg);
    assert_int_equal(reg.n, before);
    assert_null(registry_find(&reg, "test.hello", 10));
    assert_non_null(registry_find(&reg, "sleep", 5));
}

static void test_wrong_version_refused(void **state)
{
    (void)state;
    char err[512] = "";
    int before = reg.n;
    assert_int_equal(plugins_load(&reg, PLUGIN_V1, err, sizeof(err)),
                     JOBQ_EVERSION);
    /* The message names both versions. */
    char want[128];
    snprintf(want, sizeof(want),
             "built for handler API version 1, but "
             "this worker speaks version %d",
             JOBQ_HANDLER_API_VERSION);
    if (!strstr(err, want) || !strstr(err, PLUGIN_V1))
        fail_msg("message: %s", err);
    assert_int_equal(reg.n, before);
    assert_null(registry_find(&reg, "test.v1", 7));
}

static void test_duplicate_type_refused(void **state)
{
    (void)state;
    char err[512] = "";
    int before = reg.n;
    /* Serves "sleep", a built-in's type. */
    assert_int_equal(plugins_load(&reg, PLUGIN_DUP, err, sizeof(err)),
                     JOBQ_EEXIST);
    if (!strstr(err, "\"sleep\"") || !strstr(err, "already registered"))
        fail_msg("message: %s", err);
    /* An init that ignores the refusal is refused all the same. */
    assert_int_equal(plugins_load(&reg, PLUGIN_DUP_IGNORED, err, sizeof(err)),
                     JOBQ_EEXIST);
    assert_int_equal(reg.n, before);
    /* The built-in is untouched. */
    const jobq_handler *s = registry_find(&reg, "sleep", 5);
    assert_non_null(s);
    assert_int_equal(s->cls, JOBQ_CLASS_IO);
}

static void test_second_load_of_same_plugin_refused(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(plugins_load(&reg, PLUGIN_OK, err, sizeof(err)), JOBQ_OK);
    int n = reg.n;
    assert_int_equal(plugins_load(&reg, PLUGIN_OK, err, sizeof(err)),
                     JOBQ_EEXIST);
    assert_int_equal(reg.n, n);
    /* The first load still serves (the object was not closed under it). */
    const jobq_handler *h = registry_find(&reg, "test.hello", 10);
    assert_non_null(h);
    assert_non_null(h->cpu);
    plugins_unload_all(&reg);
}

static void test_missing_file_refused(void **state)
{
    (void)state;
    char err[512] = "";
    int before = reg.n;
    assert_int_equal(
        plugins_load(&reg, "/nonexistent/plugin.so", err, sizeof(err)),
        JOBQ_ELOAD);
    assert_non_null(strstr(err, "/nonexistent/plugin.so"));
    assert_int_equal(reg.n, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loads_and_runs),
        cmocka_unit_test(test_wrong_version_refused),
        cmocka_unit_test(test_duplicate_type_refused),
        cmocka_unit_test(test_second_load_of_same_plugin_refused),
        cmocka_unit_test(test_missing_file_refused),
    };
    return cmocka_run_group_tests_name("handlers_plugins", tests, setup,
                                       teardown);
}
