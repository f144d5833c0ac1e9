/* SPDX-License-Identifier: MIT
 * Error strings and the kf_diag list. */
#include "kefu/err.h"

#include <stdarg.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/mem.h"

const char *kf_strerror(int code)
{
    switch (code) {
    case KF_OK: return "success";
    case KF_ENOMEM: return "out of memory";
    case KF_EINVAL: return "invalid argument";
    case KF_EIO: return "input/output error";
    case KF_ENOTFOUND: return "not found";
    case KF_ELIMIT: return "limit exceeded";
    case KF_EPARSE: return "parse error";
    case KF_EUTF8: return "invalid UTF-8";
    case KF_EDB: return "database error";
    case KF_EEMPTY: return "empty input";
    case KF_EBUSY: return "busy";
    case KF_EEXIST: return "already exists";
    default: return "unknown error";
    }
}

void kf_diag_init(kf_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void kf_diag_cleanup(kf_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        kf_free(d->items[i].file);
        kf_free(d->items[i].msg);
    }
    kf_free(d->items);
    memset(d, 0, sizeof(*d));
}

void kf_diag_add(kf_diag *d, const char *file, int line, const char *fmt, ...)
{
    kf_buf b;
    va_list ap;
    char *msg = NULL, *f = NULL;

    kf_buf_init(&b);
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(tmp)) {
        va_start(ap, fmt);
        char *big = kf_malloc((size_t)n + 1);
        if (big)
            vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        msg = big;
    } else {
        msg = kf_strdup(tmp);
    }
    if (file)
        f = kf_strdup(file);
    if (!msg || (file && !f) || kf_grow(&d->items, &d->cap, d->n + 1, sizeof(*d->items))) {
        kf_free(msg);
        kf_free(f);
        d->oom = 1;
        return;
    }
    d->items[d->n].file = f;
    d->items[d->n].line = line;
    d->items[d->n].msg = msg;
    d->n++;
}

size_t kf_diag_count(const kf_diag *d)
{
    return d->n + (d->oom && d->n == 0 ? 1 : 0);
}

void kf_diag_print(const kf_diag *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const kf_diag_item *it = &d->items[i];
        if (it->file && it->line > 0)
            fprintf(out, "%s:%d: %s\n", it->file, it->line, it->msg);
        else if (it->file)
            fprintf(out, "%s: %s\n", it->file, it->msg);
        else
            fprintf(out, "%s\n", it->msg);
    }
    if (d->oom)
        fprintf(out, "(some diagnostics were lost: out of memory)\n");
}

void kf_diag_move(kf_diag *dst, kf_diag *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (kf_grow(&dst->items, &dst->cap, dst->n + 1, sizeof(*dst->items))) {
            kf_free(src->items[i].file);
            kf_free(src->items[i].msg);
            dst->oom = 1;
            continue;
        }
        dst->items[dst->n++] = src->items[i];
    }
    dst->oom |= src->oom;
    kf_free(src->items);
    memset(src, 0, sizeof(*src));
}
