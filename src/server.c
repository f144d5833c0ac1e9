/* SPDX-License-Identifier: MIT
 * The server's skeleton: the lws context (protocols[0] http, the /healthz and /metrics
 * callback mounts, the web/ file mount, the kefu.visitor.v1 subprotocol), the service loop,
 * graceful shutdown, the per-address table, and hot reload.
 *
 * Threads. lws owns the loop and everything in it runs on the main thread. One background
 * thread waits on a signalfd (SIGTERM, SIGINT, SIGHUP), an inotify descriptor (kb_dir and
 * intents_dir) and an eventfd (quit). It builds a new knowledge snapshot off the loop and
 * hands it over under a mutex, then wakes the loop with lws_cancel_service(), which lws
 * documents as safe from another thread; the loop swaps snapshots in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED. Signals never run handlers: they are blocked in every
 * thread and read from the signalfd, so no code runs in signal context at all.
 *
 * The loop (event_loop): by default libev's, which lws runs on as a "foreign" loop of ours
 * (Debian's libwebsockets-evlib-ev plugin). lws's own loop calls poll() over every
 * descriptor on each wake-up: at 6,000 answers/s over 1,000 connections that was a fifth of
 * the server's time, and it grows with every idle connection; libev's epoll returns the ready
 * ones only (docs/performance.md). lws's libuv plugin would do the same, but in 4.1.6 a
 * connection closed by the server loses its close frame there; with libev every test
 * passes. */
#include "kefu/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kefu/buf.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/proto.h"
#include "kefu/util.h"
#include "server_int.h"

/* TCP keepalive: idle seconds before the first probe of a connection (see info.ka_time). */
#define KEEPALIVE_IDLE_S 300

kf_server *kf_server__get(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- per-address table -------------------------------------------------------- */

static unsigned addr_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % KF_ADDR_BUCKETS;
}

kf_addr_slot *kf_server__addr_get(kf_server *s, const char *addr)
{
    unsigned h = addr_hash(addr);
    for (kf_addr_slot *a = s->addrs[h]; a; a = a->next)
        if (!strcmp(a->addr, addr))
            return a;
    kf_addr_slot *a = kf_calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    snprintf(a->addr, sizeof(a->addr), "%s", addr);
    a->next = s->addrs[h];
    s->addrs[h] = a;
    s->n_addrs++;
    return a;
}

int kf_server__bucket_take(double *tokens, uint64_t *last_ns, double rate, double burst,
                           uint64_t now_ns, long *retry_ms)
{
    if (*last_ns == 0) {
        *tokens = burst;
    } else {
        *tokens += (double)(now_ns - *last_ns) / 1e9 * rate;
        if (*tokens > burst)
            *tokens = burst;
    }
    *last_ns = now_ns;
    if (*tokens < 1.0) {
        *retry_ms = (long)((1.0 - *tokens) / rate * 1000.0) + 1;
        return 0;
    }
    *tokens -= 1.0;
    return 1;
}

/* Forgets addresses with no connection whose bucket has refilled: nothing to remember. */
static void gc_cb(lws_sorted_usec_list_t *sul)
{
    kf_server *s = lws_container_of(sul, kf_server, sul_gc);
    uint64_t now = kf_now_ns();
    for (int i = 0; i < KF_ADDR_BUCKETS; i++) {
        kf_addr_slot **pp = &s->addrs[i];
        while (*pp) {
            kf_addr_slot *a = *pp;
            double t = a->tokens + (double)(now - a->last_ns) / 1e9 * (double)s->cfg->rate_per_addr;
            if (a->conns == 0 && (a->last_ns == 0 || t >= (double)s->cfg->burst_per_addr)) {
                *pp = a->next;
                kf_free(a);
                s->n_addrs--;
            } else {
                pp = &a->next;
            }
        }
    }
    lws_sul_schedule(s->cx, 0, &s->sul_gc, gc_cb, 10 * LWS_US_PER_SEC);
}

