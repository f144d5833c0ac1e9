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

void kf_store_append_batch(kf_store *s, kf_store_batch_item *items, size_t n, int64_t now_ms)
{
    if (s->ops->append_batch) {
        s->ops->append_batch(s->be, items, n, now_ms);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        kf_store_batch_item *it = &items[i];
        it->rc = s->ops->append(s->be, it->conv, it->rows, it->n, now_ms, it->seqs);
        if (it->rc == KF_OK && it->lang)
            s->ops->conv_update(s->be, it->conv, it->lang, NULL, NULL);
        if (it->rc == KF_OK && it->fallbacks >= 0)
            s->ops->conv_set_fallbacks(s->be, it->conv, it->fallbacks);
    }
}

int kf_store_append_batch_start(kf_store *s, kf_store_batch_item *items, size_t n,
                                int64_t now_ms, void (*done)(void *ud), void *ud)
{
    if (!s->ops->append_batch_start)
        return KF_EINVAL;
    return s->ops->append_batch_start(s->be, items, n, now_ms, done, ud);
}

void kf_store_append_batch_wait(kf_store *s)
{
    if (s->ops->append_batch_wait)
        s->ops->append_batch_wait(s->be);
}

int kf_store_append_batch_due(kf_store *s)
{
    return s->ops->append_batch_due ? s->ops->append_batch_due(s->be) : 0;
}

int kf_store_find_client_id(kf_store *s, int64_t conv, const char *client_id, int64_t from,
                            int64_t to, int64_t *seq)
{
    return s->ops->find_client_id(s->be, conv, client_id, from, to, seq);
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

int kf_store_conv_get(kf_store *s, int64_t id, kf_conv *out)
{
    return s->ops->conv_get(s->be, id, out);
}

int kf_store_conv_set_fallbacks(kf_store *s, int64_t id, int n)
{
    return s->ops->conv_set_fallbacks(s->be, id, n);
}

int kf_store_agent_add(kf_store *s, kf_agent_rec *a, int64_t now_ms)
{
    return s->ops->agent_add(s->be, a, now_ms);
}

int kf_store_agent_get(kf_store *s, const char *name, int64_t id, kf_agent_rec *out)
{
    return s->ops->agent_get(s->be, name, id, out);
}

int kf_store_agent_save(kf_store *s, const kf_agent_rec *a)
{
    return s->ops->agent_save(s->be, a);
}

int kf_store_agent_list(kf_store *s, kf_store_agent_cb cb, void *ud)
{
    return s->ops->agent_list(s->be, cb, ud);
}

int kf_store_login_add(kf_store *s, const char *token, int64_t agent, int64_t expires_ms)
{
    return s->ops->login_add(s->be, token, agent, expires_ms);
}

int kf_store_login_find(kf_store *s, const char *token, int64_t now_ms, int64_t *agent,
                        int64_t *expires_ms)
{
    return s->ops->login_find(s->be, token, now_ms, agent, expires_ms);
}

int kf_store_login_revoke(kf_store *s, const char *token)
{
    return s->ops->login_revoke(s->be, token);
}

int kf_store_case_open(kf_store *s, kf_hcase *c)
{
    return s->ops->case_open(s->be, c);
}

int kf_store_case_save(kf_store *s, const kf_hcase *c, const char *conv_state)
{
    return s->ops->case_save(s->be, c, conv_state);
}

int kf_store_case_list_open(kf_store *s, kf_store_case_cb cb, void *ud)
{
    return s->ops->case_list_open(s->be, cb, ud);
}

int kf_store_case_list_conv(kf_store *s, int64_t conv, kf_store_case_cb cb, void *ud)
{
    return s->ops->case_list_conv(s->be, conv, cb, ud);
}

int kf_store_handle_times(kf_store *s, int64_t *out, size_t max)
{
    return s->ops->handle_times(s->be, out, max);
}

int kf_store_note_add(kf_store *s, int64_t conv, int64_t agent, const char *text, int64_t now_ms)
{
    return s->ops->note_add(s->be, conv, agent, text, now_ms);
}

int kf_store_note_list(kf_store *s, int64_t conv, kf_store_note_cb cb, void *ud)
{
    return s->ops->note_list(s->be, conv, cb, ud);
}

int kf_store_ticket_add(kf_store *s, kf_ticket *t, kf_store_row *rows, size_t n, int64_t now_ms,
                        int64_t *seqs, kf_store_fill_cb fill, void *ud)
{
    return s->ops->ticket_add(s->be, t, rows, n, now_ms, seqs, fill, ud);
}

int kf_store_ticket_save(kf_store *s, const kf_ticket *t)
{
    return s->ops->ticket_save(s->be, t);
}

int kf_store_ticket_list(kf_store *s, int64_t id, kf_store_ticket_cb cb, void *ud)
{
    return s->ops->ticket_list(s->be, id, cb, ud);
}

int kf_store_survey_add(kf_store *s, const kf_survey *sv, const kf_store_row *rows, size_t n,
                        int64_t now_ms, int64_t *seqs)
{
    return s->ops->survey_add(s->be, sv, rows, n, now_ms, seqs);
}

int kf_store_report_scan(kf_store *s, const kf_report_query *q, const kf_report_sink *k)
{
    return s->ops->report_scan(s->be, q, k);
}

int kf_store_purge(kf_store *s, int64_t before_ms, kf_purge_counts *out)
{
    return s->ops->purge(s->be, before_ms, out);
}

int kf_store_vacuum(kf_store *s)
{
    return s->ops->vacuum(s->be);
}

int kf_store_export_conv(kf_store *s, int64_t id, char **json)
{
    return s->ops->export_conv(s->be, id, json);
}
