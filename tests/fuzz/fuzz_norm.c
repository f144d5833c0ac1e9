/* SPDX-License-Identifier: MIT
 * libFuzzer target for the text layer: arbitrary bytes through kf_norm_text (with and
 * without KEEP_PUNCT), then the tokenizer over each result, and the synonym rewriter over a
 * small fixed group set. Invalid UTF-8 must be refused (KF_EUTF8), never read past. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/text.h"

static kf_norm *norm;
static kf_tok *tok;
static kf_syn *syn;
static kf_buf out, syn_out;

static const char synonyms[] = "保修, 质保, 保固\n"
                               "退款, 退钱, 退回款项\n"
                               "refund, money back, reimburse\n"
                               "e-mail, email, mail\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    kf_diag d;
    (void)argc;
    (void)argv;
    kf_diag_init(&d);
    norm = kf_norm_new(NULL);
    tok = kf_tok_new();
    syn = kf_syn_new();
    if (!norm || !tok || !syn ||
        kf_syn_parse(syn, norm, "fuzz.syn", synonyms, sizeof(synonyms) - 1, &d) != KF_OK)
        abort();
    kf_diag_cleanup(&d);
    kf_buf_init(&out);
    kf_buf_init(&syn_out);
    return 0;
}

/* Checks what the tokenizer promises about every token. */
static int check_tok(void *ud, kf_tok_kind kind, const char *t, size_t len, size_t start,
                     size_t end)
{
    size_t n = *(size_t *)ud;
    if (kind > KF_TOK_OTHER || len == 0 || start >= end || end > n || t == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    static const unsigned flags[2] = {0, KF_NORM_KEEP_PUNCT};

    for (int i = 0; i < 2; i++) {
        int rc = kf_norm_text(norm, s, size, flags[i], &out);
        if (rc == KF_EUTF8)
            return 0;
        if (rc != KF_OK)
            abort();
        if (out.len && (out.data[0] == ' ' || out.data[out.len - 1] == ' '))
            abort(); /* trimmed */
        if (kf_tok_run(tok, out.data ? out.data : "", out.len, check_tok, &out.len) != KF_OK)
            abort();
        if (flags[i] == 0) {
            if (kf_syn_apply(syn, out.data ? out.data : "", out.len, &syn_out) != KF_OK)
                abort();
            if (kf_tok_run(tok, syn_out.data ? syn_out.data : "", syn_out.len, check_tok,
                           &syn_out.len) != KF_OK)
                abort();
        }
    }
    return 0;
}
