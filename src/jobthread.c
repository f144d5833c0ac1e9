/* SPDX-License-Identifier: MIT
 * One job at a time on a thread of its own (kefu/jobthread.h). */
#include "kefu/jobthread.h"

#include <pthread.h>

#include "kefu/mem.h"

struct kf_jobthread {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t job_cond;  /* a job arrived, or stop */
    pthread_cond_t idle_cond; /* the job is finished */
    int stop, busy;
    void (*run)(void *job);
    void *job; /* NULL: none waiting */
    void (*done)(void *ud);
    void *ud;
};

static void *main_loop(void *arg)
{
    kf_jobthread *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->stop && !t->job)
            pthread_cond_wait(&t->job_cond, &t->lock);
        if (!t->job)
            break; /* stop, and nothing left to run */
        void *job = t->job, *ud = t->ud;
        void (*done)(void *) = t->done;
        pthread_mutex_unlock(&t->lock);
        t->run(job);
        /* Told before "idle": the caller may reuse the job once told, and a new job waits
         * for idle, so a done() can never be taken for the next job's. */
        if (done)
            done(ud);
        pthread_mutex_lock(&t->lock);
        t->job = NULL;
        t->busy = 0;
        pthread_cond_broadcast(&t->idle_cond);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

kf_jobthread *kf_jobthread_start(void (*run)(void *job))
{
    kf_jobthread *t = kf_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->run = run;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->job_cond, NULL);
    pthread_cond_init(&t->idle_cond, NULL);
    if (pthread_create(&t->th, NULL, main_loop, t) != 0) {
        pthread_cond_destroy(&t->idle_cond);
        pthread_cond_destroy(&t->job_cond);
        pthread_mutex_destroy(&t->lock);
        kf_free(t);
        return NULL;
    }
    return t;
}

void kf_jobthread_submit(kf_jobthread *t, void *job, void (*done)(void *ud), void *ud)
{
    pthread_mutex_lock(&t->lock);
    while (t->busy)
        pthread_cond_wait(&t->idle_cond, &t->lock);
    t->job = job;
    t->done = done;
    t->ud = ud;
    t->busy = 1;
    pthread_cond_signal(&t->job_cond);
    pthread_mutex_unlock(&t->lock);
}

int kf_jobthread_wait(kf_jobthread *t)
{
    int waited = 0;
    pthread_mutex_lock(&t->lock);
    while (t->busy) {
        waited = 1;
        pthread_cond_wait(&t->idle_cond, &t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return waited;
}

void kf_jobthread_stop(kf_jobthread *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->job_cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->th, NULL);
    pthread_cond_destroy(&t->idle_cond);
    pthread_cond_destroy(&t->job_cond);
    pthread_mutex_destroy(&t->lock);
    kf_free(t);
}