static void addrs_free(kf_server *s)
{
    for (int i = 0; i < KF_ADDR_BUCKETS; i++)
        while (s->addrs[i]) {
            kf_addr_slot *a = s->addrs[i];
            s->addrs[i] = a->next;
            kf_free(a);
        }
}

void kf_server__count_error(kf_server *s, const char *code)
{
    for (int i = 0; i < KF_N_ERROR_CODES; i++)
        if (!strcmp(kf_server__error_codes[i], code)) {
            s->m.errors[i]++;
            return;
        }
}

/* ---- shutdown ----------------------------------------------------------------- */

static void stop_deadline_cb(lws_sorted_usec_list_t *sul)
{
    kf_server *s = lws_container_of(sul, kf_server, sul_stop);
    kf_log(KF_LOG_WARN, "event=shutdown_timeout connections=%zu", s->n_conns);
    s->done = 1;
}

void kf_server__conn_gone(kf_server *s)
{
    if (s->stopping && s->n_conns == 0 && s->n_agent_conns == 0)
        s->done = 1;
}

static void begin_stop(kf_server *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    kf_log(KF_LOG_INFO, "event=shutdown connections=%zu", s->n_conns);
    kf_ws_visitor__shutdown_all(s);
    kf_ws_agent__shutdown_all(s);
    if (s->n_conns == 0 && s->n_agent_conns == 0)
        s->done = 1;
    else
        lws_sul_schedule(s->cx, 0, &s->sul_stop, stop_deadline_cb, 3 * LWS_US_PER_SEC);
}

/* ---- the loop ----------------------------------------------------------------- */

/* The end of each turn of libev's loop, before it waits for events again: the turn's
 * answers go to the group commit, its log lines are written in one go, and the loop ends
 * once shutdown is done. */
static void turn_end_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    kf_server *s = w->data;
    kf_ws_visitor__turn_end(s);
    kf_log_flush();
    if (s->done)
        ev_break(loop, EVBREAK_ALL);
}

/* lws 4.1.6's libev plugin sets its libev timer again only when it fires, or when its idle
 * watcher runs, which libev does only when no event waits (never under a steady load). So an
 * lws timer set to run before the one armed waited for it: a first-response limit of 0.3 s
 * waited for the next 10 s sweep. This lws timer sets itself again every LWS_TIMER_TICK, so
 * lws's libev timer fires at least that often and every lws timer runs at most that late. */
#define LWS_TIMER_TICK (50 * LWS_US_PER_MS)
static void timer_tick_cb(lws_sorted_usec_list_t *sul)
{
    kf_server *s = lws_container_of(sul, kf_server, sul_tick);
    lws_sul_schedule(s->cx, 0, &s->sul_tick, timer_tick_cb, LWS_TIMER_TICK);
}

typedef struct ev_side {
    struct ev_loop *loop; /* NULL: lws's own poll() loop */
    void *foreign[1];     /* lws_context_creation_info.foreign_loops */
    ev_prepare turn_end;
} ev_side;

/* event_loop = ev: a libev loop (epoll) for lws to run on; 0, or -1 if it cannot start. */
static int ev_side_init(ev_side *e, kf_server *s, struct lws_context_creation_info *info)
{
    memset(e, 0, sizeof(*e));
    if (strcmp(s->cfg->event_loop, "ev") != 0)
        return 0;
    if (!(e->loop = ev_loop_new(EVBACKEND_EPOLL)))
        return -1;
    e->foreign[0] = e->loop;
    info->options |= LWS_SERVER_OPTION_LIBEV;
    info->foreign_loops = e->foreign;
    ev_prepare_init(&e->turn_end, turn_end_cb);
    e->turn_end.data = s;
    ev_prepare_start(e->loop, &e->turn_end);
    s->turn_hook = 1;
    return 0;
}

