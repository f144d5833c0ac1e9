/* SPDX-License-Identifier: MIT
 * The visitor endpoint's matching thread (match_worker.h), a kefu/jobthread.h of batches. */
#include "match_worker.h"

#include "kefu/jobthread.h"
#include "kefu/mem.h"
#include "kefu/util.h"

struct kf_mworker {
    kf_jobthread *th;
    kf_engine *e; /* the batch: set while the thread is idle */
    kf_mjob *jobs;
    size_t n;
    void (*done)(void *ud);
    void *ud;
};

void kf_mjob_run(kf_engine *e, kf_mjob *j)
{
    uint64_t t0 = kf_now_ns();
    j->rc = kf_engine_match(e, j->text, j->len, j->want, 0, &j->m);
    j->secs = (double)(kf_now_ns() - t0) / 1e9;
}

static void run_batch(void *arg) /* on the matching thread */
{
    kf_mworker *w = arg;
    for (size_t i = 0; i < w->n; i++)
        kf_mjob_run(w->e, &w->jobs[i]);
}

kf_mworker *kf_mworker_start(void (*done)(void *ud), void *ud)
{
    kf_mworker *w = kf_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    *w = (kf_mworker){.done = done, .ud = ud};
    if (!(w->th = kf_jobthread_start(run_batch))) {
        kf_free(w);
        return NULL;
    }
    return w;
}

void kf_mworker_submit(kf_mworker *w, kf_engine *e, kf_mjob *jobs, size_t n)
{
    kf_jobthread_wait(w->th); /* the batch's fields are the thread's until then */
    w->e = e;
    w->jobs = jobs;
    w->n = n;
    kf_jobthread_submit(w->th, w, w->done, w->ud);
}

void kf_mworker_wait(kf_mworker *w)
{
    kf_jobthread_wait(w->th);
}

void kf_mworker_stop(kf_mworker *w)
{
    if (!w)
        return;
    kf_jobthread_stop(w->th);
    kf_free(w);
}
