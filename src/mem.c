/* SPDX-License-Identifier: MIT
 * kf_malloc and friends: a thin layer over libc with a failure hook for tests and a
 * running count of requested bytes (a header before each block stores its size). */
#include "kefu/mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/err.h"

/* The header keeps max_align_t alignment for the block that follows it. */
typedef union {
    size_t size;
    max_align_t align;
} hdr;

static kf_mem_fail_fn fail_hook;
static atomic_size_t in_use;

void kf_mem_set_fail_hook(kf_mem_fail_fn fn)
{
    fail_hook = fn;
}

size_t kf_mem_in_use(void)
{
    return atomic_load(&in_use);
}

void *kf_malloc(size_t n)
{
    if (fail_hook && fail_hook(n))
        return NULL;
    if (n > SIZE_MAX - sizeof(hdr))
        return NULL;
    hdr *h = malloc(sizeof(hdr) + n);
    if (!h)
        return NULL;
    h->size = n;
    atomic_fetch_add(&in_use, n);
    return h + 1;
}

void *kf_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = kf_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *kf_realloc(void *p, size_t n)
{
    if (!p)
        return kf_malloc(n);
    if (fail_hook && fail_hook(n))
        return NULL;
    if (n > SIZE_MAX - sizeof(hdr))
        return NULL;
    hdr *old = (hdr *)p - 1;
    size_t oldn = old->size;
    hdr *h = realloc(old, sizeof(hdr) + n);
    if (!h)
        return NULL;
    h->size = n;
    atomic_fetch_sub(&in_use, oldn);
    atomic_fetch_add(&in_use, n);
    return h + 1;
}

void kf_free(void *p)
{
    if (!p)
        return;
    hdr *h = (hdr *)p - 1;
    atomic_fetch_sub(&in_use, h->size);
    free(h);
}

char *kf_strndup(const char *s, size_t n)
{
    char *d = kf_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kf_strdup(const char *s)
{
    return kf_strndup(s, strlen(s));
}

int kf_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    void **a = arr;
    if (need <= *cap)
        return KF_OK;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return KF_ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem)
        return KF_ENOMEM;
    void *p = kf_realloc(*a, nc * elem);
    if (!p)
        return KF_ENOMEM;
    *a = p;
    *cap = nc;
    return KF_OK;
}
