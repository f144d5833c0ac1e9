/* SPDX-License-Identifier: MIT
 * Lexical features of a text for the learned scoring layer: the analyzer's tokens (stemmed
 * words, numbers, Han unigrams and bigrams), plus English word bigrams, character 3-5-grams
 * inside English words and Han trigrams. A vocabulary maps feature strings to ids and keeps
 * document frequencies; a vector is TF-IDF weighted (sublinear tf) and L2-normalised.
 * Pure computation over text.h; no SQL, no model. */
#ifndef KEFU_FEAT_H
#define KEFU_FEAT_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/buf.h"
#include "kefu/text.h"

typedef struct kf_vocab kf_vocab;

/* A sparse vector: ids ascending, values. Caller's storage; kf_fvec_init / _cleanup. */
typedef struct kf_fvec {
    uint32_t *idx;
    float *val;
    size_t n;
    float coverage; /* kf_vocab_vector: share of the squared TF-IDF weight of the text's
                       whole tokens (words, numbers, Han characters and pairs) that falls on
                       known ones (unknown ones weigh as the rarest); 0 for no text */
    size_t cap; /* private */
} kf_fvec;

void kf_fvec_init(kf_fvec *v);
void kf_fvec_cleanup(kf_fvec *v);

kf_vocab *kf_vocab_new(void);
void kf_vocab_free(kf_vocab *v);
size_t kf_vocab_size(const kf_vocab *v);
/* Feature string of an id (borrowed, NUL-terminated), or NULL. */
const char *kf_vocab_name(const kf_vocab *v, uint32_t id);

/* Counts the features of one training text: adds unseen ones, df += 1 for each distinct
 * feature. Call kf_vocab_freeze after the last text. Returns KF_OK, KF_EUTF8, KF_ENOMEM. */
int kf_vocab_add_doc(kf_vocab *v, kf_analyzer *a, const char *text, size_t len);
/* The same for reference text (an entry's answer): its features count in the idf and can
 * score, but a question's token seen only in reference text counts as unknown for coverage
 * (answers use many everyday words that no question of the knowledge base asks with). */
int kf_vocab_add_ref(kf_vocab *v, kf_analyzer *a, const char *text, size_t len);
/* Computes idf from the document frequencies. No more kf_vocab_add_doc afterwards. */
void kf_vocab_freeze(kf_vocab *v);

/* The TF-IDF vector of text over the frozen vocabulary (unknown features dropped).
 * norm (optional) receives the normalised text and tokens (optional) the token list as
 * space-separated text, for explanations. Returns KF_OK, KF_EUTF8, KF_ENOMEM. */
int kf_vocab_vector(const kf_vocab *v, kf_analyzer *a, const char *text, size_t len,
                    kf_fvec *out, kf_buf *norm, kf_buf *tokens);

/* For the tests: 0 looks every character gram up by its string, as before the memo of the
 * words' grams (1, the default after freeze); the vectors must be the same. Returns the
 * number of words whose grams the memo holds (0 when off). */
size_t kf_vocab__set_memo(kf_vocab *v, int on);

/* Sorts n ids in ascending order; tmp is scratch room for n ids. Used by kf_vocab_vector,
 * declared here for the tests. */
void kf_feat_sort_ids(uint32_t *a, uint32_t *tmp, size_t n);

#endif
