/* SPDX-License-Identifier: MIT
 * kf_norm: the one normalisation of visitor text and knowledge text. utf8proc does NFKC,
 * case folding and the lumping of look-alike punctuation; this file classifies what is left
 * (punctuation, symbols, emoji, controls, separators) and collapses spaces; OpenCC turns
 * traditional Chinese into simplified. Tokenising is text_tok.c's job. */
#include "kefu/text.h"

#include <opencc/opencc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "kefu/mem.h"
#include "kefu/util.h"
#include "text_int.h"

/* LUMP folds the many dashes, quotes and spaces into their ASCII forms, so a rule written
 * with "-" also matches "–" and "－". IGNORE drops default-ignorable code points (zero-width
 * space and joiners, variation selectors, BOM, soft hyphen, tag characters) without leaving
 * a space, so "退\u200b货" still reads "退货". */
#define NORM_OPTS                                                                              \
    (UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |               \
     UTF8PROC_IGNORE | UTF8PROC_LUMP)

struct kf_norm {
    opencc_t cc;
    utf8proc_int32_t *u32; /* scratch: decomposed code points, reused across calls */
    size_t u32cap;
};

/* ---- which characters OpenCC can change ----------------------------------------------
 *
 * opencc_convert_utf8 costs about 4 µs for a 14-character question, more than everything
 * else in kf_analyze together, and nearly every question is Chinese. Its output differs
 * from its input only where a dictionary entry with a different value matched, so a text
 * with none of those characters can skip it. The set is learned once per process by
 * converting each CJK code point on its own line (lines keep phrases from matching across
 * characters). Converting one character alone misses characters that only change inside a
 * phrase (瞭 in 瞭解 -> 了解, 沈 in 沈默 -> 沉默). A phrase only matches when all of it is
 * there, so one character per such phrase is enough: EXTRA holds the changed characters of
 * every TSPhrases entry that has no character the probe finds (dumped with opencc_dict
 * -f ocd2 -t text, OpenCC 1.1.6), plus TSCharacters' keys whose first value is the key
 * itself. Common characters such as 么 (in 么麼) are not needed: 麼 is probed.
 * Code points beyond the BMP always go through OpenCC; BMP code points outside the probed
 * blocks are not in its t2s dictionaries (they hold Han characters only). If the probe sees
 * anything unexpected, every non-ASCII text goes through OpenCC: slower, never wrong. */
#define PROBE_CHUNK 512
static const char EXTRA[] = "阪覆藉衹瞭牴祇彷沈";

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static int probe_done;
static int probe_all; /* probe failed: always convert */
static uint8_t probe_bits[0x10000 / 8];

static size_t put_utf8(int32_t cp, char *o)
{
    utf8proc_ssize_t n = utf8proc_encode_char(cp, (utf8proc_uint8_t *)o);
    return n > 0 ? (size_t)n : 0;
}

static void mark(int32_t cp)
{
    probe_bits[cp >> 3] |= (uint8_t)(1u << (cp & 7));
}

static int probe_range(opencc_t cc, int32_t lo, int32_t hi)
{
    char in[PROBE_CHUNK * 5];
    for (int32_t base = lo; base <= hi; base += PROBE_CHUNK) {
        int32_t top = base + PROBE_CHUNK - 1 < hi ? base + PROBE_CHUNK - 1 : hi;
        size_t n = 0;
        for (int32_t cp = base; cp <= top; cp++) {
            n += put_utf8(cp, in + n);
            in[n++] = '\n';
        }
        char *out = opencc_convert_utf8(cc, in, n);
        if (!out)
            return -1;
        const char *o = out;
        size_t i = 0;
        int bad = 0;
        for (int32_t cp = base; cp <= top && !bad; cp++) {
            size_t il = 0;
            while (in[i + il] != '\n')
                il++;
            const char *nl = strchr(o, '\n');
            if (!nl) {
                bad = 1;
                break;
            }
            if ((size_t)(nl - o) != il || memcmp(o, in + i, il) != 0)
                mark(cp);
            i += il + 1;
            o = nl + 1;
        }
        if (*o)
            bad = 1;
        opencc_convert_utf8_free(out);
        if (bad)
            return -1;
    }
    return 0;
}

static void probe(opencc_t cc)
{
    pthread_mutex_lock(&probe_mu);
    if (!probe_done) {
        /* CJK radicals .. CJK Unified Ideographs, and the compatibility ideographs. */
        if (probe_range(cc, 0x2E80, 0x9FFF) || probe_range(cc, 0xF900, 0xFAFF)) {
            probe_all = 1;
        } else {
            for (size_t i = 0; EXTRA[i];) {
                int32_t cp;
                i += kf_text__decode(EXTRA + i, sizeof(EXTRA) - 1 - i, &cp);
                mark(cp);
            }
        }
        probe_done = 1;
    }
    pthread_mutex_unlock(&probe_mu);
}

