/* SPDX-License-Identifier: MIT
 * Feature extraction and the feature vocabulary (see feat.h). Feature strings carry a
 * one-letter kind prefix so that, say, the word "a" and the character gram "a" never
 * collide. The vocabulary is an open-addressing hash table over an arena of names. */
#include "kefu/feat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/err.h"
#include "kefu/mem.h"

typedef struct kf_fw {
    float idf;
    uint8_t han;   /* a Han character (weighs HAN_CHAR_WEIGHT) */
    uint8_t tok;   /* a whole token (token_feature) */
    uint8_t asked; /* seen in a question */
} kf_fw;

typedef struct kf_wgrams {
    uint32_t hash, name_off, name_len;
    uint32_t ids_off, n_ids;
} kf_wgrams;

struct kf_vocab {
    uint32_t *slots; /* id + 1, 0 = empty; capacity is a power of two */
    size_t nslots;
    uint32_t *hashes;   /* per id */
    uint32_t *name_off; /* per id, into names */
    uint32_t *df;       /* per id; df, stamp and asked: until freeze (fw then has them) */
    uint32_t *stamp;    /* per id: last document counted (add_doc dedup) */
    uint8_t *asked;     /* per id: seen in a question (kf_vocab_add_doc), not only in
                           reference text (kf_vocab_add_ref) */
    kf_fw *fw;          /* per id, after freeze: what a vector reads of it, in one place
                           (a question's hundred ids each cost a cache miss or more, once
                           for each of idf, name and asked when they were apart) */
    size_t n, cap;
    kf_buf names;
    uint32_t ndocs;
    int frozen;
    /* The words' character grams, memoised: every surface word of the added texts, and
     * after freeze the ids of its grams (all in the vocabulary, since adding the text added
     * them). A question's known word then costs one lookup here instead of one per gram
     * (about fifteen for a word of seven letters). */
    uint32_t *wslots; /* word index + 1, 0 = empty; capacity a power of two */
    size_t nwslots;
    kf_wgrams *words;
    size_t nwords, capwords;
    kf_buf wnames;
    uint32_t *gram_ids; /* after freeze; words[i] owns n_ids of them from ids_off */
    int use_memo;       /* 1 once the ids are ready (kf_vocab__set_memo for the tests) */
};

void kf_fvec_init(kf_fvec *v)
{
    memset(v, 0, sizeof(*v));
}

void kf_fvec_cleanup(kf_fvec *v)
{
    kf_free(v->idx);
    kf_free(v->val);
    memset(v, 0, sizeof(*v));
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

kf_vocab *kf_vocab_new(void)
{
    kf_vocab *v = kf_calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->nslots = 1024;
    v->slots = kf_calloc(v->nslots, sizeof(*v->slots));
    if (!v->slots) {
        kf_free(v);
        return NULL;
    }
    kf_buf_init(&v->names);
    kf_buf_init(&v->wnames);
    return v;
}

void kf_vocab_free(kf_vocab *v)
{
    if (!v)
        return;
    kf_free(v->slots);
    kf_free(v->hashes);
    kf_free(v->name_off);
    kf_free(v->df);
    kf_free(v->stamp);
    kf_free(v->asked);
    kf_free(v->fw);
    kf_buf_cleanup(&v->names);
    kf_free(v->wslots);
    kf_free(v->words);
    kf_buf_cleanup(&v->wnames);
    kf_free(v->gram_ids);
    kf_free(v);
}

size_t kf_vocab_size(const kf_vocab *v)
{
    return v->n;
}

const char *kf_vocab_name(const kf_vocab *v, uint32_t id)
{
    if (id >= v->n)
        return NULL;
    return v->names.data + v->name_off[id];
}

/* Returns the id of s, or -1 if absent; *slot gets the slot where it is or would go. */
static long lookup(const kf_vocab *v, const char *s, size_t n, uint32_t h, size_t *slot)
{
    size_t mask = v->nslots - 1;
    size_t i = h & mask;
    for (;;) {
        uint32_t e = v->slots[i];
        if (e == 0) {
            *slot = i;
            return -1;
        }
        uint32_t id = e - 1;
        if (v->hashes[id] == h) {
            const char *name = v->names.data + v->name_off[id];
            if (strncmp(name, s, n) == 0 && name[n] == '\0') {
                *slot = i;
                return (long)id;
            }
        }
        i = (i + 1) & mask;
    }
}

/* An open-addressing table (slot = item + 1, 0 empty) doubled, or 1,024 slots to start, for
 * n items, item k's hash found stride bytes after item k-1's (in an array of hashes or of
 * records). *slots is unchanged on ENOMEM. */
static int grow_slots(uint32_t **slots, size_t *nslots, const uint32_t *first_hash, size_t stride,
                      size_t n)
{
    size_t ns = *nslots ? *nslots * 2 : 1024;
    uint32_t *t = kf_calloc(ns, sizeof(*t));
    if (!t)
        return KF_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        uint32_t h;
        memcpy(&h, (const char *)first_hash + k * stride, sizeof(h));
        size_t i = h & (ns - 1);
        while (t[i])
            i = (i + 1) & (ns - 1);
        t[i] = (uint32_t)k + 1;
    }
    kf_free(*slots);
    *slots = t;
    *nslots = ns;
    return KF_OK;
}

