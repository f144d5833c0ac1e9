/* SPDX-License-Identifier: MIT
 * The handoff desk on the server: the bridge between the pure queue logic (handoff.c), the
 * store (every change is committed before anyone is told), the visitor sockets and the agent
 * sockets. It owns the in-memory mirror of agents and open cases, the first-response (SLA)
 * timers and the presence grace timers, all lws_sul on the loop thread. The agent protocol's
 * frames are documented in docs/protocol.md, part 2.
 *
 * Restart: kf_desk__init rebuilds the queue (order from queued_ms and urgency), the holds
 * (agents' loads) and the SLA timers from the store; agents start offline and get their
 * conversations back ("assigned" by "restore") when they reconnect. */
#include "server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kefu/log.h"
#include "kefu/mem.h"

#define TRANSCRIPT_MAX 1000

/* ---- agents ------------------------------------------------------------------- */

static kf_desk_agent *agent_add(kf_server *s, const kf_agent_rec *r)
{
    kf_desk_agent *a = kf_calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->srv = s;
    a->id = r->id;
    snprintf(a->name, sizeof(a->name), "%s", r->name);
    snprintf(a->display, sizeof(a->display), "%s", r->display);
    a->max_chats = r->max_chats;
    if (kf_handoff_agent_set(s->hd, a->id, a->max_chats)) {
        kf_free(a);
        return NULL;
    }
    a->next = s->agents;
    s->agents = a;
    return a;
}

kf_desk_agent *kf_desk__agent(kf_server *s, int64_t id)
{
    kf_agent_rec r;
    for (kf_desk_agent *a = s->agents; a; a = a->next)
        if (a->id == id)
            return a;
    if (kf_store_agent_get(s->store, NULL, id, &r))
        return NULL;
    return agent_add(s, &r);
}

kf_desk_agent *kf_desk__agent_by_name(kf_server *s, const char *name)
{
    kf_agent_rec r;
    for (kf_desk_agent *a = s->agents; a; a = a->next)
        if (!strcmp(a->name, name))
            return a;
    if (kf_store_agent_get(s->store, name, 0, &r))
        return NULL;
    return agent_add(s, &r);
}

kf_presence kf_desk__presence(kf_server *s, kf_desk_agent *a)
{
    return kf_handoff_presence(s->hd, a->id);
}

static const char *presence_name(kf_presence p)
{
    return p == KF_PRESENCE_ONLINE ? "online" : p == KF_PRESENCE_AWAY ? "away" : "offline";
}

