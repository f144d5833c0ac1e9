/* SPDX-License-Identifier: MIT
 * Password hashing with libcrypt (yescrypt, crypt_gensalt_rn + crypt_r), random passwords
 * and the failed-login limiter. */
#include "kefu/auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kefu/mem.h"

static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return KF_EIO;
        }
        got += (size_t)r;
    }
    return KF_OK;
}

int kf_auth_hash(const char *password, char out[KF_AUTH_HASH_MAX])
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    unsigned char rnd[32];
    struct crypt_data *cd = NULL;
    int rc = KF_EIO;

    if (!password[0] || strlen(password) > KF_AUTH_MAX_PASSWORD)
        return KF_EINVAL;
    if (random_bytes(rnd, sizeof(rnd)))
        return KF_EIO;
    /* count 0: libcrypt's default cost for yescrypt */
    if (!crypt_gensalt_rn("$y$", 0, (const char *)rnd, (int)sizeof(rnd), salt, sizeof(salt)))
        return KF_EIO;
    cd = kf_calloc(1, sizeof(*cd)); /* 32 KiB: not on the stack */
    if (!cd)
        return KF_ENOMEM;
    const char *h = crypt_r(password, salt, cd);
    if (h && h[0] == '$' && strlen(h) < KF_AUTH_HASH_MAX) {
        snprintf(out, KF_AUTH_HASH_MAX, "%s", h);
        rc = KF_OK;
    }
    explicit_bzero(cd, sizeof(*cd));
    kf_free(cd);
    return rc;
}

int kf_auth_verify(const char *password, const char *hash)
{
    struct crypt_data *cd = NULL;
    int ok = 0;
    if (!hash || hash[0] != '$' || strlen(password) > KF_AUTH_MAX_PASSWORD)
        return 0;
    cd = kf_calloc(1, sizeof(*cd));
    if (!cd)
        return 0;
    const char *h = crypt_r(password, hash, cd);
    if (h && h[0] == '$') {
        size_t a = strlen(h), b = strlen(hash);
        unsigned char diff = a != b;
        for (size_t i = 0; i < a && i < b; i++)
            diff |= (unsigned char)(h[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    kf_free(cd);
    return ok;
}

int kf_auth_random_password(char *out, size_t n)
{
    static const char set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char b;
    size_t i = 0;
    while (i < n) {
        if (random_bytes(&b, 1))
            return KF_EIO;
        if (b >= 256 - 256 % (sizeof(set) - 1)) /* no modulo bias */
            continue;
        out[i++] = set[b % (sizeof(set) - 1)];
    }
    out[n] = '\0';
    return KF_OK;
}

/* ---- limiter ------------------------------------------------------------------ */

typedef struct lim_ent {
    char key[72];
    int failures;
    int64_t start_ms;
} lim_ent;

struct kf_auth_limiter {
    lim_ent *e;
    size_t n, cap;
    int max;
    int64_t window;
};

kf_auth_limiter *kf_auth_limiter_new(int max_failures, int64_t window_ms)
{
    kf_auth_limiter *l = kf_calloc(1, sizeof(*l));
    if (l) {
        l->max = max_failures;
        l->window = window_ms;
    }
    return l;
}

void kf_auth_limiter_free(kf_auth_limiter *l)
{
    if (!l)
        return;
    kf_free(l->e);
    kf_free(l);
}

static void sweep(kf_auth_limiter *l, int64_t now)
{
    size_t j = 0;
    for (size_t i = 0; i < l->n; i++)
        if (now - l->e[i].start_ms < l->window)
            l->e[j++] = l->e[i];
    l->n = j;
}

static lim_ent *find(kf_auth_limiter *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strncmp(l->e[i].key, key, sizeof(l->e[i].key) - 1))
            return &l->e[i];
    return NULL;
}

int64_t kf_auth_limiter_check(kf_auth_limiter *l, const char *key, int64_t now_ms)
{
    sweep(l, now_ms);
    lim_ent *e = find(l, key);
    if (!e || e->failures < l->max)
        return 0;
    return e->start_ms + l->window - now_ms;
}

int kf_auth_limiter_fail(kf_auth_limiter *l, const char *key, int64_t now_ms)
{
    sweep(l, now_ms);
    lim_ent *e = find(l, key);
    if (!e) {
        if (kf_grow(&l->e, &l->cap, l->n + 1, sizeof(lim_ent)))
            return KF_ENOMEM;
        e = &l->e[l->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->start_ms = now_ms;
    }
    e->failures++;
    return KF_OK;
}

void kf_auth_limiter_clear(kf_auth_limiter *l, const char *key)
{
    lim_ent *e = find(l, key);
    if (e)
        *e = l->e[--l->n];
}
