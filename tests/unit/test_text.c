/* SPDX-License-Identifier: MIT
 * Unit tests of the text layer: normalisation, synonyms, tokens, the analyzer and the FTS5
 * tokenizer, against the real utf8proc, OpenCC, Snowball and SQLite. Every test's teardown
 * checks that kf_malloc'd memory went back to where it was. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <opencc/opencc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/err.h"
#include "kefu/mem.h"
#include "kefu/text.h"

typedef struct {
    size_t mem0;
    kf_norm *n;
    kf_tok *t;
    kf_buf out;
    kf_buf toks; /* tokens joined by '|', kinds in kinds */
    kf_buf kinds;
    size_t ntok;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->mem0 = kf_mem_in_use();
    int err = -99;
    f->n = kf_norm_new(&err);
    f->t = kf_tok_new();
    if (!f->n || err != KF_OK || !f->t)
        return -1;
    kf_buf_init(&f->out);
    kf_buf_init(&f->toks);
    kf_buf_init(&f->kinds);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kf_norm_free(f->n);
    kf_tok_free(f->t);
    kf_buf_cleanup(&f->out);
    kf_buf_cleanup(&f->toks);
    kf_buf_cleanup(&f->kinds);
    kf_mem_set_fail_hook(NULL);
    size_t left = kf_mem_in_use();
    size_t mem0 = f->mem0;
    free(f);
    if (left != mem0) {
        fprintf(stderr, "leak: %zu bytes still allocated (was %zu)\n", left, mem0);
        return -1;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static const char *norm(fx *f, const char *s, unsigned flags)
{
    int rc = kf_norm_text(f->n, s, strlen(s), flags, &f->out);
    assert_int_equal(rc, KF_OK);
    return f->out.data ? f->out.data : "";
}

#define assert_norm(f, in, flags, want) assert_string_equal(norm((f), (in), (flags)), (want))

static int collect(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                   size_t end)
{
    fx *f = ud;
    assert_true(start <= end);
    if (f->toks.len)
        kf_buf_putc(&f->toks, '|');
    kf_buf_append(&f->toks, tok, len);
    kf_buf_putc(&f->kinds, (char)('0' + kind));
    f->ntok++;
    return 0;
}

static const char *toks(fx *f, const char *normtext)
{
    kf_buf_reset(&f->toks);
    kf_buf_reset(&f->kinds);
    f->ntok = 0;
    assert_int_equal(kf_tok_run(f->t, normtext, strlen(normtext), collect, f), KF_OK);
    return f->toks.data ? f->toks.data : "";
}

static const char *analyze(fx *f, kf_analyzer *a, const char *s)
{
    kf_buf_reset(&f->toks);
    kf_buf_reset(&f->kinds);
    f->ntok = 0;
    assert_int_equal(kf_analyze(a, s, strlen(s), &f->out, collect, f), KF_OK);
    return f->toks.data ? f->toks.data : "";
}

/* ---- normalisation ------------------------------------------------------------------- */

static void test_norm_fullwidth(void **state)
{
    fx *f = *state;
    assert_norm(f, "ＡＢＣ１２３", 0, "abc123");
    assert_norm(f, "ｉＰｈｏｎｅ　１５", 0, "iphone 15"); /* U+3000 ideographic space */
    assert_norm(f, "ｶﾀｶﾅ", 0, "カタカナ");                /* half-width kana -> full */
}

static void test_norm_casefold(void **state)
{
    fx *f = *state;
    assert_norm(f, "HeLLo WORLD", 0, "hello world");
    assert_norm(f, "Straße ÉCOLE", 0, "strasse école");
    assert_norm(f, "ΣΊΣΥΦΟΣ", 0, "σίσυφοσ");
}

static void test_norm_t2s(void **state)
{
    fx *f = *state;
    assert_norm(f, "退貨", 0, "退货");
    assert_norm(f, "發票", 0, "发票");
    assert_norm(f, "保固", 0, "保固"); /* Taiwanese word, same characters: unchanged */
    assert_norm(f, "們", 0, "们");
    assert_norm(f, "裡", 0, "里");
    assert_norm(f, "裏", 0, "里");
    assert_norm(f, "7天無理由退貨怎麼申請", 0, "7天无理由退货怎么申请");
    /* Characters that only change inside a phrase (the EXTRA list in text_norm.c). */
    assert_norm(f, "沈默", 0, "沉默");
    assert_norm(f, "瞭解", 0, "了解");
    /* Simplified text stays as it is, mixed text too. */
    assert_norm(f, "我买的手机屏幕坏了可以保修吗", 0, "我买的手机屏幕坏了可以保修吗");
    assert_norm(f, "iPhone 退貨", 0, "iphone 退货");
}

/* Skipping OpenCC for text without convertible characters must not change any result:
 * compare with OpenCC run on everything, over every phrase-sensitive character and a
 * sample of common text. */
static void test_norm_t2s_skip_is_exact(void **state)
{
    fx *f = *state;
    static const char *const samples[] = {
        "沈默是金", "瞭解一下", "乾燥劑", "乾隆皇帝", "頭髮", "覆蓋", "藉口",  "彷彿",
        "么麼小丑", "傢俱",     "衹有", "阪神",     "牴觸", "祇園", "甚麼", "著作",
        "我要退货", "发票怎么开", "幺",  "于是",     "后来", "面条", "干净",
    };
    opencc_t cc = opencc_open("t2s.json");
    assert_true(cc != (opencc_t)-1);
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char *want = opencc_convert_utf8(cc, samples[i], strlen(samples[i]));
        assert_non_null(want);
        const char *got = norm(f, samples[i], 0);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "%s: got %s, OpenCC says %s\n", samples[i], got, want);
        int same = strcmp(got, want) == 0;
        opencc_convert_utf8_free(want);
        assert_true(same);
    }
    opencc_close(cc);
}

