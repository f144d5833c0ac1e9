/* SPDX-License-Identifier: MIT
 * The visitor WebSocket endpoint (`/ws`, subprotocol kefu.visitor.v1): origin and address
 * checks at the handshake, inbound fragment accumulation up to max_frame, per-connection and
 * per-address token buckets, the meaning of each visitor frame (store first, then ack, then
 * the bot's reply), and a bounded outgoing queue drained one lws_write per WRITEABLE.
 * Frame formats are proto.c's; persistence is the store's; matching is the engine's.
 *
 * Ordering: every frame of a conversation has a seq given by the store. While a resumed
 * connection replays missed frames from the store, new frames of its conversation are not
 * queued directly: the replay cursor simply extends to them, so the visitor sees every seq
 * once and in order. */
#include "match_worker.h"
#include "server_int.h"
#include "ws_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/proto.h"
#include "kefu/util.h"

typedef struct qitem {
    char *buf; /* LWS_PRE headroom, then len bytes of JSON */
    size_t len;
} qitem;

/* Resends (docs/protocol.md): a visitor frame whose id is already stored is acknowledged
 * again with its first seq, neither stored nor answered twice. The store keeps no index of
 * client ids (store_sqlite.c, version 5), so a connection remembers the ids of its last
 * RECENT frames (a hash and the seq; 0 while the frame waits for the group commit), and a
 * resumed connection also looks, for its first RECENT frames with an id, among the
 * conversation's last RESUME_ROWS rows at its hello, where a frame whose ack was lost is
 * (the exceptions are in docs/protocol.md). */
#define RECENT 32
#define RESUME_ROWS 256

typedef struct kf_recent {
    uint64_t h; /* id_hash(); 0: a free slot */
    int64_t seq;
} kf_recent;

typedef struct kf_ws_visitor_pss {
    struct lws *wsi;
    kf_server *srv;
    struct kf_ws_visitor_pss *next, **pprev;
    uint64_t id;
    char addr[64];
    kf_addr_slot *slot;
    int established;
    kf_wsrx rx; /* inbound message being assembled */
    kf_wsq q;   /* outgoing frames, and the close once they are written */
    /* conversation */
    int have_conv;
    kf_conv conv;
    kf_lang lang;     /* from hello; KF_LANG_NONE: detect per message */
    int fold_acks;    /* from hello: a reply sent at once acknowledges its message too */
    int desk_changed; /* a case was opened: run the desk after the commit */
    /* replay cursor: frames (replay_after, replay_until] still to send from the store */
    int64_t replay_after, replay_until;
    const char *last_text; /* the message being answered (borrowed during on_message) */
    /* per-connection token bucket */
    double tokens;
    uint64_t tok_ns;
    int rx_paused;        /* rx flow control: not reading while the queue is half full */
    unsigned n_pend;      /* answers of this connection waiting for the group commit */
    unsigned n_jobs;      /* its questions waiting to be matched or answered */
    kf_recent *recent;    /* RECENT slots, allocated with the first frame with an id */
    unsigned recent_next; /* the slot the next id takes */
    unsigned resume_left; /* frames with an id still looked up among the rows before... */
    int64_t resume_to;    /* ...this seq, the conversation's latest at the hello */
} kf_ws_visitor_pss;

/* An answered message waiting for the group commit: what the store gets (owned copies, as
 * a reload may free the knowledge the entry id points into) and what the visitor gets. */
typedef struct kf_vpend {
    kf_ws_visitor_pss *p; /* NULL once the connection closed: still stored, sent to nobody */
    kf_store_row rows[2];
    int64_t seqs[2];
    char *strs; /* one allocation: client_id, text, entry and norm point into it */
    const char *client_id, *text, *entry, *norm;
    char *frame;
    const char *lang; /* static (kf_lang_name): also set the conversation's language */
    int fallbacks;    /* >= 0: also set the conversation's miss count */
    kf_out *reply;    /* NULL: a message to the people holding the conversation (desk) */
} kf_vpend;

/* A question waiting to be matched and answered (its kf_mjob is at the same index of the
 * parallel array). The text and the id are copies: the frame is gone by then. */
typedef struct kf_vjob {
    kf_ws_visitor_pss *p; /* NULL once the connection closed: dropped, never acknowledged */
    char *strs;           /* the text, NUL, then the id */
    const char *id;
} kf_vjob;

/* A turn's answers are committed at the latest when this many wait (bounds the memory, about
 * 1 KB each, and the time the first of them waits in a very long turn). Reached while the
 * writer thread is busy, the loop waits for it and writes them itself: at 10,000 connections
 * in a closed loop, 4,096 was reached while a commit was written (9-22 % of the loop thread
 * went to SQLite then). */
#define PEND_MAX 16384
/* Questions in one batch of the matching thread, at most (see take_jobs). */
#define MATCH_MAX 1024

const char *const kf_server__error_codes[KF_N_ERROR_CODES] = {
    KF_PE_BAD_JSON,
    KF_PE_BAD_UTF8,
    KF_PE_UNSUPPORTED_VERSION,
    KF_PE_UNKNOWN_TYPE,
    KF_PE_MISSING_FIELD,
    KF_PE_BAD_FIELD,
    KF_PE_TOO_LARGE,
    KF_PE_BINARY_FRAME,
    KF_PE_OUT_OF_ORDER,
    KF_PE_RATE_LIMITED,
    KF_PE_TOO_MANY_CONNECTIONS,
    KF_PE_EMPTY_MESSAGE,
    KF_PE_UNKNOWN_ENTRY,
    KF_PE_UNKNOWN_SEQ,
    KF_PE_SHUTTING_DOWN,
    KF_PE_INTERNAL,
    KF_PE_ALREADY_ANSWERED,
    KF_PE_BAD_CONTACT,
};

size_t kf_ws_visitor_pss_size(void)
{
    return sizeof(kf_ws_visitor_pss);
}

/* ---- outgoing queue ----------------------------------------------------------- */

static void start_close(kf_ws_visitor_pss *p, int code, const char *reason)
{
    kf_wsq_close(&p->q, p->wsi, code, reason);
}

/* A frame that could not be queued (no memory to encode it or to grow the queue's ring):
 * the connection is closed, so the visitor resumes and gets it back from the store, rather
 * than a gap in the conversation's seqs. */
static int lost_frame(kf_ws_visitor_pss *p)
{
    if (!p->q.close_code) {
        kf_log(KF_LOG_WARN, "conn=c%llu conv=%lld event=close reason=out_of_memory",
               (unsigned long long)p->id, (long long)p->conv.id);
        start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    }
    return KF_ENOMEM;
}

/* Takes buf (LWS_PRE headroom + len bytes; NULL: it could not be made, out of memory). Over
 * the bound, the queue is dropped and the connection closed with a reason: every
 * conversation frame is in the store, so the visitor gets it back by resuming; memory never
 * grows with a reader that does not read. */
static int enqueue(kf_ws_visitor_pss *p, char *buf, size_t len)
{
    if (!buf)
        return lost_frame(p);
    if (p->q.close_code) {
        kf_free(buf);
        return KF_EINVAL;
    }
    int rc = kf_wsq_push(&p->q, buf, len);
    if (rc == KF_ENOMEM)
        return lost_frame(p);
    if (rc == KF_ELIMIT) {
        kf_wsq_clear(&p->q);
        p->srv->m.closed_slow++;
        kf_log(KF_LOG_WARN, "conn=c%llu conv=%lld event=close reason=slow_reader queued=%zu",
               (unsigned long long)p->id, (long long)p->conv.id, p->q.cap);
        start_close(p, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow reader: outgoing queue full");
        return KF_ELIMIT;
    }
    /* Backpressure: a client that sends faster than it reads stops being read (as in lws's
     * echo example) long before the bound; one frame in gives at most three frames out, so
     * its own input can never overflow the queue. The bound is for the frames it did not ask
     * for (replays are paced separately; agents' messages, later). */
    if (!p->rx_paused && p->q.n >= p->q.cap / 2) {
        p->rx_paused = 1;
        lws_rx_flow_control(p->wsi, 0);
    }
    lws_callback_on_writable(p->wsi);
    return KF_OK;
}

/* Dumps o with seq and queues it; o NULL (it could not be made) is a lost frame, as in
 * enqueue. (Not enqueue(p, kf_out_dump(..., &len), len): the order in which arguments are
 * evaluated is unspecified, len could be read before it is set.) */
static int enqueue_out(kf_ws_visitor_pss *p, const kf_out *o, int64_t seq)
{
    size_t len = 0;
    char *buf = o ? kf_out_dump(o, seq, LWS_PRE, &len) : NULL;
    return enqueue(p, buf, len);
}

static int64_t cur_seq(const kf_ws_visitor_pss *p)
{
    return p->have_conv ? p->conv.last_seq : 0;
}

/* Error frames are not part of the conversation: not stored, never replayed; their seq is
 * the conversation's latest, so they never move a client's cursor. */
static void send_error(kf_ws_visitor_pss *p, const char *code, const char *msg, const char *id,
                       long retry_ms)
{
    kf_server__count_error(p->srv, code);
    kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=error code=%s", (unsigned long long)p->id,
           (long long)p->conv.id, code);
    kf_out *o = kf_proto_err_frame(code, msg, id);
    if (o && retry_ms >= 0 && kf_out_set_int(o, "retry_after_ms", retry_ms)) {
        kf_out_free(o);
        o = NULL;
    }
    enqueue_out(p, o, cur_seq(p)); /* NULL: closed, rather than a visitor waiting for it */
    kf_out_free(o);
}

