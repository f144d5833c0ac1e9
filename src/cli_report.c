/* SPDX-License-Identifier: MIT
 * `kefu report`, `kefu purge` and `kefu export`: the records side of the database. The
 * figures come from report.c and the rows from the store; this file parses the options and
 * prints text, JSON (jansson; the same document /api/report serves) or CSV. The meaning of
 * every figure is in docs/metrics.md. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kefu/cli.h"
#include "kefu/mem.h"
#include "kefu/proto.h"
#include "kefu/report.h"
#include "kefu/store.h"

static const char report_usage[] =
    "usage: kefu report [--db PATH] [--from DATE] [--to DATE] [--by day|week|agent|entry]\n"
    "                   [--format text|json|csv] [--idle-minutes N] [--low-confidence X]\n"
    "                   [--top N] [--todo N]\n"
    "Figures of the conversations that started from --from (00:00) to --to (24:00), local\n"
    "time, DATE as YYYY-MM-DD; default: the last 30 days including today. --by adds one row\n"
    "per day, ISO week, agent or knowledge entry. A bot-only conversation counts as closed\n"
    "after --idle-minutes (30) of silence; answers scored under --low-confidence (0.3) go to\n"
    "the to-do list with misses and clarifications. Definitions: docs/metrics.md.\n";

static const char purge_usage[] =
    "usage: kefu purge --before DATE [--vacuum] [--db PATH]\n"
    "Deletes, in one transaction, every conversation started and last active before DATE\n"
    "(00:00 local time) with its messages, feedback, cases, surveys, notes and tickets, and\n"
    "every event older than DATE. Conversations still queued or held by an agent are kept.\n"
    "--vacuum then gives the space back to the file system (slow, locks the database).\n";

static const char export_usage[] =
    "usage: kefu export --conversation ID|TOKEN [--db PATH]\n"
    "Prints everything stored about one conversation (messages, feedback, cases, surveys,\n"
    "notes, tickets, events) as one JSON document, for a visitor's access request.\n";

/* ---- JSON --------------------------------------------------------------------------- */

static json_t *num(double x, double scale)
{
    if (isnan(x))
        return json_null();
    return json_real(round(x * scale) / scale);
}

static json_t *rate(double x)
{
    return num(x, 1e4);
}

static json_t *stat_json(const kf_stat *s)
{
    /* Durations are stored in ms and shown in seconds. */
    return json_pack("{s:I, s:o, s:o, s:o, s:o}", "n", (json_int_t)s->n, "mean",
                     num(s->mean / 1000, 1e3), "median", num(s->median / 1000, 1e3), "p90",
                     num(s->p90 / 1000, 1e3), "max", num(s->max / 1000, 1e3));
}

static json_t *figures_json(const kf_figures *f)
{
    json_t *reasons = json_array(), *dist = json_array();
    if (!reasons || !dist) {
        json_decref(reasons);
        json_decref(dist);
        return NULL;
    }
    for (size_t i = 0; i < f->n_reasons; i++)
        json_array_append_new(reasons, json_pack("{s:s, s:I, s:o}", "reason", f->reasons[i].reason,
                                                 "cases", (json_int_t)f->reasons[i].cases, "rate",
                                                 rate(f->reasons[i].rate)));
    for (int i = 0; i < 5; i++)
        json_array_append_new(dist, json_integer(f->csat_dist[i]));
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:o}", "key", f->key,
        "conversations", (json_int_t)f->conversations, "engaged", (json_int_t)f->engaged, "open",
        (json_int_t)f->open, "closed", (json_int_t)f->closed, "automated", (json_int_t)f->automated,
        "human", (json_int_t)f->human, "handed_off", (json_int_t)f->handed_off, "automation_rate",
        rate(f->automation_rate), "start_ms", (json_int_t)f->start_ms, "handoff_rate",
        rate(f->handoff_rate), "handoff_reasons", reasons);
    if (!o) {
        json_decref(dist);
        return NULL;
    }
    json_object_set_new(
        o, "bot",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "messages",
                  (json_int_t)f->bot_messages, "answers", (json_int_t)f->answers, "clarifies",
                  (json_int_t)f->clarifies, "fallbacks", (json_int_t)f->fallbacks, "handoffs",
                  (json_int_t)f->handoffs, "replies", (json_int_t)f->replies, "chosen",
                  (json_int_t)f->chosen, "low_confidence", (json_int_t)f->low_conf, "answer_rate",
                  rate(f->answer_rate), "clarify_rate", rate(f->clarify_rate), "fallback_rate",
                  rate(f->fallback_rate), "low_confidence_rate", rate(f->low_conf_rate)));
    json_object_set_new(
        o, "cases",
        json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "total", (json_int_t)f->cases, "open",
                  (json_int_t)f->cases_open, "assigned", (json_int_t)f->assigned, "abandoned",
                  (json_int_t)f->abandoned, "first_response_s", stat_json(&f->first_response),
                  "queue_s", stat_json(&f->queue), "handle_s", stat_json(&f->handle)));
    json_object_set_new(o, "csat",
                        json_pack("{s:I, s:o, s:o, s:o, s:I, s:o}", "n", (json_int_t)f->csat_n,
                                  "mean", num(f->csat_mean, 1e3), "distribution", dist,
                                  "satisfied_rate", rate(f->csat_satisfied), "offered",
                                  (json_int_t)f->survey_offered, "response_rate",
                                  rate(f->survey_response_rate)));
    json_object_set_new(o, "nps",
                        json_pack("{s:I, s:I, s:I, s:I, s:o}", "n", (json_int_t)f->nps_n,
                                  "promoters", (json_int_t)f->promoters, "passives",
                                  (json_int_t)f->passives, "detractors", (json_int_t)f->detractors,
                                  "score", num(f->nps, 1e2)));
    json_object_set_new(o, "ces",
                        json_pack("{s:I, s:o}", "n", (json_int_t)f->ces_n, "mean",
                                  num(f->ces_mean, 1e3)));
    return o;
}