static void test_norm_punct_emoji(void **state)
{
    fx *f = *state;
    assert_norm(f, "退货！！😀", 0, "退货");
    assert_norm(f, "退货！！😀发票？", 0, "退货 发票");
    assert_norm(f, "  hello,   world!!  ", 0, "hello world");
    assert_norm(f, "价格￥100€", 0, "价格 100");
    assert_norm(f, "👨‍👩‍👧 family 👍🏻", 0, "family");
    assert_norm(f, "a\tb\r\nc\x01" "d\x7f" "e", 0, "a b c d e");
}

static void test_norm_invisible(void **state)
{
    fx *f = *state;
    assert_norm(f, "退\xE2\x80\x8B货", 0, "退货");                /* ZWSP */
    assert_norm(f, "退\xE2\x80\x8D货\xEF\xBB\xBF", 0, "退货");    /* ZWJ, BOM */
    assert_norm(f, "re\xC2\xAD" "fund", 0, "refund");                /* soft hyphen */
    assert_norm(f, "1\xEF\xB8\x8F\xE2\x83\xA3号", 0, "1号");      /* keycap 1️⃣ */
    assert_norm(f, "a\xD8\x80" "b", 0, "ab"); /* U+0600, a Cf that is not ignorable */
    assert_norm(f, "\xE2\x80\x8B\xE2\x80\x8C\xE2\x80\x8D", 0, ""); /* only invisible */
}

static void test_norm_keep_punct(void **state)
{
    fx *f = *state;
    assert_norm(f, "DD-2024", KF_NORM_KEEP_PUNCT, "dd-2024");
    assert_norm(f, "DD-2024", 0, "dd 2024");
    /* Full-width colon and bang via NFKC, en dash via LUMP; the rest still normalised. */
    assert_norm(f, "訂單：DD–2024！", KF_NORM_KEEP_PUNCT, "订单:dd-2024!");
    assert_norm(f, "退货！😀", KF_NORM_KEEP_PUNCT, "退货!😀");
    /* Controls and format characters still go; spaces collapse. */
    assert_norm(f, " a\t\tb\x01" "c\xE2\x80\x8B" "d ", KF_NORM_KEEP_PUNCT, "a b cd");
}

static void test_norm_invalid_utf8(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {
        "\x80",                 /* lone continuation byte */
        "abc\xBF",              /* continuation after ASCII */
        "\xC0\xAF",             /* overlong '/' */
        "\xE0\x80\xAF",         /* overlong, 3 bytes */
        "\xED\xA0\x80",         /* surrogate U+D800 */
        "\xE9\x80",             /* truncated 退 */
        "退货\xE8",             /* truncated at the end */
        "\xF4\x90\x80\x80",     /* above U+10FFFF */
        "\xFF",                 /* never valid */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kf_buf_reset(&f->out);
        kf_buf_puts(&f->out, "junk");
        assert_int_equal(kf_norm_text(f->n, bad[i], strlen(bad[i]), 0, &f->out), KF_EUTF8);
        assert_int_equal(f->out.len, 0);
        assert_int_equal(kf_norm_text(f->n, bad[i], strlen(bad[i]), KF_NORM_KEEP_PUNCT,
                                      &f->out),
                         KF_EUTF8);
    }
    /* An embedded NUL is valid UTF-8 (a control): a space. */
    assert_int_equal(kf_norm_text(f->n, "a\0b", 3, 0, &f->out), KF_OK);
    assert_string_equal(f->out.data, "a b");
}

