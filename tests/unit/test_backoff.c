/* Backoff: doubling per attempt, the cap, and jitter within [d/2, d]. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include "backoff.h"
#include <cmocka.h>

static void test_doubles_then_caps(void **state)
{
    (void)state;
    /* u just below 1 gives the top of the band: the undelayed value. */
    double top = 0.999999999;
    assert_int_equal(backoff_delay_ms(1000, 3600000, 1, top), 999);
    assert_int_equal(backoff_delay_ms(1000, 3600000, 2, top), 1999);
    assert_int_equal(backoff_delay_ms(1000, 3600000, 3, top), 3999);
    assert_int_equal(backoff_delay_ms(1000, 5000, 10, top), 4999);
    assert_int_equal(backoff_delay_ms(1000, 5000, 1000, top), 4999);
}

static void test_jitter_band(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(1000, 3600000, 3, 0.0), 2000);
    for (int i = 0; i < 1000; i++) {
        uint64_t d = backoff_delay_ms(1000, 3600000, 4, backoff_draw());
        assert_in_range(d, 4000, 8000);
    }
}

static void test_huge_attempts_do_not_overflow(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(UINT64_MAX / 4, UINT64_MAX, 200, 0.0),
                     UINT64_MAX / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_then_caps),
        cmocka_unit_test(test_jitter_band),
        cmocka_unit_test(test_huge_attempts_do_not_overflow),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
