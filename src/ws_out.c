/* SPDX-License-Identifier: MIT
 * A WebSocket connection's outgoing queue, close and incoming assembly (see ws_out.h). */
#include "ws_out.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

#include "kefu/err.h"
#include "kefu/mem.h"

/* The ring's first size: an answer's ack and reply, and a frame more (64 bytes: malloc's
 * fastest sizes). */
#define RING_FIRST 4

int kf_wsq_init(kf_wsq *q, size_t cap)
{
    q->head = q->n = q->rcap = 0;
    q->v = NULL;
    q->cap = cap ? cap : 1;
    return KF_OK;
}

/* An empty queue gives its ring back. */
static void release_if_empty(kf_wsq *q)
{
    if (q->n == 0) {
        kf_free(q->v);
        q->v = NULL;
        q->rcap = q->head = 0;
    }
}

void kf_wsq_clear(kf_wsq *q)
{
    while (q->n) {
        kf_free(q->v[q->head].buf);
        q->head = (q->head + 1) % q->rcap;
        q->n--;
    }
    release_if_empty(q);
}

void kf_wsq_cleanup(kf_wsq *q)
{
    kf_wsq_clear(q);
    kf_free(q->v);
    q->v = NULL;
    q->rcap = q->cap = 0;
}

/* Room for one more frame: the ring doubled (up to cap), its frames in order from 0. */
static int ring_grow(kf_wsq *q)
{
    size_t nc = q->rcap ? q->rcap * 2 : RING_FIRST;
    if (nc > q->cap)
        nc = q->cap;
    kf_wsq_item *v = kf_malloc(nc * sizeof(*v));
    if (!v)
        return KF_ENOMEM;
    for (size_t i = 0; i < q->n; i++)
        v[i] = q->v[(q->head + i) % q->rcap];
    kf_free(q->v);
    q->v = v;
    q->rcap = nc;
    q->head = 0;
    return KF_OK;
}

int kf_wsq_push(kf_wsq *q, char *buf, size_t len)
{
    if (q->n >= q->cap) {
        kf_free(buf);
        return KF_ELIMIT;
    }
    if (q->n == q->rcap && ring_grow(q) != KF_OK) {
        kf_free(buf);
        return KF_ENOMEM;
    }
    q->v[(q->head + q->n) % q->rcap] = (kf_wsq_item){buf, len};
    q->n++;
    return KF_OK;
}

int kf_wsq_pop(kf_wsq *q, kf_wsq_item *it)
{
    if (!q->n)
        return 0;
    *it = q->v[q->head];
    q->head = (q->head + 1) % q->rcap;
    q->n--;
    release_if_empty(q);
    return 1;
}

int kf_wsq_write_one(kf_wsq *q, struct lws *wsi)
{
    kf_wsq_item it;
    if (!kf_wsq_pop(q, &it))
        return 0;
    int n = lws_write(wsi, (unsigned char *)it.buf + LWS_PRE, it.len, LWS_WRITE_TEXT);
    kf_free(it.buf);
    return n < (int)it.len ? -1 : 1;
}

void kf_wsq_close(kf_wsq *q, struct lws *wsi, int code, const char *reason)
{
    if (q->close_code)
        return;
    q->close_code = code;
    snprintf(q->close_reason, sizeof(q->close_reason), "%s", reason);
    /* a peer that never reads never becomes writeable: do not wait for it forever */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 5);
    lws_callback_on_writable(wsi);
}

int kf_wsq_after_write(kf_wsq *q, struct lws *wsi, int wrote)
{
    if (wrote) {
        if (q->n > 0 || q->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (q->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)q->close_code,
                         (unsigned char *)q->close_reason, strlen(q->close_reason));
        return -1;
    }
    return 0;
}

int kf_wsrx_feed(kf_wsrx *r, struct lws *wsi, const void *in, size_t len, size_t max,
                 const char **frame, size_t *n)
{
    if (lws_is_first_fragment(wsi)) {
        r->len = 0;
        r->binary = lws_frame_is_binary(wsi);
    }
    int last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (r->binary)
        return last ? KF_WSRX_BINARY : KF_WSRX_MORE;
    if (r->len + len > max) {
        r->len = 0;
        return KF_WSRX_TOO_LARGE;
    }
    if (kf_grow(&r->buf, &r->cap, r->len + len, 1))
        return KF_WSRX_NOMEM;
    if (len)
        memcpy(r->buf + r->len, in, len);
    r->len += len;
    if (!last)
        return KF_WSRX_MORE;
    *frame = r->buf ? r->buf : "";
    *n = r->len;
    r->len = 0;
    return KF_WSRX_FRAME;
}

void kf_wsrx_cleanup(kf_wsrx *r)
{
    kf_free(r->buf);
    memset(r, 0, sizeof(*r));
}
