/* SPDX-License-Identifier: MIT
 * The text layer: one normalisation and one tokenisation for the index and for queries.
 *
 *   kf_text_norm   utf8proc NFKC + case folding + full-width -> half-width, OpenCC t2s,
 *                  punctuation / symbols / emoji / zero-width / control characters -> space
 *                  (or kept, for rules), whitespace collapsed, trimmed.
 *   kf_syn         synonym groups: after normalisation, every variant is replaced by its
 *                  group's canonical form (longest match first; Latin variants only at word
 *                  boundaries).
 *   kf_text_tok    tokens of normalised text: each run of Han characters gives character
 *                  unigrams and bigrams; Latin words are Snowball-stemmed (English); digit
 *                  runs are kept whole; other scripts (kana, hangul, ...) as unigrams.
 *   kf_analyzer    norm -> synonyms -> tokens in one call; what both the FTS5 tokenizer
 *                  (text_fts5.c) and the engine's features use, so they never disagree.
 *
 * None of these objects is safe to use from two threads at once (OpenCC and Snowball keep
 * state); each thread or snapshot owns its own. */
#ifndef KEFU_TEXT_H
#define KEFU_TEXT_H

#include <stddef.h>

#include "kefu/buf.h"
#include "kefu/err.h"

struct sqlite3;

/* ---- normalisation ---------------------------------------------------------- */

typedef struct kf_norm kf_norm;

/* Flags for kf_norm_text. */
enum {
    KF_NORM_KEEP_PUNCT = 1 << 0, /* keep punctuation (for rules); still NFKC, fold, t2s */
};

/* Opens OpenCC's t2s converter. NULL on failure (err filled if not NULL). */
kf_norm *kf_norm_new(int *err);
void kf_norm_free(kf_norm *n);
/* Normalises s[0..len) and appends the result to out (out is reset first).
 * Returns KF_OK, KF_EUTF8 for invalid UTF-8 (out left empty), or KF_ENOMEM. */
int kf_norm_text(kf_norm *n, const char *s, size_t len, unsigned flags, kf_buf *out);

/* ---- synonyms ----------------------------------------------------------------- */

typedef struct kf_syn kf_syn;

kf_syn *kf_syn_new(void);
void kf_syn_free(kf_syn *s);
/* Parses a synonyms file's text (format in docs/knowledge-format.md), normalising every
 * word with n. Errors go to d as file:line; returns KF_OK or KF_EPARSE / KF_ENOMEM. */
int kf_syn_parse(kf_syn *s, kf_norm *n, const char *file, const char *text, size_t len,
                 kf_diag *d);
/* Number of groups. */
size_t kf_syn_groups(const kf_syn *s);
/* Rewrites normalised text: variants -> canonical. Appends to out (reset first). */
int kf_syn_apply(const kf_syn *s, const char *norm, size_t len, kf_buf *out);

/* ---- tokens ------------------------------------------------------------------- */

typedef enum {
    KF_TOK_WORD = 0,   /* a stemmed Latin word */
    KF_TOK_NUM = 1,    /* a run of digits */
    KF_TOK_HAN1 = 2,   /* one Han character */
    KF_TOK_HAN2 = 3,   /* two adjacent Han characters */
    KF_TOK_OTHER = 4,  /* one character of another script */
} kf_tok_kind;

typedef struct kf_tok kf_tok;

/* Called once per token, in text order (a bigram right after its first unigram).
 * tok is not NUL-terminated and valid only during the call. start/end are byte offsets of
 * the token in the text passed to kf_tok_run. Return non-zero to stop (that value is
 * returned by kf_tok_run). */
typedef int (*kf_tok_cb)(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                         size_t end);

kf_tok *kf_tok_new(void);
void kf_tok_free(kf_tok *t);
/* Tokenises normalised text. Returns KF_OK, the callback's non-zero value, or KF_ENOMEM. */
int kf_tok_run(kf_tok *t, const char *norm, size_t len, kf_tok_cb cb, void *ud);

/* ---- analyzer: norm + synonyms + tokens ------------------------------------- */

typedef struct kf_analyzer kf_analyzer;

/* syn is borrowed (may be NULL) and must outlive the analyzer. */
kf_analyzer *kf_analyzer_new(const kf_syn *syn, int *err);
void kf_analyzer_free(kf_analyzer *a);
/* Normalises (into norm_out if not NULL, else a scratch buffer), applies synonyms, and
 * tokenises. Offsets passed to cb refer to the normalised+synonym text. Returns KF_OK,
 * KF_EUTF8, KF_ENOMEM, or the callback's value. */
int kf_analyze(kf_analyzer *a, const char *s, size_t len, kf_buf *norm_out, kf_tok_cb cb,
               void *ud);
/* Borrowed normaliser (for rules, which need KEEP_PUNCT). */
kf_norm *kf_analyzer_norm(kf_analyzer *a);
/* Borrowed tokenizer, to tokenise text that is already normalised. */
kf_tok *kf_analyzer_tok(kf_analyzer *a);

/* ---- FTS5 --------------------------------------------------------------------- */

/* Registers the tokenizer `name` (e.g. "kefu") with db's FTS5. Each FTS5 tokenizer instance
 * creates its own analyzer over syn (borrowed; must outlive db). Indexing and querying both
 * go through kf_analyze; token offsets reported to FTS5 are clamped to the input length.
 * Returns KF_OK, KF_EDB (no FTS5 in this SQLite) or KF_ENOMEM. */
int kf_fts5_register(struct sqlite3 *db, const char *name, const kf_syn *syn);

#endif
