/* SPDX-License-Identifier: MIT
 * The figures of a report (report.h), from the rows the store delivers: each conversation,
 * case, entry, to-do group and ticket is added to the total and to its row (day, week or
 * agent); durations are kept per row and summarised at the end (median and p90 need them
 * all). The definitions are those of docs/metrics.md; change both together. */
#include "kefu/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kefu/mem.h"

/* ---- arithmetic ------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

double kf_report_quantile(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return (double)sorted[n - 1];
    return (double)sorted[lo] + ((double)sorted[lo + 1] - (double)sorted[lo]) * (pos - (double)lo);
}

void kf_report_stat(int64_t *v, size_t n, kf_stat *out)
{
    out->n = (int64_t)n;
    if (n == 0) {
        out->mean = out->median = out->p90 = out->max = NAN;
        return;
    }
    qsort(v, n, sizeof(*v), cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    out->mean = sum / (double)n;
    out->median = kf_report_quantile(v, n, 0.5);
    out->p90 = kf_report_quantile(v, n, 0.9);
    out->max = (double)v[n - 1];
}

double kf_report_rate(int64_t a, int64_t b)
{
    return b ? (double)a / (double)b : NAN;
}

double kf_report_nps(int64_t promoters, int64_t detractors, int64_t n)
{
    return n ? 100.0 * (double)(promoters - detractors) / (double)n : NAN;
}

/* ---- dates ------------------------------------------------------------------------ */

int kf_report_parse_date(const char *s, int end, int64_t *ms)
{
    int y, m, d;
    char extra;
    if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1970 || m < 1 ||
        m > 12 || d < 1 || d > 31)
        return KF_EINVAL;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + (end ? 1 : 0),
                    .tm_isdst = -1};
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return KF_EINVAL;
    *ms = (int64_t)t * 1000;
    return KF_OK;
}

int kf_report_parse_by(const char *s, kf_report_by *by)
{
    static const char *const names[] = {"", "day", "week", "agent", "entry"};
    if (!s) {
        *by = KF_REPORT_BY_NONE;
        return KF_OK;
    }
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *by = (kf_report_by)i;
            return KF_OK;
        }
    return KF_EINVAL;
}

void kf_report_opts_init(kf_report_opts *o, int64_t now_ms)
{
    memset(o, 0, sizeof(*o));
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    tm.tm_mday += 1;
    o->to_ms = (int64_t)mktime(&tm) * 1000;
    tm.tm_mday -= 30;
    tm.tm_isdst = -1;
    o->from_ms = (int64_t)mktime(&tm) * 1000;
    o->now_ms = now_ms;
    o->idle_ms = KF_REPORT_IDLE_MS;
    o->low_confidence = KF_REPORT_LOW_CONFIDENCE;
    o->top_entries = KF_REPORT_TOP_ENTRIES;
    o->todo_max = KF_REPORT_TODO_MAX;
    o->todo_examples = KF_REPORT_MAX_EXAMPLES;
}

/* ---- accumulating ----------------------------------------------------------------- */

typedef struct i64v {
    int64_t *v;
    size_t n, cap;
} i64v;

static int push(i64v *a, int64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int64_t *v = kf_realloc(a->v, cap * sizeof(*v));
        if (!v)
            return KF_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return KF_OK;
}

/* One row being built: its figures (sums where the final figure is a mean), and the
 * durations behind its medians. */
typedef struct acc {
    kf_figures f;
    size_t cap_reasons;
    int64_t agent;
    double csat_sum, ces_sum;
    i64v frt, queue, handle;
} acc;

typedef struct builder {
    const kf_report_opts *o;
    kf_report *r;
    acc total;
    acc *buckets; /* DAY, WEEK */
    int64_t *bounds; /* n_buckets + 1 starts; the last is the period's end */
    size_t n_buckets;
    acc *agents;
    size_t n_agents, cap_agents;
    size_t cap_entries, cap_todo;
    i64v close_times, open_ages;
} builder;

