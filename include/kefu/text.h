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

/* Opens OpenCC's t2s converter (about 2 ms: it loads the dictionaries). The first call in
 * a process also learns which characters t2s can change (about 10 ms, once), so that text
 * without any of them skips OpenCC. NULL on failure (err, if not NULL, gets KF_ENOMEM or
 * KF_ENOTFOUND when OpenCC's t2s.json cannot be opened). */
kf_norm *kf_norm_new(int *err);
void kf_norm_free(kf_norm *n);
/* Normalises s[0..len) and appends the result to out (out is reset first):
 *   - NFKC with case folding (full-width letters and digits become ASCII), look-alike dashes,
 *     quotes and spaces lumped to ASCII (utf8proc LUMP), traditional -> simplified (OpenCC);
 *   - punctuation (P*), symbols and emoji (S*), separators (Z*), controls, private-use and
 *     unassigned code points each become a space; with KF_NORM_KEEP_PUNCT, P* and S* stay;
 *   - invisible characters vanish without a space: format characters (Cf: zero-width space,
 *     joiners, BOM, soft hyphen), variation selectors, enclosing marks (keycaps);
 *   - runs of spaces collapse to one, and both ends are trimmed.
 * Pure ASCII input takes a fast path. A few µs for a short question; no allocation once out
 * and the internal scratch have grown. Returns KF_OK, KF_EUTF8 for invalid UTF-8 (overlongs,
 * surrogates, truncated sequences; out left empty), or KF_ENOMEM. */
int kf_norm_text(kf_norm *n, const char *s, size_t len, unsigned flags, kf_buf *out);

/* ---- synonyms ----------------------------------------------------------------- */

typedef struct kf_syn kf_syn;

kf_syn *kf_syn_new(void);
void kf_syn_free(kf_syn *s);
/* Parses a synonyms file's text (format in docs/knowledge-format.md), normalising every
 * word with n (without KEEP_PUNCT), and adds its groups to s; may be called once per file.
 * A BOM and CRLF line ends are accepted; `#` starts a comment anywhere on a line. Errors go
 * to d as file:line (invalid UTF-8, a word already in another group, a group of one word, a
 * word that normalises to nothing); a group with an error is left out and parsing goes on.
 * Returns KF_OK, KF_EPARSE (some error reported) or KF_ENOMEM (then discard s). */
int kf_syn_parse(kf_syn *s, kf_norm *n, const char *file, const char *text, size_t len,
                 kf_diag *d);
/* Number of groups. */
size_t kf_syn_groups(const kf_syn *s);
/* Rewrites normalised text: at each character the longest word of any group that matches
 * is replaced by its group's canonical word (a canonical matches itself, so it shields its
 * text from shorter variants inside it). A word that starts (ends) with a Latin letter or
 * digit only matches where the text does not continue it on that side: "money back" ->
 * "refund", but "moneyback" stays. Han words match anywhere. Appends to out (reset first).
 * One hash probe per character; returns KF_OK or KF_ENOMEM. */
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
/* Tokenises normalised text, in order:
 *   - a run of Han characters: each character (HAN1), followed by the pair it starts with the
 *     next character of the run (HAN2), so "退货单" gives 退 退货 货 货单 单;
 *   - a run of letters (a-z, and Latin/Greek/Cyrillic letters with their marks): one
 *     English-stemmed WORD ("refunding" -> "refund");
 *   - a run of digits: one NUM; letters and digits split, "iphone15" -> iphone, 15;
 *   - any other character that is not a space (kana, hangul, kept punctuation): one OTHER.
 * Words and numbers longer than 64 bytes are cut to 64 bytes (at a character boundary)
 * before stemming; their start/end still cover the whole run. No allocation per token.
 * Returns KF_OK, the callback's non-zero value, or KF_ENOMEM. */
int kf_tok_run(kf_tok *t, const char *norm, size_t len, kf_tok_cb cb, void *ud);

/* ---- analyzer: norm + synonyms + tokens ------------------------------------- */

typedef struct kf_analyzer kf_analyzer;

/* kf_analyze reads at most this many bytes of its input (cut back to a character
 * boundary), so a 1 MB question costs the same as a 64 KiB one. */
#define KF_ANALYZE_MAX (64 * 1024)

/* syn is borrowed (may be NULL) and must outlive the analyzer. */
kf_analyzer *kf_analyzer_new(const kf_syn *syn, int *err);
void kf_analyzer_free(kf_analyzer *a);
/* Normalises the first KF_ANALYZE_MAX bytes of s (without KEEP_PUNCT), applies synonyms
 * (if the analyzer has any), and tokenises. The text that was tokenised (normalised, with
 * synonyms applied) goes to norm_out if not NULL (reset first; left empty on error), else to
 * a scratch buffer; offsets passed to cb refer to it. Returns KF_OK, KF_EUTF8 (cb never
 * called), KF_ENOMEM, or the callback's value. */
int kf_analyze(kf_analyzer *a, const char *s, size_t len, kf_buf *norm_out, kf_tok_cb cb,
               void *ud);
/* Borrowed normaliser (for rules, which need KEEP_PUNCT), valid until kf_analyzer_free. */
kf_norm *kf_analyzer_norm(kf_analyzer *a);
/* Borrowed tokenizer, to tokenise text that is already normalised. */
kf_tok *kf_analyzer_tok(kf_analyzer *a);

/* ---- FTS5 --------------------------------------------------------------------- */

/* Registers the tokenizer `name` (e.g. "kefu") with db's FTS5. Each FTS5 tokenizer instance
 * creates its own analyzer over syn (borrowed; must outlive db). Indexing and querying both
 * go through kf_analyze. Token offsets refer to the normalised text and are clamped to the
 * input length, so highlight() and snippet() are approximate. Text with invalid UTF-8 gives
 * no tokens rather than an error (queries never fail on what a visitor typed; the loader
 * rejects bad documents before they reach the index). Returns KF_OK, KF_EDB (no FTS5 in
 * this SQLite) or KF_ENOMEM. */
int kf_fts5_register(struct sqlite3 *db, const char *name, const kf_syn *syn);

#endif