/* ---- replay ------------------------------------------------------------------- */

static int replay_row(void *ud, const kf_store_row *r)
{
    kf_ws_visitor_pss *p = ud;
    size_t len = 0;
    char *buf;
    if (r->dir == KF_DIR_OUT)
        buf = kf_proto_restore(r->frame ? r->frame : "", r->seq, r->ref_seq, LWS_PRE, &len);
    else
        buf = kf_proto_echo(r->seq, r->kind, r->client_id, r->text, r->entry, LWS_PRE, &len);
    if (!buf) {
        kf_log(KF_LOG_ERR, "conn=c%llu conv=%lld event=replay_error seq=%lld",
               (unsigned long long)p->id, (long long)p->conv.id, (long long)r->seq);
    } else if (enqueue(p, buf, len)) {
        return 1;
    }
    p->replay_after = r->seq;
    return 0;
}

/* Moves the next frames of the replay into the queue, keeping half of it free for live
 * frames (errors). Called when the queue has room. */
static void replay_pump(kf_ws_visitor_pss *p)
{
    while (!p->q.close_code && p->replay_after < p->replay_until && p->q.n < p->q.cap / 2) {
        size_t room = p->q.cap / 2 - p->q.n;
        int n = kf_store_replay(p->srv->store, p->conv.id, p->replay_after, room, replay_row, p);
        if (n <= 0) {
            if (n < 0)
                send_error(p, KF_PE_INTERNAL, "could not read the conversation; reconnect", NULL,
                           -1);
            p->replay_after = p->replay_until;
            break;
        }
    }
}

static int replaying(const kf_ws_visitor_pss *p)
{
    return p->replay_after < p->replay_until;
}

/* Queues a stored frame of the conversation (seq given by the store). */
/* Queues a conversation frame (buf from kf_out_dump or the like, taken; NULL: out of
 * memory), or, while a replay runs, leaves it to the replay, which reads it from the store. */
static void send_conv_bytes(kf_ws_visitor_pss *p, char *buf, size_t len, int64_t seq)
{
    if (replaying(p)) {
        kf_free(buf);
        if (seq > p->replay_until)
            p->replay_until = seq;
        return;
    }
    if (enqueue(p, buf, len) == KF_OK) {
        p->srv->m.frames_out++;
        p->replay_after = p->replay_until = seq;
    }
}

static void send_conv_frame(kf_ws_visitor_pss *p, const kf_out *o, int64_t seq)
{
    if (replaying(p)) { /* not encoded for nothing */
        send_conv_bytes(p, NULL, 0, seq);
        return;
    }
    size_t len = 0;
    char *buf = o ? kf_out_dump(o, seq, LWS_PRE, &len) : NULL; /* NULL: lost (enqueue) */
    send_conv_bytes(p, buf, len, seq);
}

/* ---- frames ------------------------------------------------------------------- */

static const char *lang_str(kf_lang l)
{
    return l == KF_LANG_EN ? "en" : "zh";
}

static const char *txt(kf_lang l, const char *zh, const char *en)
{
    return l == KF_LANG_EN ? en : zh;
}

static const kf_version *version_of(const kf_entry *e, kf_lang lang, int *fallback)
{
    const kf_version *v = kf_entry_version(e, lang);
    *fallback = 0;
    if (!v && e->n_versions > 0) {
        v = &e->versions[0];
        *fallback = 1;
    }
    return v;
}

/* The answer of e in version v: from its encoded head after the first time (ans_cache.h). */
static kf_out *answer_frame(kf_server *s, const kf_entry *e, const kf_version *v, kf_lang lang,
                            int lang_fallback, double confidence)
{
    unsigned variant = (unsigned)lang_str(lang)[0] << 1 | (lang_fallback ? 1u : 0u);
    size_t hl = 0;
    const char *head = v ? kf_anscache_get(&s->answers, v, variant, &hl) : NULL;
    if (head)
        return kf_proto_answer_with(head, hl, confidence);
    kf_proto_option opts[16];
    size_t n = 0;
    char *text = kf_config_render(s->cfg, v && v->answer ? v->answer : "");
    if (!text)
        return NULL;
    for (size_t i = 0; v && i < v->n_prompts && n < 16; i++)
        opts[n++] = (kf_proto_option){v->prompts[i].target, v->prompts[i].text};
    kf_out *o = kf_proto_answer(e->id, text, lang_str(lang), lang_fallback, opts, n, confidence, 0);
    kf_free(text);
    char *h = o && v && s->answers.n < KF_ANSCACHE_MAX ? kf_proto_answer_head(o, &hl) : NULL;
    if (h)
        kf_anscache_put(&s->answers, v, variant, h, hl);
    return o;
}

/* The handoff frame: outside business hours an offer to leave a message (no case); else a
 * queued case, with the position and estimated wait, or, with nobody online, the offer too. */
