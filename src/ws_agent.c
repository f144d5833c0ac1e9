/* SPDX-License-Identifier: MIT
 * The agent WebSocket endpoint (`/ws`, subprotocol kefu.agent.v1, docs/protocol.md part 2):
 * token authentication in the first frame, inbound fragment accumulation, a bounded outgoing
 * queue drained one lws_write per WRITEABLE (as ws_visitor.c), and the meaning of each agent
 * frame. The desk's state and its frames are server_desk.c's. */
#include "server_int.h"
#include "ws_out.h"

#include <stdio.h>
#include <string.h>

#include "kefu/log.h"
#include "kefu/mem.h"

#define AUTH_TIMEOUT_S 10
#define AGENT_QUEUE_MIN 256 /* agents receive broadcasts: more room than a visitor */
#define CLOSE_UNAUTHORIZED 4001

typedef struct kf_ws_agent_pss {
    struct lws *wsi;
    kf_server *srv;
    struct kf_ws_agent_pss *next, **pprev;
    int established;
    int64_t agent; /* 0 until auth */
    char token[KF_TOKEN_HEX + 1];
    char addr[64];
    kf_wsrx rx; /* the message being assembled */
    kf_wsq q; /* outgoing frames */
} kf_ws_agent_pss;

size_t kf_ws_agent_pss_size(void)
{
    return sizeof(kf_ws_agent_pss);
}

/* ---- outgoing ----------------------------------------------------------------- */

static void start_close(kf_ws_agent_pss *p, int code, const char *reason)
{
    kf_wsq_close(&p->q, p->wsi, code, reason);
}

/* A frame that could not be made or queued (out of memory): the console would wait for it,
 * so it is closed instead, and gets what it missed when it reconnects (as below). */
static void lost_frame(kf_ws_agent_pss *p)
{
    if (p->q.close_code)
        return;
    kf_log(KF_LOG_WARN, "agent=%lld event=close reason=out_of_memory", (long long)p->agent);
    start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
}

/* An agent console that does not read is closed; everything it missed is in the store and
 * comes back in welcome/assigned frames when it reconnects. */
