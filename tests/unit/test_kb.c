/* SPDX-License-Identifier: MIT
 * kb: the .qna Markdown parser, the container and its cross-file checks, loading a
 * directory all-or-nothing, and TSV import. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kefu/kb.h"
#include "expect.h"

/* The example of docs/knowledge-format.md, plus the entries its prompts point to. */
static const char FULL[] = "> Lines starting with \">\" are comments.\n"
                           "<a id = \"refund-time\"></a>\n"
                           "\n"
                           "# ? 退款多久到账？\n"
                           "- 退款什么时候到\n"
                           "- 钱多久能退回来\n"
                           "\n"
                           "- 退款几天到账\n"
                           "\n"
                           "**Filters:**\n"
                           "- category = refunds\n"
                           "- tags = 退款, 到账\n"
                           "\n"
                           "```markdown\n"
                           "退款审核通过后，原路退回：\n"
                           "- 微信 / 支付宝：1–3 个工作日\n"
                           "- 银行卡：3–7 个工作日\n"
                           "```\n"
                           "\n"
                           "**Prompts:**\n"
                           "- [查看退款进度](#refund-progress)\n"
                           "- [部分退款](#?部分退款怎么算？)\n"
                           "\n"
                           "## ? How long does a refund take?\n"
                           "- when will I get my money back\n"
                           "- refund time\n"
                           "\n"
                           "```markdown\n"
                           "Once approved, the refund goes back to the original payment method.\n"
                           "```\n"
                           "\n"
                           "<a id=refund-progress></a>\n"
                           "# ? 怎么查看退款进度\n"
                           "在「我的订单」里查看。\n"
                           "\n"
                           "<a id='partial-refund'></a>\n"
                           "# ? 部分退款怎么算？\n"
                           "按实付金额比例退回。\n";

static kf_kb *parse_ok(const char *file, const char *text)
{
    kf_diag d;
    kf_diag_init(&d);
    kf_kb *kb = kf_kb_new();
    assert_non_null(kb);
    int rc = kf_kb_parse(kb, file, text, strlen(text), &d);
    if (rc == KF_OK)
        rc = kf_kb_finish(kb, &d);
    if (d.n)
        kf_diag_print(&d, stderr);
    assert_int_equal(rc, KF_OK);
    assert_int_equal(d.n, 0);
    kf_diag_cleanup(&d);
    return kb;
}

static void test_full_entry(void **state)
{
    (void)state;
    kf_kb *kb = parse_ok("kb/refunds.md", FULL);
    assert_int_equal(kb->n_entries, 3);
    const kf_entry *e = kf_kb_find(kb, "refund-time");
    assert_ptr_equal(e, &kb->entries[0]);
    assert_string_equal(e->file, "kb/refunds.md");
    assert_int_equal(e->line, 4);
    assert_string_equal(e->category, "refunds");
    assert_int_equal(e->n_tags, 2);
    assert_string_equal(e->tags[0], "退款");
    assert_string_equal(e->tags[1], "到账");
    assert_int_equal(e->n_meta, 0);
    assert_int_equal(e->n_versions, 2);

    const kf_version *zh = kf_entry_version(e, KF_LANG_ZH);
    assert_non_null(zh);
    assert_int_equal(zh->line, 4);
    assert_string_equal(zh->question, "退款多久到账？");
    assert_int_equal(zh->n_alts, 3);
    assert_string_equal(zh->alts[0], "退款什么时候到");
    assert_string_equal(zh->alts[2], "退款几天到账");
    assert_string_equal(zh->answer, "退款审核通过后，原路退回：\n"
                                    "- 微信 / 支付宝：1–3 个工作日\n"
                                    "- 银行卡：3–7 个工作日");
    assert_int_equal(zh->n_prompts, 2);
    assert_string_equal(zh->prompts[0].text, "查看退款进度");
    assert_string_equal(zh->prompts[0].target, "refund-progress");
    assert_int_equal(zh->prompts[0].line, 21);
    assert_string_equal(zh->prompts[1].text, "部分退款");
    /* "#?question" resolved to the id by kf_kb_finish */
    assert_string_equal(zh->prompts[1].target, "partial-refund");

    const kf_version *en = kf_entry_version(e, KF_LANG_EN);
    assert_non_null(en);
    assert_int_equal(en->line, 24);
    assert_string_equal(en->question, "How long does a refund take?");
    assert_int_equal(en->n_alts, 2);
    assert_string_equal(en->alts[1], "refund time");
    assert_string_equal(en->answer,
                        "Once approved, the refund goes back to the original payment method.");
    assert_int_equal(en->n_prompts, 0);

    const kf_entry *p = kf_kb_find(kb, "refund-progress");
    assert_non_null(p);
    assert_int_equal(p->n_versions, 1);
    assert_string_equal(p->versions[0].answer, "在「我的订单」里查看。");
    assert_null(p->category);
    assert_null(kf_entry_version(p, KF_LANG_EN));
    assert_non_null(kf_kb_find(kb, "partial-refund"));
    assert_null(kf_kb_find(kb, "nope"));
    kf_kb_free(kb);
}

