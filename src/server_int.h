/* SPDX-License-Identifier: MIT
 * What the server's files (server.c, ws_visitor.c, http_api.c) share: the server state, the
 * per-address table, the metrics, and the entry points each file offers the others.
 * Everything here is touched only by the event-loop thread unless marked otherwise. */
#ifndef KEFU_SERVER_INT_H
#define KEFU_SERVER_INT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kefu/config.h"
#include "kefu/engine.h"
#include "kefu/store.h"

#define KF_VISITOR_PROTOCOL "kefu.visitor.v1"
#define KF_ADDR_BUCKETS 256
#define KF_LAT_BUCKETS 12

/* One client address: its connection count and its shared token bucket. */
typedef struct kf_addr_slot {
    struct kf_addr_slot *next;
    char addr[64];
    int conns;
    double tokens;
    uint64_t last_ns;
} kf_addr_slot;

/* The error codes counted in /metrics, in a fixed order (see ws_visitor.c). */
extern const char *const kf_server__error_codes[];
#define KF_N_ERROR_CODES 16

typedef struct kf_metrics {
    uint64_t conns_total;
    uint64_t conns_rejected;
    uint64_t messages_in;
    uint64_t frames_out;
    uint64_t decisions[5];                /* by kf_decision */
    uint64_t lat_buckets[KF_LAT_BUCKETS]; /* cumulative counts are made when printing */
    double lat_sum;
    uint64_t lat_count;
    uint64_t reloads_ok, reloads_failed;
    uint64_t errors[KF_N_ERROR_CODES];
    uint64_t closed_slow, closed_too_large;
} kf_metrics;

extern const double kf_server__lat_bounds[KF_LAT_BUCKETS]; /* seconds; last is +Inf */

struct kf_ws_visitor_pss;

typedef struct kf_server {
    const kf_config *cfg;
    struct lws_context *cx;
    kf_store *store;
    kf_engine *engine; /* current snapshot; swapped on the loop thread only */
    uint64_t next_conn_id;
    size_t n_conns;
    struct kf_ws_visitor_pss *conns; /* all visitor connections */
    kf_addr_slot *addrs[KF_ADDR_BUCKETS];
    size_t n_addrs;
    kf_metrics m;
    /* The last reload's outcome, for GET /api/reload-status (ms 0: none since start). */
    int64_t reload_ms;
    int reload_ok;
    char *reload_errors; /* "file:line: message" lines of a failed reload, or NULL */
    int stopping;                    /* shutdown begun: no new connections, queues draining */
    int done;                        /* leave the service loop */
    lws_sorted_usec_list_t sul_stop; /* shutdown deadline */
    lws_sorted_usec_list_t sul_gc;   /* per-address table sweep */
    /* Shared with the background thread (reload, signals): under mu or atomic. */
    pthread_mutex_t mu;
    kf_engine *pending;  /* a new snapshot for the loop to swap in */
    char *pending_error; /* a failed reload's messages (file:line ...) */
    int pending_ready;
    atomic_int stop_requested;
    int wake_fd; /* eventfd: tells the background thread to quit */
} kf_server;

/* ---- ws_visitor.c ------------------------------------------------------------- */

int kf_ws_visitor_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kf_ws_visitor_pss_size(void);
/* Shutdown: every connection flushes its queue and closes with 1001. */
void kf_ws_visitor__shutdown_all(kf_server *s);

/* ---- http_api.c --------------------------------------------------------------- */

int kf_http_api_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);
size_t kf_http_api_pss_size(void);

/* ---- server.c ----------------------------------------------------------------- */

/* The server of a wsi's context. */
kf_server *kf_server__get(struct lws *wsi);
/* The per-address slot (created on first use), or NULL on ENOMEM. */
kf_addr_slot *kf_server__addr_get(kf_server *s, const char *addr);
/* Token bucket: 1 if a token was taken, else 0 and *retry_ms says when one will be there. */
int kf_server__bucket_take(double *tokens, uint64_t *last_ns, double rate, double burst,
                           uint64_t now_ns, long *retry_ms);
/* Counts an error frame by code in the metrics. */
void kf_server__count_error(kf_server *s, const char *code);
/* A connection closed: leave the loop if shutting down and it was the last one. */
void kf_server__conn_gone(kf_server *s);

#endif