static void test_norm_empty(void **state)
{
    fx *f = *state;
    assert_norm(f, "", 0, "");
    assert_norm(f, "   \t\n ", 0, "");
    assert_norm(f, "\xE3\x80\x80\xE3\x80\x80", 0, ""); /* ideographic spaces */
    assert_norm(f, "！？。…", 0, "");
    assert_int_equal(f->out.len, 0);
}

/* ---- tokens -------------------------------------------------------------------------- */

static void test_tok_han(void **state)
{
    fx *f = *state;
    assert_string_equal(toks(f, "我要退货"), "我|我要|要|要退|退|退货|货");
    assert_string_equal(f->kinds.data, "2323232");
    assert_string_equal(toks(f, "退货 发票"), "退|退货|货|发|发票|票");
    assert_string_equal(toks(f, "货"), "货");
}

static void test_tok_latin(void **state)
{
    fx *f = *state;
    assert_string_equal(toks(f, "refunds refunding refunded"), "refund|refund|refund");
    assert_string_equal(f->kinds.data, "000");
    assert_string_equal(toks(f, "iphone15 pro"), "iphon|15|pro");
    assert_string_equal(f->kinds.data, "010");
    assert_string_equal(toks(f, "a4纸 2024年"), "a|4|纸|2024|年");
    assert_string_equal(f->kinds.data, "01212");
    assert_string_equal(toks(f, "café"), "café");
    assert_string_equal(toks(f, "カナ한"), "カ|ナ|한");
    assert_string_equal(f->kinds.data, "444");
}

typedef struct {
    size_t n, maxlen, last_start, last_end;
} span;

static int measure(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                   size_t end)
{
    (void)kind;
    (void)tok;
    span *s = ud;
    s->n++;
    if (len > s->maxlen)
        s->maxlen = len;
    s->last_start = start;
    s->last_end = end;
    return 0;
}

