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

#include "kefu/auth.h"
#include "kefu/config.h"
#include "kefu/engine.h"
#include "kefu/handoff.h"
#include "kefu/proto.h"
#include "kefu/store.h"
#include "kefu/text.h"

#include "ans_cache.h"

#define KF_VISITOR_PROTOCOL "kefu.visitor.v1"
#define KF_AGENT_PROTOCOL "kefu.agent.v1"
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
#define KF_N_ERROR_CODES 18

#define KF_METRIC_REASONS 16

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
    uint64_t commits, committed; /* group commits of answers, and the answers in them */
    uint64_t matched_thread;     /* questions matched on the matching thread */
    /* records (docs/metrics.md): handoffs by reason (the first KF_METRIC_REASONS reasons
     * seen; later ones count as "other"), surveys and ratings since the start */
    struct {
        char reason[32];
        uint64_t n;
    } handoffs[KF_METRIC_REASONS];
    size_t n_reasons;
    uint64_t handoffs_other;
    uint64_t surveys, csat_sum, csat[5], nps_n, nps_promoters, nps_detractors, ces_n, ces_sum;
    uint64_t feedback[2]; /* not helpful, helpful */
} kf_metrics;

extern const double kf_server__lat_bounds[KF_LAT_BUCKETS]; /* seconds; last is +Inf */

struct kf_ws_visitor_pss;
struct kf_ws_agent_pss;
struct kf_server;

/* An agent as the desk knows it (server_desk.c): loaded from the store at start or at login. */
typedef struct kf_desk_agent {
    struct kf_desk_agent *next;
    struct kf_server *srv;
    int64_t id;
    char name[65], display[129];
    int max_chats;
    int n_socks;                         /* authenticated sockets */
    int away;                            /* the agent said "away" */
    lws_sorted_usec_list_t sul_offline;  /* presence_grace_s after the last socket closed */
} kf_desk_agent;

/* An open case (queued or held), mirrored from the store. */
typedef struct kf_desk_case {
    struct kf_desk_case *next;
    struct kf_server *srv;
    kf_hcase c;
    char preview[256];                 /* the visitor's last message */
    size_t sent_pos;                   /* queue position last told to the visitor */
    int64_t sent_wait;
    lws_sorted_usec_list_t sul_sla;    /* first_response_s after queued_ms */
} kf_desk_case;

