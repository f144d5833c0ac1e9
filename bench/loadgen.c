/* SPDX-License-Identifier: MIT
 * bench/loadgen: a load generator for kefu's visitor WebSocket (and for any server speaking
 * the same frames, such as bench/peer-nlpjs/server.mjs). It opens N connections with the
 * kefu.visitor.v1 subprotocol over libwebsockets' client API, sends `hello` on each, then
 * questions from a file, either closed loop (the next question when the reply arrives) or at
 * a fixed total rate, and reports answered messages per second, round-trip percentiles,
 * errors and the server's RSS (from /proc/PID/status) at idle, with N connections and after
 * the load. Bounded in count and time; meant for loopback only.
 *
 * One lws context, one thread: the generator takes one core, the server the other. The
 * round trip is measured from the moment a message is due (closed loop: when it is written;
 * fixed rate: its scheduled time, so a server that falls behind is not hidden by a generator
 * that waits for it) to the reply frame carrying reply_to.
 *
 * The event loop (--loop): at a fixed rate, libuv's (lws's evlib-uv plugin on a loop of ours,
 * epoll underneath); lws's own poll() loop scans every descriptor on each wake-up, 1,000 of
 * them every millisecond, and cost 115 us of CPU per answer against 45 us with libuv
 * (docs/performance.md). In a closed loop the default is libev's (lws's evlib-ev plugin on a
 * libev loop of ours, as the server): poll() cost as much against kefu, whose group commits
 * send many replies per wake-up, but 160-171 us per answer against 35-43 us with libev
 * against the nlp.js peer, which answers one message at a time, and twice libev's at 10,000
 * connections. At a fixed rate libev halved the generator's CPU again (44-48 against 105-131
 * us at 4,000/s) with a p50 0.3-0.5 ms higher: the tick was an lws timer, which spun on
 * libuv's loop and was late on libev's. Both now tick on a timerfd (tick_fd), which did away
 * with both (eighth session, 6,000/s: 32.8 us per answer with libev, 35.6-37.9 with libuv,
 * against 83.5-88.3 before, p50 1.13-1.20 ms each); uv stays the default there. */
#include <ev.h>
#include <uv.h> /* before libwebsockets.h, which then declares its libuv parts */
#include <libwebsockets.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT 8 /* fixed-rate mode: sends outstanding per connection, at most */

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_READY, C_DONE };

typedef struct conn {
    struct lws *wsi;
    int idx;
    enum cstate state;
    int hello_due;
    int closing;
    int sends_due;             /* messages to write at the next WRITEABLE */
    uint64_t due_ns[INFLIGHT]; /* ring of due times of the messages awaiting a reply */
    int due_head, due_n;
    unsigned next_q; /* index of the next question */
    unsigned next_id;
    char *rx; /* a fragmented frame being assembled (rare) */
    size_t rx_len, rx_cap;
} conn;

/* ---- options and state ----------------------------------------------------------- */

static struct {
    const char *url, *qfile, *touch, *label, *trace;
    char host[256], path[256];
    int port;
    int n_conns, ramp, json, loop; /* L_*: -1 until --loop or the mode decides */
    int separate_acks;             /* hello without fold_acks: an ack before each reply */
    double rate, warmup_s, duration_s, touch_at_s, connect_s;
    long max_count;
    int pid;
} opt = {.n_conns = 100,
         .ramp = 200,
         .warmup_s = 1,
         .duration_s = 10,
         .connect_s = 60,
         .max_count = 1000000,
         .touch_at_s = -1,
         .loop = -1};

enum { L_POLL, L_UV, L_EV };
static const char *const loop_names[] = {"poll", "uv", "ev"};

static struct lws_context *cx;
static uv_loop_t loop;        /* --loop uv */
static struct ev_loop *evloop; /* --loop ev */
static double limit_s; /* hard bound on the whole run */
static int over_limit;
static conn *conns;
static char **qs; /* pre-built JSON-escaped question texts */
static size_t n_qs;
static volatile sig_atomic_t interrupted;

