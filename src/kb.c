/* SPDX-License-Identifier: MIT
 * The kf_kb container: entries in load order, the id index behind kf_kb_find, cross-file
 * validation (duplicate ids, prompt targets) and loading a directory all-or-nothing.
 * Parsing one file is kb_md.c's job; TSV import is kb_import.c's. */
#include "kefu/kb.h"

#include <stdint.h>
#include <string.h>

#include "kb_int.h"
#include "kefu/buf.h"
#include "kefu/mem.h"
#include "kefu/util.h"

/* Files larger than this are refused: a FAQ file is a few hundred KiB at most, and the limit
 * keeps a stray binary in kb/ from being read whole. */
#define KB_MAX_FILE (16u * 1024 * 1024)

/* Open addressing over entry indexes (+1, 0 = empty); built by kf_kb_finish. */
typedef struct kb_index {
    size_t *slots;
    size_t mask;
    size_t n_indexed; /* n_entries when built: a later append makes the index stale */
} kb_index;

/* ---- languages and ids ---------------------------------------------------- */

const char *kf_lang_name(kf_lang l)
{
    switch (l) {
    case KF_LANG_ZH: return "zh";
    case KF_LANG_EN: return "en";
    default: return "none";
    }
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Accepts "zh", "en" and region/script forms editors copy from elsewhere ("zh-CN",
 * "zh_Hans", "en-US"), case-insensitively. */
kf_lang kf_lang_parse(const char *s)
{
    static const char *const names[KF_LANG_COUNT] = {"zh", "en"};
    if (!s)
        return KF_LANG_NONE;
    for (int l = 0; l < KF_LANG_COUNT; l++) {
        const char *n = names[l];
        if (ascii_lower((unsigned char)s[0]) == n[0] && ascii_lower((unsigned char)s[1]) == n[1] &&
            (s[2] == '\0' || s[2] == '-' || s[2] == '_'))
            return (kf_lang)l;
    }
    return KF_LANG_NONE;
}

static int is_han(uint32_t cp)
{
    return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F);
}

kf_lang kf_lang_detect(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (c < 0x80 || need == 0 || len - i <= need) {
            i++;
            continue;
        }
        uint32_t cp = c & (0x3F >> need);
        for (size_t k = 1; k <= need; k++)
            cp = (cp << 6) | (s[i + k] & 0x3F);
        if (is_han(cp))
            return KF_LANG_ZH;
        i += need + 1;
    }
    return KF_LANG_EN;
}

int kf_kb_id_valid(const char *s, size_t len)
{
    if (!s || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* ---- container ------------------------------------------------------------ */

static void index_free(kb_index *ix)
{
    if (!ix)
        return;
    kf_free(ix->slots);
    kf_free(ix);
}

kf_kb *kf_kb_new(void)
{
    return kf_calloc(1, sizeof(kf_kb));
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kf_free(v[i]);
    kf_free(v);
}

void kf_kb__version_cleanup(kf_version *v)
{
    kf_free(v->question);
    strv_free(v->alts, v->n_alts);
    kf_free(v->answer);
    for (size_t k = 0; k < v->n_prompts; k++) {
        kf_free(v->prompts[k].text);
        kf_free(v->prompts[k].target);
    }
    kf_free(v->prompts);
    memset(v, 0, sizeof(*v));
}

void kf_kb__entry_cleanup(kf_entry *e)
{
    if (!e)
        return;
    kf_free(e->id);
    kf_free(e->category);
    strv_free(e->tags, e->n_tags);
    strv_free(e->meta_keys, e->n_meta);
    strv_free(e->meta_vals, e->n_meta);
    for (size_t i = 0; i < e->n_versions; i++)
        kf_kb__version_cleanup(&e->versions[i]);
    kf_free(e->versions);
    kf_free(e->file);
    memset(e, 0, sizeof(*e));
}

void kf_kb_free(kf_kb *kb)
{
    if (!kb)
        return;
    for (size_t i = 0; i < kb->n_entries; i++)
        kf_kb__entry_cleanup(&kb->entries[i]);
    kf_free(kb->entries);
    index_free(kb->priv);
    kf_free(kb);
}

int kf_kb__add_entry(kf_kb *kb, kf_entry *e)
{
    if (kf_grow(&kb->entries, &kb->cap, kb->n_entries + 1, sizeof(*kb->entries))) {
        kf_kb__entry_cleanup(e);
        return KF_ENOMEM;
    }
    kb->entries[kb->n_entries++] = *e;
    memset(e, 0, sizeof(*e));
    return KF_OK;
}

const kf_version *kf_entry_version(const kf_entry *e, kf_lang lang)
{
    if (!e)
        return NULL;
    for (size_t i = 0; i < e->n_versions; i++)
        if (e->versions[i].lang == lang)
            return &e->versions[i];
    return NULL;
}

/* ---- id index ------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    return kf_hash64(s, strlen(s));
}

const kf_entry *kf_kb_find(const kf_kb *kb, const char *id)
{
    if (!kb || !id)
        return NULL;
    const kb_index *ix = kb->priv;
    if (ix && ix->n_indexed == kb->n_entries) {
        for (size_t i = hash_str(id) & ix->mask;; i = (i + 1) & ix->mask) {
            size_t k = ix->slots[i];
            if (k == 0)
                return NULL;
            if (strcmp(kb->entries[k - 1].id, id) == 0)
                return &kb->entries[k - 1];
        }
    }
    /* Before kf_kb_finish (or after an append): a scan, first definition wins as it does
     * in the index. */
    for (size_t i = 0; i < kb->n_entries; i++)
        if (strcmp(kb->entries[i].id, id) == 0)
            return &kb->entries[i];
    return NULL;
}

/* Builds a fresh index, reporting every id already present. */
static int build_index(kf_kb *kb, kf_diag *d, int *errors)
{
    kb_index *ix = NULL;
    size_t size = 16;
    int rc = KF_ENOMEM;

    while (size < kb->n_entries * 2 + 1)
        size *= 2;
    ix = kf_calloc(1, sizeof(*ix));
    if (!ix)
        goto fail;
    ix->slots = kf_calloc(size, sizeof(*ix->slots));
    if (!ix->slots)
        goto fail;
    ix->mask = size - 1;
    for (size_t n = 0; n < kb->n_entries; n++) {
        const kf_entry *e = &kb->entries[n];
        size_t i = hash_str(e->id) & ix->mask;
        for (; ix->slots[i]; i = (i + 1) & ix->mask) {
            const kf_entry *f = &kb->entries[ix->slots[i] - 1];
            if (strcmp(f->id, e->id) == 0)
                break;
        }
        if (ix->slots[i]) {
            const kf_entry *f = &kb->entries[ix->slots[i] - 1];
            kf_diag_add(d, e->file, e->line, "duplicate id '%s' (first defined at %s:%d)", e->id,
                        f->file, f->line);
            (*errors)++;
            continue;
        }
        ix->slots[i] = n + 1;
    }
    ix->n_indexed = kb->n_entries;
    index_free(kb->priv);
    kb->priv = ix;
    return KF_OK;
fail:
    index_free(ix);
    return rc;
}

/* "#?question" targets: the official .qna convention lets editors write the question with
 * '-' for spaces (so the link renders), and ASCII case may differ. */
static int loose_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = *a == '-' ? ' ' : ascii_lower((unsigned char)*a);
        int cb = *b == '-' ? ' ' : ascii_lower((unsigned char)*b);
        if (ca != cb)
            return 0;
        if (!ca)
            return 1;
    }
}

