/* SPDX-License-Identifier: MIT
 * kf_analyzer: normalisation, synonyms and tokens in one call, with the scratch buffers
 * reused across calls. The FTS5 tokenizer and the engine both analyse through this, so the
 * index and the questions can never be tokenised differently. */
#include "kefu/text.h"

#include "kefu/mem.h"

struct kf_analyzer {
    const kf_syn *syn; /* borrowed */
    kf_norm *norm;
    kf_tok *tok;
    kf_buf nbuf; /* normalised text */
    kf_buf sbuf; /* with synonyms applied */
};

kf_analyzer *kf_analyzer_new(const kf_syn *syn, int *err)
{
    int rc = KF_ENOMEM;
    kf_analyzer *a = kf_calloc(1, sizeof(*a));
    if (!a)
        goto fail;
    a->syn = syn;
    kf_buf_init(&a->nbuf);
    kf_buf_init(&a->sbuf);
    a->norm = kf_norm_new(&rc);
    if (!a->norm)
        goto fail;
    rc = KF_ENOMEM;
    a->tok = kf_tok_new();
    if (!a->tok)
        goto fail;
    if (err)
        *err = KF_OK;
    return a;
fail:
    kf_analyzer_free(a);
    if (err)
        *err = rc;
    return NULL;
}

void kf_analyzer_free(kf_analyzer *a)
{
    if (!a)
        return;
    kf_norm_free(a->norm);
    kf_tok_free(a->tok);
    kf_buf_cleanup(&a->nbuf);
    kf_buf_cleanup(&a->sbuf);
    kf_free(a);
}

kf_norm *kf_analyzer_norm(kf_analyzer *a)
{
    return a->norm;
}

kf_tok *kf_analyzer_tok(kf_analyzer *a)
{
    return a->tok;
}

int kf_analyze(kf_analyzer *a, const char *s, size_t len, kf_buf *norm_out, kf_tok_cb cb,
               void *ud)
{
    /* Bounded work for any input: only the first KF_ANALYZE_MAX bytes count, cut before a
     * code point that would straddle the limit. */
    if (len > KF_ANALYZE_MAX) {
        len = KF_ANALYZE_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    kf_buf *text = a->syn ? &a->nbuf : (norm_out ? norm_out : &a->nbuf);
    int rc = kf_norm_text(a->norm, s, len, 0, text);
    if (rc)
        goto fail;
    if (a->syn) {
        kf_buf *dst = norm_out ? norm_out : &a->sbuf;
        rc = kf_syn_apply(a->syn, text->data, text->len, dst);
        if (rc)
            goto fail;
        text = dst;
    }
    return kf_tok_run(a->tok, text->data, text->len, cb, ud);
fail:
    if (norm_out)
        kf_buf_reset(norm_out);
    return rc;
}
