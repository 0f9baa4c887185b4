/* Settings: precedence defaults < INI < environment < flags, validation
 * naming every problem, and secrets masked in printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

static char ini_path[64];

static void write_ini(const char *text)
{
    strcpy(ini_path, "/tmp/jobq-test-XXXXXX");
    int fd = mkstemp(ini_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int load(struct settings *s, struct problems *p, int argc, char **argv,
                char **env)
{
    bool check = false, version = false;
    settings_init(s);
    memset(p, 0, sizeof(*p));
    return settings_load_all(s, argc, argv, env, &check, &version, p);
}

static void test_defaults(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    char *argv[] = {"w", NULL};
    assert_int_equal(load(&s, &p, 1, argv, NULL), 0);
    assert_int_equal(s.retry_base_ms, 1000);
    assert_int_equal(s.retry_max_ms, 3600000);
    assert_int_equal(s.default_max_attempts, 10);
    assert_int_equal(s.heartbeat_ttl_ms, 30000);
    assert_int_equal(s.shutdown_grace_ms, 25000);
    assert_int_equal(s.max_frame_bytes, 1048576);
    assert_int_equal(s.result_ttl_s, 86400);
    assert_int_equal(s.dead_max, 10000);
    assert_int_equal(s.io_concurrency, 1000);
    assert_string_equal(s.redis.host, "127.0.0.1");
    assert_int_equal(s.redis.port, 6379);
    assert_string_equal(s.queues[0].name, "default");
    assert_string_equal(s.http_host, "127.0.0.1");
    assert_int_equal(s.http_port, 9180);
    assert_int_equal(s.http_max_connections, 256);
    assert_false(s.require_signed);
    assert_true(s.cpu_threads >= 1);
    settings_free(&s);
}

static void test_precedence(void **state)
{
    (void)state;
    write_ini("[worker]\nretry_base_ms = 10\nretry_max_ms = 20\n"
              "dead_max = 30\nresult_ttl_s = 40\n");
    char *argv[] = {
        "w", "-c", ini_path, "--dead-max", "33", "--result-ttl-s=44", NULL};
    char *env[] = {"JOBQ_RETRY_MAX_MS=22", "JOBQ_DEAD_MAX=31", "OTHER=1", NULL};
    struct settings s;
    struct problems p;
    assert_int_equal(load(&s, &p, 6, argv, env), 0);
    assert_int_equal(s.retry_base_ms, 10); /* file over default */
    assert_int_equal(s.retry_max_ms, 22);  /* env over file */
    assert_int_equal(s.dead_max, 33);      /* flag over env */
    assert_int_equal(s.result_ttl_s, 44);  /* flag over file */
    assert_string_equal(s.source[S_RETRY_BASE_MS], "file");
    assert_string_equal(s.source[S_RETRY_MAX_MS], "env");
    settings_free(&s);
    unlink(ini_path);
}

static void test_env_redis_url_and_queues(void **state)
{
    (void)state;
    char *argv[] = {"w", NULL};
    char *env[] = {"JOBQ_REDIS_URL=redis://bob:s%40cret@db.local:6390/3",
                   "JOBQ_QUEUES=high,low:3,mid:1", NULL};
    struct settings s;
    struct problems p;
    assert_int_equal(load(&s, &p, 1, argv, env), 0);
    assert_string_equal(s.redis.user, "bob");
    assert_string_equal(s.redis.password, "s@cret");
    assert_string_equal(s.redis.host, "db.local");
    assert_int_equal(s.redis.port, 6390);
    assert_int_equal(s.redis.db, 3);
    assert_int_equal(s.nqueues, 3);
    assert_int_equal(s.queues[0].weight, 0);
    assert_int_equal(s.queues[1].weight, 3);
    assert_string_equal(s.queues[2].name, "mid");
    settings_free(&s);
}

