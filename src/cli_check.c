/* SPDX-License-Identifier: MIT
 * `kefu check`: validate the knowledge files, and with --tests run the expected outcomes. */
#include <stdio.h>

#include "kefu/cli.h"

static const char usage[] =
    "usage: kefu check [DIR] [--kb DIR] [--intents DIR] [--tests [--min FRACTION]]\n"
    "  Validates kb/ and intents/ (DIR/kb and DIR/intents when DIR is given) and prints\n"
    "  every error as file:line: message. With --tests, also runs the *.test files and\n"
    "  fails when fewer than FRACTION (default 1.0) of the outcomes are right.\n";

int kf_cli_check(int argc, char **argv)
{
    kf_cli_opts o;
    static char kb[4096], in[4096];
    if (kf_cli_parse(argc, argv, &o, usage))
        return o.help ? 0 : 2;
    if (o.npos > 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (o.npos == 1) {
        snprintf(kb, sizeof(kb), "%s/kb", o.pos[0]);
        snprintf(in, sizeof(in), "%s/intents", o.pos[0]);
        o.cfg.kb_dir = kb;
        o.cfg.intents_dir = in;
    }
    kf_engine *e = kf_cli_load(&o, o.tests ? 2 : 0);
    if (!e)
        return 1;
    const kf_kb *k = kf_engine_kb(e);
    size_t nphr = 0;
    for (size_t i = 0; i < k->n_entries; i++)
        for (size_t v = 0; v < k->entries[i].n_versions; v++)
            nphr += 1 + k->entries[i].versions[v].n_alts;
    printf("kefu check: %zu entries, %zu phrasings, %zu rules, %zu test cases: ok\n",
           k->n_entries, nphr, kf_rules_count(kf_engine_rules(e)), kf_engine_cases(e)->n);
    int status = 0;
    if (o.tests) {
        size_t passed = 0, total = 0;
        double min = o.min_accuracy > 0 ? o.min_accuracy : 1.0;
        kf_engine_run_tests(e, stdout, &passed, &total);
        double acc = total ? (double)passed / (double)total : 1.0;
        printf("%zu of %zu tests passed (%.1f%%, required %.1f%%)\n", passed, total, acc * 100,
               min * 100);
        if (acc + 1e-9 < min)
            status = 1;
    }
    kf_engine_unref(e);
    return status;
}