static const char *by_name(kf_report_by by)
{
    static const char *const names[] = {"none", "day", "week", "agent", "entry"};
    return names[by];
}

static json_t *report_json(const kf_report *r)
{
    const kf_report_opts *o = &r->opts;
    json_t *root = json_object(), *a;
    if (!root)
        return NULL;
    json_object_set_new(root, "period",
                        json_pack("{s:I, s:I, s:I, s:s, s:I, s:o}", "from_ms",
                                  (json_int_t)o->from_ms, "to_ms", (json_int_t)o->to_ms, "now_ms",
                                  (json_int_t)o->now_ms, "by", by_name(o->by), "idle_s",
                                  (json_int_t)(o->idle_ms / 1000), "low_confidence",
                                  num(o->low_confidence, 1e4)));
    json_object_set_new(root, "total", figures_json(&r->total));
    if ((a = json_array())) {
        if (o->by != KF_REPORT_BY_ENTRY)
            for (size_t i = 0; i < r->n_rows; i++)
                json_array_append_new(a, figures_json(&r->rows[i]));
        json_object_set_new(root, "rows", a);
    }
    if ((a = json_array())) {
        for (size_t i = 0; i < r->n_agents; i++)
            json_array_append_new(a, figures_json(&r->agents[i]));
        json_object_set_new(root, "agents", a);
    }
    if ((a = json_array())) {
        for (size_t i = 0; i < r->n_entries; i++) {
            const kf_report_entry *e = &r->entries[i];
            json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "entry",
                                               e->entry, "answers", (json_int_t)e->answers,
                                               "chosen", (json_int_t)e->chosen, "helpful",
                                               (json_int_t)e->helpful, "not_helpful",
                                               (json_int_t)e->not_helpful, "helpful_rate",
                                               rate(e->helpful_rate)));
        }
        json_object_set_new(root, "entries", a);
    }
    if ((a = json_array())) {
        for (size_t i = 0; i < r->n_todo; i++) {
            const kf_report_todo *t = &r->todo[i];
            json_t *ex = json_array();
            for (size_t j = 0; ex && j < t->n_examples; j++)
                json_array_append_new(ex, json_pack("{s:s, s:I, s:I}", "text", t->ex_text[j],
                                                    "conversation", (json_int_t)t->ex_conv[j],
                                                    "at_ms", (json_int_t)t->ex_ms[j]));
            json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o*}", "text",
                                               t->norm, "count", (json_int_t)t->count,
                                               "fallbacks", (json_int_t)t->fallbacks, "clarifies",
                                               (json_int_t)t->clarifies, "low_confidence",
                                               (json_int_t)t->low_conf, "last_ms",
                                               (json_int_t)t->last_ms, "examples", ex));
        }
        json_object_set_new(root, "todo", a);
    }
    const kf_report_tickets *k = &r->tickets;
    json_object_set_new(root, "tickets",
                        json_pack("{s:I, s:I, s:o, s:I, s:o}", "opened", (json_int_t)k->opened,
                                  "closed", (json_int_t)k->closed, "time_to_close_s",
                                  stat_json(&k->time_to_close), "open_now",
                                  (json_int_t)k->open_now, "age_open_s", stat_json(&k->age_open)));
    return root;
}

