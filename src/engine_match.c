/* SPDX-License-Identifier: MIT
 * Matching one question against a snapshot (see engine.h): rules, then scoring (the learned
 * layer when ready, BM25 retrieval otherwise), then the decision. Also knowledge search and
 * the runner of the expected-outcome tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/util.h"

/* Cuts text to at most max bytes at a code point boundary. */
static size_t clip_utf8(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

typedef struct scored {
    uint32_t entry;
    double score;
    double bm25;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* Terms of the FTS5 query from the analyzed text: each Han bigram, each lone Han
 * character, each word and number as written (FTS5 re-tokenizes, so the stem is applied
 * again there), each one quoted by kf_index_build_query. */
typedef struct qterms {
    const char **t;
    size_t *l;
    size_t n, cap, lcap;
    const char *text;
    int err;
} qterms;

static int qterm_add(qterms *q, const char *p, size_t n)
{
    size_t lc = q->lcap;
    if (kf_grow(&q->t, &q->cap, q->n + 1, sizeof(*q->t)) ||
        kf_grow(&q->l, &lc, q->n + 1, sizeof(*q->l)))
        return q->err = KF_ENOMEM;
    q->lcap = lc;
    q->t[q->n] = p;
    q->l[q->n] = n;
    q->n++;
    return 0;
}

static int qterm_cb(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                    size_t end)
{
    qterms *q = ud;
    (void)tok;
    (void)len;
    /* Han unigrams are covered by the bigrams that contain them; a run of one character
     * is added by the caller */
    if (kind == KF_TOK_HAN1)
        return 0;
    return qterm_add(q, q->text + start, end - start);
}

static int tokens_to_text(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                          size_t end)
{
    kf_buf *b = ud;
    (void)kind;
    (void)start;
    (void)end;
    if (b->len && kf_buf_putc(b, ' '))
        return KF_ENOMEM;
    return kf_buf_append(b, tok, len);
}

/* Adds every one-character Han word of normalised text (a space-separated run of one
 * three-byte character) as a term. */
static int add_lone_han(qterms *q, const char *norm, size_t nlen)
{
    for (size_t i = 0; i < nlen;) {
        size_t j = i;
        while (j < nlen && norm[j] != ' ')
            j++;
        if (j - i == 3 && ((unsigned char)norm[i] & 0xF0) == 0xE0 && qterm_add(q, norm + i, 3))
            return KF_ENOMEM;
        i = j + 1;
    }
    return KF_OK;
}

/* Retrieval scores per entry: sum over the entry's best 3 phrasings of -bm25. */
static int retrieve(kf_engine *e, kf_analyzer *a, const char *norm, size_t nlen,
                    scored *out, size_t *nout)
{
    qterms q = {0};
    kf_buf query;
    kf_index_hit hits[RETRIEVE_MAX];
    int rc;

    *nout = 0;
    q.text = norm;
    kf_buf_init(&query);
    /* norm is already normalised: tokenise it directly (synonyms already applied) */
    rc = kf_tok_run(kf_analyzer_tok(a), norm, nlen, qterm_cb, &q);
    if (rc == KF_OK && q.err)
        rc = q.err;
    if (rc)
        goto out;
    if ((rc = add_lone_han(&q, norm, nlen)))
        goto out;
    if ((rc = kf_index_build_query(q.t, q.l, q.n, &query)))
        goto out;
    int n = kf_index_query(e->index, KF_INDEX_PHRASINGS, query.data, hits, RETRIEVE_MAX);
    if (n < 0) {
        rc = n;
        goto out;
    }
    /* hits are best first: keep at most 3 per entry */
    uint8_t *taken = kf_calloc(e->kb->n_entries ? e->kb->n_entries : 1, 1);
    if (!taken) {
        rc = KF_ENOMEM;
        goto out;
    }
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        if (hits[i].rowid < 0 || (size_t)hits[i].rowid >= e->n_phr)
            continue;
        uint32_t en = e->phr_entry[hits[i].rowid];
        if (taken[en] >= 3)
            continue;
        size_t k = 0;
        while (k < m && out[k].entry != en)
            k++;
        if (k == m) {
            out[m].entry = en;
            out[m].score = 0;
            out[m].bm25 = 0;
            m++;
        }
        out[k].bm25 += hits[i].score;
        taken[en]++;
    }
    kf_free(taken);
    for (size_t k = 0; k < m; k++)
        out[k].score = out[k].bm25;
    *nout = m;
out:
    kf_free(q.t);
    kf_free(q.l);
    kf_buf_cleanup(&query);
    return rc;
}

static const kf_version *pick_version(const kf_entry *en, kf_lang lang, int *fallback)
{
    const kf_version *v = kf_entry_version(en, lang);
    *fallback = 0;
    if (!v && en->n_versions) {
        v = &en->versions[0];
        *fallback = 1;
    }
    return v;
}

/* An out-of-scope entry (`decision = fallback`) is never offered as an option: a clarify
 * offers the run of in-scope entries at the top. When one close to the top is out of scope,
 * the question may be off-topic, so there is no choice to offer: an out-of-scope top
 * "answers" (turned into its fallback by kf_engine_match), an in-scope top with only an
 * out-of-scope rival falls back. */
static void decide(kf_engine *e, kf_match *m)
{
    const kf_engine_config *c = &e->cfg;
    double top = m->n_cand ? m->cand[0].score : 0;
    double second = m->n_cand > 1 ? m->cand[1].score : 0;
    int top_oos = m->n_cand && m->cand[0].entry->out_of_scope;
    m->confidence = top;
    if (m->n_cand && top >= c->answer_min && top - second >= c->margin_min) {
        m->decision = KF_DECISION_ANSWER;
        m->entry = m->cand[0].entry;
        return;
    }
    size_t k = 1;
    int rival_oos = 0;
    while (k < m->n_cand && k < 3 && m->cand[k].score >= c->clarify_min / 4) {
        if (m->cand[k].entry->out_of_scope) {
            rival_oos = 1;
            break;
        }
        k++;
    }
    if (m->n_cand && top >= c->clarify_min && top_oos) {
        m->decision = KF_DECISION_ANSWER;
        m->entry = m->cand[0].entry;
    } else if (m->n_cand && top >= c->clarify_min && !(k == 1 && rival_oos)) {
        m->decision = KF_DECISION_CLARIFY;
        m->n_options = k;
    } else {
        m->decision = KF_DECISION_FALLBACK;
        m->handoff_reason = NULL;
    }
}

/* Words the knowledge base has never seen lower the confidence: a question about stock
 * prices that shares one character with "invoice" is not about invoices, however the
 * linear scores rank the entries. */
static double cov_factor(float coverage)
{
    /* the exponent 1.5 was better than 1, 2 and 3 on the two development sets of the
     * shipped knowledge together, and equal on CLINC150 validation (docs/matching.md) */
    return pow(coverage, 1.5);
}

/* Fills m->cand from scores over all entries (learned) or retrieval results. */
static int score_question(kf_engine *e, kf_analyzer *a, const char *text, size_t len,
                          unsigned flags, kf_match *m)
{
    learned *l = atomic_load(&e->lrn);
    kf_buf norm, toks;
    kf_fvec x;
    scored *sc = NULL;
    float *raw = NULL;
    size_t n = 0, ne = e->kb->n_entries;
    int rc;

    kf_buf_init(&norm);
    kf_buf_init(&toks);
    kf_fvec_init(&x);
    sc = kf_calloc(ne > RETRIEVE_MAX ? ne : RETRIEVE_MAX, sizeof(*sc));
    if (!sc) {
        rc = KF_ENOMEM;
        goto out;
    }
    if (l) {
        rc = kf_vocab_vector(l->vocab, a, text, len, &x, &norm,
                             (flags & KF_MATCH_EXPLAIN) ? &toks : NULL);
        if (rc)
            goto out;
        if (!norm.len) {
            rc = KF_EEMPTY;
            goto out;
        }
        raw = kf_malloc((ne ? ne : 1) * sizeof(*raw));
        if (!raw) {
            rc = KF_ENOMEM;
            goto out;
        }
        if (x.n) {
            kf_model_scores(l->model, &x, raw);
            /* softmax with a "none" class: see TEMPERATURE */
            double none = l->none;
            double mx = none;
            for (size_t i = 0; i < ne; i++)
                if (raw[i] > mx)
                    mx = raw[i];
            double z = exp((none - mx) / TEMPERATURE);
            for (size_t i = 0; i < ne; i++)
                z += exp((raw[i] - mx) / TEMPERATURE);
            for (size_t i = 0; i < ne; i++) {
                sc[i].entry = (uint32_t)i;
                sc[i].score = exp((raw[i] - mx) / TEMPERATURE) / z * cov_factor(x.coverage);
                sc[i].bm25 = raw[i];
            }
            n = ne;
        }
    } else {
        kf_norm *nm = kf_analyzer_norm(a);
        if ((rc = kf_norm_text(nm, text, len, 0, &norm)))
            goto out;
        if (!norm.len) {
            rc = KF_EEMPTY;
            goto out;
        }
        if (e->syn && kf_syn_groups(e->syn)) {
            kf_buf sy;
            kf_buf_init(&sy);
            rc = kf_syn_apply(e->syn, norm.data, norm.len, &sy);
            if (!rc) {
                kf_buf_cleanup(&norm);
                norm = sy;
            } else {
                kf_buf_cleanup(&sy);
                goto out;
            }
        }
        if ((rc = retrieve(e, a, norm.data, norm.len, sc, &n)))
            goto out;
        /* BM25 sums are not comparable across questions; the share of the best entry in
         * the top two is, roughly, and is what the thresholds see until the learned layer
         * is ready. */
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            if (sc[i].score > s1) {
                s2 = s1;
                s1 = sc[i].score;
            } else if (sc[i].score > s2) {
                s2 = sc[i].score;
            }
        }
        for (size_t i = 0; i < n; i++)
            sc[i].score = s1 > 0 ? sc[i].score / (s1 + s2) : 0;
    }
    /* top KF_MAX_CAND by partial selection */
    size_t k = n < KF_MAX_CAND ? n : KF_MAX_CAND;
    for (size_t i = 0; i < k; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (cmp_scored(&sc[j], &sc[best]) < 0)
                best = j;
        scored t = sc[i];
        sc[i] = sc[best];
        sc[best] = t;
        m->cand[i].entry = &e->kb->entries[sc[i].entry];
        m->cand[i].score = sc[i].score;
        m->cand[i].bm25 = sc[i].bm25;
    }
    m->n_cand = k;
    if (flags & KF_MATCH_EXPLAIN) {
        m->norm = kf_strdup(norm.data ? norm.data : "");
        if (!l && (rc = kf_tok_run(kf_analyzer_tok(a), norm.data ? norm.data : "", norm.len,
                                   tokens_to_text, &toks)))
            goto out;
        m->tokens = kf_strdup(toks.data ? toks.data : "");
        if (l && k) {
            /* the features that weighed most for the top entry */
            size_t c = (size_t)(m->cand[0].entry - e->kb->entries);
            kf_buf fb;
            kf_buf_init(&fb);
            for (int round = 0; round < 8; round++) {
                double best = 0;
                size_t bi = x.n;
                for (size_t i = 0; i < x.n; i++) {
                    double w = x.val[i] * kf_model_weight(l->model, x.idx[i], c);
                    if (w > best) {
                        best = w;
                        bi = i;
                    }
                }
                if (bi == x.n)
                    break;
                kf_buf_printf(&fb, "%s%s=%+.3f", fb.len ? " " : "",
                              kf_vocab_name(l->vocab, x.idx[bi]), best);
                x.val[bi] = 0; /* x is not used after this */
            }
            m->features = kf_buf_take(&fb);
        }
        if (!m->norm || !m->tokens) {
            rc = KF_ENOMEM;
            goto out;
        }
    }
    rc = KF_OK;
out:
    kf_free(sc);
    kf_free(raw);
    kf_fvec_cleanup(&x);
    kf_buf_cleanup(&norm);
    kf_buf_cleanup(&toks);
    return rc;
}

