/* SPDX-License-Identifier: MIT
 * Internal to the WebSocket edges (ws_visitor.c, ws_agent.c): a connection's bounded queue
 * of outgoing frames, each a kf_malloc'd buffer with LWS_PRE bytes of headroom, written one
 * lws_write per WRITEABLE callback (STYLE.md, "lws rules for kefu"). What to do when it is
 * full (close the connection, pause reading) is each protocol's business. */
#ifndef KEFU_WS_OUT_H
#define KEFU_WS_OUT_H

#include <stddef.h>

struct lws;

typedef struct kf_wsq_item {
    char *buf;  /* LWS_PRE headroom, then len bytes of text */
    size_t len;
} kf_wsq_item;

typedef struct kf_wsq {
    kf_wsq_item *v;
    size_t head, n, cap; /* n and cap are read by the protocols; the rest is private */
} kf_wsq;

/* An empty queue of cap frames. KF_OK or KF_ENOMEM (then cap is 0 and every push fails). */
int kf_wsq_init(kf_wsq *q, size_t cap);
/* Frees every queued frame (the queue stays usable). */
void kf_wsq_clear(kf_wsq *q);
/* Frees the frames and the queue. */
void kf_wsq_cleanup(kf_wsq *q);
/* Takes buf: KF_OK, or KF_ELIMIT when the queue is full (buf is freed, the queue untouched). */
int kf_wsq_push(kf_wsq *q, char *buf, size_t len);
/* Writes the oldest frame with one lws_write and frees it: 1 written, 0 nothing queued,
 * -1 the write failed or was short (the connection must close). */
int kf_wsq_write_one(kf_wsq *q, struct lws *wsi);

#endif
