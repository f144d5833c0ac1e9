/* SPDX-License-Identifier: MIT
 * Agent passwords: yescrypt through libcrypt's crypt_r (a slow, salted, standard scheme, the
 * one Debian uses for /etc/shadow), random passwords for `kefu agent add --random` and the
 * demo agent, and a fixed-window failure counter for rate-limiting logins. */
#ifndef KEFU_AUTH_H
#define KEFU_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/err.h"

#define KF_AUTH_HASH_MAX 256
#define KF_AUTH_MAX_PASSWORD 512

/* Hashes password with a fresh yescrypt salt into out (crypt(3) form "$y$..."). KF_EINVAL for
 * an empty or too long password, KF_EIO when libcrypt fails. Costs tens of milliseconds. */
int kf_auth_hash(const char *password, char out[KF_AUTH_HASH_MAX]);
/* 1 if password matches hash, else 0 (also for a malformed hash). Constant time in the
 * comparison; the hashing dominates anyway. */
int kf_auth_verify(const char *password, const char *hash);
/* A random password of n characters (letters and digits; n < size) into out. KF_EIO. */
int kf_auth_random_password(char *out, size_t n);

/* ---- failed-login limiter ------------------------------------------------------ */

/* Failures per key (a name or an address) within a window; a key with max failures in the
 * current window is locked until the window ends. Keys are forgotten when their window has
 * passed. Not thread-safe; the event loop's. */
typedef struct kf_auth_limiter kf_auth_limiter;

kf_auth_limiter *kf_auth_limiter_new(int max_failures, int64_t window_ms);
void kf_auth_limiter_free(kf_auth_limiter *l);
/* 0 when the key may try now, else the milliseconds until it may. */
int64_t kf_auth_limiter_check(kf_auth_limiter *l, const char *key, int64_t now_ms);
/* Counts a failure (KF_ENOMEM: not counted). */
int kf_auth_limiter_fail(kf_auth_limiter *l, const char *key, int64_t now_ms);
/* A success clears the key's failures. */
void kf_auth_limiter_clear(kf_auth_limiter *l, const char *key);

#endif