/* Everything the doc leaves open that real files do: "#?" without a space, "*" and "+"
 * alternates, "~~~" fences with a tail, plain answers with lists and code, other filter
 * keys, the full-width comma in tags, a lang filter overriding detection. */
static void test_liberal_forms(void **state)
{
    (void)state;
    static const char text[] = "#?退货地址在哪\n"
                               "* 退货寄到哪里\n"
                               "+ 退货地址\n"
                               "**Filters:**\n"
                               "- Category = returns\n"
                               "- tags = 退货，地址,  \n"
                               "- owner = 小王\n"
                               "寄到：上海市 1 号仓。\n"
                               "\n"
                               "- 请写上订单号\n"
                               "  - 写在箱子外面\n"
                               "```\n"
                               "# ? not a question inside code\n"
                               "```\n"
                               "\n"
                               "\n"
                               "**Prompts:**\n"
                               "- [运费谁付](#shipping-fee)\n"
                               "## ? Return address 地址\n"
                               "**Filters:**\n"
                               "- lang = EN-us\n"
                               "~~~~ markdown\n"
                               "    Ship to warehouse 1, Shanghai.\n"
                               "    ```\n"
                               "      keep\n"
                               "~~~~\n"
                               "<a id = \"shipping-fee\" ></a>\n"
                               "# ? 运费谁付\n"
                               "商家承担。\n";
    kf_kb *kb = parse_ok("kb/returns.md", text);
    assert_int_equal(kb->n_entries, 2);
    const kf_entry *e = &kb->entries[0];
    assert_string_equal(e->id, "returns.1");
    assert_string_equal(e->category, "returns");
    assert_int_equal(e->n_tags, 2);
    assert_string_equal(e->tags[0], "退货");
    assert_string_equal(e->tags[1], "地址");
    assert_int_equal(e->n_meta, 1);
    assert_string_equal(e->meta_keys[0], "owner");
    assert_string_equal(e->meta_vals[0], "小王");
    const kf_version *zh = kf_entry_version(e, KF_LANG_ZH);
    assert_string_equal(zh->question, "退货地址在哪");
    assert_int_equal(zh->n_alts, 2);
    assert_string_equal(zh->alts[0], "退货寄到哪里");
    assert_string_equal(zh->alts[1], "退货地址");
    assert_string_equal(zh->answer,
                        "寄到：上海市 1 号仓。\n\n- 请写上订单号\n  - 写在箱子外面\n```\n"
                        "# ? not a question inside code\n```");
    assert_int_equal(zh->n_prompts, 1);
    assert_string_equal(zh->prompts[0].target, "shipping-fee");
    /* Han characters in the question, but the lang filter says en */
    const kf_version *en = kf_entry_version(e, KF_LANG_EN);
    assert_non_null(en);
    assert_string_equal(en->question, "Return address 地址");
    assert_string_equal(en->answer, "Ship to warehouse 1, Shanghai.\n```\n  keep");
    assert_string_equal(kb->entries[1].id, "shipping-fee");
    kf_kb_free(kb);
}