enum phase { P_CONNECT, P_SETTLE, P_WARMUP, P_MEASURE, P_DRAIN, P_END };
static enum phase phase = P_CONNECT;
static uint64_t t0_ns, phase_ns, measure_ns, measure_end_ns, next_rate_ns;
static int n_started, n_connecting, n_ready, n_ready_max, n_closed_early, n_conn_errors;
static unsigned rr; /* round-robin cursor for fixed-rate sends */
static long sent_measured, answered, answered_total, errors_frames, skipped, outstanding;
static long err_rate_limited, err_internal, err_other, acks;
static uint32_t *rtt_us; /* one entry per answered message in the measurement window */
static uint32_t *due_us; /* --trace: when each of those was due, from the window's start */
static long rtt_n, rtt_cap;
static uint64_t last_answer_ns, max_gap_ns, max_gap_at_ns, touch_ns, max_gap_after_touch_ns;
static long rss_idle_kb, rss_conns_kb, rss_load_kb, hwm_kb;
/* CPU seconds over the measured window: the server's (-p) and the generator's own */
static double srv_cpu0 = -1, srv_cpu1 = -1, gen_cpu0, gen_cpu1;
static long timeline[600]; /* answers per 100 ms of the measurement window */
static lws_sorted_usec_list_t sul_tick;
/* On libuv's and libev's loops the tick is a timerfd, exact to the microsecond and asleep in
 * between. lws's own timers (lws_sul, still the tick's on --loop poll) hand libuv what is left
 * to the next one in whole milliseconds, rounded down: a tick due in 0.99 ms became a 0 ms
 * timer, fired on every pass of the loop until it was due, so at a fixed rate (a tick every
 * millisecond) the generator spun; clock_gettime under lws_now_usecs was a third of its
 * samples. */
static int tick_fd = -1;
static uv_poll_t tick_uv;
static ev_io tick_ev;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU seconds (user + system, all threads) of a process from /proc/PID/stat, or -1. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's own CPU seconds. */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long proc_kb(int pid, const char *key)
{
    char path[64], line[256];
    long v = -1;
    size_t kl = strlen(key);
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* ---- questions ---------------------------------------------------------------------- */

static char *json_escape(const char *s, size_t n)
{
    char *o = malloc(n * 6 + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c < 0x20) {
            w += sprintf(w, "\\u%04x", c);
        } else {
            *w++ = (char)c;
        }
    }
    *w = 0;
    return o;
}

/* One question per line; a line `text<TAB>label` keeps the text. */
static int load_questions(const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0, qcap = 0;
    ssize_t l;
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", file, strerror(errno));
        return -1;
    }
    while ((l = getline(&line, &cap, f)) > 0) {
        char *tab = strchr(line, '\t');
        size_t n = tab ? (size_t)(tab - line) : (size_t)l;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (!n || n > 1000)
            continue;
        if (n_qs == qcap) {
            qcap = qcap ? qcap * 2 : 1024;
            char **q = realloc(qs, qcap * sizeof(*qs));
            if (!q)
                break;
            qs = q;
        }
        if (!(qs[n_qs] = json_escape(line, n)))
            break;
        n_qs++;
    }
    free(line);
    fclose(f);
    if (!n_qs) {
        fprintf(stderr, "loadgen: %s: no questions\n", file);
        return -1;
    }
    return 0;
}

/* ---- connections -------------------------------------------------------------------- */

static const struct lws_protocols protocols[];

static void connect_one(conn *c)
{
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof(i));
    i.context = cx;
    i.address = opt.host;
    i.port = opt.port;
    i.path = opt.path;
    i.host = opt.host;
    i.origin = opt.host;
    i.protocol = "kefu.visitor.v1";
    i.local_protocol_name = "kefu.visitor.v1";
    i.pwsi = &c->wsi;
    i.userdata = c;
    c->state = C_CONNECTING;
    n_started++;
    n_connecting++;
    if (!lws_client_connect_via_info(&i)) {
        c->state = C_DONE;
        c->wsi = NULL;
        n_connecting--;
        n_conn_errors++;
    }
}

static void ramp_connections(void)
{
    while (n_started < opt.n_conns && n_connecting < opt.ramp)
        connect_one(&conns[n_started]);
}

static int sending(void)
{
    return phase == P_WARMUP || phase == P_MEASURE;
}