static int may_convert(int32_t cp)
{
    if (cp >= 0x10000)
        return 1;
    return (probe_bits[cp >> 3] >> (cp & 7)) & 1;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

kf_norm *kf_norm_new(int *err)
{
    kf_norm *n = kf_calloc(1, sizeof(*n));
    if (!n) {
        if (err)
            *err = KF_ENOMEM;
        return NULL;
    }
    n->cc = opencc_open("t2s.json");
    if (n->cc == (opencc_t)-1) {
        kf_free(n);
        if (err)
            *err = KF_ENOTFOUND;
        return NULL;
    }
    probe(n->cc);
    if (err)
        *err = KF_OK;
    return n;
}

void kf_norm_free(kf_norm *n)
{
    if (!n)
        return;
    opencc_close(n->cc);
    kf_free(n->u32);
    kf_free(n);
}

/* ---- normalisation --------------------------------------------------------------------- */

enum { CH_KEEP, CH_SPACE, CH_DROP };

/* What happens to one code point after NFKC and folding. Punctuation, symbols (emoji are So,
 * skin tones Sk), separators, controls, private-use and unassigned code points become a
 * space, so "退货！！😀发票" still splits into two words. Format characters and enclosing
 * marks (the keycap of 1️⃣) are invisible or decorative, and vanish without a space. */
static int classify(int32_t cp, unsigned flags)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
        return (flags & KF_NORM_KEEP_PUNCT) ? CH_KEEP : CH_SPACE;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
        return CH_SPACE;
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_ME:
        return CH_DROP;
    default:
        return CH_KEEP;
    }
}

/* Pure ASCII needs neither utf8proc nor OpenCC: NFKC leaves it alone and folding is
 * tolower. The classes match classify() exactly (ASCII punctuation is P or S, the rest
 * below 0x20 and 0x7F are Cc). */
static int norm_ascii(const char *s, size_t len, unsigned flags, kf_buf *out)
{
    if (kf_buf_reserve(out, len)) /* out was reset: one allocation, not a small one first */
        return KF_ENOMEM;
    char *o = out->data;
    size_t k = 0;
    int pending = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int keep;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            keep = 1;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            keep = 1;
        } else {
            keep = c > 0x20 && c < 0x7F && (flags & KF_NORM_KEEP_PUNCT);
        }
        if (!keep) {
            pending = 1;
            continue;
        }
        if (pending && k)
            o[k++] = ' ';
        pending = 0;
        o[k++] = (char)c;
    }
    o[k] = '\0';
    out->len = k;
    return KF_OK;
}

int kf_norm_text(kf_norm *n, const char *s, size_t len, unsigned flags, kf_buf *out)
{
    kf_buf_reset(out);
    if (!kf_utf8_valid(s, len, NULL))
        return KF_EUTF8;

    size_t i = 0;
    while (i < len && (unsigned char)s[i] < 0x80)
        i++;
    if (i == len)
        return norm_ascii(s, len, flags, out);

    /* Decompose into the reused scratch; retry once if it was too small. */
    utf8proc_ssize_t cnt;
    for (;;) {
        cnt = utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                        n->u32, (utf8proc_ssize_t)n->u32cap, NORM_OPTS, NULL,
                                        NULL);
        if (cnt < 0)
            return cnt == UTF8PROC_ERROR_INVALIDUTF8 ? KF_EUTF8 : KF_ENOMEM;
        if ((size_t)cnt <= n->u32cap)
            break;
        size_t want = (size_t)cnt < 64 ? 64 : (size_t)cnt;
        if (kf_grow(&n->u32, &n->u32cap, want, sizeof(*n->u32)))
            return KF_ENOMEM;
    }
    cnt = utf8proc_normalize_utf32(n->u32, cnt, NORM_OPTS);
    if (cnt < 0)
        return KF_ENOMEM;

    /* At most 4 bytes per code point (a space replaces at least one). */
    size_t need = (size_t)cnt * 4 + 1;
    if (kf_buf_reserve(out, need - 1))
        return KF_ENOMEM;
    char *o = out->data;
    size_t k = 0;
    int pending = 0, convert = 0;
    for (utf8proc_ssize_t j = 0; j < cnt; j++) {
        int32_t cp = n->u32[j];
        int cls;
        if (cp < 0x80) {
            cls = ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
                   (cp > 0x20 && cp < 0x7F && (flags & KF_NORM_KEEP_PUNCT)))
                      ? CH_KEEP
                      : CH_SPACE;
        } else {
            cls = classify(cp, flags);
        }
        if (cls == CH_DROP)
            continue;
        if (cls == CH_SPACE) {
            pending = 1;
            continue;
        }
        if (pending && k)
            o[k++] = ' ';
        pending = 0;
        if (cp >= 0x80 && !convert && (probe_all || may_convert(cp)))
            convert = 1;
        k += put_utf8(cp, o + k);
    }
    o[k] = '\0';
    out->len = k;
    if (!convert)
        return KF_OK;

    /* t2s maps Han characters to Han characters, so converting after the filtering above
     * gives the same result as before it, on shorter text. */
    char *r = opencc_convert_utf8(n->cc, out->data, out->len);
    if (!r) {
        kf_buf_reset(out);
        return KF_ENOMEM;
    }
    kf_buf_reset(out);
    int rc = kf_buf_puts(out, r);
    opencc_convert_utf8_free(r);
    return rc;
}
