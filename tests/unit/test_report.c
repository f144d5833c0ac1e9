/* SPDX-License-Identifier: MIT
 * report: medians and p90, NPS, rates and their empty sets; the figures made from rows fed
 * by a stub store (open conversations, visitors who never rated, empty days). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/report.h"

static void quantiles(void **state)
{
    (void)state;
    int64_t one[] = {7};
    int64_t four[] = {4, 1, 3, 2};
    int64_t ten[] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    kf_stat s;

    assert_true(isnan(kf_report_quantile(NULL, 0, 0.5)));
    kf_report_stat(one, 1, &s);
    assert_int_equal(s.n, 1);
    assert_true(s.median == 7 && s.p90 == 7 && s.mean == 7 && s.max == 7);
    kf_report_stat(four, 4, &s);
    assert_true(s.median == 2.5);
    assert_true(fabs(s.p90 - 3.7) < 1e-9);
    assert_true(s.mean == 2.5);
    kf_report_stat(ten, 10, &s);
    assert_true(s.median == 5.5);
    assert_true(fabs(s.p90 - 9.1) < 1e-9);
    assert_true(s.max == 10);
    assert_true(ten[0] == 1); /* sorted in place */
    kf_report_stat(NULL, 0, &s);
    assert_int_equal(s.n, 0);
    assert_true(isnan(s.mean) && isnan(s.median) && isnan(s.p90) && isnan(s.max));
}

static void nps_and_rates(void **state)
{
    (void)state;
    assert_true(kf_report_nps(5, 2, 10) == 30);
    assert_true(kf_report_nps(0, 4, 4) == -100);
    assert_true(kf_report_nps(3, 0, 3) == 100);
    assert_true(kf_report_nps(1, 1, 3) == 0);
    assert_true(isnan(kf_report_nps(0, 0, 0)));
    assert_true(kf_report_rate(1, 4) == 0.25);
    assert_true(kf_report_rate(0, 4) == 0);
    assert_true(isnan(kf_report_rate(0, 0)));
}

static void dates(void **state)
{
    (void)state;
    int64_t a, b;
    kf_report_by by;
    setenv("TZ", "UTC", 1);
    assert_int_equal(kf_report_parse_date("2024-03-04", 0, &a), KF_OK);
    assert_true(a == 1709510400000LL);
    assert_int_equal(kf_report_parse_date("2024-03-04", 1, &b), KF_OK);
    assert_true(b - a == 86400000LL);
    assert_int_equal(kf_report_parse_date("2024-3-4x", 0, &a), KF_EINVAL);
    assert_int_equal(kf_report_parse_date("2024-13-01", 0, &a), KF_EINVAL);
    assert_int_equal(kf_report_parse_date("", 0, &a), KF_EINVAL);
    assert_int_equal(kf_report_parse_by("week", &by), KF_OK);
    assert_int_equal(by, KF_REPORT_BY_WEEK);
    assert_int_equal(kf_report_parse_by(NULL, &by), KF_OK);
    assert_int_equal(by, KF_REPORT_BY_NONE);
    assert_int_equal(kf_report_parse_by("month", &by), KF_EINVAL);
}

/* ---- a stub store that feeds fixed rows ---- */

#define DAY 86400000LL
#define T0 1709510400000LL /* 2024-03-04 00:00 UTC */

static const kf_rconv *stub_convs;
static size_t stub_nconvs;
static const kf_rcase *stub_cases;
static size_t stub_ncases;

static int stub_scan(void *be, const kf_report_query *q, const kf_report_sink *k)
{
    (void)be;
    for (size_t i = 0; i < stub_nconvs; i++)
        if (stub_convs[i].created_ms >= q->from_ms && stub_convs[i].created_ms < q->to_ms)
            if (k->conv(k->ud, &stub_convs[i]))
                return 1;
    for (size_t i = 0; i < stub_ncases; i++)
        if (k->kase(k->ud, &stub_cases[i]))
            return 1;
    return KF_OK;
}

static const kf_store_ops stub_ops = {.name = "stub", .report_scan = stub_scan};

static kf_report_opts opts(int64_t from, int64_t to, kf_report_by by)
{
    kf_report_opts o;
    kf_report_opts_init(&o, T0 + 10 * DAY);
    o.from_ms = from;
    o.to_ms = to;
    o.by = by;
    return o;
}