kf_out *kf_desk__agents_frame(kf_server *s)
{
    kf_out *o = kf_out_new("agents");
    int rc = o ? kf_out_set_empty_array(o, "items") : KF_ENOMEM;
    for (kf_desk_agent *a = s->agents; rc == KF_OK && a; a = a->next) {
        kf_out *it = kf_out_new(NULL);
        if (it &&
            (kf_out_set_str(it, "name", a->name) || kf_out_set_str(it, "display", a->display) ||
             kf_out_set_str(it, "status", presence_name(kf_desk__presence(s, a))) ||
             kf_out_set_int(it, "load", kf_handoff_load(s->hd, a->id)) ||
             kf_out_set_int(it, "max_chats", a->max_chats))) {
            kf_out_free(it);
            it = NULL;
        }
        rc = kf_out_push(o, "items", it);
    }
    if (rc) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

static void broadcast_agents(kf_server *s)
{
    kf_out *o = kf_desk__agents_frame(s);
    if (o)
        kf_ws_agent__send(s, 0, o);
    kf_out_free(o);
}

static void offline_cb(lws_sorted_usec_list_t *sul)
{
    kf_desk_agent *a = lws_container_of(sul, kf_desk_agent, sul_offline);
    kf_server *s = a->srv;
    if (a->n_socks > 0)
        return;
    kf_handoff_presence_set(s->hd, a->id, KF_PRESENCE_OFFLINE);
    kf_log(KF_LOG_INFO, "agent=%s event=presence status=offline", a->name);
    kf_store_event_add(s->store, 0, "agent_offline", a->name, kf_store_now_ms());
    broadcast_agents(s);
    kf_desk__changed(s);
}

void kf_desk__agent_socket(kf_server *s, kf_desk_agent *a, int delta)
{
    a->n_socks += delta;
    if (delta > 0) {
        lws_sul_cancel(&a->sul_offline);
        kf_presence want = a->away ? KF_PRESENCE_AWAY : KF_PRESENCE_ONLINE;
        if (kf_desk__presence(s, a) != want) {
            kf_handoff_presence_set(s->hd, a->id, want);
            kf_log(KF_LOG_INFO, "agent=%s event=presence status=%s", a->name, presence_name(want));
            kf_store_event_add(s->store, 0, "agent_online", a->name, kf_store_now_ms());
            broadcast_agents(s);
            kf_desk__changed(s);
        }
    } else if (a->n_socks <= 0) {
        a->n_socks = 0;
        if (s->stopping)
            return;
        lws_sul_schedule(s->cx, 0, &a->sul_offline, offline_cb,
                         (lws_usec_t)(s->cfg->presence_grace_s * LWS_US_PER_SEC));
    }
}

void kf_desk__agent_status(kf_server *s, kf_desk_agent *a, int away)
{
    a->away = away;
    if (a->n_socks > 0)
        kf_handoff_presence_set(s->hd, a->id, away ? KF_PRESENCE_AWAY : KF_PRESENCE_ONLINE);
    kf_log(KF_LOG_INFO, "agent=%s event=presence status=%s", a->name, away ? "away" : "online");
    broadcast_agents(s);
    kf_desk__changed(s);
}

/* ---- cases -------------------------------------------------------------------- */

kf_desk_case *kf_desk__case_of_conv(kf_server *s, int64_t conv)
{
    for (kf_desk_case *dc = s->cases; dc; dc = dc->next)
        if (dc->c.conv == conv)
            return dc;
    return NULL;
}

static void case_unlink(kf_server *s, kf_desk_case *dc)
{
    for (kf_desk_case **pp = &s->cases; *pp; pp = &(*pp)->next)
        if (*pp == dc) {
            *pp = dc->next;
            break;
        }
    lws_sul_cancel(&dc->sul_sla);
    kf_free(dc);
}

static void sla_cb(lws_sorted_usec_list_t *sul)
{
    kf_desk_case *dc = lws_container_of(sul, kf_desk_case, sul_sla);
    kf_server *s = dc->srv;
    if (strcmp(dc->c.state, "queued") || dc->c.flagged)
        return;
    dc->c.flagged = 1;
    if (kf_store_case_save(s->store, &dc->c, "queued"))
        kf_log(KF_LOG_ERR, "conv=%lld event=sla_save_failed", (long long)dc->c.conv);
    int64_t waited = (kf_store_now_ms() - dc->c.queued_ms) / 1000;
    kf_log(KF_LOG_WARN, "conv=%lld case=%lld event=sla waiting_s=%lld", (long long)dc->c.conv,
           (long long)dc->c.id, (long long)waited);
    kf_store_event_add(s->store, dc->c.conv, "sla", NULL, kf_store_now_ms());
    kf_out *o = kf_out_new("sla");
    if (o && !kf_out_set_int(o, "conv", dc->c.conv) && !kf_out_set_int(o, "case", dc->c.id) &&
        !kf_out_set_int(o, "waiting_s", waited))
        kf_ws_agent__send(s, 0, o);
    kf_out_free(o);
    kf_desk__changed(s);
}

static void sla_arm(kf_server *s, kf_desk_case *dc)
{
    if (dc->c.flagged)
        return;
    int64_t due = dc->c.queued_ms + (int64_t)(s->cfg->first_response_s * 1000.0);
    int64_t in_ms = due - kf_store_now_ms();
    lws_sul_schedule(s->cx, 0, &dc->sul_sla, sla_cb,
                     in_ms > 0 ? (lws_usec_t)in_ms * LWS_US_PER_MS : 1);
}

static kf_desk_case *case_add(kf_server *s, const kf_hcase *c)
{
    kf_desk_case *dc = kf_calloc(1, sizeof(*dc));
    if (!dc)
        return NULL;
    dc->srv = s;
    dc->c = *c;
    dc->sent_wait = -2;
    dc->next = s->cases;
    s->cases = dc;
    return dc;
}

int kf_desk__open_case(kf_server *s, int64_t conv, const char *reason, int urgent,
                       const char *preview, kf_desk_case **out)
{
    kf_hcase c;
    memset(&c, 0, sizeof(c));
    c.conv = conv;
    snprintf(c.reason, sizeof(c.reason), "%s", reason);
    c.urgent = urgent ? 1 : 0;
    snprintf(c.state, sizeof(c.state), "queued");
    c.queued_ms = kf_store_now_ms();
    int rc = kf_store_case_open(s->store, &c);
    if (rc)
        return rc;
    kf_desk_case *dc = case_add(s, &c);
    if (!dc || (rc = kf_handoff_enqueue(s->hd, c.id, c.urgent, c.queued_ms))) {
        /* Stored but in no queue (out of memory): ended at once, or it would wait for
         * nobody while the visitor's messages went to it; the caller offers a left message. */
        if (dc)
            case_unlink(s, dc);
        snprintf(c.state, sizeof(c.state), "ended");
        snprintf(c.end, sizeof(c.end), "failed");
        c.ended_ms = kf_store_now_ms();
        if (kf_store_case_save(s->store, &c, "bot"))
            kf_log(KF_LOG_ERR, "conv=%lld case=%lld event=case_end_failed", (long long)conv,
                   (long long)c.id);
        return rc ? rc : KF_ENOMEM;
    }
    snprintf(dc->preview, sizeof(dc->preview), "%s", preview ? preview : "");
    sla_arm(s, dc);
    kf_log(KF_LOG_INFO, "conv=%lld case=%lld event=queued reason=%s urgent=%d", (long long)conv,
           (long long)c.id, c.reason, c.urgent);
    kf_store_event_add(s->store, conv, "queued", c.reason, c.queued_ms);
    kf_server__count_handoff(s, c.reason);
    *out = dc;
    return KF_OK;
}

void kf_desk__queue_info(kf_server *s, kf_desk_case *dc, size_t *pos, int64_t *wait_s)
{
    *pos = kf_handoff_position(s->hd, dc->c.id);
    *wait_s = *pos ? kf_handoff_wait_s(s->hd, *pos) : -1;
}

int kf_desk__in_hours(kf_server *s)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm); /* TZ is set from `timezone` at start (server.c) */
    return kf_handoff_hours_open(&s->hours[tm.tm_wday], tm.tm_hour * 60 + tm.tm_min);
}

