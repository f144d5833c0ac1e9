/* SPDX-License-Identifier: MIT
 * libFuzzer target for the rule engine with arbitrary patterns and subjects. The input is
 * split at its first NUL byte, or else at its first blank line ("\n\n"): the part before is
 * a .rules file, the part after is the text matched against it. Every pattern is compiled
 * (PCRE2 + JIT) and matched under the default match/depth limits, which must bound any
 * pattern: a run that trips libFuzzer's -timeout is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/rules.h"

static size_t split_at(const char *s, size_t n, size_t *rest)
{
    const char *nul = memchr(s, '\0', n);
    if (nul) {
        *rest = (size_t)(nul - s) + 1;
        return (size_t)(nul - s);
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\n' && s[i + 1] == '\n') {
            *rest = i + 2;
            return i;
        }
    *rest = n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t rest;
    size_t rl = split_at(s, size, &rest);
    kf_diag d;
    kf_rules_result res;
    kf_rules *r = kf_rules_new(NULL);

    if (!r)
        abort();
    kf_diag_init(&d);
    int rc = kf_rules_parse(r, "fuzz.rules", s, rl, &d);
    if (rc != KF_OK && rc != KF_EPARSE)
        abort();
    if (rc == KF_OK)
        rc = kf_rules_finish(r, NULL, &d);
    if (rc == KF_OK) {
        rc = kf_rules_match(r, s + rest, size - rest, &res);
        if (rc != KF_OK && rc != KF_EUTF8)
            abort();
        if (rc == KF_OK)
            kf_rules_result_cleanup(&res);
    }
    kf_diag_cleanup(&d);
    kf_rules_free(r);
    return 0;
}