static void test_tok_caps_and_offsets(void **state)
{
    fx *f = *state;
    char w[301];
    memset(w, 'x', 300);
    w[300] = '\0';
    span s = {0};
    assert_int_equal(kf_tok_run(f->t, w, 300, measure, &s), KF_OK);
    assert_int_equal(s.n, 1);
    assert_true(s.maxlen <= 64);
    assert_int_equal(s.last_start, 0);
    assert_int_equal(s.last_end, 300);
    memset(w, '7', 300);
    memset(&s, 0, sizeof(s));
    assert_int_equal(kf_tok_run(f->t, w, 300, measure, &s), KF_OK);
    assert_int_equal(s.maxlen, 64);
    /* Offsets are bytes: 退 is 3 bytes, the bigram 货单 spans 3..9. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(kf_tok_run(f->t, "退货单", 9, measure, &s), KF_OK);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.last_start, 6);
    assert_int_equal(s.last_end, 9);
}

static int stop_at_third(void *ud, kf_tok_kind kind, const char *tok, size_t len,
                         size_t start, size_t end)
{
    (void)kind;
    (void)tok;
    (void)len;
    (void)start;
    (void)end;
    int *n = ud;
    return ++*n == 3 ? 42 : 0;
}

static void test_tok_stop(void **state)
{
    fx *f = *state;
    int n = 0;
    assert_int_equal(kf_tok_run(f->t, "我要退货", 12, stop_at_third, &n), 42);
    assert_int_equal(n, 3);
}

/* ---- synonyms ------------------------------------------------------------------------ */

static int parse_syn(fx *f, kf_syn *s, const char *text, kf_diag *d, kf_buf *msgs)
{
    int rc = kf_syn_parse(s, f->n, "kb/synonyms.txt", text, strlen(text), d);
    for (size_t i = 0; i < d->n; i++)
        kf_buf_printf(msgs, "%s:%d: %s\n", d->items[i].file, d->items[i].line,
                      d->items[i].msg);
    return rc;
}

static void test_syn_errors(void **state)
{
    fx *f = *state;
    kf_syn *s = kf_syn_new();
    kf_diag d;
    kf_buf msgs;
    assert_non_null(s);
    kf_diag_init(&d);
    kf_buf_init(&msgs);
    const char *text = "# synonyms\n"
                       "退货, 退换, 退回\n"
                       "\n"
                       "保修 # one word only\n"
                       "换货，退換，换新\n"
                       "bad\xC3 word, x\n"
                       "退貨、调换\n"
                       "refund / money back\n"
                       "！！, ok\n";
    assert_int_equal(parse_syn(f, s, text, &d, &msgs), KF_EPARSE);
    assert_string_equal(msgs.data,
                        "kb/synonyms.txt:4: group \"保修\" has only one word\n"
                        "kb/synonyms.txt:5: \"退換\" is already in the group of \"退货\" (line 2)\n"
                        "kb/synonyms.txt:6: invalid UTF-8\n"
                        "kb/synonyms.txt:7: \"退貨\" is already in the group of \"退货\" (line 2)\n"
                        "kb/synonyms.txt:9: \"！！\" is empty after normalisation\n");
    assert_int_equal(kf_syn_groups(s), 2);
    /* A group with an error is left out whole: 换新 is not rewritten to 换货. */
    assert_int_equal(kf_syn_apply(s, "换新退回", strlen("换新退回"), &f->out), KF_OK);
    assert_string_equal(f->out.data, "换新退货");
    kf_buf_cleanup(&msgs);
    kf_diag_cleanup(&d);
    kf_syn_free(s);
}

static void test_syn_bom_crlf(void **state)
{
    fx *f = *state;
    kf_syn *s = kf_syn_new();
    kf_diag d;
    kf_buf msgs;
    kf_diag_init(&d);
    kf_buf_init(&msgs);
    const char *text = "\xEF\xBB\xBF退货, 退换\r\n# c\r\n\r\nRefund, Money Back,\r\n";
    assert_int_equal(parse_syn(f, s, text, &d, &msgs), KF_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(kf_syn_groups(s), 2);
    assert_int_equal(kf_syn_apply(s, "退换", strlen("退换"), &f->out), KF_OK);
    assert_string_equal(f->out.data, "退货");
    kf_buf_cleanup(&msgs);
    kf_diag_cleanup(&d);
    kf_syn_free(s);
}

static const char *apply(fx *f, const kf_syn *s, const char *t)
{
    assert_int_equal(kf_syn_apply(s, t, strlen(t), &f->out), KF_OK);
    return f->out.data;
}

static void test_syn_apply(void **state)
{
    fx *f = *state;
    kf_syn *s = kf_syn_new();
    kf_diag d;
    kf_buf msgs;
    kf_diag_init(&d);
    kf_buf_init(&msgs);
    const char *text = "退货, 退换, 退回\n"
                       "保修, 质保, 保固\n"
                       "保修期, 质保期\n"
                       "refund, money back, reimbursement\n"
                       "a4, a4纸\n";
    assert_int_equal(parse_syn(f, s, text, &d, &msgs), KF_OK);
    assert_int_equal(kf_syn_groups(s), 5);
    assert_string_equal(apply(f, s, "我要退换"), "我要退货");
    assert_string_equal(apply(f, s, "退回退换退货"), "退货退货退货");
    assert_string_equal(apply(f, s, "i want my money back now"), "i want my refund now");
    assert_string_equal(apply(f, s, "moneyback"), "moneyback");
    assert_string_equal(apply(f, s, "money backs"), "money backs");
    assert_string_equal(apply(f, s, "xmoney back"), "xmoney back");
    assert_string_equal(apply(f, s, "reimbursement退货"), "refund退货");
    /* Longest first: 质保期 is its own group, not 质保 + 期. */
    assert_string_equal(apply(f, s, "质保期多久"), "保修期多久");
    assert_string_equal(apply(f, s, "质保多久"), "保修多久");
    /* The canonical shields itself: 保修期 is not touched by a shorter word. */
    assert_string_equal(apply(f, s, "保修期"), "保修期");
    assert_string_equal(apply(f, s, "买a4纸"), "买a4");
    assert_string_equal(apply(f, s, "a45"), "a45");
    assert_string_equal(apply(f, s, ""), "");
    kf_buf_cleanup(&msgs);
    kf_diag_cleanup(&d);
    kf_syn_free(s);
}

/* ---- analyzer ------------------------------------------------------------------------ */

static void test_analyze(void **state)
{
    fx *f = *state;
    kf_syn *s = kf_syn_new();
    kf_diag d;
    kf_diag_init(&d);
    const char *text = "退货, 退换\nrefund, money back\n";
    assert_int_equal(kf_syn_parse(s, f->n, "syn", text, strlen(text), &d), KF_OK);
    int err = -99;
    kf_analyzer *a = kf_analyzer_new(s, &err);
    assert_non_null(a);
    assert_int_equal(err, KF_OK);
    assert_string_equal(analyze(f, a, "我要退換！！"), "我|我要|要|要退|退|退货|货");
    assert_string_equal(f->out.data, "我要退货");
    assert_string_equal(analyze(f, a, "MONEY BACK for iPhone15?"), "refund|for|iphon|15");
    /* Invalid UTF-8: an error, no callback. */
    f->ntok = 0;
    assert_int_equal(kf_analyze(a, "\xE9\x80", 2, &f->out, collect, f), KF_EUTF8);
    assert_int_equal(f->ntok, 0);
    assert_int_equal(f->out.len, 0);
    assert_non_null(kf_analyzer_norm(a));
    kf_analyzer_free(a);
    kf_diag_cleanup(&d);
    kf_syn_free(s);
}

static void test_analyze_huge(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* 退 is 3 bytes: 65536 is not a multiple of 3, so the cut lands inside a character. */
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(big + i, "退", 3);
    size_t len = n - n % 3;
    kf_analyzer *a = kf_analyzer_new(NULL, NULL);
    assert_non_null(a);
    span s = {0};
    assert_int_equal(kf_analyze(a, big, len, NULL, measure, &s), KF_OK);
    /* 21845 characters fit in 64 KiB: that many unigrams and one bigram fewer. */
    assert_int_equal(s.n, 2 * (KF_ANALYZE_MAX / 3) - 1);
    /* A 1 MB run of one word is still one capped token. */
    memset(big, 'a', n);
    memset(&s, 0, sizeof(s));
    assert_int_equal(kf_analyze(a, big, n, NULL, measure, &s), KF_OK);
    assert_int_equal(s.n, 1);
    assert_true(s.maxlen <= 64);
    kf_analyzer_free(a);
    free(big);
}

/* ---- FTS5 ---------------------------------------------------------------------------- */

static int count_match(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE t MATCH ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        else
            fprintf(stderr, "%s: %s\n", q, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return n;
}

typedef struct {
    int n, bad;
    int ntext;
} offs;

static int check_offsets(void *ud, int tflags, const char *tok, int len, int start, int end)
{
    (void)tflags;
    (void)tok;
    (void)len;
    offs *o = ud;
    o->n++;
    if (start < 0 || start > end || end > o->ntext)
        o->bad++;
    return SQLITE_OK;
}

/* NFKC can make text longer (㍿ is 3 bytes, 株式会社 12): offsets given to FTS5 must stay
 * inside the text it passed. */
static void tokenize_direct(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    assert_non_null(api);
    void *ud = NULL;
    fts5_tokenizer tk;
    assert_int_equal(api->xFindTokenizer(api, "kefu", &ud, &tk), SQLITE_OK);
    Fts5Tokenizer *t = NULL;
    assert_int_equal(tk.xCreate(ud, NULL, 0, &t), SQLITE_OK);
    const char *text = "\xE3\x8D\xBF\xE3\x8D\xBF"; /* ㍿㍿ */
    offs o = {0, 0, 6};
    assert_int_equal(tk.xTokenize(t, &o, FTS5_TOKENIZE_DOCUMENT, text, 6, check_offsets),
                     SQLITE_OK);
    assert_int_equal(o.n, 15); /* 8 unigrams, 7 bigrams */
    assert_int_equal(o.bad, 0);
    tk.xDelete(t);
}

static void test_fts5(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    kf_syn *s = kf_syn_new();
    kf_diag d;
    kf_diag_init(&d);
    const char *text = "保修, 质保\n";
    assert_int_equal(kf_syn_parse(s, f->n, "syn", text, strlen(text), &d), KF_OK);
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(kf_fts5_register(db, "kefu", s), KF_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='kefu');"
                                      "INSERT INTO t VALUES('7天无理由退貨怎么申请');"
                                      "INSERT INTO t VALUES('手机质保多久');"
                                      "INSERT INTO t VALUES('How do I get a Refund?');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(count_match(db, "\"退货\""), 1);
    assert_int_equal(count_match(db, "退货"), 1);
    assert_int_equal(count_match(db, "退"), 1);
    assert_int_equal(count_match(db, "\"退貨\""), 1); /* traditional query */
    assert_int_equal(count_match(db, "\"無理由\""), 1);
    assert_int_equal(count_match(db, "\"货退\""), 0);
    assert_int_equal(count_match(db, "\"保修\""), 1); /* synonym in the document */
    assert_int_equal(count_match(db, "\"refunds\""), 1);
    assert_int_equal(count_match(db, "\"\xE9\x80\""), 0); /* invalid UTF-8: no tokens */
    assert_int_equal(count_match(db, "\"退货 怎么\""), 0);
    tokenize_direct(db);
    sqlite3_close(db);
    kf_diag_cleanup(&d);
    kf_syn_free(s);
}

/* ---- allocation failures -------------------------------------------------------------- */

static int fail_after;

static int fail_nth(size_t n)
{
    (void)n;
    return fail_after-- <= 0;
}

static void test_oom(void **state)
{
    fx *f = *state;
    const char *text = "退货, 退换, 退回\nrefund, money back\n";
    /* f->n keeps its scratch between calls: let it grow before taking the baseline. */
    norm(f, "退貨 money", 0);
    kf_buf_cleanup(&f->out);
    size_t base = kf_mem_in_use();
    int ok_seen = 0;
    for (int k = 0; k < 200 && !ok_seen; k++) {
        kf_diag d;
        kf_diag_init(&d);
        kf_syn *s = NULL;
        kf_analyzer *a = NULL;
        kf_buf out;
        kf_buf_init(&out);
        int rc = KF_ENOMEM;
        fail_after = k;
        kf_mem_set_fail_hook(fail_nth);
        s = kf_syn_new();
        if (!s)
            goto next;
        rc = kf_syn_parse(s, f->n, "syn", text, strlen(text), &d);
        if (rc)
            goto next;
        a = kf_analyzer_new(s, &rc);
        if (!a)
            goto next;
        rc = kf_analyze(a, "我要退換 Money Back", strlen("我要退換 Money Back"), &out, measure,
                        &(span){0});
        if (rc == KF_OK) {
            ok_seen = 1;
            kf_mem_set_fail_hook(NULL);
            assert_string_equal(out.data, "我要退货 refund");
        }
    next:
        kf_mem_set_fail_hook(NULL);
        assert_true(rc == KF_OK || rc == KF_ENOMEM);
        kf_analyzer_free(a);
        kf_syn_free(s);
        kf_buf_cleanup(&out);
        kf_diag_cleanup(&d);
        assert_int_equal(kf_mem_in_use(), base);
    }
    assert_true(ok_seen);
    /* kf_norm_text with a fresh output buffer. */
    kf_buf b;
    kf_buf_init(&b);
    fail_after = 0;
    kf_mem_set_fail_hook(fail_nth);
    assert_int_equal(kf_norm_text(f->n, "退貨ABC", strlen("退貨ABC"), 0, &b), KF_ENOMEM);
    assert_int_equal(kf_norm_text(f->n, "ABC", 3, 0, &b), KF_ENOMEM);
    kf_mem_set_fail_hook(NULL);
    kf_buf_cleanup(&b);
}

static void test_oom_norm_new(void **state)
{
    (void)state;
    int err = 0;
    fail_after = 0;
    kf_mem_set_fail_hook(fail_nth);
    kf_norm *n = kf_norm_new(&err);
    kf_tok *t = kf_tok_new();
    kf_analyzer *a = kf_analyzer_new(NULL, NULL);
    kf_mem_set_fail_hook(NULL);
    assert_null(n);
    assert_int_equal(err, KF_ENOMEM);
    assert_null(t);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_norm_fullwidth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_casefold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_t2s, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_t2s_skip_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_punct_emoji, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_invisible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_keep_punct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tok_han, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tok_latin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tok_caps_and_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tok_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_bom_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_analyze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_analyze_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fts5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_norm_new, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
