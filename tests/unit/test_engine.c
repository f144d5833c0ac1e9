/* SPDX-License-Identifier: MIT
 * Unit tests of the matcher over tests/fixtures/engine: rules first, retrieval and the
 * learned layer, decisions, languages, bad input, all-or-nothing loading, search. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kefu/engine.h"
#include "kefu/mem.h"

#define FIX "tests/fixtures/engine"

static kf_engine *load(int learned)
{
    kf_engine_config c;
    kf_diag d;
    kf_engine_config_defaults(&c);
    c.kb_dir = FIX "/kb";
    c.intents_dir = FIX "/intents";
    c.learned = learned;
    kf_diag_init(&d);
    kf_engine *e = kf_engine_load(&c, &d);
    if (!e)
        kf_diag_print(&d, stderr);
    kf_diag_cleanup(&d);
    return e;
}

static int setup(void **state)
{
    *state = load(2);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kf_engine_unref(*state);
    return 0;
}

static void ask(kf_engine *e, const char *q, kf_match *m)
{
    int rc = kf_engine_match(e, q, strlen(q), KF_LANG_NONE, KF_MATCH_EXPLAIN, m);
    assert_int_equal(rc, KF_OK);
}

static void expect_entry(kf_engine *e, const char *q, const char *id)
{
    kf_match m;
    ask(e, q, &m);
    if (!m.entry || strcmp(m.entry->id, id) != 0 || m.decision != KF_DECISION_ANSWER)
        fail_msg("\"%s\": expected %s, got %s %s (%.3f)", q, id, kf_decision_name(m.decision),
                 m.n_cand ? m.cand[0].entry->id : "-", m.confidence);
    kf_match_cleanup(&m);
}

static void test_answers(void **state)
{
    kf_engine *e = *state;
    assert_true(kf_engine_learned_ready(e));
    expect_entry(e, "我要退货怎么弄", "return-how");
    expect_entry(e, "退款几天能到", "refund-time");
    expect_entry(e, "保修期多长", "warranty-period");
    expect_entry(e, "質保多久", "warranty-period"); /* traditional + synonym */
    expect_entry(e, "how do I return my order", "return-how");
    expect_entry(e, "发票", "invoice-issue");          /* a rule answers with an entry */
}

/* The answers are training text too: a question worded like an answer and like none of the
 * phrasings (审核 and 通过 appear only in refund-time's answer) ranks that entry first. */
static void test_answer_text(void **state)
{
    kf_engine *e = *state;
    kf_match m;
    ask(e, "审核通过了吗", &m);
    assert_true(m.n_cand > 0);
    assert_string_equal(m.cand[0].entry->id, "refund-time");
    kf_match_cleanup(&m);
}

static void test_language(void **state)
{
    kf_engine *e = *state;
    kf_match m;
    ask(e, "how long for a refund", &m);
    assert_int_equal(m.decision, KF_DECISION_ANSWER);
    assert_int_equal(m.lang, KF_LANG_EN);
    assert_non_null(m.version);
    assert_int_equal(m.version->lang, KF_LANG_EN);
    assert_int_equal(m.lang_fallback, 0);
    kf_match_cleanup(&m);
    /* the invoice entry has no English version: answered in Chinese, flagged */
    assert_int_equal(kf_engine_match(e, "发票", strlen("发票"), KF_LANG_EN, 0, &m), KF_OK);
    assert_int_equal(m.decision, KF_DECISION_ANSWER);
    assert_int_equal(m.version->lang, KF_LANG_ZH);
    assert_int_equal(m.lang_fallback, 1);
    kf_match_cleanup(&m);
}

