/* SPDX-License-Identifier: MIT
 * The knowledge base: FAQ entries parsed from the *.md and *.qna files in kb/ (the .qna
 * Markdown convention, see docs/knowledge-format.md), their validation, and `kefu import` of
 * TSV.
 * Pure data and parsing: no matching, no SQL. Structs are public and read-only. */
#ifndef KEFU_KB_H
#define KEFU_KB_H

#include <stddef.h>

#include "kefu/err.h"

typedef enum { KF_LANG_ZH = 0, KF_LANG_EN = 1, KF_LANG_COUNT = 2, KF_LANG_NONE = -1 } kf_lang;

/* "zh" / "en"; kf_lang_parse returns KF_LANG_NONE for anything else. */
const char *kf_lang_name(kf_lang l);
kf_lang kf_lang_parse(const char *s);
/* KF_LANG_ZH if the text contains a Han character, else KF_LANG_EN. */
kf_lang kf_lang_detect(const char *s, size_t len);

/* 1 if s[0..len) is a valid entry id (or rule name): non-empty, only ASCII letters, digits,
 * '-', '_' and '.'. Shared by the kb, rules and test-file parsers so they agree. */
int kf_kb_id_valid(const char *s, size_t len);

typedef struct kf_prompt {
    char *text;   /* button text */
    char *target; /* entry id (resolved by kf_kb_finish from "#?question" forms) */
    int line;     /* line of the prompt in its file */
} kf_prompt;

/* One language version of an entry. */
typedef struct kf_version {
    kf_lang lang;
    char *question;  /* main phrasing */
    char **alts;     /* alternate phrasings */
    size_t n_alts;
    char *answer;    /* Markdown, trimmed */
    kf_prompt *prompts;
    size_t n_prompts;
    int line;        /* line of the "# ?" / "## ?" heading */
} kf_version;

typedef struct kf_entry {
    char *id;
    char *category;  /* may be NULL */
    char **tags;
    size_t n_tags;
    char **meta_keys; /* other filters, in file order */
    char **meta_vals;
    size_t n_meta;
    /* `decision = fallback`: a question we do not handle. Trained like any entry, but when
     * it wins the decision is a fallback with its answer as the reply; never a clarify
     * option, never a prompt target (docs/knowledge-format.md). */
    int out_of_scope;
    kf_version *versions; /* at most one per language */
    size_t n_versions;
    char *file;      /* path as given to the parser */
    int line;        /* line of the entry's heading */
} kf_entry;

typedef struct kf_kb {
    kf_entry *entries; /* read-only, in load order */
    size_t n_entries;  /* read-only */
    size_t cap;        /* private */
    void *priv;        /* private: id index */
} kf_kb;

kf_kb *kf_kb_new(void);
void kf_kb_free(kf_kb *kb);
/* Parses one file's text and appends its entries. BOM and CRLF are accepted. Errors go to
 * d as file:line and parsing continues; returns KF_OK, KF_EPARSE (some error was reported),
 * KF_EUTF8 (reported as well) or KF_ENOMEM. */
int kf_kb_parse(kf_kb *kb, const char *file, const char *text, size_t len, kf_diag *d);
/* Cross-entry validation after all files: duplicate ids, prompt targets (resolving
 * "#?question" to ids). Returns KF_OK or KF_EPARSE. */
int kf_kb_finish(kf_kb *kb, kf_diag *d);
/* Loads every *.md and *.qna file in dir (sorted by name), then kf_kb_finish. On any error
 * returns NULL and d holds every message; nothing is half-loaded. */
kf_kb *kf_kb_load_dir(const char *dir, kf_diag *d);
/* Entry by id, or NULL. O(1) after kf_kb_finish. */
const kf_entry *kf_kb_find(const kf_kb *kb, const char *id);
/* The version in lang, or NULL. */
const kf_version *kf_entry_version(const kf_entry *e, kf_lang lang);

/* Converts question<TAB>answer lines (a QnA Maker / spreadsheet export; an optional header
 * line "Question<TAB>Answer..." is skipped; rows with the same answer become one entry with
 * alternates) into kb Markdown with explicit anchors id_prefix-N. Returns the Markdown
 * (caller frees with kf_free) or NULL with errors in d. */
char *kf_kb_import_tsv(const char *file, const char *text, size_t len, const char *id_prefix,
                       kf_diag *d);

#endif
