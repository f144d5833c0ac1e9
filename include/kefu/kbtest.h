/* SPDX-License-Identifier: MIT
 * Expected-outcome test files (*.test): blocks of "question" then "expected outcome",
 * separated by blank lines (docs/knowledge-format.md). Parsing only; the engine runs them. */
#ifndef KEFU_KBTEST_H
#define KEFU_KBTEST_H

#include <stddef.h>

#include "kefu/err.h"

typedef struct kf_case {
    char *question;
    char *expect; /* entry id, or "@clarify", "@fallback", "@handoff", "@handoff:REASON",
                     "@reply:RULE" */
    char *file;
    int line;     /* line of the question */
} kf_case;

typedef struct kf_cases {
    kf_case *v;
    size_t n;
    size_t cap;
} kf_cases;

void kf_cases_init(kf_cases *c);
void kf_cases_cleanup(kf_cases *c);
/* Parses one file's text and appends its cases; errors (a question without an outcome, an
 * unknown @decision, invalid UTF-8) go to d. Returns KF_OK, KF_EPARSE, KF_EUTF8 (some line
 * was not valid UTF-8 or held a NUL; reported as well) or KF_ENOMEM. */
int kf_cases_parse(kf_cases *c, const char *file, const char *text, size_t len, kf_diag *d);
/* Loads every *.test file in dir (sorted). Missing dir is not an error. */
int kf_cases_load_dir(kf_cases *c, const char *dir, kf_diag *d);

#endif
