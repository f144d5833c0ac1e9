/* SPDX-License-Identifier: MIT
 * Shared between the SQLite backend's files: store_sqlite.c (schema, connection, the
 * statements of the live path) and store_sqlite_report.c (reports, purge, export). The
 * report side takes the connection only: its statements run rarely, so they are prepared per
 * call and need none of the live path's state. */
#ifndef KEFU_STORE_SQLITE_INT_H
#define KEFU_STORE_SQLITE_INT_H

#include <stdint.h>

#include "kefu/store.h"

struct sqlite3;

int kf_store_sqlite__report(struct sqlite3 *db, const kf_report_query *q,
                            const kf_report_sink *k);
int kf_store_sqlite__purge(struct sqlite3 *db, int64_t before_ms, kf_purge_counts *out);
int kf_store_sqlite__vacuum(struct sqlite3 *db);
int kf_store_sqlite__export(struct sqlite3 *db, int64_t id, char **json);
/* WAL tails copied by a connection before its write, since the process started: each one
 * lets that write start the WAL over (store_sqlite.c, CKPT_RESTART_FRAMES; for the tests). */
long kf_store_sqlite__tail_copies(void);

/* store_walbuf.c: the VFS every file connection of the store opens with, which writes a
 * commit's WAL frames with one pwrite() per 128 KB instead of two per page. Registers it on the first call; NULL (use SQLite's
 * default VFS) if it could not be registered. */
#define KF_STORE_WALBUF_VFS "kefu-walbuf"
const char *kf_store_walbuf__vfs(void);
/* Buffers written out since the process started (for the tests). */
long kf_store_walbuf__flushes(void);

#endif
