/* SPDX-License-Identifier: MIT
 * Rules from the *.rules files in intents/: PCRE2 patterns (UTF, UCP, caseless, JIT) with
 * match and depth limits, an action and a priority; slots from named groups. See
 * docs/knowledge-format.md.
 * Knows nothing of retrieval: the engine asks it first. A compiled rule set is immutable and
 * may be matched from several threads at once. */
#ifndef KEFU_RULES_H
#define KEFU_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/err.h"
#include "kefu/kb.h"

typedef enum {
    KF_RULE_ANSWER = 0,  /* arg = entry id */
    KF_RULE_REPLY = 1,   /* reply[] */
    KF_RULE_HANDOFF = 2, /* arg = reason ("asked", "complaint", ...) */
    KF_RULE_SLOTS = 3,   /* capture only */
} kf_rule_action;

typedef struct kf_rule {
    char *name;
    int priority;
    kf_rule_action action;
    char *arg;                   /* entry id or handoff reason; NULL otherwise */
    char *reply[KF_LANG_COUNT];  /* "reply" (applies to both unless .zh/.en given) */
    size_t n_patterns;
    char **patterns;             /* source text */
    char *file;
    int line;                    /* line of the [section] */
} kf_rule;

typedef struct kf_slot {
    char *name;
    char *value;
} kf_slot;

typedef struct kf_rules_result {
    const kf_rule *hit;     /* highest-priority non-slots rule that matched, or NULL */
    kf_slot *slots;         /* from every matching rule (hit and slots rules), owned */
    size_t n_slots;
    const kf_rule *limited; /* a rule whose pattern hit the match/depth limit, or NULL */
} kf_rules_result;

typedef struct kf_rules kf_rules;

typedef struct kf_rules_limits {
    uint32_t match_limit; /* pcre2_set_match_limit; default (or 0) 100000 */
    uint32_t depth_limit; /* pcre2_set_depth_limit; default (or 0) 1000. JIT code ignores
                             it: there a per-thread JIT stack of at most 512 KiB bounds depth */
    int no_jit;           /* 1: no JIT compilation, PCRE2's interpreter (config rules_jit) */
} kf_rules_limits;

kf_rules *kf_rules_new(const kf_rules_limits *lim /* NULL: defaults */);
void kf_rules_free(kf_rules *r);
/* For tests: bytes of JIT-compiled code over all patterns (0: none, interpreted). */
size_t kf_rules__jit_bytes(const kf_rules *r);
/* Parses one .rules file's text and compiles its patterns; errors to d (file:line, with
 * PCRE2's message and offset). Returns KF_OK, KF_EPARSE or KF_ENOMEM. */
int kf_rules_parse(kf_rules *r, const char *file, const char *text, size_t len, kf_diag *d);
/* After all files: duplicate names; `answer` targets must exist in kb (may be NULL to skip).
 * Sorts by priority (stable). Returns KF_OK or KF_EPARSE. */
int kf_rules_finish(kf_rules *r, const kf_kb *kb, kf_diag *d);
/* Loads every *.rules file in dir, then kf_rules_finish. NULL on any error (all in d). */
kf_rules *kf_rules_load_dir(const char *dir, const kf_kb *kb, const kf_rules_limits *lim,
                            kf_diag *d);
size_t kf_rules_count(const kf_rules *r);
const kf_rule *kf_rules_get(const kf_rules *r, size_t i); /* in priority order */
/* Matches text (already normalised with KF_NORM_KEEP_PUNCT) against every rule, in priority
 * order. Fills *out (caller calls kf_rules_result_cleanup). A pattern that hits a limit
 * counts as no match and is reported in out->limited. Returns KF_OK, KF_ENOMEM, or
 * KF_EUTF8 when text is not valid UTF-8 (nothing matched). */
int kf_rules_match(const kf_rules *r, const char *text, size_t len, kf_rules_result *out);
void kf_rules_result_cleanup(kf_rules_result *res);

#endif
