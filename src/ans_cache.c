/* SPDX-License-Identifier: MIT
 * The visitor endpoint's cache of encoded answers (ans_cache.h). */
#include "ans_cache.h"

#include <stdint.h>

#include "kefu/mem.h"

static size_t slot_of(const kf_anscache_slot *slots, size_t cap, const void *key, unsigned variant)
{
    uint64_t h = ((uint64_t)(uintptr_t)key ^ variant) * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 32) & (cap - 1);
    while (slots[i].key && !(slots[i].key == key && slots[i].variant == variant))
        i = (i + 1) & (cap - 1);
    return i;
}

const char *kf_anscache_get(const kf_anscache *c, const void *key, unsigned variant, size_t *len)
{
    if (!c->n || !key)
        return NULL;
    const kf_anscache_slot *s = &c->slots[slot_of(c->slots, c->cap, key, variant)];
    if (!s->key)
        return NULL;
    *len = s->len;
    return s->head;
}

static int grow(kf_anscache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    kf_anscache_slot *v = kf_calloc(cap, sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].key)
            v[slot_of(v, cap, c->slots[i].key, c->slots[i].variant)] = c->slots[i];
    kf_free(c->slots);
    c->slots = v;
    c->cap = cap;
    return 0;
}

void kf_anscache_put(kf_anscache *c, const void *key, unsigned variant, char *head, size_t len)
{
    if (!key || c->n >= KF_ANSCACHE_MAX || ((c->n + 1) * 2 > c->cap && grow(c))) {
        kf_free(head);
        return;
    }
    kf_anscache_slot *s = &c->slots[slot_of(c->slots, c->cap, key, variant)];
    if (s->key) { /* kept already: the caller looked first, but be safe */
        kf_free(head);
        return;
    }
    *s = (kf_anscache_slot){key, variant, head, len};
    c->n++;
}

void kf_anscache_clear(kf_anscache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        kf_free(c->slots[i].head);
    kf_free(c->slots);
    *c = (kf_anscache){0};
}
