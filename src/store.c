/* SPDX-License-Identifier: MIT
 * The store interface's shared parts: session tokens and the thin wrappers that dispatch to
 * a backend's ops. The SQLite backend lives in store_sqlite.c. */
#include "kefu/store.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kefu/mem.h"

int kf_store_token_new(char out[KF_TOKEN_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[KF_TOKEN_HEX / 2];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return KF_EIO;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[KF_TOKEN_HEX] = '\0';
    return KF_OK;
}

int kf_store_token_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')) || i >= KF_TOKEN_HEX)
            return 0;
    return i == KF_TOKEN_HEX;
}

int64_t kf_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kf_store_close(kf_store *s)
{
    if (!s)
        return;
    s->ops->close(s->be);
    kf_free(s);
}

int kf_store_conv_create(kf_store *s, const char *token, const char *lang, const char *page,
                         int64_t now_ms, kf_conv *out)
{
    return s->ops->conv_create(s->be, token, lang, page, now_ms, out);
}

int kf_store_conv_find(kf_store *s, const char *token, kf_conv *out)
{
    return s->ops->conv_find(s->be, token, out);
}

int kf_store_conv_update(kf_store *s, int64_t id, const char *lang, const char *page,
                         const char *state)
{
    return s->ops->conv_update(s->be, id, lang, page, state);
}

int kf_store_append(kf_store *s, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                    int64_t *seqs)
{
    return s->ops->append(s->be, conv, rows, n, now_ms, seqs);
}

int kf_store_find_client_id(kf_store *s, int64_t conv, const char *client_id, int64_t *seq)
{
    return s->ops->find_client_id(s->be, conv, client_id, seq);
}

int kf_store_get_row(kf_store *s, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud)
{
    return s->ops->get_row(s->be, conv, seq, cb, ud);
}

int kf_store_replay(kf_store *s, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb,
                    void *ud)
{
    return s->ops->replay(s->be, conv, after, max, cb, ud);
}

int kf_store_event_add(kf_store *s, int64_t conv, const char *kind, const char *detail,
                       int64_t now_ms)
{
    return s->ops->event_add(s->be, conv, kind, detail, now_ms);
}