static long insert(kf_vocab *v, const char *s, size_t n)
{
    uint32_t h = hash_bytes(s, n);
    size_t slot;
    long id = lookup(v, s, n, h, &slot);
    if (id >= 0)
        return id;
    if ((v->n + 1) * 2 > v->nslots) {
        if (grow_slots(&v->slots, &v->nslots, v->hashes, sizeof(*v->hashes), v->n))
            return KF_ENOMEM;
        lookup(v, s, n, h, &slot);
    }
    if (v->n >= UINT32_MAX - 1 || v->names.len + n + 1 > UINT32_MAX)
        return KF_ELIMIT;
    size_t c = v->cap;
    if (kf_grow(&v->hashes, &c, v->n + 1, sizeof(uint32_t)))
        return KF_ENOMEM;
    c = v->cap;
    if (kf_grow(&v->name_off, &c, v->n + 1, sizeof(uint32_t)))
        return KF_ENOMEM;
    c = v->cap;
    if (kf_grow(&v->df, &c, v->n + 1, sizeof(uint32_t)))
        return KF_ENOMEM;
    c = v->cap;
    if (kf_grow(&v->stamp, &c, v->n + 1, sizeof(uint32_t)))
        return KF_ENOMEM;
    c = v->cap;
    if (kf_grow(&v->asked, &c, v->n + 1, sizeof(uint8_t)))
        return KF_ENOMEM;
    v->cap = c;
    uint32_t off = (uint32_t)v->names.len;
    if (kf_buf_append(&v->names, s, n) || kf_buf_putc(&v->names, '\0'))
        return KF_ENOMEM;
    id = (long)v->n++;
    v->hashes[id] = h;
    v->name_off[id] = off;
    v->df[id] = 0;
    v->stamp[id] = 0;
    v->asked[id] = 0;
    v->slots[slot] = (uint32_t)id + 1;
    return id;
}

/* ---- token collection and feature generation ---------------------------------- */

typedef struct tokrec {
    kf_tok_kind kind;
    uint32_t off, len;    /* token text in the arena */
    uint32_t start, end;  /* in the normalised text */
} tokrec;

typedef struct collect {
    tokrec *v;
    size_t n, cap;
    kf_buf arena;
    int err;
} collect;

static int collect_cb(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                      size_t end)
{
    collect *c = ud;
    if (kf_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v)))
        return c->err = KF_ENOMEM;
    tokrec *r = &c->v[c->n++];
    r->kind = kind;
    r->off = (uint32_t)c->arena.len;
    r->len = (uint32_t)len;
    r->start = (uint32_t)start;
    r->end = (uint32_t)end;
    if (kf_buf_append(&c->arena, tok, len))
        return c->err = KF_ENOMEM;
    return 0;
}

typedef int (*emit_fn)(void *ud, const char *f, size_t n);
/* Called with each English word's surface form before its character grams: 1 when it has
 * given them itself (the memo), 0 to have them generated, < 0 an error code. */
typedef int (*word_fn)(void *ud, const char *w, size_t n);

static const char kind_prefix[] = {'W', 'N', 'H', 'B', 'O'};

/* The longest surface word that gets character grams (with its two boundary marks). */
#define GRAM_WORD_MAX 70

/* Character 3- and 4-grams of a surface word with boundary marks (3..4 was better than 3..5
 * and 2..4 on CLINC150's validation split, and cheaper); wl + 2 <= GRAM_WORD_MAX. */
