/* Settings: precedence defaults < INI < environment < flags, validation
 * naming every problem, and secrets masked in printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <stdbool.h>
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
    struct settings_cmdline cmd = {0};
    settings_init(s);
    memset(p, 0, sizeof(*p));
    return settings_load_all(s, argc, argv, env, &cmd, p);
}

/* Whether some problem contains want. */
static bool has_problem(const struct problems *p, const char *want)
{
    for (int k = 0; k < p->n; k++)
        if (strstr(p->msg[k], want))
            return true;
    return false;
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
    assert_string_equal(settings_source(&s, "retry-base-ms"), "file");
    assert_string_equal(settings_source(&s, "retry_max_ms"), "env");
    assert_string_equal(settings_source(&s, "dead-max"), "flag");
    assert_string_equal(settings_value(&s, "dead-max"), "33");
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

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])) - 1)

static void test_flag_forms(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    char *spaced[] = {"w", "--dead-max", "33", "--log-level", "warn", NULL};
    assert_int_equal(load(&s, &p, ARGC(spaced), spaced, NULL), 0);
    assert_int_equal(s.dead_max, 33);
    assert_int_equal(s.log_level, 2);
    settings_free(&s);
    char *equals[] = {"w", "--dead-max=34", "--queues=a,b:2",
                      "--redis=unix:///r.sock", NULL};
    assert_int_equal(load(&s, &p, ARGC(equals), equals, NULL), 0);
    assert_int_equal(s.dead_max, 34);
    assert_int_equal(s.nqueues, 2);
    assert_int_equal(s.queues[1].weight, 2);
    assert_true(s.redis.is_unix);
    settings_free(&s);
    /* A value may hold '=' and may be empty after '='. */
    char *eq_in_value[] = {"w", "--worker-id=a", "--log-file=", NULL};
    assert_int_equal(load(&s, &p, ARGC(eq_in_value), eq_in_value, NULL), 0);
    assert_string_equal(s.worker_id, "a");
    assert_string_equal(s.log_file, "");
    settings_free(&s);
}

static void test_boolean_flags(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    char *bare[] = {"w", "--signing-keys", "/k", "--require-signed", NULL};
    assert_int_equal(load(&s, &p, ARGC(bare), bare, NULL), 0);
    assert_true(s.require_signed);
    settings_free(&s);
    /* The case of the bug report: "unexpected argument true". */
    char *word[] = {"w", "--signing-keys", "/k", "--require-signed", "true",
                    NULL};
    assert_int_equal(load(&s, &p, ARGC(word), word, NULL), 0);
    assert_true(s.require_signed);
    settings_free(&s);
    char *eq_false[] = {"w", "--require-signed=false", NULL};
    assert_int_equal(load(&s, &p, ARGC(eq_false), eq_false, NULL), 0);
    assert_false(s.require_signed);
    settings_free(&s);
    char *sp_false[] = {"w", "--require-signed", "off", NULL};
    assert_int_equal(load(&s, &p, ARGC(sp_false), sp_false, NULL), 0);
    assert_false(s.require_signed);
    assert_string_equal(settings_source(&s, "require-signed"), "flag");
    settings_free(&s);
    /* A bare boolean before another flag is true, the flag read as usual. */
    char *then_flag[] = {"w",  "--require-signed", "--signing-keys",
                         "/k", "--dead-max",       "7",
                         NULL};
    assert_int_equal(load(&s, &p, ARGC(then_flag), then_flag, NULL), 0);
    assert_true(s.require_signed);
    assert_int_equal(s.dead_max, 7);
    settings_free(&s);
    /* A word that is not a boolean is not its value. */
    char *not_word[] = {
        "w", "--signing-keys", "/k", "--require-signed", "maybe", NULL};
    assert_int_equal(load(&s, &p, ARGC(not_word), not_word, NULL), -1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.msg[0], "unexpected argument maybe");
    settings_free(&s);
    char *bad[] = {"w", "--require-signed=maybe", NULL};
    assert_int_equal(load(&s, &p, ARGC(bad), bad, NULL), -1);
    assert_string_equal(p.msg[0],
                        "require-signed: must be true or false (from flag)");
    settings_free(&s);
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    /* One problem for an unknown flag, its value included. */
    char *unknown[] = {"w", "--bogus", "1", "--dead-max", "5", NULL};
    assert_int_equal(load(&s, &p, ARGC(unknown), unknown, NULL), -1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.msg[0], "unknown option --bogus");
    settings_free(&s);
    /* The value after '=' is never echoed: it may be a secret. */
    char *secret[] = {"w", "--admin-tokn=hunter2hunter2hunter2", NULL};
    assert_int_equal(load(&s, &p, ARGC(secret), secret, NULL), -1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.msg[0], "unknown option --admin-tokn");
    settings_free(&s);
    char *at_end[] = {"w", "--dead-max", NULL};
    assert_int_equal(load(&s, &p, ARGC(at_end), at_end, NULL), -1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.msg[0], "--dead-max needs a value (N)");
    settings_free(&s);
    char *before_flag[] = {"w", "--redis", "--queues", "a", NULL};
    assert_int_equal(load(&s, &p, ARGC(before_flag), before_flag, NULL), -1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.msg[0], "--redis needs a value (URL)");
    settings_free(&s);
    char *no_file[] = {"w", "-c", NULL};
    assert_int_equal(load(&s, &p, ARGC(no_file), no_file, NULL), -1);
    assert_true(has_problem(&p, "-c needs a value"));
    settings_free(&s);
    char *stray[] = {"w", "extra", NULL};
    assert_int_equal(load(&s, &p, ARGC(stray), stray, NULL), -1);
    assert_string_equal(p.msg[0], "unexpected argument extra");
    settings_free(&s);
}