static void test_every_problem_named(void **state)
{
    (void)state;
    char *argv[] = {"w",
                    "--cpu-threads",
                    "0",
                    "--queues",
                    "ok,bad queue",
                    "--redis",
                    "http://x",
                    "--log-format",
                    "xml",
                    "--retry-base-ms",
                    "abc",
                    "--bogus",
                    "1",
                    NULL};
    struct settings s;
    struct problems p;
    assert_int_equal(load(&s, &p, 13, argv, NULL), -1);
    const char *want[] = {
        "unknown option --bogus", "cpu-threads:",
        "retry-base-ms:",         "redis-url: invalid redis URL",
        "queues: \"bad queue\"",  "log-format:"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (int k = 0; k < p.n; k++)
            found |= strstr(p.msg[k], want[i]) != NULL;
        if (!found)
            fail_msg("no problem mentions \"%s\" (%d problems)", want[i], p.n);
    }
    settings_free(&s);
}

static void test_unix_url(void **state)
{
    (void)state;
    struct redis_url u;
    char err[128];
    assert_int_equal(
        redis_url_parse("unix:///run/redis.sock?db=2", &u, err, sizeof(err)),
        0);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis.sock");
    assert_int_equal(u.db, 2);
    assert_int_equal(
        redis_url_parse("redis://[::1]:7000", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(redis_url_parse("redis://h:99999", &u, err, sizeof(err)),
                     -1);
    assert_int_equal(redis_url_parse("unix://relative", &u, err, sizeof(err)),
                     -1);
    assert_int_equal(redis_url_parse("redis://:pw%zz@h", &u, err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "pw"));
}

static void test_print_masks_secrets(void **state)
{
    (void)state;
    char *argv[] = {"w",
                    "--redis",
                    "redis://u:hunter2hunter2@h:1/0",
                    "--admin-token",
                    "tok-0123456789abcdef",
                    NULL};
    struct settings s;
    struct problems p;
    assert_int_equal(load(&s, &p, 5, argv, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_print(&s, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "tok-0123456789abcdef"));
    assert_non_null(strstr(buf, "redis_url = redis://u:***@h:1/0"));
    assert_non_null(strstr(buf, "admin_token = ***"));
    free(buf);
    settings_free(&s);
}

static void test_cpu_set(void **state)
{
    (void)state;
    char *argv[] = {"w", "--cpu-set", "0,0-0", NULL};
    struct settings s;
    struct problems p;
    assert_int_equal(load(&s, &p, 3, argv, NULL), 0);
    assert_int_equal(s.ncpus, 2);
    settings_free(&s);
    char *bad[] = {"w", "--cpu-set", "0-99999", NULL};
    assert_int_equal(load(&s, &p, 3, bad, NULL), -1);
    settings_free(&s);
}

static void test_http_max_connections(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    write_ini("http_max_connections = 12\n");
    char *argv[] = {"w", "-c", ini_path, NULL};
    assert_int_equal(load(&s, &p, 3, argv, NULL), 0);
    assert_int_equal(s.http_max_connections, 12);
    settings_free(&s);
    char *env[] = {"JOBQ_HTTP_MAX_CONNECTIONS=34", NULL};
    assert_int_equal(load(&s, &p, 3, argv, env), 0);
    assert_int_equal(s.http_max_connections, 34);
    settings_free(&s);
    char *zero[] = {"w", "-c", ini_path, "--http-max-connections", "0", NULL};
    assert_int_equal(load(&s, &p, 5, zero, env), -1);
    assert_non_null(strstr(p.msg[0], "http-max-connections: must be"));
    settings_free(&s);
    unlink(ini_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_env_redis_url_and_queues),
        cmocka_unit_test(test_every_problem_named),
        cmocka_unit_test(test_unix_url),
        cmocka_unit_test(test_print_masks_secrets),
        cmocka_unit_test(test_cpu_set),
        cmocka_unit_test(test_http_max_connections),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
