/* SPDX-License-Identifier: MIT
 * The HTTP endpoints that are not files: GET /healthz (JSON status, 503 while stopping),
 * GET /metrics (Prometheus text format 0.0.4), POST /api/login and /api/logout for agents
 * (docs/protocol.md part 2), and for the knowledge page (web/kb/) GET /api/explain?q=...&lang=...
 * (the JSON of `kefu ask --json`) and GET /api/reload-status. All are lws callback mounts; a
 * response body is built when the request (and its body) has arrived and is written in one
 * HTTP_WRITEABLE. */
#include "server_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/cli.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/proto.h"
#include "kefu/report.h"

#define API_MAX_BODY 4096

typedef struct kf_http_pss {
    char *body; /* response */
    size_t len;
    char route[16]; /* POST: "login", "logout" */
    char *req;      /* request body being received */
    size_t req_len;
    int req_too_large;
} kf_http_pss;

size_t kf_http_api_pss_size(void)
{
    return sizeof(kf_http_pss);
}

const double kf_server__lat_bounds[KF_LAT_BUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1, 1e300,
};

void kf_server__count_handoff(kf_server *s, const char *reason)
{
    kf_metrics *m = &s->m;
    for (size_t i = 0; i < m->n_reasons; i++)
        if (!strcmp(m->handoffs[i].reason, reason)) {
            m->handoffs[i].n++;
            return;
        }
    /* Reasons are rule names: a bounded set of label values, whatever the rules say. */
    if (m->n_reasons < KF_METRIC_REASONS && strlen(reason) < sizeof(m->handoffs[0].reason) &&
        strspn(reason, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
            strlen(reason)) {
        snprintf(m->handoffs[m->n_reasons].reason, sizeof(m->handoffs[0].reason), "%s", reason);
        m->handoffs[m->n_reasons++].n = 1;
    } else {
        m->handoffs_other++;
    }
}

static int count_ticket(void *ud, const kf_ticket *t)
{
    (void)t;
    ++*(size_t *)ud;
    return 0;
}

/* The records part of /metrics (docs/metrics.md): live gauges from the desk and the store,
 * and counters since the start. */
static int metrics_records(kf_server *s, kf_buf *b)
{
    const kf_metrics *m = &s->m;
    size_t queued = 0, held = 0, tickets = 0;
    int rc = 0;
    for (const kf_desk_case *dc = s->cases; dc; dc = dc->next) {
        if (!strcmp(dc->c.state, "queued"))
            queued++;
        else
            held++;
    }
    int tr = kf_store_ticket_list(s->store, 0, count_ticket, &tickets);
    rc |= kf_buf_printf(b,
                        "# HELP kefu_queue_length Conversations waiting for a person.\n"
                        "# TYPE kefu_queue_length gauge\nkefu_queue_length %zu\n"
                        "# HELP kefu_chats_held Conversations held by an agent.\n"
                        "# TYPE kefu_chats_held gauge\nkefu_chats_held %zu\n",
                        queued, held);
    if (tr >= 0)
        rc |= kf_buf_printf(b,
                            "# HELP kefu_tickets_open Tickets not closed (open or claimed).\n"
                            "# TYPE kefu_tickets_open gauge\nkefu_tickets_open %zu\n",
                            tickets);
    rc |= kf_buf_puts(b, "# HELP kefu_handoffs_total Handoff cases opened, by reason.\n"
                         "# TYPE kefu_handoffs_total counter\n");
    for (size_t i = 0; i < m->n_reasons; i++)
        rc |= kf_buf_printf(b, "kefu_handoffs_total{reason=\"%s\"} %llu\n", m->handoffs[i].reason,
                            (unsigned long long)m->handoffs[i].n);
    if (m->handoffs_other)
        rc |= kf_buf_printf(b, "kefu_handoffs_total{reason=\"other\"} %llu\n",
                            (unsigned long long)m->handoffs_other);
    rc |= kf_buf_printf(
        b,
        "# HELP kefu_feedback_total Ratings of bot answers.\n"
        "# TYPE kefu_feedback_total counter\n"
        "kefu_feedback_total{helpful=\"true\"} %llu\nkefu_feedback_total{helpful=\"false\"} %llu\n"
        "# HELP kefu_csat Survey satisfaction answers (1-5): count and sum.\n"
        "# TYPE kefu_csat summary\nkefu_csat_count %llu\nkefu_csat_sum %llu\n"
        "# HELP kefu_csat_answers_total Survey satisfaction answers by score.\n"
        "# TYPE kefu_csat_answers_total counter\n",
        (unsigned long long)m->feedback[1], (unsigned long long)m->feedback[0],
        (unsigned long long)m->surveys, (unsigned long long)m->csat_sum);
    for (int i = 0; i < 5; i++)
        rc |= kf_buf_printf(b, "kefu_csat_answers_total{score=\"%d\"} %llu\n", i + 1,
                            (unsigned long long)m->csat[i]);
    rc |= kf_buf_printf(b,
                        "# HELP kefu_nps_answers_total Survey 0-10 recommendation answers by group.\n"
                        "# TYPE kefu_nps_answers_total counter\n"
                        "kefu_nps_answers_total{group=\"promoter\"} %llu\n"
                        "kefu_nps_answers_total{group=\"passive\"} %llu\n"
                        "kefu_nps_answers_total{group=\"detractor\"} %llu\n"
                        "# HELP kefu_ces Survey effort answers (1-7): count and sum.\n"
                        "# TYPE kefu_ces summary\nkefu_ces_count %llu\nkefu_ces_sum %llu\n",
                        (unsigned long long)m->nps_promoters,
                        (unsigned long long)(m->nps_n - m->nps_promoters - m->nps_detractors),
                        (unsigned long long)m->nps_detractors, (unsigned long long)m->ces_n,
                        (unsigned long long)m->ces_sum);
    return rc;
}

static int metrics(kf_server *s, kf_buf *b)
{
    const kf_metrics *m = &s->m;
    static const char *const dec[] = {"answer", "clarify", "fallback", "handoff", "reply"};
    int rc = 0;

    rc |= kf_buf_printf(b,
                        "# HELP kefu_connections Open visitor WebSocket connections.\n"
                        "# TYPE kefu_connections gauge\nkefu_connections %zu\n"
                        "# HELP kefu_connections_total Visitor connections accepted.\n"
                        "# TYPE kefu_connections_total counter\nkefu_connections_total %llu\n"
                        "# HELP kefu_connections_rejected_total Handshakes refused (origin).\n"
                        "# TYPE kefu_connections_rejected_total counter\n"
                        "kefu_connections_rejected_total %llu\n"
                        "# HELP kefu_connections_closed_total Connections closed by kefu.\n"
                        "# TYPE kefu_connections_closed_total counter\n"
                        "kefu_connections_closed_total{reason=\"slow_reader\"} %llu\n"
                        "kefu_connections_closed_total{reason=\"too_large\"} %llu\n"
                        "# HELP kefu_messages_total Visitor messages matched.\n"
                        "# TYPE kefu_messages_total counter\nkefu_messages_total %llu\n"
                        "# HELP kefu_frames_out_total Conversation frames sent live.\n"
                        "# TYPE kefu_frames_out_total counter\nkefu_frames_out_total %llu\n"
                        "# HELP kefu_group_commits_total Group commits of answered messages.\n"
                        "# TYPE kefu_group_commits_total counter\nkefu_group_commits_total %llu\n"
                        "# HELP kefu_group_committed_total Answered messages stored by them.\n"
                        "# TYPE kefu_group_committed_total counter\n"
                        "kefu_group_committed_total %llu\n"
                        "# HELP kefu_matched_on_thread_total Questions matched on the matching "
                        "thread.\n"
                        "# TYPE kefu_matched_on_thread_total counter\n"
                        "kefu_matched_on_thread_total %llu\n"
                        "# HELP kefu_decisions_total Bot decisions by kind.\n"
                        "# TYPE kefu_decisions_total counter\n",
                        s->n_conns, (unsigned long long)m->conns_total,
                        (unsigned long long)m->conns_rejected, (unsigned long long)m->closed_slow,
                        (unsigned long long)m->closed_too_large, (unsigned long long)m->messages_in,
                        (unsigned long long)m->frames_out, (unsigned long long)m->commits,
                        (unsigned long long)m->committed, (unsigned long long)m->matched_thread);
    for (int i = 0; i < 5; i++)
        rc |= kf_buf_printf(b, "kefu_decisions_total{decision=\"%s\"} %llu\n", dec[i],
                            (unsigned long long)m->decisions[i]);
    rc |= kf_buf_puts(b, "# HELP kefu_match_seconds Time to match one message.\n"
                         "# TYPE kefu_match_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < KF_LAT_BUCKETS; i++) {
        cum += m->lat_buckets[i];
        if (i == KF_LAT_BUCKETS - 1)
            rc |= kf_buf_printf(b, "kefu_match_seconds_bucket{le=\"+Inf\"} %llu\n",
                                (unsigned long long)cum);
        else
            rc |= kf_buf_printf(b, "kefu_match_seconds_bucket{le=\"%g\"} %llu\n",
                                kf_server__lat_bounds[i], (unsigned long long)cum);
    }
    rc |= kf_buf_printf(b,
                        "kefu_match_seconds_sum %.9f\nkefu_match_seconds_count %llu\n"
                        "# HELP kefu_reloads_total Knowledge reloads by result.\n"
                        "# TYPE kefu_reloads_total counter\n"
                        "kefu_reloads_total{result=\"ok\"} %llu\n"
                        "kefu_reloads_total{result=\"failed\"} %llu\n"
                        "# HELP kefu_knowledge_entries FAQ entries in the serving snapshot.\n"
                        "# TYPE kefu_knowledge_entries gauge\nkefu_knowledge_entries %zu\n"
                        "# HELP kefu_answer_cache_entries Answers kept encoded for that snapshot.\n"
                        "# TYPE kefu_answer_cache_entries gauge\nkefu_answer_cache_entries %zu\n"
                        "# HELP kefu_errors_total Error frames sent, by code.\n"
                        "# TYPE kefu_errors_total counter\n",
                        m->lat_sum, (unsigned long long)m->lat_count,
                        (unsigned long long)m->reloads_ok, (unsigned long long)m->reloads_failed,
                        kf_engine_kb(s->engine)->n_entries, s->answers.n);
    for (int i = 0; i < KF_N_ERROR_CODES; i++)
        rc |= kf_buf_printf(b, "kefu_errors_total{code=\"%s\"} %llu\n", kf_server__error_codes[i],
                            (unsigned long long)m->errors[i]);
    rc |= metrics_records(s, b);
    return rc ? KF_ENOMEM : KF_OK;
}

/* 1 when the request carries "Authorization: Bearer TOKEN" with the login token of an enabled
 * agent (POST /api/login), else 0. A header is used rather than a cookie, so that no other
 * site can make a browser send it. */
static int staff(struct lws *wsi, kf_server *s)
{
    char h[128];
    int64_t agent = 0, expires = 0;
    kf_agent_rec a;
    int n = lws_hdr_copy(wsi, h, sizeof(h), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || strncmp(h, "Bearer ", 7) || !kf_store_token_valid(h + 7))
        return 0;
    return kf_store_login_find(s->store, h + 7, kf_store_now_ms(), &agent, &expires) == KF_OK &&
           kf_store_agent_get(s->store, NULL, agent, &a) == KF_OK && !a.disabled;
}

#define KF_EXPLAIN_MAX_Q 1000 /* bytes of a question to explain */

/* GET /api/explain?q=...&lang=zh|en: how the serving snapshot matches one question, in the
 * format of `kefu ask --json`. 400 with {"error": ...} for a missing, empty, over-long or
 * non-UTF-8 question. lws has already percent-decoded the arguments. */
static int explain(struct lws *wsi, kf_server *s, kf_buf *b, int *status)
{
    char q[KF_EXPLAIN_MAX_Q + 8], lang[16];
    const char *qv = lws_get_urlarg_by_name(wsi, "q=", q, (int)sizeof(q));
    const char *lv = lws_get_urlarg_by_name(wsi, "lang=", lang, (int)sizeof(lang));
    kf_lang want = lv && *lv ? kf_lang_parse(lv) : KF_LANG_NONE;
    kf_match m;
    int rc;

    if (!qv || !*qv || strlen(qv) > KF_EXPLAIN_MAX_Q) {
        *status = 400;
        return kf_buf_puts(b, "{\"error\":\"q is required (at most 1000 bytes)\"}\n") ? KF_ENOMEM
                                                                                  : KF_OK;
    }
    rc = kf_engine_match(s->engine, qv, strlen(qv), want, KF_MATCH_EXPLAIN, &m);
    if (rc == KF_ENOMEM)
        return rc;
    if (rc) {
        *status = 400;
        return kf_buf_printf(b, "{\"error\":\"cannot match this question: %s\"}\n",
                             kf_strerror(rc))
                   ? KF_ENOMEM
                   : KF_OK;
    }
    char *answer = m.version ? kf_config_render(s->cfg, m.version->answer) : NULL;
    char *j = (!m.version || answer) ? kf_proto_explain(&m, answer, 0) : NULL;
    rc = j && !kf_buf_puts(b, j) ? KF_OK : KF_ENOMEM;
    kf_free(j);
    kf_free(answer);
    kf_match_cleanup(&m);
    return rc;
}

/* GET /api/reload-status: the serving knowledge and the last reload's outcome with its
 * file:line errors (a failed reload keeps the previous knowledge serving). */
static int reload_status(kf_server *s, kf_buf *b)
{
    int rc = KF_ENOMEM;
    char *d = NULL;
    json_t *errs = json_array();
    json_t *o = json_pack("{s:I,s:I,s:I,s:o}", "entries", (json_int_t)kf_engine_kb(s->engine)->n_entries,
                          "reloads_ok", (json_int_t)s->m.reloads_ok, "reloads_failed",
                          (json_int_t)s->m.reloads_failed, "errors", errs);
    if (!o)
        return KF_ENOMEM;
    if (s->reload_ms && (json_object_set_new(o, "last", json_integer((json_int_t)s->reload_ms)) ||
                         json_object_set_new(o, "ok", json_boolean(s->reload_ok))))
        goto out;
    if (!s->reload_ms && json_object_set_new(o, "ok", json_null()))
        goto out;
    for (const char *l = s->reload_errors; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (n && json_array_append_new(errs, json_stringn(l, n)))
            goto out;
        l += n + (nl ? 1 : 0);
    }
    d = kf_proto_dumps(o, JSON_COMPACT);
    if (d && !kf_buf_puts(b, d) && !kf_buf_puts(b, "\n"))
        rc = KF_OK;
out:
    kf_free(d);
    json_decref(o);
    return rc;
}

static int respond(struct lws *wsi, kf_http_pss *p, int status, const char *type)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *q = start,
                                       *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)status, type, (lws_filepos_t)p->len, &q,
                                    end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &q, end) ||
        lws_finalize_write_http_header(wsi, start, &q, end))
        return 1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- agents' login ----------------------------------------------------------- */