static kf_out *handoff_frame(kf_ws_visitor_pss *p, const char *reason, int urgent,
                             const char *reply, kf_lang lang)
{
    kf_server *s = p->srv;
    kf_desk_case *dc = NULL;
    const char *why = NULL, *msg;
    char *text = NULL;
    kf_out *o = NULL;

    if (!kf_desk__in_hours(s)) {
        why = "hours";
        msg = txt(lang, "现在是非工作时间，人工客服暂时无法接待。您可以留言，我们会尽快联系您。",
                  "Our agents are outside their working hours. Leave a message and we will "
                  "get back to you.");
    } else if (kf_desk__open_case(s, p->conv.id, reason, urgent, p->last_text, &dc)) {
        /* no case to wait in (the store failed, or memory): never "connecting you" */
        kf_log(KF_LOG_ERR, "conv=%lld event=queue_failed", (long long)p->conv.id);
        why = "error";
        msg = txt(lang, "暂时无法为您转接人工客服。您可以留言，我们会尽快联系您。",
                  "We cannot put you through to an agent right now. Leave a message and we "
                  "will get back to you.");
    } else {
        p->desk_changed = 1;
        if (kf_handoff_online(s->hd) == 0) {
            why = "offline";
            msg = txt(lang, "现在没有客服在线，您可以留言，我们会尽快联系您；也可以继续等待。",
                      "No agent is online right now. Leave a message and we will get back to "
                      "you, or keep waiting.");
        } else {
            msg = reply ? reply
                        : txt(lang, "正在为您转接人工客服，请稍候。",
                              "Connecting you to a human agent, please hold on.");
        }
    }
    text = kf_config_render(s->cfg, msg);
    if (text)
        o = kf_proto_handoff(reason, urgent, text, 0);
    kf_free(text);
    if (!o)
        return NULL;
    int rc = KF_OK;
    if (why) {
        rc = kf_out_set_bool(o, "available", 0);
        rc = rc ? rc : kf_out_set_str(o, "why", why);
        rc = rc ? rc : kf_out_set_bool(o, "leave_message", 1);
    } else if (dc) {
        size_t pos;
        int64_t wait;
        kf_desk__queue_info(s, dc, &pos, &wait);
        dc->sent_pos = pos;
        dc->sent_wait = wait;
        kf_out *q = kf_out_new(NULL);
        rc = q ? kf_out_set_int(q, "position", (int64_t)pos) : KF_ENOMEM;
        rc = rc ? rc
                : (wait >= 0 ? kf_out_set_int(q, "wait_s", wait) : kf_out_set_null(q, "wait_s"));
        if (rc)
            kf_out_free(q);
        else
            rc = kf_out_set_obj(o, "queue", q);
    }
    if (rc) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

/* Turns a match into the bot's frame (without reply_to: the frame gets it when it is sent,
 * from the store's seq of the question). */
static kf_out *decision_frame(kf_ws_visitor_pss *p, kf_match *m, int *fallbacks_changed)
{
    kf_server *s = p->srv;
    kf_lang lang = m->lang == KF_LANG_EN ? KF_LANG_EN : KF_LANG_ZH;
    kf_decision d = m->decision;
    char *text = NULL;
    kf_out *o = NULL;

    /* Ask to rephrase; the fallbacks_to_handoff-th miss in a row goes to a human. The count
     * belongs to the conversation (stored), so reconnecting does not reset it. */
    int misses = d == KF_DECISION_FALLBACK ? p->conv.fallbacks + 1 : 0;
    /* An out-of-scope entry's fallback (`decision = fallback`) is understood, not missed: it
     * neither counts toward a handoff (no agent can help with the weather either) nor
     * resets the count. */
    if (d == KF_DECISION_FALLBACK && m->entry)
        misses = p->conv.fallbacks;
    if (misses >= s->cfg->fallbacks_to_handoff) {
        d = KF_DECISION_HANDOFF;
        misses = 0;
    }
    *fallbacks_changed = -1;
    if (misses != p->conv.fallbacks) {
        p->conv.fallbacks = misses;
        *fallbacks_changed = misses; /* stored with the message */
    }
    s->m.decisions[d]++;
    switch (d) {
    case KF_DECISION_ANSWER: {
        int fb = m->lang_fallback;
        const kf_version *v = m->version;
        if (!v)
            v = version_of(m->entry, lang, &fb);
        return answer_frame(s, m->entry, v, lang, fb, m->confidence);
    }
    case KF_DECISION_CLARIFY: {
        kf_proto_option opts[KF_MAX_CAND];
        size_t n = 0;
        for (size_t i = 0; i < m->n_options && i < m->n_cand && n < KF_MAX_CAND; i++) {
            int fb;
            const kf_version *v = version_of(m->cand[i].entry, lang, &fb);
            if (v)
                opts[n++] = (kf_proto_option){m->cand[i].entry->id, v->question};
        }
        return kf_proto_clarify(txt(lang, "您想问的是下面哪一个？", "Did you mean one of these?"),
                                opts, n, 0);
    }
    case KF_DECISION_FALLBACK:
        if (m->reply) { /* an out-of-scope entry's own answer */
            text = kf_config_render(s->cfg, m->reply);
            if (text)
                o = kf_proto_fallback(text, 0);
            kf_free(text);
            return o;
        }
        return kf_proto_fallback(txt(lang, "抱歉，我没有理解您的问题，可以换个说法再问一次吗？",
                                     "Sorry, I did not understand. Could you say it another way?"),
                                 0);
    case KF_DECISION_HANDOFF:
        return handoff_frame(p,
                             m->decision == KF_DECISION_HANDOFF && m->handoff_reason
                                 ? m->handoff_reason
                                 : "not_understood",
                             m->decision == KF_DECISION_HANDOFF && m->urgent, m->reply, lang);
    case KF_DECISION_REPLY:
        text = kf_config_render(s->cfg, m->reply ? m->reply : "");
        if (text)
            o = kf_proto_reply(m->rule ? m->rule->name : "", text, 0);
        kf_free(text);
        return o;
    }
    return NULL;
}

static void after_store(kf_ws_visitor_pss *p, int rc, const char *client_id, const char *of,
                        kf_out *reply, const char *stored, const int64_t *seqs, size_t n);

static uint64_t id_hash(const char *id) /* never 0 */
{
    uint64_t h = kf_hash64(id, strlen(id));
    return h ? h : 1;
}

static kf_recent *recent_find(const kf_ws_visitor_pss *p, uint64_t h)
{
    for (unsigned i = 0; p->recent && i < RECENT; i++)
        if (p->recent[i].h == h)
            return &p->recent[i];
    return NULL;
}

/* The ring of a connection's last ids, made when its first frame with an id comes: 1 when it
 * is there. A frame with an id is refused (internal) without it, not taken: its resend on
 * this connection would not be known, and would be stored twice (found by the out-of-memory
 * test: a rating stored twice). */
static int recent_ready(kf_ws_visitor_pss *p)
{
    return p->recent || (p->recent = kf_calloc(RECENT, sizeof(*p->recent))) != NULL;
}

/* The frame with this id is stored as seq (0: about to be stored, or waiting for the group
 * commit; -1: it failed, forget it). Only a frame being taken is inserted (insert 1; on_frame
 * made the ring first); the outcome only updates its slot, if the ring still has it:
 * inserting it again could push out newer frames still waiting. */
static void recent_put(kf_ws_visitor_pss *p, const char *id, int64_t seq, int insert)
{
    if (!id)
        return;
    uint64_t h = id_hash(id);
    kf_recent *r = recent_find(p, h);
    if (seq < 0) {
        if (r)
            *r = (kf_recent){0, 0};
        return;
    }
    if (!r) {
        if (!insert)
            return;
        if (!recent_ready(p))
            return;
        r = &p->recent[p->recent_next++ % RECENT];
        r->h = h;
    }
    r->seq = seq;
}

/* Stores the visitor's row and the bot's reply in one transaction, then queues the ack and
 * the reply. Nothing is acknowledged that is not committed. remembered: the frame's id is in
 * the resend ring already (a question since it was queued), only its outcome is set. */
static void commit_and_send(kf_ws_visitor_pss *p, kf_store_row *in, const char *of, kf_out *reply,
                            const char *reply_entry, int remembered)
{
    kf_store_row rows[2];
    int64_t seqs[2] = {0, 0};
    char *stored = NULL;
    size_t n = 1;

    kf_ws_visitor__flush(p->srv); /* earlier frames first: seqs follow arrival */
    rows[0] = *in;
    if (reply) {
        stored = kf_out_dump_stored(reply);
        if (!stored) {
            recent_put(p, in->client_id, -1, 0);
            send_error(p, KF_PE_INTERNAL, "out of memory; send it again", in->client_id, -1);
            return;
        }
        rows[1] = (kf_store_row){.dir = KF_DIR_OUT,
                                 .kind = kf_out_type(reply),
                                 .entry = reply_entry, /* for feedback and reports */
                                 .frame = stored,
                                 .ref_seq = KF_STORE_REF_PREV,
                                 .helpful = -1};
        n = 2;
    }
    recent_put(p, in->client_id, 0, !remembered);
    int rc = kf_store_append(p->srv->store, p->conv.id, rows, n, kf_store_now_ms(), seqs);
    after_store(p, rc, in->client_id, of, reply, stored, seqs, n);
    kf_free(stored);
}

/* After the store has the rows (rc KF_OK) or refused them: what commit_and_send queues.
 * stored: the reply as stored (kf_out_dump_stored), which its frame is made from. */
static void after_store(kf_ws_visitor_pss *p, int rc, const char *client_id, const char *of,
                        kf_out *reply, const char *stored, const int64_t *seqs, size_t n)
{
    recent_put(p, client_id, rc ? -1 : seqs[0], 0);
    if (rc) {
        send_error(p, KF_PE_INTERNAL, "could not save your message; send it again", client_id,
                   -1);
        /* The database fails (disk full, read-only): still answer, but outside the
         * conversation like the error frame: seq is the latest, no reply_to, "unsaved": 1;
         * nothing is acknowledged and nothing moves the client's cursor. */
        if (reply && !replaying(p) && kf_out_set_int(reply, "unsaved", 1) == KF_OK)
            enqueue_out(p, reply, cur_seq(p));
        return;
    }
    p->conv.last_seq = seqs[n - 1];
    /* Folded (docs/protocol.md): a message's or choice's reply carries the frame's id, its
     * reply_to is the seq the ack would give; a replay still sends both, the visitor's frame
     * as an ack. Other frames keep their ack (a left message's form waits for it). */
    int fold = p->fold_acks && reply && (!strcmp(of, "message") || !strcmp(of, "choose"));
    if (!fold) {
        kf_out *ack = kf_proto_ack(client_id, of);
        send_conv_frame(p, ack, seqs[0]); /* NULL: closed, the resume replays it */
        kf_out_free(ack);
    }
    if (reply) {
        size_t len = 0;
        char *buf = replaying(p) ? NULL
                                 : kf_out_dump_from_stored(reply, stored, seqs[1], seqs[0],
                                                           fold ? client_id : NULL, LWS_PRE, &len);
        send_conv_bytes(p, buf, len, seqs[1]);
    }
}

static void ack_duplicate(kf_ws_visitor_pss *p, const char *client_id, const char *of,
                          int64_t seq)
{
    kf_out *ack = kf_proto_ack(client_id, of);
    if (ack && kf_out_set_int(ack, "duplicate", 1) != KF_OK) {
        kf_out_free(ack);
        ack = NULL;
    }
    enqueue_out(p, ack, seq); /* NULL: closed, and the visitor resends after resuming */
    kf_out_free(ack);
}

static void pend_cleanup(kf_vpend *v)
{
    kf_free(v->strs);
    kf_free(v->frame);
    kf_out_free(v->reply);
}

#define SWAP(T, a, b)                                                                          \
    do {                                                                                       \
        T t_ = (a);                                                                            \
        (a) = (b);                                                                             \
        (b) = t_;                                                                              \
    } while (0)

/* The waiting answers become the batch in flight (the two sets of arrays swap). */
static void take_pending(kf_server *s)
{
    lws_sul_cancel(&s->sul_flush);
    SWAP(kf_vpend *, s->pend, s->fly);
    SWAP(kf_store_batch_item *, s->pend_items, s->fly_items);
    SWAP(size_t, s->cap_pend, s->cap_fly);
    SWAP(size_t, s->cap_pend_items, s->cap_fly_items);
    s->n_fly = s->n_pend;
    s->n_pend = 0;
    for (size_t i = 0; i < s->n_fly; i++) {
        s->fly_items[i].rows = s->fly[i].rows;
        s->fly_items[i].seqs = s->fly[i].seqs;
        s->fly_items[i].rc = KF_OK;
    }
    s->flying = 1;
}

/* The batch in flight is stored (each item's rc says how): acks and answers, or errors. */
static void finish_fly(kf_server *s)
{
    size_t n = s->n_fly;
    s->m.commits++;
    s->m.committed += n;
    for (size_t i = 0; i < n; i++) {
        kf_vpend *v = &s->fly[i];
        kf_store_batch_item *it = &s->fly_items[i];
        if (v->p) {
            v->p->n_pend--;
            after_store(v->p, it->rc, v->client_id, "message", v->reply, v->frame, v->seqs, it->n);
        }
        if (!v->reply && it->rc == KF_OK) /* the agent (or the queue) sees it now */
            kf_desk__visitor_message(s, it->conv, v->seqs[0], v->text);
        pend_cleanup(v);
    }
    s->n_fly = 0;
    s->flying = 0;
    atomic_store(&s->fly_done, 0);
}

static void fly_done(void *ud) /* on the store's writer thread */
{
    kf_server *s = ud;
    atomic_store(&s->fly_done, 1);
    lws_cancel_service(s->cx);
}

/* Hands the waiting answers to the store's writer thread, unless a batch is already there
 * (its end starts the next one: under load, batches grow while one is written). A small batch
 * is stored here at once: handing it over costs two thread wake-ups, which on a busy machine
 * cost more time than the commit itself (measured: p50 1.6 ms → 6 ms at 4,000 answers/s);
 * the size is db_writer_min. busy: the writer has just finished a batch, so the load is not
 * light whatever the size of this one: it goes to the writer too. So does a batch the store
 * has work for on its thread first (kf_store_append_batch_due: a disk sync). */
static void start_fly(kf_server *s, int busy)
{
    if (s->flying || s->n_pend == 0)
        return;
    take_pending(s);
    if ((!busy && s->n_fly < (size_t)s->cfg->db_writer_min &&
         !kf_store_append_batch_due(s->store)) ||
        kf_store_append_batch_start(s->store, s->fly_items, s->n_fly, kf_store_now_ms(), fly_done,
                                    s) != KF_OK) {
        kf_store_append_batch(s->store, s->fly_items, s->n_fly, kf_store_now_ms());
        finish_fly(s);
    }
}

static void match_turn(kf_server *s, int wait);

void kf_ws_visitor__collect(kf_server *s)
{
    if (s->matching && atomic_load(&s->match_done))
        match_turn(s, 0); /* answers the batch, hands over the next */
    if (s->flying && atomic_load(&s->fly_done)) {
        finish_fly(s);
        start_fly(s, 1);
    }
}

void kf_ws_visitor__flush(kf_server *s)
{
    if (!s->answering)
        match_turn(s, 1); /* every question so far answered first */
    if (s->flying) {
        kf_store_append_batch_wait(s->store);
        finish_fly(s);
    }
    if (s->n_pend) { /* stored here, on the loop's connection: the writer is idle */
        take_pending(s);
        kf_store_append_batch(s->store, s->fly_items, s->n_fly, kf_store_now_ms());
        finish_fly(s);
    }
}

void kf_ws_visitor__turn_end(kf_server *s)
{
    match_turn(s, 0);
    start_fly(s, 0);
}

static void flush_cb(lws_sorted_usec_list_t *sul) /* lws's own loop: its turn's end */
{
    kf_ws_visitor__turn_end(lws_container_of(sul, kf_server, sul_flush));
}

/* Copies the row's strings (each may be NULL) into one allocation, v->strs. */
static int copy_strs(kf_vpend *v, const kf_store_row *in)
{
    const char *src[4] = {in->client_id, in->text, in->entry, in->norm};
    const char **dst[4] = {&v->client_id, &v->text, &v->entry, &v->norm};
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += len[i] = src[i] ? strlen(src[i]) + 1 : 0;
    if (!total)
        return KF_OK;
    if (!(v->strs = kf_malloc(total)))
        return KF_ENOMEM;
    char *o = v->strs;
    for (int i = 0; i < 4; i++) {
        if (!src[i])
            continue;
        memcpy(o, src[i], len[i]);
        *dst[i] = o;
        o += len[i];
    }
    return KF_OK;
}

/* The hot path of commit_and_send: the visitor's message and the bot's reply join the group
 * commit of this service turn; the ack and the reply are queued after it (flush). Takes
 * reply. reply NULL: a message to the people holding the conversation, passed to the desk
 * after the commit. Falls back to the immediate path when memory runs out. */
static void defer_and_send(kf_ws_visitor_pss *p, const kf_store_row *in, kf_out *reply,
                           const char *lang, int fallbacks, int remembered)
{
    kf_server *s = p->srv;
    int fail = 0;
    if (s->n_pend >= PEND_MAX) {
        start_fly(s, 1); /* to the writer thread, if it is free */
        if (s->n_pend >= PEND_MAX)
            kf_ws_visitor__flush(s); /* it is not: the bound waits for it */
    }
    if (kf_grow(&s->pend, &s->cap_pend, s->n_pend + 1, sizeof(*s->pend)) ||
        kf_grow(&s->pend_items, &s->cap_pend_items, s->n_pend + 1, sizeof(*s->pend_items)))
        fail = 1;
    kf_vpend v = {.p = p, .lang = lang, .fallbacks = fallbacks, .reply = reply};
    if (!fail && copy_strs(&v, in))
        fail = 1;
    v.frame = fail || !reply ? NULL : kf_out_dump_stored(reply);
    if (fail || (reply && !v.frame)) {
        v.reply = NULL;
        pend_cleanup(&v);
        if (lang)
            kf_store_conv_update(s->store, p->conv.id, lang, NULL, NULL);
        if (fallbacks >= 0)
            kf_store_conv_set_fallbacks(s->store, p->conv.id, fallbacks);
        commit_and_send(p, (kf_store_row *)in, "message", reply, in->entry, remembered);
        kf_out_free(reply);
        if (!reply && p->conv.last_seq)
            kf_desk__visitor_message(s, p->conv.id, p->conv.last_seq, in->text);
        return;
    }
    v.rows[0] = *in;
    v.rows[0].client_id = v.client_id;
    v.rows[0].text = v.text;
    v.rows[0].entry = v.entry;
    v.rows[0].norm = v.norm;
    if (reply)
        v.rows[1] = (kf_store_row){.dir = KF_DIR_OUT,
                                   .kind = kf_out_type(reply),
                                   .entry = v.entry,
                                   .frame = v.frame,
                                   .ref_seq = KF_STORE_REF_PREV,
                                   .helpful = -1};
    s->pend_items[s->n_pend] = (kf_store_batch_item){
        .conv = p->conv.id, .n = reply ? 2 : 1, .lang = lang, .fallbacks = fallbacks};
    s->pend[s->n_pend++] = v;
    p->n_pend++;
    recent_put(p, in->client_id, 0, !remembered);
    if (!s->turn_hook && !s->sul_flush.list.owner) /* not due yet (take_pending cancels it) */
        lws_sul_schedule(s->cx, 0, &s->sul_flush, flush_cb, 1);
}

static int rate_ok(kf_ws_visitor_pss *p, const char *id)
{
    const kf_config *c = p->srv->cfg;
    uint64_t now = kf_now_ns();
    long retry = 0;
    if (!kf_server__bucket_take(&p->tokens, &p->tok_ns, (double)c->rate_per_conn,
                                (double)c->burst_per_conn, now, &retry)) {
        send_error(p, KF_PE_RATE_LIMITED, "too many messages on this connection; slow down", id,
                   retry);
        return 0;
    }
    if (p->slot &&
        !kf_server__bucket_take(&p->slot->tokens, &p->slot->last_ns, (double)c->rate_per_addr,
                                (double)c->burst_per_addr, now, &retry)) {
        send_error(p, KF_PE_RATE_LIMITED, "too many messages from your address; slow down", id,
                   retry);
        return 0;
    }
    return 1;
}

static void on_hello(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    kf_server *s = p->srv;
    int resumed = 0;

    if (p->have_conv) {
        send_error(p, KF_PE_OUT_OF_ORDER, "hello was already received on this connection", f->id,
                   -1);
        return;
    }
    p->lang = f->lang ? kf_lang_parse(f->lang) : KF_LANG_NONE;
    p->fold_acks = f->fold_acks;
    if (f->token && kf_store_token_valid(f->token)) {
        int rc = kf_store_conv_find(s->store, f->token, &p->conv);
        if (rc == KF_OK) {
            resumed = 1;
            if (f->lang || f->page)
                kf_store_conv_update(s->store, p->conv.id, f->lang, f->page, NULL);
        } else if (rc != KF_ENOTFOUND) {
            send_error(p, KF_PE_INTERNAL, "could not read the conversation; try again", f->id, -1);
            return;
        }
    }
    if (!resumed) {
        char token[KF_TOKEN_HEX + 1];
        if (kf_store_token_new(token) ||
            kf_store_conv_create(s->store, token, f->lang, f->page, kf_store_now_ms(), &p->conv)) {
            send_error(p, KF_PE_INTERNAL, "could not start a conversation; try again", f->id, -1);
            return;
        }
    }
    p->have_conv = 1;
    if (resumed) { /* on_frame stored the waiting answers first: last_seq counts them */
        p->resume_left = RECENT;
        p->resume_to = p->conv.last_seq;
    }
    kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=%s last_seq=%lld", (unsigned long long)p->id,
           (long long)p->conv.id, resumed ? "resume" : "start", (long long)p->conv.last_seq);
    kf_store_event_add(s->store, p->conv.id, resumed ? "resume" : "start", NULL, kf_store_now_ms());
    kf_out *w = kf_proto_welcome(p->conv.token, resumed, f->lang, p->fold_acks);
    if (enqueue_out(p, w, p->conv.last_seq)) { /* (not made or not queued: closed) */
        kf_out_free(w);
        return;
    }
    kf_out_free(w);
    /* Missed frames: (last_seq, conversation's latest]; no last_seq means the whole history. */
    int64_t from = f->last_seq >= 0 ? f->last_seq : 0;
    if (resumed && from < p->conv.last_seq) {
        p->replay_after = from;
        p->replay_until = p->conv.last_seq;
        replay_pump(p);
    } else {
        p->replay_after = p->replay_until = p->conv.last_seq;
    }
    kf_desk_case *dc = resumed ? kf_desk__case_of_conv(s, p->conv.id) : NULL;
    if (dc && !strcmp(dc->c.state, "queued")) {
        size_t pos;
        int64_t wait;
        kf_desk__queue_info(s, dc, &pos, &wait);
        kf_out *q = kf_out_new("queue");
        if (q && !kf_out_set_int(q, "position", (int64_t)pos) &&
            !(wait >= 0 ? kf_out_set_int(q, "wait_s", wait) : kf_out_set_null(q, "wait_s")))
            enqueue_out(p, q, p->conv.last_seq);
        kf_out_free(q);
    }
}

