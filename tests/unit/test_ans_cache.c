/* SPDX-License-Identifier: MIT
 * Unit tests of the visitor endpoint's cache of encoded answers (src/ans_cache.c): a head is
 * found again by its key and variant only, the table grows without losing any, the bound
 * holds, a head that cannot be kept is freed, and clearing gives everything back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../src/ans_cache.h"
#include "kefu/mem.h"

static char *head(int i, unsigned v)
{
    char *b = kf_malloc(32);
    assert_non_null(b);
    snprintf(b, 32, "h%d.%u", i, v);
    return b;
}

static void keyed_by_both(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    static char keys[3000];
    kf_anscache c = {0};
    size_t len = 0;
    assert_null(kf_anscache_get(&c, &keys[0], 0, &len));
    for (int i = 0; i < 3000; i++)
        for (unsigned v = 0; v < 2; v++) {
            char *h = head(i, v);
            kf_anscache_put(&c, &keys[i], v, h, strlen(h));
        }
    assert_int_equal(c.n, 6000);
    assert_true(c.cap >= 12000);
    for (int i = 0; i < 3000; i++)
        for (unsigned v = 0; v < 3; v++) {
            const char *h = kf_anscache_get(&c, &keys[i], v, &len);
            if (v == 2) {
                assert_null(h);
                continue;
            }
            char want[32];
            snprintf(want, sizeof(want), "h%d.%u", i, v);
            assert_non_null(h);
            assert_string_equal(h, want);
            assert_int_equal(len, strlen(want));
        }
    /* a second head for the same key is not kept (and freed: the leak check below) */
    kf_anscache_put(&c, &keys[5], 1, head(99, 9), 5);
    assert_string_equal(kf_anscache_get(&c, &keys[5], 1, &len), "h5.1");
    kf_anscache_put(&c, NULL, 0, head(0, 0), 4); /* no key: freed */
    assert_null(kf_anscache_get(&c, NULL, 0, &len));
    kf_anscache_clear(&c);
    assert_int_equal(c.n, 0);
    assert_null(c.slots);
    assert_null(kf_anscache_get(&c, &keys[1], 0, &len));
    assert_int_equal(kf_mem_in_use(), base);
}

static void bounded(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    static char keys[KF_ANSCACHE_MAX + 10];
    kf_anscache c = {0};
    size_t len = 0;
    for (int i = 0; i < KF_ANSCACHE_MAX + 10; i++)
        kf_anscache_put(&c, &keys[i], 0, head(i, 0), 3);
    assert_int_equal(c.n, KF_ANSCACHE_MAX);
    assert_non_null(kf_anscache_get(&c, &keys[KF_ANSCACHE_MAX - 1], 0, &len));
    assert_null(kf_anscache_get(&c, &keys[KF_ANSCACHE_MAX], 0, &len));
    kf_anscache_clear(&c);
    assert_int_equal(kf_mem_in_use(), base);
}

static int fail_all(size_t n)
{
    (void)n;
    return 1;
}

static void out_of_memory(void **state)
{
    (void)state;
    static char key;
    kf_anscache c = {0};
    size_t len = 0;
    char *h = head(1, 0);
    size_t base = kf_mem_in_use();
    kf_mem_set_fail_hook(fail_all);
    kf_anscache_put(&c, &key, 0, h, 4); /* the table cannot be made: the head is freed */
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(c.n, 0);
    assert_null(kf_anscache_get(&c, &key, 0, &len));
    assert_true(kf_mem_in_use() < base);
    kf_anscache_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyed_by_both),
        cmocka_unit_test(bounded),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