/* json_dumps allocates with jansson's allocator, which the server points at kf_malloc
 * (kf_proto_init) and the command line leaves as malloc: free with the same one. */
static void json_text_free(char *s)
{
    json_free_t f = NULL;
    json_get_alloc_funcs(NULL, &f);
    (f ? f : free)(s);
}

char *kf_cli_report_json(const kf_report *r, int pretty)
{
    json_t *root = report_json(r);
    if (!root)
        return NULL;
    /* the server's /api/report too: not json_dumps, which can return broken text when
     * memory runs out (kf_proto_dumps) */
    char *out =
        kf_proto_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

/* ---- text and CSV ------------------------------------------------------------------- */

static void pct(FILE *f, double x)
{
    if (isnan(x))
        fputs("     -", f);
    else
        fprintf(f, "%5.1f%%", 100 * x);
}

static void secs(FILE *f, double ms)
{
    if (isnan(ms))
        fputs("      -", f);
    else
        fprintf(f, "%6.1fs", ms / 1000);
}

static void print_stat(FILE *f, const char *what, const kf_stat *s)
{
    fprintf(f, "  %-22s median ", what);
    secs(f, s->median);
    fputs("  p90 ", f);
    secs(f, s->p90);
    fprintf(f, "  (n=%lld)\n", (long long)s->n);
}

static void print_figures(FILE *f, const kf_figures *x)
{
    fprintf(f, "  conversations          %lld (engaged %lld: open %lld, closed %lld)\n",
            (long long)x->conversations, (long long)x->engaged, (long long)x->open,
            (long long)x->closed);
    fputs("  automation rate      ", f);
    pct(f, x->automation_rate);
    fprintf(f, "  (%lld of %lld closed without a person)\n", (long long)x->automated,
            (long long)x->closed);
    fputs("  handoff rate         ", f);
    pct(f, x->handoff_rate);
    fprintf(f, "  (%lld conversations)\n", (long long)x->handed_off);
    for (size_t i = 0; i < x->n_reasons; i++) {
        fprintf(f, "    %-20s", x->reasons[i].reason);
        pct(f, x->reasons[i].rate);
        fprintf(f, "  (%lld cases)\n", (long long)x->reasons[i].cases);
    }
    fprintf(f, "  bot decisions          %lld: answer ", (long long)x->bot_messages);
    pct(f, x->answer_rate);
    fputs(", clarify ", f);
    pct(f, x->clarify_rate);
    fputs(", fallback ", f);
    pct(f, x->fallback_rate);
    fprintf(f, "\n  low-confidence answers %lld\n", (long long)x->low_conf);
    fprintf(f, "  cases                  %lld (open %lld, assigned %lld, left the queue %lld)\n",
            (long long)x->cases, (long long)x->cases_open, (long long)x->assigned,
            (long long)x->abandoned);
    print_stat(f, "first response", &x->first_response);
    print_stat(f, "time in queue", &x->queue);
    print_stat(f, "handle time", &x->handle);
    fprintf(f, "  CSAT                   ");
    if (x->csat_n)
        fprintf(f, "%.2f of 5 (n=%lld; 1..5: %lld %lld %lld %lld %lld; response ", x->csat_mean,
                (long long)x->csat_n, (long long)x->csat_dist[0], (long long)x->csat_dist[1],
                (long long)x->csat_dist[2], (long long)x->csat_dist[3],
                (long long)x->csat_dist[4]);
    else
        fprintf(f, "- (no answers; response ");
    pct(f, x->survey_response_rate);
    fputs(")\n", f);
    if (x->nps_n)
        fprintf(f, "  NPS                    %+.0f (n=%lld: %lld promoters, %lld detractors)\n",
                x->nps, (long long)x->nps_n, (long long)x->promoters, (long long)x->detractors);
    if (x->ces_n)
        fprintf(f, "  CES                    %.2f of 7 (n=%lld)\n", x->ces_mean,
                (long long)x->ces_n);
}

static void fmt_date(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

static void print_text(FILE *f, const kf_report *r)
{
    char a[32], b[32];
    fmt_date(a, sizeof(a), r->opts.from_ms);
    fmt_date(b, sizeof(b), r->opts.to_ms);
    fprintf(f, "kefu report: conversations started from %s to %s\n\n", a, b);
    print_figures(f, &r->total);
    if (r->opts.by == KF_REPORT_BY_DAY || r->opts.by == KF_REPORT_BY_WEEK) {
        fprintf(f, "\n%-12s %6s %7s %8s %8s %8s %8s %8s %6s\n", "period", "convs", "engaged",
                "automat", "handoff", "fallback", "frt p50", "handle50", "CSAT");
        for (size_t i = 0; i < r->n_rows; i++) {
            const kf_figures *x = &r->rows[i];
            fprintf(f, "%-12s %6lld %7lld  ", x->key, (long long)x->conversations,
                    (long long)x->engaged);
            pct(f, x->automation_rate);
            fputs("  ", f);
            pct(f, x->handoff_rate);
            fputs("  ", f);
            pct(f, x->fallback_rate);
            fputs(" ", f);
            secs(f, x->first_response.median);
            fputs(" ", f);
            secs(f, x->handle.median);
            if (x->csat_n)
                fprintf(f, "  %4.2f\n", x->csat_mean);
            else
                fputs("     -\n", f);
        }
    }
    if (r->n_agents) {
        fprintf(f, "\n%-16s %6s %10s %10s %6s %5s\n", "agent", "cases", "handle p50", "handle p90",
                "CSAT", "n");
        for (size_t i = 0; i < r->n_agents; i++) {
            const kf_figures *x = &r->agents[i];
            fprintf(f, "%-16s %6lld    ", x->key, (long long)x->cases);
            secs(f, x->handle.median);
            fputs("    ", f);
            secs(f, x->handle.p90);
            if (x->csat_n)
                fprintf(f, "  %4.2f %5lld\n", x->csat_mean, (long long)x->csat_n);
            else
                fputs("     -     0\n", f);
        }
    }
    if (r->n_entries) {
        fprintf(f, "\n%-32s %8s %7s %8s %8s\n", "entry", "answers", "chosen", "helpful",
                "not");
        for (size_t i = 0; i < r->n_entries; i++) {
            const kf_report_entry *e = &r->entries[i];
            fprintf(f, "%-32s %8lld %7lld %8lld %8lld\n", e->entry, (long long)e->answers,
                    (long long)e->chosen, (long long)e->helpful, (long long)e->not_helpful);
        }
    }
    if (r->n_todo) {
        fprintf(f, "\nto-do (unanswered and low-confidence questions, most frequent first)\n");
        for (size_t i = 0; i < r->n_todo; i++) {
            const kf_report_todo *t = &r->todo[i];
            fprintf(f, "%5lld  %s  (fallback %lld, clarify %lld, low %lld)\n", (long long)t->count,
                    t->norm, (long long)t->fallbacks, (long long)t->clarifies,
                    (long long)t->low_conf);
            for (size_t j = 0; j < t->n_examples; j++) {
                fmt_date(a, sizeof(a), t->ex_ms[j]);
                fprintf(f, "       %s conv %lld: %s\n", a, (long long)t->ex_conv[j], t->ex_text[j]);
            }
        }
    }
    const kf_report_tickets *k = &r->tickets;
    fprintf(f, "\ntickets: %lld opened, %lld of them closed; %lld not closed now\n",
            (long long)k->opened, (long long)k->closed, (long long)k->open_now);
    print_stat(f, "time to close", &k->time_to_close);
    print_stat(f, "age of open tickets", &k->age_open);
}

static void csv_num(FILE *f, double x, int decimals)
{
    fputc(',', f);
    if (!isnan(x))
        fprintf(f, "%.*f", decimals, x);
}

/* Quotes a CSV field when it needs it (RFC 4180). */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const kf_figures *x, const char *key)
{
    csv_str(f, key);
    fprintf(f, ",%lld,%lld,%lld,%lld,%lld,%lld", (long long)x->conversations,
            (long long)x->engaged, (long long)x->open, (long long)x->closed,
            (long long)x->automated, (long long)x->handed_off);
    csv_num(f, x->automation_rate, 4);
    csv_num(f, x->handoff_rate, 4);
    fprintf(f, ",%lld,%lld,%lld", (long long)x->bot_messages, (long long)x->fallbacks,
            (long long)x->low_conf);
    csv_num(f, x->fallback_rate, 4);
    fprintf(f, ",%lld", (long long)x->cases);
    csv_num(f, x->first_response.median / 1000, 3);
    csv_num(f, x->first_response.p90 / 1000, 3);
    csv_num(f, x->queue.median / 1000, 3);
    csv_num(f, x->queue.p90 / 1000, 3);
    csv_num(f, x->handle.median / 1000, 3);
    csv_num(f, x->handle.p90 / 1000, 3);
    fprintf(f, ",%lld", (long long)x->csat_n);
    csv_num(f, x->csat_mean, 3);
    fprintf(f, ",%lld", (long long)x->nps_n);
    csv_num(f, x->nps, 2);
    fprintf(f, ",%lld", (long long)x->ces_n);
    csv_num(f, x->ces_mean, 3);
    fputc('\n', f);
}

static void print_csv(FILE *f, const kf_report *r)
{
    if (r->opts.by == KF_REPORT_BY_ENTRY) {
        fputs("entry,answers,chosen,helpful,not_helpful,helpful_rate\n", f);
        for (size_t i = 0; i < r->n_entries; i++) {
            const kf_report_entry *e = &r->entries[i];
            csv_str(f, e->entry);
            fprintf(f, ",%lld,%lld,%lld,%lld", (long long)e->answers, (long long)e->chosen,
                    (long long)e->helpful, (long long)e->not_helpful);
            csv_num(f, e->helpful_rate, 4);
            fputc('\n', f);
        }
        return;
    }
    fputs("key,conversations,engaged,open,closed,automated,handed_off,automation_rate,"
          "handoff_rate,bot_messages,fallbacks,low_confidence,fallback_rate,cases,"
          "first_response_median_s,first_response_p90_s,queue_median_s,queue_p90_s,"
          "handle_median_s,handle_p90_s,csat_n,csat_mean,nps_n,nps,ces_n,ces_mean\n",
          f);
    for (size_t i = 0; i < r->n_rows; i++)
        csv_row(f, &r->rows[i], r->rows[i].key);
    csv_row(f, &r->total, "total");
}

/* ---- commands ----------------------------------------------------------------------- */

static kf_store *open_existing(const char *db)
{
    char err[512];
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "kefu: %s: no such database\n", db);
        return NULL;
    }
    kf_store *s = kf_store_open_sqlite(db, NULL, err, sizeof(err));
    if (!s)
        fprintf(stderr, "kefu: database: %s\n", err);
    return s;
}

