/* SPDX-License-Identifier: MIT
 * The matcher (see engine.h). A snapshot is built in two stages so that the first answer
 * comes quickly: loading parses and validates every file and fills the FTS5 index, after
 * which retrieval (BM25) answers; the learned layer (feature vocabulary + linear model) is
 * then built off the caller's thread and published with an atomic pointer. The trainer
 * holds its own reference, so dropping a snapshot never waits for training. */
#include "kefu/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/feat.h"
#include "kefu/index.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/model.h"
#include "kefu/text.h"
#include "kefu/util.h"

#include "engine_int.h"

const char *kf_decision_name(kf_decision d)
{
    switch (d) {
    case KF_DECISION_ANSWER: return "answer";
    case KF_DECISION_CLARIFY: return "clarify";
    case KF_DECISION_FALLBACK: return "fallback";
    case KF_DECISION_HANDOFF: return "handoff";
    case KF_DECISION_REPLY: return "reply";
    }
    return "unknown";
}

void kf_engine_config_defaults(kf_engine_config *c)
{
    memset(c, 0, sizeof(*c));
    c->kb_dir = "kb";
    c->intents_dir = "intents";
    c->answer_min = 0.10;
    c->margin_min = 0.05;
    c->clarify_min = 0.10;
    c->learned = 1;
    c->limits.match_limit = 100000;
    c->limits.depth_limit = 1000;
}

/* ---- analyzer pool ------------------------------------------------------------- */

kf_analyzer *kf__engine_pool_take(kf_engine *e)
{
    kf_analyzer *a = NULL;
    pthread_mutex_lock(&e->pool_lock);
    if (e->pool_n)
        a = e->pool[--e->pool_n];
    pthread_mutex_unlock(&e->pool_lock);
    if (!a)
        a = kf_analyzer_new(e->syn, NULL);
    return a;
}

void kf__engine_pool_give(kf_engine *e, kf_analyzer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&e->pool_lock);
    if (kf_grow(&e->pool, &e->pool_cap, e->pool_n + 1, sizeof(*e->pool)) == KF_OK) {
        e->pool[e->pool_n++] = a;
        a = NULL;
    }
    pthread_mutex_unlock(&e->pool_lock);
    kf_analyzer_free(a);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void learned_free(learned *l)
{
    if (!l)
        return;
    kf_vocab_free(l->vocab);
    kf_model_free(l->model);
    kf_free(l);
}

static void engine_destroy(kf_engine *e)
{
    learned_free(atomic_load(&e->lrn));
    kf_index_free(e->index);
    for (size_t i = 0; i < e->pool_n; i++)
        kf_analyzer_free(e->pool[i]);
    kf_free(e->pool);
    kf_free(e->phr_text);
    kf_free(e->phr_entry);
    kf_cases_cleanup(&e->cases);
    kf_rules_free(e->rules);
    kf_kb_free(e->kb);
    kf_syn_free(e->syn);
    kf_free(e->kb_dir);
    kf_free(e->intents_dir);
    kf_free(e->cache_dir);
    pthread_mutex_destroy(&e->pool_lock);
    pthread_mutex_destroy(&e->lrn_lock);
    pthread_cond_destroy(&e->lrn_cond);
    kf_free(e);
}

kf_engine *kf_engine_ref(kf_engine *e)
{
    if (e)
        atomic_fetch_add(&e->refs, 1);
    return e;
}

void kf_engine_unref(kf_engine *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        engine_destroy(e);
}

const kf_kb *kf_engine_kb(const kf_engine *e)
{
    return e->kb;
}

const kf_rules *kf_engine_rules(const kf_engine *e)
{
    return e->rules;
}

const kf_cases *kf_engine_cases(const kf_engine *e)
{
    return &e->cases;
}

const char *kf_engine_hash(const kf_engine *e)
{
    return e->hash;
}

int kf_engine_learned_cached(const kf_engine *e)
{
    learned *l = atomic_load(&((kf_engine *)e)->lrn);
    return l && l->cached;
}

int kf_engine_learned_ready(const kf_engine *e)
{
    return atomic_load(&((kf_engine *)e)->lrn) != NULL;
}

void kf_engine_wait_learned(kf_engine *e)
{
    pthread_mutex_lock(&e->lrn_lock);
    while (e->lrn_state == 1)
        pthread_cond_wait(&e->lrn_cond, &e->lrn_lock);
    pthread_mutex_unlock(&e->lrn_lock);
}