static int emit_grams(const char *word, size_t wl, emit_fn emit, void *ud)
{
    char w[GRAM_WORD_MAX], f[8];
    int rc;
    w[0] = '<';
    memcpy(w + 1, word, wl);
    w[wl + 1] = '>';
    size_t L = wl + 2;
    f[0] = 'C';
    f[1] = ':';
    for (size_t g = 3; g <= 4; g++) {
        for (size_t s = 0; s + g <= L; s++) {
            memcpy(f + 2, w + s, g);
            if ((rc = emit(ud, f, g + 2)))
                return rc;
        }
    }
    return 0;
}

/* Calls emit for every feature string of the collected tokens over normalised text (word
 * may give a word's grams in its place). */
static int gen_features(const collect *c, const char *norm, emit_fn emit, word_fn word, void *ud)
{
    char f[256];
    int rc;
    for (size_t i = 0; i < c->n; i++) {
        const tokrec *t = &c->v[i];
        const char *tok = c->arena.data + t->off;
        if (t->len + 2 > sizeof(f))
            continue;
        f[0] = kind_prefix[t->kind];
        f[1] = ':';
        memcpy(f + 2, tok, t->len);
        if ((rc = emit(ud, f, t->len + 2)))
            return rc;
        if (t->kind == KF_TOK_WORD) {
            /* word bigram with the next token if it is a word */
            if (i + 1 < c->n && c->v[i + 1].kind == KF_TOK_WORD) {
                const tokrec *u = &c->v[i + 1];
                if (t->len + u->len + 3 <= sizeof(f)) {
                    f[0] = 'P';
                    memcpy(f + 2, tok, t->len);
                    f[2 + t->len] = '_';
                    memcpy(f + 3 + t->len, c->arena.data + u->off, u->len);
                    if ((rc = emit(ud, f, t->len + u->len + 3)))
                        return rc;
                }
            }
            size_t wl = t->end - t->start;
            if (wl + 2 <= GRAM_WORD_MAX) {
                rc = word(ud, norm + t->start, wl);
                if (rc == 0)
                    rc = emit_grams(norm + t->start, wl, emit, ud);
                if (rc < 0)
                    return rc;
            }
        } else if (t->kind == KF_TOK_HAN1) {
            /* Han trigram: this unigram and the next two, when contiguous */
            size_t j = i + 1, k;
            while (j < c->n && c->v[j].kind != KF_TOK_HAN1)
                j++;
            k = j + 1;
            while (k < c->n && c->v[k].kind != KF_TOK_HAN1)
                k++;
            if (k < c->n && c->v[j].start == t->end && c->v[k].start == c->v[j].end) {
                size_t tl = c->v[k].end - t->start;
                if (tl + 2 <= sizeof(f)) {
                    f[0] = 'T';
                    memcpy(f + 2, norm + t->start, tl);
                    if ((rc = emit(ud, f, tl + 2)))
                        return rc;
                }
            }
        }
    }
    return 0;
}

/* ---- the words' grams, memoised ----------------------------------------------- */

/* The index of the word w in the memo, or -1; *slot gets where it is or would go. */
static long word_find(const kf_vocab *v, const char *w, size_t n, uint32_t h, size_t *slot)
{
    size_t mask = v->nwslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t e = v->wslots[i];
        if (e == 0) {
            *slot = i;
            return -1;
        }
        const kf_wgrams *g = &v->words[e - 1];
        if (g->hash == h && g->name_len == n && memcmp(v->wnames.data + g->name_off, w, n) == 0) {
            *slot = i;
            return (long)(e - 1);
        }
    }
}

/* Remembers a surface word of an added text. Best effort: a word left out (no memory) only
 * has its grams looked up one by one. */
static void word_add(kf_vocab *v, const char *w, size_t n)
{
    uint32_t h = hash_bytes(w, n);
    size_t slot;
    if (v->nwslots && word_find(v, w, n, h, &slot) >= 0)
        return;
    if ((v->nwords + 1) * 2 > v->nwslots) {
        if (grow_slots(&v->wslots, &v->nwslots, v->words ? &v->words->hash : NULL,
                       sizeof(*v->words), v->nwords))
            return;
        word_find(v, w, n, h, &slot);
    }
    if (v->nwords >= UINT32_MAX - 1 || v->wnames.len + n > UINT32_MAX ||
        kf_grow(&v->words, &v->capwords, v->nwords + 1, sizeof(*v->words)))
        return;
    uint32_t off = (uint32_t)v->wnames.len;
    if (kf_buf_append(&v->wnames, w, n))
        return;
    v->words[v->nwords] = (kf_wgrams){h, off, (uint32_t)n, 0, 0};
    v->wslots[slot] = (uint32_t)++v->nwords;
}