static int json_response(struct lws *wsi, kf_http_pss *p, int status, kf_out *o)
{
    size_t len = 0;
    char *buf = o ? kf_out_dump_plain(o, 0, &len) : NULL;
    kf_out_free(o);
    if (!buf)
        return -1;
    p->body = buf;
    p->len = len;
    return respond(wsi, p, status, "application/json") ? -1 : 0;
}

static kf_out *err_body(const char *code, const char *message)
{
    kf_out *o = kf_out_new(NULL);
    if (o && (kf_out_set_str(o, "error", code) || kf_out_set_str(o, "message", message))) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

static int login(struct lws *wsi, kf_http_pss *p, kf_server *s, kf_obj *body)
{
    const char *name = NULL, *password = NULL;
    char addr[64], kname[80], kaddr[80];
    kf_proto_error err;
    kf_agent_rec a;
    int64_t now = kf_store_now_ms();

    if (kf_obj_str(body, "name", 64, 1, &name, &err) ||
        kf_obj_str(body, "password", KF_AUTH_MAX_PASSWORD, 1, &password, &err))
        return json_response(wsi, p, 400, err_body("bad_request", err.message));
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    snprintf(kname, sizeof(kname), "n:%s", name);
    snprintf(kaddr, sizeof(kaddr), "a:%s", addr);
    int64_t wait = kf_auth_limiter_check(s->login_lim, kname, now);
    int64_t wait2 = kf_auth_limiter_check(s->login_lim, kaddr, now);
    if (wait2 > wait)
        wait = wait2;
    if (wait > 0) {
        kf_log(KF_LOG_WARN, "event=login_limited name=%s addr=%s", name, addr);
        kf_out *o = err_body("rate_limited", "too many failed logins; wait");
        if (o && kf_out_set_int(o, "retry_after_ms", wait)) {
            kf_out_free(o);
            o = NULL;
        }
        return json_response(wsi, p, 429, o);
    }
    /* The same answer for an unknown name, a wrong password and a disabled agent. The hash is
     * computed even for an unknown name, so the time taken does not tell names apart. */
    int found = kf_store_agent_get(s->store, name, 0, &a) == KF_OK;
    int ok = kf_auth_verify(password, found ? a.pw_hash : s->dummy_hash) && found && !a.disabled;
    if (!ok) {
        kf_auth_limiter_fail(s->login_lim, kname, now);
        kf_auth_limiter_fail(s->login_lim, kaddr, now);
        kf_log(KF_LOG_WARN, "event=login_failed name=%s addr=%s", name, addr);
        kf_store_event_add(s->store, 0, "login_failed", name, now);
        return json_response(wsi, p, 401, err_body("bad_credentials", "wrong name or password"));
    }
    kf_auth_limiter_clear(s->login_lim, kname);
    char token[KF_TOKEN_HEX + 1];
    int64_t expires = now + (int64_t)(s->cfg->agent_token_ttl_s * 1000.0);
    if (kf_store_token_new(token) || kf_store_login_add(s->store, token, a.id, expires))
        return json_response(wsi, p, 500, err_body("internal", "could not store the login"));
    kf_log(KF_LOG_INFO, "agent=%s event=login addr=%s", a.name, addr);
    kf_store_event_add(s->store, 0, "login", a.name, now);
    kf_out *o = kf_out_new(NULL), *ag = kf_out_new(NULL);
    if (!o || !ag || kf_out_set_str(o, "token", token) || kf_out_set_int(o, "expires", expires) ||
        kf_out_set_str(ag, "name", a.name) || kf_out_set_str(ag, "display", a.display) ||
        kf_out_set_int(ag, "max_chats", a.max_chats)) {
        kf_out_free(o);
        kf_out_free(ag);
        return -1;
    }
    if (kf_out_set_obj(o, "agent", ag)) {
        kf_out_free(o);
        return -1;
    }
    return json_response(wsi, p, 200, o);
}

static int logout(struct lws *wsi, kf_http_pss *p, kf_server *s, kf_obj *body)
{
    const char *token = NULL;
    kf_proto_error err;
    if (kf_obj_str(body, "token", 64, 1, &token, &err))
        return json_response(wsi, p, 400, err_body("bad_request", err.message));
    if (kf_store_token_valid(token)) {
        int rc = kf_store_login_revoke(s->store, token);
        kf_ws_agent__revoke(s, token); /* its consoles close either way: the agent asked */
        if (rc) { /* still valid until it expires: say so, the console tells the agent */
            kf_log(KF_LOG_WARN, "event=logout_failed error=%s", kf_strerror(rc));
            return json_response(wsi, p, 500,
                                 err_body("internal", "could not end the login; try again"));
        }
    }
    kf_out *o = kf_out_new(NULL);
    if (o && kf_out_set_bool(o, "ok", 1)) {
        kf_out_free(o);
        o = NULL;
    }
    return json_response(wsi, p, 200, o);
}

/* GET /api/report?from=&to=&by= for agents (docs/metrics.md): the JSON of `kefu report`,
 * with the agent's login token as "Authorization: Bearer". The report runs on the loop
 * thread; a period of a month on a busy site takes tens of milliseconds (bench/report.mjs
 * measures a year of 100,000 conversations), during which the loop waits. */
static int api_report(struct lws *wsi, kf_http_pss *p, kf_server *s)
{
    char auth[128], from[64], to[64], by[64];
    int64_t agent, expires, now = kf_store_now_ms();
    kf_report_opts o;
    kf_report *r = NULL;

    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
        strncmp(auth, "Bearer ", 7) || !kf_store_token_valid(auth + 7) ||
        kf_store_login_find(s->store, auth + 7, now, &agent, &expires) != KF_OK)
        return json_response(wsi, p, 401, err_body("unauthorized", "an agent token is needed"));
    kf_report_opts_init(&o, now);
    /* The buffer gets the whole "name=value"; the value starts at the returned pointer. */
    const char *f = lws_get_urlarg_by_name(wsi, "from=", from, sizeof(from));
    const char *t = lws_get_urlarg_by_name(wsi, "to=", to, sizeof(to));
    const char *b = lws_get_urlarg_by_name(wsi, "by=", by, sizeof(by));
    if ((t && kf_report_parse_date(t, 1, &o.to_ms)) ||
        (f && kf_report_parse_date(f, 0, &o.from_ms)))
        return json_response(wsi, p, 400, err_body("bad_request", "dates are YYYY-MM-DD"));
    if (t && !f)
        o.from_ms = o.to_ms - 30LL * 86400000;
    if (kf_report_parse_by(b, &o.by))
        return json_response(wsi, p, 400, err_body("bad_request", "by: day, week, agent, entry"));
    int rc = kf_report_run(s->store, &o, &r);
    if (rc == KF_EINVAL || rc == KF_ELIMIT)
        return json_response(wsi, p, 400,
                             err_body("bad_request", rc == KF_EINVAL ? "from must come before to"
                                                                     : "too many rows"));
    if (rc)
        return json_response(wsi, p, 500, err_body("internal", "could not read the records"));
    p->body = kf_cli_report_json(r, 0);
    kf_report_free(r);
    if (!p->body)
        return -1;
    p->len = strlen(p->body);
    return respond(wsi, p, 200, "application/json") ? -1 : 0;
}