static void record_answer(conn *c, uint64_t now, int ok)
{
    uint64_t due = 0;
    if (c->due_n) {
        due = c->due_ns[c->due_head];
        c->due_head = (c->due_head + 1) % INFLIGHT;
        c->due_n--;
        outstanding--;
    }
    if (ok)
        answered_total++;
    if (ok && phase == P_MEASURE) {
        uint64_t idx = (now - measure_ns) / 100000000u; /* answers received per 100 ms */
        if (idx < sizeof(timeline) / sizeof(timeline[0]))
            timeline[idx]++;
    }
    if (ok && (phase == P_MEASURE || phase == P_DRAIN)) {
        if (last_answer_ns && now - last_answer_ns > max_gap_ns) {
            max_gap_ns = now - last_answer_ns;
            max_gap_at_ns = now - measure_ns;
        }
        if (touch_ns && now > touch_ns && last_answer_ns &&
            now - last_answer_ns > max_gap_after_touch_ns)
            max_gap_after_touch_ns = now - last_answer_ns;
        last_answer_ns = now;
    }
    /* Only messages sent inside the window count, each once. */
    if (ok && due >= measure_ns && measure_ns && (!measure_end_ns || due < measure_end_ns)) {
        answered++;
        if (rtt_n < rtt_cap) {
            if (due_us)
                due_us[rtt_n] = (uint32_t)((due - measure_ns) / 1000u);
            rtt_us[rtt_n++] = (uint32_t)((now - due) / 1000u);
        }
    }
    if (sending() && opt.rate <= 0 && c->state == C_READY) {
        c->sends_due++;
        lws_callback_on_writable(c->wsi);
    }
}

/* Looks for `"key":` in a compact JSON frame; returns the value's start or NULL. Our frames
 * are written by kefu's proto.c or JSON.stringify, neither puts spaces around ':'. */
static const char *field(const char *f, size_t n, const char *key)
{
    char pat[40];
    int pl = snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = memmem(f, n, pat, (size_t)pl);
    return p ? p + pl : NULL;
}

static void on_frame(conn *c, const char *f, size_t n)
{
    const char *t = field(f, n, "type");
    uint64_t now = now_ns();
    if (!t)
        return;
    if (!strncmp(t, "\"welcome\"", 9)) {
        if (c->state == C_OPEN) {
            c->state = C_READY;
            n_ready++;
            if (sending() && opt.rate <= 0) {
                c->sends_due++;
                lws_callback_on_writable(c->wsi);
            }
        }
    } else if (!strncmp(t, "\"ack\"", 5)) {
        acks++;
    } else if (!strncmp(t, "\"error\"", 7)) {
        const char *code = field(f, n, "code");
        errors_frames++;
        if (code && !strncmp(code, "\"rate_limited\"", 14))
            err_rate_limited++;
        else if (code && !strncmp(code, "\"internal\"", 10))
            err_internal++;
        else
            err_other++;
        /* The message will not be answered: count it as done so the loop goes on. */
        if (code && strncmp(code, "\"out_of_order\"", 14))
            record_answer(c, now, 0);
    } else if (field(f, n, "reply_to")) {
        record_answer(c, now, 1);
    }
}