static void empty_period(void **state)
{
    (void)state;
    kf_store st = {&stub_ops, NULL};
    kf_report *r = NULL;
    stub_nconvs = stub_ncases = 0;
    setenv("TZ", "UTC", 1);
    kf_report_opts o = opts(T0, T0 + 2 * DAY, KF_REPORT_BY_DAY);
    assert_int_equal(kf_report_run(&st, &o, &r), KF_OK);
    assert_int_equal(r->total.conversations, 0);
    assert_true(isnan(r->total.automation_rate));
    assert_true(isnan(r->total.handoff_rate));
    assert_true(isnan(r->total.fallback_rate));
    assert_true(isnan(r->total.csat_mean));
    assert_true(isnan(r->total.nps));
    assert_true(isnan(r->total.handle.median));
    assert_int_equal(r->n_rows, 2); /* empty days are rows too */
    assert_string_equal(r->rows[0].key, "2024-03-04");
    assert_string_equal(r->rows[1].key, "2024-03-05");
    assert_int_equal(r->n_agents, 0);
    kf_report_free(r);
    o = opts(T0, T0, KF_REPORT_BY_NONE);
    assert_int_equal(kf_report_run(&st, &o, &r), KF_EINVAL);
    assert_null(r);
    o = opts(T0 - 2000 * DAY, T0, KF_REPORT_BY_DAY);
    assert_int_equal(kf_report_run(&st, &o, &r), KF_ELIMIT);
}

static void open_and_unrated(void **state)
{
    (void)state;
    int64_t now = T0 + 10 * DAY;
    const kf_rconv convs[] = {
        /* bot only, silent for a day: automated */
        {.id = 1, .created_ms = T0, .active_ms = T0 + 1000, .answers = 2, .low_conf = 1},
        /* bot only, active a minute ago: open, neither automated nor closed */
        {.id = 2, .created_ms = T0 + 1000, .active_ms = now - 60000, .fallbacks = 1},
        /* a case still held: open */
        {.id = 3, .created_ms = T0 + DAY, .active_ms = T0 + DAY, .handoffs = 1, .cases = 1,
         .cases_open = 1},
        /* a case closed, never rated */
        {.id = 4, .created_ms = T0 + DAY, .active_ms = T0 + DAY, .fallbacks = 1, .cases = 1},
        /* opened, nothing asked: not engaged */
        {.id = 5, .created_ms = T0 + DAY},
    };
    const kf_rcase cases[] = {
        {.conv_created_ms = T0 + DAY, .reason = "asked", .agent = 1, .agent_name = "amy",
         .queued_ms = 1000, .assigned_ms = 3000, .first_response_ms = 4000, .end = "",
         .csat = -1, .nps = -1, .ces = -1},
        {.conv_created_ms = T0 + DAY, .reason = "not_understood", .agent = 1, .agent_name = "amy",
         .queued_ms = 1000, .assigned_ms = 2000, .first_response_ms = 2500, .ended_ms = 62000,
         .end = "close", .csat = -1, .nps = -1, .ces = -1},
    };
    kf_store st = {&stub_ops, NULL};
    kf_report *r = NULL;
    stub_convs = convs;
    stub_nconvs = 5;
    stub_cases = cases;
    stub_ncases = 2;
    setenv("TZ", "UTC", 1);
    kf_report_opts o = opts(T0, T0 + 2 * DAY, KF_REPORT_BY_DAY);
    o.now_ms = now;
    assert_int_equal(kf_report_run(&st, &o, &r), KF_OK);
    const kf_figures *t = &r->total;
    assert_int_equal(t->conversations, 5);
    assert_int_equal(t->engaged, 4);
    assert_int_equal(t->open, 2);
    assert_int_equal(t->closed, 2);
    assert_int_equal(t->automated, 1);
    assert_true(t->automation_rate == 0.5);
    assert_true(t->handoff_rate == 0.5);
    assert_int_equal(t->bot_messages, 5);
    assert_true(t->fallback_rate == 0.4);
    assert_true(t->low_conf_rate == 0.5);
    assert_int_equal(t->cases, 2);
    assert_int_equal(t->cases_open, 1);
    assert_int_equal(t->queue.n, 2);
    assert_true(t->queue.median == 1500);
    assert_int_equal(t->handle.n, 1);
    assert_true(t->handle.median == 60000);
    assert_int_equal(t->survey_offered, 1);
    assert_int_equal(t->csat_n, 0);
    assert_true(isnan(t->csat_mean));
    assert_true(t->survey_response_rate == 0);
    assert_int_equal(t->n_reasons, 2);
    assert_true(t->reasons[0].rate == 0.25);
    assert_int_equal(r->n_rows, 2);
    assert_int_equal(r->rows[0].automated, 1);
    assert_int_equal(r->rows[0].open, 1);
    assert_int_equal(r->rows[1].cases, 2);
    assert_int_equal(r->n_agents, 1);
    assert_string_equal(r->agents[0].key, "amy");
    assert_int_equal(r->agents[0].conversations, 2);
    kf_report_free(r);
    o.by = KF_REPORT_BY_AGENT;
    assert_int_equal(kf_report_run(&st, &o, &r), KF_OK);
    assert_true(r->rows == r->agents && r->n_rows == 1);
    kf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantiles),        cmocka_unit_test(nps_and_rates),
        cmocka_unit_test(dates),            cmocka_unit_test(empty_period),
        cmocka_unit_test(open_and_unrated),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