int kf_cli_report(int argc, char **argv)
{
    const char *db = "kefu.db", *from = NULL, *to = NULL, *by = NULL, *format = "text";
    kf_report_opts o;
    kf_report *r = NULL;
    kf_store *s = NULL;
    int rc = 1;

    kf_report_opts_init(&o, kf_store_now_ms());
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(report_usage, stdout);
            return 0;
        }
        if (a[0] != '-' || !v) {
            fprintf(stderr, "kefu: unexpected '%s'\n%s", a, report_usage);
            return 2;
        }
        i++;
        if (!strcmp(a, "--db")) {
            db = v;
        } else if (!strcmp(a, "--from")) {
            from = v;
        } else if (!strcmp(a, "--to")) {
            to = v;
        } else if (!strcmp(a, "--by")) {
            by = v;
        } else if (!strcmp(a, "--format")) {
            format = v;
        } else if (!strcmp(a, "--idle-minutes")) {
            double m = strtod(v, &end);
            if (*end || !(m > 0) || m > 10080) {
                fprintf(stderr, "kefu: --idle-minutes expects a number of minutes (0-10080]\n");
                return 2;
            }
            o.idle_ms = (int64_t)(m * 60000);
        } else if (!strcmp(a, "--low-confidence")) {
            o.low_confidence = strtod(v, &end);
            if (*end || !(o.low_confidence >= 0) || o.low_confidence > 1) {
                fprintf(stderr, "kefu: --low-confidence expects 0..1\n");
                return 2;
            }
        } else if (!strcmp(a, "--top") || !strcmp(a, "--todo")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > 10000) {
                fprintf(stderr, "kefu: %s expects 0..10000\n", a);
                return 2;
            }
            *(!strcmp(a, "--top") ? &o.top_entries : &o.todo_max) = (size_t)n;
        } else {
            fprintf(stderr, "kefu: unknown option '%s'\n%s", a, report_usage);
            return 2;
        }
    }
    if ((to && kf_report_parse_date(to, 1, &o.to_ms)) ||
        (from && kf_report_parse_date(from, 0, &o.from_ms))) {
        fprintf(stderr, "kefu: dates are YYYY-MM-DD\n");
        return 2;
    }
    if (to && !from)
        o.from_ms = o.to_ms - 30LL * 86400000;
    if (kf_report_parse_by(by, &o.by) || (strcmp(format, "text") && strcmp(format, "json") &&
                                          strcmp(format, "csv"))) {
        fputs(report_usage, stderr);
        return 2;
    }
    if (o.from_ms >= o.to_ms) {
        fprintf(stderr, "kefu: --from must come before --to\n");
        return 2;
    }
    if (!(s = open_existing(db)))
        return 1;
    int e = kf_report_run(s, &o, &r);
    if (e == KF_ELIMIT) {
        fprintf(stderr, "kefu: more than %d rows: choose a shorter period or --by week\n",
                KF_REPORT_MAX_BUCKETS);
        rc = 2;
        goto out;
    }
    if (e) {
        fprintf(stderr, "kefu: report: %s\n", kf_strerror(e));
        goto out;
    }
    if (!strcmp(format, "json")) {
        char *j = kf_cli_report_json(r, 1);
        if (!j) {
            fprintf(stderr, "kefu: out of memory\n");
            goto out;
        }
        puts(j);
        kf_free(j);
    } else if (!strcmp(format, "csv")) {
        print_csv(stdout, r);
    } else {
        print_text(stdout, r);
    }
    rc = 0;
