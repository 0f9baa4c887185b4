/* worker/stats.c: outcomes by queue and job type, the type cap a hostile
 * producer meets, and the duration histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

static const struct stats_row *find(const struct stats *s, int qi,
                                    const char *type)
{
    const struct stats_row *rows;
    unsigned n = stats_rows(s, qi, &rows);
    for (unsigned i = 0; i < n; i++)
        if (strcmp(rows[i].type, type) == 0)
            return &rows[i];
    return NULL;
}

static void test_outcomes_are_counted_by_queue_and_type(void **state)
{
    (void)state;
    struct stats *s = stats_new(2);
    stats_job(s, 0, "a", 1, STATS_OK, 0.002);
    stats_job(s, 0, "a", 1, STATS_RETRY, 0.3);
    stats_job(s, 1, "a", 1, STATS_DEAD, -1);
    stats_job(s, 0, "bb", 2, STATS_LATE, -1);
    const struct stats_row *a0 = find(s, 0, "a");
    assert_non_null(a0);
    assert_int_equal(a0->n[STATS_OK], 1);
    assert_int_equal(a0->n[STATS_RETRY], 1);
    assert_int_equal(a0->duration.count, 2);
    assert_true(a0->duration.sum > 0.3);
    /* 0.002 s lands at le 0.005 (the second bound), 0.3 s at le 0.5 */
    assert_int_equal(a0->duration.le[1], 1);
    assert_int_equal(find(s, 1, "a")->n[STATS_DEAD], 1);
    assert_int_equal(find(s, 1, "a")->duration.count, 0);
    assert_int_equal(find(s, 0, "bb")->n[STATS_LATE], 1);
    assert_string_equal(stats_outcome_name(STATS_LATE), "late");
    stats_free(s);
}

static void test_types_past_the_cap_count_as_other(void **state)
{
    (void)state;
    struct stats *s = stats_new(1);
    char t[32];
    for (int i = 0; i < STATS_TYPES_MAX + 100; i++) {
        int n = snprintf(t, sizeof(t), "hostile.%d", i);
        stats_job(s, 0, t, (size_t)n, STATS_DEAD, -1);
    }
    const struct stats_row *rows;
    assert_int_equal(stats_rows(s, 0, &rows), STATS_TYPES_MAX + 1);
    assert_int_equal(find(s, 0, STATS_TYPE_OTHER)->n[STATS_DEAD], 100);
    /* a type seen before the cap keeps its own row */
    stats_job(s, 0, "hostile.0", 9, STATS_OK, 0);
    assert_int_equal(find(s, 0, "hostile.0")->n[STATS_OK], 1);
    stats_free(s);
}

static void test_unreadable_types_count_as_unknown(void **state)
{
    (void)state;
    struct stats *s = stats_new(1);
    stats_job(s, 0, NULL, 0, STATS_DEAD, -1);
    stats_job(s, 0, "a\0b", 3, STATS_DEAD, -1);
    assert_int_equal(find(s, 0, STATS_TYPE_UNKNOWN)->n[STATS_DEAD], 2);
    /* longer than a type may be: cut, not refused */
    char big[300];
    memset(big, 'x', sizeof(big));
    stats_job(s, 0, big, sizeof(big), STATS_OK, 0);
    const struct stats_row *rows;
    assert_int_equal(stats_rows(s, 0, &rows), 2);
    assert_int_equal(strlen(rows[1].type), STATS_TYPE_BYTES);
    stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes_are_counted_by_queue_and_type),
        cmocka_unit_test(test_types_past_the_cap_count_as_other),
        cmocka_unit_test(test_unreadable_types_count_as_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