int kf_engine_match(kf_engine *e, const char *text, size_t len, kf_lang want, unsigned flags,
                    kf_match *m)
{
    kf_analyzer *a = NULL;
    kf_buf rn;
    kf_rules_result rr;
    int rc;
    uint64_t t0 = kf_now_ns();

    memset(m, 0, sizeof(*m));
    memset(&rr, 0, sizeof(rr));
    kf_buf_init(&rn);
    if (!kf_utf8_valid(text, len, NULL))
        return KF_EUTF8;
    len = clip_utf8(text, len, MAX_QUESTION);
    a = kf__engine_pool_take(e);
    if (!a)
        return KF_ENOMEM;
    m->lang = want != KF_LANG_NONE ? want : kf_lang_detect(text, len);
    if ((rc = kf_norm_text(kf_analyzer_norm(a), text, len, KF_NORM_KEEP_PUNCT, &rn)))
        goto out;
    if (!rn.len) {
        rc = KF_EEMPTY;
        goto out;
    }
    if ((rc = kf_rules_match(e->rules, rn.data, rn.len, &rr)))
        goto out;
    m->slots = rr.slots;
    m->n_slots = rr.n_slots;
    rr.slots = NULL;
    rr.n_slots = 0;
    m->rule_limited = rr.limited != NULL;
    if (rr.limited)
        kf_log(KF_LOG_WARN, "rule %s (%s:%d) hit the PCRE2 limits", rr.limited->name,
               rr.limited->file, rr.limited->line);
    if (!rr.hit || (flags & KF_MATCH_EXPLAIN)) {
        rc = score_question(e, a, text, len, flags, m);
        if (rc == KF_EEMPTY && rr.hit)
            rc = KF_OK;
        if (rc)
            goto out;
        decide(e, m);
    }
    if (rr.hit) {
        const kf_rule *r = rr.hit;
        m->rule = r;
        m->confidence = 1.0;
        m->n_options = 0;
        /* with KF_MATCH_EXPLAIN the scoring ran too; its pick is only a candidate now */
        m->entry = NULL;
        switch (r->action) {
        case KF_RULE_ANSWER:
            m->decision = KF_DECISION_ANSWER;
            m->entry = kf_kb_find(e->kb, r->arg);
            break;
        case KF_RULE_REPLY:
            m->decision = KF_DECISION_REPLY;
            break;
        case KF_RULE_HANDOFF:
            m->decision = KF_DECISION_HANDOFF;
            m->handoff_reason = r->arg ? r->arg : "rule";
            m->urgent = r->arg && strcmp(r->arg, "complaint") == 0;
            break;
        case KF_RULE_SLOTS:
            break;
        }
        if (m->decision == KF_DECISION_REPLY || m->decision == KF_DECISION_HANDOFF) {
            m->reply = r->reply[m->lang];
            if (!m->reply)
                m->reply = r->reply[m->lang == KF_LANG_ZH ? KF_LANG_EN : KF_LANG_ZH];
        }
    }
    if (m->decision == KF_DECISION_ANSWER && m->entry)
        m->version = pick_version(m->entry, m->lang, &m->lang_fallback);
    /* an out-of-scope entry (`decision = fallback`), whether it won or a rule named it, is a
     * fallback whose reply is its answer: a polite "we do not handle this" that says where
     * to go instead */
    if (m->decision == KF_DECISION_ANSWER && m->entry && m->entry->out_of_scope) {
        m->decision = KF_DECISION_FALLBACK;
        m->reply = m->version ? m->version->answer : NULL;
    }
    /* an entry whose filters say `handoff = REASON` is answered and handed to a human:
     * a complaint acknowledged by the bot still needs a person */
    if (m->decision == KF_DECISION_ANSWER && m->entry) {
        for (size_t i = 0; i < m->entry->n_meta; i++) {
            if (strcmp(m->entry->meta_keys[i], "handoff") != 0)
                continue;
            m->decision = KF_DECISION_HANDOFF;
            m->handoff_reason = m->entry->meta_vals[i];
            m->urgent = strcmp(m->handoff_reason, "complaint") == 0;
            m->reply = m->version ? m->version->answer : NULL;
            break;
        }
    }
    rc = KF_OK;
out:
    kf_rules_result_cleanup(&rr);
    kf_buf_cleanup(&rn);
    kf__engine_pool_give(e, a);
    m->elapsed_ns = kf_now_ns() - t0;
    if (rc)
        kf_match_cleanup(m);
    return rc;
}