/* Serves until shutdown is done (s->done). */
static void serve(kf_server *s, ev_side *e)
{
    if (e->loop) {
        lws_sul_schedule(s->cx, 0, &s->sul_tick, timer_tick_cb, LWS_TIMER_TICK);
        ev_run(e->loop, 0);
        return;
    }
    while (!s->done) {
        int n = lws_service(s->cx, 0);
        kf_log_flush(); /* this turn's log lines, in one write */
        if (n < 0)
            break;
    }
}

/* After lws_context_destroy(), which takes lws's own watchers off the loop. */
static void ev_side_cleanup(ev_side *e)
{
    if (e->loop) {
        ev_prepare_stop(e->loop, &e->turn_end);
        ev_loop_destroy(e->loop);
        e->loop = NULL;
    }
}

/* ---- reload: the loop's side -------------------------------------------------- */

static void on_wake(kf_server *s)
{
    kf_engine *e = NULL;
    char *err = NULL;
    int ready;

    kf_ws_visitor__collect(s); /* a group commit finished on the store's writer */
    if (atomic_load(&s->stop_requested))
        begin_stop(s);
    pthread_mutex_lock(&s->mu);
    ready = s->pending_ready;
    e = s->pending;
    err = s->pending_error;
    s->pending = NULL;
    s->pending_error = NULL;
    s->pending_ready = 0;
    pthread_mutex_unlock(&s->mu);
    if (!ready)
        return;
    s->reload_ms = kf_store_now_ms();
    s->reload_ok = e != NULL;
    kf_free(s->reload_errors);
    s->reload_errors = err ? kf_strdup(err) : NULL; /* before strtok cuts it */
    if (e) {
        kf_engine *old = s->engine;
        s->engine = e;
        kf_anscache_clear(&s->answers); /* its keys point into the old knowledge */
        kf_engine_unref(old);
        s->m.reloads_ok++;
        kf_log(KF_LOG_INFO, "event=reload result=ok entries=%zu", kf_engine_kb(e)->n_entries);
    } else {
        s->m.reloads_failed++;
        kf_log(KF_LOG_ERR, "event=reload result=failed (the previous knowledge keeps serving)");
        /* one log line per problem, each `file:line: message` */
        for (char *line = err ? strtok(err, "\n") : NULL; line; line = strtok(NULL, "\n"))
            kf_log(KF_LOG_ERR, "reload: %s", line);
    }
    kf_free(err);
}

/* protocols[0]: lws's http dummy, plus the loop's wake-ups, and a refusal of WebSocket
 * upgrades that name no subprotocol of ours (lws binds them here otherwise). */
static int http0_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        kf_log(KF_LOG_INFO, "event=reject reason=subprotocol");
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                               "WebSocket subprotocol " KF_VISITOR_PROTOCOL " required");
        return 1;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: on_wake(kf_server__get(wsi)); return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* lws itself hangs up without a word on an unknown subprotocol: answer 400 first. */
        char proto[256];
        int l = lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL);
        if (in && !strcmp(in, "websocket") &&
            (l <= 0 ||
             (!kf_config_list_has(proto, KF_VISITOR_PROTOCOL, strlen(KF_VISITOR_PROTOCOL)) &&
              !kf_config_list_has(proto, KF_AGENT_PROTOCOL, strlen(KF_AGENT_PROTOCOL))))) {
            kf_log(KF_LOG_INFO, "event=reject reason=subprotocol");
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                                   "WebSocket subprotocol " KF_VISITOR_PROTOCOL " required");
            return 1;
        }
        return 0;
    }
    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- reload: the background thread -------------------------------------------- */

static char *diag_text(const kf_diag *d)
{
    kf_buf b;
    kf_buf_init(&b);
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].file && d->items[i].line > 0)
            kf_buf_printf(&b, "%s:%d: %s\n", d->items[i].file, d->items[i].line, d->items[i].msg);
        else if (d->items[i].file)
            kf_buf_printf(&b, "%s: %s\n", d->items[i].file, d->items[i].msg);
        else
            kf_buf_printf(&b, "%s\n", d->items[i].msg);
    }
    if (d->n == 0)
        kf_buf_puts(&b, "the knowledge could not be loaded (out of memory?)\n");
    return kf_buf_take(&b);
}

