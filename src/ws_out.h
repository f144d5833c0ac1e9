/* SPDX-License-Identifier: MIT
 * Internal to the WebSocket edges (ws_visitor.c, ws_agent.c): what both protocols do the same
 * way with a connection's bytes. Outgoing: a bounded queue of frames, each a kf_malloc'd
 * buffer with LWS_PRE bytes of headroom, written one lws_write per WRITEABLE callback
 * (STYLE.md, "lws rules for kefu"), and a close with a reason once the queue has drained.
 * Incoming: fragments assembled into whole text messages up to a size limit. What to say
 * to the peer about a full queue, a binary or oversized message is each protocol's business. */
#ifndef KEFU_WS_OUT_H
#define KEFU_WS_OUT_H

#include <stddef.h>

struct lws;

typedef struct kf_wsq_item {
    char *buf;  /* LWS_PRE headroom, then len bytes of text */
    size_t len;
} kf_wsq_item;

typedef struct kf_wsq {
    /* The ring: allocated by a push into an empty queue, freed when it empties again, so
     * that an idle connection holds none (10,000 idle connections would hold 10 MB of rings
     * at max_queue 64). It starts with room for a few frames and doubles up to cap while
     * frames wait: allocated whole for every answer, 1 KB was beyond malloc's fast sizes. */
    kf_wsq_item *v;
    size_t head, n, cap; /* n and cap are read by the protocols; the rest is private */
    size_t rcap;         /* the ring's size */
    int close_code;      /* read-only: non-zero once kf_wsq_close was called */
    char close_reason[100];
} kf_wsq;

/* An empty queue of at most cap frames. Always KF_OK (the ring comes with the first push). */
int kf_wsq_init(kf_wsq *q, size_t cap);
/* Frees every queued frame (the queue stays usable). */
void kf_wsq_clear(kf_wsq *q);
/* Frees the frames and the queue. */
void kf_wsq_cleanup(kf_wsq *q);
/* Takes buf: KF_OK, or KF_ELIMIT when the queue is full (buf is freed, the queue untouched). */
int kf_wsq_push(kf_wsq *q, char *buf, size_t len);
/* Takes the oldest frame (the caller frees its buf): 1, or 0 when nothing is queued. */
int kf_wsq_pop(kf_wsq *q, kf_wsq_item *it);
/* Writes the oldest frame with one lws_write and frees it: 1 written, 0 nothing queued,
 * -1 the write failed or was short (the connection must close). */
int kf_wsq_write_one(kf_wsq *q, struct lws *wsi);
/* Closes the connection with code and reason once what is queued has been written (the first
 * call wins). A peer that never reads is dropped after 5 s. */
void kf_wsq_close(kf_wsq *q, struct lws *wsi, int code, const char *reason);
/* The end of a WRITEABLE callback: asks for another one while frames are queued or a close
 * is pending (when wrote is 1); with nothing written and a close pending, sets the close
 * reason and returns -1 (the callback returns it); else 0. */
int kf_wsq_after_write(kf_wsq *q, struct lws *wsi, int wrote);

/* ---- incoming ------------------------------------------------------------------ */

typedef struct kf_wsrx {
    char *buf;
    size_t len, cap;
    int binary;
} kf_wsrx;

enum {
    KF_WSRX_MORE = 0,      /* a fragment was kept; the message is not complete */
    KF_WSRX_FRAME = 1,     /* *frame / *n hold a whole text message (valid until the next call) */
    KF_WSRX_BINARY = 2,    /* the last fragment of a binary message (its bytes are dropped) */
    KF_WSRX_TOO_LARGE = 3, /* the message passed max bytes (what was kept is dropped) */
    KF_WSRX_NOMEM = 4,
};

/* Feeds one RECEIVE callback's bytes. */
int kf_wsrx_feed(kf_wsrx *r, struct lws *wsi, const void *in, size_t len, size_t max,
                 const char **frame, size_t *n);
void kf_wsrx_cleanup(kf_wsrx *r);

#endif