/* The rest of a question once matched (rc, m from kf_engine_match, secs its time): the
 * decision, the bot's frame, and both into the group commit. */
static void answer_message(kf_ws_visitor_pss *p, const char *id, const char *text, size_t text_len,
                           int rc, kf_match *mp, double secs)
{
    kf_server *s = p->srv;
    kf_match m = *mp;
    s->m.lat_sum += secs;
    s->m.lat_count++;
    for (int i = 0; i < KF_LAT_BUCKETS; i++)
        if (secs <= kf_server__lat_bounds[i]) {
            s->m.lat_buckets[i]++;
            break;
        }
    if (rc == KF_EEMPTY) { /* only punctuation or emoji: nothing to match */
        memset(&m, 0, sizeof(m));
        m.decision = KF_DECISION_FALLBACK;
        m.lang = p->lang == KF_LANG_NONE ? kf_lang_detect(text, text_len) : p->lang;
    } else if (rc) {
        recent_put(p, id, -1, 0);
        send_error(p, KF_PE_INTERNAL, "could not process the message; send it again", id, -1);
        return;
    }
    p->last_text = text;
    /* A visitor who lets kefu detect the language (hello lang "auto") is answered in the
     * language of their latest question; the conversation remembers it, so that a clicked
     * option and what agents and the desk send later use it too (stored with the message). */
    const char *lang_changed = NULL;
    if (p->lang == KF_LANG_NONE && strcmp(p->conv.lang, kf_lang_name(m.lang)) != 0) {
        lang_changed = kf_lang_name(m.lang);
        snprintf(p->conv.lang, sizeof(p->conv.lang), "%s", lang_changed);
    }
    int fallbacks_changed = -1;
    kf_out *reply = decision_frame(p, &m, &fallbacks_changed);
    /* For reports (docs/metrics.md): the engine's own decision (a miss stays a fallback even
     * when it sends the visitor to a person), its score, and the normalised text that the
     * editors' to-do list groups by. A failed normalisation only leaves the text out. */
    kf_buf norm;
    kf_buf_init(&norm);
    if (!s->norm)
        s->norm = kf_norm_new(NULL);
    if (s->norm && kf_norm_text(s->norm, text, text_len, 0, &norm))
        kf_buf_cleanup(&norm);
    kf_store_row in = {.dir = KF_DIR_IN,
                       .kind = "message",
                       .client_id = id,
                       .text = text,
                       .entry = m.decision == KF_DECISION_ANSWER && m.entry ? m.entry->id : NULL,
                       .helpful = -1,
                       .decision = kf_decision_name(m.decision),
                       .confidence = m.confidence,
                       .norm = norm.data ? norm.data : ""};
    if (kf_log_get_level() >= KF_LOG_DEBUG || s->cfg->log_text)
        kf_log(KF_LOG_INFO,
               "conn=c%llu conv=%lld event=message decision=%s entry=%s us=%.0f text=%.*s",
               (unsigned long long)p->id, (long long)p->conv.id, kf_decision_name(m.decision),
               m.entry ? m.entry->id : "-", secs * 1e6, (int)text_len, text);
    else
        kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=message decision=%s entry=%s us=%.0f",
               (unsigned long long)p->id, (long long)p->conv.id, kf_decision_name(m.decision),
               m.entry ? m.entry->id : "-", secs * 1e6);
    if (!reply) {
        recent_put(p, id, -1, 0);
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", id, -1);
    } else if (!p->desk_changed) {
        defer_and_send(p, &in, reply, lang_changed, fallbacks_changed, 1); /* takes reply */
        reply = NULL;
    } else { /* a handoff (rare): stored now, the desk acts on it right after */
        kf_ws_visitor__flush(s);
        if (lang_changed)
            kf_store_conv_update(s->store, p->conv.id, lang_changed, NULL, NULL);
        if (fallbacks_changed >= 0)
            kf_store_conv_set_fallbacks(s->store, p->conv.id, fallbacks_changed);
        commit_and_send(p, &in, "message", reply, in.entry, 1);
    }
    kf_out_free(reply);
    kf_buf_cleanup(&norm);
    p->last_text = NULL;
    if (p->desk_changed) {
        p->desk_changed = 0;
        kf_desk__changed(s); /* after the handoff frame is stored: agent_joined comes later */
    }
}