static int api_body_done(struct lws *wsi, kf_http_pss *p, kf_server *s)
{
    kf_obj *body = NULL;
    kf_proto_error err;
    int rc;
    /* The pss outlives one request on a kept-alive connection: the request state is reset
     * here, not in CLOSED_HTTP. */
    if (p->req_too_large)
        rc = json_response(wsi, p, 413, err_body("too_large", "request body too large"));
    else if (kf_obj_parse(p->req ? p->req : "", p->req_len, 0, &body, &err))
        rc = json_response(wsi, p, 400, err_body("bad_request", err.message));
    else
        rc = !strcmp(p->route, "login") ? login(wsi, p, s, body) : logout(wsi, p, s, body);
    kf_obj_free(body);
    kf_free(p->req);
    p->req = NULL;
    p->req_len = 0;
    p->req_too_large = 0;
    p->route[0] = '\0';
    return rc;
}

int kf_http_api_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    kf_http_pss *p = user;
    kf_server *s = kf_server__get(wsi);
    char uri[128];
    kf_buf b;

    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        int status = 200;
        const char *type = "application/json";
        kf_buf_init(&b);
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_POST_URI) > 0) {
            if (strcmp(uri, "/api/login") && strcmp(uri, "/api/logout")) {
                lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
                return -1;
            }
            snprintf(p->route, sizeof(p->route), "%s",
                     !strcmp(uri, "/api/login") ? "login" : "logout");
            return 0; /* the body follows: LWS_CALLBACK_HTTP_BODY */
        }
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) {
            lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
            return -1;
        }
        if (!strcmp(uri, "/api/report"))
            return api_report(wsi, p, s);
        if (!strcmp(uri, "/metrics")) {
            type = "text/plain; version=0.0.4; charset=utf-8";
            if (metrics(s, &b)) {
                kf_buf_cleanup(&b);
                return -1;
            }
        } else if (!strcmp(uri, "/healthz")) {
            status = s->stopping ? 503 : 200;
            if (kf_buf_printf(&b,
                              "{\"status\":\"%s\",\"connections\":%zu,\"entries\":%zu,"
                              "\"reloads_failed\":%llu}\n",
                              s->stopping ? "stopping" : "ok", s->n_conns,
                              kf_engine_kb(s->engine)->n_entries,
                              (unsigned long long)s->m.reloads_failed)) {
                kf_buf_cleanup(&b);
                return -1;
            }
        } else if (!strcmp(uri, "/api/explain") || !strcmp(uri, "/api/reload-status")) {
            /* agents and editors only: the knowledge page sends the login token */
            int r = !staff(wsi, s)
                        ? (status = 401, kf_buf_puts(&b, "{\"error\":\"unauthorized\"}\n"))
                    : uri[5] == 'e' ? explain(wsi, s, &b, &status)
                                    : reload_status(s, &b);
            if (r) {
                kf_buf_cleanup(&b);
                return -1;
            }
        } else {
            lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
            return -1;
        }
        p->len = b.len;
        p->body = kf_buf_take(&b);
        if (!p->body)
            return -1;
        return respond(wsi, p, status, type) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!p->route[0])
            break;
        if (p->req_len + len > API_MAX_BODY) {
            p->req_too_large = 1;
            return 0;
        }
        {
            char *n = kf_realloc(p->req, p->req_len + len + 1);
            if (!n)
                return -1;
            p->req = n;
            memcpy(p->req + p->req_len, in, len);
            p->req_len += len;
            p->req[p->req_len] = '\0';
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->route[0])
            break;
        return api_body_done(wsi, p, s);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!p->body)
            break;
        /* lws_write needs LWS_PRE bytes in front of the data even for HTTP bodies. */
        unsigned char *buf = kf_malloc(LWS_PRE + p->len + 1);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, p->body, p->len);
        int n = lws_write(wsi, buf + LWS_PRE, p->len, LWS_WRITE_HTTP_FINAL);
        kf_free(buf);
        kf_free(p->body);
        p->body = NULL;
        if (n < (int)p->len)
            return -1;
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p) {
            kf_free(p->body);
            p->body = NULL;
            kf_free(p->req);
            p->req = NULL;
        }
        break;
    default: break;
    }
    (void)in;
    (void)len;
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
