/* SPDX-License-Identifier: MIT
 * `kefu import FILE.tsv`: a question<TAB>answer export (QnA Maker, spreadsheets) to a kb
 * Markdown file. */
#include <stdio.h>
#include <string.h>

#include "kefu/cli.h"
#include "kefu/kb.h"
#include "kefu/mem.h"
#include "kefu/util.h"

static const char usage[] =
    "usage: kefu import FILE.tsv [--prefix ID_PREFIX] [-o OUT.md]\n"
    "  Converts question<TAB>answer lines into kb Markdown with stable ids\n"
    "  (PREFIX-1, PREFIX-2, ...); rows with the same answer become one entry.\n";

int kf_cli_import(int argc, char **argv)
{
    kf_cli_opts o;
    char *data = NULL, *md = NULL;
    size_t len = 0;
    kf_diag d;
    int status = 1;

    if (kf_cli_parse(argc, argv, &o, usage))
        return o.help ? 0 : 2;
    if (o.npos != 1) {
        fputs(usage, stderr);
        return 2;
    }
    kf_diag_init(&d);
    int rc = kf_read_file(o.pos[0], 64u << 20, &data, &len);
    if (rc) {
        fprintf(stderr, "kefu: %s: %s\n", o.pos[0], kf_strerror(rc));
        goto out;
    }
    md = kf_kb_import_tsv(o.pos[0], data, len, o.prefix ? o.prefix : "faq", &d);
    if (!md) {
        kf_diag_print(&d, stderr);
        goto out;
    }
    FILE *f = o.out ? fopen(o.out, "w") : stdout;
    if (!f) {
        perror(o.out);
        goto out;
    }
    fputs(md, f);
    if (o.out && fclose(f) != 0) {
        perror(o.out);
        goto out;
    }
    status = 0;
out:
    kf_diag_cleanup(&d);
    kf_free(data);
    kf_free(md);
    return status;
}
