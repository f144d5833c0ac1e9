/* SPDX-License-Identifier: MIT
 * Unit tests of the base layer: allocation hook, kf_buf, kf_diag, UTF-8 validation, files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kefu/buf.h"
#include "kefu/err.h"
#include "kefu/mem.h"
#include "kefu/util.h"

static int fail_all(size_t n)
{
    (void)n;
    return 1;
}

static void test_mem_hook(void **state)
{
    (void)state;
    size_t before = kf_mem_in_use();
    void *p = kf_malloc(100);
    assert_non_null(p);
    assert_int_equal(kf_mem_in_use(), before + 100);
    p = kf_realloc(p, 300);
    assert_non_null(p);
    assert_int_equal(kf_mem_in_use(), before + 300);
    kf_free(p);
    assert_int_equal(kf_mem_in_use(), before);
    kf_mem_set_fail_hook(fail_all);
    assert_null(kf_malloc(1));
    assert_null(kf_strdup("x"));
    kf_buf b;
    kf_buf_init(&b);
    assert_int_equal(kf_buf_puts(&b, "abc"), KF_ENOMEM);
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(kf_buf_puts(&b, "abc"), KF_OK);
    kf_buf_cleanup(&b);
    assert_null(kf_calloc(SIZE_MAX / 2, 4));
}

static void test_buf(void **state)
{
    (void)state;
    kf_buf b;
    kf_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kf_buf_printf(&b, "%d,", i), KF_OK);
    assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
    assert_int_equal(b.len, strlen(b.data));
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kf_buf_reset(&b);
    assert_int_equal(kf_buf_printf(&b, "<%s>", big), KF_OK);
    assert_int_equal(b.len, 601);
    char *t = kf_buf_take(&b);
    assert_null(b.data);
    assert_int_equal(strlen(t), 601);
    kf_free(t);
    t = kf_buf_take(&b);
    assert_string_equal(t, "");
    kf_free(t);
    /* reserve: the appends it made room for do not move the data */
    assert_int_equal(kf_buf_reserve(&b, 1000), KF_OK);
    const char *at = b.data;
    for (int i = 0; i < 100; i++)
        assert_int_equal(kf_buf_append(&b, "0123456789", 10), KF_OK);
    assert_ptr_equal(b.data, at);
    assert_int_equal(b.len, 1000);
    assert_int_equal(kf_buf_append(&b, "!", 1), KF_OK);
    assert_int_equal(b.len, 1001);
    kf_buf_cleanup(&b);
}

static void test_diag(void **state)
{
    (void)state;
    kf_diag d, e;
    kf_diag_init(&d);
    kf_diag_init(&e);
    kf_diag_add(&d, "kb/a.md", 3, "duplicate id '%s'", "x");
    kf_diag_add(&e, "intents/b.rules", 7, "unknown key");
    kf_diag_move(&d, &e);
    assert_int_equal(kf_diag_count(&d), 2);
    assert_int_equal(kf_diag_count(&e), 0);
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    kf_diag_print(&d, f);
    fclose(f);
    assert_string_equal(buf, "kb/a.md:3: duplicate id 'x'\nintents/b.rules:7: unknown key\n");
    kf_mem_set_fail_hook(fail_all);
    kf_diag_add(&e, "f", 1, "lost");
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(kf_diag_count(&e), 1); /* a lost message still counts as an error */
    kf_diag_cleanup(&d);
    kf_diag_cleanup(&e);
}

static void test_utf8(void **state)
{
    (void)state;
    size_t bad = 99;
    assert_true(kf_utf8_valid("退货 ok", strlen("退货 ok"), NULL));
    assert_true(kf_utf8_valid("\xF0\x9F\x98\x80", 4, NULL));
    assert_false(kf_utf8_valid("ab\x80", 3, &bad));
    assert_int_equal(bad, 2);
    assert_false(kf_utf8_valid("\xC0\xAF", 2, NULL));         /* overlong */
    assert_false(kf_utf8_valid("\xED\xA0\x80", 3, NULL));     /* surrogate */
    assert_false(kf_utf8_valid("\xE9\x80", 2, NULL));         /* truncated */
    assert_false(kf_utf8_valid("\xF4\x90\x80\x80", 4, NULL)); /* > U+10FFFF */
    assert_int_equal(kf_skip_bom("\xEF\xBB\xBFx", 4), 3);
    assert_int_equal(kf_skip_bom("x", 1), 0);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/kefu-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    const char *names[] = {"b.md", "a.md", "c.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("hello", f);
        fclose(f);
    }
    const char *const sfx[] = {".md", NULL};
    char **v = NULL;
    size_t n = 0;
    assert_int_equal(kf_list_dir(dir, sfx, &v, &n), KF_OK);
    assert_int_equal(n, 2);
    assert_non_null(strstr(v[0], "/a.md"));
    assert_non_null(strstr(v[1], "/b.md"));
    char *data;
    size_t len;
    assert_int_equal(kf_read_file(v[0], 100, &data, &len), KF_OK);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    kf_free(data);
    assert_int_equal(kf_read_file(v[0], 3, &data, &len), KF_ELIMIT);
    assert_null(data);
    for (size_t i = 0; i < n; i++)
        unlink(v[i]);
    kf_strv_free(v, n);
    snprintf(p, sizeof(p), "%s/c.txt", dir);
    unlink(p);
    rmdir(dir);
    assert_int_equal(kf_list_dir(dir, sfx, &v, &n), KF_ENOTFOUND);
    assert_int_equal(kf_read_file(p, 10, &data, &len), KF_ENOTFOUND);
}

/* kf_hash64 is FNV-1a with 64 bits: its published test values. */
static void test_hash64(void **state)
{
    (void)state;
    assert_true(kf_hash64("", 0) == 0xcbf29ce484222325u);
    assert_true(kf_hash64("a", 1) == 0xaf63dc4c8601ec8cu);
    assert_true(kf_hash64("foobar", 6) == 0x85944171f73967e8u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_hook), cmocka_unit_test(test_buf),
        cmocka_unit_test(test_diag),     cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_files),    cmocka_unit_test(test_hash64),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