/* A QnA Maker style export loads as it is. */
static void test_qna_export(void **state)
{
    (void)state;
    kf_diag d;
    kf_diag_init(&d);
    kf_kb *kb = kf_kb_load_dir(FIXTURES "/qna", &d);
    kf_diag_print(&d, stderr);
    assert_non_null(kb);
    assert_int_equal(d.n, 0);
    assert_int_equal(kb->n_entries, 3);
    const kf_entry *e = kf_kb_find(kb, "1");
    assert_non_null(e);
    assert_string_equal(e->file, FIXTURES "/qna/sample.qna");
    assert_string_equal(e->category, "account");
    assert_int_equal(e->n_meta, 1);
    assert_string_equal(e->meta_keys[0], "editorial");
    const kf_version *v = kf_entry_version(e, KF_LANG_EN);
    assert_non_null(v);
    assert_string_equal(v->question, "How do I reset my password?");
    assert_int_equal(v->n_alts, 2);
    assert_string_equal(v->answer, "Go to **Settings → Security** and choose *Reset password*.\n"
                                   "We send a link to your email address.");
    assert_int_equal(v->n_prompts, 2);
    assert_string_equal(v->prompts[0].target, "2");
    /* "#?how-do-i-change-my-email": hyphens for spaces, as the .qna docs suggest */
    assert_string_equal(v->prompts[1].target, "3");
    assert_string_equal(v->prompts[1].text, "Change my email");
    const kf_entry *three = kf_kb_find(kb, "3");
    assert_non_null(three);
    assert_string_equal(three->versions[0].question, "How do I change my email");
    /* a tab-indented fence (the docs' examples) is dedented */
    assert_string_equal(three->versions[0].answer,
                        "Open **Settings → Profile** and edit the email field.\n\n"
                        "- the old address gets a notice");
    kf_kb_free(kb);
    kf_diag_cleanup(&d);
}

/* QnA Maker exports write "## ?" for each entry: the first heading's level starts
 * entries, one more '#' is another language version. */
static void test_export_heading_levels(void **state)
{
    (void)state;
    static const char text[] = "<a id = \"10\"></a>\n\n## ? What are your hours?\n\n"
                               "```markdown\n9 to 5.\n```\n\n"
                               "### ? 营业时间？\n```\n九点到五点。\n```\n\n"
                               "<a id = \"11\"></a>\n\n## ? Where are you?\n\n"
                               "```markdown\nShanghai.\n```\n\n"
                               "## ? Do you ship abroad?\nNo.\n";
    kf_kb *kb = parse_ok("kb/export.qna", text);
    assert_int_equal(kb->n_entries, 3);
    assert_string_equal(kb->entries[0].id, "10");
    assert_int_equal(kb->entries[0].n_versions, 2);
    assert_string_equal(kf_entry_version(&kb->entries[0], KF_LANG_ZH)->answer, "九点到五点。");
    assert_string_equal(kb->entries[1].id, "11");
    assert_string_equal(kb->entries[2].id, "export.3");
    assert_string_equal(kb->entries[2].versions[0].answer, "No.");
    kf_kb_free(kb);
}