static void test_rules(void **state)
{
    kf_engine *e = *state;
    kf_match m;
    ask(e, "我要投诉，转人工", &m);
    assert_int_equal(m.decision, KF_DECISION_HANDOFF);
    assert_string_equal(m.handoff_reason, "complaint"); /* higher priority than ask_human */
    assert_int_equal(m.urgent, 1);
    assert_non_null(m.reply);
    kf_match_cleanup(&m);
    /* an entry marked `handoff = complaint` answers and hands over (no rule fires here) */
    ask(e, "我要跟领导反映问题", &m);
    assert_null(m.rule);
    assert_int_equal(m.decision, KF_DECISION_HANDOFF);
    assert_string_equal(m.handoff_reason, "complaint");
    assert_int_equal(m.urgent, 1);
    assert_string_equal(m.entry->id, "complaint-file");
    assert_non_null(strstr(m.reply, "转接人工客服"));
    kf_match_cleanup(&m);
    ask(e, "I want a real person", &m);
    assert_int_equal(m.decision, KF_DECISION_HANDOFF);
    assert_string_equal(m.handoff_reason, "asked");
    assert_int_equal(m.lang, KF_LANG_EN);
    assert_string_equal(m.reply, "Sure, connecting you to a human agent.");
    kf_match_cleanup(&m);
    ask(e, "你好！", &m);
    assert_int_equal(m.decision, KF_DECISION_REPLY);
    assert_string_equal(m.rule->name, "greeting");
    kf_match_cleanup(&m);
    ask(e, "订单 202401010001234 退款多久到账", &m);
    assert_int_equal(m.decision, KF_DECISION_ANSWER);
    assert_string_equal(m.entry->id, "refund-time");
    assert_int_equal(m.n_slots, 1);
    assert_string_equal(m.slots[0].name, "order");
    assert_string_equal(m.slots[0].value, "202401010001234");
    kf_match_cleanup(&m);
}

static void test_unknown(void **state)
{
    kf_engine *e = *state;
    kf_match m;
    ask(e, "股票代码多少", &m);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    kf_match_cleanup(&m);
    ask(e, "quantum chromodynamics lecture notes", &m);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    kf_match_cleanup(&m);
}

static void test_bad_input(void **state)
{
    kf_engine *e = *state;
    kf_match m;
    assert_int_equal(kf_engine_match(e, "ab\xff", 3, KF_LANG_NONE, 0, &m), KF_EUTF8);
    assert_int_equal(kf_engine_match(e, "", 0, KF_LANG_NONE, 0, &m), KF_EEMPTY);
    assert_int_equal(kf_engine_match(e, "   \t ", 5, KF_LANG_NONE, 0, &m), KF_EEMPTY);
    assert_int_equal(kf_engine_match(e, "！？。😀", strlen("！？。😀"), KF_LANG_NONE, 0, &m),
                     KF_EEMPTY);
    /* FTS5 syntax in user text is only text, with and without the learned layer */
    const char *hostile[] = {"\"退货", "退货 AND OR NOT", "NEAR(退货 发票, 2)", "t:退货 ^发票*",
                             "{t} : \"\" ''", "退货\"); DROP TABLE phr; --"};
    kf_engine *r = load(0);
    assert_non_null(r);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        assert_int_equal(kf_engine_match(e, hostile[i], strlen(hostile[i]), KF_LANG_NONE, 0, &m),
                         KF_OK);
        kf_match_cleanup(&m);
        assert_int_equal(kf_engine_match(r, hostile[i], strlen(hostile[i]), KF_LANG_NONE, 0, &m),
                         KF_OK);
        kf_match_cleanup(&m);
        kf_candidate c[5];
        assert_true(kf_engine_search(e, hostile[i], strlen(hostile[i]), c, 5) >= 0);
    }
    kf_engine_unref(r);
    /* a 1 MB question: bounded work, an answer */
    size_t big = 1 << 20;
    char *q = malloc(big + 1);
    for (size_t i = 0; i + 6 <= big; i += 6)
        memcpy(q + i, "退货", 6);
    q[big - big % 6] = '\0';
    assert_int_equal(kf_engine_match(e, q, strlen(q), KF_LANG_NONE, 0, &m), KF_OK);
    assert_int_equal(m.decision, KF_DECISION_ANSWER);
    assert_string_equal(m.entry->id, "return-how");
    kf_match_cleanup(&m);
    free(q);
}

static void test_retrieval_only(void **state)
{
    (void)state;
    kf_engine *e = load(0);
    assert_non_null(e);
    assert_false(kf_engine_learned_ready(e));
    kf_match m;
    ask(e, "退款多久到账呢", &m);
    assert_true(m.n_cand >= 1);
    assert_string_equal(m.cand[0].entry->id, "refund-time");
    assert_true(m.cand[0].bm25 > 0);
    kf_match_cleanup(&m);
    kf_engine_unref(e);
}