static int write_next(conn *c)
{
    char buf[LWS_PRE + 1200];
    char *p = buf + LWS_PRE;
    int n;
    if (c->closing) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"done", 4);
        return -1;
    }
    if (c->hello_due) {
        c->hello_due = 0;
        n = snprintf(p, 1200, "{\"v\":1,\"type\":\"hello\",\"lang\":\"auto\"%s}",
                     opt.separate_acks ? "" : ",\"fold_acks\":true");
    } else if (c->sends_due > 0 && sending()) {
        const char *q = qs[(c->idx * 7919u + c->next_q++) % n_qs];
        c->sends_due--;
        n = snprintf(p, 1200, "{\"v\":1,\"type\":\"message\",\"id\":\"m%u\",\"text\":\"%s\"}",
                     c->next_id++, q);
        if (n >= 1200)
            n = 1199;
        if (opt.rate <= 0) {
            if (c->due_n < INFLIGHT) {
                c->due_ns[(c->due_head + c->due_n) % INFLIGHT] = now_ns();
                c->due_n++;
                outstanding++;
            }
        }
        if (phase == P_MEASURE)
            sent_measured++;
    } else {
        return 0;
    }
    if (lws_write(c->wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_TEXT) < n)
        return -1;
    if (c->hello_due || (c->sends_due > 0 && sending()))
        lws_callback_on_writable(c->wsi);
    return 0;
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->state == C_CONNECTING) {
            n_connecting--;
            n_conn_errors++;
            if (n_conn_errors <= 5)
                fprintf(stderr, "loadgen: connection error: %s\n", in ? (char *)in : "?");
            c->state = C_DONE;
            c->wsi = NULL;
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        n_connecting--;
        c->state = C_OPEN;
        c->hello_due = 1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: return write_next(c);
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        int first = lws_is_first_fragment(wsi);
        int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
        if (first && last) {
            on_frame(c, in, len);
            break;
        }
        if (first)
            c->rx_len = 0;
        if (c->rx_len + len > c->rx_cap) {
            size_t cap = (c->rx_len + len) * 2;
            char *r = realloc(c->rx, cap);
            if (!r)
                return -1;
            c->rx = r;
            c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (last)
            on_frame(c, c->rx, c->rx_len);
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            if (c->state == C_READY)
                n_ready--;
            if (phase < P_END)
                n_closed_early++;
            outstanding -= c->due_n;
            c->due_n = 0;
            c->state = C_DONE;
            c->wsi = NULL;
        }
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        /* Whatever path closed it, never keep a pointer to a freed wsi. */
        if (c && c->wsi == wsi) {
            if (c->state == C_CONNECTING)
                n_connecting--;
            if (c->state == C_READY)
                n_ready--;
            if (c->state != C_DONE && phase < P_END)
                n_closed_early++;
            c->state = C_DONE;
            c->wsi = NULL;
        }
        break;
    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {.name = "kefu.visitor.v1", .callback = cb, .per_session_data_size = 0, .rx_buffer_size = 4096},
    {.name = NULL},
};

/* ---- phases ------------------------------------------------------------------------- */

static void fixed_rate_sends(uint64_t now)
{
    /* Due messages since the last tick, spread over the ready connections. */
    double per_ns = opt.rate / 1e9;
    if (!next_rate_ns)
        next_rate_ns = now;
    while (next_rate_ns <= now) {
        conn *c = NULL;
        for (int k = 0; k < opt.n_conns && !c; k++) {
            conn *x = &conns[rr++ % (unsigned)opt.n_conns];
            if (x->state == C_READY)
                c = x;
        }
        if (!c)
            break;
        if (c->due_n >= INFLIGHT) {
            skipped++; /* the server is INFLIGHT replies behind on this connection */
        } else {
            c->due_ns[(c->due_head + c->due_n) % INFLIGHT] = next_rate_ns;
            c->due_n++;
            outstanding++;
            c->sends_due++;
            lws_callback_on_writable(c->wsi);
        }
        next_rate_ns += (uint64_t)(1.0 / per_ns);
    }
}

static void start_sending(void)
{
    if (opt.rate > 0)
        return;
    for (int i = 0; i < opt.n_conns; i++)
        if (conns[i].state == C_READY) {
            conns[i].sends_due++;
            lws_callback_on_writable(conns[i].wsi);
        }
}

static void tick(lws_sorted_usec_list_t *sul);

/* The next tick in us microseconds (> 0). */
static void schedule_tick(long us)
{
    if (tick_fd < 0) {
        lws_sul_schedule(cx, 0, &sul_tick, tick, us);
        return;
    }
    struct itimerspec its = {.it_value = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000}};
    if (timerfd_settime(tick_fd, 0, &its, NULL))
        fprintf(stderr, "loadgen: timerfd_settime: %s\n", strerror(errno));
}

