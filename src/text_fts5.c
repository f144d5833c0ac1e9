/* SPDX-License-Identifier: MIT
 * The kefu analyzer as an FTS5 tokenizer, so the index is built from exactly the tokens
 * that questions are matched with. The only file of the text layer that sees sqlite3.h. */
#include "kefu/text.h"

#include <sqlite3.h>

#include "kefu/mem.h"

typedef struct {
    kf_analyzer *a;
} tokenizer;

typedef struct {
    void *ctx;
    int (*xToken)(void *, int, const char *, int, int, int);
    int ntext;
} emit_ctx;

/* FTS5 passes args from `tokenize='kefu ...'`; there are none to take, and refusing extra
 * ones would only make an index written by a newer kefu unreadable. */
static int tk_create(void *user, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)argv;
    (void)argc;
    *out = NULL;
    tokenizer *t = kf_calloc(1, sizeof(*t));
    if (!t)
        return SQLITE_NOMEM;
    int rc;
    t->a = kf_analyzer_new((const kf_syn *)user, &rc);
    if (!t->a) {
        kf_free(t);
        return rc == KF_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void tk_delete(Fts5Tokenizer *p)
{
    tokenizer *t = (tokenizer *)p;
    if (!t)
        return;
    kf_analyzer_free(t->a);
    kf_free(t);
}

/* Offsets are into the normalised text, which NFKC and t2s can make longer than the
 * input; FTS5 uses them to cut highlight() and snippet() out of the original, so keep them
 * inside it. Highlights are therefore approximate; matching does not depend on them. */
static int emit(void *ud, kf_tok_kind kind, const char *tok, size_t len, size_t start,
                size_t end)
{
    (void)kind;
    emit_ctx *e = ud;
    size_t n = (size_t)e->ntext;
    if (start > n)
        start = n;
    if (end > n)
        end = n;
    return e->xToken(e->ctx, 0, tok, (int)len, (int)start, (int)end);
}

static int tk_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int ntext,
                       int (*xToken)(void *, int, const char *, int, int, int))
{
    (void)flags;
    tokenizer *t = (tokenizer *)p;
    emit_ctx e = {ctx, xToken, ntext < 0 ? 0 : ntext};
    int rc = kf_analyze(t->a, text ? text : "", (size_t)e.ntext, NULL, emit, &e);
    /* Invalid UTF-8 gives no tokens, for queries and documents alike: a query must never
     * fail because of what a visitor typed, and the loader has rejected bad documents
     * already. Positive values are SQLite codes returned by xToken. */
    if (rc == KF_OK || rc == KF_EUTF8)
        return SQLITE_OK;
    if (rc == KF_ENOMEM)
        return SQLITE_NOMEM;
    return rc > 0 ? rc : SQLITE_ERROR;
}

int kf_fts5_register(struct sqlite3 *db, const char *name, const kf_syn *syn)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    int rc = KF_EDB;

    /* The documented way to reach fts5_api since SQLite 3.20: a pointer-passing query. */
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    if (!api || api->iVersion < 2)
        goto out;
    fts5_tokenizer tk = {tk_create, tk_delete, tk_tokenize};
    int src = api->xCreateTokenizer(api, name, (void *)syn, &tk, NULL);
    if (src == SQLITE_OK)
        rc = KF_OK;
    else if (src == SQLITE_NOMEM)
        rc = KF_ENOMEM;
out:
    sqlite3_finalize(st);
    return rc;
}
