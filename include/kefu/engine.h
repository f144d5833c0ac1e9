/* SPDX-License-Identifier: MIT
 * The matcher: an immutable, reference-counted knowledge snapshot (kb + rules + synonyms +
 * FTS5 index + optional learned scoring layer) and the match of one question against it:
 * rules first, then retrieval and scoring, then a decision with its explanation.
 * Knows nothing of sockets or conversations. A snapshot may be matched from several
 * threads at once; swapping snapshots is the caller's business (ref/unref). */
#ifndef KEFU_ENGINE_H
#define KEFU_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/err.h"
#include "kefu/kb.h"
#include "kefu/kbtest.h"
#include "kefu/rules.h"

#define KF_MAX_CAND 5

typedef enum {
    KF_DECISION_ANSWER = 0,   /* confident: answer with entry */
    KF_DECISION_CLARIFY = 1,  /* unsure: offer cand[0..n_options) as options */
    KF_DECISION_FALLBACK = 2, /* not understood: ask to rephrase */
    KF_DECISION_HANDOFF = 3,  /* to a human: handoff_reason says why */
    KF_DECISION_REPLY = 4,    /* a rule's own reply (greeting, thanks, ...) */
} kf_decision;

const char *kf_decision_name(kf_decision d);

typedef struct kf_engine_config {
    const char *kb_dir;      /* default "kb" */
    const char *intents_dir; /* default "intents" */
    /* Decision thresholds on the entry score (0..1, comparable across questions). */
    double answer_min;  /* answer when top >= answer_min ... */
    double margin_min;  /* ... and top - second >= margin_min */
    double clarify_min; /* else clarify when top >= clarify_min, else fallback */
    int learned;        /* 0: retrieval only; 1: learned layer built in the background;
                           2: built before kf_engine_load returns */
    const char *cache_dir; /* where trained models are kept by content hash; NULL: none */
    kf_rules_limits limits;
} kf_engine_config;

void kf_engine_config_defaults(kf_engine_config *c);

typedef struct kf_engine kf_engine;

/* Loads synonyms (kb_dir/synonyms.txt, optional), every kb file, every rule file and every
 * test file, validates them all, and builds the index. All or nothing: on any error returns
 * NULL with every `file:line: message` in d. The result has one reference. */
kf_engine *kf_engine_load(const kf_engine_config *cfg, kf_diag *d);

/* A snapshot from labelled training lines ("text<TAB>label", one entry per label, no rules,
 * no answers): for `kefu eval --train` and benchmarks. */
kf_engine *kf_engine_from_tsv(const kf_engine_config *cfg, const char *file, const char *text,
                              size_t len, kf_diag *d);

kf_engine *kf_engine_ref(kf_engine *e);
void kf_engine_unref(kf_engine *e); /* NULL is fine */

/* Borrowed; valid while the caller holds a reference. */
const kf_kb *kf_engine_kb(const kf_engine *e);
const kf_rules *kf_engine_rules(const kf_engine *e);
const kf_cases *kf_engine_cases(const kf_engine *e);
/* 1 once the learned layer serves (always 0 when disabled). */
int kf_engine_learned_ready(const kf_engine *e);
/* 1 if the learned layer came from the model cache rather than training. */
int kf_engine_learned_cached(const kf_engine *e);
/* Blocks until the background learned layer is ready or failed. */
void kf_engine_wait_learned(kf_engine *e);
/* Content hash of all knowledge files (hex, borrowed), e.g. for logs and caches. */
const char *kf_engine_hash(const kf_engine *e);

typedef struct kf_candidate {
    const kf_entry *entry;
    double score; /* 0..1 */
    double bm25;  /* retrieval score (higher is better), 0 if not retrieved */
} kf_candidate;

enum { KF_MATCH_EXPLAIN = 1 << 0 };

typedef struct kf_match {
    kf_decision decision;
    double confidence;             /* score of cand[0] (1 for a rule decision) */
    const kf_entry *entry;         /* ANSWER (and rule answers); HANDOFF and FALLBACK
                                      when an entry's filters turned its answer into one */
    const kf_version *version;     /* the version answered, in lang */
    kf_lang lang;                  /* language of the reply */
    int lang_fallback;             /* 1: no version in the visitor's language */
    const kf_rule *rule;           /* the rule that decided, or NULL */
    const char *reply;             /* REPLY / HANDOFF: rule text in lang, or NULL;
                                      FALLBACK with entry set (an out-of-scope entry won):
                                      its answer in lang */
    const char *handoff_reason;    /* HANDOFF: "asked", "complaint", rule arg, ... */
    int urgent;                    /* HANDOFF with priority (complaints) */
    size_t n_options;              /* CLARIFY: how many of cand[] to offer (2..3) */
    kf_candidate cand[KF_MAX_CAND];
    size_t n_cand;
    kf_slot *slots;                /* owned */
    size_t n_slots;
    int rule_limited;              /* a pattern hit the PCRE2 limits */
    /* KF_MATCH_EXPLAIN only (owned): */
    char *norm;                    /* normalised text */
    char *tokens;                  /* space-separated tokens */
    char *features;                /* the strongest features for cand[0], text */
    uint64_t elapsed_ns;
} kf_match;

/* Matches one question. want: the visitor's language, or KF_LANG_NONE to use the question's.
 * Text must be valid UTF-8 (KF_EUTF8 otherwise) and not empty after normalisation
 * (KF_EEMPTY); questions longer than 64 KiB are matched on their first 64 KiB.
 * Thread-safe. Caller calls kf_match_cleanup. */
int kf_engine_match(kf_engine *e, const char *text, size_t len, kf_lang want, unsigned flags,
                    kf_match *out);
void kf_match_cleanup(kf_match *m);
/* The outcome in test-file notation: an entry id, "@handoff:REASON", "@reply:RULE",
 * "@clarify(a|b)", "@fallback", or "@fallback(ID)" when out-of-scope entry ID won. */
void kf_match_describe(const kf_match *m, char *buf, size_t n);
/* 1 if the outcome is what a test file expects (an entry id answered, "@clarify",
 * "@fallback", "@handoff", "@handoff:REASON", "@reply:RULE"), else 0. */
int kf_match_expect(const kf_match *m, const char *expect);

/* Knowledge search for agents: up to max entries by BM25 over all phrasings and answers.
 * Returns the number found (>= 0) or a negative KF_E* code. */
int kf_engine_search(kf_engine *e, const char *query, size_t len, kf_candidate *out,
                     size_t max);

/* Runs the snapshot's own test cases; prints failures to out (if not NULL).
 * *passed / *total are set. Returns KF_OK or an error. */
int kf_engine_run_tests(kf_engine *e, void *out /* FILE* */, size_t *passed, size_t *total);

#endif
