/* SPDX-License-Identifier: MIT
 * libFuzzer target for the whole matcher: arbitrary bytes as a visitor's question against
 * the fixture knowledge base (tests/fixtures/engine, learned layer built once at start), and
 * as an agent's knowledge search. For valid UTF-8 the match must be KF_OK or KF_EEMPTY and
 * the search must not fail: KF_EDB would mean user text broke an FTS5 query. The same bytes,
 * cut into terms at spaces, also go straight through kf_index_build_query to an index of a
 * few rows, which must never answer KF_EDB either. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/engine.h"
#include "kefu/index.h"
#include "kefu/util.h"

#ifndef KF_FUZZ_FIXTURES
#define KF_FUZZ_FIXTURES "tests/fixtures"
#endif

#define MAX_TERMS 64

static kf_engine *engine;
static kf_index *index_;
static kf_buf fts;

static const char *const rows[] = {
    "怎么申请退货",
    "退款多久到账",
    "How do I return an item?",
    "refund time 3-5 days",
    "\"quoted\" OR NEAR(a b) col:^x*",
    "发票 invoice 2024",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    kf_engine_config c;
    kf_diag d;
    int err = 0;
    (void)argc;
    (void)argv;

    kf_engine_config_defaults(&c);
    c.kb_dir = KF_FUZZ_FIXTURES "/engine/kb";
    c.intents_dir = KF_FUZZ_FIXTURES "/engine/intents";
    c.learned = 2;
    kf_diag_init(&d);
    engine = kf_engine_load(&c, &d);
    if (!engine) {
        kf_diag_print(&d, stderr);
        abort();
    }
    kf_diag_cleanup(&d);
    if (!kf_engine_learned_ready(engine))
        abort();

    index_ = kf_index_new(NULL, &err);
    if (!index_ || kf_index_begin(index_))
        abort();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        for (int t = 0; t < 2; t++)
            if (kf_index_add(index_, (kf_index_table)t, (int64_t)i, rows[i]))
                abort();
    if (kf_index_commit(index_))
        abort();
    kf_buf_init(&fts);
    return 0;
}

/* Raw bytes to FTS5: the whole input as one term, plus its space-separated pieces. */
static void raw_query(const char *s, size_t n)
{
    const char *t[MAX_TERMS];
    size_t l[MAX_TERMS];
    size_t nt = 0;
    kf_index_hit hits[8];

    t[nt] = s;
    l[nt++] = n;
    for (size_t i = 0; i < n && nt < MAX_TERMS;) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        if (j > i) {
            t[nt] = s + i;
            l[nt++] = j - i;
        }
        i = j + 1;
    }
    if (kf_index_build_query(t, l, nt, &fts) != KF_OK)
        abort();
    for (int tb = 0; tb < 2; tb++) {
        int rc = kf_index_query(index_, (kf_index_table)tb, fts.data, hits, 8);
        if (rc < 0) {
            fprintf(stderr, "kf_index_query(%s): %s\n", fts.data, kf_strerror(rc));
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int valid = kf_utf8_valid(s, size, NULL);
    kf_match m;
    kf_candidate cand[5];

    int rc = kf_engine_match(engine, s, size, KF_LANG_NONE, KF_MATCH_EXPLAIN, &m);
    if (valid ? rc != KF_OK && rc != KF_EEMPTY : rc != KF_EUTF8) {
        fprintf(stderr, "kf_engine_match: %s (valid UTF-8: %d)\n", kf_strerror(rc), valid);
        abort();
    }
    if (rc == KF_OK) {
        char desc[256];
        kf_match_describe(&m, desc, sizeof(desc));
        kf_match_cleanup(&m);
    }
    rc = kf_engine_search(engine, s, size, cand, 5);
    if (valid ? rc < 0 : rc != KF_EUTF8) {
        fprintf(stderr, "kf_engine_search: %s (valid UTF-8: %d)\n", kf_strerror(rc), valid);
        abort();
    }
    raw_query(s, size);
    return 0;
}