static kf_engine *engine_alloc(const kf_engine_config *cfg)
{
    kf_engine *e = kf_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    atomic_init(&e->refs, 1);
    atomic_init(&e->lrn, NULL);
    pthread_mutex_init(&e->pool_lock, NULL);
    pthread_mutex_init(&e->lrn_lock, NULL);
    pthread_cond_init(&e->lrn_cond, NULL);
    kf_cases_init(&e->cases);
    if (cfg)
        e->cfg = *cfg;
    else
        kf_engine_config_defaults(&e->cfg);
    e->kb_dir = kf_strdup(e->cfg.kb_dir ? e->cfg.kb_dir : "kb");
    e->intents_dir = kf_strdup(e->cfg.intents_dir ? e->cfg.intents_dir : "intents");
    e->cache_dir = e->cfg.cache_dir ? kf_strdup(e->cfg.cache_dir) : NULL;
    if (!e->kb_dir || !e->intents_dir || (e->cfg.cache_dir && !e->cache_dir)) {
        engine_destroy(e);
        return NULL;
    }
    e->cfg.kb_dir = e->kb_dir;
    e->cfg.intents_dir = e->intents_dir;
    e->cfg.cache_dir = e->cache_dir;
    return e;
}

/* FNV-1a over the names and contents of the knowledge files: the snapshot's identity. */
static void hash_update(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= s[i];
        *h *= 1099511628211ull;
    }
}