static void send_out(kf_ws_agent_pss *p, const kf_out *o)
{
    size_t len = 0;
    if (p->q.close_code || !p->q.cap)
        return;
    char *buf = o ? kf_out_dump_plain(o, LWS_PRE, &len) : NULL; /* NULL: not made */
    if (!buf) {
        lost_frame(p);
        return;
    }
    int rc = kf_wsq_push(&p->q, buf, len);
    if (rc == KF_ENOMEM) {
        lost_frame(p);
        return;
    }
    if (rc == KF_ELIMIT) {
        kf_wsq_clear(&p->q);
        kf_log(KF_LOG_WARN, "agent=%lld event=close reason=slow_reader", (long long)p->agent);
        start_close(p, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow reader: outgoing queue full");
        return;
    }
    lws_callback_on_writable(p->wsi);
}

static void send_error(kf_ws_agent_pss *p, const char *code, const char *msg, const char *id)
{
    kf_server__count_error(p->srv, code);
    kf_out *o = kf_proto_err_frame(code, msg, id);
    if (o)
        send_out(p, o);
    else
        lost_frame(p);
    kf_out_free(o);
}

static void send_ack(kf_ws_agent_pss *p, const char *id, const char *of, int64_t conv, int64_t seq)
{
    kf_out *o = kf_proto_ack(id, of);
    if (o && (conv ? kf_out_set_int(o, "conv", conv) : KF_OK) == KF_OK &&
        (seq ? kf_out_set_int(o, "seq", seq) : KF_OK) == KF_OK)
        send_out(p, o);
    else
        lost_frame(p);
    kf_out_free(o);
}

void kf_ws_agent__send(kf_server *s, int64_t agent, const kf_out *o)
{
    for (kf_ws_agent_pss *p = s->agent_conns; p; p = p->next)
        if (p->agent && (agent == 0 || p->agent == agent))
            send_out(p, o);
}

void kf_ws_agent__revoke(kf_server *s, const char *token)
{
    for (kf_ws_agent_pss *p = s->agent_conns; p; p = p->next)
        if (p->agent && !strcmp(p->token, token)) {
            send_error(p, KF_PE_UNAUTHORIZED, "logged out", NULL);
            start_close(p, CLOSE_UNAUTHORIZED, "logged out");
        }
}

void kf_ws_agent__shutdown_all(kf_server *s)
{
    for (kf_ws_agent_pss *p = s->agent_conns; p; p = p->next)
        start_close(p, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

/* ---- frames ------------------------------------------------------------------- */

static void on_auth(kf_ws_agent_pss *p, kf_obj *f)
{
    kf_server *s = p->srv;
    kf_proto_error err;
    const char *token = NULL;
    int64_t agent = 0, expires = 0;
    kf_desk_agent *a = NULL;

    if (kf_obj_str(f, "token", 64, 1, &token, &err) || !kf_store_token_valid(token) ||
        kf_store_login_find(s->store, token, kf_store_now_ms(), &agent, &expires) ||
        !(a = kf_desk__agent(s, agent))) {
        kf_agent_rec r;
        if (a == NULL && agent && kf_store_agent_get(s->store, NULL, agent, &r) == KF_OK)
            kf_log(KF_LOG_INFO, "agent=%s event=auth_refused reason=disabled", r.name);
        else
            kf_log(KF_LOG_INFO, "event=auth_refused addr=%s", p->addr);
        send_error(p, KF_PE_UNAUTHORIZED, "invalid, expired or revoked token; log in again",
                   kf_obj_id(f));
        start_close(p, CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    kf_agent_rec r; /* a disabled agent's tokens stop working at once */
    if (kf_store_agent_get(s->store, NULL, agent, &r) || r.disabled) {
        send_error(p, KF_PE_UNAUTHORIZED, "this agent is disabled", kf_obj_id(f));
        start_close(p, CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    p->agent = agent;
    snprintf(p->token, sizeof(p->token), "%s", token);
    lws_set_timeout(p->wsi, NO_PENDING_TIMEOUT, 0);
    kf_log(KF_LOG_INFO, "agent=%s event=auth addr=%s", a->name, p->addr);
    kf_desk__agent_socket(s, a, +1);

    /* The console's whole state. A frame that cannot be made (NULL) closes the socket
     * (send_out): the console reconnects and gets all of it again, never a part. */
    kf_out *w = kf_out_new("welcome");
    kf_out *ag = kf_out_new(NULL);
    int rc = w && ag ? KF_OK : KF_ENOMEM;
    rc = rc ? rc : kf_out_set_str(ag, "name", a->name);
    rc = rc ? rc : kf_out_set_str(ag, "display", a->display);
    rc = rc ? rc : kf_out_set_int(ag, "max_chats", a->max_chats);
    if (rc)
        kf_out_free(ag);
    else
        rc = kf_out_set_obj(w, "agent", ag); /* takes ag, whatever it returns */
    rc = rc ? rc : kf_out_set_str(w, "status", a->away ? "away" : "online");
    rc = rc ? rc : kf_out_set_str(w, "assign", s->cfg->assign);
    rc = rc ? rc : kf_out_set_double(w, "first_response_s", s->cfg->first_response_s);
    send_out(p, rc ? NULL : w);
    kf_out_free(w);
    kf_out *o = kf_desk__agents_frame(s);
    send_out(p, o);
    kf_out_free(o);
    o = kf_desk__queue_frame(s);
    send_out(p, o);
    kf_out_free(o);
    /* tickets, then the conversations this agent holds (after a restart or a reconnect) */
    o = kf_desk__tickets_frame(s);
    send_out(p, o);
    kf_out_free(o);
    for (kf_desk_case *dc = s->cases; dc; dc = dc->next)
        if (dc->c.agent == agent && !strcmp(dc->c.state, "agent")) {
            o = kf_desk__assigned_frame(s, dc, "restore", NULL, NULL);
            send_out(p, o);
            kf_out_free(o);
        }
}

/* The case of conv held by this socket's agent, or NULL after an error frame. */
static kf_desk_case *held(kf_ws_agent_pss *p, int64_t conv, const char *id)
{
    kf_desk_case *dc = kf_desk__case_of_conv(p->srv, conv);
    if (!dc || dc->c.agent != p->agent || strcmp(dc->c.state, "agent")) {
        kf_conv cv;
        if (kf_store_conv_get(p->srv->store, conv, &cv))
            send_error(p, KF_PE_UNKNOWN_CONV, "no such conversation", id);
        else
            send_error(p, KF_PE_NOT_YOURS, "you do not hold this conversation", id);
        return NULL;
    }
    return dc;
}

/* Sends text to the visitor as an agent message; first response noted. */
static void agent_says(kf_ws_agent_pss *p, kf_desk_case *dc, const char *text, const char *id,
                       const char *of)
{
    kf_server *s = p->srv;
    kf_desk_agent *a = kf_desk__agent(s, p->agent);
    int64_t seq = 0;
    kf_out *o = kf_out_new("agent_message");
    if (!o || !a || kf_out_set_str(o, "agent", a->display) || kf_out_set_str(o, "text", text) ||
        kf_desk__to_visitor(s, dc->c.conv, o, text, &seq)) {
        kf_out_free(o);
        send_error(p, KF_PE_INTERNAL, "could not store the message; send it again", id);
        return;
    }
    kf_out_free(o);
    if (!dc->c.first_response_ms) {
        dc->c.first_response_ms = kf_store_now_ms();
        kf_store_case_save(s->store, &dc->c, "agent");
    }
    send_ack(p, id, of, dc->c.conv, seq);
}

static int ticket_get(void *ud, const kf_ticket *t)
{
    kf_ticket *out = ud;
    *out = *t;
    out->name = out->contact = out->text = NULL; /* borrowed strings end with the callback */
    return 0;
}

static void on_frame(kf_ws_agent_pss *p, const char *data, size_t len)
{
    kf_server *s = p->srv;
    kf_obj *f = NULL;
    kf_proto_error err;
    int rc = kf_obj_parse(data, len, 1, &f, &err);
    if (rc == KF_ENOMEM) {
        send_error(p, KF_PE_INTERNAL, "out of memory; send it again", NULL);
        return;
    }
    if (rc) {
        send_error(p, err.code, err.message, err.id);
        return;
    }
    const char *type = kf_obj_type(f), *id = kf_obj_id(f);
    const char *text = NULL, *to = NULL, *note = NULL, *status = NULL, *query = NULL, *entry = NULL;
    int64_t conv = 0, ticket = 0;
    int active = 1;
    kf_desk_case *dc;
    kf_desk_agent *me = p->agent ? kf_desk__agent(s, p->agent) : NULL;

    memset(&err, 0, sizeof(err));
    if (!strcmp(type, "auth")) {
        if (p->agent)
            send_error(p, KF_PE_OUT_OF_ORDER, "already authenticated", id);
        else
            on_auth(p, f);
        goto out;
    }
    if (!p->agent || !me) {
        send_error(p, KF_PE_UNAUTHORIZED, "send auth with a token first", id);
        goto out;
    }
    if (s->stopping) {
        send_error(p, KF_PE_SHUTTING_DOWN, "the server is restarting; reconnect shortly", id);
        goto out;
    }
#define FIELD(call)                                                                                \
    if ((call)) {                                                                                  \
        send_error(p, err.code, err.message, id);                                                  \
        goto out;                                                                                  \
    }
    if (!strcmp(type, "presence")) {
        FIELD(kf_obj_str(f, "status", 16, 1, &status, &err));
        if (strcmp(status, "online") && strcmp(status, "away")) {
            send_error(p, KF_PE_BAD_FIELD, "'status' must be \"online\" or \"away\"", id);
            goto out;
        }
        kf_desk__agent_status(s, me, !strcmp(status, "away"));
        send_ack(p, id, "presence", 0, 0);
    } else if (!strcmp(type, "claim")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        dc = kf_desk__case_of_conv(s, conv);
        if (!dc || strcmp(dc->c.state, "queued")) {
            kf_conv cv;
            send_error(
                p, kf_store_conv_get(s->store, conv, &cv) ? KF_PE_UNKNOWN_CONV : KF_PE_NOT_QUEUED,
                "this conversation is not waiting in the queue", id);
            goto out;
        }
        if (!kf_handoff_has_room(s->hd, me->id)) {
            send_error(p, KF_PE_AGENT_FULL, "you are at your max_chats", id);
            goto out;
        }
        if (kf_desk__assign(s, dc, me, "claim", NULL, NULL)) /* acked once stored */
            send_error(p, KF_PE_INTERNAL, "could not store the assignment", id);
        else
            send_ack(p, id, "claim", conv, 0);
        kf_desk__changed(s);
    } else if (!strcmp(type, "message")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        FIELD(kf_obj_str(f, "text", (size_t)s->cfg->max_frame, 1, &text, &err));
        if (!(dc = held(p, conv, id)))
            goto out;
        if (!text[strspn(text, " \t\r\n")]) {
            send_error(p, KF_PE_EMPTY_MESSAGE, "the message is empty", id);
            goto out;
        }
        agent_says(p, dc, text, id, "message");
    } else if (!strcmp(type, "typing")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        FIELD(kf_obj_bool(f, "active", 0, &active, &err));
        if (!(dc = held(p, conv, id)))
            goto out;
        kf_out *o = kf_out_new("typing");
        if (o && !kf_out_set_bool(o, "active", active))
            kf_ws_visitor__transient(s, conv, o);
        kf_out_free(o);
    } else if (!strcmp(type, "note")) {
        kf_conv cv;
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        FIELD(kf_obj_str(f, "text", (size_t)s->cfg->max_frame, 1, &text, &err));
        if (kf_store_conv_get(s->store, conv, &cv)) {
            send_error(p, KF_PE_UNKNOWN_CONV, "no such conversation", id);
            goto out;
        }
        int64_t now = kf_store_now_ms();
        if (kf_store_note_add(s->store, conv, me->id, text, now)) {
            send_error(p, KF_PE_INTERNAL, "could not store the note", id);
            goto out;
        }
        send_ack(p, id, "note", conv, 0);
        dc = kf_desk__case_of_conv(s, conv);
        kf_out *o = kf_out_new("note");
        if (o && !kf_out_set_int(o, "conv", conv) && !kf_out_set_str(o, "agent", me->name) &&
            !kf_out_set_str(o, "text", text) && !kf_out_set_int(o, "at", now)) {
            kf_ws_agent__send(s, me->id, o);
            if (dc && dc->c.agent && dc->c.agent != me->id)
                kf_ws_agent__send(s, dc->c.agent, o);
        }
        kf_out_free(o);
    } else if (!strcmp(type, "transfer")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        FIELD(kf_obj_str(f, "to", 64, 1, &to, &err));
        FIELD(kf_obj_str(f, "note", 2000, 0, &note, &err));
        if (!(dc = held(p, conv, id)))
            goto out;
        kf_desk_agent *b = kf_desk__agent_by_name(s, to);
        kf_agent_rec r;
        if (!b || kf_store_agent_get(s->store, NULL, b->id, &r) || r.disabled) {
            send_error(p, KF_PE_UNKNOWN_AGENT, "no such agent", id);
            goto out;
        }
        if (b->n_socks == 0) {
            send_error(p, KF_PE_AGENT_OFFLINE, "that agent is not connected", id);
            goto out;
        }
        if (b != me && !kf_handoff_has_room(s->hd, b->id)) {
            send_error(p, KF_PE_AGENT_FULL, "that agent is at their max_chats", id);
            goto out;
        }
        /* released to this agent by the assignment, once it is stored; then the ack */
        if (kf_desk__assign(s, dc, b, "transfer", me->name, note))
            send_error(p, KF_PE_INTERNAL, "could not store the transfer", id);
        else
            send_ack(p, id, "transfer", conv, 0);
        kf_desk__changed(s);
    } else if (!strcmp(type, "handback") || !strcmp(type, "close")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        if (!(dc = held(p, conv, id)))
            goto out;
        if (kf_desk__end(s, dc, type))
            send_error(p, KF_PE_INTERNAL, "could not store the change", id);
        else
            send_ack(p, id, type, conv, 0);
        kf_desk__changed(s);
    } else if (!strcmp(type, "history")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        kf_out *o = kf_desk__transcript(s, conv, "transcript");
        if (!o) {
            send_error(p, KF_PE_UNKNOWN_CONV, "no such conversation", id);
            goto out;
        }
        kf_out_set_str(o, "id", id);
        send_out(p, o);
        kf_out_free(o);
    } else if (!strcmp(type, "search")) {
        kf_candidate cand[10];
        FIELD(kf_obj_str(f, "query", 200, 1, &query, &err));
        int n = kf_engine_search(s->engine, query, strlen(query), cand, 10);
        kf_out *o = kf_out_new("search_results");
        int r = o ? KF_OK : KF_ENOMEM;
        r = r ? r : kf_out_set_str(o, "id", id);
        r = r ? r : kf_out_set_str(o, "query", query);
        r = r ? r : kf_out_set_empty_array(o, "results");
        for (int i = 0; r == KF_OK && i < n; i++) {
            int fb;
            const kf_version *v = kf_entry_version(cand[i].entry, KF_LANG_ZH);
            (void)fb;
            if (!v && cand[i].entry->n_versions)
                v = &cand[i].entry->versions[0];
            char *ans = v && v->answer ? kf_config_render(s->cfg, v->answer) : NULL;
            kf_out *it = kf_out_new(NULL);
            if (it && (kf_out_set_str(it, "entry", cand[i].entry->id) ||
                       kf_out_set_str(it, "question", v ? v->question : "") ||
                       kf_out_set_str(it, "answer", ans ? ans : "") ||
                       kf_out_set_double(it, "score", cand[i].score))) {
                kf_out_free(it);
                it = NULL;
            }
            kf_free(ans);
            r = kf_out_push(o, "results", it);
        }
        if (n < 0 || r)
            send_error(p, KF_PE_INTERNAL, "search failed", id);
        else
            send_out(p, o);
        kf_out_free(o);
    } else if (!strcmp(type, "send_entry")) {
        FIELD(kf_obj_int(f, "conv", 1, INT64_MAX, 1, &conv, &err));
        FIELD(kf_obj_str(f, "entry", 128, 1, &entry, &err));
        const kf_entry *e = kf_kb_find(kf_engine_kb(s->engine), entry);
        if (!e) {
            send_error(p, KF_PE_UNKNOWN_ENTRY, "no such entry", id);
            goto out;
        }
        if (!(dc = held(p, conv, id)))
            goto out;
        kf_conv cv;
        kf_lang lang = kf_store_conv_get(s->store, conv, &cv) == KF_OK && cv.lang[0]
                           ? kf_lang_parse(cv.lang)
                           : KF_LANG_ZH;
        const kf_version *v = kf_entry_version(e, lang == KF_LANG_NONE ? KF_LANG_ZH : lang);
        if (!v && e->n_versions)
            v = &e->versions[0];
        char *ans = kf_config_render(s->cfg, v && v->answer ? v->answer : "");
        if (!ans) {
            send_error(p, KF_PE_INTERNAL, "out of memory", id);
            goto out;
        }
        agent_says(p, dc, ans, id, "send_entry");
        kf_free(ans);
    } else if (!strcmp(type, "tickets")) {
        kf_out *o = kf_desk__tickets_frame(s);
        if (o && !kf_out_set_str(o, "id", id))
            send_out(p, o);
        else
            send_error(p, KF_PE_INTERNAL, "could not read the tickets", id);
        kf_out_free(o);
    } else if (!strcmp(type, "ticket_claim") || !strcmp(type, "ticket_close")) {
        kf_ticket t;
        memset(&t, 0, sizeof(t));
        FIELD(kf_obj_int(f, "ticket", 1, INT64_MAX, 1, &ticket, &err));
        if (kf_store_ticket_list(s->store, ticket, ticket_get, &t) != 1) {
            send_error(p, KF_PE_UNKNOWN_TICKET, "no such ticket", id);
            goto out;
        }
        if (!strcmp(t.status, "closed")) {
            send_error(p, KF_PE_TICKET_CLOSED, "the ticket is closed", id);
            goto out;
        }
        snprintf(t.status, sizeof(t.status), "%s",
                 !strcmp(type, "ticket_claim") ? "claimed" : "closed");
        t.agent = me->id;
        if (kf_store_ticket_save(s->store, &t)) {
            send_error(p, KF_PE_INTERNAL, "could not store the ticket", id);
            goto out;
        }
        send_ack(p, id, type, 0, 0);
        kf_desk__ticket_changed(s, ticket);
    } else {
        send_error(p, KF_PE_UNKNOWN_TYPE, "unknown frame type", id);
    }
#undef FIELD
out:
    kf_obj_free(f);
}

/* ---- receive, handshake, lifecycle -------------------------------------------- */

static void on_receive(kf_ws_agent_pss *p, const char *in, size_t len)
{
    /* agents paste long answers: four times a visitor's limit */
    size_t max = (size_t)p->srv->cfg->max_frame * 4, n = 0;
    const char *frame = NULL;
    char msg[100];
    if (p->q.close_code)
        return;
    switch (kf_wsrx_feed(&p->rx, p->wsi, in, len, max, &frame, &n)) {
    case KF_WSRX_FRAME: on_frame(p, frame, n); break;
    case KF_WSRX_BINARY:
        send_error(p, KF_PE_BINARY_FRAME, "binary frames are not supported", NULL);
        break;
    case KF_WSRX_TOO_LARGE:
        snprintf(msg, sizeof(msg), "frame larger than %zu bytes", max);
        send_error(p, KF_PE_TOO_LARGE, msg, NULL);
        start_close(p, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, msg);
        break;
    case KF_WSRX_NOMEM:
        start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        break;
    default: break;
    }
}

static int filter(struct lws *wsi, kf_ws_agent_pss *p, kf_server *s)
{
    char buf[64];
    if (s->stopping) {
        lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
        return 1;
    }
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) <= 0 || strcmp(buf, "/ws") != 0) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "the agent endpoint is /ws");
        return 1;
    }
    if (p)
        lws_get_peer_simple(wsi, p->addr, sizeof(p->addr));
    return 0;
}

static void on_established(kf_ws_agent_pss *p, struct lws *wsi, kf_server *s)
{
    p->wsi = wsi;
    p->srv = s;
    p->established = 1;
    if (!p->addr[0])
        lws_get_peer_simple(wsi, p->addr, sizeof(p->addr));
    p->next = s->agent_conns;
    if (s->agent_conns)
        s->agent_conns->pprev = &p->next;
    p->pprev = &s->agent_conns;
    s->agent_conns = p;
    s->n_agent_conns++;
    size_t cap = (size_t)s->cfg->max_queue * 4;
    if (kf_wsq_init(&p->q, cap < AGENT_QUEUE_MIN ? AGENT_QUEUE_MIN : cap)) {
        start_close(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    /* no auth frame in time: closed */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, AUTH_TIMEOUT_S);
}

static void on_closed(kf_ws_agent_pss *p, kf_server *s)
{
    if (!p->established)
        return;
    kf_wsq_cleanup(&p->q);
    kf_wsrx_cleanup(&p->rx);
    *p->pprev = p->next;
    if (p->next)
        p->next->pprev = p->pprev;
    s->n_agent_conns--;
    p->established = 0;
    if (p->agent && s->hd) {
        kf_desk_agent *a = kf_desk__agent(s, p->agent);
        kf_log(KF_LOG_INFO, "agent=%s event=close", a ? a->name : "?");
        if (a)
            kf_desk__agent_socket(s, a, -1);
    }
    kf_server__conn_gone(s);
}

static int on_writeable(kf_ws_agent_pss *p)
{
    int w = kf_wsq_write_one(&p->q, p->wsi);
    return w < 0 ? -1 : kf_wsq_after_write(&p->q, p->wsi, w);
}

int kf_ws_agent_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    kf_ws_agent_pss *p = user;
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
