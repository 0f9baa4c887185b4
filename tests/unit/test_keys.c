/* Key names per protocol.md, all of a queue under one hash tag. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include "keys.h"
#include <cmocka.h>

static void test_key_names(void **state)
{
    (void)state;
    struct keys k;
    keys_init(&k, "jobq", "emails", "w-1");
    assert_string_equal(k.pending, "jobq:{emails}:pending");
    assert_string_equal(k.active, "jobq:{emails}:active:w-1");
    assert_string_equal(k.delayed, "jobq:{emails}:delayed");
    assert_string_equal(k.dead, "jobq:{emails}:dead");
    assert_string_equal(k.workers, "jobq:{emails}:workers");
    assert_string_equal(k.stats, "jobq:{emails}:stats");
    assert_string_equal(k.events, "jobq:{emails}:events");
    char buf[KEYS_MAX];
    assert_int_equal(keys_result(&k, "order:7", 7, buf, sizeof(buf)), 28);
    assert_string_equal(buf, "jobq:{emails}:result:order:7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_key_names)};
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
