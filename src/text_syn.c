/* SPDX-License-Identifier: MIT
 * kf_syn: synonym groups (kb/synonyms.txt, format in docs/knowledge-format.md) and their
 * application to normalised text. Every word is stored normalised; apply() looks up the
 * words that start with the current character through a small hash of first code points,
 * longest first, so a question costs one hash probe per character. */
#include "kefu/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/mem.h"
#include "kefu/util.h"
#include "text_int.h"

typedef struct {
    uint32_t off, len;   /* the word, in words */
    uint32_t coff, clen; /* its group's canonical word, in words */
    int32_t first;       /* first code point */
    uint32_t group;
    int line;
} syn_word;

typedef struct {
    int32_t cp; /* 0: empty (NUL never survives normalisation) */
    uint32_t start, count;
} syn_slot;

struct kf_syn {
    kf_buf words; /* every normalised word, back to back */
    syn_word *w;
    size_t nw, capw;
    size_t ngroups;
    syn_slot *slots; /* open addressing, power-of-two size, built after each parse */
    size_t nslots;
};

kf_syn *kf_syn_new(void)
{
    kf_syn *s = kf_calloc(1, sizeof(*s));
    if (s)
        kf_buf_init(&s->words);
    return s;
}

void kf_syn_free(kf_syn *s)
{
    if (!s)
        return;
    kf_buf_cleanup(&s->words);
    kf_free(s->w);
    kf_free(s->slots);
    kf_free(s);
}

size_t kf_syn_groups(const kf_syn *s)
{
    return s ? s->ngroups : 0;
}

static uint32_t hash_cp(int32_t cp)
{
    return (uint32_t)cp * 2654435761u;
}

static const syn_slot *find_slot(const kf_syn *s, int32_t cp)
{
    if (!s->nslots)
        return NULL;
    size_t mask = s->nslots - 1;
    for (size_t h = hash_cp(cp) & mask;; h = (h + 1) & mask) {
        if (s->slots[h].cp == cp)
            return &s->slots[h];
        if (s->slots[h].cp == 0)
            return NULL;
    }
}

/* Sort by first code point, then longest first: apply() takes the first word that fits. */
static int cmp_word(const void *a, const void *b)
{
    const syn_word *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return 0;
}

static int build_index(kf_syn *s)
{
    qsort(s->w, s->nw, sizeof(*s->w), cmp_word);
    size_t want = 16;
    while (want < s->nw * 2)
        want *= 2;
    syn_slot *slots = kf_calloc(want, sizeof(*slots));
    if (!slots)
        return KF_ENOMEM;
    kf_free(s->slots);
    s->slots = slots;
    s->nslots = want;
    for (size_t i = 0; i < s->nw;) {
        size_t j = i;
        while (j < s->nw && s->w[j].first == s->w[i].first)
            j++;
        size_t h = hash_cp(s->w[i].first) & (want - 1);
        while (slots[h].cp)
            h = (h + 1) & (want - 1);
        slots[h].cp = s->w[i].first;
        slots[h].start = (uint32_t)i;
        slots[h].count = (uint32_t)(j - i);
        i = j;
    }
    return KF_OK;
}

/* The entry for word (normalised), or NULL. Linear: only used while parsing, and a
 * synonyms file has hundreds of words, not millions. */
static const syn_word *lookup(const kf_syn *s, const char *word, size_t len)
{
    for (size_t i = 0; i < s->nw; i++) {
        const syn_word *w = &s->w[i];
        if (w->len == len && memcmp(s->words.data + w->off, word, len) == 0)
            return w;
    }
    return NULL;
}

/* Separators between the words of a group: , ， 、 / */
static size_t sep_len(const char *p, const char *end)
{
    if (*p == ',' || *p == '/')
        return 1;
    if (end - p >= 3 && (memcmp(p, "\xEF\xBC\x8C", 3) == 0 || memcmp(p, "\xE3\x80\x81", 3) == 0))
        return 3;
    return 0;
}

/* Parses one line's words into a new group. Returns KF_OK (errors reported to d and
 * counted in *errs) or KF_ENOMEM. */