static void test_flag_span(void **state)
{
    (void)state;
    char *a[] = {
        "jobq",   "--redis",          "redis://h", "--prefix=p",       "-c",
        "f.ini",  "--require-signed", "yes",       "--require-signed", "stats",
        "--wait", "--check-config",   NULL};
    int argc = ARGC(a);
    assert_int_equal(settings_flag_span(argc, a, 1), 2);
    assert_int_equal(settings_flag_span(argc, a, 3), 1);
    assert_int_equal(settings_flag_span(argc, a, 4), 2);
    assert_int_equal(settings_flag_span(argc, a, 6), 2);
    assert_int_equal(settings_flag_span(argc, a, 8), 1);
    assert_int_equal(settings_flag_span(argc, a, 9), 0);  /* a command */
    assert_int_equal(settings_flag_span(argc, a, 10), 0); /* not a setting */
    assert_int_equal(settings_flag_span(argc, a, 11), 1);
}

static void test_env_and_ini_sample(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    write_ini("; a comment\nlog_format = json\ncpu-threads = 3\n"
              "REQUIRE_SIGNED = yes\nsigning_keys = /k\nprefix = fromfile\n"
              "[worker]\nio_concurrency = 9\n");
    char *argv[] = {"w", "-c", ini_path, NULL};
    char *env[] = {"JOBQ_LOG_LEVEL=debug",       "JOBQ_PREFIX=fromenv",
                   "JOBQ_HEARTBEAT_TTL_MS=2000", "JOBQ_UNKNOWN_THING=1",
                   "JOBQ_REDIS=redis://envhost", NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, env), 0);
    assert_true(s.log_json);
    assert_int_equal(s.cpu_threads, 3);
    assert_true(s.require_signed);
    assert_int_equal(s.io_concurrency, 9);
    assert_int_equal(s.log_level, 0);
    assert_string_equal(s.prefix, "fromenv");
    assert_int_equal(s.heartbeat_ttl_ms, 2000);
    assert_string_equal(s.redis.host, "envhost");
    assert_string_equal(settings_source(&s, "log-format"), "file");
    assert_string_equal(settings_source(&s, "prefix"), "env");
    settings_free(&s);
    write_ini("no_such_setting = 1\n");
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), -1);
    assert_true(has_problem(&p, "unknown setting no_such_setting"));
    settings_free(&s);
    char *bad_env[] = {"JOBQ_LOG_FORMAT=xml", NULL};
    char *none[] = {"w", NULL};
    assert_int_equal(load(&s, &p, 1, none, bad_env), -1);
    assert_string_equal(p.msg[0],
                        "log-format: must be text or json (from env)");
    settings_free(&s);
    unlink(ini_path);
}