void kf_match_cleanup(kf_match *m)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        kf_free(m->slots[i].name);
        kf_free(m->slots[i].value);
    }
    kf_free(m->slots);
    kf_free(m->norm);
    kf_free(m->tokens);
    kf_free(m->features);
    m->slots = NULL;
    m->n_slots = 0;
    m->norm = m->tokens = m->features = NULL;
}

int kf_engine_search(kf_engine *e, const char *query, size_t len, kf_candidate *out, size_t max)
{
    kf_analyzer *a = NULL;
    kf_buf norm;
    qterms q = {0};
    kf_buf fq;
    kf_index_hit hits[64];
    int rc, n = 0;

    if (!kf_utf8_valid(query, len, NULL))
        return KF_EUTF8;
    len = clip_utf8(query, len, 4096);
    kf_buf_init(&norm);
    kf_buf_init(&fq);
    a = kf__engine_pool_take(e);
    if (!a)
        return KF_ENOMEM;
    if ((rc = kf_norm_text(kf_analyzer_norm(a), query, len, 0, &norm)))
        goto out;
    q.text = norm.data ? norm.data : "";
    if ((rc = kf_tok_run(kf_analyzer_tok(a), q.text, norm.len, qterm_cb, &q)) || q.err ||
        (rc = add_lone_han(&q, q.text, norm.len))) {
        rc = rc ? rc : q.err;
        goto out;
    }
    if ((rc = kf_index_build_query(q.t, q.l, q.n, &fq)))
        goto out;
    int nh = kf_index_query(e->index, KF_INDEX_ANSWERS, fq.data, hits, 64);
    if (nh < 0) {
        rc = nh;
        goto out;
    }
    for (int i = 0; i < nh && (size_t)n < max; i++) {
        size_t en = (size_t)hits[i].rowid / KF_LANG_COUNT;
        if (en >= e->kb->n_entries)
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= out[k].entry == &e->kb->entries[en];
        if (dup)
            continue;
        out[n].entry = &e->kb->entries[en];
        out[n].bm25 = hits[i].score;
        out[n].score = 0;
        n++;
    }
    rc = n;
out:
    kf_free(q.t);
    kf_free(q.l);
    kf_buf_cleanup(&fq);
    kf_buf_cleanup(&norm);
    kf__engine_pool_give(e, a);
    return rc;
}