static void acc_cleanup(acc *a)
{
    kf_free(a->f.reasons);
    kf_free(a->frt.v);
    kf_free(a->queue.v);
    kf_free(a->handle.v);
    a->f.reasons = NULL;
    a->frt.v = a->queue.v = a->handle.v = NULL;
    a->frt.n = a->queue.n = a->handle.n = 0;
}

static acc *bucket_of(builder *b, int64_t created_ms)
{
    if (!b->n_buckets)
        return NULL;
    size_t lo = 0, hi = b->n_buckets; /* the last bucket whose start <= created */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (b->bounds[mid] <= created_ms)
            lo = mid;
        else
            hi = mid;
    }
    return &b->buckets[lo];
}

static void add_conv_to(acc *a, const kf_rconv *c, const kf_report_opts *o)
{
    kf_figures *f = &a->f;
    int64_t bot = c->answers + c->clarifies + c->fallbacks + c->handoffs + c->replies;
    f->conversations++;
    if (bot + c->chosen == 0 && c->cases == 0 && c->tickets == 0)
        return; /* opened, never asked anything: not engaged */
    f->engaged++;
    f->bot_messages += bot;
    f->answers += c->answers;
    f->clarifies += c->clarifies;
    f->fallbacks += c->fallbacks;
    f->handoffs += c->handoffs;
    f->replies += c->replies;
    f->low_conf += c->low_conf;
    f->chosen += c->chosen;
    int human = c->cases > 0 || c->tickets > 0;
    f->human += human;
    f->handed_off += c->cases > 0;
    if (c->cases_open > 0 || o->now_ms - c->active_ms < o->idle_ms) {
        f->open++;
    } else {
        f->closed++;
        f->automated += !human;
    }
}

static int add_reason(acc *a, const char *reason)
{
    kf_figures *f = &a->f;
    for (size_t i = 0; i < f->n_reasons; i++)
        if (!strcmp(f->reasons[i].reason, reason)) {
            f->reasons[i].cases++;
            return KF_OK;
        }
    if (f->n_reasons == a->cap_reasons) {
        size_t cap = a->cap_reasons ? a->cap_reasons * 2 : 8;
        kf_report_reason *v = kf_realloc(f->reasons, cap * sizeof(*v));
        if (!v)
            return KF_ENOMEM;
        f->reasons = v;
        a->cap_reasons = cap;
    }
    kf_report_reason *r = &f->reasons[f->n_reasons++];
    memset(r, 0, sizeof(*r));
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    r->cases = 1;
    return KF_OK;
}

static int add_case_to(acc *a, const kf_rcase *c)
{
    kf_figures *f = &a->f;
    int rc = add_reason(a, c->reason);
    f->cases++;
    if (!c->ended_ms)
        f->cases_open++;
    if (c->assigned_ms) {
        f->assigned++;
        rc = rc ? rc : push(&a->queue, c->assigned_ms - c->queued_ms);
    }
    if (c->first_response_ms)
        rc = rc ? rc : push(&a->frt, c->first_response_ms - c->queued_ms);
    if (c->ended_ms && c->assigned_ms)
        rc = rc ? rc : push(&a->handle, c->ended_ms - c->assigned_ms);
    if (c->ended_ms && !c->assigned_ms)
        f->abandoned++;
    if (!strcmp(c->end, "close"))
        f->survey_offered++;
    if (c->csat >= 1 && c->csat <= 5) {
        f->csat_n++;
        f->csat_dist[c->csat - 1]++;
        a->csat_sum += c->csat;
    }
    if (c->nps >= 0 && c->nps <= 10) {
        f->nps_n++;
        f->promoters += c->nps >= 9;
        f->detractors += c->nps <= 6;
        f->passives += c->nps == 7 || c->nps == 8;
    }
    if (c->ces >= 1) {
        f->ces_n++;
        a->ces_sum += c->ces;
    }
    return rc;
}