/* A message to the people holding the conversation: stored, passed to the desk after the
 * commit; the bot is silent. remembered: as commit_and_send's. */
static void message_to_desk(kf_ws_visitor_pss *p, const char *id, const char *text, int remembered)
{
    kf_store_row row = {
        .dir = KF_DIR_IN, .kind = "message", .client_id = id, .text = text, .helpful = -1};
    defer_and_send(p, &row, NULL, NULL, -1, remembered);
}

/* Answers a matched question (the batch's m matched with snapshot e). Takes the job. */
static void answer_job(kf_server *s, kf_vjob *j, kf_mjob *mj, kf_engine *e)
{
    kf_ws_visitor_pss *p = j->p;
    if (p && e != s->engine) { /* the knowledge was swapped meanwhile: match it again */
        if (mj->rc == KF_OK)
            kf_match_cleanup(&mj->m);
        kf_mjob_run(s->engine, mj);
    }
    if (p) {
        p->n_jobs--;
        /* a handoff of an earlier question of the conversation came first */
        if (kf_desk__case_of_conv(s, p->conv.id))
            message_to_desk(p, j->id, mj->text, 1);
        else
            answer_message(p, j->id, mj->text, mj->len, mj->rc, &mj->m, mj->secs);
    }
    if (mj->rc == KF_OK)
        kf_match_cleanup(&mj->m);
    kf_free(j->strs);
}

/* The waiting questions become the batch in flight (the two sets of arrays swap); past
 * MATCH_MAX, the first MATCH_MAX of them (the rest move to the front of the waiting ones;
 * out of memory for that, all of them). Answered at once, a batch of 10,000 questions went
 * past PEND_MAX while the writer was busy, and the loop waited for it and wrote the rest
 * itself. */
static void take_jobs(kf_server *s)
{
    size_t n = s->n_jobs < MATCH_MAX ? s->n_jobs : MATCH_MAX, rest = s->n_jobs - n;
    if (rest && (kf_grow(&s->mfly, &s->cap_mfly, n, sizeof(*s->mfly)) ||
                 kf_grow(&s->mfly_m, &s->cap_mfly_m, n, sizeof(*s->mfly_m)))) {
        n = s->n_jobs;
        rest = 0;
    }
    if (!rest) {
        SWAP(kf_vjob *, s->jobs, s->mfly);
        SWAP(kf_mjob *, s->job_m, s->mfly_m);
        SWAP(size_t, s->cap_jobs, s->cap_mfly);
        SWAP(size_t, s->cap_job_m, s->cap_mfly_m);
    } else {
        memcpy(s->mfly, s->jobs, n * sizeof(*s->mfly));
        memcpy(s->mfly_m, s->job_m, n * sizeof(*s->mfly_m));
        memmove(s->jobs, s->jobs + n, rest * sizeof(*s->jobs));
        memmove(s->job_m, s->job_m + n, rest * sizeof(*s->job_m));
    }
    s->n_mfly = n;
    s->n_jobs = rest;
}

/* The batch back from the matching thread: each question answered, in order. */
static void finish_match(kf_server *s)
{
    kf_engine *e = s->mfly_engine;
    s->answering = 1;
    for (size_t i = 0; i < s->n_mfly; i++)
        answer_job(s, &s->mfly[i], &s->mfly_m[i], e);
    s->answering = 0;
    s->n_mfly = 0;
    s->matching = 0;
    s->mfly_engine = NULL;
    atomic_store(&s->match_done, 0);
    kf_engine_unref(e);
}

