/* SPDX-License-Identifier: MIT
 * Expected-outcome files (*.test): blocks of a question line and an outcome line, separated
 * by blank lines, '#' lines being comments (docs/knowledge-format.md). Only the syntax is
 * checked here; whether an id exists is the engine's question when it runs the cases. */
#include "kefu/kbtest.h"

#include <string.h>

#include "kefu/kb.h"
#include "kefu/mem.h"
#include "kefu/util.h"

#define TEST_MAX_FILE (16u * 1024 * 1024)

void kf_cases_init(kf_cases *c)
{
    memset(c, 0, sizeof(*c));
}

void kf_cases_cleanup(kf_cases *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        kf_free(c->v[i].question);
        kf_free(c->v[i].expect);
        kf_free(c->v[i].file);
    }
    kf_free(c->v);
    memset(c, 0, sizeof(*c));
}

typedef struct block {
    const char *q, *x; /* question and outcome lines (trimmed), not NUL-terminated */
    size_t qn, xn;
    int qline, xline;
    int n_lines;
    int bad; /* a line of it was already reported */
} block;

static int valid_outcome(const char *s, size_t n)
{
    if (n == 0 || s[0] != '@')
        return kf_kb_id_valid(s, n);
    if ((n == 8 && memcmp(s, "@clarify", 8) == 0) || (n == 9 && memcmp(s, "@fallback", 9) == 0) ||
        (n == 8 && memcmp(s, "@handoff", 8) == 0))
        return 1;
    /* REASON and RULE are single words; the rule name follows the id rules. */
    if (n > 9 && memcmp(s, "@handoff:", 9) == 0)
        return kf_kb_id_valid(s + 9, n - 9);
    if (n > 7 && memcmp(s, "@reply:", 7) == 0)
        return kf_kb_id_valid(s + 7, n - 7);
    return 0;
}

static int end_block(kf_cases *c, block *b, const char *file, kf_diag *d, int *errors)
{
    int rc = KF_OK;
    if (b->n_lines == 0 || b->bad)
        goto out;
    if (b->n_lines == 1) {
        kf_diag_add(d, file, b->qline, "question without an expected outcome");
        (*errors)++;
        goto out;
    }
    if (!valid_outcome(b->x, b->xn)) {
        if (b->x[0] == '@')
            kf_diag_add(d, file, b->xline,
                        "unknown outcome '%.*s' (expected @clarify, @fallback, @handoff, "
                        "@handoff:REASON or @reply:RULE)",
                        (int)b->xn, b->x);
        else
            kf_diag_add(d, file, b->xline,
                        "invalid entry id '%.*s' (ids use letters, digits, '-', '_', '.')",
                        (int)b->xn, b->x);
        (*errors)++;
        goto out;
    }
    if (kf_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v))) {
        rc = KF_ENOMEM;
        goto out;
    }
    kf_case *k = &c->v[c->n];
    k->question = kf_strndup(b->q, b->qn);
    k->expect = kf_strndup(b->x, b->xn);
    k->file = kf_strdup(file);
    k->line = b->qline;
    if (!k->question || !k->expect || !k->file) {
        kf_free(k->question);
        kf_free(k->expect);
        kf_free(k->file);
        rc = KF_ENOMEM;
        goto out;
    }
    c->n++;
out:
    memset(b, 0, sizeof(*b));
    return rc;
}

int kf_cases_parse(kf_cases *c, const char *file, const char *text, size_t len, kf_diag *d)
{
    block b = {0};
    int line = 0, errors = 0, utf8 = 0, rc;

    size_t off = kf_skip_bom(text, len), n;
    const char *s;
    while (kf_next_line(text, len, &off, &s, &n)) {
        line++;
        while (n && kf_is_blank(s[n - 1]))
            n--;
        while (n && kf_is_blank(*s)) {
            s++;
            n--;
        }
        size_t bad;
        if (!kf_utf8_valid(s, n, &bad) || memchr(s, '\0', n)) {
            kf_diag_add(d, file, line, "invalid UTF-8");
            errors++;
            utf8++;
            /* the block is still a block: its other lines must not be misread */
            b.bad = 1;
            b.n_lines++;
            continue;
        }
        if (n && s[0] == '#')
            continue;
        if (n == 0) {
            if ((rc = end_block(c, &b, file, d, &errors)))
                return rc;
            continue;
        }
        b.n_lines++;
        if (b.n_lines == 1) {
            b.q = s;
            b.qn = n;
            b.qline = line;
        } else if (b.n_lines == 2) {
            b.x = s;
            b.xn = n;
            b.xline = line;
        } else if (b.n_lines == 3 && !b.bad) {
            kf_diag_add(d, file, line,
                        "more than two lines in a block (a question, then its outcome; "
                        "separate cases with a blank line)");
            errors++;
            b.bad = 1;
        }
    }
    if ((rc = end_block(c, &b, file, d, &errors)))
        return rc;
    if (utf8)
        return KF_EUTF8;
    return errors ? KF_EPARSE : KF_OK;
}

static int parse_into_cases(void *c, const char *file, const char *text, size_t len,
                            kf_diag *d)
{
    return kf_cases_parse(c, file, text, len, d);
}

int kf_cases_load_dir(kf_cases *c, const char *dir, kf_diag *d)
{
    static const char *const suffixes[] = {".test", NULL};
    int rc = kf_parse_dir(dir, suffixes, TEST_MAX_FILE, 1, parse_into_cases, c, d);
    return rc == KF_ENOTFOUND ? KF_OK : rc;
}
