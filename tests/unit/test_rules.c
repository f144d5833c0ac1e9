/* SPDX-License-Identifier: MIT
 * rules: the .rules format, PCRE2 compilation with UTF/UCP/caseless, limits, priorities,
 * slots, and matching from several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kefu/kb.h"
#include "kefu/rules.h"
#include "expect.h"

static const char RULES[] = "\xEF\xBB\xBF# intents/service.rules\r\n"
                            "[ask_human]\r\n"
                            "priority = 90\r\n"
                            "pattern = 转人工|人工客服|找客服|真人\r\n"
                            "pattern = \\b(human|real person|live agent|representative)\\b\r\n"
                            "action = handoff asked\r\n"
                            "reply = 好的，这就为您转接人工客服，请稍候。\r\n"
                            "reply.en = Sure, I'm connecting you to a human agent.\r\n"
                            "\r\n"
                            "[order_number]\n"
                            "priority = 50\n"
                            "pattern = (?<order>\\d{12})\n"
                            "action = slots\n"
                            "\n"
                            "[phone]\n"
                            "pattern = (?<phone>1[3-9]\\d{9})\n"
                            "action = slots\n"
                            "\n"
                            "  # indented comment\n"
                            "[complaint]\n"
                            "priority = 90\n"
                            "pattern = 投诉|举报\n"
                            "action = handoff complaint\n"
                            "\n"
                            "[refund]\n"
                            "pattern = 退款.*多久\n"
                            "action = answer refund-time\n"
                            "\n"
                            "[hello]\n"
                            "priority = -5\n"
                            "pattern = ^(你好|您好|hello|hi)[!！。. ]*$\n"
                            "action = reply\n"
                            "reply.zh = 您好！\n"
                            "reply.en = Hello!\n"
                            "\n"
                            "[backslash]\n"
                            "priority = 1\n"
                            "pattern = a\\\\b\n"
                            "action = reply\n"
                            "reply = 反斜杠 \\n 原样\n";

static kf_rules *load(const char *text, const kf_kb *kb)
{
    kf_diag d;
    kf_diag_init(&d);
    kf_rules *r = kf_rules_new(NULL);
    assert_non_null(r);
    int rc = kf_rules_parse(r, "intents/service.rules", text, strlen(text), &d);
    if (rc == KF_OK)
        rc = kf_rules_finish(r, kb, &d);
    kf_diag_print(&d, stderr);
    assert_int_equal(rc, KF_OK);
    assert_int_equal(d.n, 0);
    kf_diag_cleanup(&d);
    return r;
}

static const kf_rule *by_name(const kf_rules *r, const char *name)
{
    for (size_t i = 0; i < kf_rules_count(r); i++)
        if (strcmp(kf_rules_get(r, i)->name, name) == 0)
            return kf_rules_get(r, i);
    return NULL;
}

static void test_parse_actions(void **state)
{
    (void)state;
    kf_rules *r = load(RULES, NULL);
    assert_int_equal(kf_rules_count(r), 7);
    const kf_rule *h = by_name(r, "ask_human");
    assert_non_null(h);
    assert_int_equal(h->action, KF_RULE_HANDOFF);
    assert_string_equal(h->arg, "asked");
    assert_int_equal(h->priority, 90);
    assert_int_equal(h->n_patterns, 2);
    assert_string_equal(h->patterns[1], "\\b(human|real person|live agent|representative)\\b");
    assert_string_equal(h->reply[KF_LANG_ZH], "好的，这就为您转接人工客服，请稍候。");
    assert_string_equal(h->reply[KF_LANG_EN], "Sure, I'm connecting you to a human agent.");
    assert_string_equal(h->file, "intents/service.rules");
    assert_int_equal(h->line, 2);
    const kf_rule *c = by_name(r, "complaint");
    assert_string_equal(c->arg, "complaint");
    assert_null(c->reply[KF_LANG_ZH]); /* the engine has a default handoff text */
    const kf_rule *a = by_name(r, "refund");
    assert_int_equal(a->action, KF_RULE_ANSWER);
    assert_string_equal(a->arg, "refund-time");
    assert_int_equal(a->priority, 0);
    const kf_rule *s = by_name(r, "order_number");
    assert_int_equal(s->action, KF_RULE_SLOTS);
    assert_null(s->arg);
    const kf_rule *hi = by_name(r, "hello");
    assert_int_equal(hi->action, KF_RULE_REPLY);
    assert_string_equal(hi->reply[KF_LANG_ZH], "您好！");
    assert_string_equal(hi->reply[KF_LANG_EN], "Hello!");
    /* values are raw: a backslash is a backslash, in patterns and replies */
    const kf_rule *b = by_name(r, "backslash");
    assert_string_equal(b->patterns[0], "a\\\\b");
    assert_string_equal(b->reply[KF_LANG_ZH], "反斜杠 \\n 原样");
    assert_string_equal(b->reply[KF_LANG_EN], "反斜杠 \\n 原样");
    kf_rules_free(r);
}

