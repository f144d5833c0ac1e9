/* SPDX-License-Identifier: MIT
 * Unit tests of the feature vocabulary (src/feat.c): the weight of Han characters against
 * Han pairs, and coverage when a token is known only from reference text (an answer). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/feat.h"
#include "kefu/mem.h"
#include "kefu/model.h"

typedef struct {
    size_t mem0;
    kf_analyzer *a;
    kf_vocab *v;
    kf_fvec x;
} fx;

static int setup(void **state)
{
    static fx f;
    memset(&f, 0, sizeof(f));
    f.mem0 = kf_mem_in_use();
    f.a = kf_analyzer_new(NULL, NULL);
    f.v = kf_vocab_new();
    kf_fvec_init(&f.x);
    *state = &f;
    return f.a && f.v ? 0 : -1;
}

static int teardown(void **state)
{
    fx *f = *state;
    kf_fvec_cleanup(&f->x);
    kf_vocab_free(f->v);
    kf_analyzer_free(f->a);
    assert_int_equal(kf_mem_in_use(), f->mem0);
    return 0;
}

static void add(fx *f, const char *text, int ref)
{
    int rc = ref ? kf_vocab_add_ref(f->v, f->a, text, strlen(text))
                 : kf_vocab_add_doc(f->v, f->a, text, strlen(text));
    assert_int_equal(rc, KF_OK);
}

static void vec(fx *f, const char *text)
{
    assert_int_equal(kf_vocab_vector(f->v, f->a, text, strlen(text), &f->x, NULL, NULL), KF_OK);
}

/* value of the feature named name in f->x, or -1 */
static double val(const fx *f, const char *name)
{
    for (size_t i = 0; i < f->x.n; i++)
        if (strcmp(kf_vocab_name(f->v, f->x.idx[i]), name) == 0)
            return f->x.val[i];
    return -1;
}

/* kf_model_scores works four classes at a time: for 1 to 9 classes (every remainder) its
 * scores are exactly the bias plus each feature's value times its weight, added in order. */
static void test_model_scores(void **state)
{
    (void)state;
    enum { NF = 6, NROWS = 18 };
    uint32_t idx[NROWS][2];
    float val[NROWS][2];
    kf_fvec rows[NROWS];
    int labels[NROWS];
    for (size_t nc = 1; nc <= 9; nc++) {
        for (int i = 0; i < NROWS; i++) { /* class i % nc: its own feature, and one shared */
            labels[i] = (int)((size_t)i % nc);
            idx[i][0] = (uint32_t)labels[i] % NF;
            idx[i][1] = (uint32_t)(i % NF);
            if (idx[i][1] == idx[i][0])
                idx[i][1] = (idx[i][1] + 1) % NF;
            if (idx[i][1] < idx[i][0]) {
                uint32_t t = idx[i][0];
                idx[i][0] = idx[i][1];
                idx[i][1] = t;
            }
            val[i][0] = 0.5f + 0.1f * (float)(i % 3);
            val[i][1] = 0.25f;
            rows[i] = (kf_fvec){.idx = idx[i], .val = val[i], .n = 2};
        }
        int err = 0;
        kf_model *m = kf_model_train(rows, labels, NROWS, NF, nc < 2 ? 2 : nc, 1.0, &err);
        assert_non_null(m);
        size_t classes = kf_model_classes(m);
        uint32_t xi[3] = {0, 2, 5};
        float xv[3] = {0.3f, -1.5f, 0.75f};
        kf_fvec x = {.idx = xi, .val = xv, .n = 3};
        float got[10], want[10];
        kf_model_scores(m, &x, got);
        for (size_t c = 0; c < classes; c++) {
            want[c] = kf_model_weight(m, NF, c); /* the bias */
            for (size_t k = 0; k < x.n; k++)
                want[c] += xv[k] * kf_model_weight(m, xi[k], c);
            assert_memory_equal(&got[c], &want[c], sizeof(float));
        }
        assert_true(fabsf(got[0]) > 0); /* trained: not all zero */
        kf_model_free(m);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* kf_feat_sort_ids against qsort: small and large ids (every byte in play), duplicates, runs
 * where a byte is the same everywhere, one element, and sizes past its 256-id stack room. */
static void test_sort_ids(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 17, 95, 256, 257, 1000};
    static uint32_t a[1000], want[1000], tmp[1000];
    uint32_t r = 12345;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (uint32_t mask = 0xff; mask; mask = mask == 0xffffffffu ? 0 : mask << 8 | 0xff) {
            size_t n = sizes[k];
            for (size_t i = 0; i < n; i++) {
                r = r * 1103515245u + 12345u;
                a[i] = (r ^ r >> 13) & mask;
                if (i % 7 == 3)
                    a[i] = a[i / 2]; /* duplicates */
            }
            memcpy(want, a, n * sizeof(*a));
            qsort(want, n, sizeof(*want), cmp_u32);
            kf_feat_sort_ids(a, tmp, n);
            assert_memory_equal(a, want, n * sizeof(*a));
        }
    }
}

/* In one document every feature has the same idf and tf: a Han character then weighs 1.5
 * times the pair it belongs to, and the vector stays L2-normalised. */
