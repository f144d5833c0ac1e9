/* SPDX-License-Identifier: MIT
 * The outgoing frame queue of a WebSocket connection (see ws_out.h). */
#include "ws_out.h"

#include <libwebsockets.h>

#include "kefu/err.h"
#include "kefu/mem.h"

int kf_wsq_init(kf_wsq *q, size_t cap)
{
    q->head = q->n = 0;
    q->v = kf_calloc(cap ? cap : 1, sizeof(*q->v));
    q->cap = q->v ? cap : 0;
    return q->v ? KF_OK : KF_ENOMEM;
}

void kf_wsq_clear(kf_wsq *q)
{
    while (q->n) {
        kf_free(q->v[q->head].buf);
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
}

void kf_wsq_cleanup(kf_wsq *q)
{
    kf_wsq_clear(q);
    kf_free(q->v);
    q->v = NULL;
    q->cap = 0;
}

int kf_wsq_push(kf_wsq *q, char *buf, size_t len)
{
    if (q->n >= q->cap) {
        kf_free(buf);
        return KF_ELIMIT;
    }
    q->v[(q->head + q->n) % q->cap] = (kf_wsq_item){buf, len};
    q->n++;
    return KF_OK;
}

int kf_wsq_write_one(kf_wsq *q, struct lws *wsi)
{
    if (!q->n)
        return 0;
    kf_wsq_item it = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    int n = lws_write(wsi, (unsigned char *)it.buf + LWS_PRE, it.len, LWS_WRITE_TEXT);
    kf_free(it.buf);
    return n < (int)it.len ? -1 : 1;
}