static kf_desk_case *case_by_id(kf_server *s, int64_t id)
{
    for (kf_desk_case *dc = s->cases; dc; dc = dc->next)
        if (dc->c.id == id)
            return dc;
    return NULL;
}

kf_out *kf_desk__queue_frame(kf_server *s)
{
    kf_out *o = kf_out_new("queue");
    int rc = o ? kf_out_set_empty_array(o, "items") : KF_ENOMEM;
    for (size_t i = 0; rc == KF_OK && i < kf_handoff_queue_len(s->hd); i++) {
        kf_desk_case *dc = case_by_id(s, kf_handoff_queue_at(s->hd, i));
        kf_conv cv;
        if (!dc)
            continue;
        if (kf_store_conv_get(s->store, dc->c.conv, &cv))
            cv.page[0] = '\0';
        kf_out *it = kf_out_new(NULL);
        if (it &&
            (kf_out_set_int(it, "conv", dc->c.conv) || kf_out_set_int(it, "case", dc->c.id) ||
             kf_out_set_str(it, "reason", dc->c.reason) ||
             kf_out_set_bool(it, "urgent", dc->c.urgent) ||
             kf_out_set_int(it, "waiting_since", dc->c.queued_ms) ||
             kf_out_set_str(it, "page", cv.page) || kf_out_set_str(it, "preview", dc->preview) ||
             kf_out_set_bool(it, "flagged", dc->c.flagged))) {
            kf_out_free(it);
            it = NULL;
        }
        rc = kf_out_push(o, "items", it);
    }
    if (rc) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

/* ---- frames to visitors ------------------------------------------------------- */

int kf_desk__to_visitor(kf_server *s, int64_t conv, kf_out *o, const char *text, int64_t *seq)
{
    int64_t sq = 0;
    kf_ws_visitor__flush(s); /* the visitor's answered messages first: seqs follow arrival */
    char *stored = kf_out_dump_stored(o);
    if (!stored)
        return KF_ENOMEM;
    kf_store_row r = {
        .dir = KF_DIR_OUT, .kind = kf_out_type(o), .text = text, .frame = stored, .helpful = -1};
    int rc = kf_store_append(s->store, conv, &r, 1, kf_store_now_ms(), &sq);
    kf_free(stored);
    if (rc)
        return rc;
    kf_ws_visitor__deliver(s, conv, o, sq);
    if (seq)
        *seq = sq;
    return KF_OK;
}

/* A notice of what became of the visitor's case (agent_joined, bot_back, closed, survey):
 * the case has changed whether or not its notice is stored, so when the database refuses it
 * (disk full, locked) it is still sent, outside the conversation like an unsaved answer:
 * "unsaved": 1, the latest seq, never replayed (docs/protocol.md). */
static void notify_visitor(kf_server *s, int64_t conv, kf_out *o)
{
    int rc = kf_desk__to_visitor(s, conv, o, NULL, NULL);
    if (rc == KF_OK)
        return;
    kf_log(KF_LOG_WARN, "conv=%lld event=notice_unsaved type=%s error=%s", (long long)conv,
           kf_out_type(o), kf_strerror(rc));
    if (kf_out_set_int(o, "unsaved", 1) == KF_OK)
        kf_ws_visitor__transient(s, conv, o);
}

static void visitor_says(kf_server *s, int64_t conv, const char *type, const char *key,
                         const char *val)
{
    kf_out *o = kf_out_new(type);
    if (o && kf_out_set_str(o, key, val) == KF_OK)
        notify_visitor(s, conv, o);
    kf_out_free(o);
}

/* ---- transcript, assignment --------------------------------------------------- */

typedef struct items_ud {
    kf_out *o;
    const char *key;
    int rc;
} items_ud;

static int row_item(void *ud, const kf_store_row *r)
{
    items_ud *u = ud;
    u->rc = kf_out_push(u->o, u->key,
                        kf_proto_row_item(r->seq, r->dir == KF_DIR_OUT, r->kind, r->text, r->entry,
                                          r->frame, r->created_ms));
    return u->rc ? 1 : 0;
}

static int note_item(void *ud, const kf_note *n)
{
    items_ud *u = ud;
    kf_out *it = kf_out_new(NULL);
    if (it && (kf_out_set_str(it, "agent", n->agent_name) || kf_out_set_str(it, "text", n->text) ||
               kf_out_set_int(it, "at", n->created_ms))) {
        kf_out_free(it);
        it = NULL;
    }
    u->rc = kf_out_push(u->o, u->key, it);
    return u->rc ? 1 : 0;
}

typedef struct earlier_ud {
    kf_server *s;
    kf_out *o;
    int64_t skip;
    int rc;
} earlier_ud;

static int earlier_item(void *ud, const kf_hcase *c)
{
    earlier_ud *u = ud;
    if (c->id == u->skip)
        return 0;
    kf_desk_agent *a = c->agent ? kf_desk__agent(u->s, c->agent) : NULL;
    kf_out *it = kf_out_new(NULL);
    if (it && (kf_out_set_int(it, "case", c->id) || kf_out_set_str(it, "reason", c->reason) ||
               (a ? kf_out_set_str(it, "agent", a->name) : kf_out_set_null(it, "agent")) ||
               kf_out_set_int(it, "opened", c->queued_ms) ||
               kf_out_set_int(it, "ended", c->ended_ms) || kf_out_set_str(it, "end", c->end))) {
        kf_out_free(it);
        it = NULL;
    }
    u->rc = kf_out_push(u->o, "earlier", it);
    return u->rc ? 1 : 0;
}

/* Adds transcript and notes of conv to o. */
static int add_history(kf_server *s, kf_out *o, int64_t conv)
{
    items_ud u = {o, "transcript", 0};
    if (kf_out_set_empty_array(o, "transcript") || kf_out_set_empty_array(o, "notes"))
        return KF_ENOMEM;
    int n = kf_store_replay(s->store, conv, 0, TRANSCRIPT_MAX, row_item, &u);
    if (n < 0 || u.rc)
        return u.rc ? u.rc : n;
    u.key = "notes";
    n = kf_store_note_list(s->store, conv, note_item, &u);
    if (n < 0 || u.rc)
        return u.rc ? u.rc : n;
    return KF_OK;
}

kf_out *kf_desk__transcript(kf_server *s, int64_t conv, const char *type)
{
    kf_conv cv;
    if (kf_store_conv_get(s->store, conv, &cv))
        return NULL;
    kf_out *o = kf_out_new(type);
    if (!o || kf_out_set_int(o, "conv", conv) || kf_out_set_str(o, "state", cv.state) ||
        kf_out_set_str(o, "page", cv.page) || add_history(s, o, conv)) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

kf_out *kf_desk__assigned_frame(kf_server *s, kf_desk_case *dc, const char *by, const char *from,
                                const char *note)
{
    kf_conv cv;
    earlier_ud eu = {s, NULL, dc->c.id, 0};
    if (kf_store_conv_get(s->store, dc->c.conv, &cv))
        return NULL;
    kf_out *o = kf_out_new("assigned");
    eu.o = o;
    if (!o || kf_out_set_int(o, "conv", dc->c.conv) || kf_out_set_int(o, "case", dc->c.id) ||
        kf_out_set_str(o, "by", by) || kf_out_set_str(o, "from", from) ||
        kf_out_set_str(o, "note", note) || kf_out_set_str(o, "reason", dc->c.reason) ||
        kf_out_set_bool(o, "urgent", dc->c.urgent) || kf_out_set_str(o, "page", cv.page) ||
        kf_out_set_str(o, "lang", cv.lang) || kf_out_set_int(o, "waiting_since", dc->c.queued_ms) ||
        add_history(s, o, dc->c.conv) || kf_out_set_empty_array(o, "earlier") ||
        kf_store_case_list_conv(s->store, dc->c.conv, earlier_item, &eu) < 0 || eu.rc) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

/* The agent's console lets go of the case (NULL frame: closed, see kf_ws_agent__send). */
static void released(kf_server *s, kf_desk_case *dc, int64_t agent, const char *why)
{
    kf_out *o = kf_out_new("released");
    if (o && (kf_out_set_int(o, "conv", dc->c.conv) || kf_out_set_int(o, "case", dc->c.id) ||
              kf_out_set_str(o, "why", why))) {
        kf_out_free(o);
        o = NULL;
    }
    kf_ws_agent__send(s, agent, o);
    kf_out_free(o);
}

int kf_desk__assign(kf_server *s, kf_desk_case *dc, kf_desk_agent *a, const char *by,
                    const char *from, const char *note)
{
    kf_hcase before = dc->c;
    int was_queued = !strcmp(dc->c.state, "queued");
    int64_t prev = dc->c.agent;
    /* A transfer's note first: stored, or the transfer fails with nothing changed (a note
     * acknowledged and then lost would be worse than one stored twice by a retry). */
    if (note && *note && prev &&
        kf_store_note_add(s->store, dc->c.conv, prev, note, kf_store_now_ms()) != KF_OK)
        return KF_EDB;
    dc->c.agent = a->id;
    snprintf(dc->c.state, sizeof(dc->c.state), "agent");
    if (!dc->c.assigned_ms)
        dc->c.assigned_ms = kf_store_now_ms();
    int rc = kf_store_case_save(s->store, &dc->c, "agent");
    if (rc) {
        dc->c = before;
        return rc;
    }
    if (was_queued) {
        kf_handoff_dequeue(s->hd, dc->c.id);
        lws_sul_cancel(&dc->sul_sla);
    }
    if (prev)
        kf_handoff_release(s->hd, prev);
    kf_handoff_hold(s->hd, a->id);
    kf_log(KF_LOG_INFO, "conv=%lld case=%lld event=assigned agent=%s by=%s", (long long)dc->c.conv,
           (long long)dc->c.id, a->name, by);
    kf_store_event_add(s->store, dc->c.conv, "assigned", a->name, kf_store_now_ms());
    if (prev && strcmp(by, "transfer") == 0) /* stored: the sender lets go of it now */
        released(s, dc, prev, "transfer");
    visitor_says(s, dc->c.conv, "agent_joined", "agent", a->display);
    kf_out *o = kf_desk__assigned_frame(s, dc, by, from, note);
    kf_ws_agent__send(s, a->id, o); /* NULL: closed, and the reconnect restores the case */
    kf_out_free(o);
    broadcast_agents(s);
    return KF_OK;
}

int kf_desk__end(kf_server *s, kf_desk_case *dc, const char *how)
{
    kf_hcase before = dc->c;
    int64_t agent = dc->c.agent;
    int was_queued = !strcmp(dc->c.state, "queued");
    int64_t now = kf_store_now_ms();
    snprintf(dc->c.state, sizeof(dc->c.state), "ended");
    snprintf(dc->c.end, sizeof(dc->c.end), "%s", how);
    dc->c.ended_ms = now;
    int rc = kf_store_case_save(s->store, &dc->c, "bot");
    if (rc) {
        dc->c = before;
        return rc;
    }
    if (was_queued)
        kf_handoff_dequeue(s->hd, dc->c.id);
    if (agent) {
        kf_handoff_release(s->hd, agent);
        if (dc->c.assigned_ms)
            kf_handoff_handle_time(s->hd, now - dc->c.assigned_ms);
    }
    kf_log(KF_LOG_INFO, "conv=%lld case=%lld event=ended how=%s", (long long)dc->c.conv,
           (long long)dc->c.id, how);
    kf_store_event_add(s->store, dc->c.conv, "case_end", how, now);
    int64_t conv = dc->c.conv, case_id = dc->c.id;
    if (agent)
        released(s, dc, agent, how);
    case_unlink(s, dc);
    kf_conv cv;
    int en = kf_store_conv_get(s->store, conv, &cv) == KF_OK && !strcmp(cv.lang, "en");
    if (!strcmp(how, "handback")) {
        visitor_says(s, conv, "bot_back", "text",
                     en ? "The agent has finished; I am back if you have more questions."
                        : "人工客服已结束接待，如有其他问题可以继续问我。");
    } else if (!strcmp(how, "close")) {
        visitor_says(s, conv, "closed", "text",
                     en ? "This conversation is closed. Thank you for your patience."
                        : "本次服务已结束，感谢您的耐心。");
        kf_out *sv = kf_out_new("survey");
        kf_out *q = kf_out_new(NULL);
        int r = sv && q ? KF_OK : KF_ENOMEM;
        r = r ? r : kf_out_set_int(sv, "case", case_id);
        r = r ? r : kf_out_set_str(q, "id", "csat");
        r = r ? r : kf_out_set_str(q, "text", en ? s->cfg->survey_question_en : s->cfg->survey_question);
        r = r ? r : kf_out_set_int(q, "min", 1);
        r = r ? r : kf_out_set_int(q, "max", 5);
        r = r ? r : kf_out_set_bool(q, "comment", 1);
        r = r ? r : kf_out_push(sv, "questions", q);
        q = NULL;
        if (r == KF_OK && s->cfg->survey_nps) {
            kf_out *n = kf_out_new(NULL);
            r = n ? KF_OK : KF_ENOMEM;
            r = r ? r : kf_out_set_str(n, "id", "nps");
            r = r ? r : kf_out_set_str(n, "text",
                                       en ? "How likely are you to recommend us to a friend?"
                                          : "您有多大可能把我们推荐给朋友？");
            r = r ? r : kf_out_set_int(n, "min", 0);
            r = r ? r : kf_out_set_int(n, "max", 10);
            r = r ? r : kf_out_push(sv, "questions", n);
        }
        if (r == KF_OK && s->cfg->survey_ces) {
            kf_out *c = kf_out_new(NULL);
            r = c ? KF_OK : KF_ENOMEM;
            r = r ? r : kf_out_set_str(c, "id", "ces");
            r = r ? r : kf_out_set_str(c, "text",
                                       en ? "How easy was it to get your problem solved?"
                                          : "解决问题容易吗？");
            r = r ? r : kf_out_set_int(c, "min", 1);
            r = r ? r : kf_out_set_int(c, "max", 7);
            r = r ? r : kf_out_push(sv, "questions", c);
        }
        if (r == KF_OK)
            notify_visitor(s, conv, sv);
        kf_out_free(q);
        kf_out_free(sv);
    }
    if (agent)
        broadcast_agents(s);
    return KF_OK;
}

/* ---- after every change ------------------------------------------------------- */

void kf_desk__changed(kf_server *s)
{
    if (!strcmp(s->cfg->assign, "auto")) {
        while (kf_handoff_queue_len(s->hd) > 0) {
            int64_t aid = kf_handoff_pick(s->hd);
            kf_desk_case *dc = case_by_id(s, kf_handoff_queue_at(s->hd, 0));
            kf_desk_agent *a = aid ? kf_desk__agent(s, aid) : NULL;
            if (!a || !dc || kf_desk__assign(s, dc, a, "auto", NULL, NULL))
                break;
        }
    }
    kf_out *o = kf_desk__queue_frame(s);
    if (o)
        kf_ws_agent__send(s, 0, o);
    kf_out_free(o);
    /* Positions: tell each waiting visitor when theirs (or the estimate) changed. */
    for (kf_desk_case *dc = s->cases; dc; dc = dc->next) {
        size_t pos;
        int64_t wait;
        if (strcmp(dc->c.state, "queued"))
            continue;
        kf_desk__queue_info(s, dc, &pos, &wait);
        if (pos == dc->sent_pos && wait == dc->sent_wait)
            continue;
        dc->sent_pos = pos;
        dc->sent_wait = wait;
        kf_out *q = kf_out_new("queue");
        if (q && !kf_out_set_int(q, "position", (int64_t)pos) &&
            !(wait >= 0 ? kf_out_set_int(q, "wait_s", wait) : kf_out_set_null(q, "wait_s")))
            kf_ws_visitor__transient(s, dc->c.conv, q);
        kf_out_free(q);
    }
}

void kf_desk__visitor_message(kf_server *s, int64_t conv, int64_t seq, const char *text)
{
    kf_desk_case *dc = kf_desk__case_of_conv(s, conv);
    if (!dc)
        return;
    snprintf(dc->preview, sizeof(dc->preview), "%s", text);
    if (!dc->c.agent) {
        if (!s->n_agent_conns)
            return; /* nobody to tell; the queue frame is made for every agent socket */
        kf_out *o = kf_desk__queue_frame(s); /* the preview changed */
        if (o)
            kf_ws_agent__send(s, 0, o);
        kf_out_free(o);
        return;
    }
    kf_out *o = kf_out_new("message");
    if (o && (kf_out_set_int(o, "conv", conv) || kf_out_set_int(o, "seq", seq) ||
              kf_out_set_str(o, "from", "visitor") || kf_out_set_str(o, "text", text) ||
              kf_out_set_int(o, "at", kf_store_now_ms()))) {
        kf_out_free(o);
        o = NULL;
    }
    kf_ws_agent__send(s, dc->c.agent, o); /* NULL: closed, the reconnect restores it */
    kf_out_free(o);
}

void kf_desk__visitor_typing(kf_server *s, int64_t conv, int active)
{
    kf_desk_case *dc = kf_desk__case_of_conv(s, conv);
    if (!dc || !dc->c.agent)
        return;
    kf_out *o = kf_out_new("typing");
    if (o && !kf_out_set_int(o, "conv", conv) && !kf_out_set_bool(o, "active", active))
        kf_ws_agent__send(s, dc->c.agent, o);
    kf_out_free(o);
}

kf_out *kf_desk__ticket_item(kf_server *s, const kf_ticket *t)
{
    kf_desk_agent *a = t->agent ? kf_desk__agent(s, t->agent) : NULL;
    kf_out *it = kf_out_new(NULL);
    if (it && (kf_out_set_int(it, "ticket", t->id) || kf_out_set_int(it, "conv", t->conv) ||
               (t->name ? kf_out_set_str(it, "name", t->name) : kf_out_set_null(it, "name")) ||
               kf_out_set_str(it, "contact", t->contact) || kf_out_set_str(it, "text", t->text) ||
               kf_out_set_str(it, "status", t->status) ||
               (a ? kf_out_set_str(it, "agent", a->name) : kf_out_set_null(it, "agent")) ||
               kf_out_set_int(it, "created", t->created_ms))) {
        kf_out_free(it);
        return NULL;
    }
    return it;
}

/* ---- start and stop ----------------------------------------------------------- */

static int load_agent(void *ud, const kf_agent_rec *r)
{
    kf_server *s = ud;
    if (r->disabled)
        return 0;
    return agent_add(s, r) ? 0 : KF_ENOMEM;
}

static int load_case(void *ud, const kf_hcase *c)
{
    kf_server *s = ud;
    kf_desk_case *dc = case_add(s, c);
    if (!dc)
        return KF_ENOMEM;
    if (!strcmp(c->state, "queued")) {
        if (kf_handoff_enqueue(s->hd, c->id, c->urgent, c->queued_ms))
            return KF_ENOMEM;
        sla_arm(s, dc);
    } else if (c->agent) {
        if (!kf_desk__agent(s, c->agent))
            return KF_EINVAL;
        kf_handoff_hold(s->hd, c->agent);
    }
    return 0;
}

int kf_desk__init(kf_server *s)
{
    int64_t times[KF_HANDOFF_RECENT];
    const char *days[7] = {"hours.sun", "hours.mon", "hours.tue", "hours.wed",
                           "hours.thu", "hours.fri", "hours.sat"};
    for (int i = 0; i < 7; i++)
        if (kf_handoff_hours_parse(s->cfg->hours[i], &s->hours[i])) {
            kf_log(KF_LOG_ERR, "%s: bad hours '%s'", days[i], s->cfg->hours[i]);
            return KF_EINVAL;
        }
    s->hd = kf_handoff_new();
    s->login_lim =
        kf_auth_limiter_new((int)s->cfg->login_max_failures, s->cfg->login_window_s * 1000);
    if (!s->hd || !s->login_lim)
        return KF_ENOMEM;
    char pw[24];
    if (kf_auth_random_password(pw, 20) || kf_auth_hash(pw, s->dummy_hash))
        return KF_EIO;
    if (kf_store_agent_list(s->store, load_agent, s) < 0)
        return KF_EDB;
    int n = kf_store_handle_times(s->store, times, KF_HANDOFF_RECENT);
    for (int i = n - 1; i >= 0; i--)
        kf_handoff_handle_time(s->hd, times[i]);
    int rc = kf_store_case_list_open(s->store, load_case, s);
    if (rc < 0)
        return rc;
    kf_log(KF_LOG_INFO, "event=desk_restored queued=%zu open_cases=%d", kf_handoff_queue_len(s->hd),
           rc);
    return KF_OK;
}

void kf_desk__cleanup(kf_server *s)
{
    while (s->cases) {
        kf_desk_case *dc = s->cases;
        s->cases = dc->next;
        lws_sul_cancel(&dc->sul_sla);
        kf_free(dc);
    }
    while (s->agents) {
        kf_desk_agent *a = s->agents;
        s->agents = a->next;
        lws_sul_cancel(&a->sul_offline);
        kf_free(a);
    }
    kf_handoff_free(s->hd);
    s->hd = NULL;
    kf_auth_limiter_free(s->login_lim);
    s->login_lim = NULL;
}

/* ---- tickets ------------------------------------------------------------------ */

static int ticket_push(void *ud, const kf_ticket *t)
{
    void **u = ud;
    return kf_out_push(u[1], "items", kf_desk__ticket_item(u[0], t)) ? 1 : 0;
}

kf_out *kf_desk__tickets_frame(kf_server *s)
{
    kf_out *o = kf_out_new("tickets");
    void *ud[2] = {s, o};
    if (!o || kf_out_set_empty_array(o, "items") ||
        kf_store_ticket_list(s->store, 0, ticket_push, ud) < 0) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

static int ticket_frame(void *ud, const kf_ticket *t)
{
    void **u = ud;
    return kf_out_set_obj(u[1], "ticket", kf_desk__ticket_item(u[0], t)) ? 1 : 0;
}

void kf_desk__ticket_changed(kf_server *s, int64_t id)
{
    kf_out *o = kf_out_new("ticket");
    void *ud[2] = {s, o};
    if (o && kf_store_ticket_list(s->store, id, ticket_frame, ud) == 1)
        kf_ws_agent__send(s, 0, o);
    kf_out_free(o);
}