out:
    kf_report_free(r);
    kf_store_close(s);
    return rc;
}

int kf_cli_purge(int argc, char **argv)
{
    const char *db = "kefu.db", *before = NULL;
    int vacuum = 0, rc = 1;
    int64_t before_ms;
    kf_purge_counts n;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(purge_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--vacuum")) {
            vacuum = 1;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--before") && i + 1 < argc) {
            before = argv[++i];
        } else {
            fprintf(stderr, "kefu: unexpected '%s'\n%s", argv[i], purge_usage);
            return 2;
        }
    }
    if (!before || kf_report_parse_date(before, 0, &before_ms)) {
        fputs(purge_usage, stderr);
        return 2;
    }
    kf_store *s = open_existing(db);
    if (!s)
        return 1;
    int e = kf_store_purge(s, before_ms, &n);
    if (e) {
        fprintf(stderr, "kefu: purge failed, nothing deleted: %s\n", kf_strerror(e));
        goto out;
    }
    printf("deleted %lld conversations, %lld messages, %lld feedback, %lld cases, %lld surveys, "
           "%lld notes, %lld tickets, %lld events\n",
           (long long)n.conversations, (long long)n.messages, (long long)n.feedback,
           (long long)n.cases, (long long)n.surveys, (long long)n.notes, (long long)n.tickets,
           (long long)n.events);
    if (vacuum && (e = kf_store_vacuum(s))) {
        fprintf(stderr, "kefu: vacuum failed (the purge is done): %s\n", kf_strerror(e));
        goto out;
    }
    rc = 0;
