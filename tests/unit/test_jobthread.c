/* SPDX-License-Identifier: MIT
 * Unit tests of the one-job-at-a-time thread (src/jobthread.c): every job runs once and in
 * the order given, done follows each run, wait says whether there was a job to wait for,
 * and stop lets the last job finish. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <unistd.h>

#include "kefu/jobthread.h"

typedef struct job {
    int id;
    int slow; /* microseconds to sleep */
} job;

static int ran[64], n_ran;
static atomic_int n_done;

static void run(void *arg)
{
    job *j = arg;
    if (j->slow)
        usleep((useconds_t)j->slow);
    ran[n_ran++] = j->id; /* the thread's alone while the job runs */
}

static void done(void *ud)
{
    atomic_fetch_add((atomic_int *)ud, 1);
}

static void in_order_once(void **state)
{
    (void)state;
    n_ran = 0;
    atomic_store(&n_done, 0);
    kf_jobthread *t = kf_jobthread_start(run);
    assert_non_null(t);
    assert_int_equal(kf_jobthread_wait(t), 0); /* nothing to wait for */
    static job jobs[40];
    for (int i = 0; i < 40; i++) {
        jobs[i] = (job){i, i % 7 == 0 ? 2000 : 0};
        kf_jobthread_submit(t, &jobs[i], done, &n_done); /* waits for the one before */
    }
    kf_jobthread_wait(t);
    assert_int_equal(atomic_load(&n_done), 40);
    assert_int_equal(n_ran, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(ran[i], i);
    /* a slow job: wait waits for it, and says so */
    static job slow = {99, 50000};
    kf_jobthread_submit(t, &slow, NULL, NULL);
    assert_int_equal(kf_jobthread_wait(t), 1);
    assert_int_equal(ran[40], 99);
    kf_jobthread_stop(t);
}

static void stop_finishes_the_last_job(void **state)
{
    (void)state;
    n_ran = 0;
    atomic_store(&n_done, 0);
    kf_jobthread *t = kf_jobthread_start(run);
    assert_non_null(t);
    static job last = {7, 30000};
    kf_jobthread_submit(t, &last, done, &n_done);
    kf_jobthread_stop(t);
    assert_int_equal(n_ran, 1);
    assert_int_equal(ran[0], 7);
    assert_int_equal(atomic_load(&n_done), 1);
    kf_jobthread_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_once),
        cmocka_unit_test(stop_finishes_the_last_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
