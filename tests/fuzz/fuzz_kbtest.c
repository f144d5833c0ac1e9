/* SPDX-License-Identifier: MIT
 * libFuzzer target for the expected-outcome test files (*.test): arbitrary bytes through
 * kf_cases_parse. */
#include <stdint.h>
#include <stdlib.h>

#include "kefu/kbtest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kf_cases c;
    kf_diag d;

    kf_cases_init(&c);
    kf_diag_init(&d);
    int rc = kf_cases_parse(&c, "fuzz.test", (const char *)data, size, &d);
    if (rc != KF_OK && rc != KF_EPARSE && rc != KF_EUTF8)
        abort();
    if (rc != KF_OK && kf_diag_count(&d) == 0)
        abort(); /* an error is always reported */
    for (size_t i = 0; i < c.n; i++)
        if (!c.v[i].question || !c.v[i].expect)
            abort();
    kf_diag_cleanup(&d);
    kf_cases_cleanup(&c);
    return 0;
}
