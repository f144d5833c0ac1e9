/* SPDX-License-Identifier: MIT
 * Internal to the visitor endpoint (ws_visitor.c): the bot's answers encoded once. From one
 * question to the next an entry's answer frame differs only by its confidence, so each entry
 * version's frame (its {{vars}} rendered, its prompts) is kept encoded up to the confidence
 * (proto.c's kf_proto_answer_head), and answering writes the number after it
 * (kf_proto_answer_with) instead of building and encoding the frame. A head is keyed by the
 * version (a pointer into the knowledge) and a variant (the answer's language, and whether
 * it is a fallback language). It holds for one snapshot of the knowledge: the server clears
 * the cache when it swaps in another. Bounded: past KF_ANSCACHE_MAX heads, new ones are not
 * kept. Loop thread only. */
#ifndef KEFU_ANS_CACHE_H
#define KEFU_ANS_CACHE_H

#include <stddef.h>

#define KF_ANSCACHE_MAX 16384

typedef struct kf_anscache_slot {
    const void *key; /* NULL: a free slot */
    unsigned variant;
    char *head;
    size_t len;
} kf_anscache_slot;

typedef struct kf_anscache {
    kf_anscache_slot *slots; /* open addressing, cap a power of two, at most half full */
    size_t cap, n;
} kf_anscache; /* all zero: empty */

/* The head kept for (key, variant), *len its length; NULL if none. */
const char *kf_anscache_get(const kf_anscache *c, const void *key, unsigned variant, size_t *len);
/* Keeps head (taken: freed if it cannot be kept, the cache being full or out of memory) for
 * (key, variant), which has none yet. */
void kf_anscache_put(kf_anscache *c, const void *key, unsigned variant, char *head, size_t len);
/* Forgets every head and frees the table. */
void kf_anscache_clear(kf_anscache *c);

#endif
