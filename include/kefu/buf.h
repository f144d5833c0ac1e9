/* SPDX-License-Identifier: MIT
 * A growable byte buffer, always NUL-terminated after a successful append. */
#ifndef KEFU_BUF_H
#define KEFU_BUF_H

#include <stddef.h>

typedef struct kf_buf {
    char *data; /* read-only; NULL until the first append */
    size_t len; /* read-only */
    size_t cap; /* private */
} kf_buf;

void kf_buf_init(kf_buf *b);
void kf_buf_cleanup(kf_buf *b);
void kf_buf_reset(kf_buf *b); /* len = 0, keeps the memory */
/* Room for n more bytes, so that appending them does not reallocate. */
int kf_buf_reserve(kf_buf *b, size_t n);
int kf_buf_append(kf_buf *b, const void *p, size_t n);
int kf_buf_puts(kf_buf *b, const char *s);
int kf_buf_putc(kf_buf *b, char c);
int kf_buf_printf(kf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the data (owned by the caller, "" if empty) and leaves b empty; NULL on ENOMEM. */
char *kf_buf_take(kf_buf *b);

#endif
