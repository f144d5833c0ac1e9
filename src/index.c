/* SPDX-License-Identifier: MIT
 * The FTS5 index of a snapshot (see index.h): an in-memory SQLite database, two FTS5 tables
 * tokenized by kefu's tokenizer, statements prepared once. The query builder quotes every
 * term, which is FTS5's documented way to make any string a plain token sequence. */
#include "kefu/index.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "kefu/err.h"
#include "kefu/log.h"
#include "kefu/mem.h"

struct kf_index {
    sqlite3 *db;
    sqlite3_stmt *ins[2];
    sqlite3_stmt *sel[2];
    pthread_mutex_t lock;
};

static const char *const table_name[2] = {"phr", "ans"};

kf_index *kf_index_new(const kf_syn *syn, int *err)
{
    kf_index *x = kf_calloc(1, sizeof(*x));
    int rc = KF_ENOMEM;
    char sql[256];

    if (!x)
        goto fail;
    pthread_mutex_init(&x->lock, NULL);
    rc = KF_EDB;
    if (sqlite3_open_v2(":memory:", &x->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        goto fail;
    if ((rc = kf_fts5_register(x->db, "kefu", syn)))
        goto fail;
    rc = KF_EDB;
    for (int t = 0; t < 2; t++) {
        /* detail=column: we rank with BM25 and never run phrase queries across tokens
         * of different terms, but quoted Han bigrams are phrases of 3 tokens (unigram,
         * bigram, unigram), so positions are needed: keep detail=full. */
        snprintf(sql, sizeof(sql), "CREATE VIRTUAL TABLE %s USING fts5(t, tokenize='kefu')",
                 table_name[t]);
        if (sqlite3_exec(x->db, sql, NULL, NULL, NULL))
            goto fail;
        snprintf(sql, sizeof(sql), "INSERT INTO %s(rowid, t) VALUES (?1, ?2)", table_name[t]);
        if (sqlite3_prepare_v3(x->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &x->ins[t], NULL))
            goto fail;
        snprintf(sql, sizeof(sql),
                 "SELECT rowid, -bm25(%s) FROM %s WHERE %s MATCH ?1 ORDER BY bm25(%s) LIMIT ?2",
                 table_name[t], table_name[t], table_name[t], table_name[t]);
        if (sqlite3_prepare_v3(x->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &x->sel[t], NULL))
            goto fail;
    }
    return x;
fail:
    if (x && x->db)
        kf_log(KF_LOG_ERR, "index: %s", sqlite3_errmsg(x->db));
    kf_index_free(x);
    if (err)
        *err = rc;
    return NULL;
}

void kf_index_free(kf_index *x)
{
    if (!x)
        return;
    for (int t = 0; t < 2; t++) {
        sqlite3_finalize(x->ins[t]);
        sqlite3_finalize(x->sel[t]);
    }
    sqlite3_close(x->db);
    pthread_mutex_destroy(&x->lock);
    kf_free(x);
}

int kf_index_begin(kf_index *x)
{
    return sqlite3_exec(x->db, "BEGIN", NULL, NULL, NULL) ? KF_EDB : KF_OK;
}

int kf_index_commit(kf_index *x)
{
    return sqlite3_exec(x->db, "COMMIT", NULL, NULL, NULL) ? KF_EDB : KF_OK;
}

int kf_index_add(kf_index *x, kf_index_table t, int64_t rowid, const char *text)
{
    sqlite3_stmt *s = x->ins[t];
    sqlite3_bind_int64(s, 1, rowid);
    sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? KF_OK : KF_EDB;
}

int kf_index_build_query(const char *const *terms, const size_t *lens, size_t n, kf_buf *out)
{
    kf_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (i && kf_buf_puts(out, " OR "))
            return KF_ENOMEM;
        if (kf_buf_putc(out, '"'))
            return KF_ENOMEM;
        for (size_t k = 0; k < lens[i]; k++) {
            char c = terms[i][k];
            if (c == '"' && kf_buf_putc(out, '"'))
                return KF_ENOMEM;
            if (c == '\0')
                continue; /* a NUL would end the query string early */
            if (kf_buf_putc(out, c))
                return KF_ENOMEM;
        }
        if (kf_buf_putc(out, '"'))
            return KF_ENOMEM;
    }
    return KF_OK;
}

int kf_index_query(kf_index *x, kf_index_table t, const char *fts_query, kf_index_hit *hits,
                   size_t max)
{
    int n = 0, rc;
    if (!fts_query || !*fts_query || max == 0)
        return 0;
    pthread_mutex_lock(&x->lock);
    sqlite3_stmt *s = x->sel[t];
    sqlite3_bind_text(s, 1, fts_query, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && (size_t)n < max) {
        hits[n].rowid = sqlite3_column_int64(s, 0);
        hits[n].score = sqlite3_column_double(s, 1);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        kf_log(KF_LOG_ERR, "index query: %s", sqlite3_errmsg(x->db));
        n = KF_EDB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&x->lock);
    return n;
}