static void test_handler_settings(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    write_ini("dead_max = 3\n[handler.http.request]\ntimeout_ms = 5000\n"
              "api_token = t0ps3cret\nretries = 2\n[handler.sleep]\nmax = 9\n"
              "[worker]\nresult_ttl_s = 4\n");
    char *argv[] = {"w",
                    "-c",
                    ini_path,
                    "--handler-setting",
                    "http.request.retries=7",
                    "--handler-setting=webhook.post.url=https://x/?a=b",
                    NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), 0);
    assert_int_equal(s.dead_max, 3);
    assert_int_equal(s.result_ttl_s, 4);
    assert_string_equal(
        settings_handler_value(&s, "http.request", "timeout_ms"), "5000");
    assert_string_equal(settings_handler_value(&s, "http.request", "retries"),
                        "7"); /* flag over file */
    assert_string_equal(settings_handler_value(&s, "sleep", "max"), "9");
    assert_string_equal(settings_handler_value(&s, "webhook.post", "url"),
                        "https://x/?a=b");
    assert_null(settings_handler_value(&s, "sleep", "timeout_ms"));
    assert_null(settings_handler_value(&s, "http", "request.retries"));
    assert_int_equal(s.nhandler_settings, 5);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_print(&s, f);
    fclose(f);
    assert_non_null(strstr(buf, "[handler.http.request]\ntimeout_ms = 5000 ; "
                                "file\napi_token = *** ; file\nretries = 7 ; "
                                "flag\n"));
    assert_non_null(strstr(buf, "[handler.sleep]\nmax = 9 ; file\n"));
    assert_null(strstr(buf, "t0ps3cret"));
    /* What --check-config prints reads back as the same settings. */
    write_ini(buf);
    free(buf);
    settings_free(&s);
    char *again[] = {"w", "-c", ini_path, NULL};
    assert_int_equal(load(&s, &p, ARGC(again), again, NULL), 0);
    assert_string_equal(settings_handler_value(&s, "http.request", "retries"),
                        "7");
    assert_int_equal(s.dead_max, 3);
    settings_free(&s);
    unlink(ini_path);
    char *bad[] = {
        "w",        "--handler-setting", "nodot=1",   "--handler-setting",
        "sleep.=1", "--handler-setting", "sleep.max", NULL};
    assert_int_equal(load(&s, &p, ARGC(bad), bad, NULL), -1);
    assert_int_equal(p.n, 3);
    assert_true(has_problem(&p, "handler-setting: nodot must be"));
    assert_true(has_problem(&p, "handler-setting: sleep. must be"));
    assert_true(has_problem(&p, "handler-setting: must be TYPE.KEY=VALUE"));
    settings_free(&s);
}

/* The attack on #9: inih ended a value at a NUL byte without a word, so
 * "queues = de\0fault" served queue "de". */
static void test_ini_with_a_nul_byte_is_refused(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    strcpy(ini_path, "/tmp/jobq-test-XXXXXX");
    int fd = mkstemp(ini_path);
    assert_true(fd >= 0);
    static const char text[] = "queues = de\0fault\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1),
                     (ssize_t)sizeof(text) - 1);
    close(fd);
    char *argv[] = {"w", "-c", ini_path, NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), -1);
    assert_true(has_problem(&p, "a NUL byte at offset 11"));
    settings_free(&s);
    unlink(ini_path);
}

/* Each handler setting is found by a scan: their number is bounded, so a
 * hostile file cannot make the start quadratic. */
static void test_handler_settings_are_bounded(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    size_t cap = 40 * (SETTINGS_MAX_HANDLER_SETTINGS + 2);
    char *text = malloc(cap);
    size_t n = (size_t)sprintf(text, "[handler.sleep]\n");
    for (int i = 0; i <= SETTINGS_MAX_HANDLER_SETTINGS; i++)
        n += (size_t)sprintf(text + n, "k%d = v\n", i);
    write_ini(text);
    free(text);
    char *argv[] = {"w", "-c", ini_path, NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), -1);
    assert_true(has_problem(&p, "handler-setting: more than 1024"));
    assert_int_equal(s.nhandler_settings, SETTINGS_MAX_HANDLER_SETTINGS);
    settings_free(&s);
    unlink(ini_path);
}

/* Secrets under keys the first list missed, and URLs with a password. */
static void test_handler_secrets_are_masked(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    char *argv[] = {"w",
                    "--handler-setting",
                    "x.pwd=hunter2a",
                    "--handler-setting",
                    "x.passphrase=hunter2b",
                    "--handler-setting",
                    "x.bearer=hunter2c",
                    "--handler-setting",
                    "x.target=redis://u:hunter2d@h/0",
                    "--handler-setting",
                    "x.page=https://example.com/a@b",
                    NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_print(&s, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "page = https://example.com/a@b ;"));
    free(buf);
    settings_free(&s);
}