static void match_done_cb(void *ud) /* on the matching thread */
{
    kf_server *s = ud;
    atomic_store(&s->match_done, 1);
    lws_cancel_service(s->cx);
}

/* The questions' stage: the batch back from the thread is answered (wait: waits for it);
 * then the questions waiting go to the thread (match_worker_min or more, unless wait) or
 * are matched and answered here, one after the other. While a batch is with the thread the
 * next ones wait for it (unless wait), as the group commit's do. */
static void match_turn(kf_server *s, int wait)
{
    if (s->matching && (wait || atomic_load(&s->match_done))) {
        kf_mworker_wait(s->mworker);
        finish_match(s);
    }
    if (!s->n_jobs || s->matching)
        return;
    if (!wait && s->mworker && s->n_jobs >= (size_t)s->cfg->match_worker_min) {
        take_jobs(s);
        s->matching = 1;
        s->m.matched_thread += s->n_mfly;
        s->mfly_engine = kf_engine_ref(s->engine);
        kf_mworker_submit(s->mworker, s->mfly_engine, s->mfly_m, s->n_mfly);
        return;
    }
    while (s->n_jobs) {
        take_jobs(s);
        s->answering = 1;
        for (size_t i = 0; i < s->n_mfly; i++) {
            if (s->mfly[i].p)
                kf_mjob_run(s->engine, &s->mfly_m[i]);
            else
                s->mfly_m[i].rc = KF_EINVAL; /* closed: not matched for nobody */
            answer_job(s, &s->mfly[i], &s->mfly_m[i], s->engine);
        }
        s->answering = 0;
        s->n_mfly = 0;
    }
}

static void flush_cb(lws_sorted_usec_list_t *sul);

/* A question joins the turn's: matched at its end (match_turn), then answered. */
static int queue_job(kf_ws_visitor_pss *p, const kf_in_frame *f)
{
    kf_server *s = p->srv;
    if (kf_grow(&s->jobs, &s->cap_jobs, s->n_jobs + 1, sizeof(*s->jobs)) ||
        kf_grow(&s->job_m, &s->cap_job_m, s->n_jobs + 1, sizeof(*s->job_m)))
        return KF_ENOMEM;
    size_t tl = f->text_len, il = f->id ? strlen(f->id) + 1 : 0;
    char *strs = kf_malloc(tl + 1 + il);
    if (!strs)
        return KF_ENOMEM;
    memcpy(strs, f->text, tl);
    strs[tl] = 0;
    if (f->id)
        memcpy(strs + tl + 1, f->id, il);
    s->jobs[s->n_jobs] = (kf_vjob){.p = p, .strs = strs, .id = f->id ? strs + tl + 1 : NULL};
    s->job_m[s->n_jobs] = (kf_mjob){.text = strs, .len = tl, .want = p->lang};
    s->n_jobs++;
    p->n_jobs++;
    recent_put(p, f->id, 0, 1);                    /* a resend meanwhile is a duplicate */
    if (!s->turn_hook && !s->sul_flush.list.owner) /* not due yet (take_pending cancels it) */
        lws_sul_schedule(s->cx, 0, &s->sul_flush, flush_cb, 1);
    return KF_OK;
}

/* Questions of the conversation (on any of its connections) wait to be answered. */
static int conv_has_jobs(const kf_server *s, int64_t conv)
{
    for (size_t i = 0; i < s->n_jobs; i++)
        if (s->jobs[i].p && s->jobs[i].p->conv.id == conv)
            return 1;
    for (size_t i = 0; i < s->n_mfly; i++)
        if (s->mfly[i].p && s->mfly[i].p->conv.id == conv)
            return 1;
    return 0;
}

static void on_message(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    kf_server *s = p->srv;

    size_t a = 0, b = f->text_len;
    while (a < b &&
           (f->text[a] == ' ' || f->text[a] == '\n' || f->text[a] == '\t' || f->text[a] == '\r'))
        a++;
    if (a == b) {
        send_error(p, KF_PE_EMPTY_MESSAGE, "the message is empty", f->id, -1);
        return;
    }
    if (!rate_ok(p, f->id))
        return;
    s->m.messages_in++;
    /* Queued or held by an agent: the bot is silent; the agent gets the message (after the
     * connection's questions still to be answered, which check again). */
    if (kf_desk__case_of_conv(s, p->conv.id) && !conv_has_jobs(s, p->conv.id)) {
        message_to_desk(p, f->id, f->text, 0);
        return;
    }
    if (queue_job(p, f))
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", f->id, -1);
}

static void on_choose(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    kf_server *s = p->srv;
    const kf_entry *e = kf_kb_find(kf_engine_kb(s->engine), f->entry);
    int fb = 0;
    if (!e) {
        send_error(p, KF_PE_UNKNOWN_ENTRY, "no such entry", f->id, -1);
        return;
    }
    if (!rate_ok(p, f->id))
        return;
    kf_lang lang = p->lang != KF_LANG_NONE ? p->lang
                   : p->conv.lang[0]       ? kf_lang_parse(p->conv.lang)
                                           : KF_LANG_NONE;
    if (lang == KF_LANG_NONE)
        lang = e->n_versions ? e->versions[0].lang : KF_LANG_ZH;
    const kf_version *v = version_of(e, lang, &fb);
    s->m.decisions[KF_DECISION_ANSWER]++;
    if (p->conv.fallbacks) {
        p->conv.fallbacks = 0;
        kf_store_conv_set_fallbacks(s->store, p->conv.id, 0);
    }
    kf_out *reply = answer_frame(s, e, v, lang, fb, 1.0);
    kf_store_row in = {
        .dir = KF_DIR_IN, .kind = "choose", .client_id = f->id, .entry = e->id, .helpful = -1,
        .decision = "chosen"};
    kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=choose entry=%s", (unsigned long long)p->id,
           (long long)p->conv.id, e->id);
    if (!reply)
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", f->id, -1);
    else
        commit_and_send(p, &in, "choose", reply, e->id, 0);
    kf_out_free(reply);
}

typedef struct rated {
    int found, out;
    char entry[129];
    char kind[16];
} rated;

static int rated_row(void *ud, const kf_store_row *r)
{
    rated *x = ud;
    x->found = 1;
    x->out = r->dir == KF_DIR_OUT;
    snprintf(x->entry, sizeof(x->entry), "%s", r->entry ? r->entry : "");
    snprintf(x->kind, sizeof(x->kind), "%s", r->kind ? r->kind : "");
    return 0;
}

static void on_feedback(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    rated x = {0};
    const char *entry = f->entry;
    if (f->seq > 0) {
        kf_store_get_row(p->srv->store, p->conv.id, f->seq, rated_row, &x);
        if (!x.found || !x.out) {
            send_error(p, KF_PE_UNKNOWN_SEQ, "no bot frame with this seq in the conversation",
                       f->id, -1);
            return;
        }
        if (!entry && x.entry[0])
            entry = x.entry;
    }
    if (!rate_ok(p, f->id))
        return;
    kf_store_row in = {.dir = KF_DIR_IN,
                       .kind = "feedback",
                       .client_id = f->id,
                       .entry = entry,
                       .helpful = f->helpful,
                       .ref_seq = f->seq};
    kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=feedback helpful=%d entry=%s",
           (unsigned long long)p->id, (long long)p->conv.id, f->helpful, entry ? entry : "-");
    p->srv->m.feedback[f->helpful ? 1 : 0]++;
    commit_and_send(p, &in, "feedback", NULL, NULL, 0);
}

typedef struct last_close {
    int64_t case_id, agent;
} last_close;

static int last_close_cb(void *ud, const kf_hcase *c)
{
    last_close *x = ud;
    if (!strcmp(c->end, "close")) {
        x->case_id = c->id;
        x->agent = c->agent;
    }
    return 0;
}

