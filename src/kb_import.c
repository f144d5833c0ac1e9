/* SPDX-License-Identifier: MIT
 * `kefu import`: question<TAB>answer rows (a QnA Maker or spreadsheet export) turned into kb
 * Markdown that kb_md.c reads back. Rows sharing an answer become one entry with alternates,
 * and every entry gets an explicit anchor so its id survives later edits. */
#include "kefu/kb.h"

#include <string.h>
#include <strings.h>

#include "kefu/buf.h"
#include "kefu/mem.h"
#include "kefu/util.h"

typedef struct group {
    char *answer;
    char **qs;
    size_t n_qs, cap_qs;
} group;

typedef struct groups {
    group *v;
    size_t n, cap;
} groups;

static void groups_cleanup(groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        kf_free(g->v[i].answer);
        for (size_t k = 0; k < g->v[i].n_qs; k++)
            kf_free(g->v[i].qs[k]);
        kf_free(g->v[i].qs);
    }
    kf_free(g->v);
}

/* A spreadsheet quotes a cell that contains quotes: "say ""hi""" -> say "hi". Cells that
 * span lines are not supported (a row is a line). */
static char *cell_dup(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        char *c = kf_malloc(n);
        if (!c)
            return NULL;
        size_t k = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            c[k++] = s[i];
            if (s[i] == '"' && i + 2 < n && s[i + 1] == '"')
                i++;
        }
        c[k] = '\0';
        return c;
    }
    return kf_strndup(s, n);
}

static int add_row(groups *g, char *q, char *a)
{
    group *gr = NULL;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i].answer, a) == 0) {
            gr = &g->v[i];
            break;
        }
    if (!gr) {
        if (kf_grow(&g->v, &g->cap, g->n + 1, sizeof(*g->v)))
            goto fail;
        gr = &g->v[g->n++];
        memset(gr, 0, sizeof(*gr));
        gr->answer = a;
        a = NULL;
    }
    for (size_t k = 0; k < gr->n_qs; k++)
        if (strcmp(gr->qs[k], q) == 0) { /* a repeated row adds nothing */
            kf_free(q);
            kf_free(a);
            return KF_OK;
        }
    if (kf_grow(&gr->qs, &gr->cap_qs, gr->n_qs + 1, sizeof(char *)))
        goto fail;
    gr->qs[gr->n_qs++] = q;
    kf_free(a);
    return KF_OK;
fail:
    kf_free(q);
    kf_free(a);
    return KF_ENOMEM;
}

/* A fence longer than any backtick run at the start of an answer line, so an answer that
 * contains code blocks survives the round trip. */
static size_t fence_len(const char *a)
{
    size_t best = 2;
    for (const char *l = a; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *s = l;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t k = 0;
        while (s[k] == '`')
            k++;
        if (k > best)
            best = k;
    }
    return best + 1;
}

static int emit(kf_buf *b, const char *file, const groups *g, const char *prefix)
{
    const char *base = strrchr(file, '/');
    int rc = kf_buf_printf(b, "> Imported from %s by kefu import.\n", base ? base + 1 : file);
    for (size_t i = 0; !rc && i < g->n; i++) {
        const group *gr = &g->v[i];
        rc = kf_buf_printf(b, "\n<a id = \"%s-%zu\"></a>\n\n# ? %s\n", prefix, i + 1, gr->qs[0]);
        for (size_t k = 1; !rc && k < gr->n_qs; k++)
            rc = kf_buf_printf(b, "- %s\n", gr->qs[k]);
        size_t fl = fence_len(gr->answer);
        rc = rc ? rc : kf_buf_putc(b, '\n');
        for (size_t k = 0; !rc && k < fl; k++)
            rc = kf_buf_putc(b, '`');
        rc = rc ? rc : kf_buf_printf(b, "markdown\n%s\n", gr->answer);
        for (size_t k = 0; !rc && k < fl; k++)
            rc = kf_buf_putc(b, '`');
        rc = rc ? rc : kf_buf_putc(b, '\n');
    }
    return rc;
}

char *kf_kb_import_tsv(const char *file, const char *text, size_t len, const char *id_prefix,
                       kf_diag *d)
{
    groups g = {0};
    kf_buf out;
    int line = 0, errors = 0, first = 1;

    kf_buf_init(&out);
    if (!kf_kb_id_valid(id_prefix, strlen(id_prefix))) {
        kf_diag_add(d, NULL, 0, "invalid id prefix '%s' (use letters, digits, '-', '_', '.')",
                    id_prefix);
        goto fail;
    }
    size_t off = kf_skip_bom(text, len), n;
    const char *ln;
    while (kf_next_line(text, len, &off, &ln, &n)) {
        line++;
        size_t bad;
        if (!kf_utf8_valid(ln, n, &bad) || memchr(ln, '\0', n)) {
            kf_diag_add(d, file, line, "invalid UTF-8");
            errors++;
            continue;
        }
        const char *t = ln;
        size_t tn = n;
        kf_trim(&t, &tn);
        if (!tn)
            continue;
        const char *tab = memchr(ln, '\t', n);
        int header = first && n >= 8 && strncasecmp(ln, "question", 8) == 0;
        first = 0;
        if (header)
            continue;
        if (!tab) {
            kf_diag_add(d, file, line, "no tab (expected question<TAB>answer)");
            errors++;
            continue;
        }
        /* Columns after the second (QnA Maker's Source, Metadata, ...) are dropped. */
        const char *q = ln, *a = tab + 1;
        size_t qn = (size_t)(tab - ln);
        const char *tab2 = memchr(a, '\t', (size_t)(ln + n - a));
        size_t an = (size_t)((tab2 ? tab2 : ln + n) - a);
        kf_trim(&q, &qn);
        kf_trim(&a, &an);
        if (!qn || !an) {
            kf_diag_add(d, file, line, "empty %s", !qn ? "question" : "answer");
            errors++;
            continue;
        }
        char *qs = cell_dup(q, qn), *as = cell_dup(a, an);
        if (!qs || !as) {
            kf_free(qs);
            kf_free(as);
            goto oom;
        }
        if (add_row(&g, qs, as))
            goto oom;
    }
    if (errors)
        goto fail;
    if (g.n == 0) {
        kf_diag_add(d, file, 0, "no question/answer rows");
        goto fail;
    }
    if (emit(&out, file, &g, id_prefix))
        goto oom;
    groups_cleanup(&g);
    return kf_buf_take(&out);
oom:
    kf_diag_add(d, file, 0, "%s", kf_strerror(KF_ENOMEM));
fail:
    groups_cleanup(&g);
    kf_buf_cleanup(&out);
    return NULL;
}
