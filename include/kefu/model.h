/* SPDX-License-Identifier: MIT
 * The learned scoring layer: a linear one-vs-rest SVM (LIBLINEAR, L2-regularised L2-loss,
 * dual coordinate descent) over sparse feature vectors, one class per FAQ entry. Training is
 * deterministic (fixed seed, single thread). Scoring is a sparse x dense product over a
 * feature-major float matrix: cost O(nnz(x) * classes). Immutable after training; scoring
 * is thread-safe. Only this module includes linear.h. */
#ifndef KEFU_MODEL_H
#define KEFU_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/feat.h"

typedef struct kf_model kf_model;

/* Trains on n rows: rows[i] with label labels[i] in [0, n_classes). C is the SVM cost.
 * Returns NULL on failure (*err set). */
kf_model *kf_model_train(const kf_fvec *rows, const int *labels, size_t n, size_t n_features,
                         size_t n_classes, double C, int *err);
void kf_model_free(kf_model *m);
size_t kf_model_classes(const kf_model *m);
/* scores[c] = w_c . x + b_c for every class c. */
void kf_model_scores(const kf_model *m, const kf_fvec *x, float *scores);
/* Weight of feature f for class c. */
float kf_model_weight(const kf_model *m, uint32_t f, size_t c);
/* Saves / loads a trained model (a small binary format of ours: a header, the dimensions,
 * one caller's value `extra` (the engine's calibration), the weights). A file with other
 * dimensions or a bad size is refused with KF_EINVAL. Saving writes PATH.tmp and renames
 * it, so a reader never sees half a file. */
int kf_model_save(const kf_model *m, double extra, const char *path);
kf_model *kf_model_load(const char *path, size_t n_features, size_t n_classes, double *extra,
                        int *err);

#endif