int kf_match_expect(const kf_match *m, const char *x)
{
    if (x[0] != '@')
        return m->decision == KF_DECISION_ANSWER && m->entry && strcmp(m->entry->id, x) == 0;
    if (strcmp(x, "@clarify") == 0)
        return m->decision == KF_DECISION_CLARIFY;
    if (strcmp(x, "@fallback") == 0)
        return m->decision == KF_DECISION_FALLBACK;
    if (strcmp(x, "@handoff") == 0)
        return m->decision == KF_DECISION_HANDOFF;
    if (strncmp(x, "@handoff:", 9) == 0)
        return m->decision == KF_DECISION_HANDOFF && m->handoff_reason &&
               strcmp(m->handoff_reason, x + 9) == 0;
    if (strncmp(x, "@reply:", 7) == 0)
        return m->decision == KF_DECISION_REPLY && m->rule && strcmp(m->rule->name, x + 7) == 0;
    return 0;
}

void kf_match_describe(const kf_match *m, char *buf, size_t n)
{
    switch (m->decision) {
    case KF_DECISION_ANSWER:
        snprintf(buf, n, "%s", m->entry ? m->entry->id : "?");
        break;
    case KF_DECISION_HANDOFF:
        snprintf(buf, n, "@handoff:%s", m->handoff_reason ? m->handoff_reason : "?");
        break;
    case KF_DECISION_REPLY:
        snprintf(buf, n, "@reply:%s", m->rule ? m->rule->name : "?");
        break;
    case KF_DECISION_CLARIFY:
        snprintf(buf, n, "@clarify(%s%s%s)", m->n_cand ? m->cand[0].entry->id : "",
                 m->n_cand > 1 ? "|" : "", m->n_cand > 1 ? m->cand[1].entry->id : "");
        break;
    case KF_DECISION_FALLBACK:
        if (m->entry) /* an out-of-scope entry */
            snprintf(buf, n, "@fallback(%s)", m->entry->id);
        else
            snprintf(buf, n, "@fallback");
        break;
    default:
        snprintf(buf, n, "@%s", kf_decision_name(m->decision));
    }
}

int kf_engine_run_tests(kf_engine *e, void *outp, size_t *passed, size_t *total)
{
    FILE *out = outp;
    *passed = 0;
    *total = e->cases.n;
    for (size_t i = 0; i < e->cases.n; i++) {
        const kf_case *c = &e->cases.v[i];
        kf_match m;
        int rc = kf_engine_match(e, c->question, strlen(c->question), KF_LANG_NONE, 0, &m);
        if (rc == KF_EEMPTY) {
            memset(&m, 0, sizeof(m));
            m.decision = KF_DECISION_FALLBACK;
        } else if (rc) {
            if (out)
                fprintf(out, "%s:%d: %s: %s\n", c->file, c->line, c->question, kf_strerror(rc));
            continue;
        }
        if (kf_match_expect(&m, c->expect)) {
            (*passed)++;
        } else if (out) {
            char got[256];
            kf_match_describe(&m, got, sizeof(got));
            fprintf(out, "%s:%d: \"%s\": expected %s, got %s (%.2f)\n", c->file, c->line,
                    c->question, c->expect, got, m.confidence);
        }
        kf_match_cleanup(&m);
    }
    return KF_OK;
}