static void test_plugin_exec_and_runner_settings(void **state)
{
    (void)state;
    struct settings s;
    struct problems p;
    write_ini("plugin = /opt/a.so\n[exec]\nreport.render = /usr/bin/env "
              "python3 r.py\n[runner]\nimg.resize, img.crop = node "
              "img.js\n");
    char *argv[] = {
        "w",         "-c",     ini_path,        "--plugin",
        "/opt/b.so", "--exec", "t.x=/bin/true", "--runner-processes",
        "3",         NULL};
    assert_int_equal(load(&s, &p, ARGC(argv), argv, NULL), 0);
    assert_int_equal(s.plugins->n, 2); /* repeatable: file and flag */
    assert_string_equal(s.plugins->v[1], "/opt/b.so");
    assert_int_equal(s.execs->n, 2);
    assert_string_equal(s.execs->v[0],
                        "report.render=/usr/bin/env python3 r.py");
    assert_string_equal(s.execs->v[1], "t.x=/bin/true");
    assert_int_equal(s.runners->n, 1);
    assert_string_equal(s.runners->v[0], "img.resize, img.crop=node img.js");
    assert_int_equal(s.exec_concurrency, 64);
    assert_int_equal(s.runner_processes, 3);
    assert_int_equal(s.runner_concurrency, 16);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_print(&s, f);
    fclose(f);
    assert_non_null(strstr(buf, "[exec]\nreport.render = /usr/bin/env "
                                "python3 r.py ; file\nt.x = /bin/true ; "
                                "flag\n"));
    /* What --check-config prints reads back as the same settings. */
    write_ini(buf);
    free(buf);
    settings_free(&s);
    char *again[] = {"w", "-c", ini_path, NULL};
    assert_int_equal(load(&s, &p, ARGC(again), again, NULL), 0);
    assert_int_equal(s.execs->n, 2);
    assert_string_equal(s.execs->v[1], "t.x=/bin/true");
    assert_string_equal(s.runners->v[0], "img.resize, img.crop=node img.js");
    assert_int_equal(s.plugins->n, 2);
    settings_free(&s);
    unlink(ini_path);
    char *bad[] = {"w",      "--exec",   "nocommand", "--exec",
                   "a,b=ls", "--runner", "=ls",       NULL};
    assert_int_equal(load(&s, &p, ARGC(bad), bad, NULL), -1);
    assert_true(has_problem(&p, "exec: nocommand: must be TYPE=COMMAND"));
    assert_true(has_problem(&p, "exec: a,b=ls: one TYPE per exec"));
    assert_true(has_problem(&p, "runner: =ls: must be TYPE[,TYPE...]=COMMAND"));
    settings_free(&s);
}

static void test_table_is_consistent(void **state)
{
    (void)state;
    char err[256];
    if (!settings_table_ok(err, sizeof(err)))
        fail_msg("%s", err);
    /* Every row in --help with its flag, and found by each spelling. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_usage(f);
    fclose(f);
    for (size_t i = 0; i < settings_table_len; i++) {
        const struct setting_def *d = &settings_table[i];
        char flag[80], key[64], env[80];
        snprintf(flag, sizeof(flag), "  --%s ", d->name);
        if (!strstr(buf, flag))
            fail_msg("--help does not show %s", d->name);
        settings_ini_key(d, key, sizeof(key));
        settings_env_name(d, env, sizeof(env));
        assert_ptr_equal(settings_find(d->name), d);
        assert_ptr_equal(settings_find(key), d);
        assert_ptr_equal(settings_find(env + 5), d);
    }
    free(buf);
}

/* docs/settings.md carries the table settings_markdown prints, between two
 * markers; `test_settings --write-docs` rewrites it. */
#define DOCS JOBQ_SOURCE_DIR "/docs/settings.md"
#define BEGIN_MARK "<!-- settings table: begin -->\n"
#define END_MARK "<!-- settings table: end -->\n"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(f);
    fclose(m);
    return buf;
}

static char *markdown(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_markdown(f);
    fclose(f);
    return buf;
}

