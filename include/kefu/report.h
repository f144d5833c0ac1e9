/* SPDX-License-Identifier: MIT
 * Reports: the figures of a period (conversations, automation, handoffs by reason, the bot's
 * decisions, the editors' to-do list, response and handle times, CSAT/NPS/CES, per agent and
 * per entry, tickets), made from the rows the store delivers (store_report.h). No SQL here:
 * only grouping and arithmetic. Every figure is defined in docs/metrics.md. Output formats
 * live in cli_report.c. */
#ifndef KEFU_REPORT_H
#define KEFU_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/store.h"

typedef enum {
    KF_REPORT_BY_NONE = 0,
    KF_REPORT_BY_DAY,
    KF_REPORT_BY_WEEK, /* ISO weeks, Monday to Sunday */
    KF_REPORT_BY_AGENT,
    KF_REPORT_BY_ENTRY,
} kf_report_by;

/* Defaults of kf_report_opts_init. */
#define KF_REPORT_IDLE_MS (30 * 60 * 1000) /* a conversation is closed after 30 min silence */
#define KF_REPORT_LOW_CONFIDENCE 0.3
#define KF_REPORT_TOP_ENTRIES 10
#define KF_REPORT_TODO_MAX 20
#define KF_REPORT_MAX_BUCKETS 1000

typedef struct kf_report_opts {
    int64_t from_ms, to_ms; /* conversations that started in [from_ms, to_ms) */
    int64_t now_ms;         /* "now" for open conversations and ticket ages */
    int64_t idle_ms;        /* silence after which a conversation counts as closed */
    double low_confidence;  /* answers scored below this are low-confidence */
    kf_report_by by;
    size_t top_entries; /* entries listed (KF_REPORT_BY_ENTRY: all) */
    size_t todo_max, todo_examples;
} kf_report_opts;

/* A distribution of durations in milliseconds. n == 0: the others are NAN. */
typedef struct kf_stat {
    int64_t n;
    double mean, median, p90, max;
} kf_stat;

typedef struct kf_report_reason {
    char reason[32];
    int64_t cases;
    double rate; /* cases / engaged conversations */
} kf_report_reason;

/* The figures of the whole period or of one row (a day, a week, an agent). A rate is NAN
 * when its denominator is 0 (printed as null / "-"). */
typedef struct kf_figures {
    char key[72];     /* "" for the total; "2024-05-01"; "2024-W18"; an agent's name */
    int64_t start_ms; /* a day's or a week's first millisecond; 0 otherwise */
    /* conversations */
    int64_t conversations, engaged, open, closed, automated, human, handed_off;
    double automation_rate, handoff_rate;
    kf_report_reason *reasons;
    size_t n_reasons;
    /* the bot's decisions on visitor messages */
    int64_t bot_messages, answers, clarifies, fallbacks, handoffs, replies, low_conf, chosen;
    double answer_rate, clarify_rate, fallback_rate, low_conf_rate;
    /* people */
    int64_t cases, cases_open, assigned, abandoned, survey_offered;
    kf_stat first_response, queue, handle;
    /* surveys */
    int64_t csat_n, csat_dist[5];
    double csat_mean, csat_satisfied, survey_response_rate;
    int64_t nps_n, promoters, passives, detractors;
    double nps;
    int64_t ces_n;
    double ces_mean;
} kf_figures;

typedef struct kf_report_entry {
    char *entry;
    int64_t answers, chosen, helpful, not_helpful;
    double helpful_rate; /* helpful / rated */
} kf_report_entry;

typedef struct kf_report_todo {
    char *norm;
    int64_t count, fallbacks, clarifies, low_conf, last_ms;
    size_t n_examples;
    char *ex_text[KF_REPORT_MAX_EXAMPLES];
    int64_t ex_conv[KF_REPORT_MAX_EXAMPLES], ex_ms[KF_REPORT_MAX_EXAMPLES];
} kf_report_todo;

typedef struct kf_report_tickets {
    int64_t opened;        /* created in the period */
    int64_t closed;        /* of those, closed by now */
    kf_stat time_to_close; /* of those with a recorded close time */
    int64_t open_now;      /* created before the period's end, not closed */
    kf_stat age_open;      /* now - created of those */
} kf_report_tickets;

typedef struct kf_report {
    kf_report_opts opts;
    kf_figures total;
    kf_figures *rows; /* DAY, WEEK: every bucket, empty ones too; AGENT: = agents */
    size_t n_rows;
    kf_figures *agents; /* one per agent who held a case, by name */
    size_t n_agents;
    kf_report_entry *entries;
    size_t n_entries;
    kf_report_todo *todo;
    size_t n_todo;
    kf_report_tickets tickets;
} kf_report;

/* ---- running ---------------------------------------------------------------------- */

/* Fills o with the defaults (the last 30 days up to the end of today, local time). */
void kf_report_opts_init(kf_report_opts *o, int64_t now_ms);
/* Builds the report of o from the store. Returns KF_OK and a report to free with
 * kf_report_free, KF_ELIMIT when --by day/week would make over KF_REPORT_MAX_BUCKETS rows,
 * KF_EINVAL when from >= to, KF_ENOMEM or a store error. Runs on the caller's thread; its
 * cost is the period's rows (docs/metrics.md, "Cost"). */
int kf_report_run(kf_store *st, const kf_report_opts *o, kf_report **out);
void kf_report_free(kf_report *r); /* NULL is fine */

/* ---- arithmetic (exposed for tests) ------------------------------------------------- */

/* Sorts v[0..n) and fills out: mean, median and p90 by linear interpolation between the
 * closest ranks (the median of 1,2,3,4 is 2.5; p90 of 1..10 is 9.1), max. */
void kf_report_stat(int64_t *v, size_t n, kf_stat *out);
/* The q-quantile (0..1) of sorted[0..n), as above; NAN when n == 0. */
double kf_report_quantile(const int64_t *sorted, size_t n, double q);
/* 100 * (promoters - detractors) / n; NAN when n == 0. */
double kf_report_nps(int64_t promoters, int64_t detractors, int64_t n);
/* a / b, or NAN when b == 0. */
double kf_report_rate(int64_t a, int64_t b);

/* ---- dates ------------------------------------------------------------------------- */

/* Parses YYYY-MM-DD as local midnight (end: the next midnight, so that --to is inclusive)
 * into *ms. KF_EINVAL when malformed. */
int kf_report_parse_date(const char *s, int end, int64_t *ms);
/* Parses "day", "week", "agent", "entry" (or "" / NULL: none). KF_EINVAL otherwise. */
int kf_report_parse_by(const char *s, kf_report_by *by);

#endif
