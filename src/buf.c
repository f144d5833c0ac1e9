/* SPDX-License-Identifier: MIT
 * Growable NUL-terminated byte buffer. */
#include "kefu/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kefu/err.h"
#include "kefu/mem.h"

void kf_buf_init(kf_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void kf_buf_cleanup(kf_buf *b)
{
    kf_free(b->data);
    kf_buf_init(b);
}

void kf_buf_reset(kf_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int kf_buf_reserve(kf_buf *b, size_t extra)
{
    if (b->len + extra + 1 < b->len)
        return KF_ENOMEM;
    return kf_grow(&b->data, &b->cap, b->len + extra + 1, 1);
}

int kf_buf_append(kf_buf *b, const void *p, size_t n)
{
    if (kf_buf_reserve(b, n))
        return KF_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KF_OK;
}

int kf_buf_puts(kf_buf *b, const char *s)
{
    return kf_buf_append(b, s, strlen(s));
}

int kf_buf_putc(kf_buf *b, char c)
{
    return kf_buf_append(b, &c, 1);
}

int kf_buf_printf(kf_buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return KF_EINVAL;
    if ((size_t)n < sizeof(tmp))
        return kf_buf_append(b, tmp, (size_t)n);
    if (kf_buf_reserve(b, (size_t)n))
        return KF_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KF_OK;
}

char *kf_buf_take(kf_buf *b)
{
    char *d = b->data;
    if (!d)
        d = kf_strdup("");
    kf_buf_init(b);
    return d;
}
