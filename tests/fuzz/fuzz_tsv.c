/* SPDX-License-Identifier: MIT
 * libFuzzer target for kf_engine_from_tsv (`kefu eval --train`): arbitrary bytes as
 * "text<TAB>label" training lines, retrieval only (learned = 0). Either a snapshot or
 * diagnostics, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "kefu/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kf_engine_config c;
    kf_diag d;

    kf_engine_config_defaults(&c);
    c.learned = 0;
    kf_diag_init(&d);
    kf_engine *e = kf_engine_from_tsv(&c, "fuzz.tsv", (const char *)data, size, &d);
    if (!e && kf_diag_count(&d) == 0)
        abort(); /* a failure is always explained */
    kf_engine_unref(e);
    kf_diag_cleanup(&d);
    return 0;
}
