/* SPDX-License-Identifier: MIT
 * A thread that runs one job at a time, for work the event loop hands off and collects later
 * (the store's group commits, the server's matching). kf_jobthread_submit gives it a job,
 * after waiting for the one before; the thread calls run(job), then done(ud), then is idle
 * again; kf_jobthread_wait returns once it is. The caller keeps what job points to untouched
 * until it is told (done, on the thread) or has waited. */
#ifndef KEFU_JOBTHREAD_H
#define KEFU_JOBTHREAD_H

typedef struct kf_jobthread kf_jobthread;

/* Starts the thread, which calls run for each job. NULL if it cannot start. */
kf_jobthread *kf_jobthread_start(void (*run)(void *job));
/* Hands over job (waits first for the one before); done(ud) is called on the thread after. */
void kf_jobthread_submit(kf_jobthread *t, void *job, void (*done)(void *ud), void *ud);
/* Returns once the thread is idle: 1 if it had to wait for a job, 0 if there was none. */
int kf_jobthread_wait(kf_jobthread *t);
/* Lets the last job finish, stops and joins the thread, frees t (NULL is fine). */
void kf_jobthread_stop(kf_jobthread *t);

#endif