static void on_survey(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    kf_server *s = p->srv;
    last_close x = {0, 0};
    if (kf_store_case_list_conv(s->store, p->conv.id, last_close_cb, &x) < 0) {
        send_error(p, KF_PE_INTERNAL, "could not read the conversation; send it again", f->id, -1);
        return;
    }
    if (!x.case_id) {
        send_error(p, KF_PE_OUT_OF_ORDER, "there is no survey to answer", f->id, -1);
        return;
    }
    if (!rate_ok(p, f->id))
        return;
    /* The answer and the visitor's frame: one transaction, as a left message, so that a
     * failure stores neither and the resend it asks for is not refused as a second answer. */
    kf_survey sv = {p->conv.id, x.case_id, f->csat, f->nps, f->ces, f->comment};
    kf_store_row in = {
        .dir = KF_DIR_IN, .kind = "survey", .client_id = f->id, .text = f->comment, .helpful = -1};
    int64_t seq = 0;
    recent_put(p, f->id, 0, 1);
    int rc = kf_store_survey_add(s->store, &sv, &in, 1, kf_store_now_ms(), &seq);
    if (rc == KF_EINVAL) {
        recent_put(p, f->id, -1, 0);
        send_error(p, KF_PE_ALREADY_ANSWERED, "this survey was already answered", f->id, -1);
        return;
    }
    after_store(p, rc, f->id, "survey", NULL, NULL, &seq, 1);
    if (rc)
        return;
    kf_log(KF_LOG_INFO, "conv=%lld case=%lld event=survey csat=%d", (long long)p->conv.id,
           (long long)x.case_id, f->csat);
    s->m.surveys++;
    s->m.csat_sum += (uint64_t)f->csat;
    s->m.csat[f->csat - 1]++;
    if (f->nps >= 0) {
        s->m.nps_n++;
        s->m.nps_promoters += f->nps >= 9;
        s->m.nps_detractors += f->nps <= 6;
    }
    if (f->ces >= 0) {
        s->m.ces_n++;
        s->m.ces_sum += (uint64_t)f->ces;
    }
    kf_out *o = kf_out_new("survey");
    int r = o ? KF_OK : KF_ENOMEM;
    r = r ? r : kf_out_set_int(o, "conv", p->conv.id);
    r = r ? r : kf_out_set_int(o, "case", x.case_id);
    r = r ? r : kf_out_set_int(o, "csat", f->csat);
    r = r ? r : (f->nps >= 0 ? kf_out_set_int(o, "nps", f->nps) : KF_OK);
    r = r ? r : (f->ces >= 0 ? kf_out_set_int(o, "ces", f->ces) : KF_OK);
    r = r ? r : kf_out_set_str(o, "comment", f->comment);
    if (r == KF_OK && x.agent)
        kf_ws_agent__send(s, x.agent, o);
    kf_out_free(o);
}

/* An e-mail address (one @, a dot in the domain, no spaces) or a phone number (6..20 digits
 * with spaces, +, -, parentheses). */
static int contact_ok(const char *c)
{
    const char *at = strchr(c, '@');
    size_t n = strlen(c);
    if (n < 3 || n > 200)
        return 0;
    if (at) {
        if (at == c || strchr(at + 1, '@') || !strchr(at + 1, '.') || c[n - 1] == '.' ||
            at[1] == '.')
            return 0;
        for (const char *q = c; *q; q++)
            if ((unsigned char)*q <= ' ' || *q == '<' || *q == '>' || *q == '"' || *q == ',')
                return 0;
        return 1;
    }
    int digits = 0;
    for (const char *q = c; *q; q++) {
        if (*q >= '0' && *q <= '9')
            digits++;
        else if (!strchr(" +-()", *q))
            return 0;
    }
    return digits >= 6 && digits <= 20;
}

typedef struct ticket_fill {
    kf_out *reply;
    char *stored; /* the reply as stored, with the ticket's number */
} ticket_fill;

static int fill_ticket(void *ud, int64_t id, kf_store_row *rows)
{
    ticket_fill *tf = ud;
    if (kf_out_set_int(tf->reply, "ticket", id) || !(tf->stored = kf_out_dump_stored(tf->reply)))
        return KF_ENOMEM;
    rows[1].frame = tf->stored;
    return KF_OK;
}

static void on_leave_message(kf_ws_visitor_pss *p, kf_in_frame *f)
{
    kf_server *s = p->srv;
    if (!contact_ok(f->contact)) {
        send_error(p, KF_PE_BAD_CONTACT, "'contact' must be an e-mail address or a phone number",
                   f->id, -1);
        return;
    }
    if (!f->text[strspn(f->text, " \t\r\n")]) {
        send_error(p, KF_PE_EMPTY_MESSAGE, "the message is empty", f->id, -1);
        return;
    }
    if (!rate_ok(p, f->id))
        return;
    kf_out *reply = kf_out_new("ticket");
    if (!reply ||
        kf_out_set_str(reply, "text",
                       txt(p->lang, "留言已收到，我们会通过您留下的联系方式尽快联系您。",
                           "Thank you, we got your message and will contact you soon."))) {
        kf_out_free(reply);
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", f->id, -1);
        return;
    }
    kf_ticket t = {.conv = p->conv.id,
                   .name = f->name,
                   .contact = f->contact,
                   .text = f->text,
                   .created_ms = kf_store_now_ms()};
    /* The ticket, the visitor's frame and the reply showing the ticket's number: one
     * transaction (a resend after a failure must not find a ticket already made). */
    kf_store_row rows[2] = {
        {.dir = KF_DIR_IN,
         .kind = "leave_message",
         .client_id = f->id,
         .text = f->text,
         .helpful = -1},
        {.dir = KF_DIR_OUT, .kind = "ticket", .ref_seq = KF_STORE_REF_PREV, .helpful = -1}};
    int64_t seqs[2] = {0, 0};
    ticket_fill tf = {.reply = reply};
    kf_ws_visitor__flush(s); /* earlier frames first: seqs follow arrival */
    recent_put(p, f->id, 0, 1);
    int rc = kf_store_ticket_add(s->store, &t, rows, 2, kf_store_now_ms(), seqs, fill_ticket, &tf);
    after_store(p, rc, f->id, "leave_message", rc ? NULL : reply, tf.stored, seqs, 2);
    kf_free(tf.stored);
    kf_out_free(reply);
    if (rc)
        return;
    kf_log(KF_LOG_INFO, "conv=%lld event=ticket ticket=%lld", (long long)p->conv.id,
           (long long)t.id);
    kf_desk_case *dc = kf_desk__case_of_conv(s, p->conv.id);
    if (dc && !strcmp(dc->c.state, "queued") &&
        kf_desk__end(s, dc, "ticket")) /* replaces the wait */
        kf_log(KF_LOG_WARN, "conv=%lld case=%lld event=case_not_ended why=ticket (still queued)",
               (long long)p->conv.id, (long long)dc->c.id);
    kf_desk__ticket_changed(s, t.id);
    kf_desk__changed(s);
}

/* A frame whose id is already stored (see RECENT): acknowledged again as a duplicate, and
 * nothing else done; 0 when it is new. A remembered hash is checked against the store, so a
 * collision cannot swallow a new frame. */
static int resent(kf_ws_visitor_pss *p, const char *id, const char *of)
{
    kf_server *s = p->srv;
    uint64_t h = id_hash(id);
    int64_t seq = 0;
    kf_recent *r = recent_find(p, h);
    if (r && r->seq == 0) { /* waiting for the group commit: it gets its seq, or fails */
        kf_ws_visitor__flush(s);
        r = recent_find(p, h);
    }
    if (r && r->seq > 0 &&
        kf_store_find_client_id(s->store, p->conv.id, id, r->seq, r->seq, &seq) != KF_OK)
        seq = 0;
    if (!seq && p->resume_left) {
        p->resume_left--;
        int64_t to = p->resume_to, from = to > RESUME_ROWS ? to - RESUME_ROWS + 1 : 1;
        if (to < 1 || kf_store_find_client_id(s->store, p->conv.id, id, from, to, &seq) != KF_OK)
            seq = 0;
    }
    if (!seq)
        return 0;
    ack_duplicate(p, id, of, seq);
    return 1;
}

static void on_frame(kf_ws_visitor_pss *p, const char *data, size_t len)
{
    kf_in_frame f;
    kf_proto_error err;
    int rc = kf_proto_decode(data, len, &f, &err);
    if (rc == KF_ENOMEM) {
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", NULL, -1);
        return;
    }
    if (rc) {
        send_error(p, err.code, err.message, err.id, -1);
        return;
    }
    /* Everything but a message and typing is stored at once: the answers waiting for the
     * group commit go first, so that the conversation keeps the order of arrival. */
    if (f.type != KF_IN_MESSAGE && f.type != KF_IN_TYPING)
        kf_ws_visitor__flush(p->srv);
    if (p->srv->stopping && f.type != KF_IN_TYPING) {
        send_error(p, KF_PE_SHUTTING_DOWN, "the server is restarting; reconnect shortly", f.id, -1);
    } else if (f.type == KF_IN_HELLO) {
        if (rate_ok(p, f.id))
            on_hello(p, &f);
    } else if (!p->have_conv) {
        send_error(p, KF_PE_OUT_OF_ORDER, "send hello first", f.id, -1);
    } else if (f.id && f.type != KF_IN_TYPING && !recent_ready(p)) {
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", f.id, -1);
    } else if (f.id && f.type != KF_IN_TYPING && resent(p, f.id, kf_proto_in_type_name(f.type))) {
        /* acknowledged again */
    } else if (f.type == KF_IN_MESSAGE) {
        on_message(p, &f);
    } else if (f.type == KF_IN_CHOOSE) {
        on_choose(p, &f);
    } else if (f.type == KF_IN_FEEDBACK) {
        on_feedback(p, &f);
    } else if (f.type == KF_IN_SURVEY) {
        on_survey(p, &f);
    } else if (f.type == KF_IN_LEAVE_MESSAGE) {
        on_leave_message(p, &f);
    } else if (f.type == KF_IN_TYPING) {
        kf_desk__visitor_typing(p->srv, p->conv.id, f.active);
    }
    kf_in_frame_cleanup(&f);
}

/* ---- receive ------------------------------------------------------------------ */