static char *make_tmpdir(void)
{
    char *dir = kf_strdup("/tmp/kefu-test-kb-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void remove_dir(char *dir, const char *const *names)
{
    char path[512];
    for (size_t i = 0; names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    kf_free(dir);
}

static void test_crlf_bom_file(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF<a id = \"crlf\"></a>\r\n"
                               "# ? 发票怎么开？\r\n"
                               "- 开发票\r\n"
                               "\r\n"
                               "```markdown\r\n"
                               "在订单页申请电子发票。\r\n"
                               "第二行\r\n"
                               "```\r\n";
    static const char *const names[] = {"crlf.md", NULL};
    char *dir = make_tmpdir();
    write_file(dir, "crlf.md", text, sizeof(text) - 1);
    kf_diag d;
    kf_diag_init(&d);
    kf_kb *kb = kf_kb_load_dir(dir, &d);
    kf_diag_print(&d, stderr);
    assert_non_null(kb);
    const kf_entry *e = kf_kb_find(kb, "crlf");
    assert_non_null(e);
    assert_string_equal(e->versions[0].question, "发票怎么开？");
    assert_string_equal(e->versions[0].alts[0], "开发票");
    assert_string_equal(e->versions[0].answer, "在订单页申请电子发票。\n第二行");
    assert_int_equal(e->line, 2);
    kf_kb_free(kb);
    kf_diag_cleanup(&d);
    remove_dir(dir, names);
}

static void parse_and_finish(const char *path, const char *text, size_t len, kf_diag *d)
{
    kf_kb *kb = kf_kb_new();
    assert_non_null(kb);
    int rc = kf_kb_parse(kb, path, text, len, d);
    assert_true(rc == KF_EPARSE || rc == KF_EUTF8 || rc == KF_OK);
    kf_kb_finish(kb, d);
    kf_kb_free(kb);
}

/* Every .md file in tests/fixtures/bad/ produces exactly the messages it states. */
static void test_bad_fixtures(void **state)
{
    (void)state;
    assert_true(expect_check_dir(".md", parse_and_finish) >= 15);
}

/* Errors do not stop the parse: every one of them is reported in one pass. */
static void test_keeps_going(void **state)
{
    (void)state;
    static const char text[] = "- stray\n"                 /* 1 */
                               "# ? first\n"               /* 2: no answer */
                               "<a id = \"a b\"></a>\n"    /* 3 */
                               "# ? second\n"              /* 4 */
                               "```\n"                     /* 5 */
                               "ok\n"                      /* 6 */
                               "```\n"                     /* 7 */
                               "trailing words\n"          /* 8 */
                               "**Prompts:**\n"            /* 9 */
                               "- (#x)[wrong way round]\n" /* 10 */
                               "# ? third\n"               /* 11 */
                               "- lang = xx\n"             /* 12: an alternate, not a filter */
                               "```\n"                     /* 13 */
                               "half an answer\n";         /* 14 */
    kf_kb *kb = kf_kb_new();
    kf_diag d;
    kf_diag_init(&d);
    assert_int_equal(kf_kb_parse(kb, "k.md", text, strlen(text), &d), KF_EPARSE);
    char *got = expect_render(&d);
    assert_string_equal(got, "k.md:1: alternate phrasing outside an entry\n"
                             "k.md:2: entry without an answer\n"
                             "k.md:3: invalid id 'a b' (ids use letters, digits, '-', '_', '.')\n"
                             "k.md:8: unexpected text after the answer\n"
                             "k.md:10: malformed prompt (expected '- [text](#id)' or "
                             "'- [text](#?question)')\n"
                             "k.md:13: unterminated fenced block\n");
    /* the good entries are there, with generated ids (the bad anchor was dropped) */
    assert_int_equal(kb->n_entries, 2);
    assert_string_equal(kb->entries[0].id, "k.2");
    assert_string_equal(kb->entries[1].id, "k.3");
    assert_string_equal(kb->entries[1].versions[0].alts[0], "lang = xx");
    kf_free(got);
    kf_diag_cleanup(&d);
    kf_kb_free(kb);
}

static void test_duplicate_across_files(void **state)
{
    (void)state;
    static const char a[] = "<a id = \"x\"></a>\n# ? 甲\n答。\n";
    static const char b[] = "> other file\n\n<a id = \"x\"></a>\n# ? 乙\n答。\n";
    kf_kb *kb = kf_kb_new();
    kf_diag d;
    kf_diag_init(&d);
    assert_int_equal(kf_kb_parse(kb, "kb/a.md", a, strlen(a), &d), KF_OK);
    assert_int_equal(kf_kb_parse(kb, "kb/b.md", b, strlen(b), &d), KF_OK);
    assert_int_equal(kf_kb_finish(kb, &d), KF_EPARSE);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].file, "kb/b.md");
    assert_int_equal(d.items[0].line, 4);
    assert_string_equal(d.items[0].msg, "duplicate id 'x' (first defined at kb/a.md:2)");
    /* the first definition is the one found */
    assert_string_equal(kf_kb_find(kb, "x")->versions[0].question, "甲");
    kf_diag_cleanup(&d);
    kf_kb_free(kb);
}

/* One bad file among good ones: nothing is loaded and every message is there. */
static void test_load_dir_all_or_nothing(void **state)
{
    (void)state;
    static const char good[] = "<a id = \"good\"></a>\n# ? 好\n答。\n";
    static const char bad[] = "# ? 坏\n- 没有答案\n";
    static const char *const names[] = {"a.md", "b.qna", "notes.txt", NULL};
    char *dir = make_tmpdir();
    write_file(dir, "a.md", good, strlen(good));
    write_file(dir, "notes.txt", bad, strlen(bad)); /* not a kb file: ignored */
    kf_diag d;
    kf_diag_init(&d);
    kf_kb *kb = kf_kb_load_dir(dir, &d);
    assert_non_null(kb);
    assert_int_equal(kb->n_entries, 1);
    kf_kb_free(kb);

    write_file(dir, "b.qna", bad, strlen(bad));
    kb = kf_kb_load_dir(dir, &d);
    assert_null(kb);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.items[0].line, 1);
    assert_string_equal(d.items[0].msg, "entry without an answer");
    assert_non_null(strstr(d.items[0].file, "/b.qna"));
    kf_diag_cleanup(&d);

    kf_diag_init(&d);
    assert_null(kf_kb_load_dir("/nonexistent/kefu/kb", &d));
    assert_int_equal(d.n, 1);
    kf_diag_cleanup(&d);
    remove_dir(dir, names);
}