static void engine_config(const kf_config *c, kf_engine_config *ec)
{
    kf_engine_config_defaults(ec);
    ec->kb_dir = c->kb_dir;
    ec->intents_dir = c->intents_dir;
    ec->answer_min = c->answer_min;
    ec->margin_min = c->margin_min;
    ec->clarify_min = c->clarify_min;
    ec->learned = (int)c->learned;
    ec->cache_dir = c->cache_dir[0] ? c->cache_dir : NULL;
    ec->limits.no_jit = !c->rules_jit;
}

static void reload(kf_server *s)
{
    kf_engine_config ec;
    kf_diag d;
    char *err = NULL;

    engine_config(s->cfg, &ec);
    kf_diag_init(&d);
    kf_engine *e = kf_engine_load(&ec, &d);
    if (!e)
        err = diag_text(&d);
    kf_diag_cleanup(&d);
    pthread_mutex_lock(&s->mu);
    kf_engine_unref(s->pending); /* a newer build replaces one the loop has not taken yet */
    kf_free(s->pending_error);
    s->pending = e;
    s->pending_error = err;
    s->pending_ready = 1;
    pthread_mutex_unlock(&s->mu);
    lws_cancel_service(s->cx);
}

static void watch(int ifd, const char *dir)
{
    if (inotify_add_watch(ifd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_ATTRIB) < 0)
        kf_log(KF_LOG_WARN, "event=watch_failed dir=%s error=%s (SIGHUP still reloads)", dir,
               strerror(errno));
}

static void *bg_main(void *arg)
{
    kf_server *s = arg;
    sigset_t set;
    int sfd = -1, ifd = -1, dirty = 0;
    uint64_t deadline = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (sfd < 0)
        kf_log(KF_LOG_ERR, "event=signalfd_failed error=%s", strerror(errno));
    if (ifd >= 0) {
        watch(ifd, s->cfg->kb_dir);
        watch(ifd, s->cfg->intents_dir);
    }
    atomic_store(&s->bg_ready, 1);
    for (;;) {
        struct pollfd pf[3] = {{.fd = s->wake_fd, .events = POLLIN},
                               {.fd = sfd, .events = POLLIN},
                               {.fd = ifd, .events = POLLIN}};
        int timeout = -1;
        if (dirty) {
            uint64_t now = kf_now_ns();
            timeout = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
        }
        int n = poll(pf, 3, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            break;
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    kf_log(KF_LOG_INFO, "event=sighup");
                    dirty = 1;
                    deadline = 0;
                } else {
                    atomic_store(&s->stop_requested, 1);
                    lws_cancel_service(s->cx);
                }
            }
        }
        if (pf[2].revents & POLLIN) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(ifd, buf, sizeof(buf)) > 0)
                ;
            dirty = 1;
            deadline = kf_now_ns() + (uint64_t)s->cfg->reload_debounce_ms * 1000000u;
        }
        if (dirty && kf_now_ns() >= deadline) {
            dirty = 0;
            reload(s);
        }
    }
    if (sfd >= 0)
        close(sfd);
    if (ifd >= 0)
        close(ifd);
    return NULL;
}

/* ---- lws ---------------------------------------------------------------------- */

static void lws_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    kf_log(level == LLL_ERR ? KF_LOG_ERR : KF_LOG_WARN, "lws: %.*s", (int)n, line);
}