static void test_docs_list_every_setting(void **state)
{
    (void)state;
    char *doc = read_all(DOCS), *want = markdown();
    assert_non_null(doc);
    for (size_t i = 0; i < settings_table_len; i++) {
        char flag[80];
        snprintf(flag, sizeof(flag), "`--%s`", settings_table[i].name);
        if (!strstr(doc, flag))
            fail_msg("docs/settings.md does not name %s", flag);
    }
    char *b = strstr(doc, BEGIN_MARK), *e = b ? strstr(b, END_MARK) : NULL;
    if (!b || !e)
        fail_msg("docs/settings.md lacks the table markers");
    b += strlen(BEGIN_MARK);
    if ((size_t)(e - b) != strlen(want) || strncmp(b, want, strlen(want)))
        fail_msg("docs/settings.md's settings table differs from the table "
                 "in common/settings.c: run build/tests/unit/test_settings "
                 "--write-docs");
    free(doc);
    free(want);
}

/* deploy/systemd/worker.ini is what settings_ini_example prints; written
 * by `test_settings --write-docs` with docs/settings.md. */
#define INI_EXAMPLE JOBQ_SOURCE_DIR "/deploy/systemd/worker.ini"

static char *ini_example(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    settings_ini_example(f);
    fclose(f);
    return buf;
}

static void test_example_ini_lists_every_setting(void **state)
{
    (void)state;
    char *ini = read_all(INI_EXAMPLE), *want = ini_example();
    assert_non_null(ini);
    for (size_t i = 0; i < settings_table_len; i++) {
        const struct setting_def *d = &settings_table[i];
        char line[96];
        settings_ini_key(d, line + 2, sizeof(line) - 2);
        line[0] = '\n';
        line[1] = ';';
        if (d->ini_section)
            snprintf(line, sizeof(line), "\n;[%s", d->ini_section);
        else
            strcat(line, d->dflt ? " = " : " =   ; default: ");
        if (!strstr(ini, line))
            fail_msg("deploy/systemd/worker.ini lacks %s (run "
                     "build/tests/unit/test_settings --write-docs)",
                     line + 1);
    }
    if (strcmp(ini, want) != 0)
        fail_msg("deploy/systemd/worker.ini differs from the settings table: "
                 "run build/tests/unit/test_settings --write-docs");
    free(ini);
    free(want);
}

/* Every line of the example is a comment: loading it changes nothing. */
static void test_example_ini_loads_as_the_defaults(void **state)
{
    (void)state;
    struct settings s;
    struct problems p = {0};
    settings_init(&s);
    assert_int_equal(settings_load_ini(&s, INI_EXAMPLE, &p), 0);
    assert_int_equal(settings_finish(&s, &p), 0);
    assert_int_equal(p.n, 0);
    for (size_t i = 0; i < settings_table_len; i++)
        assert_string_equal(s.values[i].source, "default");
    settings_free(&s);
}

static int write_ini_example(void)
{
    char *want = ini_example();
    FILE *f = fopen(INI_EXAMPLE, "w");
    if (!f)
        return 1;
    fputs(want, f);
    fclose(f);
    free(want);
    return 0;
}

static int write_docs(void)
{
    if (write_ini_example() != 0) {
        fprintf(stderr, "%s: cannot write\n", INI_EXAMPLE);
        return 1;
    }
    char *doc = read_all(DOCS), *want = markdown();
    char *b = doc ? strstr(doc, BEGIN_MARK) : NULL;
    char *e = b ? strstr(b, END_MARK) : NULL;
    if (!e) {
        fprintf(stderr, "%s: no markers\n", DOCS);
        return 1;
    }
    FILE *f = fopen(DOCS, "w");
    if (!f)
        return 1;
    fprintf(f, "%.*s%s%s", (int)(b - doc + strlen(BEGIN_MARK)), doc, want, e);
    fclose(f);
    free(doc);
    free(want);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--write-docs") == 0)
        return write_docs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_env_redis_url_and_queues),
        cmocka_unit_test(test_every_problem_named),
        cmocka_unit_test(test_unix_url),
        cmocka_unit_test(test_print_masks_secrets),
        cmocka_unit_test(test_cpu_set),
        cmocka_unit_test(test_http_max_connections),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_boolean_flags),
        cmocka_unit_test(test_unknown_and_missing),
        cmocka_unit_test(test_flag_span),
        cmocka_unit_test(test_env_and_ini_sample),
        cmocka_unit_test(test_handler_settings),
        cmocka_unit_test(test_plugin_exec_and_runner_settings),
        cmocka_unit_test(test_ini_with_a_nul_byte_is_refused),
        cmocka_unit_test(test_handler_settings_are_bounded),
        cmocka_unit_test(test_handler_secrets_are_masked),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_docs_list_every_setting),
        cmocka_unit_test(test_example_ini_lists_every_setting),
        cmocka_unit_test(test_example_ini_loads_as_the_defaults),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
