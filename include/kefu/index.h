/* SPDX-License-Identifier: MIT
 * The FTS5 index of a knowledge snapshot: an in-memory SQLite database whose tables use
 * kefu's tokenizer (text.h), one row per phrasing and one per answer; a query builder that
 * quotes every term so that no user text can change the query; BM25 ranking.
 * Thread-safe: calls are serialised by the index. */
#ifndef KEFU_INDEX_H
#define KEFU_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/buf.h"
#include "kefu/text.h"

typedef enum { KF_INDEX_PHRASINGS = 0, KF_INDEX_ANSWERS = 1 } kf_index_table;

typedef struct kf_index_hit {
    int64_t rowid;
    double score; /* -bm25: higher is better */
} kf_index_hit;

typedef struct kf_index kf_index;

/* syn is borrowed and must outlive the index. NULL on failure (*err set). */
kf_index *kf_index_new(const kf_syn *syn, int *err);
void kf_index_free(kf_index *x);
/* Adds rows; wrap many adds in kf_index_begin / kf_index_commit. */
int kf_index_begin(kf_index *x);
int kf_index_commit(kf_index *x);
int kf_index_add(kf_index *x, kf_index_table t, int64_t rowid, const char *text);

/* Builds an FTS5 query that ORs the given terms, each one quoted as a string (a `"` inside
 * is doubled), so operators, column filters and quotes in user text are only text.
 * Appends to out (reset first). No terms: out is empty. */
int kf_index_build_query(const char *const *terms, const size_t *lens, size_t n, kf_buf *out);

/* Runs an FTS5 MATCH over table t, best first by BM25, at most max hits.
 * Returns the number of hits or a negative KF_E* code (an FTS5 error is KF_EDB, which
 * kf_index_build_query makes impossible for any input). */
int kf_index_query(kf_index *x, kf_index_table t, const char *fts_query, kf_index_hit *hits,
                   size_t max);

#endif