static void on_receive(kf_ws_visitor_pss *p, const char *in, size_t len)
{
    const kf_config *c = p->srv->cfg;
    const char *frame = NULL;
    size_t n = 0;
    char msg[100];
    if (p->q.close_code)
        return; /* closing: the rest of the stream is dropped */
    switch (kf_wsrx_feed(&p->rx, p->wsi, in, len, (size_t)c->max_frame, &frame, &n)) {
    case KF_WSRX_FRAME: on_frame(p, frame, n); break;
    case KF_WSRX_BINARY:
        send_error(p, KF_PE_BINARY_FRAME, "binary frames are not supported; send JSON text", NULL,
                   -1);
        break;
    case KF_WSRX_TOO_LARGE:
        snprintf(msg, sizeof(msg), "frame larger than %ld bytes", c->max_frame);
        send_error(p, KF_PE_TOO_LARGE, msg, NULL, -1);
        p->srv->m.closed_too_large++;
        start_close(p, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, msg);
        break;
    case KF_WSRX_NOMEM:
        send_error(p, KF_PE_INTERNAL, "out of memory", NULL, -1);
        start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        break;
    default: break;
    }
}

/* ---- handshake: path, origin, address ------------------------------------------ */

/* The client's address: the socket peer, or, when the peer is a trusted proxy, the last
 * address of X-Forwarded-For that is not itself a trusted proxy. */
static void client_addr(struct lws *wsi, const kf_config *c, char *out, size_t n)
{
    char xff[512];
    lws_get_peer_simple(wsi, out, n);
    if (!c->trusted_proxies[0] || !kf_config_list_has(c->trusted_proxies, out, strlen(out)))
        return;
    int l = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
    if (l <= 0)
        return;
    /* walk from the right: each hop appended its peer */
    char *end = xff + l;
    while (end > xff) {
        char *comma = end;
        while (comma > xff && comma[-1] != ',')
            comma--;
        char *a = comma, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            snprintf(out, n, "%.*s", (int)(b - a), a);
            if (!kf_config_list_has(c->trusted_proxies, a, (size_t)(b - a)))
                return;
        }
        end = comma > xff ? comma - 1 : xff;
    }
}

static int filter(struct lws *wsi, kf_ws_visitor_pss *p, kf_server *s)
{
    char buf[512];
    const kf_config *c = s->cfg;

    if (s->stopping) {
        lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
        return 1;
    }
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) <= 0 || strcmp(buf, "/ws") != 0) {
        kf_log(KF_LOG_INFO, "event=reject reason=path");
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "the visitor endpoint is /ws");
        return 1;
    }
    if (c->allowed_origins[0]) {
        int l = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN);
        if (l <= 0 || !kf_config_list_has(c->allowed_origins, buf, (size_t)l)) {
            s->m.conns_rejected++;
            kf_log(KF_LOG_INFO, "event=reject reason=origin origin=%s", l > 0 ? buf : "-");
            lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
            return 1;
        }
    }
    if (p)
        client_addr(wsi, c, p->addr, sizeof(p->addr));
    return 0;
}

/* ---- the callback ------------------------------------------------------------- */

static void on_established(kf_ws_visitor_pss *p, struct lws *wsi, kf_server *s)
{
    const kf_config *c = s->cfg;
    p->wsi = wsi;
    p->srv = s;
    p->id = ++s->next_conn_id;
    p->lang = KF_LANG_NONE;
    p->established = 1;
    if (!p->addr[0])
        lws_get_peer_simple(wsi, p->addr, sizeof(p->addr));
    p->next = s->conns;
    if (s->conns)
        s->conns->pprev = &p->next;
    p->pprev = &s->conns;
    s->conns = p;
    s->n_conns++;
    s->m.conns_total++;
    if (kf_wsq_init(&p->q, (size_t)c->max_queue)) {
        start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    kf_log(KF_LOG_INFO, "conn=c%llu event=open addr=%s", (unsigned long long)p->id, p->addr);
    p->slot = kf_server__addr_get(s, p->addr);
    if (p->slot && p->slot->conns >= c->max_conns_per_addr) {
        p->slot = NULL; /* not counted */
        send_error(p, KF_PE_TOO_MANY_CONNECTIONS, "too many connections from your address", NULL,
                   -1);
        start_close(p, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many connections from your address");
        return;
    }
    if (p->slot)
        p->slot->conns++;
    if (s->n_conns > (size_t)c->max_conns) {
        send_error(p, KF_PE_TOO_MANY_CONNECTIONS, "the server is full; try again later", NULL, -1);
        start_close(p, 1013 /* try again later */, "server full");
    }
}

static void on_closed(kf_ws_visitor_pss *p, kf_server *s)
{
    if (!p->established)
        return;
    kf_log(KF_LOG_INFO, "conn=c%llu conv=%lld event=close", (unsigned long long)p->id,
           (long long)p->conv.id);
    for (size_t i = 0; p->n_pend && i < s->n_pend; i++)
        if (s->pend[i].p == p) { /* stored at the flush all the same; sent to nobody */
            s->pend[i].p = NULL;
            p->n_pend--;
        }
    for (size_t i = 0; p->n_pend && i < s->n_fly; i++)
        if (s->fly[i].p == p) {
            s->fly[i].p = NULL;
            p->n_pend--;
        }
    /* its questions not answered yet: never acknowledged, so dropped (sent again after a
     * reconnect) */
    for (size_t i = 0; p->n_jobs && i < s->n_jobs; i++)
        if (s->jobs[i].p == p) {
            s->jobs[i].p = NULL;
            p->n_jobs--;
        }
    for (size_t i = 0; p->n_jobs && i < s->n_mfly; i++)
        if (s->mfly[i].p == p) {
            s->mfly[i].p = NULL;
            p->n_jobs--;
        }
    kf_wsq_cleanup(&p->q);
    kf_wsrx_cleanup(&p->rx);
    kf_free(p->recent);
    p->recent = NULL;
    if (p->slot)
        p->slot->conns--;
    *p->pprev = p->next;
    if (p->next)
        p->next->pprev = p->pprev;
    s->n_conns--;
    p->established = 0;
    kf_server__conn_gone(s);
}

static int on_writeable(kf_ws_visitor_pss *p)
{
    if (p->q.n == 0 && !p->q.close_code)
        replay_pump(p);
    int w = kf_wsq_write_one(&p->q, p->wsi);
    if (w < 0)
        return -1;
    if (w > 0) {
        if (p->q.n < p->q.cap / 2 && !p->q.close_code)
            replay_pump(p);
        if (p->rx_paused && p->q.n <= p->q.cap / 4) {
            p->rx_paused = 0;
            lws_rx_flow_control(p->wsi, 1);
        }
    }
    return kf_wsq_after_write(&p->q, p->wsi, w);
}

int kf_ws_visitor_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    kf_ws_visitor_pss *p = user;
    kf_server *s = kf_server__get(wsi);

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: return filter(wsi, p, s);
    case LWS_CALLBACK_ESTABLISHED: on_established(p, wsi, s); break;
    case LWS_CALLBACK_RECEIVE: on_receive(p, in, len); break;
    case LWS_CALLBACK_SERVER_WRITEABLE: return on_writeable(p);
    case LWS_CALLBACK_CLOSED: on_closed(p, s); break;
    default: break;
    }
    return 0;
}

void kf_ws_visitor__deliver(kf_server *s, int64_t conv, const kf_out *o, int64_t seq)
{
    for (kf_ws_visitor_pss *p = s->conns; p; p = p->next)
        if (p->have_conv && p->conv.id == conv) {
            if (seq > p->conv.last_seq)
                p->conv.last_seq = seq;
            send_conv_frame(p, o, seq);
        }
}

void kf_ws_visitor__transient(kf_server *s, int64_t conv, const kf_out *o)
{
    for (kf_ws_visitor_pss *p = s->conns; p; p = p->next)
        if (p->have_conv && p->conv.id == conv && !replaying(p))
            enqueue_out(p, o, p->conv.last_seq);
}

void kf_ws_visitor__shutdown_all(kf_server *s)
{
    for (kf_ws_visitor_pss *p = s->conns; p; p = p->next)
        start_close(p, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

void kf_ws_visitor__init(kf_server *s)
{
    if (s->cfg->match_worker_min > 0 && !(s->mworker = kf_mworker_start(match_done_cb, s)))
        kf_log(KF_LOG_WARN, "event=no_matching_thread (questions are matched on the loop)");
}

void kf_ws_visitor__cleanup(kf_server *s)
{
    if (s->matching) { /* not answered (the loop ended without a flush): dropped */
        kf_mworker_wait(s->mworker);
        for (size_t i = 0; i < s->n_mfly; i++) {
            if (s->mfly_m[i].rc == KF_OK)
                kf_match_cleanup(&s->mfly_m[i].m);
            kf_free(s->mfly[i].strs);
        }
        kf_engine_unref(s->mfly_engine);
    }
    kf_mworker_stop(s->mworker);
    for (size_t i = 0; i < s->n_jobs; i++)
        kf_free(s->jobs[i].strs);
    kf_free(s->jobs);
    kf_free(s->job_m);
    kf_free(s->mfly);
    kf_free(s->mfly_m);
    s->mworker = NULL;
    s->jobs = s->mfly = NULL;
    s->job_m = s->mfly_m = NULL;
    s->n_jobs = s->n_mfly = 0;
    s->matching = 0;
}
