/* SPDX-License-Identifier: MIT
 * Allocation with accounting and a failure hook, so tests can make any allocation fail.
 * Every allocation in kefu goes through these; results are always checked. */
#ifndef KEFU_MEM_H
#define KEFU_MEM_H

#include <stddef.h>

void *kf_malloc(size_t n);
void *kf_calloc(size_t count, size_t size);
void *kf_realloc(void *p, size_t n);
void kf_free(void *p);
char *kf_strdup(const char *s);
char *kf_strndup(const char *s, size_t n);
/* Grows *arr (of elements of size elem) so that it holds at least need elements;
 * *cap is updated. Returns KF_OK or KF_ENOMEM (then *arr is unchanged). */
int kf_grow(void *arr, size_t *cap, size_t need, size_t elem);

/* Test hook: when set, an allocation fails if the hook returns non-zero. */
typedef int (*kf_mem_fail_fn)(size_t n);
void kf_mem_set_fail_hook(kf_mem_fail_fn fn);
/* Bytes currently allocated through kf_malloc and friends (approximate: requested sizes). */
size_t kf_mem_in_use(void);

#endif