static void test_background(void **state)
{
    (void)state;
    kf_engine *e = load(1);
    assert_non_null(e);
    kf_match m;
    ask(e, "怎么开发票", &m); /* answers whether or not the layer is ready yet */
    assert_true(m.n_cand >= 1);
    assert_string_equal(m.cand[0].entry->id, "invoice-issue");
    kf_match_cleanup(&m);
    kf_engine *keep = kf_engine_ref(e);
    kf_engine_unref(e); /* the snapshot lives while someone holds it */
    kf_engine_wait_learned(keep);
    assert_true(kf_engine_learned_ready(keep));
    kf_engine_unref(keep);
    /* dropping the last reference while training runs must not wait or leak */
    kf_engine_unref(load(1));
}

static void test_search(void **state)
{
    kf_engine *e = *state;
    kf_candidate c[5];
    int n = kf_engine_search(e, "电子发票 邮箱", strlen("电子发票 邮箱"), c, 5);
    assert_true(n >= 1);
    assert_string_equal(c[0].entry->id, "invoice-issue");
    n = kf_engine_search(e, "original payment method", strlen("original payment method"), c, 5);
    assert_true(n >= 1);
    assert_string_equal(c[0].entry->id, "refund-time");
}

static void test_run_tests(void **state)
{
    kf_engine *e = *state;
    size_t passed = 0, total = 0;
    assert_int_equal(kf_engine_run_tests(e, stderr, &passed, &total), KF_OK);
    assert_int_equal(total, 7);
    assert_int_equal(passed, 7);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_broken_knowledge(void **state)
{
    (void)state;
    char dir[] = "/tmp/kefu-engine-XXXXXX", kb[128], in[128], p[160];
    assert_non_null(mkdtemp(dir));
    snprintf(kb, sizeof(kb), "%s/kb", dir);
    snprintf(in, sizeof(in), "%s/intents", dir);
    mkdir(kb, 0700);
    mkdir(in, 0700);
    snprintf(p, sizeof(p), "%s/a.md", kb);
    write_file(p, "<a id = \"x\"></a>\n# ? one\n```\nA\n```\n\n<a id = \"x\"></a>\n# ? two\n```\nB\n```\n");
    snprintf(p, sizeof(p), "%s/r.rules", in);
    write_file(p, "[bad]\npattern = (unclosed\naction = reply\nreply = r\n");
    snprintf(p, sizeof(p), "%s/t.test", kb);
    write_file(p, "one\nno-such-entry\n");
    kf_engine_config c;
    kf_engine_config_defaults(&c);
    c.kb_dir = kb;
    c.intents_dir = in;
    kf_diag d;
    kf_diag_init(&d);
    assert_null(kf_engine_load(&c, &d));
    char out[2048] = {0};
    FILE *f = fmemopen(out, sizeof(out), "w");
    kf_diag_print(&d, f);
    fclose(f);
    kf_diag_cleanup(&d);
    assert_non_null(strstr(out, "a.md:8: duplicate id 'x' (first defined at "));
    assert_non_null(strstr(out, "r.rules:2:"));
    /* the test file is checked too once the rest loads: fix the others and retry */
    snprintf(p, sizeof(p), "%s/a.md", kb);
    write_file(p, "<a id = \"x\"></a>\n# ? one\n```\nA\n```\n");
    snprintf(p, sizeof(p), "%s/r.rules", in);
    write_file(p, "[ok]\npattern = ^hi$\naction = reply\nreply = r\n");
    kf_diag_init(&d);
    assert_null(kf_engine_load(&c, &d));
    memset(out, 0, sizeof(out));
    f = fmemopen(out, sizeof(out), "w");
    kf_diag_print(&d, f);
    fclose(f);
    kf_diag_cleanup(&d);
    assert_non_null(strstr(out, "t.test:2: unknown entry id 'no-such-entry'"));
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

static void test_model_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/kefu-cache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kf_engine_config c;
    kf_engine_config_defaults(&c);
    c.kb_dir = FIX "/kb";
    c.intents_dir = FIX "/intents";
    c.learned = 2;
    c.cache_dir = dir;
    kf_diag d;
    kf_diag_init(&d);
    kf_engine *a = kf_engine_load(&c, &d);
    assert_non_null(a);
    assert_true(kf_engine_learned_ready(a));
    assert_false(kf_engine_learned_cached(a)); /* trained, then saved */
    kf_engine *b = kf_engine_load(&c, &d);
    assert_non_null(b);
    assert_true(kf_engine_learned_cached(b)); /* same files: from the cache */
    kf_match ma, mb;
    ask(a, "质保多久", &ma);
    ask(b, "质保多久", &mb);
    assert_string_equal(ma.entry->id, mb.entry->id);
    assert_true(fabs(ma.confidence - mb.confidence) < 1e-6);
    kf_match_cleanup(&ma);
    kf_match_cleanup(&mb);
    kf_engine_unref(a);
    kf_engine_unref(b);
    kf_diag_cleanup(&d);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The fixture plus an out-of-scope entry (`decision = fallback`) and a rule naming it. */
static kf_engine *load_with_oos(char *dir, double margin_min, double clarify_min)
{
    static const char oos[] =
        "<a id = \"oos-jobs\"></a>\n"
        "# ? 你们公司招人吗？\n"
        "- 你们招聘吗\n- 怎么投简历\n- 有没有实习岗位\n- 想来你们公司上班\n"
        "- 面试结果什么时候出\n- 工资待遇怎么样\n- 招不招兼职\n- 明天会下雨吗\n"
        "\n**Filters:**\n- category = out-of-scope\n- decision = Fallback\n\n"
        "```markdown\n售后客服管不了招聘，请看官网。\n```\n\n"
        "## ? Are you hiring?\n- job openings\n- where do I send my CV\n- internships\n"
        "- will it rain tomorrow\n\n```markdown\nNot here, see our careers page.\n```\n";
    static const char rules[] = "[jobfair]\npattern = 招聘会\naction = answer oos-jobs\n";
    char cmd[512], p[256];
    snprintf(cmd, sizeof(cmd), "cp -r " FIX "/kb " FIX "/intents '%s'/", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof(p), "%s/kb/oos.md", dir);
    write_file(p, oos);
    snprintf(p, sizeof(p), "%s/intents/oos.rules", dir);
    write_file(p, rules);
    kf_engine_config c;
    kf_engine_config_defaults(&c);
    char kb[256], in[256];
    snprintf(kb, sizeof(kb), "%s/kb", dir);
    snprintf(in, sizeof(in), "%s/intents", dir);
    c.kb_dir = kb;
    c.intents_dir = in;
    c.learned = 2;
    if (margin_min >= 0)
        c.margin_min = margin_min;
    if (clarify_min >= 0)
        c.answer_min = c.clarify_min = clarify_min;
    kf_diag d;
    kf_diag_init(&d);
    kf_engine *e = kf_engine_load(&c, &d);
    if (!e)
        kf_diag_print(&d, stderr);
    kf_diag_cleanup(&d);
    assert_non_null(e);
    return e;
}

static void test_out_of_scope(void **state)
{
    (void)state;
    char dir[] = "/tmp/kefu-oos-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kf_engine *e = load_with_oos(dir, -1, -1);
    assert_true(kf_kb_find(kf_engine_kb(e), "oos-jobs")->out_of_scope);
    assert_int_equal(kf_kb_find(kf_engine_kb(e), "oos-jobs")->n_meta, 0); /* not kept as meta */
    assert_false(kf_kb_find(kf_engine_kb(e), "refund-time")->out_of_scope);
    kf_match m;
    char got[128];
    /* the entry wins and its answer is the fallback's text, in the visitor's language */
    ask(e, "你们公司招聘吗", &m);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    assert_string_equal(m.entry->id, "oos-jobs");
    assert_string_equal(m.reply, "售后客服管不了招聘，请看官网。");
    assert_true(kf_match_expect(&m, "@fallback"));
    assert_false(kf_match_expect(&m, "oos-jobs"));
    kf_match_describe(&m, got, sizeof(got));
    assert_string_equal(got, "@fallback(oos-jobs)");
    kf_match_cleanup(&m);
    ask(e, "are you hiring interns", &m);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    assert_string_equal(m.reply, "Not here, see our careers page.");
    kf_match_cleanup(&m);
    /* a rule naming the entry falls back the same way */
    ask(e, "你们参加招聘会吗", &m);
    assert_non_null(m.rule);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    assert_string_equal(m.entry->id, "oos-jobs");
    kf_match_cleanup(&m);
    /* questions in scope are still answered */
    expect_entry(e, "退款多久到账", "refund-time");
    expect_entry(e, "质保多久", "warranty-period");
    ask(e, "我要投诉，转人工", &m);
    assert_int_equal(m.decision, KF_DECISION_HANDOFF);
    kf_match_cleanup(&m);
    /* an ordinary fallback has no entry and no reply */
    ask(e, "量子力学", &m);
    assert_int_equal(m.decision, KF_DECISION_FALLBACK);
    assert_null(m.entry);
    assert_null(m.reply);
    kf_match_cleanup(&m);
    kf_engine_unref(e);

    /* Never a clarify option: with no margin ever enough and every candidate above the
     * threshold, everything would be a clarify; an out-of-scope entry at the top falls back
     * instead, and options stop before one. */
    e = load_with_oos(dir, 2.0, 0.0);
    static const char *const qs[] = {"你们公司招聘吗", "退款多久到账", "怎么申请退货",
                                     "保修期多长", "发票", "明天会下雨吗吗",
                                     "how do I return it", "job openings", "退款 招聘"};
    int clarified = 0, fell_back = 0;
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        ask(e, qs[i], &m);
        if (m.n_cand && m.cand[0].entry->out_of_scope) {
            assert_int_equal(m.decision, KF_DECISION_FALLBACK);
            fell_back++;
        }
        if (m.decision == KF_DECISION_CLARIFY) {
            assert_true(m.n_options >= 2);
            for (size_t k = 0; k < m.n_options; k++)
                assert_false(m.cand[k].entry->out_of_scope);
            clarified++;
        }
        kf_match_cleanup(&m);
    }
    assert_true(clarified > 0);
    assert_true(fell_back > 0);
    kf_engine_unref(e);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_from_tsv(void **state)
{
    (void)state;
    const char *tsv = "where is my card\tcard_arrival\n"
                      "my card has not arrived\tcard_arrival\n"
                      "card still not here\tcard_arrival\n"
                      "how do i top up\ttop_up\n"
                      "add money to my account\ttop_up\n"
                      "top up by bank transfer\ttop_up\n"
                      "what is the weather\toos\n";
    kf_engine_config c;
    kf_engine_config_defaults(&c);
    c.learned = 2;
    kf_diag d;
    kf_diag_init(&d);
    kf_engine *e = kf_engine_from_tsv(&c, "mem.tsv", tsv, strlen(tsv), &d);
    kf_diag_print(&d, stderr);
    kf_diag_cleanup(&d);
    assert_non_null(e);
    assert_int_equal(kf_engine_kb(e)->n_entries, 2); /* oos lines are not an entry */
    kf_match m;
    ask(e, "my new card hasn't arrived yet", &m);
    assert_string_equal(m.cand[0].entry->id, "card_arrival");
    kf_match_cleanup(&m);
    ask(e, "can I top up with a transfer", &m);
    assert_string_equal(m.cand[0].entry->id, "top_up");
    kf_match_cleanup(&m);
    kf_engine_unref(e);
    kf_diag_init(&d);
    assert_null(kf_engine_from_tsv(&c, "bad.tsv", "no tab here\n", 12, &d));
    assert_int_equal(kf_diag_count(&d), 1);
    assert_int_equal(d.items[0].line, 1);
    kf_diag_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),      cmocka_unit_test(test_language),
        cmocka_unit_test(test_rules),        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_bad_input),    cmocka_unit_test(test_search),
        cmocka_unit_test(test_run_tests),    cmocka_unit_test(test_answer_text),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_retrieval_only),  cmocka_unit_test(test_background),
        cmocka_unit_test(test_broken_knowledge), cmocka_unit_test(test_from_tsv),
        cmocka_unit_test(test_model_cache),
        cmocka_unit_test(test_out_of_scope),
    };
    int rc = cmocka_run_group_tests_name("engine", tests, setup, teardown);
    rc |= cmocka_run_group_tests_name("engine (own snapshots)", alone, NULL, NULL);
    return rc;
}