static int on_conv(void *ud, const kf_rconv *c)
{
    builder *b = ud;
    add_conv_to(&b->total, c, b->o);
    acc *k = bucket_of(b, c->created_ms);
    if (k)
        add_conv_to(k, c, b->o);
    return 0;
}

static acc *agent_acc(builder *b, int64_t id, const char *name)
{
    for (size_t i = 0; i < b->n_agents; i++)
        if (b->agents[i].agent == id)
            return &b->agents[i];
    if (b->n_agents == b->cap_agents) {
        size_t cap = b->cap_agents ? b->cap_agents * 2 : 16;
        acc *v = kf_realloc(b->agents, cap * sizeof(*v));
        if (!v)
            return NULL;
        b->agents = v;
        b->cap_agents = cap;
    }
    acc *a = &b->agents[b->n_agents++];
    memset(a, 0, sizeof(*a));
    a->agent = id;
    snprintf(a->f.key, sizeof(a->f.key), "%s", name);
    return a;
}

static int on_case(void *ud, const kf_rcase *c)
{
    builder *b = ud;
    int rc = add_case_to(&b->total, c);
    acc *k = bucket_of(b, c->conv_created_ms);
    if (!rc && k)
        rc = add_case_to(k, c);
    if (!rc && c->agent) {
        acc *a = agent_acc(b, c->agent, c->agent_name);
        rc = a ? add_case_to(a, c) : KF_ENOMEM;
    }
    return rc;
}

static int on_entry(void *ud, const kf_rentry *e)
{
    builder *b = ud;
    kf_report *r = b->r;
    size_t max = b->o->by == KF_REPORT_BY_ENTRY ? (size_t)-1 : b->o->top_entries;
    if (r->n_entries >= max)
        return 0;
    if (r->n_entries == b->cap_entries) {
        size_t cap = b->cap_entries ? b->cap_entries * 2 : 16;
        kf_report_entry *v = kf_realloc(r->entries, cap * sizeof(*v));
        if (!v)
            return KF_ENOMEM;
        r->entries = v;
        b->cap_entries = cap;
    }
    kf_report_entry *x = &r->entries[r->n_entries];
    x->entry = kf_strdup(e->entry);
    if (!x->entry)
        return KF_ENOMEM;
    r->n_entries++;
    x->answers = e->answers;
    x->chosen = e->chosen;
    x->helpful = e->helpful;
    x->not_helpful = e->not_helpful;
    x->helpful_rate = kf_report_rate(e->helpful, e->helpful + e->not_helpful);
    return 0;
}

static int on_todo(void *ud, const kf_rtodo *t)
{
    builder *b = ud;
    kf_report *r = b->r;
    if (r->n_todo == b->cap_todo) {
        size_t cap = b->cap_todo ? b->cap_todo * 2 : 16;
        kf_report_todo *v = kf_realloc(r->todo, cap * sizeof(*v));
        if (!v)
            return KF_ENOMEM;
        r->todo = v;
        b->cap_todo = cap;
    }
    kf_report_todo *x = &r->todo[r->n_todo];
    memset(x, 0, sizeof(*x));
    x->norm = kf_strdup(t->norm);
    if (!x->norm)
        return KF_ENOMEM;
    r->n_todo++;
    x->count = t->count;
    x->fallbacks = t->fallbacks;
    x->clarifies = t->clarifies;
    x->low_conf = t->low_conf;
    x->last_ms = t->last_ms;
    for (size_t i = 0; i < t->n_examples && i < KF_REPORT_MAX_EXAMPLES; i++) {
        x->ex_text[i] = kf_strdup(t->ex_text[i]);
        if (!x->ex_text[i])
            return KF_ENOMEM;
        x->ex_conv[i] = t->ex_conv[i];
        x->ex_ms[i] = t->ex_ms[i];
        x->n_examples = i + 1;
    }
    return 0;
}