typedef struct kf_server {
    /* handoff desk (server_desk.c, ws_agent.c) */
    kf_handoff *hd;
    kf_desk_agent *agents;
    kf_desk_case *cases;
    struct kf_ws_agent_pss *agent_conns;
    size_t n_agent_conns;
    kf_auth_limiter *login_lim;
    char dummy_hash[KF_AUTH_HASH_MAX]; /* verified against for unknown names (same timing) */
    kf_hours_day hours[7]; /* by tm_wday */
    const kf_config *cfg;
    struct lws_context *cx;
    kf_store *store;
    kf_engine *engine;   /* current snapshot; swapped on the loop thread only */
    kf_anscache answers; /* ws_visitor.c's encoded answers of that snapshot */
    uint64_t next_conn_id;
    size_t n_conns;
    struct kf_ws_visitor_pss *conns; /* all visitor connections */
    kf_addr_slot *addrs[KF_ADDR_BUCKETS];
    size_t n_addrs;
    kf_metrics m;
    kf_norm *norm; /* made at the first message: the normalised text stored for reports */
    /* Group commit (ws_visitor.c): the bot's answers of this service turn wait in pend;
     * at the end of the turn (sul_flush on lws's own loop, kf_ws_visitor__turn_end on libev's:
     * turn_hook) they become the batch in flight (fly), stored by the
     * store's writer thread while the loop goes on; its done wakes the loop, which then
     * queues their acks and answers. A write that must come after them waits (flush). */
    struct kf_vpend *pend, *fly;
    kf_store_batch_item *pend_items, *fly_items;
    size_t n_pend, cap_pend, cap_pend_items;
    size_t n_fly, cap_fly, cap_fly_items;
    int flying;           /* a batch is with the writer */
    atomic_int fly_done;  /* set by the writer thread */
    lws_sorted_usec_list_t sul_flush;
    int turn_hook; /* the loop calls kf_ws_visitor__turn_end each turn: no sul_flush */
    /* Matching (ws_visitor.c, match_worker.h): a turn's questions wait in jobs (with job_m,
     * what the matcher reads and writes); at the end of the turn, match_worker_min of them or
     * more go to the matching thread as the batch in flight (mfly, mfly_m) while the loop goes
     * on, fewer are matched on the loop. Either way each is then answered (its answer joins
     * pend) in the order of arrival. A flush answers every question first. */
    struct kf_vjob *jobs, *mfly;
    struct kf_mjob *job_m, *mfly_m;
    size_t n_jobs, cap_jobs, cap_job_m;
    size_t n_mfly, cap_mfly, cap_mfly_m;
    struct kf_mworker *mworker; /* NULL: every question is matched on the loop */
    kf_engine *mfly_engine;     /* the snapshot the batch in flight is matched with (a ref) */
    int matching;               /* a batch is with the matching thread */
    atomic_int match_done;      /* set by the matching thread */
    int answering;              /* answering questions: a flush leaves the rest to come */
    /* The last reload's outcome, for GET /api/reload-status (ms 0: none since start). */
    int64_t reload_ms;
    int reload_ok;
    char *reload_errors; /* "file:line: message" lines of a failed reload, or NULL */
    int stopping;                    /* shutdown begun: no new connections, queues draining */
    int done;                        /* leave the service loop */
    lws_sorted_usec_list_t sul_stop; /* shutdown deadline */
    lws_sorted_usec_list_t sul_gc;   /* per-address table sweep */
    lws_sorted_usec_list_t sul_tick; /* event_loop = ev: keeps lws's timers on time (server.c) */
    /* Shared with the background thread (reload, signals): under mu or atomic. */
    pthread_mutex_t mu;
    kf_engine *pending;  /* a new snapshot for the loop to swap in */
    char *pending_error; /* a failed reload's messages (file:line ...) */
    int pending_ready;
    atomic_int stop_requested;
    atomic_int bg_ready; /* the background thread watches the knowledge directories */
    int wake_fd; /* eventfd: tells the background thread to quit */
} kf_server;

/* ---- ws_visitor.c ------------------------------------------------------------- */

int kf_ws_visitor_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kf_ws_visitor_pss_size(void);
/* Shutdown: every connection flushes its queue and closes with 1001. */
void kf_ws_visitor__shutdown_all(kf_server *s);
/* Starts the matching thread (match_worker_min > 0; without it, questions are matched on the
 * loop), and, at the end, stops it and frees what the questions' stage holds. */
void kf_ws_visitor__init(kf_server *s);
void kf_ws_visitor__cleanup(kf_server *s);

/* Stores the answers waiting for the group commit and queues their acks and answers (or
 * their errors). Called before any store write that must follow them, and at the end of a
 * service turn. */
void kf_ws_visitor__flush(kf_server *s);
/* The loop's wake-up: if the batch in flight is matched, answers it; if the one being stored
 * is stored, queues its acks and answers. */
void kf_ws_visitor__collect(kf_server *s);
/* The end of a turn of libev's loop: the turn's answers go to the group commit (on lws's own
 * loop a timer due at once does it, which libev's loop runs only when no event waits). */
void kf_ws_visitor__turn_end(kf_server *s);

/* Delivers a stored frame of conversation conv (numbered seq) to its visitor sockets. */
void kf_ws_visitor__deliver(kf_server *s, int64_t conv, const kf_out *o, int64_t seq);
/* Sends a frame that is not stored (queue position, typing) to conv's visitor sockets. */
void kf_ws_visitor__transient(kf_server *s, int64_t conv, const kf_out *o);

