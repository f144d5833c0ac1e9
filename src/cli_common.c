/* SPDX-License-Identifier: MIT
 * Option parsing and engine loading shared by the CLI commands. */
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/cli.h"
#include "kefu/mem.h"

int kf_cli_parse(int argc, char **argv, kf_cli_opts *o, const char *usage)
{
    memset(o, 0, sizeof(*o));
    kf_engine_config_defaults(&o->cfg);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            fputs(usage, stdout);
            return 2;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--retrieval-only") == 0) {
            o->retrieval_only = 1;
        } else if (strcmp(a, "--tests") == 0) {
            o->tests = 1;
        } else if (strcmp(a, "--kb") == 0) {
            target = &o->cfg.kb_dir;
        } else if (strcmp(a, "--intents") == 0) {
            target = &o->cfg.intents_dir;
        } else if (strcmp(a, "--lang") == 0) {
            target = &o->lang;
        } else if (strcmp(a, "--train") == 0) {
            target = &o->train;
        } else if (strcmp(a, "--test") == 0) {
            target = &o->test;
        } else if (strcmp(a, "--val") == 0) {
            target = &o->val;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            target = &o->out;
        } else if (strcmp(a, "--cases") == 0) {
            target = &o->cases;
        } else if (strcmp(a, "--prefix") == 0) {
            target = &o->prefix;
        } else if (strcmp(a, "--answer-min") == 0 || strcmp(a, "--margin-min") == 0 ||
                   strcmp(a, "--clarify-min") == 0) {
            if (i + 1 >= argc)
                goto missing;
            double v = atof(argv[++i]);
            if (a[2] == 'a')
                o->cfg.answer_min = v;
            else if (a[3] == 'a')
                o->cfg.margin_min = v;
            else
                o->cfg.clarify_min = v;
        } else if (strcmp(a, "--min") == 0) {
            if (i + 1 >= argc)
                goto missing;
            o->min_accuracy = atof(argv[++i]);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "kefu: unknown option '%s'\n%s", a, usage);
            return 2;
        } else {
            if (o->npos >= (int)(sizeof(o->pos) / sizeof(o->pos[0]))) {
                fprintf(stderr, "kefu: too many arguments\n%s", usage);
                return 2;
            }
            o->pos[o->npos++] = a;
        }
        if (target) {
            if (i + 1 >= argc)
                goto missing;
            *target = argv[++i];
        }
    }
    return 0;
missing:
    fprintf(stderr, "kefu: option '%s' needs a value\n%s", argv[argc - 1], usage);
    return 2;
}

kf_engine *kf_cli_load(kf_cli_opts *o, int learned)
{
    kf_diag d;
    kf_diag_init(&d);
    o->cfg.learned = o->retrieval_only ? 0 : learned;
    kf_engine *e = kf_engine_load(&o->cfg, &d);
    if (!e)
        kf_diag_print(&d, stderr);
    kf_diag_cleanup(&d);
    return e;
}

/* Demo values until the server's configuration supplies them (shop_name, var.NAME). */
static const char *const vars[][2] = {
    {"shop", "示例电器商城"},
    {"phone", "400-000-0000"},
    {"email", "service@example.com"},
    {"hours", "每天 9:00–21:00"},
};

char *kf_cli_render(const char *s)
{
    kf_buf b;
    kf_buf_init(&b);
    while (*s) {
        const char *open = strstr(s, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            kf_buf_puts(&b, s);
            break;
        }
        kf_buf_append(&b, s, (size_t)(open - s));
        size_t nl = (size_t)(close - open - 2);
        const char *val = NULL;
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
            if (strlen(vars[i][0]) == nl && memcmp(vars[i][0], open + 2, nl) == 0)
                val = vars[i][1];
        if (val)
            kf_buf_puts(&b, val);
        else
            kf_buf_append(&b, open, (size_t)(close + 2 - open));
        s = close + 2;
    }
    return kf_buf_take(&b);
}
