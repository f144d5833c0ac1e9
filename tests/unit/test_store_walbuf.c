/* SPDX-License-Identifier: MIT
 * store_walbuf (src/store_walbuf.c), the VFS that writes a commit's WAL frames in one go:
 * what it writes is what SQLite asked for, visible to another connection as soon as the
 * commit returns, in as few writes as it promises, whatever the size of the commit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/store_sqlite_int.h"
#include "tmpdb.h"

static char path[64];

static int setup(void **state)
{
    (void)state;
    tmpdb_path(path, sizeof(path), "walbuf");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdb_remove(path);
    return 0;
}

static sqlite3 *open_db(const char *vfs)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                  "PRAGMA wal_autocheckpoint=0; PRAGMA cache_spill=OFF",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static long long one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A commit is in the file when it returns: another connection, on SQLite's own VFS, reads it
 * at once; and one commit of a few pages is one write. */
static void commit_visible_and_one_write(void **state)
{
    (void)state;
    const char *vfs = kf_store_walbuf__vfs();
    assert_non_null(vfs);
    assert_string_equal(vfs, KF_STORE_WALBUF_VFS);
    sqlite3 *w = open_db(vfs), *r = open_db(NULL);
    exec_ok(w, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
    for (int i = 1; i <= 50; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES (printf('%%0300d', %d))", i);
        long before = kf_store_walbuf__flushes();
        exec_ok(w, sql);
        assert_int_equal(kf_store_walbuf__flushes() - before, 1);
        assert_int_equal(one(r, "SELECT count(*) FROM t"), i);
        assert_int_equal(one(r, "SELECT max(k) FROM t"), i);
    }
    assert_int_equal(one(r, "SELECT sum(length(v)) FROM t"), 50 * 300);
    sqlite3_close(r);
    sqlite3_close(w);
}

static void integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* Commits of 1 to 60 pages, so that a commit frame's header falls at every place in the
 * 128 KB buffer, the last bytes included (its page then starts a new buffer, which must be
 * written at once all the same): after each commit another connection checks the whole
 * database, and every few commits copies the WAL into the database file. */
static void every_commit_size(void **state)
{
    (void)state;
    sqlite3 *w = open_db(kf_store_walbuf__vfs()), *r = open_db(NULL);
    exec_ok(w, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
    long rows = 0;
    for (int round = 0; round < 3; round++)
        for (int pages = 1; pages <= 60; pages++) {
            char sql[200];
            snprintf(sql, sizeof(sql),
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
                     " INSERT INTO t(v) SELECT printf('%%03d%%03d%%03d%%03000d', %d, %d, i, 0) "
                     "FROM n",
                     pages, round, pages);
            exec_ok(w, sql);
            rows += pages;
            assert_int_equal(one(r, "SELECT count(*) FROM t"), rows);
            assert_int_equal(one(r, "SELECT sum(length(v)) FROM t"), rows * 3009);
            integrity_ok(r);
            if (pages % 7 == 0)
                assert_int_equal(
                    sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL),
                    SQLITE_OK);
        }
    sqlite3_close(r);
    sqlite3_close(w);
    r = open_db(NULL);
    assert_int_equal(one(r, "SELECT count(*) FROM t"), rows);
    integrity_ok(r);
    sqlite3_close(r);
}

/* A transaction bigger than the buffer and than the page cache (without spills, the pages
 * wait in memory); one rolled back leaves nothing; afterwards the file passes SQLite's
 * integrity check, read without this VFS. */
static void big_and_rolled_back(void **state)
{
    (void)state;
    sqlite3 *w = open_db(kf_store_walbuf__vfs());
    exec_ok(w, "PRAGMA cache_size=16; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
    long before = kf_store_walbuf__flushes();
    exec_ok(w, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 2000) INSERT INTO t(v) SELECT printf('%0500d', i) FROM n; COMMIT");
    long writes = kf_store_walbuf__flushes() - before;
    /* about 1 MB of pages: some tens of writes of up to 128 KB, not one per page */
    assert_true(writes >= 8);
    assert_true(writes < 100);
    assert_int_equal(one(w, "SELECT count(*) FROM t"), 2000);
    exec_ok(w, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 3000) INSERT INTO t(v) SELECT printf('%0700d', i) FROM n;");
    assert_int_equal(one(w, "SELECT count(*) FROM t"), 5000);
    exec_ok(w, "ROLLBACK");
    exec_ok(w, "INSERT INTO t(v) VALUES ('after')");
    assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL),
                     SQLITE_OK);
    exec_ok(w, "INSERT INTO t(v) VALUES ('after the checkpoint')");
    sqlite3_close(w);

    sqlite3 *r = open_db(NULL);
    assert_int_equal(one(r, "SELECT count(*) FROM t"), 2002);
    assert_int_equal(one(r, "SELECT count(*) FROM t WHERE v LIKE 'after%'"), 2);
    integrity_ok(r);
    sqlite3_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commit_visible_and_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(every_commit_size, setup, teardown),
        cmocka_unit_test_setup_teardown(big_and_rolled_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
