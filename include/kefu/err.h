/* SPDX-License-Identifier: MIT
 * Error codes shared by every module, and kf_diag: a list of `file:line: message`
 * diagnostics that parsers append to and keep going. */
#ifndef KEFU_ERR_H
#define KEFU_ERR_H

#include <stddef.h>
#include <stdio.h>

/* Every int-returning function returns KF_OK or one of these negative codes. */
enum {
    KF_OK = 0,
    KF_ENOMEM = -1,   /* allocation failed */
    KF_EINVAL = -2,   /* invalid argument or input */
    KF_EIO = -3,      /* file or system I/O failed */
    KF_ENOTFOUND = -4,
    KF_ELIMIT = -5,   /* a configured limit was reached */
    KF_EPARSE = -6,   /* input did not parse; details in a kf_diag */
    KF_EUTF8 = -7,    /* invalid UTF-8 */
    KF_EDB = -8,      /* database error */
    KF_EEMPTY = -9,   /* empty input */
    KF_EBUSY = -10,
    KF_EEXIST = -11, /* already there (a unique key) */
};

/* A static English description of an error code; never NULL. */
const char *kf_strerror(int code);

/* ---- diagnostics ---------------------------------------------------------- */

typedef struct kf_diag_item {
    char *file; /* owned; may be NULL */
    int line;   /* 1-based; 0 when not tied to a line */
    char *msg;  /* owned */
} kf_diag_item;

/* Caller's storage; kf_diag_init() before use, kf_diag_cleanup() after. */
typedef struct kf_diag {
    kf_diag_item *items; /* read-only */
    size_t n;            /* read-only */
    size_t cap;          /* private */
    int oom;             /* private: set when an item could not be stored */
} kf_diag;

void kf_diag_init(kf_diag *d);
void kf_diag_cleanup(kf_diag *d);
/* Appends "file:line: message". Never fails visibly: on allocation failure the list
 * remembers that something was lost and kf_diag_count() still reports an error. */
void kf_diag_add(kf_diag *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Number of diagnostics (at least 1 if any add failed for lack of memory). */
size_t kf_diag_count(const kf_diag *d);
/* Prints one `file:line: message` per line. */
void kf_diag_print(const kf_diag *d, FILE *out);
/* Moves every item of src to the end of dst; src is left empty. */
void kf_diag_move(kf_diag *dst, kf_diag *src);

#endif
