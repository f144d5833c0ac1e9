/* SPDX-License-Identifier: MIT
 * The visitor endpoint's matching thread (match_worker.h). */
#include "match_worker.h"

#include <pthread.h>

#include "kefu/err.h"
#include "kefu/mem.h"
#include "kefu/util.h"

struct kf_mworker {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t job_cond;  /* a batch arrived, or stop */
    pthread_cond_t idle_cond; /* the batch is matched */
    int stop, busy;
    kf_engine *e;
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

static void *worker_main(void *arg)
{
    kf_mworker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stop && !w->jobs)
            pthread_cond_wait(&w->job_cond, &w->lock);
        if (!w->jobs)
            break; /* stop, and nothing left to match */
        kf_mjob *jobs = w->jobs;
        size_t n = w->n;
        kf_engine *e = w->e;
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n; i++)
            kf_mjob_run(e, &jobs[i]);
        /* told before "idle": a new batch waits for idle, so a done() is never taken for the
         * next batch's */
        w->done(w->ud);
        pthread_mutex_lock(&w->lock);
        w->jobs = NULL;
        w->busy = 0;
        pthread_cond_broadcast(&w->idle_cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

kf_mworker *kf_mworker_start(void (*done)(void *ud), void *ud)
{
    kf_mworker *w = kf_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->done = done;
    w->ud = ud;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->job_cond, NULL);
    pthread_cond_init(&w->idle_cond, NULL);
    if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->idle_cond);
        pthread_cond_destroy(&w->job_cond);
        pthread_mutex_destroy(&w->lock);
        kf_free(w);
        return NULL;
    }
    return w;
}

void kf_mworker_submit(kf_mworker *w, kf_engine *e, kf_mjob *jobs, size_t n)
{
    pthread_mutex_lock(&w->lock);
    while (w->busy)
        pthread_cond_wait(&w->idle_cond, &w->lock);
    w->e = e;
    w->jobs = jobs;
    w->n = n;
    w->busy = 1;
    pthread_cond_signal(&w->job_cond);
    pthread_mutex_unlock(&w->lock);
}

void kf_mworker_wait(kf_mworker *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->busy)
        pthread_cond_wait(&w->idle_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void kf_mworker_stop(kf_mworker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->job_cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->idle_cond);
    pthread_cond_destroy(&w->job_cond);
    pthread_mutex_destroy(&w->lock);
    kf_free(w);
}
