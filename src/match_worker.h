/* SPDX-License-Identifier: MIT
 * Internal to the visitor endpoint (ws_visitor.c): a thread that matches a batch of questions
 * while the event loop goes on with the rest (reading, storing, writing). One batch at a
 * time; the caller keeps the batch untouched until it is told the batch is done (the done
 * callback, on the worker's thread) or has waited for it. The engine is the caller's
 * reference, held until then. Matching is the engine's (thread-safe), the thread is
 * kefu/jobthread.h's; this file only hands a batch to one and knows nothing of connections. */
#ifndef KEFU_MATCH_WORKER_H
#define KEFU_MATCH_WORKER_H

#include <stddef.h>

#include "kefu/engine.h"

/* One question: text, len and want are the caller's; rc and m are the result of
 * kf_engine_match (the caller calls kf_match_cleanup when rc is KF_OK); secs its time. */
typedef struct kf_mjob {
    const char *text;
    size_t len;
    kf_lang want;
    int rc;
    double secs;
    kf_match m;
} kf_mjob;

typedef struct kf_mworker kf_mworker;

/* Starts the thread; done(ud) is called on it after each batch. NULL if it cannot start. */
kf_mworker *kf_mworker_start(void (*done)(void *ud), void *ud);
/* Hands over a batch (waits first for the one before, if any). */
void kf_mworker_submit(kf_mworker *w, kf_engine *e, kf_mjob *jobs, size_t n);
/* Returns once the batch handed over is matched. */
void kf_mworker_wait(kf_mworker *w);
/* Waits for the batch, stops and joins the thread, frees w (NULL is fine). */
void kf_mworker_stop(kf_mworker *w);
/* Matches one job on the calling thread. */
void kf_mjob_run(kf_engine *e, kf_mjob *j);

#endif
