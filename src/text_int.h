/* SPDX-License-Identifier: MIT
 * Helpers shared by the text module's files (text_norm.c, text_syn.c, text_tok.c): a UTF-8
 * decoder for text that is already valid, and the character classes the tokenizer and the
 * synonym matcher must agree on. Everything here is static inline; nothing is exported. */
#ifndef KEFU_TEXT_INT_H
#define KEFU_TEXT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <utf8proc.h>

/* Decodes the code point at s[0..len) (len >= 1) into *cp and returns its byte length.
 * The text layer only decodes text it has validated or produced itself, but a caller may
 * hand kf_tok_run anything, so a bad or truncated sequence yields U+FFFD and length 1
 * instead of a read past the end. */
static inline size_t kf_text__decode(const char *str, size_t len, int32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    size_t need;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        min = 0x10000;
    } else {
        goto bad;
    }
    if (len <= need)
        goto bad;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = (int32_t)v;
    return need + 1;
bad:
    *cp = 0xFFFD;
    return 1;
}

/* Han ideographs: the CJK Unified Ideographs blocks (with extensions A to G), the
 * compatibility ideographs, and U+3007 IDEOGRAPHIC NUMBER ZERO. The category check leaves
 * out unassigned code points inside those blocks. */
static inline int kf_text__is_han(int32_t cp)
{
    if (cp < 0x3007)
        return 0;
    if (!((cp == 0x3007) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
          (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FA1F) ||
          (cp >= 0x30000 && cp <= 0x3134F)))
        return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LO || c == UTF8PROC_CATEGORY_NL;
}

/* Letters that make up space-separated words: ASCII a-z (text is case-folded), and letters
 * and combining marks of the Latin, IPA, Greek and Cyrillic blocks (so "café" and "naïve"
 * stay one word). Other scripts are tokenised one character at a time. */
static inline int kf_text__is_letter(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (!((cp >= 0xC0 && cp <= 0x52F) || (cp >= 0x1E00 && cp <= 0x1FFF)))
        return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME);
}

static inline int kf_text__is_digit(int32_t cp)
{
    return cp >= '0' && cp <= '9';
}

/* A character that continues a Latin word or number: a synonym variant that starts or ends
 * with one only matches where the text does not continue it. */
static inline int kf_text__is_wordch(int32_t cp)
{
    return kf_text__is_digit(cp) || kf_text__is_letter(cp);
}

#endif