typedef struct ids_ctx {
    const kf_vocab *v;
    uint32_t *ids;
    size_t n, cap;
} ids_ctx;

static long lookup_str(const kf_vocab *v, const char *f, size_t n)
{
    size_t slot;
    return lookup(v, f, n, hash_bytes(f, n), &slot);
}

static int ids_emit(void *ud, const char *f, size_t n)
{
    ids_ctx *x = ud;
    long id = lookup_str(x->v, f, n);
    if (id < 0) /* cannot happen (the text that had the word added its grams): as unknown */
        return 0;
    if (kf_grow(&x->ids, &x->cap, x->n + 1, sizeof(*x->ids)))
        return KF_ENOMEM;
    x->ids[x->n++] = (uint32_t)id;
    return 0;
}

/* At freeze: the ids of every remembered word's grams. Without memory, no memo. */
static void words_freeze(kf_vocab *v)
{
    ids_ctx x = {v, NULL, 0, 0};
    for (size_t k = 0; k < v->nwords; k++) {
        kf_wgrams *g = &v->words[k];
        size_t first = x.n;
        if (emit_grams(v->wnames.data + g->name_off, g->name_len, ids_emit, &x)) {
            kf_free(x.ids);
            return;
        }
        g->ids_off = (uint32_t)first;
        g->n_ids = (uint32_t)(x.n - first);
    }
    v->gram_ids = x.ids;
    v->use_memo = 1;
}

size_t kf_vocab__set_memo(kf_vocab *v, int on)
{
    v->use_memo = on && v->frozen && (v->gram_ids || v->nwords == 0);
    return v->use_memo ? v->nwords : 0;
}

static int analyze_collect(kf_analyzer *a, const char *text, size_t len, kf_buf *norm,
                           collect *c)
{
    int rc = kf_analyze(a, text, len, norm, collect_cb, c);
    if (c->err)
        return c->err;
    return rc;
}

static void collect_cleanup(collect *c)
{
    kf_free(c->v);
    kf_buf_cleanup(&c->arena);
}

typedef struct add_ctx {
    kf_vocab *v;
    int asked;
} add_ctx;

static int add_emit(void *ud, const char *f, size_t n)
{
    kf_vocab *v = ((add_ctx *)ud)->v;
    long id = insert(v, f, n);
    if (id < 0)
        return (int)id;
    if (((add_ctx *)ud)->asked)
        v->asked[id] = 1;
    if (v->stamp[id] != v->ndocs) {
        v->stamp[id] = v->ndocs;
        v->df[id]++;
    }
    return 0;
}

static int add_word(void *ud, const char *w, size_t n)
{
    word_add(((add_ctx *)ud)->v, w, n);
    return 0; /* the grams themselves are added as strings */
}

static int add_doc(kf_vocab *v, kf_analyzer *a, const char *text, size_t len, int asked)
{
    collect c = {0};
    kf_buf norm;
    int rc;

    if (v->frozen)
        return KF_EINVAL;
    kf_buf_init(&norm);
    kf_buf_init(&c.arena);
    v->ndocs++; /* stamps start at 1 so that 0 means "never counted" */
    rc = analyze_collect(a, text, len, &norm, &c);
    if (rc == KF_OK) {
        add_ctx ctx = {v, asked};
        rc = gen_features(&c, norm.data ? norm.data : "", add_emit, add_word, &ctx);
    }
    collect_cleanup(&c);
    kf_buf_cleanup(&norm);
    return rc;
}

int kf_vocab_add_doc(kf_vocab *v, kf_analyzer *a, const char *text, size_t len)
{
    return add_doc(v, a, text, len, 1);
}

int kf_vocab_add_ref(kf_vocab *v, kf_analyzer *a, const char *text, size_t len)
{
    return add_doc(v, a, text, len, 0);
}

/* Whole tokens (words, numbers, Han characters and pairs), as opposed to the derived
 * features (character grams, word pairs, Han triples). Coverage is measured on these: the
 * letters of an unknown word ("rain" in "will it rain tomorrow") are mostly known grams and
 * would hide that the word itself is unknown. */
static int token_feature(const char *f)
{
    return f[0] == 'W' || f[0] == 'N' || f[0] == 'H' || f[0] == 'B' || f[0] == 'O';
}