static int on_ticket(void *ud, const kf_rticket *t)
{
    builder *b = ud;
    kf_report_tickets *k = &b->r->tickets;
    int closed = !strcmp(t->status, "closed");
    if (t->created_ms >= b->o->from_ms && t->created_ms < b->o->to_ms) {
        k->opened++;
        if (closed) {
            k->closed++;
            if (t->closed_ms && push(&b->close_times, t->closed_ms - t->created_ms))
                return KF_ENOMEM;
        }
    }
    if (!closed) {
        k->open_now++;
        if (push(&b->open_ages, b->o->now_ms - t->created_ms))
            return KF_ENOMEM;
    }
    return 0;
}

static int cmp_reason(const void *a, const void *b)
{
    const kf_report_reason *x = a, *y = b;
    if (x->cases != y->cases)
        return x->cases > y->cases ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

/* Turns sums into figures; the acc's durations are consumed (sorted). */
static void finish(acc *a)
{
    kf_figures *f = &a->f;
    f->automation_rate = kf_report_rate(f->automated, f->closed);
    f->handoff_rate = kf_report_rate(f->handed_off, f->engaged);
    if (f->n_reasons)
        qsort(f->reasons, f->n_reasons, sizeof(*f->reasons), cmp_reason);
    for (size_t i = 0; i < f->n_reasons; i++)
        f->reasons[i].rate = kf_report_rate(f->reasons[i].cases, f->engaged);
    f->answer_rate = kf_report_rate(f->answers, f->bot_messages);
    f->clarify_rate = kf_report_rate(f->clarifies, f->bot_messages);
    f->fallback_rate = kf_report_rate(f->fallbacks, f->bot_messages);
    f->low_conf_rate = kf_report_rate(f->low_conf, f->answers);
    kf_report_stat(a->frt.v, a->frt.n, &f->first_response);
    kf_report_stat(a->queue.v, a->queue.n, &f->queue);
    kf_report_stat(a->handle.v, a->handle.n, &f->handle);
    f->csat_mean = f->csat_n ? a->csat_sum / (double)f->csat_n : NAN;
    f->csat_satisfied = kf_report_rate(f->csat_dist[3] + f->csat_dist[4], f->csat_n);
    f->survey_response_rate = kf_report_rate(f->csat_n, f->survey_offered);
    f->nps = kf_report_nps(f->promoters, f->detractors, f->nps_n);
    f->ces_mean = f->ces_n ? a->ces_sum / (double)f->ces_n : NAN;
}

/* The figures leave the acc (its reasons move to them). */
static kf_figures take(acc *a)
{
    finish(a);
    kf_figures f = a->f;
    a->f.reasons = NULL;
    acc_cleanup(a);
    return f;
}

static int make_buckets(builder *b)
{
    const kf_report_opts *o = b->o;
    if (o->by != KF_REPORT_BY_DAY && o->by != KF_REPORT_BY_WEEK)
        return KF_OK;
    time_t t = (time_t)(o->from_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (o->by == KF_REPORT_BY_WEEK)
        tm.tm_mday -= (tm.tm_wday + 6) % 7; /* back to Monday */
    int step = o->by == KF_REPORT_BY_WEEK ? 7 : 1;
    size_t cap = 0;
    for (;;) {
        tm.tm_isdst = -1;
        struct tm x = tm;
        int64_t start = (int64_t)mktime(&x) * 1000;
        if (start >= o->to_ms)
            break;
        if (b->n_buckets == KF_REPORT_MAX_BUCKETS)
            return KF_ELIMIT;
        if (b->n_buckets + 1 >= cap) {
            cap = cap ? cap * 2 : 64;
            acc *v = kf_realloc(b->buckets, cap * sizeof(*v));
            if (!v)
                return KF_ENOMEM;
            b->buckets = v;
            int64_t *w = kf_realloc(b->bounds, (cap + 1) * sizeof(*w));
            if (!w)
                return KF_ENOMEM;
            b->bounds = w;
        }
        acc *a = &b->buckets[b->n_buckets];
        memset(a, 0, sizeof(*a));
        a->f.start_ms = start;
        strftime(a->f.key, sizeof(a->f.key), o->by == KF_REPORT_BY_WEEK ? "%G-W%V" : "%Y-%m-%d",
                 &x);
        b->bounds[b->n_buckets++] = start;
        tm.tm_mday += step;
    }
    return KF_OK;
}

static int cmp_agent(const void *a, const void *b)
{
    return strcmp(((const kf_figures *)a)->key, ((const kf_figures *)b)->key);
}

int kf_report_run(kf_store *st, const kf_report_opts *o, kf_report **out)
{
    builder b;
    kf_report *r = NULL;
    int rc;

    *out = NULL;
    if (o->from_ms >= o->to_ms)
        return KF_EINVAL;
    memset(&b, 0, sizeof(b));
    b.o = o;
    r = kf_calloc(1, sizeof(*r));
    if (!r)
        return KF_ENOMEM;
    b.r = r;
    r->opts = *o;
    if ((rc = make_buckets(&b)))
        goto out;
    kf_report_query q = {.from_ms = o->from_ms,
                         .to_ms = o->to_ms,
                         .low_confidence = o->low_confidence,
                         .todo_max = o->todo_max,
                         .todo_examples = o->todo_examples};
    kf_report_sink sink = {.ud = &b,
                           .conv = on_conv,
                           .kase = on_case,
                           .entry = on_entry,
                           .todo = on_todo,
                           .ticket = on_ticket};
    if ((rc = kf_store_report_scan(st, &q, &sink)))
        goto out;
    r->total = take(&b.total);
    if (b.n_buckets) {
        r->rows = kf_calloc(b.n_buckets, sizeof(*r->rows));
        if (!r->rows) {
            rc = KF_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < b.n_buckets; i++)
            r->rows[i] = take(&b.buckets[i]);
        r->n_rows = b.n_buckets;
        b.n_buckets = 0;
    }
    if (b.n_agents) {
        r->agents = kf_calloc(b.n_agents, sizeof(*r->agents));
        if (!r->agents) {
            rc = KF_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < b.n_agents; i++) {
            r->agents[i] = take(&b.agents[i]);
            /* An agent's row counts the cases it held as its conversations. */
            r->agents[i].conversations = r->agents[i].cases;
        }
        r->n_agents = b.n_agents;
        b.n_agents = 0;
        qsort(r->agents, r->n_agents, sizeof(*r->agents), cmp_agent);
    }
    if (o->by == KF_REPORT_BY_AGENT) {
        r->rows = r->agents;
        r->n_rows = r->n_agents;
    }
    kf_report_stat(b.close_times.v, b.close_times.n, &r->tickets.time_to_close);
    kf_report_stat(b.open_ages.v, b.open_ages.n, &r->tickets.age_open);
    *out = r;
    r = NULL;
out:
    acc_cleanup(&b.total);
    for (size_t i = 0; i < b.n_buckets; i++)
        acc_cleanup(&b.buckets[i]);
    for (size_t i = 0; i < b.n_agents; i++)
        acc_cleanup(&b.agents[i]);
    kf_free(b.buckets);
    kf_free(b.bounds);
    kf_free(b.agents);
    kf_free(b.close_times.v);
    kf_free(b.open_ages.v);
    kf_report_free(r);
    return rc;
}

void kf_report_free(kf_report *r)
{
    if (!r)
        return;
    kf_free(r->total.reasons);
    if (r->rows != r->agents) {
        for (size_t i = 0; i < r->n_rows; i++)
            kf_free(r->rows[i].reasons);
        kf_free(r->rows);
    }
    for (size_t i = 0; i < r->n_agents; i++)
        kf_free(r->agents[i].reasons);
    kf_free(r->agents);
    for (size_t i = 0; i < r->n_entries; i++)
        kf_free(r->entries[i].entry);
    kf_free(r->entries);
    for (size_t i = 0; i < r->n_todo; i++) {
        kf_free(r->todo[i].norm);
        for (size_t j = 0; j < r->todo[i].n_examples; j++)
            kf_free(r->todo[i].ex_text[j]);
    }
    kf_free(r->todo);
    kf_free(r);
}