static const kf_entry *find_by_question(const kf_kb *kb, const char *q)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < kb->n_entries; i++)
            for (size_t k = 0; k < kb->entries[i].n_versions; k++) {
                const char *mq = kb->entries[i].versions[k].question;
                if (pass == 0 ? strcmp(mq, q) == 0 : loose_eq(mq, q))
                    return &kb->entries[i];
            }
    return NULL;
}

int kf_kb_finish(kf_kb *kb, kf_diag *d)
{
    int errors = 0;
    int rc = build_index(kb, d, &errors);
    if (rc)
        return rc;
    for (size_t i = 0; i < kb->n_entries; i++) {
        kf_entry *e = &kb->entries[i];
        for (size_t v = 0; v < e->n_versions; v++) {
            kf_version *ver = &e->versions[v];
            for (size_t p = 0; p < ver->n_prompts; p++) {
                kf_prompt *pr = &ver->prompts[p];
                /* kb_md.c keeps question targets as "?question": '?' is never in an id. */
                if (pr->target[0] == '?') {
                    const kf_entry *t = find_by_question(kb, pr->target + 1);
                    if (!t) {
                        kf_diag_add(d, e->file, pr->line, "unknown prompt target '#%s'",
                                    pr->target);
                        errors++;
                        continue;
                    }
                    if (t->out_of_scope) {
                        kf_diag_add(d, e->file, pr->line,
                                    "prompt target '#%s' is out of scope (decision = fallback)",
                                    pr->target);
                        errors++;
                        continue;
                    }
                    char *id = kf_strdup(t->id);
                    if (!id)
                        return KF_ENOMEM;
                    kf_free(pr->target);
                    pr->target = id;
                } else {
                    const kf_entry *t = kf_kb_find(kb, pr->target);
                    if (!t) {
                        kf_diag_add(d, e->file, pr->line, "unknown prompt target '#%s'",
                                    pr->target);
                        errors++;
                    } else if (t->out_of_scope) {
                        kf_diag_add(d, e->file, pr->line,
                                    "prompt target '#%s' is out of scope (decision = fallback)",
                                    pr->target);
                        errors++;
                    }
                }
            }
        }
    }
    return errors ? KF_EPARSE : KF_OK;
}

static int parse_into_kb(void *kb, const char *file, const char *text, size_t len, kf_diag *d)
{
    return kf_kb_parse(kb, file, text, len, d);
}

kf_kb *kf_kb_load_dir(const char *dir, kf_diag *d)
{
    static const char *const suffixes[] = {".md", ".qna", NULL};
    size_t before = d->n;
    int before_oom = d->oom;
    kf_kb *kb = kf_kb_new();

    if (!kb) {
        kf_diag_add(d, dir, 0, "%s", kf_strerror(KF_ENOMEM));
        return NULL;
    }
    int rc = kf_parse_dir(dir, suffixes, KB_MAX_FILE, 0, parse_into_kb, kb, d);
    if (rc == KF_OK || rc == KF_EPARSE) {
        rc = kf_kb_finish(kb, d);
        if (rc == KF_ENOMEM)
            kf_diag_add(d, dir, 0, "%s", kf_strerror(rc));
    }
    /* All or nothing: any message from this load (even one that did not stop parsing)
     * means the caller keeps its previous knowledge. */
    if (d->n != before || d->oom != before_oom) {
        kf_kb_free(kb);
        return NULL;
    }
    return kb;
}