static void hash_dir(uint64_t *h, const char *dir)
{
    static const char *const sfx[] = {".md", ".qna", ".txt", ".rules", ".test", NULL};
    char **files = NULL;
    size_t n = 0;
    if (kf_list_dir(dir, sfx, &files, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t len = 0;
        const char *base = strrchr(files[i], '/');
        base = base ? base + 1 : files[i];
        hash_update(h, base, strlen(base) + 1);
        if (kf_read_file(files[i], 64u << 20, &data, &len) == KF_OK)
            hash_update(h, data, len);
        kf_free(data);
    }
    kf_strv_free(files, n);
}

/* Fills the phrasing table and the FTS5 index from the kb. */
static int build_index(kf_engine *e)
{
    int rc;
    size_t n = 0;
    for (size_t i = 0; i < e->kb->n_entries; i++)
        for (size_t v = 0; v < e->kb->entries[i].n_versions; v++)
            n += 1 + e->kb->entries[i].versions[v].n_alts;
    e->phr_text = kf_calloc(n ? n : 1, sizeof(*e->phr_text));
    e->phr_entry = kf_calloc(n ? n : 1, sizeof(*e->phr_entry));
    if (!e->phr_text || !e->phr_entry)
        return KF_ENOMEM;
    for (size_t i = 0; i < e->kb->n_entries; i++) {
        const kf_entry *en = &e->kb->entries[i];
        for (size_t v = 0; v < en->n_versions; v++) {
            const kf_version *ver = &en->versions[v];
            e->phr_entry[e->n_phr] = (uint32_t)i;
            e->phr_text[e->n_phr++] = ver->question;
            for (size_t k = 0; k < ver->n_alts; k++) {
                e->phr_entry[e->n_phr] = (uint32_t)i;
                e->phr_text[e->n_phr++] = ver->alts[k];
            }
        }
    }
    e->index = kf_index_new(e->syn, &rc);
    if (!e->index)
        return rc;
    if ((rc = kf_index_begin(e->index)))
        return rc;
    for (size_t p = 0; p < e->n_phr; p++)
        if ((rc = kf_index_add(e->index, KF_INDEX_PHRASINGS, (int64_t)p, e->phr_text[p])))
            return rc;
    /* answers (and questions) of every version, for agents' knowledge search */
    for (size_t i = 0; i < e->kb->n_entries; i++) {
        const kf_entry *en = &e->kb->entries[i];
        for (size_t v = 0; v < en->n_versions; v++) {
            kf_buf b;
            kf_buf_init(&b);
            rc = kf_buf_printf(&b, "%s\n%s", en->versions[v].question, en->versions[v].answer);
            if (!rc)
                rc = kf_index_add(e->index, KF_INDEX_ANSWERS,
                                  (int64_t)(i * KF_LANG_COUNT + en->versions[v].lang), b.data);
            kf_buf_cleanup(&b);
            if (rc)
                return rc;
        }
    }
    return kf_index_commit(e->index);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Where "none" sits. A linear model trained on a few phrasings per entry scores new
 * wordings of a question far lower than one trained on a hundred, so a fixed zero would
 * refuse good questions in a small knowledge base and accept noise in a large one. We
 * measure it instead: every fourth phrasing of each entry is held out, a model is trained on
 * the rest, and "none" is put at the CALIB_QUANTILE of the scores that the held-out
 * phrasings give their own entry when it wins. So a held-out phrasing typically gets a
 * confidence near 0.5 or more, and text unlike any phrasing falls below. Deterministic:
 * the split depends only on the order of the phrasings. rows[e->n_phr..n) are the answers
 * (see answer_rows()): always trained on, never held out. */
static int calibrate(kf_engine *e, learned *l, const kf_fvec *rows, const int *labels, size_t n)
{
    size_t ne = e->kb->n_entries, ntr = 0, nho = 0, nsc = 0;
    kf_fvec *tr = NULL;
    int *trl = NULL;
    uint32_t *seen = NULL;
    uint8_t *held = NULL;
    double *sc = NULL;
    float *raw = NULL;
    kf_model *m = NULL;
    int rc = KF_ENOMEM;

    l->none = 0;
    if (ne < 2)
        return KF_OK;
    tr = kf_calloc(n, sizeof(*tr));
    trl = kf_calloc(n, sizeof(*trl));
    seen = kf_calloc(ne, sizeof(*seen));
    sc = kf_calloc(n, sizeof(*sc));
    raw = kf_calloc(ne, sizeof(*raw));
    held = kf_calloc(n, 1);
    if (!tr || !trl || !seen || !sc || !raw || !held)
        goto out;
    for (size_t p = 0; p < n; p++) {
        uint32_t k = p < e->n_phr ? seen[labels[p]]++ : 0;
        if (k % 4 == 3) {
            held[p] = 1;
            nho++;
        } else {
            tr[ntr] = rows[p];
            trl[ntr++] = labels[p];
        }
    }
    if (nho == 0) {
        rc = KF_OK;
        goto out;
    }
    m = kf_model_train(tr, trl, ntr, kf_vocab_size(l->vocab), ne, SVM_C, &rc);
    if (!m)
        goto out;
    for (size_t p = 0; p < n; p++) {
        if (!held[p] || rows[p].n == 0)
            continue;
        kf_model_scores(m, &rows[p], raw);
        size_t best = 0;
        for (size_t c = 1; c < ne; c++)
            if (raw[c] > raw[best])
                best = c;
        /* an out-of-scope entry gathers unlike questions on purpose (weather, jobs, sums):
         * its phrasings score their own entry low and would pull "none" down for all */
        if ((int)best == labels[p] && !e->kb->entries[best].out_of_scope)
            sc[nsc++] = raw[best];
    }
    if (nsc) {
        qsort(sc, nsc, sizeof(*sc), cmp_dbl);
        l->none = sc[(size_t)((double)(nsc - 1) * CALIB_QUANTILE)];
    }
    l->n_calib = nsc;
    rc = KF_OK;
out:
    kf_model_free(m);
    kf_free(tr);
    kf_free(trl);
    kf_free(seen);
    kf_free(held);
    kf_free(sc);
    kf_free(raw);
    return rc;
}

/* The answers of a knowledge base are training text too: one row per version, labelled
 * with its entry. They name what the phrasings leave out (the answer to "维修要多少钱" talks
 * about 费用 and 收费; the one to "how do I get a replacement" about exchanges), so a question
 * worded unlike every phrasing can still land on the entry whose answer it asks for.
 * Knowledge made from labelled lines (kf_engine_from_tsv) has labels, not answers, and none
 * of this. Returns the number of versions with an answer; with out, fills out (borrowed
 * texts) and labels. */
static size_t answer_rows(const kf_engine *e, const char **out, int *labels)
{
    size_t n = 0;
    if (e->no_answer_rows)
        return 0;
    for (size_t i = 0; i < e->kb->n_entries; i++) {
        const kf_entry *en = &e->kb->entries[i];
        /* the answer of an out-of-scope entry names what the shop does handle ("ask us
         * about orders, returns, repairs"): as training text it would pull exactly those
         * questions away */
        if (en->out_of_scope)
            continue;
        for (size_t v = 0; v < en->n_versions; v++) {
            if (!en->versions[v].answer || !en->versions[v].answer[0])
                continue;
            if (out) {
                out[n] = en->versions[v].answer;
                labels[n] = (int)i;
            }
            n++;
        }
    }
    return n;
}

/* Builds the vocabulary and trains the model. Runs on the trainer thread or inline. */
static learned *build_learned(kf_engine *e, int *err)
{
    learned *l = NULL;
    kf_fvec *rows = NULL;
    int *labels = NULL;
    kf_analyzer *a = NULL;
    const char **text = NULL;
    int rc = KF_ENOMEM;

    /* rows: the phrasings, then the answers */
    size_t n_ans = answer_rows(e, NULL, NULL), n = e->n_phr + n_ans;
    l = kf_calloc(1, sizeof(*l));
    rows = kf_calloc(n ? n : 1, sizeof(*rows));
    labels = kf_calloc(n ? n : 1, sizeof(*labels));
    text = kf_calloc(n ? n : 1, sizeof(*text));
    a = kf_analyzer_new(e->syn, NULL);
    if (!l || !rows || !labels || !text || !a || !(l->vocab = kf_vocab_new()))
        goto fail;
    for (size_t p = 0; p < e->n_phr; p++) {
        text[p] = e->phr_text[p];
        labels[p] = (int)e->phr_entry[p];
    }
    answer_rows(e, text + e->n_phr, labels + e->n_phr);
    for (size_t p = 0; p < n; p++) {
        rc = p < e->n_phr ? kf_vocab_add_doc(l->vocab, a, text[p], strlen(text[p]))
                          : kf_vocab_add_ref(l->vocab, a, text[p], strlen(text[p]));
        if (rc && rc != KF_EUTF8)
            goto fail;
    }
    kf_vocab_freeze(l->vocab);
    /* The vocabulary is rebuilt every time (it is cheap); the trained weights and the
     * calibration come from the cache when the knowledge files hash the same and the
     * dimensions agree. */
    char cpath[4096] = "";
    if (e->cache_dir && e->hash[0] && strcmp(e->hash, "tsv") != 0)
        snprintf(cpath, sizeof(cpath), "%s/kefu-%s-%zu-%zu.model", e->cache_dir, e->hash,
                 kf_vocab_size(l->vocab), e->kb->n_entries);
    if (cpath[0]) {
        l->model = kf_model_load(cpath, kf_vocab_size(l->vocab), e->kb->n_entries, &l->none, NULL);
        l->cached = l->model != NULL;
    }
    if (!l->model) {
        for (size_t p = 0; p < n; p++) {
            if ((rc = kf_vocab_vector(l->vocab, a, text[p], strlen(text[p]), &rows[p], NULL,
                                      NULL)) &&
                rc != KF_EUTF8)
                goto fail;
        }
        if ((rc = calibrate(e, l, rows, labels, n)))
            goto fail;
        l->model = kf_model_train(rows, labels, n, kf_vocab_size(l->vocab), e->kb->n_entries,
                                  SVM_C, &rc);
        if (!l->model)
            goto fail;
        if (cpath[0] && (rc = kf_model_save(l->model, l->none, cpath)))
            kf_log(KF_LOG_WARN, "cannot cache the model in %s: %s", e->cache_dir,
                   kf_strerror(rc));
    }
    rc = KF_OK;
fail:
    if (rows)
        for (size_t p = 0; p < n; p++)
            kf_fvec_cleanup(&rows[p]);
    kf_free(rows);
    kf_free(labels);
    kf_free(text);
    kf_analyzer_free(a);
    if (rc) {
        learned_free(l);
        l = NULL;
        if (err)
            *err = rc;
    }
    return l;
}

static void publish_learned(kf_engine *e, learned *l, uint64_t t0)
{
    pthread_mutex_lock(&e->lrn_lock);
    if (l) {
        atomic_store(&e->lrn, l);
        e->lrn_state = 2;
    } else {
        e->lrn_state = -1;
    }
    e->lrn_ns = kf_now_ns() - t0;
    pthread_cond_broadcast(&e->lrn_cond);
    pthread_mutex_unlock(&e->lrn_lock);
}

static void *trainer_main(void *arg)
{
    kf_engine *e = arg;
    uint64_t t0 = kf_now_ns();
    int rc = KF_OK;
    learned *l = build_learned(e, &rc);
    if (!l)
        kf_log(KF_LOG_ERR, "learned layer failed: %s; retrieval keeps answering",
               kf_strerror(rc));
    publish_learned(e, l, t0);
    if (l)
        kf_log(KF_LOG_DEBUG, "learned layer ready in %.2f s", (double)e->lrn_ns / 1e9);
    kf_engine_unref(e);
    return NULL;
}

static int start_learned(kf_engine *e)
{
    if (e->cfg.learned == 0 || e->kb->n_entries == 0)
        return KF_OK;
    e->lrn_state = 1;
    if (e->cfg.learned == 2) {
        uint64_t t0 = kf_now_ns();
        int rc = KF_OK;
        learned *l = build_learned(e, &rc);
        publish_learned(e, l, t0);
        return l ? KF_OK : rc;
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    kf_engine_ref(e);
    if (pthread_create(&th, &at, trainer_main, e) != 0) {
        pthread_attr_destroy(&at);
        kf_engine_unref(e);
        publish_learned(e, NULL, kf_now_ns());
        return KF_OK; /* retrieval still answers */
    }
    pthread_attr_destroy(&at);
    return KF_OK;
}

static int finish_load(kf_engine *e, kf_diag *d)
{
    int rc;
    /* every expected outcome must name something that exists */
    for (size_t i = 0; i < e->cases.n; i++) {
        const kf_case *c = &e->cases.v[i];
        if (c->expect[0] != '@') {
            if (!kf_kb_find(e->kb, c->expect))
                kf_diag_add(d, c->file, c->line + 1, "unknown entry id '%s'", c->expect);
        } else if (strncmp(c->expect, "@reply:", 7) == 0) {
            int found = 0;
            for (size_t k = 0; e->rules && k < kf_rules_count(e->rules); k++)
                found |= strcmp(kf_rules_get(e->rules, k)->name, c->expect + 7) == 0;
            if (!found)
                kf_diag_add(d, c->file, c->line + 1, "unknown rule '%s'", c->expect + 7);
        }
    }
    if (kf_diag_count(d))
        return KF_EPARSE;
    if ((rc = build_index(e))) {
        kf_diag_add(d, NULL, 0, "building the index failed: %s", kf_strerror(rc));
        return rc;
    }
    if ((rc = start_learned(e))) {
        kf_diag_add(d, NULL, 0, "building the learned layer failed: %s", kf_strerror(rc));
        return rc;
    }
    return KF_OK;
}

static char *path_join(const char *dir, const char *name)
{
    kf_buf b;
    kf_buf_init(&b);
    if (kf_buf_printf(&b, "%s/%s", dir, name)) {
        kf_buf_cleanup(&b);
        return NULL;
    }
    return kf_buf_take(&b);
}

kf_engine *kf_engine_load(const kf_engine_config *cfg, kf_diag *d)
{
    kf_engine *e = engine_alloc(cfg);
    kf_norm *norm = NULL;
    char *synpath = NULL, *text = NULL;
    size_t len = 0;
    int rc;

    if (!e) {
        kf_diag_add(d, NULL, 0, "out of memory");
        return NULL;
    }
    size_t before = kf_diag_count(d);
    e->syn = kf_syn_new();
    norm = kf_norm_new(&rc);
    synpath = path_join(e->kb_dir, "synonyms.txt");
    if (!e->syn || !norm || !synpath) {
        kf_diag_add(d, NULL, 0, "cannot initialise text processing");
        goto fail;
    }
    rc = kf_read_file(synpath, 16u << 20, &text, &len);
    if (rc == KF_OK)
        kf_syn_parse(e->syn, norm, synpath, text, len, d);
    else if (rc != KF_ENOTFOUND)
        kf_diag_add(d, synpath, 0, "cannot read: %s", kf_strerror(rc));
    /* rules load even when the kb failed, so that one run reports every error; their
     * `answer` targets are then not checked (kb NULL) */
    e->kb = kf_kb_load_dir(e->kb_dir, d);
    e->rules = kf_rules_load_dir(e->intents_dir, e->kb, &e->cfg.limits, d);
    kf_cases_load_dir(&e->cases, e->kb_dir, d);
    kf_cases_load_dir(&e->cases, e->intents_dir, d);
    if (kf_diag_count(d) > before || !e->kb || !e->rules)
        goto fail;
    uint64_t h = 1469598103934665603ull;
    hash_dir(&h, e->kb_dir);
    hash_dir(&h, e->intents_dir);
    snprintf(e->hash, sizeof(e->hash), "%016llx", (unsigned long long)h);
    if (finish_load(e, d))
        goto fail;
    kf_free(text);
    kf_free(synpath);
    kf_norm_free(norm);
    return e;
fail:
    if (kf_diag_count(d) == before)
        kf_diag_add(d, NULL, 0, "loading the knowledge failed");
    kf_free(text);
    kf_free(synpath);
    kf_norm_free(norm);
    kf_engine_unref(e);
    return NULL;
}

/* Turns labelled lines into kb Markdown (one entry per label, the label as its id and its
 * answer) and parses that: the labelled sets go through exactly the same loader as kb/. */
kf_engine *kf_engine_from_tsv(const kf_engine_config *cfg, const char *file, const char *text,
                              size_t len, kf_diag *d)
{
    kf_engine *e = engine_alloc(cfg);
    kf_buf md;
    char **labels = NULL;
    kf_buf *groups = NULL;
    size_t nl = 0, cap = 0, gcap = 0;
    int line = 0;

    kf_buf_init(&md);
    if (!e)
        goto oom;
    size_t before = kf_diag_count(d);
    if (!kf_utf8_valid(text, len, NULL)) {
        kf_diag_add(d, file, 0, "invalid UTF-8");
        goto fail;
    }
    size_t off = kf_skip_bom(text, len), ll;
    const char *s;
    while (kf_next_line(text, len, &off, &s, &ll)) {
        line++;
        while (ll && s[ll - 1] == ' ')
            ll--;
        if (!ll)
            continue;
        const char *tab = memchr(s, '\t', ll);
        if (!tab) {
            kf_diag_add(d, file, line, "expected text<TAB>label");
            continue;
        }
        size_t ql = (size_t)(tab - s);
        const char *lab = tab + 1;
        size_t labl = ll - ql - 1;
        if (labl == 3 && memcmp(lab, "oos", 3) == 0)
            continue; /* out-of-scope examples are not an entry */
        size_t g = 0;
        while (g < nl && !(strlen(labels[g]) == labl && memcmp(labels[g], lab, labl) == 0))
            g++;
        if (g == nl) {
            size_t c2 = gcap;
            if (kf_grow(&labels, &cap, nl + 1, sizeof(*labels)) ||
                kf_grow(&groups, &c2, nl + 1, sizeof(*groups)))
                goto oom;
            gcap = c2;
            if (!(labels[nl] = kf_strndup(lab, labl)))
                goto oom;
            kf_buf_init(&groups[nl]);
            nl++;
        }
        /* one phrasing per line; '#', '-' or '>' at the start would mean Markdown */
        if (kf_buf_puts(&groups[g], groups[g].len ? "- " : "# ? ") ||
            kf_buf_append(&groups[g], s, ql) || kf_buf_putc(&groups[g], '\n'))
            goto oom;
    }
    /* the label is the answer; the id is the label with characters that ids do not allow
     * replaced (and the group number appended then, to stay unique) */
    for (size_t g = 0; g < nl; g++) {
        kf_buf id;
        kf_buf_init(&id);
        int changed = 0;
        for (const char *c = labels[g]; *c; c++) {
            int ok = kf_kb_id_valid(c, 1);
            changed |= !ok;
            if (kf_buf_putc(&id, ok ? *c : '_')) {
                kf_buf_cleanup(&id);
                goto oom;
            }
        }
        if ((changed && kf_buf_printf(&id, ".%zu", g)) ||
            kf_buf_printf(&md, "<a id = \"%s\"></a>\n%s\n```\n%s\n```\n\n",
                          id.data ? id.data : "", groups[g].data, labels[g])) {
            kf_buf_cleanup(&id);
            goto oom;
        }
        kf_buf_cleanup(&id);
    }
    if (kf_diag_count(d) > before)
        goto fail;
    if (!(e->syn = kf_syn_new()) || !(e->kb = kf_kb_new()) ||
        !(e->rules = kf_rules_new(&e->cfg.limits)))
        goto oom;
    kf_kb_parse(e->kb, file, md.data ? md.data : "", md.len, d);
    kf_kb_finish(e->kb, d);
    kf_rules_finish(e->rules, e->kb, d);
    if (kf_diag_count(d) > before)
        goto fail;
    snprintf(e->hash, sizeof(e->hash), "tsv");
    e->no_answer_rows = 1; /* the answers are the labels */
    if (finish_load(e, d))
        goto fail;
    goto done;
oom:
    kf_diag_add(d, file, 0, "out of memory");
fail:
    kf_engine_unref(e);
    e = NULL;
done:
    for (size_t g = 0; g < nl; g++) {
        kf_free(labels[g]);
        kf_buf_cleanup(&groups[g]);
    }
    kf_free(labels);
    kf_free(groups);
    kf_buf_cleanup(&md);
    return e;
}
