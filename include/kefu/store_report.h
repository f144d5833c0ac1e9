/* SPDX-License-Identifier: MIT
 * What the store hands to reports, purge and export (schema version 3): the raw rows of a
 * period, delivered through callbacks, with no arithmetic beyond counting and grouping. The
 * figures themselves (rates, medians, NPS) are made from these rows by report.c; their
 * definitions are in docs/metrics.md. Included by store.h; a backend implements the
 * report_scan, purge, vacuum and export_conv ops. */
#ifndef KEFU_STORE_REPORT_H
#define KEFU_STORE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define KF_REPORT_MAX_EXAMPLES 3

/* A period: the conversations that started in [from_ms, to_ms). */
typedef struct kf_report_query {
    int64_t from_ms, to_ms;
    double low_confidence; /* an answer scored below this is "low-confidence" */
    size_t todo_max;       /* groups in the to-do list (0: none) */
    size_t todo_examples;  /* examples per group, <= KF_REPORT_MAX_EXAMPLES */
} kf_report_query;

/* One conversation that started in the period. Counts of visitor messages by the bot's
 * decision are those stored with the message (the engine's decision: a miss that sent the
 * visitor to a person is a fallback here; the handoff itself is a case). */
typedef struct kf_rconv {
    int64_t id, created_ms, active_ms; /* active: time of its latest stored row */
    int64_t answers, clarifies, fallbacks, handoffs, replies, low_conf;
    int64_t chosen;      /* options the visitor picked after a clarify */
    int64_t cases;       /* stays with people (handoff cases) */
    int64_t cases_open;  /* of them, not ended */
    int64_t tickets;     /* messages left for people */
} kf_rconv;

/* One handoff case of a conversation that started in the period, with its survey answer.
 * Strings are valid during the callback only. */
typedef struct kf_rcase {
    int64_t conv_created_ms;
    const char *reason;
    int64_t agent;          /* the last agent who held it; 0: none */
    const char *agent_name; /* "" when none */
    int64_t queued_ms, assigned_ms, first_response_ms, ended_ms; /* 0: not (yet) */
    const char *end;        /* "" while open, "close", "handback", "ticket" */
    int csat, nps, ces;     /* -1: not answered */
} kf_rcase;

/* One knowledge entry, over the period: answers given, options chosen, and ratings. */
typedef struct kf_rentry {
    const char *entry;
    int64_t answers, chosen, helpful, not_helpful;
} kf_rentry;

/* One group of the editors' to-do list: the visitor messages of the period, with the same
 * normalised text, that the bot could not answer (fallback), was unsure of (clarify) or
 * answered with low confidence. Latest examples first. */
typedef struct kf_rtodo {
    const char *norm;
    int64_t count, fallbacks, clarifies, low_conf, last_ms;
    size_t n_examples;
    const char *ex_text[KF_REPORT_MAX_EXAMPLES];
    int64_t ex_conv[KF_REPORT_MAX_EXAMPLES], ex_ms[KF_REPORT_MAX_EXAMPLES];
} kf_rtodo;

/* A ticket opened in the period, or opened before its end and still not closed. */
typedef struct kf_rticket {
    int64_t id, created_ms, closed_ms; /* closed: 0 while not closed (or closed before v3) */
    const char *status;                /* open, claimed, closed */
} kf_rticket;

/* Where report_scan delivers rows. Each callback returns 0 to go on, non-zero to stop (the
 * scan then returns that value). A NULL callback skips its query. */
typedef struct kf_report_sink {
    void *ud;
    int (*conv)(void *ud, const kf_rconv *c);
    int (*kase)(void *ud, const kf_rcase *c);
    int (*entry)(void *ud, const kf_rentry *e);
    int (*todo)(void *ud, const kf_rtodo *t); /* most frequent first */
    int (*ticket)(void *ud, const kf_rticket *t);
} kf_report_sink;

/* What a purge deleted. */
typedef struct kf_purge_counts {
    int64_t conversations, messages, feedback, cases, notes, tickets, surveys, events;
} kf_purge_counts;

#endif