int kf_server_run(const kf_config *cfg)
{
    ev_side evs = {0};
    kf_server s;
    struct lws_context_creation_info info;
    kf_diag d;
    char err[512];
    sigset_t set;
    pthread_t bg;
    int bg_started = 0, rc = 1;
    kf_engine_config ec;

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.wake_fd = -1;
    pthread_mutex_init(&s.mu, NULL);
    atomic_init(&s.stop_requested, 0);
    atomic_init(&s.bg_ready, 0);
    kf_diag_init(&d);
    kf_proto_init();
    kf_log_set_level(kf_config_log_level(cfg));
    kf_log_hold(); /* the loop's lines: one write per turn (below) */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);

    /* Blocked here, before any thread exists, so every thread inherits the mask and the
     * signals reach only the background thread's signalfd. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (kf_config_check(cfg, &d)) {
        kf_diag_print(&d, stderr);
        goto out;
    }
    kf_store_options so = {.sync_full = !strcmp(cfg->db_synchronous, "full"),
                           .writer = 1,
                           .busy_ms = (int)cfg->db_busy_ms};
    s.store = kf_store_open_sqlite(cfg->db, &so, err, sizeof(err));
    if (!s.store) {
        fprintf(stderr, "kefu: database: %s\n", err);
        goto out;
    }
    engine_config(cfg, &ec);
    s.engine = kf_engine_load(&ec, &d);
    if (!s.engine) {
        kf_diag_print(&d, stderr);
        fprintf(stderr, "kefu: the knowledge has errors; not starting\n");
        goto out;
    }
    kf_log(KF_LOG_INFO, "event=knowledge_loaded entries=%zu", kf_engine_kb(s.engine)->n_entries);
    /* Business hours are read in this zone; kefu's log lines are in UTC either way. */
    if (cfg->timezone[0]) {
        setenv("TZ", cfg->timezone, 1);
        tzset();
    }

    struct lws_protocols protocols[] = {
        {.name = "http", .callback = http0_cb},
        {.name = "kefu-http-api",
         .callback = kf_http_api_cb,
         .per_session_data_size = kf_http_api_pss_size()},
        {.name = KF_VISITOR_PROTOCOL,
         .callback = kf_ws_visitor_cb,
         .per_session_data_size = kf_ws_visitor_pss_size(),
         .rx_buffer_size = 4096},
        {.name = KF_AGENT_PROTOCOL,
         .callback = kf_ws_agent_cb,
         .per_session_data_size = kf_ws_agent_pss_size(),
         .rx_buffer_size = 4096},
        {.name = NULL},
    };
    struct lws_http_mount m_root = {
        .mountpoint = "/",
        .origin = cfg->web_dir,
        .def = "index.html",
        .origin_protocol = LWSMPRO_FILE,
        .mountpoint_len = 1,
    };
    struct lws_http_mount m_api = {
        .mount_next = &m_root,
        .mountpoint = "/api",
        .origin = "kefu-http-api",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 4,
    };
    struct lws_http_mount m_metrics = {
        .mount_next = &m_api,
        .mountpoint = "/metrics",
        .origin = "kefu-http-api",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 8,
    };
    struct lws_http_mount m_health = {
        .mount_next = &m_metrics,
        .mountpoint = "/healthz",
        .origin = "kefu-http-api",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 8,
    };
    int tls = cfg->tls_cert[0] != '\0';
    memset(&info, 0, sizeof(info));
    info.port = cfg->listen_port;
    info.iface =
        strcmp(cfg->listen_addr, "0.0.0.0") && cfg->listen_addr[0] ? cfg->listen_addr : NULL;
    info.protocols = protocols;
    info.mounts = &m_health;
    info.user = &s;
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    /* An IPv4 address gets an IPv4 socket: on its IPv6 socket, lws 4.1 listened on every
     * address of the machine for `listen = 127.0.0.1:PORT`. */
    struct in_addr v4;
    if (info.iface && inet_pton(AF_INET, info.iface, &v4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    /* Dead peers are found by TCP keepalive (probes after 5 idle minutes, closed after 3 more
     * unanswered ones 10 s apart), not by lws's validity pings: lws 4.1 moves a connection's
     * validity timer to the end of one sorted list on every frame it receives, a walk over
     * every connection (6.7 % of the loop at 10,000 connections; docs/performance.md). */
    static const lws_retry_bo_t no_validity_pings = {.secs_since_valid_ping = 0,
                                                     .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = &no_validity_pings;
    info.ka_time = KEEPALIVE_IDLE_S;
    info.ka_probes = 3;
    info.ka_interval = 10;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    if (ev_side_init(&evs, &s, &info)) {
        fprintf(stderr, "kefu: cannot start libev's event loop\n");
        goto out;
    }
    s.cx = lws_create_context(&info);
    if (!s.cx) {
        fprintf(stderr, "kefu: cannot listen on %s (address in use, or bad TLS files?%s)\n",
                cfg->listen,
                evs.loop ? " or no libwebsockets-evlib-ev: event_loop = poll runs without it" : "");
        goto out;
    }
    int port = lws_get_vhost_listen_port(lws_get_vhost_by_name(s.cx, "default"));
    s.wake_fd = eventfd(0, EFD_CLOEXEC);
    if (s.wake_fd < 0 || pthread_create(&bg, NULL, bg_main, &s) != 0) {
        fprintf(stderr, "kefu: cannot start the background thread\n");
        goto out;
    }
    bg_started = 1;
    kf_ws_visitor__init(&s);
    lws_sul_schedule(s.cx, 0, &s.sul_gc, gc_cb, 10 * LWS_US_PER_SEC);
    if (kf_desk__init(&s)) {
        fprintf(stderr, "kefu: could not restore the handoff queue from the database\n");
        goto out;
    }
    kf_desk__changed(&s); /* auto mode: nobody is online yet, but queue positions are set */
    /* "listening" promises that an edit from now on is seen: wait for the watches (bounded;
     * a machine out of inotify instances still serves, and SIGHUP still reloads). */
    for (int i = 0; i < 200 && !atomic_load(&s.bg_ready); i++)
        usleep(5000);
    kf_store_event_add(s.store, 0, "server_start", NULL, kf_store_now_ms());
    const char *scheme = tls ? "https" : "http";
    printf("kefu listening on %s://%s:%d\n", scheme, cfg->listen_addr, port);
    /* where people go: the demo shop page with the widget, the agent console, the
     * knowledge page (the first line stays first: scripts and tests wait for it) */
    printf("  visitors:  %s://%s:%d/  (widget: /widget.js, WebSocket: /ws)\n"
           "  agents:    %s://%s:%d/agent/\n"
           "  editors:   %s://%s:%d/kb/\n",
           scheme, cfg->listen_addr, port, scheme, cfg->listen_addr, port, scheme,
           cfg->listen_addr, port);
    fflush(stdout);

    serve(&s, &evs);
    kf_ws_visitor__flush(&s); /* answers of the last turn: stored, queued to closing sockets */
    kf_log(KF_LOG_INFO, "event=stopped");
    kf_store_event_add(s.store, 0, "server_stop", NULL, kf_store_now_ms());
    rc = 0;
out:
    if (bg_started) {
        uint64_t one = 1;
        if (write(s.wake_fd, &one, sizeof(one)) < 0)
            kf_log(KF_LOG_ERR, "event=wake_failed");
        pthread_join(bg, NULL);
    }
    kf_desk__cleanup(&s);       /* cancels its timers: before the context goes */
    kf_ws_visitor__cleanup(&s); /* the matching thread wakes the context: before it goes */
    if (s.cx) {
        lws_sul_cancel(&s.sul_gc);
        lws_sul_cancel(&s.sul_stop);
        lws_sul_cancel(&s.sul_tick);
        lws_sul_cancel(&s.sul_flush);
        lws_context_destroy(s.cx);
    }
    ev_side_cleanup(&evs);
    if (s.wake_fd >= 0)
        close(s.wake_fd);
    kf_engine_unref(s.pending);
    kf_free(s.pending_error);
    kf_free(s.reload_errors);
    kf_anscache_clear(&s.answers);
    kf_engine_unref(s.engine);
    kf_norm_free(s.norm);
    kf_free(s.pend);
    kf_free(s.pend_items);
    kf_free(s.fly);
    kf_free(s.fly_items);
    kf_store_close(s.store);
    kf_log_flush();
    addrs_free(&s);
    pthread_mutex_destroy(&s.mu);
    kf_diag_cleanup(&d);
    return rc;
}