static void test_han_char_weight(void **state)
{
    fx *f = *state;
    add(f, "退货", 0);
    kf_vocab_freeze(f->v);
    vec(f, "退货");
    assert_int_equal(f->x.n, 3); /* 退, 退货, 货 */
    double c = val(f, "H:退"), p = val(f, "B:退货");
    assert_true(c > 0 && p > 0);
    assert_true(fabs(c / p - 1.5) < 1e-5);
    assert_true(fabs(val(f, "H:货") - c) < 1e-6);
    double ss = 0;
    for (size_t i = 0; i < f->x.n; i++)
        ss += (double)f->x.val[i] * f->x.val[i];
    assert_true(fabs(ss - 1.0) < 1e-5);
    assert_true(fabs(f->x.coverage - 1.0f) < 1e-6);
}

/* A long question: more feature occurrences than the sort's room on the stack (256). Its
 * vector holds each feature once, in increasing id order, with the weight of its count. */
static void test_long_question(void **state)
{
    fx *f = *state;
    add(f, "退货 运费 发票", 0);
    kf_vocab_freeze(f->v);
    vec(f, "退货 运费 发票");
    size_t n_once = f->x.n;
    double once = val(f, "H:退");
    char text[4096] = ""; /* 120 times 21 bytes */
    for (int i = 0; i < 120; i++)
        strcat(text, "退货 运费 发票 ");
    vec(f, text);
    assert_int_equal(f->x.n, n_once);
    for (size_t i = 1; i < f->x.n; i++)
        assert_true(f->x.idx[i - 1] < f->x.idx[i]);
    assert_true(once > 0);
    /* every feature 120 times: all weights scale alike, so after normalisation they match */
    assert_true(fabs(val(f, "H:退") - once) < 1e-6);
}

/* English text has no Han features: every token weighs its TF-IDF weight. */
static void test_latin_unweighted(void **state)
{
    fx *f = *state;
    add(f, "refund", 0);
    kf_vocab_freeze(f->v);
    vec(f, "refund");
    double w = val(f, "W:refund");
    assert_true(w > 0);
    for (size_t i = 0; i < f->x.n; i++)
        assert_true(fabs(f->x.val[i] - w) < 1e-6); /* the word and its character grams */
}

/* A token seen only in reference text scores (it has an id) but counts as unknown for
 * coverage; the same token in a question document counts as known. */
static void test_reference_text(void **state)
{
    fx *f = *state;
    add(f, "return policy", 0);
    add(f, "our weather station", 1);
    kf_vocab_freeze(f->v);
    vec(f, "weather");
    assert_true(val(f, "W:weather") > 0);
    assert_true(f->x.coverage < 1e-6);
    vec(f, "return weather");
    assert_true(f->x.coverage > 0.3f && f->x.coverage < 0.7f);
    vec(f, "return policy");
    assert_true(fabs(f->x.coverage - 1.0f) < 1e-6);
}

/* Unknown Han characters weigh as much against coverage as known ones do for it: one known
 * and one unknown character (each alone in its run) give coverage 1/2. */
static void test_unknown_han_weight(void **state)
{
    fx *f = *state;
    add(f, "退 款", 0);
    kf_vocab_freeze(f->v);
    vec(f, "退 猫");
    /* 退 has the idf of a token in one of one documents (log(2/2) + 1 = 1), 猫 the largest
     * (log(2/1) + 1), both times 1.5 */
    double known = 1.5 * 1.0, unk = 1.5 * (log(2.0) + 1.0);
    double want = known * known / (known * known + unk * unk);
    assert_true(fabs(f->x.coverage - want) < 1e-5);
}

/* A known word's character grams come from the memo of the words' grams: the vectors are
 * exactly those of looking every gram up by its string, for known and unknown words, a word
 * twice, a word too long for grams, answers' words, Han text and numbers. */
static void test_gram_memo(void **state)
{
    fx *f = *state;
    add(f, "I want a refund for my card", 0);
    add(f, "cards were refunded twice, 2 times", 0);
    add(f, "退货 运费 where is my parcel", 0);
    add(f, "our weather station", 1);
    kf_vocab_freeze(f->v);
    static const char *const qs[] = {
        "refunds for my cards please",
        "weather refund refund refund",
        "unknownword parcels station",
        "a b c",
        "pneumonoultramicroscopicsilicovolcanoconiosispneumonoultramicroscopicsilicovolcano "
        "refund",
        "退货 refund 2 运费",
        "",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        assert_true(kf_vocab__set_memo(f->v, 1) > 5);
        vec(f, qs[i]);
        size_t n = f->x.n;
        float cov = f->x.coverage;
        uint32_t idx[512];
        float v[512];
        assert_true(n <= 512);
        memcpy(idx, f->x.idx, n * sizeof(*idx));
        memcpy(v, f->x.val, n * sizeof(*v));
        assert_int_equal(kf_vocab__set_memo(f->v, 0), 0);
        vec(f, qs[i]);
        assert_int_equal(f->x.n, n);
        assert_true(f->x.coverage == cov);
        assert_memory_equal(f->x.idx, idx, n * sizeof(*idx));
        assert_memory_equal(f->x.val, v, n * sizeof(*v));
        if (i < 2)
            assert_true(n > 10); /* grams were found */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_scores),
        cmocka_unit_test(test_sort_ids),
        cmocka_unit_test_setup_teardown(test_han_char_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_question, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latin_unweighted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_han_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gram_memo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
