/* SPDX-License-Identifier: MIT
 * store_walbuf: an SQLite VFS over the default one ("unix") that writes a transaction's WAL
 * frames with one system call instead of two per page.
 *
 * SQLite appends each frame of the write-ahead log as two writes, its 24-byte header and then
 * the page. Under load a group commit writes about a thousand pages, and those two thousand
 * pwrite() calls were the largest single cost of the store's writer thread
 * (docs/performance.md). This VFS gathers the appends to a WAL file in memory, in order, and
 * writes them out when the transaction's commit frame is complete, so one pwrite() carries the
 * whole commit.
 *
 * Why the moment is safe: SQLite makes a commit visible to other connections by updating the
 * WAL index (shared memory) right after writing the frames, with no call on the WAL file in
 * between when synchronous is NORMAL. So the buffer must be in the file before the last write
 * of the commit returns: the commit frame is the one whose header has a non-zero "database
 * size after commit" field, and the write that follows its header is its page. Everything
 * else that could see the file first writes the buffer out: a read (SQLite re-reading a page
 * it spilled), a write that does not follow the buffer, sync, truncate, size, file control,
 * close. A failing write (a full disk) fails the commit's own write, so SQLite reports it and
 * rolls the transaction back as it would without this layer. A process killed with frames
 * still in memory loses only a transaction that had not committed.
 *
 * What it asks of its users: PRAGMA cache_spill=OFF on every connection that writes. A
 * spilled page is a frame written before the commit; if that transaction then rolls back,
 * the frames would wait in the buffer past the end of the transaction, and be written later
 * over frames another connection has committed meanwhile. Without spills every set of frames
 * SQLite writes ends with a commit frame, so the buffer is empty whenever a transaction ends.
 *
 * Every other file (the database, its shared memory, journals) is the default VFS's own
 * object, untouched: xOpen hands those straight to it. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

/* Bytes gathered at most before they are written anyway: the default VFS writes at most
 * 0x1ffff bytes per call (the rest would be a short write, reported as a full disk), so a
 * buffer is 31 frames of 4 KB pages. */
#define WB_CAP 0x1ffff
#define WAL_HDR 32       /* the WAL file's own header; frames follow it */
#define WAL_FRAME_HDR 24 /* each frame's header, written before its page */

typedef struct wb_file {
    sqlite3_file base;  /* methods: wb_io */
    sqlite3_file *real; /* the default VFS's file, in the bytes right after this struct */
    unsigned char *buf; /* allocated by the first append, freed on close */
    sqlite3_int64 off;  /* file offset of buf[0] */
    int len;
    int commit_due; /* the last write was a commit frame's header: write all out after its page */
} wb_file;

static sqlite3_vfs *wb_real;
static sqlite3_vfs wb_vfs;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_registered;
static _Atomic long wb_flushes; /* kf_store_walbuf__flushes(): what the tests count */

#define REAL(f) (((wb_file *)(f))->real)

static int wb_flush(wb_file *f)
{
    if (!f->len)
        return SQLITE_OK;
    int rc = REAL(f)->pMethods->xWrite(REAL(f), f->buf, f->len, f->off);
    f->len = 0;
    wb_flushes++;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    wb_file *f = (wb_file *)file;
    int rc = wb_flush(f);
    int rc2 = REAL(f)->pMethods->xClose(REAL(f));
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xRead(REAL(file), p, n, off);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int wb_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)file;
    int rc;
    /* the write after a commit frame's header is its page (whatever was flushed between) */
    int commit_page = f->commit_due;
    f->commit_due = n == WAL_FRAME_HDR && off >= WAL_HDR && be32((const unsigned char *)p + 4) != 0;
    if (!(f->len && off == f->off + f->len && f->len + n <= WB_CAP)) {
        /* not an append to what is gathered: write that out, then start again here */
        if ((rc = wb_flush(f)) != SQLITE_OK)
            return rc;
        if (!f->buf && n <= WB_CAP)
            f->buf = malloc(WB_CAP);
        if (!f->buf || n > WB_CAP) /* no memory, or too big: straight through */
            return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
        f->off = off;
    }
    memcpy(f->buf + f->len, p, (size_t)n);
    f->len += n;
    if (commit_page) /* the commit frame's page: the transaction is complete */
        return wb_flush(f);
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int wb_lock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int wb_device_characteristics(sqlite3_file *file)
{
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

/* A WAL file has no shared memory and is never memory-mapped by SQLite; these pass through
 * for completeness of the version-3 method table. */
static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(file)->pMethods->xShmMap(REAL(file), pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *file)
{
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int wb_shm_unmap(sqlite3_file *file, int del)
{
    return REAL(file)->pMethods->xShmUnmap(REAL(file), del);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
    int rc = wb_flush((wb_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFetch(REAL(file), off, n, pp);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return REAL(file)->pMethods->xUnfetch(REAL(file), off, p);
}

static const sqlite3_io_methods wb_io = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL)) /* the default VFS's object, in our (larger) space */
        return wb_real->xOpen(wb_real, name, file, flags, out_flags);
    wb_file *f = (wb_file *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    int rc = wb_real->xOpen(wb_real, name, f->real, flags, out_flags);
    /* a file whose open failed has no methods, so SQLite will not close it */
    f->base.pMethods = rc == SQLITE_OK ? &wb_io : NULL;
    return rc;
}

static void wb_register(void)
{
    wb_real = sqlite3_vfs_find(NULL);
    if (!wb_real || wb_real->iVersion < 1)
        return;
    wb_vfs = *wb_real; /* every other method is the default VFS's own */
    wb_vfs.pNext = NULL;
    wb_vfs.zName = KF_STORE_WALBUF_VFS;
    /* wb_file is a multiple of 8 bytes (two pointers, an int64...): the real file after it
     * is aligned as the default VFS expects. */
    wb_vfs.szOsFile = (int)sizeof(wb_file) + wb_real->szOsFile;
    wb_vfs.xOpen = wb_open;
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *kf_store_walbuf__vfs(void)
{
    pthread_once(&wb_once, wb_register);
    return wb_registered ? KF_STORE_WALBUF_VFS : NULL;
}

long kf_store_walbuf__flushes(void)
{
    return wb_flushes;
}
