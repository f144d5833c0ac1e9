/* SPDX-License-Identifier: MIT
 * Internal to the engine module (engine.c, engine_match.c): the snapshot's layout. */
#ifndef KEFU_ENGINE_INT_H
#define KEFU_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "kefu/engine.h"
#include "kefu/feat.h"
#include "kefu/index.h"
#include "kefu/model.h"
#include "kefu/text.h"

#define MAX_QUESTION (64 * 1024)
#define RETRIEVE_MAX 64
/* LIBLINEAR cost; 2 was better than 1, 4 and 8 on CLINC150 validation (docs/matching.md) */
#define SVM_C 2.0
/* The confidence of an entry is a softmax over the linear scores with an extra "none"
 * class: it is high only when the entry both scores well in absolute terms and beats the
 * others. Where "none" sits is learned per knowledge base (calibrate() in engine.c), which
 * is what makes one threshold work across knowledge bases and questions. */
#define TEMPERATURE 0.1
/* the share of held-out phrasings whose score may fall below "none" (calibrate()) */
#define CALIB_QUANTILE 0.1

typedef struct learned {
    kf_vocab *vocab;
    kf_model *model;
    double none;  /* the score of "none" in the softmax: see calibrate() in engine.c */
    size_t n_calib; /* held-out phrasings the calibration saw */
    int cached;     /* the model came from the cache */
} learned;

struct kf_engine {
    atomic_int refs;
    kf_engine_config cfg;
    char *kb_dir, *intents_dir, *cache_dir;
    kf_syn *syn;
    kf_kb *kb;
    kf_rules *rules;
    kf_cases cases;
    kf_index *index;
    /* phrasings: rowid i of the FTS5 table is phrasing i */
    size_t n_phr;
    const char **phr_text; /* borrowed from kb */
    uint32_t *phr_entry;
    int no_answer_rows; /* the learned layer does not train on the answers (engine.c) */
    /* analyzers are not thread-safe: a small pool */
    pthread_mutex_t pool_lock;
    kf_analyzer **pool;
    size_t pool_n, pool_cap;
    /* learned layer */
    _Atomic(learned *) lrn;
    pthread_mutex_t lrn_lock;
    pthread_cond_t lrn_cond;
    int lrn_state; /* 0 none, 1 building, 2 ready, -1 failed */
    uint64_t lrn_ns;
    char hash[17];
};

kf_analyzer *kf__engine_pool_take(kf_engine *e);
void kf__engine_pool_give(kf_engine *e, kf_analyzer *a);

#endif