/* Highest priority first; equal priorities keep file order. */
static void test_priority_order(void **state)
{
    (void)state;
    kf_rules *r = load(RULES, NULL);
    static const char *const want[] = {"ask_human", "complaint", "order_number", "backslash",
                                       "phone",     "refund",    "hello"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(kf_rules_get(r, i)->name, want[i]);
    assert_null(kf_rules_get(r, 7));
    kf_rules_free(r);
}

static void match(const kf_rules *r, const char *text, kf_rules_result *res)
{
    assert_int_equal(kf_rules_match(r, text, strlen(text), res), KF_OK);
}

static const char *slot(const kf_rules_result *res, const char *name)
{
    for (size_t i = 0; i < res->n_slots; i++)
        if (strcmp(res->slots[i].name, name) == 0)
            return res->slots[i].value;
    return NULL;
}

static void test_match_and_slots(void **state)
{
    (void)state;
    kf_rules *r = load(RULES, NULL);
    kf_rules_result res;

    /* both 90s match: the first in file order wins; slots rules still all run */
    match(r, "我要投诉，转人工！订单号 123456789012，电话 13812345678", &res);
    assert_non_null(res.hit);
    assert_string_equal(res.hit->name, "ask_human");
    assert_int_equal(res.n_slots, 2);
    assert_string_equal(slot(&res, "order"), "123456789012");
    assert_string_equal(slot(&res, "phone"), "13812345678");
    assert_null(res.limited);
    kf_rules_result_cleanup(&res);

    /* a lower-priority hit still gets the slots of higher-priority slots rules */
    match(r, "退款要多久 订单123456789012", &res);
    assert_string_equal(res.hit->name, "refund");
    assert_int_equal(res.n_slots, 1);
    assert_string_equal(slot(&res, "order"), "123456789012");
    kf_rules_result_cleanup(&res);

    match(r, "你们几点下班", &res);
    assert_null(res.hit);
    assert_int_equal(res.n_slots, 0);
    assert_null(res.slots);
    kf_rules_result_cleanup(&res);

    match(r, "hello!", &res);
    assert_string_equal(res.hit->name, "hello");
    kf_rules_result_cleanup(&res);
    match(r, "hello there", &res);
    assert_null(res.hit);
    kf_rules_result_cleanup(&res);
    kf_rules_free(r);
}

/* UCP: \w and \b treat Chinese as word characters; matching is caseless, beyond ASCII too. */
static void test_ucp_and_caseless(void **state)
{
    (void)state;
    static const char text[] = "[word]\npattern = ^\\w+$\naction = reply\nreply = w\n"
                               "[boundary]\npattern = \\b退款\\b\naction = reply\nreply = b\n"
                               "[agent]\npattern = \\blive agent\\b\naction = reply\nreply = a\n"
                               "[umlaut]\npattern = (?i)straße|äpfel\naction = reply\nreply = u\n";
    kf_rules *r = load(text, NULL);
    kf_rules_result res;
    match(r, "退款进度", &res); /* all \w under UCP: a byte-oriented \w would not match */
    assert_string_equal(res.hit->name, "word");
    kf_rules_result_cleanup(&res);
    match(r, "请问，退款？", &res);
    assert_string_equal(res.hit->name, "boundary");
    kf_rules_result_cleanup(&res);
    match(r, "我要退款啊 ", &res); /* 要退 and 款啊 are inside one word: no boundary */
    assert_null(res.hit);
    kf_rules_result_cleanup(&res);
    match(r, "Need a LIVE Agent now", &res);
    assert_string_equal(res.hit->name, "agent");
    kf_rules_result_cleanup(&res);
    match(r, "ÄPFEL?", &res);
    assert_string_equal(res.hit->name, "umlaut");
    kf_rules_result_cleanup(&res);
    kf_rules_free(r);
}

/* Catastrophic backtracking stops at the match limit: no hit, the rule is reported, and the
 * other rules still run. Only completion is tested, not speed. */
static void test_match_limit(void **state)
{
    (void)state;
    static const char text[] = "[evil]\npriority = 10\npattern = (a+)+$\naction = reply\n"
                               "reply = x\n"
                               "[fine]\npattern = !\naction = reply\nreply = y\n";
    kf_rules *r = load(text, NULL);
    kf_rules_result res;
    match(r, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", &res);
    assert_non_null(res.limited);
    assert_string_equal(res.limited->name, "evil");
    assert_non_null(res.hit);
    assert_string_equal(res.hit->name, "fine");
    kf_rules_result_cleanup(&res);
    kf_rules_free(r);

    /* the configured limit is the one applied: 2^10 paths pass the default limit and not
     * a limit of 100 */
    static const char t2[] = "[x]\npattern = (a+)+$\naction = reply\nreply = x\n";
    static const char subject[] = "aaaaaaaaaa!";
    kf_diag d;
    kf_diag_init(&d);
    for (int tight = 0; tight < 2; tight++) {
        kf_rules_limits lim = {.match_limit = tight ? 100 : 0, .depth_limit = 0};
        r = kf_rules_new(&lim);
        assert_int_equal(kf_rules_parse(r, "t.rules", t2, strlen(t2), &d), KF_OK);
        assert_int_equal(kf_rules_finish(r, NULL, &d), KF_OK);
        match(r, subject, &res);
        assert_null(res.hit);
        if (tight)
            assert_non_null(res.limited);
        else
            assert_null(res.limited);
        kf_rules_result_cleanup(&res);
        kf_rules_free(r);
    }
    kf_diag_cleanup(&d);
}

/* rules_jit = no (for valgrind): no JIT code at all, and the same matches and slots, the
 * hostile pattern still stopped by the match limit (which the interpreter applies). */
static void test_without_jit(void **state)
{
    (void)state;
    static const char text[] = "[evil]\npriority = 10\npattern = (a+)+$\naction = reply\n"
                               "reply = x\n"
                               "[order]\npattern = 订单(?<order>\\d{6,})\naction = slots\n"
                               "[fine]\npattern = !\naction = reply\nreply = y\n";
    static const char subject[] = "订单123456 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    for (int jit = 1; jit >= 0; jit--) {
        kf_diag d;
        kf_diag_init(&d);
        kf_rules_limits lim = {.no_jit = !jit};
        kf_rules *r = kf_rules_new(&lim);
        assert_non_null(r);
        assert_int_equal(kf_rules_parse(r, "t.rules", text, strlen(text), &d), KF_OK);
        assert_int_equal(kf_rules_finish(r, NULL, &d), KF_OK);
        uint32_t have_jit = 0;
        pcre2_config(PCRE2_CONFIG_JIT, &have_jit);
        if (!jit)
            assert_int_equal(kf_rules__jit_bytes(r), 0);
        else if (have_jit)
            assert_true(kf_rules__jit_bytes(r) > 0);
        kf_rules_result res;
        match(r, subject, &res);
        assert_non_null(res.limited);
        assert_string_equal(res.limited->name, "evil");
        assert_non_null(res.hit);
        assert_string_equal(res.hit->name, "fine");
        assert_string_equal(slot(&res, "order"), "123456");
        kf_rules_result_cleanup(&res);
        kf_rules_free(r);
        kf_diag_cleanup(&d);
    }
}

static void test_invalid_input_text(void **state)
{
    (void)state;
    kf_rules *r = load(RULES, NULL);
    kf_rules_result res;
    assert_int_equal(kf_rules_match(r, "\xff投诉", 4, &res), KF_EUTF8);
    assert_null(res.hit);
    assert_int_equal(kf_rules_match(r, NULL, 0, &res), KF_OK);
    assert_null(res.hit);
    kf_rules_result_cleanup(&res);
    kf_rules_free(r);
}

static void parse_rules(const char *path, const char *text, size_t len, kf_diag *d)
{
    kf_rules *r = kf_rules_new(NULL);
    assert_non_null(r);
    assert_int_equal(kf_rules_parse(r, path, text, len, d), KF_EPARSE);
    kf_rules_free(r);
}

/* Every .rules file in tests/fixtures/bad/ produces exactly the messages it states: unknown
 * key, key outside a section, missing pattern or action, invalid pattern with its offset,
 * a pattern matching the empty text, a reply rule without text, bad action and priority. */
static void test_bad_fixtures(void **state)
{
    (void)state;
    assert_true(expect_check_dir(".rules", parse_rules) >= 7);
}

static void test_finish_checks(void **state)
{
    (void)state;
    static const char a[] = "[refund]\npattern = 退款\naction = answer refund-time\n"
                            "[gone]\npattern = 旧\naction = answer removed-entry\n";
    static const char b[] = "\n[refund]\npattern = 退钱\naction = answer refund-time\n";
    static const char kbtext[] = "<a id = \"refund-time\"></a>\n# ? 退款多久\n三天。\n";
    kf_diag d;
    kf_diag_init(&d);
    kf_kb *kb = kf_kb_new();
    assert_int_equal(kf_kb_parse(kb, "kb/r.md", kbtext, strlen(kbtext), &d), KF_OK);
    assert_int_equal(kf_kb_finish(kb, &d), KF_OK);
    kf_rules *r = kf_rules_new(NULL);
    assert_int_equal(kf_rules_parse(r, "a.rules", a, strlen(a), &d), KF_OK);
    assert_int_equal(kf_rules_parse(r, "b.rules", b, strlen(b), &d), KF_OK);
    assert_int_equal(kf_rules_finish(r, kb, &d), KF_EPARSE);
    char *got = expect_render(&d);
    assert_string_equal(got, "a.rules:6: rule 'gone' answers unknown entry 'removed-entry'\n"
                             "b.rules:2: duplicate rule name 'refund' (first defined at "
                             "a.rules:1)\n");
    kf_free(got);
    kf_diag_cleanup(&d);
    kf_rules_free(r);
    kf_kb_free(kb);
}

static void test_load_dir(void **state)
{
    (void)state;
    kf_diag d;
    kf_diag_init(&d);
    /* fixtures/bad holds only broken rules: nothing loads, everything is reported */
    assert_null(kf_rules_load_dir(FIXTURES "/bad", NULL, NULL, &d));
    assert_true(d.n >= 7);
    kf_diag_cleanup(&d);
    kf_diag_init(&d);
    assert_null(kf_rules_load_dir("/nonexistent/kefu/intents", NULL, NULL, &d));
    assert_int_equal(d.n, 1);
    kf_diag_cleanup(&d);
    kf_diag_init(&d);
    kf_rules *r = kf_rules_load_dir(FIXTURES "/qna", NULL, NULL, &d); /* no .rules: empty */
    assert_non_null(r);
    assert_int_equal(kf_rules_count(r), 0);
    kf_rules_free(r);
    kf_diag_cleanup(&d);
}

/* One compiled set, matched from several threads at once (each with its own match data
 * and JIT stack). Run under the sanitizers and valgrind this is where sharing would show. */
static void *match_thread(void *arg)
{
    const kf_rules *r = arg;
    for (int i = 0; i < 200; i++) {
        kf_rules_result res;
        static const char text[] = "投诉 订单 123456789012";
        if (kf_rules_match(r, text, strlen(text), &res) != KF_OK)
            return "error";
        int ok = res.hit && strcmp(res.hit->name, "complaint") == 0 && res.n_slots == 1;
        kf_rules_result_cleanup(&res);
        if (!ok)
            return "wrong";
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    kf_rules *r = load(RULES, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, match_thread, r), 0);
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    kf_rules_free(r);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        kf_diag d;
        kf_diag_init(&d);
        expect_fail_at = n;
        kf_mem_set_fail_hook(expect_fail_hook);
        kf_rules *r = kf_rules_new(NULL);
        int rc = r ? kf_rules_parse(r, "s.rules", RULES, strlen(RULES), &d) : KF_ENOMEM;
        if (rc == KF_OK)
            rc = kf_rules_finish(r, NULL, &d);
        kf_rules_result res = {0};
        if (rc == KF_OK)
            rc = kf_rules_match(r, "投诉 123456789012", strlen("投诉 123456789012"), &res);
        kf_mem_set_fail_hook(NULL);
        assert_true(rc == KF_OK || rc == KF_ENOMEM);
        if (rc == KF_OK && d.n == 0 && !d.oom) {
            ok = 1;
            assert_non_null(res.hit);
        }
        kf_rules_result_cleanup(&res);
        kf_rules_free(r);
        kf_diag_cleanup(&d);
        assert_int_equal(kf_mem_in_use(), base);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_actions),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_match_and_slots),
        cmocka_unit_test(test_ucp_and_caseless),
        cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_without_jit),
        cmocka_unit_test(test_invalid_input_text),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_finish_checks),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
