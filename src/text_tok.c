/* SPDX-License-Identifier: MIT
 * kf_tok: tokens of normalised text. Chinese has no spaces and no dictionary here, so each
 * Han run gives overlapping character unigrams and bigrams (what FTS5 phrase queries and
 * BM25 need); Latin words go through the Snowball English stemmer; digit runs stay whole.
 * Normalisation (text_norm.c) has already folded case and removed punctuation. */
#include "kefu/text.h"

#include <libstemmer.h>

#include "kefu/mem.h"
#include "text_int.h"

/* Longest word or number handed out, in bytes. Longer runs are cut (at a code-point
 * boundary) before stemming, so hostile input cannot make the stemmer or the index carry
 * megabyte tokens. */
#define TOK_MAX 64

struct kf_tok {
    struct sb_stemmer *stem;
};

kf_tok *kf_tok_new(void)
{
    kf_tok *t = kf_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->stem = sb_stemmer_new("english", NULL);
    if (!t->stem) {
        kf_free(t);
        return NULL;
    }
    return t;
}

void kf_tok_free(kf_tok *t)
{
    if (!t)
        return;
    sb_stemmer_delete(t->stem);
    kf_free(t);
}

/* Cuts s[0..len) to at most TOK_MAX bytes without splitting a code point. */
static size_t cap_len(const char *s, size_t len)
{
    if (len <= TOK_MAX)
        return len;
    size_t n = TOK_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

enum { CL_SPACE, CL_HAN, CL_LETTER, CL_DIGIT, CL_OTHER };

static int class_of(int32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return CL_LETTER;
        if (cp >= '0' && cp <= '9')
            return CL_DIGIT;
        return cp == ' ' || cp < 0x20 || cp == 0x7F ? CL_SPACE : CL_OTHER;
    }
    if (kf_text__is_han(cp))
        return CL_HAN;
    if (kf_text__is_letter(cp))
        return CL_LETTER;
    utf8proc_category_t c = utf8proc_category(cp);
    if (c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP)
        return CL_SPACE;
    return CL_OTHER;
}

int kf_tok_run(kf_tok *t, const char *norm, size_t len, kf_tok_cb cb, void *ud)
{
    size_t i = 0;
    int rc;
    while (i < len) {
        int32_t cp;
        size_t n = kf_text__decode(norm + i, len - i, &cp);
        int cl = class_of(cp);
        if (cl == CL_SPACE) {
            i += n;
            continue;
        }
        if (cl == CL_HAN) {
            /* Unigram, then the bigram with the next character if the run goes on. */
            size_t next = i + n;
            int32_t cp2 = 0;
            size_t n2 = next < len ? kf_text__decode(norm + next, len - next, &cp2) : 0;
            if ((rc = cb(ud, KF_TOK_HAN1, norm + i, n, i, i + n)))
                return rc;
            if (n2 && class_of(cp2) == CL_HAN &&
                (rc = cb(ud, KF_TOK_HAN2, norm + i, n + n2, i, next + n2)))
                return rc;
            i = next;
            continue;
        }
        if (cl == CL_OTHER) {
            if ((rc = cb(ud, KF_TOK_OTHER, norm + i, n, i, i + n)))
                return rc;
            i += n;
            continue;
        }
        /* A run of letters or of digits; "iphone15" is a word then a number. */
        size_t start = i, end = i + n;
        while (end < len) {
            int32_t c2;
            size_t m = kf_text__decode(norm + end, len - end, &c2);
            if (class_of(c2) != cl)
                break;
            end += m;
        }
        size_t tl = cap_len(norm + start, end - start);
        if (cl == CL_DIGIT) {
            rc = cb(ud, KF_TOK_NUM, norm + start, tl, start, end);
        } else {
            const sb_symbol *st =
                sb_stemmer_stem(t->stem, (const sb_symbol *)(norm + start), (int)tl);
            if (!st)
                return KF_ENOMEM;
            int sl = sb_stemmer_length(t->stem);
            rc = cb(ud, KF_TOK_WORD, (const char *)st, (size_t)sl, start, end);
        }
        if (rc)
            return rc;
        i = end;
    }
    return KF_OK;
}