static void test_lang(void **state)
{
    (void)state;
    assert_int_equal(kf_lang_parse("zh"), KF_LANG_ZH);
    assert_int_equal(kf_lang_parse("zh-CN"), KF_LANG_ZH);
    assert_int_equal(kf_lang_parse("EN"), KF_LANG_EN);
    assert_int_equal(kf_lang_parse("eng"), KF_LANG_NONE);
    assert_int_equal(kf_lang_parse(""), KF_LANG_NONE);
    assert_string_equal(kf_lang_name(KF_LANG_EN), "en");
    assert_int_equal(kf_lang_detect("refund 退款", 13), KF_LANG_ZH);
    assert_int_equal(kf_lang_detect("ｒｅｆｕｎｄ？", strlen("ｒｅｆｕｎｄ？")), KF_LANG_EN);
    assert_int_equal(kf_lang_detect("", 0), KF_LANG_EN);
    assert_true(kf_kb_id_valid("refund-time_2.b", 15));
    assert_false(kf_kb_id_valid("refund time", 11));
    assert_false(kf_kb_id_valid("", 0));
}

static const char TSV[] = "\xEF\xBB\xBFQuestion\tAnswer\tSource\tMetadata\r\n"
                          "退款多久到账\t原路退回，1–3 个工作日。\tEditorial\t\r\n"
                          "\r\n"
                          "钱多久能退回来\t原路退回，1–3 个工作日。\tEditorial\t\r\n"
                          "How do I get an invoice?\tAsk in the order page.\r\n"
                          "退款多久到账\t原路退回，1–3 个工作日。\r\n"
                          "\"Say \"\"hi\"\"\"\tHi!\n"
                          "code?\tRun:\n";

static void test_import_round_trip(void **state)
{
    (void)state;
    kf_diag d;
    kf_diag_init(&d);
    char *md = kf_kb_import_tsv("faq.tsv", TSV, strlen(TSV), "faq", &d);
    kf_diag_print(&d, stderr);
    assert_non_null(md);
    assert_int_equal(d.n, 0);
    assert_non_null(strstr(md, "<a id = \"faq-1\"></a>\n\n# ? 退款多久到账\n- 钱多久能退回来\n\n"
                               "```markdown\n原路退回，1–3 个工作日。\n```\n"));
    kf_kb *kb = parse_ok("kb/faq.md", md);
    assert_int_equal(kb->n_entries, 4);
    const kf_entry *e = kf_kb_find(kb, "faq-1");
    assert_non_null(e);
    assert_string_equal(e->versions[0].question, "退款多久到账");
    assert_int_equal(e->versions[0].n_alts, 1); /* the repeated row added nothing */
    assert_string_equal(e->versions[0].alts[0], "钱多久能退回来");
    assert_string_equal(e->versions[0].answer, "原路退回，1–3 个工作日。");
    e = kf_kb_find(kb, "faq-2");
    assert_int_equal(e->versions[0].lang, KF_LANG_EN);
    assert_string_equal(e->versions[0].answer, "Ask in the order page.");
    assert_string_equal(kf_kb_find(kb, "faq-3")->versions[0].question, "Say \"hi\"");
    assert_string_equal(kf_kb_find(kb, "faq-4")->versions[0].answer, "Run:");
    kf_kb_free(kb);
    kf_free(md);
    kf_diag_cleanup(&d);
}