/* Han text has no word boundaries and no dictionary here, so a pair of adjacent characters is
 * as often two halves of neighbouring words (维修要多少钱 gives 修要, 要多) as a word. A
 * model trained on 10-30 phrasings per entry latches onto such accidental pairs because they
 * are rare, hence heavily weighted; the characters themselves carry the meaning that new
 * wordings share. So a Han character weighs 1.5 times its TF-IDF weight, known or not (in
 * coverage too). Measured on the shipped knowledge's held-out phrasings and development sets
 * against 1, 1.3, 2, 2.5 and 3 (docs/matching.md); text without Han characters is unchanged. */
#define HAN_CHAR_WEIGHT 1.5

void kf_vocab_freeze(kf_vocab *v)
{
    if (v->frozen)
        return;
    v->fw = kf_calloc(v->n ? v->n : 1, sizeof(*v->fw));
    if (v->fw) {
        for (size_t i = 0; i < v->n; i++) {
            const char *name = v->names.data + v->name_off[i];
            v->fw[i] = (kf_fw){(float)(log((1.0 + v->ndocs) / (1.0 + v->df[i])) + 1.0),
                               name[0] == 'H', (uint8_t)token_feature(name), v->asked[i]};
        }
        /* what only adding read (a frozen vocabulary takes no more documents): fw has it */
        kf_free(v->df);
        kf_free(v->stamp);
        kf_free(v->asked);
        v->df = v->stamp = NULL;
        v->asked = NULL;
    }
    v->frozen = 1;
    words_freeze(v);
}

typedef struct vec_ctx {
    const kf_vocab *v;
    uint32_t *ids;
    size_t n, cap;
    uint64_t *unk; /* features not in the vocabulary: hash << 1 | 1 for a Han character */
    size_t nunk, unkcap;
    int err;
} vec_ctx;

static int vec_emit(void *ud, const char *f, size_t n)
{
    vec_ctx *x = ud;
    uint32_t h = hash_bytes(f, n);
    size_t slot;
    long id = lookup(x->v, f, n, h, &slot);
    if (id < 0) {
        if (!token_feature(f))
            return 0;
        if (kf_grow(&x->unk, &x->unkcap, x->nunk + 1, sizeof(*x->unk)))
            return x->err = KF_ENOMEM;
        x->unk[x->nunk++] = (uint64_t)h << 1 | (f[0] == 'H');
        return 0;
    }
    if (kf_grow(&x->ids, &x->cap, x->n + 1, sizeof(*x->ids)))
        return x->err = KF_ENOMEM;
    x->ids[x->n++] = (uint32_t)id;
    if (!x->v->fw[id].asked && token_feature(f)) {
        /* known from answers only: it scores, but no question has used it */
        if (kf_grow(&x->unk, &x->unkcap, x->nunk + 1, sizeof(*x->unk)))
            return x->err = KF_ENOMEM;
        x->unk[x->nunk++] = (uint64_t)h << 1 | (f[0] == 'H');
    }
    return 0;
}

/* A known word's grams from the memo: all in the vocabulary, none a whole token, so only
 * their ids count (vec_emit would add nothing else for them). */
static int vec_word(void *ud, const char *w, size_t n)
{
    vec_ctx *x = ud;
    const kf_vocab *v = x->v;
    size_t slot;
    long k;
    if (!v->use_memo || !v->nwslots || (k = word_find(v, w, n, hash_bytes(w, n), &slot)) < 0)
        return 0;
    const kf_wgrams *g = &v->words[k];
    if (kf_grow(&x->ids, &x->cap, x->n + g->n_ids, sizeof(*x->ids)))
        return x->err = KF_ENOMEM;
    if (g->n_ids)
        memcpy(x->ids + x->n, v->gram_ids + g->ids_off, g->n_ids * sizeof(*x->ids));
    x->n += g->n_ids;
    return 1;
}

/* The ids of a question's features are about a hundred; sorting them with qsort (a call per
 * comparison) was 4 % of the server's time. A radix sort, least significant byte first, skips
 * a pass where every id has the same byte (ids below 65,536 need two). */