out:
    kf_store_close(s);
    return rc;
}

int kf_cli_export(int argc, char **argv)
{
    const char *db = "kefu.db", *conv = NULL;
    int rc = 1;
    char *js = NULL;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(export_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--conversation") && i + 1 < argc) {
            conv = argv[++i];
        } else {
            fprintf(stderr, "kefu: unexpected '%s'\n%s", argv[i], export_usage);
            return 2;
        }
    }
    if (!conv) {
        fputs(export_usage, stderr);
        return 2;
    }
    char *end;
    long long id = strtoll(conv, &end, 10);
    int is_token = kf_store_token_valid(conv);
    if (!is_token && (*end || id <= 0)) {
        fprintf(stderr, "kefu: --conversation expects an id or a 32-hex-digit token\n");
        return 2;
    }
    kf_store *s = open_existing(db);
    if (!s)
        return 1;
    if (is_token) {
        kf_conv c;
        if (kf_store_conv_find(s, conv, &c)) {
            fprintf(stderr, "kefu: no conversation with this token\n");
            goto out;
        }
        id = c.id;
    }
    int e = kf_store_export_conv(s, id, &js);
    if (e == KF_ENOTFOUND) {
        fprintf(stderr, "kefu: no conversation %lld\n", id);
        goto out;
    }
    if (e) {
        fprintf(stderr, "kefu: export: %s\n", kf_strerror(e));
        goto out;
    }
    json_error_t jerr;
    json_t *doc = json_loads(js, 0, &jerr);
    char *pretty = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    puts(pretty ? pretty : js);
    json_text_free(pretty);
    json_decref(doc);
    rc = 0;
out:
    kf_free(js);
    kf_store_close(s);
    return rc;
}
