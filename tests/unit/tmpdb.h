/* SPDX-License-Identifier: MIT
 * Shared by the unit tests of the store: a database path of this process under /tmp, and its
 * removal with the WAL and shared-memory files SQLite puts beside it. */
#ifndef KEFU_TEST_TMPDB_H
#define KEFU_TEST_TMPDB_H

#include <stdio.h>
#include <unistd.h>

/* Fills path with /tmp/kefu-test-NAME-PID.db. */
static inline void tmpdb_path(char *path, size_t size, const char *name)
{
    snprintf(path, size, "/tmp/kefu-test-%s-%d.db", name, (int)getpid());
}

/* Removes path, path-wal and path-shm. */
static inline void tmpdb_remove(const char *path)
{
    char p[300];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

#endif