void kf_feat_sort_ids(uint32_t *a, uint32_t *tmp, size_t n)
{
    uint32_t *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((src[i] >> shift) & 255) + 1]++;
        if (count[((src[0] >> shift) & 255) + 1] == n)
            continue;
        for (size_t b = 1; b < 257; b++)
            count[b] += count[b - 1];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int kf_vocab_vector(const kf_vocab *v, kf_analyzer *a, const char *text, size_t len,
                    kf_fvec *out, kf_buf *norm, kf_buf *tokens)
{
    collect c = {0};
    kf_buf nbuf;
    vec_ctx x = {v, NULL, 0, 0, NULL, 0, 0, 0};
    int rc;

    out->n = 0;
    out->coverage = 0;
    if (!v->frozen || !v->fw)
        return KF_EINVAL;
    kf_buf_init(&nbuf);
    kf_buf_init(&c.arena);
    /* room for a usual question at once (growing from 8 took five reallocations each) */
    if (kf_grow(&c.v, &c.cap, 32, sizeof(*c.v)) || kf_buf_reserve(&c.arena, len) ||
        kf_grow(&x.ids, &x.cap, 128, sizeof(*x.ids))) {
        rc = KF_ENOMEM;
        goto out;
    }
    rc = analyze_collect(a, text, len, norm ? norm : &nbuf, &c);
    if (rc)
        goto out;
    const char *nt = norm ? norm->data : nbuf.data;
    if (tokens) {
        kf_buf_reset(tokens);
        for (size_t i = 0; i < c.n && rc == KF_OK; i++) {
            if (i)
                rc = kf_buf_putc(tokens, ' ');
            if (!rc)
                rc = kf_buf_append(tokens, c.arena.data + c.v[i].off, c.v[i].len);
        }
        if (rc)
            goto out;
    }
    rc = gen_features(&c, nt ? nt : "", vec_emit, vec_word, &x);
    if (!rc)
        rc = x.err;
    if (rc)
        goto out;
    if (x.n > 1) {
        uint32_t small[256];
        uint32_t *tmp = x.n <= 256 ? small : kf_malloc(x.n * sizeof(*tmp));
        if (!tmp) {
            rc = KF_ENOMEM;
            goto out;
        }
        kf_feat_sort_ids(x.ids, tmp, x.n);
        if (tmp != small)
            kf_free(tmp);
    }
    /* merge duplicates into (id, tf), weight (1 + ln tf) * idf, then L2-normalise */
    if (x.n > out->cap) {
        uint32_t *ni = kf_realloc(out->idx, x.n * sizeof(*ni));
        if (!ni) {
            rc = KF_ENOMEM;
            goto out;
        }
        out->idx = ni;
        float *nv = kf_realloc(out->val, x.n * sizeof(*nv));
        if (!nv) {
            rc = KF_ENOMEM;
            goto out;
        }
        out->val = nv;
        out->cap = x.n;
    }
    size_t m = 0;
    for (size_t i = 0; i < x.n;) {
        size_t j = i;
        while (j < x.n && x.ids[j] == x.ids[i])
            j++;
        const kf_fw *e = &v->fw[x.ids[i]];
        out->idx[m] = x.ids[i];
        /* 1 + ln 1 is exactly 1: no call for the usual count */
        out->val[m] = (float)((j - i > 1 ? 1.0 + log((double)(j - i)) : 1.0) * e->idf *
                              (e->han ? HAN_CHAR_WEIGHT : 1.0));
        m++;
        i = j;
    }
    double ss = 0, ss_tok = 0;
    for (size_t i = 0; i < m; i++) {
        double w2 = (double)out->val[i] * out->val[i];
        ss += w2;
        if (v->fw[out->idx[i]].asked && v->fw[out->idx[i]].tok)
            ss_tok += w2;
    }
    /* an unseen token weighs like one seen in no document (the largest idf), with the
     * same sublinear tf and kind weight as the others */
    double max_idf = log(1.0 + v->ndocs) + 1.0, unk = 0;
    if (x.nunk)
        qsort(x.unk, x.nunk, sizeof(*x.unk), cmp_u64);
    for (size_t i = 0; i < x.nunk;) {
        size_t j = i;
        while (j < x.nunk && x.unk[j] == x.unk[i])
            j++;
        double w = (1.0 + log((double)(j - i))) * max_idf;
        if (x.unk[i] & 1)
            w *= HAN_CHAR_WEIGHT;
        unk += w * w;
        i = j;
    }
    out->coverage = ss_tok + unk > 0 ? (float)(ss_tok / (ss_tok + unk)) : 0.0f;
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (size_t i = 0; i < m; i++)
            out->val[i] *= inv;
    }
    out->n = m;
out:
    kf_free(x.ids);
    kf_free(x.unk);
    collect_cleanup(&c);
    kf_buf_cleanup(&nbuf);
    return rc;
}