static void tick_fd_ready(void)
{
    uint64_t n;
    if (read(tick_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
        tick(NULL);
}

static void tick_uv_cb(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    tick_fd_ready();
}

static void tick_ev_cb(struct ev_loop *l, ev_io *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    tick_fd_ready();
}

static void tick(lws_sorted_usec_list_t *sul)
{
    uint64_t now = now_ns();
    double in_phase = (double)(now - phase_ns) / 1e9;
    (void)sul;

    if (interrupted && phase < P_DRAIN) {
        phase = P_DRAIN;
        phase_ns = now;
    }
    switch (phase) {
    case P_CONNECT:
        ramp_connections();
        if (n_ready + n_conn_errors + n_closed_early >= opt.n_conns || in_phase > opt.connect_s) {
            phase = P_SETTLE;
            phase_ns = now;
            if (!opt.json)
                fprintf(stderr, "loadgen: %d connections ready in %.2f s (%d errors)\n", n_ready,
                        in_phase, n_conn_errors);
        }
        break;
    case P_SETTLE:
        if (in_phase >= 1.0) {
            rss_conns_kb = proc_kb(opt.pid, "VmRSS");
            n_ready_max = n_ready;
            phase = P_WARMUP;
            phase_ns = now;
            start_sending();
        }
        break;
    case P_WARMUP:
        if (opt.rate > 0)
            fixed_rate_sends(now);
        if (in_phase >= opt.warmup_s) {
            phase = P_MEASURE;
            phase_ns = measure_ns = now;
            srv_cpu0 = proc_cpu_s(opt.pid);
            gen_cpu0 = self_cpu_s();
        }
        break;
    case P_MEASURE:
        if (opt.rate > 0)
            fixed_rate_sends(now);
        if (opt.touch && !touch_ns && in_phase >= opt.touch_at_s) {
            touch_ns = now;
            if (utimensat(AT_FDCWD, opt.touch, NULL, 0))
                fprintf(stderr, "loadgen: touch %s: %s\n", opt.touch, strerror(errno));
        }
        if (in_phase >= opt.duration_s || answered >= opt.max_count || n_ready == 0) {
            phase = P_DRAIN;
            phase_ns = measure_end_ns = now;
            srv_cpu1 = proc_cpu_s(opt.pid);
            gen_cpu1 = self_cpu_s();
        }
        break;
    case P_DRAIN:
        if (!measure_end_ns)
            measure_end_ns = now;
        if (outstanding <= 0 || in_phase >= 3.0) {
            rss_load_kb = proc_kb(opt.pid, "VmRSS");
            hwm_kb = proc_kb(opt.pid, "VmHWM");
            phase = P_END;
            phase_ns = now;
            /* Close from each connection's own WRITEABLE (return -1), the way lws expects. */
            for (int i = 0; i < opt.n_conns; i++)
                if (conns[i].wsi) {
                    conns[i].closing = 1;
                    lws_callback_on_writable(conns[i].wsi);
                }
        }
        break;
    case P_END:
        if (n_ready <= 0 || in_phase >= 3.0)
            interrupted = 2;
        break;
    }
    if (interrupted != 2 && (double)(now - t0_ns) / 1e9 > limit_s) {
        fprintf(stderr, "loadgen: time limit reached\n");
        over_limit = 1;
        interrupted = 2;
    }
    if (interrupted != 2)
        schedule_tick(phase == P_MEASURE && opt.rate > 0 ? 1000 : 10000);
    else if (opt.loop == L_POLL)
        lws_cancel_service(cx); /* else lws_service() polls on, up to 30 s with no timer left */
    else if (opt.loop == L_UV)
        uv_stop(&loop);
    else if (opt.loop == L_EV)
        ev_break(evloop, EVBREAK_ALL);
}

/* ---- report ------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q)
{
    if (!rtt_n)
        return 0;
    long k = (long)(q * (double)rtt_n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > rtt_n)
        k = rtt_n;
    return rtt_us[k - 1] / 1000.0;
}

/* --trace FILE: one line per answer of the window, in the order they came: when it was due
 * (ms from the window's start) and its round trip (ms), to see when a tail happens. */
static void write_trace(void)
{
    FILE *f = fopen(opt.trace, "w");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", opt.trace, strerror(errno));
        return;
    }
    fprintf(f, "# due_ms rtt_ms; the window began at %.6f s of CLOCK_MONOTONIC\n",
            (double)measure_ns / 1e9);
    for (long i = 0; i < rtt_n; i++)
        fprintf(f, "%.3f %.3f\n", due_us[i] / 1000.0, rtt_us[i] / 1000.0);
    if (fclose(f))
        fprintf(stderr, "loadgen: %s: %s\n", opt.trace, strerror(errno));
}

static void report(void)
{
    double secs = measure_end_ns > measure_ns ? (double)(measure_end_ns - measure_ns) / 1e9 : 0;
    double rate = secs > 0 ? (double)answered / secs : 0;
    if (opt.trace)
        write_trace();
    qsort(rtt_us, (size_t)rtt_n, sizeof(*rtt_us), cmp_u32);
    double mb = 1.0 / 1024;
    double per_conn_kb = rss_conns_kb > 0 && rss_idle_kb > 0 && n_ready_max > 0
                             ? (double)(rss_conns_kb - rss_idle_kb) / (double)n_ready_max
                             : -1;
    /* CPU per answer over the measured window (microseconds; -1: unknown) */
    double srv_us = srv_cpu0 >= 0 && srv_cpu1 >= 0 && answered > 0
                        ? (srv_cpu1 - srv_cpu0) * 1e6 / (double)answered
                        : -1;
    double gen_us = answered > 0 ? (gen_cpu1 - gen_cpu0) * 1e6 / (double)answered : -1;
    double srv_cores = srv_us >= 0 && secs > 0 ? (srv_cpu1 - srv_cpu0) / secs : -1;
    /* min/median answers per 100 ms window (full windows only) */
    long nwin = (long)(secs * 10), wmin = -1;
    for (long i = 0; i < nwin && i < 600; i++)
        if (wmin < 0 || timeline[i] < wmin)
            wmin = timeline[i];
    if (opt.json) {
        printf("{\"label\":\"%s\",\"conns\":%d,\"ready\":%d,\"mode\":\"%s\",\"rate\":%.0f,"
               "\"secs\":%.3f,\"answered\":%ld,\"answered_per_s\":%.1f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%ld,"
               "\"err_rate_limited\":%ld,\"err_internal\":%ld,\"err_other\":%ld,"
               "\"conn_errors\":%d,\"closed_early\":%d,\"skipped\":%ld,"
               "\"rss_idle_mb\":%.1f,\"rss_conns_mb\":%.1f,\"rss_load_mb\":%.1f,"
               "\"hwm_mb\":%.1f,\"per_conn_kb\":%.2f,\"max_gap_ms\":%.3f,"
               "\"max_gap_at_s\":%.3f,\"max_gap_after_touch_ms\":%.3f,\"min_100ms\":%ld,"
               "\"server_cpu_us\":%.1f,\"server_cores\":%.2f,\"gen_cpu_us\":%.1f,\"loop\":\"%s\","
               "\"acks\":\"%s\",\"ack_frames\":%ld}\n",
               opt.label ? opt.label : "", opt.n_conns, n_ready_max,
               opt.rate > 0 ? "rate" : "closed", opt.rate, secs, answered, rate, pct(.5), pct(.99),
               pct(.999), pct(1), errors_frames, err_rate_limited, err_internal, err_other,
               n_conn_errors, n_closed_early, skipped, rss_idle_kb * mb, rss_conns_kb * mb,
               rss_load_kb * mb, hwm_kb * mb, per_conn_kb, (double)max_gap_ns / 1e6,
               (double)max_gap_at_ns / 1e9, (double)max_gap_after_touch_ns / 1e6, wmin, srv_us,
               srv_cores, gen_us, loop_names[opt.loop], opt.separate_acks ? "separate" : "folded",
               acks);
    } else {
        printf("%s: %d connections (%s, %s loop), %.2f s: %ld answered, %.0f/s; round trip p50 "
               "%.3f ms, p99 %.3f ms, p999 %.3f ms, max %.3f ms\n",
               opt.label ? opt.label : "loadgen", opt.n_conns,
               opt.rate > 0 ? "fixed rate" : "closed loop", loop_names[opt.loop], secs, answered,
               rate, pct(.5), pct(.99), pct(.999), pct(1));
        printf("  errors: %ld frames (rate_limited %ld, internal %ld, other %ld), %d connect "
               "errors, %d closed early, %ld sends skipped; %ld ack frames (acks %s)\n",
               errors_frames, err_rate_limited, err_internal, err_other, n_conn_errors,
               n_closed_early, skipped, acks, opt.separate_acks ? "separate" : "folded");
        printf("  server RSS: idle %.1f MB, %d connections %.1f MB (%.2f KB each), after load "
               "%.1f MB, peak %.1f MB\n",
               rss_idle_kb * mb, opt.n_conns, rss_conns_kb * mb, per_conn_kb, rss_load_kb * mb,
               hwm_kb * mb);
        if (srv_us >= 0)
            printf("  CPU per answer: server %.1f µs (%.2f cores), this generator %.1f µs\n",
                   srv_us, srv_cores, gen_us);
        printf("  longest pause between answers %.1f ms (at %.2f s)%s\n", (double)max_gap_ns / 1e6,
               (double)max_gap_at_ns / 1e9, opt.touch ? "" : "");
        if (opt.touch)
            printf("  after touching %s: longest pause %.1f ms\n", opt.touch,
                   (double)max_gap_after_touch_ns / 1e6);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -u ws://127.0.0.1:PORT/ws -f QUESTIONS [-c CONNS] [-r RATE]\n"
            "               [-n COUNT] [-d SECS] [-w WARMUP_SECS] [-p SERVER_PID] [--ramp K]\n"
            "               [--touch FILE --touch-at SECS] [--label NAME] [--json]\n"
            "               [--loop poll|uv|ev] [--separate-acks] [--trace FILE]\n"
            "  -r 0 (default): closed loop, each connection sends its next question when\n"
            "  the reply arrives; -r RATE: RATE messages/s in all, spread over the connections.\n"
            "  --loop: lws's own poll() loop, libuv's or libev's (default: ev in a closed\n"
            "  loop, uv at a fixed rate).\n"
            "  --separate-acks: hello without fold_acks, so each answer comes after an ack\n"
            "  frame (docs/protocol.md); by default the answer carries the ack.\n"
            "  --trace FILE: each measured answer's due time and round trip (ms), a line each.\n");
    exit(2);
}

static int parse_url(const char *u)
{
    const char *p;
    if (strncmp(u, "ws://", 5))
        return -1;
    u += 5;
    p = strchr(u, ':');
    if (!p || (size_t)(p - u) >= sizeof(opt.host))
        return -1;
    memcpy(opt.host, u, (size_t)(p - u));
    opt.host[p - u] = 0;
    opt.port = atoi(p + 1);
    const char *s = strchr(p, '/');
    snprintf(opt.path, sizeof(opt.path), "%s", s ? s : "/ws");
    return opt.port > 0 ? 0 : -1;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"ramp", required_argument, NULL, 'R'},
                                       {"touch", required_argument, NULL, 'T'},
                                       {"touch-at", required_argument, NULL, 'A'},
                                       {"label", required_argument, NULL, 'L'},
                                       {"json", no_argument, NULL, 'J'},
                                       {"loop", required_argument, NULL, 'P'},
                                       {"separate-acks", no_argument, NULL, 'S'},
                                       {"trace", required_argument, NULL, 'X'},
                                       {NULL, 0, NULL, 0}};
    struct lws_context_creation_info info;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, "u:f:c:r:n:d:w:p:", lo, NULL)) != -1) {
        switch (c) {
        case 'u': opt.url = optarg; break;
        case 'f': opt.qfile = optarg; break;
        case 'c': opt.n_conns = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'n': opt.max_count = atol(optarg); break;
        case 'd': opt.duration_s = atof(optarg); break;
        case 'w': opt.warmup_s = atof(optarg); break;
        case 'p': opt.pid = atoi(optarg); break;
        case 'R': opt.ramp = atoi(optarg); break;
        case 'T': opt.touch = optarg; break;
        case 'A': opt.touch_at_s = atof(optarg); break;
        case 'L': opt.label = optarg; break;
        case 'J': opt.json = 1; break;
        case 'S': opt.separate_acks = 1; break;
        case 'X': opt.trace = optarg; break;
        case 'P':
            opt.loop = !strcmp(optarg, "poll") ? L_POLL
                       : !strcmp(optarg, "uv")   ? L_UV
                       : !strcmp(optarg, "ev")   ? L_EV
                                                 : -2;
            if (opt.loop == -2)
                usage();
            break;
        default: usage();
        }
    }
    if (!opt.url || !opt.qfile || parse_url(opt.url) || opt.n_conns < 1 || opt.ramp < 1 ||
        opt.duration_s <= 0 || opt.duration_s > 60 || opt.max_count < 1)
        usage();
    if (opt.loop < 0)
        opt.loop = opt.rate <= 0 ? L_EV : L_UV;
    if (opt.touch && opt.touch_at_s < 0)
        opt.touch_at_s = opt.duration_s / 3;
    if (load_questions(opt.qfile))
        return 1;
    conns = calloc((size_t)opt.n_conns, sizeof(*conns));
    rtt_cap = opt.max_count < 20000000 ? opt.max_count : 20000000;
    rtt_us = malloc((size_t)rtt_cap * sizeof(*rtt_us));
    if (opt.trace)
        due_us = malloc((size_t)rtt_cap * sizeof(*due_us));
    if (!conns || !rtt_us || (opt.trace && !due_us)) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    for (int i = 0; i < opt.n_conns; i++)
        conns[i].idx = i;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    /* No fd_limit_per_thread: below the process's limit it makes lws find the connection of
     * each ready descriptor by a scan of its whole table (lws 4.1's "slow fds handling",
     * 10-13 % of this generator's samples at 1,000 connections); at the limit it indexes the
     * table by descriptor. So the limit itself must leave room for the connections. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < (rlim_t)opt.n_conns + 16) {
        fprintf(stderr, "loadgen: %d connections need ulimit -n of at least %d (it is %llu)\n",
                opt.n_conns, opt.n_conns + 16, (unsigned long long)nofile.rlim_cur);
        return 1;
    }
    info.timeout_secs = 30;
    void *foreign[1] = {&loop};
    if (opt.loop == L_UV) {
        if (uv_loop_init(&loop)) {
            fprintf(stderr, "loadgen: uv_loop_init failed\n");
            return 1;
        }
        info.options |= LWS_SERVER_OPTION_LIBUV;
        info.foreign_loops = foreign;
    } else if (opt.loop == L_EV) {
        if (!(evloop = ev_loop_new(EVBACKEND_EPOLL))) {
            fprintf(stderr, "loadgen: ev_loop_new failed\n");
            return 1;
        }
        foreign[0] = evloop;
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = foreign;
    }
    cx = lws_create_context(&info);
    if (!cx) {
        fprintf(stderr, "loadgen: lws init failed (ulimit -n?)\n");
        return 1;
    }
    rss_idle_kb = proc_kb(opt.pid, "VmRSS");
    t0_ns = phase_ns = now_ns();
    if (opt.loop != L_POLL &&
        (tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) >= 0) {
        if (opt.loop == L_UV) {
            if (uv_poll_init(&loop, &tick_uv, tick_fd) ||
                uv_poll_start(&tick_uv, UV_READABLE, tick_uv_cb)) {
                fprintf(stderr, "loadgen: cannot watch the tick's timerfd\n");
                return 1;
            }
        } else {
            ev_io_init(&tick_ev, tick_ev_cb, tick_fd, EV_READ);
            ev_io_start(evloop, &tick_ev);
        }
    }
    schedule_tick(1);
    /* Hard bound: connect + settle + warmup + duration + drain + close, whatever happens
     * (checked by tick(), which runs every 1 to 10 ms). */
    limit_s = opt.connect_s + 1 + opt.warmup_s + opt.duration_s + 10;
    if (opt.loop == L_POLL)
        while (interrupted != 2 && lws_service(cx, 0) >= 0)
            ;
    else if (opt.loop == L_UV)
        uv_run(&loop, UV_RUN_DEFAULT); /* until tick() calls uv_stop() */
    else
        ev_run(evloop, 0); /* until tick() calls ev_break() */
    rc = over_limit;
    if (!measure_end_ns)
        measure_end_ns = now_ns();
    report();
    if (tick_fd >= 0 && opt.loop == L_UV)
        uv_close((uv_handle_t *)&tick_uv, NULL); /* finished by the passes below */
    else if (tick_fd >= 0)
        ev_io_stop(evloop, &tick_ev);
    lws_context_destroy(cx);
    if (evloop)
        ev_loop_destroy(evloop);
    if (opt.loop == L_UV) { /* lws closes its handles on our loop: let them finish, then close it */
        for (int i = 0; i < 100000 && uv_run(&loop, UV_RUN_NOWAIT); i++)
            ;
        uv_loop_close(&loop); /* EBUSY if a handle outlived that: the process ends anyway */
    }
    for (int i = 0; i < opt.n_conns; i++)
        free(conns[i].rx);
    for (size_t i = 0; i < n_qs; i++)
        free(qs[i]);
    free(qs);
    free(conns);
    free(rtt_us);
    free(due_us);
    if (tick_fd >= 0)
        close(tick_fd);
    if (n_ready == 0 && answered == 0)
        rc = 1;
    return rc;
}