/* An answer containing a code fence gets a longer fence and survives the trip. */
static void test_import_fence_in_answer(void **state)
{
    (void)state;
    static const char tsv[] = "how to run\t```\n";
    kf_diag d;
    kf_diag_init(&d);
    char *md = kf_kb_import_tsv("x.tsv", tsv, strlen(tsv), "x", &d);
    assert_non_null(md);
    assert_non_null(strstr(md, "````markdown\n```\n````\n"));
    kf_kb *kb = parse_ok("kb/x.md", md);
    assert_string_equal(kb->entries[0].versions[0].answer, "```");
    kf_kb_free(kb);
    kf_free(md);
    kf_diag_cleanup(&d);
}

static void test_import_errors(void **state)
{
    (void)state;
    static const char tsv[] = "question\tanswer\n"
                              "no tab here\n"
                              "\tanswer without question\n"
                              "question without answer\t  \n"
                              "bad \xff\tx\n"
                              "good\tfine\n";
    kf_diag d;
    kf_diag_init(&d);
    assert_null(kf_kb_import_tsv("faq.tsv", tsv, strlen(tsv), "faq", &d));
    char *got = expect_render(&d);
    assert_string_equal(got, "faq.tsv:2: no tab (expected question<TAB>answer)\n"
                             "faq.tsv:3: empty question\n"
                             "faq.tsv:4: empty answer\n"
                             "faq.tsv:5: invalid UTF-8\n");
    kf_free(got);
    kf_diag_cleanup(&d);

    kf_diag_init(&d);
    assert_null(kf_kb_import_tsv("faq.tsv", "Question\tAnswer\n", 16, "faq", &d));
    assert_null(kf_kb_import_tsv("faq.tsv", "a\tb\n", 4, "bad prefix", &d));
    assert_int_equal(d.n, 2);
    assert_string_equal(d.items[0].msg, "no question/answer rows");
    kf_diag_cleanup(&d);
}

/* Every allocation in parse + finish may fail: the result is KF_ENOMEM and nothing
 * leaks, until there are enough allocations for it to succeed. */
static void test_out_of_memory(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        kf_kb *kb = kf_kb_new();
        if (!kb)
            continue;
        kf_diag d;
        kf_diag_init(&d);
        expect_fail_at = n;
        kf_mem_set_fail_hook(expect_fail_hook);
        int rc = kf_kb_parse(kb, "kb/refunds.md", FULL, strlen(FULL), &d);
        if (rc == KF_OK)
            rc = kf_kb_finish(kb, &d);
        kf_mem_set_fail_hook(NULL);
        assert_true(rc == KF_OK || rc == KF_ENOMEM);
        /* an allocation failing inside kf_diag_add leaves d.oom, and nothing else */
        if (rc == KF_OK && d.n == 0 && !d.oom) {
            ok = 1;
            assert_int_equal(kb->n_entries, 3);
        }
        kf_diag_cleanup(&d);
        kf_kb_free(kb);
        assert_int_equal(kf_mem_in_use(), base);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_entry),
        cmocka_unit_test(test_liberal_forms),
        cmocka_unit_test(test_qna_export),
        cmocka_unit_test(test_export_heading_levels),
        cmocka_unit_test(test_crlf_bom_file),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_keeps_going),
        cmocka_unit_test(test_duplicate_across_files),
        cmocka_unit_test(test_load_dir_all_or_nothing),
        cmocka_unit_test(test_lang),
        cmocka_unit_test(test_import_round_trip),
        cmocka_unit_test(test_import_fence_in_answer),
        cmocka_unit_test(test_import_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
