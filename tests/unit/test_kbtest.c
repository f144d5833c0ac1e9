/* SPDX-License-Identifier: MIT
 * kbtest: parsing *.test files (question, expected outcome) and their errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kefu/kbtest.h"
#include "expect.h"

static void test_parse(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF# colloquial, no punctuation\r\n"
                               "钱多久退回来\r\n"
                               "refund-time\r\n"
                               "\r\n"
                               "\r\n"
                               "  我要投诉你们的快递  \n"
                               "# a comment inside a block\n"
                               "@handoff:complaint\n"
                               "   \n"
                               "你们招聘吗\n@fallback\n\n"
                               "人工\n@handoff\n\n"
                               "退\n@clarify\n\n"
                               "你好\n@reply:hello\n\n"
                               "# trailing comment, no final newline";
    kf_cases c;
    kf_cases_init(&c);
    kf_diag d;
    kf_diag_init(&d);
    assert_int_equal(kf_cases_parse(&c, "kb/refunds.test", text, strlen(text), &d), KF_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(c.n, 6);
    assert_string_equal(c.v[0].question, "钱多久退回来");
    assert_string_equal(c.v[0].expect, "refund-time");
    assert_string_equal(c.v[0].file, "kb/refunds.test");
    assert_int_equal(c.v[0].line, 2);
    assert_string_equal(c.v[1].question, "我要投诉你们的快递");
    assert_string_equal(c.v[1].expect, "@handoff:complaint");
    assert_int_equal(c.v[1].line, 6);
    assert_string_equal(c.v[2].expect, "@fallback");
    assert_string_equal(c.v[3].expect, "@handoff");
    assert_string_equal(c.v[4].expect, "@clarify");
    assert_string_equal(c.v[5].expect, "@reply:hello");
    kf_cases_cleanup(&c);
    kf_diag_cleanup(&d);
}

static void parse_cases(const char *path, const char *text, size_t len, kf_diag *d)
{
    kf_cases c;
    kf_cases_init(&c);
    int rc = kf_cases_parse(&c, path, text, len, d);
    assert_true(rc == KF_EPARSE || rc == KF_EUTF8);
    kf_cases_cleanup(&c);
}

/* Every .test file in tests/fixtures/bad/ produces exactly the messages it states. */
static void test_bad_fixtures(void **state)
{
    (void)state;
    assert_true(expect_check_dir(".test", parse_cases) >= 4);
}

/* Errors leave the good blocks in place and the parse goes on. */
static void test_keeps_going(void **state)
{
    (void)state;
    static const char text[] = "甲\n@nope\n\n乙\nentry-b\n\n丙\n";
    kf_cases c;
    kf_cases_init(&c);
    kf_diag d;
    kf_diag_init(&d);
    assert_int_equal(kf_cases_parse(&c, "t.test", text, strlen(text), &d), KF_EPARSE);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[1].line, 7);
    assert_string_equal(d.items[1].msg, "question without an expected outcome");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].expect, "entry-b");
    kf_cases_cleanup(&c);
    kf_diag_cleanup(&d);
}

static void test_load_dir(void **state)
{
    (void)state;
    kf_cases c;
    kf_cases_init(&c);
    kf_diag d;
    kf_diag_init(&d);
    assert_int_equal(kf_cases_load_dir(&c, "/nonexistent/kefu/tests", &d), KF_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(kf_cases_load_dir(&c, FIXTURES "/bad", &d), KF_EPARSE);
    assert_true(d.n >= 4);
    assert_true(c.n >= 2); /* the good blocks of the bad files */
    kf_cases_cleanup(&c);
    kf_diag_cleanup(&d);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    static const char text[] = "钱多久退回来\nrefund-time\n\n我要投诉\n@handoff:complaint\n";
    size_t base = kf_mem_in_use();
    int ok = 0;
    for (long n = 0; n < 100 && !ok; n++) {
        kf_cases c;
        kf_cases_init(&c);
        kf_diag d;
        kf_diag_init(&d);
        expect_fail_at = n;
        kf_mem_set_fail_hook(expect_fail_hook);
        int rc = kf_cases_parse(&c, "t.test", text, strlen(text), &d);
        kf_mem_set_fail_hook(NULL);
        assert_true(rc == KF_OK || rc == KF_ENOMEM);
        if (rc == KF_OK) {
            ok = 1;
            assert_int_equal(c.n, 2);
        }
        kf_cases_cleanup(&c);
        kf_diag_cleanup(&d);
        assert_int_equal(kf_mem_in_use(), base);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_keeps_going),   cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
