/* SPDX-License-Identifier: MIT
 * libFuzzer target for the knowledge-file parser: arbitrary bytes as one .qna Markdown file
 * (kf_kb_parse), then the cross-entry checks (kf_kb_finish). Bad input must become
 * diagnostics, never a crash, a leak or an over-read. */
#include <stdint.h>
#include <stdlib.h>

#include "kefu/kb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kf_diag d;
    kf_kb *kb = kf_kb_new();

    if (!kb)
        abort();
    kf_diag_init(&d);
    int rc = kf_kb_parse(kb, "fuzz.md", (const char *)data, size, &d);
    if (rc != KF_OK && rc != KF_EPARSE && rc != KF_EUTF8)
        abort();
    if (rc != KF_OK && kf_diag_count(&d) == 0)
        abort(); /* an error is always reported */
    rc = kf_kb_finish(kb, &d);
    if (rc != KF_OK && rc != KF_EPARSE)
        abort();
    for (size_t i = 0; i < kb->n_entries; i++)
        if (kf_kb_find(kb, kb->entries[i].id) == NULL)
            abort();
    kf_diag_cleanup(&d);
    kf_kb_free(kb);
    return 0;
}