static int parse_line(kf_syn *s, kf_norm *n, const char *file, int line, const char *p,
                      const char *end, kf_buf *tmp, kf_diag *d, int *errs)
{
    size_t first = s->nw;      /* this group's words are s->w[first..] */
    size_t words_len = s->words.len;
    size_t kept = 0;
    int bad = 0;
    const char *shown = NULL;  /* the group's first word as written, for messages */
    size_t shown_len = 0;

    while (p <= end) {
        const char *q = p;
        size_t sl = 0;
        while (q < end && !(sl = sep_len(q, end)))
            q++;
        const char *a = p, *b = q;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        p = q + (sl ? sl : 1);
        if (a == b)
            continue;
        if (!shown) {
            shown = a;
            shown_len = (size_t)(b - a);
        }
        int rc = kf_norm_text(n, a, (size_t)(b - a), 0, tmp);
        if (rc == KF_ENOMEM)
            return rc;
        if (rc != KF_OK || tmp->len == 0) {
            kf_diag_add(d, file, line, "\"%.*s\" is empty after normalisation", (int)(b - a), a);
            bad = 1;
            continue;
        }
        /* Within one group, a repeat (退货, 退貨) is harmless. */
        int dup = 0;
        for (size_t i = first; i < s->nw; i++)
            if (s->w[i].len == tmp->len &&
                memcmp(s->words.data + s->w[i].off, tmp->data, tmp->len) == 0)
                dup = 1;
        if (dup)
            continue;
        const syn_word *other = lookup(s, tmp->data, tmp->len);
        if (other && other->group != s->ngroups) {
            kf_diag_add(d, file, line, "\"%.*s\" is already in the group of \"%.*s\" (line %d)",
                        (int)(b - a), a, (int)other->clen, s->words.data + other->coff,
                        other->line);
            bad = 1;
            continue;
        }
        if (tmp->len > UINT32_MAX || s->words.len > UINT32_MAX - tmp->len)
            return KF_ENOMEM;
        if (kf_grow(&s->w, &s->capw, s->nw + 1, sizeof(*s->w)))
            return KF_ENOMEM;
        size_t off = s->words.len;
        if (kf_buf_append(&s->words, tmp->data, tmp->len))
            return KF_ENOMEM;
        syn_word *w = &s->w[s->nw++];
        w->off = (uint32_t)off;
        w->len = (uint32_t)tmp->len;
        w->coff = s->w[first].off;
        w->clen = s->w[first].len;
        kf_text__decode(tmp->data, tmp->len, &w->first);
        w->group = (uint32_t)s->ngroups;
        w->line = line;
        kept++;
    }
    if (!shown)
        return KF_OK; /* only separators: nothing to say */
    if (kept == 1 && !bad)
        kf_diag_add(d, file, line, "group \"%.*s\" has only one word", (int)shown_len, shown);
    if (kept < 2 || bad) {
        /* Drop the whole group, so one bad word does not leave a half group behind. */
        s->nw = first;
        s->words.len = words_len;
        (*errs)++;
        return KF_OK;
    }
    s->ngroups++;
    return KF_OK;
}

int kf_syn_parse(kf_syn *s, kf_norm *n, const char *file, const char *text, size_t len,
                 kf_diag *d)
{
    kf_buf tmp;
    int rc = KF_OK, errs = 0, line = 0;

    kf_buf_init(&tmp);
    size_t i = kf_skip_bom(text, len), ln;
    const char *p;
    while (kf_next_line(text, len, &i, &p, &ln)) {
        const char *end = p + ln;
        line++;
        if (!kf_utf8_valid(p, (size_t)(end - p), NULL)) {
            kf_diag_add(d, file, line, "invalid UTF-8");
            errs++;
            continue;
        }
        const char *hash = memchr(p, '#', (size_t)(end - p));
        if (hash)
            end = hash;
        rc = parse_line(s, n, file, line, p, end, &tmp, d, &errs);
        if (rc)
            goto out;
    }
    rc = build_index(s);
    if (rc == KF_OK && errs)
        rc = KF_EPARSE;
out:
    kf_buf_cleanup(&tmp);
    return rc;
}

int kf_syn_apply(const kf_syn *s, const char *norm, size_t len, kf_buf *out)
{
    kf_buf_reset(out);
    if (kf_buf_reserve(out, len)) /* the usual size of the result: one allocation */
        return KF_ENOMEM;
    out->data[0] = '\0';
    size_t copied = 0; /* norm[copied..i) is still to be copied */
    int32_t prev = ' ';
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        size_t n = kf_text__decode(norm + i, len - i, &cp);
        const syn_slot *slot = find_slot(s, cp);
        const syn_word *hit = NULL;
        if (slot) {
            for (uint32_t k = 0; k < slot->count && !hit; k++) {
                const syn_word *w = &s->w[slot->start + k];
                if (w->len > len - i || memcmp(norm + i, s->words.data + w->off, w->len) != 0)
                    continue;
                /* A Latin or digit edge must not continue a word: "moneyback" stays. */
                if (kf_text__is_wordch(w->first) && kf_text__is_wordch(prev))
                    continue;
                if (i + w->len < len) {
                    int32_t last, next;
                    const char *ws = s->words.data + w->off;
                    size_t lp = w->len - 1;
                    while (lp > 0 && ((unsigned char)ws[lp] & 0xC0) == 0x80)
                        lp--;
                    kf_text__decode(ws + lp, w->len - lp, &last);
                    kf_text__decode(norm + i + w->len, len - i - w->len, &next);
                    if (kf_text__is_wordch(last) && kf_text__is_wordch(next))
                        continue;
                }
                hit = w;
            }
        }
        if (!hit) {
            prev = cp;
            i += n;
            continue;
        }
        if (kf_buf_append(out, norm + copied, i - copied) ||
            kf_buf_append(out, s->words.data + hit->coff, hit->clen))
            return KF_ENOMEM;
        i += hit->len;
        copied = i;
        /* The next match sees the canonical's last character as its left neighbour;
         * it sits where the variant's last character was. */
        const char *ce = s->words.data + hit->coff + hit->clen;
        size_t lp = 1;
        while (lp < hit->clen && ((unsigned char)ce[-(ptrdiff_t)lp] & 0xC0) == 0x80)
            lp++;
        kf_text__decode(ce - lp, lp, &prev);
    }
    if (kf_buf_append(out, norm + copied, len - copied))
        return KF_ENOMEM;
    return KF_OK;
}