/* ---- ws_agent.c --------------------------------------------------------------- */

int kf_ws_agent_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);
size_t kf_ws_agent_pss_size(void);
void kf_ws_agent__shutdown_all(kf_server *s);
/* Sends o to every authenticated socket of agent (agent 0: of every agent). o NULL: a frame
 * for them could not be made; their sockets close (1011), and the consoles' reconnect
 * restores their state. */
void kf_ws_agent__send(kf_server *s, int64_t agent, const kf_out *o);
/* Closes the sockets opened with this token (logout). */
void kf_ws_agent__revoke(kf_server *s, const char *token);

/* ---- server_desk.c ------------------------------------------------------------ */

int kf_desk__init(kf_server *s);
void kf_desk__cleanup(kf_server *s);
/* The agent (loaded from the store on first use), or NULL. */
kf_desk_agent *kf_desk__agent(kf_server *s, int64_t id);
kf_desk_agent *kf_desk__agent_by_name(kf_server *s, const char *name);
kf_desk_case *kf_desk__case_of_conv(kf_server *s, int64_t conv);
/* 1 within business hours (config hours.*, timezone) now. */
int kf_desk__in_hours(kf_server *s);
/* Opens a queued case for conv (store, queue, SLA timer). */
int kf_desk__open_case(kf_server *s, int64_t conv, const char *reason, int urgent,
                       const char *preview, kf_desk_case **out);
/* Position (1-based) and estimated wait (s, -1 unknown) of a queued case. */
void kf_desk__queue_info(kf_server *s, kf_desk_case *dc, size_t *pos, int64_t *wait_s);
/* After any change: auto-assign, then tell agents the queue and visitors their positions. */
void kf_desk__changed(kf_server *s);
/* A visitor's stored message (seq) in a conversation with a case: to its holder. */
void kf_desk__visitor_message(kf_server *s, int64_t conv, int64_t seq, const char *text);
void kf_desk__visitor_typing(kf_server *s, int64_t conv, int active);
/* Gives a case to an agent (by: auto, claim, transfer); frames to both sides. */
int kf_desk__assign(kf_server *s, kf_desk_case *dc, kf_desk_agent *a, const char *by,
                    const char *from, const char *note);
/* Ends a case: how is close, handback or ticket. */
int kf_desk__end(kf_server *s, kf_desk_case *dc, const char *how);
/* Stores a frame from kefu to the visitor of conv and delivers it; *seq if not NULL. */
int kf_desk__to_visitor(kf_server *s, int64_t conv, kf_out *o, const char *text,
                        int64_t *seq);
/* Frames for agents (NULL on ENOMEM). */
kf_out *kf_desk__queue_frame(kf_server *s);
kf_out *kf_desk__agents_frame(kf_server *s);
kf_out *kf_desk__assigned_frame(kf_server *s, kf_desk_case *dc, const char *by,
                                const char *from, const char *note);
kf_out *kf_desk__transcript(kf_server *s, int64_t conv, const char *type);
kf_out *kf_desk__ticket_item(kf_server *s, const kf_ticket *t);
/* Open and claimed tickets, oldest first. */
kf_out *kf_desk__tickets_frame(kf_server *s);
/* Pushes ticket id's current state to every online agent. */
void kf_desk__ticket_changed(kf_server *s, int64_t id);
/* Presence: a socket of the agent authenticated (+1) or closed (-1); a status change. */
void kf_desk__agent_socket(kf_server *s, kf_desk_agent *a, int delta);
void kf_desk__agent_status(kf_server *s, kf_desk_agent *a, int away);
kf_presence kf_desk__presence(kf_server *s, kf_desk_agent *a);

/* ---- http_api.c --------------------------------------------------------------- */

int kf_http_api_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);
size_t kf_http_api_pss_size(void);
/* Counts a handoff by reason for /metrics. */
void kf_server__count_handoff(kf_server *s, const char *reason);

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
